/**
 * Addon tests that need no root: constants against the TS mirrors, argument checking, error
 * shapes, and uv_poll / readFd / writeFd / teardown on a FIFO (pollable by anyone).
 * Skipped when the addon is not built (`npm run build:native`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { constants as fsc, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tryLoadAfPacket } from '../../src/io/addon.ts';
import type { AfPacketAddon } from '../../src/io/addon.ts';
import { PacketPort } from '../../src/io/afpacket.ts';
import { Bpf } from '../../src/io/bpf.ts';
import {
  Errno,
  FanoutFlag,
  FanoutMode,
  Meta,
  PacketType,
  TpStatus,
  VNET_HDR_LEN,
  VnetFlag,
  VnetGso,
} from '../../src/io/types.ts';

const loaded = tryLoadAfPacket();
const skip = loaded.error ?? (process.platform !== 'linux' ? 'Linux only' : false);
const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

function addon(): AfPacketAddon {
  if (!loaded.addon) throw new Error('addon missing');
  return loaded.addon;
}

/** Run test/io/child.js in a fresh process. */
function child(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CHILD, '--tslvs-io-child', ...args], {
    encoding: 'utf8',
    timeout: 15000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('afpacket addon (no root needed)', { skip }, () => {
  let dir = '';
  let fifo = '';
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tslvs-io-'));
    fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('constants match the TypeScript mirrors in types.ts and bpf.ts', () => {
    const c = addon().constants;
    assert.equal(c.META_STRIDE, Meta.STRIDE);
    for (const [k, v] of Object.entries(Meta)) if (k !== 'STRIDE') assert.equal(c[`M_${k}`], v, `Meta.${k}`);
    assert.equal(c.STATUS_TRUNC, TpStatus.TRUNC);
    for (const k of ['LOSING', 'CSUMNOTREADY', 'VLAN_VALID', 'VLAN_TPID_VALID', 'CSUM_VALID'] as const) {
      assert.equal(c[`TP_STATUS_${k}`], TpStatus[k], `TpStatus.${k}`);
    }
    for (const [k, v] of Object.entries(PacketType)) assert.equal(c[`PACKET_${k}`], v, `PacketType.${k}`);
    for (const [k, v] of Object.entries(FanoutMode))
      assert.equal(c[`PACKET_FANOUT_${k}`], v, `FanoutMode.${k}`);
    for (const [k, v] of Object.entries(FanoutFlag))
      assert.equal(c[`PACKET_FANOUT_FLAG_${k}`], v, `FanoutFlag.${k}`);
    for (const [k, v] of Object.entries(VnetFlag))
      assert.equal(c[`VIRTIO_NET_HDR_F_${k}`], v, `VnetFlag.${k}`);
    for (const [k, v] of Object.entries(VnetGso))
      assert.equal(c[`VIRTIO_NET_HDR_GSO_${k}`], v, `VnetGso.${k}`);
    assert.equal(c.VIRTIO_NET_HDR_LEN, VNET_HDR_LEN);
    for (const [k, v] of Object.entries(Errno)) assert.equal(c[k], v, `Errno.${k}`);
    assert.equal(c.SKF_NET_OFF, Bpf.NET_OFF);
    assert.equal(c.SKF_LL_OFF, Bpf.LL_OFF);
  });

  test('open and ifInfo report a missing interface as ENODEV with a readable message', () => {
    // The name is looked up before the socket is made, so this holds with or without root.
    assert.throws(() => addon().open('tslnoexist0'), {
      code: 'ENODEV',
      errno: -19,
      syscall: 'if_nametoindex',
      message: 'ENODEV: no such interface tslnoexist0',
    });
    assert.throws(() => addon().ifInfo('tslnoexist0'), {
      code: 'ENODEV',
      message: 'ENODEV: no such interface tslnoexist0',
    });
    assert.throws(() => PacketPort.open('tslnoexist0'), { code: 'ENODEV' });
  });

  test('bad arguments throw TypeError / RangeError; a bad fd is a -errno result, not a throw', () => {
    const a = addon();
    const buf = new Uint8Array(4 * 256);
    const meta = new Int32Array(4 * Meta.STRIDE);
    assert.throws(() => a.open('x'.repeat(16)), RangeError);
    assert.throws(() => a.recvBatch(0, new Int8Array(8) as unknown as Uint8Array, meta, 1, 8), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
    });
    assert.throws(() => a.recvBatch(0, buf, new Uint32Array(64) as unknown as Int32Array, 1, 8), TypeError);
    assert.throws(() => a.recvBatch(0, buf, meta, 5, 256), RangeError, 'buf holds only 4 slots');
    assert.throws(() => a.recvBatch(0, buf, meta, 4, 257), RangeError, 'slots past the end of buf');
    assert.throws(() => a.recvBatch(-1, buf, meta, 1, 256), RangeError);
    assert.throws(() => a.recvBatch(0, buf, meta, 1.5, 256), RangeError);
    assert.throws(() => a.recvBatch(0, buf, meta, a.constants.MAX_BATCH + 1, 1), RangeError);
    meta[Meta.OFF] = buf.length - 10;
    meta[Meta.LEN] = 11;
    assert.throws(() => a.sendBatch(0, buf, meta, 0, 1), /meta entry 0/);
    assert.throws(() => a.sendBatch(0, buf, meta, 4, 1), RangeError, 'entry 4 is past meta');
    meta[Meta.LEN] = 10;
    // fd 1000000 is not open: the syscall's EBADF comes back as a number.
    assert.equal(a.recvBatch(1000000, buf, meta, 1, 256), -Errno.EBADF);
    assert.equal(a.sendBatch(1000000, buf, meta, 0, 1), -Errno.EBADF);
    assert.equal(a.readFd(1000000, buf, 0, 10), -Errno.EBADF);
    assert.equal(a.readBatch(1000000, buf, meta, 1, 256), -Errno.EBADF);
    assert.throws(() => a.readFd(0, buf, buf.length - 1, 2), RangeError);
    assert.throws(() => a.attachFilter(0, new Int32Array(3)), RangeError, 'not a multiple of 4 ints');
    assert.throws(() => a.attachFilter(0, new Int32Array([0x10000, 0, 0, 0])), RangeError, 'code > 16 bits');
    assert.throws(() => a.poll(0, 42 as unknown as () => void), TypeError);
    assert.equal(a.pollStop(123456), false);
  });

  test('ifInfo("lo") needs no privileges', () => {
    const lo = addon().ifInfo('lo');
    assert.equal(lo.name, 'lo');
    assert.ok(lo.index > 0);
    assert.equal(lo.hwtype, 772, 'ARPHRD_LOOPBACK');
    assert.equal(lo.mac, '00:00:00:00:00:00');
    assert.ok(lo.mtu > 0);
    assert.equal(lo.up, (lo.flags & addon().constants.IFF_UP) !== 0);
  });

  test('readFd / writeFd return -EAGAIN as a number; poll fires on readable, pollStop stops it', async () => {
    const a = addon();
    const fd = openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK);
    try {
      const buf = new Uint8Array(64);
      assert.equal(a.readFd(fd, buf, 0, 64), -Errno.EAGAIN);
      const events: number[][] = [];
      let h = 0;
      const fired = new Promise<void>((resolve) => {
        h = a.poll(fd, (status, ev) => {
          events.push([status, ev]);
          // Level triggered: drain, or it fires again on every loop turn.
          assert.equal(a.readFd(fd, buf, 10, 54), 5);
          resolve();
        });
      });
      assert.throws(() => a.poll(fd, () => {}), { code: 'EEXIST' }, 'one poll per fd per thread');
      buf.set([104, 101, 108, 108, 111], 0);
      assert.equal(a.writeFd(fd, buf, 0, 5), 5);
      await fired;
      assert.deepEqual(events, [[0, a.constants.UV_READABLE]]);
      assert.deepEqual(Array.from(buf.subarray(10, 15)), [104, 101, 108, 108, 111]);
      assert.equal(a.pollStop(h), true);
      assert.equal(a.pollStop(h), false, 'already stopped');
      writeSync(fd, 'more');
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(events.length, 1, 'no callback after pollStop');
    } finally {
      a.close(fd); // also stops a poll left running by a failed assertion
    }
  });

  test('readBatch reads one chunk per slot and close() stops the fd poll', async () => {
    const a = addon();
    const fd = openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK);
    const buf = new Uint8Array(4 * 32);
    const meta = new Int32Array(4 * Meta.STRIDE);
    writeSync(fd, 'abcdef');
    // A FIFO is a byte stream: the first read takes everything, the second finds nothing.
    assert.equal(a.readBatch(fd, buf, meta, 4, 32), 1);
    assert.equal(meta[Meta.OFF], 0);
    assert.equal(meta[Meta.LEN], 6);
    assert.equal(new TextDecoder().decode(buf.subarray(0, 6)), 'abcdef');
    let calls = 0;
    a.poll(fd, () => calls++);
    a.close(fd); // stops the poll, then closes: no callback on a closed fd
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 0);
    assert.throws(() => a.close(fd), { code: 'EBADF' });
  });

  test('an exception thrown in a poll callback reaches process "uncaughtException"', () => {
    const r = child('uncaught', fifo);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ok caught boom from poll/m);
  });

  for (const how of ['exit', 'terminate']) {
    test(`a worker_thread that leaves (${how}) with a live poll does not abort the process`, () => {
      // Pitfall 8: a uv_poll handle still open at worker teardown made Node abort in uv_loop_close.
      const r = child('worker-fifo', fifo, how);
      assert.equal(r.status, 0, `child failed: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^ok worker-fifo ${how} ready,readable 0 1`, 'm'));
      assert.doesNotMatch(r.stderr, /Assertion|abort|uv_loop_close/i);
    });
  }
});

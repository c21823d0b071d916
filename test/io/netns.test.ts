/**
 * Root-only tests of the addon against the real kernel: two network namespaces joined by a veth pair
 * (see netns.ts), an agent process in each. Frames are built here, sent by one agent and checked as
 * the other received them. Skipped with the reason when not root, without `ip netns`, or without the
 * built addon.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IfInfo } from '../../src/io/addon.ts';
import { Bpf, bpfEthertypeFilter, bpfProgram, bpfStmt } from '../../src/io/bpf.ts';
import { FanoutMode, Meta, PacketType, TpStatus, VnetFlag, VnetGso } from '../../src/io/types.ts';
import type { PortStats } from '../../src/io/types.ts';
import { csumAdd, csumFold, csumVerifies, pseudoSumV4 } from '../../src/wire/checksum.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { icmp4, udp4 } from '../helpers/packet.ts';
import type { Captured, Match } from './agent.ts';
import { createLab, hasCommand, IP_A, IP_B, ip, MAC_A, MAC_B, netnsSkipReason, nsExec } from './netns.ts';
import type { Lab } from './netns.ts';

const skip = netnsSkipReason() ?? false;
const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));
const EXP = 0x88b5; // IEEE 802 local experimental ethertype: the namespaces' kernels ignore it

function macBytes(mac: string): number[] {
  return mac.split(':').map((x) => parseInt(x, 16));
}

/** An experimental-ethertype frame: dst, src MAC_A, EXP, then u32 seq and a pattern up to len. */
function expFrame(dst: string, len: number, seq: number, ethertype = EXP): Uint8Array {
  const b = new Uint8Array(len);
  b.set(macBytes(dst), 0);
  b.set(macBytes(MAC_A), 6);
  b[12] = ethertype >>> 8;
  b[13] = ethertype & 0xff;
  new DataView(b.buffer).setUint32(14, seq);
  for (let i = 18; i < len; i++) b[i] = (seq * 7 + i) & 0xff;
  return b;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const seqOf = (c: Captured): number => parseInt(c.hex.slice(28, 36), 16);
const expMatch: Match[] = [{ at: 12, hex: '88b5' }];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ipHex(a: string): string {
  return a
    .split('.')
    .map((x) => Number(x).toString(16).padStart(2, '0'))
    .join('');
}

describe('AF_PACKET and TUN/TAP in network namespaces', { skip, timeout: 60000 }, () => {
  let lab: Lab;
  let info: IfInfo;
  before(async () => {
    lab = await createLab();
    await lab.a.call('open', { port: 'tx', ifname: lab.ifA, opts: { protocol: 0 } }); // send-only
    info = await lab.b.call<IfInfo>('ifInfo', { ifname: lab.ifB });
  });
  after(async () => {
    await lab?.destroy();
  });

  async function collect(
    agent: 'a' | 'b',
    ports: string[],
    count: number,
    match: Match[],
    timeoutMs = 2000,
  ): Promise<Record<string, Captured[]>> {
    return lab[agent].call('collect', { ports, count, match, timeoutMs });
  }

  test('ifInfo reports the veth: index, MAC, MTU, up', () => {
    assert.ok(info.index > 0);
    assert.equal(info.name, lab.ifB);
    assert.equal(info.mac, MAC_B);
    assert.equal(info.hwtype, 1, 'ARPHRD_ETHER');
    assert.equal(info.mtu, 1500);
    assert.equal(info.up, true);
    assert.equal(info.running, true);
  });

  test('sendBatch → recvBatch: bytes, slots and meta (pkttype per destination MAC)', async () => {
    await lab.b.call('open', { port: 'raw', ifname: lab.ifB });
    const frames = [
      expFrame(MAC_B, 60, 1),
      expFrame('ff:ff:ff:ff:ff:ff', 64, 2),
      expFrame('01:00:5e:00:00:fb', 100, 3),
      expFrame('02:74:73:6c:00:99', 1514, 4),
    ];
    const r = await lab.a.call<{ sent: number }>('send', { port: 'tx', frames: frames.map(hex) });
    assert.equal(r.sent, 4);
    await sleep(50);
    const got = await lab.b.call<{ n: number; frames: Captured[] }>('recvOnce', { port: 'raw' });
    assert.equal(got.n, 4, 'one recvmmsg returns all four');
    const types = [PacketType.HOST, PacketType.BROADCAST, PacketType.MULTICAST, PacketType.OTHERHOST];
    got.frames.forEach((g, i) => {
      assert.equal(g.hex, hex(frames[i]), `frame ${i} bytes`);
      assert.equal(g.meta[Meta.OFF], i * 2048, 'fixed 2048-byte slots');
      assert.equal(g.meta[Meta.LEN], frames[i].length);
      assert.equal(g.meta[Meta.WIRELEN], frames[i].length);
      assert.equal(g.meta[Meta.PKTTYPE], types[i]);
      assert.equal(g.meta[Meta.STATUS] & TpStatus.TRUNC, 0);
      assert.equal(g.meta[Meta.IFINDEX], info.index);
      assert.equal(g.meta[Meta.PROTOCOL], EXP);
    });
    const again = await lab.b.call<{ n: number }>('recvOnce', { port: 'raw' });
    assert.equal(again.n, 0, 'an empty queue is 0, not an error');
    await lab.b.call('close', { port: 'raw' });
  });

  test('poll + bounded drain: 200 frames arrive complete and in order over several batches', async () => {
    await lab.b.call('open', { port: 'cap', ifname: lab.ifB });
    await lab.b.call('capture', { port: 'cap' });
    const frames = Array.from({ length: 200 }, (_, i) => expFrame(MAC_B, 60 + (i % 50), i));
    const r = await lab.a.call<{ sent: number }>('send', { port: 'tx', frames: frames.map(hex) });
    assert.equal(r.sent, 200);
    const got = (await collect('b', ['cap'], 200, expMatch)).cap;
    assert.equal(got.length, 200);
    assert.deepEqual(
      got.map(seqOf),
      frames.map((_, i) => i),
    );
    got.forEach((g, i) => assert.equal(g.hex, hex(frames[i])));
    const st = await lab.b.call<PortStats>('portStats', { port: 'cap' });
    assert.equal(st.rxPackets, 200);
    assert.ok(st.rxBatches >= 4, `batches of at most 64 (got ${st.rxBatches})`);
    assert.ok(st.rxWakeups >= 1 && st.rxWakeups <= st.rxBatches);
    assert.equal(st.kernelDrops, 0);
    await lab.b.call('close', { port: 'cap' });
  });

  test('in-place forwarding: frames rewritten in the rx buffer are sent straight from it', async () => {
    await lab.b.call('open', { port: 'echo', ifname: lab.ifB });
    await lab.b.call('echo', { port: 'echo' });
    await lab.a.call('open', { port: 'back', ifname: lab.ifA });
    await lab.a.call('capture', { port: 'back' });
    const frames = Array.from({ length: 10 }, (_, i) => expFrame(MAC_B, 80 + i, 1000 + i));
    await lab.a.call('send', { port: 'tx', frames: frames.map(hex) });
    const got = (await collect('a', ['back'], 10, [...expMatch, { at: 0, hex: MAC_A.replaceAll(':', '') }]))
      .back;
    assert.equal(got.length, 10);
    got.forEach((g, i) => {
      const want = frames[i].slice();
      want.set(macBytes(MAC_A), 0);
      want.set(macBytes(MAC_B), 6);
      assert.equal(g.hex, hex(want), 'MACs swapped, the rest untouched');
      assert.equal(g.meta[Meta.PKTTYPE], PacketType.HOST);
    });
    const st = await lab.b.call<PortStats>('portStats', { port: 'echo' });
    assert.equal(st.txPackets, 10);
    assert.equal(st.txErrors + st.txBlocked, 0);
    await lab.a.call('close', { port: 'back' });
    await lab.b.call('close', { port: 'echo' });
  });

  test('a frame longer than the slot is truncated and flagged; WIRELEN keeps the real length', async () => {
    await lab.b.call('open', { port: 'small', ifname: lab.ifB, opts: { slotSize: 128 } });
    await lab.b.call('capture', { port: 'small' });
    const f = expFrame(MAC_B, 1000, 77);
    await lab.a.call('send', { port: 'tx', frames: [hex(f)] });
    const [g] = (await collect('b', ['small'], 1, expMatch)).small;
    assert.equal(g.meta[Meta.LEN], 128);
    assert.equal(g.meta[Meta.WIRELEN], 1000);
    assert.notEqual(g.meta[Meta.STATUS] & TpStatus.TRUNC, 0);
    assert.equal(g.hex, hex(f.subarray(0, 128)));
    const st = await lab.b.call<PortStats>('portStats', { port: 'small' });
    assert.equal(st.rxTruncated, 1);
    await lab.b.call('close', { port: 'small' });
  });

  test('an 802.1Q tag is stripped by the kernel and reported in VLAN_TCI / VLAN_TPID', async () => {
    await lab.b.call('open', { port: 'vlan', ifname: lab.ifB });
    await lab.b.call('capture', { port: 'vlan' });
    const inner = expFrame(MAC_B, 80, 5);
    const tagged = new Uint8Array(84);
    tagged.set(inner.subarray(0, 12), 0);
    tagged.set([0x81, 0x00, 0x20, 0x64], 12); // TPID 0x8100, PCP 1, VID 100
    tagged.set(inner.subarray(12), 16);
    await lab.a.call('send', { port: 'tx', frames: [hex(tagged)] });
    const [g] = (await collect('b', ['vlan'], 1, expMatch)).vlan;
    assert.equal(g.hex, hex(inner), 'the frame arrives without its tag');
    assert.equal(g.meta[Meta.VLAN_TCI], 0x2064);
    assert.equal(g.meta[Meta.VLAN_TPID], 0x8100);
    const both = TpStatus.VLAN_VALID | TpStatus.VLAN_TPID_VALID;
    assert.equal(g.meta[Meta.STATUS] & both, both);
    assert.equal(g.meta[Meta.PROTOCOL], EXP);
    await lab.b.call('close', { port: 'vlan' });
  });

  test('PACKET_IGNORE_OUTGOING hides frames other sockets send; without it they show as OUTGOING', async () => {
    await lab.a.call('open', { port: 'see', ifname: lab.ifA, opts: { ignoreOutgoing: false } });
    await lab.a.call('open', { port: 'ign', ifname: lab.ifA });
    await lab.a.call('capture', { port: 'see' });
    await lab.a.call('capture', { port: 'ign' });
    const frames = [1, 2, 3].map((i) => expFrame(MAC_B, 60, 500 + i));
    await lab.a.call('send', { port: 'tx', frames: frames.map(hex) });
    const seen = (await collect('a', ['see'], 3, expMatch)).see;
    assert.deepEqual(
      seen.map((c) => c.hex),
      frames.map(hex),
    );
    for (const c of seen) assert.equal(c.meta[Meta.PKTTYPE], PacketType.OUTGOING);
    const ignored = (await collect('a', ['ign'], 0, expMatch, 100)).ign;
    assert.equal(ignored.length, 0, 'the default socket saw none of them');
    await lab.a.call('close', { port: 'see' });
    await lab.a.call('close', { port: 'ign' });
  });

  test('PACKET_FANOUT_HASH: each flow, both directions, lands on one socket; flows spread', async () => {
    const group = randomInt(1, 0xffff);
    for (const p of ['h1', 'h2']) {
      await lab.b.call('open', { port: p, ifname: lab.ifB });
      await lab.b.call('fanout', { port: p, group, mode: FanoutMode.HASH });
      await lab.b.call('capture', { port: p });
    }
    const peer = '10.201.0.99';
    const frames: Uint8Array[] = [];
    for (let f = 0; f < 32; f++) {
      const fwd = { src: IP_A, dst: peer, sport: 20000 + f, dport: 7777, srcMac: MAC_A, dstMac: MAC_B };
      const rev = { src: peer, dst: IP_A, sport: 7777, dport: 20000 + f, srcMac: MAC_A, dstMac: MAC_B };
      frames.push(udp4(fwd), udp4(rev), udp4(fwd));
    }
    await lab.a.call('send', { port: 'tx', frames: frames.map(hex) });
    const udpMatch: Match[] = [
      { at: 12, hex: '0800' },
      { at: 23, hex: '11' },
    ];
    const got = await collect('b', ['h1', 'h2'], 96, udpMatch);
    assert.equal(got.h1.length + got.h2.length, 96);
    const where = new Map<number, Set<string>>();
    for (const p of ['h1', 'h2']) {
      for (const c of got[p]) {
        const b = bytes(c.hex);
        const sport = (b[34] << 8) | b[35];
        const dport = (b[36] << 8) | b[37];
        const flow = sport === 7777 ? dport : sport;
        const s = where.get(flow) ?? new Set<string>();
        s.add(p);
        where.set(flow, s);
      }
    }
    assert.equal(where.size, 32);
    for (const [flow, s] of where) assert.equal(s.size, 1, `flow ${flow} was split across sockets`);
    const perSocket = ['h1', 'h2'].map((p) => [...where.values()].filter((s) => s.has(p)).length);
    assert.ok(perSocket[0] > 0 && perSocket[1] > 0, `32 flows all on one socket: ${perSocket.join('/')}`);
    for (const p of ['h1', 'h2']) await lab.b.call('close', { port: p });
  });

  test('PACKET_FANOUT_CBPF steers by a classic BPF program (IPv4 source low bit)', async () => {
    const group = randomInt(1, 0xffff);
    // A = last byte of the IPv4 source address; socket index = A % 2, in join order.
    const prog = bpfProgram([
      bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, Bpf.NET_OFF + 15),
      bpfStmt(Bpf.RET | Bpf.A, 0),
    ]);
    for (const p of ['c0', 'c1']) {
      await lab.b.call('open', { port: p, ifname: lab.ifB });
      await lab.b.call('fanout', { port: p, group, mode: FanoutMode.CBPF });
      await lab.b.call('capture', { port: p });
    }
    await lab.b.call('fanoutFilter', { port: 'c0', prog: Array.from(prog) });
    const frames = Array.from({ length: 8 }, (_, i) =>
      udp4({ src: `10.201.0.${10 + i}`, dst: IP_B, sport: 3000, dport: 3001, srcMac: MAC_A, dstMac: MAC_B }),
    );
    await lab.a.call('send', { port: 'tx', frames: frames.map(hex) });
    const got = await collect('b', ['c0', 'c1'], 8, [{ at: 23, hex: '11' }]);
    const lastOctet = (c: Captured): number => bytes(c.hex)[29];
    assert.deepEqual(got.c0.map(lastOctet), [10, 12, 14, 16]);
    assert.deepEqual(got.c1.map(lastOctet), [11, 13, 15, 17]);
    for (const p of ['c0', 'c1']) await lab.b.call('close', { port: p });
  });

  test('SO_ATTACH_FILTER + PACKET_STATISTICS: drops counted, packets include drops, reset on read', async () => {
    await lab.b.call('open', { port: 'st', ifname: lab.ifB, opts: { rcvbuf: 1 } }); // minimum buffer
    await lab.b.call('filter', { port: 'st', prog: Array.from(bpfEthertypeFilter(EXP)) });
    await lab.b.call('rawStats', { port: 'st' }); // discard anything from before the filter
    const frames = [
      ...Array.from({ length: 200 }, (_, i) => expFrame(MAC_B, 200, i)),
      ...Array.from({ length: 20 }, (_, i) => expFrame(MAC_B, 200, i, 0x88b6)), // filtered out
    ];
    await lab.a.call('send', { port: 'tx', frames: frames.map(hex) });
    let packets = 0;
    let drops = 0;
    for (let i = 0; i < 100 && packets < 200; i++) {
      const [p, d] = await lab.b.call<[number, number]>('rawStats', { port: 'st' });
      packets += p;
      drops += d;
      if (packets < 200) await sleep(10);
    }
    let received = 0;
    for (;;) {
      const r = await lab.b.call<{ n: number; frames: Captured[] }>('recvOnce', { port: 'st' });
      if (r.n <= 0) break;
      received += r.n;
      for (const c of r.frames)
        assert.equal(c.hex.slice(24, 28), '88b5', 'the filter let only 0x88b5 through');
    }
    assert.equal(packets, 200, 'tp_packets counts every frame that passed the filter, dropped or not');
    assert.ok(drops > 0, 'a minimum-size receive buffer overflows');
    assert.equal(received + drops, 200);
    assert.deepEqual(await lab.b.call('rawStats', { port: 'st' }), [0, 0], 'reading resets the counters');
    await lab.b.call('close', { port: 'st' });
  });

  /** TCP frames A → B:port through the kernel stacks, as an AF_PACKET socket on B's veth saw them. */
  async function tcpFrames(
    port: number,
    bytesToSend: number,
    opts: Record<string, unknown> = {},
  ): Promise<Captured[]> {
    const name = `tcp${port}`;
    await lab.b.call('open', { port: name, ifname: lab.ifB, opts });
    await lab.b.call('capture', { port: name });
    await lab.b.call('tcpListen', { host: IP_B, port });
    await lab.a.call('tcpSend', { host: IP_B, port, bytes: bytesToSend });
    const match: Match[] = [
      { at: 12, hex: '0800' },
      { at: 23, hex: '06' },
      { at: 26, hex: ipHex(IP_A) },
    ];
    const got = (await collect('b', [name], 100000, match, 300))[name];
    await lab.b.call('close', { port: name });
    return got;
  }

  /** TCP length and pseudo-header sum of an Ethernet + IPv4 (no options) + TCP frame. */
  function tcpPseudo(b: Uint8Array): { l4len: number; pseudo: number } {
    const l4len = ((b[16] << 8) | b[17]) - 20;
    return { l4len, pseudo: pseudoSumV4(ipv4FromString(IP_A), ipv4FromString(IP_B), 6, l4len) };
  }

  test('auxdata: kernel TCP over a veth with tx offload carries TP_STATUS_CSUMNOTREADY (pitfall 1)', async (t) => {
    const frames = await tcpFrames(5001, 2000);
    assert.ok(frames.length >= 3, `SYN, ACK, data... (got ${frames.length})`);
    for (const c of frames) {
      assert.notEqual(c.meta[Meta.STATUS] & TpStatus.CSUMNOTREADY, 0, 'partial checksum flagged');
      const b = bytes(c.hex);
      const { pseudo } = tcpPseudo(b);
      // CHECKSUM_PARTIAL: the field holds the folded, uncomplemented pseudo-header sum.
      assert.equal((b[50] << 8) | b[51], csumFold(pseudo), 'TCP field = pseudo-header sum only');
    }
    if (!hasCommand('ethtool')) {
      t.skip('ethtool not installed: cannot turn tx offload off for the control half');
      return;
    }
    nsExec(lab.nsA, 'ethtool', '-K', lab.ifA, 'tx', 'off');
    try {
      const full = await tcpFrames(5002, 2000);
      assert.ok(full.length >= 3);
      for (const c of full) {
        assert.equal(c.meta[Meta.STATUS] & TpStatus.CSUMNOTREADY, 0, 'no flag with tx offload off');
        const b = bytes(c.hex);
        const { l4len, pseudo } = tcpPseudo(b);
        assert.ok(csumVerifies(b, 34, l4len, pseudo), 'and the checksum is complete');
      }
    } finally {
      nsExec(lab.nsA, 'ethtool', '-K', lab.ifA, 'tx', 'on');
    }
  });

  test('PACKET_VNET_HDR on receive: checksum offsets and GSO super-frames in the meta', async () => {
    const frames = await tcpFrames(5003, 400000, { vnetHdr: true });
    assert.ok(frames.length >= 3);
    let gso = 0;
    for (const c of frames) {
      assert.equal(c.meta[Meta.VNET_FLAGS] & VnetFlag.NEEDS_CSUM, VnetFlag.NEEDS_CSUM);
      assert.equal(c.meta[Meta.VNET_CSUM_START], 34, 'Ethernet + IPv4 header');
      assert.equal(c.meta[Meta.VNET_CSUM_OFFSET], 16, 'TCP checksum field');
      assert.equal(c.meta[Meta.LEN], c.meta[Meta.WIRELEN], 'whole frames in 64 KiB slots');
      assert.equal(c.hex.length / 2, c.meta[Meta.LEN]);
      if (c.meta[Meta.VNET_GSO_TYPE] === VnetGso.TCPV4) {
        gso++;
        assert.ok(c.meta[Meta.VNET_GSO_SIZE] > 0 && c.meta[Meta.VNET_GSO_SIZE] <= 1460);
        assert.ok(c.meta[Meta.LEN] > 1514, 'a GSO frame is larger than the MTU');
        assert.equal(c.meta[Meta.VNET_HDR_LEN] > 0, true);
      } else {
        assert.equal(c.meta[Meta.VNET_GSO_TYPE], VnetGso.NONE);
        assert.ok(c.meta[Meta.LEN] <= 1514);
      }
    }
    assert.ok(gso > 0, `400 kB over TCP produced no GSO super-frame (${frames.length} frames)`);
  });

  test('PACKET_VNET_HDR on send: a partial UDP checksum is finished, a GSO frame is segmented', async () => {
    await lab.b.call('udpListen', { host: IP_B, port: 9999 });
    await lab.a.call('open', { port: 'vtx', ifname: lab.ifA, opts: { protocol: 0, vnetHdr: true } });
    const mk = (payload: Uint8Array): Uint8Array => {
      const f = udp4({
        src: IP_A,
        dst: IP_B,
        sport: 4444,
        dport: 9999,
        srcMac: MAC_A,
        dstMac: MAC_B,
        payload,
        noCsum: true,
      });
      const l4len = 8 + payload.length;
      const p = csumFold(pseudoSumV4(ipv4FromString(IP_A), ipv4FromString(IP_B), 17, l4len));
      f[40] = p >>> 8; // partial form: pseudo-header sum, uncomplemented
      f[41] = p & 0xff;
      return f;
    };
    const good = mk(new TextEncoder().encode('good: finished by the kernel'.padEnd(100, '.')));
    const bad = mk(new TextEncoder().encode('bad: sent without the vnet header'.padEnd(100, '.')));
    const badL4 = bad.length - 34;
    assert.equal(
      csumVerifies(bad, 34, badL4, pseudoSumV4(ipv4FromString(IP_A), ipv4FromString(IP_B), 17, badL4)),
      false,
      'the control frame really has a wrong checksum',
    );
    // Without vnet the partial checksum goes out as is, and B's UDP drops the datagram.
    await lab.a.call('send', { port: 'tx', frames: [hex(bad)] });
    const needsCsum = [VnetFlag.NEEDS_CSUM, VnetGso.NONE, 0, 0, 34, 6];
    const r = await lab.a.call<{ sent: number }>('send', {
      port: 'vtx',
      frames: [hex(good)],
      vnet: [needsCsum],
    });
    assert.equal(r.sent, 1);
    const got = await lab.b.call<string[]>('udpCollect', { port: 9999, count: 1, timeoutMs: 1000 });
    assert.deepEqual(got, [hex(good.subarray(42))], 'only the vnet frame was accepted');
    // GSO: one 3000-byte UDP payload with gso_size 1000 leaves as three datagrams.
    const payload = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);
    const big = mk(payload);
    const gso = [VnetFlag.NEEDS_CSUM, VnetGso.UDP_L4, 42, 1000, 34, 6];
    const r2 = await lab.a.call<{ sent: number }>('send', { port: 'vtx', frames: [hex(big)], vnet: [gso] });
    assert.equal(r2.sent, 1, 'a GSO frame above the MTU is accepted');
    const parts = await lab.b.call<string[]>('udpCollect', { port: 9999, count: 3, timeoutMs: 1000 });
    assert.deepEqual(
      parts,
      [0, 1000, 2000].map((o) => hex(payload.subarray(o, o + 1000))),
    );
    // The same frame without a vnet header is over the MTU: rejected and counted, not thrown.
    const r3 = await lab.a.call<{ sent: number; stats: PortStats }>('send', {
      port: 'tx',
      frames: [hex(big)],
    });
    assert.equal(r3.sent, 1, 'consumed');
    assert.equal(r3.stats.txErrors, 1, 'EMSGSIZE counted as a tx error');
    await lab.a.call('close', { port: 'vtx' });
  });

  test('TPACKET_V3 ring receive: same frames and meta as recvmmsg, resumed across short batches', async () => {
    await lab.b.call('open', {
      port: 'ring',
      ifname: lab.ifB,
      opts: { ring: { blockSize: 65536, blockCount: 4, timeoutMs: 1 }, batchSize: 16 },
    });
    await lab.b.call('capture', { port: 'ring' });
    const frames = Array.from({ length: 100 }, (_, i) => expFrame(MAC_B, 60 + i, 3000 + i));
    await lab.a.call('send', { port: 'tx', frames: frames.map(hex) });
    const got = (await collect('b', ['ring'], 100, expMatch)).ring;
    assert.deepEqual(
      got.map((c) => c.hex),
      frames.map(hex),
    );
    for (const c of got) {
      assert.equal(c.meta[Meta.PKTTYPE], PacketType.HOST);
      assert.equal(c.meta[Meta.WIRELEN], c.meta[Meta.LEN]);
      assert.equal(c.meta[Meta.PROTOCOL], EXP);
      assert.equal(c.meta[Meta.IFINDEX], info.index);
      assert.equal(c.meta[Meta.OFF] % 2048, 0);
    }
    const st = await lab.b.call<PortStats>('portStats', { port: 'ring' });
    assert.equal(st.rxPackets, 100);
    assert.ok(st.rxBatches >= 7, `batches of at most 16 (got ${st.rxBatches})`);
    await lab.b.call('close', { port: 'ring' });
  });

  for (const vnetHdr of [false, true]) {
    test(`TAP${vnetHdr ? ' with IFF_VNET_HDR' : ''}: a written ARP request is answered and read back`, async () => {
      const name = `${lab.prefix}${vnetHdr ? 'w' : 't'}`;
      const net = vnetHdr ? 3 : 0;
      const port = `tap${net}`;
      const tap = await lab.a.call<{ name: string }>('openTun', { port, name, opts: { tap: true, vnetHdr } });
      assert.equal(tap.name, name);
      ip('-n', lab.nsA, 'addr', 'add', `10.202.${net}.1/24`, 'dev', name);
      ip('-n', lab.nsA, 'link', 'set', name, 'up');
      const tapMac = (await lab.a.call<IfInfo>('ifInfo', { ifname: name })).mac;
      await lab.a.call('capture', { port });
      const me = '02:74:73:6c:00:42';
      const req = new Uint8Array(42);
      req.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...macBytes(me), 0x08, 0x06], 0);
      req.set(
        [0, 1, 8, 0, 6, 4, 0, 1, ...macBytes(me), 10, 202, net, 2, 0, 0, 0, 0, 0, 0, 10, 202, net, 1],
        14,
      );
      const vnet = vnetHdr ? { vnet: [[0, VnetGso.NONE, 0, 0, 0, 0]] } : {};
      const sent = await lab.a.call<{ sent: number }>('send', { port, frames: [hex(req)], ...vnet });
      assert.equal(sent.sent, 1);
      const arpReply: Match[] = [
        { at: 12, hex: '0806' },
        { at: 20, hex: '0002' },
      ];
      const [rep] = (await collect('a', [port], 1, arpReply))[port];
      const b = bytes(rep.hex);
      assert.equal(rep.meta[Meta.LEN], 42, 'just the frame: any virtio header was taken off');
      assert.deepEqual(Array.from(b.subarray(0, 6)), macBytes(me), 'unicast back to the asker');
      assert.deepEqual(Array.from(b.subarray(22, 28)), macBytes(tapMac), 'sender: the tap device');
      assert.deepEqual(Array.from(b.subarray(28, 32)), [10, 202, net, 1]);
      assert.deepEqual(Array.from(b.subarray(32, 38)), macBytes(me));
      assert.deepEqual(Array.from(b.subarray(38, 42)), [10, 202, net, 2]);
      for (let k = Meta.VNET_FLAGS; k <= Meta.VNET_CSUM_OFFSET; k++) assert.equal(rep.meta[k], 0);
      await lab.a.call('close', { port });
    });
  }

  test('TUN: an ICMP echo request written as a bare IP packet gets its reply read back', async () => {
    const name = `${lab.prefix}u`;
    await lab.a.call('openTun', { port: 'tun', name });
    ip('-n', lab.nsA, 'addr', 'add', '10.202.1.1/24', 'dev', name);
    ip('-n', lab.nsA, 'link', 'set', name, 'up');
    await lab.a.call('capture', { port: 'tun' });
    const data = new TextEncoder().encode('tslvs tun echo');
    const pkt = icmp4({
      src: '10.202.1.2',
      dst: '10.202.1.1',
      type: 8,
      code: 0,
      rest: 0x12340001,
      data,
    }).subarray(14);
    await lab.a.call('send', { port: 'tun', frames: [hex(pkt)] });
    const match: Match[] = [
      { at: 0, hex: '45' },
      { at: 9, hex: '01' },
      { at: 20, hex: '00' },
    ];
    const [rep] = (await collect('a', ['tun'], 1, match)).tun;
    const b = bytes(rep.hex);
    assert.deepEqual(Array.from(b.subarray(12, 20)), [10, 202, 1, 1, 10, 202, 1, 2], 'addresses swapped');
    assert.deepEqual(Array.from(b.subarray(24, 28)), [0x12, 0x34, 0x00, 0x01], 'same id and sequence');
    assert.deepEqual(Array.from(b.subarray(28)), Array.from(data));
    assert.ok(csumVerifies(b, 20, b.length - 20), 'a valid ICMP checksum');
    assert.equal(csumFold(csumAdd(b, 0, 20)), 0xffff, 'and IP header checksum');
    await lab.a.call('close', { port: 'tun' });
  });

  test('TUN: a packet longer than the slot is cut to the slot and flagged TRUNC', async () => {
    const name = `${lab.prefix}v`;
    await lab.a.call('openTun', { port: 'tunsmall', name, opts: { slotSize: 64 } });
    ip('-n', lab.nsA, 'addr', 'add', '10.202.2.1/24', 'dev', name);
    ip('-n', lab.nsA, 'link', 'set', name, 'up');
    await lab.a.call('capture', { port: 'tunsmall' });
    const data = new Uint8Array(200).fill(0x5a);
    const pkt = icmp4({
      src: '10.202.2.2',
      dst: '10.202.2.1',
      type: 8,
      code: 0,
      rest: 0x43210001,
      data,
    }).subarray(14);
    await lab.a.call('send', { port: 'tunsmall', frames: [hex(pkt)] });
    const [rep] = (await collect('a', ['tunsmall'], 1, [{ at: 9, hex: '01' }])).tunsmall;
    assert.equal(rep.meta[Meta.LEN], 64);
    // The kernel cuts silently (6.x returns the 64 bytes copied), so the real length is unknown.
    assert.ok(rep.meta[Meta.WIRELEN] >= 64);
    assert.notEqual(rep.meta[Meta.STATUS] & TpStatus.TRUNC, 0);
    assert.equal(rep.hex.length, 128);
    const b = bytes(rep.hex);
    assert.deepEqual(Array.from(b.subarray(12, 20)), [10, 202, 2, 1, 10, 202, 2, 2], 'the reply, cut');
    assert.deepEqual(Array.from(b.subarray(28, 64)), new Array(36).fill(0x5a));
    await lab.a.call('close', { port: 'tunsmall' });
  });

  for (const how of ['exit', 'terminate']) {
    test(`a worker_thread polling an AF_PACKET socket receives, then leaves (${how}) cleanly`, () => {
      const r = spawnSync(
        'ip',
        [
          'netns',
          'exec',
          lab.nsB,
          process.execPath,
          CHILD,
          '--tslvs-io-child',
          'worker-packet',
          lab.ifB,
          how,
        ],
        { encoding: 'utf8', timeout: 15000 },
      );
      assert.equal(r.status, 0, `child failed (${r.status}): ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^ok worker-packet ${how} `, 'm'));
      assert.match(r.stdout, /\bgot\b/);
      assert.doesNotMatch(r.stderr, /Assertion|abort|uv_loop_close/i);
    });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { memoryPair, MemoryPort } from '../../src/io/memory.ts';
import { Meta, metaCopy, metaSetFrame, newMeta, PacketType, TpStatus } from '../../src/io/types.ts';
import { macFromString } from '../../src/wire/addr.ts';
import { toHex } from '../helpers/bytes.ts';

/** A frame with the given destination MAC, ethertype 0x88b5 and a recognisable payload. */
function frame(dst: string, len: number, tag: number): Uint8Array {
  const b = new Uint8Array(len);
  const d = dst.split(':').map((x) => parseInt(x, 16));
  b.set(d, 0);
  b.set([0x02, 0, 0, 0, 0, 0xaa], 6);
  b[12] = 0x88;
  b[13] = 0xb5;
  for (let i = 14; i < len; i++) b[i] = (tag + i) & 0xff;
  return b;
}

/** Lay frames out back to back in one buffer with a meta entry each (what a datapath's tx list is). */
function txList(frames: Uint8Array[]): { buf: Uint8Array; meta: Int32Array } {
  const total = frames.reduce((s, f) => s + f.length, 0);
  const buf = new Uint8Array(total);
  const meta = newMeta(frames.length);
  let off = 0;
  frames.forEach((f, i) => {
    buf.set(f, off);
    metaSetFrame(meta, i, off, f.length);
    off += f.length;
  });
  return { buf, meta };
}

interface Got {
  hex: string;
  meta: number[];
}

function collector(port: MemoryPort): { got: Got[]; batches: number[] } {
  const got: Got[] = [];
  const batches: number[] = [];
  port.onBatch((buf, meta, n) => {
    batches.push(n);
    for (let i = 0; i < n; i++) {
      const m = i * Meta.STRIDE;
      got.push({
        hex: toHex(buf, meta[m + Meta.OFF], meta[m + Meta.LEN]),
        meta: Array.from(meta.subarray(m, m + Meta.STRIDE)),
      });
    }
  });
  return { got, batches };
}

test('frames sent on one end arrive on the other with bytes and meta intact', () => {
  const [a, b] = memoryPair({}, { mac: macFromString('02:00:00:00:00:0b'), ifindex: 7 });
  const frames = [
    frame('02:00:00:00:00:0b', 60, 1), // to b: HOST
    frame('ff:ff:ff:ff:ff:ff', 64, 2), // BROADCAST
    frame('01:00:5e:00:00:fb', 100, 3), // group bit: MULTICAST
    frame('02:00:00:00:00:99', 1514, 4), // someone else: OTHERHOST
  ];
  const { buf, meta } = txList(frames);
  assert.equal(a.send(buf, meta, 0, frames.length), 4);
  assert.equal(b.pending, 4);
  const { got } = collector(b);
  assert.equal(b.deliver(), 4);
  assert.deepEqual(
    got.map((g) => g.hex),
    frames.map((f) => toHex(f)),
  );
  const types = [PacketType.HOST, PacketType.BROADCAST, PacketType.MULTICAST, PacketType.OTHERHOST];
  got.forEach((g, i) => {
    assert.equal(g.meta[Meta.OFF], i * b.slotSize, 'frame i sits in slot i');
    assert.equal(g.meta[Meta.LEN], frames[i].length);
    assert.equal(g.meta[Meta.WIRELEN], frames[i].length);
    assert.equal(g.meta[Meta.PKTTYPE], types[i]);
    assert.equal(g.meta[Meta.STATUS], 0);
    assert.equal(g.meta[Meta.IFINDEX], 7);
    assert.equal(g.meta[Meta.PROTOCOL], 0x88b5);
  });
  assert.equal(a.stats().txPackets, 4);
  assert.equal(b.stats().rxPackets, 4);
  assert.equal(b.stats().rxBatches, 1);
});

test('batches are at most batchSize frames and deliver(maxBatches) bounds the work', () => {
  const [a, b] = memoryPair({}, { batchSize: 4 });
  const frames = Array.from({ length: 10 }, (_, i) => frame('02:00:00:00:00:0b', 60, i));
  const { buf, meta } = txList(frames);
  a.send(buf, meta, 0, 10);
  const { got, batches } = collector(b);
  assert.equal(b.deliver(2), 8);
  assert.deepEqual(batches, [4, 4]);
  assert.equal(b.pending, 2);
  assert.equal(b.deliver(), 2);
  assert.deepEqual(batches, [4, 4, 2]);
  assert.deepEqual(
    got.map((g) => g.hex),
    frames.map((f) => toHex(f)),
    'order is kept across batches',
  );
});

test('a frame longer than the slot is cut and flagged TRUNC, WIRELEN keeps its length', () => {
  const [a, b] = memoryPair({}, { slotSize: 64 });
  const f = frame('02:00:00:00:00:0b', 100, 9);
  const { buf, meta } = txList([f]);
  a.send(buf, meta, 0, 1);
  const { got } = collector(b);
  b.deliver();
  assert.equal(got[0].meta[Meta.LEN], 64);
  assert.equal(got[0].meta[Meta.WIRELEN], 100);
  assert.notEqual(got[0].meta[Meta.STATUS] & TpStatus.TRUNC, 0);
  assert.equal(got[0].hex, toHex(f, 0, 64));
  assert.equal(b.stats().rxTruncated, 1);
});

test('a full receive queue drops arrivals and counts them like kernel drops', () => {
  const [a, b] = memoryPair({}, { queueLimit: 3 });
  const frames = Array.from({ length: 5 }, (_, i) => frame('02:00:00:00:00:0b', 60, i));
  const { buf, meta } = txList(frames);
  assert.equal(a.send(buf, meta, 0, 5), 5, 'the sender does not see receiver drops');
  const s = b.stats();
  assert.equal(s.kernelPackets, 5);
  assert.equal(s.kernelDrops, 2);
  const { got } = collector(b);
  b.deliver();
  assert.deepEqual(
    got.map((g) => g.hex),
    frames.slice(0, 3).map((f) => toHex(f)),
  );
});

test('in-place forwarding: the handler rewrites frames and sends them from the rx buffer', () => {
  const [client, dir] = memoryPair({ mac: macFromString('02:00:00:00:00:01') }, {});
  const [dirOut, rs] = memoryPair({}, { mac: macFromString('02:00:00:00:00:03') });
  const sendMeta = newMeta(dir.batchSize);
  dir.onBatch((buf, meta, n) => {
    let k = 0;
    for (let i = 0; i < n; i++) {
      const off = meta[i * Meta.STRIDE + Meta.OFF];
      buf.set([0x02, 0, 0, 0, 0, 0x03], off); // DR-style dst MAC rewrite
      metaCopy(sendMeta, k++, meta, i);
    }
    dirOut.send(buf, sendMeta, 0, k);
  });
  const frames = [frame('02:00:00:00:00:02', 80, 1), frame('02:00:00:00:00:02', 90, 2)];
  const { buf, meta } = txList(frames);
  client.send(buf, meta, 0, 2);
  dir.deliver();
  const { got } = collector(rs);
  rs.deliver();
  assert.equal(got.length, 2);
  got.forEach((g, i) => {
    const want = frames[i].slice();
    want.set([0x02, 0, 0, 0, 0, 0x03], 0);
    assert.equal(g.hex, toHex(want));
    assert.equal(g.meta[Meta.PKTTYPE], PacketType.HOST, 'the rewritten MAC is the RS own');
  });
});

test('offload (vnet) fields of a sent entry travel with the frame', () => {
  const [a, b] = memoryPair();
  const { buf, meta } = txList([frame('02:00:00:00:00:0b', 60, 1)]);
  meta[Meta.VNET_FLAGS] = 1;
  meta[Meta.VNET_CSUM_START] = 34;
  meta[Meta.VNET_CSUM_OFFSET] = 6;
  a.send(buf, meta, 0, 1);
  const { got } = collector(b);
  b.deliver();
  assert.equal(got[0].meta[Meta.VNET_FLAGS], 1);
  assert.equal(got[0].meta[Meta.VNET_CSUM_START], 34);
  assert.equal(got[0].meta[Meta.VNET_CSUM_OFFSET], 6);
});

test('metaSetFrame clears stale offload fields; metaCopy copies a whole entry', () => {
  const m = newMeta(2);
  m.fill(7);
  metaSetFrame(m, 1, 100, 60);
  assert.equal(m[Meta.STRIDE + Meta.OFF], 100);
  assert.equal(m[Meta.STRIDE + Meta.LEN], 60);
  for (let k = Meta.VNET_FLAGS; k <= Meta.VNET_CSUM_OFFSET; k++) assert.equal(m[Meta.STRIDE + k], 0);
  assert.equal(m[Meta.STRIDE + Meta.PKTTYPE], 7, 'receive-only fields are left alone');
  const d = newMeta(3);
  metaCopy(d, 2, m, 1);
  assert.deepEqual(Array.from(d.subarray(2 * Meta.STRIDE)), Array.from(m.subarray(Meta.STRIDE)));
  assert.deepEqual(Array.from(d.subarray(0, 2 * Meta.STRIDE)), new Array(2 * Meta.STRIDE).fill(0));
});

test('send validates entries, and an unconnected or closed peer counts txErrors', () => {
  const lone = new MemoryPort();
  const { buf, meta } = txList([frame('02:00:00:00:00:0b', 60, 1)]);
  assert.equal(lone.send(buf, meta, 0, 1), 1);
  assert.equal(lone.stats().txErrors, 1);
  meta[Meta.LEN] = 61;
  assert.throws(() => lone.send(buf, meta, 0, 1), RangeError);
  const [a, b] = memoryPair();
  b.close();
  meta[Meta.LEN] = 60;
  a.send(buf, meta, 0, 1);
  assert.equal(a.stats().txErrors, 1);
  a.close();
  assert.throws(() => a.send(buf, meta, 0, 1), /closed/);
});

test('inject queues a received frame with caller-chosen status bits', () => {
  const p = new MemoryPort();
  const f = frame('02:00:00:00:00:0b', 60, 3);
  assert.equal(
    p.inject(f, 0, f.length, { status: TpStatus.CSUMNOTREADY, vlanTci: 100, vlanTpid: 0x8100 }),
    true,
  );
  const { got } = collector(p);
  p.deliver();
  assert.equal(got[0].hex, toHex(f));
  assert.equal(got[0].meta[Meta.STATUS], TpStatus.CSUMNOTREADY);
  assert.equal(got[0].meta[Meta.VLAN_TCI], 100);
  assert.equal(got[0].meta[Meta.VLAN_TPID], 0x8100);
});

test('autoDeliver hands frames over on setImmediate, without a deliver() call', async () => {
  const [a, b] = memoryPair({}, { autoDeliver: true });
  const { got } = collector(b);
  const { buf, meta } = txList([frame('02:00:00:00:00:0b', 60, 1), frame('02:00:00:00:00:0b', 61, 2)]);
  a.send(buf, meta, 0, 2);
  assert.equal(got.length, 0, 'not synchronous');
  await new Promise((r) => setImmediate(r));
  assert.equal(got.length, 2);
});

test('property: what arrives is what was sent, cut to the slot, up to the queue limit', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { maxLength: 40 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 16, max: 128 }),
      fc.integer({ min: 1, max: 50 }),
      (frames, batchSize, slotSize, queueLimit) => {
        const [a, b] = memoryPair({}, { batchSize, slotSize, queueLimit });
        const { buf, meta } = txList(frames);
        a.send(buf, meta, 0, frames.length);
        const { got, batches } = collector(b);
        b.deliver();
        const kept = frames.slice(0, queueLimit);
        assert.deepEqual(
          got.map((g) => g.hex),
          kept.map((f) => toHex(f, 0, Math.min(f.length, slotSize))),
        );
        got.forEach((g, i) => assert.equal(g.meta[Meta.WIRELEN], kept[i].length));
        assert.ok(batches.every((n) => n >= 1 && n <= batchSize));
        assert.equal(b.stats().kernelDrops, frames.length - kept.length);
      },
    ),
    { numRuns: 200 },
  );
});

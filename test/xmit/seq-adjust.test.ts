import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  csumCompletePartial,
  csumFold,
  csumVerifies,
  internetChecksum,
  pseudoSumV4,
  pseudoSumV6,
} from '../../src/wire/checksum.ts';
import { PROXY2_LEN_V4, proxy2Parse, proxy2WriteV4, type Proxy2Repr } from '../../src/wire/proxy2.ts';
import {
  ackFix,
  newSeqState,
  seqAfter,
  seqFix,
  seqStateUpdate,
  tcpFixAck,
  tcpFixSeq,
  tcpInsertDataV4,
  tcpInsertDataV6,
  type SeqState,
} from '../../src/xmit/seq-adjust.ts';

// ---- a self-contained Ethernet/IPv4|IPv6/TCP builder --------------------------------------------

interface Seg {
  seq: number;
  ack: number;
  flags: number;
  options: readonly number[];
  payload: Uint8Array;
  partial: boolean;
  pad?: number;
}
interface Frame {
  b: Uint8Array;
  len: number;
  l3off: number;
  l4off: number;
  v6: boolean;
}

const SRC = 0x0a000005;
const DST = 0x0a000164;
const SRC6 = Uint8Array.from([0x20, 1, 0xd, 0xb8, ...new Array<number>(11).fill(0), 5]);
const DST6 = Uint8Array.from([0x20, 1, 0xd, 0xb8, ...new Array<number>(11).fill(0), 0x64]);

function build(s: Seg, v6 = false, spare = 128): Frame {
  const optLen = (s.options.length + 3) & ~3;
  const l4len = 20 + optLen + s.payload.length;
  const l3len = (v6 ? 40 : 20) + l4len;
  const len = 14 + l3len + (s.pad ?? 0);
  const b = new Uint8Array(len + spare).fill(0xa5);
  const dv = new DataView(b.buffer);
  b.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, v6 ? 0x86 : 0x08, v6 ? 0xdd : 0x00], 0);
  b.fill(0, 14 + l3len, len);
  const ip = 14;
  let l4: number;
  let ps: number;
  if (v6) {
    b.set([0x60, 0, 0, 0, l4len >>> 8, l4len & 0xff, 6, 64], ip);
    b.set(SRC6, ip + 8);
    b.set(DST6, ip + 24);
    l4 = ip + 40;
    ps = pseudoSumV6(b, ip + 8, ip + 24, 6, l4len);
  } else {
    b.set([0x45, 0, l3len >>> 8, l3len & 0xff, 0, 7, 0x40, 0, 64, 6, 0, 0], ip);
    dv.setUint32(ip + 12, SRC);
    dv.setUint32(ip + 16, DST);
    dv.setUint16(ip + 10, internetChecksum(b, ip, 20));
    l4 = ip + 20;
    ps = pseudoSumV4(SRC, DST, 6, l4len);
  }
  b.fill(0, l4, l4 + 20 + optLen);
  dv.setUint16(l4, 40000);
  dv.setUint16(l4 + 2, 80);
  dv.setUint32(l4 + 4, s.seq >>> 0);
  dv.setUint32(l4 + 8, s.ack >>> 0);
  b[l4 + 12] = ((20 + optLen) / 4) << 4;
  b[l4 + 13] = s.flags;
  dv.setUint16(l4 + 14, 0xffff);
  b.set(s.options, l4 + 20);
  b.set(s.payload, l4 + 20 + optLen);
  dv.setUint16(l4 + 16, s.partial ? csumFold(ps) : internetChecksum(b, l4, l4len, ps));
  return { b, len, l3off: ip, l4off: l4, v6 };
}

function l4Len(f: Frame): number {
  const { b, l3off } = f;
  return f.v6 ? (b[l3off + 4] << 8) | b[l3off + 5] : ((b[l3off + 2] << 8) | b[l3off + 3]) - 20;
}

function pseudo(f: Frame): number {
  const n = l4Len(f);
  return f.v6 ? pseudoSumV6(f.b, f.l3off + 8, f.l3off + 24, 6, n) : pseudoSumV4(SRC, DST, 6, n);
}

/** Normal form: full recompute verifies. Partial form: the field is the fresh pseudo sum, and
 * completing it the way a device would gives a verifying segment. */
function tcpOk(f: Frame, partial: boolean): boolean {
  const n = l4Len(f);
  if (!f.v6 && !csumVerifies(f.b, f.l3off, 20)) return false;
  if (!partial) return csumVerifies(f.b, f.l4off, n, pseudo(f));
  const field = (f.b[f.l4off + 16] << 8) | f.b[f.l4off + 17];
  if (field !== csumFold(pseudo(f))) return false;
  const c = f.b.slice();
  csumCompletePartial(c, f.l4off, n, f.l4off + 16, false);
  return csumVerifies(c, f.l4off, n, pseudo(f));
}

const rd32 = (b: Uint8Array, o: number): number => new DataView(b.buffer).getUint32(o);

function st(initSeq: number, delta: number, prevDelta: number): SeqState {
  return { initSeq, delta, prevDelta, active: true };
}

// ---- arithmetic ---------------------------------------------------------------------------------

test('seqAfter follows 32-bit wraparound', () => {
  assert.ok(seqAfter(2, 1));
  assert.ok(!seqAfter(1, 2));
  assert.ok(!seqAfter(5, 5));
  assert.ok(seqAfter(0x00000010, 0xfffffff0)); // 0x20 later, across the wrap
  assert.ok(!seqAfter(0xfffffff0, 0x00000010));
  assert.ok(seqAfter(0x7fffffff, 0)); // 2^31 - 1 ahead still counts as after
  // Exactly 2^31 apart, (s32)(b - a) is -2^31 either way, so each counts as after the other, as
  // in the kernel's macro.
  assert.ok(seqAfter(0x80000000, 0));
  assert.ok(seqAfter(0, 0x80000000));
});

test('seqFix / ackFix: hand-worked values, including across the wrap', () => {
  // A 28-byte PROXY header went in front of the packet at seq 1000.
  const s = st(1000, 28, 0);
  assert.equal(seqFix(1000, s), 1000); // the changed packet itself: prevDelta 0
  assert.equal(seqFix(1100, s), 1128);
  assert.equal(seqFix(900, s), 900); // older data
  assert.equal(ackFix(1128, s), 1100); // after 1000 + 28: minus 28
  assert.equal(ackFix(1028, s), 1028); // not after 1028: minus prevDelta 0
  assert.equal(ackFix(1000, s), 1000);
  // Near the top of the space: init 0xffffffe0, +28; seq 0xfffffff0 → 0x0000000c.
  const w = st(0xffffffe0, 28, 0);
  assert.equal(seqFix(0xfffffff0, w), 0x0000000c);
  assert.equal(ackFix(0x0000000c, w), 0xfffffff0);
  // initSeq + delta itself wraps: 0xfffffff0 + 0x20 = 0x10.
  const w2 = st(0xfffffff0, 0x20, 0);
  assert.equal(ackFix(0x11, w2), 0xfffffff1);
  assert.equal(ackFix(0x10, w2), 0x10);
  // Two changes: 28 at seq 1000 then 12 more at seq 5000: delta 40, prevDelta 28.
  const two = newSeqState();
  seqStateUpdate(two, 1000, 28);
  seqStateUpdate(two, 5000, 12);
  assert.deepEqual(two, { initSeq: 5000, delta: 40, prevDelta: 28, active: true });
  assert.equal(seqFix(3000, two), 3028);
  assert.equal(seqFix(6000, two), 6040);
  assert.equal(ackFix(5040, two), 5040 - 28); // not after 5040: prevDelta
  assert.equal(ackFix(5041, two), 5001);
});

test('seqStateUpdate ignores retransmissions and older packets (vs_seq_update)', () => {
  const s = newSeqState();
  seqStateUpdate(s, 0xfffffffe, 28);
  assert.deepEqual(s, { initSeq: 0xfffffffe, delta: 28, prevDelta: 0, active: true });
  seqStateUpdate(s, 0xfffffffe, 28); // same packet again
  seqStateUpdate(s, 0xfffffff0, 5); // older
  seqStateUpdate(s, 3, 0); // no change
  assert.deepEqual(s, { initSeq: 0xfffffffe, delta: 28, prevDelta: 0, active: true });
  seqStateUpdate(s, 3, -8); // later, across the wrap, shrinking
  assert.deepEqual(s, { initSeq: 3, delta: 20, prevDelta: 28, active: true });
});

test('property: for growing deltas, ackFix undoes seqFix anywhere in the sequence space', () => {
  fc.assert(
    fc.property(
      fc.nat(0xffffffff),
      fc.nat(5000),
      fc.nat(5000),
      fc.integer({ min: -(2 ** 30), max: 2 ** 30 }),
      (init, a, b, off) => {
        const s = st(init, Math.max(a, b), Math.min(a, b));
        const seq = (init + off) >>> 0;
        assert.equal(ackFix(seqFix(seq, s), s), seq);
      },
    ),
    { numRuns: 2000 },
  );
});

// ---- packets ------------------------------------------------------------------------------------

test('first payload gets a PROXY v2 header; later packets and replies are shifted', () => {
  const s = newSeqState();
  const payload = new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');
  // Client → RS, first data packet at seq 0xfffffff0 (the stream wraps during this exchange).
  const f = build({ seq: 0xfffffff0, ack: 0x100, flags: 0x18, options: [], payload, partial: false });
  const seq = rd32(f.b, f.l4off + 4);
  tcpFixSeq(f.b, f.l4off, s);
  const hdr = new Uint8Array(PROXY2_LEN_V4);
  proxy2WriteV4(hdr, 0, 0xc6336401, 0x0a000164, 40000, 80, 6);
  const n = tcpInsertDataV4(f.b, f.l3off, f.l4off, f.len, f.b.length, hdr, 0, hdr.length);
  assert.equal(n, f.len + 28);
  seqStateUpdate(s, seq, 28);
  assert.ok(tcpOk(f, false));
  const r = proxy2Parse(f.b, f.l4off + 20, 28 + payload.length) as Proxy2Repr;
  assert.equal(r.src, 0xc6336401);
  assert.equal(r.headerLen, 28);
  assert.deepEqual(f.b.slice(f.l4off + 48, n), payload);
  // Next client packet at 0xfffffff0 + 18 = 0x00000002 → + 28 = 0x1e.
  const g = build({
    seq: 2,
    ack: 0x100,
    flags: 0x10,
    options: [],
    payload: new Uint8Array(3),
    partial: false,
  });
  tcpFixSeq(g.b, g.l4off, s);
  assert.equal(rd32(g.b, g.l4off + 4), 0x1e);
  assert.ok(tcpOk(g, false));
  // RS → client acks 0x1e + 3 = 0x21 with a SACK block [0x30, 0x40) after two NOPs:
  // ack 0x21 - 28 = 0x05; edges 0x14, 0x24.
  const h = build({
    seq: 0x100,
    ack: 0x21,
    flags: 0x10,
    options: [1, 1, 5, 10, 0, 0, 0, 0x30, 0, 0, 0, 0x40],
    payload: new Uint8Array(0),
    partial: false,
  });
  tcpFixAck(h.b, h.l4off, s);
  assert.equal(rd32(h.b, h.l4off + 8), 0x05);
  assert.equal(rd32(h.b, h.l4off + 24), 0x14);
  assert.equal(rd32(h.b, h.l4off + 28), 0x24);
  assert.ok(tcpOk(h, false));
  // A retransmission of the first packet: same seq, prevDelta 0, header inserted again.
  const re = build({ seq: 0xfffffff0, ack: 0x100, flags: 0x18, options: [], payload, partial: true });
  tcpFixSeq(re.b, re.l4off, s, true);
  assert.equal(rd32(re.b, re.l4off + 4), 0xfffffff0);
  tcpInsertDataV4(re.b, re.l3off, re.l4off, re.len, re.b.length, hdr, 0, hdr.length, true);
  seqStateUpdate(s, 0xfffffff0, 28);
  assert.equal(s.delta, 28);
  assert.ok(tcpOk(re, true));
});

test('tcpInsertDataV4 refuses what does not fit and leaves the frame alone', () => {
  const f = build(
    { seq: 1, ack: 1, flags: 0x18, options: [], payload: new Uint8Array(10), partial: false },
    false,
    0,
  );
  const copy = f.b.slice();
  const data = new Uint8Array(28);
  assert.equal(tcpInsertDataV4(f.b, f.l3off, f.l4off, f.len, f.b.length, data, 0, 28), -1);
  assert.equal(tcpInsertDataV4(f.b, f.l3off, f.l4off, f.len, f.len + 27, data, 0, 28), -1);
  assert.equal(tcpInsertDataV4(f.b, f.l3off, f.l4off, f.len, f.len + 100, data, 0, 28), -1); // cap > buffer
  assert.equal(tcpInsertDataV4(f.b, f.l3off, f.l4off, f.len, f.len, data, 20, 28), -1); // src too short
  assert.deepEqual(f.b, copy);
});

const sackBlocks = fc
  .array(fc.tuple(fc.nat(0xffffffff), fc.nat(0xffffffff)), { minLength: 1, maxLength: 3 })
  .map((bs) => [5, 2 + 8 * bs.length, ...bs.flatMap(([l, r]) => [...u32b(l), ...u32b(r)])]);

function u32b(x: number): number[] {
  return [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
}

/** Options with a SACK option at any alignment (0–3 NOPs before it) and maybe a timestamp. */
const optionsArb = fc
  .tuple(fc.nat(3), sackBlocks, fc.boolean())
  .map(([nops, sack, ts]) => [
    ...(ts ? [8, 10, 1, 2, 3, 4, 5, 6, 7, 8] : []),
    ...new Array<number>(nops).fill(1),
    ...sack,
  ])
  .filter((o) => o.length <= 40);

const stateArb = fc.record({
  initSeq: fc.nat(0xffffffff),
  delta: fc.integer({ min: -3000, max: 3000 }),
  prevDelta: fc.integer({ min: -3000, max: 3000 }),
  active: fc.constant(true),
});

test('property: after tcpFixSeq/tcpFixAck the checksum verifies by full recompute (both forms)', () => {
  fc.assert(
    fc.property(
      stateArb,
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      optionsArb,
      fc.uint8Array({ maxLength: 200 }),
      fc.boolean(),
      fc.boolean(),
      (s, seq, ack, options, payload, partial, v6) => {
        const f = build({ seq, ack, flags: 0x10, options, payload, partial }, v6);
        const optOff = f.l4off + 20 + (options[0] === 8 ? 10 : 0);
        const nops = options.slice(options[0] === 8 ? 10 : 0).findIndex((x) => x === 5);
        const sackAt = optOff + nops;
        const nEdges = (f.b[sackAt + 1] - 2) / 4;
        const edges = Array.from({ length: nEdges }, (_, i) => rd32(f.b, sackAt + 2 + 4 * i));
        const csumBefore = f.b.slice(f.l4off + 16, f.l4off + 18);
        tcpFixSeq(f.b, f.l4off, s, partial);
        tcpFixAck(f.b, f.l4off, s, partial);
        assert.equal(rd32(f.b, f.l4off + 4), seqFix(seq, s));
        assert.equal(rd32(f.b, f.l4off + 8), ackFix(ack, s));
        edges.forEach((e, i) => assert.equal(rd32(f.b, sackAt + 2 + 4 * i), ackFix(e, s)));
        if (partial) assert.deepEqual(f.b.slice(f.l4off + 16, f.l4off + 18), csumBefore);
        assert.ok(tcpOk(f, partial));
        assert.deepEqual(f.b.slice(f.len - payload.length, f.len), payload);
      },
    ),
    { numRuns: 1000 },
  );
});

test('property: inserting data keeps the checksum valid (odd and even lengths, both forms, v4/v6)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.constantFrom([], [1, 1, 1, 1], [2, 4, 5, 0xb4, 1, 1, 4, 2]),
      fc.boolean(),
      fc.boolean(),
      fc.nat(7),
      (payload, data, options, partial, v6, pad) => {
        const f = build({ seq: 7, ack: 9, flags: 0x18, options, payload, partial, pad: v6 ? 0 : pad }, v6);
        const optLen = options.length;
        const before = l4Len(f);
        const n = v6
          ? tcpInsertDataV6(f.b, f.l3off, f.l4off, f.len, f.b.length, data, 0, data.length, partial)
          : tcpInsertDataV4(f.b, f.l3off, f.l4off, f.len, f.b.length, data, 0, data.length, partial);
        assert.equal(n, f.len - (v6 ? 0 : pad) + data.length);
        assert.equal(l4Len(f), before + data.length);
        const at = f.l4off + 20 + optLen;
        assert.deepEqual(f.b.slice(at, at + data.length), data);
        assert.deepEqual(f.b.slice(at + data.length, n), payload);
        assert.ok(tcpOk(f, partial));
      },
    ),
    { numRuns: 600 },
  );
});

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
import {
  TCPOPT_TOA,
  TOA_V4_LEN,
  TOA_V6_LEN,
  tcpFindToa,
  tcpInsertToaV4,
  tcpInsertToaV6,
  tcpReduceMss,
  toaAddrV4,
  toaAddrV6Off,
  toaIsV6,
  toaPort,
} from '../../src/wire/toa.ts';
import { hex, toHex } from '../helpers/bytes.ts';
import { hasTshark, tsharkDecode } from '../helpers/tshark.ts';

// ---- frame builders (self-contained: Ethernet + IPv4/IPv6 + TCP) --------------------------------

interface Seg {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  options: readonly number[];
  payload: Uint8Array;
  /** Extra IPv4 header option bytes (a multiple of 4), to move l4off. */
  ipOptions?: readonly number[];
  partial?: boolean;
  /** Ethernet trailer padding after the IP packet. */
  pad?: number;
}

interface Frame {
  b: Uint8Array;
  len: number;
  l3off: number;
  l4off: number;
}

const FIN = 0x01;
const SYN = 0x02;
const PSH = 0x08;
const ACK = 0x10;

function tcpHeader(b: Uint8Array, o: number, s: Seg): number {
  const optLen = (s.options.length + 3) & ~3;
  const hl = 20 + optLen;
  b[o] = s.sport >>> 8;
  b[o + 1] = s.sport & 0xff;
  b[o + 2] = s.dport >>> 8;
  b[o + 3] = s.dport & 0xff;
  new DataView(b.buffer, b.byteOffset).setUint32(o + 4, s.seq >>> 0);
  new DataView(b.buffer, b.byteOffset).setUint32(o + 8, s.ack >>> 0);
  b[o + 12] = (hl / 4) << 4;
  b[o + 13] = s.flags;
  b[o + 14] = 0xfa;
  b[o + 15] = 0xf0;
  b.set(s.options, o + 20);
  b.set(s.payload, o + hl);
  return hl;
}

/** An Ethernet/IPv4/TCP frame with a correct IPv4 checksum and a correct TCP checksum (or the
 * CHECKSUM_PARTIAL pseudo sum), in a buffer with 64 spare bytes. */
function frameV4(s: Seg): Frame {
  const ipOpt = s.ipOptions ?? [];
  const ihl = 20 + ipOpt.length;
  const optLen = (s.options.length + 3) & ~3;
  const l4len = 20 + optLen + s.payload.length;
  const tot = ihl + l4len;
  const len = 14 + tot + (s.pad ?? 0);
  const b = new Uint8Array(len + 64).fill(0xa5);
  b.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00], 0);
  b.fill(0, 14 + tot, len); // trailer
  const ip = 14;
  b.set([0x40 | (ihl / 4), 0, tot >>> 8, tot & 0xff, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0], ip);
  const dv = new DataView(b.buffer);
  dv.setUint32(ip + 12, s.src >>> 0);
  dv.setUint32(ip + 16, s.dst >>> 0);
  b.set(ipOpt, ip + 20);
  dv.setUint16(ip + 10, internetChecksum(b, ip, ihl));
  const l4 = ip + ihl;
  b.fill(0, l4, l4 + 20 + optLen);
  tcpHeader(b, l4, s);
  const ps = pseudoSumV4(s.src, s.dst, 6, l4len);
  dv.setUint16(l4 + 16, s.partial ? csumFold(ps) : internetChecksum(b, l4, l4len, ps));
  return { b, len, l3off: ip, l4off: l4 };
}

function frameV6(s: Seg, src6: Uint8Array, dst6: Uint8Array): Frame {
  const optLen = (s.options.length + 3) & ~3;
  const l4len = 20 + optLen + s.payload.length;
  const len = 14 + 40 + l4len;
  const b = new Uint8Array(len + 64).fill(0xa5);
  b.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd], 0);
  const ip = 14;
  b.set([0x60, 0, 0, 0, l4len >>> 8, l4len & 0xff, 6, 64], ip);
  b.set(src6, ip + 8);
  b.set(dst6, ip + 24);
  const l4 = ip + 40;
  b.fill(0, l4, l4 + 20 + optLen);
  tcpHeader(b, l4, s);
  const ps = pseudoSumV6(b, ip + 8, ip + 24, 6, l4len);
  new DataView(b.buffer).setUint16(l4 + 16, s.partial ? csumFold(ps) : internetChecksum(b, l4, l4len, ps));
  return { b, len, l3off: ip, l4off: l4 };
}

function ipv4TcpVerifies(f: Frame): boolean {
  const { b, l3off } = f;
  const ihl = (b[l3off] & 0xf) * 4;
  const tot = (b[l3off + 2] << 8) | b[l3off + 3];
  if (!csumVerifies(b, l3off, ihl)) return false;
  const src = new DataView(b.buffer).getUint32(l3off + 12);
  const dst = new DataView(b.buffer).getUint32(l3off + 16);
  return csumVerifies(b, l3off + ihl, tot - ihl, pseudoSumV4(src, dst, 6, tot - ihl));
}

/** Partial form: the field must equal a fresh pseudo-header sum; then completing must verify. */
function ipv4PartialConsistent(f: Frame): boolean {
  const { b, l3off } = f;
  const ihl = (b[l3off] & 0xf) * 4;
  const tot = (b[l3off + 2] << 8) | b[l3off + 3];
  const src = new DataView(b.buffer).getUint32(l3off + 12);
  const dst = new DataView(b.buffer).getUint32(l3off + 16);
  const l4 = l3off + ihl;
  const field = (b[l4 + 16] << 8) | b[l4 + 17];
  if (field !== csumFold(pseudoSumV4(src, dst, 6, tot - ihl))) return false;
  const c = b.slice();
  csumCompletePartial(c, l4, tot - ihl, l4 + 16, false);
  return csumVerifies(c, l4, tot - ihl, pseudoSumV4(src, dst, 6, tot - ihl)) && csumVerifies(b, l3off, ihl);
}

function ipv6TcpVerifies(f: Frame): boolean {
  const { b, l3off } = f;
  const plen = (b[l3off + 4] << 8) | b[l3off + 5];
  return csumVerifies(b, l3off + 40, plen, pseudoSumV6(b, l3off + 8, l3off + 24, 6, plen));
}

/** tshark's per-frame verdicts: ip checksum status, tcp checksum status, option kinds. */
function tsharkFields(frames: readonly Uint8Array[]): string[][] {
  const out = tsharkDecode(frames, [
    '-o',
    'tcp.check_checksum:TRUE',
    '-o',
    'ip.check_checksum:TRUE',
    '-T',
    'fields',
    '-E',
    'separator=|',
    '-e',
    'ip.checksum.status',
    '-e',
    'tcp.checksum.status',
    '-e',
    'tcp.option_kind',
    '-e',
    'tcp.len',
    '-e',
    'tcp.options.mss_val',
  ]);
  return out
    .trim()
    .split('\n')
    .map((l) => l.split('|'));
}

// ---- fixtures -----------------------------------------------------------------------------------

const CADDR = 0xc6336401; // 198.51.100.1, the client
const LADDR = 0x0a000005; // 10.0.0.5, the FullNAT local address
const RADDR = 0x0a000164; // 10.0.1.100, the real server

// A Linux-style SYN: MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (doff 10).
const SYN_OPTS = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];

function synSeg(partial = false): Seg {
  return {
    src: LADDR,
    dst: RADDR,
    sport: 1030,
    dport: 80,
    seq: 0x12345678,
    ack: 0,
    flags: SYN,
    options: SYN_OPTS,
    payload: new Uint8Array(0),
    partial,
  };
}

// ---- tests --------------------------------------------------------------------------------------

test('golden: TOA into a SYN (verified with tshark: checksums good, option kind 254)', () => {
  const f = frameV4(synSeg());
  const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, 40000, CADDR);
  assert.equal(n, f.len + 8);
  // Layout written by hand from toa.h; the two checksums came from this implementation and were
  // then checked with
  //   tshark -r toa.pcap -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -V
  // (TShark 4.0.17), which shows "Total Length: 68", "Header Checksum: 0x1318 [correct]",
  // "Header Length: 48 bytes (12)", "Checksum: 0xe61c [correct]", and as first option
  // "Kind: RFC3692-style Experiment 2 (254)", "Length: 8", "Experiment Identifier: Unknown
  // (0x9c40)" (tshark's name for the port, 40000), "Data: c6336401" (198.51.100.1), then the
  // original MSS 1460 / SACK permitted / timestamps / NOP / window scale 7.
  // The live tshark test below repeats that check on every run where tshark is installed.
  const golden = hex(`
    0200 0000 0001 0200 0000 0002 0800                      # Ethernet
    4500 0044 1234 4000 4006 1318 0a00 0005 0a00 0164       # IPv4, total length 68
    0406 0050 1234 5678 0000 0000 c002 faf0 e61c 0000       # TCP, doff 12, SYN
    fe08 9c40 c633 6401                                     # TOA: port 40000, 198.51.100.1
    0204 05b4 0402 080a 0000 0001 0000 0000 0103 0307       # original options
  `);
  assert.equal(toHex(f.b, 0, n), toHex(golden));
  assert.ok(ipv4TcpVerifies({ ...f, len: n }));
});

test('golden: TOA into a data segment with an odd payload (5 bytes)', () => {
  const f = frameV4({
    src: LADDR,
    dst: RADDR,
    sport: 1030,
    dport: 80,
    seq: 0x12345679,
    ack: 0xabcdef01,
    flags: ACK | PSH,
    options: [],
    payload: new TextEncoder().encode('hello'),
  });
  const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, 40000, CADDR);
  assert.equal(n, f.len + 8);
  // Checked the same way as the SYN golden: tshark shows "Total Length: 53", "Header Checksum:
  // 0x1327 [correct]", "Header Length: 28 bytes (7)", "Checksum: 0x6f42 [correct]", option kind
  // 254 length 8, and "TCP payload (5 bytes)".
  const golden = hex(`
    0200 0000 0001 0200 0000 0002 0800
    4500 0035 1234 4000 4006 1327 0a00 0005 0a00 0164       # total length 53
    0406 0050 1234 5679 abcd ef01 7018 faf0 6f42 0000       # doff 7, PSH|ACK
    fe08 9c40 c633 6401
    6865 6c6c 6f                                            # "hello"
  `);
  assert.equal(toHex(f.b, 0, n), toHex(golden));
});

test('tshark decodes the inserted TOA and finds every checksum correct', (t) => {
  if (!hasTshark()) {
    t.skip('tshark not installed');
    return;
  }
  const frames: Uint8Array[] = [];
  const expect: { kinds: string; len: string; mss: string }[] = [];
  // 1. SYN, with the MSS reduced as Alibaba LVS does (here on the same segment, for the check).
  {
    const f = frameV4(synSeg());
    const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, 40000, CADDR);
    assert.ok(tcpReduceMss(f.b, f.l4off, TOA_V4_LEN));
    frames.push(f.b.slice(0, n));
    expect.push({ kinds: '254,2,4,8,1,3', len: '0', mss: '1452' });
  }
  // 2. Data with an odd payload, IPv4 options present, and Ethernet padding on input.
  {
    const f = frameV4({
      ...synSeg(),
      flags: ACK,
      options: [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
      payload: Uint8Array.from({ length: 301 }, (_, i) => (i * 7) & 0xff),
      ipOptions: [1, 1, 1, 0],
      pad: 6,
    });
    const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, 65535, 0xffffffff);
    frames.push(f.b.slice(0, n));
    expect.push({ kinds: '254,1,1,8', len: '301', mss: '' });
  }
  // 3. A FIN without options.
  {
    const f = frameV4({ ...synSeg(), flags: FIN | ACK, options: [] });
    const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, 1, 0);
    frames.push(f.b.slice(0, n));
    expect.push({ kinds: '254', len: '0', mss: '' });
  }
  const rows = tsharkFields(frames);
  assert.equal(rows.length, frames.length);
  rows.forEach((r, i) => {
    // Checksum status 1 = good (0 bad, 2 unverified).
    assert.equal(r[0], '1', `frame ${i + 1}: ip checksum`);
    assert.equal(r[1], '1', `frame ${i + 1}: tcp checksum`);
    assert.equal(r[2], expect[i].kinds, `frame ${i + 1}: option kinds`);
    assert.equal(r[3], expect[i].len, `frame ${i + 1}: tcp.len`);
    assert.equal(r[4] ?? '', expect[i].mss, `frame ${i + 1}: mss`);
  });
});

test('CHECKSUM_PARTIAL: only the pseudo-header length changes', () => {
  const f = frameV4(synSeg(true));
  const before = (f.b[f.l4off + 16] << 8) | f.b[f.l4off + 17];
  const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, 40000, CADDR, true);
  assert.equal(n, f.len + 8);
  // Pseudo sum before: 0a00+0005+0a00+0164+0006+0028 (length 40) = 0x1597; after, length 48:
  // 0x159f.
  assert.equal(before, 0x1597);
  assert.equal((f.b[f.l4off + 16] << 8) | f.b[f.l4off + 17], 0x159f);
  assert.ok(ipv4PartialConsistent(f));
});

test('returns -1 and leaves the frame alone when the option does not fit', () => {
  // 36 option bytes: doff 14; 56 + 8 > 60.
  const full = frameV4({ ...synSeg(), options: new Array<number>(36).fill(1) });
  const copy = full.b.slice();
  assert.equal(tcpInsertToaV4(full.b, full.l3off, full.l4off, full.len, full.b.length, 1, 2), -1);
  assert.deepEqual(full.b, copy);
  // 32 option bytes: doff 13 → 15 after insertion, exactly the maximum.
  const ok = frameV4({ ...synSeg(), options: new Array<number>(32).fill(1) });
  const n = tcpInsertToaV4(ok.b, ok.l3off, ok.l4off, ok.len, ok.b.length, 1, 2);
  assert.equal(n, ok.len + 8);
  assert.equal(ok.b[ok.l4off + 12] >>> 4, 15);
  assert.ok(ipv4TcpVerifies(ok));
  // Capacity one byte short.
  const f = frameV4(synSeg());
  const c2 = f.b.slice();
  assert.equal(tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.len + 7, 1, 2), -1);
  assert.deepEqual(f.b, c2);
  assert.equal(tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.len + 8, 1, 2), f.len + 8);
  // cap beyond the buffer is refused rather than trusted.
  const g = frameV4(synSeg());
  assert.equal(tcpInsertToaV4(g.b, g.l3off, g.l4off, g.len, g.b.length + 100, 1, 2), -1);
});

test('tcpReduceMss subtracts from the MSS option, any alignment, checksum kept valid', () => {
  // Aligned: MSS first. 1460 - 8 = 1452.
  const a = frameV4(synSeg());
  assert.ok(tcpReduceMss(a.b, a.l4off, 8));
  assert.equal((a.b[a.l4off + 22] << 8) | a.b[a.l4off + 23], 1452);
  assert.ok(ipv4TcpVerifies(a));
  // Odd alignment: one NOP first, so the MSS value straddles two checksum words.
  const b = frameV4({ ...synSeg(), options: [1, 2, 4, 0x05, 0xb4, 0, 0, 0] });
  assert.ok(tcpReduceMss(b.b, b.l4off, 20));
  assert.equal((b.b[b.l4off + 23] << 8) | b.b[b.l4off + 24], 1440);
  assert.ok(ipv4TcpVerifies(b));
  // No MSS option, an MSS too small to reduce, and an MSS hidden behind EOL.
  const c = frameV4({ ...synSeg(), options: [1, 3, 3, 7] });
  assert.ok(!tcpReduceMss(c.b, c.l4off, 8));
  const d = frameV4({ ...synSeg(), options: [2, 4, 0, 8] });
  assert.ok(!tcpReduceMss(d.b, d.l4off, 8));
  const e = frameV4({ ...synSeg(), options: [0, 2, 4, 5, 0xb4, 0, 0, 0] });
  assert.ok(!tcpReduceMss(e.b, e.l4off, 8));
  // Partial form: the field (pseudo sum) does not change.
  const p = frameV4(synSeg(true));
  const before = p.b.slice(p.l4off + 16, p.l4off + 18);
  assert.ok(tcpReduceMss(p.b, p.l4off, 8, true));
  assert.deepEqual(p.b.slice(p.l4off + 16, p.l4off + 18), before);
  assert.ok(ipv4PartialConsistent(p));
});

test('tcpFindToa and the accessors read back what was inserted', () => {
  const f = frameV4(synSeg());
  assert.equal(tcpFindToa(f.b, f.l4off, f.len - f.l4off), -1);
  const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, 40000, CADDR);
  const o = tcpFindToa(f.b, f.l4off, n - f.l4off);
  assert.equal(o, f.l4off + 20);
  assert.equal(f.b[o], TCPOPT_TOA);
  assert.ok(!toaIsV6(f.b, o));
  assert.equal(toaPort(f.b, o), 40000);
  assert.equal(toaAddrV4(f.b, o), CADDR);
  // A TOA behind other options, and one with a wrong length.
  const g = frameV4({ ...synSeg(), options: [1, 1, 254, 8, 0, 80, 10, 0, 0, 1] });
  assert.equal(tcpFindToa(g.b, g.l4off, g.len - g.l4off), g.l4off + 22);
  assert.equal(toaPort(g.b, g.l4off + 22), 80);
  const h = frameV4({ ...synSeg(), options: [254, 6, 0, 80, 10, 0, 0, 0] });
  assert.equal(tcpFindToa(h.b, h.l4off, h.len - h.l4off), -1);
  // Header longer than the bytes given.
  assert.equal(tcpFindToa(f.b, f.l4off, 40), -1);
});

test('tcpFindToa never throws or reads outside its window on random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(90), fc.nat(90), (raw, off, len) => {
      const r = tcpFindToa(raw, off, len);
      assert.ok(r === -1 || (r >= off + 20 && r + raw[r + 1] <= off + Math.min(len, raw.length - off)));
    }),
    { numRuns: 2000 },
  );
});

const optionsArb = fc
  .array(
    fc.oneof(
      fc.constant([1]),
      fc.constant([2, 4, 0x05, 0xb4]),
      fc.constant([4, 2]),
      fc.constant([3, 3, 7]),
      fc.tuple(fc.nat(0xffffffff), fc.nat(0xffffffff)).map(([a, c]) => [8, 10, ...u32b(a), ...u32b(c)]),
    ),
    { maxLength: 6 },
  )
  .map((xs) => xs.flat())
  .filter((o) => o.length <= 36);

function u32b(x: number): number[] {
  return [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
}

test('property: after insertion both checksums verify by full recompute and the payload is intact', () => {
  fc.assert(
    fc.property(
      fc.record({
        src: fc.nat(0xffffffff),
        dst: fc.nat(0xffffffff),
        sport: fc.nat(0xffff),
        dport: fc.nat(0xffff),
        seq: fc.nat(0xffffffff),
        ack: fc.nat(0xffffffff),
        flags: fc.nat(0x3f),
        options: optionsArb,
        payload: fc.uint8Array({ maxLength: 400 }),
        ipOptions: fc.constantFrom([], [1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 0]),
        pad: fc.nat(10),
        partial: fc.boolean(),
      }),
      fc.nat(0xffff),
      fc.nat(0xffffffff),
      (s, cport, caddr) => {
        const f = frameV4(s);
        const optLen = (s.options.length + 3) & ~3;
        const origOpts = f.b.slice(f.l4off + 20, f.l4off + 20 + optLen);
        const n = tcpInsertToaV4(f.b, f.l3off, f.l4off, f.len, f.b.length, cport, caddr, s.partial);
        if (optLen + 8 > 40) {
          assert.equal(n, -1);
          return;
        }
        const tot = 20 + s.ipOptions.length + 28 + optLen + s.payload.length;
        assert.equal(n, 14 + tot);
        assert.equal((f.b[f.l3off + 2] << 8) | f.b[f.l3off + 3], tot);
        assert.equal(f.b[f.l4off + 12] >>> 4, (28 + optLen) / 4);
        assert.equal(f.b[f.l4off + 13], s.flags);
        assert.deepEqual(f.b.slice(f.l4off + 28, f.l4off + 28 + optLen), origOpts);
        assert.deepEqual(f.b.slice(f.l4off + 28 + optLen, n), s.payload);
        const o = tcpFindToa(f.b, f.l4off, n - f.l4off);
        assert.equal(o, f.l4off + 20);
        assert.equal(toaPort(f.b, o), cport);
        assert.equal(toaAddrV4(f.b, o), caddr);
        assert.ok(s.partial ? ipv4PartialConsistent(f) : ipv4TcpVerifies(f));
      },
    ),
    { numRuns: 400 },
  );
});

test('IPv6: TOA of 20 bytes, payload length and checksum updated (normal and partial)', () => {
  const src6 = hex('20010db8000000000000000000000005');
  const dst6 = hex('20010db8000000000000000000000164');
  const client6 = hex('20010db8ffff00000000000000000001');
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.boolean(),
      fc.nat(0xffff),
      (payload, partial, cport) => {
        const f = frameV6({ ...synSeg(partial), flags: ACK, options: [1, 1, 4, 2], payload }, src6, dst6);
        const n = tcpInsertToaV6(f.b, f.l3off, f.l4off, f.len, f.b.length, cport, client6, 0, partial);
        assert.equal(n, f.len + TOA_V6_LEN);
        const plen = (f.b[f.l3off + 4] << 8) | f.b[f.l3off + 5];
        assert.equal(plen, 24 + 20 + payload.length);
        assert.equal(f.b[f.l4off + 12] >>> 4, 11);
        assert.deepEqual(f.b.slice(f.l4off + 44, n), payload);
        const o = tcpFindToa(f.b, f.l4off, n - f.l4off);
        assert.equal(o, f.l4off + 20);
        assert.ok(toaIsV6(f.b, o));
        assert.equal(toaPort(f.b, o), cport);
        assert.deepEqual(f.b.slice(toaAddrV6Off(o), toaAddrV6Off(o) + 16), client6);
        if (partial) {
          const field = (f.b[f.l4off + 16] << 8) | f.b[f.l4off + 17];
          assert.equal(field, csumFold(pseudoSumV6(f.b, f.l3off + 8, f.l3off + 24, 6, plen)));
          const c = f.b.slice();
          csumCompletePartial(c, f.l4off, plen, f.l4off + 16, false);
          assert.ok(csumVerifies(c, f.l4off, plen, pseudoSumV6(c, f.l3off + 8, f.l3off + 24, 6, plen)));
        } else {
          assert.ok(ipv6TcpVerifies(f));
        }
      },
    ),
    { numRuns: 200 },
  );
  // 24 option bytes + 20 = 44 > 40: refused.
  const g = frameV6({ ...synSeg(), options: new Array<number>(24).fill(1) }, src6, dst6);
  assert.equal(tcpInsertToaV6(g.b, g.l3off, g.l4off, g.len, g.b.length, 1, client6, 0), -1);
});

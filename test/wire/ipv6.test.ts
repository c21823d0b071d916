import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { u16 } from '../../src/wire/bytes.ts';
import { ETH_HLEN } from '../../src/wire/ethernet.ts';
import { ipv6FromString } from '../../src/wire/addr.ts';
import {
  IPV6_EXT_MAX,
  IPV6_HLEN,
  IPV6_NH_AH,
  IPV6_NH_DSTOPTS,
  IPV6_NH_FRAGMENT,
  IPV6_NH_HOPOPTS,
  IPV6_NH_ROUTING,
  ipv6Check,
  ipv6DstEquals,
  ipv6DstOff,
  ipv6Emit,
  ipv6FindL4,
  ipv6FlowLabel,
  ipv6HopLimit,
  ipv6Parse,
  ipv6PayloadLen,
  ipv6SetDst,
  ipv6SetHopLimit,
  ipv6SetPayloadLen,
  ipv6SetSrc,
  ipv6SetTrafficClass,
  ipv6SrcEquals,
  ipv6SrcOff,
  ipv6TrafficClass,
  ipv6Version,
  type Ipv6Repr,
} from '../../src/wire/ipv6.ts';
import { Reason } from '../../src/wire/reason.ts';
import { poisoned, toHex } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

const golden = (name: string): Uint8Array => goldenIn('wire', name);
const L3 = ETH_HLEN;

const A1 = ipv6FromString('fd00:77:1::1');
const R1 = ipv6FromString('fd00:77:1::fe');
const B2 = ipv6FromString('fd00:77:2::1');

/** Fixed-header values as tshark printed them in each golden's comment. */
const FIXED: [string, { flowLabel: number; payloadLen: number; nextHeader: number; dst: Uint8Array }][] = [
  ['icmp6-echo-request', { flowLabel: 0xc58ac, payloadLen: 26, nextHeader: 58, dst: B2 }],
  ['tcp6-syn', { flowLabel: 0x93151, payloadLen: 40, nextHeader: 6, dst: B2 }],
  ['udp6', { flowLabel: 0x99429, payloadLen: 24, nextHeader: 17, dst: B2 }],
  ['udp6-hbh-dstopts', { flowLabel: 0xf7f84, payloadLen: 35, nextHeader: 0, dst: R1 }],
  ['ipv6-frag-first', { flowLabel: 0xa39cc, payloadLen: 1456, nextHeader: 44, dst: R1 }],
];

test('golden fixed headers: check, parse and emit agree with tshark', () => {
  for (const [name, want] of FIXED) {
    const f = golden(name);
    assert.equal(ipv6Check(f, L3, f.length - L3), Reason.OK, name);
    assert.equal(ipv6Version(f, L3), 6);
    assert.equal(ipv6FlowLabel(f, L3), want.flowLabel, name);
    assert.equal(ipv6PayloadLen(f, L3), want.payloadLen, name);
    assert.equal(ipv6HopLimit(f, L3), 64, name);
    assert.equal(ipv6TrafficClass(f, L3), 0, name);
    assert.ok(ipv6SrcEquals(f, L3, A1, 0), name);
    assert.ok(ipv6DstEquals(f, L3, want.dst, 0), name);
    assert.equal(toHex(f, ipv6SrcOff(L3), 16), toHex(A1));
    assert.equal(toHex(f, ipv6DstOff(L3), 16), toHex(want.dst));
    const r = ipv6Parse(f, L3);
    assert.equal(r.nextHeader, want.nextHeader, name);
    const out = poisoned(IPV6_HLEN + 2);
    assert.equal(ipv6Emit(r, out, 1), IPV6_HLEN);
    assert.equal(toHex(out, 1, IPV6_HLEN), toHex(f, L3, IPV6_HLEN), name);
    assert.equal(out[0], 0xa5);
    assert.equal(out[IPV6_HLEN + 1], 0xa5);
  }
});

/** [golden, reason, upper protocol, L4 offset in the frame, fragment word, source port at L4 (tshark)]. */
const WALKS: [string, Reason, number, number, number, number][] = [
  ['tcp6-syn', Reason.OK, 6, 54, -1, 57578],
  ['udp6-hbh-dstopts', Reason.OK, 17, 70, -1, 58125],
  ['ipv6-frag-first', Reason.IPV6_FRAGMENT, 17, 62, 0x0001, 60123],
  ['ipv6-frag-last', Reason.IPV6_FRAGMENT, 17, 62, 1448, -1],
  ['ipv6-atomic-frag', Reason.OK, 17, 62, 0x0000, 40000],
  ['ipv6-routing', Reason.OK, 17, 78, -1, 40000],
  ['ipv6-ah', Reason.OK, 17, 78, -1, 40000],
  ['ipv6-esp', Reason.OK, 50, 54, -1, -1],
  ['ipv6-hbh-nonext', Reason.OK, 59, 62, -1, -1],
  ['icmp6-ns', Reason.OK, 58, 54, -1, -1],
];

test('ipv6FindL4 on the goldens finds the upper layer tshark found', () => {
  const out = new Int32Array(3);
  for (const [name, reason, proto, l4off, fw, sport] of WALKS) {
    const f = golden(name);
    out.fill(-7);
    const r = ipv6FindL4(f, L3, IPV6_HLEN + ipv6PayloadLen(f, L3), out);
    assert.equal(r, reason, name);
    assert.deepEqual([out[0], out[1], out[2]], [proto, l4off, fw], name);
    if (sport >= 0) assert.equal(u16(f, out[1]), sport, name);
  }
});

test('two-slot out arrays are fine (the fragment word is simply not stored)', () => {
  const out = new Int32Array(2);
  const f = golden('udp6-hbh-dstopts');
  assert.equal(ipv6FindL4(f, L3, f.length - L3, out), Reason.OK);
  assert.deepEqual([...out], [17, 70]);
});

test('nine extension headers is too many, eight is fine', () => {
  const out = new Int32Array(3);
  const nine = golden('ipv6-nine-dstopts');
  assert.equal(ipv6FindL4(nine, L3, nine.length - L3, out), Reason.IPV6_EXT_TOO_MANY);
  // Drop one of the 8-byte destination-options headers (each of the first eight says "next: 60").
  const eight = new Uint8Array(nine.length - 8);
  eight.set(nine.subarray(0, 54), 0);
  eight.set(nine.subarray(62), 54);
  ipv6SetPayloadLen(eight, L3, ipv6PayloadLen(nine, L3) - 8);
  assert.equal(ipv6Check(eight, L3, eight.length - L3), Reason.OK);
  assert.equal(ipv6FindL4(eight, L3, eight.length - L3, out), Reason.OK);
  assert.equal(out[0], 17);
  assert.equal(out[1], 54 + IPV6_EXT_MAX * 8);
  assert.equal(u16(eight, out[1]), 40000);
});

test('truncated extension chains give IPV6_EXT_TRUNCATED', () => {
  const out = new Int32Array(3);
  const hd = golden('udp6-hbh-dstopts');
  assert.equal(ipv6FindL4(hd, L3, IPV6_HLEN + 1, out), Reason.IPV6_EXT_TRUNCATED); // no length byte
  assert.equal(ipv6FindL4(hd, L3, IPV6_HLEN + 7, out), Reason.IPV6_EXT_TRUNCATED); // HBH cut short
  assert.equal(ipv6FindL4(hd, L3, IPV6_HLEN + 12, out), Reason.IPV6_EXT_TRUNCATED); // dstopts cut short
  const longHbh = hd.slice();
  longHbh[L3 + IPV6_HLEN + 1] = 9; // claims 80 bytes, 35 present
  assert.equal(ipv6FindL4(longHbh, L3, longHbh.length - L3, out), Reason.IPV6_EXT_TRUNCATED);
  const frag = golden('ipv6-frag-first');
  assert.equal(ipv6FindL4(frag, L3, IPV6_HLEN + 7, out), Reason.IPV6_EXT_TRUNCATED);
  const ah = golden('ipv6-ah');
  const longAh = ah.slice();
  longAh[L3 + IPV6_HLEN + 1] = 20;
  assert.equal(ipv6FindL4(longAh, L3, longAh.length - L3, out), Reason.IPV6_EXT_TRUNCATED);
  assert.equal(ipv6FindL4(hd, L3, IPV6_HLEN - 1, out), Reason.IPV6_TRUNCATED);
  // A buffer shorter than the claimed length bounds the walk too.
  assert.equal(ipv6FindL4(hd.subarray(0, L3 + IPV6_HLEN + 10), L3, 200, out), Reason.IPV6_EXT_TRUNCATED);
});

test('ipv6Check: truncated, bad version, bad payload length each get their reason', () => {
  const f = golden('udp6');
  const n = f.length - L3;
  assert.equal(ipv6Check(f, L3, n), Reason.OK);
  assert.equal(ipv6Check(f, L3, IPV6_HLEN - 1), Reason.IPV6_TRUNCATED);
  assert.equal(ipv6Check(f.subarray(0, L3 + 39), L3, n), Reason.IPV6_TRUNCATED);
  assert.equal(ipv6Check(f, -1, n), Reason.IPV6_TRUNCATED);
  const v4 = f.slice();
  v4[L3] = 0x45;
  assert.equal(ipv6Check(v4, L3, n), Reason.IPV6_BAD_VERSION);
  assert.equal(ipv6Check(f, L3, n - 1), Reason.IPV6_BAD_PAYLOAD_LEN);
  const big = f.slice();
  ipv6SetPayloadLen(big, L3, ipv6PayloadLen(f, L3) + 1);
  assert.equal(ipv6Check(big, L3, n), Reason.IPV6_BAD_PAYLOAD_LEN);
  // Trailing bytes (Ethernet padding) beyond the payload are fine.
  const padded = new Uint8Array(f.length + 6);
  padded.set(f);
  assert.equal(ipv6Check(padded, L3, padded.length - L3), Reason.OK);
});

test('setters: addresses copy 16 bytes, hop limit and traffic class leave the rest alone', () => {
  const f = golden('tcp6-syn');
  const before = f.slice();
  const src = new Uint8Array(20);
  src.set(B2, 3);
  ipv6SetSrc(f, L3, src, 3);
  ipv6SetDst(f, L3, A1, 0);
  ipv6SetHopLimit(f, L3, 63);
  ipv6SetTrafficClass(f, L3, 0xb8);
  assert.ok(ipv6SrcEquals(f, L3, B2, 0));
  assert.ok(ipv6DstEquals(f, L3, A1, 0));
  assert.equal(ipv6HopLimit(f, L3), 63);
  assert.equal(ipv6TrafficClass(f, L3), 0xb8);
  assert.equal(ipv6FlowLabel(f, L3), 0x93151);
  assert.equal(ipv6Version(f, L3), 6);
  assert.equal(toHex(f, L3 + 4, 3), toHex(before, L3 + 4, 3)); // payload length, next header
  assert.equal(toHex(f, L3 + IPV6_HLEN), toHex(before, L3 + IPV6_HLEN));
});

const arbAddr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const arbRepr: fc.Arbitrary<Ipv6Repr> = fc.record({
  trafficClass: fc.integer({ min: 0, max: 255 }),
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  payloadLen: fc.integer({ min: 0, max: 0xffff }),
  nextHeader: fc.integer({ min: 0, max: 255 }),
  hopLimit: fc.integer({ min: 0, max: 255 }),
  src: arbAddr,
  dst: arbAddr,
});

test('emit then parse round-trips any Ipv6Repr', () => {
  fc.assert(
    fc.property(arbRepr, fc.nat(6), (r, at) => {
      const b = poisoned(at + IPV6_HLEN + 1);
      ipv6Emit(r, b, at);
      assert.deepEqual(ipv6Parse(b, at), { ...r });
      assert.equal(b[at + IPV6_HLEN], 0xa5);
    }),
  );
});

/** An extension header in a generated chain. */
interface Ext {
  nh: number;
  units: number;
}

/** Builds 40-byte header + chain + 8 upper-layer bytes; returns the bytes and each header's offset. */
function buildChain(exts: Ext[], upper: number): { b: Uint8Array; starts: number[]; l4: number } {
  const sizes = exts.map((e) =>
    e.nh === IPV6_NH_FRAGMENT ? 8 : e.nh === IPV6_NH_AH ? (e.units + 2) * 4 : (e.units + 1) * 8,
  );
  const total = IPV6_HLEN + sizes.reduce((a, s) => a + s, 0) + 8;
  const b = new Uint8Array(total);
  b[0] = 0x60;
  b[4] = (total - IPV6_HLEN) >>> 8;
  b[5] = (total - IPV6_HLEN) & 0xff;
  b[6] = exts.length > 0 ? exts[0].nh : upper;
  const starts: number[] = [];
  let p = IPV6_HLEN;
  exts.forEach((e, i) => {
    starts.push(p);
    b[p] = i + 1 < exts.length ? exts[i + 1].nh : upper;
    if (e.nh !== IPV6_NH_FRAGMENT) b[p + 1] = e.units; // fragment: offset 0, M 0 (atomic)
    p += sizes[i];
  });
  return { b, starts, l4: p };
}

/** The walk's expected verdict, from RFC 8200 §4 lengths and the cap, for the chain cut at `end`. */
function expectWalk(exts: Ext[], starts: number[], l4: number, end: number): Reason | [number] {
  for (let i = 0; i < exts.length; i++) {
    const s = starts[i];
    const frag = exts[i].nh === IPV6_NH_FRAGMENT;
    if (!frag && s + 2 > end) return Reason.IPV6_EXT_TRUNCATED;
    if (i + 1 > IPV6_EXT_MAX) return Reason.IPV6_EXT_TOO_MANY;
    const next = i + 1 < exts.length ? starts[i + 1] : l4;
    if (next > end) return Reason.IPV6_EXT_TRUNCATED;
  }
  return [l4];
}

test('ipv6FindL4 agrees with a model over random extension chains, cut anywhere', () => {
  const arbExt: fc.Arbitrary<Ext> = fc.record({
    nh: fc.constantFrom(IPV6_NH_HOPOPTS, IPV6_NH_ROUTING, IPV6_NH_DSTOPTS, IPV6_NH_AH, IPV6_NH_FRAGMENT),
    units: fc.integer({ min: 0, max: 6 }),
  });
  fc.assert(
    fc.property(
      fc.array(arbExt, { maxLength: 11 }),
      fc.constantFrom(6, 17, 58, 132),
      fc.nat(),
      (exts, upper, cutSeed) => {
        const { b, starts, l4 } = buildChain(exts, upper);
        const out = new Int32Array(3);
        // Whole packet.
        const want = expectWalk(exts, starts, l4, b.length);
        const got = ipv6FindL4(b, 0, b.length, out);
        if (Array.isArray(want)) {
          assert.equal(got, Reason.OK);
          assert.equal(out[0], upper);
          assert.equal(out[1], want[0]);
          assert.equal(out[2], exts.some((e) => e.nh === IPV6_NH_FRAGMENT) ? 0 : -1);
        } else assert.equal(got, want);
        // Cut short somewhere (at least the fixed header stays).
        const cut = IPV6_HLEN + (cutSeed % (b.length - IPV6_HLEN + 1));
        const wantCut = expectWalk(exts, starts, l4, cut);
        const gotCut = ipv6FindL4(b, 0, cut, out);
        if (Array.isArray(wantCut)) assert.equal(gotCut, Reason.OK);
        else assert.equal(gotCut, wantCut);
      },
    ),
  );
});

test('ipv6Check and ipv6FindL4 on random bytes never throw and ignore bytes outside [off, off+len)', () => {
  const out1 = new Int32Array(3);
  const out2 = new Int32Array(3);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 160 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.integer({ min: -2, max: 300 }),
      fc.boolean(),
      (body, pre, post, lenArg, v6) => {
        if (v6 && body.length > 0) body[0] = (body[0] & 0x0f) | 0x60;
        const n = Math.min(Math.max(lenArg, 0), body.length);
        const big = new Uint8Array(pre.length + body.length + post.length);
        big.set(pre, 0);
        big.set(body, pre.length);
        big.set(post, pre.length + body.length);
        const exact = body.slice(0, n);
        const r = ipv6Check(exact, 0, n);
        assert.ok(REASONS.has(r));
        assert.equal(ipv6Check(big, pre.length, n), r);
        const w = ipv6FindL4(exact, 0, n, out1);
        assert.ok(REASONS.has(w));
        assert.equal(ipv6FindL4(big, pre.length, n, out2), w);
        if (w === Reason.OK) {
          assert.equal(out2[0], out1[0]);
          assert.equal(out2[1] - pre.length, out1[1]);
          assert.ok(out1[1] <= n);
        }
        assert.ok(REASONS.has(ipv6Check(body, 0, lenArg)));
        assert.ok(REASONS.has(ipv6FindL4(big, Math.max(0, big.length - 41), lenArg, out1)));
      },
    ),
  );
});

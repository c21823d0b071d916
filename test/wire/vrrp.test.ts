import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  VRRP_MCAST_V6,
  vrrpBuildAdvertV4,
  vrrpBuildAdvertV6,
  vrrpCheck,
  vrrpEmit,
  vrrpEmitLen,
  vrrpParse,
  vrrpPseudoSumV4,
  vrrpVirtualMac,
  type VrrpRepr,
} from '../../src/wire/vrrp.ts';
import { ipv4Check, ipv4Parse } from '../../src/wire/ipv4.ts';
import { pseudoSumV6 } from '../../src/wire/checksum.ts';
import { Reason } from '../../src/wire/reason.ts';
import { ipv4FromString, ipv6FromString, macToString } from '../../src/wire/addr.ts';
import { poisoned } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

/** Goldens: test/golden/tunnel/*.hex, each with its derivation and tshark decode in comments. */
const golden = (name: string): Uint8Array => goldenIn('tunnel', name);

const SRC = ipv4FromString('10.0.0.2');
const MCAST = ipv4FromString('224.0.0.18');

const V2: VrrpRepr = {
  version: 2,
  vrid: 51,
  priority: 100,
  adverInt: 1,
  addrs: [ipv4FromString('10.0.0.100')],
  authType: 1,
  authData: Uint8Array.from(Buffer.from('secret\0\0')),
};
const V3: VrrpRepr = {
  version: 3,
  vrid: 51,
  priority: 150,
  adverInt: 100,
  addrs: [ipv4FromString('10.0.0.100'), ipv4FromString('10.0.0.101')],
};
const V3_6: VrrpRepr = {
  version: 3,
  vrid: 7,
  priority: 255,
  adverInt: 50,
  addrs6: [ipv6FromString('2001:db8::100')],
};

test('vrrpBuildAdvertV4/V6 reproduce the goldens (tshark: version, vrid, priority, count, interval, addresses, checksums correct)', () => {
  // The goldens are Ethernet frames; the builders return the IP packet after the 14-byte header.
  assert.deepEqual(vrrpBuildAdvertV4(V2, SRC), golden('vrrp2').subarray(14));
  assert.deepEqual(vrrpBuildAdvertV4(V3, SRC), golden('vrrp3').subarray(14));
  assert.deepEqual(vrrpBuildAdvertV6(V3_6, ipv6FromString('fe80::1')), golden('vrrp3-v6').subarray(14));
});

test("the advert IPv4 header is keepalived's: TOS 0xc0, id 0, no DF, TTL 255, protocol 112, to 224.0.0.18", () => {
  const p = vrrpBuildAdvertV4(V3, SRC);
  assert.equal(ipv4Check(p, 0, p.length), Reason.OK);
  const h = ipv4Parse(p, 0);
  assert.deepEqual(
    [h.tos, h.id, h.df, h.ttl, h.proto, h.src, h.dst, h.totalLen],
    [0xc0, 0, false, 255, 112, SRC, MCAST, p.length],
  );
});

test('vrrpCheck accepts the goldens with the right pseudo-header sums and parses them back', () => {
  const v2 = golden('vrrp2').subarray(34);
  assert.equal(vrrpCheck(v2, 0, v2.length), Reason.OK);
  assert.equal(vrrpCheck(v2, 0, v2.length, 12345), Reason.OK, 'v2 ignores the pseudo-header');
  assert.deepEqual(vrrpParse(v2, 0), { ...V2, csum: 0x331a });

  const v3 = golden('vrrp3').subarray(34);
  assert.equal(vrrpCheck(v3, 0, v3.length, vrrpPseudoSumV4(SRC, MCAST, v3.length)), Reason.OK);
  assert.equal(
    vrrpCheck(v3, 0, v3.length, 0),
    Reason.VRRP_BAD_CSUM,
    'v3 over IPv4 includes the pseudo-header',
  );
  const p3 = vrrpParse(v3, 0);
  delete p3.csum;
  assert.deepEqual(p3, V3);

  const f6 = golden('vrrp3-v6');
  const v6 = f6.subarray(54);
  assert.equal(vrrpCheck(v6, 0, v6.length, pseudoSumV6(f6, 22, 38, 112, v6.length), true), Reason.OK);
  assert.equal(
    vrrpCheck(v6, 0, v6.length, pseudoSumV6(f6, 22, 38, 112, v6.length), false),
    Reason.VRRP_BAD_LEN,
  );
  const p6 = vrrpParse(v6, 0, true);
  delete p6.csum;
  assert.deepEqual(p6, V3_6);
});

test('v3ChecksumAsV2 drops the IPv4 pseudo-header (keepalived v3_checksum_as_v2)', () => {
  const p = vrrpBuildAdvertV4(V3, SRC, { v3ChecksumAsV2: true });
  const m = p.subarray(20);
  assert.equal(vrrpCheck(m, 0, m.length, 0), Reason.OK);
  assert.equal(vrrpCheck(m, 0, m.length, vrrpPseudoSumV4(SRC, MCAST, m.length)), Reason.VRRP_BAD_CSUM);
});

test('unicast options: destination, TTL and id are honoured and the v3 checksum follows the destination', () => {
  const peer = ipv4FromString('10.0.0.3');
  const p = vrrpBuildAdvertV4(V3, SRC, { dst: peer, ttl: 64, id: 9 });
  const h = ipv4Parse(p, 0);
  assert.deepEqual([h.dst, h.ttl, h.id], [peer, 64, 9]);
  const m = p.subarray(20);
  assert.equal(vrrpCheck(m, 0, m.length, vrrpPseudoSumV4(SRC, peer, m.length)), Reason.OK);
  assert.equal(vrrpCheck(m, 0, m.length, vrrpPseudoSumV4(SRC, MCAST, m.length)), Reason.VRRP_BAD_CSUM);
});

test('vrrpCheck reasons', () => {
  const v2 = golden('vrrp2').subarray(34).slice();
  const n = v2.length;
  assert.equal(vrrpCheck(v2, 0, 7), Reason.VRRP_TRUNCATED);
  assert.equal(vrrpCheck(v2, 1, n), Reason.VRRP_TRUNCATED, 'len beyond the buffer');
  for (const vt of [0x11, 0x41, 0x01, 0xf1]) {
    const b = v2.slice();
    b[0] = vt;
    assert.equal(vrrpCheck(b, 0, n), Reason.VRRP_BAD_VERSION, `version nibble ${vt >>> 4}`);
  }
  assert.equal(vrrpCheck(v2, 0, n, 0, true), Reason.VRRP_BAD_VERSION, 'v2 over IPv6');
  const t = v2.slice();
  t[0] = 0x22;
  assert.equal(vrrpCheck(t, 0, n), Reason.VRRP_BAD_TYPE);
  const c = v2.slice();
  c[3] = 2;
  assert.equal(vrrpCheck(c, 0, n), Reason.VRRP_BAD_LEN, 'count 2 needs 4 more bytes');
  const longer = new Uint8Array(n + 1);
  longer.set(v2);
  assert.equal(vrrpCheck(longer, 0, n + 1), Reason.VRRP_BAD_LEN, 'trailing byte ("too long")');
  const s = v2.slice();
  s[2] = 101;
  assert.equal(vrrpCheck(s, 0, n), Reason.VRRP_BAD_CSUM);
});

test('vrrpEmit refuses what the wire cannot carry', () => {
  const b = new Uint8Array(64);
  assert.throws(() => vrrpEmit({ ...V3, adverInt: 4096 }, b, 0), RangeError);
  assert.throws(() => vrrpEmit({ ...V2, adverInt: 256 }, b, 0), RangeError);
  assert.throws(() => vrrpEmit({ ...V3_6, version: 2 }, b, 0), RangeError);
  assert.throws(() => vrrpBuildAdvertV6(V2, ipv6FromString('fe80::1')), RangeError);
});

test('virtual router MACs 00-00-5e-00-01-{vrid} / 00-00-5e-00-02-{vrid} (RFC 5798 §7.3)', () => {
  assert.equal(macToString(vrrpVirtualMac(51)), '00:00:5e:00:01:33');
  assert.equal(macToString(vrrpVirtualMac(255, true)), '00:00:5e:00:02:ff');
  assert.deepEqual(VRRP_MCAST_V6, ipv6FromString('ff02::12'));
});

const repr: fc.Arbitrary<{ r: VrrpRepr; v6: boolean }> = fc.oneof(
  fc
    .record({
      vrid: fc.integer({ min: 0, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      adverInt: fc.integer({ min: 0, max: 255 }),
      addrs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 20 }),
      authType: fc.integer({ min: 0, max: 255 }),
      authData: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    })
    .map((x) => ({ r: { version: 2 as const, ...x }, v6: false })),
  fc
    .record({
      vrid: fc.integer({ min: 0, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      adverInt: fc.integer({ min: 0, max: 0xfff }),
      addrs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 20 }),
    })
    .map((x) => ({ r: { version: 3 as const, ...x }, v6: false })),
  fc
    .record({
      vrid: fc.integer({ min: 0, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      adverInt: fc.integer({ min: 0, max: 0xfff }),
      addrs6: fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { maxLength: 8 }),
    })
    .map((x) => ({ r: { version: 3 as const, ...x }, v6: true })),
);

test('property: VrrpRepr emit into poison → check OK (with its pseudo-header) → parse gives it back', () => {
  fc.assert(
    fc.property(repr, fc.nat(4), fc.integer({ min: 0, max: 0x3ffff }), ({ r, v6 }, off, pseudo) => {
      const n = vrrpEmitLen(r);
      const b = poisoned(off + n + 1);
      assert.equal(vrrpEmit(r, b, off, pseudo), n);
      assert.equal(b[off + n], 0xa5);
      assert.equal(vrrpCheck(b, off, n, pseudo, v6), Reason.OK);
      if (r.version === 3) assert.equal(vrrpCheck(b, off, n, pseudo + 1, v6), Reason.VRRP_BAD_CSUM);
      const back = vrrpParse(b, off, v6);
      delete back.csum;
      // fast-check records have a null prototype; compare as plain objects.
      assert.deepEqual(back, { ...r });
    }),
    { numRuns: 500 },
  );
});

test('fuzz: vrrpCheck never throws on random bytes and returns a known reason', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 120 }),
      fc.nat(130),
      fc.nat(10),
      fc.nat(),
      fc.boolean(),
      (b, len, off, pseudo, v6) => {
        assert.ok(REASONS.has(vrrpCheck(b, off, len, pseudo, v6)));
      },
    ),
    { numRuns: 3000 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ETH_HLEN } from '../../src/wire/ethernet.ts';
import { ipv4TotalLen } from '../../src/wire/ipv4.ts';
import { ipv6FindL4, ipv6PayloadLen } from '../../src/wire/ipv6.ts';
import {
  UDP_CSUM,
  UDP_HLEN,
  udpCheck,
  udpCsum,
  udpCsumAddrUpdate128,
  udpCsumAddrUpdate32,
  udpCsumOkV4,
  udpCsumOkV6,
  udpDstPort,
  udpEmit,
  udpEmitLen,
  udpFillCsumV4,
  udpFillCsumV6,
  udpLength,
  udpParse,
  udpSetDstPort,
  udpSetSrcPort,
  udpSrcPort,
  type UdpRepr,
} from '../../src/wire/udp.ts';
import { Reason } from '../../src/wire/reason.ts';
import { poisoned, toHex } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

const golden = (name: string): Uint8Array => goldenIn('wire', name);
const L3 = ETH_HLEN;

/** Segment location: after the IPv4 header, or after the IPv6 extension chain. */
function seg(f: Uint8Array, v6: boolean): { l4off: number; l4len: number } {
  if (!v6) {
    const ihl = (f[L3] & 0x0f) * 4;
    return { l4off: L3 + ihl, l4len: ipv4TotalLen(f, L3) - ihl };
  }
  const out = new Int32Array(3);
  const end = L3 + 40 + ipv6PayloadLen(f, L3);
  assert.equal(ipv6FindL4(f, L3, end - L3, out), Reason.OK);
  return { l4off: out[1], l4len: end - out[1] };
}

/** [golden, over IPv6, header as tshark decoded it (see the .hex comments)]. */
const GOLDENS: [string, boolean, UdpRepr][] = [
  ['udp4', false, { srcPort: 50696, dstPort: 5353, length: 23, csum: 0xde79 }],
  ['udp4-nocsum', false, { srcPort: 35925, dstPort: 9, length: 19, csum: 0 }],
  ['udp6', true, { srcPort: 42993, dstPort: 5353, length: 24, csum: 0x0e0b }],
  ['udp6-hbh-dstopts', true, { srcPort: 58125, dstPort: 9, length: 19, csum: 0xa4de }],
];

test('goldens: check OK, parse matches tshark, emit into poison gives the bytes back', () => {
  for (const [name, v6, want] of GOLDENS) {
    const f = golden(name);
    const { l4off, l4len } = seg(f, v6);
    assert.equal(udpCheck(f, l4off, l4len), Reason.OK, name);
    assert.deepEqual(udpParse(f, l4off), want, name);
    assert.equal(udpSrcPort(f, l4off), want.srcPort);
    assert.equal(udpDstPort(f, l4off), want.dstPort);
    assert.equal(udpLength(f, l4off), want.length);
    assert.equal(udpCsum(f, l4off), want.csum);
    assert.equal(udpEmitLen(want), UDP_HLEN);
    const out = poisoned(UDP_HLEN + 2);
    assert.equal(udpEmit(udpParse(f, l4off), out, 1), UDP_HLEN);
    assert.equal(toHex(out, 1, UDP_HLEN), toHex(f, l4off, UDP_HLEN), name);
    assert.equal(out[0], 0xa5);
    assert.equal(out[UDP_HLEN + 1], 0xa5);
  }
});

test('goldens: checksums verify and a full recompute reproduces the kernel value', () => {
  for (const [name, v6] of GOLDENS) {
    const f = golden(name);
    const { l4off, l4len } = seg(f, v6);
    assert.ok(v6 ? udpCsumOkV6(f, L3, l4off, l4len) : udpCsumOkV4(f, L3, l4off, l4len), name);
    if (name === 'udp4-nocsum') continue;
    const c = f.slice();
    c[l4off + UDP_CSUM + 1] ^= 1;
    assert.ok(!(v6 ? udpCsumOkV6(c, L3, l4off, l4len) : udpCsumOkV4(c, L3, l4off, l4len)), name);
    if (v6) udpFillCsumV6(c, L3, l4off, l4len);
    else udpFillCsumV4(c, L3, l4off, l4len);
    assert.equal(toHex(c), toHex(f), name);
  }
});

test('zero checksum: "none" over IPv4 survives port and address rewrites; invalid over IPv6', () => {
  const f = golden('udp4-nocsum');
  const { l4off, l4len } = seg(f, false);
  udpSetSrcPort(f, l4off, 4242, false);
  udpSetDstPort(f, l4off, 53, false);
  udpCsumAddrUpdate32(f, l4off, 0x0a4d0101, 0xc0a80001, false);
  udpCsumAddrUpdate128(f, l4off, new Uint8Array(16), 0, new Uint8Array(16).fill(7), 0, false);
  assert.equal(udpCsum(f, l4off), 0);
  assert.equal(udpSrcPort(f, l4off), 4242);
  assert.equal(udpDstPort(f, l4off), 53);
  assert.ok(udpCsumOkV4(f, L3, l4off, l4len));
  // Filling computes a real one (never 0).
  udpFillCsumV4(f, L3, l4off, l4len);
  assert.notEqual(udpCsum(f, l4off), 0);
  assert.ok(udpCsumOkV4(f, L3, l4off, l4len));
  const g = golden('udp6');
  const s6 = seg(g, true);
  g[s6.l4off + UDP_CSUM] = 0;
  g[s6.l4off + UDP_CSUM + 1] = 0;
  assert.equal(udpCsumOkV6(g, L3, s6.l4off, s6.l4len), false);
});

test('a rewrite whose result would be 0 stores 0xffff (udpCsumMangle)', () => {
  // Search for a port that makes the updated checksum fold to zero, then check it is mangled and
  // still verifies. Only one value of the 16-bit port field does it; try them all.
  const f = golden('udp4');
  const { l4off, l4len } = seg(f, false);
  let hit = 0;
  for (let p = 0; p <= 0xffff; p++) {
    const c = f.slice();
    udpSetDstPort(c, l4off, p, false);
    const cs = udpCsum(c, l4off);
    assert.notEqual(cs, 0);
    if (cs === 0xffff) {
      hit++;
      assert.ok(udpCsumOkV4(c, L3, l4off, l4len));
    }
  }
  assert.ok(hit >= 1);
});

test('bad input: truncated and bad length', () => {
  const f = golden('udp4');
  const { l4off, l4len } = seg(f, false);
  assert.equal(udpCheck(f, l4off, UDP_HLEN - 1), Reason.UDP_TRUNCATED);
  assert.equal(udpCheck(f.subarray(0, l4off + 7), l4off, l4len), Reason.UDP_TRUNCATED);
  assert.equal(udpCheck(f, -1, l4len), Reason.UDP_TRUNCATED);
  assert.equal(udpCheck(f, l4off, l4len - 1), Reason.UDP_BAD_LEN); // length 23 > 22 present
  const short = f.slice();
  short[l4off + 5] = 7;
  assert.equal(udpCheck(short, l4off, l4len), Reason.UDP_BAD_LEN);
  const long = f.slice();
  long[l4off + 4] = 1;
  assert.equal(udpCheck(long, l4off, l4len), Reason.UDP_BAD_LEN);
  // Shorter than the IP payload is fine (the rest is padding).
  assert.equal(udpCheck(f, l4off, l4len + 10), Reason.OK);
});

const arbRepr: fc.Arbitrary<UdpRepr> = fc.record({
  srcPort: fc.integer({ min: 0, max: 0xffff }),
  dstPort: fc.integer({ min: 0, max: 0xffff }),
  length: fc.integer({ min: 0, max: 0xffff }),
  csum: fc.integer({ min: 0, max: 0xffff }),
});

test('emit then parse round-trips any UdpRepr', () => {
  fc.assert(
    fc.property(arbRepr, fc.nat(5), (r, at) => {
      const b = poisoned(at + UDP_HLEN + 1);
      udpEmit(r, b, at);
      assert.deepEqual(udpParse(b, at), { ...r });
      assert.equal(b[at + UDP_HLEN], 0xa5);
    }),
  );
});

test('udpCheck on random bytes never throws and ignores bytes outside [off, off+len)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.integer({ min: -2, max: 64 }),
      (body, pre, post, lenArg) => {
        const n = Math.min(Math.max(lenArg, 0), body.length);
        const big = new Uint8Array(pre.length + body.length + post.length);
        big.set(pre, 0);
        big.set(body, pre.length);
        big.set(post, pre.length + body.length);
        const r = udpCheck(body.slice(0, n), 0, n);
        assert.ok(REASONS.has(r));
        assert.equal(udpCheck(big, pre.length, n), r);
        assert.ok(REASONS.has(udpCheck(body, 0, lenArg)));
      },
    ),
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mac48, u16 } from '../../src/wire/bytes.ts';
import { ETH_HLEN } from '../../src/wire/ethernet.ts';
import { ipv6FromString, macFromString } from '../../src/wire/addr.ts';
import { ipv6DstEquals, ipv6PayloadLen, ipv6SrcEquals } from '../../src/wire/ipv6.ts';
import {
  ICMP6_CSUM,
  ICMP6_DEST_UNREACH,
  ICMP6_ECHO_REPLY,
  ICMP6_ECHO_REQUEST,
  ICMP6_EXC_HOPLIMIT,
  ICMP6_HLEN,
  ICMP6_NA_FLAG_OVERRIDE,
  ICMP6_NA_FLAG_ROUTER,
  ICMP6_NA_FLAG_SOLICITED,
  ICMP6_NEIGHBOR_ADVERT,
  ICMP6_NEIGHBOR_SOLICIT,
  ICMP6_PACKET_TOO_BIG,
  ICMP6_PORT_UNREACH,
  ICMP6_TIME_EXCEEDED,
  ND_OPT_SOURCE_LLADDR,
  ND_OPT_TARGET_LLADDR,
  icmp6Check,
  icmp6Code,
  icmp6Csum,
  icmp6CsumOk,
  icmp6EchoId,
  icmp6EchoSeq,
  icmp6Emit,
  icmp6EmitLen,
  icmp6FillCsum,
  icmp6InnerCheck,
  icmp6InnerFindL4,
  icmp6InnerOff,
  icmp6IsError,
  icmp6Mtu,
  icmp6NaFlags,
  icmp6NdFindOption,
  icmp6NdTargetOff,
  icmp6Parse,
  icmp6SetMtu,
  icmp6Type,
  type Icmp6Repr,
} from '../../src/wire/icmp6.ts';
import { Reason } from '../../src/wire/reason.ts';
import { poisoned, toHex } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

const golden = (name: string): Uint8Array => goldenIn('wire', name);
const L3 = ETH_HLEN;
const L4 = L3 + 40;
const len6 = (f: Uint8Array): number => ipv6PayloadLen(f, L3);

const A1 = ipv6FromString('fd00:77:1::1');
const R1 = ipv6FromString('fd00:77:1::fe');
const B2 = ipv6FromString('fd00:77:2::1');

/** [golden, type, code, checksum] as tshark decoded them. */
const GOLDENS: [string, number, number, number][] = [
  ['icmp6-ns', ICMP6_NEIGHBOR_SOLICIT, 0, 0x2d38],
  ['icmp6-na', ICMP6_NEIGHBOR_ADVERT, 0, 0x4ac6],
  ['icmp6-echo-request', ICMP6_ECHO_REQUEST, 0, 0x8e60],
  ['icmp6-echo-reply', ICMP6_ECHO_REPLY, 0, 0x8d60],
  ['icmp6-port-unreach', ICMP6_DEST_UNREACH, ICMP6_PORT_UNREACH, 0xfe23],
  ['icmp6-packet-too-big', ICMP6_PACKET_TOO_BIG, 0, 0x5917],
  ['icmp6-time-exceeded', ICMP6_TIME_EXCEEDED, ICMP6_EXC_HOPLIMIT, 0xdf99],
];

test('goldens: check OK, fields and checksum match tshark, emit gives the bytes back', () => {
  for (const [name, type, code, csum] of GOLDENS) {
    const f = golden(name);
    const len = len6(f);
    assert.equal(icmp6Check(f, L4, len), Reason.OK, name);
    assert.equal(icmp6Type(f, L4), type, name);
    assert.equal(icmp6Code(f, L4), code, name);
    assert.equal(icmp6Csum(f, L4), csum, name);
    assert.equal(icmp6IsError(type), type < 128);
    assert.ok(icmp6CsumOk(f, L3, L4, len), name);
    const c = f.slice();
    c[L4 + ICMP6_CSUM] ^= 0x80;
    assert.ok(!icmp6CsumOk(c, L3, L4, len), name);
    icmp6FillCsum(c, L3, L4, len);
    assert.equal(toHex(c), toHex(f), name);
    const r = icmp6Parse(f, L4, len);
    assert.equal(icmp6EmitLen(r), len);
    const out = poisoned(len + 2);
    assert.equal(icmp6Emit(r, out, 1), len);
    assert.equal(toHex(out, 1, len), toHex(f, L4, len), name);
    assert.equal(out[0], 0xa5);
    assert.equal(out[len + 1], 0xa5);
  }
});

test('neighbor discovery goldens: target, flags and link-layer options', () => {
  const ns = golden('icmp6-ns');
  assert.equal(toHex(ns, icmp6NdTargetOff(L4), 16), toHex(R1));
  const sll = icmp6NdFindOption(ns, L4, len6(ns), ND_OPT_SOURCE_LLADDR);
  assert.equal(sll, L4 + 24);
  assert.equal(ns[sll + 1], 1); // 8 bytes
  assert.equal(mac48(ns, sll + 2), macFromString('02:77:4c:00:01:01'));
  assert.equal(icmp6NdFindOption(ns, L4, len6(ns), ND_OPT_TARGET_LLADDR), -1);
  const na = golden('icmp6-na');
  assert.equal(toHex(na, icmp6NdTargetOff(L4), 16), toHex(R1));
  assert.equal(icmp6NaFlags(na, L4), ICMP6_NA_FLAG_ROUTER | ICMP6_NA_FLAG_SOLICITED | ICMP6_NA_FLAG_OVERRIDE);
  const tll = icmp6NdFindOption(na, L4, len6(na), ND_OPT_TARGET_LLADDR);
  assert.equal(mac48(na, tll + 2), macFromString('02:77:4c:00:01:fe'));
  // An option length of 0 is invalid and ends the search.
  const z = na.slice();
  z[tll + 1] = 0;
  assert.equal(icmp6NdFindOption(z, L4, len6(z), ND_OPT_TARGET_LLADDR), -1);
  assert.equal(icmp6NdFindOption(na, L4, 30, ND_OPT_TARGET_LLADDR), -1); // option cut off
});

test('echo goldens: id, seq and data', () => {
  const f = golden('icmp6-echo-request');
  assert.equal(icmp6EchoId(f, L4), 0x4c36);
  assert.equal(icmp6EchoSeq(f, L4), 1);
  assert.equal(Buffer.from(icmp6Parse(f, L4, len6(f)).data).toString(), 'tslvs-wirel4-echo6');
  assert.equal(icmp6InnerCheck(f, L4, len6(f)), Reason.ICMP_INNER_BAD);
});

/** [golden, inner UDP source port, destination port] as tshark decoded the quoted packet. */
const ERRORS: [string, number, number][] = [
  ['icmp6-port-unreach', 42993, 5353],
  ['icmp6-packet-too-big', 41612, 9],
  ['icmp6-time-exceeded', 40894, 9],
];

test('error goldens: the embedded IPv6 + UDP header is where tshark found it', () => {
  const out = new Int32Array(3);
  for (const [name, sport, dport] of ERRORS) {
    const f = golden(name);
    const len = len6(f);
    assert.equal(icmp6InnerCheck(f, L4, len), Reason.OK, name);
    const inner = icmp6InnerOff(L4);
    assert.ok(ipv6SrcEquals(f, inner, A1, 0), name);
    assert.ok(ipv6DstEquals(f, inner, B2, 0), name);
    assert.equal(icmp6InnerFindL4(f, L4, len, out), Reason.OK, name);
    assert.equal(out[0], 17);
    assert.equal(out[1], inner + 40);
    assert.equal(u16(f, out[1]), sport, name);
    assert.equal(u16(f, out[1] + 2), dport, name);
  }
  // The too-big quotes a 1448-byte packet in 1240 bytes: cut short by design, still fine.
  const ptb = golden('icmp6-packet-too-big');
  assert.equal(ipv6PayloadLen(ptb, icmp6InnerOff(L4)), 1408);
  assert.equal(icmp6Mtu(ptb, L4), 1280);
  icmp6SetMtu(ptb, L4, 1280 - 40);
  assert.equal(icmp6Mtu(ptb, L4), 1240);
  assert.ok(icmp6CsumOk(ptb, L3, L4, len6(ptb)));
});

/** An ICMPv6 destination-unreachable quoting the first `quote` bytes of a golden's IPv6 packet. */
function quoting(name: string, quote: number): Uint8Array {
  const g = golden(name);
  const b = new Uint8Array(ICMP6_HLEN + quote);
  icmp6Emit(
    { type: ICMP6_DEST_UNREACH, code: ICMP6_PORT_UNREACH, rest: 0, data: g.slice(L3, L3 + quote) },
    b,
    0,
  );
  return b;
}

test('embedded extension chains: first fragment fine, later fragment flagged, too many is bad', () => {
  const out = new Int32Array(3);
  const first = quoting('ipv6-frag-first', 40 + 8 + 8);
  assert.equal(icmp6InnerCheck(first, 0, first.length), Reason.OK);
  assert.equal(icmp6InnerFindL4(first, 0, first.length, out), Reason.OK);
  assert.deepEqual([out[0], out[1], out[2]], [17, ICMP6_HLEN + 48, 0x0001]);
  assert.equal(u16(first, out[1]), 60123);
  const last = quoting('ipv6-frag-last', 40 + 8 + 8);
  assert.equal(icmp6InnerFindL4(last, 0, last.length, out), Reason.IPV6_FRAGMENT);
  const nine = quoting('ipv6-nine-dstopts', 40 + 72 + 8);
  assert.equal(icmp6InnerFindL4(nine, 0, nine.length, out), Reason.ICMP_INNER_BAD);
  const hbh = quoting('udp6-hbh-dstopts', 40 + 16 + 8);
  assert.equal(icmp6InnerFindL4(hbh, 0, hbh.length, out), Reason.OK);
  assert.equal(u16(hbh, out[1]), 58125);
  assert.equal(icmp6InnerFindL4(hbh, 0, hbh.length - 1, out), Reason.ICMP_INNER_TRUNCATED); // 7 L4 bytes
  assert.equal(icmp6InnerFindL4(hbh, 0, ICMP6_HLEN + 40 + 12, out), Reason.ICMP_INNER_TRUNCATED); // chain cut
});

test('bad input: truncated message and each inner defect', () => {
  const f = golden('icmp6-port-unreach');
  const len = len6(f);
  assert.equal(icmp6Check(f, L4, ICMP6_HLEN - 1), Reason.ICMP6_TRUNCATED);
  assert.equal(icmp6Check(f.subarray(0, L4 + 7), L4, len), Reason.ICMP6_TRUNCATED);
  assert.equal(icmp6Check(f, -1, len), Reason.ICMP6_TRUNCATED);
  assert.equal(icmp6InnerCheck(f, L4, ICMP6_HLEN - 1), Reason.ICMP6_TRUNCATED);
  assert.equal(icmp6InnerCheck(f, L4, ICMP6_HLEN + 39), Reason.ICMP_INNER_TRUNCATED);
  assert.equal(icmp6InnerCheck(f, L4, ICMP6_HLEN + 40), Reason.OK);
  const out = new Int32Array(3);
  assert.equal(icmp6InnerFindL4(f, L4, ICMP6_HLEN + 40 + 7, out), Reason.ICMP_INNER_TRUNCATED);
  assert.equal(icmp6InnerFindL4(f, L4, ICMP6_HLEN + 30, out), Reason.ICMP_INNER_TRUNCATED);
  const v4 = f.slice();
  v4[icmp6InnerOff(L4)] = 0x45;
  assert.equal(icmp6InnerCheck(v4, L4, len), Reason.ICMP_INNER_BAD);
});

const arbRepr: fc.Arbitrary<Icmp6Repr> = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  code: fc.integer({ min: 0, max: 255 }),
  rest: fc.integer({ min: 0, max: 0xffffffff }),
  data: fc.uint8Array({ maxLength: 64 }),
  csum: fc.integer({ min: 0, max: 0xffff }),
});

test('emit then parse round-trips any Icmp6Repr', () => {
  fc.assert(
    fc.property(arbRepr, fc.nat(5), (r, at) => {
      const len = icmp6EmitLen(r);
      const b = poisoned(at + len + 1);
      assert.equal(icmp6Emit(r, b, at), len);
      assert.equal(b[at + len], 0xa5);
      assert.equal(icmp6Check(b, at, len), Reason.OK);
      assert.deepEqual(icmp6Parse(b, at, len), { ...r });
    }),
  );
});

test('ICMPv6 checks and walkers on random bytes never throw and ignore bytes outside [off, off+len)', () => {
  const o1 = new Int32Array(3);
  const o2 = new Int32Array(3);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 140 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.integer({ min: -2, max: 200 }),
      fc.boolean(),
      (body, pre, post, lenArg, shape) => {
        if (shape && body.length > 8) {
          body[0] &= 0x7f; // an error type
          body[8] = (body[8] & 0x0f) | 0x60;
        }
        const n = Math.min(Math.max(lenArg, 0), body.length);
        const big = new Uint8Array(pre.length + body.length + post.length);
        big.set(pre, 0);
        big.set(body, pre.length);
        big.set(post, pre.length + body.length);
        const exact = body.slice(0, n);
        for (const fn of [icmp6Check, icmp6InnerCheck]) {
          const r = fn(exact, 0, n);
          assert.ok(REASONS.has(r));
          assert.equal(fn(big, pre.length, n), r);
          assert.ok(REASONS.has(fn(body, 0, lenArg)));
        }
        if (icmp6InnerCheck(exact, 0, n) === Reason.OK) {
          const r = icmp6InnerFindL4(exact, 0, n, o1);
          assert.ok(REASONS.has(r));
          assert.equal(icmp6InnerFindL4(big, pre.length, n, o2), r);
          if (r === Reason.OK) assert.equal(o2[1] - pre.length, o1[1]);
        }
        const so = icmp6NdFindOption(exact, 0, n, ND_OPT_SOURCE_LLADDR);
        assert.equal(
          icmp6NdFindOption(big, pre.length, n, ND_OPT_SOURCE_LLADDR),
          so < 0 ? -1 : so + pre.length,
        );
        assert.ok(so === -1 || so + 8 <= n);
      },
    ),
  );
});

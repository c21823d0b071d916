import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { u16 } from '../../src/wire/bytes.ts';
import { ETH_HLEN } from '../../src/wire/ethernet.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { IPPROTO_UDP, ipv4Dst, ipv4Proto, ipv4Src, ipv4TotalLen } from '../../src/wire/ipv4.ts';
import {
  ICMP_CSUM,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_EXC_TTL,
  ICMP_FRAG_NEEDED,
  ICMP_HLEN,
  ICMP_PARAM_PROBLEM,
  ICMP_PORT_UNREACH,
  ICMP_REDIRECT,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  icmpCheck,
  icmpCode,
  icmpCsum,
  icmpCsumOk,
  icmpEchoId,
  icmpEchoRest,
  icmpEchoSeq,
  icmpEmit,
  icmpEmitLen,
  icmpFillCsum,
  icmpFragMtu,
  icmpInnerCheck,
  icmpInnerL4Off,
  icmpInnerOff,
  icmpIsError,
  icmpIsFragNeeded,
  icmpIsIpvsRelated,
  icmpParse,
  icmpRest,
  icmpSetEchoId,
  icmpSetFragMtu,
  icmpType,
  type IcmpRepr,
} from '../../src/wire/icmp.ts';
import { Reason } from '../../src/wire/reason.ts';
import { poisoned, toHex } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

const golden = (name: string): Uint8Array => goldenIn('wire', name);
const L3 = ETH_HLEN;
function msg(f: Uint8Array): { off: number; len: number } {
  const ihl = (f[L3] & 0x0f) * 4;
  return { off: L3 + ihl, len: ipv4TotalLen(f, L3) - ihl };
}

const IP_A = ipv4FromString('10.77.1.1');
const IP_B = ipv4FromString('10.77.2.1');

/** [golden, type, code, checksum, rest] as tshark decoded them. */
const GOLDENS: [string, number, number, number, number][] = [
  ['icmp-echo-request', ICMP_ECHO_REQUEST, 0, 0x01e2, icmpEchoRest(0x4c34, 1)],
  ['icmp-echo-reply', ICMP_ECHO_REPLY, 0, 0x09e2, icmpEchoRest(0x4c34, 1)],
  ['icmp-port-unreach', ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0x14c1, 0],
  ['icmp-frag-needed', ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0xddf1, 1280],
  ['icmp-time-exceeded', ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0x0cbc, 0],
];

test('goldens: check OK, fields match tshark, emit (which computes the checksum) gives the bytes back', () => {
  for (const [name, type, code, csum, rest] of GOLDENS) {
    const f = golden(name);
    const { off, len } = msg(f);
    assert.equal(icmpCheck(f, off, len), Reason.OK, name);
    assert.equal(icmpType(f, off), type, name);
    assert.equal(icmpCode(f, off), code, name);
    assert.equal(icmpCsum(f, off), csum, name);
    assert.equal(icmpRest(f, off), rest, name);
    assert.ok(icmpCsumOk(f, off, len));
    const r = icmpParse(f, off, len);
    assert.equal(icmpEmitLen(r), len);
    const out = poisoned(len + 2);
    assert.equal(icmpEmit({ ...r, csum: undefined }, out, 1), len);
    assert.equal(toHex(out, 1, len), toHex(f, off, len), name);
    assert.equal(out[0], 0xa5);
    assert.equal(out[len + 1], 0xa5);
  }
});

test('echo goldens: id, seq and data', () => {
  const f = golden('icmp-echo-request');
  const { off, len } = msg(f);
  assert.equal(icmpEchoId(f, off), 0x4c34);
  assert.equal(icmpEchoSeq(f, off), 1);
  assert.equal(Buffer.from(icmpParse(f, off, len).data).toString(), 'tslvs-wirel4-echo');
  assert.equal(icmpIsError(ICMP_ECHO_REQUEST), false);
  assert.equal(icmpIsError(ICMP_ECHO_REPLY), false);
  assert.equal(icmpInnerCheck(f, off, len), Reason.ICMP_INNER_BAD);
});

/** [golden, inner source port, inner destination port] (tshark's decode of the embedded UDP). */
const ERRORS: [string, number, number][] = [
  ['icmp-port-unreach', 50696, 5353],
  ['icmp-frag-needed', 54787, 9],
  ['icmp-time-exceeded', 34601, 9],
];

test('error goldens: the embedded IPv4 + UDP header is where tshark found it', () => {
  for (const [name, sport, dport] of ERRORS) {
    const f = golden(name);
    const { off, len } = msg(f);
    assert.equal(icmpInnerCheck(f, off, len), Reason.OK, name);
    const inner = icmpInnerOff(off);
    assert.equal(ipv4Src(f, inner), IP_A);
    assert.equal(ipv4Dst(f, inner), IP_B);
    assert.equal(ipv4Proto(f, inner), IPPROTO_UDP);
    const l4 = icmpInnerL4Off(f, off);
    assert.equal(l4, inner + 20);
    assert.equal(u16(f, l4), sport, name);
    assert.equal(u16(f, l4 + 2), dport, name);
  }
  // The frag-needed quotes a 1428-byte datagram in 576 bytes: truncated by design, still fine.
  const fn = golden('icmp-frag-needed');
  const m = msg(fn);
  assert.equal(ipv4TotalLen(fn, icmpInnerOff(m.off)), 1428);
  assert.ok(icmpIsFragNeeded(fn, m.off));
  assert.equal(icmpFragMtu(fn, m.off), 1280);
});

test('error classification: icmp_is_err types, and the three IPVS relates to conns', () => {
  for (let t = 0; t < 256; t++) {
    const err = [
      ICMP_DEST_UNREACH,
      ICMP_SOURCE_QUENCH,
      ICMP_REDIRECT,
      ICMP_TIME_EXCEEDED,
      ICMP_PARAM_PROBLEM,
    ];
    assert.equal(icmpIsError(t), err.includes(t), `type ${t}`);
    assert.equal(icmpIsIpvsRelated(t), [3, 4, 11].includes(t), `type ${t}`);
  }
});

test('checksum-aware setters: MTU relay and echo id keep the message valid', () => {
  const f = golden('icmp-frag-needed');
  const { off, len } = msg(f);
  icmpSetFragMtu(f, off, 1280 - 20);
  assert.equal(icmpFragMtu(f, off), 1260);
  assert.ok(icmpCsumOk(f, off, len));
  const c = f.slice();
  icmpFillCsum(c, off, len);
  assert.equal(toHex(c), toHex(f));
  const e = golden('icmp-echo-reply');
  const em = msg(e);
  icmpSetEchoId(e, em.off, 0xbeef);
  assert.equal(icmpEchoId(e, em.off), 0xbeef);
  assert.ok(icmpCsumOk(e, em.off, em.len));
});

test('bad input: truncated, bad checksum, and each inner defect', () => {
  const f = golden('icmp-port-unreach');
  const { off, len } = msg(f);
  assert.equal(icmpCheck(f, off, ICMP_HLEN - 1), Reason.ICMP_TRUNCATED);
  assert.equal(icmpCheck(f, -1, len), Reason.ICMP_TRUNCATED);
  const bad = f.slice();
  bad[off + len - 1] ^= 0x10;
  assert.equal(icmpCheck(bad, off, len), Reason.ICMP_BAD_CSUM);
  assert.equal(icmpCheck(f, off, len - 2), Reason.ICMP_BAD_CSUM); // message cut: sum no longer matches

  assert.equal(icmpInnerCheck(f, off, ICMP_HLEN - 1), Reason.ICMP_TRUNCATED);
  assert.equal(icmpInnerCheck(f, off, ICMP_HLEN + 19), Reason.ICMP_INNER_TRUNCATED); // no whole IP header
  assert.equal(icmpInnerCheck(f, off, ICMP_HLEN + 27), Reason.ICMP_INNER_TRUNCATED); // 7 of 8 L4 bytes
  assert.equal(icmpInnerCheck(f, off, ICMP_HLEN + 28), Reason.OK);
  assert.equal(icmpInnerCheck(f.subarray(0, off + 30), off, len), Reason.ICMP_INNER_TRUNCATED);
  const inner = icmpInnerOff(off);
  const mut = (v: number): Uint8Array => {
    const c = f.slice();
    c[inner] = v;
    return c;
  };
  assert.equal(icmpInnerCheck(mut(0x65), off, len), Reason.ICMP_INNER_BAD); // version 6
  assert.equal(icmpInnerCheck(mut(0x44), off, len), Reason.ICMP_INNER_BAD); // IHL 4
  assert.equal(icmpInnerCheck(mut(0x4f), off, len), Reason.ICMP_INNER_TRUNCATED); // IHL 15: 68 > 43 present
  // Not checked by design: the inner header checksum and total length.
  const odd = f.slice();
  odd[inner + 10] ^= 0xff;
  odd[inner + 2] = 0xff;
  assert.equal(icmpInnerCheck(odd, off, len), Reason.OK);
});

const arbRepr: fc.Arbitrary<IcmpRepr> = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  code: fc.integer({ min: 0, max: 255 }),
  rest: fc.integer({ min: 0, max: 0xffffffff }),
  data: fc.uint8Array({ maxLength: 64 }),
});

test('emit then parse round-trips any IcmpRepr; the emitted checksum verifies', () => {
  fc.assert(
    fc.property(arbRepr, fc.nat(5), (r, at) => {
      const len = icmpEmitLen(r);
      const b = poisoned(at + len + 1);
      assert.equal(icmpEmit(r, b, at), len);
      assert.equal(b[at + len], 0xa5);
      assert.equal(icmpCheck(b, at, len), Reason.OK);
      const back = icmpParse(b, at, len);
      assert.deepEqual({ ...back, csum: undefined }, { ...r, csum: undefined });
      assert.equal(back.csum, u16(b, at + ICMP_CSUM));
    }),
  );
});

test('icmpCheck and icmpInnerCheck on random bytes never throw and ignore bytes outside [off, off+len)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.integer({ min: -2, max: 120 }),
      fc.constantFrom(-1, 3, 11),
      (body, pre, post, lenArg, forceType) => {
        if (forceType >= 0 && body.length > 0) body[0] = forceType;
        if (body.length > 8) body[8] = (body[8] & 0x0f) | 0x40;
        const n = Math.min(Math.max(lenArg, 0), body.length);
        const big = new Uint8Array(pre.length + body.length + post.length);
        big.set(pre, 0);
        big.set(body, pre.length);
        big.set(post, pre.length + body.length);
        const exact = body.slice(0, n);
        for (const fn of [icmpCheck, icmpInnerCheck]) {
          const r = fn(exact, 0, n);
          assert.ok(REASONS.has(r));
          assert.equal(fn(big, pre.length, n), r);
          assert.ok(REASONS.has(fn(body, 0, lenArg)));
        }
      },
    ),
  );
});

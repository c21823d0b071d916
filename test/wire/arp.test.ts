import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ARP_LEN,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  arpCheck,
  arpEmit,
  arpIsGratuitous,
  arpMakeReplyFrameInPlace,
  arpMakeReplyInPlace,
  arpOp,
  arpParse,
  arpSenderIp,
  arpSenderMac,
  arpTargetIp,
  arpTargetMac,
  arpWriteGratuitous,
  arpWriteRequest,
  type ArpRepr,
} from '../../src/wire/arp.ts';
import { ETH_HLEN } from '../../src/wire/ethernet.ts';
import { ipv4FromString, macFromString } from '../../src/wire/addr.ts';
import { Reason } from '../../src/wire/reason.ts';
import { poisoned, toHex } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

/** Goldens: test/golden/wire/*.hex (via test/helpers/golden.ts). */
const golden = (name: string): Uint8Array => goldenIn('wire', name);

const MAC_A = macFromString('02:77:4c:00:01:01');
const MAC_R = macFromString('02:77:4c:00:01:fe');
const IP_A = ipv4FromString('10.77.1.1');
const IP_R = ipv4FromString('10.77.1.254');
const VIP = ipv4FromString('10.77.1.100');

test('kernel ARP request golden: check, accessors and emit match what tshark decoded', () => {
  const f = golden('arp-request');
  assert.equal(arpCheck(f, ETH_HLEN, f.length - ETH_HLEN), Reason.OK);
  // tshark: request (1), sender 02:77:4c:00:01:01 10.77.1.1, target 00:00:00:00:00:00 10.77.1.254
  assert.equal(arpOp(f, ETH_HLEN), ARP_OP_REQUEST);
  assert.equal(arpSenderMac(f, ETH_HLEN), MAC_A);
  assert.equal(arpSenderIp(f, ETH_HLEN), IP_A);
  assert.equal(arpTargetMac(f, ETH_HLEN), 0);
  assert.equal(arpTargetIp(f, ETH_HLEN), IP_R);
  const out = poisoned(ARP_LEN + 4);
  assert.equal(arpEmit(arpParse(f, ETH_HLEN), out, 2), ARP_LEN);
  assert.equal(toHex(out, 2, ARP_LEN), toHex(f, ETH_HLEN, ARP_LEN));
  assert.equal(out[1], 0xa5);
  assert.equal(out[2 + ARP_LEN], 0xa5);
});

test('kernel ARP reply golden parses to the values tshark showed', () => {
  const f = golden('arp-reply');
  assert.equal(arpCheck(f, ETH_HLEN, f.length - ETH_HLEN), Reason.OK);
  assert.deepEqual(arpParse(f, ETH_HLEN), {
    op: ARP_OP_REPLY,
    senderMac: MAC_R,
    senderIp: IP_R,
    targetMac: MAC_A,
    targetIp: IP_A,
  });
  const out = poisoned(ARP_LEN);
  arpEmit(arpParse(f, ETH_HLEN), out, 0);
  assert.equal(toHex(out), toHex(f, ETH_HLEN, ARP_LEN));
});

test('arpMakeReplyInPlace turns the kernel request into the kernel reply, byte for byte', () => {
  const req = golden('arp-request');
  const rep = golden('arp-reply');
  const a = req.slice();
  arpMakeReplyInPlace(a, ETH_HLEN, MAC_R);
  assert.equal(toHex(a, ETH_HLEN, ARP_LEN), toHex(rep, ETH_HLEN, ARP_LEN));
  // The whole-frame variant also fixes the Ethernet addresses.
  const w = req.slice();
  assert.equal(arpMakeReplyFrameInPlace(w, 0, MAC_R), rep.length);
  assert.equal(toHex(w), toHex(rep));
});

test('arpMakeReplyFrameInPlace handles an 802.1Q-tagged request', () => {
  const req = golden('arp-request');
  const tagged = new Uint8Array(req.length + 4);
  tagged.set(req.subarray(0, 12), 0);
  tagged.set([0x81, 0x00, 0x00, 0x07], 12);
  tagged.set(req.subarray(12), 16);
  assert.equal(arpMakeReplyFrameInPlace(tagged, 0, MAC_R), 18 + ARP_LEN);
  const rep = golden('arp-reply');
  assert.equal(toHex(tagged, 18, ARP_LEN), toHex(rep, ETH_HLEN, ARP_LEN));
  assert.equal(toHex(tagged, 0, 12), toHex(rep, 0, 12));
  assert.equal(toHex(tagged, 12, 4), '81000007');
});

test('arpWriteRequest reproduces the kernel request frame', () => {
  const f = golden('arp-request');
  const out = poisoned(f.length + 2);
  assert.equal(arpWriteRequest(out, 1, MAC_A, IP_A, IP_R), f.length);
  assert.equal(toHex(out, 1, f.length), toHex(f));
  assert.equal(out[0], 0xa5);
  assert.equal(out[f.length + 1], 0xa5);
});

test("arpWriteGratuitous reproduces keepalived's gratuitous ARP (tshark: Is gratuitous: True)", () => {
  const f = golden('arp-garp');
  const out = poisoned(f.length);
  assert.equal(arpWriteGratuitous(out, 0, MAC_A, VIP), f.length);
  assert.equal(toHex(out), toHex(f));
  assert.equal(arpIsGratuitous(out, ETH_HLEN), true);
  assert.equal(arpIsGratuitous(golden('arp-request'), ETH_HLEN), false);
});

test('bad input: each defect has its own reason', () => {
  const f = golden('arp-request').subarray(ETH_HLEN);
  assert.equal(arpCheck(f, 0, ARP_LEN), Reason.OK);
  assert.equal(arpCheck(f, 0, ARP_LEN - 1), Reason.ARP_TRUNCATED);
  assert.equal(arpCheck(f.subarray(0, 27), 0, ARP_LEN), Reason.ARP_TRUNCATED);
  assert.equal(arpCheck(f, -1, ARP_LEN), Reason.ARP_TRUNCATED);
  const mut = (i: number, v: number): Uint8Array => {
    const c = f.slice();
    c[i] = v;
    return c;
  };
  assert.equal(arpCheck(mut(1, 6), 0, ARP_LEN), Reason.ARP_UNSUPPORTED); // htype IEEE 802
  assert.equal(arpCheck(mut(2, 0x86), 0, ARP_LEN), Reason.ARP_UNSUPPORTED); // ptype 0x8600, not IPv4
  assert.equal(arpCheck(mut(4, 8), 0, ARP_LEN), Reason.ARP_UNSUPPORTED); // hlen 8
  assert.equal(arpCheck(mut(5, 16), 0, ARP_LEN), Reason.ARP_UNSUPPORTED); // plen 16
  assert.equal(arpCheck(mut(7, 3), 0, ARP_LEN), Reason.ARP_BAD_OP); // RARP request
  assert.equal(arpCheck(mut(7, 0), 0, ARP_LEN), Reason.ARP_BAD_OP);
});

const arbRepr: fc.Arbitrary<ArpRepr> = fc.record({
  op: fc.constantFrom(ARP_OP_REQUEST, ARP_OP_REPLY),
  senderMac: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  senderIp: fc.integer({ min: 0, max: 0xffffffff }),
  targetMac: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  targetIp: fc.integer({ min: 0, max: 0xffffffff }),
});

test('emit then parse round-trips any ArpRepr, and the result checks OK', () => {
  fc.assert(
    fc.property(arbRepr, fc.nat(8), (r, at) => {
      const b = poisoned(at + ARP_LEN);
      arpEmit(r, b, at);
      assert.equal(arpCheck(b, at, ARP_LEN), Reason.OK);
      assert.deepEqual(arpParse(b, at), { ...r });
    }),
  );
});

test('reply-in-place swaps exactly the fields RFC 826 says, for any request', () => {
  fc.assert(
    fc.property(arbRepr, fc.integer({ min: 0, max: 2 ** 48 - 1 }), (r, ours) => {
      const b = new Uint8Array(ARP_LEN);
      arpEmit({ ...r, op: ARP_OP_REQUEST }, b, 0);
      arpMakeReplyInPlace(b, 0, ours);
      assert.deepEqual(arpParse(b, 0), {
        op: ARP_OP_REPLY,
        senderMac: ours,
        senderIp: r.targetIp,
        targetMac: r.senderMac,
        targetIp: r.senderIp,
      });
    }),
  );
});

test('arpCheck on random bytes never throws and ignores bytes outside [off, off+len)', () => {
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
        const r = arpCheck(body.slice(0, n), 0, n);
        assert.ok(REASONS.has(r));
        assert.equal(arpCheck(big, pre.length, n), r);
        assert.ok(REASONS.has(arpCheck(body, 0, lenArg)));
        assert.ok(REASONS.has(arpCheck(big, big.length - 1, lenArg)));
      },
    ),
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  IPV4_HLEN,
  ipv4Check,
  ipv4Emit,
  ipv4FillCsum,
  ipv4Parse,
  ipv4SetDst,
  ipv4SetSrc,
  ipv4SetTos,
  ipv4SetTotalLen,
  ipv4SetTtl,
} from '../../src/wire/ipv4.ts';
import type { Ipv4Repr } from '../../src/wire/ipv4.ts';
import { csumVerifies } from '../../src/wire/checksum.ts';
import { ethCheck, ethEmit, ethParse } from '../../src/wire/ethernet.ts';
import { ipv4FromString, macFromString } from '../../src/wire/addr.ts';
import { Reason } from '../../src/wire/reason.ts';
import { poisoned, toHex } from '../helpers/bytes.ts';
import { golden } from '../helpers/golden.ts';

const SYN = golden('wire', 'tcp4-syn');

test('golden (tshark: 10.77.1.1 > 10.77.2.1, id 0x03f0, DF, TTL 64, checksum 0x1f31 correct) parses', () => {
  assert.equal(ipv4Check(SYN, 14, SYN.length - 14), Reason.OK);
  const r = ipv4Parse(SYN, 14);
  assert.equal(r.totalLen, 60);
  assert.equal(r.id, 0x03f0);
  assert.equal(r.df, true);
  assert.equal(r.mf, false);
  assert.equal(r.ttl, 64);
  assert.equal(r.proto, 6);
  assert.equal(r.src, ipv4FromString('10.77.1.1'));
  assert.equal(r.dst, ipv4FromString('10.77.2.1'));
  assert.equal(r.csum, 0x1f31);
});

test('emit into a poisoned buffer reproduces the golden header, checksum included', () => {
  const r = ipv4Parse(SYN, 14);
  delete r.csum;
  const b = poisoned(24);
  assert.equal(ipv4Emit(r, b, 2), IPV4_HLEN);
  assert.equal(toHex(b, 2, 20), toHex(SYN, 14, 20));
  assert.equal(b[0], 0xa5);
  assert.equal(b[22], 0xa5);
});

test('Ethernet: the golden header round-trips, and an 802.1Q tag is emitted and parsed', () => {
  const e = ethParse(SYN, 0);
  assert.equal(e.dst, macFromString('02:77:4c:00:01:fe'));
  assert.equal(e.ethertype, 0x0800);
  const b = poisoned(18);
  ethEmit({ ...e, vlan: { pcp: 5, dei: false, vid: 100 } }, b, 0);
  assert.equal(toHex(b, 12, 6), '8100a0640800');
  assert.deepEqual(ethParse(b, 0).vlan, { pcp: 5, dei: false, vid: 100 });
  assert.equal(ethCheck(b, 0, 16), Reason.VLAN_TRUNCATED);
  assert.equal(ethCheck(b, 0, 13), Reason.ETH_TRUNCATED);
});

const arbRepr: fc.Arbitrary<Ipv4Repr> = fc.record({
  tos: fc.integer({ min: 0, max: 255 }),
  totalLen: fc.integer({ min: 20, max: 65535 }),
  id: fc.integer({ min: 0, max: 65535 }),
  df: fc.boolean(),
  mf: fc.boolean(),
  fragOffset: fc.integer({ min: 0, max: 0x1fff }),
  ttl: fc.integer({ min: 0, max: 255 }),
  proto: fc.integer({ min: 0, max: 255 }),
  src: fc.integer({ min: 0, max: 0xffffffff }),
  dst: fc.integer({ min: 0, max: 0xffffffff }),
});

test('parse(emit(r)) = r for random headers; the emitted checksum verifies', () => {
  fc.assert(
    fc.property(arbRepr, (r) => {
      const b = new Uint8Array(20);
      ipv4Emit(r, b, 0);
      assert.ok(csumVerifies(b, 0, 20));
      const back = ipv4Parse(b, 0);
      delete back.csum;
      assert.deepEqual(back, { ...r });
    }),
  );
});

test('every checksum-aware setter leaves a header that verifies (incremental = recompute)', () => {
  fc.assert(
    fc.property(
      arbRepr,
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 255 }),
      fc.nat(4),
      (r, a, v, which) => {
        const b = new Uint8Array(20);
        ipv4Emit(r, b, 0);
        if (which === 0) ipv4SetSrc(b, 0, a);
        else if (which === 1) ipv4SetDst(b, 0, a);
        else if (which === 2) ipv4SetTtl(b, 0, v);
        else if (which === 3) ipv4SetTos(b, 0, v);
        else ipv4SetTotalLen(b, 0, 20 + (a % 65000));
        const c = b.slice();
        ipv4FillCsum(c, 0);
        assert.ok(csumVerifies(b, 0, 20));
        assert.equal(toHex(b), toHex(c));
      },
    ),
  );
});

test('bad input: each defect has its own reason', () => {
  const at = (mut: (b: Uint8Array) => void, len = 60): Reason => {
    const b = SYN.slice(14, 14 + 60);
    mut(b);
    return ipv4Check(b, 0, len);
  };
  assert.equal(
    at(() => {}, 19),
    Reason.IPV4_TRUNCATED,
  );
  assert.equal(
    at((b) => (b[0] = 0x65)),
    Reason.IPV4_BAD_VERSION,
  );
  assert.equal(
    at((b) => (b[0] = 0x44)),
    Reason.IPV4_BAD_IHL,
  );
  assert.equal(
    at((b) => (b[0] = 0x4f), 50),
    Reason.IPV4_BAD_IHL,
  );
  assert.equal(
    at((b) => ((b[2] = 0), (b[3] = 80))),
    Reason.IPV4_BAD_TOTLEN,
  );
  assert.equal(
    at((b) => ((b[2] = 0), (b[3] = 10))),
    Reason.IPV4_BAD_TOTLEN,
  );
  assert.equal(
    at((b) => (b[10] ^= 1)),
    Reason.IPV4_BAD_CSUM,
  );
  // Options: a header of 24 bytes whose option claims 6 bytes.
  const o = new Uint8Array(40);
  ipv4Emit(
    {
      tos: 0,
      totalLen: 40,
      id: 1,
      df: false,
      mf: false,
      fragOffset: 0,
      ttl: 9,
      proto: 6,
      src: 1,
      dst: 2,
      options: Uint8Array.from([0x83, 6, 0, 0]),
    },
    o,
    0,
  );
  assert.equal(ipv4Check(o, 0, 40), Reason.IPV4_BAD_OPTIONS);
  ipv4Emit(
    {
      tos: 0,
      totalLen: 40,
      id: 1,
      df: false,
      mf: false,
      fragOffset: 0,
      ttl: 9,
      proto: 6,
      src: 1,
      dst: 2,
      options: Uint8Array.from([1, 1, 1, 0]),
    },
    o,
    0,
  );
  assert.equal(ipv4Check(o, 0, 40), Reason.OK);
  // A fragment is reported last, once everything else is sound.
  ipv4Emit(
    { tos: 0, totalLen: 40, id: 1, df: false, mf: true, fragOffset: 0, ttl: 9, proto: 6, src: 1, dst: 2 },
    o,
    0,
  );
  assert.equal(ipv4Check(o, 0, 40), Reason.IPV4_FRAGMENT);
});

test('random bytes never throw and give a known reason', () => {
  const reasons = new Set<number>(Object.values(Reason));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(90), (b, len) => {
      assert.ok(reasons.has(ipv4Check(b, 0, len)));
    }),
  );
});

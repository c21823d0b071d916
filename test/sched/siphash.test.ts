import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hsiphashU32, sipHash, sipKey, sipKeyFromBytes, sipOut } from '../../src/sched/hash.ts';
import { MH_HASH1, MH_HASH2 } from '../../src/sched/mh.ts';
import { naiveHsiphashU32, naiveSipHash } from './naive-siphash.ts';

const KEY = sipKeyFromBytes(Uint8Array.from({ length: 16 }, (_, i) => i));
const K0 = 0x0706050403020100n;
const K1 = 0x0f0e0d0c0b0a0908n;
const MSG = Uint8Array.from({ length: 64 }, (_, i) => i);

// SipHash-2-4 reference vectors: key 00 01 .. 0f, message 00 01 .. (len-1) for len 0..63
// (veorq/SipHash vectors.h, the reference implementation's own table; the Linux kernel's siphash
// self-test carries the same table). Index = message length. Transcription cross-checked against
// an independent Python SipHash.
const SIPHASH24 = [
  0x726fdb47dd0e0e31n,
  0x74f839c593dc67fdn,
  0x0d6c8009d9a94f5an,
  0x85676696d7fb7e2dn,
  0xcf2794e0277187b7n,
  0x18765564cd99a68dn,
  0xcbc9466e58fee3cen,
  0xab0200f58b01d137n,
  0x93f5f5799a932462n,
  0x9e0082df0ba9e4b0n,
  0x7a5dbbc594ddb9f3n,
  0xf4b32f46226bada7n,
  0x751e8fbc860ee5fbn,
  0x14ea5627c0843d90n,
  0xf723ca908e7af2een,
  0xa129ca6149be45e5n,
  0x3f2acc7f57c29bdbn,
  0x699ae9f52cbe4794n,
  0x4bc1b3f0968dd39cn,
  0xbb6dc91da77961bdn,
  0xbed65cf21aa2ee98n,
  0xd0f2cbb02e3b67c7n,
  0x93536795e3a33e88n,
  0xa80c038ccd5ccec8n,
  0xb8ad50c6f649af94n,
  0xbce192de8a85b8ean,
  0x17d835b85bbb15f3n,
  0x2f2e6163076bcfadn,
  0xde4daaaca71dc9a5n,
  0xa6a2506687956571n,
  0xad87a3535c49ef28n,
  0x32d892fad841c342n,
  0x7127512f72f27ccen,
  0xa7f32346f95978e3n,
  0x12e0b01abb051238n,
  0x15e034d40fa197aen,
  0x314dffbe0815a3b4n,
  0x027990f029623981n,
  0xcadcd4e59ef40c4dn,
  0x9abfd8766a33735cn,
  0x0e3ea96b5304a7d0n,
  0xad0c42d6fc585992n,
  0x187306c89bc215a9n,
  0xd4a60abcf3792b95n,
  0xf935451de4f21df2n,
  0xa9538f0419755787n,
  0xdb9acddff56ca510n,
  0xd06c98cd5c0975ebn,
  0xe612a3cb9ecba951n,
  0xc766e62cfcadaf96n,
  0xee64435a9752fe72n,
  0xa192d576b245165an,
  0x0a8787bf8ecb74b2n,
  0x81b3e73d20b49b6fn,
  0x7fa8220ba3b2ecean,
  0x245731c13ca42499n,
  0xb78dbfaf3a8d83bdn,
  0xea1ad565322a1a0bn,
  0x60e61c23a3795013n,
  0x6606d7e446282b93n,
  0x6ca4ecb15c5f91e1n,
  0x9f626da15c9625f3n,
  0xe51b38608ef25f57n,
  0x958a324ceb064572n,
];

// The kernel's 64-bit hsiphash (SipHash-1-3, output truncated to the low 32 bits), same key and
// messages (lib/test_siphash.c, `#if BITS_PER_LONG == 64` table). SipHash-1-3 differs from 2-4
// only in the round counts: one SIPROUND per message word instead of two, and three finalisation
// rounds instead of four. Also cross-checked against the independent Python SipHash.
const HSIPHASH64 = [
  0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140, 0x8d299a8e,
  0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956, 0x7d908b66, 0x63dbd80c,
  0xb473e63e, 0x8d297d1c, 0xa6cce040, 0x2b45f844, 0xa320872e, 0xdae6c123, 0x67349c8c, 0x705b0979, 0xca9913a5,
  0x4ade3b35, 0xef6cd00d, 0x4ab1e1f4, 0x43c5e663, 0x8c21d1bc, 0x16a7b60d, 0x7a8ff9bf, 0x1f2a753e, 0xbf186b91,
  0xada26206, 0xa3c33057, 0xae3a36a1, 0x7b108392, 0x99e41531, 0x3f1ad944, 0xc8138825, 0xc28949a6, 0xfaf8876b,
  0x9f042196, 0x68b1d623, 0x8b5114fd, 0xdf074c46, 0x12cc86b3, 0x0a52098f, 0x9d292f9a, 0xa2f41f12, 0x43a71ed0,
  0x73f0bce6, 0x70a7e980, 0x243c6d75, 0xfdb71513, 0xa67d8a08, 0xb7e8f148, 0xf7a644ee, 0x0f1837f2, 0x4b6694e0,
  0xb7bbb3a8,
];

test('SipHash-2-4 matches the 64 reference vectors (both halves)', () => {
  for (let len = 0; len < 64; len++) {
    const lo = sipHash(KEY, MSG, 0, len, 2, 4);
    const got = (BigInt(sipOut[1]) << 32n) | BigInt(lo);
    assert.equal(got, SIPHASH24[len], `len ${len}`);
  }
});

test('the kernel 64-bit hsiphash (SipHash-1-3, low 32 bits) matches its 64 self-test vectors', () => {
  for (let len = 0; len < 64; len++)
    assert.equal(sipHash(KEY, MSG, 0, len, 1, 3), HSIPHASH64[len], `len ${len}`);
});

test('hsiphashU32 is hsiphash of 4 bytes: equals the len-4 vector (hsiphash_1u32(0x03020100))', () => {
  assert.equal(hsiphashU32(0x03020100, KEY), HSIPHASH64[4]);
});

test('the message may start at any offset', () => {
  const shifted = new Uint8Array(70);
  shifted.set(MSG, 5);
  for (let len = 0; len < 64; len += 7) assert.equal(sipHash(KEY, shifted, 5, len, 1, 3), HSIPHASH64[len]);
});

test('the naive BigInt SipHash used by other tests agrees with the reference vectors', () => {
  for (let len = 0; len < 64; len++) {
    assert.equal(naiveSipHash(K0, K1, MSG.subarray(0, len), 2, 4), SIPHASH24[len]);
    assert.equal(Number(naiveSipHash(K0, K1, MSG.subarray(0, len), 1, 3) & 0xffffffffn), HSIPHASH64[len]);
  }
});

test('property: 32-bit-halves SipHash equals the BigInt one for any key, message and rounds', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.uint8Array({ maxLength: 40 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      (k0, k1, msg, c, d) => {
        const key = sipKey(
          Number(k0 >> 32n),
          Number(k0 & 0xffffffffn),
          Number(k1 >> 32n),
          Number(k1 & 0xffffffffn),
        );
        const lo = sipHash(key, msg, 0, msg.length, c, d);
        assert.equal((BigInt(sipOut[1]) << 32n) | BigInt(lo), naiveSipHash(k0, k1, msg, c, d));
      },
    ),
  );
});

test('property: hsiphashU32 with the mh keys equals the naive hsiphash of the u32 in LE order', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      assert.equal(hsiphashU32(v, MH_HASH1), naiveHsiphashU32(v, 2654435761n));
      assert.equal(hsiphashU32(v, MH_HASH2), naiveHsiphashU32(v, 2654446892n));
    }),
  );
  // Spot values from the independent Python SipHash: hsiphash(10.0.0.1) under each mh key.
  assert.equal(hsiphashU32(0x0a000001, MH_HASH1), 0x03080ce4);
  assert.equal(hsiphashU32(0x0a000001, MH_HASH2), 0x48f9d0c1);
});

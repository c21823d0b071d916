/**
 * Hashes and integer helpers the hashing schedulers share, computed the way the kernel computes
 * them so that tables and lookups match bit for bit:
 *
 * - hash32: include/linux/hash.h hash_32() (multiplicative hash, top bits kept), used by sh, dh,
 *   lblc and lblcr.
 * - gcd / fls: lib/math/gcd.c and fls() from bitops, used by wrr and mh.
 * - SipHash on 32-bit halves (no BigInt): the generic SipHash-c-d of lib/siphash.c, and the
 *   specialised hsiphash of one u32 that ip_vs_mh.c calls for every lookup.
 *
 * On 64-bit kernels hsiphash() is SipHash-1-3 (one compression round per 8-byte block, three
 * finalisation rounds) over 64-bit lanes with the result truncated to its low 32 bits; only
 * 32-bit kernels run the real HalfSipHash-1-3 (lib/siphash.c, `#if BITS_PER_LONG == 64`). IPVS
 * tables are compared against x86-64, so this file implements the 64-bit flavour.
 *
 * The SipHash state lives in a typed array so that hashing allocates nothing.
 */

/** GOLDEN_RATIO_32 (include/linux/hash.h). */
export const GOLDEN_RATIO_32 = 0x61c88647;

/** hash_32: 32-bit multiply by GOLDEN_RATIO_32 (mod 2^32), keep the top `bits` bits. */
export function hash32(val: number, bits: number): number {
  return Math.imul(val, GOLDEN_RATIO_32) >>> (32 - bits);
}

/** gcd of two non-negative integers (lib/math/gcd.c gives the same value by another route). */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** fls: 1-based index of the most significant set bit, 0 for 0 (include/asm-generic/bitops/fls.h). */
export function fls(x: number): number {
  return 32 - Math.clz32(x);
}

/** A 128-bit SipHash key as two little-endian u64 words, each split into 32-bit halves. */
export interface SipKey {
  readonly k0hi: number;
  readonly k0lo: number;
  readonly k1hi: number;
  readonly k1lo: number;
}

export function sipKey(k0hi: number, k0lo: number, k1hi: number, k1lo: number): SipKey {
  return { k0hi: k0hi >>> 0, k0lo: k0lo >>> 0, k1hi: k1hi >>> 0, k1lo: k1lo >>> 0 };
}

/** A key from 16 bytes, read as two little-endian u64 words (the reference test-vector layout). */
export function sipKeyFromBytes(b: Uint8Array): SipKey {
  return sipKey(le32(b, 4), le32(b, 0), le32(b, 12), le32(b, 8));
}

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

// SipHash state: four 64-bit lanes as (hi, lo) uint32 pairs: v0h v0l v1h v1l v2h v2l v3h v3l.
// It lives in a typed array rather than module-level variables: V8 boxes a non-small-integer
// number stored in a module variable, so every round would allocate.
const S = new Uint32Array(8);

/** The high 32 bits of the last sipHash() result (its return value is the low 32 bits). */
export const sipOut = new Uint32Array(2);

/** PREAMBLE: the "somepseudorandomlygeneratedbytes" constants XORed with the key. */
function sipInit(key: SipKey): void {
  S[0] = 0x736f6d65 ^ key.k0hi;
  S[1] = 0x70736575 ^ key.k0lo;
  S[2] = 0x646f7261 ^ key.k1hi;
  S[3] = 0x6e646f6d ^ key.k1lo;
  S[4] = 0x6c796765 ^ key.k0hi;
  S[5] = 0x6e657261 ^ key.k0lo;
  S[6] = 0x74656462 ^ key.k1hi;
  S[7] = 0x79746573 ^ key.k1lo;
}

/** `c` SIPROUNDs on 64-bit lanes, done as 32-bit halves (add with carry; rotations across halves). */
function sipRounds(c: number): void {
  let v0h = S[0];
  let v0l = S[1];
  let v1h = S[2];
  let v1l = S[3];
  let v2h = S[4];
  let v2l = S[5];
  let v3h = S[6];
  let v3l = S[7];
  let s: number;
  let t: number;
  for (let r = 0; r < c; r++) {
    // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
    s = v0l + v1l;
    v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = s >>> 0;
    t = v1h;
    v1h = (((v1h << 13) | (v1l >>> 19)) ^ v0h) >>> 0;
    v1l = (((v1l << 13) | (t >>> 19)) ^ v0l) >>> 0;
    t = v0h;
    v0h = v0l;
    v0l = t;
    // v2 += v3; v3 <<<= 16; v3 ^= v2
    s = v2l + v3l;
    v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = s >>> 0;
    t = v3h;
    v3h = (((v3h << 16) | (v3l >>> 16)) ^ v2h) >>> 0;
    v3l = (((v3l << 16) | (t >>> 16)) ^ v2l) >>> 0;
    // v0 += v3; v3 <<<= 21; v3 ^= v0
    s = v0l + v3l;
    v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = s >>> 0;
    t = v3h;
    v3h = (((v3h << 21) | (v3l >>> 11)) ^ v0h) >>> 0;
    v3l = (((v3l << 21) | (t >>> 11)) ^ v0l) >>> 0;
    // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
    s = v2l + v1l;
    v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = s >>> 0;
    t = v1h;
    v1h = (((v1h << 17) | (v1l >>> 15)) ^ v2h) >>> 0;
    v1l = (((v1l << 17) | (t >>> 15)) ^ v2l) >>> 0;
    t = v2h;
    v2h = v2l;
    v2l = t;
  }
  S[0] = v0h;
  S[1] = v0l;
  S[2] = v1h;
  S[3] = v1l;
  S[4] = v2h;
  S[5] = v2l;
  S[6] = v3h;
  S[7] = v3l;
}

/** Absorbs one 64-bit message word m = (mh, ml) with `c` compression rounds. */
function sipAbsorb(mh: number, ml: number, c: number): void {
  S[6] ^= mh;
  S[7] ^= ml;
  sipRounds(c);
  S[0] ^= mh;
  S[1] ^= ml;
}

/** POSTAMBLE: absorb the length/tail word, then `d` finalisation rounds; the result goes to sipOut. */
function sipFinish(bh: number, bl: number, c: number, d: number): void {
  sipAbsorb(bh, bl, c);
  S[5] ^= 0xff;
  sipRounds(d);
  sipOut[0] = S[1] ^ S[3] ^ S[5] ^ S[7];
  sipOut[1] = S[0] ^ S[2] ^ S[4] ^ S[6];
}

/**
 * SipHash-c-d of `len` bytes at `off` (lib/siphash.c __siphash / __hsiphash on 64-bit).
 * Returns the low 32 bits; the high 32 bits are left in sipOut[1]. c = 2, d = 4 is SipHash-2-4
 * (the kernel's siphash()); c = 1, d = 3 truncated to 32 bits is the kernel's 64-bit hsiphash().
 */
export function sipHash(key: SipKey, b: Uint8Array, off: number, len: number, c: number, d: number): number {
  sipInit(key);
  const end = off + len - (len & 7);
  let o = off;
  for (; o < end; o += 8) sipAbsorb(le32(b, o + 4), le32(b, o), c);
  // Last word: the length in the top byte, the 0..7 leftover bytes little-endian below it.
  let bh = (len & 0xff) << 24;
  let bl = 0;
  const left = len & 7;
  for (let i = 0; i < left; i++) {
    if (i < 4) bl |= b[o + i] << (8 * i);
    else bh |= b[o + i] << (8 * (i - 4));
  }
  sipFinish(bh >>> 0, bl >>> 0, c, d);
  return sipOut[0];
}

/**
 * hsiphash(&v, 4, key) of one u32 on a 64-bit little-endian kernel (hsiphash_1u32 gives the same):
 * no full block, so only the tail word (4 << 56) | v is absorbed with one round, then three.
 */
export function hsiphashU32(v: number, key: SipKey): number {
  sipInit(key);
  sipFinish(0x04000000, v >>> 0, 1, 3);
  return sipOut[0];
}

/**
 * hsiphashU32(v, key) % m, for the packet path: the result is a small integer, so returning it
 * does not box a heap number the way a full uint32 return value can.
 */
export function hsiphashU32Mod(v: number, key: SipKey, m: number): number {
  sipInit(key);
  sipFinish(0x04000000, v >>> 0, 1, 3);
  return sipOut[0] % m;
}

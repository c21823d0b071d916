/**
 * A deliberately plain SipHash-c-d on BigInt, written straight from the SipHash paper, used only
 * to check the 32-bit-halves implementation in src/sched/hash.ts and to build Maglev tables
 * independently in the mh tests.
 */
const M64 = (1n << 64n) - 1n;

function rotl(x: bigint, b: bigint): bigint {
  return ((x << b) | (x >> (64n - b))) & M64;
}

/** SipHash-c-d of `msg` under the 128-bit key (k0, k1), as a 64-bit BigInt. */
export function naiveSipHash(k0: bigint, k1: bigint, msg: Uint8Array, c: number, d: number): bigint {
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = (): void => {
    v0 = (v0 + v1) & M64;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & M64;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & M64;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const words: bigint[] = [];
  const padded = new Uint8Array(msg.length - (msg.length % 8) + 8);
  padded.set(msg);
  padded[padded.length - 1] = msg.length & 0xff;
  for (let i = 0; i < padded.length; i += 8) {
    let w = 0n;
    for (let j = 7; j >= 0; j--) w = (w << 8n) | BigInt(padded[i + j]);
    words.push(w);
  }
  for (const m of words) {
    v3 ^= m;
    for (let i = 0; i < c; i++) round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  for (let i = 0; i < d; i++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

/** The kernel's 64-bit hsiphash(&v, 4, {k, k}) of a u32 in little-endian memory order. */
export function naiveHsiphashU32(v: number, k: bigint): number {
  const msg = Uint8Array.from([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  return Number(naiveSipHash(k, k, msg, 1, 3) & 0xffffffffn);
}

/**
 * Big-endian field access over a caller's byte buffer. No bounds checks: callers validate the
 * header with its `check` function first (smoltcp's `check_len` discipline), then use these.
 */

export function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

export function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function setU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** 48-bit MAC as a number (exact in a double), so MACs can live in typed arrays and Maps. */
export function mac48(b: Uint8Array, o: number): number {
  return ((b[o] << 8) | b[o + 1]) * 0x100000000 + u32(b, o + 2);
}

export function setMac48(b: Uint8Array, o: number, mac: number): void {
  const hi = Math.floor(mac / 0x100000000);
  setU16(b, o, hi);
  setU32(b, o + 2, mac >>> 0);
}

export function copyBytes(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): void {
  if (dst === src) {
    dst.copyWithin(dOff, sOff, sOff + len);
    return;
  }
  for (let i = 0; i < len; i++) dst[dOff + i] = src[sOff + i];
}

export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

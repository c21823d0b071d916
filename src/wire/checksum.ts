/**
 * The Internet checksum (RFC 1071), pseudo-header sums, and RFC 1624 incremental updates.
 *
 * Two forms of an L4 checksum field exist on Linux:
 *  - normal: the field holds the complemented one's-complement sum over pseudo-header + segment;
 *  - CHECKSUM_PARTIAL (offloaded, seen on veth with tx-checksumming on): the field holds the
 *    *uncomplemented* folded pseudo-header sum, and the device is expected to finish the job.
 * NAT must update each form differently (compare the kernel's inet_proto_csum_replace4:
 * `~csum_fold(~sum + ~from + to)` normally, `csum_fold(sum + ~from + to)` when partial), and in the
 * partial form only pseudo-header fields (addresses, length) are folded in: ports are not part of
 * the pseudo-header, the device sums them later.
 */
import { u16 } from './bytes.ts';

/**
 * Adds the big-endian 16-bit words of b[off, off+len) to `sum` (an odd last byte is padded with
 * zero). The result is unfolded; pass it to csumFold. Exact for any frame size (doubles).
 */
export function csumAdd(b: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  const end = off + (len & ~1);
  let i = off;
  // Four words per step: the accumulator stays exact (< 2^53) for any buffer we can hold.
  for (; i + 8 <= end; i += 8) {
    s +=
      ((b[i] << 8) | b[i + 1]) +
      ((b[i + 2] << 8) | b[i + 3]) +
      ((b[i + 4] << 8) | b[i + 5]) +
      ((b[i + 6] << 8) | b[i + 7]);
  }
  for (; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (len & 1) s += b[off + len - 1] << 8;
  return s;
}

/** Folds a sum to 16 bits with end-around carry. Not complemented. */
export function csumFold(sum: number): number {
  let s = sum;
  if (s > 0xffffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum to store: the complement of the folded sum of b[off, off+len) plus `initial`. */
export function internetChecksum(b: Uint8Array, off: number, len: number, initial = 0): number {
  return ~csumFold(csumAdd(b, off, len, initial)) & 0xffff;
}

/** Unfolded IPv4 pseudo-header sum (RFC 793/768): src, dst, zero+protocol, L4 length. */
export function pseudoSumV4(src: number, dst: number, proto: number, l4len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4len;
}

/** Unfolded IPv6 pseudo-header sum (RFC 8200 §8.1): two 16-byte addresses read from `b`. */
export function pseudoSumV6(
  b: Uint8Array,
  srcOff: number,
  dstOff: number,
  proto: number,
  l4len: number,
): number {
  return csumAdd(b, srcOff, 16, csumAdd(b, dstOff, 16, proto + (l4len >>> 16) + (l4len & 0xffff)));
}

/** RFC 1624 eqn. 3 for one 16-bit field: HC' = ~(~HC + ~m + m'). */
export function csumReplace16(check: number, from: number, to: number): number {
  return ~csumFold((~check & 0xffff) + (~from & 0xffff) + (to & 0xffff)) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address). */
export function csumReplace32(check: number, from: number, to: number): number {
  return (
    ~csumFold(
      (~check & 0xffff) + (~(from >>> 16) & 0xffff) + (~from & 0xffff) + (to >>> 16) + (to & 0xffff),
    ) & 0xffff
  );
}

/** RFC 1624 for a 128-bit field (an IPv6 address) read from two buffers. */
export function csumReplace128(
  check: number,
  from: Uint8Array,
  fromOff: number,
  to: Uint8Array,
  toOff: number,
): number {
  let s = ~check & 0xffff;
  for (let i = 0; i < 16; i += 2) s += (~u16(from, fromOff + i) & 0xffff) + u16(to, toOff + i);
  return ~csumFold(s) & 0xffff;
}

/** CHECKSUM_PARTIAL form of csumReplace16 (a pseudo-header field such as the L4 length). */
export function csumPartialReplace16(check: number, from: number, to: number): number {
  return csumFold(check + (~from & 0xffff) + (to & 0xffff));
}

/** CHECKSUM_PARTIAL form of csumReplace32: the field holds the uncomplemented pseudo sum. */
export function csumPartialReplace32(check: number, from: number, to: number): number {
  return csumFold(check + (~(from >>> 16) & 0xffff) + (~from & 0xffff) + (to >>> 16) + (to & 0xffff));
}

/** CHECKSUM_PARTIAL form of csumReplace128. */
export function csumPartialReplace128(
  check: number,
  from: Uint8Array,
  fromOff: number,
  to: Uint8Array,
  toOff: number,
): number {
  let s = check;
  for (let i = 0; i < 16; i += 2) s += (~u16(from, fromOff + i) & 0xffff) + u16(to, toOff + i);
  return csumFold(s);
}

/** UDP: a computed checksum of 0 is sent as 0xffff, because 0 means "no checksum" (RFC 768). */
export function udpCsumMangle(c: number): number {
  return c === 0 ? 0xffff : c;
}

/**
 * Finishes a CHECKSUM_PARTIAL L4 checksum in software: the field at csumOff already holds the
 * folded pseudo-header sum, so summing the segment with it in place and complementing gives the
 * final value (what skb_checksum_help does). `udp` applies the zero rule.
 */
export function csumCompletePartial(
  b: Uint8Array,
  l4off: number,
  l4len: number,
  csumOff: number,
  udp: boolean,
): void {
  let c = ~csumFold(csumAdd(b, l4off, l4len)) & 0xffff;
  if (udp) c = udpCsumMangle(c);
  b[csumOff] = c >>> 8;
  b[csumOff + 1] = c & 0xff;
}

/** True when the one's-complement sum over a region with its checksum in place verifies. */
export function csumVerifies(b: Uint8Array, off: number, len: number, initial = 0): boolean {
  return csumFold(csumAdd(b, off, len, initial)) === 0xffff;
}

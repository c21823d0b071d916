/**
 * UDP header (RFC 768) and its checksum rules.
 *
 *   0               16              31
 *   |  source port  |   dest port   |
 *   |    length     |   checksum    |
 *
 * Over IPv4 a checksum of 0 means "none was computed", so the setters leave 0 alone (as netfilter
 * NAT's udp_manip_pkt does; IPVS's udp_*nat_handler instead computes a full checksum when it meets
 * 0, which a caller can do with udpFillCsumV4), and a computed 0 is sent as 0xffff
 * (udpCsumMangle). Over IPv6 the checksum is mandatory (RFC 8200 §8.1); a 0 there is invalid on
 * receipt, and the setters still leave it as they found it.
 * CHECKSUM_PARTIAL works as for TCP (see checksum.ts): pass `partial` to the setters.
 */
import {
  csumFold,
  csumPartialReplace128,
  csumPartialReplace32,
  csumReplace128,
  csumReplace16,
  csumReplace32,
  csumVerifies,
  internetChecksum,
  pseudoSumV4,
  pseudoSumV6,
  udpCsumMangle,
} from './checksum.ts';
import { setU16, u16, u32 } from './bytes.ts';
import { IPPROTO_UDP, IPV4_DST, IPV4_SRC } from './ipv4.ts';
import { IPV6_DST, IPV6_SRC } from './ipv6.ts';
import { Reason } from './reason.ts';

export const UDP_SPORT = 0;
export const UDP_DPORT = 2;
export const UDP_LEN = 4;
export const UDP_CSUM = 6;
export const UDP_HLEN = 8;

/**
 * Validates an untrusted UDP header; `len` is the number of bytes available from `off` (the IP
 * payload). UDP_TRUNCATED below 8 bytes; UDP_BAD_LEN when the length field is under 8 or claims
 * more than is there. A length shorter than the IP payload is allowed (trailing bytes are padding).
 */
export function udpCheck(b: Uint8Array, off: number, len: number): Reason {
  const n = off >= 0 ? Math.min(len, b.length - off) : -1;
  if (!(n >= UDP_HLEN)) return Reason.UDP_TRUNCATED;
  const ul = u16(b, off + UDP_LEN);
  if (ul < UDP_HLEN || ul > n) return Reason.UDP_BAD_LEN;
  return Reason.OK;
}

export function udpSrcPort(b: Uint8Array, off: number): number {
  return u16(b, off + UDP_SPORT);
}
export function udpDstPort(b: Uint8Array, off: number): number {
  return u16(b, off + UDP_DPORT);
}
export function udpLength(b: Uint8Array, off: number): number {
  return u16(b, off + UDP_LEN);
}
export function udpCsum(b: Uint8Array, off: number): number {
  return u16(b, off + UDP_CSUM);
}

/**
 * Sets the source port. Normal form: a zero checksum stays zero, any other is updated (RFC 1624)
 * and a result of 0 becomes 0xffff (udp_fast_csum_update). Partial form: no checksum change.
 */
export function udpSetSrcPort(b: Uint8Array, l4off: number, port: number, partial: boolean): void {
  setPort(b, l4off + UDP_SPORT, l4off, port, partial);
}
export function udpSetDstPort(b: Uint8Array, l4off: number, port: number, partial: boolean): void {
  setPort(b, l4off + UDP_DPORT, l4off, port, partial);
}

function setPort(b: Uint8Array, at: number, l4off: number, port: number, partial: boolean): void {
  const old = u16(b, at);
  setU16(b, at, port);
  const c = u16(b, l4off + UDP_CSUM);
  if (partial || c === 0) return;
  setU16(b, l4off + UDP_CSUM, udpCsumMangle(csumReplace16(c, old, port & 0xffff)));
}

/**
 * The pseudo-header half of an IPv4 address rewrite. Normal form: zero stays zero, otherwise an
 * incremental update with the zero rule; partial form: csumPartialReplace32.
 */
export function udpCsumAddrUpdate32(
  b: Uint8Array,
  l4off: number,
  oldAddr: number,
  newAddr: number,
  partial: boolean,
): void {
  const c = u16(b, l4off + UDP_CSUM);
  if (partial) setU16(b, l4off + UDP_CSUM, csumPartialReplace32(c, oldAddr, newAddr));
  else if (c !== 0) setU16(b, l4off + UDP_CSUM, udpCsumMangle(csumReplace32(c, oldAddr, newAddr)));
}

/** The same for an IPv6 address (16 bytes at oldBuf[oldOff] → newBuf[newOff]). */
export function udpCsumAddrUpdate128(
  b: Uint8Array,
  l4off: number,
  oldBuf: Uint8Array,
  oldOff: number,
  newBuf: Uint8Array,
  newOff: number,
  partial: boolean,
): void {
  const c = u16(b, l4off + UDP_CSUM);
  if (partial) setU16(b, l4off + UDP_CSUM, csumPartialReplace128(c, oldBuf, oldOff, newBuf, newOff));
  else if (c !== 0)
    setU16(b, l4off + UDP_CSUM, udpCsumMangle(csumReplace128(c, oldBuf, oldOff, newBuf, newOff)));
}

/** Computes the checksum from scratch over `l4len` bytes (addresses from IPv4 at l3off); never 0. */
export function udpFillCsumV4(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  setU16(b, l4off + UDP_CSUM, 0);
  const ps = pseudoSumV4(u32(b, l3off + IPV4_SRC), u32(b, l3off + IPV4_DST), IPPROTO_UDP, l4len);
  setU16(b, l4off + UDP_CSUM, udpCsumMangle(internetChecksum(b, l4off, l4len, ps)));
}

/** The same over IPv6 (the pseudo-header destination is the header's, see tcpFillCsumV6). */
export function udpFillCsumV6(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  setU16(b, l4off + UDP_CSUM, 0);
  const ps = pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_UDP, l4len);
  setU16(b, l4off + UDP_CSUM, udpCsumMangle(internetChecksum(b, l4off, l4len, ps)));
}

/** True when the checksum verifies or is 0 ("none", allowed over IPv4). */
export function udpCsumOkV4(b: Uint8Array, l3off: number, l4off: number, l4len: number): boolean {
  if (u16(b, l4off + UDP_CSUM) === 0) return true;
  const ps = pseudoSumV4(u32(b, l3off + IPV4_SRC), u32(b, l3off + IPV4_DST), IPPROTO_UDP, l4len);
  return csumVerifies(b, l4off, l4len, ps);
}

/** True when the checksum verifies; 0 is invalid over IPv6 (RFC 8200 §8.1, as udp6_csum_init). */
export function udpCsumOkV6(b: Uint8Array, l3off: number, l4off: number, l4len: number): boolean {
  if (u16(b, l4off + UDP_CSUM) === 0) return false;
  return csumVerifies(
    b,
    l4off,
    l4len,
    pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_UDP, l4len),
  );
}

/** Writes the CHECKSUM_PARTIAL form: the folded, uncomplemented pseudo-header sum (udp4_hwcsum). */
export function udpFillPartialCsumV4(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  const ps = pseudoSumV4(u32(b, l3off + IPV4_SRC), u32(b, l3off + IPV4_DST), IPPROTO_UDP, l4len);
  setU16(b, l4off + UDP_CSUM, csumFold(ps));
}

export function udpFillPartialCsumV6(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  setU16(
    b,
    l4off + UDP_CSUM,
    csumFold(pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_UDP, l4len)),
  );
}

/** Plain-object form of a UDP header. */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Header + payload length in bytes. */
  length: number;
  /** The checksum field: parse reads it, emit writes it as given (0 = none when absent). */
  csum?: number;
}

export function udpParse(b: Uint8Array, off: number): UdpRepr {
  return {
    srcPort: u16(b, off + UDP_SPORT),
    dstPort: u16(b, off + UDP_DPORT),
    length: u16(b, off + UDP_LEN),
    csum: u16(b, off + UDP_CSUM),
  };
}

export function udpEmitLen(_r: UdpRepr): number {
  return UDP_HLEN;
}

/** Writes the 8-byte header at `off`; returns its length. Fill the checksum afterwards if wanted. */
export function udpEmit(r: UdpRepr, b: Uint8Array, off: number): number {
  setU16(b, off + UDP_SPORT, r.srcPort);
  setU16(b, off + UDP_DPORT, r.dstPort);
  setU16(b, off + UDP_LEN, r.length);
  setU16(b, off + UDP_CSUM, r.csum ?? 0);
  return UDP_HLEN;
}

/**
 * IPv4 header (RFC 791).
 *
 *   0       4       8              16    19                       31
 *   |ver|ihl|  tos  |        total length                          |
 *   |      identification        |flags|   fragment offset         |
 *   |  ttl  | proto |        header checksum                       |
 *   |                   source address                             |
 *   |                 destination address                          |
 *   |                 options (ihl > 5) ...                        |
 */
import { csumFold, csumAdd, csumReplace16, csumReplace32, internetChecksum } from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { Reason } from './reason.ts';

export const IPV4_VER_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTLEN = 2;
export const IPV4_ID = 4;
export const IPV4_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_HLEN = 20;

export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_MASK = 0x1fff;

export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_GRE = 47;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_VRRP = 112;
export const IPPROTO_SCTP = 132;

/**
 * Validates an untrusted IPv4 header; `len` is the number of bytes available from `off`.
 * Checks version, IHL, total length against the buffer, option framing and the header checksum
 * (a frame tapped by AF_PACKET has not been through ip_rcv, so nobody checked it yet).
 * Fragments are reported last, as IPV4_FRAGMENT, after everything else is known to be sound.
 */
export function ipv4Check(b: Uint8Array, off: number, len: number): Reason {
  if (len < IPV4_HLEN || off + IPV4_HLEN > b.length) return Reason.IPV4_TRUNCATED;
  const vi = b[off];
  if (vi >>> 4 !== 4) return Reason.IPV4_BAD_VERSION;
  const hl = (vi & 0xf) * 4;
  if (hl < IPV4_HLEN || hl > len || off + hl > b.length) return Reason.IPV4_BAD_IHL;
  const tot = u16(b, off + IPV4_TOTLEN);
  if (tot < hl || tot > len) return Reason.IPV4_BAD_TOTLEN;
  if (hl > IPV4_HLEN && !optionsWellFormed(b, off + IPV4_HLEN, hl - IPV4_HLEN))
    return Reason.IPV4_BAD_OPTIONS;
  const sum = hl === IPV4_HLEN ? ipv4HeaderSum20(b, off) : csumFold(csumAdd(b, off, hl));
  if (sum !== 0xffff) return Reason.IPV4_BAD_CSUM;
  if ((u16(b, off + IPV4_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_MASK)) !== 0) return Reason.IPV4_FRAGMENT;
  return Reason.OK;
}

/**
 * The folded ones'-complement sum of a 20-byte header at `off`, checksum field included: 0xffff
 * when the checksum is right. Unrolled, since it runs for every received frame. Unchecked.
 */
export function ipv4HeaderSum20(b: Uint8Array, off: number): number {
  let sum =
    ((b[off] << 8) | b[off + 1]) +
    ((b[off + 2] << 8) | b[off + 3]) +
    ((b[off + 4] << 8) | b[off + 5]) +
    ((b[off + 6] << 8) | b[off + 7]) +
    ((b[off + 8] << 8) | b[off + 9]) +
    ((b[off + 10] << 8) | b[off + 11]) +
    ((b[off + 12] << 8) | b[off + 13]) +
    ((b[off + 14] << 8) | b[off + 15]) +
    ((b[off + 16] << 8) | b[off + 17]) +
    ((b[off + 18] << 8) | b[off + 19]);
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Option framing (RFC 791 §3.1): EOL ends the list, NOP is one byte, others carry a length ≥ 2. */
function optionsWellFormed(b: Uint8Array, off: number, len: number): boolean {
  let i = 0;
  while (i < len) {
    const t = b[off + i];
    if (t === 0) return true;
    if (t === 1) {
      i++;
      continue;
    }
    if (i + 1 >= len) return false;
    const ol = b[off + i + 1];
    if (ol < 2 || i + ol > len) return false;
    i += ol;
  }
  return true;
}

export function ipv4HeaderLen(b: Uint8Array, off: number): number {
  return (b[off] & 0xf) * 4;
}
export function ipv4Tos(b: Uint8Array, off: number): number {
  return b[off + IPV4_TOS];
}
export function ipv4TotalLen(b: Uint8Array, off: number): number {
  return u16(b, off + IPV4_TOTLEN);
}
export function ipv4Id(b: Uint8Array, off: number): number {
  return u16(b, off + IPV4_ID);
}
export function ipv4FragField(b: Uint8Array, off: number): number {
  return u16(b, off + IPV4_FRAG);
}
export function ipv4Df(b: Uint8Array, off: number): boolean {
  return (b[off + IPV4_FRAG] & 0x40) !== 0;
}
export function ipv4IsFragment(b: Uint8Array, off: number): boolean {
  return (u16(b, off + IPV4_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_MASK)) !== 0;
}
export function ipv4Ttl(b: Uint8Array, off: number): number {
  return b[off + IPV4_TTL];
}
export function ipv4Proto(b: Uint8Array, off: number): number {
  return b[off + IPV4_PROTO];
}
export function ipv4Csum(b: Uint8Array, off: number): number {
  return u16(b, off + IPV4_CSUM);
}
export function ipv4Src(b: Uint8Array, off: number): number {
  return u32(b, off + IPV4_SRC);
}
export function ipv4Dst(b: Uint8Array, off: number): number {
  return u32(b, off + IPV4_DST);
}

/** Sets the source address, updating the header checksum incrementally (RFC 1624). */
export function ipv4SetSrc(b: Uint8Array, off: number, addr: number): void {
  const old = u32(b, off + IPV4_SRC);
  setU32(b, off + IPV4_SRC, addr);
  setU16(b, off + IPV4_CSUM, csumReplace32(u16(b, off + IPV4_CSUM), old, addr));
}

/** Sets the destination address, updating the header checksum incrementally (RFC 1624). */
export function ipv4SetDst(b: Uint8Array, off: number, addr: number): void {
  const old = u32(b, off + IPV4_DST);
  setU32(b, off + IPV4_DST, addr);
  setU16(b, off + IPV4_CSUM, csumReplace32(u16(b, off + IPV4_CSUM), old, addr));
}

/** Sets the TTL, updating the checksum (TTL shares a 16-bit word with the protocol). */
export function ipv4SetTtl(b: Uint8Array, off: number, ttl: number): void {
  const oldWord = u16(b, off + IPV4_TTL);
  b[off + IPV4_TTL] = ttl & 0xff;
  setU16(b, off + IPV4_CSUM, csumReplace16(u16(b, off + IPV4_CSUM), oldWord, u16(b, off + IPV4_TTL)));
}

/** Sets the TOS byte, updating the checksum (TOS shares a word with version/IHL). */
export function ipv4SetTos(b: Uint8Array, off: number, tos: number): void {
  const oldWord = u16(b, off);
  b[off + IPV4_TOS] = tos & 0xff;
  setU16(b, off + IPV4_CSUM, csumReplace16(u16(b, off + IPV4_CSUM), oldWord, u16(b, off)));
}

/** Sets the total length, updating the checksum. */
export function ipv4SetTotalLen(b: Uint8Array, off: number, tot: number): void {
  const old = u16(b, off + IPV4_TOTLEN);
  setU16(b, off + IPV4_TOTLEN, tot);
  setU16(b, off + IPV4_CSUM, csumReplace16(u16(b, off + IPV4_CSUM), old, tot));
}

/** Recomputes the header checksum from scratch (ip_send_check). */
export function ipv4FillCsum(b: Uint8Array, off: number): void {
  setU16(b, off + IPV4_CSUM, 0);
  setU16(b, off + IPV4_CSUM, internetChecksum(b, off, ipv4HeaderLen(b, off)));
}

/** Plain-object form of an IPv4 header. */
export interface Ipv4Repr {
  tos: number;
  /** Total length (header + payload) in bytes. */
  totalLen: number;
  id: number;
  df: boolean;
  mf: boolean;
  fragOffset: number;
  ttl: number;
  proto: number;
  src: number;
  dst: number;
  /** Raw option bytes (a multiple of 4 long), absent when IHL is 5. */
  options?: Uint8Array;
  /** Checksum as read (parse only); emit always computes it. */
  csum?: number;
}

export function ipv4Parse(b: Uint8Array, off: number): Ipv4Repr {
  const hl = ipv4HeaderLen(b, off);
  const frag = u16(b, off + IPV4_FRAG);
  const r: Ipv4Repr = {
    tos: b[off + IPV4_TOS],
    totalLen: u16(b, off + IPV4_TOTLEN),
    id: u16(b, off + IPV4_ID),
    df: (frag & IPV4_FLAG_DF) !== 0,
    mf: (frag & IPV4_FLAG_MF) !== 0,
    fragOffset: frag & IPV4_FRAG_MASK,
    ttl: b[off + IPV4_TTL],
    proto: b[off + IPV4_PROTO],
    src: u32(b, off + IPV4_SRC),
    dst: u32(b, off + IPV4_DST),
    csum: u16(b, off + IPV4_CSUM),
  };
  if (hl > IPV4_HLEN) r.options = b.slice(off + IPV4_HLEN, off + hl);
  return r;
}

export function ipv4EmitLen(r: Ipv4Repr): number {
  return IPV4_HLEN + (r.options ? r.options.length : 0);
}

/** Writes the header with a correct checksum at `off`; returns the header length. */
export function ipv4Emit(r: Ipv4Repr, b: Uint8Array, off: number): number {
  const optLen = r.options ? r.options.length : 0;
  if (optLen % 4 !== 0 || optLen > 40)
    throw new RangeError('IPv4 options must be a multiple of 4, at most 40 bytes');
  const hl = IPV4_HLEN + optLen;
  b[off] = 0x40 | (hl >>> 2);
  b[off + IPV4_TOS] = r.tos;
  setU16(b, off + IPV4_TOTLEN, r.totalLen);
  setU16(b, off + IPV4_ID, r.id);
  setU16(
    b,
    off + IPV4_FRAG,
    (r.df ? IPV4_FLAG_DF : 0) | (r.mf ? IPV4_FLAG_MF : 0) | (r.fragOffset & IPV4_FRAG_MASK),
  );
  b[off + IPV4_TTL] = r.ttl;
  b[off + IPV4_PROTO] = r.proto;
  setU32(b, off + IPV4_SRC, r.src);
  setU32(b, off + IPV4_DST, r.dst);
  if (r.options) b.set(r.options, off + IPV4_HLEN);
  ipv4FillCsum(b, off);
  return hl;
}

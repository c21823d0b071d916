/**
 * ICMPv6 (RFC 4443) and the neighbor-discovery messages a director answers (RFC 4861).
 *
 *   0       8       16              31
 *   | type  | code  |   checksum    |
 *   |   rest of header (4 bytes)    |   echo: id | seq; packet too big: MTU; param problem: pointer
 *   |   body ...                    |   errors: as much of the invoking packet as fits in 1280
 *
 * Unlike ICMPv4 the checksum includes the IPv6 pseudo-header (next header 58), so fill and verify
 * take the offset of the IPv6 header as well.
 */
import { csumReplace16, csumVerifies, internetChecksum, pseudoSumV6 } from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { IPPROTO_ICMPV6 } from './ipv4.ts';
import { IPV6_DST, IPV6_FRAG_OFFSET_MASK, IPV6_HLEN, IPV6_SRC, ipv6FindL4 } from './ipv6.ts';
import { Reason } from './reason.ts';

export const ICMP6_TYPE = 0;
export const ICMP6_CODE = 1;
export const ICMP6_CSUM = 2;
export const ICMP6_REST = 4;
export const ICMP6_ID = 4;
export const ICMP6_SEQ = 6;
/** MTU of a packet-too-big message (32 bits). */
export const ICMP6_MTU = 4;
/** Pointer of a parameter problem (32 bits). */
export const ICMP6_POINTER = 4;
export const ICMP6_HLEN = 8;
/** Ports of the invoking packet: the L4 bytes an error must carry for a connection lookup. */
export const ICMP6_INNER_L4_MIN = 8;

/** Error types (< 128). */
export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
/** Informational types. */
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const ICMP6_ROUTER_SOLICIT = 133;
export const ICMP6_ROUTER_ADVERT = 134;
export const ICMP6_NEIGHBOR_SOLICIT = 135;
export const ICMP6_NEIGHBOR_ADVERT = 136;
export const ICMP6_REDIRECT = 137;

/** Destination-unreachable codes (RFC 4443 §3.1). */
export const ICMP6_NO_ROUTE = 0;
export const ICMP6_ADM_PROHIBITED = 1;
export const ICMP6_BEYOND_SCOPE = 2;
export const ICMP6_ADDR_UNREACH = 3;
export const ICMP6_PORT_UNREACH = 4;
export const ICMP6_POLICY_FAIL = 5;
export const ICMP6_REJECT_ROUTE = 6;
/** Time-exceeded codes. */
export const ICMP6_EXC_HOPLIMIT = 0;
export const ICMP6_EXC_FRAGTIME = 1;
/** Parameter-problem codes. */
export const ICMP6_PARAMPROB_HEADER = 0;
export const ICMP6_PARAMPROB_NEXTHEADER = 1;
export const ICMP6_PARAMPROB_OPTION = 2;

/** Neighbor solicitation/advertisement: target address at 8, options from 24 (RFC 4861 §4.3-4.4). */
export const ICMP6_ND_TARGET = 8;
export const ICMP6_ND_OPTIONS = 24;
export const ICMP6_NA_FLAG_ROUTER = 0x80;
export const ICMP6_NA_FLAG_SOLICITED = 0x40;
export const ICMP6_NA_FLAG_OVERRIDE = 0x20;
/** ND option types carrying a link-layer address (length 1 = 8 bytes for Ethernet). */
export const ND_OPT_SOURCE_LLADDR = 1;
export const ND_OPT_TARGET_LLADDR = 2;

/** RFC 4443 §2.1: types below 128 are errors and carry the invoking packet. */
export function icmp6IsError(type: number): boolean {
  return type < 128;
}

/**
 * Validates the length of an untrusted ICMPv6 message of `len` bytes at `off` (ICMP6_TRUNCATED
 * below 8). The checksum needs the pseudo-header: see icmp6CsumOk.
 */
export function icmp6Check(b: Uint8Array, off: number, len: number): Reason {
  const n = off >= 0 ? Math.min(len, b.length - off) : -1;
  if (!(n >= ICMP6_HLEN)) return Reason.ICMP6_TRUNCATED;
  return Reason.OK;
}

/**
 * Locates the invoking packet of an error at `icmpOff` (`len` bytes of ICMPv6): a whole 40-byte
 * IPv6 header with version 6. Its payload length is not checked against what is present (errors
 * are cut to fit the minimum MTU). Returns ICMP6_TRUNCATED, ICMP_INNER_BAD (not an error type,
 * wrong version) or ICMP_INNER_TRUNCATED.
 */
export function icmp6InnerCheck(b: Uint8Array, icmpOff: number, len: number): Reason {
  const n = icmpOff >= 0 ? Math.min(len, b.length - icmpOff) : -1;
  if (!(n >= ICMP6_HLEN)) return Reason.ICMP6_TRUNCATED;
  if (!icmp6IsError(b[icmpOff + ICMP6_TYPE])) return Reason.ICMP_INNER_BAD;
  if (n - ICMP6_HLEN < IPV6_HLEN) return Reason.ICMP_INNER_TRUNCATED;
  if (b[icmpOff + ICMP6_HLEN] >>> 4 !== 6) return Reason.ICMP_INNER_BAD;
  return Reason.OK;
}

/**
 * After icmp6InnerCheck: walks the embedded packet's extension headers (ipv6FindL4 within what is
 * present) and requires 8 bytes of its upper-layer header. Writes out[0] = inner protocol,
 * out[1] = offset of the inner L4 header, out[2] = fragment word or -1.
 * Returns OK, ICMP_INNER_TRUNCATED (chain or L4 header cut off), ICMP_INNER_BAD (too many
 * extension headers) or IPV6_FRAGMENT for a non-first fragment, which carries no ports
 * (ip_vs_in_icmp_v6 lets those pass). A first fragment is fine: its L4 header is there.
 */
export function icmp6InnerFindL4(b: Uint8Array, icmpOff: number, len: number, out: Int32Array): Reason {
  const inner = icmpOff + ICMP6_HLEN;
  const end = Math.min(icmpOff + len, b.length);
  const r = ipv6FindL4(b, inner, end - inner, out);
  if (r === Reason.IPV6_EXT_TRUNCATED || r === Reason.IPV6_TRUNCATED) return Reason.ICMP_INNER_TRUNCATED;
  if (r === Reason.IPV6_EXT_TOO_MANY) return Reason.ICMP_INNER_BAD;
  if (r === Reason.IPV6_FRAGMENT && (out[2] & IPV6_FRAG_OFFSET_MASK) !== 0) return Reason.IPV6_FRAGMENT;
  if (out[1] + ICMP6_INNER_L4_MIN > end) return Reason.ICMP_INNER_TRUNCATED;
  return Reason.OK;
}

/** Offset of the embedded IPv6 header of an error. */
export function icmp6InnerOff(icmpOff: number): number {
  return icmpOff + ICMP6_HLEN;
}

export function icmp6Type(b: Uint8Array, off: number): number {
  return b[off + ICMP6_TYPE];
}
export function icmp6Code(b: Uint8Array, off: number): number {
  return b[off + ICMP6_CODE];
}
export function icmp6Csum(b: Uint8Array, off: number): number {
  return u16(b, off + ICMP6_CSUM);
}
export function icmp6Rest(b: Uint8Array, off: number): number {
  return u32(b, off + ICMP6_REST);
}
export function icmp6EchoId(b: Uint8Array, off: number): number {
  return u16(b, off + ICMP6_ID);
}
export function icmp6EchoSeq(b: Uint8Array, off: number): number {
  return u16(b, off + ICMP6_SEQ);
}
/** MTU of a packet-too-big message. */
export function icmp6Mtu(b: Uint8Array, off: number): number {
  return u32(b, off + ICMP6_MTU);
}
/** Offset of the 16-byte target address of a neighbor solicitation or advertisement. */
export function icmp6NdTargetOff(off: number): number {
  return off + ICMP6_ND_TARGET;
}
/** Router/solicited/override flags of a neighbor advertisement (top bits of byte 4). */
export function icmp6NaFlags(b: Uint8Array, off: number): number {
  return b[off + ICMP6_REST];
}

/**
 * Offset of the first ND option of `optType` in the NS/NA of `len` bytes at `off`, or -1. An
 * option length of 0 is invalid (RFC 4861 §4.6) and ends the search.
 */
export function icmp6NdFindOption(b: Uint8Array, off: number, len: number, optType: number): number {
  const end = Math.min(off + len, b.length);
  let i = off + ICMP6_ND_OPTIONS;
  while (i + 2 <= end) {
    const ol = b[i + 1] * 8;
    if (ol === 0 || i + ol > end) return -1;
    if (b[i] === optType) return i;
    i += ol;
  }
  return -1;
}

/** Rewrites the MTU of a packet-too-big with an incremental checksum update (tunnel MTU relay). */
export function icmp6SetMtu(b: Uint8Array, off: number, mtu: number): void {
  const hi = u16(b, off + ICMP6_MTU);
  const lo = u16(b, off + ICMP6_MTU + 2);
  setU32(b, off + ICMP6_MTU, mtu);
  let c = csumReplace16(u16(b, off + ICMP6_CSUM), hi, mtu >>> 16);
  c = csumReplace16(c, lo, mtu & 0xffff);
  setU16(b, off + ICMP6_CSUM, c);
}

/** Computes the checksum over the `l4len`-byte message, addresses from the IPv6 header at l3off. */
export function icmp6FillCsum(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  setU16(b, l4off + ICMP6_CSUM, 0);
  const ps = pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_ICMPV6, l4len);
  setU16(b, l4off + ICMP6_CSUM, internetChecksum(b, l4off, l4len, ps));
}

export function icmp6CsumOk(b: Uint8Array, l3off: number, l4off: number, l4len: number): boolean {
  return csumVerifies(
    b,
    l4off,
    l4len,
    pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_ICMPV6, l4len),
  );
}

/** Plain-object form of an ICMPv6 message. */
export interface Icmp6Repr {
  type: number;
  code: number;
  /** Bytes 4..7 as a uint32 (id << 16 | seq, MTU, pointer, NA flags << 24, ...). */
  rest: number;
  /** Everything after the 8-byte header. */
  data: Uint8Array;
  /** The checksum field: parse reads it, emit writes it as given (0 when absent); see icmp6FillCsum. */
  csum?: number;
}

export function icmp6Parse(b: Uint8Array, off: number, len: number): Icmp6Repr {
  return {
    type: b[off + ICMP6_TYPE],
    code: b[off + ICMP6_CODE],
    rest: u32(b, off + ICMP6_REST),
    data: b.slice(off + ICMP6_HLEN, off + len),
    csum: u16(b, off + ICMP6_CSUM),
  };
}

export function icmp6EmitLen(r: Icmp6Repr): number {
  return ICMP6_HLEN + r.data.length;
}

/** Writes the whole message at `off`; returns its length. */
export function icmp6Emit(r: Icmp6Repr, b: Uint8Array, off: number): number {
  b[off + ICMP6_TYPE] = r.type;
  b[off + ICMP6_CODE] = r.code;
  setU16(b, off + ICMP6_CSUM, r.csum ?? 0);
  setU32(b, off + ICMP6_REST, r.rest);
  b.set(r.data, off + ICMP6_HLEN);
  return ICMP6_HLEN + r.data.length;
}

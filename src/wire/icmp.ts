/**
 * ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).
 *
 *   0       8       16              31
 *   | type  | code  |   checksum    |
 *   |   rest of header (4 bytes)    |   echo: id | seq; frag needed: unused | next-hop MTU;
 *   |   body ...                    |   errors: the invoking IP header + at least 8 bytes
 *
 * The checksum covers the whole message and has no pseudo-header.
 */
import { csumReplace16, csumVerifies, internetChecksum } from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { IPV4_HLEN } from './ipv4.ts';
import { Reason } from './reason.ts';

export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CSUM = 2;
export const ICMP_REST = 4;
export const ICMP_ID = 4;
export const ICMP_SEQ = 6;
/** Next-hop MTU of a fragmentation-needed message (RFC 1191 §4). */
export const ICMP_MTU = 6;
/** Octet pointer of a parameter problem. */
export const ICMP_POINTER = 4;
/** Gateway address of a redirect. */
export const ICMP_GATEWAY = 4;
export const ICMP_HLEN = 8;
/** What an error must carry of the invoking datagram past its IP header (RFC 792: 64 bits). */
export const ICMP_INNER_L4_MIN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;

/** Destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_SR_FAILED = 5;
export const ICMP_NET_UNKNOWN = 6;
export const ICMP_HOST_UNKNOWN = 7;
export const ICMP_NET_PROHIBITED = 9;
export const ICMP_HOST_PROHIBITED = 10;
export const ICMP_PKT_FILTERED = 13;

/** Time-exceeded codes. */
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

/** True for the types that carry the invoking datagram (the kernel's icmp_is_err list). */
export function icmpIsError(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAM_PROBLEM
  );
}

/**
 * The errors IPVS relates to a connection; others go to the local stack untouched
 * (ip_vs_in_icmp: destination unreachable, source quench, time exceeded).
 */
export function icmpIsIpvsRelated(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_TIME_EXCEEDED;
}

/**
 * Validates an untrusted ICMP message of `len` bytes (the IP payload) at `off`: ICMP_TRUNCATED
 * below 8 bytes, ICMP_BAD_CSUM when the checksum over the message fails. A frame tapped from the
 * wire has not been through icmp_rcv, and ip_vs_in_icmp drops related errors that fail it too.
 */
export function icmpCheck(b: Uint8Array, off: number, len: number): Reason {
  const n = off >= 0 ? Math.min(len, b.length - off) : -1;
  if (!(n >= ICMP_HLEN)) return Reason.ICMP_TRUNCATED;
  if (!csumVerifies(b, off, n)) return Reason.ICMP_BAD_CSUM;
  return Reason.OK;
}

/**
 * Locates the invoking datagram of an error message at `icmpOff` (`len` bytes of ICMP): its IPv4
 * header must be there with version 4 and a sane IHL, followed by at least 8 bytes of its L4
 * header (ports). The inner total length is not checked against what is present (the datagram is
 * cut short by design) and neither is the inner header checksum (routers may have mangled it).
 * Returns ICMP_TRUNCATED, ICMP_INNER_BAD (not an error type, wrong version, IHL < 5) or
 * ICMP_INNER_TRUNCATED.
 */
export function icmpInnerCheck(b: Uint8Array, icmpOff: number, len: number): Reason {
  const n = icmpOff >= 0 ? Math.min(len, b.length - icmpOff) : -1;
  if (!(n >= ICMP_HLEN)) return Reason.ICMP_TRUNCATED;
  if (!icmpIsError(b[icmpOff + ICMP_TYPE])) return Reason.ICMP_INNER_BAD;
  const rem = n - ICMP_HLEN;
  if (rem < IPV4_HLEN) return Reason.ICMP_INNER_TRUNCATED;
  const vi = b[icmpOff + ICMP_HLEN];
  if (vi >>> 4 !== 4 || (vi & 0x0f) < 5) return Reason.ICMP_INNER_BAD;
  if ((vi & 0x0f) * 4 + ICMP_INNER_L4_MIN > rem) return Reason.ICMP_INNER_TRUNCATED;
  return Reason.OK;
}

/** Offset of the embedded IPv4 header of an error. */
export function icmpInnerOff(icmpOff: number): number {
  return icmpOff + ICMP_HLEN;
}
/** Offset of the embedded L4 header (after icmpInnerCheck said OK). */
export function icmpInnerL4Off(b: Uint8Array, icmpOff: number): number {
  return icmpOff + ICMP_HLEN + (b[icmpOff + ICMP_HLEN] & 0x0f) * 4;
}

export function icmpType(b: Uint8Array, off: number): number {
  return b[off + ICMP_TYPE];
}
export function icmpCode(b: Uint8Array, off: number): number {
  return b[off + ICMP_CODE];
}
export function icmpCsum(b: Uint8Array, off: number): number {
  return u16(b, off + ICMP_CSUM);
}
/** Bytes 4..7 as a uint32 (meaning depends on the type). */
export function icmpRest(b: Uint8Array, off: number): number {
  return u32(b, off + ICMP_REST);
}
export function icmpEchoId(b: Uint8Array, off: number): number {
  return u16(b, off + ICMP_ID);
}
export function icmpEchoSeq(b: Uint8Array, off: number): number {
  return u16(b, off + ICMP_SEQ);
}
/** Next-hop MTU of a fragmentation-needed message (0 from pre-RFC 1191 routers). */
export function icmpFragMtu(b: Uint8Array, off: number): number {
  return u16(b, off + ICMP_MTU);
}
export function icmpIsFragNeeded(b: Uint8Array, off: number): boolean {
  return b[off + ICMP_TYPE] === ICMP_DEST_UNREACH && b[off + ICMP_CODE] === ICMP_FRAG_NEEDED;
}

/** Rewrites the next-hop MTU with an incremental checksum update (tunnel MTU relay). */
export function icmpSetFragMtu(b: Uint8Array, off: number, mtu: number): void {
  setField16(b, off, ICMP_MTU, mtu);
}
/** Rewrites the echo identifier with an incremental checksum update. */
export function icmpSetEchoId(b: Uint8Array, off: number, id: number): void {
  setField16(b, off, ICMP_ID, id);
}

function setField16(b: Uint8Array, off: number, at: number, v: number): void {
  const old = u16(b, off + at);
  setU16(b, off + at, v);
  setU16(b, off + ICMP_CSUM, csumReplace16(u16(b, off + ICMP_CSUM), old, v & 0xffff));
}

/** Computes the checksum over the `len`-byte message (after translating an embedded header). */
export function icmpFillCsum(b: Uint8Array, off: number, len: number): void {
  setU16(b, off + ICMP_CSUM, 0);
  setU16(b, off + ICMP_CSUM, internetChecksum(b, off, len));
}

export function icmpCsumOk(b: Uint8Array, off: number, len: number): boolean {
  return csumVerifies(b, off, len);
}

/** Bytes 4..7 of an echo message. */
export function icmpEchoRest(id: number, seq: number): number {
  return (((id & 0xffff) << 16) | (seq & 0xffff)) >>> 0;
}

/** Plain-object form of an ICMP message. */
export interface IcmpRepr {
  type: number;
  code: number;
  /** Bytes 4..7 as a uint32: icmpEchoRest(id, seq), the MTU for frag needed, pointer << 24, ... */
  rest: number;
  /** Everything after the 8-byte header: echo data, or the invoking datagram of an error. */
  data: Uint8Array;
  /** The checksum as read (parse only); emit always computes it. */
  csum?: number;
}

/** Parses the `len`-byte message at `off` (data is copied). */
export function icmpParse(b: Uint8Array, off: number, len: number): IcmpRepr {
  return {
    type: b[off + ICMP_TYPE],
    code: b[off + ICMP_CODE],
    rest: u32(b, off + ICMP_REST),
    data: b.slice(off + ICMP_HLEN, off + len),
    csum: u16(b, off + ICMP_CSUM),
  };
}

export function icmpEmitLen(r: IcmpRepr): number {
  return ICMP_HLEN + r.data.length;
}

/** Writes the whole message with a correct checksum at `off`; returns its length. */
export function icmpEmit(r: IcmpRepr, b: Uint8Array, off: number): number {
  const len = ICMP_HLEN + r.data.length;
  b[off + ICMP_TYPE] = r.type;
  b[off + ICMP_CODE] = r.code;
  setU32(b, off + ICMP_REST, r.rest);
  b.set(r.data, off + ICMP_HLEN);
  icmpFillCsum(b, off, len);
  return len;
}

/**
 * GRE (RFC 2784, with the key and sequence number extensions of RFC 2890), as the TUN forwarding
 * method uses it with `--tun-type gre` (ipvs_gre_encap → gre_build_header).
 *
 *   0 1 2 3 4     13   16                              31
 *   |C|R|K|S|s|Rec|Reserved0|Ver|       Protocol Type        |
 *   |      Checksum (if C)       |       Reserved1 (if C)     |
 *   |                      Key (if K)                         |
 *   |                 Sequence Number (if S)                  |
 *
 * The optional words come in the order checksum, key, sequence. The checksum covers the GRE header
 * and payload with the checksum field zero. R, s and Recur belong to RFC 1701 source routing.
 */
import { csumAdd, csumFold, internetChecksum } from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './ethernet.ts';
import { IPPROTO_GRE, IPPROTO_IPIP, ipv4Check, ipv4HeaderLen } from './ipv4.ts';
import {
  IPIP_OUTER_HLEN,
  tunnelCheckInner,
  tunnelInnerFields,
  tunnelInnerLen,
  tunnelMove,
  tunnelRoom,
  tunnelWriteOuterV4,
  type TunnelDecap,
  type TunnelParams,
} from './ipip.ts';
import { Reason } from './reason.ts';
import { TunFlag } from '../model/flags.ts';

export const GRE_FLAGS = 0;
export const GRE_PROTO = 2;
export const GRE_HLEN = 4;

export const GRE_FLAG_CSUM = 0x8000;
export const GRE_FLAG_ROUTING = 0x4000;
export const GRE_FLAG_KEY = 0x2000;
export const GRE_FLAG_SEQ = 0x1000;
export const GRE_FLAG_STRICT = 0x0800;
export const GRE_VERSION_MASK = 0x0007;
/**
 * RFC 2784 §2.3: a receiver MUST discard a packet when any of bits 1-5 is set (R, s and the top
 * Recur bit; bits 2 and 3 became K and S in RFC 2890). Bits 6-12 are sent as zero and ignored on
 * receipt, so they are not in this mask. The kernel's gre_parse_header only rejects R itself.
 */
export const GRE_BAD_FLAGS_MASK = 0x4c00;

/**
 * Validates an untrusted GRE header of `len` bytes at `off`: GRE_TRUNCATED when the base header or
 * the optional words its flags announce are cut; GRE_BAD_VERSION unless the version is 0 (1 is
 * PPTP's enhanced GRE, RFC 2637, not a tunnel LVS uses); GRE_BAD_FLAGS for R/s/Recur (see mask).
 * The checksum, when present, is verified separately by greCsumOk (it covers the payload).
 */
export function greCheck(b: Uint8Array, off: number, len: number): Reason {
  if (len < GRE_HLEN || off < 0 || off + GRE_HLEN > b.length) return Reason.GRE_TRUNCATED;
  const f = u16(b, off + GRE_FLAGS);
  if ((f & GRE_VERSION_MASK) !== 0) return Reason.GRE_BAD_VERSION;
  if ((f & GRE_BAD_FLAGS_MASK) !== 0) return Reason.GRE_BAD_FLAGS;
  const hl = greHeaderLen(b, off);
  if (hl > len || off + hl > b.length) return Reason.GRE_TRUNCATED;
  return Reason.OK;
}

/** gre_calc_hlen: 4 plus 4 for each of checksum, key and sequence. */
export function greHeaderLen(b: Uint8Array, off: number): number {
  return greCalcHlen(u16(b, off + GRE_FLAGS));
}
export function greCalcHlen(flags: number): number {
  return (
    GRE_HLEN +
    (flags & GRE_FLAG_CSUM ? 4 : 0) +
    (flags & GRE_FLAG_KEY ? 4 : 0) +
    (flags & GRE_FLAG_SEQ ? 4 : 0)
  );
}
export function greFlags(b: Uint8Array, off: number): number {
  return u16(b, off + GRE_FLAGS);
}
export function greVersion(b: Uint8Array, off: number): number {
  return b[off + 1] & GRE_VERSION_MASK;
}
/** Protocol type: the ethertype of the payload (0x0800 IPv4, 0x86dd IPv6). */
export function greProto(b: Uint8Array, off: number): number {
  return u16(b, off + GRE_PROTO);
}
export function greHasCsum(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x80) !== 0;
}
export function greHasKey(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x20) !== 0;
}
export function greHasSeq(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x10) !== 0;
}
/** The checksum field (only when greHasCsum). */
export function greCsum(b: Uint8Array, off: number): number {
  return u16(b, off + GRE_HLEN);
}
/** The key (only when greHasKey). */
export function greKey(b: Uint8Array, off: number): number {
  return u32(b, off + GRE_HLEN + (greHasCsum(b, off) ? 4 : 0));
}
/** The sequence number (only when greHasSeq). */
export function greSeq(b: Uint8Array, off: number): number {
  return u32(b, off + GRE_HLEN + (greHasCsum(b, off) ? 4 : 0) + (greHasKey(b, off) ? 4 : 0));
}

/**
 * True when there is no checksum, or when the checksum over the GRE header plus payload (`len`
 * bytes at `off`) verifies. Call after greCheck.
 */
export function greCsumOk(b: Uint8Array, off: number, len: number): boolean {
  if (!greHasCsum(b, off)) return true;
  return csumFold(csumAdd(b, off, len)) === 0xffff;
}

/** Fills the checksum over header + payload (`len` bytes at `off`); the C flag must be set. */
export function greFillCsum(b: Uint8Array, off: number, len: number): void {
  setU16(b, off + GRE_HLEN, 0);
  setU16(b, off + GRE_HLEN, internetChecksum(b, off, len));
}

/** Plain-object form of a GRE header. */
export interface GreRepr {
  /** Payload ethertype. */
  protocol: number;
  /** C flag: a checksum word is present (emit computes it over header + payload). */
  checksum: boolean;
  key?: number;
  seq?: number;
  /** Checksum field as read (parse only). */
  csum?: number;
}

export function greParse(b: Uint8Array, off: number): GreRepr {
  const r: GreRepr = { protocol: greProto(b, off), checksum: greHasCsum(b, off) };
  if (r.checksum) r.csum = greCsum(b, off);
  if (greHasKey(b, off)) r.key = greKey(b, off);
  if (greHasSeq(b, off)) r.seq = greSeq(b, off);
  return r;
}

function reprFlags(r: GreRepr): number {
  return (
    (r.checksum ? GRE_FLAG_CSUM : 0) |
    (r.key !== undefined ? GRE_FLAG_KEY : 0) |
    (r.seq !== undefined ? GRE_FLAG_SEQ : 0)
  );
}

export function greEmitLen(r: GreRepr): number {
  return greCalcHlen(reprFlags(r));
}

/**
 * Writes the header at `off` in gre_build_header's order (checksum, key, sequence); returns its
 * length. With `checksum`, the payload of `payloadLen` bytes must already follow the header: the
 * checksum covers both.
 */
export function greEmit(r: GreRepr, b: Uint8Array, off: number, payloadLen = 0): number {
  const flags = reprFlags(r);
  const hl = greCalcHlen(flags);
  setU16(b, off + GRE_FLAGS, flags);
  setU16(b, off + GRE_PROTO, r.protocol);
  let o = off + GRE_HLEN;
  if (r.checksum) {
    setU32(b, o, 0);
    o += 4;
  }
  if (r.key !== undefined) {
    setU32(b, o, r.key);
    o += 4;
  }
  if (r.seq !== undefined) setU32(b, o, r.seq);
  if (r.checksum) greFillCsum(b, off, hl + payloadLen);
  return hl;
}

/**
 * GRE encapsulation for the TUN forwarding method (ip_vs_tunnel_xmit + ipvs_gre_encap): the inner IP
 * packet moves right; outer IPv4 (protocol 47) + GRE (protocol type 0x0800 or 0x86dd by the inner
 * version; checksum word when CSUM is in p.tunFlags, computed over GRE header + payload; no key, no
 * sequence, as IPVS sends) go in front. `l3len` as in ipipEncapV4. Returns the new frame length
 * or -1 (frame untouched). An inner L4 checksum that is still partial must be completed first: the
 * GRE checksum covers the payload as it is.
 */
export function greEncapV4(
  b: Uint8Array,
  frameOff: number,
  l3off: number,
  l3len: number,
  cap: number,
  p: TunnelParams,
): number {
  const ilen = tunnelInnerLen(b, l3off, l3len);
  if (ilen < 0) return -1;
  const csum = (p.tunFlags & TunFlag.CSUM) !== 0;
  const hl = GRE_HLEN + (csum ? 4 : 0);
  const n = tunnelRoom(b, frameOff, l3off, ilen, cap, IPIP_OUTER_HLEN + hl);
  if (n < 0) return -1;
  const fields = tunnelInnerFields(b, l3off, p.pmtuDisc);
  tunnelMove(b, frameOff, l3off, ilen, IPIP_OUTER_HLEN + hl);
  const g = l3off + IPIP_OUTER_HLEN;
  setU16(b, g + GRE_FLAGS, csum ? GRE_FLAG_CSUM : 0);
  setU16(b, g + GRE_PROTO, (fields & 0xff) === IPPROTO_IPIP ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  if (csum) {
    setU32(b, g + GRE_HLEN, 0);
    greFillCsum(b, g, hl + ilen);
  }
  tunnelWriteOuterV4(b, l3off, IPIP_OUTER_HLEN + hl + ilen, IPPROTO_GRE, fields, p);
  return n;
}

/**
 * Real-server side of GRE: validates outer IPv4 (ipv4Check), requires protocol 47
 * (L4_PROTO_UNKNOWN otherwise), the GRE header (greCheck) and its checksum when present, then the
 * inner packet by protocol type (0x0800 / 0x86dd; any other payload, such as 0x6558 bridged
 * Ethernet, is IPIP_INNER_BAD). Key and sequence are accepted and ignored.
 *
 * A bad GRE checksum is GRE_BAD_CSUM.
 */
export function greDecap(b: Uint8Array, l3off: number, len: number, out: TunnelDecap): Reason {
  const r = ipv4Check(b, l3off, len);
  if (r !== Reason.OK) return r;
  if (b[l3off + 9] !== IPPROTO_GRE) return Reason.L4_PROTO_UNKNOWN;
  const hl = ipv4HeaderLen(b, l3off);
  const g = l3off + hl;
  const glen = u16(b, l3off + 2) - hl;
  const gr = greCheck(b, g, glen);
  if (gr !== Reason.OK) return gr;
  if (!greCsumOk(b, g, glen)) return Reason.GRE_BAD_CSUM;
  const proto = greProto(b, g);
  const ghl = greHeaderLen(b, g);
  if (proto === ETHERTYPE_IPV4) return tunnelCheckInner(b, g + ghl, glen - ghl, 4, out);
  if (proto === ETHERTYPE_IPV6) return tunnelCheckInner(b, g + ghl, glen - ghl, 6, out);
  return Reason.IPIP_INNER_BAD;
}

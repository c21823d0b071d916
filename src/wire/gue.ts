/**
 * Generic UDP Encapsulation (draft-ietf-intarea-gue; Linux fou/gue, include/net/gue.h), as the TUN
 * forwarding method uses it with `--tun-type gue` (ipvs_gue_encap).
 *
 *   0   2 3       8              16                              31
 *   |Ver|C| Hlen  |  Proto/ctype  |        Standard flags       |P|
 *   |            Private flags (present when P is set)            |
 *   |   remcsum: checksum start     |   remcsum: checksum offset    |
 *
 * Version 0 is the only one LVS sends. Hlen counts the optional words after the first one. The only
 * standard flag Linux knows is P (0x0001: a private-flags word follows); the only private flag is
 * REMCSUM (0x80000000: a 4-byte remote checksum offload option follows, draft-herbert-remotecsumoffload).
 * On the wire a GUE packet is outer IPv4 + UDP (dport = --tun-port) + GUE + inner IP packet.
 */
import { csumAdd, csumCompletePartial, csumFold, pseudoSumV4, udpCsumMangle } from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { IPPROTO_UDP, ipv4Check, ipv4HeaderLen } from './ipv4.ts';
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

export const GUE_HLEN = 4;
export const GUE_PROTO = 1;
export const GUE_FLAGS = 2;
/** Standard flag P: a 4-byte private-flags word is among the options. */
export const GUE_FLAG_PRIV = 0x0001;
export const GUE_LEN_PRIV = 4;
/** Private flag: a remote checksum offload option follows the private-flags word. */
export const GUE_PFLAG_REMCSUM = 0x80000000;
export const GUE_PLEN_REMCSUM = 4;
/** The UDP header in front of GUE (udp.ts has the full UDP view). */
export const GUE_UDP_HLEN = 8;
/** Per-packet overhead without options: outer IPv4 + UDP + GUE. */
export const GUE_OVERHEAD = IPIP_OUTER_HLEN + GUE_UDP_HLEN + GUE_HLEN;

/**
 * Validates an untrusted GUE header of a data or control message at `off` (`len` bytes of UDP
 * payload). GUE_TRUNCATED when the first word or the Hlen words are cut; GUE_BAD_VERSION unless
 * the version is 0; GUE_BAD_HLEN when the flags need more option space than Hlen gives, or carry a
 * flag nobody defines (validate_gue_flags: an unknown flag means unknown option sizes, so the
 * header cannot be walked). Stricter than the kernel in one place: a REMCSUM private flag must also
 * have its 4 option bytes inside Hlen (guehdr_priv_flags_len counts 0 for it).
 */
export function gueCheck(b: Uint8Array, off: number, len: number): Reason {
  if (len < GUE_HLEN || off < 0 || off + GUE_HLEN > b.length) return Reason.GUE_TRUNCATED;
  if (b[off] >>> 6 !== 0) return Reason.GUE_BAD_VERSION;
  const hl = gueHeaderLen(b, off);
  if (hl > len || off + hl > b.length) return Reason.GUE_TRUNCATED;
  const flags = u16(b, off + GUE_FLAGS);
  if ((flags & ~GUE_FLAG_PRIV) !== 0) return Reason.GUE_BAD_HLEN;
  if (flags & GUE_FLAG_PRIV) {
    let need = GUE_LEN_PRIV;
    if (hl - GUE_HLEN < need) return Reason.GUE_BAD_HLEN;
    const pflags = u32(b, off + GUE_HLEN);
    if ((pflags & ~GUE_PFLAG_REMCSUM) !== 0) return Reason.GUE_BAD_HLEN;
    if (pflags & GUE_PFLAG_REMCSUM) need += GUE_PLEN_REMCSUM;
    if (hl - GUE_HLEN < need) return Reason.GUE_BAD_HLEN;
  }
  return Reason.OK;
}

export function gueVersion(b: Uint8Array, off: number): number {
  return b[off] >>> 6;
}
/** The C bit: a control message (proto_ctype is a control type) rather than data. */
export function gueIsControl(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x20) !== 0;
}
/** Whole GUE header length in bytes: 4 + 4 × Hlen. */
export function gueHeaderLen(b: Uint8Array, off: number): number {
  return GUE_HLEN + (b[off] & 0x1f) * 4;
}
/** For data messages, the IP protocol of the payload (4 IPv4, 41 IPv6). */
export function gueProto(b: Uint8Array, off: number): number {
  return b[off + GUE_PROTO];
}
export function gueFlags(b: Uint8Array, off: number): number {
  return u16(b, off + GUE_FLAGS);
}
/** The private-flags word, 0 when the P flag is clear. Valid after gueCheck. */
export function guePrivFlags(b: Uint8Array, off: number): number {
  return u16(b, off + GUE_FLAGS) & GUE_FLAG_PRIV ? u32(b, off + GUE_HLEN) : 0;
}
export function gueHasRemcsum(b: Uint8Array, off: number): boolean {
  return (guePrivFlags(b, off) & GUE_PFLAG_REMCSUM) !== 0;
}
/** Remote checksum start, from the start of the encapsulated packet. Only when gueHasRemcsum. */
export function gueRemcsumStart(b: Uint8Array, off: number): number {
  return u16(b, off + GUE_HLEN + GUE_LEN_PRIV);
}
/** Where the checksum field is, from the start of the encapsulated packet. Only when gueHasRemcsum. */
export function gueRemcsumOffset(b: Uint8Array, off: number): number {
  return u16(b, off + GUE_HLEN + GUE_LEN_PRIV + 2);
}

/** Plain-object form of a GUE header. */
export interface GueRepr {
  control: boolean;
  /** Inner IP protocol for data messages, control type for control messages. */
  protoCtype: number;
  /**
   * Remote checksum offload option (sets P and REMCSUM). Both values count from the start of the
   * encapsulated packet: where checksumming starts, and where the checksum field is.
   */
  remcsum?: { start: number; offset: number };
}

export function gueParse(b: Uint8Array, off: number): GueRepr {
  const r: GueRepr = { control: gueIsControl(b, off), protoCtype: gueProto(b, off) };
  if (gueHasRemcsum(b, off)) r.remcsum = { start: gueRemcsumStart(b, off), offset: gueRemcsumOffset(b, off) };
  return r;
}

export function gueEmitLen(r: GueRepr): number {
  return GUE_HLEN + (r.remcsum ? GUE_LEN_PRIV + GUE_PLEN_REMCSUM : 0);
}

/** Writes the header at `off` (version 0, Hlen from the options); returns its length. */
export function gueEmit(r: GueRepr, b: Uint8Array, off: number): number {
  const hl = gueEmitLen(r);
  b[off] = (r.control ? 0x20 : 0) | ((hl - GUE_HLEN) >>> 2);
  b[off + GUE_PROTO] = r.protoCtype;
  setU16(b, off + GUE_FLAGS, r.remcsum ? GUE_FLAG_PRIV : 0);
  if (r.remcsum) {
    setU32(b, off + GUE_HLEN, GUE_PFLAG_REMCSUM);
    setU16(b, off + GUE_HLEN + GUE_LEN_PRIV, r.remcsum.start);
    setU16(b, off + GUE_HLEN + GUE_LEN_PRIV + 2, r.remcsum.offset);
  }
  return hl;
}

/**
 * GUE encapsulation for the TUN forwarding method (ip_vs_tunnel_xmit + ipvs_gue_encap). The inner IP
 * packet moves right; outer IPv4 (protocol 17) + UDP (sport = p.sport flow hash, dport = p.dport)
 * + GUE (version 0, proto_ctype 4 or 41) go in front. With REMCSUM in p.tunFlags and a partial inner
 * checksum (p.csumStart ≥ 0) the remote checksum option is added and the inner checksum is left
 * partial for the receiver to finish (without REMCSUM a partial inner checksum must be completed
 * first: nothing downstream would). The UDP checksum is computed when CSUM or REMCSUM is set
 * (udp_set_csum with nocheck = !check), else it is 0. `l3len` as in ipipEncapV4. Returns the new
 * frame length or -1 (frame untouched).
 */
export function gueEncapV4(
  b: Uint8Array,
  frameOff: number,
  l3off: number,
  l3len: number,
  cap: number,
  p: TunnelParams,
): number {
  const ilen = tunnelInnerLen(b, l3off, l3len);
  if (ilen < 0) return -1;
  const remcsum = (p.tunFlags & TunFlag.REMCSUM) !== 0 && p.csumStart >= 0;
  if (remcsum && (p.csumOffset < 0 || p.csumStart + p.csumOffset + 2 > ilen)) return -1;
  const gueLen = GUE_HLEN + (remcsum ? GUE_LEN_PRIV + GUE_PLEN_REMCSUM : 0);
  const gap = IPIP_OUTER_HLEN + GUE_UDP_HLEN + gueLen;
  const n = tunnelRoom(b, frameOff, l3off, ilen, cap, gap);
  if (n < 0) return -1;
  const fields = tunnelInnerFields(b, l3off, p.pmtuDisc);
  tunnelMove(b, frameOff, l3off, ilen, gap);
  const u = l3off + IPIP_OUTER_HLEN;
  const g = u + GUE_UDP_HLEN;
  b[g] = (gueLen - GUE_HLEN) >>> 2;
  b[g + GUE_PROTO] = fields & 0xff;
  setU16(b, g + GUE_FLAGS, remcsum ? GUE_FLAG_PRIV : 0);
  if (remcsum) {
    setU32(b, g + GUE_HLEN, GUE_PFLAG_REMCSUM);
    setU16(b, g + GUE_HLEN + GUE_LEN_PRIV, p.csumStart);
    setU16(b, g + GUE_HLEN + GUE_LEN_PRIV + 2, p.csumStart + p.csumOffset);
  }
  const ulen = GUE_UDP_HLEN + gueLen + ilen;
  setU16(b, u, p.sport);
  setU16(b, u + 2, p.dport);
  setU16(b, u + 4, ulen);
  setU16(b, u + 6, 0);
  tunnelWriteOuterV4(b, l3off, IPIP_OUTER_HLEN + ulen, IPPROTO_UDP, fields, p);
  if (p.tunFlags & (TunFlag.CSUM | TunFlag.REMCSUM)) {
    const sum = csumAdd(b, u, ulen, pseudoSumV4(p.src, p.dst, IPPROTO_UDP, ulen));
    setU16(b, u + 6, udpCsumMangle(~csumFold(sum) & 0xffff));
  }
  return n;
}

/**
 * Real-server side of GUE: validates outer IPv4 (ipv4Check), requires UDP (L4_PROTO_UNKNOWN
 * otherwise), the UDP length (UDP_TRUNCATED / UDP_BAD_LEN) and, when non-zero, the UDP checksum
 * (UDP_BAD_CSUM), then the GUE header (gueCheck). Control messages and payloads other than IPv4/IPv6
 * are L4_PROTO_UNKNOWN (the kernel's fou drops them too); the inner packet is checked with
 * tunnelCheckInner. The caller matches the UDP destination port to its --tun-port first.
 *
 * With a remote checksum option the inner L4 checksum is completed in place (this function then
 * writes to `b`); an option pointing outside the inner packet is GUE_BAD_HLEN.
 */
export function gueDecap(b: Uint8Array, l3off: number, len: number, out: TunnelDecap): Reason {
  const r = ipv4Check(b, l3off, len);
  if (r !== Reason.OK) return r;
  if (b[l3off + 9] !== IPPROTO_UDP) return Reason.L4_PROTO_UNKNOWN;
  const hl = ipv4HeaderLen(b, l3off);
  const avail = u16(b, l3off + 2) - hl;
  const u = l3off + hl;
  if (avail < GUE_UDP_HLEN) return Reason.UDP_TRUNCATED;
  const ulen = u16(b, u + 4);
  if (ulen < GUE_UDP_HLEN || ulen > avail) return Reason.UDP_BAD_LEN;
  if (u16(b, u + 6) !== 0) {
    const ps = pseudoSumV4(u32(b, l3off + 12), u32(b, l3off + 16), IPPROTO_UDP, ulen);
    if (csumFold(csumAdd(b, u, ulen, ps)) !== 0xffff) return Reason.UDP_BAD_CSUM;
  }
  const g = u + GUE_UDP_HLEN;
  const gr = gueCheck(b, g, ulen - GUE_UDP_HLEN);
  if (gr !== Reason.OK) return gr;
  if (gueIsControl(b, g)) return Reason.L4_PROTO_UNKNOWN;
  const proto = gueProto(b, g);
  if (proto !== 4 && proto !== 41) return Reason.L4_PROTO_UNKNOWN;
  const ghl = gueHeaderLen(b, g);
  const ir = tunnelCheckInner(b, g + ghl, ulen - GUE_UDP_HLEN - ghl, proto === 4 ? 4 : 6, out);
  if (ir !== Reason.OK) return ir;
  if (gueHasRemcsum(b, g)) {
    // gue_remcsum / skb_remcsum_process: the sender left the inner checksum partial; finish it.
    const start = gueRemcsumStart(b, g);
    const field = gueRemcsumOffset(b, g);
    if (start > out.innerLen || field < start || field + 2 > out.innerLen) return Reason.GUE_BAD_HLEN;
    csumCompletePartial(b, out.innerOff + start, out.innerLen - start, out.innerOff + field, true);
  }
  return Reason.OK;
}

/**
 * IP-in-IP (RFC 2003: IPv4 protocol 4; RFC 4213: IPv6-in-IPv4, protocol 41) and the pieces every
 * LVS tunnel shares: the outer IPv4 header the director writes, and the inner-packet checks the
 * real-server side needs after stripping an encapsulation.
 *
 *   frameOff        l3off                 l3off+20
 *   | L2 header ... | outer IPv4 (IHL 5) | inner IPv4 or IPv6 packet ... |
 *
 * Encapsulation is done in place: the inner packet moves right inside the caller's buffer (memmove),
 * the L2 header stays where it is, and the new headers go into the gap. Nothing is allocated; the
 * outer-header inputs come from a caller-owned TunnelParams object that is reused for every packet.
 */
import { setU16, setU32, u16 } from './bytes.ts';
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './ethernet.ts';
import {
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPV4_FLAG_DF,
  IPV4_HLEN,
  ipv4Check,
  ipv4FillCsum,
  ipv4HeaderLen,
} from './ipv4.ts';
import { Reason } from './reason.ts';

/** The outer header LVS writes never carries options (ihl = 5). */
export const IPIP_OUTER_HLEN = IPV4_HLEN;
/** The fixed IPv6 header, for inner packets (ipv6.ts has the full IPv6 view). */
const INNER_IPV6_HLEN = 40;

/** ECN codepoints (RFC 3168 §5), the low two bits of the TOS / traffic class byte. */
export const ECN_MASK = 3;
export const ECN_ECT_0 = 2;
export const ECN_CE = 3;

/**
 * Outer-header inputs for one tunnelled packet, i.e. a dest's tunnel settings plus the route's
 * answers. Callers keep one of these and overwrite its fields per packet (no per-packet objects).
 * TTL, TOS and DF are not here: they are derived from the inner header, as the kernel does.
 */
export interface TunnelParams {
  /** Outer source: the route's preferred source address toward the real server. */
  src: number;
  /** Outer destination: the real server (cp->daddr). */
  dst: number;
  /** Outer identification (the kernel's ip_select_ident; the caller keeps the counter). */
  id: number;
  /** The pmtu_disc sysctl: when set, DF is copied from an inner IPv4 header; when clear, DF is 0. */
  pmtuDisc: boolean;
  /** IP_VS_TUNNEL_ENCAP_FLAG_* bits (TunFlag: CSUM 1, REMCSUM 2); used by GUE and GRE. */
  tunFlags: number;
  /** GUE: UDP source port, a flow hash supplied by the caller (the kernel's udp_flow_src_port). */
  sport: number;
  /** GUE: UDP destination port (the dest's --tun-port). */
  dport: number;
  /**
   * GUE remote checksum offload: where the inner L4 checksum coverage starts, counted from the
   * inner IP header, when the inner checksum is still partial (CHECKSUM_PARTIAL); -1 when the
   * inner checksum is complete (then no option is written, as in ipvs_gue_encap).
   */
  csumStart: number;
  /** GUE remote checksum offload: offset of the checksum field from csumStart (TCP 16, UDP 6). */
  csumOffset: number;
}

export function newTunnelParams(): TunnelParams {
  return {
    src: 0,
    dst: 0,
    id: 0,
    pmtuDisc: true,
    tunFlags: 0,
    sport: 0,
    dport: 0,
    csumStart: -1,
    csumOffset: 0,
  };
}

/**
 * RFC 3168 §9.1.1 full-functionality ECN encapsulation (the kernel's INET_ECN_encapsulate, called by
 * ip_vs_prepare_tunneled_skb with the inner dsfield as both arguments): the outer TOS is the inner
 * one, except that an inner CE becomes ECT(0) outside, so a router on the tunnel path that marks CE
 * is not confused with congestion already experienced before the tunnel.
 */
export function ecnEncapsulate(innerTos: number): number {
  const t = innerTos & 0xff;
  return (t & ECN_MASK) === ECN_CE ? (t & ~ECN_MASK) | ECN_ECT_0 : t;
}

/**
 * The inner packet's own length: its IPv4 total length or 40 + the IPv6 payload length. Ethernet
 * padding after it (a short frame padded to 60 bytes) is not part of it and is not tunnelled, as
 * the kernel's skb was already trimmed by ip_rcv. Returns -1 when the bytes at l3off are not an IP
 * header, or the packet claims more than the `l3len` bytes available.
 */
export function tunnelInnerLen(b: Uint8Array, l3off: number, l3len: number): number {
  if (l3len < 1 || l3off < 0 || l3off + l3len > b.length) return -1;
  const ver = b[l3off] >>> 4;
  if (ver === 4) {
    if (l3len < IPV4_HLEN) return -1;
    const hl = ipv4HeaderLen(b, l3off);
    const tot = u16(b, l3off + 2);
    return hl < IPV4_HLEN || tot < hl || tot > l3len ? -1 : tot;
  }
  if (ver === 6) {
    if (l3len < INNER_IPV6_HLEN) return -1;
    const n = INNER_IPV6_HLEN + u16(b, l3off + 4);
    return n > l3len ? -1 : n;
  }
  return -1;
}

/**
 * Reads what the outer header copies from the inner one (ip_vs_prepare_tunneled_skb) and returns it
 * packed into one number so the hot path allocates nothing:
 *   bits 0-7 protocol for the outer header (4 for IPv4 inner, 41 for IPv6 inner),
 *   bits 8-15 outer TOS (ecnEncapsulate of the inner TOS / traffic class),
 *   bits 16-23 outer TTL (the inner TTL / hop limit, already decremented by the caller),
 *   bit 24 DF (inner DF when pmtuDisc; always 0 for IPv6 inner).
 * Call after tunnelInnerLen accepted the packet. For an IPv4 inner it also recomputes the inner
 * header checksum, as the kernel does ("fix old IP header checksum").
 */
export function tunnelInnerFields(b: Uint8Array, l3off: number, pmtuDisc: boolean): number {
  if (b[l3off] >>> 4 === 6) {
    const tclass = ((b[l3off] & 0x0f) << 4) | (b[l3off + 1] >>> 4);
    return IPPROTO_IPV6 | (ecnEncapsulate(tclass) << 8) | (b[l3off + 7] << 16);
  }
  ipv4FillCsum(b, l3off);
  const df = pmtuDisc && (u16(b, l3off + 6) & IPV4_FLAG_DF) !== 0 ? 1 : 0;
  return IPPROTO_IPIP | (ecnEncapsulate(b[l3off + 1]) << 8) | (b[l3off + 8] << 16) | (df << 24);
}

/**
 * Writes the outer IPv4 header the way ip_vs_tunnel_xmit fills it: version 4, ihl 5, frag_off = DF
 * or 0, the given protocol, TOS and TTL from the inner header, daddr = RIP, saddr = route source,
 * ip_select_ident, then the header checksum. `fields` is a tunnelInnerFields result.
 */
export function tunnelWriteOuterV4(
  b: Uint8Array,
  off: number,
  totalLen: number,
  proto: number,
  fields: number,
  p: TunnelParams,
): void {
  b[off] = 0x45;
  b[off + 1] = (fields >>> 8) & 0xff;
  setU16(b, off + 2, totalLen);
  setU16(b, off + 4, p.id & 0xffff);
  setU16(b, off + 6, (fields >>> 24) & 1 ? IPV4_FLAG_DF : 0);
  b[off + 8] = (fields >>> 16) & 0xff;
  b[off + 9] = proto;
  setU32(b, off + 12, p.src);
  setU32(b, off + 16, p.dst);
  ipv4FillCsum(b, off);
}

/**
 * The frame length after inserting `gap` bytes of tunnel headers in front of the inner packet, or -1
 * when that does not fit the frame slot (`cap` bytes from frameOff, and the buffer) or the outer
 * total length would pass 65535. Pure: encapsulators call it before touching the frame.
 */
export function tunnelRoom(
  b: Uint8Array,
  frameOff: number,
  l3off: number,
  l3len: number,
  cap: number,
  gap: number,
): number {
  const l2 = l3off - frameOff;
  const newLen = l2 + gap + l3len;
  if (frameOff < 0 || l2 < 0 || l3len < 0 || gap + l3len > 0xffff) return -1;
  if (newLen > cap || frameOff + newLen > b.length) return -1;
  return newLen;
}

/**
 * Moves the inner packet right by `gap` (memmove) and switches the L2 ethertype to IPv4, since the
 * inner may have been IPv6. Call after tunnelRoom said it fits.
 */
export function tunnelMove(b: Uint8Array, frameOff: number, l3off: number, l3len: number, gap: number): void {
  b.copyWithin(l3off + gap, l3off, l3off + l3len);
  if (l3off - frameOff >= ETH_HLEN) setU16(b, l3off - 2, ETHERTYPE_IPV4);
}

/**
 * IPIP / IPv6-in-IPv4 encapsulation for the TUN forwarding method (ip_vs_tunnel_xmit with tun_type
 * ipip). The inner IP packet at l3off (`l3len` bytes available; see tunnelInnerLen) moves right by
 * 20 bytes; an outer IPv4 header (protocol 4 for an IPv4 inner, 41 for IPv6) is written at l3off.
 * Returns the new frame length counted from frameOff, or -1 (frame untouched) when the inner is not
 * IP or the result does not fit in `cap`.
 */
export function ipipEncapV4(
  b: Uint8Array,
  frameOff: number,
  l3off: number,
  l3len: number,
  cap: number,
  p: TunnelParams,
): number {
  const ilen = tunnelInnerLen(b, l3off, l3len);
  if (ilen < 0) return -1;
  const n = tunnelRoom(b, frameOff, l3off, ilen, cap, IPIP_OUTER_HLEN);
  if (n < 0) return -1;
  const fields = tunnelInnerFields(b, l3off, p.pmtuDisc);
  tunnelMove(b, frameOff, l3off, ilen, IPIP_OUTER_HLEN);
  tunnelWriteOuterV4(b, l3off, IPIP_OUTER_HLEN + ilen, fields & 0xff, fields, p);
  return n;
}

/** Where a decapsulated inner packet is; a caller-owned object reused across packets. */
export interface TunnelDecap {
  /** Offset of the inner IP header in the buffer. */
  innerOff: number;
  /** Inner packet length: its own total length (IPv4) or 40 + payload length (IPv6). */
  innerLen: number;
  /** 4 for an IPv4 inner packet, 6 for IPv6. */
  innerVersion: number;
}

export function newTunnelDecap(): TunnelDecap {
  return { innerOff: 0, innerLen: 0, innerVersion: 0 };
}

/**
 * Validates the inner packet found after the tunnel headers (`avail` bytes at `off`), expecting IP
 * version `ver`. IPv4 goes through ipv4Check; an inner fragment is fine (the tunnel endpoint does
 * not reassemble, the inner stack does). IPv6 gets the fixed-header checks only. Any failure is
 * IPIP_INNER_BAD, so drop counters tell inner garbage apart from a broken outer header.
 */
export function tunnelCheckInner(
  b: Uint8Array,
  off: number,
  avail: number,
  ver: number,
  out: TunnelDecap,
): Reason {
  if (avail < 1 || off + avail > b.length || b[off] >>> 4 !== ver) return Reason.IPIP_INNER_BAD;
  if (ver === 4) {
    const r = ipv4Check(b, off, avail);
    if (r !== Reason.OK && r !== Reason.IPV4_FRAGMENT) return Reason.IPIP_INNER_BAD;
    out.innerLen = u16(b, off + 2);
  } else if (ver === 6) {
    if (avail < INNER_IPV6_HLEN) return Reason.IPIP_INNER_BAD;
    // A zero payload length is an empty packet here: a jumbogram (RFC 2675) cannot fit in a frame.
    const plen = u16(b, off + 4);
    if (INNER_IPV6_HLEN + plen > avail) return Reason.IPIP_INNER_BAD;
    out.innerLen = INNER_IPV6_HLEN + plen;
  } else {
    return Reason.IPIP_INNER_BAD;
  }
  out.innerOff = off;
  out.innerVersion = ver;
  return Reason.OK;
}

/**
 * Real-server side of IPIP: validates the outer IPv4 header (ipv4Check; an outer fragment is
 * refused as IPV4_FRAGMENT, nothing here reassembles), requires protocol 4 or 41 (else
 * L4_PROTO_UNKNOWN) and validates the inner packet (IPIP_INNER_BAD). On OK, `out` says where the
 * inner packet is. Never throws; reads only b[l3off, l3off+len).
 */
export function ipipDecap(b: Uint8Array, l3off: number, len: number, out: TunnelDecap): Reason {
  const r = ipv4Check(b, l3off, len);
  if (r !== Reason.OK) return r;
  const proto = b[l3off + 9];
  if (proto !== IPPROTO_IPIP && proto !== IPPROTO_IPV6) return Reason.L4_PROTO_UNKNOWN;
  const hl = ipv4HeaderLen(b, l3off);
  const tot = u16(b, l3off + 2);
  return tunnelCheckInner(b, l3off + hl, tot - hl, proto === IPPROTO_IPIP ? 4 : 6, out);
}

/**
 * After a successful decap, moves the inner packet back to l3off (over the tunnel headers) and sets
 * the L2 ethertype for its version, so the frame can be handed on as if it had arrived bare.
 * Returns the new frame length counted from frameOff.
 */
export function tunnelStrip(b: Uint8Array, frameOff: number, l3off: number, d: TunnelDecap): number {
  b.copyWithin(l3off, d.innerOff, d.innerOff + d.innerLen);
  if (l3off - frameOff >= ETH_HLEN)
    setU16(b, l3off - 2, d.innerVersion === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  return l3off - frameOff + d.innerLen;
}

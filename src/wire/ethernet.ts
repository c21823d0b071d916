/**
 * Ethernet II with at most one 802.1Q tag.
 *
 *   0      6      12        14 (untagged)            18 (tagged)
 *   | dst | src | ethertype |  or  | 0x8100 | TCI | ethertype |
 */
import { mac48, setMac48, setU16, u16 } from './bytes.ts';
import { Reason } from './reason.ts';

export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
export const ETH_HLEN = 14;
export const VLAN_TCI = 14;
export const VLAN_INNER_TYPE = 16;
export const VLAN_HLEN = 18;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;

/** The largest frame we accept: 64 KiB GSO/GRO super-frames plus the L2 header. */
export const ETH_MAX_FRAME = 65535 + VLAN_HLEN;

/** Validates the L2 header of an untrusted frame of `len` bytes at `off`. */
export function ethCheck(b: Uint8Array, off: number, len: number): Reason {
  if (len > ETH_MAX_FRAME) return Reason.FRAME_OVERSIZED;
  if (len < ETH_HLEN || off + len > b.length) return Reason.ETH_TRUNCATED;
  if (u16(b, off + ETH_TYPE) === ETHERTYPE_VLAN && len < VLAN_HLEN) return Reason.VLAN_TRUNCATED;
  return Reason.OK;
}

export function ethDst(b: Uint8Array, off: number): number {
  return mac48(b, off + ETH_DST);
}
export function ethSrc(b: Uint8Array, off: number): number {
  return mac48(b, off + ETH_SRC);
}
export function ethSetDst(b: Uint8Array, off: number, mac: number): void {
  setMac48(b, off + ETH_DST, mac);
}
export function ethSetSrc(b: Uint8Array, off: number, mac: number): void {
  setMac48(b, off + ETH_SRC, mac);
}
export function ethIsTagged(b: Uint8Array, off: number): boolean {
  return u16(b, off + ETH_TYPE) === ETHERTYPE_VLAN;
}
/** The payload's ethertype (after the tag when tagged). */
export function ethType(b: Uint8Array, off: number): number {
  const t = u16(b, off + ETH_TYPE);
  return t === ETHERTYPE_VLAN ? u16(b, off + VLAN_INNER_TYPE) : t;
}
/** Header length: 14, or 18 with a tag. */
export function ethHeaderLen(b: Uint8Array, off: number): number {
  return u16(b, off + ETH_TYPE) === ETHERTYPE_VLAN ? VLAN_HLEN : ETH_HLEN;
}
export function ethVlanId(b: Uint8Array, off: number): number {
  return u16(b, off + VLAN_TCI) & 0x0fff;
}
export function ethIsBroadcast(b: Uint8Array, off: number): boolean {
  return ethDst(b, off) === 0xffffffffffff;
}
export function ethIsMulticast(b: Uint8Array, off: number): boolean {
  return (b[off + ETH_DST] & 1) === 1;
}

/** Plain-object form for tests and control-plane frames. */
export interface EthRepr {
  dst: number;
  src: number;
  ethertype: number;
  /** 802.1Q tag: priority (PCP 3 bits), DEI, VLAN id. Absent when untagged. */
  vlan?: { pcp: number; dei: boolean; vid: number };
}

export function ethParse(b: Uint8Array, off: number): EthRepr {
  const r: EthRepr = { dst: ethDst(b, off), src: ethSrc(b, off), ethertype: ethType(b, off) };
  if (ethIsTagged(b, off)) {
    const tci = u16(b, off + VLAN_TCI);
    r.vlan = { pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff };
  }
  return r;
}

export function ethEmitLen(r: EthRepr): number {
  return r.vlan ? VLAN_HLEN : ETH_HLEN;
}

/** Writes the header at `off`; returns its length. */
export function ethEmit(r: EthRepr, b: Uint8Array, off: number): number {
  setMac48(b, off + ETH_DST, r.dst);
  setMac48(b, off + ETH_SRC, r.src);
  if (r.vlan) {
    setU16(b, off + ETH_TYPE, ETHERTYPE_VLAN);
    setU16(b, off + VLAN_TCI, ((r.vlan.pcp & 7) << 13) | (r.vlan.dei ? 0x1000 : 0) | (r.vlan.vid & 0xfff));
    setU16(b, off + VLAN_INNER_TYPE, r.ethertype);
    return VLAN_HLEN;
  }
  setU16(b, off + ETH_TYPE, r.ethertype);
  return ETH_HLEN;
}

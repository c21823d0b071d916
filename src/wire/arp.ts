/**
 * ARP for IPv4 over Ethernet (RFC 826). Nothing else (other hardware or protocol types) is ours
 * to answer, so anything else is ARP_UNSUPPORTED.
 *
 *   0        2        4    5    6      8        14       18       24       28
 *   | htype | ptype | hlen|plen| op  | sender MAC | sender IP | target MAC | target IP |
 */
import { mac48, setMac48, setU16, setU32, u16, u32 } from './bytes.ts';
import {
  ETH_DST,
  ETH_HLEN,
  ETH_SRC,
  ETH_TYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ethHeaderLen,
  ethSetDst,
  ethSetSrc,
} from './ethernet.ts';
import { Reason } from './reason.ts';

export const ARP_HTYPE = 0;
export const ARP_PTYPE = 2;
export const ARP_HLEN_FIELD = 4;
export const ARP_PLEN_FIELD = 5;
export const ARP_OP = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;

export const ARP_HTYPE_ETHER = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

/** Bytes written by arpWriteFrame: Ethernet header plus the ARP packet, no padding. */
export const ARP_FRAME_LEN = ETH_HLEN + ARP_LEN;

const MAC_BROADCAST = 0xffffffffffff;

/** Validates an untrusted ARP packet of `len` bytes at `off`. */
export function arpCheck(b: Uint8Array, off: number, len: number): Reason {
  if (!(off >= 0 && len >= ARP_LEN && off + ARP_LEN <= b.length)) return Reason.ARP_TRUNCATED;
  if (
    u16(b, off + ARP_HTYPE) !== ARP_HTYPE_ETHER ||
    u16(b, off + ARP_PTYPE) !== ETHERTYPE_IPV4 ||
    b[off + ARP_HLEN_FIELD] !== 6 ||
    b[off + ARP_PLEN_FIELD] !== 4
  )
    return Reason.ARP_UNSUPPORTED;
  const op = u16(b, off + ARP_OP);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return Reason.ARP_BAD_OP;
  return Reason.OK;
}

export function arpOp(b: Uint8Array, off: number): number {
  return u16(b, off + ARP_OP);
}
export function arpSenderMac(b: Uint8Array, off: number): number {
  return mac48(b, off + ARP_SHA);
}
export function arpSenderIp(b: Uint8Array, off: number): number {
  return u32(b, off + ARP_SPA);
}
export function arpTargetMac(b: Uint8Array, off: number): number {
  return mac48(b, off + ARP_THA);
}
export function arpTargetIp(b: Uint8Array, off: number): number {
  return u32(b, off + ARP_TPA);
}
export function arpSetOp(b: Uint8Array, off: number, op: number): void {
  setU16(b, off + ARP_OP, op);
}
export function arpSetSenderMac(b: Uint8Array, off: number, mac: number): void {
  setMac48(b, off + ARP_SHA, mac);
}
export function arpSetSenderIp(b: Uint8Array, off: number, ip: number): void {
  setU32(b, off + ARP_SPA, ip);
}
export function arpSetTargetMac(b: Uint8Array, off: number, mac: number): void {
  setMac48(b, off + ARP_THA, mac);
}
export function arpSetTargetIp(b: Uint8Array, off: number, ip: number): void {
  setU32(b, off + ARP_TPA, ip);
}

/**
 * Gratuitous: the sender announces its own address (sender IP = target IP), as a request or a
 * reply. Such packets update caches but must not be answered.
 */
export function arpIsGratuitous(b: Uint8Array, off: number): boolean {
  return u32(b, off + ARP_SPA) === u32(b, off + ARP_TPA);
}

/**
 * Turns the request at `off` into our reply in place (RFC 826 "swap the sender and target
 * fields, put in the local hardware address, set the opcode to reply"): the requester becomes the
 * target, and we claim the IP it asked for. The Ethernet header is left alone (see
 * arpMakeReplyFrameInPlace).
 */
export function arpMakeReplyInPlace(b: Uint8Array, off: number, ourMac: number): void {
  const askedIp = u32(b, off + ARP_TPA);
  // Requester's MAC and IP move to the target slots (6 + 4 contiguous bytes).
  b.copyWithin(off + ARP_THA, off + ARP_SHA, off + ARP_SHA + 10);
  setMac48(b, off + ARP_SHA, ourMac);
  setU32(b, off + ARP_SPA, askedIp);
  setU16(b, off + ARP_OP, ARP_OP_REPLY);
}

/**
 * The same for a whole frame at `ethOff` (tagged or not): the reply goes back to the requester's
 * MAC from ours. Returns the frame length up to the end of the ARP packet.
 */
export function arpMakeReplyFrameInPlace(b: Uint8Array, ethOff: number, ourMac: number): number {
  const arpOff = ethOff + ethHeaderLen(b, ethOff);
  ethSetDst(b, ethOff, mac48(b, arpOff + ARP_SHA));
  ethSetSrc(b, ethOff, ourMac);
  arpMakeReplyInPlace(b, arpOff, ourMac);
  return arpOff - ethOff + ARP_LEN;
}

/**
 * Writes an untagged Ethernet + ARP frame at `off` and returns its length (ARP_FRAME_LEN, 42;
 * the NIC pads to the 60-byte minimum). Control-plane helper, allocation free all the same.
 */
export function arpWriteFrame(
  b: Uint8Array,
  off: number,
  ethDst: number,
  op: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): number {
  setMac48(b, off + ETH_DST, ethDst);
  setMac48(b, off + ETH_SRC, senderMac);
  setU16(b, off + ETH_TYPE, ETHERTYPE_ARP);
  writeArp(b, off + ETH_HLEN, op, senderMac, senderIp, targetMac, targetIp);
  return ARP_FRAME_LEN;
}

/** A broadcast "who has targetIp, tell senderIp" request (target MAC zero, as Linux sends it). */
export function arpWriteRequest(
  b: Uint8Array,
  off: number,
  senderMac: number,
  senderIp: number,
  targetIp: number,
): number {
  return arpWriteFrame(b, off, MAC_BROADCAST, ARP_OP_REQUEST, senderMac, senderIp, 0, targetIp);
}

/**
 * A gratuitous ARP announcing `ip` at `mac`, laid out as keepalived sends it after a VRRP
 * takeover (send_gratuitous_arp_immediate: broadcast request, sender = target = the VIP,
 * target MAC all-ones).
 */
export function arpWriteGratuitous(b: Uint8Array, off: number, mac: number, ip: number): number {
  return arpWriteFrame(b, off, MAC_BROADCAST, ARP_OP_REQUEST, mac, ip, MAC_BROADCAST, ip);
}

/** Plain-object form of an Ethernet/IPv4 ARP packet. */
export interface ArpRepr {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export function arpParse(b: Uint8Array, off: number): ArpRepr {
  return {
    op: arpOp(b, off),
    senderMac: arpSenderMac(b, off),
    senderIp: arpSenderIp(b, off),
    targetMac: arpTargetMac(b, off),
    targetIp: arpTargetIp(b, off),
  };
}

export function arpEmitLen(_r: ArpRepr): number {
  return ARP_LEN;
}

/** Writes the ARP packet (no Ethernet header) at `off`; returns its length. */
export function arpEmit(r: ArpRepr, b: Uint8Array, off: number): number {
  writeArp(b, off, r.op, r.senderMac, r.senderIp, r.targetMac, r.targetIp);
  return ARP_LEN;
}

function writeArp(
  b: Uint8Array,
  a: number,
  op: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): void {
  setU16(b, a + ARP_HTYPE, ARP_HTYPE_ETHER);
  setU16(b, a + ARP_PTYPE, ETHERTYPE_IPV4);
  b[a + ARP_HLEN_FIELD] = 6;
  b[a + ARP_PLEN_FIELD] = 4;
  setU16(b, a + ARP_OP, op);
  setMac48(b, a + ARP_SHA, senderMac);
  setU32(b, a + ARP_SPA, senderIp);
  setMac48(b, a + ARP_THA, targetMac);
  setU32(b, a + ARP_TPA, targetIp);
}

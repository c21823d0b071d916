/**
 * Locally generated ICMP errors (the kernel's icmp_send / icmpv6_send as IPVS uses them: port
 * unreachable from ip_vs_leave, fragmentation needed / packet too big from
 * ensure_mtu_is_adequate, time exceeded from decrement_ttl). The received frame is turned into
 * the error in place: the offending IP packet moves back to become the quoted datagram, and new
 * IP and ICMP headers go in front of it, so nothing is allocated.
 */
import { setU16, setU32, u16, u32 } from '../wire/bytes.ts';
import { pseudoSumV6, internetChecksum } from '../wire/checksum.ts';
import { ETH_DST, ETH_SRC } from '../wire/ethernet.ts';
import { mac48, setMac48 } from '../wire/bytes.ts';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, ipv4FillCsum } from '../wire/ipv4.ts';

/** RFC 1812 §4.3.2.3: an ICMPv4 error is at most 576 bytes. */
const ICMP4_MAX = 576;
/** RFC 4443 §2.4 (c): an ICMPv6 error fits the minimum MTU of 1280 bytes. */
const ICMP6_MAX = 1280;

function swapMacs(b: Uint8Array, ethOff: number, ourMac: number): void {
  const peer = mac48(b, ethOff + ETH_SRC);
  setMac48(b, ethOff + ETH_DST, peer);
  setMac48(b, ethOff + ETH_SRC, ourMac);
}

/**
 * Replaces the IPv4 packet at `l3off` (total length `l3len`) with an ICMP error to its source.
 * `rest` is the 32-bit word after the checksum (the MTU for FRAG_NEEDED). Returns the new frame
 * length, or -1 when the buffer (capacity `cap` from `ethOff`) cannot hold it.
 */
export function icmpSendInPlace4(
  b: Uint8Array,
  ethOff: number,
  l3off: number,
  l3len: number,
  cap: number,
  type: number,
  code: number,
  rest: number,
  fromAddr: number,
  ourMac: number,
): number {
  const quoted = Math.min(l3len, ICMP4_MAX - 28);
  const end = l3off + 28 + quoted;
  if (end - ethOff > cap || end > b.length) return -1;
  const origSrc = u32(b, l3off + 12);
  const tos = b[l3off + 1];
  b.copyWithin(l3off + 28, l3off, l3off + quoted);
  // IP header: icmp_send uses TOS = (tos & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL.
  b[l3off] = 0x45;
  b[l3off + 1] = (tos & 0x1e) | 0xc0;
  setU16(b, l3off + 2, 28 + quoted);
  setU32(b, l3off + 4, 0);
  b[l3off + 8] = 64;
  b[l3off + 9] = IPPROTO_ICMP;
  setU32(b, l3off + 12, fromAddr);
  setU32(b, l3off + 16, origSrc);
  ipv4FillCsum(b, l3off);
  const io = l3off + 20;
  b[io] = type;
  b[io + 1] = code;
  setU16(b, io + 2, 0);
  setU32(b, io + 4, rest);
  setU16(b, io + 2, internetChecksum(b, io, 8 + quoted));
  swapMacs(b, ethOff, ourMac);
  return end - ethOff;
}

/** The IPv6 twin: `from` is the 16-byte source address (at `fromOff`). */
export function icmpSendInPlace6(
  b: Uint8Array,
  ethOff: number,
  l3off: number,
  l3len: number,
  cap: number,
  type: number,
  code: number,
  rest: number,
  from: Uint8Array,
  fromOff: number,
  ourMac: number,
): number {
  const quoted = Math.min(l3len, ICMP6_MAX - 48);
  const end = l3off + 48 + quoted;
  if (end - ethOff > cap || end > b.length) return -1;
  b.copyWithin(l3off + 48, l3off, l3off + quoted);
  // The quoted packet's source (now at l3off + 48 + 8) becomes our destination.
  for (let i = 0; i < 16; i++) b[l3off + 24 + i] = b[l3off + 48 + 8 + i];
  for (let i = 0; i < 16; i++) b[l3off + 8 + i] = from[fromOff + i];
  setU32(b, l3off, 0x60000000);
  setU16(b, l3off + 4, 8 + quoted);
  b[l3off + 6] = IPPROTO_ICMPV6;
  b[l3off + 7] = 64;
  const io = l3off + 40;
  b[io] = type;
  b[io + 1] = code;
  setU16(b, io + 2, 0);
  setU32(b, io + 4, rest);
  setU16(
    b,
    io + 2,
    internetChecksum(b, io, 8 + quoted, pseudoSumV6(b, l3off + 8, l3off + 24, IPPROTO_ICMPV6, 8 + quoted)),
  );
  swapMacs(b, ethOff, ourMac);
  return end - ethOff;
}

/** icmp_send never answers an ICMP error, a broadcast/multicast or a non-first fragment. */
export function mayAnswerIcmp4(b: Uint8Array, l3off: number, proto: number, icmpType: number): boolean {
  if (proto === IPPROTO_ICMP && !(icmpType === 0 || icmpType === 8 || icmpType === 13 || icmpType === 14))
    return false;
  const dst = u32(b, l3off + 16);
  if (dst >>> 28 === 0xe || dst === 0xffffffff) return false;
  if ((u16(b, l3off + 6) & 0x1fff) !== 0) return false;
  return true;
}

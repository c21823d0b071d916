/**
 * Address and port rewrites shared by the forwarding methods, with incremental checksums.
 * They mirror the kernel's protocol handlers: tcp_dnat_handler / tcp_snat_handler (and the udp_
 * and sctp_ twins) fix the L4 checksum incrementally (tcp_fast_csum_update), or only its
 * pseudo-header part when the checksum is CHECKSUM_PARTIAL (tcp_partial_csum_update); the IP
 * header checksum follows the address (ip_send_check, here incrementally).
 */
import { u16 } from '../wire/bytes.ts';
import {
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4Dst,
  ipv4SetDst,
  ipv4SetSrc,
  ipv4SetTtl,
  ipv4Src,
} from '../wire/ipv4.ts';
import { IPV6_DST, IPV6_HOPLIMIT, IPV6_SRC } from '../wire/ipv6.ts';
import { tcpCsumAddrUpdate128, tcpCsumAddrUpdate32, tcpSetDstPort, tcpSetSrcPort } from '../wire/tcp.ts';
import {
  udpCsumAddrUpdate128,
  udpCsumAddrUpdate32,
  udpFillCsumV4,
  udpSetDstPort,
  udpSetSrcPort,
} from '../wire/udp.ts';
import { SCTP_DPORT, SCTP_SPORT, sctpFillCsum } from '../wire/sctp.ts';
import { setU16 } from '../wire/bytes.ts';
import { ETH_DST, ETH_SRC } from '../wire/ethernet.ts';
import { setMac48 } from '../wire/bytes.ts';

/** Rewrites the IPv4 destination address and L4 destination port (the NAT "dnat" direction). */
export function rewriteDst4(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  l4len: number,
  proto: number,
  addr: number,
  port: number,
  partial: boolean,
): void {
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP)
    natAddrPort4(b, l3off, l4off, l4len, proto, 16, 2, addr, port, partial);
  else rewriteOther4(b, l3off, l4off, l4len, proto, false, addr, port, partial);
}

/** Rewrites the IPv4 source address and L4 source port (the NAT "snat" direction). */
export function rewriteSrc4(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  l4len: number,
  proto: number,
  addr: number,
  port: number,
  partial: boolean,
): void {
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP)
    natAddrPort4(b, l3off, l4off, l4len, proto, 12, 0, addr, port, partial);
  else rewriteOther4(b, l3off, l4off, l4len, proto, true, addr, port, partial);
}

/**
 * The TCP/UDP fast path, fused: one address delta serves the IP header checksum and the L4
 * pseudo-header, and the port joins the same L4 update (the sums tcp_fast_csum_update makes).
 * `aRel` is the address offset in the IP header (12 src, 16 dst), `pRel` the port offset in the
 * L4 header (0 src, 2 dst).
 */
function natAddrPort4(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  l4len: number,
  proto: number,
  aRel: number,
  pRel: number,
  addr: number,
  port: number,
  partial: boolean,
): void {
  const at = l3off + aRel;
  const pt = l4off + pRel;
  const ct = l4off + (proto === IPPROTO_TCP ? 16 : 6);
  const oa = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  const op = (b[pt] << 8) | b[pt + 1];
  const l4c = (b[ct] << 8) | b[ct + 1];
  b[at] = addr >>> 24;
  b[at + 1] = (addr >>> 16) & 0xff;
  b[at + 2] = (addr >>> 8) & 0xff;
  b[at + 3] = addr & 0xff;
  b[pt] = port >>> 8;
  b[pt + 1] = port & 0xff;
  // RFC 1624 eqn. 3 terms of the address change: ~m + m'.
  const da = ((~oa >>> 16) & 0xffff) + (~oa & 0xffff) + (addr >>> 16) + (addr & 0xffff);
  const ic = l3off + 10;
  let s = (~((b[ic] << 8) | b[ic + 1]) & 0xffff) + da;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  let c = ~s & 0xffff;
  b[ic] = c >>> 8;
  b[ic + 1] = c & 0xff;
  if (proto === IPPROTO_UDP && !partial && l4c === 0) {
    // udp_dnat_handler / udp_snat_handler: a UDP checksum of 0 ("none") is not kept through
    // IPVS NAT — the kernel computes a full checksum for the rewritten datagram.
    udpFillCsumV4(b, l3off, l4off, l4len);
    return;
  }
  // CHECKSUM_PARTIAL: only the pseudo-header (the address) enters, uncomplemented.
  s = partial ? l4c + da : (~l4c & 0xffff) + da + (~op & 0xffff) + port;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  c = partial ? s : ~s & 0xffff;
  if (!partial && proto === IPPROTO_UDP && c === 0) c = 0xffff;
  b[ct] = c >>> 8;
  b[ct + 1] = c & 0xff;
}

/** SCTP and anything else: the general (unfused) path. */
function rewriteOther4(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  l4len: number,
  proto: number,
  src: boolean,
  addr: number,
  port: number,
  partial: boolean,
): void {
  const old = src ? ipv4Src(b, l3off) : ipv4Dst(b, l3off);
  if (old !== addr) {
    if (src) ipv4SetSrc(b, l3off, addr);
    else ipv4SetDst(b, l3off, addr);
    l4AddrUpdate4(b, l4off, proto, old, addr, partial);
  }
  setL4Port(b, l4off, l4len, proto, src, port, partial);
}

function l4AddrUpdate4(
  b: Uint8Array,
  l4off: number,
  proto: number,
  from: number,
  to: number,
  partial: boolean,
): void {
  if (proto === IPPROTO_TCP) tcpCsumAddrUpdate32(b, l4off, from, to, partial);
  else if (proto === IPPROTO_UDP) udpCsumAddrUpdate32(b, l4off, from, to, partial);
  // SCTP's CRC32c covers no pseudo-header.
}

function setL4Port(
  b: Uint8Array,
  l4off: number,
  l4len: number,
  proto: number,
  src: boolean,
  port: number,
  partial: boolean,
): void {
  if (proto === IPPROTO_TCP) {
    if (u16(b, l4off + (src ? 0 : 2)) === port) return;
    if (src) tcpSetSrcPort(b, l4off, port, partial);
    else tcpSetDstPort(b, l4off, port, partial);
  } else if (proto === IPPROTO_UDP) {
    if (u16(b, l4off + (src ? 0 : 2)) === port) return;
    if (src) udpSetSrcPort(b, l4off, port, partial);
    else udpSetDstPort(b, l4off, port, partial);
  } else if (proto === IPPROTO_SCTP) {
    const at = l4off + (src ? SCTP_SPORT : SCTP_DPORT);
    if (u16(b, at) === port) return;
    setU16(b, at, port);
    // sctp_dnat_handler / sctp_snat_handler: the CRC is recomputed over the packet.
    sctpFillCsum(b, l4off, l4len);
  }
}

/** IPv6 destination rewrite: 16 bytes from `addr` at `aoff`. */
export function rewriteDst6(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  l4len: number,
  proto: number,
  addr: Uint8Array,
  aoff: number,
  port: number,
  partial: boolean,
  scratch: Uint8Array,
): void {
  rewriteAddr6(b, l3off + IPV6_DST, l4off, proto, addr, aoff, partial, scratch);
  setL4Port(b, l4off, l4len, proto, false, port, partial);
}

/** IPv6 source rewrite. */
export function rewriteSrc6(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  l4len: number,
  proto: number,
  addr: Uint8Array,
  aoff: number,
  port: number,
  partial: boolean,
  scratch: Uint8Array,
): void {
  rewriteAddr6(b, l3off + IPV6_SRC, l4off, proto, addr, aoff, partial, scratch);
  setL4Port(b, l4off, l4len, proto, true, port, partial);
}

/** `scratch` (16 bytes, owned by the caller) keeps the old address for the checksum update. */
function rewriteAddr6(
  b: Uint8Array,
  at: number,
  l4off: number,
  proto: number,
  addr: Uint8Array,
  aoff: number,
  partial: boolean,
  scratch: Uint8Array,
): void {
  let same = true;
  for (let i = 0; i < 16; i++) {
    scratch[i] = b[at + i];
    if (b[at + i] !== addr[aoff + i]) same = false;
  }
  if (same) return;
  for (let i = 0; i < 16; i++) b[at + i] = addr[aoff + i];
  if (proto === IPPROTO_TCP) tcpCsumAddrUpdate128(b, l4off, scratch, 0, addr, aoff, partial);
  else if (proto === IPPROTO_UDP) udpCsumAddrUpdate128(b, l4off, scratch, 0, addr, aoff, partial);
}

/**
 * decrement_ttl: a forwarded packet loses one hop. Returns false when the TTL (hop limit) was
 * already ≤ 1, in which case the caller answers ICMP time exceeded and drops the packet.
 */
export function decrementTtl(b: Uint8Array, l3off: number, af: number): boolean {
  if (af === 4) {
    const ttl = b[l3off + 8];
    if (ttl <= 1) return false;
    ipv4SetTtl(b, l3off, ttl - 1);
    return true;
  }
  const hl = b[l3off + IPV6_HOPLIMIT];
  if (hl <= 1) return false;
  b[l3off + IPV6_HOPLIMIT] = hl - 1;
  return true;
}

/** The L2 rewrite every transmit ends with: next hop's MAC as destination, ours as source. */
export function setMacs(b: Uint8Array, ethOff: number, dstMac: number, srcMac: number): void {
  setMac48(b, ethOff + ETH_DST, dstMac);
  setMac48(b, ethOff + ETH_SRC, srcMac);
}

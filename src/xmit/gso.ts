/**
 * Software segmentation of a TCP/IPv4 GSO super-frame (tcp_gso_segment + inet_gso_segment), for
 * the one case the offload description cannot follow the frame: into a tunnel (TUN mode), where
 * virtio_net_hdr has no IP-in-IP GSO type. A veth peer with TSO on hands the director frames of up
 * to 64 KiB; each becomes ceil(payload / mss) ordinary frames that the tunnel code then wraps.
 *
 * Per segment, as the kernel does: the headers are copied, the IPv4 total length set and the
 * identification incremented, the TCP sequence number advanced by the bytes before it; FIN and
 * PSH stay only on the last segment and CWR only on the first; both checksums are computed in
 * full (a super-frame's TCP checksum field holds only the CHECKSUM_PARTIAL pseudo-header sum).
 * Nothing is allocated: segments go to a caller-owned buffer, one fixed-size slot each.
 */
import { IPV4_HLEN } from '../wire/ipv4.ts';
import { csumAdd, csumFold, pseudoSumV4 } from '../wire/checksum.ts';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * The part of inet_gso_segment every protocol shares: segment k of `len` payload bytes at dst[o]
 * — the super-frame's headers (hdr bytes from ethOff), then its payload bytes [k * size, + len)
 * from dataOff — with the IPv4 total length, the identification id0 + k and the header checksum.
 */
function ipv4Segment(
  b: Uint8Array,
  ethOff: number,
  l3off: number,
  ipHl: number,
  hdr: number,
  dataOff: number,
  size: number,
  k: number,
  len: number,
  id0: number,
  dst: Uint8Array,
  o: number,
): void {
  dst.set(b.subarray(ethOff, ethOff + hdr), o);
  dst.set(b.subarray(dataOff + k * size, dataOff + k * size + len), o + hdr);
  const ip = o + l3off - ethOff;
  const tot = hdr - (l3off - ethOff) + len;
  dst[ip + 2] = tot >>> 8;
  dst[ip + 3] = tot & 0xff;
  const id = (id0 + k) & 0xffff;
  dst[ip + 4] = id >>> 8;
  dst[ip + 5] = id & 0xff;
  dst[ip + 10] = dst[ip + 11] = 0;
  const ic = ~csumFold(csumAdd(dst, ip, ipHl)) & 0xffff;
  dst[ip + 10] = ic >>> 8;
  dst[ip + 11] = ic & 0xff;
}

/**
 * Splits the super-frame whose Ethernet header is at `ethOff` (IPv4 at l3off with total length
 * l3len, TCP at l4off) into segments of at most `mss` payload bytes. Segment k is written at
 * dst[k * slot] as a complete Ethernet frame; lens[k] is its length. Returns the segment count,
 * or -1 (nothing written that matters) when a segment would not fit in a slot, more than
 * `maxSegs` would be needed, mss is not positive, or the headers are inconsistent.
 */
export function tcpSegmentV4(
  b: Uint8Array,
  ethOff: number,
  l3off: number,
  l4off: number,
  l3len: number,
  mss: number,
  dst: Uint8Array,
  slot: number,
  maxSegs: number,
  lens: Int32Array,
): number {
  const doff = (b[l4off + 12] >>> 4) * 4;
  const hdr = l4off - ethOff + doff;
  const ipTcpHdr = l4off - l3off + doff;
  const payload = l3len - ipTcpHdr;
  if (mss <= 0 || doff < 20 || payload < 0 || l4off - l3off < IPV4_HLEN || hdr + mss > slot) return -1;
  const n = payload === 0 ? 1 : Math.ceil(payload / mss);
  if (n > maxSegs || n > lens.length || n * slot > dst.length) return -1;
  const id0 = (b[l3off + 4] << 8) | b[l3off + 5];
  const seq0 = ((b[l4off + 4] << 24) | (b[l4off + 5] << 16) | (b[l4off + 6] << 8) | b[l4off + 7]) >>> 0;
  const flags0 = b[l4off + 13];
  const saddr = ((b[l3off + 12] << 24) | (b[l3off + 13] << 16) | (b[l3off + 14] << 8) | b[l3off + 15]) >>> 0;
  const daddr = ((b[l3off + 16] << 24) | (b[l3off + 17] << 16) | (b[l3off + 18] << 8) | b[l3off + 19]) >>> 0;
  const dataOff = l3off + ipTcpHdr;
  const s4 = l4off - ethOff;
  for (let k = 0; k < n; k++) {
    const o = k * slot;
    const len = Math.min(mss, payload - k * mss);
    ipv4Segment(b, ethOff, l3off, l4off - l3off, hdr, dataOff, mss, k, len, id0, dst, o);
    const th = o + s4;
    const seq = (seq0 + k * mss) >>> 0;
    dst[th + 4] = seq >>> 24;
    dst[th + 5] = (seq >>> 16) & 0xff;
    dst[th + 6] = (seq >>> 8) & 0xff;
    dst[th + 7] = seq & 0xff;
    let f = flags0;
    if (k !== n - 1) f &= ~(TCP_FIN | TCP_PSH);
    if (k !== 0) f &= ~TCP_CWR;
    dst[th + 13] = f;
    dst[th + 16] = dst[th + 17] = 0;
    const l4len = doff + len;
    const tc = ~csumFold(csumAdd(dst, th, l4len, pseudoSumV4(saddr, daddr, 6, l4len))) & 0xffff;
    dst[th + 16] = tc >>> 8;
    dst[th + 17] = tc & 0xff;
    lens[k] = hdr + len;
  }
  return n;
}

/**
 * Splits a UDP/IPv4 GSO super-frame (UDP_SEGMENT: __udp_gso_segment + inet_gso_segment) into
 * datagrams of `gsoSize` payload bytes each, the last one shorter. Unlike TCP, the size is not
 * ours to choose: each datagram is one message of the sender's. Per datagram: headers copied, IPv4
 * total length and identification (incremented) with a full header checksum, UDP length, and a
 * full UDP checksum (0 becomes 0xffff). Same layout, limits and -1 as tcpSegmentV4.
 */
export function udpSegmentV4(
  b: Uint8Array,
  ethOff: number,
  l3off: number,
  l4off: number,
  l3len: number,
  gsoSize: number,
  dst: Uint8Array,
  slot: number,
  maxSegs: number,
  lens: Int32Array,
): number {
  const hdr = l4off - ethOff + 8;
  const ipUdpHdr = l4off - l3off + 8;
  const payload = l3len - ipUdpHdr;
  if (gsoSize <= 0 || payload < 0 || l4off - l3off < IPV4_HLEN || hdr + gsoSize > slot) return -1;
  const n = payload === 0 ? 1 : Math.ceil(payload / gsoSize);
  if (n > maxSegs || n > lens.length || n * slot > dst.length) return -1;
  const id0 = (b[l3off + 4] << 8) | b[l3off + 5];
  const saddr = ((b[l3off + 12] << 24) | (b[l3off + 13] << 16) | (b[l3off + 14] << 8) | b[l3off + 15]) >>> 0;
  const daddr = ((b[l3off + 16] << 24) | (b[l3off + 17] << 16) | (b[l3off + 18] << 8) | b[l3off + 19]) >>> 0;
  const dataOff = l3off + ipUdpHdr;
  const s4 = l4off - ethOff;
  for (let k = 0; k < n; k++) {
    const o = k * slot;
    const len = Math.min(gsoSize, payload - k * gsoSize);
    ipv4Segment(b, ethOff, l3off, l4off - l3off, hdr, dataOff, gsoSize, k, len, id0, dst, o);
    const uh = o + s4;
    const ulen = 8 + len;
    dst[uh + 4] = ulen >>> 8;
    dst[uh + 5] = ulen & 0xff;
    dst[uh + 6] = dst[uh + 7] = 0;
    let uc = ~csumFold(csumAdd(dst, uh, ulen, pseudoSumV4(saddr, daddr, 17, ulen))) & 0xffff;
    if (uc === 0) uc = 0xffff;
    dst[uh + 6] = uc >>> 8;
    dst[uh + 7] = uc & 0xff;
    lens[k] = hdr + len;
  }
  return n;
}

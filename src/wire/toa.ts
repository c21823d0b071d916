/**
 * TOA, the "TCP option address" that FullNAT uses to tell a real server who the client is
 * (Alibaba LVS tcp_opt_add_toa; DPVS kmod/toa/toa.h, which the real server's toa.ko parses):
 *
 *   IPv4, 8 bytes:  | kind 254 | len 8  | client port (2) | client IPv4 address (4)  |
 *   IPv6, 20 bytes: | kind 254 | len 20 | client port (2) | client IPv6 address (16) |
 *
 * Both lengths are multiples of 4, so inserting the option keeps the following options aligned.
 * Like Alibaba LVS and DPVS, the option goes right after the fixed 20-byte TCP header, ahead of
 * any options already there, and everything behind it moves back by the option length.
 *
 * Checksums are updated incrementally (RFC 1624), never recomputed, so a segment that arrived
 * with a bad checksum still has one:
 *  - normal form: the segment sum changes by the data-offset word, the option's words and the
 *    pseudo-header length. Because the insertion point and length are both even, every byte that
 *    moves keeps the parity of its position, and so its contribution to the sum;
 *  - CHECKSUM_PARTIAL form (`partial`): the field holds the folded pseudo-header sum and the
 *    device sums the segment later, so only the length inside the pseudo-header changes.
 */
import { csumAdd, csumFold, csumPartialReplace16, csumReplace16 } from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { IPV4_TOTLEN, ipv4SetTotalLen } from './ipv4.ts';

export const TCPOPT_TOA = 254;
export const TOA_V4_LEN = 8;
export const TOA_V6_LEN = 20;

const TCPOPT_EOL = 0;
const TCPOPT_NOP = 1;
const TCPOPT_MSS = 2;
const TCP_HLEN = 20;
const TCP_DOFF = 12;
const TCP_CSUM = 16;
const TCP_MAX_HLEN = 60;
const IPV6_PLEN = 4;
const IPV6_HLEN = 40;

/**
 * Inserts an IPv4 TOA (client `caddr`:`cport`) into the TCP segment of an IPv4 frame, in place.
 * `frameLen` bytes of `b` are in use and up to `cap` may be used. Everything after the fixed TCP
 * header moves back by 8 bytes; the TCP data offset, the IPv4 total length and header checksum
 * and the TCP checksum (see `partial`, and the file comment) are updated.
 *
 * Returns the new frame length, or -1, leaving the frame untouched, when the option does not fit:
 * the TCP header would exceed 60 bytes (data offset 15), the IPv4 total length 65535, or the
 * frame `cap`. Pass `cap` no larger than l3off + MTU to keep the result within the MTU, as
 * Alibaba LVS does. Ethernet padding after the IPv4 packet is dropped: the result ends where the
 * IPv4 packet ends.
 *
 * To leave room for the option in full-sized segments, shrink the MSS the client learns by 8
 * with tcpReduceMss (Alibaba LVS does that to the real server's SYN-ACK).
 */
export function tcpInsertToaV4(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  frameLen: number,
  cap: number,
  cport: number,
  caddr: number,
  partial = false,
): number {
  const tot = u16(b, l3off + IPV4_TOTLEN);
  const end = l3off + tot;
  const newEnd = insertRoom(b, l4off, end, frameLen, cap, TOA_V4_LEN, tot + TOA_V4_LEN > 0xffff);
  if (newEnd < 0) return -1;
  const o = l4off + TCP_HLEN;
  b[o] = TCPOPT_TOA;
  b[o + 1] = TOA_V4_LEN;
  setU16(b, o + 2, cport);
  setU32(b, o + 4, caddr);
  const l4len = end - l4off;
  fixTcp(b, l4off, l4len, TOA_V4_LEN, partial);
  ipv4SetTotalLen(b, l3off, tot + TOA_V4_LEN);
  return newEnd;
}

/**
 * IPv6 form of tcpInsertToaV4: a 20-byte TOA carrying the client's IPv6 address (16 bytes read
 * from `caddr` at `caddrOff`). `l4off` may follow extension headers; the IPv6 payload length
 * grows by 20. Returns the new frame length or -1 (header full, payload length past 65535, or
 * `cap` too small).
 */
export function tcpInsertToaV6(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  frameLen: number,
  cap: number,
  cport: number,
  caddr: Uint8Array,
  caddrOff: number,
  partial = false,
): number {
  const plen = u16(b, l3off + IPV6_PLEN);
  const end = l3off + IPV6_HLEN + plen;
  const newEnd = insertRoom(b, l4off, end, frameLen, cap, TOA_V6_LEN, plen + TOA_V6_LEN > 0xffff);
  if (newEnd < 0) return -1;
  const o = l4off + TCP_HLEN;
  b[o] = TCPOPT_TOA;
  b[o + 1] = TOA_V6_LEN;
  setU16(b, o + 2, cport);
  for (let i = 0; i < 16; i++) b[o + 4 + i] = caddr[caddrOff + i];
  fixTcp(b, l4off, end - l4off, TOA_V6_LEN, partial);
  setU16(b, l3off + IPV6_PLEN, plen + TOA_V6_LEN);
  return newEnd;
}

/**
 * Opens `n` bytes after the fixed TCP header of a segment ending at `end`; returns the new end or
 * -1 without touching anything when the header, the length field (`tooLong`) or `cap` is full.
 */
function insertRoom(
  b: Uint8Array,
  l4off: number,
  end: number,
  frameLen: number,
  cap: number,
  n: number,
  tooLong: boolean,
): number {
  if (tooLong || end > frameLen || cap > b.length || end + n > cap) return -1;
  const doff = b[l4off + TCP_DOFF] >>> 4;
  if (doff < 5 || l4off + doff * 4 > end || doff * 4 + n > TCP_MAX_HLEN) return -1;
  const from = l4off + TCP_HLEN;
  b.copyWithin(from + n, from, end);
  b[l4off + TCP_DOFF] = (b[l4off + TCP_DOFF] & 0x0f) | ((doff + (n >>> 2)) << 4);
  return end + n;
}

/**
 * Checksum after inserting the n-byte option at l4off+20 of a segment that was `l4len` long; the
 * option and the new data offset are already in place.
 */
function fixTcp(b: Uint8Array, l4off: number, l4len: number, n: number, partial: boolean): void {
  const check = u16(b, l4off + TCP_CSUM);
  if (partial) {
    setU16(b, l4off + TCP_CSUM, csumPartialReplace16(check, l4len, l4len + n));
    return;
  }
  const newWord = u16(b, l4off + TCP_DOFF);
  const oldWord = newWord - ((n >>> 2) << 12);
  // ~(~check + ~oldWord + newWord + option words + ~oldLen + newLen): RFC 1624 eqn. 3 for every
  // word that changed; the moved bytes keep their sum.
  let s = (~check & 0xffff) + (~oldWord & 0xffff) + newWord;
  s = csumAdd(b, l4off + TCP_HLEN, n, s);
  s += (~l4len & 0xffff) + ((l4len + n) & 0xffff);
  setU16(b, l4off + TCP_CSUM, ~csumFold(s) & 0xffff);
}

/**
 * Subtracts `by` from the MSS option, if there is one (Alibaba LVS tcp_opt_adjust_mss, with
 * `by` = the TOA length). Alibaba LVS applies it to the real server's SYN-ACK on its way to the
 * client (tcp_fnat_out_handler), so that the client's full-size segments leave room for the TOA
 * the director adds on the way in. Returns true when an MSS option was changed. An MSS not larger than
 * `by` is left alone rather than wrapped. The option walk stops at EOL and at any malformed
 * option; the header is trusted to be within the buffer (checked earlier). In the partial form
 * the checksum field is left as is: the MSS is not part of the pseudo-header.
 */
export function tcpReduceMss(b: Uint8Array, l4off: number, by: number, partial = false): boolean {
  const o = findOption(b, l4off, (b[l4off + TCP_DOFF] >>> 4) * 4, TCPOPT_MSS);
  if (o < 0 || b[o + 1] !== 4) return false;
  const mss = u16(b, o + 2);
  if (mss <= by) return false;
  setU16(b, o + 2, mss - by);
  if (!partial) {
    // The MSS value starts 2 bytes after its kind byte; its parity relative to the header start
    // decides whether it sits in one aligned word or straddles two.
    replaceRegion(b, l4off, o + 2, mss, mss - by);
  }
  return true;
}

/**
 * Checksum update for a 16-bit value at `at` (any alignment) that changed from `from` to `to`.
 * At an odd offset from the segment start the value's bytes land in the low byte of one word and
 * the high byte of the next; the one's-complement sum is byte-order independent (RFC 1071 §2(B)),
 * so that is the same as replacing the byte-swapped value.
 */
function replaceRegion(b: Uint8Array, l4off: number, at: number, from: number, to: number): void {
  const odd = ((at - l4off) & 1) === 1;
  const f = odd ? ((from & 0xff) << 8) | (from >>> 8) : from;
  const t = odd ? ((to & 0xff) << 8) | (to >>> 8) : to;
  setU16(b, l4off + TCP_CSUM, csumReplace16(u16(b, l4off + TCP_CSUM), f, t));
}

/**
 * Offset of the first option of `kind` within a TCP header of `hlen` bytes at `l4off`, or -1.
 * Stops at EOL, at a length below 2 and at an option running past the header.
 */
function findOption(b: Uint8Array, l4off: number, hlen: number, kind: number): number {
  const end = l4off + hlen;
  let i = l4off + TCP_HLEN;
  while (i < end) {
    const k = b[i];
    if (k === TCPOPT_EOL) return -1;
    if (k === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return -1;
    const ol = b[i + 1];
    if (ol < 2 || i + ol > end) return -1;
    if (k === kind) return i;
    i += ol;
  }
  return -1;
}

/**
 * Finds a TOA in an untrusted TCP header (what toa.ko does on the real server): `len` bytes are
 * available from `l4off`. Returns the offset of the option's kind byte when a well-formed TOA
 * (length 8 or 20) is present, else -1. Never reads outside b[l4off, l4off+len) or `b`.
 */
export function tcpFindToa(b: Uint8Array, l4off: number, len: number): number {
  const avail = Math.min(len, b.length - l4off);
  if (l4off < 0 || avail < TCP_HLEN) return -1;
  const hlen = (b[l4off + TCP_DOFF] >>> 4) * 4;
  if (hlen < TCP_HLEN || hlen > avail) return -1;
  const o = findOption(b, l4off, hlen, TCPOPT_TOA);
  if (o < 0) return -1;
  const ol = b[o + 1];
  return ol === TOA_V4_LEN || ol === TOA_V6_LEN ? o : -1;
}

/** True when the TOA at `o` carries an IPv6 address. */
export function toaIsV6(b: Uint8Array, o: number): boolean {
  return b[o + 1] === TOA_V6_LEN;
}

/** The client port in the TOA at `o`. */
export function toaPort(b: Uint8Array, o: number): number {
  return u16(b, o + 2);
}

/** The client IPv4 address (uint32) in the IPv4 TOA at `o`. */
export function toaAddrV4(b: Uint8Array, o: number): number {
  return u32(b, o + 4);
}

/** Offset of the 16-byte client IPv6 address in the IPv6 TOA at `o`. */
export function toaAddrV6Off(o: number): number {
  return o + 4;
}

/**
 * TCP header (RFC 9293 §3.1) with its options, and the checksum work NAT needs.
 *
 *   0               16              31
 *   |  source port  |   dest port   |
 *   |        sequence number        |
 *   |     acknowledgment number     |
 *   |doff|rsv|flags |    window     |
 *   |   checksum    |  urgent ptr   |
 *   |     options (doff > 5) ...    |
 *
 * The checksum field comes in two forms (see checksum.ts): normal, and CHECKSUM_PARTIAL where it
 * holds only the folded pseudo-header sum. Every checksum-aware setter takes `partial` to say which.
 */
import {
  csumFold,
  csumPartialReplace128,
  csumPartialReplace32,
  csumReplace128,
  csumReplace16,
  csumReplace32,
  csumVerifies,
  internetChecksum,
  pseudoSumV4,
  pseudoSumV6,
} from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { IPPROTO_TCP, IPV4_DST, IPV4_SRC } from './ipv4.ts';
import { IPV6_DST, IPV6_SRC } from './ipv6.ts';
import { Reason } from './reason.ts';

export const TCP_SPORT = 0;
export const TCP_DPORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
export const TCP_DOFF = 12;
export const TCP_FLAGS = 13;
export const TCP_WINDOW = 14;
export const TCP_CSUM = 16;
export const TCP_URGENT = 18;
export const TCP_HLEN = 20;
export const TCP_MAX_HLEN = 60;

export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_PSH = 0x08;
export const TCP_FLAG_ACK = 0x10;
export const TCP_FLAG_URG = 0x20;
export const TCP_FLAG_ECE = 0x40;
export const TCP_FLAG_CWR = 0x80;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

export const TCPOLEN_MSS = 4;
export const TCPOLEN_WSCALE = 3;
export const TCPOLEN_SACK_PERM = 2;
export const TCPOLEN_TIMESTAMP = 10;

/**
 * Validates an untrusted TCP header; `len` is the segment length available from `off`.
 * TCP_TRUNCATED below 20 bytes, TCP_BAD_DOFF when the data offset is under 5 words or past the
 * segment, TCP_BAD_OPTIONS when option framing is broken (a length under 2 or running past the
 * header). A known option with an unexpected length is not an error here: like tcp_parse_options,
 * readers simply ignore it (tcpMss returns -1 for it). The checksum needs the pseudo-header: see
 * tcpCsumOkV4/V6.
 */
export function tcpCheck(b: Uint8Array, off: number, len: number): Reason {
  const n = off >= 0 ? Math.min(len, b.length - off) : -1;
  if (!(n >= TCP_HLEN)) return Reason.TCP_TRUNCATED;
  const hl = (b[off + TCP_DOFF] >>> 4) * 4;
  if (hl < TCP_HLEN || hl > n) return Reason.TCP_BAD_DOFF;
  if (hl > TCP_HLEN && !optionsWellFormed(b, off + TCP_HLEN, off + hl)) return Reason.TCP_BAD_OPTIONS;
  return Reason.OK;
}

/** EOL ends the list, NOP is one byte, every other kind carries a length in [2, room left]. */
function optionsWellFormed(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const k = b[i];
    if (k === TCPOPT_EOL) return true;
    if (k === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return false;
    const ol = b[i + 1];
    if (ol < 2 || i + ol > end) return false;
    i += ol;
  }
  return true;
}

export function tcpSrcPort(b: Uint8Array, off: number): number {
  return u16(b, off + TCP_SPORT);
}
export function tcpDstPort(b: Uint8Array, off: number): number {
  return u16(b, off + TCP_DPORT);
}
export function tcpSeq(b: Uint8Array, off: number): number {
  return u32(b, off + TCP_SEQ);
}
export function tcpAck(b: Uint8Array, off: number): number {
  return u32(b, off + TCP_ACK);
}
/** Data offset in 32-bit words. */
export function tcpDoff(b: Uint8Array, off: number): number {
  return b[off + TCP_DOFF] >>> 4;
}
export function tcpHeaderLen(b: Uint8Array, off: number): number {
  return (b[off + TCP_DOFF] >>> 4) * 4;
}
/** The eight classic flag bits (FIN..CWR); AE and the reserved bits live in byte 12. */
export function tcpFlags(b: Uint8Array, off: number): number {
  return b[off + TCP_FLAGS];
}
export function tcpWindow(b: Uint8Array, off: number): number {
  return u16(b, off + TCP_WINDOW);
}
export function tcpCsum(b: Uint8Array, off: number): number {
  return u16(b, off + TCP_CSUM);
}
export function tcpUrgent(b: Uint8Array, off: number): number {
  return u16(b, off + TCP_URGENT);
}

/**
 * Offset of the first option of `kind` in the header at `l4off`, or -1. Stops at EOL. Safe on a
 * header that was not checked (never reads past the data offset or the buffer).
 */
export function tcpFindOption(b: Uint8Array, l4off: number, kind: number): number {
  const end = optionsEnd(b, l4off);
  let i = l4off + TCP_HLEN;
  while (i < end) {
    const k = b[i];
    if (k === kind) return i;
    if (k === TCPOPT_EOL) return -1;
    if (k === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return -1;
    const ol = b[i + 1];
    if (ol < 2) return -1;
    i += ol;
  }
  return -1;
}

/** The MSS option's value, or -1 when there is none (or its length is not 4). */
export function tcpMss(b: Uint8Array, l4off: number): number {
  const o = tcpFindOption(b, l4off, TCPOPT_MSS);
  if (o < 0 || o + TCPOLEN_MSS > optionsEnd(b, l4off) || b[o + 1] !== TCPOLEN_MSS) return -1;
  return u16(b, o + 2);
}

/**
 * Rewrites the MSS option (MSS clamping) and returns false when there is no well-formed one.
 * The value may sit at an odd offset (after a lone NOP); its bytes then straddle two checksum
 * words, which is the same as a byte-swapped value at an even offset (RFC 1071 §2(B)).
 * In the partial form the option is payload the device will sum, so the field is left alone.
 */
export function tcpSetMss(b: Uint8Array, l4off: number, mss: number, partial: boolean): boolean {
  const o = tcpFindOption(b, l4off, TCPOPT_MSS);
  if (o < 0 || o + TCPOLEN_MSS > optionsEnd(b, l4off) || b[o + 1] !== TCPOLEN_MSS) return false;
  const old = u16(b, o + 2);
  setU16(b, o + 2, mss);
  if (!partial) {
    const odd = ((o + 2 - l4off) & 1) === 1;
    const from = odd ? swap16(old) : old;
    const to = odd ? swap16(mss & 0xffff) : mss & 0xffff;
    setU16(b, l4off + TCP_CSUM, csumReplace16(u16(b, l4off + TCP_CSUM), from, to));
  }
  return true;
}

/** End of the option area, bounded by the buffer (for headers nobody has checked). */
function optionsEnd(b: Uint8Array, l4off: number): number {
  return Math.min(l4off + (b[l4off + TCP_DOFF] >>> 4) * 4, b.length);
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/** The window-scale shift, or -1 when the option is absent or malformed. */
export function tcpWindowScale(b: Uint8Array, l4off: number): number {
  const o = tcpFindOption(b, l4off, TCPOPT_WSCALE);
  if (o < 0 || o + TCPOLEN_WSCALE > optionsEnd(b, l4off) || b[o + 1] !== TCPOLEN_WSCALE) return -1;
  return b[o + 2];
}

/**
 * Sets the source port. Normal form: RFC 1624 update of the checksum. Partial form: ports are not
 * in the pseudo-header, so the device's later sum picks the new value up by itself.
 */
export function tcpSetSrcPort(b: Uint8Array, l4off: number, port: number, partial: boolean): void {
  setPort(b, l4off + TCP_SPORT, l4off, port, partial);
}
export function tcpSetDstPort(b: Uint8Array, l4off: number, port: number, partial: boolean): void {
  setPort(b, l4off + TCP_DPORT, l4off, port, partial);
}

function setPort(b: Uint8Array, at: number, l4off: number, port: number, partial: boolean): void {
  const old = u16(b, at);
  setU16(b, at, port);
  if (!partial) setU16(b, l4off + TCP_CSUM, csumReplace16(u16(b, l4off + TCP_CSUM), old, port & 0xffff));
}

/** Sets the sequence number, fixing the checksum in the normal form (FullNAT seq adjustment). */
export function tcpSetSeq(b: Uint8Array, l4off: number, seq: number, partial: boolean): void {
  setWord32(b, l4off + TCP_SEQ, l4off, seq, partial);
}
export function tcpSetAck(b: Uint8Array, l4off: number, ack: number, partial: boolean): void {
  setWord32(b, l4off + TCP_ACK, l4off, ack, partial);
}

function setWord32(b: Uint8Array, at: number, l4off: number, v: number, partial: boolean): void {
  const old = u32(b, at);
  setU32(b, at, v);
  if (!partial) setU16(b, l4off + TCP_CSUM, csumReplace32(u16(b, l4off + TCP_CSUM), old, v >>> 0));
}

/**
 * The pseudo-header half of an IPv4 address rewrite (the caller rewrites the IP header itself):
 * tcp_fast_csum_update's ip_vs_check_diff4 in the normal form, tcp_partial_csum_update's in the
 * partial form.
 */
export function tcpCsumAddrUpdate32(
  b: Uint8Array,
  l4off: number,
  oldAddr: number,
  newAddr: number,
  partial: boolean,
): void {
  const c = u16(b, l4off + TCP_CSUM);
  setU16(
    b,
    l4off + TCP_CSUM,
    partial ? csumPartialReplace32(c, oldAddr, newAddr) : csumReplace32(c, oldAddr, newAddr),
  );
}

/** The same for an IPv6 address (16 bytes at oldBuf[oldOff] → newBuf[newOff]). */
export function tcpCsumAddrUpdate128(
  b: Uint8Array,
  l4off: number,
  oldBuf: Uint8Array,
  oldOff: number,
  newBuf: Uint8Array,
  newOff: number,
  partial: boolean,
): void {
  const c = u16(b, l4off + TCP_CSUM);
  setU16(
    b,
    l4off + TCP_CSUM,
    partial
      ? csumPartialReplace128(c, oldBuf, oldOff, newBuf, newOff)
      : csumReplace128(c, oldBuf, oldOff, newBuf, newOff),
  );
}

/** Computes the checksum from scratch over `l4len` bytes (normal form), addresses from IPv4 at l3off. */
export function tcpFillCsumV4(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  setU16(b, l4off + TCP_CSUM, 0);
  const ps = pseudoSumV4(u32(b, l3off + IPV4_SRC), u32(b, l3off + IPV4_DST), IPPROTO_TCP, l4len);
  setU16(b, l4off + TCP_CSUM, internetChecksum(b, l4off, l4len, ps));
}

/**
 * The same with IPv6 addresses at l3off. The pseudo-header uses the header's destination, which is
 * the final one unless a routing header still has segments left (RFC 8200 §8.1).
 */
export function tcpFillCsumV6(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  setU16(b, l4off + TCP_CSUM, 0);
  const ps = pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_TCP, l4len);
  setU16(b, l4off + TCP_CSUM, internetChecksum(b, l4off, l4len, ps));
}

export function tcpCsumOkV4(b: Uint8Array, l3off: number, l4off: number, l4len: number): boolean {
  const ps = pseudoSumV4(u32(b, l3off + IPV4_SRC), u32(b, l3off + IPV4_DST), IPPROTO_TCP, l4len);
  return csumVerifies(b, l4off, l4len, ps);
}

export function tcpCsumOkV6(b: Uint8Array, l3off: number, l4off: number, l4len: number): boolean {
  return csumVerifies(
    b,
    l4off,
    l4len,
    pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_TCP, l4len),
  );
}

/** Writes the CHECKSUM_PARTIAL form: the folded, uncomplemented pseudo-header sum (tcp_v4_send_check). */
export function tcpFillPartialCsumV4(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  const ps = pseudoSumV4(u32(b, l3off + IPV4_SRC), u32(b, l3off + IPV4_DST), IPPROTO_TCP, l4len);
  setU16(b, l4off + TCP_CSUM, csumFold(ps));
}

export function tcpFillPartialCsumV6(b: Uint8Array, l3off: number, l4off: number, l4len: number): void {
  setU16(
    b,
    l4off + TCP_CSUM,
    csumFold(pseudoSumV6(b, l3off + IPV6_SRC, l3off + IPV6_DST, IPPROTO_TCP, l4len)),
  );
}

export interface TcpSackBlock {
  left: number;
  right: number;
}

/**
 * One option. Known kinds with their expected length are decoded; anything else (unknown kinds,
 * or a known kind with an odd length) is kept raw as `{ kind, data }` (data excludes kind and
 * length bytes). EOL is not listed: emit pads with it.
 */
export type TcpOption =
  | { kind: typeof TCPOPT_NOP }
  | { kind: typeof TCPOPT_MSS; mss: number }
  | { kind: typeof TCPOPT_WSCALE; shift: number }
  | { kind: typeof TCPOPT_SACK_PERM }
  | { kind: typeof TCPOPT_SACK; blocks: TcpSackBlock[] }
  | { kind: typeof TCPOPT_TIMESTAMP; tsval: number; tsecr: number }
  | { kind: number; data: Uint8Array };

/** Plain-object form of a TCP header. */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Byte 13: FIN..CWR. */
  flags: number;
  /** Low nibble of byte 12 (three reserved bits and AE); normally 0. */
  reserved: number;
  window: number;
  urgent: number;
  options: TcpOption[];
  /** The checksum field: parse reads it, emit writes it as given (0 when absent); fill it afterwards. */
  csum?: number;
}

export function tcpParseOptions(b: Uint8Array, start: number, end: number): TcpOption[] {
  const opts: TcpOption[] = [];
  let i = start;
  while (i < end) {
    const k = b[i];
    if (k === TCPOPT_EOL) break;
    if (k === TCPOPT_NOP) {
      opts.push({ kind: TCPOPT_NOP });
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const ol = b[i + 1];
    if (ol < 2 || i + ol > end) break;
    opts.push(decodeOption(b, i, k, ol));
    i += ol;
  }
  return opts;
}

function decodeOption(b: Uint8Array, i: number, k: number, ol: number): TcpOption {
  if (k === TCPOPT_MSS && ol === TCPOLEN_MSS) return { kind: TCPOPT_MSS, mss: u16(b, i + 2) };
  if (k === TCPOPT_WSCALE && ol === TCPOLEN_WSCALE) return { kind: TCPOPT_WSCALE, shift: b[i + 2] };
  if (k === TCPOPT_SACK_PERM && ol === TCPOLEN_SACK_PERM) return { kind: TCPOPT_SACK_PERM };
  if (k === TCPOPT_TIMESTAMP && ol === TCPOLEN_TIMESTAMP)
    return { kind: TCPOPT_TIMESTAMP, tsval: u32(b, i + 2), tsecr: u32(b, i + 6) };
  if (k === TCPOPT_SACK && ol >= 10 && (ol - 2) % 8 === 0) {
    const blocks: TcpSackBlock[] = [];
    for (let j = i + 2; j < i + ol; j += 8) blocks.push({ left: u32(b, j), right: u32(b, j + 4) });
    return { kind: TCPOPT_SACK, blocks };
  }
  return { kind: k, data: b.slice(i + 2, i + ol) };
}

export function tcpParse(b: Uint8Array, off: number): TcpRepr {
  return {
    srcPort: u16(b, off + TCP_SPORT),
    dstPort: u16(b, off + TCP_DPORT),
    seq: u32(b, off + TCP_SEQ),
    ack: u32(b, off + TCP_ACK),
    flags: b[off + TCP_FLAGS],
    reserved: b[off + TCP_DOFF] & 0x0f,
    window: u16(b, off + TCP_WINDOW),
    urgent: u16(b, off + TCP_URGENT),
    options: tcpParseOptions(b, off + TCP_HLEN, off + tcpHeaderLen(b, off)),
    csum: u16(b, off + TCP_CSUM),
  };
}

function optionLen(o: TcpOption): number {
  if ('data' in o) return 2 + o.data.length;
  if ('mss' in o) return TCPOLEN_MSS;
  if ('shift' in o) return TCPOLEN_WSCALE;
  if ('blocks' in o) return 2 + 8 * o.blocks.length;
  if ('tsval' in o) return TCPOLEN_TIMESTAMP;
  return o.kind === TCPOPT_NOP ? 1 : TCPOLEN_SACK_PERM;
}

/** Header length: 20 plus the options padded to a multiple of 4. */
export function tcpEmitLen(r: TcpRepr): number {
  let n = 0;
  for (const o of r.options) n += optionLen(o);
  return TCP_HLEN + ((n + 3) & ~3);
}

/** Writes the header (options padded with EOL) at `off`; returns its length. */
export function tcpEmit(r: TcpRepr, b: Uint8Array, off: number): number {
  const hl = tcpEmitLen(r);
  if (hl > TCP_MAX_HLEN) throw new RangeError('TCP options exceed 40 bytes');
  setU16(b, off + TCP_SPORT, r.srcPort);
  setU16(b, off + TCP_DPORT, r.dstPort);
  setU32(b, off + TCP_SEQ, r.seq);
  setU32(b, off + TCP_ACK, r.ack);
  b[off + TCP_DOFF] = ((hl >>> 2) << 4) | (r.reserved & 0x0f);
  b[off + TCP_FLAGS] = r.flags;
  setU16(b, off + TCP_WINDOW, r.window);
  setU16(b, off + TCP_CSUM, r.csum ?? 0);
  setU16(b, off + TCP_URGENT, r.urgent);
  let i = off + TCP_HLEN;
  for (const o of r.options) {
    const ol = optionLen(o);
    b[i] = o.kind;
    if (ol > 1) b[i + 1] = ol;
    if ('data' in o) b.set(o.data, i + 2);
    else if ('mss' in o) setU16(b, i + 2, o.mss);
    else if ('shift' in o) b[i + 2] = o.shift;
    else if ('tsval' in o) {
      setU32(b, i + 2, o.tsval);
      setU32(b, i + 6, o.tsecr);
    } else if ('blocks' in o) {
      for (let j = 0; j < o.blocks.length; j++) {
        setU32(b, i + 2 + 8 * j, o.blocks[j].left);
        setU32(b, i + 6 + 8 * j, o.blocks[j].right);
      }
    }
    i += ol;
  }
  b.fill(TCPOPT_EOL, i, off + hl);
  return hl;
}

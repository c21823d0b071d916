/**
 * TCP sequence adjustment after the director changes the length of a connection's byte stream,
 * e.g. by putting a PROXY v2 header in front of the first payload (kernel ip_vs_app.c: struct
 * ip_vs_seq, vs_fix_seq, vs_fix_ack_seq, vs_seq_update; Alibaba LVS FullNAT does the same for
 * its own sequence shift, including SACK blocks, in tcp_out_adjust_seq).
 *
 * Per direction of change a conn keeps a SeqState: `initSeq`, the sequence number (in the
 * sender's numbering) of the most recent packet whose length was changed; `delta`, the total
 * shift for bytes after that packet; `prevDelta`, the shift before it. Then:
 *  - packets in the changed direction get seq + delta when they start after initSeq, else
 *    seq + prevDelta (tcpFixSeq);
 *  - packets in the other direction acknowledge shifted numbers: ack - delta when the ack is
 *    after initSeq + delta, else ack - prevDelta; SACK block edges the same way (tcpFixAck).
 *
 * Order per packet, as app_tcp_pkt_in/out: remember the packet's original seq, tcpFixSeq, change
 * the payload (tcpInsertDataV4/V6), then seqStateUpdate(st, originalSeq, bytesAdded). A
 * retransmission of the changed packet has seq === initSeq: change it the same way again (so the
 * receiver sees the same bytes) and skip the update — seqStateUpdate ignores it anyway.
 *
 * Checksums: normal form — RFC 1624 incremental updates for every rewritten 32-bit field;
 * CHECKSUM_PARTIAL form (`partial`) — seq, ack and options are not in the pseudo-header, so the
 * field does not change. The data insertion updates the pseudo-header length in both forms.
 *
 * Everything here works on numbers and the caller's buffer; nothing allocates.
 */
import { csumAdd, csumFold, csumPartialReplace16, csumReplace32 } from '../wire/checksum.ts';
import { setU16, setU32, u16, u32 } from '../wire/bytes.ts';
import { IPV4_TOTLEN, ipv4SetTotalLen } from '../wire/ipv4.ts';

const TCP_SEQ = 4;
const TCP_ACK = 8;
const TCP_DOFF = 12;
const TCP_CSUM = 16;
const TCP_HLEN = 20;
const TCPOPT_EOL = 0;
const TCPOPT_NOP = 1;
const TCPOPT_SACK = 5;
const IPV6_PLEN = 4;
const IPV6_HLEN = 40;

/** struct ip_vs_seq for one direction of a conn. `active` is the kernel's IP_VS_CONN_F_*_SEQ. */
export interface SeqState {
  initSeq: number;
  delta: number;
  prevDelta: number;
  active: boolean;
}

export function newSeqState(): SeqState {
  return { initSeq: 0, delta: 0, prevDelta: 0, active: false };
}

/** before/after from include/net/tcp.h: true when `a` comes after `b` in 32-bit sequence space. */
export function seqAfter(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}

/** vs_fix_seq on a number: the sequence number the receiver expects for `seq`. */
export function seqFix(seq: number, st: SeqState): number {
  if (st.delta === 0 && st.prevDelta === 0) return seq >>> 0;
  return (seq + (seqAfter(seq, st.initSeq) ? st.delta : st.prevDelta)) >>> 0;
}

/** vs_fix_ack_seq on a number: the acknowledgement number the original sender understands. */
export function ackFix(ack: number, st: SeqState): number {
  if (st.delta === 0 && st.prevDelta === 0) return ack >>> 0;
  // ack names the next byte expected, in shifted numbering: compare with initSeq + delta.
  return (ack - (seqAfter(ack, (st.initSeq + st.delta) >>> 0) ? st.delta : st.prevDelta)) >>> 0;
}

/**
 * vs_seq_update: records that the packet which started at `seq` (original numbering) changed
 * length by `diff`. Only the first change and changes after the latest one count; an older or
 * repeated packet (a retransmission) leaves the state alone.
 */
export function seqStateUpdate(st: SeqState, seq: number, diff: number): void {
  if (diff === 0) return;
  if (!st.active || seqAfter(seq, st.initSeq)) {
    st.prevDelta = st.delta;
    st.delta += diff;
    st.initSeq = seq >>> 0;
    st.active = true;
  }
}

/** Rewrites a 32-bit field at b[at] (at − l4off even) and folds the change into the checksum. */
function rewrite32(b: Uint8Array, l4off: number, at: number, v: number, partial: boolean): void {
  const old = u32(b, at);
  if (old === v) return;
  setU32(b, at, v);
  if (!partial) setU16(b, l4off + TCP_CSUM, csumReplace32(u16(b, l4off + TCP_CSUM), old, v));
}

/**
 * Rewrites a 32-bit value at any offset inside the segment. At an odd distance from the segment
 * start its bytes sit across three checksum words; the one's-complement sum is byte-order
 * independent (RFC 1071 §2(B)), so that equals replacing the value with each 16-bit half
 * byte-swapped.
 */
function rewrite32Any(b: Uint8Array, l4off: number, at: number, v: number, partial: boolean): void {
  const old = u32(b, at);
  if (old === v) return;
  setU32(b, at, v);
  if (partial) return;
  const odd = ((at - l4off) & 1) === 1;
  const f = odd ? swapHalves(old) : old;
  const t = odd ? swapHalves(v) : v;
  setU16(b, l4off + TCP_CSUM, csumReplace32(u16(b, l4off + TCP_CSUM), f, t));
}

function swapHalves(x: number): number {
  return (((x & 0x00ff00ff) << 8) | ((x >>> 8) & 0x00ff00ff)) >>> 0;
}

/** tcpFixSeq for the packets of the direction whose stream was changed (vs_fix_seq). */
export function tcpFixSeq(b: Uint8Array, l4off: number, st: SeqState, partial = false): void {
  if (st.delta === 0 && st.prevDelta === 0) return;
  rewrite32(b, l4off, l4off + TCP_SEQ, seqFix(u32(b, l4off + TCP_SEQ), st), partial);
}

/**
 * tcpFixAck for the packets of the other direction (vs_fix_ack_seq): the acknowledgement number
 * and the edges of SACK blocks. Like the kernel, the ack field is fixed whether or not ACK is
 * set. The option walk trusts the data offset (checked earlier) and stops at EOL or at a
 * malformed option.
 */
export function tcpFixAck(b: Uint8Array, l4off: number, st: SeqState, partial = false): void {
  if (st.delta === 0 && st.prevDelta === 0) return;
  rewrite32(b, l4off, l4off + TCP_ACK, ackFix(u32(b, l4off + TCP_ACK), st), partial);
  const end = l4off + (b[l4off + TCP_DOFF] >>> 4) * 4;
  let i = l4off + TCP_HLEN;
  while (i < end) {
    const k = b[i];
    if (k === TCPOPT_EOL) return;
    if (k === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return;
    const ol = b[i + 1];
    if (ol < 2 || i + ol > end) return;
    // SACK: kind 5, length 2 + 8n; each block is a left and a right edge.
    if (k === TCPOPT_SACK && ol >= 10 && (ol - 2) % 8 === 0) {
      for (let e = i + 2; e < i + ol; e += 4) rewrite32Any(b, l4off, e, ackFix(u32(b, e), st), partial);
    }
    i += ol;
  }
}

/**
 * Inserts `n` bytes from src[srcOff..] at the start of the TCP payload of an IPv4 frame, in
 * place (the first-payload PROXY header). `frameLen` bytes are in use, up to `cap` may be used;
 * trailing Ethernet padding is dropped. Updates the IPv4 total length and header checksum and
 * the TCP checksum incrementally: the inserted bytes are added, the length in the pseudo-header
 * changes, and when `n` is odd the moved payload, now at the other byte parity, contributes its
 * byte-swapped sum (RFC 1071 §2(B)) — that costs one pass over the payload, still never a
 * recompute, so a bad checksum stays bad. In the partial form only the length changes.
 * Returns the new frame length, or -1 (nothing changed) when `cap` or 65535 would be exceeded.
 * The caller then records the change with seqStateUpdate.
 */
export function tcpInsertDataV4(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  frameLen: number,
  cap: number,
  src: Uint8Array,
  srcOff: number,
  n: number,
  partial = false,
): number {
  const tot = u16(b, l3off + IPV4_TOTLEN);
  const end = l3off + tot;
  if (tot + n > 0xffff) return -1;
  const r = insertData(b, l4off, end, frameLen, cap, src, srcOff, n, partial);
  if (r < 0) return -1;
  ipv4SetTotalLen(b, l3off, tot + n);
  return r;
}

/** IPv6 form of tcpInsertDataV4: the payload length grows by `n`. */
export function tcpInsertDataV6(
  b: Uint8Array,
  l3off: number,
  l4off: number,
  frameLen: number,
  cap: number,
  src: Uint8Array,
  srcOff: number,
  n: number,
  partial = false,
): number {
  const plen = u16(b, l3off + IPV6_PLEN);
  if (plen + n > 0xffff) return -1;
  const r = insertData(b, l4off, l3off + IPV6_HLEN + plen, frameLen, cap, src, srcOff, n, partial);
  if (r < 0) return -1;
  setU16(b, l3off + IPV6_PLEN, plen + n);
  return r;
}

function insertData(
  b: Uint8Array,
  l4off: number,
  end: number,
  frameLen: number,
  cap: number,
  src: Uint8Array,
  srcOff: number,
  n: number,
  partial: boolean,
): number {
  if (n < 0 || end > frameLen || cap > b.length || end + n > cap || srcOff + n > src.length) return -1;
  const hl = (b[l4off + TCP_DOFF] >>> 4) * 4;
  const at = l4off + hl;
  if (hl < TCP_HLEN || at > end) return -1;
  if (n === 0) return end;
  const l4len = end - l4off;
  const check = u16(b, l4off + TCP_CSUM);
  let s = 0;
  if (!partial) {
    // ~check + sum(inserted) + ~oldLen + newLen [+ swap(sum(payload)) - sum(payload) if n odd].
    s = (~check & 0xffff) + (~l4len & 0xffff) + ((l4len + n) & 0xffff);
    if (n & 1) {
      const p = csumFold(csumAdd(b, at, end - at));
      s += (~p & 0xffff) + (((p & 0xff) << 8) | (p >>> 8));
    }
  }
  b.copyWithin(at + n, at, end);
  for (let i = 0; i < n; i++) b[at + i] = src[srcOff + i];
  if (partial) {
    setU16(b, l4off + TCP_CSUM, csumPartialReplace16(check, l4len, l4len + n));
  } else {
    // The header length is a multiple of 4, so the inserted bytes start at an even position.
    s = csumAdd(b, at, n, s);
    setU16(b, l4off + TCP_CSUM, ~csumFold(s) & 0xffff);
  }
  return end + n;
}

/**
 * SCTP common header (RFC 9260 §3.1) and its CRC32c checksum (RFC 9260 appendix A). Unlike TCP
 * and UDP, the SCTP checksum covers no pseudo-header: an address rewrite leaves it alone, a port
 * rewrite needs it recomputed over the whole packet (what sctp_nat_csum does).
 */
import { setU32, u16 } from './bytes.ts';
import { Reason } from './reason.ts';

export const SCTP_SPORT = 0;
export const SCTP_DPORT = 2;
export const SCTP_VTAG = 4;
export const SCTP_CSUM = 8;
export const SCTP_HLEN = 12;
/** First chunk type, right after the common header. */
export const SCTP_CHUNK_TYPE = 12;

export const SCTP_CHUNK_DATA = 0;
export const SCTP_CHUNK_INIT = 1;
export const SCTP_CHUNK_INIT_ACK = 2;
export const SCTP_CHUNK_ABORT = 6;
export const SCTP_CHUNK_SHUTDOWN = 7;
export const SCTP_CHUNK_SHUTDOWN_ACK = 8;
export const SCTP_CHUNK_COOKIE_ECHO = 10;
export const SCTP_CHUNK_COOKIE_ACK = 11;
export const SCTP_CHUNK_SHUTDOWN_COMPLETE = 14;

export function sctpCheck(b: Uint8Array, off: number, len: number): Reason {
  if (off < 0 || len < SCTP_HLEN || off + SCTP_HLEN > b.length) return Reason.SCTP_TRUNCATED;
  return Reason.OK;
}

export function sctpSrcPort(b: Uint8Array, off: number): number {
  return u16(b, off + SCTP_SPORT);
}
export function sctpDstPort(b: Uint8Array, off: number): number {
  return u16(b, off + SCTP_DPORT);
}
/** Type of the first chunk, or -1 when the packet has none. */
export function sctpFirstChunk(b: Uint8Array, off: number, len: number): number {
  return len > SCTP_HLEN ? b[off + SCTP_CHUNK_TYPE] : -1;
}

/** CRC32c (Castagnoli, reflected polynomial 0x82f63b78), table-driven. */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(b: Uint8Array, off: number, len: number): number {
  let c = 0xffffffff;
  for (let i = off; i < off + len; i++) c = CRC32C_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Recomputes the packet's checksum (the field is zeroed while summing; stored little-endian). */
export function sctpFillCsum(b: Uint8Array, off: number, len: number): void {
  setU32(b, off + SCTP_CSUM, 0);
  const c = crc32c(b, off, len);
  // RFC 9260 appendix A: the CRC is placed in network byte order of its reflected form, i.e. the
  // least significant byte of the computed value goes first.
  b[off + SCTP_CSUM] = c & 0xff;
  b[off + SCTP_CSUM + 1] = (c >>> 8) & 0xff;
  b[off + SCTP_CSUM + 2] = (c >>> 16) & 0xff;
  b[off + SCTP_CSUM + 3] = c >>> 24;
}

export function sctpCsumOk(b: Uint8Array, off: number, len: number): boolean {
  const s0 = b[off + SCTP_CSUM],
    s1 = b[off + SCTP_CSUM + 1],
    s2 = b[off + SCTP_CSUM + 2],
    s3 = b[off + SCTP_CSUM + 3];
  sctpFillCsum(b, off, len);
  const ok =
    b[off + SCTP_CSUM] === s0 &&
    b[off + SCTP_CSUM + 1] === s1 &&
    b[off + SCTP_CSUM + 2] === s2 &&
    b[off + SCTP_CSUM + 3] === s3;
  b[off + SCTP_CSUM] = s0;
  b[off + SCTP_CSUM + 1] = s1;
  b[off + SCTP_CSUM + 2] = s2;
  b[off + SCTP_CSUM + 3] = s3;
  return ok;
}

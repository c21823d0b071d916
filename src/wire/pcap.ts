/**
 * Classic libpcap capture files (the format tcpdump -w writes; pcap-savefile(5)):
 *
 *   file header, 24 bytes: magic 0xa1b2c3d4, version 2.4, thiszone 0, sigfigs 0, snaplen, linktype
 *   per record, 16 bytes:  ts_sec, ts_usec, incl_len (≤ snaplen), orig_len; then incl_len bytes
 *
 * The writer emits little-endian files with microsecond timestamps, Ethernet link type by default.
 * Time is injected: every record takes the caller's seconds + microseconds (or milliseconds from
 * the daemon's now()), so captures are reproducible in tests. This is a debugging tap, not the
 * packet path: it may allocate.
 */
import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

export const PCAP_MAGIC = 0xa1b2c3d4;
/** The nanosecond-resolution variant (readers only). */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** tcpdump's default snapshot length since 4.99 (MAXIMUM_SNAPLEN). */
export const PCAP_SNAPLEN = 262144;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_FILE_HLEN = 24;
export const PCAP_REC_HLEN = 16;

/** Where records go: a file descriptor (written synchronously) or a stream. */
export type PcapSink = { fd: number } | { stream: Writable };

export interface PcapWriterOptions {
  /** Omit to accumulate in memory and read the result with toBuffer(). */
  sink?: PcapSink;
  snaplen?: number;
  linktype?: number;
}

function fileHeader(snaplen: number, linktype: number): Buffer {
  const h = Buffer.alloc(PCAP_FILE_HLEN);
  h.writeUInt32LE(PCAP_MAGIC, 0);
  h.writeUInt16LE(PCAP_VERSION_MAJOR, 4);
  h.writeUInt16LE(PCAP_VERSION_MINOR, 6);
  h.writeInt32LE(0, 8); // thiszone: timestamps are UTC
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(linktype, 20);
  return h;
}

function writeAllSync(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, b.length - done);
}

export class PcapWriter {
  readonly snaplen: number;
  readonly linktype: number;
  /** Records written so far. */
  count = 0;
  private readonly sink: PcapSink | undefined;
  private readonly chunks: Buffer[] = [];

  constructor(opts: PcapWriterOptions = {}) {
    this.snaplen = opts.snaplen ?? PCAP_SNAPLEN;
    this.linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    if (!Number.isInteger(this.snaplen) || this.snaplen <= 0 || this.snaplen > 0x7fffffff)
      throw new RangeError(`pcap: bad snaplen ${this.snaplen}`);
    this.sink = opts.sink;
    this.emit(fileHeader(this.snaplen, this.linktype));
  }

  /**
   * Appends one frame (`len` bytes of `b` at `off`) stamped tsSec.tsUsec. Frames longer than the
   * snaplen are cut to it; orig_len keeps the real length. Microseconds ≥ 1e6 carry into seconds.
   */
  write(b: Uint8Array, off: number, len: number, tsSec: number, tsUsec: number): void {
    if (off < 0 || len < 0 || off + len > b.length) throw new RangeError('pcap: frame outside buffer');
    if (!Number.isInteger(tsSec) || !Number.isInteger(tsUsec) || tsSec < 0 || tsUsec < 0)
      throw new RangeError('pcap: timestamps are non-negative integers');
    const sec = tsSec + Math.floor(tsUsec / 1_000_000);
    if (sec > 0xffffffff) throw new RangeError('pcap: timestamp beyond 2106');
    const incl = Math.min(len, this.snaplen);
    const rec = Buffer.alloc(PCAP_REC_HLEN + incl);
    rec.writeUInt32LE(sec, 0);
    rec.writeUInt32LE(tsUsec % 1_000_000, 4);
    rec.writeUInt32LE(incl, 8);
    rec.writeUInt32LE(len, 12);
    rec.set(b.subarray(off, off + incl), PCAP_REC_HLEN);
    this.emit(rec);
    this.count++;
  }

  /** write() with a millisecond timestamp, the unit of the injected now(). */
  writeAtMs(b: Uint8Array, off: number, len: number, ms: number): void {
    const whole = Math.floor(ms);
    this.write(b, off, len, Math.floor(whole / 1000), (whole % 1000) * 1000);
  }

  /** The whole file so far (in-memory mode only). */
  toBuffer(): Buffer {
    if (this.sink) throw new Error('pcap: toBuffer() is for in-memory writers');
    return Buffer.concat(this.chunks);
  }

  private emit(chunk: Buffer): void {
    const s = this.sink;
    if (!s) this.chunks.push(chunk);
    else if ('fd' in s) writeAllSync(s.fd, chunk);
    else s.stream.write(chunk);
  }
}

export interface PcapRecord {
  tsSec: number;
  /** Microseconds (nanosecond files are truncated to microseconds). */
  tsUsec: number;
  /** Length on the wire; data.length is the captured part. */
  origLen: number;
  data: Uint8Array;
}

export interface PcapFile {
  linktype: number;
  snaplen: number;
  versionMajor: number;
  versionMinor: number;
  /** True when the file had the nanosecond magic. */
  nanos: boolean;
  frames: PcapRecord[];
}

/**
 * Reads a classic pcap file of either byte order and either timestamp resolution. Throws a
 * RangeError on a bad magic number or a record cut short (tests and the lab use this, not the
 * packet path). Record data are plain Uint8Array copies.
 */
export function readPcap(buf: Uint8Array): PcapFile {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < PCAP_FILE_HLEN) throw new RangeError('pcap: file header truncated');
  let le: boolean;
  let nanos: boolean;
  const mLE = v.getUint32(0, true);
  const mBE = v.getUint32(0, false);
  if (mLE === PCAP_MAGIC || mLE === PCAP_MAGIC_NS) {
    le = true;
    nanos = mLE === PCAP_MAGIC_NS;
  } else if (mBE === PCAP_MAGIC || mBE === PCAP_MAGIC_NS) {
    le = false;
    nanos = mBE === PCAP_MAGIC_NS;
  } else {
    throw new RangeError(`pcap: bad magic 0x${mBE.toString(16)}`);
  }
  const out: PcapFile = {
    versionMajor: v.getUint16(4, le),
    versionMinor: v.getUint16(6, le),
    snaplen: v.getUint32(16, le),
    linktype: v.getUint32(20, le),
    nanos,
    frames: [],
  };
  let o = PCAP_FILE_HLEN;
  while (o < buf.length) {
    if (o + PCAP_REC_HLEN > buf.length) throw new RangeError(`pcap: record header truncated at ${o}`);
    const tsSec = v.getUint32(o, le);
    const frac = v.getUint32(o + 4, le);
    const incl = v.getUint32(o + 8, le);
    const orig = v.getUint32(o + 12, le);
    o += PCAP_REC_HLEN;
    if (o + incl > buf.length) throw new RangeError(`pcap: record data truncated at ${o}`);
    out.frames.push({
      tsSec,
      tsUsec: nanos ? Math.floor(frac / 1000) : frac,
      origLen: orig,
      data: new Uint8Array(buf.subarray(o, o + incl)),
    });
    o += incl;
  }
  return out;
}

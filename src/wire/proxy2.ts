/**
 * PROXY protocol version 2, the binary header (haproxy doc/proxy-protocol.txt §2.2). FullNAT can
 * put it in front of a connection's first payload so the real server learns the client's address
 * (DPVS --proxy-protocol v2).
 *
 *   0               12       13       14       16
 *   | signature (12) | ver|cmd| fam|tp | len    | address block | TLVs ...
 *
 *  - signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A;
 *  - ver|cmd: version 2 in the high nibble, command LOCAL (0) or PROXY (1) in the low nibble;
 *  - fam|tp: address family UNSPEC/INET/INET6/UNIX (0..3) high, transport UNSPEC/STREAM/DGRAM
 *    (0..2) low;
 *  - len: bytes after these 16 (address block plus TLVs), big-endian;
 *  - address block: src addr, dst addr, src port, dst port — 12 bytes for INET, 36 for INET6;
 *    UNIX has two 108-byte paths and no ports;
 *  - TLVs: type (1), length (2, big-endian), value.
 *
 * Writers are allocation-free for the packet path; proxy2Parse/proxy2Emit work on a plain object
 * for tests and the real-server helper.
 */
import { setU16, setU32, u16, u32 } from './bytes.ts';

/** The 12-byte signature. */
export const PROXY2_SIG: readonly number[] = [
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];
/** Fixed part: signature, ver|cmd, fam|tp, len. */
export const PROXY2_HLEN = 16;
export const PROXY2_ADDR_LEN_V4 = 12;
export const PROXY2_ADDR_LEN_V6 = 36;
export const PROXY2_ADDR_LEN_UNIX = 216;
/** Header length with an IPv4 / IPv6 address block and no TLVs. */
export const PROXY2_LEN_V4 = PROXY2_HLEN + PROXY2_ADDR_LEN_V4;
export const PROXY2_LEN_V6 = PROXY2_HLEN + PROXY2_ADDR_LEN_V6;

const VER_CMD = 12;
const FAM = 13;
const LEN = 14;
const VERSION = 0x20;

export const Proxy2Cmd = { LOCAL: 0, PROXY: 1 } as const;
export type Proxy2Cmd = (typeof Proxy2Cmd)[keyof typeof Proxy2Cmd];

export const Proxy2Fam = { UNSPEC: 0, INET: 1, INET6: 2, UNIX: 3 } as const;
export type Proxy2Fam = (typeof Proxy2Fam)[keyof typeof Proxy2Fam];

export const Proxy2Transport = { UNSPEC: 0, STREAM: 1, DGRAM: 2 } as const;
export type Proxy2Transport = (typeof Proxy2Transport)[keyof typeof Proxy2Transport];

/** Registered TLV types (§2.2.1–2.2.7). */
export const PP2_TYPE = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
} as const;

/** Why a buffer does not hold a usable v2 header. TRUNCATED alone means "wait for more bytes". */
export const Proxy2Reason = {
  OK: 0,
  TRUNCATED: 1,
  BAD_SIGNATURE: 2,
  BAD_VERSION: 3,
  BAD_COMMAND: 4,
  BAD_FAMILY: 5,
  BAD_TRANSPORT: 6,
  BAD_ADDR_LEN: 7,
  BAD_TLV: 8,
} as const;
export type Proxy2Reason = (typeof Proxy2Reason)[keyof typeof Proxy2Reason];

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

function writeFixed(b: Uint8Array, off: number, cmd: number, famTp: number, len: number): void {
  for (let i = 0; i < 12; i++) b[off + i] = PROXY2_SIG[i];
  b[off + VER_CMD] = VERSION | cmd;
  b[off + FAM] = famTp;
  setU16(b, off + LEN, len);
}

function transportOf(proto: number): number {
  if (proto === IPPROTO_TCP) return Proxy2Transport.STREAM;
  if (proto === IPPROTO_UDP) return Proxy2Transport.DGRAM;
  throw new RangeError('PROXY v2 carries TCP or UDP only');
}

/**
 * Writes a PROXY header for an IPv4 TCP (`proto` 6) or UDP (17) connection from src:sport to
 * dst:dport at b[off]; returns its length (28). `b` must have 28 bytes from `off`.
 */
export function proxy2WriteV4(
  b: Uint8Array,
  off: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  proto: number,
): number {
  writeFixed(b, off, Proxy2Cmd.PROXY, (Proxy2Fam.INET << 4) | transportOf(proto), PROXY2_ADDR_LEN_V4);
  setU32(b, off + 16, src);
  setU32(b, off + 20, dst);
  setU16(b, off + 24, sport);
  setU16(b, off + 26, dport);
  return PROXY2_LEN_V4;
}

/**
 * IPv6 form: the 16-byte addresses are read from `src6`/`dst6` at the given offsets. Returns the
 * length (52).
 */
export function proxy2WriteV6(
  b: Uint8Array,
  off: number,
  src6: Uint8Array,
  srcOff: number,
  dst6: Uint8Array,
  dstOff: number,
  sport: number,
  dport: number,
  proto: number,
): number {
  writeFixed(b, off, Proxy2Cmd.PROXY, (Proxy2Fam.INET6 << 4) | transportOf(proto), PROXY2_ADDR_LEN_V6);
  for (let i = 0; i < 16; i++) {
    b[off + 16 + i] = src6[srcOff + i];
    b[off + 32 + i] = dst6[dstOff + i];
  }
  setU16(b, off + 48, sport);
  setU16(b, off + 50, dport);
  return PROXY2_LEN_V6;
}

/** A LOCAL header (a health check from the director itself): no addresses. Returns 16. */
export function proxy2WriteLocal(b: Uint8Array, off: number): number {
  writeFixed(b, off, Proxy2Cmd.LOCAL, 0, 0);
  return PROXY2_HLEN;
}

/**
 * Appends a TLV to the header at b[off] (written by one of the writers above) and updates its
 * length field. Returns the new total header length, or -1 when the length would pass 65535.
 */
export function proxy2AppendTlv(
  b: Uint8Array,
  off: number,
  type: number,
  value: Uint8Array,
  vOff: number,
  vLen: number,
): number {
  const len = u16(b, off + LEN);
  if (len + 3 + vLen > 0xffff) return -1;
  const at = off + PROXY2_HLEN + len;
  b[at] = type;
  setU16(b, at + 1, vLen);
  for (let i = 0; i < vLen; i++) b[at + 3 + i] = value[vOff + i];
  setU16(b, off + LEN, len + 3 + vLen);
  return PROXY2_HLEN + len + 3 + vLen;
}

/** Total header length announced by the header at b[off] (unchecked: use proxy2Check first). */
export function proxy2Len(b: Uint8Array, off: number): number {
  return PROXY2_HLEN + u16(b, off + LEN);
}

/** Address block length a family needs, or -1 when it carries none. */
function addrLenOf(fam: number): number {
  if (fam === Proxy2Fam.INET) return PROXY2_ADDR_LEN_V4;
  if (fam === Proxy2Fam.INET6) return PROXY2_ADDR_LEN_V6;
  if (fam === Proxy2Fam.UNIX) return PROXY2_ADDR_LEN_UNIX;
  return -1;
}

/** True when the header's address block is meant to be read (PROXY with a known family and
 * transport); otherwise a receiver skips `len` bytes as the spec asks. */
function hasAddresses(cmd: number, fam: number, tp: number): boolean {
  return cmd === Proxy2Cmd.PROXY && fam !== Proxy2Fam.UNSPEC && tp !== Proxy2Transport.UNSPEC;
}

/**
 * Validates an untrusted v2 header: `len` bytes are available from `off`. Checks the signature
 * (as far as bytes are present, so a stream reader can reject early), version, command, family,
 * transport, that the whole announced header is present, that the address block fits the
 * announced length, and that TLVs tile the rest exactly. Never throws.
 */
export function proxy2Check(b: Uint8Array, off: number, len: number): Proxy2Reason {
  const avail = Math.min(len, b.length - off);
  if (off < 0 || avail < 0) return Proxy2Reason.TRUNCATED;
  const sigAvail = avail < 12 ? avail : 12;
  for (let i = 0; i < sigAvail; i++) if (b[off + i] !== PROXY2_SIG[i]) return Proxy2Reason.BAD_SIGNATURE;
  if (avail < PROXY2_HLEN) return Proxy2Reason.TRUNCATED;
  const vc = b[off + VER_CMD];
  if ((vc & 0xf0) !== VERSION) return Proxy2Reason.BAD_VERSION;
  const cmd = vc & 0x0f;
  if (cmd > Proxy2Cmd.PROXY) return Proxy2Reason.BAD_COMMAND;
  const fam = b[off + FAM] >>> 4;
  const tp = b[off + FAM] & 0x0f;
  if (fam > Proxy2Fam.UNIX) return Proxy2Reason.BAD_FAMILY;
  if (tp > Proxy2Transport.DGRAM) return Proxy2Reason.BAD_TRANSPORT;
  const blen = u16(b, off + LEN);
  if (PROXY2_HLEN + blen > avail) return Proxy2Reason.TRUNCATED;
  if (!hasAddresses(cmd, fam, tp)) return Proxy2Reason.OK;
  const alen = addrLenOf(fam);
  if (blen < alen) return Proxy2Reason.BAD_ADDR_LEN;
  let i = off + PROXY2_HLEN + alen;
  const end = off + PROXY2_HLEN + blen;
  while (i < end) {
    if (i + 3 > end) return Proxy2Reason.BAD_TLV;
    const vl = u16(b, i + 1);
    if (i + 3 + vl > end) return Proxy2Reason.BAD_TLV;
    i += 3 + vl;
  }
  return Proxy2Reason.OK;
}

export interface Proxy2Tlv {
  type: number;
  value: Uint8Array;
}

/** Plain-object form of a v2 header. */
export interface Proxy2Repr {
  command: Proxy2Cmd;
  family: Proxy2Fam;
  transport: Proxy2Transport;
  /**
   * Source and destination: a uint32 for INET, 16 bytes for INET6, 108 bytes for UNIX; null when
   * the header carries no addresses to use (LOCAL, or an UNSPEC family or transport).
   */
  src: number | Uint8Array | null;
  dst: number | Uint8Array | null;
  /** Ports (0 for UNIX and when there are no addresses). */
  sport: number;
  dport: number;
  tlvs: Proxy2Tlv[];
  /** Bytes the header occupies, 16 + len (parse only; emit computes it). */
  headerLen?: number;
}

/** Parses an untrusted header; returns the Repr, or the Proxy2Reason it failed with. */
export function proxy2Parse(b: Uint8Array, off: number, len: number): Proxy2Repr | Proxy2Reason {
  const why = proxy2Check(b, off, len);
  if (why !== Proxy2Reason.OK) return why;
  const cmd = (b[off + VER_CMD] & 0x0f) as Proxy2Cmd;
  const fam = (b[off + FAM] >>> 4) as Proxy2Fam;
  const tp = (b[off + FAM] & 0x0f) as Proxy2Transport;
  const blen = u16(b, off + LEN);
  const r: Proxy2Repr = {
    command: cmd,
    family: fam,
    transport: tp,
    src: null,
    dst: null,
    sport: 0,
    dport: 0,
    tlvs: [],
    headerLen: PROXY2_HLEN + blen,
  };
  if (!hasAddresses(cmd, fam, tp)) return r;
  const a = off + PROXY2_HLEN;
  if (fam === Proxy2Fam.INET) {
    r.src = u32(b, a);
    r.dst = u32(b, a + 4);
    r.sport = u16(b, a + 8);
    r.dport = u16(b, a + 10);
  } else if (fam === Proxy2Fam.INET6) {
    r.src = b.slice(a, a + 16);
    r.dst = b.slice(a + 16, a + 32);
    r.sport = u16(b, a + 32);
    r.dport = u16(b, a + 34);
  } else {
    r.src = b.slice(a, a + 108);
    r.dst = b.slice(a + 108, a + 216);
  }
  let i = a + addrLenOf(fam);
  const end = a + blen;
  while (i < end) {
    const vl = u16(b, i + 1);
    r.tlvs.push({ type: b[i], value: b.slice(i + 3, i + 3 + vl) });
    i += 3 + vl;
  }
  return r;
}

/** Bytes proxy2Emit writes for `r`. */
export function proxy2EmitLen(r: Proxy2Repr): number {
  if (!hasAddresses(r.command, r.family, r.transport)) return PROXY2_HLEN;
  let n = PROXY2_HLEN + addrLenOf(r.family);
  for (const t of r.tlvs) n += 3 + t.value.length;
  return n;
}

/**
 * Writes `r` at b[off]; returns the length. Addresses and TLVs are written only when the header
 * carries addresses (see Proxy2Repr.src); otherwise the address length is 0. Throws on an
 * address of the wrong form (control plane and tests only).
 */
export function proxy2Emit(r: Proxy2Repr, b: Uint8Array, off: number): number {
  const n = proxy2EmitLen(r);
  if (n - PROXY2_HLEN > 0xffff) throw new RangeError('PROXY v2 header too long');
  writeFixed(b, off, r.command, (r.family << 4) | r.transport, n - PROXY2_HLEN);
  if (n === PROXY2_HLEN) return n;
  const a = off + PROXY2_HLEN;
  if (r.family === Proxy2Fam.INET) {
    if (typeof r.src !== 'number' || typeof r.dst !== 'number')
      throw new TypeError('INET addresses are uint32 numbers');
    setU32(b, a, r.src);
    setU32(b, a + 4, r.dst);
    setU16(b, a + 8, r.sport);
    setU16(b, a + 10, r.dport);
  } else {
    const size = r.family === Proxy2Fam.INET6 ? 16 : 108;
    if (
      !(r.src instanceof Uint8Array) ||
      !(r.dst instanceof Uint8Array) ||
      r.src.length !== size ||
      r.dst.length !== size
    )
      throw new TypeError(`addresses must be ${size} bytes`);
    b.set(r.src, a);
    b.set(r.dst, a + size);
    if (size === 16) {
      setU16(b, a + 32, r.sport);
      setU16(b, a + 34, r.dport);
    }
  }
  let i = a + addrLenOf(r.family);
  for (const t of r.tlvs) {
    b[i] = t.type;
    setU16(b, i + 1, t.value.length);
    b.set(t.value, i + 3);
    i += 3 + t.value.length;
  }
  return n;
}

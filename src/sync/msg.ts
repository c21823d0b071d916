/**
 * IPVS connection synchronisation messages (ip_vs_sync.c): the UDP payload a master director
 * multicasts so that backup directors can take over its live connections.
 *
 * Version 1 (sync_version=1, the kernel default). Header, 8 bytes:
 *
 *   0        8        16                31
 *   |   0    | syncid |       size       |   size: the whole message, header included
 *   | nconns |  ver=1 |     spare = 0    |
 *
 * then `nconns` entries, each starting on a 32-bit boundary (zero padding in between). An entry
 * (struct ip_vs_sync_v4 / ip_vs_sync_v6):
 *
 *   | type (bit 0: IPv6) | protocol | version (4 bits, 0) + entry size (12 bits) |
 *   | flags (32)                                                                 |
 *   | state (16)                        | cport (16)                             |
 *   | vport (16)                        | dport (16)                             |
 *   | fwmark (32)                                                                |
 *   | timeout, seconds (32)                                                      |
 *   | caddr, vaddr, daddr: 4 bytes each (IPv4) or 16 bytes each (IPv6)           |
 *   | options {type, len, data}: 1 sequence data (24 bytes), 2 PE data, 3 PE name |
 *
 * An option type with bit 6 set may be ignored by a receiver that does not know it; an unknown
 * option without it makes the receiver skip that one entry.
 *
 * Version 0 (sync_version=0, IPv4 only). Header {nconns, syncid, be16 size}; entries of 24 bytes
 * {0, protocol, cport, vport, dport, caddr, vaddr, daddr, be16 flags, be16 state}, followed by 24
 * bytes of sequence data when the flags have IN_SEQ or OUT_SEQ. v0 has no timeout and no fwmark.
 * A v1 message starts with a zero byte, so a v0-only receiver reads it as an empty message.
 *
 * Everything here works on a caller's buffer: syncCheck validates untrusted bytes and never
 * throws; SyncReader walks a checked message without allocating; syncAppend adds one conn to a
 * message being built. SyncMsgRepr/SyncConnRepr with syncMsgParse/syncMsgEmit are for tests.
 */
import { setU16, setU32, u16, u32 } from '../wire/bytes.ts';

/** IP_VS_SYNC_GROUP: 224.0.0.81. */
export const SYNC_GROUP4 = '224.0.0.81';
/** IP_VS_SYNC_PORT */
export const SYNC_PORT = 8848;
/** IPVS_SYNC_FLUSH_TIME: a message waits at most 2 s for more conns before it is sent. */
export const SYNC_FLUSH_TIME_MS = 2000;

/** SYNC_PROTO_VER */
export const SYNC_PROTO_VER = 1;
/** sizeof(struct ip_vs_sync_mesg_v0) */
export const SYNC_V0_HLEN = 4;
/** sizeof(struct ip_vs_sync_mesg) */
export const SYNC_V1_HLEN = 8;
/** SIMPLE_CONN_SIZE: a v0 entry without sequence data. */
export const SYNC_V0_CONN_LEN = 24;
/** sizeof(struct ip_vs_sync_conn_options): in_seq and out_seq, 3 words each. */
export const SYNC_SEQ_LEN = 24;
/** FULL_CONN_SIZE: a v0 entry with sequence data. */
export const SYNC_V0_FULL_LEN = SYNC_V0_CONN_LEN + SYNC_SEQ_LEN;
/** sizeof(struct ip_vs_sync_v4) */
export const SYNC_V1_CONN4_LEN = 36;
/** sizeof(struct ip_vs_sync_v6) */
export const SYNC_V1_CONN6_LEN = 72;
/** nconns is one byte: a message holds at most this many entries. */
export const SYNC_MAX_CONNS = 255;
/** IP_VS_PEDATA_MAXLEN */
export const SYNC_PE_DATA_MAXLEN = 255;
/** IP_VS_PENAME_MAXLEN */
export const SYNC_PE_NAME_MAXLEN = 16;
/** The longest v1 entry this module writes: IPv6, sequence data, full PE data and name. */
export const SYNC_MAX_CONN_LEN =
  SYNC_V1_CONN6_LEN + 2 + SYNC_SEQ_LEN + 2 + SYNC_PE_DATA_MAXLEN + 2 + SYNC_PE_NAME_MAXLEN;

/** Option types (IPVS_OPT_*). */
export const SyncOpt = { SEQ_DATA: 1, PE_DATA: 2, PE_NAME: 3 } as const;
/** IPVS_OPT_F_PARAM: the option may be ignored by a receiver that does not know it. */
export const SYNC_OPT_F_PARAM = 0x40;
/** STYPE_F_INET6: bit 0 of an entry's type byte. */
export const SYNC_TYPE_F_INET6 = 0x01;

/** Conn flags the sync code names beyond model/flags.ts (include/uapi/linux/ip_vs.h). */
export const SyncConnFlag = {
  OUT_SEQ: 0x200,
  IN_SEQ: 0x400,
  /** IP_VS_CONN_F_SEQ_MASK */
  SEQ_MASK: 0x600,
  /** IP_VS_CONN_F_BACKUP_MASK: the bits a backup takes from a v1 entry when it creates a conn. */
  BACKUP_MASK: 0x7 | 0x80 | 0x100 | 0x600 | 0x800 | 0x1000,
  /** IP_VS_CONN_F_BACKUP_UPD_MASK: the bits a backup updates on a conn it already has. */
  BACKUP_UPD_MASK: 0x100 | 0x600,
} as const;

// v1 entry field offsets.
const E_TYPE = 0;
const E_PROTO = 1;
const E_VER_SIZE = 2;
const E_FLAGS = 4;
const E_STATE = 8;
const E_CPORT = 10;
const E_VPORT = 12;
const E_DPORT = 14;
const E_FWMARK = 16;
const E_TIMEOUT = 20;
const E_ADDR = 24;
/** SVER_MASK: the size bits of ver_size. */
const SIZE_MASK = 0x0fff;
/** SVER_SHIFT */
const VER_SHIFT = 12;

// v0 entry field offsets.
const V0_PROTO = 1;
const V0_CPORT = 2;
const V0_VPORT = 4;
const V0_DPORT = 6;
const V0_CADDR = 8;
const V0_VADDR = 12;
const V0_DADDR = 16;
const V0_FLAGS = 20;
const V0_STATE = 22;

/**
 * Why a sync message was refused (this module's own codes, not wire/reason.ts). The v1 entry
 * codes are the kernel's negative results of ip_vs_proc_sync_conn, which drop the whole message.
 */
export const SyncResult = {
  OK: 0,
  /** Shorter than a v0 header, or the bounds lie outside the buffer. */
  TRUNCATED: 1,
  /** The header's size differs from the datagram length. */
  BAD_SIZE: 2,
  /** A v0 entry (or its sequence data) runs past the end. */
  V0_CONN_TRUNCATED: 3,
  /** Fewer bytes left than a v1 IPv4 entry. */
  V1_CONN_TRUNCATED: 4,
  /** A v1 entry's size runs past the end. */
  V1_CONN_OVERRUN: 5,
  /** A v1 entry's version bits are not 0. */
  V1_BAD_CONN_VERSION: 6,
  /** A v1 entry's type is neither IPv4 (0) nor has the IPv6 bit. */
  V1_BAD_TYPE: 7,
  /** A v1 entry's size is smaller than its fixed part. */
  V1_CONN_SHORT: 8,
  /** An option header runs past the entry. */
  V1_OPT_TRUNCATED: 9,
  /** An option has length 0 or runs past the entry. */
  V1_OPT_BAD_LEN: 10,
  /** Sequence data not 24 bytes, or given twice. */
  V1_BAD_SEQ_OPT: 11,
  /** PE data given twice. */
  V1_BAD_PE_DATA: 12,
  /** PE name longer than 16 bytes, or given twice. */
  V1_BAD_PE_NAME: 13,
  /** Not a check result: SyncBackup.receive ignored a well-formed message for another syncid. */
  SYNCID_MISMATCH: 14,
} as const;
export type SyncResult = (typeof SyncResult)[keyof typeof SyncResult];

/** Result code → name. */
export const syncResultNames: readonly string[] = (() => {
  const names: string[] = [];
  for (const [k, v] of Object.entries(SyncResult)) names[v] = k;
  return names;
})();

/**
 * The message format, by ip_vs_process_message's rule: v1 when version is 1 and both reserved
 * fields are 0, otherwise v0. Needs at least 4 bytes; fewer than 8 can only be v0.
 */
export function syncMsgVersion(b: Uint8Array, off: number, len: number): 0 | 1 {
  if (
    len >= SYNC_V1_HLEN &&
    b[off] === 0 &&
    b[off + 5] === SYNC_PROTO_VER &&
    b[off + 6] === 0 &&
    b[off + 7] === 0
  )
    return 1;
  return 0;
}

export function syncMsgSyncid(b: Uint8Array, off: number): number {
  return b[off + 1];
}

export function syncMsgSize(b: Uint8Array, off: number): number {
  return u16(b, off + 2);
}

/** Entries in a message of the given version. */
export function syncMsgCount(b: Uint8Array, off: number, version: 0 | 1): number {
  return version === 1 ? b[off + 4] : b[off];
}

/**
 * Validates an untrusted sync message of `len` bytes at `off` (the datagram as received). Checks
 * what ip_vs_process_message and ip_vs_proc_sync_conn check before they act: the size, then every
 * entry's framing and options. Unlike the kernel, which applies the entries before a bad one, a
 * message that fails here is refused whole. Per-entry conditions that only skip the entry
 * (unknown protocol or state, an unknown mandatory option) are left to the receiver. Never throws.
 */
export function syncCheck(b: Uint8Array, off: number, len: number): SyncResult {
  if (!(off >= 0) || !(len >= 0) || off + len > b.length) return SyncResult.TRUNCATED;
  if (len < SYNC_V0_HLEN) return SyncResult.TRUNCATED;
  if (u16(b, off + 2) !== len) return SyncResult.BAD_SIZE;
  const end = off + len;
  if (syncMsgVersion(b, off, len) === 0) {
    // ip_vs_process_message_v0
    let p = off + SYNC_V0_HLEN;
    for (let i = b[off]; i > 0; i--) {
      if (p + SYNC_V0_CONN_LEN > end) return SyncResult.V0_CONN_TRUNCATED;
      p += (u16(b, p + V0_FLAGS) & SyncConnFlag.SEQ_MASK) !== 0 ? SYNC_V0_FULL_LEN : SYNC_V0_CONN_LEN;
      if (p > end) return SyncResult.V0_CONN_TRUNCATED;
    }
    return SyncResult.OK;
  }
  let p = off + SYNC_V1_HLEN;
  for (let i = b[off + 4]; i > 0; i--) {
    // The kernel checks room for the IPv4 layout first, whatever the entry's type.
    if (p + SYNC_V1_CONN4_LEN > end) return SyncResult.V1_CONN_TRUNCATED;
    const vs = u16(b, p + E_VER_SIZE);
    const size = vs & SIZE_MASK;
    if (p + size > end) return SyncResult.V1_CONN_OVERRUN;
    if (vs >>> VER_SHIFT !== 0) return SyncResult.V1_BAD_CONN_VERSION;
    const r = checkConnV1(b, p, p + size);
    if (r !== SyncResult.OK) return r;
    p += (size + 3) & ~3;
  }
  return SyncResult.OK;
}

/** ip_vs_proc_sync_conn's framing checks of one v1 entry spanning [p, mend). */
function checkConnV1(b: Uint8Array, p: number, mend: number): SyncResult {
  const type = b[p + E_TYPE];
  let q: number;
  if ((type & SYNC_TYPE_F_INET6) !== 0) q = p + SYNC_V1_CONN6_LEN;
  else if (type === 0) q = p + SYNC_V1_CONN4_LEN;
  else return SyncResult.V1_BAD_TYPE;
  if (q > mend) return SyncResult.V1_CONN_SHORT;
  let seen = 0;
  while (q < mend) {
    if (q + 2 > mend) return SyncResult.V1_OPT_TRUNCATED;
    const t = b[q];
    const l = b[q + 1];
    q += 2;
    if (l === 0 || q + l > mend) return SyncResult.V1_OPT_BAD_LEN;
    switch (t & ~SYNC_OPT_F_PARAM) {
      case SyncOpt.SEQ_DATA:
        if (l !== SYNC_SEQ_LEN || (seen & 1) !== 0) return SyncResult.V1_BAD_SEQ_OPT;
        seen |= 1;
        break;
      case SyncOpt.PE_DATA:
        if ((seen & 2) !== 0) return SyncResult.V1_BAD_PE_DATA;
        seen |= 2;
        break;
      case SyncOpt.PE_NAME:
        if (l > SYNC_PE_NAME_MAXLEN || (seen & 4) !== 0) return SyncResult.V1_BAD_PE_NAME;
        seen |= 4;
        break;
      default:
        // An unknown mandatory option: the kernel stops here and skips only this entry.
        if ((t & SYNC_OPT_F_PARAM) === 0) return SyncResult.OK;
    }
    q += l;
  }
  return SyncResult.OK;
}

/**
 * Walks the entries of a message that passed syncCheck, one at a time, without allocating: after
 * each successful next() the public fields describe the current entry. Addresses are read from
 * the message: IPv4 ones with caddr4()/vaddr4()/daddr4(), IPv6 ones as 16 bytes at caddrOff etc.
 */
export class SyncReader {
  b: Uint8Array = new Uint8Array(0);
  version: 0 | 1 = 1;
  syncid = 0;
  /** Entries in the message. */
  count = 0;

  // The current entry.
  /** Offset of the entry in `b`, and its length (options included, padding not). */
  off = -1;
  len = 0;
  af: 4 | 6 = 4;
  proto = 0;
  /** Flags as sent: 32 bits in v1, 16 in v0. */
  flags = 0;
  state = 0;
  cport = 0;
  vport = 0;
  dport = 0;
  /** v1 only; 0 in v0. */
  fwmark = 0;
  /** Seconds; v1 only, 0 in v0. */
  timeout = 0;
  caddrOff = 0;
  vaddrOff = 0;
  daddrOff = 0;
  /** Offset of the 24 bytes of sequence data, or -1. */
  seqOff = -1;
  peDataOff = -1;
  peDataLen = 0;
  peNameOff = -1;
  peNameLen = 0;
  /** Type of an unknown mandatory option (the receiver must skip this entry), or -1. */
  unknownOpt = -1;

  private p = 0;
  private left = 0;

  /** Start on a checked message of `len` bytes at `off`. */
  reset(b: Uint8Array, off: number, len: number): void {
    this.b = b;
    this.version = syncMsgVersion(b, off, len);
    this.syncid = b[off + 1];
    this.count = syncMsgCount(b, off, this.version);
    this.left = this.count;
    this.p = off + (this.version === 1 ? SYNC_V1_HLEN : SYNC_V0_HLEN);
    this.off = -1;
  }

  /** Move to the next entry; false when there is none. */
  next(): boolean {
    if (this.left === 0) return false;
    this.left--;
    const b = this.b;
    const p = this.p;
    this.off = p;
    this.seqOff = -1;
    this.peDataOff = -1;
    this.peDataLen = 0;
    this.peNameOff = -1;
    this.peNameLen = 0;
    this.unknownOpt = -1;
    if (this.version === 0) {
      this.af = 4;
      this.proto = b[p + V0_PROTO];
      this.cport = u16(b, p + V0_CPORT);
      this.vport = u16(b, p + V0_VPORT);
      this.dport = u16(b, p + V0_DPORT);
      this.caddrOff = p + V0_CADDR;
      this.vaddrOff = p + V0_VADDR;
      this.daddrOff = p + V0_DADDR;
      this.flags = u16(b, p + V0_FLAGS);
      this.state = u16(b, p + V0_STATE);
      this.fwmark = 0;
      this.timeout = 0;
      if ((this.flags & SyncConnFlag.SEQ_MASK) !== 0) {
        this.seqOff = p + SYNC_V0_CONN_LEN;
        this.len = SYNC_V0_FULL_LEN;
      } else {
        this.len = SYNC_V0_CONN_LEN;
      }
      this.p = p + this.len;
      return true;
    }
    const size = u16(b, p + E_VER_SIZE) & SIZE_MASK;
    this.len = size;
    this.p = p + ((size + 3) & ~3);
    const v6 = (b[p + E_TYPE] & SYNC_TYPE_F_INET6) !== 0;
    const aw = v6 ? 16 : 4;
    this.af = v6 ? 6 : 4;
    this.proto = b[p + E_PROTO];
    this.flags = u32(b, p + E_FLAGS);
    this.state = u16(b, p + E_STATE);
    this.cport = u16(b, p + E_CPORT);
    this.vport = u16(b, p + E_VPORT);
    this.dport = u16(b, p + E_DPORT);
    this.fwmark = u32(b, p + E_FWMARK);
    this.timeout = u32(b, p + E_TIMEOUT);
    this.caddrOff = p + E_ADDR;
    this.vaddrOff = p + E_ADDR + aw;
    this.daddrOff = p + E_ADDR + 2 * aw;
    const mend = p + size;
    let q = p + E_ADDR + 3 * aw;
    while (q < mend) {
      const t = b[q];
      const l = b[q + 1];
      q += 2;
      switch (t & ~SYNC_OPT_F_PARAM) {
        case SyncOpt.SEQ_DATA:
          this.seqOff = q;
          break;
        case SyncOpt.PE_DATA:
          this.peDataOff = q;
          this.peDataLen = l;
          break;
        case SyncOpt.PE_NAME:
          this.peNameOff = q;
          this.peNameLen = l;
          break;
        default:
          if ((t & SYNC_OPT_F_PARAM) === 0) {
            this.unknownOpt = t;
            return true;
          }
      }
      q += l;
    }
    return true;
  }

  caddr4(): number {
    return u32(this.b, this.caddrOff);
  }
  vaddr4(): number {
    return u32(this.b, this.vaddrOff);
  }
  daddr4(): number {
    return u32(this.b, this.daddrOff);
  }
}

// ---------------------------------------------------------------- plain-object form and writer

/**
 * struct ip_vs_sync_conn_options: the sequence-number adjustments of both directions. v1 sends
 * them big-endian; v0 copies the sender's in-memory struct, so it is in the master's byte order
 * (little-endian on the x86 and arm64 directors this is meant to talk to).
 */
export interface SyncSeq {
  inInit: number;
  inDelta: number;
  inPrevDelta: number;
  outInit: number;
  outDelta: number;
  outPrevDelta: number;
}

/** One conn entry as a plain object. */
export interface SyncConnRepr {
  af: 4 | 6;
  proto: number;
  /** Conn flags as sent (v0 carries the low 16 bits). */
  flags: number;
  state: number;
  cport: number;
  vport: number;
  dport: number;
  /** v1 only (v0 parses as 0). */
  fwmark: number;
  /** Seconds; v1 only (v0 parses as 0). */
  timeout: number;
  /** IPv4 addresses as uint32 (af 4). */
  caddr: number;
  vaddr: number;
  daddr: number;
  /** IPv6 addresses, 16 bytes each (af 6), else null. */
  caddr6: Uint8Array | null;
  vaddr6: Uint8Array | null;
  daddr6: Uint8Array | null;
  /** v1: written as an option when present. v0: written when the flags have a SEQ bit (zeros if absent). */
  seq?: SyncSeq;
  /** PE data (1..255 bytes), v1 only. */
  peData?: Uint8Array;
  /** PE name (1..16 ASCII characters), v1 only. */
  peName?: string;
  /** Parse only: the type of an unknown mandatory option, when the entry has one. */
  unknownOpt?: number;
}

export interface SyncMsgRepr {
  version: 0 | 1;
  syncid: number;
  conns: SyncConnRepr[];
}

/** A SyncConnRepr with zero fields and preallocated IPv6 address buffers, for reuse. */
export function newSyncConnRepr(): SyncConnRepr {
  return {
    af: 4,
    proto: 0,
    flags: 0,
    state: 0,
    cport: 0,
    vport: 0,
    dport: 0,
    fwmark: 0,
    timeout: 0,
    caddr: 0,
    vaddr: 0,
    daddr: 0,
    caddr6: new Uint8Array(16),
    vaddr6: new Uint8Array(16),
    daddr6: new Uint8Array(16),
  };
}

/** Start an empty message of `version` at `off`; returns its length (the header's). */
export function syncMsgInit(b: Uint8Array, off: number, version: 0 | 1, syncid: number): number {
  if (version === 1) {
    b[off] = 0;
    b[off + 1] = syncid & 0xff;
    setU16(b, off + 2, SYNC_V1_HLEN);
    b[off + 4] = 0;
    b[off + 5] = SYNC_PROTO_VER;
    b[off + 6] = 0;
    b[off + 7] = 0;
    return SYNC_V1_HLEN;
  }
  b[off] = 0;
  b[off + 1] = syncid & 0xff;
  setU16(b, off + 2, SYNC_V0_HLEN);
  return SYNC_V0_HLEN;
}

/** Entry length of `c` in a message of `version`, without padding. */
export function syncConnLen(c: SyncConnRepr, version: 0 | 1): number {
  if (version === 0) return (c.flags & SyncConnFlag.SEQ_MASK) !== 0 ? SYNC_V0_FULL_LEN : SYNC_V0_CONN_LEN;
  let len = c.af === 6 ? SYNC_V1_CONN6_LEN : SYNC_V1_CONN4_LEN;
  if (c.seq !== undefined) len += 2 + SYNC_SEQ_LEN;
  if (c.peData !== undefined && c.peData.length > 0) len += 2 + c.peData.length;
  if (c.peName !== undefined && c.peName.length > 0) len += 2 + c.peName.length;
  return len;
}

/** syncAppend's answer when the conn does not fit: send the message and start a new one. */
export const SYNC_FULL = -1;

/**
 * Append conn `c` to the message being built at `off` (started with syncMsgInit; its header holds
 * the version, length and count). A message already holding a conn is full when this one would
 * take it past `maxlen` bytes (padding included) or past 255 conns: then nothing is written and
 * SYNC_FULL is returned. The first conn is always taken, even past `maxlen`, as the kernel sizes a
 * buffer to fit its first conn. Returns the new message length. Allocates nothing. Throws a
 * RangeError only on a caller's mistake: an IPv6 conn in a v0 message, over-long PE data or
 * name, or a buffer too small for a first conn.
 */
export function syncAppend(b: Uint8Array, off: number, maxlen: number, c: SyncConnRepr): number {
  const size = u16(b, off + 2);
  const version = syncMsgVersion(b, off, size);
  const count = syncMsgCount(b, off, version);
  if (version === 0 && c.af !== 4) throw new RangeError('sync v0 carries IPv4 conns only');
  const len = syncConnLen(c, version);
  // ip_vs_sync_conn: v1 entries start on a 32-bit boundary.
  const pad = version === 1 ? (4 - (size & 3)) & 3 : 0;
  const total = size + pad + len;
  if (count > 0 && (total > maxlen || total > 0xffff || count >= SYNC_MAX_CONNS || off + total > b.length))
    return SYNC_FULL;
  if (off + total > b.length) throw new RangeError('sync message buffer too small for one conn');
  let p = off + size;
  for (let i = 0; i < pad; i++) b[p++] = 0;
  if (version === 0) writeConnV0(b, p, c);
  else writeConnV1(b, p, len, c);
  setU16(b, off + 2, total);
  b[version === 1 ? off + 4 : off] = count + 1;
  return total;
}

function writeConnV0(b: Uint8Array, p: number, c: SyncConnRepr): void {
  b[p] = 0;
  b[p + V0_PROTO] = c.proto;
  setU16(b, p + V0_CPORT, c.cport);
  setU16(b, p + V0_VPORT, c.vport);
  setU16(b, p + V0_DPORT, c.dport);
  setU32(b, p + V0_CADDR, c.caddr);
  setU32(b, p + V0_VADDR, c.vaddr);
  setU32(b, p + V0_DADDR, c.daddr);
  setU16(b, p + V0_FLAGS, c.flags & 0xffff);
  setU16(b, p + V0_STATE, c.state);
  if ((c.flags & SyncConnFlag.SEQ_MASK) !== 0) writeSeq(b, p + SYNC_V0_CONN_LEN, c.seq, true);
}

function writeConnV1(b: Uint8Array, p: number, len: number, c: SyncConnRepr): void {
  const v6 = c.af === 6;
  b[p + E_TYPE] = v6 ? SYNC_TYPE_F_INET6 : 0;
  b[p + E_PROTO] = c.proto;
  setU16(b, p + E_VER_SIZE, len & SIZE_MASK);
  setU32(b, p + E_FLAGS, c.flags);
  setU16(b, p + E_STATE, c.state);
  setU16(b, p + E_CPORT, c.cport);
  setU16(b, p + E_VPORT, c.vport);
  setU16(b, p + E_DPORT, c.dport);
  setU32(b, p + E_FWMARK, c.fwmark);
  setU32(b, p + E_TIMEOUT, c.timeout);
  let q = p + E_ADDR;
  if (v6) {
    for (let i = 0; i < 16; i++) b[q + i] = c.caddr6![i];
    for (let i = 0; i < 16; i++) b[q + 16 + i] = c.vaddr6![i];
    for (let i = 0; i < 16; i++) b[q + 32 + i] = c.daddr6![i];
    q += 48;
  } else {
    setU32(b, q, c.caddr);
    setU32(b, q + 4, c.vaddr);
    setU32(b, q + 8, c.daddr);
    q += 12;
  }
  if (c.seq !== undefined) {
    b[q] = SyncOpt.SEQ_DATA;
    b[q + 1] = SYNC_SEQ_LEN;
    writeSeq(b, q + 2, c.seq, false);
    q += 2 + SYNC_SEQ_LEN;
  }
  const pd = c.peData;
  if (pd !== undefined && pd.length > 0) {
    if (pd.length > SYNC_PE_DATA_MAXLEN) throw new RangeError('sync PE data longer than 255 bytes');
    b[q] = SyncOpt.PE_DATA;
    b[q + 1] = pd.length;
    for (let i = 0; i < pd.length; i++) b[q + 2 + i] = pd[i];
    q += 2 + pd.length;
  }
  const pn = c.peName;
  if (pn !== undefined && pn.length > 0) {
    if (pn.length > SYNC_PE_NAME_MAXLEN) throw new RangeError('sync PE name longer than 16 bytes');
    b[q] = SyncOpt.PE_NAME;
    b[q + 1] = pn.length;
    for (let i = 0; i < pn.length; i++) b[q + 2 + i] = pn.charCodeAt(i) & 0xff;
  }
}

function setU32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function writeSeq(b: Uint8Array, o: number, s: SyncSeq | undefined, le: boolean): void {
  const set = le ? setU32le : setU32;
  set(b, o, s?.inInit ?? 0);
  set(b, o + 4, s?.inDelta ?? 0);
  set(b, o + 8, s?.inPrevDelta ?? 0);
  set(b, o + 12, s?.outInit ?? 0);
  set(b, o + 16, s?.outDelta ?? 0);
  set(b, o + 20, s?.outPrevDelta ?? 0);
}

function readSeq(b: Uint8Array, o: number, le: boolean): SyncSeq {
  const get = le ? u32le : u32;
  return {
    inInit: get(b, o),
    inDelta: get(b, o + 4),
    inPrevDelta: get(b, o + 8),
    outInit: get(b, o + 12),
    outDelta: get(b, o + 16),
    outPrevDelta: get(b, o + 20),
  };
}

/** The current entry of `r` as a plain object (allocates). */
export function syncConnParse(r: SyncReader): SyncConnRepr {
  const b = r.b;
  const v6 = r.af === 6;
  const c: SyncConnRepr = {
    af: r.af,
    proto: r.proto,
    flags: r.flags,
    state: r.state,
    cport: r.cport,
    vport: r.vport,
    dport: r.dport,
    fwmark: r.fwmark,
    timeout: r.timeout,
    caddr: v6 ? 0 : r.caddr4(),
    vaddr: v6 ? 0 : r.vaddr4(),
    daddr: v6 ? 0 : r.daddr4(),
    caddr6: v6 ? b.slice(r.caddrOff, r.caddrOff + 16) : null,
    vaddr6: v6 ? b.slice(r.vaddrOff, r.vaddrOff + 16) : null,
    daddr6: v6 ? b.slice(r.daddrOff, r.daddrOff + 16) : null,
  };
  if (r.seqOff >= 0) c.seq = readSeq(b, r.seqOff, r.version === 0);
  if (r.peDataOff >= 0) c.peData = b.slice(r.peDataOff, r.peDataOff + r.peDataLen);
  if (r.peNameOff >= 0) c.peName = String.fromCharCode(...b.subarray(r.peNameOff, r.peNameOff + r.peNameLen));
  if (r.unknownOpt >= 0) c.unknownOpt = r.unknownOpt;
  return c;
}

/** A checked message (syncCheck OK) as a plain object. */
export function syncMsgParse(b: Uint8Array, off: number, len: number): SyncMsgRepr {
  const r = new SyncReader();
  r.reset(b, off, len);
  const conns: SyncConnRepr[] = [];
  while (r.next()) conns.push(syncConnParse(r));
  return { version: r.version, syncid: r.syncid, conns };
}

/**
 * Writes message `m` at `off` with every conn in it, however long (maxlen is not applied);
 * returns its length. Throws a RangeError when the buffer is too small or a conn cannot be
 * encoded (see syncAppend), or on more than 255 conns.
 */
export function syncMsgEmit(m: SyncMsgRepr, b: Uint8Array, off: number): number {
  if (m.conns.length > SYNC_MAX_CONNS) throw new RangeError('a sync message holds at most 255 conns');
  let len = syncMsgInit(b, off, m.version, m.syncid);
  for (const c of m.conns) {
    const n = syncAppend(b, off, 0x10000, c);
    if (n === SYNC_FULL) throw new RangeError('sync message buffer too small');
    len = n;
  }
  return len;
}

/** Bytes syncMsgEmit writes for `m`. */
export function syncMsgEmitLen(m: SyncMsgRepr): number {
  let len = m.version === 1 ? SYNC_V1_HLEN : SYNC_V0_HLEN;
  for (const c of m.conns) {
    if (m.version === 1) len += (4 - (len & 3)) & 3;
    len += syncConnLen(c, m.version);
  }
  return len;
}

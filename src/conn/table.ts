/**
 * The IPVS connection table (ip_vs_conn.c) as fixed-size records indexed by a conn id.
 * No JavaScript object exists per conn: creating, finding, refreshing and expiring conns allocate
 * nothing. One table per address family (IPv4 stores an address in one uint32 word, IPv6 in four).
 *
 * - Each conn is one record in a single ArrayBuffer (64 bytes for IPv4, 112 for IPv6) read through
 *   typed-array views at a fixed stride, so the fields one packet needs (the in-lookup key and
 *   chain link, flags, state, dest, counters, timer, the xmit addresses) share one or two cache
 *   lines and one page, instead of one line and page per field. Rarely used fields (fwmark, the
 *   control link and count, the out-chain link) live in a second, 16-byte cold record.
 * - Two chained hash indexes: "in" by the client side <proto, caddr, cport, vaddr, vport> (packets
 *   from clients, and persistence templates), "out" by the real-server side <proto, daddr, dport,
 *   laddr, lport> (NAT/FullNAT replies). New entries go to the chain head, so like the kernel's
 *   hlist the newest of two equal keys is found first. The two indexes' heads are interleaved in
 *   one array, and a DR/TUN conn's out key hashes to its in bucket, so a new conn of those methods
 *   touches one bucket line (the kernel has one table for both directions for the same reason).
 * - Expiry on an injected clock: a hashed timing wheel with intrusive int32 links. Refreshing a
 *   conn to a later time only stores the new time; the wheel re-files it when it reaches the old
 *   slot. So put() on an established conn is an add, a compare and a store.
 * - Dest binding keeps the dest's active/inactive/persistent counters, refcnt and OVERLOAD flag.
 *
 * Dests are referenced by DestRegistry id. The control plane must not free a dest (and so must not
 * let its id be reused) while its refcnt is above zero, as the kernel keeps such dests in the trash.
 */
import type { IpAddr } from '../model/addr.ts';
import { addr4, addr6 } from '../model/addr.ts';
import type { DestRegistry } from '../model/dest.ts';
import type { Af, Fwd as FwdT } from '../model/flags.ts';
import { ConnFlag, DestFlag, FWD_MASK, Fwd } from '../model/flags.ts';
import { Stats } from '../model/stats.ts';
import { SCTP_STATE_NAMES, SctpState } from './proto-sctp.ts';
import { TCP_STATE_NAMES, TcpState } from './proto-tcp.ts';
import { UDP_STATE_NAMES } from './proto-udp.ts';
import type { ConnSettings } from './settings.ts';
import { defaultConnSettings } from './settings.ts';
import { Timeouts } from './timeouts.ts';
import type { ConnParam } from './types.ts';
import { CTPL_STATE_NAMES, CtplState, IPPROTO_IP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from './types.ts';

export interface ConnTableOptions {
  af: Af;
  dests: DestRegistry;
  /** Injected uint32 random source; seeds the hash (ip_vs_conn_rnd). */
  random: () => number;
  /** Most entries (conns and templates) the table holds; insert returns -1 beyond it. Default 2^20. */
  maxEntries?: number;
  /** ipvs->tot_stats; a fresh Stats if not given. */
  totalStats?: Stats;
  /** Per-protocol timeouts, usually shared by the IPv4 and IPv6 tables. */
  timeouts?: Timeouts;
  settings?: ConnSettings;
  /** Timer granularity in ms (default 1000): a conn expires at most this late. */
  tickMs?: number;
  /** Timing-wheel slots, a power of two (default 1024: one revolution is 17 min at 1 s ticks). */
  wheelSlots?: number;
}

export interface ConnListEntry {
  id: number;
  /** Time left before expiry, clamped at 0 (jiffies_delta_to_msecs). */
  remainingMs: number;
}

/** One conn as a plain object, for listings, the control API and tests (allocates). */
export interface ConnRepr {
  id: number;
  proto: number;
  caddr: IpAddr;
  cport: number;
  vaddr: IpAddr;
  vport: number;
  daddr: IpAddr;
  dport: number;
  laddr: IpAddr;
  lport: number;
  fwmark: number;
  flags: number;
  fwd: FwdT;
  state: number;
  stateName: string;
  timeoutMs: number;
  expiresAt: number;
  destId: number;
  control: number;
  nControl: number;
  inPkts: number;
}

const NIL = -1;

// Hot record, in 32-bit words from the record start. Every field one established packet touches
// sits in the first 12 words; the addresses follow (`aw` words each: caddr, vaddr, daddr, laddr).
/** int32: in-chain link, next id + 1 (0 = end of chain). */
const R_IN_NEXT = 0;
/** Two uint16: cport, vport. */
const R_PORTS = 1;
/** Bytes: proto, state, alive, (spare). */
const R_PSA = 2;
const R_FLAGS = 3;
/** int32: DestRegistry id or -1. */
const R_DEST = 4;
const R_IN_PKTS = 5;
const R_TIMEOUT = 6;
/** int32: previous node on the timing wheel, NIL when not filed. */
const R_W_PREV = 7;
/** float64 over words 8-9 (8-byte aligned as strides are even): expiry time in ms. */
const R_EXPIRES = 8;
/** int32: next node on the timing wheel, or the next free id. */
const R_W_NEXT = 10;
/** Two uint16: dport, lport. */
const R_OPORTS = 11;
const R_ADDR = 12;
// Cold record, 4 words.
const C_FWMARK = 0;
/** int32: controlling conn (template) or -1. */
const C_CONTROL = 1;
const C_N_CONTROL = 2;
/** int32: out-chain link, next id + 1 (0 = end of chain); only read on a hash collision. */
const C_OUT_NEXT = 3;
const COLD_WORDS = 4;
/** IPv4 record stride in words (64 bytes). */
const SW4 = 16;

/** Which address of a conn: client, virtual, dest (real server), local. */
export const ConnAddr = { C: 0, V: 1, D: 2, L: 3 } as const;
export type ConnAddr = (typeof ConnAddr)[keyof typeof ConnAddr];
/** ip_vs_conn_new: a fresh conn lives 3 s until its first state transition says otherwise. */
const NEW_CONN_TIMEOUT_MS = 3000;
/** ip_vs_conn_expire: a conn that still controls others is looked at again in 60 s. */
const EXPIRE_LATER_MS = 60_000;

// MurmurHash3-style 32-bit mixing (public-domain algorithm) over the key words.
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function loadWords(dst: Uint32Array, dOff: number, b: Uint8Array, o: number): void {
  for (let i = 0; i < 4; i++, o += 4)
    dst[dOff + i] = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** The out index keys replies by the real server's address for NAT/FullNAT, else by the VIP. */
function outUsesDest(flags: number): boolean {
  const fwd = flags & FWD_MASK;
  return fwd === Fwd.MASQ || fwd === Fwd.FULLNAT;
}

export class ConnTable {
  readonly af: Af;
  readonly maxEntries: number;
  readonly dests: DestRegistry;
  readonly timeouts: Timeouts;
  readonly settings: ConnSettings;
  readonly totalStats: Stats;
  readonly tickMs: number;
  readonly wheelSlots: number;
  /** 32-bit words per address: 1 for IPv4, 4 for IPv6. */
  readonly aw: 1 | 4;

  /** Live entries (conns and templates). */
  count = 0;
  /** Inserts refused because the table was full. */
  fullDrops = 0;
  /**
   * Called once for every entry the table frees (expiry, expireNow, put of a one-packet conn,
   * flushes), while its fields are still readable and before its id can be reused; e.g. to give
   * back a FullNAT local port. It must not call back into the table.
   */
  onUnlink: ((id: number) => void) | null = null;

  // Per-conn records (struct ip_vs_conn), see R_* and C_*. Addresses are big-endian uint32 words of
  // the address bytes. The key fields (proto, addresses, ports) change only through the table,
  // since the hash indexes depend on them. An id is only meaningful while isAlive(id).
  /** Record stride in 32-bit words: 16 (64 bytes) for IPv4, 28 (112 bytes) for IPv6. */
  private readonly sw: number;
  /** Record stride in 64-bit words (for the float64 view). */
  private readonly dw: number;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly u16: Uint16Array;
  private readonly u8: Uint8Array;
  private readonly f64: Float64Array;
  private readonly coldU: Uint32Array;
  private readonly coldI: Int32Array;

  // Hash indexes: heads per bucket holding id + 1 (0 = none), so a zero-filled array is an empty
  // index and untouched pages cost no memory.
  private readonly bucketMask: number;
  /**
   * Both indexes' chain heads, interleaved: bucket h's in-head at [2h], its out-head at [2h + 1].
   * The out key is hashed with the reply's destination first (local side, then remote side), so for
   * a DR or TUN conn, whose out key is the in key turned around, both heads share one bucket and
   * one cache line: a new conn's lookups and inserts touch one line, not two.
   */
  private readonly heads: Int32Array;
  // Timing wheel: per slot a circular doubly linked list through a sentinel node. Node n < max is
  // conn n; node max + s is slot s's sentinel, whose [prev, next] are wheel[2s], wheel[2s + 1].
  private readonly slotMask: number;
  private readonly wheel: Int32Array;
  /** 1 / tickMs, so filing a timer multiplies instead of dividing. */
  private readonly invTick: number;
  /** Next tick the wheel has not processed; -1 until the clock is first seen. */
  private cursor = -1;
  private readonly seed: number;
  private hiWater = 0;
  private freeHead = NIL;
  /** ip_vs_conn_no_cport_cnt */
  private noCportCount = 0;
  private readonly ka = new Uint32Array(4);
  private readonly kb = new Uint32Array(4);

  constructor(opts: ConnTableOptions) {
    const max = opts.maxEntries ?? 1 << 20;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 28) throw new RangeError(`maxEntries: ${max}`);
    const tickMs = opts.tickMs ?? 1000;
    if (!(tickMs > 0)) throw new RangeError(`tickMs: ${tickMs}`);
    const slots = opts.wheelSlots ?? 1024;
    if (!Number.isInteger(slots) || slots < 1 || (slots & (slots - 1)) !== 0 || slots > 1 << 24) {
      throw new RangeError(`wheelSlots must be a power of two: ${slots}`);
    }
    this.af = opts.af;
    this.aw = opts.af === 4 ? 1 : 4;
    this.maxEntries = max;
    this.dests = opts.dests;
    this.timeouts = opts.timeouts ?? new Timeouts();
    this.settings = opts.settings ?? defaultConnSettings();
    this.totalStats = opts.totalStats ?? new Stats();
    this.tickMs = tickMs;
    this.invTick = 1 / tickMs;
    this.wheelSlots = slots;
    this.seed = opts.random() | 0;

    this.sw = R_ADDR + 4 * this.aw;
    this.dw = this.sw / 2;
    const hot = new ArrayBuffer(max * this.sw * 4);
    this.u32 = new Uint32Array(hot);
    this.i32 = new Int32Array(hot);
    this.u16 = new Uint16Array(hot);
    this.u8 = new Uint8Array(hot);
    this.f64 = new Float64Array(hot);
    const cold = new ArrayBuffer(max * COLD_WORDS * 4);
    this.coldU = new Uint32Array(cold);
    this.coldI = new Int32Array(cold);
    const buckets = nextPow2(Math.max(16, max));
    this.bucketMask = buckets - 1;
    this.heads = new Int32Array(buckets * 2);
    this.slotMask = slots - 1;
    this.wheel = new Int32Array(slots * 2);
    for (let s = 0; s < slots; s++) this.wheel[s * 2] = this.wheel[s * 2 + 1] = max + s;
  }

  /** Bytes per entry at full capacity: hot and cold records plus both hash indexes' heads. */
  get bytesPerEntry(): number {
    const b = this.u32.byteLength + this.coldU.byteLength + this.heads.byteLength;
    return b / this.maxEntries;
  }

  /** Everything the table allocated, in bytes (the timing wheel included). */
  get memoryBytes(): number {
    return this.bytesPerEntry * this.maxEntries + this.wheel.byteLength;
  }

  isAlive(id: number): boolean {
    return id >= 0 && id < this.hiWater && this.u8[id * this.sw * 4 + R_PSA * 4 + 2] === 1;
  }

  // ---------------------------------------------------------------- field accessors
  // Each is one typed-array access, for the packet path and the control plane. The IPv4 address
  // getters are for IPv4 tables only (IPv6 tables: readAddr6).

  protoOf(id: number): number {
    return this.u8[id * this.sw * 4 + R_PSA * 4];
  }
  caddr4(id: number): number {
    return this.u32[id * SW4 + R_ADDR];
  }
  vaddr4(id: number): number {
    return this.u32[id * SW4 + R_ADDR + 1];
  }
  daddr4(id: number): number {
    return this.u32[id * SW4 + R_ADDR + 2];
  }
  laddr4(id: number): number {
    return this.u32[id * SW4 + R_ADDR + 3];
  }
  cportOf(id: number): number {
    return this.u16[(id * this.sw + R_PORTS) * 2];
  }
  vportOf(id: number): number {
    return this.u16[(id * this.sw + R_PORTS) * 2 + 1];
  }
  dportOf(id: number): number {
    return this.u16[(id * this.sw + R_OPORTS) * 2];
  }
  lportOf(id: number): number {
    return this.u16[(id * this.sw + R_OPORTS) * 2 + 1];
  }
  fwmarkOf(id: number): number {
    return this.coldU[id * COLD_WORDS + C_FWMARK];
  }
  /** cp->flags: ConnFlag bits plus the forwarding method in the low 3 bits. */
  getFlags(id: number): number {
    return this.u32[id * this.sw + R_FLAGS];
  }
  /** For the state machines (NOOUTPUT); HASHED, TEMPLATE and NO_CPORT must not change. */
  setFlags(id: number, flags: number): void {
    this.u32[id * this.sw + R_FLAGS] = flags;
  }
  /** Protocol state (TcpState, SctpState, UdpState) or CtplState bits for templates. */
  getState(id: number): number {
    return this.u8[id * this.sw * 4 + R_PSA * 4 + 1];
  }
  setState(id: number, state: number): void {
    this.u8[id * this.sw * 4 + R_PSA * 4 + 1] = state;
  }
  /** Current timeout in ms, set by state transitions; put() restarts the timer with it. */
  getTimeout(id: number): number {
    return this.u32[id * this.sw + R_TIMEOUT];
  }
  setTimeout(id: number, ms: number): void {
    this.u32[id * this.sw + R_TIMEOUT] = ms;
  }
  /** When the timer fires, in ms on the injected clock. */
  expiresOf(id: number): number {
    return this.f64[id * this.dw + R_EXPIRES / 2];
  }
  /** DestRegistry id, or -1. */
  destOf(id: number): number {
    return this.i32[id * this.sw + R_DEST];
  }
  /** Id of the controlling conn (template), or -1. */
  controlOf(id: number): number {
    return this.coldI[id * COLD_WORDS + C_CONTROL];
  }
  /** Number of conns this one controls. */
  nControlOf(id: number): number {
    return this.coldU[id * COLD_WORDS + C_N_CONTROL];
  }
  /** Incoming packets (sync threshold). */
  inPktsOf(id: number): number {
    return this.u32[id * this.sw + R_IN_PKTS];
  }
  /** Sets the incoming-packet count (a conn learned from a sync master starts at sync_threshold). */
  setInPkts(id: number, n: number): void {
    this.u32[id * this.sw + R_IN_PKTS] = n >>> 0;
  }
  /** Count one incoming packet; returns the new count. */
  incInPkts(id: number): number {
    const i = id * this.sw + R_IN_PKTS;
    return (this.u32[i] = (this.u32[i] + 1) >>> 0);
  }

  // ---------------------------------------------------------------- hashing

  private keyHash(
    proto: number,
    a: Uint32Array,
    ao: number,
    pa: number,
    b: Uint32Array,
    bo: number,
    pb: number,
  ): number {
    let h = this.seed ^ proto;
    if (this.aw === 1) {
      h = mix(h, a[ao]);
      h = mix(h, b[bo]);
    } else {
      for (let i = 0; i < 4; i++) h = mix(h, a[ao + i]);
      for (let i = 0; i < 4; i++) h = mix(h, b[bo + i]);
    }
    return avalanche(mix(h, (pa << 16) | pb)) & this.bucketMask;
  }

  /** The IPv4 case of keyHash on plain numbers (same value for the same key). */
  private hash4(proto: number, a: number, pa: number, b: number, pb: number): number {
    return avalanche(mix(mix(mix(this.seed ^ proto, a), b), (pa << 16) | pb)) & this.bucketMask;
  }

  /** Word offset of address `which` of conn `id`. */
  private addrOff(id: number, which: number): number {
    return id * this.sw + R_ADDR + which * this.aw;
  }

  private inBucket(id: number): number {
    const u = this.u32;
    return this.keyHash(
      this.protoOf(id),
      u,
      this.addrOff(id, ConnAddr.C),
      this.cportOf(id),
      u,
      this.addrOff(id, ConnAddr.V),
      this.vportOf(id),
    );
  }

  private outBucket(id: number): number {
    const u = this.u32;
    const dst = outUsesDest(this.getFlags(id));
    return this.keyHash(
      this.protoOf(id),
      u,
      this.addrOff(id, ConnAddr.L),
      this.lportOf(id),
      u,
      this.addrOff(id, dst ? ConnAddr.D : ConnAddr.V),
      dst ? this.dportOf(id) : this.vportOf(id),
    );
  }

  /** ip_vs_conn_hash: templates go in the in index only. */
  private hashConn(id: number): boolean {
    const f = this.getFlags(id);
    if ((f & ConnFlag.HASHED) !== 0) return false;
    let h = this.inBucket(id) * 2;
    this.i32[id * this.sw + R_IN_NEXT] = this.heads[h];
    this.heads[h] = id + 1;
    if ((f & ConnFlag.TEMPLATE) === 0) {
      h = this.outBucket(id) * 2 + 1;
      this.coldI[id * COLD_WORDS + C_OUT_NEXT] = this.heads[h];
      this.heads[h] = id + 1;
    }
    this.setFlags(id, f | ConnFlag.HASHED);
    return true;
  }

  /** ip_vs_conn_unhash: false if it was not hashed. The key fields must not have changed. */
  private unhashConn(id: number): boolean {
    const f = this.getFlags(id);
    if ((f & ConnFlag.HASHED) === 0) return false;
    ConnTable.chainRemove(this.heads, this.i32, this.sw, R_IN_NEXT, this.inBucket(id) * 2, id);
    if ((f & ConnFlag.TEMPLATE) === 0)
      ConnTable.chainRemove(this.heads, this.coldI, COLD_WORDS, C_OUT_NEXT, this.outBucket(id) * 2 + 1, id);
    this.setFlags(id, f & ~ConnFlag.HASHED);
    return true;
  }

  /** Unlink `id` from the chain whose head is head[h]; its link is next[id * stride + at]. */
  private static chainRemove(
    head: Int32Array,
    next: Int32Array,
    stride: number,
    at: number,
    h: number,
    id: number,
  ): void {
    const e = id + 1;
    const own = id * stride + at;
    let cur = head[h];
    if (cur === e) {
      head[h] = next[own];
      next[own] = 0;
      return;
    }
    while (cur !== 0) {
      const ci = (cur - 1) * stride + at;
      const n = next[ci];
      if (n === e) {
        next[ci] = next[own];
        next[own] = 0;
        return;
      }
      cur = n;
    }
  }

  // ---------------------------------------------------------------- lookups (IPv4)

  /**
   * ip_vs_conn_in_get: the conn of a client packet, or -1. Templates are never returned (their
   * cport is 0 without NO_CPORT). If a NO_CPORT conn exists, a miss retries with cport 0.
   */
  lookupIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    if (this.aw !== 1) return -1;
    caddr >>>= 0;
    vaddr >>>= 0;
    const id = this.findIn4(proto, caddr, cport, vaddr, vport);
    if (id >= 0 || this.noCportCount === 0) return id;
    return this.findIn4(proto, caddr, 0, vaddr, vport);
  }

  private findIn4(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    const wantNoCport = cport === 0;
    const u32 = this.u32;
    const u16 = this.u16;
    const u8 = this.u8;
    const i32 = this.i32;
    for (let e = this.heads[this.hash4(proto, caddr, cport, vaddr, vport) * 2]; e !== 0;) {
      const r = (e - 1) * SW4;
      if (
        u16[(r + R_PORTS) * 2] === cport &&
        u16[(r + R_PORTS) * 2 + 1] === vport &&
        u32[r + R_ADDR] === caddr &&
        u32[r + R_ADDR + 1] === vaddr &&
        u8[(r + R_PSA) * 4] === proto &&
        ((u32[r + R_FLAGS] & ConnFlag.NO_CPORT) !== 0) === wantNoCport
      ) {
        return e - 1;
      }
      e = i32[r + R_IN_NEXT];
    }
    return -1;
  }

  /**
   * ip_vs_conn_out_get: the conn of a packet from saddr:sport to daddr:dport coming from the real
   * server side, or -1. For NAT/FullNAT conns the source is the real server (daddr:dport) and the
   * destination laddr:lport (the client for NAT); for other methods the source is the VIP.
   */
  lookupOut(proto: number, saddr: number, sport: number, daddr: number, dport: number): number {
    if (this.aw !== 1) return -1;
    saddr >>>= 0;
    daddr >>>= 0;
    const u32 = this.u32;
    const u16 = this.u16;
    for (let e = this.heads[this.hash4(proto, daddr, dport, saddr, sport) * 2 + 1]; e !== 0;) {
      const id = e - 1;
      const r = id * SW4;
      e = this.coldI[id * COLD_WORDS + C_OUT_NEXT];
      if (u16[(r + R_OPORTS) * 2 + 1] !== dport || u32[r + R_ADDR + 3] !== daddr) continue;
      if (this.u8[(r + R_PSA) * 4] !== proto) continue;
      if (outUsesDest(u32[r + R_FLAGS])) {
        if (u16[(r + R_OPORTS) * 2] === sport && u32[r + R_ADDR + 2] === saddr) return id;
      } else if (u16[(r + R_PORTS) * 2 + 1] === sport && u32[r + R_ADDR + 1] === saddr) {
        return id;
      }
    }
    return -1;
  }

  /**
   * ip_vs_ct_in_get: the persistence template <proto, caddr (client net), 0, vaddr, vport>, or -1.
   * For a fwmark template pass proto 0 (IPPROTO_IP), the fwmark as vaddr and vport 0.
   */
  lookupTemplate(proto: number, caddr: number, vaddr: number, vport: number): number {
    if (this.aw !== 1) return -1;
    caddr >>>= 0;
    vaddr >>>= 0;
    const u32 = this.u32;
    const u16 = this.u16;
    for (let e = this.heads[this.hash4(proto, caddr, 0, vaddr, vport) * 2]; e !== 0;) {
      const r = (e - 1) * SW4;
      if (
        u16[(r + R_PORTS) * 2] === 0 &&
        u16[(r + R_PORTS) * 2 + 1] === vport &&
        u32[r + R_ADDR] === caddr &&
        u32[r + R_ADDR + 1] === vaddr &&
        (u32[r + R_FLAGS] & ConnFlag.TEMPLATE) !== 0 &&
        this.u8[(r + R_PSA) * 4] === proto
      ) {
        return e - 1;
      }
      e = this.i32[r + R_IN_NEXT];
    }
    return -1;
  }

  // ---------------------------------------------------------------- lookups (IPv6)

  /** lookupIn for an IPv6 table; addresses are 16 bytes at the given offsets. */
  lookupIn6(
    proto: number,
    c: Uint8Array,
    cOff: number,
    cport: number,
    v: Uint8Array,
    vOff: number,
    vport: number,
  ): number {
    if (this.aw !== 4) return -1;
    loadWords(this.ka, 0, c, cOff);
    loadWords(this.kb, 0, v, vOff);
    const id = this.findIn6(proto, cport, vport, false);
    if (id >= 0 || this.noCportCount === 0) return id;
    return this.findIn6(proto, 0, vport, false);
  }

  /** lookupTemplate for an IPv6 table. */
  lookupTemplate6(
    proto: number,
    c: Uint8Array,
    cOff: number,
    v: Uint8Array,
    vOff: number,
    vport: number,
  ): number {
    if (this.aw !== 4) return -1;
    loadWords(this.ka, 0, c, cOff);
    loadWords(this.kb, 0, v, vOff);
    return this.findIn6(proto, 0, vport, true);
  }

  /** The fwmark template <IPPROTO_IP, caddr, 0, fwmark, 0> of an IPv6 table. */
  lookupTemplateFwmark6(c: Uint8Array, cOff: number, fwmark: number): number {
    if (this.aw !== 4) return -1;
    loadWords(this.ka, 0, c, cOff);
    this.kb[0] = fwmark >>> 0;
    this.kb[1] = this.kb[2] = this.kb[3] = 0;
    return this.findIn6(IPPROTO_IP, 0, 0, true);
  }

  /** lookupOut for an IPv6 table. */
  lookupOut6(
    proto: number,
    s: Uint8Array,
    sOff: number,
    sport: number,
    d: Uint8Array,
    dOff: number,
    dport: number,
  ): number {
    if (this.aw !== 4) return -1;
    const ka = this.ka;
    const kb = this.kb;
    loadWords(ka, 0, s, sOff);
    loadWords(kb, 0, d, dOff);
    const h = this.keyHash(proto, kb, 0, dport, ka, 0, sport);
    for (let e = this.heads[h * 2 + 1]; e !== 0;) {
      const id = e - 1;
      e = this.coldI[id * COLD_WORDS + C_OUT_NEXT];
      if (
        this.lportOf(id) !== dport ||
        this.protoOf(id) !== proto ||
        !this.eq6(this.addrOff(id, ConnAddr.L), kb)
      )
        continue;
      if (outUsesDest(this.getFlags(id))) {
        if (this.dportOf(id) === sport && this.eq6(this.addrOff(id, ConnAddr.D), ka)) return id;
      } else if (this.vportOf(id) === sport && this.eq6(this.addrOff(id, ConnAddr.V), ka)) {
        return id;
      }
    }
    return -1;
  }

  private eq6(o: number, k: Uint32Array): boolean {
    const u = this.u32;
    return u[o] === k[0] && u[o + 1] === k[1] && u[o + 2] === k[2] && u[o + 3] === k[3];
  }

  /** In-index search on the scratch keys ka (client) and kb (virtual). */
  private findIn6(proto: number, cport: number, vport: number, template: boolean): number {
    const ka = this.ka;
    const kb = this.kb;
    const wantNoCport = cport === 0;
    for (let e = this.heads[this.keyHash(proto, ka, 0, cport, kb, 0, vport) * 2]; e !== 0;) {
      const id = e - 1;
      e = this.i32[id * this.sw + R_IN_NEXT];
      if (this.cportOf(id) !== cport || this.vportOf(id) !== vport || this.protoOf(id) !== proto) continue;
      if (!this.eq6(this.addrOff(id, ConnAddr.C), ka) || !this.eq6(this.addrOff(id, ConnAddr.V), kb))
        continue;
      const f = this.getFlags(id);
      if (template ? (f & ConnFlag.TEMPLATE) !== 0 : ((f & ConnFlag.NO_CPORT) !== 0) === wantNoCport)
        return id;
    }
    return -1;
  }

  // ---------------------------------------------------------------- creation

  /**
   * ip_vs_conn_new: create a conn from `p`, bind it to its dest, hash it (unless ONE_PACKET) and
   * start its 3 s timer. Returns the conn id, or -1 when the table is full (counted in fullDrops).
   * A new conn counts in dest/service/total stats unless it is a template or came from sync.
   */
  insert(p: ConnParam, now: number): number {
    return this.create(p, p.flags, p.cport, false, now);
  }

  /**
   * ip_vs_sched_persist's template: flags TEMPLATE, cport 0, key fields (proto, caddr = client
   * net, vaddr, vport, daddr, dport) and destId from `p`, timeout `timeoutMs` (svc.timeout). With
   * proto 0 (IPPROTO_IP) it is a fwmark template and p.fwmark becomes its virtual address.
   */
  createTemplate(p: ConnParam, timeoutMs: number, now: number): number {
    const id = this.create(p, ConnFlag.TEMPLATE, 0, p.proto === IPPROTO_IP, now);
    if (id >= 0) {
      const t = Math.min(Math.max(0, Math.floor(timeoutMs)), 0xffffffff);
      this.setTimeout(id, t);
      this.arm(id, now + t, now);
    }
    return id;
  }

  private create(p: ConnParam, flags: number, cport: number, fwmarkVaddr: boolean, now: number): number {
    if (this.count >= this.maxEntries) {
      this.fullDrops++;
      return -1;
    }
    const id = this.allocId();
    this.count++;
    const u32 = this.u32;
    const u16 = this.u16;
    const r = id * this.sw;
    const proto = p.proto & 0xff;
    const pb = (r + R_PSA) * 4;
    this.u8[pb] = proto;
    this.u8[pb + 1] = 0; // state
    this.u8[pb + 2] = 1; // alive
    u16[(r + R_PORTS) * 2] = cport;
    u16[(r + R_PORTS) * 2 + 1] = p.vport;
    u16[(r + R_OPORTS) * 2] = p.dport;
    u32[r + R_IN_PKTS] = 0;
    u32[r + R_TIMEOUT] = NEW_CONN_TIMEOUT_MS;
    const aw = this.aw;
    const oc = r + R_ADDR;
    const ov = oc + aw;
    const od = ov + aw;
    const ol = od + aw;
    if (aw === 1) {
      u32[oc] = p.caddr;
      u32[ov] = fwmarkVaddr ? p.fwmark : p.vaddr;
      u32[od] = p.daddr;
    } else {
      loadWords(u32, oc, p.caddr6, 0);
      if (fwmarkVaddr) {
        u32[ov] = p.fwmark;
        u32[ov + 1] = u32[ov + 2] = u32[ov + 3] = 0;
      } else {
        loadWords(u32, ov, p.vaddr6, 0);
      }
      loadWords(u32, od, p.daddr6, 0);
    }
    const c = id * COLD_WORDS;
    this.coldU[c + C_FWMARK] = p.fwmark;
    this.coldI[c + C_CONTROL] = NIL;
    this.coldU[c + C_N_CONTROL] = 0;
    let f = (flags & ~ConnFlag.HASHED) >>> 0;
    if ((f & ConnFlag.NO_CPORT) !== 0) this.noCportCount++;
    f = this.bindDest(id, proto, f, p.destId);
    u32[r + R_FLAGS] = f;
    // FullNAT keeps its own local address; everyone else replies straight to the client.
    if ((f & FWD_MASK) === Fwd.FULLNAT) {
      u16[(r + R_OPORTS) * 2 + 1] = p.lport;
      if (aw === 1) u32[ol] = p.laddr;
      else loadWords(u32, ol, p.laddr6, 0);
    } else {
      u16[(r + R_OPORTS) * 2 + 1] = cport;
      for (let i = 0; i < aw; i++) u32[ol + i] = u32[oc + i];
    }
    if ((f & (ConnFlag.TEMPLATE | ConnFlag.SYNC)) === 0 && this.i32[r + R_DEST] >= 0) this.connStats(id);
    if ((f & ConnFlag.ONE_PACKET) === 0) this.hashConn(id);
    this.arm(id, now + NEW_CONN_TIMEOUT_MS, now);
    return id;
  }

  private allocId(): number {
    const i32 = this.i32;
    if (this.freeHead !== NIL) {
      const id = this.freeHead;
      const w = id * this.sw + R_W_NEXT;
      this.freeHead = i32[w];
      i32[w] = NIL;
      return id;
    }
    const id = this.hiWater++;
    i32[id * this.sw + R_W_PREV] = NIL;
    i32[id * this.sw + R_W_NEXT] = NIL;
    return id;
  }

  private freeId(id: number): void {
    const r = id * this.sw;
    this.u8[(r + R_PSA) * 4 + 2] = 0;
    this.count--;
    this.i32[r + R_DEST] = NIL;
    this.coldI[id * COLD_WORDS + C_CONTROL] = NIL;
    this.u32[r + R_FLAGS] = 0;
    this.i32[r + R_W_PREV] = NIL;
    this.i32[r + R_W_NEXT] = this.freeHead;
    this.freeHead = id;
  }

  /** ip_vs_conn_stats: one more conn for the dest, its service and the total. */
  private connStats(id: number): void {
    const d = this.dests.get(this.destOf(id));
    if (d === undefined) return;
    d.stats.conns++;
    d.svc.stats.conns++;
    this.totalStats.conns++;
  }

  /** ip_vs_bind_dest: returns the conn flags with the dest's conn_flags merged in. */
  private bindDest(id: number, proto: number, flags: number, destId: number): number {
    const d = destId >= 0 ? this.dests.get(destId) : undefined;
    const di = id * this.sw + R_DEST;
    if (d === undefined) {
      this.i32[di] = NIL;
      return flags;
    }
    d.refcnt++;
    let cf = d.connFlags;
    if (proto !== IPPROTO_UDP) cf &= ~ConnFlag.ONE_PACKET;
    if ((flags & ConnFlag.SYNC) !== 0) {
      // Synced conns are hashed, keep their own activity flag and take the local fwd method.
      cf &= ~ConnFlag.ONE_PACKET;
      if ((flags & ConnFlag.TEMPLATE) === 0) cf &= ~ConnFlag.INACTIVE;
      flags &= ~(FWD_MASK | ConnFlag.NOOUTPUT);
    }
    flags = (flags | cf) >>> 0;
    this.i32[di] = destId;
    if ((flags & ConnFlag.TEMPLATE) !== 0) d.persistConns++;
    else if ((flags & ConnFlag.INACTIVE) !== 0) d.inactConns++;
    else d.activeConns++;
    if (d.uThreshold !== 0 && d.activeConns + d.inactConns >= d.uThreshold) d.flags |= DestFlag.OVERLOAD;
    d.loadChanged();
    return flags;
  }

  /** ip_vs_unbind_dest */
  private unbindDest(id: number): void {
    const di = this.destOf(id);
    if (di < 0) return;
    this.i32[id * this.sw + R_DEST] = NIL;
    const d = this.dests.get(di);
    if (d === undefined) return;
    const f = this.getFlags(id);
    if ((f & ConnFlag.TEMPLATE) !== 0) d.persistConns--;
    else if ((f & ConnFlag.INACTIVE) !== 0) d.inactConns--;
    else d.activeConns--;
    const total = d.activeConns + d.inactConns;
    if (d.lThreshold !== 0) {
      if (total < d.lThreshold) d.flags &= ~DestFlag.OVERLOAD;
    } else if (d.uThreshold !== 0) {
      if (total * 4 < d.uThreshold * 3) d.flags &= ~DestFlag.OVERLOAD;
    } else {
      d.flags &= ~DestFlag.OVERLOAD;
    }
    d.loadChanged();
    d.refcnt--;
  }

  // ---------------------------------------------------------------- state, control

  /**
   * The common tail of set_tcp_state / set_sctp_state: move to `newState`; if the conn has a dest
   * and its activity changes, move it between the dest's active and inactive counters.
   */
  changeState(id: number, newState: number, active: boolean): void {
    if (newState === this.getState(id)) return;
    const di = this.destOf(id);
    const d = di >= 0 ? this.dests.get(di) : undefined;
    if (d !== undefined) {
      const f = this.getFlags(id);
      if ((f & ConnFlag.INACTIVE) === 0 && !active) {
        d.activeConns--;
        d.inactConns++;
        this.setFlags(id, f | ConnFlag.INACTIVE);
      } else if ((f & ConnFlag.INACTIVE) !== 0 && active) {
        d.activeConns++;
        d.inactConns--;
        this.setFlags(id, f & ~ConnFlag.INACTIVE);
      }
      d.loadChanged();
    }
    this.setState(id, newState);
  }

  /** ip_vs_control_assure_ct: mark the controlling template ASSURED. */
  assureControl(id: number): void {
    const ct = this.controlOf(id);
    if (
      ct >= 0 &&
      (this.getState(ct) & CtplState.ASSURED) === 0 &&
      (this.getFlags(ct) & ConnFlag.TEMPLATE) !== 0
    ) {
      this.setState(ct, this.getState(ct) | CtplState.ASSURED);
    }
  }

  /** ip_vs_control_add: `ct` controls `cp` (ct.n_control++). */
  controlAdd(cp: number, ct: number): void {
    if (this.controlOf(cp) >= 0) this.controlDel(cp);
    this.coldI[cp * COLD_WORDS + C_CONTROL] = ct;
    this.coldU[ct * COLD_WORDS + C_N_CONTROL]++;
  }

  /** ip_vs_control_del */
  controlDel(cp: number): void {
    const ct = this.controlOf(cp);
    if (ct < 0) return;
    this.coldI[cp * COLD_WORDS + C_CONTROL] = NIL;
    const n = ct * COLD_WORDS + C_N_CONTROL;
    if (this.coldU[n] > 0) this.coldU[n]--;
  }

  /**
   * The tail of ip_vs_sched_persist: link the new conn to its template and restart the template's
   * timer with its own timeout (ip_vs_control_add + ip_vs_conn_put).
   */
  linkToTemplate(cp: number, ct: number, now: number): void {
    this.controlAdd(cp, ct);
    this.put(ct, now);
  }

  /**
   * ip_vs_check_template: true if template `ct` may be used. It is invalid when its dest is gone
   * or not AVAILABLE, when expire_quiescent_template is set and the dest weight is 0, or when
   * `cdest` (>= 0) names another dest. An invalid template is re-keyed with vport = dport = 0xffff
   * and cport 0 so no lookup finds it, and is left to expire on its timer.
   */
  checkTemplate(ct: number, cdest = -1): boolean {
    const di = this.destOf(ct);
    const d = di >= 0 ? this.dests.get(di) : undefined;
    if (
      d !== undefined &&
      (d.flags & DestFlag.AVAILABLE) !== 0 &&
      !(this.settings.expireQuiescentTemplate !== 0 && d.weight === 0) &&
      (cdest < 0 || cdest === di)
    ) {
      return true;
    }
    if (this.vportOf(ct) !== 0xffff && this.unhashConn(ct)) {
      const r = ct * this.sw;
      this.u16[(r + R_OPORTS) * 2] = 0xffff;
      this.u16[(r + R_PORTS) * 2 + 1] = 0xffff;
      this.u16[(r + R_PORTS) * 2] = 0;
      if ((this.getFlags(ct) & FWD_MASK) !== Fwd.FULLNAT) this.u16[(r + R_OPORTS) * 2 + 1] = 0;
      this.hashConn(ct);
    }
    return false;
  }

  /**
   * is_new_conn_expected: may a new connection (SYN / INIT) that hit conn `id` be scheduled afresh?
   * Only for uncontrolled conns: TCP in TIME_WAIT or CLOSE, or with conn_reuse_mode bit 2 in
   * FIN_WAIT when the director never sees replies (NOOUTPUT); SCTP in CLOSED.
   */
  isNewConnExpected(id: number, reuseMode: number): boolean {
    if (this.controlOf(id) >= 0) return false;
    const s = this.getState(id);
    switch (this.protoOf(id)) {
      case IPPROTO_TCP:
        return (
          s === TcpState.TIME_WAIT ||
          s === TcpState.CLOSE ||
          ((reuseMode & 2) !== 0 && s === TcpState.FIN_WAIT && (this.getFlags(id) & ConnFlag.NOOUTPUT) !== 0)
        );
      case IPPROTO_SCTP:
        return s === SctpState.CLOSED;
      default:
        return false;
    }
  }

  /** ip_vs_conn_fill_cport: give a NO_CPORT conn its client port and re-hash it. */
  fillCport(id: number, cport: number): void {
    if (!this.unhashConn(id)) return;
    const f = this.getFlags(id);
    if ((f & ConnFlag.NO_CPORT) !== 0) {
      this.noCportCount--;
      this.setFlags(id, f & ~ConnFlag.NO_CPORT);
      const r = id * this.sw;
      this.u16[(r + R_PORTS) * 2] = cport;
      if ((f & FWD_MASK) !== Fwd.FULLNAT) this.u16[(r + R_OPORTS) * 2 + 1] = cport;
    }
    this.hashConn(id);
  }

  // ---------------------------------------------------------------- timers and expiry

  /**
   * ip_vs_conn_put: the packet is done with the conn. Restart its timer with its current timeout,
   * or, for a one-packet conn, expire it right away.
   */
  put(id: number, now: number): void {
    const r = id * this.sw;
    if ((this.u32[r + R_FLAGS] & ConnFlag.ONE_PACKET) !== 0) {
      this.expireConn(id, now, false);
      return;
    }
    const at = now + this.u32[r + R_TIMEOUT];
    const x = id * this.dw + R_EXPIRES / 2;
    // The common case, a filed timer moved later: store the time, the wheel catches up (arm).
    if (this.i32[r + R_W_PREV] !== NIL && at >= this.f64[x]) {
      this.f64[x] = at;
      return;
    }
    this.arm(id, at, now);
  }

  /**
   * Run the timers due by `now` (ip_vs_conn_expire for each). A timer set for time `at` fires in
   * the first call with floor(now / tickMs) >= ceil(at / tickMs). Within a call timers fire in
   * tick order, as long as the call covers at most one wheel revolution since the previous one
   * (after a longer gap the overdue ones fire in slot order). Work is proportional to the ticks
   * passed (at most one revolution) and the conns filed in them, never to the table size.
   * Returns the number of entries freed.
   */
  expire(now: number): number {
    const target = Math.floor(now / this.tickMs);
    if (this.cursor < 0) this.cursor = target;
    if (target < this.cursor) return 0;
    // After a jump longer than a revolution each slot stands for its latest tick <= target.
    let k = this.cursor;
    if (target - k >= this.wheelSlots) k = target - this.wheelSlots + 1;
    const w = this.wheel;
    let freed = 0;
    for (; k <= target; k++) {
      this.cursor = k + 1;
      const s = k & this.slotMask;
      const sentinel = this.maxEntries + s;
      if (w[s * 2 + 1] === sentinel) continue;
      // Visit the conns filed here now; ones re-filed into this slot go after `stop`.
      const stop = w[s * 2];
      for (let guard = this.count + 1; guard > 0; guard--) {
        const id = w[s * 2 + 1];
        if (id === sentinel) break;
        this.wUnlink(id);
        const at = this.expiresOf(id);
        if (this.tickOf(at) <= k) {
          if (this.expireConn(id, now, false)) freed++;
        } else {
          this.arm(id, at, now); // filed early by a lazy re-arm: move to its own tick
        }
        if (id === stop) break;
      }
    }
    this.cursor = target + 1;
    return freed;
  }

  /**
   * ip_vs_conn_expire_now, done at once: used for conn_reuse_mode and expire_nodest_conn. A conn
   * that still controls others is only pushed 60 s out. Returns true if the conn was freed.
   */
  expireNow(id: number, now: number): boolean {
    if (!this.isAlive(id)) return false;
    return this.expireConn(id, now, false);
  }

  /**
   * ip_vs_conn_expire. `dropChain` is the kernel's timeout == 0 case (ip_vs_conn_del): the
   * controlling conn is deleted too once unused, unless it is an ASSURED template.
   */
  private expireConn(id: number, now: number, dropChain: boolean): boolean {
    if (this.nControlOf(id) > 0) {
      this.setTimeout(id, EXPIRE_LATER_MS);
      this.arm(id, now + EXPIRE_LATER_MS, now);
      return false;
    }
    this.unhashConn(id);
    if (this.i32[id * this.sw + R_W_PREV] !== NIL) this.wUnlink(id);
    const ct = this.controlOf(id);
    if (ct >= 0) {
      this.controlDel(id);
      if (
        dropChain &&
        this.isAlive(ct) &&
        this.nControlOf(ct) === 0 &&
        ((this.getFlags(ct) & ConnFlag.TEMPLATE) === 0 || (this.getState(ct) & CtplState.ASSURED) === 0)
      ) {
        this.del(ct, now);
      }
    }
    if (this.onUnlink !== null) this.onUnlink(id);
    this.unbindDest(id);
    if ((this.getFlags(id) & ConnFlag.NO_CPORT) !== 0) this.noCportCount--;
    this.freeId(id);
    return true;
  }

  /** ip_vs_conn_del */
  private del(id: number, now: number): boolean {
    return this.expireConn(id, now, this.controlOf(id) >= 0);
  }

  /**
   * ip_vs_conn_flush: delete every entry (controlled conns first, then their templates). The
   * kernel does this when the netns goes away; `ipvsadm -C` alone leaves conns to expire.
   */
  flush(now: number): number {
    let freed = 0;
    while (this.count > 0) {
      const before = this.count;
      for (let id = 0; id < this.hiWater; id++) {
        if (!this.isAlive(id) || this.nControlOf(id) > 0) continue;
        const cc = this.controlOf(id);
        this.del(id, now);
        if (cc >= 0 && this.isAlive(cc) && this.nControlOf(cc) === 0) this.del(cc, now);
      }
      freed += before - this.count;
      if (this.count === before) break;
    }
    return freed;
  }

  /**
   * ip_vs_expire_nodest_conn_flush (expire_nodest_conn after a dest is deleted): delete conns
   * whose dest is no longer AVAILABLE, and their templates once unused.
   */
  expireNodestFlush(now: number): number {
    const before = this.count;
    for (let id = 0; id < this.hiWater; id++) {
      if (!this.isAlive(id)) continue;
      const di = this.destOf(id);
      if (di < 0) continue;
      const d = this.dests.get(di);
      if (d !== undefined && (d.flags & DestFlag.AVAILABLE) !== 0) continue;
      if (this.nControlOf(id) > 0) continue;
      const cc = this.controlOf(id);
      this.del(id, now);
      if (cc >= 0 && this.isAlive(cc) && this.nControlOf(cc) === 0) this.del(cc, now);
    }
    return before - this.count;
  }

  /** ceil(at / tickMs) by a multiply with the reciprocal, corrected to the exact tick. */
  private tickOf(at: number): number {
    const g = this.tickMs;
    let t = Math.ceil(at * this.invTick);
    if (t * g < at) t++;
    else if ((t - 1) * g >= at) t--;
    return t;
  }

  /**
   * mod_timer: fire at `at`. Moving a filed timer later is lazy (only the time is stored; it stays
   * in its slot, no later than its new tick); earlier re-files it at once.
   */
  private arm(id: number, at: number, now: number): void {
    const r = id * this.sw;
    const x = id * this.dw + R_EXPIRES / 2;
    if (this.i32[r + R_W_PREV] !== NIL) {
      // Filed at most at the tick of the old time, so no later than the new one.
      if (at >= this.f64[x]) {
        this.f64[x] = at;
        return;
      }
      this.wUnlink(id);
    }
    this.f64[x] = at;
    if (this.cursor < 0) this.cursor = Math.floor(now / this.tickMs);
    let tick = this.tickOf(at);
    if (tick < this.cursor) tick = this.cursor;
    this.wLink(id, tick);
  }

  /** Set the wheel's next link of node `n` (a conn, or a slot sentinel). */
  private setWNext(n: number, v: number): void {
    if (n < this.maxEntries) this.i32[n * this.sw + R_W_NEXT] = v;
    else this.wheel[(n - this.maxEntries) * 2 + 1] = v;
  }

  private setWPrev(n: number, v: number): void {
    if (n < this.maxEntries) this.i32[n * this.sw + R_W_PREV] = v;
    else this.wheel[(n - this.maxEntries) * 2] = v;
  }

  /** Append conn `id` to the slot of `tick`. */
  private wLink(id: number, tick: number): void {
    const s = tick & this.slotMask;
    const sentinel = this.maxEntries + s;
    const last = this.wheel[s * 2];
    this.setWNext(last, id);
    const r = id * this.sw;
    this.i32[r + R_W_PREV] = last;
    this.i32[r + R_W_NEXT] = sentinel;
    this.wheel[s * 2] = id;
  }

  private wUnlink(id: number): void {
    const r = id * this.sw;
    const p = this.i32[r + R_W_PREV];
    const n = this.i32[r + R_W_NEXT];
    this.setWNext(p, n);
    this.setWPrev(n, p);
    this.i32[r + R_W_PREV] = NIL;
    this.i32[r + R_W_NEXT] = NIL;
  }

  // ---------------------------------------------------------------- listing (control plane)

  /** Time left on conn `id`'s timer, clamped at 0. */
  remainingMs(id: number, now: number): number {
    const r = this.expiresOf(id) - now;
    return r > 0 ? r : 0;
  }

  /** Live entries with their remaining time, for `ipvsadm -lc` (conns and templates). */
  *list(now: number): Generator<ConnListEntry> {
    for (let id = 0; id < this.hiWater; id++) {
      if (this.isAlive(id)) yield { id, remainingMs: this.remainingMs(id, now) };
    }
  }

  /** ip_vs_state_name: the state column of `ipvsadm -lc`. */
  stateName(id: number): string {
    const s = this.getState(id);
    if ((this.getFlags(id) & ConnFlag.TEMPLATE) !== 0)
      return s < CTPL_STATE_NAMES.length ? CTPL_STATE_NAMES[s] : 'ERR!';
    switch (this.protoOf(id)) {
      case IPPROTO_TCP:
        return s < TCP_STATE_NAMES.length ? TCP_STATE_NAMES[s] : 'ERR!';
      case IPPROTO_UDP:
        return s < UDP_STATE_NAMES.length ? UDP_STATE_NAMES[s] : 'ERR!';
      case IPPROTO_SCTP:
        return s < SCTP_STATE_NAMES.length ? SCTP_STATE_NAMES[s] : 'ERR!';
      case IPPROTO_IP:
        return 'NONE';
      default:
        return 'ERR!';
    }
  }

  /** Copy address `which` of conn `id` to 16 bytes at `out[off]` (IPv6 tables). */
  readAddr6(which: ConnAddr, id: number, out: Uint8Array, off: number): void {
    const o = this.addrOff(id, which);
    for (let i = 0; i < 4; i++, off += 4) {
      const w = this.u32[o + i];
      out[off] = w >>> 24;
      out[off + 1] = (w >>> 16) & 0xff;
      out[off + 2] = (w >>> 8) & 0xff;
      out[off + 3] = w & 0xff;
    }
  }

  private addrOf(which: ConnAddr, id: number): IpAddr {
    if (this.aw === 1) return addr4(this.u32[this.addrOff(id, which)]);
    const b = new Uint8Array(16);
    this.readAddr6(which, id, b, 0);
    return addr6(b);
  }

  repr(id: number): ConnRepr {
    const flags = this.getFlags(id);
    return {
      id,
      proto: this.protoOf(id),
      caddr: this.addrOf(ConnAddr.C, id),
      cport: this.cportOf(id),
      vaddr: this.addrOf(ConnAddr.V, id),
      vport: this.vportOf(id),
      daddr: this.addrOf(ConnAddr.D, id),
      dport: this.dportOf(id),
      laddr: this.addrOf(ConnAddr.L, id),
      lport: this.lportOf(id),
      fwmark: this.fwmarkOf(id),
      flags,
      fwd: (flags & FWD_MASK) as FwdT,
      state: this.getState(id),
      stateName: this.stateName(id),
      timeoutMs: this.getTimeout(id),
      expiresAt: this.expiresOf(id),
      destId: this.destOf(id),
      control: this.controlOf(id),
      nControl: this.nControlOf(id),
      inPkts: this.inPktsOf(id),
    };
  }
}

/**
 * The IPVS connection table (ip_vs_conn.c) as a struct of typed arrays indexed by a conn id.
 * No JavaScript object exists per conn: creating, finding, refreshing and expiring conns allocate
 * nothing. One table per address family (IPv4 stores an address in one uint32 word, IPv6 in four).
 *
 * - Two chained hash indexes in typed arrays: "in" by the client side <proto, caddr, cport, vaddr,
 *   vport> (packets from clients, and persistence templates), "out" by the real-server side
 *   <proto, daddr, dport, laddr, lport> (NAT/FullNAT replies). New entries go to the chain head, so
 *   like the kernel's hlist the newest of two equal keys is found first.
 * - Expiry on an injected clock: a hashed timing wheel with intrusive int32 links. Refreshing a
 *   conn to a later time does not move it; the wheel re-files it when it reaches the old slot.
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

  // Per-conn fields (struct ip_vs_conn). Addresses use `aw` consecutive words per conn, each word
  // a big-endian uint32 of the address bytes. The packet path may read these directly, and write
  // inPkts; the key fields (proto, addresses, ports) must never be written from outside, since the
  // hash indexes depend on them. An id is only meaningful while isAlive(id).
  readonly proto: Uint8Array;
  readonly caddr: Uint32Array;
  readonly vaddr: Uint32Array;
  readonly daddr: Uint32Array;
  readonly laddr: Uint32Array;
  readonly cport: Uint16Array;
  readonly vport: Uint16Array;
  readonly dport: Uint16Array;
  readonly lport: Uint16Array;
  readonly fwmark: Uint32Array;
  /** cp->flags: ConnFlag bits plus the forwarding method in the low 3 bits. */
  readonly flags: Uint32Array;
  /** Protocol state (TcpState, SctpState, UdpState) or CtplState bits for templates. */
  readonly state: Uint8Array;
  /** Current timeout in ms, set by state transitions; put() restarts the timer with it. */
  readonly timeout: Uint32Array;
  /** When the timer fires, in ms on the injected clock. */
  readonly expires: Float64Array;
  /** DestRegistry id, or -1. */
  readonly dest: Int32Array;
  /** Id of the controlling conn (template), or -1. */
  readonly control: Int32Array;
  /** Number of conns this one controls. */
  readonly nControl: Uint32Array;
  /** Incoming packets (sync threshold); the packet path increments it. */
  readonly inPkts: Uint32Array;

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

  // Hash indexes: heads per bucket and next links per conn, both holding id + 1 (0 = none), so a
  // zero-filled array is an empty index and untouched pages cost no memory.
  private readonly bucketMask: number;
  private readonly inHead: Int32Array;
  private readonly inNext: Int32Array;
  private readonly outHead: Int32Array;
  private readonly outNext: Int32Array;
  // Timing wheel: per slot a circular doubly linked list; wTick is the tick the conn is filed at.
  private readonly slotMask: number;
  private readonly wHead: Int32Array;
  private readonly wPrev: Int32Array;
  private readonly wNext: Int32Array;
  private readonly wTick: Int32Array;
  private readonly alive: Uint8Array;
  /** Next tick the wheel has not processed; -1 until the clock is first seen. */
  private cursor = -1;
  private readonly seed: number;
  private hiWater = 0;
  private freeHead = NIL;
  /** ip_vs_conn_no_cport_cnt */
  private noCportCount = 0;
  private readonly ka = new Uint32Array(4);
  private readonly kb = new Uint32Array(4);
  private readonly perEntry: ArrayBufferView[];

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
    this.wheelSlots = slots;
    this.seed = opts.random() | 0;

    const aw = this.aw;
    this.proto = new Uint8Array(max);
    this.caddr = new Uint32Array(max * aw);
    this.vaddr = new Uint32Array(max * aw);
    this.daddr = new Uint32Array(max * aw);
    this.laddr = new Uint32Array(max * aw);
    this.cport = new Uint16Array(max);
    this.vport = new Uint16Array(max);
    this.dport = new Uint16Array(max);
    this.lport = new Uint16Array(max);
    this.fwmark = new Uint32Array(max);
    this.flags = new Uint32Array(max);
    this.state = new Uint8Array(max);
    this.timeout = new Uint32Array(max);
    this.expires = new Float64Array(max);
    this.dest = new Int32Array(max);
    this.control = new Int32Array(max);
    this.nControl = new Uint32Array(max);
    this.inPkts = new Uint32Array(max);
    this.inNext = new Int32Array(max);
    this.outNext = new Int32Array(max);
    this.wPrev = new Int32Array(max);
    this.wNext = new Int32Array(max);
    this.wTick = new Int32Array(max);
    this.alive = new Uint8Array(max);
    const buckets = nextPow2(Math.max(16, max));
    this.bucketMask = buckets - 1;
    this.inHead = new Int32Array(buckets);
    this.outHead = new Int32Array(buckets);
    this.slotMask = slots - 1;
    this.wHead = new Int32Array(slots).fill(NIL);
    this.perEntry = [
      this.proto,
      this.caddr,
      this.vaddr,
      this.daddr,
      this.laddr,
      this.cport,
      this.vport,
      this.dport,
      this.lport,
      this.fwmark,
      this.flags,
      this.state,
      this.timeout,
      this.expires,
      this.dest,
      this.control,
      this.nControl,
      this.inPkts,
      this.inNext,
      this.outNext,
      this.wPrev,
      this.wNext,
      this.wTick,
      this.alive,
    ];
  }

  /** Bytes per entry at full capacity: every per-conn array plus both hash indexes' heads. */
  get bytesPerEntry(): number {
    let b = this.inHead.byteLength + this.outHead.byteLength;
    for (const a of this.perEntry) b += a.byteLength;
    return b / this.maxEntries;
  }

  /** Everything the table allocated, in bytes (the timing wheel included). */
  get memoryBytes(): number {
    return this.bytesPerEntry * this.maxEntries + this.wHead.byteLength;
  }

  isAlive(id: number): boolean {
    return id >= 0 && id < this.hiWater && this.alive[id] === 1;
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

  private inBucket(id: number): number {
    const o = id * this.aw;
    return this.keyHash(this.proto[id], this.caddr, o, this.cport[id], this.vaddr, o, this.vport[id]);
  }

  private outBucket(id: number): number {
    const o = id * this.aw;
    if (outUsesDest(this.flags[id])) {
      return this.keyHash(this.proto[id], this.daddr, o, this.dport[id], this.laddr, o, this.lport[id]);
    }
    return this.keyHash(this.proto[id], this.vaddr, o, this.vport[id], this.laddr, o, this.lport[id]);
  }

  /** ip_vs_conn_hash: templates go in the in index only. */
  private hashConn(id: number): boolean {
    const f = this.flags[id];
    if ((f & ConnFlag.HASHED) !== 0) return false;
    let h = this.inBucket(id);
    this.inNext[id] = this.inHead[h];
    this.inHead[h] = id + 1;
    if ((f & ConnFlag.TEMPLATE) === 0) {
      h = this.outBucket(id);
      this.outNext[id] = this.outHead[h];
      this.outHead[h] = id + 1;
    }
    this.flags[id] = f | ConnFlag.HASHED;
    return true;
  }

  /** ip_vs_conn_unhash: false if it was not hashed. The key fields must not have changed. */
  private unhashConn(id: number): boolean {
    const f = this.flags[id];
    if ((f & ConnFlag.HASHED) === 0) return false;
    ConnTable.chainRemove(this.inHead, this.inNext, this.inBucket(id), id);
    if ((f & ConnFlag.TEMPLATE) === 0)
      ConnTable.chainRemove(this.outHead, this.outNext, this.outBucket(id), id);
    this.flags[id] = f & ~ConnFlag.HASHED;
    return true;
  }

  private static chainRemove(head: Int32Array, next: Int32Array, h: number, id: number): void {
    const e = id + 1;
    let cur = head[h];
    if (cur === e) {
      head[h] = next[id];
      next[id] = 0;
      return;
    }
    while (cur !== 0) {
      const n = next[cur - 1];
      if (n === e) {
        next[cur - 1] = next[id];
        next[id] = 0;
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
    for (
      let e = this.inHead[this.hash4(proto, caddr, cport, vaddr, vport)];
      e !== 0;
      e = this.inNext[e - 1]
    ) {
      const id = e - 1;
      if (
        this.cport[id] === cport &&
        this.vport[id] === vport &&
        this.caddr[id] === caddr &&
        this.vaddr[id] === vaddr &&
        this.proto[id] === proto &&
        ((this.flags[id] & ConnFlag.NO_CPORT) !== 0) === wantNoCport
      ) {
        return id;
      }
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
    for (
      let e = this.outHead[this.hash4(proto, saddr, sport, daddr, dport)];
      e !== 0;
      e = this.outNext[e - 1]
    ) {
      const id = e - 1;
      if (this.lport[id] !== dport || this.laddr[id] !== daddr || this.proto[id] !== proto) continue;
      if (outUsesDest(this.flags[id])) {
        if (this.dport[id] === sport && this.daddr[id] === saddr) return id;
      } else if (this.vport[id] === sport && this.vaddr[id] === saddr) {
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
    for (let e = this.inHead[this.hash4(proto, caddr, 0, vaddr, vport)]; e !== 0; e = this.inNext[e - 1]) {
      const id = e - 1;
      if (
        this.cport[id] === 0 &&
        this.vport[id] === vport &&
        this.caddr[id] === caddr &&
        this.vaddr[id] === vaddr &&
        (this.flags[id] & ConnFlag.TEMPLATE) !== 0 &&
        this.proto[id] === proto
      ) {
        return id;
      }
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
    const h = this.keyHash(proto, ka, 0, sport, kb, 0, dport);
    for (let e = this.outHead[h]; e !== 0; e = this.outNext[e - 1]) {
      const id = e - 1;
      if (this.lport[id] !== dport || this.proto[id] !== proto || !this.eq6(this.laddr, id, kb)) continue;
      if (outUsesDest(this.flags[id])) {
        if (this.dport[id] === sport && this.eq6(this.daddr, id, ka)) return id;
      } else if (this.vport[id] === sport && this.eq6(this.vaddr, id, ka)) {
        return id;
      }
    }
    return -1;
  }

  private eq6(arr: Uint32Array, id: number, k: Uint32Array): boolean {
    const o = id * 4;
    return arr[o] === k[0] && arr[o + 1] === k[1] && arr[o + 2] === k[2] && arr[o + 3] === k[3];
  }

  /** In-index search on the scratch keys ka (client) and kb (virtual). */
  private findIn6(proto: number, cport: number, vport: number, template: boolean): number {
    const ka = this.ka;
    const kb = this.kb;
    const wantNoCport = cport === 0;
    for (
      let e = this.inHead[this.keyHash(proto, ka, 0, cport, kb, 0, vport)];
      e !== 0;
      e = this.inNext[e - 1]
    ) {
      const id = e - 1;
      if (this.cport[id] !== cport || this.vport[id] !== vport || this.proto[id] !== proto) continue;
      if (!this.eq6(this.caddr, id, ka) || !this.eq6(this.vaddr, id, kb)) continue;
      const f = this.flags[id];
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
      this.timeout[id] = Math.min(Math.max(0, Math.floor(timeoutMs)), 0xffffffff);
      this.arm(id, now + this.timeout[id], now);
    }
    return id;
  }

  private create(p: ConnParam, flags: number, cport: number, fwmarkVaddr: boolean, now: number): number {
    if (this.count >= this.maxEntries) {
      this.fullDrops++;
      return -1;
    }
    const id = this.allocId();
    this.alive[id] = 1;
    this.count++;
    const proto = p.proto & 0xff;
    this.proto[id] = proto;
    this.cport[id] = cport;
    this.vport[id] = p.vport;
    this.dport[id] = p.dport;
    const aw = this.aw;
    const o = id * aw;
    if (aw === 1) {
      this.caddr[o] = p.caddr;
      this.vaddr[o] = fwmarkVaddr ? p.fwmark : p.vaddr;
      this.daddr[o] = p.daddr;
    } else {
      loadWords(this.caddr, o, p.caddr6, 0);
      if (fwmarkVaddr) {
        this.vaddr[o] = p.fwmark;
        this.vaddr[o + 1] = this.vaddr[o + 2] = this.vaddr[o + 3] = 0;
      } else {
        loadWords(this.vaddr, o, p.vaddr6, 0);
      }
      loadWords(this.daddr, o, p.daddr6, 0);
    }
    this.fwmark[id] = p.fwmark;
    this.control[id] = NIL;
    this.nControl[id] = 0;
    this.inPkts[id] = 0;
    let f = (flags & ~ConnFlag.HASHED) >>> 0;
    if ((f & ConnFlag.NO_CPORT) !== 0) this.noCportCount++;
    f = this.bindDest(id, proto, f, p.destId);
    this.flags[id] = f;
    // FullNAT keeps its own local address; everyone else replies straight to the client.
    if ((f & FWD_MASK) === Fwd.FULLNAT) {
      this.lport[id] = p.lport;
      if (aw === 1) this.laddr[o] = p.laddr;
      else loadWords(this.laddr, o, p.laddr6, 0);
    } else {
      this.lport[id] = cport;
      for (let i = 0; i < aw; i++) this.laddr[o + i] = this.caddr[o + i];
    }
    this.state[id] = 0;
    this.timeout[id] = NEW_CONN_TIMEOUT_MS;
    if ((f & (ConnFlag.TEMPLATE | ConnFlag.SYNC)) === 0 && this.dest[id] >= 0) this.connStats(id);
    if ((f & ConnFlag.ONE_PACKET) === 0) this.hashConn(id);
    this.arm(id, now + NEW_CONN_TIMEOUT_MS, now);
    return id;
  }

  private allocId(): number {
    if (this.freeHead !== NIL) {
      const id = this.freeHead;
      this.freeHead = this.wNext[id];
      this.wNext[id] = NIL;
      return id;
    }
    const id = this.hiWater++;
    this.wPrev[id] = NIL;
    this.wNext[id] = NIL;
    return id;
  }

  private freeId(id: number): void {
    this.alive[id] = 0;
    this.count--;
    this.dest[id] = NIL;
    this.control[id] = NIL;
    this.flags[id] = 0;
    this.wPrev[id] = NIL;
    this.wNext[id] = this.freeHead;
    this.freeHead = id;
  }

  /** ip_vs_conn_stats: one more conn for the dest, its service and the total. */
  private connStats(id: number): void {
    const d = this.dests.get(this.dest[id]);
    if (d === undefined) return;
    d.stats.conns++;
    d.svc.stats.conns++;
    this.totalStats.conns++;
  }

  /** ip_vs_bind_dest: returns the conn flags with the dest's conn_flags merged in. */
  private bindDest(id: number, proto: number, flags: number, destId: number): number {
    const d = destId >= 0 ? this.dests.get(destId) : undefined;
    if (d === undefined) {
      this.dest[id] = NIL;
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
    this.dest[id] = destId;
    if ((flags & ConnFlag.TEMPLATE) !== 0) d.persistConns++;
    else if ((flags & ConnFlag.INACTIVE) !== 0) d.inactConns++;
    else d.activeConns++;
    if (d.uThreshold !== 0 && d.activeConns + d.inactConns >= d.uThreshold) d.flags |= DestFlag.OVERLOAD;
    return flags;
  }

  /** ip_vs_unbind_dest */
  private unbindDest(id: number): void {
    const di = this.dest[id];
    if (di < 0) return;
    this.dest[id] = NIL;
    const d = this.dests.get(di);
    if (d === undefined) return;
    const f = this.flags[id];
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
    d.refcnt--;
  }

  // ---------------------------------------------------------------- state, control

  /**
   * The common tail of set_tcp_state / set_sctp_state: move to `newState`; if the conn has a dest
   * and its activity changes, move it between the dest's active and inactive counters.
   */
  changeState(id: number, newState: number, active: boolean): void {
    if (newState === this.state[id]) return;
    const di = this.dest[id];
    const d = di >= 0 ? this.dests.get(di) : undefined;
    if (d !== undefined) {
      const f = this.flags[id];
      if ((f & ConnFlag.INACTIVE) === 0 && !active) {
        d.activeConns--;
        d.inactConns++;
        this.flags[id] = f | ConnFlag.INACTIVE;
      } else if ((f & ConnFlag.INACTIVE) !== 0 && active) {
        d.activeConns++;
        d.inactConns--;
        this.flags[id] = f & ~ConnFlag.INACTIVE;
      }
    }
    this.state[id] = newState;
  }

  /** ip_vs_control_assure_ct: mark the controlling template ASSURED. */
  assureControl(id: number): void {
    const ct = this.control[id];
    if (ct >= 0 && (this.state[ct] & CtplState.ASSURED) === 0 && (this.flags[ct] & ConnFlag.TEMPLATE) !== 0) {
      this.state[ct] |= CtplState.ASSURED;
    }
  }

  /** ip_vs_control_add: `ct` controls `cp` (ct.n_control++). */
  controlAdd(cp: number, ct: number): void {
    if (this.control[cp] >= 0) this.controlDel(cp);
    this.control[cp] = ct;
    this.nControl[ct]++;
  }

  /** ip_vs_control_del */
  controlDel(cp: number): void {
    const ct = this.control[cp];
    if (ct < 0) return;
    this.control[cp] = NIL;
    if (this.nControl[ct] > 0) this.nControl[ct]--;
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
    const di = this.dest[ct];
    const d = di >= 0 ? this.dests.get(di) : undefined;
    if (
      d !== undefined &&
      (d.flags & DestFlag.AVAILABLE) !== 0 &&
      !(this.settings.expireQuiescentTemplate !== 0 && d.weight === 0) &&
      (cdest < 0 || cdest === di)
    ) {
      return true;
    }
    if (this.vport[ct] !== 0xffff && this.unhashConn(ct)) {
      this.dport[ct] = 0xffff;
      this.vport[ct] = 0xffff;
      this.cport[ct] = 0;
      if ((this.flags[ct] & FWD_MASK) !== Fwd.FULLNAT) this.lport[ct] = 0;
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
    if (this.control[id] >= 0) return false;
    const s = this.state[id];
    switch (this.proto[id]) {
      case IPPROTO_TCP:
        return (
          s === TcpState.TIME_WAIT ||
          s === TcpState.CLOSE ||
          ((reuseMode & 2) !== 0 && s === TcpState.FIN_WAIT && (this.flags[id] & ConnFlag.NOOUTPUT) !== 0)
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
    const f = this.flags[id];
    if ((f & ConnFlag.NO_CPORT) !== 0) {
      this.noCportCount--;
      this.flags[id] = f & ~ConnFlag.NO_CPORT;
      this.cport[id] = cport;
      if ((f & FWD_MASK) !== Fwd.FULLNAT) this.lport[id] = cport;
    }
    this.hashConn(id);
  }

  // ---------------------------------------------------------------- timers and expiry

  /**
   * ip_vs_conn_put: the packet is done with the conn. Restart its timer with its current timeout,
   * or, for a one-packet conn, expire it right away.
   */
  put(id: number, now: number): void {
    if ((this.flags[id] & ConnFlag.ONE_PACKET) !== 0) {
      this.expireConn(id, now, false);
      return;
    }
    this.arm(id, now + this.timeout[id], now);
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
    const G = this.tickMs;
    const target = Math.floor(now / G);
    if (this.cursor < 0) this.cursor = target;
    if (target < this.cursor) return 0;
    // After a jump longer than a revolution each slot stands for its latest tick <= target.
    let k = this.cursor;
    if (target - k >= this.wheelSlots) k = target - this.wheelSlots + 1;
    let freed = 0;
    for (; k <= target; k++) {
      this.cursor = k + 1;
      const s = k & this.slotMask;
      const h0 = this.wHead[s];
      if (h0 === NIL) continue;
      // Visit the conns filed here now; ones re-filed into this slot go after `stop`.
      const stop = this.wPrev[h0];
      for (let guard = this.count + 1; guard > 0; guard--) {
        const id = this.wHead[s];
        if (id === NIL) break;
        this.wUnlink(id);
        const at = this.expires[id];
        if (Math.ceil(at / G) <= k) {
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
    if (this.nControl[id] > 0) {
      this.timeout[id] = EXPIRE_LATER_MS;
      this.arm(id, now + EXPIRE_LATER_MS, now);
      return false;
    }
    this.unhashConn(id);
    if (this.wPrev[id] !== NIL) this.wUnlink(id);
    const ct = this.control[id];
    if (ct >= 0) {
      this.controlDel(id);
      if (
        dropChain &&
        this.alive[ct] === 1 &&
        this.nControl[ct] === 0 &&
        ((this.flags[ct] & ConnFlag.TEMPLATE) === 0 || (this.state[ct] & CtplState.ASSURED) === 0)
      ) {
        this.del(ct, now);
      }
    }
    if (this.onUnlink !== null) this.onUnlink(id);
    this.unbindDest(id);
    if ((this.flags[id] & ConnFlag.NO_CPORT) !== 0) this.noCportCount--;
    this.freeId(id);
    return true;
  }

  /** ip_vs_conn_del */
  private del(id: number, now: number): boolean {
    return this.expireConn(id, now, this.control[id] >= 0);
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
        if (this.alive[id] === 0 || this.nControl[id] > 0) continue;
        const cc = this.control[id];
        this.del(id, now);
        if (cc >= 0 && this.alive[cc] === 1 && this.nControl[cc] === 0) this.del(cc, now);
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
      if (this.alive[id] === 0) continue;
      const di = this.dest[id];
      if (di < 0) continue;
      const d = this.dests.get(di);
      if (d !== undefined && (d.flags & DestFlag.AVAILABLE) !== 0) continue;
      if (this.nControl[id] > 0) continue;
      const cc = this.control[id];
      this.del(id, now);
      if (cc >= 0 && this.alive[cc] === 1 && this.nControl[cc] === 0) this.del(cc, now);
    }
    return before - this.count;
  }

  /** mod_timer: fire at `at`. Moving a timer later is lazy; earlier re-files it at once. */
  private arm(id: number, at: number, now: number): void {
    this.expires[id] = at;
    if (this.cursor < 0) this.cursor = Math.floor(now / this.tickMs);
    let tick = Math.ceil(at / this.tickMs);
    if (tick < this.cursor) tick = this.cursor;
    if (this.wPrev[id] !== NIL) {
      // Filed no later than the new time: the wheel re-files it when it gets there.
      if (((tick - this.wTick[id]) | 0) >= 0) return;
      this.wUnlink(id);
    }
    this.wLink(id, tick);
  }

  private wLink(id: number, tick: number): void {
    const s = tick & this.slotMask;
    this.wTick[id] = tick | 0;
    const h = this.wHead[s];
    if (h === NIL) {
      this.wHead[s] = id;
      this.wPrev[id] = id;
      this.wNext[id] = id;
    } else {
      const last = this.wPrev[h];
      this.wNext[last] = id;
      this.wPrev[id] = last;
      this.wNext[id] = h;
      this.wPrev[h] = id;
    }
  }

  private wUnlink(id: number): void {
    const s = this.wTick[id] & this.slotMask;
    const n = this.wNext[id];
    if (n === id) {
      this.wHead[s] = NIL;
    } else {
      const p = this.wPrev[id];
      this.wNext[p] = n;
      this.wPrev[n] = p;
      if (this.wHead[s] === id) this.wHead[s] = n;
    }
    this.wPrev[id] = NIL;
    this.wNext[id] = NIL;
  }

  // ---------------------------------------------------------------- listing (control plane)

  /** Time left on conn `id`'s timer, clamped at 0. */
  remainingMs(id: number, now: number): number {
    const r = this.expires[id] - now;
    return r > 0 ? r : 0;
  }

  /** Live entries with their remaining time, for `ipvsadm -lc` (conns and templates). */
  *list(now: number): Generator<ConnListEntry> {
    for (let id = 0; id < this.hiWater; id++) {
      if (this.alive[id] === 1) yield { id, remainingMs: this.remainingMs(id, now) };
    }
  }

  /** ip_vs_state_name: the state column of `ipvsadm -lc`. */
  stateName(id: number): string {
    const s = this.state[id];
    if ((this.flags[id] & ConnFlag.TEMPLATE) !== 0)
      return s < CTPL_STATE_NAMES.length ? CTPL_STATE_NAMES[s] : 'ERR!';
    switch (this.proto[id]) {
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

  /** Copy one of the address arrays' entry for conn `id` to 16 bytes at `out[off]` (IPv6 tables). */
  readAddr6(arr: Uint32Array, id: number, out: Uint8Array, off: number): void {
    const o = id * 4;
    for (let i = 0; i < 4; i++, off += 4) {
      const w = arr[o + i];
      out[off] = w >>> 24;
      out[off + 1] = (w >>> 16) & 0xff;
      out[off + 2] = (w >>> 8) & 0xff;
      out[off + 3] = w & 0xff;
    }
  }

  private addrOf(arr: Uint32Array, id: number): IpAddr {
    if (this.aw === 1) return addr4(arr[id]);
    const b = new Uint8Array(16);
    this.readAddr6(arr, id, b, 0);
    return addr6(b);
  }

  repr(id: number): ConnRepr {
    return {
      id,
      proto: this.proto[id],
      caddr: this.addrOf(this.caddr, id),
      cport: this.cport[id],
      vaddr: this.addrOf(this.vaddr, id),
      vport: this.vport[id],
      daddr: this.addrOf(this.daddr, id),
      dport: this.dport[id],
      laddr: this.addrOf(this.laddr, id),
      lport: this.lport[id],
      fwmark: this.fwmark[id],
      flags: this.flags[id],
      fwd: (this.flags[id] & FWD_MASK) as FwdT,
      state: this.state[id],
      stateName: this.stateName(id),
      timeoutMs: this.timeout[id],
      expiresAt: this.expires[id],
      destId: this.dest[id],
      control: this.control[id],
      nControl: this.nControl[id],
      inPkts: this.inPkts[id],
    };
  }
}

/**
 * FullNAT local addresses and ports. A FullNAT conn is sent to the real server as
 * laddr:lport → rs:rport, and the reply comes back to laddr:lport; the reply tuple
 * (proto, rs addr, rs port, laddr, lport) must therefore identify exactly one live conn.
 *
 * Scheme: one port bitmap per local address, shared by every service and every real server that
 * uses that address. A (laddr, lport) pair is handed out to at most one live conn at a time, which
 * makes the reply tuple unique whatever the real server, and even across protocols. The price is
 * capacity: at most (#laddrs × ports in range) conns at once — with the default range 1024–65535,
 * 64 512 per laddr (divided among workers, see below) — where a per-real-server scheme could reuse
 * each pair once per real server. A bitmap per (laddr, rs addr, rs port) would need 8 KB for every
 * real server on every laddr; keying by rs would also force a lookup per allocation. Add laddrs to
 * scale, as Alibaba LVS and DPVS deployments do.
 *
 * Memory: ceil(ports / 32) words per laddr, i.e. 8 KB for the default range, 2 KB per worker with
 * 4 workers. No per-allocation objects: an allocation is a number, the handle.
 *
 * Workers: DPVS steers replies to the core that owns the conn by the local port (a NIC flow rule
 * on the low bits of lport, sa_pool.c). Worker k of N therefore owns only the ports with
 * `port % N === k`, in a space of its own; the spaces of different workers never overlap.
 *
 * Allocation is next-fit: each laddr keeps a cursor that moves forward through its ports, so a
 * released port is reused only after every other free port of that laddr has been handed out.
 * That keeps a just-closed (laddr, lport) away from a real server that may still hold it in
 * TIME_WAIT. Cost: O(1) while ports are plentiful, at worst one scan of the bitmap (2016 words).
 */
import { ipAddrEquals, ipAddrToString, type IpAddr } from '../model/addr.ts';

export interface LportSpaceOptions {
  /** Lowest local port (default 1024). */
  portMin?: number;
  /** Highest local port (default 65535). */
  portMax?: number;
  /** Number of workers the port range is split among (default 1). */
  workers?: number;
  /** This worker's index, 0 ≤ worker < workers (default 0). */
  worker?: number;
}

/** Handles pack (slot, port) as slot × 65536 + port; -1 means no allocation. */
const PORT_BITS = 16;
const MAX_SLOTS = 0x8000;

/** The local port of an allocation handle. */
export function handlePort(h: number): number {
  return h & 0xffff;
}

/** The local-address slot of an allocation handle (an index into its LportSpace). */
export function handleSlot(h: number): number {
  return h >>> PORT_BITS;
}

/**
 * The port bitmaps of one worker, one per local address in use. Services share it: a service's
 * LaddrPool lists which slots it may allocate from.
 */
export class LportSpace {
  readonly portMin: number;
  readonly portMax: number;
  readonly workers: number;
  readonly worker: number;
  /** Ports this worker owns on each local address. */
  readonly portsPerAddr: number;
  /** Allocations refused because a laddr had no free port left. */
  exhausted = 0;

  /** First port of this worker's share of the range. */
  private readonly base: number;
  private readonly words: number;
  private cap = 0;
  private bits = new Uint32Array(0);
  /** Ports in use per slot. */
  private used = new Int32Array(0);
  /** Next-fit cursor per slot: the bit index to try first. */
  private cursor = new Int32Array(0);
  /** LaddrPool references per slot; a slot is recycled when unreferenced and empty. */
  private refs = new Int32Array(0);
  /** Slot → IPv4 address (uint32), for the packet path. */
  private v4 = new Uint32Array(0);
  private addrs: (IpAddr | null)[] = [];
  private readonly index = new Map<number | string, number>();
  private readonly freeSlots: number[] = [];

  constructor(opts: LportSpaceOptions = {}) {
    const portMin = opts.portMin ?? 1024;
    const portMax = opts.portMax ?? 65535;
    const workers = opts.workers ?? 1;
    const worker = opts.worker ?? 0;
    if (!Number.isInteger(portMin) || !Number.isInteger(portMax) || portMin < 1 || portMax > 65535)
      throw new RangeError('local port range must lie within 1..65535');
    if (portMin > portMax) throw new RangeError('portMin must not exceed portMax');
    if (!Number.isInteger(workers) || workers < 1 || workers > 65535)
      throw new RangeError('workers must be an integer ≥ 1');
    if (!Number.isInteger(worker) || worker < 0 || worker >= workers)
      throw new RangeError('worker must be in 0..workers-1');
    this.portMin = portMin;
    this.portMax = portMax;
    this.workers = workers;
    this.worker = worker;
    this.base = portMin + ((worker - (portMin % workers) + workers) % workers);
    this.portsPerAddr = this.base > portMax ? 0 : Math.floor((portMax - this.base) / workers) + 1;
    this.words = Math.max(1, Math.ceil(this.portsPerAddr / 32));
  }

  /** Finds or creates the slot for `addr` and takes a reference on it (control plane). */
  acquire(addr: IpAddr): number {
    const key = addrKey(addr);
    let slot = this.index.get(key);
    if (slot === undefined) {
      if (this.freeSlots.length === 0) this.grow();
      slot = this.freeSlots.pop()!;
      this.index.set(key, slot);
      this.addrs[slot] = addr;
      this.v4[slot] = addr.af === 4 ? addr.v4 : 0;
      this.used[slot] = 0;
      this.cursor[slot] = 0;
      this.refs[slot] = 0;
      this.resetBits(slot);
    }
    this.refs[slot]++;
    return slot;
  }

  /**
   * Drops a reference taken by acquire. The slot (and its bitmap) is recycled once it is neither
   * referenced nor holding ports, so conns that outlive their laddr's removal keep their port
   * until they expire.
   */
  unref(slot: number): void {
    if (this.refs[slot] > 0) this.refs[slot]--;
    this.maybeRecycle(slot);
  }

  /** Allocates a port on `slot`, next-fit; returns a handle or -1 when the laddr is exhausted. */
  allocPort(slot: number): number {
    if (this.used[slot] >= this.portsPerAddr) {
      this.exhausted++;
      return -1;
    }
    const words = this.words;
    const bits = this.bits;
    const row = slot * words;
    const c = this.cursor[slot];
    let wi = c >>> 5;
    // First word: ignore bits below the cursor, so the search moves forward.
    let w = bits[row + wi] | ((1 << (c & 31)) - 1);
    for (let n = 0; n <= words; n++) {
      if (w !== -1) {
        const free = ~w & (w + 1); // lowest clear bit
        const bit = 31 - Math.clz32(free);
        const i = (wi << 5) | bit;
        bits[row + wi] |= free;
        this.used[slot]++;
        this.cursor[slot] = i + 1 >= this.portsPerAddr ? 0 : i + 1;
        return slot * 0x10000 + this.base + i * this.workers;
      }
      wi = wi + 1 === words ? 0 : wi + 1;
      w = bits[row + wi] | 0;
    }
    // Unreachable while `used` is accurate; count it rather than loop.
    this.exhausted++;
    return -1;
  }

  /** Returns a port (conn expiry). False when the handle is not a live allocation. */
  free(h: number): boolean {
    if (h < 0) return false;
    const slot = handleSlot(h);
    if (slot >= this.cap || this.addrs[slot] === null) return false;
    const i = this.bitIndex(handlePort(h));
    if (i < 0) return false;
    const k = slot * this.words + (i >>> 5);
    const m = 1 << (i & 31);
    if ((this.bits[k] & m) === 0) return false;
    this.bits[k] &= ~m;
    this.used[slot]--;
    this.maybeRecycle(slot);
    return true;
  }

  /** True when `port` on `slot` is allocated. */
  inUse(slot: number, port: number): boolean {
    if (slot >= this.cap || this.addrs[slot] === null) return false;
    const i = this.bitIndex(port);
    return i >= 0 && (this.bits[slot * this.words + (i >>> 5)] & (1 << (i & 31))) !== 0;
  }

  /** True when `port` belongs to this worker's share of the range. */
  ownsPort(port: number): boolean {
    return this.bitIndex(port) >= 0;
  }

  /** Ports in use on `slot`. */
  usedOn(slot: number): number {
    return slot < this.cap && this.addrs[slot] !== null ? this.used[slot] : 0;
  }

  /** The IPv4 local address of a handle (0 for an IPv6 laddr). */
  laddrV4(h: number): number {
    return this.v4[handleSlot(h)];
  }

  /** The local address held by `slot` (handleSlot of a handle), or null for a free slot. */
  laddrOfSlot(slot: number): IpAddr | null {
    return slot < this.cap ? this.addrs[slot] : null;
  }

  /** The slot holding `addr`, or -1. */
  slotOf(addr: IpAddr): number {
    return this.index.get(addrKey(addr)) ?? -1;
  }

  private bitIndex(port: number): number {
    const d = port - this.base;
    if (d < 0 || port > this.portMax || d % this.workers !== 0) return -1;
    return d / this.workers;
  }

  private resetBits(slot: number): void {
    const row = slot * this.words;
    this.bits.fill(0, row, row + this.words);
    // Bits past the last port are marked used for good, so the scan never hands them out.
    const tail = this.portsPerAddr & 31;
    if (tail !== 0) this.bits[row + this.words - 1] = ~((1 << tail) - 1);
    else if (this.portsPerAddr === 0) this.bits[row] = -1 >>> 0;
  }

  private maybeRecycle(slot: number): void {
    const a = this.addrs[slot];
    if (a === null || this.refs[slot] > 0 || this.used[slot] > 0) return;
    this.index.delete(addrKey(a));
    this.addrs[slot] = null;
    this.v4[slot] = 0;
    this.freeSlots.push(slot);
  }

  /** Doubles the slot capacity; the new slots go on the free list, lowest on top. */
  private grow(): void {
    const old = this.cap;
    const cap = old === 0 ? 4 : old * 2;
    if (cap > MAX_SLOTS) throw new RangeError('too many local addresses');
    const bits = new Uint32Array(cap * this.words);
    bits.set(this.bits);
    this.bits = bits;
    this.used = growI32(this.used, cap);
    this.cursor = growI32(this.cursor, cap);
    this.refs = growI32(this.refs, cap);
    const v4 = new Uint32Array(cap);
    v4.set(this.v4);
    this.v4 = v4;
    for (let i = old; i < cap; i++) this.addrs[i] = null;
    for (let i = cap - 1; i >= old; i--) this.freeSlots.push(i);
    this.cap = cap;
  }
}

function growI32(a: Int32Array<ArrayBuffer>, cap: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}

function addrKey(a: IpAddr): number | string {
  return a.af === 4 ? a.v4 : ipAddrToString(a);
}

export interface LaddrPoolOptions {
  /**
   * Injected uint32 randomness. When given, 5 % of the picks skip one laddr, as DPVS does for rr
   * and wrr services (__laddr_step) so that the laddr rotation cannot fall into step with the
   * real-server rotation and pin each real server to one laddr. Leave unset for other schedulers.
   */
  random?: () => number;
}

/**
 * One service's local addresses (DPVS dp_vs_laddr / Alibaba svc->laddr_list), allocating from a
 * shared LportSpace. Picks the laddr round-robin; when that laddr has no port left, it moves on to
 * the next, trying every laddr once before giving up (DPVS tries at most 16).
 */
export class LaddrPool {
  private readonly space: LportSpace;
  private readonly random: (() => number) | null;
  private slots: number[] = [];
  /** Index into `slots` of the laddr to try next. */
  private cur = 0;
  /** Allocations refused because every laddr was exhausted (or there were none). */
  exhausted = 0;

  constructor(space: LportSpace, opts: LaddrPoolOptions = {}) {
    this.space = space;
    this.random = opts.random ?? null;
  }

  /** Adds a local address at the end of the list; false when already present. */
  addLaddr(addr: IpAddr): boolean {
    for (const s of this.slots) if (ipAddrEquals(this.space.laddrOfSlot(s)!, addr)) return false;
    this.slots.push(this.space.acquire(addr));
    return true;
  }

  /** Removes a local address; conns holding its ports keep them until they are freed. */
  delLaddr(addr: IpAddr): boolean {
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (!ipAddrEquals(this.space.laddrOfSlot(s)!, addr)) continue;
      this.slots.splice(i, 1);
      if (this.cur > i) this.cur--;
      if (this.cur >= this.slots.length) this.cur = 0;
      this.space.unref(s);
      return true;
    }
    return false;
  }

  /** Removes every local address (service deletion). */
  flush(): void {
    for (const s of this.slots) this.space.unref(s);
    this.slots = [];
    this.cur = 0;
  }

  /** The local addresses, in round-robin order. */
  laddrs(): IpAddr[] {
    return this.slots.map((s) => this.space.laddrOfSlot(s)!);
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Allocates (laddr, lport) for a new FullNAT conn; returns a handle (see handlePort,
   * LportSpace.laddrV4) or -1 when no laddr has a free port.
   */
  alloc(): number {
    const n = this.slots.length;
    if (n === 0) {
      this.exhausted++;
      return -1;
    }
    if (this.random !== null && this.random() % 100 < 5) this.cur = this.cur + 1 === n ? 0 : this.cur + 1;
    for (let t = 0; t < n; t++) {
      const i = this.cur;
      this.cur = i + 1 === n ? 0 : i + 1;
      const h = this.space.allocPort(this.slots[i]);
      if (h >= 0) return h;
    }
    this.exhausted++;
    return -1;
  }

  /** Returns an allocation (conn expiry); same as LportSpace.free. */
  free(h: number): boolean {
    return this.space.free(h);
  }
}

/**
 * The director's own IPv4 routing and neighbour resolution (the VIPs and FullNAT local addresses
 * live only in tslvs, never on the host's kernel, so tslvs answers and asks ARP itself).
 *
 * - Router: connected subnets of the served interfaces plus static routes (a default gateway),
 *   longest prefix first; it implements the pipeline's NetEnv.route4.
 * - NeighCache: IP → MAC per interface with the kernel's states reduced to what a director needs
 *   (INCOMPLETE while probing, REACHABLE after an answer, STALE after reachable_time, FAILED after
 *   the probes ran out), request rate limiting, and a queue of ARP requests for the I/O layer.
 *
 * Lookups allocate nothing: keys are numbers (ifindex × 2^32 + address, exact in a double).
 */
import type { Hop, NetEnv } from './pipeline.ts';

export interface IfAddr {
  addr: number;
  prefix: number;
}

export interface RouterIf {
  /** Our own index for the interface (also the pipeline's outIf). */
  index: number;
  name: string;
  mac: number;
  mtu: number;
  addrs: IfAddr[];
}

export interface StaticRoute {
  dst: number;
  prefix: number;
  gw: number;
}

export const NeighState = { INCOMPLETE: 0, REACHABLE: 1, STALE: 2, FAILED: 3 } as const;
export type NeighState = (typeof NeighState)[keyof typeof NeighState];

interface NeighEntry {
  mac: number;
  state: NeighState;
  /** When the state changes on its own: REACHABLE → STALE, INCOMPLETE → next probe, FAILED → retry. */
  until: number;
  probes: number;
  confirmed: number;
  /** onFailed was called for this entry and it has not answered since. */
  reported?: boolean;
}

export interface NeighOptions {
  /** base_reachable_time (30 s in Linux). */
  reachableMs?: number;
  /** Time between probes while INCOMPLETE (retrans_time, 1 s). */
  retransMs?: number;
  /** Probes before FAILED (mcast_solicit, 3). */
  probes?: number;
  /** How long a FAILED entry refuses new probes. */
  failedMs?: number;
  /** A STALE entry still forwards; after this long unused it is dropped (gc_stale_time, 60 s). */
  staleMs?: number;
}

export class NeighCache {
  private readonly map = new Map<number, NeighEntry>();
  private readonly reachableMs: number;
  private readonly retransMs: number;
  private readonly maxProbes: number;
  private readonly failedMs: number;
  private readonly staleMs: number;
  /** ARP requests to send: pairs (ifindex, target IP), drained by the I/O layer. */
  readonly pending: number[] = [];
  /**
   * Called when ARP teaches this cache a MAC (not for ones a peer passed on: fromPeer), so other
   * workers' caches can learn it too: ARP answers all reach one worker.
   */
  onLearned: ((ifindex: number, ip: number, mac: number) => void) | null = null;
  /** Called when a neighbour stops being resolvable (FAILED after its probes), once until it answers. */
  onFailed: ((ifindex: number, ip: number, probes: number) => void) | null = null;
  /** Requests that found no answer after every probe. */
  unresolved = 0;

  constructor(o: NeighOptions = {}) {
    this.reachableMs = o.reachableMs ?? 30_000;
    this.retransMs = o.retransMs ?? 1000;
    this.maxProbes = o.probes ?? 3;
    this.failedMs = o.failedMs ?? 3000;
    this.staleMs = o.staleMs ?? 60_000;
  }

  private static key(ifindex: number, ip: number): number {
    return ifindex * 0x100000000 + (ip >>> 0);
  }

  /** The MAC for `ip` on `ifindex`, or -1 (and a probe is queued, rate-limited). */
  resolve(ifindex: number, ip: number, now: number): number {
    const k = NeighCache.key(ifindex, ip);
    const e = this.map.get(k);
    if (e !== undefined) {
      if (e.state === NeighState.REACHABLE || e.state === NeighState.STALE) {
        if (e.state === NeighState.REACHABLE && now >= e.until) e.state = NeighState.STALE;
        // A stale entry still forwards; it is re-probed in the background (Linux's DELAY/PROBE).
        if (e.state === NeighState.STALE && now >= e.until) {
          e.until = now + this.retransMs;
          this.pending.push(ifindex, ip >>> 0);
        }
        e.confirmed = now;
        return e.mac;
      }
      if (e.state === NeighState.FAILED) {
        if (now < e.until) return -1;
        e.state = NeighState.INCOMPLETE;
        e.probes = 0;
        e.until = now;
      }
      if (now >= e.until) this.probe(e, ifindex, ip, now);
      return -1;
    }
    const n: NeighEntry = { mac: -1, state: NeighState.INCOMPLETE, until: now, probes: 0, confirmed: now };
    this.map.set(k, n);
    this.probe(n, ifindex, ip, now);
    return -1;
  }

  private probe(e: NeighEntry, ifindex: number, ip: number, now: number): void {
    if (e.probes >= this.maxProbes) {
      e.state = NeighState.FAILED;
      e.until = now + this.failedMs;
      this.unresolved++;
      if (!e.reported) {
        // Once per neighbour until it answers again: a log line, not one per probe round.
        e.reported = true;
        this.onFailed?.(ifindex, ip >>> 0, this.maxProbes);
      }
      return;
    }
    e.probes++;
    e.until = now + this.retransMs;
    this.pending.push(ifindex, ip >>> 0);
  }

  /** The MAC known for `ip` on `ifindex` (REACHABLE or STALE), or -1; no probe, no side effect. */
  peek(ifindex: number, ip: number): number {
    const e = this.map.get(NeighCache.key(ifindex, ip));
    return e !== undefined && (e.state === NeighState.REACHABLE || e.state === NeighState.STALE) ? e.mac : -1;
  }

  /** Whether resolving `ip` on `ifindex` has given up (FAILED), as of the last probe. */
  failed(ifindex: number, ip: number): boolean {
    return this.map.get(NeighCache.key(ifindex, ip))?.state === NeighState.FAILED;
  }

  /** An ARP reply or request from `ip` told us its MAC (neigh_update with NUD_REACHABLE). */
  learn(ifindex: number, ip: number, mac: number, now: number, onlyIfKnown = false, fromPeer = false): void {
    const k = NeighCache.key(ifindex, ip);
    const e = this.map.get(k);
    if (!fromPeer && this.onLearned !== null && (e !== undefined || !onlyIfKnown))
      this.onLearned(ifindex, ip >>> 0, mac);
    if (e === undefined) {
      if (onlyIfKnown) return;
      this.map.set(k, {
        mac,
        state: NeighState.REACHABLE,
        until: now + this.reachableMs,
        probes: 0,
        confirmed: now,
      });
      return;
    }
    e.mac = mac;
    e.reported = false;
    e.state = NeighState.REACHABLE;
    e.until = now + this.reachableMs;
    e.probes = 0;
    e.confirmed = now;
  }

  /** Drops entries unused for staleMs (neigh_periodic_work); call about once a second. */
  gc(now: number): void {
    for (const [k, e] of this.map) {
      if (e.state === NeighState.REACHABLE && now >= e.until) e.state = NeighState.STALE;
      if ((e.state === NeighState.STALE || e.state === NeighState.FAILED) && now - e.confirmed > this.staleMs)
        this.map.delete(k);
      else if (e.state === NeighState.INCOMPLETE && now >= e.until)
        this.probe(e, Math.floor(k / 0x100000000), k % 0x100000000, now);
    }
  }

  /** A snapshot for status output (control plane; allocates). */
  entries(): { ifindex: number; ip: number; mac: number; state: NeighState }[] {
    const out: { ifindex: number; ip: number; mac: number; state: NeighState }[] = [];
    for (const [k, e] of this.map)
      out.push({ ifindex: Math.floor(k / 0x100000000), ip: k % 0x100000000, mac: e.mac, state: e.state });
    return out;
  }
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** IPv4 routing over the served interfaces; the pipeline's NetEnv. */
export class Router implements NetEnv {
  readonly ifs: RouterIf[];
  readonly neigh: NeighCache;
  now = 0;
  /** Routes sorted longest prefix first: [dst, mask, prefix, gw (0 = connected), ifindex]. */
  private readonly table: {
    dst: number;
    mask: number;
    prefix: number;
    gw: number;
    ifi: RouterIf;
    src: number;
  }[] = [];
  private readonly byIndex = new Map<number, RouterIf>();

  /** Let route4 hand out hops whose MAC is still being resolved (see route4). */
  queueUnresolved = false;
  /** After route4: the next hop it returned unresolved (MAC 0), else -1. */
  unresolvedNh = -1;

  constructor(ifs: RouterIf[], routes: StaticRoute[], neigh: NeighCache) {
    this.ifs = ifs;
    this.neigh = neigh;
    for (const i of ifs) {
      this.byIndex.set(i.index, i);
      for (const a of i.addrs) {
        const mask = maskOf(a.prefix);
        this.table.push({ dst: (a.addr & mask) >>> 0, mask, prefix: a.prefix, gw: 0, ifi: i, src: a.addr });
      }
    }
    for (const r of routes) {
      const via = this.connected(r.gw);
      if (via === null)
        throw new Error(
          `gateway ${r.gw >>> 24}.${(r.gw >>> 16) & 255}.${(r.gw >>> 8) & 255}.${r.gw & 255} is not on a served subnet`,
        );
      const mask = maskOf(r.prefix);
      this.table.push({
        dst: (r.dst & mask) >>> 0,
        mask,
        prefix: r.prefix,
        gw: r.gw,
        ifi: via.ifi,
        src: via.src,
      });
    }
    this.table.sort((a, b) => b.prefix - a.prefix);
  }

  private connected(ip: number): { ifi: RouterIf; src: number } | null {
    for (const i of this.ifs)
      for (const a of i.addrs) {
        const m = maskOf(a.prefix);
        if ((ip & m) >>> 0 === (a.addr & m) >>> 0) return { ifi: i, src: a.addr };
      }
    return null;
  }

  /**
   * fib lookup + neighbour: false when there is no route or the next hop cannot be used. A next
   * hop still being resolved is usable when `queueUnresolved` is set: the hop then carries MAC 0
   * and `unresolvedNh` names the next hop, so the caller can hold the frame in a neighbour queue
   * (neigh_resolve_output's arp_queue) and send it when the answer comes; else false.
   */
  route4(dst: number, hop: Hop): boolean {
    const t = this.table;
    this.unresolvedNh = -1;
    for (let i = 0; i < t.length; i++) {
      const r = t[i];
      if ((dst & r.mask) >>> 0 !== r.dst) continue;
      const nh = r.gw !== 0 ? r.gw : dst;
      let mac = this.neigh.resolve(r.ifi.index, nh, this.now);
      if (mac < 0) {
        if (!this.queueUnresolved || this.neigh.failed(r.ifi.index, nh)) return false;
        this.unresolvedNh = nh >>> 0;
        mac = 0;
      }
      hop.ifindex = r.ifi.index;
      hop.srcMac = r.ifi.mac;
      hop.dstMac = mac;
      hop.mtu = r.ifi.mtu;
      hop.saddr = r.src;
      return true;
    }
    return false;
  }

  /** IPv6 routing is not configured in the daemon yet: every IPv6 destination is unreachable. */
  route6(_dst: Uint8Array, _off: number, _hop: Hop): boolean {
    return false;
  }

  ifMac(ifindex: number): number {
    return this.byIndex.get(ifindex)?.mac ?? 0;
  }

  /**
   * arp_process: a request aimed at us creates or refreshes the sender's entry; any other ARP
   * only refreshes an entry we already have (no cache pollution from overheard traffic).
   */
  neighSeen(ifindex: number, ip: number, mac: number, forUs: boolean): void {
    if (this.connected(ip) === null) return;
    this.neigh.learn(ifindex, ip, mac, this.now, !forUs);
  }

  ifByIndex(ifindex: number): RouterIf | undefined {
    return this.byIndex.get(ifindex);
  }

  /** Whether `ip` is one of our own interface addresses. */
  isLocal(ip: number): boolean {
    for (const i of this.ifs) for (const a of i.addrs) if (a.addr === ip) return true;
    return false;
  }
}

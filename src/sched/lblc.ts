/**
 * lblc: locality-based least connection (ip_vs_lblc.c), for cache clusters. A table maps each
 * destination address to the dest last chosen for it; that dest keeps getting the address while
 * it is available, has weight > 0 and is not "overloaded" in lblc's sense (more active connections
 * than its weight while some dest is under half its weight). Otherwise wlc picks a dest and the
 * mapping is rebound.
 *
 * The table is the kernel's: 1024 buckets by hash_32(address fold, 10), each a list with the newest
 * entry first, so that the garbage collector walks and stops exactly where the kernel's does. GC
 * runs from tick() every 60 s: every 30th run drops entries idle for lblc_expiration (24 h by
 * default); other runs only act when the table holds more than 16384 entries, dropping entries idle
 * for 6 minutes until (entries - 16384) * 4/3 are gone (at most 8192), resuming from a rover.
 *
 * An entry holds a reference on its dest (dest.refcnt), as ip_vs_dest_hold does, so a deleted dest
 * stays in the trash while some entry still points at it. Entries are pooled, so scheduling
 * allocates nothing once the pool has warmed up.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_AVAILABLE, lblcOverloaded, wlcLeast } from './common.ts';
import { hash32 } from './hash.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

/** CONFIG_IP_VS_LBLC_TAB_BITS default. */
export const LBLC_TAB_BITS = 10;
export const LBLC_TAB_SIZE = 1 << LBLC_TAB_BITS;
const LBLC_TAB_MASK = LBLC_TAB_SIZE - 1;
/** CHECK_EXPIRE_INTERVAL: the GC timer period. */
export const CHECK_EXPIRE_INTERVAL_MS = 60_000;
/** ENTRY_TIMEOUT: idle time after which an entry may go when the table is over size. */
export const ENTRY_TIMEOUT_MS = 6 * 60_000;
/** COUNT_FOR_FULL_EXPIRATION: every 30th GC run is a full expiration check. */
export const COUNT_FOR_FULL_EXPIRATION = 30;
/** tbl->max_size = IP_VS_LBLC_TAB_SIZE * 16. */
export const LBLC_MAX_SIZE = LBLC_TAB_SIZE * 16;

class LblcEntry {
  next: LblcEntry | null = null;
  v4 = 0;
  readonly v6 = new Uint8Array(16);
  dest: Dest | null = null;
  lastuse = 0;
}

/** The packet's destination address equals the entry's (ip_vs_addr_equal under the service af). */
function addrMatches(en: { v4: number; v6: Uint8Array }, af: number, pkt: SchedPacket): boolean {
  if (af === 4) return en.v4 === pkt.daddr;
  const a = en.v6;
  const b = pkt.daddr6;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class LblcScheduler implements Scheduler {
  readonly name = 'lblc' as const;
  private readonly svc: Service;
  private readonly env: SchedEnv;
  private readonly buckets: (LblcEntry | null)[] = new Array<LblcEntry | null>(LBLC_TAB_SIZE).fill(null);
  /** atomic_t entries, counted as the kernel counts it (see bind()). */
  private entries = 0;
  private rover = 0;
  private counter = 1;
  private dead = false;
  private nextCheck: number;
  private pool: LblcEntry | null = null;

  // ip_vs_lblc_init_svc: empty table, first GC run one interval from now.
  constructor(svc: Service, env: SchedEnv) {
    this.svc = svc;
    this.env = env;
    this.nextCheck = env.now() + CHECK_EXPIRE_INTERVAL_MS;
  }

  /** For tests and listings: the entry count as the kernel keeps it, and the live entries. */
  get entryCount(): number {
    return this.entries;
  }

  /** For tests: the dest an address is bound to, or null (walks the table; control plane only). */
  lookupBinding(pkt: SchedPacket): Dest | null {
    const en = this.find(hash32(pkt.daddrFold, LBLC_TAB_BITS), pkt);
    return en === null ? null : en.dest;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_lblc_get
  private find(hash: number, pkt: SchedPacket): LblcEntry | null {
    const af = this.svc.af;
    for (let en = this.buckets[hash]; en !== null; en = en.next) if (addrMatches(en, af, pkt)) return en;
    return null;
  }

  /** Unlinks `en` from bucket `hash` (whose predecessor is `prev`), drops its dest reference and pools it. */
  private release(hash: number, prev: LblcEntry | null, en: LblcEntry): void {
    if (prev === null) this.buckets[hash] = en.next;
    else prev.next = en.next;
    en.dest!.refcnt--;
    en.dest = null;
    en.next = this.pool;
    this.pool = en;
  }

  // ip_vs_lblc_new: keep an entry already bound to `dest`; otherwise drop the old entry and hash a
  // new one at the head of its bucket. The kernel counts the new entry without uncounting the one
  // it replaced, so `entries` drifts up on every rebind; we count the same way so that GC starts
  // exactly when the kernel's does.
  private bind(hash: number, pkt: SchedPacket, dest: Dest, now: number): void {
    const af = this.svc.af;
    let prev: LblcEntry | null = null;
    for (let en = this.buckets[hash]; en !== null; prev = en, en = en.next) {
      if (!addrMatches(en, af, pkt)) continue;
      if (en.dest === dest) return;
      this.release(hash, prev, en);
      break;
    }
    let en = this.pool;
    if (en !== null) this.pool = en.next;
    else en = new LblcEntry();
    if (af === 4) en.v4 = pkt.daddr;
    else en.v6.set(pkt.daddr6);
    en.lastuse = now;
    dest.refcnt++;
    en.dest = dest;
    en.next = this.buckets[hash];
    this.buckets[hash] = en;
    this.entries++;
  }

  // ip_vs_lblc_schedule
  schedule(pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    const now = this.env.now();
    const hash = hash32(pkt.daddrFold, LBLC_TAB_BITS);
    const en = this.find(hash, pkt);
    if (en !== null) {
      en.lastuse = now;
      const d = en.dest!;
      // A dest in the trash (not AVAILABLE) is never reused from the cache.
      if ((d.flags & F_AVAILABLE) !== 0 && d.weight > 0 && !lblcOverloaded(d, dests)) return d;
    }
    // No entry, or it is unusable: weighted least-connection over all dests.
    const d = wlcLeast(dests);
    if (d === null) return null;
    if (!this.dead) this.bind(hash, pkt, d, now);
    return d;
  }

  // The periodic_timer: runs ip_vs_lblc_check_expire once per CHECK_EXPIRE_INTERVAL.
  tick(now: number): void {
    if (this.dead || now < this.nextCheck) return;
    this.checkExpire(now);
    this.nextCheck = now + CHECK_EXPIRE_INTERVAL_MS;
  }

  // ip_vs_lblc_check_expire
  private checkExpire(now: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      this.fullCheck(now);
      this.counter = 1;
      return;
    }
    if (this.entries <= LBLC_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - LBLC_MAX_SIZE) * 4) / 3);
    if (goal > LBLC_MAX_SIZE / 2) goal = LBLC_MAX_SIZE / 2;
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & LBLC_TAB_MASK;
      let prev: LblcEntry | null = null;
      for (let en = this.buckets[j]; en !== null;) {
        const next = en.next;
        // time_before(now, lastuse + ENTRY_TIMEOUT): still fresh
        if (now < en.lastuse + ENTRY_TIMEOUT_MS) {
          prev = en;
        } else {
          this.release(j, prev, en);
          this.entries--;
          goal--;
        }
        en = next;
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  // ip_vs_lblc_full_check: drop every entry idle for lblc_expiration, whole table from the rover.
  private fullCheck(now: number): void {
    const expiration = this.env.lblcExpirationMs;
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & LBLC_TAB_MASK;
      let prev: LblcEntry | null = null;
      for (let en = this.buckets[j]; en !== null;) {
        const next = en.next;
        if (now < en.lastuse + expiration) {
          prev = en;
        } else {
          this.release(j, prev, en);
          this.entries--;
        }
        en = next;
      }
    }
    this.rover = j;
  }

  // ip_vs_lblc_done_svc: stop the timer, flush every entry (dropping the dest references).
  done(): void {
    this.dead = true;
    for (let j = 0; j < LBLC_TAB_SIZE; j++) {
      while (this.buckets[j] !== null) {
        this.release(j, null, this.buckets[j]!);
        this.entries--;
      }
    }
    this.pool = null;
  }
}

export function createLblc(svc: Service, env: SchedEnv): Scheduler {
  return new LblcScheduler(svc, env);
}

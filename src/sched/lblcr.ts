/**
 * lblcr: locality-based least connection with replication (ip_vs_lblcr.c). Like lblc, but each
 * destination address maps to a set of dests. A connection goes to the least loaded usable member
 * of the set; when there is none, or it is "overloaded" in lblc's sense, wlc picks a dest from the
 * whole service and it joins the set. A set of more than one member that has not changed for
 * lblcr_expiration (24 h by default) sheds its most loaded member.
 *
 * Table, GC and dest references work as in lblc.ts (1024 buckets, 60 s timer, full check every
 * 30th run, 6-minute idle drop when over 16384 entries). Each set member holds a dest reference.
 * Set members are kept newest first, as list_add_rcu leaves them.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_AVAILABLE, F_OVERLOAD, connOverhead, lblcOverloaded, mulGt, wlcLeast } from './common.ts';
import { hash32 } from './hash.ts';
import {
  CHECK_EXPIRE_INTERVAL_MS,
  COUNT_FOR_FULL_EXPIRATION,
  ENTRY_TIMEOUT_MS,
  LBLC_MAX_SIZE,
  LBLC_TAB_BITS,
  LBLC_TAB_SIZE,
} from './lblc.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

const TAB_MASK = LBLC_TAB_SIZE - 1;

class LblcrEntry {
  next: LblcrEntry | null = null;
  v4 = 0;
  readonly v6 = new Uint8Array(16);
  lastuse = 0;
  /** struct ip_vs_dest_set: members newest first, and when the set last changed. */
  readonly set: Dest[] = [];
  lastmod = 0;
}

function addrMatches(en: LblcrEntry, af: number, pkt: SchedPacket): boolean {
  if (af === 4) return en.v4 === pkt.daddr;
  const a = en.v6;
  const b = pkt.daddr6;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ip_vs_dest_set_insert: add at the head (unless `check` finds it already there) and touch lastmod.
function setInsert(en: LblcrEntry, dest: Dest, check: boolean, now: number): void {
  if (check && en.set.indexOf(dest) >= 0) return;
  dest.refcnt++;
  en.set.unshift(dest);
  en.lastmod = now;
}

// ip_vs_dest_set_erase
function setErase(en: LblcrEntry, dest: Dest, now: number): void {
  const i = en.set.indexOf(dest);
  if (i < 0) return;
  en.set.splice(i, 1);
  dest.refcnt--;
  en.lastmod = now;
}

/**
 * ip_vs_dest_set_min: weighted least connection over the members. The first member that is not
 * overloaded, has weight > 0 and is AVAILABLE starts; a later non-overloaded member replaces it
 * when strictly less loaded and AVAILABLE.
 */
export function setMin(set: readonly Dest[]): Dest | null {
  const n = set.length;
  let i = 0;
  let least: Dest | null = null;
  for (; i < n; i++) {
    const d = set[i];
    if ((d.flags & F_OVERLOAD) !== 0) continue;
    if (d.weight > 0 && (d.flags & F_AVAILABLE) !== 0) {
      least = d;
      break;
    }
  }
  if (least === null) return null;
  let loh = connOverhead(least);
  for (i++; i < n; i++) {
    const d = set[i];
    if ((d.flags & F_OVERLOAD) !== 0) continue;
    const doh = connOverhead(d);
    if (mulGt(loh, d.weight, doh, least.weight) && (d.flags & F_AVAILABLE) !== 0) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/**
 * ip_vs_dest_set_max: the most loaded member by overhead / weight. The first member with weight > 0
 * starts; a later member with weight > 0 replaces it when strictly more loaded. Overload and
 * availability are not looked at.
 */
export function setMax(set: readonly Dest[]): Dest | null {
  const n = set.length;
  let i = 0;
  let most: Dest | null = null;
  for (; i < n; i++) {
    if (set[i].weight > 0) {
      most = set[i];
      break;
    }
  }
  if (most === null) return null;
  let moh = connOverhead(most);
  for (i++; i < n; i++) {
    const d = set[i];
    const doh = connOverhead(d);
    // moh / mw < doh / dw  <=>  moh * dw < doh * mw
    if (mulGt(doh, most.weight, moh, d.weight) && d.weight > 0) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

export class LblcrScheduler implements Scheduler {
  readonly name = 'lblcr' as const;
  private readonly svc: Service;
  private readonly env: SchedEnv;
  private readonly buckets: (LblcrEntry | null)[] = new Array<LblcrEntry | null>(LBLC_TAB_SIZE).fill(null);
  private entries = 0;
  private rover = 0;
  private counter = 1;
  private dead = false;
  private nextCheck: number;
  private pool: LblcrEntry | null = null;

  // ip_vs_lblcr_init_svc
  constructor(svc: Service, env: SchedEnv) {
    this.svc = svc;
    this.env = env;
    this.nextCheck = env.now() + CHECK_EXPIRE_INTERVAL_MS;
  }

  get entryCount(): number {
    return this.entries;
  }

  /** For tests: the dest set of an address, newest first, or null (a copy; control plane only). */
  lookupSet(pkt: SchedPacket): Dest[] | null {
    const en = this.find(hash32(pkt.daddrFold, LBLC_TAB_BITS), pkt);
    return en === null ? null : en.set.slice();
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_lblcr_get
  private find(hash: number, pkt: SchedPacket): LblcrEntry | null {
    const af = this.svc.af;
    for (let en = this.buckets[hash]; en !== null; en = en.next) if (addrMatches(en, af, pkt)) return en;
    return null;
  }

  // ip_vs_lblcr_free: unlink, drop every member's dest reference, pool the entry.
  private release(hash: number, prev: LblcrEntry | null, en: LblcrEntry): void {
    if (prev === null) this.buckets[hash] = en.next;
    else prev.next = en.next;
    for (const d of en.set) d.refcnt--;
    en.set.length = 0;
    en.next = this.pool;
    this.pool = en;
  }

  // ip_vs_lblcr_new (only reached when there is no entry): a new entry whose set is {dest}.
  private create(hash: number, pkt: SchedPacket, dest: Dest, now: number): void {
    let en = this.pool;
    if (en !== null) this.pool = en.next;
    else en = new LblcrEntry();
    if (this.svc.af === 4) en.v4 = pkt.daddr;
    else en.v6.set(pkt.daddr6);
    en.lastuse = now;
    setInsert(en, dest, false, now);
    en.next = this.buckets[hash];
    this.buckets[hash] = en;
    this.entries++;
  }

  // ip_vs_lblcr_schedule
  schedule(pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    const now = this.env.now();
    const hash = hash32(pkt.daddrFold, LBLC_TAB_BITS);
    const en = this.find(hash, pkt);
    if (en !== null) {
      en.lastuse = now;
      // The least loaded member is chosen before the set is shrunk, as in the kernel (so the
      // member just shed may still serve this connection).
      let dest = setMin(en.set);
      // More than one member and unchanged for lblcr_expiration: shed the most loaded one.
      if (en.set.length > 1 && now > en.lastmod + this.env.lblcrExpirationMs) {
        const m = setMax(en.set);
        if (m !== null) setErase(en, m, now);
      }
      if (dest !== null && !lblcOverloaded(dest, dests)) return dest;
      // The set has nothing usable: pick from the whole service and add it to the set.
      dest = wlcLeast(dests);
      if (dest === null) return null;
      if (!this.dead) setInsert(en, dest, true, now);
      return dest;
    }
    const dest = wlcLeast(dests);
    if (dest === null) return null;
    if (!this.dead) this.create(hash, pkt, dest, now);
    return dest;
  }

  // The periodic_timer: ip_vs_lblcr_check_expire once per CHECK_EXPIRE_INTERVAL.
  tick(now: number): void {
    if (this.dead || now < this.nextCheck) return;
    this.checkExpire(now);
    this.nextCheck = now + CHECK_EXPIRE_INTERVAL_MS;
  }

  // ip_vs_lblcr_check_expire
  private checkExpire(now: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      this.sweep(now, this.env.lblcrExpirationMs, Infinity);
      this.counter = 1;
      return;
    }
    if (this.entries <= LBLC_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - LBLC_MAX_SIZE) * 4) / 3);
    if (goal > LBLC_MAX_SIZE / 2) goal = LBLC_MAX_SIZE / 2;
    this.sweep(now, ENTRY_TIMEOUT_MS, goal);
  }

  /**
   * Walks the buckets after the rover, dropping entries idle for `idle` ms, and stops after the
   * bucket in which `goal` deletions are reached (ip_vs_lblcr_full_check has no goal: Infinity
   * walks the whole table).
   */
  private sweep(now: number, idle: number, goal: number): void {
    let j = this.rover;
    for (let i = 0; i < LBLC_TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      let prev: LblcrEntry | null = null;
      for (let en = this.buckets[j]; en !== null;) {
        const next = en.next;
        if (now < en.lastuse + idle) {
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

  // ip_vs_lblcr_done_svc
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

export function createLblcr(svc: Service, env: SchedEnv): Scheduler {
  return new LblcrScheduler(svc, env);
}

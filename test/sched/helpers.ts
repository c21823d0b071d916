/**
 * Test harness for schedulers: a service whose dests are added, edited and deleted the way
 * ip_vs_ctl.c does it (__ip_vs_update_dest / __ip_vs_unlink_dest), an injected clock and random
 * source, and packet builders.
 */
import { addr4, addr6, parseIpAddr } from '../../src/model/addr.ts';
import type { IpAddr } from '../../src/model/addr.ts';
import { Dest } from '../../src/model/dest.ts';
import { DestFlag, Proto } from '../../src/model/flags.ts';
import type { Af, SchedName } from '../../src/model/flags.ts';
import { Service } from '../../src/model/service.ts';
import { createScheduler } from '../../src/sched/index.ts';
import { newSchedPacket } from '../../src/sched/types.ts';
import type { SchedEnv, SchedPacket, Scheduler } from '../../src/sched/types.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A SchedEnv whose clock is set by hand and whose random() replays a queue (then a fixed LCG). */
export class TestEnv implements SchedEnv {
  t = 0;
  lblcExpirationMs = DAY_MS;
  lblcrExpirationMs = DAY_MS;
  readonly draws: number[] = [];
  private seed = 12345;

  now(): number {
    return this.t;
  }

  random(): number {
    const q = this.draws.shift();
    if (q !== undefined) return q >>> 0;
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
    return this.seed;
  }
}

let nextId = 1;

/** Parses dotted-quad or IPv6 text; throws on garbage (tests only). */
export function ip(s: string): IpAddr {
  const a = parseIpAddr(s);
  if (a === null) throw new Error(`bad address ${s}`);
  return a;
}

export interface LabOpts {
  af?: Af;
  flags?: number;
  env?: TestEnv;
}

/**
 * A service with a scheduler bound at creation (as `ipvsadm -A` does, before any dest exists),
 * and dests added one at a time like `ipvsadm -a`: each goes to the head of the list and then
 * the scheduler's addDest runs. Dests get short names for readable pick sequences.
 */
export class Lab {
  readonly svc: Service;
  readonly env: TestEnv;
  sched: Scheduler;
  private readonly names = new Map<Dest, string>();
  private readonly byName = new Map<string, Dest>();
  private hostSeq = 1;

  constructor(name: SchedName, opts: LabOpts = {}) {
    const af = opts.af ?? 4;
    this.env = opts.env ?? new TestEnv();
    this.svc = new Service(nextId++, af, Proto.TCP, af === 4 ? ip('192.0.2.1') : ip('2001:db8::100'), 80, 0);
    this.svc.flags = opts.flags ?? 0;
    this.svc.schedName = name;
    this.sched = createScheduler(name, this.svc, this.env);
    this.svc.sched = this.sched;
  }

  /** __ip_vs_update_dest(add): last_weight = weight, AVAILABLE, list head, then add_dest. */
  add(name: string, weight: number, addr?: string, port = 80): Dest {
    const a =
      addr !== undefined
        ? ip(addr)
        : this.svc.af === 4
          ? addr4((10 << 24) | this.hostSeq++)
          : addr6(Uint8Array.from([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, this.hostSeq++]));
    const d = new Dest(nextId++, this.svc, a, port);
    d.lastWeight = weight;
    d.weight = weight;
    d.flags |= DestFlag.AVAILABLE;
    this.names.set(d, name);
    this.byName.set(name, d);
    this.svc.dests.unshift(d);
    this.sched.addDest(d);
    return d;
  }

  /** __ip_vs_update_dest(edit): last_weight only follows non-zero weights; then upd_dest. */
  edit(d: Dest | string, weight: number): void {
    const dest = typeof d === 'string' ? this.dest(d) : d;
    if (weight !== 0) dest.lastWeight = weight;
    dest.weight = weight;
    this.sched.updDest(dest);
  }

  /** __ip_vs_unlink_dest: not AVAILABLE, off the list, then del_dest with the old index. */
  del(d: Dest | string): void {
    const dest = typeof d === 'string' ? this.dest(d) : d;
    const idx = this.svc.dests.indexOf(dest);
    if (idx < 0) throw new Error('not in the list');
    dest.flags &= ~DestFlag.AVAILABLE;
    this.svc.dests.splice(idx, 1);
    this.sched.delDest(dest, idx);
  }

  /** Rebinds the scheduler (ip_vs_edit_service with a new scheduler): init from the current list. */
  rebind(name: SchedName): void {
    this.sched.done?.();
    this.svc.schedName = name;
    this.sched = createScheduler(name, this.svc, this.env);
    this.svc.sched = this.sched;
  }

  dest(name: string): Dest {
    const d = this.byName.get(name);
    if (d === undefined) throw new Error(`no dest ${name}`);
    return d;
  }

  name(d: Dest | null): string {
    return d === null ? '-' : (this.names.get(d) ?? '?');
  }

  /** The current list order as names. */
  order(): string {
    return this.svc.dests.map((d) => this.name(d)).join(' ');
  }

  /** `n` picks for the same packet, as names joined by spaces ('-' for null). */
  picks(n: number, pkt: SchedPacket = pkt4('203.0.113.9', 40000, '192.0.2.1', 80)): string {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.name(this.sched.schedule(pkt)));
    return out.join(' ');
  }

  overload(d: Dest | string, on = true): void {
    const dest = typeof d === 'string' ? this.dest(d) : d;
    if (on) dest.flags |= DestFlag.OVERLOAD;
    else dest.flags &= ~DestFlag.OVERLOAD;
    dest.loadChanged(); // as ConnTable does after it sets or clears OVERLOAD
  }

  conns(d: Dest | string, active: number, inact = 0): void {
    const dest = typeof d === 'string' ? this.dest(d) : d;
    dest.activeConns = active;
    dest.inactConns = inact;
    dest.loadChanged(); // as ConnTable does after every counter change
  }
}

/** An IPv4 packet as the scheduler sees it. */
export function pkt4(saddr: string, sport: number, daddr: string, dport: number): SchedPacket {
  const p = newSchedPacket();
  const s = ip(saddr);
  const d = ip(daddr);
  p.af = 4;
  p.saddr = s.v4;
  p.saddrFold = s.fold;
  p.sport = sport;
  p.daddr = d.v4;
  p.daddrFold = d.fold;
  p.dport = dport;
  return p;
}

/** An IPv6 packet as the scheduler sees it. */
export function pkt6(saddr: string, sport: number, daddr: string, dport: number): SchedPacket {
  const p = newSchedPacket();
  const s = ip(saddr);
  const d = ip(daddr);
  p.af = 6;
  p.saddr6.set(s.v6!);
  p.saddrFold = s.fold;
  p.sport = sport;
  p.daddr6.set(d.v6!);
  p.daddrFold = d.fold;
  p.dport = dport;
  return p;
}

/** An IPv4 packet from numeric addresses (for property tests). */
export function pktNum(saddr: number, sport: number, daddr: number, dport: number): SchedPacket {
  const p = newSchedPacket();
  p.af = 4;
  p.saddr = p.saddrFold = saddr >>> 0;
  p.sport = sport;
  p.daddr = p.daddrFold = daddr >>> 0;
  p.dport = dport;
  return p;
}

/** Test fixtures for the connection table: a service with dests, a seeded table, a param block. */
import { addr4, addr6 } from '../../src/model/addr.ts';
import { DestRegistry } from '../../src/model/dest.ts';
import type { Dest } from '../../src/model/dest.ts';
import type { Af } from '../../src/model/flags.ts';
import { DestFlag, Fwd } from '../../src/model/flags.ts';
import { Service } from '../../src/model/service.ts';
import { Stats } from '../../src/model/stats.ts';
import { defaultConnSettings } from '../../src/conn/settings.ts';
import type { ConnSettings } from '../../src/conn/settings.ts';
import { ConnTable } from '../../src/conn/table.ts';
import { Timeouts } from '../../src/conn/timeouts.ts';
import { newConnParam } from '../../src/conn/types.ts';
import type { ConnParam } from '../../src/conn/types.ts';
import { ipv4FromString, ipv6FromString } from '../../src/wire/addr.ts';

export const VIP = ipv4FromString('10.0.0.100');
export const CIP = ipv4FromString('203.0.113.7');
export const RS = [
  ipv4FromString('192.168.10.1'),
  ipv4FromString('192.168.10.2'),
  ipv4FromString('192.168.10.3'),
];
export const LIP = ipv4FromString('10.0.0.200');

export interface Env {
  t: ConnTable;
  dests: DestRegistry;
  svc: Service;
  d: Dest[];
  total: Stats;
  settings: ConnSettings;
  timeouts: Timeouts;
  p: ConnParam;
}

export interface EnvOptions {
  af?: Af;
  fwd?: Fwd;
  maxEntries?: number;
  tickMs?: number;
  wheelSlots?: number;
  nDests?: number;
  proto?: number;
}

/** A tiny deterministic uint32 source (an LCG), so hash layouts repeat between runs. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

export function setup(o: EnvOptions = {}): Env {
  const af = o.af ?? 4;
  const dests = new DestRegistry();
  const vip = af === 4 ? addr4(VIP) : addr6(ipv6FromString('2001:db8::100'));
  const svc = new Service(0, af, o.proto ?? 6, vip, 80, 0);
  const d: Dest[] = [];
  for (let i = 0; i < (o.nDests ?? 3); i++) {
    const a =
      af === 4
        ? addr4(RS[i % RS.length] + Math.floor(i / RS.length))
        : addr6(ipv6FromString(`2001:db8::a${i}`));
    const dest = dests.alloc(svc, a, 8080);
    dest.setFwd(o.fwd ?? Fwd.MASQ);
    dest.flags |= DestFlag.AVAILABLE;
    svc.dests.unshift(dest);
    d.push(dest);
  }
  const total = new Stats();
  const settings = defaultConnSettings();
  const timeouts = new Timeouts();
  const t = new ConnTable({
    af,
    dests,
    random: lcg(42),
    totalStats: total,
    settings,
    timeouts,
    maxEntries: o.maxEntries ?? 1024,
    tickMs: o.tickMs,
    wheelSlots: o.wheelSlots,
  });
  return { t, dests, svc, d, total, settings, timeouts, p: newConnParam() };
}

/** Insert an IPv4 conn client caddr:cport → VIP:80, to dest `dest` (its address, port 8080). */
export function conn4(
  env: Env,
  proto: number,
  caddr: number,
  cport: number,
  dest: Dest,
  now: number,
  flags = 0,
): number {
  const p = env.p;
  p.proto = proto;
  p.caddr = caddr;
  p.cport = cport;
  p.vaddr = VIP;
  p.vport = 80;
  p.daddr = dest.addr.v4;
  p.dport = dest.port;
  p.laddr = LIP;
  p.lport = (cport + 1000) & 0xffff;
  p.fwmark = 0;
  p.flags = flags;
  p.destId = dest.id;
  return env.t.insert(p, now);
}

/** Counts of live bound non-template conns per dest, split by the INACTIVE flag, from the table. */
export function countBound(
  t: ConnTable,
  destId: number,
): { active: number; inactive: number; persist: number } {
  let active = 0;
  let inactive = 0;
  let persist = 0;
  for (const { id } of t.list(0)) {
    if (t.destOf(id) !== destId) continue;
    if ((t.getFlags(id) & 0x1000) !== 0) persist++;
    else if ((t.getFlags(id) & 0x100) !== 0) inactive++;
    else active++;
  }
  return { active, inactive, persist };
}

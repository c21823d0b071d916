/**
 * Builds the plain-data IpvsSnapshot that the ipvsadm formatters read from the live control-plane
 * model: the service table (with each dest's counters and estimated rates), the connection
 * tables (one per address family) and the current timeouts. What the kernel would report
 * through IPVS_CMD_GET_* and /proc/net/ip_vs_conn, field for field.
 */
import type { ConnTable } from '../../conn/table.ts';
import type { IpvsadmTimeouts } from '../../conn/timeouts.ts';
import { protoName } from '../../conn/types.ts';
import type { ServiceTable } from '../../control/services.ts';
import type { IpAddr } from '../../model/addr.ts';
import type { Dest } from '../../model/dest.ts';
import { SvcFlag } from '../../model/flags.ts';
import type { Service } from '../../model/service.ts';
import type { Stats } from '../../model/stats.ts';
import { readRates } from '../../stats/estimator.ts';
import { ntop4, ntop6 } from './format-c.ts';
import type {
  ConnSnap,
  DaemonSnap,
  DestSnap,
  IpvsSnapshot,
  IpvsVersion,
  RatesSnap,
  StatsSnap,
  SvcSnap,
} from './format.ts';

/** IP_VS_VERSION_CODE 0x010201. */
export const IPVS_VERSION: IpvsVersion = { major: 1, minor: 2, patch: 1 };
/** ip_vs_conn_tab_size with the default CONFIG_IP_VS_TAB_BITS=12. */
export const DEFAULT_CONN_TAB_SIZE = 4096;

export interface SnapshotOptions {
  /** Default IPVS_VERSION. */
  readonly version?: IpvsVersion;
  /** The "size=" of the header; default DEFAULT_CONN_TAB_SIZE. */
  readonly connTabSize?: number;
  /** Running sync daemons (none by default). */
  readonly daemons?: readonly DaemonSnap[];
}

/** Numeric text of an address, as inet_ntop prints it. */
export function addrText(a: IpAddr): string {
  return a.af === 4 ? ntop4(a.v4) : ntop6(a.v6!);
}

function statsSnap(s: Stats): StatsSnap {
  return { conns: s.conns, inpkts: s.inpkts, outpkts: s.outpkts, inbytes: s.inbytes, outbytes: s.outbytes };
}

function ratesSnap(s: Stats): RatesSnap {
  const r = readRates(s);
  return { cps: r.cps, inpps: r.inpps, outpps: r.outpps, inbps: r.inbps, outbps: r.outbps };
}

/** ip_vs_genl_fill_dest */
export function destSnap(d: Dest): DestSnap {
  return {
    af: d.addr.af,
    addr: addrText(d.addr),
    port: d.port,
    fwd: d.fwd,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunFlags: d.tunFlags,
    stats: statsSnap(d.stats),
    rates: ratesSnap(d.stats),
  };
}

/** ip_vs_genl_fill_service */
export function serviceSnap(s: Service): SvcSnap {
  const fwm = s.fwmark > 0;
  const snap: SvcSnap = {
    af: s.af,
    // The kernel keeps the dummy TCP that ipvsadm sends for -f services (ip_vs_genl_parse_service),
    // and that protocol decides which service names a non-numeric listing shows for their dests.
    protocol: fwm ? 6 : s.proto,
    addr: fwm || s.addr === null ? (s.af === 6 ? '::' : '0.0.0.0') : addrText(s.addr),
    port: fwm ? 0 : s.port,
    fwmark: s.fwmark,
    sched: s.schedName,
    // A listed service is hashed, and the kernel reports the flag with the others.
    flags: s.flags | SvcFlag.HASHED,
    timeout: s.timeout,
    netmask: s.netmask,
    pe: s.peName,
    stats: statsSnap(s.stats),
    rates: ratesSnap(s.stats),
    dests: s.dests.map(destSnap),
  };
  if (s.laddrs.length > 0) snap.laddrs = s.laddrs.map(addrText);
  return snap;
}

/**
 * The lines of /proc/net/ip_vs_conn (ip_vs_conn_seq_show) for one table: every conn and template,
 * with the seconds left rounded down. Firewall-mark templates carry the mark as their virtual
 * address and protocol IP.
 */
export function connSnaps(t: ConnTable, now: number, out: ConnSnap[] = []): ConnSnap[] {
  for (const e of t.list(now)) {
    const c = t.repr(e.id);
    out.push({
      proto: protoName(c.proto),
      caddr: addrText(c.caddr),
      cport: c.cport,
      vaddr: addrText(c.vaddr),
      vport: c.vport,
      daddr: addrText(c.daddr),
      dport: c.dport,
      state: c.stateName,
      expiresSec: Math.floor(e.remainingMs / 1000),
    });
  }
  return out;
}

/**
 * A snapshot of the live tables. Services are in creation order (our stand-in for the kernel's
 * hash order, which only --nosort shows), dests most recently added first as in the kernel's
 * lists. Conns are included when tables are given (pass [] to leave them out).
 */
export function snapshotFromCore(
  services: ServiceTable,
  conns: readonly ConnTable[],
  now: number,
  timeouts: IpvsadmTimeouts,
  opts: SnapshotOptions = {},
): IpvsSnapshot {
  const snap: IpvsSnapshot = {
    version: { ...(opts.version ?? IPVS_VERSION) },
    connTabSize: opts.connTabSize ?? DEFAULT_CONN_TAB_SIZE,
    services: services.list.map(serviceSnap),
    timeouts: { tcp: timeouts.tcp, tcpfin: timeouts.tcpfin, udp: timeouts.udp },
    daemons: (opts.daemons ?? []).map((d) => ({ ...d })),
  };
  if (conns.length > 0) {
    const list: ConnSnap[] = [];
    for (const t of conns) connSnaps(t, now, list);
    snap.conns = list;
  }
  return snap;
}

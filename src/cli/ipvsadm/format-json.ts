/**
 * `ipvsadm -L --json`: the same data as the text listings, for machines. ipvsadm itself has no
 * JSON output; this shape is ours and stable (bump `schema` on any incompatible change). Keys
 * always appear in the order documented here, addresses are always numeric (no name lookups),
 * services and dests are in the listing order (sorted as ipvsadm sorts them unless --nosort), and
 * the text ends with a newline.
 *
 * Top level, by what is listed:
 *   all, service   {"schema":1, "version":"1.2.1", "connTabSize":4096, "services":[Service...]}
 *                  (for a service: the one that matches, or none)
 *   connections    {"schema":1, "connections":[Conn...]}
 *   timeout        {"schema":1, "timeout":{"tcp":900, "tcpfin":120, "udp":300}}
 *   daemon         {"schema":1, "daemons":[Daemon...]}
 *
 * Service: {"name": the -L -n text ("TCP  10.0.0.1:80", "FWM  1 IPv6"), "af": 4|6,
 *   "protocol": "tcp"|"udp"|"sctp"|null (null for fwmark services and unknown numbers),
 *   "address": string|null, "port": number|null, "fwmark": number|null, "scheduler": string,
 *   "schedFlags": ["sh-fallback", ...], "flags": the raw IP_VS_SVC_F_* bits,
 *   "persistent": null | {"timeout": s, "netmask": "255.255.255.0" (IPv4) | 64 (IPv6)},
 *   "pe": string|null, "onePacket": boolean, "stats": Stats, "rates": Rates,
 *   "localAddresses": [string...], "dests": [Dest...]}
 * Dest: {"address", "af", "port", "forward": "masq"|"local"|"tunnel"|"route"|"fullnat"|"unknown",
 *   "weight", "uThreshold", "lThreshold", "activeConns", "inactConns", "persistConns",
 *   "tunnel": null | {"type": "ipip"|"gue"|"gre"|"unknown", "port": number|null,
 *   "csum": "nocsum"|"csum"|"remcsum"|"unknown"}, "stats", "rates"}
 * Stats: {"conns", "inpkts", "outpkts", "inbytes", "outbytes"} (totals)
 * Rates: {"cps", "inpps", "outpps", "inbps", "outbps"} (per second)
 * Conn: {"protocol": "TCP"|"UDP"|"SCTP"|"IP"|..., "client": Endpoint, "virtual": Endpoint,
 *   "destination": Endpoint, "state": string, "expires": seconds,
 *   "pe": null | {"name", "data"}}, Endpoint: {"address": string, "port": number}
 * Daemon: {"state": "master"|"backup", "mcastInterface", "syncId", "maxlen": number|null,
 *   "group": string|null, "port": number|null, "ttl": number|null}
 */
import type { ServiceSpec } from './args.ts';
import type { CAddr } from './format-c.ts';
import { decodeAddr, decodeConnAddr, ntop, ntop4, padRight } from './format-c.ts';
import type {
  ConnSnap,
  DaemonSnap,
  DestSnap,
  IpvsSnapshot,
  RatesSnap,
  StatsSnap,
  SvcSnap,
} from './format.ts';
import { destAddr, findService, sortedDests, sortedServices, svcAddr } from './format-sort.ts';

export type JsonWhat = 'all' | 'service' | 'connections' | 'timeout' | 'daemon';

export interface JsonOptions {
  /** For 'service': which one. */
  readonly service?: ServiceSpec | null;
  readonly nosort?: boolean;
}

export const JSON_SCHEMA = 1;

const FORWARD = ['masq', 'local', 'tunnel', 'route', 'unknown', 'fullnat', 'unknown', 'unknown'];
const TUN_TYPES = ['ipip', 'gue', 'gre'];
const TUN_CSUM = ['nocsum', 'csum', 'remcsum'];

function protoName(p: number): string | null {
  return p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 132 ? 'sctp' : null;
}

function stats(s: StatsSnap): StatsSnap {
  return { conns: s.conns, inpkts: s.inpkts, outpkts: s.outpkts, inbytes: s.inbytes, outbytes: s.outbytes };
}

function rates(r: RatesSnap): RatesSnap {
  return { cps: r.cps, inpps: r.inpps, outpps: r.outpps, inbps: r.inbps, outbps: r.outbps };
}

function addrPort(a: CAddr, port: number): string {
  return a.af === 6 ? `[${ntop(a)}]:${port}` : `${ntop(a)}:${port}`;
}

function schedFlagNames(s: SvcSnap): string[] {
  const named = s.sched === 'sh' || s.sched === 'mh';
  const out: string[] = [];
  if ((s.flags & 0x8) !== 0) out.push(named ? `${s.sched}-fallback` : 'flag-1');
  if ((s.flags & 0x10) !== 0) out.push(named ? `${s.sched}-port` : 'flag-2');
  if ((s.flags & 0x20) !== 0 && !named) out.push('flag-3');
  return out;
}

function dest(d: DestSnap): unknown {
  const a = destAddr(d);
  const tunnel =
    (d.fwd & 7) === 2
      ? {
          type: TUN_TYPES[d.tunType] ?? 'unknown',
          port: d.tunType === 1 ? d.tunPort : null,
          csum: TUN_CSUM[d.tunFlags] ?? 'unknown',
        }
      : null;
  return {
    address: ntop(a),
    af: d.af,
    port: d.port,
    forward: FORWARD[d.fwd & 7],
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    tunnel,
    stats: stats(d.stats),
    rates: rates(d.rates),
  };
}

function service(s: SvcSnap, nosort: boolean): unknown {
  const fw = s.fwmark >>> 0;
  const a = svcAddr(s);
  const proto = fw !== 0 ? null : protoName(s.protocol);
  const name =
    fw !== 0
      ? `FWM  ${fw}${s.af === 6 ? ' IPv6' : ''}`
      : `${padRight(proto === null ? '?' : proto.toUpperCase(), 4)} ${addrPort(a, s.port)}`;
  const persistent =
    (s.flags & 0x1) !== 0
      ? { timeout: s.timeout, netmask: s.af === 4 ? ntop4(s.netmask >>> 0) : s.netmask }
      : null;
  return {
    name,
    af: s.af,
    protocol: proto,
    address: fw !== 0 ? null : ntop(a),
    port: fw !== 0 ? null : s.port,
    fwmark: fw !== 0 ? fw : null,
    scheduler: s.sched,
    schedFlags: schedFlagNames(s),
    flags: s.flags,
    persistent,
    pe: s.pe === '' ? null : s.pe,
    onePacket: (s.flags & 0x4) !== 0,
    stats: stats(s.stats),
    rates: rates(s.rates),
    localAddresses: (s.laddrs ?? []).map((l) => {
      const la = decodeAddr(s.af, l);
      return la === null ? l : ntop(la);
    }),
    dests: sortedDests(s, nosort).map(dest),
  };
}

function conn(c: ConnSnap): unknown {
  const ep = (addr: string, port: number): unknown => ({ address: ntop(decodeConnAddr(addr)), port });
  const pe = c.peName !== undefined && c.peName !== '' ? { name: c.peName, data: c.peData ?? '' } : null;
  return {
    protocol: c.proto,
    client: ep(c.caddr, c.cport),
    virtual: ep(c.vaddr, c.vport),
    destination: ep(c.daddr, c.dport),
    state: c.state,
    expires: c.expiresSec,
    pe,
  };
}

function daemon(d: DaemonSnap): unknown {
  return {
    state: d.state,
    mcastInterface: d.mcastIfn,
    syncId: d.syncId,
    maxlen: d.syncMaxlen === 0 ? null : d.syncMaxlen,
    group: d.mcastGroup === null ? null : ntop(decodeConnAddr(d.mcastGroup)),
    port: d.mcastPort === 0 ? null : d.mcastPort,
    ttl: d.mcastTtl === 0 ? null : d.mcastTtl,
  };
}

/** The --json text for one kind of listing (see the top of this file for the shape). */
export function formatJson(snap: IpvsSnapshot, what: JsonWhat, opts: JsonOptions = {}): string {
  const nosort = opts.nosort === true;
  let body: Record<string, unknown>;
  switch (what) {
    case 'connections':
      body = { schema: JSON_SCHEMA, connections: (snap.conns ?? []).map(conn) };
      break;
    case 'timeout':
      body = {
        schema: JSON_SCHEMA,
        timeout: { tcp: snap.timeouts.tcp, tcpfin: snap.timeouts.tcpfin, udp: snap.timeouts.udp },
      };
      break;
    case 'daemon': {
      const order = (d: DaemonSnap): number => (d.state === 'master' ? 0 : 1);
      body = {
        schema: JSON_SCHEMA,
        daemons: [...snap.daemons].sort((a, b) => order(a) - order(b)).map(daemon),
      };
      break;
    }
    default: {
      let list: SvcSnap[];
      if (what === 'service') {
        const s = opts.service ? findService(snap, opts.service) : null;
        list = s === null ? [] : [s];
      } else {
        list = sortedServices(snap.services, nosort);
      }
      const v = snap.version;
      body = {
        schema: JSON_SCHEMA,
        version: `${v.major}.${v.minor}.${v.patch}`,
        connTabSize: snap.connTabSize,
        services: list.map((s) => service(s, nosort)),
      };
    }
  }
  return JSON.stringify(body, null, 2) + '\n';
}

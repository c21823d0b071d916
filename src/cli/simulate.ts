/**
 * `tslvs simulate`: a what-if tool for operators. It loads rules in ipvsadm-save format, takes a
 * list of flows (or generates them from a seed), and sends each flow's first packet — a TCP SYN
 * or a UDP datagram, built with the wire emitters — through the real packet pipeline on a
 * simulated clock. The real server a flow went to is read back from the frame the pipeline sends:
 * every address has its own fake MAC in the simulated network, so the next hop tells the server,
 * and the frame's shape (VIP kept for DR, address rewritten for NAT/FullNAT, an outer header for
 * TUN) must match that server's forwarding method.
 *
 * Changes (`--remove`, `--reweight`) are applied between flows through the same ServiceTable
 * operations ipvsadm -d / -e use. After the run an optional replay sends the same flows again as
 * new connections and counts how many reach a different real server.
 *
 * Everything random (generated flows, client ports, the core's hash seed and `twos`) comes from
 * one seed, so the same inputs and seed give the same output.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import type { CliIo } from './tslvs.ts';
import type { ResolveHost, ResolveService } from './ipvsadm/resolve.ts';
import { hostsFileResolver, servicesFileResolver } from './ipvsadm/resolve.ts';
import { loadRules } from './rules.ts';
import { ServiceTable } from '../control/services.ts';
import type { DestOpts, ServiceKey } from '../control/services.ts';
import { Pipeline } from '../datapath/pipeline.ts';
import type { Hop, NetEnv } from '../datapath/pipeline.ts';
import { Verdict, counterNames } from '../datapath/verdict.ts';
import { Timeouts } from '../conn/timeouts.ts';
import { addrPortToString } from '../model/addr.ts';
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { ConnFlag, Fwd, Proto, SvcFlag, TunType } from '../model/flags.ts';
import { ipv4FromString, ipv4ToString, isValidIpv4 } from '../wire/addr.ts';
import { ETHERTYPE_IPV4, ethDst, ethEmit, ethHeaderLen } from '../wire/ethernet.ts';
import {
  IPPROTO_GRE,
  IPPROTO_IPIP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4Dst,
  ipv4Emit,
  ipv4HeaderLen,
  ipv4Proto,
} from '../wire/ipv4.ts';
import { TCP_FLAG_SYN, TCPOPT_MSS, tcpDstPort, tcpEmit, tcpEmitLen, tcpFillCsumV4 } from '../wire/tcp.ts';
import type { TcpRepr } from '../wire/tcp.ts';
import { udpDstPort, udpEmit, udpFillCsumV4 } from '../wire/udp.ts';

// ------------------------------------------------------------------------------ help

export const SIMULATE_HELP = `Usage: tslvs simulate --rules FILE (--flows FILE | --generate N [--clients CIDR|COUNT])
                      [--seed S] [--proto tcp|udp] [--service VIP:PORT]... [--interval MS]
                      [--remove RIP[:PORT][@K]]... [--reweight RIP[:PORT]=W[@K]]...
                      [--replay expire|new-port] [--json] [--quiet | --verbose]

What-if for an IPVS rule set. Each flow's first packet (a TCP SYN, or a UDP datagram) goes
through the tslvs packet pipeline on a simulated clock; the real server is read from the frame
the pipeline forwards. Prints where every flow went and the resulting distribution.

Input:
  --rules FILE          rules in ipvsadm-save format (ipvsadm -S -n output, ipvsadm -R input;
                        FullNAT local addresses with --add-laddr). '-' reads standard input.
                        Lines starting with '#' are comments.
  --flows FILE          one flow per line: CLIENT_IP[:PORT] VIP:PORT [tcp|udp]  ('#' comments).
                        Without a port the client gets a random ephemeral port (from --seed).
  --generate N          N generated flows instead, round robin over the IPv4 TCP and UDP
                        virtual services (or the ones chosen with --service and --proto).
  --clients SPREAD      client addresses of generated flows: a CIDR block (each flow from a
                        random address in it) or a count C (clients 198.18.0.1 upwards, each
                        flow from one of them at random). Default 198.18.0.0/15.
  --seed S              seed of generated flows, client ports and the core's randomness
                        (default 1). The same inputs and seed give the same output.
  --proto tcp|udp       protocol of flow lines that name none, and of generated flows (default
                        for a line: the protocol of the virtual service at VIP:PORT, tcp if both).
  --service VIP:PORT    generate flows for this virtual service only (repeatable).
  --interval MS         simulated time between two flows, in ms (default 10). Connections and
                        persistence templates time out on this clock as in the kernel.

Changes, applied after flow K (K from 0 to the number of flows; default: after the last flow),
in the order given:
  --remove RIP[:PORT][@K]       delete the real server (ipvsadm -d) from every service that has
                                it; without :PORT every real server at that address
  --reweight RIP[:PORT]=W[@K]   set its weight to W (ipvsadm -e -w W); W=0 quiesces it
  --replay MODE         after the run, send the same flows again as new connections and count
                        the flows whose real server changed ("moved"). MODE expire (the default):
                        the same client ports, after expiring every connection but keeping the
                        persistence templates (clients coming back later); new-port: new client
                        ports, nothing expired (clients reconnecting at once). There is always a
                        replay when a change is given.

Output:
  --json                the same report as one JSON document
  --quiet               no per-flow lines (shown for up to 50 flows otherwise); with --json,
                        empty per-flow arrays
  --verbose             per-flow lines however many flows there are
  -h, --help            this help

Per flow: "client:port -> vip:port => rip:port (forwarding method)". Per virtual service: real
server, forwarding method, weight, flows, share, and the share its weights predict for the
scheduler (rr, lc: equal over weight > 0; fo, ovf: all to the highest weight; dh, lblc, lblcr:
"-", they go by destination address; the others: proportional to weight); then how many clients
always reached the same real server (persistence, sh and mh keep them all).

Exit status: 0 done, 2 bad input (the message names file:line or the option), 70 internal error.

Examples:
  tslvs simulate --rules examples/seeds-dr.rules --flows examples/flows.txt
  tslvs simulate --rules examples/seeds-dr.rules --generate 1000 --clients 50 \\
      --remove 192.168.188.182:80@500
  tslvs simulate --rules examples/sh.rules --generate 10000 --clients 10.1.0.0/16 \\
      --reweight 192.168.188.183:80=0 --json
  ipvsadm -S -n | tslvs simulate --rules - --generate 1000
`;

// ------------------------------------------------------------------------------ inputs

export type ProtoName = 'tcp' | 'udp';

/** One flow: its first packet is what the simulator sends. */
export interface Flow {
  readonly proto: ProtoName;
  readonly client: number;
  readonly cport: number;
  readonly vip: number;
  readonly vport: number;
  /** Where it came from: `file:line` or `generated`. */
  readonly where: string;
}

/** A flow before client ports are filled in. */
interface FlowDraft {
  proto: ProtoName;
  client: number;
  cport: number | null;
  vip: number;
  vport: number;
  where: string;
}

export interface Change {
  readonly action: 'remove' | 'reweight';
  readonly addr: number;
  /** Null: every real server at the address. */
  readonly port: number | null;
  /** The new weight (reweight only). */
  readonly weight: number;
  /** After this many flows; null: after the last one. */
  readonly at: number | null;
  /** The option as given, for messages (`--remove 10.0.0.1:80@5`). */
  readonly arg: string;
}

export interface SimulateInput {
  readonly rulesText: string;
  readonly rulesName: string;
  /** A flow file; or `generate`. */
  readonly flowsText?: string;
  readonly flowsName?: string;
  readonly generate?: { readonly count: number; readonly clients: string };
  readonly proto?: ProtoName | null;
  /** VIP:PORT filters for generated flows. */
  readonly services?: readonly string[];
  readonly changes?: readonly Change[];
  /** Default 1. */
  readonly seed?: number;
  /** Default 10. */
  readonly intervalMs?: number;
  /** Default: 'expire' when there are changes, else no replay. */
  readonly replay?: ReplayMode | null;
  readonly resolveHost?: ResolveHost;
  readonly resolveService?: ResolveService;
}

export type ReplayMode = 'expire' | 'new-port';

// ------------------------------------------------------------------------------ report

export interface FlowReport {
  /** 1-based position in the flow list. */
  readonly n: number;
  readonly proto: ProtoName;
  readonly client: string;
  readonly vip: string;
  readonly service: string;
  /** The real server, or null when the flow was not forwarded. */
  readonly server: string | null;
  /** ipvsadm's name of the forwarding method (Route, Masq, Tunnel, FullNat). */
  readonly forward: string | null;
  readonly outcome: 'forwarded' | 'no-destination' | 'dropped';
  /** The pipeline's drop reason, for `dropped`. */
  readonly reason: string | null;
  /** Replay only: the run's real server when this flow moved, else null. */
  readonly movedFrom?: string | null;
}

export interface ServerRow {
  readonly server: string;
  readonly forward: string;
  /** Null for a server removed before this phase. */
  readonly weight: number | null;
  readonly removed: boolean;
  readonly flows: number;
  /** Percent of the service's flows, one decimal. */
  readonly share: number;
  /** Percent its weights predict, one decimal; null where weights do not predict it. */
  readonly expected: number | null;
}

export interface ClientStats {
  readonly clients: number;
  /** Clients with two or more forwarded flows. */
  readonly repeat: number;
  /** Of those, the ones that always reached the same real server. */
  readonly sticky: number;
  /** The counts cover only the flows before the first change. */
  readonly beforeFirstChange: boolean;
}

export interface MovedReport {
  /** Flows forwarded in the run. */
  readonly of: number;
  /** Of those, forwarded to a different real server in the replay. */
  readonly moved: number;
  /** Percent, one decimal. */
  readonly percent: number;
  /** Of those, not forwarded at all in the replay. */
  readonly lost: number;
  /** Moved flows by the real server they had in the run. */
  readonly from: readonly { readonly server: string; readonly removed: boolean; readonly flows: number }[];
}

export interface ServiceReport {
  readonly service: string;
  readonly scheduler: string;
  /** Persistence and flags as ipvsadm -L shows them (`persistent 360`, `mask 255.255.255.0`, ...). */
  readonly options: readonly string[];
  readonly flows: number;
  readonly noDestination: number;
  readonly dropped: number;
  readonly servers: readonly ServerRow[];
  readonly clients: ClientStats;
  /** Replay only. */
  readonly moved?: MovedReport;
}

export interface ChangeReport {
  readonly at: number;
  readonly action: 'remove' | 'reweight';
  readonly arg: string;
  readonly weight: number | null;
  /** Every real server the change applied to, with its service. */
  readonly applied: readonly { readonly service: string; readonly server: string }[];
}

export interface PhaseReport {
  readonly flows: readonly FlowReport[];
  readonly services: readonly ServiceReport[];
}

export interface SimReport {
  readonly rules: string;
  /** The flow file, or `generated`. */
  readonly flowSource: string;
  readonly generate: { readonly count: number; readonly clients: string } | null;
  readonly seed: number;
  readonly intervalMs: number;
  readonly flowCount: number;
  readonly changes: readonly ChangeReport[];
  readonly run: PhaseReport;
  readonly replay: (PhaseReport & { readonly mode: ReplayMode }) | null;
  /** Replay only: all services together. */
  readonly moved: MovedReport | null;
}

export type SimOutcome =
  { readonly ok: true; readonly report: SimReport } | { readonly ok: false; readonly error: string };

/** Bad input: the message is complete (`file:line: ...` or `--option value: ...`). */
class InputError extends Error {}

// ------------------------------------------------------------------------------ randomness

/**
 * A seeded uint32 source: a Weyl sequence through a murmur3-style finaliser. Small, fast and
 * good enough for spreading flows; the seed may be any uint32, 0 included.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Uniform integer in [0, n). */
function below(random: () => number, n: number): number {
  return Math.floor((random() / 0x100000000) * n);
}

// ------------------------------------------------------------------------------ parsing helpers

const PROTO_NUM: Readonly<Record<ProtoName, number>> = { tcp: Proto.TCP, udp: Proto.UDP };

function parsePort(s: string, min: number): number | null {
  if (!/^\d{1,5}$/.test(s)) return null;
  const p = Number(s);
  return p >= min && p <= 65535 ? p : null;
}

function looksIpv6(s: string): boolean {
  return s.includes('[') || s.split(':').length > 2;
}

/** `a.b.c.d[:port]` → address and port (null if absent), or an error message. */
function parseAddrPort(
  s: string,
  portRequired: boolean,
  what: string,
): { addr: number; port: number | null } {
  if (looksIpv6(s)) throw new InputError(`IPv6 ${what} '${s}': the simulator runs the IPv4 pipeline only`);
  const colon = s.indexOf(':');
  const a = colon < 0 ? s : s.slice(0, colon);
  if (!isValidIpv4(a)) throw new InputError(`malformed ${what} '${s}'`);
  if (colon < 0) {
    if (portRequired) throw new InputError(`${what} '${s}' needs a port (ADDRESS:PORT)`);
    return { addr: ipv4FromString(a), port: null };
  }
  const port = parsePort(s.slice(colon + 1), 1);
  if (port === null) throw new InputError(`bad port in ${what} '${s}' (1 to 65535)`);
  return { addr: ipv4FromString(a), port };
}

function serviceName(s: Service): string {
  if (s.fwmark > 0) return `FWM ${s.fwmark}`;
  const p = s.proto === Proto.TCP ? 'TCP' : s.proto === Proto.UDP ? 'UDP' : 'SCTP';
  return `${p} ${addrPortToString(s.addr!, s.port)}`;
}

function serverName(d: Dest): string {
  return addrPortToString(d.addr, d.port);
}

/** ipvsadm -L's Forward column names. */
function forwardName(fwd: number): string {
  switch (fwd) {
    case Fwd.MASQ:
      return 'Masq';
    case Fwd.LOCALNODE:
      return 'Local';
    case Fwd.TUNNEL:
      return 'Tunnel';
    case Fwd.DROUTE:
      return 'Route';
    case Fwd.FULLNAT:
      return 'FullNat';
    default:
      return 'Bypass';
  }
}

function serviceOptions(s: Service): string[] {
  const out: string[] = [];
  if (s.persistent) {
    out.push(`persistent ${s.timeout}`);
    if (s.af === 4 && s.netmask >>> 0 !== 0xffffffff) out.push(`mask ${ipv4ToString(s.netmask >>> 0)}`);
  }
  if (s.peName !== '') out.push(`pe ${s.peName}`);
  if (s.onePacket) out.push('ops');
  const named = s.schedName === 'sh' || s.schedName === 'mh';
  const flags: string[] = [];
  if ((s.flags & SvcFlag.SCHED1) !== 0) flags.push(named ? `${s.schedName}-fallback` : 'flag-1');
  if ((s.flags & SvcFlag.SCHED2) !== 0) flags.push(named ? `${s.schedName}-port` : 'flag-2');
  if ((s.flags & SvcFlag.SCHED3) !== 0) flags.push('flag-3');
  if (flags.length > 0) out.push(flags.join(','));
  return out;
}

// ------------------------------------------------------------------------------ flows

/** Parses a flow file; every flow must reach a virtual service of `table`. */
function parseFlowFile(
  text: string,
  fileName: string,
  defaultProto: ProtoName | null,
  table: ServiceTable,
): FlowDraft[] {
  const out: FlowDraft[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const where = `${fileName}:${i + 1}`;
    const hash = lines[i].indexOf('#');
    const body = hash < 0 ? lines[i] : lines[i].slice(0, hash);
    const w = body.split(/[ \t\r]+/).filter((t) => t !== '');
    if (w.length === 0) continue;
    try {
      if (w.length < 2 || w.length > 3)
        throw new InputError(`expected CLIENT_IP[:PORT] VIP:PORT [tcp|udp], got '${w.join(' ')}'`);
      const c = parseAddrPort(w[0], false, 'client address');
      const v = parseAddrPort(w[1], true, 'virtual service address');
      let proto: ProtoName | null = null;
      if (w.length === 3) {
        const p = w[2].toLowerCase();
        if (p !== 'tcp' && p !== 'udp') throw new InputError(`unknown protocol '${w[2]}' (tcp or udp)`);
        proto = p;
      }
      proto ??= defaultProto ?? protoAt(table, v.addr, v.port!);
      if (table.find4(PROTO_NUM[proto], v.addr, v.port!, 0) === null)
        throw new InputError(`no virtual service ${proto.toUpperCase()} ${w[1]} in the rules`);
      out.push({ proto, client: c.addr, cport: c.port, vip: v.addr, vport: v.port!, where });
    } catch (e) {
      if (e instanceof InputError) throw new InputError(`${where}: ${e.message}`);
      throw e;
    }
  }
  if (out.length === 0) throw new InputError(`${fileName}: no flows in the file`);
  return out;
}

/** The protocol of the service at VIP:PORT when only one protocol has one; tcp otherwise. */
function protoAt(table: ServiceTable, vip: number, vport: number): ProtoName {
  const tcp = table.find4(Proto.TCP, vip, vport, 0) !== null;
  const udp = table.find4(Proto.UDP, vip, vport, 0) !== null;
  return udp && !tcp ? 'udp' : 'tcp';
}

/** The first address of the --clients COUNT spread (198.18.0.0/15, RFC 2544 benchmarking). */
const COUNT_BASE = ipv4FromString('198.18.0.1');
const MAX_COUNT_CLIENTS = 131_070;
export const DEFAULT_CLIENTS = '198.18.0.0/15';

/** A --clients spread: a function drawing one client address. */
function clientSpread(spec: string): (random: () => number) => number {
  const count = /^\d+$/.exec(spec);
  if (count !== null) {
    const n = Number(spec);
    if (n < 1 || n > MAX_COUNT_CLIENTS)
      throw new InputError(`--clients ${spec}: a count must be 1 to ${MAX_COUNT_CLIENTS}`);
    return (r) => (COUNT_BASE + below(r, n)) >>> 0;
  }
  const m = /^([^/]+)\/(\d{1,2})$/.exec(spec);
  if (m === null || !isValidIpv4(m[1]) || Number(m[2]) > 32)
    throw new InputError(`--clients ${spec}: expected a CIDR block (10.1.0.0/16) or a count (50)`);
  const len = Number(m[2]);
  const size = 2 ** (32 - len);
  const base = len === 0 ? 0 : (ipv4FromString(m[1]) & (0xffffffff << (32 - len))) >>> 0;
  // Leave out the network and broadcast addresses where the block has any.
  const first = size > 2 ? 1 : 0;
  const span = size > 2 ? size - 2 : size;
  return (r) => (base + first + below(r, span)) >>> 0;
}

/** The IPv4 TCP/UDP services generated flows go to, in rules order. */
function generationTargets(
  table: ServiceTable,
  proto: ProtoName | null,
  filters: readonly string[],
): { svc: Service; proto: ProtoName }[] {
  const eligible = table.list.filter(
    (s) =>
      s.af === 4 &&
      s.fwmark === 0 &&
      (s.proto === Proto.TCP || s.proto === Proto.UDP) &&
      (proto === null || s.proto === PROTO_NUM[proto]),
  );
  let chosen = eligible;
  if (filters.length > 0) {
    chosen = [];
    for (const f of filters) {
      const v = parseAddrPort(f, true, '--service address');
      const hits = eligible.filter((s) => s.addr!.v4 === v.addr && s.port === v.port);
      if (hits.length === 0)
        throw new InputError(
          `--service ${f}: no IPv4 ${proto === null ? 'TCP or UDP' : proto.toUpperCase()} virtual service ${f} in the rules`,
        );
      for (const h of hits) if (!chosen.includes(h)) chosen.push(h);
    }
  }
  if (chosen.length === 0)
    throw new InputError(
      `no IPv4 ${proto === null ? 'TCP or UDP' : proto.toUpperCase()} virtual service in the rules to send flows to`,
    );
  return chosen.map((svc) => ({ svc, proto: svc.proto === Proto.UDP ? 'udp' : 'tcp' }));
}

function generateFlows(
  count: number,
  clients: string,
  targets: { svc: Service; proto: ProtoName }[],
  random: () => number,
): FlowDraft[] {
  const pick = clientSpread(clients);
  const out: FlowDraft[] = [];
  for (let i = 0; i < count; i++) {
    const t = targets[i % targets.length];
    const client = pick(random);
    // A port-zero (catch-all) service takes any destination port.
    const vport = t.svc.port !== 0 ? t.svc.port : 1 + below(random, 65535);
    out.push({ proto: t.proto, client, cport: null, vip: t.svc.addr!.v4, vport, where: 'generated' });
  }
  return out;
}

/** Linux's default ip_local_port_range, 32768-60999. */
const EPHEMERAL_LO = 32768;
const EPHEMERAL_COUNT = 60999 - 32768 + 1;

/** Hands out client ports that no other flow of the same client uses. */
class PortAllocator {
  private readonly used = new Map<number, Set<number>>();

  reserve(client: number, port: number): void {
    let s = this.used.get(client);
    if (s === undefined) this.used.set(client, (s = new Set<number>()));
    s.add(port);
  }

  fresh(client: number, random: () => number): number {
    let s = this.used.get(client);
    if (s === undefined) this.used.set(client, (s = new Set<number>()));
    if (s.size >= 65535 - 1024)
      throw new InputError(
        `client ${ipv4ToString(client)} has no source port left: spread the flows over more clients (--clients)`,
      );
    for (;;) {
      // Ephemeral ports first; a client that used them all moves on to 1024-65535.
      const p =
        s.size < EPHEMERAL_COUNT / 2
          ? EPHEMERAL_LO + below(random, EPHEMERAL_COUNT)
          : 1024 + below(random, 65536 - 1024);
      if (!s.has(p)) {
        s.add(p);
        return p;
      }
    }
  }
}

// ------------------------------------------------------------------------------ changes

/** Parses `RIP[:PORT][@K]` (remove) or `RIP[:PORT]=W[@K]` (reweight). */
export function parseChange(action: 'remove' | 'reweight', value: string): Change | string {
  const arg = `--${action} ${value}`;
  let rest = value;
  let at: number | null = null;
  const atSign = rest.lastIndexOf('@');
  if (atSign >= 0) {
    const k = rest.slice(atSign + 1);
    if (!/^\d{1,9}$/.test(k)) return `${arg}: '@${k}' is not a flow count`;
    at = Number(k);
    rest = rest.slice(0, atSign);
  }
  let weight = 0;
  if (action === 'reweight') {
    const eq = rest.lastIndexOf('=');
    if (eq < 0) return `${arg}: expected RIP[:PORT]=WEIGHT[@K]`;
    const w = rest.slice(eq + 1);
    if (!/^\d{1,5}$/.test(w) || Number(w) > 65535) return `${arg}: weight '${w}' is not 0 to 65535`;
    weight = Number(w);
    rest = rest.slice(0, eq);
  }
  try {
    const a = parseAddrPort(rest, false, 'real server address');
    return { action, addr: a.addr, port: a.port, weight, at, arg };
  } catch (e) {
    if (e instanceof InputError) return `${arg}: ${e.message}`;
    throw e;
  }
}

function destOptsFromDest(d: Dest, weight: number): DestOpts {
  return {
    addr: d.addr,
    port: d.port,
    fwd: d.fwd,
    weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunFlags: d.tunFlags,
  };
}

function keyOf(s: Service): ServiceKey {
  return { af: s.af, proto: s.proto, addr: s.addr, port: s.port, fwmark: s.fwmark };
}

/** Applies one change to every matching dest (ipvsadm -d / -e); returns what it touched. */
function applyChange(table: ServiceTable, c: Change, at: number, removed: Set<Dest>): ChangeReport {
  const applied: { service: string; server: string }[] = [];
  for (const svc of table.list) {
    for (const d of [...svc.dests]) {
      if (d.addr.af !== 4 || d.addr.v4 !== c.addr || (c.port !== null && d.port !== c.port)) continue;
      if (c.action === 'remove') {
        table.delDest(keyOf(svc), d.addr, d.port);
        removed.add(d);
      } else {
        table.editDest(keyOf(svc), destOptsFromDest(d, c.weight));
      }
      applied.push({ service: serviceName(svc), server: serverName(d) });
    }
  }
  if (applied.length === 0) {
    const what = c.port === null ? ipv4ToString(c.addr) : `${ipv4ToString(c.addr)}:${c.port}`;
    throw new InputError(`${c.arg}: no real server ${what} in the rules${at > 0 ? ` after flow ${at}` : ''}`);
  }
  return { at, action: c.action, arg: c.arg, weight: c.action === 'reweight' ? c.weight : null, applied };
}

// ------------------------------------------------------------------------------ the simulated network

/** Every address's fake MAC is 02:5e:a.b.c.d, so a next-hop MAC names the address it belongs to. */
const ADDR_MAC_BASE = 0x025e_0000_0000;
const DIRECTOR_MAC = 0x0200_0000_0001;
const ROUTER_MAC = 0x0200_0000_0002;
/** The director's own address (the outer source of TUN packets). */
const DIRECTOR_IP = ipv4FromString('192.0.2.1');
const START_MS = 1_000_000;

/** One link where every address is a neighbour: real servers, clients, everything. */
class SimNet implements NetEnv {
  route4(dst: number, hop: Hop): boolean {
    hop.ifindex = 1;
    hop.srcMac = DIRECTOR_MAC;
    hop.dstMac = ADDR_MAC_BASE + (dst >>> 0);
    hop.mtu = 1500;
    hop.saddr = DIRECTOR_IP;
    return true;
  }
  // Flows are IPv4 only, so nothing is ever routed over IPv6.
  route6(_dst: Uint8Array, _off: number, _hop: Hop): boolean {
    return false;
  }
  ifMac(_ifindex: number): number {
    return DIRECTOR_MAC;
  }
}

const FRAME_CAP = 2048;
const UDP_PAYLOAD = 32;

/** Writes the flow's first packet (TCP SYN with an MSS option, or a small UDP datagram) at 0. */
function buildFrame(b: Uint8Array, f: Flow, id: number, seq: number): number {
  const l3 = ethEmit({ dst: DIRECTOR_MAC, src: ROUTER_MAC, ethertype: ETHERTYPE_IPV4 }, b, 0);
  const tcp: TcpRepr | null =
    f.proto === 'tcp'
      ? {
          srcPort: f.cport,
          dstPort: f.vport,
          seq,
          ack: 0,
          flags: TCP_FLAG_SYN,
          reserved: 0,
          window: 64240,
          urgent: 0,
          options: [{ kind: TCPOPT_MSS, mss: 1460 }],
        }
      : null;
  const l4len = tcp !== null ? tcpEmitLen(tcp) : 8 + UDP_PAYLOAD;
  const l4 =
    l3 +
    ipv4Emit(
      {
        tos: 0,
        totalLen: 20 + l4len,
        id,
        df: true,
        mf: false,
        fragOffset: 0,
        ttl: 64,
        proto: tcp !== null ? IPPROTO_TCP : IPPROTO_UDP,
        src: f.client,
        dst: f.vip,
      },
      b,
      l3,
    );
  if (tcp !== null) {
    tcpEmit(tcp, b, l4);
    tcpFillCsumV4(b, l3, l4, l4len);
  } else {
    udpEmit({ srcPort: f.cport, dstPort: f.vport, length: l4len }, b, l4);
    for (let i = 0; i < UDP_PAYLOAD; i++) b[l4 + 8 + i] = 0x61 + (i % 26);
    udpFillCsumV4(b, l3, l4, l4len);
  }
  return l4 + l4len;
}

/**
 * Which of the service's real servers (current or removed) the forwarded frame at `off` goes to.
 * The next-hop MAC gives the address; the frame must then look like that server's method.
 */
function identifyDest(b: Uint8Array, off: number, f: Flow, candidates: readonly Dest[]): Dest | null {
  const nh = ethDst(b, off) - ADDR_MAC_BASE;
  if (nh < 0 || nh > 0xffffffff) return null;
  const l3 = off + ethHeaderLen(b, off);
  const dst = ipv4Dst(b, l3);
  const proto = ipv4Proto(b, l3);
  const l4 = l3 + ipv4HeaderLen(b, l3);
  const fproto = PROTO_NUM[f.proto];
  for (const d of candidates) {
    if (d.addr.af !== 4 || d.addr.v4 !== nh) continue;
    const dport = d.port !== 0 ? d.port : f.vport;
    switch (d.fwd) {
      case Fwd.DROUTE:
      case Fwd.LOCALNODE:
        // ip_vs_dr_xmit: the packet unchanged but for the MACs.
        if (dst === f.vip && proto === fproto && l4DstPort(b, l4, proto) === f.vport) return d;
        break;
      case Fwd.MASQ:
      case Fwd.FULLNAT:
        // ip_vs_nat_xmit / FullNAT: destination address and port rewritten to the real server.
        if (dst === nh && proto === fproto && l4DstPort(b, l4, proto) === dport) return d;
        break;
      case Fwd.TUNNEL: {
        // ip_vs_tunnel_xmit: an outer header to the real server.
        if (dst !== nh) break;
        if (d.tunType === TunType.IPIP && proto === IPPROTO_IPIP) return d;
        if (d.tunType === TunType.GRE && proto === IPPROTO_GRE) return d;
        if (d.tunType === TunType.GUE && proto === IPPROTO_UDP && udpDstPort(b, l4) === d.tunPort) return d;
        break;
      }
      default:
        break;
    }
  }
  return null;
}

function l4DstPort(b: Uint8Array, l4: number, proto: number): number {
  return proto === IPPROTO_TCP ? tcpDstPort(b, l4) : udpDstPort(b, l4);
}

// ------------------------------------------------------------------------------ the run

interface Sent {
  readonly flow: Flow;
  readonly svc: Service;
  readonly dest: Dest | null;
  readonly outcome: FlowReport['outcome'];
  readonly reason: string | null;
}

/** Runs the simulation; bad input comes back as an error message, never as an exception. */
export function simulate(input: SimulateInput): SimOutcome {
  try {
    return { ok: true, report: run(input) };
  } catch (e) {
    if (e instanceof InputError) return { ok: false, error: e.message };
    throw e;
  }
}

function run(input: SimulateInput): SimReport {
  const seed = input.seed ?? 1;
  const intervalMs = input.intervalMs ?? 10;
  const changes = input.changes ?? [];
  // Separate streams, so that the flows do not depend on how much randomness the core used.
  const flowRandom = seededRandom(seed);
  const coreRandom = seededRandom((seed ^ 0x5bd1e995) >>> 0);
  let now = START_MS;
  const table = new ServiceTable({
    now: () => now,
    random: coreRandom,
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
  const timeouts = new Timeouts();
  const lr = loadRules(input.rulesText, input.rulesName, table, {
    resolveHost: input.resolveHost,
    resolveService: input.resolveService,
    timeouts,
  });
  if (!lr.ok) throw new InputError(lr.text);

  const proto = input.proto ?? null;
  let drafts: FlowDraft[];
  if (input.flowsText !== undefined) {
    if ((input.services ?? []).length > 0) throw new InputError('--service only applies to --generate');
    drafts = parseFlowFile(input.flowsText, input.flowsName ?? 'flows', proto, table);
  } else if (input.generate !== undefined) {
    const targets = generationTargets(table, proto, input.services ?? []);
    drafts = generateFlows(input.generate.count, input.generate.clients, targets, flowRandom);
  } else {
    throw new InputError('give the flows: --flows FILE or --generate N');
  }
  const ports = new PortAllocator();
  for (const d of drafts) if (d.cport !== null) ports.reserve(d.client, d.cport);
  const flows: Flow[] = drafts.map((d) => ({ ...d, cport: d.cport ?? ports.fresh(d.client, flowRandom) }));
  const n = flows.length;
  for (const c of changes)
    if (c.at !== null && c.at > n) throw new InputError(`${c.arg}: there are only ${n} flows`);
  const svcOf = flows.map((f) => table.find4(PROTO_NUM[f.proto], f.vip, f.vport, 0)!);

  const pipe = new Pipeline({
    services: table,
    net: new SimNet(),
    random: coreRandom,
    timeouts,
    // Room for a conn and a template per flow plus the replay's conns (about 100 bytes each),
    // capped at 2M entries; on a long simulated run most of them have expired anyway.
    maxConns: Math.min(1 << 21, Math.max(1024, 3 * n + 64)),
  });
  const frame = new Uint8Array(FRAME_CAP);
  let ipId = 0;
  const removed = new Set<Dest>();

  const send = (f: Flow, svc: Service): Sent => {
    now += intervalMs;
    pipe.tick(now);
    ipId = (ipId + 1) & 0xffff;
    const len = buildFrame(frame, f, ipId, flowRandom());
    const v = pipe.process(frame, 0, len, FRAME_CAP, 1, 0, now);
    if (v === Verdict.TX) {
      // Conns may still lead to a dest deleted earlier (it waits in the trash).
      const gone = [...removed].filter((d) => d.svc === svc);
      const dest = identifyDest(frame, pipe.outOff, f, [...svc.dests, ...gone]);
      if (dest === null)
        throw new Error(`flow ${fmtFlow(f)}: the forwarded frame matches none of its real servers`);
      return { flow: f, svc, dest, outcome: 'forwarded', reason: null };
    }
    if (v === Verdict.REPLY) return { flow: f, svc, dest: null, outcome: 'no-destination', reason: null };
    return {
      flow: f,
      svc,
      dest: null,
      outcome: 'dropped',
      reason: counterNames[pipe.lastReason] ?? 'unknown',
    };
  };

  // The run, with the changes between flows.
  const changeReports: ChangeReport[] = [];
  const applyAt = (k: number): void => {
    for (const c of changes) if ((c.at ?? n) === k) changeReports.push(applyChange(table, c, k, removed));
  };
  const runWeights = snapshotWeights(table);
  const sent: Sent[] = [];
  for (let i = 0; i < n; i++) {
    applyAt(i);
    sent.push(send(flows[i], svcOf[i]));
  }
  applyAt(n);
  const firstChange = changes.length === 0 ? n : Math.min(...changes.map((c) => c.at ?? n));
  const runServices = phaseServices(sent, runWeights, new Set<Dest>(), firstChange);

  const mode: ReplayMode | null = input.replay ?? (changes.length > 0 ? 'expire' : null);
  let replay: SimReport['replay'] = null;
  let moved: MovedReport | null = null;
  if (mode !== null) {
    if (mode === 'expire') {
      // Clients come back later: their conns are gone, persistence templates stay as they are.
      now += intervalMs;
      const t = pipe.conns4;
      const ids: number[] = [];
      for (const e of t.list(now)) if ((t.getFlags(e.id) & ConnFlag.TEMPLATE) === 0) ids.push(e.id);
      for (const id of ids) t.expireNow(id, now);
    }
    const replayWeights = snapshotWeights(table);
    const again: Sent[] = [];
    for (let i = 0; i < n; i++) {
      const f =
        mode === 'new-port' ? { ...flows[i], cport: ports.fresh(flows[i].client, flowRandom) } : flows[i];
      again.push(send(f, svcOf[i]));
    }
    const services = phaseServices(again, replayWeights, removed, n).map((s) => ({
      ...s,
      moved: movedBetween(
        sent.filter((x) => serviceName(x.svc) === s.service),
        again.filter((x) => serviceName(x.svc) === s.service),
        removed,
      ),
    }));
    const flowReports = again.map((x, i) => {
      const before = sent[i];
      const movedFrom =
        before.dest !== null && x.dest !== null && before.dest !== x.dest ? serverName(before.dest) : null;
      return { ...flowReport(x, i), movedFrom };
    });
    replay = { mode, flows: flowReports, services };
    moved = movedBetween(sent, again, removed);
  }

  return {
    rules: input.rulesName,
    flowSource: input.flowsText !== undefined ? (input.flowsName ?? 'flows') : 'generated',
    generate: input.flowsText === undefined && input.generate !== undefined ? { ...input.generate } : null,
    seed,
    intervalMs,
    flowCount: n,
    changes: changeReports,
    run: { flows: sent.map(flowReport), services: runServices },
    replay,
    moved,
  };
}

function fmtFlow(f: Flow): string {
  return `${f.proto} ${ipv4ToString(f.client)}:${f.cport} -> ${ipv4ToString(f.vip)}:${f.vport}`;
}

function flowReport(x: Sent, i: number): FlowReport {
  return {
    n: i + 1,
    proto: x.flow.proto,
    client: `${ipv4ToString(x.flow.client)}:${x.flow.cport}`,
    vip: `${ipv4ToString(x.flow.vip)}:${x.flow.vport}`,
    service: serviceName(x.svc),
    server: x.dest === null ? null : serverName(x.dest),
    forward: x.dest === null ? null : forwardName(x.dest.fwd),
    outcome: x.outcome,
    reason: x.reason,
  };
}

/** Every service's dests in list order with their weight, at the start of a phase. */
function snapshotWeights(table: ServiceTable): Map<Service, { dest: Dest; weight: number }[]> {
  const m = new Map<Service, { dest: Dest; weight: number }[]>();
  for (const s of table.list)
    m.set(
      s,
      s.dests.map((dest) => ({ dest, weight: dest.weight })),
    );
  return m;
}

function pct(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10;
}

/**
 * The shares the scheduler's weights predict, for dests in list order. rr, lc: every dest with
 * weight > 0 alike (they only test the weight for zero). fo, ovf: the first dest with the highest
 * weight (connections that never get established leave ovf's active counts at zero). dh, lblc,
 * lblcr pick by destination address: no prediction. The rest: proportional to weight.
 */
function expectedShares(sched: string, weights: readonly number[]): (number | null)[] {
  const live = weights.map((w) => w > 0);
  if (sched === 'dh' || sched === 'lblc' || sched === 'lblcr') return weights.map(() => null);
  if (sched === 'rr' || sched === 'lc') {
    const k = live.filter(Boolean).length;
    return live.map((l) => (l ? pct(1, k) : 0));
  }
  if (sched === 'fo' || sched === 'ovf') {
    const max = Math.max(0, ...weights);
    const first = max > 0 ? weights.indexOf(max) : -1;
    return weights.map((_, i) => (i === first ? 100 : 0));
  }
  const sum = weights.reduce((a, w) => a + Math.max(0, w), 0);
  return weights.map((w) => pct(Math.max(0, w), sum));
}

function phaseServices(
  sent: readonly Sent[],
  weights: Map<Service, { dest: Dest; weight: number }[]>,
  removedBefore: ReadonlySet<Dest>,
  stickyLimit: number,
): ServiceReport[] {
  const out: ServiceReport[] = [];
  for (const [svc, ws] of weights) {
    const mine = sent.map((x, i) => ({ x, i })).filter((e) => e.x.svc === svc);
    if (mine.length === 0) continue;
    const rows: { dest: Dest; weight: number | null; expected: number | null }[] = [];
    const exp = expectedShares(
      svc.schedName,
      ws.map((w) => w.weight),
    );
    ws.forEach((w, i) => rows.push({ dest: w.dest, weight: w.weight, expected: exp[i] }));
    // Dests that took flows without being listed at the start: removed earlier, still in use.
    for (const d of removedBefore) if (d.svc === svc) rows.push({ dest: d, weight: null, expected: null });
    for (const e of mine) {
      const d = e.x.dest;
      if (d !== null && !rows.some((r) => r.dest === d)) rows.push({ dest: d, weight: null, expected: null });
    }
    rows.sort((a, b) => a.dest.addr.v4 - b.dest.addr.v4 || a.dest.port - b.dest.port);
    const count = new Map<Dest, number>();
    let noDest = 0;
    let dropped = 0;
    for (const { x } of mine) {
      if (x.dest !== null) count.set(x.dest, (count.get(x.dest) ?? 0) + 1);
      else if (x.outcome === 'no-destination') noDest++;
      else dropped++;
    }
    // Stickiness: per client, the set of real servers it reached.
    const byClient = new Map<number, { flows: number; dests: Set<Dest> }>();
    for (const { x, i } of mine) {
      if (i >= stickyLimit || x.dest === null) continue;
      let c = byClient.get(x.flow.client);
      if (c === undefined) byClient.set(x.flow.client, (c = { flows: 0, dests: new Set<Dest>() }));
      c.flows++;
      c.dests.add(x.dest);
    }
    let repeat = 0;
    let sticky = 0;
    for (const c of byClient.values()) {
      if (c.flows < 2) continue;
      repeat++;
      if (c.dests.size === 1) sticky++;
    }
    out.push({
      service: serviceName(svc),
      scheduler: svc.schedName,
      options: serviceOptions(svc),
      flows: mine.length,
      noDestination: noDest,
      dropped,
      servers: rows.map((r) => ({
        server: serverName(r.dest),
        forward: forwardName(r.dest.fwd),
        weight: r.weight,
        removed: r.weight === null,
        flows: count.get(r.dest) ?? 0,
        share: pct(count.get(r.dest) ?? 0, mine.length),
        expected: r.expected,
      })),
      clients: {
        clients: new Set(mine.filter((e) => e.i < stickyLimit).map((e) => e.x.flow.client)).size,
        repeat,
        sticky,
        beforeFirstChange: stickyLimit < sent.length,
      },
    });
  }
  return out;
}

function movedBetween(
  before: readonly Sent[],
  after: readonly Sent[],
  removed: ReadonlySet<Dest>,
): MovedReport {
  let of = 0;
  let moved = 0;
  let lost = 0;
  const from = new Map<Dest, number>();
  for (let i = 0; i < before.length; i++) {
    const a = before[i].dest;
    if (a === null) continue;
    of++;
    const b = after[i].dest;
    if (b === null) lost++;
    else if (b !== a) {
      moved++;
      from.set(a, (from.get(a) ?? 0) + 1);
    }
  }
  const fromList = [...from]
    .sort((x, y) => x[0].addr.v4 - y[0].addr.v4 || x[0].port - y[0].port)
    .map(([d, flows]) => ({ server: serverName(d), removed: removed.has(d), flows }));
  return { of, moved, percent: pct(moved, of), lost, from: fromList };
}

// ------------------------------------------------------------------------------ text output

/** Per-flow lines are listed up to this many flows unless --verbose or --quiet. */
export const MAX_LISTED_FLOWS = 50;

export interface FormatOptions {
  /** true: always list flows; false: never; undefined: up to MAX_LISTED_FLOWS. */
  readonly perFlow?: boolean;
}

export function formatReport(r: SimReport, o: FormatOptions = {}): string {
  const out: string[] = [];
  const listFlows = o.perFlow ?? r.flowCount <= MAX_LISTED_FLOWS;
  const source = r.generate !== null ? `generated (--clients ${r.generate.clients})` : `from ${r.flowSource}`;
  out.push(
    `${r.flowCount} flow${r.flowCount === 1 ? '' : 's'} ${source}, rules ${r.rules}, seed ${r.seed}, ${r.intervalMs} ms apart`,
  );
  if (r.changes.length > 0) {
    out.push('', 'Changes:');
    for (const c of r.changes) out.push(`  ${changeLine(c)}`);
  }
  out.push('');
  if (listFlows) {
    out.push('Flows:');
    const byAt = new Map<number, ChangeReport[]>();
    for (const c of r.changes) byAt.set(c.at, [...(byAt.get(c.at) ?? []), c]);
    r.run.flows.forEach((f, i) => {
      for (const c of byAt.get(i) ?? []) out.push(`        -- ${changeLine(c)}`);
      out.push(flowLine(f));
    });
    for (const c of byAt.get(r.run.flows.length) ?? []) out.push(`        -- ${changeLine(c)}`);
    out.push('');
  } else if (o.perFlow === undefined) {
    out.push(`(${r.flowCount} flows: per-flow lines left out; --verbose lists them)`, '');
  }
  for (const s of r.run.services) out.push(...serviceBlock(s), '');
  if (r.replay !== null) {
    out.push(
      r.replay.mode === 'expire'
        ? `Replay: the same ${r.flowCount} flows again as new connections (connections expired, persistence templates kept)`
        : `Replay: the same ${r.flowCount} flows again from new client ports (nothing expired)`,
      '',
    );
    if (listFlows) {
      for (const f of r.replay.flows)
        out.push(flowLine(f) + (f.movedFrom != null ? `  moved from ${f.movedFrom}` : ''));
      out.push('');
    }
    for (const s of r.replay.services) out.push(...serviceBlock(s), '');
    if (r.moved !== null && r.replay.services.length > 1) out.push(`All services: ${movedLine(r.moved)}`, '');
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.join('\n') + '\n';
}

function changeLine(c: ChangeReport): string {
  const what = c.action === 'remove' ? 'remove' : `weight ${c.weight} for`;
  const where = c.at === 0 ? 'before the first flow' : `after flow ${c.at}`;
  return `${where}: ${what} ${c.applied.map((a) => `${a.server} (${a.service})`).join(', ')}`;
}

function flowLine(f: FlowReport): string {
  const head = `${String(f.n).padStart(6)}  ${f.proto}  ${f.client} -> ${f.vip} => `;
  if (f.outcome === 'forwarded') return `${head}${f.server} (${f.forward})`;
  if (f.outcome === 'no-destination') return `${head}no destination (ICMP port unreachable)`;
  return `${head}dropped (${f.reason})`;
}

function serviceBlock(s: ServiceReport): string[] {
  const lines = [[s.service, s.scheduler, ...s.options].join(' ')];
  const table: string[][] = [['Real server', 'Forward', 'Weight', 'Flows', 'Share', 'Expected']];
  for (const r of s.servers)
    table.push([
      r.server,
      r.forward,
      r.weight === null ? 'removed' : String(r.weight),
      String(r.flows),
      `${r.share.toFixed(1)}%`,
      r.expected === null ? '-' : `${r.expected.toFixed(1)}%`,
    ]);
  if (s.noDestination > 0)
    table.push([
      '(no destination)',
      '',
      '',
      String(s.noDestination),
      `${pct(s.noDestination, s.flows).toFixed(1)}%`,
      '',
    ]);
  if (s.dropped > 0)
    table.push(['(dropped)', '', '', String(s.dropped), `${pct(s.dropped, s.flows).toFixed(1)}%`, '']);
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) {
    const cells = row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])));
    lines.push(`  ${cells.join('  ')}`.trimEnd());
  }
  const c = s.clients;
  const scope = c.beforeFirstChange ? ' (flows before the first change)' : '';
  lines.push(
    c.repeat === 0
      ? `  clients${scope}: ${c.clients}, none sent more than one flow`
      : `  clients${scope}: ${c.clients}; ${c.repeat} sent 2+ flows, ${c.sticky} of them (${pct(c.sticky, c.repeat).toFixed(1)}%) always to the same real server`,
  );
  if (s.moved !== undefined) lines.push(`  ${movedLine(s.moved)}`);
  return lines;
}

function movedLine(m: MovedReport): string {
  let t = `moved: ${m.moved} of ${m.of} flows (${m.percent.toFixed(1)}%)`;
  if (m.from.length > 0)
    t += `; from ${m.from.map((f) => `${f.server}${f.removed ? ' (removed)' : ''}: ${f.flows}`).join(', ')}`;
  if (m.lost > 0) t += `; ${m.lost} no longer forwarded`;
  return t;
}

// ------------------------------------------------------------------------------ the command

const OPTIONS = {
  rules: { type: 'string' },
  flows: { type: 'string' },
  generate: { type: 'string' },
  clients: { type: 'string' },
  seed: { type: 'string' },
  proto: { type: 'string' },
  service: { type: 'string', multiple: true },
  interval: { type: 'string' },
  remove: { type: 'string', multiple: true },
  reweight: { type: 'string', multiple: true },
  replay: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const TRY = "Try 'tslvs simulate --help' for more information.\n";

/** `tslvs simulate ARGS`: returns the exit status. */
export function runSimulate(argv: readonly string[], io: CliIo): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (e) {
    io.stderr(`tslvs simulate: ${e instanceof Error ? e.message : String(e)}\n${TRY}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help === true) {
    io.stdout(SIMULATE_HELP);
    return 0;
  }
  const bad = (msg: string): number => {
    io.stderr(`tslvs simulate: ${msg}\n${TRY}`);
    return 2;
  };
  if (v.rules === undefined) return bad('--rules FILE is required');
  if ((v.flows === undefined) === (v.generate === undefined))
    return bad('give the flows with either --flows FILE or --generate N');
  if (v.clients !== undefined && v.generate === undefined) return bad('--clients only applies to --generate');
  if (v.quiet === true && v.verbose === true) return bad('--quiet and --verbose contradict each other');
  let count = 0;
  if (v.generate !== undefined) {
    if (!/^\d{1,7}$/.test(v.generate) || Number(v.generate) < 1 || Number(v.generate) > 1_000_000)
      return bad(`--generate ${v.generate}: expected a number of flows from 1 to 1000000`);
    count = Number(v.generate);
  }
  let seed = 1;
  if (v.seed !== undefined) {
    if (!/^\d{1,10}$/.test(v.seed) || Number(v.seed) > 0xffffffff)
      return bad(`--seed ${v.seed}: expected an integer from 0 to 4294967295`);
    seed = Number(v.seed);
  }
  let proto: ProtoName | null = null;
  if (v.proto !== undefined) {
    if (v.proto !== 'tcp' && v.proto !== 'udp') return bad(`--proto ${v.proto}: expected tcp or udp`);
    proto = v.proto;
  }
  let intervalMs = 10;
  if (v.interval !== undefined) {
    if (!/^\d{1,9}(\.\d+)?$/.test(v.interval)) return bad(`--interval ${v.interval}: expected milliseconds`);
    intervalMs = Number(v.interval);
  }
  let replay: ReplayMode | null = null;
  if (v.replay !== undefined) {
    if (v.replay !== 'expire' && v.replay !== 'new-port')
      return bad(`--replay ${v.replay}: expected expire or new-port`);
    replay = v.replay;
  }
  // Changes in command-line order (--remove and --reweight mixed).
  const changes: Change[] = [];
  for (const t of parsed.tokens) {
    if (t.kind !== 'option' || (t.name !== 'remove' && t.name !== 'reweight') || t.value === undefined)
      continue;
    const c = parseChange(t.name, t.value);
    if (typeof c === 'string') return bad(c);
    changes.push(c);
  }

  const read = (path: string, what: string): { text: string; name: string } | null => {
    const name = path === '-' ? '<stdin>' : path;
    try {
      return { text: io.readFile(path), name };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const why =
        code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(code ?? e);
      io.stderr(`tslvs simulate: cannot read ${what} '${name}': ${why}\n`);
      return null;
    }
  };
  const rules = read(v.rules, 'rules');
  if (rules === null) return 2;
  let flowsFile: { text: string; name: string } | null = null;
  if (v.flows !== undefined) {
    if (v.flows === '-' && v.rules === '-') return bad('--rules and --flows cannot both be standard input');
    flowsFile = read(v.flows, 'flows');
    if (flowsFile === null) return 2;
  }

  const outcome = simulate({
    rulesText: rules.text,
    rulesName: rules.name,
    flowsText: flowsFile?.text,
    flowsName: flowsFile?.name,
    generate: v.generate !== undefined ? { count, clients: v.clients ?? DEFAULT_CLIENTS } : undefined,
    proto,
    services: v.service ?? [],
    changes,
    seed,
    intervalMs,
    replay,
    ...systemResolvers(io),
  });
  if (!outcome.ok) {
    // `file:line: ...` stands on its own, like a compiler's message; the rest names the tool.
    io.stderr(/^\S+:\d+: /.test(outcome.error) ? `${outcome.error}\n` : `tslvs simulate: ${outcome.error}\n`);
    return 2;
  }
  if (v.json === true) {
    let r = outcome.report;
    // --quiet: the per-flow records go from the document too (they dominate its size).
    if (v.quiet === true)
      r = {
        ...r,
        run: { ...r.run, flows: [] },
        replay: r.replay === null ? null : { ...r.replay, flows: [] },
      };
    io.stdout(`${JSON.stringify(r, null, 2)}\n`);
  } else
    io.stdout(
      formatReport(outcome.report, {
        perFlow: v.quiet === true ? false : v.verbose === true ? true : undefined,
      }),
    );
  return 0;
}

/** Names in rules resolve through /etc/hosts and /etc/services, as ipvsadm's would (files only). */
function systemResolvers(io: CliIo): { resolveHost?: ResolveHost; resolveService?: ResolveService } {
  const out: { resolveHost?: ResolveHost; resolveService?: ResolveService } = {};
  try {
    out.resolveHost = hostsFileResolver(io.readFile('/etc/hosts'));
  } catch {
    // no /etc/hosts: names do not resolve
  }
  try {
    out.resolveService = servicesFileResolver(io.readFile('/etc/services'));
  } catch {
    // no /etc/services: port names do not resolve
  }
  return out;
}

/**
 * ipvsadm 1.31's listings, byte for byte, as pure functions over a snapshot of the IPVS state:
 * `-L`/`-l` in all its variants (--stats, --rate, --thresholds, --persistent-conn, --tun-info,
 * --exact, --nosort, -n), `-L <service>`, `-L -c`, `-L --timeout`, `-L --daemon` and `-S`
 * (ipvsadm.c list_all, list_service, print_title, print_service_entry, list_conn/print_conn,
 * list_timeout, list_daemon; libipvs.c for the order). `--json` output is in format-json.ts.
 *
 * The snapshot is plain data (numbers, strings, arrays) so that it can travel over the daemon's
 * control API unchanged; format-snapshot.ts builds one from the live tables.
 *
 * Extensions, visible only when used: dests with the FullNAT forwarding method print as
 * "FullNat" (as DPVS's ipvsadm does) and save as `--fullnat`; a service's FullNAT local addresses
 * save as `--add-laddr <service> --laddr <addr>` lines right after its `-A` line, so that `-S`
 * output restores with `-R`.
 */
import type { ListFormat, ListWhat, ServiceSpec } from './args.ts';
import type { CAddr } from './format-c.ts';
import {
  addr4Words,
  cut,
  decodeAddr,
  decodeConnAddr,
  i32,
  largenum,
  ntop,
  ntop4,
  padRight,
  strtoulHex32,
  u32,
  u64,
} from './format-c.ts';
import type { NameResolver, PortProto } from './format-names.ts';
import { defaultNameResolver, numericResolver } from './format-names.ts';
import { destAddr, findService, sortedDests, sortedServices, svcAddr } from './format-sort.ts';
import type { JsonWhat } from './format-json.ts';
import { formatJson } from './format-json.ts';

export type { NameResolver, PortProto } from './format-names.ts';
export { defaultNameResolver, filesNameResolver, numericResolver } from './format-names.ts';
export { formatJson } from './format-json.ts';
export { findService, sortedDests, sortedServices } from './format-sort.ts';
export type { JsonWhat } from './format-json.ts';

// ---- the snapshot ---------------------------------------------------------------------------

/** IP_VS_VERSION_CODE split up; the kernel has reported 1.2.1 for two decades. */
export interface IpvsVersion {
  major: number;
  minor: number;
  patch: number;
}

/** Totals since the counters were last zeroed (struct ip_vs_stats64, first half). */
export interface StatsSnap {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

/** Estimated rates per second (struct ip_vs_stats64, second half). */
export interface RatesSnap {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface DestSnap {
  af: 4 | 6;
  /** Numeric text (dotted quad or IPv6). */
  addr: string;
  port: number;
  /** conn_flags & 7: 0 Masq, 1 Local, 2 Tunnel, 3 Route, 5 FullNAT. */
  fwd: number;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  /** 0 ipip, 1 gue, 2 gre. */
  tunType: number;
  tunPort: number;
  /** 0 nocsum, 1 csum, 2 remcsum. */
  tunFlags: number;
  stats: StatsSnap;
  rates: RatesSnap;
}

export interface SvcSnap {
  af: 4 | 6;
  /** IPPROTO_*, as the kernel reports it: TCP (6) for firewall-mark services too. */
  protocol: number;
  /** Numeric text; the zero address for firewall-mark services. */
  addr: string;
  port: number;
  /** 0 unless a firewall-mark service. */
  fwmark: number;
  sched: string;
  /** IP_VS_SVC_F_* */
  flags: number;
  /** Persistence timeout, seconds. */
  timeout: number;
  /** IPv4: the mask as a host-order uint32; IPv6: a prefix length. */
  netmask: number;
  /** Persistence engine name, '' for none. */
  pe: string;
  stats: StatsSnap;
  rates: RatesSnap;
  /** In the kernel's list order (most recently added first); listings sort them. */
  dests: DestSnap[];
  /** FullNAT local addresses (numeric text), when any. */
  laddrs?: string[];
}

export interface TimeoutSnap {
  tcp: number;
  tcpfin: number;
  udp: number;
}

export interface DaemonSnap {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncId: number;
  /** 0 when the kernel does not report it. */
  syncMaxlen: number;
  /** Numeric text, or null when the kernel does not report a group. */
  mcastGroup: string | null;
  /** 0 when not reported. */
  mcastPort: number;
  /** 0 when not reported. */
  mcastTtl: number;
}

/** One line of /proc/net/ip_vs_conn. */
export interface ConnSnap {
  /** ip_vs_proto_name: TCP, UDP, SCTP, IP (firewall-mark templates), ... */
  proto: string;
  /** Numeric text; the kernel's "%08X" IPv4 form is accepted too. */
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  /** Protocol state name, or NONE/ASSURED for templates. */
  state: string;
  /** Whole seconds left. */
  expiresSec: number;
  peName?: string;
  peData?: string;
}

export interface IpvsSnapshot {
  version: IpvsVersion;
  /** The connection hash table size ipvsadm shows as "size=". */
  connTabSize: number;
  /** In the kernel's hash order; listings sort them unless --nosort. */
  services: SvcSnap[];
  timeouts: TimeoutSnap;
  /** Running sync daemons, master first. */
  daemons: DaemonSnap[];
  /** The connection table, when asked for. */
  conns?: ConnSnap[];
}

// ---- format flags -----------------------------------------------------------------------------

/** ipvsadm's FMT_* bits, as booleans. */
interface Fmt {
  numeric: boolean;
  rule: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  nosort: boolean;
  exact: boolean;
  tunInfo: boolean;
}

function fmtOf(f: Partial<ListFormat>, rule = false): Fmt {
  return {
    numeric: f.numeric === true,
    rule,
    stats: f.stats === true,
    rate: f.rate === true,
    thresholds: f.thresholds === true,
    persistentConn: f.persistentConn === true,
    nosort: f.nosort === true,
    exact: f.exact === true,
    tunInfo: f.tunInfo === true,
  };
}

function resolverFor(numeric: boolean, r: NameResolver | undefined): NameResolver {
  if (numeric) return numericResolver;
  return r ?? defaultNameResolver();
}

// ---- names ------------------------------------------------------------------------------------

const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;
const SVC_F_SCHED1 = 0x8;
const SVC_F_SCHED2 = 0x10;
const SVC_F_SCHED3 = 0x20;
const SVC_F_SCHED_ANY = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

const FWD_TUNNEL = 2;
const FWD_FULLNAT = 5;

/** What glibc's printf prints for a NULL string, which ipvsadm passes for unknown methods. */
const C_NULL = '(null)';

function portProto(protocol: number): PortProto | null {
  return protocol === 6 ? 'tcp' : protocol === 17 ? 'udp' : protocol === 132 ? 'sctp' : null;
}

/** protocol_name */
function protocolName(protocol: number): string {
  return protocol === 6 ? 'TCP' : protocol === 17 ? 'UDP' : protocol === 132 ? 'SCTP' : '?';
}

/** option_from_protocol, with save's fallback for anything else. */
function protocolSwitch(protocol: number): string {
  return protocol === 6
    ? '-t'
    : protocol === 17
      ? '-u'
      : protocol === 132
        ? '--sctp-service'
        : '--xxx-service';
}

/**
 * addrport_to_anyname: "addr:port" with brackets around IPv6, or with -n off the host and service
 * names where they resolve. The result sits in a 60-byte buffer.
 */
function addrPortName(a: CAddr, port: number, protocol: number, r: NameResolver): string {
  const text = ntop(a);
  const host = r.hostByAddr(text) ?? text;
  const p = port & 0xffff;
  const pp = portProto(protocol);
  const serv = (pp === null ? null : r.servByPort(p, pp)) ?? String(p);
  const s = a.af === 6 ? `[${host}]:${serv}` : `${host}:${serv}`;
  return cut(s, 59);
}

/** svc_name of print_service_entry. */
function svcName(s: SvcSnap, f: Fmt, r: NameResolver): string {
  const fwmark = s.fwmark >>> 0;
  if (fwmark !== 0) {
    if (f.rule) return s.af === 6 ? `-f ${fwmark} -6` : `-f ${fwmark}`;
    return s.af === 6 ? `FWM  ${fwmark} IPv6` : `FWM  ${fwmark}`;
  }
  const vname = addrPortName(svcAddr(s), s.port, s.protocol, r);
  if (f.rule) return `${protocolSwitch(s.protocol)} ${vname}`;
  const name = `${padRight(protocolName(s.protocol), 4)} ${vname}`;
  return s.af === 6 ? name : cut(name, 33);
}

/** print_sched_flags: sh and mh name their flags, other schedulers get flag-1..3. */
function schedFlags(s: SvcSnap): string {
  const out: string[] = [];
  if (s.sched === 'sh' || s.sched === 'mh') {
    if ((s.flags & SVC_F_SCHED1) !== 0) out.push(`${s.sched}-fallback`);
    if ((s.flags & SVC_F_SCHED2) !== 0) out.push(`${s.sched}-port`);
  } else {
    if ((s.flags & SVC_F_SCHED1) !== 0) out.push('flag-1');
    if ((s.flags & SVC_F_SCHED2) !== 0) out.push('flag-2');
    if ((s.flags & SVC_F_SCHED3) !== 0) out.push('flag-3');
  }
  return out.join(',');
}

/** fwd_name */
export function fwdName(fwd: number): string {
  switch (fwd & 7) {
    case 0:
      return 'Masq';
    case 1:
      return 'Local';
    case 2:
      return 'Tunnel';
    case 3:
      return 'Route';
    case FWD_FULLNAT:
      return 'FullNat';
    default:
      return C_NULL;
  }
}

/** fwd_switch: the -a option that recreates the method. */
function fwdSwitch(fwd: number): string {
  switch (fwd & 7) {
    case 0:
      return '-m';
    case 2:
      return '-i';
    case 1:
    case 3:
      return '-g';
    case FWD_FULLNAT:
      return '--fullnat';
    default:
      return C_NULL;
  }
}

const TUN_FLAG_NAMES = ['-c', '+c', 'r+c'];
const TUN_FLAG_OPTS = ['--tun-nocsum', '--tun-csum', '--tun-remcsum'];

/**
 * fwd_tun_info: null (printed "n/a") unless a tunnel dest of a known type. Flags beyond the three
 * known values show as "?" (ipvsadm would index past its table).
 */
function tunInfo(d: DestSnap): string | null {
  if ((d.fwd & 7) !== FWD_TUNNEL) return null;
  const flag = TUN_FLAG_NAMES[d.tunFlags] ?? '?';
  switch (d.tunType) {
    case 0:
      return 'ipip';
    case 1:
      return cut(`gue:${i32(d.tunPort & 0xffff)}:${flag}`, 15);
    case 2:
      return cut(`gre:${flag}`, 15);
    default:
      return null;
  }
}

// ---- list_all / print_service_entry ----------------------------------------------------------

/** The first line of every -L listing. */
export function formatHeader(snap: IpvsSnapshot): string {
  const v = snap.version;
  return `IP Virtual Server version ${i32(v.major & 0xff)}.${i32(v.minor & 0xff)}.${i32(v.patch & 0xff)} (size=${i32(snap.connTabSize)})\n`;
}

/** print_title; the first matching format wins: stats, rate, thresholds, persistent-conn, tun-info. */
function title(f: Fmt): string {
  const first = padRight('Prot LocalAddress:Port', 33);
  const next = '  -> RemoteAddress:Port\n';
  const cols = (ws: readonly string[], w: number, left: boolean): string =>
    ws.map((s) => (left ? padRight(s, w) : s.padStart(w))).join(' ');
  if (f.stats)
    return `${first} ${cols(['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'], 8, false)}\n${next}`;
  if (f.rate) return `${first} ${cols(['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'], 8, false)}\n${next}`;
  if (f.thresholds)
    return `${first} ${cols(['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'], 10, true)}\n${next}`;
  if (f.persistentConn)
    return (
      `${first} ${padRight('Weight', 9)} ${padRight('PersistConn', 11)} ` +
      `${padRight('ActiveConn', 10)} ${padRight('InActConn', 10)}\n${next}`
    );
  if (f.tunInfo)
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
    );
  if (f.rule) return '';
  return (
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
  );
}

function fiveNums(a: number, b: number, c: number, d: number, e: number, exact: boolean): string {
  return (
    largenum(a, exact) + largenum(b, exact) + largenum(c, exact) + largenum(d, exact) + largenum(e, exact)
  );
}

function persistenceText(s: SvcSnap, maskWord: string): string {
  let out = '';
  if (s.af === 4) {
    if (s.netmask >>> 0 !== 0xffffffff) out += ` ${maskWord} ${ntop4(s.netmask >>> 0)}`;
  } else if (s.netmask >>> 0 !== 128) {
    out += ` ${maskWord} ${i32(s.netmask)}`;
  }
  return out;
}

/** The service line of print_service_entry (without the newline). */
function serviceLine(s: SvcSnap, name: string, f: Fmt): string {
  const persistent = (s.flags & SVC_F_PERSISTENT) !== 0;
  if (f.rule) {
    let out = `-A ${name} -s ${s.sched}`;
    if (persistent) out += ` -p ${u32(s.timeout)}${persistenceText(s, '-M')}`;
    if (s.pe !== '') out += ` --pe ${s.pe}`;
    if ((s.flags & SVC_F_ONEPACKET) !== 0) out += ' -o';
    if ((s.flags & SVC_F_SCHED_ANY) !== 0) out += ` -b ${schedFlags(s)}`;
    return out;
  }
  if (f.stats) {
    const t = s.stats;
    return padRight(name, 33) + fiveNums(t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes, f.exact);
  }
  if (f.rate) {
    const t = s.rates;
    return padRight(name, 33) + fiveNums(t.cps, t.inpps, t.outpps, t.inbps, t.outbps, f.exact);
  }
  let out = `${name} ${s.sched}`;
  if ((s.flags & SVC_F_SCHED_ANY) !== 0) out += ` (${schedFlags(s)})`;
  if (persistent) {
    out += ` persistent ${u32(s.timeout)}${persistenceText(s, 'mask')}`;
    if (s.pe !== '') out += ` pe ${s.pe}`;
  }
  if ((s.flags & SVC_F_ONEPACKET) !== 0) out += ' ops';
  return out;
}

/** print_tunnel_rule and the plain -a line of save. */
function saveDestLine(name: string, dname: string, d: DestSnap): string {
  const head = `-a ${name} -r ${dname} ${fwdSwitch(d.fwd)} -w ${i32(d.weight)}`;
  if ((d.fwd & 7) !== FWD_TUNNEL) return head;
  const flagOpt = TUN_FLAG_OPTS[d.tunFlags] ?? C_NULL;
  switch (d.tunType) {
    case 0:
      return `${head} --tun-type ipip`;
    case 1:
      return `${head} --tun-type gue --tun-port ${i32(d.tunPort & 0xffff)} ${flagOpt}`;
    case 2:
      return `${head} --tun-type gre ${flagOpt}`;
    default:
      return head;
  }
}

function destLine(dname: string, d: DestSnap, f: Fmt): string {
  const dn = padRight(dname, 28);
  if (f.stats) {
    const t = d.stats;
    return `  -> ${dn}` + fiveNums(t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes, f.exact);
  }
  if (f.rate) {
    const t = d.rates;
    const n8 = (v: number): string => u64(v).padStart(8);
    return (
      `  -> ${dn} ${n8(t.cps)} ${n8(t.inpps)} ${n8(t.outpps)}` +
      largenum(t.inbps, f.exact) +
      largenum(t.outbps, f.exact)
    );
  }
  const c10 = (v: number): string => padRight(u32(v), 10);
  if (f.thresholds)
    return `  -> ${dn} ${c10(d.uThreshold)} ${c10(d.lThreshold)} ${c10(d.activeConns)} ${c10(d.inactConns)}`;
  if (f.persistentConn)
    return (
      `  -> ${dn} ${padRight(u32(d.weight), 9)} ${padRight(u32(d.persistConns), 11)} ` +
      `${c10(d.activeConns)} ${c10(d.inactConns)}`
    );
  const w6 = padRight(i32(d.weight), 6);
  if (f.tunInfo)
    return (
      `  -> ${dn} ${padRight(fwdName(d.fwd), 7)} ${padRight(tunInfo(d) ?? 'n/a', 13)} ${w6} ` +
      `${c10(d.activeConns)} ${c10(d.inactConns)}`
    );
  return `  -> ${dn} ${padRight(fwdName(d.fwd), 7)} ${w6} ${c10(d.activeConns)} ${c10(d.inactConns)}`;
}

/** print_service_entry: the service line, then its dests. */
function serviceEntry(s: SvcSnap, f: Fmt, r: NameResolver): string {
  const name = svcName(s, f, r);
  let out = serviceLine(s, name, f) + '\n';
  if (f.rule) {
    // Extension: FullNAT local addresses, which -a --fullnat needs to be present already.
    for (const la of s.laddrs ?? []) out += `--add-laddr ${name} --laddr ${la}\n`;
  }
  for (const d of sortedDests(s, f.nosort)) {
    let dname = addrPortName(destAddr(d), d.port, s.protocol, r);
    if (!f.rule && d.af !== 6) dname = cut(dname, 28);
    out += (f.rule ? saveDestLine(name, dname, d) : destLine(dname, d, f)) + '\n';
  }
  return out;
}

function listAll(snap: IpvsSnapshot, f: Fmt, r: NameResolver): string {
  let out = f.rule ? '' : formatHeader(snap);
  out += title(f);
  for (const s of sortedServices(snap.services, f.nosort)) out += serviceEntry(s, f, r);
  return out;
}

// ---- public entry points ----------------------------------------------------------------------

/**
 * `ipvsadm -L [options]` without a service: -c, --timeout, --daemon or the table, in ipvsadm's
 * order of precedence; with `json` set, the --json form of the same. Names are looked up through
 * `resolver` (default: /etc/hosts and /etc/services) unless -n.
 */
export function formatList(snap: IpvsSnapshot, fmt: Partial<ListFormat>, resolver?: NameResolver): string {
  const what: JsonWhat = fmt.connection
    ? 'connections'
    : fmt.timeout
      ? 'timeout'
      : fmt.daemon
        ? 'daemon'
        : 'all';
  if (fmt.json === true) return formatJson(snap, what, { nosort: fmt.nosort === true });
  switch (what) {
    case 'connections':
      return formatConnections(snap.conns ?? [], fmt, resolver);
    case 'timeout':
      return formatTimeout(snap.timeouts);
    case 'daemon':
      return formatDaemon(snap.daemons);
    default:
      return listAll(snap, fmtOf(fmt), resolverFor(fmt.numeric === true, resolver));
  }
}

export type FormatResult =
  | { readonly ok: true; readonly text: string }
  /** What ipvsadm prints to stderr, and its exit status. */
  | { readonly ok: false; readonly message: string; readonly exitCode: number };

/** `ipvsadm -L <service> [options]` (list_service): the title and one service, no header. */
export function formatService(
  snap: IpvsSnapshot,
  spec: ServiceSpec,
  fmt: Partial<ListFormat>,
  resolver?: NameResolver,
): FormatResult {
  const s = findService(snap, spec);
  // ipvs_get_service fails with ESRCH, which ipvs_strerror words like this; list_service exits 1.
  if (s === null) return { ok: false, message: 'No such service\n', exitCode: 1 };
  if (fmt.json === true)
    return { ok: true, text: formatJson(snap, 'service', { service: spec, nosort: fmt.nosort === true }) };
  const f = fmtOf(fmt);
  return { ok: true, text: title(f) + serviceEntry(s, f, resolverFor(f.numeric, resolver)) };
}

/** `ipvsadm -S [-n]`: the rules that recreate the table, with names unless `numeric`. */
export function formatSave(snap: IpvsSnapshot, numeric: boolean, resolver?: NameResolver): string {
  return listAll(snap, fmtOf({ numeric }, true), resolverFor(numeric, resolver));
}

/** `ipvsadm -L --timeout` (list_timeout). */
export function formatTimeout(t: TimeoutSnap): string {
  return `Timeout (tcp tcpfin udp): ${i32(t.tcp)} ${i32(t.tcpfin)} ${i32(t.udp)}\n`;
}

/** `ipvsadm -L --daemon` (list_daemon): one line per running daemon, master first. */
export function formatDaemon(daemons: readonly DaemonSnap[]): string {
  let out = '';
  for (const state of ['master', 'backup'] as const) {
    for (const d of daemons) {
      if (d.state !== state) continue;
      // mcast_ifn is a 16-byte field.
      out += `${state} sync daemon (mcast=${cut(d.mcastIfn, 15)}, syncid=${i32(d.syncId)}`;
      if (d.syncMaxlen !== 0) out += `, maxlen=${u32(d.syncMaxlen)}`;
      if (d.mcastGroup !== null) {
        const g = decodeConnAddr(d.mcastGroup);
        out += `, group=${ntop(g)}`;
      }
      if (d.mcastPort !== 0) out += `, port=${u32(d.mcastPort)}`;
      if (d.mcastTtl !== 0) out += `, ttl=${u32(d.mcastTtl)}`;
      out += ')\n';
    }
  }
  return out;
}

const PROTO_BY_NAME: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/**
 * print_conn's address decoding: the client address decides the family of both the client and
 * the virtual address (IPv6 text, dotted IPv4, or the kernel's hex); an unreadable virtual
 * address of that family reads as zero.
 */
function clientVirtual(caddr: string, vaddr: string): [CAddr, CAddr] {
  const c6 = decodeAddr(6, caddr);
  if (c6 !== null) return [c6, decodeAddr(6, vaddr) ?? decodeConnAddr('::')];
  const c4 = decodeAddr(4, caddr);
  if (c4 !== null) return [c4, decodeAddr(4, vaddr) ?? addr4Words(0)];
  return [addr4Words(strtoulHex32(caddr)), addr4Words(strtoulHex32(vaddr))];
}

/**
 * `ipvsadm -L -c` (list_conn/print_conn) over the lines of /proc/net/ip_vs_conn: expiry as
 * mm:ss (minutes not capped), names unless -n (ports only for TCP, UDP and SCTP), and with
 * --persistent-conn the persistence engine columns for conns that have them.
 */
export function formatConnections(
  conns: readonly ConnSnap[],
  fmt: Partial<ListFormat>,
  resolver?: NameResolver,
): string {
  const pc = fmt.persistentConn === true;
  const r = resolverFor(fmt.numeric === true, resolver);
  let out = 'IPVS connection entries\n';
  out += pc
    ? `pro expire ${padRight('state', 11)} ${padRight('source', 18)} ${padRight('virtual', 18)} ` +
      `${padRight('destination', 18)} ${padRight('pe name', 16)} pe_data\n`
    : `pro expire ${padRight('state', 11)} ${padRight('source', 18)} ${padRight('virtual', 18)} destination\n`;
  for (const c of conns) {
    const proto = PROTO_BY_NAME[c.proto] ?? 0;
    const [ca, va] = clientVirtual(c.caddr, c.vaddr);
    const da = decodeConnAddr(c.daddr);
    const cname = addrPortName(ca, c.cport, proto, r);
    const vname = addrPortName(va, c.vport, proto, r);
    const dname = addrPortName(da, c.dport, proto, r);
    const e = Math.trunc(c.expiresSec) >>> 0;
    const expire = `${String(Math.floor(e / 60)).padStart(2, '0')}:${String(e % 60).padStart(2, '0')}`;
    const head = `${padRight(c.proto, 3)} ${padRight(expire, 6)} ${padRight(c.state, 11)} ${padRight(cname, 18)} ${padRight(vname, 18)}`;
    const hasPe = c.peName !== undefined && c.peName !== '' && c.peData !== undefined && c.peData !== '';
    if (pc && hasPe) out += `${head} ${padRight(dname, 16)} ${padRight(c.peName!, 18)} ${c.peData!}\n`;
    else out += `${head} ${dname}\n`;
  }
  return out;
}

export interface ListCommandLike {
  readonly what: ListWhat;
  readonly service: ServiceSpec | null;
  readonly format: ListFormat;
}

export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Everything `ipvsadm -L ...` prints for a parsed list command (args.ts), and its exit status. */
export function formatListCommand(
  snap: IpvsSnapshot,
  cmd: ListCommandLike,
  resolver?: NameResolver,
): CommandOutput {
  if (cmd.what === 'service' && cmd.service !== null) {
    const r = formatService(snap, cmd.service, cmd.format, resolver);
    return r.ok
      ? { stdout: r.text, stderr: '', exitCode: 0 }
      : { stdout: '', stderr: r.message, exitCode: r.exitCode };
  }
  return { stdout: formatList(snap, cmd.format, resolver), stderr: '', exitCode: 0 };
}

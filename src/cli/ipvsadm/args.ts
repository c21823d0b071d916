/**
 * ipvsadm 1.31 command-line parsing: parse_options() and process_options() of ipvsadm.c, with
 * popt's tokenising (popt.ts) and glibc's number and address parsing (clib.ts), up to the point
 * where ipvsadm would talk to the kernel. The result is either a typed command or exactly what
 * ipvsadm would print to stderr and the status it would exit with.
 *
 * Behaviour worth knowing (all as in ipvsadm):
 * - The first option must be the command; anything else first is a usage error ("Try ..."). A
 *   second command later on is reported as "invalid option `<argv element>'" (ipvsadm's
 *   "multiple commands specified" can never be reached, because only the first option is
 *   checked for being a command).
 * - popt errors after the command ("--foo: unknown option") make process_options return -1
 *   without exiting, so `ipvsadm -R` goes on with the next line; every other error exits.
 * - Checks happen in this order: each option in argv order (repeats, then its value), the --set
 *   values, leftover arguments, -b flags (against the final scheduler), the legality matrix,
 *   then the per-command checks.
 *
 * Extensions (see tables.ts): `--fullnat` (FullNAT forwarding; DPVS spells it -b/--fullnat, but
 * -b is ipvsadm's --sched-flags, so only the long form exists here), the DPVS local-address
 * commands `--add-laddr`/`--del-laddr`/`--get-laddr` with `--laddr` and `--ifname` (long forms
 * only; DPVS's -P/-Q/-G/-z/-F would turn upstream "unknown option" errors into something else),
 * and `--json` for -L.
 */
import type { IpAddr } from '../../model/addr.ts';
import { addr4, addr6 } from '../../model/addr.ts';
import type { Af } from '../../model/flags.ts';
import {
  DEFAULT_PERSISTENT_TIMEOUT,
  Fwd,
  Proto,
  SVC_SCHED_FLAGS,
  SvcFlag,
  TunFlag,
  TunType,
} from '../../model/flags.ts';
import { cAtoi, cIsDigit, cString, inetAton, inetPton4, inetPton6, strtol10, truncateBytes } from './clib.ts';
import { usageText, versionText } from './help.ts';
import type { PoptOption } from './popt.ts';
import { PoptContext, PoptError, poptStrerror } from './popt.ts';
import type { ResolveHost, ResolveService, ServiceProto } from './resolve.ts';
import { noHosts, noServices } from './resolve.ts';
import {
  Cmd,
  CMD_NAMES,
  LEGALITY,
  OPT_NAMES,
  Optc,
  TUN_LEGALITY,
  TUN_NAMES,
  TUN_OPT_COLUMNS,
} from './tables.ts';

export { usageText, versionText } from './help.ts';
export { splitRestoreInput, splitRestoreLine } from './restore.ts';

/** MAX_TIMEOUT: 31 days. */
export const MAX_TIMEOUT = 86400 * 31;
/** DEF_SCHED */
export const DEFAULT_SCHEDULER = 'wlc';
/** DEF_MCAST_IFN, used by --start-daemon when --mcast-interface is not given. */
export const DEFAULT_MCAST_IFN = 'eth0';

/** A virtual service as given by -t/-u/--sctp-service or -f. */
export interface ServiceSpec {
  readonly af: Af;
  /** IPPROTO_TCP/UDP/SCTP; 0 for a firewall-mark service (ipvsadm sends a dummy TCP there). */
  readonly protocol: number;
  /** Null for a firewall-mark service. */
  readonly addr: IpAddr | null;
  readonly port: number;
  /** 0 unless -f. */
  readonly fwmark: number;
}

/** A real server (-r) and its options. */
export interface DestSpec {
  readonly af: Af;
  readonly addr: IpAddr;
  /** Already forced to the service port for DR/TUN (non-fwmark), as ipvsadm does. */
  readonly port: number;
  readonly fwd: Fwd;
  readonly weight: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly tunType: TunType;
  readonly tunPort: number;
  /** TunFlag bits. */
  readonly tunFlags: number;
}

export interface ListFormat {
  readonly numeric: boolean;
  readonly connection: boolean;
  readonly timeout: boolean;
  readonly daemon: boolean;
  readonly stats: boolean;
  readonly rate: boolean;
  readonly thresholds: boolean;
  readonly persistentConn: boolean;
  readonly tunInfo: boolean;
  readonly nosort: boolean;
  readonly exact: boolean;
  readonly json: boolean;
}

/** What -L shows, in ipvsadm's dispatch order: -c, a given service, --timeout, --daemon, all. */
export type ListWhat = 'connections' | 'service' | 'timeout' | 'daemon' | 'all';

export interface DaemonSpec {
  readonly state: 'master' | 'backup';
  /** '' for --stop-daemon unless given; DEFAULT_MCAST_IFN for --start-daemon unless given. */
  readonly mcastIfn: string;
  readonly syncId: number;
  /** 0 = kernel default. */
  readonly syncMaxlen: number;
  readonly mcastGroup: IpAddr | null;
  /** 0 = kernel default. */
  readonly mcastPort: number;
  /** 0 = kernel default. */
  readonly mcastTtl: number;
}

export type IpvsadmCommand =
  | {
      readonly kind: 'add-service' | 'edit-service';
      readonly service: ServiceSpec;
      readonly scheduler: string;
      /** SvcFlag bits: PERSISTENT, ONEPACKET, SCHED1..3. */
      readonly flags: number;
      /** Persistence timeout in seconds; 0 when not persistent. */
      readonly timeout: number;
      /** IPv4: the mask as a host-order uint32 (0xffffffff by default); IPv6: a prefix length. */
      readonly netmask: number;
      /** Persistence engine name, '' when not given. */
      readonly pe: string;
    }
  | { readonly kind: 'delete-service'; readonly service: ServiceSpec }
  | { readonly kind: 'flush' }
  | {
      readonly kind: 'list';
      readonly what: ListWhat;
      readonly service: ServiceSpec | null;
      readonly format: ListFormat;
    }
  | {
      readonly kind: 'add-server' | 'edit-server' | 'delete-server';
      readonly service: ServiceSpec;
      readonly dest: DestSpec;
    }
  | { readonly kind: 'set-timeout'; readonly tcp: number; readonly tcpFin: number; readonly udp: number }
  | { readonly kind: 'start-daemon' | 'stop-daemon'; readonly daemon: DaemonSpec }
  | { readonly kind: 'restore' }
  | { readonly kind: 'save'; readonly numeric: boolean }
  | { readonly kind: 'zero'; readonly service: ServiceSpec | null }
  | {
      readonly kind: 'add-laddr' | 'del-laddr';
      readonly service: ServiceSpec;
      readonly laddr: IpAddr;
      readonly ifname: string;
    }
  | { readonly kind: 'get-laddr'; readonly service: ServiceSpec | null }
  /** -h: print `text` to stdout, exit 0. */
  | { readonly kind: 'help'; readonly text: string }
  /** -v: print `text` to stdout, exit 0. */
  | { readonly kind: 'version'; readonly text: string }
  /** A restore line with no tokens: restore skips it. */
  | { readonly kind: 'noop' };

export interface ParseOk {
  readonly ok: true;
  readonly cmd: IpvsadmCommand;
}

export interface ParseError {
  readonly ok: false;
  /** Exactly what ipvsadm writes to stderr, final newline included ('' for the -b crash). */
  readonly message: string;
  /** 2 for fail(), 255 for usage and popt errors, 139 (SIGSEGV) for `-b ,`. */
  readonly exitCode: number;
  /**
   * ipvsadm does not get as far as an error message: 'segfault' for a -b value of only commas
   * (strtok finds no flag and ipvsadm strcmp()s the NULL), 'hang' for a "!#:+" in an option
   * argument with nothing left to take while options remain (popt loops forever). The message
   * is '' in both cases; ipvsadm never reports anything for them.
   */
  readonly abnormal?: 'segfault' | 'hang';
  /** The message is the "Try `ipvsadm -h' ..." line. */
  readonly usage?: boolean;
  /**
   * ipvsadm exits at once. False only for popt errors after the command, where process_options
   * returns -1 and `ipvsadm -R` carries on with the next line.
   */
  readonly exits: boolean;
}

export type ParseResult = ParseOk | ParseError;

export interface ParseOptions {
  /** argv[0], used in usage and help text. Default 'ipvsadm'. */
  readonly progName?: string;
  /** gethostbyname; default: no names resolve. */
  readonly resolveHost?: ResolveHost;
  /** getservbyname; default: no names resolve. */
  readonly resolveService?: ResolveService;
  /**
   * The argv is a line of `ipvsadm -R` input: a nested -R is refused and an empty line is a
   * no-op. (A help or version line prints its text and ends the whole restore with status 0.)
   */
  readonly restoreMode?: boolean;
  /** POSIXLY_CORRECT is set: popt stops at the first non-option argument. */
  readonly posixlyCorrect?: boolean;
}

// popt option values: the short option character where there is one, else a tag >= 128.
const V = {
  A: 65,
  E: 69,
  D: 68,
  C: 67,
  L: 76,
  l: 108,
  Z: 90,
  a: 97,
  e: 101,
  d: 100,
  h: 104,
  v: 118,
  R: 82,
  S: 83,
  t: 116,
  u: 117,
  f: 102,
  s: 115,
  p: 112,
  M: 77,
  r: 114,
  m: 109,
  i: 105,
  g: 103,
  w: 119,
  x: 120,
  y: 121,
  n: 110,
  c: 99,
  /** --syncid has no short form; ipvsadm uses 'I' as its value. */
  I: 73,
  X: 88,
  six: 54,
  o: 111,
  b: 98,
  SET: 128,
  START_DAEMON: 129,
  STOP_DAEMON: 130,
  MCAST_INTERFACE: 131,
  TIMEOUT: 132,
  DAEMON: 133,
  STATS: 134,
  RATE: 135,
  THRESHOLDS: 136,
  PERSISTENTCONN: 137,
  SORT: 138,
  NO_SORT: 139,
  PE: 140,
  SCTP_SERVICE: 141,
  MCAST_GROUP: 142,
  MCAST_PORT: 143,
  MCAST_TTL: 144,
  SYNC_MAXLEN: 145,
  TUN_INFO: 146,
  TUN_TYPE: 147,
  TUN_PORT: 148,
  TUN_NOCSUM: 149,
  TUN_CSUM: 150,
  TUN_REMCSUM: 151,
  // extensions
  FULLNAT: 200,
  ADD_LADDR: 201,
  DEL_LADDR: 202,
  GET_LADDR: 203,
  LADDR: 204,
  IFNAME: 205,
  JSON: 206,
} as const;

function o(long: string | null, short: string | null, arg: PoptOption['arg'], val: number): PoptOption {
  return { long, short, arg, val };
}

/** ipvsadm's popt table, in its order ("list" appears twice: -L and -l). */
const OPTIONS: readonly PoptOption[] = [
  o('add-service', 'A', 'none', V.A),
  o('edit-service', 'E', 'none', V.E),
  o('delete-service', 'D', 'none', V.D),
  o('clear', 'C', 'none', V.C),
  o('list', 'L', 'none', V.L),
  o('list', 'l', 'none', V.l),
  o('zero', 'Z', 'none', V.Z),
  o('add-server', 'a', 'none', V.a),
  o('edit-server', 'e', 'none', V.e),
  o('delete-server', 'd', 'none', V.d),
  o('set', null, 'none', V.SET),
  o('help', 'h', 'none', V.h),
  o('version', 'v', 'none', V.v),
  o('restore', 'R', 'none', V.R),
  o('save', 'S', 'none', V.S),
  o('start-daemon', null, 'string', V.START_DAEMON),
  o('stop-daemon', null, 'string', V.STOP_DAEMON),
  o('tcp-service', 't', 'string', V.t),
  o('udp-service', 'u', 'string', V.u),
  o('sctp-service', null, 'string', V.SCTP_SERVICE),
  o('fwmark-service', 'f', 'string', V.f),
  o('scheduler', 's', 'string', V.s),
  o('persistent', 'p', 'optional', V.p),
  o('netmask', 'M', 'string', V.M),
  o('real-server', 'r', 'string', V.r),
  o('masquerading', 'm', 'none', V.m),
  o('ipip', 'i', 'none', V.i),
  o('gatewaying', 'g', 'none', V.g),
  o('weight', 'w', 'string', V.w),
  o('u-threshold', 'x', 'string', V.x),
  o('l-threshold', 'y', 'string', V.y),
  o('numeric', 'n', 'none', V.n),
  o('connection', 'c', 'none', V.c),
  o('mcast-interface', null, 'string', V.MCAST_INTERFACE),
  o('syncid', null, 'string', V.I),
  o('timeout', null, 'none', V.TIMEOUT),
  o('daemon', null, 'none', V.DAEMON),
  o('stats', null, 'none', V.STATS),
  o('rate', null, 'none', V.RATE),
  o('thresholds', null, 'none', V.THRESHOLDS),
  o('persistent-conn', null, 'none', V.PERSISTENTCONN),
  o('nosort', null, 'none', V.NO_SORT),
  o('sort', null, 'none', V.SORT),
  o('exact', 'X', 'none', V.X),
  o('ipv6', '6', 'none', V.six),
  o('ops', 'o', 'none', V.o),
  o('pe', null, 'string', V.PE),
  o('sched-flags', 'b', 'string', V.b),
  o('mcast-group', null, 'string', V.MCAST_GROUP),
  o('mcast-port', null, 'string', V.MCAST_PORT),
  o('mcast-ttl', null, 'string', V.MCAST_TTL),
  o('sync-maxlen', null, 'string', V.SYNC_MAXLEN),
  o('tun-info', null, 'none', V.TUN_INFO),
  o('tun-type', null, 'string', V.TUN_TYPE),
  o('tun-port', null, 'string', V.TUN_PORT),
  o('tun-nocsum', null, 'none', V.TUN_NOCSUM),
  o('tun-csum', null, 'none', V.TUN_CSUM),
  o('tun-remcsum', null, 'none', V.TUN_REMCSUM),
  o('fullnat', null, 'none', V.FULLNAT),
  o('add-laddr', null, 'none', V.ADD_LADDR),
  o('del-laddr', null, 'none', V.DEL_LADDR),
  o('get-laddr', null, 'none', V.GET_LADDR),
  o('laddr', null, 'string', V.LADDR),
  o('ifname', null, 'string', V.IFNAME),
  o('json', null, 'none', V.JSON),
];

/** Thrown inside the parser for every way ipvsadm stops; caught in parseIpvsadm. */
class Stop extends Error {
  readonly result: ParseResult;
  constructor(result: ParseResult) {
    super('ipvsadm stops here');
    this.result = result;
  }
}

const HANG: ParseError = { ok: false, message: '', exitCode: 255, exits: true, abnormal: 'hang' };

function fail(msg: string): never {
  throw new Stop({ ok: false, message: `${msg}\n`, exitCode: 2, exits: true });
}

function tryHelp(prog: string): never {
  throw new Stop({
    ok: false,
    message: `Try \`${prog} -h' or '${prog} --help' for more information.\n`,
    exitCode: 255,
    usage: true,
    exits: true,
  });
}

/** string_to_number: the whole string is a decimal long within min..max, else -1. */
export function stringToNumber(s: string, min: number, max: number): number {
  const r = strtol10(s);
  if (r.end === 0 || r.end !== s.length || r.erange) return -1;
  return r.value >= BigInt(min) && r.value <= BigInt(max) ? Number(r.value) : -1;
}

/** str_is_digit: true for a string of digits only, and (a C quirk) for the empty string. */
function strIsDigit(s: string): boolean {
  for (const ch of s) if (!cIsDigit(ch)) return false;
  return true;
}

export interface ServiceResolvers {
  readonly host: ResolveHost;
  readonly service: ResolveService;
}

interface ParsedService {
  readonly af: Af;
  readonly addr: IpAddr;
  /** Null when no port was given (SERVICE_ADDR only). */
  readonly port: number | null;
}

function serviceProto(protocol: number): ServiceProto | null {
  if (protocol === Proto.TCP) return 'tcp';
  if (protocol === Proto.UDP) return 'udp';
  if (protocol === Proto.SCTP) return 'sctp';
  return null;
}

/**
 * parse_service: `[v6]:port`, a bare IPv6 address (no port possible), or `host[:port]` split at
 * the last ':' with the host through inet_aton or gethostbyname. Null is SERVICE_NONE.
 * Quirks kept: a bracketed IPv4 or name loses its port ("[1.2.3.4]:80" is 1.2.3.4 without a
 * port), "[...]" without ":port" is refused, and all-digit strings (and "") are refused.
 */
export function parseService(buf: string, protocol: number, r: ServiceResolvers): ParsedService | null {
  if (strIsDigit(buf)) return null;
  let host = buf;
  let port: string | null = null;
  if (host[0] === '[') {
    host = host.slice(1);
    const close = host.indexOf(']');
    if (close < 0) return null;
    if (host[close + 1] !== ':') return null;
    port = host.slice(close + 2);
    host = host.slice(0, close);
  }
  let af: Af;
  let addr: IpAddr;
  const v6 = inetPton6(host);
  if (v6 !== null) {
    af = 6;
    addr = addr6(v6);
  } else {
    const colon = host.lastIndexOf(':');
    port = colon < 0 ? null : host.slice(colon + 1);
    if (colon >= 0) host = host.slice(0, colon);
    const v4 = inetAton(host) ?? r.host(host);
    if (v4 === null) return null;
    af = 4;
    addr = addr4(v4);
  }
  if (port === null) return { af, addr, port: null };
  let p = stringToNumber(port, 0, 65535);
  if (p === -1) {
    const proto = serviceProto(protocol);
    const sp = proto === null ? null : r.service(port, proto);
    if (sp === null) return null;
    p = sp;
  }
  return { af, addr, port: p };
}

function parseTimeout(buf: string | null, min: number): number {
  if (buf === null) return DEFAULT_PERSISTENT_TIMEOUT;
  const n = stringToNumber(buf, min, MAX_TIMEOUT);
  if (n === -1) fail(`invalid timeout value \`${buf}' specified`);
  return n;
}

function parseFwmark(buf: string): number {
  const r = strtol10(buf);
  // The value lands in an unsigned long, so negative numbers become huge and fail the range check.
  if (r.end === 0 || r.end !== buf.length || r.erange || r.value <= 0n || r.value > 0xffffffffn) {
    fail(`invalid fwmark value \`${buf}' specified`);
  }
  return Number(r.value);
}

/** parse_sched_flags; the scheduler it checks against is the final -s value, or wlc. */
function parseSchedFlags(sched: string, arg: string): number | 'crash' {
  const s = sched !== '' ? sched : DEFAULT_SCHEDULER;
  const toks = arg.split(',').filter((t) => t !== '');
  // strtok finds no token in a string of commas, and ipvsadm then strcmp()s a NULL pointer.
  if (toks.length === 0) return 'crash';
  let flags = 0;
  for (const t of toks) {
    let needs: string | null = null;
    if (t === 'flag-1') flags |= SvcFlag.SCHED1;
    else if (t === 'flag-2') flags |= SvcFlag.SCHED2;
    else if (t === 'flag-3') flags |= SvcFlag.SCHED3;
    else if (t === 'sh-fallback' || t === 'mh-fallback') {
      flags |= SvcFlag.SCHED1;
      needs = t.slice(0, 2);
    } else if (t === 'sh-port' || t === 'mh-port') {
      flags |= SvcFlag.SCHED2;
      needs = t.slice(0, 2);
    } else fail(`invalid scheduler flag \`${t}'`);
    if (needs !== null && s !== needs) fail(`incompatible scheduler flag \`${t}'`);
  }
  return flags;
}

interface SvcState {
  af: 0 | Af;
  protocol: number;
  addr: IpAddr | null;
  port: number;
  fwmark: number;
  sched: string;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
}

interface DestState {
  af: 0 | Af;
  addr: IpAddr | null;
  port: number;
  fwd: Fwd;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: TunType;
  tunPort: number;
  tunFlags: number;
}

function serviceSpec(s: SvcState): ServiceSpec {
  const af: Af = s.af === 6 ? 6 : 4;
  if (s.fwmark !== 0) return { af, protocol: 0, addr: null, port: 0, fwmark: s.fwmark };
  return { af, protocol: s.protocol, addr: s.addr, port: s.port, fwmark: 0 };
}

function destSpec(d: DestState): DestSpec {
  return {
    af: d.af === 6 ? 6 : 4,
    addr: d.addr ?? addr4(0),
    port: d.port,
    fwd: d.fwd,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunFlags: d.tunFlags,
  };
}

/** generic_opt_check / tunnel_opt_check: walk the option columns of one matrix row. */
function checkRow(row: string, has: (col: number) => boolean, cols: readonly number[], what: string): void {
  let last = -1;
  for (let j = 0; j < cols.length; j++) {
    const col = cols[j];
    const rule = row[j];
    if (!has(col)) {
      if (rule === '+') fail(`You need to supply the '${OPT_NAMES[col]}' option for the ${what}`);
      continue;
    }
    if (rule === 'x') fail(`Illegal '${OPT_NAMES[col]}' option with the ${what}`);
    if (rule === '1') {
      if (last < 0) last = col;
      else
        fail(`The option '${OPT_NAMES[col]}' conflicts with the '${OPT_NAMES[last]}' option in the ${what}`);
    }
  }
}

const ALL_COLUMNS: readonly number[] = OPT_NAMES.map((_, i) => i);

/**
 * Parses one ipvsadm invocation. `argv` excludes the program name (pass `opts.progName`);
 * an empty argv is plain `ipvsadm`, which lists the table (or, in restore mode, a skipped line).
 * Never throws.
 */
export function parseIpvsadm(argv: readonly string[], opts: ParseOptions = {}): ParseResult {
  const prog = opts.progName ?? 'ipvsadm';
  const args = argv.map(cString);
  if (args.length === 0) {
    if (opts.restoreMode === true) return { ok: true, cmd: { kind: 'noop' } };
    return { ok: true, cmd: listCommand('all', null, emptyFormat()) };
  }
  try {
    return { ok: true, cmd: processOptions(args, prog, opts) };
  } catch (e) {
    if (e instanceof Stop) return e.result;
    throw e;
  }
}

function emptyFormat(): ListFormat {
  return {
    numeric: false,
    connection: false,
    timeout: false,
    daemon: false,
    stats: false,
    rate: false,
    thresholds: false,
    persistentConn: false,
    tunInfo: false,
    nosort: false,
    exact: false,
    json: false,
  };
}

function listCommand(what: ListWhat, service: ServiceSpec | null, format: ListFormat): IpvsadmCommand {
  return { kind: 'list', what, service, format };
}

function processOptions(args: readonly string[], prog: string, opts: ParseOptions): IpvsadmCommand {
  const res: ServiceResolvers = {
    host: opts.resolveHost ?? noHosts,
    service: opts.resolveService ?? noServices,
  };
  const svc: SvcState = {
    af: 0,
    protocol: 0,
    addr: null,
    port: 0,
    fwmark: 0,
    sched: '',
    flags: 0,
    timeout: 0,
    netmask: 0xffffffff,
    pe: '',
  };
  const dest: DestState = {
    af: 0,
    addr: null,
    port: 0,
    fwd: Fwd.DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: TunType.IPIP,
    tunPort: 0,
    tunFlags: 0,
  };
  const daemon = {
    state: 'master' as 'master' | 'backup',
    mcastIfn: '',
    syncId: 0,
    syncMaxlen: 0,
    mcastGroup: null as IpAddr | null,
    mcastPort: 0,
    mcastTtl: 0,
  };
  let laddr: IpAddr | null = null;
  let ifname = '';
  const has = new Array<boolean>(OPT_NAMES.length).fill(false);
  const setOption = (col: number): void => {
    if (has[col]) fail(`multiple '${OPT_NAMES[col]}' options specified`);
    has[col] = true;
  };

  // parse_options: the first option is the command.
  const ctx = new PoptContext(args, OPTIONS, opts.posixlyCorrect === true);
  let c = ctx.getNextOpt();
  if (c === PoptError.HANG) throw new Stop(HANG);
  if (c < 0) tryHelp(prog);
  let cmd: number;
  switch (c) {
    case V.A:
      cmd = Cmd.ADD;
      break;
    case V.E:
      cmd = Cmd.EDIT;
      break;
    case V.D:
      cmd = Cmd.DEL;
      break;
    case V.a:
      cmd = Cmd.ADDDEST;
      break;
    case V.e:
      cmd = Cmd.EDITDEST;
      break;
    case V.d:
      cmd = Cmd.DELDEST;
      break;
    case V.C:
      cmd = Cmd.FLUSH;
      break;
    case V.L:
    case V.l:
      cmd = Cmd.LIST;
      break;
    case V.Z:
      cmd = Cmd.ZERO;
      break;
    case V.SET:
      cmd = Cmd.TIMEOUT;
      break;
    case V.R:
      cmd = Cmd.RESTORE;
      break;
    case V.S:
      cmd = Cmd.SAVE;
      break;
    case V.START_DAEMON:
    case V.STOP_DAEMON: {
      cmd = c === V.START_DAEMON ? Cmd.STARTDAEMON : Cmd.STOPDAEMON;
      const state = ctx.optArg ?? '';
      if (state === 'master' || state === 'backup') daemon.state = state;
      else if (c === V.START_DAEMON) fail('illegal start-daemon parameter specified');
      else fail('illegal start_daemon specified');
      break;
    }
    case V.ADD_LADDR:
      cmd = Cmd.ADDLADDR;
      break;
    case V.DEL_LADDR:
      cmd = Cmd.DELLADDR;
      break;
    case V.GET_LADDR:
      cmd = Cmd.GETLADDR;
      break;
    case V.h:
      return { kind: 'help', text: usageText(prog) };
    case V.v:
      return { kind: 'version', text: versionText() };
    default:
      tryHelp(prog);
  }

  let schedFlagsArg = '';
  const arg = (): string => ctx.optArg ?? '';
  const range = (col: number, min: number, max: number, what: string): number => {
    setOption(col);
    const n = stringToNumber(arg(), min, max);
    if (n === -1) fail(`illegal ${what} specified`);
    return n;
  };
  while ((c = ctx.getNextOpt()) >= 0) {
    switch (c) {
      case V.t:
      case V.u:
      case V.SCTP_SERVICE: {
        setOption(Optc.SERVICE);
        svc.protocol = c === V.t ? Proto.TCP : c === V.u ? Proto.UDP : Proto.SCTP;
        const p = parseService(arg(), svc.protocol, res);
        if (p === null) fail('illegal virtual server address[:port] specified');
        svc.af = p.af;
        svc.addr = p.addr;
        if (p.af === 6) svc.netmask = 128;
        if (p.port !== null) svc.port = p.port;
        break;
      }
      case V.f:
        setOption(Optc.SERVICE);
        // ipvsadm sets IPv4 and a dummy TCP protocol; -6 may switch the family afterwards.
        svc.af = 4;
        svc.protocol = Proto.TCP;
        svc.fwmark = parseFwmark(arg());
        break;
      case V.s:
        setOption(Optc.SCHEDULER);
        svc.sched = truncateBytes(arg(), 15);
        break;
      case V.p:
        setOption(Optc.PERSISTENT);
        svc.flags |= SvcFlag.PERSISTENT;
        svc.timeout = parseTimeout(ctx.optArg, 1);
        break;
      case V.M:
        setOption(Optc.NETMASK);
        if (svc.af !== 6) {
          // An IPv4 mask: dotted (any inet_aton form) or even a host name.
          const m = inetAton(arg()) ?? res.host(arg());
          if (m === null) fail('illegal virtual server persistent mask specified');
          svc.netmask = m;
        } else {
          svc.netmask = cAtoi(arg()) >>> 0;
          if (svc.netmask < 1 || svc.netmask > 128) fail('illegal ipv6 netmask specified');
        }
        break;
      case V.r: {
        setOption(Optc.SERVER);
        const p = parseService(arg(), svc.protocol, res);
        if (p === null) fail('illegal real server address[:port] specified');
        dest.af = p.af;
        dest.addr = p.addr;
        dest.port = p.port ?? svc.port;
        break;
      }
      case V.i:
      case V.g:
      case V.m:
      case V.FULLNAT:
        setOption(Optc.FORWARD);
        dest.fwd = c === V.i ? Fwd.TUNNEL : c === V.g ? Fwd.DROUTE : c === V.m ? Fwd.MASQ : Fwd.FULLNAT;
        break;
      case V.w:
        dest.weight = range(Optc.WEIGHT, 0, 65535, 'weight');
        break;
      case V.x:
        dest.uThreshold = range(Optc.UTHRESHOLD, 0, 0x7fffffff, 'u_threshold');
        break;
      case V.y:
        dest.lThreshold = range(Optc.LTHRESHOLD, 0, 0x7fffffff, 'l_threshold');
        break;
      case V.c:
        setOption(Optc.CONNECTION);
        break;
      case V.n:
        setOption(Optc.NUMERIC);
        break;
      case V.MCAST_INTERFACE:
        setOption(Optc.MCAST);
        daemon.mcastIfn = truncateBytes(arg(), 15);
        break;
      case V.I:
        daemon.syncId = range(Optc.SYNCID, 0, 255, 'syncid');
        break;
      case V.TIMEOUT:
        setOption(Optc.TIMEOUT);
        break;
      case V.DAEMON:
        setOption(Optc.DAEMON);
        break;
      case V.STATS:
        setOption(Optc.STATS);
        break;
      case V.RATE:
        setOption(Optc.RATE);
        break;
      case V.THRESHOLDS:
        setOption(Optc.THRESHOLDS);
        break;
      case V.PERSISTENTCONN:
        setOption(Optc.PERSISTENTCONN);
        break;
      case V.NO_SORT:
        setOption(Optc.NOSORT);
        break;
      case V.SORT:
        // Sorting is the default; --sort is accepted for compatibility and has no option bit.
        break;
      case V.X:
        setOption(Optc.EXACT);
        break;
      case V.six:
        // No option bit: -6 may repeat, and it only needs a fwmark parsed before it.
        if (svc.fwmark === 0) fail('-6 used before -f\n');
        svc.af = 6;
        svc.netmask = 128;
        break;
      case V.o:
        setOption(Optc.ONEPACKET);
        svc.flags |= SvcFlag.ONEPACKET;
        break;
      case V.PE:
        setOption(Optc.PE);
        svc.pe = truncateBytes(arg(), 16);
        break;
      case V.b:
        setOption(Optc.SCHED_FLAGS);
        schedFlagsArg = truncateBytes(arg(), 127);
        break;
      case V.MCAST_GROUP: {
        setOption(Optc.MCAST_GROUP);
        const g = arg();
        if (g.includes(':')) {
          const b = inetPton6(g);
          if (b === null || b[0] !== 0xff) fail(`invalid IPv6 mcast-group \`${g}'`);
          daemon.mcastGroup = addr6(b);
        } else {
          const v = inetPton4(g);
          if (v === null || v >>> 28 !== 0xe) fail(`invalid IPv4 mcast-group \`${g}'`);
          daemon.mcastGroup = addr4(v);
        }
        break;
      }
      case V.MCAST_PORT:
        daemon.mcastPort = range(Optc.MCAST_PORT, 1, 65535, 'mcast-port');
        break;
      case V.MCAST_TTL:
        daemon.mcastTtl = range(Optc.MCAST_TTL, 1, 255, 'mcast-ttl');
        break;
      case V.SYNC_MAXLEN:
        // 65535 less the IP and UDP headers.
        daemon.syncMaxlen = range(Optc.SYNC_MAXLEN, 1, 65535 - 20 - 8, 'sync-maxlen');
        break;
      case V.TUN_INFO:
        setOption(Optc.TUN_INFO);
        break;
      case V.TUN_TYPE: {
        setOption(Optc.TUN_TYPE);
        const t = TUN_NAMES.indexOf(arg() as (typeof TUN_NAMES)[number]);
        if (t < 0) fail('illegal tunnel type specified');
        dest.tunType = t as TunType;
        break;
      }
      case V.TUN_PORT:
        dest.tunPort = range(Optc.TUN_PORT, 1, 65535, 'tunnel port');
        break;
      case V.TUN_NOCSUM:
        setOption(Optc.TUN_NOCSUM);
        dest.tunFlags |= TunFlag.NOCSUM;
        break;
      case V.TUN_CSUM:
        setOption(Optc.TUN_CSUM);
        dest.tunFlags |= TunFlag.CSUM;
        break;
      case V.TUN_REMCSUM:
        setOption(Optc.TUN_REMCSUM);
        dest.tunFlags |= TunFlag.REMCSUM;
        break;
      case V.LADDR: {
        setOption(Optc.LADDR);
        const p = parseService(arg(), 0, res);
        if (p === null) fail('illegal local address');
        laddr = p.addr;
        break;
      }
      case V.IFNAME:
        setOption(Optc.IFNAME);
        ifname = truncateBytes(arg(), 15);
        break;
      case V.JSON:
        setOption(Optc.JSON);
        break;
      default:
        // A command (or -h/-v) after the first option.
        fail(`invalid option \`${ctx.badOption()}'`);
    }
  }
  if (c === PoptError.HANG) throw new Stop(HANG);
  if (c < -1) {
    throw new Stop({
      ok: false,
      message: `${ctx.badOption()}: ${poptStrerror(c)}\n`,
      exitCode: 255,
      exits: false,
    });
  }

  let timeouts = { tcp: 0, tcpFin: 0, udp: 0 };
  if (cmd === Cmd.TIMEOUT) {
    const a0 = ctx.getArg();
    const a1 = a0 === null ? null : ctx.getArg();
    const a2 = a1 === null ? null : ctx.getArg();
    if (a0 === null || a1 === null || a2 === null) fail('--set option requires 3 timeout values');
    timeouts = { tcp: parseTimeout(a0, 0), tcpFin: parseTimeout(a1, 0), udp: parseTimeout(a2, 0) };
  }
  const extra = ctx.getArg();
  if (extra !== null) fail(`unexpected argument ${extra}`);

  if (schedFlagsArg !== '') {
    const f = parseSchedFlags(svc.sched, schedFlagsArg);
    if (f === 'crash')
      throw new Stop({ ok: false, message: '', exitCode: 139, exits: true, abnormal: 'segfault' });
    svc.flags = (svc.flags & ~SVC_SCHED_FLAGS) | f;
  }

  // process_options
  checkRow(LEGALITY[cmd - 1], (col) => has[col], ALL_COLUMNS, `'${CMD_NAMES[cmd - 1]}' command`);

  if (cmd === Cmd.ADD || cmd === Cmd.EDIT) {
    // A port-0 service only makes sense when persistence pins clients to one real server.
    if (svc.fwmark === 0 && svc.port === 0 && (svc.flags & SvcFlag.PERSISTENT) === 0) {
      fail('Zero port specified for non-persistent service');
    }
    if ((svc.flags & SvcFlag.ONEPACKET) !== 0 && svc.fwmark === 0 && svc.protocol !== Proto.UDP) {
      fail('One-Packet Scheduling is only for UDP virtual services');
    }
    if (svc.sched === '') svc.sched = DEFAULT_SCHEDULER;
  }
  if (cmd === Cmd.STARTDAEMON && daemon.mcastIfn === '') daemon.mcastIfn = DEFAULT_MCAST_IFN;

  if (cmd === Cmd.ADDDEST || cmd === Cmd.EDITDEST) {
    // DR and TUN cannot change the destination port, so ipvsadm quietly uses the service port.
    if (svc.fwmark === 0 && (dest.fwd === Fwd.TUNNEL || dest.fwd === Fwd.DROUTE)) dest.port = svc.port;
    if (dest.af !== svc.af && dest.fwd !== Fwd.TUNNEL) {
      fail('Different address family is allowed only for tunneling servers');
    }
    const tunOpts =
      has[Optc.TUN_TYPE] ||
      has[Optc.TUN_PORT] ||
      has[Optc.TUN_NOCSUM] ||
      has[Optc.TUN_CSUM] ||
      has[Optc.TUN_REMCSUM];
    if (tunOpts && dest.fwd !== Fwd.TUNNEL) fail('Tunnel options conflict with forward method');
    checkRow(
      TUN_LEGALITY[dest.tunType],
      (col) => has[col],
      TUN_OPT_COLUMNS,
      `'${TUN_NAMES[dest.tunType]}' tunnel type`,
    );
  }

  const service = has[Optc.SERVICE] ? serviceSpec(svc) : null;
  switch (cmd) {
    case Cmd.LIST: {
      if (
        ((has[Optc.CONNECTION] || has[Optc.TIMEOUT] || has[Optc.DAEMON]) &&
          (has[Optc.STATS] || has[Optc.RATE] || has[Optc.THRESHOLDS])) ||
        ((has[Optc.TIMEOUT] || has[Optc.DAEMON]) && has[Optc.PERSISTENTCONN])
      ) {
        fail('options conflicts in the list command');
      }
      const format: ListFormat = {
        numeric: has[Optc.NUMERIC],
        connection: has[Optc.CONNECTION],
        timeout: has[Optc.TIMEOUT],
        daemon: has[Optc.DAEMON],
        stats: has[Optc.STATS],
        rate: has[Optc.RATE],
        thresholds: has[Optc.THRESHOLDS],
        persistentConn: has[Optc.PERSISTENTCONN],
        tunInfo: has[Optc.TUN_INFO],
        nosort: has[Optc.NOSORT],
        exact: has[Optc.EXACT],
        json: has[Optc.JSON],
      };
      const what: ListWhat = format.connection
        ? 'connections'
        : service !== null
          ? 'service'
          : format.timeout
            ? 'timeout'
            : format.daemon
              ? 'daemon'
              : 'all';
      return listCommand(what, service, format);
    }
    case Cmd.RESTORE:
      // restore_table refuses to nest.
      if (opts.restoreMode === true) tryHelp(prog);
      return { kind: 'restore' };
    case Cmd.SAVE:
      return { kind: 'save', numeric: has[Optc.NUMERIC] };
    case Cmd.FLUSH:
      return { kind: 'flush' };
    case Cmd.ADD:
    case Cmd.EDIT:
      return {
        kind: cmd === Cmd.ADD ? 'add-service' : 'edit-service',
        service: service!,
        scheduler: svc.sched,
        flags: svc.flags,
        timeout: svc.timeout,
        netmask: svc.netmask,
        pe: svc.pe,
      };
    case Cmd.DEL:
      return { kind: 'delete-service', service: service! };
    case Cmd.ZERO:
      return { kind: 'zero', service };
    case Cmd.ADDDEST:
    case Cmd.EDITDEST:
    case Cmd.DELDEST:
      return {
        kind: cmd === Cmd.ADDDEST ? 'add-server' : cmd === Cmd.EDITDEST ? 'edit-server' : 'delete-server',
        service: service!,
        dest: destSpec(dest),
      };
    case Cmd.TIMEOUT:
      return { kind: 'set-timeout', ...timeouts };
    case Cmd.STARTDAEMON:
    case Cmd.STOPDAEMON:
      return { kind: cmd === Cmd.STARTDAEMON ? 'start-daemon' : 'stop-daemon', daemon: { ...daemon } };
    case Cmd.ADDLADDR:
    case Cmd.DELLADDR:
      return {
        kind: cmd === Cmd.ADDLADDR ? 'add-laddr' : 'del-laddr',
        service: service!,
        laddr: laddr!,
        ifname,
      };
    default:
      return { kind: 'get-laddr', service };
  }
}

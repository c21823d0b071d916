/**
 * Loading an `ipvsadm-save` / `ipvsadm -R` rules file into a ServiceTable, all or nothing.
 *
 * Each line is cut into words as ipvsadm -R does (splitRestoreLine: a word "ipvsadm" is dropped,
 * blank lines are skipped), parsed exactly like an ipvsadm command line (parseIpvsadm in restore
 * mode), and applied with the kernel's validation (ServiceTable). Unlike ipvsadm -R, which
 * runs line by line and stops half-way on the first failure, every line is first applied to a
 * scratch copy of the table; only if all of them succeed are they applied to the real one. The
 * first failure is reported as `file:line: message` with ipvsadm's own message, the option it is
 * about (`-r 10.0.0.1:80`) and, for kernel-side failures, the detail the kernel would log.
 *
 * Differences from ipvsadm -R, on purpose:
 * - A line whose first word starts with `#` is a comment (ipvsadm has no comments at all and
 *   stops with a usage error there).
 * - popt errors after the command ("--foo: unknown option"), which ipvsadm -R reports and then
 *   skips, are errors here too.
 * - Commands that only make sense interactively (-L, -S, -R, -h, -v, the sync daemon) are refused.
 * - Line numbers are physical lines, and the last line counts even when it ends in blanks without
 *   a newline (config_stream_read would lose it).
 *
 * This module knows nothing about the simulator or the daemon; both use it.
 */
import type { DestSpec, IpvsadmCommand, ParseError, ServiceSpec } from './ipvsadm/args.ts';
import { parseIpvsadm, splitRestoreLine } from './ipvsadm/args.ts';
import type { ResolveHost, ResolveService } from './ipvsadm/resolve.ts';
import type { DestOpts, ServiceKey, ServiceOpts } from '../control/services.ts';
import { ServiceTable } from '../control/services.ts';
import { IpvsError, IpvsErrorCode } from '../model/errors.ts';
import type { IpAddr } from '../model/addr.ts';
import { ipAddrEquals, ipAddrToString } from '../model/addr.ts';
import type { Service } from '../model/service.ts';
import type { Dest } from '../model/dest.ts';
import type { IpvsadmTimeouts } from '../conn/timeouts.ts';
import { Timeouts } from '../conn/timeouts.ts';

export interface RulesOptions {
  /** gethostbyname for names in the rules (default: names do not resolve). */
  readonly resolveHost?: ResolveHost;
  /** getservbyname for port names such as `http` (default: none resolve). */
  readonly resolveService?: ResolveService;
  /** `--set tcp tcpfin udp` lines are applied here (after every line succeeded), if given. */
  readonly timeouts?: Timeouts;
}

/** One rules line, parsed. */
export interface RuleLine {
  /** 1-based line number in the file. */
  readonly line: number;
  /** The words of the line as ipvsadm sees them. */
  readonly argv: readonly string[];
  readonly cmd: IpvsadmCommand;
}

export interface RulesOk {
  readonly ok: true;
  /** The lines that were applied (comments and blank lines left out). */
  readonly rules: readonly RuleLine[];
  /** The last `--set` values, or null if the file has none. */
  readonly timeouts: IpvsadmTimeouts | null;
}

export interface RulesError {
  readonly ok: false;
  readonly file: string;
  readonly line: number;
  /** ipvsadm's message for the failure (no trailing newline). */
  readonly message: string;
  /** The option and value the failure is about, as written (`-r 10.0.0.1:80`), when known. */
  readonly token: string | null;
  /** What the kernel would log beside ipvsadm's message (`unknown scheduler 'foo'`), when any. */
  readonly detail: string | null;
  /** The whole report: `file:line: message: token (detail)`. */
  readonly text: string;
  /** Bad input: 2, like ipvsadm's fail(). */
  readonly exitCode: 2;
}

export type RulesResult = RulesOk | RulesError;

/** A failure while applying one command (kernel or local-address bookkeeping). */
export class ApplyFailure extends Error {
  readonly ipvsadmMessage: string;
  readonly detail: string;
  readonly blame: readonly string[];
  constructor(ipvsadmMessage: string, detail: string, blame: readonly string[]) {
    super(detail);
    this.ipvsadmMessage = ipvsadmMessage;
    this.detail = detail;
    this.blame = blame;
  }
}

/**
 * Applies the rules in `text` (from `fileName`, used in messages) to `table`. Either every line
 * is applied, or none is and the first failure comes back. Never throws on bad input.
 */
export function loadRules(
  text: string,
  fileName: string,
  table: ServiceTable,
  opts: RulesOptions = {},
): RulesResult {
  const scratch = new ServiceTable({
    now: () => 0,
    random: () => 0,
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
  copyTable(table, scratch);
  const scratchTimeouts = new Timeouts();
  const rules: RuleLine[] = [];
  let timeouts: IpvsadmTimeouts | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const argv = splitRestoreLine(lines[i]);
    if (argv.length === 0 || argv[0].startsWith('#')) continue;
    const lineNo = i + 1;
    const r = parseIpvsadm(argv, {
      restoreMode: true,
      resolveHost: opts.resolveHost,
      resolveService: opts.resolveService,
    });
    if (!r.ok) return parseFailure(fileName, lineNo, argv, r);
    const cmd = r.cmd;
    const refused = refusedCommand(cmd);
    if (refused !== null)
      return failure(fileName, lineNo, `${refused} cannot be used in a rules file`, argv[0], null);
    if (cmd.kind === 'noop') continue;
    try {
      if (cmd.kind === 'set-timeout') {
        // ip_vs_set_timeout refuses the whole triple on one bad value (EINVAL).
        if (!scratchTimeouts.set(cmd.tcp, cmd.tcpFin, cmd.udp))
          throw new IpvsError(IpvsErrorCode.INVALID, 'timeout out of range');
        timeouts = { tcp: cmd.tcp, tcpfin: cmd.tcpFin, udp: cmd.udp };
      } else {
        applyCommand(scratch, cmd);
      }
    } catch (e) {
      if (e instanceof IpvsError) return kernelFailure(fileName, lineNo, argv, cmd, e);
      if (e instanceof ApplyFailure)
        return failure(fileName, lineNo, e.ipvsadmMessage, findOption(argv, e.blame), e.detail);
      throw e;
    }
    rules.push({ line: lineNo, argv, cmd });
  }
  // Everything validated against an identical table: now the real one.
  for (const rl of rules) {
    if (rl.cmd.kind === 'set-timeout') opts.timeouts?.set(rl.cmd.tcp, rl.cmd.tcpFin, rl.cmd.udp);
    else applyCommand(table, rl.cmd);
  }
  return { ok: true, rules, timeouts };
}

/** The service key a parsed -t/-u/--sctp-service/-f names. */
export function serviceKeyOf(s: ServiceSpec): ServiceKey {
  return { af: s.af, proto: s.protocol, addr: s.addr, port: s.port, fwmark: s.fwmark };
}

/** The control-plane form of a parsed -r and its options. */
export function destOptsOf(d: DestSpec): DestOpts {
  return {
    addr: d.addr,
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

function serviceKeyFromService(s: Service): ServiceKey {
  return { af: s.af, proto: s.proto, addr: s.addr, port: s.port, fwmark: s.fwmark };
}

function serviceOptsFromService(s: Service): ServiceOpts {
  return {
    sched: s.schedName,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    pe: s.peName,
    laddrs: [...s.laddrs],
  };
}

function destOptsFromDest(d: Dest): DestOpts {
  return {
    addr: d.addr,
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

/** Recreates `src`'s services and dests (in the same list order) in the empty table `dst`. */
function copyTable(src: ServiceTable, dst: ServiceTable): void {
  for (const s of src.list) {
    const key = serviceKeyFromService(s);
    dst.addService(key, serviceOptsFromService(s));
    // svc.dests is newest first and addDest inserts at the head: add the oldest first.
    for (let i = s.dests.length - 1; i >= 0; i--) dst.addDest(key, destOptsFromDest(s.dests[i]));
  }
}

/** Applies one parsed command; throws IpvsError or ApplyFailure. */
export function applyCommand(table: ServiceTable, cmd: IpvsadmCommand): void {
  switch (cmd.kind) {
    case 'add-service':
    case 'edit-service': {
      const key = serviceKeyOf(cmd.service);
      const o: ServiceOpts = {
        sched: cmd.scheduler,
        flags: cmd.flags,
        timeout: cmd.timeout,
        netmask: cmd.netmask,
        pe: cmd.pe,
        // -E does not touch the FullNAT local addresses.
        laddrs: cmd.kind === 'edit-service' ? [...(table.get(key)?.laddrs ?? [])] : [],
      };
      if (cmd.kind === 'add-service') table.addService(key, o);
      else table.editService(key, o);
      return;
    }
    case 'delete-service':
      table.delService(serviceKeyOf(cmd.service));
      return;
    case 'flush':
      table.flush();
      return;
    case 'add-server':
      table.addDest(serviceKeyOf(cmd.service), destOptsOf(cmd.dest));
      return;
    case 'edit-server':
      table.editDest(serviceKeyOf(cmd.service), destOptsOf(cmd.dest));
      return;
    case 'delete-server':
      table.delDest(serviceKeyOf(cmd.service), cmd.dest.addr, cmd.dest.port);
      return;
    case 'add-laddr':
    case 'del-laddr':
      changeLaddr(table, serviceKeyOf(cmd.service), cmd.laddr, cmd.kind === 'add-laddr');
      return;
    case 'zero':
      table.zero(cmd.service === null ? null : serviceKeyOf(cmd.service));
      return;
    default:
      // refusedCommand() filtered the rest out.
      throw new Error(`rules: unexpected command ${cmd.kind}`);
  }
}

/** DPVS's --add-laddr / --del-laddr: the FullNAT local addresses of a service. */
function changeLaddr(table: ServiceTable, key: ServiceKey, laddr: IpAddr, add: boolean): void {
  const svc = table.get(key);
  if (svc === null) throw new IpvsError(IpvsErrorCode.NO_SERVICE, `no service ${table.keyName(key)}`);
  const at = svc.laddrs.findIndex((a) => ipAddrEquals(a, laddr));
  if (add && at >= 0)
    throw new ApplyFailure(
      'Local address already exists',
      `${ipAddrToString(laddr)} is already a local address`,
      ['laddr'],
    );
  if (!add && at < 0)
    throw new ApplyFailure('No such local address', `${ipAddrToString(laddr)} is not a local address`, [
      'laddr',
    ]);
  const laddrs = add ? [...svc.laddrs, laddr] : svc.laddrs.filter((_, i) => i !== at);
  table.editService(key, { ...serviceOptsFromService(svc), laddrs });
}

/** The ipvsadm option a rules file may not use, or null. */
function refusedCommand(cmd: IpvsadmCommand): string | null {
  switch (cmd.kind) {
    case 'list':
      return 'listing (-L)';
    case 'save':
      return 'saving (-S)';
    case 'restore':
      return 'restoring (-R)';
    case 'help':
      return 'help (-h)';
    case 'version':
      return 'version (-v)';
    case 'start-daemon':
    case 'stop-daemon':
      return 'the sync daemon';
    case 'get-laddr':
      return 'listing local addresses (--get-laddr)';
    default:
      return null;
  }
}

function failure(
  file: string,
  line: number,
  message: string,
  token: string | null,
  detail: string | null,
): RulesError {
  let text = `${file}:${line}: ${message}`;
  if (token !== null) text += `: ${token}`;
  if (detail !== null && detail !== message) text += ` (${detail})`;
  return { ok: false, file, line, message, token, detail, text, exitCode: 2 };
}

/** Long names of every option that names the virtual service. */
const SERVICE_OPTS = ['tcp-service', 'udp-service', 'sctp-service', 'fwmark-service'] as const;
const FWD_OPTS = ['gatewaying', 'masquerading', 'ipip', 'fullnat'] as const;

/** ipvsadm's option-name column (tables.ts OPT_NAMES) → the options that set it. */
const COLUMN_OPTS: Readonly<Record<string, readonly string[]>> = {
  'service-address': SERVICE_OPTS,
  'real-server': ['real-server'],
  'forwarding-method': FWD_OPTS,
  'local-address': ['laddr'],
};

/** Which option a parser message is about. */
function blameParse(message: string): { opts: readonly string[]; nth: number } {
  let m = /^multiple '([^']+)' options specified/.exec(message);
  if (m !== null) return { opts: COLUMN_OPTS[m[1]] ?? [m[1]], nth: 2 };
  m = /^Illegal '([^']+)' option/.exec(message) ?? /^The option '([^']+)' conflicts/.exec(message);
  if (m !== null) return { opts: COLUMN_OPTS[m[1]] ?? [m[1]], nth: 1 };
  const table: [RegExp, readonly string[]][] = [
    [/virtual server address|Zero port|-6 used before -f/, SERVICE_OPTS],
    [/real server address|Different address family/, ['real-server']],
    [/persistent mask|ipv6 netmask/, ['netmask']],
    [/timeout value/, ['persistent']],
    [/illegal weight/, ['weight']],
    [/u_threshold/, ['u-threshold']],
    [/l_threshold/, ['l-threshold']],
    [/One-Packet/, ['ops']],
    [/scheduler flag/, ['sched-flags']],
    [/tunnel type/, ['tun-type']],
    [/tunnel port/, ['tun-port']],
    [/Tunnel options/, ['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum']],
    [/local address/, ['laddr']],
    [/fwmark/, ['fwmark-service']],
  ];
  for (const [re, opts] of table) if (re.test(message)) return { opts, nth: 1 };
  return { opts: [], nth: 1 };
}

function parseFailure(file: string, line: number, argv: readonly string[], r: ParseError): RulesError {
  if (r.abnormal !== undefined) {
    const what = r.abnormal === 'segfault' ? 'crash' : 'hang';
    return failure(file, line, `ipvsadm would ${what} on this line`, argv.join(' '), null);
  }
  if (r.usage === true)
    return failure(
      file,
      line,
      'not an ipvsadm rule (a line starts with a command such as -A, -a, -E, -e, -d, -D or -C)',
      argv.join(' '),
      null,
    );
  const message = r.message.trim();
  const b = blameParse(message);
  return failure(file, line, message, b.opts.length === 0 ? null : findOption(argv, b.opts, b.nth), null);
}

function kernelFailure(
  file: string,
  line: number,
  argv: readonly string[],
  cmd: IpvsadmCommand,
  e: IpvsError,
): RulesError {
  const destCmd = cmd.kind === 'add-server' || cmd.kind === 'edit-server' || cmd.kind === 'delete-server';
  let blame: readonly string[];
  switch (e.code) {
    case IpvsErrorCode.NO_SCHEDULER:
      blame = e.message.includes('persistence engine') ? ['pe'] : ['scheduler'];
      break;
    case IpvsErrorCode.WEIGHT_RANGE:
      blame = ['weight'];
      break;
    case IpvsErrorCode.THRESHOLD_RANGE:
      blame = ['l-threshold', 'u-threshold'];
      break;
    case IpvsErrorCode.TUNNEL_PORT_ZERO:
      blame = ['tun-type'];
      break;
    case IpvsErrorCode.SERVICE_EXISTS:
    case IpvsErrorCode.NO_SERVICE:
    case IpvsErrorCode.SERVICE_NOT_DEFINED:
      blame = SERVICE_OPTS;
      break;
    case IpvsErrorCode.AF_NOT_SUPPORTED:
      blame = destCmd ? ['real-server'] : cmd.kind === 'add-laddr' ? ['laddr'] : SERVICE_OPTS;
      break;
    default:
      if (/FullNAT/.test(e.message)) blame = ['fullnat'];
      else if (/Zero port|bad port|address missing/.test(e.message)) blame = SERVICE_OPTS;
      else if (/One-Packet/.test(e.message)) blame = ['ops'];
      else if (/netmask/.test(e.message)) blame = ['netmask'];
      else blame = destCmd ? ['real-server'] : SERVICE_OPTS;
  }
  const token = cmd.kind === 'set-timeout' ? argv.join(' ') : findOption(argv, blame);
  return failure(file, line, e.ipvsadmMessage, token, e.message);
}

/** ipvsadm's options: long name → short letter ('' if none), and whether it takes a value. */
const OPTION_FORMS: Readonly<Record<string, { short: string; value: 'none' | 'required' | 'optional' }>> = {
  'tcp-service': { short: 't', value: 'required' },
  'udp-service': { short: 'u', value: 'required' },
  'sctp-service': { short: '', value: 'required' },
  'fwmark-service': { short: 'f', value: 'required' },
  scheduler: { short: 's', value: 'required' },
  persistent: { short: 'p', value: 'optional' },
  netmask: { short: 'M', value: 'required' },
  'real-server': { short: 'r', value: 'required' },
  masquerading: { short: 'm', value: 'none' },
  ipip: { short: 'i', value: 'none' },
  gatewaying: { short: 'g', value: 'none' },
  fullnat: { short: '', value: 'none' },
  weight: { short: 'w', value: 'required' },
  'u-threshold': { short: 'x', value: 'required' },
  'l-threshold': { short: 'y', value: 'required' },
  ops: { short: 'o', value: 'none' },
  pe: { short: '', value: 'required' },
  'sched-flags': { short: 'b', value: 'required' },
  'tun-type': { short: '', value: 'required' },
  'tun-port': { short: '', value: 'required' },
  'tun-nocsum': { short: '', value: 'none' },
  'tun-csum': { short: '', value: 'none' },
  'tun-remcsum': { short: '', value: 'none' },
  laddr: { short: '', value: 'required' },
  ifname: { short: '', value: 'required' },
};

/**
 * The `nth` occurrence (1-based) of any of the options `longs` in argv, as written: `-t X`,
 * `-tX`, `--tcp-service X` or `--tcp-service=X`. Null if it is not there.
 */
export function findOption(argv: readonly string[], longs: readonly string[], nth = 1): string | null {
  let seen = 0;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    let long: string | null = null;
    let attached: string | null = null;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      long = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      if (eq >= 0) attached = tok.slice(eq + 1);
    } else if (tok.startsWith('-') && tok.length >= 2) {
      const ch = tok[1];
      long = Object.keys(OPTION_FORMS).find((k) => OPTION_FORMS[k].short === ch) ?? null;
      if (tok.length > 2) attached = tok.slice(2);
    }
    if (long === null || !longs.includes(long)) continue;
    if (++seen < nth) continue;
    const form = OPTION_FORMS[long];
    if (form === undefined || form.value === 'none' || attached !== null) return tok;
    const next = argv[i + 1];
    if (next === undefined) return tok;
    if (form.value === 'optional' && next.startsWith('-')) return tok;
    return `${tok} ${next}`;
  }
  return null;
}

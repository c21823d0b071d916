/**
 * One lab run: a Topology (namespaces `<prefix>-<role>`), a private run directory, the processes
 * started in the namespaces (tcpdump, HTTP servers, tslvsd) and the way everything goes away —
 * at the end, on error, and on SIGINT/SIGTERM/SIGHUP. The end-to-end tests build on the same
 * pieces (net spec, real servers, daemon, tslvsadm, curl, captures).
 *
 * Everything is created under the run's own prefix and removed by name: the lab never touches an
 * interface or namespace it did not create. Interfaces live only inside the run's namespaces
 * (veth pairs are created there directly), so the host's own interfaces are never involved.
 *
 * The run directory `$TMPDIR/tslvs-lab-<prefix>/` holds the control socket, the logs, the
 * captures and an `owner` file with the lab's pid: `tslvs lab clean` leaves a run alone while its
 * owner is alive.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology, ipCmd } from './topo.ts';
import { LabError, EXIT_SOFTWARE, programs } from './env.ts';
import type { Programs } from './env.ts';
import { ipv4FromString } from '../wire/addr.ts';

/** The run directory of a prefix. */
export function runDirOf(prefix: string): string {
  return join(tmpdir(), `tslvs-lab-${prefix}`);
}

/** One interface of a host, as the lab configured it. */
export interface HostIf {
  readonly role: string;
  readonly ifname: string;
  readonly mac: string;
  /** CIDR forms, primary first. */
  readonly addrs: readonly string[];
}

export interface SegmentMember {
  readonly role: string;
  readonly ifname: string;
  readonly addrs: readonly string[];
}

/**
 * A layer-2 segment: a switch (a bridge `br0` in the namespace `switch`, one veth per member) or,
 * without `switch`, a point-to-point link between exactly two members.
 */
export interface Segment {
  readonly switch?: string;
  readonly members: readonly SegmentMember[];
}

export interface NetSpec {
  /** Hosts other than switches, in display order. */
  readonly hosts: readonly string[];
  readonly segments: readonly Segment[];
}

/**
 * A readable MAC for an interface: 02:00 (locally administered) then the four bytes of its first
 * IPv4 address, so 192.168.188.181 is 02:00:c0:a8:bc:b5 and a trace tells who is who at a glance.
 */
export function macForAddr(cidr: string): string {
  const a = ipv4FromString(cidr.split('/')[0]);
  const bytes = [2, 0, a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff];
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A process the lab started in a namespace. */
export interface LabProc {
  readonly role: string;
  readonly name: string;
  readonly child: ChildProcess;
  /** Its stdout and stderr, or null when they are piped to the lab. */
  readonly log: string | null;
}

export interface LabRunOptions {
  /** Fixed prefix (tests); default a fresh `tsl` + 6 hex digits. */
  prefix?: string;
  /** Install SIGINT/SIGTERM/SIGHUP handlers that tear the run down and exit (the CLI does). */
  handleSignals?: boolean;
  /** Called with one line when a signal tore the run down. */
  onSignal?: (line: string) => void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNAL_EXIT: Readonly<Record<(typeof SIGNALS)[number], number>> = {
  SIGINT: 130,
  SIGTERM: 143,
  SIGHUP: 129,
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new LabError(`timed out waiting for ${what}`, EXIT_SOFTWARE);
    await sleep(20);
  }
}

/** execFile as a promise that resolves with the exit status instead of rejecting. */
export function execAsync(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const c = execFile(
      cmd,
      [...args],
      {
        encoding: 'utf8',
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) c.stdin?.end(opts.input);
  });
}

const HTTP_SERVER = (name: string, port: number): string =>
  `require('http').createServer((q, s) => { s.setHeader('connection', 'close'); s.end(${JSON.stringify(name)} + '\\n'); })` +
  `.listen(${port}, '0.0.0.0', () => console.log('listening'))`;

export class LabRun {
  readonly topo: Topology;
  readonly prefix: string;
  readonly dir: string;
  readonly sock: string;
  readonly progs: Programs;
  /** Every host interface the lab configured (switch ports excluded), in creation order. */
  readonly ifs: HostIf[] = [];
  readonly hosts: string[] = [];
  readonly switches: string[] = [];
  readonly procs: LabProc[] = [];
  daemon: LabProc | null = null;
  private closed = false;
  private readonly onSig: (sig: NodeJS.Signals) => void;
  private readonly onExit: () => void;
  private signalsInstalled = false;

  constructor(opts: LabRunOptions = {}) {
    this.progs = programs();
    this.topo = new Topology(opts.prefix);
    this.prefix = this.topo.prefix;
    this.dir = runDirOf(this.prefix);
    this.sock = join(this.dir, 'tslvsd.sock');
    const clash = existingNamespaces().filter((n) => n.startsWith(`${this.prefix}-`));
    if (clash.length > 0)
      throw new LabError(
        `network namespace ${clash[0]} already exists: the lab will not touch it. ` +
          `If it is left over from an earlier lab run, 'tslvs lab clean' removes it; otherwise try again`,
      );
    if (existsSync(this.dir)) throw new LabError(`${this.dir} already exists: the lab will not touch it`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.dir, 'owner'), `${process.pid}\n`);
    this.onSig = (sig) => {
      this.close(false);
      opts.onSignal?.(`tslvs lab: ${sig}: removed the lab's namespaces and processes`);
      process.exit(SIGNAL_EXIT[sig as (typeof SIGNALS)[number]] ?? 1);
    };
    this.onExit = () => this.close(false);
    if (opts.handleSignals === true) {
      for (const s of SIGNALS) process.on(s, this.onSig);
      this.signalsInstalled = true;
    }
    // Whatever ends the process (an exit() somewhere, an uncaught error), nothing stays behind.
    process.on('exit', this.onExit);
  }

  ns(role: string): string {
    return this.topo.ns(role);
  }

  /** Builds hosts, switches, links and addresses. */
  build(spec: NetSpec): void {
    for (const h of spec.hosts) {
      this.topo.host(h);
      this.hosts.push(h);
    }
    let spare = 0;
    const macOf = (m: SegmentMember): string =>
      m.addrs.length > 0
        ? macForAddr(m.addrs[0])
        : `02:01:00:00:00:${(++spare).toString(16).padStart(2, '0')}`;
    for (const seg of spec.segments) {
      if (seg.switch !== undefined) {
        const sw = seg.switch;
        if (!this.switches.includes(sw)) {
          this.topo.host(sw);
          this.switches.push(sw);
        }
        const ports: string[] = [];
        seg.members.forEach((m, k) => {
          const port = `p${k}`;
          this.topo.link(m.role, m.ifname, sw, port, macOf(m));
          ports.push(port);
        });
        this.topo.bridge(sw, 'br0', ports);
      } else {
        if (seg.members.length !== 2) throw new Error('a link without a switch joins exactly two hosts');
        const [a, b] = seg.members;
        this.topo.link(a.role, a.ifname, b.role, b.ifname, macOf(a), macOf(b));
      }
      for (const m of seg.members) {
        for (const a of m.addrs) this.topo.addr(m.role, m.ifname, a);
        this.ifs.push({
          role: m.role,
          ifname: m.ifname,
          mac: this.macOfIf(m.role, m.ifname),
          addrs: m.addrs,
        });
      }
    }
  }

  private macOfIf(role: string, ifname: string): string {
    const j = JSON.parse(this.exec(role, 'ip', '-j', 'link', 'show', 'dev', ifname)) as { address: string }[];
    return j[0].address;
  }

  /** MAC → role, for naming the hops of a trace. */
  macOwners(): Map<string, string> {
    return new Map(this.ifs.map((i) => [i.mac, i.role]));
  }

  /** Runs a command in a host and returns its stdout (throws on failure). */
  exec(role: string, cmd: string, ...args: string[]): string {
    return this.topo.exec(role, cmd, ...args);
  }

  /** Runs a command in a host without throwing. */
  run(role: string, cmd: string, args: readonly string[], timeoutMs?: number): Promise<ExecResult> {
    return execAsync('ip', ['netns', 'exec', this.ns(role), cmd, ...args], { timeoutMs });
  }

  sysctl(role: string, key: string, value: string): void {
    this.topo.sysctl(role, key, value);
  }

  route(role: string, dst: string, via: string): void {
    this.topo.route(role, dst, via);
  }

  /**
   * Starts a long-running process in a host, in its own process group (a terminal's Ctrl-C reaches
   * only the lab, which then tears everything down in order). With `log`, output goes to that file
   * in the run directory, so the process outlives the lab under --keep; without, it is piped.
   */
  spawn(role: string, name: string, cmd: string, args: readonly string[], log?: string): LabProc {
    let fd: number | null = null;
    const path = log === undefined ? null : join(this.dir, log);
    if (path !== null) fd = openSync(path, 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns(role), cmd, ...args], {
      detached: true,
      stdio: fd === null ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
    });
    if (fd !== null) closeSync(fd);
    const p: LabProc = { role, name, child, log: path };
    this.procs.push(p);
    return p;
  }

  /** An HTTP server on `port` that answers every request with `name`; resolves once it listens. */
  async httpServer(role: string, name: string, port: number): Promise<void> {
    const log = `http-${role}.log`;
    const p = this.spawn(role, `http ${name}`, this.progs.node, ['-e', HTTP_SERVER(name, port)], log);
    await waitFor(
      () => p.child.exitCode !== null || readText(p.log!).includes('listening'),
      10_000,
      `the HTTP server in ${role}`,
    );
    if (p.child.exitCode !== null)
      throw new LabError(`the HTTP server in ${role} exited: ${readText(p.log!).trim()}`, EXIT_SOFTWARE);
  }

  /** Starts tslvsd in `role` serving `ifaces`; resolves once its control socket exists. */
  async startDaemon(role: string, ifaces: readonly string[], extra: readonly string[] = []): Promise<void> {
    const args = [
      ...this.progs.nodeArgs,
      this.progs.tslvs,
      'daemon',
      '--socket',
      this.sock,
      ...ifaces.flatMap((i) => ['--iface', i]),
      ...extra,
    ];
    const p = this.spawn(role, 'tslvsd', this.progs.node, args, 'tslvsd.log');
    this.daemon = p;
    await waitFor(
      () => existsSync(this.sock) || p.child.exitCode !== null,
      15_000,
      'the tslvsd control socket',
    );
    if (p.child.exitCode !== null)
      throw new LabError(`tslvsd exited: ${readText(p.log!).trim()}`, EXIT_SOFTWARE);
  }

  daemonLog(): string {
    return this.daemon?.log ? readText(this.daemon.log) : '';
  }

  /** A LabError with tslvsd's log appended (what the daemon said is usually why); others as they are. */
  withDaemonLog(e: unknown): unknown {
    if (!(e instanceof LabError)) return e;
    const log = this.daemonLog().trim();
    return log !== '' && !e.message.includes(log)
      ? new LabError(`${e.message}\ntslvsd log:\n${log}`, e.exitCode)
      : e;
  }

  /** One ipvsadm command line (the word `ipvsadm` optional) through tslvsadm against this run's daemon. */
  adm(line: string): Promise<ExecResult> {
    const argv = line.split(/\s+/).filter((w, k) => w !== '' && !(k === 0 && w === 'ipvsadm'));
    return execAsync(this.progs.node, [...this.progs.nodeArgs, this.progs.tslvsadm, ...argv], {
      env: { ...process.env, TSLVS_SOCKET: this.sock },
    });
  }

  /** curl from a host; the body, or null when the request failed. */
  async curl(role: string, url: string, localPort?: number, maxTimeS = 5): Promise<string | null> {
    const args = ['-s', '--max-time', String(maxTimeS)];
    if (localPort !== undefined) args.push('--local-port', String(localPort));
    const r = await this.run(role, 'curl', [...args, url], (maxTimeS + 2) * 1000);
    return r.code === 0 ? r.stdout : null;
  }

  /** The command a user types to enter a host. */
  enterCommand(role: string): string {
    return `ip netns exec ${this.ns(role)} bash`;
  }

  /**
   * Ends the run. keep=false: kills every process the lab started, deletes its namespaces (with
   * their interfaces) and the run directory. keep=true: leaves all of it up; the processes are
   * released so the lab can exit without them. Never throws; the second call does nothing.
   */
  close(keep: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.signalsInstalled) for (const s of SIGNALS) process.off(s, this.onSig);
    process.off('exit', this.onExit);
    if (keep) {
      for (const p of this.procs) {
        p.child.stdout?.destroy();
        p.child.stderr?.destroy();
        p.child.unref();
      }
      return;
    }
    for (const p of this.procs) {
      if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid !== undefined) {
        try {
          p.child.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    this.topo.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Every network namespace on the host (names only). */
export function existingNamespaces(): string[] {
  let out: string;
  try {
    out = ipCmd(['netns', 'list']);
  } catch {
    return [];
  }
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
}

/** Whether `pid` is a live node process other than this one (a recycled pid is not our lab). */
function liveNode(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return /node/.test(readText(`/proc/${pid}/cmdline`));
}

/** The live lab process that owns a run directory, or null. */
export function runOwnerAlive(prefix: string): number | null {
  const pid = Number(readText(join(runDirOf(prefix), 'owner')).trim());
  return liveNode(pid) ? pid : null;
}

function netnsPids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Who is still using a prefix's namespaces: the owner of its run directory (a lab run), or the
 * live node parent of a process inside them (a test that built a Topology itself). When the run
 * that made them is gone, its processes have been reparented to init or a subreaper.
 */
export function prefixInUse(prefix: string, namespaces: readonly string[]): number | null {
  const owner = runOwnerAlive(prefix);
  if (owner !== null) return owner;
  for (const ns of namespaces) {
    for (const pid of netnsPids(ns)) {
      const stat = readText(`/proc/${pid}/stat`);
      // Field 4 (ppid) follows the command name in parentheses, which may itself hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (liveNode(ppid)) return ppid;
    }
  }
  return null;
}

export interface CleanReport {
  readonly removed: string[];
  readonly skipped: { readonly ns: string; readonly pid: number }[];
  readonly dirs: string[];
}

/**
 * Removes what earlier lab runs left: every namespace named `tsl<6 hex>-<role>` whose run is not
 * alive (processes inside die first), and run directories of such prefixes. Nothing else.
 */
export function cleanLeftovers(leftovers: readonly string[]): CleanReport {
  const removed: string[] = [];
  const skipped: { ns: string; pid: number }[] = [];
  const byPrefix = new Map<string, string[]>();
  for (const ns of leftovers) {
    const prefix = ns.slice(0, ns.indexOf('-'));
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), ns]);
  }
  const dirs: string[] = [];
  for (const [prefix, names] of byPrefix) {
    const pid = prefixInUse(prefix, names);
    if (pid !== null) {
      for (const ns of names) skipped.push({ ns, pid });
      continue;
    }
    for (const ns of names) {
      for (const p of netnsPids(ns)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
      try {
        ipCmd(['netns', 'del', ns]);
        removed.push(ns);
      } catch {
        // Deleted meanwhile.
      }
    }
    const d = runDirOf(prefix);
    if (existsSync(d)) {
      rmSync(d, { recursive: true, force: true });
      dirs.push(d);
    }
  }
  return { removed, skipped, dirs };
}

/**
 * Run directories of dead runs that have no namespaces left (a run that crashed before building
 * anything, or whose namespaces were deleted by hand): removed, and listed.
 */
export function strayRunDirs(): string[] {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return [];
  }
  const live = new Set(existingNamespaces().map((n) => n.slice(0, n.indexOf('-'))));
  const out: string[] = [];
  for (const n of names) {
    const m = /^tslvs-lab-(tsl[0-9a-f]{6})$/.exec(n);
    if (m === null || live.has(m[1]) || runOwnerAlive(m[1]) !== null) continue;
    const d = join(tmpdir(), n);
    rmSync(d, { recursive: true, force: true });
    out.push(d);
  }
  return out;
}

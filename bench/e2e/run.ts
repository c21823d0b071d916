/**
 * `npm run bench:e2e`: tslvs against the kernel, nftables and HAProxy on real hosts (network
 * namespaces on this machine), as root.
 *
 * For each setup — kernel routing, nftables DNAT, nftables DSR, HAProxy `mode tcp`, the two ceiling
 * references (a minimal AF_PACKET DR forwarder in C and in Node), then tslvs DR, NAT, TUN and
 * FullNAT — a fresh copy of one topology (bench/e2e/setups.ts) is built, the director is
 * configured, a check proves that requests reach both real servers and that 10 MB arrive whole,
 * and then, one after the other:
 *   - wrk, two processes of -t1 -c16 side by side, keep-alive: requests per second;
 *   - the same with `Connection: close` (one TCP connection per request);
 *   - iperf3, one stream from the client to rs1 through the director: Gbit/s received;
 *   - small UDP: 60-byte frames to 256 flows from bench/e2e/blast.ts, counted where they arrive
 *     (an nftables counter on each real server): packets per second delivered.
 * The setup's namespaces and processes are then removed (also on Ctrl-C and on errors), and the
 * next one starts. At the end: one table with the ratios to the named references and the targets
 * of issue #4 §7, met or MISSED, then notes (latency, errors, loss, CPU, tslvsd's counters).
 *
 * Env: TSLVS_E2E_SECONDS (each measure, default 5), TSLVS_E2E_ONLY (setup ids, comma-separated:
 * routing,nft-dnat,nft-dsr,haproxy,afp-c-dr,afp-node-dr,tslvs-dr,tslvs-nat,tslvs-tun,tslvs-fullnat),
 * TSLVS_E2E_REPEAT
 * (runs of every setup, median taken; default 1), TSLVS_E2E_CONNS (wrk connections in all, default
 * 32), TSLVS_E2E_STREAMS (iperf3 -P, default 1), TSLVS_E2E_FLOWS (UDP flows, default 256),
 * TSLVS_E2E_JSON (write the results there), TSLVS_E2E_VERBOSE=1 (print each setup's commands),
 * TSLVS_E2E_IDLE_WAIT (seconds to wait, before each setup, for other load on the machine to stop;
 * default 0: the background load is only reported), TSLVS_E2E_DAEMON_ARGS (extra `tslvs daemon`
 * arguments, e.g. "--workers 2").
 */
import { execFileSync } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { LabRun, readText, sleep } from '../../src/lab/run.ts';
import type { LabProc } from '../../src/lab/run.ts';
import { tryLoadAfPacket } from '../../src/io/addon.ts';
import { ControlClient } from '../../src/ipc/client.ts';
import { checkSetup, prepareHosts } from './hosts.ts';
import { failed, runIperf, runUdp, runWrk } from './measure.ts';
import type { Measure } from './measure.ts';
import { MEASURES, fmtValue, formatNotes, formatTable, formatTargets } from './report.ts';
import type { MeasureId, SetupResult } from './report.ts';
import { CEILING_PROCS, CLIENT, NET_SPEC, RS, SETUPS, UDP_PORT } from './setups.ts';
import type { Setup, SetupCtx } from './setups.ts';

export interface E2eOptions {
  readonly seconds: number;
  readonly only: readonly string[] | null;
  readonly repeat: number;
  readonly conns: number;
  readonly streams: number;
  readonly flows: number;
  readonly json: string | null;
  readonly verbose: boolean;
  /** Before each setup, wait up to this long for other load to go away (0: only report it). */
  readonly idleWaitS: number;
  /** Extra arguments for `tslvs daemon` (TSLVS_E2E_DAEMON_ARGS, split on blanks). */
  readonly daemonArgs: readonly string[];
}

function intEnv(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const s = env[name];
  if (s === undefined || s === '') return def;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name}=${s}: expected an integer ${min}..${max}`);
  return n;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv): E2eOptions {
  const only =
    env.TSLVS_E2E_ONLY?.split(',')
      .map((x) => x.trim())
      .filter(Boolean) ?? null;
  for (const id of only ?? [])
    if (!SETUPS.some((s) => s.id === id))
      throw new Error(`TSLVS_E2E_ONLY: unknown setup ${id} (known: ${SETUPS.map((s) => s.id).join(', ')})`);
  const conns = intEnv(env, 'TSLVS_E2E_CONNS', 32, 2, 10_000);
  return {
    seconds: intEnv(env, 'TSLVS_E2E_SECONDS', 5, 1, 3600),
    only,
    repeat: intEnv(env, 'TSLVS_E2E_REPEAT', 1, 1, 100),
    conns: conns - (conns % 2),
    streams: intEnv(env, 'TSLVS_E2E_STREAMS', 1, 1, 128),
    flows: intEnv(env, 'TSLVS_E2E_FLOWS', 256, 1, 50_000),
    json: env.TSLVS_E2E_JSON ?? null,
    verbose: env.TSLVS_E2E_VERBOSE === '1',
    idleWaitS: intEnv(env, 'TSLVS_E2E_IDLE_WAIT', 0, 0, 3600),
    daemonArgs: (env.TSLVS_E2E_DAEMON_ARGS ?? '').split(/\s+/).filter(Boolean),
  };
}

const TOOLS: readonly [string, string][] = [
  ['ip', 'iproute2'],
  ['ss', 'iproute2'],
  ['nft', 'nftables'],
  ['curl', 'curl'],
  ['wrk', 'wrk'],
  ['iperf3', 'iperf3'],
  ['haproxy', 'haproxy'],
  ['nginx', 'nginx'],
  ['ethtool', 'ethtool'],
];

/** What is missing to run, one line; null when nothing is. */
export function missingRequirement(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, packet sockets): run it as root';
  for (const [t, pkg] of TOOLS) {
    try {
      execFileSync('sh', ['-c', 'command -v "$0"', t], { stdio: 'ignore' });
    } catch {
      return `${t} is not installed (apt-get install -y ${pkg})`;
    }
  }
  const { error } = tryLoadAfPacket();
  return error === null ? null : `the AF_PACKET addon: ${error}`;
}

function blastScript(): string {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return fileURLToPath(new URL(`./blast.${ext}`, import.meta.url));
}

function firstLineOf(cmd: string, args: readonly string[]): string {
  // Through sh with stderr merged: nginx and haproxy print their versions on stderr.
  try {
    const r = execFileSync('sh', ['-c', '"$0" "$@" 2>&1', cmd, ...args], { encoding: 'utf8' });
    return r.trim().split('\n')[0];
  } catch (e) {
    return ((e as { stdout?: string }).stdout ?? '').trim().split('\n')[0] || `${cmd}: ?`;
  }
}

/** The machine and the versions, for the header. */
export function machineLines(): string[] {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  let mem = '';
  const m = /^MemTotal:\s+(\d+) kB/m.exec(readText('/proc/meminfo'));
  if (m !== null) mem = `, ${(Number(m[1]) / 1024 / 1024).toFixed(0)} GiB`;
  let commit = 'not a git checkout';
  try {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
    // Only what the measured code is built from: the director, its addon, the lab it runs in.
    const dirty = execFileSync(
      'git',
      ['-C', root, 'status', '--porcelain', '--untracked-files=no', '--', 'src', 'native', 'bench'],
      { encoding: 'utf8' },
    ).trim();
    commit = `${head}${dirty === '' ? '' : ' + uncommitted changes in src/, native/ or bench/'}`;
  } catch {
    // no git
  }
  return [
    `machine: ${cpus().length} CPUs (${model})${mem}; Linux ${firstLineOf('uname', ['-r'])}; node ${process.version}`,
    `tools: ${firstLineOf('wrk', ['-v'])}; ${firstLineOf('iperf3', ['-v'])}; ${firstLineOf('haproxy', ['-v'])}; ` +
      `${firstLineOf('nginx', ['-v'])}; ${firstLineOf('nft', ['-v'])}`,
    `tslvs: ${commit}`,
  ];
}

/** 1, 5 and 15-minute load averages: anything else running on the machine shows here. */
function loadAvg(): string {
  return readText('/proc/loadavg').split(' ').slice(0, 3).join(' ');
}

/** The veth offload settings as the director sees them (ethtool -k eth0). */
function offloads(run: LabRun): string {
  try {
    const out = run.exec('director', 'ethtool', '-k', 'eth0');
    const get = (k: string): string => new RegExp(`^${k}: (\\w+)`, 'm').exec(out)?.[1] ?? '?';
    return (
      `tso ${get('tcp-segmentation-offload')}, gso ${get('generic-segmentation-offload')}, ` +
      `tx-checksumming ${get('tx-checksumming')}, scatter-gather ${get('scatter-gather')}, ` +
      `gro ${get('generic-receive-offload')}`
    );
  } catch {
    return 'unknown (ethtool failed)';
  }
}

/** tslvsd's counters (op `status`), the interesting part on one or two lines. */
async function daemonStatus(run: LabRun): Promise<string[]> {
  let client: ControlClient | null = null;
  try {
    client = await ControlClient.connect(run.sock);
    const st = (await client.call('status')) as {
      counters?: Record<string, number>;
      ports?: {
        name: string;
        rxPackets: number;
        txPackets: number;
        kernelDrops: number;
        txErrors: number;
        txBlocked: number;
      }[];
    };
    const out: string[] = [];
    const ports = st.ports ?? [];
    // With --workers N each worker has its own socket per interface: number them.
    const many = new Set(ports.map((p) => p.name)).size < ports.length;
    for (const [k, p] of ports.entries())
      out.push(
        `tslvsd ${p.name}${many ? ` #${k}` : ''}: rx ${p.rxPackets}, tx ${p.txPackets}, socket drops ${p.kernelDrops}, ` +
          `tx errors ${p.txErrors}, tx blocked ${p.txBlocked}`,
      );
    const c = Object.entries(st.counters ?? {})
      .filter(([, v]) => v !== 0)
      .sort((a, b) => b[1] - a[1]);
    if (c.length > 0) out.push(`tslvsd counters: ${c.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    return out;
  } catch (e) {
    return [`tslvsd status: ${(e as Error).message}`];
  } finally {
    client?.close();
  }
}

/** The daemon's log without its start line; the last `n` lines. */
function daemonLogTail(run: LabRun, n: number): string[] {
  const lines = run
    .daemonLog()
    .split('\n')
    .filter((l) => l.trim() !== '' && !/: serving /.test(l));
  return lines.slice(-n).map((l) => `tslvsd log: ${l}`);
}

/** The ceiling forwarders' counters (each prints them on one line on SIGUSR2); their log on a failure. */
async function ceilingCounters(run: LabRun, signal: boolean): Promise<string[]> {
  const procs = run.procs.filter((p) => CEILING_PROCS.includes(p.name));
  if (procs.length === 0) return [];
  if (signal) {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGUSR2');
    await sleep(300);
  }
  return procs.flatMap((p) => {
    const lines = readText(p.log!).trim().split('\n').filter(Boolean);
    // The counters line names its program; on a failure, the log's tail says what went wrong.
    return signal ? lines.slice(-1) : lines.slice(-10).map((l) => `${p.name} log: ${l}`);
  });
}

/** rs-tun's counters (it logs them on SIGUSR2). */
async function rsTunCounters(run: LabRun): Promise<string[]> {
  const procs = run.procs.filter((p) => p.name === 'tslvs rs-tun');
  for (const p of procs) p.child.kill('SIGUSR2');
  await sleep(300);
  return procs.map((p) => {
    const lines = readText(p.log!).trim().split('\n');
    return `rs-tun ${p.role}: ${lines[lines.length - 1]}`;
  });
}

let clockTicks = 0;

/** utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15); null once it is gone. */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  if (clockTicks === 0) clockTicks = Number(firstLineOf('getconf', ['CLK_TCK'])) || 100;
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === '') return null;
  // The fields after the command name, which is in parentheses and may hold spaces.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTicks;
}

/** The user-space forwarders whose CPU is reported (the kernel's work is not a process's). */
const METERED = ['tslvsd', 'tslvs rs-tun', 'haproxy', ...CEILING_PROCS];

/** CPU used by the forwarding processes during each measure, as a share of one core. */
class CpuMeter {
  private readonly procs: readonly LabProc[];
  private readonly shares: string[] = [];

  constructor(procs: readonly LabProc[]) {
    this.procs = procs;
  }

  async during<T>(what: string, f: () => Promise<T>): Promise<T> {
    const before = this.procs.map((p) => cpuSeconds(p.child.pid));
    const t0 = performance.now();
    const out = await f();
    const wall = (performance.now() - t0) / 1000;
    const parts = this.procs.map((p, k) => {
      const a = cpuSeconds(p.child.pid);
      const b = before[k];
      const name = p.name === 'tslvs rs-tun' ? `rs-tun ${p.role}` : p.name;
      return `${name} ${a === null || b === null ? '?' : `${Math.round(((a - b) / wall) * 100)} %`}`;
    });
    if (parts.length > 0) this.shares.push(`${what}: ${parts.join(', ')}`);
    return out;
  }

  lines(): string[] {
    return this.shares.length === 0 ? [] : [`CPU (share of one core) — ${this.shares.join('; ')}`];
  }
}

interface Run1 {
  readonly failure?: string;
  readonly check: string;
  readonly measures: Partial<Record<MeasureId, Measure>>;
  readonly diag: string[];
  readonly shown: readonly string[];
  readonly offloads: string;
}

async function runSetup(s: Setup, o: E2eOptions, log: (line: string) => void): Promise<Run1> {
  const run = new LabRun({ handleSignals: true, onSignal: (l) => console.error(`bench:e2e: ${l}`) });
  const shown: string[] = [];
  const measures: Partial<Record<MeasureId, Measure>> = {};
  const diag: string[] = [];
  let off = '';
  try {
    run.build(NET_SPEC);
    const mac: Record<string, string> = {};
    for (const i of run.ifs) mac[i.role] = i.mac;
    const ctx: SetupCtx = { run, mac, shown, daemonArgs: o.daemonArgs };
    off = offloads(run);
    await prepareHosts(ctx, s);
    await s.start(ctx);
    const check = await checkSetup(ctx, s);
    if (!check.ok) {
      if (s.tslvs) diag.push(...(await daemonStatus(run)), ...daemonLogTail(run, 10));
      diag.push(...(await ceilingCounters(run, false)));
      return {
        failure: `check failed: ${check.text}`,
        check: check.text,
        measures,
        diag,
        shown,
        offloads: off,
      };
    }
    log(`  check: ${check.text}`);
    const urls = s.httpHosts.map((h) => `http://${h}/`);
    const wrk = { seconds: o.seconds, connections: o.conns / 2 };
    const cpu = new CpuMeter(run.procs.filter((p) => METERED.includes(p.name)));
    measures.keepalive = await cpu.during('keep-alive', () =>
      runWrk(run, 'client', urls, { ...wrk, close: false }),
    );
    log(`  keep-alive: ${show(measures.keepalive, 1, 0, 'req/s')}`);
    await sleep(1000);
    measures.close = await cpu.during('close', () => runWrk(run, 'client', urls, { ...wrk, close: true }));
    log(`  close: ${show(measures.close, 1, 0, 'req/s')}`);
    await sleep(1000);
    measures.iperf = await cpu.during('iperf3', () =>
      runIperf(run, 'client', s.iperfHost, o.seconds, o.streams),
    );
    log(`  iperf3: ${show(measures.iperf, 1, 2, 'Gbit/s')}`);
    if (s.udp) {
      await sleep(500);
      measures.udp = await cpu.during('UDP', () =>
        runUdp(run, 'client', {
          seconds: o.seconds,
          blastScript: blastScript(),
          iface: 'eth0',
          srcMac: mac.client,
          dstMac: mac.director,
          src: CLIENT,
          dsts: s.udpDsts,
          dport: UDP_PORT,
          flows: o.flows,
          sinks: RS.map((r) => r.role),
        }),
      );
      log(`  UDP: ${show(measures.udp, 1000, 0, 'kpps')}`);
    }
    diag.push(...cpu.lines());
    if (s.tslvs) diag.push(...(await daemonStatus(run)), ...daemonLogTail(run, 10));
    if (s.id === 'tslvs-tun') diag.push(...(await rsTunCounters(run)));
    diag.push(...(await ceilingCounters(run, true)));
    return { check: check.text, measures, diag, shown, offloads: off };
  } catch (e) {
    if (s.tslvs) diag.push(...daemonLogTail(run, 10));
    diag.push(...(await ceilingCounters(run, false)));
    return { failure: (e as Error).message, check: '', measures, diag, shown, offloads: off };
  } finally {
    run.close(false);
  }
}

/** One measure for the progress log: value / scale in `unit`, its note, why it does not count. */
function show(m: Measure, scale: number, digits: number, unit: string): string {
  if (m.value === null) return `FAILED (${m.error ?? '?'})`;
  const v = (m.value / scale).toFixed(digits);
  return `${v} ${unit}${m.note === '' ? '' : ` [${m.note}]`}${m.error === undefined ? '' : ` — does not count: ${m.error}`}`;
}

/** The median of the runs that produced a usable figure (the lower one of two); every run in the note. */
export function medianMeasure(id: MeasureId, ms: readonly Measure[]): Measure {
  const good = ms.filter((m) => m.value !== null && m.error === undefined);
  if (good.length === 0) return ms[0] ?? failed('not run');
  const sorted = [...good].sort((a, b) => a.value! - b.value!);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  if (ms.length === 1) return mid;
  const all = ms.map((m) => (m.error !== undefined ? 'failed' : fmtValue(id, m))).join(' / ');
  return { value: mid.value, note: [`runs ${all}`, mid.note].filter(Boolean).join('; ') };
}

/** Share of all CPUs busy over `ms` (from /proc/stat), 0..1. */
async function cpuBusy(ms: number): Promise<number> {
  const sample = (): number[] =>
    readText('/proc/stat').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const a = sample();
  await sleep(ms);
  const b = sample();
  const d = b.map((x, k) => x - (a[k] ?? 0));
  const total = d.reduce((x, y) => x + y, 0);
  // Fields: user nice system idle iowait irq softirq steal ...; idle and iowait are not busy.
  return total > 0 ? 1 - (d[3] + (d[4] ?? 0)) / total : 0;
}

/** Nothing of ours runs between setups: what keeps the CPUs busy then is someone else's. */
const IDLE_BELOW = 0.1;

/**
 * The CPU share others use just before a setup starts; with `waitS` > 0, waits up to that long
 * for it to drop below 10 %.
 */
async function background(waitS: number, log: (line: string) => void): Promise<number> {
  const end = performance.now() + waitS * 1000;
  let busy = await cpuBusy(1000);
  if (busy >= IDLE_BELOW && waitS > 0) {
    log(`  waiting for the machine to go idle (${Math.round(busy * 100)} % busy)…`);
    while (busy >= IDLE_BELOW && performance.now() < end) busy = await cpuBusy(2000);
  }
  return busy;
}

export interface E2eResults {
  readonly results: Map<string, SetupResult>;
  /** The director's veth offload settings, as ethtool reported them. */
  readonly offloads: string;
}

export async function runE2e(o: E2eOptions, log: (line: string) => void): Promise<E2eResults> {
  const order: Setup[] = [];
  for (const s of SETUPS) {
    if (o.only !== null && !o.only.includes(s.id)) continue;
    const why = s.unavailable?.() ?? null;
    if (why === null) order.push(s);
    else log(`${s.label}: skipped: ${why}`);
  }
  const runs = new Map<string, Run1[]>();
  let offloadText = '';
  for (let rep = 1; rep <= o.repeat; rep++) {
    // Every other repetition runs the setups in reverse, so a drift in the machine's load does not
    // always fall on the same setups.
    for (const s of rep % 2 === 1 ? order : [...order].reverse()) {
      log(`${s.label}${o.repeat > 1 ? ` (run ${rep} of ${o.repeat})` : ''}`);
      const busy = await background(o.idleWaitS, log);
      const t0 = performance.now();
      const r = await runSetup(s, o, log);
      r.diag.unshift(`background CPU before the start: ${Math.round(busy * 100)} %`);
      if (r.failure !== undefined) log(`  NOT MEASURED: ${r.failure}`);
      if (o.verbose) for (const l of r.shown) log(`  $ ${l.replaceAll('\n', '\n    ')}`);
      for (const d of r.diag) log(`  ${d}`);
      log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      if (offloadText === '' && r.offloads !== '') offloadText = r.offloads;
      runs.set(s.id, [...(runs.get(s.id) ?? []), r]);
    }
  }
  const results = new Map<string, SetupResult>();
  for (const s of order) {
    const rs = runs.get(s.id) ?? [];
    const ok = rs.filter((r) => r.failure === undefined);
    const measures: Partial<Record<MeasureId, Measure>> = {};
    for (const m of MEASURES) {
      const xs = ok.map((r) => r.measures[m]).filter((x): x is Measure => x !== undefined);
      if (xs.length > 0) measures[m] = medianMeasure(m, xs);
    }
    results.set(s.id, {
      id: s.id,
      label: s.label,
      tslvs: s.tslvs,
      ref: s.ref,
      failure: ok.length === 0 ? rs[0]?.failure : undefined,
      check: ok[0]?.check ?? '',
      measures,
      diag: rs.flatMap((r, k) => r.diag.map((d) => (rs.length > 1 ? `run ${k + 1}: ${d}` : d))),
    });
  }
  return { results, offloads: offloadText };
}

async function main(): Promise<number> {
  let o: E2eOptions;
  try {
    o = optionsFromEnv(process.env);
  } catch (e) {
    console.error(`bench:e2e: ${(e as Error).message}`);
    return 2;
  }
  const missing = missingRequirement();
  if (missing !== null) {
    console.error(`bench:e2e: ${missing}`);
    return missing.startsWith('needs root') ? 4 : 2;
  }
  const header = [
    `tslvs bench:e2e — wrk ${o.conns} connections (2 × -t1 -c${o.conns / 2}), ${o.seconds} s per measure; ` +
      `iperf3 -P ${o.streams}; UDP 60-byte frames, ${o.flows} flows${o.repeat > 1 ? `; median of ${o.repeat} runs` : ''}` +
      `; tslvs daemon --iface eth0${o.daemonArgs.map((a) => ` ${a}`).join('')}`,
    ...machineLines(),
    `load average at start: ${loadAvg()}`,
  ];
  for (const l of header) console.log(l);
  // The load average lags by minutes (an earlier run of this bench still shows in it); what the
  // CPUs do right now is what matters.
  const busy = await cpuBusy(1000);
  if (busy >= IDLE_BELOW)
    console.log(
      `warning: other programs keep ${Math.round(busy * 100)} % of the CPUs busy as the bench starts: ` +
        'every setup shares the CPUs with them, so the figures will be noisy (see TSLVS_E2E_IDLE_WAIT)',
    );
  console.log('');
  const t0 = performance.now();
  const { results, offloads: off } = await runE2e(o, (l) => console.log(l));
  const order = SETUPS.map((s) => s.id);
  console.log('');
  console.log(`veth offloads (director eth0): ${off}`);
  console.log('');
  console.log(formatTable(order, results));
  console.log('');
  console.log(formatTargets(results, new Map(SETUPS.map((s) => [s.id, s.label]))));
  console.log('');
  console.log(formatNotes(order, results));
  console.log(
    `\nDone in ${((performance.now() - t0) / 1000).toFixed(0)} s (load average now ${loadAvg()}); ` +
      'every namespace and process is gone.',
  );
  if (o.json !== null) {
    writeFileSync(o.json, JSON.stringify({ header, offloads: off, results: [...results.values()] }, null, 2));
    console.log(`Results written to ${o.json}.`);
  }
  return 0;
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly())
  void main().then((code) => {
    process.exitCode = code;
  });

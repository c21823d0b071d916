/**
 * `tslvs lab sched`: N connections to the seeds' VIP under rr, wrr, wlc, sh and mh — how many each
 * real server gets, and what moves when one of them is removed.
 *
 * This scenario runs in-process, without namespaces or root: each connection's first packet goes
 * through the real IPVS core (the daemon's scheduler, service table and connection table) via
 * `tslvs simulate`, on a simulated clock, and the real server is read from the frame the core
 * forwards. Real traffic would add nothing here but noise: scheduling happens on the first packet.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseChange, simulate } from '../cli/simulate.ts';
import type { FlowReport, MovedReport, ServiceReport } from '../cli/simulate.ts';
import { formatHosts, formatKeep, formatTitle, table } from './format.ts';
import { LabError, EXIT_SOFTWARE } from './env.ts';
import { LabRun } from './run.ts';
import type { NetSpec } from './run.ts';
import { directorHost, hideVip } from './lvs.ts';

export const SCHED_DEFAULT_FLOWS = 1000;
export const SCHED_NAMES = ['rr', 'wrr', 'wlc', 'sh', 'mh'] as const;
export type SchedName = (typeof SCHED_NAMES)[number];

const VIP = '192.168.188.100:80';
/** The seeds' .181 and .182, and .183 so that weights have something to say. */
export const SCHED_SERVERS: readonly { readonly rip: string; readonly weight: number }[] = [
  { rip: '192.168.188.181', weight: 3 },
  { rip: '192.168.188.182', weight: 2 },
  { rip: '192.168.188.183', weight: 1 },
];
/** The real server removed half-way. */
export const SCHED_REMOVED = '192.168.188.182';
export const SCHED_CLIENTS = '198.18.0.0/15';

export function schedRules(sched: SchedName): string {
  return [
    `-A -t ${VIP} -s ${sched}`,
    ...SCHED_SERVERS.map((s) => `-a -t ${VIP} -r ${s.rip}:80 -g -w ${s.weight}`),
    '',
  ].join('\n');
}

export interface SchedRow {
  readonly sched: SchedName;
  /** Connections per real server (SCHED_SERVERS order) in the first run. */
  readonly flows: readonly number[];
  /** Shares the weights predict, percent (null where they predict nothing). */
  readonly expected: readonly (number | null)[];
  /** Connections per real server after the removal (the removed one 0). */
  readonly after: readonly number[];
  readonly moved: MovedReport;
  /** Of the moved, those that had been on the removed server. */
  readonly movedFromRemoved: number;
}

export interface SchedResult {
  readonly flows: number;
  readonly seed: number;
  readonly rows: readonly SchedRow[];
  readonly text: string;
  /** Per scheduler (SCHED_NAMES order): each flow's client (address only) and real server. */
  readonly flowsRun: readonly (readonly PlacedFlow[])[];
  /** The same, for the replay after the removal. */
  readonly flowsReplay: readonly (readonly PlacedFlow[])[];
}

export interface PlacedFlow {
  readonly client: string;
  /** RIP:PORT, or null when the flow was not forwarded. */
  readonly server: string | null;
}

const placed = (fs: readonly FlowReport[]): PlacedFlow[] =>
  fs.map((f) => ({ client: f.client.split(':')[0], server: f.server }));

function countsOf(s: ServiceReport): number[] {
  return SCHED_SERVERS.map((d) => s.servers.find((r) => r.server === `${d.rip}:80`)?.flows ?? 0);
}

export function runSched(o: { flows?: number; seed?: number } = {}): SchedResult {
  const flows = o.flows ?? SCHED_DEFAULT_FLOWS;
  const seed = o.seed ?? 1;
  const change = parseChange('remove', `${SCHED_REMOVED}:80`);
  if (typeof change === 'string') throw new LabError(change, EXIT_SOFTWARE);
  const rows: SchedRow[] = [];
  const flowsRun: PlacedFlow[][] = [];
  const flowsReplay: PlacedFlow[][] = [];
  for (const sched of SCHED_NAMES) {
    const r = simulate({
      rulesText: schedRules(sched),
      rulesName: `${sched}.rules`,
      generate: { count: flows, clients: SCHED_CLIENTS },
      proto: 'tcp',
      seed,
      changes: [change],
      replay: 'expire',
    });
    if (!r.ok) throw new LabError(`simulate (${sched}): ${r.error}`, EXIT_SOFTWARE);
    const run = r.report.run.services[0];
    const replay = r.report.replay?.services[0];
    const moved = replay?.moved ?? r.report.moved;
    if (replay === undefined || moved === null || moved === undefined || r.report.replay === null)
      throw new LabError(`simulate (${sched}): no replay`, EXIT_SOFTWARE);
    flowsRun.push(placed(r.report.run.flows));
    flowsReplay.push(placed(r.report.replay.flows));
    rows.push({
      sched,
      flows: countsOf(run),
      expected: SCHED_SERVERS.map(
        (d) => run.servers.find((x) => x.server === `${d.rip}:80`)?.expected ?? null,
      ),
      after: countsOf(replay),
      moved,
      movedFromRemoved: moved.from.filter((f) => f.removed).reduce((a, f) => a + f.flows, 0),
    });
  }
  return { flows, seed, rows, text: formatSched(flows, seed, rows), flowsRun, flowsReplay };
}

const expectedText = (e: number | null): string => (e === null ? '-' : `${e.toFixed(1)}%`);
const others = (n: number): string => `${n} other${n === 1 ? '' : 's'}`;
const pct = (n: number, of: number): string => `${of === 0 ? '0.0' : ((100 * n) / of).toFixed(1)}%`;

function formatSched(flows: number, seed: number, rows: readonly SchedRow[]): string {
  const short = (rip: string): string => `.${rip.split('.')[3]}`;
  let out = `tslvs lab sched — ${flows} connections to ${VIP} under ${SCHED_NAMES.join(', ')}
In-process: every connection's first packet goes through the real IPVS core (the daemon's
schedulers and connection table) via tslvs simulate; no namespaces, no root needed.
Clients: random addresses in ${SCHED_CLIENTS} (seed ${seed}); the rules, per scheduler:
  -A -t ${VIP} -s <sched>
${SCHED_SERVERS.map((s) => `  -a -t ${VIP} -r ${s.rip}:80 -g -w ${s.weight}`).join('\n')}

Connections per real server (share; the share the weights predict):
`;
  const head = ['sched', ...SCHED_SERVERS.map((s) => `${s.rip} w${s.weight}`)];
  out += table(
    head,
    rows.map((r) => [
      r.sched,
      ...r.flows.map(
        (n, k) => `${String(n).padStart(6)} ${pct(n, flows).padStart(6)} (${expectedText(r.expected[k])})`,
      ),
    ]),
    '  ',
  );
  out += `\nThen ${SCHED_REMOVED} is removed (ipvsadm -d) and the same ${flows} clients connect again:\n`;
  const kept = SCHED_SERVERS.map((s, k) => ({ s, k })).filter(({ s }) => s.rip !== SCHED_REMOVED);
  out += table(
    ['sched', ...kept.map(({ s }) => short(s.rip)), 'moved to another server'],
    rows.map((r) => [
      r.sched,
      ...kept.map(({ k }) => String(r.after[k])),
      `${r.moved.moved} (${pct(r.moved.moved, flows)}): ${r.movedFromRemoved} had to (they were on ${short(SCHED_REMOVED)}), ${others(r.moved.moved - r.movedFromRemoved)}`,
    ]),
    '  ',
  );
  out += `
Look for:
  - rr ignores the weights; wrr and wlc follow them exactly (every connection is still open, so
    wlc's least-connections-per-weight is wrr's ratio).
  - sh and mh hash the client address: the same client always gets the same server, and the
    shares only approach the weights.
  - After the removal, rr, wrr and wlc reshuffle many clients that were not on ${short(SCHED_REMOVED)}; sh rebuilds
    its bucket table and moves others too; mh (Maglev hashing) moves almost only ${short(SCHED_REMOVED)}'s clients.
`;
  return out;
}

// ------------------------------------------------------------------------------ live

/**
 * The same experiment on real hosts: a client, the director running tslvsd and three real
 * servers (the seeds' DR plan, with .183 added), the rules loaded through tslvsadm for each
 * scheduler in turn, and real HTTP connections from the client — one at a time, each from its
 * own client address, the addresses `tslvs simulate` generated for its prediction. The client
 * owns the whole 198.18.0.0/15 block (a local route, so it can send from any address in it)
 * and the real servers route that block back through the client's LAN address.
 *
 * Connections go one at a time so the order the director sees is the order they were sent,
 * which is what makes rr and wrr comparable with the prediction connection by connection; sh and
 * mh depend only on the client address. wlc differs from the prediction where a finished
 * connection counts as inactive (1) in the director and as active (256) in the prediction.
 */
export interface SchedLiveOptions {
  readonly flows?: number;
  readonly seed?: number;
  readonly keep?: boolean;
  readonly prefix?: string;
  readonly handleSignals?: boolean;
  readonly onSignal?: (line: string) => void;
  readonly emit?: (text: string) => void;
}

export interface SchedLiveRow {
  readonly sched: SchedName;
  /** The real server's name (rs1..rs3) that answered each connection, or null; first round. */
  readonly served: readonly (string | null)[];
  /** The same clients after the removal. */
  readonly servedAfter: readonly (string | null)[];
  /** Connections per real server (SCHED_SERVERS order), each round. */
  readonly flows: readonly number[];
  readonly after: readonly number[];
  readonly failed: number;
  /** Clients answered by a different server in the second round, and of those the removed one's. */
  readonly moved: number;
  readonly movedFromRemoved: number;
  /** Connections that went where tslvs simulate predicted, each round. */
  readonly agree: number;
  readonly agreeAfter: number;
  /** `ipvsadm -Ln` after the second round. */
  readonly listing: string;
}

export interface SchedLiveResult {
  readonly flows: number;
  readonly seed: number;
  readonly rows: readonly SchedLiveRow[];
  readonly prediction: SchedResult;
  readonly namespaces: readonly { readonly role: string; readonly ns: string }[];
  readonly admCommand: string;
  readonly kept: boolean;
  readonly seconds: number;
}

const LIVE_VIP = VIP.split(':')[0];
const LIVE_CLIENT = '192.168.188.11';
const ROLES = ['rs1', 'rs2', 'rs3'] as const;

/**
 * One connection at a time from each address in the file argv[1]; prints the answering server.
 * Connection i uses client port 1024 + (argv[2] + i) mod 64000, so no two connections of a lab
 * run share a 4-tuple: a SYN that found the director's conn of an earlier round still in
 * FIN_WAIT would go to that conn's real server (conn_reuse_mode 1 reschedules only TIME_WAIT
 * and CLOSE), and be dropped if that server had been removed — as in the kernel.
 */
const LIVE_CLIENT_JS = `const http = require('http');
const addrs = require('fs').readFileSync(process.argv[1], 'utf8').split('\\n').filter(Boolean);
const base = Number(process.argv[2]);
const one = (a, i) => new Promise((res) => {
  const o = { host: '${LIVE_VIP}', port: 80, path: '/', localAddress: a, localPort: 1024 + ((base + i) % 64000), agent: false, timeout: 3000 };
  const q = http.get(o, (r) => {
    let b = ''; r.setEncoding('utf8'); r.on('data', (d) => (b += d)); r.on('end', () => res(b.trim().split('\\n')[0] || 'FAILED'));
  });
  q.on('timeout', () => q.destroy(new Error('timeout')));
  q.on('error', () => res('FAILED'));
});
(async () => { const out = []; for (const [i, a] of addrs.entries()) out.push(await one(a, i)); process.stdout.write(out.join('\\n') + '\\n'); })();`;

function liveNet(): NetSpec {
  return {
    hosts: ['client', 'director', ...ROLES],
    segments: [
      {
        switch: 'switch',
        members: [
          { role: 'client', ifname: 'eth0', addrs: [`${LIVE_CLIENT}/24`] },
          { role: 'director', ifname: 'eth0', addrs: ['192.168.188.180/24'] },
          ...SCHED_SERVERS.map((s, k) => ({ role: ROLES[k], ifname: 'eth0', addrs: [`${s.rip}/24`] })),
        ],
      },
    ],
  };
}

export async function runSchedLive(o: SchedLiveOptions = {}): Promise<SchedLiveResult> {
  const t0 = performance.now();
  const flows = o.flows ?? SCHED_DEFAULT_FLOWS;
  const seed = o.seed ?? 1;
  const prediction = runSched({ flows, seed });
  const emit = o.emit ?? (() => {});
  const run = new LabRun({ prefix: o.prefix, handleSignals: o.handleSignals, onSignal: o.onSignal });
  let ok = false;
  try {
    run.build(liveNet());
    directorHost(run, 'director');
    run.exec('client', 'ip', 'route', 'add', 'local', SCHED_CLIENTS, 'dev', 'lo');
    for (const role of ROLES) {
      hideVip(run, role, LIVE_VIP);
      run.route(role, SCHED_CLIENTS, LIVE_CLIENT);
    }
    await Promise.all(ROLES.map((role) => run.httpServer(role, role, 80)));
    await run.startDaemon('director', ['eth0']);
    emit(formatLiveHeader(flows, seed, run));

    // The clients of the prediction, in its order (flow n's address).
    const addrs = prediction.flowsRun[0].map((c) => c.client);
    const file = join(run.dir, 'clients.txt');
    writeFileSync(file, `${addrs.join('\n')}\n`);
    const roleOf = new Map(SCHED_SERVERS.map((s, k) => [`${s.rip}:80`, ROLES[k] as string]));
    const removedRole = ROLES[SCHED_SERVERS.findIndex((s) => s.rip === SCHED_REMOVED)];

    const adm = async (line: string): Promise<string> => {
      const r = await run.adm(line);
      if (r.code !== 0)
        throw new LabError(`ipvsadm ${line}: ${r.stderr.trim() || `exit status ${r.code}`}`, EXIT_SOFTWARE);
      return r.stdout;
    };
    let rounds = 0;
    const round = async (): Promise<(string | null)[]> => {
      const base = flows * rounds++;
      const r = await run.run(
        'client',
        run.progs.node,
        ['-e', LIVE_CLIENT_JS, file, String(base)],
        60_000 + flows * 100,
      );
      if (r.code !== 0) throw new LabError(`the client failed: ${r.stderr.trim()}`, EXIT_SOFTWARE);
      const got = r.stdout.split('\n').filter((l) => l !== '');
      if (got.length !== addrs.length)
        throw new LabError(`the client answered ${got.length} of ${addrs.length} connections`, EXIT_SOFTWARE);
      return got.map((g) => (g === 'FAILED' ? null : g));
    };
    const counts = (served: readonly (string | null)[]): number[] =>
      ROLES.map((role) => served.filter((s) => s === role).length);

    const rows: SchedLiveRow[] = [];
    for (const [k, sched] of SCHED_NAMES.entries()) {
      await adm('-C');
      for (const line of schedRules(sched)
        .split('\n')
        .filter((l) => l !== ''))
        await adm(line);
      const served = await round();
      await adm(`-d -t ${VIP} -r ${SCHED_REMOVED}:80`);
      const servedAfter = await round();
      const listing = await adm('-Ln');
      const predicted = prediction.flowsRun[k].map((c) => (c.server === null ? null : roleOf.get(c.server)));
      const predictedAfter = prediction.flowsReplay[k].map((c) =>
        c.server === null ? null : roleOf.get(c.server),
      );
      let moved = 0;
      let movedFromRemoved = 0;
      served.forEach((s, i) => {
        if (s === null || servedAfter[i] === null || s === servedAfter[i]) return;
        moved++;
        if (s === removedRole) movedFromRemoved++;
      });
      rows.push({
        sched,
        served,
        servedAfter,
        flows: counts(served),
        after: counts(servedAfter),
        failed: [...served, ...servedAfter].filter((s) => s === null).length,
        moved,
        movedFromRemoved,
        agree: served.filter((s, i) => s !== null && s === predicted[i]).length,
        agreeAfter: servedAfter.filter((s, i) => s !== null && s === predictedAfter[i]).length,
        listing,
      });
      emit(`  ${sched}: done\n`);
    }
    ok = true;
    return {
      flows,
      seed,
      rows,
      prediction,
      namespaces: [...run.hosts, ...run.switches].map((role) => ({ role, ns: run.ns(role) })),
      admCommand: `TSLVS_SOCKET=${run.sock} ${run.progs.node} ${run.progs.tslvsadm}`,
      kept: o.keep === true,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    throw run.withDaemonLog(e);
  } finally {
    run.close(ok && o.keep === true);
  }
}

function formatLiveHeader(flows: number, seed: number, run: LabRun): string {
  return (
    formatTitle(
      'tslvs lab sched',
      `${flows} real connections to ${VIP} under ${SCHED_NAMES.join(', ')}, then one server removed`,
      'seed 000 (the DR plan) and seed 001 (「调度算法」)',
    ) +
    formatHosts(run) +
    `
Setup:
  director: ip_forward=0 (tslvs forwards; it answers ARP for the VIP)
  rs1..rs3: ip addr add ${LIVE_VIP}/32 dev lo; arp_ignore=1 arp_announce=2; route ${SCHED_CLIENTS} via ${LIVE_CLIENT}
  client: ip route add local ${SCHED_CLIENTS} dev lo (it may send from any address in the block)

For each scheduler: ipvsadm -C, then
  -A -t ${VIP} -s <sched>
${SCHED_SERVERS.map((s) => `  -a -t ${VIP} -r ${s.rip}:80 -g -w ${s.weight}`).join('\n')}
${flows} connections, one at a time, each from its own client address (seed ${seed}); then
ipvsadm -d -t ${VIP} -r ${SCHED_REMOVED}:80 and the same clients connect again.

`
  );
}

export function formatSchedLive(r: SchedLiveResult): string {
  const short = (rip: string): string => `.${rip.split('.')[3]}`;
  const n = r.flows;
  let out = `\nConnections per real server, as the real servers answered (share; the share the weights predict):\n`;
  out += table(
    ['sched', ...SCHED_SERVERS.map((s, k) => `${ROLES[k]} ${s.rip} w${s.weight}`), 'as simulate predicted'],
    r.rows.map((row, i) => [
      row.sched,
      ...row.flows.map(
        (c, k) =>
          `${String(c).padStart(6)} ${pct(c, n).padStart(6)} (${expectedText(r.prediction.rows[i].expected[k])})`,
      ),
      `${row.agree}/${n}`,
    ]),
    '  ',
  );
  out += `\nAfter ipvsadm -d ${SCHED_REMOVED}, the same ${n} clients again:\n`;
  const kept = SCHED_SERVERS.map((s, k) => ({ s, k })).filter(({ s }) => s.rip !== SCHED_REMOVED);
  out += table(
    ['sched', ...kept.map(({ s }) => short(s.rip)), 'moved to another server', 'as predicted'],
    r.rows.map((row) => [
      row.sched,
      ...kept.map(({ k }) => String(row.after[k])),
      `${row.moved} (${pct(row.moved, n)}): ${row.movedFromRemoved} had to, ${others(row.moved - row.movedFromRemoved)}`,
      `${row.agreeAfter}/${n}`,
    ]),
    '  ',
  );
  const failed = r.rows.reduce((a, row) => a + row.failed, 0);
  if (failed > 0) out += `  ${failed} connections got no answer\n`;
  const last = r.rows[r.rows.length - 1];
  out += `\n$ ipvsadm -Ln   (after the ${last.sched} rounds)\n${last.listing}`;
  out += `
Look for:
  - rr ignores the weights; wrr follows them exactly; wlc follows them too (a finished
    connection still counts, as inactive, until it expires). wlc places connections one by one
    differently from the prediction, which counts every connection as still open (active, 256)
    where the director counts finished ones as inactive (1); the shares agree.
  - sh and mh hash the client address: the same client always gets the same server, and the
    shares only approach the weights. "as simulate predicted": the director placed each
    connection where tslvs simulate (the same core, in-process) said it would.
  - After the removal, rr, wrr and wlc reshuffle many clients that were not on ${short(SCHED_REMOVED)}; sh rebuilds
    its bucket table and moves others too; mh (Maglev hashing) moves almost only ${short(SCHED_REMOVED)}'s clients.
`;
  out += r.kept
    ? formatKeep(r)
    : `\nDone in ${r.seconds.toFixed(1)} s; the lab's namespaces and processes are gone.\n`;
  return out;
}

/**
 * `tslvs lab sched`: N connections to the seeds' VIP under rr, wrr, wlc, sh and mh — how many each
 * real server gets, and what moves when one of them is removed.
 *
 * This scenario runs in-process, without namespaces or root: each connection's first packet goes
 * through the real IPVS core (the daemon's scheduler, service table and connection table) via
 * `tslvs simulate`, on a simulated clock, and the real server is read from the frame the core
 * forwards. Real traffic would add nothing here but noise: scheduling happens on the first packet.
 */
import { parseChange, simulate } from '../cli/simulate.ts';
import type { MovedReport, ServiceReport } from '../cli/simulate.ts';
import { table } from './format.ts';
import { LabError, EXIT_SOFTWARE } from './env.ts';

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
}

function countsOf(s: ServiceReport): number[] {
  return SCHED_SERVERS.map((d) => s.servers.find((r) => r.server === `${d.rip}:80`)?.flows ?? 0);
}

export function runSched(o: { flows?: number; seed?: number } = {}): SchedResult {
  const flows = o.flows ?? SCHED_DEFAULT_FLOWS;
  const seed = o.seed ?? 1;
  const change = parseChange('remove', `${SCHED_REMOVED}:80`);
  if (typeof change === 'string') throw new LabError(change, EXIT_SOFTWARE);
  const rows: SchedRow[] = [];
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
    if (replay === undefined || moved === null || moved === undefined)
      throw new LabError(`simulate (${sched}): no replay`, EXIT_SOFTWARE);
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
  return { flows, seed, rows, text: formatSched(flows, seed, rows) };
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

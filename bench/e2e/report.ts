/**
 * The table of `npm run bench:e2e`: one row per setup, one column per measure, and next to each
 * tslvs figure its ratio to the named reference and to HAProxy, marked `met` or `MISSED` where
 * issue #4 §7 sets a target. The ceiling references (no targets) show their ratios to their
 * reference only. Pure functions over the results, so the wording of the verdicts is in one place.
 */
import type { Measure } from './measure.ts';

export const MEASURES = ['keepalive', 'close', 'iperf', 'udp'] as const;
export type MeasureId = (typeof MEASURES)[number];

export const MEASURE_TITLE: Readonly<Record<MeasureId, string>> = {
  keepalive: 'keep-alive req/s',
  close: 'close req/s',
  iperf: 'iperf3 Gbit/s',
  udp: 'UDP kpps',
};

export interface SetupResult {
  readonly id: string;
  readonly label: string;
  readonly tslvs: boolean;
  /** The reference this row's ratios use (tslvs rows and the ceiling references). */
  readonly ref?: string;
  /** Why the setup was not measured (it did not start, or failed its check). */
  readonly failure?: string;
  /** The check before measuring, or the failure. */
  readonly check: string;
  readonly measures: Partial<Record<MeasureId, Measure>>;
  /** Extra lines: tslvsd counters, log lines. */
  readonly diag: readonly string[];
}

/** A target of issue #4 §7: `setup` ÷ `ref` ≥ `min` on `measure`. */
export interface Target {
  readonly setup: string;
  readonly ref: string;
  readonly measure: MeasureId;
  readonly min: number;
}

const TSLVS_MODES = ['tslvs-dr', 'tslvs-nat', 'tslvs-tun', 'tslvs-fullnat'] as const;

/**
 * The targets, as the issue states them: DR ≥ 1.0× kernel routing for keep-alive and close; NAT ≥
 * 1.0× nftables DNAT (the same two measures); every tslvs mode ≥ 1.5× HAProxy (everything HAProxy
 * does: both HTTP measures and iperf3); iperf3 of every mode ≥ 0.9× kernel routing.
 */
export const TARGETS: readonly Target[] = [
  { setup: 'tslvs-dr', ref: 'routing', measure: 'keepalive', min: 1.0 },
  { setup: 'tslvs-dr', ref: 'routing', measure: 'close', min: 1.0 },
  { setup: 'tslvs-nat', ref: 'nft-dnat', measure: 'keepalive', min: 1.0 },
  { setup: 'tslvs-nat', ref: 'nft-dnat', measure: 'close', min: 1.0 },
  ...TSLVS_MODES.flatMap((m) =>
    (['keepalive', 'close', 'iperf'] as const).map((measure) => ({
      setup: m,
      ref: 'haproxy',
      measure,
      min: 1.5,
    })),
  ),
  ...TSLVS_MODES.map((m) => ({ setup: m, ref: 'routing', measure: 'iperf' as const, min: 0.9 })),
];

export type Verdict = 'met' | 'MISSED' | 'not measured';

export interface RatioCell {
  readonly ratio: number | null;
  readonly target: Target | null;
  readonly verdict: Verdict | null;
}

/** A measure that counts: a value and no error. */
function usable(m: Measure | undefined): number | null {
  return m !== undefined && m.value !== null && m.error === undefined && m.value > 0 ? m.value : null;
}

/** setup ÷ ref on a measure, with the verdict when a target covers it. */
export function ratioCell(
  results: ReadonlyMap<string, SetupResult>,
  setup: string,
  ref: string,
  measure: MeasureId,
): RatioCell {
  const target = TARGETS.find((t) => t.setup === setup && t.ref === ref && t.measure === measure) ?? null;
  const a = usable(results.get(setup)?.measures[measure]);
  const b = usable(results.get(ref)?.measures[measure]);
  const ratio = a === null || b === null ? null : a / b;
  let verdict: Verdict | null = null;
  if (target !== null) {
    // A tslvs figure that is missing or failed misses its target; a missing reference leaves it open.
    if (b === null) verdict = 'not measured';
    else if (a === null) verdict = 'MISSED';
    else verdict = ratio! >= target.min ? 'met' : 'MISSED';
  }
  return { ratio, target, verdict };
}

export function fmtValue(id: MeasureId, m: Measure | undefined): string {
  if (m === undefined) return 'n/a';
  if (m.value === null) return 'FAILED';
  const v =
    id === 'iperf'
      ? m.value.toFixed(2)
      : id === 'udp'
        ? (m.value / 1000).toFixed(0)
        : Math.round(m.value).toLocaleString('en-US').replaceAll(',', ' ');
  return m.error === undefined ? v : `${v} (errors)`;
}

function fmtRatio(c: RatioCell): string {
  if (c.ratio === null && c.verdict === null) return '';
  const r = c.ratio === null ? '—' : c.ratio.toFixed(2);
  return c.verdict === null ? r : `${r} ${c.verdict === 'not measured' ? '?' : c.verdict}`;
}

/** Left-aligned text columns, right-aligned numbers, two spaces apart. */
export function textTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number>,
): string {
  const all = [head, ...rows];
  const w = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((x, c) => (right.has(c) ? x.padStart(w[c]) : x.padEnd(w[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * The one table: values; for tslvs rows the ratios to their reference and to HAProxy; for the
 * other rows with a reference (the ceilings) the ratios to it alone, with no verdict (TARGETS names
 * only tslvs setups).
 */
export function formatTable(order: readonly string[], results: ReadonlyMap<string, SetupResult>): string {
  const head = ['setup'];
  const right = new Set<number>();
  for (const m of MEASURES) {
    right.add(head.length);
    head.push(MEASURE_TITLE[m]);
    head.push(m === 'iperf' ? '÷routing' : '÷ref');
    if (m !== 'udp') head.push('÷HAProxy');
  }
  const rows: string[][] = [];
  for (const id of order) {
    const r = results.get(id);
    if (r === undefined) continue;
    const row = [r.label];
    for (const m of MEASURES) {
      row.push(r.failure !== undefined ? '—' : fmtValue(m, r.measures[m]));
      const ref = m === 'iperf' ? 'routing' : r.ref;
      const ratios = r.tslvs || r.ref !== undefined;
      row.push(ratios && ref !== undefined ? fmtRatio(ratioCell(results, id, ref, m)) : '');
      if (m !== 'udp') row.push(r.tslvs ? fmtRatio(ratioCell(results, id, 'haproxy', m)) : '');
    }
    rows.push(row);
  }
  return textTable(head, rows, right);
}

/** The targets one per line, with the count met; `labels` names setups that did not run. */
export function formatTargets(
  results: ReadonlyMap<string, SetupResult>,
  labels: ReadonlyMap<string, string> = new Map(),
): string {
  const label = (id: string): string => results.get(id)?.label ?? labels.get(id) ?? id;
  const rows: string[][] = [];
  let met = 0;
  let missed = 0;
  for (const t of TARGETS) {
    if (!results.has(t.setup)) continue;
    const c = ratioCell(results, t.setup, t.ref, t.measure);
    if (c.verdict === 'met') met++;
    if (c.verdict === 'MISSED') missed++;
    rows.push([
      `${label(t.setup)} ÷ ${label(t.ref)}`,
      MEASURE_TITLE[t.measure].replace(/ (req\/s|Gbit\/s|kpps)$/, ''),
      c.ratio === null ? '—' : c.ratio.toFixed(2),
      `≥ ${t.min.toFixed(1)}`,
      c.verdict ?? '',
    ]);
  }
  const open = rows.length - met - missed;
  return (
    textTable(['target', 'measure', 'ratio', 'need', 'verdict'], rows, new Set([2])) +
    `\n\n${met} of ${rows.length} targets met, ${missed} MISSED${open > 0 ? `, ${open} not measured` : ''}.`
  );
}

/** Notes under the table: errors, retransmits, loss, failures, tslvsd counters. */
export function formatNotes(order: readonly string[], results: ReadonlyMap<string, SetupResult>): string {
  const out: string[] = [];
  for (const id of order) {
    const r = results.get(id);
    if (r === undefined) continue;
    const parts: string[] = [];
    if (r.failure !== undefined) parts.push(`NOT MEASURED: ${r.failure}`);
    else parts.push(`check: ${r.check}`);
    for (const m of MEASURES) {
      const x = r.measures[m];
      if (x === undefined) continue;
      const bits = [x.note, x.error].filter((s): s is string => s !== undefined && s !== '');
      if (bits.length > 0)
        parts.push(`${MEASURE_TITLE[m].replace(/ (req\/s|Gbit\/s|kpps)$/, '')}: ${bits.join('; ')}`);
    }
    out.push(`${r.label}: ${parts.join('; ')}`);
    for (const d of r.diag) out.push(`  ${d}`);
  }
  return out.join('\n');
}

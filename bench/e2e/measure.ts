/**
 * The load generators of `npm run bench:e2e` and the parsers of what they print: wrk (HTTP
 * requests per second), iperf3 (bulk TCP Gbit/s) and the small-UDP blaster (bench/e2e/blast.ts),
 * whose packets are counted where they arrive, by an nftables counter on each real server.
 *
 * Every runner resolves with a Measure: a value, or the reason there is none (a tool that failed, a
 * run with socket errors). Nothing here throws for a failed measurement: a failure is a result.
 */
import type { LabRun } from '../../src/lab/run.ts';
import { sleep } from '../../src/lab/run.ts';

/** One cell of the table: a number, or why there is none. */
export interface Measure {
  /** The figure (req/s, Gbit/s or packets/s), or null when the run produced none. */
  readonly value: number | null;
  /** Errors, timeouts, loss: printed next to the figure. Empty when clean. */
  readonly note: string;
  /**
   * Why the run does not count (set with value null, or with a value that is shown but not used
   * for a ratio, e.g. wrk's figure when over 1 % of requests failed).
   */
  readonly error?: string;
}

export const failed = (error: string): Measure => ({ value: null, note: '', error });

// ---------------------------------------------------------------------------------------- wrk

export interface WrkOutput {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  /** Socket errors: connect + read + write + timeout. */
  readonly socketErrors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** Mean latency in ms (wrk's "Latency" Avg), or null when absent. */
  readonly latencyMs: number | null;
}

const UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Parses wrk 4's text report; null when it has no "Requests/sec" line (wrk failed). */
export function parseWrk(text: string): WrkOutput | null {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)\b/m.exec(text);
  if (rps === null || total === null) return null;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const lat = /^\s*Latency\s+([\d.]+)(us|ms|s|m)\b/m.exec(text);
  const socketErrors = sock === null ? 0 : sock.slice(1, 5).reduce((a, x) => a + Number(x), 0);
  return {
    requests: Number(total[1]),
    seconds: (Number(total[2]) * UNIT_MS[total[3]]) / 1000,
    rps: Number(rps[1]),
    socketErrors,
    timeouts: sock === null ? 0 : Number(sock[4]),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    latencyMs: lat === null ? null : Number(lat[1]) * UNIT_MS[lat[2]],
  };
}

/**
 * Sums the reports of wrk processes that ran side by side. A run counts as failed when any
 * process failed or when more than 1 % of the requests ended in an error: a director that drops
 * connections must not look fast because wrk counts what did get through.
 */
export function combineWrk(outs: readonly (WrkOutput | null)[], stderr: readonly string[]): Measure {
  if (outs.length === 0) return failed('no wrk run');
  const bad = outs.findIndex((o) => o === null);
  if (bad >= 0) return failed(`wrk failed: ${firstLine(stderr[bad]) || 'no report'}`);
  const ok = outs as readonly WrkOutput[];
  const rps = ok.reduce((a, o) => a + o.rps, 0);
  const requests = ok.reduce((a, o) => a + o.requests, 0);
  const errors = ok.reduce((a, o) => a + o.socketErrors + o.non2xx, 0);
  const timeouts = ok.reduce((a, o) => a + o.timeouts, 0);
  // Mean latency over all requests: each process's mean weighted by its requests.
  const lats = ok.filter((o) => o.latencyMs !== null);
  const latReq = lats.reduce((a, o) => a + o.requests, 0);
  const lat = latReq > 0 ? lats.reduce((a, o) => a + o.latencyMs! * o.requests, 0) / latReq : null;
  const note = [
    lat === null ? '' : `latency ${lat.toFixed(2)} ms`,
    errors === 0 ? '' : `${errors} errors${timeouts > 0 ? ` (${timeouts} timeouts)` : ''}`,
  ]
    .filter(Boolean)
    .join(', ');
  if (requests === 0) return failed('no request completed');
  if (errors > requests / 100)
    return { value: rps, note, error: `${errors} errors in ${requests} requests (over 1 %)` };
  return { value: rps, note };
}

function firstLine(s: string | undefined): string {
  return (s ?? '').trim().split('\n')[0] ?? '';
}

export interface WrkOptions {
  readonly seconds: number;
  /** Connections per wrk process. */
  readonly connections: number;
  /** Send `Connection: close` (one TCP connection per request). */
  readonly close: boolean;
}

/** One wrk process per URL, side by side (`-t1 -cN` each), from the client host. */
export async function runWrk(
  run: LabRun,
  role: string,
  urls: readonly string[],
  o: WrkOptions,
): Promise<Measure> {
  const args = (url: string): string[] => [
    '-t1',
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    '--timeout',
    '2s',
    '--latency',
    ...(o.close ? ['-H', 'Connection: close'] : []),
    url,
  ];
  const res = await Promise.all(urls.map((u) => run.run(role, 'wrk', args(u), (o.seconds + 20) * 1000)));
  return combineWrk(
    res.map((r) => parseWrk(r.stdout)),
    res.map((r) => r.stderr || r.stdout),
  );
}

// ------------------------------------------------------------------------------------- iperf3

export interface IperfOutput {
  readonly bitsPerSecond: number;
  readonly retransmits: number | null;
}

/** Parses `iperf3 -J` (client side); the error string when iperf3 reported one. */
export function parseIperf(json: string): IperfOutput | { readonly error: string } {
  let j: unknown;
  try {
    j = JSON.parse(json);
  } catch {
    return { error: json.trim() === '' ? 'no output' : 'unreadable output' };
  }
  const o = j as {
    error?: string;
    end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
  };
  if (typeof o.error === 'string') return { error: o.error };
  const bps = o.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') return { error: 'no sum_received in the report' };
  const rt = o.end?.sum_sent?.retransmits;
  return { bitsPerSecond: bps, retransmits: typeof rt === 'number' ? rt : null };
}

/** `iperf3 -c target` for `seconds` with `streams` parallel streams: received Gbit/s. */
export async function runIperf(
  run: LabRun,
  role: string,
  target: string,
  seconds: number,
  streams: number,
): Promise<Measure> {
  const r = await run.run(
    role,
    'iperf3',
    ['-c', target, '-t', String(seconds), '-P', String(streams), '-J', '--connect-timeout', '3000'],
    (seconds + 20) * 1000,
  );
  const p = parseIperf(r.stdout);
  if ('error' in p) return failed(`iperf3: ${p.error}`);
  return {
    value: p.bitsPerSecond / 1e9,
    note: p.retransmits === null || p.retransmits === 0 ? '' : `${p.retransmits} retr`,
  };
}

// ---------------------------------------------------------------------------------------- UDP

/** The nftables table each real server uses to count (and drop) the small UDP packets. */
export const UDP_SINK_TABLE = 'bench_udp';

/** nft input for the sink: counts UDP to `port` before conntrack and drops it (no ICMP back). */
export function udpSinkRuleset(port: number): string {
  return `table inet ${UDP_SINK_TABLE} {
  counter sink {
  }
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    udp dport ${port} counter name "sink" drop
  }
}
`;
}

/** The packets counted so far by `nft -j list counter inet bench_udp sink`; null if unreadable. */
export function parseNftCounter(json: string): number | null {
  try {
    const j = JSON.parse(json) as { nftables?: { counter?: { packets?: number } }[] };
    for (const x of j.nftables ?? []) if (typeof x.counter?.packets === 'number') return x.counter.packets;
  } catch {
    // fall through
  }
  return null;
}

async function sinkCount(run: LabRun, role: string): Promise<number | null> {
  const r = await run.run(role, 'nft', ['-j', 'list', 'counter', 'inet', UDP_SINK_TABLE, 'sink']);
  return r.code === 0 ? parseNftCounter(r.stdout) : null;
}

export interface BlastResult {
  readonly sent: number;
  readonly seconds: number;
  readonly errors: number;
}

/** The blaster's one-line JSON report. */
export function parseBlast(text: string): BlastResult | null {
  const line = text.trim().split('\n').pop() ?? '';
  try {
    const j = JSON.parse(line) as Partial<BlastResult>;
    if (typeof j.sent === 'number' && typeof j.seconds === 'number' && j.seconds > 0)
      return { sent: j.sent, seconds: j.seconds, errors: typeof j.errors === 'number' ? j.errors : 0 };
  } catch {
    // fall through
  }
  return null;
}

export interface UdpOptions {
  readonly seconds: number;
  readonly blastScript: string;
  readonly iface: string;
  readonly srcMac: string;
  readonly dstMac: string;
  readonly src: string;
  /** Destinations, used by flow in turn (the VIP, or each real server for kernel routing). */
  readonly dsts: readonly string[];
  readonly dport: number;
  readonly flows: number;
  /** Hosts that count arrivals. */
  readonly sinks: readonly string[];
}

/**
 * Blasts small UDP frames from the client for `seconds` and counts what reached the real servers:
 * packets per second delivered, with the loss against what the blaster sent.
 */
export async function runUdp(run: LabRun, role: string, o: UdpOptions): Promise<Measure> {
  const before = await Promise.all(o.sinks.map((s) => sinkCount(run, s)));
  const r = await run.run(
    role,
    run.progs.node,
    [
      o.blastScript,
      '--iface',
      o.iface,
      '--src-mac',
      o.srcMac,
      '--dst-mac',
      o.dstMac,
      '--src',
      o.src,
      '--dst',
      o.dsts.join(','),
      '--dport',
      String(o.dport),
      '--flows',
      String(o.flows),
      '--seconds',
      String(o.seconds),
    ],
    (o.seconds + 20) * 1000,
  );
  const b = parseBlast(r.stdout);
  if (b === null) return failed(`blaster: ${firstLine(r.stderr) || `exit status ${r.code}`}`);
  // What is still queued in the director drains within milliseconds; give it a moment.
  await sleep(300);
  const after = await Promise.all(o.sinks.map((s) => sinkCount(run, s)));
  let got = 0;
  for (let k = 0; k < o.sinks.length; k++) {
    const a = after[k];
    const p = before[k];
    if (a === null || p === null) return failed(`cannot read the UDP counter on ${o.sinks[k]}`);
    got += a - p;
  }
  if (got === 0) return failed(`0 of ${b.sent} packets arrived`);
  const loss = b.sent > 0 ? 1 - got / b.sent : 0;
  return {
    value: got / b.seconds,
    note: `sent ${fmtK(b.sent / b.seconds)}/s${loss > 0.0005 ? `, ${(loss * 100).toFixed(1)} % lost` : ''}`,
  };
}

function fmtK(x: number): string {
  return `${(x / 1000).toFixed(0)}k`;
}

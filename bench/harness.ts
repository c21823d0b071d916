/**
 * A small, reproducible micro-benchmark harness: warm up, then take several timed samples of a
 * fixed number of operations and report the median ns per operation. Every figure is printed
 * next to a reference measured in the same invocation, so ratios survive a noisy machine.
 */

export interface BenchResult {
  name: string;
  nsPerOp: number;
  samples: number[];
}

export interface BenchOpts {
  /** Operations per sample. */
  ops: number;
  samples?: number;
  warmupSamples?: number;
  /** One-operation calls before the warm-up (default 2). */
  primeCalls?: number;
}

/**
 * `loop(n)` performs n operations in its own loop (so the measured code is inlined there, not
 * called through a shared, soon megamorphic call site) and returns something derived from the
 * work so V8 cannot drop it.
 */
export function bench(name: string, loop: (n: number) => number, o: BenchOpts): BenchResult {
  const samples = o.samples ?? 7;
  const warm = o.warmupSamples ?? 2;
  let sink = 0;
  // Two one-operation calls first, so the code after the loop has type feedback before the loop
  // is compiled on stack replacement; otherwise that code deoptimizes at the end of every sample.
  for (let p = 0; p < (o.primeCalls ?? 2); p++) sink = (sink + loop(1)) | 0;
  const times: number[] = [];
  for (let s = 0; s < warm + samples; s++) {
    const t0 = process.hrtime.bigint();
    sink = (sink + loop(o.ops)) | 0;
    const dt = Number(process.hrtime.bigint() - t0) / o.ops;
    if (s >= warm) times.push(dt);
  }
  if (sink === 0x7fffffff) console.log('');
  const sorted = [...times].sort((a, b) => a - b);
  return { name, nsPerOp: sorted[Math.floor(sorted.length / 2)], samples: times };
}

export function fmtNs(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`;
}

export function printTable(
  title: string,
  rows: { name: string; value: string; ratio?: string; target?: string }[],
): void {
  console.log(`\n${title}`);
  const w0 = Math.max(...rows.map((r) => r.name.length), 4);
  const w1 = Math.max(...rows.map((r) => r.value.length), 5);
  for (const r of rows) {
    console.log(
      `  ${r.name.padEnd(w0)}  ${r.value.padStart(w1)}${r.ratio ? `  ${r.ratio}` : ''}${r.target ? `  (${r.target})` : ''}`,
    );
  }
}

/**
 * Runs one benchmark case in a worker thread: a fresh V8 isolate, so the case's JIT code and type
 * feedback come from it alone, not from the cases that ran before it in the same process (the
 * practice of JMH's forks). The V8 flags set in the main thread are process-wide and apply here.
 *
 *   const r = await isolated<BenchResult>('est', { fwd, flows, ops });
 *
 * The task names are the keys of ISOLATED_TASKS in bench/core.ts; arguments and results cross as
 * structured clones (plain data).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

interface TaskMessage {
  isolatedTask: string;
  arg: unknown;
}

export function isolated<T>(task: string, arg: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), {
      workerData: { isolatedTask: task, arg } satisfies TaskMessage,
    });
    let done = false;
    w.once('message', (m: { ok: true; value: T } | { ok: false; error: string }) => {
      done = true;
      if (m.ok) resolve(m.value);
      else reject(new Error(`isolated ${task}: ${m.error}`));
    });
    w.once('error', (e) => {
      done = true;
      reject(e);
    });
    w.once('exit', (code) => {
      if (!done) reject(new Error(`isolated ${task}: worker exited with ${code} before answering`));
    });
  });
}

async function serve(msg: TaskMessage): Promise<void> {
  const { ISOLATED_TASKS } = await import('./core.ts');
  const fn = ISOLATED_TASKS[msg.isolatedTask];
  try {
    if (fn === undefined) throw new Error(`unknown task ${msg.isolatedTask}`);
    parentPort!.postMessage({ ok: true, value: fn(msg.arg as never) });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

const msg = workerData as TaskMessage | null;
// Not awaited at top level: core.ts imports this module, and a top-level await here would wait
// for core.ts while core.ts waits for this module.
if (!isMainThread && msg !== null && typeof msg === 'object' && typeof msg.isolatedTask === 'string')
  void serve(msg);

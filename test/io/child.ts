/**
 * Helper process for addon tests that must run in a process of their own (an uncaught exception, a
 * worker_thread teardown that would abort the whole process if it went wrong, or a netns). Does
 * nothing unless started with `--tslvs-io-child MODE ...`, because the test runner also executes
 * every file under test/.
 *
 * Modes:
 *   uncaught FIFO               a poll callback throws; expect process 'uncaughtException'
 *   worker-fifo FIFO HOW        a worker polls a FIFO, then leaves by HOW = exit | terminate
 *   worker-packet IFNAME HOW    a worker polls an AF_PACKET socket, receives a frame, then leaves
 * Prints "ok ..." and exits 0 on success.
 */
import { openSync, constants as fsc, writeSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadAfPacket } from '../../src/io/addon.ts';
import { PacketPort } from '../../src/io/afpacket.ts';
import { Meta, metaSetFrame, newMeta } from '../../src/io/types.ts';

const FLAG = '--tslvs-io-child';

interface WorkerJob {
  mode: string;
  target: string;
}

function fail(msg: string): never {
  console.error(`child: ${msg}`);
  process.exit(2);
}

function openFifo(path: string): number {
  return openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK);
}

/** Marker frame: broadcast, ethertype 0x88b5, payload "tslvs-worker". */
function markerFrame(): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0x74, 0x73, 0x6c, 0x00, 0x77], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f.set(new TextEncoder().encode('tslvs-worker'), 14);
  return f;
}

function workerMain(job: WorkerJob): void {
  const port = parentPort;
  if (!port) return;
  if (job.mode === 'worker-fifo') {
    const addon = loadAfPacket();
    const fd = openFifo(job.target);
    const scratch = new Uint8Array(16);
    addon.poll(fd, (status, events) => {
      addon.readFd(fd, scratch, 0, 16); // drain, so the level-triggered poll fires once
      port.postMessage(`readable ${status} ${events}`);
    });
    writeSync(fd, 'x'); // make it readable, so the poll callback runs inside the worker
    port.postMessage('ready');
    return; // the fd and the poll stay open on purpose: teardown must cope
  }
  // worker-packet: one socket that sees outgoing frames, one that sends
  const rx = PacketPort.open(job.target, { ignoreOutgoing: false });
  const tx = PacketPort.open(job.target, { protocol: 0 });
  const f = markerFrame();
  rx.onBatch((buf, meta, n) => {
    for (let i = 0; i < n; i++) {
      const off = meta[i * Meta.STRIDE + Meta.OFF];
      if (buf[off + 12] === 0x88 && buf[off + 13] === 0xb5 && buf[off + 14] === f[14])
        port.postMessage('got');
    }
  });
  const m = newMeta(1);
  metaSetFrame(m, 0, 0, f.length);
  if (tx.send(f, m, 0, 1) !== 1) port.postMessage('send failed');
  port.postMessage('ready');
}

async function runWorker(mode: string, target: string, how: string): Promise<void> {
  const w = new Worker(new URL(import.meta.url), { workerData: { mode, target } satisfies WorkerJob });
  const want = mode === 'worker-fifo' ? 'readable 0 1' : 'got';
  const seen: string[] = [];
  const exited = new Promise<number>((resolve) => w.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker never said "${want}" (saw ${seen.join(', ')})`)),
      5000,
    );
    w.on('message', (msg: string) => {
      seen.push(msg);
      if (msg === want) {
        clearTimeout(timer);
        resolve();
      }
    });
    w.on('error', reject);
  });
  if (how === 'terminate') {
    await w.terminate();
  } else {
    w.postMessage('exit');
  }
  const code = await exited;
  if (how === 'exit' && code !== 7) fail(`worker exit code ${code}, wanted 7`);
  console.log(`ok ${mode} ${how} ${seen.join(',')}`);
}

function uncaught(fifo: string): void {
  const addon = loadAfPacket();
  const fd = openFifo(fifo);
  const timer = setTimeout(() => fail('no uncaughtException'), 5000);
  process.on('uncaughtException', (e) => {
    clearTimeout(timer);
    console.log(`ok caught ${e instanceof Error ? e.message : String(e)}`);
    addon.close(fd);
  });
  addon.poll(fd, () => {
    throw new Error('boom from poll');
  });
  writeSync(fd, 'x');
}

if (!isMainThread) {
  const job = workerData as WorkerJob;
  workerMain(job);
  parentPort?.on('message', (msg) => {
    if (msg === 'exit') process.exit(7); // leaves the worker with its poll handle still active
  });
} else if (process.argv[2] === FLAG) {
  const [mode, target, how] = process.argv.slice(3);
  if (mode === 'uncaught') {
    uncaught(target);
  } else if (mode === 'worker-fifo' || mode === 'worker-packet') {
    runWorker(mode, target, how).catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
  } else {
    fail(`unknown mode ${mode}`);
  }
}

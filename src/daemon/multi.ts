/**
 * `tslvs daemon --workers N` (N > 1): the main thread keeps the control plane — the control
 * socket, a ServiceTable that validates every command exactly as the single-threaded daemon does,
 * the host guard — and N worker threads (src/daemon/worker.ts) carry the traffic, each with its own
 * sockets in one PACKET_FANOUT group per interface, steered by src/daemon/steer.ts.
 *
 * A command is applied here first (so errors come back with ipvsadm's words and nothing changes
 * anywhere), then posted to every worker, which applies it between two batches; per worker the
 * messages keep their order, so a listing asked for after a command sees it. Listings and status
 * gather every worker's figures and add them up; conns are listed from every worker.
 */
import { Worker } from 'node:worker_threads';
import { ControlApi } from '../control/api.ts';
import type { IpvsadmCommand } from '../cli/ipvsadm/args.ts';
import type { IpvsSnapshot, SvcSnap } from '../cli/ipvsadm/format.ts';
import type { ResolveHost, ResolveService } from '../cli/ipvsadm/resolve.ts';
import { ServiceTable } from '../control/services.ts';
import { Timeouts } from '../conn/timeouts.ts';
import { listenControl } from '../ipc/server.ts';
import type { CliIo } from '../cli/tslvs.ts';
import { HostGuard } from './hostguard.ts';
import { STEER_MAX_ADDRS, steeringProgram } from './steer.ts';
import { Ipv6Notice } from './director.ts';
import type { FromWorker, ToWorker, WorkerConfig, WorkerIf } from './worker.ts';
import { loadRules } from '../cli/rules.ts';
import { randomInt } from 'node:crypto';

export interface MultiOptions {
  workers: number;
  ifs: Omit<WorkerIf, 'group'>[];
  base: Omit<WorkerConfig, 'worker' | 'workers' | 'ifs' | 'epoch' | 'rules' | 'rulesName'>;
  rules: { text: string; name: string } | null;
  socketPath: string;
  hostGuard: boolean;
  resolveHost: ResolveHost;
  resolveService: ResolveService;
  io: CliIo;
}

interface Pending {
  left: number;
  results: unknown[];
  resolve: (r: unknown[]) => void;
}

export async function runMulti(o: MultiOptions): Promise<number> {
  const io = o.io;
  const epoch = performance.timeOrigin + performance.now();
  const now = (): number => performance.timeOrigin + performance.now() - epoch;
  const services = new ServiceTable({
    now,
    random: () => randomInt(0, 0x100000000),
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
  const timeouts = new Timeouts();
  if (o.rules !== null) {
    const r = loadRules(o.rules.text, o.rules.name, services, {
      resolveHost: o.resolveHost,
      resolveService: o.resolveService,
      timeouts,
    });
    if (!r.ok) {
      io.stderr(`tslvs daemon: ${r.text}\n`);
      return 2;
    }
  }
  // One fanout group per interface, unique in the namespace for this process.
  const groupBase = (process.pid * 8) & 0xfff8;
  const ifs: WorkerIf[] = o.ifs.map((i, k) => ({ ...i, group: (groupBase + k) & 0xffff }));
  const workers: Worker[] = [];
  const waiting = new Map<number, Pending>();
  let nextId = 1;
  const ask = (make: (id: number) => ToWorker): Promise<unknown[]> => {
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, { left: workers.length, results: new Array<unknown>(workers.length), resolve });
      for (const w of workers) w.postMessage(make(id));
    });
  };
  const answer = (k: number, id: number, v: unknown): void => {
    const p = waiting.get(id);
    if (p === undefined) return;
    p.results[k] = v;
    if (--p.left === 0) {
      waiting.delete(id);
      p.resolve(p.results);
    }
  };
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((r) => {
            w.once('exit', () => r());
            w.postMessage({ t: 'stop' } satisfies ToWorker);
            setTimeout(() => void w.terminate().then(() => r()), 3000).unref();
          }),
      ),
    );
  };
  // Workers join their fanout groups one after the other: socket k of a group is worker k.
  for (let k = 0; k < o.workers; k++) {
    const cfg: WorkerConfig = {
      ...o.base,
      worker: k,
      workers: o.workers,
      ifs,
      epoch,
      rules: o.rules?.text ?? '',
      rulesName: o.rules?.name ?? '',
    };
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: cfg });
    const ok = await new Promise<string | null>((resolve) => {
      const onMsg = (m: FromWorker): void => {
        if (m.t === 'ready') resolve(null);
        else if (m.t === 'fail') resolve(m.text);
      };
      w.on('message', onMsg);
      w.once('error', (e) => resolve(e.message));
      w.once('exit', (c) => resolve(`worker ${k} exited (${c})`));
    });
    workers.push(w);
    if (ok !== null) {
      io.stderr(`tslvs daemon: worker ${k}: ${ok}\n`);
      await stopAll();
      return /EPERM|EACCES/.test(ok) ? 4 : 2;
    }
    w.removeAllListeners('message');
    w.removeAllListeners('exit');
    w.removeAllListeners('error');
    w.on('message', (m: FromWorker) => {
      switch (m.t) {
        case 'ack':
          if (m.error !== undefined) io.stderr(`tslvs daemon: worker ${k}: ${m.error}\n`);
          answer(k, m.id, null);
          return;
        case 'snap':
          answer(k, m.id, m.snap);
          return;
        case 'status':
          answer(k, m.id, { counters: m.counters, ports: m.ports });
          return;
        case 'learned':
          for (const [j, other] of workers.entries())
            if (j !== k)
              other.postMessage({ t: 'neigh', ifindex: m.ifindex, ip: m.ip, mac: m.mac } satisfies ToWorker);
          return;
        case 'log':
          io.stderr(`tslvs daemon: worker ${k}: ${m.text}\n`);
          return;
        default:
          return;
      }
    });
    w.on('error', (e) => io.stderr(`tslvs daemon: worker ${k} failed: ${e.message}\n`));
  }

  const guard = o.hostGuard
    ? new HostGuard(
        ifs.map((i) => i.name),
        (m) => io.stderr(`tslvs daemon: ${m}\n`),
      )
    : null;
  const steer = (): void => {
    const laddrs = new Set<number>();
    for (const s of services.list) for (const a of s.laddrs) if (a.af === 4) laddrs.add(a.v4);
    const vips = [...services.owned4.keys()].filter((a) => !laddrs.has(a));
    if (vips.length + laddrs.size > STEER_MAX_ADDRS) {
      io.stderr(
        `tslvs daemon: more than ${STEER_MAX_ADDRS} addresses: steering keeps the previous program\n`,
      );
      return;
    }
    const prog = steeringProgram(vips, [...laddrs]);
    for (const w of workers) w.postMessage({ t: 'steer', prog } satisfies ToWorker);
  };
  const notice6 = new Ipv6Notice();
  const synced = (): void => {
    const line6 = notice6.check(services);
    if (line6 !== null) io.stderr(`tslvs daemon: ${line6}\n`);
    steer();
    guard?.update(
      services,
      ifs.flatMap((i) => i.addrs.map((a) => a.addr)),
    );
  };
  const api: ControlApi = new ControlApi({
    services,
    timeouts,
    conns: () => [],
    now,
    connTabSize: 4096,
    resolveHost: o.resolveHost,
    resolveService: o.resolveService,
    forward: (argv: readonly string[]) => void ask((id) => ({ t: 'cmd', id, argv: [...argv] })),
    changed: (_cmd: IpvsadmCommand) => synced(),
    snapshotAsync: async (withConns: boolean): Promise<IpvsSnapshot> => {
      const own: IpvsSnapshot = api.snapshot(false);
      const snaps = (await ask((id) => ({ t: 'snap', id, conns: withConns }))) as IpvsSnapshot[];
      return mergeSnapshots(own, snaps, withConns);
    },
    status: async () => {
      const parts = (await ask((id) => ({ t: 'status', id }))) as {
        counters: Record<string, number>;
        ports: Record<string, unknown>[];
      }[];
      const counters: Record<string, number> = {};
      for (const p of parts)
        for (const [k, v] of Object.entries(p.counters)) counters[k] = (counters[k] ?? 0) + v;
      return {
        workers: workers.length,
        counters,
        ports: parts.flatMap((p, k) => p.ports.map((x) => ({ worker: k, ...x }))),
      };
    },
  });
  let server;
  try {
    server = await listenControl(o.socketPath, (op, args) => api.handle(op, args));
  } catch (e) {
    io.stderr(`tslvs daemon: control socket ${o.socketPath}: ${(e as Error).message}\n`);
    await stopAll();
    guard?.remove();
    return 2;
  }
  synced();
  io.stderr(
    `tslvs daemon: serving ${ifs.map((i) => i.name).join(', ')} with ${workers.length} workers; control socket ${o.socketPath}\n`,
  );
  return await new Promise<number>((resolve) => {
    const stop = (): void => {
      server.close();
      guard?.remove();
      void stopAll().then(() => resolve(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/**
 * One listing from the main thread's tables (services, order, settings) and every worker's
 * figures: per service and per real server the counters, connection counts and rates add up;
 * connections are every worker's.
 */
export function mergeSnapshots(
  own: IpvsSnapshot,
  workers: readonly IpvsSnapshot[],
  withConns: boolean,
): IpvsSnapshot {
  const out: IpvsSnapshot = { ...own, services: own.services.map((s) => structuredClone(s)) };
  const key = (s: SvcSnap): string => `${s.af}|${s.protocol}|${s.addr}|${s.port}|${s.fwmark}`;
  const byKey = new Map(out.services.map((s) => [key(s), s]));
  for (const w of workers) {
    for (const ws of w.services) {
      const s = byKey.get(key(ws));
      if (s === undefined) continue;
      addInto(s.stats, ws.stats);
      addInto(s.rates, ws.rates);
      for (const wd of ws.dests) {
        const d = s.dests.find((x) => x.addr === wd.addr && x.port === wd.port);
        if (d === undefined) continue;
        d.activeConns += wd.activeConns;
        d.inactConns += wd.inactConns;
        d.persistConns += wd.persistConns;
        addInto(d.stats, wd.stats);
        addInto(d.rates, wd.rates);
      }
    }
  }
  if (withConns) out.conns = workers.flatMap((w) => w.conns ?? []);
  return out;
}

function addInto<T extends object>(into: T, from: T): void {
  const a = into as Record<string, number>;
  const b = from as Record<string, number>;
  for (const k of Object.keys(a)) a[k] += b[k] ?? 0;
}

/**
 * One worker thread of `tslvs daemon --workers N`: its own AF_PACKET socket per served interface,
 * joined to that interface's PACKET_FANOUT group, and its own Director (pipeline, connection table,
 * services, neighbour cache). The main thread owns the control plane: it validates every command,
 * then sends it here, where it is applied whole between two receive batches — so each worker sees
 * every change at once and in the same order. The steering program (src/daemon/steer.ts) keeps
 * both directions of a conn on one worker; FullNAT local ports are split by worker (port ≡ k mod N).
 *
 * Messages in: cmd {id, argv} → ack; snap {id, conns} → snapshot; status {id} → counters;
 * neigh {ifindex, ip, mac} (a MAC another worker learned); steer {prog}; stop.
 * Messages out: ready, ack/snap/status answers, learned {ifindex, ip, mac}, log {text}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { randomInt } from 'node:crypto';
import { Director } from './director.ts';
import type { DirectorIf } from './director.ts';
import { PacketPort } from '../io/afpacket.ts';
import { FanoutFlag, FanoutMode } from '../io/types.ts';
import type { StaticRoute, IfAddr } from '../datapath/neigh.ts';
import type { PipelineSettings } from '../datapath/pipeline.ts';
import type { ConnSettings } from '../conn/settings.ts';
import { parseIpvsadm } from '../cli/ipvsadm/args.ts';
import { applyCommand, loadRules } from '../cli/rules.ts';
import { snapshotFromCore } from '../cli/ipvsadm/format-snapshot.ts';

export interface WorkerIf {
  name: string;
  mac: number;
  mtu: number;
  addrs: IfAddr[];
  vnet: boolean;
  /** PACKET_FANOUT group id of this interface. */
  group: number;
}

export interface WorkerConfig {
  worker: number;
  workers: number;
  ifs: WorkerIf[];
  routes: StaticRoute[];
  maxConns: number;
  settings: Partial<PipelineSettings>;
  connSettings: ConnSettings;
  /** An ipvsadm-save text to load first (the --rules file), or ''. */
  rules: string;
  rulesName: string;
  /** The time origin the main thread uses, so every worker's clock agrees (performance.timeOrigin based). */
  epoch: number;
}

export type ToWorker =
  | { t: 'cmd'; id: number; argv: string[] }
  | { t: 'snap'; id: number; conns: boolean }
  | { t: 'status'; id: number }
  | { t: 'neigh'; ifindex: number; ip: number; mac: number }
  | { t: 'steer'; prog: Int32Array }
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'fail'; text: string }
  | { t: 'ack'; id: number; error?: string }
  | { t: 'snap'; id: number; snap: unknown }
  | { t: 'status'; id: number; counters: Record<string, number>; ports: Record<string, unknown>[] }
  | { t: 'learned'; ifindex: number; ip: number; mac: number }
  | { t: 'log'; text: string };

function run(cfg: WorkerConfig): void {
  const port = parentPort!;
  const post = (m: FromWorker): void => port.postMessage(m);
  const now = (): number => performance.timeOrigin + performance.now() - cfg.epoch;
  const ifs: DirectorIf[] = [];
  try {
    cfg.ifs.forEach((w, k) => {
      const io = PacketPort.open(w.name, {
        auxdata: true,
        ignoreOutgoing: true,
        rcvbuf: 8 << 20,
        sndbuf: 8 << 20,
        vnetHdr: w.vnet,
      });
      // Joined in worker order: the kernel's `return value % N` then names worker k's socket.
      io.fanout(w.group, FanoutMode.CBPF, FanoutFlag.IGNORE_OUTGOING);
      ifs.push({ index: k + 1, name: w.name, mac: w.mac, mtu: w.mtu, addrs: w.addrs, io, vnet: w.vnet });
    });
  } catch (e) {
    for (const i of ifs) i.io.close();
    post({ t: 'fail', text: (e as Error).message });
    return;
  }
  const director = new Director({
    ifs,
    routes: cfg.routes,
    now,
    random: () => randomInt(0, 0x100000000),
    maxConns: cfg.maxConns,
    settings: cfg.settings,
    connSettings: cfg.connSettings,
    lportWorkers: cfg.workers,
    lportWorker: cfg.worker,
    garpCount: cfg.worker === 0 ? 3 : 0,
  });
  const neigh = director.router.neigh;
  // ARP answers reach worker 0 (the steering program sends non-IP frames there); share them.
  neigh.onLearned = (ifindex, ip, mac) => post({ t: 'learned', ifindex, ip, mac });
  neigh.onFailed = (ifindex, ip, probes) =>
    post({
      t: 'log',
      text: `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255} on ${cfg.ifs[ifindex - 1]?.name} does not answer ARP (${probes} probes)`,
    });
  if (cfg.rules !== '') {
    const r = loadRules(cfg.rules, cfg.rulesName, director.services, { timeouts: director.timeouts });
    if (!r.ok) post({ t: 'log', text: r.text });
  }
  const changed = (): void => {
    director.pipeline.resetLaddrPools();
    if (cfg.worker === 0) director.announce();
    director.primeNeighbours();
  };
  changed();
  const timer = setInterval(() => director.tick(), 1000);
  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'cmd': {
        const r = parseIpvsadm(m.argv, { restoreMode: true });
        if (!r.ok) {
          post({ t: 'ack', id: m.id, error: r.message });
          return;
        }
        try {
          const c = r.cmd;
          if (c.kind === 'set-timeout') director.timeouts.set(c.tcp, c.tcpFin, c.udp);
          else if (c.kind !== 'noop') applyCommand(director.services, c);
          if (c.kind === 'delete-server' || c.kind === 'delete-service') director.afterDelete();
          changed();
          post({ t: 'ack', id: m.id });
        } catch (e) {
          post({ t: 'ack', id: m.id, error: (e as Error).message });
        }
        return;
      }
      case 'snap': {
        const p = director.pipeline;
        const snap = snapshotFromCore(
          director.services,
          m.conns ? [p.conns4, p.conns6] : [],
          now(),
          director.timeouts.get(),
        );
        post({ t: 'snap', id: m.id, snap });
        return;
      }
      case 'status':
        post({
          t: 'status',
          id: m.id,
          counters: director.counters(),
          ports: ifs.map((i) => ({ name: i.name, ...i.io.stats() })),
        });
        return;
      case 'neigh':
        neigh.learn(m.ifindex, m.ip, m.mac, now(), false, true);
        director.drainHeld();
        return;
      case 'steer':
        // Any member may set the group's program; every worker does, so the last word is the newest.
        for (const i of ifs) (i.io as PacketPort).attachFanoutFilter(m.prog);
        return;
      case 'stop':
        clearInterval(timer);
        director.close();
        port.close();
        return;
    }
  });
  post({ t: 'ready' });
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object')
  run(workerData as WorkerConfig);

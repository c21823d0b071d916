/**
 * `tslvs daemon` (tslvsd): serves the given interfaces with AF_PACKET sockets, takes its rules
 * from an ipvsadm-save file and from tslvsadm over the control socket.
 *
 *   tslvs daemon --iface eth0 [--iface eth1 …] [--route default=10.0.0.1] [--route 10.9.0.0/16=…]
 *                [--rules FILE] [--socket PATH] [--max-conns N] [--client-addr toa|proxy2|none]
 *                [--no-host-guard]
 *
 * Interface addresses (the DIPs) are read from the host; the VIPs must NOT be configured on the
 * host (tslvs answers ARP for them itself). Coexistence with the host stack: see hostguard.ts.
 * Logs are one line each on stderr; a missing interface or permission is one clear line and exit
 * status 4 (keepalived's "missing permission") or 2 (bad configuration).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Director, Ipv6Notice } from './director.ts';
import type { DirectorIf } from './director.ts';
import { HostGuard } from './hostguard.ts';
import { ControlApi } from '../control/api.ts';
import { loadRules } from '../cli/rules.ts';
import { hostsFileResolver, servicesFileResolver } from '../cli/ipvsadm/resolve.ts';
import { listenControl } from '../ipc/server.ts';
import { DEFAULT_SOCKET } from '../ipc/protocol.ts';
import { SyncDaemons, formatSyncDaemon } from '../sync/index.ts';
import { runMulti } from './multi.ts';
import type { SyncControl } from '../control/api.ts';
import { PacketPort } from '../io/afpacket.ts';
import { loadAfPacket } from '../io/addon.ts';
import { ipv4FromString, isValidIpv4, macFromString } from '../wire/addr.ts';
import type { StaticRoute } from '../datapath/neigh.ts';
import type { CliIo } from '../cli/tslvs.ts';
import type { IpvsadmCommand } from '../cli/ipvsadm/args.ts';
import { defaultConnSettings } from '../conn/settings.ts';
import type { ConnSettings } from '../conn/settings.ts';

export const DAEMON_HELP = `Usage: tslvs daemon --iface IF [--iface IF …] [options]

Serve IPVS virtual services on the given interfaces (user-space LVS director).

Options:
  --iface IF              an interface to serve (repeat for each); its IPv4 addresses are
                          read from the host
  --route DST=GW          a static route, DST being "default" or a.b.c.d/len (repeatable)
  --rules FILE            an ipvsadm-save file to load at start
  --socket PATH           control socket (default ${DEFAULT_SOCKET})
  --max-conns N           connection table size (default 1048576)
  --client-addr MODE      FullNAT: toa (default), proxy2 or none
  --workers N             worker threads carrying the traffic (default 1): one socket each per
                          interface in a PACKET_FANOUT group, steered so both directions of a
                          conn meet the same worker (docs/director.md); no sync daemon then
  --sysctl NAME=VALUE     an IPVS sysctl (/proc/sys/net/ipv4/vs/NAME; repeatable):
                          expire_nodest_conn, expire_quiescent_template (0|1),
                          conn_reuse_mode (0..3, default 1), secure_tcp (0..3),
                          sloppy_tcp, sloppy_sctp (0|1)
  --no-host-guard         do not install the nftables ingress rules (see docs/director.md)
  --no-vnet               plain frames instead of PACKET_VNET_HDR: partial checksums are then
                          completed in software and GSO super-frames larger than 2 KiB are
                          dropped and counted (SKIPPED_TRUNCATED)
  -h, --help              this text
`;

function readHostAddrs(ifname: string): { addr: number; prefix: number }[] {
  const out = execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname], { encoding: 'utf8' });
  const j = JSON.parse(out) as { addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  const addrs: { addr: number; prefix: number }[] = [];
  for (const l of j)
    for (const a of l.addr_info ?? [])
      if (a.family === 'inet') addrs.push({ addr: ipv4FromString(a.local), prefix: a.prefixlen });
  return addrs;
}

/** The IPVS sysctls tslvsd takes (--sysctl NAME=VALUE): name → [ConnSettings field, largest value]. */
const SYSCTLS: Readonly<Record<string, readonly [keyof ConnSettings, number]>> = {
  expire_nodest_conn: ['expireNodestConn', 1],
  expire_quiescent_template: ['expireQuiescentTemplate', 1],
  conn_reuse_mode: ['connReuseMode', 3],
  secure_tcp: ['secureTcp', 3],
  sloppy_tcp: ['sloppyTcp', 1],
  sloppy_sctp: ['sloppySctp', 1],
};

/** Applies "NAME=VALUE" to `cs`; returns an error message, or null. */
function applySysctl(arg: string, cs: ConnSettings): string | null {
  const m = /^([a-z_]+)=(\d+)$/.exec(arg);
  if (m === null) return `--sysctl ${arg}: expected NAME=VALUE`;
  const known = SYSCTLS[m[1]];
  if (known === undefined)
    return `--sysctl ${arg}: unknown sysctl ${m[1]} (known: ${Object.keys(SYSCTLS).join(', ')})`;
  const value = Number(m[2]);
  if (value > known[1]) return `--sysctl ${arg}: ${m[1]} is 0..${known[1]}`;
  cs[known[0]] = value;
  return null;
}

/** A file's text, or '' when it cannot be read (/etc/hosts, /etc/services). */
function readText(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function parseRoute(s: string): StaticRoute | null {
  const m = /^(default|(\d+\.\d+\.\d+\.\d+)\/(\d+))=(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (!m || !isValidIpv4(m[4])) return null;
  if (m[1] === 'default') return { dst: 0, prefix: 0, gw: ipv4FromString(m[4]) };
  if (!isValidIpv4(m[2]) || Number(m[3]) > 32) return null;
  return { dst: ipv4FromString(m[2]), prefix: Number(m[3]), gw: ipv4FromString(m[4]) };
}

export async function runDaemon(argv: readonly string[], io: CliIo): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: [...argv],
      options: {
        iface: { type: 'string', multiple: true },
        route: { type: 'string', multiple: true },
        rules: { type: 'string' },
        socket: { type: 'string' },
        'max-conns': { type: 'string' },
        'client-addr': { type: 'string' },
        sysctl: { type: 'string', multiple: true },
        workers: { type: 'string' },
        'no-host-guard': { type: 'boolean' },
        'no-vnet': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }).values;
  } catch (e) {
    io.stderr(`tslvs daemon: ${(e as Error).message}\n`);
    return 2;
  }
  if (v.help) {
    io.stdout(DAEMON_HELP);
    return 0;
  }
  const connSettings = defaultConnSettings();
  for (const a of v.sysctl ?? []) {
    const err = applySysctl(a, connSettings);
    if (err !== null) {
      io.stderr(`tslvs daemon: ${err}\n`);
      return 2;
    }
  }
  const ifnames = v.iface ?? [];
  if (ifnames.length === 0) {
    io.stderr('tslvs daemon: give at least one --iface\n');
    return 2;
  }
  const routes: StaticRoute[] = [];
  for (const r of v.route ?? []) {
    const p = parseRoute(r);
    if (p === null) {
      io.stderr(`tslvs daemon: --route ${r}: expected default=GW or a.b.c.d/len=GW\n`);
      return 2;
    }
    routes.push(p);
  }
  const maxConns = v['max-conns'] === undefined ? 1 << 20 : Number(v['max-conns']);
  if (!Number.isInteger(maxConns) || maxConns < 1 || maxConns > 1 << 26) {
    io.stderr(`tslvs daemon: --max-conns ${v['max-conns']}: expected 1..67108864\n`);
    return 2;
  }
  const clientAddr = v['client-addr'] ?? 'toa';
  if (clientAddr !== 'toa' && clientAddr !== 'proxy2' && clientAddr !== 'none') {
    io.stderr(`tslvs daemon: --client-addr ${clientAddr}: expected toa, proxy2 or none\n`);
    return 2;
  }
  const workers = v.workers === undefined ? 1 : Number(v.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    io.stderr(`tslvs daemon: --workers ${v.workers}: expected 1..64\n`);
    return 2;
  }
  let addon;
  try {
    addon = loadAfPacket();
  } catch (e) {
    io.stderr(`tslvs daemon: ${(e as Error).message}\n`);
    return 70;
  }
  if (workers > 1) return runWorkers(v, workers, ifnames, routes, maxConns, clientAddr, connSettings, io);
  const ifs: DirectorIf[] = [];
  try {
    for (let k = 0; k < ifnames.length; k++) {
      const name = ifnames[k];
      const info = addon.ifInfo(name);
      if (!info.up) io.stderr(`tslvs daemon: warning: ${name} is down\n`);
      const vnet = v['no-vnet'] !== true;
      const port = PacketPort.open(name, {
        auxdata: true,
        ignoreOutgoing: true,
        rcvbuf: 8 << 20,
        sndbuf: 8 << 20,
        vnetHdr: vnet,
      });
      ifs.push({
        index: k + 1,
        name,
        mac: macFromString(info.mac),
        mtu: info.mtu,
        addrs: readHostAddrs(name),
        io: port,
        vnet,
      });
    }
  } catch (e) {
    for (const i of ifs) i.io.close();
    const msg = (e as Error).message;
    io.stderr(`tslvs daemon: ${msg}\n`);
    return /EPERM|EACCES/.test(msg) ? 4 : 2;
  }
  const t0 = performance.now();
  const director = new Director({
    connSettings,
    ifs,
    routes,
    now: () => performance.now() - t0 + 1,
    random: () => randomInt(0, 0x100000000),
    maxConns,
    settings: { fullnatClientAddr: clientAddr },
  });
  director.router.neigh.onFailed = (ifindex, ip, probes) => {
    const name = ifs[ifindex - 1]?.name ?? `if${ifindex}`;
    io.stderr(
      `tslvs daemon: ${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255} on ${name} does not answer ARP (${probes} probes); frames for it are dropped (NEIGH_UNRESOLVED)\n`,
    );
  };
  const resolveHost = hostsFileResolver(readText('/etc/hosts'));
  const resolveService = servicesFileResolver(readText('/etc/services'));
  if (v.rules !== undefined) {
    let text: string;
    try {
      text = readFileSync(v.rules, 'utf8');
    } catch (e) {
      io.stderr(`tslvs daemon: ${v.rules}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      director.close();
      return 2;
    }
    const r = loadRules(text, v.rules, director.services, {
      resolveHost,
      resolveService,
      timeouts: director.timeouts,
    });
    if (!r.ok) {
      io.stderr(`tslvs daemon: ${r.text}\n`);
      director.close();
      return 2;
    }
  }
  const guard = v['no-host-guard'] ? null : new HostGuard(ifnames, (m) => io.stderr(`tslvs daemon: ${m}\n`));
  const notice6 = new Ipv6Notice();
  const sync = (cmd?: IpvsadmCommand): void => {
    const line6 = notice6.check(director.services);
    if (line6 !== null) io.stderr(`tslvs daemon: ${line6}\n`);
    if (cmd?.kind === 'delete-server' || cmd?.kind === 'delete-service') director.afterDelete();
    director.pipeline.resetLaddrPools();
    director.announce();
    director.primeNeighbours();
    guard?.update(
      director.services,
      ifs.flatMap((i) => i.addrs.map((a) => a.addr)),
    );
  };
  const now = (): number => performance.now() - t0 + 1;
  // ip_vs_sync: a master hears of every client packet (the pipeline hook runs only while it does),
  // a backup writes the conns it learns into the same tables.
  const syncd = new SyncDaemons({
    conns4: director.pipeline.conns4,
    conns6: director.pipeline.conns6,
    services: director.services,
    now,
  });
  const syncHook = (): void => {
    const m = syncd.master;
    director.pipeline.onInPacket = m === null ? null : (t, cid, pkts) => m.syncConn(t, cid, pkts);
  };
  const syncControl: SyncControl = {
    start: async (kind, cfg) => {
      const info = await syncd.start(kind, cfg);
      syncHook();
      io.stderr(`tslvs daemon: ${formatSyncDaemon(info)} started\n`);
      return info;
    },
    stop: async (kind) => {
      await syncd.stop(kind);
      syncHook();
      io.stderr(`tslvs daemon: ${kind} sync daemon stopped\n`);
    },
    list: () => syncd.list(),
  };
  const api = new ControlApi({
    services: director.services,
    timeouts: director.timeouts,
    conns: () => [director.pipeline.conns4, director.pipeline.conns6],
    now: () => performance.now() - t0 + 1,
    connTabSize: 4096,
    resolveHost,
    resolveService,
    changed: sync,
    status: () => ({
      counters: director.counters(),
      ports: ifs.map((i) => ({ name: i.name, ...i.io.stats() })),
      sync: {
        master: syncd.master === null ? null : { ...syncd.master.counters },
        backup: syncd.backup === null ? null : { ...syncd.backup.counters },
      },
    }),
    sync: syncControl,
  });
  const socketPath = v.socket ?? io.env.TSLVS_SOCKET ?? DEFAULT_SOCKET;
  let server;
  try {
    server = await listenControl(socketPath, (op, args) => api.handle(op, args));
  } catch (e) {
    io.stderr(`tslvs daemon: control socket ${socketPath}: ${(e as Error).message}\n`);
    director.close();
    return 2;
  }
  sync();
  const timer = setInterval(() => {
    director.tick();
    syncd.tick(now());
  }, 1000);
  io.stderr(`tslvs daemon: serving ${ifnames.join(', ')}; control socket ${socketPath}\n`);
  return await new Promise<number>((resolve) => {
    const stop = (): void => {
      clearInterval(timer);
      server.close();
      guard?.remove();
      director.pipeline.onInPacket = null;
      void syncd.close().finally(() => {
        director.close();
        resolve(0);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** The --workers N > 1 path: interfaces checked here, traffic in worker threads (multi.ts). */
async function runWorkers(
  v: { rules?: string; socket?: string; 'no-host-guard'?: boolean; 'no-vnet'?: boolean },
  workers: number,
  ifnames: readonly string[],
  routes: StaticRoute[],
  maxConns: number,
  clientAddr: 'toa' | 'proxy2' | 'none',
  connSettings: ConnSettings,
  io: CliIo,
): Promise<number> {
  const addon = loadAfPacket();
  const ifs = [];
  try {
    for (const name of ifnames) {
      const info = addon.ifInfo(name);
      if (!info.up) io.stderr(`tslvs daemon: warning: ${name} is down\n`);
      ifs.push({
        name,
        mac: macFromString(info.mac),
        mtu: info.mtu,
        addrs: readHostAddrs(name),
        vnet: v['no-vnet'] !== true,
      });
    }
  } catch (e) {
    io.stderr(`tslvs daemon: ${(e as Error).message}\n`);
    return 2;
  }
  let rules: { text: string; name: string } | null = null;
  if (v.rules !== undefined) {
    try {
      rules = { text: readFileSync(v.rules, 'utf8'), name: v.rules };
    } catch (e) {
      io.stderr(`tslvs daemon: ${v.rules}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 2;
    }
  }
  return runMulti({
    workers,
    ifs,
    base: { routes, maxConns, settings: { fullnatClientAddr: clientAddr }, connSettings },
    rules,
    socketPath: v.socket ?? io.env.TSLVS_SOCKET ?? DEFAULT_SOCKET,
    hostGuard: v['no-host-guard'] !== true,
    resolveHost: hostsFileResolver(readText('/etc/hosts')),
    resolveService: servicesFileResolver(readText('/etc/services')),
    io,
  });
}

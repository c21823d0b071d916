/**
 * The LVS scenarios — dr, nat, fullnat, tun — built from the seeds' experiments: their roles and
 * address plans inside network namespaces, the real servers configured as the seeds configure
 * them, the real tslvsd configured with the seeds' own ipvsadm lines through tslvsadm, real HTTP
 * servers answering with their own name, curl as the client, and tcpdump on every host
 * interface.
 *
 * Address plans (they exist only inside the lab's namespaces):
 * - dr  (seed 000, 「LVS的DR模型搭建」): one LAN 192.168.188.0/24; client .11, director (DIP) .180,
 *   VIP .100, real servers .181 and .182 with the VIP on lo and arp_ignore=1 / arp_announce=2.
 * - nat (seed 003, 「NAT模式」): client 172.10.10.10 behind a router (172.10.10.1 / 10.10.10.1);
 *   VIP 10.10.10.10 with the director's default route to 10.10.10.1; DIP 192.168.122.100 and
 *   real servers .101 / .102 whose default gateway is the DIP.
 * - fullnat (seed 003, 「LVS NAT的改进」, DPVS's FullNAT): the NAT plan, the director sending from
 *   a local address 192.168.122.200, the real servers without any gateway.
 * - tun (seed 003, 「TUN模式」): the director and the real servers in different broadcast
 *   domains joined by the router (192.168.122.1 on the real servers' side); the real servers
 *   run `tslvs rs-tun`, carry the VIP on lo as in DR and route replies straight to the client.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NetSpec, ExecResult } from './run.ts';
import { LabRun, readText, waitFor } from './run.ts';
import { Captures, hopsOf, traceTcpFlow } from './capture.ts';
import type { TracePacket } from './capture.ts';
import { LabError, EXIT_SOFTWARE } from './env.ts';
import { formatHosts, formatTitle } from './format.ts';

export type LvsName = 'dr' | 'nat' | 'fullnat' | 'tun';

export interface RealServer {
  readonly role: string;
  readonly rip: string;
  readonly port: number;
}

export interface LvsPlan {
  readonly name: LvsName;
  readonly title: string;
  /** Where in the seeds the experiment comes from. */
  readonly seed: string;
  readonly net: NetSpec;
  readonly client: string;
  readonly vip: string;
  readonly vport: number;
  readonly servers: readonly RealServer[];
  readonly director: {
    readonly role: string;
    readonly ifaces: readonly string[];
    readonly args: readonly string[];
  };
  /** The seeds' ipvsadm lines, run through tslvsadm one by one. */
  readonly admLines: readonly string[];
  /** Configures the hosts (after the links are up); returns what it did, one line per host. */
  configure(run: LabRun): Promise<string[]>;
  /** What to look for in the output. */
  readonly lookFor: readonly string[];
}

/** Real server in DR and TUN: the VIP on lo, ARP for it silenced (seed 000 ens33 + all, seed 003 lo). */
export function hideVip(run: LabRun, role: string, vip: string): string {
  run.exec(role, 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo');
  for (const k of ['all', 'eth0', 'lo']) {
    run.sysctl(role, `net.ipv4.conf.${k}.arp_ignore`, '1');
    run.sysctl(role, `net.ipv4.conf.${k}.arp_announce`, '2');
  }
  return `ip addr add ${vip}/32 dev lo; sysctl arp_ignore=1 arp_announce=2 on all, eth0, lo`;
}

/** The director's host stack stays out of the way: tslvs forwards, the kernel must not. */
export function directorHost(run: LabRun, role: string): string {
  run.sysctl(role, 'net.ipv4.ip_forward', '0');
  return 'ip_forward=0 (tslvs forwards; the VIP is not on the host, tslvs answers ARP for it)';
}

const DR_VIP = '192.168.188.100';

const DR: LvsPlan = {
  name: 'dr',
  title: 'LVS-DR: the director rewrites only the MAC; real servers answer the client directly',
  seed: 'seed 000 (「LVS的DR模型搭建」) and seed 003 (「DR模式」)',
  net: {
    hosts: ['client', 'director', 'rs1', 'rs2'],
    segments: [
      {
        switch: 'switch',
        members: [
          { role: 'client', ifname: 'eth0', addrs: ['192.168.188.11/24'] },
          { role: 'director', ifname: 'eth0', addrs: ['192.168.188.180/24'] },
          { role: 'rs1', ifname: 'eth0', addrs: ['192.168.188.181/24'] },
          { role: 'rs2', ifname: 'eth0', addrs: ['192.168.188.182/24'] },
        ],
      },
    ],
  },
  client: 'client',
  vip: DR_VIP,
  vport: 80,
  servers: [
    { role: 'rs1', rip: '192.168.188.181', port: 80 },
    { role: 'rs2', rip: '192.168.188.182', port: 80 },
  ],
  director: { role: 'director', ifaces: ['eth0'], args: [] },
  admLines: [
    `ipvsadm -A -t ${DR_VIP}:80 -s rr`,
    `ipvsadm -a -t ${DR_VIP}:80 -r 192.168.188.181:80 -g -w 1`,
    `ipvsadm -a -t ${DR_VIP}:80 -r 192.168.188.182:80 -g -w 1`,
  ],
  configure(run) {
    return Promise.resolve([
      `director: ${directorHost(run, 'director')}`,
      `rs1: ${hideVip(run, 'rs1', DR_VIP)}`,
      `rs2: ${hideVip(run, 'rs2', DR_VIP)}`,
    ]);
  },
  lookFor: [
    'director → rsN: the same IP addresses and ports as client → director; only the MACs changed.',
    'The reply goes rsN → client without the director (OutPkts 0 in the --stats listing).',
  ],
};

const NAT_VIP = '10.10.10.10';

/** Client, router and director's outside leg: the NAT, FullNAT and TUN plans share them. */
const OUTSIDE = [
  {
    members: [
      { role: 'client', ifname: 'eth0', addrs: ['172.10.10.10/24'] },
      { role: 'router', ifname: 'eth0', addrs: ['172.10.10.1/24'] },
    ],
  },
  {
    members: [
      { role: 'router', ifname: 'eth1', addrs: ['10.10.10.1/24'] },
      { role: 'director', ifname: 'eth0', addrs: ['10.10.10.2/24'] },
    ],
  },
] as const;

function outsideConfig(run: LabRun): string[] {
  run.route('client', 'default', '172.10.10.1');
  run.sysctl('router', 'net.ipv4.ip_forward', '1');
  return [
    'client: ip route add default via 172.10.10.1',
    'router: ip_forward=1 (a plain Linux router)',
    `director: ${directorHost(run, 'director')}`,
  ];
}

const NAT_SERVERS: readonly RealServer[] = [
  { role: 'rs1', rip: '192.168.122.101', port: 80 },
  { role: 'rs2', rip: '192.168.122.102', port: 80 },
];

const INSIDE = {
  switch: 'switch',
  members: [
    { role: 'director', ifname: 'eth1', addrs: ['192.168.122.100/24'] },
    { role: 'rs1', ifname: 'eth0', addrs: ['192.168.122.101/24'] },
    { role: 'rs2', ifname: 'eth0', addrs: ['192.168.122.102/24'] },
  ],
};

const NAT: LvsPlan = {
  name: 'nat',
  title: 'LVS-NAT: the director rewrites the destination going in and the source coming back',
  seed: 'seed 003 (「NAT模式」)',
  net: { hosts: ['client', 'router', 'director', 'rs1', 'rs2'], segments: [...OUTSIDE, INSIDE] },
  client: 'client',
  vip: NAT_VIP,
  vport: 80,
  servers: NAT_SERVERS,
  director: { role: 'director', ifaces: ['eth0', 'eth1'], args: ['--route', 'default=10.10.10.1'] },
  admLines: [
    `ipvsadm -A -t ${NAT_VIP}:80 -s rr`,
    `ipvsadm -a -t ${NAT_VIP}:80 -r 192.168.122.101 -m -w 1`,
    `ipvsadm -a -t ${NAT_VIP}:80 -r 192.168.122.102 -m -w 1`,
  ],
  configure(run) {
    const lines = outsideConfig(run);
    for (const rs of ['rs1', 'rs2']) {
      run.route(rs, 'default', '192.168.122.100');
      lines.push(
        `${rs}: ip route add default via 192.168.122.100 (the DIP: replies must cross the director)`,
      );
    }
    lines.push('director: tslvs daemon --route default=10.10.10.1 (the seeds: 默认路由指向10.10.10.1)');
    return Promise.resolve(lines);
  },
  lookFor: [
    'director → rsN: the destination changed from the VIP to the RIP; the client address stays.',
    'rsN → director → router: the reply comes back through the director, which puts the VIP back as the source.',
  ],
};

const FNAT_LIP = '192.168.122.200';

const FULLNAT: LvsPlan = {
  name: 'fullnat',
  title: 'FullNAT: both addresses rewritten, so real servers need no route back through the director',
  seed: 'seed 003 (「LVS NAT的改进」: FullNAT, contributed by Alibaba, as in DPVS)',
  net: { hosts: ['client', 'router', 'director', 'rs1', 'rs2'], segments: [...OUTSIDE, INSIDE] },
  client: 'client',
  vip: NAT_VIP,
  vport: 80,
  servers: NAT_SERVERS,
  director: { role: 'director', ifaces: ['eth0', 'eth1'], args: ['--route', 'default=10.10.10.1'] },
  admLines: [
    `ipvsadm -A -t ${NAT_VIP}:80 -s rr`,
    `ipvsadm --add-laddr -t ${NAT_VIP}:80 --laddr ${FNAT_LIP}`,
    `ipvsadm -a -t ${NAT_VIP}:80 -r 192.168.122.101 --fullnat -w 1`,
    `ipvsadm -a -t ${NAT_VIP}:80 -r 192.168.122.102 --fullnat -w 1`,
  ],
  configure(run) {
    const lines = outsideConfig(run);
    lines.push('rs1, rs2: no default route at all (replies go to the local address on their own LAN)');
    lines.push(
      `director: tslvs daemon --route default=10.10.10.1; local address ${FNAT_LIP} is tslvs's, not the host's`,
    );
    return Promise.resolve(lines);
  },
  lookFor: [
    `director → rsN: source CIP:port → ${FNAT_LIP}:port (the local address) and destination VIP → RIP.`,
    'The real servers never see the client address in the IP header (tslvs passes it in a TOA option).',
  ],
};

const TUN: LvsPlan = {
  name: 'tun',
  title: 'LVS-TUN: the director wraps the packet in IPIP; real servers unwrap it and answer directly',
  seed: 'seed 003 (「TUN模式」) and seed 000 (「TUN网络模型推导」)',
  net: {
    hosts: ['client', 'router', 'director', 'rs1', 'rs2'],
    segments: [
      ...OUTSIDE,
      {
        switch: 'switch',
        members: [
          { role: 'router', ifname: 'eth2', addrs: ['192.168.122.1/24'] },
          { role: 'rs1', ifname: 'eth0', addrs: ['192.168.122.101/24'] },
          { role: 'rs2', ifname: 'eth0', addrs: ['192.168.122.102/24'] },
        ],
      },
    ],
  },
  client: 'client',
  vip: NAT_VIP,
  vport: 80,
  servers: NAT_SERVERS,
  director: { role: 'director', ifaces: ['eth0'], args: ['--route', 'default=10.10.10.1'] },
  admLines: [
    `ipvsadm -A -t ${NAT_VIP}:80 -s rr`,
    `ipvsadm -a -t ${NAT_VIP}:80 -r 192.168.122.101 -i -w 1`,
    `ipvsadm -a -t ${NAT_VIP}:80 -r 192.168.122.102 -i -w 1`,
  ],
  async configure(run) {
    const lines = outsideConfig(run);
    for (const rs of ['rs1', 'rs2']) {
      run.route(rs, 'default', '192.168.122.1');
      lines.push(`${rs}: ip route add default via 192.168.122.1; ${hideVip(run, rs, NAT_VIP)}`);
      await startRsTun(run, rs);
      lines.push(`${rs}: tslvs rs-tun --iface eth0 (decapsulates IPIP into a TUN device)`);
    }
    lines.push('director: tslvs daemon --route default=10.10.10.1 (tunnels cross the router)');
    return lines;
  },
  lookFor: [
    'director → router → rsN: an outer header DIP > RIP around the untouched CIP:port > VIP:80 packet.',
    'The reply goes rsN → router → client without the director, from the VIP.',
  ],
};

async function startRsTun(run: LabRun, role: string): Promise<void> {
  const p = run.spawn(
    role,
    'tslvs rs-tun',
    run.progs.node,
    [...run.progs.nodeArgs, run.progs.tslvs, 'rs-tun', '--iface', 'eth0'],
    `rs-tun-${role}.log`,
  );
  await waitFor(
    () => p.child.exitCode !== null || /→/.test(readText(p.log!)),
    10_000,
    `tslvs rs-tun in ${role}`,
  );
  if (p.child.exitCode !== null)
    throw new LabError(`tslvs rs-tun in ${role} exited: ${readText(p.log!).trim()}`, EXIT_SOFTWARE);
}

/** Whether `tslvs rs-tun` exists in this tree (the tun scenario needs it). */
export function haveRsTun(): boolean {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return existsSync(fileURLToPath(new URL(`../cli/rs-tun.${ext}`, import.meta.url)));
}

export const LVS_PLANS: Readonly<Record<LvsName, LvsPlan>> = { dr: DR, nat: NAT, fullnat: FULLNAT, tun: TUN };

// ------------------------------------------------------------------------------ running

export interface LvsOptions {
  /** Requests to send (default 10). */
  readonly requests?: number;
  readonly keep?: boolean;
  /** Copy the captures here. */
  readonly pcapDir?: string;
  readonly prefix?: string;
  readonly handleSignals?: boolean;
  /** Output as it becomes available (sections of text). */
  readonly emit?: (text: string) => void;
  readonly onSignal?: (line: string) => void;
}

export interface RequestResult {
  readonly n: number;
  readonly cport: number;
  /** The body's first line (the real server's name), or null when the request failed. */
  readonly server: string | null;
  readonly ms: number;
}

export interface LvsResult {
  readonly plan: LvsPlan;
  readonly prefix: string;
  readonly hosts: LabRun['ifs'];
  readonly namespaces: readonly { readonly role: string; readonly ns: string }[];
  readonly setup: readonly string[];
  readonly adm: readonly (ExecResult & { readonly line: string })[];
  readonly requests: readonly RequestResult[];
  /** Requests per real server role, in plan order, then `failed`. */
  readonly served: ReadonlyMap<string, number>;
  readonly failed: number;
  readonly listing: string;
  readonly stats: string;
  readonly traced: RequestResult;
  readonly trace: readonly TracePacket[] | null;
  readonly pcaps: readonly string[];
  readonly kept: boolean;
  readonly sock: string;
  /** How to run tslvsadm against this run's daemon. */
  readonly admCommand: string;
  readonly runDir: string;
  readonly seconds: number;
}

/** First client port; request n uses CPORT_BASE + n so the trace can pick its flow out. */
export const CPORT_BASE = 40000;

export async function runLvs(plan: LvsPlan, o: LvsOptions = {}): Promise<LvsResult> {
  const t0 = performance.now();
  const requests = o.requests ?? 10;
  const emit = o.emit ?? (() => {});
  const run = new LabRun({ prefix: o.prefix, handleSignals: o.handleSignals, onSignal: o.onSignal });
  let ok = false;
  try {
    run.build(plan.net);
    const setup = await plan.configure(run);
    emit(formatHeader(plan, run, setup));
    const caps = new Captures(run);
    await Promise.all([
      ...plan.servers.map((s) => run.httpServer(s.role, s.role, s.port)),
      caps.start(run.ifs.map((i) => ({ role: i.role, ifname: i.ifname }))),
    ]);
    await run.startDaemon(plan.director.role, plan.director.ifaces, plan.director.args);
    const adm: (ExecResult & { line: string })[] = [];
    for (const line of plan.admLines) {
      const r = await run.adm(line);
      adm.push({ ...r, line });
      if (r.code !== 0)
        throw new LabError(`${line}: ${r.stderr.trim() || `exit status ${r.code}`}`, EXIT_SOFTWARE);
    }
    emit(`${plan.admLines.map((l) => `$ ${l}`).join('\n')}\n\n`);

    // The first request to each real server waits for the director to learn its MAC (ARP), and
    // its SYN is sent again after curl's 1 s; those go out together so the wait is paid once.
    const url = `http://${plan.vip}${plan.vport === 80 ? '' : `:${plan.vport}`}/`;
    const one = async (n: number): Promise<RequestResult> => {
      const t = performance.now();
      const body = await run.curl(plan.client, url, CPORT_BASE + n);
      return {
        n,
        cport: CPORT_BASE + n,
        server: body === null ? null : body.trim().split('\n')[0],
        ms: performance.now() - t,
      };
    };
    const first = Math.min(requests, plan.servers.length);
    const results: RequestResult[] = await Promise.all(Array.from({ length: first }, (_, k) => one(k + 1)));
    for (let n = first + 1; n <= requests; n++) results.push(await one(n));

    const [listing, stats] = (
      await Promise.all([run.adm('ipvsadm -Ln'), run.adm('ipvsadm -Ln --stats')])
    ).map((r) => r.stdout);
    const files = await caps.stop();
    const pcaps = o.pcapDir !== undefined ? caps.copyTo(o.pcapDir) : [];

    const served = new Map<string, number>(plan.servers.map((s) => [s.role, 0]));
    let failed = 0;
    for (const r of results) {
      if (r.server === null) failed++;
      else served.set(r.server, (served.get(r.server) ?? 0) + 1);
    }
    // The traced request: the last one that got an answer (after the ARP warm-up when there are
    // more requests than real servers).
    const traced = [...results].reverse().find((r) => r.server !== null) ?? results[results.length - 1];
    const hops = hopsOf(files, run.macOwners());
    const trace = traceTcpFlow(hops, plan.client, traced.cport);
    const res: LvsResult = {
      plan,
      prefix: run.prefix,
      hosts: [...run.ifs],
      namespaces: [...run.hosts, ...run.switches].map((role) => ({ role, ns: run.ns(role) })),
      setup,
      adm,
      requests: results,
      served,
      failed,
      listing,
      stats,
      traced,
      trace,
      pcaps,
      kept: o.keep === true,
      sock: run.sock,
      admCommand: `TSLVS_SOCKET=${run.sock} ${run.progs.node} ${run.progs.tslvsadm}`,
      runDir: run.dir,
      seconds: (performance.now() - t0) / 1000,
    };
    ok = true;
    return res;
  } catch (e) {
    throw run.withDaemonLog(e);
  } finally {
    run.close(ok && o.keep === true);
  }
}

function formatHeader(plan: LvsPlan, run: LabRun, setup: readonly string[]): string {
  return (
    formatTitle(`tslvs lab ${plan.name}`, plan.title, plan.seed) +
    formatHosts(run) +
    `\nSetup:\n${setup.map((l) => `  ${l}`).join('\n')}\n\n`
  );
}

/**
 * The topology of `npm run bench:e2e` and the ten setups measured on it: four references (kernel
 * routing, nftables DNAT, nftables DSR, HAProxy), two ceiling references (the least a user-space
 * AF_PACKET DR forwarder does, in C and in Node) and tslvs in NAT, DR, TUN and FullNAT.
 *
 *   client 10.90.1.10 ─┐
 *   director 10.90.1.1 + 10.90.2.1 (VIP 10.90.1.100) ─┤ switch (a bridge in its own namespace)
 *   rs1 10.90.2.11 ─┤   nginx :80 (/ = its name, /big.bin = 10 MB), iperf3 -s :5201,
 *   rs2 10.90.2.12 ─┘   an nftables counter for UDP :9000
 *
 * One layer-2 segment, two subnets: the client's (10.90.1.0/24) and the real servers'
 * (10.90.2.0/24); the director has an address on each, the VIP lives in the client's subnet. So
 * every setup has what it needs without moving a cable: the real servers share the segment with
 * the director (DR, nftables DSR) and with the client (direct replies), and anything that must come
 * back through the director (routing, NAT) does so by the real servers' route to 10.90.1.0/24.
 *
 * Each setup gets a freshly built copy of this topology (bench/e2e/run.ts), so no state — conntrack
 * entries, TIME_WAIT sockets, neighbour or bridge tables — carries over from one to the next. The
 * veth offloads stay as the kernel sets them (TSO, GSO and checksum offload on).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabRun, NetSpec } from '../../src/lab/run.ts';
import { execAsync, readText, waitFor } from '../../src/lab/run.ts';

export const CLIENT = '10.90.1.10';
export const CLIENT_NET = '10.90.1.0/24';
export const DIR_FRONT = '10.90.1.1';
export const DIR_BACK = '10.90.2.1';
export const RS_NET = '10.90.2.0/24';
export const VIP = '10.90.1.100';
export const RS = [
  { role: 'rs1', ip: '10.90.2.11' },
  { role: 'rs2', ip: '10.90.2.12' },
] as const;
/** FullNAT local addresses (tslvs's, not the host's): four, so 'Connection: close' never runs out of ports. */
export const LIPS = ['10.90.2.200', '10.90.2.201', '10.90.2.202', '10.90.2.203'] as const;
export const HTTP_PORT = 80;
export const IPERF_PORT = 5201;
export const UDP_PORT = 9000;
/** TUN: the real servers' MSS toward the client leaves room for the 20-byte IPIP header (docs/tun.md). */
export const TUN_ADVMSS = 1440;

export const NET_SPEC: NetSpec = {
  hosts: ['client', 'director', 'rs1', 'rs2'],
  segments: [
    {
      switch: 'switch',
      members: [
        { role: 'client', ifname: 'eth0', addrs: [`${CLIENT}/24`] },
        { role: 'director', ifname: 'eth0', addrs: [`${DIR_FRONT}/24`, `${DIR_BACK}/24`] },
        { role: 'rs1', ifname: 'eth0', addrs: [`${RS[0].ip}/24`] },
        { role: 'rs2', ifname: 'eth0', addrs: [`${RS[1].ip}/24`] },
      ],
    },
  ],
};

/** How a real server reaches the client's subnet. */
export type RsRoute =
  /** through the director (routing, NAT: replies must cross it) */
  | 'via-director'
  /** straight over the shared segment (DR, DSR, TUN: replies bypass the director) */
  | 'direct'
  /** no route at all (FullNAT, HAProxy: replies go to an address on the real servers' own subnet) */
  | 'none';

export interface SetupCtx {
  readonly run: LabRun;
  /** MAC of each host's eth0. */
  readonly mac: Readonly<Record<string, string>>;
  /** The shell-like lines shown for this setup (what was configured). */
  readonly shown: string[];
  /** Extra `tslvs daemon` arguments (TSLVS_E2E_DAEMON_ARGS), e.g. --workers 2. */
  readonly daemonArgs: readonly string[];
}

export interface Setup {
  readonly id: string;
  readonly label: string;
  readonly tslvs: boolean;
  readonly rsRoute: RsRoute;
  /** Extra route attributes for the real servers' route to the client (TUN: advmss). */
  readonly rsRouteExtra?: readonly string[];
  /** The real servers hold the VIP on lo with arp_ignore=1 / arp_announce=2 (DR, TUN, DSR). */
  readonly rsVip: boolean;
  /** HAProxy has no UDP. */
  readonly udp: boolean;
  /** Hosts the two wrk processes send to (the VIP twice, or each real server). */
  readonly httpHosts: readonly [string, string];
  readonly iperfHost: string;
  readonly udpDsts: readonly string[];
  /** The setup this one's ratios are taken against (tslvs rows and the ceiling references). */
  readonly ref?: string;
  /** Why this setup cannot run on this machine (e.g. no C compiler), or null: it is skipped. */
  unavailable?(): string | null;
  /** Configures the director for this setup (after the common configuration). */
  start(c: SetupCtx): Promise<void>;
}

// ----------------------------------------------------------------------------- helpers

/** Runs a command in a host, records it, and throws with its stderr when it fails. */
export async function sh(
  c: SetupCtx,
  role: string,
  cmd: string,
  args: readonly string[],
  show = true,
): Promise<string> {
  const r = await c.run.run(role, cmd, args);
  if (show) c.shown.push(`${role}: ${[cmd, ...args].join(' ')}`);
  if (r.code !== 0) throw new Error(`${role}: ${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Loads an nftables ruleset into a host (`nft -f -`). */
export async function nft(c: SetupCtx, role: string, ruleset: string, show = true): Promise<void> {
  const r = await execAsync('ip', ['netns', 'exec', c.run.ns(role), 'nft', '-f', '-'], { input: ruleset });
  if (show) c.shown.push(`${role}: nft -f - <<EOF\n${ruleset.trimEnd()}\nEOF`);
  if (r.code !== 0) throw new Error(`${role}: nft -f: ${r.stderr.trim()}`);
}

async function sysctl(c: SetupCtx, role: string, kv: string, show = true): Promise<void> {
  await sh(c, role, 'sysctl', ['-q', '-w', kv], show);
}

// --------------------------------------------------------------------------- references

const ROUTING: Setup = {
  id: 'routing',
  label: 'kernel routing',
  tslvs: false,
  rsRoute: 'via-director',
  rsVip: false,
  udp: true,
  httpHosts: [RS[0].ip, RS[1].ip],
  iperfHost: RS[0].ip,
  udpDsts: [RS[0].ip, RS[1].ip],
  async start(c) {
    await sysctl(c, 'director', 'net.ipv4.ip_forward=1');
  },
};

const NFT_DNAT: Setup = {
  id: 'nft-dnat',
  label: 'nft DNAT',
  tslvs: false,
  rsRoute: 'via-director',
  rsVip: false,
  udp: true,
  httpHosts: [VIP, VIP],
  iperfHost: VIP,
  udpDsts: [VIP],
  async start(c) {
    await sh(c, 'director', 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    await sysctl(c, 'director', 'net.ipv4.ip_forward=1');
    // numgen per new conntrack entry: round robin per connection (per flow for UDP), like rr.
    await nft(
      c,
      'director',
      `table ip bench_dnat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${VIP} tcp dport ${HTTP_PORT} dnat to numgen inc mod 2 map { 0 : ${RS[0].ip}, 1 : ${RS[1].ip} }
    ip daddr ${VIP} tcp dport ${IPERF_PORT} dnat to ${RS[0].ip}
    ip daddr ${VIP} udp dport ${UDP_PORT} dnat to numgen inc mod 2 map { 0 : ${RS[0].ip}, 1 : ${RS[1].ip} }
  }
}
`,
    );
  },
};

const NFT_DSR: Setup = {
  id: 'nft-dsr',
  label: 'nft DSR',
  tslvs: false,
  rsRoute: 'direct',
  rsVip: true,
  udp: true,
  httpHosts: [VIP, VIP],
  iperfHost: VIP,
  udpDsts: [VIP],
  async start(c) {
    // The VIP on the director only so that it answers ARP for it; the ingress hook takes every
    // VIP packet before the IP stack sees it.
    await sh(c, 'director', 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    const d = c.mac.director;
    const [m1, m2] = [c.mac.rs1, c.mac.rs2];
    // Stateless, so the real server is picked by a hash of the client's address and port (every
    // packet of a connection to the same one). The source MAC becomes the director's, as LVS-DR
    // does, or the switch would learn the client's MAC on the director's port.
    await nft(
      c,
      'director',
      `table netdev bench_dsr {
  chain ingress {
    type filter hook ingress device "eth0" priority 0; policy accept;
    ip daddr ${VIP} tcp dport ${HTTP_PORT} ether saddr set ${d} ether daddr set jhash ip saddr . tcp sport mod 2 map { 0 : ${m1}, 1 : ${m2} } fwd to "eth0"
    ip daddr ${VIP} tcp dport ${IPERF_PORT} ether saddr set ${d} ether daddr set ${m1} fwd to "eth0"
    ip daddr ${VIP} udp dport ${UDP_PORT} ether saddr set ${d} ether daddr set jhash ip saddr . udp sport mod 2 map { 0 : ${m1}, 1 : ${m2} } fwd to "eth0"
  }
}
`,
    );
  },
};

export function haproxyConfig(dir: string): string {
  return `global
  # HAProxy sizes its descriptor limit from maxconn; the namespace's hard limit is 20000 here.
  maxconn 8000
  pidfile ${dir}/haproxy.pid

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend http
  bind ${VIP}:${HTTP_PORT}
  default_backend http

backend http
  balance roundrobin
  server rs1 ${RS[0].ip}:${HTTP_PORT}
  server rs2 ${RS[1].ip}:${HTTP_PORT}

frontend iperf
  bind ${VIP}:${IPERF_PORT}
  default_backend iperf

backend iperf
  server rs1 ${RS[0].ip}:${IPERF_PORT}
`;
}

const HAPROXY: Setup = {
  id: 'haproxy',
  label: 'HAProxy tcp',
  tslvs: false,
  rsRoute: 'none',
  rsVip: false,
  udp: false,
  httpHosts: [VIP, VIP],
  iperfHost: VIP,
  udpDsts: [],
  async start(c) {
    await sh(c, 'director', 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    const cfg = `${c.run.dir}/haproxy.cfg`;
    writeFileSync(cfg, haproxyConfig(c.run.dir));
    c.shown.push(`director: haproxy -db -f haproxy.cfg <<EOF\n${haproxyConfig('$RUN').trimEnd()}\nEOF`);
    const p = c.run.spawn('director', 'haproxy', 'haproxy', ['-db', '-f', cfg], 'haproxy.log');
    await waitFor(
      () => p.child.exitCode !== null || listening(c, 'director', HTTP_PORT),
      10_000,
      'HAProxy to listen',
    );
    if (p.child.exitCode !== null) throw new Error(`haproxy exited: ${readText(p.log!).trim()}`);
  },
};

/** Whether a TCP port is listening in a host (ss). */
export function listening(c: SetupCtx, role: string, port: number): boolean {
  try {
    return c.run.exec(role, 'ss', '-Hltn', `sport = :${port}`).trim() !== '';
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------- ceiling references

/** Process names of the ceiling forwarders: run.ts meters their CPU and asks for their counters. */
export const CEILING_PROCS: readonly string[] = ['afp-dr', 'node-dr'];

/**
 * bench/e2e/ceiling/afp-dr.c. tsc does not copy it into a dist tree, so it is looked for in this
 * file's ancestors: the repository root is two levels up from the sources, three from dist*.
 */
export function afpDrSource(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'bench', 'e2e', 'ceiling', 'afp-dr.c');
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** bench/e2e/ceiling/node-dr, next to this file in whichever tree it runs from (.ts or dist .js). */
function nodeDrScript(): string {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return fileURLToPath(new URL(`./ceiling/node-dr.${ext}`, import.meta.url));
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$0"', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A ceiling forwarder in the director, set up as tslvs DR is: ip_forward=0, the VIP not on the host
 * (the forwarder answers ARP for it), and the equivalent of tslvsd's host guard (an nftables ingress
 * drop of VIP packets, after the packet socket's tap) so the host stack does not process the
 * forwarded traffic a second time. TCP/UDP to the iperf3 port is pinned to rs1, as in tslvs's
 * one-server 5201 service (iperf3's control and data connections must meet on one server).
 */
async function ceilingStart(
  c: SetupCtx,
  name: string,
  cmd: string,
  args: readonly string[],
  shownCmd: string,
): Promise<void> {
  await sysctl(c, 'director', 'net.ipv4.ip_forward=0');
  await nft(
    c,
    'director',
    `table netdev bench_guard {
  chain in0 {
    type filter hook ingress device "eth0" priority -500; policy accept;
    ip daddr ${VIP} drop
  }
}
`,
  );
  const fwd = ['eth0', VIP, c.mac.director, `${c.mac.rs1},${c.mac.rs2}`, String(IPERF_PORT)];
  c.shown.push(`director: ${shownCmd} ${fwd.join(' ')}`);
  const p = c.run.spawn('director', name, cmd, [...args, ...fwd], `${name}.log`);
  await waitFor(
    () => p.child.exitCode !== null || /forwarding/.test(readText(p.log!)),
    10_000,
    `${name} in the director`,
  );
  if (p.child.exitCode !== null) throw new Error(`${name} exited: ${readText(p.log!).trim()}`);
}

/** DR wiring, shared by tslvs DR and both ceilings: replies bypass the director; ratios to routing. */
const DR_SHAPE = {
  rsRoute: 'direct',
  rsVip: true,
  udp: true,
  httpHosts: [VIP, VIP],
  iperfHost: VIP,
  udpDsts: [VIP],
  ref: 'routing',
} as const satisfies Partial<Setup>;

/** The C forwarder, compiled for this run into the run directory (removed with it). */
const AFP_C_DR: Setup = {
  id: 'afp-c-dr',
  label: 'ceiling C DR',
  tslvs: false,
  ...DR_SHAPE,
  unavailable() {
    if (afpDrSource() === null) return 'bench/e2e/ceiling/afp-dr.c not found above the running script';
    return hasCommand('cc') ? null : 'no C compiler (cc); apt-get install -y gcc';
  },
  async start(c) {
    const src = afpDrSource()!;
    const bin = join(c.run.dir, 'afp-dr');
    const r = await execAsync('cc', ['-O2', '-o', bin, src]);
    c.shown.push('host: cc -O2 -o $RUN/afp-dr bench/e2e/ceiling/afp-dr.c');
    if (r.code !== 0) throw new Error(`cc afp-dr.c: ${(r.stderr || r.stdout).trim()}`);
    await ceilingStart(c, 'afp-dr', bin, [], 'afp-dr');
  },
};

/** The same in Node on tslvs's addon and PacketPort, with a trivial handler instead of the Pipeline. */
const AFP_NODE_DR: Setup = {
  id: 'afp-node-dr',
  label: 'ceiling Node DR',
  tslvs: false,
  ...DR_SHAPE,
  start: (c) =>
    ceilingStart(
      c,
      'node-dr',
      c.run.progs.node,
      [...c.run.progs.nodeArgs, nodeDrScript()],
      'node bench/e2e/ceiling/node-dr.js',
    ),
};

// -------------------------------------------------------------------------------- tslvs

async function tslvsStart(c: SetupCtx, lines: readonly string[]): Promise<void> {
  await sysctl(c, 'director', 'net.ipv4.ip_forward=0');
  c.shown.push(
    `director: tslvs daemon --iface eth0${c.daemonArgs.map((a) => ` ${a}`).join('')}   ` +
      '(VIP not on the host; tslvs answers ARP for it)',
  );
  await c.run.startDaemon('director', ['eth0'], c.daemonArgs);
  for (const line of lines) {
    const r = await c.run.adm(line);
    c.shown.push(`director: ${line}`);
    if (r.code !== 0) throw new Error(`${line}: ${(r.stderr || r.stdout).trim()}`);
  }
}

/** ipvsadm lines for the three services with `fwd` as the forwarding option. */
function services(fwd: string, extra: readonly string[] = [], laddrs: readonly string[] = []): string[] {
  const out: string[] = [];
  const svc = (proto: '-t' | '-u', port: number, rss: readonly string[]): void => {
    out.push(`ipvsadm -A ${proto} ${VIP}:${port} -s rr`);
    for (const l of laddrs) out.push(`ipvsadm --add-laddr ${proto} ${VIP}:${port} --laddr ${l}`);
    for (const r of rss)
      out.push(
        `ipvsadm -a ${proto} ${VIP}:${port} -r ${r}:${port} ${fwd} -w 1${extra.map((e) => ` ${e}`).join('')}`,
      );
  };
  svc('-t', HTTP_PORT, [RS[0].ip, RS[1].ip]);
  svc('-t', IPERF_PORT, [RS[0].ip]);
  svc('-u', UDP_PORT, [RS[0].ip, RS[1].ip]);
  return out;
}

const TSLVS_DR: Setup = {
  id: 'tslvs-dr',
  label: 'tslvs DR',
  tslvs: true,
  ...DR_SHAPE,
  start: (c) => tslvsStart(c, services('-g')),
};

const TSLVS_NAT: Setup = {
  id: 'tslvs-nat',
  label: 'tslvs NAT',
  tslvs: true,
  rsRoute: 'via-director',
  rsVip: false,
  udp: true,
  httpHosts: [VIP, VIP],
  iperfHost: VIP,
  udpDsts: [VIP],
  ref: 'nft-dnat',
  start: (c) => tslvsStart(c, services('-m')),
};

const TSLVS_TUN: Setup = {
  id: 'tslvs-tun',
  label: 'tslvs TUN',
  tslvs: true,
  rsRoute: 'direct',
  rsRouteExtra: ['advmss', String(TUN_ADVMSS)],
  rsVip: true,
  udp: true,
  httpHosts: [VIP, VIP],
  iperfHost: VIP,
  udpDsts: [VIP],
  ref: 'routing',
  async start(c) {
    // This kernel has no ipip module: the real servers decapsulate with tslvs rs-tun.
    for (const rs of RS) {
      const p = c.run.spawn(
        rs.role,
        'tslvs rs-tun',
        c.run.progs.node,
        [...c.run.progs.nodeArgs, c.run.progs.tslvs, 'rs-tun', '--iface', 'eth0'],
        `rs-tun-${rs.role}.log`,
      );
      c.shown.push(`${rs.role}: tslvs rs-tun --iface eth0`);
      await waitFor(
        () => p.child.exitCode !== null || /→/.test(readText(p.log!)),
        10_000,
        `rs-tun in ${rs.role}`,
      );
      if (p.child.exitCode !== null)
        throw new Error(`rs-tun in ${rs.role} exited: ${readText(p.log!).trim()}`);
    }
    await tslvsStart(c, services('-i'));
  },
};

const TSLVS_FULLNAT: Setup = {
  id: 'tslvs-fullnat',
  label: 'tslvs FullNAT',
  tslvs: true,
  rsRoute: 'none',
  rsVip: false,
  udp: true,
  httpHosts: [VIP, VIP],
  iperfHost: VIP,
  udpDsts: [VIP],
  ref: 'nft-dnat',
  start: (c) => tslvsStart(c, services('--fullnat', [], LIPS)),
};

/** In the order they run: the references first, then the ceilings, then tslvs. */
export const SETUPS: readonly Setup[] = [
  ROUTING,
  NFT_DNAT,
  NFT_DSR,
  HAPROXY,
  AFP_C_DR,
  AFP_NODE_DR,
  TSLVS_DR,
  TSLVS_NAT,
  TSLVS_TUN,
  TSLVS_FULLNAT,
];

export function setupById(id: string): Setup | undefined {
  return SETUPS.find((s) => s.id === id);
}

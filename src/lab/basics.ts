/**
 * The network basics of seed 000, before any load balancing:
 *
 * - arp (「arp协议」, 「实例测试」): node01 (192.168.188.180) pings node02 (192.168.188.181) on one
 *   switch. Shown: both neighbour caches and the switch's learned MACs before and after, and the
 *   frames — the broadcast request, the unicast reply, then the ping itself.
 * - route (「下一跳机制」): node01 also has 192.168.88.100 (the seed's `ifconfig ens33:1`); node02
 *   pings it through its default gateway 192.168.188.2, which knows nothing about 192.168.88.0/24,
 *   and fails. `ip route add 192.168.88.100/32 via 192.168.188.180` (the seed's `route add -host
 *   … gw …`) makes it work. The frames show why: the destination IP never changes, the
 *   destination MAC — the next hop — does.
 *
 * Both capture with tcpdump in every namespace, like the LVS scenarios.
 */
import { LabRun } from './run.ts';
import type { ExecResult } from './run.ts';
import { Captures, hopsOf } from './capture.ts';
import type { Hop } from './capture.ts';
import { formatHosts, formatTitle, table } from './format.ts';

export interface BasicsOptions {
  readonly keep?: boolean;
  readonly pcapDir?: string;
  readonly prefix?: string;
  readonly handleSignals?: boolean;
  readonly emit?: (text: string) => void;
  readonly onSignal?: (line: string) => void;
}

interface Shown {
  /** The command as a user would type it, run in `role`. */
  readonly role: string;
  readonly cmd: string;
  readonly out: string;
}

async function show(
  run: LabRun,
  role: string,
  argv: readonly string[],
  display?: string,
): Promise<Shown & ExecResult> {
  const r = await run.run(role, argv[0], argv.slice(1), 10_000);
  return { ...r, role, cmd: display ?? argv.join(' '), out: r.stdout };
}

function formatShown(s: Shown, empty = '(empty)'): string {
  const lines = s.out
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
  const body = lines.length === 0 ? `    ${empty}\n` : lines.map((l) => `    ${l}\n`).join('');
  return `  ${s.role}$ ${s.cmd}\n${body}`;
}

/** ping's lines worth reading: each answer or error, and the summary. */
function pingLines(out: string): string {
  return out
    .split('\n')
    .filter((l) => /bytes from|^From |transmitted/.test(l))
    .join('\n');
}

/** Frames as a numbered list, hop names first. */
export function formatFrames(hops: readonly Hop[], indent = '  '): string {
  return table(
    null,
    hops.map((h, k) => [`${k + 1}`, `${h.from} → ${h.to}`, h.frame.line.replace(/, len \d+$/, '')]),
    indent,
  );
}

/** ARP and ICMP hops only (nothing else should be there, but IPv6 noise or LLDP would be). */
function arpIcmp(hops: readonly Hop[]): Hop[] {
  return hops.filter((h) => h.frame.arp !== null || h.frame.icmp !== null);
}

function learnedFdb(out: string, portOwner: ReadonlyMap<string, string>): string {
  return out
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('permanent'))
    .map((l) => {
      const m = /^(\S+) dev (\S+)/.exec(l);
      return m === null ? l : `${m[1]} on port ${m[2]} (${portOwner.get(m[2]) ?? '?'})`;
    })
    .join('\n');
}

function keepText(run: LabRun, seconds: number): string {
  const ns = [...run.hosts, ...run.switches].map((role) => [`  ${role}`, run.enterCommand(role)]);
  return (
    `\nThe topology stays up (--keep; ${seconds.toFixed(1)} s so far). Enter a host:\n` +
    table(null, ns) +
    'Tear it down with: tslvs lab clean\n'
  );
}

function finish(run: LabRun, caps: Captures | readonly Captures[], o: BasicsOptions, t0: number): string {
  let out = '';
  if (o.pcapDir !== undefined) {
    const dir = o.pcapDir;
    const files = (Array.isArray(caps) ? caps : [caps]).flatMap((c: Captures) => c.copyTo(dir));
    out += `\nCaptures (one per link, open them in Wireshark):\n${files.map((f) => `  ${f}`).join('\n')}\n`;
  }
  const seconds = (performance.now() - t0) / 1000;
  out +=
    o.keep === true
      ? keepText(run, seconds)
      : `\nDone in ${seconds.toFixed(1)} s; the lab's namespaces and processes are gone.\n`;
  return out;
}

// ------------------------------------------------------------------------------ arp

export interface ArpResult {
  readonly before: { readonly node01: string; readonly node02: string; readonly fdb: string };
  readonly after: { readonly node01: string; readonly node02: string; readonly fdb: string };
  readonly pingOk: boolean;
  readonly hops: readonly Hop[];
  readonly macs: { readonly node01: string; readonly node02: string };
}

export async function runArp(o: BasicsOptions = {}): Promise<ArpResult> {
  const t0 = performance.now();
  const emit = o.emit ?? (() => {});
  const run = new LabRun({ prefix: o.prefix, handleSignals: o.handleSignals, onSignal: o.onSignal });
  let ok = false;
  try {
    run.build({
      hosts: ['node01', 'node02'],
      segments: [
        {
          switch: 'switch',
          members: [
            { role: 'node01', ifname: 'eth0', addrs: ['192.168.188.180/24'] },
            { role: 'node02', ifname: 'eth0', addrs: ['192.168.188.181/24'] },
          ],
        },
      ],
    });
    const ports = new Map([
      ['p0', 'node01'],
      ['p1', 'node02'],
    ]);
    emit(
      formatTitle(
        'tslvs lab arp',
        "ARP: node01 asks who has node02's address, node02 answers, and everyone learns",
        'seed 000 (「arp协议」 and 「实例测试」)',
      ) + formatHosts(run),
    );
    const caps = new Captures(run);
    await caps.start(run.ifs.map((i) => ({ role: i.role, ifname: i.ifname })));
    const neigh = ['ip', 'neigh', 'show', 'dev', 'eth0'];
    const fdbCmd = ['bridge', 'fdb', 'show', 'br', 'br0'];
    const b1 = await show(run, 'node01', neigh);
    const b2 = await show(run, 'node02', neigh);
    const bf = await show(run, 'switch', fdbCmd);
    const bfdb = learnedFdb(bf.out, ports);
    const ping = await show(
      run,
      'node01',
      ['ping', '-c', '1', '-W', '2', '192.168.188.181'],
      'ping -c 1 192.168.188.181',
    );
    const a1 = await show(run, 'node01', neigh);
    const a2 = await show(run, 'node02', neigh);
    const af = await show(run, 'switch', fdbCmd);
    const afdb = learnedFdb(af.out, ports);
    const hops = arpIcmp(hopsOf(await caps.stop(), run.macOwners()));
    const fdbShown = (s: Shown, learned: string): Shown => ({
      ...s,
      cmd: `${s.cmd}   (learned entries)`,
      out: learned,
    });
    let out = '\nBefore:\n';
    out += formatShown(b1) + formatShown(b2) + formatShown(fdbShown(bf, bfdb), '(nothing learned yet)');
    out += `\n${formatShown({ ...ping, out: pingLines(ping.out) })}`;
    out += '\nAfter:\n';
    out += formatShown(a1) + formatShown(a2) + formatShown(fdbShown(af, afdb), '(nothing learned)');
    out += '\nFrames, as captured on node01 eth0 and node02 eth0:\n' + formatFrames(hops);
    out += `
Look for:
  - 1: node01 does not know node02's MAC, so it asks everyone (destination ff:ff:ff:ff:ff:ff).
  - 2: only node02 answers, to node01 alone; node01's cache now holds it (REACHABLE).
  - node02 learned node01 from the request itself, and the switch learned both MACs from the
    frames' source addresses — the seed's 「交换机会…把node01的mac地址记录下来」.
`;
    out += finish(run, caps, o, t0);
    emit(out);
    ok = true;
    const mac = (role: string): string => run.ifs.find((i) => i.role === role)!.mac;
    return {
      before: { node01: b1.out, node02: b2.out, fdb: bfdb },
      after: { node01: a1.out, node02: a2.out, fdb: afdb },
      pingOk: ping.code === 0,
      hops,
      macs: { node01: mac('node01'), node02: mac('node02') },
    };
  } finally {
    run.close(ok && o.keep === true);
  }
}

// ------------------------------------------------------------------------------ route

export interface RouteAttempt {
  readonly routes: string;
  readonly pingOk: boolean;
  readonly ping: string;
  readonly hops: readonly Hop[];
}

export interface RouteResult {
  readonly before: RouteAttempt;
  readonly after: RouteAttempt;
  readonly macs: { readonly node01: string; readonly node02: string; readonly router: string };
}

export const ROUTE_TARGET = '192.168.88.100';

export async function runRoute(o: BasicsOptions = {}): Promise<RouteResult> {
  const t0 = performance.now();
  const emit = o.emit ?? (() => {});
  const run = new LabRun({ prefix: o.prefix, handleSignals: o.handleSignals, onSignal: o.onSignal });
  let ok = false;
  try {
    run.build({
      hosts: ['node01', 'node02', 'router'],
      segments: [
        {
          switch: 'switch',
          members: [
            { role: 'node01', ifname: 'eth0', addrs: ['192.168.188.180/24', `${ROUTE_TARGET}/24`] },
            { role: 'node02', ifname: 'eth0', addrs: ['192.168.188.181/24'] },
            { role: 'router', ifname: 'eth0', addrs: ['192.168.188.2/24'] },
          ],
        },
      ],
    });
    run.route('node01', 'default', '192.168.188.2');
    run.route('node02', 'default', '192.168.188.2');
    run.sysctl('router', 'net.ipv4.ip_forward', '1');
    emit(
      formatTitle(
        'tslvs lab route',
        `the next hop: node02 reaches ${ROUTE_TARGET} (on node01) only once a route names node01`,
        'seed 000 (「下一跳机制」, 「实例测试」: route add -host 192.168.88.100 gw 192.168.188.180)',
      ) +
        formatHosts(run) +
        `\nSetup:\n  node01: ip addr add ${ROUTE_TARGET}/24 dev eth0   (the seed: ifconfig ens33:1 ${ROUTE_TARGET}/24)\n` +
        '  node01, node02: ip route add default via 192.168.188.2\n' +
        '  router: ip_forward=1, and no route to 192.168.88.0/24\n',
    );
    // One capture per attempt: splitting one capture by the wall clock is unreliable, because a
    // frame's capture timestamp and Date.now() can disagree by more than the gap between attempts.
    const points = run.ifs.map((i) => ({ role: i.role, ifname: i.ifname }));
    const pingArgv = ['ping', '-c', '1', '-W', '2', ROUTE_TARGET];
    const pingShown = `ping -c 1 ${ROUTE_TARGET}`;
    const caps1 = new Captures(run);
    await caps1.start(points);
    const r1 = await show(run, 'node02', ['ip', 'route']);
    const p1 = await show(run, 'node02', pingArgv, pingShown);
    const hops1 = arpIcmp(hopsOf(await caps1.stop(), run.macOwners()));
    const add = ['ip', 'route', 'add', `${ROUTE_TARGET}/32`, 'via', '192.168.188.180'];
    await show(run, 'node02', add);
    const r2 = await show(run, 'node02', ['ip', 'route']);
    const caps2 = new Captures(run, 'after');
    await caps2.start(points);
    const p2 = await show(run, 'node02', pingArgv, pingShown);
    const hops2 = arpIcmp(hopsOf(await caps2.stop(), run.macOwners()));
    const before: RouteAttempt = { routes: r1.out, pingOk: p1.code === 0, ping: p1.out, hops: hops1 };
    const after: RouteAttempt = { routes: r2.out, pingOk: p2.code === 0, ping: p2.out, hops: hops2 };
    let out = '\n1. Through the default gateway\n';
    out += formatShown(r1) + formatShown({ ...p1, out: pingLines(p1.out) });
    out += `  frames:\n${formatFrames(before.hops, '    ')}`;
    out += `\n2. With a host route via node01\n  node02$ ${add.join(' ')}\n`;
    out += formatShown(r2) + formatShown({ ...p2, out: pingLines(p2.out) });
    out += `  frames:\n${formatFrames(after.hops, '    ')}`;
    out += `
Look for:
  - The echo request's destination IP is ${ROUTE_TARGET} both times; what changes is the destination
    MAC: first the router's (the default gateway, which has no route to 192.168.88.0/24 and says
    so), then node01's — the next hop the new route names, found by ARP for 192.168.188.180.
  - That is the seed's 「通过ip匹配路由,找到网关; 根据网关找到mac地址」: routing picks a next hop,
    ARP turns it into a MAC, and the frame goes to that MAC.
`;
    out += finish(run, [caps1, caps2], o, t0);
    emit(out);
    ok = true;
    const mac = (role: string): string => run.ifs.find((i) => i.role === role)!.mac;
    return { before, after, macs: { node01: mac('node01'), node02: mac('node02'), router: mac('router') } };
  } finally {
    run.close(ok && o.keep === true);
  }
}

/**
 * The harness of the forwarding-method end-to-end tests (modes.test.ts, expire-nodest.test.ts):
 * one fresh lab per describe, built from the lab's address plans (src/lab/lvs.ts LVS_PLANS) by
 * src/lab/run.ts LabRun, so every namespace carries the run's own random prefix and goes away in
 * close() — also when a test fails or the process dies (LabRun removes it on exit).
 *
 * Per lab:
 *  - rs1 runs a Node server: HTTP on every TCP service port (its name and the peer address it
 *    sees, GET /big = 10 MiB, PUT /up/NAME stored to a file) and UDP echo-with-name;
 *  - rs2 runs nginx from Debian with its own config in the run directory (`daemon off;`, pid and
 *    logs there, listening on the address the real server receives on: the RIP for NAT and
 *    FullNAT, the VIP for DR and TUN), plus the same Node UDP echo;
 *  - the director is a real `tslvs daemon`, configured only by tslvsadm with ipvsadm command
 *    lines. Its host forwards (net.ipv4.ip_forward=1, as a router would): without the daemon's
 *    host guard the host would then forward or answer the traffic tslvs has taken over, which the
 *    captures and the director's /proc/net/snmp counters would show;
 *  - tcpdump runs on every host interface for the whole describe (headers only).
 *
 * Traffic only ever flows between addresses inside the run's namespaces.
 *
 * The client programs (batch TCP/UDP requests, a held-open keep-alive connection) and the real
 * server program are plain functions below, run with `node -e` through Function.toString(), so
 * they are type-checked with the rest; they must not use anything outside their own body.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LabRun, execAsync, readText, sleep, waitFor } from '../../src/lab/run.ts';
import type { ExecResult } from '../../src/lab/run.ts';
import { LVS_PLANS, haveRsTun } from '../../src/lab/lvs.ts';
import type { LvsPlan } from '../../src/lab/lvs.ts';
import { checkRequirements, haveProgram } from '../../src/lab/env.ts';
import { readPcap } from '../../src/wire/pcap.ts';
import { u16, u32 } from '../../src/wire/bytes.ts';
import { ipv4ToString, macBytesToString } from '../../src/wire/addr.ts';

// ------------------------------------------------------------------------------ requirements

export const MODES = ['dr', 'nat', 'fullnat', 'tun'] as const;
export type Mode = (typeof MODES)[number];

/** Why the end-to-end tests cannot run here, or null. */
export function e2eSkip(): string | null {
  const r = checkRequirements(['root', 'ip', 'tcpdump', 'curl', 'addon']);
  if (r !== null) return r.message;
  for (const p of ['nginx', 'nft'])
    if (!haveProgram(p)) return `${p} is not installed (apt-get install -y ${p === 'nft' ? 'nftables' : p})`;
  return null;
}

/** Why one mode cannot run here (beyond e2eSkip), or null. */
export function modeSkip(mode: Mode): string | null {
  const s = e2eSkip();
  if (s !== null) return s;
  if (mode === 'tun') {
    if (!haveRsTun()) return 'tslvs rs-tun is not in this tree';
    if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun (tslvs rs-tun needs it)';
  }
  return null;
}

// ------------------------------------------------------------------------------ constants

/** The service ports of a lab: one service per behaviour, so the tests do not disturb each other. */
export const PORT = {
  rr: 80,
  persist: 81,
  drain: 82,
  del: 83,
  transfer: 84,
  wrr: 85,
  udp: 9000,
} as const;

const TCP_PORTS = [PORT.rr, PORT.persist, PORT.drain, PORT.del, PORT.transfer, PORT.wrr];

/** 10 MiB the real servers send for GET /big: a counter pattern, the same bytes everywhere. */
export const BIG = 10 * 1024 * 1024;

function bigPattern(): Buffer {
  const big = Buffer.alloc(BIG);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i >>> 2, i);
  return big;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** sha256 of the /big body, computed here from the pattern (not from any server's answer). */
export const BIG_SHA = sha256(bigPattern());

const FWD_FLAG: Readonly<Record<Mode, string>> = { dr: '-g', nat: '-m', fullnat: '--fullnat', tun: '-i' };
/** The Forward column of `ipvsadm -Ln` per mode. */
export const FWD_NAME: Readonly<Record<Mode, string>> = {
  dr: 'Route',
  nat: 'Masq',
  fullnat: 'FullNat',
  tun: 'Tunnel',
};

// ------------------------------------------------------------------------------ programs run with node -e

interface RsServerConfig {
  name: string;
  bind: string;
  http: number[];
  udp: number;
  upDir: string;
  bigLen: number;
}

/** The real server program (rs1's HTTP, both servers' UDP echo). */
function rsServerMain(cfg: RsServerConfig): void {
  const http = process.getBuiltinModule('node:http');
  const dgram = process.getBuiltinModule('node:dgram');
  const fs = process.getBuiltinModule('node:fs');
  const big = Buffer.alloc(cfg.bigLen);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i >>> 2, i);
  let pending = cfg.http.length + (cfg.udp > 0 ? 1 : 0);
  const up = (): void => {
    if (--pending === 0) console.log('listening');
  };
  for (const port of cfg.http) {
    const srv = http.createServer((q, s) => {
      s.setHeader('x-rs', cfg.name);
      const url = q.url ?? '/';
      if (q.method === 'PUT' && url.startsWith('/up/')) {
        const w = fs.createWriteStream(`${cfg.upDir}/${url.slice(4).replace(/[^\w-]/g, '')}`);
        q.pipe(w);
        w.on('finish', () => s.end(`${cfg.name} stored\n`));
        return;
      }
      if (url === '/big') {
        s.end(big);
        return;
      }
      s.end(`${cfg.name} ${q.socket.remoteAddress}\n`);
    });
    srv.keepAliveTimeout = 60_000;
    srv.listen(port, cfg.bind, up);
  }
  if (cfg.udp > 0) {
    const u = dgram.createSocket('udp4');
    u.on('message', (m, r) => u.send(`${cfg.name} ${r.address} ${m.toString()}`, r.port, r.address));
    u.bind(cfg.udp, cfg.bind, up);
  }
}

interface BatchConfig {
  kind: 'tcp' | 'udp';
  host: string;
  port: number;
  n: number;
  timeoutMs: number;
  /** Request i leaves from port lportBase + i. */
  lportBase: number;
}

/**
 * n requests one after the other, each on a new connection (TCP: HTTP GET with Connection:
 * close) or from a new socket (UDP), each from its own client port; prints a JSON array with the
 * first line of each answer ('FAILED' when none came).
 */
async function clientBatchMain(cfg: BatchConfig): Promise<void> {
  const net = process.getBuiltinModule('node:net');
  const dgram = process.getBuiltinModule('node:dgram');
  const one = (i: number): Promise<string> =>
    new Promise((resolve) => {
      let close = (): void => {};
      const timer = setTimeout(() => finish('FAILED'), cfg.timeoutMs);
      const finish = (s: string): void => {
        clearTimeout(timer);
        close();
        resolve(s);
      };
      if (cfg.kind === 'udp') {
        const u = dgram.createSocket('udp4');
        close = () => {
          close = () => {};
          u.close();
        };
        u.on('message', (m) => finish(m.toString().split('\n')[0]));
        u.on('error', () => finish('FAILED'));
        u.bind(cfg.lportBase + i, () => u.send(`q${i}`, cfg.port, cfg.host));
        return;
      }
      const s = net.connect({ host: cfg.host, port: cfg.port, localPort: cfg.lportBase + i });
      close = () => {
        close = () => {};
        s.destroy();
      };
      let buf = '';
      s.setEncoding('latin1');
      s.on('connect', () => s.write(`GET / HTTP/1.1\r\nHost: ${cfg.host}\r\nConnection: close\r\n\r\n`));
      s.on('data', (d: string) => (buf += d));
      s.on('end', () => {
        const k = buf.indexOf('\r\n\r\n');
        finish(k < 0 ? 'FAILED' : buf.slice(k + 4).split('\n')[0]);
      });
      s.on('error', () => finish('FAILED'));
    });
  const out: string[] = [];
  for (let i = 0; i < cfg.n; i++) out.push(await one(i));
  console.log(JSON.stringify(out));
}

interface HoldConfig {
  host: string;
  port: number;
  timeoutMs: number;
}

/**
 * One keep-alive HTTP connection held open, driven by lines on stdin: `get` sends a request on
 * it and prints {ok, body, lport}; `reset` aborts it with a RST (so the client port is free again
 * at once); `quit` exits.
 */
function holdClientMain(cfg: HoldConfig): void {
  const net = process.getBuiltinModule('node:net');
  const readline = process.getBuiltinModule('node:readline');
  const s = net.connect({ host: cfg.host, port: cfg.port });
  let lport = 0;
  s.on('connect', () => (lport = s.localPort ?? 0));
  s.on('error', () => {});
  let buf = Buffer.alloc(0);
  let waiter: ((body: string | null) => void) | null = null;
  const check = (): void => {
    const k = buf.indexOf('\r\n\r\n');
    if (k < 0 || waiter === null) return;
    const m = /content-length:\s*(\d+)/i.exec(buf.subarray(0, k).toString('latin1'));
    const len = m === null ? 0 : Number(m[1]);
    if (buf.length < k + 4 + len) return;
    const body = buf.subarray(k + 4, k + 4 + len).toString();
    buf = buf.subarray(k + 4 + len);
    const w = waiter;
    waiter = null;
    w(body);
  };
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    check();
  });
  const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'get') {
      void new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => {
          waiter = null;
          resolve(null);
        }, cfg.timeoutMs);
        waiter = (b) => {
          clearTimeout(timer);
          resolve(b);
        };
        s.write(`GET / HTTP/1.1\r\nHost: ${cfg.host}\r\n\r\n`);
        check();
      }).then((b) => out({ ok: b !== null, body: b === null ? '' : b.split('\n')[0], lport }));
    } else if (line === 'reset') {
      if (!s.destroyed) s.resetAndDestroy();
      out({ ok: true, body: '', lport });
    } else if (line === 'quit') {
      process.exit(0);
    }
  });
}

/** `node -e` source that calls `main(cfg)`. */
function program<T>(main: (cfg: T) => unknown, cfg: T): string {
  return `(${main.toString()})(${JSON.stringify(cfg)});`;
}

// ------------------------------------------------------------------------------ answers

/** One answer: the real server's name and the peer address it saw. */
export interface Answer {
  readonly server: string;
  readonly peer: string;
}

/** 'rs1 172.10.10.10' (TCP) or 'rs1 172.10.10.10 q3' (UDP) → {server, peer}; 'FAILED' → server 'FAILED'. */
export function parseAnswer(line: string): Answer {
  const [server, peer] = line.trim().split(/\s+/);
  return { server: server || 'FAILED', peer: peer ?? '' };
}

export interface HoldReply {
  readonly ok: boolean;
  readonly body: string;
  readonly lport: number;
}

/** The test's side of holdClientMain. */
export class HoldClient {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private wake: (() => void) | null = null;

  constructor(child: ChildProcess) {
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.wake?.();
    });
    child.stderr?.resume();
  }

  async cmd(c: 'get' | 'reset', timeoutMs = 10_000): Promise<HoldReply> {
    this.child.stdin!.write(`${c}\n`);
    const end = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (Date.now() > end || this.child.exitCode !== null) throw new Error(`hold client: no answer to ${c}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
    return JSON.parse(this.lines.shift()!) as HoldReply;
  }

  close(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

// ------------------------------------------------------------------------------ captures

/** The fields of a captured IPv4 frame the assertions need (IPIP unwrapped, outer kept). */
export interface Pkt {
  readonly role: string;
  readonly ifname: string;
  readonly srcMac: string;
  readonly dstMac: string;
  /** The IPIP outer header's addresses, or null when not tunnelled. */
  readonly outerSrc: string | null;
  readonly outerDst: string | null;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport: number;
  readonly dport: number;
  /** TCP flags and sequence number (0 for other protocols). */
  readonly flags: number;
  readonly seq: number;
  readonly tsUs: number;
}

export const TCP_RST = 0x04;

/** Reads one Ethernet/IPv4[/IPIP]/TCP|UDP frame with RFC offsets; null for anything else. */
export function decodePkt(b: Uint8Array): Omit<Pkt, 'role' | 'ifname' | 'tsUs'> | null {
  if (b.length < 34 || u16(b, 12) !== 0x0800 || b[14] >>> 4 !== 4) return null;
  let o = 14;
  let outerSrc: string | null = null;
  let outerDst: string | null = null;
  if (b[o + 9] === 4) {
    outerSrc = ipv4ToString(u32(b, o + 12));
    outerDst = ipv4ToString(u32(b, o + 16));
    o += (b[o] & 0x0f) * 4;
    if (b.length < o + 20 || b[o] >>> 4 !== 4) return null;
  }
  const proto = b[o + 9];
  const l4 = o + (b[o] & 0x0f) * 4;
  const ports = (proto === 6 || proto === 17) && b.length >= l4 + 4;
  const tcp = proto === 6 && b.length >= l4 + 14;
  return {
    srcMac: macBytesToString(b, 6),
    dstMac: macBytesToString(b, 0),
    outerSrc,
    outerDst,
    src: ipv4ToString(u32(b, o + 12)),
    dst: ipv4ToString(u32(b, o + 16)),
    proto,
    sport: ports ? u16(b, l4) : 0,
    dport: ports ? u16(b, l4 + 2) : 0,
    flags: tcp ? b[l4 + 13] : 0,
    seq: tcp ? u32(b, l4 + 4) : 0,
  };
}

/** tcpdump on every host interface of a run, headers only (-s 200), read back as Pkts. */
export class LinkCaptures {
  private readonly procs: { role: string; ifname: string; file: string; child: ChildProcess }[] = [];

  static async start(run: LabRun, tag: string): Promise<LinkCaptures> {
    const c = new LinkCaptures();
    const errs = new Map<ChildProcess, string>();
    for (const i of run.ifs) {
      const file = join(run.dir, `${i.role}-${i.ifname}-${tag}.pcap`);
      // -Z root: the run directory is root's; --immediate-mode: nothing waits in a ring block.
      const args = ['-i', i.ifname, '-w', file, '-U', '-n', '-s', '200', '--immediate-mode', '-Z', 'root'];
      const child = run.spawn(i.role, `tcpdump ${i.ifname}`, 'tcpdump', args).child;
      errs.set(child, '');
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => errs.set(child, errs.get(child) + d));
      child.stdout?.resume();
      c.procs.push({ role: i.role, ifname: i.ifname, file, child });
    }
    const ready = (p: ChildProcess): boolean => errs.get(p)!.includes('listening on');
    await waitFor(() => c.procs.every((p) => ready(p.child) || p.child.exitCode !== null), 10_000, 'tcpdump');
    const bad = c.procs.find((p) => !ready(p.child));
    if (bad !== undefined)
      throw new Error(`tcpdump on ${bad.role} ${bad.ifname}: ${errs.get(bad.child)!.trim() || 'exited'}`);
    return c;
  }

  private result: Pkt[] | null = null;

  /** Stops every tcpdump (SIGINT flushes) and decodes everything; a second call returns the same. */
  async stop(): Promise<Pkt[]> {
    if (this.result !== null) return this.result;
    await sleep(100);
    for (const p of this.procs) if (p.child.exitCode === null) p.child.kill('SIGINT');
    await waitFor(
      () => this.procs.every((p) => p.child.exitCode !== null || p.child.signalCode !== null),
      5_000,
      'tcpdump to stop',
    );
    const out: Pkt[] = [];
    for (const p of this.procs) {
      for (const r of readPcap(readFileSync(p.file)).frames) {
        const d = decodePkt(r.data);
        if (d !== null) out.push({ ...d, role: p.role, ifname: p.ifname, tsUs: r.tsSec * 1e6 + r.tsUsec });
      }
    }
    this.result = out;
    return out;
  }
}

/** /proc/net/snmp of a host (per namespace) as `Tcp.OutRsts` → value. */
export function snmp(run: LabRun, role: string): Map<string, number> {
  const lines = run.exec(role, 'cat', '/proc/net/snmp').split('\n');
  const m = new Map<string, number>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i].trim().split(/\s+/);
    const values = lines[i + 1].trim().split(/\s+/);
    const group = names[0].replace(/:$/, '');
    for (let k = 1; k < names.length; k++) m.set(`${group}.${names[k]}`, Number(values[k]));
  }
  return m;
}

// ------------------------------------------------------------------------------ the lab

export interface RsInfo {
  readonly role: 'rs1' | 'rs2';
  readonly rip: string;
  /** Where an upload stored through this server lands. */
  readonly upDir: string;
}

export interface ModeLabOptions {
  /** Extra `tslvs daemon` arguments. */
  readonly daemonArgs?: readonly string[];
  /** The ipvsadm lines to restore at start (default: serviceLines()). */
  readonly lines?: (lab: ModeLab) => readonly string[];
}

export class ModeLab {
  readonly mode: Mode;
  readonly plan: LvsPlan;
  readonly run: LabRun;
  readonly vip: string;
  readonly fwd: string;
  /** Where the real servers receive: the VIP in DR and TUN, the RIP in NAT and FullNAT. */
  readonly rs: readonly RsInfo[];
  readonly client = 'client';
  readonly clientIp: string;
  /** A second client address on the same interface (persistence from two clients). */
  readonly clientIp2: string;
  /** FullNAT's local address, else null. */
  readonly lip: string | null;
  caps: LinkCaptures | null = null;
  /** Director snmp counters when the daemon had just started. */
  snmpAtStart = new Map<string, number>();
  private readonly holds: HoldClient[] = [];
  /** The next client port nodeMany uses, per protocol (each port once per lab). */
  private readonly lportNext = { tcp: 31000, udp: 32000 };
  private readonly upFile: string;
  readonly upSha: string;

  private constructor(mode: Mode) {
    this.mode = mode;
    this.plan = LVS_PLANS[mode];
    this.run = new LabRun();
    this.vip = this.plan.vip;
    this.fwd = FWD_FLAG[mode];
    const laddr = this.plan.admLines.map((l) => /--laddr (\S+)/.exec(l)).find((m) => m !== null);
    this.lip = laddr?.[1] ?? null;
    this.rs = this.plan.servers.map((s) => ({
      role: s.role as 'rs1' | 'rs2',
      rip: s.rip,
      upDir: s.role === 'rs1' ? join(this.run.dir, 'up-rs1') : join(this.run.dir, 'www-rs2', 'up'),
    }));
    const c = this.plan.net.segments
      .flatMap((s) => s.members)
      .find((m) => m.role === 'client' && m.ifname === 'eth0')!;
    this.clientIp = c.addrs[0].split('/')[0];
    const parts = this.clientIp.split('.');
    parts[3] = String(Number(parts[3]) + 1);
    this.clientIp2 = parts.join('.');
    this.upFile = join(this.run.dir, 'upload.bin');
    const up = randomBytes(BIG);
    writeFileSync(this.upFile, up);
    this.upSha = sha256(up);
  }

  /** Builds and starts everything; closes what it made when a step fails. */
  static async start(mode: Mode, o: ModeLabOptions = {}): Promise<ModeLab> {
    const lab = new ModeLab(mode);
    try {
      await lab.setUp(o);
    } catch (e) {
      lab.close();
      throw e;
    }
    return lab;
  }

  /** The address a real server's programs listen on. */
  bindOf(rs: RsInfo): string {
    return this.mode === 'dr' || this.mode === 'tun' ? this.vip : rs.rip;
  }

  /** Every service of modes.test.ts as ipvsadm lines: rr on most ports, wrr 3:1, -p 60, UDP rr. */
  serviceLines(): string[] {
    const lines: string[] = [];
    const svc = (proto: 't' | 'u', port: number, sched: string, weights: [number, number]): void => {
      lines.push(`-A -${proto} ${this.vip}:${port} -s ${sched}`);
      if (this.lip !== null) lines.push(`--add-laddr -${proto} ${this.vip}:${port} --laddr ${this.lip}`);
      this.rs.forEach((r, k) =>
        lines.push(`-a -${proto} ${this.vip}:${port} -r ${r.rip}:${port} ${this.fwd} -w ${weights[k]}`),
      );
    };
    svc('t', PORT.rr, 'rr', [1, 1]);
    svc('u', PORT.udp, 'rr', [1, 1]);
    svc('t', PORT.wrr, 'wrr', [3, 1]);
    svc('t', PORT.persist, 'rr -p 60', [1, 1]);
    svc('t', PORT.drain, 'rr', [1, 1]);
    svc('t', PORT.del, 'rr', [1, 1]);
    svc('t', PORT.transfer, 'rr', [1, 1]);
    return lines;
  }

  private async setUp(o: ModeLabOptions): Promise<void> {
    const run = this.run;
    run.build(this.plan.net);
    await this.plan.configure(run);
    // The director's host forwards, as a router's would: only the host guard keeps it off the
    // VIP flows (hostguard.ts). The plans set 0; 1 makes a missing guard visible.
    run.sysctl('director', 'net.ipv4.ip_forward', '1');
    run.exec('client', 'ip', 'addr', 'add', `${this.clientIp2}/24`, 'dev', 'eth0');
    for (const r of this.rs) mkdirSync(r.upDir, { recursive: true });
    const [rs1, rs2] = this.rs;
    await Promise.all([
      this.nodeServer(rs1, TCP_PORTS),
      this.nodeServer(rs2, []),
      this.nginx(rs2),
      LinkCaptures.start(run, 'all').then((c) => (this.caps = c)),
    ]);
    this.snmpAtStart = snmp(run, 'director');
    await run.startDaemon('director', this.plan.director.ifaces, [
      ...this.plan.director.args,
      ...(o.daemonArgs ?? []),
    ]);
    await this.restore(o.lines === undefined ? this.serviceLines() : o.lines(this));
    // The daemon asks for the real servers' MACs (or the router's) when they are added; the
    // first SYN should find them known rather than wait for a retransmission.
    await sleep(200);
  }

  private async nodeServer(rs: RsInfo, http: readonly number[]): Promise<void> {
    const cfg: RsServerConfig = {
      name: rs.role,
      bind: this.bindOf(rs),
      http: [...http],
      udp: PORT.udp,
      upDir: rs.upDir,
      bigLen: BIG,
    };
    const what = http.length > 0 ? 'node-http-udp' : 'node-udp';
    const p = this.run.spawn(
      rs.role,
      what,
      this.run.progs.node,
      ['-e', program(rsServerMain, cfg)],
      `${what}-${rs.role}.log`,
    );
    await waitFor(
      () => p.child.exitCode !== null || readText(p.log!).includes('listening'),
      10_000,
      `the Node server in ${rs.role}`,
    );
    if (p.child.exitCode !== null) throw new Error(`Node server in ${rs.role}: ${readText(p.log!)}`);
  }

  /** nginx from Debian, its own config and prefix in the run directory. */
  private async nginx(rs: RsInfo): Promise<void> {
    const d = join(this.run.dir, `nginx-${rs.role}`);
    const www = join(this.run.dir, `www-${rs.role}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(www, 'big'), bigPattern());
    const bind = this.bindOf(rs);
    const conf = [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      'user root;',
      `pid ${d}/nginx.pid;`,
      `error_log ${d}/error.log warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      '  default_type application/octet-stream;',
      '  sendfile on;',
      '  keepalive_timeout 60s;',
      '  client_max_body_size 64m;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${d}/${t};`),
      '  server {',
      ...TCP_PORTS.map((p) => `    listen ${bind}:${p};`),
      `    root ${www};`,
      `    add_header X-RS ${rs.role} always;`,
      `    location = / { default_type text/plain; return 200 "${rs.role} $remote_addr\\n"; }`,
      '    location /up/ { dav_methods PUT; }',
      '  }',
      '}',
    ].join('\n');
    writeFileSync(join(d, 'nginx.conf'), `${conf}\n`);
    const p = this.run.spawn(
      rs.role,
      'nginx',
      'nginx',
      ['-p', d, '-e', `${d}/error.log`, '-c', join(d, 'nginx.conf')],
      `nginx-${rs.role}.log`,
    );
    await waitFor(
      () => p.child.exitCode !== null || existsSync(join(d, 'nginx.pid')),
      10_000,
      `nginx in ${rs.role}`,
    );
    if (p.child.exitCode !== null)
      throw new Error(`nginx in ${rs.role} exited: ${readText(p.log!)}${readText(`${d}/error.log`)}`);
    const probe = async (): Promise<boolean> =>
      (await this.run.run(rs.role, 'curl', ['-s', '--max-time', '1', `http://${bind}/`])).stdout.startsWith(
        rs.role,
      );
    const end = Date.now() + 10_000;
    while (!(await probe())) {
      if (Date.now() > end)
        throw new Error(`nginx in ${rs.role} does not answer: ${readText(`${d}/error.log`)}`);
      await sleep(50);
    }
  }

  // ---------------------------------------------------------------------------- tslvsadm

  /** One ipvsadm command line through tslvsadm; throws with its stderr when it fails. */
  async adm(line: string): Promise<ExecResult> {
    const r = await this.run.adm(line);
    if (r.code !== 0) throw new Error(`${line}: exit ${r.code}: ${r.stderr.trim()}`);
    return r;
  }

  /** ipvsadm -R: the lines on standard input, one tslvsadm process. */
  async restore(lines: readonly string[]): Promise<void> {
    const p = this.run.progs;
    const r = await execAsync(p.node, [...p.nodeArgs, p.tslvsadm, '-R'], {
      env: { ...process.env, TSLVS_SOCKET: this.run.sock },
      input: lines.map((l) => `${l}\n`).join(''),
    });
    if (r.code !== 0 || r.stderr !== '')
      throw new Error(`ipvsadm -R: exit ${r.code}: ${r.stderr.trim()}\n${lines.join('\n')}`);
  }

  /** Real server k as ipvsadm's -r wants it, `RIP:port` (-a and -e also need `fwd`, or ipvsadm means -g). */
  dest(k: 0 | 1, port: number): string {
    return `${this.rs[k].rip}:${port}`;
  }

  rsIndex(name: string): 0 | 1 {
    const k = this.rs.findIndex((r) => r.role === name);
    if (k < 0) throw new Error(`not a real server: ${name}`);
    return k as 0 | 1;
  }

  // ---------------------------------------------------------------------------- clients

  /** The peer address a real server should see: the client, or FullNAT's local address. */
  peerSeen(clientIp = this.clientIp): string {
    return this.lip ?? clientIp;
  }

  /**
   * n GETs with one curl process (a new connection each, Connection: close); one Answer each,
   * server 'FAILED' for a failed transfer.
   */
  async curlMany(
    port: number,
    n: number,
    o: { from?: string; localPort?: number; maxTime?: number } = {},
  ): Promise<Answer[]> {
    const args = ['-s', '--max-time', String(o.maxTime ?? 3), '-H', 'Connection: close'];
    if (o.from !== undefined) args.push('--interface', o.from);
    if (o.localPort !== undefined) args.push('--local-port', String(o.localPort));
    // '|<http code>|' after each transfer's body: a failed one has an empty body and code 000.
    args.push('-w', '|%{http_code}|\\n');
    for (let i = 0; i < n; i++) args.push(`http://${this.vip}:${port}/`);
    const r = await this.run.run(this.client, 'curl', args, ((o.maxTime ?? 3) + 1) * n * 1000 + 5000);
    const out: Answer[] = [];
    let body = '';
    for (const line of r.stdout.split('\n')) {
      const m = /^\|(\d+)\|$/.exec(line);
      if (m === null) {
        body += `${line}\n`;
        continue;
      }
      out.push(m[1] === '200' ? parseAnswer(body) : { server: 'FAILED', peer: '' });
      body = '';
    }
    return out;
  }

  /**
   * n requests from the Node client (TCP: HTTP GET, UDP: echo), each on a new connection/socket
   * from its own port. A client port used twice would be the same conn to the director, as to the
   * kernel (a UDP conn lives 300 s), and go to the same server again instead of the scheduler's
   * next: UDP sockets get random ephemeral ports, so the ports are chosen here (below the
   * ephemeral range, where nothing else in the client takes them).
   */
  async nodeMany(kind: 'tcp' | 'udp', port: number, n: number): Promise<Answer[]> {
    const lportBase = this.lportNext[kind];
    this.lportNext[kind] += n;
    if (this.lportNext.tcp > 32000 || this.lportNext.udp > 32768)
      throw new Error('nodeMany: out of client ports for this lab');
    const cfg: BatchConfig = { kind, host: this.vip, port, n, timeoutMs: 3000, lportBase };
    const r = await this.run.run(
      this.client,
      this.run.progs.node,
      ['-e', program(clientBatchMain, cfg)],
      n * 3000 + 10_000,
    );
    if (r.code !== 0) throw new Error(`node client: exit ${r.code}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as string[]).map(parseAnswer);
  }

  /** A held-open keep-alive connection to VIP:port from the client. */
  hold(port: number, timeoutMs = 1500): HoldClient {
    const cfg: HoldConfig = { host: this.vip, port, timeoutMs };
    const child = spawn(
      'ip',
      ['netns', 'exec', this.run.ns(this.client), this.run.progs.node, '-e', program(holdClientMain, cfg)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const h = new HoldClient(child);
    this.holds.push(h);
    return h;
  }

  /** GET /big into a file; the sha256 of what arrived and the server that sent it (X-RS). */
  async download(port: number, n: number): Promise<{ sha: string; server: string; code: number }> {
    const file = join(this.run.dir, `down-${port}-${n}.bin`);
    const hdr = `${file}.hdr`;
    const r = await this.run.run(
      this.client,
      'curl',
      ['-s', '--max-time', '30', '-D', hdr, '-o', file, `http://${this.vip}:${port}/big`],
      35_000,
    );
    const server = /^x-rs:\s*(\S+)/im.exec(readText(hdr))?.[1] ?? 'none';
    const sha = existsSync(file) ? sha256(readFileSync(file)) : 'none';
    return { sha, server, code: r.code };
  }

  /** PUT of 10 MiB random bytes as /up/NAME; the server that answered and the sha256 it stored. */
  async upload(port: number, name: string): Promise<{ sha: string; server: string; code: number }> {
    const hdr = join(this.run.dir, `up-${name}.hdr`);
    const r = await this.run.run(
      this.client,
      'curl',
      [
        ...['-s', '--max-time', '30', '-D', hdr, '-o', '/dev/null', '-H', 'Expect:'],
        ...['-T', this.upFile, `http://${this.vip}:${port}/up/${name}`],
      ],
      35_000,
    );
    const server = /^x-rs:\s*(\S+)/im.exec(readText(hdr))?.[1] ?? 'none';
    const stored = this.rs.find((x) => x.role === server);
    const f = stored === undefined ? '' : join(stored.upDir, name);
    return { sha: f !== '' && existsSync(f) ? sha256(readFileSync(f)) : 'none', server, code: r.code };
  }

  // ---------------------------------------------------------------------------- diagnostics

  /** What to print when an assertion fails: the daemon's log and its status counters. */
  async diag(): Promise<string> {
    const st = await execAsync(
      this.run.progs.node,
      [...this.run.progs.nodeArgs, this.run.progs.tslvsadm, '-Ln'],
      {
        env: { ...process.env, TSLVS_SOCKET: this.run.sock },
      },
    );
    return `--- tslvsd log\n${this.run.daemonLog()}--- ipvsadm -Ln\n${st.stdout}${st.stderr}`;
  }

  /** The director's MAC addresses. */
  directorMacs(): Set<string> {
    return new Set(this.run.ifs.filter((i) => i.role === 'director').map((i) => i.mac));
  }

  macOf(role: string, ifname = 'eth0'): string {
    return this.run.ifs.find((i) => i.role === role && i.ifname === ifname)!.mac;
  }

  close(): void {
    for (const h of this.holds) h.close();
    this.run.close(false);
  }
}

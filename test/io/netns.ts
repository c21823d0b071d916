/**
 * A two-namespace lab for the root-only I/O tests: `<prefix>-a` and `<prefix>-b` joined by the veth
 * pair `<prefix>a` ↔ `<prefix>b` (10.201.0.1/24 ↔ 10.201.0.2/24, IPv6 off so the kernel stays quiet),
 * plus an Agent (agent.ts) running inside each namespace. The prefix is `tsl` + 6 random hex chars, so
 * parallel runs do not collide; all traffic stays inside the two namespaces.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tryLoadAfPacket } from '../../src/io/addon.ts';
import type { IfInfo } from '../../src/io/addon.ts';
import { AGENT_FLAG } from './agent.ts';

export const IP_A = '10.201.0.1';
export const IP_B = '10.201.0.2';
export const MAC_A = '02:74:73:6c:00:0a';
export const MAC_B = '02:74:73:6c:00:0b';

/** Why the netns tests cannot run here, or null if they can. */
export function netnsSkipReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, AF_PACKET): run the tests as root';
  const { error } = tryLoadAfPacket();
  if (error) return error;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
  } catch {
    return '`ip netns` is unavailable (install iproute2)';
  }
  return null;
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a command inside a namespace. */
export function nsExec(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  code?: string;
}

/** Client side of agent.ts: one child process inside a namespace. */
export class Agent {
  readonly ns: string;
  private readonly proc: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';
  readonly ready: Promise<unknown>;

  constructor(ns: string) {
    this.ns = ns;
    const script = fileURLToPath(new URL('./agent.js', import.meta.url));
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, script, AGENT_FLAG], { stdio: 'pipe' });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.ready = new Promise((resolve, reject) => this.pending.set(0, { resolve, reject }));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const rep = JSON.parse(line) as Reply;
      const p = this.pending.get(rep.id);
      if (!p) return;
      this.pending.delete(rep.id);
      if (rep.ok) p.resolve(rep.result);
      else p.reject(Object.assign(new Error(`${ns}: ${rep.error}`), { code: rep.code }));
    });
    this.proc.on('exit', (code) => {
      for (const p of this.pending.values())
        p.reject(new Error(`agent in ${ns} exited (${code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    try {
      this.proc.stdin.end();
    } catch {
      // already closed
    }
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(timer);
  }
}

export interface Lab {
  prefix: string;
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  a: Agent;
  b: Agent;
  destroy(): Promise<void>;
}

/** Create the namespaces, the veth pair and both agents. Cleans up after itself on failure. */
export async function createLab(): Promise<Lab> {
  const prefix = `tsl${randomBytes(3).toString('hex')}`;
  const nsA = `${prefix}-a`;
  const nsB = `${prefix}-b`;
  const ifA = `${prefix}a`;
  const ifB = `${prefix}b`;
  const agents: Agent[] = [];
  const destroy = async (): Promise<void> => {
    await Promise.all(agents.map((g) => g.stop()));
    for (const ns of [nsA, nsB]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
  };
  try {
    for (const ns of [nsA, nsB]) {
      ip('netns', 'add', ns);
      nsExec(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip(
      'link',
      'add',
      ifA,
      'netns',
      nsA,
      'address',
      MAC_A,
      'type',
      'veth',
      'peer',
      'name',
      ifB,
      'netns',
      nsB,
      'address',
      MAC_B,
    );
    ip('-n', nsA, 'addr', 'add', `${IP_A}/24`, 'dev', ifA);
    ip('-n', nsB, 'addr', 'add', `${IP_B}/24`, 'dev', ifB);
    ip('-n', nsA, 'link', 'set', ifA, 'up');
    ip('-n', nsB, 'link', 'set', ifB, 'up');
    const a = new Agent(nsA);
    agents.push(a);
    const b = new Agent(nsB);
    agents.push(b);
    await Promise.all([a.ready, b.ready]);
    // Carrier comes up asynchronously (linkwatch); until then the veth's qdisc drops what we send.
    for (let i = 0; ; i++) {
      const [ia, ib] = await Promise.all([
        a.call<IfInfo>('ifInfo', { ifname: ifA }),
        b.call<IfInfo>('ifInfo', { ifname: ifB }),
      ]);
      if (ia.running && ib.running) break;
      if (i >= 300) throw new Error(`${ifA}/${ifB} never got carrier`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return { prefix, nsA, nsB, ifA, ifB, a, b, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

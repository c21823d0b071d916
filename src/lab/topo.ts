/**
 * Network-namespace topologies for the lab and the end-to-end tests: hosts are namespaces named
 * `<prefix>-<role>`, links are veth pairs renamed inside each namespace (so every host can have
 * its own `eth0`), segments are bridges inside their own namespace. The prefix is unique per run
 * (`tsl` + random hex), so two runs never collide, and `destroy()` removes exactly what this
 * topology created — processes first, then namespaces (which takes their interfaces along).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const LAB_PREFIX = 'tsl';

export function ipCmd(args: readonly string[], input?: string): string {
  return execFileSync('ip', args, {
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

export class Topology {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private links = 0;

  constructor(prefix?: string) {
    this.prefix = prefix ?? `${LAB_PREFIX}${randomBytes(3).toString('hex')}`;
  }

  ns(role: string): string {
    return `${this.prefix}-${role}`;
  }

  /** Adds a host: a namespace with loopback up and IPv6 off (quiet captures). */
  host(role: string): string {
    const ns = this.ns(role);
    ipCmd(['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(role, 'ip', 'link', 'set', 'lo', 'up');
    this.sysctl(role, 'net.ipv6.conf.all.disable_ipv6', '1');
    this.sysctl(role, 'net.ipv6.conf.default.disable_ipv6', '1');
    return ns;
  }

  /** Runs a command in a host's namespace and returns its stdout. */
  exec(role: string, cmd: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.ns(role), cmd, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  sysctl(role: string, key: string, value: string): void {
    this.exec(role, 'sysctl', '-q', '-w', `${key}=${value}`);
  }

  /** A veth pair between two hosts, named ifA in roleA and ifB in roleB, both up. */
  link(roleA: string, ifA: string, roleB: string, ifB: string, macA?: string, macB?: string): void {
    const n = this.links++;
    const ta = `${this.prefix}v${n}a`;
    const tb = `${this.prefix}v${n}b`;
    ipCmd([
      'link',
      'add',
      ta,
      'netns',
      this.ns(roleA),
      'type',
      'veth',
      'peer',
      'name',
      tb,
      'netns',
      this.ns(roleB),
    ]);
    this.exec(roleA, 'ip', 'link', 'set', ta, 'name', ifA);
    this.exec(roleB, 'ip', 'link', 'set', tb, 'name', ifB);
    if (macA) this.exec(roleA, 'ip', 'link', 'set', ifA, 'address', macA);
    if (macB) this.exec(roleB, 'ip', 'link', 'set', ifB, 'address', macB);
    this.exec(roleA, 'ip', 'link', 'set', ifA, 'up');
    this.exec(roleB, 'ip', 'link', 'set', ifB, 'up');
  }

  /** A bridge `br` in `role` enslaving the given interfaces of that host. */
  bridge(role: string, br: string, ports: readonly string[]): void {
    this.exec(role, 'ip', 'link', 'add', br, 'type', 'bridge');
    // Bridged frames must not take a detour through iptables (packet-io.md pitfall 6).
    try {
      this.sysctl(role, 'net.bridge.bridge-nf-call-iptables', '0');
    } catch {
      // br_netfilter not loaded: nothing to turn off.
    }
    for (const p of ports) this.exec(role, 'ip', 'link', 'set', p, 'master', br);
    this.exec(role, 'ip', 'link', 'set', br, 'up');
  }

  addr(role: string, ifname: string, cidr: string): void {
    this.exec(role, 'ip', 'addr', 'add', cidr, 'dev', ifname);
  }

  route(role: string, dst: string, via: string): void {
    this.exec(role, 'ip', 'route', 'add', dst, 'via', via);
  }

  /** Starts a long-running process in a host; it is killed by destroy(). */
  spawn(role: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.ns(role), cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ?? process.env,
    });
    this.procs.push(p);
    return p;
  }

  /** Kills every process and deletes every namespace this topology made. Never throws. */
  destroy(): void {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        try {
          p.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    for (const ns of this.namespaces.reverse()) {
      try {
        // Anything still running in the namespace (started by a tool we spawned) goes first.
        const pids = execFileSync('ip', ['netns', 'pids', ns], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        })
          .split('\n')
          .filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // Gone.
          }
        }
        ipCmd(['netns', 'del', ns]);
      } catch {
        // Already deleted.
      }
    }
    this.namespaces.length = 0;
  }
}

/** Namespaces left by earlier runs that crashed: every `tsl……-role` name, and only those. */
export function leftoverNamespaces(): string[] {
  let out: string;
  try {
    out = ipCmd(['netns', 'list']);
  } catch {
    return [];
  }
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => /^tsl[0-9a-f]{6}-[a-z0-9]+$/.test(n));
}

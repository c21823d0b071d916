/**
 * What the namespace end-to-end tests share for driving a real tslvsd: the built CLIs, tslvsadm
 * run against a daemon's control socket, and starting a daemon in a namespace and waiting for its
 * socket. (The lab's own runner, src/lab/run.ts, does the same for `tslvs lab`; these tests build
 * their topologies with src/lab/topo.ts directly.)
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Topology } from '../../src/lab/topo.ts';
import { waitFor } from '../../src/lab/run.ts';

export { waitFor };

/** dist/ (this file is dist/test/helpers/tslvsd.js once built). */
export const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TSLVS = join(DIST, 'src', 'cli', 'tslvs.js');
export const ADM = join(DIST, 'src', 'cli', 'tslvsadm.js');

export interface AdmResult {
  code: number;
  out: string;
  err: string;
}

/** Runs one ipvsadm command line (a leading "ipvsadm" is dropped) against the daemon at `sock`. */
export function admSync(sock: string, line: string): AdmResult {
  const argv = line.split(/\s+/).filter((w) => w !== '' && w !== 'ipvsadm');
  try {
    const out = execFileSync('node', [ADM, ...argv], {
      encoding: 'utf8',
      env: { ...process.env, TSLVS_SOCKET: sock },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
}

/** A tslvsd started in a namespace of `topo`, its stderr collected in `log`. */
export class Daemon {
  log = '';
  readonly proc: ChildProcess;
  readonly sock: string;

  private constructor(proc: ChildProcess, sock: string) {
    this.proc = proc;
    this.sock = sock;
    proc.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  /** `tslvs daemon --socket sock ...args` in `role`; resolves once the control socket exists. */
  static async start(topo: Topology, role: string, sock: string, args: readonly string[]): Promise<Daemon> {
    const d = new Daemon(topo.spawn(role, 'node', [TSLVS, 'daemon', '--socket', sock, ...args]), sock);
    await waitFor(() => existsSync(sock) || d.proc.exitCode !== null, 10_000, `tslvsd in ${role}`);
    if (d.proc.exitCode !== null) throw new Error(`tslvsd in ${role} exited: ${d.log}`);
    return d;
  }

  adm(line: string): AdmResult {
    return admSync(this.sock, line);
  }
}

/** A DR/TUN real server's VIP: on lo, with ARP for it silenced (arp_ignore=1, arp_announce=2). */
export function vipOnLo(topo: Topology, role: string, vip: string): void {
  topo.addr(role, 'lo', `${vip}/32`);
  for (const k of ['all', 'eth0', 'lo']) {
    topo.sysctl(role, `net.ipv4.conf.${k}.arp_ignore`, '1');
    topo.sysctl(role, `net.ipv4.conf.${k}.arp_announce`, '2');
  }
}

/**
 * Root only: a master socket in one network namespace multicasts a sync message over a veth to a
 * backup socket in another, and the message received there, applied by a SyncBackup, creates the
 * conn. Namespaces and the veth get per-run names and are deleted afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ConnTable } from '../../src/conn/table.ts';
import { IPPROTO_TCP } from '../../src/conn/types.ts';
import { ServiceTable } from '../../src/control/services.ts';
import { SyncBackup } from '../../src/sync/backup.ts';
import { SyncResult, syncMsgEmit, syncMsgEmitLen } from '../../src/sync/msg.ts';
import type { SyncMsgRepr } from '../../src/sync/msg.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { seeded } from '../datapath/fixture.ts';
import { SYNC_CHILD_FLAG } from './ns-child.ts';

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
  } catch {
    return '`ip netns` is unavailable (install iproute2)';
  }
  return false;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A child in namespace `ns` running ns-child.js; lines of its stdout arrive through `lines`. */
class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiters: ((line: string) => boolean)[] = [];
  readonly lines: string[] = [];
  stderr = '';

  constructor(ns: string, ...args: string[]) {
    const script = fileURLToPath(new URL('./ns-child.js', import.meta.url));
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, script, SYNC_CHILD_FLAG, ...args], {
      stdio: 'pipe',
    });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      this.lines.push(line);
      for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i](line)) this.waiters.splice(i, 1);
    });
  }

  /** The first line (already seen or coming) that `match` accepts, within `ms`. */
  waitFor(match: (line: string) => boolean, ms = 5000): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; stderr: ${this.stderr}`)), ms);
      this.proc.once('exit', (code) => reject(new Error(`child exited ${code}: ${this.stderr}`)));
      this.waiters.push((line) => {
        if (!match(line)) return false;
        clearTimeout(timer);
        resolve(line);
        return true;
      });
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(timer);
  }
}

async function overVeth(group: string, wantSource: RegExp): Promise<void> {
  const prefix = `tss${randomBytes(3).toString('hex')}`;
  const nsA = `${prefix}-m`;
  const nsB = `${prefix}-b`;
  const ifA = `${prefix}m`;
  const ifB = `${prefix}b`;
  const children: Child[] = [];
  try {
    for (const ns of [nsA, nsB]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB);
    ip('-n', nsA, 'addr', 'add', '10.203.0.1/24', 'dev', ifA);
    ip('-n', nsB, 'addr', 'add', '10.203.0.2/24', 'dev', ifB);
    ip('-n', nsA, 'link', 'set', ifA, 'up');
    ip('-n', nsB, 'link', 'set', ifB, 'up');
    // Carrier comes up asynchronously on each end; until then the interface is not RUNNING and
    // os.networkInterfaces() does not list it.
    const up = (ns: string, ifn: string): boolean =>
      ip('-n', ns, '-o', 'link', 'show', ifn).includes('LOWER_UP');
    // An IPv6 group also needs each end's link-local address past duplicate address detection.
    const ll = (ns: string, ifn: string): boolean => {
      if (group.includes('.')) return true;
      const a = ip('-n', ns, '-6', '-o', 'addr', 'show', 'dev', ifn);
      return a.includes('fe80::') && !a.includes('tentative');
    };
    for (let i = 0; !(up(nsA, ifA) && up(nsB, ifB) && ll(nsA, ifA) && ll(nsB, ifB)); i++) {
      if (i > 500) throw new Error('the veth did not come up');
      await new Promise((r) => setTimeout(r, 10));
    }

    // The message: one established TCP conn, syncid 11.
    const m: SyncMsgRepr = {
      version: 1,
      syncid: 11,
      conns: [
        {
          af: 4,
          proto: IPPROTO_TCP,
          flags: 0x83,
          state: 1,
          cport: 40000,
          vport: 80,
          dport: 80,
          fwmark: 0,
          timeout: 900,
          caddr: ipv4FromString('172.16.0.10'),
          vaddr: ipv4FromString('10.0.0.100'),
          daddr: ipv4FromString('192.168.10.1'),
          caddr6: null,
          vaddr6: null,
          daddr6: null,
        },
      ],
    };
    const bytes = new Uint8Array(syncMsgEmitLen(m));
    syncMsgEmit(m, bytes, 0);
    const hexMsg = Buffer.from(bytes).toString('hex');

    const rx = new Child(nsB, 'recv', ifB, group);
    children.push(rx);
    await rx.waitFor((l) => l === 'ready');
    const tx = new Child(nsA, 'send', ifA, group, hexMsg);
    children.push(tx);
    const ready = await tx.waitFor((l) => l.startsWith('ready'));
    assert.match(ready, wantSource);
    const got = await rx.waitFor((l) => /^[0-9a-f]+$/.test(l));
    assert.equal(got, hexMsg);

    // What arrived is a message a backup applies.
    const services = new ServiceTable({
      now: () => 0,
      random: seeded(1),
      lblcExpirationMs: 1,
      lblcrExpirationMs: 1,
    });
    const conns4 = new ConnTable({ af: 4, dests: services.dests, random: seeded(2), maxEntries: 16 });
    const conns6 = new ConnTable({ af: 6, dests: services.dests, random: seeded(3), maxEntries: 16 });
    const backup = new SyncBackup({ syncid: 11, conns4, conns6, services, now: () => 0 });
    const b = Uint8Array.from(Buffer.from(got, 'hex'));
    assert.equal(backup.receive(b, 0, b.length), SyncResult.OK);
    assert.ok(
      conns4.lookupIn(IPPROTO_TCP, ipv4FromString('172.16.0.10'), 40000, ipv4FromString('10.0.0.100'), 80) >=
        0,
    );
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    for (const ns of [nsA, nsB]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
  }
}

test(
  'master socket in one netns → backup socket in another, over a veth (224.0.0.81)',
  { skip: skipReason() },
  () =>
    // IPv4: the master socket is bound to the interface's address (bind_mcastif_addr).
    overVeth('224.0.0.81', /^ready 10\.203\.0\.1$/),
);

test('the same with an IPv6 link-local group (ff02::51)', { skip: skipReason() }, () =>
  // IPv6: not bound; connecting picks the interface's link-local address.
  overVeth('ff02::51', /^ready fe80::[0-9a-f:]+%tss[0-9a-f]{6}m$/),
);

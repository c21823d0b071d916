/**
 * Connection synchronisation end to end, as root: two real tslvsd processes on one segment, a
 * master (serving the VIP in DR mode) and a backup, started only with ipvsadm command lines. A
 * client holds one TCP connection open through the master; the backup learns it from the
 * multicast sync messages (`ipvsadm -lnc` on the backup shows it); then the master goes away, the
 * backup takes the VIP, and the same TCP connection carries on through the backup.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology } from '../../src/lab/topo.ts';
import { tryLoadAfPacket } from '../../src/io/addon.ts';
import { Daemon, TSLVS, admSync, vipOnLo, waitFor } from '../helpers/tslvsd.ts';
import type { AdmResult } from '../helpers/tslvsd.ts';

const VIP = '10.35.0.100';
const RIP = '10.35.0.11';

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, AF_PACKET)';
  const { error } = tryLoadAfPacket();
  return error ?? null;
}
const SKIP = skipReason();

/** A TCP echo server: each line comes back prefixed with the server's name. */
const ECHO = `require('net').createServer((s) => { s.setEncoding('utf8'); let b = ''; s.on('data', (d) => { b += d; let i; while ((i = b.indexOf('\\n')) >= 0) { s.write('rs1 ' + b.slice(0, i) + '\\n'); b = b.slice(i + 1); } }); }).listen(80, '0.0.0.0')`;

/**
 * The client: one connection; sends "one", then waits for the file named by argv[2] to appear and
 * sends "two"; writes every answer line to stdout; exits when it has two answers (or after 30 s).
 */
const CLIENT = `const fs = require('fs'); const [go] = process.argv.slice(1);
const c = require('net').connect(80, '${VIP}', () => c.write('one\\n'));
c.setEncoding('utf8'); let got = 0; let b = '';
c.on('data', (d) => { b += d; let i; while ((i = b.indexOf('\\n')) >= 0) { console.log(b.slice(0, i)); b = b.slice(i + 1); got++;
  if (got === 1) { const t = setInterval(() => { if (fs.existsSync(go)) { clearInterval(t); c.write('two\\n'); } }, 50); }
  if (got === 2) { c.end(); process.exit(0); } } });
c.on('error', (e) => { console.log('ERROR ' + e.message); process.exit(1); });
setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, 30000);`;

class Lab {
  readonly t = new Topology();
  readonly dir = mkdtempSync(join(tmpdir(), 'tslvs-sync-'));
  readonly daemons: Record<string, Daemon> = {};

  sock(role: string): string {
    return join(this.dir, `${role}.sock`);
  }

  adm(role: string, line: string): AdmResult {
    return admSync(this.sock(role), line);
  }

  async daemon(role: string): Promise<void> {
    this.daemons[role] = await Daemon.start(this.t, role, this.sock(role), ['--iface', 'eth0']);
  }

  destroy(): void {
    this.t.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('connection sync: a TCP connection survives a director failover', { skip: SKIP ?? false }, () => {
  const lab = SKIP ? null : new Lab();
  before(async () => {
    if (!lab) return;
    const t = lab.t;
    for (const r of ['sw', 'client', 'dira', 'dirb', 'rs1']) t.host(r);
    t.link('client', 'eth0', 'sw', 'p0');
    t.link('dira', 'eth0', 'sw', 'p1');
    t.link('dirb', 'eth0', 'sw', 'p2');
    t.link('rs1', 'eth0', 'sw', 'p3');
    t.bridge('sw', 'br0', ['p0', 'p1', 'p2', 'p3']);
    t.addr('client', 'eth0', '10.35.0.10/24');
    t.addr('dira', 'eth0', '10.35.0.2/24');
    t.addr('dirb', 'eth0', '10.35.0.3/24');
    t.addr('rs1', 'eth0', `${RIP}/24`);
    vipOnLo(t, 'rs1', VIP);
    t.spawn('rs1', 'node', ['-e', ECHO]);
    await lab.daemon('dira');
    await lab.daemon('dirb');
  });
  after(() => lab?.destroy());

  test('the backup learns the conn from the master, then carries it after the master is gone', async () => {
    const l = lab!;
    for (const line of [
      `ipvsadm -A -t ${VIP}:80 -s rr`,
      `ipvsadm -a -t ${VIP}:80 -r ${RIP}:80 -g -w 1`,
      'ipvsadm --start-daemon master --mcast-interface eth0 --syncid 9',
    ]) {
      const r = l.adm('dira', line);
      assert.equal(r.code, 0, `dira: ${line}: ${r.err}`);
    }
    const b = l.adm('dirb', 'ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9');
    assert.equal(b.code, 0, b.err);
    assert.equal(
      l.adm('dirb', 'ipvsadm -L --daemon').out,
      'backup sync daemon (mcast=eth0, syncid=9, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
    );
    assert.match(
      l.adm('dira', 'ipvsadm -L --daemon').out,
      /^master sync daemon \(mcast=eth0, syncid=9, maxlen=1472,/,
    );

    const go = join(l.dir, 'go');
    let out = '';
    const client = l.t.spawn('client', 'node', ['-e', CLIENT, go]);
    client.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('rs1 one') || client.exitCode !== null, 10_000, 'the first answer');
    assert.match(out, /^rs1 one$/m, `${out}\n${l.daemons.dira.log}`);

    // SYN, ACK, data: in_pkts reaches sync_threshold (3) in ESTABLISHED; the master's message
    // leaves within IPVS_SYNC_FLUSH_TIME (2 s) plus its 1 s timer.
    const want = new RegExp(
      `^TCP +\\S+ +ESTABLISHED +10\\.35\\.0\\.10:\\d+ +${VIP.replaceAll('.', '\\.')}:80 +${RIP.replaceAll('.', '\\.')}:80$`,
      'm',
    );
    let conns = '';
    await waitFor(
      () => want.test((conns = l.adm('dirb', 'ipvsadm -lnc').out)),
      8000,
      'the backup to list the synced conn',
    ).catch(() =>
      assert.fail(
        `backup conns:\n${conns}\nmaster:\n${l.adm('dira', 'ipvsadm -lnc').out}\n${l.daemons.dira.log}\n${l.daemons.dirb.log}`,
      ),
    );
    const st = JSON.parse(
      execFileSync('node', [TSLVS, 'status', '--json', '--socket', l.sock('dirb')], { encoding: 'utf8' }),
    ) as {
      sync: { backup: { created: number } };
    };
    assert.ok(st.sync.backup.created >= 1, JSON.stringify(st.sync));

    // Failover: the master goes away; the backup gets the service (and so the VIP: it answers ARP
    // and announces it with gratuitous ARP), as keepalived would configure it on becoming MASTER.
    l.daemons.dira.proc.kill('SIGTERM');
    await waitFor(
      () => l.daemons.dira.proc.exitCode !== null || l.daemons.dira.proc.signalCode !== null,
      5000,
      'dira to stop',
    );
    for (const line of [`ipvsadm -A -t ${VIP}:80 -s rr`, `ipvsadm -a -t ${VIP}:80 -r ${RIP}:80 -g -w 1`]) {
      const r = l.adm('dirb', line);
      assert.equal(r.code, 0, `dirb: ${line}: ${r.err}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(go, '');
    await waitFor(() => client.exitCode !== null, 15_000, 'the client to finish').catch(() => undefined);
    assert.match(out, /^rs1 two$/m, `the connection did not survive:\n${out}\n${l.daemons.dirb.log}`);
    assert.equal(client.exitCode, 0, out);
    // The established conn was the synced one: no new SYN was needed (the backup scheduled none).
    const c = JSON.parse(
      execFileSync('node', [TSLVS, 'status', '--json', '--socket', l.sock('dirb')], { encoding: 'utf8' }),
    ) as {
      counters: Record<string, number>;
    };
    assert.ok((c.counters.TX ?? 0) >= 1, JSON.stringify(c.counters));
    assert.equal(c.counters.NO_CONN_NOT_SYN ?? 0, 0, 'a packet found no conn on the backup');
  });
});

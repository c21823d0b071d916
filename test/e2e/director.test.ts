/**
 * End to end, as root: a real tslvsd process serving veth interfaces in network namespaces, real
 * HTTP servers, curl as the client, configured only through tslvsadm with ipvsadm command lines.
 * Every namespace is unique to the run and deleted in `finally`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology } from '../../src/lab/topo.ts';
import { tryLoadAfPacket } from '../../src/io/addon.ts';
import { Daemon, admSync, vipOnLo } from '../helpers/tslvsd.ts';
import type { AdmResult } from '../helpers/tslvsd.ts';

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, AF_PACKET)';
  const { error } = tryLoadAfPacket();
  if (error) return error;
  for (const c of ['ip', 'curl']) {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'pipe' });
    } catch {
      return `${c} is not installed`;
    }
  }
  return null;
}

const SKIP = skipReason();

/** 10 MB the servers send for GET /big, the same bytes everywhere (a counter pattern). */
const BIG = 10 * 1024 * 1024;
const HTTP_SERVER = (name: string, port: number) =>
  `const big = Buffer.alloc(${BIG}); for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i >>> 2, i);` +
  `require('http').createServer((q, s) => { s.setHeader('connection', 'close');` +
  ` if (q.method === 'POST') { const h = require('crypto').createHash('sha256'); q.on('data', (d) => h.update(d)); q.on('end', () => s.end(h.digest('hex'))); return; }` +
  ` if (q.url === '/big') { s.end(big); return; } s.end(${JSON.stringify(name)} + '\\n'); }).listen(${port}, '0.0.0.0')`;

function bigSha(): string {
  const big = Buffer.alloc(BIG);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i >>> 2, i);
  return createHash('sha256').update(big).digest('hex');
}

class Lab {
  readonly topo = new Topology();
  readonly dir = mkdtempSync(join(tmpdir(), 'tslvs-e2e-'));
  readonly sock = join(this.dir, 'tslvsd.sock');
  private daemon: Daemon | null = null;
  get daemonLog(): string {
    return this.daemon?.log ?? '';
  }

  adm(line: string): AdmResult {
    return admSync(this.sock, line);
  }

  async startDaemon(role: string, args: string[]): Promise<void> {
    this.daemon = await Daemon.start(this.topo, role, this.sock, args);
  }

  httpServer(role: string, name: string, port: number): void {
    this.topo.spawn(role, 'node', ['-e', HTTP_SERVER(name, port)]);
  }

  curl(role: string, url: string): string {
    try {
      return this.topo.exec(role, 'curl', '-s', '--max-time', '3', url).trim();
    } catch {
      return 'FAILED';
    }
  }

  /** sha256 of GET url as the client received it. */
  download(role: string, url: string): string {
    try {
      return this.topo
        .exec(role, 'sh', '-c', `curl -s --max-time 20 ${url} | tee ${this.dir}/down.bin | sha256sum`)
        .split(' ')[0];
    } catch {
      return 'FAILED';
    }
  }

  /** The server's sha256 of a 10 MB POST body the client sent. */
  upload(role: string, url: string): string {
    const file = join(this.dir, 'up.bin');
    execFileSync('sh', ['-c', `head -c ${BIG} /dev/urandom > ${file}`]);
    const want = createHash('sha256').update(readFileSync(file)).digest('hex');
    try {
      const got = this.topo
        .exec(role, 'curl', '-s', '--max-time', '20', '--data-binary', `@${file}`, '-H', 'expect:', url)
        .trim();
      return got === want ? 'OK' : `MISMATCH ${got}`;
    } catch {
      return 'FAILED';
    }
  }

  destroy(): void {
    this.topo.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("DR on one segment (the seeds' experiment)", { skip: SKIP ?? false }, () => {
  const lab = SKIP ? null : new Lab();
  const VIP = '10.31.0.100';
  before(async () => {
    if (!lab) return;
    const t = lab.topo;
    for (const r of ['sw', 'client', 'dir', 'rs1', 'rs2']) t.host(r);
    t.link('client', 'eth0', 'sw', 'p0');
    t.link('dir', 'eth0', 'sw', 'p1');
    t.link('rs1', 'eth0', 'sw', 'p2');
    t.link('rs2', 'eth0', 'sw', 'p3');
    t.bridge('sw', 'br0', ['p0', 'p1', 'p2', 'p3']);
    t.addr('client', 'eth0', '10.31.0.10/24');
    t.addr('dir', 'eth0', '10.31.0.2/24');
    t.addr('rs1', 'eth0', '10.31.0.11/24');
    t.addr('rs2', 'eth0', '10.31.0.12/24');
    t.sysctl('dir', 'net.ipv4.ip_forward', '0');
    vipOnLo(t, 'rs1', VIP);
    vipOnLo(t, 'rs2', VIP);
    lab.httpServer('rs1', 'rs1', 80);
    lab.httpServer('rs2', 'rs2', 80);
    await lab.startDaemon('dir', ['--iface', 'eth0']);
  });
  after(() => lab?.destroy());

  test('ipvsadm lines from the seeds, then curl alternates between the real servers', () => {
    const l = lab!;
    for (const line of [
      `ipvsadm -A -t ${VIP}:80 -s rr`,
      `ipvsadm -a -t ${VIP}:80 -r 10.31.0.11:80 -g -w 1`,
      `ipvsadm -a -t ${VIP}:80 -r 10.31.0.12:80 -g -w 1`,
    ]) {
      assert.equal(l.adm(line).code, 0, line);
    }
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push(l.curl('client', `http://${VIP}/`));
    assert.deepEqual(
      seen.filter((s) => s === 'rs1' || s === 'rs2').length,
      10,
      `all answered: ${seen.join(' ')}\n${l.daemonLog}`,
    );
    assert.equal(seen.filter((s) => s === 'rs1').length, 5);
    for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], 'rr alternates');
    const list = l.adm('ipvsadm -Ln');
    assert.match(list.out, /TCP {2}10\.31\.0\.100:80 rr\n/);
    // 10 MB each way with the veth offloads on (GSO super-frames, partial checksums).
    assert.equal(l.download('client', `http://${VIP}/big`), bigSha(), `download\n${l.daemonLog}`);
    assert.equal(l.upload('client', `http://${VIP}/`), 'OK', 'upload');
    assert.match(list.out, /-> 10\.31\.0\.11:80 +Route {3}1 +\d+ +\d+ +\n/);
  });
});

describe('NAT across two segments', { skip: SKIP ?? false }, () => {
  const lab = SKIP ? null : new Lab();
  const VIP = '10.32.1.100';
  before(async () => {
    if (!lab) return;
    const t = lab.topo;
    for (const r of ['client', 'dir', 'sw', 'rs1', 'rs2']) t.host(r);
    t.link('client', 'eth0', 'dir', 'eth0');
    t.link('dir', 'eth1', 'sw', 'p0');
    t.link('rs1', 'eth0', 'sw', 'p1');
    t.link('rs2', 'eth0', 'sw', 'p2');
    t.bridge('sw', 'br0', ['p0', 'p1', 'p2']);
    t.addr('client', 'eth0', '10.32.1.10/24');
    t.addr('dir', 'eth0', '10.32.1.1/24');
    t.addr('dir', 'eth1', '10.32.2.1/24');
    t.addr('rs1', 'eth0', '10.32.2.11/24');
    t.addr('rs2', 'eth0', '10.32.2.12/24');
    t.route('rs1', 'default', '10.32.2.1');
    t.route('rs2', 'default', '10.32.2.1');
    t.sysctl('dir', 'net.ipv4.ip_forward', '0');
    lab.httpServer('rs1', 'rs1', 8080);
    lab.httpServer('rs2', 'rs2', 8080);
    await lab.startDaemon('dir', ['--iface', 'eth0', '--iface', 'eth1']);
  });
  after(() => lab?.destroy());

  test('requests reach both real servers through NAT and replies come back from the VIP', () => {
    const l = lab!;
    for (const line of [
      `ipvsadm -A -t ${VIP}:80 -s rr`,
      `ipvsadm -a -t ${VIP}:80 -r 10.32.2.11:8080 -m -w 1`,
      `ipvsadm -a -t ${VIP}:80 -r 10.32.2.12:8080 -m -w 1`,
    ]) {
      assert.equal(l.adm(line).code, 0, line);
    }
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push(l.curl('client', `http://${VIP}/`));
    assert.equal(seen.filter((s) => s === 'rs1').length, 5, `${seen.join(' ')}\n${l.daemonLog}`);
    assert.equal(seen.filter((s) => s === 'rs2').length, 5);
    const stats = l.adm('ipvsadm -Ln --stats');
    assert.match(stats.out, /TCP {2}10\.32\.1\.100:80 +10 /, stats.out);
    assert.equal(l.download('client', `http://${VIP}/big`), bigSha(), `download\n${l.daemonLog}`);
    assert.equal(l.upload('client', `http://${VIP}/`), 'OK', 'upload');
  });
});

/**
 * End to end, as root: LVS TUN mode across a router, with real servers whose kernel has no ipip,
 * fou or gre module (this one), each running `tslvs rs-tun`.
 *
 *   client 10.41.1.10 ─┐                         ┌─ rs1 10.41.2.11 (VIP on lo, rs-tun, HTTP "rs1")
 *   dir    10.41.1.2  ─┼─ br A ── router ── br B ─┤
 *   (tslvsd, VIP       │  10.41.1.1   10.41.2.1   └─ rs2 10.41.2.12 (VIP on lo, rs-tun, HTTP "rs2")
 *    10.41.1.100)     ─┘
 *
 * The director reaches the real servers through the router (--route), the real servers route back
 * to the client through the router, never through the director: a capture on the director's
 * interface must see tunnel packets out and no frame from the VIP. Everything is unique to the run
 * (src/lab/topo.ts) and deleted in `finally`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology } from '../../src/lab/topo.ts';
import { tryLoadAfPacket } from '../../src/io/addon.ts';
import { Daemon, TSLVS, admSync, vipOnLo, waitFor } from '../helpers/tslvsd.ts';
import type { AdmResult } from '../helpers/tslvsd.ts';

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, AF_PACKET, TUN)';
  const { error } = tryLoadAfPacket();
  if (error) return error;
  for (const c of ['ip', 'curl', 'tcpdump', 'nft']) {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'pipe' });
    } catch {
      return `${c} is not installed`;
    }
  }
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  return null;
}

const SKIP = skipReason();

const VIP = '10.41.1.100';
const RIP1 = '10.41.2.11';
const RIP2 = '10.41.2.12';

const HTTP_SERVER = (name: string) =>
  `require('http').createServer((q, s) => { s.setHeader('connection', 'close');` +
  ` if (q.method === 'POST') { const h = require('crypto').createHash('sha256'); q.on('data', (d) => h.update(d)); q.on('end', () => s.end(h.digest('hex'))); return; }` +
  ` s.end(${JSON.stringify(name)} + '\\n'); }).listen(80, '0.0.0.0')`;

/** python3: one ICMPv6 echo request 2001:db8::1 → 2001:db8::100 sent as IPv4 protocol 41 to argv[1]. */
const SEND_6IN4 = `
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
src = socket.inet_pton(socket.AF_INET6, '2001:db8::1')
dst = socket.inet_pton(socket.AF_INET6, '2001:db8::100')
icmp = struct.pack('!BBHHH', 128, 0, 0, 1, 1) + b'tslvs-rs-tun'
icmp = icmp[:2] + struct.pack('!H', csum(src + dst + struct.pack('!I3xB', len(icmp), 58) + icmp)) + icmp[4:]
ip6 = struct.pack('!IHBB', 6 << 28, len(icmp), 58, 64) + src + dst + icmp
socket.socket(socket.AF_INET, socket.SOCK_RAW, 41).sendto(ip6, (sys.argv[1], 0))
`;

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => p.once('exit', () => r()));
}

/** IcmpOutDestUnreachs of the namespace (from /proc/net/snmp, which is per namespace). */
function icmpUnreachSent(t: Topology, role: string): number {
  const lines = t
    .exec(role, 'cat', '/proc/net/snmp')
    .split('\n')
    .filter((l) => l.startsWith('Icmp: '));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf('OutDestUnreachs')]);
}

class Lab {
  readonly t = new Topology();
  readonly dir = mkdtempSync(join(tmpdir(), 'tslvs-rstun-'));
  readonly sock = join(this.dir, 'tslvsd.sock');
  private daemon: Daemon | null = null;
  get daemonLog(): string {
    return this.daemon?.log ?? '';
  }
  readonly rsLog: Record<string, string> = {};
  readonly rsProc: Record<string, ChildProcess> = {};

  adm(line: string): AdmResult {
    return admSync(this.sock, line);
  }

  async startDaemon(): Promise<void> {
    this.daemon = await Daemon.start(this.t, 'dir', this.sock, [
      '--iface',
      'eth0',
      '--route',
      '10.41.2.0/24=10.41.1.1',
    ]);
  }

  async startRsTun(role: string): Promise<void> {
    this.rsLog[role] = '';
    const p = this.t.spawn(role, 'node', [TSLVS, 'rs-tun', '--iface', 'eth0', '--gue-port', '6080']);
    this.rsProc[role] = p;
    p.stderr?.on('data', (d: Buffer) => (this.rsLog[role] += d.toString()));
    await waitFor(
      () => /→ tslvs-tun0/.test(this.rsLog[role]) || p.exitCode !== null,
      10_000,
      `rs-tun in ${role}`,
    );
    if (p.exitCode !== null) throw new Error(`rs-tun in ${role} exited ${p.exitCode}: ${this.rsLog[role]}`);
  }

  curl(url: string): string {
    try {
      return this.t.exec('client', 'curl', '-s', '--max-time', '4', url).trim();
    } catch {
      return 'FAILED';
    }
  }

  destroy(): void {
    this.t.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function realServer(l: Lab, role: string, rip: string): void {
  const t = l.t;
  t.addr(role, 'eth0', `${rip}/24`);
  t.route(role, 'default', '10.41.2.1');
  // The VIP must not be answered for on the wire, as for DR.
  vipOnLo(t, role, VIP);
  t.spawn(role, 'node', ['-e', HTTP_SERVER(role)]);
}

describe('TUN mode through a router, real servers running tslvs rs-tun', { skip: SKIP ?? false }, () => {
  const lab = SKIP ? null : new Lab();
  before(async () => {
    if (!lab) return;
    const t = lab.t;
    for (const r of ['sw', 'client', 'dir', 'router', 'rs1', 'rs2']) t.host(r);
    t.link('client', 'eth0', 'sw', 'a0');
    t.link('dir', 'eth0', 'sw', 'a1');
    t.link('router', 'eth0', 'sw', 'a2');
    t.link('router', 'eth1', 'sw', 'b0');
    t.link('rs1', 'eth0', 'sw', 'b1');
    t.link('rs2', 'eth0', 'sw', 'b2');
    t.bridge('sw', 'bra', ['a0', 'a1', 'a2']);
    t.bridge('sw', 'brb', ['b0', 'b1', 'b2']);
    t.addr('client', 'eth0', '10.41.1.10/24');
    t.route('client', '10.41.2.0/24', '10.41.1.1');
    t.addr('dir', 'eth0', '10.41.1.2/24');
    t.sysctl('dir', 'net.ipv4.ip_forward', '0');
    t.addr('router', 'eth0', '10.41.1.1/24');
    t.addr('router', 'eth1', '10.41.2.1/24');
    t.sysctl('router', 'net.ipv4.ip_forward', '1');
    realServer(lab, 'rs1', RIP1);
    realServer(lab, 'rs2', RIP2);
    await lab.startDaemon();
    await Promise.all([lab.startRsTun('rs1'), lab.startRsTun('rs2')]);
    // Let the director's own neighbour cache learn the router (it resolves on demand and drops
    // the frame that asked), and the HTTP servers come up.
    t.exec('router', 'ping', '-c', '1', '-W', '1', '10.41.1.2');
    for (const r of ['rs1', 'rs2'])
      await waitFor(
        () => {
          try {
            return t.exec(r, 'curl', '-s', '--max-time', '1', 'http://127.0.0.1/').trim() === r;
          } catch {
            return false;
          }
        },
        10_000,
        `HTTP server in ${r}`,
      );
  });
  after(() => lab?.destroy());

  /** Runs `n` curls to the VIP with a capture on the director's interface; returns both. */
  async function curlsCaptured(l: Lab, n: number): Promise<{ seen: string[]; pcap: string }> {
    const pcap = join(l.dir, `dir-${Date.now()}.pcap`);
    // Immediate mode: libpcap's TPACKET_V3 ring would otherwise hold packets until a block retires,
    // and a capture stopped by SIGINT loses what it holds.
    const cap = l.t.spawn('dir', 'tcpdump', ['-i', 'eth0', '-n', '--immediate-mode', '-U', '-w', pcap, 'ip']);
    let capErr = '';
    cap.stderr?.on('data', (d: Buffer) => (capErr += d.toString()));
    await waitFor(() => /listening on/.test(capErr) || cap.exitCode !== null, 5000, 'tcpdump');
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push(l.curl(`http://${VIP}/`));
    await new Promise((r) => setTimeout(r, 300));
    cap.kill('SIGINT');
    await exited(cap);
    return { seen, pcap };
  }

  function countIn(l: Lab, pcap: string, filter: string): number {
    const out = l.t.exec('dir', 'tcpdump', '-r', pcap, '-n', filter);
    return out.split('\n').filter((x) => x.trim() !== '').length;
  }

  for (const [kind, opts, proto] of [
    ['ipip', '', 'ip proto 4'],
    ['gue', '--tun-type gue --tun-port 6080', 'udp dst port 6080'],
    ['gre', '--tun-type gre', 'ip proto 47'],
  ] as const) {
    test(`${kind}: 10 curls → 5 per real server, and no reply crosses the director`, async () => {
      const l = lab!;
      l.adm(`ipvsadm -C`);
      for (const line of [
        `ipvsadm -A -t ${VIP}:80 -s rr`,
        `ipvsadm -a -t ${VIP}:80 -r ${RIP1} -i -w 1 ${opts}`,
        `ipvsadm -a -t ${VIP}:80 -r ${RIP2} -i -w 1 ${opts}`,
      ]) {
        const r = l.adm(line);
        assert.equal(r.code, 0, `${line}: ${r.err}`);
      }
      assert.match(l.adm('ipvsadm -Ln').out, new RegExp(`-> ${RIP1.replaceAll('.', '\\.')}:80 +Tunnel +1 `));
      const { seen, pcap } = await curlsCaptured(l, 10);
      const diag = `${seen.join(' ')}\n${l.daemonLog}\n${l.rsLog.rs1}\n${l.rsLog.rs2}`;
      assert.equal(seen.filter((s) => s === 'rs1').length, 5, diag);
      assert.equal(seen.filter((s) => s === 'rs2').length, 5, diag);
      // Requests left the director tunnelled to the real servers' addresses, via the router...
      const tunnelled = countIn(l, pcap, `${proto} and (dst host ${RIP1} or dst host ${RIP2})`);
      assert.ok(tunnelled >= 10 * 3, `tunnelled frames: ${tunnelled}`);
      // The capture sees the client's side too (so it would see replies from the VIP if any came)...
      assert.ok(countIn(l, pcap, `src host 10.41.1.10 and dst host ${VIP}`) >= 10 * 3);
      // ...and nothing from the VIP (the replies) ever reached the director's interface.
      assert.equal(countIn(l, pcap, `src host ${VIP}`), 0, 'a reply crossed the director');
      // Nor did the real servers' kernels answer the tunnel packets with ICMP.
      assert.equal(countIn(l, pcap, 'icmp'), 0, 'ICMP reached the director');
    });
  }

  test('a 10 MB upload through each tunnel type arrives intact, the client sending with TSO on', () => {
    // The client's veth keeps its default offloads, so the director receives TCP super-frames of
    // up to 64 KiB; a tunnel cannot carry their offload description, so the director segments them
    // in software (src/xmit/gso.ts) before wrapping each segment.
    const l = lab!;
    const file = join(l.dir, 'up.bin');
    execFileSync('sh', ['-c', `head -c ${10 * 1024 * 1024} /dev/urandom > ${file}`]);
    const want = createHash('sha256').update(readFileSync(file)).digest('hex');
    assert.match(l.t.exec('client', 'ethtool', '-k', 'eth0'), /tcp-segmentation-offload: on/);
    for (const opts of ['', '--tun-type gue --tun-port 6080', '--tun-type gre']) {
      l.adm('ipvsadm -C');
      assert.equal(l.adm(`ipvsadm -A -t ${VIP}:80 -s rr`).code, 0);
      assert.equal(l.adm(`ipvsadm -a -t ${VIP}:80 -r ${RIP1} -i -w 1 ${opts}`).code, 0);
      let got: string;
      try {
        got = l.t
          .exec(
            'client',
            'curl',
            '-s',
            '--max-time',
            '30',
            '--data-binary',
            `@${file}`,
            '-H',
            'expect:',
            `http://${VIP}/`,
          )
          .trim();
      } catch (e) {
        got = `curl failed: ${(e as Error).message}`;
      }
      assert.equal(got, want, `upload through "${opts || 'ipip'}"\n${l.daemonLog}\n${l.rsLog.rs1}`);
    }
    // The daemon says it segmented super-frames (tslvs status, the operator's view of the counters).
    const st = execFileSync('node', [TSLVS, 'status', '--socket', l.sock], { encoding: 'utf8' });
    const m = /^GSO_SEGMENTED +(\d+)$/m.exec(st);
    assert.ok(m !== null && Number(m[1]) > 0, `no software segmentation counted:\n${st}`);
    assert.doesNotMatch(st, /^GSO_TUNNEL /m, 'a super-frame was dropped');
  });

  test('UDP sent with UDP_SEGMENT (GSO) through ipip and gue: every datagram arrives whole', async (t) => {
    // The client's veth has tx-udp-segmentation on, so a UDP_SEGMENT send reaches the director as
    // one super-frame; a tunnel cannot carry its offload description, so the director cuts it into
    // the sender's datagrams (src/xmit/gso.ts udpSegmentV4) before wrapping each.
    const l = lab!;
    try {
      execFileSync('sh', ['-c', 'command -v python3'], { stdio: 'pipe' });
    } catch {
      t.skip('python3 is not installed (it sets UDP_SEGMENT)');
      return;
    }
    const log = join(l.dir, 'udp-sink.txt');
    const sink = l.t.spawn('rs1', 'node', [
      '-e',
      `const fs = require('fs'); require('dgram').createSocket('udp4').on('message', (m) => fs.appendFileSync(${JSON.stringify(log)}, m.length + ' ' + m[0] + '\\n')).bind(9000, '${VIP}', () => console.log('bound'))`,
    ]);
    let out = '';
    sink.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('bound') || sink.exitCode !== null, 5000, 'the UDP sink');
    const status = (): string =>
      execFileSync('node', [TSLVS, 'status', '--socket', l.sock], { encoding: 'utf8' });
    const segmented = (): number => Number(/^GSO_SEGMENTED +(\d+)$/m.exec(status())?.[1] ?? 0);
    const before = segmented();
    let sent = 0;
    for (const opts of ['', '--tun-type gue --tun-port 6080']) {
      l.adm('ipvsadm -C');
      assert.equal(l.adm(`ipvsadm -A -u ${VIP}:9000 -s rr`).code, 0);
      assert.equal(l.adm(`ipvsadm -a -u ${VIP}:9000 -r ${RIP1} -i -w 1 ${opts}`).code, 0);
      // Four sends of 10 datagrams of 1000 bytes; each datagram's first byte says which send.
      l.t.exec(
        'client',
        'python3',
        '-c',
        `import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.setsockopt(17, 103, 1000)\nfor i in range(4):\n    s.sendto(bytes([${sent / 40} * 4 + i]) * 10000, ('${VIP}', 9000))\n    time.sleep(0.05)`,
      );
      sent += 40;
      await waitFor(
        () => existsSync(log) && readFileSync(log, 'utf8').trim().split('\n').length >= sent,
        5000,
        `${sent} datagrams at rs1`,
      ).catch(() => undefined);
    }
    sink.kill();
    const got = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    assert.equal(got.length, sent, `datagrams at rs1\n${status()}\n${l.rsLog.rs1}`);
    for (let i = 0; i < 8; i++)
      assert.equal(got.filter((g) => g === `1000 ${i}`).length, 10, `send ${i}: ten whole datagrams`);
    assert.ok(segmented() - before >= 8, `super-frames segmented: ${segmented() - before}`);
    assert.doesNotMatch(status(), /^GSO_TUNNEL /m, 'a super-frame was dropped');
  });

  let sent6 = false;
  test("IPv6 in IPv4 (protocol 41): the inner IPv6 packet reaches the real server's stack", async (t) => {
    const l = lab!;
    try {
      execFileSync('sh', ['-c', 'command -v python3'], { stdio: 'pipe' });
    } catch {
      t.skip('python3 is not installed (it sends the raw protocol-41 packet)');
      return;
    }
    // The lab's hosts run IPv4 only (Topology turns IPv6 off), so rather than an IPv6 service on
    // the director, the router sends one ICMPv6 echo request to an IPv6 VIP on rs1's lo, inside
    // IPv4 protocol 41 (a raw socket: the kernel adds the outer header).
    l.t.sysctl('rs1', 'net.ipv6.conf.lo.disable_ipv6', '0');
    l.t.exec('rs1', 'ip', '-6', 'addr', 'add', '2001:db8::100/128', 'dev', 'lo');
    const echos = (): number =>
      Number(/^Icmp6InEchos\s+(\d+)/m.exec(l.t.exec('rs1', 'cat', '/proc/net/snmp6'))?.[1] ?? NaN);
    const before = echos();
    l.t.exec('router', 'python3', '-c', SEND_6IN4, RIP1);
    sent6 = true;
    await waitFor(() => echos() !== before, 2000, 'the echo request in rs1').catch(() => undefined);
    assert.equal(echos(), before + 1, l.rsLog.rs1);
  });

  test('the real servers sent no ICMP unreachable; rs-tun stops cleanly and leaves nothing', async () => {
    const l = lab!;
    for (const r of ['rs1', 'rs2']) {
      assert.equal(icmpUnreachSent(l.t, r), 0, `${r} sent ICMP unreachable`);
      const p = l.rsProc[r];
      p.kill('SIGTERM');
      await exited(p);
      assert.equal(p.exitCode, 0, l.rsLog[r]);
      // The final counters: every kind of tunnel got through, nothing was malformed.
      const m = /stopped; frames (\d+): (.*)$/m.exec(l.rsLog[r]);
      assert.ok(m, l.rsLog[r]);
      assert.match(m[2], /ipip \d+/);
      assert.match(m[2], /gue \d+/);
      assert.match(m[2], /gre \d+/);
      if (r === 'rs1' && sent6) assert.match(m[2], /ip6ip 1\b/);
      assert.doesNotMatch(m[2], /malformed/);
      assert.doesNotMatch(l.t.exec(r, 'nft', 'list', 'tables'), /tslvs_rs_/);
      assert.doesNotMatch(l.t.exec(r, 'ip', '-o', 'link', 'show'), /tslvs-tun0/);
    }
  });
});

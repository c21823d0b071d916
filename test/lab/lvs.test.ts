/**
 * The LVS scenarios end to end, as root: namespaces, tslvsd, tslvsadm with the seeds' lines, curl,
 * tcpdump. Asserted: rr's distribution (exact), and that the captured per-hop trace obeys each
 * forwarding method's rules — DR changes only MACs (and the TTL: compare addresses and ports only),
 * NAT rewrites the destination going in and the source coming back, FullNAT rewrites both, TUN
 * adds an outer header. Each scenario sends 4 requests (2 together while the director learns the
 * real servers' MACs, then 2 more).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { LVS_PLANS, haveRsTun, runLvs } from '../../src/lab/lvs.ts';
import type { LvsResult } from '../../src/lab/lvs.ts';
import type { FrameFields, Hop, TracePacket } from '../../src/lab/capture.ts';
import { checkRequirements, haveProgram } from '../../src/lab/env.ts';
import { existingNamespaces } from '../../src/lab/run.ts';
import { readPcap } from '../../src/wire/pcap.ts';
import { formatLvsResult } from '../../src/lab/format.ts';

const SKIP = checkRequirements(['root', 'ip', 'tcpdump', 'curl', 'addon'])?.message ?? null;
if (SKIP !== null) console.log(`# lab scenarios skipped: ${SKIP}`);

const src = (f: FrameFields) => `${f.ip!.src}:${f.tcp!.sport}`;
const dst = (f: FrameFields) => `${f.ip!.dst}:${f.tcp!.dport}`;
const path = (p: TracePacket) => p.hops.map((h) => `${h.from}>${h.to}`);
const packet = (r: LvsResult, label: string) => r.trace!.find((p) => p.label === label)!;

function macOf(r: LvsResult, role: string, ifname = 'eth0'): string {
  return r.hosts.find((h) => h.role === role && h.ifname === ifname)!.mac;
}

/** rr over two real servers, 4 requests: 2 each, none failed, listing and trace present. */
function common(r: LvsResult, rs: string): void {
  assert.equal(r.failed, 0, formatLvsResult(r));
  assert.deepEqual([...r.served.values()], [2, 2]);
  assert.match(r.listing, new RegExp(`TCP  ${r.plan.vip.replace(/\./g, '\\.')}:80 rr`));
  assert.ok(r.trace !== null, 'the traced SYN was captured');
  for (const p of r.trace) assert.ok(p.hops.length > 0, `${p.label} captured`);
  assert.ok(rs === 'rs1' || rs === 'rs2');
  // Every namespace of the run is gone.
  assert.deepEqual(
    existingNamespaces().filter((n) => n.startsWith(`${r.prefix}-`)),
    [],
  );
  assert.equal(existsSync(r.runDir), false);
}

/** Consecutive hops of one packet keep these fields; returns the hops for more checks. */
function sameAddrs(hops: readonly Hop[], what: string): void {
  for (let i = 1; i < hops.length; i++) {
    assert.equal(src(hops[i].frame), src(hops[0].frame), `${what} hop ${i} source`);
    assert.equal(dst(hops[i].frame), dst(hops[0].frame), `${what} hop ${i} destination`);
  }
}

describe('tslvs lab scenarios (root)', { skip: SKIP ?? false }, () => {
  test('dr: only MACs change on the way in; the reply bypasses the director', async () => {
    const pcapDir = mkdtempSync(join(tmpdir(), 'tslvs-lab-test-'));
    try {
      const r = await runLvs(LVS_PLANS.dr, { requests: 4, pcapDir });
      const rs = r.traced.server!;
      common(r, rs);
      const syn = packet(r, 'SYN');
      assert.deepEqual(path(syn), ['client>director', `director>${rs}`]);
      sameAddrs(syn.hops, 'SYN');
      assert.equal(dst(syn.hops[0].frame), '192.168.188.100:80');
      assert.equal(syn.hops[1].frame.srcMac, macOf(r, 'director'));
      assert.equal(syn.hops[1].frame.dstMac, macOf(r, rs));
      for (const label of ['SYN-ACK', 'reply']) {
        const p = packet(r, label);
        assert.deepEqual(path(p), [`${rs}>client`], `${label} goes straight to the client`);
        assert.equal(src(p.hops[0].frame), '192.168.188.100:80', `${label} comes from the VIP`);
      }
      sameAddrs(packet(r, 'request').hops, 'request');
      assert.match(
        r.stats,
        /TCP {2}192\.168\.188\.100:80 +4 +\d+ +0 /,
        'DR: no packet out through the director',
      );
      // One pcap per link, readable (and by tshark, when it is installed).
      assert.equal(r.pcaps.length, 4);
      for (const f of r.pcaps) assert.ok(readPcap(readFileSync(f)).frames.length > 0, f);
      if (haveProgram('tshark'))
        assert.match(
          execFileSync('tshark', ['-r', r.pcaps[0], '-c', '1'], { encoding: 'utf8', stdio: 'pipe' }),
          /\S/,
        );
    } finally {
      rmSync(pcapDir, { recursive: true, force: true });
    }
  });

  test('nat: destination rewritten on the way in, source on the way out, both through the director', async () => {
    const r = await runLvs(LVS_PLANS.nat, { requests: 4 });
    const rs = r.traced.server!;
    common(r, rs);
    const rip = rs === 'rs1' ? '192.168.122.101:80' : '192.168.122.102:80';
    const syn = packet(r, 'SYN');
    assert.deepEqual(path(syn), ['client>router', 'router>director', `director>${rs}`]);
    const [c, , d] = syn.hops.map((h) => h.frame);
    assert.equal(dst(c), '10.10.10.10:80');
    assert.equal(dst(d), rip, 'destination VIP → RIP');
    assert.equal(src(d), src(c), 'the client address stays');
    const sa = packet(r, 'SYN-ACK');
    assert.deepEqual(path(sa), [`${rs}>director`, 'director>router', 'router>client']);
    const [fromRs, fromDir] = sa.hops.map((h) => h.frame);
    assert.equal(src(fromRs), rip);
    assert.equal(src(fromDir), '10.10.10.10:80', 'source RIP → VIP');
    assert.equal(dst(fromDir), dst(fromRs), 'the client address stays');
    assert.match(r.stats, /TCP {2}10\.10\.10\.10:80 +4 +\d+ +[1-9]/, 'NAT: replies counted out');
  });

  test('fullnat: both addresses rewritten, in and out; the real server sees the local address', async () => {
    const r = await runLvs(LVS_PLANS.fullnat, { requests: 4 });
    const rs = r.traced.server!;
    common(r, rs);
    const rip = rs === 'rs1' ? '192.168.122.101:80' : '192.168.122.102:80';
    const syn = packet(r, 'SYN');
    assert.deepEqual(path(syn), ['client>router', 'router>director', `director>${rs}`]);
    const [c, , d] = syn.hops.map((h) => h.frame);
    assert.equal(src(c), '172.10.10.10:' + String(r.traced.cport));
    assert.equal(d.ip!.src, '192.168.122.200', 'source CIP → local address');
    assert.notEqual(src(d), src(c));
    assert.equal(dst(d), rip, 'destination VIP → RIP');
    const sa = packet(r, 'SYN-ACK');
    assert.deepEqual(path(sa), [`${rs}>director`, 'director>router', 'router>client']);
    const [fromRs, fromDir] = sa.hops.map((h) => h.frame);
    assert.equal(dst(fromRs), src(d), 'the real server answers the local address and port');
    assert.equal(src(fromDir), '10.10.10.10:80');
    assert.equal(dst(fromDir), src(c), 'back to the client address and port');
  });

  test(
    'tun: an outer header DIP > RIP around the unchanged packet; the reply bypasses the director',
    {
      skip: haveRsTun() ? false : 'tslvs rs-tun is not in this tree',
    },
    async () => {
      const r = await runLvs(LVS_PLANS.tun, { requests: 4 });
      const rs = r.traced.server!;
      common(r, rs);
      const rip = rs === 'rs1' ? '192.168.122.101' : '192.168.122.102';
      const syn = packet(r, 'SYN');
      assert.deepEqual(path(syn), ['client>router', 'router>director', 'director>router', `router>${rs}`]);
      sameAddrs(syn.hops, 'SYN (inner)');
      assert.equal(syn.hops[1].frame.outer, null);
      for (const h of syn.hops.slice(2)) {
        assert.deepEqual(h.frame.outer && [h.frame.outer.src, h.frame.outer.dst, h.frame.outer.proto], [
          '10.10.10.2',
          rip,
          4,
        ]);
      }
      const sa = packet(r, 'SYN-ACK');
      assert.deepEqual(path(sa), [`${rs}>router`, 'router>client']);
      assert.equal(sa.hops[0].frame.outer, null);
      assert.equal(src(sa.hops[0].frame), '10.10.10.10:80');
    },
  );
});

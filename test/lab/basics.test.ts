/**
 * `tslvs lab arp` and `tslvs lab route`, as root: the captured frames and the caches say what the
 * seed says they should.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runArp, runRoute, ROUTE_TARGET } from '../../src/lab/basics.ts';
import { checkRequirements } from '../../src/lab/env.ts';

const SKIP = checkRequirements(['root', 'ip', 'tcpdump', 'ping'])?.message ?? null;
if (SKIP !== null) console.log(`# lab arp/route skipped: ${SKIP}`);

describe('network basics (root)', { skip: SKIP ?? false }, () => {
  test('arp: broadcast request, unicast reply, and three caches that learned', async () => {
    let text = '';
    const r = await runArp({ emit: (t) => (text += t) });
    assert.equal(r.pingOk, true, text);
    assert.equal(r.before.node01.trim(), '', 'node01 knows nobody before');
    assert.doesNotMatch(r.before.fdb, new RegExp(r.macs.node02), 'node02 has sent nothing yet');
    const arp = r.hops.filter((h) => h.frame.arp !== null);
    assert.ok(arp.length >= 2, text);
    const [req, rep] = arp;
    assert.equal(req.frame.dstMac, 'ff:ff:ff:ff:ff:ff');
    assert.equal(req.frame.srcMac, r.macs.node01);
    assert.deepEqual([req.frame.arp!.op, req.frame.arp!.tpa], [1, '192.168.188.181']);
    assert.deepEqual(
      req.seen.map((s) => s.role),
      ['node01', 'node02'],
      'the broadcast reaches node02',
    );
    assert.equal(rep.frame.dstMac, r.macs.node01);
    assert.deepEqual([rep.frame.arp!.op, rep.frame.arp!.sha], [2, r.macs.node02]);
    assert.match(r.after.node01, new RegExp(`192\\.168\\.188\\.181 lladdr ${r.macs.node02}`));
    assert.match(
      r.after.node02,
      new RegExp(`192\\.168\\.188\\.180 lladdr ${r.macs.node01}`),
      'learned from the request',
    );
    assert.match(r.after.fdb, new RegExp(`${r.macs.node01} on port p0 \\(node01\\)`));
    assert.match(r.after.fdb, new RegExp(`${r.macs.node02} on port p1 \\(node02\\)`));
    assert.ok(
      r.hops.some((h) => h.frame.icmp?.type === 0 && h.from === 'node02'),
      'the echo reply',
    );
  });

  test('route: the same destination IP, first to the gateway MAC (fails), then to node01 MAC (works)', async () => {
    const r = await runRoute();
    assert.equal(r.before.pingOk, false);
    assert.match(r.before.ping, /Unreachable/);
    assert.equal(r.after.pingOk, true, r.after.ping);
    assert.match(
      r.after.routes,
      new RegExp(`${ROUTE_TARGET.replace(/\./g, '\\.')} via 192\\.168\\.188\\.180`),
    );
    const echo = (hs: typeof r.before.hops) =>
      hs.find((h) => h.frame.icmp?.type === 8 && h.from === 'node02')!;
    const e1 = echo(r.before.hops);
    const e2 = echo(r.after.hops);
    assert.equal(e1.frame.ip!.dst, ROUTE_TARGET);
    assert.equal(e2.frame.ip!.dst, ROUTE_TARGET);
    assert.equal(e1.frame.dstMac, r.macs.router);
    assert.equal(e2.frame.dstMac, r.macs.node01);
    assert.ok(
      r.after.hops.some((h) => h.frame.arp?.op === 1 && h.frame.arp.tpa === '192.168.188.180'),
      'node02 resolved the new next hop by ARP',
    );
  });
});

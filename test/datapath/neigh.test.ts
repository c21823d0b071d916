import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeighCache, Router } from '../../src/datapath/neigh.ts';
import { Hop, Pipeline } from '../../src/datapath/pipeline.ts';
import { Verdict } from '../../src/datapath/verdict.ts';
import { ServiceTable } from '../../src/control/services.ts';
import { parseIpAddr } from '../../src/model/addr.ts';
import { Fwd, Proto, TunType } from '../../src/model/flags.ts';
import { ipv4FromString as ip, macFromString as mac } from '../../src/wire/addr.ts';
import { arpWriteFrame, arpParse } from '../../src/wire/arp.ts';
import { tcp4 } from '../helpers/packet.ts';
import { seeded } from './fixture.ts';

function router(neigh = new NeighCache()): Router {
  return new Router(
    [
      {
        index: 1,
        name: 'eth0',
        mac: mac('02:00:00:00:00:02'),
        mtu: 1500,
        addrs: [{ addr: ip('10.0.0.254'), prefix: 24 }],
      },
      {
        index: 2,
        name: 'eth1',
        mac: mac('02:00:00:00:01:02'),
        mtu: 9000,
        addrs: [{ addr: ip('192.168.10.254'), prefix: 24 }],
      },
    ],
    [{ dst: 0, prefix: 0, gw: ip('10.0.0.1') }],
    neigh,
  );
}

test('routes: connected subnets first, then the default gateway; the source is our address there', () => {
  const n = new NeighCache();
  const r = router(n);
  n.learn(2, ip('192.168.10.1'), mac('02:00:00:00:01:11'), 0);
  n.learn(1, ip('10.0.0.1'), mac('02:00:00:00:00:fe'), 0);
  const h = new Hop();
  assert.ok(r.route4(ip('192.168.10.1'), h));
  assert.deepEqual(
    [h.ifindex, h.dstMac, h.srcMac, h.mtu, h.saddr],
    [2, mac('02:00:00:00:01:11'), mac('02:00:00:00:01:02'), 9000, ip('192.168.10.254')],
  );
  assert.ok(r.route4(ip('8.8.8.8'), h));
  assert.deepEqual([h.ifindex, h.dstMac, h.saddr], [1, mac('02:00:00:00:00:fe'), ip('10.0.0.254')]);
});

test('an unresolved next hop queues a rate-limited ARP probe and fails after three', () => {
  const n = new NeighCache({ retransMs: 1000, probes: 3, failedMs: 5000 });
  const r = router(n);
  const h = new Hop();
  r.now = 0;
  assert.equal(r.route4(ip('192.168.10.9'), h), false);
  assert.deepEqual(n.pending, [2, ip('192.168.10.9')]);
  r.route4(ip('192.168.10.9'), h);
  assert.equal(n.pending.length, 2, 'no second probe within retrans time');
  for (const t of [1000, 2000, 3000]) {
    r.now = t;
    r.route4(ip('192.168.10.9'), h);
  }
  assert.equal(n.pending.length, 6, 'three probes in all');
  assert.equal(n.unresolved, 1);
  r.now = 4000;
  r.route4(ip('192.168.10.9'), h);
  assert.equal(n.pending.length, 6, 'FAILED refuses probes for a while');
  n.learn(2, ip('192.168.10.9'), mac('02:00:00:00:01:19'), 4500);
  r.now = 4600;
  assert.ok(r.route4(ip('192.168.10.9'), h), 'an answer makes it reachable at once');
});

test('the pipeline answers ARP for VIPs and FullNAT local addresses, and learns senders', () => {
  const n = new NeighCache();
  const r = router(n);
  const services = new ServiceTable({
    now: () => 0,
    random: seeded(3),
    lblcExpirationMs: 1,
    lblcrExpirationMs: 1,
  });
  const pipe = new Pipeline({ services, net: r, random: seeded(4), maxConns: 64 });
  const la = parseIpAddr('192.168.10.200')!;
  const key = { af: 4 as const, proto: Proto.TCP, addr: parseIpAddr('10.0.0.100'), port: 80, fwmark: 0 };
  services.addService(key, { sched: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '', laddrs: [la] });
  const buf = new Uint8Array(128);
  // who-has 10.0.0.100 tell 10.0.0.1, from the router.
  const len = arpWriteFrame(
    buf,
    0,
    0xffffffffffff,
    1,
    mac('02:00:00:00:00:fe'),
    ip('10.0.0.1'),
    0,
    ip('10.0.0.100'),
  );
  assert.equal(pipe.process(buf, 0, len, buf.length, 1, 0, 0), Verdict.REPLY);
  const rep = arpParse(buf, 14);
  assert.equal(rep.op, 2);
  assert.equal(rep.senderIp, ip('10.0.0.100'));
  assert.equal(rep.senderMac, mac('02:00:00:00:00:02'), 'answered with eth0 MAC');
  assert.equal(rep.targetMac, mac('02:00:00:00:00:fe'));
  const h = new Hop();
  assert.ok(r.route4(ip('10.0.0.1'), h), 'the requester was learned');
  // The local address on the inside too; a request for anything else passes to the host.
  let l = arpWriteFrame(
    buf,
    0,
    0xffffffffffff,
    1,
    mac('02:00:00:00:01:11'),
    ip('192.168.10.1'),
    0,
    ip('192.168.10.200'),
  );
  assert.equal(pipe.process(buf, 0, l, buf.length, 2, 0, 0), Verdict.REPLY);
  l = arpWriteFrame(
    buf,
    0,
    0xffffffffffff,
    1,
    mac('02:00:00:00:01:11'),
    ip('192.168.10.1'),
    0,
    ip('192.168.10.254'),
  );
  assert.equal(pipe.process(buf, 0, l, buf.length, 2, 0, 0), Verdict.PASS);
  // After the service goes, the VIP is no longer ours.
  services.delService(key);
  l = arpWriteFrame(buf, 0, 0xffffffffffff, 1, mac('02:00:00:00:00:fe'), ip('10.0.0.1'), 0, ip('10.0.0.100'));
  assert.equal(pipe.process(buf, 0, l, buf.length, 1, 0, 0), Verdict.PASS);
});

test('a frame whose next hop is unknown is dropped with NO_ROUTE while ARP resolves it', () => {
  const n = new NeighCache();
  const r = router(n);
  const services = new ServiceTable({
    now: () => 0,
    random: seeded(3),
    lblcExpirationMs: 1,
    lblcrExpirationMs: 1,
  });
  const pipe = new Pipeline({ services, net: r, random: seeded(4), maxConns: 64 });
  const key = { af: 4 as const, proto: Proto.TCP, addr: parseIpAddr('10.0.0.100'), port: 80, fwmark: 0 };
  services.addService(key, { sched: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' });
  services.addDest(key, {
    addr: parseIpAddr('192.168.10.1')!,
    port: 80,
    fwd: Fwd.DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: TunType.IPIP,
    tunPort: 0,
    tunFlags: 0,
  });
  const f = tcp4({ src: '172.16.0.1', dst: '10.0.0.100', sport: 1, dport: 80, flags: 2 });
  const b = new Uint8Array(2048);
  b.set(f);
  assert.equal(pipe.process(b, 0, f.length, 2048, 1, 0, 0), Verdict.DROP);
  assert.deepEqual(n.pending, [2, ip('192.168.10.1')]);
});

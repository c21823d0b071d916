/**
 * The director's neighbour queue, without root: a Director on two in-memory links (clients on 1,
 * real servers on 2). The first SYN towards a real server whose MAC is unknown waits while the
 * director asks ARP, and leaves — with the MAC filled in, in order — once the answer comes; with
 * no answer it is dropped and counted after the probes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Director } from '../../src/daemon/director.ts';
import { MemoryPort } from '../../src/io/memory.ts';
import { Meta } from '../../src/io/types.ts';
import { addr4 } from '../../src/model/addr.ts';
import { Fwd, Proto, TunType } from '../../src/model/flags.ts';
import { arpMakeReplyFrameInPlace } from '../../src/wire/arp.ts';
import { ipv4FromString, macFromString } from '../../src/wire/addr.ts';
import { tcp4 } from '../helpers/packet.ts';
import { NeighQueue } from '../../src/daemon/neighq.ts';
import { NeighCache } from '../../src/datapath/neigh.ts';

const MAC_DIR1 = '02:00:00:00:00:02';
const MAC_DIR2 = '02:00:00:00:01:02';
const MAC_ROUTER = '02:00:00:00:00:fe';
const MAC_RS = '02:00:00:00:01:13';

function setup(): {
  dir: Director;
  clock: { now: number };
  client: MemoryPort;
  rs: MemoryPort;
  got: Uint8Array[];
} {
  const clock = { now: 1000 };
  const d1 = new MemoryPort({ name: 'c0', mac: macFromString(MAC_DIR1) });
  const d2 = new MemoryPort({ name: 'r0', mac: macFromString(MAC_DIR2) });
  const client = new MemoryPort({ name: 'client' });
  const rs = new MemoryPort({ name: 'rs' });
  d1.peer = client;
  client.peer = d1;
  d2.peer = rs;
  rs.peer = d2;
  const dir = new Director({
    ifs: [
      {
        index: 1,
        name: 'c0',
        mac: macFromString(MAC_DIR1),
        mtu: 1500,
        addrs: [{ addr: ipv4FromString('10.0.0.2'), prefix: 24 }],
        io: d1,
      },
      {
        index: 2,
        name: 'r0',
        mac: macFromString(MAC_DIR2),
        mtu: 1500,
        addrs: [{ addr: ipv4FromString('192.168.10.254'), prefix: 24 }],
        io: d2,
      },
    ],
    routes: [{ dst: 0, prefix: 0, gw: ipv4FromString('10.0.0.1') }],
    now: () => clock.now,
    random: () => 7,
    garpCount: 0,
  });
  const key = {
    af: 4 as const,
    proto: Proto.TCP,
    addr: addr4(ipv4FromString('10.0.0.100')),
    port: 80,
    fwmark: 0,
  };
  dir.services.addService(key, { sched: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' });
  dir.services.addDest(key, {
    addr: addr4(ipv4FromString('192.168.10.3')),
    port: 80,
    fwd: Fwd.DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: TunType.IPIP,
    tunPort: 0,
    tunFlags: 0,
  });
  const got: Uint8Array[] = [];
  rs.onBatch((buf, meta, n) => {
    for (let i = 0; i < n; i++) {
      const o = meta[i * Meta.STRIDE + Meta.OFF];
      got.push(buf.slice(o, o + meta[i * Meta.STRIDE + Meta.LEN]));
    }
  });
  return { dir, clock, client, rs, got };
}

const syn = (sport: number) =>
  tcp4({
    srcMac: MAC_ROUTER,
    dstMac: MAC_DIR1,
    src: '203.0.113.9',
    dst: '10.0.0.100',
    sport,
    dport: 80,
    flags: 0x02,
  });

const isArpRequest = (f: Uint8Array) => f[12] === 0x08 && f[13] === 0x06 && f[21] === 1;
const macAt = (f: Uint8Array, o: number) =>
  Array.from(f.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');

test('the first SYNs wait for ARP, then leave in order with the real server MAC', () => {
  const { dir, rs, got, clock } = setup();
  const d1 = dir.ifs[0].io as MemoryPort;
  const d2 = dir.ifs[1].io as MemoryPort;
  for (const f of [syn(40000), syn(40001)]) d1.inject(f);
  d1.deliver();
  rs.deliver();
  assert.equal(got.length, 1, 'only the ARP request went out');
  assert.ok(isArpRequest(got[0]), 'an ARP request for the real server');
  assert.equal(dir.neighQ.count, 2);
  // The real server answers.
  const reply = got[0].slice();
  arpMakeReplyFrameInPlace(reply, 0, macFromString(MAC_RS));
  clock.now += 5;
  d2.inject(reply);
  d2.deliver();
  rs.deliver();
  const tcp = got.slice(1);
  assert.equal(tcp.length, 2, 'both SYNs left after the answer');
  for (const [i, f] of tcp.entries()) {
    assert.equal(macAt(f, 0), MAC_RS, 'destination MAC filled in');
    assert.equal(macAt(f, 6), MAC_DIR2);
    assert.equal((f[34] << 8) | f[35], 40000 + i, 'arrival order kept');
  }
  assert.equal(dir.neighQ.count, 0);
  const c = dir.counters();
  assert.equal(c.NEIGH_QUEUED, 2);
  assert.equal(c.NEIGH_QUEUE_SENT, 2);
  assert.equal(c.NEIGH_QUEUE_DROPS, 0);
  // Later SYNs go straight out.
  d1.inject(syn(40002));
  d1.deliver();
  rs.deliver();
  assert.equal(got.length, 4);
  assert.equal(dir.counters().NEIGH_QUEUED, 2);
});

test('no answer: the held frame is dropped after the probes, counted, and reported once', () => {
  const { dir, clock, got, rs } = setup();
  const reports: string[] = [];
  dir.router.neigh.onFailed = (ifindex, ip, probes) =>
    reports.push(`${ifindex} ${ip.toString(16)} ${probes}`);
  const d1 = dir.ifs[0].io as MemoryPort;
  d1.inject(syn(41000));
  d1.deliver();
  for (let s = 0; s < 6; s++) {
    clock.now += 1000;
    dir.tick();
  }
  rs.deliver();
  assert.ok(got.filter(isArpRequest).length >= 3, 'probed three times');
  assert.equal(got.filter((f) => !isArpRequest(f)).length, 0, 'nothing else left');
  assert.equal(dir.neighQ.count, 0);
  assert.equal(dir.counters().NEIGH_QUEUE_DROPS, 1);
  assert.ok(dir.counters().NEIGH_UNRESOLVED >= 1);
  // More traffic and time: still one report for this neighbour (a log line, not a flood).
  for (let s = 0; s < 40; s++) {
    clock.now += 1000;
    d1.inject(syn(41001 + s));
    d1.deliver();
    dir.tick();
  }
  assert.deepEqual(reports, ['2 c0a80a03 3']);
});

test('NeighQueue: per-neighbour limit drops the oldest; oversize frames are refused', () => {
  const q = new NeighQueue({ slots: 8, slotSize: 128, perNeigh: 2 });
  const neigh = new NeighCache();
  const f = (tag: number) => new Uint8Array(60).fill(tag);
  assert.ok(q.hold(2, 0x0a000001, f(1), 0, 60, null, 0, 0, 0));
  assert.ok(q.hold(2, 0x0a000001, f(2), 0, 60, null, 0, 0, 0));
  assert.ok(q.hold(2, 0x0a000001, f(3), 0, 60, null, 0, 0, 0), 'the third pushes the first out');
  assert.ok(q.hold(2, 0x0a000002, f(9), 0, 60, null, 0, 0, 0), 'another neighbour has its own share');
  assert.equal(q.hold(2, 0x0a000002, new Uint8Array(200), 0, 200, null, 0, 0, 0), false, 'too big');
  assert.equal(q.dropped, 2);
  neigh.learn(2, 0x0a000001, 0x020000000099, 0);
  const sent: number[] = [];
  q.drain(neigh, 1, (_i, buf, meta, k) => sent.push(buf[meta[k * Meta.STRIDE + Meta.OFF] + 6]));
  assert.deepEqual(sent, [2, 3], 'the two newest of that neighbour, in order');
  assert.equal(q.count, 1, 'the other neighbour still waits');
  q.drain(neigh, 10_000, () => assert.fail('nothing resolved'));
  assert.equal(q.count, 0, 'expired after holdMs');
  assert.equal(q.dropped, 3);
});

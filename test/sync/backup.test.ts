/**
 * SyncBackup (ip_vs_proc_conn and friends), and master → backup in memory: conns made by a real
 * Pipeline on a master director appear on a backup with the same tuple, state, flags (SYNC set),
 * dest binding and counters, and the backup's own pipeline then forwards their packets to the
 * same real server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnTable } from '../../src/conn/table.ts';
import { TcpState } from '../../src/conn/proto-tcp.ts';
import { IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/conn/types.ts';
import { ServiceTable } from '../../src/control/services.ts';
import type { ServiceKey } from '../../src/control/services.ts';
import { Verdict } from '../../src/datapath/verdict.ts';
import { addr4, addr6, parseIpAddr } from '../../src/model/addr.ts';
import type { Dest } from '../../src/model/dest.ts';
import type { Fwd as FwdT } from '../../src/model/flags.ts';
import { ConnFlag, FWD_MASK, Fwd, Proto, SvcFlag, TunType } from '../../src/model/flags.ts';
import { SyncBackup } from '../../src/sync/backup.ts';
import { SyncMaster } from '../../src/sync/master.ts';
import { SyncResult, syncMsgCount, syncMsgEmit, syncMsgEmitLen, syncMsgVersion } from '../../src/sync/msg.ts';
import type { SyncConnRepr, SyncMsgRepr } from '../../src/sync/msg.ts';
import { ipv4FromString, ipv6FromString, macFromString } from '../../src/wire/addr.ts';
import { mac48 } from '../../src/wire/bytes.ts';
import { tcp4 } from '../helpers/packet.ts';
import { Lab, MAC, seeded } from '../datapath/fixture.ts';

const SYN = 0x02;
const ACK = 0x10;
const FINACK = 0x11;
const CLIENT = '172.16.0.10';
const VIP = '10.0.0.100';

// ---------------------------------------------------------------- a backup director on paper

interface World {
  services: ServiceTable;
  conns4: ConnTable;
  conns6: ConnTable;
  backup: SyncBackup;
  clock: { now: number };
}

function world(syncid = 0): World {
  const clock = { now: 5_000_000 };
  const services = new ServiceTable({
    now: () => clock.now,
    random: seeded(3),
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
  const conns4 = new ConnTable({ af: 4, dests: services.dests, random: seeded(4), maxEntries: 64 });
  const conns6 = new ConnTable({ af: 6, dests: services.dests, random: seeded(5), maxEntries: 64 });
  const backup = new SyncBackup({ syncid, conns4, conns6, services, now: () => clock.now });
  return { services, conns4, conns6, backup, clock };
}

function addSvc(w: World, key: ServiceKey, flags = 0): void {
  w.services.addService(key, { sched: 'rr', flags, timeout: 300, netmask: 0xffffffff, pe: '' });
}

function addDest(w: World, key: ServiceKey, addr: string, port: number, fwd: FwdT): Dest {
  return w.services.addDest(key, {
    addr: parseIpAddr(addr)!,
    port,
    fwd,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: TunType.IPIP,
    tunPort: 0,
    tunFlags: 0,
  });
}

function tcpKey(addr: string, port: number): ServiceKey {
  return { af: 4, proto: Proto.TCP, addr: parseIpAddr(addr)!, port, fwmark: 0 };
}

function entry(o: Partial<SyncConnRepr> = {}): SyncConnRepr {
  return {
    af: 4,
    proto: IPPROTO_TCP,
    flags: Fwd.DROUTE | ConnFlag.NOOUTPUT,
    state: TcpState.ESTABLISHED,
    cport: 40000,
    vport: 80,
    dport: 80,
    fwmark: 0,
    timeout: 900,
    caddr: ipv4FromString(CLIENT),
    vaddr: ipv4FromString(VIP),
    daddr: ipv4FromString('192.168.10.1'),
    caddr6: null,
    vaddr6: null,
    daddr6: null,
    ...o,
  };
}

function msg(conns: SyncConnRepr[], syncid = 0, version: 0 | 1 = 1): Uint8Array {
  const m: SyncMsgRepr = { version, syncid, conns };
  const b = new Uint8Array(syncMsgEmitLen(m));
  syncMsgEmit(m, b, 0);
  return b;
}

function feed(w: World, b: Uint8Array): SyncResult {
  return w.backup.receive(b, 0, b.length);
}

function only(t: ConnTable): number {
  const ids = [...t.list(0)].map((e) => e.id);
  assert.equal(ids.length, 1, 'exactly one entry');
  return ids[0];
}

// ---------------------------------------------------------------- master → backup through the pipeline

/** A master and a backup director with the same DR service; the backup adds its dests in another order. */
function pair(persistent = false): {
  master: Lab;
  backupLab: Lab;
  m: SyncMaster;
  b: SyncBackup;
  sent: Uint8Array[];
} {
  const master = new Lab();
  const backupLab = new Lab();
  const opts = persistent ? { flags: SvcFlag.PERSISTENT, timeout: 300 } : {};
  const ks = master.addService(`${VIP}:80`, opts);
  master.addDest(ks, '192.168.10.1:80', Fwd.DROUTE);
  master.addDest(ks, '192.168.10.2:80', Fwd.DROUTE);
  const kb = backupLab.addService(`${VIP}:80`, opts);
  backupLab.addDest(kb, '192.168.10.3:80', Fwd.DROUTE);
  backupLab.addDest(kb, '192.168.10.2:80', Fwd.DROUTE);
  backupLab.addDest(kb, '192.168.10.1:80', Fwd.DROUTE);
  backupLab.now = master.now + 50;
  const sent: Uint8Array[] = [];
  const m = new SyncMaster({
    syncid: 3,
    now: () => master.now,
    send: (buf, len) => void sent.push(buf.slice(0, len)),
  });
  const b = new SyncBackup({
    syncid: 3,
    conns4: backupLab.pipe.conns4,
    conns6: backupLab.pipe.conns6,
    services: backupLab.services,
    now: () => backupLab.now,
  });
  return { master, backupLab, m, b, sent };
}

/** One client packet through the master's pipeline, then the sync hook the lead will wire in. */
function clientPacket(p: ReturnType<typeof pair>, flags: number, sport = 40000): number {
  const f = tcp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT,
    dst: VIP,
    sport,
    dport: 80,
    flags,
    seq: 1000,
  });
  assert.equal(p.master.run(f).verdict, Verdict.TX);
  const t = p.master.pipe.conns4;
  const cid = t.lookupIn(IPPROTO_TCP, ipv4FromString(CLIENT), sport, ipv4FromString(VIP), 80);
  assert.ok(cid >= 0);
  p.m.syncConn(t, cid, t.inPktsOf(cid));
  return cid;
}

function deliver(p: ReturnType<typeof pair>): void {
  p.m.flush();
  for (const b of p.sent.splice(0)) assert.equal(p.b.receive(b, 0, b.length), SyncResult.OK);
}

test('master → backup: an established DR conn appears on the backup, bound to the same real server', () => {
  const p = pair();
  clientPacket(p, SYN);
  clientPacket(p, ACK);
  const cid = clientPacket(p, ACK); // in_pkts 3 = sync_threshold
  deliver(p);
  const mt = p.master.pipe.conns4;
  const bt = p.backupLab.pipe.conns4;
  const bid = only(bt);
  const mr = mt.repr(cid);
  const br = bt.repr(bid);
  // Same tuple and state.
  for (const k of ['proto', 'caddr', 'cport', 'vaddr', 'vport', 'daddr', 'dport', 'state'] as const)
    assert.deepEqual(br[k], mr[k], k);
  assert.equal(br.stateName, 'ESTABLISHED');
  // SYNC set, DR from the local dest, active like the master's.
  assert.ok((br.flags & ConnFlag.SYNC) !== 0);
  assert.equal(br.flags & FWD_MASK, Fwd.DROUTE);
  assert.equal(br.flags & ~ConnFlag.SYNC, mr.flags);
  // Bound to the backup's dest with the master's dest address (a different DestRegistry id).
  const md = p.master.services.dests.get(mr.destId)!;
  const bd = p.backupLab.services.dests.get(br.destId)!;
  assert.deepEqual([bd.addr.v4, bd.port], [md.addr.v4, md.port]);
  assert.equal(bd.svc, p.backupLab.services.list[0]);
  assert.equal(bd.activeConns, 1);
  assert.equal(bd.inactConns, 0);
  assert.equal(bd.stats.conns, 0, 'synced conns are not counted as new conns (ip_vs_conn_stats)');
  // in_pkts = sync_threshold; timeout from the message (900 s, ESTABLISHED).
  assert.equal(br.inPkts, 3);
  assert.equal(br.timeoutMs, 900_000);
  assert.equal(br.expiresAt, p.backupLab.now + 900_000);

  // Take-over: the backup's pipeline forwards the next packet of the conn to the same server.
  const f = tcp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: ACK,
    seq: 1000,
  });
  const r = p.backupLab.run(f);
  assert.equal(r.verdict, Verdict.TX);
  const rsMac = md.addr.v4 === ipv4FromString('192.168.10.1') ? MAC.rs1 : MAC.rs2;
  assert.equal(mac48(r.out, 0), macFromString(rsMac));
  assert.equal(bt.count, 1, 'no new conn was scheduled');
});

test('master → backup: a FIN moves the backup conn to FIN_WAIT and its dest counts it inactive', () => {
  const p = pair();
  clientPacket(p, SYN);
  clientPacket(p, ACK);
  clientPacket(p, ACK);
  deliver(p);
  // DR: client FIN in ESTABLISHED (input-only rows) → FIN_WAIT, a state change sent at once.
  const cid = clientPacket(p, FINACK);
  assert.equal(p.master.pipe.conns4.getState(cid), TcpState.FIN_WAIT);
  deliver(p);
  const bt = p.backupLab.pipe.conns4;
  const bid = only(bt);
  assert.equal(bt.getState(bid), TcpState.FIN_WAIT);
  assert.ok((bt.getFlags(bid) & ConnFlag.INACTIVE) !== 0);
  const bd = p.backupLab.services.dests.get(bt.destOf(bid))!;
  assert.deepEqual([bd.activeConns, bd.inactConns], [0, 1]);
  assert.equal(bt.getTimeout(bid), 120_000);
  assert.equal(p.b.counters.updated, 1);
  assert.equal(p.b.counters.created, 1);
});

test('master → backup: a persistent service syncs its template, which the backup binds and counts', () => {
  const p = pair(true);
  const cid = clientPacket(p, SYN);
  const mt = p.master.pipe.conns4;
  const ct = mt.controlOf(cid);
  assert.ok(ct >= 0);
  deliver(p);
  // Packet 1: the conn is not due (SYN_RECV), its template is (templates follow every packet).
  const bt = p.backupLab.pipe.conns4;
  const tid = only(bt);
  assert.ok((bt.getFlags(tid) & (ConnFlag.TEMPLATE | ConnFlag.SYNC)) === (ConnFlag.TEMPLATE | ConnFlag.SYNC));
  assert.equal(bt.lookupTemplate(IPPROTO_TCP, ipv4FromString(CLIENT), ipv4FromString(VIP), 80), tid);
  assert.equal(bt.getTimeout(tid), 300_000);
  const bd = p.backupLab.services.dests.get(bt.destOf(tid))!;
  assert.equal(bd.addr.v4, mt.daddr4(ct));
  assert.equal(bd.persistConns, 1);
});

test('syncid filter: a backup with syncid 9 ignores syncid 3, one with syncid 0 takes it', () => {
  const b = msg([entry()], 3);
  const w9 = world(9);
  assert.equal(feed(w9, b), SyncResult.SYNCID_MISMATCH);
  assert.equal(w9.conns4.count, 0);
  assert.equal(w9.backup.counters.otherSyncid, 1);
  const w3 = world(3);
  assert.equal(feed(w3, b), SyncResult.OK);
  assert.equal(w3.conns4.count, 1);
  const w0 = world(0);
  assert.equal(feed(w0, b), SyncResult.OK);
  assert.equal(w0.conns4.count, 1);
});

test('no local service: the conn is created unbound with the master forwarding method', () => {
  const w = world();
  assert.equal(feed(w, msg([entry()])), SyncResult.OK);
  const id = only(w.conns4);
  assert.equal(w.conns4.destOf(id), -1);
  assert.equal(w.conns4.getFlags(id) & FWD_MASK, Fwd.DROUTE);
  assert.equal(w.backup.counters.unbound, 1);
});

test('updates: INACTIVE flips move the dest counters; state and timeout follow the master', () => {
  const w = world();
  const k = tcpKey(VIP, 80);
  addSvc(w, k);
  const d = addDest(w, k, '192.168.10.1', 80, Fwd.DROUTE);
  feed(w, msg([entry({ state: TcpState.ESTABLISHED })]));
  assert.deepEqual([d.activeConns, d.inactConns], [1, 0]);
  w.clock.now += 1000;
  feed(w, msg([entry({ state: TcpState.TIME_WAIT, flags: Fwd.DROUTE | ConnFlag.INACTIVE, timeout: 120 })]));
  assert.deepEqual([d.activeConns, d.inactConns], [0, 1]);
  const id = only(w.conns4);
  assert.equal(w.conns4.getState(id), TcpState.TIME_WAIT);
  assert.equal(w.conns4.expiresOf(id), w.clock.now + 120_000);
  feed(w, msg([entry({ state: TcpState.ESTABLISHED })]));
  assert.deepEqual([d.activeConns, d.inactConns], [1, 0]);
  assert.equal(d.refcnt, 1);
  assert.equal(w.backup.counters.updated, 2);
});

test('a tuple moved to another dest: a live entry replaces the conn, an INACTIVE one is a late echo', () => {
  const w = world();
  const k = tcpKey(VIP, 80);
  addSvc(w, k);
  const d1 = addDest(w, k, '192.168.10.1', 80, Fwd.DROUTE);
  const d2 = addDest(w, k, '192.168.10.2', 80, Fwd.DROUTE);
  feed(w, msg([entry()]));
  feed(w, msg([entry({ daddr: ipv4FromString('192.168.10.2') })]));
  assert.equal(w.backup.counters.replaced, 1);
  const id = only(w.conns4);
  assert.equal(w.conns4.destOf(id), d2.id);
  assert.deepEqual([d1.activeConns, d1.refcnt, d2.activeConns], [0, 0, 1]);
  // The old conn's closing news, arriving after the replacement: ignored.
  feed(w, msg([entry({ flags: Fwd.DROUTE | ConnFlag.INACTIVE, state: TcpState.CLOSE })]));
  assert.equal(w.backup.counters.stale, 1);
  assert.equal(w.conns4.getState(only(w.conns4)), TcpState.ESTABLISHED);
});

test('fwmark service in DR mode: the dest is found by address with port 0 first', () => {
  const w = world();
  const k: ServiceKey = { af: 4, proto: 0, addr: null, port: 0, fwmark: 42 };
  addSvc(w, k);
  const d = addDest(w, k, '192.168.10.1', 0, Fwd.DROUTE);
  feed(w, msg([entry({ fwmark: 42, dport: 443, vport: 443 })]));
  const id = only(w.conns4);
  assert.equal(w.conns4.destOf(id), d.id);
  assert.equal(w.conns4.fwmarkOf(id), 42);
  // A fwmark template (protocol IP, vaddr = the mark) is found through the mark too.
  feed(
    w,
    msg([
      entry({
        proto: IPPROTO_IP,
        flags: ConnFlag.TEMPLATE | Fwd.DROUTE,
        state: 0,
        cport: 0,
        vport: 0,
        dport: 0,
        vaddr: 42,
        fwmark: 42,
        timeout: 360,
      }),
    ]),
  );
  const tid = w.conns4.lookupTemplate(IPPROTO_IP, ipv4FromString(CLIENT), 42, 0);
  assert.ok(tid >= 0);
  assert.equal(w.conns4.destOf(tid), d.id);
  assert.equal(d.persistConns, 1);
});

test('v0: no timeout in the message, so the state decides it (templates 3 min)', () => {
  const w = world();
  feed(w, msg([entry({ timeout: 0 })], 0, 0));
  const id = only(w.conns4);
  assert.equal(w.conns4.getTimeout(id), 900_000);
  const w2 = world();
  feed(w2, msg([entry({ flags: ConnFlag.TEMPLATE, cport: 0, state: 0, timeout: 0 })], 0, 0));
  assert.equal(w2.conns4.getTimeout(only(w2.conns4)), 180_000);
  // v1 with timeout 0 follows the same rule.
  const w3 = world();
  feed(w3, msg([entry({ proto: IPPROTO_UDP, state: 0, timeout: 0 })]));
  assert.equal(w3.conns4.getTimeout(only(w3.conns4)), 300_000);
});

test('entries the backup cannot apply are skipped, the rest of the message still is', () => {
  const w = world();
  const k = tcpKey(VIP, 80);
  addSvc(w, k);
  w.services.editService(k, {
    sched: 'rr',
    flags: 0,
    timeout: 300,
    netmask: 0xffffffff,
    pe: '',
    laddrs: [addr4(ipv4FromString('10.0.0.200'))],
  });
  addDest(w, k, '192.168.10.9', 80, Fwd.FULLNAT);
  const bad: SyncConnRepr[] = [
    entry({ proto: 50, cport: 1 }), // ESP: not a protocol IPVS syncs here
    entry({ state: 11, cport: 2 }), // past the last TCP state
    entry({ peData: Uint8Array.from([1, 2]), peName: 'sip', cport: 3 }),
    entry({ cport: 4, daddr: ipv4FromString('192.168.10.9') }), // FullNAT dest
    entry({ flags: ConnFlag.TEMPLATE, cport: 5, state: 0 }), // a template has no client port
  ];
  const good = entry({ cport: 6 });
  assert.equal(feed(w, msg([...bad, good])), SyncResult.OK);
  assert.equal(w.backup.counters.skipped, bad.length);
  assert.equal(w.conns4.cportOf(only(w.conns4)), 6);
});

test('a message with a framing error changes nothing', () => {
  const w = world();
  const b = msg([entry({ cport: 1 }), entry({ cport: 2 })]);
  b[b.length - 36 + 2] = 0x10; // second entry: version 1
  assert.equal(feed(w, b), SyncResult.V1_BAD_CONN_VERSION);
  assert.equal(w.conns4.count, 0);
  assert.equal(w.backup.counters.bad, 1);
});

test('IPv6 conns go to the IPv6 table and bind to the IPv6 dest', () => {
  const w = world();
  const k: ServiceKey = {
    af: 6,
    proto: Proto.UDP,
    addr: addr6(ipv6FromString('2001:db8::100')),
    port: 53,
    fwmark: 0,
  };
  w.services.addService(k, { sched: 'rr', flags: 0, timeout: 0, netmask: 128, pe: '' });
  const d = addDest(w, k, '2001:db8::a0', 53, Fwd.MASQ);
  const e = entry({
    af: 6,
    proto: IPPROTO_UDP,
    flags: Fwd.MASQ | ConnFlag.INACTIVE,
    state: 0,
    cport: 5353,
    vport: 53,
    dport: 53,
    timeout: 300,
    caddr6: ipv6FromString('2001:db8::7'),
    vaddr6: ipv6FromString('2001:db8::100'),
    daddr6: ipv6FromString('2001:db8::a0'),
  });
  assert.equal(feed(w, msg([e])), SyncResult.OK);
  assert.equal(w.conns4.count, 0);
  const id = only(w.conns6);
  assert.equal(w.conns6.destOf(id), d.id);
  assert.equal(d.inactConns, 1);
  const c = ipv6FromString('2001:db8::7');
  const v = ipv6FromString('2001:db8::100');
  assert.equal(w.conns6.lookupIn6(IPPROTO_UDP, c, 0, 5353, v, 0, 53), id);
  // NAT: the reply direction is found too (out index by the real server's address).
  const ra = ipv6FromString('2001:db8::a0');
  assert.equal(w.conns6.lookupOut6(IPPROTO_UDP, ra, 0, 53, c, 0, 5353), id);
  // The same entry again updates rather than duplicates.
  feed(w, msg([e]));
  assert.equal(w.conns6.count, 1);
});

test('fuzz: receive never throws and never creates more conns than entries', () => {
  const w = world();
  const k = tcpKey(VIP, 80);
  addSvc(w, k);
  addDest(w, k, '192.168.10.1', 80, Fwd.DROUTE);
  const seed = msg([entry(), entry({ cport: 2, flags: ConnFlag.TEMPLATE, state: 0 })]);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc
          .array(fc.tuple(fc.nat({ max: seed.length - 1 }), fc.nat({ max: 255 })), { maxLength: 6 })
          .map((muts) => {
            const b = seed.slice();
            for (const [at, v] of muts) b[at] = v;
            return b;
          }),
      ),
      (b) => {
        const before = w.conns4.count + w.conns6.count;
        const res = w.backup.receive(b, 0, b.length);
        assert.ok(Object.values(SyncResult).includes(res));
        const n = res === SyncResult.OK ? syncMsgCount(b, 0, syncMsgVersion(b, 0, b.length)) : 0;
        assert.ok(w.conns4.count + w.conns6.count - before <= n);
        if (w.conns4.count > 48) w.conns4.flush(w.clock.now);
        if (w.conns6.count > 48) w.conns6.flush(w.clock.now);
      },
    ),
    { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: 1500 },
  );
});

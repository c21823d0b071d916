import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addr4, ipAddrToString } from '../../src/model/addr.ts';
import { ConnFlag, DestFlag, Fwd } from '../../src/model/flags.ts';
import { tcpStateTransition, TcpFlag } from '../../src/conn/proto-tcp.ts';
import { ConnAddr } from '../../src/conn/table.ts';
import { Dir, IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, protoName } from '../../src/conn/types.ts';
import { ipv4FromString, ipv6FromString } from '../../src/wire/addr.ts';
import { CIP, LIP, VIP, conn4, setup } from './helpers.ts';
import type { Env } from './helpers.ts';

function template4(
  env: Env,
  proto: number,
  snet: number,
  vport: number,
  destIdx: number,
  timeoutMs: number,
  now: number,
): number {
  const { p } = env;
  const d = env.d[destIdx];
  p.proto = proto;
  p.caddr = snet;
  p.cport = 12345; // ignored: templates always have cport 0
  p.vaddr = VIP;
  p.vport = vport;
  p.daddr = d.addr.v4;
  p.dport = vport === 0 ? 0 : d.port;
  p.fwmark = 0;
  p.flags = 0;
  p.destId = d.id;
  return env.t.createTemplate(p, timeoutMs, now);
}

test('bytes per entry from the record sizes: 88 for IPv4, 136 for IPv6 (kernel figure 128)', () => {
  // Hot record (words): in-chain link, cport+vport, proto+state+alive, flags, dest, in_pkts,
  // timeout, wheel prev, expires (8 bytes = 2 words), wheel next, dport+lport = 12 words, then 4
  // addresses of 1 word (IPv4: 16 words = 64 bytes) or 4 words (IPv6: 28 words = 112 bytes).
  // Cold record: fwmark, control, n_control, out-chain link = 16 bytes. Plus two bucket heads of
  // 4 bytes each at one bucket per entry: 64 + 16 + 8 = 88 and 112 + 16 + 8 = 136.
  const v4 = setup({ maxEntries: 1024 }).t;
  assert.equal(v4.bytesPerEntry, 88);
  assert.ok(v4.bytesPerEntry <= 128);
  // The timing wheel's sentinels (2 int32 per slot, 1024 slots) come on top in memoryBytes.
  assert.equal(v4.memoryBytes, 88 * 1024 + 8 * 1024);
  const v6 = setup({ af: 6, maxEntries: 1024 }).t;
  assert.equal(v6.bytesPerEntry, 136);
});

test('NAT: found by the client tuple and by the reply tuple, nothing else', () => {
  const env = setup({ fwd: Fwd.MASQ });
  const { t } = env;
  const d = env.d[1];
  const id = conn4(env, IPPROTO_TCP, CIP, 40000, d, 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 40000, VIP, 80), id);
  assert.equal(t.lookupOut(IPPROTO_TCP, d.addr.v4, 8080, CIP, 40000), id);
  assert.equal(t.lookupIn(IPPROTO_UDP, CIP, 40000, VIP, 80), -1, 'other protocol');
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 40001, VIP, 80), -1, 'other client port');
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP + 1, 40000, VIP, 80), -1, 'other client');
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 40000, VIP, 81), -1, 'other vport');
  assert.equal(t.lookupOut(IPPROTO_TCP, d.addr.v4, 8081, CIP, 40000), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, VIP, 80, CIP, 40000), -1, 'NAT replies come from the RS');
  assert.equal(
    t.lookupIn6(IPPROTO_TCP, new Uint8Array(16), 0, 1, new Uint8Array(16), 0, 1),
    -1,
    'v6 API on v4',
  );
  const r = t.repr(id);
  assert.equal(ipAddrToString(r.caddr), '203.0.113.7');
  assert.equal(ipAddrToString(r.daddr), '192.168.10.2');
  assert.equal(ipAddrToString(r.laddr), '203.0.113.7', 'laddr is the client unless FullNAT');
  assert.equal(r.lport, 40000);
  assert.equal(r.fwd, Fwd.MASQ);
  assert.equal(r.stateName, 'NONE');
  assert.equal(r.destId, d.id);
  assert.equal(protoName(r.proto), 'TCP');
});

test('FullNAT keys replies by RS → local address; DR replies (if seen) by VIP → client', () => {
  const fnat = setup({ fwd: Fwd.FULLNAT });
  const d = fnat.d[0];
  const id = conn4(fnat, IPPROTO_TCP, CIP, 40000, d, 0);
  assert.equal(fnat.t.laddr4(id), LIP);
  assert.equal(fnat.t.lportOf(id), 41000);
  assert.equal(fnat.t.lookupOut(IPPROTO_TCP, d.addr.v4, 8080, LIP, 41000), id);
  assert.equal(fnat.t.lookupOut(IPPROTO_TCP, d.addr.v4, 8080, CIP, 40000), -1);
  assert.equal(fnat.t.lookupIn(IPPROTO_TCP, CIP, 40000, VIP, 80), id);

  // ip_vs_conn_out_get: for non-NAT methods the reply source is the virtual address.
  const dr = setup({ fwd: Fwd.DROUTE });
  const id2 = conn4(dr, IPPROTO_TCP, CIP, 40000, dr.d[0], 0);
  assert.equal(dr.t.lookupOut(IPPROTO_TCP, VIP, 80, CIP, 40000), id2);
  assert.equal(dr.t.lookupOut(IPPROTO_TCP, dr.d[0].addr.v4, 8080, CIP, 40000), -1);
});

test('two conns with one key: the newest is found, the older one again after it goes', () => {
  const env = setup();
  const { t } = env;
  const a = conn4(env, IPPROTO_TCP, CIP, 1234, env.d[0], 0);
  const b = conn4(env, IPPROTO_TCP, CIP, 1234, env.d[1], 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 1234, VIP, 80), b);
  assert.ok(t.expireNow(b, 0));
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 1234, VIP, 80), a);
  assert.ok(t.expireNow(a, 0));
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 1234, VIP, 80), -1);
  assert.equal(t.count, 0);
});

test('many conns: every one found by both tuples, and gone after expiry (chains and reuse)', () => {
  const env = setup({ maxEntries: 4096 });
  const { t } = env;
  const ids: number[] = [];
  for (let i = 0; i < 4000; i++) ids.push(conn4(env, IPPROTO_TCP, CIP + (i >> 6), 1024 + i, env.d[i % 3], i));
  for (let i = 0; i < 4000; i++) {
    const d = env.d[i % 3];
    assert.equal(t.lookupIn(IPPROTO_TCP, CIP + (i >> 6), 1024 + i, VIP, 80), ids[i]);
    assert.equal(t.lookupOut(IPPROTO_TCP, d.addr.v4, 8080, CIP + (i >> 6), 1024 + i), ids[i]);
  }
  for (let i = 0; i < 4000; i += 2) t.expireNow(ids[i], 10_000);
  for (let i = 0; i < 4000; i++) {
    const want = i % 2 === 0 ? -1 : ids[i];
    assert.equal(t.lookupIn(IPPROTO_TCP, CIP + (i >> 6), 1024 + i, VIP, 80), want);
  }
  assert.equal(t.count, 2000);
  // Freed ids are reused before fresh ones.
  const again = conn4(env, IPPROTO_TCP, CIP, 1, env.d[0], 10_000);
  assert.ok(again < 4000 && again % 2 === 0);
});

test('templates: found only by lookupTemplate, never by the in or out lookups', () => {
  const env = setup();
  const { t } = env;
  const snet = CIP & 0xffffff00;
  const ct = template4(env, IPPROTO_TCP, snet, 80, 0, 360_000, 0);
  assert.ok(ct >= 0);
  assert.ok(t.getFlags(ct) & ConnFlag.TEMPLATE);
  assert.equal(t.cportOf(ct), 0);
  assert.equal(t.getTimeout(ct), 360_000);
  assert.equal(t.expiresOf(ct), 360_000);
  assert.equal(t.stateName(ct), 'NONE');
  assert.equal(t.lookupTemplate(IPPROTO_TCP, snet, VIP, 80), ct);
  assert.equal(t.lookupTemplate(IPPROTO_UDP, snet, VIP, 80), -1);
  assert.equal(t.lookupTemplate(IPPROTO_TCP, snet, VIP, 0), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, snet, 0, VIP, 80), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, env.d[0].addr.v4, 8080, snet, 0), -1);
  // A normal conn with the same client net is not a template.
  const c = conn4(env, IPPROTO_TCP, snet, 5, env.d[0], 0);
  assert.equal(t.lookupTemplate(IPPROTO_TCP, snet, VIP, 80), ct);
  assert.equal(t.lookupIn(IPPROTO_TCP, snet, 5, VIP, 80), c);
});

test('fwmark template: protocol IP, the mark as virtual address, listed as IP/NONE', () => {
  const env = setup();
  const { t, p } = env;
  p.proto = IPPROTO_IP;
  p.caddr = CIP & 0xffffff00;
  p.vaddr = 0xdeadbeef; // ignored: a fwmark template's vaddr is its mark
  p.vport = 0;
  p.daddr = env.d[2].addr.v4;
  p.dport = 0;
  p.fwmark = 7;
  p.destId = env.d[2].id;
  const ct = t.createTemplate(p, 60_000, 0);
  assert.equal(t.vaddr4(ct), 7);
  assert.equal(t.lookupTemplate(IPPROTO_IP, CIP & 0xffffff00, 7, 0), ct);
  assert.equal(t.lookupTemplate(IPPROTO_IP, CIP & 0xffffff00, 8, 0), -1);
  assert.equal(protoName(t.protoOf(ct)), 'IP');
  assert.equal(t.stateName(ct), 'NONE');
  assert.equal(env.d[2].persistConns, 1);
});

test('dest binding: counters by kind, refcnt, conn stats (templates and synced conns not counted)', () => {
  const env = setup();
  const { t, total, svc } = env;
  const d = env.d[0];
  const ct = template4(env, IPPROTO_TCP, CIP, 80, 0, 1000, 0);
  assert.deepEqual([d.activeConns, d.inactConns, d.persistConns, d.refcnt], [0, 0, 1, 1]);
  assert.equal(d.stats.conns, 0);
  const a = conn4(env, IPPROTO_TCP, CIP, 1, d, 0);
  const b = conn4(env, IPPROTO_TCP, CIP, 2, d, 0);
  assert.deepEqual([d.activeConns, d.inactConns, d.persistConns, d.refcnt], [0, 2, 1, 3]);
  assert.deepEqual([d.stats.conns, svc.stats.conns, total.conns], [2, 2, 2]);
  // A synced conn keeps its own activity flag and is not counted as a new conn here.
  const s = conn4(env, IPPROTO_TCP, CIP, 3, d, 0, ConnFlag.SYNC);
  assert.equal(t.getFlags(s) & ConnFlag.INACTIVE, 0);
  assert.equal(t.getFlags(s) & ConnFlag.SYNC, ConnFlag.SYNC);
  assert.deepEqual([d.activeConns, d.inactConns, d.refcnt], [1, 2, 4]);
  assert.deepEqual([d.stats.conns, total.conns], [2, 2]);
  tcpStateTransition(t, a, Dir.INPUT, TcpFlag.SYN);
  assert.deepEqual([d.activeConns, d.inactConns], [2, 1]);
  for (const id of [a, b, s, ct]) t.expireNow(id, 0);
  assert.deepEqual([d.activeConns, d.inactConns, d.persistConns, d.refcnt], [0, 0, 0, 0]);
  assert.equal(t.count, 0);
});

test('a conn without a dest (bypass) binds nothing and counts nowhere', () => {
  const env = setup();
  const { t, p } = env;
  p.proto = IPPROTO_TCP;
  p.caddr = CIP;
  p.cport = 9;
  p.vaddr = VIP;
  p.vport = 80;
  p.daddr = 0;
  p.dport = 0;
  p.flags = Fwd.BYPASS;
  p.destId = -1;
  const id = t.insert(p, 0);
  assert.equal(t.destOf(id), -1);
  assert.equal(t.getFlags(id) & 7, Fwd.BYPASS);
  tcpStateTransition(t, id, Dir.INPUT, TcpFlag.SYN);
  assert.equal(t.stateName(id), 'SYN_RECV');
  assert.equal(t.getFlags(id) & ConnFlag.INACTIVE, 0, 'no dest: flags untouched, nothing to move');
  assert.equal(env.total.conns, 0);
  assert.equal(t.lookupOut(IPPROTO_TCP, VIP, 80, CIP, 9), id);
});

test('overload: set at u_threshold, cleared below 3/4 of it, or below l_threshold', () => {
  const env = setup();
  const { t } = env;
  const d = env.d[0];
  d.uThreshold = 4;
  const ids = [1, 2, 3].map((i) => conn4(env, IPPROTO_TCP, CIP, i, d, 0));
  assert.equal(d.flags & DestFlag.OVERLOAD, 0);
  ids.push(conn4(env, IPPROTO_TCP, CIP, 4, d, 0));
  assert.ok(d.flags & DestFlag.OVERLOAD, '4 >= u_threshold 4');
  t.expireNow(ids.pop()!, 0);
  assert.ok(d.flags & DestFlag.OVERLOAD, '3*4 = 12 is not < 4*3 = 12');
  t.expireNow(ids.pop()!, 0);
  assert.equal(d.flags & DestFlag.OVERLOAD, 0, '2*4 = 8 < 12');

  // With a lower threshold, it alone decides when the flag clears.
  d.lThreshold = 2;
  ids.push(conn4(env, IPPROTO_TCP, CIP, 5, d, 0), conn4(env, IPPROTO_TCP, CIP, 6, d, 0));
  assert.ok(d.flags & DestFlag.OVERLOAD);
  t.expireNow(ids.pop()!, 0);
  t.expireNow(ids.pop()!, 0);
  assert.ok(d.flags & DestFlag.OVERLOAD, 'total 2 is not < l_threshold 2');
  t.expireNow(ids.pop()!, 0);
  assert.equal(d.flags & DestFlag.OVERLOAD, 0, 'total 1 < 2');

  // Templates are not conns for the threshold.
  d.lThreshold = 0;
  d.uThreshold = 1;
  template4(env, IPPROTO_TCP, CIP, 80, 0, 1000, 0);
  assert.ok(d.flags & DestFlag.OVERLOAD, 'one conn still bound: 1 >= 1 on the template bind');
  t.expireNow(ids.pop()!, 0);
  assert.equal(d.flags & DestFlag.OVERLOAD, 0);
  // No threshold at all: any unbind clears a stale flag.
  d.uThreshold = 0;
  d.flags |= DestFlag.OVERLOAD;
  const x = conn4(env, IPPROTO_TCP, CIP, 7, d, 0);
  t.expireNow(x, 0);
  assert.equal(d.flags & DestFlag.OVERLOAD, 0);
});

test('table full: insert returns -1 and counts; room again after expiry', () => {
  const env = setup({ maxEntries: 3 });
  const { t } = env;
  const ids = [1, 2, 3].map((i) => conn4(env, IPPROTO_TCP, CIP, i, env.d[0], 0));
  assert.ok(ids.every((id) => id >= 0));
  assert.equal(conn4(env, IPPROTO_TCP, CIP, 4, env.d[0], 0), -1);
  assert.equal(template4(env, IPPROTO_TCP, CIP, 80, 0, 1000, 0), -1);
  assert.equal(t.fullDrops, 2);
  assert.equal(env.d[0].inactConns, 3, 'a refused insert binds nothing');
  assert.equal(env.total.conns, 3);
  assert.equal(t.expire(3000), 3);
  assert.ok(conn4(env, IPPROTO_TCP, CIP, 4, env.d[0], 3000) >= 0);
  assert.equal(t.fullDrops, 2);
});

test('one-packet conns are not hashed and are freed by put', () => {
  const env = setup({ proto: IPPROTO_UDP });
  const { t } = env;
  const d = env.d[0];
  const id = conn4(env, IPPROTO_UDP, CIP, 53, d, 0, ConnFlag.ONE_PACKET);
  assert.equal(t.getFlags(id) & ConnFlag.HASHED, 0);
  assert.equal(t.lookupIn(IPPROTO_UDP, CIP, 53, VIP, 80), -1);
  assert.equal(d.inactConns, 1);
  t.put(id, 0);
  assert.equal(t.isAlive(id), false);
  assert.equal(d.inactConns, 0);
  assert.equal(t.count, 0);
});

test('NO_CPORT conns: found by any client port until fillCport gives them one', () => {
  const env = setup();
  const { t } = env;
  const id = conn4(env, IPPROTO_TCP, CIP, 0, env.d[0], 0, ConnFlag.NO_CPORT);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 5555, VIP, 80), id);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 0, VIP, 80), id);
  const other = conn4(env, IPPROTO_TCP, CIP, 6666, env.d[0], 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 6666, VIP, 80), other, 'an exact match wins');
  t.fillCport(id, 5555);
  assert.equal(t.getFlags(id) & ConnFlag.NO_CPORT, 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 5555, VIP, 80), id);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 7777, VIP, 80), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, env.d[0].addr.v4, 8080, CIP, 5555), id);
});

test('listing: ids with remaining time (clamped at 0) and state names', () => {
  const env = setup();
  const { t } = env;
  const a = conn4(env, IPPROTO_TCP, CIP, 1, env.d[0], 1000);
  tcpStateTransition(t, a, Dir.INPUT, TcpFlag.SYN);
  tcpStateTransition(t, a, Dir.INPUT, TcpFlag.ACK);
  t.put(a, 1000);
  const u = conn4(env, IPPROTO_UDP, CIP, 2, env.d[1], 2000);
  const ct = template4(env, IPPROTO_TCP, CIP, 80, 2, 360_000, 0);
  const rows = [...t.list(5500)].map((e) => [e.id, e.remainingMs, t.stateName(e.id)]);
  assert.deepEqual(rows, [
    [a, 895_500, 'ESTABLISHED'],
    [u, 0, 'UDP'],
    [ct, 354_500, 'NONE'],
  ]);
});

test('IPv6 table: lookups by both tuples, templates, fwmark templates, addresses read back', () => {
  const env = setup({ af: 6 });
  const { t, p } = env;
  const c = ipv6FromString('2001:db8:1::7');
  const v = ipv6FromString('2001:db8::100');
  const d = env.d[0];
  const dBytes = d.addr.v6!;
  p.proto = IPPROTO_TCP;
  p.caddr6.set(c);
  p.cport = 40000;
  p.vaddr6.set(v);
  p.vport = 443;
  p.daddr6.set(dBytes);
  p.dport = 8443;
  p.destId = d.id;
  p.flags = 0;
  const id = t.insert(p, 0);
  const buf = new Uint8Array(40);
  buf.set(c, 3);
  buf.set(v, 20);
  assert.equal(t.lookupIn6(IPPROTO_TCP, buf, 3, 40000, buf, 20, 443), id);
  assert.equal(t.lookupIn6(IPPROTO_TCP, buf, 3, 40000, buf, 20, 444), -1);
  assert.equal(t.lookupOut6(IPPROTO_TCP, dBytes, 0, 8443, c, 0, 40000), id);
  assert.equal(t.lookupOut6(IPPROTO_TCP, dBytes, 0, 8443, v, 0, 40000), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, 1, 40000, 2, 443), -1, 'v4 API on v6');
  const out = new Uint8Array(16);
  t.readAddr6(ConnAddr.D, id, out, 0);
  assert.deepEqual(out, dBytes);
  assert.equal(ipAddrToString(t.repr(id).caddr), '2001:db8:1::7');
  assert.equal(ipAddrToString(t.repr(id).laddr), '2001:db8:1::7');

  const snet = ipv6FromString('2001:db8:1::');
  p.caddr6.set(snet);
  p.vport = 443;
  const ct = t.createTemplate(p, 300_000, 0);
  assert.equal(t.lookupTemplate6(IPPROTO_TCP, snet, 0, v, 0, 443), ct);
  assert.equal(t.lookupIn6(IPPROTO_TCP, snet, 0, 0, v, 0, 443), -1);
  p.proto = IPPROTO_IP;
  p.fwmark = 0x1234;
  p.vport = 0;
  const fm = t.createTemplate(p, 300_000, 0);
  assert.equal(t.lookupTemplateFwmark6(snet, 0, 0x1234), fm);
  assert.equal(t.lookupTemplateFwmark6(snet, 0, 0x1235), -1);
  const fmv = new Uint8Array(16);
  t.readAddr6(ConnAddr.V, fm, fmv, 0);
  assert.deepEqual([...fmv], [0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(d.persistConns, 2);
  assert.equal(d.inactConns, 1);
});

test('addresses and ports are exact uint32/uint16 (no sign trouble with high addresses)', () => {
  const env = setup();
  const { t } = env;
  const hi = ipv4FromString('255.255.255.254');
  const id = conn4(env, IPPROTO_TCP, hi, 65535, env.d[0], 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, hi, 65535, VIP, 80), id);
  assert.equal(t.lookupIn(IPPROTO_TCP, hi | 0, 65535, VIP, 80), id, 'an int32 form of the address works too');
  assert.equal(ipAddrToString(addr4(t.caddr4(id))), '255.255.255.254');
});

test('records do not overlap: all-ones fields in one conn leave its neighbours intact', () => {
  // Three adjacent ids per family; the middle one gets every field at its maximum (through the
  // key and the setters), then both neighbours must still read back what they were created with.
  for (const af of [4, 6] as const) {
    const env = setup({ af, fwd: Fwd.FULLNAT });
    const { t, p } = env;
    const make = (cport: number, caddr: number, fill: number): number => {
      p.proto = IPPROTO_TCP;
      p.caddr = caddr;
      p.cport = cport;
      p.vaddr = caddr;
      p.vport = cport;
      p.daddr = caddr;
      p.dport = cport;
      p.laddr = caddr;
      p.lport = cport;
      p.fwmark = caddr;
      p.flags = 0;
      p.destId = env.d[0].id;
      for (const a of [p.caddr6, p.vaddr6, p.daddr6, p.laddr6]) a.fill(fill);
      return t.insert(p, 0);
    };
    const a = make(1, 0x01010101, 0x01);
    const mid = make(0xffff, 0xffffffff, 0xff);
    const b = make(2, 0x02020202, 0x02);
    assert.deepEqual([a + 1, mid + 1], [mid, b]);
    t.setFlags(mid, 0xffffffff);
    t.setState(mid, 0xff);
    t.setTimeout(mid, 0xffffffff);
    for (let i = 0; i < 3; i++) t.incInPkts(mid);
    const snap = (id: number): string => JSON.stringify(t.repr(id));
    t.setFlags(mid, t.getFlags(a)); // back to sane flags so put() files it as usual
    t.put(mid, 1);
    t.setFlags(mid, 0xffffffff);
    const before = [snap(a), snap(b)];
    t.put(a, 0);
    t.put(b, 0);
    assert.deepEqual([snap(a), snap(b)], before, `IPv${af}`);
    const r = t.repr(a);
    assert.deepEqual([r.cport, r.vport, r.dport, r.lport, r.state, r.inPkts], [1, 1, 1, 1, 0, 0]);
    assert.equal(t.getState(mid), 0xff);
    assert.equal(t.getTimeout(mid), 0xffffffff);
    assert.equal(t.inPktsOf(mid), 3);
    assert.equal(t.expiresOf(mid), 1 + 0xffffffff);
    if (af === 4) {
      assert.deepEqual([t.caddr4(b), t.vaddr4(b), t.daddr4(b), t.laddr4(b)], Array(4).fill(0x02020202));
      assert.equal(t.fwmarkOf(b), 0x02020202);
    } else {
      const out = new Uint8Array(16);
      for (const w of [ConnAddr.C, ConnAddr.V, ConnAddr.D, ConnAddr.L]) {
        t.readAddr6(w, a, out, 0);
        assert.deepEqual([...out], Array(16).fill(1));
        t.readAddr6(w, mid, out, 0);
        assert.deepEqual([...out], Array(16).fill(0xff));
      }
    }
  }
});

test('onUnlink sees every freed entry once, with its fields intact, before the id is reused', () => {
  const env = setup();
  const { t } = env;
  const seen: [number, number, number][] = [];
  t.onUnlink = (id) => seen.push([id, t.cportOf(id), t.destOf(id)]);
  const a = conn4(env, IPPROTO_TCP, CIP, 11, env.d[0], 0);
  const b = conn4(env, IPPROTO_TCP, CIP, 12, env.d[1], 0);
  const one = conn4(env, IPPROTO_UDP, CIP, 13, env.d[2], 0, ConnFlag.ONE_PACKET);
  const ct = template4(env, IPPROTO_TCP, CIP, 80, 2, 60_000, 0);
  t.put(one, 0);
  t.expireNow(a, 0);
  assert.equal(t.expireNow(a, 0), false, 'a dead id is not freed twice');
  t.expire(3000);
  t.flush(3000);
  assert.deepEqual(seen, [
    [one, 13, env.d[2].id],
    [a, 11, env.d[0].id],
    [b, 12, env.d[1].id],
    [ct, 0, env.d[2].id],
  ]);
});

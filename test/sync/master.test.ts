/**
 * SyncMaster's policy (ip_vs_sync_conn_needed / ip_vs_sync_conn): which packets make a conn go
 * out, templates following their conns, message filling and flushing. The expected packet numbers
 * are worked out from the kernel rule in each test's comment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpState } from '../../src/conn/proto-tcp.ts';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/conn/types.ts';
import { ConnFlag, Fwd } from '../../src/model/flags.ts';
import { SyncMaster } from '../../src/sync/master.ts';
import type { SyncMasterOptions } from '../../src/sync/master.ts';
import { SyncResult, syncCheck, syncMsgParse } from '../../src/sync/msg.ts';
import type { SyncMsgRepr } from '../../src/sync/msg.ts';
import { CIP, VIP, conn4, setup } from '../conn/helpers.ts';
import type { Env } from '../conn/helpers.ts';

interface Rig {
  env: Env;
  m: SyncMaster;
  sent: SyncMsgRepr[];
  clock: { now: number };
}

function rig(o: Partial<SyncMasterOptions> = {}, fwd: Fwd = Fwd.DROUTE): Rig {
  const env = setup({ fwd, af: 4 });
  const clock = { now: 1_000_000 };
  const sent: SyncMsgRepr[] = [];
  const m = new SyncMaster({
    syncid: 7,
    now: () => clock.now,
    send: (b, len) => {
      assert.equal(syncCheck(b, 0, len), SyncResult.OK, 'every message sent is well-formed');
      sent.push(syncMsgParse(b, 0, len));
    },
    ...o,
  });
  return { env, m, sent, clock };
}

/** Feed packets 1..n of conn `id` (in_pkts counted as the pipeline does); the packet numbers queued. */
function feed(r: Rig, id: number, n: number, before?: (pkt: number) => void): number[] {
  const out: number[] = [];
  for (let pkt = 1; pkt <= n; pkt++) {
    before?.(pkt);
    const was = r.m.counters.conns;
    r.m.syncConn(r.env.t, id, r.env.t.incInPkts(id));
    if (r.m.counters.conns > was) out.push(pkt);
  }
  return out;
}

test('TCP: nothing before ESTABLISHED; then packets 3, 53, 103 (threshold 3, period 50)', () => {
  const r = rig();
  const id = conn4(r.env, IPPROTO_TCP, CIP, 40000, r.env.d[0], r.clock.now);
  // SYN_RECV for the first two packets (not a state worth syncing), then ESTABLISHED.
  const got = feed(r, id, 120, (pkt) =>
    r.env.t.setState(id, pkt <= 2 ? TcpState.SYN_RECV : TcpState.ESTABLISHED),
  );
  // Entering ESTABLISHED is a state change, but not one sent at once: the rate rule applies,
  // pkts % 50 === 3 → 3, 53, 103.
  assert.deepEqual(got, [3, 53, 103]);
});

test('TCP: a change into FIN_WAIT, CLOSE_WAIT, TIME_WAIT or CLOSE goes out at once, then the rate rule again', () => {
  for (const st of [TcpState.FIN_WAIT, TcpState.CLOSE_WAIT, TcpState.TIME_WAIT, TcpState.CLOSE]) {
    const r = rig();
    const id = conn4(r.env, IPPROTO_TCP, CIP, 40000, r.env.d[0], r.clock.now);
    // ESTABLISHED for packets 1..9, `st` from packet 10 on: sent at 3 (rate rule) and at 10 (the
    // change), then only when pkts % 50 === 3 (53).
    const got = feed(r, id, 60, (pkt) => r.env.t.setState(id, pkt < 10 ? TcpState.ESTABLISHED : st));
    assert.deepEqual(got, [3, 10, 53], `state ${st}`);
  }
});

test('TCP: states outside the list (SYN_SENT, LAST_ACK, LISTEN, SYNACK, NONE) are never sent', () => {
  for (const st of [TcpState.NONE, TcpState.SYN_SENT, TcpState.LAST_ACK, TcpState.LISTEN, TcpState.SYNACK]) {
    const r = rig();
    const id = conn4(r.env, IPPROTO_TCP, CIP, 40000, r.env.d[0], r.clock.now);
    r.env.t.setState(id, st);
    assert.deepEqual(feed(r, id, 60), [], `state ${st}`);
  }
});

test('UDP: pkts % period === threshold; with period 0 only the threshold packet', () => {
  const r = rig();
  const id = conn4(r.env, IPPROTO_UDP, CIP, 5353, r.env.d[0], r.clock.now);
  assert.deepEqual(feed(r, id, 160), [3, 53, 103, 153]);
  const r0 = rig({ period: 0, threshold: 5 });
  const id0 = conn4(r0.env, IPPROTO_UDP, CIP, 5353, r0.env.d[0], r0.clock.now);
  assert.deepEqual(feed(r0, id0, 160), [5]);
});

test('one-packet conns are never sent, but their template is (v1)', () => {
  const r = rig();
  const { t } = r.env;
  const ct = templateFor(r);
  const id = conn4(r.env, IPPROTO_UDP, CIP, 5353, r.env.d[0], r.clock.now, ConnFlag.ONE_PACKET);
  t.linkToTemplate(id, ct, r.clock.now);
  assert.ok((t.getFlags(id) & ConnFlag.ONE_PACKET) !== 0);
  r.m.syncConn(t, id, 3);
  r.m.flush();
  assert.equal(r.sent.length, 1);
  assert.deepEqual(
    r.sent[0].conns.map((c) => [c.flags & ConnFlag.TEMPLATE, c.cport]),
    [[ConnFlag.TEMPLATE, 0]],
  );
});

/** A persistence template for CIP → VIP:80 on dest 0, 360 s. */
function templateFor(r: Rig): number {
  const { t, p, d } = r.env;
  p.proto = IPPROTO_UDP;
  p.caddr = CIP;
  p.vaddr = VIP;
  p.vport = 80;
  p.daddr = d[0].addr.v4;
  p.dport = d[0].port;
  p.fwmark = 0;
  p.flags = 0;
  p.destId = d[0].id;
  return t.createTemplate(p, 360_000, r.clock.now);
}

test('templates go out with every synced or not synced packet of a controlled conn, counting in_pkts (v1)', () => {
  const r = rig();
  const { t } = r.env;
  const ct = templateFor(r);
  const id = conn4(r.env, IPPROTO_UDP, CIP, 5353, r.env.d[0], r.clock.now);
  t.linkToTemplate(id, ct, r.clock.now);
  const got = feed(r, id, 5);
  // Each packet queues the template (the period rule skips templates); packet 3 also the conn.
  assert.deepEqual(got, [1, 2, 3, 4, 5]);
  assert.equal(r.m.counters.conns, 6);
  assert.equal(t.inPktsOf(ct), 5, 'one template packet per controlled-conn packet');
  r.m.flush();
  const kinds = r.sent[0].conns.map((c) => ((c.flags & ConnFlag.TEMPLATE) !== 0 ? 'T' : 'C'));
  assert.deepEqual(kinds, ['T', 'T', 'C', 'T', 'T', 'T']);
  const tpl = r.sent[0].conns[0];
  assert.equal(tpl.timeout, 360);
  assert.equal(tpl.cport, 0);
});

test('v0: IPv4 only, and the template follows only a conn that was sent', () => {
  const r = rig({ version: 0 });
  const { t } = r.env;
  const ct = templateFor(r);
  const id = conn4(r.env, IPPROTO_UDP, CIP, 5353, r.env.d[0], r.clock.now);
  t.linkToTemplate(id, ct, r.clock.now);
  assert.deepEqual(feed(r, id, 5), [3]);
  assert.equal(r.m.counters.conns, 2, 'conn and template at packet 3');
  assert.equal(t.inPktsOf(ct), 1);
  r.m.flush();
  assert.equal(r.sent[0].version, 0);
  assert.equal(r.sent[0].conns.length, 2);
  // IPv6 conns cannot be expressed in v0.
  const r6 = rig({ version: 0 });
  const env6 = setup({ af: 6, fwd: Fwd.DROUTE });
  const p = env6.p;
  p.proto = IPPROTO_UDP;
  p.caddr6.set([0x20, 0x01, 0x0d, 0xb8], 0);
  p.cport = 1;
  p.vaddr6.set(env6.svc.addr!.v6!);
  p.vport = 80;
  p.daddr6.set(env6.d[0].addr.v6!);
  p.dport = 8080;
  p.destId = env6.d[0].id;
  p.flags = 0;
  const id6 = env6.t.insert(p, r6.clock.now);
  r6.m.syncConn(env6.t, id6, 3);
  assert.equal(r6.m.counters.conns, 0);
});

test('persist mode: conns under a template stay home, the template goes', () => {
  const r = rig({ persistMode: 1 });
  const { t } = r.env;
  const ct = templateFor(r);
  const id = conn4(r.env, IPPROTO_UDP, CIP, 5353, r.env.d[0], r.clock.now);
  t.linkToTemplate(id, ct, r.clock.now);
  feed(r, id, 3);
  r.m.flush();
  assert.ok(r.sent[0].conns.every((c) => (c.flags & ConnFlag.TEMPLATE) !== 0));
  assert.equal(r.sent[0].conns.length, 3);
});

test('refresh period with retries (sync_refresh_period 10 s, sync_retries 2)', () => {
  // threshold 0, period 1: every packet passes the rate rule, so only the refresh rule decides.
  // UDP timeout 300 s → the window is min(10 s, max(150 s, 10 s)) = 10 s on |new end - last end|.
  const r = rig({ threshold: 0, period: 1, refreshPeriodMs: 10_000, retries: 2 });
  const { t } = r.env;
  const id = conn4(r.env, IPPROTO_UDP, CIP, 5353, r.env.d[0], r.clock.now);
  t.setTimeout(id, 300_000);
  const t0 = r.clock.now;
  const at = (dt: number): boolean => {
    r.clock.now = t0 + dt;
    const was = r.m.counters.conns;
    r.m.syncConn(t, id, t.incInPkts(id));
    return r.m.counters.conns > was;
  };
  // pkt 1 at t0: the new conn's end was "now", 300 s away from now + 300 s → sent.
  assert.equal(at(0), true);
  // t0+5 s: 5 s < 10 s; retry 1 of 2 allowed once 10/8 s passed since the last send → sent.
  assert.equal(at(5000), true);
  // t0+5.5 s: within 1.25 s of the retry → not sent.
  assert.equal(at(5500), false);
  // t0+6.3 s: retry 2 → sent.
  assert.equal(at(6300), true);
  // t0+8 s: retries used up → not sent; t0+15.4 s: 9.1 s since the last → still not.
  assert.equal(at(8000), false);
  assert.equal(at(15_400), false);
  // t0+16.4 s: 10.1 s since the last → a refresh, retries reset.
  assert.equal(at(16_400), true);
  // t0+17 s: 0.6 s after it, before 10/8 s passed → not sent; t0+17.7 s → retry 1.
  assert.equal(at(17_000), false);
  assert.equal(at(17_700), true);
});

test('a full message goes out before the conn that does not fit; tick sends after 2 s', () => {
  // maxlen 116 = 8 + 3 × 36: three IPv4 conns fit, the fourth starts a new message.
  const r = rig({ maxlen: 116, threshold: 1, period: 0 });
  const ids = [0, 1, 2, 3].map((i) => conn4(r.env, IPPROTO_UDP, CIP, 1000 + i, r.env.d[0], r.clock.now));
  for (const id of ids.slice(0, 3)) r.m.syncConn(r.env.t, id, 1);
  assert.equal(r.sent.length, 0);
  assert.equal(r.m.pendingBytes, 116);
  r.m.syncConn(r.env.t, ids[3], 1);
  assert.equal(r.sent.length, 1);
  assert.deepEqual(
    r.sent[0].conns.map((c) => c.cport),
    [1000, 1001, 1002],
  );
  assert.equal(r.sent[0].syncid, 7);
  assert.equal(r.m.pendingConns, 1);
  // The pending message's first conn went in at clock.now; it waits 2 s.
  const first = r.clock.now;
  r.m.tick(first + 1999);
  assert.equal(r.sent.length, 1);
  r.m.tick(first + 2000);
  assert.equal(r.sent.length, 2);
  assert.deepEqual(
    r.sent[1].conns.map((c) => c.cport),
    [1003],
  );
  r.m.tick(first + 5000);
  assert.equal(r.sent.length, 2, 'an empty message is never sent');
  assert.equal(r.m.counters.messages, 2);
  assert.equal(r.m.counters.bytes, 116 + 44);
});

test('the entry carries the conn as the table has it (flags without HASHED, timeout in seconds)', () => {
  const r = rig({ threshold: 1, period: 0 });
  const { t, d } = r.env;
  const id = conn4(r.env, IPPROTO_TCP, CIP, 40000, d[1], r.clock.now);
  t.changeState(id, TcpState.ESTABLISHED, true);
  t.setTimeout(id, 900_000);
  r.m.syncConn(t, id, 1);
  r.m.flush();
  const c = r.sent[0].conns[0];
  assert.equal(c.af, 4);
  assert.equal(c.proto, IPPROTO_TCP);
  assert.equal(c.flags, t.getFlags(id) & ~ConnFlag.HASHED);
  assert.ok((t.getFlags(id) & ConnFlag.HASHED) !== 0);
  assert.equal(c.flags & 7, Fwd.DROUTE);
  assert.equal(c.state, TcpState.ESTABLISHED);
  assert.equal(c.timeout, 900);
  assert.deepEqual(
    [c.caddr, c.cport, c.vaddr, c.vport, c.daddr, c.dport],
    [CIP, 40000, VIP, 80, d[1].addr.v4, 8080],
  );
});

test('a version change sends the pending message first; a refusing transport counts drops', () => {
  let refuse = false;
  const got: number[] = [];
  const env = setup({ fwd: Fwd.MASQ });
  const m = new SyncMaster({
    syncid: 1,
    threshold: 1,
    period: 0,
    now: () => 0,
    send: (b, len) => {
      if (refuse) return false;
      got.push(syncMsgParse(b, 0, len).version);
      return true;
    },
  });
  const a = conn4(env, IPPROTO_UDP, CIP, 1, env.d[0], 0);
  const b = conn4(env, IPPROTO_UDP, CIP, 2, env.d[0], 0);
  m.syncConn(env.t, a, 1);
  m.version = 0;
  m.syncConn(env.t, b, 1);
  assert.deepEqual(got, [1]);
  refuse = true;
  m.flush();
  assert.equal(m.counters.dropped, 1);
  assert.equal(m.counters.messages, 1);
  assert.equal(m.pendingConns, 0);
});

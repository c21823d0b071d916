import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnFlag, DestFlag, Fwd } from '../../src/model/flags.ts';
import { TcpFlag, TcpState, tcpStateTransition } from '../../src/conn/proto-tcp.ts';
import { sctpStateTransition, SctpChunk } from '../../src/conn/proto-sctp.ts';
import { CtplState, Dir, IPPROTO_SCTP, IPPROTO_TCP } from '../../src/conn/types.ts';
import { CIP, VIP, conn4, setup } from './helpers.ts';
import type { Env } from './helpers.ts';

function template4(
  env: Env,
  destIdx: number,
  timeoutMs: number,
  now: number,
  snet = CIP & 0xffffff00,
): number {
  const { p } = env;
  const d = env.d[destIdx];
  p.proto = IPPROTO_TCP;
  p.caddr = snet;
  p.vaddr = VIP;
  p.vport = 80;
  p.daddr = d.addr.v4;
  p.dport = d.port;
  p.fwmark = 0;
  p.destId = d.id;
  return env.t.createTemplate(p, timeoutMs, now);
}

/** A conn created through a template, as ip_vs_sched_persist does it. */
function persistConn(env: Env, ct: number, cport: number, now: number): number {
  const d = env.dests.get(env.t.destOf(ct))!;
  const id = conn4(env, IPPROTO_TCP, CIP, cport, d, now);
  env.t.linkToTemplate(id, ct, now);
  return id;
}

function establish(env: Env, id: number, now: number): void {
  tcpStateTransition(env.t, id, Dir.INPUT, TcpFlag.SYN);
  tcpStateTransition(env.t, id, Dir.INPUT, TcpFlag.ACK);
  env.t.put(id, now);
}

test('a new conn with no packets lives 3 s; a refresh moves it out (at 1 s granularity)', () => {
  const env = setup();
  const { t } = env;
  const a = conn4(env, IPPROTO_TCP, CIP, 1, env.d[0], 0);
  const b = conn4(env, IPPROTO_TCP, CIP, 2, env.d[0], 0);
  t.put(b, 500); // b now fires at 3500: the 1 s tick after that is 4000
  assert.equal(t.expire(2999), 0);
  assert.equal(t.expire(3000), 1);
  assert.equal(t.isAlive(a), false);
  assert.equal(t.isAlive(b), true);
  assert.equal(t.expire(3999), 0);
  assert.equal(t.expire(4000), 1);
  assert.equal(t.count, 0);
  assert.equal(env.d[0].inactConns, 0);
  assert.equal(env.d[0].refcnt, 0);
});

test('an earlier timeout re-files at once: ESTABLISHED then RST expires after CLOSE’s 10 s', () => {
  const env = setup();
  const { t } = env;
  const id = conn4(env, IPPROTO_TCP, CIP, 1, env.d[0], 0);
  establish(env, id, 0); // 900 s
  tcpStateTransition(t, id, Dir.INPUT, TcpFlag.RST);
  t.put(id, 1000); // CLOSE: 10 s → 11 000
  assert.equal(t.expire(10_999), 0);
  assert.equal(t.expire(11_000), 1);
});

test('expiry order inside one call follows the clock, even after a long jump', () => {
  const env = setup({ wheelSlots: 16 });
  const { t } = env;
  const ct = template4(env, 0, 5000, 0);
  const c = persistConn(env, ct, 1, 0);
  t.setTimeout(c, 6000);
  t.put(c, 0); // conn at 6 s, template at 5 s: the template fires first and is pushed 60 s out
  assert.equal(t.expire(100_000), 1);
  assert.equal(t.isAlive(c), false);
  assert.equal(t.isAlive(ct), true);
  assert.equal(t.getTimeout(ct), 60_000);
  assert.equal(t.expiresOf(ct), 160_000);
  assert.equal(t.nControlOf(ct), 0);
  assert.equal(t.expire(159_999), 0);
  assert.equal(t.expire(160_000), 1);
});

test('a jump of many wheel revolutions expires what is due and keeps the rest', () => {
  const env = setup({ wheelSlots: 8, maxEntries: 64 });
  const { t } = env;
  const ids: number[] = [];
  for (let i = 0; i < 40; i++) {
    const id = conn4(env, IPPROTO_TCP, CIP, i + 1, env.d[i % 3], 0);
    t.setTimeout(id, (i + 1) * 7_000);
    t.put(id, 0);
    ids.push(id);
  }
  assert.equal(t.expire(150_000), 21); // timeouts 7 s … 147 s
  ids.forEach((id, i) => assert.equal(t.isAlive(id), (i + 1) * 7_000 > 150_000, `conn ${i}`));
  assert.equal(t.expire(1_000_000), 19);
  assert.equal(t.count, 0);
});

test('template: re-armed for 60 s while it controls conns, freed after the last one goes', () => {
  const env = setup();
  const { t } = env;
  const d = env.d[0];
  const ct = template4(env, 0, 10_000, 0);
  const c = persistConn(env, ct, 1000, 0);
  establish(env, c, 0);
  assert.equal(t.nControlOf(ct), 1);
  assert.equal(t.controlOf(c), ct);
  assert.equal(t.getState(ct), CtplState.ASSURED, 'ESTABLISHED assures the template');
  assert.equal(t.expire(10_000), 0);
  assert.equal(t.isAlive(ct), true);
  assert.equal(t.getTimeout(ct), 60_000);
  assert.equal(t.expiresOf(ct), 70_000);
  assert.equal(t.expire(70_000), 0);
  assert.equal(t.expiresOf(ct), 130_000);
  assert.equal(t.lookupTemplate(IPPROTO_TCP, CIP & 0xffffff00, VIP, 80), ct, 'still usable');
  assert.equal(t.expireNow(ct, 80_000), false, 'expire_now on a controlling template only defers it');
  assert.equal(t.expiresOf(ct), 140_000);
  assert.ok(t.expireNow(c, 100_000));
  assert.equal(t.nControlOf(ct), 0);
  assert.equal(d.persistConns, 1);
  assert.equal(t.expire(139_999), 0);
  assert.equal(t.expire(140_000), 1);
  assert.equal(d.persistConns, 0);
  assert.equal(d.refcnt, 0);
});

test('template timer restarts with its timeout whenever it creates a conn', () => {
  const env = setup();
  const { t } = env;
  const ct = template4(env, 0, 10_000, 0);
  persistConn(env, ct, 1, 0); // 3 s conn, gone at 3 s
  assert.equal(t.expire(3000), 1);
  assert.equal(t.nControlOf(ct), 0);
  persistConn(env, ct, 2, 8000); // restarts the template: 18 s
  assert.equal(t.expiresOf(ct), 18_000);
  assert.equal(t.expire(11_000), 1, 'only the second conn');
  assert.equal(t.expire(17_999), 0);
  assert.equal(t.expire(18_000), 1);
  assert.equal(t.count, 0);
});

test('checkTemplate: valid while its dest is available; invalidated templates are hidden, then expire', () => {
  const env = setup();
  const { t, settings } = env;
  const d = env.d[0];
  const snet = CIP & 0xffffff00;
  const ct = template4(env, 0, 30_000, 0);
  assert.equal(t.checkTemplate(ct), true);
  d.weight = 0;
  assert.equal(t.checkTemplate(ct), true, 'quiescent dests keep their templates by default');
  assert.equal(t.checkTemplate(ct, env.d[1].id), false, 'another dest asked for');
  assert.equal(t.vportOf(ct), 0xffff);
  assert.equal(t.dportOf(ct), 0xffff);
  assert.equal(t.cportOf(ct), 0);
  assert.equal(t.lookupTemplate(IPPROTO_TCP, snet, VIP, 80), -1);
  assert.equal(t.lookupTemplate(IPPROTO_TCP, snet, VIP, 0xffff), ct, 're-keyed, as the kernel does');
  assert.equal(t.isAlive(ct), true);

  const ct2 = template4(env, 0, 30_000, 0);
  settings.expireQuiescentTemplate = 1;
  assert.equal(t.checkTemplate(ct2), false);
  assert.equal(t.lookupTemplate(IPPROTO_TCP, snet, VIP, 80), -1);
  settings.expireQuiescentTemplate = 0;
  d.weight = 1;

  const ct3 = template4(env, 0, 30_000, 0);
  d.flags &= ~DestFlag.AVAILABLE;
  assert.equal(t.checkTemplate(ct3), false);
  assert.equal(t.expiresOf(ct3), 30_000, 'the timer is left alone');
  assert.equal(t.expire(30_000), 3);
  assert.equal(d.persistConns, 0);
});

test('conn_reuse_mode: is_new_conn_expected', () => {
  const env = setup({ fwd: Fwd.MASQ });
  const { t } = env;
  const id = conn4(env, IPPROTO_TCP, CIP, 1, env.d[0], 0);
  const setState = (s: number) => t.setState(id, s);
  for (const [s, want] of [
    [TcpState.ESTABLISHED, false],
    [TcpState.TIME_WAIT, true],
    [TcpState.CLOSE, true],
    [TcpState.FIN_WAIT, false],
    [TcpState.SYN_RECV, false],
  ] as const) {
    setState(s);
    assert.equal(t.isNewConnExpected(id, 1), want, `state ${s}`);
  }
  // FIN_WAIT qualifies only with bit 2 and only for NOOUTPUT (DR/TUN) conns.
  setState(TcpState.FIN_WAIT);
  assert.equal(t.isNewConnExpected(id, 3), false, 'NAT conn has seen output');
  const dr = setup({ fwd: Fwd.DROUTE });
  const x = conn4(dr, IPPROTO_TCP, CIP, 1, dr.d[0], 0);
  establish(dr, x, 0);
  tcpStateTransition(dr.t, x, Dir.INPUT, TcpFlag.FIN | TcpFlag.ACK);
  assert.equal(dr.t.stateName(x), 'FIN_WAIT');
  assert.equal(dr.t.isNewConnExpected(x, 1), false);
  assert.equal(dr.t.isNewConnExpected(x, 2), true);
  // Controlled conns (persistence) are never rescheduled.
  const ct = template4(dr, 0, 10_000, 0);
  dr.t.controlAdd(x, ct);
  assert.equal(dr.t.isNewConnExpected(x, 2), false);
  dr.t.controlDel(x);
  assert.equal(dr.t.isNewConnExpected(x, 2), true);
  // SCTP: only CLOSED. UDP: never.
  const s = conn4(dr, IPPROTO_SCTP, CIP, 2, dr.d[0], 0);
  sctpStateTransition(dr.t, s, Dir.INPUT, SctpChunk.INIT);
  assert.equal(dr.t.isNewConnExpected(s, 3), false);
  sctpStateTransition(dr.t, s, Dir.INPUT, SctpChunk.ABORT);
  assert.equal(dr.t.isNewConnExpected(s, 3), true);
  const u = conn4(dr, 17, CIP, 3, dr.d[0], 0);
  assert.equal(dr.t.isNewConnExpected(u, 3), false);
});

test('conn reuse: expireNow then insert gives a fresh conn to a fresh dest', () => {
  const env = setup();
  const { t } = env;
  const old = conn4(env, IPPROTO_TCP, CIP, 5555, env.d[0], 0);
  establish(env, old, 0);
  tcpStateTransition(t, old, Dir.INPUT, TcpFlag.RST);
  assert.ok(t.isNewConnExpected(old, env.settings.connReuseMode));
  assert.ok(t.expireNow(old, 1000));
  const fresh = conn4(env, IPPROTO_TCP, CIP, 5555, env.d[1], 1000);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 5555, VIP, 80), fresh);
  assert.equal(env.d[0].inactConns + env.d[0].activeConns, 0);
  assert.equal(env.d[1].inactConns, 1);
});

test('flush deletes conns and their templates; counters return to zero', () => {
  const env = setup();
  const { t } = env;
  const ct = template4(env, 0, 60_000, 0);
  const a = persistConn(env, ct, 1, 0);
  establish(env, a, 0);
  persistConn(env, ct, 2, 0);
  const ct2 = template4(env, 1, 60_000, 0, CIP & 0xffff0000);
  conn4(env, IPPROTO_TCP, CIP, 3, env.d[2], 0);
  conn4(env, 17, CIP, 4, env.d[2], 0);
  assert.equal(t.count, 6);
  assert.equal(t.flush(0), 6);
  assert.equal(t.count, 0);
  assert.ok(!t.isAlive(ct) && !t.isAlive(ct2));
  for (const d of env.d)
    assert.deepEqual([d.activeConns, d.inactConns, d.persistConns, d.refcnt], [0, 0, 0, 0]);
  assert.equal(t.lookupIn(IPPROTO_TCP, CIP, 3, VIP, 80), -1);
  assert.equal(t.expire(1_000_000), 0, 'nothing left on the wheel');
});

test('expire_nodest_conn flush: conns of unavailable dests go with their unused templates', () => {
  const env = setup();
  const { t } = env;
  const ct = template4(env, 0, 60_000, 0);
  const a = persistConn(env, ct, 1, 0);
  const b = conn4(env, IPPROTO_TCP, CIP, 2, env.d[0], 0);
  const c = conn4(env, IPPROTO_TCP, CIP, 3, env.d[1], 0);
  env.d[0].flags &= ~DestFlag.AVAILABLE;
  assert.equal(t.expireNodestFlush(0), 3);
  assert.ok(!t.isAlive(a) && !t.isAlive(b) && !t.isAlive(ct));
  assert.ok(t.isAlive(c));
  assert.equal(env.d[0].refcnt, 0);
});

test('property: dest counters always equal the bound conns by activity, under random operations', () => {
  type Op =
    | { k: 'new'; dest: number; proto: number }
    | { k: 'tpl'; dest: number }
    | { k: 'pkt'; pick: number; out: boolean; flags: number }
    | { k: 'now'; pick: number }
    | { k: 'tick'; dt: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('new' as const), dest: fc.nat(2), proto: fc.constantFrom(6, 17, 132) }),
    fc.record({ k: fc.constant('tpl' as const), dest: fc.nat(2) }),
    fc.record({
      k: fc.constant('pkt' as const),
      pick: fc.nat(),
      out: fc.boolean(),
      flags: fc.constantFrom(
        TcpFlag.SYN,
        TcpFlag.ACK,
        TcpFlag.FIN,
        TcpFlag.RST,
        0,
        SctpChunk.INIT,
        SctpChunk.COOKIE_ACK,
      ),
    }),
    fc.record({ k: fc.constant('now' as const), pick: fc.nat() }),
    fc.record({ k: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 200_000 }) }),
  );
  fc.assert(
    fc.property(fc.constantFrom(Fwd.MASQ, Fwd.DROUTE), fc.array(op, { maxLength: 80 }), (fwd, ops) => {
      const env = setup({ fwd, maxEntries: 64 });
      const { t } = env;
      let now = 0;
      let port = 1;
      const live = (): number[] => [...t.list(now)].map((e) => e.id);
      for (const o of ops) {
        if (o.k === 'new') {
          const id = conn4(env, o.proto, CIP, port++, env.d[o.dest], now);
          const tpls = live().filter(
            (x) => t.getFlags(x) & ConnFlag.TEMPLATE && t.destOf(x) === env.d[o.dest].id,
          );
          if (id >= 0 && tpls.length > 0) t.linkToTemplate(id, tpls[0], now);
        } else if (o.k === 'tpl') {
          template4(env, o.dest, 20_000, now, port++);
        } else if (o.k === 'pkt') {
          const ids = live().filter((x) => (t.getFlags(x) & ConnFlag.TEMPLATE) === 0);
          if (ids.length === 0) continue;
          const id = ids[o.pick % ids.length];
          const dir = o.out ? Dir.OUTPUT : Dir.INPUT;
          if (t.protoOf(id) === 6) tcpStateTransition(t, id, dir, o.flags);
          else if (t.protoOf(id) === 132) sctpStateTransition(t, id, dir, o.flags);
          t.put(id, now);
        } else if (o.k === 'now') {
          const ids = live();
          if (ids.length > 0) t.expireNow(ids[o.pick % ids.length], now);
        } else {
          now += o.dt;
          t.expire(now);
        }
        for (const d of env.d) {
          let active = 0;
          let inact = 0;
          let persist = 0;
          for (const id of live()) {
            if (t.destOf(id) !== d.id) continue;
            const f = t.getFlags(id);
            if (f & ConnFlag.TEMPLATE) persist++;
            else if (f & ConnFlag.INACTIVE) inact++;
            else active++;
            if ((f & ConnFlag.TEMPLATE) === 0 && t.protoOf(id) === 6) {
              assert.equal(
                (f & ConnFlag.INACTIVE) === 0,
                [1, 2, 3, 10].includes(t.getState(id)),
                'TCP activity',
              );
            }
            if ((f & ConnFlag.TEMPLATE) === 0 && t.protoOf(id) === 132) {
              assert.equal((f & ConnFlag.INACTIVE) === 0, t.getState(id) === 8, 'SCTP activity');
            }
          }
          assert.deepEqual(
            [d.activeConns, d.inactConns, d.persistConns, d.refcnt],
            [active, inact, persist, active + inact + persist],
          );
        }
      }
    }),
    { numRuns: 200 },
  );
});

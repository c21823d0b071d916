import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32 } from '../../src/sched/hash.ts';
import type { LblcScheduler } from '../../src/sched/lblc.ts';
import { LBLC_MAX_SIZE } from '../../src/sched/lblc.ts';
import type { LblcrScheduler } from '../../src/sched/lblcr.ts';
import { DAY_MS, Lab, pkt4, pkt6, pktNum } from './helpers.ts';

const MIN = 60_000;

/** Runs the GC timer as the kernel would see it: one tick per minute up to `until` (inclusive). */
function tickUntil(lab: Lab, until: number): void {
  while (lab.env.t + MIN <= until) {
    lab.env.t += MIN;
    lab.sched.tick!(lab.env.t);
  }
  lab.env.t = until;
}

function lblcLab(): Lab {
  const lab = new Lab('lblc');
  lab.add('A', 10);
  lab.add('B', 10); // list B A
  return lab;
}

const toX = pkt4('198.51.100.1', 1000, '10.1.1.1', 80);
const toY = pkt4('198.51.100.1', 1000, '10.1.1.2', 80);

test('lblc: a destination address sticks to its first (wlc) choice', () => {
  const lab = lblcLab();
  assert.equal(lab.name(lab.sched.schedule(toX)), 'B'); // both idle: wlc keeps the first, B
  lab.conns('B', 5);
  // wlc would now say A, but X is bound to B and B is not overloaded (5 ≤ 10)
  assert.equal(lab.picks(3, toX), 'B B B');
  assert.equal(lab.picks(1, toY), 'A'); // a new address gets the wlc choice
  assert.equal(lab.dest('B').refcnt, 1, 'the entry holds a reference on its dest');
  assert.equal(lab.dest('A').refcnt, 1);
});

test('lblc: rebinds when the dest is overloaded and some dest is under half its weight', () => {
  const lab = lblcLab();
  lab.sched.schedule(toX); // X → B
  lab.conns('B', 11); // 11 > 10
  lab.conns('A', 6); // 6*2 = 12 ≥ 10: nobody under half → B is not "overloaded"
  assert.equal(lab.picks(1, toX), 'B');
  lab.conns('A', 4); // 8 < 10: now B is overloaded → wlc picks A and X is rebound
  assert.equal(lab.picks(1, toX), 'A');
  lab.conns('B', 0);
  assert.equal(lab.picks(1, toX), 'A', 'the new binding sticks');
  assert.equal(lab.dest('B').refcnt, 0);
  assert.equal(lab.dest('A').refcnt, 1);
});

test('lblc: the OVERLOAD flag alone does not break a binding (the kernel only checks it in wlc)', () => {
  const lab = lblcLab();
  lab.sched.schedule(toX); // X → B
  lab.overload('B');
  assert.equal(lab.picks(1, toX), 'B');
  assert.equal(lab.picks(1, toY), 'A');
});

test('lblc: a quiesced or deleted dest is not reused from the cache', () => {
  const lab = lblcLab();
  lab.sched.schedule(toX); // X → B
  lab.edit('B', 0);
  assert.equal(lab.picks(1, toX), 'A');
  lab.edit('B', 10);
  lab.conns('A', 1);
  lab.sched.schedule(toY); // Y → B (A is busier)
  const b = lab.dest('B');
  lab.del(b); // not AVAILABLE; the Y entry still references it (kernel: dest stays in the trash)
  assert.equal(b.refcnt, 1);
  assert.equal(lab.picks(1, toY), 'A');
  assert.equal(b.refcnt, 0, 'rebinding drops the reference on the deleted dest');
});

test('lblc: the entry count drifts up on rebinding, as in ip_vs_lblc_new', () => {
  const lab = lblcLab();
  lab.sched.schedule(toX);
  assert.equal((lab.sched as LblcScheduler).entryCount, 1);
  lab.edit('B', 0);
  lab.sched.schedule(toX); // old entry unhashed without atomic_dec, new one hashed with atomic_inc
  assert.equal((lab.sched as LblcScheduler).entryCount, 2);
  assert.equal(lab.name((lab.sched as LblcScheduler).lookupBinding(toX)), 'A');
});

test('lblc GC: an entry lives until the first full check at or after lastuse + lblc_expiration', () => {
  const lab = lblcLab();
  lab.sched.schedule(toX); // t = 0, lastuse 0
  const sched = lab.sched as LblcScheduler;
  // Timer runs at 1, 2, ... minutes; the 30th run (30 min) and every 30th after are full checks.
  // lastuse + 24 h = 1440 min = the 48th full check, which removes it (now >= lastuse + exp).
  tickUntil(lab, 1439 * MIN);
  assert.equal(lab.name(sched.lookupBinding(toX)), 'B');
  tickUntil(lab, 1440 * MIN);
  assert.equal(sched.lookupBinding(toX), null);
  assert.equal(lab.dest('B').refcnt, 0);
});

test('lblc GC: using an entry pushes its expiry; only full checks expire idle entries', () => {
  const lab = lblcLab();
  lab.env.lblcExpirationMs = 60_000; // sysctl lblc_expiration = 60 s
  lab.sched.schedule(toX);
  tickUntil(lab, 10 * MIN);
  lab.sched.schedule(toX); // lastuse = 10 min
  // Runs 1..29 are partial checks that do nothing while the table is under 16384 entries.
  tickUntil(lab, 29 * MIN);
  assert.notEqual((lab.sched as LblcScheduler).lookupBinding(toX), null);
  tickUntil(lab, 30 * MIN); // run 30: full check, idle 20 min > 60 s → gone
  assert.equal((lab.sched as LblcScheduler).lookupBinding(toX), null);
  // The count restarted at 1: the next full check is run 60, not 31.
  lab.sched.schedule(toY); // lastuse 30 min
  tickUntil(lab, 59 * MIN);
  assert.notEqual((lab.sched as LblcScheduler).lookupBinding(toY), null);
  tickUntil(lab, 60 * MIN);
  assert.equal((lab.sched as LblcScheduler).lookupBinding(toY), null);
});

test('lblc GC: over 16384 entries, entries idle 6 min go from the rover on until the goal', () => {
  const lab = lblcLab();
  const sched = lab.sched as LblcScheduler;
  const N = 17000;
  const pkt = (i: number) => pktNum(0xc6336401, 1000, 0x0b000000 + i, 80);
  for (let i = 0; i < N; i++) sched.schedule(pkt(i));
  assert.equal(sched.entryCount, N);
  // Runs at 1..5 min: over size, but nothing idle for 6 minutes yet.
  tickUntil(lab, 5 * MIN);
  assert.equal(sched.entryCount, N);
  // Run at 6 min: goal = (17000 - 16384) * 4/3 = 821 (integer division). Buckets 1, 2, ... after
  // rover 0 are emptied whole until at least 821 entries are gone.
  tickUntil(lab, 6 * MIN);
  const removed = N - sched.entryCount;
  const perBucket = new Map<number, number>();
  for (let i = 0; i < N; i++) {
    const b = hash32((0x0b000000 + i) >>> 0, 10);
    perBucket.set(b, (perBucket.get(b) ?? 0) + 1);
  }
  let expect = 0;
  let last = 0;
  for (let b = 1; expect < 821; b++) {
    expect += perBucket.get(b) ?? 0;
    last = b;
  }
  assert.equal(removed, expect);
  for (let i = 0; i < N; i += 97) {
    const b = hash32((0x0b000000 + i) >>> 0, 10);
    const gone = b >= 1 && b <= last;
    assert.equal(sched.lookupBinding(pkt(i)) === null, gone, `address ${i} in bucket ${b}`);
  }
  assert.ok(N - expect < LBLC_MAX_SIZE, 'the goal took the table back under max_size');
  // Every remaining entry references its dest.
  assert.equal(lab.dest('A').refcnt + lab.dest('B').refcnt, sched.entryCount);
});

test('lblc: IPv6 addresses with the same fold are distinct entries in one bucket', () => {
  const lab = new Lab('lblc', { af: 6 });
  lab.add('A', 10);
  lab.add('B', 10);
  // 2001:db8::1 and 2001:db8:0:1:: both fold to 0x20010db9
  const p1 = pkt6('2001:db8::ff', 1, '2001:db8::1', 80);
  const p2 = pkt6('2001:db8::ff', 1, '2001:db8:0:1::', 80);
  assert.equal(p1.daddrFold, p2.daddrFold);
  assert.equal(lab.name(lab.sched.schedule(p1)), 'B');
  lab.conns('B', 1);
  assert.equal(lab.name(lab.sched.schedule(p2)), 'A');
  assert.equal(lab.picks(2, p1), 'B B');
  assert.equal(lab.picks(2, p2), 'A A');
});

test('lblc: done() flushes the table and drops every dest reference', () => {
  const lab = lblcLab();
  lab.sched.schedule(toX);
  lab.conns('B', 3);
  lab.sched.schedule(toY);
  assert.equal(lab.dest('A').refcnt + lab.dest('B').refcnt, 2);
  lab.sched.done!();
  assert.equal(lab.dest('A').refcnt + lab.dest('B').refcnt, 0);
  // A dead table still schedules (wlc) but binds nothing.
  assert.equal(lab.name(lab.sched.schedule(toX)), 'A');
  assert.equal(lab.dest('A').refcnt, 0);
});

// ---- lblcr ----

function lblcrLab(): Lab {
  const lab = new Lab('lblcr');
  lab.add('A', 10);
  lab.add('B', 10); // list B A
  return lab;
}

function setOf(lab: Lab, p = toX): string {
  const s = (lab.sched as LblcrScheduler).lookupSet(p);
  return s === null ? '-' : s.map((d) => lab.name(d)).join(' ');
}

test('lblcr: the set grows when its best member is overloaded, and then serves from the set', () => {
  const lab = lblcrLab();
  assert.equal(lab.name(lab.sched.schedule(toX)), 'B');
  assert.equal(setOf(lab), 'B');
  lab.conns('B', 11); // 11 > 10 and A is under half: B overloaded → wlc over the service → A
  lab.env.t = 5000;
  assert.equal(lab.name(lab.sched.schedule(toX)), 'A');
  assert.equal(setOf(lab), 'A B', 'new members go to the head of the set');
  assert.equal(lab.dest('A').refcnt, 1);
  assert.equal(lab.dest('B').refcnt, 1);
  // set_min: A (0) vs B (11*256): A
  lab.conns('A', 3);
  lab.conns('B', 2); // now B is less loaded: set_min picks B
  assert.equal(lab.picks(2, toX), 'B B');
});

test('lblcr: a set unchanged for lblcr_expiration sheds its most loaded member', () => {
  const lab = lblcrLab();
  lab.sched.schedule(toX); // {B}, lastmod 0
  lab.conns('B', 11);
  lab.env.t = 1000;
  lab.sched.schedule(toX); // {A, B}, lastmod 1000
  lab.conns('B', 4);
  lab.conns('A', 2); // A: 512/10, B: 1024/10 → min A, max B
  lab.env.t = 1000 + DAY_MS; // not yet: needs now > lastmod + expiration
  assert.equal(lab.picks(1, toX), 'A');
  assert.equal(setOf(lab), 'A B');
  lab.env.t = 1001 + DAY_MS;
  assert.equal(lab.picks(1, toX), 'A');
  assert.equal(setOf(lab), 'A', 'B (most loaded) was erased');
  assert.equal(lab.dest('B').refcnt, 0);
});

test('lblcr: the member chosen before the shrink is used even if it is the one shed', () => {
  const lab = lblcrLab();
  lab.add('C', 1); // list C B A
  lab.conns('C', 5);
  lab.conns('B', 5);
  lab.conns('A', 5);
  // wlc: C 1280/1, B 1280/10 (1280*10 > 1280*1 → B), A 1280/10 (tie: B stays) → {B}
  lab.sched.schedule(toX);
  assert.equal(setOf(lab), 'B');
  lab.conns('B', 11); // 11 > 10, but nobody is under half its weight (C 10 ≥ 1, A 10 ≥ 10)
  lab.conns('A', 4); // A 8 < 10: now B is overloaded → wlc (C 1280/1, B 2816/10, A 1024/10) → A joins
  lab.env.t = 100;
  assert.equal(lab.name(lab.sched.schedule(toX)), 'A');
  assert.equal(setOf(lab), 'A B');
  // With B at weight 0, set_min skips it and so does set_max: A is both the member chosen and the
  // member shed once the set has been unchanged for lblcr_expiration.
  lab.edit('B', 0);
  lab.conns('A', 1);
  lab.env.t = 101 + DAY_MS;
  assert.equal(lab.name(lab.sched.schedule(toX)), 'A', 'A chosen first, then shed, still returned');
  assert.equal(setOf(lab), 'B');
});

test('lblcr GC: full check removes idle entries and their member references', () => {
  const lab = lblcrLab();
  lab.env.lblcrExpirationMs = 60_000;
  lab.sched.schedule(toX);
  lab.conns('B', 11);
  lab.sched.schedule(toX); // {A, B}
  tickUntil(lab, 29 * MIN);
  assert.equal(setOf(lab), 'A B');
  tickUntil(lab, 30 * MIN);
  assert.equal(setOf(lab), '-');
  assert.equal(lab.dest('A').refcnt + lab.dest('B').refcnt, 0);
});

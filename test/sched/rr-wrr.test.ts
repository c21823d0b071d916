import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { WrrScheduler } from '../../src/sched/wrr.ts';
import { Lab } from './helpers.ts';

// ---- rr (ip_vs_rr.c) ----
// Adds go to the list head, so adding A, B, C gives the list C B A. The position starts at the head;
// each pick is the next usable dest after the position, wrapping.

test('rr: golden round robin over C B A, starting from the list head', () => {
  const lab = new Lab('rr');
  lab.add('A', 1);
  lab.add('B', 1);
  lab.add('C', 1);
  assert.equal(lab.order(), 'C B A');
  assert.equal(lab.picks(7), 'C B A C B A C');
});

test('rr: weights do not matter, but weight 0 and OVERLOAD are skipped', () => {
  const lab = new Lab('rr');
  lab.add('A', 5);
  lab.add('B', 0);
  lab.add('C', 1);
  lab.add('D', 2);
  lab.overload('C');
  // list D C B A: C overloaded, B quiesced
  assert.equal(lab.picks(5), 'D A D A D');
});

test('rr: nothing usable gives null and keeps the position', () => {
  const lab = new Lab('rr');
  lab.add('A', 1);
  lab.add('B', 1);
  lab.add('C', 1);
  assert.equal(lab.picks(1), 'C'); // position C (index 0)
  lab.overload('A');
  lab.overload('B');
  lab.overload('C');
  assert.equal(lab.picks(2), '- -');
  lab.overload('A', false);
  lab.overload('B', false);
  lab.overload('C', false);
  // Still after C: B, A, C.
  assert.equal(lab.picks(3), 'B A C');
});

test('rr: the current dest itself is retried last (second pass includes the start)', () => {
  const lab = new Lab('rr');
  lab.add('A', 1);
  lab.add('B', 1);
  assert.equal(lab.picks(1), 'B'); // list B A, position B
  lab.overload('A');
  assert.equal(lab.picks(3), 'B B B');
});

test('rr: deleting the dest under the position steps back to the previous entry', () => {
  const lab = new Lab('rr');
  lab.add('A', 1);
  lab.add('B', 1);
  lab.add('C', 1);
  assert.equal(lab.picks(2), 'C B'); // position on B (index 1)
  lab.del('B'); // ip_vs_rr_del_dest: position → C (the entry before B)
  assert.equal(lab.order(), 'C A');
  assert.equal(lab.picks(3), 'A C A');
});

test('rr: deleting the first dest while on it goes back to the list head', () => {
  const lab = new Lab('rr');
  lab.add('A', 1);
  lab.add('B', 1);
  lab.add('C', 1);
  assert.equal(lab.picks(1), 'C');
  lab.del('C');
  assert.equal(lab.picks(3), 'B A B');
});

test('rr: adds and deletes elsewhere keep the position on its dest', () => {
  const lab = new Lab('rr');
  lab.add('A', 1);
  lab.add('B', 1);
  lab.add('C', 1);
  assert.equal(lab.picks(2), 'C B'); // on B
  lab.add('D', 1); // list D C B A, still on B
  assert.equal(lab.picks(2), 'A D'); // on D (index 0)
  assert.equal(lab.picks(2), 'C B'); // on B (index 2)
  lab.del('C'); // list D B A, on B (now index 1)
  assert.equal(lab.picks(3), 'A D B');
});

// ---- wrr (ip_vs_wrr.c) ----

test('wrr: list A B C with weights 4 3 2, bound after the dests exist: A A B A B C A B C', () => {
  // init_svc: di = gcd(4,3,2) = 1, mw = 4 - 0 = 4, cw = 4, cl = head.
  // cw=4: A | cw=3: A B | cw=2: A B C | cw=1: A B C | cw→0 → 4: repeat.
  const lab = new Lab('wrr');
  lab.add('C', 2);
  lab.add('B', 3);
  lab.add('A', 4);
  lab.rebind('wrr');
  assert.equal(lab.order(), 'A B C');
  assert.equal(lab.picks(18), 'A A B A B C A B C A A B A B C A B C');
});

test('wrr: dests added one at a time (C 2, B 3, A 4) keep cw = 1 from the first add', () => {
  // init_svc on the empty service: di = 1, mw = 0, cw = 0.
  // add C(2): di = 2, mw = 2 - 1 = 1; cw == 0 → cw = mw = 1.
  // add B(3): di = gcd(3,2) = 1, mw = 3; cw = 1 is neither > mw nor 0, di = 1 → cw stays 1.
  // add A(4): di = 1, mw = 4; cw stays 1. cl = head after every add.
  // So the first pass runs at cw = 1 (A B C), then full cycles from mw = 4.
  const lab = new Lab('wrr');
  lab.add('C', 2);
  assert.deepEqual((lab.sched as WrrScheduler).mark, { cl: -1, cw: 1, mw: 1, di: 2 });
  lab.add('B', 3);
  assert.deepEqual((lab.sched as WrrScheduler).mark, { cl: -1, cw: 1, mw: 3, di: 1 });
  lab.add('A', 4);
  assert.deepEqual((lab.sched as WrrScheduler).mark, { cl: -1, cw: 1, mw: 4, di: 1 });
  assert.equal(lab.picks(12), 'A B C A A B A B C A B C');
});

test('wrr: add order A 4, B 3, C 2 (list C B A): C B A then cycles A | B A | C B A | C B A', () => {
  // Same cw trace as above (cw stays 1 after the adds); the list is C B A.
  const lab = new Lab('wrr');
  lab.add('A', 4);
  lab.add('B', 3);
  lab.add('C', 2);
  assert.equal(lab.order(), 'C B A');
  assert.equal(lab.picks(21), 'C B A A B A C B A C B A A B A C B A C B A');
});

test('wrr: gcd step — weights 4 and 2 added one at a time', () => {
  // add X(4): di = 4, mw = 4 - 3 = 1, cw 0 → 1.
  // add Y(2): list Y X, di = 2, mw = 4 - 1 = 3; cw = 1 ≤ mw, di > 1 → cw = (1/2)*2 + 1 = 1.
  // Picks: cw=1: Y X | cw = -1 → mw = 3: X | cw = 1: Y X | cw → 3: X | ...
  const lab = new Lab('wrr');
  lab.add('X', 4);
  lab.add('Y', 2);
  assert.deepEqual((lab.sched as WrrScheduler).mark, { cl: -1, cw: 1, mw: 3, di: 2 });
  assert.equal(lab.picks(8), 'Y X X Y X X Y X');
});

test('wrr: an edit keeps cw (di = 1) and restarts from the head', () => {
  // Bound with A 4, B 3, C 2: picks A (cw 4), A (cw 3, cl = A).
  // Edit C to 6: di = 1, mw = 6, cw = 3 kept, cl = head.
  // cw=3: A B C | cw=2: A B C | cw=1: A B C | cw → 6: C | 5: C | 4: A C | 3: A B C ...
  const lab = new Lab('wrr');
  lab.add('C', 2);
  lab.add('B', 3);
  lab.add('A', 4);
  lab.rebind('wrr');
  assert.equal(lab.picks(2), 'A A');
  lab.edit('C', 6);
  assert.deepEqual((lab.sched as WrrScheduler).mark, { cl: -1, cw: 3, mw: 6, di: 1 });
  assert.equal(lab.picks(16), 'A B C A B C A B C C C A C A B C');
});

test('wrr: an edit with di > 1 moves cw onto the new grid (cw/di*di + 1)', () => {
  // Bound with A 6, B 4 (list A B): di = 2, mw = 5, cw = 5. Picks: A (cw 5), then cw 3: A.
  // Edit B to 9: di = gcd(6,9) = 3, mw = 9 - 2 = 7; cw = 3 ≤ 7 → cw = (3/3)*3 + 1 = 4.
  // cw=4: A B | cw=1: A B | cw → 7: B | cw=4: A B | cw=1: A B | ...
  const lab = new Lab('wrr');
  lab.add('B', 4);
  lab.add('A', 6);
  lab.rebind('wrr');
  assert.equal(lab.picks(2), 'A A');
  lab.edit('B', 9);
  assert.deepEqual((lab.sched as WrrScheduler).mark, { cl: -1, cw: 4, mw: 7, di: 3 });
  assert.equal(lab.picks(10), 'A B A B B A B A B B');
});

test('wrr: all weights 0 (mw 0) or all overloaded gives null without looping', () => {
  const lab = new Lab('wrr');
  lab.add('A', 0);
  lab.add('B', 0);
  assert.equal(lab.picks(2), '- -');
  // edit A to 3: di = 3, mw = 1, cw 0 → 1. edit B to 2: di = 1, mw = 3, cw stays 1.
  lab.edit('A', 3);
  lab.edit('B', 2);
  assert.equal(lab.picks(1), 'B');
  lab.overload('A');
  lab.overload('B');
  assert.equal(lab.picks(3), '- - -');
  lab.overload('A', false);
  assert.equal(lab.picks(2), 'A A');
});

test('wrr: overloaded dests are skipped inside the cycle', () => {
  const lab = new Lab('wrr');
  lab.add('C', 2);
  lab.add('B', 3);
  lab.add('A', 4);
  lab.rebind('wrr');
  lab.overload('B');
  // cw=4: A | 3: A | 2: A C | 1: A C
  assert.equal(lab.picks(6), 'A A A C A C');
});

test('wrr property: bound to a populated service, every cycle gives each dest weight/gcd picks', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 6 }), (weights) => {
      const lab = new Lab('wrr');
      weights.forEach((w, i) => lab.add(`d${i}`, w));
      lab.rebind('wrr');
      const positive = weights.filter((w) => w > 0);
      if (positive.length === 0) {
        assert.equal(lab.sched.schedule(null as never), null);
        return;
      }
      const g = positive.reduce((a, b) => {
        while (b) [a, b] = [b, a % b];
        return a;
      });
      const cycle = positive.reduce((a, b) => a + b, 0) / g;
      for (let c = 0; c < 3; c++) {
        const counts = new Map<string, number>();
        for (let k = 0; k < cycle; k++) {
          const d = lab.sched.schedule(null as never);
          assert.ok(d !== null);
          const n = lab.name(d);
          counts.set(n, (counts.get(n) ?? 0) + 1);
        }
        weights.forEach((w, i) => assert.equal(counts.get(`d${i}`) ?? 0, w / g, `d${i} weight ${w}`));
      }
    }),
  );
});

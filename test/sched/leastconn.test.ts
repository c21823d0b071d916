import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mulGt, wlcLeast } from '../../src/sched/common.ts';
import type { Dest } from '../../src/model/dest.ts';
import { DestFlag } from '../../src/model/flags.ts';
import { Lab } from './helpers.ts';

// Goldens in this file are hand-derived from ip_vs_{lc,wlc,sed,nq,fo,ovf,twos}.c with the steps in
// the comments. Overhead = active * 256 + inactive (ip_vs_dest_conn_overhead).

test('lc: least overhead, first in list on a tie, weight 0 and OVERLOAD skipped', () => {
  const lab = new Lab('lc');
  lab.add('D', 0); // would win (overhead 0) but is quiesced
  lab.add('C', 1);
  lab.add('B', 1);
  lab.add('A', 1);
  // list A B C D
  lab.conns('A', 1, 0); // 256
  lab.conns('B', 0, 300); // 300
  lab.conns('C', 0, 256); // 256, ties with A: A is first
  assert.equal(lab.picks(1), 'A');
  lab.conns('B', 0, 255); // 255 < 256
  assert.equal(lab.picks(1), 'B');
  lab.overload('B');
  assert.equal(lab.picks(1), 'A');
  lab.overload('A');
  lab.overload('C');
  assert.equal(lab.picks(1), '-');
});

test('wlc: minimises overhead/weight with cross-multiplication', () => {
  const lab = new Lab('wlc');
  lab.add('C', 2);
  lab.add('B', 3);
  lab.add('A', 1);
  // list A B C; A: 256/1, B: 700/3 = 233.3, C: 466/2 = 233
  lab.conns('A', 1, 0);
  lab.conns('B', 2, 188);
  lab.conns('C', 1, 210);
  // least = A (256). B: 256*3 = 768 > 700*1 → B. C: 700*2 = 1400 > 466*3 = 1398 → C.
  assert.equal(lab.picks(1), 'C');
  lab.conns('C', 1, 211); // 467*3 = 1401 > 1400: B stays
  assert.equal(lab.picks(1), 'B');
});

test('wlc: equal ratios keep the earlier dest; weight 0 never wins; null when nothing usable', () => {
  const lab = new Lab('wlc');
  lab.add('Z', 0);
  lab.add('B', 2);
  lab.add('A', 1);
  // list A B Z, all idle: A first, B ties (0*2 > 0*1 is false), Z (weight 0) never replaces.
  assert.equal(lab.picks(1), 'A');
  lab.conns('A', 1, 0); // A 256/1, B 0/2 → B
  assert.equal(lab.picks(1), 'B');
  lab.edit('A', 0);
  lab.edit('B', 0);
  assert.equal(lab.picks(1), '-');
});

test('mulGt is exact where doubles are not (products above 2^53)', () => {
  const k = 2 ** 31 - 2;
  // k*k exceeds (k+1)*(k-1) by exactly 1, both near 2^62: plain doubles compare them equal.
  assert.equal(k * k > (k + 1) * (k - 1), false, 'doubles lose the difference');
  assert.equal(mulGt(k, k, k + 1, k - 1), true);
  assert.equal(mulGt(k + 1, k - 1, k, k), false);
  assert.equal(mulGt(-5, 3, -4, 4), true); // -15 > -16
  fc.assert(
    fc.property(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (a, b, c, d) => {
        assert.equal(mulGt(a, b, c, d), BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d));
      },
    ),
    { numRuns: 2000 },
  );
});

test('sed: (active + 1) / weight, inactive ignored', () => {
  const lab = new Lab('sed');
  lab.add('C', 4);
  lab.add('B', 3);
  lab.add('A', 1);
  // list A B C. A: (0+1)/1 = 1; B: (2+1)/3 = 1 (3*1 > 1*3 false: A stays); C: (2+1)/4 → 1*4 > 3*1 → C
  lab.conns('A', 0, 9999);
  lab.conns('B', 2, 0);
  lab.conns('C', 2, 0);
  assert.equal(lab.picks(1), 'C');
  lab.conns('C', 3, 0); // 4/4 = 1: ties with A, A stays
  assert.equal(lab.picks(1), 'A');
});

test('nq: the first idle dest wins outright, else the sed rule', () => {
  const lab = new Lab('nq');
  lab.add('C', 1);
  lab.add('B', 1);
  lab.add('A', 5);
  // list A B C: A busy, B and C idle → B (first idle), even though A has the best sed ratio
  lab.conns('A', 1, 0);
  assert.equal(lab.picks(1), 'B');
  lab.conns('B', 1, 0);
  assert.equal(lab.picks(1), 'C');
  lab.conns('C', 1, 0);
  // none idle: sed — A 2/5, B 2/1, C 2/1 → A
  assert.equal(lab.picks(1), 'A');
  lab.edit('B', 0);
  lab.conns('B', 0, 0); // idle but quiesced: skipped
  assert.equal(lab.picks(1), 'A');
});

test('fo: highest weight, first on a tie, OVERLOAD skipped', () => {
  const lab = new Lab('fo');
  lab.add('C', 5);
  lab.add('B', 5);
  lab.add('A', 3);
  assert.equal(lab.picks(2), 'B B'); // list A B C
  lab.overload('B');
  assert.equal(lab.picks(1), 'C');
  lab.overload('C');
  assert.equal(lab.picks(1), 'A');
  lab.edit('A', 0);
  assert.equal(lab.picks(1), '-');
});

test('ovf: highest weight whose active connections do not exceed it', () => {
  const lab = new Lab('ovf');
  lab.add('C', 5);
  lab.add('B', 5);
  lab.add('A', 2);
  // list A B C
  lab.conns('A', 2);
  lab.conns('B', 6); // 6 > 5: full
  lab.conns('C', 5); // 5 ≤ 5: still takes connections
  assert.equal(lab.picks(1), 'C');
  lab.conns('C', 6);
  assert.equal(lab.picks(1), 'A');
  lab.conns('A', 3);
  assert.equal(lab.picks(1), '-');
});

test('twos: weighted draws over total + 1 and the overhead comparison', () => {
  const lab = new Lab('twos');
  lab.add('C', 3);
  lab.add('B', 2);
  lab.add('A', 1);
  // list A B C, total = 6 + 1 = 7.
  lab.conns('B', 2); // overhead 512
  lab.conns('C', 1); // overhead 256
  // draws 3, 6: r1 = 3, r2 = 6. A: r1 2, r2 5; B: r1 0 → choice1 B; r2 3; C: r2 0 → choice2 C.
  // weight2 * overhead1 = 3 * 512 = 1536 > weight1 * overhead2 = 2 * 256 = 512 → C.
  lab.env.draws.push(3, 6);
  assert.equal(lab.picks(1), 'C');
  // draws 7 + 0 (7 % 7 = 0) and 1: r1 = 0 → A at once; r2 = 1 → A too (1 - 1 = 0): A.
  lab.env.draws.push(7, 1);
  assert.equal(lab.picks(1), 'A');
  // draws 2, 3: choice1 B (2-1-2 = -1), choice2 B (3-1-2 = 0) → B.
  lab.env.draws.push(2, 3);
  assert.equal(lab.picks(1), 'B');
  // choice1 C, choice2 B (draws 6, 2): 2 * 256 = 512 > 3 * 512? no → C.
  lab.env.draws.push(6, 2);
  assert.equal(lab.picks(1), 'C');
  assert.equal(lab.env.draws.length, 0, 'exactly two draws per schedule');
});

test('twos: overloaded and weight-0 dests are not in the draw, and nothing usable draws nothing', () => {
  const lab = new Lab('twos');
  lab.add('C', 0);
  lab.add('B', 4);
  lab.add('A', 4);
  lab.overload('A');
  // Only B counts: total = 4 + 1 = 5. Any draw lands on B.
  lab.env.draws.push(0, 4);
  assert.equal(lab.picks(1), 'B');
  lab.overload('B');
  lab.env.draws.push(1, 1);
  assert.equal(lab.picks(1), '-');
  assert.equal(lab.env.draws.length, 2, 'no draws taken when no dest is usable');
});

test('twos: the final product wraps at 32 bits like the kernel int arithmetic', () => {
  const lab = new Lab('twos');
  lab.add('B', 100);
  lab.add('A', 100);
  // list A B. A: 140000 active → overhead 35,840,000; B: idle.
  lab.conns('A', 140000);
  // draws 0 and 150: choice1 A, choice2 B (150 - 100 - 100 < 0).
  // weight2 * overhead1 = 100 * 35,840,000 = 3,584,000,000 wraps to -710,967,296 in an int,
  // which is not > weight1 * overhead2 = 0, so the kernel keeps A (the loaded one).
  lab.env.draws.push(0, 150);
  assert.equal(lab.picks(1), 'A');
  lab.conns('A', 10000); // 100 * 2,560,000 fits: B is less loaded
  lab.env.draws.push(0, 150);
  assert.equal(lab.picks(1), 'B');
});

test('property: wlcLeast equals a BigInt reference of ip_vs_wlc_schedule, for any weights and counts', () => {
  const dest = fc.record({
    weight: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
    active: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 2 ** 24 })),
    inact: fc.integer({ min: 0, max: 2 ** 20 }),
    overloaded: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(dest, { maxLength: 12 }), (ds) => {
      const dests = ds.map(
        (d, i) =>
          ({
            id: i,
            weight: d.weight,
            activeConns: d.active,
            inactConns: d.inact,
            flags: d.overloaded ? DestFlag.OVERLOAD : DestFlag.AVAILABLE,
          }) as unknown as Dest,
      );
      // The kernel: first non-overloaded dest with weight > 0, then any later non-overloaded dest
      // with loh * w > doh * lw in 64-bit arithmetic (overhead = (active << 8) + inactive, a C int).
      const oh = (d: (typeof ds)[number]) => BigInt(((d.active << 8) + d.inact) | 0);
      let want = -1;
      for (let i = 0; i < ds.length; i++) {
        const d = ds[i];
        if (d.overloaded) continue;
        if (want < 0) {
          if (d.weight > 0) want = i;
          continue;
        }
        const l = ds[want];
        if (oh(l) * BigInt(d.weight) > oh(d) * BigInt(l.weight)) want = i;
      }
      const got = wlcLeast(dests);
      assert.equal(got === null ? -1 : got.id, want);
    }),
    { numRuns: 2000 },
  );
});

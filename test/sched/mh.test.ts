import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Dest } from '../../src/model/dest.ts';
import { SCHED_FALLBACK, SCHED_PORT } from '../../src/model/flags.ts';
import type { MhScheduler } from '../../src/sched/mh.ts';
import { MH_TAB_SIZE } from '../../src/sched/mh.ts';
import { Lab, pkt4 } from './helpers.ts';
import { naiveHsiphashU32 } from './naive-siphash.ts';

const M = MH_TAB_SIZE;
const KEY1 = 2654435761n;
const KEY2 = 2654446892n;

/**
 * An independent Maglev table, written from the paper's pseudo-code plus ip_vs_mh.c's weights:
 * turns = (last_weight / gcd) >> rshift (at least 1 when the weight is non-zero), and dests take
 * `turns` slots per round in list order. Hashes come from the BigInt SipHash.
 */
function naiveTable(dests: readonly Dest[]): (Dest | null)[] {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const lws = dests.map((d) => d.lastWeight);
  const g = lws.filter((w) => w > 0).reduce((a, w) => (a === 0 ? w : gcd(w, a)), 0);
  const table: (Dest | null)[] = Array.from({ length: M }, () => null);
  if (g === 0) return table;
  const maxW = Math.max(...lws);
  const rshift = Math.max(0, Math.floor(maxW / g).toString(2).length - 6);
  const setup = dests.map((d) => {
    const v = (d.port + d.addr.fold) >>> 0;
    const offset = naiveHsiphashU32(v, KEY1) % M;
    const skip = (naiveHsiphashU32(v, KEY2) % (M - 1)) + 1;
    const t = Math.floor(d.lastWeight / g) >> rshift;
    return { d, offset, skip, j: 0, turns: t > 0 ? t : d.lastWeight > 0 ? 1 : 0 };
  });
  let filled = 0;
  for (;;) {
    for (const s of setup) {
      for (let k = 0; k < s.turns; k++) {
        // permutation[j] = (offset + j * skip) mod M; take the first free one
        let slot = (s.offset + s.j * s.skip) % M;
        while (table[slot] !== null) {
          s.j++;
          slot = (s.offset + s.j * s.skip) % M;
        }
        table[slot] = s.d;
        if (++filled === M) return table;
      }
    }
  }
}

function abcLab(flags = 0): Lab {
  // ipvsadm order A, B, C → list C B A; weights A 1, B 2, C 3; addresses 10.0.0.1..3 port 80.
  const lab = new Lab('mh', { flags });
  lab.add('A', 1, '10.0.0.1');
  lab.add('B', 2, '10.0.0.2');
  lab.add('C', 3, '10.0.0.3');
  return lab;
}

function tableNames(lab: Lab): string {
  return (lab.sched as MhScheduler).lookup.map((d) => lab.name(d)).join('');
}

test('mh: golden table for C 3, B 2, A 1 (derived with an independent Python SipHash/Maglev)', () => {
  // Python (plain integers, SipHash-1-3 from the paper, low 32 bits), per dest in list order:
  //   C 10.0.0.3:80  v = 0x0A000053: offset 1631, skip 3453, turns 3
  //   B 10.0.0.2:80  v = 0x0A000052: offset 1231, skip 3544, turns 2
  //   A 10.0.0.1:80  v = 0x0A000051: offset 3167, skip 700,  turns 1
  // gcd 1, rshift 0. Round 1: C takes 1631, 1631+3453-4093 = 991, 991+3453-4093 = 351;
  // B takes 1231, 682; A takes 3167; ... The first 24 slots and the counts:
  const lab = abcLab();
  const names = tableNames(lab);
  assert.equal(names.slice(0, 24), 'CBBCCCBCCAABBBACBCCACCCC');
  assert.equal(lab.name((lab.sched as MhScheduler).lookup[1631]), 'C');
  assert.equal(lab.name((lab.sched as MhScheduler).lookup[991]), 'C');
  assert.equal(lab.name((lab.sched as MhScheduler).lookup[351]), 'C');
  assert.equal(lab.name((lab.sched as MhScheduler).lookup[1231]), 'B');
  assert.equal(lab.name((lab.sched as MhScheduler).lookup[682]), 'B');
  assert.equal(lab.name((lab.sched as MhScheduler).lookup[3167]), 'A');
  // 4093 = 682 rounds of 6 + 1: C 682*3 + 1, B 682*2, A 682
  assert.deepEqual(
    [...'ABC'].map((n) => names.split(n).length - 1),
    [682, 1364, 2047],
  );
});

test('mh: the whole table equals the naive BigInt Maglev', () => {
  const lab = abcLab();
  assert.deepEqual((lab.sched as MhScheduler).lookup, naiveTable(lab.svc.dests));
});

test('mh: golden lookups by source address (Python: hsiphash(saddr) % 4093 → slot)', () => {
  const lab = abcLab();
  // 10.0.0.100 → slot 2632 (C); 192.168.1.100 → slot 1341 (C); 203.0.113.11 → slot 1189 (B)
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.100', 1, '192.0.2.1', 80))), 'C');
  assert.equal(lab.name(lab.sched.schedule(pkt4('192.168.1.100', 1, '192.0.2.1', 80))), 'C');
  assert.equal(lab.name(lab.sched.schedule(pkt4('203.0.113.11', 1, '192.0.2.1', 80))), 'B');
});

test('mh-port: the source port is added to the hashed value', () => {
  const lab = abcLab(SCHED_PORT);
  // 10.0.0.100 port 12345 → slot 1040 (B); port 1 → slot 3746 (B); without the flag → 2632 (C)
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.100', 12345, '192.0.2.1', 80))), 'B');
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.100', 1, '192.0.2.1', 80))), 'B');
  const plain = abcLab();
  assert.equal(plain.name(plain.sched.schedule(pkt4('10.0.0.100', 12345, '192.0.2.1', 80))), 'C');
});

test('mh: an unavailable target gives null; mh-fallback rehashes with offsets from the slot', () => {
  const plain = abcLab();
  plain.overload('C');
  assert.equal(plain.name(plain.sched.schedule(pkt4('10.0.0.100', 1, '192.0.2.1', 80))), '-');
  // Python: ihash 2632 (C). offset 0: roffset 2632, hsiphash(2632 + saddr) % 4093 = 2493 (C, still
  // overloaded); offset 1: roffset 2633 → slot 1658 (B).
  const fb = abcLab(SCHED_FALLBACK);
  fb.overload('C');
  assert.equal(fb.name(fb.sched.schedule(pkt4('10.0.0.100', 1, '192.0.2.1', 80))), 'B');
});

test('mh: weight 0 keeps the table (last_weight) and fails lookups landing on the quiesced dest', () => {
  const lab = abcLab();
  const before = tableNames(lab);
  lab.edit('C', 0); // last_weight stays 3
  assert.equal(tableNames(lab), before);
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.100', 1, '192.0.2.1', 80))), '-');
  assert.equal(lab.name(lab.sched.schedule(pkt4('203.0.113.11', 1, '192.0.2.1', 80))), 'B');
  lab.edit('C', 3);
  assert.equal(tableNames(lab), before);
  // A dest added with weight 0 has last_weight 0: no turns, no slots.
  lab.add('Z', 0, '10.0.0.9');
  assert.equal(tableNames(lab), before);
});

test('mh: big weights are shifted to 6 bits; no dests or all-zero weights empty the table', () => {
  const lab = new Lab('mh');
  lab.add('A', 1000, '10.0.0.1');
  lab.add('B', 250, '10.0.0.2');
  // gcd 250, max/gcd = 4 → fls 3 - 6 < 0 → rshift 0; turns A 4, B 1
  assert.deepEqual((lab.sched as MhScheduler).params, { gcd: 250, rshift: 0 });
  lab.edit('B', 1);
  // gcd 1, max 1000 → fls(1000) = 10 → rshift 4; turns A 1000 >> 4 = 62, B (1 >> 4 = 0) → 1
  assert.deepEqual((lab.sched as MhScheduler).params, { gcd: 1, rshift: 4 });
  assert.deepEqual((lab.sched as MhScheduler).lookup, naiveTable(lab.svc.dests));
  const names = tableNames(lab);
  // List B A, 63 slots per round: 4093 = 64 * 63 + 61, and in the partial round B (first in the
  // list) takes 1, then A the remaining 60.
  assert.deepEqual([names.split('A').length - 1, names.split('B').length - 1], [64 * 62 + 60, 65]);
  lab.del('A');
  lab.del('B');
  assert.ok((lab.sched as MhScheduler).lookup.every((d) => d === null));
  assert.equal(lab.picks(1), '-');
});

test('mh property: each dest owns exactly its turns-based share of the 4093 slots', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 12 }), (weights) => {
      const lab = new Lab('mh');
      weights.forEach((w, i) => lab.add(`d${i}`, w));
      const lookup = (lab.sched as MhScheduler).lookup;
      const dests = lab.svc.dests;
      const lws = dests.map((d) => d.lastWeight);
      const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
      const g = lws.filter((w) => w > 0).reduce((a, w) => (a === 0 ? w : gcd(w, a)), 0);
      if (g === 0) {
        assert.ok(lookup.every((d) => d === null));
        return;
      }
      const rshift = Math.max(0, 32 - Math.clz32(Math.floor(Math.max(...lws) / g)) - 6);
      const turns = lws.map((w) => Math.floor(w / g) >> rshift || (w > 0 ? 1 : 0));
      // Whole rounds of sum(turns) slots, then a partial round in list order.
      const total = turns.reduce((a, b) => a + b, 0);
      let rem = M % total;
      const expected = turns.map((t) => {
        const extra = Math.min(t, rem);
        rem -= extra;
        return Math.floor(M / total) * t + extra;
      });
      const counts = dests.map((d) => lookup.filter((x) => x === d).length);
      assert.deepEqual(counts, expected);
    }),
    { numRuns: 60 },
  );
});

test('mh property: removing a dest moves few slots that it did not own (minimal disruption)', () => {
  let worst = 0;
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 16 }),
      fc.nat(),
      (weights, pick) => {
        const lab = new Lab('mh');
        weights.forEach((w, i) => lab.add(`d${i}`, w));
        const before = (lab.sched as MhScheduler).lookup.slice();
        const victim = lab.svc.dests[pick % lab.svc.dests.length];
        lab.del(victim);
        const after = (lab.sched as MhScheduler).lookup;
        let kept = 0;
        let moved = 0;
        for (let i = 0; i < M; i++) {
          if (before[i] === victim) continue;
          kept++;
          if (after[i] !== before[i]) moved++;
        }
        worst = Math.max(worst, moved / kept);
        // Measured over 200 configurations of 3..16 dests: worst 2.2%, mean 1.1% (Maglev §3.4 trades
        // a little disruption for even shares).
        assert.ok(moved / kept <= 0.05, `${moved} of ${kept} slots moved`);
        for (let i = 0; i < M; i++) if (before[i] === victim) assert.notEqual(after[i], victim);
      },
    ),
    { numRuns: 40 },
  );
  assert.ok(worst > 0, 'removal does disturb a few slots (the test can tell)');
});

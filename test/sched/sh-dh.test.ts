import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SCHED_FALLBACK, SCHED_PORT } from '../../src/model/flags.ts';
import type { DhScheduler } from '../../src/sched/dh.ts';
import { hash32 } from '../../src/sched/hash.ts';
import type { ShScheduler } from '../../src/sched/sh.ts';
import { Lab, pkt4, pkt6, pktNum } from './helpers.ts';

// hash_32(v, 8) = top 8 bits of (v * 0x61C88647 mod 2^32). Worked by hand (long multiplication
// mod 2^32, checked with Python's integers, not with this code):
//   10.0.0.1      = 0x0A000001 → 0x27C88647 → bucket 0x27 = 39
//   10.0.0.2      = 0x0A000002 → 0x89910C8E → bucket 0x89 = 137 (also 10.0.0.1 + port 1)
//   10.0.0.3      = 0x0A000003 → 0xEB5992D5 → bucket 0xEB = 235
//   192.168.1.100 = 0xC0A80164 → 0x5972BABC → bucket 0x59 = 89
//   2001:db8::1   fold = 0x20010DB8 ^ 0 ^ 0 ^ 1 = 0x20010DB9 → 0x3F01A44F → bucket 0x3F = 63

test('hash32 matches the hand-computed buckets', () => {
  assert.equal(hash32(0x0a000001, 8), 39);
  assert.equal(hash32(0x0a000002, 8), 137);
  assert.equal(hash32(0x0a000003, 8), 235);
  assert.equal(hash32(0xc0a80164, 8), 89);
  assert.equal(hash32(0x20010db9, 8), 63);
  // 10 bits (lblc): top 10 bits of 0x27C88647 = 0b0010011111 = 159
  assert.equal(hash32(0x0a000001, 10), 159);
});

function shLab(flags = 0): Lab {
  // Added A 3, B 2, C 1 → list C B A.
  const lab = new Lab('sh', { flags });
  lab.add('A', 3);
  lab.add('B', 2);
  lab.add('C', 1);
  return lab;
}

test('sh: bucket layout — each dest takes `weight` consecutive buckets, cycling the list', () => {
  // List C(1) B(2) A(3): C | B B | A A A, repeating with period 6; 256 = 42*6 + 4, so the table
  // ends in the middle of a round: buckets 252..255 are C B B A.
  const lab = shLab();
  const names = (lab.sched as ShScheduler).buckets.map((d) => lab.name(d));
  assert.deepEqual(names.slice(0, 12), ['C', 'B', 'B', 'A', 'A', 'A', 'C', 'B', 'B', 'A', 'A', 'A']);
  assert.deepEqual(names.slice(252), ['C', 'B', 'B', 'A']);
  assert.equal(names.filter((n) => n === 'A').length, 42 * 3 + 1);
});

test('sh: a weight-0 dest still takes one bucket (and lookups landing there fail)', () => {
  const lab = new Lab('sh');
  lab.add('A', 2);
  lab.add('Z', 0);
  // list Z A: Z | A A | Z | A A ...
  const names = (lab.sched as ShScheduler).buckets.map((d) => lab.name(d));
  assert.deepEqual(names.slice(0, 6), ['Z', 'A', 'A', 'Z', 'A', 'A']);
  // 10.0.0.3 → bucket 235 = 3*78 + 1 → A; 10.0.0.2 → 137 = 3*45 + 2 → A; 192.168.1.100 → 89 = 3*29 + 2 → A
  // 10.0.0.1 → 39 = 3*13 → Z (weight 0): no destination.
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.3', 1, '192.0.2.1', 80))), 'A');
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.1', 1, '192.0.2.1', 80))), '-');
});

test('sh: golden client → dest', () => {
  const lab = shLab();
  // bucket mod 6 → [C, B, B, A, A, A]
  const cases: [string, string][] = [
    ['10.0.0.1', 'A'], // 39 % 6 = 3
    ['10.0.0.2', 'A'], // 137 % 6 = 5
    ['10.0.0.3', 'B'], // 235 % 6 = 1
  ];
  for (const [src, want] of cases)
    assert.equal(lab.name(lab.sched.schedule(pkt4(src, 5555, '192.0.2.1', 80))), want, src);
  assert.equal(lab.name(lab.sched.schedule(pkt4('192.168.1.100', 1, '192.0.2.1', 80))), 'A'); // 89 % 6 = 5
});

test('sh: IPv6 clients hash their folded address', () => {
  const lab = new Lab('sh', { af: 6 });
  lab.add('A', 3);
  lab.add('B', 2);
  lab.add('C', 1);
  // 2001:db8::1 → bucket 63, 63 % 6 = 3 → A
  assert.equal(lab.name(lab.sched.schedule(pkt6('2001:db8::1', 1, '2001:db8::100', 80))), 'A');
});

test('sh-port: the client port is added before hashing', () => {
  const lab = shLab(SCHED_PORT);
  // 10.0.0.1 port 1: hash_32(1 + 0x0A000001) = bucket 137 → 137 % 6 = 5 → A
  // 10.0.0.1 port 2: hash_32(0x0A000003) = 235 → 235 % 6 = 1 → B
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.1', 1, '192.0.2.1', 80))), 'A');
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.1', 2, '192.0.2.1', 80))), 'B');
  // Without the flag the port is ignored: 10.0.0.1 → 39 → A for any port.
  const plain = shLab();
  assert.equal(plain.name(plain.sched.schedule(pkt4('10.0.0.1', 2, '192.0.2.1', 80))), 'A');
});

test('sh: an overloaded target gives null; sh-fallback rehashes from the original bucket', () => {
  const lab = shLab();
  lab.overload('A');
  assert.equal(lab.name(lab.sched.schedule(pkt4('10.0.0.1', 1, '192.0.2.1', 80))), '-');
  const fb = shLab(SCHED_FALLBACK);
  fb.overload('A');
  // ihash = 39 (A, unavailable). offset 0: roffset = 39, bucket = (39 + 39) & 255 = 78,
  // 78 % 6 = 0 → C, available.
  assert.equal(fb.name(fb.sched.schedule(pkt4('10.0.0.1', 1, '192.0.2.1', 80))), 'C');
  fb.overload('C');
  // offset 0 → 78 (C, overloaded); offset 1: roffset 40 → (40 + 39) = 79, 79 % 6 = 1 → B.
  assert.equal(fb.name(fb.sched.schedule(pkt4('10.0.0.1', 1, '192.0.2.1', 80))), 'B');
  fb.overload('B');
  assert.equal(fb.name(fb.sched.schedule(pkt4('10.0.0.1', 1, '192.0.2.1', 80))), '-');
});

test('sh-fallback: the probe starts at (roffset + ihash), not at the next bucket', () => {
  // 10.0.0.15 = 0x0A00000F → 0x80BFDE29 → ihash 128, 128 % 6 = 2 → B. With B overloaded:
  // offset 0: roffset 128, bucket (128 + 128) & 255 = 0 → C (available). A plain walk on from
  // bucket 128 would have found A at 129 instead.
  const fb = shLab(SCHED_FALLBACK);
  fb.overload('B');
  assert.equal(fb.name(fb.sched.schedule(pkt4('10.0.0.15', 1, '192.0.2.1', 80))), 'C');
});

test('sh: the table is rebuilt on add, delete and edit', () => {
  const lab = shLab();
  lab.edit('A', 1); // list C B A with weights 1 2 1: C B B A, period 4
  let names = (lab.sched as ShScheduler).buckets.map((d) => lab.name(d));
  assert.deepEqual(names.slice(0, 8), ['C', 'B', 'B', 'A', 'C', 'B', 'B', 'A']);
  lab.del('B'); // C A
  names = (lab.sched as ShScheduler).buckets.map((d) => lab.name(d));
  assert.deepEqual(names.slice(0, 4), ['C', 'A', 'C', 'A']);
  lab.del('C');
  lab.del('A');
  assert.ok((lab.sched as ShScheduler).buckets.every((d) => d === null));
  assert.equal(lab.picks(1), '-');
});

test('dh: one bucket per dest per round, keyed by the destination address', () => {
  const lab = new Lab('dh');
  lab.add('A', 1);
  lab.add('B', 5);
  lab.add('C', 1);
  // list C B A; weights ignored: bucket i → [C, B, A][i % 3]
  const names = (lab.sched as DhScheduler).buckets.map((d) => lab.name(d));
  assert.deepEqual(names.slice(0, 6), ['C', 'B', 'A', 'C', 'B', 'A']);
  // destination 10.0.0.1 → 39 % 3 = 0 → C; 10.0.0.2 → 137 % 3 = 2 → A; the source is irrelevant.
  assert.equal(lab.name(lab.sched.schedule(pkt4('198.51.100.7', 1, '10.0.0.1', 80))), 'C');
  assert.equal(lab.name(lab.sched.schedule(pkt4('198.51.100.8', 9, '10.0.0.1', 80))), 'C');
  assert.equal(lab.name(lab.sched.schedule(pkt4('198.51.100.7', 1, '10.0.0.2', 80))), 'A');
  // weight 0 or OVERLOAD at the target: null (no fallback); an edit does not rebuild the table
  lab.edit('C', 0);
  assert.equal(lab.name(lab.sched.schedule(pkt4('198.51.100.7', 1, '10.0.0.1', 80))), '-');
  lab.edit('C', 1);
  lab.overload('A');
  assert.equal(lab.name(lab.sched.schedule(pkt4('198.51.100.7', 1, '10.0.0.2', 80))), '-');
});

test('sh/dh property: same key, same dest while the table is unchanged (connection counts do not matter)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 65535 })), {
        minLength: 1,
        maxLength: 20,
      }),
      fc.array(fc.nat({ max: 1000 }), { minLength: 8, maxLength: 8 }),
      (weights, clients, load) => {
        for (const name of ['sh', 'dh'] as const) {
          const lab = new Lab(name, { flags: SCHED_PORT });
          weights.forEach((w, i) => lab.add(`d${i}`, w));
          const first = clients.map(([a, p]) => lab.sched.schedule(pktNum(a, p, a ^ 0x5a5a5a5a, 80)));
          lab.svc.dests.forEach((d, i) => lab.conns(d, load[i], load[i] * 3));
          const again = clients.map(([a, p]) => lab.sched.schedule(pktNum(a, p, a ^ 0x5a5a5a5a, 80)));
          assert.deepEqual(again, first);
          for (const d of first) assert.ok(d !== null);
        }
      },
    ),
  );
});

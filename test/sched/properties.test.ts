import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Dest } from '../../src/model/dest.ts';
import { DestFlag, SCHEDULER_NAMES, SCHED_FALLBACK, SCHED_PORT } from '../../src/model/flags.ts';
import type { SchedName } from '../../src/model/flags.ts';
import { createScheduler, isSchedulerName } from '../../src/sched/index.ts';
import { Lab, pktNum } from './helpers.ts';

type Op =
  | { k: 'pick'; src: number; sport: number; dst: number }
  | { k: 'add'; w: number }
  | { k: 'del'; i: number }
  | { k: 'edit'; i: number; w: number }
  | { k: 'overload'; i: number; on: boolean }
  | { k: 'conns'; i: number; active: number; inact: number }
  | { k: 'time'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('pick' as const),
      src: fc.integer({ min: 0, max: 0xffffffff }),
      sport: fc.integer({ min: 0, max: 65535 }),
      dst: fc.integer({ min: 0, max: 15 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('add' as const), w: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('del' as const), i: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('edit' as const), i: fc.nat(), w: fc.integer({ min: 0, max: 5 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('overload' as const), i: fc.nat(), on: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('conns' as const),
      i: fc.nat(),
      active: fc.integer({ min: 0, max: 20 }),
      inact: fc.integer({ min: 0, max: 50 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 3_600_000 }) }),
  },
);

const usable = (d: Dest): boolean => (d.flags & DestFlag.OVERLOAD) === 0 && d.weight > 0;

/** Schedulers that pick from the whole list: they fail only when no dest is usable. */
const LIST_BASED: ReadonlySet<SchedName> = new Set<SchedName>([
  'rr',
  'wrr',
  'lc',
  'wlc',
  'sed',
  'nq',
  'fo',
  'twos',
  'lblcr',
]);

test('property: no scheduler picks a weight-0 or OVERLOAD dest, or a dest not in the list', () => {
  for (const name of SCHEDULER_NAMES) {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 3 }),
        (ops, f) => {
          const lab = new Lab(name, { flags: (f & 1 ? SCHED_FALLBACK : 0) | (f & 2 ? SCHED_PORT : 0) });
          let n = 0;
          for (const op of ops) {
            const dests = lab.svc.dests;
            const at = (i: number): Dest | undefined => (dests.length ? dests[i % dests.length] : undefined);
            switch (op.k) {
              case 'add':
                lab.add(`d${n++}`, op.w);
                break;
              case 'del': {
                const d = at(op.i);
                if (d) lab.del(d);
                break;
              }
              case 'edit': {
                const d = at(op.i);
                if (d) lab.edit(d, op.w);
                break;
              }
              case 'overload': {
                const d = at(op.i);
                if (d) lab.overload(d, op.on);
                break;
              }
              case 'conns': {
                const d = at(op.i);
                if (d) lab.conns(d, op.active, op.inact);
                break;
              }
              case 'time':
                lab.env.t += op.ms;
                lab.sched.tick?.(lab.env.t);
                break;
              case 'pick': {
                const got = lab.sched.schedule(pktNum(op.src, op.sport, 0x0a630000 + op.dst, 80));
                if (got !== null) {
                  assert.ok(dests.includes(got), `${name}: picked a dest outside the list`);
                  assert.ok(got.weight > 0, `${name}: picked weight ${got.weight}`);
                  // lblc reuses a cached dest without looking at the OVERLOAD flag (ip_vs_lblc.c).
                  if (name !== 'lblc')
                    assert.equal(got.flags & DestFlag.OVERLOAD, 0, `${name}: picked OVERLOAD`);
                }
                const any = dests.some(usable);
                if (LIST_BASED.has(name)) assert.equal(got !== null, any, `${name}: null iff nothing usable`);
                if (name === 'lblc' && any) assert.ok(got !== null);
                if (name === 'ovf')
                  assert.equal(
                    got !== null,
                    dests.some((d) => usable(d) && d.activeConns <= d.weight),
                  );
                break;
              }
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  }
});

/** Naive least-ratio: the first usable dest minimising cost/weight, exact with BigInt. */
function naiveLeast(dests: readonly Dest[], cost: (d: Dest) => bigint, weighted: boolean): Dest | null {
  let best: Dest | null = null;
  for (const d of dests) {
    if (!usable(d)) continue;
    if (best === null) {
      best = d;
      continue;
    }
    const better = weighted
      ? cost(d) * BigInt(best.weight) < cost(best) * BigInt(d.weight)
      : cost(d) < cost(best);
    if (better) best = d;
  }
  return best;
}

const overhead = (d: Dest): bigint => BigInt(d.activeConns) * 256n + BigInt(d.inactConns);

const loadArb = fc.array(
  fc.record({
    w: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 65535 })),
    active: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 1_000_000 })),
    inact: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 5_000_000 })),
    over: fc.boolean(),
  }),
  { minLength: 1, maxLength: 10 },
);

function loaded(name: SchedName, spec: { w: number; active: number; inact: number; over: boolean }[]): Lab {
  const lab = new Lab(name);
  spec.forEach((s, i) => {
    const d = lab.add(`d${i}`, s.w);
    lab.conns(d, s.active, s.inact);
    lab.overload(d, s.over);
  });
  return lab;
}

test('property: lc and wlc pick the first minimum of a naive scan (overhead, overhead/weight)', () => {
  fc.assert(
    fc.property(loadArb, (spec) => {
      const lc = loaded('lc', spec);
      assert.equal(lc.sched.schedule(pktNum(1, 1, 1, 80)), naiveLeast(lc.svc.dests, overhead, false));
      const wlc = loaded('wlc', spec);
      assert.equal(wlc.sched.schedule(pktNum(1, 1, 1, 80)), naiveLeast(wlc.svc.dests, overhead, true));
    }),
    { numRuns: 500 },
  );
});

test('property: sed picks the first minimum of (active + 1)/weight; nq the first idle, else sed', () => {
  const sedCost = (d: Dest): bigint => BigInt(d.activeConns) + 1n;
  fc.assert(
    fc.property(loadArb, (spec) => {
      const sed = loaded('sed', spec);
      assert.equal(sed.sched.schedule(pktNum(1, 1, 1, 80)), naiveLeast(sed.svc.dests, sedCost, true));
      const nq = loaded('nq', spec);
      const idle = nq.svc.dests.find((d) => usable(d) && d.activeConns === 0) ?? null;
      assert.equal(nq.sched.schedule(pktNum(1, 1, 1, 80)), idle ?? naiveLeast(nq.svc.dests, sedCost, true));
    }),
    { numRuns: 500 },
  );
});

test('property: rr visits every usable dest once per round, in list order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }), (weights) => {
      const lab = new Lab('rr');
      weights.forEach((w, i) => lab.add(`d${i}`, w));
      const order = lab.svc.dests.filter((d) => d.weight > 0);
      const got = Array.from({ length: order.length * 3 }, () => lab.sched.schedule(pktNum(1, 1, 1, 80)));
      assert.deepEqual(got, [...order, ...order, ...order]);
    }),
  );
});

test('property: twos only draws among usable dests and picks one of its two draws', () => {
  fc.assert(
    fc.property(
      loadArb,
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 2, maxLength: 2 }),
      (spec, draws) => {
        const lab = loaded('twos', spec);
        const usableDests = lab.svc.dests.filter(usable);
        lab.env.draws.push(...draws);
        const got = lab.sched.schedule(pktNum(1, 1, 1, 80));
        if (usableDests.length === 0) return assert.equal(got, null);
        // Walk as the kernel does to find the two draws' dests.
        const total = usableDests.reduce((a, d) => a + d.weight, 0) + 1;
        const landing = (r: number): Dest => {
          let x = r % total;
          for (const d of usableDests) {
            x -= d.weight;
            if (x <= 0) return d;
          }
          throw new Error('unreachable');
        };
        const c1 = landing(draws[0]);
        const c2 = landing(draws[1]);
        assert.ok(got === c1 || got === c2);
      },
    ),
    { numRuns: 300 },
  );
});

test('registry: 14 names, each creating its own scheduler', () => {
  assert.equal(SCHEDULER_NAMES.length, 14);
  for (const name of SCHEDULER_NAMES) {
    assert.ok(isSchedulerName(name));
    const lab = new Lab(name);
    const s = createScheduler(name, lab.svc, lab.env);
    assert.equal(s.name, name);
  }
  for (const bad of ['', 'RR', 'wrr ', 'lbl', 'toString', '__proto__', 'constructor'])
    assert.equal(isSchedulerName(bad), false, bad);
});

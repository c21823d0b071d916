/**
 * wlc's tournament tree against the kernel's scan (wlcLeast, itself checked against a BigInt
 * reference in leastconn.test.ts), with the counters moved the way they really move: a Pipeline
 * opening, establishing, closing and resetting conns, conns expiring, real servers edited
 * (weights, thresholds so OVERLOAD comes and goes), added and deleted. After every step the
 * scheduler's pick must be the scan's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Lab } from '../datapath/fixture.ts';
import { Fwd } from '../../src/model/flags.ts';
import { addr4 } from '../../src/model/addr.ts';
import { wlcLeast } from '../../src/sched/common.ts';
import { tcp4 } from '../helpers/packet.ts';
import { newSchedPacket } from '../../src/sched/types.ts';

const RS = ['192.168.10.1', '192.168.10.2', '192.168.10.3'];

type Step =
  | { k: 'pkt'; client: number; port: number; flags: number }
  | { k: 'time'; ms: number }
  | { k: 'edit'; rs: number; weight: number; u: number; l: number }
  | { k: 'del'; rs: number }
  | { k: 'add'; rs: number; weight: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('pkt' as const),
      client: fc.integer({ min: 1, max: 6 }),
      port: fc.integer({ min: 1000, max: 1007 }),
      flags: fc.constantFrom(0x02, 0x10, 0x11, 0x04, 0x02),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('time' as const),
      ms: fc.constantFrom(1000, 5000, 70_000, 200_000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('edit' as const),
      rs: fc.integer({ min: 0, max: 2 }),
      weight: fc.integer({ min: 0, max: 4 }),
      u: fc.integer({ min: 0, max: 4 }),
      l: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('del' as const), rs: fc.integer({ min: 0, max: 2 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('add' as const),
      rs: fc.integer({ min: 0, max: 2 }),
      weight: fc.integer({ min: 0, max: 4 }),
    }),
  },
);

test('property: the tree picks what the kernel scan picks, through real conn traffic and edits', () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
      const lab = new Lab();
      const key = lab.addService('10.0.0.100:80', { sched: 'wlc' });
      for (const rs of RS) lab.addDest(key, `${rs}:80`, Fwd.DROUTE);
      const svc = lab.services.list[0];
      const pkt = newSchedPacket();
      for (const s of steps) {
        if (s.k === 'pkt') {
          lab.run(
            tcp4({
              src: `203.0.113.${s.client}`,
              dst: '10.0.0.100',
              sport: s.port,
              dport: 80,
              flags: s.flags,
              seq: 1,
            }),
          );
        } else if (s.k === 'time') {
          lab.now += s.ms;
          lab.pipe.tick(lab.now);
        } else {
          const a = addr4(0xc0a80a01 + s.rs);
          const has = svc.dests.some((d) => d.addr.v4 === a.v4);
          const opts = { addr: a, port: 80, fwd: Fwd.DROUTE, tunType: 0, tunPort: 0, tunFlags: 0 } as const;
          if (s.k === 'edit' && has)
            lab.services.editDest(key, {
              ...opts,
              weight: s.weight,
              uThreshold: s.u,
              lThreshold: Math.min(s.l, s.u),
            });
          else if (s.k === 'del' && has && svc.dests.length > 1) lab.services.delDest(key, a, 80);
          else if (s.k === 'add' && !has)
            lab.services.addDest(key, { ...opts, weight: s.weight, uThreshold: 0, lThreshold: 0 });
        }
        assert.equal(svc.sched!.schedule(pkt), wlcLeast(svc.dests), `after ${JSON.stringify(s)}`);
      }
    }),
    { numRuns: 300 },
  );
});

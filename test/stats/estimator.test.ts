import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Stats } from '../../src/model/stats.ts';
import {
  EST_MAX_CATCHUP,
  EST_PERIOD_MS,
  Estimator,
  estimate,
  readRates,
  zeroEstimator,
} from '../../src/stats/estimator.ts';

/**
 * BigInt model of the kernel's arithmetic, written from ip_vs_chain_estimation and
 * ip_vs_read_estimator: u64 counters and averages, `rate` as u64, the difference cast to s64 and
 * shifted arithmetically, the sum wrapped back to u64.
 */
interface RefEst {
  last: bigint[];
  avg: bigint[];
}
const U64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const S64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const SHIFTS = [9n, 9n, 9n, 4n, 4n];

function refStep(e: RefEst, counters: bigint[]): void {
  for (let i = 0; i < 5; i++) {
    const rate = U64((counters[i] - e.last[i]) << SHIFTS[i]);
    e.last[i] = counters[i];
    e.avg[i] = U64(e.avg[i] + ((S64(rate) - S64(e.avg[i])) >> 2n));
  }
}

function refRead(e: RefEst): bigint[] {
  return [
    U64(e.avg[0] + 0x1ffn) >> 10n,
    U64(e.avg[1] + 0x1ffn) >> 10n,
    U64(e.avg[2] + 0x1ffn) >> 10n,
    U64(e.avg[3] + 0xfn) >> 5n,
    U64(e.avg[4] + 0xfn) >> 5n,
  ];
}

function counters(s: Stats): number[] {
  return [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes];
}
function averages(s: Stats): number[] {
  return [s.cps, s.inpps, s.outpps, s.inbps, s.outbps];
}
function add(s: Stats, d: readonly number[]): void {
  s.conns += d[0];
  s.inpkts += d[1];
  s.outpkts += d[2];
  s.inbytes += d[3];
  s.outbytes += d[4];
}

test('a constant 1000 conns/s reads 999 after 26 steps and 1000 from step 27 on', () => {
  // 1000 conns/s = 2000 conns per 2-s period; rate = 2000 << 9 = 1 024 000 (1000 scaled by 2^10).
  // With d = rate - cps, each step does cps += floor(d / 4), i.e. d' = d - floor(d / 4):
  //   d0 = 1 024 000; d1 = 768 000 (cps 256 000); d2 = 576 000 (cps 448 000);
  //   d3 = 432 000; d4 = 324 000; d5 = 243 000; d6 = 243 000 - 60 750 = 182 250; ...
  //   d24 = 1029; d25 = 1029 - 257 = 772; d26 = 772 - 193 = 579; d27 = 579 - 144 = 435.
  // Read-out is (cps + 511) >> 10, which is 1000 iff cps >= 1 024 000 - 511, i.e. d <= 511:
  //   step 26: (1 023 421 + 511) >> 10 = 1 023 932 >> 10 = 999
  //   step 27: (1 023 565 + 511) >> 10 = 1 024 076 >> 10 = 1000
  // The fixed point is d = 3 (floor(3/4) = 0), reached at step 46: cps = 1 023 997.
  const s = new Stats();
  const seen: number[] = [];
  for (let n = 1; n <= 60; n++) {
    s.conns += 2000;
    estimate(s);
    seen[n] = s.cps;
    if (n === 1) assert.equal(s.cps, 256000);
    if (n === 2) assert.equal(s.cps, 448000);
    if (n === 6) assert.equal(s.cps, 1024000 - 182250);
    if (n === 26) {
      assert.equal(s.cps, 1023421);
      assert.equal(readRates(s).cps, 999);
    }
    if (n === 27) {
      assert.equal(s.cps, 1023565);
      assert.equal(readRates(s).cps, 1000);
    }
  }
  assert.equal(seen[45], 1024000 - 4);
  assert.equal(seen[46], 1024000 - 3);
  assert.equal(s.cps, 1023997);
  assert.equal(readRates(s).cps, 1000);
  assert.equal(s.lastConns, 120000);
});

test('decay after traffic stops uses the floor of a negative shift', () => {
  // From cps = 1 024 000 with no new conns: rate = 0, so cps += floor(-cps / 4):
  //   1 024 000 → 768 000 → 576 000; and at small values 5 → 5 + floor(-5/4) = 5 - 2 = 3,
  //   3 → 3 + floor(-3/4) = 2, 2 → 1, 1 → 0, 0 → 0 (a truncating division would stick at 1..3).
  const s = new Stats();
  s.cps = 1024000;
  estimate(s);
  assert.equal(s.cps, 768000);
  estimate(s);
  assert.equal(s.cps, 576000);
  s.cps = 5;
  const tail = [];
  for (let i = 0; i < 5; i++) {
    estimate(s);
    tail.push(s.cps);
  }
  assert.deepEqual(tail, [3, 2, 1, 0, 0]);
});

test('byte rates are scaled by 2^5 and read back rounded (inbps, outbps)', () => {
  // 1 000 000 bytes/s = 2 000 000 per period; rate = 2 000 000 << 4 = 32 000 000;
  // one step: inbps = 32e6 >> 2 = 8 000 000; read-out (8e6 + 15) >> 5 = 250 000.
  // outbps from 3 bytes: rate = 48, avg = 12, read-out (12 + 15) >> 5 = 0 (27 < 32).
  const s = new Stats();
  s.inbytes = 2_000_000;
  s.outbytes = 3;
  estimate(s);
  assert.equal(s.inbps, 8_000_000);
  assert.equal(s.outbps, 12);
  const r = readRates(s);
  assert.equal(r.inbps, 250_000);
  assert.equal(r.outbps, 0);
});

test('large byte counts beyond 2^32 stay exact (where `>>` on int32 would be wrong)', () => {
  // 40 GB in one period: rate = 4e10 << 4 = 6.4e11; avg = 6.4e11 >> 2 = 1.6e11 (> 2^31).
  // Then a lull: rate 0, avg = 1.6e11 + floor(-1.6e11 / 4) = 1.2e11. Read-out 1.2e11 + 15 >> 5 =
  // floor(3 750 000 000.47) = 3 750 000 000 bytes/s.
  const s = new Stats();
  s.inbytes = 40e9;
  estimate(s);
  assert.equal(s.inbps, 160e9);
  estimate(s);
  assert.equal(s.inbps, 120e9);
  assert.equal(readRates(s).inbps, 3_750_000_000);
});

test('readRates rounds with +0x1FF / +0xF: an exact half rounds down', () => {
  const s = new Stats();
  s.cps = 512; // 0.5 scaled: (512 + 511) >> 10 = 0
  s.inpps = 513; // just above a half: (513 + 511) >> 10 = 1
  s.outpps = 1023 * 1024 + 511; // (1 047 552 + 511 + 511) >> 10 = 1023 (1048574 < 1048576)
  s.inbps = 16; // 0.5 scaled by 2^5: (16 + 15) >> 5 = 0
  s.outbps = 17; // (17 + 15) >> 5 = 1
  const out = { cps: -1, inpps: -1, outpps: -1, inbps: -1, outbps: -1 };
  const r = readRates(s, out);
  assert.equal(r, out);
  assert.deepEqual(r, { cps: 0, inpps: 1, outpps: 1023, inbps: 0, outbps: 1 });
});

test('zeroEstimator restarts from the current counters', () => {
  const s = new Stats();
  add(s, [100, 200, 300, 4000, 5000]);
  estimate(s);
  assert.ok(s.cps > 0);
  add(s, [7, 7, 7, 7, 7]);
  zeroEstimator(s);
  assert.deepEqual(averages(s), [0, 0, 0, 0, 0]);
  assert.deepEqual([s.lastConns, s.lastInpkts, s.lastOutpkts, s.lastInbytes, s.lastOutbytes], counters(s));
  // The increase before the reset is forgotten: 2 new conns → rate 1024, avg 256.
  s.conns += 2;
  estimate(s);
  assert.equal(s.cps, 256);
  assert.equal(s.inpps, 0);
});

// Per-period increases inside the documented exact range (conns/pkts < 2^44, bytes < 2^49),
// with the counters themselves staying below 2^53.
const smallDelta = fc.oneof(fc.nat(10), fc.nat(100_000), fc.integer({ min: 0, max: 2 ** 44 - 1 }));
const byteDelta = fc.oneof(fc.nat(1500), fc.nat(2 ** 31), fc.integer({ min: 0, max: 2 ** 49 - 1 }));
const period = fc.tuple(smallDelta, smallDelta, smallDelta, byteDelta, byteDelta);

test('property: estimate and readRates are bit-identical to the BigInt kernel model', () => {
  fc.assert(
    fc.property(fc.array(period, { minLength: 1, maxLength: 60 }), fc.boolean(), (periods, zeroMid) => {
      const s = new Stats();
      const e: RefEst = { last: [0n, 0n, 0n, 0n, 0n], avg: [0n, 0n, 0n, 0n, 0n] };
      periods.forEach((d, i) => {
        add(s, d);
        if (zeroMid && i === periods.length >> 1) {
          zeroEstimator(s);
          e.last = counters(s).map(BigInt);
          e.avg = [0n, 0n, 0n, 0n, 0n];
        }
        estimate(s);
        refStep(e, counters(s).map(BigInt));
        assert.deepEqual(averages(s).map(BigInt), e.avg);
        const r = readRates(s);
        assert.deepEqual([r.cps, r.inpps, r.outpps, r.inbps, r.outbps].map(BigInt), refRead(e));
      });
    }),
    { numRuns: 300 },
  );
});

test('Estimator runs one step per 2000 ms on a fixed grid', () => {
  const est = new Estimator(10_000);
  const a = new Stats();
  const b = new Stats();
  est.add(a);
  est.add(b);
  est.add(a);
  assert.equal(est.size, 2);
  assert.equal(est.tick(11_999), 0);
  a.conns = 2000;
  assert.equal(est.tick(12_000), 1); // due at 12 000
  assert.equal(a.cps, 256000);
  assert.equal(b.cps, 0);
  assert.equal(est.tick(13_999), 0);
  assert.equal(est.tick(14_500), 1); // due at 14 000; next stays 16 000, not 16 500
  assert.equal(est.nextDue, 16_000);
  assert.equal(a.cps, 256000 + Math.floor((0 - 256000) / 4));
  assert.ok(est.remove(b));
  assert.ok(!est.remove(b));
  assert.ok(!est.has(b));
});

test('Estimator catch-up: a late tick at a steady rate gives what punctual ticks give', () => {
  // 1000 conns/s. Punctual: 6 steps of +2000 each. Late: one tick 12 s late sees +12 000 and
  // spreads it as six periods of +2000 — the same six steps.
  const punctual = new Stats();
  const late = new Stats();
  const e1 = new Estimator(0);
  const e2 = new Estimator(0);
  e1.add(punctual);
  e2.add(late);
  for (let t = 2000; t <= 12_000; t += 2000) {
    punctual.conns += 2000;
    punctual.inbytes += 3_000_001;
    assert.equal(e1.tick(t), 1);
  }
  late.conns += 12_000;
  late.inbytes += 6 * 3_000_001;
  assert.equal(e2.tick(12_500), 6);
  assert.deepEqual(averages(late), averages(punctual));
  assert.deepEqual(counters(late), counters(punctual));
  assert.equal(late.lastConns, 12_000);
  assert.equal(e2.nextDue, 14_000);
});

test('Estimator catch-up: uneven increases are spread so the shares add up exactly', () => {
  // 7 conns over 3 periods: floor(7i/3) = 2, 4, 7 → shares 2, 2, 3.
  // Steps: rate 1024 → cps 256; rate 1024 → 256 + 192 = 448; rate 1536 → 448 + 272 = 720.
  const s = new Stats();
  const est = new Estimator(0);
  est.add(s);
  s.conns = 7;
  assert.equal(est.tick(6000), 3);
  assert.equal(s.cps, 720);
  assert.equal(s.conns, 7);
  assert.equal(s.lastConns, 7);
});

test('Estimator catch-up beyond EST_MAX_CATCHUP runs only the last steps', () => {
  // 100 periods late at 1 conn per period: the first 84 are consumed, 16 steps run, each with
  // rate 512. Same as 16 punctual steps of +1 from zero.
  const s = new Stats();
  const est = new Estimator(0);
  est.add(s);
  s.conns = 100;
  assert.equal(est.tick(100 * EST_PERIOD_MS), 100);
  const ref = new Stats();
  for (let i = 0; i < EST_MAX_CATCHUP; i++) {
    ref.conns += 1;
    estimate(ref);
  }
  assert.equal(s.cps, ref.cps);
  assert.equal(s.lastConns, 100);
  assert.equal(s.conns, 100);
});

test('Estimator restarts its grid after the clock jumps back', () => {
  const est = new Estimator(100_000);
  assert.equal(est.tick(50_000), 0);
  assert.equal(est.nextDue, 52_000);
  assert.equal(est.tick(52_000), 1);
});

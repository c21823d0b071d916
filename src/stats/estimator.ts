/**
 * The IPVS rate estimator (ip_vs_est.c): every 2 s each Stats object folds the counter increase
 * of the last period into exponentially weighted averages,
 *
 *     avg += (rate - avg) / 4          (W = 2^-2, so roughly the last 8 s dominate)
 *
 * in fixed point: connection and packet rates are kept scaled by 2^10, byte rates by 2^5. The
 * "per second" division by the 2-s period is folded into the scaling (shift by 9 and 4 instead of
 * 10 and 5). The kernel does this in u64/s64 with an arithmetic right shift of a possibly
 * negative difference; here the same values are computed in doubles:
 *
 *  - `x >> 2` of a signed 64-bit value rounds toward minus infinity, which is Math.floor(x / 4);
 *    division by a power of two is exact in a double, so the result is exact;
 *  - every intermediate stays an integer below 2^53 (and so exact) as long as the counters are
 *    below 2^53 and, per 2-s period, conns/pkts grow by less than 2^44 and bytes by less than
 *    2^49 (about 8.8e12 conns/s and 2.8e14 bytes/s, far beyond any link). Within that range the
 *    results are bit-identical to the kernel's; test/stats checks this against a BigInt model.
 *
 * The counters are assumed monotonic between `zeroEstimator` calls (the kernel's are: -Z keeps
 * them and moves a reference point instead). Stats.zero() resets counters and estimator state
 * together, which keeps that true.
 */
import type { Stats } from '../model/stats.ts';

/** The estimation period (the kernel's 2*HZ timer, or IPVS_EST_NTICKS ticks in ≥ 6.2). */
export const EST_PERIOD_MS = 2000;

/**
 * Most steps run by one late tick. Beyond this the older average keeps a weight of at most
 * (3/4)^16 ≈ 1 %, so more steps would change nothing that matters and only cost time.
 */
export const EST_MAX_CATCHUP = 16;

/** Decoded rates, per second: what `ipvsadm -L --rate` shows. */
export interface Rates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

/** One average update with the kernel's signed shift: avg + ((rate - avg) >> 2). */
function ewma(avg: number, rate: number): number {
  return avg + Math.floor((rate - avg) / 4);
}

/**
 * One 2-s estimation step for the counters as they are now (ip_vs_chain_estimation; the classic
 * estimation_timer did the same per stats object).
 */
export function estimate(s: Stats): void {
  // Scaled by 2^10 but divided by 2 s: << 9.
  s.cps = ewma(s.cps, (s.conns - s.lastConns) * 512);
  s.lastConns = s.conns;
  s.inpps = ewma(s.inpps, (s.inpkts - s.lastInpkts) * 512);
  s.lastInpkts = s.inpkts;
  s.outpps = ewma(s.outpps, (s.outpkts - s.lastOutpkts) * 512);
  s.lastOutpkts = s.outpkts;
  // Scaled by 2^5 but divided by 2 s: << 4.
  s.inbps = ewma(s.inbps, (s.inbytes - s.lastInbytes) * 16);
  s.lastInbytes = s.inbytes;
  s.outbps = ewma(s.outbps, (s.outbytes - s.lastOutbytes) * 16);
  s.lastOutbytes = s.outbytes;
}

/**
 * The rates per second, rounded as ip_vs_read_estimator does: add just under one half of the
 * scale, then shift (so an exact half rounds down). Pass `out` to avoid allocating.
 */
export function readRates(s: Stats, out?: Rates): Rates {
  const r = out ?? { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
  r.cps = Math.floor((s.cps + 0x1ff) / 1024);
  r.inpps = Math.floor((s.inpps + 0x1ff) / 1024);
  r.outpps = Math.floor((s.outpps + 0x1ff) / 1024);
  r.inbps = Math.floor((s.inbps + 0xf) / 32);
  r.outbps = Math.floor((s.outbps + 0xf) / 32);
  return r;
}

/**
 * Restarts estimation from the current counters (ip_vs_zero_estimator): the next step measures
 * only what arrives from now on, and all averages start again from zero.
 */
export function zeroEstimator(s: Stats): void {
  s.lastConns = s.conns;
  s.lastInpkts = s.inpkts;
  s.lastOutpkts = s.outpkts;
  s.lastInbytes = s.inbytes;
  s.lastOutbytes = s.outbytes;
  s.cps = s.inpps = s.outpps = s.inbps = s.outbps = 0;
}

/**
 * One increment of `total` spread over `k` periods: the share of period i (1-based) is
 * floor(total*i/k) - floor(total*(i-1)/k), so the shares add up to exactly `total`.
 */
function share(total: number, i: number, k: number): number {
  return Math.floor((total * i) / k) - Math.floor((total * (i - 1)) / k);
}

/**
 * Runs `estimate` over a set of Stats every EST_PERIOD_MS of an injected clock. Steps stay on a
 * fixed 2-s grid from `start` (late ticks do not make the grid drift).
 *
 * Late ticks: when k > 1 periods are due at once, the increase seen since the last step is
 * spread evenly over the k periods and k steps are run, so a steady rate reads the same as with
 * punctual ticks. (The kernel cannot know how the increase was spread either; its kthread just
 * runs the missed ticks back to back, which credits the whole increase to the first of them and
 * shows a spike.) When k > EST_MAX_CATCHUP, the increase of the oldest k - EST_MAX_CATCHUP
 * periods is consumed without a step. Stays exact in the range given at the top of this file as
 * long as increase × EST_MAX_CATCHUP stays below 2^53.
 */
export class Estimator {
  private readonly list: Stats[] = [];
  private next: number;

  /** @param start the injected clock's time when estimation starts (ms). */
  constructor(start: number) {
    this.next = start + EST_PERIOD_MS;
  }

  /** Starts estimating `s` (ip_vs_start_estimator). Adding twice has no effect. */
  add(s: Stats): void {
    if (!this.list.includes(s)) this.list.push(s);
  }

  /** Stops estimating `s` (ip_vs_stop_estimator); returns false when it was not there. */
  remove(s: Stats): boolean {
    const i = this.list.indexOf(s);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  has(s: Stats): boolean {
    return this.list.includes(s);
  }

  get size(): number {
    return this.list.length;
  }

  /** Time (ms) at which the next step is due. */
  get nextDue(): number {
    return this.next;
  }

  /** Runs the steps due at `now` (ms); returns how many periods were due (0 when none). */
  tick(now: number): number {
    if (now < this.next) {
      // A clock that jumped back by more than a period: restart the grid rather than stall.
      if (now < this.next - 2 * EST_PERIOD_MS) this.next = now + EST_PERIOD_MS;
      return 0;
    }
    const k = Math.floor((now - this.next) / EST_PERIOD_MS) + 1;
    this.next += k * EST_PERIOD_MS;
    if (k === 1) {
      for (const s of this.list) estimate(s);
    } else {
      for (const s of this.list) catchUp(s, k);
    }
    return k;
  }
}

/** k late periods for one Stats: see Estimator. */
function catchUp(s: Stats, k: number): void {
  const conns = s.conns - s.lastConns;
  const inpkts = s.inpkts - s.lastInpkts;
  const outpkts = s.outpkts - s.lastOutpkts;
  const inbytes = s.inbytes - s.lastInbytes;
  const outbytes = s.outbytes - s.lastOutbytes;
  // Restore the real counters at the end; in between, present each period's share to estimate().
  const endConns = s.conns;
  const endInpkts = s.inpkts;
  const endOutpkts = s.outpkts;
  const endInbytes = s.inbytes;
  const endOutbytes = s.outbytes;
  const first = k > EST_MAX_CATCHUP ? k - EST_MAX_CATCHUP : 0;
  if (first > 0) {
    // Consumed without a step: the counters the grid would have seen at period `first`.
    s.lastConns += Math.floor((conns * first) / k);
    s.lastInpkts += Math.floor((inpkts * first) / k);
    s.lastOutpkts += Math.floor((outpkts * first) / k);
    s.lastInbytes += Math.floor((inbytes * first) / k);
    s.lastOutbytes += Math.floor((outbytes * first) / k);
  }
  for (let i = first + 1; i <= k; i++) {
    s.conns = s.lastConns + share(conns, i, k);
    s.inpkts = s.lastInpkts + share(inpkts, i, k);
    s.outpkts = s.lastOutpkts + share(outpkts, i, k);
    s.inbytes = s.lastInbytes + share(inbytes, i, k);
    s.outbytes = s.lastOutbytes + share(outbytes, i, k);
    estimate(s);
  }
  s.conns = endConns;
  s.inpkts = endInpkts;
  s.outpkts = endOutpkts;
  s.inbytes = endInbytes;
  s.outbytes = endOutbytes;
}

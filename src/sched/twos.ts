/**
 * twos: power of two choices (ip_vs_twos.c). Two dests are drawn at random, each with probability
 * proportional to its weight, and the less loaded of the two (overhead / weight) is used.
 *
 * The draws are prandom_u32() % (total weight + 1), so a draw of 0 and a draw of the total both
 * land on a dest; the walk subtracts each usable dest's weight and takes the first dest where the
 * remainder reaches <= 0. The final comparison multiplies C ints without widening, so, like the
 * kernel, it wraps at 32 bits (Math.imul) when weight * overhead passes 2^31.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD, connOverhead } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

export class TwosScheduler implements Scheduler {
  readonly name = 'twos' as const;
  private readonly svc: Service;
  private readonly env: SchedEnv;

  constructor(svc: Service, env: SchedEnv) {
    this.svc = svc;
    this.env = env;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_twos_schedule
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    const n = dests.length;
    let total = 0;
    // As in the kernel, choice1 starts as the last usable dest (only kept if no draw lands).
    let choice1: Dest | null = null;
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) === 0 && d.weight > 0) {
        total = (total + d.weight) | 0;
        choice1 = d;
      }
    }
    if (choice1 === null) return null;
    // Inclusive range [0, total]; the two draws are taken in this order.
    total = (total + 1) | 0;
    let r1 = ((this.env.random() >>> 0) % (total >>> 0)) | 0;
    let r2 = ((this.env.random() >>> 0) % (total >>> 0)) | 0;
    let choice2: Dest | null = null;
    let weight1 = -1;
    let weight2 = -1;
    let overhead1 = 0;
    let overhead2 = 0;
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) !== 0) continue;
      const w = d.weight;
      if (w <= 0) continue;
      r1 = (r1 - w) | 0;
      r2 = (r2 - w) | 0;
      if (r1 <= 0 && weight1 === -1) {
        choice1 = d;
        weight1 = w;
        overhead1 = connOverhead(d);
      }
      if (r2 <= 0 && weight2 === -1) {
        choice2 = d;
        weight2 = w;
        overhead2 = connOverhead(d);
      }
      if (weight1 !== -1 && weight2 !== -1) break;
    }
    if (choice2 !== null && Math.imul(weight2, overhead1) > Math.imul(weight1, overhead2)) return choice2;
    return choice1;
  }
}

export function createTwos(svc: Service, env: SchedEnv): Scheduler {
  return new TwosScheduler(svc, env);
}

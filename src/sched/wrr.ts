/**
 * wrr: weighted round robin (ip_vs_wrr.c). State {cl, cw, mw, di}: the current position (list
 * head or a dest), the current weight threshold, the top threshold and the step. Each pass over the
 * list picks every non-overloaded dest with weight >= cw; at the end of the list cw drops by di,
 * and below 1 it starts again at mw. di is the gcd of the positive weights and mw is the largest
 * weight minus (di - 1), so the last pass of a cycle runs at cw = 1.
 *
 * With list order A, B, C and weights 4, 3, 2 a cycle reads A | A B | A B C | A B C.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD } from './common.ts';
import { gcd } from './hash.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

const HEAD = -1;

export class WrrScheduler implements Scheduler {
  readonly name = 'wrr' as const;
  private readonly svc: Service;
  /** Index of the current dest in svc.dests, or HEAD. */
  private cl = HEAD;
  private cw = 0;
  private mw = 0;
  private di = 1;

  // ip_vs_wrr_init_svc
  constructor(svc: Service) {
    this.svc = svc;
    this.di = this.gcdWeight();
    this.mw = this.maxWeight() - (this.di - 1);
    this.cw = this.mw;
  }

  /** Exposed for tests and debugging: {cl, cw, mw, di} with cl as a list index (-1 = head). */
  get mark(): { cl: number; cw: number; mw: number; di: number } {
    return { cl: this.cl, cw: this.cw, mw: this.mw, di: this.di };
  }

  // ip_vs_wrr_gcd_weight: gcd of the weights > 0, or 1 when there are none.
  private gcdWeight(): number {
    let g = 0;
    for (const d of this.svc.dests) {
      const w = d.weight;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
    }
    return g > 0 ? g : 1;
  }

  // ip_vs_wrr_max_weight: over every dest, overloaded or not.
  private maxWeight(): number {
    let m = 0;
    for (const d of this.svc.dests) if (d.weight > m) m = d.weight;
    return m;
  }

  // ip_vs_wrr_dest_changed: back to the head; cw is kept where it is unless it no longer fits, and
  // with di > 1 it is moved onto the new grid (a multiple of di, plus 1).
  private destChanged(): void {
    this.cl = HEAD;
    this.di = this.gcdWeight();
    this.mw = this.maxWeight() - (this.di - 1);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }

  addDest(_dest: Dest): void {
    this.destChanged();
  }

  delDest(_dest: Dest, _formerIndex: number): void {
    this.destChanged();
  }

  updDest(_dest: Dest): void {
    this.destChanged();
  }

  // ip_vs_wrr_schedule
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    const n = dests.length;
    if (this.cl >= n) this.cl = HEAD;
    if (this.mw === 0) return null;
    const last = this.cl;
    let i = this.cl;
    let stop = -2;
    let lastPass = false;
    let restarted = false;
    for (;;) {
      for (i++; i < n; i++) {
        const d = dests[i];
        if ((d.flags & F_OVERLOAD) === 0 && d.weight >= this.cw) {
          this.cl = i;
          return d;
        }
        if (i === stop) {
          // "all destinations are overloaded": the position stays on the stop dest.
          this.cl = i;
          return null;
        }
      }
      i = HEAD;
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        // A full pass at cw = 1 has already looked at every dest: give up (position at the head).
        if (lastPass || last === HEAD) {
          this.cl = HEAD;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      // The first pass at w >= 1 only covered the dests after `last`; finish at `last` itself.
      if (lastPass && restarted && last !== HEAD) stop = last;
    }
  }
}

export function createWrr(svc: Service, _env: SchedEnv): Scheduler {
  return new WrrScheduler(svc);
}

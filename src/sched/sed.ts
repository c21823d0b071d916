/**
 * sed: shortest expected delay (ip_vs_sed.c). As wlc, but the cost is (active + 1) / weight:
 * inactive connections are ignored and the incoming connection is counted.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD, mulGt } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

/** ip_vs_sed_dest_overhead: active connections plus the one being scheduled (unsigned int). */
export function sedOverhead(d: Dest): number {
  return (d.activeConns + 1) >>> 0;
}

export class SedScheduler implements Scheduler {
  readonly name = 'sed' as const;
  private readonly svc: Service;

  constructor(svc: Service) {
    this.svc = svc;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_sed_schedule: first usable dest, then strictly-better later non-overloaded dests.
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    const n = dests.length;
    let i = 0;
    let least: Dest | null = null;
    for (; i < n; i++) {
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) === 0 && d.weight > 0) {
        least = d;
        break;
      }
    }
    if (least === null) return null;
    let loh = sedOverhead(least);
    for (i++; i < n; i++) {
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) !== 0) continue;
      const doh = sedOverhead(d);
      if (mulGt(loh, d.weight, doh, least.weight)) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}

export function createSed(svc: Service, _env: SchedEnv): Scheduler {
  return new SedScheduler(svc);
}

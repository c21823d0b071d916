/**
 * nq: never queue (ip_vs_nq.c). The first idle dest (no active connections) in list order gets the
 * connection at once; when none is idle, the sed rule (active + 1) / weight decides.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD, mulGt } from './common.ts';
import { sedOverhead } from './sed.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

export class NqScheduler implements Scheduler {
  readonly name = 'nq' as const;
  private readonly svc: Service;

  constructor(svc: Service) {
    this.svc = svc;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_nq_schedule
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    let least: Dest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) !== 0 || d.weight === 0) continue;
      // An idle server is returned directly.
      if (d.activeConns === 0) return d;
      const doh = sedOverhead(d);
      if (least === null || mulGt(loh, d.weight, doh, least.weight)) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}

export function createNq(svc: Service, _env: SchedEnv): Scheduler {
  return new NqScheduler(svc);
}

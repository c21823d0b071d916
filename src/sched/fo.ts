/**
 * fo: weighted fail over (ip_vs_fo.c). All new connections go to the non-overloaded dest with the
 * highest weight; the first one in list order wins a tie, and weight 0 never wins.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

export class FoScheduler implements Scheduler {
  readonly name = 'fo' as const;
  private readonly svc: Service;

  constructor(svc: Service) {
    this.svc = svc;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_fo_schedule: strictly greater than the best so far, starting from 0.
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    let best: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) === 0 && d.weight > hw) {
        best = d;
        hw = d.weight;
      }
    }
    return best;
  }
}

export function createFo(svc: Service, _env: SchedEnv): Scheduler {
  return new FoScheduler(svc);
}

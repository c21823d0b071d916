/**
 * ovf: overflow connection (ip_vs_ovf.c). The highest-weight dest whose active connections do not
 * exceed its weight takes the connection; once it is full the next one in weight order does.
 * Only active connections count, so it suits TCP better than UDP.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

export class OvfScheduler implements Scheduler {
  readonly name = 'ovf' as const;
  private readonly svc: Service;

  constructor(svc: Service) {
    this.svc = svc;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_ovf_schedule: skip overloaded, full (active > weight) and weight-0 dests; the first of
  // the highest weight wins.
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    let best: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      const w = d.weight;
      if ((d.flags & F_OVERLOAD) !== 0 || d.activeConns > w || w === 0) continue;
      if (best === null || w > hw) {
        best = d;
        hw = w;
      }
    }
    return best;
  }
}

export function createOvf(svc: Service, _env: SchedEnv): Scheduler {
  return new OvfScheduler(svc);
}

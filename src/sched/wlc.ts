/**
 * wlc: weighted least connection, the default scheduler (ip_vs_wlc.c). Minimises
 * overhead / weight, compared as overhead1 * weight2 > overhead2 * weight1 in 64 bits so there is
 * no division; weight-0 dests never win and the first dest wins a tie.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { wlcLeast } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

export class WlcScheduler implements Scheduler {
  readonly name = 'wlc' as const;
  private readonly svc: Service;

  constructor(svc: Service) {
    this.svc = svc;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_wlc_schedule
  schedule(_pkt: SchedPacket): Dest | null {
    return wlcLeast(this.svc.dests);
  }
}

export function createWlc(svc: Service, _env: SchedEnv): Scheduler {
  return new WlcScheduler(svc);
}

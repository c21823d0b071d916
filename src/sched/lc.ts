/**
 * lc: least connection (ip_vs_lc.c). The dest with the smallest connection overhead (active * 256
 * + inactive) among those not overloaded and with a non-zero weight; the first one wins a tie.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD, connOverhead } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

export class LcScheduler implements Scheduler {
  readonly name = 'lc' as const;
  private readonly svc: Service;

  constructor(svc: Service) {
    this.svc = svc;
  }

  addDest(_dest: Dest): void {}
  delDest(_dest: Dest, _formerIndex: number): void {}
  updDest(_dest: Dest): void {}

  // ip_vs_lc_schedule: the overhead is compared as an unsigned int, strictly less to replace.
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    let least: Dest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) !== 0 || d.weight === 0) continue;
      const doh = connOverhead(d) >>> 0;
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}

export function createLc(svc: Service, _env: SchedEnv): Scheduler {
  return new LcScheduler(svc);
}

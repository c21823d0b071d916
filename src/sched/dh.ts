/**
 * dh: destination hashing (ip_vs_dh.c). A 256-bucket table maps hash(destination address) to a
 * dest; the table holds the dests in list order, one bucket each per round (weights are not used),
 * and is rebuilt when a dest is added or deleted. A lookup that lands on a dest that is not
 * available, has weight <= 0 or is overloaded fails; there is no fallback.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_AVAILABLE, F_OVERLOAD } from './common.ts';
import { hash32 } from './hash.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

/** CONFIG_IP_VS_DH_TAB_BITS default. */
export const DH_TAB_BITS = 8;
export const DH_TAB_SIZE = 1 << DH_TAB_BITS;

/** ip_vs_dh_hashkey: hash_32(ntohl(addr_fold), 8). */
export function dhHashkey(fold: number): number {
  return hash32(fold, DH_TAB_BITS);
}

export class DhScheduler implements Scheduler {
  readonly name = 'dh' as const;
  private readonly svc: Service;
  readonly buckets: (Dest | null)[] = new Array<Dest | null>(DH_TAB_SIZE).fill(null);

  // ip_vs_dh_init_svc
  constructor(svc: Service) {
    this.svc = svc;
    this.reassign();
  }

  // ip_vs_dh_reassign: bucket i holds the (i mod n)-th dest of the list.
  private reassign(): void {
    const dests = this.svc.dests;
    const n = dests.length;
    for (let i = 0; i < DH_TAB_SIZE; i++) this.buckets[i] = n === 0 ? null : dests[i % n];
  }

  // ip_vs_dh_dest_changed on add and delete; dh has no upd_dest (weights do not shape the table).
  addDest(_dest: Dest): void {
    this.reassign();
  }

  delDest(_dest: Dest, _formerIndex: number): void {
    this.reassign();
  }

  updDest(_dest: Dest): void {}

  // ip_vs_dh_schedule: keyed by the packet's destination address.
  schedule(pkt: SchedPacket): Dest | null {
    const d = this.buckets[dhHashkey(pkt.daddrFold)];
    if (d === null || (d.flags & F_AVAILABLE) === 0 || d.weight <= 0 || (d.flags & F_OVERLOAD) !== 0)
      return null;
    return d;
  }
}

export function createDh(svc: Service, _env: SchedEnv): Scheduler {
  return new DhScheduler(svc);
}

/**
 * sh: source hashing (ip_vs_sh.c). A 256-bucket table maps hash(client address [+ port]) to a
 * dest. The table is filled by walking the dest list round and round, each dest taking `weight`
 * consecutive buckets (a weight-0 dest still takes one), and is rebuilt on every add, delete and
 * edit. A lookup that lands on a dest with weight <= 0 or OVERLOAD fails, unless the service has
 * sh-fallback (flag-1), which probes further buckets. sh-port (flag-2) mixes the client port in.
 */
import type { Dest } from '../model/dest.ts';
import { SCHED_FALLBACK, SCHED_PORT } from '../model/flags.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD } from './common.ts';
import { hash32 } from './hash.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

/** CONFIG_IP_VS_SH_TAB_BITS default. */
export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const SH_TAB_MASK = SH_TAB_SIZE - 1;

/** ip_vs_sh_hashkey: (offset + hash_32(port + ntohl(addr_fold), 8)) & mask, in u32 arithmetic. */
export function shHashkey(fold: number, port: number, offset: number): number {
  return (offset + hash32((port + fold) >>> 0, SH_TAB_BITS)) & SH_TAB_MASK;
}

// is_unavailable: weight <= 0 or overloaded.
function unavailable(d: Dest): boolean {
  return d.weight <= 0 || (d.flags & F_OVERLOAD) !== 0;
}

export class ShScheduler implements Scheduler {
  readonly name = 'sh' as const;
  private readonly svc: Service;
  /** The bucket table (null when the service has no dests). */
  readonly buckets: (Dest | null)[] = new Array<Dest | null>(SH_TAB_SIZE).fill(null);

  // ip_vs_sh_init_svc
  constructor(svc: Service) {
    this.svc = svc;
    this.reassign();
  }

  // ip_vs_sh_reassign: cyclic walk, moving to the next dest once it holds `weight` buckets.
  private reassign(): void {
    const dests = this.svc.dests;
    const n = dests.length;
    if (n === 0) {
      this.buckets.fill(null);
      return;
    }
    let p = 0;
    let count = 0;
    for (let i = 0; i < SH_TAB_SIZE; i++) {
      const d = dests[p];
      this.buckets[i] = d;
      if (++count >= d.weight) {
        p = (p + 1) % n;
        count = 0;
      }
    }
  }

  // ip_vs_sh_dest_changed for add, delete and edit.
  addDest(_dest: Dest): void {
    this.reassign();
  }

  delDest(_dest: Dest, _formerIndex: number): void {
    this.reassign();
  }

  updDest(_dest: Dest): void {
    this.reassign();
  }

  // ip_vs_sh_schedule. The hash address is the packet's source (its fold); the port is the
  // source port only with sh-port (the caller passes 0 for protocols without ports).
  schedule(pkt: SchedPacket): Dest | null {
    const flags = this.svc.flags;
    const port = (flags & SCHED_PORT) !== 0 ? pkt.sport : 0;
    const fold = pkt.saddrFold;
    const ihash = shHashkey(fold, port, 0);
    let d = this.buckets[ihash];
    if (d === null) return null;
    if (!unavailable(d)) return d;
    if ((flags & SCHED_FALLBACK) === 0) return null;
    // ip_vs_sh_get_fallback: walk offsets from the original hash, rehashing each one.
    for (let offset = 0; offset < SH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % SH_TAB_SIZE;
      d = this.buckets[shHashkey(fold, port, roffset)];
      if (d === null) break;
      if (!unavailable(d)) return d;
    }
    return null;
  }
}

export function createSh(svc: Service, _env: SchedEnv): Scheduler {
  return new ShScheduler(svc);
}

/**
 * mh: Maglev hashing (ip_vs_mh.c, after the Maglev paper §3.4). Each dest gets a preference order
 * over the M = 4093 lookup slots, offset + j * skip (mod M), from two hsiphash values of its
 * address and port; dests then take turns claiming their next free preferred slot until every slot
 * is owned. A dest claims `turns` slots per round, its last non-zero weight divided by the gcd of
 * those weights and shifted right so the largest fits in 6 bits. Using the last non-zero weight
 * means that quiescing a dest (weight 0) does not reshuffle the table: its slots stay, and a
 * lookup landing on one fails, or with mh-fallback (flag-1) probes on. mh-port (flag-2) mixes the
 * client port into the hash.
 */
import type { Dest } from '../model/dest.ts';
import { SCHED_FALLBACK, SCHED_PORT } from '../model/flags.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD, foldAs } from './common.ts';
import { fls, gcd, hsiphashU32Mod, sipKey } from './hash.ts';
import type { SipKey } from './hash.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

/** primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] with the default index 12. */
export const MH_TAB_SIZE = 4093;
/** IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2. */
export const MH_TAB_BITS = 6;

/** generate_hash_secret: fixed keys, both words of each key the same (u64 on 64-bit kernels). */
export const MH_HASH1: SipKey = sipKey(0, 2654435761, 0, 2654435761);
export const MH_HASH2: SipKey = sipKey(0, 2654446892, 0, 2654446892);

/** ip_vs_mh_hashkey(...) % mod: hsiphash of the u32 offset + port + ntohl(addr_fold), reduced. */
export function mhHashkeyMod(fold: number, port: number, key: SipKey, offset: number, mod: number): number {
  return hsiphashU32Mod((offset + port + fold) >>> 0, key, mod);
}

// is_unavailable: weight <= 0 or overloaded.
function unavailable(d: Dest): boolean {
  return d.weight <= 0 || (d.flags & F_OVERLOAD) !== 0;
}

export class MhScheduler implements Scheduler {
  readonly name = 'mh' as const;
  private readonly svc: Service;
  /** The lookup table: slot → dest (all null when no dest has a last weight). */
  readonly lookup: (Dest | null)[] = new Array<Dest | null>(MH_TAB_SIZE).fill(null);
  private gcd = 0;
  private rshift = 0;
  // Scratch for a rebuild (control plane only).
  private readonly taken = new Uint8Array(MH_TAB_SIZE);

  // ip_vs_mh_init_svc
  constructor(svc: Service) {
    this.svc = svc;
    this.destChanged();
  }

  /** For tests: the table parameters of the last rebuild. */
  get params(): { gcd: number; rshift: number } {
    return { gcd: this.gcd, rshift: this.rshift };
  }

  // ip_vs_mh_gcd_weight: gcd of last weights > 0; 0 when there are none.
  private gcdWeight(): number {
    let g = 0;
    for (const d of this.svc.dests) {
      const w = d.lastWeight;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
    }
    return g;
  }

  // ip_vs_mh_shift_weight: how far to shift weight/gcd so the largest fits in MH_TAB_BITS bits.
  private shiftWeight(g: number): number {
    if (g < 1) return 0;
    let m = 0;
    for (const d of this.svc.dests) if (d.lastWeight > m) m = d.lastWeight;
    const shift = fls(Math.trunc(m / g)) - MH_TAB_BITS;
    return shift >= 0 ? shift : 0;
  }

  // ip_vs_mh_dest_changed (add, delete and edit), then ip_vs_mh_reassign.
  private destChanged(): void {
    this.gcd = this.gcdWeight();
    this.rshift = this.shiftWeight(this.gcd);
    const dests = this.svc.dests;
    const n = dests.length;
    // The kernel refuses more dests than slots (-EINVAL) and leaves the table as it was.
    if (n > MH_TAB_SIZE) return;
    // ip_vs_mh_populate with gcd < 1: no dest has a weight; empty the table.
    if (this.gcd < 1) {
      this.lookup.fill(null);
      return;
    }
    // ip_vs_mh_permutate: offset, skip and turns per dest, in list order.
    const af = this.svc.af;
    const skip = new Uint32Array(n);
    const perm = new Uint32Array(n);
    const turns = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      const fold = foldAs(af, d.addr);
      perm[i] = mhHashkeyMod(fold, d.port, MH_HASH1, 0, MH_TAB_SIZE);
      skip[i] = mhHashkeyMod(fold, d.port, MH_HASH2, 0, MH_TAB_SIZE - 1) + 1;
      const lw = d.lastWeight;
      const t = Math.trunc(lw / this.gcd) >> this.rshift;
      turns[i] = t !== 0 ? t : lw !== 0 ? 1 : 0;
    }
    // ip_vs_mh_populate: rounds over the list; each dest with turns >= 1 claims `turns` slots in
    // a row, each its next free preferred slot, until all M slots are owned.
    const taken = this.taken;
    taken.fill(0);
    let filled = 0;
    while (filled < MH_TAB_SIZE) {
      for (let i = 0; i < n; i++) {
        if (turns[i] < 1) continue;
        for (let t = 0; t < turns[i]; t++) {
          let c = perm[i];
          while (taken[c] !== 0) {
            c += skip[i];
            if (c >= MH_TAB_SIZE) c -= MH_TAB_SIZE;
          }
          perm[i] = c;
          taken[c] = 1;
          this.lookup[c] = dests[i];
          if (++filled === MH_TAB_SIZE) return;
        }
      }
    }
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

  // ip_vs_mh_schedule: keyed by the packet's source address (and source port with mh-port).
  schedule(pkt: SchedPacket): Dest | null {
    const flags = this.svc.flags;
    const port = (flags & SCHED_PORT) !== 0 ? pkt.sport : 0;
    const fold = pkt.saddrFold;
    const ihash = mhHashkeyMod(fold, port, MH_HASH1, 0, MH_TAB_SIZE);
    let d = this.lookup[ihash];
    if (d === null) return null;
    if (!unavailable(d)) return d;
    if ((flags & SCHED_FALLBACK) === 0) return null;
    // ip_vs_mh_get_fallback: rehash with offsets counted from the original slot.
    for (let offset = 0; offset < MH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % MH_TAB_SIZE;
      d = this.lookup[mhHashkeyMod(fold, port, MH_HASH1, roffset, MH_TAB_SIZE)];
      if (d === null) break;
      if (!unavailable(d)) return d;
    }
    return null;
  }
}

export function createMh(svc: Service, _env: SchedEnv): Scheduler {
  return new MhScheduler(svc);
}

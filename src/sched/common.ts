/**
 * Pieces several schedulers share: the connection overhead, the kernel's weighted comparisons done
 * exactly in doubles, the weighted least-connection pick, lblc's "is overloaded" rule, and the
 * address fold under the service's family. Everything here reads dests and allocates nothing.
 */
import type { IpAddr } from '../model/addr.ts';
import type { Dest } from '../model/dest.ts';
import type { Af } from '../model/flags.ts';
import { DestFlag } from '../model/flags.ts';

export const F_AVAILABLE = DestFlag.AVAILABLE;
export const F_OVERLOAD = DestFlag.OVERLOAD;

/**
 * ip_vs_dest_conn_overhead: active connections count 256 times an inactive one. Computed in C int
 * arithmetic (a shift and an add that wrap at 32 bits), as the kernel does.
 */
export function connOverhead(d: Dest): number {
  return ((d.activeConns << 8) + d.inactConns) | 0;
}

const TWO_53 = 2 ** 53;

/**
 * `(s64)a * b > (s64)c * d` exactly, for C ints a, c (|x| < 2^31) and weights b, d in [0, 2^31).
 * The kernel compares 64-bit products; a double holds them exactly only below 2^53 (always true
 * when weights stay under 2^22, so for anything ipvsadm accepts), so larger products fall back to
 * splitting b and d into 16-bit halves: a*bh - c*dh and a*bl - c*dl are exact (< 2^47), and the
 * sign of x*2^16 + y survives rounding because IEEE addition never flips a sign.
 */
export function mulGt(a: number, b: number, c: number, d: number): boolean {
  const p = a * b;
  const q = c * d;
  if (p < TWO_53 && p > -TWO_53 && q < TWO_53 && q > -TWO_53) return p > q;
  const bh = Math.floor(b / 65536);
  const dh = Math.floor(d / 65536);
  const x = a * bh - c * dh;
  const y = a * (b - bh * 65536) - c * (d - dh * 65536);
  return x * 65536 + y > 0;
}

/**
 * Weighted least-connection over the whole dest list (ip_vs_wlc_schedule, and the identical
 * __ip_vs_lblc_schedule / __ip_vs_lblcr_schedule): the first non-overloaded dest with weight > 0
 * starts as least; a later non-overloaded dest replaces it only when strictly less loaded, so ties
 * go to the earlier dest in list order.
 */
export function wlcLeast(dests: readonly Dest[]): Dest | null {
  const n = dests.length;
  let least: Dest | null = null;
  // The least dest's overhead and weight, kept in locals: the loop then reads each dest once.
  let loh = 0;
  let lw = 0;
  for (let i = 0; i < n; i++) {
    const d = dests[i];
    if ((d.flags & F_OVERLOAD) !== 0) continue;
    const w = d.weight;
    if (least === null) {
      if (w <= 0) continue;
    } else {
      const doh = ((d.activeConns << 8) + d.inactConns) | 0;
      // ip_vs_wlc_schedule: loh * dest.weight > doh * least.weight, as 64-bit products
      // Overheads are C ints (|x| < 2^31): with both weights under 2^22 the products are exact.
      if ((w | lw) < 0x400000 ? loh * w <= doh * lw : !mulGt(loh, w, doh, lw)) continue;
    }
    least = d;
    loh = ((d.activeConns << 8) + d.inactConns) | 0;
    lw = w;
  }
  return least;
}

/**
 * is_overloaded (ip_vs_lblc.c / ip_vs_lblcr.c): the dest has more active connections than its
 * weight and some dest of the service is under half its weight.
 */
export function lblcOverloaded(dest: Dest, dests: readonly Dest[]): boolean {
  if (dest.activeConns > dest.weight) {
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if (d.activeConns << 1 < d.weight) return true; // C int: activeconns * 2
    }
  }
  return false;
}

/**
 * ntohl(addr_fold) of an address as read under the service's family. An IPv4 service reading an
 * IPv6 dest (mixed-family tunnel dests) sees only the first word of the union, as the kernel's
 * `addr->ip` does; an IPv6 service reading an IPv4 address sees the address (the rest is zero).
 */
export function foldAs(svcAf: Af, a: IpAddr): number {
  if (svcAf === 4 && a.af === 6) {
    const b = a.v6!;
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  }
  return a.fold;
}

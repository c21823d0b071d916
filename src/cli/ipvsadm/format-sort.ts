/**
 * The order of `ipvsadm -L`: libipvs's comparators run by glibc's qsort.
 *
 * The comparators (ipvs_cmp_services, ipvs_cmp_dests) subtract unsigned 32-bit values and return
 * the difference as an int, so two values more than 2^31 apart compare the "wrong" way round
 * (200.0.0.1 sorts before 1.0.0.1; fwmark 0x80000001 before fwmark 0). The resulting relation is
 * not even transitive, so the output also depends on the sort algorithm: glibc's qsort is a
 * top-down merge sort (msort_with_tmp: left half n/2, right half the rest, ties take the left),
 * which is what `cSort` reproduces. For consistent inputs it is just a stable sort.
 *
 * Also here: the snapshot-level orderings built on them, and the kernel's service lookup.
 */
import type { ServiceSpec } from './args.ts';
import type { CAddr } from './format-c.ts';
import { addr4Words, decodeAddr } from './format-c.ts';
import type { DestSnap, IpvsSnapshot, SvcSnap } from './format.ts';

/** The int a C `unsigned - unsigned` returns when the result is converted to int. */
function wrapDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** glibc qsort (msort_with_tmp) over a copy of `items`. */
export function cSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const a = items.slice();
  const tmp = new Array<T>(a.length);
  msort(a, 0, a.length, tmp, cmp);
  return a;
}

function msort<T>(a: T[], lo: number, n: number, tmp: T[], cmp: (x: T, y: T) => number): void {
  if (n <= 1) return;
  const n1 = n >>> 1;
  const n2 = n - n1;
  msort(a, lo, n1, tmp, cmp);
  msort(a, lo + n1, n2, tmp, cmp);
  let i = lo;
  let j = lo + n1;
  const iEnd = lo + n1;
  const jEnd = lo + n;
  let k = 0;
  while (i < iEnd && j < jEnd) {
    if (cmp(a[i], a[j]) <= 0) tmp[k++] = a[i++];
    else tmp[k++] = a[j++];
  }
  while (i < iEnd) tmp[k++] = a[i++];
  // What is left of the right half is already in place.
  for (let m = 0; m < k; m++) a[lo + m] = tmp[m];
}

/** The sort key of a service as the kernel reports it. */
export interface SvcSortKey {
  readonly fwmark: number;
  /** AF_INET (2) or AF_INET6 (10): the comparator subtracts the socket-level numbers. */
  readonly afNum: number;
  readonly protocol: number;
  readonly addr: CAddr;
  readonly port: number;
}

/** ipvs_cmp_services: fwmark, family, protocol, address (word by word for IPv6), port. */
export function cmpServices(s1: SvcSortKey, s2: SvcSortKey): number {
  let r = wrapDiff(s1.fwmark >>> 0, s2.fwmark >>> 0);
  if (r !== 0) return r;
  r = s1.afNum - s2.afNum;
  if (r !== 0) return r;
  r = s1.protocol - s2.protocol;
  if (r !== 0) return r;
  r = cmpAddr(s1.afNum === AF_INET6, s1.addr, s2.addr);
  if (r !== 0) return r;
  return s1.port - s2.port;
}

/** The sort key of a dest. */
export interface DestSortKey {
  readonly addr: CAddr;
  readonly port: number;
}

/** ipvs_cmp_dests: address (all four words when the first dest is IPv6), then port. */
export function cmpDests(d1: DestSortKey, d2: DestSortKey): number {
  const r = cmpAddr(d1.addr.af === 6, d1.addr, d2.addr);
  if (r !== 0) return r;
  return d1.port - d2.port;
}

export const AF_INET = 2;
export const AF_INET6 = 10;

function cmpAddr(v6: boolean, a: CAddr, b: CAddr): number {
  if (!v6) return wrapDiff(a.words[0], b.words[0]);
  let r = 0;
  for (let i = 0; r === 0 && i < 4; i++) r = wrapDiff(a.words[i], b.words[i]);
  return r;
}

const ZERO6: CAddr = { af: 6, words: [0, 0, 0, 0], bytes: new Uint8Array(16) };

/** A service's address (unreadable text reads as the zero address of its family). */
export function svcAddr(s: SvcSnap): CAddr {
  return decodeAddr(s.af, s.addr) ?? (s.af === 6 ? ZERO6 : addr4Words(0));
}

/** A dest's address (unreadable text reads as the zero address of its family). */
export function destAddr(d: DestSnap): CAddr {
  return decodeAddr(d.af, d.addr) ?? (d.af === 6 ? ZERO6 : addr4Words(0));
}

/** The dests of a service in listing order (ipvs_sort_dests unless --nosort). */
export function sortedDests(s: SvcSnap, nosort: boolean): DestSnap[] {
  if (nosort) return s.dests.slice();
  const keyed = s.dests.map((d) => ({ d, addr: destAddr(d), port: d.port & 0xffff }));
  return cSort(keyed, cmpDests).map((k) => k.d);
}

/** The services in listing order (ipvs_sort_services unless --nosort). */
export function sortedServices(services: readonly SvcSnap[], nosort: boolean): SvcSnap[] {
  if (nosort) return services.slice();
  const keyed = services.map((s) => ({
    s,
    fwmark: s.fwmark >>> 0,
    afNum: s.af === 6 ? AF_INET6 : AF_INET,
    protocol: s.protocol & 0xffff,
    addr: svcAddr(s),
    port: s.port & 0xffff,
  }));
  return cSort(keyed, cmpServices).map((k) => k.s);
}

/**
 * The service a -t/-u/--sctp-service/-f argument names, found as the kernel finds it
 * (__ip_vs_svc_fwm_find by family and mark, or __ip_vs_service_find by the exact 4-tuple).
 */
export function findService(snap: IpvsSnapshot, spec: ServiceSpec): SvcSnap | null {
  for (const s of snap.services) {
    if (spec.fwmark > 0) {
      if (s.fwmark >>> 0 === spec.fwmark >>> 0 && s.af === spec.af) return s;
      continue;
    }
    if (spec.addr === null || s.fwmark !== 0 || s.af !== spec.af) continue;
    if (s.protocol !== spec.protocol || s.port !== spec.port) continue;
    const a = svcAddr(s);
    if (spec.af === 4) {
      if (a.words[0] === spec.addr.v4 >>> 0) return s;
    } else if (
      a.bytes !== null &&
      spec.addr.v6 !== null &&
      a.bytes.every((x, i) => x === spec.addr!.v6![i])
    ) {
      return s;
    }
  }
  return null;
}

/**
 * wlc: weighted least connection, the default scheduler (ip_vs_wlc.c). Minimises
 * overhead / weight, compared as overhead1 * weight2 > overhead2 * weight1 in 64 bits so there is
 * no division; weight-0 dests never win and the first dest wins a tie.
 *
 * The kernel scans the whole list for every new connection. Here a tournament tree over the list
 * positions keeps the answer: each inner node holds the better of its two children (the left,
 * i.e. earlier, one on a tie), so the root is exactly what the scan would return — the first dest
 * of least overhead/weight among those not OVERLOADED with weight > 0. A dest whose counters
 * change (ConnTable binds, unbinds or moves a conn between active and inactive: loadChanged) or
 * that is edited (updDest) is marked; the next schedule() replays the marked leaves up to the root,
 * O(log n) each, instead of O(n) per pick. List changes rebuild the tree. The one case the tree
 * cannot order like the scan — an overhead that wrapped negative (more than 2^23 active conns on
 * a dest), where the scan's order of visits matters — falls back to the scan itself.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD, connOverhead, mulGt, wlcLeast } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

export class WlcScheduler implements Scheduler {
  readonly name = 'wlc' as const;
  private readonly svc: Service;
  /** Leaves start at `size`; node i's children are 2i and 2i + 1; -1 = nobody eligible. */
  private tree = new Int32Array(2);
  private size = 1;
  private n = 0;
  private dirty = new Int32Array(0);
  private marked = new Uint8Array(0);
  private nDirty = 0;
  /** Some overhead wrapped negative since the last rebuild: use the kernel's scan. */
  private wrapped = false;

  constructor(svc: Service) {
    this.svc = svc;
    this.rebuild();
  }

  addDest(_dest: Dest): void {
    this.rebuild();
  }
  delDest(dest: Dest, _formerIndex: number): void {
    dest.schedSlot = -1;
    this.rebuild();
  }
  updDest(dest: Dest): void {
    this.loadChanged(dest);
  }

  loadChanged(dest: Dest): void {
    const i = dest.schedSlot;
    if (i < 0 || i >= this.n || this.svc.dests[i] !== dest) return;
    if (connOverhead(dest) < 0) this.wrapped = true;
    if (this.marked[i] === 0) {
      this.marked[i] = 1;
      this.dirty[this.nDirty++] = i;
    }
  }

  // ip_vs_wlc_schedule
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    if (this.wrapped || dests.length !== this.n) return wlcLeast(dests);
    const t = this.tree;
    for (let k = 0; k < this.nDirty; k++) {
      const i = this.dirty[k];
      this.marked[i] = 0;
      let node = (this.size + i) >> 1;
      while (node >= 1) {
        t[node] = this.better(t[2 * node], t[2 * node + 1]);
        node >>= 1;
      }
    }
    this.nDirty = 0;
    const w = t[1];
    return w < 0 ? null : dests[w];
  }

  /** Rebuilds the tree from the list (control plane: dests added or removed). */
  private rebuild(): void {
    const dests = this.svc.dests;
    const n = dests.length;
    // At least two leaves, so the root is always an inner node (a filtered winner, never a raw leaf).
    let size = 2;
    while (size < n) size *= 2;
    this.n = n;
    this.size = size;
    this.tree = new Int32Array(2 * size).fill(-1);
    this.dirty = new Int32Array(n);
    this.marked = new Uint8Array(n);
    this.nDirty = 0;
    this.wrapped = false;
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      d.schedSlot = i;
      if (connOverhead(d) < 0) this.wrapped = true;
      this.tree[size + i] = i;
    }
    for (let node = size - 1; node >= 1; node--)
      this.tree[node] = this.better(this.tree[2 * node], this.tree[2 * node + 1]);
  }

  /**
   * The winner of positions a < b (or -1s): b only if it is eligible and strictly better, as the
   * scan replaces its least only on a strictly smaller overhead/weight.
   */
  private better(a: number, b: number): number {
    const dests = this.svc.dests;
    if (b < 0 || b >= this.n) return a < this.n ? this.eligible(a) : -1;
    const ea = a >= 0 ? this.eligible(a) : -1;
    const eb = this.eligible(b);
    if (eb < 0) return ea;
    if (ea < 0) return eb;
    const da = dests[ea];
    const db = dests[eb];
    // ip_vs_wlc_schedule: loh * dest.weight > doh * least.weight, as 64-bit products
    return mulGt(connOverhead(da), db.weight, connOverhead(db), da.weight) ? eb : ea;
  }

  /** Position i itself if it may be picked (a leaf), else -1. */
  private eligible(i: number): number {
    if (i < 0 || i >= this.n) return -1;
    const d = this.svc.dests[i];
    return (d.flags & F_OVERLOAD) === 0 && d.weight > 0 ? i : -1;
  }
}

export function createWlc(svc: Service, _env: SchedEnv): Scheduler {
  return new WlcScheduler(svc);
}

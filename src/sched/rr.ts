/**
 * rr: round robin (ip_vs_rr.c). The state is a position in the dest list, either the list head
 * (before the first dest) or a dest; each pick walks on from there, wrapping once, to the next
 * dest that is not overloaded and has weight > 0.
 *
 * The kernel keeps a pointer to a list node; here the position is an index into `svc.dests`
 * (-1 for the head) plus the dest it names, and the index follows the list as dests are inserted
 * at the head or removed.
 */
import type { Dest } from '../model/dest.ts';
import type { Service } from '../model/service.ts';
import { F_OVERLOAD } from './common.ts';
import type { SchedEnv, SchedPacket, Scheduler } from './types.ts';

const HEAD = -1;

export class RrScheduler implements Scheduler {
  readonly name = 'rr' as const;
  private readonly svc: Service;
  private pos = HEAD;
  private cur: Dest | null = null;

  // ip_vs_rr_init_svc: start at the list head.
  constructor(svc: Service) {
    this.svc = svc;
  }

  // No add_dest in the kernel: the position stays on its node, which is now one further down.
  addDest(_dest: Dest): void {
    if (this.pos !== HEAD) this.pos++;
  }

  // ip_vs_rr_del_dest: if the position was on the removed dest, step back to the entry before it.
  delDest(dest: Dest, formerIndex: number): void {
    if (this.cur === dest) {
      this.pos = formerIndex - 1;
      this.cur = this.pos === HEAD ? null : this.svc.dests[this.pos];
    } else if (this.pos > formerIndex) {
      this.pos--;
    }
  }

  updDest(_dest: Dest): void {}

  // ip_vs_rr_schedule
  schedule(_pkt: SchedPacket): Dest | null {
    const dests = this.svc.dests;
    const n = dests.length;
    let start = this.pos;
    // Guard against a list changed behind our back: find the node again (indexOf allocates nothing).
    if (start !== HEAD && dests[start] !== this.cur)
      start = this.cur === null ? HEAD : dests.indexOf(this.cur);
    // From the head: one pass over the list. From a dest: the dests after it, then from the first
    // dest up to and including itself (the kernel's second pass stops at the starting node).
    // With the head as -1, both are the n positions after `start`, wrapping.
    for (let k = 0; k < n; k++) {
      const i = (start + 1 + k) % n;
      const d = dests[i];
      if ((d.flags & F_OVERLOAD) === 0 && d.weight > 0) {
        this.pos = i;
        this.cur = d;
        return d;
      }
    }
    // "no destination available": the position is left where it was.
    this.pos = start;
    return null;
  }
}

export function createRr(svc: Service, _env: SchedEnv): Scheduler {
  return new RrScheduler(svc);
}

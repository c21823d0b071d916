/**
 * A real server of one virtual service (struct ip_vs_dest). Plain object, control-plane owned;
 * the packet path reads it and the connection table updates its counters.
 */
import type { IpAddr } from './addr.ts';
import { DestFlag, FWD_MASK, ConnFlag, Fwd, TunType } from './flags.ts';
import type { Service } from './service.ts';
import { Stats } from './stats.ts';

export class Dest {
  /** Index in the DestRegistry; connections refer to dests by this number. */
  readonly id: number;
  readonly addr: IpAddr;
  readonly port: number;
  /** Owning service; kept while the dest sits in the trash so a revived dest returns to it. */
  svc: Service;
  /** Forwarding method plus INACTIVE and NOOUTPUT, as new connections inherit them. */
  connFlags = 0;
  weight = 1;
  /** Last non-zero weight (used by mh so that quiescing does not reshuffle the table). */
  lastWeight = 0;
  uThreshold = 0;
  lThreshold = 0;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  /** AVAILABLE | OVERLOAD. */
  flags = 0;
  tunType: TunType = TunType.IPIP;
  tunPort = 0;
  tunFlags = 0;
  /** References: connections and templates bound to this dest, plus lblc/lblcr cache entries. */
  refcnt = 0;
  /** While in the trash: when it may be freed (ms on the injected clock); otherwise 0. */
  trashExpires = 0;
  readonly stats = new Stats();
  /** The dest's position in its scheduler's index (wlc), or -1; owned by that scheduler. */
  schedSlot = -1;

  constructor(id: number, svc: Service, addr: IpAddr, port: number) {
    this.id = id;
    this.svc = svc;
    this.addr = addr;
    this.port = port;
  }

  /** Tells the service's scheduler that this dest's counters or OVERLOAD flag changed. */
  loadChanged(): void {
    const s = this.svc.sched;
    if (s !== null && s.loadChanged !== undefined) s.loadChanged(this);
  }

  get fwd(): Fwd {
    return (this.connFlags & FWD_MASK) as Fwd;
  }

  get available(): boolean {
    return (this.flags & DestFlag.AVAILABLE) !== 0;
  }

  get overloaded(): boolean {
    return (this.flags & DestFlag.OVERLOAD) !== 0;
  }

  /** Sets the forwarding method and the flags that follow from it (__ip_vs_update_dest). */
  setFwd(fwd: Fwd): void {
    let f = fwd | ConnFlag.INACTIVE;
    if (fwd !== Fwd.MASQ && fwd !== Fwd.FULLNAT) f |= ConnFlag.NOOUTPUT;
    this.connFlags = f;
  }
}

/**
 * Dests by id, so that typed-array tables can hold a dest as a number. Ids of freed dests are
 * reused. Only the control plane allocates and frees.
 */
export class DestRegistry {
  private readonly byId: (Dest | undefined)[] = [];
  private readonly freeIds: number[] = [];

  alloc(svc: Service, addr: IpAddr, port: number): Dest {
    const id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.byId.length;
    const d = new Dest(id, svc, addr, port);
    this.byId[id] = d;
    return d;
  }

  free(d: Dest): void {
    if (this.byId[d.id] !== d) return;
    this.byId[d.id] = undefined;
    this.freeIds.push(d.id);
  }

  get(id: number): Dest | undefined {
    return this.byId[id];
  }
}

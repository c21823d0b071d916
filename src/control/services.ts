/**
 * The service and dest tables (ip_vs_ctl.c). The control plane is the only writer; the packet
 * path only calls the find* methods, which allocate nothing.
 *
 * Every operation validates everything before changing anything, so a failed call leaves the
 * tables exactly as they were.
 */
import type { IpAddr } from '../model/addr.ts';
import { addrPortToString, ipAddrEquals } from '../model/addr.ts';
import type { Dest } from '../model/dest.ts';
import { DestRegistry } from '../model/dest.ts';
import { IpvsError, IpvsErrorCode } from '../model/errors.ts';
import type { Af, Fwd, SchedName, TunType } from '../model/flags.ts';
import {
  DEST_TRASH_PERIOD_MS,
  DestFlag,
  Fwd as FwdC,
  Proto,
  SvcFlag,
  TunType as TunTypeC,
} from '../model/flags.ts';
import { Service } from '../model/service.ts';
import { Stats } from '../model/stats.ts';
import { createScheduler, isSchedulerName } from '../sched/index.ts';
import type { SchedEnv } from '../sched/types.ts';
import { Estimator } from '../stats/estimator.ts';

/** Identifies a virtual service: <af, protocol, address, port> or <af, fwmark>. */
export interface ServiceKey {
  af: Af;
  /** IPPROTO_TCP / UDP / SCTP; ignored when fwmark > 0. */
  proto: number;
  addr: IpAddr | null;
  port: number;
  fwmark: number;
}

export interface ServiceOpts {
  sched: string;
  /** IP_VS_SVC_F_* (PERSISTENT, ONEPACKET, SCHED1..3). */
  flags: number;
  /** Persistence timeout, seconds. */
  timeout: number;
  /** IPv4 mask as uint32, or IPv6 prefix length. */
  netmask: number;
  pe: string;
  /** FullNAT local addresses. */
  laddrs?: IpAddr[];
}

export interface DestOpts {
  addr: IpAddr;
  port: number;
  fwd: Fwd;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: TunType;
  tunPort: number;
  tunFlags: number;
}

/** ip_vs_mh.c refuses more dests than table slots (IP_VS_MH_TAB_SIZE, 4093 by default). */
const MH_TAB_SIZE = 4093;

function protoIndex(proto: number): number {
  return proto === Proto.TCP ? 0 : proto === Proto.UDP ? 1 : proto === Proto.SCTP ? 2 : -1;
}

export class ServiceTable {
  readonly dests = new DestRegistry();
  /** Every service in creation order (listings sort their own way). */
  readonly list: Service[] = [];
  /** Deleted dests that connections may still reference, revivable for 120 s (ip_vs_trash_get_dest). */
  readonly trash: Dest[] = [];
  readonly total = new Stats();
  /** The 2-second rate estimator over the total, every service and every linked dest. */
  readonly estimator: Estimator;

  // IPv4 by protocol: key addr * 65536 + port (exact in a double). IPv6: key fold * 65536 + port
  // to a small list compared byte by byte. Fwmark services: by mark, per family.
  private readonly v4: Map<number, Service>[] = [
    new Map<number, Service>(),
    new Map<number, Service>(),
    new Map<number, Service>(),
  ];
  private readonly v6: Map<number, Service[]>[] = [
    new Map<number, Service[]>(),
    new Map<number, Service[]>(),
    new Map<number, Service[]>(),
  ];
  private readonly fwm4 = new Map<number, Service>();
  private readonly fwm6 = new Map<number, Service>();
  /**
   * IPv4 addresses tslvs owns on the wire — every service VIP and FullNAT local address, with a
   * reference count — so the data plane answers ARP for them (they are not on the host).
   */
  readonly owned4 = new Map<number, number>();
  /** Count of port-zero services; the catch-all lookup is skipped while 0 (ip_vs_service_find). */
  private portZero = 0;
  private nextSvcId = 1;
  private readonly env: SchedEnv;

  constructor(env: SchedEnv) {
    this.env = env;
    this.estimator = new Estimator(env.now());
    this.estimator.add(this.total);
  }

  // ---- packet-path lookups --------------------------------------------------------------

  /** ip_vs_service_find for IPv4: fwmark first, then exact, then the port-zero catch-all. */
  find4(proto: number, vaddr: number, vport: number, mark: number): Service | null {
    if (mark !== 0 && this.fwm4.size !== 0) {
      const s = this.fwm4.get(mark);
      if (s !== undefined) return s;
    }
    const pi = protoIndex(proto);
    if (pi < 0) return null;
    const m = this.v4[pi];
    const s = m.get(vaddr * 65536 + vport);
    if (s !== undefined) return s;
    if (this.portZero !== 0 && vport !== 0) {
      const z = m.get(vaddr * 65536);
      if (z !== undefined) return z;
    }
    return null;
  }

  /** ip_vs_service_find for IPv6, with the address read from `b` at `off`. */
  find6(
    proto: number,
    b: Uint8Array,
    off: number,
    fold: number,
    vport: number,
    mark: number,
  ): Service | null {
    if (mark !== 0 && this.fwm6.size !== 0) {
      const s = this.fwm6.get(mark);
      if (s !== undefined) return s;
    }
    const pi = protoIndex(proto);
    if (pi < 0) return null;
    const hit = this.scan6(this.v6[pi].get(fold * 65536 + vport), b, off);
    if (hit !== null) return hit;
    if (this.portZero !== 0 && vport !== 0) return this.scan6(this.v6[pi].get(fold * 65536), b, off);
    return null;
  }

  private scan6(list: Service[] | undefined, b: Uint8Array, off: number): Service | null {
    if (list === undefined) return null;
    for (let i = 0; i < list.length; i++) {
      const a = list[i].addr!.v6!;
      let j = 0;
      while (j < 16 && a[j] === b[off + j]) j++;
      if (j === 16) return list[i];
    }
    return null;
  }

  // ---- control operations -----------------------------------------------------------------

  /** Finds the service a control request names (ip_vs_service_find / __ip_vs_svc_fwm_find). */
  get(key: ServiceKey): Service | null {
    if (key.fwmark > 0) return (key.af === 4 ? this.fwm4 : this.fwm6).get(key.fwmark) ?? null;
    if (key.addr === null) return null;
    for (const s of this.list) {
      if (
        s.fwmark === 0 &&
        s.af === key.af &&
        s.proto === key.proto &&
        s.port === key.port &&
        ipAddrEquals(s.addr!, key.addr)
      )
        return s;
    }
    return null;
  }

  private validateServiceOpts(key: ServiceKey, o: ServiceOpts): SchedName {
    if (!isSchedulerName(o.sched))
      throw new IpvsError(IpvsErrorCode.NO_SCHEDULER, `unknown scheduler '${o.sched}'`);
    if (o.pe !== '' && o.pe !== 'sip')
      throw new IpvsError(IpvsErrorCode.NO_SCHEDULER, `unknown persistence engine '${o.pe}'`);
    if (key.fwmark === 0) {
      if (key.addr === null || key.addr.af !== key.af)
        throw new IpvsError(IpvsErrorCode.INVALID, 'service address missing or of the wrong family');
      if (protoIndex(key.proto) < 0)
        throw new IpvsError(IpvsErrorCode.INVALID, `unsupported protocol ${key.proto}`);
      if (key.port < 0 || key.port > 65535)
        throw new IpvsError(IpvsErrorCode.INVALID, `bad port ${key.port}`);
      // ip_vs_schedule refuses port-zero traffic for non-persistent services; refuse it up front.
      if (key.port === 0 && (o.flags & SvcFlag.PERSISTENT) === 0)
        throw new IpvsError(IpvsErrorCode.INVALID, 'Zero port specified for non-persistent service');
    } else if (key.fwmark > 0xffffffff) {
      throw new IpvsError(IpvsErrorCode.INVALID, `bad fwmark ${key.fwmark}`);
    }
    // ip_vs_add_service: an IPv6 persistence netmask is a prefix length 1..128.
    if (key.af === 6 && (o.netmask < 1 || o.netmask > 128))
      throw new IpvsError(IpvsErrorCode.INVALID, `bad IPv6 netmask ${o.netmask}`);
    if (o.timeout < 0) throw new IpvsError(IpvsErrorCode.INVALID, `bad timeout ${o.timeout}`);
    if ((o.flags & SvcFlag.ONEPACKET) !== 0 && key.fwmark === 0 && key.proto !== Proto.UDP)
      throw new IpvsError(IpvsErrorCode.INVALID, 'One-Packet Scheduling is only for UDP virtual services');
    for (const la of o.laddrs ?? [])
      if (la.af !== key.af)
        throw new IpvsError(IpvsErrorCode.AF_NOT_SUPPORTED, 'local address family differs');
    return o.sched;
  }

  /** ip_vs_add_service. */
  addService(key: ServiceKey, o: ServiceOpts): Service {
    const sched = this.validateServiceOpts(key, o);
    if (this.get(key) !== null)
      throw new IpvsError(IpvsErrorCode.SERVICE_EXISTS, `service ${this.keyName(key)} exists`);
    const svc = new Service(
      this.nextSvcId++,
      key.af,
      key.fwmark > 0 ? 0 : key.proto,
      key.fwmark > 0 ? null : key.addr,
      key.fwmark > 0 ? 0 : key.port,
      key.fwmark,
    );
    this.applyServiceOpts(svc, o, sched);
    svc.sched = createScheduler(sched, svc, this.env);
    this.list.push(svc);
    this.hash(svc);
    this.estimator.add(svc.stats);
    return svc;
  }

  /** ip_vs_edit_service: a new scheduler is bound (initialised from the current dest list). */
  editService(key: ServiceKey, o: ServiceOpts): Service {
    const svc = this.get(key);
    if (svc === null) throw new IpvsError(IpvsErrorCode.NO_SERVICE, `no service ${this.keyName(key)}`);
    const sched = this.validateServiceOpts(key, o);
    const schedChanged = sched !== svc.schedName;
    this.own(svc, -1);
    this.applyServiceOpts(svc, o, sched);
    this.own(svc, 1);
    if (schedChanged) {
      svc.sched?.done?.();
      svc.sched = createScheduler(sched, svc, this.env);
    }
    return svc;
  }

  private applyServiceOpts(svc: Service, o: ServiceOpts, sched: SchedName): void {
    svc.schedName = sched;
    svc.flags = o.flags & ~SvcFlag.HASHED;
    svc.timeout = o.timeout;
    svc.netmask = o.netmask;
    svc.peName = o.pe;
    svc.laddrs = o.laddrs ? [...o.laddrs] : [];
  }

  /** ip_vs_del_service: its dests go to the trash, where live connections still find them. */
  delService(key: ServiceKey): void {
    const svc = this.get(key);
    if (svc === null) throw new IpvsError(IpvsErrorCode.NO_SERVICE, `no service ${this.keyName(key)}`);
    this.unlinkService(svc);
  }

  /** ip_vs_flush: every service goes. */
  flush(): void {
    for (const svc of [...this.list]) this.unlinkService(svc);
  }

  private unlinkService(svc: Service): void {
    while (svc.dests.length > 0) this.unlinkDest(svc, svc.dests[0]);
    svc.sched?.done?.();
    this.unhash(svc);
    this.list.splice(this.list.indexOf(svc), 1);
    this.estimator.remove(svc.stats);
  }

  private validateDest(svc: Service, d: DestOpts): void {
    // ip_vs_add_dest / ip_vs_edit_dest checks, in the kernel's order.
    if (d.weight < 0 || d.weight > 0x7fffffff || !Number.isInteger(d.weight))
      throw new IpvsError(IpvsErrorCode.WEIGHT_RANGE, 'server weight less than zero');
    if (d.lThreshold > d.uThreshold)
      throw new IpvsError(IpvsErrorCode.THRESHOLD_RANGE, 'lower threshold is higher than upper threshold');
    if (d.tunType === TunTypeC.GUE && d.tunPort === 0)
      throw new IpvsError(IpvsErrorCode.TUNNEL_PORT_ZERO, 'tunnel port is zero');
    if (d.addr.af !== svc.af && d.fwd !== FwdC.TUNNEL)
      throw new IpvsError(
        IpvsErrorCode.AF_NOT_SUPPORTED,
        'Different address family is allowed only for tunneling servers',
      );
    if (d.fwd === FwdC.FULLNAT && svc.laddrs.length === 0)
      throw new IpvsError(IpvsErrorCode.INVALID, 'FullNAT needs at least one local address on the service');
    if (d.port < 0 || d.port > 65535) throw new IpvsError(IpvsErrorCode.INVALID, `bad port ${d.port}`);
  }

  private findDest(svc: Service, addr: IpAddr, port: number): Dest | null {
    for (const d of svc.dests) if (d.port === port && ipAddrEquals(d.addr, addr)) return d;
    return null;
  }

  /** ip_vs_add_dest: revives a matching dest from the trash, else allocates one. */
  addDest(key: ServiceKey, d: DestOpts): Dest {
    const svc = this.get(key);
    if (svc === null)
      throw new IpvsError(IpvsErrorCode.SERVICE_NOT_DEFINED, `no service ${this.keyName(key)}`);
    this.validateDest(svc, d);
    if (this.findDest(svc, d.addr, d.port) !== null)
      throw new IpvsError(IpvsErrorCode.DEST_EXISTS, `dest ${addrPortToString(d.addr, d.port)} exists`);
    if (svc.schedName === 'mh' && svc.dests.length >= MH_TAB_SIZE)
      throw new IpvsError(IpvsErrorCode.TOO_MANY_DESTS, 'more dests than mh table slots');
    const ti = this.trash.findIndex(
      (t) => t.svc === svc && t.port === d.port && ipAddrEquals(t.addr, d.addr),
    );
    let dest: Dest;
    if (ti >= 0) {
      dest = this.trash[ti];
      this.trash.splice(ti, 1);
      dest.trashExpires = 0;
    } else {
      dest = this.dests.alloc(svc, d.addr, d.port);
    }
    this.updateDest(svc, dest, d, true);
    return dest;
  }

  /** ip_vs_edit_dest. */
  editDest(key: ServiceKey, d: DestOpts): Dest {
    const svc = this.get(key);
    if (svc === null)
      throw new IpvsError(IpvsErrorCode.SERVICE_NOT_DEFINED, `no service ${this.keyName(key)}`);
    this.validateDest(svc, d);
    const dest = this.findDest(svc, d.addr, d.port);
    if (dest === null)
      throw new IpvsError(IpvsErrorCode.NO_DEST, `no dest ${addrPortToString(d.addr, d.port)}`);
    this.updateDest(svc, dest, d, false);
    return dest;
  }

  /** __ip_vs_update_dest. */
  private updateDest(svc: Service, dest: Dest, d: DestOpts, add: boolean): void {
    // keep the last non-zero weight for mh (and every add sets it)
    if (add || d.weight !== 0) dest.lastWeight = d.weight;
    dest.weight = d.weight;
    dest.setFwd(d.fwd);
    dest.tunType = d.tunType;
    dest.tunPort = d.tunPort;
    dest.tunFlags = d.tunFlags;
    dest.flags |= DestFlag.AVAILABLE;
    if (d.uThreshold === 0 || d.uThreshold > dest.uThreshold) dest.flags &= ~DestFlag.OVERLOAD;
    dest.uThreshold = d.uThreshold;
    dest.lThreshold = d.lThreshold;
    if (add) {
      // ip_vs_start_estimator, then the head of the list and the scheduler's add_dest.
      this.estimator.add(dest.stats);
      svc.dests.unshift(dest);
      svc.sched!.addDest(dest);
    } else {
      svc.sched!.updDest(dest);
    }
  }

  /** ip_vs_del_dest. */
  delDest(key: ServiceKey, addr: IpAddr, port: number): void {
    const svc = this.get(key);
    if (svc === null)
      throw new IpvsError(IpvsErrorCode.SERVICE_NOT_DEFINED, `no service ${this.keyName(key)}`);
    const dest = this.findDest(svc, addr, port);
    if (dest === null) throw new IpvsError(IpvsErrorCode.NO_DEST, `no dest ${addrPortToString(addr, port)}`);
    this.unlinkDest(svc, dest);
  }

  /** __ip_vs_unlink_dest + __ip_vs_del_dest: off the list, not AVAILABLE, into the trash. */
  private unlinkDest(svc: Service, dest: Dest): void {
    const idx = svc.dests.indexOf(dest);
    dest.flags &= ~DestFlag.AVAILABLE;
    svc.dests.splice(idx, 1);
    svc.sched!.delDest(dest, idx);
    dest.trashExpires = this.env.now() + DEST_TRASH_PERIOD_MS;
    this.trash.push(dest);
    this.estimator.remove(dest.stats);
  }

  /** ip_vs_dest_trash_expire: frees trashed dests that no connection references any more. */
  expireTrash(now: number): void {
    for (let i = this.trash.length - 1; i >= 0; i--) {
      const d = this.trash[i];
      if (d.refcnt === 0 && now >= d.trashExpires) {
        this.trash.splice(i, 1);
        this.dests.free(d);
      }
    }
  }

  /** ip_vs_zero_service / ip_vs_zero_all. */
  zero(key: ServiceKey | null): void {
    if (key === null) {
      for (const s of this.list) this.zeroService(s);
      this.total.zero();
      return;
    }
    const svc = this.get(key);
    if (svc === null) throw new IpvsError(IpvsErrorCode.NO_SERVICE, `no service ${this.keyName(key)}`);
    this.zeroService(svc);
  }

  private zeroService(s: Service): void {
    s.stats.zero();
    for (const d of s.dests) d.stats.zero();
  }

  keyName(key: ServiceKey): string {
    if (key.fwmark > 0) return `FWM ${key.fwmark}${key.af === 6 ? ' IPv6' : ''}`;
    const p =
      key.proto === Proto.TCP
        ? 'TCP'
        : key.proto === Proto.UDP
          ? 'UDP'
          : key.proto === Proto.SCTP
            ? 'SCTP'
            : '?';
    return `${p} ${key.addr ? addrPortToString(key.addr, key.port) : '?'}`;
  }

  private own(svc: Service, delta: number): void {
    const addrs: number[] = [];
    if (svc.af === 4 && svc.addr !== null) addrs.push(svc.addr.v4);
    for (const la of svc.laddrs) if (la.af === 4) addrs.push(la.v4);
    for (const a of addrs) {
      const n = (this.owned4.get(a) ?? 0) + delta;
      if (n <= 0) this.owned4.delete(a);
      else this.owned4.set(a, n);
    }
  }

  /** Whether tslvs answers for this IPv4 address (a VIP or a FullNAT local address). */
  owns4(addr: number): boolean {
    return this.owned4.has(addr);
  }

  private hash(svc: Service): void {
    this.own(svc, 1);
    if (svc.fwmark > 0) {
      (svc.af === 4 ? this.fwm4 : this.fwm6).set(svc.fwmark, svc);
      return;
    }
    const pi = protoIndex(svc.proto);
    if (svc.port === 0) this.portZero++;
    if (svc.af === 4) {
      this.v4[pi].set(svc.addr!.v4 * 65536 + svc.port, svc);
    } else {
      const k = svc.addr!.fold * 65536 + svc.port;
      const l = this.v6[pi].get(k);
      if (l) l.push(svc);
      else this.v6[pi].set(k, [svc]);
    }
  }

  private unhash(svc: Service): void {
    this.own(svc, -1);
    if (svc.fwmark > 0) {
      (svc.af === 4 ? this.fwm4 : this.fwm6).delete(svc.fwmark);
      return;
    }
    const pi = protoIndex(svc.proto);
    if (svc.port === 0) this.portZero--;
    if (svc.af === 4) {
      this.v4[pi].delete(svc.addr!.v4 * 65536 + svc.port);
    } else {
      const k = svc.addr!.fold * 65536 + svc.port;
      const l = this.v6[pi].get(k)!;
      l.splice(l.indexOf(svc), 1);
      if (l.length === 0) this.v6[pi].delete(k);
    }
  }
}

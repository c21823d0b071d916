/**
 * A virtual service (struct ip_vs_service): keyed by <af, protocol, address, port> or by
 * <af, fwmark>. `dests` is in the kernel's list order: the most recently added dest first
 * (__ip_vs_update_dest uses list_add_rcu, which inserts at the head).
 */
import type { IpAddr } from './addr.ts';
import type { Dest } from './dest.ts';
import type { Af, SchedName } from './flags.ts';
import { SvcFlag } from './flags.ts';
import { Stats } from './stats.ts';
import type { Scheduler } from '../sched/types.ts';

export class Service {
  readonly id: number;
  readonly af: Af;
  /** IPPROTO_TCP/UDP/SCTP; 0 for a firewall-mark service. */
  readonly proto: number;
  /** Virtual address; null for a firewall-mark service. */
  readonly addr: IpAddr | null;
  readonly port: number;
  /** Firewall mark (> 0) for fwmark services, else 0. */
  readonly fwmark: number;
  schedName: SchedName = 'wlc';
  /** The scheduler instance bound to this service (set by the control plane). */
  sched: Scheduler | null = null;
  /** IP_VS_SVC_F_* */
  flags = 0;
  /** Persistence timeout in seconds. */
  timeout = 0;
  /** IPv4: the netmask as a uint32 (0xffffffff by default); IPv6: a prefix length (128). */
  netmask: number;
  /** Persistence engine name ('' or 'sip'). */
  peName = '';
  /** Real servers, most recently added first. */
  readonly dests: Dest[] = [];
  /** FullNAT local addresses (DPVS/Alibaba "laddr"), in the order given. */
  laddrs: IpAddr[] = [];
  readonly stats = new Stats();

  constructor(id: number, af: Af, proto: number, addr: IpAddr | null, port: number, fwmark: number) {
    this.id = id;
    this.af = af;
    this.proto = proto;
    this.addr = addr;
    this.port = port;
    this.fwmark = fwmark;
    this.netmask = af === 4 ? 0xffffffff : 128;
  }

  get persistent(): boolean {
    return (this.flags & SvcFlag.PERSISTENT) !== 0;
  }

  get onePacket(): boolean {
    return (this.flags & SvcFlag.ONEPACKET) !== 0;
  }
}

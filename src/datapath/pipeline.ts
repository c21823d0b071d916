/**
 * The packet pipeline: one received frame in; a verdict out, with the frame rewritten in place.
 * It reads the service table, owns the connection tables, and follows kernel IPVS:
 *
 *   parse → (ICMP: related-error handling, ip_vs_in_icmp / ip_vs_out_icmp)
 *         → conn lookup by the client tuple (ip_vs_in) or the real-server tuple (ip_vs_out)
 *         → on a miss: service lookup and scheduling (ip_vs_try_to_schedule, ip_vs_schedule,
 *           ip_vs_sched_persist), or ip_vs_leave's ICMP port unreachable
 *         → stats, state transition (ip_vs_set_state), timer refresh (ip_vs_conn_put)
 *         → transmit by forwarding method (ip_vs_xmit.c): NAT, DR, TUN (IPIP / GUE / GRE), FullNAT.
 *
 * The pipeline allocates nothing per frame: scratch objects live on the instance and IPv4
 * addresses are numbers. Time comes in as an argument; neighbour and route resolution is an
 * injected interface (the data plane implements it with its own ARP).
 */
import type { ServiceTable } from '../control/services.ts';
import { ConnTable } from '../conn/table.ts';
import type { ConnSettings } from '../conn/settings.ts';
import { defaultConnSettings } from '../conn/settings.ts';
import { Timeouts } from '../conn/timeouts.ts';
import { tcpStateTransition } from '../conn/proto-tcp.ts';
import { udpStateTransition } from '../conn/proto-udp.ts';
import { sctpStateTransition, sctpStateChunkType } from '../conn/proto-sctp.ts';
import type { ConnParam } from '../conn/types.ts';
import { Dir, newConnParam } from '../conn/types.ts';
import type { Dest } from '../model/dest.ts';
import { ConnFlag, DestFlag, FWD_MASK, Fwd, SvcFlag, TunType } from '../model/flags.ts';
import type { Service } from '../model/service.ts';
import type { Stats } from '../model/stats.ts';
import type { SchedPacket } from '../sched/types.ts';
import { newSchedPacket } from '../sched/types.ts';
import { u16, u32 } from '../wire/bytes.ts';
import { csumCompletePartial, csumReplace16 } from '../wire/checksum.ts';
import { tcpSegmentV4, udpSegmentV4 } from '../xmit/gso.ts';
import {
  IPPROTO_ICMP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4Df,
  ipv4SetTtl,
  ipv4FillCsum,
  ipv4SetDst,
  ipv4SetSrc,
} from '../wire/ipv4.ts';
import {
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_EXC_TTL,
  ICMP_FRAG_NEEDED,
  ICMP_PORT_UNREACH,
  ICMP_TIME_EXCEEDED,
  icmpFillCsum,
  icmpInnerCheck,
  icmpIsIpvsRelated,
} from '../wire/icmp.ts';
import { TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN } from '../wire/tcp.ts';
import { SCTP_CHUNK_INIT, SCTP_HLEN, sctpFirstChunk } from '../wire/sctp.ts';
import { Reason } from '../wire/reason.ts';
import { newTunnelParams, ipipEncapV4 } from '../wire/ipip.ts';
import { gueEncapV4 } from '../wire/gue.ts';
import { greEncapV4 } from '../wire/gre.ts';
import { tcpInsertToaV4 } from '../wire/toa.ts';
import { LaddrPool, LportSpace, handlePort } from '../xmit/laddr-pool.ts';
import { decrementTtl, rewriteDst4, rewriteSrc4, setMacs } from '../xmit/rewrite.ts';
import { icmpSendInPlace4, mayAnswerIcmp4 } from '../xmit/icmp-send.ts';
import { FrameInfo, parseFrame } from './parse.ts';
import { ETHERTYPE_ARP } from '../wire/ethernet.ts';
import { arpMakeReplyFrameInPlace } from '../wire/arp.ts';
import { PROXY2_LEN_V4, proxy2WriteV4 } from '../wire/proxy2.ts';
import type { SeqState } from '../xmit/seq-adjust.ts';
import { newSeqState, seqStateUpdate, tcpFixAck, tcpFixSeq, tcpInsertDataV4 } from '../xmit/seq-adjust.ts';
import { Path6 } from './pipeline6.ts';
import type { IpAddr } from '../model/addr.ts';
import { COUNTER_COUNT, Dp, Verdict } from './verdict.ts';

/** Where to send a packet next: filled by NetEnv.route4. */
export class Hop {
  ifindex = 0;
  /** Our MAC on that interface. */
  srcMac = 0;
  /** The next hop's MAC. */
  dstMac = 0;
  mtu = 1500;
  /** The route's preferred source address (TUN outer source). */
  saddr = 0;
}

/**
 * Routing and neighbours, injected. route4 fills `hop` for sending toward `dst` (directly
 * connected, or through a gateway) and returns false when the route or the neighbour is not
 * known yet — the data plane then starts ARP resolution and this frame is dropped (NO_ROUTE),
 * as a neighbour queue overflow would in the kernel.
 */
export interface NetEnv {
  route4(dst: number, hop: Hop): boolean;
  /** The same for an IPv6 destination (16 bytes at `off`). */
  route6(dst: Uint8Array, off: number, hop: Hop): boolean;
  /** Our MAC on interface `ifindex` (for answers sent back where a frame came from). */
  ifMac(ifindex: number): number;
  /**
   * An ARP packet showed that `ip` is at `mac` on `ifindex` (optional: the data plane's
   * neighbour cache learns from it). `forUs` says the packet was addressed to one of our VIPs.
   */
  neighSeen?(ifindex: number, ip: number, mac: number, forUs: boolean): void;
}

/** Receive-side facts about a frame, from the I/O layer. */
export const RxFlag = {
  /** The L4 checksum is CHECKSUM_PARTIAL (AF_PACKET TP_STATUS_CSUMNOTREADY). */
  CSUM_PARTIAL: 1,
  /** A GSO/GRO super-frame: larger than the MTU on purpose, exempt from the MTU check. */
  GSO: 2,
  /** The transmit side carries the partial status (PACKET_VNET_HDR): do not complete it here. */
  KEEP_PARTIAL: 4,
} as const;

/** ip_vs sysctls the pipeline reads beside the connection ones (ConnSettings). */
export interface PipelineSettings {
  /** pmtu_disc: send FRAG_NEEDED for DF packets over the MTU (TUN: copy DF inward). */
  pmtuDisc: boolean;
  /** Answer ICMP echo requests sent to a VIP (the kernel's local stack does, the VIP being local). */
  answerPing: boolean;
  /**
   * FullNAT: how the client address reaches the real server — a TOA TCP option on the handshake
   * (Alibaba LVS / DPVS, read by the real server's toa module), a PROXY protocol v2 header in
   * front of the first payload (read by haproxy, nginx `proxy_protocol`, …), or not at all.
   */
  fullnatClientAddr: 'toa' | 'proxy2' | 'none';
}

export interface PipelineOptions {
  services: ServiceTable;
  net: NetEnv;
  random: () => number;
  maxConns?: number;
  settings?: Partial<PipelineSettings>;
  connSettings?: ConnSettings;
  timeouts?: Timeouts;
  /** FullNAT local ports: this worker's share (DPVS-style steering of replies by local port). */
  lportWorkers?: number;
  lportWorker?: number;
  /** Timer granularity of the connection tables (ms, default 1000). */
  connTickMs?: number;
  /** IPv6 connection table size (default maxConns / 16, at least 1024). */
  maxConns6?: number;
}

const MS = 1000;

/** What the IPv6 path (pipeline6.ts) shares with the pipeline: tables, counters, transmit tail. */
export interface PipelineCore {
  readonly onInPacket: ((t: ConnTable, cid: number, pkts: number) => void) | null;
  readonly syncThreshold: number;
  readonly services: ServiceTable;
  readonly settings: PipelineSettings;
  readonly connSettings: ConnSettings;
  readonly timeouts: Timeouts;
  readonly net: NetEnv;
  readonly hop: Hop;
  lastReason: number;
  count(reason: number): void;
  drop(reason: number): number;
  pass(reason: number): number;
  addStats(dest: Dest, bytes: number, inbound: boolean): void;
  allocLport(svc: Service): number;
  releaseLport(svcId: number, h: number): void;
  lportAddr(slot: number): IpAddr | null;
  /** Records a transmit of `len` bytes out of `ifindex`; returns Verdict.TX. */
  sent(ifindex: number, len: number): number;
  /** Records a local answer of `len` bytes back out of `ifindex`; returns Verdict.REPLY. */
  replied(ifindex: number, len: number): number;
  outPartial: boolean;
  outHdrGrow: number;
}

export class Pipeline implements PipelineCore {
  readonly services: ServiceTable;
  readonly conns4: ConnTable;
  readonly settings: PipelineSettings;
  readonly connSettings: ConnSettings;
  readonly timeouts: Timeouts;
  /** Per-reason counters (wire reasons, then Dp reasons). */
  readonly counters = new Float64Array(COUNTER_COUNT);

  /**
   * Called for every client packet of a conn, with the conn's table, id and new in_pkts count
   * (ip_vs_in's `ip_vs_sync_conn(ipvs, cp, pkts)`): set while a sync master runs, else null.
   */
  onInPacket: ((t: ConnTable, cid: number, pkts: number) => void) | null = null;
  /** sync_threshold, what a one-packet conn reports to onInPacket. */
  syncThreshold = 3;

  // Result of the last process() call.
  outIf = 0;
  outOff = 0;
  outLen = 0;
  lastReason = 0;
  /**
   * The frame sent still carries a CHECKSUM_PARTIAL L4 checksum (RxFlag.KEEP_PARTIAL was honoured):
   * the I/O layer must send it with its offload metadata (virtio_net_hdr). False after a software
   * completion, a tunnel encapsulation or a locally generated answer.
   */
  outPartial = false;
  /** Bytes the L4 header grew by (a TOA option), for the GSO header length of the offload data. */
  outHdrGrow = 0;

  readonly net: NetEnv;
  readonly hop = new Hop();
  /** The IPv6 half (its own connection table). */
  readonly v6: Path6;
  private readonly fi = new FrameInfo();
  private readonly sp: SchedPacket = newSchedPacket();
  private readonly cparam: ConnParam = newConnParam();
  /**
   * Software GSO for TUN (Verdict.TX_SEGS): the segments of the last super-frame, segment k at
   * segBuf[k * segSlot], segLens[k] bytes. `rxGsoSize` is the super-frame's gso_size, set by the
   * I/O layer before process() (0 if none).
   */
  rxGsoSize = 0;
  readonly segBuf = new Uint8Array(SEG_BUF);
  readonly segLens = new Int32Array(SEG_MAX);
  segCount = 0;
  segSlot = 0;
  private readonly tun = newTunnelParams();
  private tunId = 0;
  private readonly lports: LportSpace;
  private readonly laddrPools = new Map<number, LaddrPool>();
  /** FullNAT: the pool handle of each conn (slot × 65536 + port), -1 when none. */
  /** FullNAT: the laddr-pool handle of each conn plus one (0: none), so untouched pages stay unmapped. */
  private readonly fnatHandle: Int32Array;
  private readonly fnatSvc: Int32Array;
  // PROXY v2: per-conn sequence shift of the client → server stream (struct ip_vs_seq).
  /** [initSeq, delta, prevDelta, active] per conn; allocated on the first PROXY v2 conn. */
  private seqArr: Int32Array | null = null;
  private readonly seq: SeqState = newSeqState();
  private readonly proxyHdr = new Uint8Array(PROXY2_LEN_V4);

  constructor(o: PipelineOptions) {
    this.services = o.services;
    this.net = o.net;
    this.settings = { pmtuDisc: true, answerPing: true, fullnatClientAddr: 'toa', ...o.settings };
    this.connSettings = o.connSettings ?? defaultConnSettings();
    this.timeouts = o.timeouts ?? new Timeouts();
    this.conns4 = new ConnTable({
      af: 4,
      dests: o.services.dests,
      random: o.random,
      maxEntries: o.maxConns ?? 1 << 20,
      totalStats: o.services.total,
      timeouts: this.timeouts,
      settings: this.connSettings,
      tickMs: o.connTickMs,
    });
    this.lports = new LportSpace({ workers: o.lportWorkers ?? 1, worker: o.lportWorker ?? 0 });
    this.fnatHandle = new Int32Array(this.conns4.maxEntries);
    this.fnatSvc = new Int32Array(this.conns4.maxEntries);
    this.conns4.onUnlink = (id: number) => this.releaseFnat(id);
    // IPv6 gets its own, by default smaller, table: most deployments are IPv4-heavy.
    this.v6 = new Path6(
      this,
      this.fi,
      o.random,
      o.maxConns6 ?? Math.max(1024, (o.maxConns ?? 1 << 20) >> 4),
      o.connTickMs,
    );
  }

  /** The IPv6 connection table. */
  get conns6(): ConnTable {
    return this.v6.conns;
  }

  /** Periodic work: expire conns, free trashed dests, age scheduler state, estimate rates. */
  tick(now: number): void {
    this.conns4.expire(now);
    this.v6.conns.expire(now);
    this.services.estimator.tick(now);
    this.services.expireTrash(now);
    for (const s of this.services.list) s.sched?.tick?.(now);
  }

  count(reason: number): void {
    this.counters[reason]++;
    this.lastReason = reason;
  }

  drop(reason: number): number {
    this.count(reason);
    return Verdict.DROP;
  }

  pass(reason: number): number {
    this.count(reason);
    return Verdict.PASS;
  }

  sent(ifindex: number, len: number): number {
    this.outIf = ifindex;
    this.outLen = len;
    this.counters[Dp.TX]++;
    this.lastReason = Dp.TX;
    return Verdict.TX;
  }

  replied(ifindex: number, len: number): number {
    this.outIf = ifindex;
    this.outLen = len;
    this.counters[Dp.REPLY]++;
    return Verdict.REPLY;
  }

  addStats(dest: Dest, bytes: number, inbound: boolean): void {
    addStats(dest, this.services.total, bytes, inbound);
  }

  allocLport(svc: Service): number {
    return this.laddrPool(svc).alloc();
  }

  releaseLport(svcId: number, h: number): void {
    const pool = this.laddrPools.get(svcId);
    if (pool !== undefined) pool.free(h);
    else this.lports.free(h);
  }

  lportAddr(slot: number): IpAddr | null {
    return this.lports.laddrOfSlot(slot);
  }

  /**
   * Processes one frame of `len` bytes at `off` in `b`; `cap` is the room the frame may grow into
   * (TUN headers, TOA, ICMP errors). On TX/REPLY the frame to send is b[outOff, outOff + outLen)
   * out of interface `outIf`.
   */
  process(
    b: Uint8Array,
    off: number,
    len: number,
    cap: number,
    rxIf: number,
    rxFlags: number,
    now: number,
  ): number {
    const fi = this.fi;
    this.outOff = off;
    this.outLen = len;
    this.outIf = rxIf;
    this.outPartial = false;
    this.outHdrGrow = 0;
    const r = parseFrame(b, off, len, fi);
    if (r !== Reason.OK) return this.notParsed(r);
    // The common case first; the rest of the dispatch lives in dispatch() so that this function
    // stays small enough for V8 to inline the whole established-packet path into the receive loop.
    if (fi.af === 4 && (fi.proto === IPPROTO_TCP || fi.proto === IPPROTO_UDP))
      return this.inOut4(b, rxIf, rxFlags, cap, now);
    return this.dispatch(b, rxIf, rxFlags, cap, now);
  }

  /** process() for a frame parseFrame refused: pass or drop by reason. */
  private notParsed(r: number): number {
    const fi = this.fi;
    {
      if (r === Reason.IPV4_FRAGMENT) {
        // DPVS and tslvs do not reassemble: a fragment for a VIP is dropped and counted, any other
        // passes to the host (the kernel would defragment first, ip_vs_gather_frags).
        return this.isVip4(fi.daddr) ? this.drop(Dp.FRAGMENT_TO_VIP) : this.pass(Dp.PASS_NOT_VIP);
      }
      if (r === Reason.ETHERTYPE_UNKNOWN || r === Reason.L4_PROTO_UNKNOWN) return this.pass(r);
      if (r === Reason.IPV6_FRAGMENT) return this.pass(Dp.PASS_NOT_VIP);
      if (fi.ethertype === 0x0806) return this.pass(r);
      return this.drop(r);
    }
  }

  /** process() for every parsed frame but IPv4 TCP and UDP. */
  private dispatch(b: Uint8Array, rxIf: number, rxFlags: number, cap: number, now: number): number {
    const fi = this.fi;
    if (fi.ethertype === ETHERTYPE_ARP) return this.arpIn(b, rxIf);
    if (fi.af === 6) return this.v6.process(b, rxIf, rxFlags, cap, now);
    if (fi.af !== 4) return this.pass(Dp.PASS_NOT_IP);
    const p = fi.proto;
    if (p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP)
      return this.inOut4(b, rxIf, rxFlags, cap, now);
    if (p === IPPROTO_ICMP) return this.icmp4(b, rxIf, cap, now);
    return this.pass(Dp.PASS_PROTO);
  }

  /**
   * ARP: the VIPs and FullNAT local addresses are tslvs's alone (the host does not have them), so
   * tslvs answers requests for them, from the receiving interface's MAC (arp_process for a
   * local address). Every ARP packet teaches the neighbour cache its sender.
   */
  private arpIn(b: Uint8Array, rxIf: number): number {
    const fi = this.fi;
    const a = fi.l3off;
    const op = (b[a + 6] << 8) | b[a + 7];
    const spa = u32(b, a + 14);
    const tpa = u32(b, a + 24);
    const forUs = this.services.owns4(tpa);
    if (spa !== 0 && this.net.neighSeen !== undefined)
      this.net.neighSeen(rxIf, spa, readMac(b, a + 8), forUs);
    if (op === 1 && forUs && spa !== tpa) {
      const n = arpMakeReplyFrameInPlace(b, fi.ethOff, this.net.ifMac(rxIf));
      return this.replied(rxIf, n);
    }
    return this.pass(Dp.PASS_NOT_IP);
  }

  private isVip4(addr: number): boolean {
    return this.services.owns4(addr);
  }

  // ---------------------------------------------------------------- TCP / UDP / SCTP

  /**
   * ip_vs_in / ip_vs_out for IPv4 TCP, UDP and SCTP. The established client packet (a conn found,
   * not a SYN or INIT, its dest available) goes straight to in4; everything else to inOut4Slow.
   */
  private inOut4(b: Uint8Array, rxIf: number, rxFlags: number, cap: number, now: number): number {
    const fi = this.fi;
    const cid = this.conns4.lookupIn(fi.proto, fi.saddr, fi.sport, fi.daddr, fi.dport);
    if (
      cid >= 0 &&
      (fi.proto === IPPROTO_UDP || (fi.proto === IPPROTO_TCP && (fi.tcpFlags & TCP_FLAG_SYN) === 0))
    ) {
      const d = this.destOf(cid);
      if (d === undefined || (d.flags & DestFlag.AVAILABLE) !== 0)
        return this.in4(b, cid, d, rxFlags, cap, rxIf, now);
    }
    return this.inOut4Slow(b, cid, rxIf, rxFlags, cap, now);
  }

  private inOut4Slow(
    b: Uint8Array,
    cid: number,
    rxIf: number,
    rxFlags: number,
    cap: number,
    now: number,
  ): number {
    const fi = this.fi;
    const t = this.conns4;
    if (cid < 0) {
      // ip_vs_out: a reply from a real server (NAT / FullNAT), found by the real-server tuple.
      const oid = t.lookupOut(fi.proto, fi.saddr, fi.sport, fi.daddr, fi.dport);
      if (oid >= 0) return this.out4(b, oid, rxFlags, cap, now);
    }
    const newConnPkt = this.isNewConn(b);
    if (cid >= 0 && newConnPkt) {
      // ip_vs_in: a SYN (INIT) that hits an existing entry may start over on a new dest.
      const d = this.destOf(cid);
      let resched = false;
      if (this.connSettings.expireNodestConn !== 0 && d !== undefined && d.weight === 0) resched = true;
      else if (
        this.connSettings.connReuseMode !== 0 &&
        t.isNewConnExpected(cid, this.connSettings.connReuseMode)
      )
        resched = t.nControlOf(cid) === 0;
      if (resched) {
        if (t.nControlOf(cid) === 0) t.expireNow(cid, now);
        cid = -1;
      }
    }
    if (cid >= 0) {
      const d = this.destOf(cid);
      if (d === undefined || (d.flags & DestFlag.AVAILABLE) !== 0)
        return this.in4(b, cid, d, rxFlags, cap, rxIf, now);
      // The dest was deleted: expire_nodest_conn lets the packet be rescheduled, else drop.
      if (this.connSettings.expireNodestConn === 0) return this.drop(Dp.DEST_UNAVAILABLE);
      t.expireNow(cid, now);
    }
    // No usable conn: a new one, if a service takes this packet.
    const svc = this.services.find4(fi.proto, fi.daddr, fi.dport, 0);
    if (svc === null) return this.pass(Dp.PASS_NOT_VIP);
    if (!this.mayStartConn(b, newConnPkt)) return this.drop(Dp.NO_CONN_NOT_SYN);
    const nid = this.schedule4(svc, now);
    if (nid < 0) {
      if (nid === NO_DEST) return this.leave4(b, rxIf, cap);
      return this.drop(this.lastReason);
    }
    return this.in4(b, nid, this.destOf(nid), rxFlags, cap, rxIf, now);
  }

  /** is_new_conn: a TCP SYN or an SCTP INIT. */
  private isNewConn(b: Uint8Array): boolean {
    const fi = this.fi;
    if (fi.proto === IPPROTO_TCP) return (fi.tcpFlags & TCP_FLAG_SYN) !== 0;
    if (fi.proto === IPPROTO_SCTP) return sctpFirstChunk(b, fi.l4off, fi.l4len) === SCTP_CHUNK_INIT;
    return false;
  }

  /** tcp_conn_schedule / udp_conn_schedule / sctp_conn_schedule: may this packet open a conn? */
  private mayStartConn(b: Uint8Array, newConnPkt: boolean): boolean {
    const fi = this.fi;
    if (fi.proto === IPPROTO_TCP) {
      if ((fi.tcpFlags & TCP_FLAG_RST) !== 0) return false;
      return this.connSettings.sloppyTcp !== 0 || newConnPkt;
    }
    if (fi.proto === IPPROTO_SCTP) {
      if (this.connSettings.sloppySctp !== 0) return sctpFirstChunk(b, fi.l4off, fi.l4len) !== 6; // not ABORT
      return newConnPkt;
    }
    return true;
  }

  private destOf(cid: number): Dest | undefined {
    const id = this.conns4.destOf(cid);
    return id < 0 ? undefined : this.services.dests.get(id);
  }

  /** ip_vs_schedule (+ ip_vs_sched_persist): a new conn id, NO_DEST, or another negative failure. */
  private schedule4(svc: Service, now: number): number {
    const fi = this.fi;
    const sp = this.sp;
    sp.af = 4;
    sp.saddr = fi.saddr;
    sp.saddrFold = fi.saddr;
    sp.sport = fi.sport;
    sp.daddr = fi.daddr;
    sp.daddrFold = fi.daddr;
    sp.dport = fi.dport;
    if ((svc.flags & SvcFlag.PERSISTENT) !== 0) return this.schedPersist4(svc, now);
    // ip_vs_schedule: port-zero traffic only for persistent services.
    if (svc.fwmark === 0 && fi.dport !== svc.port) {
      this.lastReason = Dp.PORT_ZERO_NOT_PERSISTENT;
      return FAILED;
    }
    const dest = svc.sched!.schedule(sp);
    if (dest === null) return NO_DEST;
    const flags = (svc.flags & SvcFlag.ONEPACKET) !== 0 && fi.proto === IPPROTO_UDP ? ConnFlag.ONE_PACKET : 0;
    return this.newConn4(svc, dest, dest.port !== 0 ? dest.port : fi.dport, flags, now);
  }

  /** ip_vs_sched_persist: find or create the client's template, then the conn under it. */
  private schedPersist4(svc: Service, now: number): number {
    const fi = this.fi;
    const t = this.conns4;
    const snet = (fi.saddr & svc.netmask) >>> 0;
    // Template key: fwmark → <IP, snet, 0, mark, 0>; port-zero → <proto, snet, 0, vaddr, 0>; else vport.
    const tproto = svc.fwmark !== 0 ? 0 : fi.proto;
    const tvaddr = svc.fwmark !== 0 ? svc.fwmark : fi.daddr;
    const tvport = svc.fwmark !== 0 || svc.port === 0 ? 0 : fi.dport;
    let ct = t.lookupTemplate(tproto, snet, tvaddr, tvport);
    let dest: Dest | undefined;
    if (ct >= 0 && t.checkTemplate(ct)) {
      dest = this.services.dests.get(t.destOf(ct));
    } else {
      const d = svc.sched!.schedule(this.sp);
      if (d === null) return NO_DEST;
      dest = d;
      const cp = this.cparam;
      cp.proto = tproto;
      cp.caddr = snet;
      cp.cport = 0;
      cp.vaddr = fi.daddr;
      cp.vport = tvport;
      cp.daddr = d.addr.v4;
      cp.dport = svc.fwmark !== 0 || svc.port === 0 ? 0 : d.port;
      cp.laddr = snet;
      cp.lport = 0;
      cp.fwmark = svc.fwmark;
      cp.flags = 0;
      cp.destId = d.id;
      ct = t.createTemplate(cp, svc.timeout * MS, now);
      if (ct < 0) {
        this.lastReason = Dp.CONN_TABLE_FULL;
        return FAILED;
      }
    }
    if (dest === undefined) return NO_DEST;
    // The conn keeps the client's port for port-zero/fwmark services unless the dest names one.
    let dport = fi.dport;
    if (dport === svc.port && dest.port !== 0) dport = dest.port;
    const flags = (svc.flags & SvcFlag.ONEPACKET) !== 0 && fi.proto === IPPROTO_UDP ? ConnFlag.ONE_PACKET : 0;
    const cid = this.newConn4(svc, dest, dport, flags, now);
    if (cid >= 0) t.linkToTemplate(cid, ct, now);
    return cid;
  }

  /** ip_vs_conn_new for a scheduled dest; FullNAT gets its local address and port here. */
  private newConn4(svc: Service, dest: Dest, dport: number, flags: number, now: number): number {
    const fi = this.fi;
    const cp = this.cparam;
    cp.proto = fi.proto;
    cp.caddr = fi.saddr;
    cp.cport = fi.sport;
    cp.vaddr = fi.daddr;
    cp.vport = fi.dport;
    cp.daddr = dest.addr.v4;
    cp.dport = dport;
    cp.laddr = fi.saddr;
    cp.lport = fi.sport;
    cp.fwmark = svc.fwmark;
    cp.flags = flags;
    cp.destId = dest.id;
    let h = -1;
    if ((dest.connFlags & FWD_MASK) === Fwd.FULLNAT) {
      const pool = this.laddrPool(svc);
      h = pool.alloc();
      if (h < 0) {
        this.lastReason = Dp.FULLNAT_NO_PORT;
        return FAILED;
      }
      cp.laddr = this.lports.laddrV4(h);
      cp.lport = handlePort(h);
    }
    const cid = this.conns4.insert(cp, now);
    if (cid < 0) {
      if (h >= 0) this.laddrPool(svc).free(h);
      this.lastReason = Dp.CONN_TABLE_FULL;
      return FAILED;
    }
    this.fnatHandle[cid] = h + 1;
    this.fnatSvc[cid] = svc.id;
    const sa = this.seqArr;
    if (sa !== null) sa[cid * 4 + 3] = sa[cid * 4 + 1] = sa[cid * 4 + 2] = 0;
    return cid;
  }

  private loadSeq(cid: number): SeqState {
    const st = this.seq;
    if (this.seqArr === null) this.seqArr = new Int32Array(this.conns4.maxEntries * 4);
    const o = cid * 4;
    st.initSeq = this.seqArr[o] >>> 0;
    st.delta = this.seqArr[o + 1];
    st.prevDelta = this.seqArr[o + 2];
    st.active = this.seqArr[o + 3] === 1;
    return st;
  }

  private storeSeq(cid: number, st: SeqState): void {
    const a = this.seqArr!;
    const o = cid * 4;
    a[o] = st.initSeq | 0;
    a[o + 1] = st.delta;
    a[o + 2] = st.prevDelta;
    a[o + 3] = st.active ? 1 : 0;
  }

  private laddrPool(svc: Service): LaddrPool {
    let p = this.laddrPools.get(svc.id);
    if (p === undefined) {
      p = new LaddrPool(this.lports);
      for (const a of svc.laddrs) p.addLaddr(a);
      this.laddrPools.set(svc.id, p);
    }
    return p;
  }

  /** Returns a FullNAT conn's local port when the conn goes (called by the conn table). */
  private releaseFnat(id: number): void {
    const h = this.fnatHandle[id] - 1;
    if (h < 0) return;
    this.fnatHandle[id] = 0;
    this.releaseLport(this.fnatSvc[id], h);
  }

  /** Drops FullNAT pools of services that changed or went (control plane, after an edit). */
  resetLaddrPools(svcId?: number): void {
    if (svcId === undefined) this.laddrPools.clear();
    else this.laddrPools.delete(svcId);
  }

  /** ip_vs_leave: no dest could be chosen. ICMP port unreachable back to the client, then drop. */
  private leave4(b: Uint8Array, rxIf: number, cap: number): number {
    const fi = this.fi;
    this.count(Dp.NO_DEST);
    if (!mayAnswerIcmp4(b, fi.l3off, fi.proto, 0)) return Verdict.DROP;
    const n = icmpSendInPlace4(
      b,
      fi.ethOff,
      fi.l3off,
      fi.l3len,
      cap,
      ICMP_DEST_UNREACH,
      ICMP_PORT_UNREACH,
      0,
      fi.daddr,
      this.net.ifMac(rxIf),
    );
    if (n < 0) return Verdict.DROP;
    this.outLen = n;
    this.outIf = rxIf;
    this.counters[Dp.REPLY]++;
    return Verdict.REPLY;
  }

  /** A client packet of conn `cid`: stats, state, timer, then the transmit of its method. */
  private in4(
    b: Uint8Array,
    cid: number,
    dest: Dest | undefined,
    rxFlags: number,
    cap: number,
    rxIf: number,
    now: number,
  ): number {
    const fi = this.fi;
    const t = this.conns4;
    if (dest !== undefined) addStats(dest, this.services.total, fi.l3len, true);
    // The forwarding method and ONE_PACKET are fixed for a conn's life; read them once.
    const flags = t.getFlags(cid);
    if (fi.proto === IPPROTO_TCP) tcpStateTransition(t, cid, Dir.INPUT, fi.tcpFlags);
    else this.stateTransition(b, cid, Dir.INPUT);
    const pkts = t.incInPkts(cid);
    t.put(cid, now);
    const partial = (rxFlags & RxFlag.CSUM_PARTIAL) !== 0;
    let v: number;
    switch (flags & FWD_MASK) {
      case Fwd.MASQ:
        v = this.xmitNat4(b, cid, partial, rxFlags, cap, rxIf);
        break;
      case Fwd.TUNNEL:
        v = this.xmitTunnel4(b, cid, dest!, rxFlags, cap, rxIf);
        break;
      case Fwd.FULLNAT:
        v = this.xmitFnat4(b, cid, partial, rxFlags, cap, rxIf);
        break;
      case Fwd.DROUTE:
      case Fwd.LOCALNODE:
      default:
        v = this.xmitDr4(b, cid, partial, rxFlags, cap, rxIf);
        break;
    }
    // ip_vs_in: after the transmit a sync master hears of the packet (a one-packet conn counts as
    // sync_threshold packets, so it is sent at once).
    if (this.onInPacket !== null)
      this.onInPacket(t, cid, (flags & ConnFlag.ONE_PACKET) !== 0 ? this.syncThreshold : pkts);
    // ip_vs_conn_put: a one-packet conn (never hashed) ends with its packet.
    if ((flags & ConnFlag.ONE_PACKET) !== 0) t.expireNow(cid, now);
    return v;
  }

  /** ip_vs_set_state for this packet's protocol and direction. */
  private stateTransition(b: Uint8Array, cid: number, dir: Dir): void {
    const fi = this.fi;
    const t = this.conns4;
    if (fi.proto === IPPROTO_TCP) tcpStateTransition(t, cid, dir, fi.tcpFlags);
    else if (fi.proto === IPPROTO_UDP) udpStateTransition(t, cid, dir);
    else sctpStateTransition(t, cid, dir, sctpStateChunkType(b, fi.l4off + SCTP_HLEN, fi.l4off + fi.l4len));
  }

  /** ip_vs_out + handle_response: a reply from a real server, back to the client. */
  private out4(b: Uint8Array, cid: number, rxFlags: number, cap: number, now: number): number {
    const fi = this.fi;
    const t = this.conns4;
    const fwd = t.getFlags(cid) & FWD_MASK;
    // Only NAT and FullNAT replies come back through the director; others are not ours to touch.
    if (fwd !== Fwd.MASQ && fwd !== Fwd.FULLNAT) return this.pass(Dp.PASS_NOT_VIP);
    const dest = this.destOf(cid);
    if (dest !== undefined) addStats(dest, this.services.total, fi.l3len, false);
    this.stateTransition(b, cid, Dir.OUTPUT);
    t.put(cid, now);
    const partial = (rxFlags & RxFlag.CSUM_PARTIAL) !== 0;
    const caddr = t.caddr4(cid);
    const v = this.route4(b, caddr, rxFlags, cap, 0, 0);
    if (v !== CONTINUE) return v;
    // snat: the reply now comes from the virtual service.
    rewriteSrc4(b, fi.l3off, fi.l4off, fi.l4len, fi.proto, t.vaddr4(cid), t.vportOf(cid), partial);
    // FullNAT: and goes to the client instead of our local address.
    if (fwd === Fwd.FULLNAT) {
      rewriteDst4(b, fi.l3off, fi.l4off, fi.l4len, fi.proto, caddr, t.cportOf(cid), partial);
      // PROXY v2 shifted the client's stream: the server's acks come back in the old numbering.
      if (fi.proto === IPPROTO_TCP && this.seqArr !== null && this.seqArr[cid * 4 + 3] === 1)
        tcpFixAck(b, fi.l4off, this.loadSeq(cid), partial);
    }
    return this.finish4(b, rxFlags, false);
  }

  // ---------------------------------------------------------------- transmit

  /**
   * The checks before every transmit toward `nextDst`, made on the packet as received, so an ICMP
   * error quotes what the sender sent (__ip_vs_get_out_rt: route, decrement_ttl,
   * ensure_mtu_is_adequate). `overhead` is what a tunnel header will add. Returns CONTINUE, or the
   * verdict that ends this frame. Fills `this.hop`.
   */
  private route4(
    b: Uint8Array,
    nextDst: number,
    rxFlags: number,
    cap: number,
    overhead: number,
    grow: number,
  ): number {
    const fi = this.fi;
    const hop = this.hop;
    if (!this.net.route4(nextDst, hop)) return this.drop(Dp.NO_ROUTE);
    const ttl = b[fi.l3off + 8];
    if (ttl <= 1) return this.icmpError4(b, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0, cap, Dp.TTL_EXCEEDED);
    const mtu = hop.mtu - overhead;
    if (
      this.settings.pmtuDisc &&
      ipv4Df(b, fi.l3off) &&
      fi.l3len + grow > mtu &&
      (rxFlags & RxFlag.GSO) === 0 &&
      fi.proto !== IPPROTO_ICMP
    ) {
      return this.icmpError4(b, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu & 0xffff, cap, Dp.FRAG_NEEDED);
    }
    decrementTtl(b, fi.l3off, 4);
    return CONTINUE;
  }

  /**
   * The common tail: a partial checksum is completed unless the I/O layer carries it (or a tunnel
   * header is about to move the packet), the next hop's MAC goes on, and the frame is sent.
   */
  private finish4(b: Uint8Array, rxFlags: number, forceCsum: boolean): number {
    const fi = this.fi;
    const hop = this.hop;
    if ((rxFlags & RxFlag.CSUM_PARTIAL) !== 0) {
      if (forceCsum || (rxFlags & RxFlag.KEEP_PARTIAL) === 0) this.completeCsum(b);
      else this.outPartial = true;
    }
    setMacs(b, fi.ethOff, hop.dstMac, hop.srcMac);
    this.outIf = hop.ifindex;
    this.outLen = fi.l3off - fi.ethOff + fi.l3len;
    this.counters[Dp.TX]++;
    this.lastReason = Dp.TX;
    return Verdict.TX;
  }

  /** Finishes a CHECKSUM_PARTIAL L4 checksum in software (packet-io.md pitfall 1). */
  private completeCsum(b: Uint8Array): void {
    const fi = this.fi;
    if (fi.proto === IPPROTO_TCP) csumCompletePartial(b, fi.l4off, fi.l4len, fi.l4off + 16, false);
    else if (fi.proto === IPPROTO_UDP) csumCompletePartial(b, fi.l4off, fi.l4len, fi.l4off + 6, true);
  }

  /**
   * Answers the sender of the current frame with an ICMP error (icmp_send), from the address it
   * was sent to, back out of the interface it came in on.
   */
  private icmpError4(
    b: Uint8Array,
    type: number,
    code: number,
    rest: number,
    cap: number,
    reason: number,
  ): number {
    const fi = this.fi;
    this.count(reason);
    if (!mayAnswerIcmp4(b, fi.l3off, fi.proto, fi.icmpType)) return Verdict.DROP;
    // Callers answer before taking one off the TTL: the quote shows what the sender sent.
    const rxIf = this.outIf;
    const n = icmpSendInPlace4(
      b,
      fi.ethOff,
      fi.l3off,
      fi.l3len,
      cap,
      type,
      code,
      rest,
      fi.daddr,
      this.net.ifMac(rxIf),
    );
    if (n < 0) return Verdict.DROP;
    this.outLen = n;
    this.counters[Dp.REPLY]++;
    return Verdict.REPLY;
  }

  /** ip_vs_nat_xmit: dnat to the real server (address, port, incremental checksums). */
  private xmitNat4(
    b: Uint8Array,
    cid: number,
    partial: boolean,
    rxFlags: number,
    cap: number,
    _rxIf: number,
  ): number {
    const fi = this.fi;
    const t = this.conns4;
    const daddr = t.daddr4(cid);
    const v = this.route4(b, daddr, rxFlags, cap, 0, 0);
    if (v !== CONTINUE) return v;
    rewriteDst4(b, fi.l3off, fi.l4off, fi.l4len, fi.proto, daddr, t.dportOf(cid), partial);
    return this.finish4(b, rxFlags, false);
  }

  /** ip_vs_dr_xmit: same packet, to the real server's MAC. */
  private xmitDr4(
    b: Uint8Array,
    cid: number,
    _partial: boolean,
    rxFlags: number,
    cap: number,
    _rxIf: number,
  ): number {
    const v = this.route4(b, this.conns4.daddr4(cid), rxFlags, cap, 0, 0);
    if (v !== CONTINUE) return v;
    return this.finish4(b, rxFlags, false);
  }

  /**
   * ip_vs_tunnel_xmit: the packet inside a new IPv4 header (IPIP, GUE or GRE) addressed to the
   * real server, from our address on the route toward it.
   */
  private xmitTunnel4(
    b: Uint8Array,
    cid: number,
    dest: Dest,
    rxFlags: number,
    cap: number,
    _rxIf: number,
  ): number {
    const fi = this.fi;
    const hop = this.hop;
    const daddr = this.conns4.daddr4(cid);
    const overhead =
      dest.tunType === TunType.GUE ? 32 : dest.tunType === TunType.GRE ? (dest.tunFlags & 1 ? 28 : 24) : 20;
    // A GSO super-frame cannot be described inside a tunnel by virtio_net_hdr (no IPXIP GSO
    // type): a TCP or UDP one is segmented here, anything else is counted and dropped rather
    // than sent broken (docs/director.md, offloads).
    if ((rxFlags & RxFlag.GSO) !== 0) {
      if ((fi.proto !== IPPROTO_TCP && fi.proto !== IPPROTO_UDP) || this.rxGsoSize <= 0)
        return this.drop(Dp.GSO_TUNNEL);
      return this.xmitTunnelSegs4(b, cid, dest, rxFlags, cap, overhead);
    }
    const v = this.route4(b, daddr, rxFlags, cap, overhead, 0);
    if (v !== CONTINUE) return v;
    if ((rxFlags & RxFlag.CSUM_PARTIAL) !== 0) this.completeCsum(b);
    this.tunParams(dest, daddr);
    this.tun.id = this.tunId = (this.tunId + 1) & 0xffff;
    const n = this.encap4(b, fi.ethOff, fi.l3off, fi.l3len, cap, dest.tunType);
    if (n < 0) return this.drop(Dp.NO_ROOM);
    setMacs(b, fi.ethOff, hop.dstMac, hop.srcMac);
    this.outIf = hop.ifindex;
    this.outLen = n;
    this.counters[Dp.TX]++;
    this.lastReason = Dp.TX;
    return Verdict.TX;
  }

  /** The outer header's fields for `dest` (all but the id), from the route in `this.hop`. */
  private tunParams(dest: Dest, daddr: number): void {
    const fi = this.fi;
    const p = this.tun;
    p.src = this.hop.saddr;
    p.dst = daddr;
    p.pmtuDisc = this.settings.pmtuDisc;
    p.tunFlags = dest.tunFlags;
    // udp_flow_src_port: a flow hash in the ephemeral range, stable per client flow.
    p.sport = 49152 + ((Math.imul(fi.saddr ^ (fi.sport << 16) ^ fi.dport, 0x9e3779b1) >>> 18) % 16384);
    p.dport = dest.tunPort;
    p.csumStart = -1;
  }

  private encap4(
    b: Uint8Array,
    ethOff: number,
    l3off: number,
    l3len: number,
    cap: number,
    type: number,
  ): number {
    const p = this.tun;
    return type === TunType.GUE
      ? gueEncapV4(b, ethOff, l3off, l3len, cap, p)
      : type === TunType.GRE
        ? greEncapV4(b, ethOff, l3off, l3len, cap, p)
        : ipipEncapV4(b, ethOff, l3off, l3len, cap, p);
  }

  /**
   * ip_vs_tunnel_xmit for a TCP GSO super-frame: the route and TTL checks once, then the frame is
   * segmented in software (tcp_gso_segment) into segBuf — at the gso_size the sender chose, or
   * smaller if the tunnel header would push a segment past the route's MTU — and each segment is
   * wrapped in its own outer header with its own identification.
   */
  private xmitTunnelSegs4(
    b: Uint8Array,
    cid: number,
    dest: Dest,
    rxFlags: number,
    cap: number,
    overhead: number,
  ): number {
    const fi = this.fi;
    const hop = this.hop;
    const v = this.route4(b, this.conns4.daddr4(cid), rxFlags, cap, overhead, 0);
    if (v !== CONTINUE) return v;
    const seg = this.segBuf;
    const ipHl = fi.l4off - fi.l3off;
    let n: number;
    let slot: number;
    if (fi.proto === IPPROTO_UDP) {
      // The datagrams' size is the sender's (each is one message): one that does not fit the
      // tunnel gets the answer a too-big datagram gets (ensure_mtu_is_adequate).
      const size = this.rxGsoSize;
      const mtu = hop.mtu - overhead;
      if (ipHl + 8 + size > mtu) {
        if (!this.settings.pmtuDisc || !ipv4Df(b, fi.l3off)) return this.drop(Dp.GSO_TUNNEL);
        // route4 took one off the TTL; the error quotes the datagram as the sender sent it.
        ipv4SetTtl(b, fi.l3off, b[fi.l3off + 8] + 1);
        return this.icmpError4(b, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu & 0xffff, cap, Dp.FRAG_NEEDED);
      }
      slot = (fi.l4off - fi.ethOff + 8 + size + SEG_ROOM + 63) & ~63;
      n = udpSegmentV4(b, fi.ethOff, fi.l3off, fi.l4off, fi.l3len, size, seg, slot, SEG_MAX, this.segLens);
    } else {
      const doff = (b[fi.l4off + 12] >>> 4) * 4;
      const mss = Math.min(this.rxGsoSize, hop.mtu - overhead - ipHl - doff);
      slot = (fi.l4off - fi.ethOff + doff + mss + SEG_ROOM + 63) & ~63;
      n = tcpSegmentV4(b, fi.ethOff, fi.l3off, fi.l4off, fi.l3len, mss, seg, slot, SEG_MAX, this.segLens);
    }
    if (n < 0) return this.drop(Dp.NO_ROOM);
    const p = this.tun;
    this.tunParams(dest, this.conns4.daddr4(cid));
    const l3rel = fi.l3off - fi.ethOff;
    for (let k = 0; k < n; k++) {
      const o = k * slot;
      p.id = this.tunId = (this.tunId + 1) & 0xffff;
      const len = this.encap4(seg, o, o + l3rel, this.segLens[k] - l3rel, slot, dest.tunType);
      if (len < 0) return this.drop(Dp.NO_ROOM);
      setMacs(seg, o, hop.dstMac, hop.srcMac);
      this.segLens[k] = len;
    }
    this.segCount = n;
    this.segSlot = slot;
    this.outIf = hop.ifindex;
    this.outLen = 0;
    this.counters[Dp.GSO_SEGMENTED]++;
    this.counters[Dp.TX]++;
    this.lastReason = Dp.TX;
    return Verdict.TX_SEGS;
  }

  /**
   * FullNAT (Alibaba LVS / DPVS): both ends rewritten — client → local address and port,
   * VIP → real server — and the client's address carried in a TOA option on the handshake.
   */
  private xmitFnat4(
    b: Uint8Array,
    cid: number,
    partial: boolean,
    rxFlags: number,
    cap: number,
    _rxIf: number,
  ): number {
    const fi = this.fi;
    const t = this.conns4;
    const daddr = t.daddr4(cid);
    const caddr = fi.saddr;
    const cport = fi.sport;
    const toa =
      fi.proto === IPPROTO_TCP &&
      this.settings.fullnatClientAddr === 'toa' &&
      (fi.tcpFlags & TCP_FLAG_RST) === 0 &&
      ((fi.tcpFlags & TCP_FLAG_SYN) !== 0 || ((fi.tcpFlags & TCP_FLAG_ACK) !== 0 && t.inPktsOf(cid) <= 2));
    const proxy = fi.proto === IPPROTO_TCP && this.settings.fullnatClientAddr === 'proxy2';
    const v = this.route4(b, daddr, rxFlags, cap, 0, toa ? 8 : proxy ? PROXY2_LEN_V4 : 0);
    if (v !== CONTINUE) return v;
    if (proxy) this.proxyIn4(b, cid, partial, cap);
    rewriteSrc4(b, fi.l3off, fi.l4off, fi.l4len, fi.proto, t.laddr4(cid), t.lportOf(cid), partial);
    rewriteDst4(b, fi.l3off, fi.l4off, fi.l4len, fi.proto, daddr, t.dportOf(cid), partial);
    if (toa) {
      // tcp_fnat_in_handler: the handshake (SYN and the ACK that completes it) carries TOA, which
      // the real server's toa module reads when the connection is accepted.
      const n = tcpInsertToaV4(b, fi.l3off, fi.l4off, fi.frameLen, cap, cport, caddr, partial);
      if (n > 0) {
        fi.l3len += 8;
        fi.l4len += 8;
        fi.frameLen = n;
        this.outHdrGrow = 8;
      }
    }
    return this.finish4(b, rxFlags, false);
  }

  /**
   * PROXY v2 for a FullNAT conn, client → server: the first payload gets the header in front
   * (again on a retransmission of that packet), later packets have their seq shifted
   * (app_tcp_pkt_in: vs_fix_seq, then the payload change, then vs_seq_update).
   */
  private proxyIn4(b: Uint8Array, cid: number, partial: boolean, cap: number): void {
    const fi = this.fi;
    const t = this.conns4;
    const st = this.loadSeq(cid);
    const seq = u32(b, fi.l4off + 4);
    tcpFixSeq(b, fi.l4off, st, partial);
    const payload = fi.l4len - ((b[fi.l4off + 12] >>> 4) << 2);
    if (payload > 0 && (!st.active || seq === st.initSeq)) {
      const hdr = this.proxyHdr;
      proxy2WriteV4(hdr, 0, t.caddr4(cid), t.vaddr4(cid), t.cportOf(cid), t.vportOf(cid), IPPROTO_TCP);
      const n = tcpInsertDataV4(b, fi.l3off, fi.l4off, fi.frameLen, cap, hdr, 0, PROXY2_LEN_V4, partial);
      if (n > 0) {
        fi.l3len += PROXY2_LEN_V4;
        fi.l4len += PROXY2_LEN_V4;
        fi.frameLen = n;
        seqStateUpdate(st, seq, PROXY2_LEN_V4);
      }
    }
    this.storeSeq(cid, st);
  }

  // ---------------------------------------------------------------- ICMP

  /**
   * ip_vs_in_icmp / ip_vs_out_icmp: an ICMP error about a packet of one of our conns is
   * forwarded to the other side (and NAT-translated, outer and embedded headers); echo to a VIP
   * is answered; anything else passes to the host.
   */
  private icmp4(b: Uint8Array, rxIf: number, cap: number, now: number): number {
    const fi = this.fi;
    const type = fi.icmpType;
    if (type === ICMP_ECHO_REQUEST && this.settings.answerPing && this.isVip4(fi.daddr))
      return this.echoReply4(b, rxIf);
    if (!icmpIsIpvsRelated(type)) return this.pass(Dp.PASS_PROTO);
    if (icmpInnerCheck(b, fi.l4off, fi.l4len) !== Reason.OK) return this.pass(Dp.ICMP_UNRELATED);
    const io = fi.l4off + 8;
    const ihl = (b[io] & 0xf) * 4;
    const ip = b[io + 9];
    if (ip !== IPPROTO_TCP && ip !== IPPROTO_UDP && ip !== IPPROTO_SCTP) return this.pass(Dp.ICMP_UNRELATED);
    const isrc = u32(b, io + 12);
    const idst = u32(b, io + 16);
    const isport = u16(b, io + ihl);
    const idport = u16(b, io + ihl + 2);
    const t = this.conns4;
    // The embedded packet went the other way: a reply we sent (VIP → client) is looked up as
    // client → VIP (ip_vs_in_icmp), a request we forwarded (client → RS) as RS → client (out).
    let cid = t.lookupIn(ip, idst, idport, isrc, isport);
    if (cid >= 0) return this.icmpIn4(b, cid, io, ihl, cap, now);
    cid = t.lookupOut(ip, idst, idport, isrc, isport);
    if (cid >= 0) return this.icmpOut4(b, cid, io, ihl, cap, now);
    return this.pass(Dp.ICMP_UNRELATED);
  }

  /** An error from the client side about our reply: to the real server. */
  private icmpIn4(b: Uint8Array, cid: number, io: number, ihl: number, cap: number, now: number): number {
    const fi = this.fi;
    const t = this.conns4;
    const fwd = t.getFlags(cid) & FWD_MASK;
    const daddr = t.daddr4(cid);
    t.put(cid, now);
    if (fwd === Fwd.TUNNEL) {
      const dest = this.destOf(cid);
      if (dest === undefined) return this.drop(Dp.DEST_UNAVAILABLE);
      return this.xmitTunnel4(b, cid, dest, 0, cap, this.outIf);
    }
    const v = this.route4(b, daddr, 0, cap, 0, 0);
    if (v !== CONTINUE) return v;
    if (fwd === Fwd.MASQ || fwd === Fwd.FULLNAT) {
      // ip_vs_nat_icmp (inout = 0): outer dst and embedded src become the real server's.
      ipv4SetDst(b, fi.l3off, daddr);
      if (fwd === Fwd.FULLNAT) {
        ipv4SetSrc(b, fi.l3off, t.laddr4(cid));
        setU32At(b, io + 16, t.laddr4(cid));
        setU16At(b, io + ihl + 2, t.lportOf(cid));
      }
      setU32At(b, io + 12, daddr);
      setU16At(b, io + ihl, t.dportOf(cid));
      ipv4FillCsum(b, io);
      icmpFillCsum(b, fi.l4off, fi.l4len);
    }
    return this.finish4(b, 0, false);
  }

  /** An error from the real server about a client packet: back to the client, translated. */
  private icmpOut4(b: Uint8Array, cid: number, io: number, ihl: number, cap: number, now: number): number {
    const fi = this.fi;
    const t = this.conns4;
    const fwd = t.getFlags(cid) & FWD_MASK;
    if (fwd !== Fwd.MASQ && fwd !== Fwd.FULLNAT) return this.pass(Dp.ICMP_UNRELATED);
    t.put(cid, now);
    const caddr = t.caddr4(cid);
    const v = this.route4(b, caddr, 0, cap, 0, 0);
    if (v !== CONTINUE) return v;
    // ip_vs_nat_icmp (inout = 1): outer src and embedded dst become the virtual service's.
    ipv4SetSrc(b, fi.l3off, t.vaddr4(cid));
    setU32At(b, io + 16, t.vaddr4(cid));
    setU16At(b, io + ihl + 2, t.vportOf(cid));
    if (fwd === Fwd.FULLNAT) {
      ipv4SetDst(b, fi.l3off, caddr);
      setU32At(b, io + 12, caddr);
      setU16At(b, io + ihl, t.cportOf(cid));
    }
    ipv4FillCsum(b, io);
    icmpFillCsum(b, fi.l4off, fi.l4len);
    return this.finish4(b, 0, false);
  }

  /** The VIP answers ping, as the kernel director's stack does (the VIP is local there). */
  private echoReply4(b: Uint8Array, rxIf: number): number {
    const fi = this.fi;
    const src = fi.saddr;
    ipv4SetSrc(b, fi.l3off, fi.daddr);
    ipv4SetDst(b, fi.l3off, src);
    b[fi.l4off] = ICMP_ECHO_REPLY;
    const c = u16(b, fi.l4off + 2);
    setU16At(b, fi.l4off + 2, csumReplace16(c, ICMP_ECHO_REQUEST << 8, ICMP_ECHO_REPLY << 8));
    // Back to whoever sent it on the same link.
    setMacs(b, fi.ethOff, readMac(b, fi.ethOff + 6), this.net.ifMac(rxIf));
    this.outIf = rxIf;
    this.outLen = fi.l3off - fi.ethOff + fi.l3len;
    this.counters[Dp.REPLY]++;
    return Verdict.REPLY;
  }
}

const CONTINUE = -1;
const NO_DEST = -2;
/** Software GSO (TUN): the segment buffer (a 64 KiB super-frame cut to 536-byte segments fits). */
const SEG_BUF = 256 * 1024;
const SEG_MAX = 1024;
/** Room per segment beyond its own bytes: the largest tunnel header (GUE with checksum) and more. */
const SEG_ROOM = 64;
const FAILED = -3;

/** ip_vs_in_stats / ip_vs_out_stats: the dest, its service and the total. */
function addStats(dest: Dest, total: Stats, bytes: number, inbound: boolean): void {
  const s1 = dest.stats;
  const s2 = dest.svc.stats;
  if (inbound) {
    s1.inpkts++;
    s1.inbytes += bytes;
    s2.inpkts++;
    s2.inbytes += bytes;
    total.inpkts++;
    total.inbytes += bytes;
  } else {
    s1.outpkts++;
    s1.outbytes += bytes;
    s2.outpkts++;
    s2.outbytes += bytes;
    total.outpkts++;
    total.outbytes += bytes;
  }
}

function setU32At(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function setU16At(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function readMac(b: Uint8Array, o: number): number {
  return ((b[o] << 8) | b[o + 1]) * 0x100000000 + u32(b, o + 2);
}

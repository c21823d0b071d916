/**
 * The IPv6 half of the pipeline: the same ip_vs_in / ip_vs_out flow as pipeline.ts over the IPv6
 * connection table, with 16-byte addresses read in place. NAT, DR, TUN (an IPv6 packet inside
 * IPv4 — IPVS allows mixed families for tunnels) and FullNAT; ICMPv6 packet-too-big, time
 * exceeded and port unreachable are generated as the kernel's icmpv6_send would.
 *
 * Not handled here (counted and passed to the host): ICMPv6 errors about our conns (the v4 path
 * translates them), and neighbour discovery, which the data plane answers for the VIPs itself.
 */
import { ConnAddr, ConnTable } from '../conn/table.ts';
import { tcpStateTransition } from '../conn/proto-tcp.ts';
import { udpStateTransition } from '../conn/proto-udp.ts';
import { sctpStateChunkType, sctpStateTransition } from '../conn/proto-sctp.ts';
import type { ConnParam } from '../conn/types.ts';
import { Dir, newConnParam } from '../conn/types.ts';
import type { Dest } from '../model/dest.ts';
import { ConnFlag, DestFlag, FWD_MASK, Fwd, SvcFlag, TunType } from '../model/flags.ts';
import type { Service } from '../model/service.ts';
import type { SchedPacket } from '../sched/types.ts';
import { newSchedPacket } from '../sched/types.ts';
import { csumCompletePartial } from '../wire/checksum.ts';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.ts';
import { IPV6_DST, IPV6_SRC } from '../wire/ipv6.ts';
import { TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN } from '../wire/tcp.ts';
import { SCTP_CHUNK_INIT, SCTP_HLEN, sctpFirstChunk } from '../wire/sctp.ts';
import { newTunnelParams, ipipEncapV4 } from '../wire/ipip.ts';
import { gueEncapV4 } from '../wire/gue.ts';
import { greEncapV4 } from '../wire/gre.ts';
import { tcpInsertToaV6 } from '../wire/toa.ts';
import { handlePort, handleSlot } from '../xmit/laddr-pool.ts';
import { decrementTtl, rewriteDst6, rewriteSrc6, setMacs } from '../xmit/rewrite.ts';
import { icmpSendInPlace6 } from '../xmit/icmp-send.ts';
import type { FrameInfo } from './parse.ts';
import type { Pipeline, PipelineCore } from './pipeline.ts';
import { RxFlag } from './pipeline.ts';
import { Dp, Verdict } from './verdict.ts';

const ICMPV6_DEST_UNREACH = 1;
const ICMPV6_PORT_UNREACH = 4;
const ICMPV6_PKT_TOOBIG = 2;
const ICMPV6_TIME_EXCEED = 3;
const CONTINUE = -1;
const NO_DEST = -2;
const FAILED = -3;

export class Path6 {
  readonly conns: ConnTable;
  private readonly p: PipelineCore;
  private readonly fi: FrameInfo;
  private readonly sp: SchedPacket = newSchedPacket();
  private readonly cparam: ConnParam = newConnParam();
  private readonly scratch = new Uint8Array(16);
  private readonly snet = new Uint8Array(16);
  private readonly tun = newTunnelParams();
  private tunId = 0;
  /** Laddr-pool handle plus one per conn (0: none). */
  private readonly fnatHandle: Int32Array;
  private readonly fnatSvc: Int32Array;

  constructor(
    core: PipelineCore,
    fi: FrameInfo,
    random: () => number,
    maxConns: number,
    tickMs: number | undefined,
  ) {
    this.p = core;
    this.fi = fi;
    this.conns = new ConnTable({
      af: 6,
      dests: core.services.dests,
      random,
      maxEntries: maxConns,
      totalStats: core.services.total,
      timeouts: core.timeouts,
      settings: core.connSettings,
      tickMs,
    });
    this.fnatHandle = new Int32Array(this.conns.maxEntries);
    this.fnatSvc = new Int32Array(this.conns.maxEntries);
    this.conns.onUnlink = (id: number) => {
      const h = this.fnatHandle[id] - 1;
      if (h < 0) return;
      this.fnatHandle[id] = 0;
      core.releaseLport(this.fnatSvc[id], h);
    };
  }

  process(b: Uint8Array, rxIf: number, rxFlags: number, cap: number, now: number): number {
    const fi = this.fi;
    const p = fi.proto;
    if (p !== IPPROTO_TCP && p !== IPPROTO_UDP && p !== IPPROTO_SCTP) return this.p.pass(Dp.PASS_PROTO);
    const t = this.conns;
    const s = fi.l3off + IPV6_SRC;
    const d = fi.l3off + IPV6_DST;
    let cid = t.lookupIn6(p, b, s, fi.sport, b, d, fi.dport);
    if (cid < 0) {
      const oid = t.lookupOut6(p, b, s, fi.sport, b, d, fi.dport);
      if (oid >= 0) return this.out(b, oid, rxFlags, cap, now);
    }
    const newConnPkt =
      p === IPPROTO_TCP
        ? (fi.tcpFlags & TCP_FLAG_SYN) !== 0
        : p === IPPROTO_SCTP && sctpFirstChunk(b, fi.l4off, fi.l4len) === SCTP_CHUNK_INIT;
    const cs = this.p.connSettings;
    if (cid >= 0 && newConnPkt) {
      // ip_vs_in: conn_reuse_mode / expire_nodest_conn on a SYN that hits an entry.
      const dest = this.destOf(cid);
      let resched = false;
      if (cs.expireNodestConn !== 0 && dest !== undefined && dest.weight === 0) resched = true;
      else if (cs.connReuseMode !== 0 && t.isNewConnExpected(cid, cs.connReuseMode))
        resched = t.nControlOf(cid) === 0;
      if (resched) {
        if (t.nControlOf(cid) === 0) t.expireNow(cid, now);
        cid = -1;
      }
    }
    if (cid >= 0) {
      const dest = this.destOf(cid);
      if (dest !== undefined && (dest.flags & DestFlag.AVAILABLE) === 0) {
        if (cs.expireNodestConn === 0) return this.p.drop(Dp.DEST_UNAVAILABLE);
        t.expireNow(cid, now);
        cid = -1;
      }
    }
    if (cid < 0) {
      const svc = this.p.services.find6(p, b, d, fold(b, d), fi.dport, 0);
      if (svc === null) return this.p.pass(Dp.PASS_NOT_VIP);
      let may: boolean;
      if (p === IPPROTO_TCP) may = (fi.tcpFlags & TCP_FLAG_RST) === 0 && (cs.sloppyTcp !== 0 || newConnPkt);
      else if (p === IPPROTO_SCTP) may = cs.sloppySctp !== 0 || newConnPkt;
      else may = true;
      if (!may) return this.p.drop(Dp.NO_CONN_NOT_SYN);
      cid = this.schedule(b, svc, now);
      if (cid === NO_DEST) {
        this.p.count(Dp.NO_DEST);
        return this.icmpError(b, rxIf, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0, cap, Dp.NO_DEST);
      }
      if (cid < 0) return this.p.drop(this.p.lastReason);
    }
    return this.in(b, cid, rxFlags, cap, rxIf, now);
  }

  private destOf(cid: number): Dest | undefined {
    const id = this.conns.destOf(cid);
    return id < 0 ? undefined : this.p.services.dests.get(id);
  }

  /** ip_vs_schedule / ip_vs_sched_persist for IPv6 (the netmask is a prefix length). */
  private schedule(b: Uint8Array, svc: Service, now: number): number {
    const fi = this.fi;
    const sp = this.sp;
    const s = fi.l3off + IPV6_SRC;
    const d = fi.l3off + IPV6_DST;
    sp.af = 6;
    sp.saddr = sp.daddr = 0;
    for (let i = 0; i < 16; i++) {
      sp.saddr6[i] = b[s + i];
      sp.daddr6[i] = b[d + i];
    }
    sp.saddrFold = fold(b, s);
    sp.daddrFold = fold(b, d);
    sp.sport = fi.sport;
    sp.dport = fi.dport;
    const t = this.conns;
    const flags = (svc.flags & SvcFlag.ONEPACKET) !== 0 && fi.proto === IPPROTO_UDP ? ConnFlag.ONE_PACKET : 0;
    if ((svc.flags & SvcFlag.PERSISTENT) === 0) {
      if (svc.fwmark === 0 && fi.dport !== svc.port) {
        this.p.lastReason = Dp.PORT_ZERO_NOT_PERSISTENT;
        return FAILED;
      }
      const dest = svc.sched!.schedule(sp);
      if (dest === null) return NO_DEST;
      return this.newConn(b, svc, dest, dest.port !== 0 ? dest.port : fi.dport, flags, now);
    }
    // ipv6_addr_prefix(snet, saddr, netmask)
    const snet = this.snet;
    const bits = svc.netmask;
    for (let i = 0; i < 16; i++) {
      const keep = Math.max(0, Math.min(8, bits - i * 8));
      snet[i] = b[s + i] & ((0xff00 >>> keep) & 0xff);
    }
    const tproto = svc.fwmark !== 0 ? 0 : fi.proto;
    const tvport = svc.fwmark !== 0 || svc.port === 0 ? 0 : fi.dport;
    let ct =
      svc.fwmark !== 0
        ? t.lookupTemplateFwmark6(snet, 0, svc.fwmark)
        : t.lookupTemplate6(tproto, snet, 0, b, d, tvport);
    let dest: Dest | undefined;
    if (ct >= 0 && t.checkTemplate(ct)) {
      dest = this.p.services.dests.get(t.destOf(ct));
    } else {
      const dd = svc.sched!.schedule(sp);
      if (dd === null) return NO_DEST;
      dest = dd;
      const cp = this.cparam;
      cp.proto = tproto;
      cp.caddr6.set(snet);
      cp.cport = 0;
      cp.vaddr6.set(sp.daddr6);
      cp.vport = tvport;
      if (dd.addr.af === 6) cp.daddr6.set(dd.addr.v6!);
      else cp.daddr6.fill(0);
      cp.dport = svc.fwmark !== 0 || svc.port === 0 ? 0 : dd.port;
      cp.laddr6.set(snet);
      cp.lport = 0;
      cp.fwmark = svc.fwmark;
      cp.flags = 0;
      cp.destId = dd.id;
      ct = t.createTemplate(cp, svc.timeout * 1000, now);
      if (ct < 0) {
        this.p.lastReason = Dp.CONN_TABLE_FULL;
        return FAILED;
      }
    }
    if (dest === undefined) return NO_DEST;
    let dport = fi.dport;
    if (dport === svc.port && dest.port !== 0) dport = dest.port;
    const cid = this.newConn(b, svc, dest, dport, flags, now);
    if (cid >= 0) t.linkToTemplate(cid, ct, now);
    return cid;
  }

  private newConn(
    b: Uint8Array,
    svc: Service,
    dest: Dest,
    dport: number,
    flags: number,
    now: number,
  ): number {
    const fi = this.fi;
    const cp = this.cparam;
    const s = fi.l3off + IPV6_SRC;
    const d = fi.l3off + IPV6_DST;
    cp.proto = fi.proto;
    for (let i = 0; i < 16; i++) {
      cp.caddr6[i] = b[s + i];
      cp.vaddr6[i] = b[d + i];
      cp.laddr6[i] = b[s + i];
    }
    cp.cport = fi.sport;
    cp.vport = fi.dport;
    // A v6 service may tunnel to an IPv4 real server: keep its address in the first word.
    if (dest.addr.af === 6) cp.daddr6.set(dest.addr.v6!);
    else {
      cp.daddr6.fill(0);
      const a = dest.addr.v4;
      cp.daddr6[0] = a >>> 24;
      cp.daddr6[1] = (a >>> 16) & 0xff;
      cp.daddr6[2] = (a >>> 8) & 0xff;
      cp.daddr6[3] = a & 0xff;
    }
    cp.dport = dport;
    cp.lport = fi.sport;
    cp.fwmark = svc.fwmark;
    cp.flags = flags;
    cp.destId = dest.id;
    let h = -1;
    if ((dest.connFlags & FWD_MASK) === Fwd.FULLNAT) {
      h = this.p.allocLport(svc);
      if (h < 0) {
        this.p.lastReason = Dp.FULLNAT_NO_PORT;
        return FAILED;
      }
      const la = this.p.lportAddr(handleSlot(h));
      if (la === null || la.af !== 6) {
        this.p.releaseLport(svc.id, h);
        this.p.lastReason = Dp.FULLNAT_NO_PORT;
        return FAILED;
      }
      cp.laddr6.set(la.v6!);
      cp.lport = handlePort(h);
    }
    const cid = this.conns.insert(cp, now);
    if (cid < 0) {
      if (h >= 0) this.p.releaseLport(svc.id, h);
      this.p.lastReason = Dp.CONN_TABLE_FULL;
      return FAILED;
    }
    this.fnatHandle[cid] = h + 1;
    this.fnatSvc[cid] = svc.id;
    return cid;
  }

  private stateTransition(b: Uint8Array, cid: number, dir: Dir): void {
    const fi = this.fi;
    if (fi.proto === IPPROTO_TCP) tcpStateTransition(this.conns, cid, dir, fi.tcpFlags);
    else if (fi.proto === IPPROTO_UDP) udpStateTransition(this.conns, cid, dir);
    else
      sctpStateTransition(
        this.conns,
        cid,
        dir,
        sctpStateChunkType(b, fi.l4off + SCTP_HLEN, fi.l4off + fi.l4len),
      );
  }

  private in(b: Uint8Array, cid: number, rxFlags: number, cap: number, rxIf: number, now: number): number {
    const fi = this.fi;
    const t = this.conns;
    const dest = this.destOf(cid);
    if (dest !== undefined) this.p.addStats(dest, fi.l3len, true);
    this.stateTransition(b, cid, Dir.INPUT);
    const pkts = t.incInPkts(cid);
    t.put(cid, now);
    const partial = (rxFlags & RxFlag.CSUM_PARTIAL) !== 0;
    const fwd = t.getFlags(cid) & FWD_MASK;
    let v: number;
    if (fwd === Fwd.TUNNEL && dest !== undefined) v = this.xmitTunnel(b, cid, dest, rxFlags, cap, rxIf);
    else if (dest !== undefined && dest.addr.af !== 6) v = this.p.drop(Dp.UNSUPPORTED);
    else {
      const r = this.route(
        b,
        ConnAddr.D,
        cid,
        rxFlags,
        cap,
        rxIf,
        fwd === Fwd.FULLNAT && fi.proto === IPPROTO_TCP ? 20 : 0,
      );
      if (r !== CONTINUE) v = r;
      else {
        if (fwd === Fwd.MASQ) {
          rewriteDst6(
            b,
            fi.l3off,
            fi.l4off,
            fi.l4len,
            fi.proto,
            this.addrBytes(ConnAddr.D, cid),
            0,
            t.dportOf(cid),
            partial,
            this.scratch,
          );
        } else if (fwd === Fwd.FULLNAT) {
          this.fullnat(b, cid, partial, cap);
        }
        v = this.finish(b, rxFlags);
      }
    }
    const one = (t.getFlags(cid) & ConnFlag.ONE_PACKET) !== 0;
    // ip_vs_in: the sync master hears of the packet after the transmit.
    if (this.p.onInPacket !== null) this.p.onInPacket(t, cid, one ? this.p.syncThreshold : pkts);
    if (one) t.expireNow(cid, now);
    return v;
  }

  /** FullNAT in: client → local address/port, VIP → real server, TOA on the handshake. */
  private fullnat(b: Uint8Array, cid: number, partial: boolean, cap: number): void {
    const fi = this.fi;
    const t = this.conns;
    const s = fi.l3off + IPV6_SRC;
    const cport = fi.sport;
    const client = this.snet;
    for (let i = 0; i < 16; i++) client[i] = b[s + i];
    rewriteSrc6(
      b,
      fi.l3off,
      fi.l4off,
      fi.l4len,
      fi.proto,
      this.addrBytes(ConnAddr.L, cid),
      0,
      t.lportOf(cid),
      partial,
      this.scratch,
    );
    rewriteDst6(
      b,
      fi.l3off,
      fi.l4off,
      fi.l4len,
      fi.proto,
      this.addrBytes(ConnAddr.D, cid),
      0,
      t.dportOf(cid),
      partial,
      this.scratch,
    );
    if (
      fi.proto === IPPROTO_TCP &&
      this.p.settings.fullnatClientAddr === 'toa' &&
      (fi.tcpFlags & TCP_FLAG_RST) === 0 &&
      ((fi.tcpFlags & TCP_FLAG_SYN) !== 0 || ((fi.tcpFlags & TCP_FLAG_ACK) !== 0 && t.inPktsOf(cid) <= 2))
    ) {
      const n = tcpInsertToaV6(b, fi.l3off, fi.l4off, fi.frameLen, cap, cport, client, 0, partial);
      if (n > 0) {
        fi.l3len += 20;
        fi.l4len += 20;
        fi.frameLen = n;
        this.p.outHdrGrow = 20;
      }
    }
  }

  /** A reply of a NAT / FullNAT conn from the real server, back to the client. */
  private out(b: Uint8Array, cid: number, rxFlags: number, cap: number, now: number): number {
    const fi = this.fi;
    const t = this.conns;
    const fwd = t.getFlags(cid) & FWD_MASK;
    if (fwd !== Fwd.MASQ && fwd !== Fwd.FULLNAT) return this.p.pass(Dp.PASS_NOT_VIP);
    const dest = this.destOf(cid);
    if (dest !== undefined) this.p.addStats(dest, fi.l3len, false);
    this.stateTransition(b, cid, Dir.OUTPUT);
    t.put(cid, now);
    const r = this.route(b, ConnAddr.C, cid, rxFlags, cap, 0, 0);
    if (r !== CONTINUE) return r;
    const partial = (rxFlags & RxFlag.CSUM_PARTIAL) !== 0;
    rewriteSrc6(
      b,
      fi.l3off,
      fi.l4off,
      fi.l4len,
      fi.proto,
      this.addrBytes(ConnAddr.V, cid),
      0,
      t.vportOf(cid),
      partial,
      this.scratch,
    );
    if (fwd === Fwd.FULLNAT)
      rewriteDst6(
        b,
        fi.l3off,
        fi.l4off,
        fi.l4len,
        fi.proto,
        this.addrBytes(ConnAddr.C, cid),
        0,
        t.cportOf(cid),
        partial,
        this.scratch,
      );
    return this.finish(b, rxFlags);
  }

  private readonly abuf = new Uint8Array(16);

  /** The 16 bytes of address `which` of conn `cid`. */
  private addrBytes(which: ConnAddr, cid: number): Uint8Array {
    this.conns.readAddr6(which, cid, this.abuf, 0);
    return this.abuf;
  }

  /** __ip_vs_get_out_rt_v6: route, hop limit, MTU (packet too big), on the packet as received. */
  private route(
    b: Uint8Array,
    which: ConnAddr,
    cid: number,
    rxFlags: number,
    cap: number,
    rxIf: number,
    grow: number,
  ): number {
    const fi = this.fi;
    const hop = this.p.hop;
    if (!this.p.net.route6(this.addrBytes(which, cid), 0, hop)) return this.p.drop(Dp.NO_ROUTE);
    if (fi.ttl <= 1) return this.icmpError(b, rxIf, ICMPV6_TIME_EXCEED, 0, 0, cap, Dp.TTL_EXCEEDED);
    // IPv6 routers never fragment: too big is too big, DF or not (ICMPV6_PKT_TOOBIG).
    if (fi.l3len + grow > hop.mtu && (rxFlags & RxFlag.GSO) === 0)
      return this.icmpError(b, rxIf, ICMPV6_PKT_TOOBIG, 0, hop.mtu, cap, Dp.FRAG_NEEDED);
    decrementTtl(b, fi.l3off, 6);
    return CONTINUE;
  }

  private finish(b: Uint8Array, rxFlags: number): number {
    const fi = this.fi;
    const hop = this.p.hop;
    if ((rxFlags & RxFlag.CSUM_PARTIAL) !== 0) {
      if ((rxFlags & RxFlag.KEEP_PARTIAL) === 0) completeCsum(b, fi);
      else this.p.outPartial = true;
    }
    setMacs(b, fi.ethOff, hop.dstMac, hop.srcMac);
    return this.p.sent(hop.ifindex, fi.l3off - fi.ethOff + fi.l3len);
  }

  /** TUN for an IPv6 packet: IPv6-in-IPv4 (protocol 41) toward an IPv4 real server. */
  private xmitTunnel(
    b: Uint8Array,
    cid: number,
    dest: Dest,
    rxFlags: number,
    cap: number,
    rxIf: number,
  ): number {
    const fi = this.fi;
    const hop = this.p.hop;
    if (dest.addr.af !== 4) return this.p.drop(Dp.UNSUPPORTED);
    if ((rxFlags & RxFlag.GSO) !== 0) return this.p.drop(Dp.GSO_TUNNEL);
    const daddr = dest.addr.v4;
    if (!this.p.net.route4(daddr, hop)) return this.p.drop(Dp.NO_ROUTE);
    if (fi.ttl <= 1) return this.icmpError(b, rxIf, ICMPV6_TIME_EXCEED, 0, 0, cap, Dp.TTL_EXCEEDED);
    const overhead =
      dest.tunType === TunType.GUE ? 32 : dest.tunType === TunType.GRE ? (dest.tunFlags & 1 ? 28 : 24) : 20;
    const mtu = hop.mtu - overhead;
    if (fi.l3len > mtu && (rxFlags & RxFlag.GSO) === 0)
      return this.icmpError(b, rxIf, ICMPV6_PKT_TOOBIG, 0, mtu, cap, Dp.FRAG_NEEDED);
    decrementTtl(b, fi.l3off, 6);
    if ((rxFlags & RxFlag.CSUM_PARTIAL) !== 0) completeCsum(b, fi);
    const p = this.tun;
    p.src = hop.saddr;
    p.dst = daddr;
    p.id = this.tunId = (this.tunId + 1) & 0xffff;
    p.pmtuDisc = this.p.settings.pmtuDisc;
    p.tunFlags = dest.tunFlags;
    p.sport =
      49152 +
      ((Math.imul(fold(b, fi.l3off + IPV6_SRC) ^ (fi.sport << 16) ^ fi.dport, 0x9e3779b1) >>> 18) % 16384);
    p.dport = dest.tunPort;
    p.csumStart = -1;
    const n =
      dest.tunType === TunType.GUE
        ? gueEncapV4(b, fi.ethOff, fi.l3off, fi.l3len, cap, p)
        : dest.tunType === TunType.GRE
          ? greEncapV4(b, fi.ethOff, fi.l3off, fi.l3len, cap, p)
          : ipipEncapV4(b, fi.ethOff, fi.l3off, fi.l3len, cap, p);
    if (n < 0) return this.p.drop(Dp.NO_ROOM);
    setMacs(b, fi.ethOff, hop.dstMac, hop.srcMac);

    return this.p.sent(hop.ifindex, n);
  }

  /** icmpv6_send back to the sender, from the address it wrote to. */
  private icmpError(
    b: Uint8Array,
    rxIf: number,
    type: number,
    code: number,
    rest: number,
    cap: number,
    reason: number,
  ): number {
    const fi = this.fi;
    this.p.count(reason);
    const from = this.scratch;
    for (let i = 0; i < 16; i++) from[i] = b[fi.l3off + IPV6_DST + i];
    // Never about multicast destinations (RFC 4443 §2.4 e).
    if (from[0] === 0xff) return Verdict.DROP;
    const n = icmpSendInPlace6(
      b,
      fi.ethOff,
      fi.l3off,
      fi.l3len,
      cap,
      type,
      code,
      rest,
      from,
      0,
      this.p.net.ifMac(rxIf),
    );
    if (n < 0) return Verdict.DROP;
    return this.p.replied(rxIf, n);
  }
}

/** ip_vs_addr_fold for IPv6: XOR of the four words. */
function fold(b: Uint8Array, o: number): number {
  let f = 0;
  for (let i = 0; i < 16; i += 4)
    f ^= (b[o + i] << 24) | (b[o + i + 1] << 16) | (b[o + i + 2] << 8) | b[o + i + 3];
  return f >>> 0;
}

function completeCsum(b: Uint8Array, fi: FrameInfo): void {
  if (fi.proto === IPPROTO_TCP) csumCompletePartial(b, fi.l4off, fi.l4len, fi.l4off + 16, false);
  else if (fi.proto === IPPROTO_UDP) csumCompletePartial(b, fi.l4off, fi.l4len, fi.l4off + 6, true);
}

export type { Pipeline };

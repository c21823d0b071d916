/**
 * The director: frame I/O on each served interface → the pipeline → per-interface send lists.
 * It owns the routing table and ARP (the VIPs are not on the host), answers ARP for the VIPs,
 * announces them with gratuitous ARP, and runs the periodic work of the core.
 *
 * I/O is any FrameIO (AF_PACKET in the daemon, in-memory ports in tests), so this class runs
 * without root under test. Time comes from an injected clock.
 */
import { Pipeline, RxFlag } from '../datapath/pipeline.ts';
import type { PipelineSettings } from '../datapath/pipeline.ts';
import type { ConnSettings } from '../conn/settings.ts';
import { NeighCache, Router } from '../datapath/neigh.ts';
import type { RouterIf, StaticRoute } from '../datapath/neigh.ts';
import { Verdict, counterNames } from '../datapath/verdict.ts';
import { ServiceTable } from '../control/services.ts';
import { Timeouts } from '../conn/timeouts.ts';
import { arpWriteGratuitous, arpWriteRequest } from '../wire/arp.ts';
import { Meta, PacketType, TpStatus, VnetFlag, VnetGso } from '../io/types.ts';
import type { FrameIO } from '../io/types.ts';
import { NeighQueue } from './neighq.ts';
import { addrPortToString } from '../model/addr.ts';

export interface DirectorIf extends RouterIf {
  io: FrameIO;
  /**
   * The port carries a virtio_net_hdr per frame (PACKET_VNET_HDR): partial checksums and GSO
   * super-frames arrive described, are rewritten as they are, and leave with the same metadata,
   * so the kernel finishes checksums and segments after us (packet-io.md pitfalls 1 and 2).
   */
  vnet?: boolean;
}

export interface DirectorOptions {
  ifs: DirectorIf[];
  routes: StaticRoute[];
  now: () => number;
  random: () => number;
  maxConns?: number;
  settings?: Partial<PipelineSettings>;
  /** The IPVS sysctls (expire_nodest_conn, conn_reuse_mode, …); the kernel's defaults if absent. */
  connSettings?: ConnSettings;
  /** With N workers, this one (k) allocates FullNAT local ports ≡ k (mod N) only. */
  lportWorkers?: number;
  lportWorker?: number;
  /** Gratuitous ARPs sent per owned address when it appears (keepalived sends 5). */
  garpCount?: number;
}

/** Per-interface transmit list: entries (off, len) into whichever buffer the batch came in. */
class TxList {
  readonly meta: Int32Array;
  count = 0;
  constructor(n: number) {
    this.meta = new Int32Array(n * Meta.STRIDE);
  }
}

export class Director {
  readonly services: ServiceTable;
  readonly pipeline: Pipeline;
  readonly router: Router;
  readonly timeouts = new Timeouts();
  readonly ifs: DirectorIf[];
  private readonly now: () => number;
  private readonly tx: TxList[];
  /** A small buffer for frames we originate (ARP requests, gratuitous ARP). */
  private readonly ctlBuf = new Uint8Array(64 * 64);
  private readonly ctlMeta = new Int32Array(64 * Meta.STRIDE);
  /** Send descriptors for the segments of a software-segmented GSO frame (Verdict.TX_SEGS). */
  private readonly segMeta = new Int32Array(1024 * Meta.STRIDE);
  /** Frames waiting for their next hop's MAC (neigh_resolve_output's queue). */
  readonly neighQ = new NeighQueue();
  private readonly sendHeld = (ifindex: number, buf: Uint8Array, meta: Int32Array, k: number): void => {
    const ifi = this.ifByIndex(ifindex);
    if (ifi === undefined || ifi.io.send(buf, meta, k, 1) < 1) this.txErrors++;
  };
  private readonly garpCount: number;
  private announced = new Set<number>();
  /** Frames the receive path skipped before the pipeline (ours going out, truncated). */
  skippedOutgoing = 0;
  skippedTruncated = 0;
  /** The largest frame (wire length) that did not fit a slot. */
  largestTruncated = 0;
  txErrors = 0;

  constructor(o: DirectorOptions) {
    this.now = o.now;
    this.ifs = o.ifs;
    this.garpCount = o.garpCount ?? 3;
    this.services = new ServiceTable({
      now: o.now,
      random: o.random,
      lblcExpirationMs: 86_400_000,
      lblcrExpirationMs: 86_400_000,
    });
    this.router = new Router(o.ifs, o.routes, new NeighCache());
    this.router.queueUnresolved = true;
    this.pipeline = new Pipeline({
      services: this.services,
      net: this.router,
      random: o.random,
      maxConns: o.maxConns,
      settings: o.settings,
      connSettings: o.connSettings,
      lportWorkers: o.lportWorkers,
      lportWorker: o.lportWorker,
      timeouts: this.timeouts,
    });
    this.tx = o.ifs.map((i) => new TxList(Math.max(64, i.io.batchSize)));
    for (const i of o.ifs) {
      i.io.onBatch((buf, meta, n) => this.onBatch(i, buf, meta, n));
    }
  }

  private ifByIndex(index: number): DirectorIf | undefined {
    return this.ifs[index - 1];
  }

  /** One received batch: every frame through the pipeline, then one send per interface. */
  private onBatch(rx: DirectorIf, buf: Uint8Array, meta: Int32Array, n: number): void {
    const now = this.now();
    this.router.now = now;
    const pipe = this.pipeline;
    for (let i = 0; i < n; i++) {
      const m = i * Meta.STRIDE;
      if (meta[m + Meta.PKTTYPE] === PacketType.OUTGOING) {
        this.skippedOutgoing++;
        continue;
      }
      const status = meta[m + Meta.STATUS];
      if ((status & TpStatus.TRUNC) !== 0) {
        this.skippedTruncated++;
        if (meta[m + Meta.WIRELEN] > this.largestTruncated) this.largestTruncated = meta[m + Meta.WIRELEN];
        continue;
      }
      const off = meta[m + Meta.OFF];
      const len = meta[m + Meta.LEN];
      let rxFlags = 0;
      if (rx.vnet === true) {
        if ((meta[m + Meta.VNET_FLAGS] & VnetFlag.NEEDS_CSUM) !== 0)
          rxFlags |= RxFlag.CSUM_PARTIAL | RxFlag.KEEP_PARTIAL;
        if ((meta[m + Meta.VNET_GSO_TYPE] & ~VnetGso.ECN) !== VnetGso.NONE) {
          rxFlags |= RxFlag.GSO;
          pipe.rxGsoSize = meta[m + Meta.VNET_GSO_SIZE];
        }
      } else if ((status & TpStatus.CSUMNOTREADY) !== 0) {
        rxFlags = RxFlag.CSUM_PARTIAL;
      }
      this.router.unresolvedNh = -1;
      const v = pipe.process(buf, off, len, rx.io.slotSize, rx.index, rxFlags, now);
      pipe.rxGsoSize = 0;
      if (this.router.unresolvedNh >= 0 && (v === Verdict.TX || v === Verdict.TX_SEGS)) {
        // The next hop is still being resolved: the frame waits for the answer (segments of a
        // GSO frame are not held; the sender retransmits them).
        if (v === Verdict.TX)
          this.neighQ.hold(
            pipe.outIf,
            this.router.unresolvedNh,
            buf,
            pipe.outOff,
            pipe.outLen,
            pipe.outPartial ? meta : null,
            m,
            pipe.outHdrGrow,
            now,
          );
        else this.neighQ.dropped++;
        continue;
      }
      if (v === Verdict.TX_SEGS) {
        this.sendSegments(buf);
        continue;
      }
      if (v === Verdict.TX || v === Verdict.REPLY) {
        const t = this.tx[pipe.outIf - 1];
        if (t === undefined) continue;
        if (t.count * Meta.STRIDE >= t.meta.length) this.flush(buf);
        const e = t.count * Meta.STRIDE;
        t.meta[e + Meta.OFF] = pipe.outOff;
        t.meta[e + Meta.LEN] = pipe.outLen;
        if (pipe.outPartial) {
          // Same headers, same places: the offload description travels with the frame; the
          // header length of a GSO frame follows a TOA option the pipeline may have inserted.
          for (let k = Meta.VNET_FLAGS; k <= Meta.VNET_CSUM_OFFSET; k++) t.meta[e + k] = meta[m + k];
          t.meta[e + Meta.VNET_HDR_LEN] += pipe.outHdrGrow;
        } else {
          for (let k = Meta.VNET_FLAGS; k <= Meta.VNET_CSUM_OFFSET; k++) t.meta[e + k] = 0;
        }
        t.count++;
      }
    }
    // Held frames whose answer came in this batch go first: they are older than what is queued.
    if (this.neighQ.count !== 0) this.neighQ.drain(this.router.neigh, now, this.sendHeld);
    this.flush(buf);
    this.sendPendingArp();
  }

  /**
   * The segments of one super-frame (TUN mode, software GSO), out of the pipeline's own buffer.
   * What the batch queued before them goes first, so a flow's packets keep their order.
   */
  private sendSegments(buf: Uint8Array): void {
    const pipe = this.pipeline;
    const ifi = this.ifByIndex(pipe.outIf);
    if (ifi === undefined) return;
    this.flush(buf);
    const n = pipe.segCount;
    const sm = this.segMeta;
    for (let k = 0; k < n; k++) {
      const e = k * Meta.STRIDE;
      for (let j = 0; j < Meta.STRIDE; j++) sm[e + j] = 0;
      sm[e + Meta.OFF] = k * pipe.segSlot;
      sm[e + Meta.LEN] = pipe.segLens[k];
    }
    const sent = ifi.io.send(pipe.segBuf, sm, 0, n);
    if (sent < n) this.txErrors += n - sent;
  }

  private flush(buf: Uint8Array): void {
    for (let k = 0; k < this.tx.length; k++) {
      const t = this.tx[k];
      if (t.count === 0) continue;
      const sent = this.ifs[k].io.send(buf, t.meta, 0, t.count);
      if (sent < t.count) this.txErrors += t.count - sent;
      t.count = 0;
    }
  }

  /** ARP requests the neighbour cache asked for, from our address on that interface. */
  private sendPendingArp(): void {
    const p = this.router.neigh.pending;
    if (p.length === 0) return;
    for (let k = 0; k + 1 < p.length; k += 2) {
      const ifi = this.ifByIndex(p[k]);
      if (ifi === undefined) continue;
      const src = ifi.addrs[0]?.addr ?? 0;
      const len = arpWriteRequest(this.ctlBuf, 0, ifi.mac, src, p[k + 1]);
      this.sendCtl(ifi, len);
    }
    p.length = 0;
  }

  private sendCtl(ifi: DirectorIf, len: number): void {
    for (let k = Meta.VNET_FLAGS; k <= Meta.VNET_CSUM_OFFSET; k++) this.ctlMeta[k] = 0;
    this.ctlMeta[Meta.OFF] = 0;
    this.ctlMeta[Meta.LEN] = Math.max(len, 60);
    for (let i = len; i < 60; i++) this.ctlBuf[i] = 0;
    ifi.io.send(this.ctlBuf, this.ctlMeta, 0, 1);
  }

  /**
   * Gratuitous ARP for every owned address not yet announced (send_gratuitous_arp): on the
   * interfaces whose subnet holds it, or on every interface when none does.
   */
  announce(force = false): void {
    if (force) this.announced = new Set();
    for (const addr of this.services.owned4.keys()) {
      if (this.announced.has(addr)) continue;
      this.announced.add(addr);
      const on = this.ifs.filter((i) =>
        i.addrs.some((a) => (a.addr ^ addr) >>> (32 - a.prefix || 32) === 0 || a.prefix === 0),
      );
      for (const ifi of on.length > 0 ? on : this.ifs) {
        for (let k = 0; k < this.garpCount; k++)
          this.sendCtl(ifi, arpWriteGratuitous(this.ctlBuf, 0, ifi.mac, addr));
      }
    }
    for (const a of [...this.announced]) if (!this.services.owned4.has(a)) this.announced.delete(a);
  }

  /**
   * Resolves every real server's next hop ahead of traffic, so the first SYN usually finds the
   * MAC known rather than waiting in the neighbour queue.
   */
  primeNeighbours(): void {
    this.router.now = this.now();
    const hop = this.pipeline.hop;
    for (const s of this.services.list)
      for (const d of s.dests) if (d.addr.af === 4) this.router.route4(d.addr.v4, hop);
    this.sendPendingArp();
  }

  /**
   * After `ipvsadm -d` / `-D`: with expire_nodest_conn the deleted dests' conns go at once
   * (ip_vs_expire_nodest_conn_flush); without it they wait for their next packet or timer.
   */
  afterDelete(): void {
    if (this.pipeline.connSettings.expireNodestConn === 0) return;
    const now = this.now();
    this.pipeline.conns4.expireNodestFlush(now);
    this.pipeline.conns6.expireNodestFlush(now);
  }

  /** Sends the held frames whose next hop is now known (after a MAC learned from elsewhere). */
  drainHeld(): void {
    this.neighQ.drain(this.router.neigh, this.now(), this.sendHeld);
  }

  /** Periodic work, about once a second. */
  tick(): void {
    const now = this.now();
    this.router.now = now;
    this.pipeline.tick(now);
    this.router.neigh.gc(now);
    this.neighQ.drain(this.router.neigh, now, this.sendHeld);
    this.sendPendingArp();
  }

  /** Counters by name, for status and metrics. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    const c = this.pipeline.counters;
    for (let i = 0; i < c.length; i++) if (c[i] !== 0) out[counterNames[i]] = c[i];
    out.SKIPPED_OUTGOING = this.skippedOutgoing;
    out.SKIPPED_TRUNCATED = this.skippedTruncated;
    out.LARGEST_TRUNCATED = this.largestTruncated;
    out.TX_ERRORS = this.txErrors;
    out.NEIGH_UNRESOLVED = this.router.neigh.unresolved;
    out.NEIGH_QUEUED = this.neighQ.held;
    out.NEIGH_QUEUE_SENT = this.neighQ.sent;
    out.NEIGH_QUEUE_DROPS = this.neighQ.dropped;
    out.CONNS = this.pipeline.conns4.count + this.pipeline.conns6.count;
    return out;
  }

  close(): void {
    for (const i of this.ifs) {
      i.io.onBatch(null);
      i.io.close();
    }
  }
}

/**
 * tslvsd routes IPv4 only (Router.route6 refuses: no NDP, no IPv6 routes), while ipvsadm accepts
 * IPv6 services, as the kernel does. An operator who adds one must hear it once, not find out
 * from a NO_ROUTE counter: `check` returns that line when the first IPv6 service appears (and
 * again if one appears after all had gone), else null.
 */
export class Ipv6Notice {
  private shown = false;

  check(services: ServiceTable): string | null {
    const v6 = services.list.filter((s) => s.af === 6);
    if (v6.length === 0) {
      this.shown = false;
      return null;
    }
    if (this.shown) return null;
    this.shown = true;
    return (
      `IPv6 service ${v6[0].addr === null ? `FWM ${v6[0].fwmark}` : addrPortToString(v6[0].addr, v6[0].port)}: ` +
      'this director does not route IPv6 yet: neighbour solicitations for it go unanswered, and ' +
      'packets that reach it anyway are dropped as NO_ROUTE'
    );
  }
}

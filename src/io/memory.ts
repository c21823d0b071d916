/**
 * In-memory link for tests (smoltcp's Loopback, gVisor's channel endpoint): two MemoryPorts joined
 * back to back. A frame sent on one end is copied into the other end's bounded receive queue and
 * delivered in batches with the same buffer + meta layout as PacketPort, so a datapath can be tested
 * without root, namespaces or the addon.
 *
 * Like an AF_PACKET socket, the receiving end classifies frames (PacketType from the destination MAC,
 * given `mac`), cuts frames longer than its slot (TpStatus.TRUNC, WIRELEN keeps the real length), and
 * drops frames when its queue is full (counted in kernelDrops). It does not strip VLAN tags.
 * Offload fields (Meta.VNET_*) of a sent entry travel with the frame, as they do across a veth.
 *
 * Delivery is explicit (`deliver()`) so tests are deterministic; `autoDeliver` schedules it with
 * setImmediate instead, like a readiness callback.
 */
import { copyBytes, mac48, u16 } from '../wire/bytes.ts';
import { emptyPortStats, Meta, PacketType, TpStatus } from './types.ts';
import type { BatchHandler, FrameIO, PortStats } from './types.ts';

export interface MemoryPortOptions {
  name?: string;
  /** This end's MAC as a 48-bit number; without it every unicast frame counts as PacketType.HOST. */
  mac?: number;
  ifindex?: number;
  /** Frames per delivered batch. Default 64. */
  batchSize?: number;
  /** Bytes per slot; longer frames are truncated. Default 2048. */
  slotSize?: number;
  /** Receive queue depth in frames; arrivals beyond it are dropped. Default 1024. */
  queueLimit?: number;
  /** Deliver on setImmediate after arrivals instead of waiting for deliver(). Default false. */
  autoDeliver?: boolean;
}

/** Optional receive-side fields for inject(). */
export interface InjectFields {
  pkttype?: number;
  status?: number;
  vlanTci?: number;
  vlanTpid?: number;
}

const BROADCAST_MAC = 0xffffffffffff;

export class MemoryPort implements FrameIO {
  readonly name: string;
  readonly batchSize: number;
  readonly slotSize: number;
  readonly queueLimit: number;
  readonly mac: number | undefined;
  readonly ifindex: number;
  readonly autoDeliver: boolean;
  readonly rxBuf: Uint8Array;
  readonly rxMeta: Int32Array;
  /** The other end, or null if unconnected (sends then count as txErrors, like a link that is down). */
  peer: MemoryPort | null = null;

  private readonly qBuf: Uint8Array;
  private readonly qMeta: Int32Array;
  private qHead = 0;
  private qCount = 0;
  private handler: BatchHandler | null = null;
  private scheduled = false;
  private closed = false;
  private readonly counters: PortStats = emptyPortStats();

  constructor(opts: MemoryPortOptions = {}) {
    this.name = opts.name ?? 'mem';
    this.batchSize = opts.batchSize ?? 64;
    this.slotSize = opts.slotSize ?? 2048;
    this.queueLimit = opts.queueLimit ?? 1024;
    this.mac = opts.mac;
    this.ifindex = opts.ifindex ?? 1;
    this.autoDeliver = opts.autoDeliver ?? false;
    for (const [k, v] of [
      ['batchSize', this.batchSize],
      ['slotSize', this.slotSize],
      ['queueLimit', this.queueLimit],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer`);
    }
    this.rxBuf = new Uint8Array(this.batchSize * this.slotSize);
    this.rxMeta = new Int32Array(this.batchSize * Meta.STRIDE);
    this.qBuf = new Uint8Array(this.queueLimit * this.slotSize);
    this.qMeta = new Int32Array(this.queueLimit * Meta.STRIDE);
  }

  /** Frames waiting in the receive queue. */
  get pending(): number {
    return this.qCount;
  }

  onBatch(handler: BatchHandler | null): void {
    this.handler = handler;
    if (handler && this.qCount > 0) this.schedule();
  }

  /** Queue frame bytes as if they had arrived on the wire. Returns false if the queue dropped it. */
  inject(frame: Uint8Array, off = 0, len = frame.length - off, fields: InjectFields = {}): boolean {
    const q = this.enqueue(frame, off, len, null, 0);
    if (q < 0) return false;
    const m = q * Meta.STRIDE;
    if (fields.pkttype !== undefined) this.qMeta[m + Meta.PKTTYPE] = fields.pkttype;
    if (fields.status !== undefined) this.qMeta[m + Meta.STATUS] |= fields.status;
    if (fields.vlanTci !== undefined) this.qMeta[m + Meta.VLAN_TCI] = fields.vlanTci;
    if (fields.vlanTpid !== undefined) this.qMeta[m + Meta.VLAN_TPID] = fields.vlanTpid;
    return true;
  }

  send(buf: Uint8Array, meta: Int32Array, first: number, count: number): number {
    if (this.closed) throw new Error(`${this.name}: port is closed`);
    const peer = this.peer;
    for (let i = first; i < first + count; i++) {
      const m = i * Meta.STRIDE;
      const off = meta[m + Meta.OFF];
      const len = meta[m + Meta.LEN];
      if (off < 0 || len < 0 || off + len > buf.length) {
        throw new RangeError(
          `meta entry ${i} (offset ${off}, length ${len}) is outside buf (${buf.length} bytes)`,
        );
      }
      if (peer === null || peer.closed) {
        this.counters.txErrors++;
        continue;
      }
      this.counters.txPackets++;
      peer.enqueue(buf, off, len, meta, m);
    }
    return count;
  }

  /**
   * Hand queued frames to the handler, batchSize at a time, at most maxBatches batches. Returns the
   * frames delivered (0 without a handler: frames stay queued).
   */
  deliver(maxBatches = Number.POSITIVE_INFINITY): number {
    let total = 0;
    for (let b = 0; b < maxBatches && this.qCount > 0 && this.handler && !this.closed; b++) {
      const n = Math.min(this.batchSize, this.qCount);
      for (let i = 0; i < n; i++) {
        const q = this.qHead;
        const qm = q * Meta.STRIDE;
        const rm = i * Meta.STRIDE;
        const len = this.qMeta[qm + Meta.LEN];
        copyBytes(this.rxBuf, i * this.slotSize, this.qBuf, q * this.slotSize, len);
        for (let k = 0; k < Meta.STRIDE; k++) this.rxMeta[rm + k] = this.qMeta[qm + k];
        this.rxMeta[rm + Meta.OFF] = i * this.slotSize;
        if ((this.rxMeta[rm + Meta.STATUS] & TpStatus.TRUNC) !== 0) this.counters.rxTruncated++;
        this.qHead = (q + 1) % this.queueLimit;
        this.qCount--;
      }
      this.counters.rxPackets += n;
      this.counters.rxBatches++;
      total += n;
      this.handler(this.rxBuf, this.rxMeta, n);
    }
    return total;
  }

  stats(): PortStats {
    return { ...this.counters };
  }

  close(): void {
    this.closed = true;
    this.handler = null;
    this.qCount = 0;
  }

  /** Copy one frame into the queue; returns its queue slot, or -1 if dropped. */
  private enqueue(buf: Uint8Array, off: number, len: number, srcMeta: Int32Array | null, sm: number): number {
    if (this.closed) return -1;
    this.counters.kernelPackets++;
    if (this.qCount >= this.queueLimit) {
      this.counters.kernelDrops++;
      return -1;
    }
    const q = (this.qHead + this.qCount) % this.queueLimit;
    const copy = Math.min(len, this.slotSize);
    copyBytes(this.qBuf, q * this.slotSize, buf, off, copy);
    const m = q * Meta.STRIDE;
    const qm = this.qMeta;
    qm.fill(0, m, m + Meta.STRIDE);
    qm[m + Meta.OFF] = q * this.slotSize;
    qm[m + Meta.LEN] = copy;
    qm[m + Meta.PKTTYPE] = this.classify(buf, off, len);
    qm[m + Meta.STATUS] = copy < len ? TpStatus.TRUNC : 0;
    qm[m + Meta.WIRELEN] = len;
    qm[m + Meta.IFINDEX] = this.ifindex;
    qm[m + Meta.PROTOCOL] = len >= 14 ? u16(buf, off + 12) : 0;
    if (srcMeta !== null) {
      for (let k = Meta.VNET_FLAGS; k <= Meta.VNET_CSUM_OFFSET; k++) qm[m + k] = srcMeta[sm + k];
    }
    this.qCount++;
    this.schedule();
    return q;
  }

  /** PacketType the kernel's eth_type_trans would give this frame on our interface. */
  private classify(buf: Uint8Array, off: number, len: number): number {
    if (len < 6) return PacketType.HOST;
    if ((buf[off] & 1) !== 0)
      return mac48(buf, off) === BROADCAST_MAC ? PacketType.BROADCAST : PacketType.MULTICAST;
    if (this.mac === undefined || mac48(buf, off) === this.mac) return PacketType.HOST;
    return PacketType.OTHERHOST;
  }

  private schedule(): void {
    if (!this.autoDeliver || this.scheduled || !this.handler) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.deliver();
    });
  }
}

/** Two MemoryPorts joined back to back. */
export function memoryPair(a: MemoryPortOptions = {}, b: MemoryPortOptions = {}): [MemoryPort, MemoryPort] {
  const pa = new MemoryPort({ name: 'mem0', ...a });
  const pb = new MemoryPort({ name: 'mem1', ...b });
  pa.peer = pb;
  pb.peer = pa;
  return [pa, pb];
}

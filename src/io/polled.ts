/**
 * Shared engine of the fd-based ports (AF_PACKET, TUN/TAP): uv_poll readiness, a bounded drain loop
 * and the send loop. Subclasses supply one batch receive and one batch send.
 *
 * Per readiness callback the port drains at most `maxBatchesPerWakeup` batches of `batchSize` frames
 * (the prototype's 64 × 64) and stops early on a short batch, so one busy port cannot starve the
 * event loop; uv_poll is level triggered, so whatever is left wakes us again on the next turn.
 */
import type { AfPacketAddon } from './addon.ts';
import { emptyPortStats, Meta, TpStatus } from './types.ts';
import type { BatchHandler, FrameIO, PortStats } from './types.ts';

export interface PolledPortOptions {
  /** Frames per receive call (1..1024). Default 64. */
  batchSize?: number;
  /** Bytes per receive slot. Default 2048 (65536 + 64 with vnetHdr, for GSO super-frames). */
  slotSize?: number;
  /** Batches drained per readiness callback. Default 64. */
  maxBatchesPerWakeup?: number;
}

export type ErrorHandler = (errno: number) => void;

export abstract class PolledPort implements FrameIO {
  readonly name: string;
  readonly fd: number;
  readonly batchSize: number;
  readonly slotSize: number;
  readonly maxBatchesPerWakeup: number;
  /** The receive buffer handed to the batch handler: frame i at i * slotSize. */
  readonly rxBuf: Uint8Array;
  readonly rxMeta: Int32Array;
  /** errno of the last failed receive / send (0 if none). */
  lastRxErrno = 0;
  lastTxErrno = 0;

  protected readonly addon: AfPacketAddon;
  protected readonly counters: PortStats = emptyPortStats();
  private handler: BatchHandler | null = null;
  private errorHandler: ErrorHandler | null = null;
  private pollHandle = 0;
  private closed = false;
  private readonly eagain: number;
  private readonly eintr: number;
  private readonly deviceGone: readonly number[];

  protected constructor(
    addon: AfPacketAddon,
    name: string,
    fd: number,
    opts: PolledPortOptions,
    vnet: boolean,
  ) {
    this.addon = addon;
    this.name = name;
    this.fd = fd;
    this.batchSize = checkInt('batchSize', opts.batchSize ?? 64, 1, addon.constants.MAX_BATCH);
    this.slotSize = checkInt('slotSize', opts.slotSize ?? (vnet ? 65536 + 64 : 2048), 64, 1 << 24);
    this.maxBatchesPerWakeup = checkInt('maxBatchesPerWakeup', opts.maxBatchesPerWakeup ?? 64, 1, 1 << 20);
    this.rxBuf = new Uint8Array(this.batchSize * this.slotSize);
    this.rxMeta = new Int32Array(this.batchSize * Meta.STRIDE);
    const c = addon.constants;
    this.eagain = c.EAGAIN;
    this.eintr = c.EINTR;
    this.deviceGone = [c.ENETDOWN, c.ENXIO, c.EIO, c.EBADF];
  }

  /** One receive call into rxBuf/rxMeta: frames received, 0 if none, or -errno. */
  protected abstract recvInto(): number;
  /** One send call: entries sent, or -errno if the first failed. */
  protected abstract sendRaw(buf: Uint8Array, meta: Int32Array, first: number, count: number): number;
  /** Extra teardown before the fd is closed. */
  protected closeExtra(): void {}
  /** Add kernel counters to `counters` before a stats snapshot. */
  protected pullKernelStats(): void {}

  get isClosed(): boolean {
    return this.closed;
  }

  onBatch(handler: BatchHandler | null): void {
    this.handler = handler;
    if (this.closed) return;
    if (handler && this.pollHandle === 0) {
      this.pollHandle = this.addon.poll(this.fd, this.onReady);
    } else if (!handler && this.pollHandle !== 0) {
      this.addon.pollStop(this.pollHandle);
      this.pollHandle = 0;
    }
  }

  /** Called with a positive errno when a receive fails or the poll reports an error. */
  onError(handler: ErrorHandler | null): void {
    this.errorHandler = handler;
  }

  /** Receive one batch without calling the handler (manual polling). Frames, 0, or -errno. */
  recv(): number {
    if (this.closed) return 0;
    const n = this.recvInto();
    if (n > 0) this.account(n);
    else if (n < 0) this.rxFailed(-n);
    return n;
  }

  /**
   * The bounded drain loop run on every readiness callback: up to maxBatchesPerWakeup batches, each
   * handed to the handler, stopping at the first short batch. Returns frames received.
   */
  drain(): number {
    let total = 0;
    for (let b = 0; b < this.maxBatchesPerWakeup && !this.closed; b++) {
      const n = this.recvInto();
      if (n <= 0) {
        if (n < 0) this.rxFailed(-n);
        break;
      }
      this.account(n);
      total += n;
      const h = this.handler;
      if (h) h(this.rxBuf, this.rxMeta, n);
      if (n < this.batchSize) break;
    }
    return total;
  }

  send(buf: Uint8Array, meta: Int32Array, first: number, count: number): number {
    if (this.closed) throw new Error(`${this.name}: port is closed`);
    let done = 0;
    while (done < count) {
      const r = this.sendRaw(buf, meta, first + done, count - done);
      if (r > 0) {
        done += r;
        this.counters.txPackets += r;
        continue;
      }
      if (r === 0) break;
      const err = -r;
      if (err === this.eintr) continue;
      this.lastTxErrno = err;
      if (err === this.eagain) {
        // Socket buffer full: the rest stays with the caller (retry on writable, or drop).
        this.counters.txBlocked += count - done;
        break;
      }
      if (this.deviceGone.includes(err)) {
        // Link down or gone: every remaining frame would fail the same way.
        this.counters.txErrors += count - done;
        done = count;
        break;
      }
      // This one frame is unsendable (EMSGSIZE, EINVAL) or was dropped by the qdisc (ENOBUFS).
      this.counters.txErrors++;
      done++;
    }
    return done;
  }

  stats(): PortStats {
    if (!this.closed) this.pullKernelStats();
    return { ...this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pollHandle = 0;
    this.closeExtra();
    this.addon.close(this.fd); // also stops the poll
  }

  private readonly onReady = (status: number, _events: number): void => {
    if (status < 0) {
      this.rxFailed(-status);
      return;
    }
    this.counters.rxWakeups++;
    this.drain();
  };

  private account(n: number): void {
    const c = this.counters;
    c.rxPackets += n;
    c.rxBatches++;
    const meta = this.rxMeta;
    for (let i = 0, m = Meta.STATUS; i < n; i++, m += Meta.STRIDE)
      if ((meta[m] & TpStatus.TRUNC) !== 0) c.rxTruncated++;
  }

  private rxFailed(err: number): void {
    this.counters.rxErrors++;
    this.lastRxErrno = err;
    const h = this.errorHandler;
    if (h) h(err);
  }
}

function checkInt(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(`${name} must be an integer in [${lo}, ${hi}]`);
  return v;
}

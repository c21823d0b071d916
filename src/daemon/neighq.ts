/**
 * The neighbour queue (the kernel's arp_queue, neigh_resolve_output): frames whose next hop's MAC
 * is still being asked for wait here instead of being dropped, and leave in arrival order once the
 * answer comes, with the destination MAC filled in. Without it the first SYN towards a router or
 * real server the director has not talked to yet would be lost, and the client would wait for its
 * one-second retransmission.
 *
 * Frames are copied (a receive slot is reused by the next batch) into a fixed ring of slots, with
 * their send descriptor (offload fields included). Per neighbour at most `perNeigh` frames wait;
 * beyond that the oldest of that neighbour is dropped, as the kernel drops the head of an
 * over-long arp_queue. A neighbour that fails (no answer after the probes) or a frame that has
 * waited `holdMs` is dropped and counted. Nothing is allocated per frame.
 */
import { Meta } from '../io/types.ts';
import { setMac48 } from '../wire/bytes.ts';
import type { NeighCache } from '../datapath/neigh.ts';

export interface NeighQueueOptions {
  /** Frames held at most, over all neighbours. Default 64. */
  slots?: number;
  /** Bytes per held frame; longer frames are not held (dropped and counted). Default 2048. */
  slotSize?: number;
  /** Frames held per neighbour (unres_qlen). Default 8. */
  perNeigh?: number;
  /** Longest wait before a frame is dropped. Default 3500 ms (three probes a second apart). */
  holdMs?: number;
}

/** Sends one held frame: meta entry `k` of `meta` describes it in `buf`. */
export type HeldSender = (ifindex: number, buf: Uint8Array, meta: Int32Array, k: number) => void;

export class NeighQueue {
  readonly buf: Uint8Array;
  readonly meta: Int32Array;
  readonly slotSize: number;
  /** Frames held now. */
  count = 0;
  /** Frames ever held, sent after resolution, and dropped (too big, over the limit, failed, expired). */
  held = 0;
  sent = 0;
  dropped = 0;

  private readonly slots: number;
  private readonly perNeigh: number;
  private readonly holdMs: number;
  /** Per slot: ifindex × 2^32 + next-hop address, or -1 when free. */
  private readonly key: Float64Array;
  private readonly ifOf: Int32Array;
  private readonly ipOf: Float64Array;
  private readonly at: Float64Array;
  /** Ring of slots in arrival order: [head, tail) may contain freed holes. */
  private head = 0;
  private tail = 0;

  constructor(o: NeighQueueOptions = {}) {
    this.slots = o.slots ?? 64;
    this.slotSize = o.slotSize ?? 2048;
    this.perNeigh = o.perNeigh ?? 8;
    this.holdMs = o.holdMs ?? 3500;
    this.buf = new Uint8Array(this.slots * this.slotSize);
    this.meta = new Int32Array(this.slots * Meta.STRIDE);
    this.key = new Float64Array(this.slots).fill(-1);
    this.ifOf = new Int32Array(this.slots);
    this.ipOf = new Float64Array(this.slots);
    this.at = new Float64Array(this.slots);
  }

  /**
   * Holds a copy of src[off, off + len) for next hop `ip` on `ifindex`, with the offload fields of
   * meta entry `m` of `srcMeta` (or none). Returns false when the frame was dropped instead.
   */
  hold(
    ifindex: number,
    ip: number,
    src: Uint8Array,
    off: number,
    len: number,
    srcMeta: Int32Array | null,
    m: number,
    hdrGrow: number,
    now: number,
  ): boolean {
    if (len > this.slotSize) {
      this.dropped++;
      return false;
    }
    const k = ifindex * 0x100000000 + (ip >>> 0);
    // unres_qlen: a neighbour already holding its share loses its oldest frame.
    let mine = 0;
    let oldest = -1;
    for (let i = this.head; i !== this.tail; i = (i + 1) % this.slots) {
      if (this.key[i] !== k) continue;
      if (oldest < 0) oldest = i;
      mine++;
    }
    if (mine >= this.perNeigh) this.free(oldest, true);
    this.compact();
    const s = this.tail;
    if ((s + 1) % this.slots === this.head) {
      this.dropped++;
      return false;
    }
    this.tail = (s + 1) % this.slots;
    this.key[s] = k;
    this.ifOf[s] = ifindex;
    this.ipOf[s] = ip >>> 0;
    this.at[s] = now;
    this.buf.set(src.subarray(off, off + len), s * this.slotSize);
    const e = s * Meta.STRIDE;
    for (let j = 0; j < Meta.STRIDE; j++) this.meta[e + j] = 0;
    this.meta[e + Meta.OFF] = s * this.slotSize;
    this.meta[e + Meta.LEN] = len;
    if (srcMeta !== null) {
      for (let j = Meta.VNET_FLAGS; j <= Meta.VNET_CSUM_OFFSET; j++) this.meta[e + j] = srcMeta[m + j];
      this.meta[e + Meta.VNET_HDR_LEN] += hdrGrow;
    }
    this.count++;
    this.held++;
    return true;
  }

  /**
   * Sends, in arrival order, every held frame whose next hop now has a MAC (written into the
   * frame's destination), and drops those whose neighbour failed or that waited too long.
   */
  drain(neigh: NeighCache, now: number, send: HeldSender): void {
    if (this.count === 0) return;
    for (let i = this.head; i !== this.tail; i = (i + 1) % this.slots) {
      if (this.key[i] < 0) continue;
      const ifindex = this.ifOf[i];
      const ip = this.ipOf[i];
      const mac = neigh.peek(ifindex, ip);
      if (mac >= 0) {
        setMac48(this.buf, i * this.slotSize, mac);
        send(ifindex, this.buf, this.meta, i);
        this.sent++;
        this.free(i, false);
      } else if (neigh.failed(ifindex, ip) || now - this.at[i] >= this.holdMs) {
        this.free(i, true);
      }
    }
    this.compact();
  }

  private free(i: number, drop: boolean): void {
    this.key[i] = -1;
    this.count--;
    if (drop) this.dropped++;
  }

  /** Moves the head past freed slots. */
  private compact(): void {
    while (this.head !== this.tail && this.key[this.head] < 0) this.head = (this.head + 1) % this.slots;
  }
}

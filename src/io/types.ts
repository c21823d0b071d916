/**
 * Frame I/O seam between the datapath and a link (smoltcp's `phy::Device`, gVisor's link endpoint).
 *
 * A backend hands the datapath a *batch*: one buffer holding frames in fixed slots plus an Int32Array
 * with `Meta.STRIDE` ints per frame. The datapath rewrites frames in place and sends them back out by
 * (offset, length) entries of the same layout, so forwarding copies nothing and allocates nothing.
 * Backends: AF_PACKET (afpacket.ts), TUN/TAP (tun.ts), in-memory pair for tests (memory.ts).
 *
 * The numeric values here mirror native/afpacket.c and the kernel UAPI (<linux/if_packet.h>,
 * <linux/virtio_net.h>); test/io/addon.test.ts checks them against the built addon.
 */

/** Index of each field inside one frame's `Meta.STRIDE`-int entry. */
export const Meta = {
  /** Ints per frame. A fixed power of two so `i << 4` finds entry i. */
  STRIDE: 16,
  /** Byte offset of the frame in the buffer. */
  OFF: 0,
  /** Bytes of the frame present in the buffer (≤ the slot size). */
  LEN: 1,
  /** `sll_pkttype`: see PacketType. */
  PKTTYPE: 2,
  /** `PACKET_AUXDATA` tp_status bits (TpStatus); bit 31 (TpStatus.TRUNC) = cut to the slot size. */
  STATUS: 3,
  /** Length of the frame on the wire (auxdata tp_len); larger than LEN when truncated. */
  WIRELEN: 4,
  /** 802.1Q tag the kernel stripped from the frame; valid when STATUS has VLAN_VALID. */
  VLAN_TCI: 5,
  /** Its TPID (0x8100, 0x88a8); valid when STATUS has VLAN_TPID_VALID. */
  VLAN_TPID: 6,
  /** Receiving interface index. */
  IFINDEX: 7,
  /** `sll_protocol` in host order: the ethertype after any VLAN strip. */
  PROTOCOL: 8,
  /** virtio_net_hdr fields, used only by ports opened with `vnetHdr`. RX: as the kernel gave them; TX: sent. */
  VNET_FLAGS: 9,
  VNET_GSO_TYPE: 10,
  VNET_HDR_LEN: 11,
  VNET_GSO_SIZE: 12,
  VNET_CSUM_START: 13,
  VNET_CSUM_OFFSET: 14,
} as const;

/** `tp_status` bits reported per received frame (Meta.STATUS). */
export const TpStatus = {
  LOSING: 0x4,
  /** The L4 checksum is only partial (CHECKSUM_PARTIAL, tx offload on the sender): see pitfall 1. */
  CSUMNOTREADY: 0x8,
  VLAN_VALID: 0x10,
  VLAN_TPID_VALID: 0x40,
  /** The device already verified the checksum (CHECKSUM_UNNECESSARY). */
  CSUM_VALID: 0x80,
  /** Not a kernel bit: the addon sets bit 31 (MSG_TRUNC) when the frame was cut to the slot size. */
  TRUNC: 1 << 31,
} as const;

/** `sll_pkttype` values (<linux/if_packet.h>). */
export const PacketType = {
  HOST: 0,
  BROADCAST: 1,
  MULTICAST: 2,
  OTHERHOST: 3,
  OUTGOING: 4,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** PACKET_FANOUT modes. HASH is symmetric per 5-tuple; CBPF/EBPF steer by a program's return value. */
export const FanoutMode = {
  HASH: 0,
  LB: 1,
  CPU: 2,
  ROLLOVER: 3,
  RND: 4,
  QM: 5,
  CBPF: 6,
  EBPF: 7,
} as const;
export type FanoutMode = (typeof FanoutMode)[keyof typeof FanoutMode];

export const FanoutFlag = {
  ROLLOVER: 0x1000,
  UNIQUEID: 0x2000,
  IGNORE_OUTGOING: 0x4000,
  DEFRAG: 0x8000,
} as const;

/** virtio_net_hdr.flags. */
export const VnetFlag = {
  /** The checksum at csum_start + csum_offset holds only the pseudo-header sum; finish it. */
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
} as const;

/** virtio_net_hdr.gso_type. */
export const VnetGso = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  ECN: 0x80,
} as const;

/** Bytes of the virtio_net_hdr the kernel puts in front of each frame with PACKET_VNET_HDR. */
export const VNET_HDR_LEN = 10;

/** Negative errno values the packet path returns instead of throwing (x86-64/arm64 Linux numbers). */
export const Errno = {
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EINVAL: 22,
  EMSGSIZE: 90,
  ENETDOWN: 100,
  ENOBUFS: 105,
} as const;

/**
 * Receives one batch. `buf` and `meta` belong to the port and are reused for the next batch: read,
 * rewrite and send frames from them before returning, and keep no reference.
 */
export type BatchHandler = (buf: Uint8Array, meta: Int32Array, n: number) => void;

/** Counters every backend keeps. Control-plane snapshot: `stats()` returns a fresh object. */
export interface PortStats {
  /** Frames handed to the batch handler. */
  rxPackets: number;
  rxBatches: number;
  /** Readiness callbacks (each drains up to maxBatchesPerWakeup batches). */
  rxWakeups: number;
  /** Frames cut to the slot size (TpStatus.TRUNC). */
  rxTruncated: number;
  /** Receive calls that failed (e.g. -ENETDOWN). */
  rxErrors: number;
  /** Frames the kernel (or the peer) accepted. */
  txPackets: number;
  /** Frames rejected or dropped on send (EMSGSIZE, EINVAL, ENOBUFS, ENETDOWN, ...). */
  txErrors: number;
  /** Frames not taken because the socket buffer was full (EAGAIN); the caller still owns them. */
  txBlocked: number;
  /** Kernel PACKET_STATISTICS totals since open: frames that reached the socket, incl. drops. */
  kernelPackets: number;
  /** Frames the kernel dropped because the receive queue was full. */
  kernelDrops: number;
}

export function emptyPortStats(): PortStats {
  return {
    rxPackets: 0,
    rxBatches: 0,
    rxWakeups: 0,
    rxTruncated: 0,
    rxErrors: 0,
    txPackets: 0,
    txErrors: 0,
    txBlocked: 0,
    kernelPackets: 0,
    kernelDrops: 0,
  };
}

/** A link that moves Ethernet frames (or IP packets, for TUN) in batches. */
export interface FrameIO {
  readonly name: string;
  /** Bytes per receive slot: the largest frame delivered whole. */
  readonly slotSize: number;
  /** Frames per receive batch. */
  readonly batchSize: number;
  /** Start (or, with null, stop) delivering received batches. */
  onBatch(handler: BatchHandler | null): void;
  /**
   * Send entries first..first+count-1 of `meta` ((OFF, LEN) into `buf`, plus the vnet fields on a
   * vnetHdr port). Returns how many entries were consumed (sent, or rejected and counted in
   * txErrors); fewer than count only when the link is full (counted in txBlocked).
   */
  send(buf: Uint8Array, meta: Int32Array, first: number, count: number): number;
  stats(): PortStats;
  close(): void;
}

/** A zeroed meta array for n frames. */
export function newMeta(n: number): Int32Array {
  return new Int32Array(n * Meta.STRIDE);
}

/** Describe frame i as (off, len) with no offload fields, e.g. when building a send list. */
export function metaSetFrame(meta: Int32Array, i: number, off: number, len: number): void {
  const m = i * Meta.STRIDE;
  meta[m + Meta.OFF] = off;
  meta[m + Meta.LEN] = len;
  for (let k = Meta.VNET_FLAGS; k <= Meta.VNET_CSUM_OFFSET; k++) meta[m + k] = 0;
}

/** Copy entry si of src to entry di of dst (forwarding a received frame keeps its offload fields). */
export function metaCopy(dst: Int32Array, di: number, src: Int32Array, si: number): void {
  const d = di * Meta.STRIDE;
  const s = si * Meta.STRIDE;
  for (let k = 0; k < Meta.STRIDE; k++) dst[d + k] = src[s + k];
}

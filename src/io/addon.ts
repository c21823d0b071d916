/**
 * Loader and type declarations for the native addon (native/afpacket.c, built by
 * `npm run build:native` into native/build/Release/afpacket.node).
 *
 * Conventions of the addon:
 * - JS owns every buffer; a call never allocates per packet.
 * - Packet-path calls (recvBatch, sendBatch, readFd, writeFd, readBatch, writeBatch) return a count,
 *   or a negative errno (-EAGAIN when nothing could be done). They throw only on bad arguments.
 * - Setup calls throw an Error with `.code` = errno name (e.g. 'ENODEV'), `.errno` = -errno and
 *   `.syscall`, e.g. "ENODEV: no such interface eth9".
 * - Meta layout: `Meta.STRIDE` (16) int32 per frame; see Meta in types.ts.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface OpenOptions {
  /** Ethertype to bind (host order). Default ETH_P_ALL (every frame); 0 = a send-only socket. */
  protocol?: number;
  /** PACKET_IGNORE_OUTGOING: do not see frames other sockets send on the interface. Default true. */
  ignoreOutgoing?: boolean;
  /** PACKET_AUXDATA: per-frame tp_status (checksum state), wire length and stripped VLAN tag. Default true. */
  auxdata?: boolean;
  /** SO_RCVBUFFORCE bytes (SO_RCVBUF without CAP_NET_ADMIN). Default 4 MiB; 0 keeps the kernel default. */
  rcvbuf?: number;
  /** SO_SNDBUFFORCE bytes. Default 4 MiB; 0 keeps the kernel default. */
  sndbuf?: number;
  /** PACKET_QDISC_BYPASS: transmit straight to the driver, skipping the qdisc. Default false. */
  qdiscBypass?: boolean;
  /** PACKET_VNET_HDR: frames carry a virtio_net_hdr (checksum/GSO offload state) in the meta fields. */
  vnetHdr?: boolean;
  /** Put the interface in promiscuous mode while the socket is open. Default false. */
  promisc?: boolean;
}

export interface IfInfo {
  name: string;
  index: number;
  /** "aa:bb:cc:dd:ee:ff" (all zero for devices without one, e.g. lo or TUN). */
  mac: string;
  /** ARPHRD_* (1 = Ethernet, 772 = loopback, 65534 = none/TUN). */
  hwtype: number;
  mtu: number;
  /** IFF_* flags. */
  flags: number;
  up: boolean;
  running: boolean;
}

export interface TunOptions {
  /** TAP (Ethernet frames) instead of TUN (IP packets). */
  tap?: boolean;
  /** IFF_VNET_HDR: each frame is preceded by a virtio_net_hdr (use readBatch/writeBatch with vnetHdr). */
  vnetHdr?: boolean;
  multiQueue?: boolean;
  /** TUNSETOFFLOAD flags (TUN_F_CSUM = 1, TUN_F_TSO4 = 2, ...); only with vnetHdr. */
  offload?: number;
}

export interface RingOptions {
  /** Bytes per block, a multiple of the page size. Default 256 KiB. */
  blockSize?: number;
  /** Blocks in the ring (1..64). Default 64. */
  blockCount?: number;
  /** tpacket frame size, a multiple of 16. Default 2048. */
  frameSize?: number;
  /** tp_retire_blk_tov: a block is handed over after this many ms even if not full. Default 1. */
  timeoutMs?: number;
}

export type PollCallback = (status: number, events: number) => void;

export interface AfPacketAddon {
  open(ifname: string, opts?: OpenOptions): number;
  recvBatch(
    fd: number,
    buf: Uint8Array,
    meta: Int32Array,
    max: number,
    slotSize: number,
    vnetHdr?: boolean,
  ): number;
  sendBatch(
    fd: number,
    buf: Uint8Array,
    meta: Int32Array,
    first: number,
    count: number,
    vnetHdr?: boolean,
  ): number;
  fanout(fd: number, groupId: number, mode: number, flags?: number): void;
  /** Classic BPF as 4 ints per instruction (code, jt, jf, k), the `tcpdump -dd` layout. */
  attachFilter(fd: number, program: Int32Array): void;
  detachFilter(fd: number): void;
  /** CBPF program for a FanoutMode.CBPF group, or a loaded eBPF program fd for FanoutMode.EBPF. */
  attachFanoutFilter(fd: number, program: Int32Array | number): void;
  /** [packets, drops] since the previous call: PACKET_STATISTICS resets on read. packets includes drops. */
  stats(fd: number): [number, number];
  ifInfo(ifname: string): IfInfo;
  openTun(name: string, opts?: TunOptions): { fd: number; name: string };
  /**
   * One read(): bytes, or -errno (-EAGAIN when nothing is queued). A TUN/TAP read cuts a longer
   * packet to len silently (older kernels return the full length): keep len above the MTU.
   */
  readFd(fd: number, buf: Uint8Array, off: number, len: number): number;
  writeFd(fd: number, buf: Uint8Array, off: number, len: number): number;
  readBatch(
    fd: number,
    buf: Uint8Array,
    meta: Int32Array,
    max: number,
    slotSize: number,
    vnetHdr?: boolean,
  ): number;
  writeBatch(
    fd: number,
    buf: Uint8Array,
    meta: Int32Array,
    first: number,
    count: number,
    vnetHdr?: boolean,
  ): number;
  /** Stops this thread's polls on fd, then closes it. */
  close(fd: number): void;
  /** uv_poll on this thread's loop; events 1 = readable, 2 = writable. Returns a handle id. */
  poll(fd: number, callback: PollCallback, events?: number): number;
  pollStop(handle: number): boolean;
  pollUpdate(handle: number, events: number): void;
  ringOpen(fd: number, opts?: RingOptions): number;
  ringRead(ring: number, buf: Uint8Array, meta: Int32Array, max: number, slotSize: number): number;
  ringClose(ring: number): boolean;
  readonly constants: Readonly<Record<string, number>>;
}

/** Where `npm run build:native` puts the addon, relative to the repository root. */
export const ADDON_RELATIVE_PATH = 'native/build/Release/afpacket.node';

/**
 * The addon's path: $TSLVS_AFPACKET_ADDON, else native/build/Release/afpacket.node under the first
 * ancestor of this file that has native/binding.gyp (works from src/ and from every compiled dist tree).
 */
export function addonPath(): string {
  const env = process.env.TSLVS_AFPACKET_ADDON;
  if (env) return env;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'native', 'binding.gyp'))) return path.join(dir, ADDON_RELATIVE_PATH);
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return path.resolve(ADDON_RELATIVE_PATH);
}

let cached: AfPacketAddon | null = null;

/** Load the addon once per thread. Throws a clear error if it has not been built. */
export function loadAfPacket(): AfPacketAddon {
  if (cached) return cached;
  const p = addonPath();
  if (!existsSync(p)) {
    throw new Error(`afpacket addon not built: ${p} is missing; run \`npm run build:native\``);
  }
  const require = createRequire(import.meta.url);
  cached = require(p) as AfPacketAddon;
  return cached;
}

/** The addon, or the reason it cannot be loaded (for tests that skip without it). */
export function tryLoadAfPacket(): { addon: AfPacketAddon; error: null } | { addon: null; error: string } {
  try {
    return { addon: loadAfPacket(), error: null };
  } catch (e) {
    return { addon: null, error: e instanceof Error ? e.message : String(e) };
  }
}

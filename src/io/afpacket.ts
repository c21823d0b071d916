/**
 * AF_PACKET link: one SOCK_RAW socket bound to an interface, batched with recvmmsg/sendmmsg (or a
 * TPACKET_V3 RX ring) and woken by uv_poll. See docs of the addon in addon.ts and the measurements in
 * shared/reference/packet-io.md: batching and in-place rewriting matter more than JS cost.
 *
 *   const port = PacketPort.open('eth1');
 *   port.onBatch((buf, meta, n) => { ...rewrite in place...; port.send(buf, sendMeta, 0, k); });
 *
 * Things a datapath must know (packet-io.md pitfalls):
 * - A frame with TpStatus.CSUMNOTREADY has only a partial L4 checksum; re-sent as is it arrives with
 *   a bad checksum. Complete it in software, or open with `vnetHdr` and send the vnet fields back.
 * - With `vnetHdr`, GSO super-frames up to 64 KiB arrive whole (the default slot is 64 KiB + 64).
 *   Without it, frames larger than the slot are cut and flagged TpStatus.TRUNC.
 * - A VLAN tag is stripped by the kernel before the socket sees the frame; it is in Meta.VLAN_TCI.
 * - PACKET_STATISTICS resets on every read; stats() accumulates it.
 */
import { loadAfPacket } from './addon.ts';
import type { AfPacketAddon, OpenOptions, RingOptions } from './addon.ts';
import { PolledPort } from './polled.ts';
import type { PolledPortOptions } from './polled.ts';

export { loadAfPacket, tryLoadAfPacket } from './addon.ts';
export type { AfPacketAddon, IfInfo, OpenOptions, RingOptions } from './addon.ts';

export interface PacketPortOptions extends OpenOptions, PolledPortOptions {
  /** Receive through a TPACKET_V3 ring (about 30 % less CPU under load, up to timeoutMs more latency). */
  ring?: boolean | RingOptions;
}

export class PacketPort extends PolledPort {
  /** Interface index the socket is bound to (0 = all interfaces). */
  readonly ifindex: number;
  readonly vnetHdr: boolean;
  private ring: number;

  /** Open a socket on `ifname` ("" = every interface). Throws e.g. "ENODEV: no such interface eth9". */
  static open(ifname: string, opts: PacketPortOptions = {}): PacketPort {
    const addon = loadAfPacket();
    if (opts.ring && opts.vnetHdr) throw new RangeError('ring and vnetHdr cannot be combined');
    const fd = addon.open(ifname, {
      protocol: opts.protocol,
      ignoreOutgoing: opts.ignoreOutgoing,
      auxdata: opts.auxdata,
      rcvbuf: opts.rcvbuf,
      sndbuf: opts.sndbuf,
      qdiscBypass: opts.qdiscBypass,
      vnetHdr: opts.vnetHdr,
      promisc: opts.promisc,
    });
    try {
      return new PacketPort(addon, ifname, fd, opts);
    } catch (e) {
      addon.close(fd);
      throw e;
    }
  }

  private constructor(addon: AfPacketAddon, ifname: string, fd: number, opts: PacketPortOptions) {
    const vnet = opts.vnetHdr ?? false;
    super(addon, ifname, fd, opts, vnet);
    this.vnetHdr = vnet;
    this.ifindex = ifname === '' ? 0 : addon.ifInfo(ifname).index;
    this.ring = 0;
    if (opts.ring) this.ring = addon.ringOpen(fd, opts.ring === true ? {} : opts.ring);
  }

  /** Join PACKET_FANOUT group `groupId` (per network namespace) with a FanoutMode and FanoutFlag bits. */
  fanout(groupId: number, mode: number, flags = 0): void {
    this.addon.fanout(this.fd, groupId, mode, flags);
  }

  /** Program for a FanoutMode.CBPF group (4 ints per instruction), or an eBPF program fd for EBPF. */
  attachFanoutFilter(program: Int32Array | number): void {
    this.addon.attachFanoutFilter(this.fd, program);
  }

  /** Classic BPF socket filter (SO_ATTACH_FILTER); offsets count from the Ethernet header. */
  attachFilter(program: Int32Array): void {
    this.addon.attachFilter(this.fd, program);
  }

  detachFilter(): void {
    this.addon.detachFilter(this.fd);
  }

  protected recvInto(): number {
    if (this.ring !== 0)
      return this.addon.ringRead(this.ring, this.rxBuf, this.rxMeta, this.batchSize, this.slotSize);
    return this.addon.recvBatch(
      this.fd,
      this.rxBuf,
      this.rxMeta,
      this.batchSize,
      this.slotSize,
      this.vnetHdr,
    );
  }

  protected sendRaw(buf: Uint8Array, meta: Int32Array, first: number, count: number): number {
    return this.addon.sendBatch(this.fd, buf, meta, first, count, this.vnetHdr);
  }

  protected override pullKernelStats(): void {
    const [packets, drops] = this.addon.stats(this.fd);
    this.counters.kernelPackets += packets;
    this.counters.kernelDrops += drops;
  }

  protected override closeExtra(): void {
    if (this.ring !== 0) this.addon.ringClose(this.ring);
    this.ring = 0;
  }
}

/**
 * TUN/TAP link: /dev/net/tun with IFF_NO_PI. TAP moves Ethernet frames, TUN moves bare IP packets
 * (no link header: Meta.OFF points at the IP header). Same batch + meta interface as PacketPort;
 * a batch is up to batchSize read()s in one addon call, since a tun fd has no recvmmsg.
 *
 * The device exists while the fd is open (it is not made persistent); configure it with `ip` after
 * opening, e.g. `ip addr add 10.0.0.1/24 dev NAME && ip link set NAME up`.
 */
import { loadAfPacket } from './addon.ts';
import type { AfPacketAddon, TunOptions } from './addon.ts';
import { PolledPort } from './polled.ts';
import type { PolledPortOptions } from './polled.ts';

export interface TunPortOptions extends TunOptions, PolledPortOptions {}

export class TunPort extends PolledPort {
  readonly tap: boolean;
  readonly vnetHdr: boolean;

  /** Create (or attach to) TUN/TAP device `name` ("" = kernel picks tunN/tapN; see `.name`). */
  static open(name: string, opts: TunPortOptions = {}): TunPort {
    const addon = loadAfPacket();
    const t = addon.openTun(name, {
      tap: opts.tap,
      vnetHdr: opts.vnetHdr,
      multiQueue: opts.multiQueue,
      offload: opts.offload,
    });
    try {
      return new TunPort(addon, t.name, t.fd, opts);
    } catch (e) {
      addon.close(t.fd);
      throw e;
    }
  }

  private constructor(addon: AfPacketAddon, name: string, fd: number, opts: TunPortOptions) {
    const vnet = opts.vnetHdr ?? false;
    super(addon, name, fd, opts, vnet);
    this.tap = opts.tap ?? false;
    this.vnetHdr = vnet;
  }

  /** One read() into buf[off..off+len): bytes, or -errno (-EAGAIN when nothing is queued). */
  read(buf: Uint8Array, off: number, len: number): number {
    return this.addon.readFd(this.fd, buf, off, len);
  }

  /** One write() of buf[off..off+len): bytes, or -errno. */
  write(buf: Uint8Array, off: number, len: number): number {
    return this.addon.writeFd(this.fd, buf, off, len);
  }

  protected recvInto(): number {
    return this.addon.readBatch(
      this.fd,
      this.rxBuf,
      this.rxMeta,
      this.batchSize,
      this.slotSize,
      this.vnetHdr,
    );
  }

  protected sendRaw(buf: Uint8Array, meta: Int32Array, first: number, count: number): number {
    return this.addon.writeBatch(this.fd, buf, meta, first, count, this.vnetHdr);
  }
}

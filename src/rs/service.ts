/**
 * `tslvs rs-tun` at run time: a packet socket on the real server's interface feeding RsDecap, and a
 * TUN device the inner packets are written to, so the host stack receives them as if a kernel
 * tunnel device (tunl0, gre0, a fou port) had decapsulated them. Replies never come back here: the
 * server answers the client directly, from the VIP, through its normal routes.
 *
 * Setup order: TUN device (and its sysctls), packet socket, socket filter, drain of what queued
 * before the filter, nftables guard, then the batch handler. Teardown undoes it in reverse, except
 * `net.ipv4.conf.all.rp_filter`: it stays 0, as the standard tunl0 setup leaves it, because another
 * rs-tun (or a kernel tunnel) on the host may rely on it; the change is logged once.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { PacketPort } from '../io/afpacket.ts';
import { TunPort } from '../io/tun.ts';
import { Meta, metaSetFrame, newMeta, TpStatus, VnetFlag } from '../io/types.ts';
import type { PortStats } from '../io/types.ts';
import { RS_DELIVER_COUNT, RsDecap, rsTunFilter } from './decap.ts';
import { RsGuard } from './guard.ts';

export interface RsTunOptions {
  /** Interface the tunnel packets arrive on. */
  iface: string;
  /** The real server's address on it (the outer destination), uint32. */
  addr: number;
  /** GUE UDP port; 0 = GUE off. */
  guePort: number;
  /** TUN device name (at most 15 bytes). */
  tunName: string;
  /** Install the nftables guard (see guard.ts). */
  guard: boolean;
  /** Accepted outer sources (directors); empty = any. */
  from: readonly number[];
  /** One-line log messages (warnings). */
  log: (m: string) => void;
}

export interface RsTunStats {
  verdicts: Record<string, number>;
  malformed: Record<string, number>;
  bytes: number;
  rx: PortStats;
  tun: PortStats;
}

const BATCH = 64;

/** Writes a sysctl through /proc; returns the previous value, or null when it cannot. */
function setSysctl(key: string, value: string): string | null {
  const p = `/proc/sys/${key.replaceAll('.', '/')}`;
  try {
    const old = readFileSync(p, 'utf8').trim();
    if (old !== value) writeFileSync(p, value);
    return old;
  } catch {
    return null;
  }
}

/** /proc/sys path of a per-interface key: the name is one path element, dots included. */
function confKey(family: 'ipv4' | 'ipv6', ifname: string, key: string): string {
  return `/proc/sys/net/${family}/conf/${ifname}/${key}`;
}

function writeProc(p: string, value: string): boolean {
  try {
    writeFileSync(p, value);
    return true;
  } catch {
    return false;
  }
}

export class RsTunService {
  readonly decap: RsDecap;
  readonly tunName: string;
  readonly guard: RsGuard | null;
  private readonly port: PacketPort;
  private readonly tun: TunPort;
  private readonly txMeta = newMeta(BATCH);
  private closed = false;
  /** Packets the host routed into the TUN device (nothing should; counted and discarded). */
  tunRxDiscarded = 0;

  /**
   * Opens everything; throws an Error whose message starts with the errno name (EPERM, ENODEV,
   * EBUSY…) from the addon, or a plain description. Nothing stays open after a throw.
   */
  static open(o: RsTunOptions): RsTunService {
    const tun = TunPort.open(o.tunName, { batchSize: 16 });
    let port: PacketPort | null = null;
    try {
      // No IPv6 link-local address on the device (it must not attract traffic), but IPv6 enabled
      // on it when the host has IPv6, so IPv6-in-IPv4 inner packets are accepted.
      try {
        execFileSync('ip', ['link', 'set', 'dev', tun.name, 'addrgenmode', 'none'], { stdio: 'ignore' });
      } catch {
        // Older iproute2 or no IPv6: not needed.
      }
      if (existsSync(confKey('ipv6', tun.name, 'disable_ipv6')))
        writeProc(confKey('ipv6', tun.name, 'disable_ipv6'), '0');
      execFileSync('ip', ['link', 'set', 'dev', tun.name, 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
      // The inner source is the client, whose route goes out the real interface, not the TUN
      // device: strict reverse-path filtering (the max of "all" and the device's value) would drop
      // every packet, exactly as it does on tunl0.
      if (!writeProc(confKey('ipv4', tun.name, 'rp_filter'), '0'))
        o.log(`warning: could not set net.ipv4.conf.${tun.name}.rp_filter=0`);
      const allOld = setSysctl('net.ipv4.conf.all.rp_filter', '0');
      if (allOld === null) o.log('warning: could not set net.ipv4.conf.all.rp_filter=0');
      else if (allOld !== '0')
        o.log(`net.ipv4.conf.all.rp_filter was ${allOld}, set to 0 (it stays 0 after exit)`);

      port = PacketPort.open(o.iface, {
        auxdata: true,
        ignoreOutgoing: true,
        vnetHdr: true,
        rcvbuf: 8 << 20,
        sndbuf: 0,
        batchSize: BATCH,
      });
      port.attachFilter(rsTunFilter(o.addr, o.guePort));
      // Frames queued between bind and attach passed no filter: discard them.
      while (port.recv() > 0) {
        /* discard */
      }
      const guard = o.guard ? new RsGuard(o.iface, o.addr, o.guePort) : null;
      if (guard) {
        try {
          guard.install();
        } catch (e) {
          o.log(
            `warning: host guard not installed (${(e as Error).message}); the host will answer each ` +
              'tunnel packet with ICMP unreachable',
          );
        }
      }
      return new RsTunService(o, port, tun, guard);
    } catch (e) {
      port?.close();
      tun.close();
      throw e;
    }
  }

  private constructor(o: RsTunOptions, port: PacketPort, tun: TunPort, guard: RsGuard | null) {
    this.decap = new RsDecap({ addr: o.addr, guePort: o.guePort, from: o.from });
    this.port = port;
    this.tun = tun;
    this.tunName = tun.name;
    this.guard = guard;
    tun.onBatch((_buf, _meta, n) => {
      this.tunRxDiscarded += n;
    });
    port.onError((errno) => o.log(`receive error ${errno}`));
    port.onBatch(this.onFrames);
  }

  private readonly onFrames = (buf: Uint8Array, meta: Int32Array, n: number): void => {
    const d = this.decap;
    const tx = this.txMeta;
    let k = 0;
    for (let i = 0, m = 0; i < n; i++, m += Meta.STRIDE) {
      const partial = (meta[m + Meta.VNET_FLAGS] & VnetFlag.NEEDS_CSUM) !== 0;
      const v = d.frame(
        buf,
        meta[m + Meta.OFF],
        meta[m + Meta.LEN],
        (meta[m + Meta.STATUS] & TpStatus.TRUNC) !== 0,
        partial ? meta[m + Meta.VNET_CSUM_START] : -1,
        partial ? meta[m + Meta.VNET_CSUM_OFFSET] : 0,
        meta[m + Meta.VNET_GSO_TYPE],
      );
      // The inner packet is written from where it lies in the receive slot: no copy.
      if (v < RS_DELIVER_COUNT) metaSetFrame(tx, k++, d.out.innerOff, d.out.innerLen);
    }
    // Anything the TUN queue does not take now is dropped (counted as txBlocked).
    if (k > 0) this.tun.send(buf, tx, 0, k);
  };

  stats(): RsTunStats {
    return { ...this.decap.snapshot(), rx: this.port.stats(), tun: this.tun.stats() };
  }

  /** One line for logs. */
  statsLine(): string {
    const s = this.stats();
    const v = Object.entries(s.verdicts)
      .map(([k, n]) => `${k.toLowerCase()} ${n}`)
      .join(', ');
    const bad = Object.entries(s.malformed)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    return (
      `frames ${s.rx.rxPackets}${v ? `: ${v}` : ''}${bad ? ` (malformed: ${bad})` : ''}; ` +
      `tun written ${s.tun.txPackets}, errors ${s.tun.txErrors + s.tun.txBlocked}; ` +
      `kernel drops ${s.rx.kernelDrops}`
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.guard?.remove();
    this.port.close();
    this.tun.close();
  }
}

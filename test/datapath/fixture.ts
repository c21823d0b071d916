/**
 * A director on paper for pipeline tests: two links (clients behind a router on interface 1, real
 * servers on interface 2), fixed MACs, an injected clock and randomness, and helpers to add
 * services and dests the way ipvsadm does.
 */
import { ServiceTable } from '../../src/control/services.ts';
import type { DestOpts, ServiceKey, ServiceOpts } from '../../src/control/services.ts';
import { Pipeline } from '../../src/datapath/pipeline.ts';
import type { Hop, NetEnv, PipelineOptions } from '../../src/datapath/pipeline.ts';
import { addr4, parseIpAddr } from '../../src/model/addr.ts';
import type { Fwd } from '../../src/model/flags.ts';
import { Proto, TunType } from '../../src/model/flags.ts';
import { ipv4FromString, macFromString } from '../../src/wire/addr.ts';

export const MAC = {
  client: '02:00:00:00:00:01',
  router: '02:00:00:00:00:fe',
  dirOut: '02:00:00:00:00:02',
  dirIn: '02:00:00:00:01:02',
  rs1: '02:00:00:00:01:11',
  rs2: '02:00:00:00:01:12',
  rs3: '02:00:00:00:01:13',
} as const;

/** Real servers live on 192.168.10.0/24 behind interface 2; everything else via the router on 1. */
export class FakeNet implements NetEnv {
  readonly neigh = new Map<number, number>([
    [ipv4FromString('192.168.10.1'), macFromString(MAC.rs1)],
    [ipv4FromString('192.168.10.2'), macFromString(MAC.rs2)],
    [ipv4FromString('192.168.10.3'), macFromString(MAC.rs3)],
  ]);
  mtuIn = 1500;
  mtuOut = 1500;
  route4(dst: number, hop: Hop): boolean {
    if (dst >>> 8 === 0xc0a80a) {
      const m = this.neigh.get(dst);
      if (m === undefined) return false;
      hop.ifindex = 2;
      hop.dstMac = m;
      hop.srcMac = macFromString(MAC.dirIn);
      hop.mtu = this.mtuIn;
      hop.saddr = ipv4FromString('192.168.10.254');
      return true;
    }
    hop.ifindex = 1;
    hop.dstMac = macFromString(MAC.router);
    hop.srcMac = macFromString(MAC.dirOut);
    hop.mtu = this.mtuOut;
    hop.saddr = ipv4FromString('10.0.0.254');
    return true;
  }
  /** IPv6: real servers on 2001:db8:10::/64 behind interface 2, the rest via the router. */
  route6(dst: Uint8Array, off: number, hop: Hop): boolean {
    const inside =
      dst[off] === 0x20 &&
      dst[off + 1] === 0x01 &&
      dst[off + 2] === 0x0d &&
      dst[off + 3] === 0xb8 &&
      dst[off + 4] === 0 &&
      dst[off + 5] === 0x10;
    if (inside) {
      const m = this.neigh.get(ipv4FromString(`192.168.10.${dst[off + 15]}`));
      if (m === undefined) return false;
      hop.ifindex = 2;
      hop.dstMac = m;
      hop.srcMac = macFromString(MAC.dirIn);
      hop.mtu = this.mtuIn;
      return true;
    }
    hop.ifindex = 1;
    hop.dstMac = macFromString(MAC.router);
    hop.srcMac = macFromString(MAC.dirOut);
    hop.mtu = this.mtuOut;
    return true;
  }

  ifMac(ifindex: number): number {
    return macFromString(ifindex === 2 ? MAC.dirIn : MAC.dirOut);
  }
}

/** A deterministic uint32 source (xorshift32). */
export function seeded(seed = 1): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export class Lab {
  now = 1_000_000;
  readonly net = new FakeNet();
  readonly services: ServiceTable;
  readonly pipe: Pipeline;

  constructor(opts: Partial<PipelineOptions> = {}) {
    const random = seeded(7);
    this.services = new ServiceTable({
      now: () => this.now,
      random,
      lblcExpirationMs: 86_400_000,
      lblcrExpirationMs: 86_400_000,
    });
    this.pipe = new Pipeline({ services: this.services, net: this.net, random, maxConns: 4096, ...opts });
  }

  svcKey(spec: string, proto: number = Proto.TCP): ServiceKey {
    const [a, p] = spec.split(':');
    return { af: 4, proto, addr: addr4(ipv4FromString(a)), port: Number(p), fwmark: 0 };
  }

  addService(spec: string, o: Partial<ServiceOpts> = {}, proto: number = Proto.TCP): ServiceKey {
    const key = this.svcKey(spec, proto);
    this.services.addService(key, { sched: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '', ...o });
    return key;
  }

  addDest(key: ServiceKey, spec: string, fwd: Fwd, o: Partial<DestOpts> = {}): void {
    const [a, p] = spec.split(':');
    this.services.addDest(key, {
      addr: parseIpAddr(a)!,
      port: Number(p),
      fwd,
      weight: 1,
      uThreshold: 0,
      lThreshold: 0,
      tunType: TunType.IPIP,
      tunPort: 0,
      tunFlags: 0,
      ...o,
    });
  }

  /** Runs one frame through the pipeline in a 2 KiB slot (or a larger one for a bigger frame). */
  run(
    frame: Uint8Array,
    rxIf = 1,
    rxFlags = 0,
  ): { verdict: number; out: Uint8Array; outIf: number; reason: number } {
    const slot = new Uint8Array(Math.max(2048, frame.length + 256));
    slot.set(frame);
    const verdict = this.pipe.process(slot, 0, frame.length, slot.length, rxIf, rxFlags, this.now);
    return {
      verdict,
      out: slot.slice(this.pipe.outOff, this.pipe.outOff + this.pipe.outLen),
      outIf: this.pipe.outIf,
      reason: this.pipe.lastReason,
    };
  }
}

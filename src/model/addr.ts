/**
 * An address as the control plane and the schedulers see it: family, the IPv4 value as a uint32
 * (`v4`), and for IPv6 the 16 bytes (`v6`). `fold` is the kernel's ip_vs_addr_fold(): the IPv4
 * address, or the XOR of the four 32-bit words of an IPv6 address (used by sh, dh, mh, lblc).
 */
import type { Af } from './flags.ts';
import { ipv4FromString, ipv4ToString, ipv6FromString, ipv6ToString, isValidIpv4 } from '../wire/addr.ts';
import ipaddr from 'ipaddr.js';

export interface IpAddr {
  readonly af: Af;
  readonly v4: number;
  readonly v6: Uint8Array | null;
  readonly fold: number;
}

export function addr4(v4: number): IpAddr {
  return { af: 4, v4: v4 >>> 0, v6: null, fold: v4 >>> 0 };
}

export function addr6(bytes: Uint8Array): IpAddr {
  const v6 = Uint8Array.from(bytes);
  let fold = 0;
  for (let i = 0; i < 16; i += 4) fold ^= (v6[i] << 24) | (v6[i + 1] << 16) | (v6[i + 2] << 8) | v6[i + 3];
  return { af: 6, v4: 0, v6, fold: fold >>> 0 };
}

/** Parses dotted-quad IPv4 or IPv6 text; returns null when it is neither. */
export function parseIpAddr(s: string): IpAddr | null {
  if (isValidIpv4(s)) return addr4(ipv4FromString(s));
  if (ipaddr.IPv6.isValid(s)) return addr6(ipv6FromString(s));
  return null;
}

export function ipAddrToString(a: IpAddr): string {
  return a.af === 4 ? ipv4ToString(a.v4) : ipv6ToString(a.v6!);
}

export function ipAddrEquals(a: IpAddr, b: IpAddr): boolean {
  if (a.af !== b.af) return false;
  if (a.af === 4) return a.v4 === b.v4;
  for (let i = 0; i < 16; i++) if (a.v6![i] !== b.v6![i]) return false;
  return true;
}

/** `addr:port` with brackets around IPv6, as ipvsadm prints numerically. */
export function addrPortToString(a: IpAddr, port: number): string {
  return a.af === 4 ? `${ipAddrToString(a)}:${port}` : `[${ipAddrToString(a)}]:${port}`;
}

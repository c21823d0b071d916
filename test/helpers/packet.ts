/**
 * A small packet builder for tests (Katran's PacketBuilder idea): Ethernet + IPv4 + TCP/UDP/ICMP
 * frames with correct checksums, built with the wire emitters. Control-plane style: allocates.
 */
import { ethEmit, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.ts';
import { ipv4Emit, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/wire/ipv4.ts';
import { tcpEmit, tcpFillCsumV4, tcpFillCsumV6, tcpFillPartialCsumV4 } from '../../src/wire/tcp.ts';
import { ipv6Emit } from '../../src/wire/ipv6.ts';
import type { TcpOption } from '../../src/wire/tcp.ts';
import { udpEmit, udpFillCsumV4 } from '../../src/wire/udp.ts';
import { icmpFillCsum } from '../../src/wire/icmp.ts';
import { ipv4FromString, ipv6FromString, macFromString } from '../../src/wire/addr.ts';

export interface Pkt4 {
  srcMac?: string;
  dstMac?: string;
  src: string;
  dst: string;
  ttl?: number;
  df?: boolean;
  id?: number;
  tos?: number;
}

export interface TcpSpec extends Pkt4 {
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  options?: TcpOption[];
  payload?: Uint8Array;
  /** Leave the checksum in CHECKSUM_PARTIAL form (pseudo-header sum only). */
  partial?: boolean;
}

export interface UdpSpec extends Pkt4 {
  sport: number;
  dport: number;
  payload?: Uint8Array;
  /** Send without a checksum (0). */
  noCsum?: boolean;
}

export const MAC_CLIENT = '02:00:00:00:00:01';
export const MAC_DIRECTOR = '02:00:00:00:00:02';

function l2l3(p: Pkt4, proto: number, l4len: number, b: Uint8Array): number {
  let o = ethEmit(
    {
      dst: macFromString(p.dstMac ?? MAC_DIRECTOR),
      src: macFromString(p.srcMac ?? MAC_CLIENT),
      ethertype: ETHERTYPE_IPV4,
    },
    b,
    0,
  );
  o += ipv4Emit(
    {
      tos: p.tos ?? 0,
      totalLen: 20 + l4len,
      id: p.id ?? 0x1234,
      df: p.df ?? true,
      mf: false,
      fragOffset: 0,
      ttl: p.ttl ?? 64,
      proto,
      src: ipv4FromString(p.src),
      dst: ipv4FromString(p.dst),
    },
    b,
    o,
  );
  return o;
}

export function tcp4(s: TcpSpec): Uint8Array {
  const repr = {
    srcPort: s.sport,
    dstPort: s.dport,
    seq: s.seq ?? 1000,
    ack: s.ack ?? 0,
    flags: s.flags,
    reserved: 0,
    window: s.window ?? 65535,
    urgent: 0,
    options: s.options ?? [],
  };
  const payload = s.payload ?? new Uint8Array(0);
  const b = new Uint8Array(14 + 20 + 60 + payload.length);
  const l4 = l2l3(s, IPPROTO_TCP, 0, b);
  const hl = tcpEmit(repr, b, l4);
  b.set(payload, l4 + hl);
  const l4len = hl + payload.length;
  // Fix the IP total length now that the TCP header length is known.
  const out = b.slice(0, l4 + l4len);
  const l3 = 14;
  const tot = 20 + l4len;
  out[l3 + 2] = tot >>> 8;
  out[l3 + 3] = tot & 0xff;
  out[l3 + 10] = out[l3 + 11] = 0;
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (out[l3 + i] << 8) | out[l3 + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  out[l3 + 10] = c >>> 8;
  out[l3 + 11] = c & 0xff;
  if (s.partial) tcpFillPartialCsumV4(out, l3, l4, l4len);
  else tcpFillCsumV4(out, l3, l4, l4len);
  return out;
}

export function udp4(s: UdpSpec): Uint8Array {
  const payload = s.payload ?? new Uint8Array(0);
  const l4len = 8 + payload.length;
  const b = new Uint8Array(14 + 20 + l4len);
  const l4 = l2l3(s, IPPROTO_UDP, l4len, b);
  udpEmit({ srcPort: s.sport, dstPort: s.dport, length: l4len, csum: 0 }, b, l4);
  b.set(payload, l4 + 8);
  if (!s.noCsum) udpFillCsumV4(b, 14, l4, l4len);
  return b;
}

export function icmp4(
  s: Pkt4 & { type: number; code: number; rest?: number; data?: Uint8Array },
): Uint8Array {
  const data = s.data ?? new Uint8Array(0);
  const l4len = 8 + data.length;
  const b = new Uint8Array(14 + 20 + l4len);
  const l4 = l2l3(s, IPPROTO_ICMP, l4len, b);
  b[l4] = s.type;
  b[l4 + 1] = s.code;
  const r = s.rest ?? 0;
  b[l4 + 4] = r >>> 24;
  b[l4 + 5] = (r >>> 16) & 0xff;
  b[l4 + 6] = (r >>> 8) & 0xff;
  b[l4 + 7] = r & 0xff;
  b.set(data, l4 + 8);
  icmpFillCsum(b, l4, l4len);
  return b;
}

/** Places a frame at the start of a larger buffer (room to grow), returning the buffer. */
export function inSlot(frame: Uint8Array, cap = 2048): Uint8Array {
  const b = new Uint8Array(cap);
  b.set(frame, 0);
  return b;
}

export interface Tcp6Spec {
  srcMac?: string;
  dstMac?: string;
  src: string;
  dst: string;
  hopLimit?: number;
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  payload?: Uint8Array;
}

/** Ethernet + IPv6 + TCP with a full checksum. */
export function tcp6(s: Tcp6Spec): Uint8Array {
  const payload = s.payload ?? new Uint8Array(0);
  const l4len = 20 + payload.length;
  const b = new Uint8Array(14 + 40 + l4len);
  ethEmit(
    {
      dst: macFromString(s.dstMac ?? MAC_DIRECTOR),
      src: macFromString(s.srcMac ?? MAC_CLIENT),
      ethertype: 0x86dd,
    },
    b,
    0,
  );
  ipv6Emit(
    {
      trafficClass: 0,
      flowLabel: 0,
      payloadLen: l4len,
      nextHeader: IPPROTO_TCP,
      hopLimit: s.hopLimit ?? 64,
      src: ipv6FromString(s.src),
      dst: ipv6FromString(s.dst),
    },
    b,
    14,
  );
  tcpEmit(
    {
      srcPort: s.sport,
      dstPort: s.dport,
      seq: s.seq ?? 1000,
      ack: s.ack ?? 0,
      flags: s.flags,
      reserved: 0,
      window: 65535,
      urgent: 0,
      options: [],
    },
    b,
    54,
  );
  b.set(payload, 74);
  tcpFillCsumV6(b, 14, 54, l4len);
  return b;
}

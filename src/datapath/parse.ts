/**
 * The full parse path of a received frame: Ethernet (one 802.1Q tag), ARP, IPv4 / IPv6 (with the
 * extension-header walk), then TCP, UDP, SCTP, ICMP, ICMPv6, and the tunnel and VRRP headers.
 * It validates every header it reads and fills a reusable FrameInfo with offsets and the fields
 * the pipeline needs, so nothing later reads outside the frame. It never throws and allocates
 * nothing: one FrameInfo lives as long as the worker.
 */
import { u16, u32 } from '../wire/bytes.ts';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETH_HLEN,
  ETH_MAX_FRAME,
  ethCheck,
  ethHeaderLen,
  ethType,
} from '../wire/ethernet.ts';
import { arpCheck } from '../wire/arp.ts';
import {
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_VRRP,
  IPV4_HLEN,
  IPV4_TTL,
  ipv4Check,
  ipv4HeaderSum20,
  ipv4HeaderLen,
  ipv4TotalLen,
} from '../wire/ipv4.ts';
import { IPV6_HLEN, IPV6_HOPLIMIT, ipv6Check, ipv6FindL4, ipv6PayloadLen } from '../wire/ipv6.ts';
import { TCP_FLAGS, tcpCheck } from '../wire/tcp.ts';
import { udpCheck } from '../wire/udp.ts';
import { sctpCheck } from '../wire/sctp.ts';
import { icmpCheck } from '../wire/icmp.ts';
import { icmp6Check, icmp6CsumOk } from '../wire/icmp6.ts';
import { greCheck } from '../wire/gre.ts';
import { vrrpCheck } from '../wire/vrrp.ts';
import { Reason } from '../wire/reason.ts';
import { pseudoSumV4, pseudoSumV6 } from '../wire/checksum.ts';

/** What parseFrame learned about a frame. Offsets are absolute in the buffer. */
export class FrameInfo {
  ethOff = 0;
  /** Frame length as received (may include Ethernet padding after the IP packet). */
  frameLen = 0;
  ethertype = 0;
  l3off = 0;
  /** IP packet length from its own header (total length, or 40 + payload length). */
  l3len = 0;
  /** 4, 6, or 0 when not IP. */
  af = 0;
  ttl = 0;
  proto = 0;
  l4off = 0;
  l4len = 0;
  /** IPv4 addresses as uint32 (IPv6: read them at l3off + 8 / + 24). */
  saddr = 0;
  daddr = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  /** ICMP/ICMPv6 type and code when proto is ICMP. */
  icmpType = 0;
  icmpCode = 0;
  /** True when the IP packet is a fragment (the L4 fields are then not valid). */
  fragment = false;
  /** ipv6FindL4 scratch: [proto, l4off, frag word]. */
  readonly v6scratch = new Int32Array(3);
}

/**
 * Parses and validates a frame of `len` bytes at `off`. Returns Reason.OK, or why not.
 * IPV4_FRAGMENT / IPV6_FRAGMENT are returned with the L3 fields filled, so the caller can still
 * decide by address (a fragment for a VIP is dropped and counted, others pass to the host).
 */
export function parseFrame(b: Uint8Array, off: number, len: number, fi: FrameInfo): Reason {
  // The frame nearly every packet is: untagged Ethernet, IPv4 with a 20-byte header, not a
  // fragment, TCP or UDP. Its Ethernet and IPv4 checks are made here inline, in one pass (the same
  // checks ethCheck and ipv4Check make); anything else, including every frame that fails one of
  // them, takes the general path below, which says why.
  if (
    len >= ETH_HLEN + IPV4_HLEN &&
    len <= ETH_MAX_FRAME &&
    off >= 0 &&
    off + len <= b.length &&
    b[off + 12] === 0x08 &&
    b[off + 13] === 0x00 &&
    b[off + 14] === 0x45
  ) {
    const l3 = off + ETH_HLEN;
    const tot = (b[l3 + 2] << 8) | b[l3 + 3];
    const p = b[l3 + 9];
    if (
      (p === IPPROTO_TCP || p === IPPROTO_UDP) &&
      tot >= IPV4_HLEN &&
      tot <= len - ETH_HLEN &&
      ((b[l3 + 6] & 0x3f) | b[l3 + 7]) === 0 &&
      ipv4HeaderSum20(b, l3) === 0xffff
    ) {
      fi.ethOff = off;
      fi.frameLen = len;
      fi.ethertype = ETHERTYPE_IPV4;
      fi.l3off = l3;
      fi.af = 4;
      fi.fragment = false;
      fi.l3len = tot;
      fi.ttl = b[l3 + IPV4_TTL];
      fi.proto = p;
      fi.saddr = ((b[l3 + 12] << 24) | (b[l3 + 13] << 16) | (b[l3 + 14] << 8) | b[l3 + 15]) >>> 0;
      fi.daddr = ((b[l3 + 16] << 24) | (b[l3 + 17] << 16) | (b[l3 + 18] << 8) | b[l3 + 19]) >>> 0;
      fi.l4off = l3 + IPV4_HLEN;
      fi.l4len = tot - IPV4_HLEN;
      fi.sport = fi.dport = fi.tcpFlags = 0;
      const l4 = l3 + IPV4_HLEN;
      const r = p === IPPROTO_TCP ? tcpCheck(b, l4, tot - IPV4_HLEN) : udpCheck(b, l4, tot - IPV4_HLEN);
      if (r !== Reason.OK) return r;
      fi.sport = (b[l4] << 8) | b[l4 + 1];
      fi.dport = (b[l4 + 2] << 8) | b[l4 + 3];
      if (p === IPPROTO_TCP) fi.tcpFlags = b[l4 + TCP_FLAGS];
      return Reason.OK;
    }
  }
  return parseFrameGeneral(b, off, len, fi);
}

/** parseFrame without its fast path: every frame through the general checks (tests compare). */
export function parseFrameGeneral(b: Uint8Array, off: number, len: number, fi: FrameInfo): Reason {
  fi.ethOff = off;
  fi.frameLen = len;
  fi.af = 0;
  fi.proto = 0;
  fi.fragment = false;
  fi.sport = fi.dport = fi.tcpFlags = 0;
  let r: Reason = ethCheck(b, off, len);
  if (r !== Reason.OK) return r;
  const hl = ethHeaderLen(b, off);
  const et = ethType(b, off);
  fi.ethertype = et;
  const l3 = off + hl;
  const avail = len - hl;
  fi.l3off = l3;
  if (et === ETHERTYPE_IPV4) {
    r = ipv4Check(b, l3, avail);
    if (r !== Reason.OK && r !== Reason.IPV4_FRAGMENT) return r;
    fi.af = 4;
    const ihl = ipv4HeaderLen(b, l3);
    fi.l3len = ipv4TotalLen(b, l3);
    fi.ttl = b[l3 + IPV4_TTL];
    fi.proto = b[l3 + 9];
    fi.saddr = u32(b, l3 + 12);
    fi.daddr = u32(b, l3 + 16);
    fi.l4off = l3 + ihl;
    fi.l4len = fi.l3len - ihl;
    if (r === Reason.IPV4_FRAGMENT) {
      fi.fragment = true;
      return r;
    }
    return parseL4(b, fi);
  }
  if (et === ETHERTYPE_IPV6) {
    r = ipv6Check(b, l3, avail);
    if (r !== Reason.OK) return r;
    fi.af = 6;
    fi.l3len = IPV6_HLEN + ipv6PayloadLen(b, l3);
    fi.ttl = b[l3 + IPV6_HOPLIMIT];
    fi.saddr = fi.daddr = 0;
    const s = fi.v6scratch;
    r = ipv6FindL4(b, l3, fi.l3len, s);
    if (r !== Reason.OK && r !== Reason.IPV6_FRAGMENT) return r;
    fi.proto = s[0];
    fi.l4off = s[1];
    fi.l4len = l3 + fi.l3len - s[1];
    if (r === Reason.IPV6_FRAGMENT) {
      fi.fragment = true;
      return r;
    }
    return parseL4(b, fi);
  }
  if (et === ETHERTYPE_ARP) return arpCheck(b, l3, avail);
  return Reason.ETHERTYPE_UNKNOWN;
}

function parseL4(b: Uint8Array, fi: FrameInfo): Reason {
  const o = fi.l4off;
  const n = fi.l4len;
  let r: Reason;
  switch (fi.proto) {
    case IPPROTO_TCP:
      r = tcpCheck(b, o, n);
      if (r !== Reason.OK) return r;
      fi.sport = u16(b, o);
      fi.dport = u16(b, o + 2);
      fi.tcpFlags = b[o + TCP_FLAGS];
      return Reason.OK;
    case IPPROTO_UDP:
      r = udpCheck(b, o, n);
      if (r !== Reason.OK) return r;
      fi.sport = u16(b, o);
      fi.dport = u16(b, o + 2);
      return Reason.OK;
    case IPPROTO_SCTP:
      r = sctpCheck(b, o, n);
      if (r !== Reason.OK) return r;
      fi.sport = u16(b, o);
      fi.dport = u16(b, o + 2);
      return Reason.OK;
    case IPPROTO_ICMP:
      if (fi.af !== 4) return Reason.L4_PROTO_UNKNOWN;
      r = icmpCheck(b, o, n);
      if (r !== Reason.OK) return r;
      fi.icmpType = b[o];
      fi.icmpCode = b[o + 1];
      return Reason.OK;
    case IPPROTO_ICMPV6:
      if (fi.af !== 6) return Reason.L4_PROTO_UNKNOWN;
      r = icmp6Check(b, o, n);
      if (r !== Reason.OK) return r;
      if (!icmp6CsumOk(b, fi.l3off, o, n)) return Reason.ICMP6_BAD_CSUM;
      fi.icmpType = b[o];
      fi.icmpCode = b[o + 1];
      return Reason.OK;
    case IPPROTO_IPIP:
      // IP-in-IP (TUN mode toward a real server): the inner IPv4 header must be sound.
      r = ipv4Check(b, o, n);
      return r === Reason.OK || r === Reason.IPV4_FRAGMENT ? Reason.OK : Reason.IPIP_INNER_BAD;
    case IPPROTO_IPV6:
      return ipv6Check(b, o, n) === Reason.OK ? Reason.OK : Reason.IPIP_INNER_BAD;
    case IPPROTO_GRE:
      return greCheck(b, o, n);
    case IPPROTO_VRRP:
      // A v3 checksum covers the pseudo-header too (RFC 5798 §5.2.8); v2 ignores it.
      return vrrpCheck(
        b,
        o,
        n,
        fi.af === 4
          ? pseudoSumV4(fi.saddr, fi.daddr, IPPROTO_VRRP, n)
          : pseudoSumV6(b, fi.l3off + 8, fi.l3off + 24, IPPROTO_VRRP, n),
        fi.af === 6,
      );
    default:
      return Reason.L4_PROTO_UNKNOWN;
  }
}

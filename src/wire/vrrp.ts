/**
 * VRRP advertisements: version 2 (RFC 3768, IPv4 only) and version 3 (RFC 5798, IPv4 or IPv6), with
 * the fields keepalived sends (keepalived/include/vrrp.h vrrphdr_t; lvs-features.md §5.2).
 *
 *   0       4       8              16              24             31
 *   |Version| Type  | Virtual Rtr ID |   Priority    | Count IPvX    |
 *   v2: | Auth Type | Adver Int (s)  |          Checksum              |
 *   v3: |rsvd| Max Adver Int (cs, 12 bits) |      Checksum              |
 *   |         IPvX address(es): 4 bytes each (IPv4) or 16 (IPv6)          |
 *   v2 only: |       Authentication Data (8 bytes)                        |
 *
 * Checksum: v2 sums the VRRP message alone; v3 adds a pseudo-header (RFC 5798 §5.2.8, protocol 112)
 * for IPv6 and, by keepalived's default, for IPv4 too (`v3_checksum_as_v2` drops it for IPv4).
 * These are control-plane messages: Reprs and builders allocate freely.
 */
import { csumAdd, csumFold, internetChecksum, pseudoSumV4, pseudoSumV6 } from './checksum.ts';
import { setU16, setU32, u16, u32 } from './bytes.ts';
import { IPPROTO_VRRP, IPV4_HLEN, ipv4Emit } from './ipv4.ts';
import { Reason } from './reason.ts';

export const VRRP_VER_TYPE = 0;
export const VRRP_VRID = 1;
export const VRRP_PRIORITY = 2;
export const VRRP_COUNT = 3;
/** v2: Auth Type byte. v3: the first byte of the reserved nibble + Max Adver Int word. */
export const VRRP_AUTH_TYPE = 4;
/** v2: Adver Int byte (seconds). */
export const VRRP_ADVER_INT = 5;
/** v3: 4 reserved bits + 12-bit Max Adver Int (centiseconds). */
export const VRRP_MAX_ADVER_INT = 4;
export const VRRP_CSUM = 6;
export const VRRP_ADDRS = 8;
export const VRRP_HLEN = 8;
/** v2 trailer: 8 bytes of authentication data (keepalived VRRP_AUTH_LEN). */
export const VRRP_AUTH_LEN = 8;

export const VRRP_TYPE_ADVERT = 1;
/** RFC 3768/5798: adverts go to 224.0.0.18 / ff02::12 with TTL / hop limit 255. */
export const VRRP_MCAST_V4 = 0xe0000012;
export const VRRP_MCAST_V6 = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12);
export const VRRP_TTL = 255;
/** keepalived's vrrp_build_ip4: TOS 0xc0 ("internetwork control"), id 0, no DF. */
export const VRRP_IP_TOS = 0xc0;

export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1;
export const VRRP_AUTH_AH = 2;

/** Virtual router MAC 00-00-5E-00-01-{VRID} (IPv4) / 00-00-5E-00-02-{VRID} (IPv6), RFC 5798 §7.3. */
export function vrrpVirtualMac(vrid: number, v6 = false): number {
  return 0x00005e000000 + (v6 ? 0x200 : 0x100) + (vrid & 0xff);
}

/** Expected message length for a version, address count and family. */
export function vrrpMessageLen(version: number, count: number, v6: boolean): number {
  return VRRP_HLEN + count * (v6 ? 16 : 4) + (version === 2 ? VRRP_AUTH_LEN : 0);
}

/** Unfolded IPv4 pseudo-header sum for a v3 advert of `len` bytes (pass to vrrpCheck / vrrpEmit). */
export function vrrpPseudoSumV4(src: number, dst: number, len: number): number {
  return pseudoSumV4(src, dst, IPPROTO_VRRP, len);
}

/**
 * Validates an untrusted VRRP message of exactly `len` bytes at `off` (the IP payload).
 * `pseudoSum` is the unfolded pseudo-header sum a v3 checksum includes (vrrpPseudoSumV4, or
 * pseudoSumV6 with protocol 112); pass 0 for v3 with v3_checksum_as_v2. It is ignored for v2,
 * whose checksum covers the message alone. `v6` says the message came over IPv6.
 *
 * VRRP_TRUNCATED: fewer than 8 bytes. VRRP_BAD_VERSION: not 2 or 3, or v2 over IPv6.
 * VRRP_BAD_TYPE: not 1 (advertisement). VRRP_BAD_LEN: the length differs from what Count implies
 * (keepalived's vrrp_check_packet refuses both "too short" and "too long"). VRRP_BAD_CSUM.
 * A count of 0 passes (RFC 5798 says at least 1; that is the receiver's policy, not framing).
 */
export function vrrpCheck(b: Uint8Array, off: number, len: number, pseudoSum = 0, v6 = false): Reason {
  if (len < VRRP_HLEN || off < 0 || off + len > b.length) return Reason.VRRP_TRUNCATED;
  const ver = b[off] >>> 4;
  if ((ver !== 2 && ver !== 3) || (ver === 2 && v6)) return Reason.VRRP_BAD_VERSION;
  if ((b[off] & 0x0f) !== VRRP_TYPE_ADVERT) return Reason.VRRP_BAD_TYPE;
  if (len !== vrrpMessageLen(ver, b[off + VRRP_COUNT], v6)) return Reason.VRRP_BAD_LEN;
  const init = ver === 3 ? pseudoSum : 0;
  if (csumFold(csumAdd(b, off, len, init)) !== 0xffff) return Reason.VRRP_BAD_CSUM;
  return Reason.OK;
}

export function vrrpVersion(b: Uint8Array, off: number): number {
  return b[off] >>> 4;
}
export function vrrpType(b: Uint8Array, off: number): number {
  return b[off] & 0x0f;
}
export function vrrpVrid(b: Uint8Array, off: number): number {
  return b[off + VRRP_VRID];
}
export function vrrpPriority(b: Uint8Array, off: number): number {
  return b[off + VRRP_PRIORITY];
}
export function vrrpCount(b: Uint8Array, off: number): number {
  return b[off + VRRP_COUNT];
}
/** v2 only. */
export function vrrpAuthType(b: Uint8Array, off: number): number {
  return b[off + VRRP_AUTH_TYPE];
}
/** v2 only: advertisement interval in seconds. */
export function vrrpAdverInt(b: Uint8Array, off: number): number {
  return b[off + VRRP_ADVER_INT];
}
/** v3 only: maximum advertisement interval in centiseconds (12 bits). */
export function vrrpMaxAdverInt(b: Uint8Array, off: number): number {
  return u16(b, off + VRRP_MAX_ADVER_INT) & 0x0fff;
}
export function vrrpCsum(b: Uint8Array, off: number): number {
  return u16(b, off + VRRP_CSUM);
}
/** The i-th IPv4 address. */
export function vrrpAddrV4(b: Uint8Array, off: number, i: number): number {
  return u32(b, off + VRRP_ADDRS + 4 * i);
}
/** Offset of the i-th IPv6 address (16 bytes). */
export function vrrpAddrV6Off(off: number, i: number): number {
  return off + VRRP_ADDRS + 16 * i;
}
/** v2 only: offset of the 8 authentication-data bytes. */
export function vrrpAuthDataOff(b: Uint8Array, off: number): number {
  return off + VRRP_ADDRS + 4 * b[off + VRRP_COUNT];
}

/** Plain-object form of an advertisement. */
export interface VrrpRepr {
  version: 2 | 3;
  vrid: number;
  priority: number;
  /** v2: Adver Int in seconds (8 bits). v3: Max Adver Int in centiseconds (12 bits). */
  adverInt: number;
  /** IPv4 addresses as uint32. Exactly one of addrs / addrs6 is set (addrs6 for v3 over IPv6). */
  addrs?: number[];
  /** IPv6 addresses, 16 bytes each (v3 only). */
  addrs6?: Uint8Array[];
  /** v2 only: 0 none, 1 simple password (RFC 2338), 2 IP AH. Defaults to 0. */
  authType?: number;
  /** v2 only: the 8 authentication-data bytes (zeros when absent). */
  authData?: Uint8Array;
  /** Checksum as read (parse only); emit always computes it. */
  csum?: number;
}

/** Parses a message that passed vrrpCheck (`v6` as given there). */
export function vrrpParse(b: Uint8Array, off: number, v6 = false): VrrpRepr {
  const ver = vrrpVersion(b, off) === 2 ? 2 : 3;
  const n = vrrpCount(b, off);
  const r: VrrpRepr = {
    version: ver,
    vrid: vrrpVrid(b, off),
    priority: vrrpPriority(b, off),
    adverInt: ver === 2 ? vrrpAdverInt(b, off) : vrrpMaxAdverInt(b, off),
    csum: vrrpCsum(b, off),
  };
  if (v6) {
    r.addrs6 = [];
    for (let i = 0; i < n; i++) r.addrs6.push(b.slice(vrrpAddrV6Off(off, i), vrrpAddrV6Off(off, i) + 16));
  } else {
    r.addrs = [];
    for (let i = 0; i < n; i++) r.addrs.push(vrrpAddrV4(b, off, i));
  }
  if (ver === 2) {
    r.authType = vrrpAuthType(b, off);
    const a = vrrpAuthDataOff(b, off);
    r.authData = b.slice(a, a + VRRP_AUTH_LEN);
  }
  return r;
}

function reprIsV6(r: VrrpRepr): boolean {
  return r.addrs6 !== undefined;
}

function reprCount(r: VrrpRepr): number {
  return r.addrs6 ? r.addrs6.length : r.addrs ? r.addrs.length : 0;
}

export function vrrpEmitLen(r: VrrpRepr): number {
  return vrrpMessageLen(r.version, reprCount(r), reprIsV6(r));
}

/**
 * Writes the message at `off` with its checksum; returns its length. `pseudoSum` as in vrrpCheck
 * (built for vrrpEmitLen(r) bytes); ignored for v2. Throws on fields that cannot be encoded.
 */
export function vrrpEmit(r: VrrpRepr, b: Uint8Array, off: number, pseudoSum = 0): number {
  const n = reprCount(r);
  const v6 = reprIsV6(r);
  if (r.addrs && r.addrs6) throw new RangeError('VRRP: give IPv4 or IPv6 addresses, not both');
  if (n > 255) throw new RangeError('VRRP: at most 255 addresses');
  if (r.version === 2 && v6) throw new RangeError('VRRP v2 carries IPv4 addresses only');
  if (r.version === 2 && (r.adverInt < 0 || r.adverInt > 255))
    throw new RangeError('VRRP v2 adver_int 0-255 s');
  if (r.version === 3 && (r.adverInt < 0 || r.adverInt > 0xfff))
    throw new RangeError('VRRP v3 max_adver_int 0-4095 cs');
  const len = vrrpEmitLen(r);
  b[off] = (r.version << 4) | VRRP_TYPE_ADVERT;
  b[off + VRRP_VRID] = r.vrid;
  b[off + VRRP_PRIORITY] = r.priority;
  b[off + VRRP_COUNT] = n;
  if (r.version === 2) {
    b[off + VRRP_AUTH_TYPE] = r.authType ?? VRRP_AUTH_NONE;
    b[off + VRRP_ADVER_INT] = r.adverInt;
  } else {
    setU16(b, off + VRRP_MAX_ADVER_INT, r.adverInt & 0x0fff);
  }
  setU16(b, off + VRRP_CSUM, 0);
  if (r.addrs6) for (let i = 0; i < n; i++) b.set(r.addrs6[i].subarray(0, 16), vrrpAddrV6Off(off, i));
  else if (r.addrs) for (let i = 0; i < n; i++) setU32(b, off + VRRP_ADDRS + 4 * i, r.addrs[i]);
  if (r.version === 2) {
    const a = off + VRRP_ADDRS + 4 * n;
    b.fill(0, a, a + VRRP_AUTH_LEN);
    if (r.authData) b.set(r.authData.subarray(0, VRRP_AUTH_LEN), a);
  }
  setU16(b, off + VRRP_CSUM, internetChecksum(b, off, len, r.version === 3 ? pseudoSum : 0));
  return len;
}

export interface VrrpAdvertOptions {
  /** Destination; 224.0.0.18 unless unicasting to a peer. */
  dst?: number;
  /** TTL; 255 (receivers of multicast adverts drop anything else). */
  ttl?: number;
  /** IP identification; keepalived sends 0. */
  id?: number;
  /** v3 over IPv4 without the pseudo-header (keepalived `v3_checksum_as_v2`, RFC 9568 reading). */
  v3ChecksumAsV2?: boolean;
}

/**
 * A whole IPv4 advertisement packet (IP header + VRRP), as keepalived's vrrp_build_ip4 +
 * vrrp_build_vrrp lay it out: TOS 0xc0, id 0, no DF, TTL 255, protocol 112, to 224.0.0.18.
 */
export function vrrpBuildAdvertV4(r: VrrpRepr, src: number, opts: VrrpAdvertOptions = {}): Uint8Array {
  const dst = opts.dst ?? VRRP_MCAST_V4;
  const vlen = vrrpEmitLen(r);
  const out = new Uint8Array(IPV4_HLEN + vlen);
  ipv4Emit(
    {
      tos: VRRP_IP_TOS,
      totalLen: IPV4_HLEN + vlen,
      id: opts.id ?? 0,
      df: false,
      mf: false,
      fragOffset: 0,
      ttl: opts.ttl ?? VRRP_TTL,
      proto: IPPROTO_VRRP,
      src,
      dst,
    },
    out,
    0,
  );
  const ps = r.version === 3 && !opts.v3ChecksumAsV2 ? vrrpPseudoSumV4(src, dst, vlen) : 0;
  vrrpEmit(r, out, IPV4_HLEN, ps);
  return out;
}

/**
 * A whole IPv6 advertisement packet (v3 only): traffic class 0xc0 (keepalived's
 * if_setsockopt_priority sets IPV6_TCLASS to it, like IP_TOS for IPv4), next header
 * 112, hop limit 255, to ff02::12 unless `dst` is given; checksum with the IPv6 pseudo-header.
 */
export function vrrpBuildAdvertV6(r: VrrpRepr, src: Uint8Array, dst: Uint8Array = VRRP_MCAST_V6): Uint8Array {
  if (r.version !== 3) throw new RangeError('VRRP over IPv6 is version 3 only');
  const vlen = vrrpEmitLen(r);
  const out = new Uint8Array(40 + vlen);
  setU32(out, 0, (6 << 28) | (VRRP_IP_TOS << 20));
  setU16(out, 4, vlen);
  out[6] = IPPROTO_VRRP;
  out[7] = VRRP_TTL;
  out.set(src.subarray(0, 16), 8);
  out.set(dst.subarray(0, 16), 24);
  vrrpEmit(r, out, 40, pseudoSumV6(out, 8, 24, IPPROTO_VRRP, vlen));
  return out;
}

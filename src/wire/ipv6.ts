/**
 * IPv6 fixed header (RFC 8200 §3) and the extension-header walk that finds the upper layer.
 *
 *   0       4               12                                   31
 *   |version| traffic class |            flow label              |
 *   |        payload length         |  next header  |  hop limit  |
 *   |              source address (16 bytes, offset 8)            |
 *   |           destination address (16 bytes, offset 24)         |
 *
 * Addresses are 16-byte ranges of the caller's buffer; accessors give their offsets. There is no
 * header checksum: transport checksums cover the addresses through the pseudo-header instead.
 */
import { bytesEqual, copyBytes, setU16, u16 } from './bytes.ts';
import { Reason } from './reason.ts';

export const IPV6_VTCFL = 0;
export const IPV6_PLEN = 4;
export const IPV6_NEXT = 6;
export const IPV6_HOPLIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
export const IPV6_HLEN = 40;

/** Next-header values that are extension headers (RFC 8200 §4) or end the chain. */
export const IPV6_NH_HOPOPTS = 0;
export const IPV6_NH_ROUTING = 43;
export const IPV6_NH_FRAGMENT = 44;
export const IPV6_NH_ESP = 50;
export const IPV6_NH_AH = 51;
export const IPV6_NH_NONE = 59;
export const IPV6_NH_DSTOPTS = 60;

/** Fragment header: next header, reserved, offset (13 bits) | res (2) | M (1), identification. */
export const IPV6_FRAG_HLEN = 8;
export const IPV6_FRAG_OFFSET_MASK = 0xfff8;
export const IPV6_FRAG_MF = 0x0001;

/**
 * How many extension headers the walk follows before giving up. Real traffic carries one or two;
 * a long chain is a way to make every packet expensive (RFC 7112/9098 discuss the limits).
 */
export const IPV6_EXT_MAX = 8;

/**
 * Validates an untrusted IPv6 fixed header; `len` is the number of bytes available from `off`.
 * Checks the version and that the payload length fits. Jumbograms (payload length 0 plus a
 * hop-by-hop jumbo option) are not supported: they read as an empty payload.
 */
export function ipv6Check(b: Uint8Array, off: number, len: number): Reason {
  if (!(off >= 0 && len >= IPV6_HLEN && off + IPV6_HLEN <= b.length)) return Reason.IPV6_TRUNCATED;
  if (b[off] >>> 4 !== 6) return Reason.IPV6_BAD_VERSION;
  if (IPV6_HLEN + u16(b, off + IPV6_PLEN) > len) return Reason.IPV6_BAD_PAYLOAD_LEN;
  return Reason.OK;
}

/**
 * Walks the extension headers of the packet at `off` (`len` bytes: pass 40 + payload length after
 * ipv6Check, or what is left of an embedded header in an ICMPv6 error) and finds the upper layer.
 * Writes out[0] = upper-layer protocol (ESP 50 and No Next Header 59 end the walk and are reported
 * as the protocol), out[1] = its absolute offset, out[2] = the fragment header's offset/flags word
 * or -1 when there is none (out[2] is skipped if `out` has only two slots).
 *
 * Returns OK, IPV6_EXT_TRUNCATED, IPV6_EXT_TOO_MANY (more than IPV6_EXT_MAX headers), or
 * IPV6_FRAGMENT when the packet is not whole. A fragment header with offset 0 and M=0 (an atomic
 * fragment, RFC 6946) is whole. For a first fragment (offset 0, M=1) the walk still completes, so
 * `out` locates its upper-layer header; for a later fragment out[1] is where its data starts.
 * Never throws and never reads outside [off, off+len) or the buffer.
 */
export function ipv6FindL4(b: Uint8Array, off: number, len: number, out: Int32Array): Reason {
  if (!(off >= 0 && len >= IPV6_HLEN && off + IPV6_HLEN <= b.length)) return Reason.IPV6_TRUNCATED;
  const end = Math.min(off + len, b.length);
  let nh = b[off + IPV6_NEXT];
  let p = off + IPV6_HLEN;
  let count = 0;
  let firstFragment = false;
  out[2] = -1;
  for (;;) {
    let hl: number;
    if (nh === IPV6_NH_HOPOPTS || nh === IPV6_NH_ROUTING || nh === IPV6_NH_DSTOPTS) {
      if (p + 2 > end) return Reason.IPV6_EXT_TRUNCATED;
      hl = (b[p + 1] + 1) * 8;
    } else if (nh === IPV6_NH_AH) {
      // RFC 4302 §2.2: AH counts its length in 4-byte units, minus 2.
      if (p + 2 > end) return Reason.IPV6_EXT_TRUNCATED;
      hl = (b[p + 1] + 2) * 4;
    } else if (nh === IPV6_NH_FRAGMENT) {
      hl = IPV6_FRAG_HLEN;
    } else {
      out[0] = nh;
      out[1] = p;
      return firstFragment ? Reason.IPV6_FRAGMENT : Reason.OK;
    }
    if (++count > IPV6_EXT_MAX) return Reason.IPV6_EXT_TOO_MANY;
    if (p + hl > end) return Reason.IPV6_EXT_TRUNCATED;
    const next = b[p];
    if (nh === IPV6_NH_FRAGMENT) {
      const fw = u16(b, p + 2);
      out[2] = fw;
      if ((fw & IPV6_FRAG_OFFSET_MASK) !== 0) {
        // A later fragment carries no upper-layer header, only data.
        out[0] = next;
        out[1] = p + hl;
        return Reason.IPV6_FRAGMENT;
      }
      if ((fw & IPV6_FRAG_MF) !== 0) firstFragment = true;
    }
    nh = next;
    p += hl;
  }
}

export function ipv6Version(b: Uint8Array, off: number): number {
  return b[off] >>> 4;
}
export function ipv6TrafficClass(b: Uint8Array, off: number): number {
  return ((b[off] & 0x0f) << 4) | (b[off + 1] >>> 4);
}
export function ipv6FlowLabel(b: Uint8Array, off: number): number {
  return ((b[off + 1] & 0x0f) << 16) | (b[off + 2] << 8) | b[off + 3];
}
export function ipv6PayloadLen(b: Uint8Array, off: number): number {
  return u16(b, off + IPV6_PLEN);
}
export function ipv6NextHeader(b: Uint8Array, off: number): number {
  return b[off + IPV6_NEXT];
}
export function ipv6HopLimit(b: Uint8Array, off: number): number {
  return b[off + IPV6_HOPLIMIT];
}
/** Offset of the 16-byte source address. */
export function ipv6SrcOff(off: number): number {
  return off + IPV6_SRC;
}
/** Offset of the 16-byte destination address. */
export function ipv6DstOff(off: number): number {
  return off + IPV6_DST;
}
export function ipv6SrcEquals(b: Uint8Array, off: number, addr: Uint8Array, addrOff: number): boolean {
  return bytesEqual(b, off + IPV6_SRC, addr, addrOff, 16);
}
export function ipv6DstEquals(b: Uint8Array, off: number, addr: Uint8Array, addrOff: number): boolean {
  return bytesEqual(b, off + IPV6_DST, addr, addrOff, 16);
}

/** Copies 16 bytes from addr[addrOff] into the source address (no checksum to fix here). */
export function ipv6SetSrc(b: Uint8Array, off: number, addr: Uint8Array, addrOff: number): void {
  copyBytes(b, off + IPV6_SRC, addr, addrOff, 16);
}
export function ipv6SetDst(b: Uint8Array, off: number, addr: Uint8Array, addrOff: number): void {
  copyBytes(b, off + IPV6_DST, addr, addrOff, 16);
}
export function ipv6SetHopLimit(b: Uint8Array, off: number, hops: number): void {
  b[off + IPV6_HOPLIMIT] = hops & 0xff;
}
export function ipv6SetPayloadLen(b: Uint8Array, off: number, plen: number): void {
  setU16(b, off + IPV6_PLEN, plen);
}
export function ipv6SetNextHeader(b: Uint8Array, off: number, nh: number): void {
  b[off + IPV6_NEXT] = nh & 0xff;
}
export function ipv6SetTrafficClass(b: Uint8Array, off: number, tc: number): void {
  b[off] = 0x60 | ((tc >>> 4) & 0x0f);
  b[off + 1] = ((tc & 0x0f) << 4) | (b[off + 1] & 0x0f);
}

/** Plain-object form of the fixed header. Extension headers are part of the payload here. */
export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  /** 16 bytes each. */
  src: Uint8Array;
  dst: Uint8Array;
}

export function ipv6Parse(b: Uint8Array, off: number): Ipv6Repr {
  return {
    trafficClass: ipv6TrafficClass(b, off),
    flowLabel: ipv6FlowLabel(b, off),
    payloadLen: ipv6PayloadLen(b, off),
    nextHeader: ipv6NextHeader(b, off),
    hopLimit: ipv6HopLimit(b, off),
    src: b.slice(off + IPV6_SRC, off + IPV6_SRC + 16),
    dst: b.slice(off + IPV6_DST, off + IPV6_DST + 16),
  };
}

export function ipv6EmitLen(_r: Ipv6Repr): number {
  return IPV6_HLEN;
}

/** Writes the 40-byte fixed header at `off`; returns its length. */
export function ipv6Emit(r: Ipv6Repr, b: Uint8Array, off: number): number {
  if (r.src.length !== 16 || r.dst.length !== 16) throw new RangeError('IPv6 addresses are 16 bytes');
  const tc = r.trafficClass & 0xff;
  const fl = r.flowLabel & 0xfffff;
  b[off] = 0x60 | (tc >>> 4);
  b[off + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  b[off + 2] = (fl >>> 8) & 0xff;
  b[off + 3] = fl & 0xff;
  setU16(b, off + IPV6_PLEN, r.payloadLen);
  b[off + IPV6_NEXT] = r.nextHeader;
  b[off + IPV6_HOPLIMIT] = r.hopLimit;
  b.set(r.src, off + IPV6_SRC);
  b.set(r.dst, off + IPV6_DST);
  return IPV6_HLEN;
}

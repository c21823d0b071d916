/**
 * Address forms. On the packet path an IPv4 address is a uint32 `number` and a MAC is a 48-bit
 * `number` (see bytes.ts mac48). Text forms are for the control plane, tests and dumps only.
 */
import ipaddr from 'ipaddr.js';

/** Dotted quad → uint32. Throws on anything that is not four decimal parts (control plane only). */
export function ipv4FromString(s: string): number {
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) throw new RangeError(`not an IPv4 address: ${s}`);
  const p = s.split('.');
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}

export function ipv4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

export function isValidIpv4(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s);
}

/** IPv6 text → 16 bytes. Throws on invalid input (control plane only). */
export function ipv6FromString(s: string): Uint8Array {
  if (!ipaddr.IPv6.isValid(s)) throw new RangeError(`not an IPv6 address: ${s}`);
  return Uint8Array.from(ipaddr.IPv6.parse(s).toByteArray());
}

/** RFC 5952 text, the same compression as inet_ntop (what ipvsadm prints). */
export function ipv6ToString(b: Uint8Array, off = 0): string {
  return new ipaddr.IPv6(Array.from(b.subarray(off, off + 16))).toRFC5952String();
}

export function macFromString(s: string): number {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  if (!m) throw new RangeError(`not a MAC address: ${s}`);
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i], 16);
  return v;
}

export function macToString(mac: number): string {
  const out: string[] = [];
  let v = mac;
  for (let i = 0; i < 6; i++) {
    out.unshift((v % 256).toString(16).padStart(2, '0'));
    v = Math.floor(v / 256);
  }
  return out.join(':');
}

export function macBytesToString(b: Uint8Array, o: number): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(b[o + i].toString(16).padStart(2, '0'));
  return out.join(':');
}

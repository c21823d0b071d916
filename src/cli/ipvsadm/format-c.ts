/**
 * The bits of C and glibc behaviour that ipvsadm's listings depend on, so that the formatters can
 * be byte-exact: printf field widths counted in bytes, fixed-size buffers that cut strings,
 * print_largenum's abbreviations, glibc's inet_ntop for IPv6 (which differs from RFC 5952 for
 * ::a.b.c.d-looking addresses) and the integer conversions of %u / %d.
 */
import { inetPton4, inetPton6, truncateBytes } from './clib.ts';

const encoder = new TextEncoder();

function byteLength(s: string): number {
  // ASCII is by far the common case; only encode when something else is present.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return encoder.encode(s).length;
  return s.length;
}

/** printf("%-<w>s"): left-justified, padded with spaces to `w` bytes, never cut. */
export function padRight(s: string, w: number): string {
  const n = byteLength(s);
  return n >= w ? s : s + ' '.repeat(w - n);
}

/** printf("%<w>s"): right-justified, padded with spaces to `w` bytes, never cut. */
export function padLeft(s: string, w: number): string {
  const n = byteLength(s);
  return n >= w ? s : ' '.repeat(w - n) + s;
}

/** `buf[n] = '\0'`: keep at most n bytes. */
export function cut(s: string, n: number): string {
  return truncateBytes(s, n);
}

/** The value printf("%u") shows for an argument converted to unsigned int. */
export function u32(n: number): string {
  return String(Math.trunc(n) >>> 0);
}

/** The value printf("%d") shows for an argument converted to int. */
export function i32(n: number): string {
  return String(Math.trunc(n) | 0);
}

/** printf("%llu") for a non-negative integer below 2^53 (negative or fractional input is clamped). */
export function u64(n: number): string {
  return n > 0 ? String(Math.trunc(n)) : '0';
}

/**
 * print_largenum (ipvsadm.c): nine columns. With --exact the full number, at least one space
 * wide margin; otherwise numbers of 10^8 and more are shown in K, M, G or T (decimal, truncated).
 */
export function largenum(n: number, exact: boolean): string {
  const v = n > 0 ? Math.trunc(n) : 0;
  if (exact) {
    const s = String(v);
    return padLeft(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (v < 1e8) return padLeft(String(v), 9);
  if (v < 1e9) return padLeft(String(Math.floor(v / 1e3)), 8) + 'K';
  if (v < 1e11) return padLeft(String(Math.floor(v / 1e6)), 8) + 'M';
  if (v < 1e14) return padLeft(String(Math.floor(v / 1e9)), 8) + 'G';
  return padLeft(String(Math.floor(v / 1e12)), 8) + 'T';
}

/** inet_ntoa / inet_ntop(AF_INET) of a host-order uint32. */
export function ntop4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/**
 * glibc inet_ntop(AF_INET6): the longest run (the first of equal runs) of two or more zero groups
 * becomes "::", groups in lower-case hex without leading zeros, and, when the address starts with
 * exactly six zero groups or five zero groups then ffff, the last 32 bits as a dotted quad
 * ("::0.2.0.3", "::ffff:1.2.3.4"). RFC 5952 printers (ipaddr.js) differ on the dotted forms.
 */
export function ntop6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[i] << 8) | b[i + 1]);
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      return out;
    }
    out += w[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** An address decoded from snapshot text: the family and four host-order words (IPv4: one). */
export interface CAddr {
  readonly af: 4 | 6;
  /** IPv4: [addr, 0, 0, 0] (how it sits in a union nf_inet_addr); IPv6: the four words. */
  readonly words: readonly [number, number, number, number];
  /** IPv6 bytes; null for IPv4. */
  readonly bytes: Uint8Array | null;
}

function fromBytes6(b: Uint8Array): CAddr {
  const w = (i: number): number => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
  return { af: 6, words: [w(0), w(4), w(8), w(12)], bytes: b };
}

export function addr4Words(v: number): CAddr {
  return { af: 4, words: [v >>> 0, 0, 0, 0], bytes: null };
}

/**
 * strtoul(s, NULL, 16) truncated to 32 bits, as print_conn reads the kernel's "%08X" IPv4
 * addresses: leading white space, an optional sign and 0x, then hex digits up to the first other
 * character; overflow saturates at ULONG_MAX.
 */
export function strtoulHex32(s: string): number {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') neg = s[i++] === '-';
  if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) i += 2;
  let v = 0n;
  let overflow = false;
  for (; i < s.length; i++) {
    const d = parseInt(s[i], 16);
    if (Number.isNaN(d)) break;
    v = v * 16n + BigInt(d);
    if (v > 0xffffffffffffffffn) overflow = true;
  }
  if (overflow) return 0xffffffff;
  if (neg) v = (1n << 64n) - v;
  return Number(v & 0xffffffffn);
}

/**
 * An address as ipvsadm's print_conn takes it from /proc/net/ip_vs_conn: IPv6 text, else IPv4
 * dotted text, else the kernel's "%08X" hex form.
 */
export function decodeConnAddr(s: string): CAddr {
  const b6 = inetPton6(s);
  if (b6 !== null) return fromBytes6(b6);
  const v4 = inetPton4(s);
  if (v4 !== null) return addr4Words(v4);
  return addr4Words(strtoulHex32(s));
}

/**
 * A snapshot address for the given family (IPv6 text, or IPv4 dotted text). Returns null when the
 * text is not an address of that family.
 */
export function decodeAddr(af: 4 | 6, s: string): CAddr | null {
  if (af === 6) {
    const b = inetPton6(s);
    return b === null ? null : fromBytes6(b);
  }
  const v = inetPton4(s);
  return v === null ? null : addr4Words(v);
}

/** inet_ntop of a decoded address. */
export function ntop(a: CAddr): string {
  return a.af === 4 ? ntop4(a.words[0]) : ntop6(a.bytes!);
}

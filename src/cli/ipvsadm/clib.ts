/**
 * The few C library routines whose exact acceptance rules decide what ipvsadm accepts: glibc's
 * strtol/atoi, inet_aton, inet_pton and ctype tests, written to the same rules (leading
 * whitespace, signs, bases, overflow, trailing text). Strings are treated as C strings: callers
 * cut them at the first NUL (`cString`) before use. Pure functions; nothing here throws.
 */

/** A C string ends at the first NUL; argv strings from C can never contain one. */
export function cString(s: string): string {
  const i = s.indexOf('\0');
  return i < 0 ? s : s.slice(0, i);
}

/** isspace() in the C locale: space, \t, \n, \v, \f, \r. */
export function cIsSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\v' || ch === '\f' || ch === '\r';
}

/** isdigit() in the C locale. */
export function cIsDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

/** What strtol(s, &end, 10) yields on a 64-bit glibc target. */
export interface StrtolResult {
  /** The value, already clamped to LONG_MIN..LONG_MAX as strtol does on overflow. */
  readonly value: bigint;
  /** Index of the first unparsed character (0 when no digits were found, as strtol sets end = s). */
  readonly end: number;
  /** errno == ERANGE. */
  readonly erange: boolean;
}

/** strtol(s, &end, 10): optional whitespace, optional sign, decimal digits. */
export function strtol10(s: string): StrtolResult {
  let i = 0;
  while (cIsSpace(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  const start = i;
  let v = 0n;
  let erange = false;
  while (cIsDigit(s[i])) {
    if (!erange) {
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > LONG_MAX + 1n) erange = true;
    }
    i++;
  }
  if (i === start) return { value: 0n, end: 0, erange: false };
  if (neg) v = -v;
  if (erange || v > LONG_MAX || v < LONG_MIN)
    return { value: neg ? LONG_MIN : LONG_MAX, end: i, erange: true };
  return { value: v, end: i, erange: false };
}

/** atoi(s) as glibc defines it: (int) strtol(s, NULL, 10), i.e. the low 32 bits, signed. */
export function cAtoi(s: string): number {
  return Number(BigInt.asIntN(32, strtol10(s).value));
}

/**
 * strtoul(s, &end, 0) for a string that starts with a digit (the only way inet_aton calls it):
 * "0x"/"0X" followed by a hex digit selects base 16, a leading "0" base 8, otherwise base 10.
 * Returns null on overflow past 2^64-1 (ULONG_MAX with ERANGE).
 */
function strtoulAuto(s: string, i: number): { value: bigint; end: number } | null {
  let base = 10n;
  if (s[i] === '0') {
    if ((s[i + 1] === 'x' || s[i + 1] === 'X') && hexValue(s[i + 2]) >= 0) {
      base = 16n;
      i += 2;
    } else {
      base = 8n;
    }
  }
  let v = 0n;
  const max = (1n << 64n) - 1n;
  let over = false;
  for (;;) {
    const d = hexValue(s[i]);
    if (d < 0 || BigInt(d) >= base) break;
    v = v * base + BigInt(d);
    if (v > max) over = true;
    i++;
  }
  return over ? null : { value: v, end: i };
}

function hexValue(ch: string | undefined): number {
  if (ch === undefined) return -1;
  const c = ch.charCodeAt(0);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * glibc inet_aton (inet_aton_end): one to four parts separated by dots, each decimal, octal
 * (leading 0) or hex (0x); the last part fills the remaining bytes ("10.1" is 10.0.0.1,
 * "0x0a000001" is 10.0.0.1). Trailing text is ignored when it starts with whitespace
 * ("1.2.3.4 junk" is accepted). Returns the address in host order, or null.
 */
export function inetAton(s: string): number | null {
  const parts: number[] = [];
  let i = 0;
  let val: bigint;
  for (;;) {
    if (!cIsDigit(s[i])) return null;
    const r = strtoulAuto(s, i);
    if (r === null || r.value > 0xffffffffn) return null;
    val = r.value;
    i = r.end;
    if (s[i] !== '.') break;
    if (parts.length > 2 || val > 0xffn) return null;
    parts.push(Number(val));
    i++;
  }
  if (i < s.length && !cIsSpace(s[i])) return null;
  const limit = [0xffffffffn, 0xffffffn, 0xffffn, 0xffn][parts.length];
  if (val > limit) return null;
  let hi = 0;
  for (let k = 0; k < parts.length; k++) hi |= parts[k] << (24 - 8 * k);
  return (hi | Number(val)) >>> 0;
}

/** glibc inet_pton(AF_INET): exactly four decimal parts, no leading zeros, each <= 255. */
export function inetPton4(s: string): number | null {
  const b = pton4(s, 0, s.length);
  return b === null ? null : ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

function pton4(s: string, from: number, to: number): number[] | null {
  const out = [0, 0, 0, 0];
  let tp = 0;
  let octets = 0;
  let sawDigit = false;
  for (let i = from; i < to; i++) {
    const ch = s[i];
    if (cIsDigit(ch)) {
      // A part may not have a leading zero ("01" is refused).
      if (sawDigit && out[tp] === 0) return null;
      const nv = out[tp] * 10 + (s.charCodeAt(i) - 48);
      if (nv > 255) return null;
      out[tp] = nv;
      if (!sawDigit) {
        if (++octets > 4) return null;
        sawDigit = true;
      }
    } else if (ch === '.' && sawDigit) {
      if (octets === 4) return null;
      tp++;
      sawDigit = false;
    } else {
      return null;
    }
  }
  return octets < 4 ? null : out;
}

/**
 * glibc inet_pton(AF_INET6): hex groups of at most 4 digits, one "::", an optional trailing
 * dotted quad, and (a glibc quirk) a "::" may not stand for zero groups. No zone ids.
 * Returns the 16 bytes, or null.
 */
export function inetPton6(s: string): Uint8Array | null {
  const out = new Uint8Array(16);
  let tp = 0;
  let colonp = -1;
  let i = 0;
  const end = s.length;
  if (end === 0) return null;
  if (s[0] === ':') {
    i++;
    if (i === end || s[i] !== ':') return null;
  }
  let curtok = i;
  let digits = 0;
  let val = 0;
  while (i < end) {
    const ch = s[i++];
    const d = hexValue(ch);
    if (d >= 0) {
      if (digits === 4) return null;
      val = (val << 4) | d;
      digits++;
      continue;
    }
    if (ch === ':') {
      curtok = i;
      if (digits === 0) {
        if (colonp >= 0) return null;
        colonp = tp;
        continue;
      } else if (i === end) {
        return null;
      }
      if (tp + 2 > 16) return null;
      out[tp++] = (val >> 8) & 0xff;
      out[tp++] = val & 0xff;
      digits = 0;
      val = 0;
      continue;
    }
    if (ch === '.' && tp + 4 <= 16) {
      const q = pton4(s, curtok, end);
      if (q !== null) {
        out.set(q, tp);
        tp += 4;
        digits = 0;
        break;
      }
    }
    return null;
  }
  if (digits > 0) {
    if (tp + 2 > 16) return null;
    out[tp++] = (val >> 8) & 0xff;
    out[tp++] = val & 0xff;
  }
  if (colonp >= 0) {
    if (tp === 16) return null;
    const n = tp - colonp;
    out.copyWithin(16 - n, colonp, tp);
    out.fill(0, colonp, 16 - n);
    tp = 16;
  }
  return tp === 16 ? out : null;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** strncpy/snprintf into a fixed buffer: keep at most `maxBytes` bytes of the UTF-8 encoding. */
export function truncateBytes(s: string, maxBytes: number): string {
  const b = utf8Encoder.encode(s);
  return b.length <= maxBytes ? s : utf8Decoder.decode(b.subarray(0, maxBytes));
}

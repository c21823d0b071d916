/**
 * JSON for control messages that carry model values: an IpAddr (whose IPv6 form holds a
 * Uint8Array) travels as `{"$ip": "text"}` and is parsed back — and validated — on arrival.
 */
import type { IpAddr } from '../model/addr.ts';
import { ipAddrToString, parseIpAddr } from '../model/addr.ts';

function isIpAddr(x: unknown): x is IpAddr {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return (o.af === 4 || o.af === 6) && typeof o.v4 === 'number' && typeof o.fold === 'number' && 'v6' in o;
}

/** A JSON-ready copy of `x` with every IpAddr replaced by `{ $ip }`. */
export function encodeValue(x: unknown): unknown {
  if (isIpAddr(x)) return { $ip: ipAddrToString(x) };
  if (Array.isArray(x)) return x.map(encodeValue);
  if (typeof x === 'object' && x !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = encodeValue(v);
    return out;
  }
  return x;
}

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** The inverse of encodeValue; throws DecodeError on an address that does not parse. */
export function decodeValue(x: unknown, depth = 0): unknown {
  if (depth > 32) throw new DecodeError('value nested too deeply');
  if (Array.isArray(x)) return x.map((v) => decodeValue(v, depth + 1));
  if (typeof x === 'object' && x !== null) {
    const o = x as Record<string, unknown>;
    if (typeof o.$ip === 'string' && Object.keys(o).length === 1) {
      const a = parseIpAddr(o.$ip);
      if (a === null) throw new DecodeError(`bad address ${JSON.stringify(o.$ip)}`);
      return a;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = decodeValue(v, depth + 1);
    return out;
  }
  return x;
}

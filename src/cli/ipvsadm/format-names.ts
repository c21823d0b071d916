/**
 * Reverse lookups for listings without -n: gethostbyaddr() for addresses and getservbyport() for
 * ports, as an injectable pair of pure functions. ipvsadm prints the numeric form whenever a
 * lookup finds nothing. The default resolver reads /etc/hosts and /etc/services once (the "files"
 * NSS backend; DNS is never asked, so listings cannot hang on a resolver).
 */
import { readFileSync } from 'node:fs';
import { inetPton4, inetPton6 } from './clib.ts';

export type PortProto = 'tcp' | 'udp' | 'sctp';

export interface NameResolver {
  /** gethostbyaddr: the canonical name of an address given in numeric text form, or null. */
  hostByAddr(addr: string): string | null;
  /** getservbyport: the official name of a port for a protocol, or null. */
  servByPort(port: number, proto: PortProto): string | null;
}

/** Resolves nothing: every listing stays numeric. */
export const numericResolver: NameResolver = {
  hostByAddr: () => null,
  servByPort: () => null,
};

function fields(line: string): string[] {
  const hash = line.indexOf('#');
  const body = hash < 0 ? line : line.slice(0, hash);
  return body.split(/[ \t\r\v\f]+/).filter((f) => f !== '');
}

/** An address key that ignores spelling: "v4:<uint32>" or "v6:<32 hex digits>". */
function addrKey(s: string): string | null {
  const v4 = inetPton4(s);
  if (v4 !== null) return `v4:${v4}`;
  const v6 = inetPton6(s);
  if (v6 === null) return null;
  let h = 'v6:';
  for (const x of v6) h += x.toString(16).padStart(2, '0');
  return h;
}

/**
 * A resolver over /etc/hosts and /etc/services text. Hosts: the first line whose address equals
 * the one asked (however either is spelt) gives its first name. Services: the first
 * `name port/proto` line for that port and protocol gives its name.
 */
export function filesNameResolver(hostsText: string, servicesText: string): NameResolver {
  const hosts = new Map<string, string>();
  for (const line of hostsText.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const k = addrKey(f[0]);
    if (k !== null && !hosts.has(k)) hosts.set(k, f[1]);
  }
  const servs = new Map<string, string>();
  for (const line of servicesText.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const m = /^(\d+)\/(\S+)$/.exec(f[1]);
    if (m === null || Number(m[1]) > 65535) continue;
    const k = `${Number(m[1])}/${m[2]}`;
    if (!servs.has(k)) servs.set(k, f[0]);
  }
  return {
    hostByAddr(addr) {
      const k = addrKey(addr);
      return k === null ? null : (hosts.get(k) ?? null);
    },
    servByPort(port, proto) {
      return servs.get(`${port}/${proto}`) ?? null;
    },
  };
}

let cached: NameResolver | null = null;

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The system's /etc/hosts and /etc/services, read on first use and kept. */
export function defaultNameResolver(): NameResolver {
  cached ??= filesNameResolver(readOrEmpty('/etc/hosts'), readOrEmpty('/etc/services'));
  return cached;
}

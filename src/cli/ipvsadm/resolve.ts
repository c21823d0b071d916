/**
 * Name lookups ipvsadm does while parsing, as injectable pure functions: gethostbyname() for a
 * host that inet_aton refuses, and getservbyname() for a port that is not a number. The parser
 * itself never touches the system; the CLI builds these from /etc/hosts and /etc/services text
 * (the "files" NSS backend), and tests pass fixed tables.
 */
import { inetPton4 } from './clib.ts';

/** gethostbyname(name) restricted to what ipvsadm uses: the first IPv4 address (host order). */
export type ResolveHost = (name: string) => number | null;

export type ServiceProto = 'tcp' | 'udp' | 'sctp';
/** getservbyname(name, proto): the port in host order. */
export type ResolveService = (name: string, proto: ServiceProto) => number | null;

export const noHosts: ResolveHost = () => null;
export const noServices: ResolveService = () => null;

function fields(line: string): string[] {
  const hash = line.indexOf('#');
  const body = hash < 0 ? line : line.slice(0, hash);
  return body.split(/[ \t\r\v\f]+/).filter((f) => f !== '');
}

/**
 * An /etc/hosts lookup: the first line whose IPv4 address is followed by the name as canonical
 * name or alias (compared case-insensitively, as the files backend does). IPv6 lines never answer,
 * since ipvsadm rejects anything but AF_INET from gethostbyname.
 */
export function hostsFileResolver(text: string): ResolveHost {
  const entries: { addr: number; names: string[] }[] = [];
  for (const line of text.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const addr = inetPton4(f[0]);
    if (addr === null) continue;
    entries.push({ addr, names: f.slice(1).map((n) => n.toLowerCase()) });
  }
  return (name) => {
    const n = name.toLowerCase();
    for (const e of entries) if (e.names.includes(n)) return e.addr;
    return null;
  };
}

/** An /etc/services lookup: `name port/proto aliases...`, first match on name or alias. */
export function servicesFileResolver(text: string): ResolveService {
  const entries: { port: number; proto: string; names: string[] }[] = [];
  for (const line of text.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const m = /^(\d+)\/(\S+)$/.exec(f[1]);
    if (m === null) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    entries.push({ port, proto: m[2], names: [f[0], ...f.slice(2)] });
  }
  return (name, proto) => {
    for (const e of entries) if (e.proto === proto && e.names.includes(name)) return e.port;
    return null;
  };
}

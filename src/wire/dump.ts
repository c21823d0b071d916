/**
 * One-line frame dumps for logs, the lab and test failure messages, in the spirit of `tcpdump -n -e`:
 *
 *   02:00:00:00:00:01 > 02:00:00:00:00:02, 10.0.0.1:40000 > 10.0.0.100:80, TCP, S, len 74
 *   02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, who-has 10.0.0.100 tell 10.0.0.1, len 42
 *   02:…:01 > 02:…:02, [2001:db8::1]:40000 > [2001:db8::100]:80, TCP, S, len 94
 *   02:…:01 > 02:…:02, 192.168.10.254 > 192.168.10.1, IPIP | 10.0.0.1:40000 > 10.0.0.100:80, TCP, S, len 94
 *
 * Source before destination everywhere (tcpdump's order), TCP flags in tcpdump's letters (F S R P .
 * U E W, "none"), IPv6 addresses in RFC 5952 form and bracketed before a port, each tunnel level
 * after a `|`, and `len` = the frame length given. Fields are read straight from the bytes with RFC
 * offsets, so this needs no other header module. It never throws: whatever does not fit in the
 * buffer ends the line with `[truncated]`. Not for the packet path (it builds strings).
 */
import { u16, u32 } from './bytes.ts';
import { ipv4ToString, ipv6ToString, macBytesToString } from './addr.ts';

/** The GUE port used in the ipvsadm docs and tests; UDP to these ports is decoded as GUE. */
export const DUMP_GUE_PORTS: readonly number[] = [6080];

/** How many tunnel levels are decoded before giving up (each level is at least 20 bytes anyway). */
const MAX_DEPTH = 8;

const TRUNC = '[truncated]';

/** tcpdump's print-tcp.c tcp_flag_values order. */
const TCP_FLAG_LETTERS: readonly [number, string][] = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

const ICMP_NAMES: Partial<Record<number, string>> = {
  0: 'echo reply',
  3: 'unreachable',
  4: 'source quench',
  5: 'redirect',
  8: 'echo request',
  11: 'time exceeded',
  12: 'parameter problem',
};

const ICMP6_NAMES: Partial<Record<number, string>> = {
  1: 'unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  4: 'parameter problem',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  137: 'redirect',
};

/** Segments of the line: one per tunnel level, each a list of comma-joined fields. */
class Line {
  segs: string[][] = [[]];
  push(...fields: string[]): void {
    this.segs[this.segs.length - 1].push(...fields);
  }
  /** Starts the next tunnel level. */
  nest(): void {
    this.segs.push([]);
  }
  finish(len: number): string {
    const text = this.segs
      .filter((s) => s.length > 0)
      .map((s) => s.join(', '))
      .join(' | ');
    return text.length > 0 ? `${text}, len ${len}` : `len ${len}`;
  }
}

function hex4(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

export function tcpFlagLetters(flags: number): string {
  let s = '';
  for (const [bit, letter] of TCP_FLAG_LETTERS) if (flags & bit) s += letter;
  return s.length > 0 ? s : 'none';
}

/**
 * Formats the Ethernet frame of `len` bytes at `off` on one line. UDP to a port in `guePorts` that
 * carries a GUE data header with an IP payload is shown as a GUE tunnel.
 */
export function dumpFrame(
  b: Uint8Array,
  off: number,
  len: number,
  guePorts: readonly number[] = DUMP_GUE_PORTS,
): string {
  const line = new Line();
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0) {
    line.push('[bad bounds]');
    return line.finish(len);
  }
  const end = Math.min(off + len, b.length);
  if (end - off < 14) {
    line.push(TRUNC);
    return line.finish(len);
  }
  line.push(`${macBytesToString(b, off + 6)} > ${macBytesToString(b, off)}`);
  let type = u16(b, off + 12);
  let l3 = off + 14;
  if (type === 0x8100) {
    if (end - off < 18) {
      line.push(TRUNC);
      return line.finish(len);
    }
    line.push(`vlan ${u16(b, off + 14) & 0x0fff}`);
    type = u16(b, off + 16);
    l3 = off + 18;
  }
  if (type === 0x0806) dumpArp(line, b, l3, end);
  else if (type === 0x0800) dumpIpv4(line, b, l3, end, guePorts, 0);
  else if (type === 0x86dd) dumpIpv6(line, b, l3, end, guePorts, 0);
  else line.push(`ethertype ${hex4(type)}`);
  return line.finish(len);
}

/** RFC 826 for Ethernet/IPv4: op at 6, sender MAC/IP at 8/14, target MAC/IP at 18/24. */
function dumpArp(line: Line, b: Uint8Array, o: number, end: number): void {
  line.push('ARP');
  if (end - o < 8) {
    line.push(TRUNC);
    return;
  }
  if (u16(b, o) !== 1 || u16(b, o + 2) !== 0x0800 || b[o + 4] !== 6 || b[o + 5] !== 4) {
    line.push(`hw ${u16(b, o)} proto ${hex4(u16(b, o + 2))}`);
    return;
  }
  const op = u16(b, o + 6);
  if (end - o < 28) {
    line.push(`op ${op}`, TRUNC);
    return;
  }
  const spa = ipv4ToString(u32(b, o + 14));
  const tpa = ipv4ToString(u32(b, o + 24));
  if (op === 1) line.push(`who-has ${tpa} tell ${spa}`);
  else if (op === 2) line.push(`${spa} is-at ${macBytesToString(b, o + 8)}`);
  else line.push(`op ${op} ${spa} > ${tpa}`);
}

function dumpIpv4(
  line: Line,
  b: Uint8Array,
  o: number,
  end: number,
  guePorts: readonly number[],
  depth: number,
): void {
  if (end - o < 20) {
    line.push(TRUNC);
    return;
  }
  const ver = b[o] >>> 4;
  const ihl = (b[o] & 0x0f) * 4;
  if (ver !== 4) {
    line.push(`IPv4 bad version ${ver}`);
    return;
  }
  const src = ipv4ToString(u32(b, o + 12));
  const dst = ipv4ToString(u32(b, o + 16));
  const tot = u16(b, o + 2);
  if (ihl < 20 || tot < ihl) {
    line.push(`${src} > ${dst}`, ihl < 20 ? `bad ihl ${ihl}` : `bad total length ${tot}`);
    return;
  }
  if (o + ihl > end) {
    line.push(`${src} > ${dst}`, TRUNC);
    return;
  }
  // Bytes past the total length are Ethernet padding; fewer than it means the capture was cut.
  const l4end = Math.min(end, o + tot);
  const fragOff = u16(b, o + 6) & 0x1fff;
  dumpL4(line, b, b[o + 9], src, dst, false, o + ihl, l4end, o + tot > end, fragOff !== 0, guePorts, depth);
}

function dumpIpv6(
  line: Line,
  b: Uint8Array,
  o: number,
  end: number,
  guePorts: readonly number[],
  depth: number,
): void {
  if (end - o < 40) {
    line.push(TRUNC);
    return;
  }
  const ver = b[o] >>> 4;
  if (ver !== 6) {
    line.push(`IPv6 bad version ${ver}`);
    return;
  }
  const src = ipv6ToString(b, o + 8);
  const dst = ipv6ToString(b, o + 24);
  const pend = o + 40 + u16(b, o + 4);
  const l4end = Math.min(end, pend);
  let nh = b[o + 6];
  let p = o + 40;
  let laterFragment = false;
  // Walk the extension headers that may precede the transport header (RFC 8200 §4).
  for (let i = 0; i < 8 && (nh === 0 || nh === 43 || nh === 60 || nh === 44); i++) {
    const need = nh === 44 ? 8 : 2;
    if (p + need > l4end) {
      line.push(`${src} > ${dst}`, TRUNC);
      return;
    }
    if (nh === 44) {
      if (u16(b, p + 2) >>> 3 !== 0) laterFragment = true;
      nh = b[p];
      p += 8;
    } else {
      nh = b[p];
      p += (b[p + 1] + 1) * 8;
    }
  }
  if (p > l4end) {
    line.push(`${src} > ${dst}`, TRUNC);
    return;
  }
  dumpL4(line, b, nh, src, dst, true, p, l4end, pend > end, laterFragment, guePorts, depth);
}

function withPort(addr: string, v6: boolean, port: number): string {
  return v6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function dumpL4(
  line: Line,
  b: Uint8Array,
  proto: number,
  src: string,
  dst: string,
  v6: boolean,
  p: number,
  end: number,
  cut: boolean,
  laterFragment: boolean,
  guePorts: readonly number[],
  depth: number,
): void {
  const addrs = `${src} > ${dst}`;
  const avail = end - p;
  const name = protoName(proto);
  if (laterFragment) {
    line.push(addrs, name, 'frag');
    if (cut) line.push(TRUNC);
    return;
  }
  if (proto === 6 || proto === 17) {
    if (avail < 4) {
      line.push(addrs, name, TRUNC);
      return;
    }
    const sp = u16(b, p);
    const dp = u16(b, p + 2);
    line.push(`${withPort(src, v6, sp)} > ${withPort(dst, v6, dp)}`);
    if (proto === 6) {
      if (avail < 14) {
        line.push(name, TRUNC);
        return;
      }
      line.push(name, tcpFlagLetters(b[p + 13]));
    } else if (guePorts.includes(dp) && avail >= 12 && isGueData(b, p + 8) && depth < MAX_DEPTH) {
      line.push('GUE');
      const ghl = 4 + (b[p + 8] & 0x1f) * 4;
      line.nest();
      if (avail < 8 + ghl) {
        line.push(TRUNC);
        return;
      }
      if (b[p + 9] === 4) dumpIpv4(line, b, p + 8 + ghl, end, guePorts, depth + 1);
      else dumpIpv6(line, b, p + 8 + ghl, end, guePorts, depth + 1);
      return;
    } else {
      line.push(name);
    }
    if (cut) line.push(TRUNC);
    return;
  }
  line.push(addrs);
  if (proto === 1 || proto === 58) {
    line.push(name);
    if (avail < 2) {
      line.push(TRUNC);
      return;
    }
    line.push(icmpText(b, p, avail, proto === 58));
    if (cut) line.push(TRUNC);
    return;
  }
  if ((proto === 4 || proto === 41) && depth < MAX_DEPTH) {
    line.push(name);
    line.nest();
    if (proto === 4) dumpIpv4(line, b, p, end, guePorts, depth + 1);
    else dumpIpv6(line, b, p, end, guePorts, depth + 1);
    return;
  }
  if (proto === 47 && depth < MAX_DEPTH) {
    line.push(name);
    dumpGre(line, b, p, end, guePorts, depth);
    return;
  }
  if (proto === 112) {
    if (avail < 4) {
      line.push(name, TRUNC);
      return;
    }
    line.push(`VRRPv${b[p] >>> 4}`, `vrid ${b[p + 1]} prio ${b[p + 2]} addrs ${b[p + 3]}`);
    if (cut) line.push(TRUNC);
    return;
  }
  line.push(name);
  if (cut) line.push(TRUNC);
}

function isGueData(b: Uint8Array, g: number): boolean {
  return (b[g] & 0xe0) === 0 && (b[g + 1] === 4 || b[g + 1] === 41);
}

/** RFC 2784/2890: flags + protocol, then checksum, key and sequence words as flagged. */
function dumpGre(
  line: Line,
  b: Uint8Array,
  g: number,
  end: number,
  guePorts: readonly number[],
  depth: number,
): void {
  if (end - g < 4) {
    line.push(TRUNC);
    return;
  }
  const f = u16(b, g);
  const proto = u16(b, g + 2);
  const hl = 4 + (f & 0x8000 ? 4 : 0) + (f & 0x2000 ? 4 : 0) + (f & 0x1000 ? 4 : 0);
  if ((f & 7) !== 0) {
    line.push(`version ${f & 7}`);
    return;
  }
  if (end - g < hl) {
    line.push(TRUNC);
    return;
  }
  if (f & 0x2000) line.push(`key 0x${u32(b, g + 4 + (f & 0x8000 ? 4 : 0)).toString(16)}`);
  if (proto === 0x0800 || proto === 0x86dd) {
    line.nest();
    if (proto === 0x0800) dumpIpv4(line, b, g + hl, end, guePorts, depth + 1);
    else dumpIpv6(line, b, g + hl, end, guePorts, depth + 1);
  } else {
    line.push(`proto ${hex4(proto)}`);
  }
}

function icmpText(b: Uint8Array, p: number, avail: number, v6: boolean): string {
  const type = b[p];
  const code = b[p + 1];
  const known = (v6 ? ICMP6_NAMES : ICMP_NAMES)[type];
  const echo = v6 ? type === 128 || type === 129 : type === 0 || type === 8;
  if (echo && avail >= 8) return `${known} id ${u16(b, p + 4)} seq ${u16(b, p + 6)}`;
  if (v6 && (type === 135 || type === 136) && avail >= 24) return `${known} ${ipv6ToString(b, p + 8)}`;
  if (!v6 && type === 3 && code === 4 && avail >= 8) return `${known} frag needed mtu ${u16(b, p + 6)}`;
  if (v6 && type === 2 && avail >= 8) return `${known} mtu ${u32(b, p + 4)}`;
  if (known === undefined) return `type ${type} code ${code}`;
  return code !== 0 ? `${known} code ${code}` : known;
}

function protoName(proto: number): string {
  switch (proto) {
    case 1:
      return 'ICMP';
    case 4:
      return 'IPIP';
    case 6:
      return 'TCP';
    case 17:
      return 'UDP';
    case 41:
      return 'IPv6-in-IP';
    case 47:
      return 'GRE';
    case 58:
      return 'ICMP6';
    case 112:
      return 'VRRP';
    case 132:
      return 'SCTP';
    default:
      return `proto ${proto}`;
  }
}

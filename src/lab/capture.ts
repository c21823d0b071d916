/**
 * What the lab shows is captured, not computed: tcpdump runs in each namespace on each host
 * interface (`tcpdump -i IF -w FILE -U`), the pcaps are read back with readPcap, and the frames of
 * one flow are picked out and laid out hop by hop with the hosts' role names.
 *
 * A hop is one frame on one layer-2 segment: the same bytes leave the sender's interface and
 * reach the receiver's (a bridge does not change them), so sightings are grouped by content and
 * named by the MAC owners (sender → receiver). A flow is followed across address rewrites by its
 * TCP sequence numbers, which DR, NAT, TUN and FullNAT with TOA all leave alone.
 *
 * Not the packet path: everything here allocates freely.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { LabRun } from './run.ts';
import { sleep, waitFor } from './run.ts';
import { LabError, EXIT_SOFTWARE } from './env.ts';
import { readPcap } from '../wire/pcap.ts';
import type { PcapRecord } from '../wire/pcap.ts';
import { dumpFrame, DUMP_GUE_PORTS } from '../wire/dump.ts';
import { u16, u32 } from '../wire/bytes.ts';
import { ipv4ToString, macBytesToString } from '../wire/addr.ts';

// ------------------------------------------------------------------------------ capturing

/** One capture point: a host interface and the pcap tcpdump writes for it. */
export interface CapturePoint {
  readonly role: string;
  readonly ifname: string;
  readonly file: string;
}

export interface CapturedFile extends CapturePoint {
  readonly frames: readonly PcapRecord[];
}

/** The tcpdump processes of a run. */
export class Captures {
  readonly points: CapturePoint[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly runRef: LabRun;
  private readonly suffix: string;

  /** `tag` names a second capture of the same links: files become `<role>-<ifname>-<tag>.pcap`. */
  constructor(run: LabRun, tag?: string) {
    this.runRef = run;
    this.suffix = tag === undefined ? '' : `-${tag}`;
  }

  /** Starts tcpdump on every given interface; resolves when all of them listen. */
  async start(points: readonly { role: string; ifname: string }[]): Promise<void> {
    const errs: string[] = [];
    const ready: boolean[] = [];
    for (const [k, pt] of points.entries()) {
      const file = join(this.runRef.dir, `${pt.role}-${pt.ifname}${this.suffix}.pcap`);
      // -Z root: tcpdump opens the file after dropping privileges otherwise, and the run directory
      // is root's. --immediate-mode: no frame waits in a ring block when we stop it.
      const p = this.runRef.spawn(pt.role, `tcpdump ${pt.ifname}`, 'tcpdump', [
        '-i',
        pt.ifname,
        '-w',
        file,
        '-U',
        '-n',
        '--immediate-mode',
        '-Z',
        'root',
      ]).child;
      ready.push(false);
      errs.push('');
      p.stderr?.setEncoding('utf8');
      p.stderr?.on('data', (d: string) => {
        errs[k] += d;
        if (errs[k].includes('listening on')) ready[k] = true;
      });
      p.stdout?.resume();
      this.procs.push(p);
      this.points.push({ ...pt, file });
    }
    try {
      await waitFor(
        () => ready.every(Boolean) || this.procs.some((p) => p.exitCode !== null),
        10_000,
        'tcpdump',
      );
    } catch {
      // Reported below with tcpdump's own words.
    }
    const bad = this.procs.findIndex((p, k) => !ready[k] && p.exitCode !== null);
    if (bad >= 0 || !ready.every(Boolean)) {
      const k = bad >= 0 ? bad : ready.indexOf(false);
      throw new LabError(
        `tcpdump on ${points[k].role} ${points[k].ifname} did not start: ${errs[k].trim() || 'no output'}`,
        EXIT_SOFTWARE,
      );
    }
  }

  /** Stops every tcpdump (SIGINT flushes the file) and reads the captures. */
  async stop(): Promise<CapturedFile[]> {
    // Frames still crossing a veth (the last ACKs) get a moment to land.
    await sleep(50);
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGINT');
    try {
      await waitFor(
        () => this.procs.every((p) => p.exitCode !== null || p.signalCode !== null),
        5_000,
        'tcpdump to stop',
      );
    } catch {
      for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    }
    return this.points.map((pt) => ({ ...pt, frames: readPcap(readFileSync(pt.file)).frames }));
  }

  /** Copies the captures to `dir` under their own names; returns the paths. */
  copyTo(dir: string): string[] {
    mkdirSync(dir, { recursive: true });
    return this.points.map((pt) => {
      const to = join(dir, basename(pt.file));
      copyFileSync(pt.file, to);
      return to;
    });
  }
}

// ------------------------------------------------------------------------------ decoding

export interface TcpFields {
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  /** Payload bytes. */
  readonly payload: number;
}

/** An IPv4 header's addresses (the outer one of a tunnel, or the only one). */
export interface IpFields {
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly ttl: number;
  readonly id: number;
}

/** The fields of a captured frame a trace needs, read with RFC offsets. */
export interface FrameFields {
  readonly srcMac: string;
  readonly dstMac: string;
  readonly ethertype: number;
  /** The outer IPv4 header of a tunnel (IPIP, GRE, GUE); null when not tunnelled. */
  readonly outer: IpFields | null;
  /** The innermost IPv4 header; null for non-IPv4 frames. */
  readonly ip: IpFields | null;
  readonly tcp: TcpFields | null;
  /** ICMP type and code (innermost). */
  readonly icmp: { readonly type: number; readonly code: number } | null;
  /** ARP: op, sender and target protocol addresses. */
  readonly arp: {
    readonly op: number;
    readonly spa: string;
    readonly tpa: string;
    readonly sha: string;
  } | null;
  /** dumpFrame's line. */
  readonly line: string;
}

export function decodeFrame(b: Uint8Array): FrameFields {
  const line = dumpFrame(b, 0, b.length);
  const base = {
    srcMac: b.length >= 12 ? macBytesToString(b, 6) : '',
    dstMac: b.length >= 6 ? macBytesToString(b, 0) : '',
    ethertype: b.length >= 14 ? u16(b, 12) : 0,
    outer: null,
    ip: null,
    tcp: null,
    icmp: null,
    arp: null,
    line,
  };
  if (base.ethertype === 0x0806 && b.length >= 42) {
    return {
      ...base,
      arp: {
        op: u16(b, 20),
        sha: macBytesToString(b, 22),
        spa: ipv4ToString(u32(b, 28)),
        tpa: ipv4ToString(u32(b, 38)),
      },
    };
  }
  if (base.ethertype !== 0x0800) return base;
  let o = 14;
  let outer: IpFields | null = null;
  for (let depth = 0; depth < 4; depth++) {
    if (b.length < o + 20 || b[o] >>> 4 !== 4) return { ...base, outer };
    const ihl = (b[o] & 0x0f) * 4;
    const tot = u16(b, o + 2);
    const end = Math.min(b.length, o + tot);
    const ip: IpFields = {
      src: ipv4ToString(u32(b, o + 12)),
      dst: ipv4ToString(u32(b, o + 16)),
      proto: b[o + 9],
      ttl: b[o + 8],
      id: u16(b, o + 4),
    };
    const l4 = o + ihl;
    // Tunnels: IPIP, GRE carrying IPv4, GUE (UDP to a GUE port) carrying IPv4.
    let inner = -1;
    if (ip.proto === 4) inner = l4;
    else if (ip.proto === 47 && end >= l4 + 4 && u16(b, l4 + 2) === 0x0800) {
      const f = u16(b, l4);
      inner = l4 + 4 + (f & 0x8000 ? 4 : 0) + (f & 0x2000 ? 4 : 0) + (f & 0x1000 ? 4 : 0);
    } else if (
      ip.proto === 17 &&
      end >= l4 + 12 &&
      DUMP_GUE_PORTS.includes(u16(b, l4 + 2)) &&
      b[l4 + 9] === 4
    ) {
      inner = l4 + 8 + 4 + (b[l4 + 8] & 0x1f) * 4;
    }
    if (inner >= 0) {
      outer ??= ip;
      o = inner;
      continue;
    }
    let tcp: TcpFields | null = null;
    let icmp: FrameFields['icmp'] = null;
    if (ip.proto === 6 && end >= l4 + 20) {
      const doff = (b[l4 + 12] >>> 4) * 4;
      tcp = {
        sport: u16(b, l4),
        dport: u16(b, l4 + 2),
        seq: u32(b, l4 + 4),
        ack: u32(b, l4 + 8),
        flags: b[l4 + 13],
        payload: Math.max(0, o + tot - l4 - doff),
      };
    } else if (ip.proto === 1 && end >= l4 + 2) {
      icmp = { type: b[l4], code: b[l4 + 1] };
    }
    return { ...base, outer, ip, tcp, icmp };
  }
  return { ...base, outer };
}

// ------------------------------------------------------------------------------ hops

export interface Sighting {
  readonly role: string;
  readonly ifname: string;
  /** Capture time in microseconds since the epoch. */
  readonly tsUs: number;
}

/** One distinct frame on one segment, with everywhere it was captured. */
export interface Hop {
  /** Role owning the source MAC (or the MAC itself). */
  readonly from: string;
  /** Role owning the destination MAC, `all` for broadcast (or the MAC itself). */
  readonly to: string;
  readonly frame: FrameFields;
  readonly seen: readonly Sighting[];
  /** First sighting, µs. */
  readonly tsUs: number;
}

function frameKey(f: FrameFields): string {
  return `${f.line}|${f.ip?.id ?? ''}|${f.tcp?.seq ?? ''}|${f.tcp?.ack ?? ''}|${f.ip?.ttl ?? ''}`;
}

/** Groups every captured frame into hops, in time order. */
export function hopsOf(files: readonly CapturedFile[], macOwner: ReadonlyMap<string, string>): Hop[] {
  const byKey = new Map<string, { frame: FrameFields; seen: Sighting[] }>();
  for (const f of files) {
    for (const r of f.frames) {
      const frame = decodeFrame(r.data);
      const k = frameKey(frame);
      let g = byKey.get(k);
      if (g === undefined) {
        g = { frame, seen: [] };
        byKey.set(k, g);
      }
      g.seen.push({ role: f.role, ifname: f.ifname, tsUs: r.tsSec * 1e6 + r.tsUsec });
    }
  }
  const hops: Hop[] = [];
  for (const g of byKey.values()) {
    g.seen.sort((a, b) => a.tsUs - b.tsUs);
    const fr = g.frame;
    hops.push({
      from: macOwner.get(fr.srcMac) ?? fr.srcMac,
      to: fr.dstMac === 'ff:ff:ff:ff:ff:ff' ? 'all' : (macOwner.get(fr.dstMac) ?? fr.dstMac),
      frame: fr,
      seen: g.seen,
      tsUs: g.seen[0].tsUs,
    });
  }
  return hops.sort((a, b) => a.tsUs - b.tsUs);
}

// ------------------------------------------------------------------------------ following a TCP flow

/** TCP flag bits (RFC 9293): SYN, and SYN|ACK as a mask. */
const TCP_SYN = 0x02;
const SYN_ACK = 0x12;

/** One packet of the flow on every hop it took. */
export interface TracePacket {
  readonly label: string;
  readonly hops: readonly Hop[];
}

/** The first packet per hop (sender → receiver) that matches, in time order. */
function packetHops(hops: readonly Hop[], match: (t: TcpFields) => boolean): Hop[] {
  const out: Hop[] = [];
  const seen = new Set<string>();
  for (const h of hops) {
    const t = h.frame.tcp;
    if (t === null || !match(t)) continue;
    const k = `${h.from}>${h.to}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(h);
  }
  return out;
}

/**
 * The connection whose SYN left `client` from `cport`: its SYN, SYN-ACK, first request data and
 * first reply data, each on every hop. Null when the client's SYN is not in the captures.
 */
export function traceTcpFlow(hops: readonly Hop[], client: string, cport: number): TracePacket[] | null {
  const syn = hops.find(
    (h) =>
      h.from === client &&
      h.frame.tcp !== null &&
      h.frame.tcp.sport === cport &&
      (h.frame.tcp.flags & SYN_ACK) === TCP_SYN,
  );
  if (syn === undefined) return null;
  const isn = syn.frame.tcp!.seq;
  const next = (isn + 1) >>> 0;
  const out: TracePacket[] = [];
  out.push({ label: 'SYN', hops: packetHops(hops, (t) => (t.flags & SYN_ACK) === TCP_SYN && t.seq === isn) });
  const synAck = packetHops(hops, (t) => (t.flags & SYN_ACK) === SYN_ACK && t.ack === next);
  out.push({ label: 'SYN-ACK', hops: synAck });
  if (synAck.length === 0) return out;
  const rsn = (synAck[0].frame.tcp!.seq + 1) >>> 0;
  out.push({ label: 'request', hops: packetHops(hops, (t) => t.payload > 0 && t.seq === next) });
  out.push({ label: 'reply', hops: packetHops(hops, (t) => t.payload > 0 && t.seq === rsn) });
  return out;
}

function ipPort(ip: IpFields | null, port: number | undefined): string {
  if (ip === null) return '-';
  return port === undefined ? ip.src : `${ip.src}:${port}`;
}

/** What a hop changed relative to the hop before it (same packet), in words. */
export function describeChange(prev: FrameFields, cur: FrameFields): string {
  const parts: string[] = [];
  if (prev.outer === null && cur.outer !== null)
    parts.push(`outer header added: ${cur.outer.src} > ${cur.outer.dst} (${protoName(cur.outer.proto)})`);
  else if (prev.outer !== null && cur.outer === null) parts.push('outer header removed');
  const ps = ipPort(prev.ip, prev.tcp?.sport);
  const cs = ipPort(cur.ip, cur.tcp?.sport);
  const pd = prev.ip === null ? '-' : prev.tcp ? `${prev.ip.dst}:${prev.tcp.dport}` : prev.ip.dst;
  const cd = cur.ip === null ? '-' : cur.tcp ? `${cur.ip.dst}:${cur.tcp.dport}` : cur.ip.dst;
  if (ps !== cs) parts.push(`source ${ps} → ${cs}`);
  if (pd !== cd) parts.push(`destination ${pd} → ${cd}`);
  if (parts.length === 0) parts.push('only the MACs');
  // The TTL that changed: the outer header's when both hops carry one (a router on the tunnel's
  // path), else the packet's own (forwarded, or about to be wrapped).
  const pt = prev.outer !== null && cur.outer !== null ? prev.outer.ttl : prev.ip?.ttl;
  const ct = prev.outer !== null && cur.outer !== null ? cur.outer.ttl : cur.ip?.ttl;
  if (pt !== undefined && ct !== undefined && pt !== ct) parts.push(`TTL ${pt} → ${ct}`);
  return parts.join('; ');
}

function protoName(p: number): string {
  return p === 4 ? 'IPIP' : p === 47 ? 'GRE' : p === 17 ? 'GUE' : `proto ${p}`;
}

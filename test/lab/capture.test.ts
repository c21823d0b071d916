/**
 * The lab's trace logic on synthetic captures (no root needed): frames built with the wire
 * emitters (test/helpers/packet.ts), written and read back as pcap, grouped into hops and followed
 * by TCP sequence numbers. Expected values are hand-derived from the frames each test builds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, describeChange, hopsOf, traceTcpFlow } from '../../src/lab/capture.ts';
import type { CapturedFile } from '../../src/lab/capture.ts';
import { macForAddr } from '../../src/lab/run.ts';
import { table } from '../../src/lab/format.ts';
import { PcapWriter, readPcap } from '../../src/wire/pcap.ts';
import { ethEmit, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.ts';
import { ipv4Emit, IPPROTO_IPIP } from '../../src/wire/ipv4.ts';
import { ipv4FromString, macFromString } from '../../src/wire/addr.ts';
import { tcp4 } from '../helpers/packet.ts';

const C = '02:00:c0:a8:bc:0b';
const D = '02:00:c0:a8:bc:b4';
const R = '02:00:c0:a8:bc:b5';
const OWNERS = new Map([
  [C, 'client'],
  [D, 'director'],
  [R, 'rs1'],
]);
const CIP = '192.168.188.11';
const VIP = '192.168.188.100';
const ISN = 0xfffffff0; // close to wrap-around: ISN + 1 must wrap correctly too
const SSN = 0x10203040;
const SYN = 0x02;
const SYNACK = 0x12;
const PSHACK = 0x18;

/** One capture file: frames with their µs timestamps, through a real pcap round trip. */
function capture(role: string, frames: readonly [Uint8Array, number][]): CapturedFile {
  const w = new PcapWriter();
  for (const [f, us] of frames) w.write(f, 0, f.length, 1_700_000_000, us);
  return { role, ifname: 'eth0', file: `${role}-eth0.pcap`, frames: readPcap(w.toBuffer()).frames };
}

/** A DR connection from client port 40001 (plus an unrelated one from 40002 and a resent SYN). */
function drCaptures(): CapturedFile[] {
  const body = new Uint8Array(10);
  const syn = tcp4({
    srcMac: C,
    dstMac: D,
    src: CIP,
    dst: VIP,
    sport: 40001,
    dport: 80,
    flags: SYN,
    seq: ISN,
    id: 1,
  });
  const syn2 = tcp4({
    srcMac: D,
    dstMac: R,
    src: CIP,
    dst: VIP,
    sport: 40001,
    dport: 80,
    flags: SYN,
    seq: ISN,
    id: 1,
    ttl: 63,
  });
  const synAck = tcp4({
    srcMac: R,
    dstMac: C,
    src: VIP,
    dst: CIP,
    sport: 80,
    dport: 40001,
    flags: SYNACK,
    seq: SSN,
    ack: (ISN + 1) >>> 0,
    id: 0,
  });
  const req = tcp4({
    srcMac: C,
    dstMac: D,
    src: CIP,
    dst: VIP,
    sport: 40001,
    dport: 80,
    flags: PSHACK,
    seq: (ISN + 1) >>> 0,
    ack: SSN + 1,
    id: 2,
    payload: body,
  });
  const req2 = tcp4({
    srcMac: D,
    dstMac: R,
    src: CIP,
    dst: VIP,
    sport: 40001,
    dport: 80,
    flags: PSHACK,
    seq: (ISN + 1) >>> 0,
    ack: SSN + 1,
    id: 2,
    ttl: 63,
    payload: body,
  });
  const rep = tcp4({
    srcMac: R,
    dstMac: C,
    src: VIP,
    dst: CIP,
    sport: 80,
    dport: 40001,
    flags: PSHACK,
    seq: SSN + 1,
    ack: (ISN + 11) >>> 0,
    id: 5,
    payload: new Uint8Array(20),
  });
  // Noise: another client port, and the same SYN sent again later (a retransmission, new IP id).
  const other = tcp4({
    srcMac: C,
    dstMac: D,
    src: CIP,
    dst: VIP,
    sport: 40002,
    dport: 80,
    flags: SYN,
    seq: 7,
    id: 9,
  });
  const resent = tcp4({
    srcMac: C,
    dstMac: D,
    src: CIP,
    dst: VIP,
    sport: 40001,
    dport: 80,
    flags: SYN,
    seq: ISN,
    id: 3,
  });
  return [
    capture('client', [
      [syn, 1],
      [synAck, 6],
      [req, 7],
      [rep, 12],
      [other, 13],
      [resent, 20],
    ]),
    capture('director', [
      [syn, 2],
      [syn2, 3],
      [req, 8],
      [req2, 9],
      [other, 14],
      [resent, 21],
    ]),
    capture('rs1', [
      [syn2, 4],
      [synAck, 5],
      [req2, 10],
      [rep, 11],
    ]),
  ];
}

test('macForAddr: 02:00 and the four address bytes (192=c0 168=a8 188=bc 181=b5)', () => {
  assert.equal(macForAddr('192.168.188.181/24'), '02:00:c0:a8:bc:b5');
  assert.equal(macForAddr('10.10.10.1'), '02:00:0a:0a:0a:01');
});

test('hopsOf: one hop per frame and segment, seen at both ends, named by MAC owner, in time order', () => {
  const hops = hopsOf(drCaptures(), OWNERS);
  const first = hops[0];
  assert.equal(first.from, 'client');
  assert.equal(first.to, 'director');
  assert.deepEqual(
    first.seen.map((s) => [s.role, s.tsUs % 1_000_000]),
    [
      ['client', 1],
      ['director', 2],
    ],
  );
  assert.deepEqual(
    hops.slice(0, 3).map((h) => `${h.from}>${h.to}`),
    ['client>director', 'director>rs1', 'rs1>client'],
  );
  // 6 distinct flow frames + the other connection's SYN + the resent SYN.
  assert.equal(hops.length, 8);
  for (let i = 1; i < hops.length; i++) assert.ok(hops[i].tsUs >= hops[i - 1].tsUs);
});

test('traceTcpFlow: SYN, SYN-ACK, request and reply of the chosen client port, first sighting per hop', () => {
  const trace = traceTcpFlow(hopsOf(drCaptures(), OWNERS), 'client', 40001);
  assert.ok(trace !== null);
  assert.deepEqual(
    trace.map((p) => [p.label, p.hops.map((h) => `${h.from}>${h.to}`)]),
    [
      ['SYN', ['client>director', 'director>rs1']],
      ['SYN-ACK', ['rs1>client']],
      ['request', ['client>director', 'director>rs1']],
      ['reply', ['rs1>client']],
    ],
  );
  // The resent SYN (IP id 3) is not the traced one: the first sighting on each hop wins.
  assert.equal(trace[0].hops[0].frame.ip?.id, 1);
  assert.equal(trace[3].hops[0].frame.tcp?.payload, 20);
  assert.equal(traceTcpFlow(hopsOf(drCaptures(), OWNERS), 'client', 40999), null);
});

test('describeChange: DR, NAT, FullNAT and a tunnel in words', () => {
  const syn = (o: Partial<Parameters<typeof tcp4>[0]>) =>
    decodeFrame(tcp4({ src: CIP, dst: VIP, sport: 40001, dport: 80, flags: SYN, ...o }));
  assert.equal(
    describeChange(syn({ ttl: 64 }), syn({ srcMac: D, dstMac: R, ttl: 63 })),
    'only the MACs; TTL 64 → 63',
  );
  assert.equal(
    describeChange(syn({}), syn({ dst: '192.168.122.101', dport: 8080 })),
    `destination ${VIP}:80 → 192.168.122.101:8080`,
  );
  assert.equal(
    describeChange(syn({}), syn({ src: '192.168.122.200', sport: 1033, dst: '192.168.122.101' })),
    `source ${CIP}:40001 → 192.168.122.200:1033; destination ${VIP}:80 → 192.168.122.101:80`,
  );
  const inner = tcp4({ src: CIP, dst: VIP, sport: 40001, dport: 80, flags: SYN, ttl: 62 });
  const tun = ipip('10.10.10.2', '192.168.122.101', inner, 64);
  assert.equal(
    describeChange(syn({ ttl: 63 }), decodeFrame(tun)),
    'outer header added: 10.10.10.2 > 192.168.122.101 (IPIP); TTL 63 → 62',
  );
  // A router on the tunnel's path decrements the outer TTL only.
  assert.equal(
    describeChange(decodeFrame(tun), decodeFrame(ipip('10.10.10.2', '192.168.122.101', inner, 63))),
    'only the MACs; TTL 64 → 63',
  );
});

/** An IPIP frame: Ethernet, outer IPv4 (protocol 4), then the IPv4 packet of `inner` (a frame). */
function ipip(src: string, dst: string, inner: Uint8Array, ttl: number): Uint8Array {
  const pkt = inner.subarray(14);
  const b = new Uint8Array(14 + 20 + pkt.length);
  ethEmit({ dst: macFromString(R), src: macFromString(D), ethertype: ETHERTYPE_IPV4 }, b, 0);
  ipv4Emit(
    {
      tos: 0,
      totalLen: 20 + pkt.length,
      id: 7,
      df: false,
      mf: false,
      fragOffset: 0,
      ttl,
      proto: IPPROTO_IPIP,
      src: ipv4FromString(src),
      dst: ipv4FromString(dst),
    },
    b,
    14,
  );
  b.set(pkt, 34);
  return b;
}

test('decodeFrame: IPIP gives the outer header and the inner packet; ARP its addresses', () => {
  const inner = tcp4({ src: CIP, dst: VIP, sport: 40001, dport: 80, flags: SYN, seq: 42 });
  const f = decodeFrame(ipip('10.10.10.2', '192.168.122.101', inner, 64));
  assert.deepEqual(f.outer && [f.outer.src, f.outer.dst, f.outer.proto], [
    '10.10.10.2',
    '192.168.122.101',
    4,
  ]);
  assert.deepEqual(f.ip && [f.ip.src, f.ip.dst], [CIP, VIP]);
  assert.deepEqual(f.tcp && [f.tcp.sport, f.tcp.dport, f.tcp.seq, f.tcp.payload], [40001, 80, 42, 0]);
  assert.match(
    f.line,
    /10\.10\.10\.2 > 192\.168\.122\.101, IPIP \| 192\.168\.188\.11:40001 > 192\.168\.188\.100:80/,
  );
  // ARP request (RFC 826 layout by hand): who-has 192.168.188.181 tell 192.168.188.180.
  const arp = new Uint8Array(42);
  arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0xc0, 0xa8, 0xbc, 0xb4, 0x08, 0x06], 0);
  arp.set([0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0, 0xc0, 0xa8, 0xbc, 0xb4, 192, 168, 188, 180], 14);
  arp.set([0, 0, 0, 0, 0, 0, 192, 168, 188, 181], 32);
  const a = decodeFrame(arp);
  assert.deepEqual(a.arp, {
    op: 1,
    sha: '02:00:c0:a8:bc:b4',
    spa: '192.168.188.180',
    tpa: '192.168.188.181',
  });
  assert.equal(a.ip, null);
  // Truncated frames decode to what is there, never throw.
  assert.equal(decodeFrame(arp.subarray(0, 20)).arp, null);
  assert.equal(decodeFrame(inner.subarray(0, 30)).tcp, null);
});

test('table: left-aligned columns, two spaces apart, no trailing blanks', () => {
  assert.equal(table(['a', 'bb'], [['ccc', 'd']], '  '), '  a    bb\n  ccc  d\n');
  assert.equal(table(null, [['x', '']]), 'x\n');
});

/**
 * L4 checksums under NAT rewrites, both forms: incremental updates must equal a full recompute,
 * in the normal form and in the CHECKSUM_PARTIAL form (field = folded pseudo-header sum, which
 * csumCompletePartial finishes the way the device would). Also re-runs tshark over every golden
 * and over frames our own emitters build, when tshark is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { u16 } from '../../src/wire/bytes.ts';
import { csumCompletePartial } from '../../src/wire/checksum.ts';
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethEmit } from '../../src/wire/ethernet.ts';
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4Check,
  ipv4Dst,
  ipv4Emit,
  ipv4SetDst,
  ipv4SetSrc,
  ipv4Src,
} from '../../src/wire/ipv4.ts';
import { IPV6_DST, IPV6_HLEN, IPV6_SRC, ipv6Emit, ipv6SetDst, ipv6SetSrc } from '../../src/wire/ipv6.ts';
import {
  TCP_CSUM,
  TCPOPT_MSS,
  TCPOPT_NOP,
  TCPOPT_TIMESTAMP,
  tcpCsumAddrUpdate128,
  tcpCsumAddrUpdate32,
  tcpCsumOkV4,
  tcpCsumOkV6,
  tcpEmit,
  tcpEmitLen,
  tcpFillCsumV4,
  tcpFillCsumV6,
  tcpFillPartialCsumV4,
  tcpFillPartialCsumV6,
  tcpSetAck,
  tcpSetDstPort,
  tcpSetMss,
  tcpSetSeq,
  tcpSetSrcPort,
  type TcpOption,
} from '../../src/wire/tcp.ts';
import {
  UDP_CSUM,
  udpCsumAddrUpdate128,
  udpCsumAddrUpdate32,
  udpCsumOkV4,
  udpCsumOkV6,
  udpEmit,
  udpFillCsumV4,
  udpFillCsumV6,
  udpFillPartialCsumV4,
  udpFillPartialCsumV6,
  udpSetDstPort,
  udpSetSrcPort,
} from '../../src/wire/udp.ts';
import { icmpEchoRest, icmpEmit } from '../../src/wire/icmp.ts';
import { ICMP6_ECHO_REQUEST, icmp6Emit, icmp6FillCsum } from '../../src/wire/icmp6.ts';
import { Reason } from '../../src/wire/reason.ts';
import { toHex } from '../helpers/bytes.ts';
import { allGoldens, golden as goldenIn } from '../helpers/golden.ts';
import { tsharkDecode, tsharkSkip } from '../helpers/tshark.ts';

const golden = (name: string): Uint8Array => goldenIn('wire', name);

/** A generated TCP or UDP segment over IPv4 or IPv6 in an Ethernet frame. */
interface Pkt {
  b: Uint8Array;
  l3: number;
  l4: number;
  l4len: number;
  v6: boolean;
  tcp: boolean;
}

interface Spec {
  v6: boolean;
  tcp: boolean;
  src4: number;
  dst4: number;
  src6: Uint8Array;
  dst6: Uint8Array;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** NOPs before the MSS option: an odd count puts the MSS value at an odd offset. */
  nops: number;
  mss: number;
  ts: boolean;
  payload: Uint8Array;
}

const u32a = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });
const addr6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const arbSpec: fc.Arbitrary<Spec> = fc.record({
  v6: fc.boolean(),
  tcp: fc.boolean(),
  src4: u32a,
  dst4: u32a,
  src6: addr6,
  dst6: addr6,
  sport: port,
  dport: port,
  seq: u32a,
  ack: u32a,
  nops: fc.integer({ min: 0, max: 3 }),
  mss: port,
  ts: fc.boolean(),
  payload: fc.uint8Array({ maxLength: 200 }),
});

function build(s: Spec): Pkt {
  const opts: TcpOption[] = [];
  for (let i = 0; i < s.nops; i++) opts.push({ kind: TCPOPT_NOP });
  opts.push({ kind: TCPOPT_MSS, mss: s.mss });
  if (s.ts) opts.push({ kind: TCPOPT_TIMESTAMP, tsval: s.seq ^ 0x5a5a5a5a, tsecr: s.ack });
  const tcpRepr = {
    srcPort: s.sport,
    dstPort: s.dport,
    seq: s.seq,
    ack: s.ack,
    flags: 0x18,
    reserved: 0,
    window: 4096,
    urgent: 0,
    options: opts,
  };
  const hl = s.tcp ? tcpEmitLen(tcpRepr) : 8;
  const l4len = hl + s.payload.length;
  const l3len = s.v6 ? IPV6_HLEN : 20;
  const b = new Uint8Array(ETH_HLEN + l3len + l4len);
  const proto = s.tcp ? IPPROTO_TCP : IPPROTO_UDP;
  ethEmit(
    { dst: 0x0277_4c00_01fe, src: 0x0277_4c00_0101, ethertype: s.v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4 },
    b,
    0,
  );
  if (s.v6)
    ipv6Emit(
      {
        trafficClass: 0,
        flowLabel: 0x12345,
        payloadLen: l4len,
        nextHeader: proto,
        hopLimit: 64,
        src: s.src6,
        dst: s.dst6,
      },
      b,
      ETH_HLEN,
    );
  else
    ipv4Emit(
      {
        tos: 0,
        totalLen: 20 + l4len,
        id: 1,
        df: true,
        mf: false,
        fragOffset: 0,
        ttl: 64,
        proto,
        src: s.src4,
        dst: s.dst4,
      },
      b,
      ETH_HLEN,
    );
  const l4 = ETH_HLEN + l3len;
  if (s.tcp) tcpEmit(tcpRepr, b, l4);
  else udpEmit({ srcPort: s.sport, dstPort: s.dport, length: l4len }, b, l4);
  b.set(s.payload, l4 + hl);
  return { b, l3: ETH_HLEN, l4, l4len, v6: s.v6, tcp: s.tcp };
}

function fillFull(p: Pkt): void {
  if (p.tcp) (p.v6 ? tcpFillCsumV6 : tcpFillCsumV4)(p.b, p.l3, p.l4, p.l4len);
  else (p.v6 ? udpFillCsumV6 : udpFillCsumV4)(p.b, p.l3, p.l4, p.l4len);
}
function fillPartial(p: Pkt): void {
  if (p.tcp) (p.v6 ? tcpFillPartialCsumV6 : tcpFillPartialCsumV4)(p.b, p.l3, p.l4, p.l4len);
  else (p.v6 ? udpFillPartialCsumV6 : udpFillPartialCsumV4)(p.b, p.l3, p.l4, p.l4len);
}
function csumOk(p: Pkt): boolean {
  if (p.tcp) return (p.v6 ? tcpCsumOkV6 : tcpCsumOkV4)(p.b, p.l3, p.l4, p.l4len);
  return (p.v6 ? udpCsumOkV6 : udpCsumOkV4)(p.b, p.l3, p.l4, p.l4len);
}
const csumOff = (p: Pkt): number => p.l4 + (p.tcp ? TCP_CSUM : UDP_CSUM);

type Rewrite =
  | { f: 'saddr' | 'daddr'; v4: number; v6: Uint8Array }
  | { f: 'sport' | 'dport' | 'mss'; v: number }
  | { f: 'seq' | 'ack'; v: number };

const arbRewrite: fc.Arbitrary<Rewrite> = fc.oneof(
  fc.record({ f: fc.constantFrom('saddr' as const, 'daddr' as const), v4: u32a, v6: addr6 }),
  fc.record({ f: fc.constantFrom('sport' as const, 'dport' as const, 'mss' as const), v: port }),
  fc.record({ f: fc.constantFrom('seq' as const, 'ack' as const), v: u32a }),
);

const scratch = new Uint8Array(16);

/** What the datapath does for one rewrite: the field, then the checksum's share of it. */
function apply(p: Pkt, r: Rewrite, partial: boolean): void {
  const { b, l3, l4 } = p;
  if (r.f === 'saddr' || r.f === 'daddr') {
    if (p.v6) {
      const at = l3 + (r.f === 'saddr' ? IPV6_SRC : IPV6_DST);
      scratch.set(b.subarray(at, at + 16));
      if (r.f === 'saddr') ipv6SetSrc(b, l3, r.v6, 0);
      else ipv6SetDst(b, l3, r.v6, 0);
      (p.tcp ? tcpCsumAddrUpdate128 : udpCsumAddrUpdate128)(b, l4, scratch, 0, r.v6, 0, partial);
    } else {
      const old = r.f === 'saddr' ? ipv4Src(b, l3) : ipv4Dst(b, l3);
      if (r.f === 'saddr') ipv4SetSrc(b, l3, r.v4);
      else ipv4SetDst(b, l3, r.v4);
      (p.tcp ? tcpCsumAddrUpdate32 : udpCsumAddrUpdate32)(b, l4, old, r.v4, partial);
    }
  } else if (r.f === 'sport') (p.tcp ? tcpSetSrcPort : udpSetSrcPort)(b, l4, r.v, partial);
  else if (r.f === 'dport') (p.tcp ? tcpSetDstPort : udpSetDstPort)(b, l4, r.v, partial);
  else if (p.tcp && r.f === 'mss') assert.equal(tcpSetMss(b, l4, r.v, partial), true);
  else if (p.tcp && r.f === 'seq') tcpSetSeq(b, l4, r.v, partial);
  else if (p.tcp && r.f === 'ack') tcpSetAck(b, l4, r.v, partial);
}

test('normal form: incremental updates after random rewrites equal a full recompute', () => {
  fc.assert(
    fc.property(arbSpec, fc.array(arbRewrite, { minLength: 1, maxLength: 6 }), (s, rws) => {
      const p = build(s);
      fillFull(p);
      for (const r of rws) apply(p, r, false);
      const want = { ...p, b: p.b.slice() };
      fillFull(want);
      assert.equal(u16(p.b, csumOff(p)), u16(want.b, csumOff(p)));
      assert.equal(toHex(p.b), toHex(want.b));
      assert.ok(csumOk(p));
      if (!p.v6) assert.equal(ipv4Check(p.b, p.l3, p.b.length - p.l3), Reason.OK);
    }),
  );
});

test('CHECKSUM_PARTIAL form: rewrites then csumCompletePartial equal a full recompute', () => {
  fc.assert(
    fc.property(arbSpec, fc.array(arbRewrite, { minLength: 1, maxLength: 6 }), (s, rws) => {
      const p = build(s);
      fillPartial(p);
      for (const r of rws) apply(p, r, true);
      // The field still holds the pseudo-header sum of the new addresses.
      const fresh = { ...p, b: p.b.slice() };
      fillPartial(fresh);
      assert.equal(u16(p.b, csumOff(p)), u16(fresh.b, csumOff(p)));
      csumCompletePartial(p.b, p.l4, p.l4len, csumOff(p), !p.tcp);
      const want = { ...p, b: p.b.slice() };
      fillFull(want);
      assert.equal(toHex(p.b), toHex(want.b));
      assert.ok(csumOk(p));
    }),
  );
});

test('UDP over IPv4 with checksum 0 ("none") keeps 0 through any rewrites', () => {
  fc.assert(
    fc.property(arbSpec, fc.array(arbRewrite, { minLength: 1, maxLength: 6 }), (s, rws) => {
      const p = build({ ...s, v6: false, tcp: false });
      assert.equal(u16(p.b, csumOff(p)), 0);
      for (const r of rws) apply(p, r, false);
      assert.equal(u16(p.b, csumOff(p)), 0);
      assert.ok(csumOk(p));
    }),
  );
});

/** [partial golden, IPv6?, TCP?, the full checksum tshark said it "should be"]. */
const PARTIALS: [string, boolean, boolean, number][] = [
  ['partial-tcp4-syn', false, true, 0xf5a7],
  ['partial-tcp6-syn', true, true, 0xef37],
  ['partial-udp4', false, false, 0x8c40],
  ['partial-udp6', true, false, 0x78e0],
];

function pktOf(f: Uint8Array, v6: boolean, tcp: boolean): Pkt {
  const l4 = ETH_HLEN + (v6 ? IPV6_HLEN : (f[ETH_HLEN] & 0x0f) * 4);
  const l4len = v6 ? u16(f, ETH_HLEN + 4) : u16(f, ETH_HLEN + 2) - (l4 - ETH_HLEN);
  return { b: f, l3: ETH_HLEN, l4, l4len, v6, tcp };
}

test('kernel CHECKSUM_PARTIAL goldens: our partial fill matches, completion gives what tshark expects', () => {
  for (const [name, v6, tcp, full] of PARTIALS) {
    const f = golden(name);
    const p = pktOf(f, v6, tcp);
    const mine = { ...p, b: f.slice() };
    fillPartial(mine);
    assert.equal(toHex(mine.b), toHex(f), name);
    const done = { ...p, b: f.slice() };
    csumCompletePartial(done.b, done.l4, done.l4len, csumOff(done), !tcp);
    assert.equal(u16(done.b, csumOff(done)), full, name);
    assert.ok(csumOk(done), name);
    // NAT on the partial frame (DNAT of address and port), completed afterwards, is a valid frame.
    const nat = { ...p, b: f.slice() };
    apply(nat, { f: 'daddr', v4: 0x0a4d0909, v6: new Uint8Array(16).fill(0x77) }, true);
    apply(nat, { f: 'dport', v: 80 }, true);
    csumCompletePartial(nat.b, nat.l4, nat.l4len, csumOff(nat), !tcp);
    const want = { ...nat, b: nat.b.slice() };
    fillFull(want);
    assert.equal(toHex(nat.b), toHex(want.b), name);
  }
});

/** tshark's checksum statuses per frame: [ip, tcp, udp, icmp, icmpv6], each a list (nested headers). */
function tsharkStatuses(frames: Uint8Array[]): string[][][] {
  const fields = ['ip', 'tcp', 'udp', 'icmp', 'icmpv6'].flatMap((p) => ['-e', `${p}.checksum.status`]);
  const out = tsharkDecode(frames, [
    '-o',
    'ip.check_checksum:TRUE',
    '-o',
    'tcp.check_checksum:TRUE',
    '-o',
    'udp.check_checksum:TRUE',
    '-T',
    'fields',
    ...fields,
  ]);
  return out
    .trimEnd()
    .split('\n')
    .map((l) => l.split('\t').map((c) => (c === '' ? [] : c.split(','))));
}

// Status values in Wireshark's checksum fields: 0 bad, 1 good, 2 unverified, 3 not present.
test('tshark still agrees with every golden (skipped without tshark)', { skip: tsharkSkip() }, () => {
  const names = [...allGoldens('wire').keys()].map((k) => k.slice('wire/'.length)).sort();
  const st = tsharkStatuses(names.map(golden));
  assert.equal(st.length, names.length);
  names.forEach((name, i) => {
    const all = st[i].flat();
    if (name.startsWith('partial-')) {
      // The L4 field holds the pseudo-header sum, so tshark must call it bad; the IP header is good.
      assert.deepEqual(st[i][1].concat(st[i][2]), ['0'], name);
      assert.ok(
        st[i][0].every((s) => s === '1'),
        name,
      );
    } else {
      assert.ok(!all.includes('0'), `${name}: ${JSON.stringify(st[i])}`);
      if (
        !name.startsWith('arp') &&
        name !== 'ipv6-esp' &&
        name !== 'ipv6-hbh-nonext' &&
        name !== 'ipv6-frag-first'
      )
        assert.ok(all.includes('1'), `${name}: nothing verified`);
    }
  });
});

test(
  'tshark verifies checksums written by our fill and NAT functions (skipped without tshark)',
  { skip: tsharkSkip() },
  () => {
    const frames: Uint8Array[] = [];
    const kinds: string[] = [];
    const specs = fc.sample(arbSpec, { numRuns: 40, seed: 4242 });
    const rewrites = fc.sample(fc.array(arbRewrite, { minLength: 1, maxLength: 4 }), {
      numRuns: 40,
      seed: 99,
    });
    specs.forEach((s, i) => {
      const p = build(s);
      const partial = i % 2 === 1;
      if (partial) fillPartial(p);
      else fillFull(p);
      for (const r of rewrites[i]) apply(p, r, partial);
      if (partial) csumCompletePartial(p.b, p.l4, p.l4len, csumOff(p), !p.tcp);
      frames.push(p.b);
      kinds.push(p.tcp ? 'tcp' : 'udp');
    });
    // ICMP echo (emit computes the checksum) and ICMPv6 echo (icmp6FillCsum with the pseudo-header).
    const data = Uint8Array.from(Buffer.from('tslvs icmp echo payload, odd length'));
    const e4 = new Uint8Array(ETH_HLEN + 20 + 8 + data.length);
    ethEmit({ dst: 1, src: 2, ethertype: ETHERTYPE_IPV4 }, e4, 0);
    ipv4Emit(
      {
        tos: 0,
        totalLen: 28 + data.length,
        id: 7,
        df: false,
        mf: false,
        fragOffset: 0,
        ttl: 64,
        proto: IPPROTO_ICMP,
        src: 0x0a000001,
        dst: 0x0a000002,
      },
      e4,
      ETH_HLEN,
    );
    icmpEmit({ type: 8, code: 0, rest: icmpEchoRest(0x1234, 9), data }, e4, ETH_HLEN + 20);
    frames.push(e4);
    kinds.push('icmp');
    const e6 = new Uint8Array(ETH_HLEN + IPV6_HLEN + 8 + data.length);
    ethEmit({ dst: 1, src: 2, ethertype: ETHERTYPE_IPV6 }, e6, 0);
    const s6 = new Uint8Array(16).fill(0x20);
    const d6 = new Uint8Array(16).fill(0xfd);
    ipv6Emit(
      {
        trafficClass: 0,
        flowLabel: 0,
        payloadLen: 8 + data.length,
        nextHeader: IPPROTO_ICMPV6,
        hopLimit: 64,
        src: s6,
        dst: d6,
      },
      e6,
      ETH_HLEN,
    );
    icmp6Emit({ type: ICMP6_ECHO_REQUEST, code: 0, rest: 0x00010002, data }, e6, ETH_HLEN + IPV6_HLEN);
    icmp6FillCsum(e6, ETH_HLEN, ETH_HLEN + IPV6_HLEN, 8 + data.length);
    frames.push(e6);
    kinds.push('icmpv6');
    const col = { tcp: 1, udp: 2, icmp: 3, icmpv6: 4 } as const;
    const st = tsharkStatuses(frames);
    kinds.forEach((k, i) => {
      assert.deepEqual(
        st[i][col[k as keyof typeof col]],
        ['1'],
        `frame ${i + 1} (${k}): ${JSON.stringify(st[i])}`,
      );
    });
  },
);

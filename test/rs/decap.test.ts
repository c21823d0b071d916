/**
 * RsDecap: a tapped frame → the inner packet (or a counted drop). Inputs are the tshark-checked
 * tunnel goldens in test/golden/tunnel (made by the director's own encapsulators, see each file's
 * header), and frames built here with ipipEncapV4 / gueEncapV4 / greEncapV4 and then damaged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { golden } from '../helpers/golden.ts';
import { tcp4, tcp6, udp4, inSlot } from '../helpers/packet.ts';
import { toHex } from '../helpers/bytes.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { ipipEncapV4, newTunnelParams } from '../../src/wire/ipip.ts';
import type { TunnelParams } from '../../src/wire/ipip.ts';
import { gueEncapV4 } from '../../src/wire/gue.ts';
import { greEncapV4 } from '../../src/wire/gre.ts';
import { ipv4Check, ipv4SetTos, ipv4FillCsum } from '../../src/wire/ipv4.ts';
import { tcpCsumOkV4, tcpFillPartialCsumV4 } from '../../src/wire/tcp.ts';
import { udpFillPartialCsumV4 } from '../../src/wire/udp.ts';
import { Reason } from '../../src/wire/reason.ts';
import { TunFlag } from '../../src/model/flags.ts';
import {
  ecnDecapsulate,
  RS_DELIVER_COUNT,
  RS_VERDICT_COUNT,
  RsDecap,
  RsVerdict,
} from '../../src/rs/decap.ts';

const RIP = ipv4FromString('192.168.10.1');
const DIP = ipv4FromString('192.168.10.254');

/** Runs one whole frame (no offload state) through a fresh or given RsDecap. */
function run(frame: Uint8Array, d = new RsDecap({ addr: RIP, guePort: 6080 })): { v: number; d: RsDecap } {
  const v = d.frame(frame, 0, frame.length, false, -1, 0, 0);
  return { v, d };
}

function inner(d: RsDecap, b: Uint8Array): string {
  return toHex(b, d.out.innerOff, d.out.innerLen);
}

function params(over: Partial<TunnelParams> = {}): TunnelParams {
  return { ...newTunnelParams(), src: DIP, dst: RIP, id: 7, sport: 50000, dport: 6080, ...over };
}

/** tcp-syn.hex without its Ethernet header: the packet the client sent, as the RS must see it. */
const SYN = golden('tunnel', 'tcp-syn');
const SYN_L3 = toHex(SYN, 14);
const SYN6_L3 = toHex(golden('tunnel', 'tcp6-syn'), 14);

/** A client packet to the VIP, encapsulated by `encap` in a frame slot with room to grow. */
function encapsulated(
  encap: typeof ipipEncapV4,
  p: TunnelParams,
  pkt: Uint8Array = tcp4({ src: '10.0.0.1', dst: '10.0.0.100', sport: 40000, dport: 80, flags: 0x02 }),
): { frame: Uint8Array; l3: string } {
  const l3 = toHex(pkt, 14);
  const b = inSlot(pkt, 2048);
  const n = encap(b, 0, 14, pkt.length - 14, 2048, p);
  assert.ok(n > 0, 'encapsulation fits');
  return { frame: b.subarray(0, n), l3 };
}

test('the goldens the director emits decapsulate to the client packet, one verdict per encapsulation', () => {
  const cases: [string, number, string][] = [
    ['ipip', RsVerdict.IPIP, SYN_L3],
    ['sit', RsVerdict.IP6IP, SYN6_L3],
    ['gue-nocsum', RsVerdict.GUE, SYN_L3],
    ['gue-csum', RsVerdict.GUE, SYN_L3],
    ['gre', RsVerdict.GRE, SYN_L3],
    ['gre-csum', RsVerdict.GRE, SYN_L3],
    ['gre6-csum', RsVerdict.GRE, SYN6_L3],
  ];
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  for (const [name, verdict, want] of cases) {
    const f = golden('tunnel', name);
    const { v } = run(f, d);
    assert.equal(v, verdict, name);
    assert.equal(inner(d, f), want, name);
    assert.equal(d.out.innerVersion, want === SYN6_L3 ? 6 : 4, name);
  }
  assert.equal(d.counts[RsVerdict.IPIP], 1);
  assert.equal(d.counts[RsVerdict.IP6IP], 1);
  assert.equal(d.counts[RsVerdict.GUE], 2);
  assert.equal(d.counts[RsVerdict.GRE], 3);
  assert.equal(d.deliveredBytes, 5 * 44 + 2 * 64);
});

test('GUE remote checksum offload: the partial inner TCP checksum is finished on the way in', () => {
  const f = golden('tunnel', 'gue-remcsum').slice();
  const { v, d } = run(f);
  assert.equal(v, RsVerdict.GUE);
  // The golden's inner checksum field held the pseudo-header sum; now it is the real one.
  assert.equal(inner(d, f), SYN_L3);
  assert.ok(tcpCsumOkV4(f, d.out.innerOff, d.out.innerOff + 20, 24));
});

test('frames built by each encapsulator, IPv4 and IPv6 inside, round-trip byte for byte', () => {
  const syn6 = tcp6({ src: '2001:db8::1', dst: '2001:db8::100', sport: 40001, dport: 443, flags: 0x02 });
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  for (const [encap, verdict4, verdict6] of [
    [ipipEncapV4, RsVerdict.IPIP, RsVerdict.IP6IP],
    [gueEncapV4, RsVerdict.GUE, RsVerdict.GUE],
    [greEncapV4, RsVerdict.GRE, RsVerdict.GRE],
  ] as const) {
    for (const flags of [TunFlag.NOCSUM, TunFlag.CSUM]) {
      const a = encapsulated(encap, params({ tunFlags: flags }));
      assert.equal(run(a.frame, d).v, verdict4, `${encap.name} v4 flags ${flags}`);
      assert.equal(inner(d, a.frame), a.l3);
      const b = encapsulated(encap, params({ tunFlags: flags }), syn6);
      assert.equal(run(b.frame, d).v, verdict6, `${encap.name} v6 flags ${flags}`);
      assert.equal(inner(d, b.frame), b.l3);
      assert.equal(d.out.innerVersion, 6);
    }
  }
});

test('not ours: another destination, another port, GUE off, plain traffic, ARP', () => {
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  assert.equal(run(encapsulated(ipipEncapV4, params({ dst: RIP + 1 })).frame, d).v, RsVerdict.NOT_FOR_US);
  assert.equal(run(encapsulated(gueEncapV4, params({ dport: 6081 })).frame, d).v, RsVerdict.NOT_TUNNEL);
  const gue = encapsulated(gueEncapV4, params()).frame;
  assert.equal(run(gue, new RsDecap({ addr: RIP, guePort: 0 })).v, RsVerdict.NOT_TUNNEL);
  const plain = udp4({ src: '10.0.0.1', dst: '192.168.10.1', sport: 1, dport: 6080 });
  // UDP to the GUE port that is not GUE at all (no GUE header room): malformed, not delivered.
  assert.equal(run(plain, d).v, RsVerdict.MALFORMED);
  assert.equal(d.out.reason, Reason.GUE_TRUNCATED);
  const tcp = tcp4({ src: '10.0.0.1', dst: '192.168.10.1', sport: 1, dport: 80, flags: 0x02 });
  assert.equal(run(tcp, d).v, RsVerdict.NOT_TUNNEL);
  assert.equal(run(golden('tunnel', 'arp-request'), d).v, RsVerdict.NOT_IPV4);
  assert.equal(d.counts[RsVerdict.NOT_FOR_US], 1);
  assert.equal(d.counts[RsVerdict.NOT_TUNNEL], 2);
  assert.equal(d.counts[RsVerdict.NOT_IPV4], 1);
  assert.equal(d.counts[RsVerdict.MALFORMED], 1);
  assert.equal(d.reasons[Reason.GUE_TRUNCATED], 1);
  assert.equal(d.deliveredBytes, 0);
});

test('--from: only the listed directors may tunnel to us', () => {
  const d = new RsDecap({ addr: RIP, guePort: 6080, from: [ipv4FromString('10.9.9.9'), DIP] });
  assert.equal(run(encapsulated(ipipEncapV4, params()).frame, d).v, RsVerdict.IPIP);
  const other = encapsulated(ipipEncapV4, params({ src: ipv4FromString('10.9.9.8') })).frame;
  assert.equal(run(other, d).v, RsVerdict.SOURCE_REFUSED);
  assert.equal(d.counts[RsVerdict.SOURCE_REFUSED], 1);
});

test('damaged frames are counted as malformed by wire reason, and never delivered', () => {
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  const expect = (f: Uint8Array, reason: Reason, what: string): void => {
    assert.equal(run(f, d).v, RsVerdict.MALFORMED, what);
    assert.equal(d.out.reason, reason, what);
  };
  const ipip = (): Uint8Array => golden('tunnel', 'ipip').slice();

  let f = ipip();
  f[14 + 10] ^= 0xff; // outer header checksum
  expect(f, Reason.IPV4_BAD_CSUM, 'outer checksum');

  f = ipip();
  expect(f.subarray(0, 50), Reason.IPV4_BAD_TOTLEN, 'cut in the inner header');
  expect(f.subarray(0, 20), Reason.IPV4_TRUNCATED, 'cut in the outer header');
  expect(f.subarray(0, 10), Reason.ETH_TRUNCATED, 'cut in the Ethernet header');

  f = ipip();
  f[14 + 20 + 10] ^= 0x55; // inner header checksum
  expect(f, Reason.IPIP_INNER_BAD, 'inner checksum');

  f = ipip();
  f[14 + 20] = 0x65; // inner claims IPv6 under protocol 4
  expect(f, Reason.IPIP_INNER_BAD, 'inner version');

  f = ipip();
  f[14 + 6] |= 0x20; // MF: an outer fragment (nothing here reassembles)
  ipv4FillCsum(f, 14);
  expect(f, Reason.IPV4_FRAGMENT, 'outer fragment');

  f = golden('tunnel', 'gre-csum').slice();
  f[f.length - 1] ^= 1;
  expect(f, Reason.GRE_BAD_CSUM, 'GRE checksum');

  f = golden('tunnel', 'gre').slice();
  f[14 + 20 + 1] = 1; // GRE version 1 (PPTP)
  expect(f, Reason.GRE_BAD_VERSION, 'GRE version');

  f = golden('tunnel', 'gue-csum').slice();
  f[f.length - 1] ^= 1;
  expect(f, Reason.UDP_BAD_CSUM, 'GUE UDP checksum');

  f = golden('tunnel', 'gue-nocsum').slice();
  f[14 + 20 + 8] = 0x40; // GUE version 1
  expect(f, Reason.GUE_BAD_VERSION, 'GUE version');

  f = golden('tunnel', 'gue-nocsum').slice();
  f[14 + 20 + 8 + 1] = 47; // GUE proto_ctype neither 4 nor 41
  expect(f, Reason.L4_PROTO_UNKNOWN, 'GUE payload');

  assert.equal(d.counts[RsVerdict.MALFORMED], 12);
  for (let v = 0; v < RS_DELIVER_COUNT; v++) assert.equal(d.counts[v], 0);
  assert.equal(d.reasons[Reason.IPIP_INNER_BAD], 2);
  assert.deepEqual(d.snapshot().verdicts, { MALFORMED: 12 });
});

test('a frame cut to the slot size is dropped as TRUNCATED before anything is read', () => {
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  const f = golden('tunnel', 'ipip');
  assert.equal(d.frame(f, 0, f.length, true, -1, 0, 0), RsVerdict.TRUNCATED);
  assert.equal(d.counts[RsVerdict.TRUNCATED], 1);
});

test('ECN (RFC 6040 as INET_ECN_decapsulate): CE is carried inward, or the packet dropped', () => {
  // A router on the tunnel path marked the outer header CE.
  const mark = (f: Uint8Array): Uint8Array => {
    ipv4SetTos(f, 14, (f[15] & ~3) | 3);
    return f;
  };
  // Inner ECT(0) (tcp-syn.hex has TOS 0x02): becomes CE, with a correct header checksum.
  const a = mark(golden('tunnel', 'ipip').slice());
  const ra = run(a);
  assert.equal(ra.v, RsVerdict.IPIP);
  assert.equal(a[ra.d.out.innerOff + 1] & 3, 3);
  assert.equal(ipv4Check(a, ra.d.out.innerOff, ra.d.out.innerLen), Reason.OK);
  // Inner Not-ECT under an outer CE: dropped.
  const notEct = tcp4({ src: '10.0.0.1', dst: '10.0.0.100', sport: 1, dport: 80, flags: 2, tos: 0 });
  const b = mark(encapsulated(ipipEncapV4, params(), notEct).frame);
  const rb = run(b);
  assert.equal(rb.v, RsVerdict.ECN_DROP);
  assert.equal(rb.d.counts[RsVerdict.ECN_DROP], 1);
  // IPv6 inner ECT(1) under CE: traffic class ECN bits become CE, DSCP kept.
  const tc = new Uint8Array([0x6b, 0x50, 0, 0]); // version 6, traffic class 0xb5 (DSCP 45, ECT(1))
  assert.ok(ecnDecapsulate(3, tc, 0, 6));
  assert.equal(((tc[0] & 0xf) << 4) | (tc[1] >>> 4), 0xb7);
  // Outer ECT over a Not-ECT inner: delivered unchanged.
  const plain = new Uint8Array([0x45, 0x00]);
  assert.ok(ecnDecapsulate(2, plain, 0, 4));
  assert.equal(plain[1], 0);
});

test('checksum offload state from the tap (virtio NEEDS_CSUM) is finished before validation', () => {
  // An IPIP frame from a sender on this host: the inner TCP checksum is still the pseudo-header
  // sum (CHECKSUM_PARTIAL). csum_start counts from the frame start.
  const pkt = tcp4({ src: '10.0.0.1', dst: '10.0.0.100', sport: 40000, dport: 80, flags: 0x02 });
  const full = toHex(pkt, 14);
  tcpFillPartialCsumV4(pkt, 14, 34, pkt.length - 34);
  const a = encapsulated(ipipEncapV4, params(), pkt).frame;
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  assert.equal(d.frame(a, 0, a.length, false, 14 + 20 + 20, 16, 0), RsVerdict.IPIP);
  assert.equal(inner(d, a), full);

  // GUE with local checksum offload: the outer UDP checksum was computed for the finished inner
  // checksum, the inner one left partial. Built from a normal frame by un-finishing the inner.
  const g = encapsulated(gueEncapV4, params({ tunFlags: TunFlag.CSUM })).frame;
  const gl3 = toHex(g, 14 + 32);
  tcpFillPartialCsumV4(g, 14 + 32, 14 + 32 + 20, g.length - (14 + 32 + 20));
  assert.equal(run(g.slice()).v, RsVerdict.MALFORMED, 'without the offload hint the outer checksum fails');
  assert.equal(d.frame(g, 0, g.length, false, 14 + 32 + 20, 16, 0), RsVerdict.GUE);
  assert.equal(inner(d, g), gl3);

  // GUE whose outer UDP checksum was the one left to the device.
  const o = encapsulated(gueEncapV4, params({ tunFlags: TunFlag.CSUM })).frame;
  const ol3 = toHex(o, 14 + 32);
  udpFillPartialCsumV4(o, 14, 34, o.length - 34);
  assert.equal(d.frame(o, 0, o.length, false, 34, 6, 0), RsVerdict.GUE);
  assert.equal(inner(d, o), ol3);

  // What cannot be finished here: SCTP's CRC32c (csum_offset 8), a UDP GSO super-frame (gso 5),
  // a checksum start outside the packet.
  const s = encapsulated(ipipEncapV4, params()).frame;
  assert.equal(d.frame(s, 0, s.length, false, 54, 8, 0), RsVerdict.OFFLOAD_UNSUPPORTED);
  assert.equal(d.frame(s, 0, s.length, false, -1, 0, 5), RsVerdict.OFFLOAD_UNSUPPORTED);
  assert.equal(d.frame(s, 0, s.length, false, s.length, 16, 0), RsVerdict.OFFLOAD_UNSUPPORTED);
  assert.equal(d.frame(s, 0, s.length, false, 20, 16, 0), RsVerdict.OFFLOAD_UNSUPPORTED);
  // A TCP GSO super-frame (gso 1, GRO merged) goes in whole.
  assert.equal(d.frame(s, 0, s.length, false, -1, 0, 1), RsVerdict.IPIP);
  assert.equal(d.counts[RsVerdict.OFFLOAD_UNSUPPORTED], 4);
});

test('a frame inside a larger receive buffer is read only where it lies', () => {
  const f = golden('tunnel', 'gre');
  const buf = new Uint8Array(4096).fill(0xa5);
  buf.set(f, 2048);
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  assert.equal(d.frame(buf, 2048, f.length, false, -1, 0, 0), RsVerdict.GRE);
  assert.equal(d.out.innerOff, 2048 + 14 + 24);
  assert.equal(inner(d, buf), SYN_L3);
  // The same frame claimed shorter than it is fails the outer length check.
  assert.equal(d.frame(buf, 2048, f.length - 1, false, -1, 0, 0), RsVerdict.MALFORMED);
  assert.equal(d.out.reason, Reason.IPV4_BAD_TOTLEN);
});

test('the constructor refuses a bad address or port', () => {
  assert.throws(() => new RsDecap({ addr: -1, guePort: 0 }), RangeError);
  assert.throws(() => new RsDecap({ addr: 2 ** 32, guePort: 0 }), RangeError);
  assert.throws(() => new RsDecap({ addr: 1, guePort: 65536 }), RangeError);
  assert.throws(() => new RsDecap({ addr: 1, guePort: 1.5 }), RangeError);
});

test('fuzz: random and mutated frames never throw, stay in bounds, and are all counted', () => {
  const seeds = ['ipip', 'sit', 'gue-csum', 'gue-nocsum', 'gue-remcsum', 'gre', 'gre-csum', 'gre6-csum'].map(
    (n) => golden('tunnel', n),
  );
  const d = new RsDecap({ addr: RIP, guePort: 6080 });
  let frames = 0;
  const frame = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 200 }),
    fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
      )
      .map(([s, muts, cut]) => {
        const f = s.slice(0, s.length - (cut % 8));
        for (const [i, x] of muts) f[i % f.length] = x;
        return f;
      }),
  );
  fc.assert(
    fc.property(frame, fc.integer({ min: -1, max: 120 }), fc.constantFrom(0, 6, 8, 16), (f, cs, co) => {
      // Room around the frame: anything read or written outside it would show in the canaries.
      const buf = new Uint8Array(f.length + 64).fill(0x5a);
      buf.set(f, 32);
      const v = d.frame(buf, 32, f.length, false, cs, co, 0);
      frames++;
      assert.ok(v >= 0 && v < RS_VERDICT_COUNT);
      for (let i = 0; i < 32; i++) assert.equal(buf[i], 0x5a);
      for (let i = 32 + f.length; i < buf.length; i++) assert.equal(buf[i], 0x5a);
      if (v < RS_DELIVER_COUNT) {
        assert.ok(d.out.innerOff >= 32 && d.out.innerOff + d.out.innerLen <= 32 + f.length);
        assert.ok(d.out.innerVersion === 4 || d.out.innerVersion === 6);
      }
    }),
    { interruptAfterTimeLimit: 2000, numRuns: Number.MAX_SAFE_INTEGER },
  );
  const total = d.counts.reduce((a, b) => a + b, 0);
  assert.equal(total, frames);
  assert.ok(frames > 100);
});

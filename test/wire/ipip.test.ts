import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ecnEncapsulate,
  ipipDecap,
  ipipEncapV4,
  newTunnelDecap,
  newTunnelParams,
  tunnelStrip,
  type TunnelParams,
} from '../../src/wire/ipip.ts';
import { ipv4Check, ipv4Emit, ipv4Parse } from '../../src/wire/ipv4.ts';
import { csumVerifies } from '../../src/wire/checksum.ts';
import { Reason } from '../../src/wire/reason.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { poisoned } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

/**
 * Goldens live in test/golden/tunnel/*.hex; each file's comments say how it was built and what
 * tshark decoded from it (pcap.test.ts re-runs that tshark check when tshark is installed).
 */
const golden = (name: string): Uint8Array => goldenIn('tunnel', name);

function params(): TunnelParams {
  const p = newTunnelParams();
  p.src = ipv4FromString('192.168.10.254');
  p.dst = ipv4FromString('192.168.10.1');
  p.id = 0x0101;
  return p;
}

/** Copies a bare frame into a poisoned slot, encapsulates, and returns the slot and new length. */
function encapGolden(bare: Uint8Array, cap: number, p: TunnelParams): [Uint8Array, number] {
  const buf = poisoned(cap);
  buf.set(bare, 0);
  return [buf, ipipEncapV4(buf, 0, 14, bare.length - 14, cap, p)];
}

function assertPoisonAfter(buf: Uint8Array, from: number): void {
  for (let i = from; i < buf.length; i++) assert.equal(buf[i], 0xa5, `byte ${i} written past the frame`);
}

test('IPIP golden: ipipEncapV4 of tcp-syn into a poisoned buffer (tshark: outer proto 4, DF, TTL 63, both IP checksums correct)', () => {
  const [buf, n] = encapGolden(golden('tcp-syn'), 256, params());
  const want = golden('ipip');
  assert.equal(n, want.length);
  assert.deepEqual(buf.subarray(0, n), want);
  assertPoisonAfter(buf, n);
});

test('IPv6-in-IPv4 golden: protocol 41, ECN CE → ECT(0), DF 0, TTL = hop limit, ethertype switched to IPv4', () => {
  const [buf, n] = encapGolden(golden('tcp6-syn'), 256, params());
  const want = golden('sit');
  assert.equal(n, want.length);
  assert.deepEqual(buf.subarray(0, n), want);
  assertPoisonAfter(buf, n);
});

test('ecnEncapsulate: INET_ECN_encapsulate keeps DSCP, copies Not-ECT/ECT(1)/ECT(0), turns CE into ECT(0)', () => {
  // RFC 3168 §9.1.1 full-functionality option, as include/net/inet_ecn.h implements it.
  for (const dscp of [0x00, 0x28, 0xb8, 0xfc]) {
    assert.equal(ecnEncapsulate(dscp | 0), dscp | 0);
    assert.equal(ecnEncapsulate(dscp | 1), dscp | 1);
    assert.equal(ecnEncapsulate(dscp | 2), dscp | 2);
    assert.equal(ecnEncapsulate(dscp | 3), dscp | 2);
  }
});

test('DF: copied from the inner header only when pmtu_disc is set (ip_vs_tunnel_xmit dfp)', () => {
  const bare = golden('tcp-syn'); // inner has DF set
  const p = params();
  p.pmtuDisc = false;
  const [off, n] = encapGolden(bare, 256, p);
  assert.ok(n > 0);
  assert.equal(ipv4Parse(off, 14).df, false);
  assert.equal(ipv4Check(off, 14, n - 14), Reason.OK);
  const noDf = bare.slice();
  noDf[14 + 6] = 0; // clear DF in the inner header; ipipEncapV4 re-checksums the inner header
  p.pmtuDisc = true;
  const [on, m] = encapGolden(noDf, 256, p);
  assert.equal(ipv4Parse(on, 14).df, false);
  assert.equal(ipv4Check(on, 34, m - 34), Reason.OK, 'inner checksum fixed like ip_send_check(old_iph)');
});

test('ipipEncapV4 refuses without touching the frame: no room, not IP, cut inner header', () => {
  const bare = golden('tcp-syn');
  const p = params();
  for (const [frame, cap] of [
    [bare, bare.length + 19],
    [Uint8Array.from(bare, (v, i) => (i === 14 ? 0x55 : v)), 256],
    [bare.subarray(0, 14 + 19), 256],
    [bare.subarray(0, bare.length - 1), 256], // total length 44 but 43 bytes there
  ] as const) {
    const buf = poisoned(256);
    buf.set(frame, 0);
    const before = buf.slice();
    assert.equal(ipipEncapV4(buf, 0, 14, frame.length - 14, cap, p), -1);
    assert.deepEqual(buf, before);
  }
});

test("Ethernet padding after the inner packet is not tunnelled (the kernel's skb is trimmed)", () => {
  const bare = golden('tcp-syn');
  const padded = new Uint8Array(bare.length + 6);
  padded.set(bare);
  const [buf, n] = encapGolden(padded, 256, params());
  assert.deepEqual(buf.subarray(0, n), golden('ipip'));
});

test('ipipDecap of the goldens finds the inner packet; tunnelStrip gives back the bare frames', () => {
  const d = newTunnelDecap();
  for (const [tun, bare, ver] of [
    ['ipip', 'tcp-syn', 4],
    ['sit', 'tcp6-syn', 6],
  ] as const) {
    const f = golden(tun);
    assert.equal(ipipDecap(f, 14, f.length - 14, d), Reason.OK);
    assert.equal(d.innerOff, 34);
    assert.equal(d.innerVersion, ver);
    const n = tunnelStrip(f, 0, 14, d);
    assert.deepEqual(f.subarray(0, n), golden(bare));
  }
});

test('ipipDecap reasons: outer errors pass through, wrong protocol, bad inner', () => {
  const d = newTunnelDecap();
  const g = golden('ipip');
  const l3 = g.length - 14;
  assert.equal(ipipDecap(g, 14, 19, d), Reason.IPV4_TRUNCATED);
  const badOuter = g.slice();
  badOuter[14 + 8] ^= 1; // TTL without checksum fix
  assert.equal(ipipDecap(badOuter, 14, l3, d), Reason.IPV4_BAD_CSUM);
  const tcp = golden('tcp-syn');
  assert.equal(ipipDecap(tcp, 14, tcp.length - 14, d), Reason.L4_PROTO_UNKNOWN);
  const badInner = g.slice();
  badInner[34 + 8] ^= 1; // inner TTL without checksum fix
  assert.equal(ipipDecap(badInner, 14, l3, d), Reason.IPIP_INNER_BAD);
  // Protocol 4 announced but an IPv6 header inside: rebuild the outer header with proto 4.
  const sit = golden('sit');
  const r = ipv4Parse(sit, 14);
  r.proto = 4;
  ipv4Emit(r, sit, 14);
  assert.equal(ipipDecap(sit, 14, sit.length - 14, d), Reason.IPIP_INNER_BAD);
});

/** A random valid inner IPv4 packet (options are NOPs, which ipv4Check accepts). */
const innerV4 = fc
  .record({
    tos: fc.integer({ min: 0, max: 255 }),
    id: fc.integer({ min: 0, max: 0xffff }),
    df: fc.boolean(),
    ttl: fc.integer({ min: 1, max: 255 }),
    proto: fc.integer({ min: 0, max: 255 }),
    src: fc.integer({ min: 0, max: 0xffffffff }),
    dst: fc.integer({ min: 0, max: 0xffffffff }),
    optWords: fc.integer({ min: 0, max: 10 }),
    payload: fc.uint8Array({ minLength: 0, maxLength: 1400 }),
  })
  .map((r) => {
    const hl = 20 + r.optWords * 4;
    const b = new Uint8Array(hl + r.payload.length);
    ipv4Emit(
      {
        tos: r.tos,
        totalLen: b.length,
        id: r.id,
        df: r.df,
        mf: false,
        fragOffset: 0,
        ttl: r.ttl,
        proto: r.proto,
        src: r.src,
        dst: r.dst,
        options: r.optWords ? new Uint8Array(r.optWords * 4).fill(1) : undefined,
      },
      b,
      0,
    );
    b.set(r.payload, hl);
    return b;
  });

/** A random inner IPv6 packet: version 6, any traffic class/flow label/next header, hop limit. */
const innerV6 = fc
  .record({
    tclass: fc.integer({ min: 0, max: 255 }),
    flow: fc.integer({ min: 0, max: 0xfffff }),
    nh: fc.integer({ min: 0, max: 255 }),
    hlim: fc.integer({ min: 0, max: 255 }),
    addrs: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    payload: fc.uint8Array({ minLength: 0, maxLength: 1400 }),
  })
  .map((r) => {
    const b = new Uint8Array(40 + r.payload.length);
    b[0] = 0x60 | (r.tclass >>> 4);
    b[1] = ((r.tclass & 0xf) << 4) | (r.flow >>> 16);
    b[2] = (r.flow >>> 8) & 0xff;
    b[3] = r.flow & 0xff;
    b[4] = r.payload.length >>> 8;
    b[5] = r.payload.length & 0xff;
    b[6] = r.nh;
    b[7] = r.hlim;
    b.set(r.addrs, 8);
    b.set(r.payload, 40);
    return b;
  });

const tunnelParams = fc.record({
  src: fc.integer({ min: 0, max: 0xffffffff }),
  dst: fc.integer({ min: 0, max: 0xffffffff }),
  id: fc.integer({ min: 0, max: 0xffff }),
  pmtuDisc: fc.boolean(),
});

test('property: encap → outer header per the kernel rules with a valid checksum → decap → strip restores the frame', () => {
  fc.assert(
    fc.property(
      fc.oneof(innerV4, innerV6),
      tunnelParams,
      fc.constantFrom(0, 14, 18),
      fc.integer({ min: 0, max: 40 }),
      (inner, tp, l2, slack) => {
        const v6 = inner[0] >>> 4 === 6;
        const cap = l2 + 20 + inner.length + slack;
        const buf = poisoned(cap + 7);
        if (l2 >= 14) {
          buf.fill(0x11, 0, l2 - 2);
          buf[l2 - 2] = v6 ? 0x86 : 0x08;
          buf[l2 - 1] = v6 ? 0xdd : 0x00;
        }
        buf.set(inner, l2);
        const frame = buf.slice(0, l2 + inner.length);
        const p = newTunnelParams();
        Object.assign(p, tp);
        const n = ipipEncapV4(buf, 0, l2, inner.length, cap, p);
        assert.equal(n, l2 + 20 + inner.length);
        assert.equal(ipv4Check(buf, l2, n - l2), Reason.OK);
        const o = ipv4Parse(buf, l2);
        const innerTos = v6 ? ((inner[0] & 0xf) << 4) | (inner[1] >>> 4) : inner[1];
        assert.equal(o.proto, v6 ? 41 : 4);
        assert.equal(o.ttl, v6 ? inner[7] : inner[8]);
        assert.equal(o.tos, ecnEncapsulate(innerTos));
        assert.equal(o.df, !v6 && tp.pmtuDisc && (inner[6] & 0x40) !== 0);
        assert.equal(o.mf || o.fragOffset !== 0, false);
        assert.deepEqual([o.src, o.dst, o.id, o.totalLen], [tp.src, tp.dst, tp.id, 20 + inner.length]);
        assert.ok(csumVerifies(buf, l2, 20));
        if (l2 >= 14) assert.deepEqual([buf[l2 - 2], buf[l2 - 1]], [0x08, 0x00]);
        for (let i = n; i < buf.length; i++) assert.equal(buf[i], 0xa5);
        const d = newTunnelDecap();
        assert.equal(ipipDecap(buf, l2, n - l2, d), Reason.OK);
        assert.deepEqual([d.innerOff, d.innerLen, d.innerVersion], [l2 + 20, inner.length, v6 ? 6 : 4]);
        assert.deepEqual(buf.subarray(d.innerOff, d.innerOff + d.innerLen), inner);
        const m = tunnelStrip(buf, 0, l2, d);
        assert.deepEqual(buf.subarray(0, m), frame);
      },
    ),
    { numRuns: 300 },
  );
});

test('fuzz: ipipDecap and ipipEncapV4 never throw on random bytes, decap returns a known reason', () => {
  const d = newTunnelDecap();
  const p = newTunnelParams();
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 200 }),
      fc.nat(220),
      fc.nat(40),
      fc.nat(300),
      (b, len, off, cap) => {
        const r = ipipDecap(b, off, len, d);
        assert.ok(REASONS.has(r));
        const n = ipipEncapV4(b.slice(), 0, off, len, cap, p);
        assert.ok(n === -1 || (n >= off + 40 && n <= off + 20 + len));
      },
    ),
    { numRuns: 3000 },
  );
});

test('fuzz: ipipDecap on mutated goldens never throws and returns a known reason', () => {
  const base = [golden('ipip'), golden('sit')];
  const d = newTunnelDecap();
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(100),
      (g, muts, cut) => {
        const b = g.slice();
        for (const [at, v] of muts) b[at % b.length] = v;
        const len = Math.max(0, b.length - 14 - cut);
        assert.ok(REASONS.has(ipipDecap(b, 14, len, d)));
      },
    ),
    { numRuns: 2000 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  greCheck,
  greCsumOk,
  greDecap,
  greEmit,
  greEmitLen,
  greEncapV4,
  greHeaderLen,
  greParse,
  type GreRepr,
} from '../../src/wire/gre.ts';
import { newTunnelDecap, newTunnelParams, tunnelStrip, type TunnelParams } from '../../src/wire/ipip.ts';
import { ipv4Check, ipv4Emit, ipv4Parse } from '../../src/wire/ipv4.ts';
import { csumVerifies } from '../../src/wire/checksum.ts';
import { setU16, u16 } from '../../src/wire/bytes.ts';
import { Reason } from '../../src/wire/reason.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { TunFlag } from '../../src/model/flags.ts';
import { poisoned } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

/** Goldens: test/golden/tunnel/*.hex, each with its derivation and tshark decode in comments. */
const golden = (name: string): Uint8Array => goldenIn('tunnel', name);

/** GRE starts after Ethernet 14 + outer IPv4 20 in the goldens. */
const GRE = 34;

function params(tunFlags: number): TunnelParams {
  const p = newTunnelParams();
  p.src = ipv4FromString('192.168.10.254');
  p.dst = ipv4FromString('192.168.10.1');
  p.id = 0x0101;
  p.tunFlags = tunFlags;
  return p;
}

test('GRE goldens from greEncapV4 into a poisoned buffer (tshark: flags 0x0000 / 0x8000, protocol 0x0800 / 0x86dd, GRE and inner checksums correct)', () => {
  for (const [name, bare, flags] of [
    ['gre', 'tcp-syn', TunFlag.NOCSUM],
    ['gre-csum', 'tcp-syn', TunFlag.CSUM],
    ['gre6-csum', 'tcp6-syn', TunFlag.CSUM],
  ] as const) {
    const b = golden(bare);
    const buf = poisoned(256);
    buf.set(b, 0);
    const n = greEncapV4(buf, 0, 14, b.length - 14, 256, params(flags));
    const want = golden(name);
    assert.equal(n, want.length, name);
    assert.deepEqual(buf.subarray(0, n), want, name);
    for (let i = n; i < buf.length; i++) assert.equal(buf[i], 0xa5);
  }
});

test('REMCSUM means nothing to GRE (ipvsadm allows only nocsum/csum for gre): no checksum word', () => {
  const b = golden('tcp-syn');
  const buf = poisoned(256);
  buf.set(b, 0);
  const n = greEncapV4(buf, 0, 14, b.length - 14, 256, params(TunFlag.REMCSUM));
  assert.deepEqual(buf.subarray(0, n), golden('gre'));
});

test('greEmit of the key/seq golden header into poison, with the payload already in place', () => {
  const g = golden('gre-key-seq');
  const r: GreRepr = { protocol: 0x0800, checksum: true, key: 0x01020304, seq: 7 };
  const payload = g.subarray(GRE + 16);
  const b = poisoned(16 + payload.length + 2);
  b.set(payload, 16);
  assert.equal(greEmit(r, b, 0, payload.length), 16);
  assert.deepEqual(b.subarray(0, 16), g.subarray(GRE, GRE + 16));
  assert.deepEqual([b[b.length - 2], b[b.length - 1]], [0xa5, 0xa5]);
});

test('greParse of the goldens (tshark: key 0x01020304, sequence 7, checksum 0x33de)', () => {
  const k = golden('gre-key-seq');
  assert.equal(greCheck(k, GRE, k.length - GRE), Reason.OK);
  assert.deepEqual(greParse(k, GRE), {
    protocol: 0x0800,
    checksum: true,
    csum: 0x33de,
    key: 0x01020304,
    seq: 7,
  });
  const c = golden('gre6-csum');
  assert.deepEqual(greParse(c, GRE), { protocol: 0x86dd, checksum: true, csum: 0x92b7 });
  assert.deepEqual(greParse(golden('gre'), GRE), { protocol: 0x0800, checksum: false });
  assert.ok(greCsumOk(k, GRE, k.length - GRE));
  assert.ok(greCsumOk(c, GRE, c.length - GRE));
});

test('greCheck reasons: version, RFC 2784 must-discard bits, ignored reserved bits, truncation', () => {
  const h = (flags: number, extra = 0): Uint8Array => {
    const b = new Uint8Array(4 + extra);
    setU16(b, 0, flags);
    setU16(b, 2, 0x0800);
    return b;
  };
  assert.equal(greCheck(h(0), 0, 3), Reason.GRE_TRUNCATED);
  assert.equal(greCheck(h(0), 0, 4), Reason.OK);
  assert.equal(greCheck(h(0x0001), 0, 4), Reason.GRE_BAD_VERSION, 'version 1 is PPTP');
  assert.equal(greCheck(h(0x0007), 0, 4), Reason.GRE_BAD_VERSION);
  assert.equal(greCheck(h(0x4000), 0, 4), Reason.GRE_BAD_FLAGS, 'routing present');
  assert.equal(greCheck(h(0x0800), 0, 4), Reason.GRE_BAD_FLAGS, 'strict source route');
  assert.equal(greCheck(h(0x0400), 0, 4), Reason.GRE_BAD_FLAGS, 'top recursion-control bit (bit 5)');
  assert.equal(greCheck(h(0x0200), 0, 4), Reason.OK, 'bits 6-12 are ignored on receipt');
  assert.equal(greCheck(h(0x0008), 0, 4), Reason.OK);
  assert.equal(greCheck(h(0x8000), 0, 7), Reason.GRE_TRUNCATED, 'checksum word cut');
  assert.equal(greCheck(h(0xb000, 12), 0, 16), Reason.OK);
  assert.equal(greCheck(h(0xb000, 12), 0, 15), Reason.GRE_TRUNCATED);
  assert.equal(greCheck(h(0xb000, 11), 0, 16), Reason.GRE_TRUNCATED, 'len beyond the buffer');
});

test('greDecap: goldens decapsulate to the bare frames; bad checksum, foreign payload, wrong protocol', () => {
  const d = newTunnelDecap();
  for (const [name, bare] of [
    ['gre', 'tcp-syn'],
    ['gre-csum', 'tcp-syn'],
    ['gre6-csum', 'tcp6-syn'],
  ] as const) {
    const f = golden(name);
    assert.equal(greDecap(f, 14, f.length - 14, d), Reason.OK, name);
    assert.deepEqual(f.subarray(0, tunnelStrip(f, 0, 14, d)), golden(bare), name);
  }
  const c = golden('gre-csum');
  const bad = c.slice();
  bad[c.length - 1] ^= 1;
  // A bad GRE checksum has its own reason.
  assert.equal(greDecap(bad, 14, bad.length - 14, d), Reason.GRE_BAD_CSUM);
  const eth = golden('gre').slice();
  setU16(eth, GRE + 2, 0x6558);
  assert.equal(greDecap(eth, 14, eth.length - 14, d), Reason.IPIP_INNER_BAD);
  const v6 = golden('gre').slice();
  setU16(v6, GRE + 2, 0x86dd); // says IPv6, carries IPv4
  assert.equal(greDecap(v6, 14, v6.length - 14, d), Reason.IPIP_INNER_BAD);
  const ipip = golden('ipip');
  assert.equal(greDecap(ipip, 14, ipip.length - 14, d), Reason.L4_PROTO_UNKNOWN);
  const ver = golden('gre').slice();
  ver[GRE + 1] = 1;
  assert.equal(greDecap(ver, 14, ver.length - 14, d), Reason.GRE_BAD_VERSION);
});

const greRepr: fc.Arbitrary<GreRepr> = fc
  .record({
    protocol: fc.integer({ min: 0, max: 0xffff }),
    checksum: fc.boolean(),
    key: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
    seq: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
  })
  .map((r) => {
    const o: GreRepr = { protocol: r.protocol, checksum: r.checksum };
    if (r.key !== undefined) o.key = r.key;
    if (r.seq !== undefined) o.seq = r.seq;
    return o;
  });

test('property: GreRepr emit (checksum over header + payload) → check → parse gives it back', () => {
  fc.assert(
    fc.property(greRepr, fc.uint8Array({ maxLength: 300 }), fc.nat(3), (r, payload, off) => {
      const hl = greEmitLen(r);
      const b = poisoned(off + hl + payload.length + 1);
      b.set(payload, off + hl);
      assert.equal(greEmit(r, b, off, payload.length), hl);
      const len = hl + payload.length;
      assert.equal(greCheck(b, off, len), Reason.OK);
      assert.equal(greHeaderLen(b, off), hl);
      assert.ok(greCsumOk(b, off, len));
      if (r.checksum) assert.ok(csumVerifies(b, off, len));
      const back = greParse(b, off);
      delete back.csum;
      assert.deepEqual(back, r);
      assert.equal(b[off + len], 0xa5);
    }),
    { numRuns: 500 },
  );
});

/** A random inner IPv4 packet (any protocol, random payload) with a valid header checksum. */
const innerV4 = fc
  .record({
    tos: fc.integer({ min: 0, max: 255 }),
    ttl: fc.integer({ min: 1, max: 255 }),
    df: fc.boolean(),
    proto: fc.integer({ min: 0, max: 255 }),
    src: fc.integer({ min: 0, max: 0xffffffff }),
    payload: fc.uint8Array({ maxLength: 1400 }),
  })
  .map((r) => {
    const b = new Uint8Array(20 + r.payload.length);
    ipv4Emit(
      {
        tos: r.tos,
        totalLen: b.length,
        id: 1,
        df: r.df,
        mf: false,
        fragOffset: 0,
        ttl: r.ttl,
        proto: r.proto,
        src: r.src,
        dst: 0x0a000064,
      },
      b,
      0,
    );
    b.set(r.payload, 20);
    return b;
  });

test('property: greEncapV4 → outer proto 47, checksums valid → greDecap → strip restores the frame', () => {
  fc.assert(
    fc.property(innerV4, fc.boolean(), fc.integer({ min: 0, max: 0xffff }), (inner, csum, id) => {
      const frame = new Uint8Array(14 + inner.length);
      frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]);
      frame.set(inner, 14);
      const p = params(csum ? TunFlag.CSUM : TunFlag.NOCSUM);
      p.id = id;
      const buf = poisoned(frame.length + 28);
      buf.set(frame, 0);
      const n = greEncapV4(buf, 0, 14, inner.length, buf.length, p);
      assert.equal(n, frame.length + 24 + (csum ? 4 : 0));
      assert.equal(ipv4Check(buf, 14, n - 14), Reason.OK);
      const o = ipv4Parse(buf, 14);
      assert.deepEqual([o.proto, o.ttl, o.id], [47, inner[8], id]);
      assert.equal(u16(buf, GRE), csum ? 0x8000 : 0);
      assert.equal(u16(buf, GRE + 2), 0x0800);
      if (csum) assert.ok(csumVerifies(buf, GRE, n - GRE));
      const d = newTunnelDecap();
      assert.equal(greDecap(buf, 14, n - 14, d), Reason.OK);
      assert.deepEqual(buf.subarray(0, tunnelStrip(buf, 0, 14, d)), frame);
    }),
    { numRuns: 300 },
  );
});

test('fuzz: greCheck and greDecap never throw on random bytes and return known reasons', () => {
  const d = newTunnelDecap();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(130), fc.nat(20), (b, len, off) => {
      assert.ok(REASONS.has(greCheck(b, off, len)));
      assert.ok(REASONS.has(greDecap(b, off, len, d)));
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: greDecap on mutated goldens never throws', () => {
  const base = ['gre', 'gre-csum', 'gre6-csum', 'gre-key-seq'].map(golden);
  const d = newTunnelDecap();
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(60),
      (g, muts, cut) => {
        const b = g.slice();
        for (const [at, v] of muts) b[at % b.length] = v;
        assert.ok(REASONS.has(greDecap(b, 14, Math.max(0, b.length - 14 - cut), d)));
      },
    ),
    { numRuns: 2000 },
  );
});

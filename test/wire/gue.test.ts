import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  GUE_FLAG_PRIV,
  GUE_PFLAG_REMCSUM,
  gueCheck,
  gueDecap,
  gueEmit,
  gueEmitLen,
  gueEncapV4,
  gueParse,
  type GueRepr,
} from '../../src/wire/gue.ts';
import { newTunnelDecap, newTunnelParams, tunnelStrip, type TunnelParams } from '../../src/wire/ipip.ts';
import { ipv4Check, ipv4Emit } from '../../src/wire/ipv4.ts';
import { csumFold, csumVerifies, internetChecksum, pseudoSumV4 } from '../../src/wire/checksum.ts';
import { setU16, setU32, u16, u32 } from '../../src/wire/bytes.ts';
import { Reason } from '../../src/wire/reason.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { TunFlag } from '../../src/model/flags.ts';
import { poisoned } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

/** Goldens: test/golden/tunnel/*.hex, each with its derivation and tshark decode in comments. */
const golden = (name: string): Uint8Array => goldenIn('tunnel', name);

/** Offsets in the tunnel goldens: Ethernet 14 + outer IPv4 20 = UDP at 34, GUE at 42. */
const UDP = 34;
const GUE = 42;

function params(tunFlags: number): TunnelParams {
  const p = newTunnelParams();
  p.src = ipv4FromString('192.168.10.254');
  p.dst = ipv4FromString('192.168.10.1');
  p.id = 0x0101;
  p.sport = 51234;
  p.dport = 6080;
  p.tunFlags = tunFlags;
  return p;
}

/** tcp-syn.hex with its TCP checksum replaced by the partial (pseudo-header) sum, as on a veth. */
function partialSyn(): Uint8Array {
  const f = golden('tcp-syn');
  const s = csumFold(pseudoSumV4(ipv4FromString('10.0.0.1'), ipv4FromString('10.0.0.100'), 6, 24));
  setU16(f, 14 + 20 + 16, s);
  return f;
}

function encapInto(bare: Uint8Array, p: TunnelParams): [Uint8Array, number] {
  const buf = poisoned(256);
  buf.set(bare, 0);
  return [buf, gueEncapV4(buf, 0, 14, bare.length - 14, 256, p)];
}

test('GUE goldens from gueEncapV4 into a poisoned buffer: nocsum, csum, remcsum (tshark: UDP 51234 > 6080, UDP checksum absent / correct / correct)', () => {
  const remP = params(TunFlag.REMCSUM);
  remP.csumStart = 20;
  remP.csumOffset = 16;
  for (const [name, bare, p] of [
    ['gue-nocsum', golden('tcp-syn'), params(TunFlag.NOCSUM)],
    ['gue-csum', golden('tcp-syn'), params(TunFlag.CSUM)],
    ['gue-remcsum', partialSyn(), remP],
  ] as const) {
    const [buf, n] = encapInto(bare, p);
    const want = golden(name);
    assert.equal(n, want.length, name);
    assert.deepEqual(buf.subarray(0, n), want, name);
    for (let i = n; i < buf.length; i++) assert.equal(buf[i], 0xa5);
  }
});

test('REMCSUM without a partial inner checksum adds no option but still checksums UDP (ipvs_gue_encap need_priv)', () => {
  const [buf, n] = encapInto(golden('tcp-syn'), params(TunFlag.REMCSUM));
  const csum = golden('gue-csum');
  assert.deepEqual(buf.subarray(0, n), csum);
});

test('the GUE words of the goldens by hand: 00 04 0000, and 02 04 0001 80000000 0014 0024 with remcsum', () => {
  assert.equal(u32(golden('gue-nocsum'), GUE), 0x00040000);
  const r = golden('gue-remcsum');
  assert.deepEqual(
    [u32(r, GUE), u32(r, GUE + 4), u16(r, GUE + 8), u16(r, GUE + 10)],
    [0x02040001, 0x80000000, 20, 36],
  );
  assert.equal(u16(golden('gue-nocsum'), UDP + 6), 0, 'nocsum sends UDP checksum 0');
});

test('gueParse / gueEmit on the remcsum golden header (emit into poison, compare)', () => {
  const g = golden('gue-remcsum');
  assert.equal(gueCheck(g, GUE, g.length - GUE), Reason.OK);
  const r = gueParse(g, GUE);
  assert.deepEqual(r, { control: false, protoCtype: 4, remcsum: { start: 20, offset: 36 } });
  const out = poisoned(16);
  assert.equal(gueEmit(r, out, 2), 12);
  assert.deepEqual(out.subarray(2, 14), g.subarray(GUE, GUE + 12));
  assert.deepEqual([out[0], out[1], out[14], out[15]], [0xa5, 0xa5, 0xa5, 0xa5]);
});

test('gueCheck reasons', () => {
  const h = (bytes: number[]): Uint8Array => Uint8Array.from(bytes);
  assert.equal(gueCheck(h([0, 4, 0]), 0, 3), Reason.GUE_TRUNCATED);
  assert.equal(gueCheck(h([0, 4, 0, 0]), 0, 4), Reason.OK);
  assert.equal(gueCheck(h([0, 4, 0, 0]), 1, 4), Reason.GUE_TRUNCATED, 'len beyond the buffer');
  assert.equal(gueCheck(h([0x40, 4, 0, 0]), 0, 4), Reason.GUE_BAD_VERSION);
  assert.equal(gueCheck(h([0xc0, 4, 0, 0]), 0, 4), Reason.GUE_BAD_VERSION);
  assert.equal(gueCheck(h([0x01, 4, 0, 0, 0, 0, 0]), 0, 7), Reason.GUE_TRUNCATED, 'hlen 1 needs 8 bytes');
  assert.equal(gueCheck(h([0x01, 4, 0, 0, 0, 0, 0, 0]), 0, 8), Reason.OK, 'unused option space is fine');
  assert.equal(gueCheck(h([0x00, 4, 0, 1]), 0, 4), Reason.GUE_BAD_HLEN, 'P flag without room');
  assert.equal(gueCheck(h([0x01, 4, 0, 2, 0, 0, 0, 0]), 0, 8), Reason.GUE_BAD_HLEN, 'unknown standard flag');
  assert.equal(
    gueCheck(h([0x01, 4, 0, 1, 0x40, 0, 0, 0]), 0, 8),
    Reason.GUE_BAD_HLEN,
    'unknown private flag',
  );
  assert.equal(
    gueCheck(h([0x01, 4, 0, 1, 0x80, 0, 0, 0]), 0, 8),
    Reason.GUE_BAD_HLEN,
    'REMCSUM without its 4 bytes',
  );
  assert.equal(gueCheck(h([0x02, 4, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0]), 0, 12), Reason.OK);
  assert.equal(gueCheck(h([0x20, 0, 0, 0]), 0, 4), Reason.OK, 'a control message is well formed');
});

test('gueDecap of the goldens; with remcsum the inner TCP checksum is completed to the true 0xec3f', () => {
  const d = newTunnelDecap();
  for (const name of ['gue-nocsum', 'gue-csum', 'gue-remcsum']) {
    const f = golden(name);
    assert.equal(gueDecap(f, 14, f.length - 14, d), Reason.OK, name);
    assert.equal(d.innerVersion, 4);
    const n = tunnelStrip(f, 0, 14, d);
    // tcp-syn.hex carries the full checksum 0xec3f (tshark: "Checksum: 0xec3f [correct]").
    assert.deepEqual(f.subarray(0, n), golden('tcp-syn'), name);
  }
});

test('gueDecap reasons', () => {
  const d = newTunnelDecap();
  const csum = golden('gue-csum');
  const len = csum.length - 14;
  const badUdp = csum.slice();
  badUdp[csum.length - 1] ^= 0xff; // payload byte: the UDP checksum no longer matches
  assert.equal(gueDecap(badUdp, 14, len, d), Reason.UDP_BAD_CSUM);
  const nocsum = golden('gue-nocsum');
  const longUdp = nocsum.slice();
  setU16(longUdp, UDP + 4, 0x100);
  assert.equal(gueDecap(longUdp, 14, len, d), Reason.UDP_BAD_LEN);
  const ver = nocsum.slice();
  ver[GUE] = 0x40;
  assert.equal(gueDecap(ver, 14, len, d), Reason.GUE_BAD_VERSION);
  const ctl = nocsum.slice();
  ctl[GUE] = 0x20;
  assert.equal(gueDecap(ctl, 14, len, d), Reason.L4_PROTO_UNKNOWN);
  const proto = nocsum.slice();
  proto[GUE + 1] = 6;
  assert.equal(gueDecap(proto, 14, len, d), Reason.L4_PROTO_UNKNOWN);
  const v6 = nocsum.slice();
  v6[GUE + 1] = 41; // announces IPv6, carries IPv4
  assert.equal(gueDecap(v6, 14, len, d), Reason.IPIP_INNER_BAD);
  const gre = golden('gre');
  assert.equal(gueDecap(gre, 14, gre.length - 14, d), Reason.L4_PROTO_UNKNOWN);
  // A remcsum option pointing past the inner packet (nocsum UDP so no checksum to fix up).
  const rem = golden('gue-remcsum');
  setU16(rem, UDP + 6, 0);
  setU16(rem, GUE + 10, 44);
  assert.equal(gueDecap(rem, 14, rem.length - 14, d), Reason.GUE_BAD_HLEN);
});

const gueRepr: fc.Arbitrary<GueRepr> = fc
  .record({
    control: fc.boolean(),
    protoCtype: fc.integer({ min: 0, max: 255 }),
    rem: fc.option(
      fc.record({ start: fc.integer({ min: 0, max: 0xffff }), offset: fc.integer({ min: 0, max: 0xffff }) }),
      { nil: undefined },
    ),
  })
  // Plain objects: fast-check records have a null prototype, which deepEqual would reject.
  .map(({ control, protoCtype, rem }) =>
    rem
      ? { control, protoCtype, remcsum: { start: rem.start, offset: rem.offset } }
      : { control, protoCtype },
  );

test('property: GueRepr emit → check OK → parse gives it back; flags and Hlen as the kernel lays them out', () => {
  fc.assert(
    fc.property(gueRepr, fc.nat(8), (r, off) => {
      const b = poisoned(off + 20);
      const n = gueEmit(r, b, off);
      assert.equal(n, gueEmitLen(r));
      assert.equal(gueCheck(b, off, n), Reason.OK);
      assert.deepEqual(gueParse(b, off), r);
      assert.equal(b[off] >>> 6, 0);
      assert.equal(u16(b, off + 2), r.remcsum ? GUE_FLAG_PRIV : 0);
      if (r.remcsum) assert.equal(u32(b, off + 4), GUE_PFLAG_REMCSUM);
      assert.equal(b[off + n], 0xa5);
    }),
    { numRuns: 500 },
  );
});

/** A random IPv4 TCP packet with a correct checksum (header 20 bytes, doff 5). */
const tcpPacket = fc
  .record({
    tos: fc.integer({ min: 0, max: 255 }),
    ttl: fc.integer({ min: 1, max: 255 }),
    df: fc.boolean(),
    src: fc.integer({ min: 0, max: 0xffffffff }),
    dst: fc.integer({ min: 0, max: 0xffffffff }),
    ports: fc.integer({ min: 0, max: 0xffffffff }),
    payload: fc.uint8Array({ maxLength: 1200 }),
  })
  .map((r) => {
    const b = new Uint8Array(40 + r.payload.length);
    ipv4Emit(
      {
        tos: r.tos,
        totalLen: b.length,
        id: 7,
        df: r.df,
        mf: false,
        fragOffset: 0,
        ttl: r.ttl,
        proto: 6,
        src: r.src,
        dst: r.dst,
      },
      b,
      0,
    );
    setU32(b, 20, r.ports);
    b[32] = 0x50;
    b[33] = 0x18;
    b.set(r.payload, 40);
    setU16(b, 36, internetChecksum(b, 20, b.length - 20, pseudoSumV4(r.src, r.dst, 6, b.length - 20)));
    return b;
  });

test('property: encap → decap → strip round trip for nocsum / csum / remcsum; outer UDP checksum right or zero', () => {
  fc.assert(
    fc.property(
      tcpPacket,
      fc.constantFrom(TunFlag.NOCSUM, TunFlag.CSUM, TunFlag.REMCSUM),
      fc.boolean(),
      fc.integer({ min: 1, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (inner, flags, partial, sport, src) => {
        const frame = new Uint8Array(14 + inner.length);
        frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]);
        frame.set(inner, 14);
        const sent = frame.slice();
        const p = params(flags);
        p.sport = sport;
        p.src = src;
        if (partial) {
          // Make the inner checksum partial, as a veth with tx-checksumming hands it over.
          const ps = pseudoSumV4(u32(inner, 12), u32(inner, 16), 6, inner.length - 20);
          setU16(sent, 14 + 36, csumFold(ps));
          p.csumStart = 20;
          p.csumOffset = 16;
        }
        const buf = poisoned(14 + 44 + inner.length);
        buf.set(sent, 0);
        const n = gueEncapV4(buf, 0, 14, inner.length, buf.length, p);
        const withOpt = flags === TunFlag.REMCSUM && partial;
        assert.equal(n, 14 + 20 + 8 + (withOpt ? 12 : 4) + inner.length);
        assert.equal(ipv4Check(buf, 14, n - 14), Reason.OK);
        const ulen = n - UDP;
        if (flags === TunFlag.NOCSUM) assert.equal(u16(buf, UDP + 6), 0);
        else assert.ok(csumVerifies(buf, UDP, ulen, pseudoSumV4(src, p.dst, 17, ulen)));
        const d = newTunnelDecap();
        const r = gueDecap(buf, 14, n - 14, d);
        if (partial && !withOpt) {
          // Nobody completes a partial checksum the sender did not flag: the inner arrives partial.
          assert.equal(r, Reason.OK);
          assert.deepEqual(buf.subarray(d.innerOff, d.innerOff + d.innerLen), sent.subarray(14));
          return;
        }
        assert.equal(r, Reason.OK);
        const m = tunnelStrip(buf, 0, 14, d);
        assert.equal(m, frame.length);
        assert.ok(
          csumVerifies(
            buf,
            34,
            inner.length - 20,
            pseudoSumV4(u32(inner, 12), u32(inner, 16), 6, inner.length - 20),
          ),
        );
        // Equal to the original except that a zero checksum may come back as its twin 0xffff.
        const got = buf.slice(0, m);
        const want = frame.slice();
        if (u16(want, 50) === 0 && u16(got, 50) === 0xffff) setU16(want, 50, 0xffff);
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 300 },
  );
});

test('fuzz: gueCheck and gueDecap never throw on random bytes and return known reasons', () => {
  const d = newTunnelDecap();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(130), fc.nat(20), (b, len, off) => {
      assert.ok(REASONS.has(gueCheck(b, off, len)));
      assert.ok(REASONS.has(gueDecap(b, off, len, d)));
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: gueDecap on mutated goldens never throws', () => {
  const base = [golden('gue-nocsum'), golden('gue-csum'), golden('gue-remcsum')];
  const d = newTunnelDecap();
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(60),
      (g, muts, cut) => {
        const b = g.slice();
        for (const [at, v] of muts) b[at % b.length] = v;
        assert.ok(REASONS.has(gueDecap(b, 14, Math.max(0, b.length - 14 - cut), d)));
      },
    ),
    { numRuns: 2000 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PP2_TYPE,
  PROXY2_HLEN,
  PROXY2_LEN_V4,
  PROXY2_LEN_V6,
  Proxy2Cmd,
  Proxy2Fam,
  Proxy2Reason,
  Proxy2Transport,
  proxy2AppendTlv,
  proxy2Check,
  proxy2Emit,
  proxy2EmitLen,
  proxy2Len,
  proxy2Parse,
  proxy2WriteLocal,
  proxy2WriteV4,
  proxy2WriteV6,
  type Proxy2Repr,
} from '../../src/wire/proxy2.ts';
import { hex, poisoned, toHex } from '../helpers/bytes.ts';
import { hasTshark, tsharkDecode } from '../helpers/tshark.ts';

// A header written by haproxy ("send-proxy-v2") for 172.19.0.1:42578 → 172.19.0.3:80, as dumped
// by netcat in seriousben/experiment-proxy-protocol README.md (first 28 bytes of the hexdump).
// Its fields, read against proxy-protocol.txt §2.2: signature; 0x21 = version 2, PROXY; 0x11 =
// AF_INET, STREAM; length 0x000c = 12; ac130001 ac130003; a652 = 42578; 0050 = 80.
const HAPROXY_TCP4 = hex(`
  0d0a 0d0a 000d 0a51 5549 540a  21 11 000c
  ac13 0001 ac13 0003 a652 0050
`);

// Hand-derived from §2.2 for UDP over IPv6, 2001:db8::1 port 53 → 2001:db8::2 port 5353, with
// two TLVs: AUTHORITY (0x02) "example.com" (11 bytes) and NOOP (0x04) of 2 zero bytes.
// len = 36 (address block) + 3 + 11 + 3 + 2 = 55 = 0x0037; ver|cmd 0x21; fam|tp 0x22.
const HAND_UDP6 = hex(`
  0d0a 0d0a 000d 0a51 5549 540a  21 22 0037
  2001 0db8 0000 0000 0000 0000 0000 0001
  2001 0db8 0000 0000 0000 0000 0000 0002
  0035 14e9
  02 000b 6578616d706c652e636f6d
  04 0002 0000
`);

function v6(s: string): Uint8Array {
  return hex(s);
}
const V6_1 = v6('20010db8000000000000000000000001');
const V6_2 = v6('20010db8000000000000000000000002');

test('golden: proxy2WriteV4 reproduces the haproxy-written TCP4 header byte for byte', () => {
  const b = poisoned(40);
  const n = proxy2WriteV4(b, 3, 0xac130001, 0xac130003, 42578, 80, 6);
  assert.equal(n, PROXY2_LEN_V4);
  assert.equal(toHex(b, 3, n), toHex(HAPROXY_TCP4));
  assert.equal(b[2], 0xa5);
  assert.equal(b[3 + n], 0xa5);
  const r = proxy2Parse(HAPROXY_TCP4, 0, HAPROXY_TCP4.length);
  assert.notEqual(typeof r, 'number');
  assert.deepEqual(r, {
    command: Proxy2Cmd.PROXY,
    family: Proxy2Fam.INET,
    transport: Proxy2Transport.STREAM,
    src: 0xac130001,
    dst: 0xac130003,
    sport: 42578,
    dport: 80,
    tlvs: [],
    headerLen: 28,
  });
});

test('golden: UDP over IPv6 with TLVs (hand-derived from the spec)', () => {
  const b = new Uint8Array(120);
  let n = proxy2WriteV6(b, 0, V6_1, 0, V6_2, 0, 53, 5353, 17);
  assert.equal(n, PROXY2_LEN_V6);
  assert.equal(proxy2AppendTlv(b, 0, PP2_TYPE.AUTHORITY, new TextEncoder().encode('example.com'), 0, 11), 66);
  n = proxy2AppendTlv(b, 0, PP2_TYPE.NOOP, new Uint8Array(2), 0, 2);
  assert.equal(n, 16 + 55);
  assert.equal(proxy2Len(b, 0), n);
  assert.equal(toHex(b, 0, n), toHex(HAND_UDP6));
  const r = proxy2Parse(HAND_UDP6, 0, HAND_UDP6.length) as Proxy2Repr;
  assert.equal(r.family, Proxy2Fam.INET6);
  assert.equal(r.transport, Proxy2Transport.DGRAM);
  assert.deepEqual(r.src, V6_1);
  assert.deepEqual(r.dst, V6_2);
  assert.equal(r.sport, 53);
  assert.equal(r.dport, 5353);
  assert.deepEqual(
    r.tlvs.map((t) => [t.type, new TextDecoder().decode(t.value)]),
    [
      [2, 'example.com'],
      [4, '\0\0'],
    ],
  );
});

test('golden: LOCAL is the 16-byte fixed part with version 2, command 0, no address', () => {
  const b = new Uint8Array(16);
  assert.equal(proxy2WriteLocal(b, 0), PROXY2_HLEN);
  assert.equal(toHex(b), '0d0a0d0a000d0a515549540a' + '20' + '00' + '0000');
  // A LOCAL header must be accepted with any address bytes, which are skipped (§2.2).
  const withAddr = hex('0d0a0d0a000d0a515549540a 20 11 000c 0102030405060708090a0b0c');
  const r = proxy2Parse(withAddr, 0, withAddr.length) as Proxy2Repr;
  assert.equal(r.command, Proxy2Cmd.LOCAL);
  assert.equal(r.src, null);
  assert.equal(r.headerLen, 28);
});

test('UDP over IPv4 uses fam|tp 0x12; other protocols are refused', () => {
  const b = new Uint8Array(28);
  proxy2WriteV4(b, 0, 1, 2, 3, 4, 17);
  assert.equal(b[13], 0x12);
  assert.throws(() => proxy2WriteV4(b, 0, 1, 2, 3, 4, 132));
});

test('each malformation is reported with its own reason', () => {
  const bad = (patch: (b: Uint8Array) => void, len = HAPROXY_TCP4.length): number => {
    const b = HAPROXY_TCP4.slice();
    patch(b);
    return proxy2Check(b, 0, len);
  };
  assert.equal(
    bad(() => {}),
    Proxy2Reason.OK,
  );
  assert.equal(
    bad((b) => (b[4] = 0x01)),
    Proxy2Reason.BAD_SIGNATURE,
  );
  assert.equal(
    bad((b) => (b[12] = 0x11)),
    Proxy2Reason.BAD_VERSION,
  );
  assert.equal(
    bad((b) => (b[12] = 0x22)),
    Proxy2Reason.BAD_COMMAND,
  );
  assert.equal(
    bad((b) => (b[13] = 0x41)),
    Proxy2Reason.BAD_FAMILY,
  );
  assert.equal(
    bad((b) => (b[13] = 0x13)),
    Proxy2Reason.BAD_TRANSPORT,
  );
  // INET announcing only 8 address bytes.
  assert.equal(
    bad((b) => (b[15] = 8)),
    Proxy2Reason.BAD_ADDR_LEN,
  );
  // Length announcing more than is there.
  assert.equal(
    bad((b) => (b[15] = 13)),
    Proxy2Reason.TRUNCATED,
  );
  // A TLV whose value runs past the header.
  const tlv = hex('0d0a0d0a000d0a515549540a 21 11 0011 ac130001ac130003a6520050 02 0003 6162');
  assert.equal(proxy2Check(tlv, 0, tlv.length), Proxy2Reason.BAD_TLV);
  // Two stray bytes after the address block: too short for a TLV.
  const stray = hex('0d0a0d0a000d0a515549540a 21 11 000e ac130001ac130003a6520050 0000');
  assert.equal(proxy2Check(stray, 0, stray.length), Proxy2Reason.BAD_TLV);
  assert.equal(proxy2Parse(stray, 0, stray.length), Proxy2Reason.BAD_TLV);
});

test('every proper prefix is TRUNCATED; a wrong byte early in the signature is rejected at once', () => {
  for (let n = 0; n < HAND_UDP6.length; n++) {
    assert.equal(proxy2Check(HAND_UDP6, 0, n), Proxy2Reason.TRUNCATED, `prefix ${n}`);
  }
  assert.equal(proxy2Check(HAND_UDP6, 0, HAND_UDP6.length), Proxy2Reason.OK);
  // "GET " is not PROXY: known after one byte, no need to wait for 16.
  const http = new TextEncoder().encode('G');
  assert.equal(proxy2Check(http, 0, 1), Proxy2Reason.BAD_SIGNATURE);
  // The buffer is shorter than `len` claims: only the real bytes count.
  assert.equal(proxy2Check(HAPROXY_TCP4.subarray(0, 20), 0, 1000), Proxy2Reason.TRUNCATED);
});

const tlvArb = fc.record({
  type: fc.nat(0xff),
  value: fc.uint8Array({ maxLength: 40 }),
});

// Spread into ordinary objects: fast-check records have a null prototype, which deepEqual sees.
const reprArb: fc.Arbitrary<Proxy2Repr> = fc
  .oneof(
    fc.record({
      command: fc.constant(Proxy2Cmd.PROXY),
      family: fc.constant(Proxy2Fam.INET),
      transport: fc.constantFrom(Proxy2Transport.STREAM, Proxy2Transport.DGRAM),
      src: fc.nat(0xffffffff),
      dst: fc.nat(0xffffffff),
      sport: fc.nat(0xffff),
      dport: fc.nat(0xffff),
      tlvs: fc.array(tlvArb, { maxLength: 4 }),
    }),
    fc.record({
      command: fc.constant(Proxy2Cmd.PROXY),
      family: fc.constant(Proxy2Fam.INET6),
      transport: fc.constantFrom(Proxy2Transport.STREAM, Proxy2Transport.DGRAM),
      src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      sport: fc.nat(0xffff),
      dport: fc.nat(0xffff),
      tlvs: fc.array(tlvArb, { maxLength: 4 }),
    }),
    fc.record({
      command: fc.constant(Proxy2Cmd.PROXY),
      family: fc.constant(Proxy2Fam.UNIX),
      transport: fc.constantFrom(Proxy2Transport.STREAM, Proxy2Transport.DGRAM),
      src: fc.uint8Array({ minLength: 108, maxLength: 108 }),
      dst: fc.uint8Array({ minLength: 108, maxLength: 108 }),
      sport: fc.constant(0),
      dport: fc.constant(0),
      tlvs: fc.array(tlvArb, { maxLength: 2 }),
    }),
    fc.record({
      command: fc.constantFrom(Proxy2Cmd.LOCAL, Proxy2Cmd.PROXY),
      family: fc.constant(Proxy2Fam.UNSPEC),
      transport: fc.constant(Proxy2Transport.UNSPEC),
      src: fc.constant(null),
      dst: fc.constant(null),
      sport: fc.constant(0),
      dport: fc.constant(0),
      tlvs: fc.constant([]),
    }),
  )
  .map((r): Proxy2Repr => ({ ...r, tlvs: r.tlvs.map((t) => ({ type: t.type, value: t.value })) }));

test('property: emit then parse gives back the same Repr, and the length matches', () => {
  fc.assert(
    fc.property(reprArb, fc.nat(8), (r, off) => {
      const b = poisoned(off + proxy2EmitLen(r) + 8);
      const n = proxy2Emit(r, b, off);
      assert.equal(n, proxy2EmitLen(r));
      assert.equal(b[off + n], 0xa5);
      const p = proxy2Parse(b, off, n);
      assert.notEqual(typeof p, 'number');
      assert.deepEqual(p, { ...r, headerLen: n });
    }),
    { numRuns: 500 },
  );
});

test('property: the allocation-free writers agree with proxy2Emit', () => {
  fc.assert(
    fc.property(
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      fc.nat(0xffff),
      fc.nat(0xffff),
      fc.constantFrom(6, 17),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (src, dst, sport, dport, proto, a6) => {
        const transport = proto === 6 ? Proxy2Transport.STREAM : Proxy2Transport.DGRAM;
        const w = new Uint8Array(PROXY2_LEN_V4);
        const e = new Uint8Array(PROXY2_LEN_V4);
        proxy2WriteV4(w, 0, src, dst, sport, dport, proto);
        proxy2Emit({ command: 1, family: 1, transport, src, dst, sport, dport, tlvs: [] }, e, 0);
        assert.deepEqual(w, e);
        const w6 = new Uint8Array(PROXY2_LEN_V6);
        const e6 = new Uint8Array(PROXY2_LEN_V6);
        proxy2WriteV6(w6, 0, a6, 0, a6, 16, sport, dport, proto);
        proxy2Emit(
          {
            command: 1,
            family: 2,
            transport,
            src: a6.slice(0, 16),
            dst: a6.slice(16),
            sport,
            dport,
            tlvs: [],
          },
          e6,
          0,
        );
        assert.deepEqual(w6, e6);
      },
    ),
  );
});

test('fuzz: random and mutated bytes never throw; an OK verdict fits inside the input', () => {
  const seeds = [HAPROXY_TCP4, HAND_UDP6];
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat(0xff)), { maxLength: 4 }), fc.nat())
    .map(([s, edits, cut]) => {
      const b = s.slice();
      for (const [i, v] of edits) b[i % b.length] = v;
      return b.subarray(0, cut % (b.length + 1));
    });
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated),
      fc.nat(4),
      fc.nat(400),
      (b, off, len) => {
        const why = proxy2Check(b, off, len);
        const r = proxy2Parse(b, off, len);
        if (why === Proxy2Reason.OK) {
          assert.equal(typeof r, 'object');
          assert.ok((r as Proxy2Repr).headerLen! <= Math.min(len, b.length - off));
        } else {
          assert.equal(r, why);
        }
      },
    ),
    { numRuns: 20000, interruptAfterTimeLimit: 4000 },
  );
});

// ---- tshark cross-check: the headers as the first payload of TCP and UDP packets ----------------

/** Each call is its own flow (source port `sport`), so tshark treats each payload as a stream start. */
function ipv4Frame(proto: number, sport: number, payload: Uint8Array): Uint8Array {
  const l4 = proto === 6 ? 20 : 8;
  const tot = 20 + l4 + payload.length;
  const b = new Uint8Array(14 + tot);
  b.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00], 0);
  b.set([0x45, 0, tot >>> 8, tot & 0xff, 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 5, 10, 0, 1, 100], 14);
  if (proto === 6)
    b.set([sport >>> 8, sport & 0xff, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff], 34);
  else
    b.set(
      [sport >>> 8, sport & 0xff, 0x00, 0x35, (8 + payload.length) >>> 8, (8 + payload.length) & 0xff],
      34,
    );
  b.set(payload, 14 + 20 + l4);
  return b;
}

test('tshark decodes the headers as PROXY v2 with the same fields', (t) => {
  if (!hasTshark()) {
    t.skip('tshark not installed');
    return;
  }
  const v4 = new Uint8Array(PROXY2_LEN_V4 + 8);
  assert.equal(proxy2WriteV4(v4, 0, 0xc6336401, 0x0a000164, 40000, 443, 6), PROXY2_LEN_V4);
  const n4 = proxy2AppendTlv(v4, 0, PP2_TYPE.UNIQUE_ID, hex('0102030405'), 0, 5);
  const v6h = new Uint8Array(PROXY2_LEN_V6);
  proxy2WriteV6(v6h, 0, V6_1, 0, V6_2, 0, 53, 5353, 17);
  const local = new Uint8Array(PROXY2_HLEN);
  proxy2WriteLocal(local, 0);
  const frames = [
    ipv4Frame(6, 1030, v4.subarray(0, n4)),
    ipv4Frame(17, 1031, v6h),
    ipv4Frame(6, 1032, Uint8Array.from([...local, ...new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n')])),
  ];
  const out = tsharkDecode(frames, [
    // Ports 80 and 53 belong to HTTP and DNS; let the PROXY heuristic look first.
    '-o',
    'tcp.try_heuristic_first:TRUE',
    '-o',
    'udp.try_heuristic_first:TRUE',
    '-T',
    'fields',
    '-E',
    'separator=|',
    '-e',
    'proxy.v2.version',
    '-e',
    'proxy.v2.cmd',
    '-e',
    'proxy.v2.addr_family',
    '-e',
    'proxy.v2.protocol',
    '-e',
    'proxy.v2.length',
    '-e',
    'proxy.src.ipv4',
    '-e',
    'proxy.dst.ipv4',
    '-e',
    'proxy.src.ipv6',
    '-e',
    'proxy.dst.ipv6',
    '-e',
    'proxy.srcport',
    '-e',
    'proxy.dstport',
  ]);
  const rows = out
    .trim()
    .split('\n')
    .map((l) => l.split('|'));
  // Columns: version, command, family, protocol, length, IPv4 src/dst, IPv6 src/dst, ports.
  // The length of the first header (20) counts its UNIQUE_ID TLV; TShark 4.0.17 does not dissect
  // TLVs that follow an address block, so their contents are checked by the goldens above.
  const expected = [
    ['2', '1', '0x01', '0x01', '20', '198.51.100.1', '10.0.1.100', '', '', '40000', '443'],
    ['2', '1', '0x02', '0x02', '36', '', '', '2001:db8::1', '2001:db8::2', '53', '5353'],
    ['2', '0', '0x00', '0x00', '0', '', '', '', '', '', ''],
  ];
  assert.deepEqual(rows, expected);
});

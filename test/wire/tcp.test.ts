import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { u16 } from '../../src/wire/bytes.ts';
import { ETH_HLEN } from '../../src/wire/ethernet.ts';
import { ipv4TotalLen } from '../../src/wire/ipv4.ts';
import { ipv6PayloadLen } from '../../src/wire/ipv6.ts';
import {
  TCP_CSUM,
  TCP_FLAG_ACK,
  TCP_FLAG_PSH,
  TCP_FLAG_SYN,
  TCP_HLEN,
  TCPOPT_MSS,
  TCPOPT_NOP,
  TCPOPT_SACK,
  TCPOPT_SACK_PERM,
  TCPOPT_TIMESTAMP,
  TCPOPT_WSCALE,
  tcpAck,
  tcpCheck,
  tcpCsumOkV4,
  tcpCsumOkV6,
  tcpDoff,
  tcpDstPort,
  tcpEmit,
  tcpEmitLen,
  tcpFillCsumV4,
  tcpFillCsumV6,
  tcpFindOption,
  tcpFlags,
  tcpHeaderLen,
  tcpMss,
  tcpParse,
  tcpSeq,
  tcpSetMss,
  tcpSrcPort,
  tcpWindow,
  tcpWindowScale,
  type TcpOption,
  type TcpRepr,
} from '../../src/wire/tcp.ts';
import { Reason } from '../../src/wire/reason.ts';
import { poisoned, toHex } from '../helpers/bytes.ts';
import { golden as goldenIn } from '../helpers/golden.ts';
import { REASONS } from '../helpers/reasons.ts';

const golden = (name: string): Uint8Array => goldenIn('wire', name);

const L3 = ETH_HLEN;
/** Where the segment starts and how long it is, from the IP header of the golden frame. */
function seg(f: Uint8Array, v6: boolean): { l4off: number; l4len: number } {
  return v6
    ? { l4off: L3 + 40, l4len: ipv6PayloadLen(f, L3) }
    : { l4off: L3 + (f[L3] & 0x0f) * 4, l4len: ipv4TotalLen(f, L3) - (f[L3] & 0x0f) * 4 };
}

/** Each golden's header as tshark decoded it (values copied from the comments in the .hex files). */
const GOLDENS: [string, boolean, TcpRepr][] = [
  [
    'tcp4-syn',
    false,
    {
      srcPort: 57816,
      dstPort: 8080,
      seq: 2052265522,
      ack: 0,
      flags: TCP_FLAG_SYN,
      reserved: 0,
      window: 64240,
      urgent: 0,
      csum: 0xc06b,
      options: [
        { kind: TCPOPT_MSS, mss: 1460 },
        { kind: TCPOPT_SACK_PERM },
        { kind: TCPOPT_TIMESTAMP, tsval: 3218547519, tsecr: 0 },
        { kind: TCPOPT_NOP },
        { kind: TCPOPT_WSCALE, shift: 10 },
      ],
    },
  ],
  [
    'tcp4-synack',
    false,
    {
      srcPort: 8080,
      dstPort: 57816,
      seq: 1076690626,
      ack: 2052265523,
      flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
      reserved: 0,
      window: 65084,
      urgent: 0,
      csum: 0x5ea3,
      options: [
        { kind: TCPOPT_MSS, mss: 1240 },
        { kind: TCPOPT_SACK_PERM },
        { kind: TCPOPT_TIMESTAMP, tsval: 2223807435, tsecr: 3218547519 },
        { kind: TCPOPT_NOP },
        { kind: TCPOPT_WSCALE, shift: 10 },
      ],
    },
  ],
  [
    'tcp4-data',
    false,
    {
      srcPort: 57816,
      dstPort: 8080,
      seq: 2052265523,
      ack: 1076690627,
      flags: TCP_FLAG_PSH | TCP_FLAG_ACK,
      reserved: 0,
      window: 63,
      urgent: 0,
      csum: 0x4680,
      options: [
        { kind: TCPOPT_NOP },
        { kind: TCPOPT_NOP },
        { kind: TCPOPT_TIMESTAMP, tsval: 3218547519, tsecr: 2223807435 },
      ],
    },
  ],
  [
    // tshark prints the SACK edges relative to the ACK base; the raw edges are 1000..4000.
    'tcp4-options',
    false,
    {
      srcPort: 40001,
      dstPort: 80,
      seq: 287454020,
      ack: 1432778632,
      flags: TCP_FLAG_ACK,
      reserved: 0,
      window: 501,
      urgent: 0,
      csum: 0x209e,
      options: [
        { kind: TCPOPT_NOP },
        { kind: TCPOPT_MSS, mss: 1400 },
        {
          kind: TCPOPT_SACK,
          blocks: [
            { left: 1000, right: 2000 },
            { left: 3000, right: 4000 },
          ],
        },
        { kind: 254, data: Uint8Array.from([0xca, 0xfe, 0xba, 0xbe]) },
      ],
    },
  ],
  [
    'tcp6-syn',
    true,
    {
      srcPort: 57578,
      dstPort: 8080,
      seq: 4107844736,
      ack: 0,
      flags: TCP_FLAG_SYN,
      reserved: 0,
      window: 64800,
      urgent: 0,
      csum: 0xf2d4,
      options: [
        { kind: TCPOPT_MSS, mss: 1440 },
        { kind: TCPOPT_SACK_PERM },
        { kind: TCPOPT_TIMESTAMP, tsval: 15182443, tsecr: 0 },
        { kind: TCPOPT_NOP },
        { kind: TCPOPT_WSCALE, shift: 10 },
      ],
    },
  ],
];

test('goldens: check OK, parse gives what tshark decoded, emit into poison gives the bytes back', () => {
  for (const [name, v6, want] of GOLDENS) {
    const f = golden(name);
    const { l4off, l4len } = seg(f, v6);
    assert.equal(tcpCheck(f, l4off, l4len), Reason.OK, name);
    const r = tcpParse(f, l4off);
    assert.deepEqual(r, want, name);
    const hl = tcpHeaderLen(f, l4off);
    assert.equal(tcpEmitLen(r), hl, name);
    const out = poisoned(hl + 2);
    assert.equal(tcpEmit(r, out, 1), hl);
    assert.equal(toHex(out, 1, hl), toHex(f, l4off, hl), name);
    assert.equal(out[0], 0xa5);
    assert.equal(out[hl + 1], 0xa5);
  }
});

test('goldens: accessors agree with the Repr', () => {
  for (const [name, v6, want] of GOLDENS) {
    const f = golden(name);
    const { l4off } = seg(f, v6);
    assert.equal(tcpSrcPort(f, l4off), want.srcPort, name);
    assert.equal(tcpDstPort(f, l4off), want.dstPort, name);
    assert.equal(tcpSeq(f, l4off), want.seq, name);
    assert.equal(tcpAck(f, l4off), want.ack, name);
    assert.equal(tcpFlags(f, l4off), want.flags, name);
    assert.equal(tcpWindow(f, l4off), want.window, name);
    const mss = want.options.find((o) => 'mss' in o);
    assert.equal(tcpMss(f, l4off), mss && 'mss' in mss ? mss.mss : -1, name);
  }
});

test('goldens: checksums verify, and a full recompute reproduces the kernel value', () => {
  for (const [name, v6] of GOLDENS) {
    const f = golden(name);
    const { l4off, l4len } = seg(f, v6);
    assert.ok(v6 ? tcpCsumOkV6(f, L3, l4off, l4len) : tcpCsumOkV4(f, L3, l4off, l4len), name);
    const c = f.slice();
    c[l4off + TCP_CSUM] ^= 0x5a;
    assert.ok(!(v6 ? tcpCsumOkV6(c, L3, l4off, l4len) : tcpCsumOkV4(c, L3, l4off, l4len)), name);
    if (v6) tcpFillCsumV6(c, L3, l4off, l4len);
    else tcpFillCsumV4(c, L3, l4off, l4len);
    assert.equal(toHex(c), toHex(f), name);
  }
});

test('tcpFindOption walks to each kind (offsets from the tshark option order)', () => {
  const syn = golden('tcp4-syn');
  const o = seg(syn, false).l4off + TCP_HLEN; // MSS(4) SACK_PERM(2) TS(10) NOP WS(3)
  assert.equal(tcpFindOption(syn, o - TCP_HLEN, TCPOPT_MSS), o);
  assert.equal(tcpFindOption(syn, o - TCP_HLEN, TCPOPT_SACK_PERM), o + 4);
  assert.equal(tcpFindOption(syn, o - TCP_HLEN, TCPOPT_TIMESTAMP), o + 6);
  assert.equal(tcpFindOption(syn, o - TCP_HLEN, TCPOPT_NOP), o + 16);
  assert.equal(tcpFindOption(syn, o - TCP_HLEN, TCPOPT_WSCALE), o + 17);
  assert.equal(tcpFindOption(syn, o - TCP_HLEN, TCPOPT_SACK), -1);
  assert.equal(tcpWindowScale(syn, o - TCP_HLEN), 10);
  const opts = golden('tcp4-options');
  const l4 = seg(opts, false).l4off; // NOP MSS(4) SACK(18) 254(6) EOL...
  assert.equal(tcpFindOption(opts, l4, TCPOPT_MSS), l4 + 21);
  assert.equal(tcpFindOption(opts, l4, TCPOPT_SACK), l4 + 25);
  assert.equal(tcpFindOption(opts, l4, 254), l4 + 43);
  assert.equal(tcpFindOption(opts, l4, TCPOPT_TIMESTAMP), -1); // stops at EOL
  assert.equal(tcpWindowScale(opts, l4), -1);
  const data = golden('tcp4-data');
  assert.equal(tcpMss(data, seg(data, false).l4off), -1);
});

test('tcpSetMss clamps in place with a correct checksum, at even and odd offsets', () => {
  for (const name of ['tcp4-syn', 'tcp4-options']) {
    const f = golden(name);
    const { l4off, l4len } = seg(f, false);
    assert.equal(tcpSetMss(f, l4off, 1200, false), true);
    assert.equal(tcpMss(f, l4off), 1200);
    assert.ok(tcpCsumOkV4(f, L3, l4off, l4len), name);
  }
  // Partial form: option bytes change, the pseudo-header sum in the field does not.
  const p = golden('tcp4-syn');
  const l4 = seg(p, false).l4off;
  const before = u16(p, l4 + TCP_CSUM);
  assert.equal(tcpSetMss(p, l4, 1000, true), true);
  assert.equal(u16(p, l4 + TCP_CSUM), before);
  assert.equal(tcpMss(p, l4), 1000);
  // No MSS option: nothing is touched.
  const d = golden('tcp4-data');
  const dc = d.slice();
  assert.equal(tcpSetMss(dc, seg(d, false).l4off, 1000, false), false);
  assert.equal(toHex(dc), toHex(d));
});

test('an MSS option with the wrong length is ignored by readers, not fatal to the check', () => {
  const f = golden('tcp4-options');
  const { l4off, l4len } = seg(f, false);
  const c = f.slice();
  // Turn the 18-byte SACK into an unknown-length "MSS" of 18: framing still holds.
  c[l4off + 25] = TCPOPT_MSS;
  const mssAt = l4off + 21;
  c[mssAt] = 253; // and hide the real MSS behind an experimental kind
  assert.equal(tcpCheck(c, l4off, l4len), Reason.OK);
  assert.equal(tcpMss(c, l4off), -1);
  assert.equal(tcpSetMss(c, l4off, 536, false), false);
  const r = tcpParse(c, l4off);
  assert.deepEqual(r.options[2], { kind: TCPOPT_MSS, data: c.slice(l4off + 27, l4off + 43) });
});

test('bad input: truncated, bad doff, bad option lengths', () => {
  const f = golden('tcp4-syn');
  const { l4off, l4len } = seg(f, false);
  assert.equal(tcpCheck(f, l4off, TCP_HLEN - 1), Reason.TCP_TRUNCATED);
  assert.equal(tcpCheck(f.subarray(0, l4off + 19), l4off, l4len), Reason.TCP_TRUNCATED);
  assert.equal(tcpCheck(f, -3, l4len), Reason.TCP_TRUNCATED);
  const doff = (d: number): Uint8Array => {
    const c = f.slice();
    c[l4off + 12] = (d << 4) | (c[l4off + 12] & 0x0f);
    return c;
  };
  assert.equal(tcpCheck(doff(4), l4off, l4len), Reason.TCP_BAD_DOFF);
  assert.equal(tcpCheck(doff(0), l4off, l4len), Reason.TCP_BAD_DOFF);
  assert.equal(tcpCheck(doff(11), l4off, l4len), Reason.TCP_BAD_DOFF); // 44 > 40 bytes present
  assert.equal(tcpCheck(f, l4off, 39), Reason.TCP_BAD_DOFF);
  assert.equal(tcpDoff(doff(15), l4off), 15);
  const opt = (i: number, v: number): Uint8Array => {
    const c = f.slice();
    c[l4off + TCP_HLEN + i] = v;
    return c;
  };
  assert.equal(tcpCheck(opt(1, 0), l4off, l4len), Reason.TCP_BAD_OPTIONS); // MSS length 0
  assert.equal(tcpCheck(opt(1, 1), l4off, l4len), Reason.TCP_BAD_OPTIONS); // MSS length 1
  // Kind 30 with length 1 in place of WS, followed by bytes that would read as two NOPs.
  const len1 = f.slice();
  len1.set([30, 1, TCPOPT_NOP], l4off + TCP_HLEN + 17);
  assert.equal(tcpCheck(len1, l4off, l4len), Reason.TCP_BAD_OPTIONS);
  assert.equal(tcpCheck(opt(7, 30), l4off, l4len), Reason.TCP_BAD_OPTIONS); // TS runs past doff
  // WS length 2 leaves its shift byte (10) as a kind in the last byte, with no length byte.
  assert.equal(tcpCheck(opt(18, 2), l4off, l4len), Reason.TCP_BAD_OPTIONS);
  assert.equal(tcpCheck(opt(18, 4), l4off, l4len), Reason.TCP_BAD_OPTIONS); // WS runs one past doff
  // EOL ends the list: whatever follows is padding and is not inspected.
  const eol = opt(6, 0);
  eol[l4off + TCP_HLEN + 7] = 0;
  assert.equal(tcpCheck(eol, l4off, l4len), Reason.OK);
  assert.equal(tcpFindOption(eol, l4off, TCPOPT_WSCALE), -1);
});

const u32a = fc.integer({ min: 0, max: 0xffffffff });
const arbKnown: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: TCPOPT_NOP }),
  fc.integer({ min: 0, max: 0xffff }).map((mss): TcpOption => ({ kind: TCPOPT_MSS, mss })),
  fc.integer({ min: 0, max: 255 }).map((shift): TcpOption => ({ kind: TCPOPT_WSCALE, shift })),
  fc.constant<TcpOption>({ kind: TCPOPT_SACK_PERM }),
  fc
    .array(fc.record({ left: u32a, right: u32a }), { minLength: 1, maxLength: 4 })
    .map((bl): TcpOption => ({ kind: TCPOPT_SACK, blocks: bl.map((x) => ({ ...x })) })),
  fc.tuple(u32a, u32a).map(([tsval, tsecr]): TcpOption => ({ kind: TCPOPT_TIMESTAMP, tsval, tsecr })),
  fc
    .tuple(
      fc.integer({ min: 6, max: 255 }).filter((k) => k !== TCPOPT_TIMESTAMP),
      fc.uint8Array({ maxLength: 12 }),
    )
    .map(([kind, data]): TcpOption => ({ kind, data })),
);

/** Options lists that fit in 40 bytes. */
const arbOptions = fc.array(arbKnown, { maxLength: 8 }).map((opts) => {
  const kept: TcpOption[] = [];
  let n = 0;
  for (const o of opts) {
    const l =
      'data' in o
        ? 2 + o.data.length
        : 'blocks' in o
          ? 2 + 8 * o.blocks.length
          : 'tsval' in o
            ? 10
            : 'mss' in o
              ? 4
              : 'shift' in o
                ? 3
                : o.kind === TCPOPT_NOP
                  ? 1
                  : 2;
    if (n + l <= 40) {
      kept.push(o);
      n += l;
    }
  }
  return kept;
});

const arbRepr: fc.Arbitrary<TcpRepr> = fc.record({
  srcPort: fc.integer({ min: 0, max: 0xffff }),
  dstPort: fc.integer({ min: 0, max: 0xffff }),
  seq: u32a,
  ack: u32a,
  flags: fc.integer({ min: 0, max: 255 }),
  reserved: fc.integer({ min: 0, max: 15 }),
  window: fc.integer({ min: 0, max: 0xffff }),
  urgent: fc.integer({ min: 0, max: 0xffff }),
  options: arbOptions,
  csum: fc.integer({ min: 0, max: 0xffff }),
});

test('emit then parse round-trips any TcpRepr; the result checks OK', () => {
  fc.assert(
    fc.property(arbRepr, fc.nat(5), (r, at) => {
      const hl = tcpEmitLen(r);
      const b = poisoned(at + hl + 1);
      assert.equal(tcpEmit(r, b, at), hl);
      assert.equal(b[at + hl], 0xa5);
      assert.equal(tcpCheck(b, at, hl), Reason.OK);
      const back = tcpParse(b, at);
      assert.equal(JSON.stringify(back, replacer), JSON.stringify(r, replacer));
      const mss = r.options.find((o) => 'mss' in o);
      assert.equal(tcpMss(b, at), mss && 'mss' in mss ? mss.mss : -1);
    }),
  );
});

/** Canonical JSON for comparing Reprs made of plain and null-prototype objects and typed arrays. */
function replacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (v !== null && typeof v === 'object' && !Array.isArray(v))
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)));
  return v;
}

test('tcpCheck and the option readers never throw on random bytes and stay in bounds', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.integer({ min: -2, max: 120 }),
      (body, pre, post, lenArg) => {
        const n = Math.min(Math.max(lenArg, 0), body.length);
        const big = new Uint8Array(pre.length + body.length + post.length);
        big.set(pre, 0);
        big.set(body, pre.length);
        big.set(post, pre.length + body.length);
        const exact = body.slice(0, n);
        const r = tcpCheck(exact, 0, n);
        assert.ok(REASONS.has(r));
        assert.equal(tcpCheck(big, pre.length, n), r);
        assert.ok(REASONS.has(tcpCheck(body, 0, lenArg)));
        if (r === Reason.OK) {
          // After a good check the readers agree whatever surrounds the header.
          for (const k of [TCPOPT_MSS, TCPOPT_WSCALE, TCPOPT_SACK, 99]) {
            const o = tcpFindOption(exact, 0, k);
            assert.equal(tcpFindOption(big, pre.length, k), o < 0 ? -1 : o + pre.length);
            assert.ok(o === -1 || (o >= TCP_HLEN && o < tcpHeaderLen(exact, 0)));
          }
          assert.equal(tcpMss(big, pre.length), tcpMss(exact, 0));
          tcpParse(exact, 0);
        }
        if (body.length >= 13) {
          // Unchecked headers: the readers must still not throw or run off the buffer.
          const o = tcpFindOption(body, 0, TCPOPT_MSS);
          assert.ok(o === -1 || o < body.length);
          const m = tcpMss(body, 0);
          assert.ok(m >= -1 && m <= 0xffff);
        }
      },
    ),
  );
});

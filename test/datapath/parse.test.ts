import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameInfo, parseFrame, parseFrameGeneral } from '../../src/datapath/parse.ts';
import { Reason } from '../../src/wire/reason.ts';
import { ipv4FillCsum } from '../../src/wire/ipv4.ts';
import { allGoldens } from '../helpers/golden.ts';

const REASONS = new Set<number>(Object.values(Reason));
const corpus = [...allGoldens().values()];

/** Every field of a FrameInfo, with offsets made relative to the frame start. */
function snapshot(fi: FrameInfo, base: number): unknown[] {
  return [
    fi.ethOff - base,
    fi.frameLen,
    fi.ethertype,
    fi.af,
    fi.af ? fi.l3off - base : 0,
    fi.af ? fi.l3len : 0,
    fi.ttl,
    fi.proto,
    fi.proto ? fi.l4off - base : 0,
    fi.proto ? fi.l4len : 0,
    fi.saddr,
    fi.daddr,
    fi.sport,
    fi.dport,
    fi.tcpFlags,
    fi.icmpType,
    fi.icmpCode,
    fi.fragment,
  ];
}

/**
 * Parses `frame` three ways — alone in an exact-size buffer, and at an offset inside buffers
 * padded with 0x00 and with 0xff — and requires the same reason and the same FrameInfo. A parser
 * that read outside the frame would see different bytes (or undefined) in the three placements.
 */
function parseEverywhere(frame: Uint8Array): number {
  const fi = new FrameInfo();
  const exact = Uint8Array.from(frame);
  const r0 = parseFrame(exact, 0, exact.length, fi);
  const s0 = snapshot(fi, 0);
  for (const fill of [0x00, 0xff]) {
    const pad = 37;
    const big = new Uint8Array(frame.length + 2 * pad).fill(fill);
    big.set(frame, pad);
    const r = parseFrame(big, pad, frame.length, fi);
    assert.equal(r, r0, `reason differs with padding 0x${fill.toString(16)}`);
    assert.deepEqual(snapshot(fi, pad), s0);
  }
  assert.ok(REASONS.has(r0), `unknown reason ${r0}`);
  // parseFrame's inline fast path must agree with the general checks on every frame, accepted or not.
  const gi = new FrameInfo();
  const fresh = new FrameInfo();
  const rf = parseFrame(exact, 0, exact.length, fresh);
  assert.equal(parseFrameGeneral(exact, 0, exact.length, gi), rf, 'fast path and general path disagree');
  assert.deepEqual(snapshot(gi, 0), snapshot(fresh, 0), 'fast path and general path fill different info');
  return r0;
}

test('every golden frame parses to OK (or the fragment / unknown-protocol reason it is about)', () => {
  const allowed = new Set<number>([Reason.OK, Reason.IPV6_FRAGMENT, Reason.L4_PROTO_UNKNOWN]);
  const golden = allGoldens();
  assert.ok(golden.size > 40, 'the golden corpus is there');
  // Goldens that exist to be refused.
  const expected = new Map<string, number>([['wire/ipv6-nine-dstopts', Reason.IPV6_EXT_TOO_MANY]]);
  for (const [name, f] of golden) {
    const r = parseEverywhere(f);
    if (expected.has(name)) assert.equal(r, expected.get(name), name);
    else assert.ok(allowed.has(r), `${name}: reason ${r}`);
  }
});

test('a TCP SYN golden fills the frame info', () => {
  const f = allGoldens('wire').get('wire/tcp4-syn')!;
  const fi = new FrameInfo();
  assert.equal(parseFrame(f, 0, f.length, fi), Reason.OK);
  assert.equal(fi.af, 4);
  assert.equal(fi.proto, 6);
  assert.equal(fi.l3off, 14);
  assert.equal(fi.l4off, 34);
  assert.equal(fi.tcpFlags & 0x02, 0x02);
  assert.ok(fi.sport > 0 && fi.dport > 0);
});

test('bad input: each defect has its own reason', () => {
  const f = allGoldens('wire').get('wire/tcp4-syn')!;
  const fi = new FrameInfo();
  const at = (mut: (b: Uint8Array) => void, len = f.length): number => {
    const b = Uint8Array.from(f);
    mut(b);
    return parseFrame(b, 0, len, fi);
  };
  assert.equal(
    at(() => {}, 10),
    Reason.ETH_TRUNCATED,
  );
  assert.equal(
    at(() => {}, 70000),
    Reason.FRAME_OVERSIZED,
  );
  assert.equal(
    at((b) => ((b[12] = 0x88), (b[13] = 0xb5))),
    Reason.ETHERTYPE_UNKNOWN,
  );
  assert.equal(
    at(() => {}, 20),
    Reason.IPV4_TRUNCATED,
  );
  assert.equal(
    at((b) => (b[14] = 0x65)),
    Reason.IPV4_BAD_VERSION,
  );
  assert.equal(
    at((b) => (b[14] = 0x43)),
    Reason.IPV4_BAD_IHL,
  );
  assert.equal(
    at((b) => (b[16] = 0xff)),
    Reason.IPV4_BAD_TOTLEN,
  );
  assert.equal(
    at((b) => (b[24] ^= 0x40)),
    Reason.IPV4_BAD_CSUM,
  );
  assert.equal(
    at((b) => (b[23] = 99)),
    Reason.IPV4_BAD_CSUM,
  );
  assert.equal(
    at((b) => (b[14 + 20 + 12] = 0x30)),
    Reason.TCP_BAD_DOFF,
  );
  assert.equal(
    at(() => {}, 14 + 20 + 10),
    Reason.IPV4_BAD_TOTLEN,
  );
});

test('an IPv4 fragment is reported with its addresses filled', () => {
  const f = Uint8Array.from(allGoldens('wire').get('wire/udp4')!);
  // Set MF and fix the header checksum.
  f[14 + 6] |= 0x20;
  f[24] = f[25] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (f[14 + i] << 8) | f[15 + i];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f[24] = (~s >>> 8) & 0xff;
  f[25] = ~s & 0xff;
  const fi = new FrameInfo();
  assert.equal(parseFrame(f, 0, f.length, fi), Reason.IPV4_FRAGMENT);
  assert.equal(fi.fragment, true);
  assert.ok(fi.daddr !== 0);
});

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 4000);

test(`fuzz (${FUZZ_MS} ms): random and mutated golden frames through the full parse path`, () => {
  const mutated = fc
    .tuple(
      fc.constantFrom(...corpus),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.nat(),
    )
    .map(([g, muts, cut]) => {
      const b = Uint8Array.from(g);
      for (const [i, v] of muts) b[i % b.length] = v;
      return b.subarray(0, Math.max(0, b.length - (cut % 24 === 0 ? cut % b.length : 0)));
    });
  const random = fc.uint8Array({ minLength: 0, maxLength: 200 });
  fc.assert(
    fc.property(fc.oneof(mutated, random), (frame) => {
      parseEverywhere(frame);
    }),
    { interruptAfterTimeLimit: FUZZ_MS, numRuns: Number.MAX_SAFE_INTEGER },
  );
});

test('fast path vs general path: IPv4 frames with a valid header checksum and arbitrary L4 bytes', () => {
  // Mutated goldens mostly break the IPv4 checksum and so leave the fast path at once; here the
  // IPv4 header is always well formed and checksummed, so the fast path decides on the rest:
  // protocol, total length against the frame, fragment bits, and the TCP/UDP header checks.
  const frame = fc
    .record({
      proto: fc.constantFrom(6, 17, 1, 132, 47),
      l4: fc.uint8Array({ minLength: 0, maxLength: 80 }),
      extra: fc.integer({ min: -8, max: 8 }),
      frag: fc.constantFrom(0, 0, 0x4000, 0x2000, 0x0001, 0x8000),
      trailer: fc.integer({ min: 0, max: 6 }),
    })
    .map(({ proto, l4, extra, frag, trailer }) => {
      const f = new Uint8Array(34 + l4.length + trailer);
      f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00], 0);
      const tot = Math.max(0, Math.min(0xffff, 20 + l4.length + extra));
      f.set([0x45, 0, tot >> 8, tot & 0xff, 0x12, 0x34, frag >> 8, frag & 0xff, 64, proto, 0, 0], 14);
      f.set([10, 0, 0, 1, 10, 0, 0, 100], 26);
      ipv4FillCsum(f, 14);
      f.set(l4, 34);
      return f;
    });
  fc.assert(
    fc.property(frame, (f) => {
      parseEverywhere(f);
    }),
    { numRuns: 3000 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  csumAdd,
  csumCompletePartial,
  csumFold,
  csumPartialReplace128,
  csumPartialReplace32,
  csumReplace128,
  csumReplace16,
  csumReplace32,
  csumVerifies,
  internetChecksum,
  pseudoSumV4,
  pseudoSumV6,
  udpCsumMangle,
} from '../../src/wire/checksum.ts';
import { hex } from '../helpers/bytes.ts';

/** Naive reference: RFC 1071 straight from the text, one word at a time, folding as it goes. */
function naiveChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) {
    s += (b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

/** Two checksum values are the same one's-complement number (0x0000 and 0xffff are both zero). */
function sameOnes(a: number, b: number): boolean {
  return a === b || (a === 0 && b === 0xffff) || (a === 0xffff && b === 0);
}

test('RFC 1071 example sums to ddf2 (§3 numeric example)', () => {
  // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 have the one's-complement sum ddf2.
  assert.equal(csumFold(csumAdd(hex('0001f203f4f5f6f7'), 0, 8)), 0xddf2);
});

test('a known IPv4 header checksum (verified with tshark: "Header checksum: 0xb861 [correct]")', () => {
  // The classic Wikipedia example header, with checksum zeroed, then compared to b861.
  const h = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  assert.equal(internetChecksum(h, 0, 20), 0xb861);
});

test('full checksum equals the naive reference for any bytes, any length (odd included)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 2000 }), (b) => {
      assert.equal(internetChecksum(b, 0, b.length), naiveChecksum(b));
    }),
  );
});

test('csumAdd is exact on 64 KiB of 0xff (no 32-bit overflow)', () => {
  const b = new Uint8Array(65536).fill(0xff);
  assert.equal(csumFold(csumAdd(b, 0, b.length)), 0xffff);
  assert.equal(internetChecksum(b, 0, b.length), naiveChecksum(b));
});

test('splitting a region at any even offset gives the same sum (gVisor split test)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 600 }), fc.nat(), (b, k) => {
      const cut = (k % (b.length >> 1)) * 2;
      const whole = csumFold(csumAdd(b, 0, b.length));
      const parts = csumFold(csumAdd(b, cut, b.length - cut, csumAdd(b, 0, cut)));
      assert.equal(parts, whole);
    }),
  );
});

test('incremental 16-bit update equals a full recompute (RFC 1624)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 400 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffff }),
      (raw, k, nv) => {
        const b = Uint8Array.from(raw.length % 2 ? [...raw, 0] : raw);
        const at = (k % (b.length / 2)) * 2;
        const check = internetChecksum(b, 0, b.length);
        const old = (b[at] << 8) | b[at + 1];
        b[at] = nv >>> 8;
        b[at + 1] = nv & 0xff;
        assert.ok(sameOnes(csumReplace16(check, old, nv), internetChecksum(b, 0, b.length)));
      },
    ),
  );
});

test('incremental 32-bit and 128-bit updates equal a full recompute', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 40, maxLength: 400 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (raw, k, nv, n16) => {
        const b = Uint8Array.from(raw.length % 2 ? [...raw, 0] : raw);
        const at = (k % ((b.length - 16) / 2)) * 2;
        const c0 = internetChecksum(b, 0, b.length);
        const old32 = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
        const b32 = b.slice();
        b32.set([nv >>> 24, (nv >>> 16) & 0xff, (nv >>> 8) & 0xff, nv & 0xff], at);
        assert.ok(sameOnes(csumReplace32(c0, old32, nv), internetChecksum(b32, 0, b32.length)));
        const b128 = b.slice();
        b128.set(n16, at);
        assert.ok(sameOnes(csumReplace128(c0, b, at, n16, 0), internetChecksum(b128, 0, b128.length)));
      },
    ),
  );
});

test('CHECKSUM_PARTIAL: rewriting a pseudo-header address then completing equals a full checksum', () => {
  // A UDP/IPv4 segment whose checksum field holds the folded pseudo-header sum (as a veth with
  // tx-checksumming on hands it to AF_PACKET). NAT rewrites the destination address with the
  // partial update and the port directly; completing in software must give the true checksum.
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      (src, dst, ndst, nport, payload) => {
        const len = 8 + payload.length;
        const seg = new Uint8Array(len);
        seg.set([0x30, 0x39, 0x00, 0x50, len >>> 8, len & 0xff, 0, 0]);
        seg.set(payload, 8);
        const partial = csumFold(pseudoSumV4(src, dst, 17, len));
        seg[6] = partial >>> 8;
        seg[7] = partial & 0xff;
        // NAT: dst address through the partial update; dst port needs no checksum change.
        const upd = csumPartialReplace32(partial, dst, ndst);
        seg[2] = nport >>> 8;
        seg[3] = nport & 0xff;
        seg[6] = upd >>> 8;
        seg[7] = upd & 0xff;
        csumCompletePartial(seg, 0, len, 6, true);
        const expect = seg.slice();
        expect[6] = expect[7] = 0;
        const full = udpCsumMangle(
          ~csumFold(csumAdd(expect, 0, len, pseudoSumV4(src, ndst, 17, len))) & 0xffff,
        );
        assert.equal((seg[6] << 8) | seg[7], full);
        assert.ok(csumVerifies(seg, 0, len, pseudoSumV4(src, ndst, 17, len)));
      },
    ),
  );
});

test('CHECKSUM_PARTIAL 128-bit update matches a fresh IPv6 pseudo-header sum', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 48, maxLength: 48 }),
      fc.integer({ min: 8, max: 9000 }),
      (addrs, l4len) => {
        const hdr = addrs.slice(0, 32);
        const nd = addrs.slice(32, 48);
        const before = csumFold(pseudoSumV6(hdr, 0, 16, 6, l4len));
        const after = csumPartialReplace128(before, hdr, 16, nd, 0);
        hdr.set(nd, 16);
        assert.ok(sameOnes(after, csumFold(pseudoSumV6(hdr, 0, 16, 6, l4len))));
      },
    ),
  );
});

test('UDP zero rule: a computed 0 is sent as 0xffff', () => {
  assert.equal(udpCsumMangle(0), 0xffff);
  assert.equal(udpCsumMangle(0x1234), 0x1234);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rewriteDst4, rewriteSrc4 } from '../../src/xmit/rewrite.ts';
import { tcpCsumOkV4 } from '../../src/wire/tcp.ts';
import { udpCsumOkV4 } from '../../src/wire/udp.ts';
import { csumCompletePartial, csumVerifies } from '../../src/wire/checksum.ts';
import { ipv4ToString } from '../../src/wire/addr.ts';
import { tcp4, udp4 } from '../helpers/packet.ts';
import { crc32c, sctpFillCsum, sctpCsumOk } from '../../src/wire/sctp.ts';

const arbAddr = fc.integer({ min: 1, max: 0xfffffffe });
const arbPort = fc.integer({ min: 1, max: 65535 });

function ipOk(b: Uint8Array): boolean {
  return csumVerifies(b, 14, 20);
}

test('TCP: incremental dnat/snat rewrites verify by full recompute (normal form)', () => {
  fc.assert(
    fc.property(
      arbAddr,
      arbAddr,
      arbPort,
      arbPort,
      arbAddr,
      arbPort,
      fc.boolean(),
      fc.uint8Array({ maxLength: 300 }),
      (s, d, sp, dp, na, np, src, payload) => {
        const f = tcp4({
          src: ipv4ToString(s),
          dst: ipv4ToString(d),
          sport: sp,
          dport: dp,
          flags: 0x18,
          payload,
        });
        const l4len = f.length - 34;
        (src ? rewriteSrc4 : rewriteDst4)(f, 14, 34, l4len, 6, na, np, false);
        assert.ok(ipOk(f), 'IP checksum');
        assert.ok(tcpCsumOkV4(f, 14, 34, l4len), 'TCP checksum');
        const at = src ? 26 : 30;
        assert.equal(((f[at] << 24) | (f[at + 1] << 16) | (f[at + 2] << 8) | f[at + 3]) >>> 0, na);
        assert.equal((f[34 + (src ? 0 : 2)] << 8) | f[35 + (src ? 0 : 2)], np);
      },
    ),
  );
});

test('TCP CHECKSUM_PARTIAL: rewrite then completion equals the full checksum', () => {
  fc.assert(
    fc.property(
      arbAddr,
      arbAddr,
      arbAddr,
      arbPort,
      fc.boolean(),
      fc.uint8Array({ maxLength: 300 }),
      (s, d, na, np, src, payload) => {
        const f = tcp4({
          src: ipv4ToString(s),
          dst: ipv4ToString(d),
          sport: 1234,
          dport: 80,
          flags: 0x18,
          payload,
          partial: true,
        });
        const l4len = f.length - 34;
        (src ? rewriteSrc4 : rewriteDst4)(f, 14, 34, l4len, 6, na, np, true);
        csumCompletePartial(f, 34, l4len, 34 + 16, false);
        assert.ok(ipOk(f));
        assert.ok(tcpCsumOkV4(f, 14, 34, l4len));
      },
    ),
  );
});

test('UDP: rewrites verify; a zero checksum gets a full one, as udp_dnat_handler does', () => {
  fc.assert(
    fc.property(
      arbAddr,
      arbAddr,
      arbAddr,
      arbPort,
      fc.boolean(),
      fc.boolean(),
      fc.uint8Array({ maxLength: 300 }),
      (s, d, na, np, src, noCsum, payload) => {
        const f = udp4({
          src: ipv4ToString(s),
          dst: ipv4ToString(d),
          sport: 5353,
          dport: 53,
          payload,
          noCsum,
        });
        const l4len = f.length - 34;
        (src ? rewriteSrc4 : rewriteDst4)(f, 14, 34, l4len, 17, na, np, false);
        assert.ok(ipOk(f));
        assert.notEqual((f[40] << 8) | f[41], 0, 'checksum present after NAT');
        assert.ok(udpCsumOkV4(f, 14, 34, l4len));
      },
    ),
  );
});

test('CRC32c known answer: "123456789" → e3069283 (RFC 3720 B.4 check value)', () => {
  const b = new TextEncoder().encode('123456789');
  assert.equal(crc32c(b, 0, b.length), 0xe3069283);
});

test('SCTP: a port rewrite leaves a valid CRC32c', () => {
  const pkt = new Uint8Array(14 + 20 + 28);
  // IPv4 header: only the fields rewriteDst4 touches matter for SCTP.
  pkt.set([0x45, 0, 0, 48, 0, 0, 0x40, 0, 64, 132, 0, 0, 10, 0, 0, 1, 10, 0, 0, 100], 14);
  pkt.set([0x13, 0x88, 0x00, 0x50, 1, 2, 3, 4, 0, 0, 0, 0, 1, 0, 0, 16], 34);
  sctpFillCsum(pkt, 34, 28);
  assert.ok(sctpCsumOk(pkt, 34, 28));
  rewriteDst4(pkt, 14, 34, 28, 132, 0xc0a80a01, 8080, false);
  assert.equal((pkt[36] << 8) | pkt[37], 8080);
  assert.ok(sctpCsumOk(pkt, 34, 28));
});

/**
 * Software TCP and UDP segmentation (tcp_gso_segment, __udp_gso_segment) and the TUN path that
 * uses it: a GSO super-frame
 * with a CHECKSUM_PARTIAL checksum, as a veth peer with TSO on delivers it, comes out as ordinary
 * segments, each wrapped in its own tunnel header. The segments are checked field by field against
 * the super-frame, by full checksum recomputation, and (when installed) by tshark's decode with its
 * checksum validation turned on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tcpSegmentV4, udpSegmentV4 } from '../../src/xmit/gso.ts';
import { tcp4, udp4 } from '../helpers/packet.ts';
import { tcpCsumOkV4 } from '../../src/wire/tcp.ts';
import { udpCsumOkV4 } from '../../src/wire/udp.ts';
import { internetChecksum } from '../../src/wire/checksum.ts';
import { Lab, MAC } from '../datapath/fixture.ts';
import { Fwd, TunType } from '../../src/model/flags.ts';
import { RxFlag } from '../../src/datapath/pipeline.ts';
import { Dp, Verdict } from '../../src/datapath/verdict.ts';
import { hasTshark, tsharkDecode } from '../helpers/tshark.ts';
import { macFromString } from '../../src/wire/addr.ts';

const u16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number) =>
  ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

const PSH = 0x08;
const ACK = 0x10;
const FIN = 0x01;
const CWR = 0x80;

/** A super-frame: timestamps option (doff 32), `n` payload bytes of a counter pattern. */
function superFrame(n: number, flags: number, seq = 0xfffff000): Uint8Array {
  const payload = new Uint8Array(n);
  for (let i = 0; i < n; i++) payload[i] = (i * 7 + 3) & 0xff;
  return tcp4({
    src: '203.0.113.5',
    dst: '10.0.0.100',
    sport: 40000,
    dport: 80,
    flags,
    seq,
    ack: 777,
    id: 0xfffe,
    options: [{ kind: 1 }, { kind: 1 }, { kind: 8, tsval: 1, tsecr: 2 }],
    payload,
    partial: true,
  });
}

function checkSegments(sup: Uint8Array, segs: Uint8Array[], mss: number): void {
  const doff = (sup[14 + 20 + 12] >>> 4) * 4;
  const hdr = 14 + 20 + doff;
  const payload = sup.subarray(hdr);
  assert.equal(segs.length, Math.max(1, Math.ceil(payload.length / mss)));
  const flags0 = sup[14 + 20 + 13];
  let at = 0;
  for (const [k, s] of segs.entries()) {
    const last = k === segs.length - 1;
    const len = s.length - hdr;
    assert.equal(len, last ? payload.length - at : mss, `segment ${k} length`);
    assert.deepEqual(s.subarray(0, 14), sup.subarray(0, 14), 'Ethernet header copied');
    assert.equal(u16(s, 16), 20 + doff + len, 'IPv4 total length');
    assert.equal(u16(s, 18), (0xfffe + k) & 0xffff, 'IPv4 id incremented per segment');
    assert.equal(internetChecksum(s, 14, 20), 0, 'IPv4 header checksum');
    assert.equal(u32(s, 38), (u32(sup, 38) + at) >>> 0, 'sequence number (wraps)');
    assert.equal(u32(s, 42), u32(sup, 42), 'ack unchanged');
    let want = flags0;
    if (!last) want &= ~(FIN | PSH);
    if (k !== 0) want &= ~CWR;
    assert.equal(s[47], want, `flags of segment ${k}`);
    assert.deepEqual(s.subarray(54, hdr), sup.subarray(54, hdr), 'options copied');
    assert.ok(tcpCsumOkV4(s, 14, 34, s.length - 34), `TCP checksum of segment ${k}`);
    assert.deepEqual(s.subarray(hdr), payload.subarray(at, at + len), 'payload bytes');
    at += len;
  }
  assert.equal(at, payload.length, 'every payload byte once');
}

function segment(sup: Uint8Array, mss: number): Uint8Array[] {
  const slot = 2048;
  const most = Math.ceil(sup.length / mss) + 1;
  const dst = new Uint8Array(slot * most).fill(0xee);
  const lens = new Int32Array(most);
  const n = tcpSegmentV4(sup, 0, 14, 34, sup.length - 14, mss, dst, slot, most, lens);
  assert.ok(n > 0, `segmented (${n})`);
  return Array.from({ length: n }, (_, k) => dst.slice(k * slot, k * slot + lens[k]));
}

test('a 3.5-MSS super-frame: four segments, flags, ids, sequence (across the wrap), checksums', () => {
  const sup = superFrame(1448 * 3 + 700, ACK | PSH | FIN | CWR);
  const segs = segment(sup, 1448);
  assert.equal(segs.length, 4);
  checkSegments(sup, segs, 1448);
  if (hasTshark()) {
    const out = tsharkDecode(segs, [
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'ip.check_checksum:TRUE',
      '-T',
      'fields',
      '-e',
      'ip.checksum.status',
      '-e',
      'tcp.checksum.status',
      '-e',
      'tcp.len',
      '-e',
      'tcp.flags.str',
    ]);
    const rows = out.trim().split('\n');
    assert.equal(rows.length, 4, out);
    for (const r of rows.slice(0, 3))
      assert.match(r, /^1\t1\t1448\t/, 'tshark: both checksums good (status 1), 1448 bytes');
    assert.match(rows[3], /^1\t1\t700\t/);
  }
});

test('refuses what it cannot do, without writing past its slots', () => {
  const sup = superFrame(5000, ACK);
  const lens = new Int32Array(64);
  const dst = new Uint8Array(2048 * 2);
  assert.equal(
    tcpSegmentV4(sup, 0, 14, 34, sup.length - 14, 1448, dst, 2048, 64, lens),
    -1,
    'needs 4 slots, has 2',
  );
  assert.equal(
    tcpSegmentV4(sup, 0, 14, 34, sup.length - 14, 0, new Uint8Array(1 << 16), 2048, 64, lens),
    -1,
    'mss 0',
  );
  assert.equal(
    tcpSegmentV4(sup, 0, 14, 34, sup.length - 14, 3000, new Uint8Array(1 << 16), 2048, 64, lens),
    -1,
    'slot too small',
  );
  assert.equal(
    tcpSegmentV4(sup, 0, 14, 34, sup.length - 14, 100, new Uint8Array(1 << 20), 2048, 8, lens),
    -1,
    'too many',
  );
});

test('property: any payload length and mss → segments that concatenate back to the payload', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 9000 }),
      fc.integer({ min: 64, max: 1460 }),
      fc.nat(),
      (n, mss, seq) => {
        const sup = superFrame(n, ACK | PSH, seq >>> 0);
        checkSegments(sup, segment(sup, mss), mss);
      },
    ),
    { numRuns: 150 },
  );
});

for (const [name, type, outer] of [
  ['ipip', TunType.IPIP, 20],
  ['gue', TunType.GUE, 32],
  ['gre', TunType.GRE, 24],
] as const) {
  test(`TUN (${name}): a GSO super-frame is segmented in software, each segment tunnelled`, () => {
    const lab = new Lab();
    const svc = lab.addService('10.0.0.100:80');
    lab.addDest(svc, '192.168.10.3:80', Fwd.TUNNEL, { tunType: type, tunPort: 6080 });
    // The handshake first, so the super-frame belongs to a conn.
    const syn = tcp4({ src: '203.0.113.5', dst: '10.0.0.100', sport: 40000, dport: 80, flags: 0x02, seq: 1 });
    assert.equal(lab.run(syn).verdict, Verdict.TX);
    const sup = superFrame(1448 * 3 + 10, ACK | PSH);
    lab.pipe.rxGsoSize = 1448;
    const r = lab.run(sup, 1, RxFlag.GSO | RxFlag.CSUM_PARTIAL);
    assert.equal(r.verdict, Verdict.TX_SEGS);
    const p = lab.pipe;
    assert.equal(p.segCount, 4);
    assert.equal(p.outIf, 2);
    assert.equal(p.counters[Dp.GSO_SEGMENTED], 1);
    // Outer MTU 1500: 1448 + 52 bytes of inner headers + the tunnel header would not fit, so the
    // segments are cut smaller (the kernel would have sent ICMP need-frag to the sender instead).
    const mss = Math.min(1448, 1500 - outer - 52);
    const inner: Uint8Array[] = [];
    for (let k = 0; k < p.segCount; k++) {
      const f = p.segBuf.slice(k * p.segSlot, k * p.segSlot + p.segLens[k]);
      assert.equal(u32(f, 0) * 65536 + u16(f, 4), macFromString(MAC.rs3), 'to the real server MAC');
      assert.equal(internetChecksum(f, 14, 20), 0, 'outer IPv4 checksum');
      assert.ok(f.length - 14 <= 1500, `segment ${k} fits the MTU (${f.length - 14})`);
      const at = 14 + outer;
      const seg = new Uint8Array(14 + f.length - at);
      seg.set(sup.subarray(0, 14));
      seg.set(f.subarray(at), 14);
      inner.push(seg);
    }
    // The inner packets are the segments of the super-frame with the TTL the director took off.
    const expectedSup = sup.slice();
    expectedSup[22] -= 1;
    const ttlFixed = segment(expectedSup, mss);
    assert.equal(inner.length, Math.ceil((1448 * 3 + 10) / mss));
    for (const [k, s] of inner.entries()) {
      assert.equal(s[22], sup[22] - 1, 'inner TTL decremented once');
      assert.deepEqual(s.subarray(14 + 20), ttlFixed[k].subarray(34), `inner TCP segment ${k}`);
    }
  });
}

/** A UDP GSO super-frame (UDP_SEGMENT); its checksum does not matter, every datagram gets a new one. */
function udpSuper(n: number, df = true): Uint8Array {
  const payload = new Uint8Array(n);
  for (let i = 0; i < n; i++) payload[i] = (i * 13 + 1) & 0xff;
  return udp4({ src: '203.0.113.5', dst: '10.0.0.100', sport: 5353, dport: 53, payload, id: 0xfffe, df });
}

function udpSegment(sup: Uint8Array, size: number): Uint8Array[] {
  const slot = 2048;
  const most = Math.ceil(sup.length / size) + 1;
  const dst = new Uint8Array(slot * most).fill(0xee);
  const lens = new Int32Array(most);
  const n = udpSegmentV4(sup, 0, 14, 34, sup.length - 14, size, dst, slot, most, lens);
  assert.ok(n > 0, `segmented (${n})`);
  return Array.from({ length: n }, (_, k) => dst.slice(k * slot, k * slot + lens[k]));
}

function checkDatagrams(sup: Uint8Array, segs: Uint8Array[], size: number): void {
  const payload = sup.subarray(42);
  assert.equal(segs.length, Math.max(1, Math.ceil(payload.length / size)));
  let at = 0;
  for (const [k, s] of segs.entries()) {
    const len = s.length - 42;
    assert.equal(len, k === segs.length - 1 ? payload.length - at : size, `datagram ${k} length`);
    assert.deepEqual(s.subarray(0, 14), sup.subarray(0, 14), 'Ethernet header copied');
    assert.equal(u16(s, 16), 28 + len, 'IPv4 total length');
    assert.equal(u16(s, 18), (u16(sup, 18) + k) & 0xffff, 'IPv4 id incremented per datagram');
    assert.equal(internetChecksum(s, 14, 20), 0, 'IPv4 header checksum');
    assert.deepEqual(s.subarray(34, 38), sup.subarray(34, 38), 'ports copied');
    assert.equal(u16(s, 38), 8 + len, 'UDP length');
    assert.notEqual(u16(s, 40), 0, 'a UDP checksum is present');
    assert.ok(udpCsumOkV4(s, 14, 34, 8 + len), `UDP checksum of datagram ${k}`);
    assert.deepEqual(s.subarray(42), payload.subarray(at, at + len), 'payload bytes');
    at += len;
  }
  assert.equal(at, payload.length, 'every payload byte once');
}

test('UDP GSO: datagrams of gso_size, the last one shorter; lengths, ids, full checksums', () => {
  const sup = udpSuper(1200 * 3 + 333);
  const segs = udpSegment(sup, 1200);
  assert.equal(segs.length, 4);
  checkDatagrams(sup, segs, 1200);
  if (hasTshark()) {
    const out = tsharkDecode(segs, [
      '-o',
      'udp.check_checksum:TRUE',
      '-o',
      'ip.check_checksum:TRUE',
      '-T',
      'fields',
      '-e',
      'ip.checksum.status',
      '-e',
      'udp.checksum.status',
      '-e',
      'udp.length',
    ]);
    const rows = out.trim().split('\n');
    assert.deepEqual(rows, ['1\t1\t1208', '1\t1\t1208', '1\t1\t1208', '1\t1\t341'], out);
  }
});

test('property: any payload and gso_size → datagrams that concatenate back to the payload', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 1, max: 1472 }), (n, size) => {
      const sup = udpSuper(n);
      checkDatagrams(sup, udpSegment(sup, size), size);
    }),
    { numRuns: 150 },
  );
});

for (const [name, type, outer] of [
  ['ipip', TunType.IPIP, 20],
  ['gue', TunType.GUE, 32],
] as const) {
  test(`TUN (${name}): a UDP GSO frame becomes tunnelled datagrams of the sender's size`, () => {
    const lab = new Lab();
    const svc = lab.addService('10.0.0.100:53', {}, 17);
    lab.addDest(svc, '192.168.10.3:53', Fwd.TUNNEL, { tunType: type, tunPort: 6080 });
    const sup = udpSuper(1000 * 5 + 17);
    lab.pipe.rxGsoSize = 1000;
    const r = lab.run(sup, 1, RxFlag.GSO | RxFlag.CSUM_PARTIAL);
    assert.equal(r.verdict, Verdict.TX_SEGS);
    const p = lab.pipe;
    assert.equal(p.segCount, 6);
    assert.equal(p.counters[Dp.GSO_SEGMENTED], 1);
    const ttlFixed = sup.slice();
    ttlFixed[22] -= 1;
    const want = udpSegment(ttlFixed, 1000);
    for (let k = 0; k < p.segCount; k++) {
      const f = p.segBuf.slice(k * p.segSlot, k * p.segSlot + p.segLens[k]);
      assert.equal(u32(f, 0) * 65536 + u16(f, 4), macFromString(MAC.rs3), 'to the real server MAC');
      assert.equal(internetChecksum(f, 14, 20), 0, 'outer IPv4 checksum');
      assert.deepEqual(f.subarray(14 + outer), want[k].subarray(14), `inner datagram ${k}`);
    }
  });
}

test('TUN: UDP GSO datagrams too big for the tunnel: need-frag with DF, dropped without', () => {
  const lab = new Lab();
  const svc = lab.addService('10.0.0.100:53', {}, 17);
  lab.addDest(svc, '192.168.10.3:53', Fwd.TUNNEL);
  lab.pipe.rxGsoSize = 1472; // 1500 with its headers, 1520 with IPIP
  let r = lab.run(udpSuper(1472 * 3), 1, RxFlag.GSO | RxFlag.CSUM_PARTIAL);
  assert.equal(r.verdict, Verdict.REPLY);
  assert.equal(lab.pipe.counters[Dp.FRAG_NEEDED], 1);
  assert.equal(u16(r.out, 14 + 20 + 6), 1480, 'the MTU left inside the tunnel');
  assert.equal(r.out[14 + 20 + 8 + 8], 64, 'the quoted datagram shows the TTL the sender sent');
  assert.equal(internetChecksum(r.out, 14 + 20 + 8, 20), 0, 'the quoted header checksum is valid');
  r = lab.run(udpSuper(1472 * 3, false), 1, RxFlag.GSO | RxFlag.CSUM_PARTIAL);
  assert.equal(r.verdict, Verdict.DROP);
  assert.equal(lab.pipe.counters[Dp.GSO_TUNNEL], 1);
  assert.equal(lab.pipe.counters[Dp.GSO_SEGMENTED], 0);
});

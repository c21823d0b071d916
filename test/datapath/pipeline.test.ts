/**
 * Katran-style fixtures for the packet pipeline: a described input frame, the expected output
 * frame and verdict. Expected frames are built independently with the test packet builder, which
 * computes every checksum from scratch — the pipeline updates them incrementally, so a byte-equal
 * output also proves the incremental arithmetic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fwd, SvcFlag, TunType } from '../../src/model/flags.ts';
import { Verdict, Dp } from '../../src/datapath/verdict.ts';
import { RxFlag } from '../../src/datapath/pipeline.ts';
import { Reason } from '../../src/wire/reason.ts';
import { tcpCsumOkV4 } from '../../src/wire/tcp.ts';
import { csumVerifies } from '../../src/wire/checksum.ts';
import { tcpFindToa, toaAddrV4, toaPort } from '../../src/wire/toa.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { toHex } from '../helpers/bytes.ts';
import { icmp4, tcp4, udp4 } from '../helpers/packet.ts';
import { Lab, MAC } from './fixture.ts';

const SYN = 0x02;
const ACK = 0x10;
const SYNACK = 0x12;
const PSHACK = 0x18;
const RST = 0x04;

const CLIENT = '172.16.0.10';
const VIP = '10.0.0.100';

function syn(
  o: { sport?: number; src?: string; ttl?: number; payload?: Uint8Array; flags?: number; df?: boolean } = {},
) {
  return tcp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: o.src ?? CLIENT,
    dst: VIP,
    sport: o.sport ?? 40000,
    dport: 80,
    flags: o.flags ?? SYN,
    seq: 1000,
    ttl: o.ttl ?? 64,
    df: o.df,
    payload: o.payload,
  });
}

function eqFrame(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(toHex(actual), toHex(expected), what);
}

test('NAT: a SYN to the VIP is rewritten to the real server (dst IP, port, TTL, MACs)', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:8080', Fwd.MASQ);
  const r = lab.run(syn());
  assert.equal(r.verdict, Verdict.TX);
  assert.equal(r.outIf, 2);
  const expected = tcp4({
    srcMac: MAC.dirIn,
    dstMac: MAC.rs1,
    src: CLIENT,
    dst: '192.168.10.1',
    sport: 40000,
    dport: 8080,
    flags: SYN,
    seq: 1000,
    ttl: 63,
  });
  eqFrame(r.out, expected, 'NAT in');
});

test('NAT: the real server reply goes back from the VIP, and the handshake establishes', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:8080', Fwd.MASQ);
  lab.run(syn());
  const reply = tcp4({
    srcMac: MAC.rs1,
    dstMac: MAC.dirIn,
    src: '192.168.10.1',
    dst: CLIENT,
    sport: 8080,
    dport: 40000,
    flags: SYNACK,
    seq: 5000,
    ack: 1001,
  });
  const r = lab.run(reply, 2);
  assert.equal(r.verdict, Verdict.TX);
  assert.equal(r.outIf, 1);
  const expected = tcp4({
    srcMac: MAC.dirOut,
    dstMac: MAC.router,
    src: VIP,
    dst: CLIENT,
    sport: 80,
    dport: 40000,
    flags: SYNACK,
    seq: 5000,
    ack: 1001,
    ttl: 63,
  });
  eqFrame(r.out, expected, 'NAT out');
  lab.run(syn({ flags: ACK }));
  const t = lab.pipe.conns4;
  const [cid] = [...t.list(lab.now)].map((e) => e.id);
  assert.equal(t.stateName(cid), 'ESTABLISHED');
  const d = lab.services.list[0].dests[0];
  assert.equal(d.activeConns, 1);
  assert.equal(d.stats.inpkts, 2);
  assert.equal(d.stats.outpkts, 1);
  assert.equal(d.stats.conns, 1);
});

test('DR: only the MACs change (and the TTL, as decrement_ttl does)', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.2:80', Fwd.DROUTE);
  const r = lab.run(syn());
  assert.equal(r.verdict, Verdict.TX);
  assert.equal(r.outIf, 2);
  const expected = tcp4({
    srcMac: MAC.dirIn,
    dstMac: MAC.rs2,
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: SYN,
    seq: 1000,
    ttl: 63,
  });
  eqFrame(r.out, expected, 'DR');
});

test('TUN (ipip): an outer IPv4 header from our address to the real server wraps the packet', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.3:80', Fwd.TUNNEL);
  const r = lab.run(syn());
  assert.equal(r.verdict, Verdict.TX);
  const inner = tcp4({
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: SYN,
    seq: 1000,
    ttl: 63,
  }).subarray(14);
  const out = r.out;
  assert.equal(out.length, 14 + 20 + inner.length);
  assert.equal(
    toHex(out, 0, 12),
    toHex(
      tcp4({
        srcMac: MAC.dirIn,
        dstMac: MAC.rs3,
        src: '1.1.1.1',
        dst: '1.1.1.1',
        sport: 1,
        dport: 1,
        flags: 0,
      }),
      0,
      12,
    ),
  );
  assert.equal(out[14], 0x45);
  assert.equal(out[14 + 9], 4, 'protocol IPIP');
  assert.equal(out[14 + 8], 63, 'outer TTL = inner TTL');
  assert.equal((out[14 + 6] & 0x40) !== 0, true, 'DF copied from the inner header (pmtu_disc)');
  assert.equal(toHex(out, 14 + 12, 4), 'c0a80afe', 'outer source = our address on the route');
  assert.equal(toHex(out, 14 + 16, 4), 'c0a80a03', 'outer destination = real server');
  assert.ok(csumVerifies(out, 14, 20), 'outer header checksum');
  assert.equal(toHex(out, 34), toHex(inner), 'inner packet intact');
});

test('TUN (gue): UDP to --tun-port with a GUE header', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.3:80', Fwd.TUNNEL, { tunType: TunType.GUE, tunPort: 6080 });
  const r = lab.run(syn());
  assert.equal(r.verdict, Verdict.TX);
  assert.equal(r.out[14 + 9], 17);
  assert.equal((r.out[34 + 2] << 8) | r.out[34 + 3], 6080);
  assert.equal(r.out[42 + 1], 4, 'GUE proto_ctype = IPIP');
});

test('FullNAT: both ends rewritten, TOA carries the client on the SYN, replies come back', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`, {
    laddrs: [
      { af: 4, v4: ipv4FromString('192.168.10.200'), v6: null, fold: ipv4FromString('192.168.10.200') },
    ],
  });
  lab.addDest(svc, '192.168.10.1:8080', Fwd.FULLNAT);
  const r = lab.run(syn());
  assert.equal(r.verdict, Verdict.TX);
  const o = r.out;
  assert.equal(toHex(o, 26, 4), 'c0a80ac8', 'source = local address');
  assert.equal(toHex(o, 30, 4), 'c0a80a01', 'destination = real server');
  const lport = (o[34] << 8) | o[35];
  assert.ok(lport >= 1024);
  assert.equal((o[36] << 8) | o[37], 8080);
  const l4len = o.length - 34;
  assert.ok(csumVerifies(o, 14, 20));
  assert.ok(tcpCsumOkV4(o, 14, 34, l4len));
  const toa = tcpFindToa(o, 34, l4len);
  assert.ok(toa >= 0, 'TOA option present');
  assert.equal(toaPort(o, toa), 40000);
  assert.equal(toaAddrV4(o, toa), ipv4FromString(CLIENT));
  // The reply from the real server to our local address goes back to the client from the VIP.
  const reply = tcp4({
    srcMac: MAC.rs1,
    dstMac: MAC.dirIn,
    src: '192.168.10.1',
    dst: '192.168.10.200',
    sport: 8080,
    dport: lport,
    flags: SYNACK,
    seq: 7,
    ack: 1001,
  });
  const rr = lab.run(reply, 2);
  assert.equal(rr.verdict, Verdict.TX);
  const expected = tcp4({
    srcMac: MAC.dirOut,
    dstMac: MAC.router,
    src: VIP,
    dst: CLIENT,
    sport: 80,
    dport: 40000,
    flags: SYNACK,
    seq: 7,
    ack: 1001,
    ttl: 63,
  });
  eqFrame(rr.out, expected, 'FullNAT out');
});

test('FullNAT: the local port goes back to the pool when the conn expires', () => {
  const lab = new Lab();
  const la = ipv4FromString('192.168.10.200');
  const svc = lab.addService(`${VIP}:80`, { laddrs: [{ af: 4, v4: la, v6: null, fold: la }] });
  lab.addDest(svc, '192.168.10.1:8080', Fwd.FULLNAT);
  const first = (lab.run(syn()).out[34] << 8) | lab.run(syn()).out[35];
  assert.ok(first > 0);
  assert.equal(lab.pipe.conns4.count, 1);
  lab.now += 200_000;
  lab.pipe.tick(lab.now);
  assert.equal(lab.pipe.conns4.count, 0);
});

test('UDP NAT: rewritten both ways, always counted inactive', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:53`, {}, 17);
  lab.addDest(svc, '192.168.10.1:5353', Fwd.MASQ);
  const q = udp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT,
    dst: VIP,
    sport: 3333,
    dport: 53,
    payload: new Uint8Array([1, 2, 3]),
  });
  const r = lab.run(q);
  assert.equal(r.verdict, Verdict.TX);
  eqFrame(
    r.out,
    udp4({
      srcMac: MAC.dirIn,
      dstMac: MAC.rs1,
      src: CLIENT,
      dst: '192.168.10.1',
      sport: 3333,
      dport: 5353,
      payload: new Uint8Array([1, 2, 3]),
      ttl: 63,
    }),
    'UDP in',
  );
  const d = lab.services.list[0].dests[0];
  assert.equal(d.inactConns, 1);
  assert.equal(d.activeConns, 0);
});

test('no service for the destination: the frame passes to the host', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  const f = tcp4({ src: CLIENT, dst: '10.0.0.99', sport: 1, dport: 80, flags: SYN });
  assert.equal(lab.run(f).verdict, Verdict.PASS);
  const g = tcp4({ src: CLIENT, dst: VIP, sport: 1, dport: 81, flags: SYN });
  assert.equal(lab.run(g).verdict, Verdict.PASS);
});

test('a new connection starts only on a SYN, never on a RST (unless sloppy_tcp)', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  let r = lab.run(syn({ flags: ACK }));
  assert.equal(r.verdict, Verdict.DROP);
  assert.equal(r.reason, Dp.NO_CONN_NOT_SYN);
  r = lab.run(syn({ flags: SYN | RST }));
  assert.equal(r.verdict, Verdict.DROP);
  lab.pipe.connSettings.sloppyTcp = 1;
  assert.equal(lab.run(syn({ flags: ACK })).verdict, Verdict.TX);
  assert.equal(lab.run(syn({ flags: RST, sport: 1 })).verdict, Verdict.DROP);
});

test('no dest available: ICMP port unreachable back to the client (ip_vs_leave)', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE, { weight: 0 });
  const input = syn();
  const r = lab.run(input);
  assert.equal(r.verdict, Verdict.REPLY);
  assert.equal(r.outIf, 1);
  const expected = icmp4({
    srcMac: MAC.dirOut,
    dstMac: MAC.router,
    src: VIP,
    dst: CLIENT,
    type: 3,
    code: 3,
    data: input.subarray(14),
    ttl: 64,
    df: false,
    id: 0,
    tos: 0xc0,
  });
  eqFrame(r.out, expected, 'port unreachable');
});

test('TTL 1: ICMP time exceeded, nothing forwarded', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  const r = lab.run(syn({ ttl: 1 }));
  assert.equal(r.verdict, Verdict.REPLY);
  assert.equal(r.out[34], 11);
  assert.equal(lab.pipe.counters[Dp.TTL_EXCEEDED], 1);
});

test('DF and too big for the next hop: ICMP fragmentation needed quoting the original header', () => {
  const lab = new Lab();
  lab.net.mtuIn = 576;
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:8080', Fwd.MASQ);
  const big = syn({ flags: SYN, payload: new Uint8Array(1000), df: true });
  const r = lab.run(big);
  assert.equal(r.verdict, Verdict.REPLY);
  assert.equal(r.out[34], 3);
  assert.equal(r.out[35], 4);
  assert.equal((r.out[34 + 6] << 8) | r.out[34 + 7], 576, 'next-hop MTU');
  // The quoted header is the one the client sent: VIP destination, original TTL.
  assert.equal(toHex(r.out, 42 + 16, 4), '0a000064');
  assert.equal(r.out[42 + 8], 64);
  // GSO super-frames are exempt (they are segmented after us).
  assert.equal(
    lab.run(syn({ flags: SYN, payload: new Uint8Array(1000), sport: 2 }), 1, RxFlag.GSO).verdict,
    Verdict.TX,
  );
});

test('persistence: one client stays on one real server across connections within the timeout', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`, { flags: SvcFlag.PERSISTENT, timeout: 300 });
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  lab.addDest(svc, '192.168.10.2:80', Fwd.DROUTE);
  const macs = new Set<string>();
  for (let p = 1; p <= 10; p++) macs.add(toHex(lab.run(syn({ sport: 1000 + p })).out, 0, 6));
  assert.equal(macs.size, 1, 'all connections of the client on one dest');
  // Another client is scheduled by rr onto the other dest.
  const other = toHex(lab.run(syn({ src: '172.16.0.11' })).out, 0, 6);
  assert.ok(!macs.has(other));
  const dests = lab.services.list[0].dests;
  assert.equal(dests[0].persistConns + dests[1].persistConns, 2, 'two templates');
});

test('a checksum-partial frame leaves with a complete checksum', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:8080', Fwd.MASQ);
  const f = tcp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: SYN,
    seq: 1000,
    partial: true,
  });
  const r = lab.run(f, 1, RxFlag.CSUM_PARTIAL);
  assert.equal(r.verdict, Verdict.TX);
  eqFrame(
    r.out,
    tcp4({
      srcMac: MAC.dirIn,
      dstMac: MAC.rs1,
      src: CLIENT,
      dst: '192.168.10.1',
      sport: 40000,
      dport: 8080,
      flags: SYN,
      seq: 1000,
      ttl: 63,
    }),
    'completed',
  );
});

test('ICMP errors for a NAT conn are translated both ways (outer and embedded headers)', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:8080', Fwd.MASQ);
  lab.run(syn());
  // The real server says "port unreachable" about the forwarded SYN (client → RS:8080).
  const fwd = tcp4({
    src: CLIENT,
    dst: '192.168.10.1',
    sport: 40000,
    dport: 8080,
    flags: SYN,
    seq: 1000,
    ttl: 63,
  });
  const err = icmp4({
    srcMac: MAC.rs1,
    dstMac: MAC.dirIn,
    src: '192.168.10.1',
    dst: CLIENT,
    type: 3,
    code: 3,
    data: fwd.subarray(14, 14 + 28),
  });
  const r = lab.run(err, 2);
  assert.equal(r.verdict, Verdict.TX);
  // Outer source and embedded destination become the VIP:80 the client talked to.
  const expectedInner = tcp4({
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: SYN,
    seq: 1000,
    ttl: 63,
  }).subarray(14, 14 + 28);
  const expected = icmp4({
    srcMac: MAC.dirOut,
    dstMac: MAC.router,
    src: VIP,
    dst: CLIENT,
    type: 3,
    code: 3,
    data: expectedInner,
    ttl: 63,
  });
  // The embedded TCP checksum is not touched by ip_vs_nat_icmp; only the ports are.
  const out = r.out.slice();
  out.set(expected.subarray(42 + 20 + 8), 42 + 20 + 8);
  assert.equal(toHex(out, 0, 42 + 20 + 8), toHex(expected, 0, 42 + 20 + 8));
  assert.ok(csumVerifies(r.out, 34, r.out.length - 34), 'ICMP checksum recomputed');
});

test('ping to the VIP is answered', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  const req = icmp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT,
    dst: VIP,
    type: 8,
    code: 0,
    rest: 0x00010001,
    data: new Uint8Array([9, 9]),
  });
  const r = lab.run(req);
  assert.equal(r.verdict, Verdict.REPLY);
  eqFrame(
    r.out,
    icmp4({
      srcMac: MAC.dirOut,
      dstMac: MAC.router,
      src: VIP,
      dst: CLIENT,
      type: 0,
      code: 0,
      rest: 0x00010001,
      data: new Uint8Array([9, 9]),
    }),
    'echo reply',
  );
});

test('a fragment for a VIP is dropped and counted; other malformed frames are counted by reason', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  const f = syn();
  f[14 + 6] = 0x20; // MF
  f[24] = f[25] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (f[14 + i] << 8) | f[15 + i];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f[24] = (~s >>> 8) & 0xff;
  f[25] = ~s & 0xff;
  assert.equal(lab.run(f).reason, Dp.FRAGMENT_TO_VIP);
  const bad = syn();
  bad[24] ^= 1;
  const r = lab.run(bad);
  assert.equal(r.verdict, Verdict.DROP);
  assert.equal(r.reason, Reason.IPV4_BAD_CSUM);
  assert.equal(lab.pipe.counters[Reason.IPV4_BAD_CSUM], 1);
});

test('conn_reuse_mode: a SYN that hits a TIME_WAIT entry is rescheduled', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:8080', Fwd.MASQ);
  lab.addDest(svc, '192.168.10.2:8080', Fwd.MASQ);
  const first = lab.run(syn()).out;
  // Close it down: client FIN, server FIN → TIME_WAIT.
  lab.run(syn({ flags: 0x11 }));
  const rsIp = toHex(first, 30, 4) === 'c0a80a01' ? '192.168.10.1' : '192.168.10.2';
  lab.run(
    tcp4({
      srcMac: MAC.rs1,
      dstMac: MAC.dirIn,
      src: rsIp,
      dst: CLIENT,
      sport: 8080,
      dport: 40000,
      flags: 0x11,
    }),
    2,
  );
  const cid = [...lab.pipe.conns4.list(lab.now)][0].id;
  assert.equal(lab.pipe.conns4.stateName(cid), 'TIME_WAIT');
  const again = lab.run(syn()).out;
  assert.notEqual(toHex(again, 30, 4), toHex(first, 30, 4), 'rescheduled by rr onto the other dest');
});

test('weight 0 drains: established connections keep flowing, new ones go elsewhere', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  const first = lab.run(syn()).out;
  assert.equal(toHex(first, 0, 6), '020000000111');
  lab.addDest(svc, '192.168.10.2:80', Fwd.DROUTE);
  lab.services.editDest(svc, {
    addr: { af: 4, v4: ipv4FromString('192.168.10.1'), v6: null, fold: ipv4FromString('192.168.10.1') },
    port: 80,
    fwd: Fwd.DROUTE,
    weight: 0,
    uThreshold: 0,
    lThreshold: 0,
    tunType: 0,
    tunPort: 0,
    tunFlags: 0,
  });
  assert.equal(toHex(lab.run(syn({ flags: PSHACK })).out, 0, 6), '020000000111', 'established conn stays');
  assert.equal(toHex(lab.run(syn({ sport: 5 })).out, 0, 6), '020000000112', 'new conn to the other dest');
});

test('a deleted dest: its conns are dropped, or with expire_nodest_conn rescheduled on SYN', () => {
  const lab = new Lab();
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  lab.addDest(svc, '192.168.10.2:80', Fwd.DROUTE);
  const first = lab.run(syn()).out;
  const gone = toHex(first, 0, 6) === '020000000111' ? '192.168.10.1' : '192.168.10.2';
  lab.services.delDest(svc, { af: 4, v4: ipv4FromString(gone), v6: null, fold: ipv4FromString(gone) }, 80);
  assert.equal(lab.run(syn({ flags: PSHACK })).reason, Dp.DEST_UNAVAILABLE);
  lab.pipe.connSettings.expireNodestConn = 1;
  const r = lab.run(syn());
  assert.equal(r.verdict, Verdict.TX);
  assert.notEqual(toHex(r.out, 0, 6), toHex(first, 0, 6));
});

test('the table full is its own verdict and counter', () => {
  const lab = new Lab({ maxConns: 3 });
  const svc = lab.addService(`${VIP}:80`);
  lab.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  for (let p = 1; p <= 3; p++) assert.equal(lab.run(syn({ sport: p })).verdict, Verdict.TX);
  const r = lab.run(syn({ sport: 99 }));
  assert.equal(r.verdict, Verdict.DROP);
  assert.equal(r.reason, Dp.CONN_TABLE_FULL);
  assert.equal(lab.pipe.counters[Dp.CONN_TABLE_FULL], 1);
});

test('FullNAT with PROXY protocol v2: header before the first payload, seq/ack shifted after it', () => {
  const lab = new Lab({ settings: { fullnatClientAddr: 'proxy2' } });
  const la = ipv4FromString('192.168.10.200');
  const svc = lab.addService(`${VIP}:80`, { laddrs: [{ af: 4, v4: la, v6: null, fold: la }] });
  lab.addDest(svc, '192.168.10.1:8080', Fwd.FULLNAT);
  const s = lab.run(syn());
  assert.equal(s.verdict, Verdict.TX);
  assert.equal(tcpFindToa(s.out, 34, s.out.length - 34), -1, 'no TOA in proxy2 mode');
  const lport = (s.out[34] << 8) | s.out[35];
  const get = new TextEncoder().encode('GET /');
  const data = tcp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: PSHACK,
    seq: 1001,
    ack: 5001,
    payload: get,
  });
  const r = lab.run(data);
  assert.equal(r.verdict, Verdict.TX);
  const o = r.out;
  const l4len = o.length - 34;
  assert.ok(csumVerifies(o, 14, 20));
  assert.ok(tcpCsumOkV4(o, 14, 34, l4len));
  const payload = o.subarray(54);
  assert.equal(toHex(payload, 0, 12), '0d0a0d0a000d0a515549540a', 'PROXY v2 signature');
  assert.equal(payload[12], 0x21, 'version 2, PROXY');
  assert.equal(payload[13], 0x11, 'TCP over IPv4');
  assert.equal(toHex(payload, 16, 12), 'ac10000a' + '0a000064' + '9c40' + '0050', 'client and VIP');
  assert.equal(new TextDecoder().decode(payload.subarray(28)), 'GET /');
  // The server acknowledges the 5 + 28 bytes it got; the client must see an ack for its 5.
  const ack = tcp4({
    srcMac: MAC.rs1,
    dstMac: MAC.dirIn,
    src: '192.168.10.1',
    dst: '192.168.10.200',
    sport: 8080,
    dport: lport,
    flags: ACK,
    seq: 5001,
    ack: 1001 + 5 + 28,
  });
  const ra = lab.run(ack, 2);
  assert.equal((ra.out[42] << 24) | (ra.out[43] << 16) | (ra.out[44] << 8) | ra.out[45], 1006);
  assert.ok(tcpCsumOkV4(ra.out, 14, 34, ra.out.length - 34));
  // The client's next segment is shifted by 28; a retransmission of the first one is rebuilt.
  const next = tcp4({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: PSHACK,
    seq: 1006,
    ack: 5001,
    payload: get,
  });
  const rn = lab.run(next);
  assert.equal(((rn.out[38] << 24) | (rn.out[39] << 16) | (rn.out[40] << 8) | rn.out[41]) >>> 0, 1034);
  assert.equal(rn.out.length, 54 + 5, 'no second header');
  const again = lab.run(data);
  assert.equal(again.out.length, 54 + 28 + 5, 'retransmission carries the header again');
  assert.equal(
    ((again.out[38] << 24) | (again.out[39] << 16) | (again.out[40] << 8) | again.out[41]) >>> 0,
    1001,
  );
});

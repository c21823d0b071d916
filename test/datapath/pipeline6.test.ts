import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fwd, Proto } from '../../src/model/flags.ts';
import { parseIpAddr } from '../../src/model/addr.ts';
import { Verdict, Dp } from '../../src/datapath/verdict.ts';
import { tcpCsumOkV6 } from '../../src/wire/tcp.ts';
import { tcpFindToa } from '../../src/wire/toa.ts';
import { toHex } from '../helpers/bytes.ts';
import { tcp6 } from '../helpers/packet.ts';
import { Lab, MAC } from './fixture.ts';
import type { ServiceKey } from '../../src/control/services.ts';

const VIP6 = '2001:db8:1::100';
const CLIENT6 = '2001:db8:99::10';

function v6key(port = 80): ServiceKey {
  return { af: 6, proto: Proto.TCP, addr: parseIpAddr(VIP6), port, fwmark: 0 };
}

function lab6(fwd: Fwd, rs = '2001:db8:10::1', laddrs?: string[]): Lab {
  const lab = new Lab();
  const k = v6key();
  lab.services.addService(k, {
    sched: 'rr',
    flags: 0,
    timeout: 0,
    netmask: 128,
    pe: '',
    laddrs: laddrs?.map((a) => parseIpAddr(a)!),
  });
  lab.services.addDest(k, {
    addr: parseIpAddr(rs)!,
    port: fwd === Fwd.DROUTE || fwd === Fwd.TUNNEL ? 80 : 8080,
    fwd,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: 0,
    tunPort: 0,
    tunFlags: 0,
  });
  return lab;
}

const syn6 = (o: { hopLimit?: number; payload?: Uint8Array } = {}) =>
  tcp6({
    srcMac: MAC.router,
    dstMac: MAC.dirOut,
    src: CLIENT6,
    dst: VIP6,
    sport: 40000,
    dport: 80,
    flags: 0x02,
    hopLimit: o.hopLimit,
    payload: o.payload,
  });

test('IPv6 NAT: SYN rewritten to the real server, reply back from the VIP', () => {
  const lab = lab6(Fwd.MASQ);
  const r = lab.run(syn6());
  assert.equal(r.verdict, Verdict.TX);
  const expected = tcp6({
    srcMac: MAC.dirIn,
    dstMac: MAC.rs1,
    src: CLIENT6,
    dst: '2001:db8:10::1',
    sport: 40000,
    dport: 8080,
    flags: 0x02,
    hopLimit: 63,
  });
  assert.equal(toHex(r.out), toHex(expected));
  const reply = tcp6({
    srcMac: MAC.rs1,
    dstMac: MAC.dirIn,
    src: '2001:db8:10::1',
    dst: CLIENT6,
    sport: 8080,
    dport: 40000,
    flags: 0x12,
    seq: 9,
    ack: 1001,
  });
  const rr = lab.run(reply, 2);
  assert.equal(rr.verdict, Verdict.TX);
  const exp2 = tcp6({
    srcMac: MAC.dirOut,
    dstMac: MAC.router,
    src: VIP6,
    dst: CLIENT6,
    sport: 80,
    dport: 40000,
    flags: 0x12,
    seq: 9,
    ack: 1001,
    hopLimit: 63,
  });
  assert.equal(toHex(rr.out), toHex(exp2));
  assert.equal(lab.pipe.conns6.count, 1);
});

test('IPv6 DR: MACs and hop limit only', () => {
  const lab = lab6(Fwd.DROUTE, '2001:db8:10::2');
  const r = lab.run(syn6());
  assert.equal(r.verdict, Verdict.TX);
  assert.equal(
    toHex(r.out),
    toHex(
      tcp6({
        srcMac: MAC.dirIn,
        dstMac: MAC.rs2,
        src: CLIENT6,
        dst: VIP6,
        sport: 40000,
        dport: 80,
        flags: 0x02,
        hopLimit: 63,
      }),
    ),
  );
});

test('IPv6 over an IPv4 tunnel (mixed families are allowed for TUN)', () => {
  const lab = lab6(Fwd.TUNNEL, '192.168.10.3');
  const r = lab.run(syn6());
  assert.equal(r.verdict, Verdict.TX);
  assert.equal(toHex(r.out, 12, 2), '0800');
  assert.equal(r.out[14 + 9], 41, 'IPv6-in-IPv4');
  assert.equal(toHex(r.out, 30, 4), 'c0a80a03');
  assert.equal(
    toHex(r.out, 34),
    toHex(tcp6({ src: CLIENT6, dst: VIP6, sport: 40000, dport: 80, flags: 0x02, hopLimit: 63 }).subarray(14)),
  );
});

test('IPv6 FullNAT: local address and port, TOA (IPv6 form) on the SYN, checksums valid', () => {
  const lab = lab6(Fwd.FULLNAT, '2001:db8:10::1', ['2001:db8:10::200']);
  const r = lab.run(syn6());
  assert.equal(r.verdict, Verdict.TX);
  const o = r.out;
  assert.equal(toHex(o, 22, 16), '20010db8001000000000000000000200');
  assert.equal(toHex(o, 38, 16), '20010db8001000000000000000000001');
  const l4len = o.length - 54;
  assert.ok(tcpCsumOkV6(o, 14, 54, l4len));
  assert.ok(tcpFindToa(o, 54, l4len) >= 0);
});

test('IPv6: hop limit 1 answers time exceeded; too big answers packet too big', () => {
  const lab = lab6(Fwd.MASQ);
  let r = lab.run(syn6({ hopLimit: 1 }));
  assert.equal(r.verdict, Verdict.REPLY);
  assert.equal(r.out[54], 3);
  lab.net.mtuIn = 1280;
  r = lab.run(syn6({ payload: new Uint8Array(1300) }));
  assert.equal(r.verdict, Verdict.REPLY);
  assert.equal(r.out[54], 2);
  assert.equal((r.out[58] << 24) | (r.out[59] << 16) | (r.out[60] << 8) | r.out[61], 1280);
  assert.equal(lab.pipe.counters[Dp.FRAG_NEEDED], 1);
});

test('IPv6: no dest → ICMPv6 port unreachable', () => {
  const lab = new Lab();
  lab.services.addService(v6key(), { sched: 'rr', flags: 0, timeout: 0, netmask: 128, pe: '' });
  const r = lab.run(syn6());
  assert.equal(r.verdict, Verdict.REPLY);
  assert.equal(r.out[54], 1);
  assert.equal(r.out[55], 4);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dumpFrame, tcpFlagLetters } from '../../src/wire/dump.ts';
import { ipv6FromString } from '../../src/wire/addr.ts';
import { golden as goldenIn } from '../helpers/golden.ts';

/**
 * Goldens: test/golden/tunnel/*.hex. The expected lines below were written from tshark's decode of
 * the same bytes, recorded in each golden's comments (addresses, ports, SYN flag, ARP opcode and
 * addresses, ICMP type/id/seq, VRRP fields), not from dumpFrame's output.
 */
const golden = (name: string): Uint8Array => goldenIn('tunnel', name);

const M = '02:00:00:00:00:01 > 02:00:00:00:00:02';

function dump(b: Uint8Array): string {
  return dumpFrame(b, 0, b.length);
}

test('TCP SYN (tshark: 10.0.0.1 → 10.0.0.100, 40000 → 80 [SYN], 58 bytes)', () => {
  assert.equal(dump(golden('tcp-syn')), `${M}, 10.0.0.1:40000 > 10.0.0.100:80, TCP, S, len 58`);
});

test('UDP (tshark: 50000 → 9999, 47 bytes); Ethernet padding after the IP total length is not truncation', () => {
  const u = golden('udp');
  assert.equal(dump(u), `${M}, 10.0.0.1:50000 > 10.0.0.100:9999, UDP, len 47`);
  const padded = new Uint8Array(60);
  padded.set(u);
  assert.equal(dump(padded), `${M}, 10.0.0.1:50000 > 10.0.0.100:9999, UDP, len 60`);
});

test('ARP request and reply (tshark: opcode request / reply, sender and target IPs)', () => {
  assert.equal(
    dump(golden('arp-request')),
    '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, who-has 10.0.0.100 tell 10.0.0.1, len 42',
  );
  assert.equal(
    dump(golden('arp-reply')),
    '02:00:00:00:00:02 > 02:00:00:00:00:01, ARP, 10.0.0.100 is-at 02:00:00:00:00:02, len 42',
  );
});

test('ICMP echo request (tshark: type 8, id 1, seq 1)', () => {
  assert.equal(
    dump(golden('icmp-echo')),
    `${M}, 10.0.0.1 > 10.0.0.100, ICMP, echo request id 1 seq 1, len 50`,
  );
});

test('IPv6 TCP: RFC 5952 addresses in brackets before ports', () => {
  const f = golden('tcp6-syn');
  assert.equal(dump(f), `${M}, [2001:db8::1]:40000 > [2001:db8::100]:80, TCP, S, len 78`);
  // RFC 5952 §4.2.3: the first of two equally long zero runs is the one compressed.
  f.set(ipv6FromString('2001:db8:0:0:1:0:0:1'), 14 + 8);
  assert.equal(dump(f), `${M}, [2001:db8::1:0:0:1]:40000 > [2001:db8::100]:80, TCP, S, len 78`);
});

test('tunnels: outer | inner for IPIP, IPv6-in-IPv4, GUE and GRE', () => {
  const inner4 = '10.0.0.1:40000 > 10.0.0.100:80, TCP, S';
  const inner6 = '[2001:db8::1]:40000 > [2001:db8::100]:80, TCP, S';
  const outer = '192.168.10.254 > 192.168.10.1';
  assert.equal(dump(golden('ipip')), `${M}, ${outer}, IPIP | ${inner4}, len 78`);
  assert.equal(dump(golden('sit')), `${M}, ${outer}, IPv6-in-IP | ${inner6}, len 98`);
  assert.equal(
    dump(golden('gue-nocsum')),
    `${M}, 192.168.10.254:51234 > 192.168.10.1:6080, GUE | ${inner4}, len 90`,
  );
  assert.equal(
    dump(golden('gue-remcsum')),
    `${M}, 192.168.10.254:51234 > 192.168.10.1:6080, GUE | ${inner4}, len 98`,
  );
  assert.equal(dump(golden('gre-csum')), `${M}, ${outer}, GRE | ${inner4}, len 86`);
  assert.equal(dump(golden('gre6-csum')), `${M}, ${outer}, GRE | ${inner6}, len 106`);
  assert.equal(
    dump(golden('gre-key-seq')),
    `${M}, ${outer}, GRE, key 0x1020304 | 10.1.1.1 > 10.2.2.2, proto 253, len 78`,
  );
  // UDP to a port that is not a GUE port stays UDP.
  const g = golden('gue-nocsum');
  assert.equal(dumpFrame(g, 0, g.length, []), `${M}, 192.168.10.254:51234 > 192.168.10.1:6080, UDP, len 90`);
});

test('VRRP adverts (tshark: v2 vrid 51 prio 100 count 1; v3 over IPv6 vrid 7 prio 255 count 1)', () => {
  assert.equal(
    dump(golden('vrrp2')),
    '02:00:00:00:00:01 > 01:00:5e:00:00:12, 10.0.0.2 > 224.0.0.18, VRRPv2, vrid 51 prio 100 addrs 1, len 54',
  );
  assert.equal(
    dump(golden('vrrp3-v6')),
    '02:00:00:00:00:01 > 33:33:00:00:00:12, fe80::1 > ff02::12, VRRPv3, vrid 7 prio 255 addrs 1, len 78',
  );
});

test('truncated frames print what was parsed, then [truncated]', () => {
  const syn = golden('tcp-syn');
  const head = `${M}, 10.0.0.1:40000 > 10.0.0.100:80, TCP`;
  assert.equal(dump(syn.subarray(0, 40)), `${head}, [truncated], len 40`);
  assert.equal(
    dumpFrame(syn.subarray(0, 40), 0, 58),
    `${head}, [truncated], len 58`,
    'len beyond the buffer',
  );
  assert.equal(dump(syn.subarray(0, 54)), `${head}, S, [truncated], len 54`, 'flags seen, options cut');
  assert.equal(dump(syn.subarray(0, 30)), `${M}, [truncated], len 30`);
  assert.equal(dump(syn.subarray(0, 36)), `${M}, 10.0.0.1 > 10.0.0.100, TCP, [truncated], len 36`);
  assert.equal(dump(syn.subarray(0, 10)), '[truncated], len 10');
  assert.equal(dump(new Uint8Array(0)), '[truncated], len 0');
  const ipip = golden('ipip');
  assert.equal(dump(ipip.subarray(0, 40)), `${M}, 192.168.10.254 > 192.168.10.1, IPIP | [truncated], len 40`);
  assert.equal(
    dump(golden('arp-request').subarray(0, 30)),
    '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, op 1, [truncated], len 30',
  );
});

test('802.1Q tag, unknown ethertype, later fragments', () => {
  const syn = golden('tcp-syn');
  const tagged = new Uint8Array(syn.length + 4);
  tagged.set(syn.subarray(0, 12));
  tagged.set([0x81, 0x00, 0x20, 0x64], 12); // PCP 1, VID 100
  tagged.set(syn.subarray(12), 16);
  assert.equal(dump(tagged), `${M}, vlan 100, 10.0.0.1:40000 > 10.0.0.100:80, TCP, S, len 62`);
  const lldp = new Uint8Array(60);
  lldp.set([1, 0x80, 0xc2, 0, 0, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc]);
  assert.equal(dump(lldp), '02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype 0x88cc, len 60');
  const frag = syn.slice();
  frag[14 + 7] = 0x10; // fragment offset 16 (×8 bytes): no transport header here (checksum not our concern)
  assert.equal(dump(frag), `${M}, 10.0.0.1 > 10.0.0.100, TCP, frag, len 58`);
});

test('TCP flag letters in tcpdump order', () => {
  assert.equal(tcpFlagLetters(0x02), 'S');
  assert.equal(tcpFlagLetters(0x12), 'S.');
  assert.equal(tcpFlagLetters(0x11), 'F.');
  assert.equal(tcpFlagLetters(0x18), 'P.');
  assert.equal(tcpFlagLetters(0x04), 'R');
  assert.equal(tcpFlagLetters(0xc2), 'SEW');
  assert.equal(tcpFlagLetters(0), 'none');
});

test('never throws on random bytes, offsets and lengths; always ends with the given len', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.integer({ min: -5, max: 210 }),
      fc.integer({ min: -5, max: 300 }),
      (b, off, len) => {
        const s = dumpFrame(b, off, len);
        assert.equal(typeof s, 'string');
        assert.ok(s.endsWith(`len ${len}`), s);
      },
    ),
    { numRuns: 3000 },
  );
});

test('never throws on mutated and cut goldens (structure-aware fuzz)', () => {
  const names = [
    'tcp-syn',
    'tcp6-syn',
    'udp',
    'icmp-echo',
    'arp-request',
    'ipip',
    'sit',
    'gue-remcsum',
    'gre-key-seq',
    'vrrp3-v6',
  ];
  const base = names.map(golden);
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(120),
      (g, muts, cut) => {
        const b = g.slice(0, Math.max(0, g.length - cut));
        for (const [at, v] of muts) if (b.length) b[at % b.length] = v;
        assert.ok(dumpFrame(b, 0, b.length).endsWith(`len ${b.length}`));
      },
    ),
    { numRuns: 3000 },
  );
});

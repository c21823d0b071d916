/**
 * rsTunFilter: the classic BPF socket filter in front of rs-tun. Checked twice: instruction for
 * instruction against libpcap's compilation of the equivalent tcpdump expression, and by running
 * it (a small interpreter of the opcodes it uses) over tunnel goldens and near misses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { golden } from '../helpers/golden.ts';
import { tcp4, udp4 } from '../helpers/packet.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { ipv4FillCsum } from '../../src/wire/ipv4.ts';
import { rsTunFilter } from '../../src/rs/decap.ts';

/**
 * Goldens from tcpdump 4.99.3 / libpcap 1.10.3 on this machine:
 *   tcpdump -i lo -dd 'ip dst 10.0.0.1 and (ip proto 4 or ip proto 41 or ip proto 47 or
 *                      (ip proto 17 and udp dst port 6080))'
 *   tcpdump -i lo -dd 'ip dst 10.0.0.1 and (ip proto 4 or ip proto 41 or ip proto 47)'
 */
const TCPDUMP_GUE = [
  [0x28, 0, 0, 0x0000000c],
  [0x15, 0, 13, 0x00000800],
  [0x20, 0, 0, 0x0000001e],
  [0x15, 0, 11, 0x0a000001],
  [0x30, 0, 0, 0x00000017],
  [0x15, 8, 0, 0x00000004],
  [0x15, 7, 0, 0x00000029],
  [0x15, 6, 0, 0x0000002f],
  [0x15, 0, 6, 0x00000011],
  [0x28, 0, 0, 0x00000014],
  [0x45, 4, 0, 0x00001fff],
  [0xb1, 0, 0, 0x0000000e],
  [0x48, 0, 0, 0x00000010],
  [0x15, 0, 1, 0x000017c0],
  [0x6, 0, 0, 0x00040000],
  [0x6, 0, 0, 0x00000000],
];
const TCPDUMP_NO_GUE = [
  [0x28, 0, 0, 0x0000000c],
  [0x15, 0, 7, 0x00000800],
  [0x20, 0, 0, 0x0000001e],
  [0x15, 0, 5, 0x0a000001],
  [0x30, 0, 0, 0x00000017],
  [0x15, 2, 0, 0x00000004],
  [0x15, 1, 0, 0x00000029],
  [0x15, 0, 1, 0x0000002f],
  [0x6, 0, 0, 0x00040000],
  [0x6, 0, 0, 0x00000000],
];

function insns(p: Int32Array): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < p.length; i += 4) out.push([p[i], p[i + 1], p[i + 2], p[i + 3] >>> 0]);
  return out;
}

test('rsTunFilter is what libpcap compiles for the same expression', () => {
  const a = ipv4FromString('10.0.0.1');
  assert.deepEqual(insns(rsTunFilter(a, 6080)), TCPDUMP_GUE);
  assert.deepEqual(insns(rsTunFilter(a, 0)), TCPDUMP_NO_GUE);
  // An address with the top bit set is stored as its int32 bit pattern and reads back unsigned.
  assert.equal(insns(rsTunFilter(ipv4FromString('192.168.10.1'), 0))[3][3], 0xc0a80a01);
});

/**
 * Classic BPF (linux/filter.h semantics) for the opcodes the filter uses; an out-of-bounds load
 * ends the program with 0, as the kernel's does.
 */
function runBpf(p: Int32Array, pkt: Uint8Array): number {
  let a = 0;
  let x = 0;
  const ld = (off: number, size: number): number | null => {
    if (off < 0 || off + size > pkt.length) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + pkt[off + i];
    return v;
  };
  for (let pc = 0; pc < p.length / 4; pc++) {
    const code = p[4 * pc];
    const jt = p[4 * pc + 1];
    const jf = p[4 * pc + 2];
    const k = p[4 * pc + 3] >>> 0;
    let v: number | null;
    switch (code) {
      case 0x28: // ldh [k]
      case 0x20: // ld [k]
      case 0x30: // ldb [k]
        v = ld(k, code === 0x20 ? 4 : code === 0x28 ? 2 : 1);
        if (v === null) return 0;
        a = v;
        break;
      case 0x48: // ldh [x + k]
        v = ld(x + k, 2);
        if (v === null) return 0;
        a = v;
        break;
      case 0xb1: // ldxb 4*([k]&0xf)
        v = ld(k, 1);
        if (v === null) return 0;
        x = (v & 0xf) * 4;
        break;
      case 0x15: // jeq #k
        pc += a === k ? jt : jf;
        break;
      case 0x45: // jset #k
        pc += (a & k) !== 0 ? jt : jf;
        break;
      case 0x06: // ret #k
        return k;
      default:
        throw new Error(`opcode ${code.toString(16)} not interpreted`);
    }
  }
  throw new Error('fell off the end');
}

test('the filter keeps tunnel frames to our address and nothing else', () => {
  const rip = ipv4FromString('192.168.10.1');
  const f = rsTunFilter(rip, 6080);
  const noGue = rsTunFilter(rip, 0);
  for (const n of ['ipip', 'sit', 'gre', 'gre-csum', 'gre6-csum', 'gue-csum', 'gue-nocsum', 'gue-remcsum']) {
    assert.equal(runBpf(f, golden('tunnel', n)), 0x40000, n);
    assert.equal(runBpf(noGue, golden('tunnel', n)), n.startsWith('gue') ? 0 : 0x40000, `${n} without GUE`);
  }
  // Another real server's tunnel, our address with other protocols or ports, ARP.
  assert.equal(runBpf(rsTunFilter(rip + 1, 6080), golden('tunnel', 'ipip')), 0);
  assert.equal(runBpf(rsTunFilter(rip, 6081), golden('tunnel', 'gue-csum')), 0);
  const tcp = tcp4({ src: '10.0.0.1', dst: '192.168.10.1', sport: 1, dport: 6080, flags: 2 });
  assert.equal(runBpf(f, tcp), 0);
  assert.equal(runBpf(f, udp4({ src: '10.0.0.1', dst: '192.168.10.1', sport: 6080, dport: 53 })), 0);
  assert.equal(runBpf(f, udp4({ src: '10.0.0.1', dst: '192.168.10.1', sport: 9, dport: 6080 })), 0x40000);
  assert.equal(runBpf(f, golden('tunnel', 'arp-request')), 0);
  // A later fragment of a UDP datagram has no port to match.
  const frag = udp4({ src: '10.0.0.1', dst: '192.168.10.1', sport: 9, dport: 6080 });
  frag[14 + 7] = 1;
  ipv4FillCsum(frag, 14);
  assert.equal(runBpf(f, frag), 0);
  // A frame too short for the address load.
  assert.equal(runBpf(f, golden('tunnel', 'ipip').subarray(0, 20)), 0);
});

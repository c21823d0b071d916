/**
 * The worker-steering fanout program, run by a small classic-BPF interpreter written here from the
 * instruction set (<linux/filter.h>): both directions of a NAT conn, and a FullNAT reply to the
 * port its worker allocated, land on the same key; so do ICMP errors quoting a conn's packet;
 * anything else goes to worker 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { steerKey, steeringProgram, STEER_MAX_ADDRS } from '../../src/daemon/steer.ts';
import { Bpf } from '../../src/io/bpf.ts';

/** Runs `prog` on an IP packet as a fanout program sees it (NET_OFF loads read the IP header). */
function runBpf(prog: Int32Array, ip: Uint8Array): number {
  let a = 0;
  let x = 0;
  const mem = new Int32Array(16);
  const load = (off: number, size: number): number | null => {
    const o = off - Bpf.NET_OFF;
    if (off >= 0 || o < 0 || o + size > ip.length) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + ip[o + i];
    return v >>> 0;
  };
  for (let pc = 0; pc < prog.length / 4; pc++) {
    const code = prog[pc * 4];
    const jt = prog[pc * 4 + 1];
    const jf = prog[pc * 4 + 2];
    const k = prog[pc * 4 + 3];
    const cls = code & 0x07;
    const size = (code & 0x18) === Bpf.W ? 4 : (code & 0x18) === Bpf.H ? 2 : 1;
    const mode = code & 0xe0;
    if (cls === Bpf.LD) {
      const v =
        mode === Bpf.ABS
          ? load(k, size)
          : mode === Bpf.IND
            ? load(x + k, size)
            : mode === Bpf.IMM
              ? k >>> 0
              : mem[k] >>> 0;
      if (v === null) return 0; // out of the packet: the kernel returns 0
      a = v;
    } else if (cls === Bpf.LDX) {
      x = mode === Bpf.MEM ? mem[k] >>> 0 : k >>> 0;
    } else if (cls === Bpf.ST) {
      mem[k] = a;
    } else if (cls === Bpf.STX) {
      mem[k] = x;
    } else if (cls === Bpf.ALU) {
      const src = (code & Bpf.X) !== 0 ? x : k >>> 0;
      const op = code & 0xf0;
      if (op === Bpf.ADD) a = (a + src) >>> 0;
      else if (op === Bpf.AND) a = (a & src) >>> 0;
      else if (op === Bpf.LSH) a = (a << src) >>> 0;
      else if (op === Bpf.RSH) a = a >>> src;
      else if (op === Bpf.XOR) a = (a ^ src) >>> 0;
      else if (op === Bpf.MUL) a = Math.imul(a, src) >>> 0;
      else throw new Error(`alu op ${op}`);
    } else if (cls === Bpf.JMP) {
      const op = code & 0xf0;
      if (op === Bpf.JA) {
        pc += k;
        continue;
      }
      const src = (code & Bpf.X) !== 0 ? x : k >>> 0;
      const hit =
        op === Bpf.JEQ ? a === src : op === Bpf.JSET ? (a & src) !== 0 : op === Bpf.JGT ? a > src : a >= src;
      pc += hit ? jt : jf;
    } else if (cls === Bpf.RET) {
      return (code & Bpf.A) !== 0 ? a : k >>> 0;
    } else if (cls === Bpf.MISC) {
      if (code === (Bpf.MISC | Bpf.TAX)) x = a;
      else a = x;
    } else throw new Error(`class ${cls}`);
  }
  throw new Error('fell off the program');
}

function ip4(
  proto: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  frag = 0,
  ihl = 5,
): Uint8Array {
  const b = new Uint8Array(ihl * 4 + 8);
  b[0] = 0x40 | ihl;
  b[6] = frag >>> 8;
  b[7] = frag & 0xff;
  b[9] = proto;
  const w = (o: number, v: number) => {
    b[o] = v >>> 24;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  };
  w(12, src);
  w(16, dst);
  const l4 = ihl * 4;
  b[l4] = sport >>> 8;
  b[l4 + 1] = sport & 0xff;
  b[l4 + 2] = dport >>> 8;
  b[l4 + 3] = dport & 0xff;
  return b;
}

const VIP = 0x0a000064;
const VIP2 = 0x0a000065;
const LIP = 0xc0a80afe;
const CLIENT = 0xcb007105;
const RS = 0xc0a80a0b;

test('client → VIP and the NAT reply RS → client give the same key; FullNAT replies give the local port', () => {
  const prog = steeringProgram([VIP, VIP2], [LIP]);
  for (const proto of [6, 17, 132]) {
    const req = runBpf(prog, ip4(proto, CLIENT, VIP2, 40001, 80));
    assert.equal(req, steerKey(CLIENT, 40001));
    assert.equal(runBpf(prog, ip4(proto, RS, CLIENT, 8080, 40001)), req, 'NAT reply');
    assert.equal(runBpf(prog, ip4(proto, RS, LIP, 8080, 61234)), 61234, 'FullNAT reply: the local port');
  }
  // IP options move the ports: the header length is read.
  assert.equal(runBpf(prog, ip4(6, CLIENT, VIP, 5555, 80, 0, 7)), steerKey(CLIENT, 5555));
});

/** An ICMP error of `type` from `from` to `to`, quoting `quoted` (its IP header and 8 bytes). */
function icmpError(type: number, from: number, to: number, quoted: Uint8Array, ihl = 5): Uint8Array {
  const outer = ip4(1, from, to, 0, 0, 0, ihl);
  const b = new Uint8Array(ihl * 4 + 8 + quoted.length);
  b.set(outer.subarray(0, ihl * 4));
  b[ihl * 4] = type;
  b.set(quoted, ihl * 4 + 8);
  return b;
}

test('ICMP errors go to the worker of the conn they quote', () => {
  const prog = steeringProgram([VIP, VIP2], [LIP]);
  const ROUTER = 0xc0a80a01;
  const owner = steerKey(CLIENT, 40001);
  for (const proto of [6, 17, 132]) {
    // A router on the real servers' side: our NAT/DR packet client → RS (frag needed).
    assert.equal(runBpf(prog, icmpError(3, ROUTER, CLIENT, ip4(proto, CLIENT, RS, 40001, 8080))), owner);
    // The same for a TUN/DR packet that still shows the VIP, with IP options on the quoted header.
    assert.equal(
      runBpf(prog, icmpError(11, ROUTER, CLIENT, ip4(proto, CLIENT, VIP2, 40001, 80, 0, 6))),
      owner,
    );
    // The client's side: our NAT reply VIP → client came back (port unreachable), outer options.
    assert.equal(runBpf(prog, icmpError(3, CLIENT, VIP, ip4(proto, VIP, CLIENT, 80, 40001), 7)), owner);
    // Our FullNAT packet local address → RS came back: the worker that owns the local port.
    assert.equal(runBpf(prog, icmpError(12, ROUTER, LIP, ip4(proto, LIP, RS, 61234, 8080))), 61234);
    assert.equal(runBpf(prog, icmpError(4, ROUTER, LIP, ip4(proto, LIP, RS, 61235, 8080))), 61235);
  }
  // Not an error (echo request), or an error quoting ICMP: worker 0.
  assert.equal(runBpf(prog, icmpError(8, CLIENT, VIP, ip4(6, CLIENT, VIP, 40001, 80))), 0);
  assert.equal(runBpf(prog, icmpError(3, ROUTER, CLIENT, ip4(1, CLIENT, RS, 0, 0))), 0);
});

test('property: an ICMP error about either direction of a NAT conn picks the conn worker', () => {
  const prog = steeringProgram([VIP, VIP2], [LIP]);
  fc.assert(
    fc.property(
      fc.nat(),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 5, max: 15 }),
      (c, port, n, ihl) => {
        const caddr = (c | 0x01000000) >>> 0;
        if ([VIP, VIP2, LIP].includes(caddr)) return;
        const w = runBpf(prog, ip4(6, caddr, VIP, port, 80)) % n;
        assert.equal(runBpf(prog, icmpError(3, RS, caddr, ip4(6, caddr, RS, port, 8080), ihl)) % n, w);
        assert.equal(runBpf(prog, icmpError(3, caddr, VIP, ip4(17, VIP, caddr, 80, port, 0, ihl))) % n, w);
      },
    ),
    { numRuns: 300 },
  );
});

test('worker 0 gets what has no ports: ICMP that is not an error, fragments, non-IPv4', () => {
  const prog = steeringProgram([VIP], []);
  assert.equal(runBpf(prog, ip4(1, CLIENT, VIP, 0, 0)), 0, 'ICMP');
  assert.equal(runBpf(prog, ip4(6, CLIENT, VIP, 1, 80, 0x0010)), 0, 'a later fragment');
  assert.notEqual(runBpf(prog, ip4(6, CLIENT, VIP, 1, 80, 0x4000)), 0, 'DF alone is no fragment');
  const arp = new Uint8Array(28);
  arp[1] = 1; // htype 1: first nibble 0
  assert.equal(runBpf(prog, arp), 0, 'ARP');
  const v6 = new Uint8Array(48);
  v6[0] = 0x60;
  assert.equal(runBpf(prog, v6), 0, 'IPv6');
});

test('property: for any tuple and any number of workers, both directions pick the same worker', () => {
  const prog = steeringProgram([VIP, VIP2, 0x0a000066], [LIP, LIP + 1]);
  fc.assert(
    fc.property(
      fc.nat(),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 16 }),
      (c, port, n) => {
        const caddr = (c | 0x01000000) >>> 0;
        if ([VIP, VIP2, 0x0a000066, LIP, LIP + 1].includes(caddr)) return;
        const a = runBpf(prog, ip4(6, caddr, VIP, port, 443)) % n;
        const b = runBpf(prog, ip4(6, RS, caddr, 443, port)) % n;
        assert.equal(a, b);
      },
    ),
    { numRuns: 500 },
  );
});

test('the keys spread over workers; too many addresses are refused', () => {
  const prog = steeringProgram([VIP], []);
  const per = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) per[runBpf(prog, ip4(6, CLIENT + (i >> 4), VIP, 1024 + i, 80)) % 4]++;
  for (const n of per) assert.ok(n > 800 && n < 1200, per.join(' '));
  const many = Array.from({ length: STEER_MAX_ADDRS + 1 }, (_, i) => VIP + i);
  assert.throws(() => steeringProgram(many, []), RangeError);
  assert.doesNotThrow(() => steeringProgram(many.slice(0, STEER_MAX_ADDRS - 10), many.slice(0, 10)));
});

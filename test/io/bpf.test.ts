import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bpf, bpfEthertypeFilter, bpfJump, bpfProgram, bpfStmt } from '../../src/io/bpf.ts';

test('bpfEthertypeFilter is what tcpdump compiles for "ether proto 0x88b5"', () => {
  // Golden from `tcpdump -dd ether proto 0x88b5` (tcpdump 4.99, libpcap 1.10):
  //   { 0x28, 0, 0, 0x0000000c }, { 0x15, 0, 1, 0x000088b5 },
  //   { 0x6, 0, 0, 0x00040000 },  { 0x6, 0, 0, 0x00000000 },
  const golden = [0x28, 0, 0, 0x0c, 0x15, 0, 1, 0x88b5, 0x6, 0, 0, 0x40000, 0x6, 0, 0, 0];
  assert.deepEqual(Array.from(bpfEthertypeFilter(0x88b5)), golden);
});

test('bpfProgram packs (code, jt, jf, k) and keeps k as its int32 bit pattern', () => {
  const p = bpfProgram([
    bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, Bpf.NET_OFF + 15),
    bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, 0xffffffff, 1, 2),
    bpfStmt(Bpf.RET | Bpf.A, 0),
  ]);
  assert.equal(p.length, 12);
  assert.deepEqual(Array.from(p.subarray(0, 4)), [0x30, 0, 0, -0x100000 + 15]);
  assert.deepEqual(Array.from(p.subarray(4, 8)), [0x15, 1, 2, -1]);
  assert.equal(p[7] >>> 0, 0xffffffff);
  assert.deepEqual(Array.from(p.subarray(8)), [0x16, 0, 0, 0]);
});

/**
 * Classic BPF programs for attachFilter / attachFanoutFilter, as the Int32Array the addon takes:
 * 4 ints per instruction (code, jt, jf, k), the layout `tcpdump -dd` prints. Opcode values are the
 * <linux/filter.h> / <linux/bpf_common.h> UAPI.
 *
 * Offsets: a socket filter (attachFilter) sees the frame from the Ethernet header. A fanout program
 * runs on the skb as the receive path has it (data at the network header), so it should address
 * headers absolutely with Bpf.NET_OFF + offset (IP header) or Bpf.LL_OFF + offset (Ethernet).
 * Its return value modulo the group size picks the socket, in the order the sockets joined.
 */
export const Bpf = {
  // classes
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  MISC: 0x07,
  // load sizes
  W: 0x00,
  H: 0x08,
  B: 0x10,
  // load modes
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  LEN: 0x80,
  MSH: 0xa0,
  // ALU ops
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  // jumps
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  // operand source
  K: 0x00,
  X: 0x08,
  // return the accumulator
  A: 0x10,
  // misc
  TAX: 0x00,
  TXA: 0x80,
  /** SKF_NET_OFF: loads at NET_OFF + n read byte n of the network header. */
  NET_OFF: -0x100000,
  /** SKF_LL_OFF: loads at LL_OFF + n read byte n of the link-layer header. */
  LL_OFF: -0x200000,
  /** What a socket filter returns to keep a whole frame. */
  ACCEPT_ALL: 0x40000,
} as const;

/** One instruction. */
export type BpfInsn = readonly [code: number, jt: number, jf: number, k: number];

export function bpfStmt(code: number, k: number): BpfInsn {
  return [code, 0, 0, k];
}

export function bpfJump(code: number, k: number, jt: number, jf: number): BpfInsn {
  return [code, jt, jf, k];
}

/** Pack instructions into the addon's layout (k is stored as its int32 bit pattern). */
export function bpfProgram(insns: readonly BpfInsn[]): Int32Array {
  const out = new Int32Array(insns.length * 4);
  insns.forEach((ins, i) => {
    out[4 * i] = ins[0];
    out[4 * i + 1] = ins[1];
    out[4 * i + 2] = ins[2];
    out[4 * i + 3] = ins[3] | 0;
  });
  return out;
}

/** Socket filter keeping only frames of one ethertype (as the frame carries it, after VLAN strip). */
export function bpfEthertypeFilter(ethertype: number): Int32Array {
  return bpfProgram([
    bpfStmt(Bpf.LD | Bpf.H | Bpf.ABS, 12),
    bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, ethertype, 0, 1),
    bpfStmt(Bpf.RET | Bpf.K, Bpf.ACCEPT_ALL),
    bpfStmt(Bpf.RET | Bpf.K, 0),
  ]);
}

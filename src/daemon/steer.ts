/**
 * Flow steering for N worker threads (PACKET_FANOUT_CBPF): a classic BPF program that picks, for
 * every received frame, the worker owning its connection, in both directions.
 *
 * Each worker has its own connection table, so both directions of a conn must reach the same
 * worker. The program keys on the client's address and port, which appear on both sides:
 *   - a packet to a VIP comes from the client: key = mix(saddr ^ sport);
 *   - a packet to a FullNAT local address is a reply to the port that worker allocated: key =
 *     dport, and worker w allocates only local ports ≡ w (mod N) (DPVS's per-lcore port split);
 *   - any other TCP/UDP/SCTP packet may be a NAT reply, which goes to the client: key =
 *     mix(daddr ^ dport);
 *   - everything else (ARP, ICMP, fragments, IPv6) goes to worker 0.
 * The kernel takes the program's return value modulo the number of sockets in the group
 * (fanout_demux_bpf), so "mix" spreads the low bits: A * 0x9e3779b1, then the high 16 bits.
 *
 * Loads use SKF_NET_OFF: a fanout program sees the skb with data at the network header.
 */
import { Bpf, bpfJump, bpfProgram, bpfStmt } from '../io/bpf.ts';
import type { BpfInsn } from '../io/bpf.ts';

const N = Bpf.NET_OFF;
const GOLDEN = 0x9e3779b1;
/** Classic BPF jump offsets are 8 bits: the address lists must fit in one forward jump. */
export const STEER_MAX_ADDRS = 200;

/**
 * mix(address ^ port) and return it: the port at `portRel` in the L4 header (X = IP header
 * length), the address at `addrRel` in the IP header. Eight instructions.
 */
function keyBlock(portRel: number, addrRel: number): BpfInsn[] {
  return [
    bpfStmt(Bpf.LD | Bpf.H | Bpf.IND, N + portRel),
    bpfStmt(Bpf.ST, 0),
    bpfStmt(Bpf.LD | Bpf.W | Bpf.ABS, N + addrRel),
    bpfStmt(Bpf.LDX | Bpf.W | Bpf.MEM, 0),
    bpfStmt(Bpf.ALU | Bpf.XOR | Bpf.X, 0),
    bpfStmt(Bpf.ALU | Bpf.MUL | Bpf.K, GOLDEN | 0),
    bpfStmt(Bpf.ALU | Bpf.RSH | Bpf.K, 16),
    bpfStmt(Bpf.RET | Bpf.A, 0),
  ];
}

/** The key the program computes for client-side (saddr, sport) or NAT-reply (daddr, dport). */
export function steerKey(addr: number, port: number): number {
  return Math.imul((addr ^ port) >>> 0, GOLDEN) >>> 16;
}

/**
 * The program for a group whose owned addresses are `vips` and FullNAT local addresses `laddrs`
 * (uint32 IPv4). Throws RangeError beyond STEER_MAX_ADDRS addresses in all.
 */
export function steeringProgram(vips: readonly number[], laddrs: readonly number[]): Int32Array {
  const nv = vips.length;
  const nl = laddrs.length;
  if (nv + nl > STEER_MAX_ADDRS)
    throw new RangeError(`steering: ${nv + nl} addresses, at most ${STEER_MAX_ADDRS}`);
  const p: BpfInsn[] = [];
  // Labels are resolved by counting: the blocks after the address lists are, in order,
  // CLIENT (8 insns), FNAT (2), REPLY (8), OTHER (1).
  const CLIENT_LEN = 8;
  const FNAT_LEN = 2;
  const REPLY_LEN = 8;
  // 0: IPv4 version nibble.
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, N + 0));
  p.push(bpfStmt(Bpf.ALU | Bpf.AND | Bpf.K, 0xf0));
  // Jumps to OTHER are written with 0xff and patched once its index is known.
  const patch: number[] = [];
  p.push(bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, 0x40, 0, 0xff));
  patch.push(p.length - 1);
  // Protocol: TCP, UDP or SCTP.
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, N + 9));
  p.push(bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, 6, 2, 0));
  p.push(bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, 17, 1, 0));
  p.push(bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, 132, 0, 0xff));
  patch.push(p.length - 1);
  // Not a first fragment: no ports to read.
  p.push(bpfStmt(Bpf.LD | Bpf.H | Bpf.ABS, N + 6));
  p.push(bpfJump(Bpf.JMP | Bpf.JSET | Bpf.K, 0x1fff, 0xff, 0));
  patch.push(p.length - 1);
  // X = header length.
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, N + 0));
  p.push(bpfStmt(Bpf.ALU | Bpf.AND | Bpf.K, 0x0f));
  p.push(bpfStmt(Bpf.ALU | Bpf.LSH | Bpf.K, 2));
  p.push(bpfStmt(Bpf.MISC | Bpf.TAX, 0));
  // A = daddr, compared with each VIP, then each local address.
  p.push(bpfStmt(Bpf.LD | Bpf.W | Bpf.ABS, N + 16));
  for (let i = 0; i < nv; i++) {
    // To CLIENT: past the rest of the lists and the fall-through jump.
    const rest = nv - 1 - i + nl + 1;
    p.push(bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, vips[i] >>> 0, rest, 0));
  }
  for (let i = 0; i < nl; i++) {
    // To FNAT: past the rest of the local addresses, the fall-through jump and CLIENT.
    const rest = nl - 1 - i + 1 + CLIENT_LEN;
    p.push(bpfJump(Bpf.JMP | Bpf.JEQ | Bpf.K, laddrs[i] >>> 0, rest, 0));
  }
  // Neither: a possible NAT reply.
  p.push(bpfStmt(Bpf.JMP | Bpf.JA, CLIENT_LEN + FNAT_LEN));
  // CLIENT: key from saddr and sport.
  const client = p.length;
  p.push(...keyBlock(0, 12));
  if (p.length - client !== CLIENT_LEN) throw new Error('steering: CLIENT length');
  // FNAT: the local port decides.
  const fnat = p.length;
  p.push(bpfStmt(Bpf.LD | Bpf.H | Bpf.IND, N + 2));
  p.push(bpfStmt(Bpf.RET | Bpf.A, 0));
  if (p.length - fnat !== FNAT_LEN) throw new Error('steering: FNAT length');
  // REPLY: key from daddr and dport.
  const reply = p.length;
  p.push(...keyBlock(2, 16));
  if (p.length - reply !== REPLY_LEN) throw new Error('steering: REPLY length');
  // OTHER.
  const other = p.length;
  p.push(bpfStmt(Bpf.RET | Bpf.K, 0));
  for (const at of patch) {
    const [code, jt, jf, k] = p[at];
    const to = other - at - 1;
    p[at] = [code, jt === 0xff ? to : jt, jf === 0xff ? to : jf, k];
  }
  return bpfProgram(p);
}

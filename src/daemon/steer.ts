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
 *   - an ICMP error (destination unreachable, source quench, time exceeded, parameter problem)
 *     quoting a TCP/UDP/SCTP header is steered by the quoted packet, to the worker of the conn
 *     it is about: quoted source a VIP (our reply to a client came back) → mix(quoted daddr ^
 *     dport); quoted source a local address (our FullNAT packet to a real server) → quoted
 *     sport; otherwise (a client's packet we forwarded) → mix(quoted saddr ^ sport);
 *   - everything else (ARP, other ICMP, fragments, IPv6) goes to worker 0.
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

/** One instruction, or a jump whose targets are labels resolved when the program is assembled. */
type Item = BpfInsn | { code: number; k: number; jt: string | 0; jf: string | 0 } | { label: string };

/**
 * Resolves labels (forward only, as classic BPF jumps are). Conditional jumps are 8 bits: a
 * target farther than 255 instructions is an error here, not a wrong program.
 */
function assemble(items: readonly Item[]): BpfInsn[] {
  const at = new Map<string, number>();
  let n = 0;
  for (const it of items) {
    if ('label' in it) at.set(it.label, n);
    else n++;
  }
  const out: BpfInsn[] = [];
  for (const it of items) {
    if ('label' in it) continue;
    if (Array.isArray(it)) {
      out.push(it as BpfInsn);
      continue;
    }
    const j = it as { code: number; k: number; jt: string | 0; jf: string | 0 };
    const pc = out.length;
    const rel = (t: string | 0): number => {
      if (t === 0) return 0;
      const to = at.get(t);
      if (to === undefined || to <= pc) throw new Error(`steering: bad jump target ${t}`);
      return to - pc - 1;
    };
    if ((j.code & 0xf0) === Bpf.JA) {
      out.push(bpfStmt(j.code, rel(j.jt)));
      continue;
    }
    const jt = rel(j.jt);
    const jf = rel(j.jf);
    if (jt > 255 || jf > 255) throw new RangeError('steering: a conditional jump is out of reach');
    out.push(bpfJump(j.code, j.k, jt, jf));
  }
  return out;
}

const jeq = (k: number, jt: string | 0, jf: string | 0): Item => ({
  code: Bpf.JMP | Bpf.JEQ | Bpf.K,
  k,
  jt,
  jf,
});
const ja = (to: string): Item => ({ code: Bpf.JMP | Bpf.JA, k: 0, jt: to, jf: 0 });
const label = (l: string): Item => ({ label: l });

/**
 * mix(address ^ port) and return it, for a quoted packet in an ICMP error: M[1] = outer header
 * length (where the quoted IP header starts, 8 bytes later), M[2] = offset of the quoted L4
 * header. Ten instructions.
 */
function quotedKeyBlock(portRel: number, addrRel: number): Item[] {
  return [
    bpfStmt(Bpf.LDX | Bpf.W | Bpf.MEM, 2),
    bpfStmt(Bpf.LD | Bpf.H | Bpf.IND, N + portRel),
    bpfStmt(Bpf.ST, 0),
    bpfStmt(Bpf.LDX | Bpf.W | Bpf.MEM, 1),
    bpfStmt(Bpf.LD | Bpf.W | Bpf.IND, N + 8 + addrRel),
    bpfStmt(Bpf.LDX | Bpf.W | Bpf.MEM, 0),
    bpfStmt(Bpf.ALU | Bpf.XOR | Bpf.X, 0),
    bpfStmt(Bpf.ALU | Bpf.MUL | Bpf.K, GOLDEN | 0),
    bpfStmt(Bpf.ALU | Bpf.RSH | Bpf.K, 16),
    bpfStmt(Bpf.RET | Bpf.A, 0),
  ];
}

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
  const p: Item[] = [];
  // IPv4, and not a later fragment (those carry no ports).
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, N + 0));
  p.push(bpfStmt(Bpf.ALU | Bpf.AND | Bpf.K, 0xf0));
  p.push(jeq(0x40, 0, 'other'));
  p.push(bpfStmt(Bpf.LD | Bpf.H | Bpf.ABS, N + 6));
  p.push({ code: Bpf.JMP | Bpf.JSET | Bpf.K, k: 0x1fff, jt: 'other', jf: 0 });
  // X = header length.
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, N + 0));
  p.push(bpfStmt(Bpf.ALU | Bpf.AND | Bpf.K, 0x0f));
  p.push(bpfStmt(Bpf.ALU | Bpf.LSH | Bpf.K, 2));
  p.push(bpfStmt(Bpf.MISC | Bpf.TAX, 0));
  // Protocol: TCP, UDP or SCTP; ICMP.
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, N + 9));
  p.push(jeq(6, 'l4', 0));
  p.push(jeq(17, 'l4', 0));
  p.push(jeq(132, 'l4', 0));
  p.push(jeq(1, 'icmpFar', 'other'));
  p.push(label('other'));
  p.push(bpfStmt(Bpf.RET | Bpf.K, 0));
  p.push(label('icmpFar'));
  p.push(ja('icmp'));

  // TCP/UDP/SCTP: A = daddr, compared with each VIP, then each local address.
  p.push(label('l4'));
  p.push(bpfStmt(Bpf.LD | Bpf.W | Bpf.ABS, N + 16));
  for (const v of vips) p.push(jeq(v >>> 0, 'client', 0));
  for (const l of laddrs) p.push(jeq(l >>> 0, 'fnat', 0));
  // Neither: a possible NAT reply.
  p.push(ja('reply'));
  p.push(label('client'));
  p.push(...keyBlock(0, 12));
  p.push(label('fnat'));
  p.push(bpfStmt(Bpf.LD | Bpf.H | Bpf.IND, N + 2));
  p.push(bpfStmt(Bpf.RET | Bpf.A, 0));
  p.push(label('reply'));
  p.push(...keyBlock(2, 16));

  // ICMP errors, by the packet they quote (X = outer header length, the ICMP header at X).
  p.push(label('icmp'));
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.IND, N + 0));
  p.push(jeq(3, 'quoted', 0));
  p.push(jeq(4, 'quoted', 0));
  p.push(jeq(11, 'quoted', 0));
  p.push(jeq(12, 'quoted', 'other2'));
  p.push(label('other2'));
  p.push(bpfStmt(Bpf.RET | Bpf.K, 0));
  p.push(label('quoted'));
  p.push(bpfStmt(Bpf.STX, 1));
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.IND, N + 8 + 9));
  p.push(jeq(6, 'qproto', 0));
  p.push(jeq(17, 'qproto', 0));
  p.push(jeq(132, 'qproto', 'other3'));
  p.push(label('other3'));
  p.push(bpfStmt(Bpf.RET | Bpf.K, 0));
  p.push(label('qproto'));
  // M[2] = outer header length + 8 + quoted header length: the quoted ports.
  p.push(bpfStmt(Bpf.LD | Bpf.B | Bpf.IND, N + 8));
  p.push(bpfStmt(Bpf.ALU | Bpf.AND | Bpf.K, 0x0f));
  p.push(bpfStmt(Bpf.ALU | Bpf.LSH | Bpf.K, 2));
  p.push(bpfStmt(Bpf.ALU | Bpf.ADD | Bpf.X, 0));
  p.push(bpfStmt(Bpf.ALU | Bpf.ADD | Bpf.K, 8));
  p.push(bpfStmt(Bpf.ST, 2));
  // A = the quoted source address.
  p.push(bpfStmt(Bpf.LD | Bpf.W | Bpf.IND, N + 8 + 12));
  for (const v of vips) p.push(jeq(v >>> 0, 'qreply', 0));
  for (const l of laddrs) p.push(jeq(l >>> 0, 'qfnat', 0));
  p.push(ja('qclient'));
  // Our packet to the client (NAT/FullNAT reply) came back: the client is the quoted destination.
  p.push(label('qreply'));
  p.push(...quotedKeyBlock(2, 16));
  // Our FullNAT packet to a real server came back: the local port is the quoted source port.
  p.push(label('qfnat'));
  p.push(bpfStmt(Bpf.LDX | Bpf.W | Bpf.MEM, 2));
  p.push(bpfStmt(Bpf.LD | Bpf.H | Bpf.IND, N + 0));
  p.push(bpfStmt(Bpf.RET | Bpf.A, 0));
  // A client's packet we forwarded came back: the client is the quoted source.
  p.push(label('qclient'));
  p.push(...quotedKeyBlock(0, 12));
  return bpfProgram(assemble(p));
}

/**
 * Real-server side of the TUN forwarding method, for hosts whose kernel cannot decapsulate (no
 * `ipip`, `fou` or `ip_gre` module): one tapped Ethernet frame in, the inner IP packet out.
 *
 *   AF_PACKET (filtered by rsTunFilter) → RsDecap.frame() → TUN device write of [innerOff, innerLen)
 *
 * The director (datapath/pipeline.ts xmitTunnel4) wraps the client's packet in an outer IPv4 header
 * to the real server's address: IPIP (protocol 4, IPv6-in-IPv4 41), GUE (UDP to --tun-port) or GRE
 * (47). This module checks the outer headers with the wire decapsulators, applies the RFC 6040 ECN
 * rule the kernel's tunnel receive path applies, and says where the inner packet is. The inner
 * packet is not moved: the caller writes it to the TUN device straight from the receive slot.
 *
 * Per-packet code allocates nothing; the verdict is a small integer and the location of the inner
 * packet is left in the caller-visible `out` object, reused for every frame.
 */
import { u16, u32 } from '../wire/bytes.ts';
import { csumCompletePartial } from '../wire/checksum.ts';
import { ETH_HLEN, ETHERTYPE_IPV4 } from '../wire/ethernet.ts';
import { greDecap } from '../wire/gre.ts';
import { gueDecap } from '../wire/gue.ts';
import { ECN_CE, ECN_MASK, ipipDecap, newTunnelDecap } from '../wire/ipip.ts';
import type { TunnelDecap } from '../wire/ipip.ts';
import { IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP, IPV4_HLEN, ipv4SetTos } from '../wire/ipv4.ts';
import { Reason, REASON_COUNT, reasonNames } from '../wire/reason.ts';
import { Bpf, bpfJump, bpfProgram, bpfStmt } from '../io/bpf.ts';
import type { BpfInsn } from '../io/bpf.ts';

/**
 * What happened to one frame. Values below RS_DELIVER_COUNT deliver the inner packet (and say by
 * which encapsulation); the rest are drops, each counted.
 */
export const RsVerdict = {
  /** IPv4 in IPv4 (protocol 4). */
  IPIP: 0,
  /** IPv6 in IPv4 (protocol 41). */
  IP6IP: 1,
  /** GUE: UDP to the GUE port, inner IPv4 or IPv6. */
  GUE: 2,
  /** GRE (protocol 47), inner IPv4 or IPv6. */
  GRE: 3,
  /** Not an untagged IPv4 frame (the filter lets none through; checked again, it costs nothing). */
  NOT_IPV4: 4,
  /** Outer destination is not the real server's address. */
  NOT_FOR_US: 5,
  /** To us, but neither protocol 4/41/47 nor UDP to the GUE port. */
  NOT_TUNNEL: 6,
  /** Outer source not in the --from list. */
  SOURCE_REFUSED: 7,
  /** An outer, tunnel or inner header failed validation; the wire Reason is in `out.reason`. */
  MALFORMED: 8,
  /** Outer CE over a Not-ECT inner packet: RFC 6040 §4.2 says drop (as INET_ECN_decapsulate). */
  ECN_DROP: 9,
  /** The frame was cut to the receive slot size. */
  TRUNCATED: 10,
  /** Offload state we cannot finish in software (GSO other than TCP, a non-TCP/UDP partial csum). */
  OFFLOAD_UNSUPPORTED: 11,
} as const;
export type RsVerdict = (typeof RsVerdict)[keyof typeof RsVerdict];

/** Verdicts below this deliver. */
export const RS_DELIVER_COUNT = 4;
export const RS_VERDICT_COUNT = 12;

export const rsVerdictNames: readonly string[] = (() => {
  const n: string[] = [];
  for (const [k, v] of Object.entries(RsVerdict)) n[v] = k;
  return n;
})();

/** The GUE port ipvsadm examples and docs use; `--tun-port` has no default in ipvsadm itself. */
export const RS_DEFAULT_GUE_PORT = 6080;

export interface RsDecapConfig {
  /** The real server's own IPv4 address (the outer destination the director uses: the RIP). */
  addr: number;
  /** UDP port GUE arrives on; 0 turns GUE off. */
  guePort: number;
  /** Outer sources accepted (the directors); empty accepts any, as an unconfigured tunl0 does. */
  from?: readonly number[];
}

/** Where the inner packet is after a delivering verdict, and why a MALFORMED frame was refused. */
export interface RsDecapOut extends TunnelDecap {
  /** The wire Reason of the last MALFORMED verdict (Reason.OK otherwise). */
  reason: Reason;
}

/** virtio_net_hdr gso_type values a frame may carry and we can pass on as one inner packet. */
const GSO_NONE = 0;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const GSO_ECN = 0x80;

/**
 * The decapsulation state of one receiving socket: configuration, the reused output object and
 * the counters (per verdict, and per wire Reason for MALFORMED).
 */
export class RsDecap {
  readonly addr: number;
  readonly guePort: number;
  private readonly from: Uint32Array;
  readonly out: RsDecapOut;
  /** Frames per verdict. */
  readonly counts = new Float64Array(RS_VERDICT_COUNT);
  /** MALFORMED frames per wire Reason. */
  readonly reasons = new Float64Array(REASON_COUNT);
  /** Inner bytes delivered. */
  deliveredBytes = 0;

  constructor(cfg: RsDecapConfig) {
    if (!Number.isInteger(cfg.addr) || cfg.addr < 0 || cfg.addr > 0xffffffff)
      throw new RangeError('addr must be a uint32 IPv4 address');
    if (!Number.isInteger(cfg.guePort) || cfg.guePort < 0 || cfg.guePort > 0xffff)
      throw new RangeError('guePort must be 0..65535');
    this.addr = cfg.addr >>> 0;
    this.guePort = cfg.guePort;
    this.from = Uint32Array.from(cfg.from ?? []);
    this.out = { ...newTunnelDecap(), reason: Reason.OK };
  }

  /**
   * One received frame: `len` bytes at `off` in `b`, as a packet socket delivers it (Ethernet
   * header first, VLAN tag already stripped). `truncated` is the slot-overflow flag. `csumStart` /
   * `csumOffset` (counted from the frame start) locate a checksum the sender left partial
   * (virtio_net_hdr NEEDS_CSUM), -1 when there is none; `gsoType` is the virtio gso_type (0 none).
   * Returns the verdict and counts it; on a delivering verdict the inner packet is
   * b[out.innerOff, out.innerOff + out.innerLen). May write to the frame (checksum completion,
   * ECN marking of the inner header); never throws, never reads outside [off, off + len).
   */
  frame(
    b: Uint8Array,
    off: number,
    len: number,
    truncated: boolean,
    csumStart: number,
    csumOffset: number,
    gsoType: number,
  ): RsVerdict {
    const v = this.classify(b, off, len, truncated, csumStart, csumOffset, gsoType);
    this.counts[v]++;
    if (v === RsVerdict.MALFORMED) this.reasons[this.out.reason]++;
    else if (v < RS_DELIVER_COUNT) this.deliveredBytes += this.out.innerLen;
    return v;
  }

  private classify(
    b: Uint8Array,
    off: number,
    len: number,
    truncated: boolean,
    csumStart: number,
    csumOffset: number,
    gsoType: number,
  ): RsVerdict {
    const out = this.out;
    out.reason = Reason.OK;
    if (truncated) return RsVerdict.TRUNCATED;
    if (off < 0 || len < ETH_HLEN || off + len > b.length) return this.bad(Reason.ETH_TRUNCATED);
    // A tag the kernel did not strip (no VLAN acceleration) leaves 0x8100 here: not ours either.
    if (u16(b, off + 12) !== ETHERTYPE_IPV4) return RsVerdict.NOT_IPV4;
    const l3 = off + ETH_HLEN;
    const l3len = len - ETH_HLEN;
    if (l3len < IPV4_HLEN) return this.bad(Reason.IPV4_TRUNCATED);
    // Cheap address tests first: a tap may see a lot that is not ours (before the filter is
    // attached, or with the filter off). Full validation is the decapsulators' job.
    if (u32(b, l3 + 16) !== this.addr) return RsVerdict.NOT_FOR_US;
    const proto = b[l3 + 9];
    let kind: RsVerdict;
    if (proto === IPPROTO_IPIP) kind = RsVerdict.IPIP;
    else if (proto === IPPROTO_IPV6) kind = RsVerdict.IP6IP;
    else if (proto === IPPROTO_GRE) kind = RsVerdict.GRE;
    else if (proto === IPPROTO_UDP && this.guePort !== 0) {
      const hl = (b[l3] & 0xf) * 4;
      // Too short to hold the port: let gueDecap name what is wrong with it.
      if (hl >= IPV4_HLEN && hl + 4 <= l3len && u16(b, l3 + hl + 2) !== this.guePort)
        return RsVerdict.NOT_TUNNEL;
      kind = RsVerdict.GUE;
    } else return RsVerdict.NOT_TUNNEL;
    if (this.from.length > 0 && !this.fromAllowed(u32(b, l3 + 12))) return RsVerdict.SOURCE_REFUSED;

    const g = gsoType & ~GSO_ECN;
    if (g !== GSO_NONE && g !== GSO_TCPV4 && g !== GSO_TCPV6) return RsVerdict.OFFLOAD_UNSUPPORTED;
    if (csumStart >= 0) {
      // The frame never crossed a wire (a sender on this host, over veth) or was merged by GRO: one
      // checksum is still the pseudo-header sum. Finish it first, so the decapsulators verify the
      // packet exactly as a fully checksummed one (an outer checksum was computed over the inner
      // as it will be: local checksum offload).
      const tot = u16(b, l3 + 2);
      if (tot < IPV4_HLEN || tot > l3len) return this.bad(Reason.IPV4_BAD_TOTLEN);
      const cs = off + csumStart;
      const end = l3 + tot;
      if (csumOffset !== 6 && csumOffset !== 16) return RsVerdict.OFFLOAD_UNSUPPORTED;
      if (cs < l3 + IPV4_HLEN || cs + csumOffset + 2 > end) return RsVerdict.OFFLOAD_UNSUPPORTED;
      csumCompletePartial(b, cs, end - cs, cs + csumOffset, csumOffset === 6);
    }

    const r =
      kind === RsVerdict.GUE
        ? gueDecap(b, l3, l3len, out)
        : kind === RsVerdict.GRE
          ? greDecap(b, l3, l3len, out)
          : ipipDecap(b, l3, l3len, out);
    if (r !== Reason.OK) return this.bad(r);
    if (!ecnDecapsulate(b[l3 + 1], b, out.innerOff, out.innerVersion)) return RsVerdict.ECN_DROP;
    return kind;
  }

  private bad(r: Reason): RsVerdict {
    this.out.reason = r;
    return RsVerdict.MALFORMED;
  }

  private fromAllowed(src: number): boolean {
    const f = this.from;
    for (let i = 0; i < f.length; i++) if (f[i] === src) return true;
    return false;
  }

  /** Control-plane snapshot: verdict name → frames, plus malformed reasons by name. */
  snapshot(): { verdicts: Record<string, number>; malformed: Record<string, number>; bytes: number } {
    const verdicts: Record<string, number> = {};
    for (let i = 0; i < RS_VERDICT_COUNT; i++)
      if (this.counts[i] > 0) verdicts[rsVerdictNames[i]] = this.counts[i];
    const malformed: Record<string, number> = {};
    for (let i = 0; i < REASON_COUNT; i++)
      if (this.reasons[i] > 0) malformed[reasonNames[i]] = this.reasons[i];
    return { verdicts, malformed, bytes: this.deliveredBytes };
  }
}

/**
 * RFC 6040 §4.2 decapsulation as the kernel's tunnel receive path applies it (ip_tunnel_rcv →
 * INET_ECN_decapsulate): an outer CE is carried into an ECN-capable inner header; over a Not-ECT
 * inner packet it cannot be, and the packet is dropped (returns false). Other combinations leave
 * the inner header alone. Writes the inner TOS / traffic class (IPv4 checksum kept right).
 */
export function ecnDecapsulate(
  outerTos: number,
  b: Uint8Array,
  innerOff: number,
  innerVersion: number,
): boolean {
  const outer = outerTos & ECN_MASK;
  const tos = innerVersion === 6 ? ((b[innerOff] & 0x0f) << 4) | (b[innerOff + 1] >>> 4) : b[innerOff + 1];
  const inner = tos & ECN_MASK;
  if (outer !== ECN_CE || inner === ECN_CE) return true;
  if (inner === 0) return false;
  if (innerVersion === 6) b[innerOff + 1] |= ECN_CE << 4;
  else ipv4SetTos(b, innerOff, tos | ECN_CE);
  return true;
}

/**
 * Socket filter (attachFilter: offsets from the Ethernet header) keeping IPv4 frames to `addr`
 * with protocol 4, 41 or 47, or UDP to `guePort` (unless 0) that is not a later fragment. It is,
 * instruction for instruction, what libpcap compiles for
 *   ip dst ADDR and (ip proto 4 or ip proto 41 or ip proto 47 or (ip proto 17 and udp dst port PORT))
 * (without the UDP part when guePort is 0); test/rs/filter.test.ts holds tcpdump -dd's output.
 */
export function rsTunFilter(addr: number, guePort: number): Int32Array {
  const J = Bpf.JMP | Bpf.JEQ | Bpf.K;
  const head: BpfInsn[] = [
    bpfStmt(Bpf.LD | Bpf.H | Bpf.ABS, 12),
    [J, 0, 0, ETHERTYPE_IPV4], // jf patched below
    bpfStmt(Bpf.LD | Bpf.W | Bpf.ABS, ETH_HLEN + 16),
    [J, 0, 0, addr >>> 0],
    bpfStmt(Bpf.LD | Bpf.B | Bpf.ABS, ETH_HLEN + 9),
  ];
  const body: BpfInsn[] =
    guePort === 0
      ? [bpfJump(J, IPPROTO_IPIP, 2, 0), bpfJump(J, IPPROTO_IPV6, 1, 0), bpfJump(J, IPPROTO_GRE, 0, 1)]
      : [
          bpfJump(J, IPPROTO_IPIP, 8, 0),
          bpfJump(J, IPPROTO_IPV6, 7, 0),
          bpfJump(J, IPPROTO_GRE, 6, 0),
          bpfJump(J, IPPROTO_UDP, 0, 6),
          // A later fragment has no UDP header to read the port from.
          bpfStmt(Bpf.LD | Bpf.H | Bpf.ABS, ETH_HLEN + 6),
          bpfJump(Bpf.JMP | Bpf.JSET | Bpf.K, 0x1fff, 4, 0),
          bpfStmt(Bpf.LDX | Bpf.B | Bpf.MSH, ETH_HLEN),
          bpfStmt(Bpf.LD | Bpf.H | Bpf.IND, ETH_HLEN + 2),
          bpfJump(J, guePort, 0, 1),
        ];
  const tail: BpfInsn[] = [bpfStmt(Bpf.RET | Bpf.K, Bpf.ACCEPT_ALL), bpfStmt(Bpf.RET | Bpf.K, 0)];
  const n = head.length + body.length + tail.length;
  const drop = n - 1;
  // The two guards in the head jump to the final "ret 0" when they fail.
  head[1] = bpfJump(J, ETHERTYPE_IPV4, 0, drop - 2);
  head[3] = bpfJump(J, addr >>> 0, 0, drop - 4);
  return bpfProgram([...head, ...body, ...tail]);
}

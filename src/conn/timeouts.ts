/**
 * Per-protocol state timeouts (each protocol's pd->timeout_table), in milliseconds, shared by the
 * tables of both address families like the kernel's per-netns tables. `ipvsadm --set tcp tcpfin
 * udp` changes three of them at run time; `ipvsadm -L --timeout` reads the same three.
 */
import { SCTP_DEFAULT_TIMEOUTS_S } from './proto-sctp.ts';
import { TCP_DEFAULT_TIMEOUTS_S, TcpState } from './proto-tcp.ts';
import { UDP_DEFAULT_TIMEOUT_S, UdpState } from './proto-udp.ts';

/** INT_MAX / HZ with HZ = 1000: the largest value ip_vs_set_timeout accepts, in seconds. */
export const MAX_TIMEOUT_S = Math.floor(0x7fffffff / 1000);

export interface IpvsadmTimeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}

export class Timeouts {
  /** By TcpState. */
  readonly tcp = new Uint32Array(TCP_DEFAULT_TIMEOUTS_S.length);
  /** By UdpState (one state). */
  readonly udp = new Uint32Array(1);
  /** By SctpState. */
  readonly sctp = new Uint32Array(SCTP_DEFAULT_TIMEOUTS_S.length);

  constructor() {
    this.reset();
  }

  /** Back to the kernel defaults. */
  reset(): void {
    TCP_DEFAULT_TIMEOUTS_S.forEach((s, i) => (this.tcp[i] = s * 1000));
    this.udp[UdpState.NORMAL] = UDP_DEFAULT_TIMEOUT_S * 1000;
    SCTP_DEFAULT_TIMEOUTS_S.forEach((s, i) => (this.sctp[i] = s * 1000));
  }

  /**
   * ip_vs_set_timeout: seconds for ESTABLISHED, FIN_WAIT and UDP; 0 keeps the current value.
   * Returns false (the kernel's -EINVAL) and changes nothing if any value is negative, not an
   * integer, or above MAX_TIMEOUT_S. Conns pick the new value up on their next packet.
   */
  set(tcp: number, tcpfin: number, udp: number): boolean {
    for (const v of [tcp, tcpfin, udp]) if (!Number.isInteger(v) || v < 0 || v > MAX_TIMEOUT_S) return false;
    if (tcp !== 0) this.tcp[TcpState.ESTABLISHED] = tcp * 1000;
    if (tcpfin !== 0) this.tcp[TcpState.FIN_WAIT] = tcpfin * 1000;
    if (udp !== 0) this.udp[UdpState.NORMAL] = udp * 1000;
    return true;
  }

  /** __ip_vs_get_timeouts: the three values in whole seconds, for `ipvsadm -L --timeout`. */
  get(): IpvsadmTimeouts {
    return {
      tcp: Math.floor(this.tcp[TcpState.ESTABLISHED] / 1000),
      tcpfin: Math.floor(this.tcp[TcpState.FIN_WAIT] / 1000),
      udp: Math.floor(this.udp[UdpState.NORMAL] / 1000),
    };
  }
}

/**
 * Small shared vocabulary of the connection table: packet directions, template states, protocol
 * names and the reusable parameter block for creating a conn (struct ip_vs_conn_param plus the
 * destination half that ip_vs_conn_new takes as arguments).
 */

/** IP_VS_DIR_*: which way a packet travels relative to the conn. */
export const Dir = {
  /** Client → virtual service. */
  INPUT: 0,
  /** Real server → client (only NAT and FullNAT replies pass the director). */
  OUTPUT: 1,
  /** Input while the conn has NOOUTPUT (DR/TUN: replies bypass the director). */
  INPUT_ONLY: 2,
} as const;
export type Dir = (typeof Dir)[keyof typeof Dir];

/** IP_VS_CTPL_S_*: templates use state bits instead of a protocol state. */
export const CtplState = { NONE: 0, ASSURED: 1 } as const;
/** ip_vs_ctpl_state_name_table */
export const CTPL_STATE_NAMES: readonly string[] = ['NONE', 'ASSURED'];

export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

/** ip_vs_proto_name: the protocol column of `ipvsadm -lc` and /proc/net/ip_vs_conn. */
export function protoName(proto: number): string {
  switch (proto) {
    case IPPROTO_IP:
      return 'IP';
    case IPPROTO_UDP:
      return 'UDP';
    case IPPROTO_TCP:
      return 'TCP';
    case IPPROTO_SCTP:
      return 'SCTP';
    case IPPROTO_ICMP:
      return 'ICMP';
    case IPPROTO_ICMPV6:
      return 'ICMPv6';
    default:
      return `IP_${proto}`;
  }
}

/**
 * Everything needed to create a conn. One instance is meant to be reused by the packet path: fill
 * it, call ConnTable.insert, forget it (the table copies the fields). IPv4 tables read the numeric
 * address fields (uint32), IPv6 tables the 16-byte ones.
 */
export interface ConnParam {
  proto: number;
  caddr: number;
  cport: number;
  vaddr: number;
  vport: number;
  daddr: number;
  dport: number;
  /** FullNAT local address/port; ignored (set to caddr/cport) for other forwarding methods. */
  laddr: number;
  lport: number;
  caddr6: Uint8Array;
  vaddr6: Uint8Array;
  daddr6: Uint8Array;
  laddr6: Uint8Array;
  fwmark: number;
  /** ConnFlag bits the caller decides (TEMPLATE, ONE_PACKET, SYNC, NO_CPORT, or Fwd.BYPASS). */
  flags: number;
  /** DestRegistry id, or -1 for none (bypass conns). */
  destId: number;
}

export function newConnParam(): ConnParam {
  return {
    proto: 0,
    caddr: 0,
    cport: 0,
    vaddr: 0,
    vport: 0,
    daddr: 0,
    dport: 0,
    laddr: 0,
    lport: 0,
    caddr6: new Uint8Array(16),
    vaddr6: new Uint8Array(16),
    daddr6: new Uint8Array(16),
    laddr6: new Uint8Array(16),
    fwmark: 0,
    flags: 0,
    destId: -1,
  };
}

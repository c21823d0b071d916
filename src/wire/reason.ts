/**
 * Why a frame could not be parsed. Every `check` function in wire/ returns one of these; none
 * throws. The datapath counts drops per reason, so the numbering is stable and dense.
 */
export const Reason = {
  OK: 0,
  ETH_TRUNCATED: 1,
  VLAN_TRUNCATED: 2,
  ETHERTYPE_UNKNOWN: 3,
  FRAME_OVERSIZED: 4,
  ARP_TRUNCATED: 5,
  ARP_UNSUPPORTED: 6,
  ARP_BAD_OP: 7,
  IPV4_TRUNCATED: 8,
  IPV4_BAD_VERSION: 9,
  IPV4_BAD_IHL: 10,
  IPV4_BAD_TOTLEN: 11,
  IPV4_BAD_CSUM: 12,
  IPV4_FRAGMENT: 13,
  IPV4_BAD_OPTIONS: 14,
  IPV6_TRUNCATED: 15,
  IPV6_BAD_VERSION: 16,
  IPV6_BAD_PAYLOAD_LEN: 17,
  IPV6_EXT_TRUNCATED: 18,
  IPV6_EXT_TOO_MANY: 19,
  IPV6_FRAGMENT: 20,
  L4_PROTO_UNKNOWN: 21,
  TCP_TRUNCATED: 22,
  TCP_BAD_DOFF: 23,
  TCP_BAD_OPTIONS: 24,
  TCP_BAD_CSUM: 25,
  UDP_TRUNCATED: 26,
  UDP_BAD_LEN: 27,
  UDP_BAD_CSUM: 28,
  ICMP_TRUNCATED: 29,
  ICMP_BAD_CSUM: 30,
  ICMP_INNER_TRUNCATED: 31,
  ICMP_INNER_BAD: 32,
  ICMP6_TRUNCATED: 33,
  GUE_TRUNCATED: 34,
  GUE_BAD_VERSION: 35,
  GUE_BAD_HLEN: 36,
  GRE_TRUNCATED: 37,
  GRE_BAD_VERSION: 38,
  GRE_BAD_FLAGS: 39,
  VRRP_TRUNCATED: 40,
  VRRP_BAD_VERSION: 41,
  VRRP_BAD_TYPE: 42,
  VRRP_BAD_LEN: 43,
  VRRP_BAD_CSUM: 44,
  IPIP_INNER_BAD: 45,
  SCTP_TRUNCATED: 46,
  GRE_BAD_CSUM: 47,
  ICMP6_BAD_CSUM: 48,
} as const;

export type Reason = (typeof Reason)[keyof typeof Reason];

/** Reason code → name (`reasonNames[Reason.TCP_TRUNCATED] === 'TCP_TRUNCATED'`). */
export const reasonNames: readonly string[] = (() => {
  const names: string[] = [];
  for (const [k, v] of Object.entries(Reason)) names[v] = k;
  return names;
})();

export const REASON_COUNT = reasonNames.length;

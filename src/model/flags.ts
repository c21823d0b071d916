/**
 * Kernel IPVS constants, with the kernel's own values so that listings, the control API and
 * saved rules line up with ipvsadm (include/uapi/linux/ip_vs.h).
 */

/** Forwarding method: the low 3 bits of conn_flags (IP_VS_CONN_F_FWD_MASK). */
export const Fwd = {
  MASQ: 0,
  LOCALNODE: 1,
  TUNNEL: 2,
  DROUTE: 3,
  BYPASS: 4,
  /** FullNAT, as Alibaba LVS and DPVS number it (IP_VS_CONN_F_FULLNAT 0x0005). */
  FULLNAT: 5,
} as const;
export type Fwd = (typeof Fwd)[keyof typeof Fwd];
export const FWD_MASK = 0x7;

/** Connection flags above the forwarding bits (IP_VS_CONN_F_*). */
export const ConnFlag = {
  SYNC: 0x20,
  HASHED: 0x40,
  NOOUTPUT: 0x80,
  INACTIVE: 0x100,
  NO_CPORT: 0x800,
  TEMPLATE: 0x1000,
  ONE_PACKET: 0x2000,
} as const;

/** Service flags (IP_VS_SVC_F_*). */
export const SvcFlag = {
  PERSISTENT: 0x1,
  HASHED: 0x2,
  ONEPACKET: 0x4,
  SCHED1: 0x8,
  SCHED2: 0x10,
  SCHED3: 0x20,
} as const;
export const SVC_SCHED_FLAGS = SvcFlag.SCHED1 | SvcFlag.SCHED2 | SvcFlag.SCHED3;
/** sh and mh give the scheduler flags their own names (IP_VS_SVC_F_SCHED_SH_FALLBACK, …). */
export const SCHED_FALLBACK = SvcFlag.SCHED1;
export const SCHED_PORT = SvcFlag.SCHED2;

/** Destination flags (IP_VS_DEST_F_*). */
export const DestFlag = {
  AVAILABLE: 0x1,
  OVERLOAD: 0x2,
} as const;

/** Tunnel encapsulation types (IP_VS_CONN_F_TUNNEL_TYPE_*). */
export const TunType = { IPIP: 0, GUE: 1, GRE: 2 } as const;
export type TunType = (typeof TunType)[keyof typeof TunType];

/** Tunnel encapsulation flags (IP_VS_TUNNEL_ENCAP_FLAG_*). */
export const TunFlag = { NOCSUM: 0, CSUM: 1, REMCSUM: 2 } as const;

/** Protocol numbers used as service keys. */
export const Proto = { TCP: 6, UDP: 17, SCTP: 132 } as const;
export type Proto = (typeof Proto)[keyof typeof Proto];

export type Af = 4 | 6;

/** IPVS_SVC_PERSISTENT_TIMEOUT: 6 minutes (ipvsadm's man page says 300, the code says 360). */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
/** IP_VS_DEST_TRASH_PERIOD: a deleted dest can be revived for 120 s. */
export const DEST_TRASH_PERIOD_MS = 120_000;

export const SCHEDULER_NAMES = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'lblcr',
  'dh',
  'sh',
  'sed',
  'nq',
  'fo',
  'ovf',
  'mh',
  'twos',
] as const;
export type SchedName = (typeof SCHEDULER_NAMES)[number];

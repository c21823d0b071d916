/**
 * What the pipeline decided for a frame, and the drop/pass reasons it counts. Wire reasons
 * (malformed frames, wire/reason.ts) come first; datapath reasons are numbered after them, so
 * one Float64Array of counters covers both.
 */
import { REASON_COUNT, reasonNames } from '../wire/reason.ts';

export const Verdict = {
  /** Drop the frame; `lastReason` says why. */
  DROP: 0,
  /** Send the rewritten frame out of `outIf`. */
  TX: 1,
  /** Not ours: leave it to the host's stack untouched. */
  PASS: 2,
  /** A locally generated answer (ICMP error, echo reply) replaced the frame; send it out of `outIf`. */
  REPLY: 3,
  /**
   * The frame was a GSO super-frame segmented in software (TUN mode): send the `segCount` frames
   * at segBuf[k * segSlot] (segLens[k] bytes each) out of `outIf`, in order. The input is spent.
   */
  TX_SEGS: 4,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

const DP_NAMES = [
  'PASS_NOT_VIP',
  'PASS_NOT_IP',
  'PASS_PROTO',
  'FRAGMENT_TO_VIP',
  'NO_CONN_NOT_SYN',
  'DEST_UNAVAILABLE',
  'NO_DEST',
  'CONN_TABLE_FULL',
  'NO_ROUTE',
  'TTL_EXCEEDED',
  'FRAG_NEEDED',
  'NO_ROOM',
  'FULLNAT_NO_PORT',
  'ICMP_UNRELATED',
  'PORT_ZERO_NOT_PERSISTENT',
  'UNSUPPORTED',
  'GSO_TUNNEL',
  'GSO_SEGMENTED',
  'TX',
  'REPLY',
] as const;

/** Datapath reasons, numbered after the wire reasons. */
export const Dp = Object.fromEntries(DP_NAMES.map((n, i) => [n, REASON_COUNT + i])) as {
  readonly [K in (typeof DP_NAMES)[number]]: number;
};

export const COUNTER_COUNT = REASON_COUNT + DP_NAMES.length;

/** Counter index → name, for metrics and the daemon's status. */
export const counterNames: readonly string[] = [...reasonNames, ...DP_NAMES];

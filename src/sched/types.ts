/**
 * The scheduler interface (struct ip_vs_scheduler): one instance per service, told about every
 * change of the service's dest list, asked for a dest for each new connection.
 *
 * Call order, as in ip_vs_ctl.c: on add, the control plane inserts the dest at the head of
 * `svc.dests` and then calls addDest; on delete, it removes the dest from `svc.dests` and then
 * calls delDest with the index it had; on edit, it updates the dest and then calls updDest.
 */
import type { Dest } from '../model/dest.ts';
import type { Af, SchedName } from '../model/flags.ts';
import type { Service } from '../model/service.ts';

/**
 * What a scheduler may look at in the packet (the kernel passes the skb and ip_vs_iphdr).
 * One instance is reused for every packet: schedulers must not keep a reference to it.
 * For IPv4, `saddr6`/`daddr6` content is unspecified; for IPv6, `saddr`/`daddr` are 0.
 */
export interface SchedPacket {
  af: Af;
  saddr: number;
  saddr6: Uint8Array;
  /** ip_vs_addr_fold of the source address. */
  saddrFold: number;
  sport: number;
  daddr: number;
  daddr6: Uint8Array;
  /** ip_vs_addr_fold of the destination address. */
  daddrFold: number;
  dport: number;
}

export function newSchedPacket(): SchedPacket {
  return {
    af: 4,
    saddr: 0,
    saddr6: new Uint8Array(16),
    saddrFold: 0,
    sport: 0,
    daddr: 0,
    daddr6: new Uint8Array(16),
    daddrFold: 0,
    dport: 0,
  };
}

/** Injected clock, randomness and sysctls, so schedulers are deterministic under test. */
export interface SchedEnv {
  /** Milliseconds on the injected clock. */
  now(): number;
  /** A uniformly random uint32 (prandom_u32). */
  random(): number;
  /** lblc_expiration / lblcr_expiration sysctls, in ms (default 24 h). */
  lblcExpirationMs: number;
  lblcrExpirationMs: number;
}

export interface Scheduler {
  readonly name: SchedName;
  addDest(dest: Dest): void;
  delDest(dest: Dest, formerIndex: number): void;
  updDest(dest: Dest): void;
  /** Picks a dest for a new connection, or null ("no destination available"). */
  schedule(pkt: SchedPacket): Dest | null;
  /**
   * A dest's connection counters or OVERLOAD flag changed (a conn bound, unbound or changed
   * activity). Schedulers that keep an index over the counters (wlc) refresh it; others omit it.
   */
  loadChanged?(dest: Dest): void;
  /** Periodic work (lblc/lblcr garbage collection); called at least every second. */
  tick?(now: number): void;
  /** done_service: release state. */
  done?(): void;
}

export type SchedulerFactory = (svc: Service, env: SchedEnv) => Scheduler;

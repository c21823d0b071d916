/**
 * The scheduler registry (register_ip_vs_scheduler / ip_vs_scheduler_get): a scheduler by name,
 * bound to one service. Creating it is the kernel's init_service, so it starts from whatever dests
 * the service already has (as when `ipvsadm -E -s` changes the scheduler of a populated service).
 */
import { SCHEDULER_NAMES } from '../model/flags.ts';
import type { SchedName } from '../model/flags.ts';
import type { Service } from '../model/service.ts';
import { createDh } from './dh.ts';
import { createFo } from './fo.ts';
import { createLblc } from './lblc.ts';
import { createLblcr } from './lblcr.ts';
import { createLc } from './lc.ts';
import { createMh } from './mh.ts';
import { createNq } from './nq.ts';
import { createOvf } from './ovf.ts';
import { createRr } from './rr.ts';
import { createSed } from './sed.ts';
import { createSh } from './sh.ts';
import { createTwos } from './twos.ts';
import type { SchedEnv, Scheduler, SchedulerFactory } from './types.ts';
import { createWlc } from './wlc.ts';
import { createWrr } from './wrr.ts';

const FACTORIES: { readonly [K in SchedName]: SchedulerFactory } = {
  rr: createRr,
  wrr: createWrr,
  lc: createLc,
  wlc: createWlc,
  lblc: createLblc,
  lblcr: createLblcr,
  dh: createDh,
  sh: createSh,
  sed: createSed,
  nq: createNq,
  fo: createFo,
  ovf: createOvf,
  mh: createMh,
  twos: createTwos,
};

const NAMES: ReadonlySet<string> = new Set<string>(SCHEDULER_NAMES);

/** True for the 14 IPVS scheduler names (ipvsadm passes the name through; the kernel looks it up). */
export function isSchedulerName(s: string): s is SchedName {
  return NAMES.has(s);
}

/** Binds a new scheduler of kind `name` to `svc` (ip_vs_bind_scheduler → init_service). */
export function createScheduler(name: SchedName, svc: Service, env: SchedEnv): Scheduler {
  return FACTORIES[name](svc, env);
}

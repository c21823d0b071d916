/**
 * V8 settings for the packet path, applied by tslvsd (and by the benchmarks, so they measure what
 * the daemon runs) before any hot code is optimised.
 *
 * The established-packet path is a chain of small functions (parse, conn lookup, state
 * transition, timer, transmit) that V8 would otherwise stop inlining after ~920 bytes of bytecode
 * in total; beyond that every call stays a call, with its argument shuffling and spills. Raising
 * the cumulative budget lets the whole chain compile into the receive loop. Measured with
 * `npm run bench` (one flow's packets, cache hot): DR about 157 → 115 ns per packet, NAT about
 * 180 → 150 ns. The flags only change how much V8 inlines, not what the code does.
 *
 * The cumulative budget is itself capped by the absolute one (4 600 bytes by default). At that
 * cap, which hot leaves (the MAC setters, the NAT checksum update, the TTL decrement) still fit
 * depended on the order the inliner met them, so NAT landed anywhere from 130 to 175 ns from one
 * process to the next. With both limits at 16 000 the whole chain fits every time (NAT about
 * 110–140 ns, DR about 100–125 ns, bench/one-process runs of the isolated cases).
 */
import { setFlagsFromString } from 'node:v8';

export const V8_DATAPATH_FLAGS = [
  '--max-inlined-bytecode-size-cumulative=16000',
  '--max-inlined-bytecode-size-absolute=16000',
  '--max-inlined-bytecode-size=700',
];

let applied = false;

/** Applies V8_DATAPATH_FLAGS once per process (later calls do nothing). */
export function tuneV8ForDatapath(): void {
  if (applied) return;
  applied = true;
  for (const f of V8_DATAPATH_FLAGS) setFlagsFromString(f);
}

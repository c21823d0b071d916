/**
 * IPVS core benchmark: Pipeline.process for packets of established flows (DR and NAT) and for new
 * connections (scheduling + conn insert with rr, wlc and mh over 100 real servers), then memory
 * per conn (bench/memory.ts). References measured in the same run give the ratios meaning: a
 * frame restore alone (the benchmark's own overhead), parseFrame alone, a Map keyed by a number
 * for the same flows, ConnTable.lookupIn alone, and the wire-level NAT rewrite alone.
 *
 * How frames are fed:
 * - Established flows: one pristine ACK frame per flow, 54 bytes in a 64-byte slot, slots laid out
 *   in a shuffled flow order so the loop walks the frame buffer sequentially (as a receive ring
 *   would) while the conn ids it hits are spread over the whole table. process() rewrites in place
 *   (MACs, TTL and IP checksum; NAT also the destination address, port and TCP checksum), so after
 *   each call the slot's first 14 words are copied back from the pristine buffer through Uint32Array
 *   views. That copy is timed with the packet; its cost is measured alone and subtracted ("net").
 * - New conns: one pre-built SYN per packet, each from a new client address/port, used once; the
 *   table is sized for every SYN of the run (warm-up included), so it never fills. Each scheduler's
 *   table is first filled by an untimed pass over the same SYNs and flushed, so the timed inserts
 *   reuse touched pages (steady state) rather than take first-touch page faults. A further row runs
 *   rr in a steady state with expiry instead: the clock moves 1 ms per SYN and tick() runs every
 *   1024 SYNs inside the timed loop, so the cost of expiring conns is included.
 *
 * Every timed case runs in fresh worker isolates (bench/isolate.ts), three by default: its JIT code
 * and type feedback then come from that case alone, and the spread between isolates (V8 does not
 * compile the same code the same way every time) is printed instead of hidden. Memory per conn is
 * measured in the main thread, where the process's RSS is.
 *
 * Env: TSLVS_BENCH_ISOLATES (isolates per case, default 3), TSLVS_BENCH_FLOWS (established flows beyond the caches, default 100000; 1000 flows are always
 * run as the in-cache case), TSLVS_BENCH_BIG=1 (also run
 * established flows with 1 M conns, beyond the L3 cache), TSLVS_BENCH_10M=0 (skip the 10 M memory
 * case), TSLVS_BENCH_ONLY=mem,est,new (sections to run, for profiling). Standalone:
 * node dist/bench/core.js.
 */
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { ServiceTable } from '../src/control/services.ts';
import { FrameInfo, parseFrame } from '../src/datapath/parse.ts';
import { Pipeline } from '../src/datapath/pipeline.ts';
import type { Hop, NetEnv } from '../src/datapath/pipeline.ts';
import { Dp, Verdict } from '../src/datapath/verdict.ts';
import { addr4 } from '../src/model/addr.ts';
import { Fwd, Proto, TunType } from '../src/model/flags.ts';
import type { Fwd as FwdT } from '../src/model/flags.ts';
import { u16, u32 } from '../src/wire/bytes.ts';
import { ethEmit, ETHERTYPE_IPV4 } from '../src/wire/ethernet.ts';
import type { EthRepr } from '../src/wire/ethernet.ts';
import { IPPROTO_TCP, ipv4Emit } from '../src/wire/ipv4.ts';
import type { Ipv4Repr } from '../src/wire/ipv4.ts';
import { TCP_FLAG_ACK, TCP_FLAG_SYN, tcpCsumOkV4, tcpEmit, tcpFillCsumV4 } from '../src/wire/tcp.ts';
import type { TcpRepr } from '../src/wire/tcp.ts';
import { rewriteDst4 } from '../src/xmit/rewrite.ts';
import type { BenchResult } from './harness.ts';
import { bench, fmtNs, printTable } from './harness.ts';
import { runMemoryBench } from './memory.ts';
import { isolated } from './isolate.ts';
import { V8_DATAPATH_FLAGS, tuneV8ForDatapath } from '../src/daemon/v8tune.ts';

// ---------------------------------------------------------------- lab

const VIP = 0x0a000064; // 10.0.0.100
const VPORT = 80;
const NAT_PORT = 8080;
const RS_NET = 0xc0a80a00; // 192.168.10.0/24, behind interface 2
const N_DESTS = 100;
const MAC_ROUTER = 0x0200000000fe;
const MAC_DIR_OUT = 0x020000000002;
const MAC_DIR_IN = 0x020000000102;
const MAC_RS_BASE = 0x020000010100; // + host byte

/** Frame geometry: Ethernet + IPv4 + TCP without options or payload, one 64-byte slot each. */
const L3 = 14;
const L4 = 34;
const FRAME_LEN = 54;
const SLOT = 64;
const SLOT_W = SLOT / 4;
/** Words restored after each process(): bytes 0..55 cover every byte NAT and DR rewrite. */
const RESTORE_W = 14;

/** Clients for established flows live in 11.0.0.0/8, new-conn SYNs come from 12.0.0.0/8. */
const EST_NET = 0x0b000000;
const SYN_NET = 0x0c000000;
function flowAddr(net: number, i: number): number {
  return (net + (i >>> 10)) >>> 0;
}
function flowPort(i: number): number {
  return 1024 + (i & 1023);
}

/**
 * Routing without tables: the real servers are on-link with a MAC computed from the host byte,
 * anything else goes to the router. A real data plane looks the neighbour up in its ARP table;
 * that lookup is not part of what is measured here.
 */
class BenchNet implements NetEnv {
  route4(dst: number, hop: Hop): boolean {
    if (dst >>> 8 === RS_NET >>> 8) {
      hop.ifindex = 2;
      hop.dstMac = MAC_RS_BASE + (dst & 0xff);
      hop.srcMac = MAC_DIR_IN;
      hop.mtu = 1500;
      hop.saddr = RS_NET + 254;
      return true;
    }
    hop.ifindex = 1;
    hop.dstMac = MAC_ROUTER;
    hop.srcMac = MAC_DIR_OUT;
    hop.mtu = 1500;
    hop.saddr = 0x0a0000fe;
    return true;
  }
  /** No IPv6 traffic in this benchmark. */
  route6(_dst: Uint8Array, _off: number, _hop: Hop): boolean {
    return false;
  }
  ifMac(ifindex: number): number {
    return ifindex === 2 ? MAC_DIR_IN : MAC_DIR_OUT;
  }
}

/** A deterministic uint32 source (xorshift32). */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

interface Director {
  pipe: Pipeline;
  clock: { now: number };
}

/** One TCP service VIP:80 with `N_DESTS` real servers 192.168.10.1.. of one forwarding method. */
function makeDirector(sched: string, fwd: FwdT, maxConns: number): Director {
  const clock = { now: 1_000_000 };
  const random = seeded(7);
  const services = new ServiceTable({
    now: () => clock.now,
    random,
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
  const key = { af: 4 as const, proto: Proto.TCP, addr: addr4(VIP), port: VPORT, fwmark: 0 };
  services.addService(key, { sched, flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' });
  for (let i = 1; i <= N_DESTS; i++) {
    services.addDest(key, {
      addr: addr4(RS_NET + i),
      port: fwd === Fwd.MASQ ? NAT_PORT : VPORT,
      fwd,
      weight: 1,
      uThreshold: 0,
      lThreshold: 0,
      tunType: TunType.IPIP,
      tunPort: 0,
      tunFlags: 0,
    });
  }
  const pipe = new Pipeline({ services, net: new BenchNet(), random, maxConns });
  return { pipe, clock };
}

// Reused reprs: building frames is setup, but a million of them should not churn the heap.
const ethR: EthRepr = { dst: MAC_DIR_OUT, src: MAC_ROUTER, ethertype: ETHERTYPE_IPV4 };
const ipR: Ipv4Repr = {
  tos: 0,
  totalLen: FRAME_LEN - L3,
  id: 0x1234,
  df: true,
  mf: false,
  fragOffset: 0,
  ttl: 64,
  proto: IPPROTO_TCP,
  src: 0,
  dst: VIP,
};
const tcpR: TcpRepr = {
  srcPort: 0,
  dstPort: VPORT,
  seq: 0,
  ack: 0,
  flags: 0,
  reserved: 0,
  window: 65535,
  urgent: 0,
  options: [],
};

/** Writes a client → VIP:80 TCP frame with correct checksums at `off`. */
function writeTcp4(b: Uint8Array, off: number, saddr: number, sport: number, flags: number): void {
  ipR.src = saddr;
  tcpR.srcPort = sport;
  tcpR.flags = flags;
  tcpR.seq = (Math.imul(saddr ^ (sport << 16), 0x9e3779b1) >>> 0) + (flags === TCP_FLAG_SYN ? 0 : 1);
  tcpR.ack = flags === TCP_FLAG_SYN ? 0 : 0x10000;
  ethEmit(ethR, b, off);
  ipv4Emit(ipR, b, off + L3);
  tcpEmit(tcpR, b, off + L4);
  tcpFillCsumV4(b, off + L3, off + L4, FRAME_LEN - L4);
}

/** Copies the rewritten words of one slot back from the pristine buffer (inlined by V8). */
function restoreSlot(w: Uint32Array, p: Uint32Array, o: number): void {
  for (let i = 0; i < RESTORE_W; i++) w[o + i] = p[o + i];
}

function shuffled(n: number, random: () => number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = random() % (i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

function counterSum(p: Pipeline): number {
  let s = 0;
  for (let i = 0; i < p.counters.length; i++) s += p.counters[i];
  return s;
}

/** Every counted outcome since `sum0` must have been a TX: no drop, pass or reply slipped in. */
function assertAllTx(p: Pipeline, sum0: number, tx0: number, what: string): void {
  const all = counterSum(p) - sum0;
  const tx = p.counters[Dp.TX] - tx0;
  if (all !== tx || tx === 0) throw new Error(`${what}: ${all - tx} of ${all} frames were not TX`);
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v}: not a count`);
  return n;
}

const ns = (r: BenchResult): string => fmtNs(r.nsPerOp);
/** The fastest sample: on a shared machine the least disturbed one. */
const minNs = (r: BenchResult): string => `min ${fmtNs(Math.min(...r.samples))}`;
const x = (a: number, b: number): string => `${(a / b).toFixed(1)}x`;

/**
 * How many fresh isolates each case runs in (TSLVS_BENCH_ISOLATES, default 3). Which code V8's
 * optimising compiler produces for the packet path depends on when its background compile jobs run
 * relative to the loop, so one isolate can land 30 % off another on the same code: a row reports
 * the median over isolates of each isolate's median, and the per-isolate medians.
 */
const ISOLATES = envInt('TSLVS_BENCH_ISOLATES', 3);

interface IsolatedResult extends BenchResult {
  /** Each isolate's median, in run order. */
  perIsolate: number[];
}

async function inIsolates(task: string, arg: unknown): Promise<IsolatedResult> {
  const rs: BenchResult[] = [];
  for (let i = 0; i < ISOLATES; i++) rs.push(await isolated<BenchResult>(task, arg));
  const per = rs.map((r) => r.nsPerOp);
  const sorted = [...per].sort((a, b) => a - b);
  return {
    name: rs[0].name,
    nsPerOp: sorted[Math.floor(sorted.length / 2)],
    samples: rs.flatMap((r) => r.samples),
    perIsolate: per,
  };
}

const spread = (r: IsolatedResult): string => `isolates ${r.perIsolate.map((v) => v.toFixed(0)).join('/')}`;

// ---------------------------------------------------------------- established flows

interface EstFlows {
  dir: Director;
  flows: number;
  work: Uint8Array;
  pristine: Uint8Array;
}

/** Opens `flows` conns (SYN then ACK through the pipeline: ESTABLISHED) and lays out their ACKs. */
function setupEstablished(fwd: FwdT, flows: number): EstFlows {
  const dir = makeDirector('rr', fwd, nextPow2(flows + 1));
  const { pipe, clock } = dir;
  const perm = shuffled(flows, seeded(99));
  const pristine = new Uint8Array(flows * SLOT);
  for (let k = 0; k < flows; k++) {
    const f = perm[k];
    writeTcp4(pristine, k * SLOT, flowAddr(EST_NET, f), flowPort(f), TCP_FLAG_ACK);
  }
  // Conns are created in flow order, so conn ids follow flows, not slots.
  const slotOf = new Int32Array(flows);
  for (let k = 0; k < flows; k++) slotOf[perm[k]] = k;
  const scratch = new Uint8Array(SLOT);
  const sum0 = counterSum(pipe);
  const tx0 = pipe.counters[Dp.TX];
  for (let f = 0; f < flows; f++) {
    writeTcp4(scratch, 0, flowAddr(EST_NET, f), flowPort(f), TCP_FLAG_SYN);
    pipe.process(scratch, 0, FRAME_LEN, SLOT, 1, 0, clock.now);
    scratch.set(pristine.subarray(slotOf[f] * SLOT, slotOf[f] * SLOT + SLOT));
    pipe.process(scratch, 0, FRAME_LEN, SLOT, 1, 0, clock.now);
  }
  assertAllTx(pipe, sum0, tx0, 'established setup');
  if (pipe.conns4.count !== flows) throw new Error(`established setup: ${pipe.conns4.count} conns`);

  // One untimed pass checks what the timed loop will do to each slot.
  const work = pristine.slice();
  const w32 = new Uint32Array(work.buffer);
  const p32 = new Uint32Array(pristine.buffer);
  for (let k = 0; k < flows; k++) {
    const off = k * SLOT;
    const v = pipe.process(work, off, FRAME_LEN, SLOT, 1, 0, clock.now);
    if (v !== Verdict.TX || pipe.outIf !== 2) throw new Error(`slot ${k}: verdict ${v}`);
    if (fwd === Fwd.MASQ) {
      if (u32(work, off + L3 + 16) >>> 8 !== RS_NET >>> 8 || u16(work, off + L4 + 2) !== NAT_PORT)
        throw new Error(`slot ${k}: not rewritten to a real server`);
      if (!tcpCsumOkV4(work, off + L3, off + L4, FRAME_LEN - L4))
        throw new Error(`slot ${k}: bad TCP checksum`);
    }
    restoreSlot(w32, p32, k * SLOT_W);
  }
  for (let k = 0; k < flows * SLOT; k++)
    if (work[k] !== pristine[k]) throw new Error(`restore missed byte ${k % SLOT}`);
  return { dir, flows, work, pristine };
}

function benchEstablished(e: EstFlows, name: string, ops: number): BenchResult {
  const { pipe, clock } = e.dir;
  const { work, flows } = e;
  const w32 = new Uint32Array(work.buffer);
  const p32 = new Uint32Array(e.pristine.buffer);
  let k = 0;
  const sum0 = counterSum(pipe);
  const tx0 = pipe.counters[Dp.TX];
  const r = bench(
    name,
    (n) => {
      // The clock moves before the loop: code after a hot loop has no type feedback when the
      // loop is compiled on stack replacement, and would deoptimize at the end of every sample.
      const now = clock.now;
      clock.now = now + 1;
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const off = k * SLOT;
        acc += pipe.process(work, off, FRAME_LEN, SLOT, 1, 0, now);
        restoreSlot(w32, p32, k * SLOT_W);
        if (++k === flows) k = 0;
      }
      return acc;
    },
    { ops },
  );
  assertAllTx(pipe, sum0, tx0, name);
  return r;
}

/**
 * The latency of one load that misses every cache, as JavaScript sees it on this machine: a chain
 * of dependent random loads around one 64 MB cycle (Sattolo's shuffle), so each load waits for the
 * one before. A conn lookup in a table larger than the cache pays about two of these (bucket head,
 * then record), which is what the many-flows rows are made of.
 */
function dramLoad(): BenchResult {
  const n = 1 << 24;
  const next = new Uint32Array(n);
  for (let i = 0; i < n; i++) next[i] = i;
  const rnd = seeded(5);
  for (let i = n - 1; i > 0; i--) {
    const j = rnd() % i;
    const t = next[i];
    next[i] = next[j];
    next[j] = t;
  }
  let at = 0;
  return bench(
    'ref: one dependent load from DRAM (64 MB cycle)',
    (m) => {
      let j = at;
      for (let i = 0; i < m; i++) j = next[j];
      at = j;
      return j;
    },
    { ops: 1_000_000 },
  );
}

interface EstRefs {
  restore: BenchResult;
  parse: BenchResult;
  map: BenchResult;
  lookup: BenchResult;
  rewrite: BenchResult;
  dram: BenchResult | null;
}

/** References over a NAT director's frames and table (same flows, same slot order). */
function estRefs(flows: number, ops: number, inCache: boolean): EstRefs {
  const nat = setupEstablished(Fwd.MASQ, flows);
  const { work, pristine } = nat;
  const w32 = new Uint32Array(work.buffer);
  const p32 = new Uint32Array(pristine.buffer);
  const t = nat.dir.pipe.conns4;
  let k = 0;
  const restore = bench(
    'ref: frame restore alone (14 words)',
    (n) => {
      for (let i = 0; i < n; i++) {
        restoreSlot(w32, p32, k * SLOT_W);
        if (++k === flows) k = 0;
      }
      return w32[5];
    },
    { ops },
  );
  const fi = new FrameInfo();
  const parse = bench(
    'ref: parseFrame alone',
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        acc += parseFrame(work, k * SLOT, FRAME_LEN, fi) + fi.sport;
        if (++k === flows) k = 0;
      }
      return acc;
    },
    { ops },
  );
  // The same flows in a Map keyed by saddr * 65536 + sport (an exact double), read off the frame.
  const m = new Map<number, number>();
  for (let s = 0; s < flows; s++) {
    const off = s * SLOT;
    const sa = u32(work, off + L3 + 12);
    const sp = u16(work, off + L4);
    const id = t.lookupIn(IPPROTO_TCP, sa, sp, VIP, VPORT);
    if (id < 0) throw new Error('lookupIn missed an established flow');
    m.set(sa * 65536 + sp, id);
  }
  if (m.size !== flows) throw new Error('flow keys collide');
  const map = bench(
    'ref: Map<number, number>.get(saddr*65536+sport)',
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const off = k * SLOT;
        acc += m.get(u32(work, off + L3 + 12) * 65536 + u16(work, off + L4)) ?? -1;
        if (++k === flows) k = 0;
      }
      return acc;
    },
    { ops },
  );
  const lookup = bench(
    'ref: ConnTable.lookupIn alone',
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const off = k * SLOT;
        acc += t.lookupIn(IPPROTO_TCP, u32(work, off + L3 + 12), u16(work, off + L4), VIP, VPORT);
        if (++k === flows) k = 0;
      }
      return acc;
    },
    { ops },
  );
  const rs = RS_NET + 1;
  const rewrite = bench(
    'ref: NAT rewrite alone (rewriteDst4 + restore)',
    (n) => {
      for (let i = 0; i < n; i++) {
        const off = k * SLOT;
        rewriteDst4(work, off + L3, off + L4, FRAME_LEN - L4, IPPROTO_TCP, rs, NAT_PORT, false);
        restoreSlot(w32, p32, k * SLOT_W);
        if (++k === flows) k = 0;
      }
      return work[L3 + 16];
    },
    { ops },
  );
  return { restore, parse, map, lookup, rewrite, dram: inCache ? null : dramLoad() };
}

/**
 * `inCache`: few enough flows that their conns stay in the CPU caches, as a flow's packets find
 * them when it is busy: the target applies here. Otherwise the flows are cycled in random order
 * over a table beyond this machine's caches, and a DRAM reference is measured alongside.
 *
 * DR and NAT are each measured in an isolate of their own (a worker thread: its own JIT and type
 * feedback), as a daemon serving one kind of service runs. The row "NAT after DR" measures both in
 * one isolate, as a daemon serving both kinds runs: the pipeline's code then carries both paths.
 */
async function runEstablished(
  flows: number,
  ops: number,
  inCache: boolean,
): Promise<{ dr: number; nat: number }> {
  const drR = await inIsolates('est', { fwd: Fwd.DROUTE, flows, ops });
  const natR = await inIsolates('est', { fwd: Fwd.MASQ, flows, ops });
  const mixed = await inIsolates('estMixed', { flows, ops });
  const refs = await isolated<EstRefs>('estRefs', { flows, ops, inCache });
  const { restore, parse, map, lookup, rewrite, dram } = refs;

  const rns = restore.nsPerOp;
  const netDr = drR.nsPerOp - rns;
  const netNat = natR.nsPerOp - rns;
  const netMixed = mixed.nsPerOp - rns;
  const target = (net: number): string | undefined =>
    inCache
      ? `target <= 150 ns: ${net <= 150 ? 'met' : 'MISSED'}`
      : `= ${(net / dram!.nsPerOp).toFixed(1)} DRAM loads`;
  printTable(
    `core: established TCP ACK, ${flows} flows cycled${inCache ? ' (conns in cache)' : ' (table beyond the caches)'}, ns per packet (median over ${ISOLATES} isolates of the median of 7)`,
    [
      {
        name: drR.name,
        value: ns(drR),
        ratio: `${minNs(drR)}, ${spread(drR)}, net ${fmtNs(netDr)}, ${x(netDr, map.nsPerOp)} Map.get`,
        target: target(netDr),
      },
      {
        name: natR.name,
        value: ns(natR),
        ratio: `${minNs(natR)}, ${spread(natR)}, net ${fmtNs(netNat)}, ${x(netNat, map.nsPerOp)} Map.get, ${x(netNat, rewrite.nsPerOp - rns)} rewrite`,
        target: target(netNat),
      },
      {
        name: mixed.name,
        value: ns(mixed),
        ratio: `${minNs(mixed)}, ${spread(mixed)}, net ${fmtNs(netMixed)}, ${x(netMixed, netNat)} NAT alone`,
        target: inCache ? 'both paths in one isolate' : undefined,
      },
      ...(dram === null ? [] : [{ name: dram.name, value: ns(dram), ratio: 'memory latency, for scale' }]),
      { name: restore.name, value: ns(restore), ratio: 'bench overhead, subtracted in "net"' },
      { name: parse.name, value: ns(parse) },
      { name: map.name, value: ns(map) },
      { name: lookup.name, value: ns(lookup), ratio: `${x(lookup.nsPerOp, map.nsPerOp)} Map.get` },
      { name: rewrite.name, value: ns(rewrite), ratio: `net ${fmtNs(rewrite.nsPerOp - rns)}` },
    ],
  );
  return { dr: netDr, nat: netNat };
}

// ---------------------------------------------------------------- new connections

const SAMPLES = 7;
const WARMUP = 2;

function synFrames(n: number, base: number): Uint8Array {
  const f = new Uint8Array(n * SLOT);
  for (let i = 0; i < n; i++)
    writeTcp4(f, i * SLOT, flowAddr(SYN_NET, base + i), flowPort(base + i), TCP_FLAG_SYN);
  return f;
}

/**
 * New conns, measured in rounds: each round sends `n` SYNs from new client ports into a table
 * that the previous round's flush emptied (flush and frame restore untimed), so every round
 * measures schedule + insert into the same memory. With 20 000 per round that memory stays in the
 * caches; with 200 000 it does not. Returns the median and minimum ns per SYN.
 */
function newRounds(sched: string, n: number): BenchResult {
  const pristine = synFrames(n, 0);
  const work = new Uint8Array(pristine.length);
  const dir = makeDirector(sched, Fwd.DROUTE, nextPow2(n + 1));
  const { pipe, clock } = dir;
  const t = pipe.conns4;
  const times: number[] = [];
  // Rounds are short (milliseconds): more of them, and more warm-up for the JIT.
  const warm = 10;
  const samples = 25;
  for (let r = 0; r < warm + samples; r++) {
    work.set(pristine);
    const s0 = counterSum(pipe);
    const x0 = pipe.counters[Dp.TX];
    const t0 = process.hrtime.bigint();
    let acc = 0;
    for (let i = 0; i < n; i++) acc += pipe.process(work, i * SLOT, FRAME_LEN, SLOT, 1, 0, clock.now);
    const dt = Number(process.hrtime.bigint() - t0) / n;
    if (acc !== n * Verdict.TX) throw new Error(`${sched}: not every SYN was sent on`);
    assertAllTx(pipe, s0, x0, `${sched} round ${r}`);
    if (t.count !== n) throw new Error(`${sched}: ${t.count} conns after a round of ${n}`);
    if (r === 0) {
      // Every dest was used; equal weights, so rr and wlc spread the conns evenly (within one).
      // mh hashes the client address only, and SYNs come from n / 1024 addresses.
      const counts = pipe.services.list[0].dests.map((d) => d.activeConns + d.inactConns);
      const lo = Math.min(...counts);
      if (lo === 0 && (sched !== 'mh' || n / 1024 >= 4 * N_DESTS))
        throw new Error(`${sched}: a dest got no conns`);
      if (sched !== 'mh' && Math.max(...counts) - lo > 1)
        throw new Error(`${sched}: uneven spread ${lo}..${Math.max(...counts)}`);
    }
    t.flush(clock.now);
    if (t.count !== 0) throw new Error('flush left conns');
    if (r >= warm) times.push(dt);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { name: sched, nsPerOp: sorted[Math.floor(sorted.length / 2)], samples: times };
}

/**
 * rr in a steady state: one long stream of SYNs with the clock moving 1 ms per SYN and tick()
 * every 1024 SYNs, so expiring old conns is paid in the loop.
 */
function newSteady(): { r: BenchResult; live: number } {
  const ops = 50_000;
  const total = (SAMPLES + WARMUP) * ops + 2; // + the harness's two priming calls
  const work = synFrames(total, 1 << 22);
  const dir = makeDirector('rr', Fwd.DROUTE, 1 << 18);
  const { pipe, clock } = dir;
  const t = pipe.conns4;
  let k = 0;
  const sum0 = counterSum(pipe);
  const tx0 = pipe.counters[Dp.TX];
  const name = 'rr, steady state: +1 ms per SYN, tick() per 1024';
  const r = bench(
    name,
    (n) => {
      let acc = 0;
      let now = clock.now;
      if (k + n > total) throw new Error('ran out of SYN frames');
      for (let i = 0; i < n; i++, k++) {
        acc += pipe.process(work, k * SLOT, FRAME_LEN, SLOT, 1, 0, now);
        now += 1;
        if ((k & 1023) === 0) pipe.tick(now);
      }
      clock.now = now;
      return acc;
    },
    { ops, samples: SAMPLES, warmupSamples: WARMUP },
  );
  assertAllTx(pipe, sum0, tx0, name);
  if (t.count > 100_000) throw new Error(`${name}: conns did not expire (${t.count})`);
  return { r, live: t.count };
}

/** Reference: inserting the same number of new numeric keys into a JS Map. */
function mapSetRef(perRound: number): BenchResult {
  let m = new Map<number, number>();
  let j = 0;
  return bench(
    'ref: Map<number, number>.set(new key)',
    (n) => {
      m = new Map<number, number>();
      for (let i = 0; i < n; i++, j++) m.set(flowAddr(SYN_NET, j) * 65536 + flowPort(j), j);
      return m.size;
    },
    { ops: perRound, samples: SAMPLES, warmupSamples: WARMUP },
  );
}

/** The new-conn rows, each scheduler in an isolate of its own (as a daemon whose services use it). */
async function runNewConns(perRound: number, estDr: number): Promise<void> {
  const rows: { name: string; value: string; ratio?: string; target?: string }[] = [];
  const rounds = async (sched: string, n: number, target: boolean): Promise<void> => {
    const r = await inIsolates('newRounds', { sched, n });
    const med = r.nsPerOp;
    rows.push({
      name: `${sched}, ${N_DESTS} dests, DR, ${n} per round`,
      value: fmtNs(med),
      ratio: [minNs(r), spread(r), Number.isNaN(estDr) ? '' : `${x(med, estDr)} established DR`]
        .filter((q) => q !== '')
        .join(', '),
      target: target ? `target <= 500 ns: ${med <= 500 ? 'met' : 'MISSED'}` : 'table beyond the caches',
    });
  };

  // TSLVS_BENCH_SCHED=rr,wlc (for profiling one) picks rows; "rr-steady" and "rr-big" name the last.
  const pick = (process.env.TSLVS_BENCH_SCHED ?? 'rr,wlc,mh,rr-steady,rr-big').split(',');
  if (pick.includes('rr')) await rounds('rr', perRound, true);
  if (pick.includes('wlc')) await rounds('wlc', perRound, true);
  if (pick.includes('mh')) await rounds('mh', perRound, true);
  if (pick.includes('rr-steady')) {
    const { r, live } = await isolated<{ r: BenchResult; live: number }>('newSteady', {});
    rows.push({
      name: r.name,
      value: ns(r),
      ratio: `${minNs(r)}, ${live} live conns, one isolate`,
      // The target is for schedule + insert (the rows above); this row adds one expiry per SYN.
      target: `schedule + insert + expire one old conn: ${x(r.nsPerOp, 500)} the 500 ns target`,
    });
  }
  if (pick.includes('rr-big')) await rounds('rr', perRound * 10, false);
  const mapSet = await isolated<BenchResult>('mapSetRef', { perRound });
  rows.push({ name: mapSet.name, value: ns(mapSet), ratio: `map of up to ${perRound} keys` });
  printTable(
    `core: new TCP conn (SYN from a new client port), ns per packet (median over ${ISOLATES} isolates of the median of 25 rounds; steady state: median of 7)`,
    rows,
  );
}

// ---------------------------------------------------------------- isolates

/**
 * What a worker may be asked to run (bench/isolate.ts): each case in a fresh isolate, so its JIT
 * code and type feedback come from that case alone, whatever ran before it.
 */
export const ISOLATED_TASKS: Record<string, (a: never) => unknown> = {
  est: (a: { fwd: FwdT; flows: number; ops: number }) =>
    benchEstablished(
      setupEstablished(a.fwd, a.flows),
      `Pipeline.process, ${a.fwd === Fwd.MASQ ? 'NAT' : 'DR'}`,
      a.ops,
    ),
  estMixed: (a: { flows: number; ops: number }) => {
    benchEstablished(setupEstablished(Fwd.DROUTE, a.flows), 'DR', a.ops);
    return benchEstablished(setupEstablished(Fwd.MASQ, a.flows), 'Pipeline.process, NAT after DR', a.ops);
  },
  estRefs: (a: { flows: number; ops: number; inCache: boolean }) => estRefs(a.flows, a.ops, a.inCache),
  newRounds: (a: { sched: string; n: number }) => newRounds(a.sched, a.n),
  newSteady: () => newSteady(),
  mapSetRef: (a: { perRound: number }) => mapSetRef(a.perRound),
};

// ---------------------------------------------------------------- entry

export async function runCoreBench(): Promise<void> {
  const flows = envInt('TSLVS_BENCH_FLOWS', 100_000);
  if (flows < 1 || flows > 1 << 22) throw new Error('TSLVS_BENCH_FLOWS: 1 .. 4194304');
  const only = process.env.TSLVS_BENCH_ONLY ?? 'mem,est,new';
  // Memory first, while the heap holds nothing big that a later GC could give back mid-measure.
  if (only.includes('mem')) runMemoryBench({ tenMillion: process.env.TSLVS_BENCH_10M !== '0' });
  let estDr = NaN;
  if (only.includes('est')) {
    estDr = (await runEstablished(1000, 500_000, true)).dr;
    await runEstablished(flows, 500_000, false);
  }
  if (process.env.TSLVS_BENCH_BIG === '1') await runEstablished(1 << 20, 500_000, false);
  if (only.includes('new')) await runNewConns(envInt('TSLVS_BENCH_NEW', 20_000), estDr);
}

if (
  isMainThread &&
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href
) {
  if (process.env.TSLVS_BENCH_V8_DEFAULT !== '1') tuneV8ForDatapath();
  console.log(
    `tslvs core benchmark — node ${process.version}, ${process.arch}; V8 ${process.env.TSLVS_BENCH_V8_DEFAULT === '1' ? 'defaults' : V8_DATAPATH_FLAGS.join(' ')}`,
  );
  await runCoreBench();
}

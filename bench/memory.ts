/**
 * Memory per connection: the process memory a ConnTable (and a Pipeline) costs per conn once
 * filled, against the table's own bytesPerEntry. Measured as deltas of
 * process.memoryUsage() around creating and filling the table, after a full GC:
 * - arrayBuffers: typed-array bytes allocated (the whole capacity, touched or not);
 * - rss: resident memory, i.e. the pages the inserts actually touched (zero-filled typed arrays
 *   are mapped lazily, so an unfilled table costs little RSS).
 * Tables are sized to exactly the number of conns inserted.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { ServiceTable } from '../src/control/services.ts';
import { ConnTable } from '../src/conn/table.ts';
import { newConnParam } from '../src/conn/types.ts';
import { Pipeline } from '../src/datapath/pipeline.ts';
import type { Hop } from '../src/datapath/pipeline.ts';
import { Dp } from '../src/datapath/verdict.ts';
import { addr4 } from '../src/model/addr.ts';
import { Fwd, Proto, TunType } from '../src/model/flags.ts';
import { ethEmit, ETHERTYPE_IPV4 } from '../src/wire/ethernet.ts';
import { IPPROTO_TCP, ipv4Emit } from '../src/wire/ipv4.ts';
import { TCP_FLAG_SYN, tcpEmit, tcpFillCsumV4 } from '../src/wire/tcp.ts';
import { fmtNs, printTable } from './harness.ts';

const VIP = 0x0a000064; // 10.0.0.100
const RS = 0xc0a80a01; // 192.168.10.1

function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) return g;
  // Not started with --expose-gc: turn the flag on and take gc() from a fresh context.
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function fullGc(gc: () => void): void {
  for (let i = 0; i < 3; i++) gc();
}

function services(now: { now: number }): ServiceTable {
  const st = new ServiceTable({
    now: () => now.now,
    random: () => 0x12345678,
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
  const key = { af: 4 as const, proto: Proto.TCP, addr: addr4(VIP), port: 80, fwmark: 0 };
  st.addService(key, { sched: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' });
  st.addDest(key, {
    addr: addr4(RS),
    port: 80,
    fwd: Fwd.DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: TunType.IPIP,
    tunPort: 0,
    tunFlags: 0,
  });
  return st;
}

interface MemRow {
  name: string;
  conns: number;
  rssPerConn: number;
  /** RSS right after construction, before any conn: pages the constructor itself touched. */
  emptyRssPerConn: number;
  abPerConn: number;
  declared: number;
  insertNs: number;
  seconds: number;
}

/** Client i: address 11.0.0.0 + i / 64512, port 1024 + i % 64512 (distinct keys up to 2^32). */
const PORTS = 65536 - 1024;

/** Fills a ConnTable of `n` entries through ConnTable.insert (DR conns to one dest). */
function tableRow(n: number, gc: () => void): MemRow {
  const clock = { now: 1_000_000 };
  const st = services(clock);
  const destId = st.list[0].dests[0].id;
  fullGc(gc);
  const m0 = process.memoryUsage();
  const t0 = process.hrtime.bigint();
  const t = new ConnTable({ af: 4, dests: st.dests, random: () => 0x9e3779b9, maxEntries: n });
  const mAlloc = process.memoryUsage();
  const cp = newConnParam();
  cp.proto = IPPROTO_TCP;
  cp.vaddr = VIP;
  cp.vport = 80;
  cp.daddr = RS;
  cp.dport = 80;
  cp.destId = destId;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    cp.caddr = (0x0b000000 + Math.floor(i / PORTS)) >>> 0;
    cp.cport = 1024 + (i % PORTS);
    if (t.insert(cp, clock.now) < 0) throw new Error(`insert ${i} refused`);
  }
  const t2 = process.hrtime.bigint();
  fullGc(gc);
  const m1 = process.memoryUsage();
  // Spot checks: the table holds what was inserted and finds it.
  if (t.count !== n) throw new Error(`table holds ${t.count}, expected ${n}`);
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 1000))) {
    const id = t.lookupIn(
      IPPROTO_TCP,
      (0x0b000000 + Math.floor(i / PORTS)) >>> 0,
      1024 + (i % PORTS),
      VIP,
      80,
    );
    if (id < 0 || t.cportOf(id) !== 1024 + (i % PORTS)) throw new Error(`lookup of conn ${i} failed`);
  }
  if (st.list[0].dests[0].inactConns !== n) throw new Error('dest counters off');
  return {
    name: `ConnTable.insert, ${label(n)} conns`,
    conns: n,
    rssPerConn: (m1.rss - m0.rss) / n,
    emptyRssPerConn: (mAlloc.rss - m0.rss) / n,
    abPerConn: (m1.arrayBuffers - m0.arrayBuffers) / n,
    declared: t.bytesPerEntry,
    insertNs: Number(t2 - t1) / n,
    seconds: Number(t2 - t0) / 1e9,
  };
}

/** Fills a Pipeline's table with `n` conns, one SYN each through Pipeline.process (DR). */
function pipelineRow(n: number, gc: () => void): MemRow {
  const clock = { now: 1_000_000 };
  const st = services(clock);
  const frame = new Uint8Array(64);
  const syn = (saddr: number, sport: number): void => {
    ethEmit({ dst: 0x020000000002, src: 0x0200000000fe, ethertype: ETHERTYPE_IPV4 }, frame, 0);
    ipv4Emit(
      {
        tos: 0,
        totalLen: 40,
        id: 1,
        df: true,
        mf: false,
        fragOffset: 0,
        ttl: 64,
        proto: IPPROTO_TCP,
        src: saddr,
        dst: VIP,
      },
      frame,
      14,
    );
    tcpEmit(
      {
        srcPort: sport,
        dstPort: 80,
        seq: 1,
        ack: 0,
        flags: TCP_FLAG_SYN,
        reserved: 0,
        window: 65535,
        urgent: 0,
        options: [],
      },
      frame,
      34,
    );
    tcpFillCsumV4(frame, 14, 34, 20);
  };
  const net = {
    route4(_dst: number, hop: Hop): boolean {
      hop.ifindex = 2;
      hop.dstMac = 0x020000010111;
      hop.srcMac = 0x020000000102;
      hop.mtu = 1500;
      hop.saddr = 0xc0a80afe;
      return true;
    },
    route6: (): boolean => false,
    ifMac: (): number => 0x020000000102,
  };
  fullGc(gc);
  const m0 = process.memoryUsage();
  const t0 = process.hrtime.bigint();
  const pipe = new Pipeline({ services: st, net, random: () => 0x9e3779b9, maxConns: n });
  const t1 = process.hrtime.bigint();
  const mAlloc = process.memoryUsage();
  for (let i = 0; i < n; i++) {
    // One frame, rewritten for each client (DR changed its MACs and TTL on the previous pass).
    syn((0x0b000000 + Math.floor(i / PORTS)) >>> 0, 1024 + (i % PORTS));
    pipe.process(frame, 0, 54, 64, 1, 0, clock.now);
  }
  const t2 = process.hrtime.bigint();
  fullGc(gc);
  const m1 = process.memoryUsage();
  if (pipe.conns4.count !== n || pipe.counters[Dp.TX] !== n)
    throw new Error(`pipeline made ${pipe.conns4.count} conns from ${n} SYNs`);
  // Beside its IPv4 table the pipeline allocates, for the same maxConns, an IPv6 table and its own
  // per-conn arrays (FullNAT handles, sequence adjustment, ...): what the constructor allocated.
  const declared = (mAlloc.arrayBuffers - m0.arrayBuffers) / n;
  return {
    name: `Pipeline.process SYN, ${label(n)} conns`,
    conns: n,
    rssPerConn: (m1.rss - m0.rss) / n,
    emptyRssPerConn: (mAlloc.rss - m0.rss) / n,
    abPerConn: (m1.arrayBuffers - m0.arrayBuffers) / n,
    declared,
    insertNs: Number(t2 - t1) / n,
    seconds: Number(t2 - t0) / 1e9,
  };
}

function label(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000} M` : `${n / 1000} k`;
}

export function runMemoryBench(o: { tenMillion: boolean }): MemRow[] {
  const gc = getGc();
  const rows: MemRow[] = [];
  rows.push(tableRow(1_000_000, gc));
  fullGc(gc);
  rows.push(pipelineRow(1_000_000, gc));
  fullGc(gc);
  if (o.tenMillion) {
    rows.push(tableRow(10_000_000, gc));
    fullGc(gc);
  }
  const fmtB = (b: number): string => `${b.toFixed(1)} B`;
  printTable(
    'core: memory per conn (process memory delta / conns, after full GC; IPv4, table sized to the count)',
    rows.map((r) => ({
      name: r.name,
      value: `rss ${fmtB(r.rssPerConn)}`,
      ratio: `empty rss ${fmtB(r.emptyRssPerConn)}, arrayBuffers ${fmtB(r.abPerConn)}, declared ${fmtB(r.declared)}, ${fmtNs(r.insertNs)}/conn, ${r.seconds.toFixed(1)} s`,
      target: `target <= 128 B: ${Math.max(r.rssPerConn, r.abPerConn) <= 128 ? 'met' : 'MISSED'}`,
    })),
  );
  console.log('  declared: ConnTable.bytesPerEntry; for the Pipeline, the typed arrays its constructor');
  console.log('  allocates (IPv4 and IPv6 tables of maxConns each, its own per-conn arrays) per IPv4 conn.');
  if (!o.tenMillion) console.log('  (10 M case skipped: TSLVS_BENCH_10M=0)');
  return rows;
}

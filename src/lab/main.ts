/**
 * `tslvs lab <scenario>`: the seeds' experiments, one command each, in network namespaces on
 * this machine (as root). `tslvs lab clean` removes what crashed runs left behind.
 *
 * Exit status: 0 done, 2 bad usage or a missing tool, 4 not root, 70 the experiment itself
 * failed (a process did not start, a request went unanswered).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import type { CliIo } from '../cli/tslvs.ts';
import { leftoverNamespaces } from './topo.ts';
import { cleanLeftovers, strayRunDirs } from './run.ts';
import { LabError, EXIT_OK, EXIT_SOFTWARE, EXIT_USAGE, checkRequirements } from './env.ts';
import type { Requirement } from './env.ts';
import { LVS_PLANS, haveRsTun, runLvs } from './lvs.ts';
import type { LvsName } from './lvs.ts';
import { formatLvsResult } from './format.ts';
import { runArp, runRoute } from './basics.ts';
import { formatSchedLive, runSched, runSchedLive, SCHED_DEFAULT_FLOWS } from './sched.ts';

interface Scenario {
  readonly summary: string;
  readonly needs: readonly Requirement[];
  /** Available in this tree (tun needs tslvs rs-tun). */
  readonly available: () => boolean;
}

const LVS_NEEDS: readonly Requirement[] = ['root', 'ip', 'tcpdump', 'curl', 'addon'];

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  dr: {
    summary: 'LVS-DR (seed 000): only MACs change; replies bypass the director',
    needs: LVS_NEEDS,
    available: () => true,
  },
  nat: {
    summary: 'LVS-NAT (seed 003): destination rewritten in, source rewritten out',
    needs: LVS_NEEDS,
    available: () => true,
  },
  fullnat: {
    summary: 'FullNAT (seed 003, DPVS): both addresses rewritten; a local address on the director',
    needs: LVS_NEEDS,
    available: () => true,
  },
  tun: {
    summary: 'LVS-TUN (seed 003): IPIP to real servers behind a router (tslvs rs-tun)',
    needs: LVS_NEEDS,
    available: haveRsTun,
  },
  arp: {
    summary: 'ARP (seed 000): a request, the reply, and the caches that learn from them',
    needs: ['root', 'ip', 'tcpdump', 'ping'],
    available: () => true,
  },
  route: {
    summary: 'next hop (seed 000): a host route via another host makes the ping work',
    needs: ['root', 'ip', 'tcpdump', 'ping'],
    available: () => true,
  },
  sched: {
    summary: 'schedulers rr wrr wlc sh mh: distribution, and what moves when a server goes',
    needs: ['root', 'ip', 'addon'],
    available: () => true,
  },
};

export function labHelp(): string {
  const names = Object.keys(SCENARIOS).filter((n) => SCENARIOS[n].available());
  const w = Math.max(...names.map((n) => n.length), 'clean'.length);
  return `Usage: tslvs lab <scenario> [--keep] [--pcap DIR] [--requests N]
       tslvs lab clean

The seeds' experiments, each in its own network namespaces on this machine: hosts with the
seeds' roles and addresses, the real tslvs director configured with the seeds' ipvsadm lines,
real HTTP servers, curl, and tcpdump on every link. Prints the listing, who served how many
requests, and one request and its reply hop by hop as captured. Needs root, iproute2,
tcpdump and curl (ping for arp and route). Nothing leaves the lab's namespaces.

Scenarios:
${names.map((n) => `  ${n.padEnd(w)}  ${SCENARIOS[n].summary}`).join('\n')}
  ${'clean'.padEnd(w)}  remove namespaces and files left by earlier lab runs (and only those)

Options:
  --keep          leave the topology up; prints how to enter each host and how to tear down
  --pcap DIR      also write one pcap per link into DIR (Wireshark opens them)
  --requests N    requests (dr, nat, fullnat${names.includes('tun') ? ', tun' : ''}; default 10) or connections (sched;
                  default ${SCHED_DEFAULT_FLOWS})
  --simulate      sched only: the prediction alone, in-process through tslvs simulate (no
                  namespaces, no root)
  -h, --help      this text

Exit status: 0 done, 2 bad usage or a missing tool, 4 not root, 70 the experiment failed.
`;
}

const TRY = "Try 'tslvs lab --help'.\n";

export async function runLab(argv: readonly string[], io: CliIo): Promise<number> {
  let v;
  let pos: string[];
  try {
    const r = parseArgs({
      args: [...argv],
      options: {
        keep: { type: 'boolean' },
        pcap: { type: 'string' },
        requests: { type: 'string' },
        simulate: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    v = r.values;
    pos = r.positionals;
  } catch (e) {
    io.stderr(`tslvs lab: ${(e as Error).message}\n${TRY}`);
    return EXIT_USAGE;
  }
  if (v.help === true) {
    io.stdout(labHelp());
    return EXIT_OK;
  }
  if (pos.length !== 1) {
    io.stderr(
      `tslvs lab: ${pos.length === 0 ? 'name a scenario' : `one scenario at a time, not ${pos.join(' ')}`}\n${TRY}`,
    );
    return EXIT_USAGE;
  }
  const name = pos[0];
  if (name === 'clean') return clean(io);
  const sc = Object.hasOwn(SCENARIOS, name) ? SCENARIOS[name] : undefined;
  if (sc === undefined || !sc.available()) {
    const why = sc === undefined ? 'unknown scenario' : 'not available in this build (it needs tslvs rs-tun)';
    io.stderr(`tslvs lab: ${name}: ${why}\n${TRY}`);
    return EXIT_USAGE;
  }
  let requests: number | undefined;
  if (v.requests !== undefined) {
    const max = name === 'sched' ? (v.simulate === true ? 1_000_000 : 6000) : 1000;
    if (!/^\d+$/.test(v.requests) || Number(v.requests) < 1 || Number(v.requests) > max) {
      io.stderr(`tslvs lab: --requests ${v.requests}: expected 1..${max}\n`);
      return EXIT_USAGE;
    }
    requests = Number(v.requests);
  }
  const pcapDir = v.pcap === undefined ? undefined : resolve(v.pcap);
  const simulateOnly = v.simulate === true;
  if (simulateOnly && name !== 'sched') {
    io.stderr(`tslvs lab: --simulate applies to sched only\n${TRY}`);
    return EXIT_USAGE;
  }
  const err = checkRequirements(simulateOnly ? [] : sc.needs);
  if (err !== null) {
    io.stderr(`tslvs lab ${name}: ${err.message}\n`);
    return err.exitCode;
  }
  const common = {
    keep: v.keep === true,
    pcapDir,
    handleSignals: true,
    emit: (t: string) => io.stdout(t),
    onSignal: (line: string) => io.stderr(`${line}\n`),
  };
  try {
    if (name === 'arp') {
      await runArp(common);
    } else if (name === 'route') {
      await runRoute(common);
    } else if (name === 'sched') {
      if (pcapDir !== undefined)
        io.stderr('tslvs lab sched: --pcap does not apply (thousands of connections; dr traces one)\n');
      if (simulateOnly) {
        if (v.keep === true)
          io.stderr('tslvs lab sched --simulate: no namespaces, so --keep does not apply\n');
        io.stdout(runSched({ flows: requests }).text);
      } else {
        const r = await runSchedLive({ ...common, flows: requests });
        io.stdout(formatSchedLive(r));
        const failed = r.rows.reduce((a, row) => a + row.failed, 0);
        if (failed > 0) {
          io.stderr(`tslvs lab sched: ${failed} connections got no answer\n`);
          return EXIT_SOFTWARE;
        }
      }
    } else {
      const r = await runLvs(LVS_PLANS[name as LvsName], { ...common, requests });
      io.stdout(formatLvsResult(r));
      if (r.failed > 0) {
        io.stderr(`tslvs lab ${name}: ${r.failed} of ${r.requests.length} requests got no answer\n`);
        return EXIT_SOFTWARE;
      }
    }
    return EXIT_OK;
  } catch (e) {
    if (e instanceof LabError) {
      io.stderr(`tslvs lab ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    // A setup command that failed (ip, sysctl, bridge): its own words, not a stack trace.
    const x = e as { stderr?: unknown; message?: unknown };
    if (typeof x.stderr === 'string' && typeof x.message === 'string') {
      io.stderr(`tslvs lab ${name}: ${x.message.split('\n')[0]}: ${x.stderr.trim()}\n`);
      return EXIT_SOFTWARE;
    }
    throw e;
  }
}

function clean(io: CliIo): number {
  const err = checkRequirements(['root', 'ip']);
  if (err !== null) {
    io.stderr(`tslvs lab clean: ${err.message}\n`);
    return err.exitCode;
  }
  const r = cleanLeftovers(leftoverNamespaces());
  const dirs = [...r.dirs, ...strayRunDirs()];
  for (const ns of r.removed) io.stdout(`removed namespace ${ns}\n`);
  for (const d of dirs) io.stdout(`removed ${d}\n`);
  for (const s of r.skipped) io.stdout(`left ${s.ns} alone: its lab run (pid ${s.pid}) is still going\n`);
  if (r.removed.length === 0 && dirs.length === 0 && r.skipped.length === 0)
    io.stdout('nothing to clean: no namespaces or files from earlier lab runs\n');
  return EXIT_OK;
}

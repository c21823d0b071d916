// ipvsadm 1.31's listings from a snapshot: format.ts and friends.
//
// How the goldens were made. test/golden/ipvsadm/<case>.txt is what ipvsadm 1.31 itself printed:
// cezarsa/ipvsadm @ e61c8cd ipvsadm.c + config_stream.c, compiled (gcc, Debian 12: glibc 2.36, popt
// 1.19) against a stub libipvs that serves the case's snapshot (written by `oracleSnapText` below)
// instead of asking the kernel, with libipvs's own ipvs_cmp_services/ipvs_cmp_dests/
// ipvs_sort_*/ipvs_strerror linked in unchanged, gethostbyaddr/getservbyport answered from the
// case's `names` tables, and CONN_PROC_FILE pointed at a file in the kernel's /proc/net/ip_vs_conn
// format (written by `procConnText`, ip_vs_conn_seq_show's layout). <case>.err.txt holds the exit
// status and stderr when ipvsadm did not exit 0 silently. The oracle lives outside the repository
// (GPL code); to regenerate, build it and run this file with IPVSADM_ORACLE=/path/to/binary.
// Cases that ipvsadm cannot show (FullNAT, local addresses, --json) are derived by hand below,
// with the steps in comments; the §9 goldens of lvs-features.md are checked inline too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseIpvsadm } from '../../src/cli/ipvsadm/args.ts';
import { hostsFileResolver, servicesFileResolver } from '../../src/cli/ipvsadm/resolve.ts';
import type {
  ConnSnap,
  DaemonSnap,
  DestSnap,
  IpvsSnapshot,
  NameResolver,
  RatesSnap,
  StatsSnap,
  SvcSnap,
} from '../../src/cli/ipvsadm/format.ts';
import {
  defaultNameResolver,
  filesNameResolver,
  formatConnections,
  formatDaemon,
  formatJson,
  formatList,
  formatListCommand,
  formatSave,
  formatService,
  formatTimeout,
} from '../../src/cli/ipvsadm/format.ts';
import { largenum, ntop6, padLeft, padRight } from '../../src/cli/ipvsadm/format-c.ts';
import { cmpDests, cSort } from '../../src/cli/ipvsadm/format-sort.ts';
import { addrText, snapshotFromCore } from '../../src/cli/ipvsadm/format-snapshot.ts';
import { loadRules } from '../../src/cli/rules.ts';
import { ServiceTable } from '../../src/control/services.ts';
import { ConnTable } from '../../src/conn/table.ts';
import { Timeouts } from '../../src/conn/timeouts.ts';
import { newConnParam } from '../../src/conn/types.ts';
import { addr4, addr6, parseIpAddr } from '../../src/model/addr.ts';
import { Fwd, TunType } from '../../src/model/flags.ts';
import { estimate } from '../../src/stats/estimator.ts';
import { goldenRoot } from '../helpers/golden.ts';
import { TcpState } from '../../src/conn/proto-tcp.ts';

// ---- snapshot builders ------------------------------------------------------------------------

const ZS: StatsSnap = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const ZR: RatesSnap = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

function st(conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number): StatsSnap {
  return { conns, inpkts, outpkts, inbytes, outbytes };
}

function rt(cps: number, inpps: number, outpps: number, inbps: number, outbps: number): RatesSnap {
  return { cps, inpps, outpps, inbps, outbps };
}

function dest(addr: string, port: number, o: Partial<DestSnap> = {}): DestSnap {
  return {
    af: addr.includes(':') ? 6 : 4,
    addr,
    port,
    fwd: Fwd.MASQ,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    activeConns: 0,
    inactConns: 0,
    persistConns: 0,
    tunType: 0,
    tunPort: 0,
    tunFlags: 0,
    stats: ZS,
    rates: ZR,
    ...o,
  };
}

const PROTO = { tcp: 6, udp: 17, sctp: 132 } as const;

function svc(
  proto: keyof typeof PROTO,
  addr: string,
  port: number,
  o: Partial<SvcSnap>,
  dests: DestSnap[] = [],
): SvcSnap {
  const af = addr.includes(':') ? 6 : 4;
  return {
    af,
    protocol: PROTO[proto],
    addr,
    port,
    fwmark: 0,
    sched: 'wlc',
    flags: 0,
    timeout: 0,
    netmask: af === 6 ? 128 : 0xffffffff,
    pe: '',
    stats: ZS,
    rates: ZR,
    dests,
    ...o,
  };
}

/** A firewall-mark service as the kernel reports it: protocol TCP, zero address and port. */
function fwm(mark: number, af: 4 | 6, o: Partial<SvcSnap>, dests: DestSnap[] = []): SvcSnap {
  return svc(
    'tcp',
    af === 6 ? '::' : '0.0.0.0',
    0,
    { fwmark: mark, netmask: af === 6 ? 128 : 0xffffffff, ...o },
    dests,
  );
}

function snap(services: SvcSnap[], o: Partial<IpvsSnapshot> = {}): IpvsSnapshot {
  return {
    version: { major: 1, minor: 2, patch: 1 },
    connTabSize: 4096,
    services,
    timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
    daemons: [],
    ...o,
  };
}

const PERSISTENT = 0x1;
const ONEPACKET = 0x4;
const SCHED1 = 0x8;
const SCHED2 = 0x10;
const SCHED3 = 0x20;

// ---- the snapshots the oracle cases list ------------------------------------------------------

/** The worked example of lvs-features.md §1.5, with counters from §9.2/§9.4. */
const WORKED = snap([
  svc(
    'tcp',
    '10.0.0.100',
    80,
    {
      flags: PERSISTENT,
      timeout: 360,
      netmask: 0xffffff00,
      stats: st(1234, 98765, 87654, 123456789, 2345678901),
      rates: rt(12, 950, 870, 1200000, 98000000),
    },
    [
      // kernel list order: newest first
      dest('192.168.10.2', 80, {
        weight: 3,
        activeConns: 12,
        inactConns: 40,
        uThreshold: 1000,
        lThreshold: 750,
        persistConns: 3,
        stats: st(634, 48765, 43654, 63456789, 1145000000),
      }),
      dest('192.168.10.1', 80, {
        stats: st(600, 50000, 44000, 60000000, 1200000000),
        rates: rt(6, 480, 430, 600000, 49000000),
      }),
    ],
  ),
  svc('udp', '10.0.0.100', 53, { sched: 'sh', flags: SCHED1 | SCHED2 | ONEPACKET }, [
    dest('192.168.10.1', 53, { fwd: Fwd.DROUTE, inactConns: 7 }),
  ]),
  fwm(1, 4, { sched: 'rr' }, [dest('192.168.10.1', 0, { fwd: Fwd.TUNNEL })]),
]);

const E8 = 1e8;
const LARGE = snap(
  [
    svc(
      'tcp',
      '10.9.0.1',
      80,
      {
        stats: st(E8 - 1, E8, 1e9 - 1, 1e9, 1e11 - 1),
        rates: rt(1e11, 1e14 - 1, 1e14, 2 ** 53 - 1, 0),
      },
      [
        dest('10.9.1.1', 80, {
          stats: st(1e11, 1e14 - 1, 1e14, 2 ** 53 - 1, 123456789012),
          // %8llu columns that overflow their width
          rates: rt(123456789, 99999999, 12345678, E8 - 1, E8),
        }),
        dest('10.9.1.2', 80, { stats: st(0, 1, 12345678, 123456789, 1234567890123) }),
      ],
    ),
  ],
  { connTabSize: 1048576, version: { major: 1, minor: 2, patch: 0 } },
);

/**
 * Orders that the comparators' unsigned-difference-as-int quirk turns around, and a
 * non-transitive triple (0.0.0.1 < 96.0.0.1 < 192.0.0.1 < 0.0.0.1) whose result depends on
 * glibc's merge sort.
 */
const SORT = snap([
  svc('tcp', '1.0.0.1', 80, {}),
  svc('tcp', '200.0.0.1', 80, {}),
  svc('tcp', '100.0.0.1', 80, {}),
  svc('tcp', '128.0.0.1', 80, {}),
  svc('udp', '1.0.0.1', 53, {}),
  svc('sctp', '1.0.0.1', 9, {}),
  svc('tcp', '1.0.0.1', 8080, {}),
  svc('tcp', '1.0.0.1', 443, {}),
  fwm(2147483649, 4, {}),
  fwm(1, 4, {}),
  fwm(4294967295, 4, {}),
  fwm(7, 6, {}),
  svc('tcp', '2001:db8::1', 80, {}),
  svc('tcp', 'fe80::1', 80, {}),
  svc('tcp', '2001:db8::1', 22, {}),
  svc('tcp', '10.0.0.1', 80, {}, [
    dest('1.0.0.1', 80),
    dest('200.0.0.1', 80),
    dest('100.0.0.2', 80),
    dest('10.0.0.1', 81),
    dest('10.0.0.1', 80),
    dest('192.0.0.1', 80),
    dest('0.0.0.1', 80),
    dest('96.0.0.1', 80),
  ]),
  svc('tcp', '10.0.0.2', 80, {}, [dest('192.0.0.1', 80), dest('96.0.0.1', 80), dest('0.0.0.1', 80)]),
]);

const V6 = snap([
  svc(
    'tcp',
    '2001:db8::100',
    443,
    { sched: 'rr', flags: PERSISTENT, timeout: 300, netmask: 64, stats: st(5, 50, 40, 5000, 4000) },
    [
      dest('2001:db8::a1', 443, { weight: 2, activeConns: 1 }),
      dest('2001:db8::a2', 8443, { stats: st(1, 2, 3, 4, 5) }),
      dest('::ffff:10.1.2.3', 443),
      dest('::2:3', 443),
      dest('192.168.1.1', 443, { fwd: Fwd.TUNNEL, tunType: TunType.GUE, tunPort: 5555, tunFlags: 1 }),
    ],
  ),
  svc('udp', '2001:db8:0:0:1:0:0:1', 53, {}, [dest('2001:db8:0:0:1:0:0:2', 53, { fwd: Fwd.DROUTE })]),
  fwm(2, 6, { sched: 'sh', flags: PERSISTENT | SCHED1, timeout: 360, netmask: 96 }, [
    dest('2001:db8::b1', 0, { fwd: Fwd.DROUTE }),
    dest('2001:db8::b2', 0, { fwd: Fwd.TUNNEL, tunType: TunType.GRE, tunFlags: 1 }),
  ]),
  fwm(3, 6, { flags: PERSISTENT, timeout: 60 }),
  svc('sctp', '::1', 9, {}),
  svc('tcp', '2001:db8:1234:5678:9abc:def0:1234:5678', 65535, { stats: st(1, 1, 1, 1, 1) }, [
    dest('2001:db8:1234:5678:9abc:def0:1234:5679', 65535, { stats: st(2, 2, 2, 2, 2) }),
  ]),
]);

/** Names for the NAMES snapshot: [family, address, name] and [port, protocol, name]. */
interface Names {
  hosts: [4 | 6, string, string][];
  servs: [number, string, string][];
}

const NAMES_TABLES: Names = {
  hosts: [
    [4, '10.1.1.1', 'www.example.com'],
    [4, '10.1.1.11', 'web-1.example.com'],
    [4, '10.1.1.12', 'a-really-long-backend-hostname.internal.example.com'],
    [4, '10.1.1.2', 'ns.example.com'],
    [4, '10.1.1.3', 'very-long-service-hostname.example.org'],
    [4, '10.1.1.4', 'sctp-host'],
    [6, '2001:db8::5', 'v6.example.com'],
    [6, '2001:db8::55', 'an-ipv6-backend-with-quite-a-long-name.example.com'],
  ],
  servs: [
    [80, 'tcp', 'http'],
    [8080, 'tcp', 'http-alt'],
    [53, 'udp', 'domain'],
    [53, 'tcp', 'domain'],
    [443, 'tcp', 'https'],
    [9, 'sctp', 'discard'],
    [9, 'udp', 'discard'],
  ],
};

const NAMES = snap([
  svc('tcp', '10.1.1.1', 80, { stats: st(1, 2, 3, 4, 5) }, [
    dest('10.1.1.11', 80, { stats: st(1, 1, 1, 1, 1) }),
    dest('10.1.1.12', 8080, { weight: 5 }),
    dest('10.1.1.99', 80),
  ]),
  svc('tcp', '10.1.1.1', 81, {}, [dest('10.1.1.11', 81)]),
  svc('udp', '10.1.1.2', 53, {}, [dest('10.1.1.11', 53), dest('10.1.1.12', 53)]),
  svc('tcp', '10.1.1.3', 443, { flags: PERSISTENT, timeout: 100 }, [dest('10.1.1.11', 443)]),
  svc('sctp', '10.1.1.4', 9, {}, [dest('10.1.1.11', 9)]),
  fwm(5, 4, {}, [dest('10.1.1.11', 80), dest('10.1.1.12', 9)]),
  svc('tcp', '2001:db8::5', 80, {}, [
    dest('2001:db8::55', 80),
    dest('2001:db8::56', 443),
    dest('10.1.1.12', 8080, { fwd: Fwd.TUNNEL }),
  ]),
]);

const FLAGS = snap([
  svc('tcp', '10.2.0.1', 80, { sched: 'rr', flags: SCHED1 | SCHED2 | SCHED3 }, [
    dest('10.2.1.1', 80, { fwd: Fwd.LOCALNODE }),
    dest('10.2.1.2', 80, { fwd: Fwd.DROUTE, weight: 0 }),
    dest('10.2.1.3', 80, { weight: 65535, uThreshold: 100, lThreshold: 50, persistConns: 7 }),
  ]),
  svc('tcp', '10.2.0.2', 80, { sched: 'mh', flags: SCHED1 | SCHED2 }, [
    dest('10.2.1.4', 80, { fwd: Fwd.TUNNEL, tunType: TunType.GUE, tunPort: 6080, tunFlags: 0 }),
    dest('10.2.1.5', 80, { fwd: Fwd.TUNNEL, tunType: TunType.GUE, tunPort: 6081, tunFlags: 1 }),
    dest('10.2.1.6', 80, { fwd: Fwd.TUNNEL, tunType: TunType.GUE, tunPort: 65535, tunFlags: 2 }),
    dest('10.2.1.7', 80, { fwd: Fwd.TUNNEL, tunType: TunType.GRE, tunFlags: 0 }),
    dest('10.2.1.8', 80, { fwd: Fwd.TUNNEL, tunType: TunType.GRE, tunFlags: 1 }),
    dest('10.2.1.9', 80, { fwd: Fwd.TUNNEL, tunType: TunType.IPIP }),
  ]),
  svc('udp', '10.2.0.3', 5060, {
    sched: 'sh',
    flags: SCHED2 | ONEPACKET | PERSISTENT,
    timeout: 120,
    pe: 'sip',
  }),
  svc('tcp', '10.2.0.4', 80, { pe: 'sip' }),
  svc('tcp', '10.2.0.5', 0, { flags: PERSISTENT, timeout: 3600, netmask: 0xffff0000 }, [dest('10.2.1.1', 0)]),
  // sh's flag names cover SCHED1 and SCHED2 only: SCHED3 alone prints " ()" and "-b ".
  svc('tcp', '10.2.0.6', 80, { sched: 'sh', flags: SCHED3 }),
  svc('tcp', '10.2.0.7', 80, { sched: 'wrr', flags: SCHED2 | PERSISTENT, timeout: 1, netmask: 0 }),
]);

/** /proc/net/ip_vs_conn lines: conns, templates (cport 0, NONE), a fwmark template (IP). */
const CONNS: ConnSnap[] = [
  {
    proto: 'TCP',
    caddr: '203.0.113.7',
    cport: 51234,
    vaddr: '10.0.0.100',
    vport: 80,
    daddr: '192.168.10.1',
    dport: 80,
    state: 'ESTABLISHED',
    expiresSec: 895,
  },
  {
    proto: 'TCP',
    caddr: 'C0A80114',
    cport: 55746,
    vaddr: 'C0A8010A',
    vport: 80,
    daddr: 'C0A8010F',
    dport: 80,
    state: 'SYN_RECV',
    expiresSec: 37,
  },
  {
    proto: 'UDP',
    caddr: '203.0.113.9',
    cport: 40000,
    vaddr: '10.0.0.100',
    vport: 53,
    daddr: '192.168.10.1',
    dport: 53,
    state: 'UDP',
    expiresSec: 299,
  },
  {
    proto: 'TCP',
    caddr: '203.0.113.0',
    cport: 0,
    vaddr: '10.0.0.100',
    vport: 80,
    daddr: '192.168.10.1',
    dport: 80,
    state: 'NONE',
    expiresSec: 359,
  },
  {
    proto: 'IP',
    caddr: '203.0.113.7',
    cport: 0,
    vaddr: '0.0.0.1',
    vport: 0,
    daddr: '192.168.10.1',
    dport: 0,
    state: 'NONE',
    expiresSec: 0,
  },
  {
    proto: 'TCP',
    caddr: '2001:db8::c1',
    cport: 443,
    vaddr: '2001:db8::100',
    vport: 443,
    daddr: '2001:db8::a1',
    dport: 443,
    state: 'FIN_WAIT',
    expiresSec: 60,
  },
  {
    proto: 'IP',
    caddr: '2001:db8::',
    cport: 0,
    vaddr: '0:7::',
    vport: 0,
    daddr: '2001:db8::b1',
    dport: 0,
    state: 'ASSURED',
    expiresSec: 86400 * 2 + 61,
  },
  {
    proto: 'UDP',
    caddr: '10.1.1.99',
    cport: 5060,
    vaddr: '10.2.0.3',
    vport: 5060,
    daddr: '10.1.1.11',
    dport: 5060,
    state: 'UDP',
    expiresSec: 59,
    peName: 'sip',
    peData: 'a84b4c76e66710@pc33.example.com',
  },
  {
    proto: 'SCTP',
    caddr: '10.1.1.1',
    cport: 9,
    vaddr: '10.1.1.4',
    vport: 9,
    daddr: '10.1.1.11',
    dport: 9,
    state: 'ESTABLISHED',
    expiresSec: 3599,
  },
];

const DAEMONS: DaemonSnap[] = [
  // backup first on purpose: ipvsadm shows the master first
  {
    state: 'backup',
    mcastIfn: 'eth1',
    syncId: 1,
    syncMaxlen: 1472,
    mcastGroup: '224.0.0.81',
    mcastPort: 8848,
    mcastTtl: 1,
  },
  {
    state: 'master',
    mcastIfn: 'eth0',
    syncId: 1,
    syncMaxlen: 0,
    mcastGroup: null,
    mcastPort: 0,
    mcastTtl: 0,
  },
];

interface OracleCase {
  name: string;
  snap: IpvsSnapshot;
  argv: string[];
  names?: Names;
}

const CASES: OracleCase[] = [
  { name: 'worked-ln', snap: WORKED, argv: ['-L', '-n'] },
  { name: 'worked-save-n', snap: WORKED, argv: ['-S', '-n'] },
  { name: 'worked-stats', snap: WORKED, argv: ['-L', '-n', '--stats'] },
  { name: 'worked-stats-exact', snap: WORKED, argv: ['-L', '-n', '--stats', '--exact'] },
  { name: 'worked-rate', snap: WORKED, argv: ['-L', '-n', '--rate'] },
  { name: 'worked-rate-exact', snap: WORKED, argv: ['-Ln', '--rate', '-X'] },
  { name: 'worked-thresholds', snap: WORKED, argv: ['-L', '-n', '--thresholds'] },
  { name: 'worked-pconn', snap: WORKED, argv: ['-L', '-n', '--persistent-conn'] },
  { name: 'worked-tuninfo', snap: WORKED, argv: ['-L', '-n', '--tun-info'] },
  { name: 'worked-nosort', snap: WORKED, argv: ['-L', '-n', '--nosort'] },
  // stats wins over every other format flag
  { name: 'worked-stats-thr', snap: WORKED, argv: ['-L', '-n', '--stats', '--thresholds', '--tun-info'] },
  { name: 'worked-names', snap: WORKED, argv: ['-L'], names: NAMES_TABLES },
  {
    name: 'worked-save-names',
    snap: WORKED,
    argv: ['-S'],
    names: { hosts: [[4, '192.168.10.1', 'rs1']], servs: [[80, 'tcp', 'http']] },
  },
  { name: 'worked-noargs', snap: WORKED, argv: [] },
  { name: 'worked-svc-tcp', snap: WORKED, argv: ['-L', '-n', '-t', '10.0.0.100:80'] },
  { name: 'worked-svc-fwm', snap: WORKED, argv: ['-L', '-n', '-f', '1', '--stats'] },
  { name: 'worked-svc-missing', snap: WORKED, argv: ['-L', '-n', '-u', '10.0.0.100:54'] },
  { name: 'worked-svc-fwm6-missing', snap: WORKED, argv: ['-L', '-n', '-f', '1', '-6'] },
  { name: 'worked-timeout', snap: WORKED, argv: ['-L', '--timeout'] },
  { name: 'large-stats', snap: LARGE, argv: ['-L', '-n', '--stats'] },
  { name: 'large-stats-exact', snap: LARGE, argv: ['-L', '-n', '--stats', '--exact'] },
  { name: 'large-rate', snap: LARGE, argv: ['-L', '-n', '--rate'] },
  { name: 'large-rate-exact', snap: LARGE, argv: ['-L', '-n', '--rate', '--exact'] },
  { name: 'sort-ln', snap: SORT, argv: ['-L', '-n'] },
  { name: 'sort-nosort', snap: SORT, argv: ['-L', '-n', '--nosort'] },
  { name: 'sort-save', snap: SORT, argv: ['-S', '-n'] },
  { name: 'v6-ln', snap: V6, argv: ['-L', '-n'] },
  { name: 'v6-stats', snap: V6, argv: ['-L', '-n', '--stats'] },
  { name: 'v6-save', snap: V6, argv: ['-S', '-n'] },
  { name: 'v6-tuninfo', snap: V6, argv: ['-L', '-n', '--tun-info'] },
  { name: 'v6-svc', snap: V6, argv: ['-L', '-n', '-t', '[2001:db8::100]:443'] },
  { name: 'v6-fwm-svc', snap: V6, argv: ['-L', '-n', '-f', '2', '-6', '--persistent-conn'] },
  { name: 'names-l', snap: NAMES, argv: ['-L'], names: NAMES_TABLES },
  { name: 'names-save', snap: NAMES, argv: ['-S'], names: NAMES_TABLES },
  { name: 'names-stats', snap: NAMES, argv: ['-L', '--stats'], names: NAMES_TABLES },
  { name: 'names-ln', snap: NAMES, argv: ['-L', '-n'], names: NAMES_TABLES },
  { name: 'flags-ln', snap: FLAGS, argv: ['-L', '-n'] },
  { name: 'flags-save', snap: FLAGS, argv: ['-S', '-n'] },
  { name: 'flags-tuninfo', snap: FLAGS, argv: ['-L', '-n', '--tun-info'] },
  { name: 'flags-thresholds', snap: FLAGS, argv: ['-L', '-n', '--thresholds'] },
  { name: 'flags-pconn', snap: FLAGS, argv: ['-L', '-n', '--persistent-conn'] },
  { name: 'conns-lnc', snap: snap([], { conns: CONNS }), argv: ['-L', '-n', '-c'] },
  { name: 'conns-lc', snap: snap([], { conns: CONNS }), argv: ['-L', '-c'], names: NAMES_TABLES },
  { name: 'conns-pc', snap: snap([], { conns: CONNS }), argv: ['-L', '-n', '-c', '--persistent-conn'] },
  { name: 'conns-empty', snap: snap([], { conns: [] }), argv: ['-lnc'] },
  { name: 'daemon-both', snap: snap([], { daemons: DAEMONS }), argv: ['-L', '--daemon'] },
  {
    name: 'daemon-v6',
    snap: snap([], {
      daemons: [
        {
          state: 'backup',
          mcastIfn: 'bond0.100',
          syncId: 255,
          syncMaxlen: 9000,
          mcastGroup: 'ff02::1:81',
          mcastPort: 0,
          mcastTtl: 255,
        },
      ],
    }),
    argv: ['-L', '--daemon'],
  },
  { name: 'daemon-none', snap: snap([]), argv: ['-L', '--daemon'] },
  {
    name: 'timeout-custom',
    snap: snap([], { timeouts: { tcp: 3600, tcpfin: 60, udp: 30 } }),
    argv: ['-L', '--timeout'],
  },
  { name: 'empty-ln', snap: snap([]), argv: ['-L', '-n'] },
  { name: 'empty-save', snap: snap([]), argv: ['-S'] },
  { name: 'empty-stats', snap: snap([]), argv: ['-L', '--stats'] },
];

// ---- running a case ---------------------------------------------------------------------------

function resolverOf(n: Names | undefined): NameResolver {
  if (n === undefined) return filesNameResolver('', '');
  return filesNameResolver(
    n.hosts.map(([, a, name]) => `${a}\t${name}`).join('\n'),
    n.servs.map(([p, proto, name]) => `${name}\t${p}/${proto}`).join('\n'),
  );
}

interface Output {
  stdout: string;
  stderr: string;
  exitCode: number;
}

function run(c: OracleCase): Output {
  const r = parseIpvsadm(c.argv);
  assert.ok(r.ok, `${c.name}: ${c.argv.join(' ')} parses`);
  const cmd = r.cmd;
  const resolver = resolverOf(c.names);
  if (cmd.kind === 'list') return { ...formatListCommand(c.snap, cmd, resolver) };
  if (cmd.kind === 'save')
    return { stdout: formatSave(c.snap, cmd.numeric, resolver), stderr: '', exitCode: 0 };
  throw new Error(`${c.name}: not a listing`);
}

// ---- the oracle's inputs (only used when regenerating) -----------------------------------------

/** The stub libipvs's snapshot file: one record per line (see the header comment). */
function oracleSnapText(s: IpvsSnapshot, names: Names | undefined): string {
  const n10 = (t: StatsSnap, r: RatesSnap): string =>
    [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes, r.cps, r.inpps, r.outpps, r.inbps, r.outbps].join(
      ' ',
    );
  const v = s.version;
  let out = `info ${(v.major << 16) | (v.minor << 8) | v.patch} ${s.connTabSize}\n`;
  for (const x of s.services) {
    out += `svc ${x.af} ${x.protocol} ${x.addr} ${x.port} ${x.fwmark} ${x.sched} ${x.flags} ${x.timeout} ${x.netmask >>> 0} ${x.pe || '-'} ${n10(x.stats, x.rates)}\n`;
    for (const d of x.dests)
      out += `dest ${d.af} ${d.addr} ${d.port} ${d.fwd} ${d.weight} ${d.uThreshold} ${d.lThreshold} ${d.activeConns} ${d.inactConns} ${d.persistConns} ${d.tunType} ${d.tunPort} ${d.tunFlags} ${n10(d.stats, d.rates)}\n`;
  }
  out += `timeout ${s.timeouts.tcp} ${s.timeouts.tcpfin} ${s.timeouts.udp}\n`;
  // The kernel dumps the master before the backup (ip_vs_genl_dump_daemons).
  for (const d of [...s.daemons].sort(
    (a, b) => (a.state === 'master' ? 0 : 1) - (b.state === 'master' ? 0 : 1),
  )) {
    const g = d.mcastGroup;
    out += `daemon ${d.state} ${d.mcastIfn} ${d.syncId} ${d.syncMaxlen} ${g === null ? 0 : g.includes(':') ? 6 : 4} ${g ?? '-'} ${d.mcastPort} ${d.mcastTtl}\n`;
  }
  for (const [af, a, name] of names?.hosts ?? []) out += `host ${af} ${a} ${name}\n`;
  for (const [p, proto, name] of names?.servs ?? []) out += `serv ${p} ${proto} ${name}\n`;
  return out;
}

/** ip_vs_conn_seq_show's text for the conns: "%08X" IPv4 addresses, "%pI6" (full) IPv6. */
function procConnText(conns: readonly ConnSnap[]): string {
  const hex = (n: number, w: number): string => n.toString(16).toUpperCase().padStart(w, '0');
  const a = (s: string): string => {
    if (/^[0-9A-F]{8}$/.test(s)) return s;
    const ip = parseIpAddr(s)!;
    if (ip.af === 4) return hex(ip.v4, 8);
    const g: string[] = [];
    for (let i = 0; i < 16; i += 2) g.push(((ip.v6![i] << 8) | ip.v6![i + 1]).toString(16).padStart(4, '0'));
    return g.join(':');
  };
  let out = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n';
  for (const c of conns) {
    const pe = c.peName ? ` ${c.peName} ${c.peData ?? ''}` : '';
    out += `${c.proto.padEnd(3)} ${a(c.caddr)} ${hex(c.cport, 4)} ${a(c.vaddr)} ${hex(c.vport, 4)} ${a(c.daddr)} ${hex(c.dport, 4)} ${c.state.padEnd(11)} ${String(c.expiresSec).padStart(7)}${pe}\n`;
  }
  return out;
}

const GOLDEN_DIR = join(goldenRoot(), 'ipvsadm');
const ORACLE = process.env.IPVSADM_ORACLE;

if (ORACLE !== undefined && ORACLE !== '') {
  const dir = mkdtempSync(join(tmpdir(), 'ipvsadm-oracle-'));
  for (const c of CASES) {
    const snapFile = join(dir, `${c.name}.snap`);
    const connFile = join(dir, `${c.name}.conn`);
    writeFileSync(snapFile, oracleSnapText(c.snap, c.names));
    writeFileSync(connFile, procConnText(c.snap.conns ?? []));
    const p = spawnSync(ORACLE, c.argv, {
      env: { IPVS_SNAP: snapFile, IPVS_CONN_FILE: connFile },
      encoding: 'utf8',
    });
    writeFileSync(join(GOLDEN_DIR, `${c.name}.txt`), p.stdout);
    const err = join(GOLDEN_DIR, `${c.name}.err.txt`);
    if (p.status !== 0 || p.stderr !== '') writeFileSync(err, `exit=${p.status}\n${p.stderr}`);
  }
}

for (const c of CASES) {
  test(`ipvsadm ${c.argv.join(' ')} [${c.name}] matches ipvsadm 1.31`, () => {
    const want = readFileSync(join(GOLDEN_DIR, `${c.name}.txt`), 'utf8');
    const errFile = join(GOLDEN_DIR, `${c.name}.err.txt`);
    const wantErr = existsSync(errFile) ? readFileSync(errFile, 'utf8') : 'exit=0\n';
    const got = run(c);
    assert.equal(got.stdout, want);
    assert.equal(`exit=${got.exitCode}\n${got.stderr}`, wantErr);
  });
}

test('the oracle goldens are not trivial', () => {
  // Guards against a regeneration that wrote empty files everywhere.
  const nonEmpty = CASES.filter((c) => readFileSync(join(GOLDEN_DIR, `${c.name}.txt`), 'utf8') !== '');
  // empty-save, daemon-none and the two missing-service cases print nothing on stdout
  assert.equal(nonEmpty.length, CASES.length - 4);
});

// ---- lvs-features.md §9, derived by hand from the printf formats ------------------------------

test('§1.5 worked example and §9.11 save', () => {
  assert.equal(
    formatList(WORKED, { numeric: true }),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0',
      // "  -> %-28s %-7s %-6d %-10u %-10u\n": the last %-10u leaves trailing spaces
      '  -> 192.168.10.1:80              Masq    1      0          0         ',
      '  -> 192.168.10.2:80              Masq    3      12         40        ',
      'UDP  10.0.0.100:53 sh (sh-fallback,sh-port) ops',
      '  -> 192.168.10.1:53              Route   1      0          7         ',
      'FWM  1 rr',
      '  -> 192.168.10.1:0               Tunnel  1      0          0         ',
      '',
    ].join('\n'),
  );
  assert.equal(
    formatSave(WORKED, true),
    [
      '-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0',
      '-a -t 10.0.0.100:80 -r 192.168.10.1:80 -m -w 1',
      '-a -t 10.0.0.100:80 -r 192.168.10.2:80 -m -w 3',
      '-A -u 10.0.0.100:53 -s sh -o -b sh-fallback,sh-port',
      '-a -u 10.0.0.100:53 -r 192.168.10.1:53 -g -w 1',
      '-A -f 1 -s rr',
      '-a -f 1 -r 192.168.10.1:0 -i -w 1 --tun-type ipip',
      '',
    ].join('\n'),
  );
});

test('§9.2/§9.3 --stats with print_largenum, and --exact', () => {
  // %-33s then five print_largenum: 123456789 >= 1e8 -> "%8lluK" of 123456 = " 123456K";
  // 2345678901 >= 1e9 -> "%8lluM" of 2345 = "    2345M"; 60000000 < 1e8 -> "%9llu".
  const s = snap([WORKED.services[0]]);
  assert.equal(
    formatList(s, { numeric: true, stats: true }),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.100:80                    1234    98765    87654  123456K    2345M',
      '  -> 192.168.10.1:80                   600    50000    44000 60000000    1200M',
      '  -> 192.168.10.2:80                   634    48765    43654 63456789    1145M',
      '',
    ].join('\n'),
  );
  // --exact: width 9 up to 8 digits, else digits + 1.
  const line = formatList(snap([{ ...s.services[0], dests: [] }]), {
    numeric: true,
    stats: true,
    exact: true,
  });
  assert.equal(
    line.split('\n')[3],
    'TCP  10.0.0.100:80                    1234    98765    87654 123456789 2345678901',
  );
});

test('§9.4 --rate: "%8llu" for the three rates, print_largenum for the byte rates', () => {
  const s = snap([{ ...WORKED.services[0], dests: [WORKED.services[0].dests[1]] }]);
  assert.equal(
    formatList(s, { numeric: true, rate: true }),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.100:80                      12      950      870  1200000 98000000',
      '  -> 192.168.10.1:80                     6      480      430   600000 49000000',
      '',
    ].join('\n'),
  );
});

test('§9.5 --thresholds and §9.6 --persistent-conn', () => {
  const d = dest('192.168.10.1', 80, {
    uThreshold: 1000,
    lThreshold: 750,
    activeConns: 12,
    inactConns: 40,
    persistConns: 3,
  });
  assert.equal(
    formatList(snap([svc('tcp', '10.0.0.100', 80, {}, [d])]), { numeric: true, thresholds: true }),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.100:80 wlc',
      '  -> 192.168.10.1:80              1000       750        12         40        ',
      '',
    ].join('\n'),
  );
  assert.equal(
    formatList(snap([svc('tcp', '10.0.0.100', 80, { flags: PERSISTENT, timeout: 360 }, [d])]), {
      numeric: true,
      persistentConn: true,
    }),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.100:80 wlc persistent 360',
      '  -> 192.168.10.1:80              1         3           12         40        ',
      '',
    ].join('\n'),
  );
});

test('§9.7 --tun-info', () => {
  const s = snap([
    svc('tcp', '10.0.0.100', 80, { sched: 'rr' }, [
      dest('192.168.10.3', 80, { fwd: Fwd.DROUTE }),
      dest('192.168.10.2', 80, { fwd: Fwd.TUNNEL }),
      dest('192.168.10.1', 80, { fwd: Fwd.TUNNEL, tunType: TunType.GUE, tunPort: 6080 }),
    ]),
  ]);
  assert.equal(
    formatList(s, { numeric: true, tunInfo: true }),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'TCP  10.0.0.100:80 rr',
      '  -> 192.168.10.1:80              Tunnel  gue:6080:-c   1      0          0         ',
      '  -> 192.168.10.2:80              Tunnel  ipip          1      0          0         ',
      '  -> 192.168.10.3:80              Route   n/a           1      0          0         ',
      '',
    ].join('\n'),
  );
});

test('§9.8 -c, §9.9 --timeout, §9.10 --daemon', () => {
  assert.equal(
    formatConnections(CONNS.slice(0, 4), { numeric: true }),
    [
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      // 895 s -> "%02d:%02d" of 14, 55; the second line came in as the kernel's hex
      'TCP 14:55  ESTABLISHED 203.0.113.7:51234  10.0.0.100:80      192.168.10.1:80',
      'TCP 00:37  SYN_RECV    192.168.1.20:55746 192.168.1.10:80    192.168.1.15:80',
      'UDP 04:59  UDP         203.0.113.9:40000  10.0.0.100:53      192.168.10.1:53',
      'TCP 05:59  NONE        203.0.113.0:0      10.0.0.100:80      192.168.10.1:80',
      '',
    ].join('\n'),
  );
  assert.equal(formatTimeout({ tcp: 900, tcpfin: 120, udp: 300 }), 'Timeout (tcp tcpfin udp): 900 120 300\n');
  assert.equal(
    formatDaemon(DAEMONS),
    'master sync daemon (mcast=eth0, syncid=1)\n' +
      'backup sync daemon (mcast=eth1, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
  );
});

// ---- hand-derived: what ipvsadm 1.31 cannot show ---------------------------------------------

test('FullNAT dests print as DPVS does and save with --fullnat after their local addresses', () => {
  const s = snap([
    svc('tcp', '10.0.0.100', 80, { laddrs: ['10.0.0.200', '10.0.0.201'] }, [
      dest('192.168.10.1', 8080, { fwd: Fwd.FULLNAT, activeConns: 2 }),
      dest('192.168.10.2', 80, { fwd: 4 }),
    ]),
  ]);
  const lines = formatList(s, { numeric: true }).split('\n');
  // "  -> %-28s %-7s ...": "FullNat" fills %-7s exactly; method 4 (bypass) has no name, and
  // glibc prints a NULL %s as "(null)".
  assert.equal(lines[4], '  -> 192.168.10.1:8080            FullNat 1      2          0         ');
  assert.equal(lines[5], '  -> 192.168.10.2:80              (null)  1      0          0         ');
  assert.equal(
    formatList(snap([{ ...s.services[0], dests: [s.services[0].dests[0]] }]), {
      numeric: true,
      tunInfo: true,
    }).split('\n')[4],
    '  -> 192.168.10.1:8080            FullNat n/a           1      2          0         ',
  );
  assert.equal(
    formatSave(snap([{ ...s.services[0], dests: [s.services[0].dests[0]] }]), true),
    '-A -t 10.0.0.100:80 -s wlc\n' +
      '--add-laddr -t 10.0.0.100:80 --laddr 10.0.0.200\n' +
      '--add-laddr -t 10.0.0.100:80 --laddr 10.0.0.201\n' +
      '-a -t 10.0.0.100:80 -r 192.168.10.1:8080 --fullnat -w 1\n',
  );
});

test('print_largenum around every threshold', () => {
  // "%9llu" below 1e8; "%8lluK" of n/1e3 below 1e9; "%8lluM" of n/1e6 below 1e11;
  // "%8lluG" of n/1e9 below 1e14; "%8lluT" of n/1e12 from there on.
  const cases: [number, string, string][] = [
    [0, '        0', '        0'],
    [99999999, ' 99999999', ' 99999999'],
    [100000000, '  100000K', ' 100000000'],
    [999999999, '  999999K', ' 999999999'],
    [1e9, '    1000M', ' 1000000000'],
    [99999999999, '   99999M', ' 99999999999'],
    [1e11, '     100G', ' 100000000000'],
    [99999999999999, '   99999G', ' 99999999999999'],
    [1e14, '     100T', ' 100000000000000'],
    [2 ** 53 - 1, '    9007T', ' 9007199254740991'],
  ];
  for (const [n, abbrev, exact] of cases) {
    assert.equal(largenum(n, false), abbrev, `${n}`);
    assert.equal(largenum(n, true), exact, `${n} --exact`);
  }
});

test('IPv6 text is glibc inet_ntop, not RFC 5952', () => {
  const b = (s: string): Uint8Array => parseIpAddr(s)!.v6!;
  // Checked against Python's socket.inet_ntop (glibc 2.36) on this machine.
  assert.equal(ntop6(b('::2:3')), '::0.2.0.3');
  assert.equal(ntop6(b('::2')), '::2');
  assert.equal(ntop6(b('::ffff:1:2')), '::ffff:0.1.0.2');
  assert.equal(ntop6(b('::ffff:0:1.2.3.4')), '::ffff:0:102:304');
  assert.equal(ntop6(b('1:0:1:0:0:1:0:1')), '1:0:1::1:0:1');
  assert.equal(ntop6(b('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.equal(ntop6(b('1::')), '1::');
  assert.equal(ntop6(b('::')), '::');
  assert.equal(ntop6(b('0:1::')), '0:1::');
});

test('sorting: the unsigned difference read as an int, run through glibc merge sort', () => {
  const k = (a: string): { addr: ReturnType<typeof dk>; port: number } => ({ addr: dk(a), port: 80 });
  function dk(a: string): { af: 4; words: [number, number, number, number]; bytes: null } {
    return { af: 4, words: [parseIpAddr(a)!.v4, 0, 0, 0], bytes: null };
  }
  // 0x01000001 - 0xC8000001 = -0xC7000000, which as an int is +0x39000000: 1.0.0.1 > 200.0.0.1.
  assert.ok(cmpDests(k('1.0.0.1'), k('200.0.0.1')) > 0);
  assert.ok(cmpDests(k('1.0.0.1'), k('100.0.0.1')) < 0);
  // 0.0.0.1 < 96.0.0.1 < 192.0.0.1 < 0.0.0.1: merge sort of [192, 96, 0] splits [192] | [96, 0];
  // the right half sorts to [0, 96] (0x00000001 - 0x60000001 < 0); merging, 192 vs 0 takes 192
  // first (0xC0000001 - 0x00000001 is negative as an int), and the right half follows.
  const order = cSort(['192.0.0.1', '96.0.0.1', '0.0.0.1'].map(k), cmpDests).map(
    (x) => x.addr.words[0] >>> 24,
  );
  assert.deepEqual(order, [192, 0, 96]);
  // A plain stable sort by value would give [0, 96, 192].
});

test('svc_name is cut to 33 bytes and dest names to 28 for IPv4, never for IPv6', () => {
  const r = resolverOf(NAMES_TABLES);
  const out = formatList(NAMES, { numeric: false }, r).split('\n');
  // "%-4s %s" = "TCP  very-long-service-hostname.example.org:https", svc_name[33] = '\0'.
  assert.ok(out.includes('TCP  very-long-service-hostname.e wlc persistent 100'));
  // "a-really-long-backend-hostname.internal.example.com:http-alt" is cut to 28 first.
  assert.ok(out.includes('  -> a-really-long-backend-hostna Masq    5      0          0         '));
  // IPv6 names keep their length (and then overflow %-28s).
  assert.ok(
    out.includes(
      '  -> [an-ipv6-backend-with-quite-a-long-name.example.com]:http Masq    1      0          0         ',
    ),
  );
});

test('-L <service> that does not exist: "No such service", exit 1', () => {
  const r = parseIpvsadm(['-L', '-n', '-t', '10.9.9.9:80']);
  assert.ok(r.ok && r.cmd.kind === 'list' && r.cmd.service !== null);
  const out = formatService(WORKED, r.cmd.service, r.cmd.format);
  assert.deepEqual(out, { ok: false, message: 'No such service\n', exitCode: 1 });
});

// ---- --json -----------------------------------------------------------------------------------

test('--json: the documented shape, sorted like the text listing', () => {
  const j = JSON.parse(formatList(WORKED, { json: true })) as {
    schema: number;
    version: string;
    connTabSize: number;
    services: Record<string, unknown>[];
  };
  assert.equal(j.schema, 1);
  assert.equal(j.version, '1.2.1');
  assert.equal(j.connTabSize, 4096);
  assert.deepEqual(
    j.services.map((s) => s.name),
    ['TCP  10.0.0.100:80', 'UDP  10.0.0.100:53', 'FWM  1'],
  );
  const tcp = j.services[0];
  assert.deepEqual(Object.keys(tcp), [
    'name',
    'af',
    'protocol',
    'address',
    'port',
    'fwmark',
    'scheduler',
    'schedFlags',
    'flags',
    'persistent',
    'pe',
    'onePacket',
    'stats',
    'rates',
    'localAddresses',
    'dests',
  ]);
  assert.deepEqual(tcp.persistent, { timeout: 360, netmask: '255.255.255.0' });
  assert.deepEqual(tcp.stats, st(1234, 98765, 87654, 123456789, 2345678901));
  const dests = tcp.dests as Record<string, unknown>[];
  assert.deepEqual(
    dests.map((d) => [d.address, d.port, d.forward, d.weight]),
    [
      ['192.168.10.1', 80, 'masq', 1],
      ['192.168.10.2', 80, 'masq', 3],
    ],
  );
  assert.deepEqual(j.services[1].schedFlags, ['sh-fallback', 'sh-port']);
  assert.equal(j.services[1].onePacket, true);
  assert.deepEqual([j.services[2].fwmark, j.services[2].protocol, j.services[2].address], [1, null, null]);
  assert.deepEqual((j.services[2].dests as Record<string, unknown>[])[0].tunnel, {
    type: 'ipip',
    port: null,
    csum: 'nocsum',
  });
  // Stable text: the same snapshot gives the same bytes, ending in a newline.
  assert.equal(formatJson(WORKED, 'all'), formatList(WORKED, { json: true, numeric: true }));
  assert.ok(formatJson(WORKED, 'all').endsWith('}\n'));
});

test('--json for -c, --timeout, --daemon and one service', () => {
  const c = JSON.parse(formatList(snap([], { conns: CONNS }), { json: true, connection: true })) as {
    connections: Record<string, unknown>[];
  };
  assert.deepEqual(c.connections[1], {
    protocol: 'TCP',
    client: { address: '192.168.1.20', port: 55746 },
    virtual: { address: '192.168.1.10', port: 80 },
    destination: { address: '192.168.1.15', port: 80 },
    state: 'SYN_RECV',
    expires: 37,
    pe: null,
  });
  assert.deepEqual(c.connections[7].pe, { name: 'sip', data: 'a84b4c76e66710@pc33.example.com' });
  assert.deepEqual(JSON.parse(formatJson(WORKED, 'timeout')), {
    schema: 1,
    timeout: { tcp: 900, tcpfin: 120, udp: 300 },
  });
  const d = JSON.parse(formatJson(snap([], { daemons: DAEMONS }), 'daemon')) as {
    daemons: Record<string, unknown>[];
  };
  assert.deepEqual(d.daemons[0], {
    state: 'master',
    mcastInterface: 'eth0',
    syncId: 1,
    maxlen: null,
    group: null,
    port: null,
    ttl: null,
  });
  const r = parseIpvsadm(['-L', '-f', '2', '-6', '--json']);
  assert.ok(r.ok && r.cmd.kind === 'list');
  const one = formatListCommand(V6, r.cmd);
  const sj = JSON.parse(one.stdout) as { services: Record<string, unknown>[] };
  assert.equal(sj.services.length, 1);
  assert.equal(sj.services[0].name, 'FWM  2 IPv6');
  assert.deepEqual(sj.services[0].persistent, { timeout: 360, netmask: 96 });
});

// ---- snapshotFromCore -------------------------------------------------------------------------

function newTable(): ServiceTable {
  return new ServiceTable({ now: () => 0, random: () => 0, lblcExpirationMs: 1, lblcrExpirationMs: 1 });
}

function load(text: string, table = newTable()): ServiceTable {
  const r = loadRules(text, 'rules', table, {
    resolveHost: hostsFileResolver('10.1.1.1 www.example.com\n10.1.1.11 web-1.example.com\n'),
    resolveService: servicesFileResolver('http 80/tcp\ndomain 53/udp\n'),
  });
  assert.ok(r.ok, r.ok ? '' : r.text);
  return table;
}

test('snapshotFromCore: services, dests, counters, rates and the conn table', () => {
  const table = load(
    [
      '-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0',
      '-a -t 10.0.0.100:80 -r 192.168.10.1:80 -m -w 1',
      '-a -t 10.0.0.100:80 -r 192.168.10.2:80 -m -w 3 -x 10 -y 5',
      '-A -f 1 -s rr',
      '-a -f 1 -r 192.168.10.1:0 -i -w 1',
      '-A -u [2001:db8::1]:53 -s sh -b sh-port',
      '-a -u [2001:db8::1]:53 -r 192.168.10.9 -i --tun-type gue --tun-port 6080 --tun-csum',
    ].join('\n'),
  );
  const tcp = table.list[0];
  const d2 = tcp.dests[0];
  // 6 conns and 5000 bytes in one 2-s period are 3 conn/s and 2500 B/s; one estimator step moves
  // the averages a quarter of the way from 0: 0.75 conn/s reads as 1, 625 B/s as 625.
  d2.stats.conns = 6;
  d2.stats.inbytes = 5000;
  estimate(d2.stats);
  const timeouts = new Timeouts();
  const t4 = new ConnTable({ af: 4, dests: table.dests, random: () => 7, timeouts, maxEntries: 64 });
  const p = newConnParam();
  Object.assign(p, {
    proto: 6,
    caddr: parseIpAddr('203.0.113.7')!.v4,
    cport: 51234,
    vaddr: parseIpAddr('10.0.0.100')!.v4,
    vport: 80,
    daddr: d2.addr.v4,
    dport: 80,
    destId: d2.id,
  });
  const id = t4.insert(p, 1000);
  t4.changeState(id, TcpState.ESTABLISHED, true);
  // what the TCP state table would have set for ESTABLISHED (900 s), then ip_vs_conn_put
  t4.setTimeout(id, 900_000);
  t4.put(id, 1000);
  // a fwmark template: proto IP, the mark as its virtual address
  Object.assign(p, {
    proto: 0,
    caddr: parseIpAddr('203.0.113.0')!.v4,
    vaddr: 0,
    vport: 0,
    fwmark: 1,
    dport: 0,
  });
  t4.createTemplate(p, 360_000, 1000);
  const s = snapshotFromCore(table, [t4], 1500, timeouts.get(), { connTabSize: 65536 });
  assert.equal(s.connTabSize, 65536);
  assert.deepEqual(s.timeouts, { tcp: 900, tcpfin: 120, udp: 300 });
  assert.equal(s.services.length, 3);
  const [st4, sfw, s6] = s.services;
  assert.deepEqual(
    [st4.addr, st4.port, st4.protocol, st4.flags & ~2, st4.netmask],
    ['10.0.0.100', 80, 6, 1, 0xffffff00],
  );
  // newest dest first, as the kernel lists them
  assert.deepEqual(
    st4.dests.map((d) => [d.addr, d.weight, d.uThreshold, d.lThreshold]),
    [
      ['192.168.10.2', 3, 10, 5],
      ['192.168.10.1', 1, 0, 0],
    ],
  );
  assert.deepEqual(st4.dests[0].rates, rt(1, 0, 0, 625, 0));
  assert.equal(st4.dests[0].activeConns, 1);
  assert.equal(st4.dests[0].stats.conns, 7);
  // the kernel keeps ipvsadm's dummy TCP for fwmark services
  assert.deepEqual([sfw.fwmark, sfw.protocol, sfw.addr, sfw.port], [1, 6, '0.0.0.0', 0]);
  assert.deepEqual([s6.af, s6.addr, s6.netmask, s6.sched], [6, '2001:db8::1', 128, 'sh']);
  assert.deepEqual(
    [
      s6.dests[0].af,
      s6.dests[0].port,
      s6.dests[0].fwd,
      s6.dests[0].tunType,
      s6.dests[0].tunPort,
      s6.dests[0].tunFlags,
    ],
    [4, 53, Fwd.TUNNEL, TunType.GUE, 6080, 1],
  );
  assert.deepEqual(s.conns, [
    {
      proto: 'TCP',
      caddr: '203.0.113.7',
      cport: 51234,
      vaddr: '10.0.0.100',
      vport: 80,
      daddr: '192.168.10.2',
      dport: 80,
      state: 'ESTABLISHED',
      expiresSec: 899,
    },
    {
      proto: 'IP',
      caddr: '203.0.113.0',
      cport: 0,
      vaddr: '0.0.0.1',
      vport: 0,
      daddr: '192.168.10.2',
      dport: 0,
      state: 'NONE',
      expiresSec: 359,
    },
  ]);
  // and the listing of it
  assert.equal(
    formatList(s, { numeric: true, connection: true }).split('\n').slice(2).join('\n'),
    'TCP 14:59  ESTABLISHED 203.0.113.7:51234  10.0.0.100:80      192.168.10.2:80\n' +
      'IP  05:59  NONE        203.0.113.0:0      0.0.0.1:0          192.168.10.2:0\n',
  );
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s, 'plain data');
  assert.equal(addrText(addr6(parseIpAddr('::2:3')!.v6!)), '::0.2.0.3');
  assert.equal(addrText(addr4(0x0a000001)), '10.0.0.1');
});

// ---- save -> restore -> save ----------------------------------------------------------------

function saveOf(table: ServiceTable, numeric: boolean, r?: NameResolver): string {
  return formatSave(snapshotFromCore(table, [], 0, { tcp: 900, tcpfin: 120, udp: 300 }), numeric, r);
}

test('save, restore, save: the same text (numeric and with names)', () => {
  const rules = [
    ...formatSave(WORKED, true).trim().split('\n'),
    ...formatSave(V6, true).trim().split('\n'),
    ...formatSave(FLAGS, true)
      .trim()
      .split('\n')
      // ipvsadm cannot restore its own "-b " for sh with only SCHED3 (see FLAGS)
      .filter((l) => !l.includes('10.2.0.6:80')),
    '-A -t 10.5.0.1:80 -s rr',
    '--add-laddr -t 10.5.0.1:80 --laddr 10.5.0.200',
    '-a -t 10.5.0.1:80 -r 10.5.1.1:8080 --fullnat -w 2',
  ].join('\n');
  const table = load(rules);
  const first = saveOf(table, true);
  assert.equal(saveOf(load(first), true), first);
  // everything came back: same number of -A and -a lines as the input
  const count = (s: string, p: string): number => s.split('\n').filter((l) => l.startsWith(p)).length;
  assert.equal(count(first, '-A '), count(rules, '-A '));
  assert.equal(count(first, '-a '), count(rules, '-a '));
  assert.equal(count(first, '--add-laddr '), 1);
  // with names: the resolver that prints them and the one that reads them agree
  const r = filesNameResolver(
    '10.1.1.1 www.example.com\n10.1.1.11 web-1.example.com\n',
    'http 80/tcp\ndomain 53/udp\n',
  );
  const named = load(
    '-A -t 10.1.1.1:80\n-a -t 10.1.1.1:80 -r 10.1.1.11 -m\n-A -u 10.1.1.1:53\n-a -u 10.1.1.1:53 -r 10.1.1.11 -g',
  );
  const text = saveOf(named, false, r);
  assert.equal(
    text,
    '-A -t www.example.com:http -s wlc\n' +
      '-a -t www.example.com:http -r web-1.example.com:http -m -w 1\n' +
      '-A -u www.example.com:domain -s wlc\n' +
      '-a -u www.example.com:domain -r web-1.example.com:domain -g -w 1\n',
  );
  assert.equal(saveOf(load(text), false, r), text);
});

test('save, restore, save: random tables (property)', () => {
  // Addresses (and marks) less than 2^31 apart, where the comparators are a consistent order; see
  // the next test for what happens otherwise.
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 }));
  const addr = fc.oneof(
    v4.map(([b, c, d]) => `10.${b}.${c}.${d}`),
    fc.tuple(fc.nat(0x7fff), fc.nat(0xffff)).map(([x, y]) => `2001:db8::${x.toString(16)}:${y.toString(16)}`),
  );
  const destArb = fc.record({
    addr,
    port: fc.integer({ min: 1, max: 65535 }),
    fwd: fc.constantFrom(Fwd.MASQ, Fwd.DROUTE, Fwd.TUNNEL, Fwd.LOCALNODE),
    weight: fc.nat(65535),
    tun: fc.constantFrom('', ' --tun-type gue --tun-port 6080 --tun-remcsum', ' --tun-type gre --tun-csum'),
  });
  const svcArb = fc.record({
    kind: fc.constantFrom('-t', '-u', '--sctp-service', '-f'),
    addr,
    port: fc.integer({ min: 0, max: 65535 }),
    mark: fc.integer({ min: 1, max: 0x7fffffff }),
    sched: fc.constantFrom('rr', 'wlc', 'sh', 'mh', 'lblcr'),
    persistent: fc.option(fc.integer({ min: 1, max: 86400 * 31 })),
    mask: fc.nat(0xffffffff),
    plen: fc.integer({ min: 1, max: 128 }),
    flags: fc.nat(3),
    ops: fc.boolean(),
    dests: fc.array(destArb, { maxLength: 4 }),
  });
  fc.assert(
    fc.property(fc.array(svcArb, { maxLength: 5 }), (svcs) => {
      const lines: string[] = [];
      for (const s of svcs) {
        const v6 = s.addr.includes(':');
        const name =
          s.kind === '-f'
            ? `-f ${s.mark}${v6 ? ' -6' : ''}`
            : `${s.kind} ${v6 ? `[${s.addr}]` : s.addr}:${s.persistent === null && s.port === 0 ? 1 : s.port}`;
        let a = `-A ${name} -s ${s.sched}`;
        if (s.persistent !== null) {
          const m = v6
            ? String(s.plen)
            : `${s.mask >>> 24}.${(s.mask >>> 16) & 255}.${(s.mask >>> 8) & 255}.${s.mask & 255}`;
          a += ` -p ${s.persistent} -M ${m}`;
        }
        if (s.ops && (s.kind === '-u' || s.kind === '-f')) a += ' -o';
        if (s.flags !== 0) {
          const names =
            s.sched === 'sh' || s.sched === 'mh'
              ? [`${s.sched}-fallback`, `${s.sched}-port`]
              : ['flag-1', 'flag-2'];
          a += ` -b ${names.filter((_, i) => (s.flags & (1 << i)) !== 0).join(',')}`;
        }
        lines.push(a);
        const seen = new Set<string>();
        for (const d of s.dests) {
          const dv6 = d.addr.includes(':');
          if (dv6 !== v6 && d.fwd !== Fwd.TUNNEL) continue;
          const sw = d.fwd === Fwd.MASQ ? '-m' : d.fwd === Fwd.TUNNEL ? '-i' : '-g';
          const key = `${d.addr}/${d.port}`;
          if (seen.has(key)) continue;
          seen.add(key);
          lines.push(
            `-a ${name} -r ${dv6 ? `[${d.addr}]` : d.addr}:${d.port} ${sw} -w ${d.weight}${d.fwd === Fwd.TUNNEL ? d.tun : ''}`,
          );
        }
      }
      const table = newTable();
      const r = loadRules(lines.join('\n'), 'p', table);
      // Random services may collide (or DR dests collapse onto the service port); skip those.
      fc.pre(r.ok);
      const first = saveOf(table, true);
      assert.equal(saveOf(load(first), true), first);
    }),
    { numRuns: 150 },
  );
});

test('save, restore, save is not a fixed point for addresses exactly 2^31 apart (as in ipvsadm)', () => {
  // 0x01000001 - 0x81000001 and 0x81000001 - 0x01000001 are both 0x80000000, INT_MIN as an int:
  // each dest sorts before the other, so the merge sort keeps the input order. Restoring adds
  // the dests in saved order and the kernel lists the newest first, so every round trip swaps them.
  const rules = '-A -t 1.0.0.1:1 -s rr\n-a -t 1.0.0.1:1 -r 129.0.0.1:1 -m\n-a -t 1.0.0.1:1 -r 1.0.0.1:1 -m\n';
  const first = saveOf(load(rules), true);
  assert.equal(
    first,
    '-A -t 1.0.0.1:1 -s rr\n-a -t 1.0.0.1:1 -r 1.0.0.1:1 -m -w 1\n-a -t 1.0.0.1:1 -r 129.0.0.1:1 -m -w 1\n',
  );
  const second = saveOf(load(first), true);
  assert.equal(
    second,
    '-A -t 1.0.0.1:1 -s rr\n-a -t 1.0.0.1:1 -r 129.0.0.1:1 -m -w 1\n-a -t 1.0.0.1:1 -r 1.0.0.1:1 -m -w 1\n',
  );
  assert.equal(saveOf(load(second), true), first);
});

test('cSort is a stable sort whenever the comparator is a consistent order (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(20), fc.nat(1000))), (xs) => {
      const cmp = (a: [number, number], b: [number, number]): number => a[0] - b[0];
      assert.deepEqual(cSort(xs, cmp), [...xs].sort(cmp));
    }),
  );
});

test('the formatters never throw and always end lines, whatever the snapshot holds (fuzz)', () => {
  const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 2 ** 32, 2 ** 53, NaN));
  const text = fc.oneof(fc.string(), fc.constantFrom('10.0.0.1', '::1', '0A000001', '', '1.2.3', 'zz:zz'));
  const destArb = fc.record({
    af: fc.constantFrom<4 | 6>(4, 6),
    addr: text,
    port: num,
    fwd: num,
    weight: num,
    uThreshold: num,
    lThreshold: num,
    activeConns: num,
    inactConns: num,
    persistConns: num,
    tunType: num,
    tunPort: num,
    tunFlags: num,
    stats: fc.constant(ZS),
    rates: fc.record({ cps: num, inpps: num, outpps: num, inbps: num, outbps: num }),
  });
  const svcArb = fc.record({
    af: fc.constantFrom<4 | 6>(4, 6),
    protocol: num,
    addr: text,
    port: num,
    fwmark: num,
    sched: fc.string(),
    flags: num,
    timeout: num,
    netmask: num,
    pe: fc.string(),
    stats: fc.record({ conns: num, inpkts: num, outpkts: num, inbytes: num, outbytes: num }),
    rates: fc.constant(ZR),
    dests: fc.array(destArb, { maxLength: 3 }),
  });
  const connArb = fc.record({
    proto: fc.string(),
    caddr: text,
    cport: num,
    vaddr: text,
    vport: num,
    daddr: text,
    dport: num,
    state: fc.string(),
    expiresSec: num,
  });
  const deadline = Date.now() + 2000;
  fc.assert(
    fc.property(
      fc.array(svcArb, { maxLength: 4 }),
      fc.array(connArb, { maxLength: 3 }),
      (services, conns) => {
        if (Date.now() > deadline) return;
        const s = snap(services, { conns });
        const r = resolverOf(NAMES_TABLES);
        for (const out of [
          formatList(s, { numeric: true }),
          formatList(s, { stats: true, exact: true }, r),
          formatList(s, { rate: true }, r),
          formatList(s, { tunInfo: true, nosort: true }, r),
          formatList(s, { connection: true, persistentConn: true }, r),
          formatSave(s, false, r),
          formatList(s, { json: true }),
          formatList(s, { json: true, connection: true }),
        ]) {
          assert.ok(out === '' || out.endsWith('\n'));
        }
      },
    ),
    { numRuns: 300 },
  );
});

// ---- names ------------------------------------------------------------------------------------

test('filesNameResolver: first match, any spelling of the address, numeric fallback', () => {
  const r = filesNameResolver(
    '# comment\n127.0.0.1\tlocalhost loopback\n10.0.0.1 first\n10.0.0.1 second\n::1 ip6-localhost\n2001:db8::1 six # trailing\n',
    'http\t80/tcp www\nhttp 80/udp\nwhois 43/tcp nicname\nbogus 70000/tcp\n',
  );
  assert.equal(r.hostByAddr('127.0.0.1'), 'localhost');
  assert.equal(r.hostByAddr('10.0.0.1'), 'first');
  assert.equal(r.hostByAddr('0:0::1'), 'ip6-localhost');
  assert.equal(r.hostByAddr('2001:db8:0::1'), 'six');
  assert.equal(r.hostByAddr('10.0.0.2'), null);
  assert.equal(r.servByPort(80, 'tcp'), 'http');
  assert.equal(r.servByPort(80, 'sctp'), null);
  assert.equal(r.servByPort(43, 'tcp'), 'whois');
  const s = snap([svc('tcp', '10.0.0.1', 43, {}, [dest('10.0.0.2', 80)])]);
  assert.equal(
    formatSave(s, false, r),
    '-A -t first:whois -s wlc\n-a -t first:whois -r 10.0.0.2:http -m -w 1\n',
  );
  // -n never asks the resolver
  assert.equal(
    formatSave(s, true, r),
    '-A -t 10.0.0.1:43 -s wlc\n-a -t 10.0.0.1:43 -r 10.0.0.2:80 -m -w 1\n',
  );
});

test('defaultNameResolver reads the system files once', () => {
  const a = defaultNameResolver();
  assert.equal(defaultNameResolver(), a);
  assert.equal(a.hostByAddr('not an address'), null);
});

test('C field helpers count bytes', () => {
  assert.equal(padRight('ab', 4), 'ab  ');
  assert.equal(padRight('abcdef', 4), 'abcdef');
  assert.equal(padLeft('ab', 4), '  ab');
  assert.equal(padRight('é', 3), 'é ');
});

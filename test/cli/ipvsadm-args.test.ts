// ipvsadm 1.31 command-line parsing (src/cli/ipvsadm/args.ts).
//
// Expected messages are ipvsadm.c's own strings. Every argv in this file that uses no extension
// (--fullnat, --json, the laddr commands: ipvsadm 1.31 has none of them) was also run through the
// real ipvsadm parse code (the harness described in ipvsadm-oracle.golden.ts), given the same
// host and service tables, and gave the same result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { IpvsadmCommand, ParseError, ParseOptions, ParseResult } from '../../src/cli/ipvsadm/args.ts';
import {
  parseIpvsadm,
  splitRestoreInput,
  splitRestoreLine,
  usageText,
  versionText,
} from '../../src/cli/ipvsadm/args.ts';
import { hostsFileResolver, servicesFileResolver } from '../../src/cli/ipvsadm/resolve.ts';
import { ipAddrToString } from '../../src/model/addr.ts';
import { Fwd, SvcFlag, TunType } from '../../src/model/flags.ts';

const resolveHost = hostsFileResolver(
  '127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.9.9.9 web1.example web1\n',
);
const resolveService = servicesFileResolver('http 80/tcp www\ndomain 53/tcp\ndomain 53/udp\nsip 5060/udp\n');
const R: ParseOptions = { resolveHost, resolveService };

function ok(argv: string[], opts: ParseOptions = R): IpvsadmCommand {
  const r = parseIpvsadm(argv, opts);
  if (!r.ok) assert.fail(`${JSON.stringify(argv)} failed: ${r.message}`);
  return r.cmd;
}

function err(argv: string[], opts: ParseOptions = R): ParseError {
  const r = parseIpvsadm(argv, opts);
  if (r.ok) assert.fail(`${JSON.stringify(argv)} parsed as ${r.cmd.kind}`);
  return r;
}

/** ipvsadm's fail(): the message plus a newline on stderr, exit status 2. */
function failsWith(argv: string[], message: string, opts: ParseOptions = R): void {
  const e = err(argv, opts);
  assert.deepEqual([e.message, e.exitCode, e.exits], [`${message}\n`, 2, true], JSON.stringify(argv));
}

const TRY = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n";

function triesHelp(argv: string[], opts: ParseOptions = R): void {
  const e = err(argv, opts);
  assert.deepEqual([e.message, e.exitCode, e.usage, e.exits], [TRY, 255, true, true], JSON.stringify(argv));
}

/** A popt error after the command: "<argv element>: <popt text>", status 255, not fatal in -R. */
function poptError(argv: string[], text: string): void {
  const e = err(argv);
  assert.deepEqual([e.message, e.exitCode, e.exits], [`${text}\n`, 255, false], JSON.stringify(argv));
}

function addr(cmd: { service: { addr: unknown } | null }): string {
  const a = cmd.service?.addr;
  return a ? ipAddrToString(a as Parameters<typeof ipAddrToString>[0]) : 'none';
}

// ---------------------------------------------------------------------------------------------
// The command lines from the seed notes.

test('seed: ipvsadm -A -t 192.168.188.100:80 -s rr', () => {
  const c = ok(['-A', '-t', '192.168.188.100:80', '-s', 'rr']);
  assert.equal(c.kind, 'add-service');
  if (c.kind !== 'add-service') return;
  assert.equal(addr(c), '192.168.188.100');
  assert.deepEqual(
    [
      c.service.af,
      c.service.protocol,
      c.service.port,
      c.service.fwmark,
      c.scheduler,
      c.flags,
      c.timeout,
      c.netmask,
      c.pe,
    ],
    [4, 6, 80, 0, 'rr', 0, 0, 0xffffffff, ''],
  );
});

test('seed: ipvsadm -a -t 192.168.188.100:80 -r 192.168.188.181:80 -g -w 1', () => {
  const c = ok(['-a', '-t', '192.168.188.100:80', '-r', '192.168.188.181:80', '-g', '-w', '1']);
  assert.equal(c.kind, 'add-server');
  if (c.kind !== 'add-server') return;
  assert.equal(addr(c), '192.168.188.100');
  assert.equal(ipAddrToString(c.dest.addr), '192.168.188.181');
  assert.deepEqual(
    [c.dest.port, c.dest.fwd, c.dest.weight, c.dest.uThreshold, c.dest.lThreshold, c.dest.tunType],
    [80, Fwd.DROUTE, 1, 0, 0, TunType.IPIP],
  );
});

test('seed: ipvsadm -a -t 10.10.10.10:80 -r 192.168.122.101 -m -w 1 (NAT keeps the service port)', () => {
  const c = ok(['-a', '-t', '10.10.10.10:80', '-r', '192.168.122.101', '-m', '-w', '1']);
  assert.equal(c.kind, 'add-server');
  if (c.kind !== 'add-server') return;
  assert.deepEqual(
    [ipAddrToString(c.dest.addr), c.dest.port, c.dest.fwd, c.dest.weight],
    ['192.168.122.101', 80, Fwd.MASQ, 1],
  );
});

test('seed: ipvsadm -Ln, -lnc, -S -n, --set 900 120 300', () => {
  const ln = ok(['-Ln']);
  assert.ok(ln.kind === 'list' && ln.what === 'all' && ln.format.numeric && !ln.format.connection);
  const lnc = ok(['-lnc']);
  assert.ok(lnc.kind === 'list' && lnc.what === 'connections' && lnc.format.numeric && lnc.format.connection);
  assert.deepEqual(ok(['-S', '-n']), { kind: 'save', numeric: true });
  assert.deepEqual(ok(['-S']), { kind: 'save', numeric: false });
  assert.deepEqual(ok(['--set', '900', '120', '300']), {
    kind: 'set-timeout',
    tcp: 900,
    tcpFin: 120,
    udp: 300,
  });
});

test('plain `ipvsadm` lists everything without -n; an empty restore line is a no-op', () => {
  const c = ok([]);
  assert.ok(c.kind === 'list' && c.what === 'all' && !c.format.numeric);
  assert.deepEqual(ok([], { restoreMode: true }), { kind: 'noop' });
});

// ---------------------------------------------------------------------------------------------
// -h and -v

// Golden: lvs-features.md §9.1, which was rendered from ipvsadm.c usage_exit(); it is also
// byte-identical to what the compiled ipvsadm.c printed for `-h` with argv[0] = "ipvsadm".
const HELP_GOLDEN = `ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)
Usage:
  ipvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  ipvsadm -D virtual-service
  ipvsadm -C
  ipvsadm -R
  ipvsadm -S [-n]
  ipvsadm -a|e virtual-service -r server-address [options]
  ipvsadm -d virtual-service -r server-address
  ipvsadm -L|l [virtual-service] [options]
  ipvsadm -Z [virtual-service]
  ipvsadm --set tcp tcpfin udp
  ipvsadm --start-daemon {master|backup} [daemon-options]
  ipvsadm --stop-daemon {master|backup}
  ipvsadm -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
`;

test('-h prints the usage text byte for byte, with argv[0] substituted', () => {
  assert.equal(usageText('ipvsadm'), HELP_GOLDEN);
  assert.equal(usageText('/sbin/ipvsadm'), HELP_GOLDEN.replaceAll('  ipvsadm -', '  /sbin/ipvsadm -'));
  assert.deepEqual(ok(['-h']), { kind: 'help', text: HELP_GOLDEN });
  assert.deepEqual(ok(['--help']), { kind: 'help', text: HELP_GOLDEN });
  // Only the first option is looked at: -hL is help, the L is never read.
  assert.deepEqual(ok(['-hL']), { kind: 'help', text: HELP_GOLDEN });
  const p = parseIpvsadm(['-h'], { progName: 'lvsadm' });
  assert.ok(p.ok && p.cmd.kind === 'help' && p.cmd.text.includes('\n  lvsadm -C\n'));
});

test('-v prints the version line', () => {
  assert.equal(versionText(), 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n');
  assert.deepEqual(ok(['-v']), { kind: 'version', text: versionText() });
  assert.deepEqual(ok(['--version']), { kind: 'version', text: versionText() });
});

// ---------------------------------------------------------------------------------------------
// The command × option legality matrix, generated from a table.

// commands_v_options, transcribed from lvs-features.md §1.3 ('.' = optional), then the
// extension columns (local-address, ifname, json) and rows (add/del/get-laddr).
// prettier-ignore
const OPTION_NAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon',
  'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe',
  'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type',
  'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum', 'local-address', 'ifname', 'json',
];

/** One argv snippet per option column that is valid on its own. */
// prettier-ignore
const OPTION_ARGV: string[][] = [
  ['-n'], ['-c'], ['-t', '10.0.0.1:80'], ['-s', 'rr'], ['-p'], ['-M', '255.255.255.0'],
  ['-r', '10.0.0.2:80'], ['-m'], ['-w', '2'], ['-x', '10'], ['-y', '5'], ['--mcast-interface', 'eth1'],
  ['--timeout'], ['--daemon'], ['--stats'], ['--rate'], ['--thresholds'], ['--persistent-conn'],
  ['--nosort'], ['--syncid', '3'], ['--exact'], ['-o'], ['--pe', 'sip'], ['-b', 'flag-1'],
  ['--mcast-group', '224.0.0.81'], ['--mcast-port', '8848'], ['--mcast-ttl', '2'],
  ['--sync-maxlen', '1472'], ['--tun-info'], ['--tun-type', 'ipip'], ['--tun-port', '6080'],
  ['--tun-nocsum'], ['--tun-csum'], ['--tun-remcsum'], ['--laddr', '10.0.0.5'], ['--ifname', 'eth0'],
  ['--json'],
];

// prettier-ignore
const MATRIX: { name: string; argv: string[]; row: string }[] = [
  { name: 'add-service', argv: ['-A'], row: 'x x + . . . x x x x x x x x x x x x x x x . . . x x x x x x x x x x x x x' },
  { name: 'edit-service', argv: ['-E'], row: 'x x + . . . x x x x x x x x x x x x x x x . . . x x x x x x x x x x x x x' },
  { name: 'delete-service', argv: ['-D'], row: 'x x + x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
  { name: 'flush', argv: ['-C'], row: 'x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
  { name: 'list', argv: ['-L'], row: '. 1 1 x x x x x x x x x 1 1 . . . . . . . x x x x x x x . x x x x x x x .' },
  { name: 'add-server', argv: ['-a'], row: 'x x + x x x + . . . . x x x x x x x x x x x x x x x x x x . . . . . x x x' },
  { name: 'delete-server', argv: ['-d'], row: 'x x + x x x + x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
  { name: 'edit-server', argv: ['-e'], row: 'x x + x x x + . . . . x x x x x x x x x x x x x x x x x x . . . . . x x x' },
  { name: 'set', argv: ['--set', '1', '2', '3'], row: 'x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
  { name: 'start-daemon', argv: ['--start-daemon', 'master'], row: 'x x x x x x x x x x x . x x x x x x x . x x x x . . . . x x x x x x x x x' },
  { name: 'stop-daemon', argv: ['--stop-daemon', 'backup'], row: 'x x x x x x x x x x x x x x x x x x x . x x x x x x x x x x x x x x x x x' },
  { name: 'restore', argv: ['-R'], row: 'x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
  { name: 'save', argv: ['-S'], row: '. x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
  { name: 'zero', argv: ['-Z'], row: 'x x . x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
  { name: 'add-laddr', argv: ['--add-laddr'], row: 'x x + x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x + . x' },
  { name: 'del-laddr', argv: ['--del-laddr'], row: 'x x + x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x + . x' },
  { name: 'get-laddr', argv: ['--get-laddr'], row: 'x x . x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x' },
];

function cells(row: string): string[] {
  const c = row.split(' ');
  assert.equal(c.length, OPTION_NAMES.length);
  return c;
}

/** The command with all its compulsory options, leaving out column `except`. */
function baseArgv(m: (typeof MATRIX)[number], except = -1): string[] {
  const argv = [...m.argv];
  cells(m.row).forEach((rule, j) => {
    if (rule === '+' && j !== except) argv.push(...OPTION_ARGV[j]);
  });
  return argv;
}

const MATRIX_ERROR = /^(Illegal '|You need to supply|The option '.*' conflicts)/;

test('matrix: each option is illegal, optional or exclusive with each command exactly as the table says', () => {
  let checked = 0;
  for (const m of MATRIX) {
    cells(m.row).forEach((rule, j) => {
      if (rule === '+') return;
      const argv = [...baseArgv(m), ...OPTION_ARGV[j]];
      const r = parseIpvsadm(argv, R);
      if (rule === 'x') {
        failsWith(argv, `Illegal '${OPTION_NAMES[j]}' option with the '${m.name}' command`);
      } else {
        // Optional: no matrix error (a later semantic check may still object, e.g. -o with TCP).
        assert.ok(r.ok || !MATRIX_ERROR.test(r.message), `${JSON.stringify(argv)}: ${r.ok ? '' : r.message}`);
      }
      checked++;
    });
  }
  assert.equal(checked, MATRIX.length * OPTION_NAMES.length - 13);
});

test('matrix: leaving out a compulsory option names it', () => {
  let checked = 0;
  for (const m of MATRIX) {
    cells(m.row).forEach((rule, j) => {
      if (rule !== '+') return;
      failsWith(
        baseArgv(m, j),
        `You need to supply the '${OPTION_NAMES[j]}' option for the '${m.name}' command`,
      );
      checked++;
    });
  }
  assert.equal(checked, 13);
});

test("matrix: two '1' options conflict, naming the later column first", () => {
  let checked = 0;
  for (const m of MATRIX) {
    const ones = cells(m.row).flatMap((rule, j) => (rule === '1' ? [j] : []));
    for (let a = 0; a < ones.length; a++) {
      for (let b = a + 1; b < ones.length; b++) {
        const [ja, jb] = [ones[a], ones[b]];
        // Argv order does not matter: the check walks the columns.
        for (const argv of [
          [...baseArgv(m), ...OPTION_ARGV[ja], ...OPTION_ARGV[jb]],
          [...baseArgv(m), ...OPTION_ARGV[jb], ...OPTION_ARGV[ja]],
        ]) {
          failsWith(
            argv,
            `The option '${OPTION_NAMES[jb]}' conflicts with the '${OPTION_NAMES[ja]}' option in the '${m.name}' command`,
          );
        }
        checked++;
      }
    }
  }
  assert.equal(checked, 6);
});

test('matrix: the first offending column wins, whatever the argv order', () => {
  failsWith(
    ['-D', '--tun-info', '-n', '-t', '1.2.3.4:80'],
    "Illegal 'numeric' option with the 'delete-service' command",
  );
  failsWith(['-C', '-w', '1', '-s', 'rr'], "Illegal 'scheduler' option with the 'flush' command");
  // A missing compulsory column before an illegal one is reported first.
  failsWith(['-a', '-n', '-r', '1.2.3.4'], "Illegal 'numeric' option with the 'add-server' command");
  failsWith(
    ['-a', '-s', 'rr', '-r', '1.2.3.4'],
    "You need to supply the 'service-address' option for the 'add-server' command",
  );
});

// tunnel_types_v_options: columns tun-port, tun-nocsum, tun-csum, tun-remcsum.
const TUN_MATRIX: { type: string; row: string }[] = [
  { type: 'ipip', row: 'x x x x' },
  { type: 'gue', row: '+ 1 1 1' },
  { type: 'gre', row: 'x 1 1 x' },
];
const TUN_COLS = [
  { name: 'tun-port', argv: ['--tun-port', '6080'] },
  { name: 'tun-nocsum', argv: ['--tun-nocsum'] },
  { name: 'tun-csum', argv: ['--tun-csum'] },
  { name: 'tun-remcsum', argv: ['--tun-remcsum'] },
];

test('tunnel matrix: illegal, compulsory and exclusive tunnel options per tunnel type', () => {
  for (const { type, row } of TUN_MATRIX) {
    const rules = row.split(' ');
    const base = ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-i', '--tun-type', type];
    const compulsory = rules.flatMap((r, k) => (r === '+' ? TUN_COLS[k].argv : []));
    rules.forEach((rule, k) => {
      if (rule === '+') {
        failsWith(base, `You need to supply the '${TUN_COLS[k].name}' option for the '${type}' tunnel type`);
        return;
      }
      const argv = [...base, ...compulsory, ...TUN_COLS[k].argv];
      if (rule === 'x')
        failsWith(argv, `Illegal '${TUN_COLS[k].name}' option with the '${type}' tunnel type`);
      else assert.ok(parseIpvsadm(argv, R).ok, JSON.stringify(argv));
    });
    const ones = rules.flatMap((r, k) => (r === '1' ? [k] : []));
    for (let a = 0; a < ones.length; a++) {
      for (let b = a + 1; b < ones.length; b++) {
        failsWith(
          [...base, ...compulsory, ...TUN_COLS[ones[b]].argv, ...TUN_COLS[ones[a]].argv],
          `The option '${TUN_COLS[ones[b]].name}' conflicts with the '${TUN_COLS[ones[a]].name}' option in the '${type}' tunnel type`,
        );
      }
    }
  }
  // Without --tun-type the type is ipip.
  failsWith(
    ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-i', '--tun-csum'],
    "Illegal 'tun-csum' option with the 'ipip' tunnel type",
  );
  const gue = ok([
    '-e',
    '-t',
    '10.0.0.1:80',
    '-r',
    '10.0.0.2',
    '-i',
    '--tun-type',
    'gue',
    '--tun-port',
    '6080',
    '--tun-remcsum',
  ]);
  assert.ok(gue.kind === 'edit-server');
  assert.deepEqual([gue.dest.tunType, gue.dest.tunPort, gue.dest.tunFlags], [TunType.GUE, 6080, 2]);
});

// ---------------------------------------------------------------------------------------------
// Values: every option's malformed values, with ipvsadm's exact messages.

// prettier-ignore
const MALFORMED: [string[], string][] = [
  [['-A', '-t', '80'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', ''], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', '1.2.3.4:65536'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', '1.2.3.4:-1'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', '1.2.3.4:nosuchservice'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', '1.2.3.256:80'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', 'no.such.host:80'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', '[::1]'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', '[::1:80'], 'illegal virtual server address[:port] specified'],
  [['-A', '-t', '1::2::3'], 'illegal virtual server address[:port] specified'],
  [['-A', '-u', '1.2.3.4:sip5'], 'illegal virtual server address[:port] specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', '12'], 'illegal real server address[:port] specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', 'x:y'], 'illegal real server address[:port] specified'],
  [['-A', '-f', '0'], "invalid fwmark value `0' specified"],
  [['-A', '-f', '-3'], "invalid fwmark value `-3' specified"],
  [['-A', '-f', '4294967296'], "invalid fwmark value `4294967296' specified"],
  [['-A', '-f', '1x'], "invalid fwmark value `1x' specified"],
  [['-A', '-f', ''], "invalid fwmark value `' specified"],
  [['-A', '-t', '1.2.3.4:80', '-p', '0'], "invalid timeout value `0' specified"],
  [['-A', '-t', '1.2.3.4:80', '-p', '2678401'], "invalid timeout value `2678401' specified"],
  [['-A', '-t', '1.2.3.4:80', '-p', 'x'], "invalid timeout value `x' specified"],
  [['-A', '-t', '1.2.3.4:80', '-M', '255.255.255.x'], 'illegal virtual server persistent mask specified'],
  [['-A', '-t', '[::1]:80', '-M', '0'], 'illegal ipv6 netmask specified'],
  [['-A', '-t', '[::1]:80', '-M', '129'], 'illegal ipv6 netmask specified'],
  [['-A', '-t', '[::1]:80', '-M', 'x'], 'illegal ipv6 netmask specified'],
  [['-A', '-t', '1.2.3.4:80', '-b', 'bogus'], "invalid scheduler flag `bogus'"],
  [['-A', '-t', '1.2.3.4:80', '-b', 'flag-1,nope'], "invalid scheduler flag `nope'"],
  [['-A', '-t', '1.2.3.4:80', '-b', 'sh-port'], "incompatible scheduler flag `sh-port'"],
  [['-A', '-t', '1.2.3.4:80', '-s', 'sh', '-b', 'mh-fallback'], "incompatible scheduler flag `mh-fallback'"],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-w', '65536'], 'illegal weight specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-w', '-1'], 'illegal weight specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-w', '1.5'], 'illegal weight specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-x', '2147483648'], 'illegal u_threshold specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-y', 'x'], 'illegal l_threshold specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-type', 'vxlan'], 'illegal tunnel type specified'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-i', '--tun-port', '0'], 'illegal tunnel port specified'],
  [['--start-daemon', 'slave'], 'illegal start-daemon parameter specified'],
  [['--stop-daemon', 'slave'], 'illegal start_daemon specified'],
  [['--start-daemon', 'master', '--syncid', '256'], 'illegal syncid specified'],
  [['--start-daemon', 'master', '--mcast-port', '0'], 'illegal mcast-port specified'],
  [['--start-daemon', 'master', '--mcast-ttl', '256'], 'illegal mcast-ttl specified'],
  [['--start-daemon', 'master', '--sync-maxlen', '65508'], 'illegal sync-maxlen specified'],
  [['--start-daemon', 'master', '--mcast-group', '10.0.0.1'], "invalid IPv4 mcast-group `10.0.0.1'"],
  [['--start-daemon', 'master', '--mcast-group', '224.1'], "invalid IPv4 mcast-group `224.1'"],
  [['--start-daemon', 'master', '--mcast-group', 'fe80::1'], "invalid IPv6 mcast-group `fe80::1'"],
  [['--start-daemon', 'master', '--mcast-group', '224.0.0.1:80'], "invalid IPv6 mcast-group `224.0.0.1:80'"],
  [['--set', '1', '2'], '--set option requires 3 timeout values'],
  [['--set', '1', '2', '2678401'], "invalid timeout value `2678401' specified"],
  [['--set', '1', '2', '3', '4'], 'unexpected argument 4'],
  [['-L', 'extra'], 'unexpected argument extra'],
  [['-A', '-t', '1.2.3.4:80', '-s', 'rr', '-s', 'wlc'], "multiple 'scheduler' options specified"],
  [['-A', '-t', '1.2.3.4:80', '-f', '1'], "multiple 'service-address' options specified"],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-m', '-g'], "multiple 'forwarding-method' options specified"],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-m', '--fullnat'], "multiple 'forwarding-method' options specified"],
  [['-L', '-n', '--numeric'], "multiple 'numeric' options specified"],
  [['-A', '-t', '1.2.3.4:80', '-6'], '-6 used before -f\n'],
  [['-A', '-6', '-f', '1'], '-6 used before -f\n'],
  [['-A', '-t', '1.2.3.4'], 'Zero port specified for non-persistent service'],
  [['-A', '-t', '1.2.3.4:0'], 'Zero port specified for non-persistent service'],
  [['-A', '-t', '1.2.3.4:80', '-o'], 'One-Packet Scheduling is only for UDP virtual services'],
  [['-a', '-t', '1.2.3.4:80', '-r', '[::2]:80'], 'Different address family is allowed only for tunneling servers'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '--tun-type', 'ipip'], 'Tunnel options conflict with forward method'],
  [['-a', '-t', '1.2.3.4:80', '-r', '1.2.3.5', '-m', '--tun-nocsum'], 'Tunnel options conflict with forward method'],
  [['-L', '-c', '--stats'], 'options conflicts in the list command'],
  [['-L', '--timeout', '--rate'], 'options conflicts in the list command'],
  [['-L', '--daemon', '--thresholds'], 'options conflicts in the list command'],
  [['-L', '--timeout', '--persistent-conn'], 'options conflicts in the list command'],
  [['-A', '-a'], "invalid option `-a'"],
  [['-Aa'], "invalid option `-Aa'"],
  [['-L', '-h'], "invalid option `-h'"],
  [['-L', '--start-daemon', 'master'], "invalid option `master'"],
  [['--add-laddr', '-t', '1.2.3.4:80', '--laddr', 'x'], 'illegal local address'],
];

test('malformed values fail with the exact message and status 2', () => {
  for (const [argv, message] of MALFORMED) failsWith(argv, message);
});

test('a -b list of only commas crashes ipvsadm (strtok finds nothing); an empty -b is ignored', () => {
  const e = err(['-A', '-t', '1.2.3.4:80', '-b', ',,']);
  assert.deepEqual([e.message, e.exitCode, e.abnormal], ['', 139, 'segfault']);
  const c = ok(['-A', '-t', '1.2.3.4:80', '-b', '']);
  assert.ok(c.kind === 'add-service' && c.flags === 0);
});

test('-b flags are checked against the final scheduler, whichever comes first', () => {
  const c = ok(['-E', '-b', 'sh-fallback,,sh-port', '-u', '1.2.3.4:53', '-s', 'sh']);
  assert.ok(c.kind === 'edit-service');
  assert.equal(c.flags, SvcFlag.SCHED1 | SvcFlag.SCHED2);
  const m = ok(['-A', '-t', '1.2.3.4:80', '-s', 'mh', '-b', 'mh-port']);
  assert.ok(m.kind === 'add-service' && m.flags === SvcFlag.SCHED2);
  const f = ok(['-A', '-t', '1.2.3.4:80', '-b', 'flag-3,flag-1']);
  assert.ok(
    f.kind === 'add-service' && f.flags === (SvcFlag.SCHED3 | SvcFlag.SCHED1) && f.scheduler === 'wlc',
  );
  // -b is parsed before the matrix check, so its own errors come first.
  failsWith(['-L', '-b', 'bogus'], "invalid scheduler flag `bogus'");
});

// ---------------------------------------------------------------------------------------------
// popt: clusters, inline values, optional -p, errors.

test('short clusters combine the command with flags; an argument eats the rest of the cluster', () => {
  const a = ok(['-Lnc']);
  assert.ok(a.kind === 'list' && a.format.numeric && a.format.connection);
  const b = ok(['-At10.0.0.1:80']);
  assert.ok(b.kind === 'add-service' && addr(b) === '10.0.0.1' && b.service.port === 80);
  const c = ok(['-A', '-t=10.0.0.1:81']);
  assert.ok(c.kind === 'add-service' && c.service.port === 81);
  const d = ok(['-A', '--tcp-service=10.0.0.1:82', '--scheduler=rr']);
  assert.ok(d.kind === 'add-service' && d.service.port === 82 && d.scheduler === 'rr');
  const e = ok(['-a', '-t', '10.0.0.1:80', '-mw5', '-r10.0.0.2:81']);
  assert.ok(e.kind === 'add-server' && e.dest.fwd === Fwd.MASQ && e.dest.weight === 5 && e.dest.port === 81);
  // A single dash never starts a long option: -tcp-service is -t with "cp-service".
  failsWith(['-A', '-tcp-service'], 'illegal virtual server address[:port] specified');
  // An option's argument is taken even if it looks like an option.
  failsWith(['-A', '-t', '-n'], 'illegal virtual server address[:port] specified');
});

test('-p takes an attached value or a following word that does not start with "-"', () => {
  const timeoutOf = (argv: string[]): number => {
    const c = ok(argv);
    assert.ok(c.kind === 'add-service' && (c.flags & SvcFlag.PERSISTENT) !== 0);
    return c.timeout;
  };
  assert.equal(timeoutOf(['-A', '-t', '10.0.0.1:80', '-p']), 360);
  assert.equal(timeoutOf(['-A', '-t', '10.0.0.1:80', '-p', '300']), 300);
  assert.equal(timeoutOf(['-A', '-t', '10.0.0.1:80', '-p300']), 300);
  assert.equal(timeoutOf(['-A', '-t', '10.0.0.1:80', '-p=301']), 301);
  assert.equal(timeoutOf(['-A', '-t', '10.0.0.1:80', '--persistent=302']), 302);
  assert.equal(timeoutOf(['-A', '-t', '10.0.0.1:80', '--persistent', '303']), 303);
  assert.equal(timeoutOf(['-A', '-p', '-t', '10.0.0.1:0']), 360);
  assert.equal(timeoutOf(['-A', '-t', '10.0.0.1:80', '-p', '2678400']), 2678400);
  // "-" starts with a dash, so it is not taken; it is then a leftover argument.
  failsWith(['-A', '-t', '10.0.0.1:80', '-p', '-'], 'unexpected argument -');
  // Any other following word is taken, even when it is not a number.
  failsWith(['-A', '-t', '10.0.0.1:80', '-p', 'rr'], "invalid timeout value `rr' specified");
  failsWith(['-A', '-t', '10.0.0.1:80', '-p', ''], "invalid timeout value `' specified");
  failsWith(['-A', '-pt', '10.0.0.1:80'], "invalid timeout value `t' specified");
  // A negative number is an option cluster to popt.
  poptError(['-A', '-t', '10.0.0.1:80', '-p', '-5'], '-5: unknown option');
});

test('the first option must be a command, else the try-help line and status 255', () => {
  triesHelp(['--foo']);
  triesHelp(['foo']);
  triesHelp(['-n']);
  triesHelp(['-n', '-L']);
  triesHelp(['-t', '1.2.3.4:80', '-A']);
  triesHelp(['-L=x']);
  triesHelp(['--start-daemon']);
  triesHelp(['--']);
  triesHelp(['-']);
  const e = err(['-x'], { progName: './ipvsadm' });
  assert.equal(e.message, "Try `./ipvsadm -h' or './ipvsadm --help' for more information.\n");
});

test('popt errors after the command print "<argv element>: <reason>" and do not stop -R', () => {
  poptError(['-L', '--foo'], '--foo: unknown option');
  poptError(['-L', '-z'], '-z: unknown option');
  poptError(['-L', '-nz'], '-nz: unknown option');
  poptError(['-L', '-t'], '-t: missing argument');
  poptError(['-Lt'], '-Lt: missing argument');
  poptError(['-L', '--tcp-service'], '--tcp-service: missing argument');
  poptError(['-L', '-n=1'], '-n=1: option does not take an argument');
  poptError(['-L', '--numeric='], '--numeric=: option does not take an argument');
  // Long options must be spelled out in full.
  poptError(['-L', '--num'], '--num: unknown option');
  // The extensions are long-only.
  poptError(['-L', '-F', 'eth0'], '-F: unknown option');
});

test('leftover arguments may come anywhere; "--" ends the options', () => {
  assert.deepEqual(ok(['900', '--set', '120', '300']), {
    kind: 'set-timeout',
    tcp: 900,
    tcpFin: 120,
    udp: 300,
  });
  assert.deepEqual(ok(['--set', '--', '1', '2', '3']), { kind: 'set-timeout', tcp: 1, tcpFin: 2, udp: 3 });
  failsWith(['--set', '--', '-1', '2', '3'], "invalid timeout value `-1' specified");
  failsWith(['-L', '--', '-n'], 'unexpected argument -n');
  // POSIXLY_CORRECT: the first non-option ends the options.
  failsWith(['-L', 'x', '-n'], 'unexpected argument x');
  const p = err(['-L', 'x', '-n', '-n'], { posixlyCorrect: true });
  assert.equal(p.message, 'unexpected argument x\n');
  assert.deepEqual(err(['-L', 'x', '-n', '-n']).message, "multiple 'numeric' options specified\n");
});

test('popt "!#:+" takes the next free word; with only options left it would hang', () => {
  const c = ok(['-A', '-t', '!#:+', '10.0.0.1:80']);
  assert.ok(c.kind === 'add-service' && addr(c) === '10.0.0.1');
  const h = err(['-A', '-t', '!#:+', '-srr']);
  assert.deepEqual([h.abnormal, h.message], ['hang', '']);
  // At the very end nothing is taken and the text stays as it is.
  failsWith(['-A', '-t', '!#:+'], 'illegal virtual server address[:port] specified');
});

// ---------------------------------------------------------------------------------------------
// Addresses

test('service addresses: inet_aton forms, IPv6, brackets, names and service names', () => {
  const svc = (spec: string, flag = '-t'): [string, number, number] => {
    const c = ok(['-A', flag, spec, '-p']);
    assert.ok(c.kind === 'add-service');
    return [addr(c), c.service.port, c.service.af];
  };
  assert.deepEqual(svc('10.1:80'), ['10.0.0.1', 80, 4]);
  assert.deepEqual(svc('10.1.2:80'), ['10.1.0.2', 80, 4]);
  assert.deepEqual(svc('0x0a000001:80'), ['10.0.0.1', 80, 4]);
  assert.deepEqual(svc('012.0.0.1:80'), ['10.0.0.1', 80, 4]);
  assert.deepEqual(svc('167772161:80'), ['10.0.0.1', 80, 4]);
  assert.deepEqual(svc('1.2.3.4 any text:80'), ['1.2.3.4', 80, 4]);
  assert.deepEqual(svc('1.2.3.4: 80'), ['1.2.3.4', 80, 4]);
  assert.deepEqual(svc('[2001:db8::1]:443'), ['2001:db8::1', 443, 6]);
  assert.deepEqual(svc('2001:db8::1'), ['2001:db8::1', 0, 6]);
  assert.deepEqual(svc('::1:80'), ['::1:80', 0, 6]);
  // A bracketed IPv4 address loses its port.
  assert.deepEqual(svc('[1.2.3.4]:80'), ['1.2.3.4', 0, 4]);
  assert.deepEqual(svc('localhost:http'), ['127.0.0.1', 80, 4]);
  assert.deepEqual(svc('WEB1:www'), ['10.9.9.9', 80, 4]);
  assert.deepEqual(svc('1.2.3.4:domain', '-u'), ['1.2.3.4', 53, 4]);
  // Service names are looked up for the service's protocol.
  failsWith(['-A', '-t', '1.2.3.4:sip'], 'illegal virtual server address[:port] specified');
  assert.deepEqual(svc('1.2.3.4:sip', '-u'), ['1.2.3.4', 5060, 4]);
  // Without resolvers nothing but numbers works.
  failsWith(['-A', '-t', 'localhost:80'], 'illegal virtual server address[:port] specified', {});
  failsWith(['-A', '-t', '1.2.3.4:http'], 'illegal virtual server address[:port] specified', {});
});

test('IPv6 services get netmask 128; -M takes a prefix length there and a dotted mask for IPv4', () => {
  const v6 = ok(['-A', '-t', '[::1]:80', '-p', '-M', '64']);
  assert.ok(v6.kind === 'add-service' && v6.netmask === 64 && v6.service.af === 6);
  const v6d = ok(['-A', '-t', '[::1]:80']);
  assert.ok(v6d.kind === 'add-service' && v6d.netmask === 128);
  const v4 = ok(['-A', '-t', '1.2.3.4:80', '-p', '-M', '255.255.255.0']);
  assert.ok(v4.kind === 'add-service' && v4.netmask === 0xffffff00);
  const v4n = ok(['-A', '-t', '1.2.3.4:80', '-M', 'localhost']);
  assert.ok(v4n.kind === 'add-service' && v4n.netmask === 0x7f000001);
  // atoi: trailing junk ignored, 32-bit wrap-around.
  const junk = ok(['-A', '-t', '[::1]:80', '-M', '48abc']);
  assert.ok(junk.kind === 'add-service' && junk.netmask === 48);
  const wrap = ok(['-A', '-t', '[::1]:80', '-M', '4294967360']);
  assert.ok(wrap.kind === 'add-service' && wrap.netmask === 64);
  // -M before an IPv6 -t is read as IPv4, then -t resets it to 128.
  const early = ok(['-A', '-M', '64', '-t', '[::1]:80']);
  assert.ok(early.kind === 'add-service' && early.netmask === 128);
});

test('fwmark services: -f, then -6 switches to IPv6 with netmask 128', () => {
  const f = ok(['-A', '-f', '7']);
  assert.ok(f.kind === 'add-service');
  assert.deepEqual(f.service, { af: 4, protocol: 0, addr: null, port: 0, fwmark: 7 });
  const f6 = ok(['-A', '-f', '+4294967295', '-6', '-6', '-s', 'sh']);
  assert.ok(f6.kind === 'add-service');
  assert.deepEqual([f6.service.af, f6.service.fwmark, f6.netmask, f6.scheduler], [6, 4294967295, 128, 'sh']);
  // One-packet scheduling is fine for fwmark services.
  const o = ok(['-A', '-f', '1', '-o']);
  assert.ok(o.kind === 'add-service' && o.flags === SvcFlag.ONEPACKET);
  const u = ok(['-A', '-u', '1.2.3.4:53', '-o']);
  assert.ok(u.kind === 'add-service' && u.flags === SvcFlag.ONEPACKET);
  // -6 is allowed with any command once -f came first.
  const l = ok(['-L', '-f', '1', '-6']);
  assert.ok(l.kind === 'list' && l.what === 'service' && l.service?.af === 6);
});

// ---------------------------------------------------------------------------------------------
// Defaults and per-command rules

test('defaults: wlc, weight 1, DR, persistence 360 s, netmask /32, names truncated like C buffers', () => {
  const s = ok(['-A', '-t', '1.2.3.4:80', '-p']);
  assert.ok(s.kind === 'add-service');
  assert.deepEqual(
    [s.scheduler, s.timeout, s.netmask, s.flags, s.pe],
    ['wlc', 360, 0xffffffff, SvcFlag.PERSISTENT, ''],
  );
  const d = ok(['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8']);
  assert.ok(d.kind === 'add-server');
  assert.deepEqual(
    [d.dest.fwd, d.dest.weight, d.dest.port, d.dest.tunType, d.dest.tunPort, d.dest.tunFlags],
    [Fwd.DROUTE, 1, 80, 0, 0, 0],
  );
  const long = ok([
    '-A',
    '-t',
    '1.2.3.4:80',
    '-s',
    'abcdefghijklmnopqrstuvwxyz',
    '--pe',
    'abcdefghijklmnopqrstuvwxyz',
    '-p',
  ]);
  assert.ok(
    long.kind === 'add-service' && long.scheduler === 'abcdefghijklmno' && long.pe === 'abcdefghijklmnop',
  );
  const empty = ok(['-E', '-t', '1.2.3.4:80', '-s', '']);
  assert.ok(empty.kind === 'edit-service' && empty.scheduler === 'wlc');
});

test('DR and TUN dests get the service port; NAT and FullNAT keep theirs; fwmark keeps any', () => {
  const port = (argv: string[]): number => {
    const c = ok(argv);
    assert.ok(c.kind === 'add-server' || c.kind === 'edit-server' || c.kind === 'delete-server');
    return c.dest.port;
  };
  assert.equal(port(['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8:8080']), 80);
  assert.equal(port(['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8:8080', '-i']), 80);
  assert.equal(port(['-e', '-t', '1.2.3.4:80', '-r', '5.6.7.8:8080', '-m']), 8080);
  assert.equal(port(['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8:8080', '--fullnat']), 8080);
  assert.equal(port(['-a', '-f', '3', '-r', '5.6.7.8:8080']), 8080);
  assert.equal(port(['-a', '-f', '3', '-r', '5.6.7.8']), 0);
  // -d keeps whatever was given (no forcing), and a port-less -r copies the service port.
  assert.equal(port(['-d', '-t', '1.2.3.4:80', '-r', '5.6.7.8:8080']), 8080);
  assert.equal(port(['-d', '-t', '1.2.3.4:80', '-r', '5.6.7.8']), 80);
  // ... as it is when -r is read: before -t there is no service port yet.
  assert.equal(port(['-a', '-r', '5.6.7.8', '-m', '-t', '1.2.3.4:80']), 0);
});

test('only tunnelling may cross address families', () => {
  const c = ok(['-a', '-t', '1.2.3.4:80', '-r', '[2001:db8::2]:80', '-i']);
  assert.ok(c.kind === 'add-server' && c.dest.af === 6 && c.service.af === 4);
  failsWith(
    ['-e', '-t', '[::1]:80', '-r', '1.2.3.4', '--fullnat'],
    'Different address family is allowed only for tunneling servers',
  );
});

test('list: what is shown and which format flags are set', () => {
  const cases: [string[], string][] = [
    [['-L', '-c', '--persistent-conn'], 'connections'],
    [['-L', '-t', '1.2.3.4:80', '--stats'], 'service'],
    [['-L', '--timeout'], 'timeout'],
    [['-L', '--daemon'], 'daemon'],
    [['-l', '--rate', '--exact', '--nosort', '--sort', '--tun-info', '--thresholds'], 'all'],
  ];
  for (const [argv, what] of cases) {
    const c = ok(argv);
    assert.ok(c.kind === 'list' && c.what === what, JSON.stringify(argv));
  }
  const f = ok([
    '--list',
    '--numeric',
    '--stats',
    '--rate',
    '--thresholds',
    '--persistent-conn',
    '--tun-info',
    '--nosort',
    '-X',
    '--json',
  ]);
  assert.ok(f.kind === 'list');
  assert.deepEqual(f.format, {
    numeric: true,
    connection: false,
    timeout: false,
    daemon: false,
    stats: true,
    rate: true,
    thresholds: true,
    persistentConn: true,
    tunInfo: true,
    nosort: true,
    exact: true,
    json: true,
  });
});

test('zero, delete, flush and restore', () => {
  assert.deepEqual(ok(['-Z']), { kind: 'zero', service: null });
  const z = ok(['-Z', '-u', '1.2.3.4:53']);
  assert.ok(z.kind === 'zero' && z.service?.protocol === 17);
  const d = ok(['-D', '--sctp-service', '1.2.3.4:9']);
  assert.ok(d.kind === 'delete-service' && d.service.protocol === 132 && d.service.port === 9);
  assert.deepEqual(ok(['-C']), { kind: 'flush' });
  assert.deepEqual(ok(['-R']), { kind: 'restore' });
  // -R inside -R input is refused with the try-help line.
  triesHelp(['-R'], { restoreMode: true });
  failsWith(['-R', '-n'], "Illegal 'numeric' option with the 'restore' command", { restoreMode: true });
});

test('sync daemon commands and their options', () => {
  const argv = ['--start-daemon', 'backup', '--mcast-interface', 'eth1', '--syncid', '9'];
  argv.push('--sync-maxlen', '1400', '--mcast-group', 'ff02::12', '--mcast-port', '8849', '--mcast-ttl', '3');
  const s = ok(argv);
  assert.ok(s.kind === 'start-daemon');
  assert.deepEqual(
    { ...s.daemon, mcastGroup: s.daemon.mcastGroup && ipAddrToString(s.daemon.mcastGroup) },
    {
      state: 'backup',
      mcastIfn: 'eth1',
      syncId: 9,
      syncMaxlen: 1400,
      mcastGroup: 'ff02::12',
      mcastPort: 8849,
      mcastTtl: 3,
    },
  );
  const m = ok(['--start-daemon=master']);
  assert.ok(
    m.kind === 'start-daemon' &&
      m.daemon.mcastIfn === 'eth0' &&
      m.daemon.state === 'master' &&
      m.daemon.syncId === 0,
  );
  const t = ok(['--stop-daemon', 'master', '--syncid', '4']);
  assert.ok(t.kind === 'stop-daemon' && t.daemon.mcastIfn === '' && t.daemon.syncId === 4);
  failsWith(
    ['--stop-daemon', 'master', '--mcast-interface', 'eth0'],
    "Illegal 'mcast-interface' option with the 'stop-daemon' command",
  );
});

test('extensions: --fullnat, --json and the DPVS local-address commands', () => {
  const fn = ok(['-a', '-t', '1.2.3.4:80', '-r', '10.0.0.2:8080', '--fullnat', '-w', '3']);
  assert.ok(fn.kind === 'add-server' && fn.dest.fwd === Fwd.FULLNAT && fn.dest.port === 8080);
  failsWith(
    ['-a', '-t', '1.2.3.4:80', '-r', '10.0.0.2', '--fullnat', '--tun-csum'],
    'Tunnel options conflict with forward method',
  );
  failsWith(['-S', '--json'], "Illegal 'json' option with the 'save' command");
  const add = ok(['--add-laddr', '-t', '1.2.3.4:80', '--laddr', '192.168.0.9', '--ifname', 'eth1']);
  assert.ok(add.kind === 'add-laddr' && ipAddrToString(add.laddr) === '192.168.0.9' && add.ifname === 'eth1');
  const del = ok(['--del-laddr', '-t', '1.2.3.4:80', '--laddr', '[2001:db8::9]:0']);
  assert.ok(del.kind === 'del-laddr' && ipAddrToString(del.laddr) === '2001:db8::9' && del.ifname === '');
  assert.deepEqual(ok(['--get-laddr']), { kind: 'get-laddr', service: null });
  failsWith(
    ['--add-laddr', '-t', '1.2.3.4:80'],
    "You need to supply the 'local-address' option for the 'add-laddr' command",
  );
  failsWith(['-L', '--laddr', '1.2.3.4'], "Illegal 'local-address' option with the 'list' command");
  failsWith(['-L', '--add-laddr'], "invalid option `--add-laddr'");
});

// ---------------------------------------------------------------------------------------------
// Restore input

test('splitRestoreLine: blanks, tabs and CRs separate; "ipvsadm" tokens go; "#" is not a comment', () => {
  assert.deepEqual(splitRestoreLine('-A -t 10.0.0.1:80 -s rr'), ['-A', '-t', '10.0.0.1:80', '-s', 'rr']);
  assert.deepEqual(splitRestoreLine('ipvsadm -a\t-t  10.0.0.1:80\r-r 10.0.0.2 -m\r'), [
    '-a',
    '-t',
    '10.0.0.1:80',
    '-r',
    '10.0.0.2',
    '-m',
  ]);
  assert.deepEqual(splitRestoreLine('-C ipvsadm ipvsadm'), ['-C']);
  assert.deepEqual(splitRestoreLine('ipvsadm'), []);
  assert.deepEqual(splitRestoreLine(''), []);
  assert.deepEqual(splitRestoreLine(' \t\r '), []);
  assert.deepEqual(splitRestoreLine('# -C'), ['#', '-C']);
  assert.deepEqual(splitRestoreLine('-L\v-n'), ['-L\v-n']);
  const big = 'a'.repeat(5000);
  assert.deepEqual(splitRestoreLine(`-t ${big}`), ['-t', 'a'.repeat(4096), 'a'.repeat(904)]);
});

test('splitRestoreInput: lines, skipped empties and the lost last line', () => {
  assert.deepEqual(splitRestoreInput('-C\n\n  \nipvsadm\n-Z\n'), [['-C'], ['-Z']]);
  assert.deepEqual(splitRestoreInput('-C\r\n-Z'), [['-C'], ['-Z']]);
  assert.deepEqual(splitRestoreInput('-C\n-Z '), [['-C'], ['-Z']]);
  // Two blanks before the end of input: config_stream_read hits EOF while skipping them.
  assert.deepEqual(splitRestoreInput('-C\n-Z  '), [['-C']]);
  assert.deepEqual(splitRestoreInput('-C\n-Z\t\t'), [['-C']]);
  assert.deepEqual(splitRestoreInput(''), []);
  assert.deepEqual(splitRestoreInput('\n\n'), []);
  for (const line of ['-A -t 10.0.0.1:80', '  -C  ', 'ipvsadm -L -n', '\t-Z\r']) {
    assert.deepEqual(
      splitRestoreInput(`${line}\n`),
      [splitRestoreLine(line)].filter((t) => t.length > 0),
    );
  }
});

// ---------------------------------------------------------------------------------------------
// Fuzz: any argv gives a command or an error, never an exception.

// prettier-ignore
const TOKENS = [
  '-A', '-E', '-D', '-C', '-L', '-l', '-Z', '-a', '-e', '-d', '--set', '-R', '-S', '-h', '-v',
  '--start-daemon', '--stop-daemon', 'master', 'backup', '-t', '-u', '--sctp-service', '-f', '-6',
  '-s', '-p', '-M', '-r', '-g', '-i', '-m', '--fullnat', '-w', '-x', '-y', '-c', '-n', '--timeout',
  '--daemon', '--stats', '--rate', '--thresholds', '--persistent-conn', '--nosort', '--sort', '-X',
  '-o', '--pe', '-b', '--mcast-interface', '--syncid', '--mcast-group', '--mcast-port', '--mcast-ttl',
  '--sync-maxlen', '--tun-info', '--tun-type', '--tun-port', '--tun-nocsum', '--tun-csum',
  '--tun-remcsum', '--json', '--add-laddr', '--del-laddr', '--get-laddr', '--laddr', '--ifname',
  '10.0.0.1:80', '[::1]:80', '::1', '10.1', 'localhost:http', '80', '0', '1', '-1', '65536', 'rr',
  'sh', 'sh-port', ',', 'gue', 'gre', '224.0.0.81', 'ff02::1', '--', '-', '', '!#:+', '-Ln', '-p=5',
  '--tcp-service=1.2.3.4:80', '-t1.2.3.4:80', '--foo',
];

test('fuzz: random argv never throws and always yields a well-formed result', () => {
  const token = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...TOKENS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );
  const check = (r: ParseResult): void => {
    if (r.ok) {
      assert.equal(typeof r.cmd.kind, 'string');
      return;
    }
    assert.ok([2, 255, 139].includes(r.exitCode), `exit ${r.exitCode}`);
    if (r.abnormal === undefined)
      assert.ok(r.message.endsWith('\n') && r.message.length > 1, JSON.stringify(r.message));
    else assert.equal(r.message, '');
  };
  fc.assert(
    fc.property(fc.array(token, { maxLength: 10 }), fc.boolean(), (argv, restoreMode) => {
      check(parseIpvsadm(argv, { ...R, restoreMode }));
    }),
    { numRuns: 1_000_000, interruptAfterTimeLimit: 3000 },
  );
});

test('fuzz: restore splitting never throws and never yields empty lines or "ipvsadm" tokens', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom('a', '-', ' ', '\t', '\r', '\n', 'ipvsadm', '#'), maxLength: 60 }),
      (text) => {
        for (const line of splitRestoreInput(text)) {
          assert.ok(line.length > 0);
          for (const t of line) assert.ok(t !== '' && t !== 'ipvsadm' && !/[ \t\r\n]/.test(t));
        }
      },
    ),
    { numRuns: 1_000_000, interruptAfterTimeLimit: 1500 },
  );
});

// Loading ipvsadm-save rules into a ServiceTable (src/cli/rules.ts).
//
// Expected messages are ipvsadm's own (ipvsadm.c fail() strings, libipvs ipvs_strerror) as the
// parser and the ServiceTable report them; the token after the message is the option as written
// in the line, and the part in parentheses the kernel-side detail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findOption, loadRules } from '../../src/cli/rules.ts';
import type { RulesError, RulesResult } from '../../src/cli/rules.ts';
import { servicesFileResolver } from '../../src/cli/ipvsadm/resolve.ts';
import { ServiceTable } from '../../src/control/services.ts';
import { Timeouts } from '../../src/conn/timeouts.ts';
import { addrPortToString, ipAddrToString } from '../../src/model/addr.ts';
import { Fwd, SvcFlag } from '../../src/model/flags.ts';

function newTable(): ServiceTable {
  return new ServiceTable({
    now: () => 0,
    random: () => 0,
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
}

/** Everything loadRules can change, as plain data (dest lists in the table's own order). */
function snapshot(t: ServiceTable): unknown {
  return t.list.map((s) => ({
    af: s.af,
    proto: s.proto,
    addr: s.addr === null ? null : ipAddrToString(s.addr),
    port: s.port,
    fwmark: s.fwmark,
    sched: s.schedName,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    pe: s.peName,
    laddrs: s.laddrs.map(ipAddrToString),
    dests: s.dests.map((d) => ({
      addr: addrPortToString(d.addr, d.port),
      fwd: d.fwd,
      weight: d.weight,
      u: d.uThreshold,
      l: d.lThreshold,
      tun: [d.tunType, d.tunPort, d.tunFlags],
    })),
  }));
}

function ok(r: RulesResult): void {
  if (!r.ok) assert.fail(`unexpected error: ${r.text}`);
}

function err(r: RulesResult): RulesError {
  if (r.ok) assert.fail('the rules loaded, an error was expected');
  return r;
}

const SEEDS = `-A -t 192.168.188.100:80 -s rr
-a -t 192.168.188.100:80 -r 192.168.188.181:80 -g -w 1
-a -t 192.168.188.100:80 -r 192.168.188.182:80 -g -w 1
`;

test('the seeds rules: one rr service, two DR servers, newest first as ipvsadm -a inserts at the head', () => {
  const t = newTable();
  const r = loadRules(SEEDS, 'seeds.rules', t);
  ok(r);
  assert.equal(r.ok && r.rules.length, 3);
  assert.equal(t.list.length, 1);
  const s = t.list[0];
  assert.equal(s.schedName, 'rr');
  assert.equal(addrPortToString(s.addr!, s.port), '192.168.188.100:80');
  assert.deepEqual(
    s.dests.map((d) => [addrPortToString(d.addr, d.port), d.fwd, d.weight]),
    [
      ['192.168.188.182:80', Fwd.DROUTE, 1],
      ['192.168.188.181:80', Fwd.DROUTE, 1],
    ],
  );
});

test('save-format details: a leading "ipvsadm" word, blank lines, CRLF, tabs and # comment lines', () => {
  const t = newTable();
  const text =
    '# saved by hand\r\n\r\nipvsadm -A -t 10.0.0.1:80 -s wrr\r\n   \t\r\n' +
    '  # indented comment\n\tipvsadm\t-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3\r\n';
  const r = loadRules(text, 'x', t);
  ok(r);
  assert.deepEqual(r.ok && r.rules.map((l) => l.line), [3, 6]);
  assert.equal(t.list[0].dests[0].weight, 3);
  assert.equal(t.list[0].dests[0].fwd, Fwd.MASQ);
  assert.equal(t.list[0].dests[0].port, 8080);
});

test('the four kinds of nonsense give file:line, ipvsadm message and the offending option', () => {
  const cases: [string, string][] = [
    [
      '-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80 -s roundrobin\n',
      "r:2: Scheduler or persistence engine not found: -s roundrobin (unknown scheduler 'roundrobin')",
    ],
    ['-A -t 10.0.0.1:0 -s rr\n', 'r:1: Zero port specified for non-persistent service: -t 10.0.0.1:0'],
    [
      '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 5\n',
      'r:3: Destination already exists: -r 10.0.1.1:80 (dest 10.0.1.1:80 exists)',
    ],
    [
      '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.256:80 -g\n',
      'r:2: illegal real server address[:port] specified: -r 10.0.1.256:80',
    ],
    ['-A -u 10.0.0.x:53 -s rr\n', 'r:1: illegal virtual server address[:port] specified: -u 10.0.0.x:53'],
    // The option as written: attached value and the long form with '='.
    [
      '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r10.0.1.1:99999\n',
      'r:2: illegal real server address[:port] specified: -r10.0.1.1:99999',
    ],
    [
      '-A --tcp-service=10.0.0.1:0\n',
      'r:1: Zero port specified for non-persistent service: --tcp-service=10.0.0.1:0',
    ],
    [
      '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1 -w 1 -w 2\n',
      "r:2: multiple 'weight' options specified: -w 2",
    ],
    [
      '-a -t 10.0.0.1:80 -r 10.0.1.1\n',
      'r:1: Service not defined: -t 10.0.0.1:80 (no service TCP 10.0.0.1:80)',
    ],
    ['-A -t 10.0.0.1:80 -p 0\n', "r:1: invalid timeout value `0' specified: -p 0"],
    [
      '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 --fullnat\n',
      'r:2: Invalid operation.  Possibly wrong module version, address not unicast, ...: --fullnat ' +
        '(FullNAT needs at least one local address on the service)',
    ],
    ['-L -n\n', 'r:1: listing (-L) cannot be used in a rules file: -L'],
    ['-A -t 10.0.0.1:80 --frobnicate\n', 'r:1: --frobnicate: unknown option'],
    [
      'A -t 10.0.0.1:80\n',
      'r:1: not an ipvsadm rule (a line starts with a command such as -A, -a, -E, -e, -d, -D or -C): A -t 10.0.0.1:80',
    ],
    [
      '-R\n',
      'r:1: not an ipvsadm rule (a line starts with a command such as -A, -a, -E, -e, -d, -D or -C): -R',
    ],
  ];
  for (const [text, expected] of cases) {
    const e = err(loadRules(text, 'r', newTable()));
    assert.equal(e.text, expected, JSON.stringify(text));
    assert.equal(e.exitCode, 2);
    assert.equal(e.file, 'r');
  }
});

test('all or nothing: a failing line leaves a populated table exactly as it was', () => {
  const t = newTable();
  ok(loadRules(SEEDS + '-A -u 192.168.188.100:53 -s sh -b sh-port\n', 'base', t));
  const before = snapshot(t);
  const bad = [
    '-e -t 192.168.188.100:80 -r 192.168.188.181:80 -g -w 7', // would change a weight
    '-d -t 192.168.188.100:80 -r 192.168.188.182:80', // would delete a dest
    '-A -t 192.168.188.101:80 -s wlc', // would add a service
    '-E -u 192.168.188.100:53 -s rr', // would change a scheduler
    '-a -t 192.168.188.100:80 -r 192.168.188.181:80 -g', // duplicate: fails
  ].join('\n');
  const e = err(loadRules(bad, 'bad', t));
  assert.equal(e.line, 5);
  assert.deepEqual(snapshot(t), before);
  // And -C followed by a failure does not flush either.
  const e2 = err(loadRules('-C\n-A -t 1.2.3.4:80 -s nope\n', 'bad2', t));
  assert.equal(e2.line, 2);
  assert.deepEqual(snapshot(t), before);
});

test('validation sees the table as it is: -a to a service that exists only in the target works', () => {
  const t = newTable();
  ok(loadRules('-A -t 10.0.0.1:80 -s wrr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 2\n', 'one', t));
  ok(loadRules('-a -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 3\n', 'two', t));
  assert.deepEqual(
    t.list[0].dests.map((d) => [addrPortToString(d.addr, d.port), d.weight]),
    [
      ['10.0.1.2:80', 3],
      ['10.0.1.1:80', 2],
    ],
  );
  // A duplicate of a dest that is only in the target is refused.
  assert.equal(err(loadRules('-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m\n', 'three', t)).line, 1);
});

test('-E, -e, -d, -D and -C do what ipvsadm does', () => {
  const t = newTable();
  const text = `-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 1
-a -t 10.0.0.1:80 -r 10.0.1.2:80 -g -w 1
-a -t 10.0.0.1:80 -r 10.0.1.3:80 -g -w 1
-e -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 5
-d -t 10.0.0.1:80 -r 10.0.1.2:80
-E -t 10.0.0.1:80 -s wlc -p 600 -M 255.255.255.0
-A -u 10.0.0.1:53 -s rr
-D -u 10.0.0.1:53
`;
  ok(loadRules(text, 'x', t));
  assert.equal(t.list.length, 1);
  const s = t.list[0];
  assert.equal(s.schedName, 'wlc');
  assert.equal(s.flags & SvcFlag.PERSISTENT, SvcFlag.PERSISTENT);
  assert.equal(s.timeout, 600);
  assert.equal(s.netmask >>> 0, 0xffffff00);
  assert.deepEqual(
    s.dests.map((d) => [addrPortToString(d.addr, d.port), d.weight]),
    [
      ['10.0.1.3:80', 1],
      ['10.0.1.1:80', 5],
    ],
  );
  ok(loadRules('-C\n', 'flush', t));
  assert.equal(t.list.length, 0);
});

test('FullNAT: --add-laddr gives the service its local addresses; -E keeps them; --del-laddr removes', () => {
  const t = newTable();
  const text = `-A -t 10.0.0.1:80 -s rr
--add-laddr -t 10.0.0.1:80 --laddr 192.168.10.250 --ifname eth1
--add-laddr -t 10.0.0.1:80 --laddr 192.168.10.251 --ifname eth1
-a -t 10.0.0.1:80 -r 192.168.10.1:8080 --fullnat -w 1
-E -t 10.0.0.1:80 -s wrr
`;
  ok(loadRules(text, 'f', t));
  const s = t.list[0];
  assert.deepEqual(s.laddrs.map(ipAddrToString), ['192.168.10.250', '192.168.10.251']);
  assert.equal(s.dests[0].fwd, Fwd.FULLNAT);
  assert.equal(s.schedName, 'wrr');
  ok(loadRules('--del-laddr -t 10.0.0.1:80 --laddr 192.168.10.250 --ifname eth1\n', 'g', t));
  assert.deepEqual(s.laddrs.map(ipAddrToString), ['192.168.10.251']);
  assert.equal(
    err(loadRules('--add-laddr -t 10.0.0.1:80 --laddr 192.168.10.251 --ifname eth1\n', 'h', t)).text,
    'h:1: Local address already exists: --laddr 192.168.10.251 (192.168.10.251 is already a local address)',
  );
  assert.equal(
    err(loadRules('--del-laddr -t 10.0.0.1:80 --laddr 192.168.10.9 --ifname eth1\n', 'i', t)).text,
    'i:1: No such local address: --laddr 192.168.10.9 (192.168.10.9 is not a local address)',
  );
  assert.deepEqual(s.laddrs.map(ipAddrToString), ['192.168.10.251']);
});

test('--set: applied to the given Timeouts only when every line succeeded; bad values refused', () => {
  const t = newTable();
  const timeouts = new Timeouts();
  const r = loadRules('--set 100 20 30\n-A -t 10.0.0.1:80\n', 's', t, { timeouts });
  ok(r);
  assert.deepEqual(r.ok && r.timeouts, { tcp: 100, tcpfin: 20, udp: 30 });
  assert.deepEqual(timeouts.get(), { tcp: 100, tcpfin: 20, udp: 30 });
  const t2 = new Timeouts();
  err(loadRules('--set 5 5 5\n-A -t 10.0.0.1:80 -s nope\n', 's', newTable(), { timeouts: t2 }));
  assert.deepEqual(t2.get(), new Timeouts().get());
});

test('port names resolve through the given getservbyname, as in ipvsadm-save output without -n', () => {
  const t = newTable();
  const resolveService = servicesFileResolver('http 80/tcp www\n');
  ok(
    loadRules('-A -t 10.0.0.1:http -s rr\n-a -t 10.0.0.1:www -r 10.0.1.1:http -m\n', 'n', t, {
      resolveService,
    }),
  );
  assert.equal(t.list[0].port, 80);
  assert.equal(t.list[0].dests[0].port, 80);
  assert.equal(err(loadRules('-A -t 10.0.0.2:http -s rr\n', 'n', newTable())).line, 1);
});

test('findOption: short, attached, long and long= forms; the nth occurrence; optional values', () => {
  const argv = ['-a', '-t', '10.0.0.1:80', '-r10.0.1.1', '--weight', '3', '--weight=4', '-p', '-g'];
  assert.equal(findOption(argv, ['tcp-service']), '-t 10.0.0.1:80');
  assert.equal(findOption(argv, ['real-server']), '-r10.0.1.1');
  assert.equal(findOption(argv, ['weight']), '--weight 3');
  assert.equal(findOption(argv, ['weight'], 2), '--weight=4');
  assert.equal(findOption(argv, ['persistent']), '-p');
  assert.equal(findOption(argv, ['gatewaying']), '-g');
  assert.equal(findOption(argv, ['scheduler']), null);
});

// Model check: loading a file is the same as loading its lines one at a time up to the first
// failing one, except that a failing file changes nothing at all.
test('property: a file applies completely, or not at all, and then like its lines one by one', () => {
  const line = fc.oneof(
    fc.constantFrom(
      '-A -t 10.0.0.1:80 -s rr',
      '-A -t 10.0.0.1:80 -s wrr -p 60',
      '-E -t 10.0.0.1:80 -s mh',
      '-D -t 10.0.0.1:80',
      '-A -u 10.0.0.1:53 -s sh',
      '-C',
      '-A -t 10.0.0.1:0 -s rr',
      '-A -t 10.0.0.1:80 -s bogus',
    ),
    fc
      .tuple(fc.constantFrom('-a', '-e', '-d'), fc.constantFrom('-t 10.0.0.1:80', '-u 10.0.0.1:53'))
      .chain(([cmd, svc]) =>
        fc
          .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 4 }), fc.constantFrom('-g', '-m'))
          .map(([h, w, f]) =>
            cmd === '-d' ? `${cmd} ${svc} -r 10.0.1.${h}` : `${cmd} ${svc} -r 10.0.1.${h} ${f} -w ${w}`,
          ),
      ),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 12 }), fc.array(line, { maxLength: 4 }), (base, lines) => {
      const t = newTable();
      for (const l of base) loadRules(l, 'b', t); // some of these fail: fine, they change nothing
      const before = snapshot(t);
      const r = loadRules(lines.join('\n'), 'f', t);
      // The reference: a copy of the table, fed one line at a time.
      const ref = newTable();
      for (const l of base) loadRules(l, 'b', ref);
      let firstBad = -1;
      for (let i = 0; i < lines.length; i++) {
        if (!loadRules(lines[i], 'f', ref).ok) {
          firstBad = i;
          break;
        }
      }
      if (firstBad >= 0) {
        assert.equal(r.ok, false);
        assert.equal(!r.ok && r.line, firstBad + 1);
        assert.deepEqual(snapshot(t), before);
      } else {
        assert.equal(r.ok, true);
        assert.deepEqual(snapshot(t), snapshot(ref));
      }
    }),
    { numRuns: 150 },
  );
});

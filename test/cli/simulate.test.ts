// tslvs simulate (src/cli/simulate.ts) and the tslvs dispatcher (src/cli/tslvs.ts).
//
// Expected mappings are derived from the kernel algorithms as written down in
// shared/reference/lvs-features.md (§2.1 list order, §2.3 persistence, §2.4 rr/wrr/sh, §2.5 mh),
// step by step in the comments, never from the simulator's own output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runSimulate, seededRandom, simulate } from '../../src/cli/simulate.ts';
import type { SimReport, SimulateInput } from '../../src/cli/simulate.ts';
import type { CliIo } from '../../src/cli/tslvs.ts';
import { tslvsMain } from '../../src/cli/tslvs.ts';
import { ipv4FromString, ipv4ToString } from '../../src/wire/addr.ts';

const ROOT = new URL('../../../', import.meta.url);
const EXAMPLES = new URL('examples/', ROOT);
const example = (name: string): string => readFileSync(new URL(name, EXAMPLES), 'utf8');

const SEEDS = `-A -t 192.168.188.100:80 -s rr
-a -t 192.168.188.100:80 -r 192.168.188.181:80 -g -w 1
-a -t 192.168.188.100:80 -r 192.168.188.182:80 -g -w 1
`;

interface Captured {
  io: CliIo;
  out: () => string;
  err: () => string;
}

function fakeIo(files: Record<string, string>): Captured {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      readFile: (p) => {
        if (Object.hasOwn(files, p)) return files[p];
        throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      },
      env: {},
    },
    out: () => out,
    err: () => err,
  };
}

function sim(input: SimulateInput): SimReport {
  const r = simulate(input);
  if (!r.ok) assert.fail(`simulate failed: ${r.error}`);
  return r.report;
}

/** A flow file of `n` flows from distinct clients 10.9.x.y with explicit ports. */
function distinctFlows(n: number, vip: string): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++)
    lines.push(`${ipv4ToString(ipv4FromString('10.9.0.1') + i)}:${40000 + i} ${vip}`);
  return lines.join('\n') + '\n';
}

function count(xs: readonly (string | null)[]): Map<string | null, number> {
  const m = new Map<string | null, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

test('seeds (rr, two DR servers): an exact alternation that starts with the server added last', () => {
  // ipvsadm -a inserts at the head of the dest list (__ip_vs_update_dest, list_add_rcu), so the
  // list is [.182, .181]; rr starts at the list head and takes the next dest each time: .182,
  // .181, .182, ...
  const r = sim({ rulesText: SEEDS, rulesName: 'seeds', flowsText: distinctFlows(20, '192.168.188.100:80') });
  assert.deepEqual(
    r.run.flows.map((f) => f.server),
    Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? '192.168.188.182:80' : '192.168.188.181:80')),
  );
  assert.ok(r.run.flows.every((f) => f.forward === 'Route' && f.outcome === 'forwarded'));
  const s = r.run.services[0];
  assert.deepEqual(
    s.servers.map((x) => [x.server, x.flows, x.share, x.expected]),
    [
      ['192.168.188.181:80', 10, 50, 50],
      ['192.168.188.182:80', 10, 50, 50],
    ],
  );
});

test('wrr 3:1 gives exactly 75/25, and 3:1 inside every cycle of four', () => {
  // ip_vs_wrr, dests added .181 (w3) then .182 (w1); the list is [.182, .181].
  // Adding .181: gcd 3, mw = 3 - (3 - 1) = 1, cw 0 -> mw = 1 (ip_vs_wrr_dest_changed).
  // Adding .182: gcd 1, mw 3; cw = 1 is neither 0 nor above mw, so it stays 1.
  // So the first pass runs at cw 1: .182, .181; at the end cw drops to 0 and restarts at mw 3:
  // .181 (cw 3), .181 (cw 2), .182 and .181 (cw 1), and that cycle of four repeats.
  const rules = `-A -t 10.0.0.1:80 -s wrr
-a -t 10.0.0.1:80 -r 10.0.1.181:80 -m -w 3
-a -t 10.0.0.1:80 -r 10.0.1.182:80 -m -w 1
`;
  const r = sim({ rulesText: rules, rulesName: 'wrr', generate: { count: 402, clients: '10.2.0.0/16' } });
  const servers = r.run.flows.map((f) => f.server);
  const A = '10.0.1.181:80';
  const B = '10.0.1.182:80';
  const cycle = [A, A, B, A];
  assert.deepEqual(
    servers,
    Array.from({ length: 402 }, (_, i) => (i < 2 ? [B, A][i] : cycle[(i - 2) % 4])),
  );
  for (let i = 2; i + 4 <= 402; i += 4)
    assert.deepEqual(
      count(servers.slice(i, i + 4)),
      new Map([
        [A, 3],
        [B, 1],
      ]),
    );
  const rows = r.run.services[0].servers;
  assert.deepEqual(
    rows.map((x) => [x.server, x.forward, x.flows, x.share, x.expected]),
    [
      // 1 + 3 * 100 and 1 + 100 of 402.
      [A, 'Masq', 301, 74.9, 75],
      [B, 'Masq', 101, 25.1, 25],
    ],
  );
});

// An independent model of kernel sh (lvs-features.md §2.4): 256 buckets filled by walking the
// dest list (newest first) round and round, one bucket per weight-1 dest; a client lands in
// bucket hash_32(addr, 8) = (addr * 0x61C88647) >> 24 (no sh-port: the port is 0).
function shModel(client: number, listOrder: readonly string[]): string {
  const bucket = (Math.imul(client, 0x61c88647) >>> 0) >>> 24;
  return listOrder[bucket % listOrder.length];
}

const SH_RULES = example('sh.rules');
const SH_LIST = ['192.168.188.183:80', '192.168.188.182:80', '192.168.188.181:80'];

test('sh: every client always reaches one server, and each flow lands where the kernel table says', () => {
  const r = sim({ rulesText: SH_RULES, rulesName: 'sh', generate: { count: 1500, clients: '300' }, seed: 9 });
  for (const f of r.run.flows)
    assert.equal(f.server, shModel(ipv4FromString(f.client.split(':')[0]), SH_LIST));
  const c = r.run.services[0].clients;
  assert.ok(c.repeat > 250, `${c.repeat} clients with 2+ flows`);
  assert.equal(c.sticky, c.repeat);
});

test('sh: quiescing a server (weight 0, sh-fallback) moves exactly its clients and no others', () => {
  // A weight-0 dest still takes one bucket (ip_vs_sh_reassign), so the table does not change;
  // lookups that hit it fall back to other buckets. Only its flows move.
  const r = sim({
    rulesText: SH_RULES,
    rulesName: 'sh',
    generate: { count: 1500, clients: '300' },
    seed: 9,
    changes: [
      {
        action: 'reweight',
        addr: ipv4FromString('192.168.188.182'),
        port: 80,
        weight: 0,
        at: null,
        arg: 'x',
      },
    ],
  });
  const onQuiesced = r.run.flows.filter((f) => f.server === '192.168.188.182:80').length;
  assert.ok(onQuiesced > 300, `${onQuiesced} flows on the quiesced server`);
  assert.deepEqual(r.moved, {
    of: 1500,
    moved: onQuiesced,
    percent: Math.round((onQuiesced / 1500) * 1000) / 10,
    lost: 0,
    from: [{ server: '192.168.188.182:80', removed: false, flows: onQuiesced }],
  });
  // The replay still keeps every client on one server.
  const c = r.replay!.services[0].clients;
  assert.equal(c.sticky, c.repeat);
});

test('sh: removing a server rebuilds the table (kernel sh is not consistent hashing)', () => {
  // After ipvsadm -d the list is [.183, .181] and the buckets alternate between those two, so
  // clients of the remaining servers move too: the moved fraction is whatever the model says.
  const r = sim({
    rulesText: SH_RULES,
    rulesName: 'sh',
    generate: { count: 1500, clients: '300' },
    seed: 9,
    changes: [
      { action: 'remove', addr: ipv4FromString('192.168.188.182'), port: 80, weight: 0, at: null, arg: 'x' },
    ],
  });
  const after = ['192.168.188.183:80', '192.168.188.181:80'];
  let moved = 0;
  r.replay!.flows.forEach((f, i) => {
    const client = ipv4FromString(f.client.split(':')[0]);
    assert.equal(f.server, shModel(client, after));
    if (shModel(client, after) !== r.run.flows[i].server) moved++;
  });
  assert.equal(r.moved!.moved, moved);
  assert.ok(moved > 1500 * 0.5, `${moved} moved: more than the removed server's third`);
});

test('mh: removing one of four servers moves about a quarter of the flows, all of the removed one', () => {
  const rules = `-A -t 10.0.0.1:80 -s mh
-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 1
-a -t 10.0.0.1:80 -r 10.0.1.2:80 -g -w 1
-a -t 10.0.0.1:80 -r 10.0.1.3:80 -g -w 1
-a -t 10.0.0.1:80 -r 10.0.1.4:80 -g -w 1
`;
  const r = sim({
    rulesText: rules,
    rulesName: 'mh',
    generate: { count: 4000, clients: '10.64.0.0/10' },
    changes: [
      { action: 'remove', addr: ipv4FromString('10.0.1.3'), port: 80, weight: 0, at: null, arg: 'x' },
    ],
  });
  const onRemoved = r.run.flows.filter((f) => f.server === '10.0.1.3:80').length;
  const m = r.moved!;
  const fromRemoved = m.from.find((f) => f.server === '10.0.1.3:80');
  assert.equal(fromRemoved?.flows, onRemoved);
  assert.equal(fromRemoved?.removed, true);
  // Maglev: the other servers keep almost all their flows (a few slots change hands).
  const others = m.moved - onRemoved;
  assert.ok(others < 4000 * 0.05, `${others} flows of the remaining servers moved`);
  assert.ok(Math.abs(m.moved / m.of - 0.25) < 0.06, `moved ${m.percent}%`);
});

test('persistence: each client sticks to one server; removing one moves exactly its clients', () => {
  // ip_vs_sched_persist: one template per client; later conns follow it. After the dest is
  // deleted its templates no longer check out (ip_vs_check_template) and only those clients are
  // scheduled again; the other templates survive the replay in both modes.
  const rules = `-A -t 10.0.0.1:80 -s rr -p 360
-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g
-a -t 10.0.0.1:80 -r 10.0.1.2:80 -g
-a -t 10.0.0.1:80 -r 10.0.1.3:80 -g
`;
  for (const replay of ['expire', 'new-port'] as const) {
    const r = sim({
      rulesText: rules,
      rulesName: 'p',
      generate: { count: 120, clients: '12' },
      replay,
      changes: [
        { action: 'remove', addr: ipv4FromString('10.0.1.2'), port: 80, weight: 0, at: null, arg: 'x' },
      ],
    });
    const c = r.run.services[0].clients;
    assert.equal(c.clients, 12);
    assert.equal(c.sticky, c.repeat);
    assert.equal(c.repeat, 12);
    const onRemoved = r.run.flows.filter((f) => f.server === '10.0.1.2:80').length;
    assert.ok(onRemoved > 0);
    assert.equal(r.moved!.moved, onRemoved, replay);
    assert.deepEqual(
      r.moved!.from.map((f) => f.server),
      ['10.0.1.2:80'],
    );
    assert.equal(r.replay!.services[0].clients.sticky, r.replay!.services[0].clients.repeat);
  }
});

test('NAT, TUN (ipip, gue, gre) and FullNAT: the server is read from each kind of output frame', () => {
  const rules = `-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 192.168.10.1:8080 -m
-a -t 10.0.0.100:80 -r 192.168.10.2 -i
-a -t 10.0.0.100:80 -r 192.168.10.3 -i --tun-type gue --tun-port 6080
-a -t 10.0.0.100:80 -r 192.168.10.4 -i --tun-type gre
-A -u 10.0.0.100:53 -s rr
--add-laddr -u 10.0.0.100:53 --laddr 192.168.10.254 --ifname eth1
-a -u 10.0.0.100:53 -r 192.168.10.5:5353 --fullnat
-a -u 10.0.0.100:53 -r 192.168.10.6:5353 -m
`;
  const flows =
    [1, 2, 3, 4].map((i) => `172.16.0.${i}:3000${i} 10.0.0.100:80`).join('\n') +
    '\n172.16.0.5 10.0.0.100:53\n172.16.0.6 10.0.0.100:53 udp\n';
  const r = sim({ rulesText: rules, rulesName: 'mix', flowsText: flows, flowsName: 'f' });
  // rr over [.4, .3, .2, .1] (newest first), then [.6, .5].
  assert.deepEqual(
    r.run.flows.map((f) => [f.proto, f.server, f.forward]),
    [
      ['tcp', '192.168.10.4:80', 'Tunnel'],
      ['tcp', '192.168.10.3:80', 'Tunnel'],
      ['tcp', '192.168.10.2:80', 'Tunnel'],
      ['tcp', '192.168.10.1:8080', 'Masq'],
      ['udp', '192.168.10.6:5353', 'Masq'],
      ['udp', '192.168.10.5:5353', 'FullNat'],
    ],
  );
});

test('no destination and drops are reported, not hidden', () => {
  // .182 is deleted after flow 1; flow 2 reuses flow 1's connection, whose dest is gone: dropped
  // (expire_nodest_conn = 0). Then .181 is quiesced: the replay's new connections have nowhere to go.
  const flows = '10.0.0.1:5000 192.168.188.100:80\n10.0.0.1:5000 192.168.188.100:80\n';
  const r = sim({
    rulesText: SEEDS,
    rulesName: 's',
    flowsText: flows,
    changes: [
      { action: 'remove', addr: ipv4FromString('192.168.188.182'), port: null, weight: 0, at: 1, arg: 'a' },
      { action: 'reweight', addr: ipv4FromString('192.168.188.181'), port: null, weight: 0, at: 2, arg: 'b' },
    ],
  });
  assert.deepEqual(
    r.run.flows.map((f) => [f.outcome, f.server, f.reason]),
    [
      ['forwarded', '192.168.188.182:80', null],
      ['dropped', null, 'DEST_UNAVAILABLE'],
    ],
  );
  assert.deepEqual(
    r.replay!.flows.map((f) => f.outcome),
    ['no-destination', 'no-destination'],
  );
  assert.equal(r.moved!.lost, 1);
  assert.equal(r.replay!.services[0].noDestination, 2);
});

test('deterministic: the same seed gives the same output; another seed other flows', () => {
  const args = [
    '--rules',
    'r',
    '--generate',
    '300',
    '--clients',
    '10.1.0.0/16',
    '--remove',
    '192.168.188.181@100',
  ];
  const run = (seed: string): string => {
    const c = fakeIo({ r: example('sh.rules') });
    assert.equal(runSimulate([...args, '--seed', seed, '--json'], c.io), 0, c.err());
    return c.out();
  };
  assert.equal(run('42'), run('42'));
  assert.notEqual(run('42'), run('43'));
  // seededRandom is a pure function of its seed.
  const a = seededRandom(5);
  const b = seededRandom(5);
  for (let i = 0; i < 10; i++) assert.equal(a(), b());
});

// The text output for examples/seeds-dr.rules + examples/flows.txt with .182 removed after flow 2,
// derived by hand: rr over [.182, .181] sends flow 1 to .182 and flow 2 to .181; after the delete
// only .181 is left (rr's position was on .181 and stays there), so flows 3 and 4 go to .181; in
// the replay every flow goes to .181, so flow 1 moved: 1 of 4. Run table: .181 3 flows (75%),
// .182 1 (25%), expected 50/50 by the starting weights; replay: .181 4 flows, expected 100%.
const GOLDEN = `4 flows from examples/flows.txt, rules examples/seeds-dr.rules, seed 1, 10 ms apart

Changes:
  after flow 2: remove 192.168.188.182:80 (TCP 192.168.188.100:80)

Flows:
     1  tcp  10.1.0.1:40001 -> 192.168.188.100:80 => 192.168.188.182:80 (Route)
     2  tcp  10.1.0.2:40002 -> 192.168.188.100:80 => 192.168.188.181:80 (Route)
        -- after flow 2: remove 192.168.188.182:80 (TCP 192.168.188.100:80)
     3  tcp  10.1.0.3:40003 -> 192.168.188.100:80 => 192.168.188.181:80 (Route)
     4  tcp  10.1.0.4:40004 -> 192.168.188.100:80 => 192.168.188.181:80 (Route)

TCP 192.168.188.100:80 rr
  Real server         Forward  Weight  Flows  Share  Expected
  192.168.188.181:80  Route         1      3  75.0%     50.0%
  192.168.188.182:80  Route         1      1  25.0%     50.0%
  clients (flows before the first change): 2, none sent more than one flow

Replay: the same 4 flows again as new connections (connections expired, persistence templates kept)

     1  tcp  10.1.0.1:40001 -> 192.168.188.100:80 => 192.168.188.181:80 (Route)  moved from 192.168.188.182:80
     2  tcp  10.1.0.2:40002 -> 192.168.188.100:80 => 192.168.188.181:80 (Route)
     3  tcp  10.1.0.3:40003 -> 192.168.188.100:80 => 192.168.188.181:80 (Route)
     4  tcp  10.1.0.4:40004 -> 192.168.188.100:80 => 192.168.188.181:80 (Route)

TCP 192.168.188.100:80 rr
  Real server         Forward   Weight  Flows   Share  Expected
  192.168.188.181:80  Route          1      4  100.0%    100.0%
  192.168.188.182:80  Route    removed      0    0.0%         -
  clients: 4, none sent more than one flow
  moved: 1 of 4 flows (25.0%); from 192.168.188.182:80 (removed): 1
`;

test('golden: the text output of the seeds example with a server removed mid-run', () => {
  const c = fakeIo({
    'examples/seeds-dr.rules': example('seeds-dr.rules'),
    'examples/flows.txt': example('flows.txt'),
  });
  const code = runSimulate(
    [
      '--rules',
      'examples/seeds-dr.rules',
      '--flows',
      'examples/flows.txt',
      '--remove',
      '192.168.188.182:80@2',
    ],
    c.io,
  );
  assert.equal(c.err(), '');
  assert.equal(code, 0);
  assert.equal(c.out(), GOLDEN);
});

test('--json is one JSON document with the same numbers as the text tables', () => {
  const files = { r: example('persistent-nat.rules') };
  const args = [
    '--rules',
    'r',
    '--generate',
    '200',
    '--clients',
    '15',
    '--remove',
    '192.168.188.182:8443@120',
  ];
  const text = fakeIo(files);
  assert.equal(runSimulate(args, text.io), 0);
  const json = fakeIo(files);
  assert.equal(runSimulate([...args, '--json'], json.io), 0);
  const r = JSON.parse(json.out()) as SimReport;
  const t = text.out();
  // Every server row of both tables, in order: server, forward, weight, flows, share, expected.
  const rowRe = /^ {2}(\d+\.\d+\.\d+\.\d+:\d+)\s+(\S+)\s+(\S+)\s+(\d+)\s+([\d.]+)%\s+(\S+)$/gm;
  const textRows = [...t.matchAll(rowRe)].map((m) => m.slice(1).join(' '));
  const jsonRows = [...r.run.services, ...r.replay!.services].flatMap((s) =>
    s.servers.map((x) =>
      [
        x.server,
        x.forward,
        x.weight === null ? 'removed' : x.weight,
        x.flows,
        x.share.toFixed(1),
        x.expected === null ? '-' : `${x.expected.toFixed(1)}%`,
      ].join(' '),
    ),
  );
  assert.equal(textRows.length, 4);
  assert.deepEqual(textRows, jsonRows);
  const moved = /moved: (\d+) of (\d+) flows \(([\d.]+)%\)/.exec(t);
  assert.deepEqual(moved?.slice(1).map(Number), [r.moved!.moved, r.moved!.of, r.moved!.percent]);
  assert.equal(r.flowCount, 200);
  assert.equal(r.run.flows.length, 200);
  assert.equal(r.changes[0].at, 120);
});

test('bad rules: file:line and the offending option on stderr, nothing on stdout, exit 2', () => {
  const cases: [string, string][] = [
    [
      '-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80 -s fair\n',
      "bad.rules:2: Scheduler or persistence engine not found: -s fair (unknown scheduler 'fair')\n",
    ],
    [
      '-A -t 10.0.0.1:0 -s rr\n',
      'bad.rules:1: Zero port specified for non-persistent service: -t 10.0.0.1:0\n',
    ],
    [
      SEEDS + '-a -t 192.168.188.100:80 -r 192.168.188.181:80 -g -w 2\n',
      'bad.rules:4: Destination already exists: -r 192.168.188.181:80 (dest 192.168.188.181:80 exists)\n',
    ],
    // (inet_aton would take "10.0.1" as 10.0.0.1, as ipvsadm does; 10.0.1.300 it refuses.)
    [
      '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.300:80 -g\n',
      'bad.rules:2: illegal real server address[:port] specified: -r 10.0.1.300:80\n',
    ],
  ];
  for (const [rules, message] of cases) {
    const c = fakeIo({ 'bad.rules': rules });
    assert.equal(runSimulate(['--rules', 'bad.rules', '--generate', '10'], c.io), 2);
    assert.equal(c.err(), message);
    assert.equal(c.out(), '');
  }
});

test('bad flows and bad options: a precise message and exit 2', () => {
  const cases: [string, string, string[]][] = [
    [
      '10.0.0.1 192.168.188.100:80\n10.0.0.256:3 192.168.188.100:80\n',
      "f:2: malformed client address '10.0.0.256:3'\n",
      [],
    ],
    [
      '10.0.0.1:70000 192.168.188.100:80\n',
      "f:1: bad port in client address '10.0.0.1:70000' (1 to 65535)\n",
      [],
    ],
    [
      '10.0.0.1 192.168.188.100\n',
      "f:1: virtual service address '192.168.188.100' needs a port (ADDRESS:PORT)\n",
      [],
    ],
    ['10.0.0.1 192.168.188.100:80 icmp\n', "f:1: unknown protocol 'icmp' (tcp or udp)\n", []],
    [
      '10.0.0.1 192.168.188.100:8080\n',
      'f:1: no virtual service TCP 192.168.188.100:8080 in the rules\n',
      [],
    ],
    [
      '10.0.0.1 192.168.188.100:80 udp\n',
      'f:1: no virtual service UDP 192.168.188.100:80 in the rules\n',
      [],
    ],
    ['# empty\n', 'tslvs simulate: f: no flows in the file\n', []],
    [
      '10.0.0.1 192.168.188.100:80\n',
      'tslvs simulate: --remove 10.0.0.9:80: no real server 10.0.0.9:80 in the rules after flow 1\n',
      ['--remove', '10.0.0.9:80'],
    ],
    [
      '10.0.0.1 192.168.188.100:80\n',
      'tslvs simulate: --remove 192.168.188.181@5: there are only 1 flows\n',
      ['--remove', '192.168.188.181@5'],
    ],
  ];
  for (const [flows, message, extra] of cases) {
    const c = fakeIo({ r: SEEDS, f: flows });
    assert.equal(runSimulate(['--rules', 'r', '--flows', 'f', ...extra], c.io), 2, message);
    assert.equal(c.err(), message);
    assert.equal(c.out(), '');
  }
  const opts: [string[], RegExp][] = [
    [['--flows', 'f'], /--rules FILE is required/],
    [['--rules', 'r'], /either --flows FILE or --generate N/],
    [['--rules', 'r', '--generate', '0'], /--generate 0: expected a number of flows/],
    [['--rules', 'r', '--generate', '5', '--seed=-1'], /--seed -1: expected an integer/],
    [['--rules', 'r', '--generate', '5', '--clients', '10.0.0.0/40'], /--clients 10.0.0.0\/40/],
    [['--rules', 'r', '--generate', '5', '--reweight', '192.168.188.181:80'], /RIP\[:PORT\]=WEIGHT/],
    [['--rules', 'r', '--generate', '5', '--reweight', '192.168.188.181:80=70000'], /weight '70000'/],
    [['--rules', 'r', '--generate', '5', '--replay', 'later'], /--replay later/],
    [['--rules', 'missing', '--generate', '5'], /cannot read rules 'missing': no such file/],
    [['--rules', 'r', '--generate', '5', '--frob'], /Unknown option '--frob'/],
  ];
  for (const [argv, re] of opts) {
    const c = fakeIo({ r: SEEDS, f: '10.0.0.1 192.168.188.100:80\n' });
    assert.equal(runSimulate(argv, c.io), 2, argv.join(' '));
    assert.match(c.err(), re);
    assert.equal(c.out(), '');
  }
});

test('per-flow lines: shown up to 50 flows, hidden by --quiet, forced by --verbose', () => {
  const lines = (argv: string[]): number => {
    const c = fakeIo({ r: SEEDS });
    assert.equal(runSimulate(['--rules', 'r', ...argv], c.io), 0);
    return c
      .out()
      .split('\n')
      .filter((l) => / => /.test(l)).length;
  };
  assert.equal(lines(['--generate', '50']), 50);
  assert.equal(lines(['--generate', '51']), 0);
  assert.equal(lines(['--generate', '51', '--verbose']), 51);
  assert.equal(lines(['--generate', '5', '--quiet']), 0);
  // --json --quiet: the document keeps the tables but not the per-flow records.
  const c = fakeIo({ r: SEEDS });
  assert.equal(
    runSimulate(['--rules', 'r', '--generate', '8', '--json', '--quiet', '--replay', 'expire'], c.io),
    0,
  );
  const doc = JSON.parse(c.out()) as SimReport;
  assert.deepEqual([doc.run.flows, doc.replay?.flows], [[], []]);
  assert.equal(doc.run.services[0].flows, 8);
});

test('tslvs: --help, --version from package.json, help <command>, unknown command exits 2', async () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string };
  const c1 = fakeIo({});
  assert.equal(await tslvsMain(['--version'], c1.io), 0);
  assert.equal(c1.out(), `tslvs ${pkg.version}\n`);
  const c2 = fakeIo({});
  assert.equal(await tslvsMain(['frobnicate'], c2.io), 2);
  assert.equal(c2.err(), "tslvs: unknown command 'frobnicate'\nTry 'tslvs --help' for more information.\n");
  const c3 = fakeIo({});
  assert.equal(await tslvsMain(['help', 'simulate'], c3.io), 0);
  assert.match(c3.out(), /^Usage: tslvs simulate --rules FILE/);
  const c4 = fakeIo({});
  assert.equal(await tslvsMain([], c4.io), 2);
  const c5 = fakeIo({});
  assert.equal(await tslvsMain(['--help'], c5.io), 0);
  assert.match(c5.out(), /\n {2}simulate {2}/);
});

test('the built tslvs.js runs as a program: shebang, exit codes, output', () => {
  const bin = fileURLToPath(new URL('../../src/cli/tslvs.js', import.meta.url));
  assert.equal(readFileSync(bin, 'utf8').split('\n')[0], '#!/usr/bin/env node');
  const rules = fileURLToPath(new URL('seeds-dr.rules', EXAMPLES));
  const flows = fileURLToPath(new URL('flows.txt', EXAMPLES));
  const ok = spawnSync(process.execPath, [bin, 'simulate', '--rules', rules, '--flows', flows, '--json'], {
    encoding: 'utf8',
  });
  assert.equal(ok.status, 0, ok.stderr);
  const r = JSON.parse(ok.stdout) as SimReport;
  assert.deepEqual(
    count(r.run.flows.map((f) => f.server)),
    new Map([
      ['192.168.188.182:80', 2],
      ['192.168.188.181:80', 2],
    ]),
  );
  const bad = spawnSync(process.execPath, [bin, 'simulate', '--rules', flows, '--generate', '3'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /flows\.txt:2: not an ipvsadm rule/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const unknown = spawnSync(process.execPath, [bin, 'nope'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
});

/**
 * `tslvs rs-tun` argument handling and its one-line errors. In process where nothing is opened;
 * as child processes for the cases that depend on the process (addon path, user id).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runRsTun, validIfName, RS_TUN_HELP } from '../../src/cli/rs-tun.ts';
import { tslvsMain } from '../../src/cli/tslvs.ts';
import type { CliIo } from '../../src/cli/tslvs.ts';
import { tryLoadAfPacket } from '../../src/io/addon.ts';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSLVS = join(DIST, 'src', 'cli', 'tslvs.js');

function fakeIo(): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
    readFile: () => '',
    env: {},
  };
  return io;
}

async function rs(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo();
  const code = await runRsTun(argv, io);
  return { code, out: io.out, err: io.err };
}

test('--help prints the usage; tslvs lists and dispatches the command', async () => {
  const h = await rs('--help');
  assert.equal(h.code, 0);
  assert.equal(h.out, RS_TUN_HELP);
  assert.match(h.out, /--iface IF/);
  assert.match(h.out, /--gue-port PORT +UDP port for GUE.*default 6080/);
  const io = fakeIo();
  assert.equal(await tslvsMain(['--help'], io), 0);
  assert.match(io.out, /\n {2}rs-tun +real-server helper for TUN mode/);
  const io2 = fakeIo();
  assert.equal(await tslvsMain(['help', 'rs-tun'], io2), 0);
  assert.equal(io2.out, RS_TUN_HELP);
});

test('usage errors are one line and exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [[], /^tslvs rs-tun: give --iface/],
    [['--iface', ''], /^tslvs rs-tun: give --iface/],
    [['--iface', 'a/b'], /--iface a\/b: not an interface name/],
    [['--iface', 'eth0', '--gue-port', '70000'], /--gue-port 70000: expected 0\.\.65535/],
    [['--iface', 'eth0', '--gue-port', 'x'], /--gue-port x: expected/],
    [['--iface', 'eth0', '--gue-port=-1'], /--gue-port -1: expected/],
    [['--iface', 'eth0', '--gue-port', '-1'], /Option '--gue-port' argument is ambiguous\.\n$/],
    [
      ['--iface', 'eth0', '--tun', 'a-very-long-name0'],
      /--tun a-very-long-name0: expected an interface name/,
    ],
    [['--iface', 'eth0', '--addr', '10.0.0'], /--addr 10\.0\.0: not an IPv4 address/],
    [['--iface', 'eth0', '--from', '300.1.1.1'], /--from 300\.1\.1\.1: not an IPv4 address/],
    [['--iface', 'eth0', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, re] of cases) {
    const r = await rs(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, re, argv.join(' '));
    assert.equal(r.err.trimEnd().split('\n').length, 1, `one line: ${r.err}`);
    assert.equal(r.out, '');
  }
});

test('interface names: the kernel limits (IFNAMSIZ 16 with the NUL; no slash, colon, space)', () => {
  for (const ok of ['eth0', 'tslvs-tun0', 'a', 'x'.repeat(15), 'br.100']) assert.ok(validIfName(ok), ok);
  for (const bad of ['', 'x'.repeat(16), 'a/b', 'a:b', 'a b', '.', '..']) assert.ok(!validIfName(bad), bad);
});

const ADDON = tryLoadAfPacket().error;

test('a missing interface is named, exit 2', { skip: ADDON ?? false }, async () => {
  const r = await rs('--iface', 'nosuchif9');
  assert.equal(r.code, 2);
  assert.equal(r.err, 'tslvs rs-tun: ENODEV: no such interface nosuchif9\n');
});

test('the addon not built: its path in one line, exit 70', () => {
  const r = spawnSync('node', [TSLVS, 'rs-tun', '--iface', 'lo'], {
    encoding: 'utf8',
    env: { ...process.env, TSLVS_AFPACKET_ADDON: '/nonexistent/afpacket.node' },
  });
  assert.equal(r.status, 70);
  assert.match(r.stderr, /^tslvs rs-tun: afpacket addon not built: \/nonexistent\/afpacket\.node is missing/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
});

function canDropPrivileges(): string | null {
  if (ADDON) return ADDON;
  if (process.getuid?.() !== 0) return 'needs root to run a child as nobody';
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', '-e', '0']);
  return r.status === 0 ? null : 'setpriv cannot run node as nobody here';
}

test('not root: permission denied in one line, exit 4', { skip: canDropPrivileges() ?? false }, () => {
  const r = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', TSLVS, 'rs-tun', '--iface', 'lo'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /^tslvs rs-tun: permission denied \((EPERM|EACCES)\b.*\); run as root/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
});

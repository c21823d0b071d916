/**
 * `tslvs lab` as a command: usage, the bad-input messages and exit statuses, the name-clash
 * refusal, Ctrl-C teardown, --keep, and clean. The parts that create namespaces need root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, existsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLab, labHelp } from '../../src/lab/main.ts';
import { checkRequirements, EXIT_PERMISSION, EXIT_USAGE, haveProgram } from '../../src/lab/env.ts';
import { LabRun, cleanLeftovers, existingNamespaces, prefixInUse, runDirOf } from '../../src/lab/run.ts';
import { ipCmd } from '../../src/lab/topo.ts';
import type { CliIo } from '../../src/cli/tslvs.ts';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSLVS = join(DIST, 'src', 'cli', 'tslvs.js');

function io(): CliIo & { out: string; err: string } {
  const o = {
    out: '',
    err: '',
    stdout: (t: string) => void (o.out += t),
    stderr: (t: string) => void (o.err += t),
    readFile: () => '',
    env: {},
  };
  return o;
}

const isRoot = process.getuid?.() === 0;

test('help lists the scenarios and clean; bad usage exits 2 with a pointer to --help', async () => {
  assert.match(labHelp(), /^Usage: tslvs lab <scenario>/);
  for (const s of ['dr', 'nat', 'fullnat', 'arp', 'route', 'sched', 'clean'])
    assert.match(labHelp(), new RegExp(`\\n  ${s} `));
  for (const argv of [[], ['nope'], ['dr', 'nat'], ['dr', '--requests', '0'], ['dr', '--bogus']]) {
    const x = io();
    assert.equal(await runLab(argv, x), EXIT_USAGE, argv.join(' '));
    assert.match(x.err, /^tslvs lab: /, argv.join(' '));
  }
});

test('not root: exit 4 and what to do', () => {
  const e = checkRequirements(['root', 'ip'], false);
  assert.ok(e !== null);
  assert.equal(e.exitCode, EXIT_PERMISSION);
  assert.match(e.message, /needs root .*sudo/);
  assert.equal(checkRequirements(['root'], true), null);
});

test('sched --simulate runs without root and prints its table; --simulate is for sched only', async () => {
  const x = io();
  assert.equal(await runLab(['sched', '--simulate', '--requests', '60'], x), 0);
  assert.match(x.out, /60 connections/);
  assert.match(x.out, /\n {2}rr +20 /);
  const y = io();
  assert.equal(await runLab(['dr', '--simulate'], y), EXIT_USAGE);
  assert.match(y.err, /--simulate applies to sched only/);
  const z = io();
  assert.equal(await runLab(['sched', '--requests', '6001'], z), EXIT_USAGE);
  assert.match(z.err, /expected 1\.\.6000/);
});

describe('needs root', { skip: isRoot ? false : 'needs root (network namespaces)' }, () => {
  test('a missing tool: exit 2 naming the package', { skip: haveProgram('sh') ? false : 'no sh' }, () => {
    // A PATH with sh and ip but no tcpdump.
    const bin = mkdtempSync(join(tmpdir(), 'tslvs-lab-path-'));
    try {
      for (const p of ['sh', 'ip']) {
        const real = execFileSync('sh', ['-c', `command -v ${p}`], { encoding: 'utf8' }).trim();
        symlinkSync(real, join(bin, p));
      }
      let status = 0;
      let stderr = '';
      try {
        execFileSync(process.execPath, [TSLVS, 'lab', 'arp'], {
          env: { PATH: bin },
          stdio: 'pipe',
          encoding: 'utf8',
        });
      } catch (e) {
        const x = e as { status: number; stderr: string };
        status = x.status;
        stderr = x.stderr;
      }
      assert.equal(status, EXIT_USAGE);
      assert.match(stderr, /tcpdump is not installed: install the tcpdump package/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  test('a namespace with our name already exists: refused, exit 2, and it is left alone', () => {
    const prefix = `tsl${randomBytes(3).toString('hex')}`;
    const theirs = `${prefix}-client`;
    ipCmd(['netns', 'add', theirs]);
    try {
      assert.throws(
        () => new LabRun({ prefix }),
        (e: Error & { exitCode?: number }) =>
          e.exitCode === EXIT_USAGE && /already exists: the lab will not touch it/.test(e.message),
      );
      assert.ok(existingNamespaces().includes(theirs));
      assert.equal(existsSync(runDirOf(prefix)), false);
    } finally {
      ipCmd(['netns', 'del', theirs]);
    }
  });

  const lvsSkip = checkRequirements(['ip', 'tcpdump', 'curl', 'addon'])?.message ?? false;
  const arpSkip = checkRequirements(['ip', 'tcpdump', 'ping'])?.message ?? false;

  test('Ctrl-C while a lab runs: everything it made is removed, exit 130', { skip: lvsSkip }, async () => {
    const child = spawn(process.execPath, [TSLVS, 'lab', 'dr'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const prefix = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no hosts table: ${out}${err}`)), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /(tsl[0-9a-f]{6})-client/.exec(out);
        // The setup is printed once the topology is up; the daemon and captures start next.
        if (m && out.includes('Setup:')) {
          clearTimeout(t);
          res(m[1]);
        }
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    assert.equal(code, 130, err);
    assert.match(err, /SIGINT: removed the lab's namespaces/);
    assert.deepEqual(
      existingNamespaces().filter((n) => n.startsWith(`${prefix}-`)),
      [],
    );
    assert.equal(existsSync(runDirOf(prefix)), false);
  });

  test(
    '--keep leaves the hosts up with instructions; clean removes them (and only them)',
    { skip: arpSkip },
    () => {
      const out = execFileSync(process.execPath, [TSLVS, 'lab', 'arp', '--keep'], { encoding: 'utf8' });
      const prefix = /ip netns exec (tsl[0-9a-f]{6})-node01 bash/.exec(out)?.[1];
      assert.ok(prefix !== undefined, out);
      assert.match(out, /tslvs lab clean/);
      const mine = existingNamespaces().filter((n) => n.startsWith(`${prefix}-`));
      assert.deepEqual(mine.sort(), [`${prefix}-node01`, `${prefix}-node02`, `${prefix}-switch`]);
      // The run that made them is over: not in use; clean takes exactly these.
      assert.equal(prefixInUse(prefix, mine), null);
      const r = cleanLeftovers(mine);
      assert.deepEqual(r.removed.sort(), mine.sort());
      assert.equal(
        existingNamespaces().some((n) => n.startsWith(`${prefix}-`)),
        false,
      );
      assert.equal(existsSync(runDirOf(prefix)), false);
    },
  );

  test('clean leaves a run alone while its owner lives', async () => {
    const prefix = `tsl${randomBytes(3).toString('hex')}`;
    const ns = `${prefix}-node`;
    const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      ipCmd(['netns', 'add', ns]);
      const dir = runDirOf(prefix);
      execFileSync('mkdir', ['-p', dir]);
      writeFileSync(join(dir, 'owner'), `${owner.pid}\n`);
      const r = cleanLeftovers([ns]);
      assert.deepEqual(r.removed, []);
      assert.deepEqual(r.skipped, [{ ns, pid: owner.pid }]);
      owner.kill('SIGKILL');
      await new Promise((res) => owner.on('exit', res));
      assert.deepEqual(cleanLeftovers([ns]).removed, [ns]);
      assert.equal(existsSync(dir), false);
    } finally {
      owner.kill('SIGKILL');
      try {
        ipCmd(['netns', 'del', ns]);
      } catch {
        // Removed by the test.
      }
    }
  });
});

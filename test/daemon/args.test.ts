/** tslvs daemon's option checks that need no interface: refused before anything is opened. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDaemon } from '../../src/daemon/main.ts';
import type { CliIo } from '../../src/cli/tslvs.ts';

async function run(argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const io = { stdout: () => undefined, stderr: (s: string) => void (err += s), env: {} } as unknown as CliIo;
  const code = await runDaemon(argv, io);
  return { code, err };
}

test('--sysctl: known names and ranges only, each refusal one precise line, exit 2', async () => {
  assert.deepEqual(await run(['--iface', 'nonexistent0', '--sysctl', 'bogus=1']), {
    code: 2,
    err: 'tslvs daemon: --sysctl bogus=1: unknown sysctl bogus (known: expire_nodest_conn, expire_quiescent_template, conn_reuse_mode, secure_tcp, sloppy_tcp, sloppy_sctp)\n',
  });
  assert.deepEqual(await run(['--iface', 'nonexistent0', '--sysctl', 'conn_reuse_mode=4']), {
    code: 2,
    err: 'tslvs daemon: --sysctl conn_reuse_mode=4: conn_reuse_mode is 0..3\n',
  });
  assert.deepEqual(await run(['--iface', 'nonexistent0', '--sysctl', 'sloppy_tcp']), {
    code: 2,
    err: 'tslvs daemon: --sysctl sloppy_tcp: expected NAME=VALUE\n',
  });
});

test('--help names every sysctl it takes', async () => {
  let out = '';
  const io = { stdout: (s: string) => void (out += s), stderr: () => undefined, env: {} } as unknown as CliIo;
  assert.equal(await runDaemon(['--help'], io), 0);
  for (const n of [
    'expire_nodest_conn',
    'expire_quiescent_template',
    'conn_reuse_mode',
    'secure_tcp',
    'sloppy_tcp',
    'sloppy_sctp',
  ])
    assert.ok(out.includes(n), n);
});

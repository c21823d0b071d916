import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient, DaemonUnavailableError, RemoteError } from '../../src/ipc/client.ts';
import { ControlError, listenControl } from '../../src/ipc/server.ts';

function tmpSock(): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tslvs-ipc-'));
  return { dir, path: join(dir, 'ctl.sock') };
}

test('requests are answered in order; handler errors come back with their code and text', async () => {
  const { dir, path } = tmpSock();
  const server = await listenControl(path, (op, args) => {
    if (op === 'echo') return args;
    if (op === 'fail')
      throw new ControlError({ code: 'LVS_ERR_NO_SERVICE', message: 'No such service', exitCode: 255 });
    throw new Error('boom');
  });
  try {
    assert.equal(statSync(path).mode & 0o777, 0o600, 'root-only socket');
    const c = await ControlClient.connect(path);
    const [a, b] = await Promise.all([c.call('echo', { x: 1 }), c.call('echo', [2])]);
    assert.deepEqual(a, { x: 1 });
    assert.deepEqual(b, [2]);
    await assert.rejects(
      c.call('fail'),
      (e: unknown) =>
        e instanceof RemoteError && e.body.message === 'No such service' && e.body.exitCode === 255,
    );
    await assert.rejects(
      c.call('other'),
      (e: unknown) => e instanceof RemoteError && e.body.code === 'PROTO_INTERNAL',
    );
    c.close();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('garbage on the socket gets an error answer, not a crash', async () => {
  const { dir, path } = tmpSock();
  const server = await listenControl(path, () => 'ok');
  try {
    const answers = await new Promise<string>((resolve) => {
      const s = createConnection(path);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        got += d;
        if (got.split('\n').length > 3) {
          s.destroy();
          resolve(got);
        }
      });
      s.write('not json\n{"v":1}\n{"v":9,"id":3,"op":"x"}\n');
    });
    const lines = answers
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; error: { code: string } });
    assert.deepEqual(
      lines.map((l) => l.error.code),
      ['PROTO_BAD_JSON', 'PROTO_BAD_REQUEST', 'PROTO_VERSION'],
    );
    // The daemon still answers afterwards.
    const c = await ControlClient.connect(path);
    assert.equal(await c.call('anything'), 'ok');
    c.close();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no daemon: a clear error naming the socket', async () => {
  const { dir, path } = tmpSock();
  try {
    await assert.rejects(
      ControlClient.connect(path),
      (e: unknown) =>
        e instanceof DaemonUnavailableError && /not running/.test(e.message) && e.message.includes(path),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stale socket file is replaced; a live daemon is not', async () => {
  const { dir, path } = tmpSock();
  const s1 = await listenControl(path, () => 1);
  try {
    await assert.rejects(
      listenControl(path, () => 2),
      /another daemon/,
    );
  } finally {
    s1.close();
  }
  await new Promise((r) => setTimeout(r, 20));
  const s2 = await listenControl(path, () => 3);
  const c = await ControlClient.connect(path);
  assert.equal(await c.call('x'), 3);
  c.close();
  s2.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `tslvs status` against a control socket served in-process (no root, no daemon needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStatus } from '../../src/cli/status.ts';
import type { CliIo } from '../../src/cli/tslvs.ts';
import { listenControl } from '../../src/ipc/server.ts';

function capture(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env,
    stdout: (s: string) => void (io.out += s),
    stderr: (s: string) => void (io.err += s),
  };
  return io as unknown as CliIo & { out: string; err: string };
}

test('prints the non-zero counters sorted by name, then each port, or JSON', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tslvs-status-'));
  const sock = join(dir, 'd.sock');
  const answer = {
    counters: { TX: 12, IPV4_BAD_CSUM: 3, GSO_SEGMENTED: 2 },
    ports: [{ name: 'eth0', rxPackets: 40, drops: 0 }],
  };
  const server = await listenControl(sock, (op) => {
    if (op !== 'status') throw new Error(`unexpected op ${op}`);
    return answer;
  });
  try {
    const io = capture();
    assert.equal(await runStatus(['--socket', sock], io), 0);
    assert.equal(
      io.out,
      'GSO_SEGMENTED  2\nIPV4_BAD_CSUM  3\nTX             12\n\nport eth0\n  rxPackets    40\n  drops        0\n',
    );
    const j = capture({ TSLVS_SOCKET: sock });
    assert.equal(await runStatus(['--json'], j), 0);
    assert.deepEqual(JSON.parse(j.out), answer);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a daemon that is not running: one clear line, exit 1; bad options: exit 2', async () => {
  const io = capture();
  assert.equal(await runStatus(['--socket', '/nonexistent/tslvs.sock'], io), 1);
  assert.match(
    io.err,
    /^tslvs status: tslvsd is not running \(cannot connect to \/nonexistent\/tslvs\.sock: ENOENT\)\n$/,
  );
  const bad = capture();
  assert.equal(await runStatus(['--frobnicate'], bad), 2);
  assert.match(bad.err, /^tslvs status: /);
});

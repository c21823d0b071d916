import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tslvsadmMain } from '../../src/cli/tslvsadm.ts';
import type { AdmIo } from '../../src/cli/tslvsadm.ts';
import { ControlApi } from '../../src/control/api.ts';
import { ServiceTable } from '../../src/control/services.ts';
import { Timeouts } from '../../src/conn/timeouts.ts';
import { ConnTable } from '../../src/conn/table.ts';
import { listenControl } from '../../src/ipc/server.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function withDaemon(
  fn: (adm: (line: string, stdin?: string) => Promise<Run>, table: ServiceTable) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tslvsadm-'));
  const sock = join(dir, 'd.sock');
  let x = 9;
  const random = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  const table = new ServiceTable({ now: () => 0, random, lblcExpirationMs: 1, lblcrExpirationMs: 1 });
  const timeouts = new Timeouts();
  const conns = new ConnTable({ af: 4, dests: table.dests, random, maxEntries: 64, timeouts });
  const api = new ControlApi({
    services: table,
    timeouts,
    conns: () => [conns],
    now: () => 0,
    connTabSize: 4096,
  });
  const server = await listenControl(sock, (op, args) => api.handle(op, args));
  const adm = async (line: string, stdin = ''): Promise<Run> => {
    let out = '';
    let err = '';
    const io: AdmIo = {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      readStdin: () => stdin,
      env: { TSLVS_SOCKET: sock },
    };
    const argv = line.split(/\s+/).filter((w) => w !== '');
    const code = await tslvsadmMain(argv[0] === 'ipvsadm' ? argv.slice(1) : argv, io);
    return { code, out, err };
  };
  try {
    await fn(adm, table);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the seeds' ipvsadm lines configure the daemon; -Ln prints ipvsadm's listing", async () => {
  await withDaemon(async (adm) => {
    for (const l of [
      'ipvsadm -A -t 192.168.188.100:80 -s rr',
      'ipvsadm -a -t 192.168.188.100:80 -r 192.168.188.181:80 -g -w 1',
      'ipvsadm -a -t 192.168.188.100:80 -r 192.168.188.182:80 -g -w 1',
    ]) {
      const r = await adm(l);
      assert.deepEqual(r, { code: 0, out: '', err: '' }, l);
    }
    const r = await adm('ipvsadm -Ln');
    assert.equal(r.code, 0);
    assert.equal(
      r.out,
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  192.168.188.100:80 rr\n' +
        '  -> 192.168.188.181:80           Route   1      0          0         \n' +
        '  -> 192.168.188.182:80           Route   1      0          0         \n',
    );
  });
});

test("kernel errors print ipvsadm's message and exit 255; usage errors exit 2 without the daemon", async () => {
  await withDaemon(async (adm) => {
    await adm('-A -t 10.0.0.1:80 -s rr');
    assert.deepEqual(await adm('-A -t 10.0.0.1:80 -s rr'), {
      code: 255,
      out: '',
      err: 'Service already exists\n',
    });
    assert.deepEqual(await adm('-a -t 10.0.0.2:80 -r 10.1.1.1'), {
      code: 255,
      out: '',
      err: 'Service not defined\n',
    });
    assert.deepEqual(await adm('-d -t 10.0.0.1:80 -r 10.1.1.1'), {
      code: 255,
      out: '',
      err: 'No such destination\n',
    });
    assert.deepEqual(await adm('-A -t 10.0.0.3:80 -s nosuch'), {
      code: 255,
      out: '',
      err: 'Scheduler or persistence engine not found\n',
    });
    const bad = await adm('-A -t 10.0.0.1:80 -w 3');
    assert.equal(bad.code, 2);
    assert.equal(bad.err, "Illegal 'weight' option with the 'add-service' command\n");
  });
});

test('-S output restores with -R into an identical table', async () => {
  await withDaemon(async (adm, table) => {
    for (const l of [
      '-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0',
      '-a -t 10.0.0.100:80 -r 192.168.10.1:80 -m -w 1',
      '-a -t 10.0.0.100:80 -r 192.168.10.2:80 -m -w 3',
      '-A -u 10.0.0.100:53 -s sh -o -b sh-fallback,sh-port',
      '-a -u 10.0.0.100:53 -r 192.168.10.1:53 -g -w 1',
      '-A -f 1 -s rr',
      '-a -f 1 -r 192.168.10.1:0 -i -w 1',
    ])
      assert.equal((await adm(l)).code, 0, l);
    const saved = (await adm('-S -n')).out;
    assert.equal(
      saved,
      '-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0\n' +
        '-a -t 10.0.0.100:80 -r 192.168.10.1:80 -m -w 1\n' +
        '-a -t 10.0.0.100:80 -r 192.168.10.2:80 -m -w 3\n' +
        '-A -u 10.0.0.100:53 -s sh -o -b sh-fallback,sh-port\n' +
        '-a -u 10.0.0.100:53 -r 192.168.10.1:53 -g -w 1\n' +
        '-A -f 1 -s rr\n' +
        '-a -f 1 -r 192.168.10.1:0 -i -w 1 --tun-type ipip\n',
    );
    assert.equal((await adm('-C')).code, 0);
    assert.equal(table.list.length, 0);
    const r = await adm('-R', saved);
    assert.deepEqual(r, { code: 0, out: '', err: '' });
    assert.equal((await adm('-S -n')).out, saved);
  });
});

test('-R goes on after a failed operation and stops at a usage error, as restore_table does', async () => {
  await withDaemon(async (adm, table) => {
    const input =
      '-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80\n-A -t 10.0.0.3:80 -w 1\n-A -t 10.0.0.4:80\n';
    const r = await adm('-R', input);
    assert.equal(r.err, "Service already exists\nIllegal 'weight' option with the 'add-service' command\n");
    assert.equal(r.code, 2);
    assert.deepEqual(
      table.list.map((s) => s.port + ':' + (s.addr!.v4 & 0xff)),
      ['80:1', '80:2'],
    );
  });
});

test('--timeout, --set and -Z go through the daemon', async () => {
  await withDaemon(async (adm) => {
    assert.equal((await adm('-L --timeout')).out, 'Timeout (tcp tcpfin udp): 900 120 300\n');
    assert.equal((await adm('--set 60 0 30')).code, 0);
    assert.equal((await adm('-L --timeout')).out, 'Timeout (tcp tcpfin udp): 60 120 30\n');
    assert.equal((await adm('-Z')).code, 0);
    const j = JSON.parse((await adm('-L -n --json')).out) as { schema: number };
    assert.equal(j.schema, 1);
  });
});

test('no daemon: a clear message, exit 2, no stack trace', async () => {
  let err = '';
  const code = await tslvsadmMain(['-Ln'], {
    stdout: () => {},
    stderr: (t) => (err += t),
    readStdin: () => '',
    env: { TSLVS_SOCKET: '/nonexistent/tslvs.sock' },
  });
  assert.equal(code, 2);
  assert.match(
    err,
    /^Can't initialize ipvs: tslvsd is not running \(cannot connect to \/nonexistent\/tslvs\.sock: ENOENT\)\n/,
  );
  assert.doesNotMatch(err, /at .*\.js/);
});

test('-h and -v need no daemon and print exactly what ipvsadm prints', async () => {
  let out = '';
  const io: AdmIo = {
    stdout: (t) => (out += t),
    stderr: () => {},
    readStdin: () => '',
    env: { TSLVS_SOCKET: '/nonexistent' },
  };
  assert.equal(await tslvsadmMain(['-v'], io), 0);
  assert.equal(out, 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n');
});

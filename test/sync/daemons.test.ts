/**
 * SyncDaemons (start_sync_thread / stop_sync_thread semantics) with stand-in transports, the
 * `ipvsadm --daemon` defaults and line, and the socket layer's interface errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable } from '../../src/conn/table.ts';
import { IPPROTO_UDP } from '../../src/conn/types.ts';
import { ServiceTable } from '../../src/control/services.ts';
import { Fwd } from '../../src/model/flags.ts';
import { SyncDaemons, SyncError, formatSyncDaemon, syncDaemonDefaults } from '../../src/sync/index.ts';
import type { SyncDaemonsOptions } from '../../src/sync/index.ts';
import { SyncResult, syncMsgParse } from '../../src/sync/msg.ts';
import { SyncReceiver, SyncSender, findInterface, groupFamily } from '../../src/sync/socket.ts';
import type { SyncSocketConfig } from '../../src/sync/socket.ts';
import { conn4, setup } from '../conn/helpers.ts';
import { seeded } from '../datapath/fixture.ts';

interface Fake {
  d: SyncDaemons;
  opened: { kind: string; cfg: SyncSocketConfig; maxlen: number }[];
  sent: Uint8Array[];
  closed: string[];
  deliver?: (b: Uint8Array, len: number) => void;
  conns4: ConnTable;
}

function fake(o: Partial<SyncDaemonsOptions> = {}): Fake {
  const services = new ServiceTable({
    now: () => 0,
    random: seeded(1),
    lblcExpirationMs: 1,
    lblcrExpirationMs: 1,
  });
  const conns4 = new ConnTable({ af: 4, dests: services.dests, random: seeded(2), maxEntries: 16 });
  const conns6 = new ConnTable({ af: 6, dests: services.dests, random: seeded(3), maxEntries: 16 });
  const f: Fake = { d: undefined as unknown as SyncDaemons, opened: [], sent: [], closed: [], conns4 };
  f.d = new SyncDaemons({
    conns4,
    conns6,
    services,
    now: () => 0,
    interfaceMtu: (n) => ({ eth0: 1500, eth1: 9000, lo: 65536, small: 1280 })[n] ?? null,
    openMaster: async (cfg, maxlen) => {
      await Promise.resolve();
      f.opened.push({ kind: 'master', cfg, maxlen });
      return {
        send: (b, len) => (f.sent.push(b.slice(0, len)), true),
        close: () => (f.closed.push('master'), Promise.resolve()),
      };
    },
    openBackup: async (cfg, maxlen, onMessage) => {
      await Promise.resolve();
      f.opened.push({ kind: 'backup', cfg, maxlen });
      f.deliver = onMessage;
      return { close: () => (f.closed.push('backup'), Promise.resolve()) };
    },
    ...o,
  });
  return f;
}

async function rejectsWith(p: Promise<unknown>, errno: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SyncError, String(e));
    assert.equal(e.errno, errno);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('a master with only an interface gets the kernel defaults, listed as ipvsadm --daemon prints them', async () => {
  const f = fake();
  const info = await f.d.start('master', { mcastIfn: 'eth0' });
  assert.deepEqual(info, {
    state: 'master',
    mcastIfn: 'eth0',
    syncid: 0,
    maxlen: 1472,
    group: '224.0.0.81',
    port: 8848,
    ttl: 1,
  });
  assert.deepEqual(f.d.list(), [info]);
  // The modern-kernel line of lvs-features.md §2.10.
  assert.equal(
    formatSyncDaemon(info),
    'master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)',
  );
  assert.deepEqual(f.opened[0], {
    kind: 'master',
    cfg: { mcastIfn: 'eth0', group: '224.0.0.81', port: 8848, ttl: 1, sockSize: 0 },
    maxlen: 1472,
  });
  assert.ok(f.d.master !== null);
});

test('maxlen: master 1500 - headers, backup from the device MTU (clamped), given values clamped', () => {
  // start_sync_thread: hlen 28 (IPv4) / 48 (IPv6); master mtu 1500; backup mtu clamp(dev, 1500, 65535);
  // a given maxlen clamped to [1 | 1024, 65535 - hlen].
  const cases: [Parameters<typeof syncDaemonDefaults>, number][] = [
    [['master', { mcastIfn: 'x' }, 9000], 1472],
    [['backup', { mcastIfn: 'x' }, 9000], 8972],
    [['backup', { mcastIfn: 'x' }, 1280], 1472],
    [['backup', { mcastIfn: 'x' }, 100_000], 65507],
    [['master', { mcastIfn: 'x', group: 'ff02::51' }, 1500], 1452],
    [['master', { mcastIfn: 'x', maxlen: 100 }, 1500], 100],
    [['backup', { mcastIfn: 'x', maxlen: 100 }, 1500], 1024],
    [['master', { mcastIfn: 'x', maxlen: 70_000 }, 1500], 65507],
    [['master', { mcastIfn: 'x', maxlen: 70_000, group: 'ff02::51' }, 1500], 65487],
  ];
  for (const [args, want] of cases)
    assert.equal(syncDaemonDefaults(...args).maxlen, want, JSON.stringify(args));
  const v6 = syncDaemonDefaults(
    'backup',
    { mcastIfn: 'x', group: 'FF02:0:0:0:0:0:0:51', port: 9000, ttl: 5, syncid: 9 },
    1500,
  );
  assert.deepEqual([v6.group, v6.port, v6.ttl, v6.syncid], ['ff02::51', 9000, 5, 9]);
});

test('errors: unknown interface ENODEV, second daemon EEXIST, stopping none ESRCH, bad group EINVAL', async () => {
  const f = fake();
  await rejectsWith(f.d.start('master', { mcastIfn: 'eth9' }), 'ENODEV', /^Unknown mcast interface: eth9$/);
  await rejectsWith(f.d.start('master', { mcastIfn: 'eth0', group: '10.0.0.1' }), 'EINVAL');
  await rejectsWith(f.d.start('backup', { mcastIfn: 'eth0', syncid: 256 }), 'EINVAL');
  await rejectsWith(f.d.stop('backup'), 'ESRCH');
  // Two starts at once: the second sees the first in progress.
  const a = f.d.start('backup', { mcastIfn: 'eth1', syncid: 4 });
  const b = f.d.start('backup', { mcastIfn: 'eth0' });
  await rejectsWith(b, 'EEXIST');
  await a;
  await assert.rejects(
    f.d.start('backup', { mcastIfn: 'eth0' }),
    (e: unknown) =>
      e instanceof SyncError && e.errno === 'EEXIST' && e.ipvsadmMessage === 'Daemon has already run',
  );
  await assert.rejects(
    f.d.stop('master'),
    (e: unknown) =>
      e instanceof SyncError && e.errno === 'ESRCH' && e.ipvsadmMessage === 'No daemon is running',
  );
  // A master and a backup may run together; list() gives the master first.
  await f.d.start('master', { mcastIfn: 'eth0', syncid: 4 });
  assert.deepEqual(
    f.d.list().map((d) => [d.state, d.mcastIfn, d.maxlen]),
    [
      ['master', 'eth0', 1472],
      ['backup', 'eth1', 8972],
    ],
  );
  await f.d.close();
  assert.deepEqual(f.closed, ['master', 'backup']);
  assert.deepEqual(f.d.list(), []);
  assert.equal(f.d.master, null);
});

test('the running daemons do the work: master sends through its transport, backup applies what arrives', async () => {
  const f = fake();
  await f.d.start('master', { mcastIfn: 'eth0', syncid: 6 });
  await f.d.start('backup', { mcastIfn: 'eth0', syncid: 6 });
  const env = setup({ fwd: Fwd.DROUTE });
  const id = conn4(env, IPPROTO_UDP, 0xcb007107, 5353, env.d[0], 0);
  f.d.master!.syncConn(env.t, id, 3);
  f.d.tick(1999);
  assert.equal(f.sent.length, 0);
  f.d.tick(2000);
  assert.equal(f.sent.length, 1);
  assert.equal(syncMsgParse(f.sent[0], 0, f.sent[0].length).syncid, 6);
  f.deliver!(f.sent[0], f.sent[0].length);
  assert.equal(f.d.backup!.lastResult, SyncResult.OK);
  assert.equal(f.conns4.count, 1);
  // Stopping the master drops its unsent message, as the kernel does.
  f.d.master!.syncConn(env.t, id, 53);
  await f.d.stop('master');
  assert.equal(f.sent.length, 1);
});

test('sync sysctls are read at start: version, threshold, period, socket size', async () => {
  const f = fake({
    sysctls: () => ({
      version: 0,
      threshold: 1,
      period: 0,
      refreshPeriod: 0,
      retries: 0,
      persistMode: 0,
      sockSize: 65536,
    }),
  });
  await f.d.start('master', { mcastIfn: 'eth0' });
  const m = f.d.master!;
  assert.deepEqual([m.version, m.threshold, m.period], [0, 1, 0]);
  assert.equal(f.opened[0].cfg.sockSize, 65536);
});

test('a master with a tiny maxlen still gets a socket that takes one conn per message', async () => {
  const f = fake();
  const info = await f.d.start('master', { mcastIfn: 'eth0', maxlen: 1 });
  assert.equal(info.maxlen, 1);
  // 8-byte header + the longest entry SyncMaster can write: 72 + (2 + 24) + (2 + 255) + (2 + 16).
  assert.equal(f.opened[0].maxlen, 8 + 373);
});

test('socket layer: interface lookup and its errors', async () => {
  assert.equal(findInterface('no-such-if0'), null);
  assert.equal(findInterface('../etc'), null);
  assert.equal(findInterface(''), null);
  const lo = findInterface('lo');
  if (lo !== null) assert.equal(lo.addr4, '127.0.0.1');
  assert.deepEqual(
    ['224.0.0.81', '239.255.255.255', '223.0.0.1', 'ff02::51', 'fe80::1', 'nonsense'].map(groupFamily),
    [4, 4, 0, 6, 0, 0],
  );
  await assert.rejects(SyncSender.open({ mcastIfn: 'no-such-if0' }, 1472), (e: unknown) => {
    assert.ok(e instanceof SyncError);
    assert.equal(e.errno, 'ENODEV');
    assert.equal(e.message, 'Unknown mcast interface: no-such-if0');
    assert.equal(e.ipvsadmMessage, 'No such device');
    return true;
  });
  await assert.rejects(
    SyncReceiver.open({ mcastIfn: 'lo', group: '10.1.1.1' }, 1472, () => {}),
    SyncError,
  );
  await assert.rejects(
    SyncReceiver.open({ mcastIfn: 'lo', port: 0 }, 1472, () => {}),
    SyncError,
  );
});

/**
 * --start-daemon / --stop-daemon / --daemon through tslvsadm, the control socket and the daemon's
 * SyncDaemons (with in-memory transports in place of multicast sockets), and the pipeline hook
 * that feeds a running master: client packets of a real Pipeline reach the master, whose message
 * a backup director applies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tslvsadmMain } from '../../src/cli/tslvsadm.ts';
import type { AdmIo } from '../../src/cli/tslvsadm.ts';
import { ControlApi } from '../../src/control/api.ts';
import type { SyncControl } from '../../src/control/api.ts';
import { listenControl } from '../../src/ipc/server.ts';
import { SyncDaemons } from '../../src/sync/index.ts';
import { Lab } from '../datapath/fixture.ts';
import { Fwd } from '../../src/model/flags.ts';
import { tcp4 } from '../helpers/packet.ts';
import { Verdict } from '../../src/datapath/verdict.ts';
import { ConnFlag } from '../../src/model/flags.ts';
import { TcpState } from '../../src/conn/proto-tcp.ts';

interface Rig {
  adm(line: string): Promise<{ code: number; out: string; err: string }>;
  syncd: SyncDaemons;
  master: Lab;
  backup: Lab;
  sent: Uint8Array[];
  close(): void;
}

async function rig(): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'tslvsadm-sync-'));
  const sock = join(dir, 'd.sock');
  const master = new Lab();
  const backup = new Lab();
  for (const l of [master, backup]) {
    const svc = l.addService('10.0.0.100:80');
    l.addDest(svc, '192.168.10.1:80', Fwd.DROUTE);
  }
  const sent: Uint8Array[] = [];
  let backupDaemons: SyncDaemons | null = null;
  const syncd = new SyncDaemons({
    conns4: master.pipe.conns4,
    conns6: master.pipe.conns6,
    services: master.services,
    now: () => master.now,
    interfaceMtu: (n) => (n === 'eth0' || n === 'eth1' ? 1500 : null),
    openMaster: () =>
      Promise.resolve({
        send: (b: Uint8Array, n: number) => {
          const copy = b.slice(0, n);
          sent.push(copy);
          void backupDaemons?.backup?.receive(copy, 0, copy.length);
          return true;
        },
        close: () => Promise.resolve(),
      }),
    openBackup: () => Promise.resolve({ close: () => Promise.resolve() }),
  });
  backupDaemons = new SyncDaemons({
    conns4: backup.pipe.conns4,
    conns6: backup.pipe.conns6,
    services: backup.services,
    now: () => backup.now,
    interfaceMtu: () => 1500,
    openBackup: () => Promise.resolve({ close: () => Promise.resolve() }),
  });
  await backupDaemons.start('backup', { mcastIfn: 'eth0' });
  // As src/daemon/main.ts wires it: the hook runs while a master does.
  const hook = (): void => {
    const m = syncd.master;
    master.pipe.onInPacket = m === null ? null : (t, cid, pkts) => m.syncConn(t, cid, pkts);
  };
  const control: SyncControl = {
    start: async (kind, cfg) => {
      const i = await syncd.start(kind, cfg);
      hook();
      return i;
    },
    stop: async (kind) => {
      await syncd.stop(kind);
      hook();
    },
    list: () => syncd.list(),
  };
  const api = new ControlApi({
    services: master.services,
    timeouts: master.pipe.timeouts,
    conns: () => [master.pipe.conns4],
    now: () => master.now,
    connTabSize: 4096,
    sync: control,
  });
  const server = await listenControl(sock, (op, args) => api.handle(op, args));
  const adm = async (line: string) => {
    let out = '';
    let err = '';
    const io: AdmIo = {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      readStdin: () => '',
      env: { TSLVS_SOCKET: sock },
    };
    const argv = line.split(/\s+/).filter((w) => w !== '' && w !== 'ipvsadm');
    const code = await tslvsadmMain(argv, io);
    return { code, out, err };
  };
  return {
    adm,
    syncd,
    master,
    backup,
    sent,
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('--start-daemon, --daemon, --stop-daemon: kernel defaults listed, kernel errors with libipvs words', async () => {
  const r = await rig();
  try {
    assert.deepEqual(await r.adm('ipvsadm -L --daemon'), { code: 0, out: '', err: '' }, 'nothing runs');
    assert.deepEqual(await r.adm('ipvsadm --start-daemon master --mcast-interface eth1 --syncid 7'), {
      code: 0,
      out: '',
      err: '',
    });
    const again = await r.adm('ipvsadm --start-daemon master --mcast-interface eth1');
    assert.deepEqual(again, { code: 255, out: '', err: 'Daemon has already run\n' });
    const bad = await r.adm('ipvsadm --start-daemon backup --mcast-interface nosuch0');
    assert.deepEqual(bad, { code: 255, out: '', err: 'No such device\n' });
    assert.equal(
      (await r.adm('ipvsadm --start-daemon backup --mcast-interface eth0 --sync-maxlen 9000')).code,
      0,
    );
    const list = await r.adm('ipvsadm -L --daemon');
    assert.equal(
      list.out,
      'master sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
        'backup sync daemon (mcast=eth0, syncid=0, maxlen=9000, group=224.0.0.81, port=8848, ttl=1)\n',
    );
    assert.equal((await r.adm('ipvsadm --stop-daemon backup')).code, 0);
    assert.deepEqual(await r.adm('ipvsadm --stop-daemon backup'), {
      code: 255,
      out: '',
      err: 'No daemon is running\n',
    });
    const json = JSON.parse((await r.adm('ipvsadm -L --daemon --json')).out) as {
      daemons: { state: string }[];
    };
    assert.deepEqual(
      json.daemons.map((d) => d.state),
      ['master'],
    );
  } finally {
    r.close();
  }
});

test('a running master hears client packets through the pipeline hook; the backup takes the conn over', async () => {
  const r = await rig();
  try {
    const pkt = (flags: number, seq: number) =>
      tcp4({ src: '203.0.113.5', dst: '10.0.0.100', sport: 40000, dport: 80, flags, seq });
    assert.equal(r.master.pipe.onInPacket, null, 'no hook while no master runs');
    assert.equal((await r.adm('ipvsadm --start-daemon master --mcast-interface eth1')).code, 0);
    assert.notEqual(r.master.pipe.onInPacket, null);
    assert.equal(r.master.run(pkt(0x02, 1)).verdict, Verdict.TX); // SYN: SYN_RECV, not synced
    assert.equal(r.master.run(pkt(0x10, 2)).verdict, Verdict.TX); // ESTABLISHED, in_pkts 2
    assert.equal(r.master.run(pkt(0x10, 2)).verdict, Verdict.TX); // in_pkts 3 = sync_threshold
    assert.equal(r.sent.length, 0, 'held in the current message');
    r.master.now += 2500;
    r.syncd.tick(r.master.now); // the daemon's 1 s timer does this
    assert.equal(r.sent.length, 1, 'flushed after IPVS_SYNC_FLUSH_TIME');
    const t = r.backup.pipe.conns4;
    assert.equal(t.count, 1, 'the backup learned the conn');
    const id = t.lookupIn(6, 0xcb007105, 40000, 0x0a000064, 80);
    assert.ok(id >= 0);
    assert.equal(t.getState(id), TcpState.ESTABLISHED);
    assert.notEqual(t.getFlags(id) & ConnFlag.SYNC, 0, 'marked as learned from a master');
    // Failover: the backup forwards the next ACK of that conn, no SYN needed.
    const fwd = r.backup.run(pkt(0x10, 3));
    assert.equal(fwd.verdict, Verdict.TX);
    assert.equal(fwd.outIf, 2, 'to the real server side');
    assert.equal((await r.adm('ipvsadm --stop-daemon master')).code, 0);
    assert.equal(r.master.pipe.onInPacket, null, 'hook removed with the master');
  } finally {
    r.close();
  }
});

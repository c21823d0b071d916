/**
 * End to end, as root: `tslvs daemon --workers 2`. Two worker threads share each interface through
 * a PACKET_FANOUT group steered by src/daemon/steer.ts; each has its own connection table, so a
 * conn only works if both of its directions reach the worker that made it — NAT replies by the
 * client's address and port, FullNAT replies by the local port that worker allocated. Checked with
 * many connections (both workers carry some), a 10 MB download and upload, and the listings that
 * add up the workers' figures.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BIG_SHA, ModeLab, PORT, modeSkip } from './harness.ts';
import { programs } from '../../src/lab/env.ts';

for (const mode of ['nat', 'fullnat', 'dr'] as const) {
  const skip = modeSkip(mode);
  describe(`e2e ${mode} with --workers 2`, { skip: skip ?? false }, () => {
    let lab: ModeLab | null = null;
    before(async () => {
      lab = await ModeLab.start(mode, { daemonArgs: ['--workers', '2'] });
    });
    after(() => lab?.close());

    test('every connection is answered, both workers carry traffic, the listing adds them up', async () => {
      const l = lab!;
      const got = await l.curlMany(PORT.rr, 40);
      const ok = got.filter((a) => a.server === 'rs1' || a.server === 'rs2');
      assert.equal(ok.length, 40, JSON.stringify(got));
      // rr runs per worker (each has its own position, as DPVS's per-lcore schedulers): over both,
      // the split is even to within one per worker.
      const rs1 = ok.filter((a) => a.server === 'rs1').length;
      assert.ok(Math.abs(rs1 - (40 - rs1)) <= 2, `rs1 ${rs1} of 40`);
      if (mode === 'fullnat')
        for (const a of ok) assert.equal(a.peer, l.lip, 'FullNAT: the RS sees the local address');
      const p = programs();
      const st = JSON.parse(
        execFileSync(p.node, [...p.nodeArgs, p.tslvs, 'status', '--json', '--socket', l.run.sock], {
          encoding: 'utf8',
        }),
      ) as {
        workers: number;
        counters: Record<string, number>;
        ports: { worker: number; rxPackets: number }[];
      };
      assert.equal(st.workers, 2);
      for (const w of [0, 1]) {
        const rx = st.ports.filter((x) => x.worker === w).reduce((n, x) => n + x.rxPackets, 0);
        assert.ok(rx > 20, `worker ${w} received ${rx} frames`);
      }
      assert.equal(st.counters.NO_CONN_NOT_SYN ?? 0, 0, 'a packet reached a worker without its conn');
      const stats = (await l.adm('ipvsadm -Ln --stats')).stdout;
      assert.match(stats, new RegExp(`TCP  ${l.vip.replaceAll('.', '\\.')}:${PORT.rr} +40 `), stats);
    });

    test('10 MB down and up through whichever worker owns the flow', async () => {
      const l = lab!;
      const d = await l.download(PORT.transfer, 1);
      assert.equal(d.sha, BIG_SHA, JSON.stringify(d));
      const u = await l.upload(PORT.transfer, 'w2');
      assert.equal(u.sha, l.upSha, JSON.stringify(u));
    });
  });
}

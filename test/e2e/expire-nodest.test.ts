/**
 * End to end, as root: ipvsadm -d with expire_nodest_conn=1 (NAT lab of harness.ts). The kernel
 * (ip_vs_ctl.c, ip_vs_core.c; ≥ 5.9):
 *  - deleting a dest queues ip_vs_expire_nodest_conn_flush, which expires every conn whose dest is
 *    no longer available, without waiting for traffic;
 *  - ip_vs_in_hook: a packet of a conn whose dest is not available expires the conn, and is then
 *    treated as having no conn: a SYN is scheduled afresh (to a remaining server), anything else
 *    cannot start a conn.
 * The default (0) is covered per mode in modes.test.ts.
 *
 * tslvsd is told to use expire_nodest_conn=1 with `--sysctl expire_nodest_conn=1`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { programs } from '../../src/lab/env.ts';
import { sleep } from '../../src/lab/run.ts';
import { ModeLab, PORT, e2eSkip } from './harness.ts';

const FLAG = ['--sysctl', 'expire_nodest_conn=1'];

function skipReason(): string | null {
  const s = e2eSkip();
  if (s !== null) return s;
  const p = programs();
  let help: string;
  try {
    help = execFileSync(p.node, [...p.nodeArgs, p.tslvs, 'daemon', '--help'], { encoding: 'utf8' });
  } catch {
    return 'tslvs daemon --help failed';
  }
  return help.includes('expire_nodest_conn')
    ? null
    : 'tslvs daemon --help names no expire_nodest_conn: it cannot be set in tslvsd';
}

const SKIP = skipReason();
const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('e2e NAT with expire_nodest_conn=1: ipvsadm -d', { skip: SKIP ?? false }, () => {
  let lab: ModeLab | null = null;
  before(async () => {
    lab = await ModeLab.start('nat', {
      daemonArgs: FLAG,
      lines: (l) => l.serviceLines().filter((x) => x.includes(`:${PORT.del} `)),
    });
  });
  after(() => lab?.close());

  /** Whether `ipvsadm -Lnc` lists the conn from the client's port `lport`. */
  async function listed(l: ModeLab, lport: number): Promise<boolean> {
    const out = (await l.adm('ipvsadm -Lnc')).stdout;
    return new RegExp(`${re(l.clientIp)}:${lport} +${re(l.vip)}:${PORT.del} `).test(out);
  }

  test("expires the deleted server's conns without waiting for a packet (ip_vs_expire_nodest_conn_flush)", async () => {
    const l = lab!;
    const h = l.hold(PORT.del);
    const first = await h.cmd('get');
    assert.ok(first.ok, 'the held connection answered');
    const k = l.rsIndex(first.body.split(' ')[0]);
    assert.ok(await listed(l, first.lport), 'the conn is listed');
    await l.adm(`ipvsadm -d -t ${l.vip}:${PORT.del} -r ${l.dest(k, PORT.del)}`);
    const end = Date.now() + 2000;
    let gone = false;
    while (!gone && Date.now() < end) {
      await sleep(100);
      gone = !(await listed(l, first.lport));
    }
    assert.ok(gone, `the conn is still listed 2 s after ipvsadm -d\n${await l.diag()}`);
    await h.cmd('reset');
  });

  test('the next packet of such a conn is not answered; a new SYN from its port goes to the remaining server', async () => {
    const l = lab!;
    // Both servers in the service whatever the test before left (an existing one is refused).
    for (const k of [0, 1] as const)
      await l.run.adm(`ipvsadm -a -t ${l.vip}:${PORT.del} -r ${l.dest(k, PORT.del)} ${l.fwd} -w 1`);
    const h = l.hold(PORT.del);
    const first = await h.cmd('get');
    assert.ok(first.ok, 'the held connection answered');
    const held = first.body.split(' ')[0];
    const k = l.rsIndex(held);
    const other = k === 0 ? 'rs2' : 'rs1';
    await l.adm(`ipvsadm -d -t ${l.vip}:${PORT.del} -r ${l.dest(k, PORT.del)}`);
    const r = await h.cmd('get');
    assert.equal(r.ok, false, `the deleted server still answered: ${r.body}`);
    assert.equal(await listed(l, first.lport), false, 'the conn was expired');
    await h.cmd('reset');
    const again = await l.curlMany(PORT.del, 1, { localPort: first.lport, maxTime: 3 });
    assert.deepEqual(
      again.map((a) => a.server),
      [other],
      `a SYN from port ${first.lport} is rescheduled\n${await l.diag()}`,
    );
  });
});

/** mergeSnapshots: the main thread's service list with every worker's figures added up. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSnapshots } from '../../src/daemon/multi.ts';
import type { IpvsSnapshot } from '../../src/cli/ipvsadm/format.ts';

const stats = (n: number) => ({ conns: n, inpkts: 10 * n, outpkts: 0, inbytes: 100 * n, outbytes: 0 });
const rates = (n: number) => ({ cps: n, inpps: n, outpps: 0, inbps: n, outbps: 0 });

function snap(k: number, conns?: number): IpvsSnapshot {
  return {
    version: { major: 1, minor: 2, patch: 1 },
    connTabSize: 4096,
    timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
    daemons: [],
    services: [
      {
        af: 4,
        protocol: 6,
        addr: '10.0.0.100',
        port: 80,
        fwmark: 0,
        sched: 'rr',
        flags: 0,
        timeout: 0,
        netmask: 0xffffffff,
        pe: '',
        stats: stats(k),
        rates: rates(k),
        dests: ['192.168.10.2', '192.168.10.1'].map((addr, i) => ({
          af: 4 as const,
          addr,
          port: 80,
          fwd: 3,
          weight: 1,
          uThreshold: 0,
          lThreshold: 0,
          activeConns: k + i,
          inactConns: k,
          persistConns: 0,
          tunType: 0,
          tunPort: 0,
          tunFlags: 0,
          stats: stats(k + i),
          rates: rates(k),
        })),
      },
    ],
    ...(conns === undefined
      ? {}
      : {
          conns: Array.from({ length: conns }, (_, i) => ({
            proto: 'TCP',
            caddr: `203.0.113.${k}`,
            cport: 1000 + i,
            vaddr: '10.0.0.100',
            vport: 80,
            daddr: '192.168.10.1',
            dport: 80,
            state: 'ESTABLISHED',
            expiresSec: 900,
          })),
        }),
  };
}

test('services, dests and rates add up; conns are every worker’s; the main snapshot is not changed', () => {
  const own = snap(0);
  const m = mergeSnapshots(own, [snap(2, 3), snap(5, 1)], true);
  const s = m.services[0];
  assert.deepEqual(s.stats, stats(7));
  assert.deepEqual(s.rates, rates(7));
  assert.deepEqual(
    s.dests.map((d) => [d.addr, d.activeConns, d.inactConns, d.stats.conns]),
    [
      ['192.168.10.2', 7, 7, 7],
      ['192.168.10.1', 10, 7, 10], // 1 + 3 + 6: the fixture gives own a count too
    ],
  );
  assert.equal(m.conns?.length, 4);
  assert.deepEqual(own.services[0].stats, stats(0), 'own untouched');
  assert.equal(mergeSnapshots(own, [snap(2, 3)], false).conns, undefined);
});

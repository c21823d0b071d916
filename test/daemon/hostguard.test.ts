import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostGuard } from '../../src/daemon/hostguard.ts';
import { ServiceTable } from '../../src/control/services.ts';
import { parseIpAddr } from '../../src/model/addr.ts';
import { Fwd, Proto, TunType } from '../../src/model/flags.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';

function table(): ServiceTable {
  const t = new ServiceTable({ now: () => 0, random: () => 1, lblcExpirationMs: 1, lblcrExpirationMs: 1 });
  const nat = { af: 4 as const, proto: Proto.TCP, addr: parseIpAddr('10.0.0.100'), port: 80, fwmark: 0 };
  const dr = { af: 4 as const, proto: Proto.UDP, addr: parseIpAddr('10.0.0.101'), port: 53, fwmark: 0 };
  t.addService(nat, {
    sched: 'rr',
    flags: 0,
    timeout: 0,
    netmask: 0xffffffff,
    pe: '',
    laddrs: [parseIpAddr('10.1.0.200')!],
  });
  t.addService(dr, { sched: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' });
  const d = { weight: 1, uThreshold: 0, lThreshold: 0, tunType: TunType.IPIP, tunPort: 0, tunFlags: 0 };
  t.addDest(nat, { ...d, addr: parseIpAddr('10.1.0.1')!, port: 8080, fwd: Fwd.MASQ });
  t.addDest(nat, { ...d, addr: parseIpAddr('10.1.0.2')!, port: 8080, fwd: Fwd.FULLNAT });
  t.addDest(dr, { ...d, addr: parseIpAddr('10.1.0.3')!, port: 53, fwd: Fwd.DROUTE });
  return t;
}

test('the host guard drops owned addresses and NAT replies, not DR traffic, on every served interface', () => {
  const g = new HostGuard(['eth0', 'eth1'], () => {});
  const rs = g.ruleset(table(), [ipv4FromString('10.0.0.1')]);
  assert.match(
    rs,
    /set owned4 \{ type ipv4_addr; elements = \{ 10\.0\.0\.100, 10\.1\.0\.200, 10\.0\.0\.101 \} \}/,
  );
  assert.match(rs, /set local4 \{ type ipv4_addr; elements = \{ 10\.0\.0\.1 \} \}/);
  assert.match(rs, /elements = \{ 10\.1\.0\.2 \. tcp \. 8080, 10\.1\.0\.1 \. tcp \. 8080 \}/);
  assert.doesNotMatch(rs, /10\.1\.0\.3/, 'DR replies never come through the director');
  assert.match(rs, /hook ingress device "eth0"/);
  assert.match(rs, /hook ingress device "eth1"/);
  assert.equal(rs.match(/ip daddr @owned4 drop/g)?.length, 2);
  assert.equal(rs.match(/ip daddr != @local4 ip saddr \. meta l4proto \. th sport @natrs drop/g)?.length, 2);
});

function hasNft(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

test(
  'nft accepts the ruleset (nft -c), empty sets included',
  { skip: hasNft() ? false : 'needs root and nft' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslvs-guard-'));
    try {
      for (const [t, local] of [
        [table(), [ipv4FromString('10.0.0.1')]],
        [new ServiceTable({ now: () => 0, random: () => 1, lblcExpirationMs: 1, lblcrExpirationMs: 1 }), []],
      ] as const) {
        const f = join(dir, 'r.nft');
        writeFileSync(f, new HostGuard(['lo'], () => {}).ruleset(t, local));
        execFileSync('nft', ['-c', '-f', f], { stdio: 'pipe' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

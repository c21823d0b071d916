/**
 * RsGuard: the nftables table that keeps a module-less kernel from answering tunnel packets with
 * ICMP unreachable. The text is checked without root; as root it is also loaded into a throwaway
 * namespace (on its lo), listed back and removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { RsGuard } from '../../src/rs/guard.ts';
import { Topology } from '../../src/lab/topo.ts';

test('the ruleset drops protocols 4/41/47 and the GUE port to our address, on our interface only', () => {
  const g = new RsGuard('eth0', ipv4FromString('10.0.2.11'), 6080, 4242);
  assert.equal(g.table, 'tslvs_rs_4242');
  assert.equal(
    g.ruleset(),
    [
      'table netdev tslvs_rs_4242 {',
      '  chain in {',
      '    type filter hook ingress device "eth0" priority -500; policy accept;',
      '    ip daddr 10.0.2.11 ip protocol { 4, 41, 47 } drop',
      '    ip daddr 10.0.2.11 udp dport 6080 drop',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const noGue = new RsGuard('eth0', ipv4FromString('10.0.2.11'), 0, 1).ruleset();
  assert.doesNotMatch(noGue, /udp/);
  assert.match(noGue, /ip protocol \{ 4, 41, 47 \} drop/);
  // remove() before install() is a no-op, not an nft call that could hit someone else's table.
  assert.equal(g.isInstalled, false);
  g.remove();
});

function nftAvailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('sh', ['-c', 'command -v nft && command -v ip'], { stdio: 'pipe' });
  } catch {
    return 'nft or ip missing';
  }
  return null;
}

test('as root: install() loads the table, remove() deletes it', { skip: nftAvailable() ?? false }, () => {
  const t = new Topology();
  try {
    t.host('guard');
    // RsGuard works in the namespace it runs in: run it in a child inside the lab namespace.
    const mod = new URL('../../src/rs/guard.js', import.meta.url).href;
    const script = `
      import { execFileSync } from 'node:child_process';
      const { RsGuard } = await import(${JSON.stringify(mod)});
      const g = new RsGuard('lo', 0x7f000001, 6080, 77);
      g.install();
      const listed = execFileSync('nft', ['list', 'table', 'netdev', g.table], { encoding: 'utf8' });
      g.remove();
      const after = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
      process.stdout.write(JSON.stringify({ installed: listed, after }));`;
    const out = JSON.parse(t.exec('guard', 'node', '--input-type=module', '-e', script)) as {
      installed: string;
      after: string;
    };
    assert.match(out.installed, /hook ingress device "lo" priority -500/);
    // nft lists the protocol numbers by their /etc/protocols names.
    assert.match(out.installed, /ip daddr 127\.0\.0\.1 ip protocol \{ ipencap, ipv6, gre \} drop/);
    assert.match(out.installed, /ip daddr 127\.0\.0\.1 udp dport 6080 drop/);
    assert.doesNotMatch(out.after, /tslvs_rs_77/);
  } finally {
    t.destroy();
  }
});

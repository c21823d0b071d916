/**
 * tslvsd routes IPv4 only; an IPv6 service gets one log line when it appears (Ipv6Notice), not
 * silence and not a line per command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceTable } from '../../src/control/services.ts';
import type { ServiceKey } from '../../src/control/services.ts';
import { parseIpAddr } from '../../src/model/addr.ts';
import { Proto } from '../../src/model/flags.ts';
import { Ipv6Notice } from '../../src/daemon/director.ts';

const OPTS = { sched: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
const k4: ServiceKey = { af: 4, proto: Proto.TCP, addr: parseIpAddr('10.0.0.100'), port: 80, fwmark: 0 };
const k6: ServiceKey = { af: 6, proto: Proto.TCP, addr: parseIpAddr('2001:db8::100'), port: 80, fwmark: 0 };

test('one line when the first IPv6 service appears, again only after all had gone', () => {
  const t = new ServiceTable({ now: () => 0, random: () => 4, lblcExpirationMs: 1, lblcrExpirationMs: 1 });
  const n = new Ipv6Notice();
  t.addService(k4, OPTS);
  assert.equal(n.check(t), null, 'IPv4 only: nothing to say');
  t.addService(k6, { ...OPTS, netmask: 128 });
  const line = n.check(t);
  assert.ok(line !== null);
  assert.match(line, /^IPv6 service \[2001:db8::100\]:80: this director does not route IPv6 yet/);
  assert.match(line, /NO_ROUTE/);
  assert.equal(n.check(t), null, 'said once');
  t.delService(k6);
  assert.equal(n.check(t), null);
  t.addService(k6, { ...OPTS, netmask: 128 });
  assert.ok(n.check(t) !== null, 'said again for a new one');
});

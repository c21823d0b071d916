import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceTable } from '../../src/control/services.ts';
import type { DestOpts, ServiceKey, ServiceOpts } from '../../src/control/services.ts';
import { parseIpAddr } from '../../src/model/addr.ts';
import { IpvsError, IpvsErrorCode } from '../../src/model/errors.ts';
import { DestFlag, Fwd, Proto, SvcFlag, TunType } from '../../src/model/flags.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';

function table(clock = { now: 0 }): ServiceTable {
  let x = 1;
  return new ServiceTable({
    now: () => clock.now,
    random: () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0),
    lblcExpirationMs: 86_400_000,
    lblcrExpirationMs: 86_400_000,
  });
}

const key = (s: string, proto: number = Proto.TCP): ServiceKey => {
  const [a, p] = s.split(':');
  return { af: 4, proto, addr: parseIpAddr(a), port: Number(p), fwmark: 0 };
};
const opts = (o: Partial<ServiceOpts> = {}): ServiceOpts => ({
  sched: 'wlc',
  flags: 0,
  timeout: 0,
  netmask: 0xffffffff,
  pe: '',
  ...o,
});
const dest = (s: string, o: Partial<DestOpts> = {}): DestOpts => {
  const [a, p] = s.split(':');
  return {
    addr: parseIpAddr(a)!,
    port: Number(p),
    fwd: Fwd.DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: TunType.IPIP,
    tunPort: 0,
    tunFlags: 0,
    ...o,
  };
};

function rejects(fn: () => unknown, code: IpvsErrorCode, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof IpvsError);
    assert.equal(e.code, code);
    assert.equal(e.ipvsadmMessage, message);
    return true;
  });
}

test('services are found by the packet path: exact, then port zero (persistent) catch-all', () => {
  const t = table();
  t.addService(key('10.0.0.1:80'), opts());
  t.addService(key('10.0.0.1:0'), opts({ flags: SvcFlag.PERSISTENT, timeout: 360 }));
  const a = ipv4FromString('10.0.0.1');
  assert.equal(t.find4(Proto.TCP, a, 80, 0)?.port, 80);
  assert.equal(t.find4(Proto.TCP, a, 443, 0)?.port, 0);
  assert.equal(t.find4(Proto.UDP, a, 80, 0), null);
  assert.equal(t.find4(Proto.TCP, a + 1, 80, 0), null);
});

test('fwmark services win when the packet carries a mark', () => {
  const t = table();
  t.addService(key('10.0.0.1:80'), opts());
  t.addService({ af: 4, proto: 0, addr: null, port: 0, fwmark: 7 }, opts());
  assert.equal(t.find4(Proto.TCP, ipv4FromString('10.0.0.1'), 80, 7)?.fwmark, 7);
  assert.equal(t.find4(Proto.TCP, ipv4FromString('10.0.0.1'), 80, 0)?.fwmark, 0);
});

test('IPv6 services are found by their 16-byte address', () => {
  const t = table();
  const k: ServiceKey = { af: 6, proto: Proto.TCP, addr: parseIpAddr('2001:db8::1'), port: 80, fwmark: 0 };
  t.addService(k, opts({ netmask: 128 }));
  const buf = new Uint8Array(20);
  buf.set(k.addr!.v6!, 2);
  assert.ok(t.find6(Proto.TCP, buf, 2, k.addr!.fold, 80, 0));
  buf[17] ^= 1;
  assert.equal(t.find6(Proto.TCP, buf, 2, k.addr!.fold, 80, 0), null);
});

test("kernel validation errors carry ipvsadm's messages and change nothing", () => {
  const t = table();
  const k = key('10.0.0.1:80');
  rejects(
    () => t.addService(k, opts({ sched: 'nope' })),
    IpvsErrorCode.NO_SCHEDULER,
    'Scheduler or persistence engine not found',
  );
  assert.equal(t.list.length, 0);
  rejects(
    () => t.addService(key('10.0.0.1:0'), opts()),
    IpvsErrorCode.INVALID,
    'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  );
  t.addService(k, opts());
  rejects(() => t.addService(k, opts()), IpvsErrorCode.SERVICE_EXISTS, 'Service already exists');
  rejects(() => t.editService(key('10.0.0.2:80'), opts()), IpvsErrorCode.NO_SERVICE, 'No such service');
  rejects(
    () => t.addDest(key('10.0.0.2:80'), dest('192.168.0.1:80')),
    IpvsErrorCode.SERVICE_NOT_DEFINED,
    'Service not defined',
  );
  rejects(
    () => t.addDest(k, dest('192.168.0.1:80', { weight: -1 })),
    IpvsErrorCode.WEIGHT_RANGE,
    'Numerical result out of range',
  );
  // -x 0 -y 5: the kernel compares numerically although 0 means "no upper limit".
  rejects(
    () => t.addDest(k, dest('192.168.0.1:80', { uThreshold: 0, lThreshold: 5 })),
    IpvsErrorCode.THRESHOLD_RANGE,
    'Numerical result out of range',
  );
  rejects(
    () => t.addDest(k, dest('192.168.0.1:80', { fwd: Fwd.TUNNEL, tunType: TunType.GUE, tunPort: 0 })),
    IpvsErrorCode.TUNNEL_PORT_ZERO,
    'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  );
  assert.equal(t.list[0].dests.length, 0);
  t.addDest(k, dest('192.168.0.1:80'));
  rejects(
    () => t.addDest(k, dest('192.168.0.1:80')),
    IpvsErrorCode.DEST_EXISTS,
    'Destination already exists',
  );
  rejects(() => t.editDest(k, dest('192.168.0.9:80')), IpvsErrorCode.NO_DEST, 'No such destination');
  rejects(() => t.delDest(k, parseIpAddr('192.168.0.9')!, 80), IpvsErrorCode.NO_DEST, 'No such destination');
  rejects(
    () => t.addService(key('10.0.0.3:80'), opts({ flags: SvcFlag.ONEPACKET })),
    IpvsErrorCode.INVALID,
    'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  );
  assert.equal(t.list.length, 1);
  assert.equal(t.list[0].dests.length, 1);
});

test('new dests go to the head of the list, as list_add_rcu does', () => {
  const t = table();
  const k = key('10.0.0.1:80');
  t.addService(k, opts());
  for (const d of ['192.168.0.1:80', '192.168.0.2:80', '192.168.0.3:80']) t.addDest(k, dest(d));
  assert.deepEqual(
    t.list[0].dests.map((d) => d.addr.v4 & 0xff),
    [3, 2, 1],
  );
});

test('a deleted dest waits 120 s in the trash and is revived, stats and all, when re-added', () => {
  const clock = { now: 1000 };
  const t = table(clock);
  const k = key('10.0.0.1:80');
  t.addService(k, opts());
  t.addDest(k, dest('192.168.0.1:80'));
  const d = t.list[0].dests[0];
  d.stats.conns = 42;
  d.refcnt = 1; // a connection still points at it
  t.delDest(k, d.addr, 80);
  assert.equal(t.list[0].dests.length, 0);
  assert.equal(d.flags & DestFlag.AVAILABLE, 0);
  assert.equal(t.trash.length, 1);
  clock.now += 200_000;
  t.expireTrash(clock.now);
  assert.equal(t.trash.length, 1, 'still referenced');
  t.addDest(k, dest('192.168.0.1:80', { weight: 5 }));
  const back = t.list[0].dests[0];
  assert.equal(back, d, 'the same dest object, revived');
  assert.equal(back.stats.conns, 42);
  assert.equal(back.weight, 5);
  assert.ok(back.available);
  assert.equal(t.trash.length, 0);
  // Once unreferenced and past its period, a trashed dest is freed and its id reusable.
  t.delDest(k, d.addr, 80);
  d.refcnt = 0;
  t.expireTrash(clock.now + 60_000);
  assert.equal(t.trash.length, 1, 'not before 120 s');
  t.expireTrash(clock.now + 120_000);
  assert.equal(t.trash.length, 0);
  assert.equal(t.dests.get(d.id), undefined);
});

test('editing a dest clears OVERLOAD when the new upper threshold is 0 or higher', () => {
  const t = table();
  const k = key('10.0.0.1:80');
  t.addService(k, opts());
  t.addDest(k, dest('192.168.0.1:80', { uThreshold: 10 }));
  const d = t.list[0].dests[0];
  d.flags |= DestFlag.OVERLOAD;
  t.editDest(k, dest('192.168.0.1:80', { uThreshold: 5 }));
  assert.ok(d.overloaded, 'lower threshold keeps it');
  t.editDest(k, dest('192.168.0.1:80', { uThreshold: 20 }));
  assert.ok(!d.overloaded);
});

test('last_weight keeps the last non-zero weight (mh builds from it)', () => {
  const t = table();
  const k = key('10.0.0.1:80');
  t.addService(k, opts({ sched: 'mh' }));
  t.addDest(k, dest('192.168.0.1:80', { weight: 3 }));
  const d = t.list[0].dests[0];
  t.editDest(k, dest('192.168.0.1:80', { weight: 0 }));
  assert.equal(d.weight, 0);
  assert.equal(d.lastWeight, 3);
});

test('changing the scheduler binds a new one, initialised from the existing dests', () => {
  const t = table();
  const k = key('10.0.0.1:80');
  t.addService(k, opts({ sched: 'wlc' }));
  t.addDest(k, dest('192.168.0.1:80'));
  t.addDest(k, dest('192.168.0.2:80'));
  t.editService(k, opts({ sched: 'rr' }));
  const s = t.list[0];
  assert.equal(s.sched?.name, 'rr');
  const sp = {
    af: 4,
    saddr: 0,
    saddr6: new Uint8Array(16),
    saddrFold: 0,
    sport: 0,
    daddr: 0,
    daddr6: new Uint8Array(16),
    daddrFold: 0,
    dport: 0,
  } as const;
  const picks = [0, 1, 2, 3].map(() => s.sched!.schedule({ ...sp })!.addr.v4 & 0xff);
  assert.deepEqual(picks, [2, 1, 2, 1]);
});

test('delete service and flush remove everything from the lookups', () => {
  const t = table();
  t.addService(key('10.0.0.1:80'), opts());
  t.addService(key('10.0.0.1:0'), opts({ flags: SvcFlag.PERSISTENT, timeout: 10 }));
  t.addDest(key('10.0.0.1:80'), dest('192.168.0.1:80'));
  t.delService(key('10.0.0.1:80'));
  assert.equal(t.find4(Proto.TCP, ipv4FromString('10.0.0.1'), 80, 0)?.port, 0, 'only the catch-all left');
  t.flush();
  assert.equal(t.list.length, 0);
  assert.equal(t.find4(Proto.TCP, ipv4FromString('10.0.0.1'), 80, 0), null);
  assert.equal(t.trash.length, 1);
});

test('the rate estimator covers the total, services and linked dests', () => {
  const clock = { now: 0 };
  const t = table(clock);
  const k = key('10.0.0.1:80');
  const svc = t.addService(k, opts());
  t.addDest(k, dest('192.168.0.1:80'));
  const d = svc.dests[0];
  assert.ok(t.estimator.has(t.total) && t.estimator.has(svc.stats) && t.estimator.has(d.stats));
  for (let i = 1; i <= 40; i++) {
    svc.stats.conns += 2000;
    clock.now = i * 2000;
    t.estimator.tick(clock.now);
  }
  // 1000 conn/s for 80 s: the kernel's EWMA (W = 1/4) has converged (cps is scaled by 2^10).
  assert.equal((svc.stats.cps + 0x1ff) >> 10, 1000);
  t.delDest(k, d.addr, 80);
  assert.ok(!t.estimator.has(d.stats), 'a dest in the trash is not estimated');
});

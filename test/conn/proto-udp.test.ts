import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnFlag, Fwd } from '../../src/model/flags.ts';
import { udpStateTransition } from '../../src/conn/proto-udp.ts';
import { CtplState, Dir, IPPROTO_UDP } from '../../src/conn/types.ts';
import { CIP, VIP, conn4, setup } from './helpers.ts';

test('UDP: state "UDP", 3 s until the first packet, then 300 s; always inactive', () => {
  const env = setup({ fwd: Fwd.MASQ, proto: IPPROTO_UDP });
  const { t } = env;
  const d = env.d[0];
  const id = conn4(env, IPPROTO_UDP, CIP, 53000, d, 0);
  assert.equal(t.stateName(id), 'UDP');
  assert.equal(t.getTimeout(id), 3000);
  for (const dir of [Dir.INPUT, Dir.OUTPUT, Dir.INPUT]) {
    udpStateTransition(t, id, dir);
    assert.equal(t.getTimeout(id), 300_000);
    assert.equal(t.getState(id), 0);
    assert.ok(t.getFlags(id) & ConnFlag.INACTIVE);
    assert.equal(d.activeConns, 0);
    assert.equal(d.inactConns, 1);
  }
  // ipvsadm --set 0 0 60 changes the UDP timeout only.
  assert.ok(env.timeouts.set(0, 0, 60));
  udpStateTransition(t, id, Dir.INPUT);
  assert.equal(t.getTimeout(id), 60_000);
});

test('UDP: a reply assures the controlling template; a request does not', () => {
  const env = setup({ proto: IPPROTO_UDP });
  const { t, p } = env;
  p.proto = IPPROTO_UDP;
  p.caddr = CIP;
  p.vaddr = VIP;
  p.vport = 53;
  p.daddr = env.d[0].addr.v4;
  p.dport = 53;
  p.destId = env.d[0].id;
  const ct = t.createTemplate(p, 360_000, 0);
  const id = conn4(env, IPPROTO_UDP, CIP, 53001, env.d[0], 0);
  t.linkToTemplate(id, ct, 0);
  udpStateTransition(t, id, Dir.INPUT);
  assert.equal(t.getState(ct), CtplState.NONE);
  assert.equal(t.stateName(ct), 'NONE');
  udpStateTransition(t, id, Dir.OUTPUT);
  assert.equal(t.getState(ct), CtplState.ASSURED);
  assert.equal(t.stateName(ct), 'ASSURED');
});

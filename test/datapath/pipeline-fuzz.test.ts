import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Fwd, SvcFlag, TunType } from '../../src/model/flags.ts';
import { Verdict, COUNTER_COUNT } from '../../src/datapath/verdict.ts';
import { ipv4FromString } from '../../src/wire/addr.ts';
import { icmp4, tcp4, udp4 } from '../helpers/packet.ts';
import { allGoldens } from '../helpers/golden.ts';
import { Lab, MAC } from './fixture.ts';

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 4000);
const VERDICTS = new Set<number>(Object.values(Verdict));

/** A director with every forwarding method, persistence and a UDP service, and some live conns. */
function populated(): Lab {
  const lab = new Lab({ maxConns: 512 });
  const la = ipv4FromString('192.168.10.200');
  const tcp = lab.addService('10.0.0.100:80', { sched: 'wlc' });
  lab.addDest(tcp, '192.168.10.1:8080', Fwd.MASQ);
  lab.addDest(tcp, '192.168.10.2:80', Fwd.DROUTE);
  lab.addDest(tcp, '192.168.10.3:80', Fwd.TUNNEL, { tunType: TunType.GUE, tunPort: 6080 });
  const p = lab.addService('10.0.0.101:443', { sched: 'sh', flags: SvcFlag.PERSISTENT, timeout: 60 });
  lab.addDest(p, '192.168.10.1:443', Fwd.DROUTE);
  lab.addDest(p, '192.168.10.2:443', Fwd.TUNNEL, { tunType: TunType.GRE, tunFlags: 1 });
  const f = lab.addService('10.0.0.102:80', { sched: 'mh', laddrs: [{ af: 4, v4: la, v6: null, fold: la }] });
  lab.addDest(f, '192.168.10.1:80', Fwd.FULLNAT);
  const u = lab.addService('10.0.0.100:53', { sched: 'rr', flags: SvcFlag.ONEPACKET }, 17);
  lab.addDest(u, '192.168.10.2:53', Fwd.MASQ);
  return lab;
}

const vips = ['10.0.0.100', '10.0.0.101', '10.0.0.102', '10.0.0.99'];
const arbFlow = fc.record({
  src: fc.constantFrom('172.16.0.10', '172.16.0.11', '192.168.10.1', '192.168.10.2'),
  dst: fc.constantFrom(...vips, '172.16.0.10', '192.168.10.200'),
  sport: fc.constantFrom(80, 443, 53, 8080, 40000, 40001, 1024),
  dport: fc.constantFrom(80, 443, 53, 8080, 40000, 1024),
  flags: fc.integer({ min: 0, max: 0x3f }),
  ttl: fc.constantFrom(1, 2, 64),
  payload: fc.uint8Array({ maxLength: 64 }),
  kind: fc.constantFrom('tcp', 'udp', 'icmp'),
});

test(`fuzz (${FUZZ_MS} ms): random, mutated and well-formed frames through a populated pipeline`, () => {
  const lab = populated();
  const corpus = [...allGoldens().values()];
  const structured = arbFlow.map((f) => {
    const base = { srcMac: MAC.router, dstMac: MAC.dirOut, src: f.src, dst: f.dst, ttl: f.ttl };
    if (f.kind === 'udp') return udp4({ ...base, sport: f.sport, dport: f.dport, payload: f.payload });
    if (f.kind === 'icmp') return icmp4({ ...base, type: f.flags % 14, code: f.ttl % 5, data: f.payload });
    return tcp4({ ...base, sport: f.sport, dport: f.dport, flags: f.flags, payload: f.payload });
  });
  const mutate = (src: fc.Arbitrary<Uint8Array>) =>
    fc
      .tuple(src, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }))
      .map(([g, m]) => {
        const b = Uint8Array.from(g);
        for (const [i, v] of m) if (b.length) b[i % b.length] = v;
        return b;
      });
  const frames = fc.oneof(
    structured,
    mutate(structured),
    mutate(fc.constantFrom(...corpus)),
    fc.uint8Array({ maxLength: 120 }),
  );
  fc.assert(
    fc.property(
      frames,
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 0, max: 7 }),
      fc.nat(5000),
      (frame, rxIf, rxFlags, dt) => {
        lab.now += dt;
        if (dt > 4000) lab.pipe.tick(lab.now);
        const r = lab.run(frame, rxIf, rxFlags);
        assert.ok(VERDICTS.has(r.verdict), `verdict ${r.verdict}`);
        assert.ok(r.reason >= 0 && r.reason < COUNTER_COUNT, `reason ${r.reason}`);
        if (r.verdict === Verdict.TX || r.verdict === Verdict.REPLY) {
          assert.ok(r.out.length >= 14 && r.out.length <= 2048, `output length ${r.out.length}`);
        }
      },
    ),
    { interruptAfterTimeLimit: FUZZ_MS, numRuns: Number.MAX_SAFE_INTEGER },
  );
  // Counters stay consistent with the table: every dest's counts add up to the live entries.
  let bound = 0;
  for (const s of lab.services.list)
    for (const d of s.dests) bound += d.activeConns + d.inactConns + d.persistConns;
  for (const d of lab.services.trash) bound += d.activeConns + d.inactConns + d.persistConns;
  assert.equal(bound, lab.pipe.conns4.count);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addr4, parseIpAddr, type IpAddr } from '../../src/model/addr.ts';
import { LaddrPool, LportSpace, handlePort, handleSlot } from '../../src/xmit/laddr-pool.ts';

const A = addr4(0x0a000001); // 10.0.0.1
const B = addr4(0x0a000002);
const C = addr4(0x0a000003);

function pair(space: LportSpace, h: number): string {
  return `${space.laddrV4(h)}:${handlePort(h)}`;
}

test('default range: 64 512 ports per laddr, 1024..65535, all distinct', () => {
  const space = new LportSpace();
  assert.equal(space.portsPerAddr, 64512);
  const pool = new LaddrPool(space);
  pool.addLaddr(A);
  const seen = new Set<number>();
  for (let i = 0; i < 64512; i++) {
    const h = pool.alloc();
    assert.ok(h >= 0);
    const p = handlePort(h);
    assert.ok(p >= 1024 && p <= 65535);
    seen.add(p);
  }
  assert.equal(seen.size, 64512);
  assert.equal(pool.alloc(), -1);
  assert.equal(pool.exhausted, 1);
  assert.equal(space.exhausted, 1);
});

test('exhaustion returns -1 and is counted; a released port becomes reusable', () => {
  const space = new LportSpace({ portMin: 5000, portMax: 5009 });
  const pool = new LaddrPool(space);
  pool.addLaddr(A);
  const hs: number[] = [];
  for (let i = 0; i < 10; i++) hs.push(pool.alloc());
  // Next-fit from the bottom of the range: 5000, 5001, ..., 5009.
  assert.deepEqual(
    hs.map(handlePort),
    Array.from({ length: 10 }, (_, i) => 5000 + i),
  );
  assert.equal(pool.alloc(), -1);
  assert.equal(pool.alloc(), -1);
  assert.equal(pool.exhausted, 2);
  assert.ok(pool.free(hs[3]));
  assert.ok(!pool.free(hs[3]), 'double free is refused');
  assert.ok(!space.inUse(handleSlot(hs[3]), 5003));
  const h = pool.alloc();
  assert.equal(handlePort(h), 5003);
  assert.equal(space.laddrV4(h), A.v4);
  assert.equal(pool.alloc(), -1);
  assert.equal(space.usedOn(handleSlot(h)), 10);
});

test('next-fit: a freed port is reused only after the other free ports', () => {
  const space = new LportSpace({ portMin: 100, portMax: 199 });
  const pool = new LaddrPool(space);
  pool.addLaddr(A);
  const h0 = pool.alloc(); // 100
  pool.alloc(); // 101
  pool.free(h0);
  const next: number[] = [];
  for (let i = 0; i < 98; i++) next.push(handlePort(pool.alloc()));
  assert.deepEqual(
    next,
    Array.from({ length: 98 }, (_, i) => 102 + i),
  );
  // The cursor wrapped: now 100 again, then nothing.
  assert.equal(handlePort(pool.alloc()), 100);
  assert.equal(pool.alloc(), -1);
});

test('laddrs are picked round-robin, and an exhausted laddr is skipped', () => {
  const space = new LportSpace({ portMin: 2000, portMax: 2001 });
  const pool = new LaddrPool(space);
  pool.addLaddr(A);
  pool.addLaddr(B);
  pool.addLaddr(C);
  assert.ok(!pool.addLaddr(addr4(0x0a000002)), 'duplicate refused');
  const order = [];
  for (let i = 0; i < 6; i++) order.push(pair(space, pool.alloc()));
  assert.deepEqual(order, [
    `${A.v4}:2000`,
    `${B.v4}:2000`,
    `${C.v4}:2000`,
    `${A.v4}:2001`,
    `${B.v4}:2001`,
    `${C.v4}:2001`,
  ]);
  assert.equal(pool.alloc(), -1);
  // Free one port on C: the next pick starts at A (rr cursor), A and B are full, C serves it.
  assert.ok(space.free(space.slotOf(C) * 65536 + 2000));
  const h = pool.alloc();
  assert.equal(pair(space, h), `${C.v4}:2000`);
});

test('DPVS rr/wrr desync: with random() % 100 < 5 one laddr is skipped', () => {
  const space = new LportSpace();
  const rolls = [50, 3, 99, 104, 0];
  let k = 0;
  const pool = new LaddrPool(space, { random: () => rolls[k++ % rolls.length] });
  pool.addLaddr(A);
  pool.addLaddr(B);
  pool.addLaddr(C);
  // roll 50 → A; roll 3 → skip B, take C; roll 99 → A; roll 104 (4) → skip B, take C;
  // roll 0 → skip A, take B.
  const picks = [];
  for (let i = 0; i < 5; i++) picks.push(space.laddrV4(pool.alloc()));
  assert.deepEqual(picks, [A.v4, C.v4, A.v4, C.v4, B.v4]);
});

test('per-worker partitioning: worker k of N gets exactly the ports ≡ k (mod N)', () => {
  const N = 4;
  const all = new Set<number>();
  for (let k = 0; k < N; k++) {
    const space = new LportSpace({ portMin: 1000, portMax: 1099, workers: N, worker: k });
    // 1000 % 4 = 0, so every worker owns 25 of the 100 ports.
    assert.equal(space.portsPerAddr, 25);
    const pool = new LaddrPool(space);
    pool.addLaddr(A);
    for (;;) {
      const h = pool.alloc();
      if (h < 0) break;
      const p = handlePort(h);
      assert.equal(p % N, k);
      assert.ok(p >= 1000 && p <= 1099);
      assert.ok(!all.has(p), 'workers never share a port');
      all.add(p);
    }
  }
  assert.equal(all.size, 100);
  // Uneven split: 1025..1034 over 3 workers: k=0 → 1026, 1029, 1032 (3); k=1 → 1027, 1030, 1033
  // (3); k=2 → 1025, 1028, 1031, 1034 (4).
  const sizes = [0, 1, 2].map((k) => new LportSpace({ portMin: 1025, portMax: 1034, workers: 3, worker: k }));
  assert.deepEqual(
    sizes.map((s) => s.portsPerAddr),
    [3, 3, 4],
  );
  assert.ok(sizes[2].ownsPort(1025) && !sizes[0].ownsPort(1025) && !sizes[2].ownsPort(1024));
});

test('services sharing a laddr share its ports; a deleted laddr keeps live ports until freed', () => {
  const space = new LportSpace({ portMin: 3000, portMax: 3003 });
  const svc1 = new LaddrPool(space);
  const svc2 = new LaddrPool(space);
  svc1.addLaddr(A);
  svc2.addLaddr(A);
  const h1 = svc1.alloc();
  const h2 = svc2.alloc();
  assert.notEqual(handlePort(h1), handlePort(h2));
  assert.equal(handleSlot(h1), handleSlot(h2));
  svc1.flush();
  svc2.delLaddr(A);
  assert.equal(svc2.size, 0);
  assert.equal(svc2.alloc(), -1);
  // Still held by two conns.
  assert.equal(space.slotOf(A), handleSlot(h1));
  assert.equal(space.laddrV4(h1), A.v4);
  assert.ok(space.free(h1));
  assert.ok(space.free(h2));
  // Now unreferenced and empty: recycled.
  assert.equal(space.slotOf(A), -1);
  assert.ok(!space.free(h2));
});

test('IPv6 local addresses work the same way', () => {
  const v6a = parseIpAddr('2001:db8::1')!;
  const v6b = parseIpAddr('2001:db8::2')!;
  const space = new LportSpace({ portMin: 40000, portMax: 40001 });
  const pool = new LaddrPool(space);
  pool.addLaddr(v6a);
  pool.addLaddr(v6b);
  assert.ok(!pool.addLaddr(parseIpAddr('2001:db8:0::1')!));
  const hs = [pool.alloc(), pool.alloc(), pool.alloc(), pool.alloc()];
  assert.deepEqual(hs.map(handlePort), [40000, 40000, 40001, 40001]);
  assert.equal(space.laddrOfSlot(handleSlot(hs[1])), v6b);
  assert.equal(pool.alloc(), -1);
});

test('the slot table grows past its initial capacity', () => {
  const space = new LportSpace({ portMin: 1024, portMax: 1024 });
  const pool = new LaddrPool(space);
  const addrs: IpAddr[] = [];
  for (let i = 0; i < 40; i++) addrs.push(addr4((0xc0a80000 + i) >>> 0));
  for (const a of addrs) pool.addLaddr(a);
  const got = new Set<number>();
  for (let i = 0; i < 40; i++) got.add(space.laddrV4(pool.alloc()));
  assert.equal(got.size, 40);
  assert.equal(pool.alloc(), -1);
});

test('constructor rejects bad ranges and worker numbers', () => {
  assert.throws(() => new LportSpace({ portMin: 0 }));
  assert.throws(() => new LportSpace({ portMax: 65536 }));
  assert.throws(() => new LportSpace({ portMin: 2000, portMax: 1999 }));
  assert.throws(() => new LportSpace({ workers: 0 }));
  assert.throws(() => new LportSpace({ workers: 2, worker: 2 }));
});

test('property: random alloc/free never hands out a live (laddr, lport) twice (vs a naive Set)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 70 }),
      fc.integer({ min: 1, max: 3 }),
      fc.array(fc.tuple(fc.boolean(), fc.nat()), { minLength: 1, maxLength: 400 }),
      (nAddr, nPorts, workers, ops) => {
        const worker = nPorts % workers;
        const space = new LportSpace({ portMin: 1024, portMax: 1024 + nPorts - 1, workers, worker });
        const pool = new LaddrPool(space);
        for (let i = 0; i < nAddr; i++) pool.addLaddr(addr4(0x0a000001 + i));
        const live = new Map<string, number>(); // naive model: "laddr:port" → handle
        const capacity = nAddr * space.portsPerAddr;
        for (const [doAlloc, pick] of ops) {
          if (doAlloc || live.size === 0) {
            const h = pool.alloc();
            if (live.size === capacity) {
              assert.equal(h, -1);
              continue;
            }
            assert.ok(h >= 0, 'a free pair exists, so allocation must succeed');
            const key = pair(space, h);
            assert.ok(!live.has(key), `duplicate live pair ${key}`);
            assert.equal(handlePort(h) % workers, worker);
            live.set(key, h);
          } else {
            const keys = [...live.keys()];
            const key = keys[pick % keys.length];
            assert.ok(pool.free(live.get(key)!));
            live.delete(key);
          }
          let used = 0;
          for (let i = 0; i < nAddr; i++) used += space.usedOn(space.slotOf(addr4(0x0a000001 + i)));
          assert.equal(used, live.size);
        }
      },
    ),
    { numRuns: 300 },
  );
});

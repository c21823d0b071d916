/**
 * The sync message codec: hand-derived goldens (cross-checked with tshark's "ipvs" dissector
 * where it can decode them), framing checks case by case, round-trip properties, the maxlen rule
 * of the writer, and a time-boxed fuzz of syncCheck and the reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  SYNC_FULL,
  SYNC_MAX_CONNS,
  SYNC_V1_CONN4_LEN,
  SYNC_V1_HLEN,
  SyncReader,
  SyncResult,
  newSyncConnRepr,
  syncAppend,
  syncCheck,
  syncConnLen,
  syncMsgEmit,
  syncMsgEmitLen,
  syncMsgInit,
  syncMsgParse,
  syncMsgVersion,
} from '../../src/sync/msg.ts';
import type { SyncConnRepr, SyncMsgRepr } from '../../src/sync/msg.ts';
import { ipv4FromString, ipv6FromString } from '../../src/wire/addr.ts';
import { hex, toHex } from '../helpers/bytes.ts';
import { udp4 } from '../helpers/packet.ts';
import { tsharkDecode, tsharkSkip } from '../helpers/tshark.ts';

const RESULTS = new Set<number>(Object.values(SyncResult));

/** The DR conn of the goldens: 203.0.113.7:40000 → 10.0.0.100:80 → 192.168.10.1:8080, ESTABLISHED. */
function dr4(): SyncConnRepr {
  return {
    af: 4,
    proto: 6,
    flags: 0x83,
    state: 1,
    cport: 40000,
    vport: 80,
    dport: 8080,
    fwmark: 0,
    timeout: 900,
    caddr: ipv4FromString('203.0.113.7'),
    vaddr: ipv4FromString('10.0.0.100'),
    daddr: ipv4FromString('192.168.10.1'),
    caddr6: null,
    vaddr6: null,
    daddr6: null,
  };
}

/** A NAT'd UDP conn over IPv6 with fwmark 7. */
function udp6(): SyncConnRepr {
  return {
    af: 6,
    proto: 17,
    flags: 0x180,
    state: 0,
    cport: 5353,
    vport: 53,
    dport: 53,
    fwmark: 7,
    timeout: 300,
    caddr: 0,
    vaddr: 0,
    daddr: 0,
    caddr6: ipv6FromString('2001:db8::7'),
    vaddr6: ipv6FromString('2001:db8::100'),
    daddr6: ipv6FromString('2001:db8::a0'),
  };
}

// Derived by hand from struct ip_vs_sync_mesg + struct ip_vs_sync_v4 (ip_vs_sync.c), all fields
// big-endian; decoded by tshark 4.0 ("IP Virtual Services Sync Daemon": syncid 5, size 44,
// 1 conn, version 1, TCP 203.0.113.7:40000 → 10.0.0.100:80 → 192.168.10.1:8080, flags 0x83,
// state 1, timeout 900), see the tshark test below.
const G_V1_DR = `
  00 05 002c 01 01 0000   # reserved 0, syncid 5, size 44 = 8 + 36 | 1 conn, version 1, spare 0
  00 06 0024              # type 0 (IPv4), protocol 6, version 0 + size 36
  00000083                # flags: DROUTE (3) | NOOUTPUT (0x80)
  0001 9c40               # state 1 (ESTABLISHED), cport 40000
  0050 1f90               # vport 80, dport 8080
  00000000                # fwmark 0
  00000384                # timeout 900 s
  cb007107                # caddr 203.0.113.7
  0a000064                # vaddr 10.0.0.100
  c0a80a01                # daddr 192.168.10.1
`;

// The same conn, then an IPv6 one (struct ip_vs_sync_v6: 24 fixed bytes + 3 × 16 = 72); 36 is a
// multiple of 4, so no padding. size = 8 + 36 + 72 = 116. tshark decodes both conns.
const G_V1_TWO = `
  00 05 0074 02 01 0000
  00 06 0024 00000083 0001 9c40 0050 1f90 00000000 00000384 cb007107 0a000064 c0a80a01
  01 11 0048              # type 1 (IPv6 bit), protocol 17 (UDP), size 72
  00000180                # flags: MASQ | NOOUTPUT | INACTIVE
  0000 14e9               # state 0 (UDP), cport 5353
  0035 0035               # vport 53, dport 53
  00000007                # fwmark 7
  0000012c                # timeout 300
  20010db8000000000000000000000007   # 2001:db8::7
  20010db8000000000000000000000100   # 2001:db8::100
  20010db80000000000000000000000a0   # 2001:db8::a0
`;

// Options, hand-derived (tshark's dissector skips v1 options, so it cannot check this one):
// conn 1 carries IPVS_OPT_SEQ_DATA (type 1, len 24, in_seq then out_seq as init/delta/prev, each
// be32) → 36 + 2 + 24 = 62 bytes; 62 is not a multiple of 4, so 2 zero bytes of padding follow
// (ip_vs_sync_conn pads before the next conn). Conn 2 is a persistence template (TEMPLATE 0x1000
// | INACTIVE 0x100, cport 0, state NONE, timeout 360) with IPVS_OPT_PE_DATA "abc" (type 2, len 3)
// and IPVS_OPT_PE_NAME "sip" (type 3, len 3): 36 + 5 + 5 = 46. size = 8 + 62 + 2 + 46 = 118.
const G_V1_OPTS = `
  00 00 0076 02 01 0000   # syncid 0, size 118, 2 conns
  00 06 003e              # IPv4 TCP, size 62
  00000600                # flags: MASQ | IN_SEQ | OUT_SEQ
  0001 9c40 0050 1f90 00000000 00000384 cb007107 0a000064 c0a80a01
  01 18                   # option SEQ_DATA, 24 bytes
  11111111 00000010 00000000   # in_seq: init, delta 16, previous delta 0
  22222222 fffffff0 00000000   # out_seq: init, delta -16, previous delta 0
  0000                    # padding to the next 32-bit boundary
  00 06 002e              # IPv4 TCP, size 46
  00001100                # flags: TEMPLATE | INACTIVE (MASQ)
  0000 0000 0050 1f90 00000000 00000168 cb007107 0a000064 c0a80a01
  02 03 616263            # option PE_DATA "abc"
  03 03 736970            # option PE_NAME "sip"
`;

// Version 0 (struct ip_vs_sync_mesg_v0 + struct ip_vs_sync_conn_v0), hand-derived; tshark decodes
// it as count 1, syncid 5, size 28, TCP 203.0.113.7:40000 → 10.0.0.100:80 → 192.168.10.1:8080,
// flags 0x0083 (Direct Routing, No Output Packets), state 1.
const G_V0 = `
  01 05 001c              # 1 conn, syncid 5, size 28 = 4 + 24
  00 06 9c40 0050 1f90    # reserved, TCP, cport 40000, vport 80, dport 8080
  cb007107 0a000064 c0a80a01
  0083 0001               # flags (16 bits), state 1
`;

function emit(m: SyncMsgRepr): Uint8Array {
  const b = new Uint8Array(syncMsgEmitLen(m));
  assert.equal(syncMsgEmit(m, b, 0), b.length);
  return b;
}

test('golden v1: one IPv4 DR conn encodes, checks and parses back', () => {
  const g = hex(G_V1_DR);
  const b = emit({ version: 1, syncid: 5, conns: [dr4()] });
  assert.equal(toHex(b), toHex(g));
  assert.equal(syncCheck(g, 0, g.length), SyncResult.OK);
  assert.equal(syncMsgVersion(g, 0, g.length), 1);
  assert.deepEqual(syncMsgParse(g, 0, g.length), { version: 1, syncid: 5, conns: [dr4()] });
});

test('golden v1: IPv4 + IPv6 conns', () => {
  const g = hex(G_V1_TWO);
  assert.equal(toHex(emit({ version: 1, syncid: 5, conns: [dr4(), udp6()] })), toHex(g));
  assert.equal(syncCheck(g, 0, g.length), SyncResult.OK);
  assert.deepEqual(syncMsgParse(g, 0, g.length).conns, [dr4(), udp6()]);
});

test('golden v1: sequence option, padding, PE data and PE name', () => {
  const g = hex(G_V1_OPTS);
  const seqConn: SyncConnRepr = {
    ...dr4(),
    flags: 0x600,
    seq: {
      inInit: 0x11111111,
      inDelta: 16,
      inPrevDelta: 0,
      outInit: 0x22222222,
      outDelta: 0xfffffff0,
      outPrevDelta: 0,
    },
  };
  const tpl: SyncConnRepr = {
    ...dr4(),
    flags: 0x1100,
    state: 0,
    cport: 0,
    timeout: 360,
    peData: Uint8Array.from([0x61, 0x62, 0x63]),
    peName: 'sip',
  };
  assert.equal(syncConnLen(seqConn, 1), 62);
  assert.equal(toHex(emit({ version: 1, syncid: 0, conns: [seqConn, tpl] })), toHex(g));
  assert.equal(syncCheck(g, 0, g.length), SyncResult.OK);
  const r = new SyncReader();
  r.reset(g, 0, g.length);
  assert.ok(r.next());
  assert.equal(r.seqOff, 8 + 36 + 2);
  assert.ok(r.next());
  assert.equal(r.off, 8 + 62 + 2, 'second conn after 2 bytes of padding');
  assert.equal(r.peDataLen, 3);
  assert.equal(r.peNameLen, 3);
  assert.ok(!r.next());
  assert.deepEqual(syncMsgParse(g, 0, g.length).conns, [seqConn, tpl]);
});

test('golden v0: one conn; a v1 message reads as an empty v0 message to the old format', () => {
  const g = hex(G_V0);
  assert.equal(toHex(emit({ version: 0, syncid: 5, conns: [dr4()] })), toHex(g));
  assert.equal(syncCheck(g, 0, g.length), SyncResult.OK);
  assert.equal(syncMsgVersion(g, 0, g.length), 0);
  assert.deepEqual(syncMsgParse(g, 0, g.length), {
    version: 0,
    syncid: 5,
    conns: [{ ...dr4(), timeout: 0 }],
  });
  // A v0-only receiver reads byte 0 as the conn count: a v1 message has 0 there.
  assert.equal(hex(G_V1_DR)[0], 0);
});

test(
  'tshark decodes the goldens it can (v1 without options, v0) to the same fields',
  { skip: tsharkSkip() },
  () => {
    const frames = [G_V1_DR, G_V1_TWO, G_V0].map((g) =>
      udp4({ src: '10.0.0.1', dst: '224.0.0.81', sport: 33000, dport: 8848, payload: hex(g) }),
    );
    const out = tsharkDecode(frames, [
      '-T',
      'fields',
      '-E',
      'separator=;',
      '-e',
      'ipvs.syncid',
      '-e',
      'ipvs.size',
      '-e',
      'ipvs.conncount',
      '-e',
      'ipvs.cport',
      '-e',
      'ipvs.dport',
      '-e',
      'ipvs.caddr',
      '-e',
      'ipvs.daddr',
      '-e',
      'ipvs.timeout',
      '-e',
      'ipvs.fwmark',
      '-e',
      'ipvs.caddr6',
      '-e',
      'ipvs.daddr6',
    ])
      .trim()
      .split('\n');
    assert.equal(out.length, 3);
    // tshark lists repeated fields comma-separated, one value per conn.
    assert.equal(out[0], '5;44;1;40000;8080;203.0.113.7;192.168.10.1;900;0x00000000;;');
    assert.equal(
      out[1],
      '5;116;2;40000,5353;8080,53;203.0.113.7;192.168.10.1;900,300;0x00000000,0x00000007;2001:db8::7;2001:db8::a0',
    );
    assert.equal(out[2], '5;28;1;40000;8080;203.0.113.7;192.168.10.1;;;;');
  },
);

// ---------------------------------------------------------------- framing checks

/** A v1 message around raw entry bytes, header size and count filled in. */
function v1msg(count: number, ...entries: Uint8Array[]): Uint8Array {
  const len = SYNC_V1_HLEN + entries.reduce((n, e) => n + e.length, 0);
  const b = new Uint8Array(len);
  syncMsgInit(b, 0, 1, 0);
  let o = SYNC_V1_HLEN;
  for (const e of entries) {
    b.set(e, o);
    o += e.length;
  }
  b[2] = len >>> 8;
  b[3] = len & 0xff;
  b[4] = count;
  return b;
}

/** The IPv4 entry of G_V1_DR with `extra` option bytes and its size field set to match (or `size`). */
function entry4(extra: number[] = [], size?: number): Uint8Array {
  const base = hex(G_V1_DR).slice(SYNC_V1_HLEN);
  const e = new Uint8Array(base.length + extra.length);
  e.set(base);
  e.set(extra, base.length);
  const s = size ?? e.length;
  e[2] = s >>> 8;
  e[3] = s & 0xff;
  return e;
}

const seq24 = new Array<number>(24).fill(0);

test('syncCheck refuses each framing error with its own code', () => {
  const cases: [string, Uint8Array, number, number?][] = [
    ['3 bytes', Uint8Array.from([0, 0, 0]), SyncResult.TRUNCATED],
    [
      'size field says 45',
      (() => {
        const b = hex(G_V1_DR);
        b[3] = 45;
        return b;
      })(),
      SyncResult.BAD_SIZE,
    ],
    ['two conns announced, one present', v1msg(2, entry4()), SyncResult.V1_CONN_TRUNCATED],
    ['entry size past the end', v1msg(1, entry4([], 40)), SyncResult.V1_CONN_OVERRUN],
    [
      'entry version 1',
      (() => {
        const e = entry4();
        e[2] |= 0x10;
        return v1msg(1, e);
      })(),
      SyncResult.V1_BAD_CONN_VERSION,
    ],
    [
      'type 2',
      (() => {
        const e = entry4();
        e[0] = 2;
        return v1msg(1, e);
      })(),
      SyncResult.V1_BAD_TYPE,
    ],
    ['size 30 < 36', v1msg(1, entry4([], 30)), SyncResult.V1_CONN_SHORT],
    [
      'IPv6 type in a 36-byte entry',
      (() => {
        const e = entry4();
        e[0] = 1;
        return v1msg(1, e);
      })(),
      SyncResult.V1_CONN_SHORT,
    ],
    ['a lone option byte', v1msg(1, entry4([1])), SyncResult.V1_OPT_TRUNCATED],
    ['option length 0', v1msg(1, entry4([2, 0])), SyncResult.V1_OPT_BAD_LEN],
    ['option past the entry', v1msg(1, entry4([2, 5, 1, 2])), SyncResult.V1_OPT_BAD_LEN],
    ['sequence data of 23 bytes', v1msg(1, entry4([1, 23, ...seq24.slice(1)])), SyncResult.V1_BAD_SEQ_OPT],
    [
      'sequence data twice',
      v1msg(1, entry4([1, 24, ...seq24, 0x41, 24, ...seq24])),
      SyncResult.V1_BAD_SEQ_OPT,
    ],
    ['PE data twice', v1msg(1, entry4([2, 1, 9, 2, 1, 9])), SyncResult.V1_BAD_PE_DATA],
    [
      'PE name of 17 bytes',
      v1msg(1, entry4([3, 17, ...new Array<number>(17).fill(0x61)])),
      SyncResult.V1_BAD_PE_NAME,
    ],
    [
      'v0: two conns announced, one present',
      (() => {
        const b = hex(G_V0);
        b[0] = 2;
        return b;
      })(),
      SyncResult.V0_CONN_TRUNCATED,
    ],
    [
      'v0: SEQ flag without the data',
      (() => {
        const b = hex(G_V0);
        b[24] |= 0x06;
        return b;
      })(),
      SyncResult.V0_CONN_TRUNCATED,
    ],
  ];
  for (const [name, b, want] of cases) assert.equal(syncCheck(b, 0, b.length), want, name);
  // Bounds outside the buffer.
  const g = hex(G_V1_DR);
  assert.equal(syncCheck(g, 1, g.length), SyncResult.TRUNCATED);
  assert.equal(syncCheck(g, -1, 4), SyncResult.TRUNCATED);
});

test('an unknown mandatory option skips its entry only; an optional one (bit 6) is ignored', () => {
  const mand = v1msg(2, entry4([9, 2, 0xaa, 0xbb]), entry4());
  assert.equal(syncCheck(mand, 0, mand.length), SyncResult.OK);
  const r = new SyncReader();
  r.reset(mand, 0, mand.length);
  assert.ok(r.next());
  assert.equal(r.unknownOpt, 9);
  assert.ok(r.next());
  assert.equal(r.unknownOpt, -1);
  assert.equal(r.cport, 40000);
  // Options after an unknown mandatory one are not looked at (the kernel stops there too).
  const after = v1msg(1, entry4([9, 1, 0, 2, 0]));
  assert.equal(syncCheck(after, 0, after.length), SyncResult.OK);
  const opt = v1msg(1, entry4([0x49, 2, 0xaa, 0xbb, 0x41, 24, ...seq24]));
  assert.equal(syncCheck(opt, 0, opt.length), SyncResult.OK);
  r.reset(opt, 0, opt.length);
  assert.ok(r.next());
  assert.equal(r.unknownOpt, -1);
  assert.equal(
    r.seqOff,
    SYNC_V1_HLEN + SYNC_V1_CONN4_LEN + 4 + 2,
    'seq data with bit 6 set is still seq data',
  );
});

test('a v1 header needs version 1 and zero reserved bytes, else it is read as v0', () => {
  const g = hex(G_V1_DR);
  for (const [at, v] of [
    [5, 2],
    [6, 1],
    [7, 1],
  ]) {
    const b = g.slice();
    b[at] = v;
    assert.equal(syncMsgVersion(b, 0, b.length), 0);
    // As v0 it announces 0 conns, which is well-formed and empty.
    assert.equal(syncCheck(b, 0, b.length), SyncResult.OK);
    assert.equal(syncMsgParse(b, 0, b.length).conns.length, 0);
  }
});

// ---------------------------------------------------------------- writer and round trips

const arbAddr6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const arbSeq = fc.record({
  inInit: fc.nat({ max: 0xffffffff }),
  inDelta: fc.nat({ max: 0xffffffff }),
  inPrevDelta: fc.nat({ max: 0xffffffff }),
  outInit: fc.nat({ max: 0xffffffff }),
  outDelta: fc.nat({ max: 0xffffffff }),
  outPrevDelta: fc.nat({ max: 0xffffffff }),
});

const arbConnV1: fc.Arbitrary<SyncConnRepr> = fc
  .record({
    v6: fc.boolean(),
    proto: fc.nat({ max: 255 }),
    flags: fc.nat({ max: 0xffffffff }),
    state: fc.nat({ max: 0xffff }),
    cport: fc.nat({ max: 0xffff }),
    vport: fc.nat({ max: 0xffff }),
    dport: fc.nat({ max: 0xffff }),
    fwmark: fc.nat({ max: 0xffffffff }),
    timeout: fc.nat({ max: 0xffffffff }),
    a: fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })),
    a6: fc.tuple(arbAddr6, arbAddr6, arbAddr6),
    seq: fc.option(arbSeq, { nil: undefined }),
    peData: fc.option(fc.uint8Array({ minLength: 1, maxLength: 255 }), { nil: undefined }),
    peName: fc.option(
      fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-_'), minLength: 1, maxLength: 16 }),
      {
        nil: undefined,
      },
    ),
  })
  .map((x) => {
    const c: SyncConnRepr = {
      af: x.v6 ? 6 : 4,
      proto: x.proto,
      flags: x.flags,
      state: x.state,
      cport: x.cport,
      vport: x.vport,
      dport: x.dport,
      fwmark: x.fwmark,
      timeout: x.timeout,
      caddr: x.v6 ? 0 : x.a[0],
      vaddr: x.v6 ? 0 : x.a[1],
      daddr: x.v6 ? 0 : x.a[2],
      caddr6: x.v6 ? x.a6[0] : null,
      vaddr6: x.v6 ? x.a6[1] : null,
      daddr6: x.v6 ? x.a6[2] : null,
    };
    if (x.seq) c.seq = { ...x.seq };
    if (x.peData) c.peData = x.peData;
    if (x.peName) c.peName = x.peName;
    return c;
  });

/** v0 conns: IPv4, 16-bit flags, sequence data exactly when the flags ask for it. */
const arbConnV0: fc.Arbitrary<SyncConnRepr> = fc
  .tuple(arbConnV1, fc.nat({ max: 0xffff }), arbSeq)
  .map(([c, flags, seq]) => {
    const v0: SyncConnRepr = {
      ...c,
      af: 4,
      flags,
      fwmark: 0,
      timeout: 0,
      caddr: c.caddr,
      caddr6: null,
      vaddr6: null,
      daddr6: null,
    };
    delete v0.seq;
    delete v0.peData;
    delete v0.peName;
    if ((flags & 0x600) !== 0) v0.seq = { ...seq };
    return v0;
  });

test('property: v1 messages round-trip through emit, check and parse', () => {
  fc.assert(
    fc.property(fc.nat({ max: 255 }), fc.array(arbConnV1, { maxLength: 12 }), (syncid, conns) => {
      const m: SyncMsgRepr = { version: 1, syncid, conns };
      const b = emit(m);
      assert.equal(syncCheck(b, 0, b.length), SyncResult.OK);
      assert.deepEqual(syncMsgParse(b, 0, b.length), m);
      // Every conn starts on a 32-bit boundary.
      const r = new SyncReader();
      r.reset(b, 0, b.length);
      while (r.next()) assert.equal(r.off % 4, 0);
    }),
  );
});

test('property: v0 messages round-trip (at an unaligned offset too)', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 255 }),
      fc.array(arbConnV0, { maxLength: 12 }),
      fc.nat({ max: 7 }),
      (syncid, conns, off) => {
        const m: SyncMsgRepr = { version: 0, syncid, conns };
        const n = syncMsgEmitLen(m);
        const b = new Uint8Array(off + n + 3).fill(0xa5);
        assert.equal(syncMsgEmit(m, b, off), n);
        assert.equal(syncCheck(b, off, n), SyncResult.OK);
        assert.deepEqual(syncMsgParse(b, off, n), m);
      },
    ),
  );
});

test('property: syncAppend fills up to maxlen, always takes a first conn, and stops at 255 conns', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<0 | 1>(0, 1),
      fc.integer({ min: 1, max: 3000 }),
      fc.array(arbConnV1, { minLength: 1, maxLength: 40 }),
      (version, maxlen, conns) => {
        const list =
          version === 0 ? conns.map((c) => ({ ...c, af: 4 as const, flags: c.flags & 0xffff })) : conns;
        const b = new Uint8Array(Math.max(maxlen, 512));
        syncMsgInit(b, 0, version, 9);
        let len = version === 1 ? 8 : 4;
        let n = 0;
        for (const c of list) {
          const r = syncAppend(b, 0, maxlen, c);
          if (r === SYNC_FULL) {
            assert.ok(n > 0, 'the first conn is always taken');
            const pad = version === 1 ? (4 - (len & 3)) & 3 : 0;
            assert.ok(len + pad + syncConnLen(c, version) > maxlen, 'refused only when it does not fit');
            break;
          }
          n++;
          len = r;
          if (n > 1) assert.ok(len <= maxlen);
        }
        assert.equal(syncCheck(b, 0, len), SyncResult.OK);
        assert.equal(syncMsgParse(b, 0, len).conns.length, n);
      },
    ),
  );
  // The count is one byte: the 256th conn goes to the next message.
  const b = new Uint8Array(65536);
  syncMsgInit(b, 0, 1, 0);
  let added = 0;
  while (syncAppend(b, 0, 65535, dr4()) !== SYNC_FULL) added++;
  assert.equal(added, SYNC_MAX_CONNS);
});

test('syncAppend refuses an IPv6 conn in a v0 message and a buffer too small for one conn', () => {
  const b = new Uint8Array(64);
  syncMsgInit(b, 0, 0, 1);
  assert.throws(() => syncAppend(b, 0, 1472, udp6()), RangeError);
  const small = new Uint8Array(20);
  syncMsgInit(small, 0, 1, 1);
  assert.throws(() => syncAppend(small, 0, 1472, dr4()), RangeError);
  const c = newSyncConnRepr();
  c.peName = 'x'.repeat(17);
  const big = new Uint8Array(200);
  syncMsgInit(big, 0, 1, 1);
  assert.throws(() => syncAppend(big, 0, 1472, c), RangeError);
});

// ---------------------------------------------------------------- fuzz

/** Random bytes, or a golden with a few bytes changed, truncated or extended. */
const arbInput = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(
      fc.constantFrom(G_V1_DR, G_V1_TWO, G_V1_OPTS, G_V0),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
      fc.integer({ min: -8, max: 8 }),
      fc.boolean(),
    )
    .map(([g, muts, grow, fixSize]) => {
      const src = hex(g);
      const b = new Uint8Array(Math.max(0, src.length + grow));
      b.set(src.subarray(0, Math.min(src.length, b.length)));
      for (const [at, v] of muts) if (b.length > 0) b[at % b.length] = v;
      // Keep the size field right half of the time, so the entry checks get exercised.
      if (fixSize && b.length >= 4) {
        b[2] = b.length >>> 8;
        b[3] = b.length & 0xff;
      }
      return b;
    }),
);

test('fuzz: syncCheck never throws; a checked message reads within its bounds', () => {
  const r = new SyncReader();
  fc.assert(
    fc.property(arbInput, fc.nat({ max: 3 }), (b, slack) => {
      const off = Math.min(slack, b.length);
      const len = b.length - off;
      const res = syncCheck(b, off, len);
      assert.ok(RESULTS.has(res));
      if (res !== SyncResult.OK) return;
      r.reset(b, off, len);
      let n = 0;
      while (r.next()) {
        n++;
        const aw = r.af === 6 ? 16 : 4;
        assert.ok(r.off >= off && r.off + r.len <= off + len, 'entry inside the message');
        assert.ok(r.daddrOff + aw <= r.off + r.len, 'addresses inside the entry');
        if (r.seqOff >= 0) assert.ok(r.seqOff + 24 <= off + len);
        if (r.peDataOff >= 0) assert.ok(r.peDataOff + r.peDataLen <= r.off + r.len);
        if (r.peNameOff >= 0) assert.ok(r.peNameOff + r.peNameLen <= r.off + r.len && r.peNameLen <= 16);
      }
      assert.equal(n, r.count);
      syncMsgParse(b, off, len);
    }),
    { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: 2500 },
  );
});

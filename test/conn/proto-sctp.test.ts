import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnFlag, Fwd } from '../../src/model/flags.ts';
import {
  SCTP_STATE_NAMES,
  SctpChunk,
  sctpNextState,
  sctpStateChunkType,
  sctpStateTransition,
} from '../../src/conn/proto-sctp.ts';
import { Dir } from '../../src/conn/types.ts';
import { CIP, conn4, countBound, setup } from './helpers.ts';
import { hex } from '../helpers/bytes.ts';

// Reference: sctp_states of ip_vs_proto_sctp.c (kernel 6.x) transcribed column by column, i.e.
// per current state the next state for the events DATA INIT INIT_ACK COOKIE_ECHO COOKIE_ACK
// SHUTDOWN SHUTDOWN_ACK SHUTDOWN_COMPLETE ERROR ABORT. Codes: NO I1 IN CS CR CW CO CE ES SS SR SA
// RJ CL in the kernel's state order. The implementation keeps the rows, so slips show up.
const CODES = ['NO', 'I1', 'IN', 'CS', 'CR', 'CW', 'CO', 'CE', 'ES', 'SS', 'SR', 'SA', 'RJ', 'CL'];
const REF_TEXT = {
  in: `
    NO: ES I1 CW CR ES SR CL CL CL CL
    I1: I1 IN CW IN I1 I1 IN CL I1 CL
    IN: IN IN CW IN IN IN IN CL IN CL
    CS: CS CS CS CR CS CS CS CS CS CL
    CR: CR CR CR CR CR CR CR CR CR CL
    CW: CW CW CO CW CW CW CW CW CW RJ
    CO: CO CO CO CO CO CO CO CO CO CL
    CE: CE CE CE CE ES CE CE CE CL CL
    ES: ES ES ES ES ES SR ES ES ES CL
    SS: SS SS SS SS SS SS CL SS SS CL
    SR: SR SR SR SR SR SR SR SR SR CL
    SA: SA SA SA SA SA SA CL CL SA CL
    RJ: RJ IN RJ RJ RJ RJ RJ RJ RJ CL
    CL: CL IN CL CL CL CL CL CL CL CL`,
  out: `
    NO: ES CW CS CE ES SS SA CL CL CL
    I1: I1 CW CS CE ES SS SA I1 CL RJ
    IN: IN CW CS CE ES SS SA IN CL CL
    CS: CS CW CS CE ES SS SA CS CL CL
    CR: CR CW CR CE ES SS SA CR CL CL
    CW: CW CW CW CE ES SS CW CW CW CL
    CO: CO CW CO CE ES SS CO CO CO CL
    CE: CE CW CE CE ES SS CE CE CE CL
    ES: ES ES ES ES ES SS ES ES ES CL
    SS: SS CW SS SS SS SS SA SS SS CL
    SR: SR CW SR SR SR SR SA SR SR CL
    SA: SA CW SA SA SA SA SA SA SA CL
    RJ: RJ CW RJ RJ RJ RJ RJ RJ RJ CL
    CL: CL CW CL CL CL CL CL CL CL CL`,
  inOnly: `
    NO: ES I1 CE ES ES SR CL CL CL CL
    I1: I1 IN CE ES I1 I1 IN CL I1 CL
    IN: IN IN CE ES IN IN IN CL IN CL
    CS: CS IN CE ES ES CS CS CL CS CL
    CR: CR IN CE ES ES CR CR CL CR CL
    CW: ES IN CE ES CW CW CW CW CW RJ
    CO: CO CO CO CO ES CO CO CO CO CL
    CE: CE CE CE CE ES CE CE CE CE CL
    ES: ES ES ES ES ES SR CL ES ES CL
    SS: SS SS SS SS SS SS CL SS SS CL
    SR: SR SR SR SR SR SR SR CL SR CL
    SA: SA SA SA SA SA SA CL CL SA CL
    RJ: RJ IN RJ RJ RJ RJ RJ RJ RJ CL
    CL: CL IN CL CL CL CL CL CL CL CL`,
};
/** One representative chunk type per event, in the event order of the reference rows. */
const EVENT_CHUNKS = [
  SctpChunk.DATA,
  SctpChunk.INIT,
  SctpChunk.INIT_ACK,
  SctpChunk.COOKIE_ECHO,
  SctpChunk.COOKIE_ACK,
  SctpChunk.SHUTDOWN,
  SctpChunk.SHUTDOWN_ACK,
  SctpChunk.SHUTDOWN_COMPLETE,
  SctpChunk.ERROR,
  SctpChunk.ABORT,
];
/** sctp_events: the chunk types that act as DATA. */
const DATA_LIKE = [
  SctpChunk.SACK,
  SctpChunk.HEARTBEAT,
  SctpChunk.HEARTBEAT_ACK,
  SctpChunk.ECNE,
  SctpChunk.CWR,
  15,
  0x80,
  0xc1,
  255,
];

function parseRef(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of text.trim().split('\n')) {
    const [s, rest] = line.trim().split(':');
    out[s] = rest.trim().split(/\s+/);
  }
  return out;
}
const REF = { in: parseRef(REF_TEXT.in), out: parseRef(REF_TEXT.out), inOnly: parseRef(REF_TEXT.inOnly) };

function refEvent(chunk: number): number {
  const i = EVENT_CHUNKS.indexOf(chunk as (typeof EVENT_CHUNKS)[number]);
  return i < 0 ? 0 : i;
}

/** sctp_timeouts (seconds) by code: 2, 4 for INIT1 and REJECTED, 900 established, else 61. */
function refTimeoutS(code: string): number {
  if (code === 'NO') return 2;
  if (code === 'I1' || code === 'RJ') return 4;
  if (code === 'ES') return 900;
  return 61;
}

test('state names are the kernel sctp_state_name_table', () => {
  assert.deepEqual(
    [...SCTP_STATE_NAMES],
    [
      'NONE',
      'INIT1',
      'INIT',
      'C-SENT',
      'C-REPLIED',
      'C-WAIT',
      'COOKIE',
      'C-ECHOED',
      'ESTABLISHED',
      'S-SENT',
      'S-RECEIVED',
      'S-ACK-SENT',
      'REJECTED',
      'CLOSED',
    ],
  );
});

test('every table cell equals the transposed reference; unknown chunks act as DATA', () => {
  for (const [dir, key] of [
    [Dir.INPUT, 'in'],
    [Dir.OUTPUT, 'out'],
    [Dir.INPUT_ONLY, 'inOnly'],
  ] as const) {
    for (let s = 0; s < CODES.length; s++) {
      EVENT_CHUNKS.forEach((chunk, e) => {
        assert.equal(
          CODES[sctpNextState(dir, chunk, s)],
          REF[key][CODES[s]][e],
          `${key} ${CODES[s]} event ${e}`,
        );
      });
      for (const chunk of DATA_LIKE) assert.equal(CODES[sctpNextState(dir, chunk, s)], REF[key][CODES[s]][0]);
    }
  }
});

test('NAT association: INIT, INIT-ACK(out), COOKIE-ECHO, COOKIE-ACK(out), DATA, SHUTDOWN…', () => {
  const env = setup({ fwd: Fwd.MASQ, proto: 132 });
  const { t } = env;
  const d = env.d[0];
  const id = conn4(env, 132, CIP, 5000, d, 0);
  const steps: [Dir, number, string, number, boolean][] = [
    [Dir.INPUT, SctpChunk.INIT, 'INIT1', 4, false],
    [Dir.OUTPUT, SctpChunk.INIT_ACK, 'C-SENT', 61, false],
    [Dir.INPUT, SctpChunk.COOKIE_ECHO, 'C-REPLIED', 61, false],
    [Dir.OUTPUT, SctpChunk.COOKIE_ACK, 'ESTABLISHED', 900, true],
    [Dir.INPUT, SctpChunk.DATA, 'ESTABLISHED', 900, true],
    [Dir.INPUT, SctpChunk.SHUTDOWN, 'S-RECEIVED', 61, false],
    [Dir.OUTPUT, SctpChunk.SHUTDOWN_ACK, 'S-ACK-SENT', 61, false],
    [Dir.INPUT, SctpChunk.SHUTDOWN_COMPLETE, 'CLOSED', 61, false],
  ];
  for (const [dir, chunk, name, timeoutS, active] of steps) {
    sctpStateTransition(t, id, dir, chunk);
    assert.equal(t.stateName(id), name);
    assert.equal(t.getTimeout(id), timeoutS * 1000);
    assert.equal(d.activeConns, active ? 1 : 0, name);
    assert.equal(d.inactConns, active ? 0 : 1, name);
  }
  assert.equal(t.isNewConnExpected(id, 1), true, 'SCTP CLOSED may be rescheduled');
});

test('DR association is input-only: INIT → INIT1, COOKIE-ECHO → ESTABLISHED, ABORT → CLOSED', () => {
  const env = setup({ fwd: Fwd.DROUTE, proto: 132 });
  const { t } = env;
  const id = conn4(env, 132, CIP, 5001, env.d[0], 0);
  assert.ok(t.getFlags(id) & ConnFlag.NOOUTPUT);
  sctpStateTransition(t, id, Dir.INPUT, SctpChunk.INIT);
  assert.equal(t.stateName(id), 'INIT1');
  sctpStateTransition(t, id, Dir.INPUT, SctpChunk.COOKIE_ECHO);
  assert.equal(t.stateName(id), 'ESTABLISHED');
  assert.equal(env.d[0].activeConns, 1);
  sctpStateTransition(t, id, Dir.INPUT, SctpChunk.ABORT);
  assert.equal(t.stateName(id), 'CLOSED');
  assert.equal(env.d[0].activeConns, 0);
});

test('a packet without a chunk header changes nothing (chunk type -1)', () => {
  const env = setup({ proto: 132 });
  const { t } = env;
  const id = conn4(env, 132, CIP, 5002, env.d[0], 0);
  sctpStateTransition(t, id, Dir.INPUT, -1);
  assert.equal(t.stateName(id), 'NONE');
  assert.equal(t.getTimeout(id), 3000);
});

test('COOKIE ECHO bundled with a following ABORT counts as ABORT', () => {
  // SCTP common header (ports 5000→80, vtag, crc zeroed) then chunks, built by hand per RFC 9260:
  // COOKIE ECHO (type 10) of length 7 padded to 8, then ABORT (type 6, length 4).
  const pkt = hex(`
    1388 0050 00000001 00000000
    0a 00 0007 aabbcc 00
    06 00 0004`);
  assert.equal(sctpStateChunkType(pkt, 12, pkt.length), SctpChunk.ABORT);
  // Same with a DATA after the cookie: stays COOKIE ECHO.
  const pkt2 = Uint8Array.from(pkt);
  pkt2[20] = SctpChunk.DATA;
  assert.equal(sctpStateChunkType(pkt2, 12, pkt2.length), SctpChunk.COOKIE_ECHO);
  // Truncated before the second chunk header: the first chunk decides.
  assert.equal(sctpStateChunkType(pkt, 12, pkt.length - 1), SctpChunk.COOKIE_ECHO);
  // A chunk length below 4 is not followed.
  const pkt3 = Uint8Array.from(pkt);
  pkt3[15] = 2;
  assert.equal(sctpStateChunkType(pkt3, 12, pkt3.length), SctpChunk.COOKIE_ECHO);
  // No room for a chunk header at all.
  assert.equal(sctpStateChunkType(pkt, 12, 15), -1);
  // Any other first chunk is taken as is, even with an ABORT behind it.
  const pkt4 = Uint8Array.from(pkt);
  pkt4[12] = SctpChunk.SACK;
  assert.equal(sctpStateChunkType(pkt4, 12, pkt4.length), SctpChunk.SACK);
});

test('property: random chunks in random directions follow the reference; counters stay right', () => {
  const chunkArb = fc.oneof(fc.constantFrom(...EVENT_CHUNKS), fc.constantFrom(...DATA_LIKE));
  fc.assert(
    fc.property(
      fc.constantFrom(Fwd.MASQ, Fwd.DROUTE),
      fc.array(fc.array(fc.record({ out: fc.boolean(), chunk: chunkArb }), { maxLength: 14 }), {
        minLength: 1,
        maxLength: 5,
      }),
      (fwd, flows) => {
        const env = setup({ fwd, proto: 132 });
        const { t } = env;
        const d = env.d[0];
        flows.forEach((pkts, i) => {
          const id = conn4(env, 132, CIP, 7000 + i, d, 0);
          let code = 'NO';
          let noOutput = fwd === Fwd.DROUTE;
          for (const p of pkts) {
            let table: 'in' | 'out' | 'inOnly' = p.out ? 'out' : 'in';
            if (noOutput) {
              if (p.out) noOutput = false;
              else table = 'inOnly';
            }
            code = REF[table][code][refEvent(p.chunk)];
            sctpStateTransition(t, id, p.out ? Dir.OUTPUT : Dir.INPUT, p.chunk);
            assert.equal(CODES[t.getState(id)], code);
            assert.equal(t.getTimeout(id), refTimeoutS(code) * 1000);
            assert.equal((t.getFlags(id) & ConnFlag.INACTIVE) === 0, code === 'ES');
          }
        });
        const c = countBound(t, d.id);
        assert.equal(d.activeConns, c.active);
        assert.equal(d.inactConns, c.inactive);
      },
    ),
    { numRuns: 300 },
  );
});

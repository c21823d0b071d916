import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnFlag, Fwd } from '../../src/model/flags.ts';
import {
  TCP_STATE_ACTIVE,
  TCP_STATE_NAMES,
  TcpFlag,
  TcpState,
  tcpConnListen,
  tcpNextState,
  tcpStateIdx,
  tcpStateTransition,
} from '../../src/conn/proto-tcp.ts';
import { Dir } from '../../src/conn/types.ts';
import { CIP, conn4, countBound, setup } from './helpers.ts';

// Reference tables, transcribed column by column from ip_vs_proto_tcp.c (tcp_states and
// tcp_states_dos, kernel 6.x): for each current state, the next state on syn / fin / ack / rst.
// The implementation stores the same data row by row, so a transcription slip in either shows up.
const NAMES = [
  'NONE',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'SYNACK',
];
const REF_TEXT: Record<'normal' | 'dos', Record<'in' | 'out' | 'inOnly', string>> = {
  normal: {
    in: `
      NONE: SYN_RECV CLOSE ESTABLISHED CLOSE
      ESTABLISHED: ESTABLISHED CLOSE_WAIT ESTABLISHED CLOSE
      SYN_SENT: ESTABLISHED SYN_SENT SYN_SENT CLOSE
      SYN_RECV: SYN_RECV TIME_WAIT ESTABLISHED SYN_RECV
      FIN_WAIT: SYN_RECV TIME_WAIT FIN_WAIT CLOSE
      TIME_WAIT: SYN_RECV TIME_WAIT TIME_WAIT CLOSE
      CLOSE: SYN_RECV CLOSE CLOSE CLOSE
      CLOSE_WAIT: SYN_RECV CLOSE_WAIT CLOSE_WAIT CLOSE
      LAST_ACK: SYN_RECV LAST_ACK CLOSE LAST_ACK
      LISTEN: SYN_RECV LISTEN LISTEN LISTEN
      SYNACK: SYN_RECV TIME_WAIT ESTABLISHED SYN_RECV`,
    out: `
      NONE: SYN_SENT TIME_WAIT ESTABLISHED CLOSE
      ESTABLISHED: ESTABLISHED FIN_WAIT ESTABLISHED CLOSE
      SYN_SENT: SYN_SENT SYN_SENT SYN_SENT SYN_SENT
      SYN_RECV: SYN_RECV TIME_WAIT ESTABLISHED CLOSE
      FIN_WAIT: SYN_SENT FIN_WAIT FIN_WAIT CLOSE
      TIME_WAIT: SYN_SENT TIME_WAIT TIME_WAIT TIME_WAIT
      CLOSE: SYN_SENT CLOSE CLOSE CLOSE
      CLOSE_WAIT: SYN_SENT TIME_WAIT CLOSE_WAIT CLOSE
      LAST_ACK: SYN_SENT LAST_ACK LAST_ACK CLOSE
      LISTEN: LISTEN LISTEN ESTABLISHED CLOSE
      SYNACK: SYN_RECV TIME_WAIT ESTABLISHED CLOSE`,
    inOnly: `
      NONE: SYN_RECV CLOSE ESTABLISHED CLOSE
      ESTABLISHED: ESTABLISHED FIN_WAIT ESTABLISHED CLOSE
      SYN_SENT: ESTABLISHED SYN_SENT SYN_SENT CLOSE
      SYN_RECV: SYN_RECV TIME_WAIT ESTABLISHED SYN_RECV
      FIN_WAIT: SYN_RECV FIN_WAIT FIN_WAIT CLOSE
      TIME_WAIT: SYN_RECV TIME_WAIT TIME_WAIT CLOSE
      CLOSE: SYN_RECV CLOSE CLOSE CLOSE
      CLOSE_WAIT: SYN_RECV CLOSE_WAIT CLOSE_WAIT CLOSE
      LAST_ACK: SYN_RECV LAST_ACK CLOSE LAST_ACK
      LISTEN: SYN_RECV LISTEN LISTEN LISTEN
      SYNACK: SYN_RECV TIME_WAIT ESTABLISHED CLOSE`,
  },
  dos: {
    in: `
      NONE: SYN_RECV CLOSE ESTABLISHED CLOSE
      ESTABLISHED: ESTABLISHED CLOSE_WAIT ESTABLISHED CLOSE
      SYN_SENT: ESTABLISHED SYN_SENT SYN_SENT CLOSE
      SYN_RECV: SYN_RECV TIME_WAIT SYN_RECV SYN_RECV
      FIN_WAIT: SYN_RECV TIME_WAIT FIN_WAIT CLOSE
      TIME_WAIT: SYN_RECV TIME_WAIT TIME_WAIT CLOSE
      CLOSE: SYN_RECV CLOSE CLOSE CLOSE
      CLOSE_WAIT: SYN_RECV CLOSE_WAIT CLOSE_WAIT CLOSE
      LAST_ACK: SYN_RECV LAST_ACK CLOSE LAST_ACK
      LISTEN: SYN_RECV LISTEN LISTEN LISTEN
      SYNACK: SYNACK SYNACK SYNACK CLOSE`,
    out: `
      NONE: SYN_SENT TIME_WAIT ESTABLISHED CLOSE
      ESTABLISHED: ESTABLISHED FIN_WAIT ESTABLISHED CLOSE
      SYN_SENT: SYN_SENT SYN_SENT SYN_SENT SYN_SENT
      SYN_RECV: SYNACK TIME_WAIT ESTABLISHED CLOSE
      FIN_WAIT: SYN_SENT FIN_WAIT FIN_WAIT CLOSE
      TIME_WAIT: SYN_SENT TIME_WAIT TIME_WAIT TIME_WAIT
      CLOSE: SYN_SENT CLOSE CLOSE CLOSE
      CLOSE_WAIT: SYN_SENT TIME_WAIT CLOSE_WAIT CLOSE
      LAST_ACK: SYN_SENT LAST_ACK LAST_ACK CLOSE
      LISTEN: LISTEN LISTEN ESTABLISHED CLOSE
      SYNACK: SYNACK TIME_WAIT ESTABLISHED CLOSE`,
    inOnly: `
      NONE: SYNACK CLOSE ESTABLISHED CLOSE
      ESTABLISHED: ESTABLISHED FIN_WAIT ESTABLISHED CLOSE
      SYN_SENT: ESTABLISHED SYN_SENT SYN_SENT CLOSE
      SYN_RECV: SYN_RECV TIME_WAIT ESTABLISHED SYN_RECV
      FIN_WAIT: SYNACK FIN_WAIT FIN_WAIT CLOSE
      TIME_WAIT: SYNACK TIME_WAIT TIME_WAIT CLOSE
      CLOSE: SYNACK CLOSE CLOSE CLOSE
      CLOSE_WAIT: SYNACK CLOSE_WAIT CLOSE_WAIT CLOSE
      LAST_ACK: SYNACK LAST_ACK CLOSE LAST_ACK
      LISTEN: SYNACK LISTEN LISTEN LISTEN
      SYNACK: SYNACK TIME_WAIT ESTABLISHED CLOSE`,
  },
};

type Row = 'syn' | 'fin' | 'ack' | 'rst';
type RefTable = Record<string, Record<Row, string>>;

function parseRef(text: string): RefTable {
  const out: RefTable = {};
  for (const line of text.trim().split('\n')) {
    const [state, rest] = line.trim().split(':');
    const [syn, fin, ack, rst] = rest.trim().split(/\s+/);
    out[state] = { syn, fin, ack, rst };
  }
  return out;
}
const REF = {
  normal: {
    in: parseRef(REF_TEXT.normal.in),
    out: parseRef(REF_TEXT.normal.out),
    inOnly: parseRef(REF_TEXT.normal.inOnly),
  },
  dos: {
    in: parseRef(REF_TEXT.dos.in),
    out: parseRef(REF_TEXT.dos.out),
    inOnly: parseRef(REF_TEXT.dos.inOnly),
  },
};
/** tcp_state_active_table, by name. */
const ACTIVE_NAMES = new Set(['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'SYNACK']);
/** tcp_timeouts (seconds), by name. */
const TIMEOUT_S: Record<string, number> = {
  NONE: 2,
  ESTABLISHED: 900,
  SYN_SENT: 120,
  SYN_RECV: 60,
  FIN_WAIT: 120,
  TIME_WAIT: 120,
  CLOSE: 10,
  CLOSE_WAIT: 60,
  LAST_ACK: 30,
  LISTEN: 120,
  SYNACK: 120,
};

/** The naive reference for one packet: flag precedence, NOOUTPUT handling and table lookup. */
function refStep(
  cur: { state: string; noOutput: boolean },
  dir: 'in' | 'out',
  thFlags: number,
  dos: boolean,
): { state: string; noOutput: boolean } {
  let table: 'in' | 'out' | 'inOnly' = dir;
  let noOutput = cur.noOutput;
  if (noOutput) {
    if (dir === 'out') noOutput = false;
    else table = 'inOnly';
  }
  let row: Row | null = null;
  if (thFlags & 0x04) row = 'rst';
  else if (thFlags & 0x02) row = 'syn';
  else if (thFlags & 0x01) row = 'fin';
  else if (thFlags & 0x10) row = 'ack';
  const state = row === null ? 'CLOSE' : REF[dos ? 'dos' : 'normal'][table][cur.state][row];
  return { state, noOutput };
}

const SYN = TcpFlag.SYN;
const ACK = TcpFlag.ACK;
const FIN = TcpFlag.FIN | TcpFlag.ACK;
const RST = TcpFlag.RST;
const SYNACK = TcpFlag.SYN | TcpFlag.ACK;

test('state names are what ipvsadm -lc prints (tcp_state_name_table)', () => {
  assert.deepEqual([...TCP_STATE_NAMES], NAMES);
  for (let s = 0; s < NAMES.length; s++)
    assert.equal(TCP_STATE_ACTIVE[s] === 1, ACTIVE_NAMES.has(NAMES[s]), NAMES[s]);
});

test('the implementation tables equal the transposed reference for every cell', () => {
  for (const dos of [false, true]) {
    for (const [dir, key] of [
      [Dir.INPUT, 'in'],
      [Dir.OUTPUT, 'out'],
      [Dir.INPUT_ONLY, 'inOnly'],
    ] as const) {
      for (let s = 0; s < NAMES.length; s++) {
        for (const [flag, row] of [
          [SYN, 'syn'],
          [TcpFlag.FIN, 'fin'],
          [ACK, 'ack'],
          [RST, 'rst'],
        ] as const) {
          const got = NAMES[tcpNextState(dos, dir, flag, s)];
          assert.equal(
            got,
            REF[dos ? 'dos' : 'normal'][key][NAMES[s]][row],
            `${dos} ${key} ${NAMES[s]} ${row}`,
          );
        }
      }
    }
  }
});

test('flag precedence: rst, then syn, then fin, then ack; no flag at all means CLOSE', () => {
  assert.equal(tcpStateIdx(RST | SYN | FIN | ACK), 3);
  assert.equal(tcpStateIdx(SYN | FIN | ACK), 0);
  assert.equal(tcpStateIdx(FIN | ACK), 1);
  assert.equal(tcpStateIdx(ACK | TcpFlag.PSH), 2);
  assert.equal(tcpStateIdx(TcpFlag.PSH | TcpFlag.URG), -1);
  assert.equal(tcpNextState(false, Dir.INPUT, TcpFlag.PSH, TcpState.ESTABLISHED), TcpState.CLOSE);
});

test('NAT flow SYN / SYN-ACK(out) / ACK / FIN / FIN(out) / ACK, with counters and timeouts', () => {
  const env = setup({ fwd: Fwd.MASQ });
  const { t } = env;
  const d = env.d[0];
  const id = conn4(env, 6, CIP, 40000, d, 0);
  assert.equal(t.stateName(id), 'NONE');
  assert.equal(t.getTimeout(id), 3000);
  assert.equal(d.inactConns, 1);
  assert.equal(d.activeConns, 0);
  const steps: [Dir, number, string, number, boolean][] = [
    [Dir.INPUT, SYN, 'SYN_RECV', 60, true],
    [Dir.OUTPUT, SYNACK, 'SYN_RECV', 60, true],
    [Dir.INPUT, ACK, 'ESTABLISHED', 900, true],
    [Dir.INPUT, FIN, 'CLOSE_WAIT', 60, false],
    [Dir.OUTPUT, FIN, 'TIME_WAIT', 120, false],
    [Dir.INPUT, ACK, 'TIME_WAIT', 120, false],
  ];
  for (const [dir, flags, name, timeoutS, active] of steps) {
    tcpStateTransition(t, id, dir, flags);
    assert.equal(t.stateName(id), name);
    assert.equal(t.getTimeout(id), timeoutS * 1000);
    assert.equal(d.activeConns, active ? 1 : 0, name);
    assert.equal(d.inactConns, active ? 0 : 1, name);
    assert.equal((t.getFlags(id) & ConnFlag.INACTIVE) === 0, active);
  }
});

test('DR flow is input-only: SYN / ACK / FIN / ACK / RST → SR, ES, FW, FW, CLOSE', () => {
  const env = setup({ fwd: Fwd.DROUTE });
  const { t } = env;
  const d = env.d[0];
  const id = conn4(env, 6, CIP, 40001, d, 0);
  assert.ok(t.getFlags(id) & ConnFlag.NOOUTPUT, 'DR conns inherit NOOUTPUT from the dest');
  const expect = ['SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'FIN_WAIT', 'CLOSE'];
  [SYN, ACK, FIN, ACK, RST].forEach((f, i) => {
    tcpStateTransition(t, id, Dir.INPUT, f);
    assert.equal(t.stateName(id), expect[i]);
  });
  // The same FIN in the plain INPUT rows would have given CLOSE_WAIT, not FIN_WAIT.
  assert.equal(tcpNextState(false, Dir.INPUT, FIN, TcpState.ESTABLISHED), TcpState.CLOSE_WAIT);
  assert.equal(d.activeConns, 0);
  assert.equal(d.inactConns, 1);
  assert.equal(t.getTimeout(id), 10_000);
});

test('an OUTPUT packet clears NOOUTPUT, so later input uses the INPUT rows', () => {
  const env = setup({ fwd: Fwd.TUNNEL });
  const { t } = env;
  const id = conn4(env, 6, CIP, 40002, env.d[0], 0);
  tcpStateTransition(t, id, Dir.INPUT, SYN);
  tcpStateTransition(t, id, Dir.INPUT, ACK);
  tcpStateTransition(t, id, Dir.OUTPUT, ACK);
  assert.equal(t.getFlags(id) & ConnFlag.NOOUTPUT, 0);
  tcpStateTransition(t, id, Dir.INPUT, FIN);
  assert.equal(t.stateName(id), 'CLOSE_WAIT');
});

test('RST cases: from ESTABLISHED, from NONE, RST+SYN counts as RST, RST in SYN_RECV stays', () => {
  const env = setup();
  const { t } = env;
  const d = env.d[0];
  const a = conn4(env, 6, CIP, 1, d, 0);
  tcpStateTransition(t, a, Dir.INPUT, SYN);
  tcpStateTransition(t, a, Dir.INPUT, ACK);
  tcpStateTransition(t, a, Dir.INPUT, RST);
  assert.equal(t.stateName(a), 'CLOSE');
  const b = conn4(env, 6, CIP, 2, d, 0);
  tcpStateTransition(t, b, Dir.INPUT, RST | SYN);
  assert.equal(t.stateName(b), 'CLOSE');
  const c = conn4(env, 6, CIP, 3, d, 0);
  tcpStateTransition(t, c, Dir.INPUT, SYN);
  tcpStateTransition(t, c, Dir.INPUT, RST);
  assert.equal(
    t.stateName(c),
    'SYN_RECV',
    'an input RST in SYN_RECV keeps it (tcp_states input rst column sSR)',
  );
  tcpStateTransition(t, c, Dir.OUTPUT, RST);
  assert.equal(t.stateName(c), 'CLOSE');
  assert.deepEqual(countBound(t, d.id), { active: d.activeConns, inactive: d.inactConns, persist: 0 });
  assert.equal(d.activeConns, 0);
});

test('secure_tcp > 1 switches to tcp_states_dos: NAT SYN-ACK from the RS gives SYNACK', () => {
  const env = setup();
  const { t } = env;
  env.settings.secureTcp = 3;
  const id = conn4(env, 6, CIP, 5, env.d[0], 0);
  tcpStateTransition(t, id, Dir.INPUT, SYN);
  tcpStateTransition(t, id, Dir.INPUT, ACK);
  assert.equal(t.stateName(id), 'SYN_RECV', 'a client ACK alone does not establish in defence mode');
  tcpStateTransition(t, id, Dir.OUTPUT, SYNACK);
  assert.equal(t.stateName(id), 'SYNACK');
  assert.equal(t.getTimeout(id), 120_000);
  env.settings.secureTcp = 1; // automatic but not triggered: the normal table again
  tcpStateTransition(t, id, Dir.INPUT, ACK);
  assert.equal(t.stateName(id), 'ESTABLISHED');
});

test('timeouts changed with --set apply on the next packet', () => {
  const env = setup();
  const { t } = env;
  const id = conn4(env, 6, CIP, 6, env.d[0], 0);
  tcpStateTransition(t, id, Dir.INPUT, SYN);
  tcpStateTransition(t, id, Dir.INPUT, ACK);
  assert.equal(t.getTimeout(id), 900_000);
  assert.ok(env.timeouts.set(3600, 0, 0));
  tcpStateTransition(t, id, Dir.INPUT, ACK);
  assert.equal(t.getTimeout(id), 3_600_000);
});

test('LISTEN (ip_vs_tcp_conn_listen) sets state and timeout without moving counters', () => {
  const env = setup();
  const { t } = env;
  const d = env.d[0];
  const id = conn4(env, 6, CIP, 7, d, 0);
  tcpConnListen(t, id);
  assert.equal(t.stateName(id), 'LISTEN');
  assert.equal(t.getTimeout(id), 120_000);
  assert.equal(d.inactConns, 1);
});

test('property: random packets follow the reference tables; counters and flags stay consistent', () => {
  const pkt = fc.record({
    dir: fc.constantFrom<'in' | 'out'>('in', 'out'),
    flags: fc.constantFrom(SYN, SYNACK, ACK, FIN, RST, RST | ACK, TcpFlag.PSH | ACK, 0, TcpFlag.URG),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(Fwd.MASQ, Fwd.DROUTE, Fwd.TUNNEL, Fwd.FULLNAT),
      fc.constantFrom(0, 1, 2, 3),
      fc.array(fc.array(pkt, { maxLength: 12 }), { minLength: 1, maxLength: 6 }),
      (fwd, secure, flows) => {
        const env = setup({ fwd });
        env.settings.secureTcp = secure;
        const { t } = env;
        const d = env.d[0];
        flows.forEach((packets, i) => {
          const id = conn4(env, 6, CIP, 1000 + i, d, 0);
          let ref = { state: 'NONE', noOutput: (t.getFlags(id) & ConnFlag.NOOUTPUT) !== 0 };
          assert.equal(ref.noOutput, fwd === Fwd.DROUTE || fwd === Fwd.TUNNEL);
          for (const p of packets) {
            ref = refStep(ref, p.dir, p.flags, secure > 1);
            tcpStateTransition(t, id, p.dir === 'in' ? Dir.INPUT : Dir.OUTPUT, p.flags);
            assert.equal(t.stateName(id), ref.state);
            assert.equal((t.getFlags(id) & ConnFlag.NOOUTPUT) !== 0, ref.noOutput);
            assert.equal(t.getTimeout(id), TIMEOUT_S[ref.state] * 1000);
            // A conn that was born INACTIVE in NONE is inactive exactly in the inactive states.
            assert.equal((t.getFlags(id) & ConnFlag.INACTIVE) === 0, ACTIVE_NAMES.has(ref.state));
          }
        });
        const c = countBound(t, d.id);
        assert.equal(d.activeConns, c.active);
        assert.equal(d.inactConns, c.inactive);
        assert.equal(d.activeConns + d.inactConns, flows.length);
      },
    ),
    { numRuns: 300 },
  );
});

/**
 * The IPVS TCP state machine (ip_vs_proto_tcp.c). IPVS does not track sequence numbers: the next
 * state is a table lookup on (direction, the packet's most significant flag, current state), and
 * each state has a timeout. Activity (ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK) decides whether the
 * conn counts in the dest's ActiveConn or InActConn, which is what lc/wlc schedule on.
 */
import { ConnFlag } from '../model/flags.ts';
import { secureTcpActive } from './settings.ts';
import type { ConnTable } from './table.ts';
import { Dir } from './types.ts';

/** IP_VS_TCP_S_* */
export const TcpState = {
  NONE: 0,
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT: 4,
  TIME_WAIT: 5,
  CLOSE: 6,
  CLOSE_WAIT: 7,
  LAST_ACK: 8,
  LISTEN: 9,
  SYNACK: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];
export const TCP_STATE_COUNT = 11;

/** tcp_state_name_table: exactly what `ipvsadm -lc` prints in the state column. */
export const TCP_STATE_NAMES: readonly string[] = [
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

/** tcp_timeouts, in seconds, by state. */
export const TCP_DEFAULT_TIMEOUTS_S: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];

/** tcp_state_active_table: 1 where the conn counts as active. */
export const TCP_STATE_ACTIVE: Uint8Array = Uint8Array.from([0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]);

/** TCP header flag bits (byte 13 of the header). */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

/** Row groups of the state tables (TCP_DIR_INPUT / OUTPUT / INPUT_ONLY). */
const ROW_INPUT = 0;
const ROW_OUTPUT = 4;
const ROW_INPUT_ONLY = 8;

/** tcp_state_idx: RST wins over SYN, SYN over FIN, FIN over ACK; no flag at all gives -1. */
export function tcpStateIdx(thFlags: number): number {
  if ((thFlags & TcpFlag.RST) !== 0) return 3;
  if ((thFlags & TcpFlag.SYN) !== 0) return 0;
  if ((thFlags & TcpFlag.FIN) !== 0) return 1;
  if ((thFlags & TcpFlag.ACK) !== 0) return 2;
  return -1;
}

// The tables below are written as text: one line per (direction, flag) row, one two-letter code per
// current state, in state order NO ES SS SR FW TW CL CW LA LI SA. Parsed once at load.
const CODES = ['NO', 'ES', 'SS', 'SR', 'FW', 'TW', 'CL', 'CW', 'LA', 'LI', 'SA'];

function parseTable(rows: string[]): Uint8Array {
  const out = new Uint8Array(rows.length * TCP_STATE_COUNT);
  rows.forEach((row, r) => {
    const cells = row.trim().split(/\s+/);
    if (cells.length !== TCP_STATE_COUNT) throw new Error(`tcp table row ${r}: ${cells.length} cells`);
    cells.forEach((c, i) => {
      const s = CODES.indexOf(c);
      if (s < 0) throw new Error(`tcp table row ${r}: bad code ${c}`);
      out[r * TCP_STATE_COUNT + i] = s;
    });
  });
  return out;
}

/** tcp_states: the normal table. Rows: INPUT syn/fin/ack/rst, OUTPUT …, INPUT_ONLY …. */
export const TCP_STATES: Uint8Array = parseTable([
  // input
  'SR ES ES SR SR SR SR SR SR SR SR', // syn
  'CL CW SS TW TW TW CL CW LA LI TW', // fin
  'ES ES SS ES FW TW CL CW CL LI ES', // ack
  'CL CL CL SR CL CL CL CL LA LI SR', // rst
  // output
  'SS ES SS SR SS SS SS SS SS LI SR',
  'TW FW SS TW FW TW CL TW LA LI TW',
  'ES ES SS ES FW TW CL CW LA ES ES',
  'CL CL SS CL CL TW CL CL CL CL CL',
  // input only
  'SR ES ES SR SR SR SR SR SR SR SR',
  'CL FW SS TW FW TW CL CW LA LI TW',
  'ES ES SS ES FW TW CL CW CL LI ES',
  'CL CL CL SR CL CL CL CL LA LI CL',
]);

/** tcp_states_dos: used while secure_tcp is active (NAT reaches ESTABLISHED only via the RS's ACK). */
export const TCP_STATES_DOS: Uint8Array = parseTable([
  // input
  'SR ES ES SR SR SR SR SR SR SR SA',
  'CL CW SS TW TW TW CL CW LA LI SA',
  'ES ES SS SR FW TW CL CW CL LI SA',
  'CL CL CL SR CL CL CL CL LA LI CL',
  // output
  'SS ES SS SA SS SS SS SS SS LI SA',
  'TW FW SS TW FW TW CL TW LA LI TW',
  'ES ES SS ES FW TW CL CW LA ES ES',
  'CL CL SS CL CL TW CL CL CL CL CL',
  // input only
  'SA ES ES SR SA SA SA SA SA SA SA',
  'CL FW SS TW FW TW CL CW LA LI TW',
  'ES ES SS ES FW TW CL CW CL LI ES',
  'CL CL CL SR CL CL CL CL LA LI CL',
]);

/**
 * Pure next-state function: `row` is the effective row group (after the NOOUTPUT adjustment),
 * as a Dir value. Exposed for tests and for tools that replay flows.
 */
export function tcpNextState(dos: boolean, dir: Dir, thFlags: number, state: number): number {
  const idx = tcpStateIdx(thFlags);
  if (idx < 0) return TcpState.CLOSE;
  const base = dir === Dir.OUTPUT ? ROW_OUTPUT : dir === Dir.INPUT_ONLY ? ROW_INPUT_ONLY : ROW_INPUT;
  return (dos ? TCP_STATES_DOS : TCP_STATES)[(base + idx) * TCP_STATE_COUNT + state];
}

/**
 * set_tcp_state: one packet of conn `id` seen in `dir` with TCP flags byte `thFlags`. While the
 * conn has NOOUTPUT, input packets use the INPUT_ONLY rows; an OUTPUT packet clears NOOUTPUT.
 * On a state change the dest's active/inactive counters follow; the timeout is reset to the new
 * state's timeout on every packet (the caller then restarts the timer with ConnTable.put).
 */
export function tcpStateTransition(t: ConnTable, id: number, dir: Dir, thFlags: number): void {
  const flags = t.getFlags(id);
  let base = dir === Dir.OUTPUT ? ROW_OUTPUT : dir === Dir.INPUT_ONLY ? ROW_INPUT_ONLY : ROW_INPUT;
  if ((flags & ConnFlag.NOOUTPUT) !== 0) {
    if (base === ROW_OUTPUT) t.setFlags(id, flags & ~ConnFlag.NOOUTPUT);
    else base = ROW_INPUT_ONLY;
  }
  const cur = t.getState(id);
  const idx = tcpStateIdx(thFlags);
  let next: number = TcpState.CLOSE;
  if (idx >= 0) {
    const table = secureTcpActive(t.settings) ? TCP_STATES_DOS : TCP_STATES;
    next = table[(base + idx) * TCP_STATE_COUNT + cur];
  }
  if (next !== cur) {
    t.changeState(id, next, TCP_STATE_ACTIVE[next] === 1);
    // set_tcp_state: entering ESTABLISHED assures the controlling template.
    if (next === TcpState.ESTABLISHED) t.assureControl(id);
  }
  t.setTimeout(id, t.timeouts.tcp[next]);
}

/** ip_vs_tcp_conn_listen: put a conn in LISTEN (FTP helper), without touching dest counters. */
export function tcpConnListen(t: ConnTable, id: number): void {
  t.setState(id, TcpState.LISTEN);
  t.setTimeout(id, t.timeouts.tcp[TcpState.LISTEN]);
}

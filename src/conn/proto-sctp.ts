/**
 * The IPVS SCTP state machine (ip_vs_proto_sctp.c): driven by the type of the first chunk of each
 * packet, mapped to one of ten events, looked up in a (direction, event, state) table. States are
 * as the real server sees the association. Only ESTABLISHED counts as active.
 */
import { ConnFlag } from '../model/flags.ts';
import type { ConnTable } from './table.ts';
import { Dir } from './types.ts';

/** IP_VS_SCTP_S_* */
export const SctpState = {
  NONE: 0,
  INIT1: 1,
  INIT: 2,
  COOKIE_SENT: 3,
  COOKIE_REPLIED: 4,
  COOKIE_WAIT: 5,
  COOKIE: 6,
  COOKIE_ECHOED: 7,
  ESTABLISHED: 8,
  SHUTDOWN_SENT: 9,
  SHUTDOWN_RECEIVED: 10,
  SHUTDOWN_ACK_SENT: 11,
  REJECTED: 12,
  CLOSED: 13,
} as const;
export type SctpState = (typeof SctpState)[keyof typeof SctpState];
export const SCTP_STATE_COUNT = 14;

/** sctp_state_name_table: what `ipvsadm -lc` prints. */
export const SCTP_STATE_NAMES: readonly string[] = [
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
];

/** IP_VS_SCTP_MAX_RTO: 61 s, the timeout of most handshake/shutdown states. */
const MAX_RTO_S = 61;
/** sctp_timeouts, in seconds, by state. */
export const SCTP_DEFAULT_TIMEOUTS_S: readonly number[] = [
  2,
  4,
  MAX_RTO_S,
  MAX_RTO_S,
  MAX_RTO_S,
  MAX_RTO_S,
  MAX_RTO_S,
  MAX_RTO_S,
  900,
  MAX_RTO_S,
  MAX_RTO_S,
  MAX_RTO_S,
  4,
  MAX_RTO_S,
];

/** SCTP chunk types (RFC 9260 §3.2) that the state machine distinguishes. */
export const SctpChunk = {
  DATA: 0,
  INIT: 1,
  INIT_ACK: 2,
  SACK: 3,
  HEARTBEAT: 4,
  HEARTBEAT_ACK: 5,
  ABORT: 6,
  SHUTDOWN: 7,
  SHUTDOWN_ACK: 8,
  ERROR: 9,
  COOKIE_ECHO: 10,
  COOKIE_ACK: 11,
  ECNE: 12,
  CWR: 13,
  SHUTDOWN_COMPLETE: 14,
} as const;

/** ipvs_sctp_event_t */
export const SctpEvent = {
  DATA: 0,
  INIT: 1,
  INIT_ACK: 2,
  COOKIE_ECHO: 3,
  COOKIE_ACK: 4,
  SHUTDOWN: 5,
  SHUTDOWN_ACK: 6,
  SHUTDOWN_COMPLETE: 7,
  ERROR: 8,
  ABORT: 9,
} as const;
const EVENT_COUNT = 10;

/** sctp_events: chunk type → event; anything not listed (and any type ≥ 15) behaves as DATA. */
const CHUNK_EVENT = Uint8Array.from([
  SctpEvent.DATA, // DATA
  SctpEvent.INIT,
  SctpEvent.INIT_ACK,
  SctpEvent.DATA, // SACK
  SctpEvent.DATA, // HEARTBEAT
  SctpEvent.DATA, // HEARTBEAT_ACK
  SctpEvent.ABORT,
  SctpEvent.SHUTDOWN,
  SctpEvent.SHUTDOWN_ACK,
  SctpEvent.ERROR,
  SctpEvent.COOKIE_ECHO,
  SctpEvent.COOKIE_ACK,
  SctpEvent.DATA, // ECNE
  SctpEvent.DATA, // CWR
  SctpEvent.SHUTDOWN_COMPLETE,
]);

export function sctpChunkEvent(chunkType: number): number {
  return chunkType < CHUNK_EVENT.length ? CHUNK_EVENT[chunkType] : SctpEvent.DATA;
}

// Text form of sctp_states: per direction, one line per event (DATA, INIT, INIT_ACK, COOKIE_ECHO,
// COOKIE_ACK, SHUTDOWN, SHUTDOWN_ACK, SHUTDOWN_COMPLETE, ERROR, ABORT), one code per current state
// in state order NO I1 IN CS CR CW CO CE ES SS SR SA RJ CL.
const CODES = ['NO', 'I1', 'IN', 'CS', 'CR', 'CW', 'CO', 'CE', 'ES', 'SS', 'SR', 'SA', 'RJ', 'CL'];

const TABLE_TEXT: string[] = [
  // input
  'ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL',
  'I1 IN IN CS CR CW CO CE ES SS SR SA IN IN',
  'CW CW CW CS CR CO CO CE ES SS SR SA RJ CL',
  'CR IN IN CR CR CW CO CE ES SS SR SA RJ CL',
  'ES I1 IN CS CR CW CO ES ES SS SR SA RJ CL',
  'SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL',
  'CL IN IN CS CR CW CO CE ES CL SR CL RJ CL',
  'CL CL CL CS CR CW CO CE ES SS SR CL RJ CL',
  'CL I1 IN CS CR CW CO CL ES SS SR SA RJ CL',
  'CL CL CL CL CL RJ CL CL CL CL CL CL CL CL',
  // output
  'ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL',
  'CW CW CW CW CW CW CW CW ES CW CW CW CW CW',
  'CS CS CS CS CR CW CO CE ES SS SR SA RJ CL',
  'CE CE CE CE CE CE CE CE ES SS SR SA RJ CL',
  'ES ES ES ES ES ES ES ES ES SS SR SA RJ CL',
  'SS SS SS SS SS SS SS SS SS SS SR SA RJ CL',
  'SA SA SA SA SA CW CO CE ES SA SA SA RJ CL',
  'CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL',
  'CL CL CL CL CL CW CO CE ES SS SR SA RJ CL',
  'CL RJ CL CL CL CL CL CL CL CL CL CL CL CL',
  // input only
  'ES I1 IN CS CR ES CO CE ES SS SR SA RJ CL',
  'I1 IN IN IN IN IN CO CE ES SS SR SA IN IN',
  'CE CE CE CE CE CE CO CE ES SS SR SA RJ CL',
  'ES ES ES ES ES ES CO CE ES SS SR SA RJ CL',
  'ES I1 IN ES ES CW ES ES ES SS SR SA RJ CL',
  'SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL',
  'CL IN IN CS CR CW CO CE CL CL SR CL RJ CL',
  'CL CL CL CL CL CW CO CE ES SS CL CL RJ CL',
  'CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL',
  'CL CL CL CL CL RJ CL CL CL CL CL CL CL CL',
];

function parseTable(rows: string[]): Uint8Array {
  const out = new Uint8Array(rows.length * SCTP_STATE_COUNT);
  rows.forEach((row, r) => {
    const cells = row.trim().split(/\s+/);
    if (cells.length !== SCTP_STATE_COUNT) throw new Error(`sctp table row ${r}: ${cells.length} cells`);
    cells.forEach((c, i) => {
      const s = CODES.indexOf(c);
      if (s < 0) throw new Error(`sctp table row ${r}: bad code ${c}`);
      out[r * SCTP_STATE_COUNT + i] = s;
    });
  });
  return out;
}

/** sctp_states, flattened: index ((dir * 10 + event) * 14 + state). */
export const SCTP_STATES: Uint8Array = parseTable(TABLE_TEXT);

/** Pure next-state function on an effective direction (after the NOOUTPUT adjustment). */
export function sctpNextState(dir: Dir, chunkType: number, state: number): number {
  return SCTP_STATES[(dir * EVENT_COUNT + sctpChunkEvent(chunkType)) * SCTP_STATE_COUNT + state];
}

/**
 * set_sctp_state's chunk choice: the first chunk's type, except that a COOKIE ECHO or COOKIE ACK
 * followed by an ABORT counts as ABORT. `chunkOff` is where the first chunk header starts (12 bytes
 * after the SCTP common header), `end` the end of the packet. Returns -1 when there is no complete
 * chunk header, in which case the state machine is not run at all.
 */
export function sctpStateChunkType(b: Uint8Array, chunkOff: number, end: number): number {
  if (chunkOff + 4 > end) return -1;
  const type = b[chunkOff];
  if (type === SctpChunk.COOKIE_ECHO || type === SctpChunk.COOKIE_ACK) {
    const clen = (b[chunkOff + 2] << 8) | b[chunkOff + 3];
    if (clen >= 4) {
      const next = chunkOff + ((clen + 3) & ~3);
      if (next + 4 <= end && b[next] === SctpChunk.ABORT) return SctpChunk.ABORT;
    }
  }
  return type;
}

/**
 * set_sctp_state: one packet of conn `id` in `dir` whose (effective) chunk type is `chunkType`.
 * Same NOOUTPUT handling and counter moves as TCP; the timeout follows the new state.
 */
export function sctpStateTransition(t: ConnTable, id: number, dir: Dir, chunkType: number): void {
  if (chunkType < 0) return;
  const flags = t.getFlags(id);
  let d: number = dir;
  if ((flags & ConnFlag.NOOUTPUT) !== 0) {
    if (d === Dir.OUTPUT) t.setFlags(id, flags & ~ConnFlag.NOOUTPUT);
    else d = Dir.INPUT_ONLY;
  }
  const cur = t.getState(id);
  const next = SCTP_STATES[(d * EVENT_COUNT + sctpChunkEvent(chunkType)) * SCTP_STATE_COUNT + cur];
  if (next !== cur) {
    t.changeState(id, next, next === SctpState.ESTABLISHED);
    if (next === SctpState.ESTABLISHED) t.assureControl(id);
  }
  t.setTimeout(id, t.timeouts.sctp[next]);
}

/**
 * The control protocol between tslvsadm (and other tools) and tslvsd: newline-delimited JSON
 * over a Unix stream socket. Every message carries the protocol version; a request names an
 * operation, a response carries either a result or an error with a stable code and the text
 * ipvsadm would print. Addresses travel as text.
 */

export const PROTOCOL_VERSION = 1;

/** Where tslvsd listens unless told otherwise. */
export const DEFAULT_SOCKET = '/run/tslvs/tslvsd.sock';

/** The longest request line accepted (a full restore of thousands of rules still fits). */
export const MAX_LINE = 8 * 1024 * 1024;

export interface Request {
  v: number;
  id: number;
  op: string;
  args?: unknown;
}

export interface ErrorBody {
  /** Stable code (LVS_ERR_… for IPVS operations, PROTO_… for protocol problems). */
  code: string;
  /** What ipvsadm prints for this failure (one line, no newline). */
  message: string;
  /** The exit status ipvsadm would end with. */
  exitCode: number;
}

export type Response =
  | { v: number; id: number; ok: true; result: unknown }
  | { v: number; id: number; ok: false; error: ErrorBody };

/** Validates the shape of a decoded request (the daemon trusts nothing it reads). */
export function isRequest(x: unknown): x is Request {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return (
    typeof r.v === 'number' &&
    typeof r.id === 'number' &&
    Number.isInteger(r.id) &&
    typeof r.op === 'string' &&
    r.op.length <= 64
  );
}

/**
 * The daemon side of the control socket. One handler answers each request; requests on one
 * connection are answered in order. The socket file is created mode 0600 (root only, like the
 * kernel's IPVS sockopts need CAP_NET_ADMIN) and a stale one from a crashed daemon is replaced.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import type { ErrorBody, Request, Response } from './protocol.ts';
import { isRequest, MAX_LINE, PROTOCOL_VERSION } from './protocol.ts';

export type Handler = (op: string, args: unknown) => unknown;

/** An error a handler throws to answer with a specific code and ipvsadm text. */
export class ControlError extends Error {
  readonly body: ErrorBody;
  constructor(body: ErrorBody) {
    super(body.message);
    this.name = 'ControlError';
    this.body = body;
  }
}

function failure(id: number, e: unknown): Response {
  const body: ErrorBody =
    e instanceof ControlError
      ? e.body
      : { code: 'PROTO_INTERNAL', message: e instanceof Error ? e.message : String(e), exitCode: 1 };
  return { v: PROTOCOL_VERSION, id, ok: false, error: body };
}

/** Runs one request; a handler may answer at once or with a promise (the answer then follows). */
function answer(sock: Socket, id: number, fn: () => unknown): void {
  const write = (res: Response): void => {
    if (!sock.destroyed) sock.write(JSON.stringify(res) + '\n');
  };
  let out: unknown;
  try {
    out = fn();
  } catch (e) {
    write(failure(id, e));
    return;
  }
  if (out instanceof Promise) {
    out.then(
      (r: unknown) => write({ v: PROTOCOL_VERSION, id, ok: true, result: r ?? null }),
      (e: unknown) => write(failure(id, e)),
    );
    return;
  }
  write({ v: PROTOCOL_VERSION, id, ok: true, result: out ?? null });
}

function serve(sock: Socket, handler: Handler): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE) {
      answer(sock, 0, () => {
        throw new ControlError({ code: 'PROTO_TOO_LONG', message: 'request too long', exitCode: 1 });
      });
      sock.destroy();
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        answer(sock, 0, () => {
          throw new ControlError({ code: 'PROTO_BAD_JSON', message: 'malformed request', exitCode: 1 });
        });
        continue;
      }
      if (!isRequest(msg)) {
        answer(sock, 0, () => {
          throw new ControlError({ code: 'PROTO_BAD_REQUEST', message: 'malformed request', exitCode: 1 });
        });
        continue;
      }
      const req: Request = msg;
      if (req.v !== PROTOCOL_VERSION) {
        answer(sock, req.id, () => {
          throw new ControlError({
            code: 'PROTO_VERSION',
            message: `unsupported protocol version ${req.v}`,
            exitCode: 1,
          });
        });
        continue;
      }
      answer(sock, req.id, () => handler(req.op, req.args));
    }
  });
  sock.on('error', () => sock.destroy());
}

/** Listens on `path`; resolves once listening. A live daemon already there is an error. */
export async function listenControl(path: string, handler: Handler): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    const alive = await new Promise<boolean>((resolve) => {
      const c = createConnection(path);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (alive) throw new Error(`another daemon is listening on ${path}`);
    unlinkSync(path);
  }
  const server = createServer((sock) => serve(sock, handler));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return server;
}

/** The tool side of the control socket: one connection, requests answered in order. */
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import type { ErrorBody, Response } from './protocol.ts';
import { PROTOCOL_VERSION } from './protocol.ts';

export class DaemonUnavailableError extends Error {
  readonly path: string;
  constructor(path: string, cause: string) {
    super(`tslvsd is not running (cannot connect to ${path}: ${cause})`);
    this.name = 'DaemonUnavailableError';
    this.path = path;
  }
}

export class RemoteError extends Error {
  readonly body: ErrorBody;
  constructor(body: ErrorBody) {
    super(body.message);
    this.name = 'RemoteError';
    this.body = body;
  }
}

export class ControlClient {
  private readonly sock: Socket;
  private nextId = 1;
  private buf = '';
  private readonly waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  private closedError: Error | null = null;

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('close', () => this.fail(new Error('tslvsd closed the control connection')));
    sock.on('error', (e) => this.fail(e));
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(new ControlClient(s)));
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(new DaemonUnavailableError(path, e.code ?? e.message)),
      );
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      let res: Response;
      try {
        res = JSON.parse(line) as Response;
      } catch {
        this.fail(new Error('malformed answer from tslvsd'));
        return;
      }
      const w = this.waiting.get(res.id);
      if (w === undefined) continue;
      this.waiting.delete(res.id);
      if (res.ok) w.resolve(res.result);
      else w.reject(new RemoteError(res.error));
    }
  }

  private fail(e: Error): void {
    if (this.closedError !== null) return;
    this.closedError = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  call(op: string, args?: unknown): Promise<unknown> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.sock.write(JSON.stringify({ v: PROTOCOL_VERSION, id, op, args }) + '\n');
    });
  }

  close(): void {
    this.sock.end();
  }
}

/**
 * Test agent run inside a network namespace (`ip netns exec NS node agent.js --tslvs-io-agent`):
 * Node cannot setns() itself, so the test process drives one agent per namespace over newline-
 * delimited JSON on stdin/stdout. Each request {id, op, ...} gets {id, ok, result | error}.
 * Does nothing without the flag (the test runner executes every file under test/).
 */
import { createInterface } from 'node:readline';
import { createServer, connect } from 'node:net';
import type { Server } from 'node:net';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { loadAfPacket } from '../../src/io/addon.ts';
import { PacketPort } from '../../src/io/afpacket.ts';
import type { PacketPortOptions } from '../../src/io/afpacket.ts';
import { TunPort } from '../../src/io/tun.ts';
import type { TunPortOptions } from '../../src/io/tun.ts';
import type { PolledPort } from '../../src/io/polled.ts';
import { Meta, metaCopy, newMeta } from '../../src/io/types.ts';

export const AGENT_FLAG = '--tslvs-io-agent';

/** A captured frame: its bytes in hex and its meta entry. */
export interface Captured {
  hex: string;
  meta: number[];
}

/** Byte pattern a captured frame must have at `at` (hex). */
export interface Match {
  at: number;
  hex: string;
}

type Req = Record<string, unknown> & { id: number; op: string };

const ports = new Map<string, PolledPort>();
const captured = new Map<string, Captured[]>();
const servers: Server[] = [];
const udp = new Map<number, { sock: UdpSocket; got: string[] }>();

function port(name: unknown): PolledPort {
  const p = ports.get(String(name));
  if (!p) throw new Error(`no port ${String(name)}`);
  return p;
}

function hexOf(buf: Uint8Array, off: number, len: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + off, len).toString('hex');
}

function record(name: string, buf: Uint8Array, meta: Int32Array, n: number): void {
  const list = captured.get(name) ?? [];
  captured.set(name, list);
  for (let i = 0; i < n; i++) {
    const m = i * Meta.STRIDE;
    list.push({
      hex: hexOf(buf, meta[m + Meta.OFF], meta[m + Meta.LEN]),
      meta: Array.from(meta.subarray(m, m + Meta.STRIDE)),
    });
  }
}

function matches(c: Captured, match: Match[]): boolean {
  return match.every((m) => c.hex.startsWith(m.hex.toLowerCase(), m.at * 2));
}

/** Build a send buffer + meta from hex frames and optional per-frame vnet fields. */
function txList(frames: string[], vnet?: number[][]): { buf: Uint8Array; meta: Int32Array } {
  const bytes = frames.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
  const buf = new Uint8Array(bytes.reduce((s, b) => s + b.length, 0));
  const meta = newMeta(bytes.length);
  let off = 0;
  bytes.forEach((b, i) => {
    buf.set(b, off);
    meta[i * Meta.STRIDE + Meta.OFF] = off;
    meta[i * Meta.STRIDE + Meta.LEN] = b.length;
    const v = vnet?.[i];
    if (v) for (let k = 0; k < 6; k++) meta[i * Meta.STRIDE + Meta.VNET_FLAGS + k] = v[k];
    off += b.length;
  });
  return { buf, meta };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const ops: Record<string, (r: Req) => unknown> = {
  open(r) {
    const p = PacketPort.open(String(r.ifname), (r.opts ?? {}) satisfies PacketPortOptions);
    ports.set(String(r.port), p);
    return { fd: p.fd, ifindex: p.ifindex, slotSize: p.slotSize };
  },
  openTun(r) {
    const p = TunPort.open(String(r.name), (r.opts ?? {}) satisfies TunPortOptions);
    ports.set(String(r.port), p);
    return { fd: p.fd, name: p.name };
  },
  ifInfo(r) {
    return loadAfPacket().ifInfo(String(r.ifname));
  },
  /** Start collecting everything the port receives (poll + drain loop). */
  capture(r) {
    const name = String(r.port);
    captured.set(name, captured.get(name) ?? []);
    port(name).onBatch((buf, meta, n) => record(name, buf, meta, n));
    return true;
  },
  /** Forward every received frame back out of the same port, in place, with the MACs swapped. */
  echo(r) {
    const p = port(r.port);
    const out = newMeta(p.batchSize);
    p.onBatch((buf, meta, n) => {
      for (let i = 0; i < n; i++) {
        const off = meta[i * Meta.STRIDE + Meta.OFF];
        for (let k = 0; k < 6; k++) {
          const t = buf[off + k];
          buf[off + k] = buf[off + 6 + k];
          buf[off + 6 + k] = t;
        }
        metaCopy(out, i, meta, i);
      }
      p.send(buf, out, 0, n);
    });
    return true;
  },
  /**
   * Wait until the ports together hold `count` frames matching `match` (or timeoutMs passes), then
   * return and forget those frames. Non-matching frames (kernel chatter) are dropped.
   */
  async collect(r) {
    const names = (r.ports as string[]).map(String);
    const match = (r.match ?? []) as Match[];
    const count = Number(r.count ?? 0);
    const deadline = Date.now() + Number(r.timeoutMs ?? 2000);
    const pick = (): Record<string, Captured[]> => {
      const out: Record<string, Captured[]> = {};
      for (const n of names) out[n] = (captured.get(n) ?? []).filter((c) => matches(c, match));
      return out;
    };
    for (;;) {
      const got = pick();
      const total = Object.values(got).reduce((s, l) => s + l.length, 0);
      if ((count > 0 && total >= count) || Date.now() >= deadline) {
        for (const n of names) captured.set(n, []);
        return got;
      }
      await sleep(5);
    }
  },
  send(r) {
    const p = port(r.port);
    const { buf, meta } = txList(r.frames as string[], r.vnet as number[][] | undefined);
    const sent = p.send(buf, meta, 0, (r.frames as string[]).length);
    return { sent, stats: p.stats() };
  },
  /** One receive call without poll: returns the frames of that batch. */
  recvOnce(r) {
    const p = port(r.port);
    const n = p.recv();
    const frames: Captured[] = [];
    for (let i = 0; i < n; i++) {
      const m = i * Meta.STRIDE;
      frames.push({
        hex: hexOf(p.rxBuf, p.rxMeta[m + Meta.OFF], p.rxMeta[m + Meta.LEN]),
        meta: Array.from(p.rxMeta.subarray(m, m + Meta.STRIDE)),
      });
    }
    return { n, frames };
  },
  fanout(r) {
    (port(r.port) as PacketPort).fanout(Number(r.group), Number(r.mode), Number(r.flags ?? 0));
    return true;
  },
  fanoutFilter(r) {
    (port(r.port) as PacketPort).attachFanoutFilter(Int32Array.from(r.prog as number[]));
    return true;
  },
  filter(r) {
    (port(r.port) as PacketPort).attachFilter(Int32Array.from(r.prog as number[]));
    return true;
  },
  /** Raw PACKET_STATISTICS read (resets the kernel counters). */
  rawStats(r) {
    return loadAfPacket().stats(port(r.port).fd);
  },
  portStats(r) {
    return port(r.port).stats();
  },
  close(r) {
    port(r.port).close();
    ports.delete(String(r.port));
    return true;
  },
  async tcpListen(r) {
    const srv = createServer((s) => {
      s.on('data', () => {});
      s.on('error', () => {});
    });
    servers.push(srv);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(Number(r.port), String(r.host), resolve);
    });
    return true;
  },
  /** Connect, write `bytes` bytes, close; resolves when the connection is fully closed. */
  async tcpSend(r) {
    await new Promise<void>((resolve, reject) => {
      const s = connect(Number(r.port), String(r.host), () => {
        s.end(Buffer.alloc(Number(r.bytes), 0x61));
      });
      s.on('data', () => {});
      s.once('error', reject);
      s.once('close', () => resolve());
    });
    return true;
  },
  async udpListen(r) {
    const sock = createSocket('udp4');
    const entry = { sock, got: [] as string[] };
    sock.on('message', (msg) => entry.got.push(msg.toString('hex')));
    await new Promise<void>((resolve) => sock.bind(Number(r.port), String(r.host), resolve));
    udp.set(Number(r.port), entry);
    return true;
  },
  async udpCollect(r) {
    const e = udp.get(Number(r.port));
    if (!e) throw new Error(`no udp listener on ${String(r.port)}`);
    const deadline = Date.now() + Number(r.timeoutMs ?? 1000);
    while (e.got.length < Number(r.count ?? 1) && Date.now() < deadline) await sleep(5);
    const got = e.got;
    e.got = [];
    return got;
  },
  exit() {
    setImmediate(() => {
      for (const p of ports.values()) p.close();
      for (const s of servers) s.close();
      for (const u of udp.values()) u.sock.close();
      process.exit(0);
    });
    return true;
  },
};

async function handle(line: string): Promise<void> {
  let id = -1;
  try {
    const req = JSON.parse(line) as Req;
    id = req.id;
    const fn = ops[req.op];
    if (!fn) throw new Error(`unknown op ${req.op}`);
    const result = await fn(req);
    process.stdout.write(JSON.stringify({ id, ok: true, result }) + '\n');
  } catch (e) {
    const err = e as { message?: string; code?: string };
    process.stdout.write(
      JSON.stringify({ id, ok: false, error: err.message ?? String(e), code: err.code }) + '\n',
    );
  }
}

if (process.argv[2] === AGENT_FLAG) {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => void handle(line));
  rl.on('close', () => process.exit(0));
  process.stdout.write(JSON.stringify({ id: 0, ok: true, result: 'ready' }) + '\n');
}

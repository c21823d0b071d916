/**
 * The small-UDP sender of `npm run bench:e2e`: 60-byte Ethernet frames (18 bytes of UDP payload),
 * one per flow in turn, sent with sendmmsg batches of 64 on an AF_PACKET socket (the project's
 * addon), as fast as the kernel takes them, for a fixed time. A socket-per-packet sender in Node
 * (dgram) tops out near 100 kpps on this machine, below what the directors forward, so it would
 * measure itself; this one sends several times that.
 *
 * The frames are built once, with correct IPv4 and UDP checksums; flow k uses source port
 * 10000 + k and destination k mod (number of --dst). Prints one JSON line: {sent, seconds, errors}.
 *
 *   node dist/bench/e2e/blast.js --iface eth0 --src-mac M --dst-mac M --src A --dst A[,A…]
 *        --dport P [--flows 256] [--seconds 5]
 *
 * Runs inside the client's namespace (spawned by bench/e2e/run.ts), as root.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAfPacket } from '../../src/io/addon.ts';
import { Meta } from '../../src/io/types.ts';
import { ipv4FromString, macFromString } from '../../src/wire/addr.ts';
import { ethEmit, ETH_HLEN, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.ts';
import { IPPROTO_UDP, IPV4_HLEN, ipv4Emit } from '../../src/wire/ipv4.ts';
import { UDP_HLEN, udpEmit, udpFillCsumV4 } from '../../src/wire/udp.ts';

/** Ethernet 14 + IPv4 20 + UDP 8 + 18 = 60, the smallest frame without padding. */
export const BLAST_PAYLOAD = 18;
export const BLAST_FRAME = ETH_HLEN + IPV4_HLEN + UDP_HLEN + BLAST_PAYLOAD;
const SLOT = 64;
const BATCH = 64;
export const BLAST_SPORT_BASE = 10000;

export interface BlastFrames {
  readonly buf: Uint8Array;
  readonly meta: Int32Array;
  readonly flows: number;
}

/** One frame per flow, in 64-byte slots, with its meta entry (offset, length). */
export function buildBlastFrames(o: {
  srcMac: number;
  dstMac: number;
  src: number;
  dsts: readonly number[];
  dport: number;
  flows: number;
}): BlastFrames {
  const buf = new Uint8Array(o.flows * SLOT);
  const meta = new Int32Array(o.flows * Meta.STRIDE);
  for (let k = 0; k < o.flows; k++) {
    const off = k * SLOT;
    const l3 = off + ETH_HLEN;
    const l4 = l3 + IPV4_HLEN;
    ethEmit({ dst: o.dstMac, src: o.srcMac, ethertype: ETHERTYPE_IPV4 }, buf, off);
    ipv4Emit(
      {
        tos: 0,
        totalLen: IPV4_HLEN + UDP_HLEN + BLAST_PAYLOAD,
        id: k,
        df: true,
        mf: false,
        fragOffset: 0,
        ttl: 64,
        proto: IPPROTO_UDP,
        src: o.src,
        dst: o.dsts[k % o.dsts.length],
      },
      buf,
      l3,
    );
    udpEmit({ srcPort: BLAST_SPORT_BASE + k, dstPort: o.dport, length: UDP_HLEN + BLAST_PAYLOAD }, buf, l4);
    for (let i = 0; i < BLAST_PAYLOAD; i++) buf[l4 + UDP_HLEN + i] = 0x61 + (i % 26);
    udpFillCsumV4(buf, l3, l4, UDP_HLEN + BLAST_PAYLOAD);
    meta[k * Meta.STRIDE + Meta.OFF] = off;
    meta[k * Meta.STRIDE + Meta.LEN] = BLAST_FRAME;
  }
  return { buf, meta, flows: o.flows };
}

function main(): void {
  const { values: v } = parseArgs({
    options: {
      iface: { type: 'string' },
      'src-mac': { type: 'string' },
      'dst-mac': { type: 'string' },
      src: { type: 'string' },
      dst: { type: 'string' },
      dport: { type: 'string' },
      flows: { type: 'string', default: '256' },
      seconds: { type: 'string', default: '5' },
    },
  });
  for (const k of ['iface', 'src-mac', 'dst-mac', 'src', 'dst', 'dport'] as const)
    if (v[k] === undefined) throw new Error(`--${k} is required`);
  const flows = Number(v.flows);
  const seconds = Number(v.seconds);
  if (!Number.isInteger(flows) || flows < 1 || flows > 50_000) throw new Error('--flows: 1..50000');
  if (!(seconds > 0)) throw new Error('--seconds: a positive number');
  const f = buildBlastFrames({
    srcMac: macFromString(v['src-mac']!),
    dstMac: macFromString(v['dst-mac']!),
    src: ipv4FromString(v.src!),
    dsts: v.dst!.split(',').map(ipv4FromString),
    dport: Number(v.dport),
    flows,
  });
  const addon = loadAfPacket();
  // Protocol 0: a send-only socket, so nothing is queued to us.
  const fd = addon.open(v.iface!, { protocol: 0, auxdata: false, sndbuf: 4 << 20, rcvbuf: 0 });
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let sent = 0;
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let now = t0;
  while (now < end) {
    const count = Math.min(BATCH, f.flows - next);
    const n = addon.sendBatch(fd, f.buf, f.meta, next, count, false);
    if (n > 0) {
      sent += n;
      next = (next + n) % f.flows;
    } else {
      // The socket's buffer is full (or the frame was refused): let the kernel catch up.
      if (n < 0 && n !== -11) errors++;
      Atomics.wait(pause, 0, 0, 0.05);
    }
    now = performance.now();
  }
  addon.close(fd);
  process.stdout.write(`${JSON.stringify({ sent, seconds: (now - t0) / 1000, errors })}\n`);
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) main();

/**
 * The "afp-node-dr" ceiling reference of `npm run bench:e2e` (docs/bench-e2e.md, "Ceiling
 * references"): bench/e2e/ceiling/afp-dr.c's trivial DR forwarder, but in Node on tslvs's own packet
 * I/O — the addon through PacketPort, opened exactly as tslvsd opens its ports (src/daemon/main.ts:
 * auxdata, PACKET_IGNORE_OUTGOING, 8 MiB buffers, PACKET_VNET_HDR; batches of 64, uv_poll, the
 * bounded drain) — with a handler of a few lines where tslvsd has its Pipeline. Against afp-c-dr it
 * prices Node + libuv + the addon; against tslvs DR, the pipeline.
 *
 *   node dist/bench/e2e/ceiling/node-dr.js IFNAME VIP DIRECTOR_MAC RS_MAC[,RS_MAC...] [PIN_PORT]
 *
 * Per frame, as afp-dr.c: an ARP request for the VIP is answered in place; IPv4 to the VIP
 * addressed to us goes to the real server picked by a hash of (client address, client port) — TCP
 * or UDP to PIN_PORT always to the first — with our MAC as source; the rest is ignored. No
 * connection table, no state, no TTL decrement. SIGUSR2 prints the counters on one line.
 *
 * Runs in the director's namespace, as root (spawned by bench/e2e/setups.ts).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PacketPort } from '../../../src/io/afpacket.ts';
import { Meta, PacketType, TpStatus, newMeta, metaCopy } from '../../../src/io/types.ts';
import { ipv4FromString, macFromString } from '../../../src/wire/addr.ts';
import { ARP_OP_REQUEST, ARP_TPA, arpCheck, arpMakeReplyFrameInPlace, arpOp } from '../../../src/wire/arp.ts';
import { u16, u32 } from '../../../src/wire/bytes.ts';
import {
  ETH_HLEN,
  ETH_TYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ethSetDst,
  ethSetSrc,
} from '../../../src/wire/ethernet.ts';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_DST,
  IPV4_FRAG,
  IPV4_HLEN,
  IPV4_PROTO,
  IPV4_SRC,
} from '../../../src/wire/ipv4.ts';
import { Reason } from '../../../src/wire/reason.ts';

/** A flow's real server: the same integer mix of (client address, client port) as afp-dr.c's pick(). */
export function pickRs(saddr: number, sport: number, n: number): number {
  let h = (saddr ^ Math.imul(sport, 0x9e3779b1)) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  return h % n;
}

function main(argv: readonly string[]): number {
  if (argv.length < 4 || argv.length > 5) {
    process.stderr.write('usage: node-dr IFNAME VIP DIRECTOR_MAC RS_MAC[,RS_MAC...] [PIN_PORT]\n');
    return 2;
  }
  const [ifname, vipText, dirText, rsText, pinText] = argv;
  const vip = ipv4FromString(vipText);
  const dirMac = macFromString(dirText);
  const rsMac = Float64Array.from(rsText.split(','), macFromString);
  const nRs = rsMac.length;
  const pin = pinText === undefined ? 0 : Number(pinText);
  const c = { forwarded: 0, arp: 0, ignored: 0 };
  // src/daemon/main.ts opens each served interface with these options.
  const port = PacketPort.open(ifname, {
    auxdata: true,
    ignoreOutgoing: true,
    rcvbuf: 8 << 20,
    sndbuf: 8 << 20,
    vnetHdr: true,
  });
  const tx = newMeta(port.batchSize);

  port.onBatch((buf, meta, n) => {
    let k = 0;
    for (let i = 0, m = 0; i < n; i++, m += Meta.STRIDE) {
      const off = meta[m + Meta.OFF];
      const len = meta[m + Meta.LEN];
      const type =
        len >= ETH_HLEN && (meta[m + Meta.STATUS] & TpStatus.TRUNC) === 0 ? u16(buf, off + ETH_TYPE) : 0;
      if (type === ETHERTYPE_IPV4) {
        const ip = off + ETH_HLEN;
        if (
          meta[m + Meta.PKTTYPE] !== PacketType.HOST ||
          len < ETH_HLEN + IPV4_HLEN ||
          buf[ip] >> 4 !== 4 ||
          u32(buf, ip + IPV4_DST) !== vip
        ) {
          c.ignored++;
          continue;
        }
        const l4 = ip + (buf[ip] & 15) * 4;
        const proto = buf[ip + IPV4_PROTO];
        const l4ok =
          // Not a fragment (MF clear, offset 0), so the ports are really there.
          (u16(buf, ip + IPV4_FRAG) & 0x3fff) === 0 &&
          (proto === IPPROTO_TCP || proto === IPPROTO_UDP) &&
          l4 + 4 <= off + len;
        const sport = l4ok ? u16(buf, l4) : 0;
        const rs =
          pin !== 0 && l4ok && u16(buf, l4 + 2) === pin ? 0 : pickRs(u32(buf, ip + IPV4_SRC), sport, nRs);
        ethSetDst(buf, off, rsMac[rs]);
        ethSetSrc(buf, off, dirMac);
        c.forwarded++;
      } else if (
        type === ETHERTYPE_ARP &&
        arpCheck(buf, off + ETH_HLEN, len - ETH_HLEN) === Reason.OK &&
        arpOp(buf, off + ETH_HLEN) === ARP_OP_REQUEST &&
        u32(buf, off + ETH_HLEN + ARP_TPA) === vip
      ) {
        arpMakeReplyFrameInPlace(buf, off, dirMac);
        c.arp++;
      } else {
        c.ignored++;
        continue;
      }
      // The entry keeps the frame's vnet header fields: a GSO super-frame goes out as it came.
      metaCopy(tx, k++, meta, i);
    }
    if (k > 0) port.send(buf, tx, 0, k);
  });
  port.onError((errno) => process.stderr.write(`node-dr: receive failed: errno ${errno}\n`));

  const report = (): void => {
    const s = port.stats();
    process.stdout.write(
      `node-dr: rx ${s.rxPackets} in ${s.rxBatches} batches (${s.rxWakeups} wakeups), forwarded ${c.forwarded}, ` +
        `arp replies ${c.arp}, ignored ${c.ignored}, truncated ${s.rxTruncated}, tx ${s.txPackets}, ` +
        `tx errors ${s.txErrors}, tx blocked ${s.txBlocked}, socket drops ${s.kernelDrops}\n`,
    );
  };
  process.on('SIGUSR2', report);
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.on(sig, () => {
      report();
      port.close();
      process.exit(0);
    });
  process.stdout.write(
    `node-dr: forwarding ${vipText} on ${ifname} to ${nRs} real servers (pinned port ${pin})\n`,
  );
  return 0;
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

if (invokedDirectly()) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`node-dr: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

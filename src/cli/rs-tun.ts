/**
 * `tslvs rs-tun`: the real-server half of the TUN forwarding method on a host whose kernel cannot
 * decapsulate (no ipip / fou / ip_gre modules, or a container that may not load them). It takes the
 * IPIP, IPv6-in-IPv4, GUE and GRE packets a director sends to this host off the interface and
 * writes the inner packets to a TUN device; see docs/tun.md and src/rs/.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 2 bad usage or configuration, 4 missing permission
 * (keepalived's convention, as `tslvs daemon`), 70 the addon is not built.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadAfPacket } from '../io/addon.ts';
import { ipv4FromString, ipv4ToString, isValidIpv4 } from '../wire/addr.ts';
import { RS_DEFAULT_GUE_PORT } from '../rs/decap.ts';
import { RsTunService } from '../rs/service.ts';
import type { CliIo } from './tslvs.ts';

export const RS_TUN_DEFAULT_DEV = 'tslvs-tun0';

export const RS_TUN_HELP = `Usage: tslvs rs-tun --iface IF [options]

Real-server helper for LVS TUN mode on hosts without the ipip/fou/gre kernel modules:
receives the IPIP (protocol 4), IPv6-in-IPv4 (41), GUE (UDP) and GRE (47) packets a
director sends to this host and hands the inner packets to the local stack through a
TUN device. Put the VIP on lo (or on the TUN device); replies go straight to the client.

Options:
  --iface IF        interface the tunnel packets arrive on (required)
  --addr A.B.C.D    this real server's address, the outer destination
                    (default: the first IPv4 address of IF)
  --gue-port PORT   UDP port for GUE, the director's --tun-port (default ${RS_DEFAULT_GUE_PORT};
                    0 = no GUE)
  --tun NAME        TUN device to create (default ${RS_TUN_DEFAULT_DEV})
  --from A.B.C.D    accept tunnels only from this director address (repeatable;
                    default: from anyone, as tunl0 does)
  --no-guard        do not install the nftables rules that stop this host answering
                    every tunnel packet with ICMP unreachable (see docs/tun.md)
  -h, --help        this text

Sets net.ipv4.conf.all.rp_filter and the TUN device's rp_filter to 0. SIGUSR2 logs the
counters; SIGTERM or SIGINT stops (the TUN device and the nftables table go away).
`;

const ME = 'tslvs rs-tun';

function firstIpv4(ifname: string): string | null {
  const out = execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname], { encoding: 'utf8' });
  const j = JSON.parse(out) as { addr_info?: { family: string; local: string }[] }[];
  for (const l of j) for (const a of l.addr_info ?? []) if (a.family === 'inet') return a.local;
  return null;
}

/** Every IPv4 address of the host, or null when `ip` cannot tell. */
function hostIpv4(): string[] | null {
  try {
    const out = execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' });
    const j = JSON.parse(out) as { ifname: string; addr_info?: { family: string; local: string }[] }[];
    return j.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local));
  } catch {
    return null;
  }
}

/** A Linux interface name: 1..15 bytes, no '/', ':' or whitespace, not "." or "..". */
export function validIfName(s: string): boolean {
  return s.length > 0 && Buffer.byteLength(s) <= 15 && !/[/:\s]/.test(s) && s !== '.' && s !== '..';
}

export async function runRsTun(argv: readonly string[], io: CliIo): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: [...argv],
      options: {
        iface: { type: 'string' },
        addr: { type: 'string' },
        'gue-port': { type: 'string' },
        tun: { type: 'string' },
        from: { type: 'string', multiple: true },
        'no-guard': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }).values;
  } catch (e) {
    io.stderr(`${ME}: ${(e as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (v.help) {
    io.stdout(RS_TUN_HELP);
    return 0;
  }
  const iface = v.iface;
  if (iface === undefined || iface === '') {
    io.stderr(`${ME}: give --iface (the interface the tunnel packets arrive on)\n`);
    return 2;
  }
  if (!validIfName(iface)) {
    io.stderr(`${ME}: --iface ${iface}: not an interface name\n`);
    return 2;
  }
  const guePort = v['gue-port'] === undefined ? RS_DEFAULT_GUE_PORT : Number(v['gue-port']);
  if (!/^\d+$/.test(v['gue-port'] ?? '0') || !Number.isInteger(guePort) || guePort > 65535) {
    io.stderr(`${ME}: --gue-port ${v['gue-port']}: expected 0..65535\n`);
    return 2;
  }
  const tunName = v.tun ?? RS_TUN_DEFAULT_DEV;
  if (!validIfName(tunName)) {
    io.stderr(`${ME}: --tun ${tunName}: expected an interface name of at most 15 bytes\n`);
    return 2;
  }
  if (v.addr !== undefined && !isValidIpv4(v.addr)) {
    io.stderr(`${ME}: --addr ${v.addr}: not an IPv4 address\n`);
    return 2;
  }
  const from: number[] = [];
  for (const f of v.from ?? []) {
    if (!isValidIpv4(f)) {
      io.stderr(`${ME}: --from ${f}: not an IPv4 address\n`);
      return 2;
    }
    from.push(ipv4FromString(f));
  }
  let addon;
  try {
    addon = loadAfPacket();
  } catch (e) {
    io.stderr(`${ME}: ${(e as Error).message}\n`);
    return 70;
  }
  try {
    addon.ifInfo(iface);
  } catch (e) {
    io.stderr(`${ME}: ${(e as Error).message}\n`);
    return 2;
  }
  let addrText = v.addr ?? null;
  if (addrText === null) {
    try {
      addrText = firstIpv4(iface);
    } catch (e) {
      io.stderr(`${ME}: reading the addresses of ${iface}: ${(e as Error).message.split('\n')[0]}\n`);
      return 2;
    }
    if (addrText === null) {
      io.stderr(`${ME}: ${iface} has no IPv4 address; give --addr\n`);
      return 2;
    }
  } else if (!(hostIpv4()?.includes(addrText) ?? true)) {
    io.stderr(`${ME}: warning: ${addrText} is not an address of this host\n`);
  }
  const addr = ipv4FromString(addrText);

  let svc: RsTunService;
  try {
    svc = RsTunService.open({
      iface,
      addr,
      guePort,
      tunName,
      guard: !v['no-guard'],
      from,
      log: (m) => io.stderr(`${ME}: ${m}\n`),
    });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    if (/EPERM|EACCES/.test(msg)) {
      io.stderr(`${ME}: permission denied (${msg}); run as root (CAP_NET_RAW and CAP_NET_ADMIN)\n`);
      return 4;
    }
    io.stderr(`${ME}: ${msg}\n`);
    return 2;
  }
  const kinds = ['ipip', 'ip6ip', 'gre', ...(guePort !== 0 ? [`gue udp/${guePort}`] : [])].join(', ');
  io.stderr(
    `${ME}: ${iface} ${ipv4ToString(addr)}: ${kinds} → ${svc.tunName}` +
      `${from.length ? ` (from ${from.map(ipv4ToString).join(', ')})` : ''}` +
      `${svc.guard?.isInstalled ? `; nft table netdev ${svc.guard.table}` : ''}\n`,
  );
  return await new Promise<number>((resolve) => {
    const usr2 = (): void => io.stderr(`${ME}: ${svc.statsLine()}\n`);
    const stop = (): void => {
      process.off('SIGUSR2', usr2);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      const line = svc.statsLine();
      svc.close();
      io.stderr(`${ME}: stopped; ${line}\n`);
      resolve(0);
    };
    process.on('SIGUSR2', usr2);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

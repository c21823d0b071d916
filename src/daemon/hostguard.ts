/**
 * Keeping the host's own stack out of traffic tslvs has taken over.
 *
 * An AF_PACKET tap sees a frame before the host processes it; the host still does. The VIPs and
 * FullNAT local addresses are not configured on the host, so with net.ipv4.ip_forward=0 the host
 * drops such frames silently (not for it, not forwarding): no RST, no duplicate. With forwarding
 * on, the host would route VIP traffic and NAT replies itself, so tslvs installs an nftables
 * netdev ingress chain per served interface — it runs after the tap (ETH_P_ALL taps see frames
 * before ingress hooks) — that drops:
 *  - packets to an owned address (VIPs, local addresses), and
 *  - NAT/FullNAT replies (real server address + port as source) not addressed to the host itself.
 * The table is named per process (tslvs_<pid>) and removed on exit. Without the nft binary the
 * daemon warns once when ip_forward is on, and runs on.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ServiceTable } from '../control/services.ts';
import { Fwd } from '../model/flags.ts';
import { ipv4ToString } from '../wire/addr.ts';

export class HostGuard {
  readonly table = `tslvs_${process.pid}`;
  private readonly ifnames: readonly string[];
  private readonly log: (m: string) => void;
  private installed = false;
  private unavailable = false;
  private last = '';

  constructor(ifnames: readonly string[], log: (m: string) => void) {
    this.ifnames = ifnames;
    this.log = log;
  }

  /** The ruleset for the current services (pure; exported for tests through ruleset()). */
  ruleset(services: ServiceTable, local: readonly number[]): string {
    const owned = [...services.owned4.keys()].map(ipv4ToString);
    const nat: string[] = [];
    for (const s of services.list) {
      for (const d of s.dests) {
        if (d.addr.af !== 4 || (d.fwd !== Fwd.MASQ && d.fwd !== Fwd.FULLNAT) || s.proto === 0) continue;
        nat.push(
          `${ipv4ToString(d.addr.v4)} . ${s.proto === 17 ? 'udp' : s.proto === 132 ? 'sctp' : 'tcp'} . ${d.port}`,
        );
      }
    }
    const lines = [
      `table netdev ${this.table} {`,
      `  set owned4 { type ipv4_addr; ${owned.length ? `elements = { ${owned.join(', ')} }` : ''} }`,
      `  set local4 { type ipv4_addr; ${local.length ? `elements = { ${local.map(ipv4ToString).join(', ')} }` : ''} }`,
      `  set natrs { type ipv4_addr . inet_proto . inet_service; ${nat.length ? `elements = { ${[...new Set(nat)].join(', ')} }` : ''} }`,
    ];
    this.ifnames.forEach((ifn, k) => {
      lines.push(
        `  chain in${k} {`,
        `    type filter hook ingress device "${ifn}" priority -500; policy accept;`,
        '    ip daddr @owned4 drop',
        '    ip daddr != @local4 ip saddr . meta l4proto . th sport @natrs drop',
        '  }',
      );
    });
    lines.push('}');
    return lines.join('\n') + '\n';
  }

  /** Installs or refreshes the rules; cheap when nothing changed. */
  update(services: ServiceTable, local: readonly number[] = []): void {
    if (this.unavailable) return;
    const rs = this.ruleset(services, local);
    if (rs === this.last) return;
    try {
      const script = (this.installed ? `delete table netdev ${this.table}\n` : '') + rs;
      execFileSync('nft', ['-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
      this.installed = true;
      this.last = rs;
    } catch (e) {
      this.unavailable = true;
      const forwarding = readOr('/proc/sys/net/ipv4/ip_forward').trim() === '1';
      this.log(
        `host guard not installed (${(e as Error).message.split('\n')[0]})` +
          (forwarding
            ? '; net.ipv4.ip_forward is 1, so the host may forward VIP traffic and NAT replies itself'
            : ''),
      );
    }
  }

  remove(): void {
    if (!this.installed) return;
    try {
      execFileSync('nft', ['delete', 'table', 'netdev', this.table], { stdio: 'ignore' });
    } catch {
      // Already gone (namespace deleted).
    }
    this.installed = false;
  }
}

function readOr(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

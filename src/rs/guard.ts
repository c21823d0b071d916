/**
 * Keeping the real server's own kernel quiet about the tunnel packets `tslvs rs-tun` handles.
 *
 * The AF_PACKET tap sees each tunnel packet first, but the host stack still receives it too. A
 * kernel without the ipip / ip_gre modules has no handler for protocols 4, 41 and 47 and answers
 * every such packet with ICMP protocol unreachable (icmp_send from ip_protocol_deliver_rcu); a
 * kernel without a fou socket on the GUE port answers ICMP port unreachable. So the helper installs
 * an nftables netdev ingress chain on the receiving interface that drops exactly those packets:
 * ingress hooks run after the ETH_P_ALL taps (packet-io.md pitfall 5), so rs-tun has the frame
 * already. The table is named per process (tslvs_rs_<pid>) and removed on exit.
 */
import { execFileSync } from 'node:child_process';
import { ipv4ToString } from '../wire/addr.ts';

export class RsGuard {
  readonly table: string;
  private readonly ifname: string;
  private readonly addr: number;
  private readonly guePort: number;
  private installed = false;

  constructor(ifname: string, addr: number, guePort: number, pid = process.pid) {
    this.ifname = ifname;
    this.addr = addr;
    this.guePort = guePort;
    this.table = `tslvs_rs_${pid}`;
  }

  /** The nft script (pure). */
  ruleset(): string {
    const a = ipv4ToString(this.addr);
    const lines = [
      `table netdev ${this.table} {`,
      '  chain in {',
      `    type filter hook ingress device ${JSON.stringify(this.ifname)} priority -500; policy accept;`,
      `    ip daddr ${a} ip protocol { 4, 41, 47 } drop`,
    ];
    if (this.guePort !== 0) lines.push(`    ip daddr ${a} udp dport ${this.guePort} drop`);
    lines.push('  }', '}');
    return lines.join('\n') + '\n';
  }

  /** Installs the table; throws the nft error (first line) when it cannot. */
  install(): void {
    try {
      execFileSync('nft', ['-f', '-'], { input: this.ruleset(), stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (e) {
      const x = e as { stderr?: Buffer | string; message: string };
      const detail = String(x.stderr ?? '').trim() || x.message;
      throw new Error(`nft: ${detail.split('\n')[0]}`, { cause: e });
    }
    this.installed = true;
  }

  get isInstalled(): boolean {
    return this.installed;
  }

  /** Removes the table; never throws (the namespace may be gone already). */
  remove(): void {
    if (!this.installed) return;
    this.installed = false;
    try {
      execFileSync('nft', ['delete', 'table', 'netdev', this.table], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}

/**
 * The lab's text output: titles, the hosts table, the per-hop trace, the LVS summary and the
 * --keep instructions. Plain text, at most about 120 columns, no colour.
 */
import type { LabRun } from './run.ts';
import type { Hop, TracePacket } from './capture.ts';
import { describeChange } from './capture.ts';
import type { LvsResult } from './lvs.ts';

/** Left-aligned columns, two spaces apart, no trailing blanks. */
export function table(
  head: readonly string[] | null,
  rows: readonly (readonly string[])[],
  indent = '',
): string {
  const all = head === null ? rows : [head, ...rows];
  if (all.length === 0) return '';
  const cols = Math.max(...all.map((r) => r.length));
  const w = Array.from({ length: cols }, (_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return (
    all
      .map((r) =>
        `${indent}${r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(w[c]))).join('  ')}`.trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function formatTitle(cmd: string, title: string, seed: string): string {
  return `${cmd} — ${title}\nFrom ${seed}.\n\n`;
}

/** The hosts table: role, namespace, interface, MAC, addresses. */
export function formatHosts(run: LabRun): string {
  const rows = run.ifs.map((i) => [i.role, run.ns(i.role), i.ifname, i.mac, i.addrs.join(' ')]);
  for (const sw of run.switches) rows.push([sw, run.ns(sw), 'br0', '(bridge)', '']);
  return table(['host', 'namespace', 'if', 'MAC', 'addresses'], rows, '  ');
}

/** The dumpFrame line without its trailing length, which only adds noise in a trace. */
function frameText(h: Hop): string {
  return h.frame.line.replace(/, len \d+$/, '');
}

/** One packet on each hop, with what every forwarding host changed. */
export function formatHops(hops: readonly Hop[], indent: string, width = 0): string {
  const names = hops.map((h) => `${h.from} → ${h.to}`);
  const w = Math.max(width, ...names.map((n) => n.length));
  let out = '';
  hops.forEach((h, k) => {
    out += `${indent}${names[k].padEnd(w)}  ${frameText(h)}\n`;
    if (k > 0)
      out += `${indent}${' '.repeat(w)}    ${h.from} changed: ${describeChange(hops[k - 1].frame, h.frame)}\n`;
  });
  return out;
}

const PACKET_TITLES: Readonly<Record<string, string>> = {
  SYN: 'SYN (the client opens the connection; the director schedules it here)',
  'SYN-ACK': "SYN-ACK (the real server's answer)",
  request: 'the HTTP request',
  reply: 'the HTTP reply',
};

export function formatTrace(trace: readonly TracePacket[]): string {
  let out = '';
  const w = Math.max(0, ...trace.flatMap((p) => p.hops.map((h) => `${h.from} → ${h.to}`.length)));
  for (const p of trace) {
    out += `  ${PACKET_TITLES[p.label] ?? p.label}\n`;
    out += p.hops.length === 0 ? '    (not captured)\n' : formatHops(p.hops, '    ', w);
  }
  return out;
}

/** Everything after the header: requests, listing, trace, pcaps, and what to look for. */
export function formatLvsResult(r: LvsResult): string {
  const p = r.plan;
  const n = r.requests.length;
  let out = `Requests: ${n} × curl http://${p.vip}${p.vport === 80 ? '' : `:${p.vport}`}/ from ${p.client}, one connection each\n`;
  const rows = p.servers.map((s) => [`${s.role} (${s.rip}:${s.port})`, String(r.served.get(s.role) ?? 0)]);
  if (r.failed > 0) rows.push(['failed', String(r.failed)]);
  out += table(null, rows, '  ');
  out += `  answers in order: ${r.requests.map((q) => q.server ?? 'FAILED').join(' ')}\n`;
  const slow = r.requests.filter((q) => q.ms > 700 && q.server !== null);
  if (slow.length > 0)
    out += `  (${slow.length === 1 ? 'request' : 'requests'} ${slow.map((q) => q.n).join(', ')} waited for the director to resolve the real server's MAC by ARP; curl resent the SYN after 1 s)\n`;
  out += `\n$ ipvsadm -Ln\n${r.listing}\n$ ipvsadm -Ln --stats\n${r.stats}\n`;
  const t = r.traced;
  out += `Trace of request ${t.n} (client port ${t.cport}, answered by ${t.server ?? 'nobody'}), as captured on each link:\n`;
  out += r.trace === null ? "  (the client's SYN is not in the captures)\n" : formatTrace(r.trace);
  out += `\nLook for:\n${p.lookFor.map((l) => `  - ${l}`).join('\n')}\n`;
  if (r.pcaps.length > 0)
    out += `\nCaptures (one per link, open them in Wireshark):\n${r.pcaps.map((f) => `  ${f}`).join('\n')}\n`;
  out += r.kept
    ? formatKeep(r)
    : `\nDone in ${r.seconds.toFixed(1)} s; the lab's namespaces and processes are gone.\n`;
  return out;
}

export function formatKeep(r: {
  readonly namespaces: readonly { readonly role: string; readonly ns: string }[];
  readonly admCommand?: string;
  readonly seconds: number;
}): string {
  let out = `\nThe topology stays up (--keep; ${r.seconds.toFixed(1)} s so far). Enter a host:\n`;
  out += table(
    null,
    r.namespaces.map((n) => [`  ${n.role}`, `ip netns exec ${n.ns} bash`]),
  );
  if (r.admCommand !== undefined) out += `ipvsadm against the lab's director:\n  ${r.admCommand} -Ln\n`;
  out += 'Tear it down with: tslvs lab clean\n';
  return out;
}

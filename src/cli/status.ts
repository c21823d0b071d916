/**
 * `tslvs status`: what a running tslvsd has counted — every non-zero datapath counter (drops by
 * reason, passes, transmits, software-segmented GSO frames, …) and each port's socket statistics.
 *
 *   tslvs status [--socket PATH] [--json]
 */
import { parseArgs } from 'node:util';
import { ControlClient, DaemonUnavailableError, RemoteError } from '../ipc/client.ts';
import { DEFAULT_SOCKET } from '../ipc/protocol.ts';
import type { CliIo } from './tslvs.ts';

export const STATUS_HELP = `Usage: tslvs status [--socket PATH] [--json]

Prints the counters of a running tslvs daemon: one "NAME value" line per non-zero datapath
counter (malformed frames by reason, passes to the host, drops, transmits), then each
interface's socket statistics. --json prints the daemon's answer as JSON instead.

  --socket PATH  control socket (default $TSLVS_SOCKET, else ${DEFAULT_SOCKET})
  --json         machine-readable output
`;

interface StatusAnswer {
  counters?: Record<string, number>;
  ports?: Record<string, unknown>[];
}

export async function runStatus(argv: readonly string[], io: CliIo): Promise<number> {
  let v: { socket?: string; json?: boolean; help?: boolean };
  try {
    v = parseArgs({
      args: [...argv],
      options: {
        socket: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    io.stderr(`tslvs status: ${(e as Error).message}\n`);
    return 2;
  }
  if (v.help === true) {
    io.stdout(STATUS_HELP);
    return 0;
  }
  const path = v.socket ?? io.env.TSLVS_SOCKET ?? DEFAULT_SOCKET;
  let client: ControlClient;
  try {
    client = await ControlClient.connect(path);
  } catch (e) {
    const why = e instanceof DaemonUnavailableError ? e.message : String(e);
    io.stderr(`tslvs status: ${why}\n`);
    return 1;
  }
  try {
    const st = (await client.call('status')) as StatusAnswer;
    if (v.json === true) {
      io.stdout(`${JSON.stringify(st, null, 2)}\n`);
      return 0;
    }
    const c = st.counters ?? {};
    const names = Object.keys(c).sort();
    const w = Math.max(4, ...names.map((n) => n.length));
    let out = '';
    for (const n of names) out += `${n.padEnd(w)}  ${c[n]}\n`;
    for (const p of st.ports ?? []) {
      const { name, ...rest } = p;
      out += `\nport ${String(name)}\n`;
      for (const [k, val] of Object.entries(rest)) out += `  ${k.padEnd(w - 2)}  ${String(val)}\n`;
    }
    io.stdout(out);
    return 0;
  } catch (e) {
    io.stderr(`tslvs status: ${e instanceof RemoteError ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

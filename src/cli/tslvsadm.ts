#!/usr/bin/env node
/**
 * tslvsadm: ipvsadm 1.31's command line, byte for byte, against a running tslvsd. Invoked under
 * the name `ipvsadm` (a symlink) it is a drop-in replacement: the same options, output, error
 * messages and exit statuses. The daemon socket is /run/tslvs/tslvsd.sock unless TSLVS_SOCKET
 * names another.
 *
 * Parsing happens here (so usage errors never need the daemon); the daemon parses each command
 * line again before it executes it, and listings are formatted here from the daemon's snapshot
 * (so host and service names resolve as ipvsadm resolves them, on the machine running the tool).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IpvsadmCommand, ParseOptions } from './ipvsadm/args.ts';
import { parseIpvsadm, splitRestoreInput } from './ipvsadm/args.ts';
import type { IpvsSnapshot } from './ipvsadm/format.ts';
import { defaultNameResolver, formatListCommand, formatSave, numericResolver } from './ipvsadm/format.ts';
import { hostsFileResolver, servicesFileResolver } from './ipvsadm/resolve.ts';
import { ControlClient, DaemonUnavailableError, RemoteError } from '../ipc/client.ts';
import { DEFAULT_SOCKET } from '../ipc/protocol.ts';

export interface AdmIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Standard input as text (for -R). */
  readStdin(): string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function parseOpts(prog: string, env: AdmIo['env'], restoreMode = false): ParseOptions {
  return {
    progName: prog,
    restoreMode,
    resolveHost: hostsFileResolver(readOr('/etc/hosts')),
    resolveService: servicesFileResolver(readOr('/etc/services')),
    posixlyCorrect: env.POSIXLY_CORRECT !== undefined || env.POSIX_ME_HARDER !== undefined,
  };
}

/**
 * One ipvsadm invocation. `argv` excludes the program name; `prog` is how we were invoked
 * (ipvsadm prints argv[0] in its usage text). Returns the exit status.
 */
export async function tslvsadmMain(argv: readonly string[], io: AdmIo, prog = 'ipvsadm'): Promise<number> {
  const socket = io.env.TSLVS_SOCKET ?? DEFAULT_SOCKET;
  // ipvsadm with no arguments lists everything, with names (list_all(FMT_NONE)).
  const args = argv.length === 0 ? ['-L'] : argv;
  const r = parseIpvsadm(args, parseOpts(prog, io.env));
  if (!r.ok) {
    io.stderr(r.message);
    return r.exitCode;
  }
  const cmd = r.cmd;
  if (cmd.kind === 'help' || cmd.kind === 'version') {
    io.stdout(cmd.text);
    return 0;
  }
  if (cmd.kind === 'noop') return 0;
  let client: ControlClient;
  try {
    client = await ControlClient.connect(socket);
  } catch (e) {
    if (e instanceof DaemonUnavailableError) {
      // ipvsadm's own words when IPVS cannot be reached (fail(2, "Can't initialize ipvs: …")).
      io.stderr(
        `Can't initialize ipvs: ${e.message}\nIs tslvsd running? Start it, or set TSLVS_SOCKET to its control socket.\n`,
      );
      return 2;
    }
    throw e;
  }
  try {
    if (cmd.kind === 'restore') return await restore(client, io, prog);
    return await run(client, cmd, args, io);
  } finally {
    client.close();
  }
}

async function run(
  client: ControlClient,
  cmd: IpvsadmCommand,
  argv: readonly string[],
  io: AdmIo,
): Promise<number> {
  if (cmd.kind === 'list' || cmd.kind === 'save' || cmd.kind === 'get-laddr') {
    const withConns = cmd.kind === 'list' && cmd.what === 'connections';
    const snap = (await client.call('snapshot', { conns: withConns })) as IpvsSnapshot;
    if (cmd.kind === 'save') {
      io.stdout(formatSave(snap, cmd.numeric, cmd.numeric ? numericResolver : defaultNameResolver()));
      return 0;
    }
    if (cmd.kind === 'get-laddr') {
      for (const s of snap.services) for (const la of s.laddrs ?? []) io.stdout(`${la}\n`);
      return 0;
    }
    const out = formatListCommand(snap, cmd, cmd.format.numeric ? numericResolver : defaultNameResolver());
    io.stdout(out.stdout);
    io.stderr(out.stderr);
    return out.exitCode;
  }
  try {
    await client.call('command', { argv });
    return 0;
  } catch (e) {
    if (e instanceof RemoteError) {
      io.stderr(`${e.body.message}\n`);
      return e.body.exitCode;
    }
    throw e;
  }
}

/**
 * ipvsadm -R (restore_table): every line of standard input is one invocation. A usage error
 * ends the whole run (fail() exits); a failed operation prints its message and the run goes on;
 * the exit status is the last line's.
 */
async function restore(client: ControlClient, io: AdmIo, prog: string): Promise<number> {
  let result = 0;
  for (const line of splitRestoreInput(io.readStdin())) {
    if (line.length === 0) continue;
    const r = parseIpvsadm(line, parseOpts(prog, io.env, true));
    if (!r.ok) {
      io.stderr(r.message);
      if (r.exits) return r.exitCode;
      result = r.exitCode;
      continue;
    }
    if (r.cmd.kind === 'noop') continue;
    if (r.cmd.kind === 'help' || r.cmd.kind === 'version') {
      io.stdout(r.cmd.text);
      return 0;
    }
    result = await run(client, r.cmd, line, io);
  }
  return result;
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
  const prog = basename(process.argv[1] ?? 'ipvsadm');
  const io: AdmIo = {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    readStdin: () => readFileSync(0, 'utf8'),
    env: process.env,
  };
  tslvsadmMain(
    process.argv.slice(2),
    io,
    prog === 'tslvsadm.js' ? 'tslvsadm' : prog.replace(/\.js$/, ''),
  ).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${prog}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

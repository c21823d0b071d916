#!/usr/bin/env node
/**
 * `tslvs <command> [args]`: the command-line entry point. Each command is a function from its
 * arguments and an I/O object to an exit status, so tests run them without a process.
 *
 * Exit status: 0 done, 2 bad usage or bad input, 70 internal error (keepalived's and sysexits'
 * EX_SOFTWARE). Errors are one line on stderr; a stack trace only with TSLVS_DEBUG set.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runSimulate } from './simulate.ts';

/** What a command may touch of the outside world. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads a whole text file; '-' is standard input. Throws the fs error (with `code`). */
  readFile(path: string): string;
  /** Environment variables. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

interface Command {
  readonly summary: string;
  run(argv: readonly string[], io: CliIo): number | Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  simulate: {
    summary: 'what-if: where flows go under ipvsadm rules, and what moves when servers change',
    run: runSimulate,
  },
  daemon: {
    summary: 'the director: serve virtual services on interfaces (tslvsd), controlled by tslvsadm',
    run: async (argv, io) => {
      // Before the daemon's modules load, so the packet path is compiled with these settings.
      (await import('../daemon/v8tune.ts')).tuneV8ForDatapath();
      return (await import('../daemon/main.ts')).runDaemon(argv, io);
    },
  },
  status: {
    summary: "a running daemon's counters: drops by reason, passes, transmits, per-port socket stats",
    run: async (argv, io) => (await import('./status.ts')).runStatus(argv, io),
  },
  lab: {
    summary: "the seeds' experiments (dr, nat, fullnat, arp, route, sched…) in network namespaces",
    run: async (argv, io) => (await import('../lab/main.ts')).runLab(argv, io),
  },
  'rs-tun': {
    summary: 'real-server helper for TUN mode: decapsulate IPIP/GUE/GRE without kernel modules',
    run: async (argv, io) => (await import('./rs-tun.ts')).runRsTun(argv, io),
  },
};

export const EXIT_USAGE = 2;
export const EXIT_SOFTWARE = 70;

export function tslvsHelp(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return `Usage: tslvs <command> [options]
       tslvs help <command>
       tslvs --version

A user-space Linux Virtual Server (IPVS) director.

Commands:
${names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n].summary}`).join('\n')}

Options:
  -h, --help     this help
  -V, --version  print the version

'tslvs <command> --help' describes a command.
`;
}

/** The version in package.json (three levels above dist/src/cli/). */
export function tslvsVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const TRY = "Try 'tslvs --help' for more information.\n";

/** Runs `tslvs ARGV`; never throws, returns the exit status. */
export async function tslvsMain(argv: readonly string[], io: CliIo): Promise<number> {
  // tslvs's own options come before the command; everything after it belongs to the command.
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const own = at < 0 ? argv : argv.slice(0, at);
  let values;
  try {
    values = parseArgs({
      args: [...own],
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    io.stderr(`tslvs: ${e instanceof Error ? e.message : String(e)}\n${TRY}`);
    return EXIT_USAGE;
  }
  if (values.help === true) {
    io.stdout(tslvsHelp());
    return 0;
  }
  if (values.version === true) {
    io.stdout(`tslvs ${tslvsVersion()}\n`);
    return 0;
  }
  if (at < 0) {
    io.stderr(`tslvs: no command given\n${TRY}`);
    return EXIT_USAGE;
  }
  let name = argv[at];
  let rest = argv.slice(at + 1);
  if (name === 'help') {
    if (rest.length === 0) {
      io.stdout(tslvsHelp());
      return 0;
    }
    name = rest[0];
    rest = ['--help'];
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (cmd === undefined) {
    io.stderr(`tslvs: unknown command '${name}'\n${TRY}`);
    return EXIT_USAGE;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    io.stderr(`tslvs ${name}: internal error: ${msg}\n`);
    if (io.env.TSLVS_DEBUG !== undefined && e instanceof Error && e.stack !== undefined)
      io.stderr(`${e.stack}\n`);
    return EXIT_SOFTWARE;
  }
}

/** The real process's I/O. */
export function processIo(): CliIo {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    readFile: (p) => readFileSync(p === '-' ? 0 : p, 'utf8'),
    env: process.env,
  };
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
  // `tslvs ... | head` closes the pipe early: stop quietly instead of dying on EPIPE.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  void tslvsMain(process.argv.slice(2), processIo()).then((code) => {
    process.exitCode = code;
  });
}

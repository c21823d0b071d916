/**
 * What a lab run needs from the machine, checked before anything is created: root, iproute2,
 * tcpdump, curl, ping, the AF_PACKET addon. Each missing piece is one clear LabError saying what
 * to do, with the exit status tslvs uses (4 for missing permission, as keepalived does; 2 for a
 * missing tool or bad input).
 *
 * Also where the programs the lab starts live: the daemon and tslvsadm come from the same tree as
 * the running lab code (dist/ when built, src/ under a TypeScript loader), never from $PATH.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tryLoadAfPacket } from '../io/addon.ts';

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
export const EXIT_PERMISSION = 4;
export const EXIT_SOFTWARE = 70;

/** A failure with a message for the operator and the exit status that goes with it. */
export class LabError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_USAGE) {
    super(message);
    this.exitCode = exitCode;
  }
}

export type Requirement = 'root' | 'ip' | 'tcpdump' | 'curl' | 'ping' | 'addon';

/** Whether a program is on $PATH (`command -v` through sh, as a shell user would find it). */
export function haveProgram(name: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$0"', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const INSTALL: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  tcpdump: 'tcpdump',
  curl: 'curl',
  ping: 'iputils-ping',
};

/** The first requirement that is not met, as a LabError; null when all are. */
export function checkRequirements(
  need: readonly Requirement[],
  isRoot = process.getuid?.() === 0,
): LabError | null {
  for (const r of need) {
    if (r === 'root') {
      if (!isRoot)
        return new LabError(
          'needs root (network namespaces, packet sockets): run it as root, e.g. with sudo',
          EXIT_PERMISSION,
        );
    } else if (r === 'addon') {
      const { error } = tryLoadAfPacket();
      if (error !== null) return new LabError(`the director cannot run: ${error}`);
    } else if (!haveProgram(r)) {
      return new LabError(
        `${r} is not installed: install the ${INSTALL[r]} package (e.g. apt-get install -y ${INSTALL[r]})`,
      );
    }
  }
  return null;
}

/** The entry points the lab spawns, resolved next to this module (so dist/ runs dist/). */
export interface Programs {
  /** Interpreter and leading arguments (node, plus a loader when running from source). */
  readonly node: string;
  readonly nodeArgs: readonly string[];
  readonly tslvs: string;
  readonly tslvsadm: string;
}

export function programs(): Programs {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const tslvs = fileURLToPath(new URL(`../cli/tslvs.${ext}`, import.meta.url));
  const tslvsadm = fileURLToPath(new URL(`../cli/tslvsadm.${ext}`, import.meta.url));
  for (const p of [tslvs, tslvsadm])
    if (!existsSync(p)) throw new LabError(`${p} is missing: build first (npm run build)`, EXIT_SOFTWARE);
  // Running from .ts sources needs the same type stripping the parent process has.
  const nodeArgs = ext === 'ts' ? process.execArgv.filter((a) => a.startsWith('--experimental')) : [];
  return { node: process.execPath, nodeArgs, tslvs, tslvsadm };
}

/**
 * Runs tshark on frames or a pcap held in memory, for the cross-checks that tie goldens to an
 * independent decoder. Tests that use it skip when tshark is missing (apt-get install -y tshark).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINKTYPE_ETHERNET, PcapWriter } from '../../src/wire/pcap.ts';

/** The tshark binary: $TSHARK, else whatever `tshark` is on PATH. */
export const TSHARK = process.env.TSHARK ?? 'tshark';

let have: boolean | undefined;
export function hasTshark(): boolean {
  have ??= spawnSync(TSHARK, ['-v'], { stdio: 'ignore' }).status === 0;
  return have;
}

/** A `skip` option value for node:test: false when tshark runs, else the reason. */
export function tsharkSkip(): false | string {
  return hasTshark() ? false : 'tshark not installed (apt-get install -y tshark)';
}

/** A pcap of whole frames, frame i stamped 1_700_000_000 + i seconds. */
export function framesPcap(frames: readonly Uint8Array[], linktype: number = LINKTYPE_ETHERNET): Uint8Array {
  const w = new PcapWriter({ linktype });
  frames.forEach((f, i) => w.write(f, 0, f.length, 1_700_000_000 + i, 0));
  return w.toBuffer();
}

/** `tshark -r <file> ...args` on a pcap held in memory; returns stdout, throws on a non-zero exit. */
export function tsharkRun(file: Uint8Array, args: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'tshark-'));
  try {
    const path = join(dir, 'in.pcap');
    writeFileSync(path, file);
    const r = spawnSync(TSHARK, ['-r', path, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`tshark exited ${String(r.status)}: ${r.stderr}`);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** tshark on the given Ethernet frames (see framesPcap); returns stdout. */
export function tsharkDecode(frames: readonly Uint8Array[], args: readonly string[]): string {
  return tsharkRun(framesPcap(frames), args);
}

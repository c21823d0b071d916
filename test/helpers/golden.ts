/** Loads golden frames (hex text with `#` comments) from test/golden/<dir>/<name>.hex. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hex } from './bytes.ts';

/** The source tree's test/golden, found from the compiled or source location of this file. */
export function goldenRoot(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    const g = join(d, 'test', 'golden');
    if (existsSync(g)) return g;
    if (dirname(d) === d) throw new Error('test/golden not found');
  }
}

export function golden(dir: string, name: string): Uint8Array {
  return hex(readFileSync(join(goldenRoot(), dir, `${name}.hex`), 'utf8'));
}

export function goldenText(dir: string, name: string): string {
  return readFileSync(join(goldenRoot(), dir, `${name}.hex`), 'utf8');
}

/** Every golden frame under test/golden/<dir> (all dirs when omitted), by "dir/name". */
export function allGoldens(dir?: string): Map<string, Uint8Array> {
  const root = goldenRoot();
  const out = new Map<string, Uint8Array>();
  for (const d of dir ? [dir] : readdirSync(root)) {
    const p = join(root, d);
    if (!existsSync(p)) continue;
    for (const f of readdirSync(p).sort())
      if (f.endsWith('.hex')) out.set(`${d}/${f.slice(0, -4)}`, hex(readFileSync(join(p, f), 'utf8')));
  }
  return out;
}

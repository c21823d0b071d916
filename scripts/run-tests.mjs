#!/usr/bin/env node
/**
 * `npm test`: node --test over every *.test.js under a directory (default dist/test), with the
 * options given after it. The file list is explicit because the runners disagree on the rest:
 * Node 20 takes a directory but no glob, Node 22 and 24 a glob but no directory.
 *
 *   node scripts/run-tests.mjs [DIR] [node --test options...]
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import process from 'node:process';

const args = process.argv.slice(2);
const root = args.length > 0 && !args[0].startsWith('-') ? args.shift() : 'dist/test';
if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
  process.stderr.write(`run-tests: ${root} is not a directory (run npm run build first)\n`);
  process.exit(2);
}
const files = readdirSync(root, { recursive: true })
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => join(root, f))
  .sort();
if (files.length === 0) {
  process.stderr.write(`run-tests: no *.test.js under ${root}\n`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--test', ...args, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

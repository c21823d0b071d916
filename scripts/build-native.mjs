#!/usr/bin/env node
/* global process, console */
// Builds native/afpacket.node with npm's bundled node-gyp, offline: the headers come from the
// installed Node (<prefix>/include/node), so node-gyp never downloads a tarball.
//   npm run build:native            (also run by `npm ci` / `npm install` through the install hook)
//   TSLVS_SKIP_NATIVE=1 npm ci      skip it (the io tests that need the addon then skip)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');

if (process.env.TSLVS_SKIP_NATIVE) {
  console.log('build-native: TSLVS_SKIP_NATIVE is set, not building native/afpacket.node');
  process.exit(0);
}
if (process.platform !== 'linux') {
  console.log(`build-native: AF_PACKET is Linux only; skipping on ${process.platform}`);
  process.exit(0);
}

/** npm's bundled node-gyp first (npm exports its path to scripts), then a project-local one. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  try {
    candidates.push(createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally; fine
  }
  return candidates.find((p) => p && existsSync(p));
}

/** The running Node's own headers, so node-gyp does not try to download them. */
function findNodeDir() {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && existsSync(path.join(fromNpm, 'include', 'node', 'node_api.h'))) return fromNpm;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return undefined;
}

const gyp = findNodeGyp();
if (!gyp) {
  console.error("build-native: node-gyp not found (expected npm's bundled copy); install npm or node-gyp@12");
  process.exit(1);
}
const nodedir = findNodeDir();
if (!nodedir) {
  console.error(
    `build-native: no Node headers next to ${process.execPath} (include/node/node_api.h);` +
      ' install the nodejs headers package or set npm_config_nodedir',
  );
  process.exit(1);
}
const args = [gyp, 'rebuild', '--loglevel=warn', `--directory=${nativeDir}`, `--nodedir=${nodedir}`];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-native: node-gyp failed; set TSLVS_SKIP_NATIVE=1 to install without the addon');
  process.exit(r.status ?? 1);
}

#!/usr/bin/env node
// `node bench/snapshot.mjs DIR`: copies the compiled tree (packages/*/dist, package.json
// files, the Lua addon) to DIR so a later build can be compared with it in the same
// interleaved run (bench/ab.mjs, or SONIC_MAIN=DIR/packages/cli/dist/main.js).
// Third-party modules are linked to this checkout's node_modules; @sonic/* point into
// DIR, so the snapshot runs its own compiled code only. Prints the CLI path to use.

import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from './lib.mjs';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/snapshot.mjs DIR\n');
  process.exit(2);
}
const out = resolve(dir);
if (existsSync(out)) rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'node_modules', '@sonic'), { recursive: true });
const pkgs = readdirSync(join(REPO_ROOT, 'packages'));
for (const p of pkgs) {
  const src = join(REPO_ROOT, 'packages', p);
  // Everything but TypeScript sources (dist, package.json, bin, native addon builds).
  cpSync(src, join(out, 'packages', p), {
    recursive: true,
    filter: (s) => !/\/src\/.*\.ts$/.test(s) || /\/native\//.test(s),
  });
  symlinkSync(join(out, 'packages', p), join(out, 'node_modules', '@sonic', p));
}
cpSync(join(REPO_ROOT, 'package.json'), join(out, 'package.json'));
for (const e of readdirSync(join(REPO_ROOT, 'node_modules'))) {
  if (e === '@sonic' || e === '.bin') continue;
  symlinkSync(join(REPO_ROOT, 'node_modules', e), join(out, 'node_modules', e));
}
process.stdout.write(join(out, 'packages/cli/dist/main.js') + '\n');

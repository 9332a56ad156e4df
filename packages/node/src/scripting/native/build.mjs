// Builds the Lua addon (sonic_lua.node) with the system C compiler against Node's own
// headers and Debian's Lua 5.1, lua-cjson and LuaBitOp (see .ci/run for the packages).
// Run by the node package's install script and, if the binary is missing or older than
// its sources, by the loader itself.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const addonPath = join(here, 'build', 'sonic_lua.node');
const sources = ['sonic_lua.c', 'libs.c'].map((f) => join(here, f));

export function isStale() {
  if (!existsSync(addonPath)) return true;
  const t = statSync(addonPath).mtimeMs;
  return sources.some((s) => statSync(s).mtimeMs > t);
}

export function build() {
  const nodeInclude = [resolve(process.execPath, '../../include/node'), '/usr/include/node', '/usr/local/include/node'].find((d) =>
    existsSync(join(d, 'node_api.h')),
  );
  if (!nodeInclude) throw new Error('node_api.h not found (Node headers)');
  const luaInclude = ['/usr/include/lua5.1'].find((d) => existsSync(join(d, 'lua.h')));
  if (!luaInclude) throw new Error('Lua 5.1 headers not found: apt-get install liblua5.1-0-dev lua-cjson-dev lua-bitop-dev');
  mkdirSync(join(here, 'build'), { recursive: true });
  const tmp = addonPath + '.' + process.pid + '.tmp';
  const cc = process.env.CC || 'cc';
  execFileSync(
    cc,
    ['-O2', '-fPIC', '-shared', '-Wall', '-Wno-unused-parameter', '-DNODE_GYP_MODULE_NAME=sonic_lua', `-I${nodeInclude}`, `-I${luaInclude}`, ...sources, '-o', tmp,
      '-llua5.1-cjson', '-llua5.1-bitop', '-llua5.1', '-lm'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  renameSync(tmp, addonPath); // atomic: concurrent builds never load a half-written file
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--force') || isStale()) {
    try {
      build();
    } catch (err) {
      // Never fail `npm install` for it: the node runs without the addon, and EVAL/FCALL
      // answer an error naming the missing packages until it is built.
      console.warn(`sonic: the Lua scripting addon was not built (${err.message}); EVAL and FCALL will answer an error until it is.`);
      if (process.argv.includes('--strict')) process.exit(1);
    }
  }
}

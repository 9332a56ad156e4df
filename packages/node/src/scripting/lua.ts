import { createRequire } from 'node:module';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

/** A Lua VM inside the addon (opaque). */
export type VmHandle = { readonly __vm: unique symbol };

export interface VmHooks {
  /** Runs a command for redis.call/pcall (its arguments after `resp`); returns its reply bytes (RESP `resp`). */
  call(resp: number, ...argv: string[]): Buffer;
  log(level: number, msg: string): void;
  setRepl(flags: number): void;
  /** FUNCTION LOAD: a registered function; returns an error message or nothing. */
  register(name: string, flags: string[], description: string | null): string | undefined;
}

/** The N-API addon (native/sonic_lua.c): PUC Lua 5.1 with cjson, bit, cmsgpack, struct. */
export interface LuaAddon {
  createVM(hooks: VmHooks): VmHandle;
  /** kind 'scripts': compile and keep under `name`; 'lib': run a library body at once (loading mode). Returns an error or null. */
  compile(vm: VmHandle, kind: 'scripts' | 'lib', name: string, body: string, chunkName: string): string | null;
  /** Keeps (names !== null) or drops the functions the last 'lib' compile registered. */
  commit(vm: VmHandle, keep: true | null): void;
  drop(vm: VmHandle, kind: 'scripts' | 'functions', names: string[] | null): void;
  /**
   * Runs a script or function with `numkeys` keys followed by the arguments (passed as
   * arguments: cheaper across N-API than arrays). The reply (RESP bytes as a latin1
   * string), null when the script yielded (resume later), undefined when `name` is unknown.
   */
  run(vm: VmHandle, kind: 'scripts' | 'functions', name: string, callerResp: number, label: string, busyMs: number, mayYield: boolean, numkeys: number, ...keysThenArgs: string[]): string | null | undefined;
  /** The same with `numkeys` -1 and the keys and arguments as two arrays (for many of them). */
  run(vm: VmHandle, kind: 'scripts' | 'functions', name: string, callerResp: number, label: string, busyMs: number, mayYield: boolean, numkeys: -1, keys: string[], args: string[]): string | null | undefined;
  resume(vm: VmHandle): string | null;
  kill(vm: VmHandle): void;
  memory(vm: VmHandle): number;
  info(): { release: string; canYield: boolean };
}

let addon: LuaAddon | null = null;

/** Loads the addon, building it first when its binary is missing or older than its sources. */
export function loadLua(): LuaAddon {
  if (addon !== null) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  // Sources live in src/scripting/native; this file runs from dist/scripting or src/scripting.
  const nativeDir = [join(here, 'native'), join(here, '../../src/scripting/native')].find((d) => existsSync(join(d, 'build.mjs')));
  if (nativeDir === undefined) throw new Error('Lua addon sources not found');
  const bin = join(nativeDir, 'build', 'sonic_lua.node');
  const built = existsSync(bin) ? statSync(bin).mtimeMs : 0;
  if (['sonic_lua.c', 'libs.c'].some((f) => statSync(join(nativeDir, f)).mtimeMs > built)) {
    try {
      execFileSync(process.execPath, [join(nativeDir, 'build.mjs'), '--strict'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch {
      throw new Error('Lua scripting is unavailable on this node: its addon could not be built (apt-get install liblua5.1-0-dev lua-cjson-dev lua-bitop-dev, then npm rebuild)');
    }
  }
  const require = createRequire(import.meta.url);
  addon = require(bin) as LuaAddon;
  return addon;
}

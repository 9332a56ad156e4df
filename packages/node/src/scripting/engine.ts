import { createHash } from 'node:crypto';
import { lookupCommand, lookupSubcommand, type Sink } from '@sonic/protocol';
import type { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import type { Db } from '../engine/keyspace.js';
import { loadLua, type LuaAddon, type VmHandle } from './lua.js';

/**
 * Lua scripting (EVAL family) and functions (FUNCTION/FCALL) for one server.
 *
 * Scripts run synchronously on the event loop, so nothing else touches the keyspace
 * while one runs: each redis.call goes through `server.call` with a fake client, as the
 * command would from a connection. A script that runs past busy-reply-threshold yields
 * (see native/sonic_lua.c) and the server answers other clients BUSY until it ends or
 * SCRIPT KILL / FUNCTION KILL stops it.
 */

export interface LibraryFunction {
  name: string;
  description: string | null;
  flags: string[];
}

export interface Library {
  name: string;
  engine: 'LUA';
  code: string;
  functions: Map<string, LibraryFunction>;
}

/** The running script (or function) and what it did so far. */
export interface RunState {
  client: Client;
  kind: 'scripts' | 'functions';
  name: string;
  readOnly: boolean;
  db: Db;
  /** MULTI was propagated before the first write; EXEC follows at the end. */
  multi: boolean;
  wrote: boolean;
  startedAt: number;
  /** Yielded past the busy threshold: other clients get BUSY. */
  busy: boolean;
  killed: boolean;
  replFlags: number;
}

const FUNCTION_FLAGS = new Set(['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys']);
const FUNCTION_NAME = /^[A-Za-z0-9_]+$/;

class Collector implements Sink {
  chunks: Buffer[] = [];
  write(chunk: Buffer | string, encoding?: BufferEncoding): void {
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'latin1') : chunk);
  }
  take(): Buffer {
    const c = this.chunks;
    this.chunks = [];
    return c.length === 1 ? c[0]! : Buffer.concat(c);
  }
}

const engines = new WeakMap<Server, ScriptEngine>();

/** The server's scripting engine (created on first use: the Lua addon loads then). */
export function scriptingFor(server: Server): ScriptEngine {
  let e = engines.get(server);
  if (e === undefined) {
    e = new ScriptEngine(server);
    engines.set(server, e);
    server.scripting = e;
  }
  return e;
}

/** The engine if one was created (BUSY checks must not load Lua). */
export function scriptingIfAny(server: Server): ScriptEngine | undefined {
  return engines.get(server);
}

export function sha1hex(s: string): string {
  return createHash('sha1').update(s, 'latin1').digest('hex');
}

export class ScriptEngine {
  readonly lua: LuaAddon;
  private readonly vm: VmHandle;
  private readonly fvm: VmHandle;
  readonly scripts = new Map<string, string>();
  readonly libraries = new Map<string, Library>();
  /** Function name → its library. */
  readonly functions = new Map<string, Library>();
  private readonly fake: Client;
  private readonly sink = new Collector();
  running: RunState | null = null;
  /** Functions registered by the library being loaded. */
  private pending: LibraryFunction[] | null = null;
  private resumeTimer: NodeJS.Immediate | null = null;

  constructor(readonly server: Server) {
    this.lua = loadLua();
    const hooks = {
      call: (argv: string[], resp: number) => this.redisCall(argv, resp),
      log: (level: number, msg: string) => this.log(level, msg),
      setRepl: (flags: number) => {
        if (this.running) this.running.replFlags = flags;
      },
      register: (name: string, flags: string[], description: string | null) => this.register(name, flags, description),
    };
    this.vm = this.lua.createVM(hooks);
    this.fvm = this.lua.createVM(hooks);
    this.fake = new Client(server, null);
    this.fake.authenticated = true;
    // Blocking commands answer at once inside a script, as inside MULTI.
    this.fake.inExec = true;
    this.fake.name = '';
  }

  // ------------------------------------------------------------------ redis.* hooks

  private log(level: number, msg: string): void {
    const l = this.server.log;
    if (level === 3) l.warn({ script: true }, msg);
    else if (level === 2) l.info({ script: true }, msg);
    else l.debug({ script: true }, msg);
  }

  private redisCall(argv: string[], resp: number): Buffer {
    const run = this.running;
    if (run === null) return Buffer.from('-ERR redis.call outside a script\r\n');
    let spec = lookupCommand(argv[0]!);
    if (spec === undefined) return Buffer.from('-ERR Unknown Redis command called from script\r\n');
    if (spec.subcommands !== null && argv.length >= 2) {
      const sub = lookupSubcommand(spec, argv[1]!);
      if (sub === undefined) return Buffer.from('-ERR Unknown Redis command called from script\r\n');
      spec = sub;
    }
    if ((spec.arity > 0 && argv.length !== spec.arity) || argv.length < -spec.arity) {
      return Buffer.from('-ERR Wrong number of args calling Redis command from script\r\n');
    }
    if (spec.flags.has('noscript') || (spec.parent !== null && lookupCommand(spec.parent)?.flags.has('noscript'))) {
      return Buffer.from('-ERR This Redis command is not allowed from script\r\n');
    }
    if (spec.isWrite) {
      if (run.readOnly) return Buffer.from('-ERR Write commands are not allowed from read-only scripts.\r\n');
      if (!run.multi) {
        run.multi = true;
        this.server.keyspace.propagate(this.fake.db.id, ['MULTI']);
      }
      run.wrote = true;
    }
    const fake = this.fake;
    fake.reply.proto = resp === 3 ? 3 : 2;
    this.server.call(fake, argv, spec);
    fake.reply.drainTo(this.sink);
    return this.sink.take();
  }

  private register(name: string, flags: string[], description: string | null): string | undefined {
    if (this.pending === null) return 'redis.register_function can only be called on FUNCTION LOAD command';
    // Redis 7.0 words this error as for library names.
    if (!FUNCTION_NAME.test(name)) return 'Library names can only contain letters, numbers, or underscores(_) and must be at least one character long';
    for (const f of flags) if (!FUNCTION_FLAGS.has(f)) return 'unknown flag given';
    if (this.pending.some((p) => p.name === name)) return 'Function already exists in the library';
    this.pending.push({ name, flags, description });
    return undefined;
  }

  // ------------------------------------------------------------------ EVAL family

  /** Compiles `body` into the cache (SCRIPT LOAD, EVAL); returns its sha or an error reply. */
  load(body: string): { sha: string } | { error: string } {
    const sha = sha1hex(body);
    if (this.scripts.has(sha)) return { sha };
    const err = this.lua.compile(this.vm, 'scripts', sha, body, '@user_script');
    if (err !== null) return { error: `ERR Error compiling script (new function): ${err}` };
    this.scripts.set(sha, body);
    return { sha };
  }

  flushScripts(): void {
    this.scripts.clear();
    this.lua.drop(this.vm, 'scripts', null);
  }

  /**
   * Runs a cached script or a function for client `c` and writes its reply (now, or when
   * a yielded script finishes). Returns false when `name` is unknown.
   */
  run(c: Client, kind: 'scripts' | 'functions', name: string, keys: string[], args: string[], readOnly: boolean): boolean {
    const server = this.server;
    const run: RunState = {
      client: c,
      kind,
      name,
      readOnly,
      db: c.db,
      multi: false,
      wrote: false,
      startedAt: Date.now(),
      busy: false,
      killed: false,
      replFlags: 3,
    };
    this.fake.db = c.db;
    this.fake.reply.proto = 2;
    this.running = run;
    const threshold = server.config.int('busy-reply-threshold');
    // A yielded script must hold its client; inside MULTI or a nested call it cannot.
    const mayYield = c.socket !== null && !c.inExec && threshold > 0;
    const vm = kind === 'scripts' ? this.vm : this.fvm;
    let out: Buffer | null | undefined;
    try {
      out = this.lua.run(vm, kind, name, keys, args, c.reply.proto, name, threshold, mayYield);
    } catch (err) {
      this.running = null;
      throw err;
    }
    if (out === undefined) {
      this.running = null;
      return false;
    }
    // The script's effects were propagated one by one (wrapped in MULTI/EXEC): EVAL itself is not.
    server.propagated = true;
    if (out === null) {
      this.suspend(c, run, vm);
      return true;
    }
    this.finish(run, out);
    return true;
  }

  /** A script yielded past the threshold: hold its client, serve BUSY, resume next turn. */
  private suspend(c: Client, run: RunState, vm: VmHandle): void {
    run.busy = true;
    c.paused = true;
    const step = (): void => {
      this.resumeTimer = null;
      const out = this.lua.resume(vm);
      if (out === null) {
        this.resumeTimer = setImmediate(step);
        return;
      }
      this.finish(run, out);
      c.paused = false;
      this.server.flush(c);
      if (!c.closed) this.server.processInput(c);
    };
    this.resumeTimer = setImmediate(step);
  }

  private finish(run: RunState, out: Buffer): void {
    this.running = null;
    if (run.multi) this.server.keyspace.propagate(run.db.id, ['EXEC']);
    const r = run.client.reply;
    if (out[0] === 0x2d /* - */) r.error(out.toString('latin1', 1, out.length - 2));
    else r.rawBuf(out);
  }

  /** The BUSY error for a command arriving while a script is past the threshold, or null. */
  busyError(allowBusy: boolean): string | null {
    const run = this.running;
    if (run === null || !run.busy || allowBusy) return null;
    return run.kind === 'scripts'
      ? 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.'
      : 'BUSY Redis is busy running a function. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.';
  }

  /** True while a script that passed the busy threshold is running. */
  get busy(): boolean {
    return this.running !== null && this.running.busy;
  }

  /** SCRIPT KILL / FUNCTION KILL: an error reply, or null when the script will stop. */
  kill(kind: 'scripts' | 'functions'): string | null {
    const run = this.running;
    if (run === null || !run.busy) return 'NOTBUSY No scripts in execution right now.';
    if (run.kind !== kind) {
      return kind === 'scripts' ? 'BUSY Redis is busy running a function. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.' : 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.';
    }
    if (run.wrote) {
      return 'UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.';
    }
    run.killed = true;
    this.lua.kill(kind === 'scripts' ? this.vm : this.fvm);
    return null;
  }

  // ------------------------------------------------------------------ functions

  /** FUNCTION LOAD: returns the library name or an error reply. */
  loadLibrary(code: string, replace: boolean): { name: string } | { error: string } {
    const meta = parseShebang(code);
    if ('error' in meta) return meta;
    const old = this.libraries.get(meta.name);
    if (old !== undefined && !replace) return { error: `ERR Library '${meta.name}' already exists` };
    this.pending = [];
    // The shebang line is blanked so line numbers in errors stay those of the code.
    const body = code.slice(code.indexOf('\n') < 0 ? code.length : code.indexOf('\n'));
    let err: string | null;
    try {
      err = this.lua.compile(this.fvm, 'lib', meta.name, body, '@user_function');
    } finally {
      // (pending is read below)
    }
    const registered = this.pending;
    this.pending = null;
    if (err !== null) {
      this.lua.commit(this.fvm, null);
      return { error: `ERR Error registering functions: ${err}` };
    }
    if (registered.length === 0) {
      this.lua.commit(this.fvm, null);
      return { error: 'ERR No functions registered' };
    }
    for (const f of registered) {
      const owner = this.functions.get(f.name);
      if (owner !== undefined && owner !== old) {
        this.lua.commit(this.fvm, null);
        return { error: `ERR Function ${f.name} already exists` };
      }
    }
    if (old !== undefined) this.removeLibrary(old);
    this.lua.commit(this.fvm, true);
    const lib: Library = { name: meta.name, engine: 'LUA', code, functions: new Map(registered.map((f) => [f.name, f])) };
    this.libraries.set(lib.name, lib);
    for (const f of registered) this.functions.set(f.name, lib);
    return { name: lib.name };
  }

  removeLibrary(lib: Library): void {
    this.libraries.delete(lib.name);
    const names = [...lib.functions.keys()];
    for (const n of names) if (this.functions.get(n) === lib) this.functions.delete(n);
    this.lua.drop(this.fvm, 'functions', names);
  }

  flushFunctions(): void {
    this.libraries.clear();
    this.functions.clear();
    this.lua.drop(this.fvm, 'functions', null);
  }

  /** Every library's code, for persistence and replication (load them back with loadLibrary). */
  libraryCodes(): string[] {
    return [...this.libraries.values()].map((l) => l.code);
  }

  memory(): { scripts: number; functions: number } {
    return { scripts: this.lua.memory(this.vm), functions: this.lua.memory(this.fvm) };
  }
}

/** `#!lua name=<lib>` — the first line of a library. */
export function parseShebang(code: string): { name: string } | { error: string } {
  if (!code.startsWith('#!')) return { error: 'ERR Missing library metadata' };
  const eol = code.indexOf('\n');
  const line = code.slice(2, eol < 0 ? code.length : eol).trim();
  const parts = line.split(/\s+/);
  const engine = parts[0] ?? '';
  let name: string | null = null;
  for (const p of parts.slice(1)) {
    if (!p.startsWith('name=')) return { error: `ERR Invalid metadata value given: ${p}` };
    name = p.slice(5);
  }
  if (engine.toLowerCase() !== 'lua') return { error: `ERR Engine '${engine}' not found` };
  if (name === null) return { error: 'ERR Library name was not given' };
  if (!FUNCTION_NAME.test(name)) return { error: 'ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long' };
  return { name };
}

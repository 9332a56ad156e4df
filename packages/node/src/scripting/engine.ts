import { createHash } from 'node:crypto';
import { COMMANDS, keyHashSlot, lookupCommand, lookupSubcommand, type CommandSpec, type Sink } from '@sonic/protocol';
import type { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import { PROPAGATE_ALL, type CapturedOp, type Db } from '../engine/keyspace.js';
import { loadLua, type LuaAddon, type VmHandle } from './lua.js';

/**
 * Lua scripting (EVAL family) and functions (FUNCTION/FCALL) for one server.
 *
 * Scripts run synchronously on the event loop, so nothing else touches the keyspace
 * while one runs: each redis.call goes through `server.call` with a fake client, as the
 * command would from a connection. A script that runs past busy-reply-threshold yields
 * (see native/sonic_lua.c) and the server answers other clients BUSY until it ends or
 * SCRIPT KILL / FUNCTION KILL stops it.
 *
 * Like Redis 7, a script runs with the time frozen at its start for key expiry, its
 * effects (filtered by redis.set_repl) are held and propagated together when it ends
 * (MULTI/EXEC around them when more than one), and its declared flags (an EVAL script's
 * `#!lua flags=...` line, a function's `flags`) decide where and how it may run.
 */

/** Script flags: an EVAL script's `#!lua flags=...`, a function's `flags`. */
export const ScriptFlag = {
  NoWrites: 1,
  AllowOom: 2,
  AllowStale: 4,
  NoCluster: 8,
  AllowCrossSlot: 16,
  /** An EVAL script without a shebang line: the pre-7.0 rules. */
  EvalCompat: 32,
} as const;

const FLAG_NAMES = new Map<string, number>([
  ['no-writes', ScriptFlag.NoWrites],
  ['allow-oom', ScriptFlag.AllowOom],
  ['allow-stale', ScriptFlag.AllowStale],
  ['no-cluster', ScriptFlag.NoCluster],
  ['allow-cross-slot-keys', ScriptFlag.AllowCrossSlot],
]);

export function flagBits(names: readonly string[]): number {
  let f = 0;
  for (const n of names) f |= FLAG_NAMES.get(n) ?? 0;
  return f;
}

/**
 * An EVAL script's flags from its shebang line (`#!lua flags=no-writes,allow-oom`), and
 * the length of that line (the code compiled starts at its newline, so line numbers stay
 * the user's). Without a shebang: EvalCompat.
 */
export function evalScriptFlags(body: string): { flags: number; shebangLen: number } | { error: string } {
  if (!body.startsWith('#!')) return { flags: ScriptFlag.EvalCompat, shebangLen: 0 };
  const eol = body.indexOf('\n');
  if (eol < 0) return { error: 'ERR Invalid script shebang' };
  const parts = body.slice(0, eol).split(/[ \t\r\v\f]+/).filter((p) => p !== '');
  if (parts[0] !== '#!lua') return { error: `ERR Unexpected engine in script shebang: ${parts[0]}` };
  let flags = 0;
  for (const p of parts.slice(1)) {
    if (!p.startsWith('flags=')) return { error: `ERR Unknown lua shebang option: ${p}` };
    const list = p.slice(6);
    if (list === '') continue;
    for (const f of list.split(',')) {
      const bit = FLAG_NAMES.get(f);
      if (bit === undefined) return { error: `ERR Unexpected flag in script shebang: ${f}` };
      flags |= bit;
    }
  }
  return { flags, shebangLen: eol };
}

export interface LibraryFunction {
  name: string;
  description: string | null;
  flags: string[];
  /** `flags` as ScriptFlag bits. */
  bits: number;
}

/** A script in the EVAL cache. */
export interface CachedScript {
  body: string;
  /** ScriptFlag bits (EvalCompat without a shebang). */
  flags: number;
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
  wrote: boolean;
  startedAt: number;
  /** Yielded past the busy threshold: other clients get BUSY. */
  busy: boolean;
  killed: boolean;
  replFlags: number;
  /** ScriptFlag bits the script declared. */
  flags: number;
  /** Cluster mode: the slot of the keys used so far (the declared ones first), -1 none yet. */
  slot: number;
  /** Used memory was over maxmemory when the script started. */
  oomAtStart: boolean;
  /** The effects so far, propagated when the script ends. */
  ops: CapturedOp[];
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
    const out = c.length === 1 ? c[0]! : Buffer.concat(c);
    c.length = 0;
    return out;
  }
}

/** EVAL, EVALSHA, FCALL and their _RO forms: their admission flags come from the script's. */
export const SCRIPT_COMMAND_SPECS: ReadonlySet<CommandSpec> = new Set(['eval', 'eval_ro', 'evalsha', 'evalsha_ro', 'fcall', 'fcall_ro'].map((n) => COMMANDS.get(n)!));

/** Copies of those specs with the flags a script declared: by spec, then by (write, denyoom, stale). */
const flaggedSpecs = new Map<CommandSpec, CommandSpec[]>();

/**
 * The spec admission checks a script command by (Redis's evalGetCommandFlags and
 * fcallGetCommandFlags): for a script that declared flags, write unless `no-writes`,
 * denyoom unless `allow-oom` or `no-writes`, stale only with `allow-stale`, never
 * may_replicate. A script without a shebang, or one not known yet, keeps the command's own.
 */
export function scriptCommandSpec(server: Server, spec: CommandSpec, argv: string[]): CommandSpec {
  let flags: number | undefined;
  const name = spec.name;
  if (name === 'eval' || name === 'eval_ro') {
    const body = argv[1]!;
    if (!body.startsWith('#!')) return spec;
    const meta = evalScriptFlags(body);
    if ('error' in meta) return spec;
    flags = meta.flags;
  } else {
    const eng = engines.get(server);
    if (eng === undefined) return spec;
    if (name === 'fcall' || name === 'fcall_ro') flags = eng.functions.get(argv[1]!)?.functions.get(argv[1]!)?.bits;
    else flags = eng.cached(argv[1]!)?.flags;
  }
  if (flags === undefined || (flags & ScriptFlag.EvalCompat) !== 0) return spec;
  const write = (flags & ScriptFlag.NoWrites) === 0;
  const denyOom = (flags & (ScriptFlag.NoWrites | ScriptFlag.AllowOom)) === 0;
  const stale = (flags & ScriptFlag.AllowStale) !== 0;
  const i = (write ? 1 : 0) | (denyOom ? 2 : 0) | (stale ? 4 : 0);
  let variants = flaggedSpecs.get(spec);
  if (variants === undefined) flaggedSpecs.set(spec, (variants = []));
  let v = variants[i];
  if (v === undefined) {
    const f = new Set(spec.flags);
    for (const x of ['write', 'denyoom', 'stale', 'may_replicate']) f.delete(x);
    if (write) f.add('write');
    if (denyOom) f.add('denyoom');
    if (stale) f.add('stale');
    v = Object.assign(Object.create(spec) as CommandSpec, { flags: f, isWrite: write, denyOom });
    variants[i] = v;
  }
  return v;
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
  readonly scripts = new Map<string, CachedScript>();
  /** Effects of the running script (scripts never overlap: one array serves them all). */
  private readonly ops: CapturedOp[] = [];
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
      call: (resp: number, ...argv: string[]) => this.redisCall(argv, resp),
      log: (level: number, msg: string) => this.log(level, msg),
      setRepl: (flags: number) => {
        if (this.running) {
          this.running.replFlags = flags;
          this.server.keyspace.captureTargets = flags;
        }
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
    const refused = this.verifyCall(run, spec, argv);
    if (refused !== null) return Buffer.from(`-${refused}\r\n`);
    const fake = this.fake;
    fake.reply.proto = resp === 3 ? 3 : 2;
    this.server.call(fake, argv, spec);
    fake.reply.drainTo(this.sink);
    return this.sink.take();
  }

  /**
   * Redis's checks of a command a script runs, in its order: read-only scripts, a
   * read-only replica, disk errors, OOM (these three only until the script's first
   * write: it cannot stop half-way), then in cluster mode the keys' slot. Null to run it.
   */
  private verifyCall(run: RunState, spec: CommandSpec, argv: string[]): string | null {
    const server = this.server;
    // An allow-stale script on a stale replica runs only the commands allowed there.
    if (!spec.flags.has('stale') && this.stale()) return 'ERR Can not execute the command on a stale replica';
    if (spec.isWrite || spec.flags.has('may_replicate')) {
      if (run.readOnly) return 'ERR Write commands are not allowed from read-only scripts.';
    }
    // Internal callers (a primary's stream, the AOF loader) are obeyed.
    const obey = run.client.socket === null;
    if (spec.isWrite && !run.wrote && !obey) {
      const repl = server.replication;
      if (repl !== null && repl.role !== 'master' && server.config.bool('replica-read-only')) return "READONLY You can't write against a read only replica.";
      const diskErr = server.persistence.admissionError(spec);
      if (diskErr !== null) return diskErr;
    }
    if (spec.denyOom && run.oomAtStart && !run.wrote && !obey && (run.flags & ScriptFlag.AllowOom) === 0) {
      return "OOM command not allowed when used memory > 'maxmemory'.";
    }
    if (spec.isWrite) run.wrote = true;
    const slots = server.clusterSlots;
    if (slots !== null && !obey) {
      const slot = slots.scriptAccess(run.client, spec, argv);
      if (typeof slot === 'string') return `ERR ${slot}`;
      if (slot >= 0 && (run.flags & (ScriptFlag.EvalCompat | ScriptFlag.AllowCrossSlot)) === 0) {
        if (run.slot === -1) run.slot = slot;
        else if (run.slot !== slot) return 'ERR Script attempted to access keys that do not hash to the same slot';
      }
    }
    return null;
  }

  private register(name: string, flags: string[], description: string | null): string | undefined {
    if (this.pending === null) return 'redis.register_function can only be called on FUNCTION LOAD command';
    // Redis 7.0 words this error as for library names.
    if (!FUNCTION_NAME.test(name)) return 'Library names can only contain letters, numbers, or underscores(_) and must be at least one character long';
    for (const f of flags) if (!FUNCTION_FLAGS.has(f)) return 'unknown flag given';
    if (this.pending.some((p) => p.name === name)) return 'Function already exists in the library';
    this.pending.push({ name, flags, description, bits: flagBits(flags) });
    return undefined;
  }

  // ------------------------------------------------------------------ EVAL family

  /** Compiles `body` into the cache (SCRIPT LOAD, EVAL); returns its sha or an error reply. */
  load(body: string): { sha: string; flags: number } | { error: string } {
    const sha = sha1hex(body);
    const cached = this.scripts.get(sha);
    if (cached !== undefined) return { sha, flags: cached.flags };
    const meta = evalScriptFlags(body);
    if ('error' in meta) return meta;
    // The shebang line is left out, its newline kept: line numbers stay the user's.
    const code = meta.shebangLen > 0 ? body.slice(meta.shebangLen) : body;
    const err = this.lua.compile(this.vm, 'scripts', sha, code, '@user_script');
    if (err !== null) return { error: `ERR Error compiling script (new function): ${err}` };
    this.scripts.set(sha, { body, flags: meta.flags });
    return { sha, flags: meta.flags };
  }

  /** A cached script by its sha in any case (lower case, as clients send it, costs no copy). */
  cached(sha: string): CachedScript | undefined {
    return this.scripts.get(sha) ?? (sha.length === 40 ? this.scripts.get(sha.toLowerCase()) : undefined);
  }

  flushScripts(): void {
    this.scripts.clear();
    this.lua.drop(this.vm, 'scripts', null);
  }

  /**
   * Runs a cached script or a function for client `c` and writes its reply (now, or when
   * a yielded script finishes). Returns false when `name` is unknown.
   */
  run(c: Client, kind: 'scripts' | 'functions', name: string, keys: string[], args: string[], ro: boolean, flags: number): boolean {
    const server = this.server;
    const refused = this.prepare(c, flags, ro);
    if (refused !== null) {
      c.reply.error(refused);
      return true;
    }
    const compat = (flags & ScriptFlag.EvalCompat) !== 0;
    const run: RunState = {
      client: c,
      kind,
      name,
      readOnly: ro || (!compat && (flags & ScriptFlag.NoWrites) !== 0),
      db: c.db,
      wrote: false,
      startedAt: Date.now(),
      busy: false,
      killed: false,
      replFlags: PROPAGATE_ALL,
      flags,
      slot: server.clusterSlots !== null && keys.length > 0 ? keyHashSlot(keys[0]!) : -1,
      oomAtStart: this.outOfMemory(),
      ops: this.ops,
    };
    this.fake.db = c.db;
    this.fake.reply.proto = 2;
    this.running = run;
    this.enter(run);
    const threshold = server.config.int('busy-reply-threshold');
    // A yielded script must hold its client; inside MULTI or a nested call it cannot.
    const mayYield = c.socket !== null && !c.inExec && threshold > 0;
    const vm = kind === 'scripts' ? this.vm : this.fvm;
    let out: string | null | undefined;
    try {
      // Keys and arguments go as arguments (cheaper across N-API), as arrays when many.
      out =
        keys.length + args.length <= 32
          ? this.lua.run(vm, kind, name, c.reply.proto, name, threshold, mayYield, keys.length, ...keys, ...args)
          : this.lua.run(vm, kind, name, c.reply.proto, name, threshold, mayYield, -1, keys, args);
    } catch (err) {
      this.leave();
      this.running = null;
      // What it changed before failing still reaches the replicas and the AOF.
      this.propagateEffects(run);
      throw err;
    }
    if (out === undefined) {
      this.leave();
      this.running = null;
      return false;
    }
    // The script's effects are propagated when it ends (propagateEffects): EVAL itself is not.
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
    this.leave();
    // On a replica, the primary's stream waits in its client's input until the script ends
    // (as Redis defers it): answering it BUSY would drop writes.
    const master = this.server.replication?.masterClient ?? null;
    const holdMaster = master !== null && !master.paused && master !== c;
    if (holdMaster) master.paused = true;
    const step = (): void => {
      this.resumeTimer = null;
      this.enter(run);
      const out = this.lua.resume(vm);
      if (out === null) {
        this.leave();
        this.resumeTimer = setImmediate(step);
        return;
      }
      this.finish(run, out);
      c.paused = false;
      this.server.flush(c);
      if (!c.closed) this.server.processInput(c);
      if (holdMaster) this.releaseMaster(master);
    };
    this.resumeTimer = setImmediate(step);
  }

  /** Runs what the primary sent while a script held its stream. */
  private releaseMaster(master: Client): void {
    master.paused = false;
    const repl = this.server.replication;
    if (repl === null || repl.masterClient !== master || master.closed) return;
    const ks = this.server.keyspace;
    ks.replayingPrimary = true;
    try {
      this.server.processInput(master);
    } finally {
      ks.replayingPrimary = false;
    }
  }

  /**
   * Redis's scriptPrepareForRun: what the declared flags forbid here and now (a script
   * without a shebang keeps the pre-7.0 rules). Null to run the script.
   */
  private prepare(c: Client, flags: number, ro: boolean): string | null {
    const server = this.server;
    const repl = server.replication;
    const stale = this.stale();
    if ((flags & ScriptFlag.EvalCompat) !== 0) {
      return stale ? "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'." : null;
    }
    if ((flags & ScriptFlag.NoCluster) !== 0 && server.clusterSlots !== null) return "ERR Can not run script on cluster, 'no-cluster' flag is set.";
    if (stale && (flags & ScriptFlag.AllowStale) === 0) {
      return "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set";
    }
    if ((flags & ScriptFlag.NoWrites) === 0) {
      if (repl !== null && repl.role !== 'master' && server.config.bool('replica-read-only') && c.socket !== null) return 'READONLY Can not run script with write flag on readonly replica';
      if (ro) return 'ERR Can not execute a script with write flag using *_ro command.';
    }
    if ((flags & (ScriptFlag.AllowOom | ScriptFlag.NoWrites)) === 0 && c.socket !== null && this.outOfMemory()) {
      return "OOM allowed memory is exceeded and the script isn't allowed to run with 'allow-oom' flag.";
    }
    return null;
  }

  /** A replica whose link is down with replica-serve-stale-data no. */
  private stale(): boolean {
    const repl = this.server.replication;
    return repl !== null && repl.role !== 'master' && repl.link?.state !== 'connected' && !this.server.config.bool('replica-serve-stale-data');
  }

  /**
   * Over maxmemory with nothing to evict (Redis's pre_command_oom_state): under noeviction.
   * An evicting policy still over the limit is evicting, not out of memory. Replicas
   * leave maxmemory to their primary.
   */
  private outOfMemory(): boolean {
    const ev = this.server.evictor;
    return ev.settings.maxmemory > 0 && ev.settings.policy === 'noeviction' && this.server.keyspace.expireKeys && ev.overLimit;
  }

  /** The script starts (or resumes after a yield): frozen time, effects held. */
  private enter(run: RunState): void {
    const ks = this.server.keyspace;
    ks.frozenNow = run.startedAt;
    ks.capture = run.ops;
    ks.captureTargets = run.replFlags;
  }

  /** The script stops or yields: time runs again, effects go straight out. */
  private leave(): void {
    const ks = this.server.keyspace;
    ks.frozenNow = -1;
    ks.capture = null;
    ks.captureTargets = PROPAGATE_ALL;
  }

  /**
   * Propagates a finished script's effects as Redis 7 does: the ones redis.set_repl left
   * somewhere to go, wrapped in MULTI/EXEC when more than one (unless the EXEC the script
   * runs in wraps them already).
   */
  private propagateEffects(run: RunState): void {
    if (run.ops.length === 0) return;
    const ks = this.server.keyspace;
    const ops = run.ops.filter((o) => o.targets !== 0);
    run.ops.length = 0;
    if (ops.length === 0) return;
    const wrap = ops.length > 1 && !(run.client.inExec && this.server.execWraps);
    if (wrap) ks.propagate(ops[0]!.db, ['MULTI'], PROPAGATE_ALL);
    for (const o of ops) ks.propagate(o.db, o.argv, o.targets);
    if (wrap) ks.propagate(ops[ops.length - 1]!.db, ['EXEC'], PROPAGATE_ALL);
  }

  private finish(run: RunState, out: string): void {
    this.leave();
    this.running = null;
    this.propagateEffects(run);
    const r = run.client.reply;
    if (out.charCodeAt(0) === 0x2d /* - */) r.error(out.slice(1, out.length - 2));
    else r.raw(out);
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

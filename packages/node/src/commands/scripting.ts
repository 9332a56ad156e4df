import type { HandlerMap } from './types.js';
import type { Client } from '../server/client.js';
import { scriptingFor, parseShebang } from '../scripting/engine.js';
import { RdbWriter, RdbReader, RdbOpcode, sealDumpPayload, verifyDumpPayload } from '../persistence/rdb-value.js';
import { globToRegExp } from '../engine/glob.js';


/** Reads numkeys (argv[2]) and splits keys and arguments; null after an error reply. */
function keysAndArgs(c: Client, argv: string[]): { keys: string[]; args: string[] } | null {
  const raw = argv[2]!;
  const n = /^-?\d+$/.test(raw) && raw.length < 20 ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) {
    c.reply.error('ERR value is not an integer or out of range');
    return null;
  }
  if (n > argv.length - 3) {
    c.reply.error("ERR Number of keys can't be greater than number of args");
    return null;
  }
  if (n < 0) {
    c.reply.error("ERR Number of keys can't be negative");
    return null;
  }
  return { keys: argv.slice(3, 3 + n), args: argv.slice(3 + n) };
}

function evalCommand(c: Client, argv: string[], readOnly: boolean): void {
  const ka = keysAndArgs(c, argv);
  if (ka === null) return;
  const eng = scriptingFor(c.server);
  const loaded = eng.load(argv[1]!);
  if ('error' in loaded) {
    c.reply.error(loaded.error);
    return;
  }
  eng.run(c, 'scripts', loaded.sha, ka.keys, ka.args, readOnly, loaded.flags);
}

function evalshaCommand(c: Client, argv: string[], readOnly: boolean): void {
  const ka = keysAndArgs(c, argv);
  if (ka === null) return;
  const eng = scriptingFor(c.server);
  const cached = eng.cached(argv[1]!);
  const sha = argv[1]!.toLowerCase();
  if (cached === undefined || !eng.run(c, 'scripts', sha, ka.keys, ka.args, readOnly, cached.flags)) {
    c.reply.error('NOSCRIPT No matching script. Please use EVAL.');
  }
}

function fcallCommand(c: Client, argv: string[], ro: boolean): void {
  const ka = keysAndArgs(c, argv);
  if (ka === null) return;
  const eng = scriptingFor(c.server);
  const lib = eng.functions.get(argv[1]!);
  const fn = lib?.functions.get(argv[1]!);
  if (fn === undefined) {
    c.reply.error('ERR Function not found');
    return;
  }
  eng.run(c, 'functions', fn.name, ka.keys, ka.args, ro, fn.bits);
}

const SCRIPT_HELP = [
  'SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'DEBUG (YES|SYNC|NO)',
  '    Set the debug mode for subsequent scripts executed.',
  'EXISTS <sha1> [<sha1> ...]',
  '    Return information about the existence of the scripts in the script cache.',
  'FLUSH [ASYNC|SYNC]',
  '    Flush the Lua scripts cache. Very dangerous on replicas.',
  '    When called without the optional mode argument, the behavior is determined by the',
  '    lazyfree-lazy-user-flush configuration directive. Valid modes are:',
  '    * ASYNC: Asynchronously flush the scripts cache.',
  '    * SYNC: Synchronously flush the scripts cache.',
  'KILL',
  '    Kill the currently executing Lua script.',
  'LOAD <script>',
  '    Load a script into the scripts cache without executing it.',
  'HELP',
  '    Prints this help.',
];

const FUNCTION_HELP = [
  'FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'LOAD [REPLACE] <FUNCTION CODE>',
  '    Create a new library with the given library name and code.',
  'DELETE <LIBRARY NAME>',
  '    Delete the given library.',
  'LIST [LIBRARYNAME PATTERN] [WITHCODE]',
  '    Return general information on all the libraries:',
  '    * Library name',
  '    * The engine used to run the Library',
  '    * Library description',
  '    * Functions list',
  '    * Library code (if WITHCODE is given)',
  '    It also possible to get only function that matches a pattern using LIBRARYNAME argument.',
  'STATS',
  '    Return information about the current function running:',
  '    * Function name',
  '    * Command used to run the function',
  '    * Duration in MS that the function is running',
  '    If no function is running, return nil',
  '    In addition, returns a list of available engines.',
  'KILL',
  '    Kill the current running function.',
  'FLUSH [ASYNC|SYNC]',
  '    Delete all the libraries.',
  '    When called without the optional mode argument, the behavior is determined by the',
  '    lazyfree-lazy-user-flush configuration directive. Valid modes are:',
  '    * ASYNC: Asynchronously flush the libraries.',
  '    * SYNC: Synchronously flush the libraries.',
  'DUMP',
  '    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command',
  'RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]',
  '    Restore the libraries represented by the given payload, it is possible to give a restore policy to',
  '    control how to handle existing libraries (default APPEND):',
  '    * FLUSH: delete all existing libraries.',
  '    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.',
  '    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old',
  '      libraries with the new libraries (notice that even on this option there is a chance of failure',
  '      in case of functions name collision with another library).',
  'HELP',
  '    Prints this help.',
];

function helpReply(c: Client, lines: string[]): void {
  c.reply.array(lines.length);
  for (const l of lines) c.reply.simple(l);
}

/** FLUSH's optional ASYNC|SYNC; false after an error reply. */
function flushMode(c: Client, argv: string[]): boolean {
  if (argv.length === 2) return true;
  const m = argv[2]!.toLowerCase();
  if (argv.length === 3 && (m === 'async' || m === 'sync')) return true;
  c.reply.error('ERR SCRIPT FLUSH only support SYNC|ASYNC option');
  return false;
}

/** FUNCTION DUMP's payload: each library as RDB_OPCODE_FUNCTION2 + its code, RDB version, CRC-64. */
export function dumpLibraries(codes: string[]): Buffer {
  const w = new RdbWriter(256, false);
  for (const code of codes) {
    w.byte(RdbOpcode.FUNCTION2);
    w.string(code);
  }
  return sealDumpPayload(w);
}

/** The library codes of a FUNCTION DUMP payload, or null when its footer or body is wrong. */
export function parseLibraryDump(p: Buffer): string[] | null {
  // Redis 7.2 writes version 11 payloads; their library encoding is the same.
  if (!verifyDumpPayload(p, 11)) return null;
  const r = new RdbReader(p, p.length - 10);
  const codes: string[] = [];
  try {
    while (r.remaining > 0) {
      if (r.byte() !== RdbOpcode.FUNCTION2) return null;
      codes.push(r.stringBuf().toString('latin1'));
    }
  } catch {
    return null;
  }
  return codes;
}

function functionList(c: Client, argv: string[]): void {
  let withCode = false;
  let pattern: RegExp | null = null;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!.toLowerCase();
    if (a === 'withcode') {
      if (withCode) return c.reply.error('ERR Unknown argument withcode');
      withCode = true;
    } else if (a === 'libraryname') {
      if (pattern !== null || i + 1 >= argv.length) return c.reply.error('ERR library name argument was not given');
      pattern = globToRegExp(argv[++i]!);
    } else {
      return c.reply.error(`ERR Unknown argument ${argv[i]}`);
    }
  }
  const libs = [...scriptingFor(c.server).libraries.values()].filter((l) => pattern === null || pattern.test(l.name));
  const r = c.reply;
  r.array(libs.length);
  for (const lib of libs) {
    r.map(withCode ? 4 : 3);
    r.bulk('library_name');
    r.bulk(lib.name);
    r.bulk('engine');
    r.bulk(lib.engine);
    r.bulk('functions');
    r.array(lib.functions.size);
    for (const f of lib.functions.values()) {
      r.map(3);
      r.bulk('name');
      r.bulk(f.name);
      r.bulk('description');
      r.bulkOrNil(f.description);
      r.bulk('flags');
      r.set(f.flags.length);
      for (const fl of f.flags) r.simple(fl);
    }
    if (withCode) {
      r.bulk('library_code');
      r.bulk(lib.code);
    }
  }
}

function functionRestore(c: Client, argv: string[]): void {
  const eng = scriptingFor(c.server);
  let policy = 'append';
  if (argv.length > 4) return c.reply.error('ERR syntax error');
  if (argv.length === 4) {
    policy = argv[3]!.toLowerCase();
    if (policy !== 'append' && policy !== 'replace' && policy !== 'flush') return c.reply.error('ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.');
  }
  const codes = parseLibraryDump(Buffer.from(argv[2]!, 'latin1'));
  if (codes === null) return c.reply.error('ERR payload version or checksum are wrong');
  // Validate everything before touching the current libraries.
  const names: string[] = [];
  for (const code of codes) {
    const m = parseShebang(code);
    if ('error' in m) return c.reply.error(m.error);
    if (policy === 'append' && eng.libraries.has(m.name)) return c.reply.error(`ERR Library ${m.name} already exists`);
    names.push(m.name);
  }
  const saved = eng.libraryCodes();
  if (policy === 'flush') eng.flushFunctions();
  for (const code of codes) {
    const res = eng.loadLibrary(code, policy !== 'append');
    if ('error' in res) {
      // Put the previous libraries back as they were.
      eng.flushFunctions();
      for (const s of saved) eng.loadLibrary(s, true);
      return c.reply.error(res.error);
    }
  }
  c.server.keyspace.dirty++;
  c.reply.ok();
}

export const scriptingHandlers: HandlerMap = {
  eval: (c, argv) => evalCommand(c, argv, false),
  eval_ro: (c, argv) => evalCommand(c, argv, true),
  evalsha: (c, argv) => evalshaCommand(c, argv, false),
  evalsha_ro: (c, argv) => evalshaCommand(c, argv, true),
  fcall: (c, argv) => fcallCommand(c, argv, false),
  fcall_ro: (c, argv) => fcallCommand(c, argv, true),

  'script|help': (c) => helpReply(c, SCRIPT_HELP),
  'script|load': (c, argv) => {
    const res = scriptingFor(c.server).load(argv[2]!);
    if ('error' in res) c.reply.error(res.error);
    else c.reply.bulk(res.sha);
  },
  'script|exists': (c, argv) => {
    const eng = scriptingFor(c.server);
    c.reply.array(argv.length - 2);
    for (let i = 2; i < argv.length; i++) c.reply.int(eng.scripts.has(argv[i]!.toLowerCase()) ? 1 : 0);
  },
  'script|flush': (c, argv) => {
    if (!flushMode(c, argv)) return;
    scriptingFor(c.server).flushScripts();
    c.reply.ok();
  },
  'script|kill': (c) => {
    const err = scriptingFor(c.server).kill('scripts');
    if (err !== null) c.reply.error(err);
    else c.reply.ok();
  },

  'function|help': (c) => helpReply(c, FUNCTION_HELP),
  'function|load': (c, argv) => {
    let replace = false;
    let i = 2;
    for (; i < argv.length - 1; i++) {
      if (argv[i]!.toLowerCase() === 'replace') replace = true;
      else return c.reply.error(`ERR Unknown option given: ${argv[i]}`);
    }
    if (i !== argv.length - 1) return c.reply.error('ERR Function code was not given');
    const res = scriptingFor(c.server).loadLibrary(argv[i]!, replace);
    if ('error' in res) return c.reply.error(res.error);
    c.server.keyspace.dirty++;
    c.reply.bulk(res.name);
  },
  'function|delete': (c, argv) => {
    const eng = scriptingFor(c.server);
    const lib = eng.libraries.get(argv[2]!);
    if (lib === undefined) return c.reply.error('ERR Library not found');
    eng.removeLibrary(lib);
    c.server.keyspace.dirty++;
    c.reply.ok();
  },
  'function|flush': (c, argv) => {
    if (argv.length > 3 || (argv.length === 3 && !['async', 'sync'].includes(argv[2]!.toLowerCase()))) {
      return c.reply.error('ERR FUNCTION FLUSH only supports SYNC|ASYNC option');
    }
    scriptingFor(c.server).flushFunctions();
    c.server.keyspace.dirty++;
    c.reply.ok();
  },
  'function|list': functionList,
  'function|dump': (c) => c.reply.bulk(dumpLibraries(scriptingFor(c.server).libraryCodes()).toString('latin1')),
  'function|restore': functionRestore,
  'function|kill': (c) => {
    const err = scriptingFor(c.server).kill('functions');
    if (err !== null) c.reply.error(err);
    else c.reply.ok();
  },
  'function|stats': (c) => {
    const eng = scriptingFor(c.server);
    const r = c.reply;
    r.map(2);
    r.bulk('running_script');
    const run = eng.running;
    if (run !== null && run.kind === 'functions') {
      r.map(3);
      r.bulk('name');
      r.bulk(run.name);
      r.bulk('command');
      r.array(1);
      r.bulk('fcall');
      r.bulk('duration_ms');
      r.int(Date.now() - run.startedAt);
    } else {
      r.nil();
    }
    r.bulk('engines');
    r.map(1);
    r.bulk('LUA');
    r.map(2);
    r.bulk('libraries_count');
    r.int(eng.libraries.size);
    r.bulk('functions_count');
    r.int(eng.functions.size);
  },
};

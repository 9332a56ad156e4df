/**
 * The command table's declarations: every command once, with arity, flags, ACL
 * categories and Redis 7 key specs. The node (admission, COMMAND), the router and the
 * client (key extraction, slot routing) all read these.
 */

export type KeyFlag =
  | 'RW'
  | 'RO'
  | 'OW'
  | 'RM'
  | 'ACCESS'
  | 'UPDATE'
  | 'INSERT'
  | 'DELETE'
  | 'NOT_KEY'
  | 'INCOMPLETE'
  | 'VARIABLE_FLAGS';

export type BeginSearch = { index: number } | { keyword: string; startFrom: number };
export type FindKeys =
  | { range: { lastKey: number; step: number; limit: number } }
  | { keynum: { keyNumIdx: number; firstKey: number; step: number } };

export interface KeySpec {
  flags: KeyFlag[];
  begin: BeginSearch;
  find: FindKeys;
  notes?: string;
}

export interface CommandDoc {
  group: string;
  since: string;
  summary: string;
  complexity?: string;
}

export interface CommandSpec extends CommandDoc {
  /** Lower case; a subcommand is `container|sub`. */
  name: string;
  arity: number;
  /** Redis command flags, lower case: write, readonly, denyoom, admin, pubsub, noscript, blocking, loading, stale, skip_monitor, skip_slowlog, fast, no_auth, may_replicate, no_mandatory_keys, no_multi, movablekeys, allow_busy. */
  flags: ReadonlySet<string>;
  /** ACL categories without the `@`, including the implied ones, in Redis's order. */
  acl: readonly string[];
  keySpecs: readonly KeySpec[];
  /** Legacy (first, last, step) key positions, derived from the key specs as Redis does. */
  firstKey: number;
  lastKey: number;
  step: number;
  tips: readonly string[];
  subcommands: ReadonlyMap<string, CommandSpec> | null;
  /** Set on subcommands: the container's name. */
  parent: string | null;
  /** Fast flag tests for the admission path. */
  isWrite: boolean;
  isReadonly: boolean;
  denyOom: boolean;
  noAuth: boolean;
  allowBusy: boolean;
  noMulti: boolean;
  skipMonitor: boolean;
  skipSlowlog: boolean;
  fast: boolean;
  /**
   * Free for the process that serves the command: the node caches its handler and
   * counters here, so the hot path does no lookup by name. Null until then.
   */
  impl: unknown;
}

/** Redis 7's ACL categories, in the order COMMAND INFO lists them. */
export const ACL_CATEGORIES = [
  'keyspace',
  'read',
  'write',
  'set',
  'sortedset',
  'list',
  'hash',
  'string',
  'bitmap',
  'hyperloglog',
  'geo',
  'stream',
  'pubsub',
  'admin',
  'fast',
  'slow',
  'blocking',
  'dangerous',
  'connection',
  'transaction',
  'scripting',
] as const;

/** Redis's command flags in the order COMMAND INFO lists them. */
export const FLAG_ORDER = [
  'write',
  'readonly',
  'denyoom',
  'module',
  'admin',
  'pubsub',
  'noscript',
  'blocking',
  'loading',
  'stale',
  'skip_monitor',
  'skip_slowlog',
  'asking',
  'fast',
  'no_auth',
  'may_replicate',
  'sentinel',
  'only_sentinel',
  'no_mandatory_keys',
  'protected',
  'module_getkeys',
  'module_no_cluster',
  'no_async_loading',
  'no_multi',
  'movablekeys',
  'allow_busy',
] as const;

// ---------- declaration helpers ----------

/** A key at a fixed position (`index`), optionally followed by more up to `lastKey` (relative; -1 = last argument). */
export function keyAt(flags: string, index: number, lastKey = 0, step = 1, limit = 0): KeySpec {
  return { flags: parseKeyFlags(flags), begin: { index }, find: { range: { lastKey, step, limit } } };
}

/** Keys after a keyword (searched from `startFrom`; negative = from the end). */
export function keyAfter(flags: string, keyword: string, startFrom: number, lastKey = 0, step = 1, limit = 0): KeySpec {
  return { flags: parseKeyFlags(flags), begin: { keyword, startFrom }, find: { range: { lastKey, step, limit } } };
}

/** Keys counted by a numkeys argument: argv[index + keyNumIdx] keys starting at index + firstKey. */
export function keysByCount(flags: string, index: number, keyNumIdx = 0, firstKey = 1, step = 1): KeySpec {
  return { flags: parseKeyFlags(flags), begin: { index }, find: { keynum: { keyNumIdx, firstKey, step } } };
}

function parseKeyFlags(s: string): KeyFlag[] {
  return s.split(/\s+/).filter(Boolean) as KeyFlag[];
}

export interface DefineOptions extends CommandDoc {
  keys?: KeySpec[];
  tips?: string[];
  /** Explicit ACL categories (without @) besides the implied ones. */
  acl?: string;
  subcommands?: CommandSpec[];
}

/**
 * Declares a command. `flags` and `opts.acl` are space-separated lists. Implied ACL
 * categories are added as Redis adds them (write, read, admin + dangerous, pubsub, fast
 * or slow, blocking).
 */
export function command(name: string, arity: number, flags: string, opts: DefineOptions): CommandSpec {
  const flagSet = new Set(flags.split(/\s+/).filter(Boolean).map((f) => f.toLowerCase()));
  const keySpecs = opts.keys ?? [];
  const legacy = legacyRange(keySpecs);
  if (legacy.movable) flagSet.add('movablekeys');
  const acl = new Set((opts.acl ?? '').split(/\s+/).filter(Boolean).map((a) => a.replace(/^@/, '').toLowerCase()));
  if (flagSet.has('write')) acl.add('write');
  if (flagSet.has('readonly') && !acl.has('scripting')) acl.add('read');
  if (flagSet.has('admin')) {
    acl.add('admin');
    acl.add('dangerous');
  }
  if (flagSet.has('pubsub')) acl.add('pubsub');
  if (flagSet.has('fast')) acl.add('fast');
  if (flagSet.has('blocking')) acl.add('blocking');
  if (!acl.has('fast')) acl.add('slow');
  const orderedAcl = ACL_CATEGORIES.filter((c) => acl.has(c));
  const subs = opts.subcommands ? new Map(opts.subcommands.map((s) => [s.name.slice(s.name.indexOf('|') + 1), s])) : null;
  const spec: CommandSpec = {
    name: name.toLowerCase(),
    arity,
    flags: flagSet,
    acl: orderedAcl,
    keySpecs,
    firstKey: legacy.first,
    lastKey: legacy.last,
    step: legacy.step,
    tips: opts.tips ?? [],
    subcommands: subs,
    parent: null,
    group: opts.group,
    since: opts.since,
    summary: opts.summary,
    complexity: opts.complexity,
    isWrite: flagSet.has('write'),
    isReadonly: flagSet.has('readonly'),
    denyOom: flagSet.has('denyoom'),
    noAuth: flagSet.has('no_auth'),
    allowBusy: flagSet.has('allow_busy'),
    noMulti: flagSet.has('no_multi'),
    skipMonitor: flagSet.has('skip_monitor'),
    skipSlowlog: flagSet.has('skip_slowlog'),
    fast: flagSet.has('fast'),
    impl: null,
  };
  if (subs) for (const s of subs.values()) s.parent = spec.name;
  return spec;
}

/** Declares a subcommand of `container` (name given without the container). */
export function subcommand(container: string, sub: string, arity: number, flags: string, opts: DefineOptions): CommandSpec {
  return command(`${container}|${sub}`, arity, flags, opts);
}

/** Redis's populateCommandLegacyRangeSpec. */
function legacyRange(specs: readonly KeySpec[]): { first: number; last: number; step: number; movable: boolean } {
  let first = 0;
  let last = 0;
  let step = 0;
  let movable = false;
  let prevLast = 0;
  for (const ks of specs) {
    if (!('index' in ks.begin) || !('range' in ks.find)) {
      movable = true;
      continue;
    }
    const r = ks.find.range;
    if (r.limit !== 0) {
      movable = true;
      continue;
    }
    const begin = ks.begin.index;
    const thisLast = r.lastKey < 0 ? r.lastKey : begin + r.lastKey;
    if (first === 0) {
      first = begin;
      step = r.step;
      last = thisLast;
      prevLast = thisLast;
      continue;
    }
    if (prevLast >= 0 && begin === prevLast + 1 && step === r.step) {
      last = thisLast;
      prevLast = thisLast;
    } else if (begin === first + step && r.step === step) {
      last = thisLast;
      prevLast = thisLast;
    } else {
      movable = true;
    }
  }
  return { first, last, step, movable };
}

/**
 * The argument positions of the keys in `argv` (argv[0] is the command name), by the
 * command's key specs. Positions past the arguments are left out; a numkeys argument
 * that is not a number yields no keys for that spec.
 */
export function keyPositions(spec: CommandSpec, argv: readonly (string | Uint8Array)[]): number[] {
  const out: number[] = [];
  const argc = argv.length;
  for (const ks of spec.keySpecs) {
    let start: number;
    if ('index' in ks.begin) {
      start = ks.begin.index;
    } else {
      const kw = ks.begin.keyword.toLowerCase();
      start = -1;
      const from = ks.begin.startFrom;
      if (from >= 0) {
        for (let i = from; i < argc; i++) if (argStr(argv[i]!).toLowerCase() === kw) { start = i + 1; break; }
      } else {
        for (let i = argc + from; i > 0; i--) if (argStr(argv[i]!).toLowerCase() === kw) { start = i + 1; break; }
      }
      if (start < 0) continue;
    }
    if (start >= argc) continue;
    if ('range' in ks.find) {
      const { lastKey, step, limit } = ks.find.range;
      let last: number;
      if (lastKey >= 0) last = start + lastKey;
      else if (limit <= 1) last = argc + lastKey;
      else last = start + Math.floor((argc - start) / limit) - 1;
      for (let i = start; i <= last && i < argc; i += step) out.push(i);
    } else {
      const { keyNumIdx, firstKey, step } = ks.find.keynum;
      const raw = argv[start + keyNumIdx];
      if (raw === undefined) continue;
      const n = Number(argStr(raw));
      if (!Number.isInteger(n) || n < 0) continue;
      const first = start + firstKey;
      for (let k = 0, i = first; k < n && i < argc; k++, i += step) out.push(i);
    }
  }
  return out;
}

function argStr(a: string | Uint8Array): string {
  return typeof a === 'string' ? a : Buffer.from(a).toString('latin1');
}

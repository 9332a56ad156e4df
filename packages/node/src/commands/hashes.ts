import { Err, Proto } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { Kind, addInt64, parseFloatArg, parseInteger, LLONG_MIN, type Value } from '../engine/values.js';
import { HashValue } from '../engine/hash.js';
import { globToRegExp } from '../engine/glob.js';
import { parseScanCursor } from '../engine/scan.js';
import { formatLongDouble } from './strings.js';
import type { HandlerMap } from './types.js';

/** The hash at key; undefined when missing; null (after replying WRONGTYPE) for another type. */
function getHash(c: Client, key: string, forWrite = false): HashValue | undefined | null {
  const v: Value | undefined = forWrite ? c.db.lookupWrite(key) : c.db.lookupRead(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' && v.kind === Kind.Hash) return v as HashValue;
  c.reply.error(Err.wrongType);
  return null;
}

// ---------- SCAN family helpers (shared with sets) ----------

/** Options of HSCAN/SSCAN/ZSCAN after the cursor. */
export interface ScanOptions {
  count: number;
  match: RegExp | null;
}

/**
 * Parses `[MATCH pattern] [COUNT count]` from argv[from...] as Redis 7.0 does for the
 * key-bound SCAN commands (TYPE is SCAN's only). Replies the error and returns null on
 * a bad option.
 */
export function parseScanOptions(c: Client, argv: string[], from: number): ScanOptions | null {
  let count = 10;
  let match: RegExp | null = null;
  for (let i = from; i < argv.length; i += 2) {
    const opt = argv[i]!.toLowerCase();
    if (i + 1 >= argv.length) {
      c.reply.error(Err.syntax);
      return null;
    }
    if (opt === 'count') {
      const n = parseInteger(argv[i + 1]!);
      if (n === null) {
        c.reply.error(Err.notInteger);
        return null;
      }
      if (n < 1) {
        c.reply.error(Err.syntax);
        return null;
      }
      count = typeof n === 'bigint' ? Number.MAX_SAFE_INTEGER : n;
    } else if (opt === 'match') {
      const p = argv[i + 1]!;
      match = p === '*' ? null : globToRegExp(p);
    } else {
      c.reply.error(Err.syntax);
      return null;
    }
  }
  return { count, match };
}

/** Replies `[cursor, []]`: a scan of a missing key. */
export function replyEmptyScan(c: Client): void {
  c.reply.array(2);
  c.reply.bulk('0');
  c.reply.array(0);
}

/**
 * Parses a SCAN cursor as Redis 7.0 does (see parseScanCursor); replies "invalid
 * cursor" and returns null when it is not one.
 */
export function parseCursor(c: Client, raw: string): string | null {
  const cur = parseScanCursor(raw);
  if (cur === null) c.reply.error('ERR invalid cursor');
  return cur;
}

/** True when Redis would keep this hash as a listpack (HSCAN then returns it whole). */
function isSmallHash(c: Client, h: HashValue): boolean {
  if (h.map.size > c.server.config.int('hash-max-listpack-entries')) return false;
  const maxLen = c.server.config.int('hash-max-listpack-value');
  for (const [f, v] of h.map) if (f.length > maxLen || v.length > maxLen) return false;
  return true;
}

// ---------- commands ----------

function hsetCommand(c: Client, argv: string[], name: string): void {
  if (argv.length % 2 !== 0) {
    c.reply.error(Err.wrongArity(name));
    return;
  }
  const key = argv[1]!;
  const h = getHash(c, key, true);
  if (h === null) return;
  let added = 0;
  if (h === undefined) {
    const nh = new HashValue();
    for (let i = 2; i < argv.length; i += 2) nh.map.set(argv[i]!, argv[i + 1]!);
    added = nh.map.size;
    c.db.set(key, nh);
  } else {
    const m = h.map;
    for (let i = 2; i < argv.length; i += 2) {
      const before = m.size;
      m.set(argv[i]!, argv[i + 1]!);
      if (m.size !== before) added++;
    }
    c.db.modified(key, (argv.length - 2) / 2);
  }
  if (name === 'hmset') c.reply.ok();
  else c.reply.int(added);
}

function hsetnxCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const h = getHash(c, key, true);
  if (h === null) return;
  if (h === undefined) {
    const nh = new HashValue();
    nh.map.set(argv[2]!, argv[3]!);
    c.db.set(key, nh);
  } else {
    if (h.map.has(argv[2]!)) {
      c.reply.int(0);
      return;
    }
    h.map.set(argv[2]!, argv[3]!);
    c.db.modified(key);
  }
  c.reply.int(1);
}

function hgetCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  c.reply.bulkOrNil(h?.map.get(argv[2]!));
}

function hmgetCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  const r = c.reply;
  r.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) r.bulkOrNil(h?.map.get(argv[i]!));
}

function hdelCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const h = getHash(c, key, true);
  if (h === null) return;
  if (h === undefined) {
    c.reply.int(0);
    return;
  }
  let deleted = 0;
  for (let i = 2; i < argv.length; i++) {
    if (h.map.delete(argv[i]!)) {
      deleted++;
      if (h.map.size === 0) break;
    }
  }
  if (deleted > 0) {
    if (h.map.size === 0) c.db.delete(key);
    else c.db.modified(key, deleted);
  }
  c.reply.int(deleted);
}

function hlenCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  c.reply.int(h === undefined ? 0 : h.map.size);
}

function hstrlenCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  c.reply.int(h?.map.get(argv[2]!)?.length ?? 0);
}

function hexistsCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  c.reply.int(h !== undefined && h.map.has(argv[2]!) ? 1 : 0);
}

function hkeysCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  const r = c.reply;
  if (h === undefined) {
    r.array(0);
    return;
  }
  r.array(h.map.size);
  for (const f of h.map.keys()) r.bulk(f);
}

function hvalsCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  const r = c.reply;
  if (h === undefined) {
    r.array(0);
    return;
  }
  r.array(h.map.size);
  for (const v of h.map.values()) r.bulk(v);
}

function hgetallCommand(c: Client, argv: string[]): void {
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  const r = c.reply;
  if (h === undefined) {
    r.map(0);
    return;
  }
  r.map(h.map.size);
  for (const [f, v] of h.map) {
    r.bulk(f);
    r.bulk(v);
  }
}

/** Stores `value` at field of the hash at key (creating it), signalling the change. */
function storeField(c: Client, key: string, h: HashValue | undefined, field: string, value: string): void {
  if (h === undefined) {
    const nh = new HashValue();
    nh.map.set(field, value);
    c.db.set(key, nh);
  } else {
    h.map.set(field, value);
    c.db.modified(key);
  }
}

function hincrbyCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const field = argv[2]!;
  const by = parseInteger(argv[3]!);
  if (by === null) {
    c.reply.error(Err.notInteger);
    return;
  }
  const h = getHash(c, key, true);
  if (h === null) return;
  let cur: number | bigint = 0;
  const old = h?.map.get(field);
  if (old !== undefined) {
    const p = parseInteger(old);
    if (p === null) {
      c.reply.error('ERR hash value is not an integer');
      return;
    }
    cur = p;
  }
  const next = addInt64(cur, by);
  if (next === null) {
    c.reply.error(Err.overflow);
    return;
  }
  storeField(c, key, h, field, String(next));
  c.reply.int(next);
}

function hincrbyfloatCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const field = argv[2]!;
  const by = parseFloatArg(argv[3]!);
  if (by === null) {
    c.reply.error(Err.notFloat);
    return;
  }
  if (!Number.isFinite(by)) {
    c.reply.error('ERR value is NaN or Infinity');
    return;
  }
  const h = getHash(c, key, true);
  if (h === null) return;
  let cur = 0;
  const old = h?.map.get(field);
  if (old !== undefined) {
    const p = parseFloatArg(old);
    if (p === null) {
      c.reply.error('ERR hash value is not a float');
      return;
    }
    cur = p;
  }
  const next = cur + by;
  if (!Number.isFinite(next)) {
    c.reply.error('ERR increment would produce NaN or Infinity');
    return;
  }
  const s = formatLongDouble(next);
  storeField(c, key, h, field, s);
  c.server.propagate(c.db, ['HSET', key, field, s]);
  c.reply.bulk(s);
}

/** Redis refuses counts whose negation (or doubling, with values) would overflow. */
const RAND_COUNT_RANGE = 'ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807';

function hrandfieldCommand(c: Client, argv: string[]): void {
  const r = c.reply;
  let count: number | null = null;
  let withValues = false;
  if (argv.length >= 3) {
    const n = parseInteger(argv[2]!);
    if (n === null) {
      r.error(Err.notInteger);
      return;
    }
    if (n === LLONG_MIN) {
      r.error(RAND_COUNT_RANGE);
      return;
    }
    if (argv.length > 4 || (argv.length === 4 && argv[3]!.toLowerCase() !== 'withvalues')) {
      r.error(Err.syntax);
      return;
    }
    withValues = argv.length === 4;
    count = typeof n === 'bigint' ? (n > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER) : n;
  }
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  const env = c.server.keyspace.env;
  if (count === null) {
    if (h === undefined) r.nil();
    else r.bulk(nthField(h, Math.floor(env.random() * h.map.size)));
    return;
  }
  if (h === undefined || count === 0) {
    r.array(0);
    return;
  }
  const resp3 = r.proto === Proto.RESP3;
  const pair = (f: string, v: string): void => {
    if (resp3) r.array(2);
    r.bulk(f);
    r.bulk(v);
  };
  const size = h.map.size;
  if (count < 0) {
    // With repetitions: count picks, each uniform over the fields.
    const n = -count;
    const entries = [...h.map];
    r.array(withValues && !resp3 ? n * 2 : n);
    for (let i = 0; i < n; i++) {
      const e = entries[Math.floor(env.random() * size)]!;
      if (withValues) pair(e[0], e[1]);
      else r.bulk(e[0]);
    }
    return;
  }
  if (count >= size) {
    r.array(withValues && !resp3 ? size * 2 : size);
    for (const [f, v] of h.map) {
      if (withValues) pair(f, v);
      else r.bulk(f);
    }
    return;
  }
  // Distinct picks: a partial Fisher-Yates shuffle over the entries.
  const entries = [...h.map];
  r.array(withValues && !resp3 ? count * 2 : count);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(env.random() * (size - i));
    const e = entries[j]!;
    entries[j] = entries[i]!;
    entries[i] = e;
    if (withValues) pair(e[0], e[1]);
    else r.bulk(e[0]);
  }
}

function nthField(h: HashValue, n: number): string {
  let i = 0;
  for (const f of h.map.keys()) if (i++ === n) return f;
  return h.map.keys().next().value!;
}

function hscanCommand(c: Client, argv: string[]): void {
  const cursor = parseCursor(c, argv[2]!);
  if (cursor === null) return;
  const h = getHash(c, argv[1]!);
  if (h === null) return;
  if (h === undefined) {
    replyEmptyScan(c);
    return;
  }
  const opts = parseScanOptions(c, argv, 3);
  if (opts === null) return;
  const out: string[] = [];
  const re = opts.match;
  let next = '0';
  if (isSmallHash(c, h)) {
    for (const [f, v] of h.map) if (re === null || re.test(f)) out.push(f, v);
  } else {
    // Read ahead so the last step answers cursor 0; a field read ahead may have been
    // deleted or changed since, so it is looked up again.
    const m = h.map;
    next = c.server.keyspace.cursors.step(h, cursor, () => m.keys(), opts.count, (f: string) => {
      const v = m.get(f);
      if (v !== undefined && (re === null || re.test(f))) out.push(f, v);
    }, { bound: m.size, readAhead: true });
  }
  const r = c.reply;
  r.array(2);
  r.bulk(next);
  r.bulks(out);
}

export const hashHandlers: HandlerMap = {
  hset: (c, argv) => hsetCommand(c, argv, 'hset'),
  hmset: (c, argv) => hsetCommand(c, argv, 'hmset'),
  hsetnx: hsetnxCommand,
  hget: hgetCommand,
  hmget: hmgetCommand,
  hdel: hdelCommand,
  hlen: hlenCommand,
  hstrlen: hstrlenCommand,
  hexists: hexistsCommand,
  hkeys: hkeysCommand,
  hvals: hvalsCommand,
  hgetall: hgetallCommand,
  hincrby: hincrbyCommand,
  hincrbyfloat: hincrbyfloatCommand,
  hrandfield: hrandfieldCommand,
  hscan: hscanCommand,
};

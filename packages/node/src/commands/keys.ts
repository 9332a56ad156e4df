import { Err } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { Kind, parseInteger, typeName, LLONG_MAX, LLONG_MIN, type Value } from '../engine/values.js';
import type { Db } from '../engine/keyspace.js';
import { HashValue } from '../engine/hash.js';
import { ListValue } from '../engine/list.js';
import { SetValue } from '../engine/set.js';
import { ZSetValue } from '../engine/zset.js';
import type { StreamValue } from '../engine/stream.js';
import { globToRegExp } from '../engine/glob.js';
import { parseScanCursor } from '../engine/scan.js';
import { lfuDecayed, lruIdleMs } from '../engine/memory.js';
import { createDumpPayload, decodeDumpPayload, verifyDumpPayload } from '../persistence/rdb-value.js';
import type { HandlerMap } from './types.js';

const ERR_SAME_OBJECT = 'ERR source and destination objects are the same';
const ERR_DB_RANGE = 'ERR DB index is out of range';
const ERR_INVALID_CURSOR = 'ERR invalid cursor';
const ERR_LFU_NOT_SELECTED =
  'ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';
const ERR_LFU_SELECTED =
  'ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';
/** Redis's OBJ_SHARED_REFCOUNT: what OBJECT REFCOUNT answers for shared integers. */
const SHARED_REFCOUNT = 2147483647;
const OBJ_SHARED_INTEGERS = 10000;

/** Redis's getIntFromObjectOrReply: a 32-bit integer argument, or null after replying its error. */
function intArg(c: Client, raw: string): number | null {
  const n = parseInteger(raw);
  if (n === null) {
    c.reply.error(Err.notInteger);
    return null;
  }
  if (typeof n === 'bigint' || n > 2147483647 || n < -2147483648) {
    c.reply.error('ERR value is out of range, value must between -2147483648 and 2147483647');
    return null;
  }
  return n;
}

function now(c: Client): number {
  return c.server.keyspace.env.now();
}

// ------------------------------------------------------------------ DEL UNLINK EXISTS TYPE TOUCH

function delCommand(c: Client, argv: string[]): void {
  const db = c.db;
  let n = 0;
  for (let i = 1; i < argv.length; i++) if (db.delete(argv[i]!)) n++;
  c.reply.int(n);
}

// EXISTS, TYPE, TTL and OBJECT look keys up without touching their LRU/LFU data, as
// Redis 7's LOOKUP_NOTOUCH; TOUCH is the command that does.
function existsCommand(c: Client, argv: string[], touch = false): void {
  const db = c.db;
  let n = 0;
  for (let i = 1; i < argv.length; i++) if (db.lookupRead(argv[i]!, touch) !== undefined) n++;
  c.reply.int(n);
}

function typeCommand(c: Client, argv: string[]): void {
  const v = c.db.lookupRead(argv[1]!, false);
  c.reply.simple(v === undefined ? 'none' : typeName(v));
}

function touchCommand(c: Client, argv: string[]): void {
  const ks = c.server.keyspace;
  const noTouch = ks.noTouch;
  ks.noTouch = false; // TOUCH touches even for a CLIENT NO-TOUCH client, as in Redis
  existsCommand(c, argv, true);
  ks.noTouch = noTouch;
}

// ------------------------------------------------------------------ EXPIRE family

const EXPIRE_NX = 1;
const EXPIRE_XX = 2;
const EXPIRE_GT = 4;
const EXPIRE_LT = 8;
const SEC_LIMIT_HI = LLONG_MAX / 1000n;
const SEC_LIMIT_LO = LLONG_MIN / 1000n;
/** Below this magnitude the arithmetic stays exact in doubles. */
const FAST_LIMIT = 2 ** 40;

/**
 * EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT: `basetime` is now (relative forms) or 0, `secs`
 * whether the argument is in seconds. Propagates as PEXPIREAT with the absolute time,
 * or as DEL when the time is already past.
 */
function expireGeneric(c: Client, argv: string[], relative: boolean, secs: boolean): void {
  const key = argv[1]!;
  let flags = 0;
  for (let i = 3; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    if (o === 'nx') flags |= EXPIRE_NX;
    else if (o === 'xx') flags |= EXPIRE_XX;
    else if (o === 'gt') flags |= EXPIRE_GT;
    else if (o === 'lt') flags |= EXPIRE_LT;
    else {
      c.reply.error(`ERR Unsupported option ${argv[i]}`);
      return;
    }
  }
  if (flags & EXPIRE_NX && flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT)) {
    c.reply.error('ERR NX and XX, GT or LT options at the same time are not compatible');
    return;
  }
  if (flags & EXPIRE_GT && flags & EXPIRE_LT) {
    c.reply.error('ERR GT and LT options at the same time are not compatible');
    return;
  }
  const raw = parseInteger(argv[2]!);
  if (raw === null) {
    c.reply.error(Err.notInteger);
    return;
  }
  const basetime = relative ? now(c) : 0;
  let when: number;
  if (typeof raw === 'number' && raw < FAST_LIMIT && raw > -FAST_LIMIT) {
    when = (secs ? raw * 1000 : raw) + basetime;
  } else {
    let w = BigInt(raw);
    if (secs) {
      if (w > SEC_LIMIT_HI || w < SEC_LIMIT_LO) {
        c.reply.error(Err.invalidExpire(argv[0]!.toLowerCase()));
        return;
      }
      w *= 1000n;
    }
    if (w > LLONG_MAX - BigInt(basetime)) {
      c.reply.error(Err.invalidExpire(argv[0]!.toLowerCase()));
      return;
    }
    when = Number(w + BigInt(basetime));
  }
  const db = c.db;
  if (db.lookupWrite(key) === undefined) {
    c.reply.int(0);
    return;
  }
  if (flags !== 0) {
    const cur = db.getExpire(key);
    if ((flags & EXPIRE_NX && cur !== -1) || (flags & EXPIRE_XX && cur === -1) || (flags & EXPIRE_GT && (cur === -1 || when <= cur)) || (flags & EXPIRE_LT && cur !== -1 && when >= cur)) {
      c.reply.int(0);
      return;
    }
  }
  if (alreadyExpired(c, when)) {
    db.delete(key);
    c.server.propagate(db, ['DEL', key]);
    c.reply.int(1);
    return;
  }
  db.setExpire(key, when);
  db.modified(key);
  if (c.server.keyspace.hasPropagationListeners) {
    const prop = ['PEXPIREAT', key, String(when)];
    for (let i = 3; i < argv.length; i++) prop.push(argv[i]!);
    c.server.propagate(db, prop);
  }
  c.reply.int(1);
}

/** Whether an absolute time is already past (never on a replica: its primary decides). */
function alreadyExpired(c: Client, when: number): boolean {
  return when <= now(c) && c.server.keyspace.expireKeys;
}

function ttlGeneric(c: Client, argv: string[], ms: boolean, absolute: boolean): void {
  const db = c.db;
  const key = argv[1]!;
  if (db.lookupRead(key, false) === undefined) {
    c.reply.int(-2);
    return;
  }
  const when = db.getExpire(key);
  if (when === -1) {
    c.reply.int(-1);
    return;
  }
  if (absolute) {
    c.reply.int(ms ? when : Math.floor((when + 500) / 1000));
    return;
  }
  let ttl = when - now(c);
  if (ttl < 0) ttl = 0;
  c.reply.int(ms ? ttl : Math.floor((ttl + 500) / 1000));
}

function persistCommand(c: Client, argv: string[]): void {
  const db = c.db;
  const key = argv[1]!;
  if (db.lookupWrite(key) === undefined || !db.persist(key)) {
    c.reply.int(0);
    return;
  }
  db.modified(key);
  c.reply.int(1);
}

// ------------------------------------------------------------------ RENAME MOVE COPY

function renameGeneric(c: Client, argv: string[], nx: boolean): void {
  const db = c.db;
  const src = argv[1]!;
  const dst = argv[2]!;
  const v = db.lookupWrite(src);
  if (v === undefined) {
    c.reply.error(Err.noSuchKey);
    return;
  }
  if (src === dst) {
    if (nx) c.reply.int(0);
    else c.reply.ok();
    return;
  }
  const expire = db.getExpire(src);
  if (db.lookupWrite(dst) !== undefined) {
    if (nx) {
      c.reply.int(0);
      return;
    }
    db.delete(dst);
  }
  db.set(dst, v);
  if (expire !== -1) db.setExpire(dst, expire);
  db.delete(src);
  if (nx) c.reply.int(1);
  else c.reply.ok();
}

function moveCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  if (c.server.config.bool('cluster-enabled')) {
    c.reply.error('ERR MOVE is not allowed in cluster mode');
    return;
  }
  const n = intArg(c, argv[2]!);
  if (n === null) return;
  const src = c.db;
  const dst = c.server.keyspace.dbs[n];
  if (n < 0 || dst === undefined) {
    c.reply.error(ERR_DB_RANGE);
    return;
  }
  if (src === dst) {
    c.reply.error(ERR_SAME_OBJECT);
    return;
  }
  const v = src.lookupWrite(key);
  if (v === undefined || dst.lookupWrite(key) !== undefined) {
    c.reply.int(0);
    return;
  }
  const expire = src.getExpire(key);
  dst.set(key, v);
  if (expire !== -1) dst.setExpire(key, expire);
  src.delete(key);
  c.reply.int(1);
}

/** A deep copy of a value (strings are immutable and shared). */
export function copyValue(v: Value): Value {
  if (typeof v === 'string') return v;
  switch (v.kind) {
    case Kind.Hash: {
      const h = new HashValue();
      for (const [f, x] of (v as HashValue).map) h.map.set(f, x);
      return h;
    }
    case Kind.List: {
      const src = v as ListValue;
      const l = new ListValue();
      for (let i = 0; i < src.length; i++) l.pushTail(src.at(i));
      return l;
    }
    case Kind.Set: {
      const s = new SetValue();
      for (const m of v as SetValue) s.add(m);
      return s;
    }
    case Kind.ZSet: {
      const z = new ZSetValue();
      for (const [m, score] of (v as ZSetValue).entries()) z.insert(m, score);
      return z;
    }
    case Kind.Stream:
      return (v as StreamValue).copy();
    default:
      throw new Error(`COPY of kind ${v.kind} is not supported`);
  }
}

function copyCommand(c: Client, argv: string[]): void {
  const src = argv[1]!;
  const dst = argv[2]!;
  const srcDb = c.db;
  let dstDb: Db = c.db;
  let replace = false;
  for (let i = 3; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    if (o === 'replace') replace = true;
    else if (o === 'db' && i + 1 < argv.length) {
      const n = intArg(c, argv[++i]!);
      if (n === null) return;
      const d = c.server.keyspace.dbs[n];
      if (n < 0 || d === undefined) {
        c.reply.error(ERR_DB_RANGE);
        return;
      }
      dstDb = d;
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  if (dstDb !== srcDb && c.server.config.bool('cluster-enabled')) {
    c.reply.error('ERR Copying to another database is not allowed in cluster mode');
    return;
  }
  if (src === dst && srcDb === dstDb) {
    c.reply.error(ERR_SAME_OBJECT);
    return;
  }
  const v = srcDb.lookupRead(src);
  if (v === undefined) {
    c.reply.int(0);
    return;
  }
  const expire = srcDb.getExpire(src);
  if (dstDb.lookupWrite(dst) !== undefined) {
    if (!replace) {
      c.reply.int(0);
      return;
    }
    dstDb.delete(dst);
  }
  dstDb.set(dst, copyValue(v));
  if (expire !== -1) dstDb.setExpire(dst, expire);
  c.reply.int(1);
}

// ------------------------------------------------------------------ KEYS SCAN RANDOMKEY

function keysCommand(c: Client, argv: string[]): void {
  const db = c.db;
  const pattern = argv[1]!;
  const all = pattern === '*';
  const re = all ? null : globToRegExp(pattern);
  const t = now(c);
  const hasExpires = db.expires.size > 0;
  const out: string[] = [];
  for (const k of db.dict.keys()) {
    if (re !== null && !re.test(k)) continue;
    if (hasExpires) {
      const when = db.expires.get(k);
      if (when !== undefined && when <= t) continue;
    }
    out.push(k);
  }
  c.reply.bulks(out);
}

function scanCommand(c: Client, argv: string[]): void {
  const cursor = parseScanCursor(argv[1]!);
  if (cursor === null) {
    c.reply.error(ERR_INVALID_CURSOR);
    return;
  }
  let count = 10;
  let re: RegExp | null = null;
  let type: string | null = null;
  for (let i = 2; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    const more = i + 1 < argv.length;
    if (o === 'count' && more) {
      const n = parseInteger(argv[++i]!);
      if (n === null) {
        c.reply.error(Err.notInteger);
        return;
      }
      if (n < 1) {
        c.reply.error(Err.syntax);
        return;
      }
      count = typeof n === 'bigint' ? Number.MAX_SAFE_INTEGER : n;
    } else if (o === 'match' && more) {
      const p = argv[++i]!;
      re = p === '*' ? null : globToRegExp(p);
    } else if (o === 'type' && more) {
      type = argv[++i]!.toLowerCase();
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const db = c.db;
  const keys: string[] = [];
  const next = c.server.keyspace.cursors.step(
    db,
    cursor,
    () => db.dict.keys(),
    count,
    (k: string) => {
      if (re !== null && !re.test(k)) return;
      const v = db.peek(k); // lazily expires (and propagates a DEL)
      if (v === undefined) return;
      if (type !== null && typeName(v) !== type) return;
      keys.push(k);
    },
    { bound: db.dict.size, readAhead: true },
  );
  const r = c.reply;
  r.array(2);
  r.bulk(next);
  r.bulks(keys);
}

function randomkeyCommand(c: Client): void {
  c.reply.bulkOrNil(c.db.randomKey());
}

// ------------------------------------------------------------------ DUMP RESTORE

function dumpCommand(c: Client, argv: string[]): void {
  const v = c.db.lookupRead(argv[1]!);
  if (v === undefined) {
    c.reply.nil();
    return;
  }
  c.reply.bulkBuf(createDumpPayload(v));
}

function restoreCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  let replace = false;
  let absttl = false;
  let idle = -1;
  let freq = -1;
  for (let i = 4; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    const more = i + 1 < argv.length;
    if (o === 'replace') replace = true;
    else if (o === 'absttl') absttl = true;
    else if (o === 'idletime' && more && freq === -1) {
      const n = parseInteger(argv[++i]!);
      if (n === null) {
        c.reply.error(Err.notInteger);
        return;
      }
      if (n < 0) {
        c.reply.error('ERR Invalid IDLETIME value, must be >= 0');
        return;
      }
      idle = Number(n);
    } else if (o === 'freq' && more && idle === -1) {
      const n = parseInteger(argv[++i]!);
      if (n === null) {
        c.reply.error(Err.notInteger);
        return;
      }
      if (n < 0 || n > 255) {
        c.reply.error('ERR Invalid FREQ value, must be >= 0 and <= 255');
        return;
      }
      freq = Number(n);
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const db = c.db;
  if (!replace && db.lookupWrite(key) !== undefined) {
    c.reply.error('BUSYKEY Target key name already exists.');
    return;
  }
  const ttlRaw = parseInteger(argv[2]!);
  if (ttlRaw === null) {
    c.reply.error(Err.notInteger);
    return;
  }
  if (ttlRaw < 0) {
    c.reply.error('ERR Invalid TTL value, must be >= 0');
    return;
  }
  const payload = Buffer.from(argv[3]!, 'latin1');
  if (!verifyDumpPayload(payload)) {
    c.reply.error('ERR DUMP payload version or checksum are wrong');
    return;
  }
  let v: Value;
  try {
    v = decodeDumpPayload(payload);
  } catch {
    c.reply.error('ERR Bad data format');
    return;
  }
  const deleted = replace && db.delete(key);
  let ttl = Number(ttlRaw);
  if (ttl !== 0 && !absttl) ttl += now(c);
  if (ttl !== 0 && alreadyExpired(c, ttl)) {
    if (deleted) c.server.propagate(db, ['DEL', key]);
    c.reply.ok();
    return;
  }
  db.set(key, v);
  if (ttl !== 0) {
    db.setExpire(key, ttl);
    if (!absttl) {
      const prop = argv.slice();
      prop[2] = String(ttl);
      prop.push('ABSTTL');
      c.server.propagate(db, prop);
    }
  }
  c.reply.ok();
}

// ------------------------------------------------------------------ OBJECT

function objectLookup(c: Client, key: string): Value | undefined {
  const v = c.db.lookupRead(key, false);
  if (v === undefined) c.reply.nil();
  return v;
}

function lfuPolicy(c: Client): boolean {
  return c.server.config.get('maxmemory-policy').endsWith('-lfu');
}

function isSharedInteger(c: Client, s: string): boolean {
  if (s.length > 4) return false;
  const n = parseInteger(s);
  if (typeof n !== 'number' || n < 0 || n >= OBJ_SHARED_INTEGERS) return false;
  const policy = c.server.config.get('maxmemory-policy');
  return c.server.config.int('maxmemory') === 0 || !(policy.endsWith('-lru') || policy.endsWith('-lfu'));
}

/** The encoding Redis 7.0 would use for this value at its current size. */
export function encodingName(c: Client, v: Value): string {
  const cfg = c.server.config;
  if (typeof v === 'string') {
    if (v.length <= 20 && parseInteger(v) !== null) return 'int';
    return v.length <= 44 ? 'embstr' : 'raw';
  }
  switch (v.kind) {
    case Kind.List:
      return 'quicklist';
    case Kind.Hash: {
      const h = v as HashValue;
      const max = cfg.int('hash-max-listpack-value');
      if (h.size > cfg.int('hash-max-listpack-entries')) return 'hashtable';
      for (const [f, x] of h.map) if (f.length > max || x.length > max) return 'hashtable';
      return 'listpack';
    }
    case Kind.Set: {
      const s = v as SetValue;
      return s.size <= cfg.int('set-max-intset-entries') && s.allIntegers() ? 'intset' : 'hashtable';
    }
    case Kind.ZSet: {
      const z = v as ZSetValue;
      const max = cfg.int('zset-max-listpack-value');
      if (z.size > cfg.int('zset-max-listpack-entries')) return 'skiplist';
      for (const [m] of z.entries()) if (m.length > max) return 'skiplist';
      return 'listpack';
    }
    case Kind.Stream:
      return 'stream';
    default:
      return 'unknown';
  }
}

function objectEncoding(c: Client, argv: string[]): void {
  const v = objectLookup(c, argv[2]!);
  if (v !== undefined) c.reply.bulk(encodingName(c, v));
}

function objectRefcount(c: Client, argv: string[]): void {
  const v = objectLookup(c, argv[2]!);
  if (v !== undefined) c.reply.int(typeof v === 'string' && isSharedInteger(c, v) ? SHARED_REFCOUNT : 1);
}

function objectIdletime(c: Client, argv: string[]): void {
  const v = objectLookup(c, argv[2]!);
  if (v === undefined) return;
  if (lfuPolicy(c)) {
    c.reply.error(ERR_LFU_SELECTED);
    return;
  }
  const ks = c.server.keyspace;
  // No policy that evicts: no access data is kept, and 0 claims no idleness (docs/memory.md).
  if (c.db.meta === null) {
    c.reply.int(0);
    return;
  }
  const meta = c.db.meta.get(argv[2]!) ?? ks.untrackedMeta();
  c.reply.int(Math.floor(lruIdleMs(meta, ks.env.now()) / 1000));
}

function objectFreq(c: Client, argv: string[]): void {
  const v = objectLookup(c, argv[2]!);
  if (v === undefined) return;
  if (!lfuPolicy(c)) {
    c.reply.error(ERR_LFU_NOT_SELECTED);
    return;
  }
  // The counter after decay, without counting this lookup (Redis's LFUDecrAndReturn).
  const ks = c.server.keyspace;
  c.reply.int(lfuDecayed(c.db.meta?.get(argv[2]!) ?? ks.untrackedMeta(), ks.env.now(), ks.lfuDecayTime));
}

const OBJECT_HELP = [
  'OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'ENCODING <key>',
  '    Return the kind of internal representation used in order to store the value',
  '    associated with a <key>.',
  'FREQ <key>',
  '    Return the access frequency index of the <key>. The returned integer is',
  '    proportional to the logarithm of the recent access frequency of the key.',
  'IDLETIME <key>',
  '    Return the idle time of the <key>, that is the approximated number of',
  '    seconds elapsed since the last access to the key.',
  'REFCOUNT <key>',
  '    Return the number of references of the value associated with the specified',
  '    <key>.',
  'HELP',
  '    Prints this help.',
];

function objectHelp(c: Client): void {
  c.reply.array(OBJECT_HELP.length);
  for (const line of OBJECT_HELP) c.reply.simple(line);
}

export const keyHandlers: HandlerMap = {
  del: delCommand,
  unlink: delCommand,
  exists: existsCommand,
  type: typeCommand,
  touch: touchCommand,
  expire: (c, argv) => expireGeneric(c, argv, true, true),
  pexpire: (c, argv) => expireGeneric(c, argv, true, false),
  expireat: (c, argv) => expireGeneric(c, argv, false, true),
  pexpireat: (c, argv) => expireGeneric(c, argv, false, false),
  ttl: (c, argv) => ttlGeneric(c, argv, false, false),
  pttl: (c, argv) => ttlGeneric(c, argv, true, false),
  expiretime: (c, argv) => ttlGeneric(c, argv, false, true),
  pexpiretime: (c, argv) => ttlGeneric(c, argv, true, true),
  persist: persistCommand,
  rename: (c, argv) => renameGeneric(c, argv, false),
  renamenx: (c, argv) => renameGeneric(c, argv, true),
  move: moveCommand,
  copy: copyCommand,
  keys: keysCommand,
  scan: scanCommand,
  randomkey: randomkeyCommand,
  dump: dumpCommand,
  restore: restoreCommand,
  'object|encoding': objectEncoding,
  'object|refcount': objectRefcount,
  'object|idletime': objectIdletime,
  'object|freq': objectFreq,
  'object|help': objectHelp,
};

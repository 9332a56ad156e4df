import { Err } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { addInt64, parseFloatArg, parseInteger, LLONG_MIN } from '../engine/values.js';
import type { Db } from '../engine/keyspace.js';
import type { HandlerMap } from './types.js';

/** The string value at key; undefined when missing; null (after replying WRONGTYPE) for another type. */
export function getString(c: Client, key: string, forWrite = false): string | undefined | null {
  const v = forWrite ? c.db.lookupWrite(key) : c.db.lookupRead(key);
  if (v === undefined || typeof v === 'string') return v;
  c.reply.error(Err.wrongType);
  return null;
}

/** Parses an expire argument for SET/GETEX/SETEX; returns an absolute ms time, or null after replying an error. */
function parseExpireArg(c: Client, cmd: string, unit: 'EX' | 'PX' | 'EXAT' | 'PXAT', raw: string): number | null {
  const n = parseInteger(raw);
  if (n === null) {
    c.reply.error(Err.notInteger);
    return null;
  }
  const v = Number(n);
  if (v <= 0 || (typeof n === 'bigint' && n > 0n)) {
    c.reply.error(Err.invalidExpire(cmd));
    return null;
  }
  let ms: number;
  if (unit === 'EX') ms = c.server.keyspace.env.now() + v * 1000;
  else if (unit === 'PX') ms = c.server.keyspace.env.now() + v;
  else if (unit === 'EXAT') ms = v * 1000;
  else ms = v;
  if (!Number.isSafeInteger(ms) || ms > 8.64e15 * 1000) {
    c.reply.error(Err.invalidExpire(cmd));
    return null;
  }
  return ms;
}

/** Sets a string with an optional absolute expiry, as SET/SETEX/PSETEX do; deletes if already expired. */
function setWithExpire(c: Client, db: Db, key: string, value: string, expireAt: number | null, keepTtl: boolean): void {
  db.set(key, value, keepTtl);
  if (expireAt !== null) {
    db.setExpire(key, expireAt);
    c.server.propagate(db, ['SET', key, value, 'PXAT', String(expireAt)]);
  }
}

function setCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const value = argv[2]!;
  let nx = false;
  let xx = false;
  let get = false;
  let keepTtl = false;
  let unit: 'EX' | 'PX' | 'EXAT' | 'PXAT' | null = null;
  let expRaw = '';
  for (let i = 3; i < argv.length; i++) {
    const opt = argv[i]!.toUpperCase();
    if (opt === 'NX' && !xx) nx = true;
    else if (opt === 'XX' && !nx) xx = true;
    else if (opt === 'GET') get = true;
    else if (opt === 'KEEPTTL' && unit === null) keepTtl = true;
    else if ((opt === 'EX' || opt === 'PX' || opt === 'EXAT' || opt === 'PXAT') && unit === null && !keepTtl && i + 1 < argv.length) {
      unit = opt;
      expRaw = argv[++i]!;
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  let expireAt: number | null = null;
  if (unit !== null) {
    expireAt = parseExpireArg(c, 'set', unit, expRaw);
    if (expireAt === null) return;
  }
  const db = c.db;
  let old: string | undefined;
  if (get) {
    const o = getString(c, key);
    if (o === null) return;
    old = o;
  }
  const exists = get ? old !== undefined || db.exists(key) : db.exists(key);
  if ((nx && exists) || (xx && !exists)) {
    if (get) c.reply.bulkOrNil(old);
    else c.reply.nil();
    return;
  }
  setWithExpire(c, db, key, value, expireAt, keepTtl);
  if (get) c.reply.bulkOrNil(old);
  else c.reply.ok();
}

function getCommand(c: Client, argv: string[]): void {
  const v = getString(c, argv[1]!);
  if (v === null) return;
  c.reply.bulkOrNil(v);
}

function setnxCommand(c: Client, argv: string[]): void {
  const db = c.db;
  if (db.exists(argv[1]!)) {
    c.reply.int(0);
    return;
  }
  db.set(argv[1]!, argv[2]!);
  c.reply.int(1);
}

function setexLike(c: Client, argv: string[], unit: 'EX' | 'PX', cmd: string): void {
  const at = parseExpireArg(c, cmd, unit, argv[2]!);
  if (at === null) return;
  setWithExpire(c, c.db, argv[1]!, argv[3]!, at, false);
  c.reply.ok();
}

function getsetCommand(c: Client, argv: string[]): void {
  const old = getString(c, argv[1]!);
  if (old === null) return;
  c.db.set(argv[1]!, argv[2]!);
  c.reply.bulkOrNil(old);
  c.server.propagate(c.db, ['SET', argv[1]!, argv[2]!]);
}

function getdelCommand(c: Client, argv: string[]): void {
  const v = getString(c, argv[1]!);
  if (v === null) return;
  if (v !== undefined) {
    c.db.delete(argv[1]!);
    c.server.propagate(c.db, ['DEL', argv[1]!]);
  }
  c.reply.bulkOrNil(v);
}

function getexCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  let unit: 'EX' | 'PX' | 'EXAT' | 'PXAT' | null = null;
  let persist = false;
  let raw = '';
  for (let i = 2; i < argv.length; i++) {
    const opt = argv[i]!.toUpperCase();
    if ((opt === 'EX' || opt === 'PX' || opt === 'EXAT' || opt === 'PXAT') && unit === null && !persist && i + 1 < argv.length) {
      unit = opt;
      raw = argv[++i]!;
    } else if (opt === 'PERSIST' && unit === null && !persist) persist = true;
    else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  let at: number | null = null;
  if (unit !== null) {
    at = parseExpireArg(c, 'getex', unit, raw);
    if (at === null) return;
  }
  const v = getString(c, key);
  if (v === null) return;
  if (v === undefined) {
    c.reply.nil();
    return;
  }
  const db = c.db;
  if (at !== null) {
    if (at <= c.server.keyspace.env.now()) {
      db.delete(key);
      c.server.propagate(db, ['DEL', key]);
    } else {
      db.setExpire(key, at);
      db.modified(key);
      c.server.propagate(db, ['PEXPIREAT', key, String(at)]);
    }
  } else if (persist && db.persist(key)) {
    db.modified(key);
    c.server.propagate(db, ['PERSIST', key]);
  }
  c.reply.bulk(v);
}

function mgetCommand(c: Client, argv: string[]): void {
  const r = c.reply;
  r.array(argv.length - 1);
  const db = c.db;
  for (let i = 1; i < argv.length; i++) {
    const v = db.lookupRead(argv[i]!);
    if (typeof v === 'string') r.bulk(v);
    else r.nil();
  }
}

function msetCommand(c: Client, argv: string[]): void {
  if (argv.length % 2 === 0) {
    c.reply.error(Err.wrongArity('mset'));
    return;
  }
  const db = c.db;
  for (let i = 1; i < argv.length; i += 2) db.set(argv[i]!, argv[i + 1]!);
  c.reply.ok();
}

function msetnxCommand(c: Client, argv: string[]): void {
  if (argv.length % 2 === 0) {
    c.reply.error(Err.wrongArity('msetnx'));
    return;
  }
  const db = c.db;
  for (let i = 1; i < argv.length; i += 2) {
    if (db.exists(argv[i]!)) {
      c.reply.int(0);
      return;
    }
  }
  for (let i = 1; i < argv.length; i += 2) db.set(argv[i]!, argv[i + 1]!);
  c.reply.int(1);
}

function checkStringLength(c: Client, size: number): boolean {
  if (size > c.server.config.int('proto-max-bulk-len')) {
    c.reply.error('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
    return false;
  }
  return true;
}

function appendCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const old = getString(c, key, true);
  if (old === null) return;
  const db = c.db;
  if (old === undefined) {
    db.set(key, argv[2]!);
    c.reply.int(argv[2]!.length);
    return;
  }
  if (!checkStringLength(c, old.length + argv[2]!.length)) return;
  const next = old + argv[2]!;
  db.set(key, next, true); // keeps the TTL; accounts the new size
  c.reply.int(next.length);
}

function strlenCommand(c: Client, argv: string[]): void {
  const v = getString(c, argv[1]!);
  if (v === null) return;
  c.reply.int(v === undefined ? 0 : v.length);
}

function getrangeCommand(c: Client, argv: string[]): void {
  const s0 = parseInteger(argv[2]!);
  const e0 = parseInteger(argv[3]!);
  if (s0 === null || e0 === null) {
    c.reply.error(Err.notInteger);
    return;
  }
  const v = getString(c, argv[1]!);
  if (v === null) return;
  if (v === undefined) {
    c.reply.bulk('');
    return;
  }
  let start = Number(s0);
  let end = Number(e0);
  const len = v.length;
  if (start < 0 && end < 0 && start > end) {
    c.reply.bulk('');
    return;
  }
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) {
    c.reply.bulk('');
    return;
  }
  c.reply.bulk(v.slice(start, end + 1));
}

function setrangeCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const off = parseInteger(argv[2]!);
  if (off === null) {
    c.reply.error(Err.notInteger);
    return;
  }
  if (Number(off) < 0) {
    c.reply.error('ERR offset is out of range');
    return;
  }
  const offset = Number(off);
  const val = argv[3]!;
  const old = getString(c, key, true);
  if (old === null) return;
  const db = c.db;
  if (old === undefined) {
    if (val.length === 0) {
      c.reply.int(0);
      return;
    }
    if (!checkStringLength(c, offset + val.length)) return;
    db.set(key, '\0'.repeat(offset) + val);
    c.reply.int(offset + val.length);
    return;
  }
  if (val.length === 0) {
    c.reply.int(old.length);
    return;
  }
  if (!checkStringLength(c, offset + val.length)) return;
  const base = old.length < offset ? old + '\0'.repeat(offset - old.length) : old;
  const next = base.slice(0, offset) + val + base.slice(offset + val.length);
  db.set(key, next, true); // keeps the TTL; accounts the new size
  c.reply.int(next.length);
}

/** INCR/DECR/INCRBY/DECRBY: adds `by` to the integer at key. */
function incrBy(c: Client, key: string, by: number | bigint): void {
  const old = getString(c, key, true);
  if (old === null) return;
  let cur: number | bigint = 0;
  if (old !== undefined) {
    const p = parseInteger(old);
    if (p === null) {
      c.reply.error(Err.notInteger);
      return;
    }
    cur = p;
  }
  const next = addInt64(cur, by);
  if (next === null) {
    c.reply.error(Err.overflow);
    return;
  }
  const s = String(next);
  const db = c.db;
  if (old === undefined) db.set(key, s);
  else {
    db.set(key, s, true); // keeps the TTL; accounts the new size
  }
  c.reply.int(next);
}

function incrbyArg(c: Client, raw: string): number | bigint | null {
  const n = parseInteger(raw);
  if (n === null) c.reply.error(Err.notInteger);
  return n;
}

function incrbyfloatCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const by = parseFloatArg(argv[2]!);
  if (by === null) {
    c.reply.error(Err.notFloat);
    return;
  }
  const old = getString(c, key, true);
  if (old === null) return;
  let cur = 0;
  if (old !== undefined) {
    const p = parseFloatArg(old);
    if (p === null) {
      c.reply.error(Err.notFloat);
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
  const db = c.db;
  if (old === undefined) db.set(key, s);
  else {
    db.set(key, s, true); // keeps the TTL; accounts the new size
  }
  c.server.propagate(db, ['SET', key, s, 'KEEPTTL']);
  c.reply.bulk(s);
}

/**
 * Formats a float the way Redis's INCRBYFLOAT does (long double, `%.17Lf`, trailing
 * zeros trimmed, never an exponent). Doubles carry less precision than long doubles, so
 * 15 significant digits are kept, which hides binary noise (0.1 + 0.2 → "0.3") as the
 * long double formatting does.
 */
export function formatLongDouble(x: number): string {
  if (x === 0) return '0';
  const rounded = Number(x.toPrecision(15));
  let s = String(rounded);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m) {
    // Expand the exponent: long double formatting never uses one.
    const digits = m[2]! + (m[3] ?? '');
    const exp = Number(m[4]);
    if (exp >= 0) s = m[1] + digits.padEnd(exp + 1, '0').slice(0, Math.max(exp + 1, 1)) + (digits.length > exp + 1 ? '.' + digits.slice(exp + 1) : '');
    else s = m[1] + '0.' + '0'.repeat(-exp - 1) + digits;
  }
  return s === '-0' ? '0' : s;
}

export const stringHandlers: HandlerMap = {
  get: getCommand,
  set: setCommand,
  setnx: setnxCommand,
  setex: (c, argv) => setexLike(c, argv, 'EX', 'setex'),
  psetex: (c, argv) => setexLike(c, argv, 'PX', 'psetex'),
  getset: getsetCommand,
  getdel: getdelCommand,
  getex: getexCommand,
  mget: mgetCommand,
  mset: msetCommand,
  msetnx: msetnxCommand,
  append: appendCommand,
  strlen: strlenCommand,
  getrange: getrangeCommand,
  substr: getrangeCommand,
  setrange: setrangeCommand,
  incr: (c, argv) => incrBy(c, argv[1]!, 1),
  decr: (c, argv) => incrBy(c, argv[1]!, -1),
  incrby: (c, argv) => {
    const n = incrbyArg(c, argv[2]!);
    if (n !== null) incrBy(c, argv[1]!, n);
  },
  decrby: (c, argv) => {
    const n = incrbyArg(c, argv[2]!);
    if (n === null) return;
    if (typeof n === 'bigint' && n === LLONG_MIN) {
      c.reply.error('ERR decrement would overflow');
      return;
    }
    incrBy(c, argv[1]!, typeof n === 'bigint' ? -n : -n);
  },
  incrbyfloat: incrbyfloatCommand,
};

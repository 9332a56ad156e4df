import { Err } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import type { Db } from '../engine/keyspace.js';
import { ListValue } from '../engine/list.js';
import { Kind, parseInteger, LLONG_MIN } from '../engine/values.js';
import type { HandlerMap } from './types.js';

const ERR_POSITIVE = 'ERR value is out of range, must be positive';
const ERR_NUMKEYS = 'ERR numkeys should be greater than 0';
const ERR_COUNT = 'ERR count should be greater than 0';
const ERR_RANK_ZERO =
  "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";

/** The list at key; undefined when missing; null (after replying WRONGTYPE) for another type. */
function getList(c: Client, key: string, forWrite: boolean): ListValue | undefined | null {
  const v = forWrite ? c.db.lookupWrite(key) : c.db.lookupRead(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' && v.kind === Kind.List) return v as ListValue;
  c.reply.error(Err.wrongType);
  return null;
}

/** Records that an element was popped from `l` at key: deletes the emptied list, or signals the change. */
function afterPop(db: Db, key: string, l: ListValue, changes = 1): void {
  if (l.length === 0) {
    db.delete(key);
    if (changes > 1) db.ks.dirty += changes - 1;
  } else db.modified(key, changes);
}

/** An integer argument as a JS number (64-bit values beyond ±2^53 are clamped, which only matters for range ends). */
function intArg(c: Client, raw: string): number | null {
  const n = parseInteger(raw);
  if (n === null) {
    c.reply.error(Err.notInteger);
    return null;
  }
  return typeof n === 'number' ? n : Number(n);
}

// ------------------------------------------------------------------ push

function pushGeneric(c: Client, argv: string[], head: boolean, onlyExisting: boolean): void {
  const key = argv[1]!;
  const db = c.db;
  const l = getList(c, key, true);
  if (l === null) return;
  const n = argv.length - 2;
  if (l === undefined) {
    if (onlyExisting) {
      c.reply.int(0);
      return;
    }
    const nl = new ListValue();
    if (head) for (let i = 2; i < argv.length; i++) nl.pushHead(argv[i]!);
    else for (let i = 2; i < argv.length; i++) nl.pushTail(argv[i]!);
    db.set(key, nl);
    if (n > 1) db.ks.dirty += n - 1;
    c.reply.int(nl.length);
    return;
  }
  if (head) for (let i = 2; i < argv.length; i++) l.pushHead(argv[i]!);
  else for (let i = 2; i < argv.length; i++) l.pushTail(argv[i]!);
  db.modified(key, n);
  c.reply.int(l.length);
}

// ------------------------------------------------------------------ pop

function popGeneric(c: Client, argv: string[], head: boolean): void {
  const key = argv[1]!;
  let count = -1;
  if (argv.length > 3) {
    c.reply.error(Err.wrongArity(head ? 'lpop' : 'rpop'));
    return;
  }
  if (argv.length === 3) {
    const n = parseInteger(argv[2]!);
    if (n === null || n < 0) {
      c.reply.error(ERR_POSITIVE);
      return;
    }
    count = typeof n === 'number' ? n : Number.MAX_SAFE_INTEGER;
  }
  const l = getList(c, key, true);
  if (l === null) return;
  const r = c.reply;
  if (l === undefined) {
    if (count < 0) r.nil();
    else r.nilArray();
    return;
  }
  if (count < 0) {
    r.bulk((head ? l.popHead() : l.popTail())!);
    afterPop(c.db, key, l);
    return;
  }
  const n = Math.min(count, l.length);
  r.array(n);
  for (let i = 0; i < n; i++) r.bulk((head ? l.popHead() : l.popTail())!);
  if (n > 0) afterPop(c.db, key, l, n);
}

// ------------------------------------------------------------------ read

function llenCommand(c: Client, argv: string[]): void {
  const l = getList(c, argv[1]!, false);
  if (l === null) return;
  c.reply.int(l === undefined ? 0 : l.length);
}

function lindexCommand(c: Client, argv: string[]): void {
  const l = getList(c, argv[1]!, false);
  if (l === null) return;
  if (l === undefined) {
    c.reply.nil();
    return;
  }
  let i = intArg(c, argv[2]!);
  if (i === null) return;
  if (i < 0) i += l.length;
  if (i < 0 || i >= l.length) c.reply.nil();
  else c.reply.bulk(l.at(i));
}

/** Normalises a [start, stop] range over a list of length len; null when empty. */
function clampRange(start: number, stop: number, len: number): [number, number] | null {
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return null;
  if (stop >= len) stop = len - 1;
  return [start, stop];
}

function lrangeCommand(c: Client, argv: string[]): void {
  const start = intArg(c, argv[2]!);
  if (start === null) return;
  const stop = intArg(c, argv[3]!);
  if (stop === null) return;
  const l = getList(c, argv[1]!, false);
  if (l === null) return;
  const r = c.reply;
  const range = l === undefined ? null : clampRange(start, stop, l.length);
  if (range === null) {
    r.array(0);
    return;
  }
  r.array(range[1] - range[0] + 1);
  for (let i = range[0]; i <= range[1]; i++) r.bulk(l!.at(i));
}

function lposCommand(c: Client, argv: string[]): void {
  const ele = argv[2]!;
  let rank = 1;
  let fromTail = false;
  /** RANK -2^63: every match from the tail qualifies and COUNT never stops the scan (as Redis's overflow does). */
  let unbounded = false;
  let count = -1;
  let maxlen = 0;
  for (let i = 3; i < argv.length; i++) {
    const opt = argv[i]!.toLowerCase();
    if (i + 1 >= argv.length || (opt !== 'rank' && opt !== 'count' && opt !== 'maxlen')) {
      c.reply.error(Err.syntax);
      return;
    }
    const n = parseInteger(argv[++i]!);
    if (n === null) {
      // COUNT and MAXLEN are range-checked in one step, so a non-number gets their message.
      c.reply.error(opt === 'rank' ? Err.notInteger : opt === 'count' ? "ERR COUNT can't be negative" : "ERR MAXLEN can't be negative");
      return;
    }
    if (opt === 'rank') {
      if (n === 0) {
        c.reply.error(ERR_RANK_ZERO);
        return;
      }
      unbounded = n === LLONG_MIN;
      fromTail = n < 0;
      rank = Math.abs(Number(n));
    } else if (opt === 'count') {
      if (n < 0) {
        c.reply.error("ERR COUNT can't be negative");
        return;
      }
      count = Number(n);
    } else {
      if (n < 0) {
        c.reply.error("ERR MAXLEN can't be negative");
        return;
      }
      maxlen = Number(n);
    }
  }
  const l = getList(c, argv[1]!, false);
  if (l === null) return;
  const r = c.reply;
  if (l === undefined) {
    if (count >= 0) r.array(0);
    else r.nil();
    return;
  }
  const len = l.length;
  const limit = maxlen === 0 ? len : Math.min(len, maxlen);
  const wanted = count === 0 ? Infinity : count < 0 ? 1 : count;
  let matches = 0;
  let found: number[] | null = null;
  for (let k = 0; k < limit; k++) {
    const idx = fromTail ? len - 1 - k : k;
    if (l.at(idx) !== ele) continue;
    matches++;
    if (!unbounded && matches < rank) continue;
    if (count < 0) {
      r.int(idx);
      return;
    }
    (found ??= []).push(idx);
    if (!unbounded && found.length >= wanted) break;
  }
  if (count < 0) {
    r.nil();
    return;
  }
  r.array(found === null ? 0 : found.length);
  if (found !== null) for (const idx of found) r.int(idx);
}

// ------------------------------------------------------------------ write in place

function lsetCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const l = getList(c, key, true);
  if (l === null) return;
  if (l === undefined) {
    c.reply.error(Err.noSuchKey);
    return;
  }
  let i = intArg(c, argv[2]!);
  if (i === null) return;
  if (i < 0) i += l.length;
  if (i < 0 || i >= l.length) {
    c.reply.error(Err.outOfRange);
    return;
  }
  l.setAt(i, argv[3]!);
  c.db.modified(key);
  c.reply.ok();
}

function linsertCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const where = argv[2]!.toLowerCase();
  if (where !== 'before' && where !== 'after') {
    c.reply.error(Err.syntax);
    return;
  }
  const l = getList(c, key, true);
  if (l === null) return;
  if (l === undefined) {
    c.reply.int(0);
    return;
  }
  const at = l.indexOf(argv[3]!);
  if (at < 0) {
    c.reply.int(-1);
    return;
  }
  l.insertAt(where === 'before' ? at : at + 1, argv[4]!);
  c.db.modified(key);
  c.reply.int(l.length);
}

function lremCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const count = intArg(c, argv[2]!);
  if (count === null) return;
  const l = getList(c, key, true);
  if (l === null) return;
  if (l === undefined) {
    c.reply.int(0);
    return;
  }
  const removed = l.removeMatching(argv[3]!, count);
  if (removed > 0) afterPop(c.db, key, l, removed);
  c.reply.int(removed);
}

function ltrimCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const start = intArg(c, argv[2]!);
  if (start === null) return;
  const stop = intArg(c, argv[3]!);
  if (stop === null) return;
  const l = getList(c, key, true);
  if (l === null) return;
  if (l !== undefined) {
    const len = l.length;
    const range = clampRange(start, stop, len);
    if (range === null) {
      c.db.delete(key);
      if (len > 1) c.db.ks.dirty += len - 1;
    } else {
      if (range[0] > 0 || range[1] < len - 1) l.trim(range[0], range[1]);
      // Redis signals the key even when nothing was trimmed (a WATCH fails).
      c.db.modified(key, len - l.length);
    }
  }
  c.reply.ok();
}

// ------------------------------------------------------------------ move

function parseWhere(s: string): 0 | 1 | -1 {
  const w = s.toLowerCase();
  return w === 'left' ? 1 : w === 'right' ? 0 : -1;
}

const enum Moved {
  /** The source list is missing; nothing was replied. */
  None,
  /** An element moved and was replied. */
  Done,
  /** WRONGTYPE was replied. */
  Failed,
}

/**
 * Pops from src (head when fromHead) and pushes to dst (head when toHead), replying the
 * element; replies nothing when src is missing, WRONGTYPE when either key holds another type.
 */
function moveElement(c: Client, src: string, dst: string, fromHead: boolean, toHead: boolean, sl?: ListValue): Moved {
  const db = c.db;
  if (sl === undefined) {
    const l = getList(c, src, true);
    if (l === null) return Moved.Failed;
    if (l === undefined) return Moved.None;
    sl = l;
  }
  const dl = getList(c, dst, true);
  if (dl === null) return Moved.Failed;
  const v = (fromHead ? sl.popHead() : sl.popTail())!;
  if (dl === undefined) {
    const nl = new ListValue();
    nl.pushTail(v);
    db.set(dst, nl);
  } else {
    if (toHead) dl.pushHead(v);
    else dl.pushTail(v);
    db.modified(dst);
  }
  if (sl.length === 0) db.delete(src);
  else db.modified(src);
  c.reply.bulk(v);
  return Moved.Done;
}

function lmoveCommand(c: Client, argv: string[]): void {
  const from = parseWhere(argv[3]!);
  const to = parseWhere(argv[4]!);
  if (from < 0 || to < 0) {
    c.reply.error(Err.syntax);
    return;
  }
  if (moveElement(c, argv[1]!, argv[2]!, from === 1, to === 1) === Moved.None) c.reply.nil();
}

function rpoplpushCommand(c: Client, argv: string[]): void {
  if (moveElement(c, argv[1]!, argv[2]!, false, true) === Moved.None) c.reply.nil();
}

// ------------------------------------------------------------------ multi-key pop

interface MpopArgs {
  first: number;
  numkeys: number;
  head: boolean;
  count: number;
}

/** Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at argv[at]; null after replying an error. */
function parseMpop(c: Client, argv: string[], at: number): MpopArgs | null {
  const nk = parseInteger(argv[at]!);
  if (nk === null || nk <= 0) {
    c.reply.error(ERR_NUMKEYS);
    return null;
  }
  const whereIdx = at + 1 + Number(nk);
  if (whereIdx >= argv.length) {
    c.reply.error(Err.syntax);
    return null;
  }
  const where = parseWhere(argv[whereIdx]!);
  if (where < 0) {
    c.reply.error(Err.syntax);
    return null;
  }
  let count = -1;
  for (let i = whereIdx + 1; i < argv.length; i++) {
    if (count < 0 && i + 1 < argv.length && argv[i]!.toLowerCase() === 'count') {
      const n = parseInteger(argv[++i]!);
      if (n === null || n <= 0) {
        c.reply.error(ERR_COUNT);
        return null;
      }
      count = typeof n === 'number' ? n : Number.MAX_SAFE_INTEGER;
    } else {
      c.reply.error(Err.syntax);
      return null;
    }
  }
  return { first: at + 1, numkeys: Number(nk), head: where === 1, count: count < 0 ? 1 : count };
}

/** Pops up to `count` elements of the list at key and replies [key, [elements]]; propagates LPOP/RPOP key n. */
function mpopServe(c: Client, key: string, l: ListValue, head: boolean, count: number): void {
  const r = c.reply;
  const n = Math.min(count, l.length);
  r.array(2);
  r.bulk(key);
  r.array(n);
  for (let i = 0; i < n; i++) r.bulk((head ? l.popHead() : l.popTail())!);
  afterPop(c.db, key, l, n);
  c.server.propagate(c.db, [head ? 'LPOP' : 'RPOP', key, String(n)]);
}

/** Finds the first non-empty list among argv[first .. first+n-1]: the list, undefined when none, null after WRONGTYPE. */
function firstList(c: Client, argv: string[], first: number, n: number): [string, ListValue] | undefined | null {
  for (let i = first; i < first + n; i++) {
    const l = getList(c, argv[i]!, true);
    if (l === null) return null;
    if (l !== undefined) return [argv[i]!, l];
  }
  return undefined;
}

function lmpopCommand(c: Client, argv: string[]): void {
  const a = parseMpop(c, argv, 1);
  if (a === null) return;
  const found = firstList(c, argv, a.first, a.numkeys);
  if (found === null) return;
  if (found === undefined) c.reply.nilArray();
  else mpopServe(c, found[0], found[1], a.head, a.count);
}

// ------------------------------------------------------------------ blocking

const LLONG_MAX_NUM = 2 ** 63;

/**
 * Parses a blocking command's timeout (seconds, as a long double like Redis's strtold:
 * decimal, exponent, hex and `inf` forms) into milliseconds (0 = forever). Replies the
 * error and returns null when it is not valid.
 */
export function parseBlockTimeout(c: Client, raw: string): number | null {
  const secs = parseLongDouble(raw);
  if (secs === null) {
    c.reply.error('ERR timeout is not a float or out of range');
    return null;
  }
  const ms = Math.ceil(secs * 1000);
  // Out of the 64-bit range the conversion wraps to the most negative value, as in Redis.
  if (!Number.isFinite(ms) || ms >= LLONG_MAX_NUM || ms < 0) {
    c.reply.error('ERR timeout is negative');
    return null;
  }
  return ms;
}

const DEC_RE = /^[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const HEX_RE = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;

/**
 * A string as C's strtold reads it in full (no surrounding space), or null. Values a
 * long double holds but a double does not come back as ±Infinity (too large) or as
 * ±Number.MIN_VALUE (too small but not zero).
 */
export function parseLongDouble(s: string): number | null {
  if (s.length === 0 || s.length > 5000) return null;
  const low = s.toLowerCase();
  const unsigned = low.charCodeAt(0) === 43 || low.charCodeAt(0) === 45 ? low.slice(1) : low;
  if (unsigned === 'inf' || unsigned === 'infinity') return low.charCodeAt(0) === 45 ? -Infinity : Infinity;
  const neg = low.charCodeAt(0) === 45;
  let digits: string;
  let exp10: number;
  let value: number;
  const d = DEC_RE.exec(s);
  if (d !== null) {
    const int = d[1]!;
    const frac = d[2] ?? '';
    if (int.length + frac.length === 0) return null;
    value = Number(s);
    if (Number.isNaN(value)) return null;
    digits = int + frac;
    const lead = digits.search(/[1-9]/);
    if (lead < 0) return neg ? -0 : 0;
    // Decimal exponent of the leading significant digit.
    exp10 = Number(d[3] ?? '0') + (int.length - lead - 1);
    if (exp10 > 4932 || exp10 < -4951) return null; // ERANGE for a long double
    if (!Number.isFinite(value) || value !== 0) return value;
    return neg ? -Number.MIN_VALUE : Number.MIN_VALUE;
  }
  const h = HEX_RE.exec(s);
  if (h === null) return null;
  const hi = h[2]!;
  const hf = h[3] ?? '';
  if (hi.length + hf.length === 0) return null;
  let m = 0;
  for (const ch of hi + hf) m = m * 16 + parseInt(ch, 16);
  value = m * 2 ** (Number(h[4] ?? '0') - 4 * hf.length);
  return neg ? -value : value;
}

const replyNilArray = (c: Client): void => c.reply.nilArray();

/** True when the client may not block (in MULTI/EXEC): the caller replies a null instead. */
function cannotBlock(c: Client): boolean {
  return c.inExec;
}

/**
 * The key a re-run of a blocked command should serve (the one that became ready), or
 * null on a first run.
 */
function servingKey(c: Client): string | null {
  return c.blocked !== null ? c.server.servingKey : null;
}

function blockingPop(c: Client, argv: string[], head: boolean): void {
  const timeout = parseBlockTimeout(c, argv[argv.length - 1]!);
  if (timeout === null) return;
  const last = argv.length - 2;
  const ready = servingKey(c);
  let key: string | null = null;
  let l: ListValue | undefined;
  if (ready !== null) {
    const v = c.db.lookupWrite(ready);
    // A key that became another type keeps the client waiting (Redis 7.0).
    if (v !== undefined && typeof v !== 'string' && v.kind === Kind.List) {
      key = ready;
      l = v as ListValue;
    }
  } else {
    for (let i = 1; i <= last; i++) {
      const x = getList(c, argv[i]!, true);
      if (x === null) return;
      if (x !== undefined) {
        key = argv[i]!;
        l = x;
        break;
      }
    }
  }
  if (key !== null && l !== undefined) {
    const v = (head ? l.popHead() : l.popTail())!;
    const r = c.reply;
    r.array(2);
    r.bulk(key);
    r.bulk(v);
    afterPop(c.db, key, l);
    c.server.propagate(c.db, [head ? 'LPOP' : 'RPOP', key]);
    return;
  }
  if (cannotBlock(c)) {
    c.reply.nilArray();
    return;
  }
  c.server.block(c, argv.slice(1, last + 1), timeout, replyNilArray);
}

function blockingMove(c: Client, argv: string[], src: string, dst: string, fromHead: boolean, toHead: boolean, timeoutRaw: string): void {
  const timeout = parseBlockTimeout(c, timeoutRaw);
  if (timeout === null) return;
  const ready = servingKey(c);
  let res = Moved.None;
  if (ready !== null) {
    // A source that became another type keeps the client waiting (Redis 7.0).
    const v = c.db.lookupWrite(src);
    if (v !== undefined && typeof v !== 'string' && v.kind === Kind.List) res = moveElement(c, src, dst, fromHead, toHead, v as ListValue);
  } else {
    res = moveElement(c, src, dst, fromHead, toHead);
  }
  if (res === Moved.Done) c.server.propagate(c.db, ['LMOVE', src, dst, fromHead ? 'LEFT' : 'RIGHT', toHead ? 'LEFT' : 'RIGHT']);
  if (res !== Moved.None) return;
  if (cannotBlock(c)) {
    c.reply.nil();
    return;
  }
  c.server.block(c, [src], timeout, replyNilArray);
}

function blmoveCommand(c: Client, argv: string[]): void {
  const from = parseWhere(argv[3]!);
  const to = parseWhere(argv[4]!);
  if (from < 0 || to < 0) {
    c.reply.error(Err.syntax);
    return;
  }
  blockingMove(c, argv, argv[1]!, argv[2]!, from === 1, to === 1, argv[5]!);
}

function blmpopCommand(c: Client, argv: string[]): void {
  const a = parseMpop(c, argv, 2);
  if (a === null) return;
  const timeout = parseBlockTimeout(c, argv[1]!);
  if (timeout === null) return;
  const ready = servingKey(c);
  if (ready !== null) {
    const v = c.db.lookupWrite(ready);
    if (v !== undefined && typeof v !== 'string' && v.kind === Kind.List) {
      mpopServe(c, ready, v as ListValue, a.head, a.count);
      return;
    }
  } else {
    const found = firstList(c, argv, a.first, a.numkeys);
    if (found === null) return;
    if (found !== undefined) {
      mpopServe(c, found[0], found[1], a.head, a.count);
      return;
    }
  }
  if (cannotBlock(c)) {
    c.reply.nilArray();
    return;
  }
  c.server.block(c, argv.slice(a.first, a.first + a.numkeys), timeout, replyNilArray);
}

export const listHandlers: HandlerMap = {
  lpush: (c, argv) => pushGeneric(c, argv, true, false),
  rpush: (c, argv) => pushGeneric(c, argv, false, false),
  lpushx: (c, argv) => pushGeneric(c, argv, true, true),
  rpushx: (c, argv) => pushGeneric(c, argv, false, true),
  lpop: (c, argv) => popGeneric(c, argv, true),
  rpop: (c, argv) => popGeneric(c, argv, false),
  llen: llenCommand,
  lindex: lindexCommand,
  lrange: lrangeCommand,
  lpos: lposCommand,
  lset: lsetCommand,
  linsert: linsertCommand,
  lrem: lremCommand,
  ltrim: ltrimCommand,
  lmove: lmoveCommand,
  rpoplpush: rpoplpushCommand,
  lmpop: lmpopCommand,
  blpop: (c, argv) => blockingPop(c, argv, true),
  brpop: (c, argv) => blockingPop(c, argv, false),
  blmove: blmoveCommand,
  brpoplpush: (c, argv) => blockingMove(c, argv, argv[1]!, argv[2]!, false, true, argv[3]!),
  blmpop: blmpopCommand,
};

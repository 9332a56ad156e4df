import { Err, Proto, formatDouble } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { Kind, parseInteger, parseSafeInt, type Value } from '../engine/values.js';
import { ZSetValue, type LexBound, type LexRange, type ScoreRange, type ZNode } from '../engine/zset.js';
import type { SetValue } from '../engine/set.js';
import { parseScanCursor } from '../engine/scan.js';
import { globToRegExp } from '../engine/glob.js';
import type { HandlerMap } from './types.js';

const ErrMinMaxFloat = 'ERR min or max is not a float';
const ErrLexRange = 'ERR min or max not valid string range item';
const ErrNaN = 'ERR resulting score is not a number (NaN)';
const ErrPositive = 'ERR value is out of range, must be positive';
const ErrTimeoutFloat = 'ERR timeout is not a float or out of range';
const ErrTimeoutNeg = 'ERR timeout is negative';
const ErrNumkeys = 'ERR numkeys should be greater than 0';
const ErrCount = 'ERR count should be greater than 0';

/** Redis never stores -0 as a score (a listpack keeps it as 0). */
const norm = (d: number): number => d + 0;

// ------------------------------------------------------------------ C number parsing

const DEC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const HEX = /^([+-]?)0x([0-9a-f]*)\.?([0-9a-f]*)(?:p([+-]?\d+))?$/i;
const INF = /^[+-]?inf(?:inity)?$/i;
const NONZERO = /[1-9a-f]/i;

/**
 * C's strtod over a whole string (Redis reads scores, bounds, weights and timeouts with
 * it): decimal, hex (0x1.8p3), inf/infinity. Returns null when not all of it converts
 * or it is NaN; `range` is set on overflow to infinity or underflow to zero (ERANGE).
 */
function strtod(s: string): { v: number; range: boolean } | null {
  if (DEC.test(s)) {
    const v = Number(s);
    const range = v === Infinity || v === -Infinity || (v === 0 && NONZERO.test(s.replace(/e.*$/i, '')));
    return { v, range };
  }
  if (INF.test(s)) return { v: s.charCodeAt(0) === 45 ? -Infinity : Infinity, range: false };
  const m = HEX.exec(s);
  if (m !== null && (m[2]!.length > 0 || m[3]!.length > 0)) {
    let v = 0;
    for (const ch of m[2]! + m[3]!) v = v * 16 + parseInt(ch, 16);
    const exp = (m[4] === undefined ? 0 : Number(m[4])) - 4 * m[3]!.length;
    v = v * Math.pow(2, exp);
    if (m[1] === '-') v = -v;
    const range = v === Infinity || v === -Infinity || (v === 0 && NONZERO.test(m[2]! + m[3]!));
    return { v, range };
  }
  return null;
}

/** Redis's getDoubleFromObject: no leading blank, all of it, no overflow/underflow to zero, not NaN. */
function parseDouble(s: string): number | null {
  if (s.length === 0 || /^\s/.test(s)) return null;
  const r = strtod(s);
  return r === null || r.range ? null : r.v;
}

// ------------------------------------------------------------------ lookups

/** The sorted set at key; undefined when missing; null (after replying WRONGTYPE) for another type. */
function getZset(c: Client, key: string, forWrite = false): ZSetValue | undefined | null {
  const v = forWrite ? c.db.lookupWrite(key) : c.db.lookupRead(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' && v.kind === Kind.ZSet) return v as ZSetValue;
  c.reply.error(Err.wrongType);
  return null;
}

/** After a change to an existing zset: deletes it when empty, else signals it. */
function afterChange(c: Client, key: string, z: ZSetValue, changes: number): void {
  if (z.size === 0) c.db.delete(key);
  else c.db.modified(key, changes);
}

/** Stores a computed zset at dst (deleting dst when empty); replies its size. */
function storeResult(c: Client, dst: string, z: ZSetValue): void {
  if (z.size > 0) c.db.set(dst, z);
  else c.db.delete(dst);
  c.reply.int(z.size);
}

// ------------------------------------------------------------------ parsing

function parseScoreBound(s: string): { v: number; ex: boolean } | null {
  let ex = false;
  let raw = s;
  if (s.charCodeAt(0) === 40 /* ( */) {
    ex = true;
    raw = s.slice(1);
  }
  // Redis reads the bound with plain strtod: an empty string converts to 0, leading
  // blanks are skipped, overflow is infinity.
  const t = raw.replace(/^[ \t\n\v\f\r]+/, '');
  if (t === '') return raw === '' ? { v: 0, ex } : null;
  const r = strtod(t);
  return r === null ? null : { v: r.v, ex };
}

/** Parses a ZRANGEBYSCORE-style interval; replies the error and returns null when invalid. */
function parseScoreRange(c: Client, min: string, max: string): ScoreRange | null {
  const a = parseScoreBound(min);
  const b = a === null ? null : parseScoreBound(max);
  if (a === null || b === null) {
    c.reply.error(ErrMinMaxFloat);
    return null;
  }
  return { min: a.v, max: b.v, minex: a.ex, maxex: b.ex };
}

function parseLexBound(s: string): LexBound | null {
  if (s === '-') return { inf: -1 };
  if (s === '+') return { inf: 1 };
  const c0 = s.charCodeAt(0);
  if (c0 === 91 /* [ */) return { inf: 0, value: s.slice(1), ex: false };
  if (c0 === 40 /* ( */) return { inf: 0, value: s.slice(1), ex: true };
  return null;
}

function parseLexRange(c: Client, min: string, max: string): LexRange | null {
  const a = parseLexBound(min);
  const b = a === null ? null : parseLexBound(max);
  if (a === null || b === null) {
    c.reply.error(ErrLexRange);
    return null;
  }
  return { min: a, max: b };
}

/** A 64-bit integer argument as a JS number (clamped beyond 2^53, which no size reaches). */
function parseLong(c: Client, s: string): number | null {
  const v = parseInteger(s);
  if (v === null) {
    c.reply.error(Err.notInteger);
    return null;
  }
  return Number(v);
}

function parseScore(c: Client, s: string): number | null {
  const v = parseDouble(s);
  if (v === null) c.reply.error(Err.notFloat);
  return v;
}

/** A blocking timeout in seconds (float) → ms (0 = forever), as Redis parses it (strtold, then ceil). */
function parseTimeout(c: Client, s: string): number | null {
  const r = s.length === 0 || /^\s/.test(s) ? null : strtod(s);
  if (r === null) {
    c.reply.error(ErrTimeoutFloat);
    return null;
  }
  // A long double does not underflow where a double does: a tiny positive timeout is 1 ms.
  // (A tiny negative one rounds up to -0: block forever, as Redis does.)
  if (r.range && r.v === 0) return s.charCodeAt(0) === 45 ? 0 : 1;
  const ms = Math.ceil(r.v * 1000);
  // Redis converts to a long long: beyond its range the value wraps negative.
  if (ms < 0 || !(ms < 9.2e18)) {
    c.reply.error(ErrTimeoutNeg);
    return null;
  }
  return ms;
}

// ------------------------------------------------------------------ replies

/** Whether member/score pairs go out as nested [member, score] arrays (RESP3). */
const pairs = (c: Client, withscores: boolean): boolean => withscores && c.reply.proto === Proto.RESP3;

/** Writes `count` nodes walking from `start` (backwards when rev), with or without scores. */
function replyNodes(c: Client, start: ZNode | null, count: number, rev: boolean, withscores: boolean): void {
  const r = c.reply;
  const nested = pairs(c, withscores);
  r.array(withscores && !nested ? count * 2 : count);
  let n = start;
  for (let k = 0; k < count && n !== null; k++) {
    if (nested) r.array(2);
    r.bulk(n.member);
    if (withscores) r.double(n.score);
    n = rev ? n.back : n.next;
  }
}

/** Writes member/score entries of an array. */
function replyEntries(c: Client, entries: readonly [string, number][], withscores: boolean): void {
  const r = c.reply;
  const nested = pairs(c, withscores);
  r.array(withscores && !nested ? entries.length * 2 : entries.length);
  for (const [m, s] of entries) {
    if (nested) r.array(2);
    r.bulk(m);
    if (withscores) r.double(s);
  }
}

// ------------------------------------------------------------------ ZADD, ZINCRBY, ZREM ...

function zaddCommand(c: Client, argv: string[]): void {
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  let ch = false;
  let incr = false;
  let i = 2;
  for (; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    if (o === 'nx') nx = true;
    else if (o === 'xx') xx = true;
    else if (o === 'gt') gt = true;
    else if (o === 'lt') lt = true;
    else if (o === 'ch') ch = true;
    else if (o === 'incr') incr = true;
    else break;
  }
  const elements = argv.length - i;
  if (elements === 0 || elements % 2 !== 0) {
    c.reply.error(Err.syntax);
    return;
  }
  if (nx && xx) {
    c.reply.error('ERR XX and NX options at the same time are not compatible');
    return;
  }
  if ((gt && nx) || (lt && nx) || (gt && lt)) {
    c.reply.error('ERR GT, LT, and/or NX options at the same time are not compatible');
    return;
  }
  if (incr && elements > 2) {
    c.reply.error('ERR INCR option supports a single increment-element pair');
    return;
  }
  const first = i;
  const scores: number[] = [];
  for (let j = first; j < argv.length; j += 2) {
    const s = parseScore(c, argv[j]!);
    if (s === null) return;
    scores.push(s);
  }
  const key = argv[1]!;
  let z = getZset(c, key, true);
  if (z === null) return;
  const isNew = z === undefined;
  if (z === undefined) {
    if (xx) {
      if (incr) c.reply.nil();
      else c.reply.int(0);
      return;
    }
    z = new ZSetValue();
  }
  let added = 0;
  let updated = 0;
  let processed = 0;
  let result = 0;
  let err = false;
  for (let j = first, k = 0; j < argv.length; j += 2, k++) {
    const member = argv[j + 1]!;
    let score = scores[k]!;
    const cur = z.score(member);
    if (cur !== undefined) {
      if (nx) continue;
      if (incr) {
        score = cur + score;
        if (Number.isNaN(score)) {
          err = true;
          break;
        }
      }
      if ((lt && score >= cur) || (gt && score <= cur)) continue;
      score = norm(score);
      processed++;
      result = score;
      if (score !== cur) {
        z.set(member, score);
        updated++;
      }
    } else {
      if (xx) continue;
      score = norm(score);
      z.insert(member, score);
      added++;
      processed++;
      result = score;
    }
  }
  if (err) c.reply.error(ErrNaN);
  else if (incr) {
    if (processed > 0) c.reply.double(result);
    else c.reply.nil();
  } else c.reply.int(ch ? added + updated : added);
  if (added + updated > 0) {
    if (isNew) c.db.set(key, z);
    else c.db.modified(key, added + updated);
    if (isNew && added + updated > 1) c.server.keyspace.dirty += added + updated - 1;
  }
}

function zincrbyCommand(c: Client, argv: string[]): void {
  const incr = parseScore(c, argv[2]!);
  if (incr === null) return;
  const key = argv[1]!;
  const member = argv[3]!;
  const z = getZset(c, key, true);
  if (z === null) return;
  if (z === undefined) {
    const nz = new ZSetValue();
    nz.insert(member, norm(incr));
    c.db.set(key, nz);
    c.reply.double(norm(incr));
    return;
  }
  const cur = z.score(member);
  const score = cur === undefined ? incr : cur + incr;
  if (Number.isNaN(score)) {
    c.reply.error(ErrNaN);
    return;
  }
  z.set(member, norm(score));
  c.db.modified(key);
  c.reply.double(norm(score));
}

function zremCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const z = getZset(c, key, true);
  if (z === null) return;
  if (z === undefined) {
    c.reply.int(0);
    return;
  }
  let n = 0;
  for (let i = 2; i < argv.length; i++) if (z.delete(argv[i]!)) n++;
  if (n > 0) afterChange(c, key, z, n);
  c.reply.int(n);
}

function zcardCommand(c: Client, argv: string[]): void {
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  c.reply.int(z === undefined ? 0 : z.size);
}

function zscoreCommand(c: Client, argv: string[]): void {
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  const s = z?.score(argv[2]!);
  if (s === undefined) c.reply.nil();
  else c.reply.double(s);
}

function zmscoreCommand(c: Client, argv: string[]): void {
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  const r = c.reply;
  r.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const s = z?.score(argv[i]!);
    if (s === undefined) r.nil();
    else r.double(s);
  }
}

function zrankCommand(c: Client, argv: string[], reverse: boolean): void {
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  const rank = z?.rank(argv[2]!, reverse);
  if (rank === undefined) c.reply.nil();
  else c.reply.int(rank);
}

function zcountCommand(c: Client, argv: string[]): void {
  const r = parseScoreRange(c, argv[2]!, argv[3]!);
  if (r === null) return;
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  c.reply.int(z === undefined ? 0 : z.countScore(r));
}

function zlexcountCommand(c: Client, argv: string[]): void {
  const r = parseLexRange(c, argv[2]!, argv[3]!);
  if (r === null) return;
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  c.reply.int(z === undefined ? 0 : z.countLex(r));
}

// ------------------------------------------------------------------ ZRANGE family

const enum By {
  Rank,
  Score,
  Lex,
}

interface RangeSpec {
  by: By;
  rev: boolean;
  withscores: boolean;
  offset: number;
  /** < 0: no limit. */
  limit: number;
  hasLimit: boolean;
}

/** A resolved range: `count` nodes from `start`, walking backwards when rev. */
interface Resolved {
  start: ZNode | null;
  count: number;
}

/**
 * Resolves a range request against a zset to its first node and a count, in O(log n):
 * both ends are found by search and the count comes from their ranks, so no reply is
 * built by collecting.
 */
function resolveRange(z: ZSetValue, spec: RangeSpec, a: string, b: string, score: ScoreRange | null, lex: LexRange | null): Resolved {
  const len = z.size;
  if (spec.by === By.Rank) {
    let start = Number(a);
    let end = Number(b);
    if (start < 0) start += len;
    if (end < 0) end += len;
    if (start < 0) start = 0;
    if (start > end || start >= len) return { start: null, count: 0 };
    if (end >= len) end = len - 1;
    const count = end - start + 1;
    return { start: z.byRank(spec.rev ? len - 1 - start : start), count };
  }
  let first: ZNode | null;
  let last: ZNode | null;
  if (spec.by === By.Score) {
    first = z.firstInScore(score!);
    last = first === null ? null : z.lastInScore(score!);
  } else {
    first = z.firstInLex(lex!);
    last = first === null ? null : z.lastInLex(lex!);
  }
  if (first === null || last === null) return { start: null, count: 0 };
  const lo = z.rank(first.member)!;
  const hi = z.rank(last.member)!;
  const total = hi - lo + 1;
  const offset = spec.offset;
  if (offset < 0 || offset >= total) return { start: null, count: 0 };
  let count = total - offset;
  if (spec.limit >= 0 && spec.limit < count) count = spec.limit;
  if (count === 0) return { start: null, count: 0 };
  const startRank = spec.rev ? hi - offset : lo + offset;
  const start = offset === 0 ? (spec.rev ? last : first) : z.byRank(startRank);
  return { start, count };
}

/**
 * The shared body of ZRANGE, ZRANGESTORE and the legacy range commands. `argv[kIdx]` is
 * the source key, followed by the two range arguments and the options.
 */
function zrangeGeneric(c: Client, argv: string[], kIdx: number, dst: string | null, by: By | null, rev: boolean): void {
  const spec: RangeSpec = { by: by ?? By.Rank, rev, withscores: false, offset: 0, limit: -1, hasLimit: false };
  const legacy = by !== null;
  let sawBy = false;
  for (let i = kIdx + 3; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    const left = argv.length - i - 1;
    if (dst === null && o === 'withscores') spec.withscores = true;
    else if (o === 'limit' && left >= 2) {
      const off = parseLong(c, argv[i + 1]!);
      if (off === null) return;
      const lim = parseLong(c, argv[i + 2]!);
      if (lim === null) return;
      spec.offset = off;
      spec.limit = lim;
      spec.hasLimit = true;
      i += 2;
    } else if (!legacy && o === 'byscore' && !sawBy) {
      spec.by = By.Score;
      sawBy = true;
    } else if (!legacy && o === 'bylex' && !sawBy) {
      spec.by = By.Lex;
      sawBy = true;
    } else if (!legacy && o === 'rev' && !spec.rev) spec.rev = true;
    else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  if (spec.hasLimit && spec.by === By.Rank) {
    c.reply.error('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
    return;
  }
  if (spec.withscores && spec.by === By.Lex) {
    c.reply.error('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
    return;
  }
  let a = argv[kIdx + 1]!;
  let b = argv[kIdx + 2]!;
  // By score or lex in reverse, the first argument is the upper end.
  if (spec.rev && spec.by !== By.Rank) [a, b] = [b, a];
  let score: ScoreRange | null = null;
  let lex: LexRange | null = null;
  if (spec.by === By.Rank) {
    const s = parseLong(c, a);
    if (s === null) return;
    const e = parseLong(c, b);
    if (e === null) return;
    a = String(s);
    b = String(e);
  } else if (spec.by === By.Score) {
    score = parseScoreRange(c, a, b);
    if (score === null) return;
  } else {
    lex = parseLexRange(c, a, b);
    if (lex === null) return;
  }
  const key = argv[kIdx]!;
  const z = getZset(c, key);
  if (z === null) return;
  if (z === undefined) {
    if (dst !== null) storeResult(c, dst, new ZSetValue());
    else c.reply.array(0);
    return;
  }
  const { start, count } = resolveRange(z, spec, a, b, score, lex);
  if (dst === null) {
    replyNodes(c, start, count, spec.rev, spec.withscores);
    return;
  }
  const out = new ZSetValue();
  let n = start;
  for (let k = 0; k < count && n !== null; k++) {
    out.insert(n.member, n.score);
    n = spec.rev ? n.back : n.next;
  }
  storeResult(c, dst, out);
}

// ------------------------------------------------------------------ ZREMRANGEBY*

function zremrangeGeneric(c: Client, argv: string[], by: By): void {
  const key = argv[1]!;
  let start = 0;
  let end = 0;
  let score: ScoreRange | null = null;
  let lex: LexRange | null = null;
  if (by === By.Rank) {
    const s = parseLong(c, argv[2]!);
    if (s === null) return;
    const e = parseLong(c, argv[3]!);
    if (e === null) return;
    start = s;
    end = e;
  } else if (by === By.Score) {
    score = parseScoreRange(c, argv[2]!, argv[3]!);
    if (score === null) return;
  } else {
    lex = parseLexRange(c, argv[2]!, argv[3]!);
    if (lex === null) return;
  }
  const z = getZset(c, key, true);
  if (z === null) return;
  if (z === undefined) {
    c.reply.int(0);
    return;
  }
  let removed: number;
  if (by === By.Rank) {
    const len = z.size;
    if (start < 0) start += len;
    if (end < 0) end += len;
    if (start < 0) start = 0;
    if (start > end || start >= len) removed = 0;
    else removed = z.deleteRankRange(start, Math.min(end, len - 1));
  } else if (by === By.Score) removed = z.deleteScoreRange(score!);
  else removed = z.deleteLexRange(lex!);
  if (removed > 0) afterChange(c, key, z, removed);
  c.reply.int(removed);
}

// ------------------------------------------------------------------ pops

/** Pops up to count members; returns them in pop order. */
function popN(z: ZSetValue, max: boolean, count: number): [string, number][] {
  const out: [string, number][] = [];
  for (let k = 0; k < count; k++) {
    const e = z.pop(max);
    if (e === null) break;
    out.push(e);
  }
  return out;
}

function zpopCommand(c: Client, argv: string[], max: boolean): void {
  if (argv.length > 3) {
    c.reply.error(Err.syntax);
    return;
  }
  let count = 1;
  const hasCount = argv.length === 3;
  if (hasCount) {
    const raw = parseInteger(argv[2]!);
    const n = raw === null ? -1 : Number(raw);
    if (n < 0) {
      c.reply.error(ErrPositive);
      return;
    }
    count = n;
  }
  const key = argv[1]!;
  const z = getZset(c, key, true);
  if (z === null) return;
  if (z === undefined || count === 0) {
    c.reply.array(0);
    return;
  }
  const out = popN(z, max, count);
  afterChange(c, key, z, out.length);
  if (hasCount) replyEntries(c, out, true);
  else {
    c.reply.array(2);
    c.reply.bulk(out[0]![0]);
    c.reply.double(out[0]![1]);
  }
}

function bzpopCommand(c: Client, argv: string[], max: boolean): void {
  const timeout = parseTimeout(c, argv[argv.length - 1]!);
  if (timeout === null) return;
  const keys = argv.slice(1, -1);
  for (const key of keys) {
    const z = getZset(c, key, true);
    if (z === null) return;
    if (z === undefined) continue;
    const [m, s] = z.pop(max)!;
    afterChange(c, key, z, 1);
    c.server.propagate(c.db, [max ? 'ZPOPMAX' : 'ZPOPMIN', key]);
    const r = c.reply;
    r.array(3);
    r.bulk(key);
    r.bulk(m);
    r.double(s);
    return;
  }
  if (c.inExec) {
    c.reply.nilArray();
    return;
  }
  c.server.block(c, keys, timeout, (cl) => cl.reply.nilArray());
}

/** Parses `numkeys key... MIN|MAX [COUNT n]` from argv[at]; replies an error and returns null when invalid. */
function parseMpop(c: Client, argv: string[], at: number): { keys: string[]; max: boolean; count: number } | null {
  const raw = parseInteger(argv[at]!);
  const nk = raw === null ? 0 : Number(raw);
  if (nk <= 0) {
    c.reply.error(ErrNumkeys);
    return null;
  }
  if (nk > argv.length - at - 2) {
    c.reply.error(Err.syntax);
    return null;
  }
  const keys = argv.slice(at + 1, at + 1 + nk);
  let i = at + 1 + nk;
  const where = argv[i++]!.toLowerCase();
  if (where !== 'min' && where !== 'max') {
    c.reply.error(Err.syntax);
    return null;
  }
  let count = -1;
  for (; i < argv.length; i++) {
    if (argv[i]!.toLowerCase() === 'count' && count === -1 && i + 1 < argv.length) {
      const rawCount = parseInteger(argv[++i]!);
      const n = rawCount === null ? 0 : Number(rawCount);
      if (n <= 0) {
        c.reply.error(ErrCount);
        return null;
      }
      count = n;
    } else {
      c.reply.error(Err.syntax);
      return null;
    }
  }
  return { keys, max: where === 'max', count: count === -1 ? 1 : count };
}

/** Serves a [B]ZMPOP from the first non-empty key; returns true when it replied. */
function mpopServe(c: Client, keys: string[], max: boolean, count: number): boolean {
  for (const key of keys) {
    const z = getZset(c, key, true);
    if (z === null) return true;
    if (z === undefined) continue;
    const out = popN(z, max, count);
    afterChange(c, key, z, out.length);
    c.server.propagate(c.db, [max ? 'ZPOPMAX' : 'ZPOPMIN', key, String(out.length)]);
    const r = c.reply;
    r.array(2);
    r.bulk(key);
    r.array(out.length);
    for (const [m, s] of out) {
      r.array(2);
      r.bulk(m);
      r.double(s);
    }
    return true;
  }
  return false;
}

function zmpopCommand(c: Client, argv: string[]): void {
  const p = parseMpop(c, argv, 1);
  if (p === null) return;
  if (!mpopServe(c, p.keys, p.max, p.count)) c.reply.nilArray();
}

function bzmpopCommand(c: Client, argv: string[]): void {
  const timeout = parseTimeout(c, argv[1]!);
  if (timeout === null) return;
  const p = parseMpop(c, argv, 2);
  if (p === null) return;
  if (mpopServe(c, p.keys, p.max, p.count)) return;
  if (c.inExec) {
    c.reply.nilArray();
    return;
  }
  c.server.block(c, p.keys, timeout, (cl) => cl.reply.nilArray());
}

// ------------------------------------------------------------------ ZUNION, ZINTER, ZDIFF

const enum Op {
  Union,
  Inter,
  Diff,
}

const enum Agg {
  Sum,
  Min,
  Max,
}

/** An input of a set operation: a zset, a plain set (every score 1), or nothing. */
type Source = { z: ZSetValue; s: null } | { z: null; s: SetValue } | { z: null; s: null };

const srcSize = (x: Source): number => (x.z !== null ? x.z.size : x.s !== null ? x.s.size : 0);
const srcScore = (x: Source, m: string): number | undefined => (x.z !== null ? x.z.score(m) : x.s !== null && x.s.has(m) ? 1 : undefined);

function* srcEntries(x: Source): Generator<[string, number]> {
  if (x.z !== null) yield* x.z.dict;
  else if (x.s !== null) for (const m of x.s.values()) yield [m, 1];
}

function aggregate(agg: Agg, acc: number, v: number): number {
  if (agg === Agg.Sum) {
    const r = acc + v;
    return Number.isNaN(r) ? 0 : r;
  }
  return agg === Agg.Min ? (v < acc ? v : acc) : v > acc ? v : acc;
}

const cmpEntry = (x: [string, number], y: [string, number]): number =>
  x[1] !== y[1] ? (x[1] < y[1] ? -1 : 1) : x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;

/** ZUNION/ZINTER/ZDIFF and their STORE forms. argv[nkIdx] is numkeys; dst is null for the reply forms. */
function zsetOpCommand(c: Client, argv: string[], op: Op, nkIdx: number, dst: string | null): void {
  const name = argv[0]!.toLowerCase();
  const nk = parseLong(c, argv[nkIdx]!);
  if (nk === null) return;
  if (nk < 1) {
    c.reply.error(`ERR at least 1 input key is needed for '${name}' command`);
    return;
  }
  if (nk > argv.length - nkIdx - 1) {
    c.reply.error(Err.syntax);
    return;
  }
  const srcs: Source[] = [];
  for (let k = 0; k < nk; k++) {
    const v: Value | undefined = dst !== null ? c.db.lookupWrite(argv[nkIdx + 1 + k]!) : c.db.lookupRead(argv[nkIdx + 1 + k]!);
    if (v === undefined) srcs.push({ z: null, s: null });
    else if (typeof v !== 'string' && v.kind === Kind.ZSet) srcs.push({ z: v as ZSetValue, s: null });
    else if (typeof v !== 'string' && v.kind === Kind.Set) srcs.push({ z: null, s: v as SetValue });
    else {
      c.reply.error(Err.wrongType);
      return;
    }
  }
  const weights = new Array<number>(nk).fill(1);
  let agg = Agg.Sum;
  let withscores = false;
  for (let i = nkIdx + 1 + nk; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    const left = argv.length - i - 1;
    if (op !== Op.Diff && o === 'weights' && left >= nk) {
      for (let k = 0; k < nk; k++) {
        const w = parseDouble(argv[i + 1 + k]!);
        if (w === null) {
          c.reply.error('ERR weight value is not a float');
          return;
        }
        weights[k] = w;
      }
      i += nk;
    } else if (op !== Op.Diff && o === 'aggregate' && left >= 1) {
      const a = argv[++i]!.toLowerCase();
      if (a === 'sum') agg = Agg.Sum;
      else if (a === 'min') agg = Agg.Min;
      else if (a === 'max') agg = Agg.Max;
      else {
        c.reply.error(Err.syntax);
        return;
      }
    } else if (dst === null && o === 'withscores') withscores = true;
    else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const result = new Map<string, number>();
  const weighted = (k: number, s: number): number => {
    const v = weights[k]! * s;
    return Number.isNaN(v) ? 0 : v;
  };
  if (op === Op.Union) {
    for (let k = 0; k < nk; k++) {
      for (const [m, s] of srcEntries(srcs[k]!)) {
        const v = weighted(k, s);
        const acc = result.get(m);
        result.set(m, acc === undefined ? v : aggregate(agg, acc, v));
      }
    }
  } else if (op === Op.Inter) {
    // Walk the smallest input, probing the others.
    let small = 0;
    for (let k = 1; k < nk; k++) if (srcSize(srcs[k]!) < srcSize(srcs[small]!)) small = k;
    if (srcSize(srcs[small]!) > 0) {
      outer: for (const [m, s0] of srcEntries(srcs[small]!)) {
        let acc = 0;
        let firstSeen = true;
        for (let k = 0; k < nk; k++) {
          const s = k === small ? s0 : srcScore(srcs[k]!, m);
          if (s === undefined) continue outer;
          const v = weighted(k, s);
          acc = firstSeen ? v : aggregate(agg, acc, v);
          firstSeen = false;
        }
        result.set(m, acc);
      }
    }
  } else {
    for (const [m, s] of srcEntries(srcs[0]!)) {
      let keep = true;
      for (let k = 1; k < nk && keep; k++) if (srcScore(srcs[k]!, m) !== undefined) keep = false;
      if (keep) result.set(m, s);
    }
  }
  if (dst !== null) {
    const out = new ZSetValue();
    for (const [m, s] of result) out.insert(m, norm(s));
    storeResult(c, dst, out);
    return;
  }
  const entries = [...result.entries()];
  entries.sort(cmpEntry);
  replyEntries(c, entries, withscores);
}

function zintercardCommand(c: Client, argv: string[]): void {
  const nk = parseLong(c, argv[1]!);
  if (nk === null) return;
  if (nk < 1) {
    c.reply.error("ERR at least 1 input key is needed for 'zintercard' command");
    return;
  }
  if (nk > argv.length - 2) {
    c.reply.error(Err.syntax);
    return;
  }
  let limit = 0;
  for (let i = 2 + nk; i < argv.length; i++) {
    if (argv[i]!.toLowerCase() === 'limit' && i + 1 < argv.length) {
      const v = parseInteger(argv[++i]!);
      if (v === null) {
        c.reply.error("ERR LIMIT can't be negative");
        return;
      }
      if (v < 0) {
        c.reply.error("ERR LIMIT can't be negative");
        return;
      }
      limit = Number(v);
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const srcs: Source[] = [];
  for (let k = 0; k < nk; k++) {
    const v = c.db.lookupRead(argv[2 + k]!);
    if (v === undefined) srcs.push({ z: null, s: null });
    else if (typeof v !== 'string' && v.kind === Kind.ZSet) srcs.push({ z: v as ZSetValue, s: null });
    else if (typeof v !== 'string' && v.kind === Kind.Set) srcs.push({ z: null, s: v as SetValue });
    else {
      c.reply.error(Err.wrongType);
      return;
    }
  }
  let small = 0;
  for (let k = 1; k < nk; k++) if (srcSize(srcs[k]!) < srcSize(srcs[small]!)) small = k;
  let n = 0;
  if (srcSize(srcs[small]!) > 0) {
    outer: for (const [m] of srcEntries(srcs[small]!)) {
      for (let k = 0; k < nk; k++) if (k !== small && srcScore(srcs[k]!, m) === undefined) continue outer;
      n++;
      if (limit > 0 && n >= limit) break;
    }
  }
  c.reply.int(n);
}

// ------------------------------------------------------------------ ZRANDMEMBER, ZSCAN

function zrandmemberCommand(c: Client, argv: string[]): void {
  const env = c.server.keyspace.env;
  const rand = (): number => env.random();
  if (argv.length === 2) {
    const z = getZset(c, argv[1]!);
    if (z === null) return;
    if (z === undefined) c.reply.nil();
    else c.reply.bulk(z.byRank(Math.floor(rand() * z.size))!.member);
    return;
  }
  let withscores = false;
  if (argv.length === 4 && argv[3]!.toLowerCase() === 'withscores') withscores = true;
  else if (argv.length > 3) {
    c.reply.error(Err.syntax);
    return;
  }
  const raw = parseInteger(argv[2]!);
  if (raw === null) {
    c.reply.error(Err.notInteger);
    return;
  }
  // Redis refuses counts whose reply length would overflow.
  if ((typeof raw === 'bigint' || raw < -Number.MAX_SAFE_INTEGER) && raw < 0 && withscores) {
    c.reply.error('ERR value is out of range');
    return;
  }
  const count = Number(raw);
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  if (z === undefined || count === 0) {
    c.reply.array(0);
    return;
  }
  const size = z.size;
  const entries: [string, number][] = [];
  if (count < 0) {
    const n = -count;
    if (n > 1_000_000_000) {
      c.reply.error('ERR value is out of range');
      return;
    }
    for (let k = 0; k < n; k++) {
      const node = z.byRank(Math.floor(rand() * size))!;
      entries.push([node.member, node.score]);
    }
  } else if (count >= size) {
    // The whole set, highest first, as Redis answers.
    for (let n = z.last(); n !== null; n = n.back) entries.push([n.member, n.score]);
  } else if (count * 3 > size) {
    // Most of the set: pick the members to leave out.
    const all = [...z.entries()];
    for (let k = all.length - 1; k > 0; k--) {
      const j = Math.floor(rand() * (k + 1));
      const t = all[k]!;
      all[k] = all[j]!;
      all[j] = t;
    }
    for (let k = 0; k < count; k++) entries.push(all[k]!);
  } else {
    const picked = new Set<number>();
    for (let guard = 0; picked.size < count && guard < count * 100; guard++) picked.add(Math.floor(rand() * size));
    for (const rank of picked) {
      const node = z.byRank(rank)!;
      entries.push([node.member, node.score]);
    }
  }
  replyEntries(c, entries, withscores);
}

function zscanCommand(c: Client, argv: string[]): void {
  const cursor = parseScanCursor(argv[2]!);
  if (cursor === null) {
    c.reply.error('ERR invalid cursor');
    return;
  }
  const z = getZset(c, argv[1]!);
  if (z === null) return;
  const r = c.reply;
  if (z === undefined) {
    r.array(2);
    r.bulk('0');
    r.array(0);
    return;
  }
  let count = 10;
  let match: RegExp | null = null;
  for (let i = 3; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    if (o === 'count' && i + 1 < argv.length) {
      const n = parseSafeInt(argv[++i]!);
      if (n === null) {
        r.error(Err.notInteger);
        return;
      }
      if (n < 1) {
        r.error(Err.syntax);
        return;
      }
      count = n;
    } else if (o === 'match' && i + 1 < argv.length) {
      const p = argv[++i]!;
      match = p === '*' ? null : globToRegExp(p);
    } else {
      r.error(Err.syntax);
      return;
    }
  }
  const out: string[] = [];
  let next = '0';
  if (isSmall(c, z)) {
    for (const [m, s] of z.entries()) if (match === null || match.test(m)) out.push(m, formatDouble(s));
  } else {
    const dict = z.dict;
    next = c.server.keyspace.cursors.step(
      z,
      cursor,
      () => dict.keys(),
      count,
      (m: string) => {
        // A read-ahead member may have left (or changed its score) since the last step.
        const score = dict.get(m);
        if (score !== undefined && (match === null || match.test(m))) out.push(m, formatDouble(score));
      },
      { bound: dict.size, readAhead: true },
    );
  }
  r.array(2);
  r.bulk(next);
  r.bulks(out);
}

/** True when Redis would keep this zset as a listpack (ZSCAN then returns it whole). */
function isSmall(c: Client, z: ZSetValue): boolean {
  if (z.size > c.server.config.int('zset-max-listpack-entries')) return false;
  const maxLen = c.server.config.int('zset-max-listpack-value');
  for (const m of z.dict.keys()) if (m.length > maxLen) return false;
  return true;
}

export const zsetHandlers: HandlerMap = {
  zadd: zaddCommand,
  zincrby: zincrbyCommand,
  zrem: zremCommand,
  zcard: zcardCommand,
  zscore: zscoreCommand,
  zmscore: zmscoreCommand,
  zrank: (c, argv) => zrankCommand(c, argv, false),
  zrevrank: (c, argv) => zrankCommand(c, argv, true),
  zcount: zcountCommand,
  zlexcount: zlexcountCommand,
  zrange: (c, argv) => zrangeGeneric(c, argv, 1, null, null, false),
  zrangestore: (c, argv) => zrangeGeneric(c, argv, 2, argv[1]!, null, false),
  zrevrange: (c, argv) => zrangeGeneric(c, argv, 1, null, By.Rank, true),
  zrangebyscore: (c, argv) => zrangeGeneric(c, argv, 1, null, By.Score, false),
  zrevrangebyscore: (c, argv) => zrangeGeneric(c, argv, 1, null, By.Score, true),
  zrangebylex: (c, argv) => zrangeGeneric(c, argv, 1, null, By.Lex, false),
  zrevrangebylex: (c, argv) => zrangeGeneric(c, argv, 1, null, By.Lex, true),
  zremrangebyrank: (c, argv) => zremrangeGeneric(c, argv, By.Rank),
  zremrangebyscore: (c, argv) => zremrangeGeneric(c, argv, By.Score),
  zremrangebylex: (c, argv) => zremrangeGeneric(c, argv, By.Lex),
  zpopmin: (c, argv) => zpopCommand(c, argv, false),
  zpopmax: (c, argv) => zpopCommand(c, argv, true),
  bzpopmin: (c, argv) => bzpopCommand(c, argv, false),
  bzpopmax: (c, argv) => bzpopCommand(c, argv, true),
  zmpop: zmpopCommand,
  bzmpop: bzmpopCommand,
  zunion: (c, argv) => zsetOpCommand(c, argv, Op.Union, 1, null),
  zinter: (c, argv) => zsetOpCommand(c, argv, Op.Inter, 1, null),
  zdiff: (c, argv) => zsetOpCommand(c, argv, Op.Diff, 1, null),
  zunionstore: (c, argv) => zsetOpCommand(c, argv, Op.Union, 2, argv[1]!),
  zinterstore: (c, argv) => zsetOpCommand(c, argv, Op.Inter, 2, argv[1]!),
  zdiffstore: (c, argv) => zsetOpCommand(c, argv, Op.Diff, 2, argv[1]!),
  zintercard: zintercardCommand,
  zrandmember: zrandmemberCommand,
  zscan: zscanCommand,
};

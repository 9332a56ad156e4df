import { Err } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { Kind, parseInteger, LLONG_MIN, type Value } from '../engine/values.js';
import { SetValue } from '../engine/set.js';
import { parseCursor, parseScanOptions, replyEmptyScan } from './hashes.js';
import type { HandlerMap } from './types.js';

/** The set at key; undefined when missing; null (after replying WRONGTYPE) for another type. */
function getSet(c: Client, key: string, forWrite = false): SetValue | undefined | null {
  const v: Value | undefined = forWrite ? c.db.lookupWrite(key) : c.db.lookupRead(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' && v.kind === Kind.Set) return v as SetValue;
  c.reply.error(Err.wrongType);
  return null;
}

const POSITIVE = 'ERR value is out of range, must be positive';
const RAND_COUNT_RANGE = 'ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807';

function saddCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const s = getSet(c, key, true);
  if (s === null) return;
  let added = 0;
  if (s === undefined) {
    const ns = new SetValue();
    for (let i = 2; i < argv.length; i++) if (ns.add(argv[i]!)) added++;
    c.db.set(key, ns);
  } else {
    for (let i = 2; i < argv.length; i++) if (s.add(argv[i]!)) added++;
    if (added > 0) c.db.modified(key, added);
  }
  c.reply.int(added);
}

function sremCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const s = getSet(c, key, true);
  if (s === null) return;
  if (s === undefined) {
    c.reply.int(0);
    return;
  }
  let removed = 0;
  for (let i = 2; i < argv.length; i++) {
    if (s.delete(argv[i]!)) {
      removed++;
      if (s.size === 0) break;
    }
  }
  if (removed > 0) {
    if (s.size === 0) c.db.delete(key);
    else c.db.modified(key, removed);
  }
  c.reply.int(removed);
}

/** True when Redis would hold this set as an intset: all integers, and few enough. */
function isIntset(c: Client, s: SetValue): boolean {
  return s.size <= c.server.config.int('set-max-intset-entries') && s.allIntegers();
}

const INTEGER = /^-?(0|[1-9]\d{0,18})$/;

function byInteger(a: string, b: string): number {
  const d = Number(a) - Number(b);
  if (d !== 0 || a === b) return d;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The members in the order Redis lists them: an intset is sorted, other sets in table order. */
function members(c: Client, s: SetValue): Iterable<string> {
  return isIntset(c, s) ? [...s].sort(byInteger) : s;
}

/** Orders a computed result as Redis's result set would be: sorted when it is an intset. */
function orderResult(c: Client, res: string[]): string[] {
  if (res.length > 1 && res.length <= c.server.config.int('set-max-intset-entries') && res.every((m) => INTEGER.test(m))) res.sort(byInteger);
  return res;
}

function replySet(c: Client, s: SetValue | undefined): void {
  const r = c.reply;
  if (s === undefined) {
    r.set(0);
    return;
  }
  r.set(s.size);
  for (const m of members(c, s)) r.bulk(m);
}

function smembersCommand(c: Client, argv: string[]): void {
  const s = getSet(c, argv[1]!);
  if (s === null) return;
  replySet(c, s);
}

function sismemberCommand(c: Client, argv: string[]): void {
  const s = getSet(c, argv[1]!);
  if (s === null) return;
  c.reply.int(s !== undefined && s.has(argv[2]!) ? 1 : 0);
}

function smismemberCommand(c: Client, argv: string[]): void {
  const s = getSet(c, argv[1]!);
  if (s === null) return;
  const r = c.reply;
  r.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) r.int(s !== undefined && s.has(argv[i]!) ? 1 : 0);
}

function scardCommand(c: Client, argv: string[]): void {
  const s = getSet(c, argv[1]!);
  if (s === null) return;
  c.reply.int(s === undefined ? 0 : s.size);
}

function spopCommand(c: Client, argv: string[]): void {
  const r = c.reply;
  const key = argv[1]!;
  const env = c.server.keyspace.env;
  if (argv.length === 2) {
    const s = getSet(c, key, true);
    if (s === null) return;
    if (s === undefined) {
      r.nil();
      return;
    }
    const m = s.random(() => env.random());
    s.delete(m);
    if (s.size === 0) c.db.delete(key);
    else c.db.modified(key);
    c.server.propagate(c.db, ['SREM', key, m]);
    r.bulk(m);
    return;
  }
  if (argv.length > 3) {
    r.error(Err.syntax);
    return;
  }
  const n = parseInteger(argv[2]!);
  if (n === null || n < 0) {
    r.error(POSITIVE);
    return;
  }
  const count = typeof n === 'bigint' ? Number.MAX_SAFE_INTEGER : n;
  const s = getSet(c, key, true);
  if (s === null) return;
  if (s === undefined || count === 0) {
    r.set(0);
    return;
  }
  if (count >= s.size) {
    replySet(c, s);
    c.db.delete(key);
    c.server.propagate(c.db, ['DEL', key]);
    return;
  }
  const popped: string[] = ['SREM', key];
  r.set(count);
  for (let i = 0; i < count; i++) {
    const m = s.at(Math.floor(env.random() * s.size));
    s.delete(m);
    popped.push(m);
    r.bulk(m);
  }
  c.db.modified(key, count);
  c.server.propagate(c.db, popped);
}

function srandmemberCommand(c: Client, argv: string[]): void {
  const r = c.reply;
  const env = c.server.keyspace.env;
  if (argv.length === 2) {
    const s = getSet(c, argv[1]!);
    if (s === null) return;
    if (s === undefined) r.nil();
    else r.bulk(s.random(() => env.random()));
    return;
  }
  if (argv.length > 3) {
    r.error(Err.syntax);
    return;
  }
  const n = parseInteger(argv[2]!);
  if (n === null) {
    r.error(Err.notInteger);
    return;
  }
  if (n === LLONG_MIN) {
    r.error(RAND_COUNT_RANGE);
    return;
  }
  const count = typeof n === 'bigint' ? (n > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER) : n;
  const s = getSet(c, argv[1]!);
  if (s === null) return;
  if (s === undefined || count === 0) {
    r.array(0);
    return;
  }
  const size = s.size;
  if (count < 0) {
    // With repetitions: each pick uniform over the members.
    r.array(-count);
    for (let i = 0; i < -count; i++) r.bulk(s.at(Math.floor(env.random() * size)));
    return;
  }
  if (count >= size) {
    r.array(size);
    for (const m of members(c, s)) r.bulk(m);
    return;
  }
  r.array(count);
  if (count * 4 < size) {
    // Few of many: pick and skip repeats.
    const seen = new Set<number>();
    while (seen.size < count) {
      const i = Math.floor(env.random() * size);
      if (seen.has(i)) continue;
      seen.add(i);
      r.bulk(s.at(i));
    }
    return;
  }
  // Many of the set: a partial Fisher-Yates shuffle over the indices.
  const idx = new Array<number>(size);
  for (let i = 0; i < size; i++) idx[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(env.random() * (size - i));
    const t = idx[j]!;
    idx[j] = idx[i]!;
    idx[i] = t;
    r.bulk(s.at(t));
  }
}

function smoveCommand(c: Client, argv: string[]): void {
  const srcKey = argv[1]!;
  const dstKey = argv[2]!;
  const member = argv[3]!;
  const db = c.db;
  const srcV = db.lookupWrite(srcKey);
  const dstV = db.lookupWrite(dstKey);
  if (srcV === undefined) {
    c.reply.int(0);
    return;
  }
  if (typeof srcV === 'string' || srcV.kind !== Kind.Set || (dstV !== undefined && (typeof dstV === 'string' || dstV.kind !== Kind.Set))) {
    c.reply.error(Err.wrongType);
    return;
  }
  const src = srcV as SetValue;
  const dst = dstV as SetValue | undefined;
  if (src === dst) {
    c.reply.int(src.has(member) ? 1 : 0);
    return;
  }
  if (!src.delete(member)) {
    c.reply.int(0);
    return;
  }
  if (src.size === 0) db.delete(srcKey);
  else db.modified(srcKey);
  if (dst === undefined) {
    const ns = new SetValue();
    ns.add(member);
    db.set(dstKey, ns);
  } else if (dst.add(member)) db.modified(dstKey);
  c.reply.int(1);
}

/**
 * Looks up the sets named by argv[from..to): undefined for a missing key. Returns null
 * after replying WRONGTYPE when any key holds another type (all keys are checked).
 */
function lookupSets(c: Client, argv: string[], from: number, to: number): (SetValue | undefined)[] | null {
  const sets: (SetValue | undefined)[] = [];
  for (let i = from; i < to; i++) {
    const v = c.db.lookupRead(argv[i]!);
    if (v !== undefined && (typeof v === 'string' || v.kind !== Kind.Set)) {
      c.reply.error(Err.wrongType);
      return null;
    }
    sets.push(v as SetValue | undefined);
  }
  return sets;
}

/** The intersection's members (stops after `limit` when limit > 0). */
function intersect(sets: (SetValue | undefined)[], limit = 0): string[] {
  const out: string[] = [];
  if (sets.some((s) => s === undefined)) return out;
  const sorted = (sets as SetValue[]).slice().sort((a, b) => a.size - b.size);
  const first = sorted[0]!;
  outer: for (const m of first) {
    for (let k = 1; k < sorted.length; k++) if (!sorted[k]!.has(m)) continue outer;
    out.push(m);
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

function union(sets: (SetValue | undefined)[]): string[] {
  const out = new Set<string>();
  for (const s of sets) if (s !== undefined) for (const m of s) out.add(m);
  return [...out];
}

function difference(sets: (SetValue | undefined)[]): string[] {
  const out: string[] = [];
  const first = sets[0];
  if (first === undefined) return out;
  outer: for (const m of first) {
    for (let k = 1; k < sets.length; k++) if (sets[k]?.has(m)) continue outer;
    out.push(m);
  }
  return out;
}

type SetOp = 'inter' | 'union' | 'diff';

function compute(op: SetOp, sets: (SetValue | undefined)[]): string[] {
  if (op === 'inter') return intersect(sets);
  if (op === 'union') return union(sets);
  return difference(sets);
}

/** SINTER / SUNION / SDIFF. */
function setOpCommand(c: Client, argv: string[], op: SetOp): void {
  const sets = lookupSets(c, argv, 1, argv.length);
  if (sets === null) return;
  const res = orderResult(c, compute(op, sets));
  const r = c.reply;
  r.set(res.length);
  for (let i = 0; i < res.length; i++) r.bulk(res[i]!);
}

/** SINTERSTORE / SUNIONSTORE / SDIFFSTORE. */
function setOpStoreCommand(c: Client, argv: string[], op: SetOp): void {
  const sets = lookupSets(c, argv, 2, argv.length);
  if (sets === null) return;
  const dstKey = argv[1]!;
  const res = compute(op, sets);
  const ns = new SetValue();
  for (const m of res) ns.add(m);
  if (ns.size === 0) {
    c.db.delete(dstKey);
    c.reply.int(0);
    return;
  }
  c.db.set(dstKey, ns);
  c.reply.int(ns.size);
}

function sintercardCommand(c: Client, argv: string[]): void {
  const r = c.reply;
  const nk = parseInteger(argv[1]!);
  if (nk === null || nk <= 0) {
    r.error('ERR numkeys should be greater than 0');
    return;
  }
  if (nk > argv.length - 2) {
    r.error("ERR Number of keys can't be greater than number of args");
    return;
  }
  const numkeys = Number(nk);
  let limit = 0;
  for (let i = 2 + numkeys; i < argv.length; i++) {
    if (argv[i]!.toLowerCase() === 'limit' && i + 1 < argv.length) {
      const l = parseInteger(argv[++i]!);
      if (l === null || l < 0) {
        r.error("ERR LIMIT can't be negative");
        return;
      }
      limit = typeof l === 'bigint' ? 0 : l;
    } else {
      r.error(Err.syntax);
      return;
    }
  }
  const sets = lookupSets(c, argv, 2, 2 + numkeys);
  if (sets === null) return;
  r.int(intersect(sets, limit).length);
}

function sscanCommand(c: Client, argv: string[]): void {
  const cursor = parseCursor(c, argv[2]!);
  if (cursor === null) return;
  const s = getSet(c, argv[1]!);
  if (s === null) return;
  if (s === undefined) {
    replyEmptyScan(c);
    return;
  }
  const opts = parseScanOptions(c, argv, 3);
  if (opts === null) return;
  const out: string[] = [];
  const re = opts.match;
  let next = '0';
  if (isIntset(c, s)) {
    // Redis keeps this set as an intset and returns it whole, in order.
    for (const m of members(c, s)) if (re === null || re.test(m)) out.push(m);
  } else {
    // Read ahead so the last step answers cursor 0; a member read ahead may have been
    // removed since, so it is checked again.
    next = c.server.keyspace.cursors.step(s, cursor, () => s.values(), opts.count, (m: string) => {
      if (s.has(m) && (re === null || re.test(m))) out.push(m);
    }, { bound: s.size, readAhead: true });
  }
  const r = c.reply;
  r.array(2);
  r.bulk(next);
  r.bulks(out);
}

export const setHandlers: HandlerMap = {
  sadd: saddCommand,
  srem: sremCommand,
  smembers: smembersCommand,
  sismember: sismemberCommand,
  smismember: smismemberCommand,
  scard: scardCommand,
  spop: spopCommand,
  srandmember: srandmemberCommand,
  smove: smoveCommand,
  sinter: (c, argv) => setOpCommand(c, argv, 'inter'),
  sunion: (c, argv) => setOpCommand(c, argv, 'union'),
  sdiff: (c, argv) => setOpCommand(c, argv, 'diff'),
  sinterstore: (c, argv) => setOpStoreCommand(c, argv, 'inter'),
  sunionstore: (c, argv) => setOpStoreCommand(c, argv, 'union'),
  sdiffstore: (c, argv) => setOpStoreCommand(c, argv, 'diff'),
  sintercard: sintercardCommand,
  sscan: sscanCommand,
};

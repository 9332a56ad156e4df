import { Err, Proto } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { Kind, parseInteger } from '../engine/values.js';
import {
  Consumer,
  ENTRIES_READ_UNKNOWN,
  MAX_ID,
  MIN_ID,
  StreamValue,
  formatId,
  idDecr,
  idIncr,
  idPart,
  makeId,
  parseU64,
  type ConsumerGroup,
  type Nack,
  type StreamId,
} from '../engine/stream.js';
import type { HandlerMap } from './types.js';

const ErrInvalidId = 'ERR Invalid stream ID specified as stream command argument';
const ErrXaddSmaller = 'ERR The ID specified in XADD is equal or smaller than the target stream top item';
const ErrXaddZero = 'ERR The ID specified in XADD must be greater than 0-0';
const ErrExhausted = 'ERR The stream has exhausted the last possible ID, unable to add more items';
const ErrStartInterval = 'ERR invalid start ID for the interval';
const ErrEndInterval = 'ERR invalid end ID for the interval';
const ErrTimeoutInt = 'ERR timeout is not an integer or out of range';
const ErrTimeoutNeg = 'ERR timeout is negative';
const ErrGroupGone = 'NOGROUP the consumer group this client was blocked on no longer exists';

const noGroup = (key: string, group: string): string => `NOGROUP No such key '${key}' or consumer group '${group}'`;
const noGroupFor = (key: string, group: string): string => `NOGROUP No such consumer group '${group}' for key name '${key}'`;

// ------------------------------------------------------------------ parsing

interface ParsedId {
  id: StreamId;
  /** False for `ms` alone and for `ms-*`. */
  seqGiven: boolean;
  /** `ms-*`: the sequence is to be generated. */
  seqAuto: boolean;
}

/**
 * Parses `ms[-seq]` as Redis's streamParseID does. A missing sequence is 0 (or the
 * largest one when `missingSeqMax`); `-` and `+` are the smallest and largest IDs
 * unless `strict`; `ms-*` only when `allowSeqAuto`.
 */
function parseIdRaw(s: string, missingSeqMax: boolean, strict: boolean, allowSeqAuto: boolean): ParsedId | null {
  if (s.length > 127) return null;
  if (!strict && s.length === 1) {
    if (s === '-') return { id: MIN_ID, seqGiven: true, seqAuto: false };
    if (s === '+') return { id: MAX_ID, seqGiven: true, seqAuto: false };
  }
  const dash = s.indexOf('-');
  if (dash < 0) {
    const ms = parseU64(s);
    if (ms === null) return null;
    return { id: makeId(ms, missingSeqMax ? 18446744073709551615n : 0), seqGiven: false, seqAuto: false };
  }
  const ms = parseU64(s.slice(0, dash));
  if (ms === null) return null;
  const rest = s.slice(dash + 1);
  if (allowSeqAuto && rest === '*') return { id: makeId(ms, 0), seqGiven: false, seqAuto: true };
  const seq = parseU64(rest);
  if (seq === null) return null;
  return { id: makeId(ms, seq), seqGiven: true, seqAuto: false };
}

function parseStrictId(c: Client, s: string): StreamId | null {
  const p = parseIdRaw(s, false, true, false);
  if (p === null) c.reply.error(ErrInvalidId);
  return p === null ? null : p.id;
}

/** A range bound: `-`, `+`, an ID, or `(ID` (exclusive). */
function parseBound(c: Client, s: string, isStart: boolean): StreamId | null {
  if (s.length > 1 && s.charCodeAt(0) === 40 /* ( */) {
    const p = parseIdRaw(s.slice(1), !isStart, true, false);
    if (p === null) {
      c.reply.error(ErrInvalidId);
      return null;
    }
    const id = isStart ? idIncr(p.id) : idDecr(p.id);
    if (id === null) c.reply.error(isStart ? ErrStartInterval : ErrEndInterval);
    return id;
  }
  const p = parseIdRaw(s, !isStart, false, false);
  if (p === null) c.reply.error(ErrInvalidId);
  return p === null ? null : p.id;
}

/** A long long argument, or null after replying `msg` (default: not an integer). */
function parseLL(c: Client, s: string, msg: string = Err.notInteger): number | null {
  const v = parseInteger(s);
  if (v === null) {
    c.reply.error(msg);
    return null;
  }
  return Number(v);
}

function nodeLimits(c: Client): [number, number] {
  const cfg = c.server.config;
  const entries = cfg.int('stream-node-max-entries');
  const bytes = cfg.int('stream-node-max-bytes');
  return [Number.isFinite(entries) ? entries : 100, Number.isFinite(bytes) ? bytes : 4096];
}

/** The stream at key: undefined when missing, null after a WRONGTYPE reply. */
function getStream(c: Client, key: string, write: boolean): StreamValue | undefined | null {
  const v = write ? c.db.lookupWrite(key) : c.db.lookupRead(key);
  if (v === undefined) return undefined;
  if (typeof v === 'string' || v.kind !== Kind.Stream) {
    c.reply.error(Err.wrongType);
    return null;
  }
  return v as StreamValue;
}

// ------------------------------------------------------------------ replies

function replyEntry(c: Client, id: StreamId, fields: string[]): void {
  const r = c.reply;
  r.array(2);
  r.bulk(formatId(id));
  r.array(fields.length);
  for (let i = 0; i < fields.length; i++) r.bulk(fields[i]!);
}

/** Replies entries in [start, end] (reverse when rev), at most count (0 = all). */
function replyRange(c: Client, s: StreamValue, start: StreamId, end: StreamId, count: number, rev: boolean): void {
  const out: [StreamId, string[]][] = [];
  s.entries.range(start, end, rev, (id, f) => {
    out.push([id, f]);
    return count === 0 || out.length < count;
  });
  c.reply.array(out.length);
  for (const [id, f] of out) replyEntry(c, id, f);
}

// ------------------------------------------------------------------ trimming arguments

interface TrimArgs {
  strategy: 'maxlen' | 'minid' | null;
  approx: boolean;
  maxLen: number;
  minId: StreamId | null;
  limit: number;
  limitGiven: boolean;
}

/**
 * Parses XADD/XTRIM options from argv[2]: NOMKSTREAM (XADD), MAXLEN|MINID [=|~] n,
 * LIMIT n. Returns the index of the first argument that is not an option (XADD's ID),
 * or -1 after an error reply.
 */
function parseTrimArgs(c: Client, argv: string[], xadd: boolean, t: TrimArgs, opts: { nomkstream: boolean }): number {
  let i = 2;
  for (; i < argv.length; i++) {
    const more = argv.length - 1 - i;
    const o = argv[i]!.toLowerCase();
    if (xadd && o === 'nomkstream') opts.nomkstream = true;
    else if ((o === 'maxlen' || o === 'minid') && more >= 1) {
      if (t.strategy !== null && t.strategy !== o) {
        c.reply.error('ERR syntax error, MAXLEN and MINID options at the same time are not compatible');
        return -1;
      }
      let next = argv[i + 1]!;
      if ((next === '~' || next === '=') && more >= 2) {
        t.approx = next === '~';
        i++;
        next = argv[i + 1]!;
      }
      i++;
      t.strategy = o;
      if (o === 'maxlen') {
        const n = parseLL(c, next);
        if (n === null) return -1;
        if (n < 0) {
          c.reply.error('ERR The MAXLEN argument must be >= 0.');
          return -1;
        }
        t.maxLen = n;
      } else {
        const id = parseStrictId(c, next);
        if (id === null) return -1;
        t.minId = id;
      }
    } else if (o === 'limit' && more >= 1) {
      const n = parseLL(c, argv[++i]!);
      if (n === null) return -1;
      if (n < 0) {
        c.reply.error('ERR The LIMIT argument must be >= 0.');
        return -1;
      }
      t.limit = n;
      t.limitGiven = true;
    } else if (xadd) break;
    else {
      c.reply.error(Err.syntax);
      return -1;
    }
  }
  if (t.limitGiven && t.strategy === null) {
    c.reply.error('ERR syntax error, LIMIT cannot be used without specifying a trimming strategy');
    return -1;
  }
  if (!xadd && t.strategy === null) {
    c.reply.error(Err.syntax);
    return -1;
  }
  if (t.limitGiven && !t.approx) {
    c.reply.error('ERR syntax error, LIMIT cannot be used without the special ~ option');
    return -1;
  }
  if (t.approx && !t.limitGiven) {
    const per = nodeLimits(c)[0];
    t.limit = per > 0 ? per * 100 : 10000;
  }
  return i;
}

function newTrimArgs(): TrimArgs {
  return { strategy: null, approx: false, maxLen: 0, minId: null, limit: 0, limitGiven: false };
}

function applyTrim(s: StreamValue, t: TrimArgs): number {
  if (t.strategy === null) return 0;
  return s.trim(t.strategy === 'maxlen' ? t.maxLen : 0, t.strategy === 'minid' ? t.minId : null, t.approx, t.approx ? t.limit : 0);
}

/** The exact trim that reproduces this one's outcome (for propagation). */
function exactTrimArgs(s: StreamValue, t: TrimArgs): string[] {
  if (t.strategy === 'maxlen') return ['MAXLEN', '=', String(t.approx ? s.length : t.maxLen)];
  if (t.strategy === 'minid') return ['MINID', '=', formatId(t.approx ? s.firstId() : t.minId!)];
  return [];
}

// ------------------------------------------------------------------ XADD XLEN XRANGE XDEL XTRIM XSETID

function xaddCommand(c: Client, argv: string[]): void {
  const t = newTrimArgs();
  const opts = { nomkstream: false };
  const at = parseTrimArgs(c, argv, true, t, opts);
  if (at < 0) return;
  const nFields = argv.length - at - 1;
  if (at >= argv.length || nFields < 2 || nFields % 2 === 1) {
    c.reply.error(Err.wrongArity('xadd'));
    return;
  }
  const idArg = argv[at]!;
  let given: ParsedId | null = null;
  if (idArg !== '*') {
    given = parseIdRaw(idArg, false, true, true);
    if (given === null) {
      c.reply.error(ErrInvalidId);
      return;
    }
    if (!given.seqAuto && given.id === MIN_ID) {
      c.reply.error(ErrXaddZero);
      return;
    }
  }
  const key = argv[1]!;
  let s = getStream(c, key, true);
  if (s === null) return;
  if (s === undefined) {
    if (opts.nomkstream) {
      c.reply.nil();
      return;
    }
  }
  const last = s === undefined ? MIN_ID : s.lastId;
  if (last === MAX_ID) {
    c.reply.error(ErrExhausted);
    return;
  }
  let id: StreamId;
  if (given === null) {
    const now = c.server.keyspace.env.now();
    const lastMs = idPart(last, 0);
    id = typeof lastMs === 'number' && lastMs < now ? makeId(now, 0) : idIncr(last)!;
  } else if (given.seqAuto) {
    if (given.id.slice(0, 8) === last.slice(0, 8)) {
      if (last.slice(8) === MAX_ID.slice(8)) {
        c.reply.error(ErrXaddSmaller);
        return;
      }
      id = idIncr(last)!;
    } else id = given.id;
  } else id = given.id;
  if (id <= last) {
    c.reply.error(ErrXaddSmaller);
    return;
  }
  const fields = argv.slice(at + 1);
  const [maxEntries, maxBytes] = nodeLimits(c);
  const created = s === undefined;
  if (s === undefined) s = new StreamValue();
  s.append(id, fields, maxEntries, maxBytes);
  applyTrim(s, t);
  if (created) c.db.set(key, s);
  else c.db.modified(key);
  const idStr = formatId(id);
  c.reply.bulk(idStr);
  if ((given === null || given.seqAuto || t.approx) && c.server.keyspace.hasPropagationListeners) {
    const p = ['XADD', key];
    if (opts.nomkstream) p.push('NOMKSTREAM');
    p.push(...exactTrimArgs(s, t), idStr, ...fields);
    c.server.propagate(c.db, p);
  }
}

function xlenCommand(c: Client, argv: string[]): void {
  const s = getStream(c, argv[1]!, false);
  if (s === null) return;
  c.reply.int(s === undefined ? 0 : s.length);
}

function xrangeGeneric(c: Client, argv: string[], rev: boolean): void {
  const start = parseBound(c, argv[rev ? 3 : 2]!, true);
  if (start === null) return;
  const end = parseBound(c, argv[rev ? 2 : 3]!, false);
  if (end === null) return;
  let count = -1;
  for (let i = 4; i < argv.length; i++) {
    if (argv[i]!.toLowerCase() === 'count' && i + 1 < argv.length) {
      const n = parseLL(c, argv[++i]!);
      if (n === null) return;
      count = n < 0 ? 0 : n;
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const s = getStream(c, argv[1]!, false);
  if (s === null) return;
  if (count === 0) {
    c.reply.nilArray();
    return;
  }
  if (s === undefined) {
    c.reply.array(0);
    return;
  }
  replyRange(c, s, start, end, count < 0 ? 0 : count, rev);
}

function xdelCommand(c: Client, argv: string[]): void {
  const ids: StreamId[] = [];
  for (let i = 2; i < argv.length; i++) {
    const id = parseStrictId(c, argv[i]!);
    if (id === null) return;
    ids.push(id);
  }
  const key = argv[1]!;
  const s = getStream(c, key, true);
  if (s === null) return;
  if (s === undefined) {
    c.reply.int(0);
    return;
  }
  let n = 0;
  for (const id of ids) if (s.deleteEntry(id)) n++;
  if (n > 0) c.db.modified(key, n);
  c.reply.int(n);
}

function xtrimCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const t = newTrimArgs();
  if (parseTrimArgs(c, argv, false, t, { nomkstream: false }) < 0) return;
  const s = getStream(c, key, true);
  if (s === null) return;
  if (s === undefined) {
    c.reply.int(0);
    return;
  }
  const n = applyTrim(s, t);
  if (n > 0) {
    c.db.modified(key, n);
    if (t.approx) c.server.propagate(c.db, ['XTRIM', key, ...exactTrimArgs(s, t)]);
  }
  c.reply.int(n);
}

function xsetidCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const id = parseStrictId(c, argv[2]!);
  if (id === null) return;
  let entriesAdded = -1;
  let maxDeleted: StreamId | null = null;
  for (let i = 3; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    if (o === 'entriesadded' && i + 1 < argv.length) {
      const n = parseLL(c, argv[++i]!);
      if (n === null) return;
      if (n < 0) {
        c.reply.error('ERR entries_added must be positive');
        return;
      }
      entriesAdded = n;
    } else if (o === 'maxdeletedid' && i + 1 < argv.length) {
      const m = parseStrictId(c, argv[++i]!);
      if (m === null) return;
      if (id < m) {
        c.reply.error('ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id');
        return;
      }
      maxDeleted = m;
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const s = getStream(c, key, true);
  if (s === null) return;
  if (s === undefined) {
    c.reply.error(Err.noSuchKey);
    return;
  }
  if (s.length > 0) {
    if (id < s.entries.last()!) {
      c.reply.error('ERR The ID specified in XSETID is smaller than the target stream top item');
      return;
    }
    if (entriesAdded !== -1 && s.length > entriesAdded) {
      c.reply.error('ERR The entries_added specified in XSETID is smaller than the target stream length');
      return;
    }
  }
  s.lastId = id;
  if (entriesAdded !== -1) s.entriesAdded = entriesAdded;
  if (maxDeleted !== null) s.maxDeletedId = maxDeleted;
  c.db.modified(key);
  c.reply.ok();
}

// ------------------------------------------------------------------ XREAD XREADGROUP

function parseBlockMs(c: Client, s: string): number | null {
  const n = parseInteger(s);
  if (n === null) {
    c.reply.error(ErrTimeoutInt);
    return null;
  }
  if (n < 0) {
    c.reply.error(ErrTimeoutNeg);
    return null;
  }
  return Number(n);
}

/** XREAD and XREADGROUP: `[GROUP g c] [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...`. */
function xreadGeneric(c: Client, argv: string[], isGroup: boolean): void {
  const cmd = isGroup ? 'xreadgroup' : 'xread';
  let count = 0;
  let block = -1;
  let noack = false;
  let groupName: string | null = null;
  let consumerName = '';
  let streamsAt = -1;
  for (let i = 1; i < argv.length; i++) {
    const more = argv.length - 1 - i;
    const o = argv[i]!.toLowerCase();
    if (o === 'block' && more >= 1) {
      const ms = parseBlockMs(c, argv[++i]!);
      if (ms === null) return;
      block = ms;
    } else if (o === 'count' && more >= 1) {
      const n = parseLL(c, argv[++i]!);
      if (n === null) return;
      count = n < 0 ? 0 : n;
    } else if (o === 'streams' && more >= 1) {
      streamsAt = i + 1;
      break;
    } else if (o === 'group' && more >= 2) {
      if (!isGroup) {
        c.reply.error('ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.');
        return;
      }
      groupName = argv[i + 1]!;
      consumerName = argv[i + 2]!;
      i += 2;
    } else if (o === 'noack') {
      if (!isGroup) {
        c.reply.error('ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.');
        return;
      }
      noack = true;
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  if (streamsAt < 0) {
    c.reply.error(Err.syntax);
    return;
  }
  const nargs = argv.length - streamsAt;
  if (nargs % 2 !== 0) {
    c.reply.error(`ERR Unbalanced ${cmd.toUpperCase()} list of streams: for each stream key an ID or '$' must be specified.`);
    return;
  }
  if (isGroup && groupName === null) {
    c.reply.error('ERR Missing GROUP option for XREADGROUP');
    return;
  }
  const n = nargs / 2;
  const keys = argv.slice(streamsAt, streamsAt + n);
  // Resolve every key's start ID (exclusive) and group before serving any.
  const starts: (StreamId | null)[] = new Array(n);
  const groups: (ConsumerGroup | null)[] = new Array(n).fill(null);
  let rewritten: string[] | null = null;
  for (let k = 0; k < n; k++) {
    const key = keys[k]!;
    const idArg = argv[streamsAt + n + k]!;
    const s = getStream(c, key, false);
    if (s === null) return;
    if (isGroup) {
      const g = s?.groups?.get(groupName!);
      if (s === undefined || g === undefined) {
        c.reply.error(c.blocked !== null ? ErrGroupGone : `NOGROUP No such key '${key}' or consumer group '${groupName}' in XREADGROUP with GROUP option`);
        return;
      }
      groups[k] = g;
    }
    if (idArg === '$') {
      if (isGroup) {
        c.reply.error(
          'ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.',
        );
        return;
      }
      const last = s === undefined ? MIN_ID : s.lastId;
      starts[k] = last;
      // Blocking readers of `$` wait for entries after the ID that was last when they blocked.
      rewritten ??= [...argv];
      rewritten[streamsAt + n + k] = formatId(last);
    } else if (idArg === '>') {
      if (!isGroup) {
        c.reply.error('ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.');
        return;
      }
      starts[k] = null;
    } else {
      const id = parseStrictId(c, idArg);
      if (id === null) return;
      starts[k] = id;
    }
  }
  const serving = c.server.servingKey;
  const now = c.server.keyspace.env.now();
  const r = c.reply;
  const served: { key: string; write: () => void }[] = [];
  for (let k = 0; k < n; k++) {
    const key = keys[k]!;
    const s = c.db.peek(key) as StreamValue | undefined;
    if (s === undefined) continue;
    const g = groups[k];
    if (serving !== null && key !== serving) continue;
    const start = starts[k]!;
    if (g === null || start === null) {
      // XREAD after `start`, or a group's new entries after its last delivered ID.
      const after = g === null ? start : g.lastId;
      if (s.length === 0 || s.lastId <= after) continue;
      const from = idIncr(after);
      if (from === null) continue;
      const out: [StreamId, string[]][] = [];
      s.entries.range(from, MAX_ID, false, (id, f) => {
        out.push([id, f]);
        return count === 0 || out.length < count;
      });
      if (out.length === 0) continue;
      if (g !== null) deliver(c, key, s, g, lookupOrCreateConsumer(c, key, g, consumerName, now), out, noack, now);
      served.push({
        key,
        write: () => {
          r.array(out.length);
          for (const [id, f] of out) replyEntry(c, id, f);
        },
      });
      continue;
    }
    // History: this consumer's pending entries after `start`.
    const cons = lookupOrCreateConsumer(c, key, g, consumerName, now);
    const from = idIncr(start);
    const hist: [StreamId, string[] | undefined][] = [];
    if (from !== null)
      cons.pel.range(from, MAX_ID, false, (id, nack) => {
        const f = s.entries.get(id);
        if (f !== undefined) {
          nack.deliveryTime = now;
          nack.deliveryCount++;
        }
        hist.push([id, f]);
        return count === 0 || hist.length < count;
      });
    served.push({
      key,
      write: () => {
        r.array(hist.length);
        for (const [id, f] of hist) {
          if (f !== undefined) replyEntry(c, id, f);
          else {
            r.array(2);
            r.bulk(formatId(id));
            r.nilArray();
          }
        }
      },
    });
  }
  if (served.length > 0) {
    if (r.proto === Proto.RESP3) r.map(served.length);
    else r.array(served.length);
    for (const x of served) {
      if (r.proto !== Proto.RESP3) r.array(2);
      r.bulk(x.key);
      x.write();
    }
    return;
  }
  if (block < 0 || c.inExec) {
    r.nilArray();
    return;
  }
  if (rewritten !== null) c.server.currentArgv = rewritten;
  c.server.block(c, keys, block, (cl) => cl.reply.nilArray());
}

/** The consumer, created (and the creation propagated) when new; its seen time refreshed. */
function lookupOrCreateConsumer(c: Client, key: string, g: ConsumerGroup, name: string, now: number): Consumer {
  let cons = g.consumers.get(name);
  if (cons === undefined) {
    cons = new Consumer(name, now);
    g.consumers.set(name, cons);
    c.db.modified(key);
    c.server.propagate(c.db, ['XGROUP', 'CREATECONSUMER', key, g.name, name]);
  }
  cons.seenTime = now;
  return cons;
}

/** Moves the group's last ID past delivered entries and records them as pending (unless NOACK). */
function deliver(c: Client, key: string, s: StreamValue, g: ConsumerGroup, cons: Consumer, out: [StreamId, string[]][], noack: boolean, now: number): void {
  for (const [id] of out) {
    if (id > g.lastId) {
      if (g.entriesRead !== ENTRIES_READ_UNKNOWN && !s.hasTombstones(id)) g.entriesRead++;
      else if (s.entriesAdded > 0) g.entriesRead = s.estimateEntriesRead(id);
      g.lastId = id;
    }
    if (noack) continue;
    let nack = g.pel.get(id);
    if (nack !== undefined) {
      nack.consumer.pel.delete(id);
      nack.consumer = cons;
      nack.deliveryTime = now;
      nack.deliveryCount = 1;
    } else {
      nack = { consumer: cons, deliveryTime: now, deliveryCount: 1 };
      g.pel.set(id, nack);
    }
    cons.pel.set(id, nack);
    propagateClaim(c, key, g, formatId(id), nack);
  }
  c.db.modified(key);
  c.server.propagate(c.db, setIdArgv(key, g));
}

function setIdArgv(key: string, g: ConsumerGroup): string[] {
  return ['XGROUP', 'SETID', key, g.name, formatId(g.lastId), 'ENTRIESREAD', String(g.entriesRead)];
}

/** The XCLAIM that reproduces a pending entry's state on a replica. */
function propagateClaim(c: Client, key: string, g: ConsumerGroup, id: string, nack: Nack): void {
  c.server.propagate(c.db, [
    'XCLAIM',
    key,
    g.name,
    nack.consumer.name,
    '0',
    id,
    'TIME',
    String(nack.deliveryTime),
    'RETRYCOUNT',
    String(nack.deliveryCount),
    'FORCE',
    'JUSTID',
    'LASTID',
    formatId(g.lastId),
  ]);
}

// ------------------------------------------------------------------ XGROUP

function groupEntriesReadArg(c: Client, argv: string[], from: number): number | null | undefined {
  // undefined: not given; null: error replied.
  let v: number | undefined;
  for (let i = from; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    if (o === 'entriesread' && i + 1 < argv.length) {
      const n = parseLL(c, argv[++i]!);
      if (n === null) return null;
      if (n < 0 && n !== ENTRIES_READ_UNKNOWN) {
        c.reply.error('ERR value for ENTRIESREAD must be positive or -1');
        return null;
      }
      v = n;
    } else if (o !== 'mkstream') {
      c.reply.error(Err.syntax);
      return null;
    }
  }
  return v;
}

function xgroupCreate(c: Client, argv: string[]): void {
  const key = argv[2]!;
  const name = argv[3]!;
  let mkstream = false;
  for (let i = 5; i < argv.length; i++) {
    const o = argv[i]!.toLowerCase();
    if (o === 'mkstream') mkstream = true;
    else if (o === 'entriesread' && i + 1 < argv.length) i++;
    else {
      c.reply.error(`ERR unknown subcommand or wrong number of arguments for '${argv[1]}'. Try XGROUP HELP.`);
      return;
    }
  }
  const er = groupEntriesReadArg(c, argv, 5);
  if (er === null) return;
  let s = getStream(c, key, true);
  if (s === null) return;
  if (s === undefined && !mkstream) {
    c.reply.error('ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.');
    return;
  }
  let id: StreamId;
  if (argv[4] === '$') id = s === undefined ? MIN_ID : s.lastId;
  else {
    const p = parseStrictId(c, argv[4]!);
    if (p === null) return;
    id = p;
  }
  const created = s === undefined;
  if (s === undefined) s = new StreamValue();
  if (s.groups?.has(name)) {
    c.reply.error('BUSYGROUP Consumer Group name already exists');
    return;
  }
  s.createGroup(name, id, er ?? ENTRIES_READ_UNKNOWN);
  if (created) c.db.set(key, s);
  else c.db.modified(key);
  c.reply.ok();
  if (argv[4] === '$') {
    const p = ['XGROUP', 'CREATE', key, name, formatId(id)];
    if (created) p.push('MKSTREAM');
    if (er !== undefined) p.push('ENTRIESREAD', String(er));
    c.server.propagate(c.db, p);
  }
}

/** The stream and group for XGROUP subcommands: replies and returns null when missing. */
function groupTarget(c: Client, argv: string[]): { s: StreamValue; g: ConsumerGroup | undefined } | null {
  const key = argv[2]!;
  const s = getStream(c, key, true);
  if (s === null) return null;
  if (s === undefined) {
    c.reply.error('ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.');
    return null;
  }
  return { s, g: s.groups?.get(argv[3]!) };
}

function xgroupSetid(c: Client, argv: string[]): void {
  const er = groupEntriesReadArg(c, argv, 5);
  if (er === null) return;
  for (let i = 5; i < argv.length; i++) if (argv[i]!.toLowerCase() === 'mkstream') return void c.reply.error(Err.syntax);
  const t = groupTarget(c, argv);
  if (t === null) return;
  const { s, g } = t;
  if (g === undefined) {
    c.reply.error(noGroupFor(argv[2]!, argv[3]!));
    return;
  }
  let id: StreamId;
  if (argv[4] === '$') id = s.lastId;
  else {
    const p = parseStrictId(c, argv[4]!);
    if (p === null) return;
    id = p;
  }
  g.lastId = id;
  g.entriesRead = er ?? ENTRIES_READ_UNKNOWN;
  c.db.modified(argv[2]!);
  c.reply.ok();
  c.server.propagate(c.db, setIdArgv(argv[2]!, g));
}

function xgroupDestroy(c: Client, argv: string[]): void {
  const t = groupTarget(c, argv);
  if (t === null) return;
  if (t.g === undefined) {
    c.reply.int(0);
    return;
  }
  t.s.groups!.delete(argv[3]!);
  c.db.modified(argv[2]!);
  c.reply.int(1);
}

function xgroupCreateConsumer(c: Client, argv: string[]): void {
  const t = groupTarget(c, argv);
  if (t === null) return;
  if (t.g === undefined) {
    c.reply.error(noGroupFor(argv[2]!, argv[3]!));
    return;
  }
  if (t.g.consumers.has(argv[4]!)) {
    c.reply.int(0);
    return;
  }
  t.g.consumers.set(argv[4]!, new Consumer(argv[4]!, c.server.keyspace.env.now()));
  c.db.modified(argv[2]!);
  c.reply.int(1);
}

function xgroupDelConsumer(c: Client, argv: string[]): void {
  const t = groupTarget(c, argv);
  if (t === null) return;
  const g = t.g;
  if (g === undefined) {
    c.reply.error(noGroupFor(argv[2]!, argv[3]!));
    return;
  }
  const cons = g.consumers.get(argv[4]!);
  if (cons === undefined) {
    c.reply.int(0);
    return;
  }
  const pending = cons.pel.size;
  for (const [id] of cons.pel) g.pel.delete(id);
  g.consumers.delete(argv[4]!);
  c.db.modified(argv[2]!);
  c.reply.int(pending);
}

const XGROUP_HELP = [
  'XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CREATE <key> <groupname> <id|$> [option]',
  '    Create a new consumer group. Options are:',
  '    * MKSTREAM',
  '      Create the empty stream if it does not exist.',
  '    * ENTRIESREAD entries_read',
  '      Set the group\'s entries_read counter (internal use).',
  'CREATECONSUMER <key> <groupname> <consumer>',
  '    Create a new consumer in the specified group.',
  'DELCONSUMER <key> <groupname> <consumer>',
  '    Remove the specified consumer.',
  'DESTROY <key> <groupname>',
  '    Remove the specified group.',
  'SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]',
  '    Set the current group ID and entries_read counter.',
  'HELP',
  '    Prints this help.',
];

const XINFO_HELP = [
  'XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CONSUMERS <key> <groupname>',
  '    Show consumers of <groupname>.',
  'GROUPS <key>',
  '    Show the stream consumer groups.',
  'STREAM <key> [FULL [COUNT <count>]',
  '    Show information about the stream.',
  'HELP',
  '    Prints this help.',
];

function replyHelp(c: Client, lines: string[]): void {
  c.reply.array(lines.length);
  for (const l of lines) c.reply.simple(l);
}

// ------------------------------------------------------------------ XACK XPENDING XCLAIM XAUTOCLAIM

function xackCommand(c: Client, argv: string[]): void {
  const ids: StreamId[] = [];
  for (let i = 3; i < argv.length; i++) {
    const id = parseStrictId(c, argv[i]!);
    if (id === null) return;
    ids.push(id);
  }
  const key = argv[1]!;
  const s = getStream(c, key, true);
  if (s === null) return;
  const g = s?.groups?.get(argv[2]!);
  if (g === undefined) {
    c.reply.int(0);
    return;
  }
  let n = 0;
  for (const id of ids) {
    const nack = g.pel.delete(id);
    if (nack === undefined) continue;
    nack.consumer.pel.delete(id);
    n++;
  }
  if (n > 0) c.db.modified(key, n);
  c.reply.int(n);
}

function xpendingCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const groupName = argv[2]!;
  const extended = argv.length > 3;
  if (extended && (argv.length < 6 || argv.length > 9)) {
    c.reply.error(Err.syntax);
    return;
  }
  let minIdle = 0;
  let start = MIN_ID;
  let end = MAX_ID;
  let count = 0;
  let consumerName: string | null = null;
  if (extended) {
    let at = 3;
    if (argv[3]!.toLowerCase() === 'idle') {
      const v = parseLL(c, argv[4]!);
      if (v === null) return;
      if (argv.length < 8) {
        c.reply.error(Err.syntax);
        return;
      }
      minIdle = v;
      at = 5;
    }
    const n = parseLL(c, argv[at + 2]!);
    if (n === null) return;
    count = n < 0 ? 0 : n;
    const st = parseBound(c, argv[at]!, true);
    if (st === null) return;
    const en = parseBound(c, argv[at + 1]!, false);
    if (en === null) return;
    start = st;
    end = en;
    if (at + 3 < argv.length) consumerName = argv[at + 3]!;
  }
  const s = getStream(c, key, false);
  if (s === null) return;
  const g = s?.groups?.get(groupName);
  if (s === undefined || g === undefined) {
    c.reply.error(noGroup(key, groupName));
    return;
  }
  const r = c.reply;
  if (!extended) {
    r.array(4);
    r.int(g.pel.size);
    if (g.pel.size === 0) {
      r.nil();
      r.nil();
      r.nilArray();
      return;
    }
    r.bulk(formatId(g.pel.first()!));
    r.bulk(formatId(g.pel.last()!));
    const counts = g.sortedConsumers().filter((x) => x.pel.size > 0);
    r.array(counts.length);
    for (const x of counts) {
      r.array(2);
      r.bulk(x.name);
      r.bulk(String(x.pel.size));
    }
    return;
  }
  const now = c.server.keyspace.env.now();
  let pel = g.pel;
  if (consumerName !== null) {
    const cons = g.consumers.get(consumerName);
    if (cons === undefined) {
      r.array(0);
      return;
    }
    pel = cons.pel;
  }
  const out: [StreamId, Nack][] = [];
  if (count > 0)
    pel.range(start, end, false, (id, nack) => {
      if (minIdle > 0 && now - nack.deliveryTime < minIdle) return true;
      out.push([id, nack]);
      return out.length < count;
    });
  r.array(out.length);
  for (const [id, nack] of out) {
    r.array(4);
    r.bulk(formatId(id));
    r.bulk(nack.consumer.name);
    r.int(Math.max(0, now - nack.deliveryTime));
    r.int(nack.deliveryCount);
  }
}

function xclaimCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const groupName = argv[2]!;
  const s = getStream(c, key, true);
  if (s === null) return;
  const g = s?.groups?.get(groupName);
  if (s === undefined || g === undefined) {
    c.reply.error(noGroup(key, groupName));
    return;
  }
  const minIdleRaw = parseLL(c, argv[4]!, 'ERR Invalid min-idle-time argument for XCLAIM');
  if (minIdleRaw === null) return;
  const minIdle = Math.max(0, minIdleRaw);
  const ids: string[] = [];
  let j = 5;
  for (; j < argv.length; j++) {
    const p = parseIdRaw(argv[j]!, false, true, false);
    if (p === null) break;
    ids.push(argv[j]!);
  }
  const now = c.server.keyspace.env.now();
  let deliveryTime = -1;
  let retryCount = -1;
  let force = false;
  let justId = false;
  let lastId = MIN_ID;
  for (; j < argv.length; j++) {
    const more = argv.length - 1 - j;
    const o = argv[j]!.toLowerCase();
    if (o === 'force') force = true;
    else if (o === 'justid') justId = true;
    else if (o === 'idle' && more >= 1) {
      const v = parseLL(c, argv[++j]!, 'ERR Invalid IDLE option argument for XCLAIM');
      if (v === null) return;
      deliveryTime = now - v;
    } else if (o === 'time' && more >= 1) {
      const v = parseLL(c, argv[++j]!, 'ERR Invalid TIME option argument for XCLAIM');
      if (v === null) return;
      deliveryTime = v;
    } else if (o === 'retrycount' && more >= 1) {
      const v = parseLL(c, argv[++j]!, 'ERR Invalid RETRYCOUNT option argument for XCLAIM');
      if (v === null) return;
      retryCount = v;
    } else if (o === 'lastid' && more >= 1) {
      const id = parseStrictId(c, argv[++j]!);
      if (id === null) return;
      lastId = id;
    } else {
      c.reply.error(`ERR Unrecognized XCLAIM option '${argv[j]}'`);
      return;
    }
  }
  if (deliveryTime !== -1) {
    if (deliveryTime < 0 || deliveryTime > now) deliveryTime = now;
  } else deliveryTime = now;
  let propagateLastId = false;
  let changed = 0;
  if (lastId > g.lastId) {
    g.lastId = lastId;
    propagateLastId = true;
  }
  let cons: Consumer | undefined;
  const out: [StreamId, string[] | null][] = [];
  for (const raw of ids) {
    const id = parseIdRaw(raw, false, true, false)!.id;
    let nack = g.pel.get(id);
    const fields = s.entries.get(id);
    if (fields === undefined) {
      if (nack !== undefined) {
        propagateClaim(c, key, g, raw, nack);
        propagateLastId = false;
        g.pel.delete(id);
        nack.consumer.pel.delete(id);
        changed++;
      }
      continue;
    }
    let fresh = false;
    if (force && nack === undefined) {
      nack = { consumer: null as unknown as Consumer, deliveryTime: now, deliveryCount: 1 };
      g.pel.set(id, nack);
      fresh = true;
    }
    if (nack === undefined) continue;
    if (!fresh && minIdle > 0 && now - nack.deliveryTime < minIdle) continue;
    if (cons === undefined) {
      cons = g.consumers.get(argv[3]!);
      if (cons === undefined) {
        cons = new Consumer(argv[3]!, now);
        g.consumers.set(argv[3]!, cons);
      }
      cons.seenTime = now;
    }
    if (!fresh && nack.consumer !== cons) nack.consumer.pel.delete(id);
    nack.deliveryTime = deliveryTime;
    if (retryCount >= 0) nack.deliveryCount = retryCount;
    else if (!justId) nack.deliveryCount++;
    if (fresh || nack.consumer !== cons) {
      cons.pel.set(id, nack);
      nack.consumer = cons;
    }
    out.push([id, justId ? null : fields]);
    propagateClaim(c, key, g, raw, nack);
    propagateLastId = false;
    changed++;
  }
  if (propagateLastId) {
    c.server.propagate(c.db, setIdArgv(key, g));
    changed++;
  }
  if (changed > 0) c.db.modified(key, changed);
  const r = c.reply;
  r.array(out.length);
  for (const [id, f] of out) {
    if (f === null) r.bulk(formatId(id));
    else replyEntry(c, id, f);
  }
}

function xautoclaimCommand(c: Client, argv: string[]): void {
  const key = argv[1]!;
  const groupName = argv[2]!;
  const s = getStream(c, key, true);
  if (s === null) return;
  const g = s?.groups?.get(groupName);
  if (s === undefined || g === undefined) {
    c.reply.error(noGroup(key, groupName));
    return;
  }
  const minIdleRaw = parseLL(c, argv[4]!, 'ERR Invalid min-idle-time argument for XAUTOCLAIM');
  if (minIdleRaw === null) return;
  const minIdle = Math.max(0, minIdleRaw);
  const start = parseBound(c, argv[5]!, true);
  if (start === null) return;
  let count = 100;
  let justId = false;
  for (let j = 6; j < argv.length; j++) {
    const more = argv.length - 1 - j;
    const o = argv[j]!.toLowerCase();
    if (o === 'count' && more >= 1) {
      const v = parseLL(c, argv[++j]!, 'ERR COUNT must be > 0');
      if (v === null) return;
      if (v < 1 || v > Math.floor(9223372036854775807 / 10)) {
        c.reply.error('ERR COUNT must be > 0');
        return;
      }
      count = v;
    } else if (o === 'justid') justId = true;
    else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const now = c.server.keyspace.env.now();
  let attempts = count * 10;
  const claimed: [StreamId, string[] | null][] = [];
  const deleted: StreamId[] = [];
  const visit: [StreamId, Nack][] = [];
  let next = MIN_ID;
  // Collect the PEL entries to examine first (the PEL changes while claiming).
  g.pel.range(start, MAX_ID, false, (id, nack) => {
    if (attempts === 0 || visit.length - deleted.length >= count) {
      next = id;
      return false;
    }
    visit.push([id, nack]);
    attempts--;
    if (!s.entries.has(id)) deleted.push(id);
    return true;
  });
  let cons: Consumer | undefined;
  let changed = 0;
  const deletedSet = new Set(deleted);
  for (const [id, nack] of visit) {
    if (deletedSet.has(id)) {
      propagateClaim(c, key, g, formatId(id), nack);
      g.pel.delete(id);
      nack.consumer.pel.delete(id);
      changed++;
      continue;
    }
    if (minIdle > 0 && now - nack.deliveryTime < minIdle) continue;
    if (cons === undefined) {
      cons = g.consumers.get(argv[3]!);
      if (cons === undefined) {
        cons = new Consumer(argv[3]!, now);
        g.consumers.set(argv[3]!, cons);
      }
      cons.seenTime = now;
    }
    if (nack.consumer !== cons) {
      nack.consumer.pel.delete(id);
      cons.pel.set(id, nack);
      nack.consumer = cons;
    }
    nack.deliveryTime = now;
    if (!justId) nack.deliveryCount++;
    claimed.push([id, justId ? null : s.entries.get(id)!]);
    propagateClaim(c, key, g, formatId(id), nack);
    changed++;
  }
  if (changed > 0) c.db.modified(key, changed);
  const r = c.reply;
  r.array(3);
  r.bulk(formatId(next));
  r.array(claimed.length);
  for (const [id, f] of claimed) {
    if (f === null) r.bulk(formatId(id));
    else replyEntry(c, id, f);
  }
  r.array(deleted.length);
  for (const id of deleted) r.bulk(formatId(id));
}

// ------------------------------------------------------------------ XINFO

function replyEntryOrNil(c: Client, s: StreamValue, id: StreamId | undefined): void {
  if (id === undefined) c.reply.nil();
  else replyEntry(c, id, s.entries.get(id)!);
}

function replyLag(c: Client, s: StreamValue, g: ConsumerGroup): void {
  const lag = s.lag(g);
  if (lag === null) c.reply.nil();
  else c.reply.int(lag);
}

function replyEntriesRead(c: Client, g: ConsumerGroup): void {
  if (g.entriesRead === ENTRIES_READ_UNKNOWN) c.reply.nil();
  else c.reply.int(g.entriesRead);
}

/** Approximate rax node count for the chunk keys (the radix tree Redis keeps them in). */
function raxNodes(s: StreamValue): number {
  const n = s.entries.chunks.length;
  return n === 0 ? 1 : n + Math.ceil(Math.log2(n + 1)) + 1;
}

function xinfoStream(c: Client, argv: string[]): void {
  const key = argv[2]!;
  let full = false;
  let count = 10;
  if (argv.length > 3) {
    const shape = `ERR unknown subcommand or wrong number of arguments for '${argv[1]}'. Try XINFO HELP.`;
    if (argv[3]!.toLowerCase() !== 'full' || (argv.length !== 4 && argv.length !== 6)) {
      c.reply.error(shape);
      return;
    }
    full = true;
    if (argv.length === 6) {
      if (argv[4]!.toLowerCase() !== 'count') {
        c.reply.error(shape);
        return;
      }
      const n = parseLL(c, argv[5]!);
      if (n === null) return;
      count = n < 0 ? 0 : n;
    }
  }
  const s = getStream(c, key, false);
  if (s === null) return;
  if (s === undefined) {
    c.reply.error(Err.noSuchKey);
    return;
  }
  const r = c.reply;
  r.map(full ? 9 : 10);
  r.bulk('length');
  r.int(s.length);
  r.bulk('radix-tree-keys');
  r.int(s.entries.chunks.length);
  r.bulk('radix-tree-nodes');
  r.int(raxNodes(s));
  r.bulk('last-generated-id');
  r.bulk(formatId(s.lastId));
  r.bulk('max-deleted-entry-id');
  r.bulk(formatId(s.maxDeletedId));
  r.bulk('entries-added');
  r.int(s.entriesAdded);
  r.bulk('recorded-first-entry-id');
  r.bulk(formatId(s.firstId()));
  if (!full) {
    r.bulk('groups');
    r.int(s.groups?.size ?? 0);
    r.bulk('first-entry');
    replyEntryOrNil(c, s, s.entries.first());
    r.bulk('last-entry');
    replyEntryOrNil(c, s, s.entries.last());
    return;
  }
  r.bulk('entries');
  replyRange(c, s, MIN_ID, MAX_ID, count, false);
  r.bulk('groups');
  const groups = s.sortedGroups();
  r.array(groups.length);
  for (const g of groups) {
    r.map(7);
    r.bulk('name');
    r.bulk(g.name);
    r.bulk('last-delivered-id');
    r.bulk(formatId(g.lastId));
    r.bulk('entries-read');
    replyEntriesRead(c, g);
    r.bulk('lag');
    replyLag(c, s, g);
    r.bulk('pel-count');
    r.int(g.pel.size);
    r.bulk('pending');
    const pend: [StreamId, Nack][] = [];
    for (const e of g.pel) {
      if (count > 0 && pend.length >= count) break;
      pend.push(e);
    }
    r.array(pend.length);
    for (const [id, nack] of pend) {
      r.array(4);
      r.bulk(formatId(id));
      r.bulk(nack.consumer.name);
      r.int(nack.deliveryTime);
      r.int(nack.deliveryCount);
    }
    r.bulk('consumers');
    const conss = g.sortedConsumers();
    r.array(conss.length);
    for (const cons of conss) {
      r.map(4);
      r.bulk('name');
      r.bulk(cons.name);
      r.bulk('seen-time');
      r.int(cons.seenTime);
      r.bulk('pel-count');
      r.int(cons.pel.size);
      r.bulk('pending');
      const cp: [StreamId, Nack][] = [];
      for (const e of cons.pel) {
        if (count > 0 && cp.length >= count) break;
        cp.push(e);
      }
      r.array(cp.length);
      for (const [id, nack] of cp) {
        r.array(3);
        r.bulk(formatId(id));
        r.int(nack.deliveryTime);
        r.int(nack.deliveryCount);
      }
    }
  }
}

function xinfoGroups(c: Client, argv: string[]): void {
  const s = getStream(c, argv[2]!, false);
  if (s === null) return;
  if (s === undefined) {
    c.reply.error(Err.noSuchKey);
    return;
  }
  const r = c.reply;
  const groups = s.sortedGroups();
  r.array(groups.length);
  for (const g of groups) {
    r.map(6);
    r.bulk('name');
    r.bulk(g.name);
    r.bulk('consumers');
    r.int(g.consumers.size);
    r.bulk('pending');
    r.int(g.pel.size);
    r.bulk('last-delivered-id');
    r.bulk(formatId(g.lastId));
    r.bulk('entries-read');
    replyEntriesRead(c, g);
    r.bulk('lag');
    replyLag(c, s, g);
  }
}

function xinfoConsumers(c: Client, argv: string[]): void {
  const key = argv[2]!;
  const s = getStream(c, key, false);
  if (s === null) return;
  if (s === undefined) {
    c.reply.error(Err.noSuchKey);
    return;
  }
  const g = s.groups?.get(argv[3]!);
  if (g === undefined) {
    c.reply.error(noGroupFor(key, argv[3]!));
    return;
  }
  const now = c.server.keyspace.env.now();
  const r = c.reply;
  const conss = g.sortedConsumers();
  r.array(conss.length);
  for (const cons of conss) {
    r.map(3);
    r.bulk('name');
    r.bulk(cons.name);
    r.bulk('pending');
    r.int(cons.pel.size);
    r.bulk('idle');
    r.int(Math.max(0, now - cons.seenTime));
  }
}

export const streamHandlers: HandlerMap = {
  xadd: xaddCommand,
  xlen: xlenCommand,
  xrange: (c, argv) => xrangeGeneric(c, argv, false),
  xrevrange: (c, argv) => xrangeGeneric(c, argv, true),
  xdel: xdelCommand,
  xtrim: xtrimCommand,
  xsetid: xsetidCommand,
  xread: (c, argv) => xreadGeneric(c, argv, false),
  xreadgroup: (c, argv) => xreadGeneric(c, argv, true),
  'xgroup|create': xgroupCreate,
  'xgroup|setid': xgroupSetid,
  'xgroup|destroy': xgroupDestroy,
  'xgroup|createconsumer': xgroupCreateConsumer,
  'xgroup|delconsumer': xgroupDelConsumer,
  'xgroup|help': (c) => replyHelp(c, XGROUP_HELP),
  xack: xackCommand,
  xpending: xpendingCommand,
  xclaim: xclaimCommand,
  xautoclaim: xautoclaimCommand,
  'xinfo|stream': xinfoStream,
  'xinfo|groups': xinfoGroups,
  'xinfo|consumers': xinfoConsumers,
  'xinfo|help': (c) => replyHelp(c, XINFO_HELP),
};

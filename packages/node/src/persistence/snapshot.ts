/**
 * The snapshotter: ONE point-in-time serialisation of the keyspace, without fork and
 * without copying the dataset. Used by SAVE/BGSAVE, by the AOF rewrite (the base file),
 * and by replication's full sync.
 *
 * ## API (stable; replication builds on it)
 *
 * ```ts
 * const snap = startSnapshot(keyspace, {
 *   sink: async (chunk) => { ... },   // receives the file's bytes in order; awaited (backpressure)
 *   aux: { 'repl-id': id, 'repl-offset': off },   // extra AUX fields (RDB format)
 *   sliceBudgetMs: 2,                 // CPU per slice between client work (default 2)
 *   onProgress: ({ keys, bytes }) => {},
 * });
 * // The snapshot is the keyspace as of this synchronous call: read the replication
 * // offset in the same turn and it matches the file exactly.
 * const stats = await snap.done;      // { keys, bytes, durationMs, earlyWrites, ... }
 * snap.cancel();                      // stops; `done` rejects with SnapshotCancelled
 * ```
 *
 * The sink gets a complete RDB stream: `REDIS0010`, AUX fields, per database SELECTDB +
 * RESIZEDB, the keys (EXPIRETIME_MS when they have a TTL), EOF and the CRC-64 (zeros
 * with `checksum: false`). With `format: 'aof'` it gets RESP commands instead (the base
 * of an AOF without RDB preamble). A sink that throws (or rejects) fails the snapshot.
 *
 * ## How it stays one point in time
 *
 * Each database is walked in passes over its `Map`, one hash partition of the keys per
 * pass (`partitions` ≈ size / 50k, at most 64), a few thousand keys per slice, with the
 * event loop serving clients between slices. The keyspace calls our `beforeWrite` hook
 * before any key changes, gets or loses a TTL, or is deleted, and `beforeFlush` before a
 * database is emptied or swapped. The hook decides whether the key was written already:
 *
 * - its partition is behind the walk, or it is in the current pass's `visited` set: yes;
 * - it is in its partition's `skip` set (written early, or created after the start): yes;
 * - it does not exist (a key being created): it is not part of the snapshot; remember it
 *   in `skip` so the walk passes over it;
 * - otherwise: serialise its current (start-time) value now, out of walk order (with a
 *   SELECTDB if needed), and remember it in `skip`.
 *
 * `beforeFlush` captures references to the database's remaining start-time entries (no
 * value is copied: they are detached from the keyspace by the flush) and the walk writes
 * those instead. Extra memory: the current pass's `visited` set (≤ ~50k keys), the
 * `skip` sets (keys written during the snapshot, dropped with their partition's pass),
 * and the output buffer. A slice also stops after a few thousand keys of other
 * partitions, so its length stays near the budget (`maxSliceMs` in the stats).
 */
import type { Db, Keyspace, WriteHooks } from '../engine/keyspace.js';
import { Kind, type Value } from '../engine/values.js';
import type { HashValue } from '../engine/hash.js';
import type { ListValue } from '../engine/list.js';
import type { SetValue } from '../engine/set.js';
import type { ZSetValue } from '../engine/zset.js';
import { RdbWriter, RdbFormatError } from './rdb-value.js';
import { RdbFileWriter, crcTrailer } from './rdb-file.js';
import { crc64Init, crc64Update, type Crc64State } from './crc64.js';

export type SnapshotSink = (chunk: Buffer) => void | Promise<void>;

export interface SnapshotOptions {
  sink: SnapshotSink;
  /** 'rdb' (default): an RDB file; 'aof': RESP commands (AOF base without preamble). */
  format?: 'rdb' | 'aof';
  /** Extra AUX fields (RDB). redis-ver, redis-bits, ctime, used-mem and aof-base are always written. */
  aux?: Record<string, string | number>;
  /** LZF-compress strings (rdbcompression). Default true. */
  compress?: boolean;
  /** Write the CRC-64 trailer (rdbchecksum). Default true. */
  checksum?: boolean;
  /** CPU time per slice, in ms. Default 2. */
  sliceBudgetMs?: number;
  /** Output is handed to the sink in chunks of about this size. Default 256 KiB. */
  chunkSize?: number;
  onProgress?: (p: { keys: number; bytes: number }) => void;
  /** Marks an AOF base (aux aof-base 1). */
  aofBase?: boolean;
  /** Run to the end inside this call (SAVE); the sink must be synchronous. */
  sync?: boolean;
}

export interface SnapshotStats {
  keys: number;
  bytes: number;
  durationMs: number;
  /** Keys serialised by the write hook before a command changed them. */
  earlyWrites: number;
  /** Peak size of the bookkeeping sets (keys). */
  peakTracked: number;
  /** The longest slice of the walk (ms): what the snapshot adds to a client's latency. */
  maxSliceMs: number;
  slices: number;
  startedAt: number;
}

export interface SnapshotHandle {
  readonly done: Promise<SnapshotStats>;
  cancel(reason?: string): void;
  /** Keys written so far, and the keyspace's key count at the start. */
  readonly keysWritten: number;
  readonly keysTotal: number;
  readonly bytesWritten: number;
}

export class SnapshotCancelled extends Error {}

/** The Redis version written in the redis-ver AUX field. */
export const RDB_REDIS_VER = '7.0.15';

const PART_TARGET = 50_000;
/** Stands for a finished pass's skip set (nothing is added to it: its keys are behind the walk). */
const EMPTY_SET: Set<string> = new Set();
const MAX_PARTS = 64;

/** A cheap hash of a key for partitioning (quality only affects memory, never correctness). */
function keyHash(k: string): number {
  const n = k.length;
  let h = Math.imul(n, 0x9e3779b1);
  const head = n < 8 ? n : 8;
  for (let i = 0; i < head; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  for (let i = n > 24 ? n - 16 : head; i < n; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

interface DbState {
  db: Db;
  /** pending: not walked yet; active: being walked; detached: flushed, remaining entries captured; done. */
  status: 'pending' | 'active' | 'detached' | 'done';
  parts: number;
  pass: number;
  it: Iterator<[string, Value]> | null;
  visited: Set<string>;
  /**
   * Keys not to write in the walk (written early, or created after the start), one set
   * per partition: a finished pass drops its partition's set whole, instead of scanning
   * every skipped key at each pass end (which stalled the event loop for tens of ms
   * once many keys had been written during the snapshot).
   */
  skip: Set<string>[];
  skipCount: number;
  detached: [string, Value, number][] | null;
  detachedPos: number;
  startSize: number;
  startExpires: number;
  /** SELECTDB/RESIZEDB written for this database in walk order. */
  sectionStarted: boolean;
}

/** What turns keys into bytes: an RDB file, or AOF commands. */
interface Encoder {
  begin(): void;
  select(db: number, resize: { size: number; expires: number } | null): void;
  key(key: string, v: Value, expireAt: number): void;
  end(): void;
}

class RdbEncoder implements Encoder {
  private f: RdbFileWriter;
  constructor(
    w: RdbWriter,
    private readonly aux: Record<string, string | number>,
  ) {
    this.f = new RdbFileWriter(w);
  }
  begin(): void {
    this.f.header();
    for (const [k, v] of Object.entries(this.aux)) this.f.aux(k, v);
  }
  select(db: number, resize: { size: number; expires: number } | null): void {
    this.f.selectDb(db);
    if (resize) this.f.resizeDb(resize.size, resize.expires);
  }
  key(key: string, v: Value, expireAt: number): void {
    this.f.key(key, v, expireAt);
  }
  end(): void {
    this.f.eof();
  }
}

/** Formats a score so that it parses back to the same double (ZADD in an AOF). */
export function formatScore(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  return String(d);
}

/** RESP commands; collections in commands of at most 64 items, as Redis's rewrite. */
export class AofEncoder implements Encoder {
  constructor(private readonly w: RdbWriter) {}
  private cmd(args: readonly string[]): void {
    const w = this.w;
    let s = `*${args.length}\r\n`;
    for (const a of args) s += `$${a.length}\r\n${a}\r\n`;
    w.bytes(Buffer.from(s, 'latin1'));
  }
  command(args: readonly string[]): void {
    this.cmd(args);
  }
  begin(): void {}
  select(db: number): void {
    this.cmd(['SELECT', String(db)]);
  }
  private batched(name: string, key: string, items: Iterable<string[]>): void {
    let args: string[] = [name, key];
    let n = 0;
    for (const it of items) {
      for (const x of it) args.push(x);
      if (++n === 64) {
        this.cmd(args);
        args = [name, key];
        n = 0;
      }
    }
    if (n > 0) this.cmd(args);
  }
  key(key: string, v: Value, expireAt: number): void {
    if (typeof v === 'string') this.cmd(['SET', key, v]);
    else {
      switch (v.kind) {
        case Kind.List: {
          const l = v as ListValue;
          this.batched('RPUSH', key, (function* () {
            for (let i = 0; i < l.length; i++) yield [l.at(i)];
          })());
          break;
        }
        case Kind.Set:
          this.batched('SADD', key, (function* () {
            for (const m of v as SetValue) yield [m];
          })());
          break;
        case Kind.ZSet:
          this.batched('ZADD', key, (function* () {
            for (const [m, s] of (v as ZSetValue).entries()) yield [formatScore(s), m];
          })());
          break;
        case Kind.Hash:
          this.batched('HSET', key, (function* () {
            for (const [f, x] of (v as HashValue).map) yield [f, x];
          })());
          break;
        default:
          throw new RdbFormatError(`cannot rewrite a value of kind ${v.kind} as commands`);
      }
    }
    if (expireAt >= 0) this.cmd(['PEXPIREAT', key, String(expireAt)]);
  }
  end(): void {}
}

/**
 * Starts a snapshot of `ks` as of now. See the top of this file.
 */
export function startSnapshot(ks: Keyspace, opts: SnapshotOptions): SnapshotHandle {
  const format = opts.format ?? 'rdb';
  const budget = opts.sync ? Infinity : (opts.sliceBudgetMs ?? 2);
  const chunkSize = opts.chunkSize ?? 256 * 1024;
  const checksum = format === 'rdb' && (opts.checksum ?? true);
  const startedAt = Date.now();
  const w = new RdbWriter(chunkSize + 64 * 1024, opts.compress ?? true);
  const aux: Record<string, string | number> = {
    'redis-ver': RDB_REDIS_VER,
    'redis-bits': 64,
    ctime: Math.floor(startedAt / 1000),
    'used-mem': process.memoryUsage().heapUsed,
    'aof-base': opts.aofBase ? 1 : 0,
    ...(opts.aux ?? {}),
  };
  const enc: Encoder = format === 'rdb' ? new RdbEncoder(w, aux) : new AofEncoder(w);
  const crc: Crc64State | null = checksum ? crc64Init() : null;

  const states: DbState[] = [];
  const byDb = new Map<Db, DbState>();
  let keysTotal = 0;
  for (const db of ks.dbs) {
    const size = db.dict.size;
    keysTotal += size;
    const st: DbState = {
      db,
      status: size === 0 ? 'done' : 'pending',
      // A synchronous save sees no writes: one pass, nothing to track.
      parts: opts.sync ? 1 : Math.min(MAX_PARTS, Math.max(1, Math.ceil(size / PART_TARGET))),
      pass: 0,
      it: null,
      visited: new Set(),
      skip: [],
      skipCount: 0,
      detached: null,
      detachedPos: 0,
      startSize: size,
      startExpires: db.expires.size,
      sectionStarted: false,
    };
    for (let i = 0; i < st.parts; i++) st.skip.push(new Set());
    states.push(st);
    byDb.set(db, st);
  }

  let outDb = -1;
  let keys = 0;
  let bytes = 0;
  let earlyWrites = 0;
  let peakTracked = 0;
  let maxSliceMs = 0;
  let slices = 0;
  let finished = false;
  let cur = 0;
  let resolveDone!: (s: SnapshotStats) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<SnapshotStats>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // Callers that only cancel must not see an unhandled rejection.
  done.catch(() => {});

  const emit = (st: DbState, key: string, v: Value, expireAt: number): void => {
    if (outDb !== st.db.id) {
      enc.select(st.db.id, null);
      outDb = st.db.id;
    }
    enc.key(key, v, expireAt);
    keys++;
  };

  const fail = (e: Error): void => {
    if (finished) return;
    finished = true;
    removeHooks();
    rejectDone(e);
  };

  const hooks: WriteHooks = {
    beforeWrite(db: Db, key: string): void {
      const st = byDb.get(db);
      if (st === undefined || finished) return;
      if (st.status === 'done' || st.status === 'detached') return;
      const p = st.parts === 1 ? 0 : keyHash(key) % st.parts;
      // A partition behind the walk is written (its skip set is gone).
      if (st.status === 'active' && p < st.pass) return;
      const skip = st.skip[p]!;
      if (skip.has(key)) return;
      const v = db.dict.get(key);
      if (v === undefined) {
        skip.add(key);
        st.skipCount++;
        return;
      }
      if (st.status === 'active' && p === st.pass && st.visited.has(key)) return;
      try {
        emit(st, key, v, db.expires.get(key) ?? -1);
      } catch (e) {
        fail(e as Error);
        return;
      }
      earlyWrites++;
      skip.add(key);
      st.skipCount++;
      const tracked = st.skipCount + st.visited.size;
      if (tracked > peakTracked) peakTracked = tracked;
    },
    beforeFlush(db: Db): void {
      const st = byDb.get(db);
      if (st === undefined || finished) return;
      if (st.status === 'done' || st.status === 'detached') return;
      // Capture the remaining start-time entries (references only).
      const out: [string, Value, number][] = [];
      const exp = db.expires;
      for (const [k, v] of db.dict) {
        const p = st.parts === 1 ? 0 : keyHash(k) % st.parts;
        if (st.skip[p]!.has(k)) continue;
        if (st.status === 'active' && (p < st.pass || (p === st.pass && st.visited.has(k)))) continue;
        out.push([k, v, exp.get(k) ?? -1]);
      }
      st.detached = out;
      st.detachedPos = 0;
      st.it = null;
      st.visited = new Set();
      st.skip = [];
      st.skipCount = 0;
      // A pending database gets its SELECTDB/RESIZEDB when the walk reaches it.
      st.status = 'detached';
    },
  };
  const removeHooks = ks.addWriteHooks(hooks);

  /** Walks for about `budget` ms; returns true when every database is written. */
  const walk = (): boolean => {
    const t0 = performance.now();
    const r = walkSlice(t0);
    const ms = performance.now() - t0;
    slices++;
    if (ms > maxSliceMs) maxSliceMs = ms;
    return r;
  };
  const walkSlice = (t0: number): boolean => {
    let n = 0;
    while (cur < states.length) {
      const st = states[cur]!;
      if (st.status === 'done') {
        cur++;
        continue;
      }
      if (!st.sectionStarted) {
        // Start of this database's section in walk order.
        st.sectionStarted = true;
        enc.select(st.db.id, format === 'rdb' ? { size: st.startSize, expires: st.startExpires } : null);
        outDb = st.db.id;
        if (st.status === 'pending') st.status = 'active';
      }
      if (st.status === 'detached') {
        const list = st.detached!;
        while (st.detachedPos < list.length) {
          const [k, v, e] = list[st.detachedPos++]!;
          emit(st, k, v, e);
          if ((++n & 63) === 0 && (performance.now() - t0 >= budget || w.len >= chunkSize)) return false;
        }
        st.detached = null;
        st.status = 'done';
        cur++;
        continue;
      }
      // active: partition passes
      if (st.it === null) st.it = st.db.dict.entries();
      const dbExp = st.db.expires;
      const parts = st.parts;
      const pass = st.pass;
      const skip = st.skip[pass]!;
      const visited = st.visited;
      let seen = 0;
      for (;;) {
        const r = st.it.next();
        if (r.done) break;
        const [k, v] = r.value;
        // Keys of other partitions cost a hash each: count them too, so a slice stays short.
        if (parts !== 1 && keyHash(k) % parts !== pass) {
          if ((++seen & 4095) === 0 && performance.now() - t0 >= budget) return false;
          continue;
        }
        if (skip.has(k)) continue;
        emit(st, k, v, dbExp.size > 0 ? (dbExp.get(k) ?? -1) : -1);
        if (!opts.sync) visited.add(k);
        if ((++n & 63) === 0 && (performance.now() - t0 >= budget || w.len >= chunkSize)) {
          const tracked = st.skipCount + visited.size;
          if (tracked > peakTracked) peakTracked = tracked;
          return false;
        }
      }
      // End of a pass: its bookkeeping is dropped whole (O(1); the GC frees it).
      const tracked = st.skipCount + visited.size;
      if (tracked > peakTracked) peakTracked = tracked;
      st.visited = new Set();
      st.skipCount -= skip.size;
      st.skip[pass] = EMPTY_SET;
      st.it = null;
      st.pass++;
      if (st.pass >= parts) {
        st.status = 'done';
        st.skip = [];
        st.skipCount = 0;
        cur++;
      }
      if (performance.now() - t0 >= budget) return false;
    }
    return true;
  };

  const takeChunk = (): Buffer | null => {
    if (w.len === 0) return null;
    const chunk = w.buf.subarray(0, w.len);
    w.buf = Buffer.allocUnsafe(chunkSize + 64 * 1024);
    w.len = 0;
    if (crc !== null) crc64Update(crc, chunk);
    bytes += chunk.length;
    return chunk;
  };

  const pump = async (): Promise<void> => {
    enc.begin();
    for (;;) {
      if (finished) return;
      let complete: boolean;
      try {
        complete = walk();
      } catch (e) {
        fail(e as Error);
        return;
      }
      if (complete) break;
      if (w.len >= chunkSize) {
        const chunk = takeChunk()!;
        await opts.sink(chunk);
        if (finished) return;
        opts.onProgress?.({ keys, bytes });
      }
      await new Promise<void>((r) => setImmediate(r));
    }
    // Every database written: from here on no hook can add bytes.
    removeHooks();
    enc.end();
    const last = takeChunk();
    if (last) await opts.sink(last);
    if (format === 'rdb') {
      const trailer = crcTrailer(crc);
      bytes += 8;
      await opts.sink(trailer);
    }
    if (finished) return;
    finished = true;
    opts.onProgress?.({ keys, bytes });
    resolveDone({ keys, bytes, durationMs: Date.now() - startedAt, earlyWrites, peakTracked, maxSliceMs, slices, startedAt });
  };

  let syncStats: SnapshotStats | null = null;
  const runSync = (): void => {
    enc.begin();
    while (!walk()) {
      const chunk = w.len >= chunkSize ? takeChunk() : null;
      if (chunk) void opts.sink(chunk);
    }
    removeHooks();
    enc.end();
    const last = takeChunk();
    if (last) void opts.sink(last);
    if (format === 'rdb') {
      bytes += 8;
      void opts.sink(crcTrailer(crc));
    }
    finished = true;
    syncStats = { keys, bytes, durationMs: Date.now() - startedAt, earlyWrites, peakTracked, maxSliceMs, slices, startedAt };
    resolveDone(syncStats);
  };

  if (opts.sync) {
    try {
      runSync();
    } catch (e) {
      removeHooks();
      finished = true;
      throw e;
    }
  } else pump().catch((e: unknown) => fail(e instanceof Error ? e : new Error(String(e))));

  return {
    done,
    cancel(reason = 'snapshot cancelled'): void {
      fail(new SnapshotCancelled(reason));
    },
    get keysWritten() {
      return keys;
    },
    get keysTotal() {
      return keysTotal;
    },
    get bytesWritten() {
      return bytes;
    },
  };
}

/** A whole snapshot inside this call (SAVE, SHUTDOWN): the sink must write synchronously. */
export function saveSnapshotSync(ks: Keyspace, opts: Omit<SnapshotOptions, 'sync' | 'sink'> & { sink: (chunk: Buffer) => void }): SnapshotStats {
  const t0 = Date.now();
  // `done` resolves inside startSnapshot when sync; the counters are on the handle.
  const h = startSnapshot(ks, { ...opts, sync: true });
  return { keys: h.keysWritten, bytes: h.bytesWritten, durationMs: Date.now() - t0, earlyWrites: 0, peakTracked: 0, maxSliceMs: 0, slices: 0, startedAt: t0 };
}

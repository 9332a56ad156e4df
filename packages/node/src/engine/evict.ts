import type { Db, Keyspace } from './keyspace.js';
import { lfuDecayed, lruIdleMs } from './memory.js';

export type EvictionPolicy =
  | 'noeviction'
  | 'allkeys-lru'
  | 'volatile-lru'
  | 'allkeys-lfu'
  | 'volatile-lfu'
  | 'allkeys-random'
  | 'volatile-random'
  | 'volatile-ttl';

/** What `perform` found: under the limit, still working (time slice used up), or stuck. */
export const enum EvictResult {
  Ok = 0,
  Running = 1,
  Fail = 2,
}

export interface EvictionSettings {
  maxmemory: number;
  policy: EvictionPolicy;
  samples: number;
  /** maxmemory-eviction-tenacity (0..100): how long one call may keep evicting. */
  tenacity: number;
}

/** Redis's EVPOOL_SIZE: the best candidates kept across calls. */
export const POOL_SIZE = 16;

interface Candidate {
  /** Higher is a better candidate (idle time, 255 - frequency, or - expiry time). */
  score: number;
  db: Db;
  key: string;
}

/**
 * Eviction under `maxmemory`, as Redis approximates it: before a command, while the
 * used memory is above the limit, pick a victim by the policy and delete it (propagated
 * as DEL, counted in evicted_keys).
 *
 * LRU, LFU and TTL policies sample `maxmemory-samples` keys per database into a pool of
 * the 16 best candidates kept across calls, and evict the best; random policies pick a
 * key at random. Keys are sampled uniformly from the database's access table (Db.meta,
 * kept while the policy is not noeviction); keys with a TTL likewise, or through a cursor
 * over the expires dict when they are few.
 *
 * Pure: the memory figure and the high-resolution clock come in as functions.
 */
export class Evictor {
  settings: EvictionSettings = { maxmemory: 0, policy: 'noeviction', samples: 5, tenacity: 10 };
  private readonly pool: Candidate[] = [];
  /** Rotates the database random policies start from. */
  private nextDb = 0;
  /** Total time spent over the limit (INFO total_eviction_exceeded_time), ms. */
  exceededMs = 0;
  exceededSince = 0;

  constructor(
    private readonly ks: Keyspace,
    /** The memory figure compared to maxmemory (bytes). */
    private readonly usedMemory: () => number,
    /** A monotonic clock in ms with sub-ms resolution (performance.now). */
    private readonly hrnow: () => number,
  ) {}

  /** True when eviction has work to do. */
  get overLimit(): boolean {
    const max = this.settings.maxmemory;
    return max > 0 && this.usedMemory() > max;
  }

  /** Redis's eviction time limit (ms): 50 µs per tenacity step up to 10, then +15 % a step; 100 = none. */
  timeLimitMs(): number {
    const t = this.settings.tenacity;
    if (t >= 100) return Infinity;
    return t <= 10 ? (50 * t) / 1000 : 0.5 * Math.pow(1.15, t - 10);
  }

  /**
   * Evicts until the used memory is at or below maxmemory, or the time slice is used up.
   * Ok: under the limit. Running: still over, time slice exhausted (call again soon).
   * Fail: over the limit and nothing (more) can be evicted (noeviction, or no candidates).
   */
  perform(): EvictResult {
    const s = this.settings;
    if (s.maxmemory <= 0) return EvictResult.Ok;
    let used = this.usedMemory();
    if (used <= s.maxmemory) {
      if (this.exceededSince !== 0) {
        this.exceededMs += this.hrnow() - this.exceededSince;
        this.exceededSince = 0;
      }
      return EvictResult.Ok;
    }
    if (this.exceededSince === 0) this.exceededSince = this.hrnow();
    if (s.policy === 'noeviction') return EvictResult.Fail;
    // Tracking started at run time (CONFIG SET maxmemory-policy): sample from every key.
    if (this.ks.populatingAccess) this.ks.populateAccess(Infinity);
    const start = this.hrnow();
    const limit = this.timeLimitMs();
    const ks = this.ks;
    let evicted = 0;
    ks.noTouch = true;
    try {
      while (used > s.maxmemory) {
        const victim = this.pick();
        if (victim === null) return EvictResult.Fail;
        this.evict(victim.db, victim.key);
        evicted++;
        used = this.usedMemory();
        if ((evicted & 15) === 0 && this.hrnow() - start > limit) return used > s.maxmemory ? EvictResult.Running : EvictResult.Ok;
      }
    } finally {
      ks.noTouch = false;
    }
    return EvictResult.Ok;
  }

  private evict(db: Db, key: string): void {
    db.delete(key);
    this.ks.stats.evictedKeys++;
    this.ks.propagate(db.id, ['DEL', key]);
  }

  /** The next victim, or null when no database has a candidate. */
  pick(): { db: Db; key: string } | null {
    const policy = this.settings.policy;
    const volatile = policy.startsWith('volatile-');
    if (policy.endsWith('-random')) {
      const dbs = this.ks.dbs;
      for (let i = 0; i < dbs.length; i++) {
        const db = dbs[(this.nextDb + i) % dbs.length]!;
        const key = volatile ? this.sampleTtl(db, 1)[0]?.[0] : this.sampleKeys(db, 1)[0];
        if (key !== undefined) {
          this.nextDb = (this.nextDb + i + 1) % dbs.length;
          return { db, key };
        }
      }
      return null;
    }
    // Pool-based policies: fill from every database, then take the best that still exists.
    for (let tries = 0; tries < 16; tries++) {
      let any = false;
      for (const db of this.ks.dbs) {
        if ((volatile ? db.expires.size : db.dict.size) === 0) continue;
        any = true;
        this.populate(db, volatile);
      }
      if (!any) {
        this.pool.length = 0;
        return null;
      }
      while (this.pool.length > 0) {
        const c = this.pool.pop()!;
        const present = volatile ? c.db.expires.has(c.key) : c.db.dict.has(c.key);
        if (present) return { db: c.db, key: c.key };
      }
    }
    return null;
  }

  private populate(db: Db, volatile: boolean): void {
    const s = this.settings;
    const now = this.ks.env.now();
    const n = s.samples;
    if (volatile) {
      for (const [key, when] of this.sampleTtl(db, n)) this.offer(db, key, this.score(db, key, when, now));
    } else {
      for (const key of this.sampleKeys(db, n)) this.offer(db, key, this.score(db, key, 0, now));
    }
  }

  private score(db: Db, key: string, when: number, now: number): number {
    const policy = this.settings.policy;
    if (policy === 'volatile-ttl') return -(when || db.expires.get(key) || 0);
    const meta = db.meta?.get(key) ?? this.ks.untrackedMeta();
    if (policy.endsWith('-lfu')) return 255 - lfuDecayed(meta, now, this.ks.lfuDecayTime);
    return lruIdleMs(meta, now);
  }

  /** Inserts a candidate into the pool, kept ascending by score, at most POOL_SIZE. */
  private offer(db: Db, key: string, score: number): void {
    const pool = this.pool;
    for (let i = 0; i < pool.length; i++) {
      const c = pool[i]!;
      if (c.db === db && c.key === key) {
        pool.splice(i, 1);
        break;
      }
    }
    if (pool.length >= POOL_SIZE && score <= pool[0]!.score) return;
    let i = 0;
    while (i < pool.length && pool[i]!.score < score) i++;
    pool.splice(i, 0, { score, db, key });
    if (pool.length > POOL_SIZE) pool.shift();
  }

  private skip(): number {
    return Math.floor(this.ks.env.random() * 4);
  }

  /** Up to n keys of the database, uniformly at random (the access table, O(1) each). */
  sampleKeys(db: Db, n: number): string[] {
    const out: string[] = [];
    const meta = db.meta;
    if (meta === null) return out;
    const want = Math.min(n, meta.size);
    for (let i = 0; i < want; i++) {
      const k = meta.randomKey(this.ks.env.random());
      if (k !== undefined) out.push(k);
    }
    return out;
  }

  /**
   * Up to n [key, expiry] pairs of keys with a TTL. When they are at least an eighth of
   * the keys, random keys filtered by having a TTL (uniform); else a persistent cursor
   * over the expires dict with random steps (no per-key memory for the rarer case).
   */
  sampleTtl(db: Db, n: number): [string, number][] {
    const out: [string, number][] = [];
    const size = db.expires.size;
    if (size === 0) return out;
    const want = Math.min(n, size);
    const meta = db.meta;
    if (meta !== null && size * 8 >= meta.size) {
      for (let tries = 0; out.length < want && tries < want * 32; tries++) {
        const k = meta.randomKey(this.ks.env.random());
        if (k === undefined) break;
        const when = db.expires.get(k);
        if (when !== undefined) out.push([k, when]);
      }
      if (out.length > 0) return out;
    }
    for (let steps = 0; out.length < want && steps < want * 8 + 8; steps++) {
      if (db.evictTtlCursor === null) db.evictTtlCursor = db.expires.entries();
      let r = db.evictTtlCursor.next();
      for (let k = this.skip(); k > 0 && !r.done && size > want * 4; k--) r = db.evictTtlCursor.next();
      if (r.done) {
        db.evictTtlCursor = null;
        continue;
      }
      out.push(r.value);
    }
    return out;
  }

  /** Forgets pooled candidates (after FLUSHALL, a policy change). */
  clearPool(): void {
    this.pool.length = 0;
  }
}

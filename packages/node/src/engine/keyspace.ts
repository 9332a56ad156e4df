import { keyHashSlot, SLOTS } from '@sonic/protocol';
import type { Value } from './values.js';
import { CursorTable } from './scan.js';
import { accountValue, accountedBytes, valueBytes, stringBytes, KEY_OVERHEAD, ACCESS_ENTRY, EXPIRE_ENTRY, lruClock, lfuNew, lfuTouch, AccessTable, type SizedValue } from './memory.js';

/** What the engine needs from the outside world: time and randomness, injected. */
export interface EngineEnv {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Uniform in [0, 1). */
  random(): number;
}

/** Something that watches a key (a client in WATCH). */
export interface KeyWatcher {
  /** Set when a watched key changes; EXEC then fails. */
  casDirty: boolean;
}

/** Hooks a snapshot registers (`Keyspace.addWriteHooks`). */
export interface WriteHooks {
  /** Called before `key` of `db` is changed, gets a TTL change, or is deleted. */
  beforeWrite(db: Db, key: string): void;
  /** Called before `db` is emptied (FLUSHDB/FLUSHALL) or swapped (SWAPDB). */
  beforeFlush(db: Db): void;
}

/** Where a change goes (redis.set_repl's flags): the AOF, the replicas, or both. */
export const PROPAGATE_AOF = 1;
export const PROPAGATE_REPL = 2;
export const PROPAGATE_ALL = 3;

/**
 * A listener of the propagation stream: every change, as the command that reproduces it,
 * with where it goes (PROPAGATE_*: the AOF skips changes without PROPAGATE_AOF, replication
 * those without PROPAGATE_REPL).
 */
export type PropagationListener = (db: number, argv: readonly string[], targets: number) => void;

/** A change held while a script runs (Keyspace.capture). */
export interface CapturedOp {
  db: number;
  argv: readonly string[];
  targets: number;
}

/** What the memory model charges per key for the per-slot index: a Set entry (measured: 28 B with 1M keys). */
export const SLOT_INDEX_ENTRY = 28;

/**
 * The keys of a database by hash slot (cluster mode, docs/sharding.md): a Set per
 * non-empty slot, kept by Db's add and delete paths, so CLUSTER COUNTKEYSINSLOT is O(1),
 * GETKEYSINSLOT O(count), and a slot's keys can be handed to another shard without
 * scanning the keyspace.
 */
export class SlotIndex {
  private readonly sets: (Set<string> | undefined)[] = new Array<Set<string> | undefined>(SLOTS).fill(undefined);

  add(key: string): void {
    const slot = keyHashSlot(key);
    let set = this.sets[slot];
    if (set === undefined) this.sets[slot] = set = new Set();
    set.add(key);
  }

  delete(key: string): void {
    const slot = keyHashSlot(key);
    const set = this.sets[slot];
    if (set === undefined) return;
    set.delete(key);
    if (set.size === 0) this.sets[slot] = undefined;
  }

  count(slot: number): number {
    return this.sets[slot]?.size ?? 0;
  }

  /** The keys of a slot (live: iterate before changing them), or undefined when it has none. */
  keys(slot: number): ReadonlySet<string> | undefined {
    return this.sets[slot];
  }

  clear(): void {
    this.sets.fill(undefined);
  }
}

/**
 * One logical database: the main dictionary, and the expiry dictionary holding the
 * absolute expiry time (ms) of keys that have one (as Redis keeps `db->expires`).
 *
 * Mutations go through this class so that everything that must follow a change does:
 * WATCH invalidation, readiness of keys blocked clients wait on, dirty counting, and
 * (for the snapshotter, later) the before-write hook of `lookupWrite`.
 */
export class Db {
  dict = new Map<string, Value>();
  expires = new Map<string, number>();
  /** Keys watched by clients (WATCH), or null when none are. */
  watchers: Map<string, Set<KeyWatcher>> | null = null;
  /** Keys that blocked clients wait on, with a count of waiters. */
  readonly blockedOn = new Map<string, number>();
  /** Persistent cursor for the active expiry cycle. */
  expireCursor: IterableIterator<[string, number]> | null = null;
  /** Persistent cursor for RANDOMKEY / sampling. */
  private sampleCursor: IterableIterator<string> | null = null;
  /**
   * Per-key LRU/LFU metadata (engine/memory.ts): an LRU clock, or LFU minutes and
   * counter, with O(1) uniform random sampling of keys (memory.ts AccessTable). Only
   * while the maxmemory-policy evicts (Keyspace.setTracking); null under noeviction.
   */
  meta: AccessTable | null = null;
  /** Keys of `dict` still to be entered in `meta` since tracking started (Keyspace.populateAccess). */
  populating: IterableIterator<string> | null = null;
  /** Bytes of this database's keys, values and TTLs, by the memory model (engine/memory.ts). */
  used = 0;
  /** Persistent sampling cursors of the eviction (engine/evict.ts). */
  evictCursor: IterableIterator<string> | null = null;
  evictTtlCursor: IterableIterator<[string, number]> | null = null;
  /** Keys by hash slot, in cluster mode only (Keyspace.setSlotIndex); null otherwise. */
  slots: SlotIndex | null = null;

  constructor(
    readonly id: number,
    readonly ks: Keyspace,
  ) {}

  get size(): number {
    return this.dict.size;
  }

  /** True if the key is logically expired (ignoring whether it was deleted yet). */
  private isExpired(key: string): boolean {
    const when = this.expires.get(key);
    return when !== undefined && when <= this.ks.expiryNow();
  }

  /**
   * Deletes the key if it has expired, propagating a DEL. On a replica nothing is
   * deleted (the primary's DEL will arrive), but the key reads as missing.
   * Returns true when the key is (logically) gone.
   */
  expireIfNeeded(key: string): boolean {
    if (this.expires.size === 0) return false;
    const when = this.expires.get(key);
    if (when === undefined || when > this.ks.expiryNow()) return false;
    // A replica's primary stream sees expired keys as present (its DEL removes them).
    if (!this.ks.expireKeys) return !this.ks.replayingPrimary;
    this.deleteExpired(key);
    return true;
  }

  private deleteExpired(key: string): void {
    this.ks.beforeWrite(this, key);
    const v = this.dict.get(key);
    if (v !== undefined) this.used -= this.ks.keyOverhead + stringBytes(key) + accountedBytes(v);
    this.dict.delete(key);
    if (this.meta !== null) this.meta.delete(key);
    if (this.slots !== null) this.slots.delete(key);
    if (this.expires.delete(key)) this.used -= EXPIRE_ENTRY;
    this.ks.stats.expiredKeys++;
    this.touchWatchers(key);
    // Everywhere, whatever a script's redis.set_repl says (as Redis propagates deletions).
    this.ks.propagate(this.id, ['DEL', key], PROPAGATE_ALL);
  }

  /**
   * Looks a key up for reading: lazy expiry, keyspace hit/miss counting, and (unless
   * `touch` is false, as for TYPE, EXISTS, TTL, OBJECT) the key's LRU/LFU access.
   */
  lookupRead(key: string, touch = true): Value | undefined {
    if (this.expireIfNeeded(key)) {
      this.ks.stats.keyspaceMisses++;
      return undefined;
    }
    const v = this.dict.get(key);
    if (v === undefined) this.ks.stats.keyspaceMisses++;
    else {
      this.ks.stats.keyspaceHits++;
      if (touch && this.meta !== null && !this.ks.noTouch) this.touch(key);
    }
    return v;
  }

  /** Records an access to a key in its LRU/LFU metadata (when the policy keeps any). */
  touch(key: string): void {
    const meta = this.meta;
    if (meta === null) return;
    const ks = this.ks;
    if (ks.lfu) meta.set(key, lfuTouch(meta.get(key) ?? ks.untrackedMeta(), ks.env.now(), ks.lfuLogFactor, ks.lfuDecayTime, ks.env.random()));
    else meta.set(key, lruClock(ks.env.now()));
  }

  /**
   * Looks a key up with the intent to change it in place: lazy expiry and the
   * before-write hook (the snapshotter serialises the old value here).
   */
  lookupWrite(key: string): Value | undefined {
    if (this.expireIfNeeded(key)) return undefined;
    const v = this.dict.get(key);
    if (v !== undefined) {
      this.ks.beforeWrite(this, key);
      if (this.meta !== null && !this.ks.noTouch) this.touch(key);
    }
    return v;
  }

  /** Looks a key up without side effects other than lazy expiry (for TYPE, EXISTS ...). */
  peek(key: string): Value | undefined {
    if (this.expireIfNeeded(key)) return undefined;
    return this.dict.get(key);
  }

  exists(key: string): boolean {
    return this.peek(key) !== undefined;
  }

  /**
   * Sets a key to a value (a new key, or a replacement). Drops its TTL unless keepTtl.
   * Counts one change and signals the key.
   */
  set(key: string, value: Value, keepTtl = false): void {
    this.ks.beforeWrite(this, key);
    const old = this.dict.get(key);
    const meta = this.meta;
    if (old === undefined) {
      this.used += this.ks.keyOverhead + stringBytes(key);
      if (meta !== null) meta.set(key, this.ks.lfu ? lfuNew(this.ks.env.now()) : lruClock(this.ks.env.now()));
      if (this.slots !== null) this.slots.add(key);
    } else {
      this.used -= accountedBytes(old);
      // A new value is a new object in Redis: a fresh LRU clock; LFU keeps the counter.
      if (meta !== null && !this.ks.lfu) meta.set(key, lruClock(this.ks.env.now()));
    }
    this.used += accountValue(value);
    this.dict.set(key, value);
    if (!keepTtl && this.expires.size > 0 && this.expires.delete(key)) this.used -= EXPIRE_ENTRY;
    this.signal(key, 1);
  }

  /** Deletes a key; returns whether it existed (expired keys count as missing). */
  delete(key: string): boolean {
    if (this.expireIfNeeded(key)) return false;
    const v = this.dict.get(key);
    if (v === undefined) return false;
    this.ks.beforeWrite(this, key);
    this.used -= this.ks.keyOverhead + stringBytes(key) + accountedBytes(v);
    this.dict.delete(key);
    if (this.meta !== null) this.meta.delete(key);
    if (this.slots !== null) this.slots.delete(key);
    if (this.expires.size > 0 && this.expires.delete(key)) this.used -= EXPIRE_ENTRY;
    this.signal(key, 1);
    return true;
  }

  /** The absolute expiry time in ms, or -1 when the key has none. */
  getExpire(key: string): number {
    return this.expires.get(key) ?? -1;
  }

  setExpire(key: string, whenMs: number): void {
    this.ks.beforeWrite(this, key);
    if (!this.expires.has(key)) this.used += EXPIRE_ENTRY;
    this.expires.set(key, whenMs);
  }

  /** Removes the TTL; returns whether there was one. */
  persist(key: string): boolean {
    if (!this.expires.has(key)) return false;
    this.ks.beforeWrite(this, key);
    this.expires.delete(key);
    this.used -= EXPIRE_ENTRY;
    return true;
  }

  /**
   * Records a change to a key: counts it (`changes` toward the dirty counter), fails
   * the transactions that WATCH it, and wakes clients blocked on it.
   */
  modified(key: string, changes = 1): void {
    // Settle the memory accounting of a collection changed in place: its counters are
    // current (O(1)), the database's total still holds the size last accounted.
    const v = this.dict.get(key);
    if (v !== undefined && typeof v !== 'string') {
      const o = v as SizedValue;
      const b = valueBytes(v);
      this.used += b - (o.accounted ?? 0);
      o.accounted = b;
    }
    this.signal(key, changes);
  }

  private signal(key: string, changes: number): void {
    this.ks.dirty += changes;
    this.touchWatchers(key);
    if (this.blockedOn.size > 0 && this.blockedOn.has(key)) this.ks.signalReady(this, key);
  }

  private touchWatchers(key: string): void {
    if (this.watchers === null) return;
    const set = this.watchers.get(key);
    if (set) for (const w of set) w.casDirty = true;
  }

  /** Fails every WATCH on this database (FLUSHDB, SWAPDB). */
  touchAllWatchers(): void {
    if (this.watchers === null) return;
    for (const set of this.watchers.values()) for (const w of set) w.casDirty = true;
  }

  /** Removes every key; returns how many there were. */
  flush(): number {
    const n = this.dict.size;
    this.ks.beforeFlush(this);
    this.dict.clear();
    this.expires.clear();
    if (this.meta !== null) this.meta.clear();
    if (this.slots !== null) this.slots.clear();
    this.populating = null;
    this.used = 0;
    this.expireCursor = null;
    this.sampleCursor = null;
    this.evictCursor = null;
    this.evictTtlCursor = null;
    this.touchAllWatchers();
    this.ks.dirty += n;
    return n;
  }

  /**
   * A pseudo-random live key, or undefined when empty. Walks a persistent cursor a
   * random number of steps, so repeated calls spread over the keyspace without a full
   * scan; expired keys met on the way are removed.
   */
  randomKey(): string | undefined {
    for (let tries = 0; tries < 100 && this.dict.size > 0; tries++) {
      const skip = Math.floor(this.ks.env.random() * Math.min(this.dict.size, 64));
      let key: string | undefined;
      for (let i = 0; i <= skip; i++) {
        if (this.sampleCursor === null) this.sampleCursor = this.dict.keys();
        const r = this.sampleCursor.next();
        if (r.done) {
          this.sampleCursor = this.dict.keys();
          const r2 = this.sampleCursor.next();
          if (r2.done) return undefined;
          key = r2.value;
        } else key = r.value;
      }
      if (key === undefined) return undefined;
      if (this.isExpired(key)) {
        if (this.ks.expireKeys) this.deleteExpired(key);
        if (!this.ks.expireKeys && this.dict.size === this.expires.size) return key;
        continue;
      }
      return key;
    }
    return undefined;
  }

  /**
   * One slice of the active expiry cycle: samples up to `budget` keys with a TTL from
   * a persistent cursor and deletes the expired ones. Returns [sampled, expired].
   */
  activeExpire(budget: number, now: number): [number, number] {
    if (this.expires.size === 0) return [0, 0];
    let sampled = 0;
    let expired = 0;
    while (sampled < budget && sampled < this.expires.size) {
      if (this.expireCursor === null) this.expireCursor = this.expires.entries();
      const r = this.expireCursor.next();
      if (r.done) {
        this.expireCursor = null;
        break;
      }
      sampled++;
      const [key, when] = r.value;
      if (when <= now) {
        this.deleteExpired(key);
        expired++;
      }
    }
    return [sampled, expired];
  }
}

export interface KeyspaceStats {
  keyspaceHits: number;
  keyspaceMisses: number;
  expiredKeys: number;
  evictedKeys: number;
}

/**
 * The keyspace engine: the databases, expiry, and the propagation stream. It imports
 * nothing from `node:`; time and randomness come from `env`.
 */
export class Keyspace {
  readonly dbs: Db[] = [];
  /** Changes since the last save (Redis's `server.dirty`). */
  dirty = 0;
  /** False on a replica: keys expire only by the primary's DEL. */
  expireKeys = true;
  /** Set while a replica runs its primary's commands: expired keys still exist for them. */
  replayingPrimary = false;
  /** Open SCAN/HSCAN/SSCAN/ZSCAN cursors. */
  readonly cursors = new CursorTable();
  readonly stats: KeyspaceStats = { keyspaceHits: 0, keyspaceMisses: 0, expiredKeys: 0, evictedKeys: 0 };
  private readonly listeners: PropagationListener[] = [];
  /** Keys that became ready for blocked clients during the current command. */
  readyKeys: { db: Db; key: string }[] = [];
  /** Hook run before a key is changed or deleted (the snapshotter's). */
  beforeWriteHook: ((db: Db, key: string) => void) | null = null;
  beforeFlushHook: ((db: Db) => void) | null = null;
  /** Access metadata holds LFU counters (an LFU maxmemory-policy), else LRU clocks. */
  lfu = false;
  /**
   * True while the databases keep access tables (Db.meta): the maxmemory-policy evicts.
   * Under noeviction no per-key access data is kept (setTracking).
   */
  tracking = false;
  /** When tracking last started (ms): keys not yet in a table count as accessed then. */
  trackingSince = 0;
  /** What the model charges per key: its dict entry, and its access-table entry while tracking. */
  keyOverhead = KEY_OVERHEAD;
  lfuLogFactor = 10;
  lfuDecayTime = 1;
  /** Set while lookups must not update access metadata (CLIENT NO-TOUCH, eviction). */
  noTouch = false;

  constructor(
    readonly env: EngineEnv,
    databases = 16,
  ) {
    for (let i = 0; i < databases; i++) this.dbs.push(new Db(i, this));
  }

  /**
   * Starts or stops keeping per-key access data. Starting creates empty tables; the keys
   * already present enter them through populateAccess (in slices, by the server) as
   * "accessed when tracking started"; until then they count as such anyway
   * (untrackedMeta). Stopping drops the tables. The memory model follows.
   */
  setTracking(on: boolean): void {
    if (on === this.tracking) return;
    this.tracking = on;
    const overhead = KEY_OVERHEAD + (on ? ACCESS_ENTRY : 0) + (this.slotIndex ? SLOT_INDEX_ENTRY : 0);
    const delta = overhead - this.keyOverhead;
    this.keyOverhead = overhead;
    this.trackingSince = this.env.now();
    for (const db of this.dbs) {
      db.used += db.dict.size * delta;
      db.meta = on ? new AccessTable() : null;
      db.populating = on && db.dict.size > 0 ? db.dict.keys() : null;
    }
  }

  /** True while the databases keep their keys by hash slot (Db.slots): cluster mode. */
  slotIndex = false;

  /**
   * Starts or stops the per-slot key index (cluster mode). Starting builds it from the
   * keys present (once, O(keys): a node becomes a cluster node at start, after loading
   * its data); afterwards Db's add and delete paths keep it. The memory model follows.
   */
  setSlotIndex(on: boolean): void {
    if (on === this.slotIndex) return;
    this.slotIndex = on;
    const delta = on ? SLOT_INDEX_ENTRY : -SLOT_INDEX_ENTRY;
    this.keyOverhead += delta;
    for (const db of this.dbs) {
      db.used += db.dict.size * delta;
      if (!on) {
        db.slots = null;
        continue;
      }
      const index = new SlotIndex();
      for (const key of db.dict.keys()) index.add(key);
      db.slots = index;
    }
  }

  /** The metadata of a key tracking has not reached: accessed (created) when tracking started. */
  untrackedMeta(): number {
    return this.lfu ? lfuNew(this.trackingSince) : lruClock(this.trackingSince);
  }

  /** True while some access table still lacks keys that existed when tracking started. */
  get populatingAccess(): boolean {
    for (const db of this.dbs) if (db.populating !== null) return true;
    return false;
  }

  /** Enters up to `budget` keys into the access tables; true once every table is complete. */
  populateAccess(budget: number): boolean {
    for (const db of this.dbs) {
      const it = db.populating;
      if (it === null) continue;
      const meta = db.meta!;
      const init = this.untrackedMeta();
      for (;;) {
        if (budget-- <= 0) return false;
        const r = it.next();
        if (r.done === true) {
          db.populating = null;
          break;
        }
        if (!meta.has(r.value)) meta.set(r.value, init);
      }
    }
    return true;
  }

  /**
   * Write hooks of the running snapshots (several may run at once: a BGSAVE, an AOF
   * rewrite, replicas' full syncs). Each sees every key before it changes or is deleted,
   * and every database before it is emptied or swapped.
   */
  private writeHooks: WriteHooks[] = [];

  /** Registers write hooks; returns the function that removes them. */
  addWriteHooks(h: WriteHooks): () => void {
    this.writeHooks = [...this.writeHooks, h];
    return () => {
      this.writeHooks = this.writeHooks.filter((x) => x !== h);
    };
  }

  beforeWrite(db: Db, key: string): void {
    if (this.beforeWriteHook !== null) this.beforeWriteHook(db, key);
    const hs = this.writeHooks;
    for (let i = 0; i < hs.length; i++) hs[i]!.beforeWrite(db, key);
  }

  beforeFlush(db: Db): void {
    if (this.beforeFlushHook !== null) this.beforeFlushHook(db);
    const hs = this.writeHooks;
    for (let i = 0; i < hs.length; i++) hs[i]!.beforeFlush(db);
  }

  onPropagate(l: PropagationListener): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  get hasPropagationListeners(): boolean {
    return this.listeners.length > 0;
  }

  /** Bytes of every database's keys, values and TTLs by the memory model (engine/memory.ts). */
  get datasetBytes(): number {
    let n = 0;
    for (let i = 0; i < this.dbs.length; i++) n += this.dbs[i]!.used;
    return n;
  }

  /**
   * Recomputes every database's accounting from scratch (O(keys)): for code that fills
   * `dict` directly (a loader), and for tests that check the incremental figures.
   */
  recomputeMemory(): number {
    let total = 0;
    for (const db of this.dbs) {
      let used = 0;
      const meta = db.meta;
      for (const [key, v] of db.dict) {
        used += this.keyOverhead + stringBytes(key) + accountValue(v);
        if (meta !== null && !meta.has(key)) meta.set(key, this.lfu ? lfuNew(this.env.now()) : lruClock(this.env.now()));
      }
      used += db.expires.size * EXPIRE_ENTRY;
      db.used = used;
      total += used;
    }
    return total;
  }

  /**
   * While a script runs: its changes, held until it ends and then emitted together
   * (wrapped in MULTI/EXEC when more than one), as Redis 7 propagates a script's effects.
   */
  capture: CapturedOp[] | null = null;
  /** Where captured changes go unless the caller says (the script's redis.set_repl). */
  captureTargets = PROPAGATE_ALL;
  /** While a script runs: the time keys expire by (its start, as Redis freezes it); -1 otherwise. */
  frozenNow = -1;

  /** The time expiry checks use: a running script's start time, else now. */
  expiryNow(): number {
    return this.frozenNow >= 0 ? this.frozenNow : this.env.now();
  }

  /** Emits a change to the propagation stream (replication, AOF, ...). */
  propagate(db: number, argv: readonly string[], targets?: number): void {
    if (this.capture !== null) {
      this.capture.push({ db, argv, targets: targets ?? this.captureTargets });
      return;
    }
    const t = targets ?? PROPAGATE_ALL;
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i]!(db, argv, t);
  }

  signalReady(db: Db, key: string): void {
    for (const r of this.readyKeys) if (r.db === db && r.key === key) return;
    this.readyKeys.push({ db, key });
  }

  /** Swaps two databases' contents (SWAPDB), failing the WATCHes on both. */
  swap(a: number, b: number): void {
    const da = this.dbs[a]!;
    const db = this.dbs[b]!;
    this.beforeFlush(da);
    this.beforeFlush(db);
    [da.dict, db.dict] = [db.dict, da.dict];
    [da.expires, db.expires] = [db.expires, da.expires];
    [da.meta, db.meta] = [db.meta, da.meta];
    [da.populating, db.populating] = [db.populating, da.populating];
    [da.used, db.used] = [db.used, da.used];
    [da.slots, db.slots] = [db.slots, da.slots];
    for (const d of [da, db]) d.expireCursor = d.evictCursor = d.evictTtlCursor = null;
    da.touchAllWatchers();
    db.touchAllWatchers();
    // Clients blocked on keys of either database may now be served.
    for (const d of [da, db]) for (const key of d.blockedOn.keys()) if (d.dict.has(key)) this.signalReady(d, key);
  }

  /**
   * The active expiry cycle (Redis's "slow" cycle): per database, sample keys with a
   * TTL and delete the expired ones, repeating while more than a quarter of a sample
   * was expired, until `budgetMs` is used.
   */
  activeExpireCycle(budgetMs: number): number {
    if (!this.expireKeys) return 0;
    const start = this.env.now();
    let total = 0;
    for (const db of this.dbs) {
      if (db.expires.size === 0) continue;
      for (;;) {
        const now = this.env.now();
        const [sampled, expired] = db.activeExpire(20, now);
        total += expired;
        if (sampled === 0 || expired * 4 <= sampled) break;
        if (now - start >= budgetMs) return total;
      }
    }
    return total;
  }
}

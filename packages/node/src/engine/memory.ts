import { Kind, type Value, type RObject } from './values.js';

/**
 * The memory model of the keyspace: what each key, value and expiry entry costs on the
 * V8 heap (Node 20, x64, no pointer compression). The constants were measured with
 * `node --expose-gc` (heapUsed after a full GC, 200k objects; see docs/memory.md):
 *
 *  - a one-byte string: 16 B header (map, hash, length) + its chars rounded up to 8;
 *    one-char strings come from V8's single-character table (no cost);
 *  - a Map entry: 3 slots (key, value, chain) + half a bucket = 28 B per table slot; the
 *    table doubles when full, so at the usual fill an entry costs ~37 B amortised;
 *  - a Set entry: 2 slots + half a bucket = 20 B per slot, ~27 B amortised;
 *  - a double that is not a small integer: a 16 B HeapNumber (expiry times, scores);
 *  - an empty Map: ~184 B; an empty Set: ~152 B; an object: 24 B + 8 B per field.
 *
 * Per-type costs of the value classes were measured on the classes themselves
 * (bench/memory-model.mjs).
 */
export const MAP_ENTRY = 37;
export const SET_ENTRY = 27;
export const HEAP_NUMBER = 16;

/** A key's fixed cost: its entry in the main dict. */
export const KEY_OVERHEAD = MAP_ENTRY;
/**
 * A key's entry in the access table, while the maxmemory-policy keeps one (a Map entry,
 * an array slot and 4 bytes of metadata, see AccessTable): Keyspace.keyOverhead.
 */
export const ACCESS_ENTRY = MAP_ENTRY + 8 + 4;
/** A TTL: its entry in the expires map, whose value is a boxed double. */
export const EXPIRE_ENTRY = MAP_ENTRY + HEAP_NUMBER;

/** Fixed and per-element costs of the value classes (object, tables, nodes). */
export const HASH_BASE = 232;
export const HASH_ENTRY = MAP_ENTRY;
export const SET_BASE = 224;
export const SET_MEMBER = SET_ENTRY;
/** SetValue's random-access index once built: a Map entry and an array slot per member. */
export const SET_INDEXED = MAP_ENTRY + 8;
export const LIST_BASE = 184;
export const LIST_SLOT = 8;
export const ZSET_BASE = 400;
/** Skiplist node (object + boxed score + amortised level arrays) and dict entry with boxed score. */
export const ZSET_MEMBER = 186;
/** A value type the model does not know (a stream before it reports its size). */
export const UNKNOWN_VALUE = 256;

/** Bytes V8 uses for a one-byte (latin1) string of this length. */
export function stringBytes(s: string): number {
  const n = s.length;
  return n <= 1 ? 0 : 16 + ((n + 7) & ~7);
}

/** What a value class exposes to the model; every field is kept up to date in O(1). */
export interface SizedValue extends RObject {
  /** Sum of stringBytes of the elements (fields and values, members). */
  elems?: number;
  /** The size last added to the database's total (owned by Db). */
  accounted?: number;
}

interface Counted {
  size?: number;
  length?: number;
  capacity?: number;
  indexed?: boolean;
  memoryBytes?: () => number;
}

/** Bytes a value holds, from its counters: O(1). */
export function valueBytes(v: Value): number {
  if (typeof v === 'string') return stringBytes(v);
  const o = v as SizedValue & Counted;
  const elems = o.elems ?? 0;
  switch (v.kind) {
    case Kind.Hash:
      return HASH_BASE + o.size! * HASH_ENTRY + elems;
    case Kind.Set:
      // The random-access index a read (SRANDMEMBER) may build is not counted: a read
      // must not change the accounting (see docs/memory.md).
      return SET_BASE + o.size! * SET_MEMBER + elems;
    case Kind.List:
      return LIST_BASE + (o.capacity ?? o.length!) * LIST_SLOT + elems;
    case Kind.ZSet:
      return ZSET_BASE + o.size! * ZSET_MEMBER + elems;
    default:
      return typeof o.memoryBytes === 'function' ? o.memoryBytes() : UNKNOWN_VALUE;
  }
}

/** The size of a stored value as last accounted (what its removal gives back). */
export function accountedBytes(v: Value): number {
  return typeof v === 'string' ? stringBytes(v) : ((v as SizedValue).accounted ?? 0);
}

/** Accounts a value being stored: returns its size and records it on the value. */
export function accountValue(v: Value): number {
  if (typeof v === 'string') return stringBytes(v);
  const b = valueBytes(v);
  (v as SizedValue).accounted = b;
  return b;
}

/**
 * A key's full cost: dict (and access-table) entries — `overhead`, the keyspace's
 * keyOverhead —, the key string, the value, its TTL.
 */
export function keyBytes(key: string, v: Value, hasTtl: boolean, overhead: number = KEY_OVERHEAD): number {
  return overhead + stringBytes(key) + valueBytes(v) + (hasTtl ? EXPIRE_ENTRY : 0);
}

// ------------------------------------------------------------------ LRU / LFU metadata

/**
 * Each key has one small integer of metadata, as Redis keeps 24 bits in its object
 * header. Under an LRU policy it is an access clock; under LFU, 16 bits of minutes and
 * an 8-bit logarithmic counter ((minutes << 8) | counter), exactly Redis's layout.
 *
 * The LRU clock ticks every 10 ms (Redis: 1 s) and wraps at 2^30 (~124 days), so it
 * stays a V8 small integer (stored inline in the Map, no allocation).
 */
export const LRU_RESOLUTION_MS = 10;
export const LRU_CLOCK_MAX = (1 << 30) - 1;
export const LFU_INIT_VAL = 5;

export function lruClock(nowMs: number): number {
  return Math.floor(nowMs / LRU_RESOLUTION_MS) & LRU_CLOCK_MAX;
}

/** Estimated idle time in ms of a key whose metadata holds LRU clock `lru`. */
export function lruIdleMs(lru: number, nowMs: number): number {
  const clock = lruClock(nowMs);
  const ticks = clock >= lru ? clock - lru : clock + (LRU_CLOCK_MAX - lru);
  return ticks * LRU_RESOLUTION_MS;
}

export function lfuMinutes(nowMs: number): number {
  return Math.floor(nowMs / 60000) & 0xffff;
}

/** Minutes elapsed since the LFU timestamp `ldt` (16-bit, wrapping). */
function lfuElapsed(ldt: number, nowMs: number): number {
  const now = lfuMinutes(nowMs);
  return now >= ldt ? now - ldt : 65535 - ldt + now;
}

/** The counter after decay by the elapsed decay periods (Redis's LFUDecrAndReturn). */
export function lfuDecayed(meta: number, nowMs: number, decayTime: number): number {
  const ldt = meta >>> 8;
  const counter = meta & 255;
  const periods = decayTime > 0 ? Math.floor(lfuElapsed(ldt, nowMs) / decayTime) : 0;
  return periods > counter ? 0 : counter - periods;
}

/** Logarithmic increment (Redis's LFULogIncr): the higher the counter, the rarer a step. */
export function lfuLogIncr(counter: number, logFactor: number, rand: number): number {
  if (counter === 255) return 255;
  const base = Math.max(0, counter - LFU_INIT_VAL);
  const p = 1 / (base * logFactor + 1);
  return rand < p ? counter + 1 : counter;
}

/** The metadata after one access under LFU: decay, increment, new timestamp. */
export function lfuTouch(meta: number, nowMs: number, logFactor: number, decayTime: number, rand: number): number {
  const counter = lfuLogIncr(lfuDecayed(meta, nowMs, decayTime), logFactor, rand);
  return (lfuMinutes(nowMs) << 8) | counter;
}

export function lfuNew(nowMs: number): number {
  return (lfuMinutes(nowMs) << 8) | LFU_INIT_VAL;
}

/**
 * Per-key access metadata with O(1) uniform random sampling: key → slot in a Map, the
 * keys in a dense array by slot, the metadata in an Int32Array by slot. Deleting moves
 * the last slot into the hole. Costs a Map entry, an array slot and 4 bytes per key, and
 * gives eviction a truly random sample, as Redis's dictGetSomeKeys does, whatever the
 * insertion order of hot and cold keys.
 */
export class AccessTable {
  private readonly slot = new Map<string, number>();
  private keys: string[] = [];
  private data = new Int32Array(16);

  get size(): number {
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.slot.has(key);
  }

  get(key: string): number | undefined {
    const i = this.slot.get(key);
    return i === undefined ? undefined : this.data[i];
  }

  /** Sets a key's metadata, adding the key when new. */
  set(key: string, v: number): void {
    const i = this.slot.get(key);
    if (i !== undefined) {
      this.data[i] = v;
      return;
    }
    const n = this.keys.length;
    if (n === this.data.length) {
      const next = new Int32Array(n * 2);
      next.set(this.data);
      this.data = next;
    }
    this.keys.push(key);
    this.data[n] = v;
    this.slot.set(key, n);
  }

  delete(key: string): boolean {
    const i = this.slot.get(key);
    if (i === undefined) return false;
    this.slot.delete(key);
    const last = this.keys.length - 1;
    const lastKey = this.keys.pop()!;
    if (i !== last) {
      this.keys[i] = lastKey;
      this.data[i] = this.data[last]!;
      this.slot.set(lastKey, i);
    }
    if (this.data.length > 64 && last < this.data.length / 4) this.data = this.data.slice(0, this.data.length / 2);
    return true;
  }

  clear(): void {
    this.slot.clear();
    this.keys = [];
    this.data = new Int32Array(16);
  }

  /** A uniformly random key, or undefined when empty. `r` is uniform in [0, 1). */
  randomKey(r: number): string | undefined {
    const n = this.keys.length;
    return n === 0 ? undefined : this.keys[Math.floor(r * n)];
  }
}

import { Kind, type RObject } from './values.js';

/**
 * A stream: entries ordered by ID in a chunked sorted array (O(log n) seek, O(1)
 * append at the tail, whole-chunk trimming from the head), plus consumer groups with
 * their pending entries lists (PEL) and consumers.
 *
 * IDs are 16-char latin1 strings: the 64-bit milliseconds then the 64-bit sequence,
 * both big-endian, so JS string comparison is ID order and the full unsigned 64-bit
 * range is kept without BigInt on the hot path.
 *
 * Entry chunks follow Redis's listpack nodes: a new chunk starts when the tail chunk
 * holds `nodeMaxEntries` entries (deleted ones included, as a listpack keeps them) or
 * about `nodeMaxBytes` bytes, so approximate (`~`) trimming removes the same whole nodes
 * redis-server would. A chunk is written as one listpack node in RDB.
 *
 * CONTRACT (other modules rely on it: RDB, COPY, commands): `new StreamValue()`,
 * `kind`, `length`, `lastId`, `maxDeletedId`, `entriesAdded`, `entries` (an IdMap of
 * field/value arrays), `groups`, `append`, `copy()`.
 */

export type StreamId = string;

const TWO32 = 4294967296;

function u64Chars(v: number | bigint): string {
  let hi: number;
  let lo: number;
  if (typeof v === 'number') {
    hi = Math.floor(v / TWO32);
    lo = v - hi * TWO32;
  } else {
    hi = Number((v >> 32n) & 0xffffffffn);
    lo = Number(v & 0xffffffffn);
  }
  return String.fromCharCode((hi >>> 24) & 255, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255, (lo >>> 24) & 255, (lo >>> 16) & 255, (lo >>> 8) & 255, lo & 255);
}

function u32At(s: string, at: number): number {
  return ((s.charCodeAt(at) << 24) | (s.charCodeAt(at + 1) << 16) | (s.charCodeAt(at + 2) << 8) | s.charCodeAt(at + 3)) >>> 0;
}

/** One 64-bit half of an ID (0 = ms, 8 = seq): a number when safe, else a bigint. */
export function idPart(id: StreamId, at: 0 | 8): number | bigint {
  const hi = u32At(id, at);
  const lo = u32At(id, at + 4);
  if (hi < 0x200000) return hi * TWO32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function makeId(ms: number | bigint, seq: number | bigint): StreamId {
  return u64Chars(ms) + u64Chars(seq);
}

export const MIN_ID: StreamId = '\0'.repeat(16);
export const MAX_ID: StreamId = '\xff'.repeat(16);

export function formatId(id: StreamId): string {
  return `${idPart(id, 0)}-${idPart(id, 8)}`;
}

export function idIsZero(id: StreamId): boolean {
  return id === MIN_ID;
}

/** The next ID (seq + 1, carrying into ms), or null after the largest one. */
export function idIncr(id: StreamId): StreamId | null {
  const b = new Array<number>(16);
  for (let i = 0; i < 16; i++) b[i] = id.charCodeAt(i);
  for (let i = 15; i >= 0; i--) {
    if (b[i] === 255) b[i] = 0;
    else {
      b[i]!++;
      return String.fromCharCode(...b);
    }
  }
  return null;
}

/** The previous ID, or null before 0-0. */
export function idDecr(id: StreamId): StreamId | null {
  const b = new Array<number>(16);
  for (let i = 0; i < 16; i++) b[i] = id.charCodeAt(i);
  for (let i = 15; i >= 0; i--) {
    if (b[i] === 0) b[i] = 255;
    else {
      b[i]!--;
      return String.fromCharCode(...b);
    }
  }
  return null;
}

const U64_MAX = 18446744073709551615n;
const SPACE = /^[ \t\n\v\f\r]*/;

/**
 * An unsigned 64-bit decimal as Redis's string2ull reads it: a plain integer, or what
 * C's strtoull accepts (leading spaces, a sign, leading zeros; a negative wraps).
 */
export function parseU64(s: string): number | bigint | null {
  if (s.length > 0 && s.length <= 15 && /^\d+$/.test(s) && (s.length === 1 || s.charCodeAt(0) !== 48)) return Number(s);
  // A canonical negative long long is refused outright.
  if (/^-[1-9]\d{0,18}$/.test(s) && BigInt(s) >= -9223372036854775808n) return null;
  const m = /^([+-]?)(\d+)$/.exec(s.replace(SPACE, ''));
  if (m === null) return null;
  let v = BigInt(m[2]!);
  if (v > U64_MAX) return null;
  if (m[1] === '-' && v !== 0n) v = U64_MAX + 1n - v;
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

// ------------------------------------------------------------------ ordered map by ID

/** A chunk of an IdMap: sorted IDs and their values; `added` counts appends (deleted included). */
export interface Chunk<T> {
  ids: StreamId[];
  vals: T[];
  added: number;
  bytes: number;
}

/** A position in an IdMap: chunk index and index within the chunk. */
export interface Pos {
  ci: number;
  i: number;
}

const SPLIT = 256;

/**
 * An ordered map from IDs to values: a sorted array of sorted chunks. Seek is a binary
 * search over chunk heads then within one chunk; insertion splits a chunk past SPLIT.
 */
export class IdMap<T> {
  chunks: Chunk<T>[] = [];
  size = 0;

  /** The chunk that would hold `id`: the last one whose first ID is <= id (0 if none). */
  private chunkFor(id: StreamId): number {
    const cs = this.chunks;
    let lo = 0;
    let hi = cs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cs[mid]!.ids[0]! <= id) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Position of the first ID >= id (ci === chunks.length when none). */
  seekGE(id: StreamId): Pos {
    if (this.chunks.length === 0) return { ci: 0, i: 0 };
    const ci = this.chunkFor(id);
    const ids = this.chunks[ci]!.ids;
    const i = lowerBound(ids, id);
    if (i < ids.length) return { ci, i };
    return { ci: ci + 1, i: 0 };
  }

  /** Position of the last ID <= id (ci === -1 when none). */
  seekLE(id: StreamId): Pos {
    if (this.chunks.length === 0) return { ci: -1, i: 0 };
    const ci = this.chunkFor(id);
    const ids = this.chunks[ci]!.ids;
    const i = lowerBound(ids, id);
    if (i < ids.length && ids[i] === id) return { ci, i };
    if (i > 0) return { ci, i: i - 1 };
    if (ci === 0) return { ci: -1, i: 0 };
    return { ci: ci - 1, i: this.chunks[ci - 1]!.ids.length - 1 };
  }

  get(id: StreamId): T | undefined {
    if (this.chunks.length === 0) return undefined;
    const c = this.chunks[this.chunkFor(id)]!;
    const i = lowerBound(c.ids, id);
    return c.ids[i] === id ? c.vals[i] : undefined;
  }

  has(id: StreamId): boolean {
    return this.get(id) !== undefined;
  }

  first(): StreamId | undefined {
    return this.chunks.length === 0 ? undefined : this.chunks[0]!.ids[0];
  }

  last(): StreamId | undefined {
    if (this.chunks.length === 0) return undefined;
    const ids = this.chunks[this.chunks.length - 1]!.ids;
    return ids[ids.length - 1];
  }

  /** Appends an ID greater than every present one, in a new chunk when asked (or when none). */
  append(id: StreamId, v: T, newChunk: boolean, bytes = 0): Chunk<T> {
    let c = this.chunks[this.chunks.length - 1];
    if (c === undefined || newChunk) {
      c = { ids: [], vals: [], added: 0, bytes: 0 };
      this.chunks.push(c);
    }
    c.ids.push(id);
    c.vals.push(v);
    c.added++;
    c.bytes += bytes;
    this.size++;
    return c;
  }

  /** Inserts or replaces; returns true when the ID was new. */
  set(id: StreamId, v: T): boolean {
    if (this.chunks.length === 0) {
      this.append(id, v, true);
      return true;
    }
    const ci = this.chunkFor(id);
    const c = this.chunks[ci]!;
    const i = lowerBound(c.ids, id);
    if (c.ids[i] === id) {
      c.vals[i] = v;
      return false;
    }
    c.ids.splice(i, 0, id);
    c.vals.splice(i, 0, v);
    c.added++;
    this.size++;
    if (c.ids.length > SPLIT) {
      const half = c.ids.length >> 1;
      const n: Chunk<T> = { ids: c.ids.splice(half), vals: c.vals.splice(half), added: 0, bytes: 0 };
      n.added = n.ids.length;
      c.added = c.ids.length;
      this.chunks.splice(ci + 1, 0, n);
    }
    return true;
  }

  /** Removes an ID; returns its value. */
  delete(id: StreamId): T | undefined {
    if (this.chunks.length === 0) return undefined;
    const ci = this.chunkFor(id);
    const c = this.chunks[ci]!;
    const i = lowerBound(c.ids, id);
    if (c.ids[i] !== id) return undefined;
    const v = c.vals[i]!;
    this.removeAt({ ci, i });
    return v;
  }

  /** Removes the element at a position (the chunk goes when it empties). */
  removeAt(p: Pos): void {
    const c = this.chunks[p.ci]!;
    if (p.i === 0 && c.ids.length > 1 && c.ids.length > 16) {
      // Trimming from a chunk's head is common (XTRIM, XACK in order): shift is cheaper than splice.
      c.ids.shift();
      c.vals.shift();
    } else {
      c.ids.splice(p.i, 1);
      c.vals.splice(p.i, 1);
    }
    this.size--;
    if (c.ids.length === 0) this.chunks.splice(p.ci, 1);
  }

  /** Removes the first chunk whole; returns how many elements it held. */
  dropFirstChunk(): number {
    const c = this.chunks.shift();
    if (c === undefined) return 0;
    this.size -= c.ids.length;
    return c.ids.length;
  }

  /**
   * Visits IDs in [start, end] ascending (or descending when rev), until `fn` returns
   * false. Changes to the map inside `fn` are not allowed.
   */
  range(start: StreamId, end: StreamId, rev: boolean, fn: (id: StreamId, v: T) => boolean | void): void {
    if (start > end || this.chunks.length === 0) return;
    const cs = this.chunks;
    if (!rev) {
      let { ci, i } = this.seekGE(start);
      for (; ci < cs.length; ci++, i = 0) {
        const c = cs[ci]!;
        for (; i < c.ids.length; i++) {
          const id = c.ids[i]!;
          if (id > end) return;
          if (fn(id, c.vals[i]!) === false) return;
        }
      }
    } else {
      let { ci, i } = this.seekLE(end);
      for (; ci >= 0; ci--) {
        const c = cs[ci]!;
        if (i < 0 || i >= c.ids.length) i = c.ids.length - 1;
        for (; i >= 0; i--) {
          const id = c.ids[i]!;
          if (id < start) return;
          if (fn(id, c.vals[i]!) === false) return;
        }
        i = -1;
      }
    }
  }

  *[Symbol.iterator](): IterableIterator<[StreamId, T]> {
    for (const c of this.chunks) for (let i = 0; i < c.ids.length; i++) yield [c.ids[i]!, c.vals[i]!];
  }
}

function lowerBound(a: StreamId[], id: StreamId): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ------------------------------------------------------------------ consumer groups

/** A pending entry: delivered to a consumer, not acknowledged yet. */
export interface Nack {
  consumer: Consumer;
  /** Last delivery time (ms). */
  deliveryTime: number;
  deliveryCount: number;
}

export class Consumer {
  readonly pel = new IdMap<Nack>();
  constructor(
    readonly name: string,
    public seenTime: number,
  ) {}
}

/** SCG_INVALID_ENTRIES_READ: the group's read counter is unknown. */
export const ENTRIES_READ_UNKNOWN = -1;

export class ConsumerGroup {
  readonly pel = new IdMap<Nack>();
  readonly consumers = new Map<string, Consumer>();
  constructor(
    readonly name: string,
    public lastId: StreamId,
    public entriesRead: number,
  ) {}

  /** Consumers in name (byte) order, as Redis's rax iterates them. */
  sortedConsumers(): Consumer[] {
    return [...this.consumers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

// ------------------------------------------------------------------ the stream

/** Approximate listpack size of a string element (for node-size limits). */
export function lpElementSize(s: string): number {
  const n = s.length;
  if (n > 0 && n <= 20 && /^-?\d+$/.test(s)) {
    const v = Number(s);
    if (String(v) === s) {
      const enc = v >= 0 && v <= 127 ? 1 : v >= -4096 && v <= 4095 ? 2 : v >= -32768 && v <= 32767 ? 3 : v >= -8388608 && v <= 8388607 ? 4 : v >= -2147483648 && v <= 2147483647 ? 5 : 9;
      return enc + 1;
    }
  }
  const hdr = n < 64 ? 1 : n < 4096 ? 2 : 5;
  const l = hdr + n;
  return l + (l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5);
}

/** V8 bytes of a one-byte string (as the memory model counts them). */
function strBytes(x: string): number {
  const n = x.length;
  return n <= 1 ? 0 : 16 + ((n + 7) & ~7);
}

/** Model sizes (bytes): an entry (ID string, field array, chunk slots), a pending entry, a group, a consumer. */
const ENTRY_BYTES = 96;
const FIELD_SLOT = 8;
const NACK_BYTES = 112;
const GROUP_BYTES = 320;
const CONSUMER_BYTES = 200;
const STREAM_BASE = 200;

function entryBytes(fields: string[]): number {
  let b = ENTRY_BYTES + fields.length * FIELD_SLOT;
  for (let i = 0; i < fields.length; i++) b += strBytes(fields[i]!);
  return b;
}

export class StreamValue implements RObject {
  readonly kind = Kind.Stream;
  /** Model bytes of the entries, kept up to date by append/deleteEntry/trim. */
  private entryBytes = 0;
  /** Entries: ID → flat [field, value, field, value ...]. */
  entries = new IdMap<string[]>();
  lastId: StreamId = MIN_ID;
  maxDeletedId: StreamId = MIN_ID;
  /** Entries ever added (Redis's entries_added). */
  entriesAdded = 0;
  groups: Map<string, ConsumerGroup> | null = null;

  get length(): number {
    return this.entries.size;
  }

  firstId(): StreamId {
    return this.entries.first() ?? MIN_ID;
  }

  /** Appends an entry with an ID greater than lastId. */
  append(id: StreamId, fields: string[], nodeMaxEntries: number, nodeMaxBytes: number): void {
    let bytes = 4;
    for (let i = 0; i < fields.length; i++) bytes += lpElementSize(fields[i]!);
    const cs = this.entries.chunks;
    const tail = cs[cs.length - 1];
    let fresh = tail === undefined;
    if (tail !== undefined) {
      if (nodeMaxBytes > 0 && tail.bytes + bytes > nodeMaxBytes) fresh = true;
      else if (nodeMaxEntries > 0 && tail.added >= nodeMaxEntries) fresh = true;
    }
    this.entries.append(id, fields, fresh, fresh ? bytes + 2 * fields.length + 16 : bytes);
    this.entryBytes += entryBytes(fields);
    this.lastId = id;
    this.entriesAdded++;
  }

  /** Appends an entry read from RDB (a new chunk for each listpack node); lastId and counters are set by the loader. */
  appendLoaded(id: StreamId, fields: string[], newChunk: boolean): void {
    this.entries.append(id, fields, newChunk);
    this.entryBytes += entryBytes(fields);
  }

  /** Deletes one entry (XDEL); returns whether it existed. */
  deleteEntry(id: StreamId): boolean {
    const f = this.entries.delete(id);
    if (f === undefined) return false;
    this.entryBytes -= entryBytes(f);
    if (id > this.maxDeletedId) this.maxDeletedId = id;
    return true;
  }

  /**
   * Trims by MAXLEN (`maxLen` >= 0) or MINID (`minId`), exactly or approximately (whole
   * chunks only, at most `limit` entries when limit > 0). Returns how many went.
   */
  trim(maxLen: number, minId: StreamId | null, approx: boolean, limit: number): number {
    let deleted = 0;
    const e = this.entries;
    while (e.chunks.length > 0) {
      if (minId === null && e.size <= maxLen) break;
      const c = e.chunks[0]!;
      const n = c.ids.length;
      if (limit > 0 && deleted + n > limit) break;
      const whole = minId === null ? e.size - n >= maxLen : c.ids[n - 1]! < minId;
      if (whole) {
        for (const f of c.vals) this.entryBytes -= entryBytes(f);
        deleted += e.dropFirstChunk();
        continue;
      }
      if (approx) break;
      // Exact: remove entries from this chunk's head while the condition holds.
      let k = 0;
      if (minId === null) k = e.size - maxLen;
      else while (k < n && c.ids[k]! < minId) k++;
      if (k > 0) {
        for (let i = 0; i < k; i++) this.entryBytes -= entryBytes(c.vals[i]!);
        c.ids.splice(0, k);
        c.vals.splice(0, k);
        e.size -= k;
        deleted += k;
      }
      break;
    }
    return deleted;
  }

  /** Redis's streamEstimateDistanceFromFirstEverEntry: the read counter of `id`, or -1 when unknown. */
  estimateEntriesRead(id: StreamId): number {
    if (this.entriesAdded === 0) return 0;
    if (this.length === 0 && id <= this.lastId) return this.entriesAdded;
    if (id === this.lastId) return this.entriesAdded;
    if (id > this.lastId) return ENTRIES_READ_UNKNOWN;
    const first = this.firstId();
    if (this.maxDeletedId === MIN_ID || this.maxDeletedId < first) {
      if (id < first) return this.entriesAdded - this.length;
      if (id === first) return this.entriesAdded - this.length + 1;
    }
    return ENTRIES_READ_UNKNOWN;
  }

  /** Whether deleted entries may lie in [start, end] (Redis's streamRangeHasTombstones). */
  hasTombstones(start: StreamId, end: StreamId = MAX_ID): boolean {
    if (this.length === 0 || this.maxDeletedId === MIN_ID) return false;
    return start <= this.maxDeletedId && end >= this.maxDeletedId;
  }

  /** The group's lag, or null when it cannot be known. */
  lag(g: ConsumerGroup): number | null {
    if (this.entriesAdded === 0) return 0;
    if (g.entriesRead !== ENTRIES_READ_UNKNOWN && !this.hasTombstones(g.lastId)) return this.entriesAdded - g.entriesRead;
    const read = this.estimateEntriesRead(g.lastId);
    return read === ENTRIES_READ_UNKNOWN ? null : this.entriesAdded - read;
  }

  createGroup(name: string, lastId: StreamId, entriesRead: number): ConsumerGroup | null {
    this.groups ??= new Map();
    if (this.groups.has(name)) return null;
    const g = new ConsumerGroup(name, lastId, entriesRead);
    this.groups.set(name, g);
    return g;
  }

  sortedGroups(): ConsumerGroup[] {
    if (this.groups === null) return [];
    return [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Bytes for the memory model: entries kept incrementally, plus groups (O(number of groups)). */
  memoryBytes(): number {
    let b = STREAM_BASE + this.entryBytes;
    if (this.groups !== null)
      for (const g of this.groups.values()) b += GROUP_BYTES + strBytes(g.name) + g.pel.size * NACK_BYTES + g.consumers.size * CONSUMER_BYTES;
    return b;
  }

  /** A deep copy (COPY). */
  copy(): StreamValue {
    const s = new StreamValue();
    for (const c of this.entries.chunks) s.entries.chunks.push({ ids: [...c.ids], vals: c.vals.map((v) => [...v]), added: c.added, bytes: c.bytes });
    s.entries.size = this.entries.size;
    s.entryBytes = this.entryBytes;
    s.lastId = this.lastId;
    s.maxDeletedId = this.maxDeletedId;
    s.entriesAdded = this.entriesAdded;
    for (const g of this.sortedGroups()) {
      const ng = s.createGroup(g.name, g.lastId, g.entriesRead)!;
      for (const cons of g.sortedConsumers()) ng.consumers.set(cons.name, new Consumer(cons.name, cons.seenTime));
      for (const [id, n] of g.pel) {
        const cons = ng.consumers.get(n.consumer.name)!;
        const nn: Nack = { consumer: cons, deliveryTime: n.deliveryTime, deliveryCount: n.deliveryCount };
        ng.pel.set(id, nn);
        cons.pel.set(id, nn);
      }
    }
    return s;
  }
}

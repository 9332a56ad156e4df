/**
 * SCAN-family cursors. A cursor names a live iterator over the collection being
 * scanned (the database's dictionary, a hash's map, a set, a sorted set). V8's Map and
 * Set iterators stay valid while the collection changes and visit every entry present
 * from start to end that is not deleted, which is exactly SCAN's guarantee; entries
 * added meanwhile may or may not be returned, as in Redis.
 *
 * Cursors are opaque decimal numbers (never 0, never reused). The table is bounded;
 * a cursor that is unknown (evicted, from before a restart, or made up) restarts the
 * iteration from the beginning: that may return elements twice, which SCAN allows,
 * but never skips one.
 */

interface Open {
  owner: object;
  it: Iterator<unknown>;
  /** The item read ahead to learn whether the iteration ended (handed out next time). */
  ahead: IteratorResult<unknown> | null;
  /** Items still to hand out before the scan ends (see `bound`). */
  left: number;
}

export interface StepOptions {
  bound?: number;
  readAhead?: boolean;
}

export class CursorTable {
  private nextId = 1;
  private readonly open = new Map<number, Open>();

  constructor(private readonly max = 10000) {}

  /**
   * Runs one SCAN step over `owner`: continues the iterator named by `cursor` (or starts
   * one with `start()`), hands up to `count` items to `emit`, and returns the next cursor
   * ("0" when done). `cursor` must already be validated as an unsigned integer string.
   *
   * Options:
   *  - `bound`: the collection's size when the scan starts. Insertion-ordered iterators
   *    (Map, Set) visit every entry present at the start before any entry added later,
   *    so after `bound` items every entry present for the whole scan has been handed
   *    out; stopping there makes a scan end even while entries are added faster than
   *    it reads them (as Redis's SCAN always ends).
   *  - `readAhead`: one more item is read so that an iteration that ends with this step
   *    answers "0" at once (as Redis does for small collections); that item is handed
   *    out by the next step, so `emit` must re-check it against the live collection.
   */
  step<T>(owner: object, cursor: string, start: () => Iterator<T>, count: number, emit: (item: T) => void, opts?: StepOptions): string {
    let it: Iterator<T> | undefined;
    let r: IteratorResult<T> | undefined;
    let left = Infinity;
    if (cursor !== '0') {
      const id = Number(cursor);
      const o = this.open.get(id);
      if (o !== undefined) {
        this.open.delete(id);
        if (o.owner === owner) {
          it = o.it as Iterator<T>;
          r = (o.ahead ?? undefined) as IteratorResult<T> | undefined;
          left = o.left;
        }
      }
    }
    if (it === undefined) {
      it = start();
      left = opts?.bound ?? Infinity;
    }
    for (let n = 0; n < count; n++) {
      if (left <= 0) return '0';
      if (r === undefined) r = it.next();
      if (r.done) return '0';
      left--;
      emit(r.value);
      r = undefined;
    }
    if (left <= 0) return '0';
    if (opts?.readAhead) {
      r = it.next();
      if (r.done) return '0';
    }
    const id = this.nextId++;
    this.open.set(id, { owner, it, ahead: r ?? null, left });
    if (this.open.size > this.max) {
      const oldest = this.open.keys().next().value!;
      this.open.delete(oldest);
    }
    return String(id);
  }

  get size(): number {
    return this.open.size;
  }
}

/** Validates a SCAN cursor argument as Redis does (an unsigned 64-bit integer). */
export function validCursor(s: string): boolean {
  return /^\d{1,20}$/.test(s) && BigInt(s) <= 18446744073709551615n;
}

const ULONG_MAX = 18446744073709551615n;

/**
 * Parses a SCAN cursor as Redis does (strtoul: optional sign, decimal digits, no
 * leading space, within 64 bits; a negative value wraps, an empty string is 0).
 * Returns the cursor as a canonical decimal string, or null when Redis answers
 * "invalid cursor".
 */
export function parseScanCursor(s: string): string | null {
  if (s === '0') return '0';
  if (/^\d{1,15}$/.test(s)) return String(Number(s));
  const m = /^([+-]?)(\d*)$/.exec(s);
  if (m === null) return null;
  if (m[2] === '') return m[1] === '' ? '0' : null;
  const v = BigInt(m[2]!);
  if (v > ULONG_MAX) return null;
  const wrapped = m[1] === '-' && v !== 0n ? ULONG_MAX + 1n - v : v;
  return String(wrapped);
}

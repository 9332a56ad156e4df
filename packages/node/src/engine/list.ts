import { Kind, type RObject } from './values.js';
import { stringBytes } from './memory.js';

/**
 * A list as a growable ring buffer: O(1) push and pop at both ends and O(1) access by
 * index; insertions and removals in the middle move the shorter side.
 */
export class ListValue implements RObject {
  readonly kind = Kind.List;
  private buf: (string | undefined)[] = new Array(4);
  private head = 0;
  private len = 0;
  /** Memory accounting (engine/memory.ts): bytes of the elements, and the size last accounted. */
  elems = 0;
  accounted = 0;

  /** Slots allocated in the ring buffer. */
  get capacity(): number {
    return this.buf.length;
  }

  get length(): number {
    return this.len;
  }

  private grow(): void {
    const old = this.buf;
    const cap = old.length;
    const next = new Array<string | undefined>(cap * 2);
    for (let i = 0; i < this.len; i++) next[i] = old[(this.head + i) & (cap - 1)];
    this.buf = next;
    this.head = 0;
  }

  pushTail(v: string): void {
    if (this.len === this.buf.length) this.grow();
    this.buf[(this.head + this.len) & (this.buf.length - 1)] = v;
    this.len++;
    this.elems += stringBytes(v);
  }

  pushHead(v: string): void {
    if (this.len === this.buf.length) this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = v;
    this.len++;
    this.elems += stringBytes(v);
  }

  popHead(): string | undefined {
    if (this.len === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.len--;
    this.elems -= stringBytes(v!);
    this.shrink();
    return v;
  }

  popTail(): string | undefined {
    if (this.len === 0) return undefined;
    const i = (this.head + this.len - 1) & (this.buf.length - 1);
    const v = this.buf[i];
    this.buf[i] = undefined;
    this.len--;
    this.elems -= stringBytes(v!);
    this.shrink();
    return v;
  }

  private shrink(): void {
    const cap = this.buf.length;
    if (cap > 64 && this.len < cap / 4) {
      const next = new Array<string | undefined>(cap / 2);
      for (let i = 0; i < this.len; i++) next[i] = this.buf[(this.head + i) & (cap - 1)];
      this.buf = next;
      this.head = 0;
    }
  }

  /** Element at index i (0-based from the head; must be in range). */
  at(i: number): string {
    return this.buf[(this.head + i) & (this.buf.length - 1)]!;
  }

  setAt(i: number, v: string): void {
    this.elems += stringBytes(v) - stringBytes(this.at(i));
    this.buf[(this.head + i) & (this.buf.length - 1)] = v;
  }

  /** Elements [start, stop] inclusive, clamped by the caller. */
  slice(start: number, stop: number): string[] {
    const out: string[] = [];
    for (let i = start; i <= stop; i++) out.push(this.at(i));
    return out;
  }

  toArray(): string[] {
    return this.slice(0, this.len - 1);
  }

  /** Inserts v so that it ends up at index i (0 ≤ i ≤ length), moving the shorter side. */
  insertAt(i: number, v: string): void {
    if (i <= 0) return this.pushHead(v);
    if (i >= this.len) return this.pushTail(v);
    if (this.len === this.buf.length) this.grow();
    const mask = this.buf.length - 1;
    const b = this.buf;
    if (i < this.len - i) {
      // Shift the i head elements one slot to the left.
      this.head = (this.head - 1) & mask;
      for (let k = 0; k < i; k++) b[(this.head + k) & mask] = b[(this.head + k + 1) & mask];
    } else {
      for (let k = this.len; k > i; k--) b[(this.head + k) & mask] = b[(this.head + k - 1) & mask];
    }
    b[(this.head + i) & mask] = v;
    this.len++;
    this.elems += stringBytes(v);
  }

  /** Index of the first element equal to v, searching from the head, or -1. */
  indexOf(v: string): number {
    for (let i = 0; i < this.len; i++) if (this.at(i) === v) return i;
    return -1;
  }

  /**
   * Removes elements equal to v, as LREM: up to `count` from the head (count > 0), up to
   * -count from the tail (count < 0), or all (count = 0). One pass; returns how many.
   */
  removeMatching(v: string, count: number): number {
    const limit = count === 0 ? Infinity : Math.abs(count);
    const n = this.len;
    const mask = this.buf.length - 1;
    const b = this.buf;
    let removed = 0;
    if (count >= 0) {
      let w = 0;
      for (let r = 0; r < n; r++) {
        const x = b[(this.head + r) & mask]!;
        if (removed < limit && x === v) {
          removed++;
          continue;
        }
        if (w !== r) b[(this.head + w) & mask] = x;
        w++;
      }
      for (let k = w; k < n; k++) b[(this.head + k) & mask] = undefined;
    } else {
      let w = n - 1;
      for (let r = n - 1; r >= 0; r--) {
        const x = b[(this.head + r) & mask]!;
        if (removed < limit && x === v) {
          removed++;
          continue;
        }
        if (w !== r) b[(this.head + w) & mask] = x;
        w--;
      }
      for (let k = 0; k <= w; k++) b[(this.head + k) & mask] = undefined;
      this.head = (this.head + removed) & mask;
    }
    this.len = n - removed;
    this.elems -= removed * stringBytes(v);
    this.fit();
    return removed;
  }

  /** Keeps elements [start, stop] (valid, inclusive) and drops the rest. */
  trim(start: number, stop: number): void {
    const mask = this.buf.length - 1;
    for (let k = 0; k < start; k++) this.elems -= stringBytes(this.buf[(this.head + k) & mask]!);
    for (let k = stop + 1; k < this.len; k++) this.elems -= stringBytes(this.buf[(this.head + k) & mask]!);
    for (let k = 0; k < start; k++) this.buf[(this.head + k) & mask] = undefined;
    for (let k = stop + 1; k < this.len; k++) this.buf[(this.head + k) & mask] = undefined;
    this.head = (this.head + start) & mask;
    this.len = stop - start + 1;
    this.fit();
  }

  /** Reallocates to the smallest power of two holding the content when far too large. */
  private fit(): void {
    const cap = this.buf.length;
    if (cap <= 64 || this.len >= cap / 4) return;
    let next = 4;
    while (next < this.len * 2) next *= 2;
    const nb = new Array<string | undefined>(next);
    for (let i = 0; i < this.len; i++) nb[i] = this.buf[(this.head + i) & (cap - 1)];
    this.buf = nb;
    this.head = 0;
  }

  /** Replaces the whole content (for LINSERT/LREM/LTRIM, which rewrite the middle). */
  replaceAll(items: string[]): void {
    let cap = 4;
    while (cap < items.length) cap *= 2;
    this.buf = new Array(cap);
    for (let i = 0; i < items.length; i++) this.buf[i] = items[i];
    this.head = 0;
    this.len = items.length;
    let elems = 0;
    for (let i = 0; i < items.length; i++) elems += stringBytes(items[i]!);
    this.elems = elems;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (let i = 0; i < this.len; i++) yield this.at(i);
  }
}

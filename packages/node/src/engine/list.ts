import { Kind, type RObject } from './values.js';

/**
 * A list as a growable ring buffer: O(1) push and pop at both ends and O(1) access by
 * index; insertions and removals in the middle move the shorter side.
 */
export class ListValue implements RObject {
  readonly kind = Kind.List;
  private buf: (string | undefined)[] = new Array(4);
  private head = 0;
  private len = 0;

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
  }

  pushHead(v: string): void {
    if (this.len === this.buf.length) this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = v;
    this.len++;
  }

  popHead(): string | undefined {
    if (this.len === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.len--;
    this.shrink();
    return v;
  }

  popTail(): string | undefined {
    if (this.len === 0) return undefined;
    const i = (this.head + this.len - 1) & (this.buf.length - 1);
    const v = this.buf[i];
    this.buf[i] = undefined;
    this.len--;
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

  /** Replaces the whole content (for LINSERT/LREM/LTRIM, which rewrite the middle). */
  replaceAll(items: string[]): void {
    let cap = 4;
    while (cap < items.length) cap *= 2;
    this.buf = new Array(cap);
    for (let i = 0; i < items.length; i++) this.buf[i] = items[i];
    this.head = 0;
    this.len = items.length;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (let i = 0; i < this.len; i++) yield this.at(i);
  }
}

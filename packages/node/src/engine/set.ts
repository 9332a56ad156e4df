import { Kind, type RObject } from './values.js';

/**
 * A set with O(1) add, delete, membership and random member: members live in a dense
 * array and a map from member to its index (swap-remove on delete).
 */
export class SetValue implements RObject {
  readonly kind = Kind.Set;
  private readonly index = new Map<string, number>();
  private readonly items: string[] = [];

  get size(): number {
    return this.items.length;
  }

  has(m: string): boolean {
    return this.index.has(m);
  }

  add(m: string): boolean {
    if (this.index.has(m)) return false;
    this.index.set(m, this.items.length);
    this.items.push(m);
    return true;
  }

  delete(m: string): boolean {
    const i = this.index.get(m);
    if (i === undefined) return false;
    const last = this.items.pop()!;
    if (i < this.items.length) {
      this.items[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(m);
    return true;
  }

  /** A uniformly random member (the set must not be empty). */
  random(rand: () => number): string {
    return this.items[Math.floor(rand() * this.items.length)]!;
  }

  /** Member by dense index (0..size-1); order changes as members are removed. */
  at(i: number): string {
    return this.items[i]!;
  }

  values(): IterableIterator<string> {
    return this.index.keys();
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.index.keys();
  }

  /** True when every member is an integer (what Redis would store as an intset). */
  allIntegers(): boolean {
    for (const m of this.items) if (!/^-?(0|[1-9]\d{0,18})$/.test(m)) return false;
    return true;
  }
}

import { Kind, type RObject } from './values.js';
import { stringBytes } from './memory.js';

/** Sets up to this size answer random picks by walking the members; larger ones build an index. */
const WALK_MAX = 16;

/**
 * A set with O(1) add, delete and membership, and O(1) random member.
 *
 * Members live in one JS Set (insertion-ordered, two words per entry). Most sets never
 * see SPOP/SRANDMEMBER, so the dense array + index that make random picks O(1) (with
 * swap-remove on delete) are built only on the first random access to a set larger
 * than WALK_MAX, and kept up to date from then on. Small sets pick by walking.
 */
export class SetValue implements RObject {
  readonly kind = Kind.Set;
  private readonly members = new Set<string>();
  /** Members by dense position (null until a random access needed it). */
  private items: string[] | null = null;
  /** Member → its position in `items` (null with `items`). */
  private index: Map<string, number> | null = null;
  /** Memory accounting (engine/memory.ts): bytes of the members, and the size last accounted. */
  elems = 0;
  accounted = 0;

  /** True once the random-access index exists (it costs memory per member). */
  get indexed(): boolean {
    return this.items !== null;
  }

  get size(): number {
    return this.members.size;
  }

  has(m: string): boolean {
    return this.members.has(m);
  }

  add(m: string): boolean {
    const before = this.members.size;
    this.members.add(m);
    if (this.members.size === before) return false;
    this.elems += stringBytes(m);
    if (this.items !== null) {
      this.index!.set(m, this.items.length);
      this.items.push(m);
    }
    return true;
  }

  delete(m: string): boolean {
    if (!this.members.delete(m)) return false;
    this.elems -= stringBytes(m);
    if (this.items !== null) {
      const index = this.index!;
      const i = index.get(m)!;
      const last = this.items.pop()!;
      if (i < this.items.length) {
        this.items[i] = last;
        index.set(last, i);
      }
      index.delete(m);
      if (this.members.size <= WALK_MAX / 2) {
        // Small again: drop the index.
        this.items = null;
        this.index = null;
      }
    }
    return true;
  }

  /** A uniformly random member (the set must not be empty). */
  random(rand: () => number): string {
    return this.at(Math.floor(rand() * this.members.size));
  }

  /**
   * Member by position (0..size-1): a fixed order while the set does not change, which
   * changes as members are added or removed.
   */
  at(i: number): string {
    if (this.items === null) {
      if (this.members.size <= WALK_MAX) {
        let k = 0;
        for (const m of this.members) if (k++ === i) return m;
        throw new RangeError(`set position ${i} out of range`);
      }
      this.buildIndex();
    }
    return this.items![i]!;
  }

  private buildIndex(): void {
    const items = Array.from(this.members);
    const index = new Map<string, number>();
    for (let i = 0; i < items.length; i++) index.set(items[i]!, i);
    this.items = items;
    this.index = index;
  }

  values(): IterableIterator<string> {
    return this.members.values();
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.members.values();
  }

  /** True when every member is an integer (what Redis would store as an intset). */
  allIntegers(): boolean {
    for (const m of this.members) if (!/^-?(0|[1-9]\d{0,18})$/.test(m)) return false;
    return true;
  }
}

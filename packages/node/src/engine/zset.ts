import { Kind, type RObject } from './values.js';

/**
 * A sorted set. CONTRACT (other modules rely on it: DUMP/RESTORE, RDB, SCAN):
 *  - `new ZSetValue()`, `size`, `score(member)`, `insert(member, score)` for a member
 *    not present, `entries()` yielding [member, score] in ascending (score, member) order.
 * The zsets family completes the implementation (skiplist with spans for O(log n) ranks).
 */
export class ZSetValue implements RObject {
  readonly kind = Kind.ZSet;
  readonly dict = new Map<string, number>();
  get size(): number {
    return this.dict.size;
  }
  score(member: string): number | undefined {
    return this.dict.get(member);
  }
  insert(member: string, score: number): void {
    this.dict.set(member, score);
  }
  *entries(): IterableIterator<[string, number]> {
    const all = [...this.dict.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    yield* all;
  }
}

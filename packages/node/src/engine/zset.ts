import { Kind, type RObject } from './values.js';
import { stringBytes } from './memory.js';

/**
 * A sorted set: a skiplist with spans (rank in O(log n)) ordered by (score, member),
 * members compared as bytes (latin1 strings compare by char code, which is byte order),
 * plus the member → score map.
 *
 * CONTRACT (other modules rely on it: DUMP/RESTORE, RDB, SCAN):
 *  - `new ZSetValue()`, `kind`, `size`, `score(member)`, `insert(member, score)` for a
 *    member not present, `entries()` yielding [member, score] in ascending (score,
 *    member) order, and `dict` (member → score, iterated by ZSCAN).
 */

const MAX_LEVEL = 32;

/**
 * A skiplist node. `next` is the successor at level 0 (whose span is always 1); a node
 * of level L > 1 also has `up[i - 1]`, the successor at level i, and `span[i - 1]`, the
 * number of level-0 steps it skips, for 1 <= i < L. The 3/4 of nodes with one level
 * share two empty arrays, so they cost one small object each.
 */
export class ZNode {
  back: ZNode | null = null;
  next: ZNode | null = null;
  constructor(
    public member: string,
    public score: number,
    readonly up: (ZNode | null)[],
    readonly span: number[],
  ) {}
}

const NO_UP: (ZNode | null)[] = [];
const NO_SPANS: number[] = [];

/** The successor of x at level i. */
const fw = (x: ZNode, i: number): ZNode | null => (i === 0 ? x.next : x.up[i - 1]!);
function setFw(x: ZNode, i: number, n: ZNode | null): void {
  if (i === 0) x.next = n;
  else x.up[i - 1] = n;
}
/** The span of x at level i >= 1. */
const spanAt = (x: ZNode, i: number): number => x.span[i - 1]!;

/** Nodes visited by searches (rank, by rank, range starts): lets tests assert O(log n). */
export const zsetSearchStats = { visits: 0 };

/** A score interval; `minex`/`maxex` make a bound exclusive. */
export interface ScoreRange {
  min: number;
  max: number;
  minex: boolean;
  maxex: boolean;
}

/** A lexicographic bound: `-` (below all), `+` (above all) or a member, inclusive or not. */
export type LexBound = { inf: -1 | 1 } | { inf: 0; value: string; ex: boolean };

export interface LexRange {
  min: LexBound;
  max: LexBound;
}

// Levels need randomness; it does not affect any observable result, so a fixed-seed
// generator keeps the engine deterministic without an injected source.
let seed = 0x9e3779b9;
function randomLevel(): number {
  let level = 1;
  for (;;) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    // Two random bits at a time: P(level up) = 1/4, as Redis's ZSKIPLIST_P.
    let bits = seed >>> 0;
    for (let k = 0; k < 16; k++) {
      if ((bits & 3) !== 0 || level >= MAX_LEVEL) return level;
      level++;
      bits >>>= 2;
    }
  }
}

/** (score, member) order: negative when a sorts before b. */
function cmp(s1: number, m1: string, s2: number, m2: string): number {
  if (s1 !== s2) return s1 < s2 ? -1 : 1;
  return m1 < m2 ? -1 : m1 > m2 ? 1 : 0;
}

function gteMin(v: number, r: ScoreRange): boolean {
  return r.minex ? v > r.min : v >= r.min;
}
function lteMax(v: number, r: ScoreRange): boolean {
  return r.maxex ? v < r.max : v <= r.max;
}
function lexGteMin(v: string, b: LexBound): boolean {
  if (b.inf !== 0) return b.inf < 0;
  return b.ex ? v > b.value : v >= b.value;
}
function lexLteMax(v: string, b: LexBound): boolean {
  if (b.inf !== 0) return b.inf > 0;
  return b.ex ? v < b.value : v <= b.value;
}

/** True when no score can be in the range. */
export function scoreRangeEmpty(r: ScoreRange): boolean {
  return r.min > r.max || (r.min === r.max && (r.minex || r.maxex));
}

/** True when no member can be in the range. */
export function lexRangeEmpty(r: LexRange): boolean {
  const a = r.min;
  const b = r.max;
  if (a.inf === 1 || b.inf === -1) return true;
  if (a.inf === -1 || b.inf === 1) return false;
  const av = (a as { value: string }).value;
  const bv = (b as { value: string }).value;
  return av > bv || (av === bv && ((a as { ex: boolean }).ex || (b as { ex: boolean }).ex));
}

export class ZSetValue implements RObject {
  readonly kind = Kind.ZSet;
  readonly dict = new Map<string, number>();
  /** Memory accounting (engine/memory.ts): bytes of the members, and the size last accounted. */
  elems = 0;
  accounted = 0;
  // The head's level arrays grow with the list's level: a small set does not pay for 32 levels.
  private readonly head = new ZNode('', -Infinity, [], []);
  private tail: ZNode | null = null;
  private level = 1;
  // Scratch arrays for update paths (one set per value would cost memory; share them).
  private static readonly update: ZNode[] = new Array<ZNode>(MAX_LEVEL);
  private static readonly rankAt: number[] = new Array<number>(MAX_LEVEL).fill(0);

  get size(): number {
    return this.dict.size;
  }

  score(member: string): number | undefined {
    return this.dict.get(member);
  }

  has(member: string): boolean {
    return this.dict.has(member);
  }

  /** Adds a member that is not present. */
  insert(member: string, score: number): void {
    this.dict.set(member, score);
    this.elems += stringBytes(member);
    this.slInsert(member, score);
  }

  /**
   * Sets a member's score, adding it when absent. Returns true when it was added.
   * A score change that keeps the node's position updates it in place.
   */
  set(member: string, score: number): boolean {
    const old = this.dict.get(member);
    if (old === undefined) {
      this.insert(member, score);
      return true;
    }
    if (old === score) return false;
    this.dict.set(member, score);
    this.slUpdate(member, old, score);
    return false;
  }

  /** Removes a member; returns whether it was there. */
  delete(member: string): boolean {
    const s = this.dict.get(member);
    if (s === undefined) return false;
    this.dict.delete(member);
    this.elems -= stringBytes(member);
    this.slDelete(member, s);
    return true;
  }

  *entries(): IterableIterator<[string, number]> {
    for (let x = this.head.next; x !== null; x = x.next) yield [x.member, x.score];
  }

  /** The lowest node, or null when empty. */
  first(): ZNode | null {
    return this.head.next;
  }

  /** The highest node, or null when empty. */
  last(): ZNode | null {
    return this.tail;
  }

  /** 0-based rank of a member in ascending (or, with reverse, descending) order. */
  rank(member: string, reverse = false): number | undefined {
    const score = this.dict.get(member);
    if (score === undefined) return undefined;
    let x = this.head;
    let rank = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null && cmp(n.score, n.member, score, member) <= 0; n = fw(x, i)) {
        rank += i === 0 ? 1 : spanAt(x, i);
        x = n;
        zsetSearchStats.visits++;
      }
      if (x !== this.head && x.member === member) break;
    }
    // rank is 1-based here
    return reverse ? this.dict.size - rank : rank - 1;
  }

  /** The node at a 0-based ascending rank (must be in range). */
  byRank(rank: number): ZNode | null {
    if (rank < 0 || rank >= this.dict.size) return null;
    const target = rank + 1;
    let x = this.head;
    let traversed = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null; n = fw(x, i)) {
        const sp = i === 0 ? 1 : spanAt(x, i);
        if (traversed + sp > target) break;
        traversed += sp;
        x = n;
        zsetSearchStats.visits++;
      }
      if (traversed === target) return x;
    }
    return null;
  }

  /** The first node with a score in the range, or null. */
  firstInScore(r: ScoreRange): ZNode | null {
    if (scoreRangeEmpty(r) || this.tail === null || !gteMin(this.tail.score, r)) return null;
    let x = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null && !gteMin(n.score, r); n = fw(x, i)) {
        x = n;
        zsetSearchStats.visits++;
      }
    }
    const n = x.next;
    return n !== null && lteMax(n.score, r) ? n : null;
  }

  /** The last node with a score in the range, or null. */
  lastInScore(r: ScoreRange): ZNode | null {
    const f = this.head.next;
    if (scoreRangeEmpty(r) || f == null || !lteMax(f.score, r)) return null;
    let x = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null && lteMax(n.score, r); n = fw(x, i)) {
        x = n;
        zsetSearchStats.visits++;
      }
    }
    return x !== this.head && gteMin(x.score, r) ? x : null;
  }

  /** The first node in the lexicographic range (meaningful when all scores are equal), or null. */
  firstInLex(r: LexRange): ZNode | null {
    if (lexRangeEmpty(r) || this.tail === null || !lexGteMin(this.tail.member, r.min)) return null;
    let x = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null && !lexGteMin(n.member, r.min); n = fw(x, i)) {
        x = n;
        zsetSearchStats.visits++;
      }
    }
    const n = x.next;
    return n !== null && lexLteMax(n.member, r.max) ? n : null;
  }

  /** The last node in the lexicographic range, or null. */
  lastInLex(r: LexRange): ZNode | null {
    const f = this.head.next;
    if (lexRangeEmpty(r) || f == null || !lexLteMax(f.member, r.max)) return null;
    let x = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null && lexLteMax(n.member, r.max); n = fw(x, i)) {
        x = n;
        zsetSearchStats.visits++;
      }
    }
    return x !== this.head && lexGteMin(x.member, r.min) ? x : null;
  }

  /** Number of members with a score in the range, in O(log n). */
  countScore(r: ScoreRange): number {
    const a = this.firstInScore(r);
    if (a === null) return 0;
    const b = this.lastInScore(r)!;
    return this.rank(b.member)! - this.rank(a.member)! + 1;
  }

  /** Number of members in the lexicographic range, in O(log n). */
  countLex(r: LexRange): number {
    const a = this.firstInLex(r);
    if (a === null) return 0;
    const b = this.lastInLex(r)!;
    return this.rank(b.member)! - this.rank(a.member)! + 1;
  }

  /** Removes the members at ascending ranks start..end (inclusive, in range); returns how many. */
  deleteRankRange(start: number, end: number): number {
    if (start > end || start >= this.dict.size) return 0;
    let n = this.byRank(start);
    let removed = 0;
    for (let k = start; k <= end && n !== null; k++) {
      const next = n.next;
      this.delete(n.member);
      removed++;
      n = next;
    }
    return removed;
  }

  /** Removes the members with a score in the range; returns how many. */
  deleteScoreRange(r: ScoreRange): number {
    let n = this.firstInScore(r);
    let removed = 0;
    while (n !== null && lteMax(n.score, r)) {
      const next = n.next;
      this.delete(n.member);
      removed++;
      n = next;
    }
    return removed;
  }

  /** Removes the members in the lexicographic range; returns how many. */
  deleteLexRange(r: LexRange): number {
    let n = this.firstInLex(r);
    let removed = 0;
    while (n !== null && lexLteMax(n.member, r.max)) {
      const next = n.next;
      this.delete(n.member);
      removed++;
      n = next;
    }
    return removed;
  }

  /** Removes and returns the lowest (or, with max, highest) member; null when empty. */
  pop(max: boolean): [string, number] | null {
    const n = max ? this.tail : this.head.next;
    if (n === null) return null;
    this.delete(n.member);
    return [n.member, n.score];
  }

  // ------------------------------------------------------------------ skiplist

  private slInsert(member: string, score: number): void {
    const update = ZSetValue.update;
    const rankAt = ZSetValue.rankAt;
    let x = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      rankAt[i] = i === this.level - 1 ? 0 : rankAt[i + 1]!;
      for (let n = fw(x, i); n != null && cmp(n.score, n.member, score, member) < 0; n = fw(x, i)) {
        rankAt[i]! += i === 0 ? 1 : spanAt(x, i);
        x = n;
      }
      update[i] = x;
    }
    const level = randomLevel();
    if (level > this.level) {
      for (let i = this.level; i < level; i++) {
        rankAt[i] = 0;
        update[i] = this.head;
        this.head.up[i - 1] = null;
        this.head.span[i - 1] = this.dict.size - 1; // the length before this insert
      }
      this.level = level;
    }
    const node = level > 1 ? new ZNode(member, score, new Array<ZNode | null>(level - 1), new Array<number>(level - 1)) : new ZNode(member, score, NO_UP, NO_SPANS);
    for (let i = 0; i < level; i++) {
      const u = update[i]!;
      setFw(node, i, fw(u, i));
      setFw(u, i, node);
      if (i > 0) {
        // rankAt[0] - rankAt[i]: steps between update[i] and update[0]
        node.span[i - 1] = u.span[i - 1]! - (rankAt[0]! - rankAt[i]!);
        u.span[i - 1] = rankAt[0]! - rankAt[i]! + 1;
      }
    }
    for (let i = level; i < this.level; i++) update[i]!.span[i - 1]!++;
    node.back = update[0] === this.head ? null : update[0]!;
    if (node.next != null) node.next.back = node;
    else this.tail = node;
  }

  private slDelete(member: string, score: number): void {
    const update = ZSetValue.update;
    let x = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null && cmp(n.score, n.member, score, member) < 0; n = fw(x, i)) x = n;
      update[i] = x;
    }
    const node = x.next;
    if (node === null || node.member !== member) throw new Error('zset: skiplist out of sync with dict');
    this.unlink(node, update);
  }

  private unlink(node: ZNode, update: ZNode[]): void {
    for (let i = 0; i < this.level; i++) {
      const u = update[i]!;
      if (fw(u, i) === node) {
        if (i > 0) u.span[i - 1]! += node.span[i - 1]! - 1;
        setFw(u, i, fw(node, i));
      } else if (i > 0) {
        u.span[i - 1]!--;
      }
    }
    const nx = node.next;
    if (nx !== null) nx.back = node.back;
    else this.tail = node.back;
    while (this.level > 1 && fw(this.head, this.level - 1) === null) this.level--;
  }

  private slUpdate(member: string, old: number, score: number): void {
    const update = ZSetValue.update;
    let x = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = fw(x, i); n != null && cmp(n.score, n.member, old, member) < 0; n = fw(x, i)) x = n;
      update[i] = x;
    }
    const node = x.next;
    if (node === null || node.member !== member) throw new Error('zset: skiplist out of sync with dict');
    // Still between its neighbours: change in place.
    const prev = node.back;
    const nx = node.next;
    if ((prev === null || cmp(prev.score, prev.member, score, member) < 0) && (nx === null || cmp(nx.score, nx.member, score, member) > 0)) {
      node.score = score;
      return;
    }
    this.unlink(node, update);
    this.slInsert(member, score);
  }

  /** Checks the skiplist's invariants (tests). */
  check(): void {
    let count = 0;
    let prev: ZNode | null = null;
    for (let x = this.head.next; x !== null; x = x.next) {
      if (x.back !== prev) throw new Error('bad back link');
      if (prev !== null && cmp(prev.score, prev.member, x.score, x.member) >= 0) throw new Error('out of order');
      if (this.dict.get(x.member) !== x.score) throw new Error('dict mismatch');
      prev = x;
      count++;
    }
    if (count !== this.dict.size) throw new Error(`count ${count} != ${this.dict.size}`);
    if (this.tail !== prev) throw new Error('bad tail');
    // spans: rank by walking each level must match
    for (let i = 1; i < this.level; i++) {
      let x: ZNode = this.head;
      let rank = 0;
      for (let n = fw(x, i); n != null; n = fw(x, i)) {
        rank += spanAt(x, i);
        if (this.rank(n.member) !== rank - 1) throw new Error(`bad span at level ${i}`);
        x = n;
      }
    }
  }
}

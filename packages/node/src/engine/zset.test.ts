import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ZSetValue, zsetSearchStats, type LexBound, type ScoreRange, type ZNode } from './zset.js';

/** The naive model: an array kept sorted by (score, member). */
class Model {
  items: [string, number][] = [];
  private sort(): void {
    this.items.sort((a, b) => (a[1] !== b[1] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
  set(m: string, s: number): void {
    const i = this.items.findIndex((e) => e[0] === m);
    if (i >= 0) this.items[i]![1] = s;
    else this.items.push([m, s]);
    this.sort();
  }
  delete(m: string): boolean {
    const i = this.items.findIndex((e) => e[0] === m);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }
}

const inScore = (s: number, r: ScoreRange) => (r.minex ? s > r.min : s >= r.min) && (r.maxex ? s < r.max : s <= r.max);
const geLex = (v: string, b: LexBound) => (b.inf !== 0 ? b.inf < 0 : b.ex ? v > b.value : v >= b.value);
const leLex = (v: string, b: LexBound) => (b.inf !== 0 ? b.inf > 0 : b.ex ? v < b.value : v <= b.value);

function walk(from: ZNode | null, until: (n: ZNode) => boolean): string[] {
  const out: string[] = [];
  for (let n = from; n !== null && until(n) && out.length < 10000; n = n.next) out.push(n.member);
  return out;
}

const member = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd', '\x00', '\xff'), maxLength: 3 });
// (-0 is not generated: the commands normalise it to 0 before it reaches the engine.)
const score = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(-Infinity, Infinity, 0.5));
const op = fc.oneof(
  fc.record({ t: fc.constant('set' as const), m: member, s: score }),
  fc.record({ t: fc.constant('del' as const), m: member }),
  fc.record({ t: fc.constant('pop' as const), max: fc.boolean() }),
  fc.record({ t: fc.constant('delrank' as const), a: fc.nat(20), b: fc.nat(20) }),
  fc.record({ t: fc.constant('delscore' as const), min: score, max: score, minex: fc.boolean(), maxex: fc.boolean() }),
);
const lexBound = fc.oneof(
  fc.constant<LexBound>({ inf: -1 }),
  fc.constant<LexBound>({ inf: 1 }),
  fc.record({ inf: fc.constant(0 as const), value: member, ex: fc.boolean() }),
);

describe('ZSetValue skiplist', () => {
  it('matches a sorted-array model under random operations', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const z = new ZSetValue();
        const m = new Model();
        for (const o of ops) {
          if (o.t === 'set') {
            expect(z.set(o.m, o.s)).toBe(!m.items.some((e) => e[0] === o.m));
            m.set(o.m, o.s);
          } else if (o.t === 'del') {
            expect(z.delete(o.m)).toBe(m.delete(o.m));
          } else if (o.t === 'pop') {
            const e = o.max ? m.items.pop() : m.items.shift();
            expect(z.pop(o.max)).toEqual(e ?? null);
          } else if (o.t === 'delrank') {
            const [a, b] = [Math.min(o.a, o.b), Math.max(o.a, o.b)];
            const end = Math.min(b, m.items.length - 1);
            const want = a <= end ? end - a + 1 : 0;
            if (want > 0) m.items.splice(a, want);
            expect(z.deleteRankRange(a, end)).toBe(want);
          } else {
            const r = { min: o.min, max: o.max, minex: o.minex, maxex: o.maxex };
            const before = m.items.length;
            m.items = m.items.filter((e) => !inScore(e[1], r));
            expect(z.deleteScoreRange(r)).toBe(before - m.items.length);
          }
          z.check();
        }
        expect([...z.entries()]).toEqual(m.items);
        expect(z.size).toBe(m.items.length);
        m.items.forEach(([mem, s], i) => {
          expect(z.score(mem)).toBe(s);
          expect(z.rank(mem)).toBe(i);
          expect(z.rank(mem, true)).toBe(m.items.length - 1 - i);
          expect(z.byRank(i)!.member).toBe(mem);
        });
        expect(z.byRank(m.items.length)).toBeNull();
        expect(z.last()?.member).toBe(m.items.at(-1)?.[0]);
      }),
      { numRuns: 300 },
    );
  });

  it('answers score ranges and counts like the model', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(member, score), { maxLength: 60 }),
        score,
        score,
        fc.boolean(),
        fc.boolean(),
        (pairs, min, max, minex, maxex) => {
          const z = new ZSetValue();
          const m = new Model();
          for (const [mem, s] of pairs) {
            z.set(mem, s);
            m.set(mem, s);
          }
          const r = { min, max, minex, maxex };
          const want = m.items.filter((e) => inScore(e[1], r)).map((e) => e[0]);
          const first = z.firstInScore(r);
          expect(walk(first, (n) => inScore(n.score, r))).toEqual(want);
          expect(z.lastInScore(r)?.member).toBe(want.at(-1));
          expect(z.countScore(r)).toBe(want.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('answers lex ranges, counts and lex deletes like the model (equal scores)', () => {
    fc.assert(
      fc.property(fc.array(member, { maxLength: 60 }), lexBound, lexBound, (members, min, max) => {
        const z = new ZSetValue();
        const m = new Model();
        for (const mem of members) {
          z.set(mem, 0);
          m.set(mem, 0);
        }
        const r = { min, max };
        const want = m.items.filter((e) => geLex(e[0], min) && leLex(e[0], max)).map((e) => e[0]);
        expect(walk(z.firstInLex(r), (n) => leLex(n.member, max))).toEqual(want);
        expect(z.lastInLex(r)?.member).toBe(want.at(-1));
        expect(z.countLex(r)).toBe(want.length);
        expect(z.deleteLexRange(r)).toBe(want.length);
        z.check();
        expect(z.size).toBe(m.items.length - want.length);
      }),
      { numRuns: 500 },
    );
  });

  it('orders members as bytes and keeps an in-place score update ordered', () => {
    const z = new ZSetValue();
    z.insert('b', 1);
    z.insert('\xff', 1);
    z.insert('a', 1);
    z.insert('A', 1);
    expect([...z.entries()].map((e) => e[0])).toEqual(['A', 'a', 'b', '\xff']);
    z.set('a', 1.5);
    z.set('A', 3);
    z.check();
    expect([...z.entries()]).toEqual([
      ['b', 1],
      ['\xff', 1],
      ['a', 1.5],
      ['A', 3],
    ]);
  });

  it('ranks in a 200k-member set visit O(log n) nodes', () => {
    const z = new ZSetValue();
    const n = 200_000;
    for (let i = 0; i < n; i++) z.insert('m' + i, i);
    const before = zsetSearchStats.visits;
    for (let k = 0; k < 100; k++) {
      const i = (k * 7919) % n;
      expect(z.rank('m' + i)).toBe(i);
      expect(z.rank('m' + i, true)).toBe(n - 1 - i);
      expect(z.byRank(i)!.member).toBe('m' + i);
    }
    expect(z.countScore({ min: 1000, max: 150_000, minex: false, maxex: true })).toBe(149_000);
    expect(z.firstInScore({ min: 77_777.5, max: Infinity, minex: false, maxex: false })!.member).toBe('m77778');
    // 300 searches + 3 range starts; a linear walk would be ~10^7 visits.
    const perSearch = (zsetSearchStats.visits - before) / 303;
    expect(perSearch).toBeLessThan(200);
  });
});

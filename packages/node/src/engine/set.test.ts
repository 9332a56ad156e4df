import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SetValue } from './set.js';

/** Every position 0..size-1 names a distinct member, and together they are the set. */
function positions(s: SetValue): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.size; i++) out.push(s.at(i));
  return out;
}

describe('SetValue', () => {
  it('agrees with a JS Set under random adds, deletes and random picks (index built, kept, dropped)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('add', 'del', 'pick'), fc.integer({ min: 0, max: 60 })), { maxLength: 400 }),
        (ops) => {
          const s = new SetValue();
          const ref = new Set<string>();
          for (const [op, n] of ops) {
            const m = `m${n}`;
            if (op === 'add') expect(s.add(m)).toBe(!ref.has(m) && ref.add(m) !== undefined);
            else if (op === 'del') expect(s.delete(m)).toBe(ref.delete(m));
            else if (ref.size > 0) expect(ref.has(s.random(() => n / 61))).toBe(true);
            expect(s.size).toBe(ref.size);
            expect(s.has(m)).toBe(ref.has(m));
          }
          expect([...s]).toEqual([...ref]);
          expect(positions(s).sort()).toEqual([...ref].sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random picks reach every member of small and large sets', () => {
    for (const size of [1, 5, 16, 17, 200]) {
      const s = new SetValue();
      for (let i = 0; i < size; i++) s.add(`x${i}`);
      const seen = new Set<string>();
      for (let k = 0; k < size * 50 && seen.size < size; k++) seen.add(s.random(Math.random));
      expect(seen.size).toBe(size);
    }
  });

  it('allIntegers', () => {
    const s = new SetValue();
    s.add('1');
    s.add('-20');
    expect(s.allIntegers()).toBe(true);
    s.add('01');
    expect(s.allIntegers()).toBe(false);
  });
});

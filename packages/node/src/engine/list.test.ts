import { describe, expect, it } from 'vitest';
import { ListValue } from './list.js';

/** A seeded generator (LCG) so a failure replays. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
}

describe('ListValue against an array model', () => {
  it('keeps the same content through random operations that wrap the ring', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const r = rng(seed);
      const l = new ListValue();
      let m: string[] = [];
      for (let step = 0; step < 5000; step++) {
        const v = String(r(6));
        const op = r(9);
        if (op === 0) (l.pushHead(v), m.unshift(v));
        else if (op === 1) (l.pushTail(v), m.push(v));
        else if (op === 2) expect(l.popHead()).toBe(m.shift());
        else if (op === 3) expect(l.popTail()).toBe(m.pop());
        else if (op === 4) {
          const i = r(m.length + 1);
          l.insertAt(i, v);
          m.splice(i, 0, v);
        } else if (op === 5) {
          const count = r(7) - 3;
          let removed = 0;
          const limit = count === 0 ? Infinity : Math.abs(count);
          if (count >= 0) m = m.filter((x) => !(x === v && removed < limit && ++removed));
          else m = m.reverse().filter((x) => !(x === v && removed < limit && ++removed)).reverse();
          expect(l.removeMatching(v, count)).toBe(removed);
        } else if (op === 6 && m.length > 0) {
          const a = r(m.length);
          const b = a + r(m.length - a);
          l.trim(a, b);
          m = m.slice(a, b + 1);
        } else if (op === 7) expect(l.indexOf(v)).toBe(m.indexOf(v));
        else if (m.length > 0) {
          const i = r(m.length);
          l.setAt(i, v);
          m[i] = v;
        }
        expect(l.length).toBe(m.length);
        if (step % 97 === 0) expect(l.toArray()).toEqual(m);
      }
      expect(l.toArray()).toEqual(m);
    }
  });

  it('shrinks its buffer after large removals', () => {
    const l = new ListValue();
    for (let i = 0; i < 10000; i++) l.pushTail(String(i % 3));
    l.trim(10, 19);
    expect(l.toArray()).toEqual(['1', '2', '0', '1', '2', '0', '1', '2', '0', '1']);
    expect((l as unknown as { buf: unknown[] }).buf.length).toBeLessThanOrEqual(64);
    for (let i = 0; i < 10000; i++) l.pushHead('x');
    expect(l.removeMatching('x', 0)).toBe(10000);
    expect(l.length).toBe(10);
    expect((l as unknown as { buf: unknown[] }).buf.length).toBeLessThanOrEqual(64);
  });
});

import { describe, expect, it } from 'vitest';
import { estimateBytes } from './server.js';

describe('MEMORY USAGE estimate', () => {
  it('counts strings by length and containers by their elements', () => {
    expect(estimateBytes('x', 5)).toBe(24);
    expect(estimateBytes('x'.repeat(100), 5)).toBe(16 + 104);
    const m = new Map<string, string>();
    for (let i = 0; i < 100; i++) m.set(`f${i}`, 'v'.repeat(50));
    const all = estimateBytes(m, Infinity);
    expect(all).toBeGreaterThan(100 * (50 + 2));
    // Sampling five elements of a uniform map estimates close to the full walk.
    expect(Math.abs(estimateBytes(m, 5) - all) / all).toBeLessThan(0.05);
    expect(estimateBytes([], 5)).toBe(16);
  });
});

import { describe, expect, it } from 'vitest';
import { evenRanges, parseWeights, rebalanceTargets, weightedCounts } from './cluster.js';

describe('rebalance targets', () => {
  it('equal weights split as evenRanges does; any weights add up to 16384', () => {
    for (let n = 1; n <= 7; n++) expect(weightedCounts(new Array(n).fill(1))).toEqual(evenRanges(n).map(([a, b]) => b - a + 1));
    expect(weightedCounts([3, 1])).toEqual([12288, 4096]);
    expect(weightedCounts([2, 1])).toEqual([10923, 5461]);
    expect(weightedCounts([1, 0, 1])).toEqual([8192, 0, 8192]);
    for (const w of [[0.5, 1.5, 3], [7, 11, 13, 1], [1e-3, 1]]) expect(weightedCounts(w).reduce((a, b) => a + b, 0)).toBe(16384);
    expect(() => weightedCounts([0, 0])).toThrow(/add up to 0/);
  });

  it('shards without a weight weigh 1; weights parse from repeated and comma-separated options', () => {
    expect(Object.fromEntries(rebalanceTargets(['a', 'b', 'c'], new Map([['a', 2]])))).toEqual({ a: 8192, b: 4096, c: 4096 });
    expect(Object.fromEntries(parseWeights(['a=2', 'b=1,c=0.5']))).toEqual({ a: 2, b: 1, c: 0.5 });
    for (const bad of ['a', 'a=', '=1', 'a=-1', 'a=x']) expect(() => parseWeights([bad])).toThrow(/invalid weight/);
  });
});

/**
 * The deterministic simulator over many seeds. Every seed checks, after every step:
 * Election Safety, Log Matching, Leader Completeness, State Machine Safety and that
 * committed entries are never lost across crashes; after the faults stop, liveness.
 *
 * Replay one seed:  SONIC_RAFT_SEED=1234 npx vitest run packages/controller/src/raft/sim.test.ts
 * Explore more:     SONIC_RAFT_SEEDS=20000 SONIC_RAFT_SEED_BASE=777 npx vitest run packages/controller/src/raft/sim.test.ts
 */
import { describe, expect, it } from 'vitest';
import { runSeed, type SimStats } from './sim.js';

const env = process.env;
const SEEDS = Number(env.SONIC_RAFT_SEEDS ?? 2000);
const BASE = Number(env.SONIC_RAFT_SEED_BASE ?? 1);
const CHUNKS = 4;

/** Steps and size derived from the seed: a few hundred to a few thousand steps, 3 or 5 voters. */
function shape(seed: number): { nodes: number; steps: number } {
  const nodes = env.SONIC_RAFT_NODES ? Number(env.SONIC_RAFT_NODES) : seed % 2 === 0 ? 5 : 3;
  const x = Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) >>> 0;
  const steps = env.SONIC_RAFT_STEPS ? Number(env.SONIC_RAFT_STEPS) : 300 + (x % 11700);
  return { nodes, steps };
}

/**
 * Seeds that once failed, kept whatever the default range. (A seed replays the same run only
 * while the simulator draws its faults the same way; the scenario tests in raft.test.ts pin
 * the bugs themselves.)
 */
const REGRESSIONS: Array<{ seed: number; nodes: number; steps: number; bug: string }> = [
  { seed: 291, nodes: 3, steps: 1562, bug: 'a deposed leader sent, after a term change, entries it had already cut from its disk' },
  { seed: 63, nodes: 3, steps: 9498, bug: 'no pre-vote: a node with a short log and a fast clock restarted everyone\'s election timer with its vote requests, for ever' },
  { seed: 195, nodes: 3, steps: 9622, bug: 'the same livelock, with a removed leader' },
  { seed: 100883, nodes: 3, steps: 9702, bug: 'a candidate behind in term whose peers never sent it anything (stale vote requests were ignored, not refused)' },
  { seed: 102251, nodes: 3, steps: 11922, bug: 'the same, with three diverging uncommitted configurations' },
];

describe('Raft under the deterministic simulator', () => {
  if (env.SONIC_RAFT_SEED) {
    const seed = Number(env.SONIC_RAFT_SEED);
    it(`seed ${seed}`, () => {
      const { nodes, steps } = shape(seed);
      const st = runSeed(seed, nodes, steps);
      console.log(JSON.stringify(st));
    });
    return;
  }
  it('regression seeds', () => {
    for (const r of REGRESSIONS) runSeed(r.seed, r.nodes, r.steps);
  });
  const per = Math.ceil(SEEDS / CHUNKS);
  for (let c = 0; c < CHUNKS; c++) {
    const lo = BASE + c * per;
    const hi = Math.min(BASE + SEEDS, lo + per) - 1;
    it(`Election Safety, Log Matching, Leader Completeness, State Machine Safety after every step, then liveness: seeds ${lo}..${hi}`, () => {
      const stats: SimStats[] = [];
      for (let seed = lo; seed <= hi; seed++) {
        const { nodes, steps } = shape(seed);
        stats.push(runSeed(seed, nodes, steps));
      }
      // The faults the simulator claims to inject happen in a good share of the runs
      // (about half of what 500 seeds showed when this was written).
      const share = (key: keyof SimStats): number => stats.filter((st) => st[key] > 0).length / stats.length;
      expect(share('crashes')).toBeGreaterThan(0.5);
      expect(share('crashesBetweenPersistAndAdvance')).toBeGreaterThan(0.3);
      expect(share('tornWrites')).toBeGreaterThan(0.3);
      expect(share('partitions')).toBeGreaterThan(0.4);
      expect(share('duplicated')).toBeGreaterThan(0.3);
      expect(share('compactions')).toBeGreaterThan(0.3);
      expect(share('snapshotsInstalled')).toBeGreaterThan(0.2);
      expect(share('membershipCommitted')).toBeGreaterThan(0.15);
      expect(stats.filter((st) => st.leaders > 1).length / stats.length).toBeGreaterThan(0.5);
    });
  }
});

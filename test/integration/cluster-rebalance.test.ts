/**
 * `sonic cluster rebalance --weight` / `--threshold`, and `sonic cluster check` / `fix`
 * for keys stranded on a node whose shard does not own their slots.
 *
 * Weights: a 2-shard cluster is rebalanced 5:4 (9,102 / 7,282 slots), re-running is a
 * no-op, a threshold the imbalance stays under moves nothing, a plain rebalance brings it
 * back to even; keys written before stay readable through ioredis `Cluster`.
 *
 * Stray keys: a node that held data before it joined (started standalone, SAVE, then
 * restarted with --controllers on the same dir) becomes a shard that owns no slot but
 * holds keys of every slot: `check` names the node, the count and the fix; `fix` deletes
 * them on that node only (the owners' copies stay) and `check` is clean again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { startSonic, tempDir } from './harness.js';
import { client, startClusterNode, status, stopEverything, waitFor } from './controller-helpers.js';
import { clusterCli, slotCounts, startSonicCluster, type SonicCluster } from './cluster-helpers.js';

let cl: SonicCluster;

afterAll(async () => {
  await stopEverything();
});

async function readBack(io: Cluster, prefix: string, n: number): Promise<string[]> {
  const vals = await Promise.all(Array.from({ length: n }, (_, i) => io.get(`${prefix}:${i}`)));
  return vals.flatMap((v, i) => (v === `v${i}` ? [] : [`${prefix}:${i}`]));
}

describe('cluster rebalance by weight, check and fix of stray keys', () => {
  it('rebalance --weight moves slots in proportion, --threshold holds small imbalances, re-runs are no-ops', async () => {
    cl = await startSonicCluster({ shards: 2, replicas: 0 });
    const ctl = ['--controllers', cl.g.list()];
    const io = new Cluster(cl.seeds, { retryDelayOnMoved: 0, redisOptions: { maxRetriesPerRequest: 5 } });
    io.on('error', () => {});
    await Promise.all(Array.from({ length: 1000 }, (_, i) => io.set(`pre:${i}`, `v${i}`)));

    for (const bad of [['--weight', 'shard-1=-1'], ['--weight', 'shard-1'], ['--weight', 'shard-9=2'], ['--threshold', 'x']]) {
      const r = await clusterCli(['rebalance', ...bad, ...ctl]);
      expect(r.code, r.out).toBe(1);
      expect(r.out.trim().split('\n')).toHaveLength(1);
    }

    const w = await clusterCli(['rebalance', '--weight', 'shard-1=5', '--weight', 'shard-2=4', ...ctl]);
    console.log(w.out);
    expect(w.code, w.out).toBe(0);
    expect(w.out).toContain('shard-1: 8192 slots, weight 5, target 9102');
    expect(w.out).toMatch(/moved 910\/910 slots/);
    expect(w.out).toContain('[OK] 910 slots moved');
    expect(Object.fromEntries(await slotCounts(cl))).toEqual({ 'shard-1': 9102, 'shard-2': 7282 });
    expect(await readBack(io, 'pre', 1000)).toEqual([]);

    const again = await clusterCli(['rebalance', '--weight', 'shard-1=5,shard-2=4', ...ctl]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('nothing to move');
    // Even targets are 8192 each: shard-1 is 11 % above its share, under a 20 % threshold.
    const held = await clusterCli(['rebalance', '--threshold', '20', ...ctl]);
    expect(held.code, held.out).toBe(0);
    expect(held.out).toContain('within 20% of its target');
    expect(Object.fromEntries(await slotCounts(cl))).toEqual({ 'shard-1': 9102, 'shard-2': 7282 });

    const even = await clusterCli(['rebalance', ...ctl]);
    expect(even.code, even.out).toBe(0);
    expect(even.out).toContain('[OK] 910 slots moved');
    expect(Object.fromEntries(await slotCounts(cl))).toEqual({ 'shard-1': 8192, 'shard-2': 8192 });
    expect(await readBack(io, 'pre', 1000)).toEqual([]);
    const check = await clusterCli(['check', ...ctl]);
    expect(check.code, check.out).toBe(0);
    expect(check.out).toContain('no stray keys');
    io.disconnect();
  }, 50000);

  it('check reports keys a node holds in slots its shard does not own; fix deletes them there only', async () => {
    const ctl = ['--controllers', cl.g.list()];
    // A node with data of its own: 500 keys written standalone and saved.
    const dir = tempDir('sonic-stray-');
    const solo = await startSonic(['--dir', dir]);
    const s = client(solo.port);
    for (let i = 0; i < 500; i++) await s.set(`pre:${i}`, 'stale');
    await s.call('SAVE');
    s.disconnect();
    await solo.stop();
    const p3 = await startClusterNode({ id: 'p3', controllers: cl.g.list(), args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '3000', '--dir', dir] });
    await waitFor('p3 registered as a primary', async () => (await status(cl.g))?.config.nodes.find((n) => n.id === 'p3')?.role === 'primary');
    const c3 = client(p3.port);
    expect(await c3.dbsize()).toBe(500);

    const check = await waitFor('check sees p3 with its configuration', async () => {
      const r = await clusterCli(['check', ...ctl]);
      return r.out.includes('p3') ? r : null;
    });
    console.log(check.out);
    expect(check.code).toBe(1);
    expect(check.out).toMatch(/\[ERR\] p3 \(shard-3, 127\.0\.0\.1:\d+\) holds 500 keys in \d+ slots its shard does not own/);
    expect(check.out).toContain("'sonic cluster fix' deletes them");

    const fix = await clusterCli(['fix', ...ctl]);
    console.log(fix.out);
    expect(fix.code, fix.out).toBe(0);
    expect(fix.out).toContain('p3 (shard-3): deleting 500 keys');
    expect(fix.out).toContain('[OK] 500 stray keys deleted');
    expect(fix.out).toContain('no stray keys');
    expect(await c3.dbsize()).toBe(0);
    c3.disconnect();
    // The owners' values are untouched.
    const io = new Cluster(cl.seeds, { redisOptions: { maxRetriesPerRequest: 5 } });
    io.on('error', () => {});
    expect(await readBack(io, 'pre', 500)).toEqual([]);
    io.disconnect();
    const again = await clusterCli(['fix', ...ctl]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('no stray keys');
  }, 40000);
});

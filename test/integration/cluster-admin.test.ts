/**
 * `sonic cluster add-node` / `remove-node`: a 2-shard cluster gets a third primary
 * (started with --controllers --cluster-enabled yes), `add-node --rebalance` gives it an
 * even share of the slots, `remove-node` moves them back to the two shards and drops
 * the node and its shard. Every key written before stays readable through ioredis
 * `Cluster`, re-running either verb is a no-op, and `sonic cluster check` is clean.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { kill, startClusterNode, status, stopEverything, waitFor } from './controller-helpers.js';
import { clusterCli, slotCounts, startSonicCluster } from './cluster-helpers.js';

afterAll(async () => {
  await stopEverything();
});

describe('cluster add-node / remove-node', () => {
  it('adds a primary with --rebalance, removes it again: slots move, nothing lost, check clean', async () => {
    const cl = await startSonicCluster({ shards: 2, replicas: 0 });
    const ctl = ['--controllers', cl.g.list()];
    const io = new Cluster(cl.seeds, { retryDelayOnMoved: 0, redisOptions: { maxRetriesPerRequest: 5 } });
    io.on('error', () => {});
    await Promise.all(Array.from({ length: 1000 }, (_, i) => io.set(`pre:${i}`, `v${i}`)));

    const p3 = await startClusterNode({ id: 'p3', controllers: cl.g.list(), args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '3000'] });
    const add = await clusterCli(['add-node', `${p3.host}:${p3.port}`, '--rebalance', ...ctl]);
    console.log(add.out);
    expect(add.code, add.out).toBe(0);
    expect(add.out).toContain('[OK] p3');
    expect(add.out).toContain('[OK] 5461 slots moved');
    const s1 = (await status(cl.g))!;
    const shard3 = s1.config.shards.find((s) => s.primary === 'p3')!.id;
    const counts = await slotCounts(cl);
    expect(counts.get(shard3)).toBe(5461);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(16384);
    // Re-running is a no-op.
    const again = await clusterCli(['add-node', `${p3.host}:${p3.port}`, '--rebalance', ...ctl]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('nothing to move');
    const read1 = await Promise.all(Array.from({ length: 1000 }, (_, i) => io.get(`pre:${i}`)));
    expect(read1.filter((v, i) => v !== `v${i}`).length).toBe(0);
    await Promise.all(Array.from({ length: 500 }, (_, i) => io.set(`mid:${i}`, `m${i}`)));

    const rm = await clusterCli(['remove-node', 'p3', ...ctl]);
    console.log(rm.out);
    expect(rm.code, rm.out).toBe(0);
    expect(rm.out).toContain('[OK] 5461 slots moved');
    expect(rm.out).toContain('[OK] p3 removed');
    await kill(p3);
    // A running node registers again until it is stopped: re-running removes it if it did.
    const rm2 = await clusterCli(['remove-node', `${p3.host}:${p3.port}`, ...ctl]);
    expect(rm2.code, rm2.out).toBe(0);
    await waitFor('p3 and its shard are gone', async () => {
      const s = await status(cl.g);
      return s !== null && !s.config.nodes.some((n) => n.id === 'p3') && !s.config.shards.some((x) => x.id === shard3);
    }, 10000);
    expect(Object.fromEntries(await slotCounts(cl))).toEqual({ 'shard-1': 8192, 'shard-2': 8192 });

    const pre = await Promise.all(Array.from({ length: 1000 }, (_, i) => io.get(`pre:${i}`)));
    const mid = await Promise.all(Array.from({ length: 500 }, (_, i) => io.get(`mid:${i}`)));
    const missing = [...pre.flatMap((v, i) => (v === `v${i}` ? [] : [`pre:${i}`])), ...mid.flatMap((v, i) => (v === `m${i}` ? [] : [`mid:${i}`]))];
    expect(missing.length, missing.slice(0, 10).join(', ')).toBe(0);
    const check = await clusterCli(['check', ...ctl]);
    expect(check.code, check.out).toBe(0);
    expect(check.out).toContain('[OK]');
    io.disconnect();
  }, 60000);
});

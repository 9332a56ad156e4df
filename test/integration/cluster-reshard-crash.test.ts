/**
 * Resharding through crashes (repl-sync-mode sync): slots move from shard-1 to a new
 * shard-3 under an ioredis `Cluster` load and shard-1's primary (the source) is
 * SIGKILLed in the middle; then slots move back from shard-3 to shard-1 and shard-1's
 * new primary (now the target) is SIGKILLed in the middle. The controllers fail over,
 * the promoted replicas take the open migrations up from the start of each slot, the
 * moves finish, and every acknowledged write is present.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { kill, startClusterNode, status, stopEverything, waitFor, type ClusterProc } from './controller-helpers.js';
import { clusterCli, Load, missingFromLoads, retryingCluster, slotCounts, startSonicCluster } from './cluster-helpers.js';

afterAll(async () => {
  await stopEverything();
});

const SYNC = ['--repl-sync-mode', 'sync', '--repl-sync-timeout', '2000'];

describe('online resharding through crashes', () => {
  it('SIGKILL of the source primary, then of the target primary, during moves: resumed, nothing acknowledged lost', async () => {
    const cl = await startSonicCluster({ shards: 2, replicas: [2, 1], downAfterMs: 500, args: SYNC });
    const args = ['--cluster-enabled', 'yes', '--cluster-node-timeout', '3000', ...SYNC];
    const p3 = await startClusterNode({ id: 'p3', controllers: cl.g.list(), args: [...args, '--cluster-shard', 'shard-3'] });
    await Promise.all(['r3a', 'r3b'].map((id) => startClusterNode({ id, controllers: cl.g.list(), replicaOf: p3, args })));
    await waitFor('shard-3 formed', async () => (await status(cl.g))?.config.shards.find((x) => x.id === 'shard-3')?.replicas.length === 2);
    const byId = new Map<string, ClusterProc>([...cl.all.map((n) => [n.id, n] as const)]);
    const io = retryingCluster(cl.seeds);
    for (let i = 0; i < 1000; i++) await io.set(`pre:${i}`, `v${i}`);
    const T = Date.now();
    const mark = (m: string) => console.log(`${Date.now() - T} ms: ${m}`);
    const load = new Load((k, v) => io.set(k, v), (k) => io.incr(k), (k, f, v) => io.hset(k, f, v), 'io', 4, false);
    await waitFor('the load runs', () => load.acked.length > 50, 10000);

    // 1. shard-1 → shard-3; the source primary dies in the middle.
    const out = clusterCli(['reshard', '--from', 'shard-1', '--to', 'shard-3', '--slots', '1500', '--controllers', cl.g.list()]);
    await waitFor('some slots moved', async () => ((await slotCounts(cl)).get('shard-3') ?? 0) >= 300, 20000, 50);
    mark('kill p1');
    await kill(cl.primaries[0]!);
    const r1 = await out;
    mark(`reshard 1 done: ${r1.code === 0 ? r1.out.trim().split('\n').pop() : r1.out}`);
    expect(r1.code, r1.out).toBe(0);
    const s1 = (await status(cl.g))!;
    const newP1 = s1.config.shards.find((x) => x.id === 'shard-1')!.primary;
    expect(['r1a', 'r1b']).toContain(newP1);
    expect(Object.fromEntries(await slotCounts(cl))).toMatchObject({ 'shard-1': 8192 - 1500, 'shard-3': 1500 });

    // 2. shard-3 → shard-1; the target primary (shard-1's new one) dies in the middle.
    const back = clusterCli(['reshard', '--from', 'shard-3', '--to', 'shard-1', '--slots', '1500', '--controllers', cl.g.list()]);
    await waitFor('some slots moved back', async () => ((await slotCounts(cl)).get('shard-3') ?? 1500) <= 1200, 20000, 50);
    mark(`kill ${newP1}`);
    await kill(byId.get(newP1)!);
    const r2 = await back;
    mark(`reshard 2 done: ${r2.code === 0 ? r2.out.trim().split('\n').pop() : r2.out}`);
    expect(r2.code, r2.out).toBe(0);
    expect(Object.fromEntries(await slotCounts(cl))).toMatchObject({ 'shard-1': 8192, 'shard-3': 0 });
    await load.stop();
    mark(`load stopped: ${load.acked.length} acked, errors: ${[...new Set(load.errors)].slice(0, 5).join(' | ')}`);

    const s2 = (await status(cl.g))!;
    expect(s2.config.shards.find((x) => x.id === 'shard-1')!.primary).not.toBe(newP1);
    // A fresh client on the living nodes reads everything back.
    const alive = cl.all.filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => ({ host: n.host, port: n.port }));
    const check = new Cluster(alive);
    check.on('error', () => {});
    const missing = await missingFromLoads(check, [load]);
    for (let i = 0; i < 1000; i++) if ((await check.get(`pre:${i}`)) !== `v${i}`) missing.push(`pre:${i}`);
    check.disconnect();
    console.log(`reshard through crashes: ${load.acked.length} acked SETs, ${load.errors.length} client errors retried, ${missing.length} lost`);
    expect(missing).toEqual([]);
    io.disconnect();
  }, 90000);
});

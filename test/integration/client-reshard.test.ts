/**
 * @sonic/client while slots move: `sonic cluster reshard` moves 1024 slots from shard-1
 * to shard-2 of a 3-shard cluster under a workload through a client with
 * pushed topology and one that follows the nodes (MOVED + one refresh at a time). No
 * client error, nothing acknowledged lost; the pushed client applies each configuration
 * once and never asks the nodes. Then, on the same cluster: pipelines, a transaction,
 * cross-slot MGET/MSET/DEL, scripts (EVALSHA then EVAL), a blocking pop, and the client in
 * standalone mode through `sonic router`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CrossSlotError, sharedWatch } from '@sonic/client';
import { client, closeClients, expectNothingLost } from './client-helpers.js';
import { status, stopEverything, waitFor } from './controller-helpers.js';
import { startRouter, stopRouters } from './router-helpers.js';
import { clusterCli, Load, slotCounts, startSonicCluster, type SonicCluster } from './cluster-helpers.js';

let cl: SonicCluster;
afterAll(async () => {
  closeClients();
  await stopRouters();
  await stopEverything();
});


describe('client while slots move', () => {
  it('1024 slots move from shard-1 to shard-2 under load: no client error, nothing lost, one table update per configuration', async () => {
    // No replicas: slot moves are between primaries, and a starved machine starts 3 nodes sooner than 6.
    cl = await startSonicCluster({ replicas: 0 });
    const pushed = client({ controllers: cl.g.list() });
    const seeded = client({ nodes: cl.seeds });
    await Promise.all([pushed.ready(), seeded.ready()]);
    const watch = sharedWatch(cl.g.list());
    await waitFor('the watch holds the current epoch', async () => (await status(cl.g))!.config.epoch === watch.config?.epoch, 5000);
    let updates = 0;
    pushed.on('topology', () => updates++);
    const changes0 = watch.changes;
    const refreshes0 = seeded.refreshes;
    const loads = [
      new Load((k, v) => pushed.set(k, v), (k) => pushed.incr(k), (k, f, v) => pushed.hset(k, f, v), 'p', 4),
      new Load((k, v) => seeded.set(k, v), (k) => seeded.incr(k), (k, f, v) => seeded.hset(k, f, v), 's', 3),
    ];
    await waitFor('the load runs', () => loads.every((l) => l.acked.length > 100), 10000);
    const up = await clusterCli(['reshard', '--from', 'shard-1', '--to', 'shard-2', '--slots', '1024', '--controllers', cl.g.list()]);
    expect(up.code, up.out).toBe(0);
    expect(Object.fromEntries(await slotCounts(cl))).toEqual({ 'shard-1': 5461 - 1024, 'shard-2': 5462 + 1024, 'shard-3': 5461 });
    await waitFor('the watch holds the final epoch', async () => (await status(cl.g))!.config.epoch === watch.config?.epoch, 5000);
    await new Promise((r) => setTimeout(r, 300));
    for (const l of loads) await l.stop();
    for (const l of loads) expect(l.errors.length, `${l.prefix}: ${[...new Set(l.errors)].join(' | ')}`).toBe(0);
    await expectNothingLost(cl.seeds, loads);
    const changes = watch.changes - changes0;
    expect(changes).toBeGreaterThan(0);
    expect(updates).toBe(changes);
    expect(pushed.refreshes).toBe(0);
    const acked = loads.reduce((n, l) => n + l.acked.length, 0);
    console.log(`client reshard: 1024 slots moved under load, ${acked} acked SETs (+INCR, HSET), 0 errors, 0 lost; pushed client: ${changes} configuration(s), ${updates} table update(s), 0 node refreshes; seed-mode client: ${seeded.refreshes - refreshes0} refreshes`);
  }, 120_000);

  it('pipelines, a transaction, cross-slot multi-key commands, scripts and a blocking pop on the cluster', async () => {
    const c = client({ controllers: cl.g.list() });
    await c.ready();
    const keys = Array.from({ length: 50 }, (_, i) => `multi:${i}`);
    expect(await c.mset(...(keys.flatMap((k) => [k, `v-${k}`]) as [string, string]))).toBe('OK');
    expect(await c.mget(...(keys as [string]))).toEqual(keys.map((k) => `v-${k}`));
    expect(await c.exists(...(keys as [string]))).toBe(50);
    expect(await c.del(...(keys.slice(0, 25) as [string]))).toBe(25);
    expect(await c.unlink(...(keys as [string]))).toBe(25);

    const p = c.pipeline();
    for (let i = 0; i < 100; i++) p.set(`pl:${i}`, String(i)).incr(`pl:${i}`);
    const res = await p.exec();
    expect(res.length).toBe(200);
    expect(res.every(([e]) => e === null)).toBe(true);
    expect(res.filter((_, i) => i % 2 === 1).map(([, v]) => v)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const withErr = await c.pipeline().set('pl:str', 'x').incr('pl:str').get('pl:str').exec();
    expect(withErr[1]![0]!.message).toContain('not an integer');
    expect(withErr[2]).toEqual([null, 'x']);

    expect(await c.multi().set('{acct}:a', '10').decrby('{acct}:a', 3).incrby('{acct}:b', 3).mget('{acct}:a', '{acct}:b').exec()).toEqual(['OK', 7, 3, ['7', '3']]);
    await expect(c.multi().set('x1', '1').set('x2', '2').exec()).rejects.toBeInstanceOf(CrossSlotError);

    const sc = c.script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    expect(await sc.run(['sc:n'], [5])).toBe(5);
    expect(await sc.run(['sc:n'], [5])).toBe(10);

    const popped = c.blpop('bq', 5);
    // Commands keep flowing while the pop blocks (it has its own connection).
    expect(await c.set('bq:other', '1')).toBe('OK');
    expect(await c.rpush('bq', 'job')).toBe(1);
    expect(await popped).toEqual(['bq', 'job']);
    expect(await c.callBuffer('GET', 'bq:other')).toEqual(Buffer.from('1'));
  });

  it('standalone through the router: the router routes, the client pipelines', async () => {
    const r = await startRouter(cl);
    const c = client({ port: r.port });
    const keys = Array.from({ length: 30 }, (_, i) => `via-router:${i}`);
    expect(await c.mset(...(keys.flatMap((k) => [k, k]) as [string, string]))).toBe('OK');
    expect(await c.mget(...(keys as [string]))).toEqual(keys);
    expect(await Promise.all(keys.map((k) => c.incr(`${k}:n`)))).toEqual(keys.map(() => 1));
    expect(await c.pipeline().get(keys[0]!).del(...(keys as [string])).exec()).toEqual([[null, keys[0]], [null, 30]]);
    // What the client wrote directly to the nodes reads the same through the router.
    expect(await c.get('{acct}:a')).toBe('7');
  });
});

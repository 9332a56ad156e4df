/**
 * Slots move between shards (`sonic cluster reshard`) while plain ioredis clients write
 * unique keys and read them back through `sonic router`: the router follows the new owner
 * (MOVED, then the new configuration), the clients see no read error and no write error
 * but the router's "outcome unknown", every acknowledged write is present afterwards, and
 * a multi-key MGET over the moving range answers throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { stopEverything, waitFor } from './controller-helpers.js';
import { clusterCli, slotCounts, slotOf, type SonicCluster } from './cluster-helpers.js';
import { RouterWorkload, routerClient, startCluster, startRouter, stopRouters, type Router } from './router-helpers.js';

let cl: SonicCluster;
let router: Router;

beforeAll(async () => {
  cl = await startCluster();
  router = await startRouter(cl, ['--retry-timeout', '10000']);
}, 150000);

afterAll(async () => {
  await stopRouters();
  await stopEverything();
});

describe('router across a resharding', () => {
  it('300 slots move shard-1 → shard-3 under a read/write workload: no read errors, nothing acknowledged lost', async () => {
    // Keys in the slots that move (the highest 300 of shard-1: 5161-5460), read with MGET.
    const moving = Array.from({ length: 20000 }, (_, i) => `rs:pre:${i}`).filter((k) => slotOf(k) >= 5161 && slotOf(k) <= 5460).slice(0, 200);
    expect(moving.length).toBe(200);
    const io = routerClient(router, { maxRetriesPerRequest: 0 });
    expect(await io.mset(...moving.flatMap((k) => [k, k]))).toBe('OK');
    const mgetErrors: string[] = [];
    let mgets = 0;
    let running = true;
    const mgetLoop = (async () => {
      while (running) {
        try {
          const v = await io.mget(...moving);
          mgets++;
          if (v.some((x, i) => x !== moving[i])) mgetErrors.push(`MGET: ${v.filter((x, i) => x !== moving[i]).length} wrong values`);
        } catch (e) {
          mgetErrors.push(`MGET: ${(e as Error).message}`);
        }
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    const load = new RouterWorkload(router, 'rs');
    await waitFor('the workload runs', () => load.acked.length > 300 && load.reads > 300, 20000);

    const t0 = Date.now();
    const there = await clusterCli(['reshard', '--from', 'shard-1', '--to', 'shard-3', '--slots', '300', '--controllers', cl.g.list()]);
    expect(there.code, there.out).toBe(0);
    const t1 = Date.now();
    expect(Object.fromEntries(await slotCounts(cl))).toEqual({ 'shard-1': 5161, 'shard-2': 5462, 'shard-3': 5761 });
    const n = load.acked.length;
    await waitFor('the workload goes on after the move', () => load.acked.length > n + 100, 30000).catch((e: Error) => {
      throw new Error(`${e.message}: ${load.summary()}; ${[...load.writeErrors, ...load.readErrors].slice(0, 5).join(' | ')}\nrouter output:\n${router.output().slice(-3000)}`);
    });
    running = false;
    await mgetLoop;
    await load.stop();
    io.disconnect();

    const direct = new Cluster(cl.seeds, { redisOptions: { maxRetriesPerRequest: 3 } });
    direct.on('error', () => {});
    try {
      const missing = await load.missing((k) => direct.get(k));
      const pre = await Promise.all(moving.map((k) => direct.get(k)));
      console.log(`router reshard: ${load.summary()}, ${mgets} MGETs of ${moving.length} moving keys, ${missing.length} acknowledged lost; the move took ${t1 - t0} ms`);
      expect(missing.slice(0, 10)).toEqual([]);
      expect(pre).toEqual(moving);
      expect(load.readErrors, load.readErrors.slice(0, 10).join('\n')).toEqual([]);
      expect(load.writeErrors, load.writeErrors.slice(0, 10).join('\n')).toEqual([]);
      expect(mgetErrors.slice(0, 10)).toEqual([]);
    } finally {
      direct.disconnect();
    }
    // `sonic cluster reshard` alone takes ~20 s on a 2-CPU machine at load 40.
  }, 120000);
});

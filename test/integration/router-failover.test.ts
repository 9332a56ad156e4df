/**
 * A primary behind `sonic router` is SIGKILLed while plain ioredis clients (standalone
 * `new Redis(routerPort)`, no client-side retries) write unique keys and read them back
 * through the router: the controllers promote a replica, the router holds and retries
 * what is safe to retry, and the clients see no read error at all; a write is only ever
 * failed with the router's "outcome unknown" error; every acknowledged write is present
 * afterwards (repl-sync-mode sync, two replicas in the victim's shard). The victim is
 * shard 1's primary, where the router keeps plain subscriptions: a subscriber (SUBSCRIBE,
 * and SSUBSCRIBE on a channel of the victim's shard) keeps receiving, and a
 * BLPOP on a key of the victim's shard, blocked for longer than --retry-timeout when the
 * primary dies, is served by the new primary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { kill, sleep, status, stopEverything, waitFor } from './controller-helpers.js';
import { keyInShard, slotOf, type SonicCluster } from './cluster-helpers.js';
import { RouterWorkload, routerClient, shardIndex, startCluster, startRouter, stopRouters, type Router } from './router-helpers.js';

let cl: SonicCluster;
let router: Router;

beforeAll(async () => {
  cl = await startCluster({ downAfterMs: 500, replicas: [2, 1, 1], args: ['--repl-sync-mode', 'sync', '--repl-sync-timeout', '2000'] });
  // A generous hold: the test is about what clients see, not about how fast a loaded
  // machine fails over.
  router = await startRouter(cl, ['--retry-timeout', '10000']);
}, 150000);

afterAll(async () => {
  await stopRouters();
  await stopEverything();
});

/** Publishes a sequence number every 50 ms on a channel and a shard channel. */
function publisher(r: Router, channel: string, shardChannel: string) {
  const c = routerClient(r, { maxRetriesPerRequest: 0 });
  let seq = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      seq++;
      await Promise.all([c.publish(channel, String(seq)), c.spublish(shardChannel, String(seq))]).catch(() => {});
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  return {
    get seq() {
      return seq;
    },
    async stop() {
      running = false;
      await loop;
      c.disconnect();
    },
  };
}

describe('router across a failover', () => {
  it('SIGKILL of a primary under a read/write workload: no read errors, unknown-outcome writes only as such, nothing acknowledged lost; pub/sub and BLPOP carry on', async () => {
    // Shard 1: the router's plain SUBSCRIBE connections sit on the first primary.
    const victim = cl.primaries[0]!;
    const inVictim = (k: string) => shardIndex(slotOf(k)) === 0;
    const channel = 'fo:news';
    const shardChannel = keyInShard(0, 3, 'fo:sch:');
    const sub = routerClient(router);
    const got = { m: [] as number[], s: [] as number[] };
    sub.on('message', (_ch: string, m: string) => got.m.push(Number(m)));
    sub.on('smessage', (_ch: string, m: string) => got.s.push(Number(m)));
    await sub.subscribe(channel);
    await sub.ssubscribe(shardChannel);
    const pub = publisher(router, channel, shardChannel);
    await waitFor('the subscriber receives', () => got.m.length > 3 && got.s.length > 3, 10000);

    const blocked = routerClient(router);
    const blKey = keyInShard(0, 3, 'fo:bl:');
    const blockedAt = Date.now();
    const popped = blocked.blpop(blKey, 0).catch((e: Error) => `BLPOP failed: ${e.message}`);

    const load = new RouterWorkload(router, 'fo');
    await waitFor('the workload runs on every shard', () => load.ackedSince(0, inVictim) > 200 && load.reads > 200, 20000);
    // The BLPOP has waited longer than --retry-timeout when its node dies (its hold must
    // count from the loss, not from when it was sent).
    await sleep(Math.max(0, blockedAt + 11000 - Date.now()));
    const t = Date.now();
    await kill(victim);
    const after = await waitFor(
      'a replica promoted',
      async () => {
        const s = await status(cl.g);
        const p = s?.config.shards.find((x) => x.id === 'shard-1')?.primary;
        return p === 'r1a' || p === 'r1b' ? s : null;
      },
      20000,
    );
    expect(after.config.epoch).toBeGreaterThan(cl.epoch);
    await waitFor('writes to the failed shard resume', () => load.ackedSince(t, inVictim) > 200, 25000).catch((e: Error) => {
      throw new Error(`${e.message}: ${load.summary()}; ${[...load.writeErrors, ...load.readErrors].slice(0, 5).join(' | ')}`);
    });
    // Pub/sub: messages published after the failover arrive on both subscriptions.
    const mark = pub.seq;
    await waitFor('the subscriber receives after the failover', () => got.m.some((n) => n > mark) && got.s.some((n) => n > mark), 15000).catch((e: Error) => {
      throw new Error(`${e.message}: last message ${got.m.at(-1)}, last shard message ${got.s.at(-1)}, published ${pub.seq}`);
    });
    // The BLPOP waiting on the victim's shard is served by the new primary.
    const pusher = routerClient(router);
    await pusher.lpush(blKey, 'after-failover');
    const pop = await Promise.race([popped, new Promise((res) => setTimeout(() => res('BLPOP not answered in 15 s'), 15000))]);
    expect(pop).toEqual([blKey, 'after-failover']);
    await load.stop();
    await pub.stop();
    for (const c of [sub, blocked, pusher]) c.disconnect();

    // What clients saw.
    expect(load.readErrors, load.readErrors.slice(0, 10).join('\n')).toEqual([]);
    expect(load.writeErrors, load.writeErrors.slice(0, 10).join('\n')).toEqual([]);
    // What the cluster holds, asked of the nodes directly.
    const direct = new Cluster([cl.primaries[1]!, cl.primaries[2]!].map((p) => ({ host: p.host, port: p.port })), { redisOptions: { maxRetriesPerRequest: 3 } });
    direct.on('error', () => {});
    try {
      const missing = await load.missing((k) => direct.get(k));
      console.log(`router failover: ${load.summary()}, ${missing.length} acknowledged lost; ${got.m.length}/${got.s.length} messages received of ${pub.seq} published; ${Date.now() - t} ms from the kill to the end of the workload`);
      expect(missing.slice(0, 10)).toEqual([]);
    } finally {
      direct.disconnect();
    }
  }, 120000);
});

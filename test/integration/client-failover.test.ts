/**
 * @sonic/client across a failover: a primary of a 3-shard cluster (repl-sync-mode sync,
 * two replicas) is SIGKILLed under a workload through two clients of
 * this process sharing the controllers' watch, while a third client follows the topology
 * from the nodes. Checks: no acknowledged write lost (read back with ioredis), no error
 * but WriteOutcomeUnknownError for writes in flight, every topology change reaches the
 * process once (one watch message per change, one table update per client), pub/sub and
 * sharded pub/sub keep delivering after the failover.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WriteOutcomeUnknownError, sharedWatch } from '@sonic/client';
import { client, closeClients, expectNothingLost } from './client-helpers.js';
import { Redis } from 'ioredis';
import { kill, startClusterNode, status, stopEverything, waitFor } from './controller-helpers.js';
import { Load, keyInShard, slotOf, startSonicCluster } from './cluster-helpers.js';

afterAll(async () => {
  closeClients();
  await stopEverything();
});


describe('client failover', () => {
  it('SIGKILL of a primary: nothing acknowledged lost, only unknown-outcome errors, one topology update per change, pub/sub resumes', async () => {
    // Only the victim's shard has replicas (two: sync mode keeps acknowledging through the
    // failover with one left), and only its primary runs in sync mode; they join one at a
    // time (node processes starting at once outlast the start timeout on a starved machine).
    const cl = await startSonicCluster({ downAfterMs: 500, replicas: 0 });
    const sync = ['--repl-sync-mode', 'sync', '--repl-sync-timeout', '2000'];
    for (const id of ['r2a', 'r2b']) {
      cl.replicas[1]!.push(await startClusterNode({ id, controllers: cl.g.list(), replicaOf: cl.primaries[1]!, args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '3000', ...sync] }));
    }
    await waitFor('replicas joined', async () => (await status(cl.g))?.config.shards.find((sh) => sh.id === 'shard-2')?.replicas.length === 2, 20000);
    const p2 = new Redis({ host: cl.primaries[1]!.host, port: cl.primaries[1]!.port });
    await p2.config('SET', 'repl-sync-mode', 'sync', 'repl-sync-timeout', '2000');
    p2.disconnect();
    const connErrors: Error[] = [];
    const a = client({ retryTimeoutMs: 15000, controllers: cl.g.list() }, connErrors);
    const b = client({ retryTimeoutMs: 15000, controllers: cl.g.list(), readFrom: 'prefer-replicas' }, connErrors);
    const seeded = client({ retryTimeoutMs: 15000, nodes: cl.seeds }, connErrors);
    const sub = client({ retryTimeoutMs: 15000, controllers: cl.g.list() }, connErrors);
    await Promise.all([a.ready(), b.ready(), seeded.ready(), sub.ready()]);
    const watch = sharedWatch(cl.g.list());
    const topo = { a: 0, b: 0, sub: 0 };
    a.on('topology', () => topo.a++);
    b.on('topology', () => topo.b++);
    sub.on('topology', () => topo.sub++);
    const changes0 = watch.changes;
    const seededRefreshes0 = seeded.refreshes;

    // Pub/sub: a channel and a sharded channel in the victim's shard (shard-2).
    const schan = keyInShard(1, 3, 'sch');
    const got: string[] = [];
    sub.on('message', (ch, m) => got.push(`${ch}:${m}`));
    sub.on('smessage', (ch, m) => got.push(`s:${ch}:${m}`));
    await sub.subscribe('news');
    await sub.ssubscribe(schan);
    await a.publish('news', 'before');
    await a.spublish(schan, 'before');
    await waitFor('messages before', () => got.length === 2, 5000);

    const loads = [
      new Load((k, v) => a.set(k, v), (k) => a.incr(k), (k, f, v) => a.hset(k, f, v), 'a', 4, false),
      new Load((k, v) => b.set(k, v), (k) => b.incr(k), (k, f, v) => b.hset(k, f, v), 'b', 2, false),
      new Load((k, v) => seeded.set(k, v), (k) => seeded.incr(k), (k, f, v) => seeded.hset(k, f, v), 's', 2, false),
    ];
    // Reads of acknowledged keys through the replica-reading client.
    let reads = 0;
    const readErrors: string[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const keys = loads[0]!.acked.slice(-20);
        if (keys.length > 0) {
          try {
            await Promise.all(keys.map((k) => b.get(k)));
            reads += keys.length;
          } catch (e) {
            readErrors.push((e as Error).message);
          }
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const inVictim = (k: string) => slotOf(k) >= 5461 && slotOf(k) <= 10922;
    const progress = () => loads.map((l) => `${l.prefix}: ${l.acked.length} acked (${l.acked.filter(inVictim).length} in shard-2), ${l.errors.length} errors ${[...new Set(l.errors)].slice(0, 3).join(' | ')}`).join('; ');
    await waitFor('the load runs on every shard', () => loads.every((l) => l.acked.filter(inVictim).length > 10), 30000).catch((e: Error) => {
      throw new Error(`${e.message}: ${progress()}`);
    });
    const victim = cl.primaries[1]!;
    const before = loads.map((l) => l.acked.length);
    await kill(victim);
    const after = await waitFor('the replica promoted', async () => {
      const s = await status(cl.g);
      const p = s?.config.shards.find((x) => x.id === 'shard-2')?.primary;
      return p === 'r2a' || p === 'r2b' ? s : null;
    }, 15000);
    await waitFor('writes to the failed shard resume', () => loads.every((l, i) => l.acked.slice(before[i]).filter(inVictim).length > 10), 30000).catch((e: Error) => {
      throw new Error(`${e.message}: ${loads.map((l) => `${l.prefix} ${l.acked.length} acked, errors ${[...new Set(l.errors)].slice(0, 3).join(' | ')}`).join('; ')}`);
    });
    // Let the configuration settle (the dead node's health), then stop.
    await waitFor('the watch holds the final epoch', async () => (await status(cl.g))!.config.epoch === watch.config?.epoch, 5000);
    for (const l of loads) await l.stop();
    reading = false;
    await reader;

    // Pub/sub after the failover: the sharded channel's shard has a new primary.
    await a.publish('news', 'after');
    await waitFor('sharded pub/sub resubscribed', async () => {
      await a.spublish(schan, `after`);
      return got.includes(`s:${schan}:after`);
    }, 10000, 200);
    await waitFor('message after', () => got.includes('news:after'), 5000);

    // Only writes whose connection died with them in flight failed, and they say so.
    const errs = loads.flatMap((l) => l.errors);
    const unexpected = errs.filter((m) => !m.startsWith('the outcome of'));
    expect(unexpected, unexpected.slice(0, 5).join(' | ')).toEqual([]);
    expect(readErrors).toEqual([]);
    expect(connErrors.every((e) => !(e instanceof WriteOutcomeUnknownError))).toBe(true);

    // Nothing acknowledged is lost (read back by ioredis Cluster).
    await expectNothingLost(cl.seeds.filter((s) => s.port !== victim.port), loads);

    // Topology: every change reached this process once, and each client applied it once.
    const changes = watch.changes - changes0;
    expect(changes).toBeGreaterThan(0);
    expect(topo).toEqual({ a: changes, b: changes, sub: changes });
    expect(a.refreshes + b.refreshes + sub.refreshes).toBe(0);
    const acked = loads.reduce((n, l) => n + l.acked.length, 0);
    console.log(
      `client failover: ${acked} acked writes (+INCR, HSET), ${errs.length} unknown-outcome writes, ${reads} reads from replicas/primaries, 0 lost; ` +
        `epoch ${cl.epoch}→${after.config.epoch}: ${changes} configuration(s) over one watch for 3 controller clients; seed-mode client refreshed ${seeded.refreshes - seededRefreshes0} time(s)`,
    );
  }, 120_000);
});

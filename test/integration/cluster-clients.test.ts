/**
 * Cluster-aware clients, unchanged, against a 3-shard Sonic cluster (3 controllers,
 * 3 primaries + 3 replicas): ioredis `Cluster` and node-redis `createCluster` run a mixed
 * workload (strings, hashes, sorted sets, MULTI on hash-tagged keys, pub/sub and sharded
 * pub/sub) without errors; ioredis reads from replicas (READONLY); a PUBLISH on one node
 * reaches subscribers on every other node over the bus.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { createCluster } from 'redis';
import { stopEverything, waitFor } from './controller-helpers.js';
import { keyInShard, slotOf, startSonicCluster, type SonicCluster } from './cluster-helpers.js';

let cl: SonicCluster;

beforeAll(async () => {
  cl = await startSonicCluster();
}, 60000);

afterAll(async () => {
  await stopEverything();
});

/** Which primary (by index) serves a key's slot. */
function shardOf(key: string): number {
  const s = slotOf(key);
  return s <= 5460 ? 0 : s <= 10922 ? 1 : 2;
}

describe('cluster clients (3 shards)', () => {
  it('ioredis Cluster: strings, hashes, sorted sets, MULTI on hash tags, pipelines, reads from replicas, pub/sub', async () => {
    const c = new Cluster(cl.seeds, { redisOptions: { maxRetriesPerRequest: 3 } });
    const ro = new Cluster(cl.seeds, { scaleReads: 'slave' });
    const sub = new Cluster(cl.seeds);
    for (const x of [c, ro, sub]) x.on('error', () => {});
    try {
      const N = 300;
      for (let i = 0; i < N; i++) await c.set(`s:${i}`, String(i));
      const shards = new Set(Array.from({ length: N }, (_, i) => shardOf(`s:${i}`)));
      expect(shards.size).toBe(3);
      for (let i = 0; i < N; i += 37) expect(await c.get(`s:${i}`)).toBe(String(i));
      expect(await c.incrby('s:0', 5)).toBe(5);
      for (let u = 0; u < 30; u++) {
        await c.hset(`user:${u}`, { name: `n${u}`, age: String(20 + u) });
        await c.zadd('board', u, `m${u}`);
        await c.zadd(`board:${u % 5}`, u, `m${u}`);
      }
      expect(await c.hgetall('user:7')).toEqual({ name: 'n7', age: '27' });
      expect(await c.zrange('board', 0, 2)).toEqual(['m0', 'm1', 'm2']);
      expect(await c.zrevrange('board:3', 0, 0, 'WITHSCORES')).toEqual(['m28', '28']);
      // MULTI and pipelines on hash-tagged keys (one slot each).
      for (let u = 0; u < 20; u++) {
        const r = await c.multi().set(`{acct:${u}}:balance`, '100').incrby(`{acct:${u}}:balance`, u).hset(`{acct:${u}}:meta`, 'owner', `o${u}`).exec();
        expect(r?.map(([e]) => e)).toEqual([null, null, null]);
      }
      expect(await c.get('{acct:19}:balance')).toBe('119');
      const p = await c.pipeline().get('{acct:3}:balance').hget('{acct:3}:meta', 'owner').exec();
      expect(p?.map(([, v]) => v)).toEqual(['103', 'o3']);
      expect(await c.mget('{acct:4}:balance', '{acct:4}:nope')).toEqual(['104', null]);
      // Reads from replicas (READONLY on each replica connection).
      await waitFor('replicas serve the reads', async () => (await ro.get('s:123')) === '123' && (await ro.hget('user:7', 'name')) === 'n7', 10000);
      // Pub/sub: the subscriber sits on one node, publishes land on others.
      const got: string[] = [];
      sub.on('message', (ch: string, m: string) => got.push(`${ch}:${m}`));
      await sub.subscribe('news');
      for (let i = 0; i < 20; i++) await c.publish('news', `m${i}`);
      await waitFor('every message arrives', () => got.length >= 20, 10000);
      // In order per publishing node; nodes forward independently (as Redis Cluster's bus links).
      expect([...got].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `news:m${i}`).sort());
    } finally {
      c.disconnect();
      ro.disconnect();
      sub.disconnect();
    }
  });

  it('node-redis createCluster: strings, hashes, sorted sets, MULTI on hash tags, pub/sub and sharded pub/sub', async () => {
    const c = createCluster({ rootNodes: cl.seeds.map((s) => ({ url: `redis://${s.host}:${s.port}` })) });
    c.on('error', () => {});
    await c.connect();
    try {
      for (let i = 0; i < 200; i++) await c.set(`nr:${i}`, String(i));
      for (let i = 0; i < 200; i += 23) expect(await c.get(`nr:${i}`)).toBe(String(i));
      await c.hSet('nr:h', { a: '1', b: '2' });
      expect(await c.hGetAll('nr:h')).toEqual({ a: '1', b: '2' });
      await c.zAdd('nr:z', [{ score: 2, value: 'b' }, { score: 1, value: 'a' }]);
      expect(await c.zRange('nr:z', 0, -1)).toEqual(['a', 'b']);
      const r = await c.multi().set('{nr:t}a', '1').incr('{nr:t}b').get('{nr:t}a').exec();
      expect(r).toEqual(['OK', 1, '1']);
      // Pub/sub across nodes.
      const got: string[] = [];
      await c.subscribe('nr:news', (m) => got.push(m));
      for (let i = 0; i < 10; i++) await c.publish('nr:news', `m${i}`);
      await waitFor('node-redis receives every message', () => got.length >= 10, 10000);
      expect([...got].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
      // Sharded pub/sub: channels in each shard, subscribed on their owners.
      const sgot: string[] = [];
      const chans = [keyInShard(0, 3, 'sch'), keyInShard(1, 3, 'sch'), keyInShard(2, 3, 'sch')];
      for (const ch of chans) await c.sSubscribe(ch, (m, channel) => sgot.push(`${channel}:${m}`));
      for (const ch of chans) expect(await c.sPublish(ch, 'hi')).toBeGreaterThanOrEqual(0);
      await waitFor('sharded messages arrive', () => sgot.length >= 3, 10000);
      expect(sgot.sort()).toEqual(chans.map((ch) => `${ch}:hi`).sort());
      await c.unsubscribe('nr:news');
      for (const ch of chans) await c.sUnsubscribe(ch);
    } finally {
      c.destroy();
    }
  });

  it('PUBLISH on one node reaches subscribers on every node; SPUBLISH stays in its shard, replicas included', async () => {
    const subs = cl.all.map((n) => {
      const r = new Redis({ port: n.port, host: n.host });
      r.on('error', () => {});
      return r;
    });
    const pub = new Redis({ port: cl.primaries[0]!.port });
    try {
      const got = subs.map(() => [] as string[]);
      await Promise.all(subs.map((s, i) => {
        s.on('message', (_ch: string, m: string) => got[i]!.push(m));
        s.on('pmessage', (_p: string, _ch: string, m: string) => got[i]!.push(`p:${m}`));
        return s.subscribe('all').then(() => s.psubscribe('al*'));
      }));
      // The reply counts this node's receivers (a channel and a pattern subscription), as Redis Cluster.
      expect(await pub.publish('all', 'one')).toBe(2);
      await waitFor('every node delivers', () => got.every((g) => g.length >= 2), 10000);
      for (const g of got) expect(g.sort()).toEqual(['one', 'p:one']);
      // A shard channel of shard 2: its primary and replica subscribe; a node of another shard is redirected.
      const ch = keyInShard(1, 3, 'shard-ch');
      const owners = [cl.primaries[1]!, ...cl.replicas[1]!];
      const sgot: string[] = [];
      const ssubs = owners.map((n) => {
        const r = new Redis({ port: n.port });
        r.on('error', () => {});
        r.on('smessage', (_c: string, m: string) => sgot.push(`${n.id}:${m}`));
        return r;
      });
      await Promise.all(ssubs.map((s) => s.ssubscribe(ch)));
      await expect(pub.spublish(ch, 'x')).rejects.toThrow(`MOVED ${slotOf(ch)} 127.0.0.1:${cl.primaries[1]!.port}`);
      const onReplica = new Redis({ port: cl.replicas[1]![0]!.port });
      expect(await onReplica.spublish(ch, 'from-replica')).toBe(1);
      await waitFor('both nodes of the shard deliver', () => sgot.length >= 2, 10000);
      expect(sgot.sort()).toEqual(owners.map((n) => `${n.id}:from-replica`).sort());
      onReplica.disconnect();
      for (const s of ssubs) s.disconnect();
      const info = String(await pub.call('CLUSTER', 'INFO'));
      expect(Number(/cluster_stats_messages_sent:(\d+)/.exec(info)?.[1])).toBeGreaterThanOrEqual(5);
    } finally {
      for (const s of subs) s.disconnect();
      pub.disconnect();
    }
  });
});

/**
 * Scripts in cluster mode. A 2-shard Sonic cluster (no replicas) next to a redis-server
 * started with --cluster-enabled yes that owns the same slots as Sonic's first shard
 * (0-8191): the same scripts on both answer the same, byte for byte — a key of a slot the
 * node does not own ("non local key"), undeclared keys in another slot than the declared
 * ones (refused for scripts with a shebang and functions unless allow-cross-slot-keys,
 * allowed for plain EVAL scripts, as Redis 7.0), no-cluster, CROSSSLOT for declared keys.
 * Then ioredis Cluster routes EVAL/EVALSHA by their keys to every shard, a node answers
 * MOVED for a script whose declared keys live on the other shard, and the Lua-based
 * libraries run through the cluster: redlock, rate-limiter-flexible, BullMQ (its keys
 * under one hash tag, as BullMQ requires on a cluster).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import Redlock, { ExecutionError } from 'redlock';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { startRedis, stopAll, transcript, type Proc } from './harness.js';
import { stopEverything, waitFor } from './controller-helpers.js';
import { keyInShard, slotOf, startSonicCluster, type SonicCluster } from './cluster-helpers.js';

let cl: SonicCluster;
let ref: Proc;

beforeAll(async () => {
  [cl, ref] = await Promise.all([startSonicCluster({ shards: 2, replicas: 0 }), startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'])]);
  const r = new Redis({ port: ref.port, lazyConnect: true });
  try {
    await r.call('CLUSTER', 'ADDSLOTSRANGE', '0', '8191');
    await r.config('SET', 'cluster-require-full-coverage', 'no');
    await waitFor('redis-server cluster ok', async () => String(await r.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 15000, 50);
  } finally {
    r.disconnect();
  }
}, 90000);

afterAll(async () => {
  await stopEverything();
  await stopAll();
});

const ev = (script: string, keys: string[] = [], args: string[] = []): string[] => ['EVAL', script, String(keys.length), ...keys, ...args];

describe('scripts on a cluster node, against redis-server in cluster mode', () => {
  it('non local keys, undeclared cross-slot keys, no-cluster and CROSSSLOT answer as Redis 7.0', async () => {
    // Two keys of the first shard in different slots, one of the second shard.
    const l1 = keyInShard(0, 2, 'a');
    let l2 = keyInShard(0, 2, 'b');
    for (let i = 0; slotOf(l2) === slotOf(l1); i++) l2 = keyInShard(0, 2, `b${i}`);
    const tagged = `{${l1}}x`;
    const remote = keyInShard(1, 2, 'c');
    expect(slotOf(l1)).toBeLessThan(8192);
    expect(slotOf(remote)).toBeGreaterThanOrEqual(8192);
    const lib = `#!lua name=clib
      redis.register_function('c_get2', function(keys, args) redis.call('get', keys[1]); return redis.call('get', args[1]) end)
      redis.register_function{function_name='c_get2x', callback=function(keys, args) redis.call('get', keys[1]); return redis.call('get', args[1]) end, flags={'allow-cross-slot-keys'}}`;
    const cmds = [
      ['FUNCTION', 'LOAD', 'REPLACE', lib],
      ev("return redis.call('set', KEYS[1], 'v1')", [l1]),
      ev("return redis.call('set', KEYS[1], 'v2')", [l2]),
      ev(`return redis.call('get', '${remote}')`),
      ev(`return redis.pcall('get', '${remote}')['err']`),
      ev(`return redis.call('set', '${remote}', 'x')`),
      ev(`redis.call('get', '${l1}'); return redis.call('get', '${l2}')`),
      ev(`return redis.call('get', KEYS[1]) .. redis.call('get', '${l2}')`, [l1]),
      ev(`#!lua\nredis.call('get', '${l1}'); return redis.call('get', '${l2}')`),
      ev(`#!lua\nreturn redis.call('get', '${l2}')`, [l1]),
      ev(`#!lua\nreturn redis.pcall('get', '${l2}')['err']`, [l1]),
      ev(`#!lua flags=allow-cross-slot-keys\nreturn redis.call('get', '${l2}')`, [l1]),
      ev(`#!lua flags=allow-cross-slot-keys\nreturn redis.call('get', '${remote}')`, [l1]),
      ev(`#!lua\nreturn redis.call('set', '${tagged}', 'same-slot')`, [l1]),
      ev(`return redis.call('mget', '${l1}', '${l2}')`),
      ev("#!lua\nreturn redis.call('ping')", [l1]),
      ev('return 1', [l1, l2]),
      ev('#!lua flags=no-cluster\nreturn 1'),
      ev('#!lua flags=no-cluster,no-writes\nreturn 1', [l1]),
      ['FCALL', 'c_get2', '1', l1, l2],
      ['FCALL', 'c_get2x', '1', l1, l2],
      ['FCALL', 'c_get2x', '1', l1, remote],
      ['FCALL', 'c_get2', '1', l1, tagged],
      ['MGET', l1, tagged],
    ];
    const [s, r] = await Promise.all([transcript(cl.primaries[0]!.port, cmds), transcript(ref.port, cmds)]);
    expect(s).toEqual(r);
    expect(s[3]).toContain('Script attempted to access a non local key in a cluster node');
    expect(s[8]).toContain('Script attempted to access keys that do not hash to the same slot');
    expect(s[16]).toContain("CROSSSLOT Keys in request don't hash to the same slot");
  });
});

describe('scripts through a cluster client', () => {
  it('ioredis Cluster routes EVAL and EVALSHA by their keys to every shard; a node answers MOVED and CROSSSLOT for declared keys', async () => {
    const c = new Cluster(cl.seeds, { redisOptions: { maxRetriesPerRequest: 3 } });
    c.on('error', () => {});
    const cas = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
    try {
      c.defineCommand('casdel', { numberOfKeys: 1, lua: cas });
      const move = `#!lua
        local v = redis.call('get', KEYS[1])
        redis.call('set', KEYS[2], v)
        redis.call('del', KEYS[1])
        return v`;
      const shards = new Set<number>();
      for (let u = 0; u < 20; u++) {
        const a = `{user${u}}:from`;
        const b = `{user${u}}:to`;
        shards.add(slotOf(a) < 8192 ? 0 : 1);
        await c.set(a, `val${u}`);
        expect(await c.eval(move, 2, a, b)).toBe(`val${u}`);
        expect(await c.get(b)).toBe(`val${u}`);
        expect(await c.exists(a)).toBe(0);
        await c.set(`lock${u}`, 'token');
        expect(await (c as unknown as { casdel(k: string, v: string): Promise<number> }).casdel(`lock${u}`, 'other')).toBe(0);
        expect(await (c as unknown as { casdel(k: string, v: string): Promise<number> }).casdel(`lock${u}`, 'token')).toBe(1);
      }
      expect(shards.size).toBe(2);
    } finally {
      c.disconnect();
    }
    // Straight to the first shard's primary: keys of the other shard get MOVED, keys of two slots CROSSSLOT.
    const n = new Redis({ port: cl.primaries[0]!.port, maxRetriesPerRequest: 1 });
    n.on('error', () => {});
    try {
      const remote = keyInShard(1, 2, 'm');
      await expect(n.eval('return 1', 1, remote)).rejects.toThrow(new RegExp(`^MOVED ${slotOf(remote)} 127\\.0\\.0\\.1:${cl.primaries[1]!.port}$`));
      await expect(n.eval('return 1', 2, keyInShard(0, 2, 'x'), remote)).rejects.toThrow("CROSSSLOT Keys in request don't hash to the same slot");
      await expect(n.eval("return redis.call('set', KEYS[1], 'x')", 1, keyInShard(0, 2, 'y'))).resolves.toBe('OK');
    } finally {
      n.disconnect();
    }
  });
});

describe('Lua-based libraries through the cluster', () => {
  it('redlock and rate-limiter-flexible on an ioredis Cluster, keys on both shards', async () => {
    const c = new Cluster(cl.seeds, { redisOptions: { maxRetriesPerRequest: 3 } });
    c.on('error', () => {});
    try {
      const a = new Redlock([c], { retryCount: 0 });
      const b = new Redlock([c], { retryCount: 0 });
      const resources = [keyInShard(0, 2, 'lock:'), keyInShard(1, 2, 'lock:')];
      for (const r of resources) {
        const lock = await a.acquire([r], 5000);
        expect(await c.get(r)).toBe(lock.value);
        await expect(b.acquire([r], 5000)).rejects.toBeInstanceOf(ExecutionError);
        const extended = await lock.extend(8000);
        expect(await c.pttl(r)).toBeGreaterThan(5000);
        await extended.release();
        expect(await c.exists(r)).toBe(0);
      }
      const limiter = new RateLimiterRedis({ storeClient: c, points: 3, duration: 10, keyPrefix: 'rlc' });
      for (const user of ['u1', 'u2', 'u3', 'u4']) {
        for (let i = 1; i <= 3; i++) expect((await limiter.consume(user)).remainingPoints).toBe(3 - i);
        const blocked = await limiter.consume(user).then(
          () => null,
          (e: unknown) => e,
        );
        expect(blocked).toBeInstanceOf(RateLimiterRes);
      }
    } finally {
      c.disconnect();
    }
  });

  it('BullMQ: a Worker processes delayed and retried jobs on the cluster; QueueEvents reports completion', async () => {
    const connection = new Cluster(cl.seeds, { redisOptions: { maxRetriesPerRequest: null } });
    connection.on('error', () => {});
    const prefix = '{bq}';
    const queue = new Queue('cq', { connection, prefix });
    const events = new QueueEvents('cq', { connection, prefix });
    await events.waitUntilReady();
    const attempts = new Map<string, number>();
    const worker = new Worker(
      'cq',
      async (job: Job) => {
        const n = (attempts.get(job.name) ?? 0) + 1;
        attempts.set(job.name, n);
        if (job.name === 'flaky' && n < 2) throw new Error('first attempt fails');
        return (job.data as { x: number }).x * 2;
      },
      { connection, prefix },
    );
    try {
      const completed = new Set<string>();
      const allDone = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${completed.size} of 3 jobs completed`)), 25000);
        events.on('completed', ({ jobId }) => {
          completed.add(jobId);
          if (completed.size === 3) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      await queue.add('plain', { x: 1 });
      await queue.add('delayed', { x: 2 }, { delay: 300 });
      await queue.add('flaky', { x: 3 }, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
      await allDone;
      expect(attempts.get('flaky')).toBe(2);
      expect(await queue.getJobCounts('completed', 'failed', 'delayed', 'wait')).toEqual({ completed: 3, failed: 0, delayed: 0, wait: 0 });
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
      connection.disconnect();
    }
  }, 40000);
});

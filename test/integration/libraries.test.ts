/**
 * Libraries built on Lua scripts, unchanged, against a real `sonic node`: redlock
 * (acquire, contention, extend, release), rate-limiter-flexible (RateLimiterRedis
 * consuming until blocked) and BullMQ (a Queue and a Worker with delayed jobs and
 * retries, QueueEvents reporting completion; its scripts use cjson and cmsgpack).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import Redlock, { ExecutionError } from 'redlock';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { Queue, Worker, QueueEvents, type Job } from 'bullmq';
import { startSonic, stopAll, type Proc } from './harness.js';

let sonic: Proc;
const clients: Redis[] = [];

function client(opts: Record<string, unknown> = {}): Redis {
  const c = new Redis({ port: sonic.port, host: '127.0.0.1', lazyConnect: false, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  sonic = await startSonic();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  await stopAll();
});

describe('redlock', () => {
  it('acquires, refuses a contender, extends and releases', async () => {
    const a = new Redlock([client()], { retryCount: 0 });
    const b = new Redlock([client()], { retryCount: 0 });
    const lock = await a.acquire(['lock:res'], 2000);
    const redis = client();
    expect(await redis.get('lock:res')).toBe(lock.value);
    await expect(b.acquire(['lock:res'], 2000)).rejects.toBeInstanceOf(ExecutionError);
    const extended = await lock.extend(5000);
    expect(await redis.pttl('lock:res')).toBeGreaterThan(2500);
    await extended.release();
    expect(await redis.exists('lock:res')).toBe(0);
    // Once released, the contender gets it; releasing with a stale lock value does nothing.
    const lock2 = await b.acquire(['lock:res'], 2000);
    await expect(extended.release()).rejects.toBeInstanceOf(ExecutionError);
    expect(await redis.get('lock:res')).toBe(lock2.value);
    await lock2.release();
  });

  it('multi-resource locks are all or nothing', async () => {
    const a = new Redlock([client()], { retryCount: 0 });
    const held = await a.acquire(['lock:m2'], 2000);
    await expect(a.acquire(['lock:m1', 'lock:m2'], 2000)).rejects.toBeInstanceOf(ExecutionError);
    expect(await client().exists('lock:m1')).toBe(0);
    await held.release();
    const both = await a.acquire(['lock:m1', 'lock:m2'], 2000);
    expect(await client().exists('lock:m1', 'lock:m2')).toBe(2);
    await both.release();
  });
});

describe('rate-limiter-flexible', () => {
  it('RateLimiterRedis consumes points until blocked, per key', async () => {
    const limiter = new RateLimiterRedis({ storeClient: client(), points: 5, duration: 10, keyPrefix: 'rl' });
    for (let i = 1; i <= 5; i++) {
      const res = await limiter.consume('user1');
      expect(res.remainingPoints).toBe(5 - i);
    }
    const blocked = await limiter.consume('user1').then(
      () => null,
      (e: unknown) => e,
    );
    expect(blocked).toBeInstanceOf(RateLimiterRes);
    expect((blocked as RateLimiterRes).remainingPoints).toBe(0);
    expect((blocked as RateLimiterRes).msBeforeNext).toBeGreaterThan(0);
    expect((blocked as RateLimiterRes).msBeforeNext).toBeLessThanOrEqual(10000);
    // Another key has its own budget; penalty and reward move the count.
    expect((await limiter.consume('user2', 2)).remainingPoints).toBe(3);
    await limiter.reward('user2', 1);
    expect((await limiter.get('user2'))!.consumedPoints).toBe(1);
    await limiter.delete('user1');
    expect((await limiter.consume('user1')).remainingPoints).toBe(4);
  });
});

describe('BullMQ', () => {
  it('a Worker processes delayed jobs and retries a failing one; QueueEvents reports completion', async () => {
    const connection = { host: '127.0.0.1', port: sonic.port, maxRetriesPerRequest: null };
    const queue = new Queue('q1', { connection });
    const events = new QueueEvents('q1', { connection });
    await events.waitUntilReady();
    const attempts = new Map<string, number>();
    const worker = new Worker(
      'q1',
      async (job: Job) => {
        const n = (attempts.get(job.name) ?? 0) + 1;
        attempts.set(job.name, n);
        if (job.name === 'flaky' && n < 3) throw new Error(`attempt ${n} fails`);
        return { doubled: (job.data as { x: number }).x * 2 };
      },
      { connection },
    );
    try {
      const completed = new Map<string, string>();
      const allDone = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${completed.size} of 3 jobs completed`)), 20000);
        events.on('completed', ({ jobId, returnvalue }) => {
          completed.set(jobId, typeof returnvalue === 'string' ? returnvalue : JSON.stringify(returnvalue));
          if (completed.size === 3) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      const t0 = Date.now();
      const plain = await queue.add('plain', { x: 1 });
      const delayed = await queue.add('delayed', { x: 2 }, { delay: 600 });
      const flaky = await queue.add('flaky', { x: 3 }, { attempts: 5, backoff: { type: 'fixed', delay: 100 } });
      await allDone;
      expect(JSON.parse(completed.get(plain.id!)!)).toEqual({ doubled: 2 });
      expect(JSON.parse(completed.get(delayed.id!)!)).toEqual({ doubled: 4 });
      expect(JSON.parse(completed.get(flaky.id!)!)).toEqual({ doubled: 6 });
      expect(attempts.get('flaky')).toBe(3);
      const d = await queue.getJob(delayed.id!);
      expect(d!.processedOn! - t0).toBeGreaterThanOrEqual(550);
      const f = await queue.getJob(flaky.id!);
      expect(f!.attemptsMade).toBe(3);
      expect(await queue.getJobCounts('completed', 'failed', 'delayed', 'wait')).toEqual({ completed: 3, failed: 0, delayed: 0, wait: 0 });
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  }, 30000);
});

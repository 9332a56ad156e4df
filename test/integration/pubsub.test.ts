import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startSonic, startRedis, stopAll, RawConn, type Proc } from './harness.js';

function text(v: unknown): string {
  return v instanceof Error ? v.message : String(v);
}

/** Resolves with the first `n` values pushed to the returned sink, or rejects after ms. */
function collector<T>(n: number, ms = 5000): { push: (v: T) => void; done: Promise<T[]> } {
  const got: T[] = [];
  let resolve!: (v: T[]) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<T[]>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} messages within ${ms} ms`)), ms);
  return {
    push: (v: T) => {
      got.push(v);
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    },
    done,
  };
}

describe('pub/sub', () => {
  let node: Proc;
  let ref: Proc;
  beforeAll(async () => {
    node = await startSonic();
    ref = await startRedis();
  });
  afterAll(stopAll);

  it('SUBSCRIBE/PSUBSCRIBE/PUBLISH across ioredis clients', async () => {
    const sub = new Redis({ port: node.port });
    const pub = new Redis({ port: node.port });
    try {
      const msgs = collector<string>(3);
      sub.on('message', (ch: string, m: string) => msgs.push(`message ${ch} ${m}`));
      sub.on('pmessage', (p: string, ch: string, m: string) => msgs.push(`pmessage ${p} ${ch} ${m}`));
      expect(await sub.subscribe('news', 'sports')).toBe(2);
      expect(await sub.psubscribe('news.*')).toBe(3);
      expect(await pub.publish('news', 'hello')).toBe(1);
      expect(await pub.publish('news.tech', 'chips')).toBe(1);
      expect(await pub.publish('sports', 'goal')).toBe(1);
      expect(await pub.publish('nobody', 'x')).toBe(0);
      expect((await msgs.done).sort()).toEqual(['message news hello', 'message sports goal', 'pmessage news.* news.tech chips'].sort());
    } finally {
      sub.disconnect();
      pub.disconnect();
    }
  });

  it('node-redis (RESP3 push messages) receives what ioredis publishes', async () => {
    const client = createClient({ socket: { port: node.port, host: '127.0.0.1' } });
    await client.connect();
    const sub = client.duplicate();
    await sub.connect();
    const pub = new Redis({ port: node.port });
    try {
      const msgs = collector<string>(2);
      await sub.subscribe('orders', (m: string, ch: string) => msgs.push(`${ch}:${m}`));
      await sub.pSubscribe('order.*', (m: string, ch: string) => msgs.push(`p ${ch}:${m}`));
      // In RESP3 the subscribed connection still answers ordinary commands.
      expect(await sub.ping()).toBe('PONG');
      expect(await pub.publish('orders', 'o1')).toBe(1);
      expect(await pub.publish('order.new', 'o2')).toBe(1);
      expect((await msgs.done).sort()).toEqual(['orders:o1', 'p order.new:o2']);
      expect(await client.publish('orders', 'from-nr')).toBe(1);
      await sub.unsubscribe('orders');
      await sub.pUnsubscribe('order.*');
      expect(await client.publish('orders', 'late')).toBe(0);
    } finally {
      await sub.quit();
      await client.quit();
      pub.disconnect();
    }
  });

  it('SUBSCRIBE/UNSUBSCRIBE replies match redis-server byte for byte (RESP2 and RESP3)', async () => {
    for (const proto of ['2', '3']) {
      const script = [
        ['SUBSCRIBE', 'a', 'b'],
        ['PSUBSCRIBE', 'p*'],
        ['UNSUBSCRIBE', 'a'],
        ['UNSUBSCRIBE'],
        ['PUNSUBSCRIBE'],
        ['UNSUBSCRIBE'],
        ['PUNSUBSCRIBE'],
      ];
      const out: string[] = [];
      for (const port of [node.port, ref.port]) {
        const c = await RawConn.open(port);
        try {
          await c.call('HELLO', proto);
          const start = c.raw.length;
          for (const cmd of script) c.send(...cmd);
          // SUBSCRIBE a b answers twice; every other command here answers once.
          for (let i = 0; i < script.length + 1; i++) await c.read();
          await expect(c.read(200)).rejects.toThrow(/no reply/);
          out.push(c.raw.subarray(start).toString('latin1'));
        } finally {
          c.close();
        }
      }
      expect(out[0], `RESP${proto}`).toBe(out[1]);
    }
  });

  it('a RESP2 subscriber may only run (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT, RESET', async () => {
    for (const port of [node.port, ref.port]) {
      const c = await RawConn.open(port);
      try {
        await c.call('SUBSCRIBE', 'x');
        expect(text(await c.call('GET', 'k'))).toBe(
          "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        );
        expect(await c.call('PING')).toEqual(['pong', '']);
        expect(await c.call('PING', 'hi')).toEqual(['pong', 'hi']);
        expect(await c.call('RESET')).toBe('RESET');
        expect(await c.call('GET', 'k')).toBe(null);
      } finally {
        c.close();
      }
    }
  });

  it('PUBSUB CHANNELS, NUMSUB and NUMPAT', async () => {
    const a = await RawConn.open(node.port);
    const b = await RawConn.open(node.port);
    const q = await RawConn.open(node.port);
    try {
      await a.call('SUBSCRIBE', 'chan:1', 'chan:2');
      await a.read();
      await b.call('SUBSCRIBE', 'chan:1');
      await b.call('PSUBSCRIBE', 'chan:*', 'other*');
      await b.read();
      expect(((await q.call('PUBSUB', 'CHANNELS')) as string[]).sort()).toEqual(['chan:1', 'chan:2']);
      expect(await q.call('PUBSUB', 'CHANNELS', '*2')).toEqual(['chan:2']);
      expect(await q.call('PUBSUB', 'NUMSUB', 'chan:1', 'chan:2', 'none')).toEqual(['chan:1', 2, 'chan:2', 1, 'none', 0]);
      expect(await q.call('PUBSUB', 'NUMSUB')).toEqual([]);
      expect(await q.call('PUBSUB', 'NUMPAT')).toBe(2);
      expect(await q.call('PUBLISH', 'chan:1', 'm')).toBe(3);
      b.close();
      await new Promise((res) => setTimeout(res, 100));
      expect(await q.call('PUBSUB', 'NUMPAT')).toBe(0);
      expect(await q.call('PUBSUB', 'NUMSUB', 'chan:1')).toEqual(['chan:1', 1]);
    } finally {
      a.close();
      b.close();
      q.close();
    }
  });
});

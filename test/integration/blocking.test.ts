/**
 * Blocking list pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) with real connections:
 * wake-up order, chains, timeouts, MULTI, disconnects and pipelining. Scenarios run on
 * Sonic and on redis-server 7 and must produce the same transcript.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { RawConn, startRedis, startSonic, stopAll, type Proc } from './harness.js';
import type { RespValue } from '@sonic/protocol';

let sonic: Proc;
let redis: Proc;

beforeAll(async () => {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
});
afterAll(stopAll);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Time for a server to take in a command sent on another connection. */
const SETTLE = 60;

function show(v: RespValue): unknown {
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (Array.isArray(v)) return v.map(show);
  if (v instanceof Error) return `ERR:${v.message}`;
  return v;
}

/** The next reply of a connection, or 'blocked' when none comes within `ms`. */
async function next(c: RawConn, ms = 300): Promise<unknown> {
  try {
    return show(await c.read(ms));
  } catch {
    return 'blocked';
  }
}

type Scenario = (port: number, log: unknown[]) => Promise<void>;

let scenarioNo = 0;

/** Runs a scenario on both servers (with its own key prefix) and expects the same log. */
async function sameOnBoth(run: (port: number, log: unknown[], k: (s: string) => string) => Promise<void>): Promise<unknown[]> {
  const id = ++scenarioNo;
  const go: (p: Proc) => Promise<unknown[]> = async (p) => {
    const log: unknown[] = [];
    await run(p.port, log, (s) => `b${id}:${s}`);
    return log;
  };
  const [a, b] = await Promise.all([go(sonic), go(redis)]);
  expect(a).toEqual(b);
  return a;
}

async function conns(port: number, n: number): Promise<RawConn[]> {
  return Promise.all(Array.from({ length: n }, () => RawConn.open(port)));
}

describe('blocking pops: same behaviour as redis-server', () => {
  it('FIFO across waiters: one element serves the first, several serve several in order', async () => {
    const log = await sameOnBoth(async (port, log, k) => {
      const [a, b, c, p] = await conns(port, 4);
      try {
        a!.send('blpop', k('q'), '0');
        await sleep(SETTLE);
        b!.send('blpop', k('q'), '0');
        await sleep(SETTLE);
        c!.send('brpop', k('q'), '0');
        await sleep(SETTLE);
        log.push(await p!.call('lpush', k('q'), 'one'));
        log.push(['a', await next(a!)], ['b', await next(b!, 150)], ['c', await next(c!, 150)]);
        log.push(await p!.call('rpush', k('q'), 'two', 'three', 'four'));
        log.push(['b', await next(b!)], ['c', await next(c!)]);
        log.push(show(await p!.call('lrange', k('q'), '0', '-1')));
      } finally {
        for (const x of [a, b, c, p]) x!.close();
      }
    });
    expect(log[1]).toEqual(['a', [expect.stringContaining('q'), 'one']]);
    expect(log[2]).toEqual(['b', 'blocked']);
  });

  it('a waiter on several keys is served from the key that became ready', async () => {
    await sameOnBoth(async (port, log, k) => {
      const [a, b, p] = await conns(port, 3);
      try {
        a!.send('blpop', k('x'), k('y'), k('z'), '0');
        b!.send('blmpop', '0', '3', k('x'), k('y'), k('z'), 'RIGHT', 'COUNT', '2');
        await sleep(SETTLE);
        log.push(await p!.call('rpush', k('z'), '1', '2', '3', '4'));
        log.push(await next(a!), await next(b!));
        log.push(show(await p!.call('lrange', k('z'), '0', '-1')));
        // Two keys ready in one transaction: served in the order they became ready.
        a!.send('brpop', k('x'), k('y'), '0');
        await sleep(SETTLE);
        log.push(await p!.call('multi'), await p!.call('rpush', k('y'), 'Y'), await p!.call('rpush', k('x'), 'X'), show(await p!.call('exec')));
        log.push(await next(a!));
        log.push(show(await p!.call('lrange', k('x'), '0', '-1')), show(await p!.call('lrange', k('y'), '0', '-1')));
      } finally {
        for (const x of [a, b, p]) x!.close();
      }
    });
  });

  it('BLMOVE into a key another client waits on chains the wake-ups', async () => {
    const log = await sameOnBoth(async (port, log, k) => {
      const [a, b, c, p] = await conns(port, 4);
      try {
        a!.send('blmove', k('src'), k('mid'), 'LEFT', 'RIGHT', '0');
        await sleep(SETTLE);
        b!.send('brpoplpush', k('mid'), k('dst'), '0');
        await sleep(SETTLE);
        c!.send('blpop', k('dst'), '0');
        await sleep(SETTLE);
        log.push(await p!.call('lpush', k('src'), 'v'));
        log.push(await next(a!), await next(b!), await next(c!));
        for (const key of ['src', 'mid', 'dst']) log.push(show(await p!.call('llen', k(key))));
      } finally {
        for (const x of [a, b, c, p]) x!.close();
      }
    });
    expect(log.slice(1, 4)).toEqual(['v', 'v', [expect.stringContaining('dst'), 'v']]);
  });

  it('a key that becomes another type keeps clients waiting; a bad destination fails the move', async () => {
    await sameOnBoth(async (port, log, k) => {
      const [a, b, p] = await conns(port, 3);
      try {
        a!.send('blpop', k('t'), '0');
        await sleep(SETTLE);
        log.push(await p!.call('set', k('t'), 'str'));
        log.push(await next(a!, 150));
        log.push(await p!.call('del', k('t')));
        log.push(await p!.call('rpush', k('t'), 'ok'));
        log.push(await next(a!));
        b!.send('blmove', k('s'), k('d'), 'LEFT', 'LEFT', '0');
        await sleep(SETTLE);
        log.push(await p!.call('set', k('d'), 'str'));
        log.push(await p!.call('rpush', k('s'), 'e'));
        log.push(show(await next(b!)));
        log.push(show(await p!.call('lrange', k('s'), '0', '-1')));
      } finally {
        for (const x of [a, b, p]) x!.close();
      }
    });
  });

  it('timeouts answer null (RESP2 and RESP3) and a served waiter does not time out later', async () => {
    await sameOnBoth(async (port, log, k) => {
      const [a, b, p] = await conns(port, 3);
      try {
        log.push(show(await b!.call('hello', '3')) !== null);
        a!.send('blpop', k('to'), '0.1');
        b!.send('blmpop', '0.1', '1', k('to'), 'LEFT');
        log.push(await next(a!, 2000), await next(b!, 2000));
        a!.send('brpoplpush', k('to'), k('o'), '0.3');
        await sleep(SETTLE);
        log.push(await p!.call('rpush', k('to'), 'x'));
        log.push(await next(a!));
        await sleep(400);
        log.push(await next(a!, 100));
      } finally {
        for (const x of [a, b, p]) x!.close();
      }
    });
  });

  it('inside MULTI a blocking pop with no data replies null at once', async () => {
    await sameOnBoth(async (port, log, k) => {
      const [a] = await conns(port, 1);
      try {
        const t0 = Date.now();
        for (const cmd of [
          ['multi'],
          ['blpop', k('m'), '0'],
          ['brpop', k('m'), '1'],
          ['blmove', k('m'), k('n'), 'LEFT', 'LEFT', '0'],
          ['brpoplpush', k('m'), k('n'), '0'],
          ['blmpop', '0', '1', k('m'), 'LEFT'],
          ['rpush', k('m'), 'a', 'b'],
          ['blpop', k('m'), '0'],
          ['blmove', k('m'), k('n'), 'LEFT', 'LEFT', '0'],
          ['exec'],
        ]) {
          log.push(show(await a!.call(...cmd)));
        }
        log.push(Date.now() - t0 < 900);
      } finally {
        a!.close();
      }
    });
  });

  it('a client that disconnects while blocked neither receives nor loses data', async () => {
    await sameOnBoth(async (port, log, k) => {
      const [a, b, p] = await conns(port, 3);
      try {
        a!.send('blpop', k('d'), '0');
        await sleep(SETTLE);
        b!.send('blpop', k('d'), '0');
        await sleep(SETTLE);
        a!.close();
        await sleep(SETTLE);
        log.push(await p!.call('rpush', k('d'), 'first', 'second'));
        log.push(await next(b!));
        log.push(show(await p!.call('lrange', k('d'), '0', '-1')));
        b!.send('blpop', k('d2'), '0');
        await sleep(SETTLE);
        b!.close();
        await sleep(SETTLE);
        log.push(await p!.call('lpush', k('d2'), 'kept'));
        log.push(show(await p!.call('lrange', k('d2'), '0', '-1')));
      } finally {
        for (const x of [a, b, p]) x!.close();
      }
    });
  });

  it('pipelined commands after a blocking command run only once it is served', async () => {
    const log = await sameOnBoth(async (port, log, k) => {
      const [a, p] = await conns(port, 2);
      try {
        a!.write(
          Buffer.concat(
            [
              ['blpop', k('pl'), '0'],
              ['ping'],
              ['llen', k('pl')],
              ['blpop', k('pl'), '0'],
              ['echo', 'after'],
            ].map((cmd) => Buffer.from(cmd.map((x) => `$${x.length}\r\n${x}\r\n`).reduce((s, x) => s + x, `*${cmd.length}\r\n`))),
          ),
        );
        log.push(await next(a!, 200));
        log.push(await p!.call('rpush', k('pl'), 'x', 'y', 'z'));
        for (let i = 0; i < 5; i++) log.push(await next(a!));
        log.push(show(await p!.call('lrange', k('pl'), '0', '-1')));
      } finally {
        for (const x of [a, p]) x!.close();
      }
    });
    expect(log[0]).toBe('blocked');
    expect(log.slice(2, 7)).toEqual([[expect.any(String), 'x'], 'PONG', 2, [expect.any(String), 'y'], 'after']);
  });

  it('waiters are per database; a repeated key and a rotation onto the same list behave as in Redis', async () => {
    const log = await sameOnBoth(async (port, log, k) => {
      const [a, b, p] = await conns(port, 3);
      try {
        log.push(await a!.call('select', '1'));
        a!.send('blpop', k('db'), k('db'), '0');
        await sleep(SETTLE);
        log.push(await p!.call('rpush', k('db'), 'in-db0'));
        log.push(await next(a!, 150));
        log.push(await p!.call('select', '1'));
        log.push(await p!.call('rpush', k('db'), 'in-db1', 'second'));
        log.push(await next(a!));
        log.push(show(await p!.call('lrange', k('db'), '0', '-1')));
        log.push(await p!.call('select', '0'), await a!.call('select', '0'));
        b!.send('brpoplpush', k('rot'), k('rot'), '0');
        await sleep(SETTLE);
        a!.send('blmpop', '0', '1', k('rot'), 'LEFT', 'COUNT', '5');
        await sleep(SETTLE);
        log.push(await p!.call('rpush', k('rot'), 'r1', 'r2'));
        log.push(await next(b!), await next(a!, 150));
        log.push(show(await p!.call('lrange', k('rot'), '0', '-1')));
      } finally {
        for (const x of [a, b, p]) x!.close();
      }
    });
    expect(log[2]).toBe('blocked');
    expect(log.slice(-3)).toEqual(['r2', [expect.stringContaining('rot'), ['r2', 'r1']], []]);
  });

  it('CLIENT UNBLOCK ends a wait as a timeout or with an error, and the client goes on', async () => {
    await sameOnBoth(async (port, log, k) => {
      const [a, p] = await conns(port, 2);
      try {
        const id = String(await a!.call('client', 'id'));
        a!.send('blmove', k('u'), k('v'), 'LEFT', 'LEFT', '0');
        a!.send('ping');
        await sleep(SETTLE);
        log.push(await p!.call('client', 'unblock', id));
        log.push(await next(a!), await next(a!));
        a!.send('blmpop', '0', '1', k('u'), 'LEFT');
        await sleep(SETTLE);
        log.push(await p!.call('client', 'unblock', id, 'ERROR'));
        log.push(await next(a!));
        log.push(await p!.call('client', 'unblock', id));
        log.push(await p!.call('rpush', k('u'), 'kept'));
        log.push(show(await p!.call('lrange', k('u'), '0', '-1')));
      } finally {
        for (const x of [a, p]) x!.close();
      }
    });
  });

  it('a timeout longer than a Node timer can hold does not fire early', async () => {
    await sameOnBoth(async (port, log, k) => {
      const [a, p] = await conns(port, 2);
      try {
        a!.send('blpop', k('long'), '3000000');
        log.push(await next(a!, 400));
        log.push(await p!.call('rpush', k('long'), 'v'));
        log.push(await next(a!));
      } finally {
        for (const x of [a, p]) x!.close();
      }
    });
  });
});

describe('blocking pops with client libraries', () => {
  it('ioredis: BLPOP woken by a push from another client, BLMOVE, BLMPOP, timeout', async () => {
    const w = new Redis({ port: sonic.port, lazyConnect: true });
    const p = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await Promise.all([w.connect(), p.connect()]);
      const t0 = Date.now();
      const pending = w.blpop('io:q', 5);
      await sleep(SETTLE);
      expect(await p.rpush('io:q', 'hello')).toBe(1);
      expect(await pending).toEqual(['io:q', 'hello']);
      expect(Date.now() - t0).toBeLessThan(2000);

      const mv = w.blmove('io:src', 'io:dst', 'RIGHT', 'LEFT', 5);
      await sleep(SETTLE);
      await p.rpush('io:src', 'a', 'b');
      expect(await mv).toBe('b');
      expect(await p.lrange('io:dst', 0, -1)).toEqual(['b']);

      const mp = w.blmpop(5, 2, 'io:m1', 'io:m2', 'LEFT', 'COUNT', 3);
      await sleep(SETTLE);
      await p.rpush('io:m2', '1', '2');
      expect(await mp).toEqual(['io:m2', ['1', '2']]);

      const t1 = Date.now();
      expect(await w.brpop('io:none', 0.2)).toBeNull();
      const took = Date.now() - t1;
      expect(took).toBeGreaterThanOrEqual(180);
      expect(took).toBeLessThan(1500);
    } finally {
      w.disconnect();
      p.disconnect();
    }
  });

  it('ioredis: MULTI with a blocking pop on an empty list does not block', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await r.connect();
      const res = await r.multi().blpop('io:tx', 0).rpush('io:tx', 'v').brpop('io:tx', 0).exec();
      expect(res).toEqual([
        [null, null],
        [null, 1],
        [null, ['io:tx', 'v']],
      ]);
    } finally {
      r.disconnect();
    }
  });

  it('node-redis: BLPOP woken by a push, BRPOPLPUSH and a timeout', async () => {
    const w = createClient({ socket: { port: sonic.port } });
    const p = createClient({ socket: { port: sonic.port } });
    await Promise.all([w.connect(), p.connect()]);
    try {
      const pending = w.blPop('nr:q', 5);
      await sleep(SETTLE);
      await p.lPush('nr:q', 'hi');
      expect(await pending).toEqual({ key: 'nr:q', element: 'hi' });

      const mv = w.brPopLPush('nr:src', 'nr:dst', 5);
      await sleep(SETTLE);
      await p.rPush('nr:src', 'z');
      expect(await mv).toBe('z');

      const t0 = Date.now();
      expect(await w.brPop('nr:none', 0.2)).toBeNull();
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(180);
      expect(took).toBeLessThan(1500);
    } finally {
      await Promise.all([w.quit(), p.quit()]);
    }
  });
});

/**
 * What plain clients expect from one Redis server, through `sonic router` in front of a
 * 3-shard cluster: multi-key commands over 1,000 keys of every shard (MSET, MGET, EXISTS,
 * TOUCH, DEL, UNLINK, MSETNX), keyless ones answered for the whole cluster (DBSIZE summed,
 * KEYS, a full SCAN returning every key once, FLUSHALL), MULTI/EXEC in one slot and
 * CROSSSLOT across slots, WATCH, BLPOP woken by another client's push, SUBSCRIBE /
 * PSUBSCRIBE / SSUBSCRIBE, the router's own AUTH, SELECT 0 only, and `--workers 2` on one
 * port. Each check also looks at the nodes directly where the answer depends on them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { RawConn, redisCli } from './harness.js';
import { sleep, stopEverything, waitFor } from './controller-helpers.js';
import { slotOf, type SonicCluster } from './cluster-helpers.js';
import { routerClient, shardIndex, startCluster, startRouter, stopRouters, withNodeRedis, type Router } from './router-helpers.js';

let cl: SonicCluster;
let router: Router;
let io: Redis;

beforeAll(async () => {
  cl = await startCluster();
  router = await startRouter(cl);
  io = routerClient(router);
}, 150000);

afterAll(async () => {
  io?.disconnect();
  await stopRouters();
  await stopEverything();
});

/** DBSIZE of each primary, asked directly. */
async function primarySizes(): Promise<number[]> {
  return Promise.all(
    cl.primaries.map(async (p) => {
      const c = new Redis({ port: p.port, host: p.host });
      try {
        return await c.dbsize();
      } finally {
        c.disconnect();
      }
    }),
  );
}

const N = 1000;
const keys = Array.from({ length: N }, (_, i) => `mk:${i}`);

describe('cluster-wide commands through the router', () => {
  it('MSET, MGET, EXISTS, TOUCH, DEL, UNLINK of 1,000 keys across all slots; DBSIZE summed', async () => {
    await io.flushall();
    // The keys cover every shard (and many slots).
    expect(new Set(keys.map((k) => shardIndex(slotOf(k))))).toEqual(new Set([0, 1, 2]));
    expect(new Set(keys.map(slotOf)).size).toBeGreaterThan(900);
    expect(await io.mset(...keys.flatMap((k, i) => [k, `v${i}`]))).toBe('OK');
    const sizes = await primarySizes();
    expect(sizes.every((n) => n > 200)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(N);
    expect(await io.dbsize()).toBe(N);
    // MGET in the caller's order, with missing keys (nulls) interleaved.
    const asked = keys.flatMap((k, i) => (i % 10 === 0 ? [k, `mk:none:${i}`] : [k]));
    const got = await io.mget(...asked);
    expect(got).toEqual(asked.map((k) => (k.startsWith('mk:none') ? null : `v${k.slice(3)}`)));
    // EXISTS counts repeats, as Redis does.
    expect(await io.exists(...keys, keys[0]!, 'mk:none')).toBe(N + 1);
    expect(await io.touch(...keys, 'mk:none')).toBe(N);
    expect(await io.del(...keys.slice(0, 500), 'mk:none')).toBe(500);
    expect(await io.unlink(...keys.slice(400))).toBe(500);
    expect(await io.dbsize()).toBe(0);
    expect((await io.mget(...keys)).every((v) => v === null)).toBe(true);
    // MSETNX: all or nothing.
    expect(await io.msetnx(...keys.slice(0, 100).flatMap((k) => [k, 'a']))).toBe(1);
    expect(await io.msetnx(...keys.slice(50, 150).flatMap((k) => [k, 'b']))).toBe(0);
    expect(await io.exists(...keys.slice(100, 150))).toBe(0);
    expect(await io.mget(keys[0]!, keys[99]!)).toEqual(['a', 'a']);
    // node-redis, the same scatter/gather.
    await withNodeRedis(router.port, async (nr) => {
      expect(await nr.mSet(Object.fromEntries(keys.map((k) => [k, k])))).toBe('OK');
      expect(await nr.mGet(keys)).toEqual(keys);
      expect(await nr.del(keys)).toBe(N);
    });
  });

  it('KEYS and a full SCAN across all shards: every key exactly once; FLUSHALL empties every shard', async () => {
    await io.mset(...keys.flatMap((k, i) => [k, String(i)]));
    await io.hset('mk:hash', 'f', 'v');
    const all = [...keys, 'mk:hash'].sort();
    expect((await io.keys('mk:*')).sort()).toEqual(all);
    expect((await io.keys('mk:99*')).sort()).toEqual(['mk:99', 'mk:990', 'mk:991', 'mk:992', 'mk:993', 'mk:994', 'mk:995', 'mk:996', 'mk:997', 'mk:998', 'mk:999'].sort());
    // SCAN until cursor 0, bounded; no key twice, none missing.
    const scan = async (...extra: string[]) => {
      const seen: string[] = [];
      let cursor = '0';
      for (let round = 0; round < 2000; round++) {
        const [next, batch] = (await io.call('SCAN', cursor, 'COUNT', '100', ...extra)) as [string, string[]];
        seen.push(...batch);
        cursor = next;
        if (cursor === '0') return seen;
      }
      throw new Error(`SCAN did not finish: ${seen.length} keys so far`);
    };
    const seen = await scan();
    expect(seen.length).toBe(all.length);
    expect([...seen].sort()).toEqual(all);
    expect((await scan('MATCH', 'mk:1*')).sort()).toEqual(all.filter((k) => k.startsWith('mk:1')));
    expect(await scan('TYPE', 'hash')).toEqual(['mk:hash']);
    // A node-redis scanIterator (what session stores and caches use to clear keys).
    await withNodeRedis(router.port, async (nr) => {
      const it: string[] = [];
      for await (const batch of nr.scanIterator({ MATCH: 'mk:*', COUNT: 200 })) it.push(...(Array.isArray(batch) ? batch : [batch]));
      expect(it.sort()).toEqual(all);
    });
    expect(await io.flushall()).toBe('OK');
    expect(await io.dbsize()).toBe(0);
    expect(await primarySizes()).toEqual([0, 0, 0]);
    expect(await io.keys('*')).toEqual([]);
    expect(await io.call('SCAN', '0')).toEqual(['0', []]);
  });

  it('keyless commands: PING, ECHO, TIME, RANDOMKEY, INFO, COMMAND', async () => {
    expect(await io.ping()).toBe('PONG');
    expect(await io.echo('x y')).toBe('x y');
    const [sec, usec] = (await io.time()) as unknown as [string, string];
    expect(Math.abs(Number(sec) - Date.now() / 1000)).toBeLessThan(60);
    expect(Number(usec)).toBeLessThan(1e6);
    expect(await io.randomkey()).toBeNull();
    await io.set('rk:only', '1');
    expect(await io.randomkey()).toBe('rk:only');
    const info = await io.info();
    expect(info).toMatch(/^# Server/m);
    expect(info).toMatch(/^# Keyspace/m);
    expect(info).toMatch(/^db0:keys=1,/m);
    const getInfo = (await io.call('COMMAND', 'INFO', 'GET')) as unknown[][];
    expect(getInfo[0]![0]).toBe('get');
    expect(await io.call('COMMAND', 'COUNT')).toBeGreaterThan(150);
    await io.del('rk:only');
  });

  it('MULTI/EXEC on hash-tagged keys runs on their node; across slots answers CROSSSLOT and runs nothing', async () => {
    const r = await io.multi().set('{acct}:a', '10').incrby('{acct}:a', 5).hset('{acct}:meta', 'o', 'x').get('{acct}:a').exec();
    expect(r).toEqual([[null, 'OK'], [null, 15], [null, 1], [null, '15']]);
    // Other clients' commands interleave freely with a pinned transaction.
    const c = await RawConn.open(router.port);
    try {
      expect(await c.call('MULTI')).toBe('OK');
      expect(await c.call('SET', '{t}x', '1')).toBe('QUEUED');
      expect(await io.set('elsewhere', '1')).toBe('OK');
      expect(await c.call('INCR', '{t}x')).toBe('QUEUED');
      expect(await c.call('EXEC')).toEqual(['OK', 2]);
      // DISCARD
      expect(await c.call('MULTI')).toBe('OK');
      expect(await c.call('SET', '{t}y', '1')).toBe('QUEUED');
      expect(await c.call('DISCARD')).toBe('OK');
      expect(await io.exists('{t}y')).toBe(0);
      // Across slots: CROSSSLOT, and EXEC runs nothing.
      const a = 'xa';
      let b = 'xb';
      for (let i = 0; shardIndex(slotOf(b)) === shardIndex(slotOf(a)); i++) b = `xb${i}`;
      expect(await c.call('MULTI')).toBe('OK');
      const replies = [await c.call('SET', a, '1'), await c.call('SET', b, '1'), await c.call('EXEC')];
      const errs = replies.filter((x) => x instanceof Error).map((e) => (e as Error).message);
      expect(errs.some((m) => m.startsWith('CROSSSLOT'))).toBe(true);
      expect(replies[2]).toBeInstanceOf(Error);
      expect((replies[2] as Error).message).toMatch(/^(EXECABORT|CROSSSLOT)/);
      expect(await io.exists(a, b)).toBe(0);
      // The connection is usable afterwards.
      expect(await c.call('GET', '{t}x')).toBe('2');
    } finally {
      c.close();
    }
    // node-redis multi in one slot.
    await withNodeRedis(router.port, async (nr) => {
      expect(await nr.multi().set('{nr}a', '1').incr('{nr}a').get('{nr}a').exec()).toEqual(['OK', 2, '2']);
    });
  });

  it('WATCH: a change by another client aborts EXEC; no change lets it run', async () => {
    const a = routerClient(router);
    try {
      await a.set('{w}k', '1');
      await a.watch('{w}k');
      await io.set('{w}k', 'changed');
      expect(await a.multi().set('{w}k', 'mine').exec()).toBeNull();
      expect(await io.get('{w}k')).toBe('changed');
      await a.watch('{w}k', '{w}other');
      await io.set('unrelated', '1');
      expect(await a.multi().set('{w}k', 'mine').exec()).toEqual([[null, 'OK']]);
      expect(await io.get('{w}k')).toBe('mine');
      // UNWATCH forgets.
      await a.watch('{w}k');
      await io.set('{w}k', 'again');
      await a.unwatch();
      expect(await a.multi().get('{w}k').exec()).toEqual([[null, 'again']]);
    } finally {
      a.disconnect();
    }
  });

  it('BLPOP woken by an LPUSH from another client; BRPOP and BZPOPMIN time out with null; BLMOVE', async () => {
    const w = routerClient(router);
    const w2 = routerClient(router);
    try {
      const pending = w.blpop('bl:q', 0);
      const pending2 = w2.bzpopmin('bl:z', 5);
      await sleep(300);
      // Other clients still get answers while two are blocked.
      expect(await io.ping()).toBe('PONG');
      expect(await io.lpush('bl:q', 'hello')).toBe(1);
      expect(await pending).toEqual(['bl:q', 'hello']);
      expect(await io.zadd('bl:z', 1, 'm')).toBe(1);
      expect(await pending2).toEqual(['bl:z', 'm', '1']);
      expect(await w.brpop('bl:empty', 0.2)).toBeNull();
      expect(await w.bzpopmin('bl:emptyz', 0.2)).toBeNull();
      const mv = w.blmove('{bl}src', '{bl}dst', 'LEFT', 'RIGHT', 5);
      await sleep(200);
      await io.rpush('{bl}src', 'x');
      expect(await mv).toBe('x');
      expect(await io.lrange('{bl}dst', 0, -1)).toEqual(['x']);
      // Many blocked clients at once, each woken by its own push.
      const many = Array.from({ length: 10 }, () => routerClient(router));
      try {
        const pops = many.map((c, i) => c.blpop(`bl:many:${i}`, 10));
        await sleep(300);
        for (let i = 0; i < 10; i++) await io.rpush(`bl:many:${i}`, `v${i}`);
        expect(await Promise.all(pops)).toEqual(Array.from({ length: 10 }, (_, i) => [`bl:many:${i}`, `v${i}`]));
      } finally {
        many.forEach((c) => c.disconnect());
      }
    } finally {
      w.disconnect();
      w2.disconnect();
    }
  });

  it('SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE receive what is published through the router and on the nodes', async () => {
    const sub = routerClient(router);
    const got: string[] = [];
    sub.on('message', (ch: string, m: string) => got.push(`m ${ch} ${m}`));
    sub.on('pmessage', (p: string, ch: string, m: string) => got.push(`p ${p} ${ch} ${m}`));
    sub.on('smessage', (ch: string, m: string) => got.push(`s ${ch} ${m}`));
    try {
      expect(await sub.subscribe('news', 'alerts')).toBe(2);
      expect(await sub.psubscribe('ev.*')).toBe(3);
      // Sharded channels of different shards.
      const sch = ['s:a', 's:b', 's:c', 's:d', 's:e'];
      expect(new Set(sch.map((c) => shardIndex(slotOf(c)))).size).toBeGreaterThan(1);
      for (const ch of sch) await sub.ssubscribe(ch);
      expect(await io.publish('news', 'n1')).toBeGreaterThanOrEqual(1);
      await io.publish('ev.login', 'e1');
      for (const ch of sch) expect(await io.spublish(ch, `x-${ch}`)).toBe(1);
      // Published on a node of another shard (the bus spreads it).
      const direct = new Redis({ port: cl.primaries[2]!.port });
      try {
        await direct.publish('alerts', 'a1');
      } finally {
        direct.disconnect();
      }
      const want = ['m news n1', 'p ev.* ev.login e1', 'm alerts a1', ...sch.map((c) => `s ${c} x-${c}`)];
      await waitFor('every message arrives', () => want.every((w) => got.includes(w)), 10000).catch(() => {
        throw new Error(`got ${JSON.stringify(got)}`);
      });
      await sub.unsubscribe('news');
      await io.publish('news', 'after-unsub');
      await io.publish('alerts', 'a2');
      await waitFor('a2', () => got.includes('m alerts a2'), 5000);
      expect(got).not.toContain('m news after-unsub');
    } finally {
      sub.disconnect();
    }
    // A subscribed connection refuses other commands, as Redis does in RESP2.
    const raw = await RawConn.open(router.port);
    try {
      expect(await raw.call('SUBSCRIBE', 'raw-ch')).toEqual(['subscribe', 'raw-ch', 1]);
      const refused = await raw.call('GET', 'x');
      expect((refused as Error).message).toBe("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
      expect(await raw.call('PING')).toEqual(['pong', '']);
      await io.publish('raw-ch', 'r1');
      expect(await raw.read()).toEqual(['message', 'raw-ch', 'r1']);
      expect(await raw.call('UNSUBSCRIBE')).toEqual(['unsubscribe', 'raw-ch', 0]);
      expect(await raw.call('GET', 'x')).toBeNull();
    } finally {
      raw.close();
    }
    // node-redis subscriber (RESP as node-redis opens it).
    await withNodeRedis(router.port, async (nsub) => {
      const n: string[] = [];
      await nsub.subscribe('nr-news', (m) => n.push(m));
      await nsub.sSubscribe('{nr}shard', (m) => n.push(`s:${m}`));
      await io.publish('nr-news', 'hi');
      await io.spublish('{nr}shard', 'there');
      await waitFor('node-redis gets both', () => n.length === 2, 10000);
      expect(n.sort()).toEqual(['hi', 's:there']);
    });
  });

  it('SELECT 0 only; AUTH against the router\'s --requirepass (NOAUTH before, WRONGPASS on a bad one)', async () => {
    const c = await RawConn.open(router.port);
    try {
      expect(await c.call('SELECT', '0')).toBe('OK');
      const sel = await c.call('SELECT', '1');
      expect(sel).toBeInstanceOf(Error);
      expect((sel as Error).message).toMatch(/^ERR /);
      expect(await c.call('PING')).toBe('PONG');
    } finally {
      c.close();
    }
    const secured = await startRouter(cl, ['--requirepass', 's3cret'], { password: 's3cret' });
    const raw = await RawConn.open(secured.port);
    try {
      expect(((await raw.call('GET', 'x')) as Error).message).toBe('NOAUTH Authentication required.');
      expect(((await raw.call('AUTH', 'nope')) as Error).message).toBe('WRONGPASS invalid username-password pair or user is disabled.');
      expect(((await raw.call('AUTH', 'default', 'nope')) as Error).message).toBe('WRONGPASS invalid username-password pair or user is disabled.');
      expect(((await raw.call('SET', 'x', '1')) as Error).message).toBe('NOAUTH Authentication required.');
      expect(await raw.call('AUTH', 's3cret')).toBe('OK');
      expect(await raw.call('SET', 'auth:x', '1')).toBe('OK');
      expect(await raw.call('GET', 'auth:x')).toBe('1');
    } finally {
      raw.close();
    }
    // Clients with the password; redis-cli -a; HELLO 3 AUTH.
    const withPw = new Redis({ port: secured.port, password: 's3cret' });
    withPw.on('error', () => {});
    try {
      expect(await withPw.get('auth:x')).toBe('1');
    } finally {
      withPw.disconnect();
    }
    expect(redisCli(secured.port, ['--no-auth-warning', '-a', 's3cret', 'GET', 'auth:x']).stdout).toBe('1');
    await withNodeRedis(secured.port, async (nr) => {
      expect(await nr.get('auth:x')).toBe('1');
    }, 's3cret');
    await secured.stop();
  });

  it('--workers 2 serves on one port: several router processes, every connection answered', async () => {
    const multi = await startRouter(cl, ['--workers', '2']);
    const pids = () => {
      try {
        return execFileSync('pgrep', ['-P', String(multi.child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean);
      } catch {
        return [];
      }
    };
    await waitFor('two workers', () => pids().length >= 2, 15000);
    const clients = Array.from({ length: 12 }, () => routerClient(multi));
    try {
      await Promise.all(clients.map((c, i) => c.set(`wk:${i}`, String(i))));
      expect(await Promise.all(clients.map((c, i) => c.get(`wk:${(i + 1) % 12}`)))).toEqual(clients.map((_, i) => String((i + 1) % 12)));
      expect(await clients[0]!.mget(...clients.map((_, i) => `wk:${i}`))).toEqual(clients.map((_, i) => String(i)));
      // A transaction and a blocking pop work on a worker as well.
      expect(await clients[1]!.multi().incr('{wk}n').incr('{wk}n').exec()).toEqual([[null, 1], [null, 2]]);
      const pop = clients[2]!.blpop('wk:q', 5);
      await sleep(200);
      await clients[3]!.lpush('wk:q', 'z');
      expect(await pop).toEqual(['wk:q', 'z']);
    } finally {
      clients.forEach((c) => c.disconnect());
    }
    const workers = pids();
    // SIGTERM to the router's pid alone: its workers go with it.
    multi.child.kill('SIGTERM');
    await waitFor('workers gone', () => workers.every((p) => {
      try {
        process.kill(Number(p), 0);
        return false;
      } catch {
        return true;
      }
    }), 10000);
    await multi.stop();
  });
});

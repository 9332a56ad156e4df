import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, stopAll, redisCli } from './harness.js';
import { client, digest, info, startNode, startReplica, waitInSync, waitUntil } from './replication-helpers.js';

afterAll(stopAll);

/** A mixed write load on one client: every type, TTLs, deletes, a transaction, other dbs. */
async function load(r: Redis, id: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const k = `c${id}:${i % 200}`;
    const p = r.pipeline();
    p.set(`s:${k}`, `v${i}`);
    p.incr(`n:${id}`);
    p.hset(`h:${id}`, `f${i % 50}`, i);
    p.rpush(`l:${id}`, i);
    if (i % 7 === 0) p.ltrim(`l:${id}`, -20, -1);
    p.sadd(`set:${id}`, i % 30);
    p.zadd(`z:${id}`, i * 1.5, `m${i % 40}`);
    if (i % 5 === 0) p.set(`ttl:${k}`, 'x', 'PX', 60000);
    if (i % 11 === 0) p.del(`s:c${id}:${(i + 3) % 200}`);
    if (i % 13 === 0) p.multi().incrby(`tx:${id}`, 2).set(`tx2:${id}`, i).exec();
    if (i % 17 === 0) p.select(2).set(`db2:${id}`, i).select(0);
    await p.exec();
  }
}

describe('replication: a primary and two replicas', () => {
  it('replicas end with the primary\'s digest after a write load from several ioredis clients; WAIT counts acks; replicas refuse writes', async () => {
    const primary = await startNode();
    const seed = client(primary);
    await seed.set('before-sync', '1');
    const [r1, r2] = await Promise.all([startReplica(primary), startReplica(primary)]);
    const clients = [0, 1, 2, 3].map(() => client(primary));
    await Promise.all(clients.map((c, i) => load(c, i, 300)));
    // WAIT returns once both replicas acked everything written so far.
    expect(await clients[0]!.wait(2, 5000)).toBe(2);
    await waitInSync(primary, r1);
    await waitInSync(primary, r2);
    const d = await digest(primary);
    expect(d).toMatch(/^[0-9a-f]{40}$/);
    expect(d).not.toBe('0'.repeat(40));
    expect(await digest(r1)).toBe(d);
    expect(await digest(r2)).toBe(d);

    const pi = await info(primary);
    expect(pi.role).toBe('master');
    expect(pi.connected_slaves).toBe('2');
    expect(pi.slave0).toMatch(/^ip=127\.0\.0\.1,port=\d+,state=online,offset=\d+,lag=\d+$/);
    expect(pi.repl_backlog_active).toBe('1');
    const ri = await info(r1);
    expect(ri).toMatchObject({ role: 'slave', master_host: '127.0.0.1', master_port: String(primary.port), master_link_status: 'up', master_sync_in_progress: '0' });
    expect(ri.master_replid).toBe(pi.master_replid);
    for (const f of ['master_last_io_seconds_ago', 'slave_read_repl_offset', 'slave_repl_offset', 'slave_priority', 'slave_read_only', 'replica_announced'])
      expect(ri[f], f).toBeDefined();

    // Writes to a replica are refused; reads work.
    const rc = client(r1);
    await expect(rc.set('x', '1')).rejects.toThrow("READONLY You can't write against a read only replica.");
    expect(await rc.get('before-sync')).toBe('1');
    expect(await rc.call('ROLE')).toEqual(['slave', '127.0.0.1', primary.port, 'connected', Number(ri.slave_repl_offset)]);
    const role = (await seed.call('ROLE')) as unknown[];
    expect(role[0]).toBe('master');
    expect((role[2] as unknown[]).length).toBe(2);
    // WAIT on a replica is an error, as in Redis.
    await expect(rc.wait(1, 10)).rejects.toThrow(/WAIT cannot be used with replica instances/);
    // Expirations travel as DEL: a key with a short TTL disappears on the replica too.
    await seed.set('short', 'x', 'PX', 50);
    await new Promise((r) => setTimeout(r, 120));
    expect(await seed.get('short')).toBeNull();
    await waitUntil('expired key deleted on the replica', async () => (await rc.exists('short')) === 0 && (await rc.dbsize()) === (await seed.dbsize()));
    for (const c of [...clients, seed, rc]) c.disconnect();
  });

  it('WAIT times out with the number that acked; min-replicas-to-write refuses writes without enough good replicas', async () => {
    const primary = await startNode(['--min-replicas-max-lag', '10']);
    const c = client(primary);
    expect(await c.wait(0, 0)).toBe(0);
    const t0 = Date.now();
    expect(await c.wait(1, 200)).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    await c.config('SET', 'min-replicas-to-write', '1');
    await expect(c.set('a', '1')).rejects.toThrow('NOREPLICAS Not enough good replicas to write.');
    expect(await c.get('a')).toBeNull();
    const r = await startReplica(primary);
    await waitInSync(primary, r);
    expect(await c.set('a', '1')).toBe('OK');
    expect(await c.wait(1, 5000)).toBe(1);
    // WAIT blocks only its client: another client is served meanwhile.
    const blocked = c.wait(2, 500);
    const other = client(primary);
    const t1 = Date.now();
    expect(await other.ping()).toBe('PONG');
    expect(Date.now() - t1).toBeLessThan(300);
    expect(await blocked).toBe(1);
    c.disconnect();
    other.disconnect();
  });

  it('REPLICAOF NO ONE keeps the data and the history: the other replica partially resyncs to the promoted one (PSYNC2)', async () => {
    const primary = await startNode();
    const [a, b] = await Promise.all([startReplica(primary), startReplica(primary)]);
    const pc = client(primary);
    await load(pc, 9, 100);
    await waitInSync(primary, a);
    await waitInSync(primary, b);
    const before = await info(a);
    await primary.stop('SIGKILL');
    const ac = client(a);
    expect(await ac.call('REPLICAOF', 'NO', 'ONE')).toBe('OK');
    const promoted = await info(a);
    expect(promoted.role).toBe('master');
    expect(promoted.master_replid2).toBe(before.master_replid);
    // As redis-server: the first byte the old id does not cover.
    expect(promoted.second_repl_offset).toBe(String(Number(before.master_repl_offset) + 1));
    expect(promoted.master_replid).not.toBe(before.master_replid);
    const bc = client(b);
    expect(await bc.call('REPLICAOF', '127.0.0.1', String(a.port))).toBe('OK');
    expect(await bc.call('REPLICAOF', '127.0.0.1', String(a.port))).toBe('OK Already connected to specified master');
    await waitInSync(a, b);
    const st = await info(a, 'stats');
    expect(st.sync_partial_ok).toBe('1');
    expect(st.sync_full).toBe('0');
    await waitUntil('partial resync logged', () => /Partial resynchronization request from .* accepted/.test(a.output()));
    // The promoted node takes writes and streams them on.
    await ac.set('after-promotion', 'yes');
    await waitInSync(a, b);
    expect(await bc.get('after-promotion')).toBe('yes');
    expect(await digest(b)).toBe(await digest(a));
    // Argument errors as Redis.
    await expect(ac.call('REPLICAOF', 'host', 'notaport')).rejects.toThrow('ERR value is not an integer or out of range');
    await expect(ac.call('REPLICAOF', 'host', '70000')).rejects.toThrow('ERR Invalid master port');
    for (const c of [pc, ac, bc]) c.disconnect();
  });

  it('DEBUG DIGEST and DIGEST-VALUE agree with redis-server on the same data', async () => {
    const [sonic, redis] = await Promise.all([startNode(), startRedis(['--enable-debug-command', 'yes'])]);
    const s = client(sonic);
    const r = new Redis({ port: redis.port });
    for (const c of [s, r]) {
      expect(await c.call('DEBUG', 'DIGEST')).toBe('0'.repeat(40));
      await c.set('str', 'hello');
      await c.set('int', '12345');
      await c.rpush('list', 'a', 'b', 'c');
      await c.sadd('set', 'x', 'y', '1', '2');
      await c.hset('hash', 'f1', 'v1', 'f2', 'v2');
      await c.zadd('zset', 1.5, 'a', 2, 'b', -3.25, 'c');
      await c.set('ttl', 'v', 'EX', 1000);
      await c.select(3);
      await c.set('in3', 'x');
      await c.select(0);
    }
    expect(await s.call('DEBUG', 'DIGEST')).toBe(await r.call('DEBUG', 'DIGEST'));
    const keys = ['str', 'list', 'set', 'hash', 'zset', 'ttl', 'missing'];
    expect(await s.call('DEBUG', 'DIGEST-VALUE', ...keys)).toEqual(await r.call('DEBUG', 'DIGEST-VALUE', ...keys));
    // Order-independent: the same set built in another order digests the same.
    await s.del('set');
    await s.sadd('set', '2', '1', 'y', 'x');
    expect(await s.call('DEBUG', 'DIGEST')).toBe(await r.call('DEBUG', 'DIGEST'));
    expect(redisCli(sonic.port, ['debug', 'digest-value']).stdout).toBe('');
    s.disconnect();
    r.disconnect();
  });
});

/**
 * Plain clients through `sonic router` in front of a 3-shard cluster (3 controllers,
 * primaries with replicas): the same command script (strings, hashes, lists, sets, sorted
 * sets, TTLs, INCR+EXPIRE, SET NX EX locks, error replies) goes through the router and to
 * one standalone `sonic node`, and the answers must be the same, byte for byte on a raw
 * connection (RESP2 and RESP3) and as redis-cli, ioredis (standalone `new Redis(port)`)
 * and node-redis (`createClient`) see them. A pipeline of 1,000 mixed commands in one
 * write comes back in order, with the same replies as the node's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { encodeCommand } from '@sonic/protocol';
import { RawConn, redisCli, startSonic, stopAll, transcript, type Proc } from './harness.js';
import { stopEverything } from './controller-helpers.js';
import { slotOf, type SonicCluster } from './cluster-helpers.js';
import { shardIndex, startCluster, startRouter, stopRouters, type Router } from './router-helpers.js';

let cl: SonicCluster;
let router: Router;
let node: Proc;

beforeAll(async () => {
  [cl, node] = await Promise.all([startCluster(), startSonic()]);
  router = await startRouter(cl);
}, 150000);

afterAll(async () => {
  await stopRouters();
  await stopEverything();
  await stopAll();
});

interface Step {
  args: string[];
  /** The reply is an error (on a node as through the router). */
  err?: true;
  /** A TTL in seconds: the two sides may differ by a second or two on a loaded machine. */
  approx?: true;
}

/** A spread of each family; `p` prefixes every key so each client has its own. */
function script(p: string): Step[] {
  const s = `${p}s`;
  const n = `${p}n`;
  const h = `${p}h`;
  const l = `${p}l`;
  const st = `${p}set`;
  const z = `${p}z`;
  const lock = `${p}lock`;
  const rate = `${p}rate`;
  const t = `${p}ttl`;
  const steps: (string[] | [string[], 'err' | 'approx'])[] = [
    ['PING'],
    ['ECHO', 'hi'],
    // strings
    ['SET', s, 'hello'],
    ['GET', s],
    ['APPEND', s, '-world'],
    ['STRLEN', s],
    ['GETRANGE', s, '0', '4'],
    ['SETRANGE', s, '6', 'there'],
    ['GET', s],
    ['INCR', n],
    ['INCRBY', n, '41'],
    ['DECRBY', n, '2'],
    ['INCRBYFLOAT', `${p}f`, '1.5'],
    ['GETSET', n, '7'],
    ['GETDEL', n],
    ['GET', n],
    ['SETNX', `${p}nx`, 'a'],
    ['SETNX', `${p}nx`, 'b'],
    ['GET', `${p}nx`],
    ['SET', `${p}old`, 'x', 'GET'],
    ['SET', `${p}old`, 'y', 'GET'],
    // a lock: SET NX EX, second taker refused, release
    ['SET', lock, 'tok1', 'NX', 'EX', '30'],
    ['SET', lock, 'tok2', 'NX', 'EX', '30'],
    ['GET', lock],
    [['TTL', lock], 'approx'],
    ['DEL', lock],
    ['SET', lock, 'tok2', 'NX', 'PX', '30000'],
    // a rate limiter: INCR + EXPIRE
    ['INCR', rate],
    ['EXPIRE', rate, '60'],
    ['INCR', rate],
    [['TTL', rate], 'approx'],
    ['EXPIRE', rate, '60', 'NX'],
    // TTLs
    ['SET', t, 'v', 'EX', '100'],
    [['TTL', t], 'approx'],
    ['EXPIRE', t, '200'],
    [['TTL', t], 'approx'],
    ['PERSIST', t],
    ['TTL', t],
    ['TTL', `${p}missing`],
    ['EXPIRE', `${p}missing`, '10'],
    ['EXISTS', t],
    ['TYPE', t],
    // hashes
    ['HSET', h, 'f1', 'v1', 'f2', 'v2'],
    ['HSET', h, 'f1', 'v1b'],
    ['HGET', h, 'f1'],
    ['HMGET', h, 'f1', 'nope', 'f2'],
    ['HINCRBY', h, 'c', '5'],
    ['HGETALL', h],
    ['HDEL', h, 'f1', 'nope'],
    ['HLEN', h],
    ['HEXISTS', h, 'f2'],
    ['HKEYS', h],
    ['TYPE', h],
    // lists
    ['RPUSH', l, 'a', 'b', 'c'],
    ['LPUSH', l, 'z'],
    ['LRANGE', l, '0', '-1'],
    ['LPOP', l],
    ['RPOP', l],
    ['LLEN', l],
    ['LINDEX', l, '0'],
    ['LSET', l, '0', 'A'],
    ['LINSERT', l, 'BEFORE', 'A', 'x'],
    ['LRANGE', l, '0', '-1'],
    ['LREM', l, '0', 'x'],
    ['LPOS', l, 'b'],
    ['RPUSH', `{${p}L}a`, '1', '2'],
    ['LMOVE', `{${p}L}a`, `{${p}L}b`, 'LEFT', 'RIGHT'],
    ['LRANGE', `{${p}L}b`, '0', '-1'],
    ['RPOPLPUSH', `{${p}L}a`, `{${p}L}b`],
    ['LRANGE', `{${p}L}b`, '0', '-1'],
    // sets
    ['SADD', st, 'a', 'b', 'c'],
    ['SADD', st, 'a'],
    ['SCARD', st],
    ['SISMEMBER', st, 'b'],
    ['SMISMEMBER', st, 'a', 'q'],
    ['SREM', st, 'b'],
    ['SADD', `{${p}S}1`, 'a', 'b'],
    ['SADD', `{${p}S}2`, 'b', 'c'],
    ['SINTER', `{${p}S}1`, `{${p}S}2`],
    ['SUNIONSTORE', `{${p}S}3`, `{${p}S}1`, `{${p}S}2`],
    ['SCARD', `{${p}S}3`],
    // sorted sets
    ['ZADD', z, '1', 'a', '2', 'b', '3', 'c'],
    ['ZRANGE', z, '0', '-1', 'WITHSCORES'],
    ['ZSCORE', z, 'b'],
    ['ZINCRBY', z, '10', 'a'],
    ['ZRANK', z, 'a'],
    ['ZREVRANGE', z, '0', '1'],
    ['ZRANGEBYSCORE', z, '2', '+inf', 'WITHSCORES'],
    ['ZREM', z, 'b'],
    ['ZCARD', z],
    ['ZPOPMIN', z],
    // keys in different slots in one command (split and gathered by the router)
    ['MGET', s, `${p}nx`, `${p}missing`, h],
    ['EXISTS', s, `${p}nx`, `${p}missing`, s],
    ['DEL', `${p}nx`, `${p}missing`, `${p}old`],
    // error replies
    [['GET', h], 'err'],
    [['LPUSH', s, 'x'], 'err'],
    [['INCR', s], 'err'],
    [['GET'], 'err'],
    [['GET', s, 'extra'], 'err'],
    [['SET', `${p}x`], 'err'],
    [['HSET', h, 'f'], 'err'],
    [['FOOBAR', 'x', 'y'], 'err'],
    [['EXPIRE', t, 'abc'], 'err'],
    [['ZADD', z, 'x', 'm'], 'err'],
    [['SET', `${p}x`, 'v', 'EX', '-1'], 'err'],
    [['SET', `${p}x`, 'v', 'NX', 'XX'], 'err'],
    [['LPOP', l, '-1'], 'err'],
    [['INCRBYFLOAT', s, 'nan'], 'err'],
  ];
  return steps.map((x) => (Array.isArray(x[0]) ? (x[1] === 'err' ? { args: x[0], err: true } : { args: x[0], approx: true }) : { args: x as string[] }));
}

function keysOf(steps: Step[]): string[] {
  return steps.flatMap((s) => s.args.slice(1).filter((a) => a.includes(':')));
}

/** Reply by reply the same, but TTLs (`approx`) only within 3 s of each other, and positive. */
function expectSameReplies<T>(steps: Step[], viaRouter: T[], direct: T[], ttl: (x: T) => number): void {
  expect(viaRouter.length).toBe(direct.length);
  steps.forEach((s, i) => {
    if (!s.approx) return expect(viaRouter[i], s.args.join(' ')).toEqual(direct[i]);
    expect(ttl(viaRouter[i]!), s.args.join(' ')).toBeGreaterThan(0);
    expect(Math.abs(ttl(viaRouter[i]!) - ttl(direct[i]!)), s.args.join(' ')).toBeLessThanOrEqual(3);
  });
}

type Outcome = { ok: unknown } | { err: string };
const okNumber = (o: Outcome) => ('ok' in o ? Number(o.ok) : NaN);

async function outcome(f: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await f() };
  } catch (e) {
    return { err: (e as Error).message };
  }
}

/** Checks that the script's keys fall into every shard, so the router routes to all three. */
function expectAllShards(steps: Step[]): void {
  expect(new Set(keysOf(steps).map((k) => shardIndex(slotOf(k)))).size).toBe(3);
}

describe('plain clients through the router', () => {
  for (const resp3 of [false, true]) {
    it(`raw connection: every reply byte for byte as a standalone node's (RESP${resp3 ? 3 : 2})`, async () => {
      const steps = script(`raw${resp3 ? 3 : 2}:`);
      expectAllShards(steps);
      const cmds = steps.map((s) => s.args);
      const [viaRouter, direct] = await Promise.all([transcript(router.port, cmds, resp3), transcript(node.port, cmds, resp3)]);
      expectSameReplies(steps, viaRouter, direct, (line) => Number(/ => :(-?\d+)/.exec(line)?.[1]));
      // The script means what it says: errors where marked, answers elsewhere.
      viaRouter.forEach((line, i) => expect(line.split(' => ')[1]!.startsWith('-'), line).toBe(steps[i]!.err === true));
    });
  }

  it('redis-cli: the same output as against a standalone node, exact error texts', () => {
    const steps = script('cli:').filter((s) => !s.approx);
    const input = steps.map((s) => s.args.join(' ')).join('\n') + '\n';
    const viaRouter = redisCli(router.port, [], input);
    const direct = redisCli(node.port, [], input);
    expect(viaRouter.status).toBe(0);
    expect(viaRouter.stdout.split('\n')).toEqual(direct.stdout.split('\n'));
    const out = viaRouter.stdout;
    expect(out).toContain('WRONGTYPE Operation against a key holding the wrong kind of value');
    expect(out).toContain("ERR wrong number of arguments for 'get' command");
    expect(out).toContain("ERR unknown command 'FOOBAR', with args beginning with: 'x' 'y' ");
    expect(out).toContain('ERR value is not an integer or out of range');
    // One-shot invocations too.
    expect(redisCli(router.port, ['SET', 'cli:one', 'v', 'EX', '50']).stdout).toBe('OK');
    expect(redisCli(router.port, ['GET', 'cli:one']).stdout).toBe('v');
    expect(Number(redisCli(router.port, ['TTL', 'cli:one']).stdout)).toBeGreaterThan(40);
  });

  it('ioredis (standalone new Redis(port)): the same answers and errors as a standalone node', async () => {
    const viaRouter = new Redis(router.port);
    const direct = new Redis(node.port);
    try {
      const steps = script('io:');
      for (const s of steps) {
        const [a, b] = await Promise.all([outcome(() => viaRouter.call(s.args[0]!, ...s.args.slice(1))), outcome(() => direct.call(s.args[0]!, ...s.args.slice(1)))]);
        expectSameReplies([s], [a], [b], okNumber);
        expect('err' in a, s.args.join(' ')).toBe(s.err === true);
      }
      // Typed API: what applications call.
      expect(await viaRouter.set('io:lock2', 'me', 'EX', 10, 'NX')).toBe('OK');
      expect(await viaRouter.set('io:lock2', 'you', 'EX', 10, 'NX')).toBeNull();
      expect(await viaRouter.incr('io:ctr')).toBe(1);
      expect(await viaRouter.expire('io:ctr', 30)).toBe(1);
      expect(await viaRouter.ttl('io:ctr')).toBeGreaterThan(25);
      await viaRouter.hset('io:user', { name: 'ann', age: '7' });
      expect(await viaRouter.hgetall('io:user')).toEqual({ name: 'ann', age: '7' });
      expect(await viaRouter.zrange('io:z', '0', '-1', 'WITHSCORES')).toEqual(['a', '11']);
      await expect(viaRouter.lpush('io:user', 'x')).rejects.toThrow(/^WRONGTYPE/);
    } finally {
      viaRouter.disconnect();
      direct.disconnect();
    }
  });

  it('node-redis (createClient): the same answers and errors as a standalone node', async () => {
    const viaRouter = createClient({ socket: { port: router.port, host: '127.0.0.1' } });
    const direct = createClient({ socket: { port: node.port, host: '127.0.0.1' } });
    viaRouter.on('error', () => {});
    direct.on('error', () => {});
    await Promise.all([viaRouter.connect(), direct.connect()]);
    try {
      const steps = script('nr:');
      for (const s of steps) {
        const [a, b] = await Promise.all([outcome(() => viaRouter.sendCommand(s.args)), outcome(() => direct.sendCommand(s.args))]);
        expectSameReplies([s], [a], [b], okNumber);
        expect('err' in a, s.args.join(' ')).toBe(s.err === true);
      }
      expect(await viaRouter.set('nr:lock2', 'me', { EX: 10, NX: true })).toBe('OK');
      expect(await viaRouter.set('nr:lock2', 'you', { EX: 10, NX: true })).toBeNull();
      expect(await viaRouter.incr('nr:ctr')).toBe(1);
      expect(await viaRouter.expire('nr:ctr', 30)).toBeTruthy();
      expect(await viaRouter.hGetAll('nr:h')).toEqual({ f2: 'v2', c: '5' });
      expect(await viaRouter.lRange('nr:l', 0, -1)).toEqual(['A', 'b']);
      expect(await viaRouter.sMembers('{nr:S}3')).toHaveLength(3);
      await expect(viaRouter.get('nr:h')).rejects.toThrow(/^WRONGTYPE/);
    } finally {
      viaRouter.destroy();
      direct.destroy();
    }
  });

  it('a pipeline of 1,000 mixed commands in one write: replies in order, the same as a standalone node', async () => {
    const cmds: string[][] = [];
    for (let i = 0; cmds.length < 1000; i++) {
      const k = `pipe:${i}`;
      cmds.push(['SET', k, `v${i}`]);
      cmds.push(['GET', `pipe:${i - 1}`]);
      cmds.push(['INCR', `pipe:ctr:${i % 7}`]);
      cmds.push(['HSET', `pipe:h:${i % 5}`, `f${i}`, String(i)]);
      cmds.push(['RPUSH', `pipe:l:${i % 3}`, String(i)]);
      cmds.push(['MGET', k, `pipe:${i - 1}`, `pipe:${i - 2}`, 'pipe:none']);
      cmds.push(i % 2 === 0 ? ['PING'] : ['ECHO', `e${i}`]);
      cmds.push(['EXISTS', k, `pipe:${i + 1}`]);
      if (i % 10 === 0) cmds.push(['GET', `pipe:h:${i % 5}`]);
      if (i % 25 === 0) cmds.push(['NOSUCHCOMMAND', k]);
      if (i % 4 === 0) cmds.push(['DEL', `pipe:${i - 3}`, `pipe:nope:${i}`]);
    }
    cmds.length = 1000;
    const payload = Buffer.concat(cmds.map((c) => encodeCommand(c)));
    const run = async (port: number) => {
      const c = await RawConn.open(port);
      try {
        c.write(payload);
        const replies = [];
        for (let i = 0; i < cmds.length; i++) replies.push(await c.read(10000));
        return replies;
      } finally {
        c.close();
      }
    };
    const [viaRouter, direct] = await Promise.all([run(router.port), run(node.port)]);
    expect(viaRouter.length).toBe(1000);
    expect(viaRouter).toEqual(direct);
    expect(viaRouter[0]).toBe('OK');
    // Round 0 is 11 commands (8, GET of a hash, an unknown command, DEL).
    expect((viaRouter[8] as Error).message).toMatch(/^WRONGTYPE/);
    expect((viaRouter[9] as Error).message).toMatch(/^ERR unknown command 'NOSUCHCOMMAND'/);
    expect(viaRouter[11]).toBe('OK'); // SET pipe:1
    expect(viaRouter[12]).toBe('v0'); // GET pipe:0

    // ioredis pipeline through the router: in order, per-command errors in place.
    const io = new Redis(router.port);
    try {
      const p = io.pipeline();
      for (let i = 0; i < 1000; i++) {
        if (i % 100 === 99) p.lpush('pipe:h:0', 'x');
        else if (i % 2 === 0) p.set(`iop:${i}`, String(i));
        else p.get(`iop:${i - 1}`);
      }
      const res = (await p.exec())!;
      expect(res).toHaveLength(1000);
      res.forEach(([e, v], i) => {
        if (i % 100 === 99) expect(e?.message).toMatch(/^WRONGTYPE/);
        else expect([e, v]).toEqual([null, i % 2 === 0 ? 'OK' : String(i - 1)]);
      });
    } finally {
      io.disconnect();
    }
  });
});

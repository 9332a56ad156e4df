/**
 * The hash family against redis-server 7: the same command sequences on both, replies
 * compared byte for byte in RESP2 and RESP3 (small hashes keep insertion order in both,
 * as Redis's listpack does), random commands by their invariants, HSCAN by what a full
 * iteration returns, plus checks with ioredis, node-redis and redis-cli.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { RawConn, redisCli, startRedis, startSonic, stopAll, transcript, type Proc } from './harness.js';
import type { RespValue } from '@sonic/protocol';

let sonic: Proc;
let redis: Proc;

beforeAll(async () => {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
});
afterAll(stopAll);

async function expectSame(prefix: string, lines: string[], resp3 = false): Promise<void> {
  const cmds = lines.map((l) => l.split(' ').map((t) => (t.startsWith('k:') ? prefix + t : t)));
  const [a, b] = await Promise.all([transcript(sonic.port, cmds, resp3), transcript(redis.port, cmds, resp3)]);
  expect(a).toEqual(b);
}

const BASIC = [
  'hset k:h f1 v1 f2 v2',
  'hset k:h f1 v1b f3 v3',
  'hset k:h f1',
  'hset k:h f1 v1 f2',
  'hmset k:h f4 v4 f5 v5',
  'hmset k:h f4',
  'hget k:h f1',
  'hget k:h nope',
  'hget k:none f1',
  'hmget k:h f1 nope f3',
  'hmget k:none a b',
  'hlen k:h',
  'hlen k:none',
  'hstrlen k:h f1',
  'hstrlen k:h nope',
  'hstrlen k:none f',
  'hexists k:h f2',
  'hexists k:h nope',
  'hexists k:none f',
  'hsetnx k:h f1 x',
  'hsetnx k:h f6 v6',
  'hsetnx k:new a b',
  'hgetall k:new',
  'hkeys k:h',
  'hvals k:h',
  'hgetall k:h',
  'hkeys k:none',
  'hvals k:none',
  'hgetall k:none',
  'hdel k:h f2 f2 nope',
  'hdel k:none f',
  'hkeys k:h',
  'hset k:h f2 again',
  'hgetall k:h',
  'hdel k:h f1 f3 f4 f5 f6 f2',
  'hlen k:h',
  'get k:h',
  'set k:h now-a-string NX',
  'hdel k:new a',
  'set k:new str NX',
];

const WRONGTYPE = [
  'set k:s str',
  'hset k:s a b',
  'hmset k:s a b',
  'hsetnx k:s a b',
  'hget k:s a',
  'hmget k:s a',
  'hdel k:s a',
  'hlen k:s',
  'hstrlen k:s a',
  'hexists k:s a',
  'hkeys k:s',
  'hvals k:s',
  'hgetall k:s',
  'hincrby k:s a 1',
  'hincrbyfloat k:s a 1',
  'hrandfield k:s',
  'hrandfield k:s 1',
  'hscan k:s 0',
  'hscan k:s x',
  'rpush k:l a',
  'hget k:l a',
  'get k:s',
];

const INCR = [
  'hincrby k:h n 5',
  'hincrby k:h n -12',
  'hincrby k:h n x',
  'hincrby k:h n 1.5',
  'hincrby k:h n 9223372036854775808',
  'hset k:h s abc big 9223372036854775807 neg -9223372036854775808 lead 01 fl2 1.0',
  'hincrby k:h s 1',
  'hincrby k:h lead 1',
  'hincrby k:h fl2 1',
  'hincrby k:h big 1',
  'hincrby k:h big 0',
  'hincrby k:h neg -1',
  'hincrby k:h neg 1',
  'hincrby k:new2 f -3',
  'hincrbyfloat k:h fl 10.5',
  'hincrbyfloat k:h fl 0.1',
  'hincrbyfloat k:h fl -0.6',
  'hincrbyfloat k:h fl 1.0e3',
  'hincrbyfloat k:h fl 5e-3',
  'hincrbyfloat k:h fl x',
  'hincrbyfloat k:h fl inf',
  'hincrbyfloat k:h fl -inf',
  'hincrbyfloat k:h fl nan',
  'hincrbyfloat k:h s 1',
  'hincrbyfloat k:h n 1',
  'hincrbyfloat k:h n 0',
  'hincrbyfloat k:h zero 0',
  'hincrbyfloat k:h three 3.0',
  'hgetall k:h',
  'hincrbyfloat k:f big 1e20',
  'hincrbyfloat k:f big -1e20',
  'hincrbyfloat k:f small 1.5e-7',
  'hincrbyfloat k:f neg -2.5',
  'hincrbyfloat k:f neg 2.5',
];

const RANDFIELD_ERRORS = [
  'hset k:h a 1 b 2 c 3',
  'hrandfield k:h x',
  'hrandfield k:h 1.5',
  'hrandfield k:h 1 foo',
  'hrandfield k:h 1 withvalues extra',
  'hrandfield k:h x withvalues',
  'hrandfield k:h -9223372036854775808',
  'hrandfield k:h -9223372036854775808 withvalues',
  'hrandfield k:h 0',
  'hrandfield k:h 0 withvalues',
  'hrandfield k:h 3 withvalues',
  'hrandfield k:h 10',
  'hrandfield k:h 10 WITHVALUES',
  'hrandfield k:none',
  'hrandfield k:none 5',
  'hrandfield k:none -5 withvalues',
  'hrandfield k:none 5 foo',
  'hrandfield k:one',
  'hset k:one only v',
  'hrandfield k:one',
  'hrandfield k:one -3',
  'hrandfield k:one -2 withvalues',
];

const SCAN_ERRORS = [
  'hset k:h a 1 b 2 c 3 bb 4',
  'hscan k:h 0',
  'hscan k:h 0 count 1',
  'hscan k:h 0 match b*',
  'hscan k:h 0 MATCH ?b COUNT 100',
  'hscan k:h 0 match x*',
  'hscan k:h 0 count 0',
  'hscan k:h 0 count -1',
  'hscan k:h 0 count x',
  'hscan k:h 0 count',
  'hscan k:h 0 match',
  'hscan k:h 0 type string',
  'hscan k:h 0 novalues',
  'hscan k:h x',
  'hscan k:h -1',
  'hscan k:h +0',
  'hscan k:h 00',
  'hscan k:h 0x1',
  'hscan k:h 1.5',
  'hscan k:h 18446744073709551615',
  'hscan k:h -18446744073709551615',
  'hscan k:h 18446744073709551616',
  'hscan k:h -18446744073709551616',
  'hscan k:none 0',
  'hscan k:none 0 foo',
  'hscan k:none 0 count 0',
  'hscan k:none abc',
];

describe('hashes, differential against redis-server', () => {
  for (const resp3 of [false, true]) {
    const p = resp3 ? 'r3' : 'r2';
    it(`basic commands, deletion of emptied hashes (RESP${resp3 ? 3 : 2})`, () => expectSame(`${p}basic:`, BASIC, resp3));
    it(`WRONGTYPE on every command (RESP${resp3 ? 3 : 2})`, () => expectSame(`${p}wt:`, WRONGTYPE, resp3));
    it(`HINCRBY and HINCRBYFLOAT (RESP${resp3 ? 3 : 2})`, () => expectSame(`${p}incr:`, INCR, resp3));
    it(`HRANDFIELD arguments and deterministic cases (RESP${resp3 ? 3 : 2})`, () => expectSame(`${p}rand:`, RANDFIELD_ERRORS, resp3));
    it(`HSCAN options and errors on small hashes (RESP${resp3 ? 3 : 2})`, () => expectSame(`${p}scan:`, SCAN_ERRORS, resp3));
  }

  it('arity errors', () =>
    expectSame('arity:', ['hset k:h', 'hget k:h', 'hmget k:h', 'hdel k:h', 'hlen', 'hstrlen k:h', 'hexists k:h', 'hkeys', 'hincrby k:h f', 'hincrbyfloat k:h f', 'hrandfield', 'hscan k:h', 'hsetnx k:h f']));

  it('binary-safe fields and values', async () => {
    const bin = Buffer.from([0, 1, 2, 13, 10, 255, 128, 32]);
    for (const port of [sonic.port, redis.port]) {
      const c = await RawConn.open(port);
      try {
        expect(await c.call('HSET', 'bin:h', bin, bin, 'x', Buffer.alloc(0))).toBe(2);
        expect(await c.call('HGET', 'bin:h', bin)).toBe(bin.toString('latin1'));
        expect(await c.call('HSTRLEN', 'bin:h', bin)).toBe(8);
        expect(await c.call('HGET', 'bin:h', 'x')).toBe('');
      } finally {
        c.close();
      }
    }
  });
});

async function call(port: number, ...args: string[]): Promise<RespValue> {
  const c = await RawConn.open(port);
  try {
    return await c.call(...args);
  } finally {
    c.close();
  }
}

describe('HRANDFIELD invariants', () => {
  it('distinct fields for positive counts, repeats allowed for negative, values match', async () => {
    const c = await RawConn.open(sonic.port);
    try {
      const fields: string[] = [];
      for (let i = 0; i < 40; i++) fields.push(`f${i}`, `v${i}`);
      await c.call('HSET', 'rf:h', ...fields);
      for (const n of [1, 5, 15, 39, 40, 100]) {
        const r = (await c.call('HRANDFIELD', 'rf:h', String(n))) as string[];
        expect(r.length).toBe(Math.min(n, 40));
        expect(new Set(r).size).toBe(r.length);
        for (const f of r) expect(f).toMatch(/^f\d+$/);
        const wv = (await c.call('HRANDFIELD', 'rf:h', String(n), 'WITHVALUES')) as string[];
        expect(wv.length).toBe(2 * Math.min(n, 40));
        for (let i = 0; i < wv.length; i += 2) expect(wv[i + 1]).toBe('v' + wv[i]!.slice(1));
      }
      const neg = (await c.call('HRANDFIELD', 'rf:h', '-200')) as string[];
      expect(neg.length).toBe(200);
      // 200 picks of 40 fields: all distinct would be astronomically unlikely.
      expect(new Set(neg).size).toBeLessThan(200);
      expect(new Set(neg).size).toBeGreaterThan(10);
      const one = await c.call('HRANDFIELD', 'rf:h');
      expect(typeof one).toBe('string');
      // Every field comes up eventually as a single pick.
      const seen = new Set<string>();
      for (let i = 0; i < 2000 && seen.size < 40; i++) seen.add((await c.call('HRANDFIELD', 'rf:h')) as string);
      expect(seen.size).toBe(40);
      // RESP3: WITHVALUES gives [field, value] pairs.
      await c.call('HELLO', '3');
      const pairs = (await c.call('HRANDFIELD', 'rf:h', '-3', 'WITHVALUES')) as string[][];
      expect(pairs.length).toBe(3);
      for (const p of pairs) expect(p).toEqual([p[0], 'v' + p[0]!.slice(1)]);
    } finally {
      c.close();
    }
  });
});

describe('HSCAN', () => {
  async function fullScan(port: number, key: string, extra: string[]): Promise<{ items: Map<string, string>; calls: number; dupes: number }> {
    const items = new Map<string, string>();
    let cursor = '0';
    let calls = 0;
    let dupes = 0;
    const c = await RawConn.open(port);
    try {
      do {
        const r = (await c.call('HSCAN', key, cursor, ...extra)) as [string, string[]];
        cursor = r[0];
        for (let i = 0; i < r[1].length; i += 2) {
          if (items.has(r[1][i]!)) dupes++;
          items.set(r[1][i]!, r[1][i + 1]!);
        }
        calls++;
      } while (cursor !== '0' && calls < 10000);
    } finally {
      c.close();
    }
    return { items, calls, dupes };
  }

  it('a full iteration of a large hash returns every field once, as redis-server does', async () => {
    const args: string[] = [];
    for (let i = 0; i < 1500; i++) args.push(`field:${i}`, `value:${i}`);
    await Promise.all([call(sonic.port, 'HSET', 'scan:big', ...args), call(redis.port, 'HSET', 'scan:big', ...args)]);
    for (const extra of [[], ['COUNT', '7'], ['MATCH', 'field:1*'], ['MATCH', 'field:*9', 'COUNT', '100']]) {
      const [a, b] = await Promise.all([fullScan(sonic.port, 'scan:big', extra), fullScan(redis.port, 'scan:big', extra)]);
      expect(a.dupes).toBe(0);
      expect([...a.items].sort()).toEqual([...b.items].sort());
      expect(a.calls).toBeGreaterThan(1);
    }
  });

  it('a small hash comes back whole with cursor 0, a long value makes it paged', async () => {
    const small = (await call(sonic.port, 'HSET', 'scan:small', 'a', '1', 'b', '2')) as number;
    expect(small).toBe(2);
    expect(await call(sonic.port, 'HSCAN', 'scan:small', '0', 'COUNT', '1')).toEqual(['0', ['a', '1', 'b', '2']]);
    const args: string[] = [];
    for (let i = 0; i < 30; i++) args.push(`f${i}`, i === 0 ? 'x'.repeat(100) : 'v');
    await call(sonic.port, 'HSET', 'scan:long', ...args);
    const r = (await call(sonic.port, 'HSCAN', 'scan:long', '0', 'COUNT', '5')) as [string, string[]];
    expect(r[0]).not.toBe('0');
    expect(r[1].length).toBe(10);
    const all = await fullScan(sonic.port, 'scan:long', ['COUNT', '5']);
    expect(all.items.size).toBe(30);
    // The step that reaches the end answers cursor 0 itself: no trailing empty page.
    expect(all.calls).toBe(6);
  });

  it('fields present for the whole iteration are returned even while others are added and deleted', async () => {
    const args: string[] = [];
    for (let i = 0; i < 600; i++) args.push(`s${i}`, 'v');
    await call(sonic.port, 'HSET', 'scan:live', ...args);
    const c = await RawConn.open(sonic.port);
    const seen = new Set<string>();
    try {
      let cursor = '0';
      let calls = 0;
      do {
        const r = (await c.call('HSCAN', 'scan:live', cursor, 'COUNT', '20')) as [string, string[]];
        cursor = r[0];
        for (let i = 0; i < r[1].length; i += 2) seen.add(r[1][i]!);
        await c.call('HSET', 'scan:live', `new${calls}`, 'v');
        await c.call('HDEL', 'scan:live', `s${599 - calls}`);
        calls++;
      } while (cursor !== '0' && calls < 1000);
      expect(calls).toBeLessThan(1000);
    } finally {
      c.close();
    }
    // s0..s(599-calls) were never deleted; a generous lower bound on untouched ones.
    for (let i = 0; i < 300; i++) expect(seen.has(`s${i}`)).toBe(true);
  });
});

describe('hashes with real clients', () => {
  it('ioredis: objects in and out, HSCAN stream, pipelines', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await r.connect();
      expect(await r.hset('io:h', { a: '1', b: '2', c: '3' })).toBe(3);
      expect(await r.hgetall('io:h')).toEqual({ a: '1', b: '2', c: '3' });
      expect(await r.hmget('io:h', 'a', 'zz', 'c')).toEqual(['1', null, '3']);
      expect(await r.hincrby('io:h', 'a', 10)).toBe(11);
      expect(await r.hincrbyfloat('io:h', 'b', '0.5')).toBe('2.5');
      expect(await r.hexists('io:h', 'c')).toBe(1);
      expect(await r.hdel('io:h', 'c', 'zz')).toBe(1);
      expect(await r.hgetall('io:missing')).toEqual({});
      const big: Record<string, string> = {};
      for (let i = 0; i < 700; i++) big[`k${i}`] = `v${i}`;
      await r.hset('io:big', big);
      const got: Record<string, string> = {};
      await new Promise<void>((res, rej) => {
        const s = r.hscanStream('io:big', { count: 50 });
        s.on('data', (chunk: string[]) => {
          for (let i = 0; i < chunk.length; i += 2) got[chunk[i]!] = chunk[i + 1]!;
        });
        s.on('end', () => res());
        s.on('error', rej);
      });
      expect(got).toEqual(big);
      const res = await r.pipeline().hset('io:p', 'x', '1').hlen('io:p').hkeys('io:p').hvals('io:p').exec();
      expect(res!.map(([, v]) => v)).toEqual([1, 1, ['x'], ['1']]);
      await expect(r.hincrby('io:h', 'b', 1)).rejects.toThrow(/hash value is not an integer/);
    } finally {
      r.disconnect();
    }
  });

  it('node-redis (RESP3): HGETALL as a map, HRANDFIELD pairs', async () => {
    const c = createClient({ socket: { port: sonic.port, host: '127.0.0.1', reconnectStrategy: false }, RESP: 3 });
    c.on('error', () => {});
    await c.connect();
    try {
      expect(await c.hSet('nr:h', { f1: 'v1', f2: 'v2' })).toBe(2);
      const all = await c.hGetAll('nr:h');
      expect({ ...all }).toEqual({ f1: 'v1', f2: 'v2' });
      expect(await c.hGet('nr:h', 'f1')).toBe('v1');
      expect(await c.hGet('nr:h', 'nope')).toBe(null);
      expect(await c.hLen('nr:h')).toBe(2);
      const raw = await c.sendCommand(['HRANDFIELD', 'nr:h', '2', 'WITHVALUES']);
      expect((raw as string[][]).map((p) => p.join('=')).sort()).toEqual(['f1=v1', 'f2=v2']);
      expect(await c.hIncrByFloat('nr:h', 'n', 1.25)).toBe('1.25');
    } finally {
      await c.close();
    }
  });

  it('redis-cli', () => {
    expect(redisCli(sonic.port, ['hset', 'cli:h', 'name', 'sonic', 'kind', 'cache']).stdout).toBe('2');
    expect(redisCli(sonic.port, ['hgetall', 'cli:h']).stdout).toBe('name\nsonic\nkind\ncache');
    expect(redisCli(sonic.port, ['hincrby', 'cli:h', 'name', '1']).stdout.trim()).toBe('ERR hash value is not an integer');
  });
});

describe('WATCH sees hash changes', () => {
  it('HSET, HDEL and HINCRBY on a watched key fail the transaction; a no-op HDEL does not', async () => {
    const a = await RawConn.open(sonic.port);
    const b = await RawConn.open(sonic.port);
    try {
      for (const [change, expectNull] of [
        [['HSET', 'w:h', 'f', 'x'], true],
        [['HDEL', 'w:h', 'nope'], false],
        [['HINCRBY', 'w:h', 'n', '1'], true],
        [['HDEL', 'w:h', 'f', 'n', 'g'], true],
      ] as [string[], boolean][]) {
        await b.call('HSET', 'w:h', 'g', '1');
        expect(await a.call('WATCH', 'w:h')).toBe('OK');
        await b.call(...change);
        await a.call('MULTI');
        await a.call('HGET', 'w:h', 'g');
        const r = await a.call('EXEC');
        if (expectNull) expect(r).toBe(null);
        else expect(r).not.toBe(null);
      }
    } finally {
      a.close();
      b.close();
    }
  });
});

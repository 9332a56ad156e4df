/**
 * The set family against redis-server 7: the same command sequences on both. Redis
 * leaves set order unspecified, so replies are compared after sorting the members of
 * every array/set (the reply types and error strings must still be identical);
 * random commands are checked by their invariants, SSCAN by what a full iteration
 * returns, plus checks with ioredis, node-redis and redis-cli.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { RawConn, redisCli, startRedis, startSonic, stopAll, type Proc } from './harness.js';
import { RespSet, type RespValue } from '@sonic/protocol';

let sonic: Proc;
let redis: Proc;

beforeAll(async () => {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
});
afterAll(stopAll);

/** A reply with the elements of every array and set sorted; the kind of aggregate is kept. */
function normalize(v: RespValue): unknown {
  if (v instanceof RespSet) return { set: [...v].map(normalize).sort(cmp) };
  if (Array.isArray(v)) return { array: v.map(normalize).sort(cmp) };
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [normalize(k), normalize(x)]).sort(cmp) };
  if (v instanceof Error) return { error: v.message };
  return v;
}

function cmp(a: unknown, b: unknown): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

async function transcript(port: number, cmds: string[][], resp3: boolean): Promise<unknown[]> {
  const c = await RawConn.open(port);
  try {
    if (resp3) await c.call('HELLO', '3');
    const out: unknown[] = [];
    for (const cmd of cmds) {
      // A leading '=' asks for the reply as it is, order included.
      const exact = cmd[0]!.startsWith('=');
      const args = exact ? [cmd[0]!.slice(1), ...cmd.slice(1)] : cmd;
      const v = await c.call(...args);
      out.push([cmd.join(' '), exact ? v : normalize(v)]);
    }
    return out;
  } finally {
    c.close();
  }
}

async function expectSame(prefix: string, lines: string[], resp3 = false): Promise<void> {
  const cmds = lines.map((l) => l.split(' ').map((t) => (t.startsWith('k:') ? prefix + t : t)));
  const [a, b] = await Promise.all([transcript(sonic.port, cmds, resp3), transcript(redis.port, cmds, resp3)]);
  expect(a).toEqual(b);
}

const BASIC = [
  'sadd k:s a b c',
  'sadd k:s c d d e',
  'sadd k:s',
  'scard k:s',
  'scard k:none',
  'smembers k:s',
  'smembers k:none',
  'sismember k:s a',
  'sismember k:s zz',
  'sismember k:none a',
  'smismember k:s a zz e a',
  'smismember k:none a b',
  'srem k:s a zz a',
  'srem k:none a',
  'smembers k:s',
  'srem k:s b c d e',
  'scard k:s',
  'get k:s',
  'set k:s reused NX',
  'sadd k:i 3 1 2 -5 10',
  'smembers k:i',
  'sadd k:i x',
  'smembers k:i',
  'srem k:i x 3 1 2 -5 10',
  'set k:i reused NX',
];

const WRONGTYPE = [
  'set k:str x',
  'sadd k:set a b',
  'sadd k:str a',
  'srem k:str a',
  'smembers k:str',
  'sismember k:str a',
  'smismember k:str a',
  'scard k:str',
  'spop k:str',
  'spop k:str 2',
  'srandmember k:str',
  'srandmember k:str 2',
  'smove k:str k:set a',
  'smove k:set k:str a',
  'smove k:none k:str a',
  'sinter k:set k:str',
  'sinter k:none k:str',
  'sinter k:str',
  'sintercard 2 k:none k:str',
  'sinterstore k:d k:set k:str',
  'sunion k:set k:str',
  'sunion k:none k:str',
  'sunionstore k:d k:str',
  'sdiff k:str k:set',
  'sdiff k:none k:str',
  'sdiffstore k:d k:set k:str',
  'sscan k:str 0',
  'sscan k:str x',
  'spop k:str x',
  'srandmember k:str x',
  'hset k:h f v',
  'sadd k:h a',
  'get k:str',
];

const ALGEBRA = [
  'sadd k:a 1 2 3 4 5 x y',
  'sadd k:b 2 3 x z',
  'sadd k:c 3 x q r s t',
  'sinter k:a',
  'sinter k:a k:b',
  'sinter k:a k:b k:c',
  'sinter k:a k:none',
  'sinter k:none k:a',
  'sinter k:none',
  'sinter k:a k:a',
  'sunion k:a k:b k:c',
  'sunion k:none k:a',
  'sunion k:none',
  'sdiff k:a k:b',
  'sdiff k:a k:b k:c',
  'sdiff k:a k:none',
  'sdiff k:none k:a',
  'sdiff k:a k:a',
  'sintercard 1 k:a',
  'sintercard 2 k:a k:b',
  'sintercard 3 k:a k:b k:c',
  'sintercard 2 k:a k:none',
  'sintercard 2 k:a k:b LIMIT 1',
  'sintercard 2 k:a k:b limit 0',
  'sintercard 2 k:a k:b limit 100',
  'sintercard 1 k:a limit 0 limit 2',
  'sintercard 0 k:a',
  'sintercard -1 k:a',
  'sintercard x k:a',
  'sintercard 99999999999999999999 k:a',
  'sintercard 3 k:a k:b',
  'sintercard 1 k:a limit',
  'sintercard 1 k:a limit -1',
  'sintercard 1 k:a limit x',
  'sintercard 1 k:a foo 1',
  'sintercard 1 k:a k:b',
  'sinterstore k:d k:a k:b',
  'smembers k:d',
  'sinterstore k:d k:a k:none',
  'scard k:d',
  'get k:d',
  'sunionstore k:d k:a k:c',
  'smembers k:d',
  'sdiffstore k:d k:d k:a',
  'smembers k:d',
  'sdiffstore k:d k:a k:a',
  'get k:d',
  'set k:d string',
  'sunionstore k:d k:b',
  'smembers k:d',
  'set k:d string',
  'sinterstore k:d k:none',
  'get k:d',
  'sunionstore k:d k:none',
  'sinterstore k:a k:a k:b',
  'smembers k:a',
  'sunionstore k:e k:none k:none2',
  'get k:e',
];

const MOVE = [
  'sadd k:src a b c',
  'sadd k:dst c d',
  'smove k:src k:dst a',
  'smove k:src k:dst c',
  'smove k:src k:dst zz',
  'smembers k:src',
  'smembers k:dst',
  'smove k:src k:src b',
  'smove k:src k:src zz',
  'smove k:none k:dst a',
  'smove k:src k:new b',
  'smembers k:new',
  'get k:src',
  'set k:src now-free NX',
  'smove k:dst k:dst c',
];

const RANDOM_DETERMINISTIC = [
  'sadd k:s a b c',
  'spop k:none',
  'spop k:none 3',
  'spop k:none 0',
  'spop k:s 0',
  'spop k:s -1',
  'spop k:s x',
  'spop k:s 1.5',
  'spop k:s 1 2',
  'srandmember k:none',
  'srandmember k:none 3',
  'srandmember k:none -3',
  'srandmember k:s 0',
  'srandmember k:s 3',
  'srandmember k:s 10',
  'srandmember k:s x',
  'srandmember k:s 1 2',
  'srandmember k:s -9223372036854775808',
  'srandmember k:s 9223372036854775807',
  'sadd k:one m',
  'srandmember k:one',
  'srandmember k:one -3',
  'spop k:one',
  'get k:one',
  'sadd k:two m n',
  'spop k:two 5',
  'get k:two',
  'sadd k:two m n',
  'spop k:two 2',
  'set k:two free NX',
  'sadd k:big 1 2 3 4 5 6 7 8',
  'spop k:big 0',
  'scard k:big',
];

const SCAN = [
  'sadd k:i 5 3 1 2 4',
  'sscan k:i 0',
  'sscan k:i 0 count 1',
  'sscan k:i 0 match 1*',
  'sscan k:i 0 MATCH [2-4] COUNT 100',
  'sscan k:i 0 count 0',
  'sscan k:i 0 count -1',
  'sscan k:i 0 count x',
  'sscan k:i 0 count',
  'sscan k:i 0 type string',
  'sscan k:i x',
  'sscan k:i -1',
  'sscan k:i 18446744073709551616',
  'sscan k:none 0',
  'sscan k:none 0 foo',
  'sscan k:none abc',
];

/** Integer sets small enough to be intsets are listed in numeric order by Redis. */
const INTSET_ORDER = [
  'sadd k:i 10 -3 5 100 2 9223372036854775807 -9223372036854775808',
  '=smembers k:i',
  '=sscan k:i 0',
  '=srandmember k:i 10',
  'sadd k:j 5 7 -3 1',
  '=sinter k:i k:j',
  '=sunion k:i k:j',
  '=sdiff k:i k:j',
  'sunionstore k:u k:i k:j',
  '=smembers k:u',
  '=spop k:j 10',
];

describe('sets, differential against redis-server', () => {
  for (const resp3 of [false, true]) {
    const p = resp3 ? 'r3' : 'r2';
    const v = `RESP${resp3 ? 3 : 2}`;
    it(`basic commands, deletion of emptied sets (${v})`, () => expectSame(`${p}basic:`, BASIC, resp3));
    it(`WRONGTYPE on every command (${v})`, () => expectSame(`${p}wt:`, WRONGTYPE, resp3));
    it(`SINTER/SUNION/SDIFF/SINTERCARD and the STORE variants (${v})`, () => expectSame(`${p}alg:`, ALGEBRA, resp3));
    it(`SMOVE (${v})`, () => expectSame(`${p}mv:`, MOVE, resp3));
    it(`SPOP/SRANDMEMBER arguments and deterministic cases (${v})`, () => expectSame(`${p}rnd:`, RANDOM_DETERMINISTIC, resp3));
    it(`SSCAN of intsets, options and errors (${v})`, () => expectSame(`${p}scan:`, SCAN, resp3));
    it(`integer sets in intset order (${v})`, () => expectSame(`${p}iord:`, INTSET_ORDER, resp3));
  }

  it('arity errors', () =>
    expectSame('arity:', ['sadd k:s', 'srem k:s', 'smembers', 'sismember k:s', 'smismember k:s', 'scard', 'spop', 'srandmember', 'smove k:a k:b', 'sinter', 'sintercard 1', 'sinterstore k:d', 'sunion', 'sunionstore k:d', 'sdiff', 'sdiffstore k:d', 'sscan k:s']));

  it('an empty SSCAN cursor is 0, binary members round-trip', async () => {
    const bin = Buffer.from([0, 13, 10, 255, 32]);
    for (const port of [sonic.port, redis.port]) {
      const c = await RawConn.open(port);
      try {
        expect(await c.call('SADD', 'bin:s', bin, '')).toBe(2);
        expect(await c.call('SISMEMBER', 'bin:s', bin)).toBe(1);
        expect(await c.call('SISMEMBER', 'bin:s', '')).toBe(1);
        const r = (await c.call('SSCAN', 'bin:s', '', 'COUNT', '100')) as [string, string[]];
        expect(r[0]).toBe('0');
        expect(r[1].sort()).toEqual(['', bin.toString('latin1')].sort());
      } finally {
        c.close();
      }
    }
  });
});

describe('random members', () => {
  it('SRANDMEMBER: distinct for positive counts, repeats for negative, every member reachable', async () => {
    const c = await RawConn.open(sonic.port);
    try {
      const members = Array.from({ length: 50 }, (_, i) => `m${i}`);
      await c.call('SADD', 'rnd:s', ...members);
      for (const n of [1, 5, 12, 13, 30, 49, 50, 80]) {
        const r = (await c.call('SRANDMEMBER', 'rnd:s', String(n))) as string[];
        expect(Array.isArray(r)).toBe(true);
        expect(r.length).toBe(Math.min(n, 50));
        expect(new Set(r).size).toBe(r.length);
        for (const m of r) expect(members).toContain(m);
      }
      const neg = (await c.call('SRANDMEMBER', 'rnd:s', '-300')) as string[];
      expect(neg.length).toBe(300);
      expect(new Set(neg).size).toBeLessThan(300);
      for (const m of neg) expect(members).toContain(m);
      const seen = new Set<string>();
      for (let i = 0; i < 3000 && seen.size < 50; i++) seen.add((await c.call('SRANDMEMBER', 'rnd:s')) as string);
      expect(seen.size).toBe(50);
      expect(await c.call('SCARD', 'rnd:s')).toBe(50);
    } finally {
      c.close();
    }
  });

  it('SPOP removes what it returns, the set shrinks to nothing and is deleted', async () => {
    const c = await RawConn.open(sonic.port);
    try {
      const members = Array.from({ length: 100 }, (_, i) => `p${i}`);
      await c.call('SADD', 'rnd:p', ...members);
      const popped = new Set<string>();
      const one = (await c.call('SPOP', 'rnd:p')) as string;
      popped.add(one);
      expect(await c.call('SISMEMBER', 'rnd:p', one)).toBe(0);
      for (const n of [10, 30, 1]) {
        const r = (await c.call('SPOP', 'rnd:p', String(n))) as string[];
        expect(r.length).toBe(n);
        for (const m of r) {
          expect(popped.has(m)).toBe(false);
          popped.add(m);
        }
        expect(await c.call('SCARD', 'rnd:p')).toBe(100 - popped.size);
      }
      const rest = (await c.call('SPOP', 'rnd:p', '1000')) as string[];
      for (const m of rest) popped.add(m);
      expect([...popped].sort()).toEqual([...members].sort());
      expect(await c.call('GET', 'rnd:p')).toBe(null);
      expect(await c.call('SPOP', 'rnd:p')).toBe(null);
    } finally {
      c.close();
    }
  });
});

describe('SSCAN', () => {
  async function fullScan(port: number, key: string, extra: string[]): Promise<{ items: Set<string>; calls: number; dupes: number }> {
    const items = new Set<string>();
    let cursor = '0';
    let calls = 0;
    let dupes = 0;
    const c = await RawConn.open(port);
    try {
      do {
        const r = (await c.call('SSCAN', key, cursor, ...extra)) as [string, string[]];
        cursor = r[0];
        for (const m of r[1]) {
          if (items.has(m)) dupes++;
          items.add(m);
        }
        calls++;
      } while (cursor !== '0' && calls < 10000);
    } finally {
      c.close();
    }
    return { items, calls, dupes };
  }

  async function both(...args: string[]): Promise<void> {
    for (const port of [sonic.port, redis.port]) {
      const c = await RawConn.open(port);
      try {
        await c.call(...args);
      } finally {
        c.close();
      }
    }
  }

  it('a full iteration of a large set returns every member once, as redis-server does', async () => {
    await both('SADD', 'sscan:big', ...Array.from({ length: 1200 }, (_, i) => `member:${i}`));
    await both('SADD', 'sscan:ints', ...Array.from({ length: 800 }, (_, i) => String(i * 3)));
    for (const key of ['sscan:big', 'sscan:ints']) {
      for (const extra of [[], ['COUNT', '3'], ['MATCH', '*1*'], ['MATCH', '*7', 'COUNT', '50']]) {
        const [a, b] = await Promise.all([fullScan(sonic.port, key, extra), fullScan(redis.port, key, extra)]);
        expect(a.dupes).toBe(0);
        expect([...a.items].sort()).toEqual([...b.items].sort());
        expect(a.calls).toBeGreaterThan(1);
      }
    }
  });

  it('a small integer set comes back whole; a small string set is paged by COUNT', async () => {
    await both('SADD', 'sscan:smallint', '1', '2', '3', '4');
    const r = (await (async () => {
      const c = await RawConn.open(sonic.port);
      try {
        return await c.call('SSCAN', 'sscan:smallint', '0', 'COUNT', '1');
      } finally {
        c.close();
      }
    })()) as [string, string[]];
    expect(r[0]).toBe('0');
    expect(r[1].sort()).toEqual(['1', '2', '3', '4']);
    await both('SADD', 'sscan:smallstr', 'a', 'b', 'c', 'd', 'e');
    const a = await fullScan(sonic.port, 'sscan:smallstr', ['COUNT', '2']);
    expect([...a.items].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(a.calls).toBe(3);
  });
});

describe('sets with real clients', () => {
  it('ioredis: members, algebra, SSCAN stream, pipelines', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await r.connect();
      expect(await r.sadd('io:{s}a', 'x', 'y', 'z')).toBe(3);
      expect(await r.sadd('io:{s}b', ['y', 'z', 'w'])).toBe(3);
      expect((await r.smembers('io:{s}a')).sort()).toEqual(['x', 'y', 'z']);
      expect((await r.sinter('io:{s}a', 'io:{s}b')).sort()).toEqual(['y', 'z']);
      expect((await r.sunion('io:{s}a', 'io:{s}b')).sort()).toEqual(['w', 'x', 'y', 'z']);
      expect(await r.sdiff('io:{s}a', 'io:{s}b')).toEqual(['x']);
      expect(await r.sintercard(2, 'io:{s}a', 'io:{s}b')).toBe(2);
      expect(await r.smismember('io:{s}a', 'x', 'w')).toEqual([1, 0]);
      expect(await r.smove('io:{s}a', 'io:{s}b', 'x')).toBe(1);
      expect(await r.scard('io:{s}b')).toBe(4);
      expect(await r.smembers('io:missing')).toEqual([]);
      const members = Array.from({ length: 600 }, (_, i) => `v${i}`);
      await r.sadd('io:big', members);
      const got = new Set<string>();
      await new Promise<void>((res, rej) => {
        const s = r.sscanStream('io:big', { count: 40, match: 'v1*' });
        s.on('data', (chunk: string[]) => chunk.forEach((m) => got.add(m)));
        s.on('end', () => res());
        s.on('error', rej);
      });
      expect([...got].sort()).toEqual(members.filter((m) => m.startsWith('v1')).sort());
      const res = await r.pipeline().sadd('io:p', 'a').sismember('io:p', 'a').srem('io:p', 'a').scard('io:p').exec();
      expect(res!.map(([, v]) => v)).toEqual([1, 1, 1, 0]);
      await expect(r.sadd('io:{s}a', [])).rejects.toThrow(/wrong number of arguments/);
    } finally {
      r.disconnect();
    }
  });

  it('node-redis (RESP3): SMEMBERS/SINTER as sets, SPOP with count', async () => {
    const c = createClient({ socket: { port: sonic.port, host: '127.0.0.1', reconnectStrategy: false }, RESP: 3 });
    c.on('error', () => {});
    await c.connect();
    try {
      expect(await c.sAdd('nr:s', ['a', 'b', 'c'])).toBe(3);
      const m = await c.sMembers('nr:s');
      expect([...m].sort()).toEqual(['a', 'b', 'c']);
      expect(await c.sIsMember('nr:s', 'a')).toBe(1);
      const popped = await c.sPopCount('nr:s', 2);
      expect([...popped].length).toBe(2);
      expect(await c.sCard('nr:s')).toBe(1);
      const raw = (await c.sendCommand(['SMEMBERS', 'nr:missing'])) as unknown[];
      expect([...raw]).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('redis-cli', () => {
    expect(redisCli(sonic.port, ['sadd', 'cli:s', '3', '1', '2']).stdout).toBe('3');
    expect(redisCli(sonic.port, ['scard', 'cli:s']).stdout).toBe('3');
    expect(redisCli(sonic.port, ['smembers', 'cli:s']).stdout.split('\n').sort()).toEqual(['1', '2', '3']);
    expect(redisCli(sonic.port, ['sintercard', '0', 'cli:s']).stdout.trim()).toBe('ERR numkeys should be greater than 0');
  });
});

describe('WATCH sees set changes', () => {
  it('SADD, SPOP, SMOVE and STORE on a watched key fail the transaction; no-op writes do not', async () => {
    const a = await RawConn.open(sonic.port);
    const b = await RawConn.open(sonic.port);
    try {
      for (const [change, expectNull] of [
        [['SADD', 'w:s', 'new'], true],
        [['SADD', 'w:s', 'g'], false],
        [['SREM', 'w:s', 'nope'], false],
        [['SPOP', 'w:s'], true],
        [['SMOVE', 'w:other', 'w:s', 'o'], true],
        [['SINTERSTORE', 'w:s', 'w:missing'], true],
      ] as [string[], boolean][]) {
        await b.call('SADD', 'w:s', 'g');
        await b.call('SADD', 'w:other', 'o');
        expect(await a.call('WATCH', 'w:s')).toBe('OK');
        await b.call(...change);
        await a.call('MULTI');
        await a.call('SCARD', 'w:s');
        const r = await a.call('EXEC');
        if (expectNull) expect(r, change.join(' ')).toBe(null);
        else expect(r, change.join(' ')).not.toBe(null);
      }
    } finally {
      a.close();
      b.close();
    }
  });
});

/**
 * The list family against redis-server 7: the same command sequences on both, replies
 * compared byte for byte (RESP2 and RESP3), plus a seeded random workload and checks
 * with ioredis, node-redis and redis-cli.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { RawConn, redisCli, startRedis, startSonic, stopAll, transcript, type Proc } from './harness.js';

let sonic: Proc;
let redis: Proc;

beforeAll(async () => {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
});
afterAll(stopAll);

async function expectSame(cmds: string[][], resp3 = false): Promise<void> {
  const [a, b] = await Promise.all([transcript(sonic.port, cmds, resp3), transcript(redis.port, cmds, resp3)]);
  expect(a).toEqual(b);
}

const w = (s: string): string[] => s.split(' ');

/** Prefixes every key-like token `k:` with a namespace so sequences do not collide. */
function ns(prefix: string, lines: string[]): string[][] {
  return lines.map((l) => w(l).map((t) => (t.startsWith('k:') ? prefix + t : t)));
}

const PUSH_POP = [
  'lpush k:l a b c',
  'rpush k:l d e',
  'lrange k:l 0 -1',
  'lpushx k:l x',
  'rpushx k:l y z',
  'lpushx k:none x',
  'rpushx k:none x',
  'llen k:none',
  'llen k:l',
  'llen k:none',
  'lpop k:l',
  'rpop k:l',
  'lpop k:l 2',
  'rpop k:l 0',
  'lpop k:l 0',
  'lpop k:l -1',
  'lpop k:l abc',
  'lpop k:none',
  'rpop k:none',
  'lpop k:none 1',
  'rpop k:none 0',
  'lpop k:none -1',
  'lpop k:l 1 2',
  'rpop k:l 100',
  'llen k:l',
  'lpush k:l',
  'set k:s v',
  'lpush k:s a',
  'rpush k:s a',
  'lpushx k:s a',
  'rpushx k:s a',
  'lpop k:s',
  'rpop k:s 1',
  'lpop k:s x',
  'llen k:s',
  'rpush k:big 1 2 3 4 5 6 7 8 9 10',
  'lpop k:big 99999999999999999999',
  'rpush k:big 1 2',
  'lpop k:big 9223372036854775807',
  'llen k:big',
];

const READ = [
  'rpush k:l a b c d e f',
  'lindex k:l 0',
  'lindex k:l -1',
  'lindex k:l 5',
  'lindex k:l 6',
  'lindex k:l -6',
  'lindex k:l -7',
  'lindex k:l x',
  'lindex k:l 99999999999999999999',
  'lindex k:l -9223372036854775808',
  'lindex k:none 0',
  'lindex k:none x',
  'lrange k:l 0 -1',
  'lrange k:l 1 2',
  'lrange k:l -3 -1',
  'lrange k:l -100 100',
  'lrange k:l 4 2',
  'lrange k:l 6 10',
  'lrange k:l -1 -3',
  'lrange k:l 0 9223372036854775807',
  'lrange k:l -9223372036854775808 0',
  'lrange k:l x 1',
  'lrange k:l 0 x',
  'lrange k:none 0 -1',
  'lrange k:none 0 x',
  'set k:s v',
  'lindex k:s 0',
  'lindex k:s x',
  'lrange k:s 0 -1',
  'lrange k:s 0 x',
  'llen k:s',
];

const LPOS = [
  'rpush k:l a b c a b c a',
  'lpos k:l a',
  'lpos k:l c',
  'lpos k:l z',
  'lpos k:l a rank 2',
  'lpos k:l a rank -1',
  'lpos k:l a rank -2',
  'lpos k:l a rank 4',
  'lpos k:l a rank -4',
  'lpos k:l a rank 0',
  'lpos k:l a rank -9223372036854775808',
  'lpos k:l a rank 9223372036854775807',
  'lpos k:l a rank x',
  'lpos k:l a rank',
  'lpos k:l a count 0',
  'lpos k:l a count 2',
  'lpos k:l a count 100',
  'lpos k:l z count 0',
  'lpos k:l a count -1',
  'lpos k:l a count x',
  'lpos k:l a maxlen x',
  'lpos k:l a maxlen 99999999999999999999',
  'lpos k:l a rank -1 count 2',
  'lpos k:l a rank 2 count 0',
  'lpos k:l a rank -9223372036854775808 count 1',
  'lpos k:l a count 0 maxlen 3',
  'lpos k:l a count 0 maxlen 4',
  'lpos k:l a rank -1 maxlen 1',
  'lpos k:l a rank -1 maxlen 2 count 0',
  'lpos k:l c maxlen 2',
  'lpos k:l a maxlen -1',
  'lpos k:l a maxlen 0',
  'lpos k:l a foo 1',
  'lpos k:l a RANK 1 COUNT 1 MAXLEN 0',
  'lpos k:l a rank 1 rank 2',
  'lpos k:none a',
  'lpos k:none a count 1',
  'lpos k:none a count 0 rank 0',
  'set k:s v',
  'lpos k:s a',
  'lpos k:s a rank 0',
  'lpos k:s a count 1',
];

const WRITE = [
  'rpush k:l a b c a b c a',
  'lset k:l 0 A',
  'lset k:l -1 Z',
  'lset k:l 7 x',
  'lset k:l -8 x',
  'lset k:l x v',
  'lset k:none 0 v',
  'lset k:none x v',
  'lrange k:l 0 -1',
  'linsert k:l before b B',
  'linsert k:l after b B2',
  'linsert k:l BEFORE A first',
  'linsert k:l AFTER Z last',
  'linsert k:l before nothere x',
  'linsert k:l middle b x',
  'linsert k:none before a x',
  'linsert k:none middle a x',
  'lrange k:l 0 -1',
  'lrem k:l 1 c',
  'lrem k:l -1 a',
  'lrem k:l 0 B',
  'lrem k:l 0 nothere',
  'lrem k:l x a',
  'lrem k:none 0 a',
  'lrange k:l 0 -1',
  'ltrim k:l 1 -2',
  'lrange k:l 0 -1',
  'ltrim k:l 0 100',
  'ltrim k:l -2 -1',
  'lrange k:l 0 -1',
  'ltrim k:l x 1',
  'ltrim k:l 0 x',
  'ltrim k:none 0 1',
  'ltrim k:l 5 1',
  'llen k:l',
  'rpush k:r a a a',
  'lrem k:r 0 a',
  'llen k:r',
  'rpush k:t a b',
  'ltrim k:t 2 3',
  'llen k:t',
  'set k:s v',
  'lset k:s 0 v',
  'lset k:s x v',
  'linsert k:s before a b',
  'linsert k:s middle a b',
  'lrem k:s 0 a',
  'lrem k:s x a',
  'ltrim k:s 0 1',
  'ltrim k:s x 1',
];

const MOVE = [
  'rpush k:a 1 2 3',
  'lmove k:a k:b left right',
  'lmove k:a k:b RIGHT LEFT',
  'lrange k:a 0 -1',
  'lrange k:b 0 -1',
  'lmove k:a k:a left right',
  'lrange k:a 0 -1',
  'lmove k:a k:b up left',
  'lmove k:a k:b left down',
  'lmove k:none k:b left left',
  'lmove k:a k:b left left',
  'llen k:a',
  'rpoplpush k:b k:c',
  'rpoplpush k:b k:b',
  'rpoplpush k:none k:c',
  'lrange k:b 0 -1',
  'lrange k:c 0 -1',
  'set k:s v',
  'lmove k:s k:c left left',
  'lmove k:c k:s left left',
  'lmove k:none k:s left left',
  'rpoplpush k:s k:c',
  'rpoplpush k:c k:s',
  'lrange k:c 0 -1',
  'rpush k:one x',
  'rpoplpush k:one k:one',
  'lrange k:one 0 -1',
];

const MPOP = [
  'rpush k:l 1 2 3 4 5',
  'lmpop 1 k:l left',
  'lmpop 1 k:l right',
  'lmpop 2 k:none k:l left count 2',
  'lmpop 2 k:none k:l right count 100',
  'llen k:l',
  'lmpop 1 k:l left',
  'lmpop 2 k:l k:none left count 3',
  'lmpop 0 k:l left',
  'lmpop -1 k:l left',
  'lmpop x k:l left',
  'lmpop 99999999999999999999 k:l left',
  'lmpop 3 k:l left',
  'lmpop 1 k:l middle',
  'lmpop 1 k:l left count 0',
  'lmpop 1 k:l left count -1',
  'lmpop 1 k:l left count x',
  'lmpop 1 k:l left count',
  'lmpop 1 k:l left count 1 count 2',
  'lmpop 1 k:l left foo',
  'lmpop 1 k:l LEFT COUNT 1',
  'set k:s v',
  'rpush k:m a b',
  'lmpop 1 k:s left',
  'lmpop 2 k:none k:s left',
  'lmpop 2 k:s k:m left',
  'lmpop 2 k:m k:s left',
  'lmpop 2 k:m k:m right count 5',
];

/** Blocking commands that never block: data present, errors, and MULTI. */
const BLOCKING_NOW = [
  'rpush k:l a b c d',
  'blpop k:l 0',
  'brpop k:none k:l 0',
  'blpop k:none k:l 1.5',
  'blmove k:l k:d left right 0',
  'rpush k:l e',
  'brpoplpush k:l k:d 0',
  'lrange k:d 0 -1',
  'rpush k:l a b c d',
  'blmpop 0 2 k:none k:l right count 2',
  'blmpop 0 1 k:l left',
  'rpush k:l 1 2 3 4 5 6 7 8 9 10 11 12',
  'blpop k:l x',
  'blpop k:l -1',
  'blpop k:l -0.0001',
  'blpop k:l inf',
  'blpop k:l -inf',
  'blpop k:l nan',
  'blpop k:l 1e400',
  'blpop k:l 9.3e15',
  'blpop k:l 1e99999',
  'blpop k:l 0x10',
  'blpop k:l 0x1p3',
  'blpop k:l .5',
  'brpop k:l 1e',
  'blmove k:l k:d middle right 0',
  'blmove k:l k:d left right x',
  'blmove k:l k:d left right -1',
  'brpoplpush k:l k:d x',
  'blmpop x 1 k:l left',
  'blmpop -1 1 k:l left',
  'blmpop 0 0 k:l left',
  'blmpop -1 0 k:l left',
  'blmpop x 1 k:l left count 0',
  'blmpop x 1 k:l middle',
  'blmpop x 5 k:l left',
  'set k:s v',
  'blpop k:s 0',
  'blpop k:none k:s 0',
  'blpop k:s x',
  'blmove k:s k:d left left 0',
  'blmove k:d k:s left left 0',
  'brpoplpush k:s k:d 0',
  'blmpop 0 1 k:s left',
  'multi',
  'blpop k:empty 0',
  'brpop k:empty 10',
  'blmove k:empty k:d left left 0',
  'brpoplpush k:empty k:d 0',
  'blmpop 0 1 k:empty left',
  'blpop k:d 0',
  'blpop k:empty x',
  'exec',
];

describe('lists: differential against redis-server 7', () => {
  const cases: [string, string[]][] = [
    ['push and pop', PUSH_POP],
    ['LINDEX, LRANGE, LLEN', READ],
    ['LPOS', LPOS],
    ['LSET, LINSERT, LREM, LTRIM', WRITE],
    ['LMOVE, RPOPLPUSH', MOVE],
    ['LMPOP', MPOP],
    ['blocking commands that answer at once', BLOCKING_NOW],
  ];
  for (const [name, lines] of cases) {
    it(`${name} (RESP2)`, async () => {
      await expectSame(ns(`r2:${name}:`, lines));
    });
    it(`${name} (RESP3)`, async () => {
      await expectSame(ns(`r3:${name}:`, lines), true);
    });
  }

  it('COMMAND INFO of every list command matches', async () => {
    const names = 'lpush rpush lpushx rpushx lpop rpop llen lindex lrange lset linsert lrem ltrim lpos lmove rpoplpush lmpop blpop brpop blmove brpoplpush blmpop';
    await expectSame([['command', 'info', ...names.split(' ')], ['command', 'getkeys', 'blmpop', '0', '2', 'a', 'b', 'left'], ['command', 'getkeys', 'blmove', 's', 'd', 'left', 'left', '0']]);
  });

  it('timeouts reply a null array in RESP2 and a null in RESP3', async () => {
    const cmds = [
      ['blpop', 'tmo:a', 'tmo:b', '0.05'],
      ['brpop', 'tmo:a', '0.05'],
      ['blmove', 'tmo:a', 'tmo:b', 'LEFT', 'RIGHT', '0.05'],
      ['brpoplpush', 'tmo:a', 'tmo:b', '0.05'],
      ['blmpop', '0.05', '2', 'tmo:a', 'tmo:b', 'LEFT'],
    ];
    await expectSame(cmds);
    await expectSame(cmds, true);
  });

  it('WATCH fails after LTRIM even when nothing is trimmed, as in Redis', async () => {
    const run = async (port: number): Promise<unknown[]> => {
      const a = await RawConn.open(port);
      const b = await RawConn.open(port);
      try {
        const out: unknown[] = [];
        out.push(await a.call('rpush', 'wt:l', 'x', 'y'));
        out.push(await a.call('watch', 'wt:l'));
        out.push(await b.call('ltrim', 'wt:l', '0', '-1'));
        out.push(await a.call('multi'));
        out.push(await a.call('lpush', 'wt:l', 'z'));
        out.push(await a.call('exec'));
        out.push(await a.call('watch', 'wt:l'));
        out.push(await b.call('linsert', 'wt:l', 'before', 'nope', 'q'));
        out.push(await a.call('multi'));
        out.push(await a.call('llen', 'wt:l'));
        out.push(await a.call('exec'));
        return out;
      } finally {
        a.close();
        b.close();
      }
    };
    expect(await run(sonic.port)).toEqual(await run(redis.port));
  });

  it('a seeded random workload gives identical replies', async () => {
    let seed = 0x5eed1157;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const keys = ['rw:a', 'rw:b', 'rw:c'];
    const vals = ['x', 'y', 'z', 'w', ''];
    const cmds: string[][] = [];
    for (let i = 0; i < 3000; i++) {
      const k = keys[rnd(keys.length)]!;
      const k2 = keys[rnd(keys.length)]!;
      const v = vals[rnd(vals.length)]!;
      const idx = String(rnd(21) - 10);
      const idx2 = String(rnd(21) - 10);
      const lr = rnd(2) ? 'LEFT' : 'RIGHT';
      const pick = rnd(20);
      const many = Array.from({ length: 1 + rnd(40) }, () => vals[rnd(vals.length)]!);
      switch (pick) {
        case 0: cmds.push(['lpush', k, ...many]); break;
        case 1: cmds.push(['rpush', k, ...many]); break;
        case 2: cmds.push(['lpop', k, ...(rnd(2) ? [String(rnd(5))] : [])]); break;
        case 3: cmds.push(['rpop', k, ...(rnd(2) ? [String(rnd(5))] : [])]); break;
        case 4: cmds.push(['linsert', k, rnd(2) ? 'before' : 'after', v, vals[rnd(vals.length)]!]); break;
        case 5: cmds.push(['lrem', k, idx, v]); break;
        case 6: cmds.push(['ltrim', k, idx, idx2]); break;
        case 7: cmds.push(['lset', k, idx, v]); break;
        case 8: cmds.push(['lindex', k, idx]); break;
        case 9: cmds.push(['lmove', k, k2, lr, rnd(2) ? 'LEFT' : 'RIGHT']); break;
        case 10: cmds.push(['lpos', k, v, 'rank', String(rnd(2) ? 1 + rnd(3) : -1 - rnd(3)), 'count', String(rnd(4))]); break;
        case 11: cmds.push(['lmpop', '2', k, k2, lr, 'count', String(1 + rnd(4))]); break;
        case 12: cmds.push(['rpoplpush', k, k2]); break;
        case 13: cmds.push(['lpushx', k, v]); break;
        default: cmds.push(['lrange', k, idx, idx2]);
      }
      if (i % 50 === 49) for (const key of keys) cmds.push(['lrange', key, '0', '-1']);
    }
    const run = async (port: number): Promise<string> => {
      const c = await RawConn.open(port);
      try {
        for (const cmd of cmds) c.send(...cmd);
        for (let i = 0; i < cmds.length; i++) await c.read(10000);
        return c.raw.toString('latin1');
      } finally {
        c.close();
      }
    };
    const [a, b] = await Promise.all([run(sonic.port), run(redis.port)]);
    expect(a.length).toBeGreaterThan(cmds.length * 3);
    expect(a).toBe(b);
  });

  it('large lists: LINSERT, LREM and LTRIM in the middle stay linear', async () => {
    const c = await RawConn.open(sonic.port);
    try {
      const n = 20000;
      for (let i = 0; i < n; i += 1000) {
        c.send('rpush', 'big:l', ...Array.from({ length: 1000 }, (_, j) => String((i + j) % 7)));
      }
      for (let i = 0; i < n / 1000; i++) await c.read();
      const t0 = Date.now();
      for (let i = 0; i < 200; i++) c.send('linsert', 'big:l', 'before', '6', 'ins');
      for (let i = 0; i < 200; i++) expect(await c.read()).toBe(n + i + 1);
      expect(await c.call('lrem', 'big:l', '0', '3')).toBe(Math.floor(n / 7) + (n % 7 > 3 ? 1 : 0));
      expect(await c.call('lrem', 'big:l', '-5', 'ins')).toBe(5);
      expect(await c.call('ltrim', 'big:l', '100', '-100')).toBe('OK');
      expect(Date.now() - t0).toBeLessThan(5000);
      const len = (await c.call('llen', 'big:l')) as number;
      const all = (await c.call('lrange', 'big:l', '0', '-1')) as Buffer[];
      expect(all.length).toBe(len);
      expect(all.some((b) => b.toString() === '3')).toBe(false);
    } finally {
      c.close();
    }
  });
});

describe('lists: real clients', () => {
  it('ioredis', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await r.connect();
      expect(await r.rpush('io:l', 'a', 'b', 'c')).toBe(3);
      expect(await r.lrange('io:l', 0, -1)).toEqual(['a', 'b', 'c']);
      expect(await r.lpop('io:l', 2)).toEqual(['a', 'b']);
      expect(await r.lpop('io:none', 2)).toBeNull();
      expect(await r.lpos('io:l', 'c')).toBe(0);
      expect(await r.lmove('io:l', 'io:m', 'LEFT', 'RIGHT')).toBe('c');
      expect(await r.llen('io:l')).toBe(0);
      expect(await r.lmpop(1, 'io:m', 'LEFT')).toEqual(['io:m', ['c']]);
      await expect(r.lset('io:none', 0, 'x')).rejects.toThrow('ERR no such key');
    } finally {
      r.disconnect();
    }
  });

  it('node-redis (RESP3 by HELLO)', async () => {
    const client = createClient({ socket: { port: sonic.port } });
    await client.connect();
    try {
      expect(await client.rPush('nr:l', ['a', 'b', 'c'])).toBe(3);
      expect(await client.lRange('nr:l', 0, -1)).toEqual(['a', 'b', 'c']);
      expect(await client.lPopCount('nr:l', 2)).toEqual(['a', 'b']);
      expect(await client.lPopCount('nr:none', 2)).toBeNull();
      expect(await client.lInsert('nr:l', 'BEFORE', 'c', 'x')).toBe(2);
      expect(await client.lPos('nr:l', 'c')).toBe(1);
      expect(await client.lmPop(['nr:none', 'nr:l'], 'RIGHT', { COUNT: 5 })).toEqual(['nr:l', ['c', 'x']]);
      expect(await client.blPop('nr:none', 0.05)).toBeNull();
    } finally {
      await client.quit();
    }
  });

  it('redis-cli', () => {
    expect(redisCli(sonic.port, ['rpush', 'cli:l', 'a', 'b']).stdout).toBe('2');
    expect(redisCli(sonic.port, ['lrange', 'cli:l', '0', '-1']).stdout).toBe('a\nb');
    expect(redisCli(sonic.port, ['lpop', 'cli:none', '1']).stdout).toBe('');
    expect(redisCli(sonic.port, ['lset', 'cli:l', '5', 'x']).stdout).toContain('ERR index out of range');
  });
});

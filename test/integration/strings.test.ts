/**
 * The string family against redis-server 7: the same command sequences on both, replies
 * compared byte for byte (RESP2 and RESP3), including errors and edge cases; plus
 * ioredis, node-redis and redis-cli, and TTL behaviour of the expiring variants.
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

const w = (s: string): string[] => s.split(' ').map((t) => (t === "''" ? '' : t));

async function expectSame(lines: string[]): Promise<void> {
  const cmds = lines.map(w);
  for (const resp3 of [false, true]) {
    const [a, b] = await Promise.all([transcript(sonic.port, cmds, resp3, { flushFirst: true }), transcript(redis.port, cmds, resp3, { flushFirst: true })]);
    expect(a).toEqual(b);
  }
}

describe('strings, compared with redis-server', () => {
  it('GET/SET and every SET option, with their errors', async () => {
    await expectSame([
      'get s',
      'set s v',
      'get s',
      'set s w nx',
      'set s w xx',
      'get s',
      'set n1 v xx',
      'set s x get',
      'set fresh y nx get',
      'set s v ex 100',
      'ttl s',
      'set s v px 100000',
      'set s v keepttl',
      'set s v exat 99999999999',
      'ttl s',
      'set s v pxat 99999999999000',
      'set s v ex 0',
      'set s v ex -1',
      'set s v ex abc',
      'set s v px 9223372036854775807',
      'set s v nx xx',
      'set s v ex 10 px 10',
      'set s v ex 10 keepttl',
      'set s v foo',
      'set s',
      'lpush l a',
      'set l v get',
      'get l',
      'set l v',
      'get l',
    ]);
  });

  it('SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX', async () => {
    await expectSame([
      'setnx a 1',
      'setnx a 2',
      'get a',
      'setex b 100 v',
      'ttl b',
      'setex b 0 v',
      'setex b abc v',
      'psetex c 100000 v',
      'ttl c',
      'psetex c -5 v',
      'getset a 3',
      'getset nokey 1',
      'getdel a',
      'getdel a',
      'set e v',
      'getex e',
      'getex e ex 100',
      'ttl e',
      'getex e persist',
      'ttl e',
      'getex e px 0',
      'getex e ex 10 px 10',
      'getex e foo',
      'getex nokey ex 10',
      'lpush l x',
      'getex l',
      'getdel l',
      'getset l v',
    ]);
  });

  it('MGET, MSET, MSETNX', async () => {
    await expectSame([
      'mset a 1 b 2 c 3',
      'mget a b c d',
      'mset a',
      'mset a 1 b',
      'msetnx a 9 z 9',
      'get z',
      'msetnx y 1 z 2',
      'mget y z',
      'lpush l x',
      'mget a l',
    ]);
  });

  it('APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE', async () => {
    await expectSame([
      'append s hello',
      'append s \x00world',
      'strlen s',
      'strlen nokey',
      'getrange s 0 4',
      'getrange s -5 -1',
      'getrange s 5 2',
      'getrange s -100 100',
      'getrange s -1 -5',
      'getrange nokey 0 10',
      'getrange s a b',
      'substr s 1 3',
      'setrange s 2 XY',
      'get s',
      'setrange s 20 end',
      'get s',
      'setrange s -1 x',
      'setrange s 1 \'\'',
      'setrange fresh 3 abc',
      'get fresh',
      'setrange fresh2 0 \'\'',
      'exists fresh2',
      'setrange s 536870912 x',
      'lpush l x',
      'append l x',
      'strlen l',
      'getrange l 0 1',
      'setrange l 0 x',
    ]);
  });

  it('INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT, with overflow and type errors', async () => {
    await expectSame([
      'incr n',
      'incr n',
      'decr n',
      'incrby n 100',
      'decrby n 50',
      'incrby n abc',
      'incrby n 1.5',
      'set big 9223372036854775806',
      'incr big',
      'incr big',
      'set small -9223372036854775807',
      'decr small',
      'decr small',
      'decrby n -9223372036854775808',
      'set f 10.5',
      'incrbyfloat f 0.1',
      'incrbyfloat f -5',
      'incrbyfloat f abc',
      'incrbyfloat f inf',
      'set g 0.1',
      'incrbyfloat g 0.2',
      'set txt abc',
      'incr txt',
      'incrbyfloat txt 1',
      'set sp " 1"',
      'incr sp',
      'set lead 01',
      'incr lead',
      'lpush l x',
      'incr l',
      'incrbyfloat l 1',
    ]);
  });
});

describe('strings with real clients', () => {
  it('ioredis, node-redis and redis-cli agree on values, binary data included', async () => {
    const io = new Redis({ port: sonic.port, lazyConnect: true });
    const nr = createClient({ socket: { port: sonic.port } });
    try {
      await io.connect();
      await nr.connect();
      const bin = Buffer.from([0, 1, 2, 255, 13, 10, 128]);
      expect(await io.set('bin', bin)).toBe('OK');
      expect(await io.getBuffer('bin')).toEqual(bin);
      expect(await nr.incrBy('ctr', 5)).toBe(5);
      expect(await io.incrbyfloat('ctr', '0.5')).toBe('5.5');
      expect(await nr.set('lock', 'me', { NX: true, EX: 30 })).toBe('OK');
      expect(await nr.set('lock', 'you', { NX: true, EX: 30 })).toBe(null);
      expect(await io.ttl('lock')).toBeGreaterThan(25);
      expect(redisCli(sonic.port, ['get', 'lock']).stdout).toBe('me');
      expect(redisCli(sonic.port, ['mget', 'lock', 'nokey']).stdout).toBe('me\n');
    } finally {
      io.disconnect();
      await nr.quit();
    }
  });

  it('a key set with PX is gone after its TTL', async () => {
    const c = await RawConn.open(sonic.port);
    try {
      expect(await c.call('SET', 'short', 'v', 'PX', '80')).toBe('OK');
      expect(await c.call('GET', 'short')).toBe('v');
      await new Promise((r) => setTimeout(r, 150));
      expect(await c.call('GET', 'short')).toBe(null);
    } finally {
      c.close();
    }
  });
});

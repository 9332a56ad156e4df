/**
 * The generic key family against redis-server 7: the same command sequences on both,
 * replies compared byte for byte (RESP2 and RESP3); KEYS and SCAN compared as sets;
 * SCAN's guarantee under concurrent inserts and deletes; and checks with ioredis,
 * node-redis and redis-cli.
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

/** Splits a line into arguments; `''` stands for an empty argument. */
const w = (s: string): string[] => s.split(' ').map((t) => (t === "''" ? '' : t));

/** Prefixes every key-like token `k:` with a namespace so sequences do not collide. */
function ns(prefix: string, lines: string[]): string[][] {
  return lines.map((l) => w(l).map((t) => (t.startsWith('k:') ? prefix + t : t)));
}

const BASICS = [
  'set k:a 1',
  'set k:b 2',
  'rpush k:l x y z',
  'exists k:a k:a k:b k:none',
  'exists k:none',
  'type k:a',
  'type k:l',
  'type k:none',
  'del k:a k:a k:none',
  'del k:none',
  'unlink k:b k:l k:b',
  'exists k:a k:b k:l',
  'touch k:a k:none',
  'set k:c v',
  'touch k:c k:c k:none',
  'del',
  'unlink',
  'exists',
  'type',
  'type a b',
  'touch',
];

const EXPIRE = [
  'set k:e v',
  'expire k:e 1000',
  'ttl k:e',
  'expire k:e 1000 nx',
  'expire k:e 1000 xx',
  'expire k:e 2000 gt',
  'ttl k:e',
  'expire k:e 500 gt',
  'expire k:e 100 lt',
  'ttl k:e',
  'expire k:e 5000 lt',
  'persist k:e',
  'persist k:e',
  'ttl k:e',
  'expire k:e 100 xx',
  'expire k:e 100 gt',
  'expire k:e 100 lt',
  'ttl k:e',
  'persist k:e',
  'expire k:e 100 nx',
  'expire k:e 200 NX',
  'expire k:e 300 Gt xx',
  'ttl k:e',
  'expire k:none 100',
  'expire k:none 100 nx',
  'ttl k:none',
  'pttl k:none',
  'expiretime k:none',
  'pexpiretime k:none',
  'persist k:none',
  'expire k:e 10 foo',
  'expire k:e 10 nx xx',
  'expire k:e 10 gt lt',
  'expire k:e 10 nx gt',
  'expire k:e 10 NX LT',
  'expire k:e 10 xx gt lt',
  'expire k:e 10 nx foo',
  'expire k:none 10 nx xx',
  'expire k:e abc',
  'expire k:e 1.5',
  "expire k:e ''",
  'expire k:e 9223372036854775807',
  'expire k:e -9223372036854775808',
  'expire k:e 9223372036854776',
  'pexpire k:e 9223372036854775807',
  'expireat k:e 9223372036854775808',
  'pexpireat k:e abc',
  'set k:f v',
  'expireat k:f 4102444800',
  'expiretime k:f',
  'pexpiretime k:f',
  'pexpireat k:f 4102444800123',
  'pexpiretime k:f',
  'expiretime k:f',
  'pexpireat k:f 4102444800500',
  'expiretime k:f',
  'pexpireat k:f 4102444800499',
  'expiretime k:f',
  'ttl k:none',
  'expire k:f -1',
  'exists k:f',
  'set k:g v',
  'pexpire k:g 0',
  'exists k:g',
  'set k:h v',
  'expireat k:h 100',
  'get k:h',
  'set k:i v',
  'pexpireat k:i 1 xx',
  'exists k:i',
  'set k:j v',
  'pexpireat k:j 1 lt',
  'exists k:j',
  'set k:k v ex 100',
  'set k:k v2',
  'ttl k:k',
  'set k:k v3 ex 100',
  'set k:k v4 keepttl',
  'ttl k:k',
  'ttl',
  'expire k:e',
  'pttl k:e k:f',
  'persist',
];

const RENAME = [
  'set k:r1 v1',
  'expire k:r1 1000',
  'rename k:r1 k:r2',
  'exists k:r1',
  'get k:r2',
  'ttl k:r2',
  'rename k:none k:x',
  'renamenx k:none k:x',
  'rename k:none k:none',
  'rename k:r2 k:r2',
  'renamenx k:r2 k:r2',
  'set k:r3 v3',
  'renamenx k:r2 k:r3',
  'rename k:r2 k:r3',
  'get k:r3',
  'ttl k:r3',
  'exists k:r2',
  'set k:r4 old',
  'expire k:r4 5000',
  'renamenx k:r3 k:r5',
  'get k:r5',
  'ttl k:r5',
  'persist k:r5',
  'rename k:r5 k:r4',
  'ttl k:r4',
  'rpush k:rl a b',
  'rename k:rl k:r4',
  'type k:r4',
  'lrange k:r4 0 -1',
  'rename k:r4',
  'renamenx k:r4 a b',
];

const COPY = [
  'set k:c1 hello',
  'expire k:c1 1000',
  'copy k:c1 k:c2',
  'get k:c2',
  'ttl k:c2',
  'copy k:c1 k:c2',
  'set k:c2 other',
  'copy k:c1 k:c2 replace',
  'get k:c2',
  'copy k:c1 k:c1',
  'copy k:c1 k:c1 replace',
  'copy k:none k:c3',
  'copy k:none k:none',
  'copy k:c1 k:c3 db 1',
  'copy k:c1 k:c1 db 1',
  'copy k:c1 k:c1 db 1',
  'copy k:c1 k:c1 db 1 replace',
  'copy k:c1 k:c1 db 0',
  'select 1',
  'get k:c1',
  'ttl k:c1',
  'get k:c3',
  'del k:c1 k:c3',
  'select 0',
  'copy k:c1 k:c4 db x',
  'copy k:c1 k:c4 db 16',
  'copy k:c1 k:c4 db -1',
  'copy k:c1 k:c4 db 99999999999',
  'copy k:c1 k:c4 foo',
  'copy k:c1 k:c4 db',
  'copy k:c1 k:c4 replace replace',
  'copy k:c1 k:c4 REPLACE DB 0',
  'get k:c4',
  'rpush k:cl a b c',
  'copy k:cl k:cl2',
  'rpush k:cl2 d',
  'lrange k:cl 0 -1',
  'lrange k:cl2 0 -1',
  'copy',
  'copy a',
];

const COPY_COLLECTIONS = [
  'hset k:ch f v g w',
  'copy k:ch k:ch2',
  'hset k:ch2 h x',
  'hlen k:ch',
  'hlen k:ch2',
  'sadd k:cs 1 2 3',
  'copy k:cs k:cs2',
  'srem k:cs2 1',
  'scard k:cs',
  'scard k:cs2',
  'zadd k:cz 1 a 2 b',
  'copy k:cz k:cz2',
  'zadd k:cz2 3 c',
  'zrange k:cz 0 -1 withscores',
  'zrange k:cz2 0 -1 withscores',
];

const MOVE = [
  'set k:m v',
  'move k:m 1',
  'exists k:m',
  'move k:m 1',
  'move k:none 1',
  'move k:m 0',
  'move k:m x',
  'move k:m 16',
  'move k:m -1',
  'move k:m 99999999999',
  'select 1',
  'get k:m',
  'move k:m 0',
  'set k:m2 a',
  'select 0',
  'get k:m',
  'set k:m2 b',
  'move k:m2 1',
  'get k:m2',
  'select 1',
  'get k:m2',
  'del k:m k:m2',
  'select 0',
  'move k:m',
];

const OBJECT = [
  'set k:o1 123',
  'set k:o2 hello',
  'set k:o3 ' + 'x'.repeat(44),
  'set k:o4 ' + 'x'.repeat(45),
  'set k:o5 -5',
  'set k:o6 12345',
  'set k:o7 99999999999999999999',
  'set k:o8 9223372036854775807',
  'set k:o9 0123',
  'set k:o10 9999',
  'set k:o11 10000',
  'object encoding k:o1',
  'object encoding k:o2',
  'object encoding k:o3',
  'object encoding k:o4',
  'object encoding k:o5',
  'object encoding k:o6',
  'object encoding k:o7',
  'object encoding k:o8',
  'object encoding k:o9',
  'object refcount k:o1',
  'object refcount k:o2',
  'object refcount k:o5',
  'object refcount k:o6',
  'object refcount k:o10',
  'object refcount k:o11',
  'object encoding k:none',
  'object refcount k:none',
  'object idletime k:none',
  'object freq k:none',
  'object freq k:o1',
  'rpush k:ol a',
  'object encoding k:ol',
  'object help',
  'OBJECT HELP',
  'object foo',
  'object foo bar',
  'object',
  'object encoding',
  'object encoding a b',
  'object help x',
];

const SCAN_KEYS = [
  'select 9',
  'scan 0',
  'keys *',
  'randomkey',
  'set k 1',
  'scan 0',
  'scan 0 match k',
  'scan 0 match x*',
  'scan 0 MATCH k COUNT 100',
  'scan 0 type string',
  'scan 0 type list',
  'scan 0 type STRING',
  'scan 0 type nosuch',
  "scan ''",
  'scan +0',
  'keys *',
  'keys k',
  'keys [k]',
  'keys k*',
  'keys K',
  'randomkey',
  'del k',
  'randomkey',
  'scan x',
  'scan 1.5',
  'scan 0x10',
  "scan ' 0'",
  'scan 18446744073709551616',
  'scan +',
  'scan 0 count 0',
  'scan 0 count -1',
  'scan 0 count x',
  'scan 0 match',
  'scan 0 count',
  'scan 0 foo bar',
  'scan 0 type',
  'scan x count 0',
  'keys',
  'keys a b',
  'randomkey x',
  'scan',
  'select 0',
];

describe('generic commands match redis-server byte for byte', () => {
  const cases: [string, string[]][] = [
    ['DEL UNLINK EXISTS TYPE TOUCH', BASICS],
    ['EXPIRE family, TTL, PERSIST', EXPIRE],
    ['RENAME RENAMENX', RENAME],
    ['COPY', COPY],
    ['MOVE', MOVE],
    ['OBJECT', OBJECT],
    ['SCAN KEYS RANDOMKEY on a tiny database', SCAN_KEYS],
  ];
  for (const [name, lines] of cases) {
    it(`${name} (RESP2)`, async () => {
      await expectSame(ns('r2:', lines));
    });
    it(`${name} (RESP3)`, async () => {
      await expectSame(ns('r3:', lines), true);
    });
  }

  it('COPY makes deep copies of hashes, sets and sorted sets', async () => {
    await expectSame(ns('cc:', COPY_COLLECTIONS));
  });
});

describe('OBJECT under an LFU policy', () => {
  it('FREQ answers and IDLETIME refuses, as redis-server', async () => {
    const [s2, r2] = await Promise.all([startSonic(['--maxmemory-policy', 'allkeys-lfu']), startRedis(['--maxmemory-policy', 'allkeys-lfu'])]);
    const lines = ['set k v', 'object freq k', 'object idletime k', 'object freq none', 'object idletime none'];
    const [a, b] = await Promise.all([transcript(s2.port, lines.map(w)), transcript(r2.port, lines.map(w))]);
    expect(a).toEqual(b);
    await Promise.all([s2.stop(), r2.stop()]);
  });
});

describe('KEYS and SCAN patterns', () => {
  const names = ['hello', 'hallo', 'hxllo', 'hllo', 'heeeello', 'h*llo', 'h?llo', 'a[b', 'a\\b', 'user:1', 'user:2', 'user:10', 'User:3', 'x\0y', 'caf\xe9'];
  const patterns = ['*', 'h?llo', 'h*llo', 'h[ae]llo', 'h[^e]llo', 'h[a-b]llo', 'h\\*llo', 'user:?', 'user:*', 'USER:*', '*:1*', 'a[b', 'a\\\\b', 'x*', '*\xe9', '[', 'h[', 'nomatch*'];

  async function populate(c: RawConn): Promise<void> {
    await c.call('SELECT', '3');
    await c.call('FLUSHDB');
    for (const n of names) await c.call('SET', n, '1');
    await c.call('RPUSH', 'list:1', 'a');
  }

  async function scanAll(c: RawConn, ...opts: string[]): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    for (let i = 0; i < 1000; i++) {
      const [next, keys] = (await c.call('SCAN', cursor, ...opts)) as [string, string[]];
      out.push(...keys);
      cursor = next;
      if (cursor === '0') return out.sort();
    }
    throw new Error('SCAN did not finish');
  }

  it('returns the same key sets as redis-server', async () => {
    const [s, r] = await Promise.all([RawConn.open(sonic.port), RawConn.open(redis.port)]);
    try {
      await Promise.all([populate(s), populate(r)]);
      for (const p of patterns) {
        const [a, b] = await Promise.all([s.call('KEYS', p), r.call('KEYS', p)]);
        expect((a as string[]).sort(), `KEYS ${p}`).toEqual((b as string[]).sort());
        const [sa, sb] = await Promise.all([scanAll(s, 'MATCH', p, 'COUNT', '3'), scanAll(r, 'MATCH', p, 'COUNT', '3')]);
        expect(sa, `SCAN MATCH ${p}`).toEqual(sb);
      }
      for (const t of ['string', 'list', 'hash', 'LIST']) {
        const [a, b] = await Promise.all([scanAll(s, 'TYPE', t), scanAll(r, 'TYPE', t)]);
        expect(a, `SCAN TYPE ${t}`).toEqual(b);
      }
      expect(await scanAll(s, 'COUNT', '1')).toEqual(await scanAll(r, 'COUNT', '1000'));
    } finally {
      s.close();
      r.close();
    }
  });
});

describe('SCAN under concurrent changes', () => {
  it('returns every key present for the whole scan, whatever is added and deleted meanwhile', async () => {
    const scanner = await RawConn.open(sonic.port);
    const writer = await RawConn.open(sonic.port);
    try {
      await scanner.call('SELECT', '4');
      await writer.call('SELECT', '4');
      await writer.call('FLUSHDB');
      const stable = Array.from({ length: 3000 }, (_, i) => `stable:${i}`);
      const doomed = Array.from({ length: 3000 }, (_, i) => `doomed:${i}`);
      for (let i = 0; i < stable.length; i += 500) await writer.call('MSET', ...stable.slice(i, i + 500).flatMap((k) => [k, 'v']));
      for (let i = 0; i < doomed.length; i += 500) await writer.call('MSET', ...doomed.slice(i, i + 500).flatMap((k) => [k, 'v']));
      const seen = new Set<string>();
      const deleted = new Set<string>();
      const resurrected: string[] = [];
      let cursor = '0';
      let steps = 0;
      let added = 0;
      do {
        const [next, keys] = (await scanner.call('SCAN', cursor, 'COUNT', '37')) as [string, string[]];
        for (const k of keys) {
          seen.add(k);
          if (deleted.has(k)) resurrected.push(k);
        }
        cursor = next;
        // Between steps: insert new keys, delete some doomed ones, overwrite some stable ones.
        const adds: string[] = [];
        for (let j = 0; j < 40; j++) adds.push(`new:${added++}`, 'v');
        await writer.call('MSET', ...adds);
        const del = doomed.slice(steps * 20, steps * 20 + 20);
        if (del.length > 0) await writer.call('DEL', ...del);
        for (const k of del) deleted.add(k);
        await writer.call('SET', stable[(steps * 7) % stable.length]!, 'changed');
        steps++;
      } while (cursor !== '0' && steps < 10_000);
      expect(cursor).toBe('0');
      const missing = stable.filter((k) => !seen.has(k));
      expect(missing).toEqual([]);
      // A key deleted before a SCAN call is never returned by that call or later ones.
      expect(resurrected).toEqual([]);
      expect(steps).toBeGreaterThan(50);
    } finally {
      scanner.close();
      writer.close();
    }
  });

  it('a made-up or stale cursor restarts the scan rather than failing', async () => {
    const c = await RawConn.open(sonic.port);
    try {
      await c.call('SELECT', '5');
      await c.call('FLUSHDB');
      await c.call('MSET', 'a', '1', 'b', '2', 'c', '3');
      const seen = new Set<string>();
      let cursor = '123456789';
      for (let i = 0; i < 100; i++) {
        const [next, keys] = (await c.call('SCAN', cursor, 'COUNT', '1')) as [string, string[]];
        for (const k of keys) seen.add(k);
        cursor = next;
        if (cursor === '0') break;
      }
      expect(cursor).toBe('0');
      expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    } finally {
      c.close();
    }
  });
});

describe('clients', () => {
  it('ioredis scanStream, node-redis scanIterator and redis-cli --scan see every key', async () => {
    const io = new Redis({ port: sonic.port, db: 6, lazyConnect: true });
    const nr = createClient({ socket: { port: sonic.port, host: '127.0.0.1' }, database: 6 });
    try {
      await io.connect();
      await io.flushdb();
      const expected: string[] = [];
      for (let i = 0; i < 500; i++) expected.push(`session:${i}`);
      await io.mset(...expected.flatMap((k) => [k, 'v']));
      await io.set('other', 'x');
      const viaIo: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const st = io.scanStream({ match: 'session:*', count: 50 });
        st.on('data', (keys: string[]) => viaIo.push(...keys));
        st.on('end', () => resolve());
        st.on('error', reject);
      });
      expect(new Set(viaIo)).toEqual(new Set(expected));

      await nr.connect();
      const viaNr: string[] = [];
      for await (const batch of nr.scanIterator({ MATCH: 'session:*', COUNT: 100 })) {
        if (Array.isArray(batch)) viaNr.push(...batch);
        else viaNr.push(batch as string);
      }
      expect(new Set(viaNr)).toEqual(new Set(expected));

      const cli = redisCli(sonic.port, ['-n', '6', '--scan', '--pattern', 'session:*']);
      expect(new Set(cli.stdout.split('\n'))).toEqual(new Set(expected));

      // Keys libraries delete with UNLINK in batches after a scan.
      expect(await io.unlink(...expected.slice(0, 250))).toBe(250);
      expect(await io.dbsize()).toBe(251);
      expect(await io.exists('session:0', 'session:499', 'session:499')).toBe(2);
      expect(await io.expire('session:499', 100)).toBe(1);
      expect(await io.ttl('session:499')).toBe(100);
      expect(await nr.pExpireTime('session:499')).toBeGreaterThan(Date.now());
      expect(await nr.type('session:499')).toBe('string');
      expect(await nr.rename('session:499', 'renamed')).toBe('OK');
      expect(await nr.copy('renamed', 'copied')).toBe(1);
      const dump = await io.dumpBuffer('copied');
      expect(await io.restore('restored', 0, dump)).toBe('OK');
      expect(await io.get('restored')).toBe('v');
    } finally {
      io.disconnect();
      if (nr.isOpen) await nr.quit();
    }
  });
});

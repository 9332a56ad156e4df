/**
 * Expiry on a real Sonic node: keys vanish after their TTL when read (lazy expiry) and
 * when never touched again (the active cycle: DBSIZE drops on its own), TTLs survive
 * RENAME/COPY/MOVE and go with PERSIST or an overwrite, and expired keys never show up
 * in KEYS, SCAN, EXISTS or RANDOMKEY.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RawConn, startSonic, stopAll, type Proc } from './harness.js';

let sonic: Proc;

beforeAll(async () => {
  sonic = await startSonic(['--hz', '50']);
});
afterAll(stopAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function conn(db: number): Promise<RawConn> {
  const c = await RawConn.open(sonic.port);
  expect(await c.call('SELECT', String(db))).toBe('OK');
  return c;
}

/** Polls `f` until it returns true or `ms` pass; returns the last result. */
async function eventually(f: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return true;
    await sleep(25);
  }
  return f();
}

describe('lazy expiry', () => {
  it('a key read after its TTL is gone, for every type', async () => {
    const c = await conn(1);
    try {
      await c.call('FLUSHDB');
      await c.call('SET', 's', 'v', 'PX', '150');
      await c.call('RPUSH', 'l', 'a');
      await c.call('PEXPIRE', 'l', '150');
      expect(await c.call('RESTORE', 'h', '150', await dumpOf('hash'))).toBe('OK');
      expect(await c.call('GET', 's')).toBe('v');
      expect(await c.call('EXISTS', 's', 'l', 'h')).toBe(3);
      const pttl = (await c.call('PTTL', 's')) as number;
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(150);
      await sleep(250);
      expect(await c.call('GET', 's')).toBe(null);
      expect(await c.call('EXISTS', 's', 'l', 'h')).toBe(0);
      expect(await c.call('TTL', 's')).toBe(-2);
      expect(await c.call('TYPE', 'l')).toBe('none');
      expect(await c.call('DUMP', 'h')).toBe(null);
    } finally {
      c.close();
    }
  });

  it('expired keys are invisible to KEYS, SCAN and RANDOMKEY even before the cycle removes them', async () => {
    const c = await conn(2);
    try {
      await c.call('FLUSHDB');
      // Stop the active cycle from racing the reads: DEBUG is not needed, reads happen
      // right after the deadline and either way the key must not be seen.
      await c.call('SET', 'gone', 'v', 'PX', '50');
      await c.call('SET', 'kept', 'v');
      await sleep(120);
      expect(await c.call('KEYS', '*')).toEqual(['kept']);
      const [cursor, keys] = (await c.call('SCAN', '0', 'COUNT', '100')) as [string, string[]];
      expect(cursor).toBe('0');
      expect(keys).toEqual(['kept']);
      for (let i = 0; i < 20; i++) expect(await c.call('RANDOMKEY')).toBe('kept');
    } finally {
      c.close();
    }
  });
});

describe('active expiry', () => {
  it('removes keys nobody reads again, within a bounded time', async () => {
    const c = await conn(3);
    try {
      await c.call('FLUSHDB');
      const n = 2000;
      for (let i = 0; i < n; i += 500) {
        const args: string[] = [];
        for (let j = i; j < i + 500; j++) args.push(`vol:${j}`, 'v');
        await c.call('MSET', ...args);
      }
      for (let i = 0; i < n; i++) c.send('PEXPIRE', `vol:${i}`, String(1500 + (i % 200)));
      for (let i = 0; i < n; i++) expect(await c.read()).toBe(1);
      for (let i = 0; i < 100; i++) await c.call('SET', `keep:${i}`, 'v');
      await c.call('SET', 'keep:ttl', 'v', 'EX', '1000');
      expect(await c.call('DBSIZE')).toBe(n + 101);
      // Only DBSIZE from here on: no key is touched.
      const done = await eventually(async () => (await c.call('DBSIZE')) === 101, 8000);
      expect(done, `DBSIZE still ${await c.call('DBSIZE')}`).toBe(true);
      expect(await c.call('TTL', 'keep:ttl')).toBeGreaterThan(990);
      expect(await c.call('EXISTS', 'keep:0', 'keep:99')).toBe(2);
    } finally {
      c.close();
    }
  });
});

describe('TTL semantics', () => {
  it('RENAME, COPY and MOVE keep the TTL; PERSIST and SET drop it; GETEX and SET KEEPTTL as documented', async () => {
    const io = new Redis({ port: sonic.port, db: 4, lazyConnect: true });
    try {
      await io.connect();
      await io.flushdb();
      await io.set('a', 'v', 'PX', 300);
      await io.rename('a', 'b');
      expect(await io.pttl('b')).toBeGreaterThan(0);
      expect(await io.copy('b', 'c')).toBe(1);
      expect(await io.pttl('c')).toBeGreaterThan(0);
      await io.set('d', 'v', 'PX', 300);
      expect(await io.move('d', 5)).toBe(1);
      await io.set('e', 'v', 'PX', 300);
      expect(await io.persist('e')).toBe(1);
      await io.set('f', 'v', 'PX', 300);
      await io.set('f', 'w');
      expect(await io.ttl('f')).toBe(-1);
      await sleep(450);
      expect(await io.exists('a', 'b', 'c')).toBe(0);
      expect(await io.get('e')).toBe('v');
      expect(await io.get('f')).toBe('w');
      await io.select(5);
      expect(await io.exists('d')).toBe(0);
    } finally {
      io.disconnect();
    }
  });

  it('an expire in the past deletes at once; EXPIRETIME reports the absolute time', async () => {
    const c = await conn(6);
    try {
      await c.call('SET', 'k', 'v');
      expect(await c.call('EXPIRE', 'k', '-10')).toBe(1);
      expect(await c.call('EXISTS', 'k')).toBe(0);
      await c.call('SET', 'k', 'v');
      const at = Math.floor(Date.now() / 1000) + 1000;
      expect(await c.call('EXPIREAT', 'k', String(at))).toBe(1);
      expect(await c.call('EXPIRETIME', 'k')).toBe(at);
      expect(await c.call('PEXPIRETIME', 'k')).toBe(at * 1000);
      const ttl = (await c.call('TTL', 'k')) as number;
      expect(ttl).toBeGreaterThanOrEqual(999);
      expect(ttl).toBeLessThanOrEqual(1000);
    } finally {
      c.close();
    }
  });
});

/** A DUMP payload of a small hash, made by Sonic itself. */
async function dumpOf(kind: 'hash'): Promise<string> {
  const c = await conn(15);
  try {
    await c.call('DEL', 'tmp');
    if (kind === 'hash') await c.call('HSET', 'tmp', 'f', 'v');
    return (await c.call('DUMP', 'tmp')) as string;
  } finally {
    c.close();
  }
}

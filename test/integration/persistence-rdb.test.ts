/**
 * RDB files across Sonic and Debian's redis-server 7.0: data of every type and encoding
 * (listpack/intset/quicklist/hashtable/skiplist, integer and LZF strings, TTLs, several
 * databases) SAVEd by redis-server loads into Sonic, and Sonic's SAVE loads into
 * redis-server, compared key by key. Plus BGSAVE's point in time under concurrent
 * writes, a flipped byte, a missing file, and an unwritable directory (MISCONF).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { RawConn, SONIC, startRedis, startSonic, stopAll, type Proc } from './harness.js';

afterAll(async () => {
  await stopAll();
});

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sonic-persist-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function client(p: Proc): Redis {
  return new Redis({ port: p.port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 2 });
}

/** Waits until the node answers PING without LOADING (bounded). */
async function ready(c: Redis): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await c.ping();
      return;
    } catch (e) {
      if (!String(e).includes('LOADING')) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error('still loading after 5 s');
}

/** Fills a server with every type and encoding in dbs 0, 3 and 15. */
async function fill(c: Redis): Promise<void> {
  const now = Date.now();
  for (const db of [0, 3, 15]) {
    await c.select(db);
    const p = c.pipeline();
    p.set('str', `hello-${db}`);
    p.set('int', '12345');
    p.set('neg', '-7');
    p.set('bigint', '123456789012345');
    p.set('long', 'abc'.repeat(200)); // LZF
    p.set('bin', Buffer.from([0, 1, 2, 255, 254, 13, 10]));
    p.set('ttl', 'soon', 'PX', 500_000);
    p.rpush('list:small', 'a', 'b', '1', '2');
    for (let i = 0; i < 300; i++) p.rpush('list:big', `item-${i}-${'x'.repeat(i % 50)}`);
    p.sadd('set:int', 1, 2, 3, 100000, -5);
    for (let i = 0; i < 600; i++) p.sadd('set:bigint', i * 3);
    p.sadd('set:str', 'x', 'y', 'z');
    p.hset('hash:small', 'f1', 'v1', 'f2', '22');
    for (let i = 0; i < 200; i++) p.hset('hash:big', `field${i}`, `value${i}`);
    p.zadd('zset:small', 1, 'a', 2.5, 'b', -3, 'c');
    for (let i = 0; i < 200; i++) p.zadd('zset:big', i / 7, `m${i}`);
    p.zadd('zset:inf', 'inf', 'top', '-inf', 'bottom');
    p.set(`only-in-${db}`, '1');
    p.pexpireat('list:small', now + 3_600_000);
    await p.exec();
  }
  await c.select(0);
}

type Dump = Map<string, unknown>;

/** Every key of dbs 0..15 with its type, value and TTL (rounded to 10 s). */
async function dumpAll(c: Redis): Promise<Dump> {
  const out: Dump = new Map();
  for (let db = 0; db < 16; db++) {
    await c.select(db);
    const keys = (await c.keysBuffer('*')).map((k) => k.toString('latin1')).sort();
    for (const k of keys) {
      const type = await c.type(k);
      let v: unknown;
      if (type === 'string') v = (await c.getBuffer(k))!.toString('latin1');
      else if (type === 'list') v = await c.lrange(k, 0, -1);
      else if (type === 'set') v = (await c.smembers(k)).sort();
      else if (type === 'zset') v = await c.zrange(k, 0, -1, 'WITHSCORES');
      else if (type === 'hash') v = Object.entries(await c.hgetall(k)).sort();
      const pttl = await c.pttl(k);
      out.set(`${db}/${k}`, { type, v, ttl: pttl < 0 ? pttl : Math.round(pttl / 10_000) });
    }
  }
  await c.select(0);
  return out;
}

describe('RDB round trips with redis-server 7.0', () => {
  for (const compression of ['yes', 'no']) {
    it(`redis-server SAVE (rdbcompression ${compression}) loads into Sonic`, async () => {
      const dir = tmp();
      const redis = await startRedis(['--dir', dir, '--rdbcompression', compression]);
      const rc = client(redis);
      await fill(rc);
      const want = await dumpAll(rc);
      expect(await rc.save()).toBe('OK');
      rc.disconnect();
      await redis.stop();
      const sonic = await startSonic(['--dir', dir]);
      const sc = client(sonic);
      await ready(sc);
      const got = await dumpAll(sc);
      expect(got.size).toBe(want.size);
      expect(got).toEqual(want);
      const info = await sc.info('persistence');
      expect(info).toMatch(/rdb_last_load_keys_loaded:\d+/);
      expect(info).toContain('loading:0');
      sc.disconnect();
      await sonic.stop();
    });
  }

  it('Sonic SAVE loads into redis-server', async () => {
    const dir = tmp();
    const sonic = await startSonic(['--dir', dir]);
    const sc = client(sonic);
    await fill(sc);
    const want = await dumpAll(sc);
    expect(await sc.save()).toBe('OK');
    expect(Number(await sc.lastsave())).toBeGreaterThan(0);
    sc.disconnect();
    await sonic.stop();
    const redis = await startRedis(['--dir', dir]);
    const rc = client(redis);
    const got = await dumpAll(rc);
    expect(got).toEqual(want);
    // redis-check-rdb accepts it too.
    const chk = spawnSync('redis-check-rdb', [join(dir, 'dump.rdb')], { encoding: 'utf8' });
    if (chk.status !== null && !chk.error) expect(chk.stdout + chk.stderr).toContain('RDB looks OK');
    rc.disconnect();
    await redis.stop();
  });

  it('BGSAVE holds the dataset as of its start under a concurrent write load', async () => {
    const dir = tmp();
    const sonic = await startSonic(['--dir', dir]);
    const sc = client(sonic);
    const N = 100_000;
    for (let i = 0; i < N; i += 10_000) {
      const p = sc.pipeline();
      for (let j = i; j < i + 10_000; j++) p.set(`k${j}`, 'before');
      await p.exec();
    }
    const writer = client(sonic);
    expect(await sc.bgsave()).toBe('Background saving started');
    // Overwrite every key, delete some and add new ones while the snapshot runs.
    let stop = false;
    let written = 0;
    const load = (async () => {
      for (let round = 0; round < 50 && !stop; round++) {
        const p = writer.pipeline();
        for (let j = 0; j < 2000; j++) {
          const k = (round * 2000 + j * 97) % N;
          if (j % 10 === 0) p.del(`k${k}`);
          else p.set(`k${k}`, 'after');
          p.set(`new${round}:${j}`, 'after');
        }
        await p.exec();
        written += 2000;
      }
    })();
    let inProgress = true;
    for (let i = 0; i < 600 && inProgress; i++) {
      inProgress = (await sc.info('persistence')).includes('rdb_bgsave_in_progress:1');
      if (inProgress) await new Promise((r) => setTimeout(r, 25));
    }
    stop = true;
    await load;
    expect(inProgress).toBe(false);
    expect(written).toBeGreaterThan(0);
    const info = await sc.info('persistence');
    expect(info).toContain('rdb_last_bgsave_status:ok');
    sc.disconnect();
    writer.disconnect();
    await sonic.stop('SIGKILL');
    // The file must hold exactly the N start-time keys, all 'before'.
    const redis = await startRedis(['--dir', dir]);
    const rc = client(redis);
    expect(await rc.dbsize()).toBe(N);
    const sample = await rc.mget(...Array.from({ length: 1000 }, (_, i) => `k${(i * 197) % N}`));
    expect(sample.every((v) => v === 'before')).toBe(true);
    expect(await rc.exists('new0:0')).toBe(0);
    // Every value, by SCAN.
    let cursor = '0';
    let seen = 0;
    for (let i = 0; i < 10_000; i++) {
      const [next, keys] = await rc.scan(cursor, 'COUNT', 5000);
      if (keys.length) {
        const vals = await rc.mget(...keys);
        expect(vals.every((v) => v === 'before')).toBe(true);
        seen += keys.length;
      }
      cursor = next;
      if (cursor === '0') break;
    }
    expect(seen).toBe(N);
    rc.disconnect();
  }, 60_000);
});

describe('loading at start', () => {
  it('answers LOADING (and INFO loading:1 with progress) while a large RDB loads', async () => {
    const dir = tmp();
    const redis = await startRedis(['--dir', dir, '--enable-debug-command', 'yes']);
    const rc = client(redis);
    await rc.call('DEBUG', 'POPULATE', '1000000');
    await rc.save();
    rc.disconnect();
    await redis.stop();
    const sonic = await startSonic(['--dir', dir]);
    const raw = await RawConn.open(sonic.port);
    let loadingSeen = false;
    let infoSeen = '';
    for (let i = 0; i < 2000; i++) {
      const v = await raw.call('PING');
      if (v instanceof Error || (typeof v === 'object' && v !== null && 'message' in (v as object))) {
        expect(String((v as Error).message)).toMatch(/^LOADING/);
        loadingSeen = true;
        if (infoSeen === '') infoSeen = String(await raw.call('INFO', 'persistence'));
        continue;
      }
      break;
    }
    expect(loadingSeen).toBe(true);
    expect(infoSeen).toContain('loading:1');
    expect(infoSeen).toMatch(/loading_loaded_perc:/);
    expect(await raw.call('DBSIZE')).toBe(1000000);
    raw.close();
    await sonic.stop();
  }, 30_000);
});

describe('RDB failures', () => {
  it('a flipped byte in the RDB stops the start with a checksum error', async () => {
    const dir = tmp();
    const sonic = await startSonic(['--dir', dir, '--rdbcompression', 'no']);
    const sc = client(sonic);
    const p = sc.pipeline();
    for (let i = 0; i < 500; i++) p.set(`key${i}`, `value-${i}-payload`);
    await p.exec();
    await sc.save();
    sc.disconnect();
    await sonic.stop();
    const file = join(dir, 'dump.rdb');
    const buf = readFileSync(file);
    const at = buf.indexOf('value-250-payload');
    buf[at + 8] ^= 0x20;
    writeFileSync(file, buf);
    const r = spawnSync(process.execPath, [SONIC, 'node', '--port', '0', '--dir', dir], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, SONIC_LOG_LEVEL: 'warn' } });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/Wrong RDB checksum/);
    // sonic check-rdb says the same.
    const chk = spawnSync(process.execPath, [SONIC, 'check-rdb', file], { encoding: 'utf8', timeout: 20_000 });
    expect(chk.status).toBe(1);
    expect(chk.stdout + chk.stderr).toMatch(/Wrong RDB checksum/);
  });

  it('a missing RDB file: starts empty', async () => {
    const dir = tmp();
    const sonic = await startSonic(['--dir', dir, '--dbfilename', 'nothing-here.rdb']);
    const sc = client(sonic);
    expect(await sc.dbsize()).toBe(0);
    expect(existsSync(join(dir, 'nothing-here.rdb'))).toBe(false);
    sc.disconnect();
  });

  it('an unwritable directory: BGSAVE fails, writes are refused with MISCONF, then recover', async () => {
    const dir = tmp();
    const sonic = await startSonic(['--dir', dir, '--save', '3600 1']);
    const sc = client(sonic);
    await sc.set('a', '1');
    rmSync(dir, { recursive: true, force: true }); // the working directory is gone (works as root too)
    expect(await sc.bgsave()).toBe('Background saving started');
    let info = '';
    for (let i = 0; i < 100; i++) {
      info = await sc.info('persistence');
      if (info.includes('rdb_last_bgsave_status:err')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(info).toContain('rdb_last_bgsave_status:err');
    await expect(sc.set('b', '2')).rejects.toThrow(/^MISCONF Redis is configured to save RDB snapshots/);
    expect(await sc.get('a')).toBe('1');
    await expect(sc.save()).rejects.toThrow(/ERR/);
    // Once the disk is back, a successful save lifts the refusal.
    spawnSync('mkdir', ['-p', dir]);
    await expect(sc.save()).rejects.toThrow(/ERR/); // the process's cwd is the removed directory
    await sc.config('SET', 'save', '');
    expect(await sc.set('b', '2')).toBe('OK');
    sc.disconnect();
  });
});

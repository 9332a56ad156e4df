/**
 * The AOF with real processes and real kills: appendfsync always keeps every
 * acknowledged write through SIGKILL; everysec loses at most about a second; a torn tail
 * is cut (or refused with aof-load-truncated no); corruption in the middle stops the
 * start naming the offset; BGREWRITEAOF compacts online; the AOF wins over the RDB; and
 * redis-server 7.0 loads Sonic's multi-part AOF directory.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SONIC, startRedis, startSonic, stopAll, type Proc } from './harness.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sonic-aof-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function client(p: Proc): Redis {
  const c = new Redis({ port: p.port, host: '127.0.0.1', maxRetriesPerRequest: 0, enableOfflineQueue: false });
  c.on('error', () => {});
  return c;
}

async function connected(c: Redis): Promise<void> {
  for (let i = 0; i < 200 && c.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 10));
}

/** Runs SET k<i> i from several clients until `ms` passed; returns the acknowledged indexes. */
async function writeLoad(p: Proc, ms: number, killAt: number | null): Promise<{ acked: Set<number>; sent: number }> {
  const acked = new Set<number>();
  let next = 0;
  const until = Date.now() + ms;
  const clients = Array.from({ length: 4 }, () => client(p));
  await Promise.all(clients.map(connected));
  let killed = false;
  if (killAt !== null)
    setTimeout(() => {
      killed = true;
      p.child.kill('SIGKILL');
    }, killAt);
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < until && !killed) {
        const batch = Array.from({ length: 20 }, () => next++);
        await Promise.all(
          batch.map((i) =>
            c.set(`k${i}`, String(i)).then(
              () => void acked.add(i),
              () => {},
            ),
          ),
        );
      }
    }),
  );
  for (const c of clients) c.disconnect();
  return { acked, sent: next };
}

async function restartOn(dir: string, args: string[]): Promise<{ p: Proc; c: Redis }> {
  const p = await startSonic(['--dir', dir, ...args]);
  const c = client(p);
  await connected(c);
  for (let i = 0; i < 200; i++) {
    try {
      await c.ping();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return { p, c };
}

async function present(c: Redis, n: number): Promise<Set<number>> {
  const out = new Set<number>();
  for (let i = 0; i < n; i += 1000) {
    const keys = Array.from({ length: Math.min(1000, n - i) }, (_, j) => `k${i + j}`);
    const vals = await c.mget(...keys);
    vals.forEach((v, j) => {
      if (v !== null) {
        expect(v).toBe(String(i + j));
        out.add(i + j);
      }
    });
  }
  return out;
}

function aofDir(dir: string): string {
  return join(dir, 'appendonlydir');
}

describe('AOF durability', () => {
  it('appendfsync always: every acknowledged write survives SIGKILL', async () => {
    const dir = tmp();
    const p = await startSonic(['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always']);
    const { acked, sent } = await writeLoad(p, 3000, 1200);
    expect(acked.size).toBeGreaterThan(100);
    await p.stop();
    const { p: p2, c } = await restartOn(dir, ['--appendonly', 'yes']);
    const got = await present(c, sent);
    const lost = [...acked].filter((i) => !got.has(i));
    expect(lost).toEqual([]);
    c.disconnect();
    await p2.stop();
  }, 30_000);

  it('appendfsync everysec: SIGKILL loses at most about a second of writes', async () => {
    const dir = tmp();
    const p = await startSonic(['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec']);
    const t0 = Date.now();
    const { acked, sent } = await writeLoad(p, 3000, 1500);
    const rate = acked.size / ((Date.now() - t0) / 1000);
    await p.stop();
    const { p: p2, c } = await restartOn(dir, ['--appendonly', 'yes']);
    const got = await present(c, sent);
    const lost = [...acked].filter((i) => !got.has(i)).length;
    // Writes reach the file before their reply; only an OS crash could lose the last second.
    expect(lost).toBeLessThanOrEqual(Math.ceil(rate * 1.5));
    c.disconnect();
    await p2.stop();
  }, 30_000);
});

describe('AOF recovery', () => {
  async function aofWithData(args: string[] = []): Promise<string> {
    const dir = tmp();
    const p = await startSonic(['--dir', dir, '--appendonly', 'yes', ...args]);
    const c = client(p);
    await connected(c);
    for (let i = 0; i < 100; i++) await c.set(`k${i}`, String(i));
    await c.rpush('list', 'a', 'b');
    await c.multi().incr('counter').incr('counter').exec();
    c.disconnect();
    await p.stop();
    return dir;
  }

  function incrFile(dir: string): string {
    const m = readFileSync(join(aofDir(dir), 'appendonly.aof.manifest'), 'latin1');
    const name = /file (\S+\.incr\.aof) seq \d+ type i/.exec(m)![1]!;
    return join(aofDir(dir), name);
  }

  it('a torn last command is cut with a log line', async () => {
    const dir = await aofWithData();
    appendFileSync(incrFile(dir), '*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$5\r\nval');
    const { p, c } = await restartOn(dir, ['--appendonly', 'yes']);
    expect(await c.get('k99')).toBe('99');
    expect(await c.get('counter')).toBe('2');
    expect(await c.exists('torn')).toBe(0);
    expect(p.output()).toMatch(/short read while loading the AOF/);
    c.disconnect();
    await p.stop();
    // The file was truncated: check-aof agrees.
    const chk = spawnSync(process.execPath, [SONIC, 'check-aof', join(aofDir(dir), 'appendonly.aof.manifest')], { encoding: 'utf8' });
    expect(chk.status).toBe(0);
  }, 20_000);

  it('aof-load-truncated no refuses a torn tail; check-aof --fix repairs it', async () => {
    const dir = await aofWithData();
    appendFileSync(incrFile(dir), '*2\r\n$3\r\nDEL\r\n$2\r\nk');
    const r = spawnSync(process.execPath, [SONIC, 'node', '--port', '0', '--dir', dir, '--appendonly', 'yes', '--aof-load-truncated', 'no'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/Unexpected end of file/);
    const manifest = join(aofDir(dir), 'appendonly.aof.manifest');
    const chk = spawnSync(process.execPath, [SONIC, 'check-aof', manifest], { encoding: 'utf8' });
    expect(chk.status).toBe(1);
    expect(chk.stdout).toMatch(/not valid/);
    const fix = spawnSync(process.execPath, [SONIC, 'check-aof', '--fix', manifest], { encoding: 'utf8' });
    expect(fix.status).toBe(0);
    expect(fix.stdout).toMatch(/Successfully truncated/);
    const { p, c } = await restartOn(dir, ['--appendonly', 'yes', '--aof-load-truncated', 'no']);
    expect(await c.get('k5')).toBe('5');
    c.disconnect();
    await p.stop();
  }, 20_000);

  it('a torn MULTI block at the end is dropped whole', async () => {
    const dir = await aofWithData();
    appendFileSync(incrFile(dir), '*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n');
    const { p, c } = await restartOn(dir, ['--appendonly', 'yes']);
    expect(await c.get('counter')).toBe('2');
    c.disconnect();
    await p.stop();
  }, 20_000);

  it('corruption in the middle stops the start with the offset', async () => {
    const dir = await aofWithData();
    const f = incrFile(dir);
    const buf = readFileSync(f);
    const at = buf.indexOf('$3\r\nk50');
    buf[at] = 0x21; // '!' where '$' was
    writeFileSync(f, buf);
    const r = spawnSync(process.execPath, [SONIC, 'node', '--port', '0', '--dir', dir, '--appendonly', 'yes'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(new RegExp(`Bad file format reading the append only file .*at offset ${at}`));
  }, 20_000);
});

describe('AOF rewrite and layout', () => {
  it('BGREWRITEAOF compacts online; writes during it are kept; INFO reports it', async () => {
    const dir = tmp();
    const p = await startSonic(['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec']);
    const c = client(p);
    await connected(c);
    for (let r = 0; r < 5; r++) {
      const pl = c.pipeline();
      for (let i = 0; i < 2000; i++) pl.set(`k${i}`, `r${r}`);
      await pl.exec();
    }
    await c.hset('h', 'f', 'v');
    await c.zadd('z', 1.5, 'a', 'inf', 'b');
    await c.pexpire('h', 1_000_000);
    expect(await c.bgrewriteaof()).toBe('Background append only file rewriting started');
    const pl = c.pipeline();
    for (let i = 0; i < 2000; i++) pl.set(`k${i}`, 'during');
    await pl.exec();
    let info = '';
    for (let i = 0; i < 200; i++) {
      info = await c.info('persistence');
      if (info.includes('aof_rewrite_in_progress:0') && info.includes('aof_rewrites:1')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(info).toContain('aof_rewrites:1');
    expect(info).toContain('aof_last_bgrewrite_status:ok');
    expect(info).toContain('aof_enabled:1');
    const m = readFileSync(join(aofDir(dir), 'appendonly.aof.manifest'), 'latin1');
    expect(m).toMatch(/appendonly\.aof\.2\.base\.rdb seq 2 type b/);
    expect(m).not.toMatch(/\.1\.base/);
    expect(readdirSync(aofDir(dir)).filter((f) => f.includes('.1.')).length).toBe(0);
    await c.set('after', 'x');
    c.disconnect();
    await p.stop('SIGKILL');
    const { p: p2, c: c2 } = await restartOn(dir, ['--appendonly', 'yes']);
    expect(await c2.get('k0')).toBe('during');
    expect(await c2.get('k1999')).toBe('during');
    expect(await c2.get('after')).toBe('x');
    expect(await c2.zscore('z', 'b')).toBe('inf');
    expect(await c2.pttl('h')).toBeGreaterThan(900_000);
    expect(await c2.dbsize()).toBe(2003);
    c2.disconnect();
    await p2.stop();
  }, 30_000);

  it('without aof-use-rdb-preamble the base is RESP commands', async () => {
    const dir = tmp();
    const p = await startSonic(['--dir', dir, '--appendonly', 'yes', '--aof-use-rdb-preamble', 'no']);
    const c = client(p);
    await connected(c);
    await c.sadd('s', 'a', 'b', 'c');
    await c.rpush('l', ...Array.from({ length: 150 }, (_, i) => `e${i}`));
    await c.bgrewriteaof();
    for (let i = 0; i < 200 && !(await c.info('persistence')).includes('aof_rewrites:1'); i++) await new Promise((r) => setTimeout(r, 25));
    c.disconnect();
    await p.stop();
    const base = readdirSync(aofDir(dir)).find((f) => f.endsWith('.base.aof'))!;
    expect(readFileSync(join(aofDir(dir), base), 'latin1')).toMatch(/^\*3\r\n\$6\r\nSELECT|^\*2\r\n\$6\r\nSELECT/);
    const { p: p2, c: c2 } = await restartOn(dir, ['--appendonly', 'yes']);
    expect((await c2.smembers('s')).sort()).toEqual(['a', 'b', 'c']);
    expect(await c2.llen('l')).toBe(150);
    c2.disconnect();
    await p2.stop();
  }, 20_000);

  it('the AOF wins over the RDB at start', async () => {
    const dir = tmp();
    const p = await startSonic(['--dir', dir, '--appendonly', 'yes']);
    const c = client(p);
    await connected(c);
    await c.set('x', 'aof');
    await c.save();
    await c.set('x', 'newer');
    c.disconnect();
    await p.stop('SIGKILL');
    expect(existsSync(join(dir, 'dump.rdb'))).toBe(true);
    const { p: p2, c: c2 } = await restartOn(dir, ['--appendonly', 'yes']);
    expect(await c2.get('x')).toBe('newer');
    c2.disconnect();
    await p2.stop();
  }, 20_000);

  it("redis-server 7.0 loads Sonic's multi-part AOF directory", async () => {
    const dir = tmp();
    const p = await startSonic(['--dir', dir, '--appendonly', 'yes']);
    const c = client(p);
    await connected(c);
    await c.set('a', '1');
    await c.bgrewriteaof();
    for (let i = 0; i < 200 && !(await c.info('persistence')).includes('aof_rewrites:1'); i++) await new Promise((r) => setTimeout(r, 25));
    await c.set('b', '2');
    await c.select(2);
    await c.lpush('l', 'x', 'y');
    c.disconnect();
    await p.stop();
    const rdir = tmp();
    cpSync(aofDir(dir), join(rdir, 'appendonlydir'), { recursive: true });
    const redis = await startRedis(['--dir', rdir, '--appendonly', 'yes']);
    const rc = new Redis({ port: redis.port, host: '127.0.0.1' });
    expect(await rc.get('a')).toBe('1');
    expect(await rc.get('b')).toBe('2');
    await rc.select(2);
    expect(await rc.lrange('l', 0, -1)).toEqual(['y', 'x']);
    rc.disconnect();
    await redis.stop();
  }, 20_000);
});

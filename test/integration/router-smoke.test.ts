/**
 * Smoke test of `sonic router` (issue 6): a 3-shard cluster with replicas and 3
 * controllers, one router in front of it, redis-cli through the router: SET/GET of
 * keys of every shard, MGET across slots, a pipeline answered in order, --check-config.
 * The broad suites are router-*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { RawConn, SONIC, freePort, redisCli, stopAll, transcript, waitForPort } from './harness.js';
import { stopEverything, waitFor } from './controller-helpers.js';
import { keyInShard, startSonicCluster, type SonicCluster } from './cluster-helpers.js';

let cl: SonicCluster;
let router: ChildProcess | null = null;
let port = 0;
let out = '';

beforeAll(async () => {
  cl = await startSonicCluster({ shards: 3, replicas: 1 });
  port = await freePort();
  router = spawn(process.execPath, [SONIC, 'router', '--port', String(port), '--controllers', cl.g.list()], { stdio: ['ignore', 'pipe', 'pipe'] });
  router.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  router.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitForPort(port, router, () => out, 15000);
  await waitFor('the router knows the topology', async () => redisCli(port, ['SET', keyInShard(2, 3, 'probe:'), '1']).stdout === 'OK', 15000, 100);
}, 90000);

afterAll(async () => {
  router?.kill('SIGKILL');
  await stopEverything();
  await stopAll();
});

describe('sonic router (smoke)', () => {
  it('routes SET and GET of keys of every shard', () => {
    for (let i = 0; i < 3; i++) {
      const k = keyInShard(i, 3, 'smoke:');
      expect(redisCli(port, ['SET', k, `v${i}`]).stdout).toBe('OK');
      expect(redisCli(port, ['GET', k]).stdout).toBe(`v${i}`);
    }
    expect(redisCli(port, ['GET', 'smoke:missing']).stdout).toBe('');
    expect(redisCli(port, ['PING']).stdout).toBe('PONG');
  });

  it('splits MGET, MSET and DEL across slots and gathers them in order', () => {
    const keys = Array.from({ length: 30 }, (_, i) => `mk:${i}`);
    expect(redisCli(port, ['MSET', ...keys.flatMap((k, i) => [k, `x${i}`])]).stdout).toBe('OK');
    const got = redisCli(port, ['MGET', ...keys, 'mk:none']).stdout.split('\n');
    expect(got).toEqual([...keys.map((_, i) => `x${i}`), '']);
    expect(redisCli(port, ['EXISTS', ...keys]).stdout).toBe('30');
    expect(redisCli(port, ['DEL', ...keys, 'mk:none']).stdout).toBe('30');
    expect(Number(redisCli(port, ['DBSIZE']).stdout)).toBeGreaterThanOrEqual(1);
  });

  it('answers a pipeline over several shards in the client order', () => {
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) lines.push(`SET p:${i} ${i}`, `GET p:${i}`);
    const r = redisCli(port, [], lines.join('\n') + '\n');
    const want: string[] = [];
    for (let i = 0; i < 200; i++) want.push('OK', String(i));
    expect(r.stdout.split('\n')).toEqual(want);
  });

  it('sends SCRIPT LOAD and FUNCTION LOAD to every primary, so EVALSHA/FCALL work on every shard', () => {
    const body = "return redis.call('GET', KEYS[1])";
    const sha = redisCli(port, ['SCRIPT', 'LOAD', body]).stdout;
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    for (const p of cl.primaries) expect(redisCli(p.port, ['SCRIPT', 'EXISTS', sha]).stdout).toBe('1');
    const lib = "#!lua name=smokelib\nredis.register_function('smokeget', function(keys) return redis.call('GET', keys[1]) end)";
    expect(redisCli(port, ['FUNCTION', 'LOAD', 'REPLACE', lib]).stdout).toBe('smokelib');
    for (let i = 0; i < 3; i++) {
      const k = keyInShard(i, 3, 'script:');
      expect(redisCli(port, ['SET', k, `s${i}`]).stdout).toBe('OK');
      expect(redisCli(port, ['EVALSHA', sha, '1', k]).stdout).toBe(`s${i}`);
      expect(redisCli(port, ['FCALL', 'smokeget', '1', k]).stdout).toBe(`s${i}`);
    }
  });

  it('refuses CROSSSLOT where a single node would, and SELECT other than 0', () => {
    expect(redisCli(port, ['RENAME', 'a', 'b']).stdout).toContain('CROSSSLOT');
    expect(redisCli(port, ['SELECT', '1']).stdout.trim()).toBe('ERR DB index is out of range');
    expect(redisCli(port, ['SELECT', '0']).stdout).toBe('OK');
  });

  it('--seeds instead of controllers (CLUSTER SHARDS), --requirepass, and RESP3 clients', async () => {
    const p2 = await freePort();
    let out2 = '';
    const r2 = spawn(process.execPath, [SONIC, 'router', '--port', String(p2), '--seeds', `127.0.0.1:${cl.primaries[0]!.port}`, '--requirepass', 'pw'], { stdio: ['ignore', 'pipe', 'pipe'] });
    r2.stdout!.on('data', (d: Buffer) => (out2 += d.toString()));
    r2.stderr!.on('data', (d: Buffer) => (out2 += d.toString()));
    const cli = (...a: string[]) => redisCli(p2, ['--no-auth-warning', '-a', 'pw', ...a]).stdout;
    try {
      await waitForPort(p2, r2, () => out2, 15000);
      const k = keyInShard(1, 3, 'seeds:');
      await waitFor('the seed router routes', async () => cli('SET', k, 'sv') === 'OK', 15000, 100);
      expect(cli('INFO', 'router')).toContain('topology_source:seeds');
      expect(redisCli(p2, ['GET', k]).stdout.trim()).toBe('NOAUTH Authentication required.');
      // The controller-fed router sees what the seed-fed one wrote.
      expect(redisCli(port, ['GET', k]).stdout).toBe('sv');
      expect(cli('HSET', 'seeds:h', 'f', 'v')).toBe('1');
      const c = await RawConn.open(p2);
      try {
        // Once authenticated, requests are no longer held to the small unauthenticated limits.
        expect(await c.call('AUTH', 'pw')).toBe('OK');
        expect(await c.call('SET', k, 'x'.repeat(100_000))).toBe('OK');
        expect(((await c.call('GET', k)) as string).length).toBe(100_000);
        // RESP3 after HELLO 3: the node's RESP3 replies (a map, a null) byte for byte.
        await c.call('HELLO', '3');
        const from = c.raw.length;
        await c.call('HGETALL', 'seeds:h');
        await c.call('GET', 'seeds:none');
        await c.call('MGET', 'seeds:none', 'seeds:h2');
        expect(c.raw.subarray(from).toString('latin1')).toBe('%1\r\n$1\r\nf\r\n$1\r\nv\r\n_\r\n*2\r\n_\r\n_\r\n');
      } finally {
        c.close();
      }
      // RESP2 clients of the same router keep RESP2.
      expect(await transcript(port, [['HGETALL', 'seeds:h'], ['GET', 'seeds:none']])).toEqual(['HGETALL seeds:h => *2\r\n$1\r\nf\r\n$1\r\nv\r\n', 'GET seeds:none => $-1\r\n']);
    } finally {
      r2.kill('SIGKILL');
    }
  });

  it('pub/sub: a subscriber is counted by PUBLISH and PUBSUB NUMSUB and gets the message', async () => {
    const sub = await RawConn.open(port);
    try {
      expect(await sub.call('SUBSCRIBE', 'smoke-ch')).toEqual(['subscribe', 'smoke-ch', 1]);
      expect(redisCli(port, ['PUBSUB', 'NUMSUB', 'smoke-ch']).stdout).toBe('smoke-ch\n1');
      expect(redisCli(port, ['PUBLISH', 'smoke-ch', 'hello']).stdout).toBe('1');
      expect(await sub.read()).toEqual(['message', 'smoke-ch', 'hello']);
    } finally {
      sub.close();
    }
  });

  it('--check-config validates without starting', () => {
    const ok = spawnSync(process.execPath, [SONIC, 'router', '--check-config', '--controllers', cl.g.list(), '--port', '0'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim()).toBe('ok');
    const bad = spawnSync(process.execPath, [SONIC, 'router', '--check-config', '--read-from', 'nowhere', '--seeds', '127.0.0.1:1'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--read-from');
    const none = spawnSync(process.execPath, [SONIC, 'router', '--check-config'], { encoding: 'utf8' });
    expect(none.status).toBe(1);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SONIC, startSonic, stopAll, tempDir, RawConn } from './harness.js';

function sonic(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [SONIC, ...args], { encoding: 'utf8', timeout: 15000, env: { ...process.env, ...env } });
}

describe('command line', () => {
  it('has --help for sonic and sonic node', () => {
    const top = sonic(['--help']);
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/Usage: sonic <command>/);
    const node = sonic(['node', '--help']);
    expect(node.status).toBe(0);
    expect(node.stdout).toMatch(/--maxmemory/);
    expect(node.stdout).toMatch(/SONIC_/);
  });

  it('fails at start with a one-line reason on a bad value', () => {
    for (const args of [
      ['node', '--maxmemory', 'lots'],
      ['node', '--maxmemory-policy', 'sometimes'],
      ['node', '--port', '99999'],
      ['node', '--no-such-setting', '1'],
      ['node', '--appendfsync', 'never'],
    ]) {
      const r = sonic(args);
      expect(r.status, args.join(' ')).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^sonic: /);
    }
    expect(sonic(['node', '--maxmemory', 'lots']).stderr).toContain('maxmemory');
  });

  it('fails on a bad config file line, naming file and line', () => {
    const dir = tempDir();
    const f = join(dir, 'bad.conf');
    writeFileSync(f, '# comment\nport 7000\nmaxmemory-policy whenever\n');
    const r = sonic(['node', '--config', f]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${f}:3`);
    const missing = sonic(['node', '--config', join(dir, 'nope.conf')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/cannot read config file/);
  });

  it('fails on a bad environment value', () => {
    const r = sonic(['node', '--check-config'], { SONIC_MAXMEMORY: 'plenty' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/SONIC_MAXMEMORY/);
  });

  it('--check-config accepts a good configuration without starting', () => {
    const r = sonic(['node', '--check-config', '--maxmemory', '256mb', '--save', '900 1 300 10']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('ok');
  });
});

describe('configuration sources', () => {
  afterAll(stopAll);

  it('reads a redis.conf file (with Redis-only tuning names), env, and flags; flags win', async () => {
    const dir = tempDir();
    const f = join(dir, 'sonic.conf');
    writeFileSync(
      f,
      [
        '# a redis.conf as existing stacks have it',
        'maxmemory 100mb',
        'maxmemory-policy volatile-lru',
        'hash-max-ziplist-entries 256',
        'zset-max-listpack-value 32',
        'activerehashing no',
        'save 900 1',
        'save 300 10',
        'slowlog-max-len 64',
        '',
      ].join('\n'),
    );
    const node = await startSonic(['--config', f, '--slowlog-max-len', '99'], { SONIC_TIMEOUT: '300', REDIS_MAXMEMORY: '200mb' });
    const conn = await RawConn.open(node.port);
    try {
      const get = async (name: string) => ((await conn.call('CONFIG', 'GET', name)) as string[])[1];
      expect(await get('maxmemory')).toBe(String(200 * 1024 * 1024)); // env beats file
      expect(await get('maxmemory-policy')).toBe('volatile-lru');
      expect(await get('hash-max-listpack-entries')).toBe('256');
      expect(await get('hash-max-ziplist-entries')).toBe('256');
      expect(await get('zset-max-listpack-value')).toBe('32');
      expect(await get('activerehashing')).toBe('no');
      expect(await get('save')).toBe('900 1 300 10');
      expect(await get('slowlog-max-len')).toBe('99'); // flag beats file
      expect(await get('timeout')).toBe('300');
    } finally {
      conn.close();
    }
  });

  it('CONFIG SET changes settings at run time, with Redis error wording', async () => {
    const node = await startSonic();
    const r = new Redis({ port: node.port, lazyConnect: true });
    await r.connect();
    try {
      expect(await r.config('SET', 'maxmemory', '1gb')).toBe('OK');
      expect(await r.config('GET', 'maxmemory')).toEqual(['maxmemory', String(1024 ** 3)]);
      await expect(r.config('SET', 'maxmemory', 'abc')).rejects.toThrow(
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
      );
      await expect(r.config('SET', 'nosuch', '1')).rejects.toThrow("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'");
      await expect(r.config('SET', 'databases', '4')).rejects.toThrow(/can't set immutable config/);
    } finally {
      r.disconnect();
    }
  });

  it('logs structured JSON', async () => {
    const node = await startSonic([], { SONIC_LOG_LEVEL: 'info' });
    await new Promise((res) => setTimeout(res, 300));
    const lines = node.output().trim().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      const j = JSON.parse(l);
      expect(j).toHaveProperty('level');
      expect(j).toHaveProperty('msg');
    }
    expect(node.output()).toContain('Ready to accept connections');
  });
});

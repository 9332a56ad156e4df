import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startSonic, startRedis, stopAll, redisCli, RawConn, tempDir, type Proc } from './harness.js';

/** Parses INFO text into field → value. */
function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

function sections(text: string): string[] {
  return text
    .split('\r\n')
    .filter((l) => l.startsWith('# '))
    .map((l) => l.slice(2));
}

describe('INFO', () => {
  let node: Proc;
  beforeAll(async () => {
    node = await startSonic();
  });
  afterAll(stopAll);

  it('is read by ioredis on connect (default options)', async () => {
    const r = new Redis({ port: node.port });
    try {
      await new Promise<void>((res, rej) => {
        r.once('ready', () => res());
        r.once('error', rej);
      });
      expect(r.status).toBe('ready');
      // The ready check ran INFO before anything else was sent.
      const stats = parseInfo(await r.info('commandstats'));
      expect(stats.get('cmdstat_info')).toMatch(/^calls=1,/);
      const f = parseInfo(await r.info());
      expect(f.get('redis_version')).toMatch(/^7\./);
      expect(f.get('loading')).toBe('0');
      expect(f.get('role')).toBe('master');
      expect(await r.ping()).toBe('PONG');
    } finally {
      r.disconnect();
    }
  });

  it('answers sections as Redis 7 names and orders them', async () => {
    const c = await RawConn.open(node.port);
    try {
      const def = String(await c.call('INFO'));
      expect(sections(def)).toEqual(['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'CPU', 'Modules', 'Errorstats', 'Cluster', 'Keyspace']);
      const all = String(await c.call('INFO', 'all'));
      expect(sections(all)).toContain('Commandstats');
      expect(sections(String(await c.call('INFO', 'everything')))).toContain('Commandstats');
      expect(sections(String(await c.call('INFO', 'default')))).not.toContain('Commandstats');
      expect(sections(String(await c.call('INFO', 'keyspace', 'SERVER')))).toEqual(['Server', 'Keyspace']);
      expect(await c.call('INFO', 'nosuchsection')).toBe('');
      const f = parseInfo(all);
      for (const k of [
        'redis_version', 'sonic_version', 'redis_mode', 'run_id', 'tcp_port', 'uptime_in_seconds', 'connected_clients', 'used_memory',
        'used_memory_human', 'used_memory_rss', 'used_memory_peak', 'maxmemory', 'maxmemory_policy', 'mem_fragmentation_ratio', 'loading',
        'rdb_changes_since_last_save', 'total_connections_received', 'total_commands_processed', 'instantaneous_ops_per_sec', 'keyspace_hits',
        'keyspace_misses', 'expired_keys', 'evicted_keys', 'rejected_connections', 'total_net_input_bytes', 'total_net_output_bytes',
        'total_error_replies', 'role', 'connected_slaves', 'master_replid', 'master_repl_offset', 'used_cpu_sys', 'used_cpu_user', 'cluster_enabled',
      ]) {
        expect(f.has(k), k).toBe(true);
      }
      expect(f.get('redis_mode')).toBe('standalone');
      expect(f.get('tcp_port')).toBe(String(node.port));
      expect(f.get('master_replid')).toMatch(/^[0-9a-f]{40}$/);
      expect(f.get('run_id')).toMatch(/^[0-9a-f]{40}$/);
      expect(f.get('cluster_enabled')).toBe('0');
      expect(all.endsWith('\r\n')).toBe(true);
    } finally {
      c.close();
    }
  });

  it('moves with traffic: commands, hits/misses, keyspace, commandstats, errorstats', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('SELECT', '3');
      await c.call('FLUSHDB');
      const before = parseInfo(String(await c.call('INFO', 'stats')));
      await c.call('SET', 'a', '1');
      await c.call('SET', 'b', '2', 'EX', '100');
      await c.call('GET', 'a');
      await c.call('GET', 'nosuch');
      await c.call('NOSUCHCMD');
      await c.call('INCR', 'a', 'extra');
      const after = parseInfo(String(await c.call('INFO', 'all')));
      expect(Number(after.get('total_commands_processed'))).toBeGreaterThanOrEqual(Number(before.get('total_commands_processed')) + 4);
      expect(Number(after.get('keyspace_hits'))).toBe(Number(before.get('keyspace_hits')) + 1);
      expect(Number(after.get('keyspace_misses'))).toBe(Number(before.get('keyspace_misses')) + 1);
      expect(Number(after.get('total_error_replies'))).toBe(Number(before.get('total_error_replies')) + 2);
      expect(Number(after.get('total_net_input_bytes'))).toBeGreaterThan(Number(before.get('total_net_input_bytes')));
      const db3 = after.get('db3')!;
      expect(db3).toMatch(/^keys=2,expires=1,avg_ttl=\d+$/);
      const ttl = Number(/avg_ttl=(\d+)/.exec(db3)![1]);
      expect(ttl).toBeGreaterThan(90_000);
      expect(ttl).toBeLessThanOrEqual(100_000);
      expect(after.get('cmdstat_get')).toMatch(/^calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0$/);
      expect(after.get('cmdstat_incr')).toMatch(/rejected_calls=1,failed_calls=0$/);
      expect(Number(/count=(\d+)/.exec(after.get('errorstat_ERR')!)![1])).toBeGreaterThanOrEqual(2);
      await c.call('CONFIG', 'GET', 'port');
      expect(parseInfo(String(await c.call('INFO', 'commandstats'))).get('cmdstat_config|get')).toMatch(/^calls=1,/);
      await c.call('FLUSHDB');
    } finally {
      c.close();
    }
  });

  it('is a verbatim string in RESP3', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('HELLO', '3');
      const before = c.raw.length;
      await c.call('INFO', 'cluster');
      expect(c.raw.subarray(before).toString()).toBe('=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n');
    } finally {
      c.close();
    }
  });
});

describe('CONFIG', () => {
  let node: Proc;
  let ref: Proc;
  beforeAll(async () => {
    node = await startSonic();
    ref = await startRedis();
  });
  afterAll(stopAll);

  it('GET takes several patterns and answers a map in RESP3', async () => {
    const c = await RawConn.open(node.port);
    try {
      const flat = (await c.call('CONFIG', 'GET', 'maxmemory', 'port', 'maxmemory-p*')) as string[];
      const m = new Map<string, string>();
      for (let i = 0; i < flat.length; i += 2) m.set(flat[i]!, flat[i + 1]!);
      expect(m.get('maxmemory')).toBe('0');
      expect(m.get('port')).toBe(String(node.port));
      expect(m.get('maxmemory-policy')).toBe('noeviction');
      expect(m.size).toBe(3);
      await c.call('HELLO', '3');
      const map = await c.call('CONFIG', 'GET', 'timeout');
      expect(map).toBeInstanceOf(Map);
      expect((map as Map<string, string>).get('timeout')).toBe('0');
      expect(await c.call('CONFIG', 'GET', 'nosuch')).toEqual(new Map());
    } finally {
      c.close();
    }
  });

  it('SET round-trips through GET and applies all pairs or none', async () => {
    const r = new Redis({ port: node.port });
    try {
      expect(await r.config('SET', 'maxmemory', '100mb')).toBe('OK');
      expect(await r.config('GET', 'maxmemory')).toEqual(['maxmemory', String(100 * 1024 * 1024)]);
      expect(await r.call('CONFIG', 'SET', 'timeout', '30', 'maxmemory-policy', 'allkeys-lru')).toBe('OK');
      expect(await r.config('GET', 'timeout')).toEqual(['timeout', '30']);
      expect(await r.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'allkeys-lru']);
      // One bad pair: nothing changes.
      await expect(r.call('CONFIG', 'SET', 'timeout', '60', 'maxmemory-policy', 'bad')).rejects.toThrow(/maxmemory-policy/);
      expect(await r.config('GET', 'timeout')).toEqual(['timeout', '30']);
      await r.call('CONFIG', 'SET', 'timeout', '0', 'maxmemory', '0', 'maxmemory-policy', 'noeviction');
    } finally {
      r.disconnect();
    }
  });

  it('answers bad values with the same errors as redis-server', async () => {
    const cases = [
      ['CONFIG', 'SET', 'foo', '1'],
      ['CONFIG', 'SET', 'maxmemory', '1x'],
      ['CONFIG', 'SET', 'maxmemory', '10', 'maxmemory', '20'],
      ['CONFIG', 'SET', 'databases', '3'],
      ['CONFIG', 'SET', 'hz', 'abc'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'bad'],
      ['CONFIG', 'SET', 'appendonly', 'maybe'],
      ['CONFIG', 'SET', 'timeout', '-1'],
      ['CONFIG', 'SET', 'port', '1', 'hz'],
      ['CONFIG', 'SET', 'maxmemory'],
      ['CONFIG', 'GET'],
      ['CONFIG', 'NOSUCH'],
      ['CONFIG', 'REWRITE'],
    ];
    const s = await RawConn.open(node.port);
    const r = await RawConn.open(ref.port);
    try {
      for (const cmd of cases) {
        const a = await s.call(...cmd);
        const b = await r.call(...cmd);
        expect(String(a), cmd.join(' ')).toBe(String(b));
      }
      expect(await s.call('CONFIG', 'HELP')).toEqual(await r.call('CONFIG', 'HELP'));
      expect(await s.call('CONFIG', 'GET', 'slave-read-only')).toEqual(['slave-read-only', 'yes']);
    } finally {
      s.close();
      r.close();
    }
  });

  it('RESETSTAT clears the counters', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('GET', 'x');
      await c.call('NOSUCH');
      expect(await c.call('CONFIG', 'RESETSTAT')).toBe('OK');
      const f = parseInfo(String(await c.call('INFO', 'all')));
      expect(f.get('keyspace_misses')).toBe('0');
      expect(f.get('total_error_replies')).toBe('0');
      expect(f.has('cmdstat_get')).toBe(false);
      expect(f.has('errorstat_ERR')).toBe(false);
    } finally {
      c.close();
    }
  });

  it('REWRITE writes the file the node started with', async () => {
    const dir = tempDir();
    const file = join(dir, 'sonic.conf');
    writeFileSync(file, '# my settings\nmaxmemory 1mb\ntimeout 5\n');
    const n = await startSonic(['--config', file]);
    try {
      expect(redisCli(n.port, ['config', 'set', 'timeout', '7']).stdout).toBe('OK');
      expect(redisCli(n.port, ['config', 'set', 'maxmemory-policy', 'allkeys-lru']).stdout).toBe('OK');
      expect(redisCli(n.port, ['config', 'rewrite']).stdout).toBe('OK');
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('# my settings');
      expect(text).toContain('timeout 7');
      expect(text).toContain('maxmemory 1048576');
      expect(text).toContain('maxmemory-policy allkeys-lru');
      expect(text).not.toContain('timeout 5');
      await n.stop();
      // The rewritten file starts a node with the same settings.
      const again = await startSonic(['--config', file]);
      expect(redisCli(again.port, ['config', 'get', 'timeout']).stdout).toBe('timeout\n7');
      expect(redisCli(again.port, ['config', 'get', 'maxmemory-policy']).stdout).toBe('maxmemory-policy\nallkeys-lru');
    } finally {
      await n.stop();
    }
  });

  it('lets redis-benchmark read its CONFIG', () => {
    const r = spawnSync('redis-benchmark', ['-p', String(node.port), '-n', '200', '-c', '2', '-t', 'ping', '-q'], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/Could not fetch server CONFIG/);
    expect(r.stdout).toMatch(/PING/);
  });
});

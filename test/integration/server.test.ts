import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startSonic, startRedis, stopAll, redisCli, RawConn, tempDir, type Proc } from './harness.js';

/** A reply as text: an error's message, or the string. */
function text(v: unknown): string {
  return v instanceof Error ? v.message : String(v);
}

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
      const def = text(await c.call('INFO'));
      expect(sections(def)).toEqual(['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'CPU', 'Modules', 'Errorstats', 'Cluster', 'Keyspace']);
      const all = text(await c.call('INFO', 'all'));
      expect(sections(all)).toContain('Commandstats');
      expect(sections(text(await c.call('INFO', 'everything')))).toContain('Commandstats');
      expect(sections(text(await c.call('INFO', 'default')))).not.toContain('Commandstats');
      expect(sections(text(await c.call('INFO', 'keyspace', 'SERVER')))).toEqual(['Server', 'Keyspace']);
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
      const before = parseInfo(text(await c.call('INFO', 'stats')));
      await c.call('SET', 'a', '1');
      await c.call('SET', 'b', '2', 'EX', '100');
      await c.call('GET', 'a');
      await c.call('GET', 'nosuch');
      await c.call('NOSUCHCMD');
      await c.call('INCR', 'a', 'extra');
      const after = parseInfo(text(await c.call('INFO', 'all')));
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
      expect(parseInfo(text(await c.call('INFO', 'commandstats'))).get('cmdstat_config|get')).toMatch(/^calls=1,/);
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
      const f = parseInfo(text(await c.call('INFO', 'all')));
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

describe('CLIENT', () => {
  let node: Proc;
  beforeAll(async () => {
    node = await startSonic();
  });
  afterAll(stopAll);

  it('ID, SETNAME, GETNAME, INFO and LIST with Redis 7 fields', async () => {
    const a = await RawConn.open(node.port);
    const b = await RawConn.open(node.port);
    try {
      const idA = (await a.call('CLIENT', 'ID')) as number;
      const idB = (await b.call('CLIENT', 'ID')) as number;
      expect(idB).toBeGreaterThan(idA);
      expect(await a.call('CLIENT', 'GETNAME')).toBe(null);
      expect(await a.call('CLIENT', 'SETNAME', 'worker-1')).toBe('OK');
      expect(await a.call('CLIENT', 'GETNAME')).toBe('worker-1');
      expect(text(await a.call('CLIENT', 'SETNAME', 'a b'))).toBe('ERR Client names cannot contain spaces, newlines or special characters.');
      await b.call('SELECT', '2');
      const list = text(await a.call('CLIENT', 'LIST'));
      const lines = list.trimEnd().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(2);
      const mine = lines.find((l) => l.startsWith(`id=${idA} `))!;
      const fields = mine.split(' ').map((f) => f.slice(0, f.indexOf('=')));
      for (const f of ['id', 'addr', 'laddr', 'fd', 'name', 'age', 'idle', 'flags', 'db', 'sub', 'psub', 'ssub', 'multi', 'qbuf', 'qbuf-free', 'argv-mem', 'multi-mem', 'obl', 'oll', 'omem', 'tot-mem', 'events', 'cmd', 'user', 'redir', 'resp'])
        expect(fields, f).toContain(f);
      expect(mine).toContain('name=worker-1');
      expect(mine).toContain('cmd=client|list');
      expect(lines.find((l) => l.startsWith(`id=${idB} `))).toContain(' db=2 ');
      expect(text(await a.call('CLIENT', 'LIST', 'ID', String(idB)))).toMatch(new RegExp(`^id=${idB} .*cmd=select `));
      expect(text(await a.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))).toBe('');
      expect(text(await a.call('CLIENT', 'LIST', 'TYPE', 'foo'))).toBe("ERR Unknown client type 'foo'");
      expect(text(await a.call('CLIENT', 'LIST', 'ID', 'abc'))).toBe('ERR Invalid client ID');
      expect(text(await a.call('CLIENT', 'INFO'))).toMatch(new RegExp(`^id=${idA} .*name=worker-1 .*cmd=client\\|info .*\\n$`));
      expect(await a.call('CLIENT', 'SETINFO', 'LIB-NAME', 'mylib')).toBe('OK');
      expect(text(await a.call('CLIENT', 'INFO'))).toContain('lib-name=mylib');
    } finally {
      a.close();
      b.close();
    }
  });

  it('node-redis (HELLO 3, CLIENT SETINFO) and ioredis see their names', async () => {
    const { createClient } = await import('redis');
    const nr = createClient({ socket: { port: node.port, host: '127.0.0.1' }, name: 'nr-client' });
    await nr.connect();
    const io = new Redis({ port: node.port, connectionName: 'io-client' });
    try {
      expect(await nr.clientGetName()).toBe('nr-client');
      expect(await io.client('GETNAME')).toBe('io-client');
      const list = text(await io.client('LIST'));
      expect(list).toMatch(/name=nr-client .*resp=3/);
      expect(list).toMatch(/name=io-client /);
    } finally {
      await nr.quit();
      io.disconnect();
    }
  });

  it('KILL by address (old form), by ID, by TYPE, with SKIPME', async () => {
    const a = await RawConn.open(node.port);
    const b = await RawConn.open(node.port);
    const c = await RawConn.open(node.port);
    const d = await RawConn.open(node.port);
    try {
      const idB = text(await b.call('CLIENT', 'ID'));
      const infoC = text(await c.call('CLIENT', 'INFO'));
      const addrC = /addr=(\S+)/.exec(infoC)![1]!;
      expect(await a.call('CLIENT', 'KILL', 'ID', idB)).toBe(1);
      await b.waitClosed();
      expect(await a.call('CLIENT', 'KILL', addrC)).toBe('OK');
      await c.waitClosed();
      expect(text(await a.call('CLIENT', 'KILL', '1.2.3.4:5'))).toBe('ERR No such client');
      expect(await a.call('CLIENT', 'KILL', 'ID', '999999')).toBe(0);
      expect(text(await a.call('CLIENT', 'KILL', 'ID', 'abc'))).toBe('ERR client-id should be greater than 0');
      expect(text(await a.call('CLIENT', 'KILL', 'TYPE', 'foo'))).toBe("ERR Unknown client type 'foo'");
      expect(text(await a.call('CLIENT', 'KILL', 'USER', 'nosuch'))).toBe("ERR No such user 'nosuch'");
      await d.call('SUBSCRIBE', 'ch');
      expect(await a.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(1);
      await d.waitClosed();
      // SKIPME yes (the default) spares the caller.
      expect(await a.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')).toBeGreaterThanOrEqual(0);
      expect(await a.call('PING')).toBe('PONG');
      expect(await a.call('CLIENT', 'KILL', 'ID', text(await a.call('CLIENT', 'ID')), 'SKIPME', 'no')).toBe(1);
      await a.waitClosed();
    } finally {
      for (const x of [a, b, c, d]) x.close();
    }
  });

  it('PAUSE WRITE holds a writer until the pause ends; reads go on', async () => {
    const admin = new Redis({ port: node.port });
    const w = new Redis({ port: node.port });
    try {
      await w.set('paused-key', 'before');
      expect(await admin.call('CLIENT', 'PAUSE', '400', 'WRITE')).toBe('OK');
      const t0 = Date.now();
      const write = w.set('paused-key', 'after').then(() => Date.now() - t0);
      // Reads from another client are served during the pause.
      const r = new Redis({ port: node.port });
      try {
        expect(await r.get('paused-key')).toBe('before');
        expect(Date.now() - t0).toBeLessThan(300);
      } finally {
        r.disconnect();
      }
      const waited = await write;
      expect(waited).toBeGreaterThanOrEqual(350);
      expect(waited).toBeLessThan(3000);
      expect(await w.get('paused-key')).toBe('after');
      // UNPAUSE releases at once.
      await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
      const t1 = Date.now();
      const write2 = w.set('paused-key', 'again');
      await new Promise((res) => setTimeout(res, 100));
      expect(await admin.call('CLIENT', 'UNPAUSE')).toBe('OK');
      await write2;
      expect(Date.now() - t1).toBeLessThan(2000);
      expect(text(await admin.call('CLIENT', 'PAUSE', '10', 'foo').catch((e: Error) => e.message))).toBe('ERR CLIENT PAUSE mode must be WRITE or ALL');
    } finally {
      admin.disconnect();
      w.disconnect();
    }
  });

  it('REPLY OFF drops replies until ON; SKIP drops the next one', async () => {
    const c = await RawConn.open(node.port);
    try {
      c.send('CLIENT', 'REPLY', 'OFF');
      c.send('SET', 'reply-k', '1');
      c.send('GET', 'reply-k');
      c.send('CLIENT', 'REPLY', 'ON');
      expect(await c.read()).toBe('OK');
      c.send('CLIENT', 'REPLY', 'SKIP');
      c.send('INCR', 'reply-k');
      c.send('GET', 'reply-k');
      expect(await c.read()).toBe('2');
      await expect(c.read(200)).rejects.toThrow(/no reply/);
    } finally {
      c.close();
    }
  });

  it('UNBLOCK ends a blocked BLPOP as a timeout or an error', async () => {
    const a = await RawConn.open(node.port);
    const b = await RawConn.open(node.port);
    try {
      const idB = text(await b.call('CLIENT', 'ID'));
      b.send('BLPOP', 'nolist', '0');
      await new Promise((res) => setTimeout(res, 100));
      expect(await a.call('CLIENT', 'UNBLOCK', idB)).toBe(1);
      expect(await b.read()).toBe(null);
      b.send('BLPOP', 'nolist', '0');
      await new Promise((res) => setTimeout(res, 100));
      expect(await a.call('CLIENT', 'UNBLOCK', idB, 'ERROR')).toBe(1);
      expect(text(await b.read())).toBe('UNBLOCKED client unblocked via CLIENT UNBLOCK');
      expect(await a.call('CLIENT', 'UNBLOCK', idB)).toBe(0);
      expect(text(await a.call('CLIENT', 'UNBLOCK', idB, 'foo'))).toBe('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
    } finally {
      a.close();
      b.close();
    }
  });

  it('answers the other subcommands as redis-server does', async () => {
    const ref = await startRedis();
    const s = await RawConn.open(node.port);
    const r = await RawConn.open(ref.port);
    try {
      for (const cmd of [
        ['CLIENT', 'NO-EVICT', 'on'],
        ['CLIENT', 'NO-EVICT', 'maybe'],
        ['CLIENT', 'GETREDIR'],
        ['CLIENT', 'TRACKINGINFO'],
        ['CLIENT', 'CACHING', 'yes'],
        ['CLIENT', 'TRACKING', 'foo'],
        ['CLIENT', 'REPLY', 'foo'],
        ['CLIENT', 'PAUSE', 'abc'],
        ['CLIENT', 'PAUSE', '-1'],
        ['CLIENT', 'UNBLOCK', 'abc'],
        ['CLIENT', 'KILL', 'foo', 'bar'],
        ['CLIENT', 'NOSUCH'],
        ['CLIENT'],
      ]) {
        expect(text(await s.call(...cmd)), cmd.join(' ')).toBe(text(await r.call(...cmd)));
      }
      expect(text(await s.call('CLIENT', 'TRACKING', 'on'))).toMatch(/^ERR .*not supported/);
    } finally {
      s.close();
      r.close();
      await ref.stop();
    }
  });
});

describe('MONITOR, SLOWLOG, LATENCY', () => {
  let node: Proc;
  beforeAll(async () => {
    node = await startSonic();
  });
  afterAll(stopAll);

  it('MONITOR shows the commands of another client', async () => {
    const mon = await RawConn.open(node.port);
    const io = new Redis({ port: node.port });
    try {
      await io.ping();
      expect(await mon.call('MONITOR')).toBe('OK');
      await io.select(1);
      await io.set('mon-key', 'a "quoted"\nvalue');
      const lines: string[] = [];
      for (let i = 0; i < 2; i++) lines.push(text(await mon.read()));
      expect(lines[0]).toMatch(/^\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "select" "1"$/);
      expect(lines[1]).toMatch(/^\d+\.\d{6} \[1 127\.0\.0\.1:\d+\] "set" "mon-key" "a \\"quoted\\"\\nvalue"$/);
    } finally {
      mon.close();
      io.disconnect();
    }
  });

  it('SLOWLOG records commands slower than slowlog-log-slower-than', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('CLIENT', 'SETNAME', 'slowpoke');
      await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
      await c.call('SLOWLOG', 'RESET');
      await c.call('SET', 'slow-k', 'v');
      await c.call('GET', 'slow-k');
      const entries = (await c.call('SLOWLOG', 'GET', '2')) as unknown[][];
      expect(entries.length).toBe(2);
      const [id, ts, usec, argv, addr, name] = entries[0]!;
      expect(argv).toEqual(['GET', 'slow-k']);
      expect(entries[1]![3]).toEqual(['SET', 'slow-k', 'v']);
      expect(id as number).toBeGreaterThan(entries[1]![0] as number);
      expect(Math.abs((ts as number) - Date.now() / 1000)).toBeLessThan(5);
      expect(typeof usec).toBe('number');
      expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(name).toBe('slowpoke');
      expect(await c.call('SLOWLOG', 'LEN')).toBeGreaterThanOrEqual(3);
      expect(text(await c.call('SLOWLOG', 'GET', '-2'))).toBe('ERR count should be greater than or equal to -1');
      await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1');
      await c.call('SLOWLOG', 'RESET');
      await c.call('GET', 'slow-k');
      expect(await c.call('SLOWLOG', 'LEN')).toBe(0);
      await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
    } finally {
      c.close();
    }
  });

  it('LATENCY records a DEBUG SLEEP over the threshold', async () => {
    const n = await startSonic(['--enable-debug-command', 'yes', '--latency-monitor-threshold', '50']);
    const c = await RawConn.open(n.port);
    try {
      expect(await c.call('LATENCY', 'LATEST')).toEqual([]);
      expect(await c.call('DEBUG', 'SLEEP', '0.1')).toBe('OK');
      const latest = (await c.call('LATENCY', 'LATEST')) as unknown[][];
      expect(latest.length).toBe(1);
      expect(latest[0]![0]).toBe('command');
      expect(latest[0]![2] as number).toBeGreaterThanOrEqual(100);
      expect(((await c.call('LATENCY', 'HISTORY', 'command')) as unknown[]).length).toBe(1);
      expect(await c.call('LATENCY', 'RESET')).toBe(1);
      expect(await c.call('LATENCY', 'LATEST')).toEqual([]);
    } finally {
      c.close();
      await n.stop();
    }
  });
});

describe('COMMAND', () => {
  let node: Proc;
  let ref: Proc;
  beforeAll(async () => {
    node = await startSonic();
    ref = await startRedis();
  });
  afterAll(stopAll);

  it('INFO of get, set and mget equals redis-server\'s, in RESP2 and RESP3', async () => {
    for (const proto of ['2', '3']) {
      const s = await RawConn.open(node.port);
      const r = await RawConn.open(ref.port);
      try {
        await s.call('HELLO', proto);
        await r.call('HELLO', proto);
        const a = s.raw.length;
        const b = r.raw.length;
        await s.call('COMMAND', 'INFO', 'get', 'set', 'mget', 'nosuchcmd');
        await r.call('COMMAND', 'INFO', 'get', 'set', 'mget', 'nosuchcmd');
        expect(s.raw.subarray(a).toString('latin1')).toBe(r.raw.subarray(b).toString('latin1'));
      } finally {
        s.close();
        r.close();
      }
    }
  });

  it('INFO of the server commands agrees with redis-server (subcommands in any order)', async () => {
    const s = await RawConn.open(node.port);
    const r = await RawConn.open(ref.port);
    const norm = (v: unknown): unknown => {
      const e = v as unknown[];
      const subs = (e[9] as unknown[][]).map(norm).sort((x, y) => String((x as unknown[])[0]).localeCompare(String((y as unknown[])[0])));
      return [...e.slice(0, 9), subs];
    };
    try {
      for (const name of ['config', 'slowlog', 'memory', 'latency', 'info', 'time', 'dbsize', 'flushall', 'swapdb', 'monitor', 'shutdown', 'role', 'lolwut', 'lastsave']) {
        const a = ((await s.call('COMMAND', 'INFO', name)) as unknown[])[0];
        const b = ((await r.call('COMMAND', 'INFO', name)) as unknown[])[0];
        expect(norm(a), name).toEqual(norm(b));
      }
    } finally {
      s.close();
      r.close();
    }
  });

  it('DOCS, GETKEYS, GETKEYSANDFLAGS, LIST and errors', async () => {
    const s = await RawConn.open(node.port);
    const r = await RawConn.open(ref.port);
    try {
      const docs = (await s.call('COMMAND', 'DOCS', 'get', 'nosuch')) as unknown[];
      expect(docs[0]).toBe('get');
      const d = docs[1] as unknown[];
      expect(d.slice(0, 6)).toEqual(['summary', expect.any(String), 'since', '1.0.0', 'group', 'string']);
      const cfg = (await s.call('COMMAND', 'DOCS', 'config')) as unknown[];
      expect(cfg[0]).toBe('config');
      expect(cfg[1]).toContain('subcommands');
      for (const cmd of [
        ['COMMAND', 'GETKEYS', 'set', 'a', 'b'],
        ['COMMAND', 'GETKEYS', 'mset', 'a', '1', 'b', '2'],
        ['COMMAND', 'GETKEYS', 'memory', 'usage', 'k'],
        ['COMMAND', 'GETKEYS', 'get', 'a', 'b'],
        ['COMMAND', 'GETKEYS', 'ping', 'x'],
        ['COMMAND', 'GETKEYS', 'nosuch', 'x'],
        ['COMMAND', 'GETKEYS', 'config', 'nosuch', 'x'],
        ['COMMAND', 'GETKEYS', 'get'],
        ['COMMAND', 'GETKEYSANDFLAGS', 'memory', 'usage', 'k'],
        ['COMMAND', 'GETKEYSANDFLAGS', 'mset', 'a', '1', 'b', '2'],
        ['COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'x'],
        ['COMMAND', 'LIST', 'FILTERBY', 'foo', 'x'],
        ['COMMAND', 'HELP'],
      ]) {
        expect(await s.call(...cmd), cmd.join(' ')).toEqual(await r.call(...cmd));
      }
      const slow = ((await s.call('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'slowlog*')) as string[]).sort();
      expect(slow).toEqual(['slowlog', 'slowlog|get', 'slowlog|help', 'slowlog|len', 'slowlog|reset']);
      const conn = (await s.call('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'connection')) as string[];
      expect(conn).toContain('client|setname');
      expect(conn).toContain('ping');
      expect(conn).not.toContain('get');
      const all = (await s.call('COMMAND')) as unknown[];
      expect(all.length).toBe(await s.call('COMMAND', 'COUNT'));
    } finally {
      s.close();
      r.close();
    }
  });

  it('COUNT is over 100', async () => {
    expect(Number(redisCli(node.port, ['command', 'count']).stdout)).toBeGreaterThan(100);
  });
});

describe('keyspace-wide and process commands', () => {
  let node: Proc;
  let ref: Proc;
  beforeAll(async () => {
    node = await startSonic();
    ref = await startRedis();
  });
  afterAll(stopAll);

  it('TIME, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, LASTSAVE, ROLE', async () => {
    const c = await RawConn.open(node.port);
    try {
      const [sec, usec] = (await c.call('TIME')) as string[];
      expect(Math.abs(Number(sec) - Date.now() / 1000)).toBeLessThan(5);
      expect(Number(usec)).toBeLessThan(1_000_000);
      await c.call('MSET', 'a', '1', 'b', '2');
      expect(await c.call('DBSIZE')).toBe(2);
      expect(await c.call('SWAPDB', '0', '5')).toBe('OK');
      expect(await c.call('DBSIZE')).toBe(0);
      await c.call('SELECT', '5');
      expect(await c.call('GET', 'a')).toBe('1');
      expect(await c.call('FLUSHDB', 'ASYNC')).toBe('OK');
      expect(await c.call('DBSIZE')).toBe(0);
      await c.call('SET', 'x', '1');
      await c.call('SELECT', '0');
      await c.call('SET', 'y', '1');
      expect(await c.call('FLUSHALL')).toBe('OK');
      expect(await c.call('DBSIZE')).toBe(0);
      await c.call('SELECT', '5');
      expect(await c.call('DBSIZE')).toBe(0);
      expect(Math.abs((await c.call('LASTSAVE')) as number - Date.now() / 1000)).toBeLessThan(60);
      expect(await c.call('ROLE')).toEqual(['master', 0, []]);
    } finally {
      c.close();
    }
  });

  it('errors match redis-server', async () => {
    const s = await RawConn.open(node.port);
    const r = await RawConn.open(ref.port);
    try {
      for (const cmd of [
        ['SWAPDB', '0', '99'],
        ['SWAPDB', 'a', '1'],
        ['SWAPDB', '0', 'a'],
        ['FLUSHDB', 'foo'],
        ['FLUSHALL', 'foo'],
        ['TIME', 'x'],
        ['SHUTDOWN', 'foo'],
        ['SHUTDOWN', 'ABORT'],
        ['SHUTDOWN', 'NOSAVE', 'SAVE'],
        ['SLOWLOG', 'GET', 'abc'],
        ['MEMORY', 'USAGE', 'nosuch'],
        ['MEMORY', 'USAGE', 'a', 'foo'],
        ['LATENCY', 'GRAPH', 'foo'],
        ['LATENCY', 'HISTORY', 'foo'],
        ['DEBUG', 'SLEEP', '0'],
        ['READONLY'],
        ['MONITOR', 'x'],
      ]) {
        expect(await s.call(...cmd), cmd.join(' ')).toEqual(await r.call(...cmd));
      }
    } finally {
      s.close();
      r.close();
    }
  });

  it('MEMORY USAGE grows with the value', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('SET', 'small', 'x');
      await c.call('SET', 'big', 'x'.repeat(10000));
      const small = (await c.call('MEMORY', 'USAGE', 'small')) as number;
      const big = (await c.call('MEMORY', 'USAGE', 'big')) as number;
      expect(small).toBeGreaterThan(16);
      expect(small).toBeLessThan(200);
      expect(big).toBeGreaterThan(10000);
      expect(big).toBeLessThan(10300);
      const hash: string[] = [];
      for (let i = 0; i < 100; i++) hash.push(`field${i}`, 'v'.repeat(100));
      await c.call('HSET', 'h', ...hash);
      const h = (await c.call('MEMORY', 'USAGE', 'h', 'SAMPLES', '0')) as number;
      expect(h).toBeGreaterThan(100 * 100);
      expect(h).toBeLessThan(100 * 400);
      const stats = (await c.call('MEMORY', 'STATS')) as unknown[];
      expect(stats).toContain('keys.count');
      expect(stats[stats.indexOf('keys.count') + 1]).toBe(3);
    } finally {
      c.close();
    }
  });

  it('DEBUG runs only with enable-debug-command', async () => {
    const n = await startSonic(['--enable-debug-command', 'yes']);
    const c = await RawConn.open(n.port);
    try {
      const t0 = Date.now();
      expect(await c.call('DEBUG', 'SLEEP', '0.2')).toBe('OK');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      expect(await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')).toBe('OK');
      await c.call('SET', 'k', 'v', 'PX', '50');
      await new Promise((res) => setTimeout(res, 300));
      // Not expired in the background: still counted, gone once touched.
      expect(await c.call('DBSIZE')).toBe(1);
      expect(await c.call('GET', 'k')).toBe(null);
      expect(await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')).toBe('OK');
      await c.call('SET', 's', '12');
      expect(text(await c.call('DEBUG', 'OBJECT', 's'))).toMatch(/encoding:int/);
      expect(text(await c.call('DEBUG', 'NOSUCH'))).toBe("ERR unknown subcommand 'NOSUCH'. Try DEBUG HELP.");
    } finally {
      c.close();
      await n.stop();
    }
  });

  it('SHUTDOWN stops the process without a reply', async () => {
    const n = await startSonic();
    const c = await RawConn.open(n.port);
    const exited = new Promise<number | null>((res) => n.child.once('exit', (code) => res(code)));
    c.send('SHUTDOWN', 'NOSAVE');
    await c.waitClosed();
    expect(c.raw.length).toBe(0);
    expect(await exited).toBe(0);
  });
});

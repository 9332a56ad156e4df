/**
 * Redis 7 script semantics beyond the replies, against redis-server 7.0 side by side:
 * redis.set_repl (what reaches the replica and the AOF), shebang flags of EVAL scripts and
 * function flags (no-writes on a read-only replica and with *_RO, allow-oom under
 * maxmemory, unknown flags), and the time frozen at the script's start for key expiry.
 * Each system runs as a primary with AOF (appendfsync always) and a read-only replica.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, stopAll, transcript, type Proc } from './harness.js';
import { client, startNode, startReplica, waitUntil } from './replication-helpers.js';

interface Pair {
  name: string;
  primary: Proc;
  replica: Proc;
  p: Redis;
  r: Redis;
}

let sonic: Pair;
let redis: Pair;

beforeAll(async () => {
  const aof = ['--appendonly', 'yes', '--appendfsync', 'always'];
  const [sp, rp] = await Promise.all([startNode(aof), startRedis(aof)]);
  const [sr, rr] = await Promise.all([startReplica(sp), startRedis(['--replicaof', '127.0.0.1', String(rp.port)])]);
  sonic = { name: 'sonic', primary: sp, replica: sr, p: client(sp), r: client(sr) };
  redis = { name: 'redis', primary: rp, replica: rr, p: client(rp), r: client(rr) };
  for (const x of [sonic, redis]) {
    await waitUntil(`${x.name} replica linked`, async () => /master_link_status:up/.test(await x.r.info('replication')), 20000);
  }
}, 60000);

afterAll(async () => {
  for (const x of [sonic, redis]) {
    x?.p.disconnect();
    x?.r.disconnect();
  }
  await stopAll();
});

/** Every command written to the primary's AOF increment files so far (SELECTs left out). */
function aofCommands(p: Proc): string[] {
  const dir = join(p.dir, 'appendonlydir');
  const out: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.incr.aof')).sort()) {
    const b = readFileSync(join(dir, f), 'latin1');
    let i = 0;
    const line = (): string => {
      const e = b.indexOf('\r\n', i);
      const s = b.slice(i, e);
      i = e + 2;
      return s;
    };
    while (i < b.length) {
      const n = Number(line().slice(1));
      const argv: string[] = [];
      for (let j = 0; j < n; j++) {
        const len = Number(line().slice(1));
        argv.push(b.slice(i, i + len));
        i += len + 2;
      }
      if (argv[0]!.toLowerCase() !== 'select') out.push(argv.join(' ').toLowerCase());
    }
  }
  return out;
}

/** Runs `cmds` on the same role of both systems and expects the same replies. */
async function same(role: 'primary' | 'replica', cmds: string[][]): Promise<string[]> {
  const [a, b] = await Promise.all([transcript(sonic[role].port, cmds), transcript(redis[role].port, cmds)]);
  expect(a).toEqual(b);
  return a;
}

/**
 * Waits until the replica acknowledged everything the primary wrote: a write on this
 * connection after the others' (WAIT counts acks of the connection's own last write).
 */
async function synced(x: Pair): Promise<void> {
  await x.p.set('fence', '1');
  expect(await x.p.wait(1, 10000)).toBe(1);
}

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

const ev = (script: string, keys: string[] = [], args: string[] = []): string[] => ['EVAL', script, String(keys.length), ...keys, ...args];

describe('redis.set_repl', () => {
  it('each effect reaches the replica and the AOF as its flags say, as on redis-server', async () => {
    const script = `
      redis.call('set', KEYS[1], 'all')
      redis.set_repl(redis.REPL_NONE)
      redis.call('set', KEYS[2], 'none')
      redis.set_repl(redis.REPL_AOF)
      redis.call('set', KEYS[3], 'aof')
      redis.set_repl(redis.REPL_REPLICA)
      redis.call('set', KEYS[4], 'replica')
      redis.set_repl(redis.REPL_SLAVE)
      redis.call('incr', KEYS[5])
      redis.set_repl(redis.REPL_ALL)
      redis.call('set', KEYS[6], 'all2')
      return redis.call('mget', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])`;
    const keys = ['sr:1', 'sr:2', 'sr:3', 'sr:4', 'sr:5', 'sr:6'];
    const before = { sonic: aofCommands(sonic.primary).length, redis: aofCommands(redis.primary).length };
    await same('primary', [
      ev(script, keys),
      // One effect: no MULTI/EXEC around it; none at all when REPL_NONE hides the only one.
      ev("redis.set_repl(redis.REPL_NONE); return redis.call('set', KEYS[1], 'hidden')", ['sr:7']),
      ev("return redis.call('set', KEYS[1], 'single')", ['sr:8']),
      ev("redis.set_repl(redis.REPL_AOF); redis.call('set', KEYS[1], 'a'); redis.call('set', KEYS[2], 'b'); return 1", ['sr:9', 'sr:10']),
      // Inside MULTI/EXEC: one MULTI/EXEC around everything, never nested.
      ['MULTI'],
      ev("redis.call('set', KEYS[1], 'm1'); return redis.call('set', KEYS[2], 'm2')", ['sr:12', 'sr:13']),
      ['EXEC'],
      ['MULTI'],
      ['SET', 'sr:11', 'x'],
      ev("redis.call('set', KEYS[1], 'm3'); return redis.call('set', KEYS[2], 'm4')", ['sr:14', 'sr:15']),
      ['EXEC'],
      ev('return redis.set_repl(7)'),
      ev('return redis.set_repl()'),
      ev("return redis.pcall('set', 'sr:x', 1, 'px')"),
    ]);
    // appendfsync always: the AOF holds a write before its reply goes out.
    const sa = aofCommands(sonic.primary).slice(before.sonic);
    const ra = aofCommands(redis.primary).slice(before.redis);
    expect(sa).toEqual(ra);
    expect(sa).toEqual([
      ...['multi', 'set sr:1 all', 'set sr:3 aof', 'set sr:6 all2', 'exec', 'set sr:8 single', 'multi', 'set sr:9 a', 'set sr:10 b', 'exec'],
      ...['multi', 'set sr:12 m1', 'set sr:13 m2', 'exec', 'multi', 'set sr:11 x', 'set sr:14 m3', 'set sr:15 m4', 'exec'],
    ]);
    for (const x of [sonic, redis]) await synced(x);
    const onReplica = async (x: Pair) => x.r.mget(...keys, 'sr:7', 'sr:8', 'sr:9', 'sr:10');
    const [sr, rr] = await Promise.all([onReplica(sonic), onReplica(redis)]);
    expect(sr).toEqual(rr);
    expect(sr).toEqual(['all', null, null, 'replica', '1', 'all2', null, 'single', null, null]);
  });
});

describe('shebang and function flags', () => {
  beforeAll(async () => {
    const lib = `#!lua name=flagslib
      redis.register_function{function_name='fl_ro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}
      redis.register_function{function_name='fl_rw', callback=function(keys) return redis.call('set', keys[1], 'fw') end}
      redis.register_function{function_name='fl_oom', callback=function(keys) return redis.call('set', keys[1], 'oom') end, flags={'allow-oom'}}`;
    for (const x of [sonic, redis]) {
      await x.p.call('FUNCTION', 'LOAD', 'REPLACE', lib);
      await x.p.set('fk', 'v');
      await synced(x);
    }
  });

  it('on the primary: errors, *_RO and no-writes as redis-server', async () => {
    await same('primary', [
      ev('#!lua flags=no-writes\nreturn redis.call("get", KEYS[1])', ['fk']),
      ev('#!lua flags=no-writes\nreturn redis.call("set", KEYS[1], "x")', ['fk']),
      ev('#!lua flags=no-writes\nreturn redis.call("publish", "ch", "x")'),
      ev('#!lua\nreturn redis.call("set", KEYS[1], "shebang")', ['fk2']),
      ev('#!lua flags=bogus\nreturn 1'),
      ev('#!lua flags=no-writes,,allow-oom\nreturn 1'),
      ev('#!lua name=x\nreturn 1'),
      ev('#!python\nreturn 1'),
      ev('#!lua'),
      ev('#!lua flags=no-cluster\nreturn 1'),
      ev('#!lua flags=allow-stale,allow-cross-slot-keys\nreturn 1'),
      ['EVAL_RO', '#!lua\nreturn 1', '0'],
      ['EVAL_RO', '#!lua flags=no-writes\nreturn 1', '0'],
      ['EVAL_RO', "return redis.call('set', 'fk', 'x')", '0'],
      ['SCRIPT', 'LOAD', '#!lua flags=no-writes\nreturn 2'],
      ['SCRIPT', 'LOAD', "#!lua\nreturn redis.call('set', 'fk', 'x')"],
      ['EVALSHA_RO', sha1('#!lua flags=no-writes\nreturn 2'), '0'],
      ['EVALSHA_RO', sha1("#!lua\nreturn redis.call('set', 'fk', 'x')"), '0'],
      ['FCALL', 'fl_ro', '1', 'fk'],
      ['FCALL_RO', 'fl_ro', '1', 'fk'],
      ['FCALL_RO', 'fl_rw', '1', 'fk'],
      ['FUNCTION', 'LOAD', "#!lua name=badflags\nredis.register_function{function_name='bf', callback=function() return 1 end, flags={'bogus'}}"],
    ]);
  });

  it('on a read-only replica: no-writes scripts and functions run, write ones are refused', async () => {
    const sha = sha1('#!lua flags=no-writes\nreturn redis.call("get", KEYS[1])');
    for (const x of [sonic, redis]) await x.r.call('SCRIPT', 'LOAD', '#!lua flags=no-writes\nreturn redis.call("get", KEYS[1])');
    const out = await same('replica', [
      ev('#!lua flags=no-writes\nreturn redis.call("get", KEYS[1])', ['fk']),
      ['EVALSHA', sha, '1', 'fk'],
      ev('#!lua\nreturn 1'),
      ev('#!lua flags=allow-oom\nreturn redis.call("set", KEYS[1], "x")', ['fk']),
      ev("return redis.call('get', KEYS[1])", ['fk']),
      ev("return redis.call('set', KEYS[1], 'x')", ['fk']),
      ev("return redis.pcall('set', KEYS[1], 'x')['err']", ['fk']),
      ['EVAL_RO', "return redis.call('get', 'fk')", '0'],
      ['FCALL', 'fl_ro', '1', 'fk'],
      ['FCALL_RO', 'fl_ro', '1', 'fk'],
      ['FCALL', 'fl_rw', '1', 'fk'],
      ['FCALL_RO', 'fl_rw', '1', 'fk'],
      ['GET', 'fk'],
    ]);
    expect(out[0]).toContain('$1\r\nv');
    expect(out[3]).toContain("READONLY You can't write against a read only replica.");
  });

  it('a long script on a replica holds the primary stream until it ends, nothing is lost', async () => {
    const spin = `#!lua flags=no-writes
      local function ms() local t = redis.call('time'); return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
      local t0 = ms()
      local n = 0
      while ms() - t0 < 600 and n < 100000000 do n = n + 1 end
      return redis.call('get', KEYS[1])`;
    for (const x of [sonic, redis]) {
      await x.r.config('SET', 'busy-reply-threshold', '100');
      try {
        const running = x.r.eval(spin, 1, 'busy:k');
        await new Promise((r) => setTimeout(r, 250));
        // Written while the replica is past the busy threshold.
        await x.p.set('busy:k', 'written-during');
        expect(await running).toBe(null);
        await synced(x);
        expect(await x.r.get('busy:k'), x.name).toBe('written-during');
      } finally {
        await x.r.config('SET', 'busy-reply-threshold', '5000');
      }
    }
  });

  it('under maxmemory: allow-oom scripts write, others are refused as redis-server refuses them', async () => {
    for (const x of [sonic, redis]) await x.p.config('SET', 'maxmemory', '1');
    try {
      await same('primary', [
        ev("return redis.call('set', KEYS[1], 'x')", ['oom1']),
        ev("return redis.call('get', KEYS[1])", ['fk']),
        ev("redis.call('del', KEYS[1]); return redis.call('set', KEYS[1], 'after-del')", ['oom2']),
        ev('#!lua\nreturn 1'),
        ev('#!lua flags=no-writes\nreturn redis.call("get", KEYS[1])', ['fk']),
        ev('#!lua flags=allow-oom\nreturn redis.call("set", KEYS[1], "allowed")', ['oom3']),
        ['FCALL', 'fl_rw', '1', 'oom4'],
        ['FCALL', 'fl_oom', '1', 'oom5'],
        ['FCALL', 'fl_ro', '1', 'fk'],
        ['MGET', 'oom1', 'oom2', 'oom3', 'oom4', 'oom5'],
      ]);
    } finally {
      for (const x of [sonic, redis]) await x.p.config('SET', 'maxmemory', '0');
    }
  });
});

describe('time inside a script', () => {
  it('keys expire by the time the script started; TIME still moves', async () => {
    // Busy-waits 700 ms on TIME, then reads keys whose TTL (500 ms, 50 ms) ran out meanwhile.
    const script = `
      redis.call('set', KEYS[2], 'inside', 'PX', 50)
      local function ms() local t = redis.call('time'); return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
      local t0 = ms()
      local n = 0
      while ms() - t0 < 700 and n < 100000000 do n = n + 1 end
      return {redis.call('get', KEYS[1]), redis.call('exists', KEYS[2]), redis.call('pttl', KEYS[1]) > 0 and 1 or 0, ms() - t0 >= 700 and 1 or 0}`;
    const out = await same('primary', [
      ['SET', 'ft:1', 'before', 'PX', '500'],
      ev(script, ['ft:1', 'ft:2']),
    ]);
    expect(out[1]).toContain('$6\r\nbefore\r\n:1\r\n');
    for (const x of [sonic, redis]) {
      await new Promise((r) => setTimeout(r, 30));
      expect(await x.p.mget('ft:1', 'ft:2')).toEqual([null, null]);
    }
  });
});

describe('a stale replica (last: the primaries are stopped)', () => {
  it('replica-serve-stale-data no: allow-stale scripts run (only stale-allowed commands inside), others answer MASTERDOWN as redis-server', async () => {
    for (const x of [sonic, redis]) {
      await x.r.config('SET', 'replica-serve-stale-data', 'no');
      await x.primary.stop('SIGKILL');
    }
    for (const x of [sonic, redis]) {
      await waitUntil(`${x.name} replica sees its primary down`, async () => /master_link_status:down/.test(await x.r.info('replication')), 20000);
    }
    const out = await same('replica', [
      ev('return 1'),
      ev('#!lua flags=no-writes\nreturn 1'),
      ev('#!lua flags=no-writes,allow-stale\nreturn redis.call("get", KEYS[1])', ['fk']),
      ev('#!lua flags=no-writes,allow-stale\nreturn 7'),
      ev('#!lua flags=allow-stale\nreturn 1'),
      ['FCALL', 'fl_ro', '1', 'fk'],
    ]);
    expect(out[0]).toContain('MASTERDOWN');
    expect(out[2]).toContain('ERR Can not execute the command on a stale replica');
    expect(out[3]).toContain(':7\r\n');
  });
});

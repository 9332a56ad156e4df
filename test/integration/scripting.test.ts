/**
 * Lua scripting and functions against redis-server 7.0: the same scripts on both with
 * replies compared byte for byte (RESP2 and RESP3: every conversion, the error formats,
 * the sandbox, cjson/cmsgpack/struct/bit), the script cache, FUNCTION LOAD/LIST/DUMP/
 * RESTORE/DELETE and FCALL(_RO), and a script past busy-reply-threshold answered by BUSY
 * and stopped by SCRIPT KILL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawConn, startRedis, startSonic, stopAll, transcript, type Proc } from './harness.js';

let sonic: Proc;
let redis: Proc;

beforeAll(async () => {
  [sonic, redis] = await Promise.all([startSonic(['--busy-reply-threshold', '200']), startRedis(['--busy-reply-threshold', '200'])]);
});
afterAll(stopAll);

async function same(cmds: string[][]): Promise<void> {
  for (const resp3 of [false, true]) {
    const [a, b] = await Promise.all([transcript(sonic.port, cmds, resp3), transcript(redis.port, cmds, resp3)]);
    expect(a).toEqual(b);
  }
}

/** An error reply's text, or the value as a string. */
const msg = (v: unknown): string => (v instanceof Error ? v.message : String(v));

const ev = (script: string, ...rest: string[]): string[] => ['EVAL', script, String(rest.length > 0 ? rest[0] : 0), ...rest.slice(1)];

describe('Lua → RESP conversions', () => {
  it('numbers, strings, booleans, nil, arrays stopping at nil, status and error tables', async () => {
    await same([
      ev('return 1'),
      ev('return 3.99'),
      ev('return -1.5'),
      ev('return 1e20'),
      ev("return 'hello'"),
      ev('return true'),
      ev('return false'),
      ev('return nil'),
      ev('return {1,2,nil,4}'),
      ev("return {1,'a',{true,false},2.5,{}}"),
      ev("return {ok='fine'}"),
      ev("return {err='MYERR custom'}"),
      ev("return redis.status_reply('PONG')"),
      ev("return redis.error_reply('FOO bar')"),
      ev("return redis.error_reply('-BAR baz')"),
      ev('return _G'),
      ev('return tostring(10/2)'),
      ev('return 10/3'),
      ev('return math.huge'),
      ev("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", '2', 'k1', 'k2', 'a1'),
      // Many keys and arguments (past what goes to the addon as call arguments).
      ev("return {#KEYS, #ARGV, KEYS[1], KEYS[40], ARGV[1], ARGV[25]}", '40', ...Array.from({ length: 40 }, (_, i) => `mk${i}`), ...Array.from({ length: 25 }, (_, i) => `ma${i}`)),
      ev("return #KEYS + #ARGV", '0', ...Array.from({ length: 32 }, (_, i) => `a${i}`)),
      ev("return redis.call('del', unpack(ARGV))", '0', ...Array.from({ length: 300 }, (_, i) => `sc:del${i}`)),
      ev("return string.format('%d %s %.3f', 7, 'x', 1/3)"),
      ev('return table.getn({1,2,3})'),
      ev("return unpack({1,2})"),
      ev("return loadstring('return 1+1')()"),
      ev("return type(redis.call('get','sc:missing'))"),
    ]);
  });

  it('RESP3 types with redis.setresp(3): map, set, double, big number, boolean, verbatim', async () => {
    await same([
      ev("redis.setresp(3); return {map={a=1}}"),
      ev("redis.setresp(3); return {set={x=true}}"),
      ev("redis.setresp(3); return {double=3.5}"),
      ev("redis.setresp(3); return {double=1/0}"),
      ev("redis.setresp(3); return {big_number='123456789012345678901234567890'}"),
      ev("redis.setresp(3); return true"),
      ev("redis.setresp(3); return false"),
      ev("redis.setresp(3); return {verbatim_string={format='txt', string='hi'}}"),
      ev("return {double=2.5}"),
      ev("redis.setresp(3); redis.call('del','sc:h'); redis.call('hset','sc:h','f','v'); local m = redis.call('hgetall','sc:h'); return m.map.f"),
      ev("redis.setresp(3); return type(redis.call('get','sc:missing'))"),
      ev("redis.setresp(3); redis.call('del','sc:z'); redis.call('zadd','sc:z',1.5,'m'); return redis.call('zscore','sc:z','m').double"),
    ]);
  });

  it('RESP → Lua: integers, bulks, nil bulk as false, status as {ok}, arrays', async () => {
    await same([
      ev("redis.call('set','sc:s','abc'); return redis.call('get','sc:s')"),
      ev("redis.call('del','sc:n'); return redis.call('incr','sc:n')"),
      ev("return redis.call('set','sc:s','v').ok"),
      ev("return redis.call('get','sc:none') == false"),
      ev("redis.call('del','sc:l'); redis.call('rpush','sc:l','a','b'); return redis.call('lrange','sc:l',0,-1)"),
      ev("return redis.call('set','sc:f',0.1)"),
      ['GET', 'sc:f'],
      ev("return redis.pcall('incr','sc:s')"),
      ev("local r = redis.pcall('incr','sc:s'); return r.err"),
    ]);
  });
});

describe('errors and the sandbox', () => {
  it('answers as Redis 7.0 does', async () => {
    await same([
      ev('return x'),
      ev('x = 5'),
      ev("error('boom')"),
      ev("error({err='MY bad'})"),
      ev("redis.call('set','sc:s','abc'); return redis.call('incr','sc:s')"),
      ev("return redis.call('nosuch')"),
      ev('return redis.call()'),
      ev("return redis.call('get')"),
      ev("return redis.call('set','sc:f',{})"),
      ev("return redis.call('eval','return 1','0')"),
      ev('syntax error here'),
      ['EVAL', 'return 1', '-1'],
      ['EVAL', 'return 1', '2', 'a'],
      ['EVAL', 'return 1', 'x'],
      ['EVALSHA', '0000000000000000000000000000000000000000', '0'],
      ['EVALSHA', 'short', '0'],
      ['EVAL_RO', "return redis.call('set','sc:a','b')", '0'],
      ['EVAL_RO', "return redis.call('get','sc:a')", '0'],
      ev('return os'),
      ev('return io'),
      ev('return loadfile'),
      ev('return dofile'),
      ev('return require'),
      ev('return print'),
      ev("loadstring('y=1')()"),
      ev('redis.call = nil'),
      ev('return pcall(function() return x end)'),
      ev("return redis.sha1hex('')"),
      ev("return redis.sha1hex('abc')"),
      ev('return redis.REDIS_VERSION'),
      ev("return redis.log(redis.LOG_WARNING, 'from a test')"),
      ev('return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}'),
      ev('return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_REPLICA, redis.REPL_ALL}'),
      ev('redis.set_repl(redis.REPL_ALL); return redis.replicate_commands()'),
      ev('redis.setresp(4)'),
    ]);
  });
});

describe('libraries inside scripts', () => {
  it('cjson, cmsgpack, struct and bit give the same bytes', async () => {
    await same([
      ev("return cjson.encode({1,2,{a=1}})"),
      ev("return cjson.encode(cjson.decode('{\"a\":[1,2,3],\"b\":\"x\"}').a)"),
      ev("return cjson.decode('[1,2.5,\"s\",null]')[2]"),
      ev("return cmsgpack.pack(1, -1, 200, -200, 70000, -70000, 1.5, 0.1, 'abc', {}, {1,2}, true, 2^40)"),
      ev("return cmsgpack.pack(string.rep('x', 40), string.rep('y', 300))"),
      ev("local t = cmsgpack.unpack(cmsgpack.pack({1,2,3,'x',{a=1.5}})); return {t[1], t[4], t[5].a * 2}"),
      ev("return {cmsgpack.unpack(cmsgpack.pack(1, 'two', 3))}"),
      ev("return struct.pack('>iHb', 1, 2, 3)"),
      ev("return {struct.unpack('<i2c3', struct.pack('<i2c3', -5, 'abc'))}"),
      ev("return struct.size('>iHbd')"),
      ev('return bit.band(0xff, 0x0f)'),
      ev('return bit.tohex(65535)'),
      ev('return bit.bxor(5, 3)'),
    ]);
  });
});

describe('script cache', () => {
  it('SCRIPT LOAD, EXISTS, FLUSH and EVALSHA in any case', async () => {
    await same([
      ['SCRIPT', 'FLUSH'],
      ['SCRIPT', 'LOAD', "return 'loaded'"],
      ['EVALSHA', '2a35f0d7c79bc4a6d0ea22ab08d1d5a6b26cb0ed', '0'],
      ['EVALSHA', '2A35F0D7C79BC4A6D0EA22AB08D1D5A6B26CB0ED', '0'],
      ['EVALSHA_RO', '2a35f0d7c79bc4a6d0ea22ab08d1d5a6b26cb0ed', '0'],
      ['SCRIPT', 'EXISTS', '2a35f0d7c79bc4a6d0ea22ab08d1d5a6b26cb0ed', 'ffff'],
      ev("return 'cached by eval'"),
      ['SCRIPT', 'EXISTS', 'e7b9e9e1f3e0b5f0b7d3f1c5bb1bc1d6a1f0e3d6'],
      ['SCRIPT', 'FLUSH', 'ASYNC'],
      ['SCRIPT', 'FLUSH', 'bogus'],
      ['SCRIPT', 'EXISTS', '2a35f0d7c79bc4a6d0ea22ab08d1d5a6b26cb0ed'],
      ['SCRIPT', 'LOAD', 'syntax error'],
      ['SCRIPT', 'KILL'],
    ]);
  });
});

describe('functions', () => {
  const lib = [
    '#!lua name=mylib',
    "redis.register_function('getset2', function(keys, args) local old = redis.call('get', keys[1]); redis.call('set', keys[1], args[1]); return old end)",
    "redis.register_function{function_name='ro_get', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}",
    "redis.register_function{function_name='ro_bad', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}",
  ].join('\n');

  const lib1 = "#!lua name=onelib\nredis.register_function{function_name='one_ro', callback=function() return 'one' end, flags={'no-writes', 'allow-stale'}, description='the one'}";

  it('LOAD, LIST, FCALL, FCALL_RO, DELETE, FLUSH and their errors', async () => {
    await same([
      ['FUNCTION', 'FLUSH'],
      ['FUNCTION', 'LOAD', lib],
      ['FUNCTION', 'LOAD', lib],
      ['FUNCTION', 'LOAD', 'REPLACE', lib],
      // Functions within a library come in hash order: list a one-function library.
      ['FUNCTION', 'LOAD', lib1],
      ['FUNCTION', 'LIST', 'LIBRARYNAME', 'one*'],
      ['FUNCTION', 'LIST', 'WITHCODE', 'LIBRARYNAME', 'one*'],
      ['FCALL_RO', 'one_ro', '0'],
      ['FUNCTION', 'DELETE', 'onelib'],
      ['FUNCTION', 'LIST', 'LIBRARYNAME', 'nomatch*'],
      ['FCALL', 'getset2', '1', 'fn:k', 'v1'],
      ['FCALL', 'getset2', '1', 'fn:k', 'v2'],
      ['FCALL_RO', 'ro_get', '1', 'fn:k'],
      ['FCALL_RO', 'getset2', '1', 'fn:k', 'v3'],
      ['FCALL', 'ro_bad', '1', 'fn:k'],
      ['FCALL', 'nosuch', '0'],
      ['FCALL', 'getset2', '5', 'a'],
      ['FCALL', 'getset2', '-1'],
      ['FUNCTION', 'LOAD', 'return 1'],
      ['FUNCTION', 'LOAD', '#!lua\nreturn 1'],
      ['FUNCTION', 'LOAD', '#!lua name=other\nreturn 1'],
      ['FUNCTION', 'LOAD', '#!lua name=other\nredis.register_function("getset2", function() return 1 end)'],
      ['FUNCTION', 'LOAD', '#!nolua name=x\nreturn 1'],
      ['FUNCTION', 'LOAD', '#!lua name=x foo=bar\nreturn 1'],
      ['FUNCTION', 'LOAD', "#!lua name=x\nredis.register_function('bad-name', function() end)"],
      ['FUNCTION', 'LOAD', "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}"],
      ['FUNCTION', 'STATS'],
      ['FUNCTION', 'DELETE', 'nosuch'],
      ['FUNCTION', 'DELETE', 'mylib'],
      ['FCALL', 'getset2', '1', 'fn:k', 'v'],
      ['FUNCTION', 'LIST'],
    ]);
  });

  it('DUMP and RESTORE: Sonic to Sonic, and redis-server payloads into Sonic', async () => {
    const s = await RawConn.open(sonic.port);
    const r = await RawConn.open(redis.port);
    try {
      for (const c of [s, r]) {
        expect(await c.call('FUNCTION', 'FLUSH')).toBe('OK');
        expect(await c.call('FUNCTION', 'LOAD', lib)).toBe('mylib');
      }
      const fromSonic = (await s.call('FUNCTION', 'DUMP')) as string;
      const fromRedis = (await r.call('FUNCTION', 'DUMP')) as string;
      // Sonic restores its own payload and redis-server's.
      for (const payload of [fromSonic, fromRedis]) {
        expect(await s.call('FUNCTION', 'FLUSH')).toBe('OK');
        expect(await s.call('FUNCTION', 'RESTORE', payload)).toBe('OK');
        expect(await s.call('FCALL', 'getset2', '1', 'fn:d', 'x')).toBeDefined();
        expect(msg(await s.call('FUNCTION', 'RESTORE', payload))).toMatch(/^ERR Library mylib already exists/);
        expect(await s.call('FUNCTION', 'RESTORE', payload, 'REPLACE')).toBe('OK');
      }
      // redis-server restores Sonic's payload.
      expect(await r.call('FUNCTION', 'FLUSH')).toBe('OK');
      expect(await r.call('FUNCTION', 'RESTORE', fromSonic)).toBe('OK');
      expect(await r.call('FCALL_RO', 'ro_get', '1', 'fn:none')).toBe(null);
      const bad = fromSonic.slice(0, -1) + String.fromCharCode((fromSonic.charCodeAt(fromSonic.length - 1) + 1) & 0xff);
      expect(msg(await s.call('FUNCTION', 'RESTORE', bad))).toBe('ERR payload version or checksum are wrong');
    } finally {
      s.close();
      r.close();
    }
  });
});

describe('long-running scripts', () => {
  it('past busy-reply-threshold other clients get BUSY, SCRIPT KILL stops the script', async () => {
    const runner = await RawConn.open(sonic.port);
    const other = await RawConn.open(sonic.port);
    try {
      runner.send('EVAL', 'local i = 0 while true do i = i + 1 end', '0');
      // Before the threshold (200 ms) the script holds the event loop; afterwards PING gets BUSY.
      let reply: unknown = null;
      for (let i = 0; i < 50; i++) {
        reply = await other.call('PING');
        if (msg(reply).startsWith('BUSY')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(msg(reply)).toBe('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.');
      expect(msg(await other.call('FUNCTION', 'KILL'))).toMatch(/^BUSY Redis is busy running a script/);
      expect(await other.call('SCRIPT', 'KILL')).toBe('OK');
      expect(msg(await runner.read())).toMatch(/^ERR Script killed by user with SCRIPT KILL/);
      expect(await other.call('PING')).toBe('PONG');
      expect(msg(await other.call('SCRIPT', 'KILL'))).toBe('NOTBUSY No scripts in execution right now.');
      // The runner's connection goes on.
      expect(await runner.call('PING')).toBe('PONG');
    } finally {
      runner.close();
      other.close();
    }
  });

  it('a script that wrote cannot be killed and finishes its work', async () => {
    const runner = await RawConn.open(sonic.port);
    const other = await RawConn.open(sonic.port);
    try {
      runner.send('EVAL', "redis.call('set', KEYS[1], 'started') local t = redis.call('time') local i = 0 while i < 1e8 do i = i + 1 end redis.call('set', KEYS[1], 'done') return i", '1', 'busy:k');
      let reply: unknown = null;
      for (let i = 0; i < 50; i++) {
        reply = await other.call('GET', 'busy:k');
        if (msg(reply).startsWith('BUSY')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(msg(reply)).toMatch(/^BUSY/);
      expect(msg(await other.call('SCRIPT', 'KILL'))).toMatch(/^UNKILLABLE/);
      expect(await runner.read(60000)).toBe(100000000);
      expect(await other.call('GET', 'busy:k')).toBe('done');
    } finally {
      runner.close();
      other.close();
    }
  }, 70000);
});

/**
 * The protocol layer against redis-server 7 itself: hash slots vs CLUSTER KEYSLOT, key
 * positions vs COMMAND GETKEYS, double formatting vs ZSCORE, and RESP2/RESP3 replies of
 * Sonic vs Redis byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { COMMANDS, formatDouble, keyHashSlot, keyPositions, lookupCommand } from '@sonic/protocol';
import { RawConn, startRedis, startSonic, stopAll, type Proc } from './harness.js';

afterAll(stopAll);

/** Sends all commands pipelined, returns the replies in order. */
async function pipelined(c: RawConn, cmds: (string | Buffer)[][]): Promise<unknown[]> {
  for (const cmd of cmds) c.send(...cmd);
  const out: unknown[] = [];
  for (let i = 0; i < cmds.length; i++) out.push(await c.read(10_000));
  return out;
}

describe('hash slots vs redis-server CLUSTER KEYSLOT', () => {
  let redis: Proc;
  let conn: RawConn;
  beforeAll(async () => {
    redis = await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes-test.conf']);
    conn = await RawConn.open(redis.port);
  });
  afterAll(() => conn?.close());

  it('agrees on 1,000 random and hash-tagged keys', async () => {
    const seed = randomBytes(8).toString('hex');
    const keys: Buffer[] = [
      '{user1000}.following',
      '{user1000}.followers',
      '{}',
      '{}{a}',
      '{{a}}',
      'a{b}c{d}',
      '{a}}',
      '}{',
      '{',
      '',
      'foo',
      '123456789',
    ].map((k) => Buffer.from(k, 'latin1'));
    // Random bytes, biased towards braces so that tags of every shape occur.
    const pool = Buffer.from('{}{}{}ab\r\n\0\xff', 'latin1');
    const rnd = randomBytes(1000 * 24);
    for (let i = 0; i < 1000; i++) {
      const n = rnd[i * 24]! % 20;
      const k = Buffer.alloc(n);
      for (let j = 0; j < n; j++) {
        const r = rnd[i * 24 + 1 + j]!;
        k[j] = r < 128 ? pool[r % pool.length]! : r;
      }
      keys.push(k);
    }
    const replies = await pipelined(conn, keys.map((k) => ['CLUSTER', 'KEYSLOT', k]));
    const mismatches = keys
      .map((k, i) => ({ key: k.toString('hex'), redis: replies[i], sonic: keyHashSlot(k), sonicStr: keyHashSlot(k.toString('latin1')) }))
      .filter((m) => m.redis !== m.sonic || m.sonic !== m.sonicStr);
    expect(mismatches, `seed ${seed}`).toEqual([]);
  });
});

describe('key positions vs redis-server COMMAND GETKEYS', () => {
  let redis: Proc;
  let conn: RawConn;
  beforeAll(async () => {
    redis = await startRedis();
    conn = await RawConn.open(redis.port);
  });
  afterAll(() => conn?.close());

  const samples: string[][] = [
    ['GET', 'k'],
    ['SET', 'k', 'v', 'EX', '10'],
    ['MGET', 'a', 'b', 'c'],
    ['MSET', 'a', '1', 'b', '2', 'c', '3'],
    ['MSETNX', 'a', '1', 'b', '2'],
    ['DEL', 'a', 'b', 'c'],
    ['EXISTS', 'a', 'b'],
    ['RENAME', 'a', 'b'],
    ['ZUNIONSTORE', 'dst', '2', 'a', 'b', 'WEIGHTS', '1', '2'],
    ['ZINTERSTORE', 'dst', '3', 'a', 'b', 'c'],
    ['ZUNION', '2', 'a', 'b', 'WITHSCORES'],
    ['ZDIFFSTORE', 'd', '2', 'a', 'b'],
    ['ZRANGESTORE', 'd', 's', '0', '-1'],
    ['SINTERCARD', '2', 'a', 'b', 'LIMIT', '1'],
    ['SUNIONSTORE', 'd', 'a', 'b'],
    ['SMOVE', 'a', 'b', 'm'],
    ['LMOVE', 'a', 'b', 'LEFT', 'RIGHT'],
    ['LMPOP', '2', 'a', 'b', 'LEFT'],
    ['BLMPOP', '0', '2', 'a', 'b', 'LEFT'],
    ['BLPOP', 'a', 'b', '0'],
    ['BZPOPMIN', 'a', 'b', '0'],
    ['ZMPOP', '2', 'a', 'b', 'MIN'],
    ['XREAD', 'COUNT', '1', 'STREAMS', 'a', 'b', '0', '0'],
    ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 'a', '>'],
    ['HSET', 'h', 'f', 'v'],
    ['COPY', 'a', 'b'],
  ];

  it('for every sampled command Sonic declares', async () => {
    const declared = samples.filter((s) => lookupCommand(s[0]!) !== undefined);
    expect(declared.length).toBeGreaterThanOrEqual(5);
    const replies = await pipelined(conn, declared.map((s) => ['COMMAND', 'GETKEYS', ...s]));
    const diffs: string[] = [];
    declared.forEach((argv, i) => {
      const want = (replies[i] as string[]).map((k) => argv.indexOf(k, 1));
      const got = keyPositions(lookupCommand(argv[0]!)!, argv);
      if (JSON.stringify(got) !== JSON.stringify(want)) diffs.push(`${argv.join(' ')}: sonic ${JSON.stringify(got)} redis ${JSON.stringify(want)}`);
    });
    expect(diffs).toEqual([]);
  });

  it('every declared command with keys has a sample, or at least a well-formed spec', () => {
    for (const spec of COMMANDS.values()) {
      for (const ks of spec.keySpecs) {
        if ('index' in ks.begin) expect(ks.begin.index, spec.name).toBeGreaterThan(0);
        if ('range' in ks.find) expect(ks.find.range.step, spec.name).toBeGreaterThan(0);
      }
    }
  });
});

describe('doubles: formatDouble vs redis-server ZSCORE (%.17g in Redis 7.0)', () => {
  let redis: Proc;
  let sonic: Proc;
  beforeAll(async () => {
    [redis, sonic] = await Promise.all([startRedis(), startSonic()]);
  });

  const values = (): number[] => {
    const out = [0.1, 1 / 3, -2.5, 1e17, 99999999999999984, 2251799813685246.25, 1e-5, 5e-324, 1.7976931348623157e308, 123456.789, 3, -0.0001];
    const b = randomBytes(8 * 300);
    for (let i = 0; i < 300; i++) {
      const d = b.readDoubleLE(i * 8);
      if (Number.isFinite(d)) out.push(d);
      out.push((b.readInt32LE(i * 8) / 1000) * 10 ** ((b[i * 8 + 4]! % 40) - 20));
    }
    return out;
  };

  it('formatDouble matches Redis on hundreds of scores', async () => {
    const c = await RawConn.open(redis.port);
    const vs = values();
    // Scores are sent in JS's shortest round-trip form; strtod reads the same double.
    const cmds = vs.flatMap((d, i) => [['ZADD', 'fd', String(d), `m${i}`], ['ZSCORE', 'fd', `m${i}`]]);
    const replies = await pipelined(c, cmds);
    const diffs = vs.map((d, i) => [d, replies[2 * i + 1], formatDouble(d)] as const).filter(([, r, f]) => r !== f);
    expect(diffs).toEqual([]);
    c.close();
  });

  it('Sonic\'s ZSCORE and ZINCRBY answer as Redis\'s do', async () => {
    const vs = values().slice(0, 200);
    const cmds = vs.flatMap((d, i) => [['ZADD', 'sd', String(d), `m${i}`], ['ZSCORE', 'sd', `m${i}`], ['ZINCRBY', 'sd', '0.1', `m${i}`]]);
    const [rc, sc] = await Promise.all([RawConn.open(redis.port), RawConn.open(sonic.port)]);
    const [r, s] = await Promise.all([pipelined(rc, cmds), pipelined(sc, cmds)]);
    expect(s).toEqual(r);
    rc.close();
    sc.close();
  });
});

describe('RESP2 and RESP3 replies: Sonic vs Redis byte for byte', () => {
  let redis: Proc;
  let sonic: Proc;
  beforeAll(async () => {
    [redis, sonic] = await Promise.all([startRedis(), startSonic()]);
  });

  async function rawReplies(port: number, cmds: string[][]): Promise<string> {
    const c = await RawConn.open(port);
    for (const cmd of cmds) c.send(...cmd);
    c.send('PING', 'end-marker');
    const deadline = Date.now() + 10_000;
    while (!c.raw.toString('latin1').includes('end-marker') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    c.close();
    return c.raw.toString('latin1');
  }

  const script: string[][] = [
    ['SET', 'r:s', 'v'],
    ['GET', 'r:s'],
    ['GET', 'r:missing'],
    ['INCR', 'r:n'],
    ['MGET', 'r:s', 'r:missing'],
    ['EXISTS', 'r:s'],
    ['ZADD', 'r:z', '1.5', 'a', '2', 'b'],
    ['ZSCORE', 'r:z', 'a'],
    ['ZRANGE', 'r:z', '0', '-1', 'WITHSCORES'],
    ['ZSCORE', 'r:z', 'nope'],
    ['ECHO', 'x\r\ny'],
    ['NOSUCH'],
  ];

  it('RESP2', async () => {
    const [s, r] = await Promise.all([rawReplies(sonic.port, script), rawReplies(redis.port, script)]);
    expect(s).toBe(r);
  });

  it('RESP3 after HELLO 3 (HELLO\'s own reply excluded)', async () => {
    const [s, r] = await Promise.all([
      rawReplies(sonic.port, [['HELLO', '3'], ['FLUSHALL'], ...script]),
      rawReplies(redis.port, [['HELLO', '3'], ['FLUSHALL'], ...script]),
    ]);
    const afterHello = (x: string): string => x.slice(x.indexOf('+OK\r\n'));
    expect(afterHello(s)).toBe(afterHello(r));
    expect(afterHello(s)).toContain(',1.5\r\n');
    expect(afterHello(s)).toContain('_\r\n');
  });
});

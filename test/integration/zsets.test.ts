/**
 * The sorted-set family against redis-server 7: the same command sequences on both,
 * replies compared byte for byte (RESP2 and RESP3), a seeded random workload, blocking
 * pops woken by another client, and checks with ioredis, node-redis and redis-cli.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { redisCli, startRedis, startSonic, stopAll, transcript, type Proc } from './harness.js';

let sonic: Proc;
let redis: Proc;

beforeAll(async () => {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
});
afterAll(stopAll);

async function expectSame(cmds: string[][], resp3 = false): Promise<void> {
  const [a, b] = await Promise.all([transcript(sonic.port, cmds, resp3), transcript(redis.port, cmds, resp3)]);
  expect(a).toEqual(b);
}

const w = (s: string): string[] => s.split(' ');

/** Prefixes every key-like token `k:` with a namespace so sequences do not collide. */
function ns(prefix: string, lines: string[]): string[][] {
  return lines.map((l) => w(l).map((t) => (t.startsWith('k:') ? prefix + t : t)));
}

const ADD = [
  'zadd k:z 1 a 2 b 3 c',
  'zadd k:z 1 a',
  'zadd k:z ch 5 a 2 b 7 d',
  'zrange k:z 0 -1 withscores',
  'zadd k:z nx 100 a 8 e',
  'zadd k:z xx 9 e 10 f',
  'zadd k:z xx ch 9.5 e 10 f',
  'zadd k:z gt ch 1 a 6 b',
  'zadd k:z lt ch 0 a 60 b',
  'zadd k:z gt 5 newgt',
  'zadd k:z incr 2.5 a',
  'zadd k:z incr nx 1 a',
  'zadd k:z incr xx 1 nothere',
  'zadd k:z incr gt -1 a',
  'zadd k:z incr lt -1 a',
  'zadd k:z xx nx 1 a',
  'zadd k:z gt lt 1 a',
  'zadd k:z gt nx 1 a',
  'zadd k:z lt nx 1 a',
  'zadd k:z incr 1 a 2 b',
  'zadd k:z nx',
  'zadd k:z 1',
  'zadd k:z 1 a 2',
  'zadd k:z nan a',
  'zadd k:z abc a',
  'zadd k:z 1 a x b',
  'zadd k:z inf inf -inf -inf +inf plusinf',
  'zadd k:z incr -inf inf',
  'zadd k:z incr +inf -inf',
  'zadd k:z -0 negzero 1e-300 tiny 1.7976931348623157e308 huge 0.1 tenth 123456789012345678 big',
  'zrange k:z 0 -1 withscores',
  'zadd k:none xx 1 a',
  'zadd k:none xx incr 1 a',
  'exists k:none',
  'zadd k:none2 nx gt 1 a',
  'zadd k:none3 lt 1 a',
  'zincrby k:z 1.5 a',
  'zincrby k:z -1.5 nothere',
  'zincrby k:z inf inf',
  'zincrby k:z -inf inf',
  'zincrby k:z x a',
  'zincrby k:new 3 m',
  'zrange k:new 0 -1 withscores',
  'set k:s v',
  'zadd k:s 1 a',
  'zincrby k:s 1 a',
  'zadd k:s xx 1 a',
  'zcard k:z',
  'zcard k:none',
  'zcard k:s',
  'zscore k:z a',
  'zscore k:z tenth',
  'zscore k:z nothere',
  'zscore k:none a',
  'zscore k:s a',
  'zmscore k:z a b nothere tenth',
  'zmscore k:none a b',
  'zmscore k:s a',
  'zmscore k:z',
  'zrem k:z a nothere b',
  'zrem k:none a',
  'zrem k:s a',
  'zrem k:new m',
  'exists k:new',
  'zrank k:z c',
  'zrevrank k:z c',
  'zrank k:z nothere',
  'zrank k:none a',
  'zrank k:s a',
  'zrank k:z',
];

const RANGES = [
  'zadd k:z 1 a 2 b 3 c 4 d 5 e 6 f 7 g 8 h 9 i 10 j',
  'zrange k:z 0 -1',
  'zrange k:z 2 4 withscores',
  'zrange k:z -3 -1 WITHSCORES',
  'zrange k:z -100 100',
  'zrange k:z 5 2',
  'zrange k:z 10 20',
  'zrange k:z 0 -1 rev',
  'zrange k:z 0 2 rev withscores',
  'zrange k:z x 1',
  'zrange k:z 0 1.5',
  'zrange k:z 0 -1 limit 0 1',
  'zrange k:z 1 5 byscore',
  'zrange k:z (1 (5 byscore withscores',
  'zrange k:z -inf +inf byscore limit 2 3',
  'zrange k:z -inf +inf byscore limit 2 -1',
  'zrange k:z -inf +inf byscore limit -1 3',
  'zrange k:z -inf +inf byscore limit 20 3',
  'zrange k:z -inf +inf byscore limit 2 0',
  'zrange k:z 5 1 byscore rev withscores',
  'zrange k:z (5 1 byscore rev limit 1 2',
  'zrange k:z 1 5 byscore rev',
  'zrange k:z inf -inf byscore rev limit 0 3',
  'zrange k:z a 5 byscore',
  'zrange k:z 1 ( byscore',
  'zrange k:z (a (b byscore',
  'zrange k:z 3 3 byscore',
  'zrange k:z (3 3 byscore',
  'zrange k:z 0 -1 byscore byscore',
  'zrange k:z 0 -1 byscore bylex',
  'zrange k:z 0 -1 limit 1',
  'zrange k:z 0 -1 limit x 1',
  'zrange k:z 0 -1 withscores withscores',
  'zrange k:z 0 -1 foo',
  'zrange k:z 0 -1 rev rev',
  'zrange k:z ( 5 byscore',
  'zrange k:none 0 -1',
  'zrange k:none 0 -1 byscore',
  'zrange k:none x y byscore',
  'zrange k:none 0 -1 limit 0 1',
  'set k:s v',
  'zrange k:s 0 -1',
  'zrevrange k:z 0 2',
  'zrevrange k:z 0 2 withscores',
  'zrevrange k:z -2 -1 withscores',
  'zrevrange k:z 0 -1 byscore',
  'zrevrange k:z 0 -1 rev',
  'zrevrange k:none 0 -1',
  'zrangebyscore k:z 2 5',
  'zrangebyscore k:z (2 5 withscores',
  'zrangebyscore k:z -inf +inf limit 1 2 withscores',
  'zrangebyscore k:z -inf +inf withscores limit 1 2',
  'zrangebyscore k:z -inf +inf limit 1',
  'zrangebyscore k:z 5 2',
  'zrangebyscore k:z x 2',
  'zrangebyscore k:z 0 10 rev',
  'zrangebyscore k:z 0 10 byscore',
  'zrevrangebyscore k:z 5 2',
  'zrevrangebyscore k:z (5 (2 withscores',
  'zrevrangebyscore k:z +inf -inf limit 0 2',
  'zrevrangebyscore k:z 2 5',
  'zrevrangebyscore k:none 2 5',
  'zcount k:z 2 5',
  'zcount k:z (2 (5',
  'zcount k:z -inf +inf',
  'zcount k:z 5 2',
  'zcount k:z x 2',
  'zcount k:none 0 1',
  'zcount k:s 0 1',
  'zadd k:lex 0 a 0 b 0 c 0 d 0 e 0 f 0 ab 0 ba 0 A 0 \xff 0 \x00x',
  'zrangebylex k:lex - +',
  'zrangebylex k:lex [b (e',
  'zrangebylex k:lex (a [c',
  'zrangebylex k:lex - [c limit 1 2',
  'zrangebylex k:lex - + limit 2 -1',
  'zrangebylex k:lex - + withscores',
  'zrangebylex k:lex a c',
  'zrangebylex k:lex [c [a',
  'zrangebylex k:lex + -',
  'zrangebylex k:lex [ [\xff',
  'zrevrangebylex k:lex + -',
  'zrevrangebylex k:lex [e (b',
  'zrevrangebylex k:lex + - limit 1 3',
  'zrevrangebylex k:lex [b [e',
  'zrange k:lex [b [e bylex',
  'zrange k:lex [e [b bylex rev',
  'zrange k:lex - + bylex limit 3 2',
  'zrange k:lex - + bylex withscores',
  'zrange k:lex - + bylex rev limit 0 2',
  'zlexcount k:lex - +',
  'zlexcount k:lex [b (e',
  'zlexcount k:lex (e [b',
  'zlexcount k:lex b e',
  'zlexcount k:none - +',
  'zlexcount k:s - +',
  'zrangestore k:dst k:z 0 2',
  'zrange k:dst 0 -1 withscores',
  'zrangestore k:dst k:z 2 5 byscore rev',
  'zrangestore k:dst k:z 5 2 byscore rev',
  'zrange k:dst 0 -1 withscores',
  'zrangestore k:dst k:z (8 +inf byscore limit 0 1',
  'zrangestore k:dst k:lex [b [d bylex',
  'zrange k:dst 0 -1 withscores',
  'zrangestore k:dst k:z 0 -1 withscores',
  'zrangestore k:dst k:z 0 -1 limit 0 1',
  'zrangestore k:dst k:none 0 -1',
  'exists k:dst',
  'zrangestore k:dst k:z 5 1',
  'zrangestore k:dst k:s 0 -1',
  'zrangestore k:s k:z 0 0',
  'type k:s',
];

const REMOVE = [
  'zadd k:z 1 a 2 b 3 c 4 d 5 e 6 f 7 g 8 h 9 i 10 j',
  'zremrangebyrank k:z 0 1',
  'zremrangebyrank k:z -2 -1',
  'zremrangebyrank k:z 5 2',
  'zremrangebyrank k:z 100 200',
  'zremrangebyrank k:z x 1',
  'zrange k:z 0 -1',
  'zremrangebyscore k:z (3 5',
  'zremrangebyscore k:z 100 200',
  'zremrangebyscore k:z x 1',
  'zrange k:z 0 -1 withscores',
  'zremrangebyscore k:z -inf +inf',
  'exists k:z',
  'zadd k:lex 0 a 0 b 0 c 0 d 0 e',
  'zremrangebylex k:lex [b (d',
  'zremrangebylex k:lex b d',
  'zrange k:lex 0 -1',
  'zremrangebylex k:lex - +',
  'exists k:lex',
  'zremrangebyrank k:none 0 -1',
  'zremrangebyscore k:none 0 1',
  'zremrangebylex k:none - +',
  'set k:s v',
  'zremrangebyrank k:s 0 -1',
  'zremrangebyscore k:s 0 1',
  'zremrangebylex k:s - +',
];

const POPS = [
  'zadd k:z 1 a 2 b 3 c 4 d 5 e',
  'zpopmin k:z',
  'zpopmax k:z',
  'zpopmin k:z 1',
  'zpopmax k:z 0',
  'zpopmin k:z -1',
  'zpopmin k:z x',
  'zpopmin k:z 1 2',
  'zpopmax k:z 10',
  'exists k:z',
  'zpopmin k:none',
  'zpopmin k:none 3',
  'zpopmax k:none',
  'set k:s v',
  'zpopmin k:s',
  'zadd k:a 1 a 2 b 3 c',
  'zadd k:b 10 x 20 y',
  'zmpop 1 k:a min',
  'zmpop 2 k:none k:a max count 5',
  'zmpop 2 k:none k:b min count 1',
  'zmpop 1 k:none min',
  'zmpop 0 k:b min',
  'zmpop -1 k:b min',
  'zmpop x k:b min',
  'zmpop 3 k:b min',
  'zmpop 1 k:b foo',
  'zmpop 1 k:b min count 0',
  'zmpop 1 k:b min count -1',
  'zmpop 1 k:b min count x',
  'zmpop 1 k:b min count 1 count 2',
  'zmpop 1 k:b min count',
  'zmpop 1 k:b min foo',
  'zmpop 1 k:s min',
  'zmpop 2 k:b k:s max',
  'zmpop 2 k:none k:s max',
  'zadd k:b 5 p 6 q',
  'bzpopmin k:b 0',
  'bzpopmax k:none k:b 0.5',
  'bzpopmin k:s 0',
  'bzpopmin k:b -1',
  'bzpopmin k:b abc',
  'bzpopmin k:b inf',
  'bzpopmin k:none 0.05',
  'bzpopmax k:none 0.05',
  'zadd k:c 1 a 2 b',
  'bzmpop 0.05 1 k:none min',
  'bzmpop 0 2 k:none k:c max count 10',
  'bzmpop 0 1 k:c min count 0',
  'bzmpop -1 1 k:c min',
  'bzmpop x 1 k:c min',
  'bzmpop 0 0 k:c min',
  'bzmpop 0 1 k:s min',
];

const SETOPS = [
  'zadd k:a 1 a 2 b 3 c',
  'zadd k:b 10 b 20 c 30 d',
  'sadd k:set c d e',
  'zunion 2 k:a k:b',
  'zunion 2 k:a k:b withscores',
  'zunion 2 k:a k:b weights 2 0.5 withscores',
  'zunion 2 k:a k:b aggregate min withscores',
  'zunion 2 k:a k:b aggregate max withscores',
  'zunion 3 k:a k:b k:set withscores',
  'zunion 2 k:a k:none withscores',
  'zunion 2 k:a k:b weights 1 withscores',
  'zunion 2 k:a k:b weights 1 x',
  'zunion 2 k:a k:b aggregate foo',
  'zunion 2 k:a k:b aggregate',
  'zunion 2 k:a k:b foo',
  'zunion 0 k:a',
  'zunion -1 k:a',
  'zunion x k:a',
  'zunion 3 k:a k:b',
  'zinter 2 k:a k:b withscores',
  'zinter 2 k:a k:b weights 1 -1 withscores',
  'zinter 2 k:a k:b aggregate max withscores',
  'zinter 3 k:a k:b k:set withscores',
  'zinter 2 k:a k:none',
  'zinter 1 k:set withscores',
  'zdiff 2 k:a k:b withscores',
  'zdiff 2 k:b k:set withscores',
  'zdiff 1 k:a',
  'zdiff 2 k:a k:b weights 1 1',
  'zdiff 2 k:a k:b aggregate sum',
  'zdiff 2 k:none k:a',
  'zadd k:inf inf x -inf y 1 z',
  'zunion 2 k:inf k:inf withscores',
  'zunion 2 k:inf k:inf weights 1 -1 withscores',
  'zunion 2 k:inf k:inf weights 0 1 withscores',
  'zinter 2 k:inf k:inf weights inf -inf withscores',
  'zunionstore k:dst 2 k:a k:b',
  'zrange k:dst 0 -1 withscores',
  'zunionstore k:dst 2 k:a k:b weights 1 2 aggregate max',
  'zrange k:dst 0 -1 withscores',
  'zunionstore k:dst 2 k:a k:b withscores',
  'zinterstore k:dst 2 k:a k:b',
  'zrange k:dst 0 -1 withscores',
  'zinterstore k:dst 2 k:a k:none',
  'exists k:dst',
  'zdiffstore k:dst 2 k:a k:b',
  'zrange k:dst 0 -1 withscores',
  'zdiffstore k:dst 2 k:a k:a',
  'exists k:dst',
  'zunionstore k:dst 0 k:a',
  'zinterstore k:dst 3 k:a k:b',
  'set k:s v',
  'zunion 2 k:a k:s',
  'zinter 2 k:none k:s',
  'zdiff 2 k:a k:s',
  'zunionstore k:dst 2 k:a k:s',
  'zunionstore k:s 1 k:a',
  'type k:s',
  'zintercard 2 k:a k:b',
  'zintercard 2 k:a k:b limit 1',
  'zintercard 2 k:a k:b limit 0',
  'zintercard 3 k:a k:b k:set',
  'zintercard 1 k:none',
  'zintercard 0 k:a',
  'zintercard 3 k:a',
  'zintercard 2 k:a k:b limit -1',
  'zintercard 2 k:a k:b limit x',
  'zintercard 2 k:a k:b foo',
  'zintercard 2 k:a k:s',
];

const MISC = [
  'zadd k:z 1 a 2 b 3 c',
  'zrandmember k:z 0',
  'zrandmember k:z 0 withscores',
  'zrandmember k:z 10',
  'zrandmember k:z 3 withscores',
  'zrandmember k:z 1 withscores x',
  'zrandmember k:z x',
  'zrandmember k:z 1 foo',
  'zrandmember k:none',
  'zrandmember k:none 5',
  'zrandmember k:none -5 withscores',
  'set k:s v',
  'zrandmember k:s',
  'zrandmember k:s 1',
  'zscan k:z 0',
  'zscan k:z 0 match b*',
  'zscan k:z 0 count 1',
  'zscan k:z 0 count 0',
  'zscan k:z 0 count x',
  'zscan k:z 0 match',
  'zscan k:z 0 foo bar',
  'zscan k:z abc',
  'zscan k:z -1',
  'zscan k:z 18446744073709551616',
  'zscan k:none 0',
  'zscan k:none 0 count 0',
  'zscan k:s 0',
  'zadd k:f 0.1 a 1e20 b -0 c 3.0 d 1.5e-7 e',
  'zscan k:f 0',
  'multi',
  'bzpopmin k:none 0',
  'bzmpop 0 1 k:none min',
  'zadd k:z 4 d',
  'bzpopmax k:z 0',
  'exec',
];

/** Numbers as C's strtod reads them: hex, overflow, underflow, blanks. */
const NUMBERS = [
  'zadd k:n 1e400 a',
  'zadd k:n -1e400 a',
  'zadd k:n 1e-400 a',
  'zadd k:n 0x10 b',
  'zadd k:n 0x1.8p1 c',
  'zadd k:n -0x.8 d',
  'zadd k:n 0x e',
  'zadd k:n 0xg e',
  'zadd k:n 1e-310 f',
  'zadd k:n .5 g 5. h +3 i Infinity j -INF k',
  'zadd k:n 1e x',
  'zadd k:n 1.2.3 x',
  'zadd k:n 0.000 z0',
  'zrange k:n 0 -1 withscores',
  'zrangebyscore k:n 1e400 +inf',
  'zrangebyscore k:n -1e400 (0x2 withscores',
  'zrangebyscore k:n (-inf (inf',
  'zrangebyscore k:n 1e-400 +inf',
  'zrangebyscore k:n (1e x',
  'zcount k:n 0x1 0x10',
  'zincrby k:n 1e400 a',
  'zincrby k:n 0x10 b',
  'zincrby k:n 1e308 b',
  'zincrby k:n 1e308 b',
  'zincrby k:n 1e308 b',
  'zadd k:w 1 a',
  'zunion 1 k:w weights 0x2 withscores',
  'zunion 1 k:w weights 1e400 withscores',
  'zunion 1 k:w weights inf withscores',
  'zinterstore k:dst 1 k:w weights -inf',
  'zrange k:dst 0 -1 withscores',
  'bzpopmin k:w 0x1',
  'bzpopmin k:none 1e400',
  'bzpopmin k:none 0x',
  'bzpopmin k:none 1e-400',
  'zadd k:r 1 a 2 b 3 c',
  'zrange k:r 0 9223372036854775807',
  'zrange k:r -9223372036854775808 -1',
  'zrange k:r 0 9223372036854775808',
  'zrangebyscore k:r -inf +inf limit 0 9223372036854775807',
  'zrangebyscore k:r -inf +inf limit 9223372036854775807 1',
  'zremrangebyrank k:r -9223372036854775808 0',
  'zrange k:r 0 -1',
];

describe('sorted sets match redis-server 7 byte for byte', () => {
  for (const [name, seq] of Object.entries({ ADD, RANGES, REMOVE, POPS, SETOPS, MISC, NUMBERS })) {
    it(`${name} (RESP2)`, async () => expectSame(ns(`r2${name}`, seq)));
    it(`${name} (RESP3)`, async () => expectSame(ns(`r3${name}`, seq), true));
  }

  it('COMMAND INFO of every sorted-set command matches, and key extraction of the movable ones', async () => {
    const names =
      'zadd zcard zcount zdiff zdiffstore zincrby zinter zintercard zinterstore zlexcount zmpop zmscore zpopmax zpopmin zrandmember zrange zrangebylex zrangebyscore zrangestore zrank zrem zremrangebylex zremrangebyrank zremrangebyscore zrevrange zrevrangebylex zrevrangebyscore zrevrank zscan zscore zunion zunionstore bzmpop bzpopmax bzpopmin';
    await expectSame([
      ['command', 'info', ...names.split(' ')],
      ['command', 'getkeys', 'zunionstore', 'd', '2', 'a', 'b', 'weights', '1', '2'],
      ['command', 'getkeys', 'zinter', '3', 'a', 'b', 'c'],
      ['command', 'getkeys', 'bzmpop', '0', '2', 'a', 'b', 'min'],
      ['command', 'getkeys', 'zrangestore', 'd', 's', '0', '-1'],
      ['command', 'getkeys', 'bzpopmin', 'a', 'b', 'c', '0'],
    ]);
  });

  it('a seeded random workload gives the same replies', async () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const m = (): string => 'm' + rnd(40);
    const sc = (): string => ['-inf', '+inf', String(rnd(20) - 10), (rnd(200) / 8).toString(), '(' + rnd(10)][rnd(5)]!;
    const pos = (): string => String(rnd(50) - 25);
    const lex = (): string => ['-', '+', '[' + m(), '(' + m()][rnd(4)]!;
    const cmds: string[][] = [];
    for (let i = 0; i < 1500; i++) {
      const k = 'rw:' + rnd(3);
      const k2 = 'rw:' + rnd(3);
      const score = () => sc().replace('(', '');
      const choices: string[][] = [
        ['zadd', k, score(), m(), score(), m()],
        ['zadd', k, ['nx', 'xx', 'gt', 'lt', 'ch'][rnd(5)]!, score(), m()],
        ['zadd', k, 'incr', score(), m()],
        ['zincrby', k, String(rnd(7) - 3), m()],
        ['zrem', k, m(), m()],
        ['zrange', k, pos(), pos(), 'withscores'],
        ['zrange', k, sc(), sc(), 'byscore', 'limit', String(rnd(5)), String(rnd(6) - 1)],
        ['zrange', k, sc(), sc(), 'byscore', 'rev', 'withscores'],
        ['zrangebylex', k, lex(), lex()],
        ['zrevrangebylex', k, lex(), lex(), 'limit', '1', '3'],
        ['zrank', k, m()],
        ['zrevrank', k, m()],
        ['zcount', k, sc(), sc()],
        ['zlexcount', k, lex(), lex()],
        ['zremrangebyrank', k, pos(), pos()],
        ['zremrangebyscore', k, sc(), sc()],
        ['zpopmin', k, String(rnd(3))],
        ['zpopmax', k],
        ['zunionstore', 'rw:u', '2', k, k2, 'weights', String(rnd(3)), '1'],
        ['zinter', '2', k, k2, 'withscores', 'aggregate', 'max'],
        ['zdiff', '2', k, k2],
        ['zmscore', k, m(), m()],
        ['zcard', k],
        ['zrange', 'rw:u', '0', '-1', 'withscores'],
      ];
      cmds.push(choices[rnd(choices.length)]!);
    }
    cmds.push(['zrange', 'rw:0', '0', '-1', 'withscores'], ['zrange', 'rw:1', '0', '-1', 'withscores'], ['zrange', 'rw:2', '0', '-1', 'withscores']);
    await expectSame(cmds);
  });
});

describe('sorted sets with real clients', () => {
  it('BZPOPMIN blocks until another client ZADDs, and serves waiters in order', async () => {
    const a = new Redis({ port: sonic.port, lazyConnect: true });
    const b = new Redis({ port: sonic.port, lazyConnect: true });
    const writer = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await Promise.all([a.connect(), b.connect(), writer.connect()]);
      const pa = a.bzpopmin('blk:z', 'blk:other', 5);
      await new Promise((r) => setTimeout(r, 50));
      const pb = b.bzpopmax('blk:z', 5);
      await new Promise((r) => setTimeout(r, 50));
      expect(await writer.exists('blk:z')).toBe(0);
      expect(await writer.zadd('blk:z', 1, 'one', 2, 'two', 3, 'three')).toBe(3);
      expect(await pa).toEqual(['blk:z', 'one', '1']);
      expect(await pb).toEqual(['blk:z', 'three', '3']);
      expect(await writer.zrange('blk:z', 0, -1)).toEqual(['two']);
      // A timeout answers a null array.
      expect(await a.bzpopmin('blk:empty', 0.1)).toBeNull();
      // BZMPOP is woken too.
      const pm = a.call('bzmpop', '5', '2', 'blk:m1', 'blk:m2', 'MAX', 'COUNT', '2');
      await new Promise((r) => setTimeout(r, 50));
      await writer.zadd('blk:m2', 1, 'x', 2, 'y', 3, 'z');
      expect(await pm).toEqual(['blk:m2', [['z', '3'], ['y', '2']]]);
    } finally {
      a.disconnect();
      b.disconnect();
      writer.disconnect();
    }
  });

  it('a blocked BZPOPMIN is not served by a write of another type', async () => {
    const a = new Redis({ port: sonic.port, lazyConnect: true });
    const writer = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await Promise.all([a.connect(), writer.connect()]);
      const p = a.bzpopmin('blk:typed', 5).catch((e: Error) => e.message);
      await new Promise((r) => setTimeout(r, 50));
      await writer.set('blk:typed', 'v');
      expect(await p).toMatch(/^WRONGTYPE/);
    } finally {
      a.disconnect();
      writer.disconnect();
    }
  });

  it('node-redis (RESP3) reads scores and ranges', async () => {
    const c = createClient({ socket: { port: sonic.port, host: '127.0.0.1' }, RESP: 3 });
    await c.connect();
    try {
      await c.zAdd('nr:z', [
        { score: 1.5, value: 'a' },
        { score: -2, value: 'b' },
        { score: 1e20, value: 'c' },
      ]);
      expect(await c.zScore('nr:z', 'a')).toBe(1.5);
      expect(await c.zRangeWithScores('nr:z', 0, -1)).toEqual([
        { value: 'b', score: -2 },
        { value: 'a', score: 1.5 },
        { value: 'c', score: 1e20 },
      ]);
      expect(await c.zRank('nr:z', 'c')).toBe(2);
      expect(await c.zPopMin('nr:z')).toEqual({ value: 'b', score: -2 });
      expect(await c.zCard('nr:z')).toBe(2);
    } finally {
      await c.quit();
    }
  });

  it('redis-cli prints ranges with scores', () => {
    redisCli(sonic.port, ['zadd', 'cli:z', '1', 'a', '2.5', 'b']);
    expect(redisCli(sonic.port, ['zrange', 'cli:z', '0', '-1', 'withscores']).stdout).toBe('a\n1\nb\n2.5');
    expect(redisCli(sonic.port, ['zrevrank', 'cli:z', 'a']).stdout).toBe('1');
  });

  it('ZRANDMEMBER picks members of the set: distinct for positive counts, repeated for negative', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await r.connect();
      const members = Array.from({ length: 50 }, (_, i) => 'm' + i);
      await r.zadd('rand:z', ...members.flatMap((m, i) => [i, m]));
      for (const count of [1, 5, 20, 49, 50, 80]) {
        const got = (await r.zrandmember('rand:z', count)) as string[];
        expect(got.length).toBe(Math.min(count, 50));
        expect(new Set(got).size).toBe(got.length);
        for (const m of got) expect(members).toContain(m);
      }
      const rep = (await r.zrandmember('rand:z', -200)) as string[];
      expect(rep.length).toBe(200);
      expect(new Set(rep).size).toBeLessThan(51);
      expect(new Set(rep).size).toBeGreaterThan(10);
      const ws = (await r.zrandmember('rand:z', 3, 'WITHSCORES')) as string[];
      expect(ws.length).toBe(6);
      for (let i = 0; i < 6; i += 2) expect(ws[i + 1]).toBe(ws[i]!.slice(1));
      const one = (await r.zrandmember('rand:z')) as string;
      expect(members).toContain(one);
    } finally {
      r.disconnect();
    }
  });

  it('ZSCAN walks a large zset completely (MATCH and COUNT)', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    try {
      await r.connect();
      const args: (string | number)[] = [];
      for (let i = 0; i < 1000; i++) args.push(i / 4, 'm' + i);
      await r.zadd('scan:z', ...args);
      const seen = new Map<string, string>();
      let cursor = '0';
      let rounds = 0;
      do {
        const [next, items] = await r.zscan('scan:z', cursor, 'COUNT', 37);
        for (let i = 0; i < items.length; i += 2) seen.set(items[i]!, items[i + 1]!);
        cursor = next;
      } while (cursor !== '0' && ++rounds < 1000);
      expect(seen.size).toBe(1000);
      expect(seen.get('m6')).toBe('1.5');
      const matched: string[] = [];
      cursor = '0';
      rounds = 0;
      do {
        const [next, items] = await r.zscan('scan:z', cursor, 'MATCH', 'm99*');
        for (let i = 0; i < items.length; i += 2) matched.push(items[i]!);
        cursor = next;
      } while (cursor !== '0' && ++rounds < 1000);
      expect(matched.sort()).toEqual(['m99', 'm990', 'm991', 'm992', 'm993', 'm994', 'm995', 'm996', 'm997', 'm998', 'm999']);
    } finally {
      r.disconnect();
    }
  });

  it('ranks and ranges on a 200k-member zset agree with redis-server', async () => {
    const s = new Redis({ port: sonic.port, lazyConnect: true });
    const rr = new Redis({ port: redis.port, lazyConnect: true });
    try {
      await Promise.all([s.connect(), rr.connect()]);
      const n = 200_000;
      for (const cl of [s, rr]) {
        for (let from = 0; from < n; from += 10_000) {
          const args: (string | number)[] = [];
          for (let i = from; i < from + 10_000; i++) args.push((i * 7919) % 1000, 'member:' + i);
          await cl.zadd('big:z', ...args);
        }
      }
      const probe = async (cl: Redis): Promise<unknown[]> => {
        const p = cl.pipeline();
        for (let k = 0; k < 500; k++) {
          p.zrank('big:z', 'member:' + ((k * 401) % n));
          p.zrevrank('big:z', 'member:' + ((k * 733) % n));
        }
        p.zrange('big:z', 150_000, 150_010, 'WITHSCORES');
        p.zrange('big:z', '(500', '+inf', 'BYSCORE', 'LIMIT', 50_000, 5);
        p.zcount('big:z', 100, '(900');
        p.zremrangebyrank('big:z', 1000, 1999);
        p.zrank('big:z', 'member:1234');
        p.zcard('big:z');
        return (await p.exec())!.map(([err, v]) => err ?? v);
      };
      const [a, b] = await Promise.all([probe(s), probe(rr)]);
      expect(a).toEqual(b);
    } finally {
      s.disconnect();
      rr.disconnect();
    }
  }, 60_000);
});

/**
 * Streams against redis-server 7: the same command sequences on both with replies
 * compared byte for byte (RESP2 and RESP3), blocking XREAD/XREADGROUP woken by XADD
 * from another client (ioredis, node-redis), consumers sharing a stream with
 * acknowledgements and claims, propagation rebuilding the same state, and DUMP/RESTORE
 * of streams across the two servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startRedis, startSonic, stopAll, transcript, type Proc } from './harness.js';

let sonic: Proc;
let redis: Proc;

beforeAll(async () => {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
});
afterAll(stopAll);

/** Masks what differs by design: idle times, delivery times, radix-tree node counts. */
type Mask = (cmd: string[], reply: string) => string;

async function expectSame(cmds: string[][], resp3 = false, mask?: Mask): Promise<void> {
  const [a, b] = await Promise.all([transcript(sonic.port, cmds, resp3, { mask }), transcript(redis.port, cmds, resp3, { mask })]);
  expect(a).toEqual(b);
}

let nsCounter = 0;
/** Splits lines into argv, prefixing `k:` tokens with a fresh namespace. */
function ns(lines: string[]): string[][] {
  const p = `t${nsCounter++}:`;
  return lines.map((l) => l.split(' ').map((t) => (t.startsWith('k:') ? p + t : t)));
}

async function both(lines: string[], mask?: Mask): Promise<void> {
  await expectSame(ns(lines), false, mask);
  await expectSame(ns(lines), true, mask);
}

const XADD = [
  'xadd k:s 1-1 a 1',
  'xadd k:s 1-1 a 1',
  'xadd k:s 0-5 a 1',
  'xadd k:s 1-2 a 1 b 2',
  'xadd k:s 1 a',
  'xadd k:s bad a 1',
  'xadd k:s 2-* f v',
  'xadd k:s 2-* f v',
  'xadd k:s 1-* f v',
  'xadd k:s 3 f v',
  'xadd k:n 0-0 a 1',
  'xadd k:n 0 a 1',
  'xadd k:n2 0-* a 1',
  'xadd k:s maxlen abc 9-1 a 1',
  'xadd k:s maxlen -1 9-1 a 1',
  'xadd k:s limit 10 9-1 a 1',
  'xadd k:s maxlen = 1 limit 10 9-1 a 1',
  'xadd k:s minid 0 maxlen 1 9-1 a 1',
  'xadd k:s maxlen ~ 1 limit -1 9-1 a 1',
  'xadd k:s minid bad 9-1 a 1',
  'xadd k:s maxlen 18446744073709551615 9-1 a 1',
  'xadd k:s 2-x a 1',
  'xadd k:s 1-2-3 a 1',
  'xadd k:s + a 1',
  'xadd k:s - a 1',
  'xadd k:none nomkstream 1-1 a 1',
  'exists k:none',
  'xadd k:s nomkstream 10-1 a 1',
  'xlen k:s',
  'xadd k:max 18446744073709551615-18446744073709551615 a 1',
  'xadd k:max 5-* a 1',
  'xadd k:max * a 1',
  'xadd k:big 18446744073709551615-5 a 1',
  'xadd k:big 18446744073709551615-* a 1',
  'xrange k:big - +',
  'set k:str x',
  'xadd k:str 1-1 a 1',
  'xlen k:str',
  'xlen k:nothing',
  'xadd k:t 007-01 a 1',
  'xadd k:t 8-+3 a 1',
  'xrange k:t - +',
  'xadd k:s MAXLEN 2 20-1 x y',
  'xrange k:s - +',
  'xadd k:s MINID = 20 21-1 x y',
  'xrange k:s - +',
  'type k:s',
  'object encoding k:s',
];

const RANGE = [
  'xadd k:s 1-1 a 1',
  'xadd k:s 1-2 b 2',
  'xadd k:s 2-1 c 3',
  'xadd k:s 3-0 d 4 e 5',
  'xrange k:s - +',
  'xrange k:s - + count 2',
  'xrange k:s - + count 0',
  'xrange k:s - + count -1',
  'xrange k:s 1 1',
  'xrange k:s 1-2 +',
  'xrange k:s (1-1 +',
  'xrange k:s (1-1 (3-0',
  'xrange k:s (- +',
  'xrange k:s (18446744073709551615-18446744073709551615 +',
  'xrange k:s - (0-0',
  'xrange k:s 2 1',
  'xrange k:s - + foo',
  'xrange k:s - + count',
  'xrange k:s - + count x',
  'xrange k:s x +',
  'xrange k:nothing - +',
  'xrevrange k:s + -',
  'xrevrange k:s + - count 1',
  'xrevrange k:s (3-0 -',
  'xrevrange k:s 2 1',
  'xrevrange k:s 1 2',
  'xdel k:s 1-2 9-9',
  'xdel k:s bad',
  'xdel k:nothing 1-1',
  'xrange k:s - +',
  'xlen k:s',
  'xdel k:s 1-1 2-1 3-0',
  'xlen k:s',
  'xrange k:s - +',
  'exists k:s',
  'xadd k:s 1-1 a 1',
  'xadd k:s 4-0 a 1',
];

const TRIM = [
  'xtrim k:nothing maxlen 0',
  'xtrim k:s maxlen 0',
  'xadd k:s 1-1 a 1',
  'xadd k:s 2-1 a 1',
  'xadd k:s 3-1 a 1',
  'xadd k:s 4-1 a 1',
  'xtrim k:s maxlen 3',
  'xtrim k:s minid 3',
  'xrange k:s - +',
  'xtrim k:s maxlen ~ 0',
  'xtrim k:s minid ~ 9',
  'xtrim k:s',
  'xtrim k:s foo 1',
  'xtrim k:s maxlen',
  'xtrim k:s maxlen -1',
  'xtrim k:s maxlen 1 limit 5',
  'xtrim k:s maxlen ~ 1 limit 5 extra',
  'xtrim k:s maxlen 1 minid 1',
  'xtrim k:s maxlen = 1',
  'xrange k:s - +',
  'xtrim k:s minid = 5',
  'xlen k:s',
  'xinfo stream k:s',
  'set k:str x',
  'xtrim k:str maxlen 1',
];

const SETID = [
  'xsetid k:nothing 1-1',
  'xadd k:s 5-5 a 1',
  'xsetid k:s 1-1',
  'xsetid k:s 5-5',
  'xsetid k:s 9-9',
  'xadd k:s 9-9 a 1',
  'xadd k:s 9-10 a 1',
  'xsetid k:s 100-0 entriesadded 1',
  'xsetid k:s 100-0 entriesadded -1',
  'xsetid k:s 100-0 entriesadded 9 maxdeletedid 200-0',
  'xsetid k:s 100-0 entriesadded 9 maxdeletedid 50-0',
  'xsetid k:s 100-0 foo',
  'xsetid k:s bad',
  'xinfo stream k:s',
  'xdel k:s 9-10',
  'xinfo stream k:s',
];

const GROUPS = [
  'xgroup create k:s g $',
  'xgroup create k:s g $ mkstream',
  'xgroup create k:s g $ mkstream',
  'xgroup create k:s g2 - ',
  'xgroup create k:s g2 +',
  'xgroup create k:s g2 0 entriesread 5',
  'xgroup create k:s g3 0 entriesread -2',
  'xgroup create k:s g4 0 foo',
  'xadd k:s 1-1 a 1',
  'xadd k:s 2-1 b 2',
  'xadd k:s 3-1 c 3',
  'xinfo groups k:s',
  'xreadgroup group g c1 streams k:s >',
  'xreadgroup group g2 c1 count 1 streams k:s >',
  'xreadgroup group g2 c1 streams k:s 0',
  'xreadgroup group g2 c2 streams k:s >',
  'xreadgroup group g2 c2 streams k:s 0',
  'xreadgroup group g2 c1 streams k:s 0',
  'xinfo groups k:s',
  'xpending k:s g2',
  'xpending k:s g2 - + 10',
  'xpending k:s g2 - + 10 c2',
  'xpending k:s g2 - + 10 nobody',
  'xpending k:s g2 (1-1 + 1',
  'xpending k:s g2 - + 0',
  'xpending k:s g2 - + -5',
  'xpending k:s g2 - +',
  'xpending k:s g2 idle',
  'xpending k:s g2 - + 10 c2 extra',
  'xpending k:s nog',
  'xpending k:nothing g',
  'xack k:s g2 1-1 1-1 9-9',
  'xack k:s g2 bad',
  'xack k:s nog 1-1',
  'xack k:nothing g 1-1',
  'xpending k:s g2',
  'xadd k:s 4-1 d 4',
  'xreadgroup group g2 c3 noack streams k:s >',
  'xpending k:s g2',
  'xinfo groups k:s',
  'xinfo consumers k:s g2',
  'xinfo consumers k:s nog',
  'xinfo consumers k:nothing g',
  'xgroup createconsumer k:s g2 c9',
  'xgroup createconsumer k:s g2 c9',
  'xgroup createconsumer k:s nog c9',
  'xgroup delconsumer k:s g2 c2',
  'xgroup delconsumer k:s g2 c2',
  'xpending k:s g2',
  'xgroup setid k:s g2 0',
  'xinfo groups k:s',
  'xgroup setid k:s g2 $ entriesread 3',
  'xinfo groups k:s',
  'xgroup setid k:s nog 0',
  'xgroup setid k:nothing g 0',
  'xgroup setid k:s g2 0 entriesread x',
  'xgroup destroy k:s g2',
  'xgroup destroy k:s g2',
  'xgroup destroy k:nothing g2',
  'xinfo groups k:s',
  'xgroup help',
  'xinfo help',
  'xgroup foo',
  'xinfo stream k:nothing',
  'xinfo groups k:nothing',
  'xreadgroup group nog c streams k:s >',
  'xreadgroup group g c streams k:nothing >',
  'xreadgroup group g c streams k:s $',
  'xreadgroup group g c streams k:s',
  'xreadgroup streams k:s >',
  'xreadgroup group g c count x streams k:s >',
  'xreadgroup group g c block -1 streams k:s >',
  'xreadgroup group g c block x streams k:s >',
  'xreadgroup group g c foo streams k:s >',
  'xdel k:s 1-1',
  'xreadgroup group g c1 streams k:s 0',
  'xinfo groups k:s',
];

const READ = [
  'xadd k:a 1-1 a 1',
  'xadd k:a 2-1 b 2',
  'xadd k:b 5-1 c 3',
  'xread streams k:a 0',
  'xread count 1 streams k:a k:b 0 0',
  'xread streams k:a k:b 1-1 5-1',
  'xread streams k:a k:b 2-1 5-1',
  'xread streams k:a $',
  'xread streams k:nothing 0',
  'xread streams k:a',
  'xread streams k:a k:b 0',
  'xread group g c streams k:a 0',
  'xread streams k:a >',
  'xread count x streams k:a 0',
  'xread count -1 streams k:a 0',
  'xread block x streams k:a 0',
  'xread block -5 streams k:a 0',
  'xread block 10 streams k:a 0',
  'xread foo streams k:a 0',
  'xread noack streams k:a 0',
  'xread streams k:a bad',
  'xread streams k:a 18446744073709551615-18446744073709551615',
  'set k:str x',
  'xread streams k:str 0',
];

const CLAIM = [
  'xclaim k:nothing g c 0 1-1',
  'xadd k:s 1-1 a 1',
  'xadd k:s 2-1 b 2',
  'xadd k:s 3-1 c 3',
  'xgroup create k:s g 0',
  'xclaim k:s nog c 0 1-1',
  'xclaim k:s g c x 1-1',
  'xclaim k:s g c 0 1-1 foo',
  'xclaim k:s g c 0 1-1 idle x',
  'xclaim k:s g c 0 1-1 time x',
  'xclaim k:s g c 0 1-1 retrycount x',
  'xclaim k:s g c 0 1-1 lastid bad',
  'xclaim k:s g c 0 1-1',
  'xreadgroup group g alice count 2 streams k:s >',
  'xclaim k:s g bob 0 1-1 retrycount 5',
  'xclaim k:s g bob 0 2-1 justid',
  'xpending k:s g - + 10',
  'xclaim k:s g bob 3600000 1-1',
  'xclaim k:s g carol 0 3-1 force justid',
  'xpending k:s g - + 10',
  'xclaim k:s g carol 0 9-9 force',
  'xclaim k:s g carol 0 1-1 lastid 100-0 justid',
  'xinfo groups k:s',
  'xdel k:s 2-1',
  'xclaim k:s g dave 0 2-1 1-1 justid',
  'xpending k:s g',
  'xautoclaim k:s g c 0 0',
  'xautoclaim k:s g c x 0',
  'xautoclaim k:s g c 0 bad',
  'xautoclaim k:s g c 0 0 count 0',
  'xautoclaim k:s g c 0 0 count x',
  'xautoclaim k:s g c 0 0 foo',
  'xautoclaim k:s nog c 0 0',
  'xautoclaim k:nothing g c 0 0',
  'xadd k:s 4-1 d 4',
  'xadd k:s 5-1 e 5',
  'xadd k:s 6-1 f 6',
  'xreadgroup group g eve streams k:s >',
  'xdel k:s 5-1',
  'xautoclaim k:s g frank 0 0 count 2',
  'xautoclaim k:s g frank 0 4-1 count 1 justid',
  'xautoclaim k:s g frank 0 (4-1',
  'xautoclaim k:s g frank 3600000 0',
  'xpending k:s g',
  'xinfo consumers k:s g',
];

/** Idle and time fields differ between two servers; XINFO's radix-tree sizes too. */
const maskTimes: Mask = (cmd, reply) => {
  const name = cmd.slice(0, 2).join(' ').toLowerCase();
  if (name.startsWith('xinfo stream')) return reply.replace(/(radix-tree-nodes\r\n)[:]\d+/, '$1:N');
  if (name.startsWith('xinfo consumers')) return reply.replace(/(idle\r\n):\d+/g, '$1:N');
  if (name.startsWith('xpending') && cmd.length > 3) return reply.replace(/\*4\r\n(\$\d+\r\n[^\r]*\r\n)(\$\d+\r\n[^\r]*\r\n):\d+/g, '*4\r\n$1$2:N');
  return reply;
};

/** Many entries (several listpack nodes), then approximate and exact trims, XINFO FULL. */
function bulkLines(): string[] {
  const out: string[] = [];
  for (let i = 1; i <= 260; i++) out.push(`xadd k:s ${i}-1 f ${i}${i % 50 === 0 ? ' big ' + 'x'.repeat(900) : ''}`);
  out.push('xinfo stream k:s', 'xtrim k:s maxlen ~ 120', 'xlen k:s', 'xtrim k:s minid ~ 200', 'xtrim k:s maxlen ~ 10 limit 30', 'xlen k:s');
  out.push('xadd k:s maxlen ~ 5 300-1 f v', 'xlen k:s', 'xdel k:s 250-1 251-1', 'xinfo stream k:s', 'xtrim k:s maxlen = 7', 'xrange k:s - +');
  out.push('xgroup create k:s g 0', 'xreadgroup group g a count 3 streams k:s >', 'xreadgroup group g b count 2 streams k:s >', 'xdel k:s 255-1');
  out.push('xinfo groups k:s', 'xinfo stream k:s full count 2', 'xinfo stream k:s full', 'xinfo stream k:s full count 0', 'xinfo stream k:s full count x', 'xinfo stream k:s foo', 'xinfo stream k:s full cnt 1', 'xinfo stream k:s full count 1 x');
  for (let i = 1; i <= 120; i++) out.push(`xadd k:m ${i} n ${i} ${i % 2 ? 'same' : 'other'} ${i}`);
  out.push('xadd k:m minid ~ 50 maxlen 1 121 a b', 'xtrim k:m minid ~ 101', 'xlen k:m', 'xinfo stream k:m');
  return out;
}

/** XINFO FULL's seen/delivery times differ between servers. */
const maskFull: Mask = (cmd, reply) => {
  const r = maskTimes(cmd, reply);
  if (cmd.slice(0, 2).join(' ').toLowerCase() !== 'xinfo stream' || cmd.length < 4) return r;
  return r.replace(/(seen-time\r\n):\d+/g, '$1:T').replace(/\*4\r\n(\$\d+\r\n[^\r]*\r\n\$\d+\r\n[^\r]*\r\n):\d+/g, '*4\r\n$1:T').replace(/\*3\r\n(\$\d+\r\n[^\r]*\r\n):\d+/g, '*3\r\n$1:T');
};

describe('streams vs redis-server', () => {
  it('listpack-node trimming (~ and =), XINFO STREAM [FULL], lag with tombstones', () => both(bulkLines(), maskFull));
  it('XADD: IDs, options, errors, trimming', () => both(XADD, maskTimes));
  it('XRANGE / XREVRANGE / XDEL', () => both(RANGE));
  it('XTRIM', () => both(TRIM, maskTimes));
  it('XSETID', () => both(SETID, maskTimes));
  it('consumer groups: XGROUP, XREADGROUP, XPENDING, XACK, XINFO', () => both(GROUPS, maskTimes));
  it('XREAD (non-blocking forms and errors)', () => both(READ));
  it('XCLAIM / XAUTOCLAIM', () => both(CLAIM, maskTimes));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('blocking reads woken by XADD from another client', () => {
  it('ioredis: XREAD BLOCK on $ gets only the entry added after it blocked; a timeout answers nil', async () => {
    const reader = new Redis(sonic.port);
    const writer = new Redis(sonic.port);
    try {
      await writer.xadd('blk:a', '1-1', 'old', '1');
      const p = reader.xread('BLOCK', 5000, 'STREAMS', 'blk:a', '$');
      await sleep(50);
      const id = await writer.xadd('blk:a', '*', 'new', '2');
      expect(await p).toEqual([['blk:a', [[id, ['new', '2']]]]]);
      const t0 = Date.now();
      expect(await reader.xread('BLOCK', 100, 'STREAMS', 'blk:a', '$')).toBeNull();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
      // Several streams: the reply names the one that got data.
      const q = reader.xread('COUNT', 10, 'BLOCK', 5000, 'STREAMS', 'blk:none', 'blk:b', '0', '$');
      await sleep(50);
      await writer.xadd('blk:b', '7-7', 'f', 'v');
      expect(await q).toEqual([['blk:b', [['7-7', ['f', 'v']]]]]);
    } finally {
      reader.disconnect();
      writer.disconnect();
    }
  });

  it('node-redis (RESP3): XREADGROUP BLOCK > is served by XADD, then XACK clears the PEL', async () => {
    const reader = createClient({ socket: { port: sonic.port, host: '127.0.0.1' }, RESP: 3 });
    const writer = createClient({ socket: { port: sonic.port, host: '127.0.0.1' } });
    await Promise.all([reader.connect(), writer.connect()]);
    try {
      await writer.xGroupCreate('blk:g', 'grp', '$', { MKSTREAM: true });
      const p = reader.xReadGroup('grp', 'c1', { key: 'blk:g', id: '>' }, { BLOCK: 5000 });
      await sleep(50);
      const id = await writer.xAdd('blk:g', '*', { job: 'one' });
      const got = JSON.stringify(await p);
      expect(got).toContain(id);
      expect(got).toContain('one');
      expect(await writer.xPending('blk:g', 'grp')).toMatchObject({ pending: 1 });
      expect(await writer.xAck('blk:g', 'grp', id)).toBe(1);
      expect(await writer.xPending('blk:g', 'grp')).toMatchObject({ pending: 0 });
    } finally {
      await Promise.all([reader.quit(), writer.quit()]);
    }
  });

  it('XGROUP DESTROY ends a blocked XREADGROUP with the error redis-server gives', async () => {
    const errs: string[] = [];
    for (const port of [sonic.port, redis.port]) {
      const reader = new Redis(port);
      const admin = new Redis(port);
      try {
        await admin.xgroup('CREATE', 'blk:d', 'g', '$', 'MKSTREAM');
        const p = reader.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 5000, 'STREAMS', 'blk:d', '>').catch((e: Error) => e.message);
        await sleep(50);
        await admin.xgroup('DESTROY', 'blk:d', 'g');
        errs.push(String(await p));
      } finally {
        reader.disconnect();
        admin.disconnect();
      }
    }
    expect(errs[0]).toMatch(/^NOGROUP/);
    expect(errs[0]).toBe(errs[1]);
  });
});

describe('consumers sharing a stream', () => {
  it('three consumers split the entries, acknowledge them, and a live consumer claims what a dead one left', async () => {
    const conns = [new Redis(sonic.port), new Redis(sonic.port), new Redis(sonic.port)];
    const admin = new Redis(sonic.port);
    try {
      await admin.xgroup('CREATE', 'jobs', 'workers', '$', 'MKSTREAM');
      const N = 60;
      for (let i = 0; i < N; i++) await admin.xadd('jobs', '*', 'n', String(i));
      const done = new Map<string, string>();
      // Round-robin reads; consumer 2 "dies" after reading its first batch without acknowledging.
      for (let round = 0; round < 20 && done.size + 5 < N; round++) {
        for (let w = 0; w < 3; w++) {
          if (w === 2 && round > 0) continue;
          const r = (await conns[w]!.xreadgroup('GROUP', 'workers', `w${w}`, 'COUNT', 5, 'STREAMS', 'jobs', '>')) as [string, [string, string[]][]][] | null;
          if (r === null) continue;
          for (const [id] of r[0]![1]) {
            if (w === 2) continue;
            done.set(id, `w${w}`);
            await conns[w]!.xack('jobs', 'workers', id);
          }
        }
      }
      const pending = (await admin.xpending('jobs', 'workers')) as [number, string, string, [string, string][]];
      expect(pending[0]).toBe(5);
      expect(pending[3]).toEqual([['w2', '5']]);
      // Not idle long enough yet: nothing is claimed.
      expect(((await admin.xautoclaim('jobs', 'workers', 'w0', 60000, '0')) as unknown[])[1]).toEqual([]);
      await sleep(60);
      const [cursor, claimed, deleted] = (await conns[0]!.xautoclaim('jobs', 'workers', 'w0', 50, '0', 'COUNT', 3)) as [string, [string, string[]][], string[]];
      expect(claimed).toHaveLength(3);
      expect(deleted).toEqual([]);
      expect(cursor).not.toBe('0-0');
      const rest = (await conns[1]!.xclaim('jobs', 'workers', 'w1', 50, ...((await admin.xpending('jobs', 'workers', '-', '+', 10, 'w2')) as [string][]).map((x) => x[0]))) as [string, string[]][];
      expect(rest).toHaveLength(2);
      for (const [id] of claimed) await conns[0]!.xack('jobs', 'workers', id);
      for (const [id] of rest) await conns[1]!.xack('jobs', 'workers', id);
      expect(((await admin.xpending('jobs', 'workers')) as unknown[])[0]).toBe(0);
      const groups = (await admin.xinfo('GROUPS', 'jobs')) as unknown[][];
      expect(groups[0]).toEqual(['name', 'workers', 'consumers', 3, 'pending', 0, 'last-delivered-id', expect.any(String), 'entries-read', N, 'lag', 0]);
      expect(await admin.xlen('jobs')).toBe(N);
    } finally {
      for (const c of [...conns, admin]) c.disconnect();
    }
  });
});

describe('DUMP / RESTORE across servers', () => {
  it('a stream with several nodes, deletions, groups, PELs and 64-bit IDs goes redis-server -> Sonic -> redis-server unchanged', async () => {
    const s = new Redis(sonic.port);
    const r = new Redis(redis.port);
    try {
      for (let i = 1; i <= 250; i++) await r.xadd('rt:st', `${1000 + i}-${i % 3}`, 'f', String(i), ...(i % 7 === 0 ? ['g', 'x'.repeat(i * 3)] : []));
      await r.xdel('rt:st', '1005-2', '1100-1');
      await r.xgroup('CREATE', 'rt:st', 'g1', '0');
      await r.xgroup('CREATE', 'rt:st', 'g2', '$', 'ENTRIESREAD', '250');
      await r.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', '5', 'STREAMS', 'rt:st', '>');
      await r.xreadgroup('GROUP', 'g1', 'bob', 'COUNT', '3', 'STREAMS', 'rt:st', '>');
      await r.xgroup('CREATECONSUMER', 'rt:st', 'g1', 'carol');
      await r.xadd('rt:big', '18446744073709551615-5', 'a', '-9223372036854775808', 'b', '18446744073709551615');
      await r.xgroup('CREATE', 'rt:empty', 'g', '$', 'MKSTREAM');
      for (const k of ['rt:st', 'rt:big', 'rt:empty']) {
        const full = async (c: Redis) => JSON.stringify(await c.call('xinfo', 'stream', k, 'full', 'count', '0'));
        const before = await full(r);
        expect(await s.restore(k, 0, await r.dumpBuffer(k))).toBe('OK');
        expect(await full(s)).toBe(before.replace(/"radix-tree-nodes",\d+/, (await full(s)).match(/"radix-tree-nodes",\d+/)![0]));
        await r.del(k);
        expect(await r.restore(k, 0, await s.dumpBuffer(k))).toBe('OK');
        expect(await full(r)).toBe(before);
        expect(await s.type(k)).toBe('stream');
        expect(await s.object('ENCODING', k)).toBe('stream');
      }
      // COPY and TTL work as for any key.
      expect(await s.copy('rt:st', 'rt:copy')).toBe(1);
      await s.xadd('rt:copy', '*', 'only', 'copy');
      expect(await s.xlen('rt:copy')).toBe((await s.xlen('rt:st')) + 1);
      await s.pexpire('rt:copy', 50);
      await sleep(80);
      expect(await s.exists('rt:copy')).toBe(0);
    } finally {
      s.disconnect();
      r.disconnect();
    }
  });
});

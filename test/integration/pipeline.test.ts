/**
 * Pipelining: long pipelines through ioredis and as one raw write, pipelines that mix
 * errors (compared byte for byte with redis-server 7), and many clients pipelining at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { encodeCommand } from '@sonic/protocol';
import { RawConn, startRedis, startSonic, stopAll, type Proc } from './harness.js';

/** Writes `data` in one write and reads until `bytes` bytes arrived (or `ms` pass). */
function rawExchange(port: number, data: Buffer, done: (got: Buffer) => boolean, ms = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const parts: Buffer[] = [];
    let len = 0;
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`timed out after ${ms} ms with ${len} bytes`));
    }, ms);
    s.on('data', (d: Buffer) => {
      parts.push(d);
      len += d.length;
      const all = Buffer.concat(parts);
      if (done(all)) {
        clearTimeout(t);
        s.destroy();
        resolve(all);
      }
    });
    s.on('error', reject);
    s.connect(port, '127.0.0.1', () => s.write(data));
  });
}

describe('pipelines', () => {
  let sonic: Proc;
  let redis: Proc;
  beforeAll(async () => {
    [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
  });
  afterAll(stopAll);

  it('10,000 commands in one ioredis pipeline: every reply correct and in order', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    await r.connect();
    try {
      const p = r.pipeline();
      for (let i = 0; i < 10_000; i++) {
        if (i % 4 === 0) p.set(`p:${i}`, `v${i}`);
        else if (i % 4 === 1) p.get(`p:${i - 1}`);
        else if (i % 4 === 2) p.incr('p:counter');
        else p.echo(`e${i}`);
      }
      const res = await p.exec();
      expect(res).not.toBeNull();
      expect(res!.length).toBe(10_000);
      let counter = 0;
      for (let i = 0; i < 10_000; i++) {
        const [err, v] = res![i]!;
        expect(err).toBeNull();
        if (i % 4 === 0) expect(v).toBe('OK');
        else if (i % 4 === 1) expect(v).toBe(`v${i - 1}`);
        else if (i % 4 === 2) expect(v).toBe(++counter);
        else expect(v).toBe(`e${i}`);
      }
    } finally {
      r.disconnect();
    }
  });

  it('10,000 commands written raw in one write: 10,000 replies, in order', async () => {
    const cmds: Buffer[] = [];
    for (let i = 0; i < 5_000; i++) {
      cmds.push(encodeCommand(['SET', `raw:${i}`, `value-${i}`]));
      cmds.push(encodeCommand(['GET', `raw:${i}`]));
    }
    const want = Buffer.from(
      Array.from({ length: 5_000 }, (_, i) => `+OK\r\n$${`value-${i}`.length}\r\nvalue-${i}\r\n`).join(''),
      'latin1',
    );
    const got = await rawExchange(sonic.port, Buffer.concat(cmds), (b) => b.length >= want.length);
    expect(got.length).toBe(want.length);
    expect(got.equals(want)).toBe(true);
  });

  it('10,000 inline commands in one write', async () => {
    const data = Buffer.from('PING\r\n'.repeat(10_000));
    const want = '+PONG\r\n'.repeat(10_000);
    const got = await rawExchange(sonic.port, data, (b) => b.length >= want.length);
    expect(got.toString()).toBe(want);
  });

  it('a pipeline that mixes errors answers each command in place, byte for byte as Redis', async () => {
    const cmds: string[][] = [
      ['DEL', 'mx', 'ml', 'mn'],
      ['SET', 'mx', 'hello'],
      ['NOSUCHCOMMAND', 'a', 'b'],
      ['GET', 'mx'],
      ['GET'],
      ['INCR', 'mx'],
      ['LPUSH', 'mx', 'a'],
      ['SET', 'mn', '10'],
      ['INCRBY', 'mn', 'notanumber'],
      ['INCRBY', 'mn', '5'],
      ['SET', 'mx', 'v', 'EX', '-1'],
      ['SET', 'mx', 'v', 'BADOPT'],
      ['ECHO', 'after errors'],
      ['MULTI'],
      ['INCR', 'mn'],
      ['GET'],
      ['EXEC'],
      ['GET', 'mn'],
      ['PING'],
    ];
    const data = Buffer.concat(cmds.map((c) => encodeCommand(c)));
    // Each reply ends with the PONG of the last command.
    const end = (b: Buffer): boolean => b.toString('latin1').endsWith('+PONG\r\n');
    const [s, r] = await Promise.all([rawExchange(sonic.port, data, end), rawExchange(redis.port, data, end)]);
    expect(s.toString('latin1')).toBe(r.toString('latin1'));
    expect(s.toString('latin1')).toContain('-WRONGTYPE');
    expect(s.toString('latin1')).toContain('-EXECABORT');
  });

  it('ioredis pipeline with errors: per-command errors, others unaffected', async () => {
    const r = new Redis({ port: sonic.port, lazyConnect: true });
    await r.connect();
    try {
      const res = await r.pipeline().set('pe', 'x').incr('pe').get('pe').lpush('pe', 'a').echo('ok').exec();
      expect(res!.map(([e]) => (e ? e.message.split(' ')[0] : null))).toEqual([null, 'ERR', null, 'WRONGTYPE', null]);
      expect(res![2]![1]).toBe('x');
      expect(res![4]![1]).toBe('ok');
    } finally {
      r.disconnect();
    }
  });

  it('20 clients pipelining 2,000 commands each at once', async () => {
    const clients = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = new Redis({ port: sonic.port, lazyConnect: true });
        await c.connect();
        return c;
      }),
    );
    try {
      const results = await Promise.all(
        clients.map((c, ci) => {
          const p = c.pipeline();
          for (let i = 0; i < 2_000; i++) {
            p.incr(`mc:own:${ci}`);
            if (i % 2 === 0) p.incr('mc:shared');
          }
          return p.exec();
        }),
      );
      results.forEach((res) => {
        // Own counters count 1..2000 in order, regardless of the interleaving with others.
        let expectOwn = 0;
        let k = 0;
        for (let i = 0; i < 2_000; i++) {
          const [err, v] = res![k++]!;
          expect(err).toBeNull();
          expect(v).toBe(++expectOwn);
          if (i % 2 === 0) {
            const [e2, v2] = res![k++]!;
            expect(e2).toBeNull();
            expect(typeof v2).toBe('number');
          }
        }
        expect(k).toBe(res!.length);
      });
      const check = await RawConn.open(sonic.port);
      expect(await check.call('GET', 'mc:shared')).toBe(String(20 * 1_000));
      check.close();
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it('a large value in the middle of a pipeline keeps the replies around it in order', async () => {
    const big = 'B'.repeat(3 * 1024 * 1024);
    const c = await RawConn.open(sonic.port);
    c.send('SET', 'pbig', big);
    c.send('GET', 'pbig');
    c.send('PING');
    c.send('STRLEN', 'pbig');
    expect(await c.read()).toBe('OK');
    expect(await c.read(10_000)).toBe(big);
    expect(await c.read()).toBe('PONG');
    expect(await c.read()).toBe(big.length);
    c.close();
  });
});

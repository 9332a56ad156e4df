import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startSonic, startRedis, stopAll, RawConn, type Proc } from './harness.js';

function text(v: unknown): string {
  return v instanceof Error ? v.message : String(v);
}

describe('transactions', () => {
  let node: Proc;
  let ref: Proc;
  beforeAll(async () => {
    node = await startSonic();
    ref = await startRedis();
  });
  afterAll(stopAll);

  it('MULTI/EXEC runs the queue; DISCARD drops it', async () => {
    const c = await RawConn.open(node.port);
    try {
      expect(await c.call('MULTI')).toBe('OK');
      expect(await c.call('SET', 'tx-a', '1')).toBe('QUEUED');
      expect(await c.call('INCR', 'tx-a')).toBe('QUEUED');
      expect(await c.call('GET', 'tx-a')).toBe('QUEUED');
      expect(await c.call('EXEC')).toEqual(['OK', 2, '2']);
      expect(await c.call('MULTI')).toBe('OK');
      expect(await c.call('SET', 'tx-a', '100')).toBe('QUEUED');
      expect(await c.call('DISCARD')).toBe('OK');
      expect(await c.call('GET', 'tx-a')).toBe('2');
      expect(text(await c.call('EXEC'))).toBe('ERR EXEC without MULTI');
      expect(text(await c.call('DISCARD'))).toBe('ERR DISCARD without MULTI');
      await c.call('MULTI');
      expect(text(await c.call('MULTI'))).toBe('ERR MULTI calls can not be nested');
      await c.call('DISCARD');
    } finally {
      c.close();
    }
  });

  it('a runtime error inside EXEC fails only that command', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('SET', 'tx-str', 'abc');
      await c.call('MULTI');
      await c.call('INCR', 'tx-str');
      await c.call('SET', 'tx-b', 'ok');
      const res = (await c.call('EXEC')) as unknown[];
      expect(text(res[0])).toBe('ERR value is not an integer or out of range');
      expect(res[1]).toBe('OK');
    } finally {
      c.close();
    }
  });

  it('a queued syntax or arity error aborts EXEC with EXECABORT, as redis-server does', async () => {
    for (const port of [node.port, ref.port]) {
      const c = await RawConn.open(port);
      try {
        await c.call('DEL', 'tx-abort');
        expect(await c.call('MULTI')).toBe('OK');
        expect(await c.call('SET', 'tx-abort', '1')).toBe('QUEUED');
        expect(text(await c.call('GET'))).toBe("ERR wrong number of arguments for 'get' command");
        expect(text(await c.call('NOSUCHCMD', 'x'))).toBe("ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' ");
        expect(text(await c.call('EXEC'))).toBe('EXECABORT Transaction discarded because of previous errors.');
        expect(await c.call('GET', 'tx-abort')).toBe(null);
      } finally {
        c.close();
      }
    }
  });

  it('WATCH then a change from another client makes EXEC return nil', async () => {
    const a = new Redis({ port: node.port });
    const b = new Redis({ port: node.port });
    try {
      await a.set('watched', '1');
      expect(await a.watch('watched')).toBe('OK');
      await b.set('watched', '2');
      const res = await a.multi().set('watched', '3').exec();
      expect(res).toBe(null);
      expect(await a.get('watched')).toBe('2');
      // Without an interfering write the transaction goes through.
      await a.watch('watched');
      expect(await a.multi().set('watched', '4').exec()).toEqual([[null, 'OK']]);
      expect(await b.get('watched')).toBe('4');
      // UNWATCH forgets the key.
      await a.watch('watched');
      await b.set('watched', '5');
      await a.unwatch();
      expect(await a.multi().get('watched').exec()).toEqual([[null, '5']]);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  it('WATCH races: concurrent optimistic increments never lose an update', async () => {
    const clients = Array.from({ length: 4 }, () => new Redis({ port: node.port }));
    try {
      await clients[0]!.set('counter', '0');
      const perClient = 25;
      let retries = 0;
      const worker = async (r: Redis) => {
        for (let done = 0; done < perClient; ) {
          if (retries > 10_000) throw new Error('too many retries');
          await r.watch('counter');
          const v = Number(await r.get('counter'));
          const res = await r.multi().set('counter', String(v + 1)).exec();
          if (res === null) retries++;
          else done++;
        }
      };
      await Promise.all(clients.map(worker));
      expect(await clients[0]!.get('counter')).toBe(String(4 * perClient));
    } finally {
      for (const r of clients) r.disconnect();
    }
  });

  it('WATCH inside MULTI is refused; a watched key that expires fails EXEC', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('MULTI');
      expect(text(await c.call('WATCH', 'x'))).toBe('ERR WATCH inside MULTI is not allowed');
      await c.call('DISCARD');
      await c.call('SET', 'exp-w', '1', 'PX', '50');
      await c.call('WATCH', 'exp-w');
      await new Promise((res) => setTimeout(res, 120));
      await c.call('MULTI');
      await c.call('GET', 'exp-w');
      expect(await c.call('EXEC')).toBe(null);
    } finally {
      c.close();
    }
  });
});

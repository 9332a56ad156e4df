/**
 * @sonic/client against a standalone `sonic node`: RESP3 and RESP2, AUTH, typed errors, Buffers in and out, pipelines,
 * MULTI, scripts, pub/sub that survives a restart of the node, the blocking pool, and a
 * write in flight when the node dies reported as of unknown outcome.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ReplyError, WriteOutcomeUnknownError, type ClientOptions } from '@sonic/client';
import { client as make, closeClients } from './client-helpers.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { SONIC, freePort, startSonic, stopAll } from './harness.js';
import { waitForPort } from './controller-helpers.js';

const extra: ChildProcess[] = [];
const client = (o: ClientOptions) => make({ reconnectBaseMs: 20, reconnectMaxMs: 200, ...o });

afterAll(async () => {
  closeClients();
  for (const p of extra) p.kill('SIGKILL');
  await stopAll();
});


describe('client against a standalone sonic node', () => {
  it('commands over RESP3 and RESP2, AUTH, Buffers, typed errors', async () => {
    const n = await startSonic(['--requirepass', 'pw']);
    for (const protocol of [3, 2] as const) {
      const c = client({ port: n.port, password: 'pw', protocol });
      expect(await c.set('s', 'héllo')).toBe('OK');
      expect(await c.get('s')).toBe('héllo');
      expect(await c.callBuffer('GET', 's')).toEqual(Buffer.from('héllo'));
      const bin = Buffer.from([0, 255, 13, 10, 128]);
      await c.set('bin', bin);
      expect(await c.callBuffer('GET', 'bin')).toEqual(bin);
      await c.hset('h', 'a', '1', 'b', '2');
      expect(await c.hgetall('h')).toEqual({ a: '1', b: '2' });
      expect(await c.incrby('n', 5)).toBeGreaterThan(0);
      const e = await c.lpush('s', 'x').catch((x: Error) => x);
      expect(e).toBeInstanceOf(ReplyError);
      expect((e as ReplyError).code).toBe('WRONGTYPE');
      expect(await c.call('OBJECT', 'ENCODING', 'n')).toBe('int');
    }
    const noAuth = client({ port: n.port });
    const e = await noAuth.get('s').catch((x: Error) => x);
    expect((e as ReplyError).code).toBe('NOAUTH');
    const bad = client({ port: n.port, password: 'wrong' });
    const errs: Error[] = [];
    bad.on('error', (x) => errs.push(x));
    for (let i = 0; i < 100 && errs.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((errs[0] as ReplyError).code).toBe('WRONGPASS');
  });

  it('pipelines, MULTI, scripts, the blocking pool', async () => {
    const n = await startSonic();
    const c = client({ port: n.port, blockingPoolSize: 2 });
    const r = await c.pipeline().set('a', '1').incr('a').get('a').exec();
    expect(r).toEqual([[null, 'OK'], [null, 2], [null, '2']]);
    expect(await c.multi().incr('a').incr('a').exec()).toEqual([3, 4]);
    const sc = c.script('return {KEYS[1], ARGV[1]}');
    expect(await sc.run(['k'], ['v'])).toEqual(['k', 'v']);
    expect(await c.scriptExists(sc.sha)).toEqual([1]);
    // Three pops on a pool of two: the third waits for a free connection; plain commands go on.
    const pops = [c.blpop('q1', 5), c.blpop('q2', 5), c.blpop('q3', 5)];
    expect(await c.ping()).toBe('PONG');
    await c.rpush('q1', 'a');
    await c.rpush('q2', 'b');
    await c.rpush('q3', 'c');
    expect(await Promise.all(pops)).toEqual([['q1', 'a'], ['q2', 'b'], ['q3', 'c']]);
    // Many commands in one turn.
    const vals = await Promise.all(Array.from({ length: 5000 }, (_, i) => c.set(`many:${i}`, String(i))));
    expect(vals.every((v) => v === 'OK')).toBe(true);
    expect(await c.dbsize()).toBeGreaterThan(5000);
  });

  it('pub/sub resubscribes after the node restarts; a write in flight at the crash is of unknown outcome', async () => {
    const n = await startSonic(['--save', '', '--appendonly', 'no']);
    const c = client({ port: n.port, retryTimeoutMs: 20000 });
    const sub = client({ port: n.port });
    const got: string[] = [];
    sub.on('message', (ch, m) => got.push(`${ch}:${m}`));
    sub.on('pmessage', (p, ch, m) => got.push(`${p}|${ch}:${m}`));
    await sub.subscribe('ch');
    await sub.psubscribe('p.*');
    expect(await c.publish('ch', 'one')).toBe(1);
    await c.publish('p.x', 'two');
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['ch:one', 'p.*|p.x:two']);
    // A write the node never answers: CLIENT PAUSE WRITE holds it, and the node dies meanwhile.
    expect(await c.clientPause(5000, 'WRITE')).toBe('OK');
    const held = c.set('k', 'v').catch((x: Error) => x);
    await new Promise((r) => setTimeout(r, 200));
    const port = n.port;
    n.child.kill('SIGKILL');
    expect(await held).toBeInstanceOf(WriteOutcomeUnknownError);
    // The same port again (a restart in place).
    const again = spawn(process.execPath, [SONIC, 'node', '--port', String(port), '--bus-port', String(await freePort()), '--dir', n.dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    extra.push(again);
    await waitForPort(port);
    for (let i = 0; i < 300 && !got.includes('ch:three'); i++) {
      await c.publish('ch', 'three');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toContain('ch:three');
    expect(await c.get('k')).toBe(null);
  });
});

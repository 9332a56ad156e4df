import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { encodeCommand } from '@sonic/protocol';
import { Config } from '../config/config.js';
import { Server } from './server.js';
import { Client } from './client.js';

/** A raw connection: write bytes, wait for a number of reply bytes. */
class Raw {
  data = '';
  private waiters: (() => void)[] = [];
  constructor(readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.data += d;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static open(port: number): Promise<Raw> {
    return new Promise((res, rej) => {
      const s = connect({ port, host: '127.0.0.1' }, () => res(new Raw(s)));
      s.once('error', rej);
    });
  }
  send(b: Buffer | string): Promise<void> {
    return new Promise((res) => this.sock.write(b, 'latin1', () => res()));
  }
  async until(pred: (d: string) => boolean, ms = 5000): Promise<string> {
    const end = Date.now() + ms;
    while (!pred(this.data)) {
      if (Date.now() > end) throw new Error(`timeout; got ${JSON.stringify(this.data.slice(0, 200))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.data;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cmd = (...a: string[]) => encodeCommand(a);

describe('client input through the shared read buffer', () => {
  let server: Server;
  beforeAll(async () => {
    const config = new Config();
    config.set('port', '0');
    config.set('bind', '127.0.0.1');
    server = new Server(config, pino({ level: 'silent' }));
    await server.listen();
  });
  afterAll(async () => {
    await server.shutdown('test', false);
  });

  it('partial commands survive other clients reading into the same buffer', async () => {
    const a = await Raw.open(server.port);
    const b = await Raw.open(server.port);
    const whole = Buffer.concat([cmd('SET', 'a', 'hello'), cmd('GET', 'a')]);
    // A sends half a command; B's pipeline then fills the shared buffer; A finishes.
    await a.send(whole.subarray(0, 17));
    await sleep(30);
    const pipeline: Buffer[] = [];
    for (let i = 0; i < 2000; i++) pipeline.push(cmd('SET', `b:${i}`, 'x'.repeat(20 + (i % 50))));
    await b.send(Buffer.concat(pipeline));
    await b.until((d) => d.split('+OK\r\n').length - 1 === 2000);
    await a.send(whole.subarray(17));
    expect(await a.until((d) => d.endsWith('$5\r\nhello\r\n'))).toBe('+OK\r\n$5\r\nhello\r\n');
    a.sock.destroy();
    b.sock.destroy();
  });

  it('a large argument arriving in pieces between other clients\' reads comes out intact', async () => {
    const a = await Raw.open(server.port);
    const b = await Raw.open(server.port);
    let big = '';
    for (let i = 0; i < 300_000; i++) big += String.fromCharCode((i * 31) & 255);
    const data = Buffer.concat([cmd('SET', 'big', big), cmd('STRLEN', 'big'), cmd('GET', 'big')]);
    for (let at = 0, k = 0; at < data.length; at += 50_000, k++) {
      await a.send(data.subarray(at, at + 50_000));
      await b.send(cmd('SET', `other:${k}`, 'y'.repeat(1000 + k)));
      await sleep(5);
    }
    const head = '+OK\r\n:300000\r\n$300000\r\n';
    const got = await a.until((d) => d.length >= head.length + 300_000 + 2);
    expect(got.startsWith(head)).toBe(true);
    expect(got.slice(head.length, -2) === big).toBe(true);
    a.sock.destroy();
    b.sock.destroy();
  });

  it('a blocked client keeps its pipelined commands until it is served', async () => {
    const a = await Raw.open(server.port);
    const b = await Raw.open(server.port);
    await a.send(Buffer.concat([cmd('BLPOP', 'q', '0'), cmd('SET', 'after', '1'), cmd('GET', 'after')]));
    await sleep(30);
    for (let i = 0; i < 50; i++) await b.send(cmd('SET', `fill:${i}`, 'z'.repeat(3000)));
    await b.send(cmd('RPUSH', 'q', 'v'));
    expect(await a.until((d) => d.endsWith('$1\r\n1\r\n'))).toBe('*2\r\n$1\r\nq\r\n$1\r\nv\r\n+OK\r\n$1\r\n1\r\n');
    a.sock.destroy();
    b.sock.destroy();
  });

  it('a client that disconnects is freed', async () => {
    const a = await Raw.open(server.port);
    await a.send(cmd('PING'));
    await a.until((d) => d === '+PONG\r\n');
    const before = server.clients.size;
    a.sock.end();
    for (let i = 0; i < 100 && server.clients.size >= before; i++) await sleep(10);
    expect(server.clients.size).toBe(before - 1);
  });
});

describe('command timing in pipelined batches', () => {
  function setup(): { server: Server; feed: (...cmds: string[][]) => void; c: Client } {
    const config = new Config();
    config.set('enable-debug-command', 'yes');
    const server = new Server(config, pino({ level: 'silent' }));
    const c = new Client(server, null);
    server.clients.set(c.id, c);
    const feed = (...cmds: string[][]): void => {
      c.parser.push(Buffer.concat(cmds.map((a) => encodeCommand(a))));
      server.processInput(c);
    };
    return { server, feed, c };
  }

  it('grouped fast commands each count a call, a histogram entry and a slow-log entry of their own', () => {
    const { server, feed } = setup();
    server.config.set('slowlog-log-slower-than', '0');
    const cmds: string[][] = [];
    for (let i = 0; i < 40; i++) cmds.push(i % 2 ? ['GET', `k${i}`] : ['SET', `k${i}`, 'v']);
    feed(...cmds);
    expect(server.commandStats.get('set')!.calls).toBe(20);
    expect(server.commandStats.get('get')!.calls).toBe(20);
    expect(server.latencyHistograms.byCommand.get('get')!.count).toBe(20);
    const logged = server.slowlog.entries.map((e) => e.argv.join(' ')).reverse();
    expect(logged).toEqual(cmds.map((a) => a.join(' ')));
  });

  it('a slow command in a pipeline is timed on its own; the fast ones around it are not charged for it', () => {
    const { server, feed } = setup();
    server.config.set('slowlog-log-slower-than', '20000');
    feed(['SET', 'a', '1'], ['GET', 'a'], ['DEBUG', 'SLEEP', '0.05'], ['GET', 'a'], ['INCR', 'n']);
    const logged = server.slowlog.entries.map((e) => e.argv.join(' '));
    expect(logged).toEqual(['DEBUG SLEEP 0.05']);
    expect(server.slowlog.entries[0]!.usec).toBeGreaterThanOrEqual(45_000);
    expect(server.commandStats.get('get')!.usec).toBeLessThan(20_000);
    expect(server.commandStats.get('debug')!.usec).toBeGreaterThanOrEqual(45_000);
  });

  it('commands run by EXEC are timed and counted one by one', () => {
    const { server, feed } = setup();
    feed(['MULTI'], ['SET', 'a', '1'], ['INCR', 'a'], ['GET', 'a'], ['EXEC'], ['GET', 'a']);
    expect(server.commandStats.get('set')!.calls).toBe(1);
    expect(server.commandStats.get('incr')!.calls).toBe(1);
    expect(server.commandStats.get('get')!.calls).toBe(2);
    expect(server.commandStats.get('exec')!.calls).toBe(1);
    expect(server.latencyHistograms.byCommand.get('get')!.count).toBe(2);
  });

  it('CONFIG RESETSTAT in a pipeline: commands before it are settled first, after it count anew', () => {
    const { server, feed } = setup();
    feed(['SET', 'a', '1'], ['SET', 'a', '2'], ['CONFIG', 'RESETSTAT'], ['SET', 'a', '3']);
    expect(server.commandStats.get('set')!.calls).toBe(1);
    expect(server.latencyHistograms.byCommand.get('set')!.count).toBe(1);
  });
});

describe('shutdown with clients on adopted sockets', () => {
  it('waits until every client socket has closed, after writing what was pending', async () => {
    const config = new Config();
    config.set('port', '0');
    config.set('bind', '127.0.0.1');
    const server = new Server(config, pino({ level: 'silent' }));
    await server.listen();
    const a = await Raw.open(server.port);
    await a.send(cmd('PING'));
    await a.until((d) => d === '+PONG\r\n');
    // A reply large enough to need several writes is pending when the shutdown starts.
    const big = 'q'.repeat(4 * 1024 * 1024);
    server.keyspace.dbs[0]!.set('big', big);
    a.sock.pause();
    await a.send(cmd('GET', 'big'));
    await sleep(50);
    let stopped = false;
    const done = server.shutdown('test', false).then(() => (stopped = true));
    await sleep(100);
    expect(stopped).toBe(false);
    a.sock.resume();
    await done;
    // Everything written before the close arrives.
    const want = '+PONG\r\n'.length + `$${big.length}\r\n`.length + big.length + 2;
    expect((await a.until((d) => d.length >= want)).length).toBe(want);
  });
});

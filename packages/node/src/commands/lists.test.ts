import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Config } from '../config/config.js';
import { Server } from '../server/server.js';
import { Client } from '../server/client.js';

/** A server without sockets, recording its propagation stream. */
function setup(): { server: Server; run: (c: Client, ...argv: string[]) => void; client: () => Client; stream: string[] } {
  const server = new Server(new Config(), pino({ level: 'silent' }));
  const stream: string[] = [];
  server.keyspace.onPropagate((db, argv) => stream.push(`${db} ${argv.join(' ')}`));
  const client = (): Client => {
    const c = new Client(server, null);
    server.clients.set(c.id, c);
    return c;
  };
  const run = (c: Client, ...argv: string[]): void => server.processCommand(c, argv);
  return { server, run, client, stream };
}

describe('list propagation', () => {
  it('non-blocking commands propagate as themselves; LMPOP as LPOP/RPOP with the count popped', () => {
    const { run, client, stream } = setup();
    const c = client();
    run(c, 'rpush', 'l', 'a', 'b', 'c');
    run(c, 'lpop', 'l', '0');
    run(c, 'lpop', 'nokey');
    run(c, 'lmove', 'l', 'm', 'LEFT', 'RIGHT');
    run(c, 'lmpop', '2', 'x', 'l', 'RIGHT', 'COUNT', '10');
    run(c, 'linsert', 'm', 'before', 'zz', 'q');
    expect(stream).toEqual(['0 rpush l a b c', '0 lmove l m LEFT RIGHT', '0 RPOP l 2']);
  });

  it('blocking pops served at once or later propagate their non-blocking form, after the push', () => {
    const { server, run, client, stream } = setup();
    const [a, b, c, p] = [client(), client(), client(), client()];
    run(p, 'rpush', 'l', 'x');
    run(p, 'blpop', 'l', '0');
    run(a, 'brpop', 'q', '0');
    run(b, 'blmove', 'src', 'q', 'RIGHT', 'LEFT', '0');
    run(c, 'blmpop', '0', '2', 'n', 'src', 'LEFT', 'COUNT', '5');
    expect(server.blockedCount).toBe(3);
    run(p, 'rpush', 'src', '1', '2', '3');
    expect(server.blockedCount).toBe(0);
    expect(stream).toEqual([
      '0 rpush l x',
      '0 LPOP l',
      '0 rpush src 1 2 3',
      // Every waiter on src is served before the waiters of q, which became ready meanwhile (as Redis).
      '0 LMOVE src q RIGHT LEFT',
      '0 LPOP src 2',
      '0 RPOP q',
    ]);
  });

  it('a blocked BRPOPLPUSH propagates as LMOVE; nothing is propagated for a timeout', async () => {
    const { server, run, client, stream } = setup();
    const [a, p] = [client(), client()];
    run(a, 'brpoplpush', 's', 'd', '0');
    run(p, 'lpush', 's', 'v');
    expect(stream).toEqual(['0 lpush s v', '0 LMOVE s d RIGHT LEFT']);
    expect(server.blockedCount).toBe(0);
    run(a, 'blpop', 't', '0.01');
    expect(server.blockedCount).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(server.blockedCount).toBe(0);
    expect(stream).toHaveLength(2);
  });
});

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

describe('sorted-set propagation', () => {
  it('writes propagate as themselves only when they change something; ZMPOP as ZPOPMIN/ZPOPMAX with the count popped', () => {
    const { run, client, stream } = setup();
    const c = client();
    run(c, 'zadd', 'z', '1', 'a', '2', 'b', '3', 'c');
    run(c, 'zadd', 'z', 'nx', '5', 'a');
    run(c, 'zrem', 'z', 'nothere');
    run(c, 'zincrby', 'z', '1', 'a');
    run(c, 'zpopmin', 'nokey');
    run(c, 'zmpop', '2', 'x', 'z', 'MAX', 'COUNT', '10');
    run(c, 'zrangestore', 'd', 'nokey', '0', '-1');
    run(c, 'zunionstore', 'u', '1', 'nokey');
    expect(stream).toEqual(['0 zadd z 1 a 2 b 3 c', '0 zincrby z 1 a', '0 ZPOPMAX z 3']);
  });

  it('blocking pops propagate their non-blocking form after the write that served them; a timeout propagates nothing', async () => {
    const { server, run, client, stream } = setup();
    const [a, b, p] = [client(), client(), client()];
    run(p, 'zadd', 'z', '1', 'x');
    run(p, 'bzpopmax', 'z', '0');
    run(a, 'bzpopmin', 'q', 'w', '0');
    run(b, 'bzmpop', '0', '1', 'w', 'MAX', 'COUNT', '5');
    expect(server.blockedCount).toBe(2);
    run(p, 'zadd', 'w', '1', 'm', '2', 'n', '3', 'o');
    expect(server.blockedCount).toBe(0);
    expect(stream).toEqual(['0 zadd z 1 x', '0 ZPOPMAX z', '0 zadd w 1 m 2 n 3 o', '0 ZPOPMIN w', '0 ZPOPMAX w 2']);
    run(a, 'bzpopmin', 't', '0.01');
    expect(server.blockedCount).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(server.blockedCount).toBe(0);
    expect(stream).toHaveLength(5);
  });
});

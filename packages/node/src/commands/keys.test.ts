import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Config } from '../config/config.js';
import { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import { createDumpPayload } from '../persistence/rdb-value.js';

/** A server without sockets, recording its propagation stream. */
function setup(): { server: Server; run: (...argv: string[]) => void; stream: string[]; c: Client } {
  const server = new Server(new Config(), pino({ level: 'silent' }));
  const stream: string[] = [];
  server.keyspace.onPropagate((db, argv) => stream.push(`${db} ${argv.join(' ')}`));
  const c = new Client(server, null);
  server.clients.set(c.id, c);
  const run = (...argv: string[]): void => server.processCommand(c, argv);
  return { server, run, stream, c };
}

describe('generic family propagation', () => {
  it('relative expires propagate as PEXPIREAT with the absolute time; past ones as DEL', () => {
    const { run, stream } = setup();
    run('set', 'k', 'v');
    const before = Date.now();
    run('expire', 'k', '100', 'NX');
    run('pexpire', 'k', '5000');
    run('expireat', 'k', '4102444800');
    run('pexpireat', 'k', '4102444800123', 'gt');
    run('expire', 'missing', '10');
    run('expire', 'k', '10', 'nx'); // condition fails: nothing propagated
    run('expire', 'k', '-1');
    expect(stream.length).toBe(6);
    expect(stream[0]).toBe('0 set k v');
    const m1 = /^0 PEXPIREAT k (\d+) NX$/.exec(stream[1]!);
    expect(m1).not.toBeNull();
    const at = Number(m1![1]);
    expect(at).toBeGreaterThanOrEqual(before + 100_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 100_000);
    expect(stream[2]).toMatch(/^0 PEXPIREAT k \d+$/);
    expect(stream[3]).toBe('0 PEXPIREAT k 4102444800000');
    expect(stream[4]).toBe('0 PEXPIREAT k 4102444800123 gt');
    expect(stream[5]).toBe('0 DEL k');
  });

  it('writes that change nothing propagate nothing; the others as themselves', () => {
    const { run, stream } = setup();
    run('del', 'none');
    run('persist', 'none');
    run('rename', 'none', 'x');
    run('set', 'a', '1');
    run('persist', 'a');
    run('del', 'a', 'b');
    run('set', 'a', '1');
    run('rename', 'a', 'b');
    run('renamenx', 'b', 'c');
    run('copy', 'c', 'd', 'DB', '2');
    run('copy', 'c', 'd');
    run('move', 'd', '3');
    run('move', 'd', '3');
    run('unlink', 'c');
    expect(stream).toEqual(['0 set a 1', '0 del a b', '0 set a 1', '0 rename a b', '0 renamenx b c', '0 copy c d DB 2', '0 copy c d', '0 move d 3', '0 unlink c']);
  });

  it('RESTORE with a relative TTL propagates the absolute time and ABSTTL; an expired one with REPLACE as DEL', () => {
    const { run, stream } = setup();
    const payload = createDumpPayload('v').toString('latin1');
    run('restore', 'k', '0', payload);
    run('restore', 'k', '100000', payload, 'REPLACE');
    run('restore', 'k', '1', payload, 'ABSTTL', 'REPLACE');
    run('restore', 'gone', '1', payload, 'ABSTTL');
    expect(stream.length).toBe(3);
    expect(stream[0]).toBe(`0 restore k 0 ${payload}`);
    expect(stream[1]).toMatch(new RegExp(`^0 restore k \\d{13} ${escape(payload)} REPLACE ABSTTL$`));
    expect(stream[2]).toBe('0 DEL k');
  });

  it('a lazily expired key met by SCAN, EXISTS or a write is propagated as DEL once', () => {
    const { server, run, stream } = setup();
    run('set', 'k', 'v', 'PX', '1');
    const until = Date.now() + 5;
    while (Date.now() < until) {
      /* wait for the key's time to pass */
    }
    run('scan', '0');
    run('exists', 'k');
    run('del', 'k');
    expect(stream.filter((l) => l === '0 DEL k')).toEqual(['0 DEL k']);
    expect(server.keyspace.dbs[0]!.size).toBe(0);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

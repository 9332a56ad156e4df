import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Config } from '../config/config.js';
import { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import { SetValue } from '../engine/set.js';
import { HashValue } from '../engine/hash.js';

/** A server without sockets, recording its propagation stream. */
function setup(): { server: Server; run: (...argv: string[]) => void; stream: string[] } {
  const server = new Server(new Config(), pino({ level: 'silent' }));
  const stream: string[] = [];
  server.keyspace.onPropagate((db, argv) => stream.push(`${db} ${argv.join(' ')}`));
  const c = new Client(server, null);
  server.clients.set(c.id, c);
  return { server, run: (...argv) => server.processCommand(c, argv), stream };
}

describe('set propagation', () => {
  it('SPOP propagates SREM of what it popped, or DEL when it takes the whole set', () => {
    const { server, run, stream } = setup();
    run('sadd', 's', 'a', 'b', 'c', 'd', 'e');
    run('spop', 's');
    run('spop', 's', '2');
    run('spop', 'nokey');
    run('spop', 'nokey', '3');
    run('spop', 's', '0');
    const left = [...(server.keyspace.dbs[0]!.dict.get('s') as SetValue)].sort();
    run('spop', 's', '10');
    expect(server.keyspace.dbs[0]!.dict.has('s')).toBe(false);
    expect(stream[0]).toBe('0 sadd s a b c d e');
    expect(stream[1]).toMatch(/^0 SREM s [a-e]$/);
    expect(stream[2]).toMatch(/^0 SREM s [a-e] [a-e]$/);
    const popped = [stream[1]!.split(' ')[3], ...stream[2]!.split(' ').slice(3)];
    expect(new Set([...popped, ...left]).size).toBe(5);
    expect(left.length).toBe(2);
    expect(stream.slice(3)).toEqual(['0 DEL s']);
  });

  it('writes that change nothing propagate nothing; STORE variants propagate as themselves', () => {
    const { run, stream } = setup();
    run('sadd', 's', 'a');
    run('sadd', 's', 'a');
    run('srem', 's', 'zz');
    run('smove', 's', 'd', 'zz');
    run('smove', 's', 's', 'a');
    run('sinterstore', 'dst', 'nokey');
    run('sunionstore', 'dst', 's');
    run('sinterstore', 'dst', 'nokey');
    run('smove', 's', 'd', 'a');
    expect(stream).toEqual(['0 sadd s a', '0 sunionstore dst s', '0 sinterstore dst nokey', '0 smove s d a']);
  });
});

describe('hash propagation', () => {
  it('HINCRBYFLOAT propagates as HSET of the new value; no-op writes propagate nothing', () => {
    const { server, run, stream } = setup();
    run('hset', 'h', 'f', '1');
    run('hincrbyfloat', 'h', 'f', '0.5');
    run('hincrbyfloat', 'h', 'g', 'x');
    run('hincrby', 'h', 'n', '2');
    run('hdel', 'h', 'zz');
    run('hsetnx', 'h', 'f', 'v');
    run('hdel', 'h', 'f', 'n');
    expect(server.keyspace.dbs[0]!.dict.has('h')).toBe(false);
    expect(stream).toEqual(['0 hset h f 1', '0 HSET h f 1.5', '0 hincrby h n 2', '0 hdel h f n']);
    run('hset', 'h2', 'a', '1', 'b', '2');
    expect([...(server.keyspace.dbs[0]!.dict.get('h2') as HashValue).map]).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });
});

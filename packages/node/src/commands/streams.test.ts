import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Config } from '../config/config.js';
import { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import { StreamValue, formatId } from '../engine/stream.js';

/** A server without sockets, recording its propagation stream. */
function setup(): { server: Server; run: (c: Client, ...argv: string[]) => void; client: () => Client; stream: string[][] } {
  const server = new Server(new Config(), pino({ level: 'silent' }));
  const stream: string[][] = [];
  server.keyspace.onPropagate((_db, argv) => stream.push([...argv]));
  const client = (): Client => {
    const c = new Client(server, null);
    server.clients.set(c.id, c);
    return c;
  };
  const run = (c: Client, ...argv: string[]): void => server.processCommand(c, argv);
  return { server, run, client, stream };
}

/** Everything a replica must rebuild (consumers' seen times are local and left out). */
function state(server: Server, key: string): unknown {
  const s = server.keyspace.dbs[0]!.dict.get(key) as StreamValue | undefined;
  if (s === undefined) return undefined;
  return {
    entries: [...s.entries].map(([id, f]) => [formatId(id), f]),
    last: formatId(s.lastId),
    maxDeleted: formatId(s.maxDeletedId),
    added: s.entriesAdded,
    groups: s.sortedGroups().map((g) => ({
      name: g.name,
      last: formatId(g.lastId),
      read: g.entriesRead,
      pel: [...g.pel].map(([id, n]) => [formatId(id), n.consumer.name, n.deliveryTime, n.deliveryCount]),
      consumers: g.sortedConsumers().map((c) => [c.name, [...c.pel].map(([id]) => formatId(id))]),
    })),
  };
}

describe('stream propagation', () => {
  it('a replica replaying the propagated commands rebuilds the same streams and groups', () => {
    const p = setup();
    const [a, b, w] = [p.client(), p.client(), p.client()];
    p.run(w, 'xgroup', 'create', 's', 'g', '$', 'mkstream');
    p.run(w, 'xgroup', 'create', 's', 'g2', '$');
    for (let i = 0; i < 30; i++) p.run(w, 'xadd', 's', 'maxlen', '~', '20', '*', 'n', String(i));
    p.run(w, 'xadd', 's', 'minid', '=', '0-1', '5-*', 'x', 'y');
    p.run(a, 'xreadgroup', 'group', 'g', 'alice', 'count', '3', 'streams', 's', '>');
    p.run(b, 'xreadgroup', 'group', 'g', 'bob', 'count', '2', 'streams', 's', '>');
    p.run(b, 'xreadgroup', 'group', 'g2', 'bob', 'noack', 'streams', 's', '>');
    p.run(w, 'xack', 's', 'g', formatId((p.server.keyspace.dbs[0]!.dict.get('s') as StreamValue).entries.first()!));
    p.run(w, 'xautoclaim', 's', 'g', 'carol', '0', '0', 'count', '2');
    p.run(w, 'xdel', 's', formatId((p.server.keyspace.dbs[0]!.dict.get('s') as StreamValue).entries.last()!));
    p.run(w, 'xtrim', 's', 'maxlen', '~', '5');
    // A blocked reader served by a later XADD propagates its effects after that XADD.
    p.run(a, 'xreadgroup', 'group', 'g', 'dave', 'block', '0', 'streams', 's', '>');
    p.run(a, 'xreadgroup', 'group', 'g2', 'erin', 'block', '0', 'streams', 's', '>');
    expect(p.server.blockedCount).toBe(1);
    p.run(w, 'xadd', 's', '*', 'late', '1');
    expect(p.server.blockedCount).toBe(0);
    p.run(w, 'xclaim', 's', 'g', 'frank', '0', formatId((p.server.keyspace.dbs[0]!.dict.get('s') as StreamValue).entries.last()!), 'lastid', '99999999999999-0');
    p.run(w, 'xgroup', 'setid', 's', 'g2', '0', 'entriesread', '0');
    p.run(w, 'xgroup', 'delconsumer', 's', 'g', 'bob');
    p.run(w, 'xgroup', 'createconsumer', 's', 'g', 'zed');

    const r = setup();
    const rc = r.client();
    for (const argv of p.stream) r.run(rc, ...argv);
    expect(rc.reply.errors).toBe(0);
    const st = state(p.server, 's') as { groups: { pel: unknown[]; consumers: unknown[] }[] };
    expect(st.groups[0]!.pel.length).toBeGreaterThan(2);
    expect(st.groups[0]!.consumers.length).toBeGreaterThan(3);
    expect(p.stream.some((x) => x[0] === 'XCLAIM')).toBe(true);
    expect(state(r.server, 's')).toEqual(st);
    // Auto IDs went out as concrete IDs, approximate trims as exact ones.
    const xadds = p.stream.filter((x) => x[0]!.toLowerCase() === 'xadd');
    expect(xadds.every((x) => !x.includes('*') && !x.includes('~'))).toBe(true);
  });

  it('a blocked XREAD of $ wakes only for entries newer than when it blocked', () => {
    const { server, run, client } = setup();
    const [a, w] = [client(), client()];
    run(w, 'xadd', 's', '1-1', 'a', '1');
    run(a, 'xread', 'block', '0', 'streams', 's', '$');
    expect(server.blockedCount).toBe(1);
    expect(a.blocked!.argv).toEqual(['xread', 'block', '0', 'streams', 's', '1-1']);
    run(w, 'xdel', 's', '1-1');
    expect(server.blockedCount).toBe(1);
    run(w, 'xadd', 's', '2-1', 'b', '2');
    expect(server.blockedCount).toBe(0);
    expect(a.reply.size).toBeGreaterThan(0);
  });
});

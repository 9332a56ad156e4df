import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Socket } from 'node:net';
import { keyHashSlot, lookupCommand, lookupSubcommand } from '@sonic/protocol';
import { emptyConfig, type ClusterConfig } from '@sonic/controller';
import { Keyspace, SLOT_INDEX_ENTRY } from '../engine/keyspace.js';
import { Config } from '../config/config.js';
import { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import { ClusterSlots, Topology, nodeHexId } from './slots.js';

/** Three shards of one primary and one replica, slots split as `sonic cluster create` does. */
function config(migrations: ClusterConfig['migrations'] = []): ClusterConfig {
  const c = emptyConfig();
  c.epoch = 7;
  const ranges: [number, number][] = [[0, 5460], [5461, 10922], [10923, 16383]];
  for (let i = 1; i <= 3; i++) {
    c.shards.push({ id: `shard-${i}`, primary: `p${i}`, replicas: [`r${i}`], slots: [ranges[i - 1]!] });
    c.nodes.push({ id: `p${i}`, host: '127.0.0.1', port: 7000 + i, busPort: 0, role: 'primary', shard: `shard-${i}`, health: 'ok', runId: 'x', priority: 100 });
    c.nodes.push({ id: `r${i}`, host: '127.0.0.1', port: 7100 + i, busPort: 0, role: 'replica', shard: `shard-${i}`, health: 'ok', runId: 'y', priority: 100 });
  }
  c.migrations = migrations;
  return c;
}

function keyIn(lo: number, hi: number, prefix = 'k'): string {
  for (let i = 0; ; i++) {
    const s = keyHashSlot(`${prefix}${i}`);
    if (s >= lo && s <= hi) return `${prefix}${i}`;
  }
}

function spec(argv: string[]) {
  let s = lookupCommand(argv[0]!)!;
  if (s.subcommands !== null && argv.length > 1) s = lookupSubcommand(s, argv[1]!) ?? s;
  return s;
}

function node(id: string, migrations: ClusterConfig['migrations'] = []) {
  const server = new Server(new Config(), pino({ level: 'silent' }));
  const slots = new ClusterSlots(server, id);
  server.clusterSlots = slots;
  server.keyspace.setSlotIndex(true);
  slots.apply(config(migrations));
  // A client with a socket (admission skips internal clients).
  const c = new Client(server, { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2 } as unknown as Socket);
  const admit = (...argv: string[]) => slots.admit(c, spec(argv), argv);
  return { server, slots, c, admit };
}

describe('per-slot key index', () => {
  it('follows sets, deletes, expiry, flush and swap, and charges the memory model', () => {
    const ks = new Keyspace({ now: () => 1000, random: Math.random }, 2);
    const db = ks.dbs[0]!;
    db.set('{a}1', 'x');
    const before = db.used;
    ks.setSlotIndex(true);
    expect(db.used).toBe(before + SLOT_INDEX_ENTRY);
    const slot = keyHashSlot('{a}1');
    expect(db.slots!.count(slot)).toBe(1);
    db.set('{a}2', 'y');
    db.set('{a}2', 'z');
    expect(db.slots!.count(slot)).toBe(2);
    expect([...db.slots!.keys(slot)!].sort()).toEqual(['{a}1', '{a}2']);
    db.delete('{a}1');
    expect(db.slots!.count(slot)).toBe(1);
    db.setExpire('{a}2', 500);
    expect(db.exists('{a}2')).toBe(false);
    expect(db.slots!.count(slot)).toBe(0);
    expect(db.slots!.keys(slot)).toBeUndefined();
    db.set('b', 'x');
    ks.swap(0, 1);
    expect(ks.dbs[1]!.slots!.count(keyHashSlot('b'))).toBe(1);
    expect(ks.dbs[0]!.slots!.count(keyHashSlot('b'))).toBe(0);
    ks.dbs[1]!.flush();
    expect(ks.dbs[1]!.slots!.count(keyHashSlot('b'))).toBe(0);
    ks.dbs[1]!.set('c', 'x');
    const used = ks.dbs[1]!.used;
    ks.setSlotIndex(false);
    expect(ks.dbs[1]!.slots).toBeNull();
    expect(ks.dbs[1]!.used).toBe(used - SLOT_INDEX_ENTRY);
  });
});

describe('topology', () => {
  it('maps slots to shards, knows this node, and derives 40-hex ids', () => {
    const t = new Topology(config([{ slot: 42, fromShard: 'shard-1', toShard: 'shard-2' }]), 'p2');
    expect(t.ok).toBe(true);
    expect(t.owner[0]).toBe(0);
    expect(t.owner[5461]).toBe(1);
    expect(t.owner[16383]).toBe(2);
    expect(t.me?.id).toBe('p2');
    expect(t.amPrimary).toBe(true);
    expect(t.importing.get(42)?.id).toBe('shard-1');
    expect(t.plain).toBe(true);
    expect(t.primaryOf(9000)?.addr).toBe('127.0.0.1:7002');
    expect(nodeHexId('p2')).toMatch(/^[0-9a-f]{40}$/);
    expect(nodeHexId('ab'.repeat(20))).toBe('ab'.repeat(20));
    const partial = config();
    partial.shards[2]!.slots = [];
    expect(new Topology(partial, 'p1').ok).toBe(false);
  });
});

describe('admission', () => {
  const mine = keyIn(0, 5460);
  const theirs = keyIn(10923, 16383);

  it('serves its slots, redirects the others, refuses cross-slot and other databases', () => {
    const { admit } = node('p1');
    expect(admit('GET', mine)).toBeNull();
    expect(admit('SET', theirs, 'v')).toBe(`MOVED ${keyHashSlot(theirs)} 127.0.0.1:7003`);
    expect(admit('MSET', '{x}a', '1', '{x}b', '2')).toBe(keyHashSlot('{x}a') <= 5460 ? null : `MOVED ${keyHashSlot('{x}a')} 127.0.0.1:${keyHashSlot('{x}a') <= 10922 ? 7002 : 7003}`);
    expect(admit('MSET', mine, '1', theirs, '2')).toBe("CROSSSLOT Keys in request don't hash to the same slot");
    expect(admit('PING')).toBeNull();
    expect(admit('SELECT', '1')).toBe('ERR SELECT is not allowed in cluster mode');
    expect(admit('SELECT', '0')).toBeNull();
    expect(admit('SWAPDB', '0', '1')).toBe('ERR SWAPDB is not allowed in cluster mode');
  });

  it('a replica redirects to its primary unless READONLY and the command reads', () => {
    const { admit, slots, c } = node('r1');
    expect(admit('GET', mine)).toBe(`MOVED ${keyHashSlot(mine)} 127.0.0.1:7001`);
    slots.setReadonly(c, true);
    expect(admit('GET', mine)).toBeNull();
    expect(admit('SET', mine, 'v')).toBe(`MOVED ${keyHashSlot(mine)} 127.0.0.1:7001`);
    expect(admit('SSUBSCRIBE', mine)).toBeNull();
  });

  it('during a migration the source serves the slot; the target only to ASKING clients', () => {
    const slot = keyHashSlot(mine);
    const m = [{ slot, fromShard: 'shard-1', toShard: 'shard-2' }];
    const src = node('p1', m);
    // Missing keys too: the source keeps the slot until the new owner is committed.
    expect(src.admit('GET', mine)).toBeNull();
    expect(src.admit('SET', mine, 'v')).toBeNull();
    const dst = node('p2', m);
    expect(dst.admit('GET', mine)).toBe(`MOVED ${slot} 127.0.0.1:7001`);
    dst.slots.setAsking(dst.c);
    expect(dst.admit('GET', mine)).toBeNull();
    // One command only.
    expect(dst.admit('GET', mine)).toBe(`MOVED ${slot} 127.0.0.1:7001`);
    dst.slots.setAsking(dst.c);
    expect(dst.admit('MGET', mine, `{${mine}}x`)).toBe('TRYAGAIN Multiple keys request during rehashing of slot');
  });

  it('EXEC checks the queued commands together and discards a refused transaction', () => {
    const { admit, c } = node('p1');
    const a = keyIn(0, 5460, 'a');
    let b = keyIn(0, 5460, 'b');
    if (keyHashSlot(b) === keyHashSlot(a)) b = keyIn(0, 5460, 'bb');
    c.multi = [
      { argv: ['SET', a, '1'], spec: spec(['SET']) },
      { argv: ['SET', b, '1'], spec: spec(['SET']) },
    ];
    expect(admit('EXEC')).toBe("CROSSSLOT Keys in request don't hash to the same slot");
    expect(c.multi).toBeNull();
  });

  it('internal clients (Lua, the master client) are not redirected', () => {
    const { slots, server } = node('p1');
    const internal = new Client(server, null);
    expect(slots.admit(internal, spec(['GET']), ['GET', theirs])).toBeNull();
  });
});

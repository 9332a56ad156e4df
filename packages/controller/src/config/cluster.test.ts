import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  applyCommand,
  checkInvariants,
  decodeCommand,
  decodeConfig,
  emptyConfig,
  encodeCommand,
  findNode,
  findShard,
  normaliseRanges,
  slotCount,
  subtractRanges,
  SLOTS,
  type ClusterConfig,
  type Command,
} from './cluster.js';

function reg(id: string, port: number, extra: Partial<Extract<Command, { op: 'register' }>> = {}): Command {
  return { op: 'register', id, host: '127.0.0.1', port, busPort: 0, runId: `run-${id}`, role: 'primary', primary: null, shard: '', priority: 100, ...extra };
}

function run(cmds: Command[], from = emptyConfig()): ClusterConfig {
  let c = from;
  for (const cmd of cmds) {
    const r = applyCommand(c, cmd);
    expect(checkInvariants(r.config)).toEqual([]);
    c = r.config;
  }
  return c;
}

/** One primary (n1) and two replicas (n2, n3) in shard-1. */
function threeNodes(): ClusterConfig {
  return run([
    reg('n1', 7001),
    reg('n2', 7002, { role: 'replica', primary: { host: '127.0.0.1', port: 7001 } }),
    reg('n3', 7003, { role: 'replica', primary: { host: '127.0.0.1', port: 7001 } }),
  ]);
}

describe('cluster configuration', () => {
  it('a first primary creates shard-1 with every slot; its replicas join it', () => {
    const c = threeNodes();
    expect(c.epoch).toBe(3);
    expect(c.shards).toEqual([{ id: 'shard-1', primary: 'n1', replicas: ['n2', 'n3'], slots: [[0, SLOTS - 1]] }]);
    expect(findNode(c, 'n2')).toMatchObject({ role: 'replica', shard: 'shard-1', health: 'ok' });
  });

  it('a replica whose primary is not registered yet is told to retry', () => {
    const r = applyCommand(emptyConfig(), reg('n2', 7002, { role: 'replica', primary: { host: '127.0.0.1', port: 7001 } }));
    expect(r.result).toMatchObject({ ok: false });
    expect((r.result as { error: string }).error).toMatch(/^TRYAGAIN/);
    expect(r.config.epoch).toBe(0);
  });

  it('a second primary without a shard gets a new shard without slots; a shard name is joined', () => {
    const c = run([reg('a', 7001), reg('b', 7002), reg('c', 7003, { shard: 'shard-2' }), reg('d', 7004, { shard: 'cache' })]);
    expect(c.shards.map((s) => [s.id, s.primary, s.replicas, slotCount(s.slots)])).toEqual([
      ['cache', 'd', [], 0],
      ['shard-1', 'a', [], SLOTS],
      ['shard-2', 'b', ['c'], 0],
    ]);
  });

  it('registering again with the same run id changes nothing (same epoch)', () => {
    const c = threeNodes();
    const r = applyCommand(c, reg('n1', 7001));
    expect(r.result).toMatchObject({ ok: true, changed: false });
    expect(r.config).toBe(c);
  });

  it('a primary that comes back with a new run id is untrusted; a replica is not', () => {
    let c = threeNodes();
    c = run([reg('n1', 7001, { runId: 'new' })], c);
    expect(findNode(c, 'n1')!.health).toBe('untrusted');
    expect(c.epoch).toBe(4);
    c = run([reg('n2', 7002, { runId: 'new2', role: 'replica' })], c);
    expect(findNode(c, 'n2')!.health).toBe('ok');
  });

  it('a new id at a known primary address takes its place, untrusted', () => {
    const c = run([reg('fresh', 7001)], threeNodes());
    expect(findNode(c, 'n1')).toBeUndefined();
    expect(findShard(c, 'shard-1')!.primary).toBe('fresh');
    expect(findNode(c, 'fresh')!.health).toBe('untrusted');
  });

  it('failover promotes a replica and demotes the primary; a stale one is a no-op', () => {
    const c = threeNodes();
    const r = applyCommand(c, { op: 'failover', shard: 'shard-1', from: 'n1', to: 'n3', fromHealth: 'down', reason: 'odown' });
    expect(r.result).toMatchObject({ ok: true, changed: true });
    const s = findShard(r.config, 'shard-1')!;
    expect(s.primary).toBe('n3');
    expect(s.replicas).toEqual(['n1', 'n2']);
    expect(findNode(r.config, 'n1')).toMatchObject({ role: 'replica', health: 'down' });
    expect(r.config.epoch).toBe(c.epoch + 1);
    expect(checkInvariants(r.config)).toEqual([]);
    // The same decision committed twice (a new leader repeating it): nothing happens.
    const again = applyCommand(r.config, { op: 'failover', shard: 'shard-1', from: 'n1', to: 'n2', fromHealth: 'down', reason: 'odown' });
    expect(again.result).toMatchObject({ ok: true, changed: false });
    expect(again.config).toBe(r.config);
    // Only a replica of the shard can be promoted.
    expect(applyCommand(r.config, { op: 'failover', shard: 'shard-1', from: 'n3', to: 'zz', fromHealth: 'ok', reason: 'manual' }).result.ok).toBe(false);
  });

  it('setHealth respects the run id guard', () => {
    const c = threeNodes();
    expect(applyCommand(c, { op: 'setHealth', id: 'n2', health: 'down', runId: 'other' }).config).toBe(c);
    const r = applyCommand(c, { op: 'setHealth', id: 'n2', health: 'down', runId: 'run-n2' });
    expect(findNode(r.config, 'n2')!.health).toBe('down');
  });

  it('addNode, assignSlots, removeNode', () => {
    let c = run([reg('a', 7001), { op: 'addNode', id: 'b', host: '10.0.0.2', port: 7002, busPort: 0, shard: 'shard-2' }]);
    expect(findShard(c, 'shard-2')).toMatchObject({ primary: 'b', slots: [] });
    c = run([{ op: 'assignSlots', shard: 'shard-2', ranges: [[100, 199], [0, 9]] }], c);
    expect(findShard(c, 'shard-2')!.slots).toEqual([[0, 9], [100, 199]]);
    expect(findShard(c, 'shard-1')!.slots).toEqual([[10, 99], [200, SLOTS - 1]]);
    expect(applyCommand(c, { op: 'assignSlots', shard: 'shard-2', ranges: [[5, SLOTS]] }).result.ok).toBe(false);
    expect(applyCommand(c, { op: 'addNode', id: 'c', host: '10.0.0.2', port: 7002, busPort: 0, shard: 'x' }).result.ok).toBe(false);
    c = run([{ op: 'removeNode', id: 'b' }], c);
    expect(findShard(c, 'shard-2')).toBeUndefined();
    expect(applyCommand(threeNodes(), { op: 'removeNode', id: 'n1' }).result.ok).toBe(false);
  });

  it('bad commands fail without throwing or changing the epoch', () => {
    const c = threeNodes();
    for (const bad of [
      { op: 'nope' },
      { op: 'register', id: 'bad id!', host: 'h', port: 1 },
      { op: 'register', id: 'x', host: 'h', port: 0 },
      { op: 'failover', shard: 'none', from: 'a', to: 'b' },
      { op: 'setHealth', id: 'none', health: 'ok', runId: '' },
    ] as unknown as Command[]) {
      const r = applyCommand(c, bad);
      expect(r.result.ok).toBe(false);
      expect(r.config).toBe(c);
    }
  });

  it('round-trips through Raft entries and snapshots (JSON)', () => {
    const c = threeNodes();
    expect(decodeConfig(JSON.stringify(c))).toEqual(c);
    expect(() => decodeConfig(JSON.stringify({ ...c, version: 99 }))).toThrow(/version 99/);
    const cmd = reg('x', 1);
    expect(decodeCommand(encodeCommand('r1', cmd))).toEqual({ rid: 'r1', cmd });
    expect(decodeCommand('{"no":1}')).toBeNull();
    expect(decodeCommand('garbage')).toBeNull();
  });

  it('range helpers', () => {
    expect(normaliseRanges([[5, 9], [0, 4], [20, 30], [25, 26]])).toEqual([[0, 9], [20, 30]]);
    expect(subtractRanges([[0, 100]], [[10, 20], [50, 50]])).toEqual([[0, 9], [21, 49], [51, 100]]);
    expect(slotCount([[0, 9], [20, 29]])).toBe(20);
  });

  it('keeps its invariants and a monotonic epoch under random command sequences (deterministic replay)', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const cmdArb: fc.Arbitrary<Command> = fc.oneof(
      fc.record({
        op: fc.constant('register' as const),
        id: fc.constantFrom(...ids),
        host: fc.constant('127.0.0.1'),
        port: fc.integer({ min: 7001, max: 7005 }),
        busPort: fc.constant(0),
        runId: fc.constantFrom('r1', 'r2'),
        role: fc.constantFrom('primary' as const, 'replica' as const),
        primary: fc.option(fc.record({ host: fc.constant('127.0.0.1'), port: fc.integer({ min: 7001, max: 7005 }) }), { nil: null }),
        shard: fc.constantFrom('', 'shard-1', 'shard-2'),
        priority: fc.constantFrom(0, 100),
      }),
      fc.record({ op: fc.constant('failover' as const), shard: fc.constantFrom('shard-1', 'shard-2'), from: fc.constantFrom(...ids), to: fc.constantFrom(...ids), fromHealth: fc.constantFrom('ok' as const, 'down' as const), reason: fc.constant('test') }),
      fc.record({ op: fc.constant('setHealth' as const), id: fc.constantFrom(...ids), health: fc.constantFrom('ok' as const, 'down' as const, 'untrusted' as const), runId: fc.constant('') }),
      fc.record({ op: fc.constant('removeNode' as const), id: fc.constantFrom(...ids) }),
      fc.record({ op: fc.constant('assignSlots' as const), shard: fc.constantFrom('shard-1', 'shard-2'), ranges: fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]), { maxLength: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 40 }), (cmds) => {
        let c = emptyConfig();
        let replay = emptyConfig();
        for (const cmd of cmds) {
          const r = applyCommand(c, cmd);
          expect(checkInvariants(r.config)).toEqual([]);
          expect(r.config.epoch === c.epoch || r.config.epoch === c.epoch + 1).toBe(true);
          c = r.config;
          // Another controller applying the same entries (through JSON) reaches the same state.
          replay = applyCommand(JSON.parse(JSON.stringify(replay)) as ClusterConfig, JSON.parse(JSON.stringify(cmd)) as Command).config;
          expect(replay).toEqual(c);
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});

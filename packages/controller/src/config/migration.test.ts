import { describe, expect, it } from 'vitest';
import { applyCommand, checkInvariants, emptyConfig, findShard, ownerOf, type ClusterConfig, type Command } from './cluster.js';

function reg(id: string, port: number, shard: string, primary: number | null = null): Command {
  return { op: 'register', id, host: '127.0.0.1', port, busPort: 0, runId: `run-${id}`, role: primary === null ? 'primary' : 'replica', primary: primary === null ? null : { host: '127.0.0.1', port: primary }, shard, priority: 100 };
}

function apply(c: ClusterConfig, cmd: Command) {
  const r = applyCommand(c, cmd);
  expect(checkInvariants(r.config)).toEqual([]);
  return r;
}

/** shard-1 (p1, r1) holds every slot; shard-2 (p2) none. */
function twoShards(): ClusterConfig {
  let c = emptyConfig();
  for (const cmd of [reg('p1', 7001, 'shard-1'), reg('r1', 7101, '', 7001), reg('p2', 7002, 'shard-2')]) c = apply(c, cmd).config;
  return c;
}

describe('slot migrations', () => {
  it('begin lists the migrations; end by the source primary moves the slots to the target', () => {
    let c = twoShards();
    const begun = apply(c, { op: 'beginMigration', slots: [5, 3, 4, 3], toShard: 'shard-2' });
    expect(begun.result).toMatchObject({ ok: true, changed: true });
    c = begun.config;
    expect(c.migrations).toEqual([3, 4, 5].map((slot) => ({ slot, fromShard: 'shard-1', toShard: 'shard-2' })));
    // Again: nothing new (a re-run is safe).
    expect(apply(c, { op: 'beginMigration', slots: [3], toShard: 'shard-2' }).result).toMatchObject({ ok: true, changed: false });
    // Only the source primary, streaming to the target primary, commits.
    expect(apply(c, { op: 'endMigration', slots: [3], toShard: 'shard-2', by: 'r1', target: 'p2' }).result.ok).toBe(false);
    expect(apply(c, { op: 'endMigration', slots: [3], toShard: 'shard-2', by: 'p1', target: 'x' }).result.ok).toBe(false);
    const ended = apply(c, { op: 'endMigration', slots: [3, 4], toShard: 'shard-2', by: 'p1', target: 'p2' });
    expect(ended.result).toMatchObject({ ok: true, changed: true });
    c = ended.config;
    expect(ownerOf(c, 3)?.id).toBe('shard-2');
    expect(ownerOf(c, 5)?.id).toBe('shard-1');
    expect(findShard(c, 'shard-2')!.slots).toEqual([[3, 4]]);
    expect(findShard(c, 'shard-1')!.slots).toEqual([[0, 2], [5, 16383]]);
    expect(c.migrations.map((m) => m.slot)).toEqual([5]);
    // Committed twice: no change.
    expect(apply(c, { op: 'endMigration', slots: [3], toShard: 'shard-2', by: 'p1', target: 'p2' }).result).toMatchObject({ ok: true, changed: false });
    // Cancel leaves the slot with its source.
    const cancelled = apply(c, { op: 'cancelMigration', slots: [5] });
    expect(cancelled.config.migrations).toEqual([]);
    expect(ownerOf(cancelled.config, 5)?.id).toBe('shard-1');
  });

  it('refuses a second target, a shard without primary, bad slots; assignSlots drops migrations it makes stale', () => {
    let c = twoShards();
    c = apply(c, { op: 'beginMigration', slots: [10], toShard: 'shard-2' }).config;
    c = apply(c, reg('p3', 7003, 'shard-3')).config;
    expect(apply(c, { op: 'beginMigration', slots: [10], toShard: 'shard-3' }).result.ok).toBe(false);
    expect(apply(c, { op: 'beginMigration', slots: [16384], toShard: 'shard-3' }).result.ok).toBe(false);
    expect(apply(c, { op: 'beginMigration', slots: [1], toShard: 'nope' }).result.ok).toBe(false);
    // The slot handed elsewhere by an operator: its migration goes.
    c = apply(c, { op: 'assignSlots', shard: 'shard-3', ranges: [[10, 10]] }).config;
    expect(c.migrations).toEqual([]);
  });
});

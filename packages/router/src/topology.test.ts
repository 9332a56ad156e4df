import { describe, expect, it } from 'vitest';
import { CONFIG_VERSION, type ClusterConfig } from '@sonic/controller';
import { SingleFlight, SlotMap } from './topology.js';

function config(epoch: number): ClusterConfig {
  const node = (id: string, port: number, role: 'primary' | 'replica', shard: string, health: 'ok' | 'down' = 'ok') => ({ id, host: '127.0.0.1', port, busPort: 0, role, shard, health, runId: '', priority: 100 });
  return {
    version: CONFIG_VERSION,
    epoch,
    nodes: [node('p1', 7001, 'primary', 's1'), node('p2', 7002, 'primary', 's2'), node('r1', 7011, 'replica', 's1'), node('r2', 7012, 'replica', 's2', 'down')],
    shards: [
      { id: 's1', primary: 'p1', replicas: ['r1'], slots: [[0, 8191]] },
      { id: 's2', primary: 'p2', replicas: ['r2'], slots: [[8192, 10000], [12000, 16383]] },
    ],
    migrations: [],
  };
}

describe('SlotMap', () => {
  it('maps every slot of the configuration to its shard; unassigned slots to none', () => {
    const m = SlotMap.fromConfig(config(7));
    expect(m.epoch).toBe(7);
    expect(m.shardOf(0)!.primary!.key).toBe('127.0.0.1:7001');
    expect(m.shardOf(8191)!.id).toBe('s1');
    expect(m.shardOf(8192)!.id).toBe('s2');
    expect(m.shardOf(11000)).toBeNull();
    expect(m.shardOf(16383)!.id).toBe('s2');
    // Only healthy replicas are read from.
    expect(m.shardOf(0)!.replicas.map((r) => r.port)).toEqual([7011]);
    expect(m.shardOf(9000)!.replicas).toEqual([]);
    expect(m.primaries().map((p) => p.id)).toEqual(['p1', 'p2']);
  });

  it('reads CLUSTER SHARDS (RESP2 flat pairs)', () => {
    const reply = [
      ['slots', [0, 100, 200, 300], 'nodes', [['id', 'a', 'port', 7001, 'ip', '10.0.0.1', 'role', 'master', 'health', 'online'], ['id', 'b', 'port', 7002, 'ip', '10.0.0.2', 'role', 'replica', 'health', 'online'], ['id', 'c', 'port', 7003, 'ip', '10.0.0.3', 'role', 'replica', 'health', 'loading']]],
      ['slots', [101, 199], 'nodes', [['id', 'd', 'port', 7004, 'ip', '10.0.0.4', 'role', 'master', 'health', 'online']]],
    ];
    const m = SlotMap.fromClusterShards(reply, 1);
    expect(m.shardOf(50)!.primary!.key).toBe('10.0.0.1:7001');
    expect(m.shardOf(250)!.primary!.id).toBe('a');
    expect(m.shardOf(150)!.primary!.id).toBe('d');
    expect(m.shardOf(301)).toBeNull();
    expect(m.shardOf(50)!.replicas.map((r) => r.id)).toEqual(['b']);
  });
});

describe('SingleFlight', () => {
  it('runs once for callers that arrive while it runs', async () => {
    let runs = 0;
    const f = new SingleFlight(async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 20));
    });
    await Promise.all(Array.from({ length: 50 }, () => f.run()));
    expect(runs).toBe(1);
    await f.run();
    expect(runs).toBe(2);
  });
});

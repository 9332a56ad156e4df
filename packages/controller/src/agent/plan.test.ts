import { describe, expect, it } from 'vitest';
import { applyCommand, emptyConfig, type ClusterConfig, type Command } from '../config/cluster.js';
import { accepts, desiredRole, fenceReason, reconcile } from './plan.js';
import { configFromProto, configToProto } from './convert.js';
import { parseControllers } from './client.js';

function reg(id: string, port: number, replicaOf?: number): Command {
  return { op: 'register', id, host: '127.0.0.1', port, busPort: port + 100, runId: `run-${id}`, role: replicaOf ? 'replica' : 'primary', primary: replicaOf ? { host: '127.0.0.1', port: replicaOf } : null, shard: '', priority: 100 };
}

function cluster(): ClusterConfig {
  let c = emptyConfig();
  for (const cmd of [reg('p', 7001), reg('r1', 7002, 7001), reg('r2', 7003, 7001)]) c = applyCommand(c, cmd).config;
  return c;
}

describe('node agent decisions', () => {
  it('reads its role from the configuration', () => {
    const c = cluster();
    expect(desiredRole(c, 'p')).toEqual({ kind: 'primary', trusted: true, shard: 'shard-1' });
    expect(desiredRole(c, 'r1')).toEqual({ kind: 'replica', host: '127.0.0.1', port: 7001, busPort: 7101, shard: 'shard-1', primary: 'p' });
    expect(desiredRole(c, 'zz')).toEqual({ kind: 'unknown' });
  });

  it('applies only higher epochs', () => {
    const c = cluster();
    expect(accepts(c.epoch - 1, c)).toBe(true);
    expect(accepts(c.epoch, c)).toBe(false);
    expect(accepts(c.epoch + 5, c)).toBe(false);
  });

  it('fences: a deposed primary follows the new one, a promoted replica promotes itself', () => {
    const c = applyCommand(cluster(), { op: 'failover', shard: 'shard-1', from: 'p', to: 'r2', fromHealth: 'ok', reason: 'manual' }).config;
    expect(reconcile({ role: 'primary', masterHost: '', masterPort: 0 }, desiredRole(c, 'p'))).toEqual({ kind: 'follow', host: '127.0.0.1', port: 7003, busPort: 7103 });
    expect(reconcile({ role: 'replica', masterHost: '127.0.0.1', masterPort: 7001 }, desiredRole(c, 'r2'))).toEqual({ kind: 'promote' });
    expect(reconcile({ role: 'replica', masterHost: '127.0.0.1', masterPort: 7001 }, desiredRole(c, 'r1'))).toEqual({ kind: 'follow', host: '127.0.0.1', port: 7003, busPort: 7103 });
    expect(reconcile({ role: 'replica', masterHost: '127.0.0.1', masterPort: 7003 }, desiredRole(c, 'r1'))).toEqual({ kind: 'none' });
    expect(reconcile({ role: 'primary', masterHost: '', masterPort: 0 }, desiredRole(c, 'r2'))).toEqual({ kind: 'none' });
  });

  it('an untrusted primary is not promoted and refuses writes', () => {
    const c = applyCommand(cluster(), { ...(reg('p', 7001) as Extract<Command, { op: 'register' }>), runId: 'new' }).config;
    const d = desiredRole(c, 'p');
    expect(d).toEqual({ kind: 'primary', trusted: false, shard: 'shard-1' });
    expect(reconcile({ role: 'replica', masterHost: 'x', masterPort: 1 }, d)).toEqual({ kind: 'none' });
    expect(fenceReason({ haveConfig: true, desired: d, controllersReachable: 3, controllers: 3, replicasReachable: 2 })).toMatch(/restarted/);
  });

  it('a primary refuses writes only when it reaches neither a controller majority nor any replica', () => {
    const d = desiredRole(cluster(), 'p');
    const f = (controllersReachable: number, replicasReachable: number) => fenceReason({ haveConfig: true, desired: d, controllersReachable, controllers: 3, replicasReachable });
    expect(f(3, 0)).toBeNull();
    expect(f(2, 0)).toBeNull();
    expect(f(1, 1)).toBeNull();
    expect(f(0, 2)).toBeNull();
    expect(f(1, 0)).toMatch(/cut off: 1 of 3/);
    expect(f(0, 0)).toMatch(/cut off/);
    expect(fenceReason({ haveConfig: false, desired: { kind: 'unknown' }, controllersReachable: 3, controllers: 3, replicasReachable: 0 })).toMatch(/no configuration/);
  });

  it('the configuration survives the wire form', () => {
    let c = cluster();
    c = applyCommand(c, { op: 'assignSlots', shard: 'shard-1', ranges: [[0, 5]] }).config;
    expect(configFromProto(configToProto(c))).toEqual(c);
  });

  it('parses controller lists', () => {
    expect(parseControllers('127.0.0.1:26379, 10.0.0.2:26380@40000,26381')).toEqual([
      { host: '127.0.0.1', port: 26379, busPort: 36379 },
      { host: '10.0.0.2', port: 26380, busPort: 40000 },
      { host: '127.0.0.1', port: 26381, busPort: 36381 },
    ]);
    expect(() => parseControllers('nope')).toThrow(/invalid controller address/);
    expect(() => parseControllers('h:60000')).toThrow(/invalid port/);
  });
});

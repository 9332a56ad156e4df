/** The cluster configuration between its JSON form (Raft) and its wire form (control.proto). */
import type { controlPb } from '@sonic/protocol';
import { CONFIG_VERSION, type ClusterConfig, type Health, type NodeRole } from '../config/cluster.js';

export function configToProto(c: ClusterConfig): controlPb.ClusterConfig {
  return {
    epoch: c.epoch,
    nodes: c.nodes.map((n) => ({
      id: n.id,
      address: { host: n.host, port: n.port, busPort: n.busPort },
      role: n.role,
      shard: n.shard,
      health: n.health,
      runId: n.runId,
      priority: n.priority,
    })),
    shards: c.shards.map((s) => ({ id: s.id, primary: s.primary ?? '', replicas: [...s.replicas], slots: s.slots.map(([start, end]) => ({ start, end })) })),
    migrations: c.migrations.map((m) => ({ slot: m.slot, fromShard: m.fromShard, toShard: m.toShard })),
  };
}

const ROLES = new Set<NodeRole>(['primary', 'replica']);
const HEALTH = new Set<Health>(['ok', 'down', 'untrusted']);

export function configFromProto(p: controlPb.ClusterConfig): ClusterConfig {
  return {
    version: CONFIG_VERSION,
    epoch: p.epoch,
    nodes: p.nodes.map((n) => ({
      id: n.id,
      host: n.address?.host ?? '',
      port: n.address?.port ?? 0,
      busPort: n.address?.busPort ?? 0,
      role: ROLES.has(n.role as NodeRole) ? (n.role as NodeRole) : 'replica',
      shard: n.shard,
      health: HEALTH.has(n.health as Health) ? (n.health as Health) : 'ok',
      runId: n.runId,
      priority: n.priority,
    })),
    shards: p.shards.map((s) => ({ id: s.id, primary: s.primary === '' ? null : s.primary, replicas: [...s.replicas], slots: s.slots.map((r) => [r.start, r.end] as [number, number]) })),
    migrations: p.migrations.map((m) => ({ slot: m.slot, fromShard: m.fromShard, toShard: m.toShard })),
  };
}

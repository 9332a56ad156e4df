/**
 * The node side's decisions (pure), used by the node's cluster agent
 * (packages/node/src/cluster/agent.ts): which configurations to apply, what role the
 * configuration gives this node, and whether it may accept writes.
 *
 * Fencing: a node applies only configurations with a higher epoch than the one it
 * holds. A primary that learns of a configuration in which it is no longer primary
 * becomes a replica of the new primary. A primary that has not heard from a majority of
 * controllers nor from any replica for node-timeout stops accepting writes: the
 * controllers may have promoted someone else meanwhile.
 */
import { busPortOf, findNode, primaryOf, type ClusterConfig } from '../config/cluster.js';

export type Desired =
  | { kind: 'primary'; trusted: boolean; shard: string }
  | { kind: 'replica'; host: string; port: number; busPort: number; shard: string; primary: string }
  /** A replica whose shard has no primary now: keep what you do, accept no writes. */
  | { kind: 'orphan'; shard: string }
  | { kind: 'unknown' };

/** What the configuration asks of node `self`. */
export function desiredRole(config: ClusterConfig, self: string): Desired {
  const n = findNode(config, self);
  if (!n) return { kind: 'unknown' };
  if (n.role === 'primary') return { kind: 'primary', trusted: n.health !== 'untrusted', shard: n.shard };
  const p = primaryOf(config, n.shard);
  if (!p) return { kind: 'orphan', shard: n.shard };
  return { kind: 'replica', host: p.host, port: p.port, busPort: busPortOf(p), shard: n.shard, primary: p.id };
}

export interface LocalRole {
  role: 'primary' | 'replica';
  masterHost: string;
  masterPort: number;
}

export type NodeAction = { kind: 'promote' } | { kind: 'follow'; host: string; port: number; busPort: number } | { kind: 'none' };

/** The replication change that brings the node to what the configuration asks. */
export function reconcile(local: LocalRole, desired: Desired): NodeAction {
  if (desired.kind === 'primary') {
    // An untrusted primary is about to be replaced; it stays as it is, fenced.
    return desired.trusted && local.role === 'replica' ? { kind: 'promote' } : { kind: 'none' };
  }
  if (desired.kind === 'replica') {
    if (local.role === 'replica' && local.masterHost === desired.host && local.masterPort === desired.port) return { kind: 'none' };
    return { kind: 'follow', host: desired.host, port: desired.port, busPort: desired.busPort };
  }
  return { kind: 'none' };
}

/** Whether a configuration may replace the held one. */
export function accepts(heldEpoch: number, incoming: ClusterConfig): boolean {
  return incoming.epoch > heldEpoch;
}

export interface FenceInput {
  /** The node holds a configuration (it registered). */
  haveConfig: boolean;
  desired: Desired;
  /** Controllers that answered a heartbeat within node-timeout, and how many there are. */
  controllersReachable: number;
  controllers: number;
  /** Replicas that acknowledged within node-timeout. */
  replicasReachable: number;
}

/** Why a primary must refuse writes now, or null when it may accept them. */
export function fenceReason(f: FenceInput): string | null {
  if (!f.haveConfig) return 'no configuration from the controllers yet';
  if (f.desired.kind === 'unknown') return 'this node is not in the cluster configuration';
  if (f.desired.kind !== 'primary') return 'this node is not a primary in the cluster configuration';
  if (!f.desired.trusted) return 'this primary restarted and is being replaced';
  const majority = Math.floor(f.controllers / 2) + 1;
  if (f.controllersReachable < majority && f.replicasReachable === 0)
    return `cut off: ${f.controllersReachable} of ${f.controllers} controllers and no replica reachable within node-timeout`;
  return null;
}

/**
 * The failover decisions (pure): what the Raft leader should commit, given the
 * configuration and what the controllers observe. The controller process runs `plan`
 * every tick on the leader and carries the decisions out (I/O: asking candidates for
 * their offsets, proposing commands, telling nodes), and `chooseReplica` picks the
 * replica to promote from fresh offsets.
 *
 * A shard fails over when its primary is objectively down, untrusted (it came back
 * with a new run id or a reset offset, so its data may be gone), or an operator asked.
 * The replica promoted is the one with the highest acknowledged offset: promoting a
 * replica that holds less loses writes that were acknowledged (in `sync` mode a write
 * is acknowledged once one replica holds it). replica-priority breaks ties (lower is
 * preferred, as Redis) and 0 excludes a replica.
 */
import type { ClusterConfig, Health, NodeInfo } from '../config/cluster.js';
import { findNode } from '../config/cluster.js';

export interface Heartbeat {
  runId: string;
  role: 'primary' | 'replica';
  replid: string;
  offset: number;
  priority: number;
  linkUp: boolean;
  fenced: boolean;
  epoch: number;
  /** When it was received. */
  at: number;
}

/** The leader's view of one node. */
export interface NodeView {
  /** Subjectively down for the leader. */
  sdown: boolean;
  /** Objectively down (a quorum of controllers agrees). */
  odown: boolean;
  /** Gave the leader a valid PING reply within down-after. */
  up: boolean;
  heartbeat: Heartbeat | null;
  /** Its offset went backwards under the same run id and replication id (its history was reset). */
  offsetReset: boolean;
}

export interface PlanInput {
  config: ClusterConfig;
  view: ReadonlyMap<string, NodeView>;
  /** Manual failovers asked for, by shard (`to`: a replica, or '' for the best). */
  manual: ReadonlyMap<string, string>;
  /** Shards with a failover in flight: no new decision for them. */
  busy: ReadonlySet<string>;
}

export type Decision =
  | { kind: 'failover'; shard: string; from: string; candidates: string[]; reason: 'odown' | 'untrusted' | 'manual'; fromHealth: Health }
  | { kind: 'setHealth'; id: string; health: Health; runId: string; why: string }
  | { kind: 'stuck'; shard: string; why: string };

const NO_VIEW: NodeView = { sdown: false, odown: false, up: false, heartbeat: null, offsetReset: false };

function priorityOf(n: NodeInfo, v: NodeView): number {
  return v.heartbeat ? v.heartbeat.priority : n.priority;
}

/** Replicas that may be promoted now. */
export function eligibleReplicas(config: ClusterConfig, shard: string, view: ReadonlyMap<string, NodeView>): string[] {
  const s = config.shards.find((x) => x.id === shard);
  if (!s) return [];
  return s.replicas.filter((id) => {
    const n = findNode(config, id);
    const v = view.get(id) ?? NO_VIEW;
    return n !== undefined && n.health === 'ok' && !v.sdown && !v.odown && priorityOf(n, v) > 0;
  });
}

export function plan(input: PlanInput): Decision[] {
  const { config, view, manual, busy } = input;
  const out: Decision[] = [];
  const primaries = new Set<string>();
  for (const s of config.shards) {
    if (s.primary === null) continue;
    primaries.add(s.primary);
    if (busy.has(s.id)) continue;
    const p = findNode(config, s.primary);
    if (!p) continue;
    const pv = view.get(p.id) ?? NO_VIEW;
    let reason: 'odown' | 'untrusted' | 'manual' | null = null;
    if (p.health === 'untrusted') reason = 'untrusted';
    else if (pv.offsetReset) {
      out.push({ kind: 'setHealth', id: p.id, health: 'untrusted', runId: p.runId, why: 'its replication offset went backwards: its data was reset' });
      continue;
    } else if (pv.odown) reason = 'odown';
    else if (manual.has(s.id)) reason = 'manual';
    if (reason === null) {
      if (p.health === 'down' && pv.up && !pv.sdown) out.push({ kind: 'setHealth', id: p.id, health: 'ok', runId: p.runId, why: 'replies again' });
      continue;
    }
    let cands = eligibleReplicas(config, s.id, view);
    const to = reason === 'manual' ? manual.get(s.id)! : '';
    if (to !== '') cands = cands.filter((c) => c === to);
    if (cands.length > 0) {
      out.push({ kind: 'failover', shard: s.id, from: p.id, candidates: cands, reason, fromHealth: reason === 'odown' ? 'down' : 'ok' });
      continue;
    }
    if (reason === 'untrusted') {
      // No replica can take over. When none can come back either (none, all down or
      // priority 0), the restarted primary keeps the shard with what it loaded;
      // otherwise wait for a replica.
      const waitable = s.replicas.some((id) => {
        const n = findNode(config, id);
        const v = view.get(id) ?? NO_VIEW;
        return n !== undefined && n.health !== 'down' && !v.odown && priorityOf(n, v) > 0;
      });
      if (!waitable && pv.up) out.push({ kind: 'setHealth', id: p.id, health: 'ok', runId: p.runId, why: 'restarted, and no replica can take over: it keeps the shard' });
      else out.push({ kind: 'stuck', shard: s.id, why: `primary ${p.id} is untrusted and no replica can be promoted yet` });
    } else if (reason === 'odown') {
      if (p.health === 'ok') out.push({ kind: 'setHealth', id: p.id, health: 'down', runId: '', why: 'objectively down' });
      out.push({ kind: 'stuck', shard: s.id, why: `primary ${p.id} is down and no replica can be promoted` });
    } else {
      out.push({ kind: 'stuck', shard: s.id, why: to !== '' ? `${to} cannot be promoted` : 'no replica can be promoted' });
    }
  }
  for (const n of config.nodes) {
    if (primaries.has(n.id)) continue;
    const v = view.get(n.id) ?? NO_VIEW;
    if (n.health === 'ok' && v.odown) out.push({ kind: 'setHealth', id: n.id, health: 'down', runId: '', why: 'objectively down' });
    else if (n.health === 'down' && v.up && !v.sdown) out.push({ kind: 'setHealth', id: n.id, health: 'ok', runId: n.runId, why: 'replies again' });
  }
  return out;
}

export interface Candidate {
  id: string;
  /** Fresh replication offset, or -1 when the candidate could not be asked. */
  offset: number;
  priority: number;
}

/** The replica to promote: highest offset, then lowest priority number, then id; never priority 0 or unreachable. */
export function chooseReplica(cands: readonly Candidate[]): string | null {
  const ok = cands.filter((c) => c.offset >= 0 && c.priority > 0);
  ok.sort((a, b) => b.offset - a.offset || a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return ok[0]?.id ?? null;
}

/**
 * Tracks the offsets nodes report, to notice a history that went backwards (a reset
 * offset under the same run id and replication id). Pure: fed by heartbeats.
 */
export class OffsetTracker {
  private readonly last = new Map<string, { runId: string; replid: string; offset: number; reset: boolean }>();

  /** Records a report; returns true when it shows a reset. */
  record(id: string, runId: string, replid: string, offset: number): boolean {
    const prev = this.last.get(id);
    let reset = false;
    if (prev && prev.runId === runId && prev.replid === replid && offset < prev.offset) reset = true;
    this.last.set(id, { runId, replid, offset, reset: reset || (prev !== undefined && prev.reset && prev.runId === runId && prev.replid === replid) });
    return reset;
  }

  isReset(id: string): boolean {
    return this.last.get(id)?.reset ?? false;
  }

  forget(id: string): void {
    this.last.delete(id);
  }
}

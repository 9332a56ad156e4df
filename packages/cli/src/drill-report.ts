/**
 * The drill's report: what the workload saw around the event (detection time, the longest
 * gap between acknowledged writes, errors by kind, acknowledged writes lost, writes of
 * unknown outcome, latency percentiles before, during and after), as JSON and as text.
 */
import { keyHashSlot } from '@sonic/protocol';
import type { ReadRecord, WriteRecord } from './drill-workload.js';

export interface Percentiles {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface PhaseLatency {
  before: Percentiles;
  during: Percentiles;
  after: Percentiles;
}

export interface DrillReport {
  drill: 'failover' | 'reshard';
  mode: 'kill' | 'partition' | 'reshard';
  run: string;
  client: 'router' | 'cluster';
  endpoint: string;
  controllers: string;
  /** The primaries' repl-sync-mode ("mixed" when they differ, "unknown" when none answered). */
  replSyncMode: string;
  /** No acknowledged write may be lost: sync mode (failover), or any mode (reshard: no node fails). */
  promisesNoLoss: boolean;
  target: { shard?: string; node?: string; address?: string; pid?: number | null; from?: string; to?: string; slots?: number };
  /** Milliseconds from the start of the workload. */
  timeline: { eventAt: number; eventEnd: number; detectedAt: number | null; newPrimaryAt: number | null; healedAt: number | null; restartedAt: number | null; end: number };
  /** Event → the controllers mark the node down (objectively down), or null when not seen. */
  detectionMs: number | null;
  /** Event → a new primary for the shard in the configuration. */
  failoverMs: number | null;
  newPrimary: string | null;
  epochBefore: number;
  epochAfter: number;
  /**
   * The write-unavailability window: the longest time without any write to the affected
   * slots (the shard's, or the moved ones) being acknowledged, from the probes (writes
   * sent every few ms, each on its own connection, so none waits behind another): the
   * longest gap between acknowledgements of probes around the event. A write held by the
   * router through a failover and then done counts as unavailability until it is done.
   * Without probes, `ackGapMs`.
   */
  unavailableMs: number | null;
  /** The same measure before the event: the probes' own spacing. */
  baselineGapMs: number | null;
  /** What the workers saw: the longest gap between their acknowledged writes to the affected slots around the event (it includes waiting out their op timeout on a silent node). */
  ackGapMs: number | null;
  /** The same over all keys. */
  ackGapAllKeysMs: number | null;
  writes: { attempted: number; acknowledged: number; refused: number; unknown: number; unknownApplied: number; errors: Record<string, number> };
  reads: { ok: number; failed: number; missing: number; errors: Record<string, number> };
  lost: { count: number; sample: string[] };
  /** Acknowledged keys the final read-back could not read (errors on every try). */
  unreadable: number;
  latencyMs: { write: PhaseLatency; read: PhaseLatency };
  /** 1: an acknowledged write lost where none may be; 2: some acknowledged keys could not be read back; else 0. */
  exitStatus: number;
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: null, p99: null, max: null };
  const v = [...values].sort((a, b) => a - b);
  const rank = (p: number) => v[Math.max(0, Math.ceil(p * v.length) - 1)]!;
  return { count: v.length, p50: rank(0.5), p99: rank(0.99), max: v[v.length - 1]! };
}

/** Latency of successful operations by the phase their start falls in. */
export function phaseLatency(ops: { start: number; end: number }[], eventAt: number, eventEnd: number): PhaseLatency {
  const b: number[] = [];
  const d: number[] = [];
  const a: number[] = [];
  for (const o of ops) (o.start < eventAt ? b : o.start < eventEnd ? d : a).push(o.end - o.start);
  return { before: percentiles(b), during: percentiles(d), after: percentiles(a) };
}

/**
 * The longest gap between consecutive acknowledgements (sorted times) among the gaps that
 * overlap [from, to]; a gap still open at `end` counts up to `end`.
 */
export function longestGap(acks: number[], from: number, to: number, start: number, end: number): number {
  let prev = start;
  let best = 0;
  for (const t of acks) {
    if (t <= from) {
      prev = t;
      continue;
    }
    best = Math.max(best, t - prev);
    prev = t;
    if (t > to) return best;
  }
  return Math.max(best, end - prev);
}

/** The longest gap between consecutive acknowledgements both within [from, to] (null: fewer than two). */
export function gapBetween(acks: number[], from: number, to: number): number | null {
  let best: number | null = null;
  let prev: number | null = null;
  for (const t of acks) {
    if (t < from || t > to) continue;
    if (prev !== null) best = Math.max(best ?? 0, t - prev);
    prev = t;
  }
  return best;
}

export function countBy(kinds: (string | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of kinds) if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  return out;
}

export interface ReportInput {
  base: Pick<DrillReport, 'drill' | 'mode' | 'run' | 'client' | 'endpoint' | 'controllers' | 'replSyncMode' | 'promisesNoLoss' | 'target' | 'newPrimary' | 'epochBefore' | 'epochAfter'>;
  /** Absolute times (ms epoch). */
  t0: number;
  eventAt: number;
  eventEnd: number;
  detectedAt: number | null;
  newPrimaryAt: number | null;
  healedAt: number | null;
  restartedAt: number | null;
  end: number;
  writes: WriteRecord[];
  reads: ReadRecord[];
  /** The affected slots (the shard's, or the moved ones). */
  slots: Set<number>;
  /** Read back after the drill: value, null, or an Error when unreadable. */
  found: Map<string, string | null | Error>;
}

export function buildReport(i: ReportInput): DrillReport {
  const acked = i.writes.filter((w) => w.outcome === 'ok');
  const unknown = i.writes.filter((w) => w.outcome === 'unknown');
  const lost = acked.filter((w) => {
    const v = i.found.get(w.key);
    return !(v instanceof Error) && v !== w.value;
  });
  const unreadable = acked.filter((w) => i.found.get(w.key) instanceof Error).length;
  const workers = acked.filter((w) => !w.probe);
  const ackTimes = workers.map((w) => w.end).sort((a, b) => a - b);
  const affected = workers.filter((w) => i.slots.has(keyHashSlot(w.key))).map((w) => w.end).sort((a, b) => a - b);
  const probes = acked.filter((w) => w.probe).map((w) => w.end).sort((a, b) => a - b);
  const gapAll = ackTimes.length > 0 ? longestGap(ackTimes, i.eventAt, i.eventEnd, i.t0, i.end) : null;
  const gapAffected = affected.length > 0 ? longestGap(affected, i.eventAt, i.eventEnd, i.t0, i.end) : gapAll;
  const withProbes = i.writes.some((w) => w.probe);
  const rel = (t: number | null) => (t === null ? null : t - i.t0);
  const lostCount = lost.length;
  return {
    ...i.base,
    timeline: { eventAt: i.eventAt - i.t0, eventEnd: i.eventEnd - i.t0, detectedAt: rel(i.detectedAt), newPrimaryAt: rel(i.newPrimaryAt), healedAt: rel(i.healedAt), restartedAt: rel(i.restartedAt), end: i.end - i.t0 },
    detectionMs: i.detectedAt === null ? null : i.detectedAt - i.eventAt,
    failoverMs: i.newPrimaryAt === null ? null : i.newPrimaryAt - i.eventAt,
    unavailableMs: withProbes ? (probes.length > 0 ? longestGap(probes, i.eventAt, i.eventEnd, i.t0, i.end) : i.end - i.t0) : gapAffected,
    baselineGapMs: withProbes ? gapBetween(probes, i.t0, i.eventAt) : gapBetween(affected, i.t0, i.eventAt),
    ackGapMs: gapAffected,
    ackGapAllKeysMs: gapAll,
    writes: {
      attempted: i.writes.length,
      acknowledged: acked.length,
      refused: i.writes.filter((w) => w.outcome === 'refused').length,
      unknown: unknown.length,
      unknownApplied: unknown.filter((w) => i.found.get(w.key) === w.value).length,
      errors: countBy(i.writes.map((w) => w.kind)),
    },
    reads: { ok: i.reads.filter((r) => r.ok).length, failed: i.reads.filter((r) => !r.ok).length, missing: i.reads.filter((r) => r.missing).length, errors: countBy(i.reads.map((r) => r.kind)) },
    lost: { count: lostCount, sample: lost.slice(0, 10).map((w) => w.key) },
    unreadable,
    latencyMs: { write: phaseLatency(acked, i.eventAt, i.eventEnd), read: phaseLatency(i.reads.filter((r) => r.ok), i.eventAt, i.eventEnd) },
    exitStatus: lostCount > 0 && i.base.promisesNoLoss ? 1 : unreadable > 0 ? 2 : 0,
  };
}

const sec = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
const ms = (v: number | null) => (v === null ? '-' : v < 10 ? v.toFixed(1) : v.toFixed(0));
const kinds = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

function phases(p: PhaseLatency): string {
  const one = (name: string, x: Percentiles) => `${name} p50 ${ms(x.p50)} p99 ${ms(x.p99)} (${x.count})`;
  return `${one('before', p.before)} | ${one('during', p.during)} | ${one('after', p.after)}`;
}

export function formatReport(r: DrillReport): string {
  const lines: string[] = [];
  const head = r.drill === 'failover' ? `sonic drill failover --mode ${r.mode}` : 'sonic drill reshard';
  lines.push(`${head}: client ${r.client} (${r.endpoint}), repl-sync-mode ${r.replSyncMode}, run ${r.run}`);
  if (r.drill === 'failover') {
    lines.push(`  target          ${r.target.shard} primary ${r.target.node} at ${r.target.address}${r.target.pid ? ` (pid ${r.target.pid})` : ''}`);
    lines.push(`  detection       ${sec(r.detectionMs)} (marked down); new primary ${r.newPrimary ?? 'none'} after ${sec(r.failoverMs)} (epoch ${r.epochBefore} -> ${r.epochAfter})`);
  } else {
    lines.push(`  moved           ${r.target.slots} slots ${r.target.from ? `${r.target.from} -> ${r.target.to}` : '(rebalance)'} in ${sec(r.timeline.eventEnd - r.timeline.eventAt)} (epoch ${r.epochBefore} -> ${r.epochAfter})`);
  }
  lines.push(`  unavailability  ${sec(r.unavailableMs)} longest time no write to the affected slots was acknowledged (probes; ${sec(r.baselineGapMs)} before the event)`);
  lines.push(`  worker gap      ${sec(r.ackGapMs)} longest gap between the workers' acknowledged writes to those slots (${sec(r.ackGapAllKeysMs)} over all keys)`);
  const w = r.writes;
  lines.push(`  writes          ${w.attempted} sent, ${w.acknowledged} acknowledged, ${w.refused} refused, ${w.unknown} unknown outcome (${w.unknownApplied} of them applied)`);
  lines.push(`  write errors    ${kinds(w.errors)}`);
  lines.push(`  reads           ${r.reads.ok} ok, ${r.reads.failed} failed (${kinds(r.reads.errors)}), ${r.reads.missing} returned no or another value`);
  lines.push(`  lost            ${r.lost.count} acknowledged writes lost${r.lost.count > 0 ? ` (e.g. ${r.lost.sample.slice(0, 3).join(', ')})` : ''}${r.unreadable > 0 ? `; ${r.unreadable} acknowledged keys unreadable after the drill` : ''}`);
  lines.push(`  write latency   ${phases(r.latencyMs.write)} ms`);
  lines.push(`  read latency    ${phases(r.latencyMs.read)} ms`);
  const verdict =
    r.exitStatus === 1
      ? `FAIL: ${r.lost.count} acknowledged writes lost where ${r.drill === 'reshard' ? 'resharding' : 'repl-sync-mode sync'} promises none`
      : r.exitStatus === 2
        ? `UNKNOWN: ${r.unreadable} acknowledged keys could not be read back`
        : r.lost.count > 0
          ? `${r.lost.count} acknowledged writes lost (repl-sync-mode ${r.replSyncMode} does not promise none)`
          : 'OK: no acknowledged write lost';
  lines.push(`  result          ${verdict}`);
  return lines.join('\n') + '\n';
}

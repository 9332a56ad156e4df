import { describe, expect, it } from 'vitest';
import { buildReport, formatReport, gapBetween, longestGap, percentiles, phaseLatency, type ReportInput } from './drill-report.js';
import type { WriteRecord } from './drill-workload.js';

describe('drill report', () => {
  it('percentiles by nearest rank', () => {
    expect(percentiles([])).toEqual({ count: 0, p50: null, p99: null, max: null });
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(v)).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
    expect(percentiles([7])).toEqual({ count: 1, p50: 7, p99: 7, max: 7 });
  });

  it('phases split by the start of each operation', () => {
    const p = phaseLatency([{ start: 0, end: 1 }, { start: 10, end: 15 }, { start: 20, end: 22 }], 10, 20);
    expect([p.before.count, p.during.count, p.after.count]).toEqual([1, 1, 1]);
    expect(p.during.p50).toBe(5);
  });

  it('longest gap around the event, open gaps counted to the end', () => {
    // Acks every 10 ms, an outage from 100 to 450.
    const acks = [10, 20, 90, 100, 450, 460, 470];
    expect(longestGap(acks, 120, 200, 0, 500)).toBe(350);
    // A gap before the event does not count.
    expect(longestGap([10, 300, 310, 320], 305, 306, 0, 400)).toBe(10);
    // No acknowledgement after the event: the gap runs to the end.
    expect(longestGap([10, 20], 30, 40, 0, 1000)).toBe(980);
    expect(gapBetween([10, 20, 90, 100, 450], 0, 120)).toBe(70);
    expect(gapBetween([10], 0, 120)).toBeNull();
  });

  const w = (n: number, outcome: WriteRecord['outcome'], start: number, kind?: string): WriteRecord => ({ n, key: `drill:r:${n}`, value: `r:${n}`, start, end: start + 1, outcome, kind });

  function input(promisesNoLoss: boolean, found: Map<string, string | null | Error>): ReportInput {
    return {
      base: { drill: 'failover', mode: 'kill', run: 'r', client: 'router', endpoint: 'x', controllers: 'y', replSyncMode: promisesNoLoss ? 'sync' : 'async', promisesNoLoss, target: { shard: 'shard-1', node: 'p1' }, newPrimary: 'r1', epochBefore: 3, epochAfter: 4 },
      t0: 0,
      eventAt: 100,
      eventEnd: 300,
      detectedAt: 150,
      newPrimaryAt: 200,
      healedAt: null,
      restartedAt: null,
      end: 400,
      writes: [w(0, 'ok', 10), w(1, 'ok', 50), w(2, 'unknown', 120, 'TIMEOUT'), w(3, 'refused', 130, 'CLUSTERDOWN'), w(4, 'ok', 320), w(5, 'unknown', 140, 'NOREPLICAS')],
      reads: [{ start: 20, end: 21, ok: true, missing: false }, { start: 150, end: 160, ok: false, missing: false, kind: 'TIMEOUT' }],
      slots: new Set(Array.from({ length: 16384 }, (_, i) => i)),
      found,
    };
  }

  it('counts outcomes, errors by kind, lost and applied-unknown writes; exit 1 only where no loss is promised', () => {
    const found = new Map<string, string | null | Error>([
      ['drill:r:0', 'r:0'],
      ['drill:r:1', null],
      ['drill:r:2', 'r:2'],
      ['drill:r:3', null],
      ['drill:r:4', 'r:4'],
      ['drill:r:5', null],
    ]);
    const sync = buildReport(input(true, found));
    expect(sync.writes).toEqual({ attempted: 6, acknowledged: 3, refused: 1, unknown: 2, unknownApplied: 1, errors: { TIMEOUT: 1, CLUSTERDOWN: 1, NOREPLICAS: 1 } });
    expect(sync.lost).toEqual({ count: 1, sample: ['drill:r:1'] });
    expect(sync.reads).toEqual({ ok: 1, failed: 1, missing: 0, errors: { TIMEOUT: 1 } });
    expect(sync.detectionMs).toBe(50);
    expect(sync.failoverMs).toBe(100);
    expect(sync.unavailableMs).toBe(321 - 51);
    expect(sync.ackGapMs).toBe(321 - 51);
    expect(sync.exitStatus).toBe(1);
    expect(formatReport(sync)).toContain('FAIL: 1 acknowledged writes lost');
    const async_ = buildReport(input(false, found));
    expect(async_.exitStatus).toBe(0);
    expect(formatReport(async_)).toContain('does not promise none');
  });

  it('with probes, unavailability is the longest time between acknowledgements of probes', () => {
    const i = input(false, new Map());
    const probe = (n: number, start: number, end: number, outcome: WriteRecord['outcome']): WriteRecord => ({ n: -1, key: `drill:r:p${n}`, value: `r:drill:r:p${n}`, start, end, outcome, probe: true });
    // Probes every 10 ms; those sent from 100 to 250 fail (one stuck until 400); 260 succeeds.
    i.writes.push(probe(1, 80, 81, 'ok'), probe(2, 90, 91, 'ok'), probe(3, 100, 400, 'unknown'), probe(4, 250, 251, 'refused'), probe(5, 260, 262, 'ok'));
    const r = buildReport(i);
    expect(r.unavailableMs).toBe(262 - 91);
    expect(r.baselineGapMs).toBe(10);
    // The workers' own gap is still reported apart (their acks: 11, 51, 321).
    expect(r.ackGapMs).toBe(321 - 51);
  });

  it('an unreadable key is not counted as lost, but the exit status says the check is incomplete', () => {
    const found = new Map<string, string | null | Error>([['drill:r:1', new Error('TIMEOUT')], ['drill:r:0', 'r:0'], ['drill:r:4', 'r:4']]);
    const r = buildReport(input(true, found));
    expect(r.lost.count).toBe(0);
    expect(r.unreadable).toBe(1);
    expect(r.exitStatus).toBe(2);
    expect(formatReport(r)).toContain('UNKNOWN');
  });
});

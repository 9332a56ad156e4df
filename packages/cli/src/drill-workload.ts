/**
 * A drill's workload: writers SET unique keys `drill:<run>:<n>` (one shared sequence, so
 * every number is written once) and readers GET keys already acknowledged. Every
 * operation is recorded (start, end, outcome, error kind) for the report; a failed write
 * is not retried (a retry would blur its outcome) and the writer goes on with the next
 * number after a short pause. `rate` bounds the operations per second of all workers.
 */
import { keyHashSlot } from '@sonic/protocol';
import { errorKind, isRefusal, type ClientFactory, type DrillConn } from './drill-client.js';

export type Outcome = 'ok' | 'refused' | 'unknown';

export interface WriteRecord {
  n: number;
  key: string;
  value: string;
  start: number;
  end: number;
  outcome: Outcome;
  kind?: string;
  /** A probe write (to the affected slots, on a timer, not waiting for earlier ones). */
  probe?: true;
}

export interface ReadRecord {
  start: number;
  end: number;
  ok: boolean;
  /** The key was acknowledged but the read returned another value (or none). */
  missing: boolean;
  kind?: string;
}

export interface WorkloadOptions {
  run: string;
  /** Probe writes: one every `everyMs` to a key of `slots`, each on its own connection. */
  probe?: { slots: Set<number>; everyMs: number };
  writers: number;
  readers: number;
  /** Operations per second over all workers; 0 = as fast as they go. */
  rate: number;
}

/** Probes in flight at most (a probe that would exceed it is skipped). */
const MAX_PROBES = 64;

/** Pause after a failed operation, so a down endpoint is not hammered. */
const ERROR_PAUSE_MS = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Workload {
  readonly writes: WriteRecord[] = [];
  readonly reads: ReadRecord[] = [];
  /** Acknowledged writes, for the readers to pick from. */
  private readonly acked: WriteRecord[] = [];
  private next = 0;
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly conns: DrillConn[] = [];

  constructor(
    private readonly clients: ClientFactory,
    private readonly o: WorkloadOptions,
  ) {}

  keyOf(n: number): string {
    return `drill:${this.o.run}:${n}`;
  }

  start(): void {
    const workers = this.o.writers + this.o.readers;
    const interval = this.o.rate > 0 ? (1000 * workers) / this.o.rate : 0;
    for (let w = 0; w < this.o.writers; w++) this.loops.push(this.loop(interval, () => this.write(this.conn())));
    for (let r = 0; r < this.o.readers; r++) this.loops.push(this.loop(interval, () => this.read(this.conn())));
    if (this.o.probe) this.loops.push(this.probes(this.o.probe.slots, this.o.probe.everyMs));
  }

  /**
   * Writes to the affected slots on a timer, whether or not earlier ones answered: when
   * every worker is stuck on a write to a silent node, the probes still tell when a new
   * write would have succeeded (the write-unavailability window).
   */
  private async probes(slots: Set<number>, everyMs: number): Promise<void> {
    let n = 0;
    let inFlight = 0;
    const pending = new Set<Promise<void>>();
    const nextKey = () => {
      for (let tries = 0; tries < 1_000_000; tries++) {
        const key = `drill:${this.o.run}:p${n++}`;
        if (slots.has(keyHashSlot(key))) return key;
      }
      return null;
    };
    while (this.running) {
      const key = inFlight < MAX_PROBES ? nextKey() : null;
      if (key !== null) {
        inFlight++;
        const c = this.clients.conn();
        const rec: WriteRecord = { n: -1, key, value: `${this.o.run}:${key}`, start: Date.now(), end: 0, outcome: 'ok', probe: true };
        const p = c
          .set(rec.key, rec.value)
          .then(
            () => void this.acked.push(rec),
            (e: unknown) => {
              rec.kind = errorKind(e);
              rec.outcome = isRefusal(e) ? 'refused' : 'unknown';
            },
          )
          .finally(() => {
            rec.end = Date.now();
            this.writes.push(rec);
            c.close();
            inFlight--;
            pending.delete(p);
          });
        pending.add(p);
      }
      await sleep(everyMs);
    }
    await Promise.all(pending);
  }

  private conn(): DrillConn {
    const c = this.clients.conn();
    this.conns.push(c);
    return c;
  }

  /** Runs `step` (made once per worker) until stopped, paced to one call per `interval` ms. */
  private async loop(interval: number, make: () => () => Promise<boolean>): Promise<void> {
    const step = make();
    let due = Date.now();
    while (this.running) {
      const ok = await step();
      if (!ok) await sleep(ERROR_PAUSE_MS);
      if (interval > 0) {
        due += interval;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -1000) due = Date.now(); // fell behind (an outage): do not burst to catch up
      }
    }
  }

  private write(c: DrillConn): () => Promise<boolean> {
    return async () => {
      const n = this.next++;
      const key = this.keyOf(n);
      const value = `${this.o.run}:${n}`;
      const start = Date.now();
      const rec: WriteRecord = { n, key, value, start, end: start, outcome: 'ok' };
      try {
        await c.set(key, value);
        rec.end = Date.now();
        this.acked.push(rec);
      } catch (e) {
        rec.end = Date.now();
        rec.kind = errorKind(e);
        rec.outcome = isRefusal(e) ? 'refused' : 'unknown';
      }
      this.writes.push(rec);
      return rec.outcome === 'ok';
    };
  }

  private read(c: DrillConn): () => Promise<boolean> {
    return async () => {
      if (this.acked.length === 0) {
        await sleep(10);
        return true;
      }
      const w = this.acked[Math.floor(Math.random() * this.acked.length)]!;
      const start = Date.now();
      try {
        const v = await c.get(w.key);
        this.reads.push({ start, end: Date.now(), ok: true, missing: v !== w.value });
        return true;
      } catch (e) {
        this.reads.push({ start, end: Date.now(), ok: false, missing: false, kind: errorKind(e) });
        return false;
      }
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.conns) c.close();
  }

  /** Counts since `since` (ms epoch), for progress lines. */
  counts(since = 0): { wOk: number; wErr: number; rOk: number; rErr: number } {
    let wOk = 0;
    let wErr = 0;
    let rOk = 0;
    let rErr = 0;
    for (let i = this.writes.length - 1; i >= 0 && this.writes[i]!.end >= since; i--) this.writes[i]!.outcome === 'ok' ? wOk++ : wErr++;
    for (let i = this.reads.length - 1; i >= 0 && this.reads[i]!.end >= since; i--) this.reads[i]!.ok ? rOk++ : rErr++;
    return { wOk, wErr, rOk, rErr };
  }
}

/** Consecutive keys unreadable after every try that stop the read-back (the endpoint is gone). */
const GIVE_UP_AFTER = 64;

/**
 * Reads every written key back (acknowledged or not), `parallel` connections, a few tries
 * per key on errors. Returns, per key, the value found, or an Error when every try failed
 * (or when the read-back gave up: GIVE_UP_AFTER keys in a row unreadable).
 */
export async function readBack(clients: ClientFactory, keys: string[], tries = 5, parallel = 16): Promise<Map<string, string | null | Error>> {
  const out = new Map<string, string | null | Error>();
  let i = 0;
  let failedInRow = 0;
  const worker = async () => {
    const conn = clients.conn();
    while (i < keys.length && failedInRow < GIVE_UP_AFTER) {
      const key = keys[i++]!;
      let last: unknown = null;
      for (let t = 0; t < tries; t++) {
        try {
          out.set(key, await conn.get(key));
          last = null;
          break;
        } catch (e) {
          last = e;
          await sleep(100 * (t + 1));
        }
      }
      if (last === null) failedInRow = 0;
      else {
        failedInRow++;
        out.set(key, new Error(errorKind(last)));
      }
    }
    conn.close();
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  for (const k of keys) if (!out.has(k)) out.set(k, new Error('not read: the read-back gave up'));
  return out;
}

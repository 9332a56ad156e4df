/**
 * Storage kept in memory: what a Ready says to persist, applied in the order every
 * storage must follow (compaction, snapshot, entries, hard state). Used by the simulator
 * and by tests; FileRaftStorage does the same on disk.
 */
import type { HardState, LogEntry, RaftStorageState, Ready, Snapshot } from './types.js';

export function emptyStorageState(): RaftStorageState {
  return { hardState: { term: 0, votedFor: null, commit: 0 }, snapshot: null, entries: [] };
}

export class MemoryRaftStorage {
  private hardState: HardState;
  private snap: Snapshot | null;
  private entries: LogEntry[];

  constructor(initial: RaftStorageState = emptyStorageState()) {
    this.hardState = { ...initial.hardState };
    this.snap = initial.snapshot;
    this.entries = initial.entries.slice();
  }

  /** A copy of the durable state, as a restarted node would load it. */
  state(): RaftStorageState {
    return { hardState: { ...this.hardState }, snapshot: this.snap, entries: this.entries.slice() };
  }

  /** The persisted term at `index` (the snapshot's at its index), or undefined when not held. */
  termAt(index: number): number | undefined {
    const base = this.snap?.index ?? 0;
    if (index === base) return this.snap?.term ?? 0;
    return this.entries[index - base - 1]?.term;
  }

  hardStateView(): Readonly<HardState> {
    return this.hardState;
  }

  snapshotIndex(): number {
    return this.snap?.index ?? 0;
  }

  lastIndex(): number {
    const last = this.entries[this.entries.length - 1];
    return last ? last.index : (this.snap?.index ?? 0);
  }

  save(rd: Ready): void {
    if (rd.compaction) this.applySnapshot(rd.compaction, true);
    if (rd.snapshot) this.applySnapshot(rd.snapshot, false);
    if (rd.entries.length > 0) this.appendEntries(rd.entries);
    if (rd.hardState) this.hardState = { ...rd.hardState };
  }

  private applySnapshot(s: Snapshot, keepMatchingLog: boolean): void {
    if (this.snap && this.snap.index >= s.index) return;
    const base = this.snap?.index ?? 0;
    const at = this.entries[s.index - base - 1];
    const keep = keepMatchingLog && at !== undefined && at.term === s.term;
    this.entries = keep ? this.entries.slice(s.index - base) : [];
    this.snap = s;
  }

  private appendEntries(entries: LogEntry[]): void {
    const first = entries[0]!.index;
    const base = this.snap?.index ?? 0;
    if (first <= base) throw new Error(`storage: entries from ${first} at or below the snapshot ${base}`);
    if (first > this.lastIndex() + 1) throw new Error(`storage: entries from ${first} leave a gap after ${this.lastIndex()}`);
    this.entries.length = first - base - 1;
    for (const e of entries) this.entries.push(e);
  }
}

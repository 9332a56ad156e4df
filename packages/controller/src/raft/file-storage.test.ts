import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, readFile, rm, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRaftStorage, RaftStorageCorruptError, crc32, encodeRecord } from './file-storage.js';
import { MemoryRaftStorage } from './memory-storage.js';
import type { HardState, LogEntry, Ready, Snapshot } from './types.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sonic-raft-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rd(parts: Partial<Ready>): Ready {
  return { hardState: null, entries: [], snapshot: null, compaction: null, messages: [], committed: [], ...parts };
}

function entries(from: number, to: number, term: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 'command', data: `e${i}t${term}` });
  return out;
}

async function reopen(s: FileRaftStorage): Promise<FileRaftStorage> {
  await s.close();
  return FileRaftStorage.open(dir);
}

describe('FileRaftStorage', () => {
  it('starts empty and keeps entries and the hard state across a reopen', async () => {
    let s = await FileRaftStorage.open(dir);
    expect(s.state()).toEqual({ hardState: { term: 0, votedFor: null, commit: 0 }, snapshot: null, entries: [] });
    const hs: HardState = { term: 3, votedFor: 'n2', commit: 2 };
    await s.save(rd({ entries: entries(1, 3, 1), hardState: hs }));
    s = await reopen(s);
    expect(s.state()).toEqual({ hardState: hs, snapshot: null, entries: entries(1, 3, 1) });
    await s.close();
  });

  it('truncates a conflicting suffix', async () => {
    let s = await FileRaftStorage.open(dir);
    await s.save(rd({ entries: entries(1, 5, 1) }));
    await s.save(rd({ entries: entries(3, 4, 2) }));
    expect(s.state().entries).toEqual([...entries(1, 2, 1), ...entries(3, 4, 2)]);
    s = await reopen(s);
    expect(s.state().entries).toEqual([...entries(1, 2, 1), ...entries(3, 4, 2)]);
    await s.save(rd({ entries: entries(5, 5, 2) }));
    s = await reopen(s);
    expect(s.lastIndex()).toBe(5);
    await s.close();
  });

  it('compaction keeps the snapshot and drops the entries it covers', async () => {
    let s = await FileRaftStorage.open(dir);
    await s.save(rd({ entries: entries(1, 10, 1) }));
    const snap: Snapshot = { index: 6, term: 1, members: ['a', 'b', 'c'], data: '{"x":1}' };
    await s.save(rd({ compaction: snap, entries: entries(11, 12, 2) }));
    s = await reopen(s);
    expect(s.state().snapshot).toEqual(snap);
    expect(s.state().entries).toEqual([...entries(7, 10, 1), ...entries(11, 12, 2)]);
    const before = (await stat(join(dir, 'log'))).size;
    await s.save(rd({ compaction: { ...snap, index: 12, term: 2 } }));
    expect((await stat(join(dir, 'log'))).size).toBeLessThan(before);
    s = await reopen(s);
    expect(s.state().entries).toEqual([]);
    expect(s.state().snapshot?.index).toBe(12);
    await s.close();
  });

  it('a snapshot from the leader replaces the whole log', async () => {
    let s = await FileRaftStorage.open(dir);
    await s.save(rd({ entries: entries(1, 5, 1) }));
    const snap: Snapshot = { index: 20, term: 4, members: ['a', 'b'], data: 'state' };
    await s.save(rd({ snapshot: snap, entries: entries(21, 22, 4), hardState: { term: 4, votedFor: null, commit: 20 } }));
    s = await reopen(s);
    expect(s.state()).toEqual({ hardState: { term: 4, votedFor: null, commit: 20 }, snapshot: snap, entries: entries(21, 22, 4) });
    await s.close();
  });

  it('tolerates a torn last record (cut in the middle) and appends after it', async () => {
    let s = await FileRaftStorage.open(dir);
    await s.save(rd({ entries: entries(1, 5, 1) }));
    await s.close();
    const log = join(dir, 'log');
    const size = (await stat(log)).size;
    await truncate(log, size - 3);
    s = await FileRaftStorage.open(dir);
    expect(s.state().entries).toEqual(entries(1, 4, 1));
    await s.save(rd({ entries: entries(5, 6, 2) }));
    s = await reopen(s);
    expect(s.state().entries).toEqual([...entries(1, 4, 1), ...entries(5, 6, 2)]);
    await s.close();
  });

  it('tolerates a torn tail of zeros and a last record failing its CRC', async () => {
    let s = await FileRaftStorage.open(dir);
    await s.save(rd({ entries: entries(1, 3, 1) }));
    await s.close();
    const log = join(dir, 'log');
    await appendFile(log, Buffer.alloc(100));
    s = await FileRaftStorage.open(dir);
    expect(s.state().entries).toEqual(entries(1, 3, 1));
    await s.close();
    const buf = await readFile(log);
    buf[buf.length - 2] ^= 0xff; // inside the last record's payload
    await writeFile(log, buf);
    s = await FileRaftStorage.open(dir);
    expect(s.state().entries).toEqual(entries(1, 2, 1));
    await s.close();
  });

  it('refuses a corrupt record in the middle of the log', async () => {
    const s = await FileRaftStorage.open(dir);
    await s.save(rd({ entries: entries(1, 5, 1) }));
    await s.close();
    const log = join(dir, 'log');
    const buf = await readFile(log);
    const second = encodeRecord({ v: 1, kind: 'header', base: 0, baseTerm: 0 }).length + encodeRecord(entries(1, 1, 1)[0]).length;
    buf[second + 10] ^= 0xff;
    await writeFile(log, buf);
    await expect(FileRaftStorage.open(dir)).rejects.toBeInstanceOf(RaftStorageCorruptError);
  });

  it('after a crash between writing a snapshot and rewriting the log, keeps the log only if it matches the snapshot', async () => {
    const s = await FileRaftStorage.open(dir);
    await s.save(rd({ entries: [...entries(1, 4, 1), ...entries(5, 8, 2)] }));
    await s.close();
    const logBytes = await readFile(join(dir, 'log'));
    // Matching: the log's entry 6 has term 2.
    await writeFile(join(dir, 'snapshot'), encodeRecord({ v: 1, index: 6, term: 2, members: ['a'], data: 'd' }));
    let t = await FileRaftStorage.open(dir);
    expect(t.state().entries).toEqual(entries(7, 8, 2));
    await t.close();
    // Not matching: a leader's snapshot at 6 with term 3 (our 6 was never committed).
    await writeFile(join(dir, 'log'), logBytes);
    await writeFile(join(dir, 'snapshot'), encodeRecord({ v: 1, index: 6, term: 3, members: ['a'], data: 'd' }));
    t = await FileRaftStorage.open(dir);
    expect(t.state().entries).toEqual([]);
    expect(t.state().snapshot?.index).toBe(6);
    await t.close();
  });

  it('record format v1 (golden): u32 LE length, u32 LE CRC-32, JSON', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const rec = encodeRecord({ index: 1, term: 2, type: 'noop', data: '' });
    // Computed independently with zlib.crc32; a change here breaks every stored log.
    expect(rec.toString('hex')).toBe(
      '2c000000309c1f957b22696e646578223a312c227465726d223a322c2274797065223a226e6f6f70222c2264617461223a22227d',
    );
  });

  it('behaves as MemoryRaftStorage for random sequences of Ready (and after every reopen)', async () => {
    type Op =
      | { kind: 'append'; back: number; count: number; termBump: number }
      | { kind: 'compact'; back: number }
      | { kind: 'snapshot'; ahead: number }
      | { kind: 'hard'; term: number; commit: number }
      | { kind: 'reopen' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(4), count: fc.integer({ min: 1, max: 4 }), termBump: fc.nat(1) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(3) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), ahead: fc.integer({ min: 1, max: 5 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('hard' as const), term: fc.nat(9), commit: fc.nat(20) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        await rm(dir, { recursive: true, force: true });
        let file = await FileRaftStorage.open(dir);
        const mem = new MemoryRaftStorage();
        let term = 1;
        try {
          for (const o of ops) {
            const st = mem.state();
            const base = st.snapshot?.index ?? 0;
            const last = mem.lastIndex();
            let r: Ready | null = null;
            if (o.kind === 'append') {
              term += o.termBump;
              const first = Math.max(base + 1, last + 1 - o.back);
              r = rd({ entries: entries(first, first + o.count - 1, term) });
            } else if (o.kind === 'compact') {
              const idx = last - o.back;
              if (idx > base) {
                const e = st.entries[idx - base - 1]!;
                r = rd({ compaction: { index: idx, term: e.term, members: ['a'], data: `s${idx}` } });
              }
            } else if (o.kind === 'snapshot') {
              term += 1;
              r = rd({ snapshot: { index: last + o.ahead, term, members: ['a', 'b'], data: `l${last + o.ahead}` } });
            } else if (o.kind === 'hard') {
              r = rd({ hardState: { term: o.term, votedFor: o.term % 2 ? 'b' : null, commit: o.commit } });
            } else {
              file = await reopen(file);
            }
            if (r) {
              mem.save(r);
              await file.save(r);
            }
            expect(file.state()).toEqual(mem.state());
          }
          file = await reopen(file);
          expect(file.state()).toEqual(mem.state());
        } finally {
          await file.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});

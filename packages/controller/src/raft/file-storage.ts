/**
 * Durable Raft storage for the controller process (the I/O shell around RaftNode).
 *
 * Files in `dir` (format version 1):
 *   log        append-only records: a header {base, baseTerm} (the index and term just before
 *              the first entry), then one record per entry. A conflicting suffix is cut with
 *              ftruncate at the record where it starts; compaction and snapshot install write a
 *              new log (temp file, fsync, rename, fsync dir).
 *   hardstate  one record {term, votedFor, commit}, replaced via temp + fsync + rename.
 *   snapshot   one record {index, term, members, data}, replaced the same way.
 *
 * A record is [u32 LE length][u32 LE CRC-32 of the payload][payload: UTF-8 JSON]. On open, a
 * torn last record (cut short, or failing its CRC with nothing but zeros after it) is what a
 * crash in the middle of an append leaves: it is cut off. A bad record followed by data is
 * corruption and open() throws.
 *
 * save(rd) follows the order every Raft storage must: compaction, snapshot, entries (fsync),
 * then the hard state, so the persisted commit index never covers entries not on disk. If a
 * crash falls between writing a snapshot and rewriting the log, open() keeps the log after the
 * snapshot only when the log's entry at the snapshot's index has the snapshot's term (as Raft
 * itself would), and drops it otherwise.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { HardState, LogEntry, RaftStorageState, Ready, Snapshot } from './types.js';

const VERSION = 1;
/** Largest record accepted on read (a snapshot of the cluster configuration fits many times over). */
const MAX_RECORD = 256 * 1024 * 1024;
const HEADER = 8;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib's crc32). */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One framed record: length, CRC-32, JSON payload. */
export function encodeRecord(value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

export class RaftStorageCorruptError extends Error {
  override name = 'RaftStorageCorruptError';
}

interface DecodedRecord {
  value: unknown;
  offset: number;
  end: number;
}

/** Reads records from buf; stops at a torn tail (returns where the good part ends), throws on corruption. */
export function decodeRecords(buf: Buffer, what: string): { records: DecodedRecord[]; goodEnd: number; torn: boolean } {
  const records: DecodedRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    const rest = buf.length - off;
    if (rest < HEADER) return { records, goodEnd: off, torn: true };
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    const end = off + HEADER + len;
    if (len === 0 || len > MAX_RECORD || end > buf.length || crc32(buf, off + HEADER, end) !== crc) {
      // Cut short, or bad with only zeros after it: the torn tail of an interrupted append.
      if (end > buf.length || len > MAX_RECORD || allZero(buf, end > buf.length ? off : end)) {
        return { records, goodEnd: off, torn: true };
      }
      throw new RaftStorageCorruptError(`${what}: bad record at offset ${off} followed by more data`);
    }
    let value: unknown;
    try {
      value = JSON.parse(buf.toString('utf8', off + HEADER, end));
    } catch {
      throw new RaftStorageCorruptError(`${what}: record at offset ${off} is not JSON`);
    }
    records.push({ value, offset: off, end });
    off = end;
  }
  return { records, goodEnd: off, torn: false };
}

function allZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

async function readIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` atomically: temp file, fsync, rename, fsync of the directory. */
async function writeAtomic(dir: string, name: string, data: Buffer): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.write(data, 0, data.length, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

/** Reads a single-record file (hardstate, snapshot); a torn or empty one cannot happen after an atomic rename. */
async function readSingle(dir: string, name: string): Promise<Record<string, unknown> | null> {
  const buf = await readIfExists(join(dir, name));
  if (!buf) return null;
  const { records, torn } = decodeRecords(buf, name);
  if (torn || records.length !== 1) throw new RaftStorageCorruptError(`${name}: expected one whole record`);
  const v = records[0]!.value as Record<string, unknown>;
  if (v.v !== VERSION) throw new RaftStorageCorruptError(`${name}: unknown format version ${String(v.v)}`);
  return v;
}

export class FileRaftStorage {
  readonly dir: string;
  private hardState: HardState;
  private snap: Snapshot | null;
  /** The log file: index and term before its first entry, its entries and their record offsets. */
  private base: number;
  private baseTerm: number;
  private entries: LogEntry[];
  private offsets: number[];
  private size: number;
  private log: FileHandle;
  /** save() calls run one after another. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(dir: string, hs: HardState, snap: Snapshot | null, base: number, baseTerm: number, entries: LogEntry[], offsets: number[], size: number, log: FileHandle) {
    this.dir = dir;
    this.hardState = hs;
    this.snap = snap;
    this.base = base;
    this.baseTerm = baseTerm;
    this.entries = entries;
    this.offsets = offsets;
    this.size = size;
    this.log = log;
  }

  /** Opens (creating if needed) the storage in `dir` and loads what a restarted node starts from. */
  static async open(dir: string): Promise<FileRaftStorage> {
    await mkdir(dir, { recursive: true });
    const hsRec = await readSingle(dir, 'hardstate');
    const hs: HardState = hsRec
      ? { term: Number(hsRec.term), votedFor: (hsRec.votedFor as string | null) ?? null, commit: Number(hsRec.commit) }
      : { term: 0, votedFor: null, commit: 0 };
    const snapRec = await readSingle(dir, 'snapshot');
    const snap: Snapshot | null = snapRec
      ? { index: Number(snapRec.index), term: Number(snapRec.term), members: snapRec.members as string[], data: String(snapRec.data) }
      : null;

    const logPath = join(dir, 'log');
    const buf = await readIfExists(logPath);
    let base = snap?.index ?? 0;
    let baseTerm = snap?.term ?? 0;
    let entries: LogEntry[] = [];
    let rewrite = buf === null;
    if (buf) {
      const { records, goodEnd, torn } = decodeRecords(buf, 'log');
      const head = records[0]?.value as Record<string, unknown> | undefined;
      if (!head) {
        // Only a torn header: the log was being created.
        rewrite = true;
      } else {
        if (head.v !== VERSION || head.kind !== 'header') throw new RaftStorageCorruptError(`log: bad header`);
        base = Number(head.base);
        baseTerm = Number(head.baseTerm);
        for (let k = 1; k < records.length; k++) {
          const e = records[k]!.value as LogEntry;
          if (e.index !== base + k) throw new RaftStorageCorruptError(`log: entry ${e.index} where ${base + k} was expected`);
          entries.push(e);
        }
        if (torn) {
          const fh = await open(logPath, 'r+');
          try {
            await fh.truncate(goodEnd);
            await fh.sync();
          } finally {
            await fh.close();
          }
        }
        // Reconcile with the snapshot (a crash may fall between writing it and rewriting the log).
        const snapIndex = snap?.index ?? 0;
        if (base > snapIndex) throw new RaftStorageCorruptError(`log starts after ${base}, snapshot is at ${snapIndex}`);
        if (base < snapIndex) {
          const at = snapIndex - base - 1;
          const matches = at < entries.length && entries[at]!.term === snap!.term;
          entries = matches ? entries.slice(at + 1) : [];
          base = snapIndex;
          baseTerm = snap!.term;
          rewrite = true;
        } else if (snap && baseTerm !== snap.term) {
          throw new RaftStorageCorruptError(`log base term ${baseTerm} differs from the snapshot's ${snap.term}`);
        }
      }
    }
    if (rewrite) await FileRaftStorage.writeLog(dir, base, baseTerm, entries);
    // Reopen and index the (possibly rewritten) log.
    const log = await open(logPath, 'r+');
    const fresh = await readFile(logPath);
    const { records } = decodeRecords(fresh, 'log');
    const offsets = records.slice(1).map((r) => r.offset);
    return new FileRaftStorage(dir, hs, snap, base, baseTerm, entries, offsets, fresh.length, log);
  }

  private static async writeLog(dir: string, base: number, baseTerm: number, entries: LogEntry[]): Promise<void> {
    const parts = [encodeRecord({ v: VERSION, kind: 'header', base, baseTerm })];
    for (const e of entries) parts.push(encodeRecord(e));
    await writeAtomic(dir, 'log', Buffer.concat(parts));
  }

  /** The durable state (what RaftNode's constructor takes after a restart). */
  state(): RaftStorageState {
    return { hardState: { ...this.hardState }, snapshot: this.snap, entries: this.entries.slice() };
  }

  lastIndex(): number {
    return this.base + this.entries.length;
  }

  /** Persists what a Ready asks for; resolves once it is durable (fsync). Calls are serialised. */
  save(rd: Ready): Promise<void> {
    const run = this.chain.then(() => this.doSave(rd));
    this.chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.log.close();
  }

  private async doSave(rd: Ready): Promise<void> {
    if (this.closed) throw new Error('FileRaftStorage is closed');
    if (rd.compaction && rd.compaction.index > (this.snap?.index ?? 0)) {
      const c = rd.compaction;
      const at = c.index - this.base - 1;
      const keep = at >= 0 && at < this.entries.length && this.entries[at]!.term === c.term ? this.entries.slice(at + 1) : [];
      await this.installSnapshot(c, keep);
    }
    if (rd.snapshot && rd.snapshot.index > (this.snap?.index ?? 0)) {
      await this.installSnapshot(rd.snapshot, []);
    }
    if (rd.entries.length > 0) await this.appendEntries(rd.entries);
    if (rd.hardState) {
      const h = rd.hardState;
      await writeAtomic(this.dir, 'hardstate', encodeRecord({ v: VERSION, term: h.term, votedFor: h.votedFor, commit: h.commit }));
      this.hardState = { ...h };
    }
  }

  /** Snapshot file first, then a new log holding `keep` (the entries after it). */
  private async installSnapshot(s: Snapshot, keep: LogEntry[]): Promise<void> {
    await writeAtomic(this.dir, 'snapshot', encodeRecord({ v: VERSION, index: s.index, term: s.term, members: s.members, data: s.data }));
    this.snap = s;
    await this.log.close();
    await FileRaftStorage.writeLog(this.dir, s.index, s.term, keep);
    const logPath = join(this.dir, 'log');
    this.log = await open(logPath, 'r+');
    this.base = s.index;
    this.baseTerm = s.term;
    this.entries = keep.slice();
    const { records } = decodeRecords(await readFile(logPath), 'log');
    this.offsets = records.slice(1).map((r) => r.offset);
    this.size = records.length > 0 ? records[records.length - 1]!.end : 0;
  }

  private async appendEntries(entries: LogEntry[]): Promise<void> {
    const first = entries[0]!.index;
    if (first <= this.base) throw new Error(`raft storage: entries from ${first} at or below the log base ${this.base}`);
    if (first > this.lastIndex() + 1) throw new Error(`raft storage: entries from ${first} leave a gap after ${this.lastIndex()}`);
    if (first <= this.lastIndex()) {
      // A conflicting suffix: cut the file where its first record starts.
      const k = first - this.base - 1;
      await this.log.truncate(this.offsets[k]!);
      this.size = this.offsets[k]!;
      this.entries.length = k;
      this.offsets.length = k;
    }
    const parts: Buffer[] = [];
    const offsets: number[] = [];
    let off = this.size;
    for (const e of entries) {
      const rec = encodeRecord(e);
      parts.push(rec);
      offsets.push(off);
      off += rec.length;
    }
    const data = Buffer.concat(parts);
    await this.log.write(data, 0, data.length, this.size);
    await this.log.sync();
    for (let i = 0; i < entries.length; i++) {
      this.entries.push(entries[i]!);
      this.offsets.push(offsets[i]!);
    }
    this.size = off;
  }
}

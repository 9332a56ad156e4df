/**
 * The RDB encoding of streams, STREAM_LISTPACKS_2 (type 19, what Redis 7.0 writes; type
 * 15, Redis 5/6's, is read too): the entry chunks as listpack nodes keyed by their
 * master ID, the stream's metadata, then the consumer groups with their PELs and
 * consumers. Used by rdb-value.ts (DUMP/RESTORE and snapshots).
 *
 * Node layout (one listpack): master entry `count deleted n-fields field... 0`, then per
 * entry `flags ms-diff seq-diff [n-fields field value ... | value ...] lp-count`, with
 * flag 2 (same fields as the master entry) or 1 (deleted).
 */
import { Consumer, ENTRIES_READ_UNKNOWN, StreamValue, idPart, makeId, type Nack, type StreamId } from '../engine/stream.js';
import { RdbFormatError, listpackEntries, type RdbReader, type RdbWriter } from './rdb-value.js';

const FLAG_DELETED = 1;
const FLAG_SAMEFIELDS = 2;
const U64 = 1n << 64n;

function bad(msg: string): never {
  throw new RdbFormatError(msg);
}

// ------------------------------------------------------------------ listpack writing

class LpWriter {
  private parts: Buffer[] = [];
  private size = 6;
  count = 0;

  private push(enc: Buffer): void {
    const l = enc.length;
    const back: number[] =
      l <= 127
        ? [l]
        : l < 16383
          ? [l >> 7, (l & 127) | 128]
          : l < 2097151
            ? [l >> 14, ((l >> 7) & 127) | 128, (l & 127) | 128]
            : l < 268435455
              ? [l >> 21, ((l >> 14) & 127) | 128, ((l >> 7) & 127) | 128, (l & 127) | 128]
              : [Math.floor(l / 268435456), ((l >> 21) & 127) | 128, ((l >> 14) & 127) | 128, ((l >> 7) & 127) | 128, (l & 127) | 128];
    this.parts.push(enc, Buffer.from(back));
    this.size += l + back.length;
    this.count++;
  }

  int(v: bigint): void {
    if (v >= 0n && v <= 127n) this.push(Buffer.from([Number(v)]));
    else if (v >= -4096n && v <= 4095n) {
      const u = Number(v) & 0x1fff;
      this.push(Buffer.from([0xc0 | (u >> 8), u & 0xff]));
    } else if (v >= -32768n && v <= 32767n) {
      const b = Buffer.alloc(3);
      b[0] = 0xf1;
      b.writeInt16LE(Number(v), 1);
      this.push(b);
    } else if (v >= -8388608n && v <= 8388607n) {
      const b = Buffer.alloc(4);
      b[0] = 0xf2;
      b.writeIntLE(Number(v), 1, 3);
      this.push(b);
    } else if (v >= -2147483648n && v <= 2147483647n) {
      const b = Buffer.alloc(5);
      b[0] = 0xf3;
      b.writeInt32LE(Number(v), 1);
      this.push(b);
    } else {
      const b = Buffer.alloc(9);
      b[0] = 0xf4;
      b.writeBigInt64LE(BigInt.asIntN(64, v), 1);
      this.push(b);
    }
  }

  /** A string element (stored as an integer when it is a canonical 64-bit one, as lpAppend does). */
  str(s: string): void {
    if (s.length > 0 && s.length <= 20 && /^(-?[1-9]\d*|0)$/.test(s)) {
      const v = BigInt(s);
      if (v >= -(1n << 63n) && v < 1n << 63n) {
        this.int(v);
        return;
      }
    }
    const n = s.length;
    let hdr: Buffer;
    if (n < 64) hdr = Buffer.from([0x80 | n]);
    else if (n < 4096) hdr = Buffer.from([0xe0 | (n >> 8), n & 0xff]);
    else {
      hdr = Buffer.alloc(5);
      hdr[0] = 0xf0;
      hdr.writeUInt32LE(n, 1);
    }
    this.push(Buffer.concat([hdr, Buffer.from(s, 'latin1')]));
  }

  finish(): Buffer {
    const head = Buffer.alloc(6);
    head.writeUInt32LE(this.size + 1, 0);
    head.writeUInt16LE(Math.min(this.count, 65535), 4);
    return Buffer.concat([head, ...this.parts, Buffer.from([0xff])]);
  }
}

const big = (v: number | bigint): bigint => (typeof v === 'bigint' ? v : BigInt(v));

/** An RDB length holding a full unsigned 64-bit value. */
function writeU64(w: RdbWriter, v: number | bigint): void {
  if (typeof v === 'number' && v <= 0xffffffff) {
    w.length(v);
    return;
  }
  const b = Buffer.alloc(9);
  b[0] = 0x81;
  b.writeBigUInt64BE(big(v), 1);
  w.bytes(b);
}

function writeMs(w: RdbWriter, ms: number): void {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(Math.trunc(ms)), 0);
  w.bytes(b);
}

function writeId(w: RdbWriter, id: StreamId): void {
  writeU64(w, idPart(id, 0));
  writeU64(w, idPart(id, 8));
}

/** One chunk as a stream listpack node whose master ID is its first entry's. */
function nodeListpack(ids: StreamId[], vals: string[][]): Buffer {
  const lp = new LpWriter();
  const master = vals[0]!;
  const masterFields: string[] = [];
  for (let i = 0; i < master.length; i += 2) masterFields.push(master[i]!);
  lp.int(BigInt(ids.length));
  lp.int(0n);
  lp.int(BigInt(masterFields.length));
  for (const f of masterFields) lp.str(f);
  lp.int(0n);
  const mMs = big(idPart(ids[0]!, 0));
  const mSeq = big(idPart(ids[0]!, 8));
  for (let k = 0; k < ids.length; k++) {
    const fv = vals[k]!;
    const n = fv.length / 2;
    let same = n === masterFields.length;
    for (let i = 0; same && i < n; i++) if (fv[2 * i] !== masterFields[i]) same = false;
    lp.int(BigInt(same ? FLAG_SAMEFIELDS : 0));
    lp.int(BigInt.asIntN(64, big(idPart(ids[k]!, 0)) - mMs));
    lp.int(BigInt.asIntN(64, big(idPart(ids[k]!, 8)) - mSeq));
    if (same) {
      for (let i = 0; i < n; i++) lp.str(fv[2 * i + 1]!);
      lp.int(BigInt(n + 3));
    } else {
      lp.int(BigInt(n));
      for (const x of fv) lp.str(x);
      lp.int(BigInt(2 * n + 4));
    }
  }
  return lp.finish();
}

/** Writes a stream's body (after the type byte) as STREAM_LISTPACKS_2. */
export function writeStream(w: RdbWriter, s: StreamValue): void {
  const chunks = s.entries.chunks;
  w.length(chunks.length);
  for (const c of chunks) {
    w.string(c.ids[0]!);
    const lp = nodeListpack(c.ids, c.vals);
    w.length(lp.length);
    w.bytes(lp);
  }
  w.length(s.length);
  writeId(w, s.lastId);
  writeId(w, s.firstId());
  writeId(w, s.maxDeletedId);
  writeU64(w, s.entriesAdded);
  const groups = s.sortedGroups();
  w.length(groups.length);
  for (const g of groups) {
    w.string(g.name);
    writeId(w, g.lastId);
    writeU64(w, g.entriesRead === ENTRIES_READ_UNKNOWN ? U64 - 1n : g.entriesRead);
    w.length(g.pel.size);
    for (const [id, nack] of g.pel) {
      w.bytes(Buffer.from(id, 'latin1'));
      writeMs(w, nack.deliveryTime);
      w.length(nack.deliveryCount);
    }
    const conss = g.sortedConsumers();
    w.length(conss.length);
    for (const cons of conss) {
      w.string(cons.name);
      writeMs(w, cons.seenTime);
      w.length(cons.pel.size);
      for (const [id] of cons.pel) w.bytes(Buffer.from(id, 'latin1'));
    }
  }
}

// ------------------------------------------------------------------ reading

/** An RDB length as a full unsigned 64-bit value (number when safe). */
function readU64(r: RdbReader): number | bigint {
  const b0 = r.byte();
  const t = b0 >> 6;
  if (t === 0) return b0 & 0x3f;
  if (t === 1) return ((b0 & 0x3f) << 8) | r.byte();
  if (b0 === 0x80) return r.take(4).readUInt32BE(0);
  if (b0 === 0x81) {
    const v = r.take(8).readBigUInt64BE(0);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  bad('bad length in stream');
}

function readSafe(r: RdbReader): number {
  const v = readU64(r);
  if (typeof v !== 'number') bad('stream counter too large');
  return v;
}

function readId(r: RdbReader): StreamId {
  const ms = readU64(r);
  return makeId(ms, readU64(r));
}

function readMs(r: RdbReader): number {
  return Number(r.take(8).readBigInt64LE(0));
}

const int = (s: string | undefined): bigint => {
  if (s === undefined || !/^-?\d+$/.test(s)) bad('bad stream listpack integer');
  return BigInt(s);
};

/** Reads a stream body of type 15 (v1) or 19 (v2). */
export function readStream(r: RdbReader, v2: boolean): StreamValue {
  const s = new StreamValue();
  const nodes = r.length();
  let lastAppended: StreamId | null = null;
  for (let n = 0; n < nodes; n++) {
    const key = r.stringBuf();
    if (key.length !== 16) bad('stream node key is not a 128 bit ID');
    const master = key.latin1Slice(0, 16);
    const mMs = big(idPart(master, 0));
    const mSeq = big(idPart(master, 8));
    const lpBuf = r.stringBuf();
    const e = listpackEntries(lpBuf);
    if (e.length === 0) bad('empty listpack inside stream');
    let p = 0;
    const next = (): string => {
      if (p >= e.length) bad('stream listpack truncated');
      return e[p++]!;
    };
    const count = Number(int(next()));
    const deleted = Number(int(next()));
    const nmf = Number(int(next()));
    if (nmf < 0 || nmf > e.length) bad('bad master fields');
    const mf: string[] = [];
    for (let i = 0; i < nmf; i++) mf.push(next());
    if (next() !== '0') bad('bad master entry terminator');
    let fresh = true;
    let seen = 0;
    while (p < e.length) {
      const flags = Number(int(next()));
      const ms = (mMs + int(next()) + U64) % U64;
      const seq = (mSeq + int(next()) + U64) % U64;
      let fields: string[];
      if (flags & FLAG_SAMEFIELDS) {
        fields = new Array<string>(2 * nmf);
        for (let i = 0; i < nmf; i++) {
          fields[2 * i] = mf[i]!;
          fields[2 * i + 1] = next();
        }
      } else {
        const nf = Number(int(next()));
        if (nf < 0 || nf * 2 > e.length - p) bad('bad stream entry field count');
        fields = new Array<string>(2 * nf);
        for (let i = 0; i < 2 * nf; i++) fields[i] = next();
      }
      next(); // lp-count
      seen++;
      if (flags & FLAG_DELETED) continue;
      const id = makeId(ms, seq);
      if (lastAppended !== null && id <= lastAppended) bad('stream IDs out of order');
      s.appendLoaded(id, fields, fresh);
      fresh = false;
      lastAppended = id;
    }
    if (seen !== count + deleted) bad('stream node entry count mismatch');
    if (!fresh) {
      // The node's fill as Redis sees it, so later XADDs open new nodes where it would.
      const chunk = s.entries.chunks[s.entries.chunks.length - 1]!;
      chunk.bytes = lpBuf.length;
      chunk.added = seen;
    }
  }
  const length = readSafe(r);
  if (length !== s.entries.size) bad('stream length mismatch');
  s.lastId = readId(r);
  if (v2) {
    readId(r); // first ID: recomputed from the entries
    s.maxDeletedId = readId(r);
    s.entriesAdded = readSafe(r);
  } else s.entriesAdded = length;
  if (lastAppended !== null && s.lastId < lastAppended) bad('stream last ID smaller than its entries');
  const ngroups = r.length();
  for (let gi = 0; gi < ngroups; gi++) {
    const name = r.string();
    const lastId = readId(r);
    let entriesRead = ENTRIES_READ_UNKNOWN;
    if (v2) {
      const er = readU64(r);
      entriesRead = typeof er === 'number' ? er : ENTRIES_READ_UNKNOWN;
    } else entriesRead = s.estimateEntriesRead(lastId);
    const g = s.createGroup(name, lastId, entriesRead);
    if (g === null) bad('duplicate consumer group');
    const npel = r.length();
    const pending = new Map<StreamId, Nack>();
    for (let i = 0; i < npel; i++) {
      const id = r.take(16).latin1Slice(0, 16);
      const nack: Nack = { consumer: null as unknown as Consumer, deliveryTime: readMs(r), deliveryCount: readSafe(r) };
      if (!g.pel.set(id, nack)) bad('duplicate PEL entry');
      pending.set(id, nack);
    }
    const ncons = r.length();
    for (let ci = 0; ci < ncons; ci++) {
      const cname = r.string();
      const cons = new Consumer(cname, readMs(r));
      if (g.consumers.has(cname)) bad('duplicate consumer');
      g.consumers.set(cname, cons);
      const n = r.length();
      for (let i = 0; i < n; i++) {
        const id = r.take(16).latin1Slice(0, 16);
        const nack = pending.get(id);
        if (nack === undefined || nack.consumer !== null) bad('consumer PEL entry not in the group PEL');
        nack.consumer = cons;
        cons.pel.set(id, nack);
      }
    }
    for (const nack of pending.values()) if (nack.consumer === null) bad('group PEL entry without a consumer');
  }
  return s;
}

/**
 * The RDB value layer: how one value is serialised in Redis's RDB format, shared by
 * DUMP/RESTORE payloads and (later) RDB snapshot files.
 *
 * Writing uses simple encodings every Redis since 7.0 loads: strings (integer-encoded
 * or LZF-compressed where Redis would), LIST (a plain element list), SET, ZSET_2
 * (binary doubles) and HASH. Reading accepts every encoding Redis 7.0 writes or still
 * loads: ziplists, zipmaps, intsets, listpacks, quicklists (1 and 2), LZF strings and
 * integer-encoded strings.
 *
 * Strings are latin1 JS strings (one char per byte), as in the engine.
 */
import { Kind, type Value } from '../engine/values.js';
import { HashValue } from '../engine/hash.js';
import { ListValue } from '../engine/list.js';
import { SetValue } from '../engine/set.js';
import { ZSetValue } from '../engine/zset.js';
import { lzfCompress, lzfDecompress } from './lzf.js';
import { crc64Init, crc64Update, writeCrc64LE } from './crc64.js';
import type { StreamValue } from '../engine/stream.js';
import { readStream, writeStream } from './rdb-stream.js';

/** The RDB format version Sonic writes (Redis 7.0's). */
export const RDB_VERSION = 10;

/** RDB object type bytes. */
export const RdbType = {
  STRING: 0,
  LIST: 1,
  SET: 2,
  ZSET: 3,
  HASH: 4,
  ZSET_2: 5,
  MODULE: 6,
  MODULE_2: 7,
  HASH_ZIPMAP: 9,
  LIST_ZIPLIST: 10,
  SET_INTSET: 11,
  ZSET_ZIPLIST: 12,
  HASH_ZIPLIST: 13,
  LIST_QUICKLIST: 14,
  STREAM_LISTPACKS: 15,
  HASH_LISTPACK: 16,
  ZSET_LISTPACK: 17,
  LIST_QUICKLIST_2: 18,
  STREAM_LISTPACKS_2: 19,
} as const;

/** RDB file opcodes (for the file layer built on this one, and FUNCTION DUMP payloads). */
export const RdbOpcode = {
  FUNCTION2: 0xf5,
  FUNCTION_PRE_GA: 0xf6,
  MODULE_AUX: 0xf7,
  IDLE: 0xf8,
  FREQ: 0xf9,
  AUX: 0xfa,
  RESIZEDB: 0xfb,
  EXPIRETIME_MS: 0xfc,
  EXPIRETIME: 0xfd,
  SELECTDB: 0xfe,
  EOF: 0xff,
} as const;

const ENC_INT8 = 0;
const ENC_INT16 = 1;
const ENC_INT32 = 2;
const ENC_LZF = 3;

const QUICKLIST_NODE_PLAIN = 1;
const QUICKLIST_NODE_PACKED = 2;

/** A malformed or unsupported serialised value (RESTORE answers "Bad data format"). */
export class RdbFormatError extends Error {}

function bad(msg: string): never {
  throw new RdbFormatError(msg);
}

// ------------------------------------------------------------------ writing

/** An append-only byte buffer with RDB primitives. */
export class RdbWriter {
  buf: Buffer;
  len = 0;
  /** Compress strings longer than 20 bytes with LZF (Redis's rdbcompression). */
  compress: boolean;

  constructor(initial = 256, compress = true) {
    this.buf = Buffer.allocUnsafe(initial);
    this.compress = compress;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.len);
    this.len += src.length;
  }

  /** Redis's length encoding (6, 14, 32 or 64 bits). */
  length(n: number): void {
    if (n < 0x40) this.byte(n);
    else if (n < 0x4000) {
      this.ensure(2);
      this.buf[this.len++] = 0x40 | (n >> 8);
      this.buf[this.len++] = n & 0xff;
    } else if (n <= 0xffffffff) {
      this.ensure(5);
      this.buf[this.len++] = 0x80;
      this.buf.writeUInt32BE(n, this.len);
      this.len += 4;
    } else {
      this.ensure(9);
      this.buf[this.len++] = 0x81;
      this.buf.writeBigUInt64BE(BigInt(n), this.len);
      this.len += 8;
    }
  }

  /** A string as Redis's rdbSaveRawString writes it: integer, LZF or raw. */
  string(s: string): void {
    const n = s.length;
    if (n <= 11 && n > 0) {
      const v = smallInteger(s);
      if (v !== null) {
        this.intString(v);
        return;
      }
    }
    if (this.compress && n > 20) {
      const raw = Buffer.from(s, 'latin1');
      const c = lzfCompress(raw, n - 4);
      if (c !== null) {
        this.byte(0xc0 | ENC_LZF);
        this.length(c.length);
        this.length(n);
        this.bytes(c);
        return;
      }
      this.length(n);
      this.bytes(raw);
      return;
    }
    this.length(n);
    this.ensure(n);
    this.len += this.buf.latin1Write(s, this.len, n);
  }

  private intString(v: number): void {
    if (v >= -128 && v <= 127) {
      this.ensure(2);
      this.buf[this.len++] = 0xc0 | ENC_INT8;
      this.buf.writeInt8(v, this.len);
      this.len += 1;
    } else if (v >= -32768 && v <= 32767) {
      this.ensure(3);
      this.buf[this.len++] = 0xc0 | ENC_INT16;
      this.buf.writeInt16LE(v, this.len);
      this.len += 2;
    } else {
      this.ensure(5);
      this.buf[this.len++] = 0xc0 | ENC_INT32;
      this.buf.writeInt32LE(v, this.len);
      this.len += 4;
    }
  }

  /** A binary double, little-endian (ZSET_2 scores). */
  double(d: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(d, this.len);
    this.len += 8;
  }

  /** The RDB type byte of a value, then the value. */
  value(v: Value): void {
    this.byte(rdbTypeOf(v));
    this.valueBody(v);
  }

  /** The value without its type byte. */
  valueBody(v: Value): void {
    if (typeof v === 'string') {
      this.string(v);
      return;
    }
    switch (v.kind) {
      case Kind.List: {
        const l = v as ListValue;
        this.length(l.length);
        for (let i = 0; i < l.length; i++) this.string(l.at(i));
        return;
      }
      case Kind.Set: {
        const s = v as SetValue;
        this.length(s.size);
        for (const m of s) this.string(m);
        return;
      }
      case Kind.ZSet: {
        const z = v as ZSetValue;
        this.length(z.size);
        for (const [m, score] of z.entries()) {
          this.string(m);
          this.double(score);
        }
        return;
      }
      case Kind.Hash: {
        const h = v as HashValue;
        this.length(h.size);
        for (const [f, val] of h.map) {
          this.string(f);
          this.string(val);
        }
        return;
      }
      case Kind.Stream:
        writeStream(this, v as StreamValue);
        return;
      default:
        throw new RdbFormatError(`cannot serialise a value of kind ${v.kind}`);
    }
  }

  toBuffer(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** The RDB type Sonic writes for a value. */
export function rdbTypeOf(v: Value): number {
  if (typeof v === 'string') return RdbType.STRING;
  switch (v.kind) {
    case Kind.List:
      return RdbType.LIST;
    case Kind.Set:
      return RdbType.SET;
    case Kind.ZSet:
      return RdbType.ZSET_2;
    case Kind.Hash:
      return RdbType.HASH;
    case Kind.Stream:
      return RdbType.STREAM_LISTPACKS_2;
    default:
      throw new RdbFormatError(`no RDB type for kind ${v.kind}`);
  }
}

/** The value of `s` when it is a canonical decimal integer within 32 bits (Redis's rdbTryIntegerEncoding). */
function smallInteger(s: string): number | null {
  const c0 = s.charCodeAt(0);
  if (!(c0 === 45 || (c0 >= 48 && c0 <= 57))) return null;
  const n = Number(s);
  if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) return null;
  return String(n) === s ? n : null;
}

/** Serialises a value: its RDB type byte followed by the value. */
export function encodeValue(v: Value): Buffer {
  const w = new RdbWriter();
  w.value(v);
  return w.toBuffer();
}

// ------------------------------------------------------------------ reading

/** A cursor over a buffer with RDB primitives; every read is bounds-checked. */
export class RdbReader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end = buf.length,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  byte(): number {
    if (this.pos >= this.end) bad('unexpected end of data');
    return this.buf[this.pos++]!;
  }

  take(n: number): Buffer {
    if (n < 0 || this.pos + n > this.end) bad('unexpected end of data');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A length, or -(encoding + 1) for a special string encoding. */
  private lengthOrEncoding(): number {
    const b0 = this.byte();
    const t = b0 >> 6;
    if (t === 0) return b0 & 0x3f;
    if (t === 1) return ((b0 & 0x3f) << 8) | this.byte();
    if (t === 2) {
      if (b0 === 0x80) return this.take(4).readUInt32BE(0);
      if (b0 === 0x81) {
        const v = this.take(8).readBigUInt64BE(0);
        if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad('length too large');
        return Number(v);
      }
      bad('unknown length encoding');
    }
    return -((b0 & 0x3f) + 1);
  }

  length(): number {
    const n = this.lengthOrEncoding();
    if (n < 0) bad('encoded length where a length was expected');
    return n;
  }

  /** A string as raw bytes (decoding integer and LZF encodings). */
  stringBuf(): Buffer {
    const n = this.lengthOrEncoding();
    if (n >= 0) return this.take(n);
    const enc = -n - 1;
    if (enc === ENC_INT8) return Buffer.from(String(this.take(1).readInt8(0)), 'latin1');
    if (enc === ENC_INT16) return Buffer.from(String(this.take(2).readInt16LE(0)), 'latin1');
    if (enc === ENC_INT32) return Buffer.from(String(this.take(4).readInt32LE(0)), 'latin1');
    if (enc === ENC_LZF) {
      const clen = this.length();
      const len = this.length();
      const comp = this.take(clen);
      try {
        return lzfDecompress(comp, len);
      } catch (e) {
        bad((e as Error).message);
      }
    }
    bad('unknown string encoding');
  }

  string(): string {
    const b = this.stringBuf();
    return b.latin1Slice(0, b.length);
  }

  /** Binary little-endian double (ZSET_2). */
  binaryDouble(): number {
    return this.take(8).readDoubleLE(0);
  }

  /** Old-style string double (ZSET): length byte, with 253 nan, 254 +inf, 255 -inf. */
  stringDouble(): number {
    const n = this.byte();
    if (n === 253) return NaN;
    if (n === 254) return Infinity;
    if (n === 255) return -Infinity;
    const s = this.take(n).latin1Slice(0, n);
    const d = Number(s);
    if (Number.isNaN(d)) bad('bad double');
    return d;
  }

  /** A value of the given RDB type. */
  value(type: number): Value {
    switch (type) {
      case RdbType.STRING:
        return this.string();
      case RdbType.LIST: {
        const n = this.length();
        if (n === 0) bad('empty list');
        const l = new ListValue();
        for (let i = 0; i < n; i++) l.pushTail(this.string());
        return l;
      }
      case RdbType.SET: {
        const n = this.length();
        if (n === 0) bad('empty set');
        const s = new SetValue();
        for (let i = 0; i < n; i++) if (!s.add(this.string())) bad('duplicate set member');
        return s;
      }
      case RdbType.ZSET:
      case RdbType.ZSET_2: {
        const n = this.length();
        if (n === 0) bad('empty zset');
        const pairs: [string, number][] = [];
        for (let i = 0; i < n; i++) {
          const m = this.string();
          const score = type === RdbType.ZSET_2 ? this.binaryDouble() : this.stringDouble();
          if (Number.isNaN(score)) bad('NaN score');
          pairs.push([m, score]);
        }
        return zsetFrom(pairs);
      }
      case RdbType.HASH: {
        const n = this.length();
        if (n === 0) bad('empty hash');
        const h = new HashValue();
        for (let i = 0; i < n; i++) {
          const f = this.string();
          const v = this.string();
          if (h.map.has(f)) bad('duplicate hash field');
          h.map.set(f, v);
        }
        return h;
      }
      case RdbType.HASH_ZIPMAP:
        return hashFromPairs(zipmapEntries(this.stringBuf()));
      case RdbType.LIST_ZIPLIST:
        return listFrom(ziplistEntries(this.stringBuf()));
      case RdbType.SET_INTSET: {
        const s = new SetValue();
        for (const m of intsetEntries(this.stringBuf())) if (!s.add(m)) bad('duplicate intset member');
        if (s.size === 0) bad('empty intset');
        return s;
      }
      case RdbType.ZSET_ZIPLIST:
        return zsetFromFlat(ziplistEntries(this.stringBuf()));
      case RdbType.HASH_ZIPLIST:
        return hashFromPairs(ziplistEntries(this.stringBuf()));
      case RdbType.HASH_LISTPACK:
        return hashFromPairs(listpackEntries(this.stringBuf()));
      case RdbType.ZSET_LISTPACK:
        return zsetFromFlat(listpackEntries(this.stringBuf()));
      case RdbType.LIST_QUICKLIST: {
        const nodes = this.length();
        const items: string[] = [];
        for (let i = 0; i < nodes; i++) for (const e of ziplistEntries(this.stringBuf())) items.push(e);
        return listFrom(items);
      }
      case RdbType.LIST_QUICKLIST_2: {
        const nodes = this.length();
        const items: string[] = [];
        for (let i = 0; i < nodes; i++) {
          const container = this.length();
          if (container === QUICKLIST_NODE_PLAIN) items.push(this.string());
          else if (container === QUICKLIST_NODE_PACKED) {
            const lp = listpackEntries(this.stringBuf());
            if (lp.length === 0) bad('empty quicklist node');
            for (const e of lp) items.push(e);
          } else bad('unknown quicklist node container');
        }
        return listFrom(items);
      }
      case RdbType.STREAM_LISTPACKS:
      case RdbType.STREAM_LISTPACKS_2:
        return readStream(this, type === RdbType.STREAM_LISTPACKS_2);
      default:
        bad(`unsupported RDB type ${type}`);
    }
  }
}

/** Deserialises a value written by `encodeValue` (type byte + value); the whole buffer must be consumed. */
export function decodeValue(buf: Buffer): Value {
  const r = new RdbReader(buf);
  const v = r.value(r.byte());
  if (r.remaining !== 0) bad('trailing bytes after the value');
  return v;
}

function listFrom(items: string[]): ListValue {
  if (items.length === 0) bad('empty list');
  const l = new ListValue();
  for (const e of items) l.pushTail(e);
  return l;
}

function hashFromPairs(flat: string[]): HashValue {
  if (flat.length === 0 || flat.length % 2 !== 0) bad('bad hash entries');
  const h = new HashValue();
  for (let i = 0; i < flat.length; i += 2) {
    if (h.map.has(flat[i]!)) bad('duplicate hash field');
    h.map.set(flat[i]!, flat[i + 1]!);
  }
  return h;
}

function zsetFromFlat(flat: string[]): ZSetValue {
  if (flat.length === 0 || flat.length % 2 !== 0) bad('bad zset entries');
  const pairs: [string, number][] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const score = parseScore(flat[i + 1]!);
    pairs.push([flat[i]!, score]);
  }
  return zsetFrom(pairs);
}

function parseScore(s: string): number {
  const low = s.toLowerCase();
  if (low === 'inf' || low === '+inf') return Infinity;
  if (low === '-inf') return -Infinity;
  const d = Number(s);
  if (s.length === 0 || Number.isNaN(d)) bad('bad zset score');
  return d;
}

function zsetFrom(pairs: [string, number][]): ZSetValue {
  const z = new ZSetValue();
  for (const [m, score] of pairs) {
    if (z.score(m) !== undefined) bad('duplicate zset member');
    z.insert(m, score);
  }
  return z;
}

// ------------------------------------------------------------------ compact encodings

/** Elements of a ziplist (Redis < 7 small lists, hashes and zsets), as strings. */
export function ziplistEntries(zl: Buffer): string[] {
  if (zl.length < 11) bad('ziplist too short');
  const total = zl.readUInt32LE(0);
  if (total !== zl.length) bad('ziplist size mismatch');
  const out: string[] = [];
  let p = 10;
  for (;;) {
    if (p >= zl.length) bad('ziplist without end marker');
    if (zl[p] === 0xff) break;
    // prevlen
    p += zl[p]! < 254 ? 1 : 5;
    if (p >= zl.length) bad('ziplist entry truncated');
    const e = zl[p]!;
    const hi = e >> 6;
    if (hi === 0 || hi === 1 || hi === 2) {
      let len: number;
      if (hi === 0) {
        len = e & 0x3f;
        p += 1;
      } else if (hi === 1) {
        if (p + 2 > zl.length) bad('ziplist entry truncated');
        len = ((e & 0x3f) << 8) | zl[p + 1]!;
        p += 2;
      } else {
        if (p + 5 > zl.length) bad('ziplist entry truncated');
        len = zl.readUInt32BE(p + 1);
        p += 5;
      }
      if (p + len > zl.length) bad('ziplist string truncated');
      out.push(zl.latin1Slice(p, p + len));
      p += len;
      continue;
    }
    p += 1;
    let v: number | bigint;
    const need = (n: number) => {
      if (p + n > zl.length) bad('ziplist integer truncated');
    };
    if (e === 0xc0) {
      need(2);
      v = zl.readInt16LE(p);
      p += 2;
    } else if (e === 0xd0) {
      need(4);
      v = zl.readInt32LE(p);
      p += 4;
    } else if (e === 0xe0) {
      need(8);
      v = zl.readBigInt64LE(p);
      p += 8;
    } else if (e === 0xf0) {
      need(3);
      v = zl.readIntLE(p, 3);
      p += 3;
    } else if (e === 0xfe) {
      need(1);
      v = zl.readInt8(p);
      p += 1;
    } else if (e >= 0xf1 && e <= 0xfd) v = (e & 0x0f) - 1;
    else bad('bad ziplist encoding');
    out.push(String(v));
  }
  return out;
}

/** Elements of a listpack (Redis 7 small hashes, zsets, quicklist nodes), as strings. */
export function listpackEntries(lp: Buffer): string[] {
  if (lp.length < 7) bad('listpack too short');
  const total = lp.readUInt32LE(0);
  if (total !== lp.length) bad('listpack size mismatch');
  const out: string[] = [];
  let p = 6;
  for (;;) {
    if (p >= lp.length) bad('listpack without end marker');
    const e = lp[p]!;
    if (e === 0xff) break;
    const start = p;
    const need = (n: number) => {
      if (p + n > lp.length) bad('listpack entry truncated');
    };
    if ((e & 0x80) === 0) {
      out.push(String(e & 0x7f));
      p += 1;
    } else if ((e & 0xc0) === 0x80) {
      const len = e & 0x3f;
      need(1 + len);
      out.push(lp.latin1Slice(p + 1, p + 1 + len));
      p += 1 + len;
    } else if ((e & 0xe0) === 0xc0) {
      need(2);
      let v = ((e & 0x1f) << 8) | lp[p + 1]!;
      if (v >= 1 << 12) v -= 1 << 13;
      out.push(String(v));
      p += 2;
    } else if ((e & 0xf0) === 0xe0) {
      need(2);
      const len = ((e & 0x0f) << 8) | lp[p + 1]!;
      need(2 + len);
      out.push(lp.latin1Slice(p + 2, p + 2 + len));
      p += 2 + len;
    } else if (e === 0xf0) {
      need(5);
      const len = lp.readUInt32LE(p + 1);
      need(5 + len);
      out.push(lp.latin1Slice(p + 5, p + 5 + len));
      p += 5 + len;
    } else if (e === 0xf1) {
      need(3);
      out.push(String(lp.readInt16LE(p + 1)));
      p += 3;
    } else if (e === 0xf2) {
      need(4);
      out.push(String(lp.readIntLE(p + 1, 3)));
      p += 4;
    } else if (e === 0xf3) {
      need(5);
      out.push(String(lp.readInt32LE(p + 1)));
      p += 5;
    } else if (e === 0xf4) {
      need(9);
      out.push(String(lp.readBigInt64LE(p + 1)));
      p += 9;
    } else bad('bad listpack encoding');
    // Skip the back-length: its size follows from the entry's size.
    const l = p - start;
    p += l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
  }
  const count = lp.readUInt16LE(4);
  if (count !== 65535 && count !== out.length) bad('listpack count mismatch');
  return out;
}

/** Members of an intset, as decimal strings. */
export function intsetEntries(is: Buffer): string[] {
  if (is.length < 8) bad('intset too short');
  const enc = is.readUInt32LE(0);
  const n = is.readUInt32LE(4);
  if ((enc !== 2 && enc !== 4 && enc !== 8) || 8 + enc * n !== is.length) bad('bad intset');
  const out: string[] = new Array(n);
  for (let i = 0, p = 8; i < n; i++, p += enc) {
    out[i] = enc === 2 ? String(is.readInt16LE(p)) : enc === 4 ? String(is.readInt32LE(p)) : String(is.readBigInt64LE(p));
  }
  return out;
}

/** Field/value pairs of a zipmap (Redis < 2.6 small hashes), flattened. */
export function zipmapEntries(zm: Buffer): string[] {
  const out: string[] = [];
  let p = 1; // zmlen
  const len = (): number => {
    if (p >= zm.length) bad('zipmap truncated');
    const b = zm[p]!;
    if (b < 254) {
      p += 1;
      return b;
    }
    if (b === 254) {
      if (p + 5 > zm.length) bad('zipmap truncated');
      const v = zm.readUInt32LE(p + 1);
      p += 5;
      return v;
    }
    return -1;
  };
  for (;;) {
    const klen = len();
    if (klen < 0) break;
    if (p + klen > zm.length) bad('zipmap truncated');
    out.push(zm.latin1Slice(p, p + klen));
    p += klen;
    const vlen = len();
    if (vlen < 0) bad('zipmap truncated');
    if (p >= zm.length) bad('zipmap truncated');
    const free = zm[p++]!;
    if (p + vlen > zm.length) bad('zipmap truncated');
    out.push(zm.latin1Slice(p, p + vlen));
    p += vlen + free;
  }
  return out;
}

// ------------------------------------------------------------------ DUMP payloads

/**
 * A DUMP payload: the serialised value, the RDB version (2 bytes little-endian) and
 * the CRC-64 of everything before it (8 bytes little-endian).
 */
export function createDumpPayload(v: Value): Buffer {
  const w = new RdbWriter();
  w.value(v);
  return sealDumpPayload(w);
}

/** Ends a DUMP-format payload (a value, or FUNCTION DUMP's libraries): RDB version, then CRC-64 of it all. */
export function sealDumpPayload(w: RdbWriter): Buffer {
  w.byte(RDB_VERSION & 0xff);
  w.byte((RDB_VERSION >> 8) & 0xff);
  const body = w.toBuffer();
  const out = Buffer.allocUnsafe(body.length + 8);
  body.copy(out, 0);
  writeCrc64LE(crc64Update(crc64Init(), body), out, body.length);
  return out;
}

/** True when a payload's footer is sound: an RDB version we read, and a matching CRC-64. */
export function verifyDumpPayload(p: Buffer, maxVersion = RDB_VERSION): boolean {
  if (p.length < 10) return false;
  const footer = p.length - 10;
  const ver = p[footer]! | (p[footer + 1]! << 8);
  if (ver > maxVersion) return false;
  const crc = Buffer.allocUnsafe(8);
  writeCrc64LE(crc64Update(crc64Init(), p, 0, p.length - 8), crc, 0);
  return crc.equals(p.subarray(p.length - 8));
}

/** The value of a verified DUMP payload; throws RdbFormatError when it does not parse. */
export function decodeDumpPayload(p: Buffer): Value {
  const r = new RdbReader(p, p.length - 10);
  const v = r.value(r.byte());
  if (r.remaining !== 0) bad('trailing bytes in payload');
  return v;
}

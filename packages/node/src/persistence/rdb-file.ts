/**
 * The RDB *file* layer, around the value codec of `rdb-value.ts`:
 *
 *   "REDIS0010"  AUX*  ( SELECTDB db  RESIZEDB n e  ( [EXPIRETIME_MS t] [IDLE|FREQ] type key value )* )*  EOF  crc64
 *
 * Writing: `RdbFileWriter` adds the file-level opcodes to an `RdbWriter` (the
 * snapshotter drives it). Reading: `RdbFileLoader` parses a whole file buffer in
 * time-bounded steps (so the server answers `LOADING` between them), checks the CRC-64
 * trailer, and hands each key to a sink. Every opcode Redis 7.0 writes is understood;
 * FUNCTION2 payloads are skipped with a warning, module data is refused.
 *
 * Several databases may appear more than once (SELECTDB is a plain "current db" switch,
 * as in Redis's loader): the fork-less snapshotter writes a key that a command is
 * about to change into its database out of walk order.
 */
import type { Value } from '../engine/values.js';
import { RDB_VERSION, RdbFormatError, RdbOpcode, RdbReader, RdbType, RdbWriter, rdbTypeOf } from './rdb-value.js';
import { crc64Init, crc64Update, writeCrc64LE, type Crc64State } from './crc64.js';

export { RdbOpcode };

/** The newest RDB version the loader accepts (Redis 7.2 writes 11; its new types are refused one by one). */
export const RDB_LOAD_MAX_VERSION = 11;

// ------------------------------------------------------------------ writing

/** File-level opcodes on top of an `RdbWriter`. */
export class RdbFileWriter {
  constructor(readonly w: RdbWriter) {}

  header(): void {
    this.w.bytes(Buffer.from(`REDIS${String(RDB_VERSION).padStart(4, '0')}`, 'latin1'));
  }

  aux(name: string, value: string | number): void {
    this.w.byte(RdbOpcode.AUX);
    this.w.string(name);
    this.w.string(String(value));
  }

  selectDb(id: number): void {
    this.w.byte(RdbOpcode.SELECTDB);
    this.w.length(id);
  }

  resizeDb(size: number, expires: number): void {
    this.w.byte(RdbOpcode.RESIZEDB);
    this.w.length(size);
    this.w.length(expires);
  }

  /** One key: optional absolute expiry (ms), type, key, value. */
  key(key: string, value: Value, expireAt: number): void {
    const w = this.w;
    if (expireAt >= 0) {
      w.byte(RdbOpcode.EXPIRETIME_MS);
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64LE(BigInt(expireAt), 0);
      w.bytes(b);
    }
    w.byte(rdbTypeOf(value));
    w.string(key);
    w.valueBody(value);
  }

  /** EOF; the 8-byte checksum follows (computed by whoever streams the bytes). */
  eof(): void {
    this.w.byte(RdbOpcode.EOF);
  }
}

/** The 8-byte CRC-64 trailer for a running state (zeros when checksums are off, as Redis writes). */
export function crcTrailer(st: Crc64State | null): Buffer {
  const b = Buffer.alloc(8);
  if (st !== null) writeCrc64LE(st, b, 0);
  return b;
}

// ------------------------------------------------------------------ reading

/** What the loader does with what it reads. */
export interface RdbLoadSink {
  /** A key (its expiry in absolute ms or -1). Return false to have it counted as skipped. */
  key(db: number, key: string, value: Value, expireAt: number): void;
  /** An AUX field. */
  aux?(name: string, value: string): void;
  /** RESIZEDB's hint. */
  resize?(db: number, size: number, expires: number): void;
  /** Something skipped with a reason (logged by the caller). */
  warn?(msg: string): void;
}

export interface RdbLoadStats {
  version: number;
  keys: number;
  expiredSkipped: number;
  bytes: number;
  aux: Record<string, string>;
  /** The checksum was verified (false: file saved without one, or rdbchecksum no). */
  checksumVerified: boolean;
  /** Byte offset just past the checksum (the rest of the buffer, if any, follows the RDB: an AOF tail). */
  end: number;
}

/** A corrupt or unsupported RDB file, with the byte offset where it was detected. */
export class RdbLoadError extends Error {
  constructor(
    msg: string,
    readonly offset: number,
  ) {
    super(msg);
  }
}

export interface RdbLoaderOptions {
  /** Verify the CRC-64 trailer (rdbchecksum). */
  checksum?: boolean;
  /** Skip keys already expired at `now` (false for AOF preambles and replicas, as Redis). */
  skipExpired?: boolean;
  now?: number;
  /** Highest database index accepted. */
  maxDb?: number;
}

/**
 * Parses an RDB file held in a buffer, in steps: `step(budgetMs)` returns true once
 * the file is fully read (EOF and checksum). Errors are thrown as `RdbLoadError`.
 */
export class RdbFileLoader {
  private r: RdbReader;
  private crc: Crc64State = crc64Init();
  private crcPos = 0;
  private db = 0;
  private started = false;
  done = false;
  readonly stats: RdbLoadStats;
  private readonly opts: Required<RdbLoaderOptions>;

  constructor(
    readonly buf: Buffer,
    readonly sink: RdbLoadSink,
    opts: RdbLoaderOptions = {},
  ) {
    this.r = new RdbReader(buf);
    this.opts = { checksum: opts.checksum ?? true, skipExpired: opts.skipExpired ?? true, now: opts.now ?? Date.now(), maxDb: opts.maxDb ?? 15 };
    this.stats = { version: 0, keys: 0, expiredSkipped: 0, bytes: buf.length, aux: {}, checksumVerified: false, end: 0 };
  }

  /** Bytes consumed so far. */
  get pos(): number {
    return this.r.pos;
  }

  /** Reads for about `budgetMs` (or to the end when budgetMs is Infinity). */
  step(budgetMs = Infinity): boolean {
    if (this.done) return true;
    const t0 = Date.now();
    let n = 0;
    try {
      if (!this.started) this.readHeader();
      for (;;) {
        if (this.readEntry()) {
          this.finish();
          return true;
        }
        if ((++n & 127) === 0 && Date.now() - t0 >= budgetMs) break;
      }
    } catch (e) {
      if (e instanceof RdbLoadError) throw e;
      const msg = e instanceof RdbFormatError ? e.message : (e as Error).message;
      throw new RdbLoadError(`RDB is corrupt or unsupported at offset ${this.r.pos}: ${msg}`, this.r.pos);
    }
    this.foldCrc();
    return false;
  }

  private foldCrc(): void {
    if (!this.opts.checksum) return;
    crc64Update(this.crc, this.buf, this.crcPos, this.r.pos);
    this.crcPos = this.r.pos;
  }

  private readHeader(): void {
    this.started = true;
    if (this.buf.length < 9 || this.buf.latin1Slice(0, 5) !== 'REDIS') throw new RdbLoadError('Wrong signature trying to load DB from file (not an RDB file)', 0);
    const v = this.buf.latin1Slice(5, 9);
    const version = /^\d{4}$/.test(v) ? Number(v) : NaN;
    if (!(version >= 1 && version <= RDB_LOAD_MAX_VERSION)) throw new RdbLoadError(`Can't handle RDB format version ${v}`, 5);
    this.stats.version = version;
    this.r.pos = 9;
  }

  /** One opcode or key; true at EOF. */
  private readEntry(): boolean {
    const r = this.r;
    let expireAt = -1;
    for (;;) {
      const at = r.pos;
      const type = r.byte();
      switch (type) {
        case RdbOpcode.EOF:
          return true;
        case RdbOpcode.SELECTDB: {
          const id = r.length();
          if (id > this.opts.maxDb) throw new RdbLoadError(`FATAL: Data file was created with a Redis server configured to handle more than ${this.opts.maxDb + 1} databases. Exiting`, at);
          this.db = id;
          return false;
        }
        case RdbOpcode.RESIZEDB: {
          const size = r.length();
          const exp = r.length();
          this.sink.resize?.(this.db, size, exp);
          return false;
        }
        case RdbOpcode.AUX: {
          const name = r.string();
          const value = r.string();
          this.stats.aux[name] = value;
          this.sink.aux?.(name, value);
          return false;
        }
        case RdbOpcode.EXPIRETIME_MS:
          expireAt = Number(r.take(8).readBigInt64LE(0));
          continue;
        case RdbOpcode.EXPIRETIME:
          expireAt = r.take(4).readInt32LE(0) * 1000;
          continue;
        case RdbOpcode.IDLE:
          r.length();
          continue;
        case RdbOpcode.FREQ:
          r.byte();
          continue;
        case RdbOpcode.FUNCTION2: {
          const code = r.string();
          this.sink.warn?.(`skipped a function library of ${code.length} bytes (functions are not supported)`);
          return false;
        }
        case RdbOpcode.FUNCTION_PRE_GA:
          throw new RdbLoadError('the RDB holds functions in the pre-release 7.0 format, which is not supported', at);
        case RdbOpcode.MODULE_AUX:
          throw new RdbLoadError('the RDB holds module data (MODULE_AUX); Sonic loads no modules and refuses such a file', at);
        default: {
          if (type === RdbType.MODULE || type === RdbType.MODULE_2) throw new RdbLoadError('the RDB holds a module value; Sonic loads no modules and refuses such a file', at);
          const key = r.string();
          let value: Value;
          try {
            value = r.value(type);
          } catch (e) {
            throw new RdbLoadError(`RDB is corrupt or unsupported at offset ${at} (key of type ${type}): ${(e as Error).message}`, at);
          }
          if (this.opts.skipExpired && expireAt !== -1 && expireAt < this.opts.now) {
            this.stats.expiredSkipped++;
            return false;
          }
          this.stats.keys++;
          this.sink.key(this.db, key, value, expireAt);
          return false;
        }
      }
    }
  }

  private finish(): void {
    this.foldCrc();
    const r = this.r;
    if (this.stats.version >= 5) {
      if (r.remaining < 8) throw new RdbLoadError('Short read: the RDB file ends before its checksum', r.pos);
      const stored = r.take(8);
      if (this.opts.checksum && !stored.equals(Buffer.alloc(8))) {
        const want = crcTrailer(this.crc);
        if (!want.equals(stored)) {
          throw new RdbLoadError(
            `Wrong RDB checksum expected: (${stored.readBigUInt64LE(0).toString(16)}) got: (${want.readBigUInt64LE(0).toString(16)}). Aborting now.`,
            r.pos - 8,
          );
        }
        this.stats.checksumVerified = true;
      }
    }
    this.stats.end = r.pos;
    this.done = true;
  }
}

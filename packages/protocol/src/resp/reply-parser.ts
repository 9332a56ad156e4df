import './buffer-fast.js';
/**
 * Incremental reader of server replies, RESP2 and RESP3, for clients, the router and tests.
 *
 * `push()` hands it bytes; `next()` returns one complete reply, `NEED_MORE` when the
 * bytes end inside one, and throws `RespProtocolError` on malformed input.
 * Strings come back as latin1 JS strings (binary-safe) unless `buffers` is set.
 */

export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespError';
  }
  /** The error code: the first word ("ERR", "WRONGTYPE", "MOVED" ...). */
  get code(): string {
    const i = this.message.indexOf(' ');
    return i < 0 ? this.message : this.message.slice(0, i);
  }
}

export class RespProtocolError extends Error {}

/** RESP3 push message (`>`): pub/sub messages and invalidations. */
export class RespPush extends Array<RespValue> {}
/** RESP3 set (`~`). */
export class RespSet extends Array<RespValue> {}
/** RESP3 verbatim string (`=`). */
export class RespVerbatim {
  constructor(readonly format: string, readonly text: string) {}
  toString(): string {
    return this.text;
  }
}
/** RESP3 double (`,`) kept apart from integers. */
export class RespDouble {
  constructor(readonly value: number) {}
}
/** RESP3 big number (`(`). */
export class RespBigNumber {
  constructor(readonly value: bigint) {}
}

export type RespValue =
  | string
  | Buffer
  | number
  | null
  | boolean
  | RespError
  | RespValue[]
  | RespPush
  | RespSet
  | Map<RespValue, RespValue>
  | RespVerbatim
  | RespDouble
  | RespBigNumber;

export const NEED_MORE: unique symbol = Symbol('need-more');

const EMPTY = Buffer.alloc(0);
/** Bulk replies at least this long are collected in chunks. */
const BIG_BULK = 64 * 1024;

interface Frame {
  kind: 'array' | 'map' | 'set' | 'push' | 'attr';
  items: RespValue[];
  left: number;
}

export class ReplyParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private stack: Frame[] = [];
  /** Chunks of a large bulk being collected (joined once complete, not once per chunk). */
  private pending: Buffer[] | null = null;
  private pendingLen = 0;
  /** Bytes `pending` must reach before parsing resumes. */
  private need = 0;

  constructor(private readonly opts: { buffers?: boolean; maxBulkLen?: number } = {}) {}

  push(chunk: Buffer): void {
    if (this.pending !== null) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (this.pendingLen < this.need) return;
      this.buf = Buffer.concat(this.pending, this.pendingLen);
      this.pos = 0;
      this.pending = null;
      this.pendingLen = 0;
      this.need = 0;
      return;
    }
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
  }

  next(): RespValue | typeof NEED_MORE {
    if (this.pending !== null) return NEED_MORE;
    for (;;) {
      const v = this.scalar();
      if (v === NEED_MORE) return NEED_MORE;
      if (v === OPENED) continue;
      let value: RespValue | typeof OPENED = v;
      // Fold completed values into open aggregates.
      while (this.stack.length > 0) {
        const top = this.stack[this.stack.length - 1]!;
        top.items.push(value as RespValue);
        top.left--;
        if (top.left > 0) {
          value = OPENED;
          break;
        }
        this.stack.pop();
        value = finish(top);
        if (value === OPENED) break; // attribute consumed: read the value it annotates
      }
      if (value === OPENED) continue;
      return value as RespValue;
    }
  }

  private line(): string | null {
    const eol = this.buf.indexOf(10, this.pos);
    if (eol < 0) return null;
    const end = eol > this.pos && this.buf[eol - 1] === 13 ? eol - 1 : eol;
    const s = this.buf.latin1Slice(this.pos + 1, end);
    this.pos = eol + 1;
    return s;
  }

  private scalar(): RespValue | typeof NEED_MORE | typeof OPENED {
    if (this.pos >= this.buf.length) return NEED_MORE;
    const start = this.pos;
    const t = this.buf[this.pos]!;
    const ln = this.line();
    if (ln === null) return NEED_MORE;
    switch (t) {
      case 43: // +
        return ln;
      case 45: // -
        return new RespError(ln);
      case 58: // :
        return toInt(ln);
      case 36: // $
      case 61: // =
      case 33: {
        // ! blob error
        const n = toInt(ln);
        if (n < 0) return null;
        if (this.opts.maxBulkLen !== undefined && n > this.opts.maxBulkLen) throw new RespProtocolError('bulk too long');
        if (this.pos + n + 2 > this.buf.length) {
          const total = this.pos - start + n + 2;
          if (total >= BIG_BULK) {
            // Collect the rest chunk by chunk instead of re-joining the buffer on every push.
            this.pending = [this.buf.subarray(start)];
            this.pendingLen = this.buf.length - start;
            this.need = total;
            this.buf = EMPTY;
          }
          this.pos = start;
          if (this.pending !== null) this.pos = 0;
          return NEED_MORE;
        }
        const s = this.opts.buffers && t === 36 ? Buffer.from(this.buf.subarray(this.pos, this.pos + n)) : this.buf.latin1Slice(this.pos, this.pos + n);
        this.pos += n + 2;
        if (t === 61) return new RespVerbatim((s as string).slice(0, 3), (s as string).slice(4));
        if (t === 33) return new RespError(s as string);
        return s;
      }
      case 42: // *
      case 37: // %
      case 126: // ~
      case 62: // >
      case 124: {
        // | attribute
        const n = toInt(ln);
        const kind = t === 42 ? 'array' : t === 37 ? 'map' : t === 126 ? 'set' : t === 62 ? 'push' : 'attr';
        if (n < 0) return null;
        const count = kind === 'map' || kind === 'attr' ? n * 2 : n;
        if (count === 0) {
          const f = finish({ kind, items: [], left: 0 });
          return f;
        }
        this.stack.push({ kind, items: [], left: count });
        return OPENED;
      }
      case 95: // _
        return null;
      case 35: // #
        return ln === 't';
      case 44: // ,
        return new RespDouble(ln === 'inf' ? Infinity : ln === '-inf' ? -Infinity : Number(ln));
      case 40: // (
        if (!/^-?\d+$/.test(ln)) throw new RespProtocolError(`bad big number '${ln}'`);
        return new RespBigNumber(BigInt(ln));
      default:
        throw new RespProtocolError(`unexpected byte ${t} at reply start`);
    }
  }
}

const OPENED: unique symbol = Symbol('opened');

function toInt(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n)) throw new RespProtocolError(`bad integer '${s}'`);
  return n;
}

function finish(f: Frame): RespValue | typeof OPENED {
  switch (f.kind) {
    case 'array':
      return f.items;
    case 'set': {
      const s = new RespSet();
      s.push(...f.items);
      return s;
    }
    case 'push': {
      const p = new RespPush();
      p.push(...f.items);
      return p;
    }
    case 'map': {
      const m = new Map<RespValue, RespValue>();
      for (let i = 0; i < f.items.length; i += 2) m.set(f.items[i]!, f.items[i + 1]!);
      return m;
    }
    case 'attr':
      return OPENED;
  }
}

import './buffer-fast.js';
/**
 * RESP2/RESP3 reply encoder.
 *
 * Replies are written into one scratch buffer per writer, borrowed from a small pool on
 * first use and given back when the writer is drained, so an idle connection holds no
 * output memory. Values of latin1 strings (one char per byte) are written with one
 * memcpy; large values are handed to the sink as they are, without copying them into
 * the scratch buffer.
 */

const SCRATCH = 16 * 1024;
/** Values at least this long skip the scratch buffer. */
const LARGE = 8 * 1024;
const pool: Buffer[] = [];

function borrow(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(SCRATCH);
}

function giveBack(b: Buffer): void {
  if (pool.length < 64) pool.push(b);
}

/**
 * Strings and buffers up to this length are copied byte by byte in JS: cheaper than a
 * call into C++ (`latin1Write`, `copy`) for the framing and short values of most replies.
 */
const SHORT = 40;

/** Writes s (n chars, latin1) at `at`; returns the end. */
function putLatin1(b: Buffer, at: number, s: string, n: number): number {
  if (n > SHORT) return at + b.latin1Write(s, at, n);
  for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
  return at + n;
}

/** "00" .. "99" as digit pairs. */
const DIGIT_PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 48 + Math.floor(i / 10);
  DIGIT_PAIRS[2 * i + 1] = 48 + (i % 10);
}

/** Decimal digits of 10 <= n < 2^31. */
function digitCount(n: number): number {
  return n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
}

/** Writes the decimal digits of a safe integer at `at`; returns the end. */
function putInt(b: Buffer, at: number, n: number): number {
  if (n < 0) {
    b[at++] = 45; // '-'
    n = -n;
  }
  if (n < 10) {
    b[at] = 48 + n; // also -0
    return at + 1;
  }
  if (n > 0x7fffffff) return putLatin1(b, at, String(n), String(n).length);
  // Two digits per step with 31-bit integer arithmetic.
  const len = digitCount(n);
  let end = at + len;
  let m = n;
  while (m >= 100) {
    const q = (m / 100) | 0;
    const r = (m - q * 100) << 1;
    b[--end] = DIGIT_PAIRS[r + 1]!;
    b[--end] = DIGIT_PAIRS[r]!;
    m = q;
  }
  if (m >= 10) {
    b[--end] = DIGIT_PAIRS[(m << 1) + 1]!;
    b[--end] = DIGIT_PAIRS[m << 1]!;
  } else b[--end] = 48 + m;
  return at + len;
}

export const enum Proto {
  RESP2 = 2,
  RESP3 = 3,
}

/** Formats a double the way Redis 7 replies with it (`%.17g`, inf, -inf, nan). */
export function formatDouble(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (Number.isNaN(d)) return 'nan';
  if (Number.isInteger(d)) {
    // Exact below 2^53; up to 1e17 %.17g prints every digit of the exact value, which
    // String() would shorten (99999999999999984 → "99999999999999980").
    if (Number.isSafeInteger(d)) return d === 0 && Object.is(d, -0) ? '-0' : String(d);
    if (Math.abs(d) < 1e17) return BigInt(d).toString();
  }
  return g17(d);
}

/** C's `%.17g`: 17 significant digits, rounded half to even on the exact binary value. */
export function g17(d: number): string {
  if (!Number.isFinite(d)) return formatDouble(d);
  const neg = d < 0 || Object.is(d, -0);
  const a = Math.abs(d);
  // toExponential rounds exact halves away from zero; C rounds them to even.
  const m = /^(\d)\.(\d+)e([+-]\d+)$/.exec(a.toExponential(16))!;
  let digits = m[1]! + m[2]!;
  let exp = parseInt(m[3]!, 10);
  if (digits.charCodeAt(16) % 2 === 1 && isHalfway(a)) {
    // The exact value is digits[0..16] - 0.5 ulp of the 17th digit: take the even neighbour.
    const m18 = /^(\d)\.(\d+)e([+-]\d+)$/.exec(a.toExponential(17))!;
    digits = (m18[1]! + m18[2]!).slice(0, 17);
    exp = parseInt(m18[3]!, 10);
  }
  digits = digits.replace(/0+$/, '') || '0';
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 17) {
    const mant = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
    const ae = Math.abs(exp);
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' + ae : ae}`;
  }
  if (exp >= 0) {
    if (digits.length <= exp + 1) return sign + digits + '0'.repeat(exp + 1 - digits.length);
    return sign + digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  }
  return sign + '0.' + '0'.repeat(-exp - 1) + digits;
}

/** True when a > 0's exact decimal expansion has exactly 18 significant digits, the last a 5. */
function isHalfway(a: number): boolean {
  const s = a.toExponential(24);
  // Cheap filter: digit 18 is 5 and the next seven are zero.
  if (s.charCodeAt(18) !== 53 /* 5 */ || !s.startsWith('0000000', 19)) return false;
  const mm = /^(\d)\.(\d{17})\d*e([+-]\d+)$/.exec(s)!;
  const t = BigInt(mm[1]! + mm[2]!); // 18 digits: a == t * 10^k if halfway
  const k = parseInt(mm[3]!, 10) - 17;
  // a = mant * 2^e exactly.
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, a);
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const be = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (be === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = be - 1075;
  }
  // Compare mant * 2^e with t * 10^k using integers only.
  let left = mant;
  let right = t;
  if (e >= 0) left <<= BigInt(e);
  else right <<= BigInt(-e);
  if (k >= 0) right *= 10n ** BigInt(k);
  else left *= 10n ** BigInt(-k);
  return left === right;
}

/** Where a writer's bytes go: a socket, or a collector in tests. */
export interface Sink {
  write(chunk: Buffer | string, encoding?: BufferEncoding): unknown;
  cork?(): void;
  uncork?(): void;
}

export class ReplyWriter {
  proto: Proto = Proto.RESP2;
  /**
   * The scratch buffer. Drained bytes are handed to the sink as a view of it, not a
   * copy; when the sink (a socket) reports it wrote everything at once, the buffer goes
   * back to the pool; otherwise the views belong to the sink and the writer either
   * drops the buffer (a socket: it keeps its chunk alive) or keeps appending after them.
   */
  private buf: Buffer | null = null;
  /** Start of the bytes written and not yet handed out (to `chunks` or a sink). */
  private start = 0;
  /** End of the bytes written. */
  private len = 0;
  /** Bytes of `buf` below `start` went to a sink that may still read them: never reuse them. */
  private lent = false;
  /** Chunks already complete, waiting for the drain, when a large value was written. */
  private chunks: (Buffer | string)[] | null = null;
  /** Bytes in `chunks` (for output-buffer accounting). */
  pending = 0;

  get empty(): boolean {
    return this.len === this.start && this.chunks === null;
  }

  // ---------- raw ----------

  /** The scratch buffer with room for n more bytes at `len`. */
  private room(n: number): Buffer {
    let b = this.buf;
    if (b === null) {
      b = this.buf = borrow();
      this.start = this.len = 0;
      this.lent = false;
    } else if (this.len + n > b.length) {
      this.spill();
      // The old buffer's bytes are views in `chunks` or with a sink: leave it to them.
      b = this.buf = n > SCRATCH ? Buffer.allocUnsafe(n) : borrow();
      this.start = this.len = 0;
      this.lent = false;
    }
    return b;
  }

  /** Moves the bytes not yet handed out to the chunk list, as a view. */
  private spill(): void {
    if (this.len > this.start) {
      (this.chunks ??= []).push(this.buf!.subarray(this.start, this.len));
      this.pending += this.len - this.start;
      this.start = this.len;
    }
  }

  /** Appends latin1 text (protocol framing or short values). */
  raw(s: string): void {
    const n = s.length;
    if (n >= LARGE) {
      this.spill();
      (this.chunks ??= []).push(s);
      this.pending += n;
      return;
    }
    const b = this.room(n);
    this.len = putLatin1(b, this.len, s, n);
  }

  rawBuf(src: Buffer): void {
    const n = src.length;
    if (n >= LARGE) {
      this.spill();
      (this.chunks ??= []).push(src);
      this.pending += n;
      return;
    }
    const b = this.room(n);
    let at = this.len;
    if (n <= SHORT) for (let i = 0; i < n; i++) b[at++] = src[i]!;
    else at += src.copy(b, at);
    this.len = at;
  }

  /** `prefix` then the decimal digits of a safe integer, then CRLF (`:12`, `*3`, `$5` ...). */
  private line(prefix: number, n: number): void {
    const b = this.room(24);
    let at = this.len;
    b[at++] = prefix;
    at = putInt(b, at, n);
    b[at++] = 13;
    b[at++] = 10;
    this.len = at;
  }

  /** Hands everything written so far to the sink, in order; returns the byte count. */
  drainTo(sink: Sink): number {
    let total = 0;
    if (this.chunks !== null) {
      this.spill();
      const chunks = this.chunks;
      this.chunks = null;
      sink.cork?.();
      for (const c of chunks) {
        if (typeof c === 'string') sink.write(c, 'latin1');
        else sink.write(c);
        total += c.length;
      }
      sink.uncork?.();
    } else if (this.len > this.start) {
      total = this.len - this.start;
      sink.write(this.buf!.subarray(this.start, this.len));
      this.start = this.len;
    }
    this.pending = 0;
    const b = this.buf;
    if (b !== null) {
      const queued = (sink as { writableLength?: number }).writableLength;
      if (queued === 0 && !this.lent) {
        // The socket wrote it all during write(): nobody holds a view, reuse the buffer.
        this.buf = null;
        this.start = this.len = 0;
        if (b.length === SCRATCH) giveBack(b);
      } else if (queued !== undefined || b.length - this.len < 256) {
        // A socket still writing (it keeps its views alive), or nearly full: let it go.
        this.buf = null;
        this.start = this.len = 0;
        this.lent = false;
      } else {
        // A collector may keep views: append after them.
        this.lent = true;
      }
    }
    return total;
  }

  /** Drops everything not yet drained (CLIENT REPLY OFF/SKIP, or a closing client). */
  discard(): void {
    this.chunks = null;
    this.pending = 0;
    this.len = this.start;
    const b = this.buf;
    if (b !== null && !this.lent) {
      this.buf = null;
      this.start = this.len = 0;
      if (b.length === SCRATCH) giveBack(b);
    }
  }

  /** Bytes buffered and not drained. */
  get size(): number {
    return this.pending + this.len - this.start;
  }

  // ---------- RESP ----------

  ok(): void {
    this.raw('+OK\r\n');
  }

  simple(s: string): void {
    this.raw('+' + s + '\r\n');
  }

  /** An error reply; `msg` carries its prefix ("ERR ...", "WRONGTYPE ..."). */
  error(msg: string): void {
    this.raw('-' + msg + '\r\n');
  }

  int(n: number | bigint): void {
    if (typeof n === 'number' && Number.isSafeInteger(n)) this.line(58 /* : */, n);
    else this.raw(':' + n + '\r\n');
  }

  bulk(s: string): void {
    const n = s.length;
    if (n >= LARGE) {
      this.line(36 /* $ */, n);
      this.raw(s);
      this.raw('\r\n');
      return;
    }
    const b = this.room(n + 24);
    let at = this.len;
    b[at++] = 36;
    at = putInt(b, at, n);
    b[at++] = 13;
    b[at++] = 10;
    at = putLatin1(b, at, s, n);
    b[at++] = 13;
    b[at++] = 10;
    this.len = at;
  }

  bulkBuf(v: Buffer): void {
    this.line(36 /* $ */, v.length);
    this.rawBuf(v);
    this.raw('\r\n');
  }

  /** A bulk string holding a number, as Redis replies for INCRBYFLOAT or HINCRBYFLOAT. */
  bulkNumber(n: number | bigint): void {
    this.bulk(String(n));
  }

  /** Null bulk in RESP2 (`$-1`), null in RESP3 (`_`). */
  nil(): void {
    this.raw(this.proto === Proto.RESP3 ? '_\r\n' : '$-1\r\n');
  }

  /** Null array in RESP2 (`*-1`), null in RESP3. */
  nilArray(): void {
    this.raw(this.proto === Proto.RESP3 ? '_\r\n' : '*-1\r\n');
  }

  array(n: number): void {
    this.line(42 /* * */, n);
  }

  /** A map of n pairs: `%n` in RESP3, an array of 2n in RESP2. */
  map(n: number): void {
    if (this.proto === Proto.RESP3) this.line(37 /* % */, n);
    else this.line(42, 2 * n);
  }

  /** A set: `~n` in RESP3, an array in RESP2. */
  set(n: number): void {
    this.line(this.proto === Proto.RESP3 ? 126 /* ~ */ : 42, n);
  }

  /** A push message header: `>n` in RESP3, an array in RESP2. */
  push(n: number): void {
    this.line(this.proto === Proto.RESP3 ? 62 /* > */ : 42, n);
  }

  /** A double: `,d` in RESP3, a bulk string in RESP2. */
  double(d: number): void {
    const s = formatDouble(d);
    if (this.proto === Proto.RESP3) this.raw(',' + s + '\r\n');
    else this.bulk(s);
  }

  /** A boolean: `#t`/`#f` in RESP3, 1/0 in RESP2. */
  bool(b: boolean): void {
    if (this.proto === Proto.RESP3) this.raw(b ? '#t\r\n' : '#f\r\n');
    else this.int(b ? 1 : 0);
  }

  /** Verbatim text (`=n\r\ntxt:...`) in RESP3, a bulk string in RESP2. */
  verbatim(s: string, format = 'txt'): void {
    if (this.proto === Proto.RESP3) {
      this.raw('=' + (s.length + 4) + '\r\n' + format + ':');
      this.raw(s);
      this.raw('\r\n');
    } else this.bulk(s);
  }

  bigNumber(s: string): void {
    if (this.proto === Proto.RESP3) this.raw('(' + s + '\r\n');
    else this.bulk(s);
  }

  /** An array of bulk strings. */
  bulks(items: readonly string[]): void {
    this.array(items.length);
    for (let i = 0; i < items.length; i++) this.bulk(items[i]!);
  }

  /** A bulk string or nil. */
  bulkOrNil(s: string | null | undefined): void {
    if (s === null || s === undefined) this.nil();
    else this.bulk(s);
  }
}

/** Encodes a command as a RESP array of bulk strings (what clients send). */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'latin1')];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'latin1') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`, 'latin1'), b, Buffer.from('\r\n', 'latin1'));
  }
  return Buffer.concat(parts);
}

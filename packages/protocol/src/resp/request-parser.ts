import './buffer-fast.js';
import { BIG_ARG, DEFAULT_LIMITS, type RequestLimits } from './limits.js';

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0);

/**
 * Incremental reader of client requests: RESP multibulk arrays and inline commands.
 *
 * `push()` hands it bytes as they arrive; `next()` returns one complete command as an
 * array of latin1 strings (one JS char per byte, so binary-safe), `null` when it needs
 * more bytes, and sets `error` (and returns null) on malformed input. "Need more" and
 * "malformed" are distinct outcomes; after an error the reader stays failed.
 *
 * The reader never re-parses: a partly read command keeps its state (arguments so far,
 * elements left, the pending bulk length), and a large bulk string is collected chunk by
 * chunk and joined once, so a 500 MB argument costs one copy, not one per TCP chunk.
 */
export class RequestParser {
  error: string | null = null;
  /**
   * Set by the server while the client has not authenticated and a password is
   * required: headers are then held to Redis's small unauthenticated limits (10
   * arguments, 16 KB per bulk), so a stranger cannot make the server buffer much.
   */
  unauthenticated = false;
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Arguments of the multibulk being read, or null between commands. */
  private args: string[] | null = null;
  private left = 0;
  /** Length of the bulk being read (after its `$n` header), or -1. */
  private bulkLen = -1;
  /** Chunks of a large bulk being collected. */
  private big: Buffer[] | null = null;
  private bigLen = 0;
  /** Wire bytes of the command being read that were already parsed into `args`. */
  private partial = 0;

  /** The limits in force; the server replaces them when the configuration changes. */
  constructor(public limits: RequestLimits = DEFAULT_LIMITS) {}

  /** Bytes received but not yet returned as a command (parsed arguments of a partial command included). */
  get buffered(): number {
    return this.buf.length - this.pos + this.bigLen + this.partial;
  }

  /** True when no partial command is held. */
  get idle(): boolean {
    return this.args === null && this.pos >= this.buf.length && this.big === null;
  }

  push(chunk: Buffer): void {
    if (this.error !== null || chunk.length === 0) return;
    if (this.big !== null) {
      this.big.push(chunk);
      this.bigLen += chunk.length;
      if (this.bigLen >= this.bulkLen + 2) {
        this.buf = Buffer.concat(this.big, this.bigLen);
        this.pos = 0;
        this.big = null;
        this.bigLen = 0;
      }
    } else if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      const rest = this.buf.length - this.pos;
      // A bulk we are waiting on that is large: start collecting instead of joining per chunk.
      if (this.bulkLen >= BIG_ARG && rest < this.bulkLen + 2) {
        this.big = [this.buf.subarray(this.pos), chunk];
        this.bigLen = rest + chunk.length;
        this.buf = EMPTY;
        this.pos = 0;
        if (this.bigLen >= this.bulkLen + 2) {
          this.buf = Buffer.concat(this.big, this.bigLen);
          this.big = null;
          this.bigLen = 0;
        }
      } else {
        this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk], rest + chunk.length);
        this.pos = 0;
      }
    }
    if (this.buffered > this.limits.maxQueryBuffer) {
      this.fail('Protocol error: query buffer limit exceeded');
    }
  }

  /** The next complete command, or null (need more bytes, or `error` is set). */
  next(): string[] | null {
    if (this.error !== null || this.big !== null) return null;
    // A loop, not recursion: any number of empty lines and empty multibulks (`*0`, `*-1`) are skipped.
    while (this.args === null) {
      const buf = this.buf; // release() may have swapped it
      if (this.pos >= buf.length) return null;
      if (buf[this.pos] !== 42 /* '*' */) {
        const line = this.inline();
        if (line === null) return null;
        if (line.length > 0) return line;
        continue;
      }
      const eol = buf.indexOf(LF, this.pos);
      if (eol < 0) {
        if (buf.length - this.pos > this.limits.maxInlineLen) this.fail('Protocol error: too big mbulk count string');
        return null;
      }
      const n = this.parseInt(this.pos + 1, eol);
      if (n === null || n > this.limits.maxMultibulkLen) {
        this.fail('Protocol error: invalid multibulk length');
        return null;
      }
      if (this.unauthenticated && n > UNAUTH_MAX_ARGS) {
        this.fail('Protocol error: unauthenticated multibulk length');
        return null;
      }
      this.partial = eol + 1 - this.pos;
      this.pos = eol + 1;
      if (n <= 0) {
        this.partial = 0;
        this.release();
        continue;
      }
      // Preallocate only small counts: a header alone must not make us allocate much.
      this.args = n <= 1024 ? new Array<string>(n) : [];
      this.args.length = 0;
      this.left = n;
    }
    const args = this.args;
    const buf = this.buf;
    while (this.left > 0) {
      if (this.bulkLen < 0) {
        if (this.pos >= buf.length) return null;
        if (buf[this.pos] !== 36 /* '$' */) {
          this.fail(`Protocol error: expected '$', got '${String.fromCharCode(buf[this.pos]!)}'`);
          return null;
        }
        const eol = buf.indexOf(LF, this.pos);
        if (eol < 0) {
          if (buf.length - this.pos > this.limits.maxInlineLen) this.fail('Protocol error: too big bulk count string');
          return null;
        }
        const len = this.parseInt(this.pos + 1, eol);
        if (len === null || len < 0 || len > this.limits.maxBulkLen) {
          this.fail('Protocol error: invalid bulk length');
          return null;
        }
        if (this.unauthenticated && len > UNAUTH_MAX_BULK) {
          this.fail('Protocol error: unauthenticated bulk length');
          return null;
        }
        this.bulkLen = len;
        this.partial += eol + 1 - this.pos;
        this.pos = eol + 1;
      }
      const end = this.pos + this.bulkLen;
      if (end + 2 > buf.length) return null;
      args.push(buf.latin1Slice(this.pos, end));
      this.partial += this.bulkLen + 2;
      this.pos = end + 2;
      this.bulkLen = -1;
      this.left--;
    }
    this.args = null;
    this.partial = 0;
    this.release();
    return args;
  }

  private release(): void {
    if (this.pos >= this.buf.length) {
      this.buf = EMPTY;
      this.pos = 0;
    }
  }

  private fail(msg: string): void {
    this.error = msg;
    this.buf = EMPTY;
    this.pos = 0;
    this.big = null;
    this.bigLen = 0;
    this.args = null;
    this.partial = 0;
  }

  /**
   * Parses a signed decimal integer in buf[start, eol - 1), where eol is at LF and a CR
   * must precede it (RESP headers end in CRLF; Redis reads up to the CR, so a bare LF
   * leaves junk in the number). Null when malformed, including the forms Redis's
   * string2ll rejects.
   */
  private parseInt(start: number, eol: number): number | null {
    const buf = this.buf;
    if (eol === start || buf[eol - 1] !== CR) return null;
    const end = eol - 1;
    if (end <= start || end - start > 20) return null;
    let i = start;
    let neg = false;
    if (buf[i] === 45 /* '-' */) {
      neg = true;
      i++;
      if (i === end) return null;
    }
    // As Redis's string2ll: no '+', no leading zeros, no "-0".
    if (buf[i] === 48 /* '0' */ && (neg || end - i > 1)) return null;
    let n = 0;
    for (; i < end; i++) {
      const c = buf[i]! - 48;
      if (c < 0 || c > 9) return null;
      n = n * 10 + c;
    }
    if (n > Number.MAX_SAFE_INTEGER) return null;
    return neg ? -n : n;
  }

  /** Reads one inline line: its arguments (empty for a blank line), or null (need more, or failed). */
  private inline(): string[] | null {
    const buf = this.buf;
    const eol = buf.indexOf(LF, this.pos);
    if (eol < 0) {
      if (buf.length - this.pos > this.limits.maxInlineLen) this.fail('Protocol error: too big inline request');
      return null;
    }
    let end = eol;
    if (end > this.pos && buf[end - 1] === CR) end--;
    const line = buf.latin1Slice(this.pos, end);
    this.pos = eol + 1;
    this.release();
    const args = splitArgs(line);
    if (args === null) {
      this.fail('Protocol error: unbalanced quotes in request');
      return null;
    }
    return args;
  }
}

/** Redis's limits for clients that must authenticate and have not yet. */
const UNAUTH_MAX_ARGS = 10;
const UNAUTH_MAX_BULK = 16384;

/** C's isspace: space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isHex(c: string): boolean {
  return /^[0-9a-fA-F]$/.test(c);
}

/**
 * Splits an inline command line the way redis-cli and Redis's inline protocol do:
 * spaces separate arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes;
 * 'single quotes' take \'. Returns null on unbalanced quotes or a closing quote not
 * followed by white space. Arguments are separated by C's isspace characters.
 */
export function splitArgs(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) return out;
    let cur = '';
    let inDq = false;
    let inSq = false;
    for (;;) {
      if (inDq) {
        if (i >= n) return null;
        const c = line[i]!;
        if (c === '\\' && i + 3 < n && line[i + 1] === 'x' && isHex(line[i + 2]!) && isHex(line[i + 3]!)) {
          cur += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
          i += 3;
        } else if (c === '\\' && i + 1 < n) {
          i++;
          const e = line[i]!;
          cur += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e === 'b' ? '\b' : e === 'a' ? '\x07' : e;
        } else if (c === '"') {
          if (i + 1 < n && !isSpace(line.charCodeAt(i + 1))) return null;
          inDq = false;
          i++;
          break;
        } else {
          cur += c;
        }
        i++;
      } else if (inSq) {
        if (i >= n) return null;
        const c = line[i]!;
        if (c === '\\' && i + 1 < n && line[i + 1] === "'") {
          cur += "'";
          i += 2;
          continue;
        }
        if (c === "'") {
          if (i + 1 < n && !isSpace(line.charCodeAt(i + 1))) return null;
          inSq = false;
          i++;
          break;
        }
        cur += c;
        i++;
      } else {
        if (i >= n) break;
        const c = line[i]!;
        if (isSpace(c.charCodeAt(0))) break; // NUL is an ordinary byte here (binary-safe)
        if (c === '"') inDq = true;
        else if (c === "'") inSq = true;
        else cur += c;
        i++;
      }
    }
    out.push(cur);
  }
}

import './buffer-fast.js';
import { BIG_ARG, DEFAULT_LIMITS, type RequestLimits } from './limits.js';
import { latin1, SHORT_STRING } from './latin1.js';

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0);
/** header(): the buffer ends inside a well-formed header. */
const NEED_MORE = -1;
/** header(): not the plain form; take the general path. */
const SLOW = -2;
/** Slots of the command-name cache (a power of two). */
const NAME_SLOTS = 64;

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
  /** Arguments of `args` filled so far. */
  private argc = 0;
  /** Wire bytes of the last command `next()` returned (the server times big ones apart). */
  lastSize = 0;

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

  /**
   * The caller is about to reuse the memory of chunks it pushed (one read buffer shared
   * by every socket): copies what the parser still holds of `shared` (an incomplete
   * command's bytes, a pipeline left for later), so nothing refers to it afterwards.
   */
  settle(shared: ArrayBufferLike): void {
    const b = this.buf;
    if (b.buffer === shared) {
      this.buf = this.pos < b.length ? Buffer.from(b.subarray(this.pos)) : EMPTY;
      this.pos = 0;
    }
    const big = this.big;
    if (big !== null) for (let i = 0; i < big.length; i++) if (big[i]!.buffer === shared) big[i] = Buffer.from(big[i]!);
  }

  /** The next complete command, or null (need more bytes, or `error` is set). */
  next(): string[] | null {
    if (this.error !== null || this.big !== null) return null;
    // A loop, not recursion: any number of empty lines and empty multibulks (`*0`, `*-1`) are skipped.
    while (this.args === null) {
      const buf = this.buf; // release() may have swapped it
      const pos = this.pos;
      if (pos >= buf.length) return null;
      if (buf[pos] !== 42 /* '*' */) {
        const line = this.inline();
        if (line === null) return null;
        if (line.length > 0) return line;
        continue;
      }
      let n = this.header(pos);
      let eol: number;
      if (n >= 0) {
        eol = this.hdrEnd;
      } else {
        if (n === NEED_MORE) return null;
        eol = buf.indexOf(LF, pos);
        if (eol < 0) {
          if (buf.length - pos > this.limits.maxInlineLen) this.fail('Protocol error: too big mbulk count string');
          return null;
        }
        const m = this.parseInt(pos + 1, eol);
        if (m === null || m > this.limits.maxMultibulkLen) {
          this.fail('Protocol error: invalid multibulk length');
          return null;
        }
        n = m;
      }
      if (n > this.limits.maxMultibulkLen) {
        this.fail('Protocol error: invalid multibulk length');
        return null;
      }
      if (this.unauthenticated && n > UNAUTH_MAX_ARGS) {
        this.fail('Protocol error: unauthenticated multibulk length');
        return null;
      }
      this.partial = eol + 1 - pos;
      this.pos = eol + 1;
      if (n <= 0) {
        this.partial = 0;
        this.release();
        continue;
      }
      // Preallocate only small counts: a header alone must not make us allocate much.
      this.args = n <= 1024 ? new Array<string>(n) : [];
      this.argc = 0;
      this.left = n;
    }
    const args = this.args;
    const buf = this.buf;
    const blen = buf.length;
    // The loop works on locals, written back when it stops (complete, or need more).
    let pos = this.pos;
    let left = this.left;
    let argc = this.argc;
    let partial = this.partial;
    let len = this.bulkLen;
    while (left > 0) {
      if (len < 0) {
        if (pos >= blen) break;
        if (buf[pos] !== 36 /* '$' */) {
          this.fail(`Protocol error: expected '$', got '${String.fromCharCode(buf[pos]!)}'`);
          return null;
        }
        len = this.header(pos);
        let eol: number;
        if (len >= 0) {
          eol = this.hdrEnd;
        } else {
          if (len === NEED_MORE) break;
          eol = buf.indexOf(LF, pos);
          if (eol < 0) {
            if (blen - pos > this.limits.maxInlineLen) {
              this.fail('Protocol error: too big bulk count string');
              return null;
            }
            len = -1;
            break;
          }
          const m = this.parseInt(pos + 1, eol);
          if (m === null || m < 0) {
            this.fail('Protocol error: invalid bulk length');
            return null;
          }
          len = m;
        }
        if (len > this.limits.maxBulkLen) {
          this.fail('Protocol error: invalid bulk length');
          return null;
        }
        if (this.unauthenticated && len > UNAUTH_MAX_BULK) {
          this.fail('Protocol error: unauthenticated bulk length');
          return null;
        }
        partial += eol + 1 - pos;
        pos = eol + 1;
      }
      const end = pos + len;
      if (end + 2 > blen) break;
      // argv[0] repeats from command to command: reuse its string (already hashed by
      // the command table's lookup) when the bytes are the same.
      args[argc] = len <= SHORT_STRING ? (argc === 0 ? this.commandName(buf, pos, end) : latin1(buf, pos, end)) : buf.latin1Slice(pos, end);
      argc++;
      partial += len + 2;
      pos = end + 2;
      len = -1;
      left--;
    }
    this.pos = pos;
    this.left = left;
    this.argc = argc;
    this.partial = partial;
    this.bulkLen = len;
    if (left > 0) return null;
    this.args = null;
    this.lastSize = this.partial;
    this.partial = 0;
    this.release();
    return args;
  }

  /** End (the LF) of the header parsed by the last successful `header()`. */
  private hdrEnd = 0;

  /**
   * The fast path for a `*n` / `$n` header at `at`: plain decimal digits (no sign, no
   * leading zero, at most 15 digits) then CRLF. Returns the number (and sets hdrEnd to
   * the LF), NEED_MORE when the buffer ends inside such a header, or SLOW for anything
   * else, which the caller hands to the general path (indexOf + parseInt: Redis's exact
   * rules and error texts).
   */
  private header(at: number): number {
    const buf = this.buf;
    const blen = buf.length;
    let i = at + 1;
    if (i >= blen) return blen - at > this.limits.maxInlineLen ? SLOW : NEED_MORE;
    let c = buf[i]! - 48;
    if (c < 0 || c > 9) return SLOW;
    let n = c;
    i++;
    const stop = Math.min(blen, at + 16);
    for (; i < stop; i++) {
      c = buf[i]! - 48;
      if (c < 0 || c > 9) break;
      if (n === 0) return SLOW; // a leading zero
      n = n * 10 + c;
    }
    if (i + 1 < blen) {
      if (buf[i] === CR && buf[i + 1] === LF) {
        this.hdrEnd = i + 1;
        return n;
      }
      return SLOW;
    }
    // The buffer ends within the digits or between CR and LF: need more, unless it is
    // malformed already or unreasonably long (the general path decides).
    if (i < blen && buf[i] !== CR) return SLOW;
    if (i - at >= 16) return SLOW;
    return NEED_MORE;
  }

  /** Interned command names, by length and first byte: the bytes and their string. */
  private static names: (Buffer | string)[] = new Array(2 * NAME_SLOTS);

  /** The string of a command name, reused while the same spelling repeats. */
  private commandName(buf: Buffer, s: number, e: number): string {
    const len = e - s;
    const slot = (((buf[s]! | 0x20) * 33 + len) & (NAME_SLOTS - 1)) << 1;
    const names = RequestParser.names;
    const bytes = names[slot] as Buffer | undefined;
    if (bytes !== undefined && bytes.length === len) {
      let i = 0;
      while (i < len && bytes[i] === buf[s + i]) i++;
      if (i === len) return names[slot + 1] as string;
    }
    const str = latin1(buf, s, e);
    names[slot] = Buffer.from(buf.subarray(s, e));
    names[slot + 1] = str;
    return str;
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
    this.lastSize = eol + 1 - this.pos;
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

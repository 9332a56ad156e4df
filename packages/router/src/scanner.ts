/**
 * Reply boundaries without decoding: the router forwards a node's replies to clients as
 * the bytes they arrived in, so all it needs to know is where each reply ends.
 *
 * `ReplyScanner` is incremental: `push()` hands it bytes, `next()` returns the next
 * complete reply as a view of the received bytes (no copy when the reply sits in one
 * chunk), or null when it needs more. A reply cut by chunk boundaries resumes where the
 * scan stopped (no re-scan from its start), and a large bulk string is collected chunk
 * by chunk and joined once. RESP2 and RESP3 (maps, sets, pushes, attributes, ...).
 */

const EMPTY = Buffer.alloc(0);
/** Bulk strings at least this long are collected in chunks instead of joined per chunk. */
const BIG = 64 * 1024;

export class ReplyProtocolError extends Error {}

/** Parses the decimal integer of a header line buf[from, cr); throws when malformed. */
function headerInt(buf: Buffer, from: number, cr: number): number {
  let i = from;
  let neg = false;
  if (buf[i] === 45 /* - */) {
    neg = true;
    i++;
  }
  if (i >= cr) throw new ReplyProtocolError('empty length in reply header');
  let n = 0;
  for (; i < cr; i++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) throw new ReplyProtocolError(`bad length in reply header`);
    n = n * 10 + c;
  }
  return neg ? -n : n;
}

/**
 * One step of the scan at `at`: returns [next position, values added] or null when the
 * header or bulk is not complete in buf. Values added: how many more values the header
 * opens (an aggregate's elements), the header itself counting as the value it starts.
 */
const STEP_AT = [0, 0];
function step(buf: Buffer, at: number): boolean {
  const len = buf.length;
  if (at >= len) return false;
  const t = buf[at]!;
  const lf = buf.indexOf(10, at + 1);
  if (lf < 0) return false;
  const cr = lf - 1;
  switch (t) {
    case 36: // $ bulk
    case 61: // = verbatim
    case 33: {
      // ! blob error
      const n = headerInt(buf, at + 1, cr);
      if (n < 0) {
        STEP_AT[0] = lf + 1;
        STEP_AT[1] = 0;
        return true;
      }
      const end = lf + 1 + n + 2;
      if (end > len) {
        STEP_AT[0] = end; // where it would end
        STEP_AT[1] = -1;
        return false;
      }
      STEP_AT[0] = end;
      STEP_AT[1] = 0;
      return true;
    }
    case 42: // * array
    case 126: // ~ set
    case 62: {
      // > push
      const n = headerInt(buf, at + 1, cr);
      STEP_AT[0] = lf + 1;
      STEP_AT[1] = n > 0 ? n : 0;
      return true;
    }
    case 37: {
      // % map
      const n = headerInt(buf, at + 1, cr);
      STEP_AT[0] = lf + 1;
      STEP_AT[1] = n > 0 ? 2 * n : 0;
      return true;
    }
    case 124: {
      // | attribute: its pairs, then the value it annotates
      const n = headerInt(buf, at + 1, cr);
      STEP_AT[0] = lf + 1;
      STEP_AT[1] = 2 * n + 1;
      return true;
    }
    case 43: // + simple
    case 45: // - error
    case 58: // : integer
    case 95: // _ null
    case 35: // # boolean
    case 44: // , double
    case 40: // ( big number
      STEP_AT[0] = lf + 1;
      STEP_AT[1] = 0;
      return true;
    default:
      throw new ReplyProtocolError(`unexpected byte ${t} at the start of a reply`);
  }
}

/** End of the complete value starting at `at` in buf, or -1 when buf ends inside it. */
export function valueEnd(buf: Buffer, at: number): number {
  let need = 1;
  while (need > 0) {
    if (!step(buf, at)) return -1;
    at = STEP_AT[0]!;
    need += STEP_AT[1]! - 1;
  }
  return at;
}

/**
 * The elements of a complete aggregate reply (`*`, `~`, `%` counts keys and values):
 * their count and the offset of each one's start, plus the end.
 * Returns null for a non-aggregate (or null array) reply.
 */
export function elements(reply: Buffer): { count: number; offsets: number[] } | null {
  const t = reply[0];
  if (t !== 42 && t !== 126 && t !== 37 && t !== 62) return null;
  const lf = reply.indexOf(10);
  const n0 = headerInt(reply, 1, lf - 1);
  if (n0 < 0) return null;
  const n = t === 37 ? 2 * n0 : n0;
  const offsets: number[] = new Array(n + 1);
  let at = lf + 1;
  for (let i = 0; i < n; i++) {
    offsets[i] = at;
    at = valueEnd(reply, at);
    if (at < 0) throw new ReplyProtocolError('truncated aggregate reply');
  }
  offsets[n] = at;
  return { count: n, offsets };
}

export class ReplyScanner {
  private buf: Buffer = EMPTY;
  /** Start of the reply being scanned. */
  private pos = 0;
  /** Scan position inside it. */
  private at = 0;
  /** Values still to read before the reply is complete (0: between replies). */
  private need = 0;
  /** Chunks of a large bulk being collected, and the length buf must reach. */
  private chunks: Buffer[] | null = null;
  private chunksLen = 0;
  private waitFor = 0;

  /** Bytes held (a reply being received). */
  get buffered(): number {
    return this.chunks !== null ? this.chunksLen : this.buf.length - this.pos;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.chunks !== null) {
      this.chunks.push(chunk);
      this.chunksLen += chunk.length;
      if (this.chunksLen >= this.waitFor) {
        this.buf = Buffer.concat(this.chunks, this.chunksLen);
        this.chunks = null;
        this.chunksLen = 0;
      }
      return;
    }
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.at -= this.pos;
      this.pos = 0;
      return;
    }
    const off = this.pos;
    this.buf = Buffer.concat([this.buf.subarray(off), chunk]);
    this.at -= off;
    this.pos = 0;
  }

  /** The next complete reply (a view of the received bytes), or null. Throws ReplyProtocolError. */
  next(): Buffer | null {
    if (this.chunks !== null) return null;
    const buf = this.buf;
    if (this.need === 0) {
      if (this.pos >= buf.length) return null;
      this.need = 1;
      this.at = this.pos;
    }
    let at = this.at;
    let need = this.need;
    while (need > 0) {
      if (!step(buf, at)) {
        this.at = at;
        this.need = need;
        if (STEP_AT[1] === -1 && STEP_AT[0]! - at >= BIG) {
          // A large bulk: collect the chunks until it is complete, then join once.
          const start = this.pos;
          this.chunks = [buf.subarray(start)];
          this.chunksLen = buf.length - start;
          this.waitFor = STEP_AT[0]! - start;
          this.at -= start;
          this.pos = 0;
          this.buf = EMPTY;
        }
        return null;
      }
      at = STEP_AT[0]!;
      need += STEP_AT[1]! - 1;
    }
    const reply = buf.subarray(this.pos, at);
    this.pos = at;
    this.at = at;
    this.need = 0;
    if (at >= buf.length) {
      this.buf = EMPTY;
      this.pos = 0;
      this.at = 0;
    }
    return reply;
  }
}

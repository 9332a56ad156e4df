/**
 * Encodes commands as RESP arrays of bulk strings into a growing buffer. Data is written
 * at `len`; everything from `start` has not been handed to the socket yet. `take()`
 * returns that part as a view (no copy) and moves `start`: the bytes it covers are never
 * written again, because a full buffer is replaced, not reused.
 */
import type { Arg } from './command.js';

const MIN = 64 * 1024;

export class Encoder {
  buf = Buffer.allocUnsafe(MIN);
  start = 0;
  len = 0;

  get pending(): number {
    return this.len - this.start;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const keep = this.len - this.start;
    const next = Buffer.allocUnsafe(Math.max(MIN, (keep + n) * 2));
    this.buf.copy(next, 0, this.start, this.len);
    this.buf = next;
    this.start = 0;
    this.len = keep;
  }

  private header(type: number, n: number): void {
    const b = this.buf;
    let p = this.len;
    b[p++] = type;
    if (n < 10) b[p++] = 48 + n;
    else p += b.latin1Write(String(n), p);
    b[p++] = 13;
    b[p++] = 10;
    this.len = p;
  }

  command(name: string, args: readonly Arg[]): void {
    this.room(16 + name.length * 3);
    this.header(42, args.length + 1);
    this.str(name);
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (typeof a === 'string') this.str(a);
      else if (typeof a === 'number') this.str(String(a));
      else this.bytes(a);
    }
  }

  private str(s: string): void {
    const n = s.length < 64 && isAscii(s) ? s.length : Buffer.byteLength(s);
    this.room(n + 18);
    this.header(36, n);
    const b = this.buf;
    let p = this.len;
    p += n === s.length && n < 64 ? b.latin1Write(s, p) : b.write(s, p, 'utf8');
    b[p++] = 13;
    b[p++] = 10;
    this.len = p;
  }

  private bytes(a: Uint8Array): void {
    const n = a.length;
    this.room(n + 18);
    this.header(36, n);
    const b = this.buf;
    b.set(a, this.len);
    let p = this.len + n;
    b[p++] = 13;
    b[p++] = 10;
    this.len = p;
  }

  /** The bytes not yet handed out; empty when there are none. */
  take(): Buffer {
    const out = this.buf.subarray(this.start, this.len);
    this.start = this.len;
    // Nothing outstanding in a buffer mostly used: start a fresh one next time.
    if (this.len > this.buf.length - 256) {
      this.buf = Buffer.allocUnsafe(MIN);
      this.start = this.len = 0;
    }
    return out;
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

/** Latin1 (as the reply parser yields) to UTF-8 text, when it holds any non-ASCII byte. */
export function latin1ToUtf8(s: string): string {
  return HIGH.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

const HIGH = /[^\x00-\x7f]/;

/** A key as the bytes the server hashes (UTF-8), in the form keyHashSlot takes. */
export function keyBytes(k: Arg): string | Uint8Array {
  if (typeof k === 'number') return String(k);
  if (typeof k !== 'string') return k;
  return isAscii(k) ? k : Buffer.from(k, 'utf8');
}

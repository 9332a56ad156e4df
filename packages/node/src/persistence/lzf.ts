/**
 * LZF (Marc Lehmann's liblzf format), which Redis uses to compress strings in RDB
 * files and DUMP payloads. The stream is a sequence of runs:
 *  - ctrl < 32: a literal run of ctrl + 1 bytes follows;
 *  - otherwise a back reference: length (ctrl >> 5) + 2 (when ctrl >> 5 is 7 the next
 *    byte adds to it) and offset ((ctrl & 31) << 8 | next byte) + 1 back from the output.
 * Any valid stream decodes in Redis; the compressor does not need to match liblzf bit
 * for bit.
 */

const HLOG = 14;
const HSIZE = 1 << HLOG;
const MAX_LIT = 32;
const MAX_OFF = 1 << 13;
const MAX_REF = (1 << 8) + (1 << 3);

let htab: Int32Array | null = null;

/**
 * Compresses `input`; returns the compressed bytes, or null when they would not fit in
 * `maxOut` bytes (the caller then stores the data uncompressed, as Redis does).
 */
export function lzfCompress(input: Uint8Array, maxOut: number): Buffer | null {
  const inEnd = input.length;
  if (inEnd === 0 || maxOut <= 0) return null;
  const out = Buffer.allocUnsafe(maxOut + 4);
  // A table sized to the input: clearing 64 KiB for every short string would dominate.
  let hlog = 8;
  while (hlog < HLOG && 1 << hlog < inEnd) hlog++;
  const tab = (htab ??= new Int32Array(HSIZE));
  tab.fill(0, 0, 1 << hlog);
  const shift = 32 - hlog;
  let ip = 0;
  let op = 1; // room for the first literal run's control byte
  let lit = 0;
  while (ip < inEnd - 2) {
    const v = (input[ip]! << 16) | (input[ip + 1]! << 8) | input[ip + 2]!;
    const h = Math.imul(v, 0x9e3779b1) >>> shift;
    const ref = tab[h]! - 1; // stored as position + 1; -1 = empty
    tab[h] = ip + 1;
    const off = ip - ref - 1;
    if (ref >= 0 && off < MAX_OFF && input[ref] === input[ip] && input[ref + 1] === input[ip + 1] && input[ref + 2] === input[ip + 2]) {
      let len = 2;
      let maxlen = inEnd - ip - len;
      if (maxlen > MAX_REF) maxlen = MAX_REF;
      if (op - (lit === 0 ? 1 : 0) + 3 + 1 >= maxOut) return null;
      out[op - lit - 1] = lit - 1; // close the literal run
      if (lit === 0) op--; // ... or drop it when empty
      do len++;
      while (len < maxlen && input[ref + len] === input[ip + len]);
      len -= 2;
      ip++;
      if (len < 7) out[op++] = (off >> 8) + (len << 5);
      else {
        out[op++] = (off >> 8) + (7 << 5);
        out[op++] = len - 7;
      }
      out[op++] = off & 0xff;
      lit = 0;
      op++;
      ip += len + 1;
    } else {
      if (op >= maxOut) return null;
      lit++;
      out[op++] = input[ip++]!;
      if (lit === MAX_LIT) {
        out[op - lit - 1] = lit - 1;
        lit = 0;
        op++;
      }
    }
  }
  if (op + 3 > maxOut) return null;
  while (ip < inEnd) {
    lit++;
    out[op++] = input[ip++]!;
    if (lit === MAX_LIT) {
      out[op - lit - 1] = lit - 1;
      lit = 0;
      op++;
    }
  }
  out[op - lit - 1] = lit - 1;
  if (lit === 0) op--;
  if (op > maxOut) return null;
  return out.subarray(0, op);
}

/**
 * Decompresses an LZF stream that must expand to exactly `outLen` bytes. Throws on a
 * corrupt stream (a reference before the start, a run past either end).
 */
export function lzfDecompress(input: Uint8Array, outLen: number): Buffer {
  const out = Buffer.allocUnsafe(outLen);
  let ip = 0;
  let op = 0;
  const inEnd = input.length;
  while (ip < inEnd) {
    let ctrl = input[ip++]!;
    if (ctrl < 32) {
      ctrl++;
      if (op + ctrl > outLen || ip + ctrl > inEnd) throw new Error('lzf: corrupt literal run');
      for (let k = 0; k < ctrl; k++) out[op++] = input[ip++]!;
    } else {
      let len = ctrl >> 5;
      if (len === 7) {
        if (ip >= inEnd) throw new Error('lzf: truncated');
        len += input[ip++]!;
      }
      if (ip >= inEnd) throw new Error('lzf: truncated');
      let ref = op - ((ctrl & 0x1f) << 8) - 1 - input[ip++]!;
      len += 2;
      if (ref < 0 || op + len > outLen) throw new Error('lzf: corrupt back reference');
      for (let k = 0; k < len; k++) out[op++] = out[ref++]!;
    }
  }
  if (op !== outLen) throw new Error('lzf: length mismatch');
  return out;
}

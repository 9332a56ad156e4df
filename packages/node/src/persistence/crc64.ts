/**
 * CRC-64 as Redis computes it ("Jones" coefficients: reflected polynomial
 * 0xad93d23594c935a9, initial value 0, no final xor). Check value: crc64("123456789")
 * = 0xe9c6d914c4b8d9ca. Used by DUMP payloads and RDB files.
 *
 * The 64-bit state is kept in two 32-bit halves so the loop stays on small integers.
 */

const TABLE_LO = new Uint32Array(256);
const TABLE_HI = new Uint32Array(256);
{
  // The polynomial bit-reflected: 0x95ac9329ac4bc9b5.
  const PH = 0x95ac9329;
  const PL = 0xac4bc9b5;
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit) {
        lo = (lo ^ PL) >>> 0;
        hi = (hi ^ PH) >>> 0;
      }
    }
    TABLE_LO[i] = lo;
    TABLE_HI[i] = hi;
  }
}

/** A running CRC-64 state (hi/lo halves); start from `crc64Init()`. */
export interface Crc64State {
  hi: number;
  lo: number;
}

export function crc64Init(): Crc64State {
  return { hi: 0, lo: 0 };
}

/** Folds `buf[start, end)` into the state, in place. */
export function crc64Update(st: Crc64State, buf: Uint8Array, start = 0, end = buf.length): Crc64State {
  let hi = st.hi;
  let lo = st.lo;
  for (let i = start; i < end; i++) {
    const idx = (lo ^ buf[i]!) & 0xff;
    lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ TABLE_LO[idx]!;
    hi = (hi >>> 8) ^ TABLE_HI[idx]!;
  }
  st.hi = hi >>> 0;
  st.lo = lo >>> 0;
  return st;
}

/** CRC-64 of `buf[start, end)` written little-endian into `out` at `at` (8 bytes). */
export function writeCrc64LE(st: Crc64State, out: Uint8Array, at: number): void {
  const { hi, lo } = st;
  out[at] = lo & 0xff;
  out[at + 1] = (lo >>> 8) & 0xff;
  out[at + 2] = (lo >>> 16) & 0xff;
  out[at + 3] = lo >>> 24;
  out[at + 4] = hi & 0xff;
  out[at + 5] = (hi >>> 8) & 0xff;
  out[at + 6] = (hi >>> 16) & 0xff;
  out[at + 7] = hi >>> 24;
}

/** The CRC-64 of a buffer as a bigint (for tests and logs). */
export function crc64(buf: Uint8Array, start = 0, end = buf.length): bigint {
  const st = crc64Update(crc64Init(), buf, start, end);
  return (BigInt(st.hi) << 32n) | BigInt(st.lo);
}

/**
 * Redis Cluster's key-to-slot function: CRC16/XMODEM (poly 0x1021, init 0) of the key,
 * or of the part between the first `{` and the next `}` when that part is non-empty,
 * modulo 16384. Keys are latin1 strings (one char per byte) or Buffers.
 */
export const SLOTS = 16384;

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[i] = c;
}

export function crc16(key: string | Uint8Array, start = 0, end = key.length): number {
  let crc = 0;
  if (typeof key === 'string') {
    for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ key.charCodeAt(i)) & 0xff]!;
  } else {
    for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ key[i]!) & 0xff]!;
  }
  return crc;
}

function indexOfByte(key: string | Uint8Array, byte: number, from: number): number {
  if (typeof key === 'string') return key.indexOf(String.fromCharCode(byte), from);
  for (let i = from; i < key.length; i++) if (key[i] === byte) return i;
  return -1;
}

export function keyHashSlot(key: string | Uint8Array): number {
  const open = indexOfByte(key, 123 /* { */, 0);
  if (open >= 0) {
    const close = indexOfByte(key, 125 /* } */, open + 1);
    if (close > open + 1) return crc16(key, open + 1, close) & (SLOTS - 1);
  }
  return crc16(key) & (SLOTS - 1);
}

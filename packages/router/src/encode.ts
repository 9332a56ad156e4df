/** RESP encoding of requests and of the replies the router makes itself. */

/** A command as a RESP multibulk (latin1 string: one char per byte). */
export function encodeCommand(args: readonly string[]): string {
  let s = '*' + args.length + '\r\n';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    s += '$' + a.length + '\r\n' + a + '\r\n';
  }
  return s;
}

export const OK = Buffer.from('+OK\r\n');
export const QUEUED = Buffer.from('+QUEUED\r\n');
export const PONG = Buffer.from('+PONG\r\n');

export function errorReply(msg: string): Buffer {
  return Buffer.from('-' + msg.replace(/[\r\n]/g, ' ') + '\r\n', 'latin1');
}

export function intReply(n: number | bigint): Buffer {
  return Buffer.from(':' + n + '\r\n', 'latin1');
}

export function bulkReply(s: string): Buffer {
  return Buffer.from('$' + s.length + '\r\n' + s + '\r\n', 'latin1');
}

export function nullReply(proto: number): Buffer {
  return Buffer.from(proto === 3 ? '_\r\n' : '$-1\r\n');
}

/** An array of bulk strings. */
export function bulkArray(items: readonly string[]): Buffer {
  let s = '*' + items.length + '\r\n';
  for (const a of items) s += '$' + a.length + '\r\n' + a + '\r\n';
  return Buffer.from(s, 'latin1');
}

/** A RESP3 map of string keys to prepared values (bulk strings, numbers), or the flat RESP2 array. */
export function mapReply(proto: number, entries: readonly [string, string | number | Buffer][]): Buffer {
  const parts: Buffer[] = [Buffer.from(proto === 3 ? `%${entries.length}\r\n` : `*${entries.length * 2}\r\n`)];
  for (const [k, v] of entries) {
    parts.push(bulkReply(k));
    parts.push(typeof v === 'number' ? intReply(v) : typeof v === 'string' ? bulkReply(v) : v);
  }
  return Buffer.concat(parts);
}

/** A verbatim text (INFO) in RESP3, a bulk string in RESP2. */
export function textReply(proto: number, s: string): Buffer {
  if (proto === 3) return Buffer.from('=' + (s.length + 4) + '\r\ntxt:' + s + '\r\n', 'latin1');
  return bulkReply(s);
}

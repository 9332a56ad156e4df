import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RequestParser, splitArgs } from './request-parser.js';
import { encodeCommand } from './writer.js';
import { DEFAULT_LIMITS, type RequestLimits } from './limits.js';

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Cuts `data` at the given (sorted, deduplicated) positions. */
function cut(data: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

/** Feeds chunks one by one, draining commands after each; stops at an error. */
function feed(p: RequestParser, chunks: Buffer[]): string[][] {
  const got: string[][] = [];
  for (const ch of chunks) {
    p.push(ch);
    for (let guard = 0; guard < 100_000; guard++) {
      const c = p.next();
      if (c === null) break;
      got.push(c);
    }
    if (p.error !== null) break;
  }
  return got;
}

function parseAll(input: string | Buffer, limits?: RequestLimits): { cmds: string[][]; error: string | null; parser: RequestParser } {
  const p = new RequestParser(limits);
  const cmds = feed(p, [typeof input === 'string' ? Buffer.from(input, 'latin1') : input]);
  return { cmds, error: p.error, parser: p };
}

/** Binary args: empty, short, with CR/LF inside, sometimes large (crosses BIG_ARG). */
const arg = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }).map(latin1) },
  { weight: 2, arbitrary: fc.constantFrom('', '\r\n', '\r', '\n', '$5\r\n', '*1\r\n', '\0', '"', "'") },
  { weight: 1, arbitrary: fc.integer({ min: 30_000, max: 100_000 }).map((n) => 'x\r\n'.repeat(Math.ceil(n / 3)).slice(0, n)) },
);
const command = fc.array(arg, { minLength: 1, maxLength: 8 });

describe('RequestParser: multibulk round trip', () => {
  it('any command cut into random chunks parses back to itself', () => {
    fc.assert(
      fc.property(command, fc.array(fc.nat(), { maxLength: 12 }), (args, points) => {
        const data = encodeCommand(args);
        const p = new RequestParser();
        const got = feed(p, cut(data, points));
        expect(p.error).toBeNull();
        expect(got).toEqual([args]);
        expect(p.idle).toBe(true);
        expect(p.buffered).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('many pipelined commands in one stream, chunked at random, come out in order', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 40 }), (cmds, points) => {
        const data = Buffer.concat(cmds.map((c) => encodeCommand(c)));
        const p = new RequestParser();
        expect(feed(p, cut(data, points))).toEqual(cmds);
        expect(p.error).toBeNull();
      }),
      { numRuns: 200 },
    );
  });

  it('byte-at-a-time delivery', () => {
    const cmds = [['SET', 'k', 'v\r\nw'], ['GET', 'k'], ['ECHO', '']];
    const data = Buffer.concat(cmds.map((c) => encodeCommand(c)));
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i++) chunks.push(data.subarray(i, i + 1));
    const p = new RequestParser();
    expect(feed(p, chunks)).toEqual(cmds);
  });

  it('a large bulk (5 MB) in many chunks comes back intact, and buffered counts it while partial', () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 'ab\r\n');
    const data = encodeCommand(['SET', 'k', big]);
    const p = new RequestParser();
    let got: string[] | null = null;
    for (let off = 0; off < data.length; off += 64 * 1024) {
      p.push(data.subarray(off, off + 64 * 1024));
      const c = p.next();
      if (c !== null) got = c;
      else expect(p.buffered).toBe(Math.min(off + 64 * 1024, data.length));
    }
    expect(got).not.toBeNull();
    expect(got![2]!.length).toBe(big.length);
    expect(got![2] === big.toString('latin1')).toBe(true);
  });

  it('empty and negative multibulk counts are skipped, as Redis does', () => {
    expect(parseAll('*0\r\n*-1\r\n*-5\r\n*1\r\n$4\r\nPING\r\n').cmds).toEqual([['PING']]);
  });

  it('skips any number of empty lines and empty multibulks without recursion', () => {
    const r = parseAll('\r\n'.repeat(200_000) + '*0\r\n'.repeat(200_000) + 'PING\r\n');
    expect(r.error).toBeNull();
    expect(r.cmds).toEqual([['PING']]);
  });
});

describe('RequestParser: inline commands', () => {
  it('reads PING with CRLF and bare LF, ignores empty and blank lines', () => {
    expect(parseAll('PING\r\nPING\n\r\n\n   \r\n\tPING  \r\n').cmds).toEqual([['PING'], ['PING'], ['PING']]);
  });

  it('splits on runs of white space', () => {
    expect(parseAll('SET  a\t b \r\n').cmds).toEqual([['SET', 'a', 'b']]);
  });

  it('quoted arguments with escapes', () => {
    const r = parseAll('SET "a b" "x\\x41\\n\\r\\t\\b\\a\\\\\\"y" \'it\\\'s\' ""\r\n');
    expect(r.error).toBeNull();
    expect(r.cmds).toEqual([['SET', 'a b', 'xA\n\r\t\b\x07\\"y', "it's", '']]);
  });

  it('an invalid \\x escape keeps the x', () => {
    expect(splitArgs('"\\xZZ"')).toEqual(['xZZ']);
  });

  it('a quote inside an unquoted word opens a quoted section', () => {
    expect(splitArgs('a"b c"')).toEqual(['ab c']);
  });

  it('NUL is an ordinary byte in an inline argument (no endless loop)', () => {
    expect(parseAll('PI\0NG a\0\r\n').cmds).toEqual([['PI\0NG', 'a\0']]);
    expect(splitArgs('\0')).toEqual(['\0']);
  });

  it('an inline command split across chunks', () => {
    const p = new RequestParser();
    expect(feed(p, [Buffer.from('SET "a'), Buffer.from(' b" c\r'), Buffer.from('\nGET x\r\n')])).toEqual([
      ['SET', 'a b', 'c'],
      ['GET', 'x'],
    ]);
  });

  it('inline and multibulk interleaved', () => {
    expect(parseAll('PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\nECHO y\n').cmds).toEqual([['PING'], ['ECHO', 'x'], ['ECHO', 'y']]);
  });

  it('splitArgs agrees with itself on random quoted input (never throws)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ' ', '"', "'", '\\', 'x', '4', '\t', '\0', '\n') , maxLength: 30 }), (s) => {
        const r = splitArgs(s);
        if (r !== null) for (const a of r) expect(typeof a).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RequestParser: malformed input gets Redis\'s errors', () => {
  const cases: [string, string, string][] = [
    ['non-numeric multibulk count', '*abc\r\n', 'Protocol error: invalid multibulk length'],
    ['empty multibulk count', '*\r\n', 'Protocol error: invalid multibulk length'],
    ['plus sign', '*+3\r\n', 'Protocol error: invalid multibulk length'],
    ['leading zero', '*01\r\n', 'Protocol error: invalid multibulk length'],
    ['minus zero', '*-0\r\n', 'Protocol error: invalid multibulk length'],
    ['count over INT_MAX', '*2147483648\r\n', 'Protocol error: invalid multibulk length'],
    ['count with 23 digits', '*99999999999999999999999\r\n', 'Protocol error: invalid multibulk length'],
    ['bare LF after the count', '*1\n$4\r\nPING\r\n', 'Protocol error: invalid multibulk length'],
    ['simple string instead of bulk', '*1\r\n+foo\r\n', "Protocol error: expected '$', got '+'"],
    ['inline word instead of bulk', '*2\r\n$3\r\nGET\r\nx\r\n', "Protocol error: expected '$', got 'x'"],
    ['negative bulk length', '*1\r\n$-5\r\n', 'Protocol error: invalid bulk length'],
    ['null bulk in a request', '*1\r\n$-1\r\n', 'Protocol error: invalid bulk length'],
    ['fractional bulk length', '*1\r\n$1.5\r\n', 'Protocol error: invalid bulk length'],
    ['empty bulk length', '*1\r\n$\r\n', 'Protocol error: invalid bulk length'],
    ['space in bulk length', '*1\r\n$ 4\r\n', 'Protocol error: invalid bulk length'],
    ['bulk leading zero', '*1\r\n$04\r\nPING\r\n', 'Protocol error: invalid bulk length'],
    ['600 MB bulk', '*1\r\n$600000000\r\n', 'Protocol error: invalid bulk length'],
    ['512 MB + 1 bulk', '*1\r\n$536870913\r\n', 'Protocol error: invalid bulk length'],
    ['unbalanced double quote', 'SET "a b\r\n', 'Protocol error: unbalanced quotes in request'],
    ['unbalanced single quote', "SET 'a b\r\n", 'Protocol error: unbalanced quotes in request'],
    ['closing quote followed by a letter', 'SET "a"b c\r\n', 'Protocol error: unbalanced quotes in request'],
    ['trailing backslash in quotes', 'SET "a\\\r\n', 'Protocol error: unbalanced quotes in request'],
  ];
  for (const [name, input, msg] of cases) {
    it(name, () => {
      const r = parseAll(input);
      expect(r.error).toBe(msg);
      expect(r.cmds).toEqual([]);
      // Failed stays failed, and holds nothing.
      r.parser.push(Buffer.from('PING\r\n'));
      expect(r.parser.next()).toBeNull();
      expect(r.parser.buffered).toBe(0);
    });
  }

  it('a 600 MB bulk header is rejected at once, before any of its bytes arrive', () => {
    const p = new RequestParser();
    p.push(Buffer.from('*1\r\n$600000000\r\n'));
    expect(p.next()).toBeNull();
    expect(p.error).toBe('Protocol error: invalid bulk length');
  });

  it('a 1G multibulk count is accepted (as Redis does) without allocating for it', () => {
    const p = new RequestParser();
    p.push(Buffer.from('*1073741824\r\n$1\r\na\r\n'));
    expect(p.next()).toBeNull();
    expect(p.error).toBeNull();
    expect(p.buffered).toBe('*1073741824\r\n$1\r\na\r\n'.length);
  });

  it('an inline line over 64 KB without a newline is rejected', () => {
    const p = new RequestParser();
    const chunk = Buffer.alloc(16 * 1024, 'a');
    let i = 0;
    for (; i < 10 && p.error === null; i++) {
      p.push(chunk);
      expect(p.next()).toBeNull();
    }
    expect(p.error).toBe('Protocol error: too big inline request');
    expect(i).toBe(5); // 80 KB > 64 KB
    expect(p.buffered).toBe(0);
  });

  it('an inline line of just under 64 KB is fine', () => {
    const r = parseAll('ECHO ' + 'a'.repeat(60 * 1024) + '\r\n');
    expect(r.error).toBeNull();
    expect(r.cmds[0]![1]!.length).toBe(60 * 1024);
  });

  it('a multibulk count line over 64 KB without newline is rejected', () => {
    expect(parseAll('*' + '1'.repeat(70 * 1024)).error).toBe('Protocol error: too big mbulk count string');
  });

  it('a bulk count line over 64 KB without newline is rejected', () => {
    expect(parseAll('*1\r\n$' + '1'.repeat(70 * 1024)).error).toBe('Protocol error: too big bulk count string');
  });

  it('proto-max-bulk-len set low: the header over it fails, equal passes', () => {
    const limits = { ...DEFAULT_LIMITS, maxBulkLen: 1024 * 1024 };
    expect(parseAll(`*1\r\n$${1024 * 1024 + 1}\r\n`, limits).error).toBe('Protocol error: invalid bulk length');
    expect(parseAll(`*1\r\n$${1024 * 1024}\r\n`, limits).error).toBeNull();
  });

  it('client-query-buffer-limit: a partial command over it fails, counting parsed arguments too', () => {
    const limits = { ...DEFAULT_LIMITS, maxQueryBuffer: 1024 * 1024 };
    // One huge bulk in progress.
    const p = new RequestParser(limits);
    p.push(Buffer.from('*1\r\n$5000000\r\n'));
    for (let i = 0; i < 40 && p.error === null; i++) {
      p.push(Buffer.alloc(64 * 1024, 'a'));
      p.next();
    }
    expect(p.error).toBe('Protocol error: query buffer limit exceeded');
    // Many small arguments of a command that never ends.
    const q = new RequestParser(limits);
    q.push(Buffer.from('*100000000\r\n'));
    const small = Buffer.from('$10\r\n0123456789\r\n'.repeat(1000));
    for (let i = 0; i < 200 && q.error === null; i++) {
      q.push(small);
      expect(q.next()).toBeNull();
    }
    expect(q.error).toBe('Protocol error: query buffer limit exceeded');
  });

  it('unauthenticated clients: more than 10 arguments or a bulk over 16 KB fails', () => {
    const p = new RequestParser();
    p.unauthenticated = true;
    p.push(Buffer.from('*11\r\n'));
    expect(p.next()).toBeNull();
    expect(p.error).toBe('Protocol error: unauthenticated multibulk length');
    const q = new RequestParser();
    q.unauthenticated = true;
    q.push(Buffer.from('*1\r\n$16385\r\n'));
    expect(q.next()).toBeNull();
    expect(q.error).toBe('Protocol error: unauthenticated bulk length');
    const ok = new RequestParser();
    ok.unauthenticated = true;
    ok.push(encodeCommand(['AUTH', 'x'.repeat(16384)]));
    expect(ok.next()).toEqual(['AUTH', 'x'.repeat(16384)]);
  });

  it('random bytes never throw, and memory stays bounded by the limits', () => {
    const limits = { ...DEFAULT_LIMITS, maxQueryBuffer: 1024 * 1024 };
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const p = new RequestParser(limits);
        for (const ch of chunks) {
          p.push(Buffer.from(ch));
          for (let g = 0; g < 1000 && p.next() !== null; g++);
          expect(p.buffered).toBeLessThanOrEqual(1024 * 1024);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('random mutations of valid commands never throw and either parse or fail', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 5 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (cmds, muts) => {
        const data = Buffer.from(Buffer.concat(cmds.map((c) => encodeCommand(c))));
        for (const [at, byte] of muts) data[at % data.length] = byte;
        const p = new RequestParser();
        p.push(data);
        // Every command consumes at least two bytes, so the loop is bounded by the input.
        let n = 0;
        while (n <= data.length && p.next() !== null) n++;
        expect(n).toBeLessThanOrEqual(data.length / 2);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('RequestParser: header fast path agrees with the general path', () => {
  /** Whole input at once, then byte by byte: same commands, same error. */
  function bothWays(data: Buffer): void {
    const whole = new RequestParser();
    const a = feed(whole, [data]);
    const bytewise = new RequestParser();
    const b = feed(
      bytewise,
      [...data].map((x) => Buffer.from([x])),
    );
    expect(b).toEqual(a);
    expect(bytewise.error).toBe(whole.error);
  }

  it('headers built from digits, signs, zeros and stray CR/LF', () => {
    const tok = fc.constantFrom('*', '$', '0', '1', '3', '9', '-', '+', '\r', '\n', '\r\n', 'x', 'GET', '$3\r\nGET\r\n', '*1\r\n', '*2\r\n');
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 30 }), (toks) => bothWays(Buffer.from(toks.join(''), 'latin1'))),
      { numRuns: 3000 },
    );
  });

  it('counts and lengths of every width up to 17 digits', () => {
    for (let digits = 1; digits <= 17; digits++) {
      for (const first of ['1', '9']) {
        const n = first + '0'.repeat(digits - 1);
        bothWays(Buffer.from(`*${n}\r\n`, 'latin1'));
        bothWays(Buffer.from(`*1\r\n$${n}\r\n`, 'latin1'));
      }
    }
    const r = parseAll('*1\r\n$0\r\n\r\n*1\r\n$16\r\nkey:__rand_int__\r\n');
    expect(r.cmds).toEqual([[''], ['key:__rand_int__']]);
  });

  it('command names are reused across commands only when the bytes match', () => {
    const r = parseAll('*1\r\n$3\r\nSET\r\n*1\r\n$3\r\nset\r\n*1\r\n$3\r\nSET\r\n*1\r\n$3\r\nSEU\r\n*2\r\n$3\r\nSET\r\n$3\r\nSET\r\n');
    expect(r.cmds).toEqual([['SET'], ['set'], ['SET'], ['SEU'], ['SET', 'SET']]);
  });

  it('arguments of every short length and beyond come back byte for byte', () => {
    const args: string[] = [];
    for (let n = 0; n <= 40; n++) {
      let s = '';
      for (let k = 0; k < n; k++) s += String.fromCharCode((n * 37 + k * 101) & 255);
      args.push(s);
    }
    expect(parseAll(encodeCommand(args)).cmds).toEqual([args]);
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReplyWriter, Proto, formatDouble, g17, encodeCommand, type Sink } from './writer.js';
import {
  ReplyParser,
  NEED_MORE,
  RespError,
  RespSet,
  RespPush,
  RespVerbatim,
  RespDouble,
  RespBigNumber,
  RespProtocolError,
  type RespValue,
} from './reply-parser.js';

/** A reply as a tree the tests generate, write, and expect back. */
type M =
  | { t: 'simple'; v: string }
  | { t: 'error'; v: string }
  | { t: 'int'; v: number }
  | { t: 'bulk'; v: string }
  | { t: 'nil' }
  | { t: 'nilArray' }
  | { t: 'double'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'verbatim'; v: string }
  | { t: 'big'; v: string }
  | { t: 'array'; items: M[] }
  | { t: 'map'; pairs: [string, M][] }
  | { t: 'set'; items: M[] }
  | { t: 'push'; items: M[] };

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const noCrLf = fc.string({ maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ' '));
const binary = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 30 }).map(latin1) },
  { weight: 1, arbitrary: fc.integer({ min: 8000, max: 40000 }).map((n) => '\r\n$*'.repeat(n / 4 + 1).slice(0, n)) },
);
const double = fc.oneof(fc.double(), fc.constantFrom(0, -0, 0.1, 1 / 3, 1e17, 1e-5, Infinity, -Infinity, NaN), fc.integer().map((n) => n / 8));

const { tree } = fc.letrec<{ tree: M; leaf: M }>((tie) => ({
  leaf: fc.oneof(
    noCrLf.map((v): M => ({ t: 'simple', v })),
    noCrLf.map((v): M => ({ t: 'error', v: 'ERR ' + v })),
    fc.maxSafeInteger().map((v): M => ({ t: 'int', v })),
    binary.map((v): M => ({ t: 'bulk', v })),
    fc.constant<M>({ t: 'nil' }),
    fc.constant<M>({ t: 'nilArray' }),
    double.map((v): M => ({ t: 'double', v })),
    fc.boolean().map((v): M => ({ t: 'bool', v })),
    binary.map((v): M => ({ t: 'verbatim', v })),
    fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((v): M => ({ t: 'big', v: String(v) })),
  ),
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('leaf'),
    fc.array(tie('tree'), { maxLength: 5 }).map((items): M => ({ t: 'array', items })),
    fc.uniqueArray(fc.tuple(fc.uint8Array({ maxLength: 8 }).map(latin1), tie('tree')), { maxLength: 4, selector: (p) => p[0] }).map((pairs): M => ({ t: 'map', pairs })),
    fc.array(tie('tree'), { maxLength: 5 }).map((items): M => ({ t: 'set', items })),
    fc.array(tie('tree'), { maxLength: 4 }).map((items): M => ({ t: 'push', items })),
  ),
}));

function write(w: ReplyWriter, m: M): void {
  switch (m.t) {
    case 'simple': return w.simple(m.v);
    case 'error': return w.error(m.v);
    case 'int': return w.int(m.v);
    case 'bulk': return w.bulk(m.v);
    case 'nil': return w.nil();
    case 'nilArray': return w.nilArray();
    case 'double': return w.double(m.v);
    case 'bool': return w.bool(m.v);
    case 'verbatim': return w.verbatim(m.v);
    case 'big': return w.bigNumber(m.v);
    case 'array':
      w.array(m.items.length);
      for (const x of m.items) write(w, x);
      return;
    case 'map':
      w.map(m.pairs.length);
      for (const [k, v] of m.pairs) {
        w.bulk(k);
        write(w, v);
      }
      return;
    case 'set':
      w.set(m.items.length);
      for (const x of m.items) write(w, x);
      return;
    case 'push':
      w.push(m.items.length);
      for (const x of m.items) write(w, x);
      return;
  }
}

/** What a parser must give back for `m` written in protocol `p`. */
function expected(m: M, p: Proto): RespValue {
  const r3 = p === Proto.RESP3;
  switch (m.t) {
    case 'simple': return m.v;
    case 'error': return new RespError(m.v);
    case 'int': return m.v;
    case 'bulk': return m.v;
    case 'nil':
    case 'nilArray': return null;
    case 'double': return r3 ? new RespDouble(m.v) : formatDouble(m.v);
    case 'bool': return r3 ? m.v : m.v ? 1 : 0;
    case 'verbatim': return r3 ? new RespVerbatim('txt', m.v) : m.v;
    case 'big': return r3 ? new RespBigNumber(BigInt(m.v)) : m.v;
    case 'array': return m.items.map((x) => expected(x, p));
    case 'map': {
      if (!r3) return m.pairs.flatMap(([k, v]) => [k, expected(v, p)]);
      return new Map(m.pairs.map(([k, v]) => [k, expected(v, p)]));
    }
    case 'set': {
      const items = m.items.map((x) => expected(x, p));
      if (!r3) return items;
      const s = new RespSet();
      s.push(...items);
      return s;
    }
    case 'push': {
      const items = m.items.map((x) => expected(x, p));
      if (!r3) return items;
      const s = new RespPush();
      s.push(...items);
      return s;
    }
  }
}

class Collect implements Sink {
  parts: Buffer[] = [];
  write(chunk: Buffer | string, encoding?: BufferEncoding): boolean {
    this.parts.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : Buffer.from(chunk));
    return true;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function encode(values: M[], p: Proto): Buffer {
  const w = new ReplyWriter();
  w.proto = p;
  const sink = new Collect();
  for (const v of values) {
    write(w, v);
    // Drain sometimes mid-stream, as the server does between event-loop turns.
    if (v.t === 'int' && v.v % 2 === 0) w.drainTo(sink);
  }
  w.drainTo(sink);
  expect(w.empty).toBe(true);
  expect(w.size).toBe(0);
  return sink.bytes;
}

function cut(data: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((x) => x % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const x of at) {
    out.push(data.subarray(prev, x));
    prev = x;
  }
  out.push(data.subarray(prev));
  return out;
}

function parseChunks(chunks: Buffer[], opts?: { buffers?: boolean; maxBulkLen?: number }): RespValue[] {
  const p = new ReplyParser(opts);
  const got: RespValue[] = [];
  for (const ch of chunks) {
    p.push(ch);
    for (let g = 0; g < 100_000; g++) {
      const v = p.next();
      if (v === NEED_MORE) break;
      got.push(v);
    }
  }
  return got;
}

describe('ReplyWriter → ReplyParser round trip', () => {
  for (const p of [Proto.RESP3, Proto.RESP2]) {
    it(`every reply type, RESP${p}, under random chunking`, () => {
      fc.assert(
        fc.property(fc.array(tree, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }), (values, points) => {
          const data = encode(values, p);
          const got = parseChunks(cut(data, points));
          expect(got).toStrictEqual(values.map((v) => expected(v, p)));
        }),
        { numRuns: 400 },
      );
    });
  }

  it('exact bytes of each RESP3 type and its RESP2 form', () => {
    const cases: [(w: ReplyWriter) => void, string, string][] = [
      [(w) => w.ok(), '+OK\r\n', '+OK\r\n'],
      [(w) => w.error('ERR x'), '-ERR x\r\n', '-ERR x\r\n'],
      [(w) => w.int(5), ':5\r\n', ':5\r\n'],
      [(w) => w.int(-5), ':-5\r\n', ':-5\r\n'],
      [(w) => w.int(2n ** 63n - 1n), ':9223372036854775807\r\n', ':9223372036854775807\r\n'],
      [(w) => w.bulk(''), '$0\r\n\r\n', '$0\r\n\r\n'],
      [(w) => w.nil(), '_\r\n', '$-1\r\n'],
      [(w) => w.nilArray(), '_\r\n', '*-1\r\n'],
      [(w) => w.double(1.5), ',1.5\r\n', '$3\r\n1.5\r\n'],
      [(w) => w.double(Infinity), ',inf\r\n', '$3\r\ninf\r\n'],
      [(w) => w.double(-Infinity), ',-inf\r\n', '$4\r\n-inf\r\n'],
      [(w) => w.bool(true), '#t\r\n', ':1\r\n'],
      [(w) => w.bool(false), '#f\r\n', ':0\r\n'],
      [(w) => w.verbatim('hi'), '=6\r\ntxt:hi\r\n', '$2\r\nhi\r\n'],
      [(w) => w.bigNumber('123'), '(123\r\n', '$3\r\n123\r\n'],
      [(w) => w.map(1), '%1\r\n', '*2\r\n'],
      [(w) => w.set(2), '~2\r\n', '*2\r\n'],
      [(w) => w.push(3), '>3\r\n', '*3\r\n'],
      [(w) => w.bulks(['a', 'bc']), '*2\r\n$1\r\na\r\n$2\r\nbc\r\n', '*2\r\n$1\r\na\r\n$2\r\nbc\r\n'],
    ];
    for (const [f, r3, r2] of cases) {
      for (const [p, want] of [[Proto.RESP3, r3], [Proto.RESP2, r2]] as const) {
        const w = new ReplyWriter();
        w.proto = p;
        f(w);
        const s = new Collect();
        w.drainTo(s);
        expect(s.bytes.toString('latin1')).toBe(want);
      }
    }
  });

  it('keeps order across small, large (spilled) and buffer writes', () => {
    const w = new ReplyWriter();
    const s = new Collect();
    const big = 'x'.repeat(100_000);
    const bigBuf = Buffer.alloc(20_000, 7);
    w.int(1);
    w.bulk(big);
    w.int(2);
    w.bulkBuf(bigBuf);
    w.bulkBuf(Buffer.from('ab'));
    for (let i = 0; i < 3000; i++) w.bulk('v' + i); // crosses the 16 KB scratch buffer
    expect(w.size).toBeGreaterThan(120_000);
    w.drainTo(s);
    const got = parseChunks([s.bytes]);
    expect(got.slice(0, 5)).toEqual([1, big, 2, bigBuf.toString('latin1'), 'ab']);
    expect(got.length).toBe(3005);
    expect(got[3004]).toBe('v2999');
  });

  it('discard() drops what was not drained', () => {
    const w = new ReplyWriter();
    w.bulk('x'.repeat(50_000));
    w.int(3);
    w.discard();
    expect(w.empty).toBe(true);
    w.int(4);
    const s = new Collect();
    w.drainTo(s);
    expect(s.bytes.toString()).toBe(':4\r\n');
  });
});

describe('ReplyParser details', () => {
  it('buffers option gives Buffers for bulk strings', () => {
    const got = parseChunks([Buffer.from('$3\r\na\x00b\r\n+ok\r\n', 'latin1')], { buffers: true });
    expect(Buffer.isBuffer(got[0])).toBe(true);
    expect((got[0] as Buffer).equals(Buffer.from('a\x00b', 'latin1'))).toBe(true);
    expect(got[1]).toBe('ok');
  });

  it('attributes are read and skipped; blob errors become RespError; null aggregates are null', () => {
    const got = parseChunks([Buffer.from('|1\r\n+key\r\n:1\r\n:42\r\n!5\r\nERR x\r\n*-1\r\n%0\r\n*1\r\n|1\r\n+a\r\n+b\r\n+c\r\n')]);
    expect(got).toStrictEqual([42, new RespError('ERR x'), null, new Map(), ['c']]);
  });

  it('nested empty aggregates', () => {
    expect(parseChunks([Buffer.from('*3\r\n*0\r\n%0\r\n~0\r\n')])).toStrictEqual([[[], new Map(), new RespSet()]]);
  });

  it('RespError.code is the first word', () => {
    expect(new RespError('MOVED 1 h:1').code).toBe('MOVED');
    expect(new RespError('ERR').code).toBe('ERR');
  });

  it('malformed replies throw RespProtocolError, never hang', () => {
    for (const bad of ['?x\r\n', ':abc\r\n', '$x\r\n', '*1.5\r\n', '(12a\r\n', '(\r\n']) {
      const p = new ReplyParser();
      p.push(Buffer.from(bad));
      expect(() => p.next(), bad).toThrow(RespProtocolError);
    }
  });

  it('maxBulkLen rejects a longer bulk header', () => {
    const p = new ReplyParser({ maxBulkLen: 10 });
    p.push(Buffer.from('$11\r\n'));
    expect(() => p.next()).toThrow(RespProtocolError);
  });

  it('a 2 MB bulk delivered in 1 KB chunks parses once complete', () => {
    const v = Buffer.alloc(2 * 1024 * 1024, 'z');
    const data = Buffer.concat([Buffer.from(`$${v.length}\r\n`), v, Buffer.from('\r\n:1\r\n')]);
    const p = new ReplyParser();
    const got: RespValue[] = [];
    const t0 = Date.now();
    for (let off = 0; off < data.length; off += 1024) {
      p.push(data.subarray(off, off + 1024));
      for (let v2 = p.next(); v2 !== NEED_MORE; v2 = p.next()) got.push(v2);
    }
    expect(got).toEqual([v.toString('latin1'), 1]);
    // Linear, not quadratic, in the number of chunks.
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('formatDouble is C\'s %.17g (as Redis 7.0 replies)', () => {
  it('matches the golden table', () => {
    const b = Buffer.alloc(8);
    let checked = 0;
    for (const [hex, want] of G17_GOLDEN) {
      Buffer.from(hex, 'hex').copy(b);
      const d = b.readDoubleLE(0);
      expect(formatDouble(d), `${hex} (${d})`).toBe(want);
      checked++;
    }
    expect(checked).toBeGreaterThan(450);
  });

  it('inf, -inf, nan', () => {
    expect(formatDouble(Infinity)).toBe('inf');
    expect(formatDouble(-Infinity)).toBe('-inf');
    expect(formatDouble(NaN)).toBe('nan');
  });

  it('round-trips every finite double exactly and has at most 17 significant digits', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        const s = formatDouble(d);
        expect(Object.is(Number(s), d)).toBe(true);
        const mant = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '');
        expect(mant.length).toBeLessThanOrEqual(17);
        expect(g17(d)).toBe(s);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('encodeCommand', () => {
  it('frames strings and Buffers as a RESP array of bulks', () => {
    expect(encodeCommand(['SET', Buffer.from([0, 13, 10]), '']).toString('latin1')).toBe('*3\r\n$3\r\nSET\r\n$3\r\n\x00\r\n\r\n$0\r\n\r\n');
  });
});

// [IEEE-754 bits (little-endian hex), C printf("%.17g")], generated with CPython's %-formatting (which calls C's).
export const G17_GOLDEN: [string, string][] = [
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["9a9999999999b93f", "0.10000000000000001"],
  ["9a9999999999c93f", "0.20000000000000001"],
  ["333333333333d33f", "0.29999999999999999"],
  ["555555555555d53f", "0.33333333333333331"],
  ["555555555555e53f", "0.66666666666666663"],
  ["555555555555d5bf", "-0.33333333333333331"],
  ["000000000000f03f", "1"],
  ["000000000000f0bf", "-1"],
  ["0000000000005940", "100"],
  ["00a0d88557347643", "1e+17"],
  ["0080e03779c34143", "10000000000000000"],
  ["ff9fd88557347643", "99999999999999984"],
  ["00c84e676dc1ab43", "1e+18"],
  ["50efe2d6e41a4b44", "1e+21"],
  ["92d54d06cff08044", "1e+22"],
  ["355800662deb417e", "1.5000000000000001e+300"],
  ["83b63ad29712b081", "-1.5000000000000001e-300"],
  ["0100000000000000", "4.9406564584124654e-324"],
  ["0000000000001000", "2.2250738585072014e-308"],
  ["ffffffffffffef7f", "1.7976931348623157e+308"],
  ["2d431cebe2361a3f", "0.0001"],
  ["f168e388b5f8e43e", "1.0000000000000001e-05"],
  ["9d30bced9d2c203f", "0.00012339999999999999"],
  ["fc8093affce0e93e", "1.234e-05"],
  ["5839b4c8d61cc840", "12345.678"],
  ["182d4454fb210940", "3.1415926535897931"],
  ["6957148b0abf0540", "2.7182818284590451"],
  ["0000000000004043", "9007199254740992"],
  ["0100000000004043", "9007199254740994"],
  ["000000000000e043", "9.2233720368547758e+18"],
  ["000000000000f043", "1.8446744073709552e+19"],
  ["000000000000e0c3", "-9.2233720368547758e+18"],
  ["350f63bab4697b43", "1.2345678901234568e+17"],
  ["03eb2af2548b1143", "1234567890123456.8"],
  ["000000000000e03f", "0.5"],
  ["000000000000d03f", "0.25"],
  ["000000000000c03f", "0.125"],
  ["9a9999999999f13f", "1.1000000000000001"],
  ["6666666666660540", "2.6749999999999998"],
  ["48afbc9af2d77a3e", "9.9999999999999995e-08"],
  ["0000000000002340", "9.5"],
  ["8fc2f5285cff5840", "99.989999999999995"],
  ["02003426f56b0c43", "1000000000000000.2"],
  ["6666666666661140", "4.3499999999999996"],
  ["343333333333d33f", "0.30000000000000004"],
  ["7dc39425ad49b254", "1e+100"],
  ["30058ee42eff2bab", "-1e-100"],
  ["17c557ca85e1df44", "6.0221407599999999e+23"],
  ["53160c29daa4073c", "1.6021766339999999e-19"],
  ["8799a76a3a4391bb", "-9.1387497028769002e-22"],
  ["45729a026cf8f6d1", "-7.1398204543096323e+86"],
  ["cdbb40d3e77887cd", "-3.0899004673005058e+65"],
  ["42a9734cba58eada", "-9.1312998874347011e+129"],
  ["673a505e107189ee", "-2.942877356480083e+224"],
  ["54ca93310ac42e45", "1.8596773229471727e+25"],
  ["45e9e59050aaac6f", "8.6920672270022908e+229"],
  ["8b5f6429b91c815f", "1.1202983176732331e+152"],
  ["54f4cf1fb1e3c9df", "-2.7118780487767299e+153"],
  ["4be9d46e5ccbd642", "100250739757989.17"],
  ["2460e48f0e2591a0", "-8.1837704307304138e-152"],
  ["89c7a12c0cea9c9c", "-7.4819426887503413e-171"],
  ["b9e59f8da4b7d22f", "2.5257223361737091e-78"],
  ["21d1da5a7a4df7bc", "-5.1742273216317384e-15"],
  ["cfbb43f5e4589dbb", "-1.5536301412264183e-21"],
  ["d20c5f17ee6af287", "-2.1789094907487126e-270"],
  ["922688fa428d42bc", "-2.011390540120253e-18"],
  ["1fa8806998fbc595", "-8.7642718839736249e-204"],
  ["9ae801817e85a42a", "2.8632533934022509e-103"],
  ["45e8ec2541afa934", "5.2374923668024025e-55"],
  ["0d3b0eb88b74ed13", "1.0936941514836716e-212"],
  ["d5f6a130e03c4ad6", "-4.8141078806962144e+107"],
  ["07817057dc227152", "1.3635548534927665e+89"],
  ["827c05064a717675", "6.7395085957586054e+257"],
  ["01a3ea5658f4e006", "1.5303059611217572e-275"],
  ["22eeacf724e0bd82", "-1.8272601399104736e-295"],
  ["068992fae66ed2b0", "-1.6301294128168097e-73"],
  ["4a8599be2ccc5c6a", "2.2572140005785964e+204"],
  ["d066e2007d57b501", "1.9917479904700448e-300"],
  ["6878b3f0fc59f5a9", "-1.4546223495953267e-106"],
  ["9e95eaded041ef29", "1.0647315861075762e-106"],
  ["3f6655c5060a8294", "-6.8588211986777696e-210"],
  ["d5abca2d4ffa5c49", "2.5849035208654928e+45"],
  ["c0ce7819b5e10ca7", "-1.3980865026926386e-120"],
  ["dacc1e6a72cf1b1b", "4.2893241473530543e-178"],
  ["8b84b2e2991371ae", "-5.4939132079064512e-85"],
  ["3472fd93d5db802e", "1.0847658960585889e-84"],
  ["eca690bce8270060", "2.7076892184663095e+154"],
  ["760e8d3b41b9cdf5", "-2.8563304288860733e+259"],
  ["a17d0a868c589398", "-2.713760756235414e-190"],
  ["69599ab5a829c3e9", "-2.9336244025820534e+201"],
  ["515128d368da7354", "6.7849754646561841e+98"],
  ["a8b69fcee4e34d0a", "4.8600720678952611e-259"],
  ["668b783bd85cab1e", "6.0820624027885623e-161"],
  ["ad6089dfd233cd7f", "4.10132964629943e+307"],
  ["2eb5643784a0b8bc", "-3.4176852267502832e-16"],
  ["b64449cda16d8cc1", "-59618361.660775587"],
  ["f0111a8eb01a72ab", "-2.0692936927247466e-99"],
  ["9172922f96d2fa41", "7200137977.1529703"],
  ["ea0daf961857056f", "6.3192512515491949e+226"],
  ["1656ab8406db80ea", "-1.0569403110114571e+205"],
  ["eae76af51f193f21", "1.5200456102231995e-148"],
  ["6850a20ac5b6d2fa", "-4.3481173943335628e+283"],
  ["7af7042ad5be234d", "4.0614014643336468e+63"],
  ["3311b9fb303753dd", "-3.6612697690613018e+141"],
  ["2b610bd5cd306502", "4.0502177924977255e-297"],
  ["84417826c0e80af7", "-2.7114817958106491e+265"],
  ["cb25a73af1ba8759", "1.9608773770896137e+123"],
  ["4ff7048a26248b57", "5.2217687753452103e+113"],
  ["57e52f2849c0d162", "1.0467507166491465e+168"],
  ["b0fbe152849f4903", "8.0239112593151027e-293"],
  ["4d2fa00ccc7b960f", "1.4142587738176482e-233"],
  ["ad7b30b6c4f9f271", "7.9081225185686655e+240"],
  ["3eb01c14e28c5a63", "4.0079971091352549e+170"],
  ["46629efe835990cc", "-6.5682268152180175e+60"],
  ["0177aaebc8b7f22d", "2.3523319674493097e-87"],
  ["72b0f0c9565fff02", "3.0700980282040266e-294"],
  ["7a64bcc545905bb6", "-7.5439025009270322e-47"],
  ["dd03255ef3392137", "3.8622856756221928e-43"],
  ["0eb0bfad82bb3483", "-3.2461988957995748e-293"],
  ["c4dae1c2faf11a1f", "7.6662721838921729e-159"],
  ["0827147b4280319f", "-1.9917072854191663e-158"],
  ["111bc00f4e8f8903", "1.2806528033449365e-291"],
  ["225948a02d00e67d", "2.8776776539821043e+298"],
  ["c70f65536dffa0c5", "-2.6302762587259502e+27"],
  ["16cc2e9cecd94ff7", "-5.1351470862395629e+266"],
  ["f569bb6b6ac92fec", "-1.3376222657141875e+213"],
  ["bd0ed9f37055c08c", "-2.9201126081685921e-247"],
  ["7eb49b3325eb415d", "1.7070668040312532e+141"],
  ["4cc5d3c4954eb0a9", "-6.9434435257833138e-108"],
  ["2af3d4b274cb8f1e", "1.7668014370103972e-161"],
  ["afe97a8e78155026", "3.8016521001331769e-124"],
  ["b0e97d14844fb17e", "1.8548466680109644e+302"],
  ["67463a2a2b347be4", "-1.0765316368766168e+176"],
  ["a0ca9ff75afae655", "6.5874872232517843e+105"],
  ["98630b3b93560834", "4.8466205199672995e-58"],
  ["c7f4dd29a557aa29", "5.6082363885757863e-108"],
  ["c7becd495cdf6f26", "1.5067040208393873e-123"],
  ["2cbb808975483117", "5.7802026772941669e-197"],
  ["386105858fb91ab2", "-2.4781990961863778e-67"],
  ["805ada0090bf8325", "5.6979859110773367e-128"],
  ["c4bad000caff5da8", "-3.0454465617270388e-114"],
  ["9a36fe7e7be7cce2", "-8.522146168608318e+167"],
  ["b39f522fe2ced3d5", "-2.839371183697284e+105"],
  ["bc2c859b771c0eef", "-8.9165082707919967e+226"],
  ["b61268cc99aac1d9", "-2.3356970601030559e+124"],
  ["94268b1888c4a743", "8.5632169865139251e+17"],
  ["c5a25281a68701c0", "-2.1912355521529627"],
  ["1fabf8676002ed10", "3.8267517130041378e-227"],
  ["79255bcaaf695fc0", "-125.65135439778341"],
  ["1d4e6df41544fb75", "2.0961244526611627e+260"],
  ["740bae6a1b76932e", "2.5044612496500849e-84"],
  ["1ccc463e0a4d3feb", "-4.0197066737830738e+208"],
  ["7da1e3e0b7aa2f2f", "2.0864899591815364e-81"],
  ["808afb062244775f", "7.6159177955411643e+151"],
  ["e768995402c10b2d", "1.0644272998136749e-91"],
  ["cffb0f65b8ba872d", "2.3297945069853475e-89"],
  ["c659902d503b5792", "-2.5707747585340037e-220"],
  ["413610ae1d5dcfd2", "-7.9861318468407615e+90"],
  ["0319ad845b45b1e4", "-1.0935361238560972e+177"],
  ["d291ba3f1160cef5", "-2.9189478353657627e+259"],
  ["7bccca69c2706183", "-2.184601947794285e-292"],
  ["a4431fb15268e36a", "7.7885551043094237e+206"],
  ["c5d7305344dbc11e", "1.5876286696466443e-160"],
  ["df2d5511d01acca4", "-1.9797549370939524e-131"],
  ["1887e37552445abe", "-2.4462941333113226e-08"],
  ["f6beef31bb08cea0", "-1.1469035461866962e-150"],
  ["90560e9f24733c92", "-7.8704953422643175e-221"],
  ["1b06af336543c8bf", "-0.18955674193971181"],
  ["370c9122ba24ed87", "-1.7239120105766284e-270"],
  ["e7a2dae487a2b53b", "4.5813653293890042e-21"],
  ["14c28d542f895f91", "-5.3248598919071379e-225"],
  ["3184d44a9da61720", "4.4099001331323714e-154"],
  ["b856cb89f2e5a482", "-6.3909264427442386e-296"],
  ["727b81b1455f79c5", "-4.9076889475551325e+26"],
  ["9077c6abeb4b38e4", "-6.0092791273988211e+174"],
  ["b98b63cce8e5270f", "1.1744011760615876e-235"],
  ["1b2d8b42f036f7c6", "-7.5335695761353744e+33"],
  ["83be476de634460b", "2.3663367306636331e-254"],
  ["5c802c5d2c509acc", "-1.0570911272676434e+61"],
  ["039a45845bdd3089", "-2.0920972138612038e-264"],
  ["0db2f4928978891b", "5.0284712345844046e-176"],
  ["e00819a1d38142c2", "-158975083058.06934"],
  ["db6e65115dfafa27", "4.2792844211107611e-116"],
  ["9919085fc1165ee1", "-1.0575571389321733e+161"],
  ["c87164b5fabb82a2", "-1.9203898284193621e-142"],
  ["97350b0977d06146", "1.1291164397327534e+31"],
  ["bd7609bfadc8af71", "4.1393654619028486e+239"],
  ["3d3c97af2929625e", "4.5354741693964787e+146"],
  ["44ccdb66f238a84e", "8.3588598612242799e+70"],
  ["4de3fc72e672419c", "-1.4109732383377358e-172"],
  ["49d5ab43c350d54f", "3.8565061001524232e+76"],
  ["1b85babc2efe147e", "2.1966868886642381e+299"],
  ["bed9fb7a11ade40c", "1.4785672797817292e-246"],
  ["ae86df433f1a1072", "2.6842972026188641e+241"],
  ["2ea8830701033a38", "7.6441617272278291e-38"],
  ["9b9a5658aa7cd522", "7.0481851075143652e-141"],
  ["2b22c6eb6b5e8500", "3.8037787569860196e-306"],
  ["36d517adeb3e37f8", "-1.2280620365056162e+271"],
  ["bf7b27a04518f9cd", "-4.2284675249397091e+67"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["e7c589af7614a73f", "0.045078"],
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["0000000000000080", "-0"],
  ["0000000000000080", "-0"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["0000000040a4e1c0", "-36130"],
  ["0000000000000080", "-0"],
  ["b0e47e98ec166ac3", "-58748438568183168"],
  ["f062885cc9aab9c2", "-28221313419362.938"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["39ad607bc94f5242", "314592062850.7066"],
  ["cb653b35eca2a1c2", "-9695722642866.8965"],
  ["0000000000000000", "0"],
  ["fdf2775cf8506743", "52503616782571496"],
  ["000000583c5da4c1", "-170827308"],
  ["bc22f8dfca517440", "325.11203"],
  ["24a6b868506a4140", "34.830578889999998"],
  ["1e58d37ce58d5944", "1.8855732704756467e+21"],
  ["9144777e7095d2c1", "-1247134201.86356"],
  ["7d3f355eba49ccbf", "-0.221"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["0000000000000000", "0"],
  ["e853188b4506f7c1", "-6180591793.5204849"],
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["94702e70c3f0e43e", "9.9852000000000006e-06"],
  ["9a999b175e94ff41", "8477073785.7250004"],
  ["489494e737e9e042", "148750810784930.25"],
  ["0d7108cf29d108c4", "-5.7224207879020585e+19"],
  ["0000005fb0d1c441", "698572990"],
  ["f9d02a0dd98940c4", "-6.1016178022008186e+20"],
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["0801bb000f3118c2", "-25975570478.751007"],
  ["2095e6c71a1f7f41", "32633260.49379456"],
  ["e014f3ffec3fc93e", "3.01e-06"],
  ["0000000000000000", "0"],
  ["0e6ac2081ea8d242", "82053070784936.219"],
  ["5ebe632311d4c0be", "-2.0061000000000002e-06"],
  ["0000000000000080", "-0"],
  ["228e75711b0de0bf", "-0.50160000000000005"],
  ["ae47e1fa94333441", "1323924.98"],
  ["0000000000000000", "0"],
  ["2e6caf00047eed3e", "1.4063000000000001e-05"],
  ["0000000000000000", "0"],
  ["2e73ba2c26364fbf", "-0.0009525"],
  ["355eba490c020f40", "3.8759999999999999"],
  ["0acaa131bc2701c4", "-3.955723341088904e+19"],
  ["1ef55b24c6f8d9c0", "-26595.095969189999"],
  ["bc6fca70c6430cbf", "-5.3910726000000003e-05"],
  ["48afbc9af2d76abe", "-4.9999999999999998e-08"],
  ["0000000000000080", "-0"],
  ["8866f82ac6b06943", "57849916709614656"],
  ["0000000000000080", "-0"],
  ["668869905811c143", "2.4597231010358753e+18"],
  ["09336dffca4a83bf", "-0.0094199999999999996"],
  ["36f225ae5095f440", "84309.042516657006"],
  ["d1258fcc4f6aec40", "58194.493720601902"],
  ["b6d5d6609c077544", "6.2068807244537229e+21"],
  ["4c145e510cdf0b43", "980633546113673.5"],
  ["72f3fd3c5c5e483f", "0.00074367050000000005"],
  ["01bebbb5b68e0142", "9426097847.4677753"],
  ["1f856bed780eff41", "8336674518.7200003"],
  ["9a9999c9e44261c1", "-9049894.3000000007"],
  ["0000000000000080", "-0"],
  ["a1af6ae284501c41", "463905.22111009998"],
  ["0000000000000000", "0"],
  ["c87845b04d8944c4", "-7.5765727848603897e+20"],
  ["0000000000000000", "0"],
  ["0000002d4f88c4c1", "-688954970"],
  ["0d8cfda366fe50c0", "-67.975014684300007"],
  ["34db15fa60194b3f", "0.00082700000000000004"],
  ["0000000000000080", "-0"],
  ["a542acd9446894c3", "-3.6762524500627693e+17"],
  ["1f785e25bd7849c0", "-50.943272276999998"],
  ["fe9e08e46535ccc1", "-946523080.06735206"],
  ["c758407dd03f7bc0", "-435.98840069900001"],
  ["20e2c34596bc8640", "727.57337525399998"],
  ["b81e85eb51b8ae3f", "0.059999999999999998"],
  ["0000087e931802c2", "-9715216321"],
  ["fa7eaa85bf68be41", "510181253.66600001"],
  ["4c3789c1b1162d41", "953176.87800000003"],
  ["c1d1f0f5323c8243", "1.642476528967496e+17"],
  ["1ea7f2baa1d07a3f", "0.0065466229999999997"],
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["0000000000000000", "0"],
  ["7c303f6c913d8bc0", "-871.6960072457"],
  ["0000000000000080", "-0"],
  ["8bdfd2395862f23e", "1.7532499999999999e-05"],
  ["566e0407ec06b542", "23119473869934.336"],
  ["2f39a0209bec2ac3", "-3789250202967191.5"],
  ["33333333335ef7c0", "-95715.199999999997"],
  ["835415fc02f745c3", "-12365133404350726"],
  ["000000000000e0bf", "-0.5"],
  ["0000000000000000", "0"],
  ["0000000000000000", "0"],
  ["929391a1780d96c2", "-6061778560100.8926"],
  ["0000000000000000", "0"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["d9ff455d1fe71e45", "9.3398049540268437e+24"],
  ["0000000000000080", "-0"],
  ["2b2ff99f0ca297c0", "-1512.5123289999999"],
  ["0000000000000080", "-0"],
  ["340d88530f2e5b44", "2.0055242131374216e+21"],
  ["9962857560cb2d42", "63983073986.692574"],
  ["0000000000000000", "0"],
  ["0000000000000000", "0"],
  ["0000000000000000", "0"],
  ["3a8c30e28e7965be", "-4.0000000000000001e-08"],
  ["2cbccb457c27febf", "-1.8846400000000001"],
  ["0000000000000080", "-0"],
  ["0000000000000000", "0"],
  ["e17a14aee791c2c0", "-9507.8099999999995"],
  ["74816e17f11013bf", "-7.27317e-05"],
  ["0000000000000000", "0"],
  ["2d431cebe2361a3f", "0.0001"],
  ["5535dea9c297703f", "0.00405098"],
  ["4b2438ef8aae22c3", "-2629230661472805.5"],
  ["359c263036eb00c3", "-595277199496070.62"],
  ["0000000000000000", "0"],
  ["14aee7b72311c241", "606226287.80999994"],
  ["0000000000000000", "0"],
  ["0000000000000000", "0"],
  ["956479e17ffda53d", "9.9999999999999994e-12"],
  ["0000000000000080", "-0"],
  ["7b14ae47719fe7c0", "-48379.540000000001"],
  ["8986873ae9a25842", "423249635870.10211"],
  ["0000000000000000", "0"],
  ["11ea2d81999791bd", "-3.9999999999999999e-12"],
  ["0000000000000000", "0"],
  ["a46c253494bdc640", "11643.157841375396"],
  ["610bb252af666943", "57198220883811080"],
  ["0000000000606bc0", "-219"],
  ["907579fa164b833f", "0.0094205660999999996"],
  ["918c0241a413fe44", "2.2725330938814127e+24"],
  ["33333333738adcc0", "-29225.799999999999"],
  ["9a2b20e09f55bec1", "-508927968.12566531"],
  ["ec51b81e45a5c1c0", "-9034.5400000000009"],
  ["49922449821af6c0", "-90536.142857142855"],
  ["00000000fa60f2c0", "-75279.625"],
  ["00000000f0e91b41", "457340"],
  ["92244992c430ff40", "127756.28571428571"],
  ["00000000f02901c1", "-140606"],
  ["00000000821106c1", "-180784.25"],
  ["00000000bc211541", "346223"],
  ["0000000076771641", "368093.5"],
  ["000000001e4326c1", "-729487"],
  ["0000000042d12b41", "911521"],
  ["0000000028920bc1", "-225861"],
  ["9224499204c3f940", "105520.28571428571"],
  ["0000000000d116c1", "-373824"],
  ["00000000803b9340", "1230.875"],
  ["0000000078b601c1", "-145103"],
  ["00000000dae92cc1", "-947437"],
  ["e17a14ae47557640", "357.32999999999998"],
  ["333333330b4ef3c0", "-79072.699999999997"],
  ["00000000e001e1c0", "-34831"],
  ["736891ed7c6f8ac0", "-845.93600000000004"],
  ["0000000050680e41", "249098"],
  ["a4703d0ad7cf80c0", "-537.98000000000002"],
  ["0000000000ceadc0", "-3815"],
  ["9224499224efe640", "46969.142857142855"],
  ["0000000088ffd9c0", "-26622.125"],
  ["0000000098e6e0c0", "-34612.75"],
  ["cdcccccccc028dc0", "-928.35000000000002"],
  ["00000000a409ed40", "59469.125"],
  ["00000000982e06c1", "-181715"],
  ["f6285c8fc2d173c0", "-317.11000000000001"],
  ["abaaaaaa0a940ec1", "-250497.33333333334"],
  ["52b81e85cb91c140", "8995.5900000000001"],
  ["33333333db47f2c0", "-74877.699999999997"],
  ["922449920453fdc0", "-120112.28571428571"],
  ["00000000188f21c1", "-575372"],
  ["560e2db29d6e88c0", "-781.827"],
  ["0ad7a370bd4ead40", "3751.3699999999999"],
  ["0000000020a3eb40", "56601"],
  ["00000000d801f640", "90141.5"],
  ["333333336342e8c0", "-49683.099999999999"],
  ["000000003039f9c0", "-103315"],
  ["00000000341715c1", "-345549"],
  ["6de7fba9f10d84c0", "-641.74300000000005"],
  ["0000000088240fc1", "-255121"],
  ["fca9f1d24de982c0", "-605.16300000000001"],
  ["0000000008141741", "378114"],
  ["0000000088a708c1", "-201969"],
  ["000000008064d0c0", "-16786"],
  ["cdcccccccc1673c0", "-305.42500000000001"],
  // Exact halves: C rounds them to even, JS's toExponential away from zero.
  ["f9ffffffffff1f43", "2251799813685246.2"],
  ["f9ffffffffff1fc3", "-2251799813685246.2"],
  ["ffffffffffff1f43", "2251799813685247.8"],
  ["ffffffffffff1fc3", "-2251799813685247.8"],
  ["f5ffffffffff1f43", "2251799813685245.2"],
  ["f5ffffffffff1fc3", "-2251799813685245.2"],
  ["370d9e2664a21043", "1170537663923021.8"],
  ["25083fd2f2251543", "1488174837645833.2"],
  ["39aaf84ea0ed0543", "771530910799175.12"],
  ["91bfe3944e470643", "783856539826162.12"],
  ["9b31052e295e0a43", "927735044154931.38"],
  ["455971b2bc401943", "1777013402392145.2"],
  ["7afb764d60d8f642", "401897350983607.62"],
  ["7f4cb926fa2b1543", "1489831975605023.8"],
  ["a9d0395d3f2c1343", "1349168804033578.2"],
  ["d6e64dfc88c10e43", "1082130424249562.8"],
  ["8f44bd158c310b43", "956787762636945.88"],
  ["efb35a8b8d680143", "612503967716989.88"],
  ["5d61ce1ea5ce1543", "1534545773172823.2"],
  ["2ad9171d54e7f742", "420517057232274.62"],
  ["02c1bd71c56b0f43", "1105527504877600.2"],
  ["d3749244fee40743", "840713148452506.38"],
  ["27e7e38686b40a43", "939604909522148.88"],
  ["71d5144ea7fe0443", "738686757149358.12"],
  ["ff881872b9000443", "703787002171679.88"],
  ["1b0fd558bcb71d43", "2091198474175430.8"],
  ["a3deca4efa010a43", "915065496230868.38"],
  ["b1996e41a0c80143", "625708152771382.12"],
  ["b26a3debcedcf342", "349425364096683.12"],
  ["743f86c8b576d042", "72408168012029.812"],
  ["d42e50fac068d442", "89760587137211.312"],
  ["4b24b58019fe0843", "879348116006025.38"],
  ["cd5a3681f1d61c43", "2029408022795955.2"],
  ["078fa0433a251e43", "2121295368561601.8"],
  ["a99cbcafa1b00643", "798332246528917.12"],
  ["73b3b5bac4340c43", "992414862325358.38"],
  ["bda4f70b40be0743", "835388344038551.62"],
  ["fd17c7e408920543", "758942675821311.62"],
  ["46a305dfd187f142", "308400628980276.38"],
  ["e94cd62a22950843", "864921677646237.12"],
  ["d9608a57b8c91543", "1533192022693942.2"],
  ["b78478d0b9ee1f43", "2247051527987501.8"],
  ["e7292f8d0cdc1c43", "2030811453573753.8"],
  ["ac89ffadcfcfd442", "91531100290598.688"],
  ["6b72fb6fc85a1a43", "1854541578296474.8"],
  ["7d5e5dcae43b1743", "1634944574511007.2"],
  ["41d3aca5c5701143", "1227267198629072.2"],
  ["abb0bcaef7ae0043", "586997304890901.38"],
  ["99348934bddc0343", "698841218229907.12"],
  ["e16fea7eec850743", "827646906551804.12"],
];

describe('ReplyWriter hands out views of its scratch buffer, never rewriting one a sink may hold', () => {
  /** Keeps the chunks it is given as they are (views), like a collector or a slow socket. */
  class Keep implements Sink {
    parts: (Buffer | string)[] = [];
    constructor(readonly writableLength?: number) {}
    write(chunk: Buffer | string): boolean {
      this.parts.push(chunk);
      return true;
    }
    get bytes(): Buffer {
      return Buffer.concat(this.parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
    }
  }
  /** A socket that wrote each chunk at once (writableLength 0): it copies now and keeps nothing. */
  class Sync implements Sink {
    readonly writableLength = 0;
    out: Buffer[] = [];
    write(chunk: Buffer | string): boolean {
      this.out.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.from(chunk));
      return true;
    }
  }

  it('random writes and drains to sinks that keep views, write at once, or stay busy', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('bulk' as const), v: fc.oneof(fc.string({ maxLength: 60 }).map((s) => s.replace(/[^\x00-\xff]/g, 'z')), fc.integer({ min: 0, max: 20_000 }).map((n) => 'y'.repeat(n))) }),
      fc.record({ k: fc.constant('int' as const), v: fc.integer({ min: -1e15, max: 1e15 }) }),
      fc.record({ k: fc.constant('drain' as const), v: fc.constantFrom(0, 1, 2) }),
      fc.record({ k: fc.constant('discard' as const), v: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const w = new ReplyWriter();
        const sinks = [new Keep(), new Sync(), new Keep(100)];
        const expectedBySink: string[] = ['', '', ''];
        let pendingText = '';
        for (const o of ops) {
          if (o.k === 'bulk') {
            w.bulk(o.v);
            pendingText += `$${o.v.length}\r\n${o.v}\r\n`;
          } else if (o.k === 'int') {
            w.int(o.v);
            pendingText += `:${o.v}\r\n`;
          } else if (o.k === 'discard') {
            w.discard();
            pendingText = '';
          } else {
            w.drainTo(sinks[o.v]!);
            expectedBySink[o.v] += pendingText;
            pendingText = '';
          }
        }
        // Views kept by the sinks still hold what was drained to them.
        expect((sinks[0] as Keep).bytes.toString('latin1')).toBe(expectedBySink[0]);
        expect(Buffer.concat((sinks[1] as Sync).out).toString('latin1')).toBe(expectedBySink[1]);
        expect((sinks[2] as Keep).bytes.toString('latin1')).toBe(expectedBySink[2]);
      }),
      { numRuns: 300 },
    );
  });

  it('integers of every width', () => {
    const w = new ReplyWriter();
    const s = new Sync();
    const nums = [0, -0, 1, -1, 9, 10, 99, 100, 1023, 1024, -1024, 2 ** 31, -(2 ** 31), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    for (let k = 1; k < 1e15; k *= 7) nums.push(k, -k, k - 1);
    for (const n of nums) w.int(n);
    w.array(12);
    w.drainTo(s);
    expect(Buffer.concat(s.out).toString('latin1')).toBe(nums.map((n) => `:${n === 0 ? 0 : n}\r\n`).join('') + '*12\r\n');
  });
});

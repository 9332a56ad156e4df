import { describe, expect, it } from 'vitest';
import { crc64 } from './crc64.js';
import { lzfCompress, lzfDecompress } from './lzf.js';
import {
  RDB_VERSION,
  RdbFormatError,
  RdbType,
  createDumpPayload,
  decodeDumpPayload,
  decodeValue,
  encodeValue,
  verifyDumpPayload,
  ziplistEntries,
} from './rdb-value.js';
import { HashValue } from '../engine/hash.js';
import { ListValue } from '../engine/list.js';
import { SetValue } from '../engine/set.js';
import { ZSetValue } from '../engine/zset.js';
import type { Value } from '../engine/values.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A value as plain data, for comparisons. */
function plain(v: Value): unknown {
  if (typeof v === 'string') return v;
  if (v instanceof ListValue) return ['list', v.toArray()];
  if (v instanceof HashValue) return ['hash', [...v.map.entries()].sort()];
  if (v instanceof SetValue) return ['set', [...v].sort()];
  if (v instanceof ZSetValue) return ['zset', [...v.entries()]];
  throw new Error('unknown value');
}

const list = (...xs: string[]) => {
  const l = new ListValue();
  for (const x of xs) l.pushTail(x);
  return l;
};
const hash = (...kv: string[]) => {
  const h = new HashValue();
  for (let i = 0; i < kv.length; i += 2) h.map.set(kv[i]!, kv[i + 1]!);
  return h;
};
const set = (...xs: string[]) => {
  const s = new SetValue();
  for (const x of xs) s.add(x);
  return s;
};
const zset = (...pairs: [string, number][]) => {
  const z = new ZSetValue();
  for (const [m, s] of pairs) z.insert(m, s);
  return z;
};

describe('crc64 (Jones, as Redis)', () => {
  it('has the reference check value', () => {
    expect(crc64(Buffer.from('123456789'))).toBe(0xe9c6d914c4b8d9can);
    expect(crc64(Buffer.alloc(0))).toBe(0n);
  });
});

describe('lzf', () => {
  it('round-trips compressible and random data of many lengths', () => {
    const rand = rng(1);
    for (let n = 1; n < 3000; n += 1 + Math.floor(n / 7)) {
      const text = Buffer.from('abcdefgh'.repeat(Math.ceil(n / 8)).slice(0, n));
      const c = lzfCompress(text, n + 64);
      expect(c).not.toBeNull();
      expect(lzfDecompress(c!, n).equals(text)).toBe(true);
      const noise = Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
      const cn = lzfCompress(noise, n + 64);
      if (cn !== null) expect(lzfDecompress(cn, n).equals(noise)).toBe(true);
    }
  });

  it('gives up when the output would not fit, and rejects corrupt streams', () => {
    const rand = rng(2);
    const noise = Buffer.from(Array.from({ length: 200 }, () => Math.floor(rand() * 256)));
    expect(lzfCompress(noise, 196)).toBeNull();
    const long = Buffer.from('x'.repeat(10000));
    const c = lzfCompress(long, 9996)!;
    expect(c.length).toBeLessThan(300);
    expect(() => lzfDecompress(c, 9999)).toThrow();
    expect(() => lzfDecompress(Buffer.from([0x20, 0x05]), 10)).toThrow(); // reference before start
    expect(() => lzfDecompress(Buffer.from([0x05, 0x61]), 6)).toThrow(); // literal past input
  });
});

describe('DUMP payloads written by redis-server 7.0 (golden)', () => {
  const golden: [string, string, unknown][] = [
    ['quicklist2 of one listpack', '120102191900000005008161020101dffb02c12c028568656c6c6f06ff0a003b0455bc329622ce', ['list', ['a', '1', '-5', '300', 'hello']]],
    ['listpack hash', '1012120000000400816602817602816e022a01ff0a00ff30e87f7262d991', ['hash', [['f', 'v'], ['n', '42']]]],
    ['int32 intset', '0b1404000000030000000100000002000000701101000a0085d5c1065b1dd055', ['set', ['1', '2', '70000']]],
    ['listpack zset', '111a1a0000000600816302dffd02816102010181620283322e3504ff0a00a68a1ab1a9f2dcc2', ['zset', [['c', -3], ['a', 1], ['b', 2.5]]]],
    ['LZF string', '00c30b405a0361626361e04b020162630a00238036f9e2d0c780', 'abcabcabc'.repeat(10)],
    ['int16 string', '00c139300a009d94ea2793fc08b9', '12345'],
    ['raw numeric string', '000b2d393030303030303030300a00ee1c989946d98976', '-9000000000'],
  ];
  for (const [name, hex, expected] of golden) {
    it(`reads ${name}`, () => {
      const p = Buffer.from(hex, 'hex');
      expect(verifyDumpPayload(p)).toBe(true);
      expect(plain(decodeDumpPayload(p))).toEqual(expected);
    });
  }

  it('writes strings byte for byte as redis-server does', () => {
    expect(createDumpPayload('12345').toString('hex')).toBe('00c139300a009d94ea2793fc08b9');
    expect(createDumpPayload('-9000000000').toString('hex')).toBe('000b2d393030303030303030300a00ee1c989946d98976');
  });

  it('refuses a wrong checksum, a newer version and a short payload', () => {
    const p = Buffer.from('00c139300a009d94ea2793fc08b9', 'hex');
    const flipped = Buffer.from(p);
    flipped[2]! ^= 1;
    expect(verifyDumpPayload(flipped)).toBe(false);
    const newer = createDumpPayload('x');
    newer[newer.length - 10] = RDB_VERSION + 1;
    expect(verifyDumpPayload(newer)).toBe(false);
    expect(verifyDumpPayload(Buffer.alloc(9))).toBe(false);
  });
});

describe('value codec', () => {
  const rand = rng(3);
  const bin = (n: number) => String.fromCharCode(...Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const values: [string, Value][] = [
    ['empty string', ''],
    ['int8', '-128'],
    ['int16', '32767'],
    ['int32', '-2147483648'],
    ['beyond int32', '2147483648'],
    ['leading zero', '012'],
    ['minus zero', '-0'],
    ['binary', bin(100)],
    ['long compressible', 'z'.repeat(100000)],
    ['list', list('a', '', '1', bin(30), 'x'.repeat(70000))],
    ['hash', hash('f', 'v', '', 'empty-field', 'n', '1')],
    ['set', set('1', 'a', bin(5))],
    ['zset', zset(['a', 1], ['b', -Infinity], ['c', Infinity], ['d', 1e-300], ['e', -0.5])],
  ];
  for (const [name, v] of values) {
    it(`round-trips ${name}`, () => {
      expect(plain(decodeValue(encodeValue(v)))).toEqual(plain(v));
      expect(plain(decodeDumpPayload(createDumpPayload(v)))).toEqual(plain(v));
    });
  }

  it('uses the types Redis 7.0 loads', () => {
    expect(encodeValue('x')[0]).toBe(RdbType.STRING);
    expect(encodeValue(list('a'))[0]).toBe(RdbType.LIST);
    expect(encodeValue(set('a'))[0]).toBe(RdbType.SET);
    expect(encodeValue(zset(['a', 1]))[0]).toBe(RdbType.ZSET_2);
    expect(encodeValue(hash('a', 'b'))[0]).toBe(RdbType.HASH);
  });

  it('reads ziplists with every entry encoding', () => {
    // Built by hand from the ziplist format: header, entries, 0xff.
    const entries: number[][] = [
      [0x01, 0x61], // 6-bit string "a"
      [0xf6], // immediate 5
      [0xc0, 0x2c, 0x01], // int16 300
      [0xd0, 0x90, 0xee, 0xfe, 0xff], // int32 -70000
      [0xf0, 0xa0, 0x86, 0x01], // int24 100000
      [0xfe, 0xfb], // int8 -5
      [0xe0, 0, 0, 0, 0, 0, 1, 0, 0], // int64 2^40
      [0x40, 70, ...Array(70).fill(0x62)], // 14-bit string of 70 'b'
    ];
    const body: number[] = [];
    let prev = 0;
    for (const e of entries) {
      body.push(prev, ...e);
      prev = e.length + 1;
    }
    const total = 10 + body.length + 1;
    const zl = Buffer.alloc(total);
    zl.writeUInt32LE(total, 0);
    zl.writeUInt16LE(entries.length, 8);
    Buffer.from(body).copy(zl, 10);
    zl[total - 1] = 0xff;
    expect(ziplistEntries(zl)).toEqual(['a', '5', '300', '-70000', '100000', '-5', String(2 ** 40), 'b'.repeat(70)]);
    // As a RDB_TYPE_HASH_ZIPLIST value (needs an even count) and a LIST_ZIPLIST value.
    const asString = Buffer.concat([Buffer.from([RdbType.LIST_ZIPLIST, 0x40 | (total >> 8), total & 0xff]), zl]);
    expect(plain(decodeValue(asString))).toEqual(['list', ['a', '5', '300', '-70000', '100000', '-5', String(2 ** 40), 'b'.repeat(70)]]);
    const asHash = Buffer.concat([Buffer.from([RdbType.HASH_ZIPLIST, 0x40 | (total >> 8), total & 0xff]), zl]);
    expect(plain(decodeValue(asHash))).toEqual(['hash', [['100000', '-5'], [String(2 ** 40), 'b'.repeat(70)], ['300', '-70000'], ['a', '5']]]);
  });

  it('reads the old string-encoded ZSET type', () => {
    const b = Buffer.from([RdbType.ZSET, 3, 1, 0x61, 3, 0x31, 0x2e, 0x35, 1, 0x62, 254, 1, 0x63, 255]);
    expect(plain(decodeValue(b))).toEqual(['zset', [['c', -Infinity], ['a', 1.5], ['b', Infinity]]]);
  });

  it('rejects empty collections, duplicates and unknown types with RdbFormatError', () => {
    expect(() => decodeValue(Buffer.from([RdbType.LIST, 0]))).toThrow(RdbFormatError);
    expect(() => decodeValue(Buffer.from([RdbType.SET, 2, 1, 0x61, 1, 0x61]))).toThrow(RdbFormatError);
    expect(() => decodeValue(Buffer.from([0x7f]))).toThrow(RdbFormatError);
    expect(() => decodeValue(Buffer.from([RdbType.STRING, 5, 0x61]))).toThrow(RdbFormatError);
  });

  it('never fails other than with RdbFormatError on corrupted input (bounded fuzz)', () => {
    const fuzz = rng(4);
    const seeds = [
      '120102191900000005008161020101dffb02c12c028568656c6c6f06ff',
      '1012120000000400816602817602816e022a01ff',
      '0b1404000000030000000100000002000000701101',
      '111a1a0000000600816302dffd02816102010181620283322e3504ff',
      '00c30b405a0361626361e04b02016263',
    ].map((h) => Buffer.from(h, 'hex'));
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(seeds[i % seeds.length]!);
      const flips = 1 + Math.floor(fuzz() * 3);
      for (let f = 0; f < flips; f++) b[Math.floor(fuzz() * b.length)] = Math.floor(fuzz() * 256);
      const cut = fuzz() < 0.2 ? b.subarray(0, Math.floor(fuzz() * b.length)) : b;
      try {
        decodeValue(cut);
      } catch (e) {
        expect(e).toBeInstanceOf(RdbFormatError);
      }
    }
  });
});

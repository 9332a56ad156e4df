import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc16, keyHashSlot, SLOTS } from './slot.js';

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Answers of redis-server 7.0.15's CLUSTER KEYSLOT (test/integration/protocol.test.ts checks hundreds more live). */
const KNOWN: [string, number][] = [
  ['foo', 12182],
  ['bar', 5061],
  ['{user1000}.following', 3443],
  ['{user1000}.followers', 3443],
  ['{}', 15257],
  ['{}a', 10875],
  ['{{a}}', 10276],
  ['a{b}c{d}', 3300],
  ['{a}', 15495],
  ['a', 15495],
  ['', 0],
  ['123456789', 12739],
  ['foo{}{bar}', 8363],
  ['foo{{bar}}zap', 4015],
  ['foo{bar}{zap}', 5061],
  ['{', 4092],
  ['}', 12090],
  ['}{a}', 15495],
  [Buffer.from('héllo', 'utf8').toString('latin1'), 11061],
];

describe('hash slots', () => {
  it('CRC16/XMODEM check value: crc16("123456789") = 0x31C3', () => {
    expect(crc16('123456789')).toBe(0x31c3);
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
  });

  it('matches redis-server on known keys, as strings and as bytes', () => {
    for (const [k, slot] of KNOWN) {
      expect(keyHashSlot(k), JSON.stringify(k)).toBe(slot);
      expect(keyHashSlot(Buffer.from(k, 'latin1')), JSON.stringify(k)).toBe(slot);
    }
  });

  it('string and byte forms agree on any key, and slots are in range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const s = keyHashSlot(latin1(b));
        expect(keyHashSlot(b)).toBe(s);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThan(SLOTS);
      }),
      { numRuns: 3000 },
    );
  });

  it('a non-empty tag decides the slot, wherever it sits and whatever surrounds it', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'b', '1', '}'), minLength: 0, maxLength: 8 }).filter((s) => !s.includes('{')),
        fc.string({ unit: fc.constantFrom('a', 'b', '1', '{'), minLength: 1, maxLength: 8 }),
        fc.string({ maxLength: 8 }),
        (prefix, tag, suffix) => {
          fc.pre(!prefix.includes('{'));
          const key = prefix + '{' + tag + '}' + suffix;
          expect(keyHashSlot(key)).toBe(crc16(tag) % SLOTS);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('an empty tag `{}` hashes the whole key', () => {
    expect(keyHashSlot('{}x')).toBe(crc16('{}x') % SLOTS);
    expect(keyHashSlot('x{}{y}')).toBe(crc16('x{}{y}') % SLOTS);
  });

  it('hashes a sub-range of a key', () => {
    expect(crc16('xx123456789yy', 2, 11)).toBe(0x31c3);
  });
});

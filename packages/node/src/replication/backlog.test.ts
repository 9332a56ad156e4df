import { describe, expect, it } from 'vitest';
import { Backlog, encodeArgv } from './backlog.js';

const buf = (s: string) => Buffer.from(s, 'latin1');

describe('Backlog', () => {
  it('keeps the last `size` bytes (whole batches) and serves any covered offset', () => {
    const b = new Backlog(10, 100);
    expect(b.covers(100)).toBe(true);
    expect(b.covers(99)).toBe(false);
    b.append(buf('abcd'));
    b.append(buf('efgh'));
    b.append(buf('ijkl'));
    expect(b.offset).toBe(112);
    // 12 bytes held: dropping the first batch would leave 8 < 10, so it stays.
    expect(b.histlen).toBe(12);
    expect(b.firstByteOffset).toBe(100);
    expect(Buffer.concat(b.since(100)).toString()).toBe('abcdefghijkl');
    expect(Buffer.concat(b.since(110)).toString()).toBe('kl');
    expect(b.since(112)).toEqual([]);
    expect(b.covers(113)).toBe(false);
    b.append(buf('mnop'));
    expect(b.firstByteOffset).toBe(104);
    expect(b.histlen).toBe(12);
    expect(b.covers(103)).toBe(false);
  });

  it('drops old batches as new ones arrive, bounded', () => {
    const b = new Backlog(1000, 0);
    for (let i = 0; i < 10000; i++) b.append(buf(String(i % 10).repeat(100)));
    expect(b.offset).toBe(1_000_000);
    expect(b.histlen).toBeGreaterThanOrEqual(1000);
    expect(b.histlen).toBeLessThanOrEqual(1100);
    expect(b.covers(1_000_000 - 1000)).toBe(true);
    expect(b.covers(1_000_000 - 1200)).toBe(false);
    expect(Buffer.concat(b.since(999_950)).toString()).toBe('9'.repeat(50));
    expect(() => b.since(0)).toThrow();
  });

  it('encodes commands as RESP multibulks, binary-safe', () => {
    expect(encodeArgv(['SET', 'k', '\xff\r\n']).toString('latin1')).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\xff\r\n\r\n');
  });
});

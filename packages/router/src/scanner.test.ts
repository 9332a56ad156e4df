import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReplyScanner, ReplyProtocolError, elements, valueEnd } from './scanner.js';

const REPLIES = [
  '+OK\r\n',
  '-ERR wrong\r\n',
  ':42\r\n',
  '$5\r\nhello\r\n',
  '$-1\r\n',
  '$0\r\n\r\n',
  '*-1\r\n',
  '*0\r\n',
  '*3\r\n$1\r\na\r\n:1\r\n*2\r\n+x\r\n$-1\r\n',
  '%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n:2\r\n',
  '~2\r\n+a\r\n+b\r\n',
  '>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n',
  '|1\r\n+key\r\n+val\r\n:7\r\n',
  '_\r\n',
  '#t\r\n',
  ',3.5\r\n',
  '(12345678901234567890\r\n',
  '=8\r\ntxt:abcd\r\n',
  '!5\r\nERR x\r\n',
  '$4\r\na\r\nb\r\n',
];

function scanAll(chunks: Buffer[]): string[] {
  const sc = new ReplyScanner();
  const out: string[] = [];
  for (const c of chunks) {
    sc.push(c);
    for (let r = sc.next(); r !== null; r = sc.next()) out.push(r.toString('latin1'));
  }
  return out;
}

describe('ReplyScanner', () => {
  it('finds the end of every RESP2 and RESP3 reply type', () => {
    expect(scanAll([Buffer.from(REPLIES.join(''), 'latin1')])).toEqual(REPLIES);
  });

  it('gives the same replies however the bytes are cut', () => {
    const all = Buffer.from(REPLIES.join(''), 'latin1');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.length - 1 }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const p of points) {
          chunks.push(all.subarray(at, p));
          at = p;
        }
        chunks.push(all.subarray(at));
        expect(scanAll(chunks)).toEqual(REPLIES);
      }),
    );
  });

  it('collects a large bulk in chunks', () => {
    const big = 'x'.repeat(300_000);
    const all = Buffer.from(`+a\r\n$${big.length}\r\n${big}\r\n:1\r\n`, 'latin1');
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 7000) chunks.push(all.subarray(i, i + 7000));
    const out = scanAll(chunks);
    expect(out.length).toBe(3);
    expect(out[1]!.length).toBe(big.length + 11);
    expect(out[2]).toBe(':1\r\n');
  });

  it('throws on a byte that starts no reply', () => {
    const sc = new ReplyScanner();
    sc.push(Buffer.from('?what\r\n'));
    expect(() => sc.next()).toThrow(ReplyProtocolError);
  });
});

describe('elements / valueEnd', () => {
  it('splits an aggregate into its elements', () => {
    const r = Buffer.from('*3\r\n$1\r\na\r\n$-1\r\n*1\r\n:5\r\n', 'latin1');
    const el = elements(r)!;
    expect(el.count).toBe(3);
    const parts = [0, 1, 2].map((i) => r.subarray(el.offsets[i]!, el.offsets[i + 1]!).toString());
    expect(parts).toEqual(['$1\r\na\r\n', '$-1\r\n', '*1\r\n:5\r\n']);
    expect(elements(Buffer.from('$1\r\na\r\n'))).toBeNull();
    expect(elements(Buffer.from('*-1\r\n'))).toBeNull();
  });

  it('valueEnd is -1 for an incomplete value', () => {
    expect(valueEnd(Buffer.from('*2\r\n:1\r\n'), 0)).toBe(-1);
    expect(valueEnd(Buffer.from('*2\r\n:1\r\n:2\r\n'), 0)).toBe(12);
  });
});

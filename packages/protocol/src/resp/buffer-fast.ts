/**
 * Node's Buffer has fast latin1 slice/write methods that its public typings omit
 * (`buf.toString('latin1', s, e)` and `buf.write(s, o, 'latin1')` call them after
 * argument normalisation). The RESP hot path calls them directly.
 */
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    latin1Write(s: string, offset: number, length?: number): number;
  }
}
export {};

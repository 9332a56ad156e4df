/**
 * Replies as values, so the Sentinel commands are pure functions that tests read
 * directly; `writeReply` encodes them in RESP2 or RESP3 (maps are flat arrays in RESP2,
 * as Redis writes them).
 */
import type { ReplyWriter } from '@sonic/protocol';

export type Reply =
  | string
  | number
  | null
  | { t: 'status'; s: string }
  | { t: 'err'; s: string }
  | { t: 'arr'; items: Reply[] }
  | { t: 'map'; pairs: [string, Reply][] }
  /** A null array (`*-1` in RESP2). */
  | { t: 'nilarr' }
  | { t: 'push'; items: Reply[] };

export const OK: Reply = { t: 'status', s: 'OK' };
export const status = (s: string): Reply => ({ t: 'status', s });
export const err = (s: string): Reply => ({ t: 'err', s });
export const arr = (items: Reply[]): Reply => ({ t: 'arr', items });
export const map = (pairs: [string, Reply][]): Reply => ({ t: 'map', pairs });

export function writeReply(w: ReplyWriter, r: Reply): void {
  if (r === null) return w.nil();
  if (typeof r === 'string') return w.bulk(r);
  if (typeof r === 'number') return w.int(r);
  switch (r.t) {
    case 'status':
      return w.simple(r.s);
    case 'err':
      return w.error(r.s);
    case 'nilarr':
      return w.nilArray();
    case 'arr':
      w.array(r.items.length);
      for (const x of r.items) writeReply(w, x);
      return;
    case 'push':
      w.push(r.items.length);
      for (const x of r.items) writeReply(w, x);
      return;
    case 'map':
      w.map(r.pairs.length);
      for (const [k, v] of r.pairs) {
        w.bulk(k);
        writeReply(w, v);
      }
      return;
  }
}

/** A map reply as a plain object (tests). */
export function mapToObject(r: Reply): Record<string, Reply> {
  if (r === null || typeof r !== 'object' || r.t !== 'map') throw new Error('not a map reply');
  return Object.fromEntries(r.pairs);
}

/**
 * Value representation. A string value is a JS string of latin1 chars (one char per
 * byte: binary-safe, and V8 stores it at one byte per char); every other type is an
 * object with a `kind` tag, defined beside its family (hash.ts, list.ts, set.ts, zset.ts).
 */
export const enum Kind {
  List = 1,
  Set = 2,
  ZSet = 3,
  Hash = 4,
  Stream = 5,
}

export interface RObject {
  readonly kind: Kind;
}

export type Value = string | RObject;

const TYPE_NAMES: Record<number, string> = {
  [Kind.List]: 'list',
  [Kind.Set]: 'set',
  [Kind.ZSet]: 'zset',
  [Kind.Hash]: 'hash',
  [Kind.Stream]: 'stream',
};

export function typeName(v: Value): string {
  return typeof v === 'string' ? 'string' : TYPE_NAMES[v.kind]!;
}

/** Redis's LONG range as used by string-to-integer conversions. */
export const LLONG_MAX = 9223372036854775807n;
export const LLONG_MIN = -9223372036854775808n;

/**
 * Parses a string as Redis's string2ll does: optional '-', decimal digits, no leading
 * zeros, no '+', no spaces, within 64-bit signed range. Returns null when it is not one.
 * Values within ±2^53 come back as numbers, larger ones as bigints.
 */
export function parseInteger(s: string): number | bigint | null {
  const n = s.length;
  if (n === 0 || n > 20) return null;
  let i = 0;
  if (s.charCodeAt(0) === 45 /* - */) {
    if (n === 1) return null;
    i = 1;
  }
  const first = s.charCodeAt(i);
  if (first === 48 /* 0 */) return n === 1 ? 0 : null;
  if (first < 49 || first > 57) return null;
  let v = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return null;
    v = v * 10 + c;
  }
  if (v <= Number.MAX_SAFE_INTEGER) return s.charCodeAt(0) === 45 ? -v : v;
  const b = BigInt(s);
  if (b > LLONG_MAX || b < LLONG_MIN) return null;
  return b;
}

/**
 * cur + by as Redis's 64-bit signed integers (INCRBY, HINCRBY): a number while the result
 * is a safe JS integer, a bigint past that, null when it overflows LLONG range.
 */
export function addInt64(cur: number | bigint, by: number | bigint): number | bigint | null {
  if (typeof cur === 'number' && typeof by === 'number' && Number.isSafeInteger(cur + by)) return cur + by;
  const big = BigInt(cur) + BigInt(by);
  return big > LLONG_MAX || big < LLONG_MIN ? null : big;
}

/** parseInteger restricted to safe JS integers (counts, indices, timeouts). */
export function parseSafeInt(s: string): number | null {
  const v = parseInteger(s);
  return typeof v === 'number' ? v : null;
}

/**
 * Parses a float argument as Redis's getDoubleFromObject/strtold does: accepts "inf",
 * "+inf", "-inf", decimal and exponent forms; refuses empty, spaces, "nan", hex.
 */
export function parseFloatArg(s: string): number | null {
  if (s.length === 0 || s.length > 5000) return null;
  const c0 = s.charCodeAt(0);
  if (c0 === 32 || s.charCodeAt(s.length - 1) === 32) return null;
  const low = s.toLowerCase();
  if (low === 'inf' || low === '+inf' || low === 'infinity' || low === '+infinity') return Infinity;
  if (low === '-inf' || low === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return null;
  const v = Number(s);
  return Number.isNaN(v) ? null : v;
}

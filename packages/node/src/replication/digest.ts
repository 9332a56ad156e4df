/**
 * DEBUG DIGEST / DEBUG DIGEST-VALUE: an order-independent SHA-1 digest of the dataset,
 * built the way Redis builds its own (so a Sonic node and a redis-server holding the
 * same data answer the same digest, which the tests check):
 *
 * - mix(d, bytes) replaces d by SHA1(d xor SHA1(bytes)): order-dependent;
 * - xor(d, bytes) xors SHA1(bytes) into d: order-independent.
 * - per key: d = mix(0, key), then the value digest (type as a big-endian u32 mixed in,
 *   then per type: string mixed; list elements mixed in order; set members xored; hash
 *   fields xored as mix(mix(0, field), value); sorted-set members xored as
 *   mix(mix(0, member), score as %.17g)), and "!!expire!!" xored when the key has a TTL;
 *   every key's digest is xored (as above: its SHA-1) into the dataset digest, after
 *   mixing each non-empty database's id (big-endian u32).
 *
 * An empty dataset digests to forty zeros.
 */
import { createHash } from 'node:crypto';
import type { Db, Keyspace } from '../engine/keyspace.js';
import { Kind, type Value } from '../engine/values.js';
import type { HashValue } from '../engine/hash.js';
import type { ListValue } from '../engine/list.js';
import type { SetValue } from '../engine/set.js';
import type { ZSetValue } from '../engine/zset.js';
import { g17 } from '@sonic/protocol';
import { encodeValue } from '../persistence/rdb-value.js';

const ZERO = Buffer.alloc(20);
const EXPIRE_MARK = Buffer.from('!!expire!!', 'latin1');

function mix(d: Buffer, data: Buffer | string): void {
  xorInto(d, data);
  createHash('sha1').update(d).digest().copy(d);
}

function xorInto(d: Buffer, data: Buffer | string): void {
  const x = createHash('sha1')
    .update(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)
    .digest();
  for (let i = 0; i < 20; i++) d[i]! ^= x[i]!;
}


function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** Redis's type numbers (OBJ_STRING 0, LIST 1, SET 2, ZSET 3, HASH 4, STREAM 6). */
function typeCode(v: Value): number {
  if (typeof v === 'string') return 0;
  switch (v.kind) {
    case Kind.List:
      return 1;
    case Kind.Set:
      return 2;
    case Kind.ZSet:
      return 3;
    case Kind.Hash:
      return 4;
    default:
      return 6;
  }
}

/** Mixes the value (and its TTL marker) into `d`. */
function valueDigest(d: Buffer, v: Value, hasTtl: boolean): void {
  mix(d, u32(typeCode(v)));
  if (typeof v === 'string') mix(d, v);
  else {
    switch (v.kind) {
      case Kind.List:
        for (const e of v as ListValue) mix(d, e);
        break;
      case Kind.Set:
        for (const m of (v as SetValue).values()) xorInto(d, m);
        break;
      case Kind.Hash:
        for (const [f, val] of (v as HashValue).map) {
          const e = Buffer.alloc(20);
          mix(e, f);
          mix(e, val);
          xorInto(d, e);
        }
        break;
      case Kind.ZSet:
        for (const [m, score] of (v as ZSetValue).dict) {
          const e = Buffer.alloc(20);
          mix(e, m);
          mix(e, g17(score));
          xorInto(d, e);
        }
        break;
      default:
        // Types without a Redis-defined digest here (streams): their RDB encoding, which
        // is deterministic, so two Sonic nodes still agree.
        mix(d, encodeValue(v));
    }
  }
  if (hasTtl) xorInto(d, EXPIRE_MARK);
}

/** DEBUG DIGEST: the whole dataset's digest as 40 hex characters. */
export function datasetDigest(ks: Keyspace): string {
  const final = Buffer.alloc(20);
  for (const db of ks.dbs) {
    if (db.dict.size === 0) continue;
    mix(final, u32(db.id));
    for (const [key, v] of db.dict) {
      const d = Buffer.alloc(20);
      mix(d, key);
      valueDigest(d, v, db.expires.has(key));
      xorInto(final, d);
    }
  }
  return final.toString('hex');
}

/** DEBUG DIGEST-VALUE: one key's value digest (forty zeros for a missing key). */
export function valueDigestHex(db: Db, key: string): string {
  const v = db.peek(key);
  if (v === undefined) return ZERO.toString('hex');
  const d = Buffer.alloc(20);
  valueDigest(d, v, db.expires.has(key));
  return d.toString('hex');
}

import { describe, expect, it } from 'vitest';
import { Keyspace } from '../engine/keyspace.js';
import { HashValue } from '../engine/hash.js';
import { ListValue } from '../engine/list.js';
import { SetValue } from '../engine/set.js';
import { ZSetValue } from '../engine/zset.js';
import type { Value } from '../engine/values.js';
import { startSnapshot } from './snapshot.js';
import { RdbFileLoader, RdbLoadError } from './rdb-file.js';

function mkKs(): Keyspace {
  return new Keyspace({ now: Date.now, random: Math.random }, 16);
}

function collect(): { sink: (b: Buffer) => void; buf: () => Buffer } {
  const parts: Buffer[] = [];
  return { sink: (b) => void parts.push(Buffer.from(b)), buf: () => Buffer.concat(parts) };
}

function load(buf: Buffer): Map<string, { v: Value; e: number }> {
  const out = new Map<string, { v: Value; e: number }>();
  const l = new RdbFileLoader(buf, {
    key(db, k, v, e) {
      const id = `${db}/${k}`;
      if (out.has(id)) throw new Error(`duplicate ${id}`);
      out.set(id, { v, e });
    },
  });
  l.step();
  return out;
}

function plain(v: Value): unknown {
  if (typeof v === 'string') return v;
  if (v instanceof ListValue) return Array.from({ length: v.length }, (_, i) => v.at(i));
  if (v instanceof SetValue) return [...v].sort();
  if (v instanceof ZSetValue) return [...v.entries()];
  if (v instanceof HashValue) return [...v.map].sort();
  return v;
}

describe('snapshotter', () => {
  it('writes every type, with TTLs and several databases, and the loader reads it back', async () => {
    const ks = mkKs();
    const d0 = ks.dbs[0]!;
    d0.set('s', 'hello');
    d0.set('n', '12345');
    d0.set('big', 'x'.repeat(1000));
    const l = new ListValue();
    for (let i = 0; i < 100; i++) l.pushTail(`e${i}`);
    d0.set('l', l);
    const s = new SetValue();
    s.add('a');
    s.add('b');
    d0.set('set', s);
    const z = new ZSetValue();
    z.insert('m1', 1.5);
    z.insert('m2', -Infinity);
    d0.set('z', z);
    const h = new HashValue();
    h.map.set('f', 'v');
    d0.set('h', h);
    d0.setExpire('s', Date.now() + 100000);
    ks.dbs[3]!.set('other', 'db3');
    const c = collect();
    const st = await startSnapshot(ks, { sink: c.sink }).done;
    expect(st.keys).toBe(8);
    const got = load(c.buf());
    expect(got.size).toBe(8);
    expect(got.get('0/s')!.e).toBe(d0.getExpire('s'));
    expect(got.get('3/other')!.v).toBe('db3');
    for (const k of ['s', 'n', 'big', 'l', 'set', 'z', 'h']) expect(plain(got.get(`0/${k}`)!.v)).toEqual(plain(d0.dict.get(k)!));
  });

  it('holds exactly the start-time state while writes, deletes, creations and flushes happen', async () => {
    const ks = mkKs();
    const N = 120_000; // several partitions
    for (let i = 0; i < N; i++) ks.dbs[0]!.set(`k${i}`, 'before');
    for (let i = 0; i < 2000; i++) ks.dbs[1]!.set(`f${i}`, 'before');
    for (let i = 0; i < 2000; i++) ks.dbs[2]!.set(`g${i}`, 'before');
    const c = collect();
    const snap = startSnapshot(ks, { sink: c.sink, sliceBudgetMs: 1, chunkSize: 16 * 1024 });
    let step = 0;
    const d0 = ks.dbs[0]!;
    // Mutate between slices until the snapshot ends (bounded).
    let finished = false;
    void snap.done.then(() => (finished = true), () => (finished = true));
    while (!finished && step < 100_000) {
      for (let j = 0; j < 50; j++) {
        const i = (step * 7919 + j * 104729) % N;
        const r = i % 4;
        if (r === 0) d0.set(`k${i}`, 'after');
        else if (r === 1) d0.delete(`k${i}`);
        else if (r === 2) d0.set(`new${step}_${j}`, 'after');
        else d0.setExpire(`k${i}`, Date.now() + 1e9);
      }
      if (step === 3) ks.dbs[1]!.flush();
      if (step === 5) ks.swap(2, 4);
      step++;
      await new Promise((r) => setImmediate(r));
    }
    const st = await snap.done;
    const got = load(c.buf());
    expect(st.keys).toBe(N + 4000);
    expect(got.size).toBe(N + 4000);
    for (const [id, { v, e }] of got) {
      expect(v, id).toBe('before');
      expect(e, id).toBe(-1);
    }
    expect(got.has('0/k0')).toBe(true);
    expect(got.has('1/f0')).toBe(true);
    expect(got.has('2/g0')).toBe(true);
    expect(got.has('4/g0')).toBe(false);
    expect(st.earlyWrites).toBeGreaterThan(0);
    expect(st.peakTracked).toBeLessThan(N / 2);
  });

  it('keys written early in every partition are skipped by their own pass (per-partition skip sets), and slices are timed', async () => {
    const ks = mkKs();
    const N = 300_000; // 6 partitions
    const d0 = ks.dbs[0]!;
    for (let i = 0; i < N; i++) d0.set(`k${i}`, 'before');
    const c = collect();
    const snap = startSnapshot(ks, { sink: c.sink, sliceBudgetMs: 2, chunkSize: 64 * 1024 });
    // Before the walk's first slice: half the keys change (written early) and new keys appear.
    for (let i = 0; i < N; i += 2) d0.set(`k${i}`, 'after');
    for (let i = 0; i < 50_000; i++) d0.set(`new${i}`, 'after');
    // And between slices: the other half, and deletions of new keys.
    let finished = false;
    void snap.done.then(() => (finished = true), () => (finished = true));
    for (let step = 0; !finished && step < 100_000; step++) {
      for (let j = 0; j < 100; j++) {
        const i = ((step * 100 + j) * 2 + 1) % N;
        d0.set(`k${i}`, 'after');
        d0.delete(`new${(step * 100 + j) % 50_000}`);
      }
      await new Promise((r) => setImmediate(r));
    }
    const st = await snap.done;
    const got = load(c.buf());
    expect(got.size).toBe(N);
    for (const [id, { v }] of got) expect(v, id).toBe('before');
    expect(st.earlyWrites).toBeGreaterThanOrEqual(N / 2);
    expect(st.slices).toBeGreaterThan(1);
    expect(st.maxSliceMs).toBeGreaterThan(0);
  });

  it('two snapshots at once each hold their own start time', async () => {
    const ks = mkKs();
    for (let i = 0; i < 5000; i++) ks.dbs[0]!.set(`k${i}`, 'v1');
    const a = collect();
    const sa = startSnapshot(ks, { sink: a.sink, sliceBudgetMs: 0.2, chunkSize: 4096 });
    for (let i = 0; i < 5000; i += 2) ks.dbs[0]!.set(`k${i}`, 'v2');
    const b = collect();
    const sb = startSnapshot(ks, { sink: b.sink, sliceBudgetMs: 0.2, chunkSize: 4096 });
    for (let i = 0; i < 5000; i++) ks.dbs[0]!.set(`k${i}`, 'v3');
    await Promise.all([sa.done, sb.done]);
    const ga = load(a.buf());
    const gb = load(b.buf());
    expect([...ga.values()].every((x) => x.v === 'v1')).toBe(true);
    expect(gb.get('0/k0')!.v).toBe('v2');
    expect(gb.get('0/k1')!.v).toBe('v1');
    expect(ga.size).toBe(5000);
    expect(gb.size).toBe(5000);
  });

  it('cancel stops it and detaches its hooks', async () => {
    const ks = mkKs();
    for (let i = 0; i < 100_000; i++) ks.dbs[0]!.set(`k${i}`, 'v');
    const c = collect();
    const s = startSnapshot(ks, { sink: c.sink, sliceBudgetMs: 1 });
    s.cancel();
    await expect(s.done).rejects.toThrow(/cancel/);
    ks.dbs[0]!.set('k1', 'x');
  });

  it('a flipped byte fails the checksum with a clear message', async () => {
    const ks = mkKs();
    for (let i = 0; i < 100; i++) ks.dbs[0]!.set(`key${i}`, `value-${i}-${'y'.repeat(i)}`);
    const c = collect();
    await startSnapshot(ks, { sink: c.sink, compress: false }).done;
    const buf = c.buf();
    // Flip a byte inside a value's payload (not a length), so parsing succeeds and the CRC catches it.
    const at = buf.indexOf('value-50-');
    buf[at + 3] ^= 0x01;
    expect(() => load(buf)).toThrow(RdbLoadError);
    expect(() => load(buf)).toThrow(/Wrong RDB checksum/);
  });
});

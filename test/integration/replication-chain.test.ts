/**
 * Chained replicas (A -> B -> C): when B changes primary, C keeps working as Redis's
 * PSYNC2 has it. B promoted, or B continuing partially with a promoted sibling, drops C,
 * which continues from B with a partial resync (B's replid2 is the old history); B
 * full-synced from an unrelated primary drops C, which then syncs fully from B.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { stopAll, type Proc } from './harness.js';
import { client, digest, info, startNode, startReplica, waitUntil, type Node } from './replication-helpers.js';

afterAll(stopAll);

async function writes(p: Proc, db: number, prefix: string, n: number): Promise<void> {
  const c = new Redis({ port: p.port, host: '127.0.0.1', db, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  try {
    for (let base = 0; base < n; base += 100) {
      const pipe = c.pipeline();
      for (let i = base; i < Math.min(n, base + 100); i++) pipe.set(`${prefix}:${i}`, `v${i}`);
      await pipe.exec();
    }
  } finally {
    c.disconnect();
  }
}

/** Waits until `replica` is linked and holds `upstream`'s offset. */
async function inSync(upstream: Proc, replica: Proc): Promise<void> {
  await waitUntil(
    `${replica.port} in sync with ${upstream.port}`,
    async () => {
      const [u, r] = await Promise.all([info(upstream), info(replica)]);
      return r.master_link_status === 'up' && r.master_port === String(upstream.port) && r.slave_repl_offset === u.master_repl_offset;
    },
    30000,
  );
}

async function stats(p: Proc): Promise<[number, number]> {
  const st = await info(p, 'stats');
  return [Number(st.sync_full), Number(st.sync_partial_ok)];
}

/** Waits until `p` served exactly these syncs (full, partial) — C reconnects about a second after B drops it. */
async function served(p: Proc, want: [number, number]): Promise<void> {
  let got: [number, number] = [0, 0];
  await waitUntil(`syncs ${want.join('/')} served by ${p.port}`, async () => {
    got = await stats(p);
    return got[0] >= want[0] && got[1] >= want[1];
  }).catch((e: Error) => {
    throw new Error(`${e.message}: got ${got.join('/')}`);
  });
  expect(got).toEqual(want);
}

async function replicaof(p: Proc, target: Node | null): Promise<void> {
  const c = client(p);
  try {
    if (target === null) expect(await c.call('REPLICAOF', 'NO', 'ONE')).toBe('OK');
    else expect(await c.call('REPLICAOF', '127.0.0.1', `${target.port}`)).toMatch(/^OK/);
  } finally {
    c.disconnect();
  }
}

async function chain(): Promise<{ a: Node; b: Node; c: Node }> {
  const a = await startNode();
  const b = await startReplica(a);
  const c = await startReplica(b);
  await writes(a, 0, 'x', 500);
  // The stream's last SELECT is database 5.
  await writes(a, 5, 'y', 500);
  await inSync(a, b);
  await inSync(b, c);
  expect(await stats(b)).toEqual([1, 0]);
  return { a, b, c };
}

describe('replication: a replica of a replica when its upstream changes', () => {
  it('B promoted (REPLICAOF NO ONE): C continues from B with a partial resync and follows B\'s writes', async () => {
    const { a, b, c } = await chain();
    await a.stop('SIGKILL');
    await replicaof(b, null);
    await served(b, [1, 1]);
    await inSync(b, c);
    await waitUntil('C logs the partial resync', () => /Successful partial resynchronization with master/.test(c.output()));
    await writes(b, 5, 'z', 300);
    await writes(b, 0, 'w', 300);
    await inSync(b, c);
    expect(await digest(c)).toBe(await digest(b));
    expect(Number((await info(c, 'keyspace')).db5?.match(/keys=(\d+)/)?.[1])).toBe(800);
  });

  it('B re-pointed to a promoted sibling that is ahead of it: B continues partially on the right database, then C does too', async () => {
    const { a, b, c } = await chain();
    const d = await startReplica(a);
    await inSync(a, d);
    // B leaves A (REPLICAOF an address nobody listens on) and misses writes that D gets.
    await replicaof(b, { port: 1, bus: 1 } as Node);
    await writes(a, 5, 'late', 200);
    await inSync(a, d);
    await a.stop('SIGKILL');
    await replicaof(d, null);
    await replicaof(b, d);
    await inSync(d, b);
    expect(await stats(d)).toEqual([0, 1]);
    await waitUntil('B logs the new replication id', () => /Master replication ID changed to/.test(b.output()));
    // C was dropped by B (new id) and continued partially.
    await served(b, [1, 1]);
    await inSync(b, c);
    // The missed writes (database 5, no SELECT in that part of the stream) and new ones.
    await writes(d, 5, 'after', 100);
    await inSync(d, b);
    await inSync(b, c);
    const dd = await digest(d);
    expect(await digest(b)).toBe(dd);
    expect(await digest(c)).toBe(dd);
    expect(Number((await info(c, 'keyspace')).db5?.match(/keys=(\d+)/)?.[1])).toBe(800);
  });

  it('B re-pointed to an unrelated primary: B syncs fully, C is dropped and syncs fully from B (no stale data)', async () => {
    const { b, c } = await chain();
    const e = await startNode();
    await writes(e, 0, 'other', 300);
    await writes(e, 5, 'other5', 10);
    await replicaof(b, e);
    await inSync(e, b);
    await served(b, [2, 0]);
    await inSync(b, c);
    const de = await digest(e);
    expect(await digest(b)).toBe(de);
    expect(await digest(c)).toBe(de);
    await writes(e, 5, 'more', 50);
    await inSync(e, b);
    await inSync(b, c);
    expect(await digest(c)).toBe(await digest(e));
  });
});

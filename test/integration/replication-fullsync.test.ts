import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from './harness.js';
import { client, digest, info, startNode, startReplica, waitInSync } from './replication-helpers.js';

afterAll(stopAll);

describe('replication: full sync of a large dataset', () => {
  it('syncs 100k keys while the primary keeps answering (its max latency is measured)', async () => {
    const primary = await startNode();
    const c = client(primary);
    const N = 100_000;
    for (let base = 0; base < N; base += 10_000) {
      const p = c.pipeline();
      for (let i = base; i < base + 10_000; i++) p.set(`key:${i}`, `value-${i}-${'x'.repeat(20)}`);
      await p.exec();
    }
    // A client pings (and writes) the primary throughout the sync and records each latency.
    const probe = client(primary);
    await probe.ping();
    let stop = false;
    const lat: number[] = [];
    const probing = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const t = performance.now();
        await probe.set(`during:${i % 100}`, String(i));
        lat.push(performance.now() - t);
      }
    })();
    const t0 = performance.now();
    const replica = await startReplica(primary);
    await waitInSync(primary, replica, 60000);
    const syncMs = performance.now() - t0;
    stop = true;
    await probing;
    expect((await info(replica, 'keyspace')).db0).toMatch(/^keys=100100,/);
    expect(await digest(replica)).toBe(await digest(primary));
    lat.sort((a, b) => a - b);
    const max = lat[lat.length - 1]!;
    const p99 = lat[Math.floor(lat.length * 0.99)]!;
    console.log(`full sync of ${N} keys: ${syncMs.toFixed(0)} ms (incl. replica start); primary served ${lat.length} writes meanwhile, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms`);
    expect(lat.length).toBeGreaterThan(50);
    // The snapshot runs in slices: the primary never stalls for long (a generous bound for CI).
    expect(max).toBeLessThan(500);
    c.disconnect();
    probe.disconnect();
  });
});

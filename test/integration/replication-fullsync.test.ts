import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from './harness.js';
import { client, digest, info, startNode, startReplica, waitInSync, waitUntil } from './replication-helpers.js';

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

  it('shows its progress: master_sync_* in the replica\'s INFO while the RDB arrives, a progress log line on both sides', async () => {
    const primary = await startNode();
    const c = client(primary);
    const N = 300_000;
    for (let base = 0; base < N; base += 10_000) {
      const p = c.pipeline();
      for (let i = base; i < base + 10_000; i++) p.set(`key:${i}`, `value-${i}-${'x'.repeat(80)}`);
      await p.exec();
    }
    const replica = await startReplica(primary);
    // Catch the transfer under way, then freeze the primary: the replica's view holds still.
    let mid: Record<string, string> = {};
    await waitUntil('the RDB transfer under way', async () => {
      mid = await info(replica);
      return mid.master_sync_in_progress === '1' && Number(mid.master_sync_read_bytes) > 0;
    }, 30000);
    primary.child.kill('SIGSTOP');
    try {
      mid = await info(replica);
      // Held 1.2 s: the next chunk on either side is more than a second after the last log line.
      await new Promise((r) => setTimeout(r, 1200));
    } finally {
      primary.child.kill('SIGCONT');
    }
    const total = Number(mid.master_sync_total_bytes);
    const read = Number(mid.master_sync_read_bytes);
    const perc = Number(mid.master_sync_perc);
    expect(mid.master_sync_in_progress).toBe('1');
    expect(read).toBeGreaterThan(0);
    expect(total).toBeGreaterThan(read);
    expect(Number(mid.master_sync_left_bytes)).toBe(total - read);
    expect(perc).toBeGreaterThan(0);
    expect(perc).toBeLessThan(100);
    expect(perc).toBeCloseTo((read * 100) / total, 1);
    expect(Number(mid.master_sync_last_io_seconds_ago)).toBeGreaterThanOrEqual(0);
    await waitInSync(primary, replica, 60000);
    expect((await info(replica, 'keyspace')).db0).toMatch(/^keys=300000,/);
    // The estimate was of the right size: the file the replica received.
    const finalBytes = Number(/"bytes":(\d+)[^\n]*Flushing old data/.exec(replica.output())?.[1]);
    expect(total).toBeGreaterThan(finalBytes * 0.5);
    expect(total).toBeLessThan(finalBytes * 2);
    await waitUntil('progress logged by the primary', () => /Full sync to replica 127\.0\.0\.1:\d+ in progress: \d+ of 300000 keys/.test(primary.output()));
    await waitUntil('progress logged by the replica', () => /MASTER <-> REPLICA sync: receiving the RDB: \d+ bytes, [\d.]+%/.test(replica.output()));
    // What redis_exporter and friends read besides: the transfer rates, the backlog's memory.
    await waitUntil('instantaneous_output_repl_kbps on the primary', async () => Number((await info(primary, 'stats')).instantaneous_output_repl_kbps) > 0);
    await waitUntil('instantaneous_input_repl_kbps on the replica', async () => Number((await info(replica, 'stats')).instantaneous_input_repl_kbps) > 0);
    await c.set('after', 'x');
    await waitInSync(primary, replica);
    expect(Number((await info(primary, 'memory')).mem_replication_backlog)).toBeGreaterThan(0);
    c.disconnect();
  });
});

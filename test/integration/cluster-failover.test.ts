/**
 * A primary of a 3-shard cluster is SIGKILLed under an ioredis `Cluster` writer: the
 * controllers promote its replica, the nodes answer CLUSTER SLOTS with the new primary,
 * ioredis follows (its retries are allowed) and, with repl-sync-mode sync, every
 * acknowledged write is present afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { kill, sleep, status, stopEverything, waitFor } from './controller-helpers.js';
import { slotOf, startSonicCluster } from './cluster-helpers.js';

afterAll(async () => {
  await stopEverything();
});

class ClusterWriter {
  readonly acked: { key: string; at: number }[] = [];
  errors = 0;
  lastError = '';
  private running = true;
  private readonly loop: Promise<void>;

  constructor(readonly c: Cluster) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for (let i = 0; this.running; i++) {
      const key = `w:${i}`;
      for (;;) {
        try {
          await this.c.set(key, String(i));
          this.acked.push({ key, at: Date.now() });
          break;
        } catch (e) {
          this.errors++;
          this.lastError = (e as Error).message;
          if (!this.running) return;
          await sleep(20);
        }
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

describe('cluster failover', () => {
  it('SIGKILL of a primary: its replica is promoted, ioredis Cluster keeps going, every acknowledged write is present (sync)', async () => {
    // Sync mode keeps acknowledging through a failover only with a replica left: two in the victim's shard.
    const cl = await startSonicCluster({ downAfterMs: 500, replicas: [1, 2, 1], args: ['--repl-sync-mode', 'sync', '--repl-sync-timeout', '2000'] });
    const opts = {
      clusterRetryStrategy: () => 100,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      slotsRefreshTimeout: 1000,
      redisOptions: { connectTimeout: 1000, maxRetriesPerRequest: 2, commandTimeout: 3000 },
    };
    const c = new Cluster(cl.seeds, opts);
    c.on('error', () => {});
    const w = new ClusterWriter(c);
    const victim = cl.primaries[1]!;
    const inVictim = (k: string) => slotOf(k) >= 5461 && slotOf(k) <= 10922;
    await waitFor('the writer acks on every shard', () => w.acked.filter((a) => inVictim(a.key)).length > 100, 15000);
    const t = Date.now();
    await kill(victim);
    const after = await waitFor('the replica promoted', async () => {
      const s = await status(cl.g);
      const p = s?.config.shards.find((x) => x.id === 'shard-2')?.primary;
      return p === 'r2a' || p === 'r2b' ? s : null;
    }, 15000);
    expect(after.config.epoch).toBeGreaterThan(cl.epoch);
    await waitFor('writes to the failed shard resume', () => w.acked.filter((a) => a.at > t && inVictim(a.key)).length > 100, 20000).catch((e: Error) => {
      throw new Error(`${e.message}: ${w.acked.length} acked, ${w.errors} errors, last: ${w.lastError}`);
    });
    await w.stop();
    // The cluster's view: shard 2 is served by the promoted replica.
    const promoted = cl.replicas[1]!.find((r) => r.id === after.config.shards.find((x) => x.id === 'shard-2')!.primary)!;
    const slots = (await c.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
    expect(slots.find((e) => e[0] === 5461)?.[2][1]).toBe(promoted.port);
    // Every acknowledged write is there.
    const keys = w.acked.map((a) => a.key);
    const missing: string[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const vals = await Promise.all(chunk.map((k) => c.get(k)));
      vals.forEach((v, j) => {
        if (v === null) missing.push(chunk[j]!);
      });
    }
    const gap = Math.max(...w.acked.filter((a) => a.at > t && inVictim(a.key)).map((a, i, arr) => (i === 0 ? a.at - t : a.at - arr[i - 1]!.at)));
    console.log(`cluster failover: ${keys.length} acked writes, ${w.errors} client errors retried, ${missing.length} lost, shard 2 unavailable ~${gap} ms (down-after 500 ms)`);
    expect(missing).toEqual([]);
    c.disconnect();
  });
});

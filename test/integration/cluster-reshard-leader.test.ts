/**
 * Resharding through a crash of the controller leader: one slot holding 20,000 keys
 * moves from its shard to the other under an ioredis `Cluster` load (writers on every
 * slot, and two on the moving slot itself), and the Raft leader is SIGKILLed while the
 * target is receiving the slot's keys. The migration lives in the replicated
 * configuration: the source keeps streaming, its commit (MigrationDone) reaches the new
 * leader, `sonic cluster reshard` finishes against the remaining controllers. Afterwards
 * the slot is the target's, every acknowledged write is present, the source kept no copy
 * and `sonic cluster check` is clean.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { client, kill, status, stopEverything, waitFor } from './controller-helpers.js';
import { clusterCli, Load, missingFromLoads, retryingCluster, slotOf, startSonicCluster } from './cluster-helpers.js';

afterAll(async () => {
  await stopEverything();
});

const KEYS = 20000;

describe('online resharding through a crash of the controller leader', () => {
  it('SIGKILL of the leader while a 20,000-key slot streams: the move finishes, nothing acknowledged lost, check clean', async () => {
    const cl = await startSonicCluster({ shards: 2, replicas: 1 });
    const ctl = ['--controllers', cl.g.list()];
    const slot = slotOf('{big}');
    const fromIdx = slot < 8192 ? 0 : 1;
    const [from, to] = fromIdx === 0 ? ['shard-1', 'shard-2'] : ['shard-2', 'shard-1'];
    const io = retryingCluster(cl.seeds);
    const value = 'x'.repeat(100);
    for (let i = 0; i < KEYS; i += 1000) {
      const p = io.pipeline();
      for (let j = i; j < i + 1000; j++) p.set(`{big}:${j}`, value);
      await p.exec();
    }
    const src = client(cl.primaries[fromIdx]!.port);
    const dst = client(cl.primaries[1 - fromIdx]!.port);
    expect(await src.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))).toBe(KEYS);

    const loads = [
      new Load((k, v) => io.set(k, v), (k) => io.incr(k), (k, f, v) => io.hset(k, f, v), 'io', 3, false),
      new Load((k, v) => io.set(k, v), (k) => io.incr(k), (k, f, v) => io.hset(k, f, v), '{big}', 2, false),
    ];
    await waitFor('the loads run', () => loads.every((l) => l.acked.length > 50), 15000);

    const before = (await status(cl.g))!;
    const leader = cl.g.ctls.find((c) => c.id === before.leader)!;
    const out = clusterCli(['reshard', '--from', from, '--to', to, '--slot-list', String(slot), ...ctl]);
    // The target is receiving the slot: its first keys arrived, not all of them yet.
    const atKill = await waitFor(
      'the target receives the slot',
      async () => {
        const n = Number(await dst.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)));
        return n > 0 ? n : null;
      },
      20000,
      5,
    );
    await kill(leader);
    console.log(`leader ${leader.id} killed with ${atKill} of ${KEYS} keys at the target`);
    expect(atKill).toBeLessThan(KEYS);

    const r = await out;
    console.log(r.out.trim());
    expect(r.code, r.out).toBe(0);
    const after = (await status(cl.g))!;
    expect(after.leader).not.toBe(before.leader);
    expect(after.config.epoch).toBeGreaterThan(before.config.epoch);
    const shards = after.config.shards as unknown as { id: string; slots: { start: number; end: number }[] }[];
    const owner = shards.find((s) => s.slots.some((x) => slot >= x.start && slot <= x.end))!.id;
    expect(owner).toBe(to);
    expect((after.config as unknown as { migrations: unknown[] }).migrations).toEqual([]);

    await Promise.all(loads.map((l) => l.stop()));
    // A fresh client without the load's short command timeout reads everything back.
    const check = new Cluster(cl.seeds);
    check.on('error', () => {});
    const missing = await missingFromLoads(check, loads);
    for (let i = 0; i < KEYS; i += 1000) {
      const keys = Array.from({ length: 1000 }, (_, j) => `{big}:${i + j}`);
      (await check.mget(keys)).forEach((v, j) => v !== value && missing.push(keys[j]!));
    }
    check.disconnect();
    const errors = loads.flatMap((l) => l.errors);
    console.log(`leader crash: ${loads.reduce((n, l) => n + l.acked.length, 0)} acked SETs, ${errors.length} client errors (${[...new Set(errors)].slice(0, 3).join(' | ')}), ${missing.length} lost`);
    expect(missing).toEqual([]);

    // The source deleted its copy; the target holds the slot (the load's keys too).
    await waitFor('the source deleted the moved keys', async () => Number(await src.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))) === 0, 15000);
    expect(Number(await dst.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)))).toBeGreaterThanOrEqual(KEYS);
    const report = await clusterCli(['check', ...ctl]);
    console.log(report.out.trim());
    expect(report.code, report.out).toBe(0);
    src.disconnect();
    dst.disconnect();
    io.disconnect();
  }, 90000);
});

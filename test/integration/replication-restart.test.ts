/**
 * Restarts with an RDB that carries the replication position (repl-id, repl-offset,
 * repl-stream-db aux fields, as Redis 4+ writes them): a replica SIGKILLed after a SAVE
 * (or stopped with SIGTERM, which saves when save rules exist) continues with a partial
 * resync when the primary's backlog still covers its offset, and fully otherwise; a
 * primary restarted from its SHUTDOWN save lets its replicas continue too. The same
 * scenarios run against redis-server, which must count the same syncs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { haveRedisServer, startRedis, stopAll, tempDir, type Proc } from './harness.js';
import { client, digest, info, startNode, startReplica, waitUntil } from './replication-helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Kind = 'sonic' | 'redis';

function dir(): string {
  const d = tempDir('sonic-restart-');
  dirs.push(d);
  return d;
}

async function primaryOf(kind: Kind, args: string[] = []): Promise<Proc> {
  return kind === 'sonic' ? startNode(args) : startRedis(args);
}

async function replicaOf(kind: Kind, primary: Proc, args: string[]): Promise<Proc> {
  return kind === 'sonic' ? startReplica(primary, args) : startRedis(['--replicaof', '127.0.0.1', String(primary.port), ...args]);
}

/** Pipelined SETs in database `db` (the primary's stream then stays on that database). */
async function writes(p: Proc, db: number, prefix: string, n: number, size = 10): Promise<void> {
  const c = new Redis({ port: p.port, host: '127.0.0.1', db, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  try {
    for (let base = 0; base < n; base += 100) {
      const pipe = c.pipeline();
      for (let i = base; i < Math.min(n, base + 100); i++) pipe.set(`${prefix}:${i}`, 'v'.repeat(size));
      await pipe.exec();
    }
  } finally {
    c.disconnect();
  }
}

async function inSync(primary: Proc, replica: Proc): Promise<void> {
  await waitUntil(
    `replica ${replica.port} in sync with ${primary.port}`,
    async () => {
      const [p, r] = await Promise.all([info(primary), info(replica)]);
      return r.master_link_status === 'up' && r.master_port === String(primary.port) && r.slave_repl_offset === p.master_repl_offset;
    },
    30000,
  );
}

async function syncs(primary: Proc): Promise<{ full: number; partialOk: number; partialErr: number }> {
  const st = await info(primary, 'stats');
  return { full: Number(st.sync_full), partialOk: Number(st.sync_partial_ok), partialErr: Number(st.sync_partial_err) };
}

async function save(p: Proc): Promise<void> {
  const c = client(p);
  try {
    expect(await c.save()).toBe('OK');
  } finally {
    c.disconnect();
  }
}

/** DEBUG DIGEST where both have it; Sonic's matches redis-server's, so it compares either. */
async function sameData(a: Proc, b: Proc): Promise<void> {
  expect(await digest(b)).toBe(await digest(a));
}

/**
 * The replica scenario, on either server: SAVE, more writes, SIGKILL, more writes,
 * restart from the same directory (partial); SAVE, SIGKILL, writes far past the backlog,
 * restart (full); SIGTERM with a save rule, restart (partial again).
 */
async function replicaRestarts(kind: Kind): Promise<{ logs: string[] }> {
  const extra = kind === 'sonic' ? [] : ['--enable-debug-command', 'yes'];
  const primary = await primaryOf(kind, ['--repl-backlog-size', '1mb', ...extra]);
  const rdir = dir();
  const rargs = ['--dir', rdir, ...extra];
  let replica = await replicaOf(kind, primary, rargs);
  await writes(primary, 0, 'a', 2000);
  // The stream's last SELECT is database 3: the restarted replica must apply the tail there.
  await writes(primary, 3, 'b', 500);
  await inSync(primary, replica);
  expect(await syncs(primary)).toEqual({ full: 1, partialOk: 0, partialErr: 0 });

  // 1. SAVE, writes the backlog holds, SIGKILL, more writes, restart: partial.
  await save(replica);
  await writes(primary, 3, 'c', 300);
  await inSync(primary, replica);
  await replica.stop('SIGKILL');
  await writes(primary, 3, 'd', 300);
  replica = await replicaOf(kind, primary, rargs);
  await inSync(primary, replica);
  expect(await syncs(primary)).toEqual({ full: 1, partialOk: 1, partialErr: 0 });
  await sameData(primary, replica);
  const logs = [replica.output()];

  // 2. SAVE, SIGKILL, then about 8 MB of writes (the backlog holds 1 MB): full.
  await save(replica);
  await replica.stop('SIGKILL');
  await writes(primary, 0, 'e', 2000, 4000);
  replica = await replicaOf(kind, primary, rargs);
  await inSync(primary, replica);
  const s2 = await syncs(primary);
  expect([s2.full, s2.partialOk]).toEqual([2, 1]);
  expect(s2.partialErr).toBeGreaterThanOrEqual(1);
  await sameData(primary, replica);
  await replica.stop('SIGKILL');

  // 3. A save rule: SIGTERM saves (with the replication position); restart: partial.
  replica = await replicaOf(kind, primary, [...rargs, '--save', '3600 1']);
  await inSync(primary, replica);
  const s3 = await syncs(primary);
  await writes(primary, 3, 'f', 200);
  await inSync(primary, replica);
  await replica.stop('SIGTERM');
  await writes(primary, 3, 'g', 200);
  replica = await replicaOf(kind, primary, rargs);
  await inSync(primary, replica);
  const s4 = await syncs(primary);
  expect([s4.full, s4.partialOk]).toEqual([s3.full, s3.partialOk + 1]);
  await sameData(primary, replica);
  logs.push(replica.output());
  await replica.stop('SIGKILL');
  await primary.stop('SIGKILL');
  return { logs };
}

describe('replication: restarts from an RDB with the replication position', () => {
  it('a replica SIGKILLed after SAVE resyncs partially when the backlog covers the gap, fully when it does not; SIGTERM saves', async () => {
    const { logs } = await replicaRestarts('sonic');
    for (const out of logs) {
      expect(out).toMatch(/Using the replication ID and offset loaded from the RDB file to try a partial resynchronization/);
      expect(out).toMatch(/Successful partial resynchronization with master/);
      expect(out).not.toMatch(/Full resync from master/);
    }
  });

  it.skipIf(!haveRedisServer())('redis-server counts the same syncs in the same scenario (reference)', async () => {
    await replicaRestarts('redis');
  });

  it('a node restarted from a replica\'s RDB without --replicaof, then made a replica (as a cluster agent does), continues partially', async () => {
    const primary = await startNode(['--repl-backlog-size', '1mb']);
    const rdir = dir();
    let replica = await startReplica(primary, ['--dir', rdir]);
    await writes(primary, 4, 'a', 1000);
    await inSync(primary, replica);
    await save(replica);
    await replica.stop('SIGKILL');
    await writes(primary, 4, 'b', 200);
    replica = await startNode(['--dir', rdir]);
    expect((await info(replica)).role).toBe('master');
    const rc = client(replica);
    expect(await rc.call('REPLICAOF', '127.0.0.1', String(primary.port))).toBe('OK');
    await inSync(primary, replica);
    expect(await syncs(primary)).toEqual({ full: 1, partialOk: 1, partialErr: 0 });
    await sameData(primary, replica);
    rc.disconnect();
    // Once it wrote as a primary, its data is no longer the file's: a full sync.
    await replica.stop('SIGKILL');
    replica = await startNode(['--dir', rdir]);
    const rc2 = client(replica);
    await rc2.set('own-write', '1');
    await rc2.call('REPLICAOF', '127.0.0.1', String(primary.port));
    await inSync(primary, replica);
    expect((await syncs(primary)).full).toBe(2);
    await sameData(primary, replica);
    rc2.disconnect();
  });

  it('a replica restarted without an RDB resyncs fully', async () => {
    const primary = await startNode();
    let replica = await startReplica(primary);
    await writes(primary, 0, 'x', 2000);
    await inSync(primary, replica);
    await replica.stop('SIGKILL');
    await writes(primary, 0, 'y', 500);
    replica = await startReplica(primary);
    await inSync(primary, replica);
    expect(await syncs(primary)).toEqual({ full: 2, partialOk: 0, partialErr: 0 });
    await waitUntil('full resync logged by the replica', () => /Full resync from master/.test(replica.output()));
    await sameData(primary, replica);
  });

  it('a primary restarted from its SHUTDOWN save keeps the id as replid2: its replica continues partially (as redis-server)', async () => {
    for (const kind of ['sonic', 'redis'] as const) {
      if (kind === 'redis' && !haveRedisServer()) continue;
      const extra = kind === 'sonic' ? [] : ['--enable-debug-command', 'yes'];
      const pdir = dir();
      let primary = await primaryOf(kind, ['--dir', pdir, '--save', '3600 1', ...extra]);
      const replica = await replicaOf(kind, primary, extra);
      await writes(primary, 2, 'a', 1000);
      await inSync(primary, replica);
      const before = await info(primary);
      await primary.stop('SIGTERM');
      primary = await primaryOf(kind, ['--dir', pdir, ...extra]);
      const after = await info(primary);
      expect(after.master_replid2, kind).toBe(before.master_replid);
      expect(after.second_repl_offset, kind).toBe(String(Number(before.master_repl_offset) + 1));
      const rc = client(replica);
      await rc.call('REPLICAOF', '127.0.0.1', String(primary.port));
      await inSync(primary, replica);
      expect(await syncs(primary), kind).toEqual({ full: 0, partialOk: 1, partialErr: 0 });
      // Writes after the restart reach the replica (a restarted primary starts with a SELECT).
      await writes(primary, 2, 'b', 100);
      await inSync(primary, replica);
      await sameData(primary, replica);
      rc.disconnect();
      await replica.stop('SIGKILL');
      await primary.stop('SIGKILL');
    }
  });
});

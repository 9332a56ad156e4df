import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from './harness.js';
import { client, digest, info, startNode, startReplica, waitInSync, waitUntil, type Node } from './replication-helpers.js';

afterAll(stopAll);

async function writes(p: Node, prefix: string, n: number, size = 10): Promise<void> {
  // Pipelines of 100: separate batches, so the backlog can drop the oldest.
  const c = client(p);
  for (let base = 0; base < n; base += 100) {
    const pipe = c.pipeline();
    for (let i = base; i < Math.min(n, base + 100); i++) pipe.set(`${prefix}:${i}`, 'v'.repeat(size));
    await pipe.exec();
  }
  c.disconnect();
}

/** Stops a replica's process (SIGSTOP) until the primary drops it for silence (repl-timeout 2 s), writes meanwhile, resumes it. */
async function gap(primary: Node, replica: Node, write: () => Promise<void>): Promise<void> {
  replica.child.kill('SIGSTOP');
  try {
    await write();
    await waitUntil('primary drops the silent replica', async () => (await info(primary)).connected_slaves === '0', 10000);
  } finally {
    replica.child.kill('SIGCONT');
  }
}

/** Waits until the primary served `n` syncs (full + partial) in all. */
async function waitResyncs(primary: Node, n: number): Promise<void> {
  await waitUntil(`${n} syncs served`, async () => {
    const st = await info(primary, 'stats');
    return Number(st.sync_full) + Number(st.sync_partial_ok) >= n;
  });
}

describe('replication: resync after a replica goes away', () => {
  it('partial resync when the backlog covers the gap, full when it does not (INFO stats and log lines say which)', async () => {
    const primary = await startNode(['--repl-timeout', '2', '--repl-backlog-size', '64kb']);
    const replica = await startReplica(primary, ['--repl-timeout', '2']);
    await writes(primary, 'a', 1000);
    await waitInSync(primary, replica);
    let st = await info(primary, 'stats');
    expect([st.sync_full, st.sync_partial_ok]).toEqual(['1', '0']);

    // A small gap (about 10 KB of commands < 64 KB backlog): partial.
    await gap(primary, replica, () => writes(primary, 'b', 300));
    await waitResyncs(primary, 2);
    await waitInSync(primary, replica);
    st = await info(primary, 'stats');
    expect([st.sync_full, st.sync_partial_ok]).toEqual(['1', '1']);
    // (pino writes asynchronously: the lines may trail the INFO counters a little)
    await waitUntil('partial resync logged by the primary', () => /Partial resynchronization request from 127\.0\.0\.1:\d+ accepted/.test(primary.output()));
    await waitUntil('partial resync logged by the replica', () => /Successful partial resynchronization with master/.test(replica.output()));
    expect(await digest(replica)).toBe(await digest(primary));

    // A gap far larger than the backlog plus what sockets hold in flight (about 8 MB): full.
    await gap(primary, replica, () => writes(primary, 'c', 2000, 4000));
    await waitResyncs(primary, 3);
    await waitInSync(primary, replica);
    st = await info(primary, 'stats');
    expect([st.sync_full, st.sync_partial_ok]).toEqual(['2', '1']);
    expect(Number(st.sync_partial_err)).toBeGreaterThanOrEqual(1);
    expect(await digest(replica)).toBe(await digest(primary));
  });

  it('a replica SIGKILLed and restarted empty resyncs fully and catches up', async () => {
    const primary = await startNode();
    let replica = await startReplica(primary);
    await writes(primary, 'x', 2000);
    await waitInSync(primary, replica);
    await replica.stop('SIGKILL');
    await writes(primary, 'y', 500);
    replica = await startReplica(primary);
    await waitInSync(primary, replica);
    const st = await info(primary, 'stats');
    expect(st.sync_full).toBe('2');
    await waitUntil('full resync logged by the replica', () => /Full resync from master/.test(replica.output()));
    expect(await digest(replica)).toBe(await digest(primary));
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { Socket } from 'node:net';
import { RawConn, stopAll } from './harness.js';
import { client, info, startNode, startReplica, waitInSync, waitUntil } from './replication-helpers.js';

afterAll(stopAll);

describe('replication: sync mode', () => {
  it('a write acknowledged in sync mode survives the primary\'s SIGKILL on the replica', async () => {
    const primary = await startNode(['--repl-sync-mode', 'sync', '--repl-sync-timeout', '2000']);
    const replica = await startReplica(primary);
    await waitInSync(primary, replica);
    const c = client(primary);
    const acked: number[] = [];
    for (let i = 0; i < 200; i++) {
      expect(await c.set(`k${i}`, String(i))).toBe('OK');
      acked.push(i);
    }
    // Kill right after the last acknowledged write: no time for an asynchronous catch-up.
    primary.child.kill('SIGKILL');
    const r = client(replica);
    const got = await r.mget(...acked.map((i) => `k${i}`));
    expect(got).toEqual(acked.map(String));
    c.disconnect();
    r.disconnect();
  });

  it('without a replica, a sync-mode write answers a clear NOREPLICAS error after repl-sync-timeout; reads are not held', async () => {
    const primary = await startNode(['--repl-sync-mode', 'sync', '--repl-sync-timeout', '300']);
    const c = client(primary);
    await c.config('SET', 'repl-sync-mode', 'async');
    expect(await c.set('a', '1')).toBe('OK');
    await c.config('SET', 'repl-sync-mode', 'sync');
    const t0 = Date.now();
    await expect(c.set('b', '1')).rejects.toThrow(/^NOREPLICAS No replica acknowledged the write within repl-sync-timeout \(300 ms\)/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    const t1 = Date.now();
    expect(await c.get('a')).toBe('1');
    expect(Date.now() - t1).toBeLessThan(200);
    expect(primary.output()).toMatch(/sync mode: no replica acknowledged a write in time/);
    c.disconnect();
  });
});

describe('replication: sync mode and blocked clients', () => {
  it('a client woken from BLPOP or XREAD BLOCK by another client\'s write gets its reply only once a replica acked that write', async () => {
    const primary = await startNode(['--repl-sync-mode', 'sync', '--repl-sync-timeout', '10000']);
    const replica = await startReplica(primary);
    await waitInSync(primary, replica);
    const popper = await RawConn.open(primary.port);
    const reader = await RawConn.open(primary.port);
    const writer = await RawConn.open(primary.port);
    const writer2 = await RawConn.open(primary.port);
    const blocked = async (n: number) => waitUntil(`${n} blocked clients`, async () => (await info(primary, 'clients')).blocked_clients === String(n));

    // With the replica acking, a woken client is answered at once.
    popper.send('BLPOP', 'q', '0');
    await blocked(1);
    writer.send('RPUSH', 'q', 'first');
    expect(await popper.read(3000)).toEqual(['q', 'first']);
    expect(await writer.read(3000)).toBe(1);

    // With the replica stopped (no acks), neither the writers nor the woken clients hear back...
    popper.send('BLPOP', 'q', '0');
    reader.send('XREAD', 'BLOCK', '0', 'STREAMS', 's', '$');
    await blocked(2);
    replica.child.kill('SIGSTOP');
    try {
      writer.send('RPUSH', 'q', 'second');
      // (a held writer's next command waits too: XADD comes from another client)
      writer2.send('XADD', 's', '1-1', 'f', 'v');
      await expect(popper.read(800)).rejects.toThrow(/no reply/);
      await expect(reader.read(50)).rejects.toThrow(/no reply/);
      await expect(writer.read(50)).rejects.toThrow(/no reply/);
      await expect(writer2.read(50)).rejects.toThrow(/no reply/);
      // ...although the writes were applied on the primary.
      const c = client(primary);
      expect(await c.exists('s')).toBe(1);
      expect(await c.llen('q')).toBe(0);
      c.disconnect();
    } finally {
      replica.child.kill('SIGCONT');
    }
    // Once the replica acks, every held reply goes out.
    expect(await popper.read(5000)).toEqual(['q', 'second']);
    expect(await reader.read(5000)).toEqual([['s', [['1-1', ['f', 'v']]]]]);
    expect(await writer.read(5000)).toBe(1);
    expect(await writer2.read(5000)).toBe('1-1');

    // No ack within repl-sync-timeout: the woken client gets the NOREPLICAS error, as a writer does.
    writer.send('CONFIG', 'SET', 'repl-sync-timeout', '300');
    expect(await writer.read()).toBe('OK');
    popper.send('BLPOP', 'q', '0');
    await blocked(1);
    replica.child.kill('SIGSTOP');
    try {
      writer.send('RPUSH', 'q', 'third');
      const got = await popper.read(5000);
      expect(got).toBeInstanceOf(Error);
      expect(String((got as Error).message)).toMatch(/^NOREPLICAS No replica acknowledged the write within repl-sync-timeout \(300 ms\)/);
      expect(String(((await writer.read(5000)) as Error).message)).toMatch(/^NOREPLICAS/);
    } finally {
      replica.child.kill('SIGCONT');
    }
    for (const r of [popper, reader, writer, writer2]) r.close();
  });
});

describe('replication: bad input on the bus', () => {
  it('garbage on the gRPC port is refused with a log line; the node keeps serving', async () => {
    const node = await startNode();
    const s = new Socket();
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.connect(node.bus, '127.0.0.1', () => res());
    });
    s.on('error', () => {});
    s.resume();
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const closed = await new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), 3000);
      s.once('close', () => {
        clearTimeout(t);
        res(true);
      });
    });
    expect(closed).toBe(true);
    await waitUntil('the refusal log line', () => /bus: refused a connection that is not gRPC/.test(node.output()));
    const c = client(node);
    expect(await c.ping()).toBe('PONG');
    // A replica can still attach afterwards.
    const replica = await startReplica(node);
    await waitInSync(node, replica);
    c.disconnect();
  });

  it('a replica with a wrong masterauth is refused with a clear log line on both sides; the right one syncs', async () => {
    const primary = await startNode(['--requirepass', 's3cret']);
    const bad = await startReplica(primary, ['--masterauth', 'wrong']);
    await waitUntil('refusal logged on the primary', () => /refused replica .*WRONGPASS/.test(primary.output()));
    await waitUntil('refusal logged on the replica', () => /The primary refused replication: WRONGPASS/.test(bad.output()));
    const none = await startReplica(primary);
    await waitUntil('NOAUTH logged on the replica without masterauth', () => /The primary refused replication: NOAUTH/.test(none.output()));
    expect((await info(bad)).master_link_status).toBe('down');
    const good = await startReplica(primary, ['--masterauth', 's3cret']);
    const c = client(primary, 's3cret');
    await c.set('k', 'v');
    const pInfo = async () => {
      const r = (await c.info('replication')) as string;
      return r;
    };
    await waitUntil('the good replica online', async () => /connected_slaves:1/.test(await pInfo()));
    const g = client(good);
    await waitUntil('the good replica has the key', async () => (await g.get('k')) === 'v');
    c.disconnect();
    g.disconnect();
  });
});

/**
 * The controller group as operators meet it: the configuration survives a restart of
 * every controller; `sonic status` and `sonic failover`; the Sentinel protocol seen by
 * redis-cli (SENTINEL commands, +switch-master on PSUBSCRIBE); and a primary that comes
 * back empty (SIGKILL and restart, new run id) is never trusted again: a replica takes
 * over and the data survives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { RawConn, SONIC } from './harness.js';
import {
  client,
  kill,
  missingKeys,
  primaryOf,
  sleep,
  startClusterNode,
  startGroup,
  status,
  statusCli,
  stopEverything,
  waitFor,
  waitFormed,
  Writer,
  type ClusterProc,
  type Group,
} from './controller-helpers.js';

afterEach(async () => {
  await stopEverything();
});

async function shard(g: Group, args: string[] = []): Promise<ClusterProc[]> {
  const p = await startClusterNode({ id: 'n1', controllers: g.list(), args });
  const rs = await Promise.all(['n2', 'n3'].map((id) => startClusterNode({ id, controllers: g.list(), replicaOf: p, args })));
  await waitFormed(g, 'n1', ['n2', 'n3']);
  const c = client(p.port);
  await waitFor('n1 accepts writes', async () => await c.set('boot', '1').then(() => true, () => false));
  c.disconnect();
  return [p, ...rs];
}

describe('controller group', () => {
  it('keeps the configuration across a restart of every controller; status and a manual failover work after it', async () => {
    const g = await startGroup(3, { downAfterMs: 400 });
    const nodes = await shard(g);
    // A manual failover first, so the configuration is not the one nodes would rebuild by registering.
    const f = spawnSync(process.execPath, [SONIC, 'failover', 'shard-1', '--to', 'n3', '--controllers', g.list()], { encoding: 'utf8', timeout: 20000 });
    expect(f.stderr).toBe('');
    expect(f.stdout).toMatch(/shard-1: n3 promoted in place of n1 \(manual\) \(epoch \d+\)/);
    const before = (await waitFor('n3 primary', async () => {
      const s = await status(g);
      return s && primaryOf(s) === 'n3' ? s : null;
    }))!;
    // Every controller dies at once (SIGKILL), then comes back on its dir.
    await Promise.all(g.ctls.map((c) => kill(c)));
    await Promise.all(g.ctls.map((_, i) => g.start(i)));
    const after = await waitFor('a leader with the configuration', async () => {
      const s = await status(g);
      return s && s.leader !== '' && s.config.epoch >= before.config.epoch ? s : null;
    });
    expect(after.config.epoch).toBe(before.config.epoch);
    expect(after.config.shards).toEqual(before.config.shards);
    expect(after.config.nodes.map((n) => [n.id, n.role, n.health])).toEqual(before.config.nodes.map((n) => [n.id, n.role, n.health]));
    // No node was declared down in the meantime (the controllers were away, not the nodes).
    await sleep(800);
    const settled = (await status(g))!;
    expect(primaryOf(settled)).toBe('n3');
    // The readable table.
    const t = statusCli(g);
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(new RegExp(`^epoch ${settled.config.epoch} · leader c\\d`));
    expect(t.stdout).toMatch(/shard-1\s+n3\s+n1,n2\s+0-16383 \(16384\)/);
    expect(t.stdout).toMatch(/n3\s+127\.0\.0\.1:\d+\s+shard-1\s+primary\s+primary\s+ok/);
    // Failover again after the restart, under a writer: the manual failover pauses writes
    // and waits for the replica, so nothing acknowledged is lost even with async replication.
    const w = new Writer(g.ctls.map((c) => c.port));
    await waitFor('the writer acks', () => w.acked.length > 200, 10000);
    const sub = new Redis({ port: g.ctls[1]!.port });
    const events: string[] = [];
    sub.on('pmessage', (_p: string, ch: string, msg: string) => events.push(`${ch} ${msg}`));
    await sub.psubscribe('*');
    const r = client(g.ctls[0]!.port);
    expect(await r.call('SENTINEL', 'FAILOVER', 'shard-1')).toBe('OK');
    r.disconnect();
    const s2 = await waitFor('a new primary', async () => {
      const s = await status(g);
      return s && primaryOf(s) !== 'n3' ? s : null;
    });
    const t2 = Date.now();
    await waitFor('writes resume', () => w.ackedSince(t2) > 100, 10000);
    await w.stop();
    const promoted = nodes.find((n) => n.id === primaryOf(s2))!;
    expect(await missingKeys(promoted.port, w.acked.map((a) => a.key))).toEqual([]);
    await waitFor('+switch-master published', () => events.some((e) => e.startsWith('+switch-master shard-1 127.0.0.1 ')));
    const n3 = nodes.find((n) => n.id === 'n3')!;
    expect(events).toContain(`+switch-master shard-1 127.0.0.1 ${n3.port} 127.0.0.1 ${promoted.port}`);
    sub.disconnect();
  });

  it('answers the Sentinel protocol as redis-sentinel does for clients and operators', async () => {
    const g = await startGroup(3, { downAfterMs: 400 });
    const [p, r2, r3] = await shard(g);
    const cli = (...args: string[]) => spawnSync('redis-cli', ['-p', String(g.ctls[0]!.port), ...args], { encoding: 'utf8' }).stdout.trim();
    expect(cli('PING')).toBe('PONG');
    expect(cli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'shard-1')).toBe(`127.0.0.1\n${p!.port}`);
    expect(cli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'nope')).toBe('');
    expect(cli('SENTINEL', 'MYID')).toMatch(/^[0-9a-f]{40}$/);
    expect(cli('SENTINEL', 'CKQUORUM', 'shard-1')).toBe('OK 3 usable Sentinels. Quorum and failover authorization can be reached');
    expect(cli('ROLE')).toBe('sentinel\nshard-1');
    const info = cli('INFO', 'sentinel');
    expect(info).toContain('sentinel_masters:1');
    expect(info).toContain(`master0:name=shard-1,status=ok,address=127.0.0.1:${p!.port},slaves=2,sentinels=3`);
    const master = cli('SENTINEL', 'MASTER', 'shard-1').split('\n');
    const m = Object.fromEntries(master.flatMap((v, i) => (i % 2 === 0 ? [[v, master[i + 1]]] : [])));
    expect(m).toMatchObject({ name: 'shard-1', ip: '127.0.0.1', port: String(p!.port), flags: 'master', 'num-slaves': '2', 'num-other-sentinels': '2', quorum: '2' });
    const reps = cli('SENTINEL', 'REPLICAS', 'shard-1');
    expect(reps).toContain(`127.0.0.1:${r2!.port}`);
    expect(reps).toContain(`127.0.0.1:${r3!.port}`);
    expect(cli('SENTINEL', 'SENTINELS', 'shard-1').match(/^sentinel$/gm)?.length).toBe(2);
    expect(cli('SENTINEL', 'MASTERS')).toContain('shard-1');
    // RESP3 (HELLO 3), as node-redis opens every connection.
    const raw = await RawConn.open(g.ctls[1]!.port);
    const hello = (await raw.call('HELLO', '3')) as Map<unknown, unknown>;
    expect(hello.get('mode')).toBe('sentinel');
    const m3 = (await raw.call('SENTINEL', 'MASTER', 'shard-1')) as Map<unknown, unknown>;
    expect(m3).toBeInstanceOf(Map);
    expect(m3.get('name')).toBe('shard-1');
    raw.close();
    // +sdown / +odown when a replica dies.
    const sub = new Redis({ port: g.ctls[2]!.port });
    const events: string[] = [];
    sub.on('pmessage', (_p: string, ch: string, msg: string) => events.push(`${ch} ${msg}`));
    await sub.psubscribe('[-+]?down');
    await kill(r3!);
    await waitFor('+sdown and +odown of the replica... and +sdown only for replicas', () => events.some((e) => e.startsWith(`+sdown slave 127.0.0.1:${r3!.port}`)));
    sub.disconnect();
    const s = await waitFor('the replica marked down', async () => {
      const x = await status(g);
      return x && x.config.nodes.find((n) => n.id === 'n3')?.health === 'down' ? x : null;
    });
    expect(primaryOf(s)).toBe('n1');
    expect(cli('SENTINEL', 'REPLICAS', 'shard-1')).toMatch(/slave,s_down/);
  });

  it('a primary that restarts empty (new run id) is never trusted again: a replica takes over and no data is lost', async () => {
    // down-after long enough that the restart happens before anyone finds the node down.
    const g = await startGroup(3, { downAfterMs: 4000 });
    const nodes = await shard(g);
    const p = nodes[0]!;
    const c = client(p.port);
    const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
    for (const k of keys) await c.set(k, k);
    c.disconnect();
    // Wait until both replicas hold everything.
    await waitFor('replicas in sync', async () => (await Promise.all(nodes.slice(1).map((n) => missingKeys(n.port, keys)))).every((m) => m.length === 0));
    await kill(p);
    const back = await startClusterNode({ id: 'n1', controllers: g.list(), port: p.port, bus: p.bus });
    const s = await waitFor('a replica promoted in place of the restarted primary', async () => {
      const x = await status(g);
      return x && ['n2', 'n3'].includes(primaryOf(x)) ? x : null;
    }, 10000);
    // Well before down-after: the new run id, not the failure detector, triggered it.
    expect(s.config.nodes.find((n) => n.id === 'n1')).toMatchObject({ role: 'replica', health: 'ok' });
    const promoted = nodes.find((n) => n.id === primaryOf(s))!;
    expect(await missingKeys(promoted.port, keys)).toEqual([]);
    // The restarted node refused writes meanwhile and now resyncs as a replica, with the data.
    await waitFor('the restarted node holds the data', async () => (await missingKeys(back.port, keys)).length === 0, 10000);
    const b = client(back.port);
    await expect(b.set('x', '1')).rejects.toThrow(/READONLY/);
    b.disconnect();
    expect(back.output()).not.toMatch(/Flushing old data.*\n.*keys":0/);
  });
});

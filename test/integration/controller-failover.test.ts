/**
 * Failover with real processes: three controllers, one primary and two replicas started
 * with --controllers, a writer in ioredis's sentinel mode writing unique keys without
 * pause; SIGKILL the primary (and, in one test, the controller leader in the middle of
 * the failover). Unavailability is measured and acknowledged writes are counted on the
 * promoted replica: none may be lost with repl-sync-mode sync.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSentinel } from 'redis';
import { callUnary, ControlClients, parseControllers } from '@sonic/controller';
import {
  client,
  kill,
  missingKeys,
  primaryOf,
  sleep,
  startClusterNode,
  startGroup,
  status,
  stopEverything,
  waitFor,
  waitFormed,
  Writer,
  type ClusterProc,
  type Group,
} from './controller-helpers.js';
import { freePort } from './harness.js';

afterEach(async () => {
  await stopEverything();
});

const DOWN_AFTER = 400;

async function shard(g: Group, args: string[] = []): Promise<ClusterProc[]> {
  const p = await startClusterNode({ id: 'n1', controllers: g.list(), args });
  const rs = await Promise.all(['n2', 'n3'].map((id) => startClusterNode({ id, controllers: g.list(), replicaOf: p, args })));
  await waitFormed(g, 'n1', ['n2', 'n3']);
  // The primary accepts writes once its agent holds the configuration.
  const c = client(p.port);
  await waitFor('n1 accepts writes', async () => (await c.set('boot', '1').then(() => true, () => false)));
  c.disconnect();
  // A node registers before it binds its bus port (once configured): one that could not
  // (EADDRINUSE) has exited by now, and a failover would find no replica to follow it.
  await waitFor('n2 and n3 replicate from n1', async () => {
    const r = client(p.port);
    try {
      return (await r.info('replication')).includes('connected_slaves:2');
    } finally {
      r.disconnect();
    }
  });
  for (const n of [p, ...rs]) if (n.child.exitCode !== null || n.child.signalCode !== null) throw new Error(`${n.id} exited:\n${n.output()}`);
  return [p, ...rs];
}

/** Kills the primary under load; returns what the writer saw. */
async function drill(g: Group, nodes: ClusterProc[], w: Writer, killLeader = false) {
  await waitFor('the writer acks', () => w.acked.length > 200, 20000);
  const before = (await status(g))!;
  const leader = g.ctls.find((c) => c.id === before.leader)!;
  const t = Date.now();
  await kill(nodes[0]!);
  if (killLeader) {
    // SIGKILL the leader once it starts failing over (or just before it commits).
    await waitFor('the leader sees the primary objectively down', () => /"msg":"\+odown"/.test(leader.output()) || /\+try-failover/.test(leader.output()), 10000, 2);
    await kill(leader);
  }
  const alive = g.ctls.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
  const after = await waitFor(
    'a replica promoted',
    async () => {
      const s = await status(g, alive[0]);
      return s && ['n2', 'n3'].includes(primaryOf(s)) ? s : null;
    },
    15000,
    50,
  );
  await waitFor('writes resume', () => w.ackedSince(t) > 50, 15000).catch((e: Error) => {
    throw new Error(`${e.message}; writer: ${w.acked.length} acked, ${w.errors} errors, last: ${w.lastError}, ${w.redis.status}\n${nodes.map((n) => `--- ${n.id} (${n.child.exitCode !== null || n.child.signalCode !== null ? `exited ${n.child.exitCode ?? n.child.signalCode}` : 'running'})\n${n.output().split('\n').slice(-15).join('\n')}`).join('\n')}`);
  });
  const gap = w.gapAfter(t);
  await w.stop();
  const promoted = nodes.find((n) => n.id === primaryOf(after))!;
  const acked = w.acked.map((a) => a.key);
  const lost = await missingKeys(promoted.port, acked);
  return { gap, lost, after, promoted, acked, before };
}

describe('controller failover', () => {
  it('SIGKILL of the primary: a replica is promoted, sentinel clients follow, unavailability is bounded (async)', async () => {
    const g = await startGroup(3, { downAfterMs: DOWN_AFTER });
    const nodes = await shard(g);
    // A second writer acknowledges a write only once WAIT 1 confirms a replica has it.
    const waiter = new Writer(g.ctls.map((c) => c.port), 'shard-1', '127.0.0.1', 'wait', true);
    const w = new Writer(g.ctls.map((c) => c.port));
    const r = await drill(g, nodes, w);
    await waiter.stop();
    const waitLost = await missingKeys(r.promoted.port, waiter.acked.map((a) => a.key));
    console.log(`async: unavailable ${r.gap} ms with down-after ${DOWN_AFTER} ms; ${r.acked.length} acked writes, ${r.lost.length} lost; with WAIT 1: ${waiter.acked.length} acked, ${waitLost.length} lost`);
    expect(waiter.acked.length).toBeGreaterThan(50);
    expect(waitLost).toEqual([]);
    expect(r.gap).toBeGreaterThan(0);
    expect(r.gap).toBeLessThan(DOWN_AFTER + 2500);
    // Async replication loses at most what was in flight when the primary died.
    expect(r.lost.length).toBeLessThan(50);
    expect(r.after.config.epoch).toBeGreaterThan(r.before.config.epoch);
    const dead = r.after.config.nodes.find((n) => n.id === 'n1')!;
    expect(dead).toMatchObject({ role: 'replica', health: 'down' });
    // The other replica follows the new primary.
    const other = nodes.find((n) => n.id !== 'n1' && n.id !== r.promoted.id)!;
    await waitFor('the other replica follows the new primary', async () => {
      const c = client(other.port);
      try {
        const info = await c.info('replication');
        return info.includes(`master_port:${r.promoted.port}`) && info.includes('master_link_status:up');
      } finally {
        c.disconnect();
      }
    });
    // Every controller answers the new primary on the Sentinel port.
    for (const c of g.ctls) {
      const s = client(c.port);
      expect(await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'shard-1')).toEqual(['127.0.0.1', String(r.promoted.port)]);
      s.disconnect();
    }
  });

  it('repl-sync-mode sync: no acknowledged write is lost; node-redis in sentinel mode follows too', async () => {
    const g = await startGroup(3, { downAfterMs: DOWN_AFTER });
    const nodes = await shard(g, ['--repl-sync-mode', 'sync', '--repl-sync-timeout', '2000']);
    const nr = createSentinel({ name: 'shard-1', sentinelRootNodes: g.ctls.map((c) => ({ host: '127.0.0.1', port: c.port })) });
    nr.on('error', () => {});
    await nr.connect();
    await nr.set('nr:before', '1');
    const w = new Writer(g.ctls.map((c) => c.port));
    const r = await drill(g, nodes, w);
    console.log(`sync: unavailable ${r.gap} ms with down-after ${DOWN_AFTER} ms; ${r.acked.length} acked writes, ${r.lost.length} lost`);
    expect(r.lost).toEqual([]);
    // node-redis rediscovers the primary (+switch-master / +sdown events, READONLY) and writes there.
    await waitFor('node-redis writes to the new primary', async () => (await nr.set('nr:after', '2').then(() => true, () => false)), 15000, 100);
    const c = client(r.promoted.port);
    expect(await c.get('nr:after')).toBe('2');
    expect(await c.get('nr:before')).toBe('1');
    c.disconnect();
    nr.destroy();
  });

  it('the controller leader is killed during the failover: the others finish it, nothing acknowledged is lost (sync)', async () => {
    const g = await startGroup(3, { downAfterMs: DOWN_AFTER });
    const nodes = await shard(g, ['--repl-sync-mode', 'sync', '--repl-sync-timeout', '2000']);
    const w = new Writer(g.ctls.map((c) => c.port));
    const r = await drill(g, nodes, w, true);
    console.log(`leader killed: unavailable ${r.gap} ms; ${r.acked.length} acked writes, ${r.lost.length} lost`);
    expect(r.lost).toEqual([]);
    expect(r.after.leader).not.toBe(r.before.leader);
    // The two remaining controllers agree on the configuration.
    const alive = g.ctls.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
    expect(alive.length).toBe(2);
    await waitFor('both controllers hold the same configuration', () => {
      const [a, b] = alive.map((c) => {
        const s = client(c.port);
        return s.call('SENTINEL', 'MASTER', 'shard-1').finally(() => s.disconnect()) as Promise<string[]>;
      });
      return Promise.all([a!, b!]).then(([x, y]) => JSON.stringify(x.slice(0, 6)) === JSON.stringify(y.slice(0, 6)) && x.includes(String(r.promoted.port)));
    });
    // The old leader comes back and learns the new configuration.
    const back = await g.start(g.ctls.findIndex((c) => c.id === r.before.leader));
    await waitFor('the restarted controller knows the new primary', async () => {
      const s = client(back.port);
      try {
        const a = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'shard-1')) as string[];
        return a[1] === String(r.promoted.port);
      } finally {
        s.disconnect();
      }
    });
    await sleep(10);
  });

  // A node learns a new configuration from its watch streams and, while it is behind a
  // controller (by a configuration applied there 300 ms ago or more), from that
  // controller's heartbeat replies (before, a reply carried only
  // the epoch and the agent reopened its watches after a second unless any controller
  // answered an older one): a stalled stream costs at most a heartbeat interval.
  it('a heartbeat reply carries the configuration to a node that holds an older epoch, and only then', async () => {
    const g = await startGroup(3, { downAfterMs: DOWN_AFTER });
    await shard(g);
    const cc = new ControlClients(parseControllers(g.list()));
    try {
      for (const ctl of cc.clients) {
        const hb = (epoch: number) =>
          callUnary<{ epoch: number; unknown: boolean; config?: { epoch: number; shards: { id: string; primary: string; replicas: string[] }[] } }>(
            ctl,
            'heartbeat',
            // A probe under an id of its own: the nodes' records stay as they are.
            { nodeId: 'probe', runId: 'probe', role: 'replica', replid: '', offset: 0, linkUp: false, priority: 100, epoch, connectedReplicas: 0, fenced: false },
            3000,
          );
        // Followers apply the last entries a moment after the leader.
        const current = await waitFor('the controller holds the formed shard', async () => {
          const r = await hb(0);
          return r.config?.shards.find((x) => x.id === 'shard-1')?.replicas.length === 2 ? r : null;
        });
        expect(current.unknown).toBe(true);
        expect(current.config!.epoch).toBe(current.epoch);
        expect(current.config!.shards.find((x) => x.id === 'shard-1')).toMatchObject({ primary: 'n1', replicas: ['n2', 'n3'] });
        // A configuration is left to the watches for 300 ms before replies carry it.
        const behind = await waitFor('a reply to a node one epoch behind carries the configuration', async () => {
          const r = await hb(current.epoch - 1);
          return r.config !== undefined ? r : null;
        });
        expect(behind.config!.epoch).toBe(behind.epoch);
        // Up to date: no configuration in the reply (unless the epoch moved on meanwhile,
        // e.g. a replica marked down under load: then the newer one).
        let held = behind.epoch;
        await waitFor('a reply to a node holding the current epoch', async () => {
          const r = await hb(held);
          if (r.epoch === held) return r.config === undefined ? r : Promise.reject(new Error(`epoch ${held} got a configuration`));
          expect(r.config?.epoch).toBe(r.epoch);
          held = r.epoch;
          return null;
        });
      }
    } finally {
      cc.close();
    }
  });
});

// The cause of this file's old intermittent failure (sync case, ~1 CI run in 6): freePort
// gave n3 the bus port of n1, which n1 binds only once configured; n3 exited with
// EADDRINUSE at its first configuration and the promoted primary had no replica to ack.
// The kernel hands a released port out again readily (a few in 300 probes here).
describe('test ports', () => {
  it('freePort never hands out the same port twice in a process', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});

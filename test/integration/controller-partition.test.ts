/**
 * A real partition: the primary runs in its own network namespace (a veth pair to the
 * root namespace, where the controllers, the replicas and the writer are). The link is
 * cut; the primary must stop accepting writes within cluster-node-timeout (CLUSTERDOWN),
 * the controllers promote a replica, and after the link heals the old primary rejoins as
 * a replica and never serves the writes it accepted inside the partition.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeTestHost, netnsAvailable, type TestHost } from './netns.js';
import { client, missingKeys, primaryOf, sleep, startClusterNode, startGroup, status, stopEverything, waitFor, waitFormed, Writer } from './controller-helpers.js';

let host: TestHost | null = null;

afterEach(async () => {
  await stopEverything();
  host?.remove();
  host = null;
});

function veth(h: TestHost): string {
  const r = h.exec('ip', ['-o', 'link', 'show', 'type', 'veth']);
  const m = /^\d+:\s+([^@:\s]+)/m.exec(r.stdout);
  if (!m) throw new Error(`no veth in ${h.ns}: ${r.stdout} ${r.stderr}`);
  return m[1]!;
}

describe.skipIf(!netnsAvailable())('controller: a partitioned primary', () => {
  it('stops accepting writes, is replaced, and its writes from the partition are not served after healing', async () => {
    host = makeTestHost();
    const h = host;
    const g = await startGroup(3, { downAfterMs: 400, bind: '0.0.0.0' });
    const open = ['--protected-mode', 'no'];
    const p = await startClusterNode({ id: 'n1', controllers: g.list(h.hostAddr), netns: { ns: h.ns, host: h.nsAddr }, args: open });
    // The replicas announce the root end of the link, which the namespace can reach.
    const rs = await Promise.all(['n2', 'n3'].map((id) => startClusterNode({ id, controllers: g.list(), replicaOf: p, args: open, host: h.hostAddr })));
    await waitFormed(g, 'n1', ['n2', 'n3']);
    const cli = (...args: string[]) => h.exec('redis-cli', ['-h', h.nsAddr, '-p', String(p.port), ...args]).stdout.trim();
    await waitFor('n1 accepts writes', () => cli('SET', 'before', '1') === 'OK');
    const w = new Writer(g.ctls.map((c) => c.port));
    await waitFor('the writer acks', () => w.acked.length > 100, 10000);

    // Cut the link.
    const dev = veth(h);
    const cut = Date.now();
    expect(h.exec('ip', ['link', 'set', dev, 'down']).status).toBe(0);
    // A client inside the partition keeps writing to the old primary until it refuses.
    const accepted: string[] = [];
    let refusedAt = 0;
    let refusal = '';
    for (let i = 0; Date.now() - cut < 8000; i++) {
      const out = cli('SET', `part:${i}`, 'x');
      if (out === 'OK') accepted.push(`part:${i}`);
      else {
        refusedAt = Date.now();
        refusal = out;
        break;
      }
    }
    console.log(`partition: old primary accepted ${accepted.length} writes, refused after ${refusedAt - cut} ms: ${refusal}`);
    expect(refusal).toMatch(/^CLUSTERDOWN/);
    // cluster-node-timeout is 600 ms (controller-helpers): refused well before the link heals.
    expect(refusedAt - cut).toBeLessThan(600 + 1500);
    expect(cli('GET', 'before')).toBe('1'); // reads are still served
    expect(cli('SET', 'still', 'no')).toMatch(/^CLUSTERDOWN/);

    // Meanwhile the controllers promote a replica and the writer moves there.
    const after = await waitFor('a replica promoted', async () => {
      const s = await status(g);
      return s && ['n2', 'n3'].includes(primaryOf(s)) ? s : null;
    });
    await waitFor('writes resume on the new primary', () => w.ackedSince(cut + 200) > 50, 15000);
    const promoted = rs.find((r) => r.id === primaryOf(after))!;

    // Heal: the old primary learns the newer configuration and resyncs as a replica.
    expect(h.exec('ip', ['link', 'set', dev, 'up']).status).toBe(0);
    await waitFor(
      'the old primary follows the new one',
      () => {
        const info = cli('INFO', 'replication');
        return info.includes('role:slave') && info.includes(`master_port:${promoted.port}`) && info.includes('master_link_status:up');
      },
      20000,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${cli('INFO', 'replication')}\n${p.output().split('\n').slice(-25).join('\n')}`);
    });
    await w.stop();
    const s = (await status(g))!;
    expect(s.config.nodes.find((n) => n.id === 'n1')).toMatchObject({ role: 'replica' });
    // The writes accepted inside the partition exist nowhere now.
    expect(accepted.length).toBeLessThan(5000);
    if (accepted.length > 0) {
      expect((await missingKeys(promoted.port, accepted, promoted.host)).length).toBe(accepted.length);
      for (const k of accepted.slice(0, 20)) expect(cli('GET', k)).toBe('');
    }
    // The old primary holds exactly the new primary's data.
    const c = client(promoted.port, promoted.host);
    await waitFor('same dataset', async () => String(await c.dbsize()) === cli('DBSIZE'), 10000);
    expect(cli('SET', 'x', 'y')).toMatch(/^READONLY/);
    c.disconnect();
    await sleep(10);
  });
});

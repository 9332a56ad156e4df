/**
 * A multi-host cluster on one machine: three controllers, three shards (a primary and a
 * replica each) and a router, every process in its own network namespace behind a bridge
 * (netns-cluster.ts), repl-sync-mode sync. `sonic drill failover --mode partition` cuts
 * shard-1's primary off by setting its link down (--partition-cmd/--heal-cmd) under a
 * workload through the router, and its JSON report must show the failover detected, the
 * unavailability measured and no acknowledged write lost. Needs root and `ip netns`:
 * skipped with a warning elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SONIC } from './harness.js';
import { netnsAvailable } from './netns.js';
import { makeNetwork, startNetCluster, type Net, type NetCluster } from './netns-cluster.js';

const available = netnsAvailable();
if (!available) console.warn('netns-cluster.test.ts skipped: it needs root and iproute2 (`ip netns`) to put each process on its own network namespace host');

let net: Net | null = null;
let cl: NetCluster;

describe.skipIf(!available)('a cluster of hosts in network namespaces', () => {
  beforeAll(async () => {
    net = makeNetwork();
    cl = await startNetCluster(net, { nodeArgs: ['--repl-sync-mode', 'sync'] });
  }, 150000);

  afterAll(async () => {
    await net?.remove();
  });

  it('drill failover --mode partition: the primary link down, failover detected, nothing acknowledged lost', async () => {
    const p1 = cl.nodes.get('p1')!;
    const json = join(net!.tempDir('sonic-ns-drill-'), 'report.json');
    const args = [
      SONIC,
      'drill',
      'failover',
      '--mode',
      'partition',
      '--shard',
      'shard-1',
      '--router',
      `${cl.router.addr}:${cl.router.port}`,
      '--controllers',
      cl.controllers,
      '--partition-cmd',
      `ip link set ${p1.host.link} down`,
      '--heal-cmd',
      `ip link set ${p1.host.link} up`,
      '--partition-time',
      '5000',
      '--duration',
      '14',
      '--warmup',
      '3',
      '--rate',
      '300',
      '--timeout',
      '20',
      '--json',
      json,
    ];
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 80000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve({ code: c, out });
      });
    });
    const rep = JSON.parse(readFileSync(json, 'utf8'));
    expect(code, out).toBe(0);
    expect(rep.mode).toBe('partition');
    expect(rep.replSyncMode).toBe('sync');
    expect(rep.promisesNoLoss).toBe(true);
    expect(rep.target.node).toBe('p1');
    expect(rep.target.address).toBe(`${p1.host.addr}:${p1.port}`);
    // The controllers saw it and promoted the replica.
    expect(rep.newPrimary, out).toBe('r1');
    expect(rep.detectionMs).toBeGreaterThan(0);
    expect(rep.timeline.healedAt).toBeGreaterThan(rep.timeline.eventAt);
    expect(rep.epochAfter).toBeGreaterThan(rep.epochBefore);
    // Writes to shard-1 stopped and came back: a gap was measured, writes went on after.
    expect(rep.unavailableMs).toBeGreaterThan(0);
    expect(rep.latencyMs.write.after.count).toBeGreaterThan(0);
    expect(rep.writes.acknowledged).toBeGreaterThan(100);
    expect(rep.lost.count, out).toBe(0);
    expect(rep.unreadable).toBe(0);
  }, 90000);
});

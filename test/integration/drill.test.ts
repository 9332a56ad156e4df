/**
 * `sonic drill` against a real cluster (three controllers, three shards of a primary and a
 * replica (two for shard-1), repl-sync-mode sync, and a `sonic router`): a reshard drill through ioredis's
 * Cluster client, then a failover drill (SIGKILL of shard-1's primary) through the router.
 * Both run the CLI as a process and check its exit status and JSON report.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SONIC, freePort } from './harness.js';
import { startSonicCluster, slotCounts, type SonicCluster } from './cluster-helpers.js';
import { status, stopEverything, waitForPort } from './controller-helpers.js';

let cl: SonicCluster;
let router: ChildProcess | null = null;
let routerOut = '';
let routerPort = 0;
const dir = mkdtempSync(join(tmpdir(), 'sonic-drill-'));

/** `sonic drill ARGS` without blocking the event loop: exit code, stdout and stderr apart. */
function run(args: string[], timeoutMs = 90000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SONIC, 'drill', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** A drill with --json: its exit code, all its output, and the report (null when it wrote none). */
async function drill(args: string[]): Promise<{ code: number | null; out: string; report: Record<string, any> | null }> {
  const json = join(dir, `report-${Math.random().toString(36).slice(2)}.json`);
  const r = await run([...args, '--json', json]);
  let report = null;
  try {
    report = JSON.parse(readFileSync(json, 'utf8'));
  } catch {
    // No report: the drill failed; the output says why.
  }
  return { code: r.code, out: r.out + r.err, report };
}

beforeAll(async () => {
  // Two replicas for shard-1: in sync mode a write needs a replica's ack, so after the kill
  // shard-1 must still have one to take writes again.
  cl = await startSonicCluster({ args: ['--repl-sync-mode', 'sync'], replicas: [2, 1, 1] });
  routerPort = await freePort();
  router = spawn(process.execPath, [SONIC, 'router', '--port', String(routerPort), '--controllers', cl.g.list()], { stdio: ['ignore', 'pipe', 'pipe'] });
  router.stdout!.on('data', (d: Buffer) => (routerOut += d.toString()));
  router.stderr!.on('data', (d: Buffer) => (routerOut += d.toString()));
  await waitForPort(routerPort, '127.0.0.1', 30000, router, () => routerOut);
}, 60000);

afterAll(async () => {
  if (router && router.exitCode === null && router.signalCode === null) {
    const done = new Promise((r) => router!.once('exit', r));
    router.kill('SIGKILL');
    await done;
  }
  await stopEverything();
  rmSync(dir, { recursive: true, force: true });
});

describe('sonic drill', () => {
  it('refuses bad arguments with one line and exit 1, and --check-config says ok', async () => {
    const [bad, half, ok, none] = await Promise.all([
      run(['failover', '--mode', 'freeze']),
      run(['reshard', '--from', 'shard-1']),
      run(['failover', '--mode', 'partition', '--partition-cmd', 'true', '--heal-cmd', 'true', '--check-config']),
      run(['failover', '--dir', join(dir, 'nothing-here')]),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    expect(bad.err).toContain('--mode');
    expect(half.code).toBe(1);
    expect(ok.code).toBe(0);
    expect(ok.out).toBe('ok\n');
    expect(none.code).toBe(2);
    expect(none.err).toContain('up.json not found');
  });

  it('reshard: moves slots under a cluster-client workload and loses nothing', async () => {
    const before = await slotCounts(cl);
    const r = await drill(['reshard', '--from', 'shard-2', '--to', 'shard-3', '--slots', '200', '--controllers', cl.g.list(), '--client', 'cluster', '--duration', '6', '--warmup', '2', '--rate', '400', '--timeout', '20']);
    expect(r.report, r.out).not.toBeNull();
    const rep = r.report!;
    expect(r.code, r.out).toBe(0);
    expect(rep.drill).toBe('reshard');
    expect(rep.client).toBe('cluster');
    expect(rep.replSyncMode).toBe('sync');
    expect(rep.target.slots).toBe(200);
    expect(rep.writes.acknowledged).toBeGreaterThan(100);
    expect(rep.lost.count, r.out).toBe(0);
    expect(rep.reads.missing, r.out).toBe(0);
    expect(rep.latencyMs.write.before.count).toBeGreaterThan(0);
    expect(rep.latencyMs.write.after.count).toBeGreaterThan(0);
    expect(rep.unavailableMs).toBeTypeOf('number');
    expect(r.out).toContain('acknowledged writes lost');
    const after = await slotCounts(cl);
    expect(after.get('shard-2')).toBe(before.get('shard-2')! - 200);
    expect(after.get('shard-3')).toBe(before.get('shard-3')! + 200);
  });

  it('failover --mode kill: through the router, detects the failover, measures the gap, loses no acknowledged write (sync)', async () => {
    const old = (await status(cl.g))!.config.shards.find((s) => s.id === 'shard-1')!.primary;
    const r = await drill(['failover', '--shard', 'shard-1', '--mode', 'kill', '--router', `127.0.0.1:${routerPort}`, '--controllers', cl.g.list(), '--duration', '8', '--warmup', '2', '--rate', '400', '--timeout', '20']);
    expect(r.report, r.out).not.toBeNull();
    const rep = r.report!;
    expect(r.code, r.out).toBe(0);
    expect(rep.mode).toBe('kill');
    expect(rep.client).toBe('router');
    expect(rep.target.node).toBe(old);
    expect(rep.target.pid).toBe(cl.primaries[0]!.child.pid);
    expect(cl.primaries[0]!.child.exitCode !== null || cl.primaries[0]!.child.signalCode === 'SIGKILL').toBe(true);
    expect(['r1a', 'r1b']).toContain(rep.newPrimary);
    expect(rep.detectionMs).toBeGreaterThan(0);
    expect(rep.failoverMs).toBeGreaterThanOrEqual(rep.detectionMs);
    expect(rep.epochAfter).toBeGreaterThan(rep.epochBefore);
    expect(rep.unavailableMs).toBeGreaterThan(0);
    expect(rep.promisesNoLoss).toBe(true);
    expect(rep.lost.count, r.out).toBe(0);
    expect(rep.writes.acknowledged).toBeGreaterThan(100);
    expect(rep.writes.attempted).toBe(rep.writes.acknowledged + rep.writes.refused + rep.writes.unknown);
    expect(rep.latencyMs.write.before.count).toBeGreaterThan(0);
    expect(rep.latencyMs.write.after.count).toBeGreaterThan(0);
    expect(r.out).toMatch(/detection\s+\d/);
    expect(r.out).toContain('killed');
  });
});

/**
 * `sonic up`: a whole cluster from one command. Starts a small one (2 shards of a primary
 * and a replica, 3 controllers, the router) with --persist in a temporary directory,
 * writes and reads through the router with redis-cli, checks up.json and the plain status
 * view, kills a replica (shown, not restarted; SIGUSR2 starts it again), stops it with
 * SIGTERM and checks that every process it started is gone; then starts it again in the
 * same directory: same ports, same node ids, the data still there, a third `sonic up`
 * there is refused, and after a SIGKILL of `sonic up` the next one stops what it left.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SONIC, freePort, redisCli, tempDir } from './harness.js';
import { waitFor } from './controller-helpers.js';
import type { UpJson } from '../../packages/cli/src/up.js';


interface Up {
  child: ChildProcess;
  out(): string;
  exited: Promise<number | null>;
}

const dir = tempDir('sonic-up-');
// About 15 s each on an idle machine; a whole cluster starting on a starved 2-CPU machine
// (load 30 while every suite runs) took 50 s.
const LOADED = 150000;
const ups: Up[] = [];
const seenPids = new Set<number>();

function startUp(args: string[]): Up {
  const child = spawn(process.execPath, [SONIC, 'up', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SONIC_LOG_LEVEL: 'info' } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const up = { child, out: () => out, exited };
  ups.push(up);
  return up;
}

async function ready(up: Up): Promise<UpJson> {
  await waitFor('sonic up to be ready', () => {
    if (up.child.exitCode !== null) throw new Error(`sonic up exited ${up.child.exitCode}:\n${up.out()}`);
    return up.out().includes('ready: redis-cli -p');
  }, 100000, 100).catch((e: Error) => {
    throw new Error(`${e.message}\n${up.out()}`);
  });
  const j = upJson();
  for (const p of pids(j)) seenPids.add(p);
  return j;
}

function upJson(): UpJson {
  return JSON.parse(readFileSync(join(dir, 'up.json'), 'utf8')) as UpJson;
}

function pids(j: UpJson): number[] {
  return [j.router.pid, ...j.controllerProcs.map((c) => c.pid), ...j.nodes.map((n) => n.pid)].filter((p): p is number => typeof p === 'number');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const u of ups) if (u.child.exitCode === null && u.child.signalCode === null) u.child.kill('SIGKILL');
  // The children run in their own process groups: on a failure, kill them by pid.
  for (const p of seenPids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('sonic up', () => {
  it('--check-config validates the options', () => {
    const ok = spawnSync(process.execPath, [SONIC, 'up', '--check-config', '--shards', '2', '--replicas', '0', '--persist'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe('ok\n');
    const bad = spawnSync(process.execPath, [SONIC, 'up', '--check-config', '--shards', 'many'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("sonic up: --shards must be an integer from 1 to 64, not 'many'\n");
    const even = spawnSync(process.execPath, [SONIC, 'up', '--controllers', '2'], { encoding: 'utf8' });
    expect(even.status).toBe(1);
    expect(even.stderr.trim().split('\n')).toHaveLength(1);
  });

  let first: UpJson;
  const myids = new Map<string, string>();

  it('starts a cluster that redis-cli uses through the router, and stops every process on SIGTERM', async () => {
    const port = await freePort();
    const up = startUp(['--port', String(port), '--shards', '2', '--replicas', '1', '--persist']);
    first = await ready(up);
    expect(first.pid).toBe(up.child.pid);
    expect(first.router).toMatchObject({ host: '127.0.0.1', port });
    expect(first.controllerProcs.map((c) => c.id)).toEqual(['c1', 'c2', 'c3']);
    expect(first.controllers).toBe(first.controllerProcs.map((c) => `127.0.0.1:${c.port}`).join(','));
    expect(first.nodes.map((n) => `${n.id}/${n.shard}`).sort()).toEqual(['s1-p/shard-1', 's1-r1/shard-1', 's2-p/shard-2', 's2-r1/shard-2']);
    expect(first.password).toBeNull();
    expect(pids(first)).toHaveLength(8);
    // Every node is the process up.json names (INFO server: process_id, tcp_port).
    for (const n of first.nodes) {
      const info = redisCli(n.port, ['INFO', 'server']).stdout;
      expect(info).toContain(`process_id:${n.pid}`);
      expect(info).toContain(`tcp_port:${n.port}`);
      myids.set(n.id, redisCli(n.port, ['CLUSTER', 'MYID']).stdout);
    }

    expect(redisCli(port, ['set', 'a', '1']).stdout).toBe('OK');
    expect(redisCli(port, ['get', 'a']).stdout).toBe('1');
    for (let i = 0; i < 50; i++) expect(redisCli(port, ['set', `k${i}`, `v${i}`]).stdout).toBe('OK');

    // The plain view (stdout is not a terminal) shows both shards and their nodes.
    await waitFor('the status view', () => /SHARD\s+SLOTS/.test(up.out()) && up.out().includes('shard-2') && up.out().includes('s2-r1'), 15000, 100);

    // A child that dies is reported and left dead; SIGUSR2 starts it again.
    const victim = first.nodes.find((n) => n.id === 's1-r1')!;
    process.kill(victim.pid!, 'SIGKILL');
    await waitFor('the exit to be reported', () => up.out().includes('s1-r1 killed by SIGKILL'), 10000, 100);
    expect(upJson().nodes.find((n) => n.id === 's1-r1')!.pid).toBeNull();
    up.child.kill('SIGUSR2');
    const again = await waitFor('s1-r1 to run again', () => upJson().nodes.find((n) => n.id === 's1-r1')!.pid, 10000, 100);
    expect(again).not.toBe(victim.pid);
    seenPids.add(again);
    const all = pids(upJson());
    expect(all).toHaveLength(8);

    // Let everyfsync write the AOF, then stop.
    await new Promise((r) => setTimeout(r, 1500));
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(0);
    expect(up.out()).toContain('stopped: every process exited');
    expect(all.filter(alive)).toEqual([]);
  }, LOADED);

  it('a second sonic up in the same directory reuses ports, ids and data; a third one is refused', async () => {
    const up = startUp([]);
    const j = await ready(up);
    expect(up.out()).toContain('reusing the cluster');
    expect(j.router.port).toBe(first.router.port);
    expect(j.controllerProcs.map((c) => c.port)).toEqual(first.controllerProcs.map((c) => c.port));
    expect(j.nodes.map((n) => `${n.id}:${n.port}`)).toEqual(first.nodes.map((n) => `${n.id}:${n.port}`));
    for (const n of j.nodes) expect(redisCli(n.port, ['CLUSTER', 'MYID']).stdout).toBe(myids.get(n.id));
    // --persist was kept: the data is back.
    expect(redisCli(j.router.port, ['get', 'a']).stdout).toBe('1');
    const vals = Array.from({ length: 50 }, (_, i) => redisCli(j.router.port, ['get', `k${i}`]).stdout);
    expect(vals).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`));

    const third = spawnSync(process.execPath, [SONIC, 'up', '--dir', dir], { encoding: 'utf8', timeout: 20000 });
    expect(third.status).toBe(1);
    expect(third.stderr).toMatch(new RegExp(`^sonic up: another sonic up \\(pid ${up.child.pid}\\) runs in `));
    expect(third.stderr.trim().split('\n')).toHaveLength(1);

    // A killed sonic up leaves its children running; the next one in that directory stops
    // them first (here it then refuses a shape the directory does not hold).
    up.child.kill('SIGKILL');
    await up.exited;
    expect(pids(j).filter(alive)).toHaveLength(8);
    const next = spawnSync(process.execPath, [SONIC, 'up', '--dir', dir, '--shards', '3'], { encoding: 'utf8', timeout: 60000 });
    expect(next.status).toBe(1);
    expect(next.stdout.match(/left running by an earlier sonic up/g)).toHaveLength(8);
    expect(next.stderr).toMatch(/^sonic up: .* holds a cluster of 2 shards, 1 replica\(s\) each and 3 controllers \(--shards 3 differs\)/);
    expect(pids(j).filter(alive)).toEqual([]);
  }, LOADED);
});

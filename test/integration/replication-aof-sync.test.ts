/**
 * A replica with appendonly yes that full-syncs rewrites its AOF from the dataset it
 * loaded (as Redis restarts its AOF after a sync): restarted from that AOF, it holds the
 * primary's data, not the data it had before the sync. (Found by `sonic up --persist`:
 * a replica killed and resynced, promoted after a restart, came back without keys.)
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { SONIC, freePort, stopAll, tempDir, waitForPort } from './harness.js';
import { client, info, startNode, waitInSync, waitUntil } from './replication-helpers.js';

const dir = tempDir('sonic-aof-sync-');
const kill: (() => void)[] = [];

afterAll(async () => {
  for (const k of kill) k();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

async function nodeIn(args: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const bus = await freePort();
  let out = '';
  const child = spawn(process.execPath, [SONIC, 'node', '--port', String(port), '--bus-port', String(bus), '--dir', dir, '--appendonly', 'yes', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SONIC_LOG_LEVEL: 'warn' },
  });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  kill.push(() => child.kill('SIGKILL'));
  await waitForPort(port, child, () => out);
  return {
    port,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}

describe('AOF after a full sync', () => {
  it('a resynced replica restarts with the primary data, not its old AOF', async () => {
    const primary = await startNode();
    const p = client(primary);
    await p.set('new', 'from-primary');

    const r1 = await nodeIn([]);
    const c = client({ port: r1.port } as never);
    await c.set('old', 'before-sync');
    await c.call('REPLICAOF', '127.0.0.1', String(primary.port));
    await waitInSync(primary, { port: r1.port } as never);
    expect(await c.get('new')).toBe('from-primary');
    expect(await c.get('old')).toBeNull();
    await waitUntil('the AOF rewrite after the sync', async () => (await info({ port: r1.port } as never, 'persistence')).aof_rewrite_in_progress === '0');
    c.disconnect();
    await r1.stop();

    // The same directory, as a primary: what its AOF holds.
    const r2 = await nodeIn([]);
    const c2 = client({ port: r2.port } as never);
    try {
      expect(await c2.get('new')).toBe('from-primary');
      expect(await c2.get('old')).toBeNull();
    } finally {
      c2.disconnect();
      p.disconnect();
      await r2.stop();
    }
  });
});

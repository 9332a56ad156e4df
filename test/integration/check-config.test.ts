/**
 * `--check-config` of `sonic node`, `sonic controller` and `sonic cluster` (validate, print
 * ok and exit 0, or one line and exit 1, without binding or touching data), and `sonic
 * ping` against real servers (a node with and without a password, redis-server) and, for
 * its error paths, a closed port and a listener that never answers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SONIC, freePort, runSonic, startRedis, startSonic, stopAll, tempDir } from './harness.js';

function sonic(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = { ...process.env };
  for (const k of ['SONIC_PASSWORD', 'REDIS_PASSWORD']) delete clean[k];
  return spawnSync(process.execPath, [SONIC, ...args], { encoding: 'utf8', timeout: 15000, env: { ...clean, ...env } });
}

/** Async variant, for commands that talk to a server this test process runs. */
function sonicAsync(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = { ...process.env };
  for (const k of ['SONIC_PASSWORD', 'REDIS_PASSWORD']) delete clean[k];
  return runSonic(args, { ...clean, ...env }, 15000);
}

function expectOk(args: string[], env: NodeJS.ProcessEnv = {}): void {
  const r = sonic(args, env);
  expect(r.stderr, args.join(' ')).toBe('');
  expect(r.status, args.join(' ')).toBe(0);
  expect(r.stdout).toBe('ok\n');
}

function expectRefused(args: string[], reason: RegExp, env: NodeJS.ProcessEnv = {}): void {
  const r = sonic(args, env);
  expect(r.status, `${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(reason);
}

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) s.close();
  await stopAll();
});

/** A TCP listener on a free port that accepts and never writes (or, with `close`, hangs up at once). */
async function scriptedListener(mode: 'silent' | 'close'): Promise<number> {
  const socks: Socket[] = [];
  const s = createServer((c) => {
    socks.push(c);
    c.on('error', () => {});
    if (mode === 'close') c.destroy();
  });
  s.on('close', () => socks.forEach((c) => c.destroy()));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  return typeof a === 'object' && a ? a.port : 0;
}

describe('sonic node --check-config', () => {
  it('accepts what the deployments pass (DNS names in replicaof, controllers and the announced hostname)', () => {
    expectOk([
      'node',
      '--check-config',
      '--port',
      '6379',
      '--bind',
      '0.0.0.0',
      '--cluster-enabled',
      'yes',
      '--cluster-shard',
      'shard-1',
      '--cluster-node-id',
      's1-r',
      '--cluster-announce-hostname',
      'sonic-node-1b',
      '--replicaof',
      'sonic-node-1a:6379@16379',
      '--controllers',
      'sonic-controller-1:26379,sonic-controller-2:26379,sonic-controller-3:26379',
    ]);
    expectOk(['node', '--check-config'], { SONIC_MAXMEMORY: '256mb', REDIS_MAXMEMORY_POLICY: 'allkeys-lru', SONIC_PASSWORD: 'pw' });
  });

  it('refuses, with one line, what a start would refuse', () => {
    const dir = tempDir();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    expectRefused(['node', '--check-config', '--dir', join(dir, 'missing')], /^sonic: cannot use dir .*missing: ENOENT$/);
    expectRefused(['node', '--check-config', '--dir', file], /^sonic: cannot use dir .*a-file: ENOTDIR$/);
    expectRefused(['node', '--check-config', '--replicaof', 'just-a-host'], /^sonic: replicaof: expected/);
    expectRefused(['node', '--check-config', '--replicaof', 'h:99999'], /^sonic: replicaof: /);
    expectRefused(['node', '--check-config', '--controllers', 'c1:26379,c2:port'], /^sonic: controllers: invalid controller address 'c2:port'/);
    expectRefused(['node', '--check-config', '--port', '60000'], /bus port .* above 65535/);
    expectRefused(['node', '--check-config', '--maxmemory', 'lots'], /maxmemory/);
    expectRefused(['node', '--check-config', '--no-such-setting', '1'], /unknown argument '--no-such-setting'/);
    expectRefused(['node', '--check-config'], /SONIC_MAXMEMORY_POLICY/, { SONIC_MAXMEMORY_POLICY: 'sometimes' });
    const conf = join(dir, 'bad.conf');
    writeFileSync(conf, 'port 7000\nappendfsync never\n');
    expectRefused(['node', '--check-config', '--config', conf], /bad\.conf:2/);
  });

  it('neither binds its port nor touches its directory', async () => {
    const port = await scriptedListener('silent'); // the port is taken: a start would fail
    const dir = tempDir();
    expectOk(['node', '--check-config', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes']);
    expect(readdirSync(dir)).toEqual([]);
    // A real start with the same arguments does fail on the taken port: the check skipped only the start.
    const r = sonic(['node', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot listen on port/);
  });
});

describe('sonic controller --check-config', () => {
  const peers = 'c1=sonic-controller-1:26379,c2=sonic-controller-2:26379,c3=sonic-controller-3:26379';

  it('accepts a group member and does not create its directory', () => {
    const dir = join(tempDir(), 'raft', 'c1');
    expectOk(['controller', '--check-config', '--id', 'c1', '--peers', peers, '--bind', '0.0.0.0', '--dir', dir, '--down-after-milliseconds', '1000', '--metrics-port', '9121']);
    expect(existsSync(dir)).toBe(false);
    expectOk(['controller', '--check-config', '--peers', peers], { SONIC_CONTROLLER_ID: 'c2' });
  });

  it('refuses, with one line, what a start would refuse', () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    expectRefused(['controller', '--check-config', '--peers', peers], /--id is required/);
    expectRefused(['controller', '--check-config', '--id', 'c4', '--peers', peers], /--id c4 is not one of --peers/);
    expectRefused(['controller', '--check-config', '--id', 'c1', '--peers', 'c1=host'], /invalid peer 'c1=host'/);
    expectRefused(['controller', '--check-config', '--id', 'c1', '--peers', peers, '--quorum', '4'], /--quorum must be an integer from 1 to 3/);
    expectRefused(['controller', '--check-config', '--id', 'c1', '--peers', peers, '--dir', join(file, 'below')], /cannot use --dir .*not a directory/);
    expectRefused(['controller', '--check-config', '--id', 'c1', '--peers', peers, '--metrics-port', '36379'], /must differ/);
    expectRefused(['controller', '--check-config', '--id', 'c1', '--peers', peers, '--no-such'], /unknown option '--no-such'/);
  });
});

describe('sonic cluster --check-config', () => {
  it('checks the controllers list', () => {
    expectOk(['cluster', 'create', '--check-config', '--shards', 'shard-1,shard-2,shard-3', '--controllers', 'sonic-controller-1:26379,sonic-controller-2:26379']);
    expectRefused(['cluster', 'create', '--check-config', '--controllers', 'c1:x'], /invalid controller address 'c1:x'/);
    expectRefused(['cluster', 'create', '--check-config', '--bogus'], /unexpected argument '--bogus'/);
  });
});

describe('sonic ping', () => {
  it('PONG from a node with a password: --password, SONIC_PASSWORD or REDIS_PASSWORD', async () => {
    const n = await startSonic(['--requirepass', 's3cret']);
    const p = String(n.port);
    for (const [args, env] of [
      [['--password', 's3cret'], {}],
      [[], { SONIC_PASSWORD: 's3cret' }],
      [[], { REDIS_PASSWORD: 's3cret' }],
    ] as [string[], NodeJS.ProcessEnv][]) {
      const r = await sonicAsync(['ping', '--port', p, ...args], env);
      expect(r, JSON.stringify(args)).toMatchObject({ status: 0, stdout: 'PONG\n', stderr: '' });
    }
    const wrong = await sonicAsync(['ping', '--port', p, '--password', 'nope']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^sonic ping: AUTH failed: WRONGPASS /);
    const none = await sonicAsync(['ping', '--port', p]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^sonic ping: NOAUTH /);
  });

  it('PONG from a server without a password even when one is given (as redis-cli), here redis-server 7', async () => {
    const r7 = await startRedis();
    const r = await sonicAsync(['ping', '--host', '127.0.0.1', '--port', String(r7.port), '--password', 'unused']);
    expect(r).toMatchObject({ status: 0, stdout: 'PONG\n' });
  });

  it('fails on a closed port, a hang-up and a listener that never answers (within --timeout)', async () => {
    const closed = await freePort();
    const c = await sonicAsync(['ping', '--port', String(closed)]);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/ECONNREFUSED/);
    const hang = await sonicAsync(['ping', '--port', String(await scriptedListener('close'))]);
    expect(hang.status).toBe(1);
    expect(hang.stderr).toMatch(/(connection closed before the reply|ECONNRESET)/);
    const silent = await sonicAsync(['ping', '--port', String(await scriptedListener('silent')), '--timeout', '300']);
    expect(silent.status).toBe(1);
    expect(silent.stderr).toMatch(/no reply from 127\.0\.0\.1:\d+ within 300 ms/);
  });

  it('validates its options', () => {
    expectOk(['ping', '--check-config', '--host', 'sonic-router-1', '--port', '6379', '--password', '']);
    expectRefused(['ping', '--port', '0'], /--port must be an integer/);
    expectRefused(['ping', '--timeout', 'soon'], /--timeout must be/);
    expectRefused(['ping', '--verbose'], /unexpected argument '--verbose'/);
    const h = sonic(['ping', '--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/Usage: sonic ping/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { AuthError, oneShot } from './one-shot.js';
import { RespError } from './reply-parser.js';

const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

function listen(onConn: (s: import('node:net').Socket) => void): Promise<{ server: Server; port: number }> {
  return new Promise((res) => {
    const server = createServer(onConn);
    server.listen(0, '127.0.0.1', () => res({ server, port: (server.address() as { port: number }).port }));
  });
}

async function startRedis(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const { server, port } = await listen(() => {});
  await new Promise<void>((r) => server.close(() => r()));
  const proc = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      await oneShot('127.0.0.1', port, ['PING'], { password: args.includes('--requirepass') ? 'pw' : '' });
      return { proc, port };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  proc.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

describe.skipIf(!haveRedis)('oneShot against redis-server', () => {
  let open: { proc: ChildProcess; port: number };
  let locked: { proc: ChildProcess; port: number };
  beforeAll(async () => {
    open = await startRedis([]);
    locked = await startRedis(['--requirepass', 'pw']);
  });
  afterAll(() => {
    open?.proc.kill('SIGKILL');
    locked?.proc.kill('SIGKILL');
  });

  it('returns the reply, and error replies as RespError values', async () => {
    expect(await oneShot('127.0.0.1', open.port, ['PING'])).toBe('PONG');
    expect(await oneShot('127.0.0.1', open.port, ['ECHO', Buffer.from([0, 255])])).toBe('\u0000\u00ff'); // bulk strings as latin1 strings
    const e = await oneShot('127.0.0.1', open.port, ['NOSUCH']);
    expect(e).toBeInstanceOf(RespError);
    expect((e as RespError).message).toMatch(/^ERR unknown command 'NOSUCH'/);
  });

  it('sends AUTH first; a wrong password rejects with AuthError', async () => {
    expect(await oneShot('127.0.0.1', locked.port, ['PING'], { password: 'pw' })).toBe('PONG');
    expect(((await oneShot('127.0.0.1', locked.port, ['PING'])) as RespError).message).toMatch(/^NOAUTH/);
    await expect(oneShot('127.0.0.1', locked.port, ['PING'], { password: 'nope' })).rejects.toBeInstanceOf(AuthError);
    await expect(oneShot('127.0.0.1', locked.port, ['PING'], { password: 'pw', user: 'default' })).resolves.toBe('PONG');
  });

  it('AUTH to a server without a password fails unless allowNoPassword (as redis-cli)', async () => {
    await expect(oneShot('127.0.0.1', open.port, ['PING'], { password: 'x' })).rejects.toThrow(/without any password configured/);
    await expect(oneShot('127.0.0.1', open.port, ['PING'], { password: 'x', allowNoPassword: true })).resolves.toBe('PONG');
  });
});

describe('oneShot failures', () => {
  it('rejects on a refused connection, a hang-up and silence (within the timeout)', async () => {
    const { server: closed, port: closedPort } = await listen(() => {});
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(oneShot('127.0.0.1', closedPort, ['PING'])).rejects.toThrow(/ECONNREFUSED/);
    const hang = await listen((s) => s.destroy());
    const silent = await listen(() => {});
    try {
      await expect(oneShot('127.0.0.1', hang.port, ['PING'])).rejects.toThrow(/connection closed before the reply|ECONNRESET/);
      await expect(oneShot('127.0.0.1', silent.port, ['PING'], { timeoutMs: 200 })).rejects.toThrow(/no reply from 127\.0\.0\.1:\d+ within 200 ms/);
    } finally {
      hang.server.close();
      silent.server.close();
      for (const c of [hang.server, silent.server]) c.unref();
    }
  });
});

/**
 * Connection and buffer limits, each checked on Sonic and on redis-server 7 with the same
 * settings: maxclients, idle timeout, client-output-buffer-limit (normal and pub/sub),
 * client-query-buffer-limit, proto-max-bulk-len, protected mode.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { RawConn, startRedis, startSonic, stopAll, type Proc } from './harness.js';
import { makeTestHost, netnsAvailable } from './netns.js';

afterAll(stopAll);

type Kind = 'sonic' | 'redis';
const KINDS: Kind[] = ['sonic', 'redis'];
const start = (k: Kind, args: string[]): Promise<Proc> => (k === 'sonic' ? startSonic(args) : startRedis(args));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function connect(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = new Socket();
    s.once('connect', () => res(s));
    s.once('error', rej);
    s.connect(port, host);
  });
}

/** Reads everything until the server closes the socket (or `ms` pass). */
function untilClosed(s: Socket, ms = 5000): Promise<{ data: string; closed: boolean }> {
  return new Promise((res) => {
    let data = '';
    const t = setTimeout(() => res({ data, closed: false }), ms);
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(t);
      res({ data, closed: true });
    });
  });
}

async function alive(p: Proc): Promise<void> {
  expect(p.child.exitCode).toBeNull();
  const c = await RawConn.open(p.port);
  expect(await c.call('PING')).toBe('PONG');
  c.close();
}

describe.each(KINDS)('limits (%s)', (kind) => {
  it('maxclients: connection N+1 gets "ERR max number of clients reached" and is closed', async () => {
    const p = await start(kind, ['--maxclients', '3']);
    const conns: RawConn[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await RawConn.open(p.port);
      expect(await c.call('PING')).toBe('PONG');
      conns.push(c);
    }
    const extra = await connect(p.port);
    const got = await untilClosed(extra);
    expect(got).toEqual({ data: '-ERR max number of clients reached\r\n', closed: true });
    // Room again once one leaves.
    conns.pop()!.close();
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      await sleep(50);
      const c = await RawConn.open(p.port);
      const r = await c.read(200).catch(() => null);
      if (r === null) {
        ok = (await c.call('PING')) === 'PONG';
      }
      c.close();
    }
    expect(ok).toBe(true);
    for (const c of conns) c.close();
    await p.stop();
  });

  it('timeout: an idle client is closed, an active one is not', async () => {
    const p = await start(kind, ['--timeout', '1']);
    const idle = await RawConn.open(p.port);
    const busy = await RawConn.open(p.port);
    expect(await idle.call('PING')).toBe('PONG');
    const t0 = Date.now();
    let closedAt = 0;
    for (let i = 0; i < 40 && closedAt === 0; i++) {
      await sleep(100);
      if (i % 3 === 0) expect(await busy.call('PING')).toBe('PONG');
      if (idle.closed) closedAt = Date.now();
    }
    expect(closedAt).toBeGreaterThan(0);
    expect(closedAt - t0).toBeGreaterThanOrEqual(900);
    expect(closedAt - t0).toBeLessThan(3500);
    expect(busy.closed).toBe(false);
    busy.close();
    await p.stop();
  });

  it('client-output-buffer-limit normal: a client reading a value larger than the hard limit is dropped', async () => {
    const p = await start(kind, []);
    const admin = await RawConn.open(p.port);
    expect(await admin.call('SET', 'big', Buffer.alloc(24 * 1024 * 1024, 'x'))).toBe('OK');
    expect(await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', 'normal 1mb 0 0')).toBe('OK');
    const reader = await connect(p.port);
    const done = untilClosed(reader, 8000);
    reader.write('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n');
    const got = await done;
    expect(got.closed).toBe(true);
    expect(got.data.length).toBeLessThan(24 * 1024 * 1024);
    // A small reply is still fine, and the server is alive.
    expect(await admin.call('SET', 'small', 'v')).toBe('OK');
    const r2 = await RawConn.open(p.port);
    expect(await r2.call('GET', 'small')).toBe('v');
    r2.close();
    admin.close();
    await alive(p);
    await p.stop();
  });

  it('client-output-buffer-limit pubsub: a subscriber that does not read is dropped', async () => {
    const p = await start(kind, []);
    const admin = await RawConn.open(p.port);
    expect(await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 1mb 0 0')).toBe('OK');
    const sub = await connect(p.port);
    sub.on('error', () => {});
    sub.write('*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n');
    // Wait for the subscription to count, then stop reading.
    let receivers = 0;
    for (let i = 0; i < 50 && receivers === 0; i++) {
      await sleep(20);
      receivers = (await admin.call('PUBSUB', 'NUMSUB', 'ch') as [string, number])[1];
    }
    expect(receivers).toBe(1);
    sub.pause();
    const msg = Buffer.alloc(256 * 1024, 'm');
    let delivered = -1;
    let sent = 0;
    const deadline = Date.now() + 20_000;
    // The kernel's socket buffers absorb a few MB first; bounded in count and time.
    for (; sent < 400 && Date.now() < deadline; sent++) {
      delivered = (await admin.call('PUBLISH', 'ch', msg)) as number;
      if (delivered === 0) break;
    }
    expect(delivered).toBe(0);
    expect(sent).toBeGreaterThan(0);
    sub.destroy();
    admin.close();
    await alive(p);
    await p.stop();
  });

  it('client-query-buffer-limit 1mb: a client sending a bigger partial command is dropped', async () => {
    const p = await start(kind, ['--client-query-buffer-limit', '1mb']);
    const s = await connect(p.port);
    const done = untilClosed(s, 8000);
    s.write('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10000000\r\n');
    const chunk = Buffer.alloc(256 * 1024, 'q');
    for (let i = 0; i < 12 && !s.destroyed; i++) {
      s.write(chunk);
      await sleep(20);
    }
    const got = await done;
    expect(got.closed).toBe(true);
    expect(got.data).toBe('');
    await alive(p);
    await p.stop();
  });

  it('proto-max-bulk-len 1mb: a bulk of 1mb is fine, one byte more is a protocol error', async () => {
    const p = await start(kind, ['--proto-max-bulk-len', '1mb']);
    const c = await RawConn.open(p.port);
    expect(await c.call('SET', 'k', Buffer.alloc(1024 * 1024, 'a'))).toBe('OK');
    // The header alone (see below: a payload would race the server's close).
    c.write('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$' + (1024 * 1024 + 1) + '\r\n');
    const r = await c.read();
    expect((r as Error).message).toBe('ERR Protocol error: invalid bulk length');
    await c.waitClosed();
    await alive(p);
    await p.stop();
  });

  it('proto-max-bulk-len changed with CONFIG SET applies to connected clients', async () => {
    const p = await start(kind, []);
    const c = await RawConn.open(p.port);
    expect(await c.call('CONFIG', 'SET', 'proto-max-bulk-len', '1mb')).toBe('OK');
    // Only the header: the server refuses it at once and closes; sending the payload too
    // would race the close (unread data turns the close into a reset that can eat the reply).
    c.write('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$' + (1024 * 1024 + 1) + '\r\n');
    expect(((await c.read()) as Error).message).toBe('ERR Protocol error: invalid bulk length');
    await c.waitClosed();
    await p.stop();
  });
});

const canNetns = netnsAvailable();

describe.each(KINDS)('protected mode (%s)', (kind) => {
  // A client on another host: a network namespace this test makes, joined by a veth pair.
  // Without root and iproute2 the test is skipped, and says so in its name.
  const title = canNetns ? 'refuses non-loopback clients without a password' : 'refuses non-loopback clients (SKIPPED: needs root and ip netns)';
  it.skipIf(!canNetns)(title, async () => {
    const host = makeTestHost();
    try {
      const p = await start(kind, ['--bind', '0.0.0.0', '--protected-mode', 'yes']);
      const out = host.exec('redis-cli', ['-h', host.hostAddr, '-p', String(p.port), 'PING']);
      expect(out.stdout + out.stderr).toMatch(/DENIED (Redis|Sonic) is running in protected mode because protected mode is enabled and no password is set for the default user\. In this mode connections are only accepted from the loopback interface\./);
      // Loopback is fine.
      await alive(p);
      // With protected mode off, the remote client is accepted.
      const admin = await RawConn.open(p.port);
      expect(await admin.call('CONFIG', 'SET', 'protected-mode', 'no')).toBe('OK');
      expect(host.exec('redis-cli', ['-h', host.hostAddr, '-p', String(p.port), 'PING']).stdout.trim()).toBe('PONG');
      admin.close();
      await p.stop();
    } finally {
      host.remove();
    }
  });

  it.skipIf(!canNetns)('accepts non-loopback clients when a password is set (they must AUTH)', async () => {
    const host = makeTestHost();
    try {
      const p = await start(kind, ['--bind', '0.0.0.0', '--requirepass', 'secret']);
      const noAuth = host.exec('redis-cli', ['-h', host.hostAddr, '-p', String(p.port), 'PING']);
      expect(noAuth.stdout.trim()).toBe('NOAUTH Authentication required.');
      const ok = host.exec('redis-cli', ['--no-auth-warning', '-a', 'secret', '-h', host.hostAddr, '-p', String(p.port), 'PING']);
      expect(ok.stdout.trim()).toBe('PONG');
      await p.stop();
    } finally {
      host.remove();
    }
  });
});

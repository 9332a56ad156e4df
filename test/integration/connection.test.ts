import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startSonic, startRedis, stopAll, redisCli, RawConn, type Proc } from './harness.js';

function text(v: unknown): string {
  return v instanceof Error ? v.message : String(v);
}

describe('authentication', () => {
  let node: Proc;
  let ref: Proc;
  beforeAll(async () => {
    node = await startSonic(['--requirepass', 's3cret']);
    ref = await startRedis(['--requirepass', 's3cret']);
  });
  afterAll(stopAll);

  it('answers NOAUTH before AUTH and WRONGPASS for a bad password, as redis-server', async () => {
    for (const port of [node.port, ref.port]) {
      const c = await RawConn.open(port);
      try {
        expect(text(await c.call('GET', 'k'))).toBe('NOAUTH Authentication required.');
        // Redis 7.0 answers unknown commands, subcommands and arity before the auth check.
        expect(text(await c.call('NOSUCHCMD', 'a'))).toBe("ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' ");
        expect(text(await c.call('CONFIG', 'NOSUCH'))).toBe("ERR unknown subcommand 'NOSUCH'. Try CONFIG HELP.");
        expect(text(await c.call('GET'))).toBe("ERR wrong number of arguments for 'get' command");
        expect(text(await c.call('AUTH', 'wrong'))).toBe('WRONGPASS invalid username-password pair or user is disabled.');
        expect(text(await c.call('AUTH', 'nobody', 's3cret'))).toBe('WRONGPASS invalid username-password pair or user is disabled.');
        expect(await c.call('AUTH', 's3cret')).toBe('OK');
        expect(await c.call('GET', 'k')).toBe(null);
        expect(await c.call('AUTH', 'default', 's3cret')).toBe('OK');
      } finally {
        c.close();
      }
    }
  });

  it('HELLO 3 AUTH authenticates and switches to RESP3', async () => {
    const c = await RawConn.open(node.port);
    try {
      expect(text(await c.call('HELLO', '3'))).toMatch(/^NOAUTH HELLO must be called with the client already authenticated/);
      expect(text(await c.call('HELLO', '3', 'AUTH', 'default', 'bad'))).toBe('WRONGPASS invalid username-password pair or user is disabled.');
      const hello = (await c.call('HELLO', '3', 'AUTH', 'default', 's3cret', 'SETNAME', 'h3')) as Map<string, unknown>;
      expect(hello).toBeInstanceOf(Map);
      expect(hello.get('proto')).toBe(3);
      expect(hello.get('role')).toBe('master');
      expect(await c.call('CLIENT', 'GETNAME')).toBe('h3');
    } finally {
      c.close();
    }
  });

  it('real clients authenticate with a password', async () => {
    const io = new Redis({ port: node.port, password: 's3cret' });
    const nr = createClient({ socket: { port: node.port, host: '127.0.0.1' }, password: 's3cret' });
    try {
      expect(await io.set('auth-k', 'v')).toBe('OK');
      await nr.connect();
      expect(await nr.get('auth-k')).toBe('v');
      expect(redisCli(node.port, ['-a', 's3cret', '--no-auth-warning', 'get', 'auth-k']).stdout).toBe('v');
      expect(redisCli(node.port, ['get', 'auth-k']).stdout).toMatch(/NOAUTH/);
    } finally {
      io.disconnect();
      if (nr.isOpen) await nr.quit();
    }
  });

  it('CONFIG SET requirepass "" opens the door for everyone connected', async () => {
    const c = await RawConn.open(node.port);
    const admin = await RawConn.open(node.port);
    try {
      await admin.call('AUTH', 's3cret');
      expect(text(await c.call('PING'))).toBe('NOAUTH Authentication required.');
      expect(await admin.call('CONFIG', 'SET', 'requirepass', '')).toBe('OK');
      expect(await c.call('PING')).toBe('PONG');
      expect(text(await c.call('AUTH', 'x'))).toBe(
        'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
      );
      await admin.call('CONFIG', 'SET', 'requirepass', 's3cret');
    } finally {
      c.close();
      admin.close();
    }
  });
});

describe('connection state', () => {
  let node: Proc;
  let ref: Proc;
  beforeAll(async () => {
    node = await startSonic();
    ref = await startRedis();
  });
  afterAll(stopAll);

  it('SELECT reaches 16 databases, each its own keyspace', async () => {
    const c = await RawConn.open(node.port);
    try {
      for (let db = 0; db < 16; db++) {
        expect(await c.call('SELECT', String(db))).toBe('OK');
        await c.call('SET', 'which', String(db));
      }
      for (let db = 0; db < 16; db++) {
        await c.call('SELECT', String(db));
        expect(await c.call('GET', 'which')).toBe(String(db));
      }
      const r = await RawConn.open(ref.port);
      try {
        for (const bad of ['16', '-1', 'abc']) expect(text(await c.call('SELECT', bad)), bad).toBe(text(await r.call('SELECT', bad)));
      } finally {
        r.close();
      }
      await c.call('FLUSHALL');
    } finally {
      c.close();
    }
  });

  it('RESET returns the connection to its initial state', async () => {
    const c = await RawConn.open(node.port);
    try {
      await c.call('HELLO', '3');
      await c.call('SELECT', '4');
      await c.call('CLIENT', 'SETNAME', 'before-reset');
      await c.call('MULTI');
      await c.call('SET', 'r', '1');
      expect(await c.call('RESET')).toBe('RESET');
      expect(await c.call('CLIENT', 'GETNAME')).toBe(null);
      expect(String(await c.call('CLIENT', 'INFO'))).toMatch(/ db=0 .* multi=-1 .*resp=2/);
      await c.call('SELECT', '4');
      expect(await c.call('GET', 'r')).toBe(null);
    } finally {
      c.close();
    }
  });

  it('QUIT answers OK and closes', async () => {
    const c = await RawConn.open(node.port);
    expect(await c.call('QUIT')).toBe('OK');
    await c.waitClosed();
    expect(c.closed).toBe(true);
  });

  it('CLIENT REPLY OFF silences the connection until ON, as in redis-server', async () => {
    const outputs: string[] = [];
    for (const port of [node.port, ref.port]) {
      const c = await RawConn.open(port);
      try {
        c.send('CLIENT', 'REPLY', 'OFF');
        c.send('SET', 'quiet', '1');
        c.send('GET', 'nosuch-cmd-arg', 'extra');
        c.send('CLIENT', 'REPLY', 'SKIP');
        c.send('CLIENT', 'REPLY', 'ON');
        c.send('GET', 'quiet');
        c.send('CLIENT', 'REPLY', 'SKIP');
        c.send('GET', 'quiet');
        c.send('ECHO', 'last');
        expect(await c.read()).toBe('OK');
        expect(await c.read()).toBe('1');
        expect(await c.read()).toBe('last');
        await expect(c.read(200)).rejects.toThrow(/no reply/);
        outputs.push(c.raw.toString('latin1'));
      } finally {
        c.close();
      }
    }
    expect(outputs[0]).toBe(outputs[1]);
  });

  it('PING and ECHO', async () => {
    const c = await RawConn.open(node.port);
    try {
      expect(await c.call('PING')).toBe('PONG');
      expect(await c.call('PING', 'hi')).toBe('hi');
      expect(await c.call('ECHO', 'bin\x00ary')).toBe('bin\x00ary');
    } finally {
      c.close();
    }
  });
});

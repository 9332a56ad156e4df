/**
 * Malformed and hostile input: every case is sent to Sonic and to redis-server 7 on a
 * fresh connection, the bytes each answers and whether it closes the connection are
 * compared, and after each case a client connected from the start still works and the
 * process is alive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { RawConn, startRedis, startSonic, stopAll, type Proc } from './harness.js';

interface Outcome {
  reply: string;
  closed: boolean;
}

/**
 * Writes `data` on a new connection and collects what comes back until the server
 * closes the connection, or `quietMs` pass without new bytes (bounded by `maxMs`).
 */
function exchange(port: number, data: Buffer | string, quietMs = 250, maxMs = 8000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const parts: Buffer[] = [];
    let closed = false;
    let quiet: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (quiet) clearTimeout(quiet);
      clearTimeout(hard);
      s.destroy();
      resolve({ reply: Buffer.concat(parts).toString('latin1'), closed });
    };
    const arm = (): void => {
      if (quiet) clearTimeout(quiet);
      quiet = setTimeout(finish, quietMs);
    };
    const hard = setTimeout(finish, maxMs);
    s.on('data', (d: Buffer) => {
      parts.push(d);
      arm();
    });
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      finish();
    });
    s.connect(port, '127.0.0.1', () => {
      s.write(data, (err) => {
        if (err) reject(err);
      });
      arm();
    });
  });
}

describe('bad input: Sonic answers as redis-server does and stays up', () => {
  let sonic: Proc;
  let redis: Proc;
  let watcher: RawConn;

  beforeAll(async () => {
    [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
    watcher = await RawConn.open(sonic.port);
    expect(await watcher.call('SET', 'watched', 'v')).toBe('OK');
  });
  afterAll(async () => {
    watcher?.close();
    await stopAll();
  });

  async function stillServing(): Promise<void> {
    expect(sonic.child.exitCode).toBeNull();
    expect(sonic.child.signalCode).toBeNull();
    expect(await watcher.call('PING')).toBe('PONG');
    expect(await watcher.call('GET', 'watched')).toBe('v');
  }

  /** Sends the same bytes to both servers; expects identical outcomes. */
  async function same(data: Buffer | string, quietMs?: number): Promise<Outcome> {
    const [s, r] = await Promise.all([exchange(sonic.port, data, quietMs), exchange(redis.port, data, quietMs)]);
    expect(s).toEqual(r);
    await stillServing();
    return s;
  }

  const protocolErrors: [string, string, string][] = [
    ['non-numeric multibulk count', '*abc\r\n', 'invalid multibulk length'],
    ['multibulk count over INT_MAX', '*2147483648\r\n', 'invalid multibulk length'],
    ['simple string where a bulk belongs', '*1\r\n+foo\r\n', "expected '$', got '+'"],
    ['garbage where a bulk belongs', '*2\r\n$3\r\nGET\r\nxyz\r\n', "expected '$', got 'x'"],
    ['negative bulk length', '*1\r\n$-5\r\n', 'invalid bulk length'],
    ['non-numeric bulk length', '*1\r\n$abc\r\n', 'invalid bulk length'],
    ['600 MB bulk header', '*1\r\n$600000000\r\n', 'invalid bulk length'],
    ['bulk one over proto-max-bulk-len', '*1\r\n$536870913\r\n', 'invalid bulk length'],
    ['unbalanced double quotes inline', 'SET "a b\r\n', 'unbalanced quotes in request'],
    ['unbalanced single quotes inline', "SET 'a b\r\n", 'unbalanced quotes in request'],
    ['closing quote not followed by a space', 'SET "a"b c\r\n', 'unbalanced quotes in request'],
  ];
  for (const [name, input, msg] of protocolErrors) {
    it(`${name}: "ERR Protocol error: ${msg}", then closed`, async () => {
      const o = await same(input);
      expect(o).toEqual({ reply: `-ERR Protocol error: ${msg}\r\n`, closed: true });
    });
  }

  it('commands pipelined before a protocol error are answered first', async () => {
    const o = await same('PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n+x\r\n');
    expect(o).toEqual({ reply: "+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n", closed: true });
  });

  it('a 600 MB bulk header is refused before any payload arrives', async () => {
    const c = await RawConn.open(sonic.port);
    c.write('*1\r\n$600000000\r\n');
    const reply = await c.read();
    expect(String((reply as Error).message)).toBe('ERR Protocol error: invalid bulk length');
    await c.waitClosed();
    await stillServing();
  });

  it('a 1 GB multibulk count is accepted and waits for its arguments, as in Redis', async () => {
    const o = await same('*1073741824\r\n$3\r\nSET\r\n');
    expect(o).toEqual({ reply: '', closed: false });
  });

  it('empty and negative multibulk counts and blank lines are ignored', async () => {
    const o = await same('*0\r\n*-1\r\n\r\n\n   \r\nPING\r\n');
    expect(o).toEqual({ reply: '+PONG\r\n', closed: false });
  });

  it('a huge inline line (no newline) gets "too big inline request"', async () => {
    const o = await same(Buffer.alloc(70 * 1024, 'a'));
    expect(o).toEqual({ reply: '-ERR Protocol error: too big inline request\r\n', closed: true });
  });

  it('a huge multibulk count line gets "too big mbulk count string"', async () => {
    const o = await same('*' + '1'.repeat(70 * 1024));
    expect(o).toEqual({ reply: '-ERR Protocol error: too big mbulk count string\r\n', closed: true });
  });

  it('inline commands with quotes and escapes', async () => {
    const o = await same('ECHO "a\\x41\\n\\tb"\r\nECHO \'it\\\'s\'\nPING\n');
    expect(o).toEqual({ reply: "$5\r\naA\n\tb\r\n$4\r\nit's\r\n+PONG\r\n", closed: false });
  });

  it('unknown commands: the same error text, connection kept', async () => {
    const o = await same('*3\r\n$6\r\nFOOBAR\r\n$1\r\na\r\n$0\r\n\r\nNOSUCH x "y z"\r\n*1\r\n$0\r\n\r\n');
    expect(o.closed).toBe(false);
    expect(o.reply).toContain("-ERR unknown command 'FOOBAR', with args beginning with: 'a' '' \r\n");
  });

  it('wrong arity: the same error text, connection kept', async () => {
    const o = await same('*1\r\n$3\r\nGET\r\n*2\r\n$3\r\nSET\r\n$1\r\nk\r\n*4\r\n$3\r\nGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n');
    expect(o.reply).toBe(
      "-ERR wrong number of arguments for 'get' command\r\n-ERR wrong number of arguments for 'set' command\r\n-ERR wrong number of arguments for 'get' command\r\n",
    );
  });

  it('WRONGTYPE: SET a then LPUSH a', async () => {
    const o = await same('*3\r\n$3\r\nSET\r\n$5\r\nwtkey\r\n$1\r\nx\r\n*3\r\n$5\r\nLPUSH\r\n$5\r\nwtkey\r\n$1\r\ny\r\n*2\r\n$3\r\nDEL\r\n$5\r\nwtkey\r\n');
    expect(o.reply).toBe('+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:1\r\n');
  });

  it('binary-safe keys and values with CR, LF and NUL', async () => {
    const c = await RawConn.open(sonic.port);
    const key = Buffer.from([0, 13, 10, 36, 42, 255]);
    const val = Buffer.from('\r\n*1\r\n$4\r\nPING\r\n\0', 'latin1');
    expect(await c.call('SET', key, val)).toBe('OK');
    expect(await c.call('GET', key)).toBe(val.toString('latin1'));
    c.close();
  });

  it('unauthenticated clients get Redis\'s header limits when a password is set', async () => {
    const [s, r] = await Promise.all([startSonic(['--requirepass', 'pw']), startRedis(['--requirepass', 'pw'])]);
    for (const [input, want] of [
      ['*11\r\n', '-ERR Protocol error: unauthenticated multibulk length\r\n'],
      ['*1\r\n$16385\r\n', '-ERR Protocol error: unauthenticated bulk length\r\n'],
    ] as const) {
      const [so, ro] = await Promise.all([exchange(s.port, input), exchange(r.port, input)]);
      expect(so).toEqual(ro);
      expect(so).toEqual({ reply: want, closed: true });
    }
    // After AUTH, the same headers are fine (in one pipelined write).
    const auth = '*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n$4\r\nMGET\r\n' + '$1\r\nk\r\n'.repeat(10);
    const [so, ro] = await Promise.all([exchange(s.port, auth), exchange(r.port, auth)]);
    expect(so).toEqual(ro);
    expect(so.reply.startsWith('+OK\r\n*10\r\n')).toBe(true);
    await Promise.all([s.stop(), r.stop()]);
  });

  it('random garbage bytes do not crash it (200 connections)', async () => {
    const seed = randomBytes(4).readUInt32LE(0);
    let x = seed || 1;
    const rnd = (): number => {
      // xorshift32, seeded and printed so a failure can be replayed
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    const alphabet = Buffer.from('*$+-:\r\n0123456789 "\'\\xPINGSET\0\xff', 'latin1');
    try {
      for (let i = 0; i < 200; i++) {
        const n = 1 + Math.floor(rnd() * 400);
        const b = Buffer.alloc(n);
        for (let j = 0; j < n; j++) b[j] = rnd() < 0.5 ? alphabet[Math.floor(rnd() * alphabet.length)]! : Math.floor(rnd() * 256);
        await exchange(sonic.port, b, 20, 2000);
        if (i % 20 === 0) await stillServing();
      }
      await stillServing();
    } catch (err) {
      throw new Error(`garbage test failed with seed ${seed}: ${(err as Error).message}\n${sonic.output().slice(-2000)}`);
    }
  });

  it('NUL inside an inline command is an ordinary byte (this once looped forever)', async () => {
    const o = await exchange(sonic.port, 'PI\0NG\r\nPING\r\n');
    expect(o.closed).toBe(false);
    expect(o.reply).toBe("-ERR unknown command 'PI\0NG', with args beginning with: \r\n+PONG\r\n");
    await stillServing();
  });

  it('200,000 blank lines in one write do not overflow the stack', async () => {
    const o = await exchange(sonic.port, '\r\n'.repeat(200_000) + 'PING\r\n');
    expect(o).toEqual({ reply: '+PONG\r\n', closed: false });
    await stillServing();
  });
});

/**
 * Integration-test harness: starts real `sonic node` processes (and, for reference,
 * Debian's redis-server) on free loopback ports, and stops them when the test ends,
 * also when it fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ReplyParser, NEED_MORE, encodeCommand, type RespValue } from '@sonic/protocol';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SONIC = join(ROOT, 'packages/cli/dist/main.js');

/**
 * Ports freePort handed out in this process. A port probed free may still be spoken for:
 * a node started with --controllers binds its bus port only once the configuration
 * says what it is, and the kernel readily hands a released port out again. A replica
 * given its primary's still-unbound bus port died with EADDRINUSE when it was
 * configured (controller-failover's sync case, ~1 CI run in 6).
 */
const handedOut = new Set<number>();

/** A port no process listens on now and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        const p = typeof a === 'object' && a ? a.port : 0;
        s.close(() => res(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port that was not handed out already');
}

/** Whether freePort handed `port` out in this process (it may be bound later). */
export function portHandedOut(port: number): boolean {
  return handedOut.has(port);
}

export interface Proc {
  port: number;
  host: string;
  dir: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Whether something accepts connections on host:port now. */
export function portAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise<boolean>((res) => {
    const s = new Socket();
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
    s.connect(port, host);
  });
}

export async function waitForPort(port: number, child: ChildProcess, out: () => string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening:\n${out()}`);
    if (await portAccepts(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not listening after ${ms} ms:\n${out()}`);
}

const running = new Set<Proc>();

function track(child: ChildProcess, port: number, dir: string, cleanupDir: boolean): Proc {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const p: Proc = {
    port,
    host: '127.0.0.1',
    dir,
    child,
    output: () => out,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      running.delete(p);
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await done;
        clearTimeout(timer);
        if (cleanupDir) rmSync(dir, { recursive: true, force: true });
        return code;
      }
      if (cleanupDir) rmSync(dir, { recursive: true, force: true });
      return child.exitCode;
    },
  };
  running.add(p);
  return p;
}

/** Starts `sonic node` with extra flags on a free port; resolves once it accepts connections. */
export async function startSonic(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const port = await freePort();
  // The bus port is picked free too: client port + 10000 may be taken by another suite.
  let bus = await freePort();
  while (bus === port) bus = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sonic-test-'));
  const child = spawn(process.execPath, [SONIC, 'node', '--port', String(port), '--bus-port', String(bus), '--dir', dir, ...args], {
    env: { ...process.env, SONIC_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = track(child, port, dir, true);
  await waitForPort(port, child, p.output);
  return p;
}

export function haveRedisServer(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

/** Starts Debian's redis-server (reference behaviour) on a free port, persistence off. */
export async function startRedis(args: string[] = []): Promise<Proc> {
  if (!haveRedisServer()) throw new Error('redis-server is not installed (apt-get install redis-server); .ci/run installs it');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redis-ref-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = track(child, port, dir, true);
  await waitForPort(port, child, p.output);
  return p;
}

/** Stops every process still running (call from afterAll/afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL')));
}

/** Runs redis-cli with arguments against a port; returns stdout (trimmed of the final newline). */
export function redisCli(port: number, args: string[], input?: string): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { input, encoding: 'latin1', timeout: 20000 });
  if (r.error) throw r.error;
  return { stdout: r.stdout.replace(/\n$/, ''), stderr: r.stderr, status: r.status };
}

/**
 * A raw RESP connection: sends bytes, reads parsed replies. For protocol-level tests
 * and for comparing Sonic's replies with redis-server's byte for byte.
 */
export class RawConn {
  private sock = new Socket();
  private parser = new ReplyParser();
  private queue: RespValue[] = [];
  private waiters: ((v: RespValue) => void)[] = [];
  raw = Buffer.alloc(0);
  closed = false;

  static async open(port: number): Promise<RawConn> {
    const c = new RawConn();
    await new Promise<void>((res, rej) => {
      c.sock.once('connect', () => res());
      c.sock.once('error', rej);
      c.sock.connect(port, '127.0.0.1');
    });
    c.sock.on('data', (d: Buffer) => {
      c.raw = Buffer.concat([c.raw, d]);
      c.parser.push(d);
      for (;;) {
        const v = c.parser.next();
        if (v === NEED_MORE) break;
        const w = c.waiters.shift();
        if (w) w(v);
        else c.queue.push(v);
      }
    });
    c.sock.on('close', () => (c.closed = true));
    c.sock.on('error', () => {});
    return c;
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  send(...args: (string | Buffer)[]): void {
    this.sock.write(encodeCommand(args));
  }

  /** The next reply, or throws after `ms`. */
  read(ms = 5000): Promise<RespValue> {
    const v = this.queue.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((res, rej) => {
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        rej(new Error(`no reply within ${ms} ms`));
      }, ms);
      const w = (x: RespValue) => {
        clearTimeout(t);
        res(x);
      };
      this.waiters.push(w);
    });
  }

  async call(...args: (string | Buffer)[]): Promise<RespValue> {
    this.send(...args);
    return this.read();
  }

  /** Resolves when the server closes the connection (or rejects after ms). */
  waitClosed(ms = 5000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('connection not closed')), ms);
      this.sock.once('close', () => {
        clearTimeout(t);
        res();
      });
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface TranscriptOptions {
  /** FLUSHALL before the commands. */
  flushFirst?: boolean;
  /** Rewrites a reply before it is recorded (e.g. masks generated IDs). */
  mask?: (cmd: string[], reply: string) => string;
}

/**
 * The raw replies of `cmds` sent one by one on a fresh connection (after HELLO 3 when
 * `resp3`), each as `command => reply bytes`: for comparing Sonic with redis-server.
 */
export async function transcript(port: number, cmds: string[][], resp3 = false, o: TranscriptOptions = {}): Promise<string[]> {
  const c = await RawConn.open(port);
  try {
    if (resp3) await c.call('HELLO', '3');
    if (o.flushFirst) await c.call('FLUSHALL');
    const out: string[] = [];
    for (const cmd of cmds) {
      const from = c.raw.length;
      await c.call(...cmd);
      const reply = c.raw.subarray(from).toString('latin1');
      out.push(`${cmd.join(' ')} => ${o.mask ? o.mask(cmd, reply) : reply}`);
    }
    return out;
  } finally {
    c.close();
  }
}

/** A temporary directory removed by the caller. */
export function tempDir(prefix = 'sonic-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Runs `sonic ARGS` to its end without blocking the event loop (for commands that talk to a
 * server this test process runs), with exactly `env` when given (plus PATH), killed after
 * `timeoutMs`.
 */
export function runSonic(args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 30000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [SONIC, ...args], { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      res({ status, stdout, stderr });
    });
  });
}

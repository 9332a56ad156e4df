/**
 * The processes `sonic up` runs: each child of the `sonic` command gets its own
 * directory, its stdout and stderr appended to a log file there (the children log pino
 * JSON), and is stopped with SIGTERM, then SIGKILL after a timeout. Also the port
 * choice (a port P whose bus port P + 10000 is free too) and the clean-up of processes
 * a killed `sonic up` left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `sonic` entry point the children run (this build's main.js). */
export const SONIC_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export type Kind = 'controller' | 'node' | 'router';

export interface ProcSpec {
  id: string;
  kind: Kind;
  port: number;
  dir: string;
  /** A node's shard. */
  shard?: string;
  /** Arguments after `sonic`. */
  args: string[];
}

export class Child {
  child: ChildProcess | null = null;
  /** How the last run ended ('' while it runs or before it started). */
  exit = '';
  exitedAt = 0;
  starts = 0;
  onExit: ((c: Child) => void) | null = null;
  private stopping = false;

  constructor(public spec: ProcSpec) {}

  get log(): string {
    return join(this.spec.dir, 'sonic.log');
  }

  get pid(): number | null {
    return this.running ? (this.child?.pid ?? null) : null;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    mkdirSync(this.spec.dir, { recursive: true });
    const fd = openSync(this.log, 'a');
    try {
      const child = spawn(process.execPath, [SONIC_MAIN, ...this.spec.args], {
        env: { ...process.env, SONIC_LOG_LEVEL: process.env.SONIC_LOG_LEVEL ?? 'info' },
        // A file, not a pipe: the child keeps logging (and running) if `sonic up` dies.
        stdio: ['ignore', fd, fd],
        // Its own process group: a Ctrl-C on the terminal reaches `sonic up` only, which
        // stops the children in order.
        detached: true,
      });
      this.child = child;
      this.exit = '';
      this.stopping = false;
      this.starts++;
      child.on('exit', (code, signal) => {
        this.exit = signal ? `killed by ${signal}` : `exited with ${code}`;
        this.exitedAt = Date.now();
        if (!this.stopping) this.onExit?.(this);
      });
      child.on('error', () => {});
    } finally {
      closeSync(fd);
    }
  }

  /** SIGTERM, then SIGKILL after `ms`; resolves once the process is gone. */
  async stop(ms = 8000): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (!c || !this.running) return;
    await new Promise<void>((res) => {
      c.once('exit', () => res());
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), ms);
      c.once('exit', () => clearTimeout(t));
    });
  }

  /** The last lines of the log (for errors at start). */
  tail(lines = 5): string {
    try {
      return readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

function connects(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((res) => {
    const s = new Socket();
    s.setTimeout(500);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('timeout', () => {
      s.destroy();
      res(false);
    });
    s.once('error', () => res(false));
    s.connect(port, host);
  });
}

/** Waits until the child's port accepts connections; throws (with its log's tail) if it exits or times out. */
export async function waitListening(c: Child, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!c.running) throw new Error(`${c.spec.id} ${c.exit || 'did not start'} (log: ${c.log})${c.tail() ? `\n${c.tail()}` : ''}`);
    if (await connects(c.spec.port)) return;
    await sleep(50);
  }
  throw new Error(`${c.spec.id} not listening on ${c.spec.port} after ${ms / 1000} s (log: ${c.log})`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether nothing listens on `port` (checked on every address, as the children bind loopback). */
export function portFree(port: number): Promise<boolean> {
  if (port < 1 || port > 65535) return Promise.resolve(false);
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '0.0.0.0', () => s.close(() => res(true)));
  });
}

/** The first free port from `from` on (at most 200 tried). */
export async function nextFreePort(from: number, taken: Set<number>): Promise<number> {
  for (let p = from; p < from + 200 && p <= 65535; p++) if (!taken.has(p) && (await portFree(p))) return p;
  throw new Error(`no free port from ${from} to ${Math.min(from + 199, 65535)}`);
}

/**
 * `n` ports P from `from` on such that P and P + 10000 (its bus port) are free and not
 * in `taken`; past 55535 the search wraps to 20000.
 */
export async function freePairs(n: number, from: number, taken: Set<number>): Promise<number[]> {
  const out: number[] = [];
  let p = from > 55535 ? 20000 : from;
  for (let tries = 0; out.length < n; tries++, p++) {
    if (tries > 2000) throw new Error('no free port pairs (P and P + 10000) found');
    if (p > 55535) p = 20000;
    if (taken.has(p) || taken.has(p + 10000)) continue;
    if ((await portFree(p)) && (await portFree(p + 10000))) {
      out.push(p);
      taken.add(p);
      taken.add(p + 10000);
    }
  }
  return out;
}

export function pidAlive(pid: number | null | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a process (Linux /proc), '' when unknown. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/**
 * Stops a process a previous `sonic up` started and left running (it was killed itself):
 * only when that pid still runs `sonic` with `mark` on its command line (its directory;
 * for the router, its --controllers list).
 */
export async function stopLeftover(pid: number, mark: string): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  const cl = cmdline(pid);
  if (!cl.includes(SONIC_MAIN) || !cl.includes(mark)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    for (let i = 0; i < 40 && pidAlive(pid); i++) await sleep(50);
  }
  return true;
}

/**
 * Shared by the controller-*.test.ts files: a controller group (real `sonic controller`
 * processes), nodes started with --controllers, a writer in ioredis's sentinel mode that
 * writes unique keys without pause, and waits on the controllers' status.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ControlClients, parseControllers } from '@sonic/controller';
import { SONIC, freePort, portAccepts, portHandedOut } from './harness.js';

export interface Ctl {
  id: string;
  port: number;
  dir: string;
  child: ChildProcess;
  output(): string;
}

export interface ClusterProc {
  id: string;
  host: string;
  port: number;
  bus: number;
  child: ChildProcess;
  output(): string;
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

function isFree(port: number, host = '0.0.0.0'): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

/** A port P such that P and P + 10000 are free (a controller's RESP and bus ports). */
export async function portPair(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 35000);
    if (portHandedOut(p) || portHandedOut(p + 10000)) continue;
    if ((await isFree(p)) && (await isFree(p + 10000))) return p;
  }
  throw new Error('no free port pair');
}

function capture(child: ChildProcess): () => string {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return () => out;
}

export async function waitForPort(port: number, host = '127.0.0.1', ms = 10000, child?: ChildProcess, out?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before listening:\n${out?.()}`);
    if (await portAccepts(port, host)) return;
    await sleep(30);
  }
  throw new Error(`${host}:${port} not listening after ${ms} ms:\n${out?.()}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface GroupOptions {
  downAfterMs?: number;
  bind?: string;
  extra?: string[];
}

export interface Group {
  ctls: Ctl[];
  peers: string;
  /** host:port list for --controllers (from `host`'s point of view). */
  list(host?: string): string;
  start(i: number): Promise<Ctl>;
  opts: GroupOptions;
}

/** Starts `n` controllers on free port pairs, each with its own dir (kept across restarts). */
export async function startGroup(n = 3, opts: GroupOptions = {}): Promise<Group> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    let p = await portPair();
    while (ports.includes(p)) p = await portPair();
    ports.push(p);
  }
  const peers = ports.map((p, i) => `c${i + 1}=127.0.0.1:${p}`).join(',');
  const g: Group = {
    ctls: [],
    peers,
    opts,
    list: (host = '127.0.0.1') => ports.map((p) => `${host}:${p}`).join(','),
    start: async (i: number) => {
      const id = `c${i + 1}`;
      let dir = g.ctls[i]?.dir;
      if (!dir) {
        dir = mkdtempSync(join(tmpdir(), `sonic-ctl-${id}-`));
        dirs.add(dir);
      }
      const args = [SONIC, 'controller', '--id', id, '--peers', peers, '--dir', dir, '--down-after-milliseconds', String(opts.downAfterMs ?? 400), ...(opts.bind ? ['--bind', opts.bind] : []), ...(opts.extra ?? [])];
      const child = spawn(process.execPath, args, { env: { ...process.env, SONIC_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      child.on('exit', () => children.delete(child));
      const output = capture(child);
      const c: Ctl = { id, port: ports[i]!, dir, child, output };
      g.ctls[i] = c;
      await waitForPort(ports[i]!, '127.0.0.1', 10000, child, output);
      return c;
    },
  };
  await Promise.all(ports.map((_, i) => g.start(i)));
  return g;
}

export interface NodeOptions {
  id: string;
  controllers: string;
  replicaOf?: ClusterProc;
  args?: string[];
  /** Run inside a network namespace (`ip netns exec NS`) listening on `host`. */
  netns?: { ns: string; host: string };
  /** Listen on (and announce) this address instead of 127.0.0.1. */
  host?: string;
  /** Reuse these ports (a restart in place). */
  port?: number;
  bus?: number;
}

/** Starts `sonic node --controllers ...` with a free bus port. */
export async function startClusterNode(o: NodeOptions): Promise<ClusterProc> {
  const host = o.netns?.host ?? o.host ?? '127.0.0.1';
  const port = o.port ?? (await freePort());
  let bus = o.bus ?? (await freePort());
  while (bus === port) bus = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sonic-node-${o.id}-`));
  dirs.add(dir);
  const args = [
    SONIC,
    'node',
    '--port',
    String(port),
    '--bus-port',
    String(bus),
    '--dir',
    dir,
    '--bind',
    host,
    '--controllers',
    o.controllers,
    '--cluster-node-id',
    o.id,
    '--cluster-node-timeout',
    '600',
    '--repl-timeout',
    '2',
    ...(o.replicaOf ? ['--replicaof', `${o.replicaOf.host}:${o.replicaOf.port}@${o.replicaOf.bus}`] : []),
    ...(o.args ?? []),
  ];
  const env = { ...process.env, SONIC_LOG_LEVEL: 'info' };
  const child = o.netns
    ? spawn('ip', ['netns', 'exec', o.netns.ns, process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const output = capture(child);
  // 20 s: a node process can take 5-10 s just to start on a starved 2-CPU machine.
  await waitForPort(port, host, 20000, child, output);
  return { id: o.id, host, port, bus, child, output };
}

export function kill(p: { child: ChildProcess }, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    p.child.once('exit', () => res());
    p.child.kill(sig);
  });
}

/** Stops every process these helpers started and removes their dirs. */
export async function stopEverything(): Promise<void> {
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise<void>((res) => {
          if (c.exitCode !== null || c.signalCode !== null) return res();
          c.once('exit', () => res());
          c.kill('SIGKILL');
        }),
    ),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

export interface Status {
  config: { epoch: number; nodes: { id: string; role: string; health: string; shard: string }[]; shards: { id: string; primary: string; replicas: string[] }[] };
  leader: string;
  term: number;
  nodes: { id: string; role: string; offset: number; sdown: boolean; odown: boolean; fenced: boolean }[];
}

/** The status as a controller answers it (the leader's when it is reachable); null when none answers. */
export async function status(g: Group, only?: Ctl): Promise<Status | null> {
  const cc = new ControlClients(parseControllers(only ? `127.0.0.1:${only.port}` : g.list()));
  try {
    return (await cc.any<Status>('status', {}, 1000)) ?? null;
  } catch {
    return null;
  } finally {
    cc.close();
  }
}

/** `sonic status` (the CLI) against the group. */
export function statusCli(g: Group, json = false): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [SONIC, 'status', ...(json ? ['--json'] : []), '--controllers', g.list()], { encoding: 'utf8', timeout: 10000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 15000, every = 50): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

export function primaryOf(s: Status, shard = 'shard-1'): string {
  return s.config.shards.find((x) => x.id === shard)?.primary ?? '';
}

/** Waits until the group knows the three nodes, with `primary` as the shard's primary and healthy replicas. */
export async function waitFormed(g: Group, primary: string, replicas: string[], ms = 15000): Promise<Status> {
  return waitFor(`shard-1 formed with ${primary} and ${replicas.join(',')}`, async () => {
    const s = await status(g);
    if (!s || s.leader === '') return null;
    const sh = s.config.shards.find((x) => x.id === 'shard-1');
    if (!sh || sh.primary !== primary || [...sh.replicas].sort().join() !== [...replicas].sort().join()) return null;
    return s;
  }, ms, 100);
}

export function client(port: number, host = '127.0.0.1'): Redis {
  const r = new Redis({ port, host, maxRetriesPerRequest: 1, lazyConnect: false });
  r.on('error', () => {});
  return r;
}

/** A sentinel-mode ioredis writer that SETs unique keys one after the other without pause. */
export class Writer {
  readonly redis: Redis;
  readonly acked: { key: string; at: number }[] = [];
  errors = 0;
  lastError = '';
  private running = true;
  private loop: Promise<void>;

  constructor(
    sentinelPorts: number[],
    name = 'shard-1',
    host = '127.0.0.1',
    readonly prefix = 'w',
    /** Count a write as acknowledged only once WAIT 1 says a replica holds it. */
    readonly wait = false,
  ) {
    this.redis = new Redis({
      sentinels: sentinelPorts.map((port) => ({ host, port })),
      name,
      // ioredis's defaults but for quicker retries (the same for Sonic and redis-sentinel).
      sentinelRetryStrategy: () => 50,
      retryStrategy: () => 50,
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      connectTimeout: 1000,
      // A primary cut off by a partition sends nothing: leave it rather than wait for TCP.
      socketTimeout: 1000,
    });
    this.redis.on('error', () => {});
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for (let i = 0; this.running; i++) {
      const key = `${this.prefix}:${i}`;
      try {
        await this.redis.set(key, String(i));
        if (this.wait && (await this.redis.call('WAIT', '1', '1000')) !== 1) continue;
        this.acked.push({ key, at: Date.now() });
      } catch (e) {
        this.errors++;
        this.lastError = (e as Error).message;
        await sleep(5);
      }
    }
  }

  /** Longest time without an acknowledged write after `t` (ms): the failover's unavailability when t is the kill. */
  gapAfter(t: number): number {
    let gap = -1;
    for (let i = 1; i < this.acked.length; i++) {
      const a = this.acked[i - 1]!;
      const b = this.acked[i]!;
      if (b.at > t) gap = Math.max(gap, b.at - a.at);
    }
    return gap;
  }

  ackedSince(t: number): number {
    return this.acked.filter((a) => a.at > t).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.redis.disconnect();
  }
}

/** Keys of `keys` missing on the node at `port` (MGET in chunks). */
export async function missingKeys(port: number, keys: string[], host = '127.0.0.1'): Promise<string[]> {
  const r = client(port, host);
  try {
    const missing: string[] = [];
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const vals = await r.mget(...chunk);
      vals.forEach((v, k) => {
        if (v === null) missing.push(chunk[k]!);
      });
    }
    return missing;
  } finally {
    r.disconnect();
  }
}

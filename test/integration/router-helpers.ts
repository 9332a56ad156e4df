/**
 * Shared by the router-*.test.ts files: `sonic router` in front of a cluster from
 * cluster-helpers.ts (startSonicCluster), on a free port, plus clients of it. Each router
 * runs in its own process group (with --workers N its workers too), which stopRouters()
 * signals as a whole.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis, type RedisOptions } from 'ioredis';
import { createClient } from 'redis';
import { SONIC, freePort, waitForPort } from './harness.js';
import { stopEverything, waitFor } from './controller-helpers.js';
import { keyInShard, startSonicCluster, type SonicCluster, type SonicClusterOptions } from './cluster-helpers.js';

export interface Router {
  port: number;
  host: string;
  child: ChildProcess;
  /** Everything the router wrote to stdout and stderr so far (pino JSON lines). */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const routers = new Set<Router>();

/**
 * startSonicCluster, tried a second time from scratch when the first attempt fails: on a
 * starved 2-CPU machine a node sometimes takes longer than the helpers' 10 s to listen.
 * Call it first in beforeAll (it stops every process of controller-helpers in between).
 */
export async function startCluster(o: SonicClusterOptions = {}): Promise<SonicCluster> {
  try {
    return await startSonicCluster(o);
  } catch (e) {
    console.warn(`cluster start failed, trying once more: ${(e as Error).message.split('\n')[0]}`);
    await stopEverything();
    return startSonicCluster(o);
  }
}

function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, sig);
  } catch {
    /* already gone */
  }
}

export interface RouterOptions {
  /** --requirepass of the router (the readiness probe authenticates with it). */
  password?: string;
  /** Skip the readiness probe (a key of every shard answers through the router). */
  noProbe?: boolean;
}

/**
 * Starts `sonic router --port <free> --controllers <the cluster's>` with extra `args`;
 * resolves once the port listens and a SET of a key of every shard goes through.
 */
export async function startRouter(cl: SonicCluster, args: string[] = [], o: RouterOptions = {}): Promise<Router> {
  const port = await freePort();
  const child = spawn(process.execPath, [SONIC, 'router', '--port', String(port), '--controllers', cl.g.list(), ...args], {
    env: { ...process.env, SONIC_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const r: Router = {
    port,
    host: '127.0.0.1',
    child,
    output: () => out,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      routers.delete(r);
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise<void>((res) => child.once('exit', () => res()));
        signalGroup(child, signal);
        const t = setTimeout(() => signalGroup(child, 'SIGKILL'), 3000);
        await done;
        clearTimeout(t);
      }
      // Workers left behind by a primary that died first.
      signalGroup(child, 'SIGKILL');
    },
  };
  routers.add(r);
  await waitForPort(port, child, r.output, 15000);
  if (!o.noProbe) {
    const c = routerClient(r, { password: o.password, maxRetriesPerRequest: 0 });
    try {
      const keys = Array.from({ length: cl.primaries.length }, (_, i) => keyInShard(i, cl.primaries.length, 'router-probe:'));
      await waitFor(
        'the router routes to every shard',
        async () => {
          for (const k of keys) await c.set(k, '1');
          await c.del(...keys);
          return true;
        },
        20000,
        100,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\nrouter output:\n${out.slice(-3000)}`);
      });
    } finally {
      c.disconnect();
    }
  }
  return r;
}

/** Stops every router (SIGTERM to its process group, SIGKILL after 3 s). */
export async function stopRouters(): Promise<void> {
  await Promise.all([...routers].map((r) => r.stop()));
}

/** A standalone ioredis client of the router (it knows nothing of the cluster). */
export function routerClient(r: Router, opts: RedisOptions = {}): Redis {
  const c = new Redis({ port: r.port, host: r.host, ...opts });
  c.on('error', () => {});
  return c;
}

function nodeRedis(port: number, password?: string) {
  return createClient({ socket: { port, host: '127.0.0.1' }, password });
}
export type NodeRedis = ReturnType<typeof nodeRedis>;

/** Runs `fn` with a connected node-redis client of `port` (createClient, standalone), destroyed afterwards. */
export async function withNodeRedis<T>(port: number, fn: (c: NodeRedis) => Promise<T>, password?: string): Promise<T> {
  const c = nodeRedis(port, password);
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    c.destroy();
  }
}

/** The keys' spread over the shards' slot ranges (even ranges, as `sonic cluster create` assigns). */
export function shardIndex(slot: number, shards = 3): number {
  for (let i = 0; i < shards; i++) if (slot <= Math.round(((i + 1) * 16384) / shards) - 1) return i;
  return shards - 1;
}

/**
 * A workload of a plain client through the router: writers SET unique keys, readers GET
 * keys already acknowledged and check the value. Errors are sorted by kind: a write the
 * router answered with its "outcome unknown" error may or may not have happened (allowed);
 * any other write error, and any read error or wrong value, is a failure of the router.
 */
export class RouterWorkload {
  readonly acked: { key: string; at: number }[] = [];
  readonly unknown: string[] = [];
  readonly writeErrors: string[] = [];
  readonly readErrors: string[] = [];
  reads = 0;
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly clients: Redis[] = [];

  constructor(r: Router, readonly prefix: string, writers = 3, readers = 2) {
    for (let w = 0; w < writers + readers; w++) {
      // No client-side resend or retry: what the router answers is what the test sees.
      const c = routerClient(r, { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, commandTimeout: 20000 });
      this.clients.push(c);
      this.loops.push(w < writers ? this.write(c, w) : this.read(c));
    }
  }

  private async write(c: Redis, w: number): Promise<void> {
    for (let i = 0; this.running; i++) {
      const key = `${this.prefix}:${w}:${i}`;
      try {
        await c.set(key, key);
        this.acked.push({ key, at: Date.now() });
      } catch (e) {
        const m = (e as Error).message;
        if (/outcome unknown/i.test(m)) this.unknown.push(key);
        else this.writeErrors.push(`SET ${key}: ${m}`);
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  }

  private async read(c: Redis): Promise<void> {
    for (let i = 0; this.running; i++) {
      const n = this.acked.length;
      if (n === 0) {
        await new Promise((res) => setTimeout(res, 10));
        continue;
      }
      // Mostly recent keys (they live on every shard), some old ones.
      const key = this.acked[i % 4 === 0 ? (i * 7919) % n : n - 1 - (i % Math.min(n, 200))]!.key;
      try {
        const v = await c.get(key);
        this.reads++;
        // A wrong value: asked again at once, to tell a transient misroute from a loss.
        if (v !== key) this.readErrors.push(`GET ${key} at ${new Date().toISOString()}: ${JSON.stringify(v)}, then ${JSON.stringify(await c.get(key).catch((e: Error) => e.message))}`);
      } catch (e) {
        this.readErrors.push(`GET ${key}: ${(e as Error).message}`);
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  }

  ackedSince(t: number, filter: (key: string) => boolean = () => true): number {
    return this.acked.filter((a) => a.at > t && filter(a.key)).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.clients.forEach((c) => c.disconnect());
  }

  /** Acknowledged keys the cluster does not hold (asked through `get`, e.g. a cluster client). */
  async missing(get: (k: string) => Promise<string | null>): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < this.acked.length; i += 500) {
      const chunk = this.acked.slice(i, i + 500);
      const vals = await Promise.all(chunk.map((a) => get(a.key)));
      vals.forEach((v, j) => v !== chunk[j]!.key && out.push(chunk[j]!.key));
    }
    return out;
  }

  summary(): string {
    return `${this.acked.length} acked SETs, ${this.unknown.length} outcome unknown, ${this.writeErrors.length} other write errors, ${this.reads} GETs, ${this.readErrors.length} read errors`;
  }
}

/**
 * Shared by the cluster-*.test.ts files: a sharded Sonic cluster (three controllers,
 * primaries started with --cluster-enabled yes --cluster-shard shard-N, replicas with
 * --replicaof, then `sonic cluster create`), and a reference Redis 7 cluster
 * (redis-server --cluster-enabled yes joined by `redis-cli --cluster create`) on free
 * ports. The controller helpers stop the Sonic processes, the harness the redis-servers.
 */
import { spawn, spawnSync } from 'node:child_process';
import { Cluster as RedisCluster, Redis, type Cluster } from 'ioredis';
import { SONIC, freePort, startRedis, type Proc } from './harness.js';
import { startClusterNode, startGroup, status, waitFor, type ClusterProc, type Group } from './controller-helpers.js';

export interface SonicCluster {
  g: Group;
  /** Primaries, shard-1 first. */
  primaries: ClusterProc[];
  /** replicas[i] are shard-(i+1)'s replicas. */
  replicas: ClusterProc[][];
  all: ClusterProc[];
  /** The startup nodes for cluster clients. */
  seeds: { host: string; port: number }[];
  epoch: number;
}

export interface SonicClusterOptions {
  shards?: number;
  /** Replicas per shard: one count for all, or one per shard. */
  replicas?: number | number[];
  args?: string[];
  downAfterMs?: number;
}

/** Starts a sharded cluster and waits until every node routes by the final configuration. */
export async function startSonicCluster(o: SonicClusterOptions = {}): Promise<SonicCluster> {
  const shards = o.shards ?? 3;
  const perShard = (i: number) => (Array.isArray(o.replicas) ? (o.replicas[i] ?? 1) : (o.replicas ?? 1));
  // A fenced primary answers CLUSTERDOWN to writes; a loaded 2-CPU machine can starve the
  // heartbeats for the harness's 600 ms, so cluster tests allow more.
  const args = ['--cluster-enabled', 'yes', '--cluster-node-timeout', '3000', ...(o.args ?? [])];
  const g = await startGroup(3, { downAfterMs: o.downAfterMs ?? 1000 });
  // One primary at a time: shard ids follow the node names.
  const primaries: ClusterProc[] = [];
  for (let i = 1; i <= shards; i++) primaries.push(await startClusterNode({ id: `p${i}`, controllers: g.list(), args: [...args, '--cluster-shard', `shard-${i}`] }));
  const replicas = await Promise.all(
    primaries.map((p, i) => Promise.all(Array.from({ length: perShard(i) }, (_, j) => startClusterNode({ id: `r${i + 1}${String.fromCharCode(97 + j)}`, controllers: g.list(), replicaOf: p, args })))),
  );
  await waitFor(
    `${shards} shards formed`,
    async () => {
      const s = await status(g);
      if (!s || s.leader === '') return null;
      return primaries.every((p, i) => {
        const sh = s.config.shards.find((x) => x.id === `shard-${i + 1}`);
        return sh !== undefined && sh.primary === p.id && sh.replicas.length === perShard(i);
      });
    },
    20000,
    100,
  );
  const r = spawnSync(process.execPath, [SONIC, 'cluster', 'create', '--controllers', g.list()], { encoding: 'utf8', timeout: 20000 });
  if (r.status !== 0) throw new Error(`sonic cluster create failed: ${r.stderr}${r.stdout}`);
  const epoch = Number(/epoch (\d+)/.exec(r.stdout)?.[1] ?? 0);
  const all = [...primaries, ...replicas.flat()];
  // Every node holds the configuration and routes by it; primaries take writes.
  await Promise.all(
    all.map(async (n) => {
      const c = new Redis({ port: n.port, host: n.host, lazyConnect: true, maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      try {
        await waitFor(`${n.id} holds epoch ${epoch}`, async () => {
          const info = String(await c.call('CLUSTER', 'INFO'));
          return info.includes('cluster_state:ok') && Number(/cluster_current_epoch:(\d+)/.exec(info)?.[1]) >= epoch;
        }, 15000, 50);
      } finally {
        c.disconnect();
      }
    }),
  );
  await Promise.all(
    primaries.map(async (p, i) => {
      const c = new Redis({ port: p.port, host: p.host, maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      // A key of the primary's own slots (shard i holds the i-th third).
      const key = keyInShard(i, shards);
      try {
        await waitFor(`${p.id} accepts writes`, async () => (await c.set(key, '1').then(() => true, () => false)), 15000, 50);
        await c.del(key);
      } finally {
        c.disconnect();
      }
    }),
  );
  return { g, primaries, replicas, all, seeds: primaries.map((p) => ({ host: p.host, port: p.port })), epoch };
}

/** A key whose slot is in the i-th of n even slot ranges (what `sonic cluster create` assigns). */
export function keyInShard(i: number, n: number, prefix = 'k'): string {
  const lo = Math.round((i * 16384) / n);
  const hi = Math.round(((i + 1) * 16384) / n) - 1;
  for (let k = 0; ; k++) {
    const key = `${prefix}${k}`;
    const s = slotOf(key);
    if (s >= lo && s <= hi) return key;
  }
}

// CRC16/XMODEM with hash tags: a local copy so tests check the node's KEYSLOT independently.
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function slotOf(key: string): number {
  let s = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) s = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const b of Buffer.from(s, 'latin1')) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc & 16383;
}

export interface RedisCluster {
  nodes: Proc[];
  primaries: Proc[];
}

/** A reference Redis 7 cluster: `shards` primaries with `replicas` each, on free ports. */
export async function startRedisCluster(shards = 3, replicas = 1): Promise<RedisCluster> {
  const nodes: Proc[] = [];
  for (let i = 0; i < shards * (replicas + 1); i++) {
    nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-port', String(await freePort()), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']));
  }
  const r = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}${r.stderr}`);
  // Wait until every node sees every range with its replicas.
  for (const n of nodes) {
    const c = new Redis({ port: n.port, lazyConnect: true });
    c.on('error', () => {});
    try {
      await waitFor(`redis ${n.port} sees the whole cluster`, async () => {
        const slots = (await c.call('CLUSTER', 'SLOTS')) as unknown[][];
        const info = String(await c.call('CLUSTER', 'INFO'));
        return info.includes('cluster_state:ok') && slots.length === shards && slots.every((e) => e.length === 3 + replicas);
      }, 20000, 100);
    } finally {
      c.disconnect();
    }
  }
  const primaries: Proc[] = [];
  for (const n of nodes) {
    const c = new Redis({ port: n.port, lazyConnect: true });
    const role = (await c.call('ROLE')) as string[];
    c.disconnect();
    if (role[0] === 'master') primaries.push(n);
  }
  return { nodes, primaries };
}

/** An ioredis `Cluster` that rides through failovers and controller crashes with its own retries. */
export function retryingCluster(seeds: { host: string; port: number }[]): Cluster {
  const io = new RedisCluster(seeds, {
    clusterRetryStrategy: () => 100,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    slotsRefreshTimeout: 1000,
    redisOptions: { connectTimeout: 1000, maxRetriesPerRequest: 2, commandTimeout: 3000 },
  });
  io.on('error', () => {});
  return io;
}

/** `sonic cluster ARGS` without blocking the test's event loop (clients keep running). */
export function clusterCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SONIC, 'cluster', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** Slots per shard, as the controllers hold them. */
export async function slotCounts(cl: SonicCluster): Promise<Map<string, number>> {
  const s = (await status(cl.g))!;
  const m = new Map<string, number>();
  for (const sh of s.config.shards as unknown as { id: string; slots: { start: number; end: number }[] }[]) m.set(sh.id, sh.slots.reduce((n, r) => n + r.end - r.start + 1, 0));
  return m;
}

/**
 * Writers without pause: unique keys, counters and hash fields, recording what was
 * acknowledged. With `stopOnError` a writer stops at its first error (a test that
 * expects none); otherwise it counts the error and goes on with the next write.
 */
export class Load {
  readonly acked: string[] = [];
  readonly counters = new Map<string, number>();
  readonly fields: [string, string][] = [];
  errors: string[] = [];
  /** Errors matching `tolerate`: writes of unknown fate, neither acknowledged nor counted as errors. */
  tolerated: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly set: (k: string, v: string) => Promise<unknown>,
    private readonly incr: (k: string) => Promise<unknown>,
    private readonly hset: (k: string, f: string, v: string) => Promise<unknown>,
    readonly prefix: string,
    workers = 4,
    private readonly stopOnError = true,
    private readonly tolerate: RegExp | null = null,
  ) {
    for (let w = 0; w < workers; w++) this.loops.push(this.run(w));
  }

  private async step<T>(f: () => Promise<T>): Promise<boolean> {
    try {
      await f();
      return true;
    } catch (e) {
      const msg = (e as Error).message;
      if (this.tolerate?.test(msg)) {
        this.tolerated.push(msg);
        return false;
      }
      this.errors.push(msg);
      if (!this.stopOnError) await new Promise((r) => setTimeout(r, 20));
      return false;
    }
  }

  private async run(w: number): Promise<void> {
    for (let i = 0; this.running; i++) {
      const key = `${this.prefix}:${w}:${i}`;
      const counter = `${this.prefix}:ctr:${i % 40}`;
      const h = `${this.prefix}:h:${i % 25}`;
      if (await this.step(() => this.set(key, String(i)))) this.acked.push(key);
      else if (this.mustStop()) return;
      if (await this.step(() => this.incr(counter))) this.counters.set(counter, (this.counters.get(counter) ?? 0) + 1);
      else if (this.mustStop()) return;
      if (await this.step(() => this.hset(h, `${w}:${i}`, 'x'))) this.fields.push([h, `${w}:${i}`]);
      else if (this.mustStop()) return;
    }
  }

  /** After a failed step: stop when it was an error (not a tolerated one) and errors stop the load. */
  private mustStop(): boolean {
    return this.stopOnError && this.errors.length > 0;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** What the loads had acknowledged and the cluster does not hold (counters below their acks included). */
export async function missingFromLoads(io: Cluster, loads: Load[]): Promise<string[]> {
  const missing: string[] = [];
  for (const l of loads) {
    for (let i = 0; i < l.acked.length; i += 500) {
      const chunk = l.acked.slice(i, i + 500);
      const vals = await Promise.all(chunk.map((k) => io.get(k)));
      vals.forEach((v, j) => v === null && missing.push(chunk[j]!));
    }
    for (const [k, n] of l.counters) {
      const v = Number(await io.get(k));
      // Exactly the acknowledged increments when no write failed; never fewer.
      if (v < n || (l.errors.length === 0 && l.tolerated.length === 0 && v !== n)) missing.push(`${k}=${v} (acked ${n})`);
    }
    const byHash = new Map<string, Set<string>>();
    for (const [h, f] of l.fields) byHash.set(h, (byHash.get(h) ?? new Set()).add(f));
    for (const [h, fs] of byHash) {
      const got = new Set(await io.hkeys(h));
      for (const f of fs) if (!got.has(f)) missing.push(`${h}/${f}`);
    }
  }
  return missing;
}

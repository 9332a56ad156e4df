// @sonic/client against ioredis `Cluster` (docs/client.md), on the same 3-shard Sonic
// cluster (3 controllers, 3 primaries with one replica each), in one run:
//  1. throughput: SET then GET of random keys from 50 concurrent callers, auto-pipelining
//     on in both (ioredis enableAutoPipelining: true), interleaved rounds, medians and
//     the ratio @sonic/client / ioredis;
//  2. topology refreshes during the failover of one shard (its primary SIGKILLed) with 50
//     clients of each kind open and a light load on each: @sonic/client with pushed
//     topology (controllers), @sonic/client following the nodes (seeds), ioredis Cluster.
//     Counted on the clients ('topology' / refreshes / ioredis 'refresh' events) and on
//     the nodes (INFO commandstats: CLUSTER SLOTS + CLUSTER SHARDS calls).
// Build first (npx tsc -b). Usage: node bench/client.mjs [rounds=5] [seconds=3] [callers=50]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { Cluster, Redis } from 'ioredis';
import { Client, sharedWatch } from '../packages/client/dist/index.js';
import { DEFAULT_SONIC_MAIN as SONIC, freePort, killAll, sleep, startServer } from './lib.mjs';

const ROUNDS = Number(process.argv[2] ?? 5);
const SECONDS = Number(process.argv[3] ?? 3);
const CALLERS = Number(process.argv[4] ?? 50);
const VALUE = 'v'.repeat(64);
const KEYS = 100000;

/** A sonic process (controller or node) in a scratch dir (its cwd), once it answers PING. */
const sonic = (name, port, args) => startServer(name, process.execPath, [SONIC, ...args], port, { env: { SONIC_LOG_LEVEL: 'warn' }, startTimeoutMs: 60000 });
async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { try { if (await fn()) return; } catch { /* retry */ } await sleep(50); }
  throw new Error(`timed out: ${what}`);
}
const status = (ctl) => JSON.parse(spawnSync(process.execPath, [SONIC, 'status', '--json', '--controllers', ctl], { encoding: 'utf8' }).stdout);

async function sonicCluster() {
  const ports = [await freePort(), await freePort(), await freePort()];
  const buses = [await freePort(), await freePort(), await freePort()];
  const peers = ports.map((p, i) => `c${i + 1}=127.0.0.1:${p}@${buses[i]}`).join(',');
  await Promise.all(ports.map((p, i) => sonic(`c${i + 1}`, p, ['controller', '--id', `c${i + 1}`, '--bus-port', String(buses[i]), '--peers', peers, '--down-after-milliseconds', '1000'])));
  const ctl = ports.map((p, i) => `127.0.0.1:${p}@${buses[i]}`).join(',');
  const nodes = [];
  const start = async (id, extra) => {
    const port = await freePort();
    const bus = await freePort();
    const srv = await sonic(id, port, ['node', '--port', String(port), '--bus-port', String(bus), '--controllers', ctl, '--cluster-enabled', 'yes', '--cluster-node-id', id, '--cluster-node-timeout', '3000', '--save', '', '--appendonly', 'no', ...extra]);
    const n = { id, port, bus, proc: srv.proc };
    nodes.push(n);
    return n;
  };
  const primaries = [];
  for (let i = 1; i <= 3; i++) primaries.push(await start(`p${i}`, ['--cluster-shard', `shard-${i}`]));
  for (let i = 1; i <= 3; i++) await start(`r${i}`, ['--replicaof', `127.0.0.1:${primaries[i - 1].port}@${primaries[i - 1].bus}`]);
  await until('shards formed', async () => status(ctl).config.shards.filter((s) => s.primary && s.replicas.length === 1).length === 3);
  const r = spawnSync(process.execPath, [SONIC, 'cluster', 'create', '--controllers', ctl], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr + r.stdout);
  await until('cluster ok', async () => {
    for (const n of nodes) {
      const c = new Redis({ port: n.port, lazyConnect: true });
      c.on('error', () => {});
      await c.connect();
      const info = await c.call('CLUSTER', 'INFO');
      c.disconnect();
      if (!info.includes('cluster_state:ok')) return false;
    }
    for (const p of primaries) {
      const c = new Redis({ port: p.port });
      c.on('error', () => {});
      const ok = await c.call('CLUSTER', 'SLOTS').then(() => true);
      c.disconnect();
      if (!ok) return false;
    }
    return true;
  });
  await sleep(500);
  return { ctl, nodes, primaries, seeds: primaries.map((p) => ({ host: '127.0.0.1', port: p.port })) };
}

/** CALLERS loops of SET k v; GET k for `ms`: operations per second. */
async function throughput(set, get, ms) {
  let ops = 0;
  let errors = 0;
  const end = Date.now() + ms;
  await Promise.all(Array.from({ length: CALLERS }, async () => {
    while (Date.now() < end) {
      const k = `key:${Math.floor(Math.random() * KEYS)}`;
      try {
        await set(k, VALUE);
        await get(k);
        ops += 2;
      } catch { errors++; }
    }
  }));
  if (errors > 0) console.error(`  ${errors} errors`);
  return (ops * 1000) / ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (n) => Math.round(n).toLocaleString('en-US');

async function clusterCalls(nodes) {
  let n = 0;
  for (const x of nodes) {
    if (x.proc.exitCode !== null || x.proc.signalCode !== null) { n += x.lastCalls ?? 0; continue; }
    const c = new Redis({ port: x.port, lazyConnect: true, retryStrategy: null, maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      await c.connect();
      const info = await c.info('commandstats');
      let k = 0;
      for (const m of info.matchAll(/^cmdstat_cluster\|(slots|shards):calls=(\d+)/gm)) k += Number(m[2]);
      x.lastCalls = k;
      n += k;
    } catch { n += x.lastCalls ?? 0; }
    c.disconnect();
  }
  return n;
}

async function main() {
  console.log(`bench/client: ${CALLERS} callers, SET+GET of ${KEYS} random keys (64 B values), ${ROUNDS} interleaved rounds of ${SECONDS} s; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const cl = await sonicCluster();
  const ours = new Client({ controllers: cl.ctl });
  ours.on('error', () => {});
  await ours.ready();
  const io = new Cluster(cl.seeds, { enableAutoPipelining: true });
  io.on('error', () => {});
  await until('ioredis ready', async () => (await io.set('warm', '1')) === 'OK');
  // Warm-up of both (the JIT, and a cluster that has just started).
  await throughput((k, v) => ours.set(k, v), (k) => ours.get(k), 3000);
  await throughput((k, v) => io.set(k, v), (k) => io.get(k), 3000);
  const results = { sonic: [], ioredis: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['sonic', 'ioredis'] : ['ioredis', 'sonic'];
    for (const who of order) {
      const c = who === 'sonic' ? ours : io;
      const x = await throughput((k, v) => c.set(k, v), (k) => c.get(k), SECONDS * 1000);
      results[who].push(x);
      console.log(`  round ${r + 1} ${who.padEnd(8)} ${fmt(x)} ops/s`);
    }
  }
  const ms = median(results.sonic);
  const mi = median(results.ioredis);
  console.log(`throughput (median): @sonic/client ${fmt(ms)} ops/s, ioredis Cluster ${fmt(mi)} ops/s, ratio ${(ms / mi).toFixed(2)}x`);
  ours.close();
  io.disconnect();

  // ---------------------------------------------------------------- failover refreshes
  const N = 50;
  const pushed = Array.from({ length: N }, () => new Client({ controllers: cl.ctl }));
  const seeded = Array.from({ length: N }, () => new Client({ nodes: cl.seeds.map((s) => `${s.host}:${s.port}`) }));
  // Generous timeouts: 150 clients starting at once on a busy machine.
  const ios = Array.from({ length: N }, () => new Cluster(cl.seeds, { enableAutoPipelining: true, slotsRefreshTimeout: 5000, clusterRetryStrategy: () => 300, redisOptions: { maxRetriesPerRequest: 5, connectTimeout: 10000 } }));
  let ioRefresh = 0;
  let pushedTopo = 0;
  for (const c of [...pushed, ...seeded]) c.on('error', () => {});
  for (const c of ios) { c.on('error', () => {}); c.on('refresh', () => ioRefresh++); }
  await Promise.all([...pushed, ...seeded].map((c) => c.ready()));
  await Promise.all(ios.map((c) => until('ioredis client ready', async () => (await c.set('warm', '1')) === 'OK')));
  const watch = sharedWatch(cl.ctl);
  for (const c of pushed) c.on('topology', () => pushedTopo++);
  const seededBase = seeded.reduce((n, c) => n + c.refreshes, 0);
  const ioBase = ioRefresh;
  const changesBase = watch.changes;
  const callsBase = await clusterCalls(cl.nodes);
  // A light load on every client: one SET to a random key every 20 ms.
  let running = true;
  const errors = { pushed: 0, seeded: 0, ioredis: 0 };
  const kinds = { pushed: {}, seeded: {}, ioredis: {} };
  const loop = (c, kind) => (async () => {
    for (let i = 0; running; i++) {
      try { await c.set(`fo:${kind}:${Math.floor(Math.random() * 1e6)}`, 'x'); } catch (e) { errors[kind]++; kinds[kind][e.name] = (kinds[kind][e.name] ?? 0) + 1; if (process.env.DEBUG_ERRORS) console.log(kind, e.message); }
      await sleep(20);
    }
  })();
  const loops = [...pushed.map((c) => loop(c, 'pushed')), ...seeded.map((c) => loop(c, 'seeded')), ...ios.map((c) => loop(c, 'ioredis'))];
  await sleep(1000);
  const victim = cl.primaries[1];
  const t0 = Date.now();
  victim.proc.kill('SIGKILL');
  await until('replica promoted', async () => status(cl.ctl).config.shards.find((s) => s.id === 'shard-2').primary === 'r2', 30000);
  const promotedMs = Date.now() - t0;
  await sleep(3000);
  running = false;
  await Promise.all(loops);
  const calls = (await clusterCalls(cl.nodes)) - callsBase;
  const seededRefreshes = seeded.reduce((n, c) => n + c.refreshes, 0) - seededBase;
  console.log(`failover of shard-2 (replica promoted after ${promotedMs} ms), ${N} clients of each kind under light load:`);
  console.log(`  @sonic/client, pushed topology: ${watch.changes - changesBase} configuration message(s) to the process over one watch, ${pushedTopo} table updates over ${N} clients, 0 node queries; ${errors.pushed} failed writes ${JSON.stringify(kinds.pushed)}`);
  console.log(`  @sonic/client, seed nodes:      ${seededRefreshes} refreshes (CLUSTER SHARDS) over ${N} clients; ${errors.seeded} failed writes ${JSON.stringify(kinds.seeded)}`);
  console.log(`  ioredis Cluster:                ${ioRefresh - ioBase} refreshes ('refresh' events) over ${N} clients; ${errors.ioredis} failed writes ${JSON.stringify(kinds.ioredis)}`);
  console.log(`  nodes answered ${calls} CLUSTER SLOTS/SHARDS in that window`);
  for (const c of [...pushed, ...seeded]) c.close();
  for (const c of ios) c.disconnect();
  killAll();
  process.exit(0);
}

main().catch((e) => { console.error(e); killAll(); process.exit(1); });

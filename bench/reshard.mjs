// Resharding speed (docs/sharding.md): one slot holding N keys of 1 KB moves from one
// primary to another, idle and under a client load, in Sonic (`sonic cluster reshard`:
// streaming over the bus, writes forwarded) and in a redis-server 7 cluster
// (`redis-cli --cluster reshard`: MIGRATE in batches of --cluster-pipeline keys). Both
// clusters have three primaries without replicas, on this machine, in the same run.
// Reports keys/s and MB/s, the ratio Sonic/Redis, client errors, and the load's p50/p99
// latency during the move against the same load without a move.
// Build first (npx tsc -b). Usage: node bench/reshard.mjs [keys=100000] [pipeline=100]
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { keyHashSlot } from '@sonic/protocol';
import { freePort, sleep } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const SONIC = join(ROOT, 'packages/cli/dist/main.js');
const KEYS = Number(process.argv[2] ?? 100000);
const PIPELINE = Number(process.argv[3] ?? 100);
const VALUE = 'x'.repeat(1024);
const children = new Set();
const dirs = new Set();

const isFree = (port) => new Promise((res) => { const s = createServer(); s.once('error', () => res(false)); s.listen(port, '127.0.0.1', () => s.close(() => res(true))); });
async function portPair() {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 35000);
    if ((await isFree(p)) && (await isFree(p + 10000))) return p;
  }
}
function tmp(prefix) { const d = mkdtempSync(join(tmpdir(), prefix)); dirs.add(d); return d; }
function run(cmd, args, opts = {}) {
  const c = spawn(cmd, args, { stdio: 'ignore', env: { ...process.env, SONIC_LOG_LEVEL: 'warn' }, ...opts });
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}
function killAll() {
  for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ }
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}
process.on('exit', killAll);
process.on('SIGINT', () => { killAll(); process.exit(130); });
async function waitPort(port) {
  for (let i = 0; i < 400; i++) {
    const r = new Redis({ port, lazyConnect: true, retryStrategy: null, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    try { await r.connect(); await r.ping(); r.disconnect(); return; } catch { r.disconnect(); await sleep(25); }
  }
  throw new Error(`port ${port} did not open`);
}
async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { try { if (await fn()) return; } catch { /* retry */ } await sleep(20); }
  throw new Error(`timed out: ${what}`);
}

// The slot of a key as every node computes it (hash tags), to find a tag in a given slot.
const slotOf = keyHashSlot;
function tagFor(slot) { for (let i = 0; ; i++) if (slotOf(`t${i}`) === slot) return `{t${i}}`; }

async function fill(port, tag) {
  const r = new Redis({ port });
  for (let i = 0; i < KEYS; i += 1000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(KEYS, i + 1000); j++) p.set(`${tag}:${j}`, VALUE);
    await p.exec();
  }
  const n = await r.call('CLUSTER', 'COUNTKEYSINSLOT', String(slotOf(tag.slice(1, -1))));
  r.disconnect();
  if (n !== KEYS) throw new Error(`filled ${n} keys, expected ${KEYS}`);
}

/** Four loops of SET/GET on random keys over the whole keyspace (a quarter in the moving slot). */
function load(seeds, tag) {
  const c = new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: 5 } });
  c.on('error', () => {});
  const lat = [];
  let errors = 0;
  let running = true;
  const loops = [0, 1, 2, 3].map(async (w) => {
    for (let i = 0; running; i++) {
      const key = w === 0 ? `${tag}:load:${i % 1000}` : `load:${w}:${i % 5000}`;
      const t = performance.now();
      try {
        if (i % 2 === 0) await c.set(key, 'v');
        else await c.get(key);
        lat.push([Date.now(), performance.now() - t]);
      } catch { errors++; }
    }
  });
  return {
    window(from, to) {
      const xs = lat.filter(([at]) => at >= from && at <= to).map(([, ms]) => ms).sort((a, b) => a - b);
      const q = (p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
      return { n: xs.length, p50: q(0.5), p99: q(0.99), max: xs[xs.length - 1] ?? 0 };
    },
    get errors() { return errors; },
    async stop() { running = false; await Promise.all(loops); c.disconnect(); },
  };
}

async function sonicCluster() {
  const ports = [await portPair(), await portPair(), await portPair()];
  const peers = ports.map((p, i) => `c${i + 1}=127.0.0.1:${p}`).join(',');
  for (let i = 0; i < 3; i++) run(process.execPath, [SONIC, 'controller', '--id', `c${i + 1}`, '--peers', peers, '--dir', tmp('ctl-')]);
  await Promise.all(ports.map(waitPort));
  const ctl = ports.join(',');
  const nodes = [];
  for (let i = 1; i <= 3; i++) {
    const port = await freePort();
    const bus = await freePort();
    run(process.execPath, [SONIC, 'node', '--port', String(port), '--bus-port', String(bus), '--dir', tmp('node-'), '--controllers', ctl, '--cluster-enabled', 'yes', '--cluster-shard', `shard-${i}`, '--cluster-node-id', `p${i}`]);
    await waitPort(port);
    nodes.push(port);
  }
  await until('shards registered', async () => {
    const r = spawnSync(process.execPath, [SONIC, 'status', '--json', '--controllers', ctl], { encoding: 'utf8' });
    return JSON.parse(r.stdout).config.shards.filter((s) => s.primary).length === 3;
  });
  const r = spawnSync(process.execPath, [SONIC, 'cluster', 'create', '--controllers', ctl], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  await until('cluster ok', async () => {
    for (const p of nodes) {
      const c = new Redis({ port: p, lazyConnect: true });
      await c.connect();
      const info = await c.call('CLUSTER', 'INFO');
      const ok = info.includes('cluster_state:ok') && (await c.call('CLUSTER', 'SLOTS')).length === 3 && (await c.set(`probe${p}`, '1').then(() => true, () => true));
      c.disconnect();
      if (!ok) return false;
    }
    return true;
  });
  await sleep(500);
  return {
    seeds: nodes.map((port) => ({ host: '127.0.0.1', port })),
    first: nodes[0],
    // The highest slot of shard-1 is the one `sonic cluster reshard --slots 1` moves.
    slot: 5460,
    move: () => {
      const t = Date.now();
      const m = spawnSync(process.execPath, [SONIC, 'cluster', 'reshard', '--from', 'shard-1', '--to', 'shard-2', '--slots', '1', '--controllers', ctl], { encoding: 'utf8', timeout: 600000 });
      if (m.status !== 0) throw new Error(m.stderr + m.stdout);
      return Date.now() - t;
    },
    moveAsync: () => new Promise((res, rej) => {
      const t = Date.now();
      const c = spawn(process.execPath, [SONIC, 'cluster', 'reshard', '--from', 'shard-2', '--to', 'shard-1', '--slot-list', '5460', '--controllers', ctl], { stdio: 'ignore' });
      c.on('exit', (code) => (code === 0 ? res(Date.now() - t) : rej(new Error(`reshard exited ${code}`))));
    }),
  };
}

async function redisCluster() {
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = tmp('redis-');
    run('redis-server', ['--port', String(port), '--cluster-port', String(await freePort()), '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--dir', dir, '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1']);
    await waitPort(port);
    nodes.push(port);
  }
  const r = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stdout + r.stderr);
  await until('redis cluster ok', async () => {
    for (const p of nodes) {
      const c = new Redis({ port: p, lazyConnect: true });
      await c.connect();
      const ok = (await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok');
      c.disconnect();
      if (!ok) return false;
    }
    return true;
  });
  const ids = [];
  for (const p of nodes) { const c = new Redis({ port: p }); ids.push(await c.call('CLUSTER', 'MYID')); c.disconnect(); }
  const reshard = (from, to) => ['--cluster', 'reshard', `127.0.0.1:${nodes[0]}`, '--cluster-from', ids[from], '--cluster-to', ids[to], '--cluster-slots', '1', '--cluster-yes', '--cluster-pipeline', String(PIPELINE)];
  return {
    seeds: nodes.map((port) => ({ host: '127.0.0.1', port })),
    first: nodes[0],
    // redis-cli --cluster reshard takes the source's lowest slots first.
    slot: 0,
    move: () => {
      const t = Date.now();
      const m = spawnSync('redis-cli', reshard(0, 1), { encoding: 'utf8', timeout: 600000 });
      if (m.status !== 0) throw new Error(m.stdout + m.stderr);
      return Date.now() - t;
    },
    moveAsync: () => new Promise((res, rej) => {
      const t = Date.now();
      const c = spawn('redis-cli', reshard(1, 0), { stdio: 'ignore' });
      c.on('exit', (code) => (code === 0 ? res(Date.now() - t) : rej(new Error(`redis-cli exited ${code}`))));
    }),
  };
}

async function measure(name, make) {
  const cl = await make();
  const tag = tagFor(cl.slot);
  await fill(cl.first, tag);
  const idle = cl.move();
  // Back under load: a baseline window without a move, then the move.
  const l = load(cl.seeds, tag);
  await sleep(1000);
  const b0 = Date.now();
  await sleep(Math.max(1000, Math.min(idle, 10000)));
  const b1 = Date.now();
  const busy = await cl.moveAsync();
  const m1 = Date.now();
  await l.stop();
  const base = l.window(b0, b1);
  const during = l.window(m1 - busy, m1);
  killAll();
  const mb = (KEYS * 1024) / 1e6;
  const row = { name, idleMs: idle, busyMs: busy, idleKps: KEYS / (idle / 1000), idleMBps: mb / (idle / 1000), busyKps: KEYS / (busy / 1000), busyMBps: mb / (busy / 1000), errors: l.errors, base, during };
  console.log(`${name}: idle ${idle} ms (${Math.round(row.idleKps)} keys/s, ${row.idleMBps.toFixed(1)} MB/s); under load ${busy} ms (${Math.round(row.busyKps)} keys/s, ${row.busyMBps.toFixed(1)} MB/s); client errors ${l.errors}; load p50/p99/max ${base.p50.toFixed(2)}/${base.p99.toFixed(2)}/${base.max.toFixed(1)} ms without a move, ${during.p50.toFixed(2)}/${during.p99.toFixed(2)}/${during.max.toFixed(1)} ms during it (${during.n} ops)`);
  return row;
}

const s = await measure('sonic', sonicCluster);
const r = await measure(`redis-server (redis-cli --cluster reshard, pipeline ${PIPELINE})`, redisCluster);
console.log(`\nratio Sonic/Redis keys/s: idle ${(s.idleKps / r.idleKps).toFixed(2)}, under load ${(s.busyKps / r.busyKps).toFixed(2)}; p99 during/without: Sonic ${(s.during.p99 / s.base.p99).toFixed(2)}x, Redis ${(r.during.p99 / r.base.p99).toFixed(2)}x`);
killAll();
process.exit(0);

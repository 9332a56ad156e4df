// Failover drill (docs/failover.md): write unavailability and acknowledged writes lost
// when the primary is SIGKILLed under a writer in ioredis's sentinel mode, for Sonic's
// controllers (async and repl-sync-mode sync) and for Debian's redis-sentinel, with the
// same down-after-milliseconds and the same client settings. Build first (npx tsc -b).
// Usage: node bench/failover.mjs [runs=5] [down-after-ms=1000]
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, sleep } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const SONIC = join(ROOT, 'packages/cli/dist/main.js');
const RUNS = Number(process.argv[2] ?? 5);
const DOWN_AFTER = Number(process.argv[3] ?? 1000);
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
function run(cmd, args) {
  const c = spawn(cmd, args, { stdio: 'ignore', env: { ...process.env, SONIC_LOG_LEVEL: 'warn' } });
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
async function until(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { try { if (await fn()) return; } catch { /* retry */ } await sleep(50); }
  throw new Error(`timed out: ${what}`);
}
process.on('unhandledRejection', (e) => process.stderr.write(`unhandled: ${e?.message ?? e}\n`));

async function call(port, ...args) {
  const r = new Redis({ port, lazyConnect: true, retryStrategy: null, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  try { await r.connect(); return await r.call(...args); } finally { r.disconnect(); }
}

/** The writer: unique keys, one after the other, no pause; the same options for both systems. */
function writer(sentinels, name) {
  const redis = new Redis({
    sentinels: sentinels.map((port) => ({ host: '127.0.0.1', port })),
    name,
    sentinelRetryStrategy: () => 50,
    retryStrategy: () => 50,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 1000,
    socketTimeout: 1000,
  });
  redis.on('error', () => {});
  const acked = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try { await redis.set(`w:${i}`, String(i)); acked.push({ key: `w:${i}`, at: Date.now() }); } catch { await sleep(5); }
    }
  })();
  return {
    acked,
    since: (t) => acked.filter((a) => a.at > t).length,
    gapAfter(t) {
      let gap = -1;
      for (let i = 1; i < acked.length; i++) if (acked[i].at > t) gap = Math.max(gap, acked[i].at - acked[i - 1].at);
      return gap;
    },
    async stop() { running = false; await loop; redis.disconnect(); },
  };
}

async function lost(port, acked) {
  const r = new Redis({ port, maxRetriesPerRequest: 3 });
  r.on('error', () => {});
  let n = 0;
  for (let i = 0; i < acked.length; i += 1000) {
    const chunk = acked.slice(i, i + 1000).map((a) => a.key);
    for (const v of await r.mget(...chunk)) if (v === null) n++;
  }
  r.disconnect();
  return n;
}

/** Both replicas have finished their initial sync (their link is up). */
async function replicasUp(ports) {
  await until('replicas in sync', async () => {
    for (const p of ports) if (!String(await call(p, 'INFO', 'replication')).includes('master_link_status:up')) return false;
    return true;
  });
}

async function drill(sentinelPorts, name, primaryChild, resolvePrimary) {
  const w = writer(sentinelPorts, name);
  await until('writer acks', () => w.acked.length > 500);
  await sleep(300);
  const t = Date.now();
  primaryChild.kill('SIGKILL');
  await until('writes resume', () => w.since(t) > 200, 60000);
  const gap = w.gapAfter(t);
  await w.stop();
  const port = await resolvePrimary();
  return { gap, acked: w.acked.length, lost: await lost(port, w.acked) };
}

async function sonicRun(sync) {
  const ports = [await portPair(), await portPair(), await portPair()];
  const peers = ports.map((p, i) => `c${i + 1}=127.0.0.1:${p}`).join(',');
  for (let i = 0; i < 3; i++) run(process.execPath, [SONIC, 'controller', '--id', `c${i + 1}`, '--peers', peers, '--dir', tmp('ctl-'), '--down-after-milliseconds', String(DOWN_AFTER)]);
  await Promise.all(ports.map(waitPort));
  const ctl = ports.join(',');
  const extra = sync ? ['--repl-sync-mode', 'sync', '--repl-sync-timeout', '3000'] : [];
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const bus = await freePort();
    const args = [SONIC, 'node', '--port', String(port), '--bus-port', String(bus), '--dir', tmp('node-'), '--controllers', ctl, '--cluster-node-id', `n${i + 1}`, '--cluster-node-timeout', String(DOWN_AFTER), ...extra];
    if (i > 0) args.push('--replicaof', `127.0.0.1:${nodes[0].port}@${nodes[0].bus}`);
    nodes.push({ port, bus, child: run(process.execPath, args) });
    await waitPort(port);
  }
  await until('shard formed', async () => {
    const m = await call(ports[0], 'SENTINEL', 'MASTER', 'shard-1');
    return m && m[m.indexOf('num-slaves') + 1] === '2' && (await call(nodes[0].port, 'SET', 'boot', '1')) === 'OK';
  });
  await replicasUp(nodes.slice(1).map((n) => n.port));
  const r = await drill(ports, 'shard-1', nodes[0].child, async () => Number((await call(ports[1], 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'shard-1'))[1]));
  killAll();
  return r;
}

async function redisRun() {
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--dir', tmp('redis-')];
    if (i > 0) args.push('--replicaof', '127.0.0.1', String(nodes[0].port));
    nodes.push({ port, child: run('redis-server', args) });
    await waitPort(port);
  }
  const sports = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = tmp('sentinel-');
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor shard-1 127.0.0.1 ${nodes[0].port} 2`, `sentinel down-after-milliseconds shard-1 ${DOWN_AFTER}`, 'sentinel failover-timeout shard-1 10000', 'sentinel parallel-syncs shard-1 1', ''].join('\n'));
    run('redis-sentinel', [conf]);
    sports.push(port);
    await waitPort(port);
  }
  await until('sentinels and replicas discovered', async () => {
    for (const p of sports) {
      const m = await call(p, 'SENTINEL', 'MASTER', 'shard-1');
      if (m[m.indexOf('num-slaves') + 1] !== '2' || m[m.indexOf('num-other-sentinels') + 1] !== '2') return false;
    }
    return true;
  }, 60000);
  await replicasUp(nodes.slice(1).map((n) => n.port));
  const r = await drill(sports, 'shard-1', nodes[0].child, async () => Number((await call(sports[1], 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'shard-1'))[1]));
  killAll();
  return r;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const haveSentinel = spawnSync('redis-sentinel', ['--version']).status === 0;
const results = { 'sonic async': [], 'sonic sync': [], ...(haveSentinel ? { 'redis-sentinel': [] } : {}) };
async function attempt(what, fn) {
  for (let k = 0; ; k++) {
    try {
      return await fn();
    } catch (e) {
      killAll();
      process.stderr.write(`${what}: ${e.message}${k < 2 ? ' (retrying the run)' : ''}\n`);
      if (k >= 2) throw e;
    }
  }
}
for (let i = 0; i < RUNS; i++) {
  results['sonic async'].push(await attempt('sonic async', () => sonicRun(false)));
  results['sonic sync'].push(await attempt('sonic sync', () => sonicRun(true)));
  if (haveSentinel) results['redis-sentinel'].push(await attempt('redis-sentinel', redisRun));
  process.stderr.write(`run ${i + 1}/${RUNS} done\n`);
}
console.log(`Failover drill: SIGKILL of the primary, down-after-milliseconds ${DOWN_AFTER}, ${RUNS} runs, ioredis sentinel-mode writer`);
console.log('system            unavailable ms (median; runs)                 acked writes lost (per run)');
for (const [k, rs] of Object.entries(results)) {
  console.log(`${k.padEnd(17)} ${String(median(rs.map((r) => r.gap))).padStart(5)}  (${rs.map((r) => r.gap).join(', ')})`.padEnd(64) + rs.map((r) => `${r.lost}/${r.acked}`).join(', '));
}
if (!haveSentinel) console.log('redis-sentinel is not installed (apt-get install redis-sentinel): no comparison');
killAll();
process.exit(0);

// Replication benchmark (docs/replication.md): full-sync throughput for 1M keys, the
// primary's p99/max latency during it, replication lag under redis-benchmark -P 16, and
// SET rps with 0 vs 2 replicas and in sync mode. Build first (npx tsc -b).
// Usage: node bench/replication.mjs [keys=1000000]
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';

const ROOT = resolve(import.meta.dirname, '..');
const SONIC = join(ROOT, 'packages/cli/dist/main.js');
const KEYS = Number(process.argv[2] ?? 1_000_000);
const procs = [];

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function node(args = []) {
  const port = await freePort();
  const bus = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sonic-bench-'));
  const child = spawn(process.execPath, [SONIC, 'node', '--port', String(port), '--bus-port', String(bus), '--dir', dir, '--save', '', ...args], { stdio: 'ignore', env: { ...process.env, SONIC_LOG_LEVEL: 'warn' } });
  const n = { port, bus, child, dir };
  procs.push(n);
  for (let i = 0; i < 200; i++) {
    try { const r = new Redis({ port, lazyConnect: true, retryStrategy: null }); r.on('error', () => {}); await r.connect(); await r.ping(); r.disconnect(); return n; } catch { await sleep(50); }
  }
  throw new Error('node did not start');
}
const replicaOf = (p, args = []) => node(['--replicaof', `127.0.0.1:${p.port}@${p.bus}`, ...args]);
async function info(p, section = 'replication') {
  const r = new Redis({ port: p.port }); const t = await r.info(section); r.disconnect();
  return Object.fromEntries(t.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
}
async function inSync(p, r, ms = 300000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const [a, b] = await Promise.all([info(p), info(r)]);
    if (b.master_link_status === 'up' && a.master_repl_offset === b.slave_repl_offset) return;
    await sleep(20);
  }
  throw new Error('replica not in sync');
}
function benchSet(port, extra = []) {
  const out = spawnSync('redis-benchmark', ['-p', String(port), '-t', 'set', '-n', '200000', '-c', '50', '-r', '100000', '-q', ...extra], { encoding: 'utf8' }).stdout;
  const m = /SET: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
  return m ? Number(m[1]) : NaN;
}
const stopAll = () => { for (const p of procs.splice(0)) { p.child.kill('SIGKILL'); rmSync(p.dir, { recursive: true, force: true }); } };

try {
  // 1. Full sync of KEYS keys, with a probe measuring the primary's latency.
  const primary = await node();
  const c = new Redis({ port: primary.port });
  for (let base = 0; base < KEYS; base += 20000) {
    const pl = c.pipeline();
    for (let i = base; i < Math.min(KEYS, base + 20000); i++) pl.set(`key:${i}`, `value:${i}:xxxxxxxxxxxxxxxx`);
    await pl.exec();
  }
  const probe = new Redis({ port: primary.port });
  await probe.ping();
  let stop = false; const lat = [];
  const probing = (async () => { for (let i = 0; !stop; i++) { const t = performance.now(); await probe.set(`probe:${i % 1000}`, 'x'); lat.push(performance.now() - t); } })();
  const t0 = performance.now();
  const r1 = await replicaOf(primary);
  await inSync(primary, r1);
  const syncMs = performance.now() - t0;
  stop = true; await probing;
  const st = await info(primary, 'stats');
  const rdbBytes = Number(st.total_net_repl_output_bytes);
  lat.sort((a, b) => a - b);
  console.log(`full sync: ${KEYS} keys in ${(syncMs / 1000).toFixed(2)} s (incl. replica process start) = ${Math.round(KEYS / (syncMs / 1000))} keys/s, ${(rdbBytes / 1e6 / (syncMs / 1000)).toFixed(1)} MB/s (${(rdbBytes / 1e6).toFixed(1)} MB sent)`);
  console.log(`primary latency during the sync (${lat.length} SETs): p50 ${lat[Math.floor(lat.length * 0.5)].toFixed(2)} ms, p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(2)} ms, max ${lat[lat.length - 1].toFixed(2)} ms`);
  c.disconnect(); probe.disconnect(); stopAll();

  // 2. Lag under redis-benchmark -P 16: sample the replica's offset behind the primary's.
  const p2 = await node();
  const r2 = await replicaOf(p2);
  await inSync(p2, r2);
  const bench = spawn('redis-benchmark', ['-p', String(p2.port), '-t', 'set', '-n', '1000000', '-P', '16', '-r', '100000', '-q'], { stdio: 'ignore' });
  const lags = [];
  const done = new Promise((r) => bench.on('exit', r));
  let running = true; done.then(() => (running = false));
  while (running) { const [a, b] = await Promise.all([info(p2), info(r2)]); lags.push(Number(a.master_repl_offset) - Number(b.slave_repl_offset)); await sleep(100); }
  const t1 = performance.now(); await inSync(p2, r2); const catchUp = performance.now() - t1;
  lags.sort((a, b) => a - b);
  console.log(`lag under redis-benchmark -P 16 (SET, 1M requests): median ${lags[Math.floor(lags.length / 2)]} bytes, max ${lags[lags.length - 1]} bytes behind; caught up ${catchUp.toFixed(0)} ms after the load`);
  stopAll();

  // 3. SET rps: 0 replicas, 2 replicas, sync mode (1 replica), and redis-server for reference.
  const a0 = await node();
  const rps0 = benchSet(a0.port); stopAll();
  const a2 = await node(); const ra = await replicaOf(a2); const rb = await replicaOf(a2); await inSync(a2, ra); await inSync(a2, rb);
  const rps2 = benchSet(a2.port); stopAll();
  const as = await node(['--repl-sync-mode', 'sync']); const rs = await replicaOf(as); await inSync(as, rs);
  const rpsSync = benchSet(as.port); stopAll();
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await sleep(300);
  const rpsRedis = benchSet(redisPort); redis.kill('SIGKILL');
  console.log(`SET rps (redis-benchmark -c 50): 0 replicas ${rps0}, 2 replicas ${rps2} (ratio ${(rps2 / rps0).toFixed(2)}), sync mode with 1 replica ${rpsSync} (ratio ${(rpsSync / rps0).toFixed(2)}); redis-server alone ${rpsRedis} (Sonic/Redis ${(rps0 / rpsRedis).toFixed(2)})`);
} finally {
  stopAll();
}

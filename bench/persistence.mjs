// Persistence benchmark: Sonic against redis-server on the same machine, same run.
//
//   node bench/persistence.mjs [--keys 1000000] [--only save|bgsave|aof] [--runs 1]
//                              [--sonic-args "--flag value ..."] [--node-args "--cpu-prof ..."]
//
// --only runs one part; --runs repeats the BGSAVE part and reports each run and the
// median (the max latency of one run is noisy on a busy machine); --sonic-args passes
// extra flags to the Sonic node, --node-args options to its node process (a CPU
// profile of the BGSAVE: --only bgsave --node-args "--cpu-prof --cpu-prof-dir=/tmp/p").
//
// 1. SAVE and start-up load of N keys (MB/s, keys/s).
// 2. BGSAVE of N keys under a write load: the max latency a client sees, and the extra
//    memory (Sonic: peak RSS rise while it runs; redis-server: the fork's copy-on-write,
//    rdb_last_cow_size, plus the child's private pages are not counted by Redis either).
// 3. AOF throughput (redis-benchmark SET, 50 clients): always and everysec as a ratio of
//    no persistence, for both servers.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, DEFAULT_SONIC_MAIN, sleep } from './lib.mjs';

const argi = process.argv.indexOf('--keys');
const N = argi > 0 ? Number(process.argv[argi + 1]) : 1_000_000;
const opt = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ONLY = opt('--only', 'all');
const RUNS = Number(opt('--runs', '1'));
const SONIC_ARGS = opt('--sonic-args', '').split(/\s+/).filter(Boolean);
const NODE_ARGS = opt('--node-args', '').split(/\s+/).filter(Boolean);
const procs = new Set();
process.on('exit', () => {
  for (const p of procs) p.kill('SIGKILL');
});

async function start(kind, dir, args = []) {
  const port = await freePort();
  const cmd = kind === 'sonic' ? process.execPath : 'redis-server';
  const base =
    kind === 'sonic'
      ? [...NODE_ARGS, DEFAULT_SONIC_MAIN, 'node', '--port', String(port), '--dir', dir, '--save', '', ...SONIC_ARGS]
      : ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'];
  const t0 = performance.now();
  const child = spawn(cmd, [...base, ...args], { stdio: 'ignore', env: { ...process.env, SONIC_LOG_LEVEL: 'warn' } });
  procs.add(child);
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 20, maxRetriesPerRequest: null });
  c.on('error', () => {});
  for (let i = 0; i < 2000; i++) {
    try {
      await c.connect();
      break;
    } catch {
      await sleep(10);
    }
  }
  return { kind, port, child, c, t0 };
}

async function stop(s) {
  s.c.disconnect();
  // A CPU profile is written at a clean exit only.
  s.child.kill(s.kind === 'sonic' && NODE_ARGS.includes('--cpu-prof') ? 'SIGTERM' : 'SIGKILL');
  procs.delete(s.child);
  await new Promise((r) => (s.child.exitCode !== null || s.child.signalCode !== null ? r() : s.child.once('exit', r)));
}

async function fill(c) {
  const val = 'v'.repeat(32);
  for (let i = 0; i < N; i += 1000) {
    const args = [];
    for (let j = i; j < Math.min(N, i + 1000); j++) args.push(`key:${j}`, val);
    await c.mset(...args);
  }
}

/** Waits until a started server answers DBSIZE = n (after its load); returns ms since spawn. */
async function loadedAfter(s, n) {
  for (let i = 0; i < 100000; i++) {
    try {
      if ((await s.c.dbsize()) === n) return performance.now() - s.t0;
    } catch {
      /* LOADING */
    }
    await sleep(5);
  }
  throw new Error('load did not finish');
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function saveLoad(kind) {
  const dir = mkdtempSync(join(tmpdir(), `bench-persist-${kind}-`));
  try {
    let s = await start(kind, dir);
    await fill(s.c);
    const t0 = performance.now();
    await s.c.save();
    const saveMs = performance.now() - t0;
    const bytes = statSync(join(dir, 'dump.rdb')).size;
    await stop(s);
    // Start-up cost without data, to subtract.
    const empty = mkdtempSync(join(tmpdir(), 'bench-empty-'));
    const e = await start(kind, empty);
    const baseMs = await loadedAfter(e, 0);
    await stop(e);
    rmSync(empty, { recursive: true, force: true });
    s = await start(kind, dir);
    const loadMs = (await loadedAfter(s, N)) - baseMs;
    await stop(s);
    return { saveMs, loadMs, bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bgsaveUnderLoad(kind) {
  const dir = mkdtempSync(join(tmpdir(), `bench-bg-${kind}-`));
  try {
    const s = await start(kind, dir);
    await fill(s.c);
    await sleep(500);
    const rssBefore = rssKb(s.child.pid);
    const probe = new Redis({ port: s.port, host: '127.0.0.1' });
    const writer = new Redis({ port: s.port, host: '127.0.0.1' });
    let stopFlag = false;
    let maxLat = 0;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(s.child.pid))), 10);
    const probeLoop = (async () => {
      while (!stopFlag) {
        const t = performance.now();
        await probe.set('probe', 'x');
        maxLat = Math.max(maxLat, performance.now() - t);
        await sleep(1);
      }
    })();
    let w = 0;
    const writeLoop = (async () => {
      while (!stopFlag) {
        const p = writer.pipeline();
        for (let j = 0; j < 100; j++) p.set(`key:${(w++ * 7919) % N}`, 'changed-value-xxxxxxxxxxxxxxxxxxxxxxxx');
        await p.exec();
      }
    })();
    await sleep(300);
    const latBefore = maxLat;
    maxLat = 0;
    const t0 = performance.now();
    await s.c.bgsave();
    for (let i = 0; i < 100000; i++) {
      const info = await s.c.info('persistence');
      if (info.includes('rdb_bgsave_in_progress:0')) break;
      await sleep(20);
    }
    const bgMs = performance.now() - t0;
    stopFlag = true;
    await Promise.all([probeLoop, writeLoop]);
    clearInterval(sampler);
    const info = await s.c.info('persistence');
    const cow = Number(/rdb_last_cow_size:(\d+)/.exec(info)?.[1] ?? 0);
    probe.disconnect();
    writer.disconnect();
    await stop(s);
    return { bgMs, maxLatMs: maxLat, latBeforeMs: latBefore, extraRssMb: (peak - rssBefore) / 1024, cowMb: cow / 1048576, rssBeforeMb: rssBefore / 1024, writes: w };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function benchSet(port) {
  const r = spawnSync('redis-benchmark', ['-p', String(port), '-t', 'set', '-n', '200000', '-c', '50', '-r', '100000', '-q', '--csv'], { encoding: 'utf8', timeout: 300000 });
  const m = /"SET","([\d.]+)"/.exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

async function aofThroughput(kind) {
  const out = {};
  for (const mode of ['no-persistence', 'everysec', 'always']) {
    const dir = mkdtempSync(join(tmpdir(), `bench-aof-${kind}-`));
    const args = mode === 'no-persistence' ? [] : ['--appendonly', 'yes', '--appendfsync', mode];
    const s = await start(kind, dir, args);
    await sleep(300);
    out[mode] = benchSet(s.port);
    await stop(s);
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const res = {};
for (const kind of ['sonic', 'redis']) {
  const out = {};
  if (ONLY === 'all' || ONLY === 'save') {
    const sl = (out.sl = await saveLoad(kind));
    const mb = sl.bytes / 1048576;
    console.log(`${kind}: SAVE ${N} keys ${f(sl.saveMs, 0)} ms (${f(mb / (sl.saveMs / 1000))} MB/s, ${f(N / (sl.saveMs / 1000) / 1000, 0)}k keys/s, file ${f(mb)} MB); load ${f(sl.loadMs, 0)} ms (${f(mb / (sl.loadMs / 1000))} MB/s, ${f(N / (sl.loadMs / 1000) / 1000, 0)}k keys/s)`);
  }
  if (ONLY === 'all' || ONLY === 'bgsave') {
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const bg = await bgsaveUnderLoad(kind);
      runs.push(bg);
      console.log(`${kind}: BGSAVE under writes ${f(bg.bgMs, 0)} ms; max client latency ${f(bg.maxLatMs)} ms (before: ${f(bg.latBeforeMs)} ms); extra RSS ${f(bg.extraRssMb)} MB of ${f(bg.rssBeforeMb)} MB; fork COW ${f(bg.cowMb)} MB`);
    }
    out.bg = { maxLatMs: median(runs.map((r) => r.maxLatMs)), bgMs: median(runs.map((r) => r.bgMs)) };
    if (RUNS > 1) console.log(`${kind}: BGSAVE median of ${RUNS}: max client latency ${f(out.bg.maxLatMs)} ms, duration ${f(out.bg.bgMs, 0)} ms`);
  }
  if (ONLY === 'all' || ONLY === 'aof') {
    const aof = (out.aof = await aofThroughput(kind));
    console.log(`${kind}: SET ops/s no-persistence ${f(aof['no-persistence'], 0)}, everysec ${f(aof.everysec, 0)} (${f(aof.everysec / aof['no-persistence'], 2)}x), always ${f(aof.always, 0)} (${f(aof.always / aof['no-persistence'], 2)}x)`);
  }
  res[kind] = out;
}
const s = res.sonic;
const r = res.redis;
const ratios = [];
if (s.sl) ratios.push(`save ${f(r.sl.saveMs / s.sl.saveMs, 2)}x speed, load ${f(r.sl.loadMs / s.sl.loadMs, 2)}x speed`);
if (s.bg) ratios.push(`BGSAVE max latency ${f(s.bg.maxLatMs / r.bg.maxLatMs, 2)}x`);
if (ratios.length > 0) console.log(`ratios sonic/redis: ${ratios.join(', ')}`);
process.exit(0);

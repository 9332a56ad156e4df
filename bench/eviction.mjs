#!/usr/bin/env node
// Eviction benchmark: Sonic vs redis-server, same machine, same run.
//  1. Hit rate of a cache-aside workload (GET; on a miss, SET) with Zipfian key
//     popularity over a dataset 3x the room maxmemory leaves, under allkeys-lru and
//     allkeys-lfu. Each server gets maxmemory = its start-up used_memory + ROOM, so both
//     hold about the same number of 1 KB values.
//  2. The throughput cost of eviction: redis-benchmark SET rps with the dataset at the
//     limit (every SET evicts) against the same with no limit.
// Usage: node bench/eviction.mjs [--room-mb 24] [--ops 300000]
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const MB = 1024 * 1024;
const ROOM = arg('room-mb', 24) * MB;
const OPS = arg('ops', 300_000);
const VALUE = 'v'.repeat(1000);
const KEYS = Math.round((3 * ROOM) / 1100);

async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

async function start(kind, args) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-evict-'));
  const child =
    kind === 'sonic'
      ? spawn(process.execPath, [join(ROOT, 'packages/cli/dist/main.js'), 'node', '--port', String(port), '--dir', dir, ...args], {
          env: { ...process.env, SONIC_LOG_LEVEL: 'warn' },
          stdio: 'ignore',
        })
      : spawn('redis-server', ['--port', String(port), '--dir', dir, '--save', '', ...args], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = new Redis({ port, lazyConnect: true, retryStrategy: null });
    try {
      await r.connect();
      r.disconnect();
      break;
    } catch {
      await new Promise((x) => setTimeout(x, 100));
    }
  }
  return { port, stop: () => child.kill('SIGKILL') };
}

const field = (info, name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)[1]);

/** Zipf(s = 1) sampler over n ranks by inverse CDF. */
function zipf(n, seed) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1);
  for (let i = 0; i < n; i++) cdf[i] /= sum;
  let s = seed >>> 0;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  // Scatter ranks over key names so popularity is independent of insertion order.
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return () => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return perm[lo];
  };
}

async function hitRate(kind, policy) {
  const srv = await start(kind, ['--maxmemory-policy', policy]);
  const r = new Redis({ port: srv.port });
  try {
    const startup = field(await r.info('memory'), 'used_memory');
    await r.call('config', 'set', 'maxmemory', String(startup + ROOM));
    const next = zipf(KEYS, 2024);
    let hits = 0;
    let reads = 0;
    const BATCH = 200;
    const run = async (ops, count) => {
      for (let done = 0; done < ops; done += BATCH) {
        const keys = Array.from({ length: BATCH }, () => `key:${next()}`);
        const got = await r.mget(...keys);
        const p = r.pipeline();
        let misses = 0;
        for (let i = 0; i < BATCH; i++) {
          if (got[i] === null) {
            p.set(keys[i], VALUE);
            misses++;
          }
        }
        if (misses > 0) await p.exec();
        if (count) {
          reads += BATCH;
          hits += BATCH - misses;
        }
      }
    };
    await run(OPS / 2, false); // warm-up: fill past the limit
    await run(OPS, true);
    const info = await r.info();
    return { hitRate: hits / reads, keys: Number(/db0:keys=(\d+)/.exec(info)?.[1] ?? 0), evicted: field(info, 'evicted_keys') };
  } finally {
    r.disconnect();
    srv.stop();
  }
}

function benchSet(port) {
  const out = spawnSync('redis-benchmark', ['-p', String(port), '-t', 'set', '-n', '200000', '-r', '10000000', '-d', '1000', '-P', '16', '-c', '50', '-q'], {
    encoding: 'utf8',
  }).stdout;
  const m = /SET: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
  return m ? Number(m[1]) : NaN;
}

async function setCost(kind, policy) {
  // Below the limit: no maxmemory. At the limit: filled first, then every SET evicts.
  const a = await start(kind, []);
  const below = benchSet(a.port);
  a.stop();
  const b = await start(kind, ['--maxmemory-policy', policy]);
  const r = new Redis({ port: b.port });
  const startup = field(await r.info('memory'), 'used_memory');
  await r.call('config', 'set', 'maxmemory', String(startup + ROOM));
  r.disconnect();
  benchSet(b.port); // fill past the limit
  const atLimit = benchSet(b.port);
  b.stop();
  return { below, atLimit, ratio: atLimit / below };
}

const results = { room_mb: ROOM / MB, keys_in_dataset: KEYS, ops: OPS, hitRate: {}, setRps: {} };
for (const policy of ['allkeys-lru', 'allkeys-lfu']) {
  const s = await hitRate('sonic', policy);
  const r = await hitRate('redis', policy);
  results.hitRate[policy] = { sonic: s, redis: r, diffPoints: +((s.hitRate - r.hitRate) * 100).toFixed(2) };
  const cs = await setCost('sonic', policy);
  const cr = await setCost('redis', policy);
  results.setRps[policy] = { sonic: cs, redis: cr };
}
console.log(JSON.stringify(results, null, 2));

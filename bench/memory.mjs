#!/usr/bin/env node
// Memory benchmark: exactly N unique string keys (16-byte keys "key:%012d", 32-byte
// values "value:%026d") loaded with pipelined SETs over a raw socket into a fresh Sonic
// node and a fresh redis-server; reports RSS (/proc/<pid>/status VmRSS) before and
// after the load, bytes per key above the baseline, and the ratio.
//
// Sonic runs as a user runs it, plus `--expose-gc --import bench/gc-hook.mjs` so that
// after the "as run" reading we can also force a full GC (SIGUSR2) and read RSS and V8's
// heap statistics again. --expose-gc does not change heap sizing or GC policy; pass
// --plain to leave it out (then there is no after-GC reading).
//
//   node bench/memory.mjs [--keys N] [--plain] [--json FILE]

import { connect } from 'node:net';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, DEFAULT_SONIC_MAIN, command, fmtMB, killAll, parseArgs, procStatus, sleep, startRedis, startSonic, table } from './lib.mjs';

export const KEY_BYTES = 16;
export const VALUE_BYTES = 32;

export const keyOf = (i) => 'key:' + String(i).padStart(12, '0');
export const valueOf = (i) => 'value:' + String(i).padStart(26, '0');

/**
 * Loads keys [0, n) with SET, `batch` commands per write, at most two batches in flight.
 * Resolves with the elapsed ms; rejects on an error reply or after `timeoutMs`.
 */
export function loadKeys(port, n, { batch = 5000, timeoutMs = 300000 } = {}) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const sock = connect({ port, host: '127.0.0.1' });
    sock.setNoDelay(true);
    let sent = 0;
    let replied = 0;
    let partial = 0; // bytes of a reply split across chunks
    const timer = setTimeout(() => fail(new Error(`load timed out after ${timeoutMs} ms (${replied}/${n} replies)`)), timeoutMs);
    function fail(err) {
      clearTimeout(timer);
      sock.destroy();
      rej(err);
    }
    function sendBatch() {
      const end = Math.min(n, sent + batch);
      let s = '';
      for (let i = sent; i < end; i++) {
        const k = keyOf(i);
        const v = valueOf(i);
        s += `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n${v}\r\n`;
      }
      sent = end;
      sock.write(s, 'latin1');
    }
    sock.on('connect', () => {
      sendBatch();
      if (sent < n) sendBatch();
    });
    sock.on('data', (d) => {
      // Every reply is "+OK\r\n" (5 bytes); anything else is a failure.
      if (d.includes(45 /* '-' */)) return fail(new Error(`error reply during load: ${d.toString('latin1', 0, 200)}`));
      const bytes = partial + d.length;
      const before = replied;
      replied += Math.floor(bytes / 5);
      partial = bytes % 5;
      // Refill: keep two batches in flight.
      const crossed = Math.floor(replied / batch) - Math.floor(before / batch);
      for (let k = 0; k < crossed && sent < n; k++) sendBatch();
      if (replied >= n) {
        clearTimeout(timer);
        sock.end();
        res(performance.now() - t0);
      }
    });
    sock.on('error', fail);
  });
}

async function dbsize(port) {
  const r = await command(port, ['DBSIZE'], 10000);
  return Number(r.slice(1));
}

async function info(port, section) {
  try {
    const r = await command(port, ['INFO', section], 5000);
    const out = {};
    for (const line of r.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  } catch {
    return {};
  }
}

const SETTLE_MS = 2000;

async function measureOne(server, n, log) {
  await sleep(1000);
  const base = procStatus(server.pid);
  const ms = await loadKeys(server.port, n);
  const size = await dbsize(server.port);
  if (size !== n) throw new Error(`${server.name}: DBSIZE ${size} after loading ${n} keys`);
  await sleep(SETTLE_MS);
  const loaded = procStatus(server.pid);
  const inf = await info(server.port, 'memory');
  log?.(`${server.name}: loaded ${n.toLocaleString('en-US')} keys in ${(ms / 1000).toFixed(1)} s (${Math.round(n / (ms / 1000)).toLocaleString('en-US')} SET/s); RSS ${fmtMB(base.VmRSS)} -> ${fmtMB(loaded.VmRSS)}`);
  return {
    loadMs: Math.round(ms),
    baseRss: base.VmRSS,
    rss: loaded.VmRSS,
    peakRss: loaded.VmHWM,
    rssAnon: loaded.RssAnon,
    perKey: (loaded.VmRSS - base.VmRSS) / n,
    usedMemory: inf.used_memory !== undefined ? Number(inf.used_memory) : null,
  };
}

/** Runs the memory benchmark on fresh servers; returns the numbers (servers are stopped). */
export async function memoryBenchmark({ keys = 1000000, sonicMain = DEFAULT_SONIC_MAIN, redisServer = 'redis-server', plain = false, extraNodeArgs = [], extraArgs = [], log } = {}) {
  const out = { keys, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, sonic: null, redis: null };
  // Redis first (it is quick), then Sonic; never both loaded at once.
  const redis = await startRedis({ bin: redisServer });
  try {
    out.redis = await measureOne(redis, keys, log);
  } finally {
    await redis.stop();
  }
  const hook = join(BENCH_DIR, 'gc-hook.mjs');
  const memOut = `/tmp/bench-sonic-mem-${process.pid}.json`;
  const nodeArgs = [...extraNodeArgs, ...(plain ? [] : ['--expose-gc', '--import', hook])];
  process.env.BENCH_MEM_OUT = memOut;
  const sonic = await startSonic({ main: sonicMain, nodeArgs, extraArgs });
  try {
    out.sonic = await measureOne(sonic, keys, log);
    out.sonic.nodeArgs = nodeArgs.join(' ');
    if (!plain) {
      process.kill(sonic.pid, 'SIGUSR2');
      for (let i = 0; i < 50 && !existsSync(memOut); i++) await sleep(100);
      await sleep(1000);
      const st = procStatus(sonic.pid);
      out.sonic.rssAfterGc = st.VmRSS;
      out.sonic.perKeyAfterGc = (st.VmRSS - out.sonic.baseRss) / keys;
      if (existsSync(memOut)) {
        const v8stats = JSON.parse(readFileSync(memOut, 'utf8'));
        rmSync(memOut, { force: true });
        out.sonic.v8 = {
          heapUsedBeforeGc: v8stats.before.memoryUsage.heapUsed,
          heapUsedAfterGc: v8stats.after.memoryUsage.heapUsed,
          heapTotalAfterGc: v8stats.after.memoryUsage.heapTotal,
          externalAfterGc: v8stats.after.memoryUsage.external,
          arrayBuffersAfterGc: v8stats.after.memoryUsage.arrayBuffers,
          spacesAfterGc: v8stats.after.spaces,
        };
      }
      log?.(`sonic: after a forced full GC RSS ${fmtMB(out.sonic.rssAfterGc)}, V8 heap used ${fmtMB(out.sonic.v8?.heapUsedAfterGc)}`);
    }
  } finally {
    await sonic.stop();
    delete process.env.BENCH_MEM_OUT;
  }
  out.ratio = out.sonic.rss / out.redis.rss;
  out.ratioAfterGc = out.sonic.rssAfterGc ? out.sonic.rssAfterGc / out.redis.rss : null;
  return out;
}

export function printMemory(m) {
  const rows = [
    ['server', 'baseline RSS', 'RSS loaded', 'bytes/key', 'ratio', 'used_memory'],
    ['redis-server', fmtMB(m.redis.baseRss), fmtMB(m.redis.rss), m.redis.perKey.toFixed(0), '1.00', m.redis.usedMemory ? fmtMB(m.redis.usedMemory) : 'n/a'],
    ['sonic (as run)', fmtMB(m.sonic.baseRss), fmtMB(m.sonic.rss), m.sonic.perKey.toFixed(0), m.ratio.toFixed(2), m.sonic.usedMemory ? fmtMB(m.sonic.usedMemory) : 'n/a'],
  ];
  if (m.sonic.rssAfterGc) {
    rows.push(['sonic (after full GC)', fmtMB(m.sonic.baseRss), fmtMB(m.sonic.rssAfterGc), m.sonic.perKeyAfterGc.toFixed(0), m.ratioAfterGc.toFixed(2), `heap ${fmtMB(m.sonic.v8?.heapUsedAfterGc)}`]);
  }
  process.stdout.write('\n' + table(rows, (i) => i !== 0) + '\n');
  process.stdout.write(`target: sonic RSS <= 1.5 x redis-server: ${m.ratio <= 1.5 ? 'yes' : 'NO'} (${m.ratio.toFixed(2)})\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o = parseArgs(process.argv.slice(2), { keys: 'int', plain: 'bool', json: 'string', 'sonic-main': 'string', 'node-args': 'string', 'sonic-args': 'string' });
  if (o.help) {
    process.stdout.write('Usage: node bench/memory.mjs [--keys N] [--plain] [--json FILE] [--sonic-main PATH] [--node-args "--flag ..."] [--sonic-args "--maxmemory-policy allkeys-lru"]\n');
    process.exit(0);
  }
  memoryBenchmark({ keys: o.keys ?? 1000000, plain: o.plain === true, sonicMain: o.sonicMain, extraNodeArgs: (o.nodeArgs ?? '').split(' ').filter(Boolean), extraArgs: (o.sonicArgs ?? '').split(' ').filter(Boolean), log: (s) => process.stdout.write(s + '\n') }).then(
    (m) => {
      printMemory(m);
      if (o.json) writeFileSync(o.json, JSON.stringify(m, null, 2));
      killAll();
    },
    (err) => {
      process.stderr.write(`memory: ${err?.stack ?? err}\n`);
      killAll();
      process.exit(1);
    },
  );
}

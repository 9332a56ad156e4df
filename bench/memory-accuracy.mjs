#!/usr/bin/env node
// How close used_memory (the memory model) stays to V8's real heap: for each type, load
// N keys into a fresh node started with --expose-gc, run MEMORY PURGE (a full GC), and
// compare used_memory with heapUsed (INFO allocator_allocated).
// Usage: node bench/memory-accuracy.mjs [--keys 100000]
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve, join } from 'node:path';
import { Redis } from 'ioredis';

const ROOT = resolve(import.meta.dirname, '..');
const i = process.argv.indexOf('--keys');
const N = i > 0 ? Number(process.argv[i + 1]) : 100_000;
const port = await new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const field = (info, name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)[1]);
const types = {
  'string (16 B key, 32 B value)': (p, k) => p.set(`key:${String(k).padStart(12, '0')}`, 'v'.repeat(32)),
  'string with TTL': (p, k) => p.set(`key:${String(k).padStart(12, '0')}`, 'v'.repeat(32), 'EX', 10000),
  'hash (10 fields of 8 B)': (p, k) => p.hset(`h:${k}`, ...Array.from({ length: 10 }, (_, j) => [`field${j}`, 'value:' + j]).flat()),
  'list (10 elements of 8 B)': (p, k) => p.rpush(`l:${k}`, ...Array.from({ length: 10 }, (_, j) => `element${j}`)),
  'set (10 members of 8 B)': (p, k) => p.sadd(`s:${k}`, ...Array.from({ length: 10 }, (_, j) => `member:${j}`)),
  'zset (10 members, float scores)': (p, k) => p.zadd(`z:${k}`, ...Array.from({ length: 10 }, (_, j) => [j + 0.5, `member:${j}`]).flat()),
};
const rows = [];
for (const [name, add] of Object.entries(types)) {
  const child = spawn(process.execPath, ['--expose-gc', join(ROOT, 'packages/cli/dist/main.js'), 'node', '--port', String(port), '--save', ''], { stdio: 'ignore', env: { ...process.env, SONIC_LOG_LEVEL: 'warn' } });
  const r = new Redis({ port, retryStrategy: (n) => (n > 50 ? null : 100) });
  await r.ping();
  await r.call('memory', 'purge');
  const base = await r.info('memory');
  const n = name.startsWith('string') ? N : N / 10;
  for (let k = 0; k < n; k += 1000) {
    const p = r.pipeline();
    for (let j = k; j < Math.min(n, k + 1000); j++) add(p, j);
    await p.exec();
  }
  await r.call('memory', 'purge');
  await r.call('memory', 'purge');
  const info = await r.info('memory');
  const model = field(info, 'used_memory') - field(base, 'used_memory');
  const heap = field(info, 'allocator_allocated') - field(base, 'allocator_allocated');
  rows.push({ type: name, keys: n, model_bytes_per_key: Math.round(model / n), heap_bytes_per_key: Math.round(heap / n), model_over_heap: +(model / heap).toFixed(3) });
  r.disconnect();
  child.kill('SIGKILL');
  await new Promise((x) => setTimeout(x, 200));
}
console.table(rows);

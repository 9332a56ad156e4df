// Preloaded into the Sonic node by the memory benchmark (node --expose-gc --import this):
// on SIGUSR2 it records V8's heap statistics, runs a full GC, records them again, and
// writes both as JSON to $BENCH_MEM_OUT. It changes nothing else: --expose-gc only makes
// `gc` callable, it does not change heap sizing or GC policy.

import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

function snapshot() {
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = { used: s.space_used_size, size: s.space_size };
  return { memoryUsage: process.memoryUsage(), heap: v8.getHeapStatistics(), spaces };
}

process.on('SIGUSR2', () => {
  const before = snapshot();
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  const after = snapshot();
  const out = process.env.BENCH_MEM_OUT;
  if (out) writeFileSync(out, JSON.stringify({ before, after, gcRan: typeof globalThis.gc === 'function' }));
});

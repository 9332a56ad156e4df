#!/usr/bin/env node
// Where a string key's bytes go in a V8 heap, measured rather than guessed: builds the
// same structures the keyspace holds (latin1 key and value strings sliced out of a
// receive buffer as the RESP reader does, the dict Map, the per-key metadata Map, an
// expires Map) one layer at a time, and reports heapUsed deltas per key after full GCs.
//
//   node bench/memory-breakdown.mjs [--keys N]     (re-executes itself with --expose-gc)

import { spawnSync } from 'node:child_process';
import { keyOf, valueOf } from './memory.mjs';
import { parseArgs, table } from './lib.mjs';

if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const o = parseArgs(process.argv.slice(2), { keys: 'int' });
const N = o.keys ?? 1000000;

function used() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

// The strings as the RESP reader makes them: latin1Slice of a Buffer (a fresh sequential
// one-byte string each), not literals or concatenations (which may be cons/sliced strings).
function sliced(make) {
  const out = new Array(N);
  const chunk = 10000;
  for (let base = 0; base < N; base += chunk) {
    const end = Math.min(N, base + chunk);
    const parts = [];
    for (let i = base; i < end; i++) parts.push(make(i));
    const buf = Buffer.from(parts.join(''), 'latin1');
    let at = 0;
    for (let i = base; i < end; i++) {
      const len = parts[i - base].length;
      out[i] = buf.latin1Slice(at, at + len);
      at += len;
    }
  }
  return out;
}

const rows = [['component', 'bytes/key', 'MB total', 'note']];
const add = (name, bytes, note) => rows.push([name, (bytes / N).toFixed(1), (bytes / 1048576).toFixed(1), note]);

let t0 = used();
const holder = new Array(N).fill(0); // the arrays holding the strings while we measure: excluded
let t1 = used();
const arrayCost = t1 - t0;
holder.length = 0;

t0 = used();
const keys = sliced(keyOf);
t1 = used();
add('key string (16 chars)', t1 - t0 - arrayCost, 'SeqOneByteString: 16-byte header + chars rounded to 8');

t0 = used();
const values = sliced(valueOf);
t1 = used();
add('value string (32 chars)', t1 - t0 - arrayCost, 'SeqOneByteString');

t0 = used();
const dict = new Map();
for (let i = 0; i < N; i++) dict.set(keys[i], values[i]);
t1 = used();
add('dict Map entry', t1 - t0, `OrderedHashMap: 3 words/entry + buckets; capacity is a power of two (${N} keys)`);

t0 = used();
const meta = new Map();
const clock = Math.floor(Date.now() / 1000) & 0xffffff;
for (let i = 0; i < N; i++) meta.set(keys[i], clock);
t1 = used();
add('meta Map entry (LRU clock, Smi)', t1 - t0, 'a second Map keyed by the same strings');

t0 = used();
const expires = new Map();
const when = Date.now() + 3600e3;
for (let i = 0; i < N; i++) expires.set(keys[i], when + i);
t1 = used();
add('expires Map entry (only keys with a TTL)', t1 - t0, 'value is a HeapNumber (ms > 2^31): +16 B boxed double');

process.stdout.write(`V8 heap cost per string key, ${N.toLocaleString('en-US')} keys (node ${process.version}, ${process.arch}):\n\n`);
process.stdout.write(table(rows, (i) => i === 1 || i === 2) + '\n');
// Keep everything alive until here.
if (dict.size + meta.size + expires.size + keys.length + values.length === 0) process.stdout.write('\n');

#!/usr/bin/env node
// CPU profile of the node's hot path: starts `node --cpu-prof` Sonic, warms it up, puts
// it under redis-benchmark -P 16 load (SET and GET by default), stops it with SIGTERM
// (it shuts down gracefully and V8 writes the profile), and prints the top functions by
// self time and by total time.
//
//   node bench/profile.mjs [--tests set,get] [--requests N] [--pipeline 16] [--out DIR] [--top N]

import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { DEFAULT_SONIC_MAIN, parseArgs, run, runMain, startSonic } from './lib.mjs';
import { printSummary, summarise } from './cpuprofile-summary.mjs';

const o = parseArgs(process.argv.slice(2), {
  tests: 'string',
  requests: 'int',
  pipeline: 'int',
  clients: 'int',
  out: 'string',
  top: 'int',
  'random-keys': 'int',
  'sonic-main': 'string',
  'node-args': 'string',
});
if (o.help) {
  process.stdout.write(
    'Usage: node bench/profile.mjs [--tests set,get] [--requests 2000000] [--pipeline 16] [--clients 50]\n' +
      '                             [--random-keys N] [--out /tmp/prof] [--top 30] [--node-args "..."]\n',
  );
  process.exit(0);
}

async function main() {
  const dir = o.out ?? `/tmp/prof-${Date.now()}`;
  mkdirSync(dir, { recursive: true });
  const tests = o.tests ?? 'set,get';
  const n = o.requests ?? 2000000;
  const P = o.pipeline ?? 16;
  const extraNode = (o.nodeArgs ?? '').split(' ').filter(Boolean);
  const sonic = await startSonic({ main: o.sonicMain ?? DEFAULT_SONIC_MAIN, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...extraNode] });
  process.stdout.write(`profile: sonic pid ${sonic.pid} port ${sonic.port}, profile dir ${dir}\n`);
  const bench = (count) => {
    const args = ['-h', '127.0.0.1', '-p', String(sonic.port), '-c', String(o.clients ?? 50), '-n', String(count), '-P', String(P), '-t', tests, '-q', '--csv'];
    if (o.randomKeys) args.push('-r', String(o.randomKeys));
    return run('redis-benchmark', args, { timeoutMs: Math.max(60000, (count / 5000) * 1000 * tests.split(',').length) });
  };
  try {
    await bench(Math.max(10000, Math.floor(n / 10))); // warm-up, in the profile too but small
    const r = await bench(n);
    process.stdout.write(r.stdout);
  } finally {
    await sonic.stop(15000);
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile written in ${dir}`);
  const file = join(dir, files.sort().at(-1));
  process.stdout.write(`profile: ${file}\n`);
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')));
  printSummary(s, o.top ?? 30);
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(s, null, 2));
}

runMain(main);

#!/usr/bin/env node
// Stream throughput: Sonic against Debian's redis-server, same machine, same run.
//
// Per round and server: FLUSHALL, XGROUP CREATE (MKSTREAM), then redis-benchmark runs
// `XADD bench:s * f v` (N requests, which also fills the stream), then
// `XREADGROUP GROUP g c COUNT 1 STREAMS bench:s >` (N requests: each delivers one new
// entry and records it as pending), then `XRANGE bench:s - + COUNT 10`. Servers
// alternate going first; the median over rounds and the ratio Sonic/Redis are printed.
//
//   node bench/streams.mjs [--requests N] [--clients N] [--rounds N] [--pipeline P]

import { benchTests, command, interleaved, fmtInt, killAll, loadavg, median, parseArgs, startRedis, startSonic, table } from './lib.mjs';

const opts = { requests: 100000, clients: 50, rounds: 3, pipeline: 1, ...parseArgs(process.argv.slice(2), { requests: 'int', clients: 'int', rounds: 'int', pipeline: 'int' }) };

const TESTS = [
  { name: 'XADD', args: ['XADD', 'bench:s', '*', 'f', 'v'] },
  { name: 'XREADGROUP >', args: ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', '1', 'STREAMS', 'bench:s', '>'] },
  { name: 'XRANGE COUNT 10', args: ['XRANGE', 'bench:s', '-', '+', 'COUNT', '10'] },
];

async function round(server) {
  await command(server.port, ['FLUSHALL']);
  await command(server.port, ['XGROUP', 'CREATE', 'bench:s', 'g', '$', 'MKSTREAM']);
  const out = await benchTests(server, TESTS, opts);
  const len = await command(server.port, ['XLEN', 'bench:s']);
  if (!len.startsWith(`:${opts.requests}`)) throw new Error(`${server.name}: XLEN after the run is ${len.trim()}`);
  return out;
}

let sonic;
let redis;
try {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
  const results = await interleaved([sonic, redis], opts.rounds, round);
  const rows = [['test', 'sonic req/s', 'redis req/s', 'sonic/redis', 'sonic CPU µs/req', 'redis CPU µs/req', 'CPU sonic/redis']];
  for (const t of TESTS) {
    const a = median(results.sonic[t.name]);
    const b = median(results.redis[t.name]);
    const ca = median(results.sonic[`${t.name} cpu`]);
    const cb = median(results.redis[`${t.name} cpu`]);
    rows.push([t.name, fmtInt(a), fmtInt(b), (a / b).toFixed(2), ca.toFixed(2), cb.toFixed(2), (ca / cb).toFixed(2)]);
  }
  console.log(`streams: ${opts.requests} requests, ${opts.clients} clients, pipeline ${opts.pipeline}, median of ${opts.rounds} rounds, load average at the end ${loadavg()}`);
  console.log(table(rows));
} finally {
  await Promise.all([sonic?.stop(), redis?.stop()]);
  killAll();
}

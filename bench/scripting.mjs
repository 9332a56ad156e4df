#!/usr/bin/env node
// Lua scripting cost: Sonic against Debian's redis-server, same machine, same run.
//
// Per round and server, redis-benchmark runs (N requests each):
//   SET lock v, GET lock, DEL lock                   the plain commands
//   EVALSHA <cas> 1 lock v                           compare-and-delete (redlock's release):
//                                                    GET, compare; the key is absent, so no DEL
//   EVALSHA <set-cas> 1 lock v                       SET, then compare-and-delete: SET + GET + DEL
//                                                    in one script (the DEL happens every time,
//                                                    and is propagated)
// and reports per server the throughput and the server's CPU time per request (all its
// threads, from /proc: steadier than throughput on a shared machine), and the script's
// cost against the same work as plain commands (GET alone; SET + GET + DEL one after the
// other), by CPU time. Servers alternate going first; medians over rounds.
//
//   node bench/scripting.mjs [--requests N] [--clients N] [--rounds N] [--pipeline P]

import { createHash } from 'node:crypto';
import { benchTests, command, interleaved, fmtInt, killAll, loadavg, median, parseArgs, startRedis, startSonic, table } from './lib.mjs';

const opts = { requests: 100000, clients: 50, rounds: 3, pipeline: 1, ...parseArgs(process.argv.slice(2), { requests: 'int', clients: 'int', rounds: 'int', pipeline: 'int' }) };

const CAS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const SET_CAS = `redis.call('set', KEYS[1], ARGV[1]) ${CAS}`;
const sha = (s) => createHash('sha1').update(s).digest('hex');

const TESTS = [
  { name: 'SET', args: ['SET', 'lock', 'v'] },
  { name: 'GET', args: ['GET', 'lock'] },
  { name: 'DEL', args: ['DEL', 'lock'] },
  { name: 'EVALSHA cas', args: ['EVALSHA', sha(CAS), '1', 'lock', 'v'] },
  { name: 'EVALSHA set+cas', args: ['EVALSHA', sha(SET_CAS), '1', 'lock', 'v'] },
];

async function round(server) {
  await command(server.port, ['FLUSHALL']);
  for (const s of [CAS, SET_CAS]) {
    const r = await command(server.port, ['SCRIPT', 'LOAD', s]);
    if (!r.includes(sha(s))) throw new Error(`${server.name}: SCRIPT LOAD answered ${r.trim()}`);
  }
  const out = await benchTests(server, TESTS, opts);
  // The last script deleted what it set.
  const left = await command(server.port, ['EXISTS', 'lock']);
  if (!left.startsWith(':0')) throw new Error(`${server.name}: the lock is still there after set+cas`);
  return out;
}

let sonic;
let redis;
try {
  [sonic, redis] = await Promise.all([startSonic(), startRedis()]);
  const load = loadavg();
  const results = await interleaved([sonic, redis], opts.rounds, round);
  const us = (name, t) => median(results[name][`${t} cpu`]);
  const rows = [['test', 'sonic req/s', 'redis req/s', 'sonic/redis', 'sonic CPU µs/req', 'redis CPU µs/req', 'CPU sonic/redis']];
  for (const t of TESTS) {
    const a = median(results.sonic[t.name]);
    const b = median(results.redis[t.name]);
    rows.push([t.name, fmtInt(a), fmtInt(b), (a / b).toFixed(2), us('sonic', t.name).toFixed(2), us('redis', t.name).toFixed(2), (us('sonic', t.name) / us('redis', t.name)).toFixed(2)]);
  }
  const ratios = [['script against plain commands (CPU per request)', 'sonic', 'redis']];
  const r1 = (n) => us(n, 'EVALSHA cas') / us(n, 'GET');
  const r3 = (n) => us(n, 'EVALSHA set+cas') / (us(n, 'SET') + us(n, 'GET') + us(n, 'DEL'));
  ratios.push(['EVALSHA cas / GET', r1('sonic').toFixed(2), r1('redis').toFixed(2)]);
  ratios.push(['EVALSHA set+cas / (SET + GET + DEL)', r3('sonic').toFixed(2), r3('redis').toFixed(2)]);
  console.log(`scripting: ${opts.requests} requests, ${opts.clients} clients, pipeline ${opts.pipeline}, median of ${opts.rounds} rounds, load average at start ${load}`);
  console.log(table(rows));
  console.log(table(ratios, (i) => i > 0));
} finally {
  await Promise.all([sonic?.stop(), redis?.stop()]);
  killAll();
}

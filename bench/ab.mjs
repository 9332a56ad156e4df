#!/usr/bin/env node
// `node bench/ab.mjs --a DIR_OR_MAIN --b DIR_OR_MAIN [--redis]`: two Sonic builds (and
// optionally redis-server) under the same redis-benchmark runs, interleaved, in one
// process; reports the median server CPU ns/request and req/s of each and B/A.
// Make A with `node bench/snapshot.mjs /tmp/sonic-a` before a change; B defaults to
// this checkout's build. CPU/request is what to judge by on a shared machine.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SONIC_MAIN, command, cpuNs, cpuUserSys, fmtInt, killAll, loadavg, median, parseArgs, parseCsv, run, startRedis, startSonic, table } from './lib.mjs';


const USAGE = `Usage: node bench/ab.mjs --a PATH [--b PATH] [options]

  --a PATH            build A: a snapshot dir (bench/snapshot.mjs) or a cli dist/main.js
  --b PATH            build B (default: this checkout's packages/cli/dist/main.js)
  --redis             also run redis-server in the rotation
  --tests LIST        default set,get,incr
  --pipeline N        -P (default 16)
  --requests N        -n per run (default 500000)
  --rounds N          default 5
  --clients N         default 50
  --a-node-args STR   extra node flags for A (space-separated), e.g. --max-semi-space-size=16
  --b-node-args STR   extra node flags for B
  --b-args STR        extra sonic flags for B (e.g. "--maxmemory-policy allkeys-lru")
  --a-args STR        extra sonic flags for A
`;

function mainOf(p) {
  if (p.endsWith('.js')) return p;
  const m = join(p, 'packages/cli/dist/main.js');
  if (!existsSync(m)) throw new Error(`no ${m}`);
  return m;
}

const o = parseArgs(process.argv.slice(2), {
  a: 'string',
  b: 'string',
  redis: 'bool',
  tests: 'string',
  pipeline: 'int',
  requests: 'int',
  rounds: 'int',
  clients: 'int',
  'a-node-args': 'string',
  'b-node-args': 'string',
  'a-args': 'string',
  'b-args': 'string',
});
if (o.help || !o.a) {
  process.stdout.write(USAGE);
  process.exit(o.help ? 0 : 2);
}
const tests = (o.tests ?? 'set,get,incr').split(',');
const P = o.pipeline ?? 16;
const n = o.requests ?? 500000;
const rounds = o.rounds ?? 5;
const clients = o.clients ?? 50;
const words = (s) => (s ?? '').split(' ').filter(Boolean);

const servers = {
  A: await startSonic({ main: mainOf(o.a), nodeArgs: words(o.aNodeArgs), extraArgs: words(o.aArgs) }),
  B: await startSonic({ main: mainOf(o.b ?? DEFAULT_SONIC_MAIN), nodeArgs: words(o.bNodeArgs), extraArgs: words(o.bArgs) }),
};
if (o.redis) servers.R = await startRedis({});
const sides = Object.keys(servers);

async function bench(side, test, count) {
  const srv = servers[side];
  const args = ['-h', '127.0.0.1', '-p', String(srv.port), '-c', String(clients), '-n', String(count), '-P', String(P), '-t', test, '-q', '--csv'];
  const c0 = cpuNs(srv.pid);
  const u0 = cpuUserSys(srv.pid);
  const r = await run('redis-benchmark', args, { timeoutMs: Math.max(30000, (count / 2000) * 1000) });
  const c1 = cpuNs(srv.pid);
  const u1 = cpuUserSys(srv.pid);
  return { rps: parseCsv(r.stdout)[test]?.rps ?? NaN, cpu: (c1 - c0) / count, user: ((u1.userMs - u0.userMs) * 1e6) / count, sys: ((u1.sysMs - u0.sysMs) * 1e6) / count };
}

const cpu = {};
const rps = {};
const usr = {};
const sys = {};
try {
  process.stdout.write(`ab: A=${mainOf(o.a)}\nab: B=${mainOf(o.b ?? DEFAULT_SONIC_MAIN)}\nab: -P ${P} -c ${clients} -n ${n}, ${rounds} rounds, load ${loadavg().join(' ')}\n`);
  for (const t of tests) for (const s of sides) await bench(s, t, Math.min(n, 200000)); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const s of sides) await command(servers[s].port, ['FLUSHALL'], 30000).catch(() => {});
    for (let ti = 0; ti < tests.length; ti++) {
      const t = tests[ti];
      // Rotate the order by round and test so load drift does not favour a side.
      const k = (round + ti) % sides.length;
      const order = [...sides.slice(k), ...sides.slice(0, k)];
      for (const s of order) {
        const r = await bench(s, t, n);
        ((cpu[t] ??= {})[s] ??= []).push(r.cpu);
        ((rps[t] ??= {})[s] ??= []).push(r.rps);
        ((usr[t] ??= {})[s] ??= []).push(r.user);
        ((sys[t] ??= {})[s] ??= []).push(r.sys);
        process.stdout.write(`  r${round + 1} ${t.padEnd(6)} ${s} ${fmtInt(r.rps).padStart(10)} req/s ${fmtInt(r.cpu).padStart(6)} ns/req (user ${fmtInt(r.user)}, sys ${fmtInt(r.sys)})\n`);
      }
    }
  }
} finally {
  await Promise.all(sides.map((s) => servers[s].stop()));
}
const head = ['test', ...sides.map((s) => `${s} ns/req`), 'B/A cpu', ...sides.map((s) => `${s} usr/sys`), ...sides.map((s) => `${s} req/s`)];
if (o.redis) head.push('A/R rps', 'B/R rps');
const rows = [head];
for (const t of tests) {
  const c = Object.fromEntries(sides.map((s) => [s, median(cpu[t][s])]));
  const q = Object.fromEntries(sides.map((s) => [s, median(rps[t][s])]));
  const us = (s) => `${fmtInt(median(usr[t][s]))}/${fmtInt(median(sys[t][s]))}`;
  const row = [t, ...sides.map((s) => fmtInt(c[s])), (c.B / c.A).toFixed(3), ...sides.map(us), ...sides.map((s) => fmtInt(q[s]))];
  if (o.redis) row.push((q.A / q.R).toFixed(2), (q.B / q.R).toFixed(2));
  rows.push(row);
}
process.stdout.write('\n' + table(rows, (i) => i !== 0) + `\nab: load at end ${loadavg().join(' ')}\n`);
killAll();
process.exit(0);

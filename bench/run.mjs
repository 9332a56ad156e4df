#!/usr/bin/env node
// `npm run bench`: Sonic against Debian's redis-server, in the same run, interleaved.
//
// Starts `sonic node` and `redis-server` on free loopback ports, runs redis-benchmark
// against each (one invocation per test, so each has its own deadline), alternating
// which server goes first, for several rounds, with and without pipelining; prints the
// median requests/sec per command and the ratio Sonic/Redis. Then (unless --no-memory)
// the memory benchmark of bench/memory.mjs. Both servers are stopped at the end, on
// error, and on SIGINT/SIGTERM.

import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import {
  DEFAULT_SONIC_MAIN,
  command,
  cpuNs,
  cpuUserSys,
  fmtInt,
  loadavg,
  median,
  parseArgs,
  parseCsv,
  run,
  runMain,
  startRedis,
  startSonic,
  table,
} from './lib.mjs';
import { memoryBenchmark, printMemory } from './memory.mjs';

const USAGE = `Usage: node bench/run.mjs [options]

  --rounds N          interleaved rounds (default 3; median over rounds)
  --requests N        requests per test without pipelining (default 100000)
  --requests-p16 N    requests per test with -P 16 (default 10 x --requests)
  --clients N         parallel connections (default 50)
  --tests LIST        redis-benchmark tests (default set,get,incr,lpush,lpop,sadd,hset,zadd,mset)
  --pipelines LIST    pipeline depths (default 1,16)
  --random-keys N     pass -r N to redis-benchmark (default: off, as in the issue)
  --quick             CI smoke: 1 round, 20000/100000 requests, 100k keys for memory
  --warmup N          requests per test and server before round 1, not recorded (default 100000)
  --no-memory         skip the memory benchmark
  --memory-keys N     keys for the memory benchmark (default 1000000)
  --json FILE         write all results (every sample) as JSON
  --max-seconds N     give up (and report what was measured) after N s (default 1200)
  --sonic-main PATH   the sonic CLI to run (default packages/cli/dist/main.js, or $SONIC_MAIN)
  --redis-server BIN  (default redis-server)
  --redis-benchmark BIN (default redis-benchmark)
`;

const DEFAULT_TESTS = ['set', 'get', 'incr', 'lpush', 'lpop', 'sadd', 'hset', 'zadd', 'mset'];

/** What each test sends (as redis-benchmark 7.0 does), to probe whether Sonic implements it. */
const PROBES = {
  ping_inline: [['PING']],
  ping_mbulk: [['PING']],
  set: [['SET', 'bench:probe:s', 'xxx']],
  get: [['GET', 'bench:probe:s']],
  incr: [['INCR', 'bench:probe:n']],
  lpush: [['LPUSH', 'bench:probe:l', 'xxx']],
  rpush: [['RPUSH', 'bench:probe:l', 'xxx']],
  lpop: [['LPOP', 'bench:probe:l']],
  rpop: [['RPOP', 'bench:probe:l']],
  sadd: [['SADD', 'bench:probe:set', 'm']],
  hset: [['HSET', 'bench:probe:h', 'f', 'v']],
  spop: [['SPOP', 'bench:probe:set']],
  zadd: [['ZADD', 'bench:probe:z', '0', 'm']],
  zpopmin: [['ZPOPMIN', 'bench:probe:z']],
  lrange: [['LRANGE', 'bench:probe:l', '0', '99']],
  mset: [['MSET', 'bench:probe:a', '1', 'bench:probe:b', '2']],
};

function parse() {
  const o = parseArgs(process.argv.slice(2), {
    rounds: 'int',
    requests: 'int',
    'requests-p16': 'int',
    clients: 'int',
    tests: 'string',
    pipelines: 'string',
    'random-keys': 'int',
    warmup: 'int',
    quick: 'bool',
    'no-memory': 'bool',
    'memory-keys': 'int',
    json: 'string',
    'max-seconds': 'int',
    'sonic-main': 'string',
    'redis-server': 'string',
    'redis-benchmark': 'string',
  });
  if (o.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = o.quick === true;
  const requests = o.requests ?? (quick ? 20000 : 100000);
  return {
    rounds: o.rounds ?? (quick ? 1 : 3),
    requests,
    requestsP16: o.requestsP16 ?? requests * (quick ? 5 : 10),
    clients: o.clients ?? 50,
    tests: (o.tests ?? DEFAULT_TESTS.join(',')).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
    pipelines: (o.pipelines ?? '1,16').split(',').map(Number),
    randomKeys: o.randomKeys ?? 0,
    warmup: o.warmup ?? (quick ? 20000 : 100000),
    memory: o.noMemory !== true,
    memoryKeys: o.memoryKeys ?? (quick ? 100000 : 1000000),
    json: o.json ?? null,
    maxSeconds: o.maxSeconds ?? 1200,
    sonicMain: o.sonicMain ?? DEFAULT_SONIC_MAIN,
    redisServer: o.redisServer ?? 'redis-server',
    redisBenchmark: o.redisBenchmark ?? 'redis-benchmark',
    quick,
  };
}

/** Which tests Sonic answers without an error reply (others would measure error replies). */
async function probe(server, tests) {
  const ok = {};
  for (const t of tests) {
    const cmds = PROBES[t];
    if (cmds === undefined) {
      ok[t] = { supported: true, note: 'not probed' };
      continue;
    }
    let note = null;
    for (const argv of cmds) {
      try {
        const r = await command(server.port, argv, 3000);
        if (r.startsWith('-')) {
          note = r.trim().slice(0, 80);
          break;
        }
      } catch (err) {
        note = `no reply: ${err.message}`;
        break;
      }
    }
    ok[t] = { supported: note === null, note };
  }
  await command(server.port, ['FLUSHALL'], 10000).catch(() => {});
  return ok;
}

async function main() {
  const opt = parse();
  const started = Date.now();
  const deadline = started + opt.maxSeconds * 1000;
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    node: process.version,
    redis: (await run(opt.redisServer, ['--version'], { timeoutMs: 5000 })).stdout.trim(),
    loadavgAtStart: loadavg(),
  };
  process.stdout.write(
    `bench: ${machine.cpus} cpus (${machine.cpuModel}), node ${machine.node}, ${machine.redis.split(' ').slice(0, 3).join(' ')}\n` +
      `bench: ${opt.rounds} round(s), -c ${opt.clients}, -n ${opt.requests} (P1) / ${opt.requestsP16} (P16), tests ${opt.tests.join(',')}\n`,
  );

  const sonic = await startSonic({ main: opt.sonicMain });
  const redis = await startRedis({ bin: opt.redisServer });
  process.stdout.write(`bench: sonic pid ${sonic.pid} port ${sonic.port}; redis-server pid ${redis.pid} port ${redis.port}\n`);
  const servers = { sonic, redis };

  const support = await probe(sonic, opt.tests);
  const unsupported = Object.entries(support).filter(([, v]) => !v.supported);
  for (const [t, v] of unsupported) process.stdout.write(`bench: sonic does not implement ${t} yet (${v.note}); skipped on sonic\n`);

  /** One redis-benchmark run of one test against one server, with the server's CPU time. */
  async function bench(side, test, n, P) {
    const srv = servers[side];
    if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) throw new Error(`${side} died (see ${srv.logPath})`);
    const args = ['-h', '127.0.0.1', '-p', String(srv.port), '-c', String(opt.clients), '-n', String(n), '-P', String(P), '-t', test, '-q', '--csv'];
    if (opt.randomKeys > 0) args.push('-r', String(opt.randomKeys));
    // Bound each run: at least 30 s, or as long as 2,000 req/s would take.
    const timeoutMs = Math.max(30000, (n / 2000) * 1000);
    const c0 = cpuNs(srv.pid);
    const us0 = cpuUserSys(srv.pid);
    const r = await run(opt.redisBenchmark, args, { timeoutMs });
    const c1 = cpuNs(srv.pid);
    const us1 = cpuUserSys(srv.pid);
    const parsed = parseCsv(r.stdout)[test];
    return {
      r,
      parsed,
      rps: parsed?.rps ?? NaN,
      // Server CPU per request (all threads): robust to a busy machine, unlike req/s.
      cpuNsPerReq: (c1 - c0) / n,
      userNsPerReq: ((us1.userMs - us0.userMs) * 1e6) / n,
      sysNsPerReq: ((us1.sysMs - us0.sysMs) * 1e6) / n,
    };
  }

  if (opt.warmup > 0) {
    process.stdout.write(`bench: warm-up (${opt.warmup} requests per test, -P 16, not recorded)\n`);
    for (const test of opt.tests) for (const side of ['sonic', 'redis']) if (side === 'redis' || support[test].supported) await bench(side, test, opt.warmup, 16);
  }

  /** samples[side][pipeline][test] = [rps per round]; cpu[side][pipeline][test] = [ns/request] */
  const cpu = { sonic: {}, redis: {} };
  const samples = { sonic: {}, redis: {} };
  const details = [];
  let stopped = false;
  try {
    outer: for (let round = 0; round < opt.rounds; round++) {
      for (const side of ['sonic', 'redis']) await command(servers[side].port, ['FLUSHALL'], 30000).catch(() => {});
      for (const P of opt.pipelines) {
        const n = P > 1 ? opt.requestsP16 : opt.requests;
        for (let ti = 0; ti < opt.tests.length; ti++) {
          const test = opt.tests[ti];
          // Alternate who goes first, by round and by test, so drift in machine load
          // (the machine is shared) does not favour one side.
          const order = (round + ti) % 2 === 0 ? ['sonic', 'redis'] : ['redis', 'sonic'];
          for (const side of order) {
            if (Date.now() > deadline) {
              process.stdout.write(`bench: --max-seconds ${opt.maxSeconds} reached; reporting what was measured\n`);
              stopped = true;
              break outer;
            }
            if (side === 'sonic' && !support[test].supported) continue;
            const { r, parsed, rps, cpuNsPerReq, userNsPerReq, sysNsPerReq } = await bench(side, test, n, P);
            ((samples[side][P] ??= {})[test] ??= []).push(rps);
            ((cpu[side][P] ??= {})[test] ??= []).push(cpuNsPerReq);
            details.push({ round, pipeline: P, test, side, requests: n, ...(parsed ?? {}), cpuNsPerReq, userNsPerReq, sysNsPerReq, timedOut: r.timedOut, exit: r.code, loadavg: loadavg() });
            const note = r.timedOut ? ' TIMEOUT' : parsed === undefined ? ` FAILED (${(r.stderr || r.stdout).trim().slice(0, 120)})` : '';
            process.stdout.write(
              `  round ${round + 1} P${String(P).padEnd(2)} ${test.padEnd(6)} ${side.padEnd(5)} ${fmtInt(rps).padStart(11)} req/s  ${fmtInt(cpuNsPerReq).padStart(6)} ns CPU/req${note}\n`,
            );
          }
        }
      }
    }
  } finally {
    await Promise.all([sonic.stop(), redis.stop()]);
  }

  // ---------------------------------------------------------------- report
  const summary = [];
  const rows = [['command', 'pipeline', 'sonic req/s', 'redis req/s', 'sonic/redis', 'target', 'ok', 'CPU ns/req sonic', 'redis', 'redis/sonic']];
  for (const P of opt.pipelines) {
    const target = P > 1 ? 0.8 : 0.6;
    for (const test of opt.tests) {
      const s = median(samples.sonic[P]?.[test] ?? []);
      const r = median(samples.redis[P]?.[test] ?? []);
      const ratio = s / r;
      const cs = median(cpu.sonic[P]?.[test] ?? []);
      const cr = median(cpu.redis[P]?.[test] ?? []);
      const ok = Number.isFinite(ratio) ? (ratio >= target ? 'yes' : 'NO') : support[test].supported ? '?' : 'missing';
      summary.push({ test, pipeline: P, sonicRps: s, redisRps: r, ratio, target, supported: support[test].supported, sonicCpuNsPerReq: cs, redisCpuNsPerReq: cr, cpuRatio: cr / cs });
      rows.push([
        test.toUpperCase(),
        `-P ${P}`,
        fmtInt(s),
        fmtInt(r),
        Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a',
        `>= ${target}`,
        ok,
        fmtInt(cs),
        fmtInt(cr),
        Number.isFinite(cr / cs) ? (cr / cs).toFixed(2) : 'n/a',
      ]);
    }
  }
  process.stdout.write(`\nMedian requests/sec over ${opt.rounds} interleaved round(s) (-c ${opt.clients}):\n\n`);
  process.stdout.write(table(rows, (i) => i !== 0 && i !== 1) + '\n');
  process.stdout.write(
    'CPU ns/req: server CPU time (all threads, user+sys) per request; redis/sonic is the efficiency ratio, less sensitive to a busy machine than req/s.\n',
  );

  let memory = null;
  if (opt.memory && !stopped && Date.now() < deadline) {
    process.stdout.write(`\nMemory: ${opt.memoryKeys.toLocaleString('en-US')} string keys (16-byte keys, 32-byte values)\n`);
    memory = await memoryBenchmark({ keys: opt.memoryKeys, sonicMain: opt.sonicMain, redisServer: opt.redisServer, log: (s) => process.stdout.write(`  ${s}\n`) });
    printMemory(memory);
  }

  const result = {
    when: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: { ...machine, loadavgAtEnd: loadavg() },
    options: opt,
    support,
    summary,
    samples,
    cpu,
    details,
    memory,
  };
  if (opt.json) {
    writeFileSync(opt.json, JSON.stringify(result, null, 2));
    process.stdout.write(`\nbench: wrote ${opt.json}\n`);
  }
  process.stdout.write(`bench: done in ${result.seconds} s\n`);
}

runMain(main);

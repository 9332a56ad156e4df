#!/usr/bin/env node
// The router against twemproxy, in the same run, interleaved (docs/benchmarks.md, "Router").
//
// Starts, on free loopback ports: a Sonic cluster of 3 controllers and 3 primaries
// (`sonic cluster create`) with (a) `sonic router` and (b) `sonic router --workers 2` in
// front of it; (c) one standalone `sonic node`; (d) Debian's `nutcracker` (twemproxy,
// `redis: true`, fnv1a_64, ketama) in front of 3 redis-servers. Then, for several rounds,
// for -P 1 and -P 16, for SET, GET and MGET (10 keys), runs
// `redis-benchmark -c 50 -r 100000 -t TEST` against each target, rotating which goes
// first; prints median req/s, the ratios router/nutcracker, and the proxy's CPU time per
// request. Everything it started is stopped at the end, on error and on SIGINT/SIGTERM.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_SONIC_MAIN,
  command,
  cpuNs,
  fmtInt,
  freePort,
  killAll,
  loadavg,
  median,
  parseArgs,
  parseCsv,
  run,
  runMain,
  sleep,
  startRedis,
  startServer,
  startSonic,
  table,
} from './lib.mjs';

const USAGE = `Usage: node bench/router.mjs [options]

  --rounds N          interleaved rounds (default 3; median over rounds)
  --requests N        requests per test at -P 1 (default 50000)
  --requests-p16 N    requests per test at -P 16 (default 10 x --requests)
  --clients N         parallel connections (default 50)
  --random-keys N     redis-benchmark -r N: keys spread over the shards (default 100000)
  --tests LIST        redis-benchmark tests (default set,get,mget)
  --pipelines LIST    pipeline depths (default 1,16)
  --targets LIST      of router,router-w2,node,nutcracker (default all)
  --quick             1 round, 10000/50000 requests (a smoke run, ~1 minute)
  --json FILE         write all results (every sample) as JSON
  --max-seconds N     give up (and report what was measured) after N s (default 1200)
  --sonic-main PATH   the sonic CLI (default packages/cli/dist/main.js, or $SONIC_MAIN)
  --nutcracker BIN    (default nutcracker; apt-get install nutcracker)
  --redis-benchmark BIN (default redis-benchmark)
`;

/** Tests redis-benchmark lacks, as command lines (its CSV names them by the first word). */
const CUSTOM = { mget: ['MGET', ...Array.from({ length: 10 }, () => 'key:__rand_int__')] };

const ALL_TARGETS = ['router', 'router-w2', 'node', 'nutcracker'];

function parse() {
  const o = parseArgs(process.argv.slice(2), {
    rounds: 'int',
    requests: 'int',
    'requests-p16': 'int',
    clients: 'int',
    'random-keys': 'int',
    tests: 'string',
    pipelines: 'string',
    targets: 'string',
    quick: 'bool',
    json: 'string',
    'max-seconds': 'int',
    'sonic-main': 'string',
    nutcracker: 'string',
    'redis-benchmark': 'string',
  });
  if (o.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = o.quick === true;
  const requests = o.requests ?? (quick ? 10000 : 50000);
  const targets = (o.targets ?? ALL_TARGETS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of targets) if (!ALL_TARGETS.includes(t)) throw new Error(`--targets: unknown target '${t}' (${ALL_TARGETS.join(', ')})`);
  return {
    rounds: o.rounds ?? (quick ? 1 : 3),
    requests,
    requestsP16: o.requestsP16 ?? requests * (quick ? 5 : 10),
    clients: o.clients ?? 50,
    randomKeys: o.randomKeys ?? 100000,
    tests: (o.tests ?? 'set,get,mget').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
    pipelines: (o.pipelines ?? '1,16').split(',').map(Number),
    targets,
    json: o.json ?? null,
    maxSeconds: o.maxSeconds ?? 1200,
    sonicMain: o.sonicMain ?? DEFAULT_SONIC_MAIN,
    nutcracker: o.nutcracker ?? 'nutcracker',
    redisBenchmark: o.redisBenchmark ?? 'redis-benchmark',
    quick,
  };
}

const QUIET = { SONIC_LOG_LEVEL: 'warn' };

const isFree = (port) =>
  new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });

/** A port P with P + 10000 free too (a controller's RESP and Raft/API ports). */
async function portPair() {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 35000);
    if ((await isFree(p)) && (await isFree(p + 10000))) return p;
  }
  throw new Error('no free port pair');
}

async function until(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  let last = null;
  while (Date.now() < end) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out: ${what}${last ? ` (${last.message})` : ''}`);
}

/** 3 controllers + 3 primaries (no replicas, no persistence), slots assigned. */
async function sonicCluster(main) {
  const ports = [];
  while (ports.length < 3) {
    const p = await portPair();
    if (!ports.includes(p)) ports.push(p);
  }
  const peers = ports.map((p, i) => `c${i + 1}=127.0.0.1:${p}`).join(',');
  const controllers = ports.map((p) => `127.0.0.1:${p}`).join(',');
  const procs = await Promise.all(
    ports.map((p, i) => startServer(`controller${i + 1}`, process.execPath, [main, 'controller', '--id', `c${i + 1}`, '--peers', peers, '--dir', '.'], p, { env: QUIET })),
  );
  const primaries = [];
  for (let i = 1; i <= 3; i++) {
    const port = await freePort();
    const bus = await freePort();
    const args = [main, 'node', '--port', String(port), '--bus-port', String(bus), '--bind', '127.0.0.1', '--dir', '.', '--save', '', '--appendonly', 'no'];
    args.push('--controllers', controllers, '--cluster-enabled', 'yes', '--cluster-shard', `shard-${i}`, '--cluster-node-id', `p${i}`);
    primaries.push(await startServer(`shard${i}`, process.execPath, args, port, { env: QUIET }));
  }
  await until('3 shards registered', () => {
    const r = spawnSync(process.execPath, [main, 'status', '--json', '--controllers', controllers], { encoding: 'utf8', timeout: 10000 });
    return JSON.parse(r.stdout).config.shards.filter((s) => s.primary).length === 3;
  });
  const r = spawnSync(process.execPath, [main, 'cluster', 'create', '--controllers', controllers], { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`sonic cluster create: ${r.stderr}${r.stdout}`);
  await until('every primary serves its slots', async () => {
    for (const p of primaries) if (!(await command(p.port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok')) return false;
    return true;
  });
  return { controllers, procs: [...procs, ...primaries], primaries };
}

/** `sonic router` in front of the cluster; ready once SETs of many keys (every shard) go through. */
async function startRouter(main, controllers, extra, name) {
  const port = await freePort();
  const args = [main, 'router', '--port', String(port), '--controllers', controllers, '--log-level', 'warn', ...extra];
  // --workers forks N processes: slow to start on a loaded machine.
  const srv = await startServer(name, process.execPath, args, port, { env: QUIET, startTimeoutMs: 60000 });
  await until(`${name} routes to every shard`, async () => {
    for (let i = 0; i < 30; i++) if (!(await command(port, ['SET', `probe:${i}`, '1'])).startsWith('+OK')) return false;
    return true;
  });
  return srv;
}

/** nutcracker (twemproxy) in front of 3 redis-servers, its YAML in a scratch dir. */
async function nutcracker(bin) {
  const redis = [];
  for (let i = 0; i < 3; i++) redis.push(await startRedis());
  const port = await freePort();
  const stats = await freePort();
  const dir = redis[0].dir;
  const conf = join(dir, 'nutcracker.yml');
  writeFileSync(
    conf,
    [
      'sonic_bench:',
      `  listen: 127.0.0.1:${port}`,
      '  hash: fnv1a_64',
      '  distribution: ketama',
      '  redis: true',
      '  auto_eject_hosts: false',
      '  preconnect: true',
      '  servers:',
      ...redis.map((r) => `    - 127.0.0.1:${r.port}:1`),
      '',
    ].join('\n'),
  );
  const proxy = await startServer('nutcracker', bin, ['-c', conf, '-s', String(stats), '-a', '127.0.0.1', '-o', join(dir, 'nutcracker.out'), '-p', join(dir, 'nutcracker.pid')], port);
  return { proxy, redis };
}

/** CPU ns of a process and its children (the router's --workers), all threads. */
function treeCpuNs(pid) {
  let ns = cpuNs(pid);
  let kids = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  for (const k of kids) ns += treeCpuNs(k);
  return ns;
}

async function main() {
  const opt = parse();
  const started = Date.now();
  const deadline = started + opt.maxSeconds * 1000;
  const nv = await run(opt.nutcracker, ['--version'], { timeoutMs: 5000 }).catch(() => null);
  if (!nv || nv.code !== 0) throw new Error(`${opt.nutcracker} not found: apt-get install -y nutcracker (Debian twemproxy)`);
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    node: process.version,
    nutcracker: (nv.stdout + nv.stderr).trim().split('\n')[0],
    loadavgAtStart: loadavg(),
  };
  process.stdout.write(
    `bench: ${machine.cpus} cpus (${machine.cpuModel}), node ${machine.node}, ${machine.nutcracker}, load ${machine.loadavgAtStart.join(' ')}\n` +
      `bench: ${opt.rounds} round(s), -c ${opt.clients}, -r ${opt.randomKeys}, -n ${opt.requests} (P1) / ${opt.requestsP16} (P16), tests ${opt.tests.join(',')}, targets ${opt.targets.join(',')}\n`,
  );

  /** name -> { port, pid (the process whose tree is the proxy), flush() } */
  const targets = {};
  const stops = [];
  try {
    const want = (t) => opt.targets.includes(t);
    if (want('router') || want('router-w2')) {
      const cl = await sonicCluster(opt.sonicMain);
      stops.push(...cl.procs);
      const flush = () => Promise.all(cl.primaries.map((p) => command(p.port, ['FLUSHALL'], 30000)));
      if (want('router')) {
        const r = await startRouter(opt.sonicMain, cl.controllers, [], 'router');
        stops.push(r);
        targets.router = { port: r.port, pid: r.pid, flush };
      }
      if (want('router-w2')) {
        const r = await startRouter(opt.sonicMain, cl.controllers, ['--workers', '2'], 'router-w2');
        stops.push(r);
        targets['router-w2'] = { port: r.port, pid: r.pid, flush };
      }
    }
    if (want('node')) {
      const n = await startSonic({ main: opt.sonicMain });
      stops.push(n);
      targets.node = { port: n.port, pid: n.pid, flush: () => command(n.port, ['FLUSHALL'], 30000) };
    }
    if (want('nutcracker')) {
      const t = await nutcracker(opt.nutcracker);
      stops.push(t.proxy, ...t.redis);
      targets.nutcracker = { port: t.proxy.port, pid: t.proxy.pid, flush: () => Promise.all(t.redis.map((r) => command(r.port, ['FLUSHALL'], 30000))) };
    }
    for (const [name, t] of Object.entries(targets)) process.stdout.write(`bench: ${name} port ${t.port} pid ${t.pid}\n`);

    async function bench(name, test, n, P) {
      const t = targets[name];
      const args = ['-h', '127.0.0.1', '-p', String(t.port), '-c', String(opt.clients), '-n', String(n), '-P', String(P), '-r', String(opt.randomKeys), '-q', '--csv'];
      // redis-benchmark has no MGET test: a command line of 10 random keys of the SET/GET keyspace.
      args.push(...(CUSTOM[test] ?? ['-t', test]));
      const timeoutMs = Math.max(30000, (n / 2000) * 1000);
      const c0 = treeCpuNs(t.pid);
      const r = await run(opt.redisBenchmark, args, { timeoutMs });
      const c1 = treeCpuNs(t.pid);
      const parsed = parseCsv(r.stdout)[test];
      return { r, parsed, rps: parsed?.rps ?? NaN, cpuNsPerReq: (c1 - c0) / n };
    }

    const names = opt.targets.filter((t) => targets[t]);
    process.stdout.write(`bench: warm-up (${opt.requests} requests per test and target, -P 16, not recorded)\n`);
    for (const test of opt.tests) for (const name of names) await bench(name, test, opt.requests, 16);

    const samples = {};
    const cpu = {};
    const details = [];
    let stopped = false;
    outer: for (let round = 0; round < opt.rounds; round++) {
      await Promise.all(names.map((n) => targets[n].flush().catch(() => {})));
      for (const P of opt.pipelines) {
        const n = P > 1 ? opt.requestsP16 : opt.requests;
        for (let ti = 0; ti < opt.tests.length; ti++) {
          const test = opt.tests[ti];
          // Rotate who goes first, by round and by test: drift in the shared machine's load
          // then favours no target.
          const k = (round + ti) % names.length;
          for (const name of [...names.slice(k), ...names.slice(0, k)]) {
            if (Date.now() > deadline) {
              process.stdout.write(`bench: --max-seconds ${opt.maxSeconds} reached; reporting what was measured\n`);
              stopped = true;
              break outer;
            }
            const { r, parsed, rps, cpuNsPerReq } = await bench(name, test, n, P);
            ((samples[name] ??= {})[P] ??= {})[test] ??= [];
            samples[name][P][test].push(rps);
            (((cpu[name] ??= {})[P] ??= {})[test] ??= []).push(cpuNsPerReq);
            details.push({ round, pipeline: P, test, target: name, requests: n, ...(parsed ?? {}), cpuNsPerReq, timedOut: r.timedOut, exit: r.code, loadavg: loadavg() });
            const note = r.timedOut ? ' TIMEOUT' : parsed === undefined ? ` FAILED (${(r.stderr || r.stdout).trim().slice(0, 120)})` : '';
            process.stdout.write(
              `  round ${round + 1} P${String(P).padEnd(2)} ${test.padEnd(5)} ${name.padEnd(10)} ${fmtInt(rps).padStart(10)} req/s  ${fmtInt(cpuNsPerReq).padStart(6)} ns CPU/req${note}\n`,
            );
          }
        }
      }
    }

    // ------------------------------------------------------------ report
    const med = (name, P, test, src = samples) => median(src[name]?.[P]?.[test] ?? []);
    const ratio = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : 'n/a');
    const rows = [['command', 'pipeline', ...names.map((n) => `${n} req/s`), 'router/nutcracker', 'w2/nutcracker', 'router/node']];
    const cpuRows = [['command', 'pipeline', ...names.map((n) => `${n} ns`)]];
    const summary = [];
    for (const P of opt.pipelines) {
      for (const test of opt.tests) {
        const v = Object.fromEntries(names.map((n) => [n, med(n, P, test)]));
        rows.push([
          test.toUpperCase(),
          `-P ${P}`,
          ...names.map((n) => fmtInt(v[n])),
          ratio(v.router, v.nutcracker),
          ratio(v['router-w2'], v.nutcracker),
          ratio(v.router, v.node),
        ]);
        cpuRows.push([test.toUpperCase(), `-P ${P}`, ...names.map((n) => fmtInt(med(n, P, test, cpu)))]);
        summary.push({ test, pipeline: P, rps: v, cpuNsPerReq: Object.fromEntries(names.map((n) => [n, med(n, P, test, cpu)])) });
      }
    }
    process.stdout.write(`\nMedian requests/sec over ${opt.rounds} interleaved round(s) (-c ${opt.clients}, -r ${opt.randomKeys}); targets: router/nutcracker >= 0.8, --workers 2 > nutcracker\n\n`);
    process.stdout.write(table(rows, (i) => i > 1) + '\n');
    process.stdout.write('\nProxy (or node) CPU time per request, all threads and --workers processes (ns):\n\n');
    process.stdout.write(table(cpuRows, (i) => i > 1) + '\n');
    const result = {
      when: new Date(started).toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      stopped,
      machine: { ...machine, loadavgAtEnd: loadavg() },
      options: opt,
      summary,
      samples,
      cpu,
      details,
    };
    if (opt.json) {
      writeFileSync(opt.json, JSON.stringify(result, null, 2));
      process.stdout.write(`\nbench: wrote ${opt.json}\n`);
    }
    process.stdout.write(`bench: load average at the end ${result.machine.loadavgAtEnd.join(' ')}; done in ${result.seconds} s\n`);
  } finally {
    await Promise.all(stops.reverse().map((s) => s.stop().catch(() => {})));
  }
}

runMain(main);

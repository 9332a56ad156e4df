// Shared helpers of the benchmark scripts: free ports, starting and stopping the two
// servers, a minimal RESP connection, RSS readings, child processes with a deadline.
// Plain Node ESM, no build step, no dependencies.

import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(BENCH_DIR, '..');
export const DEFAULT_SONIC_MAIN = process.env.SONIC_MAIN ?? join(REPO_ROOT, 'packages/cli/dist/main.js');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A port the kernel considers free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

// ------------------------------------------------------------------ process registry

const children = new Set();
/** Scratch directories of started servers, removed by killAll. */
const scratchDirs = new Set();
let hooksInstalled = false;

/** Kills every process this one started and removes the servers' scratch dirs; idempotent. */
export function killAll(signal = 'SIGKILL') {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    } catch {
      /* already gone */
    }
  }
  children.clear();
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
  scratchDirs.clear();
}

function installHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => killAll());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping servers\n`);
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    killAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    killAll();
    process.exit(1);
  });
}

function track(child) {
  installHooks();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs a script's async main: exit 0 when it resolves, 1 (with the stack) when it throws; every started process killed either way. */
export function runMain(main) {
  main().then(
    () => {
      killAll();
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`bench: ${err?.stack ?? err}\n`);
      killAll();
      process.exit(1);
    },
  );
}

// ------------------------------------------------------------------ servers

/**
 * A started server: `name`, `port`, `pid`, `proc`, `stop()` (SIGTERM, then SIGKILL
 * after a grace period), `exited` (a promise of the exit code).
 */
export async function startServer(name, cmd, args, port, opts = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `bench-${name}-`));
  if (opts.dir === undefined && !opts.keepDir) scratchDirs.add(dir);
  const logPath = join(dir, `${name}.log`);
  const log = openSync(logPath, 'a');
  const proc = track(spawn(cmd, args, { cwd: dir, stdio: ['ignore', log, log], env: { ...process.env, ...(opts.env ?? {}) } }));
  const exited = new Promise((res) => proc.once('exit', (code, sig) => res(code ?? sig)));
  let early = null;
  void exited.then((c) => (early = c));
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15000);
  for (;;) {
    if (early !== null) {
      const tail = safeRead(logPath).slice(-2000);
      throw new Error(`${name} exited during start-up (${early}); log ${logPath}:\n${tail}`);
    }
    try {
      const r = await command(port, ['PING'], 1000);
      if (r.startsWith('+PONG')) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${name} did not answer PING on port ${port} within ${opts.startTimeoutMs ?? 15000} ms; log ${logPath}`);
    }
    await sleep(100);
  }
  const server = {
    name,
    port,
    pid: proc.pid,
    proc,
    dir,
    logPath,
    exited,
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      if (!opts.keepDir && opts.dir === undefined) {
        rmSync(dir, { recursive: true, force: true });
        scratchDirs.delete(dir);
      }
      return code;
    },
  };
  return server;
}

function safeRead(p) {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Starts `sonic node` on a free port. `nodeArgs` go to node itself (e.g. --cpu-prof). */
export async function startSonic({ main = DEFAULT_SONIC_MAIN, nodeArgs = [], extraArgs = [], port, dir, keepDir } = {}) {
  port ??= await freePort();
  const args = [...nodeArgs, main, 'node', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs];
  return startServer('sonic', process.execPath, args, port, { dir, keepDir });
}

/** Starts Debian's redis-server on a free port, without persistence. */
export async function startRedis({ bin = 'redis-server', extraArgs = [], port, dir } = {}) {
  port ??= await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extraArgs];
  return startServer('redis', bin, args, port, { dir });
}

// ------------------------------------------------------------------ RESP

/** Encodes one command as a RESP array of bulk strings (latin1). */
export function encode(args) {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`;
  return s;
}

/**
 * Sends one command on a fresh connection and returns the raw reply text once a
 * complete reply (for the simple types) has arrived. Enough for PING, FLUSHALL,
 * DBSIZE, INFO and probes; not a general client.
 */
export function command(port, args, timeoutMs = 5000) {
  return new Promise((res, rej) => {
    const sock = connect({ port, host: '127.0.0.1' });
    let buf = '';
    const t = setTimeout(() => {
      sock.destroy();
      rej(new Error(`timeout waiting for reply to ${args[0]}`));
    }, timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write(encode(args), 'latin1'));
    sock.on('data', (d) => {
      buf += d;
      if (replyComplete(buf)) {
        clearTimeout(t);
        sock.destroy();
        res(buf);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
  });
}

/** True once `s` holds one whole reply (a simple line, or a bulk whose body arrived). */
function replyComplete(s) {
  const eol = s.indexOf('\r\n');
  if (eol < 0) return false;
  const t = s[0];
  if (t === '$') {
    const n = Number(s.slice(1, eol));
    return n < 0 || s.length >= eol + 2 + n + 2;
  }
  if (t === '*') return true; // good enough for probes: we only look at the first line
  return true;
}

// ------------------------------------------------------------------ process memory

/** Fields of /proc/<pid>/status in bytes: VmRSS, RssAnon, RssFile, VmHWM ... */
export function procStatus(pid) {
  const out = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

/**
 * CPU time (ns) the process has been running on a CPU, over all its threads (V8's GC
 * and compiler threads included), from /proc/<pid>/task/<tid>/schedstat.
 */
export function cpuNs(pid) {
  let ns = 0;
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return NaN;
  }
  for (const t of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* thread ended */
    }
  }
  return ns;
}

/** User and system CPU time of the process (ms) from /proc/<pid>/stat (10 ms resolution). */
export function cpuUserSys(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { userMs: Number(f[11]) * 10, sysMs: Number(f[12]) * 10 };
}

export function rss(pid) {
  return procStatus(pid).VmRSS;
}

// ------------------------------------------------------------------ child processes

/**
 * Runs a command to completion or until `timeoutMs`, then SIGKILL. Resolves with
 * { code, signal, stdout, stderr, timedOut, ms }; never rejects for a non-zero exit.
 */
export function run(cmd, args, { timeoutMs = 60000, input } = {}) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(t);
      res({ code, signal, stdout, stderr, timedOut, ms: performance.now() - t0 });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// ------------------------------------------------------------------ redis-benchmark

/**
 * `rounds` rounds of `round(server)` on each server, the order alternating between
 * rounds; returns { [server.name]: { [key]: [value per round] } } of what each returned.
 */
export async function interleaved(servers, rounds, round) {
  const results = Object.fromEntries(servers.map((s) => [s.name, {}]));
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      const r = await round(s);
      for (const [k, v] of Object.entries(r)) (results[s.name][k] ??= []).push(v);
    }
  }
  return results;
}

/**
 * Runs each of `tests` ({ name, args }) with redis-benchmark against `server`: returns
 * { [name]: req/s, [`${name} cpu`]: the server's CPU µs per request } (CPU time is
 * steadier than throughput on a shared machine).
 */
export async function benchTests(server, tests, opts) {
  const out = {};
  for (const t of tests) {
    const cpu0 = cpuNs(server.pid);
    out[t.name] = await benchmarkRps(server.port, t.args, opts);
    out[`${t.name} cpu`] = (cpuNs(server.pid) - cpu0) / opts.requests / 1000;
  }
  return out;
}

/** Requests/second of one redis-benchmark run of a custom command (`-q`: one result line). */
export async function benchmarkRps(port, args, { requests, clients, pipeline }) {
  const r = await run(
    'redis-benchmark',
    ['-h', '127.0.0.1', '-p', String(port), '-n', String(requests), '-c', String(clients), '-P', String(pipeline), '-q', ...args],
    { timeoutMs: 300000 },
  );
  const m = /([\d.]+) requests per second/.exec(r.stdout.replace(/\r/g, '\n'));
  if (!m) throw new Error(`redis-benchmark gave no result: ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

/** The `test` column of redis-benchmark's CSV ("MSET (10 keys)", "LRANGE_100 (...)") → -t name. */
function testName(csvName) {
  return csvName.split(' ')[0].toLowerCase();
}

/** Parses `-q --csv` output: header line, then one line per finished test. */
export function parseCsv(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const cells = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    if (cells.length < 2 || cells[0] === 'test') continue;
    const rps = Number(cells[1]);
    if (!Number.isFinite(rps)) continue;
    out[testName(cells[0])] = {
      rps,
      avgMs: Number(cells[2]),
      p50Ms: Number(cells[4]),
      p99Ms: Number(cells[6]),
    };
  }
  return out;
}

// ------------------------------------------------------------------ statistics and formatting

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

export function fmtMB(bytes) {
  return Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(1)} MB` : 'n/a';
}

/** Renders rows (arrays of strings) as an aligned text table; first row is the header. */
export function table(rows, alignRight = () => true) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (alignRight(i) ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  ');
  return [line(rows[0]), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Minimal `--flag value` / `--flag` parser. `spec` maps flag → 'bool' | 'int' | 'string'. */
export function parseArgs(argv, spec) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      out.help = true;
      continue;
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m || !(m[1] in spec)) throw new Error(`unknown argument '${a}'`);
    const kind = spec[m[1]];
    const key = m[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (kind === 'bool') {
      out[key] = m[2] === undefined ? true : m[2] !== 'false' && m[2] !== '0';
      continue;
    }
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new Error(`--${m[1]} needs a value`);
    if (kind === 'int') {
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${m[1]}: not a non-negative integer: ${v}`);
      out[key] = n;
    } else out[key] = v;
  }
  return out;
}

/** Load average and a note on what else runs: the machine is shared and numbers are noisy. */
export function loadavg() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

/** `sonic controller`: flags, logger, storage, and the controller's life cycle. */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { Controller, type ControllerOptions, type RaftStorage } from './controller.js';
import type { PeerAddress } from './transport.js';
import { openRaftStorage } from './storage.js';
import { startControllerMetrics } from './metrics.js';

export const CONTROLLER_USAGE = `Usage: sonic controller --id ID --peers ID=HOST:PORT,... [options]

Starts one controller of a Raft group (three or five) that holds the cluster
configuration, watches every node and fails over by itself. Its port speaks the Redis
Sentinel protocol (shard ids are the master names); port + 10000 (the bus) serves Raft
and the control API (gRPC).

Options:
  --id ID                          this controller's id (one of --peers)
  --peers ID=HOST:PORT[@BUS],...   every controller of the group, this one included
  --port PORT                      Sentinel (RESP) port [26379, or this id's port in --peers]
  --bus-port PORT                  Raft and control API (gRPC) [port + 10000]
  --bind ADDR                      address to listen on [127.0.0.1]
  --dir DIR                        where the Raft log and snapshots are kept [.]
  --down-after-milliseconds MS     a node is down after MS without a valid PING reply [5000]
  --quorum N                       controllers that must agree a node is down [majority]
  --failover-timeout MS            longest wait for a replica to catch up in a manual failover [10000]
  --auth-pass PASSWORD             the nodes' requirepass (probes and commands)
  --requirepass PASSWORD           password of this controller's Sentinel port
  --metrics-port PORT              serve Prometheus metrics on GET /metrics (0: off) [0]
  --tick-ms MS                     Raft clock tick [50]
  --election-ticks N               ticks without a leader before an election [10]
  --loglevel debug|info|warn|error [info] (or SONIC_LOG_LEVEL)
  --check-config                   validate the options, print ok and exit
  --help                           show this help
`;

export class ControllerConfigError extends Error {}

function int(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new ControllerConfigError(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return Number(v);
}

/** Parses "c1=127.0.0.1:26379,c2=127.0.0.1:26380@36380,...". */
export function parsePeers(s: string): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (const raw of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9._-]{1,64})=(\[[^\]]+\]|[^:@=]+):(\d+)(?:@(\d+))?$/.exec(raw);
    if (!m) throw new ControllerConfigError(`invalid peer '${raw}' (expected ID=HOST:PORT or ID=HOST:PORT@BUSPORT)`);
    const port = Number(m[3]);
    const busPort = m[4] !== undefined ? Number(m[4]) : port + 10000;
    if (port < 1 || port > 65535 || busPort < 1 || busPort > 65535) throw new ControllerConfigError(`invalid port in peer '${raw}' (the bus port is port + 10000: at most 65535)`);
    if (out.some((p) => p.id === m[1])) throw new ControllerConfigError(`peer id '${m[1]}' given twice`);
    out.push({ id: m[1]!, host: m[2]!.replace(/^\[(.*)\]$/, '$1'), port, busPort });
  }
  return out;
}

/**
 * Reads `--name value` and `--name=value` options of `sonic <verb>` into `into`; every
 * name must be in `known`. Throws what `fail` makes of a one-line reason.
 */
export function readOptions(args: readonly string[], known: ReadonlySet<string>, verb: string, into: Map<string, string>, fail: (msg: string) => Error): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw fail(`unexpected argument '${a}' (see sonic ${verb} --help)`);
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (!known.has(name)) throw fail(`unknown option '--${name}' (see sonic ${verb} --help)`);
    if (value === undefined) {
      if (i + 1 >= args.length) throw fail(`--${name} needs a value`);
      value = args[++i]!;
    }
    into.set(name, value);
  }
}

export function parseControllerArgs(args: string[], env: NodeJS.ProcessEnv): ControllerOptions & { logLevel: string; metricsPort: number } {
  const v = new Map<string, string>();
  const known = new Set([
    'id',
    'peers',
    'port',
    'bus-port',
    'bind',
    'dir',
    'down-after-milliseconds',
    'quorum',
    'failover-timeout',
    'auth-pass',
    'requirepass',
    'tick-ms',
    'election-ticks',
    'loglevel',
    'metrics-port',
  ]);
  readOptions(args, known, 'controller', v, (m) => new ControllerConfigError(m));
  const id = v.get('id') ?? env.SONIC_CONTROLLER_ID ?? '';
  if (id === '') throw new ControllerConfigError('--id is required (see sonic controller --help)');
  const peersArg = v.get('peers') ?? env.SONIC_CONTROLLER_PEERS ?? '';
  if (peersArg === '') throw new ControllerConfigError('--peers is required: every controller of the group as ID=HOST:PORT,...');
  const peers = parsePeers(peersArg);
  const self = peers.find((p) => p.id === id);
  if (!self) throw new ControllerConfigError(`--id ${id} is not one of --peers (${peers.map((p) => p.id).join(', ')})`);
  const port = v.has('port') ? int('port', v.get('port')!, 0, 65535) : self.port;
  const busPort = v.has('bus-port') ? int('bus-port', v.get('bus-port')!, 0, 65535) : port + 10000;
  if (busPort > 65535) throw new ControllerConfigError(`the bus port (port + 10000 = ${busPort}) is above 65535: choose a lower --port or set --bus-port`);
  self.port = port;
  self.busPort = busPort;
  const n = peers.length;
  const quorum = v.has('quorum') ? int('quorum', v.get('quorum')!, 1, n) : Math.floor(n / 2) + 1;
  const level = v.get('loglevel') ?? env.SONIC_LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) throw new ControllerConfigError(`--loglevel must be debug, info, warn or error, not '${level}'`);
  return {
    id,
    port,
    busPort,
    bind: v.get('bind') ?? '127.0.0.1',
    peers,
    dir: v.get('dir') ?? '.',
    downAfterMs: int('down-after-milliseconds', v.get('down-after-milliseconds') ?? '5000', 1, 86_400_000),
    quorum,
    failoverTimeoutMs: int('failover-timeout', v.get('failover-timeout') ?? '10000', 100, 86_400_000),
    nodePassword: v.get('auth-pass') ?? env.SONIC_AUTH_PASS ?? '',
    requirepass: v.get('requirepass') ?? env.SONIC_CONTROLLER_REQUIREPASS ?? '',
    tickMs: int('tick-ms', v.get('tick-ms') ?? '50', 1, 10_000),
    electionTicks: int('election-ticks', v.get('election-ticks') ?? '10', 2, 10_000),
    heartbeatTicks: 2,
    logLevel: level,
    metricsPort: int('metrics-port', v.get('metrics-port') ?? env.SONIC_METRICS_PORT ?? '0', 0, 65535),
  };
}

/**
 * What `--check-config` adds to parsing, without creating the directory or binding:
 * --dir is a directory (or can be made under an existing one), and the ports differ.
 */
export function checkControllerStartable(opts: ControllerOptions & { metricsPort: number }): void {
  let d = resolve(opts.dir);
  for (;;) {
    try {
      if (!statSync(d).isDirectory()) throw new ControllerConfigError(`cannot use --dir ${opts.dir}: ${d} is not a directory`);
      break;
    } catch (e) {
      if (e instanceof ControllerConfigError) throw e;
      if (dirname(d) === d) throw new ControllerConfigError(`cannot use --dir ${opts.dir}: ${(e as NodeJS.ErrnoException).code}`);
      d = dirname(d); // made at start (mkdir -p)
    }
  }
  const ports = [opts.port, opts.busPort, opts.metricsPort].filter((p) => p > 0);
  if (new Set(ports).size !== ports.length) throw new ControllerConfigError(`--port ${opts.port}, the bus port ${opts.busPort} and --metrics-port ${opts.metricsPort} must differ`);
}

/** `sonic controller`: resolves with the running controller (null for --help and --check-config). */
export async function runController(args: string[]): Promise<Controller | null> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(CONTROLLER_USAGE);
    return null;
  }
  const check = args.includes('--check-config');
  const opts = parseControllerArgs(
    args.filter((a) => a !== '--check-config'),
    process.env,
  );
  if (check) {
    checkControllerStartable(opts);
    process.stdout.write('ok\n');
    return null;
  }
  try {
    mkdirSync(opts.dir, { recursive: true });
  } catch (e) {
    throw new ControllerConfigError(`cannot use --dir ${opts.dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const log: Logger = pino({ level: opts.logLevel, base: { pid: process.pid, component: 'controller', controller: opts.id } }, pino.destination({ dest: 1, sync: false }));
  let storage: RaftStorage;
  try {
    storage = await openRaftStorage(opts.dir);
  } catch (e) {
    throw new ControllerConfigError(`cannot open the Raft storage in ${opts.dir}: ${(e as Error).message}`);
  }
  // grpc-js prints bind failures itself; ours is one line.
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const c = new Controller(opts, log, storage);
  try {
    await c.start();
  } catch (e) {
    await c.close().catch(() => {});
    const msg = (e as Error).message;
    const code = (e as NodeJS.ErrnoException).code ?? /\b(E[A-Z]{4,})\b/.exec(msg)?.[1] ?? msg;
    throw new ControllerConfigError(`cannot listen on ${opts.bind} port ${opts.port} / bus ${opts.busPort}: ${code}`);
  }
  let metrics: import('node:http').Server | null = null;
  if (opts.metricsPort > 0) {
    try {
      metrics = await startControllerMetrics(c, opts.metricsPort, opts.bind);
    } catch (e) {
      await c.close().catch(() => {});
      throw new ControllerConfigError(`cannot listen on metrics port ${opts.metricsPort}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const stop = (sig: string) => {
    log.info({ signal: sig }, 'controller shutting down');
    metrics?.close();
    void c.close().finally(() => {
      log.flush();
      setTimeout(() => process.exit(0), 50).unref();
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return c;
}

import { statSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { parseControllers } from '@sonic/controller';
import { Config, ConfigError } from './config/config.js';
import { SETTINGS } from './config/settings.js';
import { Server } from './server/server.js';
import { Replication, parseHostPort } from './replication/replication.js';
import { busPortFor } from './replication/bus.js';
import { ClusterAgent } from './cluster/agent.js';
import { tableMismatches } from './commands/index.js';
import { SONIC_VERSION } from './commands/connection.js';

export const NODE_USAGE = `Usage: sonic node [--config FILE] [--<setting> VALUE ...]

Starts a Sonic node: a Redis-compatible keyspace engine serving RESP on its port.

Options:
  --config FILE         read settings from a redis.conf-style file
  --check-config        validate the configuration and exit
  --help                show this help
  --<setting> VALUE     any setting below (same names as redis.conf and CONFIG SET)

Environment: SONIC_<SETTING> (dashes as underscores, e.g. SONIC_MAXMEMORY=256mb),
and REDIS_PASSWORD, REDIS_MAXMEMORY, REDIS_MAXMEMORY_POLICY.

Settings (default in brackets):
${SETTINGS.filter((s) => s.help)
  .map((s) => `  --${s.name.padEnd(22)} ${s.help} [${s.default === '' ? '""' : s.default}]`)
  .join('\n')}
  (every other Redis 7 parameter name is accepted too; see docs/configuration.md)
`;

/** Builds the configuration from defaults, file, environment and flags, in that order. */
export function buildConfig(args: string[], env: NodeJS.ProcessEnv): { config: Config; rest: string[] } {
  const config = new Config();
  const rest: string[] = [];
  let file: string | null = null;
  const flags: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--config' || a === '-c') {
      if (i + 1 >= args.length) throw new ConfigError('--config needs a file name');
      file = args[++i]!;
    } else if (a.startsWith('--config=')) file = a.slice(9);
    else if (!a.startsWith('-') && file === null && a.endsWith('.conf') && flags.length === 0) file = a;
    else flags.push(a);
  }
  if (file !== null) config.loadFile(file);
  config.loadEnv(env);
  rest.push(...config.loadArgs(flags));
  return { config, rest };
}

export function createLogger(config: Config): Logger {
  const levels: Record<string, string> = { debug: 'debug', verbose: 'debug', notice: 'info', warning: 'warn', nothing: 'silent' };
  const level = process.env.SONIC_LOG_LEVEL ?? levels[config.get('loglevel')] ?? 'info';
  const file = config.get('logfile');
  const dest = file ? pino.destination({ dest: file, sync: false, mkdir: true }) : pino.destination({ dest: 1, sync: false });
  return pino({ level, base: { pid: process.pid, component: 'node' } }, dest);
}

/**
 * What `--check-config` adds to parsing: the checks a start makes later (the data
 * directory, the replicaof and controllers addresses, the bus port), without binding a
 * port or touching the data. Throws ConfigError with the one-line reason.
 */
export function checkStartable(config: Config): void {
  const dir = config.get('dir');
  if (dir !== '') {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (err) {
      throw new ConfigError(`cannot use dir ${dir}: ${(err as NodeJS.ErrnoException).code}`);
    }
    if (!isDir) throw new ConfigError(`cannot use dir ${dir}: ENOTDIR`);
  }
  const ro = config.get('replicaof').trim();
  if (ro !== '' && ro.toLowerCase() !== 'no one' && parseHostPort(ro) === null) throw new ConfigError(`replicaof: expected "host port" or "host:port[@busport]", not '${ro}'`);
  if (config.get('controllers').trim() !== '') {
    try {
      parseControllers(config.get('controllers'));
    } catch (err) {
      throw new ConfigError(`controllers: ${(err as Error).message}`);
    }
  }
  const bus = busPortFor(config, config.int('port'));
  if (bus > 65535) throw new ConfigError(`the bus port (port + 10000 = ${bus}) is above 65535: choose a lower --port or set --bus-port`);
}

/** `sonic node`: starts a node; resolves once it listens. */
export async function runNode(args: string[]): Promise<Server | null> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(NODE_USAGE);
    return null;
  }
  const check = args.includes('--check-config');
  const { config, rest } = buildConfig(
    args.filter((a) => a !== '--check-config'),
    process.env,
  );
  if (rest.length > 0) throw new ConfigError(`unknown argument '${rest[0]}' (see sonic node --help)`);
  if (check) {
    checkStartable(config);
    process.stdout.write('ok\n');
    return null;
  }
  if (config.get('dir') !== '') {
    try {
      process.chdir(config.get('dir'));
    } catch (err) {
      throw new ConfigError(`cannot use dir ${config.get('dir')}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  const log = createLogger(config);
  const server = new Server(config, log);
  try {
    await server.listen();
  } catch (err) {
    throw new ConfigError(`cannot listen on port ${config.get('port')}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // The dataset from disk (AOF when appendonly is yes, else the RDB); LOADING meanwhile.
  try {
    await server.persistence.loadAtStart();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'Fatal error loading the DB, exiting');
    log.flush();
    process.stderr.write(`sonic: ${(err as Error).message}\n`);
    setTimeout(() => process.exit(1), 50);
    await new Promise(() => {});
  }
  // Replication: the bus (gRPC) listener, and the link to a primary when replicaof is set.
  const replication = new Replication(server, log.child({ subsystem: 'replication' }));
  server.replication = replication;
  // With controllers, the cluster agent starts replication once the configuration says
  // what this node is (docs/failover.md).
  let agent: ClusterAgent | null = null;
  if (config.get('controllers').trim() !== '') {
    try {
      agent = new ClusterAgent(server, replication, log.child({ subsystem: 'cluster' }), () => replication.start());
    } catch (err) {
      throw new ConfigError(`controllers: ${(err as Error).message}`);
    }
    server.cluster = agent;
    agent.start();
  } else {
    try {
      await replication.start();
    } catch (err) {
      throw new ConfigError(`cannot listen on the bus port: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const mism = tableMismatches();
  if (mism.unhandled.length > 0 || mism.undeclared.length > 0) {
    // The unit test of the command table fails on this; a running node answers such commands with an error.
    log.warn({ unhandled: mism.unhandled, undeclared: mism.undeclared }, 'command table and handlers disagree');
  }
  log.info({ port: server.port, bind: config.get('bind'), version: SONIC_VERSION, runId: server.runId }, 'Ready to accept connections');
  const stop = (sig: string) => {
    void server.shutdown(sig);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  server.onShutdown = () => {
    agent?.stop();
    void replication.close();
    log.info('bye');
    log.flush();
    setTimeout(() => process.exit(0), 50).unref();
  };
  return server;
}

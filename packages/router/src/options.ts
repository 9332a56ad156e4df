/** `sonic router` flags: parsed and validated before anything starts. */
import { parseControllers, readOptions, type ControllerAddress } from '@sonic/controller';

export const ROUTER_USAGE = `Usage: sonic router (--controllers HOST:PORT,... | --seeds HOST:PORT,...) [options]

A stateless RESP proxy in front of a Sonic cluster: plain Redis clients connect to it as
to one Redis server. It watches the controllers' configuration (or reads CLUSTER SHARDS
from seed nodes), routes every command to the node owning its keys, splits multi-key
commands across slots, follows MOVED/ASK and retries safe commands during a failover.
See docs/router.md.

Options:
  --port PORT                        port to listen on [6379]
  --bind ADDR                        address to listen on [127.0.0.1]
  --controllers HOST:PORT[@BUS],...  the controllers (as sonic node --controllers)
  --seeds HOST:PORT,...              nodes to read the topology from when there are no controllers
  --read-from primary|replicas|prefer-replicas
                                     where read-only commands go [primary]
  --workers N                        router processes sharing the port [1]
  --retry-timeout MS                 how long a safe command is held and retried during a failover [2000]
  --connections N                    shared connections per node [2]
  --requirepass PW                   the router's own password (AUTH)
  --node-password PW                 the password the router sends to nodes
  --log-level debug|info|warn|error  [info] (or SONIC_LOG_LEVEL)
  --check-config                     validate the options, print ok and exit
  --help                             show this help
`;

export class RouterConfigError extends Error {}

export type ReadFrom = 'primary' | 'replicas' | 'prefer-replicas';

export interface Endpoint {
  host: string;
  port: number;
}

export interface RouterOptions {
  port: number;
  bind: string;
  controllers: ControllerAddress[];
  seeds: Endpoint[];
  readFrom: ReadFrom;
  workers: number;
  retryTimeoutMs: number;
  connections: number;
  requirepass: string;
  nodePassword: string;
  logLevel: string;
  checkConfig: boolean;
}

const KNOWN = new Set([
  'port',
  'bind',
  'controllers',
  'seeds',
  'read-from',
  'workers',
  'retry-timeout',
  'connections',
  'requirepass',
  'node-password',
  'log-level',
  'loglevel',
]);

function int(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new RouterConfigError(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return Number(v);
}

/** Parses "host:port,host:port" (a bare port means 127.0.0.1). */
export function parseEndpoints(s: string, what: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const raw of s.split(/[,\s]+/).filter(Boolean)) {
    const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(raw);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new RouterConfigError(`invalid ${what} address '${raw}' (expected host:port)`);
    out.push({ host: (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) });
  }
  return out;
}

export function parseRouterArgs(args: string[], env: NodeJS.ProcessEnv): RouterOptions {
  const v = new Map<string, string>();
  const checkConfig = args.includes('--check-config');
  readOptions(
    args.filter((a) => a !== '--check-config'),
    KNOWN,
    'router',
    v,
    (m) => new RouterConfigError(m),
  );
  if (v.has('loglevel')) v.set('log-level', v.get('loglevel')!);
  let controllers: ControllerAddress[] = [];
  try {
    controllers = parseControllers(v.get('controllers') ?? env.SONIC_CONTROLLERS ?? '');
  } catch (e) {
    throw new RouterConfigError(`--controllers: ${(e as Error).message}`);
  }
  const seeds = parseEndpoints(v.get('seeds') ?? '', 'seed');
  if (controllers.length === 0 && seeds.length === 0) throw new RouterConfigError('--controllers or --seeds is required (see sonic router --help)');
  const readFrom = v.get('read-from') ?? 'primary';
  if (readFrom !== 'primary' && readFrom !== 'replicas' && readFrom !== 'prefer-replicas') throw new RouterConfigError(`--read-from must be primary, replicas or prefer-replicas, not '${readFrom}'`);
  const logLevel = v.get('log-level') ?? env.SONIC_LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel)) throw new RouterConfigError(`--log-level must be debug, info, warn or error, not '${logLevel}'`);
  const bind = v.get('bind') ?? '127.0.0.1';
  if (bind === '') throw new RouterConfigError('--bind needs an address');
  return {
    port: int('port', v.get('port') ?? '6379', 0, 65535),
    bind,
    controllers,
    seeds,
    readFrom,
    workers: int('workers', v.get('workers') ?? '1', 1, 256),
    retryTimeoutMs: int('retry-timeout', v.get('retry-timeout') ?? '2000', 0, 600_000),
    connections: int('connections', v.get('connections') ?? '2', 1, 64),
    requirepass: v.get('requirepass') ?? env.SONIC_ROUTER_REQUIREPASS ?? '',
    nodePassword: v.get('node-password') ?? env.SONIC_AUTH_PASS ?? '',
    logLevel,
    checkConfig,
  };
}

/**
 * Every setting a node accepts: Redis 7's parameter names (so existing redis.conf files
 * and CONFIG calls keep working) and Sonic's own. One name per setting, used alike in a
 * config file, `--flags`, `SONIC_*` environment variables and CONFIG GET/SET.
 *
 * `noop: true` marks settings Sonic accepts and reports but has no use for (encoding
 * tuning, jemalloc, TLS, io-threads, ...): documented in docs/configuration.md.
 */

export type SettingType = 'bool' | 'int' | 'memory' | 'enum' | 'string' | 'percent-or-int' | 'special';

export interface Setting {
  name: string;
  type: SettingType;
  default: string;
  /** Other names for the same setting (slaveof, hash-max-ziplist-entries ...). */
  aliases?: string[];
  min?: number;
  max?: number;
  values?: string[];
  /** CONFIG SET refuses it at run time. */
  immutable?: boolean;
  /** Accepted and reported, with no effect in Sonic. */
  noop?: boolean;
  /** Validates a `special` value; returns an error message or null. */
  check?: (v: string) => string | null;
  /** Not listed by CONFIG GET * (secrets are still listed, as Redis does). */
  hidden?: boolean;
  /** One line for --help and docs. */
  help?: string;
}

const LL = Number.MAX_SAFE_INTEGER;

function b(name: string, def: 'yes' | 'no', extra: Partial<Setting> = {}): Setting {
  return { name, type: 'bool', default: def, ...extra };
}
function i(name: string, def: number, min: number, max: number, extra: Partial<Setting> = {}): Setting {
  return { name, type: 'int', default: String(def), min, max, ...extra };
}
function m(name: string, def: string, extra: Partial<Setting> = {}): Setting {
  return { name, type: 'memory', default: def, min: 0, max: LL, ...extra };
}
function e(name: string, def: string, values: string[], extra: Partial<Setting> = {}): Setting {
  return { name, type: 'enum', default: def, values, ...extra };
}
function s(name: string, def: string, extra: Partial<Setting> = {}): Setting {
  return { name, type: 'string', default: def, ...extra };
}
function noop(st: Setting): Setting {
  return { ...st, noop: true };
}

function checkSave(v: string): string | null {
  const parts = v.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 1 && parts[0] === '""') return null;
  if (parts.length % 2 !== 0) return 'Invalid save parameters';
  for (const p of parts) if (!/^\d+$/.test(p)) return 'Invalid save parameters';
  return null;
}

function checkCobl(v: string): string | null {
  const parts = v.trim().split(/\s+/).filter(Boolean);
  if (parts.length % 4 !== 0) return 'Wrong number of arguments in buffer limit configuration.';
  for (let k = 0; k < parts.length; k += 4) {
    const cls = parts[k]!.toLowerCase();
    if (!['normal', 'replica', 'slave', 'pubsub'].includes(cls)) return 'Invalid client class specified in buffer limit configuration.';
    if (parseMemory(parts[k + 1]!) === null || parseMemory(parts[k + 2]!) === null || !/^\d+$/.test(parts[k + 3]!))
      return 'Error in hard, soft or soft_seconds setting in buffer limit configuration.';
  }
  return null;
}

function checkKeyspaceEvents(v: string): string | null {
  return /^[KEg$lshzxetmndA]*$/.test(v) ? null : 'Invalid event class character. Use \'Ag$lshzxeKEtmdn\'.';
}

/** Parses Redis memory units: 1k = 1000, 1kb = 1024, 1m, 1mb, 1g, 1gb; plain bytes. */
export function parseMemory(v: string): number | null {
  const mm = /^(-?\d+)([kmg]b?|b)?$/i.exec(v.trim());
  if (!mm) return null;
  const n = Number(mm[1]);
  const unit = (mm[2] ?? '').toLowerCase();
  const mul: Record<string, number> = { '': 1, b: 1, k: 1000, kb: 1024, m: 1e6, mb: 1024 * 1024, g: 1e9, gb: 1024 * 1024 * 1024 };
  return n * mul[unit]!;
}

export const SETTINGS: Setting[] = [
  // ---- network and server ----
  i('port', 6379, 0, 65535, { help: 'TCP port for RESP clients' }),
  s('bind', '127.0.0.1 -::1', { help: 'addresses to listen on (space separated; a leading - means optional)' }),
  i('bus-port', 0, 0, 65535, { immutable: true, help: 'gRPC bus port (0: client port + 10000)' }),
  b('protected-mode', 'yes', { help: 'without a password, accept only loopback clients' }),
  i('tcp-backlog', 511, 0, 65535, { immutable: true }),
  i('timeout', 0, 0, 2147483647, { help: 'close a client idle this many seconds (0: never)' }),
  i('tcp-keepalive', 300, 0, 2147483647),
  i('maxclients', 10000, 1, 1000000),
  i('databases', 16, 1, 1000000, { immutable: true }),
  i('hz', 10, 0, 2147483647),
  b('dynamic-hz', 'yes'),
  s('requirepass', '', { help: 'password clients must AUTH with' }),
  s('masterauth', ''),
  s('masteruser', ''),
  s('dir', '', { help: 'working directory for data files (default: the current directory)' }),
  s('dbfilename', 'dump.rdb'),
  s('logfile', '', { help: 'log file (default: standard output)' }),
  e('loglevel', 'notice', ['debug', 'verbose', 'notice', 'warning', 'nothing']),
  s('pidfile', '', {}),
  b('daemonize', 'no', { immutable: true, noop: true }),
  e('supervised', 'no', ['upstart', 'systemd', 'auto', 'no'], { immutable: true, noop: true }),
  s('unixsocket', '', { immutable: true, noop: true }),
  i('unixsocketperm', 0, 0, 0o777, { immutable: true, noop: true }),
  // ---- limits ----
  m('proto-max-bulk-len', '536870912', { min: 1024 * 1024 }),
  m('client-query-buffer-limit', '1073741824', { min: 1024 * 1024 }),
  {
    name: 'client-output-buffer-limit',
    type: 'special',
    default: 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60',
    check: checkCobl,
  },
  // ---- memory ----
  m('maxmemory', '0', { help: 'memory limit (bytes, or 256mb, 1gb ...; 0: none)' }),
  e(
    'maxmemory-policy',
    'noeviction',
    ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction'],
    { help: 'what to evict when maxmemory is reached' },
  ),
  i('maxmemory-samples', 5, 1, 64),
  i('maxmemory-eviction-tenacity', 10, 0, 100),
  m('maxmemory-clients', '0'),
  i('lfu-log-factor', 10, 0, 2147483647),
  i('lfu-decay-time', 1, 0, 2147483647),
  i('active-expire-effort', 1, 1, 10),
  // ---- logging and monitoring ----
  i('slowlog-log-slower-than', 10000, -1, LL),
  i('slowlog-max-len', 128, 0, 2147483647),
  i('latency-monitor-threshold', 0, 0, LL),
  b('latency-tracking', 'yes'),
  s('latency-tracking-info-percentiles', '50 99 99.9'),
  i('metrics-port', 0, 0, 65535, {
    immutable: true,
    help: 'Prometheus endpoint: serve GET /metrics over HTTP on this port, on the first bind address (0: off)',
  }),
  s('notify-keyspace-events', '', { type: 'special', check: checkKeyspaceEvents }),
  i('acllog-max-len', 128, 0, LL),
  // ---- persistence ----
  { name: 'save', type: 'special', default: '', check: checkSave, help: 'RDB save points: "<seconds> <changes> ..." ("" disables)' },
  b('stop-writes-on-bgsave-error', 'yes'),
  b('rdbcompression', 'yes'),
  b('rdbchecksum', 'yes'),
  b('rdb-del-sync-files', 'no'),
  b('rdb-save-incremental-fsync', 'yes'),
  b('sanitize-dump-payload', 'no', { type: 'enum', values: ['no', 'yes', 'clients'] }),
  b('appendonly', 'no'),
  s('appendfilename', 'appendonly.aof', { immutable: true }),
  s('appenddirname', 'appendonlydir', { immutable: true }),
  e('appendfsync', 'everysec', ['always', 'everysec', 'no']),
  b('no-appendfsync-on-rewrite', 'no'),
  i('auto-aof-rewrite-percentage', 100, 0, 2147483647),
  m('auto-aof-rewrite-min-size', '67108864'),
  b('aof-load-truncated', 'yes'),
  b('aof-use-rdb-preamble', 'yes'),
  b('aof-rewrite-incremental-fsync', 'yes'),
  b('aof-timestamp-enabled', 'no'),
  b('aof-disable-auto-gc', 'no'),
  // ---- replication ----
  s('replicaof', '', { aliases: ['slaveof'], help: 'start as a replica of "host port"' }),
  b('replica-read-only', 'yes', { aliases: ['slave-read-only'] }),
  b('replica-serve-stale-data', 'yes', { aliases: ['slave-serve-stale-data'] }),
  i('replica-priority', 100, 0, 2147483647, { aliases: ['slave-priority'] }),
  b('replica-lazy-flush', 'no', { aliases: ['slave-lazy-flush'] }),
  b('replica-ignore-maxmemory', 'yes', { aliases: ['slave-ignore-maxmemory'] }),
  s('replica-announce-ip', '', { aliases: ['slave-announce-ip'] }),
  i('replica-announce-port', 0, 0, 65535, { aliases: ['slave-announce-port'] }),
  b('replica-announced', 'yes'),
  b('replica-ignore-disk-write-errors', 'no'),
  m('repl-backlog-size', '67108864', { min: 1 }),
  i('repl-backlog-ttl', 3600, 0, 2147483647),
  i('repl-timeout', 60, 1, 2147483647),
  i('repl-ping-replica-period', 10, 1, 2147483647, { aliases: ['repl-ping-slave-period'] }),
  b('repl-diskless-sync', 'yes'),
  i('repl-diskless-sync-delay', 5, 0, 2147483647),
  i('repl-diskless-sync-max-replicas', 0, 0, 2147483647),
  e('repl-diskless-load', 'disabled', ['disabled', 'on-empty-db', 'swapdb']),
  b('repl-disable-tcp-nodelay', 'no'),
  i('min-replicas-to-write', 0, 0, 2147483647, { aliases: ['min-slaves-to-write'] }),
  i('min-replicas-max-lag', 10, 0, 2147483647, { aliases: ['min-slaves-max-lag'] }),
  e('propagation-error-behavior', 'ignore', ['ignore', 'panic', 'panic-on-replicas']),
  e('repl-sync-mode', 'async', ['async', 'sync'], {
    help: "async (as Redis), or sync: a write's reply waits until a replica acked it",
  }),
  i('repl-sync-timeout', 1000, 1, 2147483647, { help: 'sync mode: ms to wait for a replica ack before the write answers NOREPLICAS' }),
  // ---- scripting and shutdown ----
  i('busy-reply-threshold', 5000, 0, LL, { aliases: ['lua-time-limit'] }),
  i('shutdown-timeout', 10, 0, 2147483647),
  s('shutdown-on-sigint', 'default'),
  s('shutdown-on-sigterm', 'default'),
  // ---- cluster (answered from the controller's configuration in cluster mode) ----
  b('cluster-enabled', 'no', { immutable: true }),
  s('cluster-config-file', 'nodes.conf', { immutable: true }),
  i('cluster-node-timeout', 15000, 0, LL, {
    aliases: ['node-timeout'],
    help: 'ms a primary may go without a controller majority nor any replica before it refuses writes (with --controllers)',
  }),
  i('cluster-port', 0, 0, 65535, { immutable: true }),
  // ---- controllers (docs/failover.md) ----
  s('controllers', '', { immutable: true, help: 'controllers host:port,...: register with them and follow the cluster configuration' }),
  s('cluster-shard', '', { immutable: true, help: 'with --controllers: the shard this node joins (created if new)' }),
  s('cluster-node-id', '', { immutable: true, help: 'with --controllers: this node id (default: generated, kept in dir)' }),
  b('cluster-require-full-coverage', 'yes'),
  b('cluster-allow-reads-when-down', 'no'),
  b('cluster-allow-pubsubshard-when-down', 'yes'),
  e('cluster-preferred-endpoint-type', 'ip', ['ip', 'hostname', 'unknown-endpoint']),
  s('cluster-announce-ip', ''),
  s('cluster-announce-hostname', '', { help: 'with --controllers: the DNS name this node registers as (before cluster-announce-ip; for containers)' }),
  i('cluster-announce-port', 0, 0, 65535),
  i('cluster-announce-bus-port', 0, 0, 65535),
  i('cluster-announce-tls-port', 0, 0, 65535),
  i('cluster-replica-validity-factor', 10, 0, 2147483647, { aliases: ['cluster-slave-validity-factor'] }),
  i('cluster-migration-barrier', 1, 0, 2147483647),
  b('cluster-allow-replica-migration', 'yes'),
  b('cluster-replica-no-failover', 'no', { aliases: ['cluster-slave-no-failover'] }),
  m('cluster-link-sendbuf-limit', '0'),
  // ---- accepted for compatibility; no effect in Sonic ----
  noop(i('hash-max-listpack-entries', 512, 0, LL, { aliases: ['hash-max-ziplist-entries'] })),
  noop(m('hash-max-listpack-value', '64', { aliases: ['hash-max-ziplist-value'] })),
  noop(i('list-max-listpack-size', -2, -5, 2147483647, { aliases: ['list-max-ziplist-size'] })),
  noop(i('list-compress-depth', 0, 0, 2147483647)),
  noop(i('set-max-intset-entries', 512, 0, LL)),
  noop(i('set-max-listpack-entries', 128, 0, LL)),
  noop(m('set-max-listpack-value', '64')),
  noop(i('zset-max-listpack-entries', 128, 0, LL, { aliases: ['zset-max-ziplist-entries'] })),
  noop(m('zset-max-listpack-value', '64', { aliases: ['zset-max-ziplist-value'] })),
  noop(m('hll-sparse-max-bytes', '3000')),
  noop(m('stream-node-max-bytes', '4096')),
  noop(i('stream-node-max-entries', 100, 0, LL)),
  noop(b('activerehashing', 'yes')),
  noop(b('activedefrag', 'no')),
  noop(m('active-defrag-ignore-bytes', '104857600')),
  noop(i('active-defrag-threshold-lower', 10, 0, 1000)),
  noop(i('active-defrag-threshold-upper', 100, 0, 1000)),
  noop(i('active-defrag-cycle-min', 1, 1, 99)),
  noop(i('active-defrag-cycle-max', 25, 1, 99)),
  noop(i('active-defrag-max-scan-fields', 1000, 1, LL)),
  noop(b('jemalloc-bg-thread', 'yes')),
  noop(b('lazyfree-lazy-eviction', 'no')),
  noop(b('lazyfree-lazy-expire', 'no')),
  noop(b('lazyfree-lazy-server-del', 'no')),
  noop(b('lazyfree-lazy-user-del', 'no')),
  noop(b('lazyfree-lazy-user-flush', 'no')),
  noop(i('io-threads', 1, 1, 128, { immutable: true })),
  noop(b('io-threads-do-reads', 'no', { immutable: true })),
  noop(b('disable-thp', 'yes', { immutable: true })),
  noop(b('oom-score-adj', 'no', { type: 'enum', values: ['no', 'yes', 'relative', 'absolute'] })),
  noop(s('oom-score-adj-values', '0 200 800')),
  noop(b('always-show-logo', 'no', { immutable: true })),
  noop(b('set-proc-title', 'yes', { immutable: true })),
  noop(s('proc-title-template', '{title} {listen-addr} {server-mode}')),
  noop(b('syslog-enabled', 'no', { immutable: true })),
  noop(s('syslog-ident', 'redis', { immutable: true })),
  noop(s('syslog-facility', 'local0', { immutable: true })),
  noop(b('crash-log-enabled', 'yes')),
  noop(b('crash-memcheck-enabled', 'yes')),
  noop(i('tracking-table-max-keys', 1000000, 0, LL)),
  noop(s('acl-pubsub-default', 'resetchannels', { type: 'enum', values: ['allchannels', 'resetchannels'] })),
  noop(s('aclfile', '', { immutable: true })),
  noop(s('ignore-warnings', '')),
  noop(s('bind-source-addr', '')),
  noop(i('socket-mark-id', 0, 0, LL)),
  noop(e('enable-protected-configs', 'no', ['no', 'yes', 'local'], { immutable: true })),
  e('enable-debug-command', 'no', ['no', 'yes', 'local'], { immutable: true }),
  noop(e('enable-module-command', 'no', ['no', 'yes', 'local'], { immutable: true })),
  noop(s('server_cpulist', '', { immutable: true })),
  noop(s('bio_cpulist', '', { immutable: true })),
  noop(s('aof_rewrite_cpulist', '', { immutable: true })),
  noop(s('bgsave_cpulist', '', { immutable: true })),
  noop(i('tls-port', 0, 0, 65535)),
  noop(s('tls-cert-file', '')),
  noop(s('tls-key-file', '')),
  noop(s('tls-key-file-pass', '')),
  noop(s('tls-client-cert-file', '')),
  noop(s('tls-client-key-file', '')),
  noop(s('tls-client-key-file-pass', '')),
  noop(s('tls-dh-params-file', '')),
  noop(s('tls-ca-cert-file', '')),
  noop(s('tls-ca-cert-dir', '')),
  noop(s('tls-protocols', '')),
  noop(s('tls-ciphers', '')),
  noop(s('tls-ciphersuites', '')),
  noop(b('tls-prefer-server-ciphers', 'no')),
  noop(b('tls-session-caching', 'yes')),
  noop(i('tls-session-cache-size', 20480, 0, LL)),
  noop(i('tls-session-cache-timeout', 300, 0, LL)),
  noop(b('tls-cluster', 'no')),
  noop(b('tls-replication', 'no')),
  noop(s('tls-auth-clients', 'yes', { type: 'enum', values: ['yes', 'no', 'optional'] })),
];

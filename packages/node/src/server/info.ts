/**
 * INFO: the server's report, section by section, in Redis 7.0's field names and format
 * (`# Section\r\nfield:value\r\n`, sections separated by an empty line).
 */
import { machine, totalmem, type as osType, release as osRelease } from 'node:os';
import { REDIS_COMPAT_VERSION, SONIC_VERSION } from '../commands/connection.js';
import type { Server } from './server.js';
import { latencyStatsFields } from './metrics.js';
import { EXPIRE_ENTRY } from '../engine/memory.js';

type Fields = [string, string | number][];

/** Sections in the order Redis prints them. */
const ORDER = [
  'server',
  'clients',
  'memory',
  'persistence',
  'stats',
  'replication',
  'cpu',
  'modules',
  'commandstats',
  'errorstats',
  'latencystats',
  'cluster',
  'keyspace',
] as const;
type Section = (typeof ORDER)[number];

const DEFAULT: ReadonlySet<Section> = new Set<Section>([
  'server',
  'clients',
  'memory',
  'persistence',
  'stats',
  'replication',
  'cpu',
  'modules',
  'errorstats',
  'cluster',
  'keyspace',
]);

const TITLES: Record<Section, string> = {
  server: 'Server',
  clients: 'Clients',
  memory: 'Memory',
  persistence: 'Persistence',
  stats: 'Stats',
  replication: 'Replication',
  cpu: 'CPU',
  modules: 'Modules',
  commandstats: 'Commandstats',
  errorstats: 'Errorstats',
  latencystats: 'Latencystats',
  cluster: 'Cluster',
  keyspace: 'Keyspace',
};

/** Memory in use when this module loaded: INFO's used_memory_startup. */

/** Which sections INFO's arguments ask for (none: default; `all`, `everything`, `default`, names). */
export function selectSections(args: readonly string[]): Set<Section> {
  if (args.length === 0) return new Set(DEFAULT);
  const out = new Set<Section>();
  for (const raw of args) {
    const a = raw.toLowerCase();
    if (a === 'all') for (const s of ORDER) out.add(s);
    else if (a === 'everything') for (const s of ORDER) out.add(s);
    else if (a === 'default') for (const s of DEFAULT) out.add(s);
    else if ((ORDER as readonly string[]).includes(a)) out.add(a as Section);
  }
  return out;
}

/** The INFO text for the given arguments. */
export function infoText(server: Server, args: readonly string[]): string {
  const wanted = selectSections(args);
  const parts: string[] = [];
  for (const s of ORDER) {
    if (!wanted.has(s)) continue;
    const fields = SECTIONS[s](server);
    let text = `# ${TITLES[s]}\r\n`;
    for (const [k, v] of fields) text += `${k}:${v}\r\n`;
    parts.push(text);
  }
  return parts.join('\r\n');
}

/** Redis's bytesToHuman: B, K, M, G, T, P with two decimals. */
export function bytesToHuman(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T', 'P'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)}${units[i]}`;
}

/** Memory the dataset and server use, as INFO's used_memory reports it. */
/** The dictionaries' share of used_memory: main and metadata entries, TTL entries. */
export function dictOverhead(s: Server): number {
  let n = 0;
  for (const db of s.keyspace.dbs) n += db.dict.size * s.keyspace.keyOverhead + db.expires.size * EXPIRE_ENTRY;
  return n;
}

function lruClock(): number {
  return Math.floor(Date.now() / 1000) & ((1 << 24) - 1);
}

const SECTIONS: Record<Section, (s: Server) => Fields> = {
  server: (s) => {
    const now = Date.now();
    const up = Math.floor((now - s.startedAt) / 1000);
    const hz = s.config.int('hz');
    return [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['sonic_version', SONIC_VERSION],
      ['redis_git_sha1', '00000000'],
      ['redis_git_dirty', 0],
      ['redis_build_id', '0'],
      ['redis_mode', s.config.bool('cluster-enabled') ? 'cluster' : 'standalone'],
      ['os', `${osType()} ${osRelease()} ${machine()}`],
      ['arch_bits', process.arch.endsWith('64') ? 64 : 32],
      ['monotonic_clock', 'POSIX clock_gettime'],
      ['multiplexing_api', 'libuv'],
      ['atomicvar_api', 'c11-builtin'],
      ['gcc_version', '0.0.0'],
      ['node_version', process.versions.node],
      ['process_id', process.pid],
      ['process_supervised', 'no'],
      ['run_id', s.runId],
      ['tcp_port', s.port],
      ['server_time_usec', now * 1000],
      ['uptime_in_seconds', up],
      ['uptime_in_days', Math.floor(up / 86400)],
      ['hz', hz],
      ['configured_hz', hz],
      ['lru_clock', lruClock()],
      ['executable', process.argv[1] ?? process.execPath],
      ['config_file', s.config.file ?? ''],
      ['io_threads_active', 0],
    ];
  },
  clients: (s) => {
    let maxIn = 0;
    let maxOut = 0;
    let inTimeout = 0;
    for (const c of s.clients.values()) {
      maxIn = Math.max(maxIn, c.parser.buffered);
      maxOut = Math.max(maxOut, c.socket?.writableLength ?? 0);
      if (c.blocked !== null && c.blocked.deadline > 0) inTimeout++;
    }
    return [
      ['connected_clients', s.clients.size],
      ['cluster_connections', 0],
      ['maxclients', s.config.int('maxclients')],
      ['client_recent_max_input_buffer', maxIn],
      ['client_recent_max_output_buffer', maxOut],
      ['blocked_clients', s.blockedCount],
      ['tracking_clients', 0],
      ['clients_in_timeout_table', inTimeout],
    ];
  },
  memory: (s) => {
    // used_memory is the memory model's figure (engine/memory.ts): the heap at start-up,
    // the dataset accounted incrementally, and client buffers. It is what maxmemory
    // compares against; docs/memory.md says how close it stays to V8's heapUsed.
    const mu = process.memoryUsage();
    const used = s.usedMemory();
    if (used > s.memoryPeak) s.memoryPeak = used;
    const peak = s.memoryPeak;
    const clientsMem = s.clientsMemory;
    const overhead = s.startupMemory + clientsMem + dictOverhead(s);
    const dataset = Math.max(0, used - overhead);
    const maxmemory = s.config.int('maxmemory');
    const total = totalmem();
    return [
      ['used_memory', used],
      ['used_memory_human', bytesToHuman(used)],
      ['used_memory_rss', mu.rss],
      ['used_memory_rss_human', bytesToHuman(mu.rss)],
      ['used_memory_peak', peak],
      ['used_memory_peak_human', bytesToHuman(peak)],
      ['used_memory_peak_perc', `${peak > 0 ? ((used * 100) / peak).toFixed(2) : '100.00'}%`],
      ['used_memory_overhead', overhead],
      ['used_memory_startup', s.startupMemory],
      ['used_memory_dataset', dataset],
      ['used_memory_dataset_perc', `${used > 0 ? ((dataset * 100) / used).toFixed(2) : '0.00'}%`],
      ['allocator_allocated', mu.heapUsed],
      ['allocator_active', mu.heapTotal],
      ['allocator_resident', mu.rss],
      ['total_system_memory', total],
      ['total_system_memory_human', bytesToHuman(total)],
      ['used_memory_lua', 0],
      ['used_memory_vm_eval', 0],
      ['used_memory_lua_human', '0B'],
      ['used_memory_scripts_eval', 0],
      ['number_of_cached_scripts', 0],
      ['number_of_functions', 0],
      ['number_of_libraries', 0],
      ['used_memory_vm_functions', 0],
      ['used_memory_vm_total', 0],
      ['used_memory_vm_total_human', '0B'],
      ['used_memory_functions', 0],
      ['used_memory_scripts', 0],
      ['used_memory_scripts_human', '0B'],
      ['maxmemory', maxmemory],
      ['maxmemory_human', bytesToHuman(maxmemory)],
      ['maxmemory_policy', s.config.get('maxmemory-policy')],
      ['allocator_frag_ratio', (mu.heapTotal / Math.max(1, mu.heapUsed)).toFixed(2)],
      ['allocator_frag_bytes', mu.heapTotal - mu.heapUsed],
      ['allocator_rss_ratio', (mu.rss / Math.max(1, mu.heapTotal)).toFixed(2)],
      ['allocator_rss_bytes', mu.rss - mu.heapTotal],
      ['rss_overhead_ratio', '1.00'],
      ['rss_overhead_bytes', 0],
      ['mem_fragmentation_ratio', (mu.rss / Math.max(1, used)).toFixed(2)],
      ['mem_fragmentation_bytes', mu.rss - used],
      ['mem_not_counted_for_evict', 0],
      // The backlog's batches are the replicas' buffers too (shared, as Redis 7's).
      ['mem_replication_backlog', s.replication?.backlog?.histlen ?? 0],
      ['mem_total_replication_buffers', s.replication?.backlog?.histlen ?? 0],
      ['mem_clients_slaves', 0],
      ['mem_clients_normal', clientsMem],
      ['mem_cluster_links', 0],
      ['mem_aof_buffer', 0],
      ['mem_allocator', 'v8'],
      ['active_defrag_running', 0],
      ['lazyfree_pending_objects', 0],
      ['lazyfreed_objects', 0],
    ];
  },
  persistence: (s) => s.persistence.info(),
  stats: (s) => {
    const st = s.stats;
    const ks = s.keyspace.stats;
    return [
      ['total_connections_received', st.totalConnections],
      ['total_commands_processed', st.totalCommands],
      ['instantaneous_ops_per_sec', s.instantaneousOps],
      ['total_net_input_bytes', st.netInputBytes],
      ['total_net_output_bytes', st.netOutputBytes],
      ['total_net_repl_input_bytes', s.replication?.stats.replInputBytes ?? 0],
      ['total_net_repl_output_bytes', s.replication?.stats.replOutputBytes ?? 0],
      ['instantaneous_input_kbps', s.inputKbps.toFixed(2)],
      ['instantaneous_output_kbps', s.outputKbps.toFixed(2)],
      ['instantaneous_input_repl_kbps', (s.replication?.kbps.input ?? 0).toFixed(2)],
      ['instantaneous_output_repl_kbps', (s.replication?.kbps.output ?? 0).toFixed(2)],
      ['rejected_connections', st.rejectedConnections],
      ['sync_full', s.replication?.stats.syncFull ?? 0],
      ['sync_partial_ok', s.replication?.stats.syncPartialOk ?? 0],
      ['sync_partial_err', s.replication?.stats.syncPartialErr ?? 0],
      ['expired_keys', ks.expiredKeys],
      ['expired_stale_perc', '0.00'],
      ['expired_time_cap_reached_count', 0],
      ['expire_cycle_cpu_milliseconds', 0],
      ['evicted_keys', ks.evictedKeys],
      ['evicted_clients', 0],
      ['total_eviction_exceeded_time', Math.round(s.evictor.exceededMs + (s.evictor.exceededSince > 0 ? performance.now() - s.evictor.exceededSince : 0))],
      ['current_eviction_exceeded_time', Math.round(s.evictor.exceededSince > 0 ? performance.now() - s.evictor.exceededSince : 0)],
      ['keyspace_hits', ks.keyspaceHits],
      ['keyspace_misses', ks.keyspaceMisses],
      ['pubsub_channels', s.pubsub.channels.size],
      ['pubsub_patterns', s.pubsub.patterns.size],
      ['pubsubshard_channels', s.pubsub.shardChannels.size],
      ['latest_fork_usec', 0],
      ['total_forks', 0],
      ['migrate_cached_sockets', 0],
      ['slave_expires_tracked_keys', 0],
      ['active_defrag_hits', 0],
      ['active_defrag_misses', 0],
      ['active_defrag_key_hits', 0],
      ['active_defrag_key_misses', 0],
      ['total_active_defrag_time', 0],
      ['current_active_defrag_time', 0],
      ['tracking_total_keys', 0],
      ['tracking_total_items', 0],
      ['tracking_total_prefixes', 0],
      ['unexpected_error_replies', st.unexpectedErrorReplies],
      ['total_error_replies', st.totalErrorReplies],
      ['dump_payload_sanitizations', 0],
      ['total_reads_processed', st.totalCommands],
      ['total_writes_processed', st.totalCommands],
      ['io_threaded_reads_processed', 0],
      ['io_threaded_writes_processed', 0],
      ['client_query_buffer_limit_disconnections', st.clientQueryBufferLimitDisconnections],
      ['client_output_buffer_limit_disconnections', st.clientOutputBufferLimitDisconnections],
      ['reply_buffer_shrinks', 0],
      ['reply_buffer_expands', 0],
    ];
  },
  replication: (s) => s.replication?.infoFields() ?? [
    ['role', 'master'],
    ['connected_slaves', 0],
    ['master_failover_state', 'no-failover'],
    ['master_replid', s.replId],
    ['master_replid2', '0'.repeat(40)],
    ['master_repl_offset', 0],
    ['second_repl_offset', -1],
    ['repl_backlog_active', 0],
    ['repl_backlog_size', s.config.int('repl-backlog-size')],
    ['repl_backlog_first_byte_offset', 0],
    ['repl_backlog_histlen', 0],
  ],
  cpu: () => {
    const u = process.cpuUsage();
    const sys = (u.system / 1e6).toFixed(6);
    const user = (u.user / 1e6).toFixed(6);
    return [
      ['used_cpu_sys', sys],
      ['used_cpu_user', user],
      ['used_cpu_sys_children', '0.000000'],
      ['used_cpu_user_children', '0.000000'],
      ['used_cpu_sys_main_thread', sys],
      ['used_cpu_user_main_thread', user],
    ];
  },
  modules: () => [],
  commandstats: (s) => {
    const out: Fields = [];
    for (const [name, st] of s.commandStats) {
      if (st.calls === 0 && st.rejected === 0 && st.failed === 0) continue;
      const per = st.calls > 0 ? st.usec / st.calls : 0;
      out.push([
        `cmdstat_${name}`,
        `calls=${st.calls},usec=${st.usec},usec_per_call=${per.toFixed(2)},rejected_calls=${st.rejected},failed_calls=${st.failed}`,
      ]);
    }
    return out;
  },
  errorstats: (s) => [...s.errorStats].map(([code, n]) => [`errorstat_${code}`, `count=${n}`] as [string, string]),
  latencystats: (s) => latencyStatsFields(s),
  cluster: (s) => [['cluster_enabled', s.config.bool('cluster-enabled') ? 1 : 0]],
  keyspace: (s) => {
    const out: Fields = [];
    const now = Date.now();
    for (const db of s.keyspace.dbs) {
      const keys = db.dict.size;
      if (keys === 0) continue;
      out.push([`db${db.id}`, `keys=${keys},expires=${db.expires.size},avg_ttl=${averageTtl(db.expires, now)}`]);
    }
    return out;
  },
};

/** Average remaining TTL in ms over (a bounded sample of) the keys with a TTL. */
function averageTtl(expires: ReadonlyMap<string, number>, now: number): number {
  if (expires.size === 0) return 0;
  let sum = 0;
  let n = 0;
  for (const when of expires.values()) {
    if (when > now) {
      sum += when - now;
      n++;
    }
    if (n >= 1000) break;
  }
  return n === 0 ? 0 : Math.round(sum / n);
}

import { createServer, type Server as HttpServer } from 'node:http';
import type { Server } from './server.js';

// ------------------------------------------------------------------ latency histograms

/** Buckets per power of two (values ≥ 16 µs): a bucket spans at most 1/16 = 6.25 %. */
const SUB = 16;
const SUB_BITS = 4;
const BUCKETS = SUB + (31 - SUB_BITS) * SUB;

function bucketOf(usec: number): number {
  if (usec < SUB) return usec < 0 ? 0 : usec;
  if (usec >= 0x7fffffff) return BUCKETS - 1;
  const e = 31 - Math.clz32(usec);
  return SUB + (e - SUB_BITS) * SUB + ((usec >>> (e - SUB_BITS)) & (SUB - 1));
}

/** Highest value (µs) a bucket holds. */
function bucketTop(i: number): number {
  if (i < SUB) return i;
  const e = Math.floor((i - SUB) / SUB) + SUB_BITS;
  const sub = (i - SUB) % SUB;
  return (((SUB + sub + 1) << (e - SUB_BITS)) - 1);
}

/** One command's latencies: a log-linear histogram (as HdrHistogram, ~6 % precision). */
export class LatencyHistogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sumUsec = 0;

  record(usec: number): void {
    this.counts[bucketOf(usec)]!++;
    this.count++;
    this.sumUsec += usec;
  }

  /** The value at percentile p (0..100), in µs. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return bucketTop(i);
    }
    return bucketTop(BUCKETS - 1);
  }

  /** Calls that took at most `usec` µs (by bucket tops). */
  countAtMost(usec: number): number {
    let n = 0;
    for (let i = 0; i < BUCKETS && bucketTop(i) <= usec; i++) n += this.counts[i]!;
    return n;
  }
}

/** Per-command latency histograms (INFO latencystats, /metrics), reset by CONFIG RESETSTAT. */
export class LatencyHistograms {
  readonly byCommand = new Map<string, LatencyHistogram>();
  /** Bumped by reset(): histograms handed out by `of()` before it are no longer counted. */
  gen = 0;

  record(command: string, usec: number): void {
    this.of(command).record(usec);
  }

  /** The command's histogram (created on first use). */
  of(command: string): LatencyHistogram {
    let h = this.byCommand.get(command);
    if (h === undefined) {
      h = new LatencyHistogram();
      this.byCommand.set(command, h);
    }
    return h;
  }

  reset(): void {
    this.byCommand.clear();
    this.gen++;
  }
}

/** Redis 7's `latency_percentiles_usec_<cmd>:p50=1.003,p99=...` lines. */
export function latencyStatsFields(s: Server): [string, string][] {
  const pcts = s.config
    .get('latency-tracking-info-percentiles')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((x) => Number.isFinite(x));
  const out: [string, string][] = [];
  for (const [name, h] of s.latencyHistograms.byCommand) {
    if (h.count === 0) continue;
    out.push([
      `latency_percentiles_usec_${name}`,
      pcts.map((p) => `p${formatPct(p)}=${Math.max(1, h.percentile(p)).toFixed(3)}`).join(','),
    ]);
  }
  return out;
}

function formatPct(p: number): string {
  return Number.isInteger(p) ? String(p) : String(p);
}

// ------------------------------------------------------------------ Prometheus

/** What the replication layer can expose to /metrics (it sets `replicationMetrics`). */
export interface ReplicationMetrics {
  role: 'master' | 'slave';
  /** This node's replication offset. */
  offset: number;
  /** Replicas as seen by a primary: their acknowledged offset and seconds since their last ack. */
  replicas: { id: string; offset: number; lagSeconds: number }[];
  /** On a replica: seconds since the last interaction with the primary. */
  primaryLastIoSeconds?: number;
}

/** The hook the replication layer fills in; null until it does. */
export const metricsHooks: { replication: ((s: Server) => ReplicationMetrics | null) | null } = { replication: null };

/** Bucket bounds (seconds) of the command duration histogram. */
const LE_SECONDS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

type Labels = Record<string, string | number>;
interface Sample {
  metricName?: string;
  labels?: Labels;
  value: number;
}

/**
 * A prom-client metric whose values are read from the server at scrape time: the hot
 * path only bumps the server's own counters.
 */
class ScrapedMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: () => Sample[],
  ) {}
  get(): { name: string; help: string; type: string; values: Sample[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: this.aggregator };
  }
  reset(): void {}
}

/** Builds the registry for a server (prom-client is loaded only when metrics are on). */
export async function buildRegistry(s: Server): Promise<{ metrics(): Promise<string>; contentType: string }> {
  const prom = await import('prom-client');
  const reg = new prom.Registry();
  prom.collectDefaultMetrics({ register: reg, prefix: 'sonic_process_' });
  const add = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: () => Sample[]): void => {
    reg.registerMetric(new ScrapedMetric(name, help, type, read) as unknown as Parameters<typeof reg.registerMetric>[0]);
  };
  const one = (value: number): Sample[] => [{ value }];
  const ks = s.keyspace;

  add('sonic_commands_processed_total', 'Commands processed', 'counter', () => one(s.stats.totalCommands));
  add('sonic_commands_total', 'Calls by command', 'counter', () =>
    [...s.commandStats].map(([cmd, st]) => ({ labels: { cmd }, value: st.calls })),
  );
  add('sonic_commands_failed_total', 'Failed and rejected calls by command', 'counter', () =>
    [...s.commandStats].map(([cmd, st]) => ({ labels: { cmd }, value: st.failed + st.rejected })),
  );
  add('sonic_errors_total', 'Error replies by error prefix', 'counter', () =>
    [...s.errorStats].map(([err, n]) => ({ labels: { err }, value: n })),
  );
  add('sonic_command_duration_seconds', 'Command execution time (latency-tracking)', 'histogram', () => {
    const out: Sample[] = [];
    for (const [cmd, h] of s.latencyHistograms.byCommand) {
      for (const le of LE_SECONDS) out.push({ metricName: 'sonic_command_duration_seconds_bucket', labels: { cmd, le }, value: h.countAtMost(le * 1e6) });
      out.push({ metricName: 'sonic_command_duration_seconds_bucket', labels: { cmd, le: '+Inf' }, value: h.count });
      out.push({ metricName: 'sonic_command_duration_seconds_sum', labels: { cmd }, value: h.sumUsec / 1e6 });
      out.push({ metricName: 'sonic_command_duration_seconds_count', labels: { cmd }, value: h.count });
    }
    return out;
  });
  add('sonic_instantaneous_ops_per_sec', 'Commands per second (last 1.6 s)', 'gauge', () => one(s.instantaneousOps));
  add('sonic_keyspace_hits_total', 'Lookups that found their key', 'counter', () => one(ks.stats.keyspaceHits));
  add('sonic_keyspace_misses_total', 'Lookups that did not find their key', 'counter', () => one(ks.stats.keyspaceMisses));
  add('sonic_keyspace_hit_ratio', 'Hits / (hits + misses) since start or CONFIG RESETSTAT', 'gauge', () => {
    const t = ks.stats.keyspaceHits + ks.stats.keyspaceMisses;
    return one(t === 0 ? 0 : ks.stats.keyspaceHits / t);
  });
  add('sonic_expired_keys_total', 'Keys deleted because their TTL passed', 'counter', () => one(ks.stats.expiredKeys));
  add('sonic_evicted_keys_total', 'Keys evicted under maxmemory', 'counter', () => one(ks.stats.evictedKeys));
  add('sonic_memory_used_bytes', 'used_memory: start-up heap + dataset (memory model) + client buffers', 'gauge', () => one(s.usedMemory()));
  add('sonic_memory_dataset_bytes', 'Keys, values and TTLs by the memory model', 'gauge', () => one(ks.datasetBytes));
  add('sonic_memory_peak_bytes', 'Highest used_memory seen', 'gauge', () => one(Math.max(s.memoryPeak, s.usedMemory())));
  add('sonic_memory_max_bytes', 'maxmemory (0: no limit)', 'gauge', () => one(s.config.int('maxmemory')));
  add('sonic_memory_rss_bytes', 'Resident set size of the process', 'gauge', () => one(process.memoryUsage.rss()));
  add('sonic_connected_clients', 'Client connections', 'gauge', () => one(s.clients.size));
  add('sonic_blocked_clients', 'Clients in a blocking command', 'gauge', () => one(s.blockedCount));
  add('sonic_connections_received_total', 'Connections accepted', 'counter', () => one(s.stats.totalConnections));
  add('sonic_net_input_bytes_total', 'Bytes read from clients', 'counter', () => one(s.stats.netInputBytes));
  add('sonic_net_output_bytes_total', 'Bytes written to clients', 'counter', () => one(s.stats.netOutputBytes));
  add('sonic_db_keys', 'Keys per database', 'gauge', () =>
    ks.dbs.filter((d) => d.dict.size > 0).map((d) => ({ labels: { db: `db${d.id}` }, value: d.dict.size })),
  );
  add('sonic_db_keys_expiring', 'Keys with a TTL per database', 'gauge', () =>
    ks.dbs.filter((d) => d.dict.size > 0).map((d) => ({ labels: { db: `db${d.id}` }, value: d.expires.size })),
  );
  add('sonic_replication_offset', 'Replication offset of this node (when replication runs)', 'gauge', () => {
    const r = metricsHooks.replication?.(s) ?? null;
    return r === null ? [] : [{ labels: { role: r.role }, value: r.offset }];
  });
  add('sonic_replica_offset', 'Acknowledged offset of each replica (on a primary)', 'gauge', () => {
    const r = metricsHooks.replication?.(s) ?? null;
    return r === null ? [] : r.replicas.map((x) => ({ labels: { replica: x.id }, value: x.offset }));
  });
  add('sonic_replica_lag_seconds', 'Seconds since each replica last acknowledged (on a primary)', 'gauge', () => {
    const r = metricsHooks.replication?.(s) ?? null;
    return r === null ? [] : r.replicas.map((x) => ({ labels: { replica: x.id }, value: x.lagSeconds }));
  });
  return { metrics: () => reg.metrics(), contentType: reg.contentType };
}

/** Serves GET /metrics on `port` (the node's first bind address); resolves once listening. */
export async function startMetricsServer(s: Server, port: number, host: string): Promise<HttpServer> {
  const reg = await buildRegistry(s);
  const http = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    reg.metrics().then(
      (body) => res.writeHead(200, { 'content-type': reg.contentType }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  http.unref();
  return http;
}

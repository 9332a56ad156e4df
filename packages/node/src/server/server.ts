import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
// The module's export, not the global: globalThis.performance is a lazy accessor.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';
import {
  DEFAULT_LIMITS,
  Err,
  lookupCommand,
  lookupSubcommand,
  type CommandSpec,
  type RequestLimits,
} from '@sonic/protocol';
import { Keyspace, type Db } from '../engine/keyspace.js';
import { Config } from '../config/config.js';
import { Client } from './client.js';
import { adoptSocket, READ_BUFFER } from './socket-input.js';
import { HANDLERS, type Handler } from '../commands/index.js';
import { scriptingIfAny, scriptCommandSpec, SCRIPT_COMMAND_SPECS, type ScriptEngine } from '../scripting/engine.js';
import { PubSub } from './pubsub.js';
import { SlowLog, LatencyMonitor, formatMonitorArg } from './monitoring.js';
import { Evictor, EvictResult, type EvictionPolicy } from '../engine/evict.js';
import { LatencyHistograms, startMetricsServer, type LatencyHistogram } from './metrics.js';
import type { Server as HttpServer } from 'node:http';
import { Persistence } from '../persistence/manager.js';
import type { Replication } from '../replication/replication.js';
import { HOLD, type ClusterSlots } from '../cluster/slots.js';

export interface CommandStat {
  calls: number;
  usec: number;
  rejected: number;
  failed: number;
}

/** INFO commandstats by command name; clear() (CONFIG RESETSTAT) bumps `gen`. */
class CommandStats extends Map<string, CommandStat> {
  gen = 0;
  override clear(): void {
    super.clear();
    this.gen++;
  }
}

/**
 * What `call()` needs of a command, cached on its spec (`CommandSpec.impl`): the handler
 * and the counters, valid for its server while the stats generations match (CONFIG
 * RESETSTAT). Several servers in one process (tests) take turns replacing it.
 */
interface CommandImpl {
  /** The server whose counters these are (specs are shared by every Server in a process). */
  owner: Server;
  spec: CommandSpec;
  /** May be timed with its batch (Server.groupImpl): fast, or bounded by its arguments' size. */
  groupable: boolean;
  handler: Handler | undefined;
  stat: CommandStat;
  hist: LatencyHistogram;
  statsGen: number;
  histGen: number;
}

/**
 * Commands without Redis's `fast` flag whose work is bounded by their arguments' size:
 * with a 64 KB bound (BIG_COMMAND) they are as cheap as fast ones (Server.groupImpl).
 */
const ARGUMENT_BOUND = new Set(['set', 'setnx', 'setex', 'psetex', 'getset', 'mset', 'msetnx', 'hmset']);

/** Commands over this many bytes on the wire are timed apart from their batch (Server.groupImpl). */
const BIG_COMMAND = 65536;

/** Settings read on every command, kept as fields (Server.readHotSettings). */
const HOT_SETTINGS = new Set(['slowlog-log-slower-than', 'slowlog-max-len', 'latency-monitor-threshold', 'latency-tracking', 'min-replicas-to-write', 'repl-sync-mode']);

/** Commands a RESP2 client may run while subscribed. */
const PUBSUB_ALLOWED = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'ping', 'quit', 'reset']);
/** Commands MULTI does not queue. */
const MULTI_IMMEDIATE = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

/**
 * A node's RESP server: connections, the admission path every command takes, blocking,
 * pub/sub, transactions' execution, and the periodic tasks (expiry, timeouts, stats).
 */
let settledHeap = -1;

/**
 * The heap in use once the garbage of loading the modules is collected, measured once per
 * process: the base maxmemory counts from. Measured without a collection it varied from
 * 14 to 20 MB between starts of the same build (whenever V8 had last collected), so a small
 * maxmemory left room for the data at random. The collector is reached through a new VM
 * context with --expose-gc set for that moment only; where that fails, the plain figure.
 */
function settledHeapUsed(): number {
  if (settledHeap >= 0) return settledHeap;
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  } catch {
    // No collector: the unsettled figure.
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  settledHeap = process.memoryUsage().heapUsed;
  return settledHeap;
}

export class Server {
  readonly keyspace: Keyspace;
  readonly runId = randomBytes(20).toString('hex');
  readonly startedAt = Date.now();
  /** Replication id INFO reports (the replication layer may replace it). */
  replId = randomBytes(20).toString('hex');
  /** Replication (roles, the stream, WAIT, admission checks); set once the node starts it. */
  replication: Replication | null = null;
  /** The Lua engine once a script ran (scripting/engine.ts sets it): BUSY admission. */
  scripting: ScriptEngine | null = null;
  /** The cluster agent (`controllers` set): CLUSTERDOWN for writes while fenced. */
  cluster: { admit(c: Client, spec: CommandSpec): string | null } | null = null;
  /** Slot ownership in cluster mode (set by the cluster agent): the redirect check, CLUSTER's answers. */
  clusterSlots: ClusterSlots | null = null;
  /** Unix time (s) of the last successful save; start-up time until one happens, as in Redis. */
  lastSave = Math.floor(Date.now() / 1000);
  /** RDB and AOF (persistence/manager.ts): LOADING/MISCONF admission, the AOF reply gate. */
  readonly persistence: Persistence;
  /** Highest used memory seen (INFO used_memory_peak). */
  memoryPeak = 0;
  /** Heap in use once the server was set up, before any data (INFO used_memory_startup). */
  readonly startupMemory = settledHeapUsed();
  /** Client query and output buffers, refreshed every 100 ms (part of used_memory). */
  clientsMemory = 0;
  /** Eviction under maxmemory (engine/evict.ts). */
  readonly evictor: Evictor;
  private evictionTimer: NodeJS.Immediate | null = null;
  /** Per-command latency histograms (INFO latencystats, /metrics). */
  readonly latencyHistograms = new LatencyHistograms();
  nextClientId = 1;
  readonly clients = new Map<number, Client>();
  readonly pubsub = new PubSub(this);
  readonly slowlog = new SlowLog();
  readonly latency = new LatencyMonitor();
  /** DEBUG SET-ACTIVE-EXPIRE: false stops the active expiry cycle (lazy expiry stays). */
  activeExpire = true;
  readonly monitors = new Set<Client>();
  readonly commandStats: Map<string, CommandStat> = new CommandStats();
  readonly errorStats = new Map<string, number>();
  limits: RequestLimits;
  readonly stats = {
    totalConnections: 0,
    totalCommands: 0,
    rejectedConnections: 0,
    netInputBytes: 0,
    netOutputBytes: 0,
    totalErrorReplies: 0,
    unexpectedErrorReplies: 0,
    clientQueryBufferLimitDisconnections: 0,
    clientOutputBufferLimitDisconnections: 0,
  };
  /** Ops/sec samples (Redis keeps 16, taken every 100 ms). */
  private opsSamples: number[] = [];
  private lastSample = { at: Date.now(), commands: 0, inBytes: 0, outBytes: 0 };
  inputKbps = 0;
  outputKbps = 0;
  /** CLIENT PAUSE: until when, and whether only writes are paused. */
  pause: { until: number; writeOnly: boolean; timer: NodeJS.Timeout | null } | null = null;
  private pausedClients: Client[] = [];
  private listeners: NetServer[] = [];
  private cron: NodeJS.Timeout | null = null;
  /** The Prometheus endpoint (--metrics-port), when on. */
  metricsServer: HttpServer | null = null;
  private sampler: NodeJS.Timeout | null = null;
  /** Clients with replies to write when this event-loop turn's input is done (flushQueued). */
  private readonly flushQueue: Client[] = [];
  private flushTimer: NodeJS.Immediate | null = null;
  private readonly blockedClients = new Set<Client>();
  /** Set while a shutdown is under way. */
  shuttingDown = false;
  /** Called once the server has stopped (the process exits there). */
  onShutdown: (() => void) | null = null;
  port = 0;

  constructor(
    readonly config: Config,
    readonly log: Logger,
  ) {
    this.keyspace = new Keyspace({ now: Date.now, random: Math.random }, config.int('databases'));
    this.limits = this.computeLimits();
    this.persistence = new Persistence(this);
    this.evictor = new Evictor(this.keyspace, () => this.usedMemory(), () => performance.now());
    this.applyMemorySettings();
    this.readHotSettings();
    config.onChange((name) => {
      if (HOT_SETTINGS.has(name)) this.readHotSettings();
      if (name.startsWith('maxmemory') || name.startsWith('lfu-')) this.applyMemorySettings();
      if (name === 'maxmemory') this.startEviction();
      if (name === 'proto-max-bulk-len' || name === 'client-query-buffer-limit') this.limits = this.computeLimits();
      if (name === 'hz') this.startCron();
      if (name === 'requirepass' && config.get('requirepass') === '') for (const c of this.clients.values()) c.authenticated = true;
    });
  }

  // Hot settings: read on every command, so kept as fields.
  private slowlogSlowerThan = 10000;
  private slowlogMaxLen = 128;
  private latencyThresholdUsec = 0;
  /**
   * A primary runs Replication.admit/afterCall only when they can refuse or hold a command
   * (min-replicas-to-write, repl-sync-mode sync); a replica always does.
   */
  private replChecks = false;

  private readHotSettings(): void {
    const cfg = this.config;
    this.slowlogSlowerThan = cfg.int('slowlog-log-slower-than');
    this.slowlogMaxLen = cfg.int('slowlog-max-len');
    this.latencyThresholdUsec = cfg.int('latency-monitor-threshold') * 1000;
    this.latencyTracking = cfg.bool('latency-tracking');
    this.replChecks = cfg.int('min-replicas-to-write') > 0 || cfg.get('repl-sync-mode') === 'sync';
  }

  /** used_memory: the heap at start-up, the dataset by the memory model, client buffers. */
  usedMemory(): number {
    return this.startupMemory + this.keyspace.datasetBytes + this.clientsMemory;
  }

  private applyMemorySettings(): void {
    const cfg = this.config;
    const policy = cfg.get('maxmemory-policy') as EvictionPolicy;
    const ks = this.keyspace;
    if (policy !== this.evictor.settings.policy) this.evictor.clearPool();
    this.evictor.settings = {
      maxmemory: cfg.int('maxmemory'),
      policy,
      samples: cfg.int('maxmemory-samples'),
      tenacity: cfg.int('maxmemory-eviction-tenacity'),
    };
    ks.lfu = policy.endsWith('-lfu');
    ks.lfuLogFactor = cfg.int('lfu-log-factor');
    ks.lfuDecayTime = cfg.int('lfu-decay-time');
    // Per-key access data only while the policy evicts (LRU/LFU metadata, uniform sampling).
    ks.setTracking(policy !== 'noeviction');
    if (ks.populatingAccess) this.startAccessPopulation();
  }

  private accessTimer: NodeJS.Immediate | null = null;

  /** Enters the keys present when tracking started into the access tables, 20k keys a turn. */
  private startAccessPopulation(): void {
    if (this.accessTimer !== null) return;
    const step = (): void => {
      this.accessTimer = null;
      if (this.shuttingDown) return;
      if (!this.keyspace.populateAccess(20000)) this.accessTimer = setImmediate(step);
    };
    this.accessTimer = setImmediate(step);
  }

  /**
   * Evicts in time slices until under maxmemory, yielding to clients between slices
   * (CONFIG SET maxmemory below the current use; a slice that ran out of time).
   */
  startEviction(): void {
    if (this.evictionTimer !== null || !this.keyspace.expireKeys) return;
    const step = (): void => {
      this.evictionTimer = null;
      if (this.shuttingDown) return;
      const r = this.evictor.perform();
      this.handleReadyKeysIfAny();
      if (r === EvictResult.Running) this.evictionTimer = setImmediate(step);
    };
    this.evictionTimer = setImmediate(step);
  }

  private handleReadyKeysIfAny(): void {
    if (this.keyspace.readyKeys.length > 0) this.handleReadyKeys();
  }

  private computeLimits(): RequestLimits {
    return {
      ...DEFAULT_LIMITS,
      maxBulkLen: this.config.int('proto-max-bulk-len'),
      maxQueryBuffer: this.config.int('client-query-buffer-limit'),
    };
  }

  // ------------------------------------------------------------------ lifecycle

  async listen(): Promise<void> {
    const port = this.config.int('port');
    const binds = this.config.get('bind').split(/\s+/).filter(Boolean);
    for (const raw of binds) {
      const optional = raw.startsWith('-');
      const host = optional ? raw.slice(1) : raw;
      const h = host === '*' ? '0.0.0.0' : host;
      // Paused: accept() moves the connection to a socket that reads into a shared buffer.
      const srv = createServer({ noDelay: true, pauseOnConnect: true }, (s) => this.accept(s));
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen({ port: this.port || port, host: h, backlog: this.config.int('tcp-backlog') }, () => {
            srv.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        if (optional) continue;
        throw err;
      }
      const addr = srv.address();
      if (addr && typeof addr === 'object') this.port = addr.port;
      srv.on('error', (err) => this.log.error({ err }, 'listener error'));
      this.listeners.push(srv);
    }
    const metricsPort = this.config.int('metrics-port');
    if (metricsPort > 0) {
      const host = binds.map((b) => b.replace(/^-/, '')).find(Boolean) ?? '127.0.0.1';
      this.metricsServer = await startMetricsServer(this, metricsPort, host === '*' ? '0.0.0.0' : host);
    }
    this.startCron();
    this.sampler = setInterval(() => this.sampleStats(), 100);
    this.sampler.unref();
  }

  private startCron(): void {
    if (this.cron) clearInterval(this.cron);
    const hz = Math.max(1, this.config.int('hz'));
    this.cron = setInterval(() => this.serverCron(), Math.floor(1000 / hz));
    this.cron.unref();
  }

  private serverCron(): void {
    const hz = Math.max(1, this.config.int('hz'));
    // Redis's slow cycle uses up to 25% of the cron period.
    const effort = this.config.int('active-expire-effort');
    if (this.activeExpire && scriptingIfAny(this)?.busy !== true) this.keyspace.activeExpireCycle(Math.max(1, Math.floor((250 / hz) * (1 + (effort - 1) / 4) / 10)));
    this.checkClientTimeouts();
  }

  private checkClientTimeouts(): void {
    const idle = this.config.int('timeout');
    const now = Date.now();
    for (const c of this.clients.values()) {
      if (c.blocked && c.blocked.deadline > 0 && c.blocked.deadline <= now) this.timeoutBlocked(c);
      if (idle > 0 && !c.inPubSub && !c.blocked && !c.monitor && now - c.lastInteraction > idle * 1000) {
        this.log.debug({ client: c.id }, 'closing idle client');
        this.closeClient(c);
      }
    }
  }

  private sampleStats(): void {
    const now = Date.now();
    const dt = (now - this.lastSample.at) / 1000;
    if (dt <= 0) return;
    const ops = (this.stats.totalCommands - this.lastSample.commands) / dt;
    this.opsSamples.push(ops);
    if (this.opsSamples.length > 16) this.opsSamples.shift();
    this.inputKbps = (this.stats.netInputBytes - this.lastSample.inBytes) / dt / 1024;
    this.outputKbps = (this.stats.netOutputBytes - this.lastSample.outBytes) / dt / 1024;
    this.lastSample = { at: now, commands: this.stats.totalCommands, inBytes: this.stats.netInputBytes, outBytes: this.stats.netOutputBytes };
    let clientsMem = 0;
    for (const c of this.clients.values()) clientsMem += c.parser.buffered + (c.socket?.writableLength ?? 0);
    this.clientsMemory = clientsMem;
    const used = this.usedMemory();
    if (used > this.memoryPeak) this.memoryPeak = used;
    if (this.evictor.overLimit) this.startEviction();
  }

  get instantaneousOps(): number {
    if (this.opsSamples.length === 0) return 0;
    return Math.round(this.opsSamples.reduce((a, b) => a + b, 0) / this.opsSamples.length);
  }

  /** Stops listening, closes every client, and calls onShutdown. */
  async shutdown(reason: string, save: boolean | null = null): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info({ reason }, 'shutting down');
    // The AOF flushed and fsynced (held replies released), a final SAVE when save rules exist.
    this.persistence.shutdown(save);
    if (this.cron) clearInterval(this.cron);
    if (this.sampler) clearInterval(this.sampler);
    if (this.evictionTimer !== null) clearImmediate(this.evictionTimer);
    this.metricsServer?.close();
    this.metricsServer?.closeAllConnections();
    // Stop accepting, then end every client, and wait for both. (A listener's close does
    // not wait for clients: accept() moves them to sockets of their own, socket-input.ts.)
    const waits = this.listeners.map((l) => new Promise<void>((r) => l.close(() => r())));
    for (const c of this.clients.values()) {
      const s = c.socket;
      if (s !== null && !s.destroyed) waits.push(new Promise<void>((r) => s.once('close', () => r())));
    }
    const closed = Promise.all(waits);
    for (const c of this.clients.values()) {
      this.flush(c);
      c.socket?.end();
      c.socket?.destroySoon?.();
    }
    await closed;
    this.onShutdown?.();
  }

  // ------------------------------------------------------------------ connections

  private accept(accepted: Socket): void {
    this.stats.totalConnections++;
    if (this.clients.size >= this.config.int('maxclients')) {
      this.stats.rejectedConnections++;
      accepted.resume();
      accepted.end('-ERR max number of clients reached\r\n');
      return;
    }
    if (this.config.bool('protected-mode') && this.config.get('requirepass') === '' && !isLoopback(accepted.remoteAddress)) {
      this.stats.rejectedConnections++;
      accepted.resume();
      accepted.end(
        '-DENIED Sonic is running in protected mode because protected mode is enabled and no password is set for the default user. ' +
          'In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Sonic ' +
          'you may adopt one of the following solutions: 1) Disable protected mode by sending the command \'CONFIG SET protected-mode no\' ' +
          'from the loopback interface, or 2) set a password with requirepass and authenticate, or 3) start the node with --protected-mode no.\r\n',
      );
      return;
    }
    let client: Client | null = null;
    const socket = adoptSocket(accepted, (chunk) => {
      const c = client!;
      this.stats.netInputBytes += chunk.length;
      c.lastInteraction = Date.now();
      c.parser.push(chunk);
      try {
        this.processInput(c);
      } finally {
        // The chunk is a view of the shared read buffer: keep a copy of what is left.
        if (chunk.buffer === READ_BUFFER.buffer) c.parser.settle(READ_BUFFER.buffer);
      }
    });
    const c = (client = new Client(this, socket));
    this.clients.set(c.id, c);
    const keepalive = this.config.int('tcp-keepalive');
    if (keepalive > 0) socket.setKeepAlive(true, keepalive * 1000);
    socket.on('error', () => {});
    socket.on('close', () => this.freeClient(c));
    socket.on('drain', () => {
      if (c.closing && c.socket!.writableLength === 0) c.socket!.destroy();
    });
  }

  /** Closes a client after its pending replies are written. */
  closeClient(c: Client, afterReply = false): void {
    if (c.closed) return;
    if (afterReply) {
      c.closing = true;
      this.flush(c);
      c.socket?.end();
      return;
    }
    c.socket?.destroy();
    this.freeClient(c);
  }

  private freeClient(c: Client): void {
    if (c.closed) return;
    c.closed = true;
    this.clients.delete(c.id);
    this.unwatchAll(c);
    if (c.blocked) this.unblock(c);
    this.pubsub.removeClient(c);
    this.monitors.delete(c);
    c.reply.discard();
  }

  // ------------------------------------------------------------------ input and admission

  /** Runs every complete command the client has sent, until it blocks or is paused. */
  processInput(c: Client): void {
    if (c.processing) return;
    c.processing = true;
    // CONFIG SET proto-max-bulk-len / client-query-buffer-limit apply to connected clients too.
    c.parser.limits = this.limits;
    try {
      while (!c.closed && !c.closing && c.blocked === null && !c.paused && c.replWait === null) {
        // Until AUTH succeeds, Redis's small unauthenticated header limits apply.
        c.parser.unauthenticated = !c.authenticated;
        // A big command takes real time to parse (a copy of its arguments), which is no
        // command's time: close the group before (see `groupImpl`).
        if (this.groupImpl.length > 0 && c.parser.buffered > BIG_COMMAND) this.settleGroup();
        const argv = c.parser.next();
        if (argv === null) {
          if (c.parser.error !== null) {
            this.protocolError(c, c.parser.error);
          }
          break;
        }
        if (c.replyMode === 'on' && !c.skipNext) {
          // A fast command of modest size may be timed with the batch (see call()).
          if (c.parser.lastSize > BIG_COMMAND) this.clockMark = -1;
          else this.batchable = true;
          this.processCommand(c, argv);
          this.batchable = false;
        } else this.processMuted(c, argv);
      }
    } finally {
      c.processing = false;
      this.batchable = false;
      if (this.groupImpl.length > 0) this.settleGroup();
      this.clockMark = -1;
    }
    // Written once this turn's input from every client is processed (as Redis writes in
    // beforeSleep): one wake-up of the peers for many replies, not one per client.
    if (!c.reply.empty) this.scheduleFlush(c);
  }

  /**
   * CLIENT REPLY OFF/SKIP: runs a command whose reply is dropped (replies already
   * queued go out first), except CLIENT REPLY ON's own OK.
   */
  private processMuted(c: Client, argv: string[]): void {
    c.skipNext = false;
    if (this.groupImpl.length > 0) this.settleGroup();
    this.flush(c);
    this.clockMark = -1;
    this.processCommand(c, argv);
    if (c.replyMode === 'on' && argv.length === 3 && argv[0]!.toLowerCase() === 'client' && argv[1]!.toLowerCase() === 'reply') return;
    c.reply.discard();
  }

  private protocolError(c: Client, msg: string): void {
    this.log.info({ client: c.id, addr: c.addr, err: msg }, 'protocol error from client');
    if (msg.includes('query buffer')) {
      this.stats.clientQueryBufferLimitDisconnections++;
      this.closeClient(c);
      return;
    }
    c.reply.error('ERR ' + msg);
    this.stats.totalErrorReplies++;
    this.closeClient(c, true);
  }

  /**
   * The admission path: lookup, arity, authentication, pub/sub context, MULTI queueing,
   * then execution. Handlers never repeat these checks.
   */
  processCommand(c: Client, argv: string[]): void {
    let spec = lookupCommand(argv[0]!);
    const r = c.reply;
    // Redis 7.0's order: unknown command, unknown subcommand and arity are answered
    // before the authentication check.
    if (spec === undefined) {
      this.rejectCommand(c, Err.unknownCommand(argv[0]!, argv.slice(1)), null);
      return;
    }
    if (spec.subcommands !== null && argv.length >= 2) {
      const sub = lookupSubcommand(spec, argv[1]!);
      if (sub === undefined) {
        this.rejectCommand(c, Err.unknownSubcommand(argv[1]!, spec.name), spec);
        return;
      }
      spec = sub;
    }
    if ((spec.arity > 0 && argv.length !== spec.arity) || argv.length < -spec.arity) {
      this.rejectCommand(c, Err.wrongArity(spec.name), spec);
      return;
    }
    if (!c.authenticated && !spec.noAuth) {
      this.rejectCommand(c, Err.noAuth, spec);
      return;
    }
    // EVAL/FCALL of a script that declared flags is admitted by them (no-writes, allow-oom ...).
    if (SCRIPT_COMMAND_SPECS.has(spec)) spec = scriptCommandSpec(this, spec, argv);
    // Cluster mode: MOVED/ASK/CROSSSLOT for keys this node does not serve (cluster/slots.ts).
    if (this.clusterSlots !== null) {
      const slotErr = this.clusterSlots.admit(c, spec, argv);
      if (slotErr !== null) {
        // A write to a slot being committed to another shard waits for the new owner (then MOVED).
        if (slotErr === HOLD) this.holdClient(c, argv);
        else this.rejectCommand(c, slotErr, spec);
        return;
      }
    }
    // A script past busy-reply-threshold holds the keyspace: only allow_busy commands run.
    if (this.scripting !== null) {
      const busyErr = this.scripting.busyError(spec.allowBusy);
      if (busyErr !== null) {
        this.rejectCommand(c, busyErr, spec);
        return;
      }
    }
    // LOADING during the start-up load; MISCONF when RDB/AOF writes fail.
    const diskErr = this.persistence.admissionError(spec);
    if (diskErr !== null) {
      this.rejectCommand(c, diskErr, spec);
      return;
    }
    const repl = this.replication !== null && (this.replChecks || this.replication.role !== 'master') ? this.replication : null;
    if (repl !== null) {
      // NOREPLICAS, READONLY (a read-only replica), MASTERDOWN (stale data refused).
      const replErr = repl.admit(c, spec);
      if (replErr !== null) {
        this.rejectCommand(c, replErr, spec);
        return;
      }
    }
    if (this.cluster !== null) {
      // A fenced primary (cut off from the controllers and its replicas) refuses writes.
      const clusterErr = this.cluster.admit(c, spec);
      if (clusterErr !== null) {
        this.rejectCommand(c, clusterErr, spec);
        return;
      }
    }
    const name = spec.parent ?? spec.name;
    if (r.proto === 2 && c.inPubSub && !PUBSUB_ALLOWED.has(name)) {
      this.rejectCommand(
        c,
        `ERR Can't execute '${spec.name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
        spec,
      );
      return;
    }
    // maxmemory: evict before every command when over the limit; refuse denyoom commands
    // (and an EXEC that queued one) when nothing more can go. Replicas leave it to their
    // primary (replica-ignore-maxmemory).
    if (this.evictor.settings.maxmemory > 0 && this.keyspace.expireKeys) {
      // Eviction's time is no command's.
      if (this.groupImpl.length > 0) this.settleGroup();
      this.clockMark = -1;
      const r = this.evictor.perform();
      if (r === EvictResult.Running) this.startEviction();
      if (r === EvictResult.Fail && (spec.denyOom || (name === 'exec' && c.multi !== null && c.multi.some((q) => q.spec.denyOom)))) {
        this.rejectCommand(c, "OOM command not allowed when used memory > 'maxmemory'.", spec);
        return;
      }
      if (this.keyspace.readyKeys.length > 0 && c.multi === null) this.handleReadyKeys();
    }
    if (c.multi !== null && !MULTI_IMMEDIATE.has(name)) {
      if (spec.noMulti) {
        this.rejectCommand(c, 'ERR Command not allowed inside a transaction', spec);
        return;
      }
      c.multi.push({ argv, spec });
      r.raw('+QUEUED\r\n');
      return;
    }
    if (this.pause !== null && this.isPausedFor(spec) && !c.inExec) {
      // Hold this client; its input stays in the parser and resumes on unpause.
      c.paused = true;
      c.pendingPaused = argv;
      this.pausedClients.push(c);
      return;
    }
    this.call(c, argv, spec);
    // repl-sync-mode sync: a write's reply waits for a replica's ack.
    if (repl !== null) {
      if (this.groupImpl.length > 0) this.settleGroup();
      repl.afterCall(c);
      this.clockMark = -1;
    }
  }

  private rejectCommand(c: Client, msg: string, spec: CommandSpec | null): void {
    if (c.multi !== null) c.multiError = true;
    c.reply.error(msg);
    this.countError(msg);
    if (spec) this.statFor(spec.name).rejected++;
  }

  countError(msg: string): void {
    this.stats.totalErrorReplies++;
    const sp = msg.indexOf(' ');
    const code = sp < 0 ? msg : msg.slice(0, sp);
    this.errorStats.set(code, (this.errorStats.get(code) ?? 0) + 1);
  }

  statFor(name: string): CommandStat {
    let s = this.commandStats.get(name);
    if (s === undefined) {
      s = { calls: 0, usec: 0, rejected: 0, failed: 0 };
      this.commandStats.set(name, s);
    }
    return s;
  }

  /** Executes an admitted command: handler, stats, slow log, monitor, propagation, wake-ups. */
  call(c: Client, argv: string[], spec: CommandSpec): void {
    let impl = spec.impl as CommandImpl | null;
    if (impl === null || impl.owner !== this || impl.statsGen !== (this.commandStats as CommandStats).gen || impl.histGen !== this.latencyHistograms.gen) impl = this.implOf(spec);
    const handler = impl.handler;
    if (handler === undefined) {
      c.reply.error(`ERR command '${spec.name}' is declared but not implemented`);
      return;
    }
    if (this.monitors.size > 0 && !spec.skipMonitor && !c.monitor) this.feedMonitors(c, argv);
    const ks = this.keyspace;
    const dirtyBefore = ks.dirty;
    const errorsBefore = c.reply.errors;
    this.propagated = false;
    this.currentArgv = argv;
    // Timing (see `group`): a fast command from a client's input batch joins the group
    // of untimed commands; any other is timed on its own, from a fresh reading or the
    // one that closed the group; commands run by a handler (EXEC, scripts) always are.
    const top = this.callDepth === 0;
    const grouped = top && this.batchable && impl.groupable;
    this.batchable = false;
    let t0 = 0;
    if (grouped) {
      if (this.clockMark < 0) this.clockMark = performance.now();
    } else if (top) {
      t0 = this.groupImpl.length > 0 ? this.settleGroup() : this.clockMark >= 0 ? this.clockMark : performance.now();
      this.clockMark = -1;
    } else t0 = performance.now();
    this.callDepth++;
    try {
      handler(c, argv);
    } catch (err) {
      this.log.error({ err, command: spec.name }, 'command handler failed');
      c.reply.error(`ERR internal error running '${spec.name}': ${(err as Error).message}`);
    } finally {
      this.callDepth--;
    }
    let t1 = -1;
    if (!grouped) {
      t1 = performance.now();
      const usec = Math.round((t1 - t0) * 1000);
      this.recordTime(impl, argv, c, usec);
      if (this.latencyThresholdUsec > 0 && usec >= this.latencyThresholdUsec) this.latency.add(spec.fast ? 'fast-command' : 'command', Math.round(usec / 1000));
    }
    this.stats.totalCommands++;
    c.totalCommands++;
    c.lastCommand = spec.name;
    const st = impl.stat;
    st.calls++;
    if (c.reply.errors !== errorsBefore) {
      st.failed++;
      this.countError(c.reply.lastError);
    }
    // Propagate writes that changed something, as the command itself unless the
    // handler propagated its own effect (a rewrite) already.
    if (spec.isWrite && ks.dirty !== dirtyBefore && !this.propagated) {
      ks.propagate(c.db.id, argv);
      if (!grouped && ks.hasPropagationListeners) t1 = -1;
    }
    this.propagated = false;
    if (grouped) {
      this.groupImpl.push(impl);
      this.groupArgv.push(argv);
      this.groupClient = c;
    }
    if (ks.readyKeys.length > 0 && !c.inExec) {
      // Serving blocked clients is no command's time.
      if (grouped) this.settleGroup();
      this.handleReadyKeys();
      this.clockMark = -1;
    } else if (top && !grouped) this.clockMark = t1;
  }

  /** One command's time: commandstats, latency histogram, slow log. */
  private recordTime(impl: CommandImpl, argv: string[], c: Client, usec: number): void {
    impl.stat.usec += usec;
    if (this.latencyTracking) impl.hist.record(usec);
    if (usec >= this.slowlogSlowerThan && this.slowlogSlowerThan >= 0 && !impl.spec.skipSlowlog) {
      this.slowlog.add(argv, usec, c, this.slowlogMaxLen);
    }
  }

  /**
   * Timing without a clock read per command. A clock read costs ~40-60 ns here, a tenth
   * of a whole pipelined GET, so fast commands (Redis's `fast` flag: O(1), O(log N); and
   * SET, MSET ... whose work is their arguments' size, ARGUMENT_BOUND) of at most 64 KB
   * that a client's input batch runs back to back form a group, timed
   * together: the time from `clockMark` (the reading before the first) to the reading
   * that closes the group (the batch ends, or something else needs a reading) is shared
   * evenly (in whole µs, remainders to the first) for commandstats, latency histograms
   * and the slow log. A fast command slower than its share (a pause) shows as a slower
   * group. Everything else is timed on its own, as Redis times every command.
   */
  private readonly groupImpl: CommandImpl[] = [];
  private readonly groupArgv: string[][] = [];
  private groupClient: Client | null = null;
  /** A clock reading with nothing untimed since but grouped commands, parsing and admission; -1 if none. */
  private clockMark = -1;
  /** Set by processInput for the command it runs: call() may group it. */
  private batchable = false;
  /** Depth of call(): commands run by a handler (EXEC, scripts) are timed on their own. */
  private callDepth = 0;

  /** Closes the group: reads the clock, gives each command its share; returns the reading. */
  private settleGroup(): number {
    const now = performance.now();
    const impls = this.groupImpl;
    const argvs = this.groupArgv;
    const n = impls.length;
    const total = this.clockMark >= 0 ? Math.round((now - this.clockMark) * 1000) : 0;
    const base = Math.floor(total / n);
    let extra = total - base * n;
    const c = this.groupClient!;
    for (let i = 0; i < n; i++) {
      this.recordTime(impls[i]!, argvs[i]!, c, extra > 0 ? base + 1 : base);
      extra--;
    }
    if (this.latencyThresholdUsec > 0 && base >= this.latencyThresholdUsec) this.latency.add('fast-command', Math.round(base / 1000));
    impls.length = 0;
    argvs.length = 0;
    this.groupClient = null;
    this.clockMark = now;
    return now;
  }

  /** Caches a command's handler and counters on its spec (again after CONFIG RESETSTAT). */
  private implOf(spec: CommandSpec): CommandImpl {
    const impl: CommandImpl = {
      owner: this,
      spec,
      groupable: spec.fast || ARGUMENT_BOUND.has(spec.name),
      handler: HANDLERS.get(spec.name),
      stat: this.statFor(spec.name),
      hist: this.latencyHistograms.of(spec.name),
      statsGen: (this.commandStats as CommandStats).gen,
      histGen: this.latencyHistograms.gen,
    };
    spec.impl = impl;
    return impl;
  }

  /** latency-tracking (INFO latencystats): per-command latency histograms. */
  latencyTracking = true;

  /** True once a handler propagated its own effect for the current command. */
  propagated = false;
  /** Set while an EXEC that propagated MULTI runs its commands. */
  execWraps = false;
  currentArgv: string[] | null = null;

  /** Propagates `argv` as the current command's effect (replacing the default). */
  propagate(db: Db, argv: string[]): void {
    this.propagated = true;
    this.keyspace.propagate(db.id, argv);
  }

  private feedMonitors(c: Client, argv: string[]): void {
    const now = Date.now();
    const line = `+${Math.floor(now / 1000)}.${String((now % 1000) * 1000).padStart(6, '0')} [${c.db.id} ${c.socket ? c.addr : 'lua'}] ${argv
      .map(formatMonitorArg)
      .join(' ')}\r\n`;
    for (const m of this.monitors) {
      m.reply.raw(line);
      this.scheduleFlush(m);
    }
  }

  // ------------------------------------------------------------------ output

  /** Writes a client's buffered replies to its socket, enforcing the output limit. */
  flush(c: Client, afterFsync = false): void {
    if (c.closed || c.socket === null) {
      c.reply.discard();
      return;
    }
    if (c.reply.empty) return;
    // appendfsync always: replies wait until the AOF holds their writes on disk.
    if (!afterFsync && this.persistence.holdReplies(c)) return;
    const n = c.reply.drainTo(c.socket);
    this.stats.netOutputBytes += n;
    if (!this.checkOutputLimit(c)) return;
  }

  /**
   * Marks a client for a flush once the current event-loop turn has processed its input
   * (setImmediate runs after every I/O callback of the turn): replies to many clients
   * go out together, as Redis writes them in beforeSleep.
   */
  scheduleFlush(c: Client): void {
    if (c.flushQueued) return;
    c.flushQueued = true;
    this.flushQueue.push(c);
    if (this.flushTimer === null) this.flushTimer = setImmediate(this.flushAll);
  }

  private readonly flushAll = (): void => {
    this.flushTimer = null;
    const q = this.flushQueue;
    // flush() may queue more (a client closed on its output limit does not): take them too.
    for (let i = 0; i < q.length; i++) {
      const c = q[i]!;
      c.flushQueued = false;
      this.flush(c);
    }
    q.length = 0;
  };

  private checkOutputLimit(c: Client): boolean {
    const size = c.socket!.writableLength;
    if (size === 0) return true;
    const cls = c.inPubSub ? 'pubsub' : 'normal';
    const lim = this.outputLimit(cls);
    if (lim === null) return true;
    const [hard, soft, softSeconds] = lim;
    const now = Date.now();
    let over = hard > 0 && size >= hard;
    if (!over && soft > 0 && size >= soft) {
      const since = (c as ClientWithSoft).softSince ?? ((c as ClientWithSoft).softSince = now);
      over = now - since >= softSeconds * 1000;
    } else if (soft > 0) (c as ClientWithSoft).softSince = undefined;
    if (over) {
      this.stats.clientOutputBufferLimitDisconnections++;
      this.log.warn({ client: c.id, addr: c.addr, class: cls, bytes: size }, 'client scheduled to be closed for overcoming of output buffer limits');
      this.closeClient(c);
      return false;
    }
    return true;
  }

  private outputLimit(cls: string): [number, number, number] | null {
    const parts = this.config.get('client-output-buffer-limit').split(' ');
    for (let k = 0; k + 3 < parts.length; k += 4) {
      if (parts[k] === cls) return [Number(parts[k + 1]), Number(parts[k + 2]), Number(parts[k + 3])];
    }
    return null;
  }

  // ------------------------------------------------------------------ blocking

  /**
   * Blocks a client on keys until one of them is ready (the command is then run again)
   * or the timeout (ms, 0 = forever) passes (then `onTimeout` replies).
   */
  block(c: Client, keys: string[], timeoutMs: number, onTimeout: (c: Client) => void): void {
    if (c.blocked !== null) {
      // Re-run of a blocked command that must keep waiting.
      this.reblocked = true;
      return;
    }
    const db = c.db;
    const argv = this.currentArgv!;
    const spec = lookupCommand(argv[0]!)!;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : 0;
    const state = { db, keys: [...new Set(keys)], deadline, argv, spec, timer: null as NodeJS.Timeout | null, onTimeout };
    c.blocked = state;
    let byKey = this.waiters.get(db);
    if (byKey === undefined) this.waiters.set(db, (byKey = new Map()));
    for (const k of state.keys) {
      db.blockedOn.set(k, (db.blockedOn.get(k) ?? 0) + 1);
      let q = byKey.get(k);
      if (q === undefined) byKey.set(k, (q = new Set()));
      q.add(c);
    }
    this.blockedClients.add(c);
    // Node fires longer timers after 1 ms; the cron catches those deadlines instead.
    if (deadline > 0 && timeoutMs <= 0x7fffffff) {
      state.timer = setTimeout(() => this.timeoutBlocked(c), timeoutMs);
    }
  }

  /** During a blocked client's re-run: the key that became ready (handlers serve that one). */
  servingKey: string | null = null;
  /** Set when a re-run called block() again: the client keeps waiting. */
  private reblocked = false;
  /** Per database and key, the clients waiting on it in the order they blocked. */
  private readonly waiters = new Map<Db, Map<string, Set<Client>>>();

  get blockedCount(): number {
    return this.blockedClients.size;
  }

  private unblock(c: Client): void {
    const b = c.blocked;
    if (b === null) return;
    if (b.timer) clearTimeout(b.timer);
    const byKey = this.waiters.get(b.db);
    for (const k of b.keys) {
      const n = (b.db.blockedOn.get(k) ?? 1) - 1;
      if (n <= 0) b.db.blockedOn.delete(k);
      else b.db.blockedOn.set(k, n);
      const q = byKey?.get(k);
      if (q !== undefined) {
        q.delete(c);
        if (q.size === 0) byKey!.delete(k);
      }
    }
    c.blocked = null;
    this.blockedClients.delete(c);
  }

  private timeoutBlocked(c: Client): void {
    if (c.blocked === null) return;
    const b = c.blocked;
    this.unblock(c);
    b.onTimeout(c);
    this.afterUnblock(c);
  }

  /** CLIENT UNBLOCK: ends a client's wait as a timeout or with an error. */
  unblockClient(c: Client, withError: boolean, error = 'UNBLOCKED client unblocked via CLIENT UNBLOCK'): boolean {
    if (c.blocked === null) return false;
    const b = c.blocked;
    this.unblock(c);
    if (withError) c.reply.error(error);
    else b.onTimeout(c);
    this.afterUnblock(c);
    return true;
  }

  private afterUnblock(c: Client): void {
    this.scheduleFlush(c);
    // Resume its pipelined input on the next turn.
    setImmediate(() => {
      if (!c.closed) this.processInput(c);
    });
  }

  /** Serves clients blocked on keys that became ready, in the order they blocked. */
  handleReadyKeys(): void {
    const ks = this.keyspace;
    let guard = 0;
    while (ks.readyKeys.length > 0 && guard++ < 1000) {
      const ready = ks.readyKeys;
      ks.readyKeys = [];
      for (const { db, key } of ready) {
        // The key's waiters in blocking order (a snapshot: serving one changes the set).
        const q = this.waiters.get(db)?.get(key);
        if (q === undefined) continue;
        for (const c of [...q]) {
          const b = c.blocked;
          if (b === null || b.db !== db || !b.keys.includes(key)) continue;
          if (!db.dict.has(key)) break;
          const saveDb = c.db;
          c.db = b.db;
          const errorsBefore = c.reply.errors;
          this.currentArgv = b.argv;
          this.propagated = false;
          const dirtyBefore = ks.dirty;
          const t0 = performance.now();
          const handler = HANDLERS.get(b.spec.name)!;
          const sizeBefore = c.reply.size;
          // Mark as re-run: block() is a no-op while c.blocked is set.
          this.servingKey = key;
          this.reblocked = false;
          try {
            handler(c, b.argv);
          } finally {
            this.servingKey = null;
            c.db = saveDb;
          }
          // Served unless it blocked again; a handler that neither replied nor blocked keeps waiting.
          const served = !this.reblocked && (ks.dirty !== dirtyBefore || c.reply.errors !== errorsBefore || c.reply.size !== sizeBefore);
          this.reblocked = false;
          if (served) {
            const st = this.statFor(b.spec.name);
            st.usec += Math.round((performance.now() - t0) * 1000);
            if (ks.dirty !== dirtyBefore && !this.propagated) ks.propagate(db.id, b.argv);
            this.unblock(c);
            // repl-sync-mode sync: its reply waits for a replica's ack of the write that served it.
            this.replication?.afterWake(c);
            this.afterUnblock(c);
          }
        }
      }
    }
  }

  // ------------------------------------------------------------------ transactions

  watch(c: Client, key: string): void {
    const db = c.db;
    if (c.watched.some((w) => w.db === db && w.key === key)) return;
    c.watched.push({ db, key });
    db.watchers ??= new Map();
    let set = db.watchers.get(key);
    if (!set) db.watchers.set(key, (set = new Set()));
    set.add(c);
  }

  unwatchAll(c: Client): void {
    for (const { db, key } of c.watched) {
      const set = db.watchers?.get(key);
      if (set) {
        set.delete(c);
        if (set.size === 0) db.watchers!.delete(key);
      }
      if (db.watchers && db.watchers.size === 0) db.watchers = null;
    }
    c.watched = [];
    c.casDirty = false;
  }

  /** Runs a transaction's queued commands (EXEC). */
  exec(c: Client): void {
    const queued = c.multi!;
    c.multi = null;
    const r = c.reply;
    if (c.multiError) {
      c.multiError = false;
      this.unwatchAll(c);
      r.error(Err.execAbort);
      return;
    }
    // A watched key that expired since WATCH also fails the transaction.
    for (const w of c.watched) if (w.db.expires.size > 0 && w.db.getExpire(w.key) >= 0 && w.db.getExpire(w.key) <= Date.now()) c.casDirty = true;
    if (c.casDirty) {
      this.unwatchAll(c);
      r.nilArray();
      return;
    }
    this.unwatchAll(c);
    r.array(queued.length);
    const hasWrite = queued.some((q) => q.spec.isWrite);
    if (hasWrite) this.keyspace.propagate(c.db.id, ['MULTI']);
    c.inExec = true;
    // A script inside wraps its own effects in MULTI/EXEC unless this EXEC does.
    this.execWraps = hasWrite;
    try {
      for (const { argv, spec } of queued) this.call(c, argv, spec);
    } finally {
      c.inExec = false;
      this.execWraps = false;
    }
    if (hasWrite) this.keyspace.propagate(c.db.id, ['EXEC']);
    if (this.keyspace.readyKeys.length > 0) this.handleReadyKeys();
  }

  // ------------------------------------------------------------------ pause

  isPausedFor(spec: CommandSpec): boolean {
    const p = this.pause!;
    if (Date.now() >= p.until) {
      this.unpause();
      return false;
    }
    if (!p.writeOnly) return true;
    return spec.isWrite || spec.name === 'publish' || spec.name === 'spublish' || spec.name === 'eval' || spec.name === 'evalsha';
  }

  pauseClients(ms: number, writeOnly: boolean): void {
    if (this.pause?.timer) clearTimeout(this.pause.timer);
    const until = Date.now() + ms;
    this.pause = { until: Math.max(until, this.pause?.until ?? 0), writeOnly, timer: null };
    this.pause.timer = setTimeout(() => this.unpause(), this.pause.until - Date.now());
  }

  unpause(): void {
    if (this.pause?.timer) clearTimeout(this.pause.timer);
    this.pause = null;
    this.resumePaused();
  }

  /** Holds a client's command (and its further input) until resumePaused (a slot being committed to another shard). */
  holdClient(c: Client, argv: string[]): void {
    c.paused = true;
    c.pendingPaused = argv;
    this.pausedClients.push(c);
  }

  /** Runs the held commands again from the admission path (one still paused is held again). */
  resumePaused(): void {
    const list = this.pausedClients;
    this.pausedClients = [];
    for (const c of list) {
      c.paused = false;
      const argv = c.pendingPaused;
      c.pendingPaused = null;
      if (c.closed) continue;
      if (argv) {
        c.processing = true;
        try {
          this.processCommand(c, argv);
        } finally {
          c.processing = false;
        }
      }
      this.processInput(c);
    }
  }

  /** Used by DEBUG and internals: the configured databases. */
  dbAt(i: number): Db | undefined {
    return this.keyspace.dbs[i];
  }
}

interface ClientWithSoft {
  softSince?: number;
}


function isLoopback(addr: string | undefined): boolean {
  if (!addr) return true;
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

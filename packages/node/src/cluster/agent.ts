/**
 * The node's cluster agent (docs/failover.md), started when `controllers` is set.
 *
 * It registers with the controllers (node id, addresses, run id), sends every
 * controller a heartbeat with its replication id, offset and configuration epoch, and
 * watches the cluster configuration on every controller; a controller that applied a
 * newer configuration than the heartbeat's epoch 300 ms ago or more puts its own in the
 * reply, so a stalled watch costs a few hundred ms. It applies only configurations with a higher
 * epoch than it holds, and brings the node to what they say: a primary that is no
 * longer primary becomes a replica of the new one (fencing), a replica follows its
 * shard's primary, a promoted replica becomes primary.
 *
 * Writes are refused (CLUSTERDOWN) while the node holds no configuration, while the
 * configuration does not make it a trusted primary, and when it has reached neither a
 * majority of the controllers nor any replica for `cluster-node-timeout` ms: a cut-off
 * primary stops accepting what a promoted replica would never see. Replication to
 * replicas starts only once a configuration says this node is a trusted primary or a
 * replica, so a primary that restarted empty cannot wipe its replicas with a full sync.
 *
 * The decisions are pure functions in @sonic/controller (agent/plan.ts); this is the I/O.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CommandSpec, controlPb } from '@sonic/protocol';
import { agent as plan, callUnary, configFromProto, ControlClients, parseControllers, type ClusterConfig } from '@sonic/controller';
import type { Server } from '../server/server.js';
import type { Client } from '../server/client.js';
import type { Replication } from '../replication/replication.js';
import { busPortFor } from '../replication/bus.js';
import { ClusterSlots } from './slots.js';
import { PubSubBus } from './pubsub-bus.js';
import { SlotMigrator } from './migration.js';

const TICK_MS = 50;
const REGISTER_RETRY_MS = 300;
const WATCH_RETRY_MS = 300;
export const CLUSTERDOWN = 'CLUSTERDOWN The cluster is down';

export class ClusterAgent {
  readonly id: string;
  /** Slot ownership from the configuration (cluster/slots.ts), with cluster-enabled. */
  readonly slots: ClusterSlots | null;
  private readonly clients: ControlClients;
  private config: ClusterConfig | null = null;
  private registered = false;
  private registering = false;
  private lastRegister = 0;
  /** Last successful heartbeat per controller. */
  private readonly lastOk: number[];
  private readonly hbInFlight: boolean[];
  private readonly watches: (grpc.ClientReadableStream<controlPb.ClusterConfig> | null)[];
  private readonly watchRetry: (NodeJS.Timeout | null)[];
  private lastHeartbeat = 0;
  private heartbeatMs = 200;
  /** When each controller's watch was last reopened because a heartbeat had to deliver the configuration. */
  private readonly watchReopened: number[];
  private timer: NodeJS.Timeout | null = null;
  /** Why writes are refused now, or null. */
  fence: string | null = 'no configuration from the controllers yet';
  private stopped = false;
  private replicationStarted = false;
  /** The configuration made this node primary (its clients are closed when it is deposed). */
  private wasPrimary = false;

  constructor(
    private readonly server: Server,
    private readonly repl: Replication,
    private readonly log: Logger,
    /** Starts the node's replication (bus listener) once the configuration allows it. */
    private readonly startReplication: () => Promise<void>,
  ) {
    const cfg = server.config;
    this.clients = new ControlClients(parseControllers(cfg.get('controllers')));
    const n = this.clients.clients.length;
    this.lastOk = new Array<number>(n).fill(0);
    this.hbInFlight = new Array<boolean>(n).fill(false);
    this.watches = new Array(n).fill(null);
    this.watchRetry = new Array(n).fill(null);
    this.watchReopened = new Array<number>(n).fill(0);
    this.id = nodeId(cfg.get('cluster-node-id'), process.cwd());
    // With cluster-enabled, Redis Cluster's interface (docs/sharding.md): slots from the
    // configuration (MOVED/ASK/CROSSSLOT), keys indexed by slot, database 0 only, pub/sub
    // forwarded over the bus. Without it the node keeps Sentinel-style semantics.
    this.slots = cfg.bool('cluster-enabled') ? new ClusterSlots(server, this.id) : null;
    if (this.slots !== null) {
      server.keyspace.setSlotIndex(true);
      this.slots.bus = new PubSubBus(server, log.child({ component: 'pubsub-bus' }));
      this.slots.bus.attach(repl.bus);
      // Resharding: slots stream to their new shard; the controllers commit the new owner.
      this.slots.migrator = new SlotMigrator(server, this.id, log.child({ component: 'migration' }), async (slots, toShard, target) => {
        const r = await this.clients.any<controlPb.AdminReply>('migrationDone', { nodeId: this.id, toShard, slots, targetNodeId: target }, 5000);
        return r.ok ? null : r.error;
      });
      this.slots.migrator.attach(repl.bus);
      server.clusterSlots = this.slots;
    }
  }

  start(): void {
    this.log.info({ node: this.id, controllers: this.clients.addresses.map((a) => `${a.host}:${a.port}`) }, 'cluster agent: registering with the controllers');
    for (let i = 0; i < this.clients.clients.length; i++) this.watch(i);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const t of this.watchRetry) if (t) clearTimeout(t);
    for (const w of this.watches) w?.cancel();
    this.clients.close();
    this.slots?.bus?.close();
    this.slots?.migrator?.close();
  }

  /** The admission check (Server.processCommand): CLUSTERDOWN for writes while fenced. */
  admit(c: Client, spec: CommandSpec): string | null {
    if (this.fence === null || this.repl.role !== 'master') return null;
    // Internal clients (Lua's, a replica's master client) have no socket.
    if (c.socket === null) return null;
    const writes = spec.isWrite || spec.flags.has('may_replicate') || (spec.name === 'exec' && c.multi !== null && c.multi.some((q) => q.spec.isWrite));
    return writes ? CLUSTERDOWN : null;
  }

  // ------------------------------------------------------------------ the loop

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (!this.registered && !this.registering && now - this.lastRegister >= REGISTER_RETRY_MS) void this.register();
    if (now - this.lastHeartbeat >= this.heartbeatMs) {
      this.lastHeartbeat = now;
      this.heartbeat();
    }
    this.reconcile();
    this.updateFence(now);
  }

  private announce(): controlPb.Address {
    const cfg = this.server.config;
    const binds = cfg.get('bind').split(/\s+/).filter((b) => b && !b.startsWith('-') && b !== '*' && b !== '0.0.0.0' && b !== '::');
    // A DNS name (a container's service name, a StatefulSet pod's stable name) comes first:
    // the node keeps its identity when it is rescheduled with another IP (deploy/).
    const host = cfg.get('cluster-announce-hostname') || cfg.get('cluster-announce-ip') || cfg.get('replica-announce-ip') || binds[0] || '127.0.0.1';
    const port = cfg.int('cluster-announce-port') || cfg.int('replica-announce-port') || this.server.port;
    const bus = cfg.int('cluster-announce-bus-port') || busPortFor(cfg, this.server.port);
    return { host, port, busPort: bus };
  }

  private role(): 'primary' | 'replica' {
    return this.repl.role === 'master' ? 'primary' : 'replica';
  }

  private async register(): Promise<void> {
    this.registering = true;
    this.lastRegister = Date.now();
    const cfg = this.server.config;
    const repl = this.repl;
    let primary: controlPb.Address | undefined;
    if (repl.role === 'slave') primary = { host: repl.masterHost, port: repl.masterPort, busPort: 0 };
    else {
      const ro = cfg.get('replicaof').trim().split(/[\s:@]+/);
      if (ro.length >= 2 && /^\d+$/.test(ro[1]!)) primary = { host: ro[0]!, port: Number(ro[1]), busPort: 0 };
    }
    const req: controlPb.RegisterRequest = {
      protocolVersion: 1,
      nodeId: this.id,
      address: this.announce(),
      runId: this.server.runId,
      role: primary ? 'replica' : this.role(),
      primary,
      shard: cfg.get('cluster-shard'),
      replid: repl.replid,
      offset: repl.offset,
      priority: cfg.int('replica-priority'),
    };
    try {
      const r = await this.clients.any<controlPb.RegisterReply>('register', req, 3000);
      if (!r.ok) {
        if (!/^TRYAGAIN/.test(r.error)) this.log.warn({ error: r.error }, 'cluster agent: registration refused');
      } else {
        this.registered = true;
        this.log.info({ node: this.id, epoch: r.config?.epoch }, 'cluster agent: registered');
        if (r.config) this.offer(r.config, 'register');
      }
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'cluster agent: no controller answered the registration');
    } finally {
      this.registering = false;
    }
  }

  private heartbeat(): void {
    const repl = this.repl;
    const req: controlPb.HeartbeatRequest = {
      nodeId: this.id,
      runId: this.server.runId,
      role: this.role(),
      replid: repl.replid,
      offset: repl.offset,
      linkUp: repl.link?.state === 'connected',
      priority: this.server.config.int('replica-priority'),
      epoch: this.config?.epoch ?? 0,
      connectedReplicas: [...repl.replicas].filter((r) => r.state === 'online').length,
      fenced: this.fence !== null,
    };
    const deadline = Math.max(100, Math.min(1000, Math.floor(this.nodeTimeout() / 2)));
    this.clients.clients.forEach((client, i) => {
      if (this.hbInFlight[i]) return;
      this.hbInFlight[i] = true;
      callUnary<controlPb.HeartbeatReply>(client, 'heartbeat', req, deadline)
        .then((r) => {
          this.lastOk[i] = Date.now();
          if (r.intervalMs > 0) this.heartbeatMs = Math.max(20, Math.min(5000, r.intervalMs));
          if (r.unknown && this.registered && r.epoch > 0) {
            this.registered = false;
            this.log.info('cluster agent: a controller does not know this process; registering again');
          }
          // Behind this controller: its reply carries the configuration (the watch stream
          // would have delivered it before this reply when it works).
          if (r.config !== undefined && r.config.epoch > (this.config?.epoch ?? 0)) {
            const held = this.config?.epoch ?? 0;
            this.offer(r.config, `heartbeat ${i}`);
            this.watchMissed(i, held, r.config.epoch);
          }
        })
        .catch(() => {})
        .finally(() => (this.hbInFlight[i] = false));
    });
  }

  private watch(i: number): void {
    if (this.stopped) return;
    this.watchRetry[i] = null;
    const s = this.clients.clients[i]!.watch({ watcher: this.id });
    this.watches[i] = s;
    const again = () => {
      if (this.watches[i] !== s) return;
      this.watches[i] = null;
      if (!this.stopped && this.watchRetry[i] === null) this.watchRetry[i] = setTimeout(() => this.watch(i), WATCH_RETRY_MS);
    };
    s.on('data', (c: controlPb.ClusterConfig) => this.offer(c, `watch ${i}`));
    s.on('error', (e: Error) => {
      if (this.watches[i] === s) this.log.debug({ controller: i, err: e.message }, 'cluster agent: configuration watch failed; reopening');
      again();
    });
    s.on('end', again);
  }

  /**
   * A heartbeat reply delivered a configuration the watch on that controller had not:
   * the stream may be stalled (or only slower than the reply); reopen it, at most once
   * a second.
   */
  private watchMissed(i: number, held: number, epoch: number): void {
    const now = Date.now();
    if (now - this.watchReopened[i]! < 1000) return;
    this.watchReopened[i] = now;
    const a = this.clients.addresses[i]!;
    this.log.info({ controller: `${a.host}:${a.port}`, held, epoch }, 'cluster agent: a heartbeat delivered a configuration the watch had not; reopening the watch');
    if (this.watchRetry[i]) clearTimeout(this.watchRetry[i]!);
    this.watches[i]?.cancel();
    this.watches[i] = null;
    this.watch(i);
  }

  /** A configuration from a controller: applied only when its epoch is higher than ours. */
  private offer(p: controlPb.ClusterConfig, via: string): void {
    const incoming = configFromProto(p);
    if (!plan.accepts(this.config?.epoch ?? 0, incoming) && this.config !== null) return;
    if (this.config !== null && incoming.epoch <= this.config.epoch) return;
    if (incoming.epoch === 0) return;
    const before = this.config ? plan.desiredRole(this.config, this.id) : null;
    this.config = incoming;
    this.slots?.apply(incoming);
    const now = plan.desiredRole(incoming, this.id);
    if (JSON.stringify(before) !== JSON.stringify(now)) this.log.info({ epoch: incoming.epoch, via, desired: now }, 'cluster agent: new configuration');
    else this.log.debug({ epoch: incoming.epoch, via }, 'cluster agent: new configuration');
    this.reconcile();
    this.updateFence(Date.now());
  }

  /** Brings replication to what the configuration says. */
  private reconcile(): void {
    if (this.config === null) return;
    const desired = plan.desiredRole(this.config, this.id);
    const repl = this.repl;
    if (!this.replicationStarted && (desired.kind === 'replica' || (desired.kind === 'primary' && desired.trusted))) {
      this.replicationStarted = true;
      this.startReplication().catch((e) => {
        this.log.fatal({ err: (e as Error).message }, 'cannot start replication (bus port)');
        this.log.flush?.();
        setTimeout(() => process.exit(1), 50);
      });
      // start() may have begun following `replicaof`; the configuration decides below.
    }
    if (!this.replicationStarted) return;
    const local = { role: this.role(), masterHost: repl.masterHost, masterPort: repl.masterPort };
    const action = plan.reconcile(local, desired);
    if (action.kind === 'promote') {
      this.log.warn({ epoch: this.config.epoch }, 'cluster agent: promoted by the configuration (REPLICAOF NO ONE)');
      repl.promote();
    } else if (action.kind === 'follow') {
      this.log.warn({ epoch: this.config.epoch, host: action.host, port: action.port }, 'cluster agent: following the primary of the configuration');
      repl.replicaOf(action.host, action.port, action.busPort);
    }
    if (desired.kind === 'primary') this.wasPrimary = true;
    else if (desired.kind === 'replica' && this.wasPrimary) {
      // Deposed (by this configuration, or by the controller's REPLICAOF just before it).
      // As Sentinel's CLIENT KILL TYPE normal: the clients reconnect, ask the controllers
      // again and find the new primary instead of meeting READONLY here.
      this.wasPrimary = false;
      let n = 0;
      for (const c of [...this.server.clients.values()]) {
        if (c.socket === null) continue;
        this.server.closeClient(c, true);
        n++;
      }
      if (n > 0) this.log.info({ clients: n }, 'cluster agent: closed the clients of the deposed primary');
    }
  }

  private nodeTimeout(): number {
    return Math.max(1, this.server.config.int('cluster-node-timeout'));
  }

  private updateFence(now: number): void {
    const timeout = this.nodeTimeout();
    const desired = this.config ? plan.desiredRole(this.config, this.id) : ({ kind: 'unknown' } as const);
    let replicas = 0;
    for (const r of this.repl.replicas) if (r.state === 'online' && now - r.ackTime <= timeout) replicas++;
    const reason = plan.fenceReason({
      haveConfig: this.config !== null,
      desired,
      controllersReachable: this.lastOk.filter((t) => now - t <= timeout).length,
      controllers: this.lastOk.length,
      replicasReachable: replicas,
    });
    if (reason !== this.fence) {
      if (reason === null) this.log.info('cluster agent: accepting writes');
      else if (this.repl.role === 'master') this.log.warn({ reason }, 'cluster agent: refusing writes (CLUSTERDOWN)');
      this.fence = reason;
    }
  }
}

/** The node id: the setting, else the one kept in dir (made once). */
function nodeId(set: string, dir: string): string {
  if (set !== '') return set;
  const file = join(dir, 'sonic-node-id');
  try {
    if (existsSync(file)) {
      const id = readFileSync(file, 'utf8').trim();
      if (/^[A-Za-z0-9._:-]{1,64}$/.test(id)) return id;
    }
  } catch {
    // A fresh id below.
  }
  const id = randomBytes(20).toString('hex');
  try {
    writeFileSync(file, id + '\n');
  } catch {
    // Not kept: the next start gets another id (and rejoins as a new node).
  }
  return id;
}

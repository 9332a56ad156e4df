import type { RaftStatus } from '../raft/types.js';
/**
 * The controller process: the I/O shell around the pure parts.
 *
 *   Raft (raft/raft.ts)         driven by a real clock (a tick every `tickMs`), persisted by
 *                               the storage before messages go out, messages over gRPC
 *                               (transport.ts, sonic.v1.Peer);
 *   configuration (config/)     committed commands applied in order; watchers get every
 *                               new configuration; snapshots compact the log;
 *   failure detection           PING/INFO probes of every node (node-link.ts), heartbeats
 *   (failover/detector.ts)      from the nodes' agents, opinions shared with the peers;
 *   failover (failover/plan.ts) on the leader: decisions carried out (fresh offsets, a
 *                               committed failover, REPLICAOF to the nodes);
 *   Control API                 sonic.v1.Control on the bus port (writes forwarded to the leader);
 *   Sentinel protocol           on the RESP port (sentinel/).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { controlPb, oneShot, raftPb, RespError } from '@sonic/protocol';
import { RaftNode } from '../raft/raft.js';
import type { Message, RaftStorageState, Ready } from '../raft/types.js';
import {
  applyCommand,
  busPortOf,
  decodeCommand,
  decodeConfig,
  emptyConfig,
  encodeCommand,
  findNode,
  findShard,
  primaryOf,
  type ClusterConfig,
  type Command,
  type Result,
} from '../config/cluster.js';
import { FailureDetector, OpinionBoard } from '../failover/detector.js';
import { chooseReplica, eligibleReplicas, OffsetTracker, plan, type Decision, type Heartbeat, type NodeView } from '../failover/plan.js';
import { configToProto } from '../agent/convert.js';
import { callUnary, CHANNEL_OPTIONS, grpcTarget, type UnaryMethod } from '../agent/client.js';
import { SentinelServer } from '../sentinel/server.js';
import { configEvents, downEvent, type NodeLive, type SentinelState } from '../sentinel/commands.js';
import { NodeProbe, queryReplInfo, type ReplInfo } from './node-link.js';
import { PeerTransport, type PeerAddress } from './transport.js';

export interface RaftStorage {
  state(): RaftStorageState;
  /** Durable (fsync) when it resolves. */
  save(rd: Ready): void | Promise<void>;
  close?(): void | Promise<void>;
}

export interface ControllerOptions {
  id: string;
  port: number;
  busPort: number;
  bind: string;
  /** Every controller of the group, this one included. */
  peers: PeerAddress[];
  dir: string;
  downAfterMs: number;
  quorum: number;
  failoverTimeoutMs: number;
  /** Password of the nodes (AUTH before probes and commands). */
  nodePassword: string;
  /** Password of this controller's RESP port. */
  requirepass: string;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
}

/** How often an agent should send heartbeats. */
export const HEARTBEAT_MS = 200;
/** How long a configuration is left to the watch streams before heartbeat replies carry it. */
const SETTLED_MS = 300;
const OPINION_MS = 200;
/** How long a proposed command may take to be applied before its caller gets an error. */
const SUBMIT_TIMEOUT_MS = 5000;
/** Entries applied between snapshots. */
const COMPACT_EVERY = 1000;
const FORWARDED = 'x-sonic-forwarded';

class NotLeader extends Error {}

interface Waiter {
  resolve(r: Result & { epoch: number }): void;
  timer: NodeJS.Timeout;
}

export type AdminResult = { ok: boolean; error: string; epoch: number; detail: string };

export class Controller {
  readonly log: Logger;
  readonly myId: string;
  readonly runId = randomBytes(20).toString('hex');
  readonly startedAt = Date.now();
  config: ClusterConfig = emptyConfig();
  private appliedIndex = 0;
  private compactedIndex = 0;
  private raft!: RaftNode;
  private storage: RaftStorage;
  private readonly transport: PeerTransport;
  private grpcServer: grpc.Server | null = null;
  readonly sentinel: SentinelServer;
  private tickTimer: NodeJS.Timeout | null = null;
  private processScheduled = false;
  private processing = false;
  private processAgain = false;
  private seq = 0;
  private readonly waiters = new Map<string, Waiter>();
  private readonly watchers = new Set<grpc.ServerWritableStream<controlPb.WatchRequest, controlPb.ClusterConfig>>();
  private readonly peerClients = new Map<string, controlPb.ControlClient>();
  private readonly peerSeen = new Map<string, number>();
  readonly detector: FailureDetector;
  readonly board: OpinionBoard;
  private readonly probes = new Map<string, NodeProbe>();
  private readonly heartbeats = new Map<string, Heartbeat>();
  private readonly infos = new Map<string, { info: ReplInfo; at: number }>();
  private readonly offsets = new OffsetTracker();
  private lastOpinion = 0;
  private readonly odownNow = new Set<string>();
  private readonly busy = new Set<string>();
  private readonly pendingHealth = new Set<string>();
  private readonly stuckLogged = new Map<string, string>();
  private wasLeader = false;
  private lastLeader: string | null = null;
  /** Epochs and when this controller applied them (the last 10 s, and the one before). */
  private readonly appliedAt: { epoch: number; at: number }[] = [];
  private closed = false;

  constructor(
    readonly opts: ControllerOptions,
    log: Logger,
    storage: RaftStorage,
  ) {
    this.log = log;
    this.storage = storage;
    this.myId = createHash('sha1').update(`sonic-controller:${opts.id}`).digest('hex');
    this.detector = new FailureDetector(opts.downAfterMs);
    this.board = new OpinionBoard(opts.id, Math.max(1000, OPINION_MS * 5));
    this.transport = new PeerTransport(
      opts.id,
      opts.peers,
      {
        onRaft: (from, m) => this.onRaft(from, m),
        onOpinion: (from, down, up) => {
          this.peerSeen.set(from, Date.now());
          this.board.record(from, down, up, Date.now());
        },
      },
      log.child({ component: 'transport' }),
    );
    this.sentinel = new SentinelServer({
      state: () => this.sentinelState(),
      actions: { failover: (shard) => this.sentinelFailover(shard) },
      requirepass: opts.requirepass,
      runId: this.myId,
      startedAt: this.startedAt,
      log: log.child({ component: 'sentinel' }),
    });
  }

  // ------------------------------------------------------------------ life cycle

  async start(): Promise<void> {
    const state = this.storage.state();
    if (state.snapshot) {
      this.config = decodeConfig(state.snapshot.data);
      this.appliedIndex = state.snapshot.index;
      this.compactedIndex = state.snapshot.index;
    }
    this.raft = new RaftNode(
      {
        id: this.opts.id,
        members: this.opts.peers.map((p) => p.id),
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        rng: Math.random,
        preVote: true,
        checkQuorum: true,
      },
      state,
    );
    const srv = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
    srv.addService(raftPb.PeerService, this.transport.service());
    srv.addService(controlPb.ControlService, this.controlService());
    await new Promise<void>((resolve, reject) =>
      srv.bindAsync(grpcTarget(this.opts.bind, this.opts.busPort), grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
    this.grpcServer = srv;
    await this.sentinel.listen(this.opts.port, this.opts.bind);
    this.syncProbes();
    this.tickTimer = setInterval(() => this.tick(), this.opts.tickMs);
    this.log.info(
      { id: this.opts.id, port: this.opts.port, busPort: this.opts.busPort, peers: this.opts.peers.map((p) => p.id), epoch: this.config.epoch, downAfterMs: this.opts.downAfterMs, quorum: this.opts.quorum },
      'controller ready',
    );
    void this.process();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const p of this.probes.values()) p.stop();
    for (const w of this.watchers) w.end();
    for (const c of this.peerClients.values()) c.close();
    this.transport.close();
    this.grpcServer?.forceShutdown();
    await this.sentinel.close();
    await this.storage.close?.();
  }

  get isLeader(): boolean {
    return this.raft.status().role === 'leader';
  }

  /** Raft's view of this controller (term, role, commit index, members), for metrics and status. */
  raftStatus(): RaftStatus {
    return this.raft.status();
  }

  get leaderId(): string | null {
    return this.raft.status().leader;
  }

  // ------------------------------------------------------------------ Raft

  private onRaft(from: string, m: Message): void {
    this.peerSeen.set(from, Date.now());
    if (this.closed) return;
    this.raft.step(m);
    this.schedule();
  }

  private schedule(): void {
    if (this.processScheduled) return;
    this.processScheduled = true;
    setImmediate(() => {
      this.processScheduled = false;
      void this.process();
    });
  }

  /** Persist (durably), then send, then apply: everything Raft has ready, one Ready at a time. */
  private async process(): Promise<void> {
    if (this.closed) return;
    if (this.processing) {
      this.processAgain = true;
      return;
    }
    this.processing = true;
    try {
      do {
        this.processAgain = false;
        for (let i = 0; i < 1000 && !this.closed; i++) {
          const rd = this.raft.ready();
          if (rd === null) break;
          await this.storage.save(rd);
          if (this.closed) return;
          for (const m of rd.messages) this.transport.sendRaft(m);
          if (rd.snapshot && rd.snapshot.index > this.appliedIndex) {
            const before = this.config;
            this.config = decodeConfig(rd.snapshot.data);
            this.appliedIndex = rd.snapshot.index;
            this.compactedIndex = rd.snapshot.index;
            this.log.info({ index: rd.snapshot.index, epoch: this.config.epoch }, 'configuration loaded from the leader snapshot');
            this.configChanged(before, null);
          }
          for (const e of rd.committed) {
            if (e.index <= this.appliedIndex) continue;
            this.appliedIndex = e.index;
            if (e.type === 'command') this.applyEntry(e.data);
          }
          this.raft.advance(rd);
        }
        if (this.appliedIndex - this.compactedIndex >= COMPACT_EVERY) {
          this.raft.compact(this.appliedIndex, JSON.stringify(this.config));
          this.compactedIndex = this.appliedIndex;
          this.processAgain = true;
        }
      } while (this.processAgain && !this.closed);
    } catch (e) {
      if (this.closed) return;
      // Storage failing to persist is fatal: continuing could break Raft's promises.
      this.log.fatal({ err: e }, 'controller: Raft processing failed; exiting');
      this.log.flush?.();
      setTimeout(() => process.exit(1), 50);
      this.closed = true;
    } finally {
      this.processing = false;
    }
    this.leadershipChanged();
  }

  private applyEntry(data: string): void {
    const dec = decodeCommand(data);
    if (dec === null) {
      this.log.error({ data: data.slice(0, 200) }, 'committed entry is not a command; skipped');
      return;
    }
    const before = this.config;
    const { config, result } = applyCommand(before, dec.cmd);
    this.config = config;
    const w = this.waiters.get(dec.rid);
    if (w) {
      this.waiters.delete(dec.rid);
      clearTimeout(w.timer);
      w.resolve({ ...result, epoch: config.epoch });
    }
    if (!result.ok) this.log.warn({ op: dec.cmd.op, error: result.error }, 'configuration command refused');
    if (config !== before) {
      this.log.info({ epoch: config.epoch, op: dec.cmd.op, detail: result.ok ? result.detail : '' }, 'new configuration');
      this.configChanged(before, dec.cmd);
    }
  }

  private leadershipChanged(): void {
    const st = this.raft.status();
    if (st.leader !== this.lastLeader) {
      this.lastLeader = st.leader;
      this.log.info({ leader: st.leader, term: st.term }, st.leader === this.opts.id ? 'this controller is the leader' : 'leader changed');
    }
    const leader = st.role === 'leader';
    if (leader !== this.wasLeader) {
      this.wasLeader = leader;
      this.busy.clear();
      this.pendingHealth.clear();
    }
  }

  /** Proposes a command on the leader and resolves once it is applied (or fails). */
  submit(cmd: Command): Promise<Result & { epoch: number }> {
    if (!this.isLeader) return Promise.reject(new NotLeader('not the leader'));
    const rid = `${this.opts.id}-${this.runId.slice(0, 8)}-${++this.seq}`;
    if (!this.raft.propose(encodeCommand(rid, cmd))) return Promise.reject(new NotLeader('not the leader (proposal refused)'));
    this.schedule();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(rid);
        resolve({ ok: false, error: 'TRYAGAIN the change was not committed in time (leadership changed?)', epoch: this.config.epoch });
      }, SUBMIT_TIMEOUT_MS);
      this.waiters.set(rid, { resolve, timer });
    });
  }

  // ------------------------------------------------------------------ configuration changes

  private configChanged(before: ClusterConfig, cmd: Command | null): void {
    const now = Date.now();
    this.appliedAt.push({ epoch: this.config.epoch, at: now });
    while (this.appliedAt.length > 1 && this.appliedAt[1]!.at < now - 10_000) this.appliedAt.shift();
    const proto = configToProto(this.config);
    for (const w of this.watchers) w.write(proto);
    for (const ev of configEvents(before, this.config)) this.sentinel.publish(ev);
    this.syncProbes();
    if (cmd?.op === 'failover') this.log.info({ shard: cmd.shard, from: cmd.from, to: cmd.to, reason: cmd.reason, epoch: this.config.epoch }, `+switch-master ${cmd.shard}`);
  }

  /** Probes follow the configuration: one per node. */
  private syncProbes(): void {
    const now = Date.now();
    const ids = new Set(this.config.nodes.map((n) => n.id));
    for (const [id, p] of this.probes) {
      if (!ids.has(id)) {
        p.stop();
        this.probes.delete(id);
        this.detector.unwatch(id);
        this.heartbeats.delete(id);
        this.infos.delete(id);
        this.offsets.forget(id);
      }
    }
    const pingMs = Math.min(1000, Math.max(20, Math.floor(this.opts.downAfterMs / 10)));
    for (const n of this.config.nodes) {
      const p = this.probes.get(n.id);
      if (p) {
        p.retarget(n.host, n.port);
        continue;
      }
      this.detector.watch(n.id, now);
      const probe = new NodeProbe(n.host, n.port, this.opts.nodePassword, pingMs, {
        onAlive: () => this.detector.onReply(n.id, Date.now()),
        onInfo: (info) => this.infos.set(n.id, { info, at: Date.now() }),
      });
      this.probes.set(n.id, probe);
      probe.start();
    }
  }

  // ------------------------------------------------------------------ the clock

  private tick(): void {
    if (this.closed) return;
    this.raft.tick();
    void this.process();
    const now = Date.now();
    const t = this.detector.poll(now);
    for (const id of t.down) {
      this.log.warn({ node: id }, '+sdown');
      const ev = downEvent(this.config, id, '+sdown');
      if (ev) this.sentinel.publish(ev);
    }
    for (const id of t.up) {
      this.log.info({ node: id }, '-sdown');
      const ev = downEvent(this.config, id, '-sdown');
      if (ev) this.sentinel.publish(ev);
    }
    if (t.down.length > 0 || t.up.length > 0 || now - this.lastOpinion >= OPINION_MS) {
      this.lastOpinion = now;
      this.transport.broadcastOpinion(this.detector.downSet(now), this.detector.upSet(now));
    }
    for (const n of this.config.nodes) {
      const od = this.board.isOdown(n.id, this.detector.isSdown(n.id, now), now, this.opts.quorum);
      if (od === this.odownNow.has(n.id)) continue;
      if (od) this.odownNow.add(n.id);
      else this.odownNow.delete(n.id);
      const votes = this.board.votes(n.id, this.detector.isSdown(n.id, now), now).length;
      if (od) this.log.warn({ node: n.id, votes, quorum: this.opts.quorum }, '+odown');
      const ev = downEvent(this.config, n.id, od ? '+odown' : '-odown', votes, this.opts.quorum);
      if (ev) this.sentinel.publish(ev);
    }
    if (this.isLeader) this.runPlanner(now);
  }

  // ------------------------------------------------------------------ failover (leader)

  /** The freshest report of a node: its agent's heartbeat, else the probe's INFO. */
  private report(id: string, now: number, staleOk = true): Heartbeat | null {
    const hb = this.heartbeats.get(id);
    if (hb && now - hb.at <= 3 * HEARTBEAT_MS + 1000) return hb;
    const inf = this.infos.get(id);
    if (inf && now - inf.at <= 3000) {
      const i = inf.info;
      return { runId: i.runId, role: i.role, replid: i.replid, offset: i.offset, priority: i.priority, linkUp: i.linkUp, fenced: false, epoch: 0, at: inf.at };
    }
    return staleOk ? (hb ?? null) : null;
  }

  private view(now: number): Map<string, NodeView> {
    const v = new Map<string, NodeView>();
    for (const n of this.config.nodes) {
      const sdown = this.detector.isSdown(n.id, now);
      v.set(n.id, {
        sdown,
        odown: this.board.isOdown(n.id, sdown, now, this.opts.quorum),
        up: this.detector.isUp(n.id, now),
        heartbeat: this.report(n.id, now),
        offsetReset: this.offsets.isReset(n.id),
      });
    }
    return v;
  }

  private runPlanner(now: number): void {
    const decisions = plan({ config: this.config, view: this.view(now), manual: new Map(), busy: this.busy });
    for (const d of decisions) this.carryOut(d);
  }

  private carryOut(d: Decision): void {
    if (d.kind === 'setHealth') {
      const key = `${d.id}:${d.health}`;
      if (this.pendingHealth.has(key)) return;
      this.pendingHealth.add(key);
      this.log.info({ node: d.id, health: d.health, why: d.why }, 'node health change');
      this.submit({ op: 'setHealth', id: d.id, health: d.health, runId: d.runId })
        .catch(() => {})
        .finally(() => this.pendingHealth.delete(key));
    } else if (d.kind === 'stuck') {
      if (this.stuckLogged.get(d.shard) !== d.why) {
        this.stuckLogged.set(d.shard, d.why);
        this.log.warn({ shard: d.shard, why: d.why }, 'failover not possible now');
      }
    } else {
      this.stuckLogged.delete(d.shard);
      this.busy.add(d.shard);
      this.failover(d)
        .then((r) => {
          if (!r.ok) this.log.warn({ shard: d.shard, error: r.error }, 'failover failed; will retry');
        })
        .catch((e) => this.log.error({ err: e, shard: d.shard }, 'failover error'))
        .finally(() => this.busy.delete(d.shard));
    }
  }

  /** Carries out a failover decision: fresh offsets, choice, commit, then the nodes are told. */
  private async failover(d: Extract<Decision, { kind: 'failover' }>): Promise<AdminResult> {
    const started = Date.now();
    const cfg = this.config;
    const from = findNode(cfg, d.from);
    if (!from) return { ok: false, error: `no node ${d.from}`, epoch: cfg.epoch, detail: '' };
    const pw = this.opts.nodePassword;
    this.log.warn({ shard: d.shard, primary: d.from, reason: d.reason, candidates: d.candidates }, '+try-failover');
    this.sentinel.publish({ channel: '+try-failover', message: `master ${d.shard} ${from.host} ${from.port}` });
    let target = -1;
    if (d.reason === 'manual') {
      // The primary is alive: stop its writes, then wait for a replica to hold everything.
      try {
        await oneShot(from.host, from.port, ['CLIENT', 'PAUSE', String(this.opts.failoverTimeoutMs), 'WRITE'], { password: pw, timeoutMs: 1000 });
        target = (await queryReplInfo(from.host, from.port, pw, 1000)).offset;
      } catch (e) {
        return { ok: false, error: `ERR cannot pause the primary ${from.id}: ${(e as Error).message}`, epoch: cfg.epoch, detail: '' };
      }
    }
    const ask = async () =>
      Promise.all(
        d.candidates.map(async (id) => {
          const n = findNode(this.config, id);
          if (!n) return { id, offset: -1, priority: 0 };
          try {
            const i = await queryReplInfo(n.host, n.port, pw, 500);
            return { id, offset: i.offset, priority: i.priority };
          } catch {
            return { id, offset: -1, priority: 0 };
          }
        }),
      );
    let cands = await ask();
    if (target >= 0) {
      const deadline = Date.now() + this.opts.failoverTimeoutMs;
      while (!cands.some((c) => c.offset >= target) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        cands = await ask();
      }
      cands = cands.filter((c) => c.offset >= target);
    }
    const to = chooseReplica(cands);
    if (to === null) {
      if (target >= 0) void oneShot(from.host, from.port, ['CLIENT', 'UNPAUSE'], { password: pw, timeoutMs: 1000 }).catch(() => {});
      return { ok: false, error: 'NOGOODSLAVE No suitable replica to promote', epoch: cfg.epoch, detail: JSON.stringify(cands) };
    }
    if (!this.isLeader) return { ok: false, error: 'TRYAGAIN leadership lost during the failover', epoch: cfg.epoch, detail: '' };
    const chosen = cands.find((c) => c.id === to)!;
    this.log.warn({ shard: d.shard, to, offset: chosen.offset, candidates: cands }, '+selected-slave');
    const r = await this.submit({ op: 'failover', shard: d.shard, from: d.from, to, fromHealth: d.fromHealth, reason: d.reason });
    if (!r.ok) return { ok: false, error: r.error, epoch: r.epoch, detail: '' };
    if (r.changed) {
      this.log.warn({ shard: d.shard, from: d.from, to, epoch: r.epoch, ms: Date.now() - started }, 'failover committed');
      await this.tellNodes(d.shard, from.id, target >= 0);
    }
    return { ok: true, error: '', epoch: r.epoch, detail: r.detail };
  }

  /**
   * After a committed failover: REPLICAOF NO ONE to the new primary, REPLICAOF to the
   * others (nodes' agents do the same from the configuration; this reaches nodes without
   * one, and is idempotent). The old primary, when alive, is made a replica before its
   * paused writers are let go, on one connection, in that order.
   */
  private async tellNodes(shard: string, oldPrimary: string, unpauseOld: boolean): Promise<void> {
    const cfg = this.config;
    const p = primaryOf(cfg, shard);
    const s = findShard(cfg, shard);
    if (!p || !s) return;
    const pw = this.opts.nodePassword;
    const now = Date.now();
    const jobs: Promise<unknown>[] = [];
    jobs.push(oneShot(p.host, p.port, ['REPLICAOF', 'NO', 'ONE'], { password: pw, timeoutMs: 1000 }));
    for (const id of s.replicas) {
      const n = findNode(cfg, id)!;
      if (this.detector.isSdown(id, now) && id !== oldPrimary) continue;
      if (id === oldPrimary && this.detector.isSdown(id, now)) continue;
      jobs.push(
        oneShot(n.host, n.port, ['REPLICAOF', p.host, String(p.port)], { password: pw, timeoutMs: 1000 }).then(async (v) => {
          if (id === oldPrimary) {
            // As Sentinel: the deposed primary's clients reconnect and find the new one.
            await oneShot(n.host, n.port, ['CLIENT', 'KILL', 'TYPE', 'normal'], { password: pw, timeoutMs: 1000 }).catch(() => {});
            if (unpauseOld) await oneShot(n.host, n.port, ['CLIENT', 'UNPAUSE'], { password: pw, timeoutMs: 1000 });
          }
          return v;
        }),
      );
    }
    const res = await Promise.allSettled(jobs);
    const failed = res.filter((r) => r.status === 'rejected' || r.value instanceof RespError).length;
    if (failed > 0) this.log.info({ shard, failed }, 'some nodes were not told directly (their agents apply the configuration)');
  }

  /** A manual failover (sonic failover, SENTINEL FAILOVER), on the leader. */
  async manualFailover(shard: string, to: string): Promise<AdminResult> {
    const cfg = this.config;
    const s = findShard(cfg, shard);
    if (!s || s.primary === null) return { ok: false, error: 'ERR No such master with that name', epoch: cfg.epoch, detail: '' };
    if (this.busy.has(shard)) return { ok: false, error: 'INPROG Failover already in progress', epoch: cfg.epoch, detail: '' };
    let cands = eligibleReplicas(cfg, shard, this.view(Date.now()));
    if (to !== '') cands = cands.filter((c) => c === to);
    if (cands.length === 0) return { ok: false, error: 'NOGOODSLAVE No suitable replica to promote', epoch: cfg.epoch, detail: '' };
    const p = findNode(cfg, s.primary)!;
    const alive = this.detector.isUp(p.id, Date.now());
    this.busy.add(shard);
    try {
      return await this.failover({ kind: 'failover', shard, from: p.id, candidates: cands, reason: alive ? 'manual' : 'odown', fromHealth: alive ? 'ok' : 'down' });
    } finally {
      this.busy.delete(shard);
    }
  }

  private async sentinelFailover(shard: string): Promise<string | null> {
    try {
      const r = this.isLeader ? await this.manualFailover(shard, '') : await this.forward<controlPb.AdminReply>('failover', { shard, to: '' }, this.opts.failoverTimeoutMs + 3000);
      return r.ok ? null : r.error;
    } catch (e) {
      return `TRYAGAIN ${(e as Error).message}`;
    }
  }

  // ------------------------------------------------------------------ Control API

  private leaderClient(): controlPb.ControlClient | null {
    const id = this.leaderId;
    if (id === null || id === this.opts.id) return null;
    let c = this.peerClients.get(id);
    if (!c) {
      const p = this.opts.peers.find((x) => x.id === id);
      if (!p) return null;
      c = new controlPb.ControlClient(grpcTarget(p.host, p.busPort), grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.peerClients.set(id, c);
    }
    return c;
  }

  private forward<Res>(method: UnaryMethod, req: unknown, deadlineMs = 6000): Promise<Res> {
    const c = this.leaderClient();
    if (c === null) return Promise.reject(new NotLeader('TRYAGAIN no leader elected yet'));
    const md = new grpc.Metadata();
    md.set(FORWARDED, this.opts.id);
    return callUnary<Res>(c, method, req, deadlineMs, md);
  }

  /** Runs a write on the leader: here, or forwarded once. */
  private async leaderOnly<Res>(call: grpc.ServerUnaryCall<unknown, Res>, method: UnaryMethod, local: () => Promise<Res>, deadlineMs?: number): Promise<Res> {
    if (this.isLeader) return local();
    if (call.metadata.get(FORWARDED).length > 0) throw new NotLeader('TRYAGAIN not the leader (forwarded to a controller that lost leadership)');
    return this.forward<Res>(method, call.request, deadlineMs);
  }

  private adminReply(r: Result & { epoch: number }): controlPb.AdminReply {
    return r.ok ? { ok: true, error: '', epoch: r.epoch, detail: r.detail } : { ok: false, error: r.error, epoch: r.epoch, detail: '' };
  }

  private controlService(): controlPb.ControlServer {
    const unary =
      <Req, Res>(fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>) =>
      (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
        fn(call).then(
          (r) => cb(null, r),
          (e: Error) => cb({ code: e instanceof NotLeader ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL, details: e.message } as grpc.ServiceError),
        );
      };
    return {
      register: unary<controlPb.RegisterRequest, controlPb.RegisterReply>(async (call) => {
        const q = call.request;
        this.recordHeartbeat({ nodeId: q.nodeId, runId: q.runId, role: q.role, replid: q.replid, offset: q.offset, linkUp: false, priority: q.priority, epoch: 0, connectedReplicas: 0, fenced: true });
        return this.leaderOnly(call, 'register', async () => {
          if (q.protocolVersion !== 1) return { ok: false, error: `unsupported control protocol version ${q.protocolVersion}`, config: undefined };
          const r = await this.submit({
            op: 'register',
            id: q.nodeId,
            host: q.address?.host ?? '',
            port: q.address?.port ?? 0,
            busPort: q.address?.busPort ?? 0,
            runId: q.runId,
            role: q.role === 'replica' ? 'replica' : 'primary',
            primary: q.primary && q.primary.port > 0 ? { host: q.primary.host, port: q.primary.port } : null,
            shard: q.shard,
            priority: q.priority,
          });
          if (r.ok) this.log.info({ node: q.nodeId, runId: q.runId, detail: r.detail }, 'node registered');
          return { ok: r.ok, error: r.ok ? '' : r.error, config: configToProto(this.config) };
        });
      }),
      heartbeat: (call, cb) => {
        const q = call.request;
        this.recordHeartbeat(q);
        const n = findNode(this.config, q.nodeId);
        // A node still behind a configuration its watch had time to deliver gets it in the
        // reply: it does not depend on its watch streams alone. (Not for the newest
        // epochs: while slots move the epoch changes many times a second and the watch
        // is about to deliver them.)
        const behind = q.epoch < this.settledEpoch(Date.now());
        cb(null, { epoch: this.config.epoch, unknown: n === undefined || (n.runId !== q.runId && this.config.epoch > 0), intervalMs: HEARTBEAT_MS, config: behind ? configToProto(this.config) : undefined });
      },
      watch: (call) => {
        this.watchers.add(call);
        const drop = () => this.watchers.delete(call);
        call.on('cancelled', drop);
        call.on('close', drop);
        call.on('error', drop);
        call.write(configToProto(this.config));
      },
      addNode: unary<controlPb.AddNodeRequest, controlPb.AdminReply>((call) =>
        this.leaderOnly(call, 'addNode', async () => {
          const q = call.request;
          return this.adminReply(await this.submit({ op: 'addNode', id: q.nodeId, host: q.address?.host ?? '', port: q.address?.port ?? 0, busPort: q.address?.busPort ?? 0, shard: q.shard }));
        }),
      ),
      removeNode: unary<controlPb.RemoveNodeRequest, controlPb.AdminReply>((call) =>
        this.leaderOnly(call, 'removeNode', async () => this.adminReply(await this.submit({ op: 'removeNode', id: call.request.nodeId }))),
      ),
      assignSlots: unary<controlPb.AssignSlotsRequest, controlPb.AdminReply>((call) =>
        this.leaderOnly(call, 'assignSlots', async () =>
          this.adminReply(await this.submit({ op: 'assignSlots', shard: call.request.shard, ranges: call.request.slots.map((r) => [r.start, r.end] as [number, number]) })),
        ),
      ),
      migrate: unary<controlPb.MigrateRequest, controlPb.AdminReply>((call) =>
        this.leaderOnly(call, 'migrate', async () => {
          const q = call.request;
          return this.adminReply(await this.submit(q.cancel ? { op: 'cancelMigration', slots: q.slots } : { op: 'beginMigration', slots: q.slots, toShard: q.toShard }));
        }),
      ),
      migrationDone: unary<controlPb.MigrationDoneRequest, controlPb.AdminReply>((call) =>
        this.leaderOnly(call, 'migrationDone', async () => {
          const q = call.request;
          return this.adminReply(await this.submit({ op: 'endMigration', slots: q.slots, toShard: q.toShard, by: q.nodeId, target: q.targetNodeId }));
        }),
      ),
      failover: unary<controlPb.FailoverRequest, controlPb.AdminReply>((call) =>
        this.leaderOnly(call, 'failover', async () => this.manualFailover(call.request.shard, call.request.to), this.opts.failoverTimeoutMs + 3000),
      ),
      status: unary<controlPb.StatusRequest, controlPb.StatusReply>(async (call) => {
        if (!this.isLeader && call.metadata.get(FORWARDED).length === 0 && this.leaderClient() !== null) {
          try {
            return await this.forward<controlPb.StatusReply>('status', {}, 1500);
          } catch {
            // The leader is not reachable: answer with what this controller knows.
          }
        }
        return this.statusReply();
      }),
    };
  }

  /** The newest epoch applied here at least SETTLED_MS ago (its watchers had that long). */
  private settledEpoch(now: number): number {
    for (let i = this.appliedAt.length - 1; i >= 0; i--) if (this.appliedAt[i]!.at <= now - SETTLED_MS) return this.appliedAt[i]!.epoch;
    // Nothing applied since this process started (a configuration loaded from disk).
    return this.appliedAt.length === 0 ? this.config.epoch : 0;
  }

  private recordHeartbeat(q: controlPb.HeartbeatRequest): void {
    if (q.nodeId === '') return;
    const now = Date.now();
    const role = q.role === 'replica' ? 'replica' : 'primary';
    this.heartbeats.set(q.nodeId, { runId: q.runId, role, replid: q.replid, offset: q.offset, priority: q.priority, linkUp: q.linkUp, fenced: q.fenced, epoch: q.epoch, at: now });
    if (this.offsets.record(q.nodeId, q.runId, q.replid, q.offset)) this.log.warn({ node: q.nodeId, offset: q.offset }, 'node reported an offset lower than before under the same history');
  }

  statusReply(): controlPb.StatusReply {
    const now = Date.now();
    const st = this.raft.status();
    const nodes: controlPb.NodeStatus[] = this.config.nodes.map((n) => {
      const r = this.report(n.id, now, false);
      const hb = this.heartbeats.get(n.id);
      const sdown = this.detector.isSdown(n.id, now);
      return {
        id: n.id,
        role: r?.role ?? '',
        replid: r?.replid ?? '',
        offset: r?.offset ?? 0,
        sdown,
        odown: this.board.isOdown(n.id, sdown, now, this.opts.quorum),
        lastOkMs: this.detector.sinceOk(n.id, now),
        heartbeatMs: hb ? now - hb.at : -1,
        linkUp: r?.linkUp ?? false,
        fenced: hb !== undefined && now - hb.at < 2000 ? hb.fenced : false,
      };
    });
    return {
      config: configToProto(this.config),
      leader: st.leader ?? '',
      term: st.term,
      commitIndex: st.commitIndex,
      answeredBy: this.opts.id,
      controllers: this.opts.peers.map((p) => {
        const seen = this.peerSeen.get(p.id);
        return {
          id: p.id,
          address: { host: p.host, port: p.port, busPort: p.busPort },
          leader: st.leader === p.id,
          reachable: p.id === this.opts.id || (seen !== undefined && now - seen < 2000),
        };
      }),
      nodes,
    };
  }

  // ------------------------------------------------------------------ Sentinel view

  private sentinelState(): SentinelState {
    const now = Date.now();
    const st = this.raft.status();
    const leader = st.leader;
    const myIdOf = (id: string) => createHash('sha1').update(`sonic-controller:${id}`).digest('hex');
    return {
      myId: this.myId,
      config: this.config,
      quorum: this.opts.quorum,
      downAfterMs: this.opts.downAfterMs,
      failoverTimeoutMs: this.opts.failoverTimeoutMs,
      node: (id: string): NodeLive => {
        const sdown = this.detector.isSdown(id, now);
        const r = this.report(id, now);
        const probe = this.probes.get(id);
        return {
          sdown,
          odown: this.board.isOdown(id, sdown, now, this.opts.quorum),
          lastOkMs: this.detector.sinceOk(id, now),
          lastPingMs: probe && probe.lastPingSent > 0 ? now - probe.lastPingSent : -1,
          role: r?.role ?? null,
          offset: r?.offset ?? 0,
          linkUp: r?.linkUp ?? false,
          runId: r?.runId ?? '',
          votes: this.board.votes(id, sdown, now).length,
        };
      },
      peers: this.opts.peers
        .filter((p) => p.id !== this.opts.id)
        .map((p) => {
          const seen = this.peerSeen.get(p.id);
          return { id: p.id, myId: myIdOf(p.id), host: p.host, port: p.port, lastSeenMs: seen === undefined ? -1 : now - seen };
        }),
      failoverInProgress: this.busy,
      term: st.term,
      leaderMyId: leader === null ? null : myIdOf(leader),
    };
  }
}

export { busPortOf };

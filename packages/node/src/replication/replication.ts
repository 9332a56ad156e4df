/**
 * A node's replication state and its Redis interface (docs/replication.md).
 *
 * As a primary: every change on the propagation stream is encoded as RESP (with SELECT
 * when the database changes), counted into the replication offset, coalesced per
 * event-loop turn into one batch, kept in the backlog and sent to every attached
 * replica (primary.ts). As a replica: a link to the primary (link.ts) applies the
 * primary's batches through the server's normal command path as the master client, and
 * keeps the same bytes in its own backlog, so that after a promotion (REPLICAOF NO ONE)
 * the other replicas of the old primary continue from it with a partial resync.
 *
 * Also here: the admission checks (READONLY, NOREPLICAS, MASTERDOWN), WAIT, the
 * synchronous mode's held replies, INFO replication and ROLE.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { CommandSpec } from '@sonic/protocol';
import type { Server } from '../server/server.js';
import { PROPAGATE_REPL } from '../engine/keyspace.js';
import { Client } from '../server/client.js';
import type { ReplSaveInfo } from '../persistence/manager.js';
import { Backlog, encodeArgv } from './backlog.js';
import { BusServer, busPortFor } from './bus.js';
import { ReplicaConn } from './primary.js';
import { ReplicaLink } from './link.js';

export const NO_REPLID = '0'.repeat(40);

/** A client waiting for replicas' acks: WAIT, or a write whose reply is held (sync mode). */
export interface ReplWait {
  offset: number;
  replicas: number;
  deadline: number;
  timer: NodeJS.Timeout | null;
  /** Held reply bytes (sync mode), or null for WAIT. */
  held: (Buffer | string)[] | null;
}

type WaitingClient = Client & { replWait: ReplWait | null };


export class Replication {
  role: 'master' | 'slave' = 'master';
  replid = randomBytes(20).toString('hex');
  replid2 = NO_REPLID;
  secondOffset = -1;
  /** The backlog; null until a replica first attaches (or this node first replicates). */
  backlog: Backlog | null = null;
  /** Bytes propagated but not yet batched (the offset counts them already). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  /** Database the stream last selected; -1 forces a SELECT before the next command. */
  private selectedDb = -1;
  readonly replicas = new Set<ReplicaConn>();
  link: ReplicaLink | null = null;
  /**
   * The client the primary's commands run as (Redis's master / cached master). It lives
   * here, not in the link, so that it survives re-pointing (REPLICAOF another host): its
   * selected database is the one the stream selected last, which a partial resync from
   * the new primary continues from. Replaced on a full sync.
   */
  masterClient: Client | null = null;
  /** Stream offset at the end of the master client's last admitted command. */
  private masterCmdEnd = 0;
  /** Stream offset where the master client's open MULTI began. */
  private masterMultiStart = 0;
  /**
   * The RDB position a node started as a primary took up (restore()): if it is made a
   * replica before its stream moved (a cluster agent decides the role after start), it
   * continues that history instead of its new id's.
   */
  private restoredAsPrimary: ReplSaveInfo | null = null;
  masterHost = '';
  masterPort = 0;
  readonly bus: BusServer;
  private readonly waiting = new Set<WaitingClient>();
  /** Offset before the command being admitted (sync mode: did it write?). */
  private offsetBefore = -1;
  readonly stats = { syncFull: 0, syncPartialOk: 0, syncPartialErr: 0, replOutputBytes: 0, replInputBytes: 0 };
  private timer: NodeJS.Timeout | null = null;
  /** Replication traffic per second over the last few seconds (instantaneous_*_repl_kbps). */
  private rateSamples: { at: number; input: number; output: number }[] = [];

  constructor(
    readonly server: Server,
    readonly log: Logger,
  ) {
    this.server.replId = this.replid;
    this.bus = new BusServer(this, log);
    server.keyspace.onPropagate((db, argv, targets) => {
      // A script's redis.set_repl may keep a change from the replicas.
      if ((targets & PROPAGATE_REPL) !== 0) this.onPropagate(db, argv);
    });
    server.config.onChange((name) => {
      if (name === 'repl-backlog-size' && this.backlog) this.backlog.resize(server.config.int('repl-backlog-size'));
    });
  }

  /** Starts the bus (gRPC) listener and, if configured, replication from a primary. */
  async start(): Promise<void> {
    await this.bus.listen(busPortFor(this.server.config, this.server.port));
    this.timer = setInterval(() => this.cron(), 1000);
    this.timer.unref();
    const replicaof = this.server.config.get('replicaof').trim();
    const hp = replicaof !== '' ? parseHostPort(replicaof) : null;
    if (replicaof !== '' && hp === null) this.log.error({ replicaof }, 'replicaof: expected "host port" or "host:port"; starting as a primary');
    const rsi = this.server.persistence.loadedReplInfo;
    if (rsi !== null) this.restore(rsi, hp !== null);
    if (hp !== null) this.replicaOf(hp.host, hp.port, hp.busPort, true);
  }

  /**
   * Takes up the replication position of the RDB loaded at start (as Redis 4+): as a
   * replica, its id and offset (and a master client on the stream's database), so the
   * first PSYNC continues from there when the primary's backlog still covers it; as a
   * primary, the id becomes replid2 up to that offset, so replicas that hold exactly the
   * saved data continue with a partial resync too.
   */
  private restore(rsi: ReplSaveInfo, asReplica: boolean): void {
    const size = this.server.config.int('repl-backlog-size');
    if (asReplica && rsi.streamDb >= 0 && rsi.streamDb < this.server.keyspace.dbs.length) {
      this.replid = rsi.replid;
      this.backlog = new Backlog(size, rsi.offset);
      this.masterClient = this.newMasterClient(rsi.streamDb);
      this.log.info(
        { replid: rsi.replid, offset: rsi.offset, db: rsi.streamDb },
        'Using the replication ID and offset loaded from the RDB file to try a partial resynchronization',
      );
    } else {
      this.replid2 = rsi.replid;
      this.secondOffset = rsi.offset;
      this.backlog = new Backlog(size, rsi.offset);
      this.selectedDb = -1;
      this.restoredAsPrimary = rsi;
      this.log.info({ replid2: rsi.replid, offset: rsi.offset }, 'Replication ID and offset of the RDB file kept as the secondary ID (replicas holding that data can continue)');
    }
    this.server.replId = this.replid;
  }

  /** A master client on database `db`, its applied offset at the current offset. */
  newMasterClient(db: number): Client {
    const c = new Client(this.server, null);
    c.authenticated = true;
    c.name = 'master';
    c.db = this.server.keyspace.dbs[db] ?? this.server.keyspace.dbs[0]!;
    this.masterCmdEnd = this.offset;
    return c;
  }

  /**
   * The replication position an RDB saved now holds (its repl-* aux fields), or null
   * when this node is in no replication chain (as Redis's rdbPopulateSaveInfo). On a
   * replica the offset is what the master client has applied: bytes still in its
   * parser, or inside an unfinished MULTI, are not in the data.
   */
  saveInfo(): ReplSaveInfo | null {
    if (this.role === 'master') {
      if (this.backlog === null) return null;
      return { replid: this.replid, offset: this.offset, streamDb: this.selectedDb === -1 ? 0 : this.selectedDb };
    }
    const c = this.masterClient;
    if (c === null) return null;
    return { replid: this.replid, offset: this.appliedOffset, streamDb: c.db.id };
  }

  /** On a replica: the stream offset whose effects the dataset holds exactly. */
  get appliedOffset(): number {
    const c = this.masterClient;
    if (c === null) return this.offset;
    return c.multi !== null ? this.masterMultiStart : this.offset - c.parser.buffered;
  }

  /** The next command the stream carries starts with a SELECT (after a full sync, as Redis). */
  forceSelect(): void {
    this.selectedDb = -1;
  }

  /** Drops the replicas attached to this node (they reconnect and learn the new history). */
  disconnectReplicas(reason: string): void {
    for (const r of [...this.replicas]) r.close(reason);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.link?.stop();
    for (const r of this.replicas) r.close('shutting down');
    await this.bus.close();
  }

  // ------------------------------------------------------------------ the stream

  /** master_repl_offset: bytes of the stream this node holds (sent or pending). */
  get offset(): number {
    return (this.backlog?.offset ?? 0) + this.pendingBytes;
  }

  ensureBacklog(): Backlog {
    if (this.backlog === null) {
      this.backlog = new Backlog(this.server.config.int('repl-backlog-size'), 0);
      this.selectedDb = -1;
    }
    return this.backlog;
  }

  private onPropagate(db: number, argv: readonly string[]): void {
    if (this.role !== 'master' || this.backlog === null) return;
    if (db !== this.selectedDb) {
      this.push(encodeArgv(['SELECT', String(db)]));
      this.selectedDb = db;
    }
    this.push(encodeArgv(argv));
  }

  private push(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushPending());
    }
  }

  /** Makes the pending commands one batch: backlog, then every replica. */
  flushPending(): void {
    this.flushScheduled = false;
    if (this.pendingBytes === 0) return;
    const batch = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.feed(batch);
  }

  /** Appends a batch of the stream (own or the primary's) and forwards it to attached replicas. */
  feed(batch: Buffer): void {
    const bl = this.ensureBacklog();
    const start = bl.offset;
    bl.append(batch);
    for (const r of this.replicas) r.sendBatch(start, batch);
  }

  // ------------------------------------------------------------------ acks, WAIT, sync mode

  /** Number of replicas whose acked offset reached `offset`. */
  ackedCount(offset: number): number {
    let n = 0;
    for (const r of this.replicas) if (r.state === 'online' && r.ackOffset >= offset) n++;
    return n;
  }

  /** Called by a replica connection when its ack advanced. */
  onAck(): void {
    if (this.waiting.size === 0) return;
    for (const c of [...this.waiting]) {
      const w = c.replWait!;
      if (this.ackedCount(w.offset) >= w.replicas) this.release(c, false);
    }
  }

  /** WAIT numreplicas timeout. */
  wait(c: Client, numreplicas: number, timeoutMs: number): void {
    if (this.role === 'slave') {
      c.reply.error(
        'ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.',
      );
      return;
    }
    const offset = this.offset;
    const acked = this.ackedCount(offset);
    if (acked >= numreplicas || c.inExec || c.socket === null) {
      c.reply.int(acked);
      return;
    }
    this.block(c, { offset, replicas: numreplicas, deadline: timeoutMs > 0 ? Date.now() + timeoutMs : 0, timer: null, held: null });
  }

  private block(c: Client, w: ReplWait): void {
    const wc = c as WaitingClient;
    wc.replWait = w;
    this.waiting.add(wc);
    if (w.deadline > 0) w.timer = setTimeout(() => this.release(wc, true), Math.max(0, w.deadline - Date.now()));
    // Earlier pending commands are batched now, so the replicas see them (and ack) soon.
    if (this.pendingBytes > 0) this.flushPending();
  }

  private release(c: WaitingClient, timedOut: boolean): void {
    const w = c.replWait;
    if (w === null) return;
    if (w.timer) clearTimeout(w.timer);
    c.replWait = null;
    this.waiting.delete(c);
    if (c.closed) return;
    if (w.held === null) c.reply.int(this.ackedCount(w.offset));
    else if (!timedOut) {
      for (const chunk of w.held) c.socket?.write(chunk as Buffer);
    } else {
      const ms = this.server.config.int('repl-sync-timeout');
      this.log.warn({ client: c.id, addr: c.addr, offset: w.offset }, 'sync mode: no replica acknowledged a write in time; its client gets an error');
      c.reply.error(
        `NOREPLICAS No replica acknowledged the write within repl-sync-timeout (${ms} ms): it was applied on the primary but may be lost in a failover.`,
      );
      this.server.countError('NOREPLICAS');
    }
    this.server.flush(c);
    setImmediate(() => {
      if (!c.closed) this.server.processInput(c);
    });
  }

  /**
   * The admission checks of the replication layer, after authentication: NOREPLICAS
   * (min-replicas-to-write), READONLY (a read-only replica), MASTERDOWN (a replica
   * whose link is down, with replica-serve-stale-data no). Returns an error or null.
   * On a primary the server calls this (and afterCall) only when min-replicas-to-write
   * > 0 or repl-sync-mode is sync (Server.replChecks): a new primary-side check must
   * extend that condition. On a replica it is called for every command, which the
   * master client's offset tracking below relies on.
   */
  admit(c: Client, spec: CommandSpec): string | null {
    const cfg = this.server.config;
    this.offsetBefore = -1;
    if (c === this.masterClient) {
      // Where this command ends in the stream; a MULTI starts where the previous one ended.
      const end = this.offset - c.parser.buffered;
      if (spec.name === 'multi' && c.multi === null) this.masterMultiStart = this.masterCmdEnd;
      this.masterCmdEnd = end;
      return null;
    }
    if (this.role === 'master') {
      if (spec.isWrite) {
        const min = cfg.int('min-replicas-to-write');
        if (min > 0 && cfg.int('min-replicas-max-lag') > 0 && this.goodReplicas() < min) return 'NOREPLICAS Not enough good replicas to write.';
      }
      if (cfg.get('repl-sync-mode') === 'sync' && c.socket !== null && c.multi === null && (spec.isWrite || spec.name === 'exec' || spec.flags.has('may_replicate'))) {
        // Replies before this write go out now; this one is held until a replica has it.
        this.server.flush(c);
        this.ensureBacklog();
        this.offsetBefore = this.offset;
      }
      return null;
    }
    if (spec.isWrite && cfg.bool('replica-read-only')) return "READONLY You can't write against a read only replica.";
    if (!spec.flags.has('stale') && !cfg.bool('replica-serve-stale-data') && this.link?.state !== 'connected')
      return "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    return null;
  }

  /** After an admitted command ran: in sync mode, hold the reply of a write until a replica acks it. */
  afterCall(c: Client): void {
    if (this.offsetBefore < 0) return;
    const before = this.offsetBefore;
    this.offsetBefore = -1;
    if (this.offset === before || c.multi !== null) return;
    const held: (Buffer | string)[] = [];
    c.reply.drainTo({ write: (chunk) => held.push(chunk) });
    const ms = this.server.config.int('repl-sync-timeout');
    this.block(c, { offset: this.offset, replicas: 1, deadline: Date.now() + Math.max(1, ms), timer: null, held });
  }

  /**
   * In sync mode, the reply of a client woken from a blocking command (BLPOP served by
   * another client's LPUSH, XREAD BLOCK by XADD) waits, like a write's, until a replica
   * acked the stream up to the write that served it (and its own pop, when it wrote).
   */
  afterWake(c: Client): void {
    if (this.role !== 'master' || c.socket === null || c.reply.empty || this.server.config.get('repl-sync-mode') !== 'sync') return;
    const offset = this.offset;
    if (offset === 0 || this.ackedCount(offset) >= 1) return;
    const held: (Buffer | string)[] = [];
    c.reply.drainTo({ write: (chunk) => held.push(chunk) });
    const ms = this.server.config.int('repl-sync-timeout');
    this.block(c, { offset, replicas: 1, deadline: Date.now() + Math.max(1, ms), timer: null, held });
  }

  /** Replicas online whose last ack is at most min-replicas-max-lag seconds old. */
  goodReplicas(): number {
    const maxLag = this.server.config.int('min-replicas-max-lag');
    const now = Date.now();
    let n = 0;
    for (const r of this.replicas) if (r.state === 'online' && (now - r.ackTime) / 1000 <= maxLag) n++;
    return n;
  }

  /** KB/s of replication input and output, averaged over the last five seconds (as Redis's instantaneous_*_repl_kbps). */
  get kbps(): { input: number; output: number } {
    const a = this.rateSamples[0];
    const b = this.rateSamples[this.rateSamples.length - 1];
    if (a === undefined || b === undefined || b.at <= a.at) return { input: 0, output: 0 };
    const sec = (b.at - a.at) / 1000;
    return { input: (b.input - a.input) / 1024 / sec, output: (b.output - a.output) / 1024 / sec };
  }

  private cron(): void {
    const now = Date.now();
    this.rateSamples.push({ at: now, input: this.stats.replInputBytes, output: this.stats.replOutputBytes });
    if (this.rateSamples.length > 6) this.rateSamples.shift();
    const timeout = this.server.config.int('repl-timeout') * 1000;
    for (const r of this.replicas) r.cron(now, timeout);
    this.link?.cron(now, timeout);
  }

  // ------------------------------------------------------------------ roles

  /** REPLICAOF host port: follow a primary (its client port). */
  replicaOf(host: string, port: number, busPort = 0, atStart = false): void {
    if (this.role === 'slave' && this.masterHost === host && this.masterPort === port) return;
    this.link?.stop();
    this.flushPending();
    this.ensureBacklog();
    const rsi = this.restoredAsPrimary;
    this.restoredAsPrimary = null;
    if (this.role === 'master' && rsi !== null && this.offset === rsi.offset && rsi.streamDb >= 0) {
      // Started from an RDB as a primary and nothing propagated since: the data is still
      // exactly the file's, so continue the file's history (as a replica started from it;
      // a cluster agent makes a restarted node a replica only after it started). Our own
      // id of the meantime names the same data: it stays as replid2 for our replicas.
      this.replid2 = this.replid;
      this.secondOffset = this.offset;
      this.replid = rsi.replid;
      this.server.replId = this.replid;
      this.masterClient = this.newMasterClient(rsi.streamDb);
      this.disconnectReplicas('replication ID changed (continuing the history of the RDB loaded at start)');
      this.log.info({ replid: rsi.replid, offset: rsi.offset }, 'Using the replication ID and offset loaded from the RDB file to try a partial resynchronization');
    } else if (this.role === 'master' && !atStart) {
      // Our own history is what we ask the new primary to continue (Redis: a cached
      // master made from ourselves); its database is the one our stream selected last.
      // At start there is none (unless the RDB had one: restore()); we ask for "?".
      this.masterClient = this.newMasterClient(this.selectedDb === -1 ? 0 : this.selectedDb);
    }
    this.role = 'slave';
    this.masterHost = host;
    this.masterPort = port;
    this.server.keyspace.expireKeys = false;
    // Clients waiting for acks of this (no longer primary) history get their answer now.
    for (const c of [...this.waiting]) this.release(c, c.replWait!.held !== null);
    this.log.info({ host, port }, `Connecting to MASTER ${host}:${port}`);
    this.link = new ReplicaLink(this, host, port, this.log, busPort);
    this.link.start();
  }

  /** REPLICAOF NO ONE: become a primary, keeping the data and the history (PSYNC2). */
  promote(): void {
    if (this.role === 'master') return;
    this.link?.stop();
    this.link = null;
    this.masterClient = null;
    this.role = 'master';
    this.masterHost = '';
    this.masterPort = 0;
    this.replid2 = this.replid;
    this.secondOffset = this.offset;
    this.replid = randomBytes(20).toString('hex');
    this.server.replId = this.replid;
    this.selectedDb = -1;
    this.server.keyspace.expireKeys = true;
    // Replicas attached to this node follow the new history from here.
    for (const r of this.replicas) r.close('new replication id after promotion');
    this.log.info({ replid: this.replid, replid2: this.replid2, offset: this.secondOffset }, 'MASTER MODE enabled (user request)');
  }

  /** Adopts the primary's id after a sync: `full` resets the history. */
  adoptHistory(replid: string, offset: number, full: boolean, streamDb = 0): void {
    if (full) {
      this.replid = replid;
      this.replid2 = NO_REPLID;
      this.secondOffset = -1;
      this.backlog = new Backlog(this.server.config.int('repl-backlog-size'), offset);
      this.pending = [];
      this.pendingBytes = 0;
      this.server.replId = this.replid;
      this.masterClient = this.newMasterClient(streamDb);
      // Our replicas hold a history we no longer have: they must sync again (a full sync).
      this.disconnectReplicas('new dataset from a full sync with my primary');
    } else if (replid !== this.replid) {
      // The primary changed history (it was promoted): remember ours as replid2, and
      // tell our own replicas (they reconnect and continue with a partial resync).
      this.log.info({ replid, replid2: this.replid, offset: this.offset }, `Master replication ID changed to ${replid}`);
      this.replid2 = this.replid;
      this.secondOffset = this.offset;
      this.replid = replid;
      this.server.replId = this.replid;
      this.disconnectReplicas('my primary changed its replication ID');
    }
  }

  /** True when a replica holding (replid, offset) can continue from the backlog. */
  canContinue(replid: string, offset: number): boolean {
    const bl = this.backlog;
    if (bl === null) return false;
    if (replid !== this.replid && !(replid === this.replid2 && offset <= this.secondOffset)) return false;
    return bl.covers(offset);
  }

  // ------------------------------------------------------------------ reports

  infoFields(): [string, string | number][] {
    const out: [string, string | number][] = [['role', this.role]];
    const now = Date.now();
    if (this.role === 'slave') {
      const l = this.link!;
      out.push(
        ['master_host', this.masterHost],
        ['master_port', this.masterPort],
        ['master_link_status', l.state === 'connected' ? 'up' : 'down'],
        ['master_last_io_seconds_ago', l.lastIo > 0 ? Math.floor((now - l.lastIo) / 1000) : -1],
        ['master_sync_in_progress', l.state === 'sync' ? 1 : 0],
        ['slave_read_repl_offset', l.readOffset],
        ['slave_repl_offset', this.offset],
      );
      if (l.state === 'sync') {
        // The RDB is streamed as it is made, so its size is estimated from the keys the
        // primary has serialised so far (exact once it ends); -1 until the first chunk.
        const p = l.progress();
        out.push(
          ['master_sync_total_bytes', p.total],
          ['master_sync_read_bytes', l.rdbBytes],
          ['master_sync_left_bytes', p.total < 0 ? -1 : p.total - l.rdbBytes],
          ['master_sync_perc', p.perc.toFixed(2)],
          ['master_sync_last_io_seconds_ago', l.lastIo > 0 ? Math.floor((now - l.lastIo) / 1000) : -1],
        );
      }
      if (l.state !== 'connected') out.push(['master_link_down_since_seconds', l.downSince > 0 ? Math.floor((now - l.downSince) / 1000) : -1]);
      out.push(
        ['slave_priority', this.server.config.int('replica-priority')],
        ['slave_read_only', this.server.config.bool('replica-read-only') ? 1 : 0],
        ['replica_announced', this.server.config.bool('replica-announced') ? 1 : 0],
      );
    }
    const online = [...this.replicas];
    out.push(['connected_slaves', online.length]);
    if (this.role === 'master') {
      const min = this.server.config.int('min-replicas-to-write');
      if (min > 0 && this.server.config.int('min-replicas-max-lag') > 0) out.push(['min_slaves_good_slaves', this.goodReplicas()]);
    }
    online.forEach((r, i) => {
      out.push([`slave${i}`, `ip=${r.ip},port=${r.port},state=${r.state},offset=${r.ackOffset},lag=${Math.floor((now - r.ackTime) / 1000)}`]);
    });
    const bl = this.backlog;
    out.push(
      ['master_failover_state', 'no-failover'],
      ['master_replid', this.replid],
      ['master_replid2', this.replid2],
      ['master_repl_offset', this.offset],
      // Redis prints the first byte the second id does not cover (offset + 1).
      ['second_repl_offset', this.secondOffset < 0 ? -1 : this.secondOffset + 1],
      ['repl_backlog_active', bl ? 1 : 0],
      ['repl_backlog_size', this.server.config.int('repl-backlog-size')],
      ['repl_backlog_first_byte_offset', bl ? bl.firstByteOffset + 1 : 0],
      ['repl_backlog_histlen', bl ? bl.histlen : 0],
    );
    return out;
  }

  role3(c: Client): void {
    const r = c.reply;
    if (this.role === 'master') {
      r.array(3);
      r.bulk('master');
      r.int(this.offset);
      const list = [...this.replicas].filter((x) => x.state === 'online');
      r.array(list.length);
      for (const x of list) {
        r.array(3);
        r.bulk(x.ip);
        r.bulk(String(x.port));
        r.bulk(String(x.ackOffset));
      }
      return;
    }
    const l = this.link!;
    r.array(5);
    r.bulk('slave');
    r.bulk(this.masterHost);
    r.int(this.masterPort);
    r.bulk(l.state);
    r.int(l.state === 'connected' ? this.offset : -1);
  }
}

/** Parses "host port" or "host:port", either optionally followed by "@busport". */
export function parseHostPort(s: string): { host: string; port: number; busPort: number } | null {
  let t = s.trim();
  let busPort = 0;
  const at = /@(\d+)$/.exec(t);
  if (at) {
    busPort = Number(at[1]);
    t = t.slice(0, at.index);
    if (busPort < 1 || busPort > 65535) return null;
  }
  let host: string;
  let port: string;
  const sp = t.split(/\s+/);
  if (sp.length === 2) [host, port] = sp as [string, string];
  else {
    const i = t.lastIndexOf(':');
    if (i <= 0) return null;
    host = t.slice(0, i);
    port = t.slice(i + 1);
  }
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) return null;
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(port), busPort };
}

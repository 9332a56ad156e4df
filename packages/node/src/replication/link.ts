/**
 * The replica's side: the link to the primary. It finds the primary's bus port, opens
 * the gRPC stream, says Hello (replication id, offset, masterauth), and then applies
 * what comes: an RDB (full sync: the dataset is replaced once it has arrived whole) or
 * the backlog's tail (partial), then batches. Batches are fed to the master client, a
 * socketless client whose commands go through the server's normal command path (the
 * replication admission checks let it write). Acks go back after each batch (coalesced
 * per event-loop turn) and at least once a second. The link reconnects after a second
 * whenever the stream breaks.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { replicationPb, oneShot, AuthError } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { RdbFileLoader } from '../persistence/rdb-file.js';
import type { Replication } from './replication.js';
import { PROTOCOL_VERSION } from './primary.js';

type Stream = grpc.ClientDuplexStream<replicationPb.ReplicaMessage, replicationPb.PrimaryMessage>;

const RECONNECT_MS = 1000;
/** A progress line every this many ms while a full sync's RDB arrives. */
const PROGRESS_EVERY_MS = 1000;

export class ReplicaLink {
  /** Redis's replication states as ROLE shows them. */
  state: 'connect' | 'connecting' | 'sync' | 'connected' = 'connect';
  lastIo = 0;
  downSince = Date.now();
  /** Bytes received of the stream (slave_read_repl_offset). */
  readOffset = 0;
  rdbBytes = 0;
  /** Keys in the primary's snapshot, and keys it had serialised up to the last chunk (progress). */
  rdbKeysTotal = 0;
  rdbKeys = 0;
  private rdbStarted = 0;
  private lastProgressLog = 0;
  private stream: Stream | null = null;
  private grpcClient: grpc.Client | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private rdb: Buffer[] = [];
  private full: { replid: string; offset: number } | null = null;
  private ackScheduled = false;
  private lastAck = 0;
  private attempt = 0;
  private refusals = 0;

  constructor(
    private readonly repl: Replication,
    readonly host: string,
    readonly port: number,
    private readonly log: Logger,
    /** The primary's bus port when known (replicaof host:port@bus); else asked or client port + 10000. */
    private readonly knownBusPort = 0,
  ) {}

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.teardown();
  }

  private teardown(): void {
    const s = this.stream;
    this.stream = null;
    if (s) {
      s.removeAllListeners();
      s.on('error', () => {});
      s.cancel();
    }
    this.grpcClient?.close();
    this.grpcClient = null;
    this.rdb = [];
    this.full = null;
    if (this.state === 'connected' || this.state === 'sync') this.downSince = Date.now();
    this.state = 'connect';
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.connect();
    }, RECONNECT_MS);
    this.retry.unref();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.state = 'connecting';
    this.attempt++;
    const cfg = this.repl.server.config;
    let busPort = this.knownBusPort > 0 ? this.knownBusPort : this.port + 10000;
    if (this.knownBusPort === 0) {
      try {
        const learned = await askBusPort(this.host, this.port, cfg.get('masterauth'), cfg.get('masteruser'));
        if (learned > 0) busPort = learned;
      } catch (err) {
        if (this.attempt === 1 || this.attempt % 10 === 0)
          this.log.warn({ host: this.host, port: this.port, err: (err as Error).message }, `Error condition on socket for SYNC: ${(err as Error).message}`);
        this.state = 'connect';
        this.scheduleReconnect();
        return;
      }
    }
    if (this.stopped) return;
    const Ctor = replicationPb.ReplicationClient;
    const client = new Ctor(`${this.host.includes(':') ? `[${this.host}]` : this.host}:${busPort}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    this.grpcClient = client;
    const stream = client.sync();
    this.stream = stream;
    stream.on('data', (m: replicationPb.PrimaryMessage) => this.onMessage(m));
    stream.on('error', (err: Error) => this.lost(`stream error: ${err.message}`));
    stream.on('end', () => this.lost('primary closed the stream'));
    const repl = this.repl;
    repl.flushPending();
    this.log.info({ host: this.host, busPort, replid: repl.replid, offset: repl.offset }, 'MASTER <-> REPLICA sync started');
    // Without a master client (cached, or from the RDB loaded at start) we hold no
    // history to continue: "?" asks for a full sync (PSYNC ? -1).
    const history = repl.masterClient !== null;
    stream.write({
      hello: {
        protocolVersion: PROTOCOL_VERSION,
        replid: history ? repl.replid : '?',
        offset: history ? repl.offset : -1,
        password: cfg.get('masterauth'),
        user: cfg.get('masteruser'),
        listeningPort: cfg.int('replica-announce-port') || repl.server.port,
        announceIp: cfg.get('replica-announce-ip'),
        runId: repl.server.runId,
      },
    });
  }

  private lost(reason: string): void {
    if (this.stream === null) return;
    const was = this.state;
    this.teardown();
    if (!this.stopped) {
      if (was === 'connected' || was === 'sync' || this.attempt === 1 || this.attempt % 10 === 0)
        this.log.warn({ host: this.host, port: this.port, reason }, `Connection with master lost (${reason}); reconnecting`);
      this.scheduleReconnect();
    }
  }

  private onMessage(m: replicationPb.PrimaryMessage): void {
    this.lastIo = Date.now();
    const repl = this.repl;
    if (m.batch !== undefined) {
      if (this.state === 'sync') return this.lost('batch during the RDB transfer');
      this.apply(m.batch.offset, m.batch.data);
    } else if (m.rdbChunk !== undefined) {
      if (this.full === null) return this.lost('RDB data without a full sync');
      const d = m.rdbChunk.data;
      this.rdb.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      this.rdbBytes += d.byteLength;
      if (m.rdbChunk.keys > this.rdbKeys) this.rdbKeys = m.rdbChunk.keys;
      repl.stats.replInputBytes += d.byteLength;
      if (this.lastIo - this.lastProgressLog >= PROGRESS_EVERY_MS) {
        this.lastProgressLog = this.lastIo;
        const p = this.progress();
        this.log.info(
          { bytes: this.rdbBytes, keys: this.rdbKeys, keysTotal: this.rdbKeysTotal, estimatedBytes: p.total, ms: this.lastIo - this.rdbStarted },
          `MASTER <-> REPLICA sync: receiving the RDB: ${this.rdbBytes} bytes, ${p.perc.toFixed(1)}%`,
        );
      }
    } else if (m.rdbEnd !== undefined) {
      this.loadRdb();
    } else if (m.fullSync !== undefined) {
      this.full = { replid: m.fullSync.replid, offset: m.fullSync.offset };
      this.rdb = [];
      this.rdbBytes = 0;
      this.rdbKeys = 0;
      this.rdbKeysTotal = m.fullSync.keysTotal;
      this.rdbStarted = this.lastProgressLog = this.lastIo;
      this.state = 'sync';
      this.log.info(
        { replid: m.fullSync.replid, offset: m.fullSync.offset, keys: m.fullSync.keysTotal },
        `Full resync from master: ${m.fullSync.replid}:${m.fullSync.offset}`,
      );
    } else if (m.partialSync !== undefined) {
      const { replid, offset } = m.partialSync;
      if (offset !== repl.offset) return this.lost(`partial resync at offset ${offset}, but this replica holds ${repl.offset}`);
      // The master client (cached across links and restarts) keeps its database.
      repl.masterClient ??= repl.newMasterClient(0);
      repl.adoptHistory(replid, offset, false);
      this.online();
      this.log.info({ replid, offset }, 'Successful partial resynchronization with master.');
    } else if (m.ping !== undefined) {
      this.scheduleAck();
    } else if (m.refused !== undefined) {
      const { code, reason } = m.refused;
      // NOMASTERLINK: a replica we chain to is syncing itself; we retry every second.
      if (code !== 'NOMASTERLINK' || this.refusals++ % 10 === 0) {
        const fields = { host: this.host, port: this.port, code, reason };
        if (code === 'NOMASTERLINK') this.log.warn(fields, `The primary refused replication: ${code} ${reason} (retrying)`);
        else this.log.error(fields, `The primary refused replication: ${code} ${reason}`);
      }
      this.lost(`refused: ${code}`);
    }
  }

  /** The full sync's progress: the RDB's estimated size (extrapolated from keys) and percentage. */
  progress(): { total: number; perc: number } {
    if (this.rdbKeysTotal <= 0 || this.rdbKeys <= 0) return { total: -1, perc: 0 };
    const frac = Math.min(1, this.rdbKeys / this.rdbKeysTotal);
    const total = Math.max(this.rdbBytes, Math.round(this.rdbBytes / frac));
    return { total, perc: Math.min(100, (this.rdbBytes * 100) / total) };
  }

  private online(): void {
    this.state = 'connected';
    this.refusals = 0;
    this.readOffset = this.repl.offset;
    this.sendAck();
  }

  private loadRdb(): void {
    const full = this.full;
    if (full === null) return this.lost('RDB end without a full sync');
    const buf = Buffer.concat(this.rdb);
    this.rdb = [];
    const server = this.repl.server;
    const ks = server.keyspace;
    const t0 = Date.now();
    this.log.info({ bytes: buf.length }, 'MASTER <-> REPLICA sync: Flushing old data; loading DB in memory');
    for (const db of ks.dbs) db.flush();
    let streamDb = 0;
    try {
      const loader = new RdbFileLoader(
        buf,
        {
          key: (dbi, key, value, expireAt) => {
            const db = ks.dbs[dbi]!;
            db.set(key, value);
            if (expireAt >= 0) db.setExpire(key, expireAt);
          },
        },
        { skipExpired: false, maxDb: ks.dbs.length - 1 },
      );
      loader.step(Infinity);
      const sdb = Number(loader.stats.aux['repl-stream-db'] ?? 0);
      if (Number.isInteger(sdb) && sdb >= 0 && sdb < ks.dbs.length) streamDb = sdb;
      this.log.info({ keys: loader.stats.keys, ms: Date.now() - t0 }, 'MASTER <-> REPLICA sync: Finished with success');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'MASTER <-> REPLICA sync: failed to load the RDB from the primary');
      for (const db of ks.dbs) db.flush();
      return this.lost('bad RDB');
    }
    ks.dirty++;
    // New history: a new master client, on the database the stream is on at the
    // snapshot's offset (repl-stream-db; a primary also starts with a SELECT).
    this.repl.adoptHistory(full.replid, full.offset, true, streamDb);
    this.full = null;
    // The AOF holds the dataset just replaced (the load does not go through it): rewrite
    // it from the loaded one, as Redis restarts its AOF after a sync. Otherwise a restart
    // loads the old dataset plus the stream since the sync.
    const aof = server.persistence.aof;
    if (aof.enabled && (aof.rewrite !== null || !aof.startRewrite())) aof.rewriteScheduled = true;
    this.online();
  }

  /** Applies a batch that starts at `start`. */
  private apply(start: number, data: Uint8Array): void {
    const repl = this.repl;
    const have = repl.offset;
    let buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (start > have) return this.lost(`gap in the stream: batch at ${start}, replica at ${have}`);
    if (start + buf.length <= have) return;
    if (start < have) buf = buf.subarray(have - start);
    repl.stats.replInputBytes += buf.length;
    this.readOffset = have + buf.length;
    // Our own backlog keeps the primary's bytes (PSYNC2: we can serve them after a promotion).
    repl.feed(buf);
    const c = repl.masterClient!;
    c.parser.push(buf);
    const ks = repl.server.keyspace;
    ks.replayingPrimary = true;
    try {
      repl.server.processInput(c);
    } finally {
      ks.replayingPrimary = false;
    }
    this.scheduleAck();
  }

  /** The offset applied: received minus what the master client has not run yet (or holds in a MULTI). */
  get appliedOffset(): number {
    return this.repl.appliedOffset;
  }

  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      this.sendAck();
    });
  }

  private sendAck(): void {
    if (this.stream === null || this.state !== 'connected') return;
    this.lastAck = Date.now();
    this.stream.write({ ack: { offset: this.appliedOffset } });
  }

  cron(now: number, timeoutMs: number): void {
    if (this.state === 'connected' || this.state === 'sync') {
      if (this.lastIo > 0 && now - this.lastIo > timeoutMs) {
        this.log.warn('MASTER timeout: no data nor PING received...');
        this.lost('timeout');
        return;
      }
    }
    if (this.state === 'connected' && now - this.lastAck >= 1000) this.sendAck();
  }
}

/**
 * Asks the primary's client port for its bus port (CONFIG GET bus-port; 0 means client
 * port + 10000). Rejects when the primary cannot be reached.
 */
async function askBusPort(host: string, port: number, pass: string, user: string): Promise<number> {
  try {
    const r = await oneShot(host, port, ['CONFIG', 'GET', 'bus-port'], { password: pass, user, timeoutMs: 5000 });
    return Array.isArray(r) && r.length === 2 ? Number(String(r[1])) || 0 : 0;
  } catch (e) {
    throw e instanceof AuthError ? new Error(`Unable to AUTH to MASTER: ${e.message}`) : e;
  }
}

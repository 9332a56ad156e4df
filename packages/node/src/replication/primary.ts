/**
 * The primary's side of one replica's stream: the handshake (authentication, partial
 * or full sync), the RDB transfer of a full sync, the batches, the acks.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { replicationPb } from '@sonic/protocol';
import type { Replication } from './replication.js';
import { startFullSyncSnapshot, type SnapshotHandle } from './snapshot-source.js';

type Call = grpc.ServerDuplexStream<replicationPb.ReplicaMessage, replicationPb.PrimaryMessage>;

/** Messages a replica may have queued for it before it is dropped (its output buffer limit). */
const MAX_QUEUED_MESSAGES = 200_000;
export const PROTOCOL_VERSION = 1;
/** A progress line every this many ms while a full sync's RDB is sent. */
const PROGRESS_EVERY_MS = 1000;

export class ReplicaConn {
  state: 'handshake' | 'wait_bgsave' | 'send_bulk' | 'online' = 'handshake';
  ip = '?';
  port = 0;
  ackOffset = 0;
  ackTime = Date.now();
  lastSent = Date.now();
  /** Batches produced during the RDB transfer, sent once it ends. */
  private queue: { start: number; data: Buffer }[] | null = null;
  private queuedBytes = 0;
  private snapshot: SnapshotHandle | null = null;
  private closed = false;
  private readonly addr: string;

  private constructor(
    private readonly repl: Replication,
    private readonly call: Call,
    private readonly log: Logger,
  ) {
    this.addr = call.getPeer();
  }

  static accept(repl: Replication, call: Call, log: Logger): void {
    const conn = new ReplicaConn(repl, call, log);
    call.on('data', (m: replicationPb.ReplicaMessage) => conn.onMessage(m));
    call.on('error', (err: Error) => conn.close(`stream error: ${err.message}`, false));
    call.on('end', () => conn.close('replica closed the stream', false));
    call.on('cancelled', () => conn.close('stream cancelled', false));
  }

  private onMessage(m: replicationPb.ReplicaMessage): void {
    if (this.closed) return;
    if (m.hello !== undefined) {
      if (this.state !== 'handshake') return this.refuse('PROTOCOL', 'Hello sent twice');
      this.hello(m.hello);
    } else if (m.ack !== undefined) {
      if (this.state === 'handshake') return this.refuse('PROTOCOL', 'Ack before Hello');
      this.ackTime = Date.now();
      if (m.ack.offset > this.ackOffset) {
        this.ackOffset = m.ack.offset;
        this.repl.onAck();
      }
    } else this.refuse('PROTOCOL', 'empty or unknown message');
  }

  private refuse(code: string, reason: string): void {
    this.log.warn({ replica: this.addr, code, reason }, `replication: refused replica ${this.addr}: ${code} ${reason}`);
    try {
      this.call.write({ refused: { code, reason } });
      this.call.end();
    } catch {
      // The stream is already gone.
    }
    this.close(`refused (${code})`, false);
  }

  private hello(h: replicationPb.Hello): void {
    const cfg = this.repl.server.config;
    if (h.protocolVersion !== PROTOCOL_VERSION) return this.refuse('PROTOCOL', `unsupported replication protocol version ${h.protocolVersion}`);
    const pass = cfg.get('requirepass');
    if (pass !== '') {
      if (h.password === '') return this.refuse('NOAUTH', 'Authentication required: set masterauth on the replica');
      if (h.password !== pass || (h.user !== '' && h.user !== 'default'))
        return this.refuse('WRONGPASS', 'invalid username-password pair or user is disabled (check masterauth on the replica)');
    }
    this.ip = h.announceIp !== '' ? h.announceIp : peerHost(this.addr);
    this.port = h.listeningPort;
    const name = `${this.ip}:${this.port}`;
    this.log.info({ replica: name, replid: h.replid, offset: h.offset }, `Replica ${name} asks for synchronization`);
    const repl = this.repl;
    // A replica (chained to us) can only follow a history we are connected to (Redis:
    // -NOMASTERLINK); it retries and continues once our own sync is done.
    if (repl.role === 'slave' && repl.link?.state !== 'connected') return this.refuse('NOMASTERLINK', "Can't SYNC while not connected with my master");
    repl.flushPending();
    repl.ensureBacklog();
    this.repl.replicas.add(this);
    if (repl.canContinue(h.replid, h.offset)) return this.partial(h.offset);
    if (h.replid !== '?' && h.replid !== '') repl.stats.syncPartialErr++;
    this.full();
  }

  private partial(from: number): void {
    const repl = this.repl;
    const tail = repl.backlog!.since(from);
    const bytes = tail.reduce((a, b) => a + b.length, 0);
    repl.stats.syncPartialOk++;
    this.log.info(
      { replica: `${this.ip}:${this.port}`, from, bytes },
      `Partial resynchronization request from ${this.ip}:${this.port} accepted. Sending ${bytes} bytes of backlog starting from offset ${from + 1}.`,
    );
    this.ackOffset = from;
    this.write({ partialSync: { replid: repl.replid, offset: from } });
    this.state = 'online';
    let pos = from;
    for (const b of tail) {
      this.write({ batch: { offset: pos, data: b } });
      pos += b.length;
    }
  }

  private full(): void {
    const repl = this.repl;
    repl.stats.syncFull++;
    // The snapshot holds what is applied: on a replica (chained), bytes of its primary's
    // stream still in the master client's parser or in an open MULTI are not in the data,
    // so the snapshot's offset is before them and they follow it from our backlog.
    const offset = repl.role === 'slave' ? repl.appliedOffset : repl.offset;
    // The database the stream is on at `offset` (a primary starts its next command with a
    // SELECT instead; a chained replica relays its primary's bytes as they are).
    const streamDb = repl.role === 'slave' ? (repl.masterClient?.db.id ?? 0) : 0;
    const keysTotal = repl.server.keyspace.dbs.reduce((n, db) => n + db.dict.size, 0);
    const name = `${this.ip}:${this.port}`;
    this.log.info({ replica: name, replid: repl.replid, offset, keys: keysTotal }, `Full resync requested by replica ${name}; starting a snapshot`);
    this.ackOffset = 0;
    this.queue = [];
    this.queuedBytes = 0;
    if (offset < repl.offset) {
      let start = offset;
      for (const data of repl.backlog!.since(offset)) {
        this.queue.push({ start, data });
        start += data.length;
      }
      this.queuedBytes = repl.offset - offset;
    }
    this.state = 'send_bulk';
    // Our next command starts with a SELECT: the replica's new master client is on db 0.
    if (repl.role === 'master') repl.forceSelect();
    this.write({ fullSync: { replid: repl.replid, offset, keysTotal } });
    const t0 = Date.now();
    let size = 0;
    let lastLog = t0;
    let snap: SnapshotHandle | null = null;
    this.snapshot = snap = startFullSyncSnapshot(repl.server, offset, streamDb, (chunk) => {
      if (this.closed) return true;
      size += chunk.length;
      this.repl.stats.replOutputBytes += chunk.length;
      const keys = snap?.keysWritten ?? 0;
      const now = Date.now();
      if (now - lastLog >= PROGRESS_EVERY_MS) {
        lastLog = now;
        this.log.info(
          { replica: name, bytes: size, keys, keysTotal, ms: now - t0 },
          `Full sync to replica ${name} in progress: ${keys} of ${keysTotal} keys (${keysTotal > 0 ? ((keys * 100) / keysTotal).toFixed(1) : '100.0'}%), ${size} bytes`,
        );
      }
      return this.call.write({ rdbChunk: { data: chunk, keys } });
    }, () => new Promise<void>((r) => this.call.once('drain', () => r())));
    this.snapshot.done.then(
      () => {
        this.snapshot = null;
        if (this.closed) return;
        this.write({ rdbEnd: { size } });
        const ms = Date.now() - t0;
        this.log.info({ replica: `${this.ip}:${this.port}`, bytes: size, ms }, `Synchronization with replica ${this.ip}:${this.port} succeeded (RDB ${size} bytes in ${ms} ms)`);
        const q = this.queue!;
        this.queue = null;
        this.queuedBytes = 0;
        this.state = 'online';
        this.ackTime = Date.now();
        for (const b of q) this.write({ batch: { offset: b.start, data: b.data } });
      },
      (err: Error) => {
        this.snapshot = null;
        this.log.warn({ err, replica: `${this.ip}:${this.port}` }, 'replication: snapshot for a full sync failed');
        this.close('snapshot failed');
      },
    );
  }

  /** A batch of the stream starting at `start`. */
  sendBatch(start: number, data: Buffer): void {
    if (this.closed || this.state === 'handshake') return;
    if (this.queue !== null) {
      this.queue.push({ start, data });
      this.queuedBytes += data.length;
      if (this.queue.length > MAX_QUEUED_MESSAGES || this.queuedBytes > this.outputLimit()) {
        this.log.warn({ replica: `${this.ip}:${this.port}`, bytes: this.queuedBytes }, 'replica scheduled to be closed for overcoming of output buffer limits (during full sync)');
        this.close('output buffer limit');
      }
      return;
    }
    this.write({ batch: { offset: start, data } });
  }

  private outputLimit(): number {
    const parts = this.repl.server.config.get('client-output-buffer-limit').split(' ');
    for (let k = 0; k + 3 < parts.length; k += 4) if (parts[k] === 'slave' && Number(parts[k + 1]) > 0) return Number(parts[k + 1]);
    return Number.MAX_SAFE_INTEGER;
  }

  private write(m: replicationPb.PrimaryMessage): void {
    if (this.closed) return;
    this.lastSent = Date.now();
    if (m.batch) this.repl.stats.replOutputBytes += m.batch.data.length;
    this.call.write(m);
    if (this.call.writableLength > MAX_QUEUED_MESSAGES) {
      this.log.warn({ replica: `${this.ip}:${this.port}` }, 'replica scheduled to be closed for overcoming of output buffer limits');
      this.close('output buffer limit');
    }
  }

  cron(now: number, timeoutMs: number): void {
    if (this.closed || this.state === 'handshake') return;
    if (this.state === 'online' && now - this.ackTime > timeoutMs) {
      this.log.warn({ replica: `${this.ip}:${this.port}` }, `Disconnecting timedout replica: ${this.ip}:${this.port}`);
      this.close('timeout');
      return;
    }
    const period = this.repl.server.config.int('repl-ping-replica-period') * 1000;
    if (this.state === 'online' && now - this.lastSent >= Math.min(period, 1000)) this.write({ ping: { offset: this.repl.offset } });
  }

  close(reason: string, endStream = true): void {
    if (this.closed) return;
    this.closed = true;
    this.snapshot?.cancel();
    this.snapshot = null;
    this.queue = null;
    if (this.repl.replicas.delete(this) && this.state !== 'handshake')
      this.log.info({ replica: `${this.ip}:${this.port}`, reason }, `Connection with replica ${this.ip}:${this.port} lost (${reason})`);
    if (endStream) {
      try {
        // A dropped replica must not get what was still queued for it: abort, not end.
        if (reason === 'timeout' || reason === 'output buffer limit') this.call.destroy();
        else this.call.end();
      } catch {
        // already closed
      }
    }
  }
}

function peerHost(peer: string): string {
  const i = peer.lastIndexOf(':');
  const h = i > 0 ? peer.slice(0, i) : peer;
  return h.replace(/^\[(.*)\]$/, '$1').replace(/^::ffff:/, '');
}

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
    repl.flushPending();
    repl.ensureBacklog();
    this.repl.replicas.add(this);
    if (repl.role === 'master' || repl.link?.state === 'connected') {
      if (repl.canContinue(h.replid, h.offset)) return this.partial(h.offset);
      if (h.replid !== '?' && h.replid !== '') repl.stats.syncPartialErr++;
    }
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
    const offset = repl.offset;
    this.log.info({ replica: `${this.ip}:${this.port}`, replid: repl.replid, offset }, `Full resync requested by replica ${this.ip}:${this.port}; starting a snapshot`);
    this.ackOffset = 0;
    this.queue = [];
    this.state = 'send_bulk';
    this.write({ fullSync: { replid: repl.replid, offset } });
    const t0 = Date.now();
    let size = 0;
    this.snapshot = startFullSyncSnapshot(repl.server, (chunk) => {
      if (this.closed) return true;
      size += chunk.length;
      this.repl.stats.replOutputBytes += chunk.length;
      return this.call.write({ rdbChunk: { data: chunk } });
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

/**
 * One connection to one node: socket, handshake (HELLO 3 with AUTH, falling back to RESP2
 * and AUTH), automatic pipelining and reconnection with exponential backoff.
 *
 * Automatic pipelining: `send()` encodes the command into the connection's buffer and
 * schedules one flush with setImmediate, so everything sent in one event-loop turn leaves
 * in one socket write. Replies are matched in order against `inflight`.
 *
 * When the socket closes, the commands it holds go back to the owner: those never written
 * and reads (safe to repeat) for another try; writes already sent whose reply never came
 * are rejected with WriteOutcomeUnknownError.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { NEED_MORE, ReplyParser, RespBigNumber, RespDouble, RespError, RespPush, RespVerbatim, type RespValue } from '@sonic/protocol';
import { Command, F_BUFFERS, F_IN_MULTI, F_NO_RETRY, F_PAIRS, F_RAW } from './command.js';
import { Encoder, latin1ToUtf8 } from './encode.js';
import { ReplyError, SonicClientError, toReplyError, WriteOutcomeUnknownError } from './errors.js';

export interface ConnectionOptions {
  host: string;
  port: number;
  tls?: tls.ConnectionOptions;
  username?: string;
  password?: string;
  /** 3: HELLO 3, RESP2 when the server refuses it; 2: RESP2 only. */
  protocol: 2 | 3;
  db?: number;
  /** Send READONLY after connecting (replica connections for reads). */
  readonly: boolean;
  name?: string;
  connectTimeoutMs: number;
  /** Reconnect after a loss (false for one-off connections). */
  reconnect: boolean;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Handles pub/sub messages (subscriber connections). */
  subscriber?: boolean;
  /** Called when every reply has arrived (blocking-pool connections return to the pool). */
  idle?: (conn: Connection) => void;
}

export interface ConnectionOwner {
  /** An error reply (typed): the owner retries, redirects or rejects. */
  replyError(conn: Connection, cmd: Command, err: ReplyError): void;
  /** Commands to send again (never written, or safe to repeat). */
  requeue(conn: Connection, cmds: Command[], cause: Error): void;
  /** Push messages (RESP3 `>`, or pub/sub arrays on a RESP2 subscriber connection). */
  push(conn: Connection, msg: unknown[]): void;
  ready(conn: Connection): void;
  closed(conn: Connection, err: Error | null): void;
  reconnecting(conn: Connection, attempt: number, delayMs: number): void;
  error(conn: Connection, err: Error): void;
}

type State = 'connecting' | 'handshake' | 'ready' | 'waiting' | 'ended';

const PUBSUB_KINDS = new Set(['message', 'pmessage', 'smessage', 'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const CONFIRMS = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);

export class Connection {
  readonly address: string;
  state: State = 'connecting';
  /** The protocol the handshake settled on. */
  resp: 2 | 3 = 2;
  private socket: net.Socket | null = null;
  private parser = new ReplyParser();
  private readonly enc = new Encoder();
  /** Commands sent and awaiting replies, in order, from `head`. */
  private inflight: Command[] = [];
  private head = 0;
  /** inflight[head .. written) were handed to the socket; the rest only encoded. */
  private written = 0;
  /** Commands waiting for the connection to be ready. */
  private pending: Command[] = [];
  private flushScheduled = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly flushFn = () => this.flush();

  constructor(readonly opts: ConnectionOptions, private readonly owner: ConnectionOwner) {
    this.address = `${opts.host}:${opts.port}`;
    this.connect();
  }

  /** Commands held (written or not): for the offline-queue bound and idle checks. */
  get load(): number {
    return this.inflight.length - this.head + this.pending.length;
  }

  send(cmd: Command): void {
    if (this.state === 'ready') this.encode(cmd);
    else if (this.state === 'ended') this.owner.requeue(this, [cmd], new SonicClientError(`connection to ${this.address} closed`));
    else this.pending.push(cmd);
  }

  private encode(cmd: Command): void {
    this.enc.command(cmd.name, cmd.args);
    this.inflight.push(cmd);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushFn);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.socket === null || this.enc.pending === 0) return;
    this.socket.write(this.enc.take());
    this.written = this.inflight.length;
  }

  private connect(): void {
    this.state = 'connecting';
    const o = this.opts;
    const s = o.tls ? tls.connect({ host: o.host, port: o.port, ...o.tls }) : net.connect({ host: o.host, port: o.port });
    this.socket = s;
    this.parser = new ReplyParser();
    s.setNoDelay(true);
    s.setKeepAlive(true, 10000);
    s.setTimeout(o.connectTimeoutMs);
    s.on('timeout', () => s.destroy(new SonicClientError(`connecting to ${this.address} timed out`)));
    s.once(o.tls ? 'secureConnect' : 'connect', () => {
      if (this.socket !== s) return;
      this.state = 'handshake';
      this.handshake().then(
        () => {
          if (this.socket !== s) return;
          s.setTimeout(0);
          this.state = 'ready';
          this.attempt = 0;
          const p = this.pending;
          this.pending = [];
          for (const c of p) this.encode(c);
          this.owner.ready(this);
        },
        (e: Error) => {
          if (this.socket !== s) return;
          this.owner.error(this, e);
          s.destroy();
        },
      );
    });
    s.on('data', (d: Buffer) => this.data(d));
    s.on('error', (e) => {
      if (this.socket === s) this.lastError = e;
    });
    s.on('close', () => {
      if (this.socket === s) this.lost();
    });
  }

  private lastError: Error | null = null;

  /** Sends one command now (handshake; the connection may not be ready). */
  private internal(name: string, args: string[]): Promise<unknown> {
    const c = new Command(name, args, undefined, F_RAW | F_NO_RETRY | F_IN_MULTI);
    this.encode(c);
    return c.promise;
  }

  private async handshake(): Promise<void> {
    const o = this.opts;
    let hello: unknown = null;
    if (o.protocol === 3) {
      const args = ['3'];
      if (o.password !== undefined) args.push('AUTH', o.username ?? 'default', o.password);
      if (o.name !== undefined) args.push('SETNAME', o.name);
      hello = await this.internal('HELLO', args);
      // RESP2 when HELLO is unknown or RESP3 refused; without a password the server may
      // want one (NOAUTH): carry on, and the commands will say so.
      if (hello instanceof ReplyError && !(hello.code === 'NOPROTO' || hello.code === 'NOAUTH' || /unknown command/i.test(hello.message))) throw hello;
    }
    if (hello === null || hello instanceof ReplyError) {
      this.resp = 2;
      const steps: Promise<unknown>[] = [];
      if (o.password !== undefined) steps.push(this.internal('AUTH', o.username !== undefined ? [o.username, o.password] : [o.password]));
      if (o.name !== undefined) steps.push(this.internal('CLIENT', ['SETNAME', o.name]));
      for (const r of await Promise.all(steps)) if (r instanceof ReplyError) throw r;
    } else {
      this.resp = 3;
    }
    const after: Promise<unknown>[] = [];
    if (o.db) after.push(this.internal('SELECT', [String(o.db)]));
    if (o.readonly) after.push(this.internal('READONLY', []));
    for (const r of await Promise.all(after)) if (r instanceof ReplyError) throw r;
  }

  private data(d: Buffer): void {
    const p = this.parser;
    p.push(d);
    for (;;) {
      let v: RespValue | typeof NEED_MORE;
      try {
        v = p.next();
      } catch (e) {
        this.owner.error(this, e as Error);
        this.socket?.destroy();
        return;
      }
      if (v === NEED_MORE) {
        const idle = this.opts.idle;
        if (idle !== undefined && this.load === 0) idle(this);
        return;
      }
      if (v instanceof RespPush || (this.opts.subscriber && this.resp === 2 && Array.isArray(v) && typeof v[0] === 'string' && PUBSUB_KINDS.has(v[0]))) {
        const msg = convert(v, false) as unknown[];
        const kind = String(msg[0]);
        const head = this.inflight[this.head];
        // A subscription confirmation answers the SUBSCRIBE-like command at the head.
        if (CONFIRMS.has(kind) && head !== undefined && head.name.toLowerCase() === kind && --head.replies <= 0) {
          this.shift();
          head.resolve(msg[2]);
        }
        this.owner.push(this, msg);
        continue;
      }
      const cmd = this.inflight[this.head];
      if (cmd === undefined) {
        // A reply nobody waits for (a subscriber connection's error): report it.
        if (v instanceof RespError) this.owner.error(this, toReplyError(v));
        continue;
      }
      this.shift();
      if (v instanceof RespError) {
        const err = toReplyError(v);
        if ((cmd.flags & F_IN_MULTI) !== 0) cmd.resolve(err);
        else this.owner.replyError(this, cmd, err);
        continue;
      }
      cmd.resolve((cmd.flags & F_RAW) !== 0 ? v : (cmd.flags & F_PAIRS) !== 0 ? pairs(convert(v, (cmd.flags & F_BUFFERS) !== 0)) : convert(v, (cmd.flags & F_BUFFERS) !== 0));
    }
  }

  private shift(): void {
    this.inflight[this.head++] = undefined as unknown as Command;
    if (this.head >= 1024 && this.head * 2 >= this.inflight.length) {
      this.inflight = this.inflight.slice(this.head);
      this.written -= this.head;
      this.head = 0;
    } else if (this.head === this.inflight.length) {
      this.inflight.length = 0;
      this.written = 0;
      this.head = 0;
    }
  }

  /** The socket closed: hand back or fail what it held, then reconnect after a backoff. */
  private lost(): void {
    const cause = this.lastError;
    this.lastError = null;
    this.socket = null;
    this.flushScheduled = false;
    this.enc.take();
    const again: Command[] = [];
    const why = cause?.message ?? 'connection closed';
    for (let i = this.head; i < this.inflight.length; i++) {
      const c = this.inflight[i]!;
      if (i >= this.written || c.retryable) again.push(c);
      else c.reject(new WriteOutcomeUnknownError(c.name, this.address, why));
    }
    this.inflight = [];
    this.head = this.written = 0;
    for (const c of this.pending) again.push(c);
    this.pending = [];
    const ended = this.state === 'ended' || !this.opts.reconnect;
    this.state = ended ? 'ended' : 'waiting';
    const err = cause ?? new SonicClientError(`connection to ${this.address} closed`);
    if (again.length > 0) this.owner.requeue(this, again, err);
    this.owner.closed(this, cause);
    if (ended) return;
    this.attempt++;
    const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** Math.min(this.attempt - 1, 16));
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.owner.reconnecting(this, this.attempt, jittered);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === 'waiting') this.connect();
    }, jittered);
  }

  /** Closes for good; what it holds goes back to the owner (or fails, per lost()). */
  close(): void {
    if (this.state === 'ended') return;
    const hadSocket = this.socket !== null;
    this.state = 'ended';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (hadSocket) {
      this.flush();
      this.socket!.destroy();
    } else {
      const p = this.pending;
      this.pending = [];
      if (p.length > 0) this.owner.requeue(this, p, new SonicClientError(`connection to ${this.address} closed`));
    }
  }

  /** Closes after the replies to what was sent arrived (QUIT-like, without QUIT). */
  async drain(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (this.load > 0 && this.state !== 'ended' && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    this.close();
  }
}

/** RESP3 and RESP2 replies to plain JS: maps to objects, doubles to numbers, sets to arrays. */
export function convert(v: RespValue, buffers: boolean): unknown {
  if (typeof v === 'string') return buffers ? Buffer.from(v, 'latin1') : latin1ToUtf8(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = convert(v[i]!, buffers);
    return out;
  }
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(convert(k, false))] = convert(x, buffers);
    return o;
  }
  if (v instanceof RespDouble) return v.value;
  if (v instanceof RespBigNumber) return v.value;
  if (v instanceof RespVerbatim) return buffers ? Buffer.from(v.text, 'latin1') : latin1ToUtf8(v.text);
  if (v instanceof RespError) return toReplyError(v);
  return v;
}

function pairs(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < v.length; i += 2) o[String(v[i])] = v[i + 1];
  return o;
}

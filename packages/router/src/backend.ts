/**
 * A connection from the router to one node. Shared connections carry the requests of
 * many clients, pipelined: requests are appended to one output string and written once
 * per turn of the event loop, and replies are matched to requests in order (a node
 * answers a connection's commands in the order it received them). Replies are not
 * decoded: the scanner finds where each ends and the bytes go to the client as they are.
 *
 * Dedicated connections (MULTI/EXEC, WATCH, blocking commands, pub/sub) are the same
 * class, owned by one client at a time; pub/sub ones hand every reply to a `sink`.
 */
import { connect, type Socket } from 'node:net';
import type { CommandSpec } from '@sonic/protocol';
import { ReplyScanner } from './scanner.js';
import { encodeCommand } from './encode.js';
import type { NodeAddr } from './topology.js';

/** A command on its way to a node, and where its reply goes. */
export class Request {
  /** The reply, once known (raw RESP bytes). */
  reply: Buffer | null = null;
  /** Handed to a connection's socket (its fate is unknown if the connection dies now). */
  written = false;
  /** Until when a failed attempt may be retried. */
  deadline = 0;
  redirects = 0;
  /** Send ASKING first (an ASK redirect). */
  asking: string | null = null;
  /** Where the reply goes instead of the client's reply queue (parts of a split command, internal commands). */
  cb: ((req: Request, reply: Buffer) => void) | null = null;
  constructor(
    readonly args: string[],
    readonly spec: CommandSpec | null,
    /** Hash slot of its keys; -1 for keyless (any primary). */
    public slot: number,
    /** Safe to retry after its connection died (reads, and commands without effect). */
    readonly retrySafe: boolean,
    /** The client the reply goes to (its id also picks the connection: per-client order). */
    readonly owner: ReplyOwner | null,
  ) {}

  /** Send to this shard's primary whatever the slot (commands sent to every primary). */
  shard: string | null = null;
  /** Runs on a dedicated connection, released when the reply arrives (blocking commands). */
  dedicated = false;
  /** The dedicated connection it runs on. */
  conn: Backend | null = null;
  /** The shared connection it is outstanding on, for its client (router.ts). */
  pin: Pin | null = null;
}

/** A client's outstanding requests on one of a node's shared connections. */
export interface Pin {
  b: Backend;
  n: number;
}

/** Who waits for a request's reply. */
export interface ReplyOwner {
  readonly id: number;
  readonly proto: 2 | 3;
  /** Gone: its requests are dropped. */
  readonly closed: boolean;
  /** Where the client's requests are outstanding, per pool of shared connections. */
  readonly pins: Map<Backend[], Pin>;
  /** A reply of this client's arrived (flush what is in order). */
  ready(): void;
}

export interface BackendHooks {
  /** A reply for `req` arrived. */
  reply(req: Request, reply: Buffer, from: Backend): void;
  /** After a batch of replies (the router flushes client sockets). */
  batch(): void;
  /** The connection is gone; `lost` are the requests that were waiting for a reply. */
  lost(b: Backend, lost: Request[], why: string): void;
}

const CONNECT_TIMEOUT_MS = 1500;

export class Backend {
  readonly socket: Socket;
  connected = false;
  closed = false;
  /** Requests waiting for a reply, oldest first, from `head`. */
  private queue: Request[] = [];
  private head = 0;
  /** queue[written..] are not yet handed to the socket. */
  private unwritten = 0;
  private out = '';
  private scheduled = false;
  private readonly scanner = new ReplyScanner();
  /** Dedicated pub/sub connections: every reply that no request waits for goes here. */
  sink: ((reply: Buffer) => void) | null = null;
  /** Set by the owner of a dedicated connection. */
  onClose: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;
  /** When a reply last arrived, or the connection last became busy. */
  progressAt = Date.now();
  /** The node holds this connection's input during each write (repl-sync-mode sync). */
  holdsWrites = false;

  constructor(
    readonly addr: NodeAddr,
    readonly proto: 2 | 3,
    readonly replica: boolean,
    password: string,
    private readonly hooks: BackendHooks,
  ) {
    this.socket = connect({ host: addr.host, port: addr.port });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 10_000);
    this.timer = setTimeout(() => {
      if (!this.connected) this.socket.destroy(new Error('connect timeout'));
    }, CONNECT_TIMEOUT_MS);
    this.socket.on('connect', () => {
      clearTimeout(this.timer);
      this.connected = true;
      this.flush();
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (e) => this.close(e.message));
    this.socket.on('close', () => this.close('connection closed'));
    // The handshake: its replies are checked, not forwarded.
    const check = (r: Request, reply: Buffer) => {
      if (reply[0] === 45) this.socket.destroy(new Error(`${r.args[0]} refused: ${reply.toString('latin1').trim()}`));
    };
    if (password !== '') this.internal(['AUTH', password], check);
    if (proto === 3) this.internal(['HELLO', '3'], check);
    if (replica) this.internal(['READONLY'], check);
    else {
      // A primary in repl-sync-mode sync holds a connection's input while a replica acks
      // each write: the router then spreads clients over more connections (router.ts).
      this.internal(['CONFIG', 'GET', 'repl-sync-mode'], (_r, reply) => {
        this.holdsWrites = reply.includes(SYNC);
      });
    }
  }

  /** Requests waiting for a reply. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Sends an internal command whose reply goes to cb. */
  internal(args: string[], cb: (req: Request, reply: Buffer) => void): Request {
    const r = new Request(args, null, -1, true, null);
    r.cb = cb;
    this.send(r);
    return r;
  }

  send(req: Request): void {
    if (this.closed) {
      this.hooks.lost(this, [req], 'connection closed');
      return;
    }
    if (req.asking !== null) {
      const a = new Request(['ASKING'], null, -1, true, null);
      a.cb = noop;
      this.push(a);
      req.asking = null;
    }
    this.push(req);
  }

  /** Writes a command whose replies go to the sink (pub/sub). */
  sendRaw(args: readonly string[]): void {
    if (this.closed) return;
    this.out += encodeCommand(args);
    this.schedule();
  }

  private push(req: Request): void {
    if (this.queue.length === this.head) this.progressAt = Date.now();
    const args = req.args;
    let out = this.out + '*' + args.length + '\r\n';
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      out += '$' + a.length + '\r\n' + a + '\r\n';
    }
    this.out = out;
    this.queue.push(req);
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      // After every socket event of this turn of the loop: the requests of many clients
      // that arrived together go to the node in one write.
      if (pendingFlush.length === 0) setImmediate(flushAll);
      pendingFlush.push(this);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (!this.connected || this.closed || this.out === '') return;
    const q = this.queue;
    for (let i = Math.max(this.unwritten, this.head); i < q.length; i++) q[i]!.written = true;
    this.unwritten = q.length;
    this.socket.write(this.out, 'latin1');
    this.out = '';
  }

  private onData(chunk: Buffer): void {
    this.progressAt = Date.now();
    const sc = this.scanner;
    sc.push(chunk);
    try {
      for (;;) {
        const reply = sc.next();
        if (reply === null) break;
        if (this.head < this.queue.length) {
          const req = this.queue[this.head]!;
          this.queue[this.head++] = undefined as unknown as Request;
          if (req.cb !== null && req.spec === null) req.cb(req, reply);
          else this.hooks.reply(req, reply, this);
        } else if (this.sink !== null) {
          this.sink(reply);
        }
        // else: an unexpected reply (a push without a sink): dropped.
      }
    } catch (e) {
      this.socket.destroy(e as Error);
      return;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.unwritten -= this.head;
      this.head = 0;
    }
    this.hooks.batch();
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    clearTimeout(this.timer);
    this.socket.destroy();
    const lost: Request[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      // Internal commands (handshake, ASKING) die with the connection.
      const r = this.queue[i]!;
      if (r.spec !== null) lost.push(r);
    }
    this.queue = [];
    this.head = 0;
    this.unwritten = 0;
    this.out = '';
    this.hooks.lost(this, lost, why);
    this.onClose?.();
  }
}

function noop(): void {}

const SYNC = Buffer.from('\r\nsync\r\n');

/** Connections with output to write at the end of this turn of the event loop. */
let pendingFlush: Backend[] = [];

function flushAll(): void {
  const list = pendingFlush;
  pendingFlush = [];
  for (const b of list) b.flush();
}

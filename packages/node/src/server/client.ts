import type { Socket } from 'node:net';
import { ReplyWriter, RequestParser, type CommandSpec } from '@sonic/protocol';
import type { Db, KeyWatcher } from '../engine/keyspace.js';
import type { Server } from './server.js';

/** The reply writer of a client: counts error replies for stats. */
export class ClientWriter extends ReplyWriter {
  errors = 0;
  lastError = '';
  override error(msg: string): void {
    super.error(msg);
    this.errors++;
    this.lastError = msg;
  }
}

export interface BlockState {
  db: Db;
  keys: string[];
  /** Absolute deadline in ms, or 0 for none. */
  deadline: number;
  argv: string[];
  spec: CommandSpec;
  timer: NodeJS.Timeout | null;
  onTimeout: (c: Client) => void;
}

export type ReplyMode = 'on' | 'off' | 'skip';

/** One connected client (also used, without a socket, for internal callers). */
export class Client implements KeyWatcher {
  readonly id: number;
  readonly parser: RequestParser;
  readonly reply = new ClientWriter();
  db: Db;
  name = '';
  libName = '';
  libVer = '';
  authenticated: boolean;
  user = 'default';
  // ---- transactions ----
  /** Queued commands while in MULTI, or null. */
  multi: { argv: string[]; spec: CommandSpec }[] | null = null;
  /** A command failed to queue: EXEC answers EXECABORT. */
  multiError = false;
  casDirty = false;
  watched: { db: Db; key: string }[] = [];
  /** Executing EXEC's queued commands (blocking commands do not block then). */
  inExec = false;
  // ---- pub/sub ----
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly shardChannels = new Set<string>();
  // ---- blocking ----
  blocked: BlockState | null = null;
  // ---- state ----
  replyMode: ReplyMode = 'on';
  /** CLIENT REPLY SKIP: the next command's reply is dropped. */
  skipNext = false;
  monitor = false;
  /** CLIENT NO-EVICT / NO-TOUCH. */
  noEvict = false;
  noTouch = false;
  closing = false;
  /** Set once the socket is gone. */
  closed = false;
  readonly createdAt: number;
  lastInteraction: number;
  lastCommand = 'NULL';
  /** Commands of this client currently being processed (re-entrancy guard). */
  processing = false;
  /** In the server's flush queue (Server.scheduleFlush). */
  flushQueued = false;
  /** Waiting for CLIENT UNPAUSE. */
  paused = false;
  /** The command held back by CLIENT PAUSE. */
  pendingPaused: string[] | null = null;
  /** Waiting for replicas' acks (WAIT, or a write's reply held in repl-sync-mode sync); input waits too. */
  replWait: object | null = null;
  readonly addr: string;
  readonly laddr: string;
  totalCommands = 0;

  constructor(
    readonly server: Server,
    readonly socket: Socket | null,
  ) {
    this.id = server.nextClientId++;
    this.parser = new RequestParser(server.limits);
    this.db = server.keyspace.dbs[0]!;
    this.authenticated = server.config.get('requirepass') === '';
    this.createdAt = this.lastInteraction = Date.now();
    this.addr = socket ? `${formatHost(socket.remoteAddress)}:${socket.remotePort}` : '';
    this.laddr = socket ? `${formatHost(socket.localAddress)}:${socket.localPort}` : '';
  }

  get subscriptions(): number {
    return this.channels.size + this.patterns.size;
  }

  get inPubSub(): boolean {
    return this.channels.size + this.patterns.size + this.shardChannels.size > 0;
  }

  /** Flags as CLIENT LIST shows them. */
  get flagString(): string {
    let f = '';
    if (this.multi !== null) f += 'x';
    if (this.blocked !== null) f += 'b';
    if (this.inPubSub) f += 'P';
    if (this.monitor) f += 'O';
    if (this.casDirty) f += 'd';
    if (this.closing) f += 'A';
    if (this.noEvict) f += 'e';
    if (this.noTouch) f += 'T';
    return f === '' ? 'N' : f;
  }
}

function formatHost(h: string | undefined): string {
  if (!h) return '?';
  if (h.startsWith('::ffff:')) return h.slice(7);
  return h.includes(':') ? `[${h}]` : h;
}

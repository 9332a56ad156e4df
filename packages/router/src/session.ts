/**
 * One client connection to the router: it parses requests, decides where each goes,
 * and writes the replies back in the order the requests came (a pipeline of commands to
 * different nodes is answered in the client's order). Each request is an entry of the
 * reply queue; an entry whose reply is known is written once every earlier one is.
 */
import type { Socket } from 'node:net';
import { Err, RequestParser, keyHashSlot, keyPositions, lookupCommand, lookupSubcommand, type CommandSpec } from '@sonic/protocol';
import { Request, type Backend, type Pin, type ReplyOwner } from './backend.js';
import { errorReply } from './encode.js';
import type { Router } from './router.js';
import { HANDLERS } from './commands.js';
import { PubSub } from './pubsub.js';
import { Transaction } from './transactions.js';

const CROSSSLOT = errorReply(Err.crossSlot);
const NOAUTH = errorReply(Err.noAuth);
/** Replies queued (not yet written) before the router stops reading a client. */
const MAX_PENDING = 8192;
const MAX_OUTPUT = 64 * 1024 * 1024;
/** Slot of a request whose keys are in different slots. */
export const CROSS = -2;

export class Session implements ReplyOwner {
  proto: 2 | 3 = 2;
  name: string | null = null;
  authed: boolean;
  closed = false;
  /** Close once the queued replies are written (QUIT, protocol error). */
  private closing = false;
  private readonly parser = new RequestParser();
  private queue: Request[] = [];
  private head = 0;
  private dirty = false;
  private paused = false;
  /** MULTI state and the WATCH connection (transactions.ts). */
  readonly tx: Transaction;
  /** Subscriptions (pubsub.ts), created on the first SUBSCRIBE. */
  pubsub: PubSub | null = null;
  /** Slot of the last write (WAIT goes to its node). */
  lastWriteSlot = -1;
  /** Dedicated connections of blocking commands in flight (closed with the session). */
  readonly blocking = new Set<Request>();
  readonly pins = new Map<Backend[], Pin>();

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly router: Router,
  ) {
    this.authed = router.opts.requirepass === '';
    this.parser.unauthenticated = !this.authed;
    this.tx = new Transaction(this);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('drain', () => this.maybeResume());
  }

  // ------------------------------------------------------------------ input

  private onData(chunk: Buffer): void {
    if (this.closing || this.closed) return;
    const p = this.parser;
    p.push(chunk);
    for (;;) {
      const args = p.next();
      if (args === null) break;
      this.router.stats.commands++;
      try {
        this.command(args);
      } catch (e) {
        // A bug must not take the other clients down with this one: answer it and go on.
        this.router.log.error({ err: (e as Error).stack, command: args[0] }, 'router: internal error');
        this.fail(errorReply(`ERR router internal error: ${(e as Error).message}`));
      }
      if (this.closing) break;
    }
    if (p.error !== null && !this.closing) {
      this.local(errorReply(p.error));
      this.closing = true;
    }
    this.flush();
    if (!this.paused && (this.queue.length - this.head > MAX_PENDING || this.socket.writableLength > MAX_OUTPUT)) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Resolves the command and its subcommand, checks arity and auth, then runs it. */
  command(args: string[]): void {
    let spec = lookupCommand(args[0]!);
    if (spec === undefined) return this.fail(errorReply(Err.unknownCommand(args[0]!, args.slice(1))));
    if (spec.subcommands !== null && args.length >= 2) {
      const sub = lookupSubcommand(spec, args[1]!);
      if (sub === undefined) return this.fail(errorReply(Err.unknownSubcommand(args[1]!, spec.name)));
      spec = sub;
    }
    if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) return this.fail(errorReply(Err.wrongArity(spec.name)));
    if (!this.authed && !spec.noAuth) return this.fail(NOAUTH);
    if (this.tx.queuing && !this.tx.control(spec.name)) return this.tx.queue(args, spec);
    if (this.pubsub !== null && this.proto === 2 && this.pubsub.active && !PUBSUB_CONTEXT.has(spec.name)) {
      return this.fail(
        errorReply(`ERR Can't execute '${spec.name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`),
      );
    }
    const h = HANDLERS.get(spec.name);
    if (h !== undefined) return h(this, args, spec);
    this.forward(args, spec);
  }

  /** Authenticated or not (an unauthenticated client's requests are held to small limits). */
  setAuthed(on: boolean): void {
    this.authed = on;
    this.parser.unauthenticated = !on;
  }

  /** An error for a command (inside MULTI it also dooms the transaction). */
  fail(err: Buffer): void {
    if (this.tx.queuing) this.tx.dirty = true;
    this.local(err);
  }

  /** The slot of a command's keys: -1 for none, CROSS when they differ. */
  slotOf(args: readonly string[], spec: CommandSpec): number {
    let slot = -1;
    if (spec.firstKey > 0 && !spec.flags.has('movablekeys')) {
      const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
      for (let i = spec.firstKey; i <= last && i < args.length; i += spec.step) {
        const s = keyHashSlot(args[i]!);
        if (slot < 0) slot = s;
        else if (s !== slot) return CROSS;
      }
      return slot;
    }
    if (spec.keySpecs.length === 0) return -1;
    for (const i of keyPositions(spec, args)) {
      const s = keyHashSlot(args[i]!);
      if (slot < 0) slot = s;
      else if (s !== slot) return CROSS;
    }
    return slot;
  }

  /** Sends a command to the node that owns its keys (any primary when keyless). */
  forward(args: string[], spec: CommandSpec): void {
    const slot = this.slotOf(args, spec);
    if (slot === CROSS) return this.local(CROSSSLOT);
    const req = new Request(args, spec, slot, spec.isReadonly && !spec.isWrite, this);
    if (spec.isWrite && slot >= 0) this.lastWriteSlot = slot;
    this.queue.push(req);
    this.router.route(req);
  }

  /** A blocking command: on a dedicated connection, sent again to the new owner if its node fails. */
  forwardBlocking(args: string[], spec: CommandSpec, slot: number): void {
    const req = new Request(args, spec, slot, true, this);
    req.dedicated = true;
    this.queue.push(req);
    this.blocking.add(req);
    req.cb = (r) => {
      this.blocking.delete(r);
      this.ready();
    };
    this.router.route(req);
  }

  // ------------------------------------------------------------------ output

  /** Queues a reply the router makes itself. */
  local(reply: Buffer): void {
    const r = new Request(EMPTY_ARGS, null, -1, true, this);
    r.reply = reply;
    this.queue.push(r);
    this.ready();
  }

  /** Queues an entry whose reply comes later (set `reply`, then call ready()). */
  later(): Request {
    const r = new Request(EMPTY_ARGS, null, -1, true, this);
    this.queue.push(r);
    return r;
  }

  ready(): void {
    if (this.dirty || this.closed) return;
    this.dirty = true;
    this.router.markDirty(this);
  }

  /** Writes the replies that are ready, in order. */
  flush(): void {
    this.dirty = false;
    if (this.closed) return;
    const q = this.queue;
    let h = this.head;
    const start = h;
    while (h < q.length && q[h]!.reply !== null) h++;
    if (h > start) {
      const sock = this.socket;
      if (h - start > 1) sock.cork();
      for (let i = start; i < h; i++) {
        sock.write(q[i]!.reply!);
        q[i] = undefined as unknown as Request;
      }
      if (h - start > 1) sock.uncork();
      if (h === q.length) {
        this.queue = [];
        h = 0;
      } else if (h > 1024 && h * 2 > q.length) {
        this.queue = q.slice(h);
        h = 0;
      }
      this.head = h;
    }
    if (this.closing && this.queue.length === this.head) {
      this.socket.end();
      this.close();
      return;
    }
    this.maybeResume();
  }

  private maybeResume(): void {
    if (!this.paused || this.closed) return;
    if (this.queue.length - this.head < MAX_PENDING / 2 && this.socket.writableLength < MAX_OUTPUT) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** QUIT: close once the replies before it are written. */
  quit(): void {
    this.closing = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.tx.close();
    this.pubsub?.close();
    for (const r of this.blocking) {
      const c: Backend | null = r.conn;
      r.conn = null;
      c?.close('client gone');
    }
    this.blocking.clear();
    if (!this.socket.destroyed) this.socket.destroySoon();
  }
}

const EMPTY_ARGS: string[] = [];

/** What a RESP2 client may send while subscribed. */
const PUBSUB_CONTEXT = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'ping', 'quit', 'reset']);

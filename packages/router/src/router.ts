/**
 * The router: a RESP listener in front of the cluster (docs/router.md).
 *
 * Each client connection is a `Session` (session.ts) that parses requests and keeps its
 * replies in order. This file holds what the sessions share: the slot table, the
 * connection pools (a few shared, pipelined connections per node and protocol version,
 * plus dedicated ones for transactions, blocking commands and pub/sub), redirects
 * (MOVED patches the table and asks for one refresh; ASK sends ASKING to the target),
 * and retries during a failover: a request that did not reach a node, or a read, is held
 * and sent again until `--retry-timeout`; a write whose fate is unknown gets an error.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { parseRedirect } from '@sonic/protocol';
import { Backend, Request, type BackendHooks, type Pin, type ReplyOwner } from './backend.js';
import { errorReply } from './encode.js';
import type { RouterOptions } from './options.js';
import { ControllerTopology, SeedTopology, SlotMap, type NodeAddr, type TopologySource } from './topology.js';
import { Session } from './session.js';

export const WRITE_UNKNOWN = errorReply('ERR write outcome unknown: connection to node lost');
const WRITE_UNKNOWN_NO_ACK = errorReply('ERR write outcome unknown: no replica acknowledged it in time (it may be lost in a failover)');
const NOT_SERVED = errorReply('CLUSTERDOWN Hash slot not served');
const CONN_LOST = errorReply('CLUSTERDOWN connection to the node lost and no new owner within the retry timeout');
const RETRY_TICK_MS = 50;
const MAX_REDIRECTS = 8;
/** Idle dedicated connections kept per node. */
const DEDICATED_IDLE = 8;
/** Shared connections per node (and protocol and role) at most. */
const MAX_SHARED = 16;
/** A busy shared connection without a reply for this long counts as stalled. */
const STALL_MS = 5;

export interface RouterStats {
  connectionsReceived: number;
  commands: number;
  redirects: number;
  asks: number;
  retries: number;
  writeUnknown: number;
  topologyChanges: number;
  started: number;
}

export class Router implements BackendHooks {
  map: SlotMap | null = null;
  /** Slots a MOVED pointed at a node the table does not know (until the next topology). */
  private readonly moved = new Map<number, NodeAddr>();
  private readonly pools = new Map<string, Backend[]>();
  private readonly idle = new Map<string, Backend[]>();
  readonly sessions = new Set<Session>();
  private retrying: Request[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private dirty: Session[] = [];
  private flushQueued = false;
  private readonly topo: TopologySource;
  private server: Server | null = null;
  private nextId = 1;
  /** Set by nodeFor: the node it returned is a replica. */
  private pickedReplica = false;
  /** Pins of the router's own requests (no client). */
  private readonly internalPins = new Map<Backend[], Pin>();
  /** Where the first topology is awaited (requests before it are held). */
  readonly stats: RouterStats = { connectionsReceived: 0, commands: 0, redirects: 0, asks: 0, retries: 0, writeUnknown: 0, topologyChanges: 0, started: Date.now() };

  constructor(
    readonly opts: RouterOptions,
    readonly log: Logger,
  ) {
    const apply = (m: SlotMap, via: string) => this.apply(m, via);
    this.topo =
      opts.controllers.length > 0
        ? new ControllerTopology(opts.controllers, apply, log.child({ component: 'topology' }))
        : new SeedTopology(opts.seeds, opts.nodePassword, apply, log.child({ component: 'topology' }));
  }

  async listen(): Promise<number> {
    this.topo.start();
    const server = createServer({ noDelay: true }, (sock) => this.accept(sock));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.bind, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    return typeof addr === 'object' && addr !== null ? addr.port : this.opts.port;
  }

  async close(): Promise<void> {
    this.topo.stop();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const s of [...this.sessions]) s.close();
    for (const pool of [...this.pools.values(), ...this.idle.values()]) for (const b of pool) b.close('router closing');
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private accept(sock: Socket): void {
    this.stats.connectionsReceived++;
    const s = new Session(this.nextId++, sock, this);
    this.sessions.add(s);
    sock.on('close', () => {
      this.sessions.delete(s);
      s.close();
    });
  }

  // ------------------------------------------------------------------ topology

  private apply(m: SlotMap, via: string): void {
    const before = this.map;
    this.map = m;
    this.moved.clear();
    this.stats.topologyChanges++;
    this.log.info({ via, ...m.describe(), previousEpoch: before?.epoch ?? null }, 'router: topology changed');
    // Shared connections to nodes that left the topology are closed (their requests are retried).
    const live = new Set<string>();
    for (const s of m.shards) {
      if (s.primary) live.add(s.primary.key);
      for (const r of s.replicas) live.add(r.key);
    }
    for (const [key, pool] of this.pools) {
      const addrKey = key.slice(2);
      if (!live.has(addrKey)) for (const b of [...pool]) if (b !== undefined && b.pending === 0) b.close('node left the topology');
    }
    this.drainRetries();
  }

  /** Asks for a new topology (single-flight). */
  refresh(): Promise<void> {
    return this.topo.refresh();
  }

  /** The node that serves `slot` (MOVED hints first), or null. */
  private nodeFor(req: Request, forRead: boolean): NodeAddr | null {
    const m = this.map;
    if (m === null) return null;
    if (req.shard !== null) {
      for (const s of m.shards) if (s.id === req.shard) return s.primary;
      return null;
    }
    const id = req.owner?.id ?? 0;
    if (req.slot < 0) {
      const ps = m.primaries();
      return ps.length === 0 ? null : ps[id % ps.length]!;
    }
    if (this.moved.size > 0) {
      const hint = this.moved.get(req.slot);
      if (hint !== undefined) return hint;
    }
    const shard = m.shardOf(req.slot);
    if (shard === null) return null;
    if (forRead && this.opts.readFrom !== 'primary' && shard.replicas.length > 0) {
      this.pickedReplica = true;
      return shard.replicas[id % shard.replicas.length]!;
    }
    return shard.primary;
  }

  /** The primary for a slot (any primary, by client id, for -1), MOVED hints first. */
  primaryFor(slot: number, id: number): NodeAddr | null {
    const m = this.map;
    if (m === null) return null;
    if (slot < 0) {
      const ps = m.primaries();
      return ps.length === 0 ? null : ps[id % ps.length]!;
    }
    return this.moved.get(slot) ?? m.shardOf(slot)?.primary ?? null;
  }

  // ------------------------------------------------------------------ sending

  /** Sends a request to the node that owns it now, or holds it for a retry. */
  route(req: Request): void {
    if (req.pin !== null) {
      req.pin.n--;
      req.pin = null;
    }
    if (req.owner !== null && req.owner.closed) return;
    if (req.deadline === 0) req.deadline = Date.now() + this.opts.retryTimeoutMs;
    const forRead = req.retrySafe && !req.dedicated && req.spec !== null && req.spec.isReadonly;
    this.pickedReplica = false;
    const node = this.nodeFor(req, forRead);
    if (node === null) {
      this.retryLater(req, NOT_SERVED);
      return;
    }
    const proto = req.owner?.proto ?? 2;
    const replica = this.pickedReplica;
    if (req.dedicated) {
      const b = this.acquire(node, proto);
      req.conn = b;
      b.send(req);
      return;
    }
    this.sendShared(req, this.shared(node, proto, replica, req.owner));
  }

  /** Sends on a shared connection, counting the request as outstanding for its client there. */
  private sendShared(req: Request, pin: Pin): void {
    pin.n++;
    req.pin = pin;
    pin.b.send(req);
  }

  /**
   * The shared connection a client's request goes on. While the client has requests
   * outstanding on one of the node's connections, it keeps using that one (its commands
   * to the node stay in order); otherwise it takes the least busy. A node in
   * repl-sync-mode sync holds a connection's input while a replica acks each write: there,
   * when every connection is busy and the least busy one has made no progress for
   * STALL_MS, another connection is opened, up to MAX_SHARED.
   */
  shared(node: NodeAddr, proto: 2 | 3, replica: boolean, owner: ReplyOwner | null): Pin {
    // The pool array is cached on the node's address object (replaced with each topology).
    const slot = (proto === 3 ? 2 : 0) + (replica ? 1 : 0);
    const cache = (node.pools ??= []);
    let pool = cache[slot];
    if (pool === undefined) {
      const key = `${proto}${replica ? 'r' : 'p'}${node.key}`;
      let p = this.pools.get(key);
      if (p === undefined) {
        p = [];
        this.pools.set(key, p);
      }
      cache[slot] = pool = p;
    }
    const pins = owner?.pins ?? this.internalPins;
    let pin = pins.get(pool);
    if (pin !== undefined && pin.n > 0 && !pin.b.closed) return pin;
    let best: Backend | null = null;
    let open = 0;
    for (let i = 0; i < pool.length; i++) {
      const b = pool[i];
      if (b === undefined || b.closed) continue;
      open++;
      if (best === null || b.pending < best.pending) best = b;
    }
    if (best === null || open < this.opts.connections || (best.holdsWrites && best.pending > 0 && open < MAX_SHARED && Date.now() - best.progressAt > STALL_MS)) {
      best = new Backend(node, proto, replica, this.opts.nodePassword, this);
      let i = 0;
      while (i < pool.length && pool[i] !== undefined && !pool[i]!.closed) i++;
      pool[i] = best;
    }
    if (pin === undefined) {
      pin = { b: best, n: 0 };
      pins.set(pool, pin);
    } else pin.b = best;
    return pin;
  }

  /** A dedicated connection to a node (an idle one, or a new one). */
  acquire(node: NodeAddr, proto: 2 | 3): Backend {
    const key = `${proto}${node.key}`;
    const list = this.idle.get(key);
    while (list !== undefined && list.length > 0) {
      const b = list.pop()!;
      if (!b.closed) return b;
    }
    return new Backend(node, proto, false, this.opts.nodePassword, this);
  }

  /** Gives a dedicated connection back (kept idle if clean). */
  release(b: Backend): void {
    if (b.closed || b.pending > 0 || b.sink !== null) {
      b.close('released');
      return;
    }
    b.onClose = null;
    const key = `${b.proto}${b.addr.key}`;
    let list = this.idle.get(key);
    if (list === undefined) this.idle.set(key, (list = []));
    if (list.length >= DEDICATED_IDLE) b.close('released');
    else list.push(b);
  }

  /** Backend connections open now. */
  backendCount(): number {
    let n = 0;
    for (const pool of this.pools.values()) for (const b of pool) if (b !== undefined && !b.closed) n++;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  // ------------------------------------------------------------------ replies

  reply(req: Request, reply: Buffer, from: Backend): void {
    if (reply[0] === 45 /* - */ && this.redirected(req, reply, from)) return;
    this.complete(req, reply);
  }

  complete(req: Request, reply: Buffer): void {
    if (req.pin !== null) {
      req.pin.n--;
      req.pin = null;
    }
    if (req.conn !== null) {
      const c = req.conn;
      req.conn = null;
      this.release(c);
    }
    req.reply = reply;
    if (req.cb !== null) req.cb(req, reply);
    else req.owner?.ready();
  }

  /** Handles a redirect or a cluster error that allows a retry; false: the error is the reply. */
  private redirected(req: Request, reply: Buffer, from: Backend): boolean {
    const c1 = reply[1];
    // MOVED, ASK, TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN, READONLY (a deposed primary): nothing was done.
    // NOREPLICAS: not enough replicas (nothing done), or none acked in time (outcome unknown).
    if (c1 !== 77 && c1 !== 65 && c1 !== 84 && c1 !== 67 && c1 !== 76 && c1 !== 82 && c1 !== 78) return false;
    const text = reply.latin1Slice(1, reply.length - 2);
    if (text.startsWith('NOREPLICAS')) {
      if (text.startsWith('NOREPLICAS Not enough good replicas')) {
        void this.refresh();
        this.retryLater(req, reply);
        return true;
      }
      // repl-sync-mode sync: applied on the primary, no replica acked it: it may be lost in a failover.
      this.stats.writeUnknown++;
      this.complete(req, WRITE_UNKNOWN_NO_ACK);
      return true;
    }
    if (text.startsWith('MOVED ') || text.startsWith('ASK ')) {
      const r = parseRedirect(text);
      if (r === null) return false;
      if (++req.redirects > MAX_REDIRECTS) return false;
      if (req.conn !== null) {
        this.release(req.conn);
        req.conn = null;
      }
      const node = this.nodeByAddr(r.host, r.port);
      if (r.kind === 'MOVED') {
        this.stats.redirects++;
        this.moved.set(r.slot, node);
        void this.refresh();
        // A request pinned to a shard (sent to every primary) goes by slot from now on.
        req.shard = null;
        if (req.slot < 0) req.slot = r.slot;
        this.route(req);
      } else {
        this.stats.asks++;
        req.asking = 'yes';
        if (req.dedicated) {
          const b = this.acquire(node, req.owner?.proto ?? 2);
          req.conn = b;
          b.send(req);
        } else this.sendShared(req, this.shared(node, req.owner?.proto ?? 2, false, req.owner));
      }
      return true;
    }
    if (
      text.startsWith('TRYAGAIN') ||
      text.startsWith('CLUSTERDOWN') ||
      text.startsWith('LOADING') ||
      text.startsWith('MASTERDOWN') ||
      (text.startsWith('READONLY') && !from.replica)
    ) {
      if (req.conn !== null) {
        this.release(req.conn);
        req.conn = null;
      }
      void this.refresh();
      this.retryLater(req, reply);
      return true;
    }
    return false;
  }

  private nodeByAddr(host: string, port: number): NodeAddr {
    const key = `${host}:${port}`;
    for (const s of this.map?.shards ?? []) {
      if (s.primary?.key === key) return s.primary;
      for (const r of s.replicas) if (r.key === key) return r;
    }
    return { id: key, host, port, key };
  }

  /** Holds a request and sends it again soon (until its deadline; then `err` is its reply). */
  retryLater(req: Request, err: Buffer): void {
    if (Date.now() >= req.deadline) {
      this.complete(req, err);
      return;
    }
    this.stats.retries++;
    this.retrying.push(req);
    if (this.retryTimer === null) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.refresh().finally(() => this.drainRetries());
      }, RETRY_TICK_MS);
    }
  }

  private drainRetries(): void {
    const list = this.retrying;
    if (list.length === 0) return;
    this.retrying = [];
    for (const r of list) this.route(r);
    this.batch();
  }

  lost(b: Backend, lost: Request[], why: string): void {
    for (const pool of this.pools.values()) {
      const i = pool.indexOf(b);
      if (i >= 0) pool[i] = undefined as unknown as Backend;
    }
    if (lost.length > 0) this.log.warn({ node: b.addr.key, why, pending: lost.length }, 'router: connection to a node lost');
    else this.log.debug({ node: b.addr.key, why }, 'router: connection to a node closed');
    if (lost.length > 0) void this.refresh();
    for (const r of lost) {
      r.conn = null;
      if (r.pin !== null) {
        r.pin.n--;
        r.pin = null;
      }
      // A blocking command may have waited on its node longer than the retry timeout
      // (its deadline was set when first sent): its hold counts from the loss.
      if (r.dedicated) r.deadline = Date.now() + this.opts.retryTimeoutMs;
      if (!r.written || r.retrySafe) this.retryLater(r, CONN_LOST);
      else {
        this.stats.writeUnknown++;
        this.complete(r, WRITE_UNKNOWN);
      }
    }
    this.batch();
  }

  // ------------------------------------------------------------------ client output

  /** A session has replies ready: flushed after the current batch. */
  markDirty(s: Session): void {
    this.dirty.push(s);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.batch());
    }
  }

  batch(): void {
    this.flushQueued = false;
    const d = this.dirty;
    if (d.length === 0) return;
    this.dirty = [];
    for (const s of d) s.flush();
  }
}

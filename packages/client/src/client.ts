/**
 * The Sonic client (docs/client.md): standalone or cluster-aware, with topology from the
 * nodes (CLUSTER SHARDS, else CLUSTER SLOTS) or pushed by the controllers, slot routing,
 * redirects, safe retries across failures, automatic pipelining, pipelines and
 * transactions, pub/sub with resubscription, scripts and a pool for blocking commands.
 */
import { EventEmitter } from 'node:events';
import type * as tls from 'node:tls';
import { keyHashSlot, keyPositions, lookupCommand, lookupSubcommand, type CommandSpec } from '@sonic/protocol';
import { Command, F_BUFFERS, F_IN_MULTI, F_NO_RETRY, F_PAIRS, F_RAW, F_SAFE, type Arg } from './command.js';
import { Connection, type ConnectionOptions, type ConnectionOwner } from './connection.js';
import { keyBytes } from './encode.js';
import {
  AskError,
  ClientClosedError,
  ClusterDownError,
  ConnectionError,
  CrossSlotError,
  LoadingError,
  MovedError,
  NoScriptError,
  OfflineQueueFullError,
  ReadOnlyError,
  ReplyError,
  TryAgainError,
} from './errors.js';
import { SlotTable, splitAddress, type ReadFrom } from './topology.js';
import { sharedWatch, type ConfigWatch } from './watch.js';
import { CommandMethods, PipelineMethods } from './commands.gen.js';
import { createHash } from 'node:crypto';

export interface ClientOptions {
  /** Standalone: one node or a router. */
  host?: string;
  port?: number;
  /** Cluster: seed nodes ("host:port" or {host, port}); the topology comes from them. */
  nodes?: (string | { host: string; port: number })[];
  /** Cluster with pushed topology: "host:port,host:port,..." of the controllers. */
  controllers?: string;
  username?: string;
  password?: string;
  /** Options for node:tls (TLS is used when set). */
  tls?: tls.ConnectionOptions;
  /** 3 (default): HELLO 3, RESP2 when refused. 2: RESP2 only. */
  protocol?: 2 | 3;
  db?: number;
  name?: string;
  readFrom?: ReadFrom;
  connectTimeoutMs?: number;
  /** How long a command may keep being retried (connection loss, TRYAGAIN, CLUSTERDOWN). */
  retryTimeoutMs?: number;
  maxRedirections?: number;
  /** Reconnection backoff: base * 2^attempt, capped. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Retry backoff (TRYAGAIN, CLUSTERDOWN, a lost connection): base * 2^attempt, capped. */
  retryDelayMs?: number;
  retryDelayMaxMs?: number;
  /** Commands waiting for a connection or a topology, at most. */
  maxOfflineQueue?: number;
  /** Replies as Buffers for every command. */
  returnBuffers?: boolean;
  /** Connections per node for blocking commands (BLPOP, XREAD BLOCK, WAIT ...). */
  blockingPoolSize?: number;
}

type Opts = Required<Omit<ClientOptions, 'host' | 'port' | 'nodes' | 'controllers' | 'username' | 'password' | 'tls' | 'db' | 'name'>> & ClientOptions;

export interface TopologyEvent {
  /** Topology changes this client applied so far. */
  count: number;
  source: 'nodes' | 'controllers';
  epoch: number;
}

/** Commands split per slot and merged in cluster mode (as the router does). */
const SPLIT = new Set(['mget', 'mset', 'del', 'exists', 'unlink', 'touch']);

/** Pub/sub and connection-state commands the generated API leaves to dedicated methods. */
const STATEFUL = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'monitor', 'multi', 'exec', 'discard', 'watch', 'unwatch', 'select', 'hello', 'auth', 'reset', 'quit', 'readonly', 'readwrite', 'asking', 'sync', 'psync']);

interface BlockingPool {
  idle: Connection[];
  size: number;
  waiting: Command[];
}

export class Client extends CommandMethods {
  readonly opts: Opts;
  readonly mode: 'standalone' | 'cluster';
  /** The slot table (cluster mode), null until the first topology. */
  table: SlotTable | null = null;
  /** Topology changes applied. */
  topologyChanges = 0;
  /** Topology fetches from the nodes (CLUSTER SHARDS/SLOTS). */
  refreshes = 0;
  private readonly events = new EventEmitter();
  private readonly conns = new Map<string, Connection>();
  private readonly seeds: string[];
  private readonly standaloneAddr: string | null;
  /** Commands waiting for the first topology. */
  private parked: Command[] = [];
  /** Commands waiting for a retry timer. */
  private retrying = 0;
  private refreshing: Promise<void> | null = null;
  private lastRefresh = 0;
  private closed = false;
  private isReady = false;
  private readyWaiters: { res: () => void; rej: (e: Error) => void }[] = [];
  private watch: ConfigWatch | null = null;
  private readonly onConfig = (cfg: Parameters<Parameters<ConfigWatch['add']>[0]>[0]) => this.apply(SlotTable.fromConfig(cfg), 'controllers');
  private readonly blocking = new Map<string, BlockingPool>();
  // pub/sub
  private readonly channels = new Set<string>();
  private readonly patterns = new Set<string>();
  private readonly shardChannels = new Map<string, string | null>();
  private subConn: Connection | null = null;
  private readonly shardSubConns = new Map<string, Connection>();
  private seedTimer: NodeJS.Timeout | null = null;

  private readonly owner: ConnectionOwner = {
    replyError: (_c, cmd, e) => this.replyError(cmd, e),
    requeue: (_c, cmds, e) => this.requeue(cmds, e),
    push: (c, m) => this.push(c, m),
    ready: (c) => this.connReady(c),
    closed: (c, e) => this.connClosed(c, e),
    reconnecting: (c, a, d) => this.connReconnecting(c, a, d),
    error: (_c, e) => this.emitError(e),
  };

  constructor(options: ClientOptions = {}) {
    super();
    this.opts = {
      protocol: 3,
      readFrom: 'primary',
      connectTimeoutMs: 5000,
      retryTimeoutMs: 10000,
      maxRedirections: 16,
      reconnectBaseMs: 50,
      reconnectMaxMs: 2000,
      retryDelayMs: 20,
      retryDelayMaxMs: 500,
      maxOfflineQueue: 10000,
      returnBuffers: false,
      blockingPoolSize: 4,
      ...options,
    };
    const cluster = options.nodes !== undefined || options.controllers !== undefined;
    this.mode = cluster ? 'cluster' : 'standalone';
    this.seeds = (options.nodes ?? []).map((n) => (typeof n === 'string' ? n : `${n.host}:${n.port}`));
    if (!cluster) {
      this.standaloneAddr = `${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`;
      this.conn(this.standaloneAddr);
      return;
    }
    this.standaloneAddr = null;
    if (options.controllers !== undefined) {
      this.watch = sharedWatch(options.controllers);
      this.watch.add(this.onConfig);
      // Seeds, if any, are the fallback while no configuration arrives.
      if (this.seeds.length > 0) this.seedTimer = setTimeout(() => this.table === null && this.refresh(), 3000);
    } else {
      if (this.seeds.length === 0) throw new Error('cluster mode needs seed nodes or controllers');
      void this.refresh();
    }
  }

  // ------------------------------------------------------------------ events

  on(event: 'ready', l: () => void): this;
  on(event: 'error', l: (e: Error) => void): this;
  on(event: 'reconnecting', l: (e: { address: string; attempt: number; delayMs: number }) => void): this;
  on(event: 'topology', l: (e: TopologyEvent) => void): this;
  on(event: 'message' | 'smessage', l: (channel: string, message: string) => void): this;
  on(event: 'pmessage', l: (pattern: string, channel: string, message: string) => void): this;
  on(event: string, l: (...a: any[]) => void): this {
    this.events.on(event, l);
    return this;
  }
  once(event: string, l: (...a: any[]) => void): this {
    this.events.once(event, l);
    return this;
  }
  off(event: string, l: (...a: any[]) => void): this {
    this.events.off(event, l);
    return this;
  }
  private emitError(e: Error): void {
    if (this.events.listenerCount('error') > 0) this.events.emit('error', e);
  }

  /** Resolves once the client can route commands (connected, or holding a topology). */
  ready(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (this.closed) return Promise.reject(new ClientClosedError());
    return new Promise((res, rej) => this.readyWaiters.push({ res, rej }));
  }

  private becomeReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    for (const w of this.readyWaiters) w.res();
    this.readyWaiters = [];
    this.events.emit('ready');
  }

  // ------------------------------------------------------------------ connections

  private connOptions(addr: string, extra: Partial<ConnectionOptions> = {}): ConnectionOptions {
    const { host, port } = splitAddress(addr);
    const o = this.opts;
    return {
      host,
      port,
      tls: o.tls,
      username: o.username,
      password: o.password,
      protocol: o.protocol,
      db: this.mode === 'standalone' ? o.db : undefined,
      readonly: this.mode === 'cluster' && o.readFrom !== 'primary',
      name: o.name,
      connectTimeoutMs: o.connectTimeoutMs,
      reconnect: true,
      backoffBaseMs: o.reconnectBaseMs,
      backoffMaxMs: o.reconnectMaxMs,
      ...extra,
    };
  }

  private conn(addr: string): Connection {
    let c = this.conns.get(addr);
    if (c === undefined) {
      c = new Connection(this.connOptions(addr), this.owner);
      this.conns.set(addr, c);
    }
    return c;
  }

  // ConnectionOwner ---------------------------------------------------------

  private connReady(conn: Connection): void {
    if (conn === this.subConn) this.resubscribe(conn);
    else if ([...this.shardSubConns.values()].includes(conn)) this.resubscribeShard(conn);
    else if (this.mode === 'standalone') this.becomeReady();
  }

  private connClosed(conn: Connection, err: Error | null): void {
    if (this.closed) return;
    if (err !== null && this.mode === 'cluster' && this.watch === null) this.scheduleRefresh();
    if (conn.state === 'ended') {
      if (this.conns.get(conn.address) === conn) this.conns.delete(conn.address);
      if (conn === this.subConn) {
        this.subConn = null;
        if (this.channels.size + this.patterns.size > 0) this.ensureSubConn();
      }
      for (const [a, c] of this.shardSubConns) {
        if (c === conn) {
          this.shardSubConns.delete(a);
          this.replaceShardChannels(true);
        }
      }
    }
  }

  private connReconnecting(conn: Connection, attempt: number, delayMs: number): void {
    if (!this.closed) this.events.emit('reconnecting', { address: conn.address, attempt, delayMs });
  }

  private requeue(cmds: Command[], cause: Error): void {
    for (const c of cmds) {
      if ((c.flags & F_NO_RETRY) !== 0) c.reject(new ConnectionError(cause.message));
      else this.retryLater(c, new ConnectionError(cause.message));
    }
  }

  private replyError(cmd: Command, err: ReplyError): void {
    if ((cmd.flags & F_NO_RETRY) !== 0 || this.closed) {
      cmd.reject(err);
      return;
    }
    if (err instanceof MovedError || err instanceof AskError) {
      if (this.mode !== 'cluster' || ++cmd.redirects > this.opts.maxRedirections) {
        cmd.reject(err);
        return;
      }
      if (err instanceof MovedError) {
        this.table?.patch(err.slot, err.address);
        // With pushed topology the controllers' watch brings the change; no polling.
        if (this.watch === null || this.watch.config === null) this.scheduleRefresh();
        // Nodes that disagree for a moment (one applied a move, the other not yet) bounce
        // a command between them: after two redirects, wait with backoff between tries.
        if (cmd.redirects > 2) this.retryLater(cmd, err);
        else this.dispatch(cmd);
      } else {
        cmd.askTo = err.address;
        this.dispatch(cmd);
      }
      return;
    }
    if (err instanceof TryAgainError || err instanceof LoadingError) {
      this.retryLater(cmd, err);
      return;
    }
    if (err instanceof ClusterDownError || err instanceof ReadOnlyError) {
      // Not executed: safe to send again once the topology has caught up.
      if (this.mode === 'cluster' && this.watch === null) this.scheduleRefresh();
      this.retryLater(cmd, err);
      return;
    }
    cmd.reject(err);
  }

  private push(conn: Connection, msg: unknown[]): void {
    const kind = msg[0];
    if (kind === 'message') this.events.emit('message', msg[1], msg[2]);
    else if (kind === 'pmessage') this.events.emit('pmessage', msg[1], msg[2], msg[3]);
    else if (kind === 'smessage') this.events.emit('smessage', msg[1], msg[2]);
    else if (kind === 'sunsubscribe') {
      // The server dropped a sharded subscription (its slot moved): place it again.
      const ch = String(msg[1]);
      if (this.shardChannels.has(ch) && this.shardChannels.get(ch) === conn.address) {
        this.shardChannels.set(ch, null);
        if (this.watch === null) this.scheduleRefresh();
        setTimeout(() => this.replaceShardChannels(false), 50);
      }
    }
  }

  // ------------------------------------------------------------------ sending

  /** Runs a command: generated methods and call() end here. */
  protected override _run(name: string, spec: CommandSpec | undefined, args: Arg[], flags = 0): Promise<any> {
    if (this.opts.returnBuffers) flags |= F_BUFFERS;
    if (spec !== undefined && spec.subcommands !== null && args.length > 0) spec = lookupSubcommand(spec, String(args[0])) ?? spec;
    if (this.mode === 'cluster' && spec !== undefined && SPLIT.has(spec.name) && args.length > (spec.name === 'mset' ? 2 : 1)) {
      const split = this.split(name, spec, args, flags);
      if (split !== null) return split;
    }
    const cmd = new Command(name, args, spec, flags);
    if (this.mode === 'cluster') {
      const slot = slotOf(spec, name, args);
      if (slot === -2) {
        cmd.reject(new CrossSlotError("CROSSSLOT Keys in request don't hash to the same slot", 'CROSSSLOT'));
        return cmd.promise;
      }
      cmd.slot = slot;
    }
    this.dispatch(cmd);
    return cmd.promise;
  }

  /** Any command by name: `call('SET', 'k', 'v')`. */
  call(name: string, ...args: Arg[]): Promise<any> {
    const spec = lookupCommand(name);
    if (spec !== undefined && STATEFUL.has(spec.name)) return Promise.reject(new Error(`${name} changes the connection's state: use the client's own method (subscribe, multi, ...)`));
    return this._run(name, spec, args);
  }

  /** call() with Buffer replies. */
  callBuffer(name: string, ...args: Arg[]): Promise<any> {
    return this._run(name, lookupCommand(name), args, F_BUFFERS);
  }

  /** Sends `cmd` where it belongs, or parks it until it can be. */
  private dispatch(cmd: Command): void {
    if (this.closed) {
      cmd.reject(new ClientClosedError());
      return;
    }
    let addr: string | null;
    if (cmd.askTo !== null) {
      const c = this.conn(cmd.askTo);
      cmd.askTo = null;
      const asking = new Command('ASKING', [], undefined, F_RAW | F_NO_RETRY | F_IN_MULTI);
      c.send(asking);
      c.send(cmd);
      return;
    }
    if (cmd.to !== null) addr = cmd.to;
    else if (this.standaloneAddr !== null) addr = this.standaloneAddr;
    else {
      const t = this.table;
      if (t === null) {
        if (this.offline() >= this.opts.maxOfflineQueue) cmd.reject(new OfflineQueueFullError(`offline queue full (${this.opts.maxOfflineQueue} commands)`));
        else this.park(cmd);
        return;
      }
      addr = cmd.slot >= 0 ? t.route(cmd.slot, cmd.isRead, this.opts.readFrom) : t.anyPrimary();
      if (addr === null) {
        // No owner known (a shard without a primary): ask the nodes again, at most every 100 ms.
        if (this.watch === null) this.scheduleRefresh();
        this.retryLater(cmd, new ClusterDownError(`CLUSTERDOWN Hash slot ${cmd.slot} not served`, 'CLUSTERDOWN'));
        return;
      }
    }
    if (cmd.spec !== undefined && cmd.spec.flags.has('blocking')) {
      this.sendBlocking(addr, cmd);
      return;
    }
    const c = this.conn(addr);
    if (c.state !== 'ready' && this.offline() >= this.opts.maxOfflineQueue) {
      cmd.reject(new OfflineQueueFullError(`offline queue full (${this.opts.maxOfflineQueue} commands)`));
      return;
    }
    c.send(cmd);
  }

  private parkTimer: NodeJS.Timeout | null = null;

  /** Waits for the first topology, at most retryTimeoutMs. */
  private park(cmd: Command): void {
    if (cmd.deadline === 0) cmd.deadline = Date.now() + this.opts.retryTimeoutMs;
    this.parked.push(cmd);
    if (this.parkTimer !== null) return;
    this.parkTimer = setInterval(() => {
      const now = Date.now();
      const keep: Command[] = [];
      for (const c of this.parked) {
        if (now >= c.deadline) c.reject(new ConnectionError(`no cluster topology within ${this.opts.retryTimeoutMs} ms`));
        else keep.push(c);
      }
      this.parked = keep;
      if (keep.length === 0 && this.parkTimer !== null) {
        clearInterval(this.parkTimer);
        this.parkTimer = null;
      }
    }, 100);
  }

  /** Commands waiting for a topology, a connection or a retry. */
  private offline(): number {
    let n = this.parked.length + this.retrying;
    for (const c of this.conns.values()) if (c.state !== 'ready') n += c.load;
    return n;
  }

  private retryLater(cmd: Command, err: Error): void {
    const now = Date.now();
    if (cmd.deadline === 0) cmd.deadline = now + this.opts.retryTimeoutMs;
    if (this.closed || now >= cmd.deadline) {
      cmd.reject(this.closed ? new ClientClosedError() : err);
      return;
    }
    if (this.retrying >= this.opts.maxOfflineQueue) {
      cmd.reject(new OfflineQueueFullError(`offline queue full (${this.opts.maxOfflineQueue} commands)`));
      return;
    }
    cmd.attempts++;
    const delay = Math.min(this.opts.retryDelayMaxMs, this.opts.retryDelayMs * 2 ** Math.min(cmd.attempts - 1, 10));
    this.retrying++;
    setTimeout(() => {
      this.retrying--;
      this.dispatch(cmd);
    }, delay);
  }

  // ------------------------------------------------------------------ blocking pool

  private sendBlocking(addr: string, cmd: Command): void {
    let pool = this.blocking.get(addr);
    if (pool === undefined) {
      pool = { idle: [], size: 0, waiting: [] };
      this.blocking.set(addr, pool);
    }
    const c = pool.idle.pop();
    if (c !== undefined && c.state !== 'ended') {
      c.send(cmd);
      return;
    }
    if (pool.size < this.opts.blockingPoolSize) {
      pool.size++;
      const p = pool;
      const conn = new Connection(
        this.connOptions(addr, {
          reconnect: false,
          idle: (x) => this.releaseBlocking(p, x),
        }),
        {
          ...this.ownerFor(),
          closed: () => {
            p.size--;
            const i = p.idle.indexOf(conn);
            if (i >= 0) p.idle.splice(i, 1);
            const w = p.waiting.shift();
            if (w !== undefined) this.dispatch(w);
          },
        },
      );
      conn.send(cmd);
      return;
    }
    pool.waiting.push(cmd);
  }

  private releaseBlocking(pool: BlockingPool, c: Connection): void {
    const w = pool.waiting.shift();
    if (w !== undefined) c.send(w);
    else if (this.closed) c.close();
    else pool.idle.push(c);
  }

  /** This client as a ConnectionOwner of side connections (blocking pool, topology fetches). */
  private ownerFor(): ConnectionOwner {
    return { ...this.owner, ready: () => {}, closed: () => {}, reconnecting: () => {} };
  }

  // ------------------------------------------------------------------ cross-slot

  private split(name: string, spec: CommandSpec, args: Arg[], flags: number): Promise<unknown> | null {
    const stride = spec.name === 'mset' ? 2 : 1;
    const groups = new Map<number, number[]>();
    for (let i = 0; i < args.length; i += stride) {
      const s = keyHashSlot(keyBytes(args[i]!));
      let g = groups.get(s);
      if (g === undefined) groups.set(s, (g = []));
      g.push(i);
    }
    if (groups.size === 1) return null;
    const parts: Promise<unknown>[] = [];
    const order: number[][] = [];
    for (const [slot, idx] of groups) {
      const sub: Arg[] = [];
      for (const i of idx) for (let k = 0; k < stride; k++) sub.push(args[i + k]!);
      const c = new Command(name, sub, spec, flags);
      c.slot = slot;
      this.dispatch(c);
      parts.push(c.promise);
      order.push(idx);
    }
    return Promise.all(parts).then((rs) => {
      if (spec.name === 'mget') {
        const out = new Array(args.length);
        rs.forEach((r, g) => (r as unknown[]).forEach((v, j) => (out[order[g]![j]!] = v)));
        return out;
      }
      if (spec.name === 'mset') return rs[0];
      return rs.reduce((a: number, b) => a + Number(b), 0);
    });
  }

  // ------------------------------------------------------------------ topology

  /** Fetches the topology from the nodes; concurrent callers share one fetch. */
  refresh(): Promise<void> {
    if (this.refreshing !== null) return this.refreshing;
    this.refreshing = this.fetchTopology().finally(() => {
      this.refreshing = null;
      this.lastRefresh = Date.now();
    });
    return this.refreshing;
  }

  private refreshTimer: NodeJS.Timeout | null = null;

  /** One refresh soon (MOVED, a lost node): at most one in flight and one every 100 ms. */
  private scheduleRefresh(): void {
    if (this.closed || this.refreshing !== null || this.refreshTimer !== null) return;
    const wait = Math.max(0, this.lastRefresh + 100 - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh();
    }, wait);
  }

  private async fetchTopology(): Promise<void> {
    const known = this.table ? [...this.table.addresses()] : [];
    const candidates = [...new Set([...known.sort(() => Math.random() - 0.5), ...this.seeds])];
    let last: unknown = new ConnectionError('no node answered CLUSTER SHARDS or CLUSTER SLOTS');
    for (let attempt = 0; attempt < 3 && !this.closed; attempt++) {
      for (const addr of candidates) {
        if (this.closed) return;
        const host = splitAddress(addr).host;
        try {
          let reply = await this.ask(addr, 'CLUSTER', ['SHARDS']);
          let t: SlotTable;
          if (reply instanceof ReplyError) {
            reply = await this.ask(addr, 'CLUSTER', ['SLOTS']);
            if (reply instanceof ReplyError) throw reply;
            t = SlotTable.fromSlots(reply, host);
          } else {
            t = SlotTable.fromShards(reply, host);
          }
          if (t.covered() === 0) throw new ClusterDownError('CLUSTERDOWN no slots served', 'CLUSTERDOWN');
          this.refreshes++;
          this.apply(t, 'nodes');
          return;
        } catch (e) {
          last = e;
        }
      }
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
    this.emitError(last as Error);
    // Nothing answered: commands waiting for a first topology keep waiting, bounded.
    if (this.table === null && !this.closed) setTimeout(() => this.table === null && void this.refresh(), 500);
  }

  /** One internal command on a fresh connection, with a deadline; errors come back as values. */
  private ask(addr: string, name: string, args: string[], ms = 2000): Promise<unknown> {
    const c = new Connection(this.connOptions(addr, { reconnect: false, readonly: false, connectTimeoutMs: ms }), this.ownerFor());
    const cmd = new Command(name, args, undefined, F_RAW | F_NO_RETRY | F_IN_MULTI | F_SAFE);
    c.send(cmd);
    let timer: NodeJS.Timeout;
    const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new ConnectionError(`${addr}: no reply to ${name} within ${ms} ms`)), ms)));
    return Promise.race([cmd.promise, timeout]).finally(() => {
      clearTimeout(timer);
      c.close();
      cmd.promise.catch(() => {});
    });
  }

  /** Takes a new slot table: routes parked commands, drops connections to nodes it no longer names. */
  private apply(t: SlotTable, source: 'nodes' | 'controllers'): void {
    if (this.closed) return;
    if (this.seedTimer) clearTimeout(this.seedTimer);
    this.table = t;
    this.topologyChanges++;
    this.events.emit('topology', { count: this.topologyChanges, source, epoch: t.epoch } satisfies TopologyEvent);
    const live = t.addresses();
    for (const [a, c] of this.conns) {
      if (!live.has(a)) {
        // Replies to what was sent still count: close once they are in (or the node is gone).
        this.conns.delete(a);
        if (c.state === 'ready') void c.drain(2000);
        else c.close();
      }
    }
    for (const [a, p] of this.blocking) {
      if (!live.has(a)) {
        for (const c of p.idle) c.close();
        p.idle = [];
      }
    }
    const parked = this.parked;
    this.parked = [];
    if (this.parkTimer !== null) clearInterval(this.parkTimer);
    this.parkTimer = null;
    for (const c of parked) this.dispatch(c);
    this.becomeReady();
    if (this.subConn !== null && !live.has(this.subConn.address)) this.subConn.close();
    this.replaceShardChannels(false);
  }

  // ------------------------------------------------------------------ pipelines, transactions

  /** Commands queued and sent together; exec() resolves to [error, reply] pairs. */
  pipeline(): Pipeline {
    return new Pipeline(this, false);
  }

  /** MULTI … EXEC on one node: every key must hash to one slot (else CROSSSLOT, client-side). */
  multi(): Pipeline {
    return new Pipeline(this, true);
  }

  /** @internal */
  execPipeline(cmds: Command[]): Promise<[Error | null, unknown][]> {
    for (const c of cmds) {
      if (this.mode === 'cluster') {
        const s = slotOf(c.spec, c.name, c.args);
        if (s === -2) {
          c.reject(new CrossSlotError("CROSSSLOT Keys in request don't hash to the same slot", 'CROSSSLOT'));
          continue;
        }
        c.slot = s;
      }
      this.dispatch(c);
    }
    return Promise.all(cmds.map((c) => c.promise.then((v) => [null, v] as [null, unknown], (e: Error) => [e, null] as [Error, null])));
  }

  /** @internal */
  async execMulti(cmds: Command[]): Promise<unknown[]> {
    let slot = -1;
    for (const c of cmds) {
      const s = this.mode === 'cluster' ? slotOf(c.spec, c.name, c.args) : -1;
      if (s === -2 || (s >= 0 && slot >= 0 && s !== slot)) throw new CrossSlotError("CROSSSLOT Keys in request don't hash to the same slot", 'CROSSSLOT');
      if (s >= 0) slot = s;
    }
    const deadline = Date.now() + this.opts.retryTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new ClientClosedError();
      await this.ready();
      let addr: string | null = this.standaloneAddr;
      if (addr === null) addr = slot >= 0 ? this.table!.primaryOf(slot) : this.table!.anyPrimary();
      const parts = [new Command('MULTI', [], undefined, F_RAW | F_NO_RETRY | F_IN_MULTI)];
      for (const c of cmds) parts.push(new Command(c.name, c.args, c.spec, F_RAW | F_NO_RETRY | F_IN_MULTI));
      const exec = new Command('EXEC', [], undefined, F_NO_RETRY | F_IN_MULTI | (cmds[0] ? cmds[0].flags & F_BUFFERS : 0));
      parts.push(exec);
      for (const p of parts) p.promise.catch(() => {});
      let retry: Error | null = null;
      if (addr === null) retry = new ClusterDownError(`CLUSTERDOWN Hash slot ${slot} not served`, 'CLUSTERDOWN');
      else {
        const conn = this.conn(addr);
        for (const p of parts) conn.send(p);
        let r: unknown;
        try {
          r = await exec.promise;
        } catch (e) {
          if (e instanceof ConnectionError) retry = e; // never written: safe to send again
          else throw e;
        }
        if (retry === null) {
          if (!(r instanceof ReplyError)) return r as unknown[];
          const queued = await Promise.all(parts.slice(0, -1).map((p) => p.promise.catch((e: Error) => e)));
          const redirect = queued.find((q) => q instanceof MovedError || q instanceof AskError || q instanceof TryAgainError || q instanceof ClusterDownError || q instanceof ReadOnlyError) as ReplyError | undefined;
          if (redirect === undefined && !(r instanceof ClusterDownError || r instanceof ReadOnlyError)) {
            throw queued.find((q) => q instanceof ReplyError) ?? r;
          }
          retry = redirect ?? r;
          if (redirect instanceof MovedError) this.table?.patch(redirect.slot, redirect.address);
          if (this.mode === 'cluster' && this.watch === null) this.scheduleRefresh();
        }
      }
      if (Date.now() >= deadline || attempt >= this.opts.maxRedirections) throw retry;
      await new Promise((res) => setTimeout(res, Math.min(this.opts.retryDelayMaxMs, this.opts.retryDelayMs * 2 ** attempt)));
    }
  }

  // ------------------------------------------------------------------ pub/sub

  private subAddress(): string | null {
    if (this.standaloneAddr !== null) return this.standaloneAddr;
    return this.table?.anyPrimary() ?? null;
  }

  private ensureSubConn(): Connection | null {
    if (this.subConn !== null) return this.subConn;
    const addr = this.subAddress();
    if (addr === null || this.closed) return null;
    this.subConn = new Connection(this.connOptions(addr, { subscriber: true, readonly: false, db: undefined }), this.owner);
    return this.subConn;
  }

  private subCommand(conn: Connection, name: string, items: string[]): Promise<unknown> {
    if (items.length === 0) return Promise.resolve();
    const c = new Command(name, items, undefined, F_RAW | F_NO_RETRY);
    c.replies = items.length;
    conn.send(c);
    return c.promise.then(
      () => undefined,
      (e: Error) => {
        // Lost before the confirmation: the resubscription after reconnect covers it.
        if (!(e instanceof ReplyError)) return undefined;
        throw e;
      },
    );
  }

  private resubscribe(conn: Connection): void {
    void this.subCommand(conn, 'SUBSCRIBE', [...this.channels]).catch((e) => this.emitError(e));
    void this.subCommand(conn, 'PSUBSCRIBE', [...this.patterns]).catch((e) => this.emitError(e));
  }

  private resubscribeShard(conn: Connection): void {
    const mine = [...this.shardChannels].filter(([, a]) => a === conn.address).map(([ch]) => ch);
    this.ssubscribeOn(conn, mine);
  }

  private ssubscribeOn(conn: Connection, channels: string[]): Promise<unknown> {
    // One SSUBSCRIBE per slot (the server refuses channels of different slots together).
    const bySlot = new Map<number, string[]>();
    for (const ch of channels) {
      const s = keyHashSlot(keyBytes(ch));
      bySlot.set(s, [...(bySlot.get(s) ?? []), ch]);
    }
    return Promise.all([...bySlot.values()].map((chs) => this.subCommand(conn, 'SSUBSCRIBE', chs)));
  }

  async subscribe(...channels: string[]): Promise<void> {
    for (const ch of channels) this.channels.add(ch);
    await this.ready();
    // Sent now or once connected (a (re)connection also resubscribes everything: harmless twice).
    const c = this.ensureSubConn();
    if (c !== null) await this.subCommand(c, 'SUBSCRIBE', channels);
  }

  async psubscribe(...patterns: string[]): Promise<void> {
    for (const p of patterns) this.patterns.add(p);
    await this.ready();
    const c = this.ensureSubConn();
    if (c !== null) await this.subCommand(c, 'PSUBSCRIBE', patterns);
  }

  async unsubscribe(...channels: string[]): Promise<void> {
    for (const ch of channels) this.channels.delete(ch);
    const c = this.subConn;
    if (c !== null && c.state === 'ready') await this.subCommand(c, 'UNSUBSCRIBE', channels);
  }

  async punsubscribe(...patterns: string[]): Promise<void> {
    for (const p of patterns) this.patterns.delete(p);
    const c = this.subConn;
    if (c !== null && c.state === 'ready') await this.subCommand(c, 'PUNSUBSCRIBE', patterns);
  }

  /** Sharded pub/sub: each channel on the node serving its slot, followed across moves. */
  async ssubscribe(...channels: string[]): Promise<void> {
    for (const ch of channels) if (!this.shardChannels.has(ch)) this.shardChannels.set(ch, null);
    await this.ready();
    await this.placeShardChannels(false);
  }

  async sunsubscribe(...channels: string[]): Promise<void> {
    const byConn = new Map<Connection, string[]>();
    for (const ch of channels) {
      const a = this.shardChannels.get(ch);
      this.shardChannels.delete(ch);
      const c = a ? this.shardSubConns.get(a) : undefined;
      if (c !== undefined) byConn.set(c, [...(byConn.get(c) ?? []), ch]);
    }
    for (const [c, chs] of byConn) if (c.state === 'ready') for (const ch of chs) await this.subCommand(c, 'SUNSUBSCRIBE', [ch]);
  }

  /** placeShardChannels from the client's own events: failures are reported on 'error'. */
  private replaceShardChannels(all: boolean): void {
    this.placeShardChannels(all).catch((e: Error) => this.emitError(e));
  }

  /** Puts every sharded channel on its slot's node (after a topology change or a loss). */
  private placeShardChannels(all: boolean): Promise<unknown> {
    if (this.shardChannels.size === 0 || this.closed) return Promise.resolve();
    const moves = new Map<string, string[]>();
    for (const [ch, at] of this.shardChannels) {
      const addr = this.standaloneAddr ?? this.table?.primaryOf(keyHashSlot(keyBytes(ch))) ?? null;
      if (addr === null) continue;
      if (!all && at === addr && this.shardSubConns.has(addr)) continue;
      if (at !== null && at !== addr) {
        const old = this.shardSubConns.get(at);
        if (old !== undefined && old.state === 'ready') void this.subCommand(old, 'SUNSUBSCRIBE', [ch]).catch(() => {});
      }
      this.shardChannels.set(ch, addr);
      moves.set(addr, [...(moves.get(addr) ?? []), ch]);
    }
    const work: Promise<unknown>[] = [];
    for (const [addr, chs] of moves) {
      let c = this.shardSubConns.get(addr);
      if (c === undefined) {
        c = new Connection(this.connOptions(addr, { subscriber: true, db: undefined }), this.owner);
        this.shardSubConns.set(addr, c);
      }
      if (c.state !== 'ended') work.push(this.ssubscribeOn(c, chs));
    }
    // Connections left without channels.
    const used = new Set(this.shardChannels.values());
    for (const [a, c] of this.shardSubConns) {
      if (!used.has(a)) {
        this.shardSubConns.delete(a);
        c.close();
      }
    }
    return Promise.all(work);
  }

  /** PUBLISH goes to any node (the cluster forwards it); SPUBLISH to the channel's slot. */
  // (publish and spublish are generated methods: PUBLISH has no key, SPUBLISH's channel is one.)

  // ------------------------------------------------------------------ scripts

  /** A Lua script: run() sends EVALSHA, and EVAL when the node does not know it yet. */
  script(lua: string): Script {
    return new Script(this, lua);
  }

  // ------------------------------------------------------------------ shutdown

  /** Waits for replies to what was sent (up to `ms`), then closes everything. */
  async quit(ms = 2000): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.drain(ms)));
    this.close();
  }

  /** Closes every connection now; waiting commands are rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.seedTimer) clearTimeout(this.seedTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.watch?.remove(this.onConfig);
    this.watch = null;
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
    for (const p of this.blocking.values()) for (const c of p.idle) c.close();
    for (const p of this.blocking.values()) for (const w of p.waiting) w.reject(new ClientClosedError());
    this.subConn?.close();
    for (const c of this.shardSubConns.values()) c.close();
    if (this.parkTimer !== null) clearInterval(this.parkTimer);
    for (const c of this.parked) c.reject(new ClientClosedError());
    this.parked = [];
    for (const w of this.readyWaiters) w.rej(new ClientClosedError());
    this.readyWaiters = [];
  }
}

/** The slot of a command's keys: -1 without keys, -2 when they span slots. */
export function slotOf(spec: CommandSpec | undefined, name: string, args: readonly Arg[]): number {
  if (spec === undefined || spec.keySpecs.length === 0) return -1;
  const ks = spec.keySpecs[0]!;
  // Fast path: one key at a fixed position.
  if (spec.keySpecs.length === 1 && 'index' in ks.begin && 'range' in ks.find && ks.find.range.lastKey === 0) {
    // args follow the name (a subcommand's name is args[0]): key index i is args[i - 1].
    const k = args[ks.begin.index - 1];
    return k === undefined ? -1 : keyHashSlot(keyBytes(k));
  }
  const argv: (string | Uint8Array)[] = [name];
  for (const a of args) argv.push(typeof a === 'number' ? String(a) : a);
  let slot = -1;
  for (const i of keyPositions(spec, argv)) {
    const s = keyHashSlot(keyBytes(argv[i]!));
    if (slot >= 0 && s !== slot) return -2;
    slot = s;
  }
  return slot;
}

export class Pipeline extends PipelineMethods {
  private readonly cmds: Command[] = [];
  constructor(private readonly owner: Client, private readonly transaction: boolean) {
    super();
  }

  get length(): number {
    return this.cmds.length;
  }

  protected override _queue(name: string, spec: CommandSpec | undefined, args: Arg[], flags = 0): this {
    if (spec !== undefined && spec.subcommands !== null && args.length > 0) spec = lookupSubcommand(spec, String(args[0])) ?? spec;
    const c = new Command(name, args, spec, flags | (this.owner.opts.returnBuffers ? F_BUFFERS : 0));
    c.promise.catch(() => {});
    this.cmds.push(c);
    return this;
  }

  call(name: string, ...args: Arg[]): this {
    return this._queue(name, lookupCommand(name), args);
  }

  /** Pipeline: [error, reply] per command. Transaction: EXEC's replies (errors as values). */
  exec(): Promise<any[]> {
    return this.transaction ? this.owner.execMulti(this.cmds) : this.owner.execPipeline(this.cmds);
  }
}

export class Script {
  readonly sha: string;
  constructor(private readonly client: Client, readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(keys: Arg[] = [], args: Arg[] = []): Promise<any> {
    try {
      return await this.client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof NoScriptError)) throw e;
      return this.client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

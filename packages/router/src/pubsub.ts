/**
 * Pub/sub through the router. A subscribed client gets its own connection to the first
 * primary (in shard order) for SUBSCRIBE/PSUBSCRIBE (a PUBLISH anywhere in the cluster
 * reaches every node; the router sends PUBLISH to that same primary, so its count
 * includes every router client subscribed), and one per shard for SSUBSCRIBE (shard channels live with their slot's
 * owner). Everything those connections receive (confirmations, messages) goes to the
 * client as it is. When such a connection dies (its node failed), the router subscribes
 * again on another primary, or on the shard's new primary, and swallows the
 * confirmations, so the client keeps receiving without seeing the change; messages
 * published while no connection was subscribed are lost, as in Redis.
 *
 * The counts in confirmations are per connection: a client with both shard and plain
 * subscriptions sees each kind counted apart.
 */
import { Err } from '@sonic/protocol';
import type { Backend } from './backend.js';
import { errorReply } from './encode.js';
import { CROSS, type Session } from './session.js';
import { scatter, type Handler } from './commands.js';
import type { NodeAddr } from './topology.js';

const RESUBSCRIBE_MS = 100;
const PUBSUB_OUTPUT_LIMIT = 32 * 1024 * 1024;

export class PubSub {
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  /** Shard channel → its slot. */
  readonly shardChannels = new Map<string, number>();
  private global: Backend | null = null;
  /** Shard-channel connections by node key, with their channels. */
  private readonly sconns = new Map<string, { conn: Backend; channels: Set<string> }>();
  /** Confirmations to drop per connection (resubscriptions). */
  private readonly swallow = new Map<Backend, number>();
  private closed = false;

  constructor(private readonly s: Session) {}

  get active(): boolean {
    return this.channels.size + this.patterns.size + this.shardChannels.size > 0;
  }

  private sink(conn: Backend): (reply: Buffer) => void {
    return (reply) => {
      const n = this.swallow.get(conn) ?? 0;
      if (n > 0) {
        this.swallow.set(conn, n - 1);
        return;
      }
      // A subscriber that does not read: closed, as Redis's client-output-buffer-limit pubsub (32 MB) does.
      if (this.s.socket.writableLength > PUBSUB_OUTPUT_LIMIT) {
        this.s.router.log.warn({ client: this.s.id }, 'router: closing a pub/sub client that does not read its messages');
        return this.s.close();
      }
      this.s.local(reply);
    };
  }

  private open(node: NodeAddr, onLost: () => void): Backend {
    const conn = this.s.router.acquire(node, this.s.proto);
    conn.sink = this.sink(conn);
    conn.onClose = () => {
      this.swallow.delete(conn);
      if (!this.closed) setTimeout(() => void this.s.router.refresh().finally(onLost), RESUBSCRIBE_MS);
    };
    return conn;
  }

  private globalConn(): Backend | null {
    if (this.global !== null && !this.global.closed) return this.global;
    const node = this.s.router.primaryFor(-1, 0);
    if (node === null) return null;
    const conn = this.open(node, () => this.resubscribeGlobal(conn));
    this.global = conn;
    return conn;
  }

  private resubscribeGlobal(dead: Backend): void {
    if (this.closed || this.global !== dead) return;
    this.global = null;
    if (this.channels.size + this.patterns.size === 0) return;
    const conn = this.globalConn();
    if (conn === null) return void setTimeout(() => this.resubscribeGlobal(dead), RESUBSCRIBE_MS);
    this.swallow.set(conn, this.channels.size + this.patterns.size);
    if (this.channels.size > 0) conn.sendRaw(['SUBSCRIBE', ...this.channels]);
    if (this.patterns.size > 0) conn.sendRaw(['PSUBSCRIBE', ...this.patterns]);
    this.s.router.log.info({ client: this.s.id, node: conn.addr.key }, 'router: pub/sub subscriptions moved to another node');
  }

  subscribe(args: string[], patterns: boolean): void {
    const conn = this.globalConn();
    if (conn === null) return this.s.local(errorReply('CLUSTERDOWN The cluster is down'));
    const set = patterns ? this.patterns : this.channels;
    for (let i = 1; i < args.length; i++) set.add(args[i]!);
    conn.sendRaw(args);
  }

  unsubscribe(args: string[], patterns: boolean): void {
    const set = patterns ? this.patterns : this.channels;
    if (args.length === 1) set.clear();
    else for (let i = 1; i < args.length; i++) set.delete(args[i]!);
    const conn = this.global;
    if (conn === null || conn.closed) return this.s.local(this.noneLeft(patterns ? 'punsubscribe' : 'unsubscribe', args));
    conn.sendRaw(args);
  }

  /** UNSUBSCRIBE with no connection: Redis's replies for a client subscribed to nothing. */
  private noneLeft(kind: string, args: string[]): Buffer {
    const count = this.channels.size + this.patterns.size + this.shardChannels.size;
    const head = this.s.proto === 3 ? '>3\r\n' : '*3\r\n';
    const names = args.length > 1 ? args.slice(1) : [null];
    return Buffer.from(
      names.map((c) => `${head}$${kind.length}\r\n${kind}\r\n${c === null ? (this.s.proto === 3 ? '_\r\n' : '$-1\r\n') : `$${c.length}\r\n${c}\r\n`}:${count}\r\n`).join(''),
      'latin1',
    );
  }

  ssubscribe(args: string[], slot: number): void {
    const node = this.s.router.primaryFor(slot, this.s.id);
    if (node === null) return this.s.local(errorReply('CLUSTERDOWN Hash slot not served'));
    const entry = this.shardConn(node);
    for (let i = 1; i < args.length; i++) {
      this.shardChannels.set(args[i]!, slot);
      entry.channels.add(args[i]!);
    }
    entry.conn.sendRaw(args);
  }

  private shardConn(node: NodeAddr): { conn: Backend; channels: Set<string> } {
    const have = this.sconns.get(node.key);
    if (have !== undefined && !have.conn.closed) return have;
    const entry = { conn: null as unknown as Backend, channels: new Set<string>() };
    entry.conn = this.open(node, () => this.resubscribeShard(node.key, entry));
    this.sconns.set(node.key, entry);
    return entry;
  }

  private resubscribeShard(key: string, dead: { conn: Backend; channels: Set<string> }): void {
    if (this.closed || this.sconns.get(key) !== dead) return;
    this.sconns.delete(key);
    const bySlot = new Map<number, string[]>();
    for (const c of dead.channels) {
      const slot = this.shardChannels.get(c);
      if (slot === undefined) continue;
      let l = bySlot.get(slot);
      if (l === undefined) bySlot.set(slot, (l = []));
      l.push(c);
    }
    for (const [slot, chans] of bySlot) {
      const node = this.s.router.primaryFor(slot, this.s.id);
      if (node === null) {
        // No owner yet: try again shortly with the same channels.
        this.sconns.set(key, dead);
        return void setTimeout(() => this.resubscribeShard(key, dead), RESUBSCRIBE_MS);
      }
      const e = this.shardConn(node);
      for (const c of chans) e.channels.add(c);
      this.swallow.set(e.conn, (this.swallow.get(e.conn) ?? 0) + chans.length);
      e.conn.sendRaw(['SSUBSCRIBE', ...chans]);
    }
  }

  sunsubscribe(args: string[]): void {
    const names = args.length > 1 ? args.slice(1) : [...this.shardChannels.keys()];
    if (names.length === 0 || this.sconns.size === 0) {
      for (const n of names) this.shardChannels.delete(n);
      return this.s.local(this.noneLeft('sunsubscribe', args));
    }
    const byConn = new Map<Backend, string[]>();
    for (const n of names) {
      this.shardChannels.delete(n);
      for (const e of this.sconns.values()) {
        if (!e.channels.delete(n)) continue;
        let l = byConn.get(e.conn);
        if (l === undefined) byConn.set(e.conn, (l = []));
        l.push(n);
      }
    }
    if (byConn.size === 0) return this.s.local(this.noneLeft('sunsubscribe', ['sunsubscribe', ...names]));
    for (const [conn, chans] of byConn) conn.sendRaw(['SUNSUBSCRIBE', ...chans]);
  }

  close(): void {
    this.closed = true;
    const all = [this.global, ...[...this.sconns.values()].map((e) => e.conn)];
    this.global = null;
    this.sconns.clear();
    for (const c of all) {
      if (c === null) continue;
      c.onClose = null;
      c.close('client gone');
    }
  }
}

/** PUBLISH and PUBSUB CHANNELS/NUMSUB/NUMPAT: to the primary the router's subscribers listen on (see above). */
const publish: Handler = (s, args, spec) => {
  const first = s.router.map?.shards.find((x) => x.primary !== null);
  if (first === undefined) return s.forward(args, spec);
  const entry = s.later();
  scatter(s, [{ args, slot: -1, shard: first.id }], spec, ([r]) => {
    entry.reply = r!;
    s.ready();
  });
};

function ps(s: Session): PubSub {
  return (s.pubsub ??= new PubSub(s));
}

export const pubsubHandlers: [string, Handler][] = [
  ['publish', publish],
  ['pubsub|channels', publish],
  ['pubsub|numsub', publish],
  ['pubsub|numpat', publish],
  ['subscribe', (s, args) => ps(s).subscribe(args, false)],
  ['psubscribe', (s, args) => ps(s).subscribe(args, true)],
  ['unsubscribe', (s, args) => ps(s).unsubscribe(args, false)],
  ['punsubscribe', (s, args) => ps(s).unsubscribe(args, true)],
  [
    'ssubscribe',
    (s, args, spec) => {
      const slot = s.slotOf(args, spec);
      if (slot === CROSS) return s.local(errorReply(Err.crossSlot));
      ps(s).ssubscribe(args, slot);
    },
  ],
  ['sunsubscribe', (s, args) => ps(s).sunsubscribe(args)],
];

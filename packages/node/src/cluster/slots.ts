/**
 * Slot ownership on a node in cluster mode (docs/sharding.md).
 *
 * The cluster agent hands every configuration it applies to `ClusterSlots.apply`, which
 * builds a `Topology`: the owning shard of each of the 16384 slots (one Int16Array), this
 * node's shard and role, the migrations touching it, and the Redis-shaped view (40-hex
 * node and shard ids, addresses) the CLUSTER commands answer from.
 *
 * The server's admission path calls `admit` before every command of a client while the
 * node is in cluster mode: a command whose keys hash to a slot this node does not serve
 * gets `MOVED slot host:port`, keys in several slots `CROSSSLOT`, a database other
 * than 0 an error, as Redis Cluster answers them; the target of a migration serves an
 * importing slot to a client that sent `ASKING`. For a single-key command on a slot the
 * node serves that is one slot computation and one array lookup.
 */
import { createHash } from 'node:crypto';
import { COMMANDS, Err, keyHashSlot, keyPositions, SLOTS, type CommandSpec } from '@sonic/protocol';
import type { ClusterConfig, Health } from '@sonic/controller';
import type { Client } from '../server/client.js';
import type { Server } from '../server/server.js';
import type { PubSubBus } from './pubsub-bus.js';
import type { SlotMigrator } from './migration.js';

export const CLUSTER_DOWN = 'CLUSTERDOWN The cluster is down';
export const CLUSTER_DOWN_RO = 'CLUSTERDOWN The cluster is down and only accepts read commands';
export const SLOT_NOT_SERVED = 'CLUSTERDOWN Hash slot not served';
export const TRYAGAIN = 'TRYAGAIN Multiple keys request during rehashing of slot';
/** Not an error: admission's answer for a write the server holds until `release` (Server.holdClient). */
export const HOLD = '\u0000hold';

/** A node as the CLUSTER commands show it. */
export interface NodeView {
  /** The controller's node id. */
  id: string;
  /** 40 hex characters, as Redis Cluster node ids are (derived from `id` unless it is one). */
  hexId: string;
  host: string;
  port: number;
  busPort: number;
  primary: boolean;
  health: Health;
  shard: ShardView;
  /** `host:port`, as MOVED and ASK name it. */
  addr: string;
}

export interface ShardView {
  /** Index in Topology.shards (what `owner` holds). */
  index: number;
  id: string;
  hexId: string;
  primary: NodeView | null;
  replicas: NodeView[];
  /** Inclusive, sorted. */
  ranges: [number, number][];
}

/** The configuration as this node routes by it. */
export class Topology {
  /** The shard index serving each slot, -1 when none does. */
  readonly owner = new Int16Array(SLOTS).fill(-1);
  readonly shards: ShardView[] = [];
  readonly nodes: NodeView[] = [];
  readonly byHexId = new Map<string, NodeView>();
  /** This node, when the configuration knows it. */
  readonly me: NodeView | null = null;
  /** This node's shard index (-1: not in the configuration). */
  readonly myShard: number = -1;
  readonly amPrimary: boolean = false;
  /**
   * True when every slot is served and this node is its shard's primary: admission then
   * needs nothing but the owner of the slot (a slot migrating away is still served here).
   */
  readonly plain: boolean = false;
  /** Slots leaving this node's shard: slot -> the target shard. */
  readonly migrating = new Map<number, ShardView>();
  /** Slots coming into this node's shard: slot -> the source shard. */
  readonly importing = new Map<number, ShardView>();
  /** Every slot is served by a shard with a primary. */
  readonly ok: boolean;
  readonly assigned: number;
  /** Slots whose primary the controllers see down. */
  readonly failed: number;
  readonly epoch: number;

  constructor(
    readonly config: ClusterConfig | null,
    myId: string,
  ) {
    this.epoch = config?.epoch ?? 0;
    if (config === null) {
      this.ok = false;
      this.assigned = 0;
      this.failed = 0;
      return;
    }
    const shardIndex = new Map<string, ShardView>();
    for (const s of config.shards) {
      const view: ShardView = { index: this.shards.length, id: s.id, hexId: shardHexId(s.id), primary: null, replicas: [], ranges: s.slots.map(([a, b]) => [a, b] as [number, number]) };
      this.shards.push(view);
      shardIndex.set(s.id, view);
    }
    const byId = new Map<string, NodeView>();
    for (const n of config.nodes) {
      const shard = shardIndex.get(n.shard);
      if (shard === undefined) continue;
      const view: NodeView = {
        id: n.id,
        hexId: nodeHexId(n.id),
        host: n.host,
        port: n.port,
        busPort: n.busPort > 0 ? n.busPort : n.port + 10000,
        primary: false,
        health: n.health,
        shard,
        addr: `${n.host}:${n.port}`,
      };
      this.nodes.push(view);
      byId.set(n.id, view);
      this.byHexId.set(view.hexId, view);
    }
    for (const s of config.shards) {
      const view = shardIndex.get(s.id)!;
      const p = s.primary !== null ? byId.get(s.primary) : undefined;
      if (p !== undefined) {
        p.primary = true;
        view.primary = p;
      }
      for (const r of s.replicas) {
        const rv = byId.get(r);
        if (rv !== undefined) view.replicas.push(rv);
      }
    }
    let assigned = 0;
    let failed = 0;
    let served = 0;
    for (const s of this.shards) {
      for (const [a, b] of s.ranges) {
        this.owner.fill(s.index, a, b + 1);
        assigned += b - a + 1;
        if (s.primary !== null) served += b - a + 1;
        if (s.primary !== null && s.primary.health === 'down') failed += b - a + 1;
      }
    }
    this.assigned = assigned;
    this.failed = failed;
    this.ok = served === SLOTS;
    const me = byId.get(myId) ?? null;
    this.me = me;
    if (me !== null) {
      this.myShard = me.shard.index;
      this.amPrimary = me.primary;
      for (const m of config.migrations) {
        const from = shardIndex.get(m.fromShard);
        const to = shardIndex.get(m.toShard);
        if (from === undefined || to === undefined) continue;
        if (from === me.shard) this.migrating.set(m.slot, to);
        if (to === me.shard) this.importing.set(m.slot, from);
      }
    }
    this.plain = this.ok && this.amPrimary;
  }

  /** The primary serving a slot, or null. */
  primaryOf(slot: number): NodeView | null {
    const i = this.owner[slot]!;
    return i < 0 ? null : this.shards[i]!.primary;
  }

  /** Does this node's shard serve `slot` (by the configuration)? */
  mine(slot: number): boolean {
    return this.myShard >= 0 && this.owner[slot] === this.myShard;
  }
}

/** A Redis-shaped node id: the controller's id when it is 40 hex characters, else its SHA-1. */
export function nodeHexId(id: string): string {
  return /^[0-9a-f]{40}$/.test(id) ? id : createHash('sha1').update(id).digest('hex');
}

/** A Redis-shaped shard id (CLUSTER MYSHARDID), derived from the controller's shard id. */
export function shardHexId(id: string): string {
  return /^[0-9a-f]{40}$/.test(id) ? id : createHash('sha1').update(`shard ${id}`).digest('hex');
}

const spec = (name: string): CommandSpec => {
  const [container, sub] = name.split('|');
  const s = sub === undefined ? COMMANDS.get(container!) : COMMANDS.get(container!)?.subcommands?.get(sub);
  if (s === undefined) throw new Error(`command ${name} is not declared`);
  return s;
};
const EXEC = spec('exec');
const MULTI = spec('multi');
const DISCARD = spec('discard');
const ASKING = spec('asking');
const SELECT = spec('select');
const SWAPDB = spec('swapdb');
const MOVE = spec('move');
const COPY = spec('copy');
/** Shard channel commands: served by any node of the owning shard, replicas too (as Redis). */
const SHARD_PUBSUB = new Set([spec('ssubscribe'), spec('sunsubscribe'), spec('spublish')]);

/**
 * The node's slot routing. Per-client state (READONLY, ASKING) is kept here rather than
 * on Client, so standalone nodes carry none of it.
 */
export class ClusterSlots {
  topology: Topology;
  /** Clients that sent READONLY (reads served by a replica). */
  private readonly readonlyClients = new WeakSet<Client>();
  /** Clients that sent ASKING: it holds for their next command (or their MULTI … EXEC). */
  private readonly askingClients = new Set<Client>();
  /** Slots whose writes are held while their move to another shard is committed. */
  private readonly held = new Uint8Array(SLOTS);
  private heldCount = 0;
  /** Pub/sub across the cluster (cluster/pubsub-bus.ts), once the agent attached it. */
  bus: PubSubBus | null = null;
  /** Slot migrations in and out (cluster/migration.ts), once the agent attached it. */
  migrator: SlotMigrator | null = null;

  constructor(
    private readonly server: Server,
    readonly myId: string,
  ) {
    this.topology = new Topology(null, myId);
    this.myHexId = nodeHexId(myId);
  }

  readonly myHexId: string;

  /** A new configuration (the agent applies only higher epochs). */
  apply(config: ClusterConfig): void {
    const before = this.topology;
    const t = new Topology(config, this.myId);
    this.topology = t;
    this.bus?.update(t);
    this.migrator?.update(t, before);
    // Clients blocked (BLPOP …) on keys of a slot this node no longer serves as primary
    // are sent where it is served now, as Redis does.
    if (this.server.blockedCount > 0) {
      for (const c of [...this.server.clients.values()]) {
        const b = c.blocked;
        if (b === null || c.socket === null || b.keys.length === 0) continue;
        const slot = keyHashSlot(b.keys[0]!);
        if (t.amPrimary && t.mine(slot)) continue;
        const p = t.primaryOf(slot);
        this.server.unblockClient(c, true, t.ok && p !== null ? Err.moved(slot, p.addr) : CLUSTER_DOWN);
      }
    }
    // Shard channels of slots this shard no longer serves: their subscribers are told.
    if (this.server.pubsub.shardChannels.size > 0) {
      this.server.pubsub.dropShardChannels((ch) => {
        const slot = keyHashSlot(ch);
        return before.mine(slot) && !t.mine(slot);
      });
    }
  }

  setReadonly(c: Client, on: boolean): void {
    if (on) this.readonlyClients.add(c);
    else this.readonlyClients.delete(c);
  }

  isReadonly(c: Client): boolean {
    return this.readonlyClients.has(c);
  }

  setAsking(c: Client): void {
    this.askingClients.add(c);
  }

  /** Holds writes to `slots` (their move is being committed): admission answers HOLD. */
  hold(slots: readonly number[]): void {
    for (const s of slots) {
      if (this.held[s] === 1) continue;
      this.held[s] = 1;
      this.heldCount++;
    }
  }

  /** Lets held writes go: they take the admission path again (MOVED once the slot moved). */
  release(slots: readonly number[]): void {
    let any = false;
    for (const s of slots) {
      if (this.held[s] === 0) continue;
      this.held[s] = 0;
      this.heldCount--;
      any = true;
    }
    if (any) this.server.resumePaused();
  }

  /**
   * The admission check: null to run the command here, else the error to answer
   * (MOVED, ASK, CROSSSLOT, TRYAGAIN, CLUSTERDOWN, or a cluster-mode refusal).
   */
  admit(c: Client, spec: CommandSpec, argv: string[]): string | null {
    // Internal clients (Lua's, a replica's master client, the AOF loader) run what they are given.
    if (c.socket === null) return null;
    let asking = false;
    if (this.askingClients.size > 0 && this.askingClients.has(c)) {
      asking = true;
      // ASKING holds for the next command, or from MULTI to EXEC (as Redis resets the flag).
      if (spec !== ASKING && spec !== MULTI && (c.multi === null || spec === EXEC || spec === DISCARD)) this.askingClients.delete(c);
    }
    const t = this.topology;
    const first = spec.firstKey;
    let slot: number;
    let keys: number[] | null = null;
    if (first > 0 && spec.lastKey === first && spec.keySpecs.length === 1) {
      // One key at a fixed position: the common case.
      slot = keyHashSlot(argv[first]!);
      if (t.plain && t.owner[slot] === t.myShard && this.heldCount === 0) return spec === MOVE || spec === COPY ? dbOnly(spec, argv) : null;
    } else if (spec.keySpecs.length === 0) {
      if (spec === EXEC) return c.multi === null ? null : this.admitExec(c, asking);
      if (spec === SELECT || spec === SWAPDB) return dbOnly(spec, argv);
      return null;
    } else {
      keys = keyPositions(spec, argv);
      if (keys.length === 0) return null;
      slot = keyHashSlot(argv[keys[0]!]!);
      for (let i = 1; i < keys.length; i++) if (keyHashSlot(argv[keys[i]!]!) !== slot) return Err.crossSlot;
      if (t.plain && t.owner[slot] === t.myShard && this.heldCount === 0) return spec === MOVE || spec === COPY ? dbOnly(spec, argv) : null;
    }
    if (this.heldCount > 0 && this.held[slot] === 1 && !spec.isReadonly && t.owner[slot] === t.myShard) return HOLD;
    const err = this.route(c, t, slot, spec.isWrite, SHARD_PUBSUB.has(spec), asking || spec.flags.has('asking'), () => (keys ?? [first]).map((i) => argv[i]!));
    if (err !== null) return err;
    return spec === MOVE || spec === COPY ? dbOnly(spec, argv) : null;
  }

  /**
   * A command a script runs on behalf of client `c` (Redis's scriptVerifyClusterState):
   * the slot of its keys (-1 when it has none), or the error for the script when a key is
   * in a slot this node does not serve now, its keys span slots, or the cluster is down.
   * A script cannot be redirected or held, so a write to a slot whose move is being
   * committed is refused too.
   */
  scriptAccess(c: Client, spec: CommandSpec, argv: string[]): number | string {
    if (spec.keySpecs.length === 0) return -1;
    const keys = keyPositions(spec, argv);
    if (keys.length === 0) return -1;
    const slot = keyHashSlot(argv[keys[0]!]!);
    const t = this.topology;
    let err: string | null = null;
    for (let i = 1; i < keys.length; i++) if (keyHashSlot(argv[keys[i]!]!) !== slot) err = Err.crossSlot;
    if (err === null && this.heldCount > 0 && this.held[slot] === 1 && !spec.isReadonly) err = HOLD;
    if (err === null) err = this.route(c, t, slot, spec.isWrite, false, false, () => keys.map((i) => argv[i]!));
    if (err === null) return slot;
    if (err === CLUSTER_DOWN) return 'Script attempted to execute a command while the cluster is down';
    if (err === CLUSTER_DOWN_RO) return 'Script attempted to execute a write command while the cluster is down and readonly';
    return 'Script attempted to access a non local key in a cluster node';
  }

  /** EXEC: the queued commands' keys together (each was checked when it was queued). */
  private admitExec(c: Client, asking: boolean): string | null {
    const queued = c.multi!;
    let slot = -1;
    let write = false;
    const keys: string[] = [];
    for (const q of queued) {
      if (q.spec.isWrite) write = true;
      if (q.spec.keySpecs.length === 0) continue;
      for (const i of keyPositions(q.spec, q.argv)) {
        const key = q.argv[i]!;
        const s = keyHashSlot(key);
        if (slot === -1) slot = s;
        else if (s !== slot) return this.discard(c, Err.crossSlot);
        keys.push(key);
      }
    }
    if (slot === -1) return null;
    if (write && this.heldCount > 0 && this.held[slot] === 1 && this.topology.owner[slot] === this.topology.myShard) return HOLD;
    return this.discard(c, this.route(c, this.topology, slot, write, false, asking, () => keys));
  }

  /** A refused EXEC discards its transaction, as Redis does. */
  private discard(c: Client, err: string | null): string | null {
    if (err === null) return null;
    c.multi = null;
    c.multiError = false;
    this.server.unwatchAll(c);
    return err;
  }

  /** Where a command on `slot` runs: null here, else the redirect or error. */
  private route(c: Client, t: Topology, slot: number, write: boolean, shardPubsub: boolean, asking: boolean, keys: () => string[]): string | null {
    if (!t.ok && !this.downAllows(write, shardPubsub)) {
      return write && this.server.config.bool('cluster-allow-reads-when-down') ? CLUSTER_DOWN_RO : CLUSTER_DOWN;
    }
    const owner = t.owner[slot]!;
    const shard = owner < 0 ? null : t.shards[owner]!;
    if (shard === null || shard.primary === null) return SLOT_NOT_SERVED;
    if (owner === t.myShard) {
      if (!t.amPrimary) {
        // A replica serves reads to READONLY clients, and shard channels to anyone.
        if (!write && (shardPubsub || this.readonlyClients.has(c))) return null;
        return Err.moved(slot, shard.primary.addr);
      }
      // A slot migrating away stays served here until its new owner is committed: the
      // source keeps every key and forwards each write (cluster/migration.ts), so it never
      // has to send a client to the target (ASK) in the middle of a move.
      return null;
    }
    if (t.amPrimary && asking && t.importing.has(slot)) {
      // The target of a migration serves the slot to clients sent here by ASK.
      const ks = keys();
      if (ks.length > 1 && this.countPresent(ks) !== ks.length) return TRYAGAIN;
      return null;
    }
    return Err.moved(slot, shard.primary.addr);
  }

  private downAllows(write: boolean, shardPubsub: boolean): boolean {
    const cfg = this.server.config;
    if (!cfg.bool('cluster-require-full-coverage') && this.topology.config !== null) return true;
    if (shardPubsub && cfg.bool('cluster-allow-pubsubshard-when-down')) return true;
    return !write && cfg.bool('cluster-allow-reads-when-down');
  }

  /** Keys present in database 0 (expired ones count as missing), without side effects. */
  private countPresent(keys: string[]): number {
    const db = this.server.keyspace.dbs[0]!;
    const now = Date.now();
    let n = 0;
    for (const k of keys) {
      if (!db.dict.has(k)) continue;
      const when = db.expires.get(k);
      if (when === undefined || when > now) n++;
    }
    return n;
  }
}

/** Cluster mode serves database 0 only: SELECT n, SWAPDB, MOVE and COPY … DB n are refused. */
function dbOnly(spec: CommandSpec, argv: string[]): string | null {
  if (spec === SELECT) {
    const id = Number(argv[1]);
    // A non-integer is the handler's error.
    return /^[+-]?\d+$/.test(argv[1]!) && id !== 0 ? 'ERR SELECT is not allowed in cluster mode' : null;
  }
  if (spec === SWAPDB) return 'ERR SWAPDB is not allowed in cluster mode';
  if (spec === MOVE) return 'ERR MOVE is not allowed in cluster mode';
  for (let i = 3; i + 1 < argv.length; i++) {
    if (argv[i]!.toLowerCase() === 'db' && /^[+-]?\d+$/.test(argv[i + 1]!) && Number(argv[i + 1]) !== 0) return 'ERR Copying to another database is not allowed in cluster mode';
  }
  return null;
}

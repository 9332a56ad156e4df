/**
 * Where every slot lives: a slot table built from the controllers' configuration
 * (watched, only higher epochs applied) or, without controllers, from CLUSTER SHARDS of
 * seed nodes. Refreshes are single-flight: many redirects during one change cause one
 * read of the topology, not one each.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { oneShot, RespError, SLOTS, type RespValue, type controlPb } from '@sonic/protocol';
import { ControlClients, configFromProto, type ClusterConfig, type ControllerAddress } from '@sonic/controller';
import type { Endpoint } from './options.js';

export interface NodeAddr {
  id: string;
  host: string;
  port: number;
  /** "host:port": the key of the node's connection pools. */
  key: string;
  /** The router's pools for this node (by protocol and role), cached. */
  pools?: import('./backend.js').Backend[][];
}

export interface Shard {
  id: string;
  primary: NodeAddr | null;
  /** Healthy replicas only. */
  replicas: NodeAddr[];
}

/** An immutable view of the cluster: shards and the owner of every slot. */
export class SlotMap {
  /** Shard index per slot, -1 when no shard serves it. */
  readonly owner = new Int16Array(SLOTS).fill(-1);

  constructor(
    readonly epoch: number,
    readonly shards: Shard[],
  ) {}

  shardOf(slot: number): Shard | null {
    const i = this.owner[slot]!;
    return i < 0 ? null : this.shards[i]!;
  }

  /** The primaries of every shard that has one, in shard order. */
  primaries(): NodeAddr[] {
    const out: NodeAddr[] = [];
    for (const s of this.shards) if (s.primary !== null) out.push(s.primary);
    return out;
  }

  /** A short description for logs. */
  describe(): object {
    return {
      epoch: this.epoch,
      shards: this.shards.map((s) => ({ id: s.id, primary: s.primary?.key ?? null, replicas: s.replicas.map((r) => r.key) })),
    };
  }

  static fromConfig(c: ClusterConfig): SlotMap {
    const byId = new Map(c.nodes.map((n) => [n.id, n]));
    const addr = (id: string): NodeAddr | null => {
      const n = byId.get(id);
      return n === undefined ? null : { id: n.id, host: n.host, port: n.port, key: `${n.host}:${n.port}` };
    };
    const shards: Shard[] = [];
    const ranges: [number, number][][] = [];
    for (const s of c.shards) {
      shards.push({
        id: s.id,
        primary: s.primary === null ? null : addr(s.primary),
        replicas: s.replicas.filter((r) => byId.get(r)?.health === 'ok').map((r) => addr(r)!).filter((r) => r !== null),
      });
      ranges.push(s.slots);
    }
    const m = new SlotMap(c.epoch, shards);
    ranges.forEach((rs, i) => {
      for (const [a, b] of rs) m.owner.fill(i, a, b + 1);
    });
    return m;
  }

  /** From a CLUSTER SHARDS reply (RESP2: flat key/value arrays). */
  static fromClusterShards(reply: RespValue, epoch: number): SlotMap {
    if (!Array.isArray(reply)) throw new Error('CLUSTER SHARDS: not an array');
    const shards: Shard[] = [];
    const ranges: number[][] = [];
    for (const s of reply) {
      const f = pairs(s);
      const slots = (f.get('slots') as number[] | undefined) ?? [];
      const nodes = (f.get('nodes') as RespValue[] | undefined) ?? [];
      let primary: NodeAddr | null = null;
      const replicas: NodeAddr[] = [];
      for (const nv of nodes) {
        const n = pairs(nv);
        const host = String(n.get('ip') ?? n.get('endpoint') ?? '');
        const port = Number(n.get('port'));
        const a: NodeAddr = { id: String(n.get('id') ?? `${host}:${port}`), host, port, key: `${host}:${port}` };
        const health = String(n.get('health') ?? 'online');
        if (n.get('role') === 'master') primary = a;
        else if (health === 'online') replicas.push(a);
      }
      if (slots.length === 0 && primary === null) continue;
      shards.push({ id: primary?.id ?? `shard-${shards.length}`, primary, replicas });
      ranges.push(slots.map(Number));
    }
    const m = new SlotMap(epoch, shards);
    ranges.forEach((rs, i) => {
      for (let k = 0; k + 1 < rs.length; k += 2) m.owner.fill(i, rs[k]!, rs[k + 1]! + 1);
    });
    return m;
  }
}

function pairs(v: RespValue): Map<string, RespValue> {
  const m = new Map<string, RespValue>();
  if (v instanceof Map) {
    for (const [k, x] of v) m.set(String(k), x);
  } else if (Array.isArray(v)) {
    for (let i = 0; i + 1 < v.length; i += 2) m.set(String(v[i]), v[i + 1]!);
  }
  return m;
}

/** Where the topology comes from. */
export interface TopologySource {
  start(): void;
  /** Reads the topology again; resolves when done (whether or not it changed). */
  refresh(): Promise<void>;
  stop(): void;
}

const WATCH_RETRY_MS = 300;
/** At most one refresh per this many ms (redirect storms during a failover). */
const MIN_REFRESH_MS = 100;

/** Single-flight with a minimum interval: concurrent callers share one run. */
export class SingleFlight {
  private running: Promise<void> | null = null;
  private last = 0;

  constructor(private readonly fn: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running !== null) return this.running;
    const wait = Math.max(0, this.last + MIN_REFRESH_MS - Date.now());
    const p = new Promise<void>((r) => (wait > 0 ? setTimeout(r, wait) : r()))
      .then(() => this.fn())
      .catch(() => {})
      .finally(() => {
        this.last = Date.now();
        this.running = null;
      });
    this.running = p;
    return p;
  }
}

/** Watches every controller (server-streaming Watch); applies only higher epochs. */
export class ControllerTopology implements TopologySource {
  private readonly clients: ControlClients;
  private readonly watches: (grpc.ClientReadableStream<controlPb.ClusterConfig> | null)[];
  private readonly retries: (NodeJS.Timeout | null)[];
  private stopped = false;
  private epoch = 0;
  private readonly flight: SingleFlight;

  constructor(
    addresses: ControllerAddress[],
    private readonly apply: (m: SlotMap, via: string) => void,
    private readonly log: Logger,
  ) {
    this.clients = new ControlClients(addresses);
    this.watches = new Array(addresses.length).fill(null);
    this.retries = new Array(addresses.length).fill(null);
    this.flight = new SingleFlight(async () => {
      const r = await this.clients.any<controlPb.StatusReply>('status', {}, 1000);
      if (r.config) this.offer(r.config, 'status');
    });
  }

  start(): void {
    for (let i = 0; i < this.watches.length; i++) this.watch(i);
    void this.refresh();
  }

  refresh(): Promise<void> {
    return this.flight.run();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.retries) if (t) clearTimeout(t);
    for (const w of this.watches) w?.cancel();
    this.clients.close();
  }

  private watch(i: number): void {
    if (this.stopped) return;
    this.retries[i] = null;
    const s = this.clients.clients[i]!.watch({ watcher: `router-${process.pid}` });
    this.watches[i] = s;
    const again = () => {
      if (this.watches[i] !== s) return;
      this.watches[i] = null;
      if (!this.stopped && this.retries[i] === null) this.retries[i] = setTimeout(() => this.watch(i), WATCH_RETRY_MS);
    };
    s.on('data', (c: controlPb.ClusterConfig) => this.offer(c, 'watch'));
    s.on('error', again);
    s.on('end', again);
  }

  private offer(p: controlPb.ClusterConfig, via: string): void {
    if (p.epoch <= this.epoch) return;
    this.epoch = p.epoch;
    this.apply(SlotMap.fromConfig(configFromProto(p)), via);
  }
}

/** Without controllers: CLUSTER SHARDS from a seed (or any node known), re-read on demand and every few seconds. */
export class SeedTopology implements TopologySource {
  private timer: NodeJS.Timeout | null = null;
  private current: SlotMap | null = null;
  private epoch = 0;
  private readonly flight: SingleFlight;

  constructor(
    private readonly seeds: Endpoint[],
    private readonly password: string,
    private readonly apply: (m: SlotMap, via: string) => void,
    private readonly log: Logger,
    private readonly periodMs = 2000,
  ) {
    this.flight = new SingleFlight(() => this.read());
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.periodMs);
    this.timer.unref();
  }

  refresh(): Promise<void> {
    return this.flight.run();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async read(): Promise<void> {
    const known = new Map<string, Endpoint>();
    for (const n of this.current?.primaries() ?? []) known.set(`${n.host}:${n.port}`, n);
    for (const s of this.seeds) known.set(`${s.host}:${s.port}`, s);
    for (const s of this.current?.shards ?? []) for (const r of s.replicas) known.set(r.key, r);
    let last: unknown = null;
    for (const n of known.values()) {
      try {
        const reply = await oneShot(n.host, n.port, ['CLUSTER', 'SHARDS'], { password: this.password, timeoutMs: 1500 });
        if (reply instanceof RespError) throw new Error(`${n.host}:${n.port}: ${reply.message}`);
        const m = SlotMap.fromClusterShards(reply, this.epoch + 1);
        if (this.current === null || !sameTopology(this.current, m)) {
          this.epoch++;
          this.current = m;
          this.apply(m, `${n.host}:${n.port}`);
        }
        return;
      } catch (e) {
        last = e;
      }
    }
    this.log.warn({ err: (last as Error | null)?.message }, 'router: no seed node answered CLUSTER SHARDS');
  }
}

function sameTopology(a: SlotMap, b: SlotMap): boolean {
  if (JSON.stringify(a.shards) !== JSON.stringify(b.shards)) return false;
  for (let i = 0; i < SLOTS; i++) if (a.owner[i] !== b.owner[i]) return false;
  return true;
}

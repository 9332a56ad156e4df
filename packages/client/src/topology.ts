/**
 * The client's slot table: which shard serves each of the 16384 slots, and the addresses
 * (host:port) of its primary and replicas. Pure code (no I/O): built from CLUSTER SHARDS,
 * CLUSTER SLOTS or a controller's ClusterConfig, and patched by MOVED.
 */
import { SLOTS } from '@sonic/protocol';

export type ReadFrom = 'primary' | 'replicas' | 'prefer-replicas';

export interface ShardRoute {
  /** host:port of the primary, or null while the shard has none. */
  primary: string | null;
  /** host:port of replicas that can serve reads. */
  replicas: string[];
}

/** The subset of @sonic/controller's ClusterConfig the client reads. */
export interface ConfigLike {
  epoch: number;
  nodes: { id: string; host: string; port: number; health: string }[];
  shards: { id: string; primary: string | null; replicas: string[]; slots: [number, number][] }[];
}

export class SlotTable {
  /** Index into `shards` per slot, -1 when no shard serves it. */
  readonly owner = new Int32Array(SLOTS).fill(-1);
  readonly shards: ShardRoute[] = [];
  /** The controllers' epoch it was built from (0 when it came from the nodes). */
  epoch = 0;
  private rr = 0;

  /** The address a command for `slot` goes to. */
  route(slot: number, read: boolean, readFrom: ReadFrom): string | null {
    const i = this.owner[slot]!;
    if (i < 0) return null;
    const s = this.shards[i]!;
    if (!read || readFrom === 'primary' || s.replicas.length === 0) return s.primary;
    const n = s.replicas.length;
    if (readFrom === 'replicas') return s.replicas[this.rr++ % n]!;
    // prefer-replicas: replicas and the primary in turn, replicas first.
    const k = this.rr++ % (n + 1);
    return k < n ? s.replicas[k]! : s.primary;
  }

  primaryOf(slot: number): string | null {
    const i = this.owner[slot]!;
    return i < 0 ? null : this.shards[i]!.primary;
  }

  /** Any primary (commands without keys). */
  anyPrimary(): string | null {
    const n = this.shards.length;
    for (let k = 0; k < n; k++) {
      const s = this.shards[(this.rr++ + k) % n]!;
      if (s.primary !== null) return s.primary;
    }
    return null;
  }

  /** MOVED: the slot now belongs to the shard whose primary is `addr` (a new one if none is). */
  patch(slot: number, addr: string): void {
    let i = this.shards.findIndex((s) => s.primary === addr);
    if (i < 0) {
      i = this.shards.length;
      this.shards.push({ primary: addr, replicas: [] });
    }
    this.owner[slot] = i;
  }

  /** Every address the table names. */
  addresses(): Set<string> {
    const out = new Set<string>();
    for (const s of this.shards) {
      if (s.primary !== null) out.add(s.primary);
      for (const r of s.replicas) out.add(r);
    }
    return out;
  }

  covered(): number {
    let n = 0;
    for (let i = 0; i < SLOTS; i++) if (this.owner[i]! >= 0) n++;
    return n;
  }

  private assign(route: ShardRoute, ranges: [number, number][]): void {
    const i = this.shards.length;
    this.shards.push(route);
    for (const [a, b] of ranges) for (let s = Math.max(0, a); s <= Math.min(SLOTS - 1, b); s++) this.owner[s] = i;
  }

  /** From a controller's configuration: healthy replicas only. */
  static fromConfig(cfg: ConfigLike): SlotTable {
    const t = new SlotTable();
    t.epoch = cfg.epoch;
    const byId = new Map(cfg.nodes.map((n) => [n.id, n]));
    const addr = (id: string | null) => {
      const n = id === null ? undefined : byId.get(id);
      return n === undefined ? null : `${n.host}:${n.port}`;
    };
    for (const s of cfg.shards) {
      if (s.slots.length === 0) continue;
      const replicas = s.replicas.filter((r) => byId.get(r)?.health === 'ok').map(addr).filter((a): a is string => a !== null);
      t.assign({ primary: addr(s.primary), replicas }, s.slots);
    }
    return t;
  }

  /** From CLUSTER SLOTS: [[start, end, [host, port, id, ...], replicas...], ...]. */
  static fromSlots(reply: unknown, fallbackHost: string): SlotTable {
    const t = new SlotTable();
    if (!Array.isArray(reply)) throw new Error('CLUSTER SLOTS: not an array');
    const byPrimary = new Map<string, [number, number][]>();
    const routes = new Map<string, ShardRoute>();
    for (const e of reply as unknown[][]) {
      const a = Number(e[0]);
      const b = Number(e[1]);
      const nodes = (e.slice(2) as unknown[][]).map((n) => `${hostOf(n[0], fallbackHost)}:${Number(n[1])}`);
      const p = nodes[0];
      if (p === undefined) continue;
      if (!routes.has(p)) {
        routes.set(p, { primary: p, replicas: nodes.slice(1) });
        byPrimary.set(p, []);
      }
      byPrimary.get(p)!.push([a, b]);
    }
    for (const [p, r] of routes) t.assign(r, byPrimary.get(p)!);
    return t;
  }

  /** From CLUSTER SHARDS (RESP3 maps or RESP2 flat key/value arrays). */
  static fromShards(reply: unknown, fallbackHost: string): SlotTable {
    const t = new SlotTable();
    if (!Array.isArray(reply)) throw new Error('CLUSTER SHARDS: not an array');
    for (const raw of reply) {
      const sh = asRecord(raw);
      const flat = (sh['slots'] as unknown[]) ?? [];
      const ranges: [number, number][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) ranges.push([Number(flat[i]), Number(flat[i + 1])]);
      let primary: string | null = null;
      const replicas: string[] = [];
      for (const rn of (sh['nodes'] as unknown[]) ?? []) {
        const n = asRecord(rn);
        const a = `${hostOf(n['endpoint'] ?? n['ip'], fallbackHost)}:${Number(n['port'] ?? n['tls-port'])}`;
        // A failed primary stays listed after a failover: the healthy one wins.
        if (n['role'] === 'master') {
          if (n['health'] !== 'fail' && (primary === null || n['health'] === 'online')) primary = a;
        } else if (n['health'] === 'online') replicas.push(a);
      }
      if (ranges.length > 0) t.assign({ primary, replicas }, ranges);
    }
    return t;
  }
}

function hostOf(h: unknown, fallback: string): string {
  const s = typeof h === 'string' ? h : h instanceof Buffer ? h.toString() : '';
  return s === '' || s === '?' ? fallback : s;
}

function asRecord(v: unknown): Record<string, unknown> {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), x]));
  if (Array.isArray(v)) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i + 1 < v.length; i += 2) o[String(v[i])] = v[i + 1];
    return o;
  }
  if (v !== null && typeof v === 'object') return v as Record<string, unknown>;
  return {};
}

/** Splits "host:port" (IPv6 hosts may be bracketed). */
export function splitAddress(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(a.slice(i + 1)) };
}

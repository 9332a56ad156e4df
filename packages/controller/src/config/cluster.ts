/**
 * The cluster configuration: the Raft state machine of the controllers.
 *
 * Pure code: `applyCommand(config, command)` returns the next configuration and a result,
 * deterministically (every controller applies the same committed commands in the same
 * order and must reach the same configuration). The configuration is plain JSON: it is
 * what Raft entries carry (commands) and what snapshots hold (the configuration itself).
 * Every change increases `epoch` by one; a command that changes nothing keeps it.
 *
 * Invariants (checked by `checkInvariants`, which the tests run after every command):
 * every node belongs to exactly one shard; a shard's primary and replicas are nodes of
 * that shard with role primary / replica; slot ranges of different shards never overlap.
 */

export const CONFIG_VERSION = 1;
export const SLOTS = 16384;

export type NodeRole = 'primary' | 'replica';
/** ok; down: objectively down; untrusted: came back without the data it held as primary. */
export type Health = 'ok' | 'down' | 'untrusted';

export interface NodeInfo {
  id: string;
  host: string;
  port: number;
  /** 0: client port + 10000. */
  busPort: number;
  role: NodeRole;
  shard: string;
  health: Health;
  /** The run id the node registered with last ('' for a node added by an operator). */
  runId: string;
  /** replica-priority: 0 = never promoted; lower is preferred among equals. */
  priority: number;
}

export interface ShardInfo {
  id: string;
  /** Node id of the primary, or null while the shard has none. */
  primary: string | null;
  replicas: string[];
  /** Inclusive slot ranges, sorted, non-overlapping. */
  slots: [number, number][];
}

export interface Migration {
  slot: number;
  fromShard: string;
  toShard: string;
}

export interface ClusterConfig {
  version: number;
  epoch: number;
  /** Sorted by id. */
  nodes: NodeInfo[];
  /** Sorted by id. */
  shards: ShardInfo[];
  migrations: Migration[];
}

export interface Endpoint {
  host: string;
  port: number;
}

export type Command =
  | {
      op: 'register';
      id: string;
      host: string;
      port: number;
      busPort: number;
      runId: string;
      role: NodeRole;
      /** A replica's primary (its replicaof), used when the node is new. */
      primary: Endpoint | null;
      /** The shard the node asks to join, or ''. */
      shard: string;
      priority: number;
    }
  | { op: 'addNode'; id: string; host: string; port: number; busPort: number; shard: string }
  | { op: 'removeNode'; id: string }
  | { op: 'assignSlots'; shard: string; ranges: [number, number][] }
  /** `from` must still be the shard's primary and `to` one of its replicas: a stale decision is a no-op. */
  | { op: 'failover'; shard: string; from: string; to: string; fromHealth: Health; reason: string }
  | { op: 'setHealth'; id: string; health: Health; /** Only if the node still has this run id ('' = any). */ runId: string }
  /** Opens migrations of `slots` to `toShard` (each from the shard owning it); docs/sharding.md. */
  | { op: 'beginMigration'; slots: number[]; toShard: string }
  /**
   * The source shard's primary `by` streamed `slots` to `target`, the primary of `toShard`:
   * the slots change owner. Refused when `by` or `target` no longer hold those roles.
   */
  | { op: 'endMigration'; slots: number[]; toShard: string; by: string; target: string }
  /** Drops the migrations of `slots` (the slots stay with their source). */
  | { op: 'cancelMigration'; slots: number[] };

export type Result = { ok: true; changed: boolean; detail: string } | { ok: false; error: string };

export function emptyConfig(): ClusterConfig {
  return { version: CONFIG_VERSION, epoch: 0, nodes: [], shards: [], migrations: [] };
}

export function findNode(c: ClusterConfig, id: string): NodeInfo | undefined {
  return c.nodes.find((n) => n.id === id);
}

export function findShard(c: ClusterConfig, id: string): ShardInfo | undefined {
  return c.shards.find((s) => s.id === id);
}

export function findNodeByAddress(c: ClusterConfig, host: string, port: number): NodeInfo | undefined {
  return c.nodes.find((n) => n.host === host && n.port === port);
}

/** The node that is the shard's primary, if any. */
export function primaryOf(c: ClusterConfig, shard: string): NodeInfo | undefined {
  const s = findShard(c, shard);
  return s?.primary ? findNode(c, s.primary) : undefined;
}

export function busPortOf(n: { port: number; busPort: number }): number {
  return n.busPort > 0 ? n.busPort : n.port + 10000;
}

function ok(changed: boolean, detail = ''): Result {
  return { ok: true, changed, detail };
}
function fail(error: string): Result {
  return { ok: false, error };
}

function sortById<T extends { id: string }>(a: T[]): void {
  a.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

function validRanges(ranges: [number, number][]): string | null {
  for (const r of ranges) {
    if (!Array.isArray(r) || r.length !== 2) return 'a slot range is [start, end]';
    const [a, b] = r;
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b >= SLOTS || a > b) return `invalid slot range ${a}-${b} (0..${SLOTS - 1}, start <= end)`;
  }
  return null;
}

/** Merges and sorts ranges. */
export function normaliseRanges(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.map((r) => [r[0], r[1]] as [number, number]).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** `ranges` minus `remove`. */
export function subtractRanges(ranges: [number, number][], remove: [number, number][]): [number, number][] {
  let cur = normaliseRanges(ranges);
  for (const [ra, rb] of normaliseRanges(remove)) {
    const next: [number, number][] = [];
    for (const [a, b] of cur) {
      if (rb < a || ra > b) next.push([a, b]);
      else {
        if (a < ra) next.push([a, ra - 1]);
        if (b > rb) next.push([rb + 1, b]);
      }
    }
    cur = next;
  }
  return cur;
}

export function slotCount(ranges: [number, number][]): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}

function nextShardId(c: ClusterConfig): string {
  for (let i = 1; ; i++) {
    const id = `shard-${i}`;
    if (!findShard(c, id)) return id;
  }
}

/** A new shard with `node` as primary; the first shard holding slots gets all of them. */
function createShard(c: ClusterConfig, id: string, primary: string | null): ShardInfo {
  const anySlots = c.shards.some((s) => s.slots.length > 0);
  const s: ShardInfo = { id, primary, replicas: [], slots: anySlots ? [] : [[0, SLOTS - 1]] };
  c.shards.push(s);
  sortById(c.shards);
  return s;
}

/** Puts a new node into a shard: primary when the shard has none, else replica. */
function joinShard(c: ClusterConfig, node: NodeInfo, shard: ShardInfo): void {
  node.shard = shard.id;
  if (shard.primary === null) {
    shard.primary = node.id;
    node.role = 'primary';
  } else {
    node.role = 'replica';
    if (!shard.replicas.includes(node.id)) shard.replicas.push(node.id);
    shard.replicas.sort();
  }
  c.nodes.push(node);
  sortById(c.nodes);
}

function dropNode(c: ClusterConfig, id: string): void {
  const n = findNode(c, id);
  if (!n) return;
  c.nodes = c.nodes.filter((x) => x.id !== id);
  const s = findShard(c, n.shard);
  if (s) {
    if (s.primary === id) s.primary = null;
    s.replicas = s.replicas.filter((r) => r !== id);
  }
}

function validId(id: unknown): id is string {
  return typeof id === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(id);
}

/** Applies one committed command. Never throws on bad input: a bad command is a failed result. */
export function applyCommand(config: ClusterConfig, cmd: Command): { config: ClusterConfig; result: Result } {
  const c = structuredClone(config);
  let result: Result;
  try {
    result = mutate(c, cmd);
  } catch (err) {
    result = fail(`internal: ${(err as Error).message}`);
  }
  if (!result.ok || !result.changed) return { config, result };
  c.epoch = config.epoch + 1;
  return { config: c, result };
}

function mutate(c: ClusterConfig, cmd: Command): Result {
  switch (cmd.op) {
    case 'register':
      return register(c, cmd);
    case 'addNode': {
      if (!validId(cmd.id)) return fail(`invalid node id '${cmd.id}'`);
      if (findNode(c, cmd.id)) return fail(`node ${cmd.id} already exists`);
      if (findNodeByAddress(c, cmd.host, cmd.port)) return fail(`a node already has address ${cmd.host}:${cmd.port}`);
      if (!validId(cmd.shard)) return fail(`invalid shard id '${cmd.shard}'`);
      const shard = findShard(c, cmd.shard) ?? createShard(c, cmd.shard, null);
      joinShard(c, { id: cmd.id, host: cmd.host, port: cmd.port, busPort: cmd.busPort, role: 'replica', shard: shard.id, health: 'ok', runId: '', priority: 100 }, shard);
      return ok(true, `node ${cmd.id} added to ${shard.id} as ${findNode(c, cmd.id)!.role}`);
    }
    case 'removeNode': {
      const n = findNode(c, cmd.id);
      if (!n) return fail(`no node ${cmd.id}`);
      const s = findShard(c, n.shard)!;
      if (s.primary === n.id && s.replicas.length > 0) return fail(`node ${cmd.id} is the primary of ${s.id}: fail over first`);
      dropNode(c, n.id);
      if (s.primary === null && s.replicas.length === 0) c.shards = c.shards.filter((x) => x.id !== s.id);
      dropStaleMigrations(c);
      return ok(true, `node ${cmd.id} removed`);
    }
    case 'assignSlots': {
      const s = findShard(c, cmd.shard);
      if (!s) return fail(`no shard ${cmd.shard}`);
      const bad = validRanges(cmd.ranges);
      if (bad) return fail(bad);
      const add = normaliseRanges(cmd.ranges);
      const before = JSON.stringify(c.shards.map((o) => o.slots));
      for (const o of c.shards) if (o !== s) o.slots = subtractRanges(o.slots, add);
      s.slots = normaliseRanges([...s.slots, ...add]);
      const changed = before !== JSON.stringify(c.shards.map((o) => o.slots));
      dropStaleMigrations(c);
      return ok(changed, `${slotCount(add)} slots assigned to ${s.id}`);
    }
    case 'failover': {
      const s = findShard(c, cmd.shard);
      if (!s) return fail(`no shard ${cmd.shard}`);
      if (s.primary !== cmd.from) return ok(false, `stale failover: ${cmd.from} is no longer the primary of ${s.id}`);
      if (!s.replicas.includes(cmd.to)) return fail(`${cmd.to} is not a replica of ${s.id}`);
      const to = findNode(c, cmd.to)!;
      s.replicas = s.replicas.filter((r) => r !== cmd.to);
      to.role = 'primary';
      to.health = 'ok';
      s.primary = to.id;
      const from = findNode(c, cmd.from);
      if (from) {
        from.role = 'replica';
        from.health = cmd.fromHealth;
        s.replicas.push(from.id);
        s.replicas.sort();
      }
      return ok(true, `${s.id}: ${to.id} promoted in place of ${cmd.from} (${cmd.reason})`);
    }
    case 'beginMigration':
    case 'endMigration':
    case 'cancelMigration':
      return migrate(c, cmd);
    case 'setHealth': {
      const n = findNode(c, cmd.id);
      if (!n) return fail(`no node ${cmd.id}`);
      if (cmd.runId !== '' && n.runId !== cmd.runId) return ok(false, `node ${cmd.id} has run id ${n.runId} now`);
      if (n.health === cmd.health) return ok(false, '');
      n.health = cmd.health;
      return ok(true, `node ${cmd.id} is ${cmd.health}`);
    }
    default:
      return fail(`unknown command ${(cmd as { op: unknown }).op}`);
  }
}

function register(c: ClusterConfig, r: Extract<Command, { op: 'register' }>): Result {
  if (!validId(r.id)) return fail(`invalid node id '${r.id}'`);
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) return fail(`invalid port ${r.port}`);
  let n = findNode(c, r.id);
  if (!n) {
    // A node known at this address under another id: the same place, a new process
    // with a new identity. It is the same member of its shard, and not trusted as primary.
    const at = findNodeByAddress(c, r.host, r.port);
    if (at) {
      const s = findShard(c, at.shard)!;
      if (s.primary === at.id) s.primary = r.id;
      s.replicas = s.replicas.map((x) => (x === at.id ? r.id : x)).sort();
      at.id = r.id;
      at.runId = '';
      if (at.role === 'primary') at.health = 'untrusted';
      sortById(c.nodes);
      n = at;
    }
  }
  if (n) {
    let changed = false;
    const detail: string[] = [];
    if (n.host !== r.host || n.port !== r.port || n.busPort !== r.busPort) {
      const other = findNodeByAddress(c, r.host, r.port);
      if (other && other !== n) return fail(`a node already has address ${r.host}:${r.port}`);
      n.host = r.host;
      n.port = r.port;
      n.busPort = r.busPort;
      changed = true;
      detail.push('address changed');
    }
    if (n.priority !== r.priority) {
      n.priority = r.priority;
      changed = true;
    }
    if (n.runId !== r.runId) {
      // A new process. As a replica it resyncs; as a primary it may have come back
      // without its data: it is not trusted until it is a replica again (or there is
      // no replica to take over, which the failover logic decides).
      if (n.role === 'primary' && n.runId !== '') {
        n.health = 'untrusted';
        detail.push('primary restarted: untrusted');
      } else if (n.health !== 'ok' && n.role === 'replica') {
        n.health = 'ok';
      }
      n.runId = r.runId;
      changed = true;
    }
    return ok(changed, detail.join(', ') || `node ${n.id} known`);
  }
  const node: NodeInfo = {
    id: r.id,
    host: r.host,
    port: r.port,
    busPort: r.busPort,
    role: 'replica',
    shard: '',
    health: 'ok',
    runId: r.runId,
    priority: r.priority,
  };
  if (findNodeByAddress(c, r.host, r.port)) return fail(`a node already has address ${r.host}:${r.port}`);
  if (r.role === 'replica' && r.primary !== null) {
    const p = findNodeByAddress(c, r.primary.host, r.primary.port);
    if (!p) return fail(`TRYAGAIN the primary ${r.primary.host}:${r.primary.port} of this replica is not registered yet`);
    joinShard(c, node, findShard(c, p.shard)!);
    return ok(true, `node ${r.id} joined ${p.shard} as ${node.role}`);
  }
  if (r.shard !== '') {
    if (!validId(r.shard)) return fail(`invalid shard id '${r.shard}'`);
    const s = findShard(c, r.shard) ?? createShard(c, r.shard, null);
    joinShard(c, node, s);
    return ok(true, `node ${r.id} joined ${s.id} as ${node.role}`);
  }
  const s = createShard(c, nextShardId(c), null);
  joinShard(c, node, s);
  return ok(true, `node ${r.id} is the primary of the new shard ${s.id}`);
}

/** The shard whose ranges hold `slot`. */
export function ownerOf(c: ClusterConfig, slot: number): ShardInfo | undefined {
  return c.shards.find((s) => s.slots.some(([a, b]) => slot >= a && slot <= b));
}

/** Migrations whose source no longer owns the slot, or whose target is gone, are dropped. */
function dropStaleMigrations(c: ClusterConfig): void {
  c.migrations = c.migrations.filter((m) => ownerOf(c, m.slot)?.id === m.fromShard && findShard(c, m.toShard) !== undefined);
}

function migrate(c: ClusterConfig, cmd: Extract<Command, { op: 'beginMigration' | 'endMigration' | 'cancelMigration' }>): Result {
  if (!Array.isArray(cmd.slots) || cmd.slots.some((x) => !Number.isInteger(x) || x < 0 || x >= SLOTS)) return fail('invalid slot list');
  const slots = [...new Set(cmd.slots)].sort((a, b) => a - b);
  if (cmd.op === 'cancelMigration') {
    const before = c.migrations.length;
    c.migrations = c.migrations.filter((m) => !slots.includes(m.slot));
    return ok(c.migrations.length !== before, `${before - c.migrations.length} migrations cancelled`);
  }
  const to = findShard(c, cmd.toShard);
  if (!to) return fail(`no shard ${cmd.toShard}`);
  if (cmd.op === 'beginMigration') {
    if (to.primary === null) return fail(`${to.id} has no primary`);
    const add: Migration[] = [];
    for (const slot of slots) {
      const from = ownerOf(c, slot);
      if (!from) return fail(`slot ${slot} is not assigned`);
      if (from.id === to.id) continue;
      const open = c.migrations.find((m) => m.slot === slot);
      if (open && open.toShard !== to.id) return fail(`slot ${slot} is already migrating to ${open.toShard}`);
      if (!open) add.push({ slot, fromShard: from.id, toShard: to.id });
    }
    c.migrations = [...c.migrations, ...add].sort((a, b) => a.slot - b.slot);
    return ok(add.length > 0, `${add.length} slots migrating to ${to.id}`);
  }
  // endMigration: only the source primary that streamed to the current target primary commits.
  if (to.primary !== cmd.target) return fail(`STALE the primary of ${to.id} is ${to.primary ?? 'none'}, not ${cmd.target}`);
  let moved = 0;
  for (const slot of slots) {
    const m = c.migrations.find((x) => x.slot === slot && x.toShard === to.id);
    if (!m) continue;
    const from = findShard(c, m.fromShard)!;
    if (from.primary !== cmd.by) return fail(`STALE the primary of ${from.id} is ${from.primary ?? 'none'}, not ${cmd.by}`);
    from.slots = subtractRanges(from.slots, [[slot, slot]]);
    to.slots = normaliseRanges([...to.slots, [slot, slot]]);
    c.migrations = c.migrations.filter((x) => x !== m);
    moved++;
  }
  return ok(moved > 0, `${moved} slots moved to ${to.id}`);
}

/** Returns the violated invariants (empty when the configuration is consistent). */
export function checkInvariants(c: ClusterConfig): string[] {
  const errs: string[] = [];
  const seen = new Set<string>();
  for (const n of c.nodes) {
    if (seen.has(n.id)) errs.push(`duplicate node ${n.id}`);
    seen.add(n.id);
    const s = findShard(c, n.shard);
    if (!s) errs.push(`node ${n.id} in unknown shard ${n.shard}`);
    else if (n.role === 'primary' && s.primary !== n.id) errs.push(`node ${n.id} is primary but ${s.id}'s primary is ${s.primary}`);
    else if (n.role === 'replica' && !s.replicas.includes(n.id)) errs.push(`node ${n.id} is a replica not listed in ${s.id}`);
  }
  const ranges: { a: number; b: number; shard: string }[] = [];
  for (const s of c.shards) {
    if (s.primary !== null && findNode(c, s.primary)?.shard !== s.id) errs.push(`${s.id}'s primary ${s.primary} is not a node of it`);
    for (const r of s.replicas) if (findNode(c, r)?.shard !== s.id || findNode(c, r)?.role !== 'replica') errs.push(`${s.id}'s replica ${r} is not a replica of it`);
    if (s.primary !== null && s.replicas.includes(s.primary)) errs.push(`${s.id}'s primary is also a replica`);
    for (const [a, b] of s.slots) {
      if (a > b || a < 0 || b >= SLOTS) errs.push(`${s.id} has an invalid range ${a}-${b}`);
      ranges.push({ a, b, shard: s.id });
    }
  }
  const migrating = new Set<number>();
  for (const m of c.migrations) {
    if (migrating.has(m.slot)) errs.push(`slot ${m.slot} has two migrations`);
    migrating.add(m.slot);
    if (ownerOf(c, m.slot)?.id !== m.fromShard) errs.push(`migration of slot ${m.slot} from ${m.fromShard}, which does not own it`);
    if (!findShard(c, m.toShard) || m.toShard === m.fromShard) errs.push(`migration of slot ${m.slot} to ${m.toShard}`);
  }
  ranges.sort((x, y) => x.a - y.a);
  for (let i = 1; i < ranges.length; i++) {
    const p = ranges[i - 1]!;
    const q = ranges[i]!;
    if (q.a <= p.b) errs.push(`slot range ${q.a}-${q.b} of ${q.shard} overlaps ${p.a}-${p.b} of ${p.shard}`);
  }
  return errs;
}

/** Decodes a command from a Raft entry's data (JSON); null when it is not one. */
export function decodeCommand(data: string): { rid: string; cmd: Command } | null {
  try {
    const v = JSON.parse(data) as { rid?: unknown; cmd?: { op?: unknown } };
    if (typeof v !== 'object' || v === null || typeof v.cmd !== 'object' || v.cmd === null || typeof v.cmd.op !== 'string') return null;
    return { rid: typeof v.rid === 'string' ? v.rid : '', cmd: v.cmd as Command };
  } catch {
    return null;
  }
}

export function encodeCommand(rid: string, cmd: Command): string {
  return JSON.stringify({ rid, cmd });
}

/** Parses a snapshot's data; throws on a format it does not know. */
export function decodeConfig(data: string): ClusterConfig {
  const v = JSON.parse(data) as ClusterConfig;
  if (typeof v !== 'object' || v === null || v.version !== CONFIG_VERSION) throw new Error(`unknown configuration format (version ${(v as { version?: unknown })?.version})`);
  return v;
}

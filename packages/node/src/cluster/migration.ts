/**
 * Online resharding on a node (docs/sharding.md, proto/sonic/v1/migration.proto).
 *
 * Source side (the primary of a shard the configuration migrates slots away from): one
 * gRPC stream per slot to the target shard's primary. After `Begin` it sends the slot's
 * keys (DUMP payloads with absolute expiry) in time-bounded slices, while the slot stays
 * served here: every write to the slot is forwarded, as the command the propagation
 * stream carries, after the key's value from just before its first write (the keyspace's
 * before-write hook sends any key not sent yet, as the fork-less snapshotter does), so
 * the target applies each write to the value it was made on. Once every key of a slot is
 * sent, slots are committed in batches: writes to those slots are held (the admission
 * path answers HOLD; other slots go on), `End` on each stream waits for the target to
 * have applied everything, the controllers commit the new owner (MigrationDone →
 * endMigration), and the held writes go on when that configuration arrives: they then
 * meet MOVED. The slot's keys are then deleted here (DEL propagated to this shard's
 * replicas and AOF).
 *
 * Target side: `Begin` drops what an earlier attempt left of the slot, keys are applied
 * as RESTORE … REPLACE ABSTTL and writes as themselves through `Server.call` with an
 * internal client, so they reach the target's replicas and AOF like any write. Until the
 * commit the target does not serve the slot (MOVED to the source). An import the
 * configuration drops without giving the slot to this shard is deleted.
 *
 * A crash of either side or of the controller leader leaves the migration in the
 * configuration: the (new) source primary starts the slot again from `Begin`, the
 * (new) target primary takes it; nothing is committed until a whole slot was applied by
 * the current target primary (endMigration checks both primaries).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { keyHashSlot, keyPositions, lookupCommand, lookupSubcommand, migrationPb, SLOTS, type CommandSpec } from '@sonic/protocol';
import type { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import type { BusServer } from '../replication/bus.js';
import type { Db } from '../engine/keyspace.js';
import { createDumpPayload } from '../persistence/rdb-value.js';
import type { ClusterSlots, NodeView, ShardView, Topology } from './slots.js';

/** Slots streamed at once by a source. */
const CONCURRENCY = 128;
/** Time per event-loop turn for sending keys (ms). */
const SLICE_MS = 4;
/** A batch of keys goes out at this many keys or bytes. */
const BATCH_KEYS = 128;
const BATCH_BYTES = 256 * 1024;
/** Slots finished within this window are committed together (one configuration). */
const COMMIT_DELAY_MS = 15;
/** How long the source waits for the target to acknowledge End. */
const END_TIMEOUT_MS = 5000;
/** A refused or broken slot stream is tried again after this. */
const RETRY_MS = 250;
const EMPTY = Buffer.alloc(0);
/** Keys deleted per turn once a slot has moved away (or an import is dropped). */
const DELETE_BATCH = 2000;

type Phase = 'streaming' | 'sent' | 'ending' | 'committing';

interface SourceSession {
  slot: number;
  to: ShardView;
  target: NodeView;
  stream: grpc.ClientDuplexStream<migrationPb.MigrationMessage, migrationPb.MigrationReply>;
  /** Keys whose value went out (later writes are forwarded as commands). */
  sent: Set<string>;
  /** The slot's keys when the session began, sent in order. */
  pending: string[];
  pos: number;
  phase: Phase;
  keys: number;
  bytes: number;
  startedAt: number;
  waitingDrain: boolean;
  onEnded: ((ok: boolean) => void) | null;
  dead: boolean;
}

export interface MigrationStats {
  slotsMoved: number;
  keysSent: number;
  bytesSent: number;
  keysReceived: number;
}

/** Commits slots at the controllers: resolves to an error text, or null when committed. */
export type CommitFn = (slots: number[], toShard: string, target: string) => Promise<string | null>;

export class SlotMigrator {
  readonly stats: MigrationStats = { slotsMoved: 0, keysSent: 0, bytesSent: 0, keysReceived: 0 };
  private topology: Topology | null = null;
  private readonly sessions = new Map<number, SourceSession>();
  private queue: number[] = [];
  private readonly retryAt = new Map<number, number>();
  private readonly clients = new Map<string, migrationPb.SlotMigrationClient>();
  private unhook: (() => void) | null = null;
  private unlisten: (() => void) | null = null;
  private pumpTimer: NodeJS.Timeout | null = null;
  private sendTimer: NodeJS.Immediate | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  private committing = false;
  /** Slots whose keys are to be deleted here (moved away, or a dropped import). */
  private toDelete: number[] = [];
  private deleteTimer: NodeJS.Immediate | null = null;
  /** Inbound streams by slot (target side); a newer Begin replaces an older stream. */
  private readonly inbound = new Map<number, object>();
  private readonly internal: Client;

  constructor(
    private readonly server: Server,
    private readonly myId: string,
    private readonly log: Logger,
    private readonly commit: CommitFn,
  ) {
    this.internal = new Client(server, null);
    this.internal.authenticated = true;
  }

  attach(bus: BusServer): void {
    bus.addService(migrationPb.SlotMigrationService as unknown as grpc.ServiceDefinition, {
      migrate: (call: grpc.ServerDuplexStream<migrationPb.MigrationMessage, migrationPb.MigrationReply>) => this.accept(call),
      slotKeys: (call: grpc.ServerUnaryCall<migrationPb.SlotKeysRequest, migrationPb.SlotKeysReply>, cb: grpc.sendUnaryData<migrationPb.SlotKeysReply>) =>
        cb(null, this.slotKeys(call.request.deleteStray)),
    });
  }

  get active(): number {
    return this.sessions.size + this.queue.length;
  }

  // ------------------------------------------------------------------ configuration

  /** A new topology (ClusterSlots.apply). */
  update(t: Topology, before: Topology): void {
    this.topology = t;
    // Source: migrations of this shard's slots, while this node is its primary.
    for (const [slot, s] of [...this.sessions]) {
      const to = t.amPrimary ? t.migrating.get(slot) : undefined;
      if (to !== undefined && to.id === s.to.id && to.primary?.id === s.target.id) continue;
      if (s.phase === 'committing' && t.shards[t.owner[slot]!]?.id === s.to.id) {
        this.stats.slotsMoved++;
        this.log.debug({ slot, to: s.to.id, keys: s.keys, ms: Date.now() - s.startedAt }, 'migration: slot moved');
        this.toDelete.push(slot);
      } else {
        this.log.info({ slot, to: s.to.id }, 'migration: slot stream stopped by a new configuration');
      }
      this.closeSession(s);
    }
    this.queue = t.amPrimary ? this.queue.filter((slot) => t.migrating.has(slot)) : [];
    if (t.amPrimary) {
      for (const slot of t.migrating.keys()) if (!this.sessions.has(slot) && !this.queue.includes(slot)) this.queue.push(slot);
      this.queue.sort((a, b) => a - b);
    }
    // Slots that moved away while no session of ours was open (a source restarted after
    // its commit) keep their keys until an operator looks: only our own moves delete.
    // Target: an import dropped without the slot becoming ours is deleted.
    for (const slot of before.importing.keys()) {
      if (!t.importing.has(slot) && !t.mine(slot)) {
        this.inbound.delete(slot);
        this.toDelete.push(slot);
      }
    }
    this.hooks();
    this.pump();
    this.scheduleDelete();
  }

  // ------------------------------------------------------------------ source

  private pump(): void {
    const t = this.topology;
    if (t === null || !t.amPrimary) return;
    const now = Date.now();
    let wait = Infinity;
    for (let i = 0; i < this.queue.length && this.sessions.size < CONCURRENCY; ) {
      const slot = this.queue[i]!;
      const at = this.retryAt.get(slot) ?? 0;
      const to = t.migrating.get(slot);
      if (at > now || to === undefined || to.primary === null) {
        wait = Math.min(wait, Math.max(at - now, RETRY_MS));
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(slot, to, to.primary);
    }
    if (wait !== Infinity && this.pumpTimer === null) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = null;
        this.pump();
      }, wait);
    }
  }

  private client(n: NodeView): migrationPb.SlotMigrationClient {
    const target = `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.busPort}`;
    let c = this.clients.get(target);
    if (c === undefined) {
      c = new migrationPb.SlotMigrationClient(target, grpc.credentials.createInsecure(), {
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      });
      this.clients.set(target, c);
    }
    return c;
  }

  private start(slot: number, to: ShardView, target: NodeView): void {
    const t = this.topology!;
    const stream = this.client(target).migrate();
    const keys = this.server.keyspace.dbs[0]!.slots?.keys(slot);
    const s: SourceSession = {
      slot,
      to,
      target,
      stream,
      sent: new Set(),
      pending: keys === undefined ? [] : [...keys],
      pos: 0,
      phase: 'streaming',
      keys: 0,
      bytes: 0,
      startedAt: Date.now(),
      waitingDrain: false,
      onEnded: null,
      dead: false,
    };
    this.sessions.set(slot, s);
    stream.on('data', (r: migrationPb.MigrationReply) => {
      if (r.refused) this.fail(s, `refused: ${r.refused.reason}`);
      else if (r.ended) s.onEnded?.(true);
    });
    stream.on('error', (e: grpc.ServiceError) => this.fail(s, e.message));
    stream.on('end', () => this.fail(s, 'the target closed the stream'));
    stream.on('drain', () => {
      s.waitingDrain = false;
      this.scheduleSend();
    });
    stream.write({ begin: { protocolVersion: 1, slot, source: this.myId, epoch: t.epoch, target: target.id } });
    this.hooks();
    this.scheduleSend();
  }

  /** A stream failed: the slot starts again later (unless the configuration moved on). */
  private fail(s: SourceSession, why: string): void {
    if (s.dead) return;
    this.log.info({ slot: s.slot, to: s.to.id, err: why }, 'migration: slot stream failed; retrying');
    s.onEnded?.(false);
    this.closeSession(s);
    this.retryAt.set(s.slot, Date.now() + RETRY_MS);
    if (this.topology?.migrating.has(s.slot) && this.topology.amPrimary && !this.queue.includes(s.slot)) this.queue.push(s.slot);
    this.pump();
  }

  private closeSession(s: SourceSession): void {
    s.dead = true;
    if (this.sessions.get(s.slot) === s) this.sessions.delete(s.slot);
    // Held writes go on: here (the slot stays), or to MOVED (the slot moved).
    this.slots().release([s.slot]);
    try {
      s.stream.end();
    } catch {
      // Already gone.
    }
    s.stream.cancel();
    this.hooks();
  }

  private scheduleSend(): void {
    if (this.sendTimer === null) this.sendTimer = setImmediate(() => this.sendSlice());
  }

  /** Sends pending keys of every streaming slot for up to SLICE_MS. */
  private sendSlice(): void {
    this.sendTimer = null;
    const deadline = performance.now() + SLICE_MS;
    let more = false;
    for (const s of this.sessions.values()) {
      if (s.phase !== 'streaming' || s.waitingDrain) continue;
      while (s.pos < s.pending.length && performance.now() < deadline) {
        const batch: migrationPb.MigrationKey[] = [];
        let bytes = 0;
        while (s.pos < s.pending.length && batch.length < BATCH_KEYS && bytes < BATCH_BYTES) {
          const key = s.pending[s.pos++]!;
          if (s.sent.has(key)) continue;
          const k = this.entry(key);
          s.sent.add(key);
          if (k === null) continue;
          bytes += k.payload.length + k.stringValue.length + k.key.length;
          batch.push(k);
        }
        if (batch.length > 0 && !this.write(s, { keys: { keys: batch } }, batch.length, bytes)) break;
      }
      if (s.pos < s.pending.length) {
        if (!s.waitingDrain) more = true;
        continue;
      }
      s.phase = 'sent';
      s.pending = [];
      this.scheduleCommit();
    }
    if (more) this.scheduleSend();
  }

  /** Writes to a slot stream; false when it wants a drain first. */
  private write(s: SourceSession, m: migrationPb.MigrationMessage, keys = 0, bytes = 0): boolean {
    s.keys += keys;
    s.bytes += bytes;
    this.stats.keysSent += keys;
    this.stats.bytesSent += bytes;
    const ok = s.stream.write(m);
    if (!ok) s.waitingDrain = true;
    return ok;
  }

  /** A key as it is now, or null when it does not exist (or is expired). */
  private entry(key: string): migrationPb.MigrationKey | null {
    const db = this.server.keyspace.dbs[0]!;
    const v = db.dict.get(key);
    if (v === undefined) return null;
    const at = db.expires.get(key) ?? 0;
    if (at > 0 && at <= Date.now()) return null;
    if (typeof v === 'string') return { key: Buffer.from(key, 'latin1'), payload: EMPTY, expireAt: at, isString: true, stringValue: Buffer.from(v, 'latin1') };
    return { key: Buffer.from(key, 'latin1'), payload: createDumpPayload(v), expireAt: at, isString: false, stringValue: EMPTY };
  }

  /** Before a write: the key's current value goes first if the target has not got it. */
  private beforeWrite(db: Db, key: string): void {
    if (db.id !== 0) return;
    const s = this.sessions.get(keyHashSlot(key));
    if (s === undefined || s.phase === 'committing' || s.sent.has(key)) return;
    s.sent.add(key);
    const k = this.entry(key);
    // A key that does not exist yet: the target deletes whatever it may hold.
    this.write(s, { keys: { keys: [k ?? { key: Buffer.from(key, 'latin1'), payload: EMPTY, expireAt: 0, isString: false, stringValue: EMPTY }] } }, 1, k === null ? 0 : k.payload.length + k.stringValue.length);
  }

  private beforeFlush(db: Db): void {
    if (db.id !== 0) return;
    for (const s of this.sessions.values()) {
      this.write(s, { reset: {} });
      s.sent.clear();
      s.pending = [];
      s.pos = 0;
    }
  }

  /** A write that changed the keyspace: forwarded when it is in a migrating slot. */
  private propagated(dbIndex: number, argv: readonly string[]): void {
    if (dbIndex !== 0 || this.sessions.size === 0) return;
    let spec: CommandSpec | undefined = lookupCommand(argv[0]!);
    if (spec === undefined) return;
    if (spec.subcommands !== null && argv.length > 1) spec = lookupSubcommand(spec, argv[1]!) ?? spec;
    const pos = keyPositions(spec, argv);
    if (pos.length === 0) return;
    const s = this.sessions.get(keyHashSlot(argv[pos[0]!]!));
    if (s === undefined || s.phase === 'committing') return;
    // Keys the write only read (SUNIONSTORE's sources …) go first, as they are.
    for (const i of pos) {
      const key = argv[i]!;
      if (s.sent.has(key)) continue;
      s.sent.add(key);
      const k = this.entry(key);
      if (k !== null) this.write(s, { keys: { keys: [k] } }, 1, k.payload.length + k.stringValue.length);
    }
    this.write(s, { command: { argv: argv.map((a) => Buffer.from(a, 'latin1')) } });
  }

  /** The keyspace hooks are on while this node streams slots. */
  private hooks(): void {
    const want = this.sessions.size > 0;
    if (want && this.unhook === null) {
      const ks = this.server.keyspace;
      this.unhook = ks.addWriteHooks({ beforeWrite: (db, key) => this.beforeWrite(db, key), beforeFlush: (db) => this.beforeFlush(db) });
      this.unlisten = ks.onPropagate((db, argv) => this.propagated(db, argv));
    } else if (!want && this.unhook !== null) {
      this.unhook();
      this.unlisten?.();
      this.unhook = null;
      this.unlisten = null;
    }
  }

  // ------------------------------------------------------------------ commit

  private scheduleCommit(): void {
    if (this.commitTimer === null && !this.committing) this.commitTimer = setTimeout(() => void this.commitReady(), COMMIT_DELAY_MS);
  }

  /** Hold the slots' writes, end their streams, have the controllers commit the new owners. */
  private async commitReady(): Promise<void> {
    this.commitTimer = null;
    const ready = [...this.sessions.values()].filter((s) => s.phase === 'sent');
    if (ready.length === 0 || this.committing) return;
    this.committing = true;
    const t0 = Date.now();
    try {
      // From here writes to these slots wait (Server.holdClient); those made before went
      // down the streams ahead of End.
      this.slots().hold(ready.map((s) => s.slot));
      const ended = await Promise.all(
        ready.map(
          (s) =>
            new Promise<boolean>((resolve) => {
              if (s.dead) return resolve(false);
              s.phase = 'ending';
              const timer = setTimeout(() => resolve(false), END_TIMEOUT_MS);
              s.onEnded = (ok) => {
                clearTimeout(timer);
                s.onEnded = null;
                resolve(ok);
              };
              s.stream.write({ end: { keys: s.keys } });
            }),
        ),
      );
      const done = ready.filter((s, i) => ended[i] && !s.dead);
      for (const s of ready) if (!done.includes(s) && !s.dead) this.fail(s, 'no end acknowledgement from the target');
      const tEnded = Date.now();
      // One commit per target.
      const groups = new Map<string, SourceSession[]>();
      for (const s of done) groups.set(`${s.to.id}\0${s.target.id}`, [...(groups.get(`${s.to.id}\0${s.target.id}`) ?? []), s]);
      await Promise.all([...groups.values()].map((list) => this.commitGroup(list, t0, tEnded)));
    } finally {
      this.committing = false;
      if ([...this.sessions.values()].some((s) => s.phase === 'sent')) this.scheduleCommit();
    }
  }

  /**
   * Asks the controllers to commit a group until they answer. A refusal (a primary
   * changed) releases the writes and streams the slots again; an unknown outcome (no
   * controller answered) is asked again, the writes still held, since the slots may
   * have moved already (endMigration is idempotent). The writes of committed slots are
   * released when the configuration saying so arrives (update).
   */
  private async commitGroup(list: SourceSession[], t0: number, tEnded: number): Promise<void> {
    for (const s of list) s.phase = 'committing';
    for (;;) {
      if (list.every((s) => s.dead)) return;
      let err: string | null;
      try {
        err = await this.commit(
          list.map((s) => s.slot),
          list[0]!.to.id,
          list[0]!.target.id,
        );
      } catch (e) {
        this.log.warn({ slots: list.length, to: list[0]!.to.id, err: (e as Error).message }, 'migration: no controller answered the commit; asking again');
        await new Promise((r) => setTimeout(r, RETRY_MS));
        continue;
      }
      if (err !== null) {
        this.log.warn({ slots: list.length, to: list[0]!.to.id, err }, 'migration: the controllers did not commit; streaming the slots again');
        for (const s of list) this.fail(s, err);
      } else {
        const keys = list.reduce((n, s) => n + s.keys, 0);
        const streamMs = t0 - Math.min(...list.map((s) => s.startedAt));
        this.log.info({ slots: list.length, keys, to: list[0]!.to.id, streamMs, endMs: tEnded - t0, commitMs: Date.now() - tEnded }, 'migration: slots committed to their new shard');
      }
      return;
    }
  }

  private slots(): ClusterSlots {
    return this.server.clusterSlots!;
  }

  // ------------------------------------------------------------------ cleanup

  private scheduleDelete(): void {
    if (this.toDelete.length > 0 && this.deleteTimer === null) this.deleteTimer = setImmediate(() => this.deleteSlice());
  }

  /** Deletes keys of slots this shard no longer serves (DEL to its replicas and AOF). */
  private deleteSlice(): void {
    this.deleteTimer = null;
    const t = this.topology;
    const db = this.server.keyspace.dbs[0]!;
    let budget = DELETE_BATCH;
    while (this.toDelete.length > 0 && budget > 0) {
      const slot = this.toDelete[0]!;
      // Served here again (or importing again) before the clean-up reached it: keep.
      if (t === null || t.mine(slot) || t.importing.has(slot) || !t.amPrimary) {
        this.toDelete.shift();
        continue;
      }
      const keys = db.slots?.keys(slot);
      if (keys === undefined || keys.size === 0) {
        this.toDelete.shift();
        continue;
      }
      for (const key of [...keys].slice(0, budget)) {
        if (db.delete(key)) this.server.keyspace.propagate(0, ['DEL', key]);
        budget--;
      }
    }
    this.scheduleDelete();
  }

  /**
   * Key counts for `sonic cluster` (SlotMigration/SlotKeys). Stray: keys held in slots
   * this node's shard neither owns nor imports, by the configuration it holds; nothing
   * routes clients to them (MOVED). A crash between a commit and the source's clean-up
   * leaves them (`check` lists them); with `del`, a primary deletes them as it deletes a
   * moved slot (`fix`). Importing: keys received so far of the slots coming in.
   */
  slotKeys(del: boolean): migrationPb.SlotKeysReply {
    const t = this.topology;
    const index = this.server.keyspace.dbs[0]!.slots;
    const out: migrationPb.SlotKeysReply = { epoch: t?.epoch ?? 0, primary: t?.amPrimary ?? false, stray: [], importing: [], deleting: 0 };
    if (t === null || t.epoch === 0 || index === null || index === undefined) return out;
    for (const slot of t.importing.keys()) out.importing.push({ slot, keys: index.count(slot), cleaning: false });
    const queued = new Set(this.toDelete);
    for (let slot = 0; slot < SLOTS; slot++) {
      const keys = index.count(slot);
      if (keys === 0 || t.mine(slot) || t.importing.has(slot)) continue;
      const cleaning = queued.has(slot) && t.amPrimary;
      out.stray.push({ slot, keys, cleaning });
      if (del && t.amPrimary && !cleaning) {
        this.toDelete.push(slot);
        out.deleting += keys;
      }
    }
    if (out.deleting > 0) {
      this.log.warn({ slots: out.stray.length, keys: out.deleting }, 'migration: deleting keys of slots this shard does not serve (sonic cluster fix)');
      this.scheduleDelete();
    }
    return out;
  }

  // ------------------------------------------------------------------ target

  private accept(call: grpc.ServerDuplexStream<migrationPb.MigrationMessage, migrationPb.MigrationReply>): void {
    const token = {};
    let slot = -1;
    let keys = 0;
    const refuse = (reason: string) => {
      call.write({ refused: { reason } });
      call.end();
    };
    call.on('error', () => {});
    call.on('data', (m: migrationPb.MigrationMessage) => {
      if (m.begin) {
        const t = this.topology;
        const b = m.begin;
        const from = t?.importing.get(b.slot);
        if (t === null || !t.amPrimary || from === undefined) return refuse(`slot ${b.slot} is not importing here`);
        if (from.primary?.id !== b.source || b.target !== this.myId) return refuse(`slot ${b.slot}: ${b.source} is not the source primary this node knows (${from.primary?.id ?? 'none'})`);
        slot = b.slot;
        this.inbound.set(slot, token);
        const dropped = this.dropSlot(slot);
        call.write({ started: { dropped } });
        return;
      }
      if (slot < 0 || this.inbound.get(slot) !== token) return refuse('no Begin on this stream, or a newer stream took the slot');
      if (m.keys) {
        for (const k of m.keys.keys) {
          keys++;
          this.stats.keysReceived++;
          this.restore(k);
        }
      } else if (m.command) {
        this.apply(m.command.argv.map((a) => a.toString('latin1')));
      } else if (m.reset) {
        this.dropSlot(slot);
      } else if (m.end) {
        void this.synced().then(() => call.write({ ended: { keys } }));
      }
    });
    call.on('end', () => call.end());
  }

  private restore(k: migrationPb.MigrationKey): void {
    const key = k.key.toString('latin1');
    if ((!k.isString && k.payload.length === 0) || (k.expireAt > 0 && k.expireAt <= Date.now())) {
      this.apply(['DEL', key]);
      return;
    }
    if (k.isString) {
      this.apply(k.expireAt > 0 ? ['SET', key, k.stringValue.toString('latin1'), 'PXAT', String(k.expireAt)] : ['SET', key, k.stringValue.toString('latin1')]);
      return;
    }
    this.apply(['RESTORE', key, String(k.expireAt), k.payload.toString('latin1'), 'REPLACE', 'ABSTTL']);
  }

  /** Runs a write as an internal client: replicated and written to the AOF like any other. */
  private apply(argv: string[]): void {
    let spec = lookupCommand(argv[0]!);
    if (spec === undefined) {
      this.log.warn({ command: argv[0] }, 'migration: unknown command from the source');
      return;
    }
    if (spec.subcommands !== null && argv.length > 1) spec = lookupSubcommand(spec, argv[1]!) ?? spec;
    const c = this.internal;
    this.server.call(c, argv, spec);
    if (c.reply.errors > 0 && c.reply.lastError !== '') {
      this.log.warn({ command: spec.name, err: c.reply.lastError }, 'migration: a forwarded write failed on the target');
      c.reply.errors = 0;
      c.reply.lastError = '';
    }
    c.reply.discard();
  }

  /** Deletes this node's keys of a slot (an import starting over); returns how many. */
  private dropSlot(slot: number): number {
    const keys = this.server.keyspace.dbs[0]!.slots?.keys(slot);
    if (keys === undefined) return 0;
    const list = [...keys];
    for (const key of list) this.apply(['DEL', key]);
    return list.length;
  }

  /** In repl-sync-mode sync, until a replica of this node holds what was applied (bounded). */
  private async synced(): Promise<void> {
    const repl = this.server.replication;
    const cfg = this.server.config;
    if (repl === null || cfg.get('repl-sync-mode') !== 'sync') return;
    const target = repl.offset;
    const deadline = Date.now() + cfg.int('repl-sync-timeout');
    while (Date.now() < deadline) {
      let online = 0;
      for (const r of repl.replicas) {
        if (r.state !== 'online') continue;
        online++;
        if (r.ackOffset >= target) return;
      }
      if (online === 0) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  close(): void {
    for (const s of [...this.sessions.values()]) this.closeSession(s);
    for (const t of [this.pumpTimer, this.commitTimer]) if (t) clearTimeout(t);
    if (this.sendTimer) clearImmediate(this.sendTimer);
    if (this.deleteTimer) clearImmediate(this.deleteTimer);
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

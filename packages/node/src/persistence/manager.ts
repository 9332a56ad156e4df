/**
 * The node's persistence: RDB files (SAVE, BGSAVE, save rules, loading at start), the
 * AOF (aof.ts), the state INFO persistence reports, and the two admission rules it owns:
 * `LOADING` while the start-up load runs, `MISCONF` while the disk refuses writes.
 *
 * Files live in the working directory (`dir`; the node chdir()s there at start, as
 * redis-server does). Every RDB is written to `temp-<pid>.rdb`, fsynced, renamed over
 * `dbfilename`, and the directory fsynced: a crash leaves the previous file whole.
 */
import * as fs from 'node:fs';
import { Err, lookupCommand, lookupSubcommand, type CommandSpec } from '@sonic/protocol';
import type { Server } from '../server/server.js';
import { Client } from '../server/client.js';
import { HANDLERS } from '../commands/index.js';
import { startSnapshot, saveSnapshotSync, type SnapshotHandle } from './snapshot.js';
import { RdbFileLoader, type RdbLoadStats } from './rdb-file.js';
import { Aof, errnoText, fsyncAsync, fsyncDir, fsyncDirAsync, writeAll, writeAllAsync } from './aof.js';

export const MISCONF_RDB =
  "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

function cwd(): string {
  try {
    return process.cwd();
  } catch {
    return '(removed directory)';
  }
}

/** Logs a progress line every this many ms during long loads and saves. */
const PROGRESS_EVERY_MS = 1000;

/**
 * The replication position an RDB carries (aux fields repl-id, repl-offset,
 * repl-stream-db, as Redis 4+ writes them): the data in the file is the replication
 * stream `replid` up to `offset`, whose last SELECT chose `streamDb`.
 */
export interface ReplSaveInfo {
  replid: string;
  offset: number;
  streamDb: number;
}

/** Reads the replication position from an RDB's aux fields, or null when absent or invalid. */
export function replInfoFromAux(aux: Record<string, string>): ReplSaveInfo | null {
  const id = aux['repl-id'];
  const off = aux['repl-offset'];
  const db = aux['repl-stream-db'];
  if (id === undefined || off === undefined || !/^[0-9a-f]{40}$/.test(id) || !/^\d+$/.test(off)) return null;
  return { replid: id, offset: Number(off), streamDb: db !== undefined && /^\d+$/.test(db) ? Number(db) : -1 };
}

export class Persistence {
  bgsave: { snap: SnapshotHandle; startedAt: number; dirtyAtStart: number; abandoned: boolean } | null = null;
  /** The replication position of the RDB loaded at start (repl-* aux fields), for replication to resume from. */
  loadedReplInfo: ReplSaveInfo | null = null;
  bgsaveScheduled = false;
  lastBgsaveStatus: 'ok' | 'err' = 'ok';
  lastBgsaveError = '';
  lastBgsaveSec = -1;
  private lastBgsaveTry = 0;
  rdbSaves = 0;
  lastLoad = { keys: 0, expired: 0 };
  loading: { startedAt: number; totalBytes: number; loadedBytes: number } | null = null;
  readonly aof: Aof;
  private timer: NodeJS.Timeout | null = null;
  private lastCronSec = 0;

  constructor(readonly server: Server) {
    this.aof = new Aof({ ks: server.keyspace, config: server.config, log: server.log, release: (c) => this.server.flush(c as Client, true) });
    server.config.onChange((name) => {
      if (name !== 'appendonly' || this.loading !== null) return;
      if (server.config.bool('appendonly')) this.aof.enable();
      else this.aof.disable();
    });
  }

  private get log() {
    return this.server.log;
  }

  /** Starts the periodic work (save rules, AOF writes and fsyncs): every 100 ms. */
  startCron(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.cron(), 100);
    this.timer.unref();
  }

  stopCron(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  // ------------------------------------------------------------------ admission and replies

  /** LOADING during the start-up load; MISCONF for writes (and PING) when the disk fails. */
  admissionError(spec: CommandSpec): string | null {
    if (this.loading !== null && !spec.flags.has('loading')) return Err.loading;
    if (!spec.isWrite && spec.name !== 'ping') return null;
    const cfg = this.server.config;
    if (this.lastBgsaveStatus === 'err' && cfg.bool('stop-writes-on-bgsave-error') && cfg.get('save').trim() !== '') return MISCONF_RDB;
    if (this.aof.enabled && this.aof.lastWriteStatus === 'err') return `MISCONF Errors writing to the AOF file: ${this.aof.lastWriteError}`;
    return null;
  }

  /** The reply gate (server.flush): true holds the client's replies (AOF always, until fsynced). */
  holdReplies(c: Client): boolean {
    return this.aof.gate(c);
  }

  // ------------------------------------------------------------------ RDB saving

  private rdbOptions() {
    const cfg = this.server.config;
    return { compress: cfg.bool('rdbcompression'), checksum: cfg.bool('rdbchecksum'), aux: this.replAux() };
  }

  /**
   * The repl-* aux fields of an RDB saved now (read in the same turn as the snapshot
   * starts, so they describe the same point): a replica restarted from the file continues
   * with a partial resync, as Redis does.
   */
  private replAux(): Record<string, string | number> | undefined {
    const rsi = this.server.replication?.saveInfo() ?? null;
    if (rsi === null) return undefined;
    return { 'repl-stream-db': rsi.streamDb, 'repl-id': rsi.replid, 'repl-offset': rsi.offset };
  }

  private tempName(): string {
    return `temp-${process.pid}.rdb`;
  }

  /** SAVE: a whole snapshot now, the server waits. Throws on I/O errors. */
  saveSync(): void {
    const t0 = Date.now();
    const tmp = this.tempName();
    const file = this.server.config.get('dbfilename');
    try {
      const fd = fs.openSync(tmp, 'w');
      try {
        const st = saveSnapshotSync(this.server.keyspace, { ...this.rdbOptions(), sink: (chunk) => writeAll(fd, chunk) });
        fs.fsyncSync(fd);
        this.log.info({ keys: st.keys, bytes: st.bytes, ms: Date.now() - t0 }, 'DB saved on disk');
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
      fsyncDir('.');
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.log.warn({ err: code }, `Failed opening the temp RDB file ${tmp} (in server root dir ${cwd()}) for saving: ${errnoText(code)}`);
      this.lastBgsaveStatus = 'err';
      this.lastBgsaveError = errnoText(code);
      throw err;
    }
    this.server.keyspace.dirty = 0;
    this.server.lastSave = Math.floor(Date.now() / 1000);
    this.lastBgsaveStatus = 'ok';
    this.rdbSaves++;
  }

  /** BGSAVE: starts a background snapshot into the RDB file; false if one runs already. */
  startBgsave(): boolean {
    if (this.bgsave !== null) return false;
    const tmp = `temp-bg-${process.pid}.rdb`;
    const file = this.server.config.get('dbfilename');
    const ks = this.server.keyspace;
    this.lastBgsaveTry = Date.now();
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (err) {
      this.bgsaveFailed(err as Error, tmp);
      return true;
    }
    const startedAt = Date.now();
    let lastLog = startedAt;
    const snap = startSnapshot(ks, {
      ...this.rdbOptions(),
      sink: (chunk) => writeAllAsync(fd, chunk),
      onProgress: ({ keys, bytes }) => {
        if (Date.now() - lastLog < PROGRESS_EVERY_MS) return;
        lastLog = Date.now();
        this.log.info({ keys, total: snap.keysTotal, bytes }, 'Background saving in progress');
      },
    });
    const job = { snap, startedAt, dirtyAtStart: ks.dirty, abandoned: false };
    this.bgsave = job;
    let fdOpen = true;
    const closeFd = (): void => {
      if (!fdOpen) return;
      fdOpen = false;
      fs.closeSync(fd);
    };
    this.log.info('Background saving started');
    snap.done
      .then(async (st) => {
        // fsync in the thread pool: a synchronous fsync of a large file stalled every
        // client for tens of ms at the end of each BGSAVE (Redis fsyncs in its child).
        await fsyncAsync(fd);
        closeFd();
        // SHUTDOWN's own SAVE came meanwhile: this older file must not replace it.
        if (job.abandoned) {
          fs.rmSync(tmp, { force: true });
          return;
        }
        fs.renameSync(tmp, file);
        await fsyncDirAsync('.');
        if (job.abandoned) return;
        this.bgsave = null;
        ks.dirty -= job.dirtyAtStart;
        if (ks.dirty < 0) ks.dirty = 0;
        this.server.lastSave = Math.floor(Date.now() / 1000);
        this.lastBgsaveStatus = 'ok';
        this.lastBgsaveSec = Math.round((Date.now() - startedAt) / 1000);
        this.rdbSaves++;
        this.log.info(
          { keys: st.keys, bytes: st.bytes, ms: st.durationMs, earlyWrites: st.earlyWrites, maxSliceMs: Number(st.maxSliceMs.toFixed(2)), slices: st.slices },
          'Background saving terminated with success',
        );
      })
      .catch((err: Error) => {
        try {
          closeFd();
        } catch {
          /* closed */
        }
        if (this.bgsave === job) this.bgsave = null;
        if (!job.abandoned) this.bgsaveFailed(err, tmp);
        else fs.rmSync(tmp, { force: true });
      });
    return true;
  }

  private bgsaveFailed(err: Error, tmp: string): void {
    fs.rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    this.lastBgsaveStatus = 'err';
    this.lastBgsaveError = errnoText(code);
    this.log.warn({ err: code }, `Background saving error: ${errnoText(code)} (in server root dir ${cwd()})`);
  }

  private cron(): void {
    this.aof.cron();
    const now = Date.now();
    if (this.bgsaveScheduled && this.bgsave === null) {
      this.bgsaveScheduled = false;
      this.startBgsave();
    }
    // Save rules, checked once a second.
    const sec = Math.floor(now / 1000);
    if (sec === this.lastCronSec || this.bgsave !== null || this.loading !== null) return;
    this.lastCronSec = sec;
    const parts = this.server.config.get('save').trim().split(/\s+/).filter(Boolean).map(Number);
    const dirty = this.server.keyspace.dirty;
    for (let i = 0; i + 1 < parts.length; i += 2) {
      const seconds = parts[i]!;
      const changes = parts[i + 1]!;
      if (dirty >= changes && sec - this.server.lastSave > seconds && (now - this.lastBgsaveTry > 5000 || this.lastBgsaveStatus === 'ok')) {
        this.log.info(`${changes} changes in ${seconds} seconds. Saving...`);
        this.startBgsave();
        break;
      }
    }
  }

  // ------------------------------------------------------------------ loading

  /**
   * The start-up load: the AOF when appendonly is yes (it wins, as in Redis), else the
   * RDB file. Commands get LOADING meanwhile. Throws on a corrupt file.
   */
  async loadAtStart(): Promise<void> {
    const cfg = this.server.config;
    const t0 = Date.now();
    try {
      if (cfg.bool('appendonly')) {
        if (this.aof.exists()) {
          this.loading = { startedAt: t0, totalBytes: 0, loadedBytes: 0 };
          await new Promise((r) => setImmediate(r));
          const r = this.loadAof();
          this.log.info({ commands: r.commands, keys: this.countKeys(), ms: Date.now() - t0 }, 'DB loaded from append only file');
        }
        this.aof.open();
      } else {
        const file = cfg.get('dbfilename');
        if (fs.existsSync(file)) {
          const st = await this.loadRdbFile(file);
          this.loadedReplInfo = replInfoFromAux(st.aux);
          this.log.info({ keys: st.keys, expired: st.expiredSkipped, ms: Date.now() - t0, bytes: st.bytes }, `DB loaded from disk: ${((Date.now() - t0) / 1000).toFixed(3)} seconds`);
        }
      }
    } finally {
      this.loading = null;
      this.server.keyspace.dirty = 0;
    }
    this.startCron();
  }

  private countKeys(): number {
    let n = 0;
    for (const db of this.server.keyspace.dbs) n += db.dict.size;
    return n;
  }

  private rdbSink() {
    const ks = this.server.keyspace;
    return {
      key: (db: number, key: string, value: import('../engine/values.js').Value, expireAt: number) => {
        const d = ks.dbs[db];
        if (d === undefined) throw new Error(`database ${db} out of range`);
        if (d.dict.has(key)) throw new Error(`RDB has duplicated key '${key.slice(0, 64)}' in DB ${db}`);
        d.dict.set(key, value);
        if (expireAt >= 0) d.expires.set(key, expireAt);
      },
      warn: (msg: string) => this.log.warn(msg),
    };
  }

  /** Loads an RDB file in time-bounded steps (LOADING meanwhile). */
  async loadRdbFile(file: string): Promise<RdbLoadStats> {
    const buf = fs.readFileSync(file);
    const t0 = Date.now();
    this.loading = { startedAt: t0, totalBytes: buf.length, loadedBytes: 0 };
    const loader = new RdbFileLoader(buf, this.rdbSink(), {
      checksum: this.server.config.bool('rdbchecksum'),
      maxDb: this.server.keyspace.dbs.length - 1,
    });
    let lastLog = t0;
    while (!loader.step(20)) {
      this.loading.loadedBytes = loader.pos;
      if (Date.now() - lastLog >= PROGRESS_EVERY_MS) {
        lastLog = Date.now();
        this.log.info({ loadedBytes: loader.pos, totalBytes: buf.length, keys: loader.stats.keys }, `Loading RDB: ${((loader.pos * 100) / buf.length).toFixed(1)}%`);
      }
      await new Promise((r) => setImmediate(r));
    }
    this.loading.loadedBytes = buf.length;
    this.lastLoad = { keys: loader.stats.keys, expired: loader.stats.expiredSkipped };
    return loader.stats;
  }

  private loadAof(): { commands: number } {
    const server = this.server;
    const c = new Client(server, null);
    c.authenticated = true;
    let multi: string[][] | null = null;
    const run = (argv: string[]): void => {
      let spec = lookupCommand(argv[0]!);
      if (spec === undefined) throw new Error(`Unknown command '${argv[0]}' reading the append only file`);
      if (spec.subcommands !== null && argv.length >= 2) spec = lookupSubcommand(spec, argv[1]!) ?? spec;
      const h = HANDLERS.get(spec.name);
      if (h === undefined) throw new Error(`Unknown command '${argv[0]}' reading the append only file`);
      h(c, argv);
      c.reply.discard();
    };
    const exec = (argv: string[]): void => {
      const name = argv[0]!.toLowerCase();
      if (name === 'multi') multi = [];
      else if (name === 'exec') {
        const q = multi ?? [];
        multi = null;
        for (const a of q) run(a);
      } else if (multi !== null) multi.push(argv);
      else run(argv);
    };
    const r = this.aof.load(exec, (buf, name) => {
      const loader = new RdbFileLoader(buf, this.rdbSink(), {
        checksum: this.server.config.bool('rdbchecksum'),
        skipExpired: false,
        maxDb: this.server.keyspace.dbs.length - 1,
      });
      try {
        loader.step();
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}`);
      }
      return { end: loader.stats.end, keys: loader.stats.keys };
    });
    return r;
  }

  // ------------------------------------------------------------------ shutdown

  /** Before exit: a final SAVE when save rules exist (unless NOSAVE), AOF flushed and fsynced. */
  shutdown(save: boolean | null): void {
    this.stopCron();
    if (this.bgsave !== null) {
      this.bgsave.abandoned = true;
      this.bgsave.snap.cancel('shutting down');
      this.bgsave = null;
    }
    this.aof.rewrite?.snap.cancel('shutting down');
    if (this.aof.enabled) this.aof.disable();
    const rules = this.server.config.get('save').trim() !== '';
    if (save === true || (save === null && rules)) {
      try {
        this.saveSync();
      } catch {
        /* logged */
      }
    }
  }

  // ------------------------------------------------------------------ INFO

  info(): [string, string | number][] {
    const ks = this.server.keyspace;
    const now = Date.now();
    const b = this.bgsave;
    const ld = this.loading;
    const aof = this.aof;
    const fields: [string, string | number][] = [
      ['loading', ld ? 1 : 0],
      ['async_loading', 0],
      ['current_cow_peak', 0],
      ['current_cow_size', 0],
      ['current_cow_size_age', 0],
      ['current_fork_perc', b ? ((b.snap.keysWritten * 100) / Math.max(1, b.snap.keysTotal)).toFixed(2) : '0.00'],
      ['current_save_keys_processed', b ? b.snap.keysWritten : 0],
      ['current_save_keys_total', b ? b.snap.keysTotal : 0],
    ];
    if (ld) {
      const elapsed = (now - ld.startedAt) / 1000;
      const perc = ld.totalBytes > 0 ? (ld.loadedBytes * 100) / ld.totalBytes : 0;
      const eta = ld.loadedBytes > 0 ? Math.round(((ld.totalBytes - ld.loadedBytes) * elapsed) / ld.loadedBytes) : 1;
      fields.push(
        ['loading_start_time', Math.floor(ld.startedAt / 1000)],
        ['loading_total_bytes', ld.totalBytes],
        ['loading_rdb_used_mem', 0],
        ['loading_loaded_bytes', ld.loadedBytes],
        ['loading_loaded_perc', perc.toFixed(2)],
        ['loading_eta_seconds', eta],
      );
    }
    fields.push(
      ['rdb_changes_since_last_save', ks.dirty],
      ['rdb_bgsave_in_progress', b ? 1 : 0],
      ['rdb_last_save_time', this.server.lastSave],
      ['rdb_last_bgsave_status', this.lastBgsaveStatus],
      ['rdb_last_bgsave_time_sec', this.lastBgsaveSec],
      ['rdb_current_bgsave_time_sec', b ? Math.round((now - b.startedAt) / 1000) : -1],
      ['rdb_saves', this.rdbSaves],
      ['rdb_last_cow_size', 0],
      ['rdb_last_load_keys_expired', this.lastLoad.expired],
      ['rdb_last_load_keys_loaded', this.lastLoad.keys],
      ['aof_enabled', aof.enabled || this.server.config.bool('appendonly') ? 1 : 0],
      ['aof_rewrite_in_progress', aof.rewrite ? 1 : 0],
      ['aof_rewrite_scheduled', aof.rewriteScheduled ? 1 : 0],
      ['aof_last_rewrite_time_sec', aof.lastRewriteSec],
      ['aof_current_rewrite_time_sec', aof.rewrite ? Math.round((now - aof.rewrite.startedAt) / 1000) : -1],
      ['aof_last_bgrewrite_status', aof.lastRewriteStatus],
      ['aof_rewrites', aof.rewrites],
      ['aof_rewrites_consecutive_failures', aof.rewriteFailures],
      ['aof_last_write_status', aof.lastWriteStatus],
      ['aof_last_cow_size', 0],
      ['module_fork_in_progress', 0],
      ['module_fork_last_cow_size', 0],
    );
    if (aof.enabled) {
      fields.push(
        ['aof_current_size', aof.currentSize],
        ['aof_base_size', aof.baseSize],
        ['aof_pending_rewrite', aof.rewriteScheduled ? 1 : 0],
        ['aof_buffer_length', aof.appended - aof.written],
        ['aof_pending_bio_fsync', aof.written > aof.synced ? 1 : 0],
        ['aof_delayed_fsync', aof.delayedFsync],
      );
    }
    return fields;
  }
}

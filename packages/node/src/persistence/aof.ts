/**
 * The append-only file, in Redis 7's multi-part layout:
 *
 *   <dir>/<appenddirname>/
 *     appendonly.aof.<n>.base.rdb   (or .base.aof without aof-use-rdb-preamble)
 *     appendonly.aof.<m>.incr.aof   RESP commands since that base
 *     appendonly.aof.manifest       "file <name> seq <n> type b|i|h" lines
 *
 * Writes come from the keyspace's propagation stream (a SELECT when the database
 * changes; MULTI/EXEC as emitted). They are written to the file (write(2), page cache)
 * before any reply goes out (the server's reply gate); with `appendfsync always` a
 * client's replies are held until an fdatasync covering its writes finished (group
 * commit: one fsync in flight, covering everything written before it started); with
 * `everysec` an fdatasync runs once a second; with `no` the OS decides.
 *
 * A rewrite (BGREWRITEAOF, auto rewrite, enabling AOF) opens the next incr file first,
 * then writes a new base with the fork-less snapshotter as of that same instant, then
 * switches the manifest to (new base + incr files opened since) and deletes the rest.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PROPAGATE_AOF, type Keyspace } from '../engine/keyspace.js';
import { startSnapshot, saveSnapshotSync, type SnapshotHandle } from './snapshot.js';
import { RdbFileLoader } from './rdb-file.js';

export interface ManifestEntry {
  name: string;
  seq: number;
  type: 'b' | 'i' | 'h';
}

export function parseManifest(text: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    const kv = new Map<string, string>();
    for (let i = 0; i + 1 < parts.length; i += 2) kv.set(parts[i]!, parts[i + 1]!);
    const name = kv.get('file');
    const seq = Number(kv.get('seq'));
    const type = kv.get('type');
    if (!name || !Number.isInteger(seq) || (type !== 'b' && type !== 'i' && type !== 'h')) throw new Error(`Invalid AOF manifest file format (line ${lineNo}: '${line}')`);
    out.push({ name, seq, type });
  }
  return out;
}

export function formatManifest(entries: ManifestEntry[]): string {
  return entries.map((e) => `file ${e.name} seq ${e.seq} type ${e.type}\n`).join('');
}

/** A RESP command stream parse result. */
export interface AofParseResult {
  /** Offset after the last complete command (outside a MULTI). */
  validEnd: number;
  /** 'ok': clean end; 'truncated': the tail is an incomplete command/transaction; 'corrupt': bad bytes at `errorOffset`. */
  status: 'ok' | 'truncated' | 'corrupt';
  errorOffset: number;
  error: string;
  commands: number;
}

/**
 * Walks RESP commands in `buf` from `start`, calling `exec` for each (transactions are
 * handed over at EXEC, so a torn MULTI block is never half applied).
 */
export function parseAofCommands(buf: Buffer, start: number, exec: ((argv: string[]) => void) | null): AofParseResult {
  let p = start;
  let validEnd = start;
  let commands = 0;
  let multi: string[][] | null = null;
  const n = buf.length;
  const readLine = (): string | null => {
    const e = buf.indexOf(13, p);
    if (e < 0 || e + 1 >= n) return null;
    if (buf[e + 1] !== 10) throw new AofCorrupt(p, 'expected CRLF');
    const s = buf.latin1Slice(p, e);
    p = e + 2;
    return s;
  };
  try {
    while (p < n) {
      const cmdStart = p;
      if (buf[p] === 0x23) {
        // "#TS:..." annotation line (aof-timestamp-enabled)
        const l = readLine();
        if (l === null) return { validEnd, status: 'truncated', errorOffset: cmdStart, error: 'truncated annotation', commands };
        if (multi === null) validEnd = p;
        continue;
      }
      if (buf[p] !== 0x2a) throw new AofCorrupt(p, `expected '*', got byte 0x${buf[p]!.toString(16)}`);
      p++;
      const cl = readLine();
      if (cl === null) return { validEnd, status: 'truncated', errorOffset: cmdStart, error: 'truncated command header', commands };
      const argc = Number(cl);
      if (!/^\d+$/.test(cl) || argc < 1) throw new AofCorrupt(cmdStart, `bad argument count '${cl}'`);
      const argv: string[] = new Array(argc);
      for (let i = 0; i < argc; i++) {
        if (p >= n) return { validEnd, status: 'truncated', errorOffset: cmdStart, error: 'truncated command', commands };
        if (buf[p] !== 0x24) throw new AofCorrupt(p, `expected '$', got byte 0x${buf[p]!.toString(16)}`);
        const at = p;
        p++;
        const ll = readLine();
        if (ll === null) return { validEnd, status: 'truncated', errorOffset: cmdStart, error: 'truncated bulk header', commands };
        if (!/^\d+$/.test(ll)) throw new AofCorrupt(at, `bad bulk length '${ll}'`);
        const len = Number(ll);
        if (p + len + 2 > n) return { validEnd, status: 'truncated', errorOffset: cmdStart, error: 'truncated bulk', commands };
        if (buf[p + len] !== 13 || buf[p + len + 1] !== 10) throw new AofCorrupt(p + len, 'bulk not followed by CRLF');
        argv[i] = buf.latin1Slice(p, p + len);
        p += len + 2;
      }
      commands++;
      const name = argv[0]!.toLowerCase();
      if (name === 'multi') {
        if (multi !== null) throw new AofCorrupt(cmdStart, 'nested MULTI');
        multi = [];
      } else if (name === 'exec') {
        if (multi === null) throw new AofCorrupt(cmdStart, 'EXEC without MULTI');
        if (exec) {
          exec(['MULTI']);
          for (const a of multi) exec(a);
          exec(['EXEC']);
        }
        multi = null;
        validEnd = p;
      } else if (multi !== null) multi.push(argv);
      else {
        if (exec) exec(argv);
        validEnd = p;
      }
    }
  } catch (e) {
    if (e instanceof AofCorrupt) return { validEnd, status: 'corrupt', errorOffset: e.offset, error: e.message, commands };
    throw e;
  }
  if (multi !== null) return { validEnd, status: 'truncated', errorOffset: validEnd, error: 'MULTI without EXEC at the end of the file', commands };
  return { validEnd, status: 'ok', errorOffset: -1, error: '', commands };
}

class AofCorrupt extends Error {
  constructor(
    readonly offset: number,
    msg: string,
  ) {
    super(msg);
  }
}

export class AofLoadError extends Error {}

export interface AofConfig {
  get(name: string): string;
  int(name: string): number;
  bool(name: string): boolean;
}

/** Everything the AOF needs from the node. */
export interface AofHost {
  ks: Keyspace;
  config: AofConfig;
  log: Logger;
  /** Flushes a held client's replies (bypassing the gate). */
  release(client: unknown): void;
}

export class Aof {
  readonly dirName: string;
  readonly baseName: string;
  private manifest: ManifestEntry[] = [];
  private fd = -1;
  private curDb = -1;
  private pending: string[] = [];
  private pendingLen = 0;
  /** Bytes appended (to the buffer), written (to the fd), and covered by a finished fdatasync. */
  appended = 0;
  written = 0;
  synced = 0;
  private fsyncInFlight = false;
  private readonly held = new Map<unknown, number>();
  private unsubscribe: (() => void) | null = null;
  lastWriteStatus: 'ok' | 'err' = 'ok';
  lastWriteError = '';
  rewrite: { snap: SnapshotHandle; startedAt: number } | null = null;
  rewriteScheduled = false;
  lastRewriteStatus: 'ok' | 'err' = 'ok';
  lastRewriteSec = -1;
  rewrites = 0;
  rewriteFailures = 0;
  /** Size of the AOF (base + incr files) now, and right after the last rewrite (or load). */
  currentSize = 0;
  baseSize = 0;
  delayedFsync = 0;
  private lastFsyncAt = Date.now();

  constructor(readonly host: AofHost) {
    this.dirName = host.config.get('appenddirname');
    this.baseName = host.config.get('appendfilename');
  }

  get manifestPath(): string {
    return join(this.dirName, `${this.baseName}.manifest`);
  }

  get enabled(): boolean {
    return this.fd >= 0;
  }

  /** True when an AOF exists to load at start (a manifest, or a Redis < 7 single file). */
  exists(): boolean {
    return fs.existsSync(this.manifestPath) || fs.existsSync(this.baseName);
  }

  // ------------------------------------------------------------------ loading

  /**
   * Loads the AOF files in manifest order. `exec` runs one command (db switching by
   * SELECT is the executor's business). A torn tail of the last file is cut when
   * aof-load-truncated is yes.
   */
  load(exec: (argv: string[]) => void, loadRdb: (buf: Buffer, file: string) => { end: number; keys: number }): { commands: number; keys: number } {
    const log = this.host.log;
    let files: ManifestEntry[];
    if (fs.existsSync(this.manifestPath)) {
      files = parseManifest(fs.readFileSync(this.manifestPath, 'latin1')).filter((e) => e.type !== 'h');
      files.sort((a, b) => (a.type === b.type ? a.seq - b.seq : a.type === 'b' ? -1 : 1));
      if (files.filter((f) => f.type === 'b').length > 1) throw new AofLoadError('Found duplicate base file information in the AOF manifest');
    } else {
      // A Redis < 7 single-file AOF in dir: load it as a base.
      files = [{ name: this.baseName, seq: 0, type: 'b' }];
    }
    let commands = 0;
    let keys = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const path = f.seq === 0 ? f.name : join(this.dirName, f.name);
      if (!fs.existsSync(path)) throw new AofLoadError(`The AOF file ${f.name} doesn't exist`);
      const buf = fs.readFileSync(path);
      const last = i === files.length - 1;
      let start = 0;
      if (buf.length >= 5 && buf.latin1Slice(0, 5) === 'REDIS') {
        const r = loadRdb(buf, f.name);
        start = r.end;
        keys += r.keys;
        log.info({ file: f.name }, 'Reading RDB base file on AOF loading...');
      }
      const r = parseAofCommands(buf, start, exec);
      commands += r.commands;
      if (r.status === 'corrupt') {
        throw new AofLoadError(
          `Bad file format reading the append only file ${f.name} at offset ${r.errorOffset}: ${r.error}. Make a backup of your AOF file, then use 'sonic check-aof --fix ${f.name}'`,
        );
      }
      if (r.status === 'truncated') {
        if (!last) throw new AofLoadError(`Unexpected end of file in ${f.name} at offset ${r.errorOffset} (it is not the last AOF file): ${r.error}`);
        if (!this.host.config.bool('aof-load-truncated')) {
          throw new AofLoadError(
            `Unexpected end of file reading the append only file ${f.name} at offset ${r.errorOffset}. You can: 1) Make a backup of your AOF file, then use 'sonic check-aof --fix <filename>'. 2) Alternatively change the 'aof-load-truncated' configuration option to 'yes' and restart the server.`,
          );
        }
        log.warn({ file: f.name, offset: r.validEnd, dropped: buf.length - r.validEnd }, `!!! Warning: short read while loading the AOF file ${f.name}!!! AOF loaded anyway because aof-load-truncated is enabled; truncating it to ${r.validEnd} bytes`);
        fs.truncateSync(path, r.validEnd);
      }
    }
    return { commands, keys };
  }

  // ------------------------------------------------------------------ on / off

  /** Opens the AOF for appending after a load (creating the layout when there is none). */
  open(): void {
    fs.mkdirSync(this.dirName, { recursive: true });
    if (fs.existsSync(this.manifestPath)) {
      this.manifest = parseManifest(fs.readFileSync(this.manifestPath, 'latin1'));
      let incr = this.manifest.filter((e) => e.type === 'i').at(-1);
      if (incr === undefined) {
        incr = { name: this.incrName(this.nextSeq('i')), seq: this.nextSeq('i'), type: 'i' };
        this.manifest.push(incr);
        this.writeManifest(this.manifest);
      }
      this.openIncr(incr.name);
      this.currentSize = this.sizeOf(this.manifest);
      this.baseSize = this.currentSize;
      this.subscribe();
      return;
    }
    // No multi-part AOF yet: the base is the dataset now (loaded from a Redis < 7 AOF or empty).
    const baseSeq = 1;
    const base = this.writeBaseSync(baseSeq);
    const incr: ManifestEntry = { name: this.incrName(1), seq: 1, type: 'i' };
    this.openIncr(incr.name);
    this.manifest = [base, incr];
    this.writeManifest(this.manifest);
    this.currentSize = this.baseSize = this.sizeOf(this.manifest);
    this.subscribe();
    this.host.log.info({ base: base.name }, 'Creating AOF base file on server start');
  }

  /**
   * Turns the AOF on at run time (CONFIG SET appendonly yes): the writes from now on go
   * to a new incr file, and a rewrite writes the base as of now.
   */
  enable(): void {
    if (this.enabled) return;
    fs.mkdirSync(this.dirName, { recursive: true });
    this.manifest = fs.existsSync(this.manifestPath) ? parseManifest(fs.readFileSync(this.manifestPath, 'latin1')) : [];
    const seq = this.nextSeq('i');
    const incr: ManifestEntry = { name: this.incrName(seq), seq, type: 'i' };
    this.openIncr(incr.name);
    this.manifest = [...this.manifest, incr];
    this.subscribe();
    this.startRewrite([incr]);
  }

  /** Turns the AOF off (CONFIG SET appendonly no): flush, fsync, close. */
  disable(): void {
    if (!this.enabled) return;
    this.rewrite?.snap.cancel('AOF turned off');
    // A rewrite past its snapshot (fsyncing its base) sees this and drops its file.
    this.rewrite = null;
    this.flushWrites();
    try {
      fs.fsyncSync(this.fd);
    } catch {
      /* reported by lastWriteStatus */
    }
    this.unsubscribe?.();
    this.unsubscribe = null;
    fs.closeSync(this.fd);
    this.fd = -1;
    this.releaseAll();
  }

  private subscribe(): void {
    // A script's redis.set_repl may keep a change out of the AOF.
    this.unsubscribe = this.host.ks.onPropagate((db, argv, targets) => {
      if ((targets & PROPAGATE_AOF) !== 0) this.append(db, argv);
    });
  }

  private openIncr(name: string): void {
    const fd = fs.openSync(join(this.dirName, name), 'a');
    if (this.fd >= 0) {
      this.flushWrites();
      try {
        fs.fsyncSync(this.fd);
      } catch {
        /* the rewrite's base covers it */
      }
      fs.closeSync(this.fd);
    }
    this.fd = fd;
    this.curDb = -1;
  }

  private incrName(seq: number): string {
    return `${this.baseName}.${seq}.incr.aof`;
  }

  private nextSeq(type: 'b' | 'i'): number {
    let max = 0;
    for (const e of this.manifest) if ((e.type === type || (e.type === 'h' && e.name.includes(type === 'b' ? '.base.' : '.incr.'))) && e.seq > max) max = e.seq;
    return max + 1;
  }

  private sizeOf(entries: ManifestEntry[]): number {
    let n = 0;
    for (const e of entries) {
      if (e.type === 'h') continue;
      try {
        n += fs.statSync(join(this.dirName, e.name)).size;
      } catch {
        /* missing: counted as 0 */
      }
    }
    return n;
  }

  /** Writes the manifest atomically (temp file, fsync, rename, fsync of the directory). */
  private writeManifest(entries: ManifestEntry[]): void {
    const tmp = join(this.dirName, `temp-${this.baseName}.manifest`);
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, formatManifest(entries));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.manifestPath);
    fsyncDir(this.dirName);
  }

  private writeBaseSync(seq: number): ManifestEntry {
    const preamble = this.host.config.bool('aof-use-rdb-preamble');
    const name = `${this.baseName}.${seq}.base.${preamble ? 'rdb' : 'aof'}`;
    const tmp = join(this.dirName, `temp-rewriteaof-${process.pid}.aof`);
    const fd = fs.openSync(tmp, 'w');
    try {
      saveSnapshotSync(this.host.ks, {
        format: preamble ? 'rdb' : 'aof',
        aofBase: true,
        compress: this.host.config.bool('rdbcompression'),
        checksum: this.host.config.bool('rdbchecksum'),
        sink: (chunk) => writeAll(fd, chunk),
      });
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, join(this.dirName, name));
    return { name, seq, type: 'b' };
  }

  // ------------------------------------------------------------------ writing

  private append(db: number, argv: readonly string[]): void {
    let s = '';
    if (db !== this.curDb) {
      const d = String(db);
      s = `*2\r\n$6\r\nSELECT\r\n$${d.length}\r\n${d}\r\n`;
      this.curDb = db;
    }
    s += `*${argv.length}\r\n`;
    for (const a of argv) s += `$${a.length}\r\n${a}\r\n`;
    this.pending.push(s);
    this.pendingLen += s.length;
    this.appended += s.length;
  }

  /** write(2)s the buffered commands; on failure keeps them and reports the error. */
  flushWrites(): boolean {
    if (this.pendingLen === 0 || this.fd < 0) return true;
    const buf = Buffer.from(this.pending.length === 1 ? this.pending[0]! : this.pending.join(''), 'latin1');
    try {
      writeAll(this.fd, buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (this.lastWriteStatus === 'ok') this.host.log.error({ err: code }, 'Error writing to the AOF file');
      this.lastWriteStatus = 'err';
      this.lastWriteError = errnoText(code);
      if (this.host.config.get('appendfsync') === 'always') {
        this.host.log.fatal("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
        process.exit(1);
      }
      return false;
    }
    if (this.lastWriteStatus === 'err') this.host.log.warn('AOF write error looks solved, Redis can write again.');
    this.lastWriteStatus = 'ok';
    this.pending = [];
    this.pendingLen = 0;
    this.written += buf.length;
    this.currentSize += buf.length;
    return true;
  }

  /**
   * The reply gate: called before a client's replies go out. Writes the buffered
   * commands; under `always` holds the client until they are fsynced (returns true).
   */
  gate(client: unknown): boolean {
    if (this.fd < 0) return false;
    this.flushWrites();
    if (this.host.config.get('appendfsync') !== 'always') return false;
    if (this.synced >= this.written) return false;
    const prev = this.held.get(client) ?? 0;
    this.held.set(client, Math.max(prev, this.written));
    this.fsync();
    return true;
  }

  private fsync(): void {
    if (this.fsyncInFlight || this.fd < 0) return;
    this.fsyncInFlight = true;
    const level = this.written;
    const fd = this.fd;
    fs.fdatasync(fd, (err) => {
      this.fsyncInFlight = false;
      if (err) {
        this.host.log.error({ err: err.code }, 'Error syncing the AOF file');
        this.lastWriteStatus = 'err';
        this.lastWriteError = errnoText(err.code ?? err.message);
        if (this.host.config.get('appendfsync') === 'always') {
          this.host.log.fatal("Can't recover from AOF fsync error when the AOF fsync policy is 'always'. Exiting...");
          process.exit(1);
        }
        return;
      }
      if (fd === this.fd && level > this.synced) this.synced = level;
      this.lastFsyncAt = Date.now();
      for (const [c, target] of this.held) {
        if (target <= this.synced || fd !== this.fd) {
          this.held.delete(c);
          this.host.release(c);
        }
      }
      if (this.held.size > 0 || (this.host.config.get('appendfsync') === 'always' && this.written > this.synced)) this.fsync();
    });
  }

  private releaseAll(): void {
    const list = [...this.held.keys()];
    this.held.clear();
    for (const c of list) this.host.release(c);
  }

  /** Periodic work (every ~100 ms): write, everysec fsync, auto rewrite. */
  cron(): void {
    if (this.fd < 0) return;
    this.flushWrites();
    const policy = this.host.config.get('appendfsync');
    if (policy === 'everysec' && this.written > this.synced && Date.now() - this.lastFsyncAt >= 1000) {
      if (this.fsyncInFlight) this.delayedFsync++;
      else this.fsync();
    }
    if (this.rewriteScheduled && this.rewrite === null) {
      this.rewriteScheduled = false;
      this.startRewrite();
    }
    const pct = this.host.config.int('auto-aof-rewrite-percentage');
    const min = this.host.config.int('auto-aof-rewrite-min-size');
    if (pct > 0 && this.rewrite === null && this.currentSize > min) {
      const base = this.baseSize > 0 ? this.baseSize : 1;
      const growth = ((this.currentSize - base) * 100) / base;
      if (growth >= pct) {
        this.host.log.info({ growth: Math.round(growth) }, 'Starting automatic rewriting of AOF');
        this.startRewrite();
      }
    }
  }

  // ------------------------------------------------------------------ rewrite

  /**
   * Starts a rewrite: a new incr file takes the writes from now on, and the snapshotter
   * writes a new base as of now. `newIncr` is given when enable() opened it already.
   */
  startRewrite(newIncr?: ManifestEntry[]): boolean {
    if (this.rewrite !== null || this.fd < 0) return false;
    const log = this.host.log;
    let incrs: ManifestEntry[];
    if (newIncr) incrs = newIncr;
    else {
      const seq = this.nextSeq('i');
      const e: ManifestEntry = { name: this.incrName(seq), seq, type: 'i' };
      this.openIncr(e.name);
      this.manifest = [...this.manifest, e];
      this.writeManifest(this.manifest);
      incrs = [e];
    }
    const preamble = this.host.config.bool('aof-use-rdb-preamble');
    const baseSeq = this.nextSeq('b');
    const name = `${this.baseName}.${baseSeq}.base.${preamble ? 'rdb' : 'aof'}`;
    const tmp = join(this.dirName, `temp-rewriteaof-bg-${process.pid}.aof`);
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (err) {
      this.rewriteFailed(err as Error);
      return false;
    }
    const startedAt = Date.now();
    const snap = startSnapshot(this.host.ks, {
      format: preamble ? 'rdb' : 'aof',
      aofBase: true,
      compress: this.host.config.bool('rdbcompression'),
      checksum: this.host.config.bool('rdbchecksum'),
      sink: (chunk) => writeAllAsync(fd, chunk),
    });
    this.rewrite = { snap, startedAt };
    log.info({ base: name }, 'Background append only file rewriting started');
    snap.done.then(
      async (st) => {
        // The base's fsync in the thread pool (a synchronous one stalls every client).
        await fsyncAsync(fd);
        fs.closeSync(fd);
        // Turned off (or shut down) while the fsync ran: this rewrite is void.
        if (this.rewrite?.snap !== snap) {
          fs.rmSync(tmp, { force: true });
          return;
        }
        fs.renameSync(tmp, join(this.dirName, name));
        const keep = new Set(incrs.map((e) => e.name));
        const old = this.manifest.filter((e) => e.type !== 'h' && !keep.has(e.name));
        this.manifest = [{ name, seq: baseSeq, type: 'b' }, ...this.manifest.filter((e) => keep.has(e.name) || (e.type === 'i' && e.seq > incrs[0]!.seq))];
        this.writeManifest(this.manifest);
        if (!this.host.config.bool('aof-disable-auto-gc')) for (const e of old) fs.rmSync(join(this.dirName, e.name), { force: true });
        this.rewrite = null;
        this.rewrites++;
        this.rewriteFailures = 0;
        this.lastRewriteStatus = 'ok';
        this.lastRewriteSec = Math.round((Date.now() - startedAt) / 1000);
        this.currentSize = this.baseSize = this.sizeOf(this.manifest);
        log.info({ keys: st.keys, bytes: st.bytes, ms: st.durationMs }, 'Background AOF rewrite finished successfully');
      },
      (err: Error) => {
        try {
          fs.closeSync(fd);
        } catch {
          /* already closed */
        }
        fs.rmSync(tmp, { force: true });
        this.rewrite = null;
        this.rewriteFailed(err);
      },
    ).catch((err: Error) => {
      this.rewrite = null;
      this.rewriteFailed(err);
    });
    return true;
  }

  private rewriteFailed(err: Error): void {
    this.lastRewriteStatus = 'err';
    this.rewriteFailures++;
    this.host.log.warn({ err: err.message }, 'Background AOF rewrite failed');
  }
}

export function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

export function writeAllAsync(fd: number, buf: Buffer): Promise<void> {
  return new Promise((res, rej) => {
    const go = (off: number): void => {
      fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) rej(err);
        else if (off + n < buf.length) go(off + n);
        else res();
      });
    };
    go(0);
  });
}

/** fsync in libuv's thread pool: the event loop keeps serving clients meanwhile. */
export function fsyncAsync(fd: number): Promise<void> {
  return new Promise((res, rej) => fs.fsync(fd, (err) => (err ? rej(err) : res())));
}

/** fsyncDir without blocking the event loop (errors ignored, as fsyncDir). */
export async function fsyncDirAsync(dir: string): Promise<void> {
  let fd = -1;
  try {
    fd = await new Promise<number>((res, rej) => fs.open(dir, 'r', (err, d) => (err ? rej(err) : res(d))));
    await fsyncAsync(fd);
  } catch {
    /* not supported everywhere */
  } finally {
    if (fd >= 0) fs.close(fd, () => {});
  }
}

export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* not supported everywhere */
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'No space left on device',
  EACCES: 'Permission denied',
  ENOENT: 'No such file or directory',
  EROFS: 'Read-only file system',
  EIO: 'Input/output error',
  EDQUOT: 'Disk quota exceeded',
};

export function errnoText(code: string): string {
  return ERRNO_TEXT[code] ?? code;
}

/**
 * MULTI/EXEC and WATCH through the router. MULTI queues in the router (as Redis does in
 * the server): every queued command's keys must share one slot, else it is refused with
 * CROSSSLOT and EXEC answers EXECABORT. EXEC then runs MULTI ... EXEC on a dedicated
 * connection to the slot's primary and hands the client EXEC's reply. WATCH pins the
 * client to a dedicated connection to its keys' node until EXEC, DISCARD or UNWATCH.
 *
 * A transaction refused by a moving or failing node (its queued commands answered
 * MOVED, TRYAGAIN, CLUSTERDOWN ... and EXEC answered EXECABORT) did nothing, and runs
 * again on the new owner within the retry timeout, unless it was WATCHing: then the
 * client gets a null reply, as if a watched key had changed, and retries itself.
 * A connection lost after EXEC was written: an error for a transaction with writes
 * (its fate is unknown), a new attempt for a read-only one.
 */
import { Err, type CommandSpec } from '@sonic/protocol';
import type { Backend } from './backend.js';
import { OK, QUEUED, errorReply } from './encode.js';
import { CROSS, type Session } from './session.js';
import { WRITE_UNKNOWN } from './router.js';
import type { Handler } from './commands.js';

const CROSSSLOT = errorReply(Err.crossSlot);
const EXECABORT = errorReply(Err.execAbort);
const RETRYABLE = /^-(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|MASTERDOWN|READONLY) /;
const CONTROL = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

interface Queued {
  args: string[];
  spec: CommandSpec;
}

export class Transaction {
  queuing = false;
  dirty = false;
  private cmds: Queued[] = [];
  /** Slot of the queued commands' keys (-1: none yet). */
  private slot = -1;
  private watchConn: Backend | null = null;
  private watchSlot = -1;
  /** The WATCH connection died: EXEC must answer null (the watch cannot be kept). */
  private watchLost = false;

  constructor(private readonly s: Session) {}

  /** Commands that act on the transaction instead of being queued. */
  control(name: string): boolean {
    return CONTROL.has(name);
  }

  queue(args: string[], spec: CommandSpec): void {
    const s = this.s;
    if (spec.noMulti) return s.fail(errorReply('ERR Command not allowed inside a transaction'));
    const slot = s.slotOf(args, spec);
    if (slot === CROSS || (slot >= 0 && this.slot >= 0 && slot !== this.slot)) return s.fail(CROSSSLOT);
    if (slot >= 0) this.slot = slot;
    this.cmds.push({ args, spec });
    s.local(QUEUED);
  }

  multi(): void {
    if (this.queuing) return this.s.local(errorReply('ERR MULTI calls can not be nested'));
    this.queuing = true;
    this.dirty = false;
    this.cmds = [];
    this.slot = -1;
    this.s.local(OK);
  }

  discard(): void {
    if (!this.queuing) return this.s.local(errorReply('ERR DISCARD without MULTI'));
    this.queuing = false;
    this.cmds = [];
    this.unwatch();
    this.s.local(OK);
  }

  exec(): void {
    const s = this.s;
    if (!this.queuing) return s.local(errorReply('ERR EXEC without MULTI'));
    this.queuing = false;
    const cmds = this.cmds;
    this.cmds = [];
    if (this.dirty) {
      this.unwatch();
      return s.local(EXECABORT);
    }
    if (this.watchLost) {
      this.unwatch();
      return s.local(Buffer.from(s.proto === 3 ? '_\r\n' : '*-1\r\n'));
    }
    const entry = s.later();
    const deadline = Date.now() + s.router.opts.retryTimeoutMs;
    const slot = this.slot >= 0 ? this.slot : this.watchSlot;
    const writes = cmds.some((c) => c.spec.isWrite || c.spec.flags.has('may_replicate'));
    const answer = (reply: Buffer) => {
      entry.reply = reply;
      s.ready();
      s.router.batch();
    };
    const attempt = () => {
      if (s.closed) return;
      const watched = this.watchConn;
      let conn: Backend;
      if (watched !== null) {
        if (this.slot >= 0 && s.router.primaryFor(this.slot, s.id)?.key !== watched.addr.key) {
          this.unwatch();
          return answer(CROSSSLOT);
        }
        conn = watched;
        this.watchConn = null;
      } else {
        const node = s.router.primaryFor(slot, s.id);
        if (node === null) {
          if (Date.now() < deadline) return void setTimeout(() => void s.router.refresh().finally(attempt), 50);
          return answer(errorReply('CLUSTERDOWN Hash slot not served'));
        }
        conn = s.router.acquire(node, s.proto);
      }
      let retry = false;
      let finished = false;
      conn.onClose = () => {
        if (finished) return;
        finished = true;
        if (watched !== null) return answer(Buffer.from(s.proto === 3 ? '_\r\n' : '*-1\r\n'));
        if (exec.written && writes) {
          s.router.stats.writeUnknown++;
          return answer(WRITE_UNKNOWN);
        }
        if (Date.now() < deadline) return void setTimeout(() => void s.router.refresh().finally(attempt), 50);
        answer(errorReply('CLUSTERDOWN connection to the node lost'));
      };
      conn.internal(['MULTI'], () => {});
      for (const c of cmds) {
        conn.internal(c.args, (_r, reply) => {
          if (RETRYABLE.test(reply.latin1Slice(0, Math.min(reply.length, 16)))) retry = true;
        });
      }
      const exec = conn.internal(['EXEC'], (_r, reply) => {
        finished = true;
        conn.onClose = null;
        s.router.release(conn);
        this.watchSlot = -1;
        if (retry && watched === null && reply.latin1Slice(0, 10) === '-EXECABORT' && Date.now() < deadline) {
          s.router.stats.retries++;
          return void setTimeout(() => void s.router.refresh().finally(attempt), 50);
        }
        answer(retry && watched !== null && reply[0] === 45 ? Buffer.from(s.proto === 3 ? '_\r\n' : '*-1\r\n') : reply);
      });
    };
    attempt();
  }

  watch(args: string[], spec: CommandSpec): void {
    const s = this.s;
    if (this.queuing) return s.local(errorReply('ERR WATCH inside MULTI is not allowed'));
    const slot = s.slotOf(args, spec);
    if (slot === CROSS) return s.local(CROSSSLOT);
    const node = s.router.primaryFor(slot, s.id);
    if (node === null) return s.local(errorReply('CLUSTERDOWN Hash slot not served'));
    if (this.watchConn !== null && this.watchConn.addr.key !== node.key) return s.local(CROSSSLOT);
    if (this.watchConn === null) {
      const conn = s.router.acquire(node, s.proto);
      this.watchConn = conn;
      this.watchLost = false;
      conn.onClose = () => {
        if (this.watchConn === conn) {
          this.watchConn = null;
          this.watchLost = true;
        }
      };
    }
    this.watchSlot = slot;
    const entry = s.later();
    this.watchConn.internal(args, (_r, reply) => {
      entry.reply = reply;
      s.ready();
      s.router.batch();
    });
  }

  /** Drops the WATCH connection (UNWATCH, DISCARD, EXEC without MULTI's use of it). */
  unwatch(): void {
    this.watchLost = false;
    this.watchSlot = -1;
    const c = this.watchConn;
    if (c === null) return;
    this.watchConn = null;
    c.onClose = null;
    c.internal(['UNWATCH'], () => this.s.router.release(c));
  }

  close(): void {
    this.queuing = false;
    this.cmds = [];
    const c = this.watchConn;
    this.watchConn = null;
    if (c !== null) {
      c.onClose = null;
      c.close('client gone');
    }
  }
}

export const transactionHandlers: [string, Handler][] = [
  ['multi', (s) => s.tx.multi()],
  ['exec', (s) => s.tx.exec()],
  ['discard', (s) => s.tx.discard()],
  ['watch', (s, args, spec) => s.tx.watch(args, spec)],
  [
    'unwatch',
    (s) => {
      s.tx.unwatch();
      s.local(OK);
    },
  ],
];

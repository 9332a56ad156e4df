/**
 * One command on its way: the one object allocated per call (besides its promise). It
 * carries what routing, retries and redirects need, so no closure is made per reply.
 */
import type { CommandSpec } from '@sonic/protocol';

export type Arg = string | Buffer | Uint8Array | number;

/** Replies come back as Buffers instead of strings. */
export const F_BUFFERS = 1;
/** Reply handed back as parsed (no RESP3 → JS conversion); internal commands. */
export const F_RAW = 2;
/** Safe to send again after a connection loss whatever its flags say (internal reads). */
export const F_SAFE = 4;
/** Must not be redirected or retried (ASKING, handshake, parts of a transaction). */
export const F_NO_RETRY = 8;
/** The reply is awaited by a transaction (an error there is a value, not a rejection). */
export const F_IN_MULTI = 16;
/** A flat [field, value, ...] array (RESP2's HGETALL) becomes an object, as RESP3's map does. */
export const F_PAIRS = 32;

export class Command {
  slot = -1;
  /** Attempts after retryable failures (connection loss, TRYAGAIN, CLUSTERDOWN). */
  attempts = 0;
  redirects = 0;
  /** Redirected by ASK: send ASKING first, to `askTo`. */
  askTo: string | null = null;
  /** Pinned to an address (transactions, explicit node commands). */
  to: string | null = null;
  /** When a retry gives up (ms since epoch); 0 until the first retry. */
  deadline = 0;
  /** Replies this command takes (SUBSCRIBE ch1 ch2 is confirmed once per channel). */
  replies = 1;
  resolve!: (v: unknown) => void;
  reject!: (e: Error) => void;
  readonly promise: Promise<unknown>;

  constructor(
    /** The name as sent (upper case for generated methods). */
    readonly name: string,
    readonly args: readonly Arg[],
    readonly spec: CommandSpec | undefined,
    public flags = 0,
  ) {
    this.promise = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }

  /** A read that can be sent again when its connection died with the reply outstanding. */
  get retryable(): boolean {
    if ((this.flags & F_NO_RETRY) !== 0) return false;
    if ((this.flags & F_SAFE) !== 0) return true;
    const s = this.spec;
    return s !== undefined && s.isReadonly && !s.flags.has('blocking');
  }

  get isRead(): boolean {
    const s = this.spec;
    return s !== undefined && s.isReadonly;
  }
}

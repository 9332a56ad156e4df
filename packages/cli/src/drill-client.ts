/**
 * The clients a drill's workload uses. `router`: one plain RESP connection per worker to
 * the router (our own, so the drill knows exactly whether a command was sent and whether
 * its reply came: an error reply means the write was refused, a lost connection or a
 * timeout after sending means its outcome is unknown). `cluster`: ioredis's `Cluster`, a
 * cluster-aware client following MOVED/ASK and refreshing its slot table itself.
 */
import { Socket } from 'node:net';
import { Cluster } from 'ioredis';
import { encodeCommand, NEED_MORE, ReplyParser, RespError, type RespValue } from '@sonic/protocol';

/** Why a command did not get a reply (its outcome is unknown when `sent`). */
export class NoReplyError extends Error {
  constructor(readonly kind: string, readonly sent: boolean, message: string) {
    super(message);
  }
}

/**
 * The kind of an error as the report counts it: the first word of an error reply (for the
 * generic ERR, its words up to a colon, at most four: "ERR write outcome unknown"), or the
 * exception's code or class.
 */
export function errorKind(e: unknown): string {
  if (e instanceof NoReplyError) return e.kind;
  const err = e as { name?: string; code?: unknown; message?: string };
  if (e instanceof RespError || err.name === 'ReplyError') {
    const words = String(err.message ?? '').split(':')[0]!.split(' ');
    return (words[0] === 'ERR' ? words.slice(0, 4).join(' ') : words[0]) || 'ReplyError';
  }
  if (typeof err.code === 'string') return err.code;
  if (err.name && err.name !== 'Error') return err.name;
  return String(err.message ?? e).split(' ')[0] || 'Error';
}

/**
 * The server refused the command (an error reply), rather than no reply or an error reply
 * saying the outcome is unknown (the router's "write outcome unknown", sync mode's
 * NOREPLICAS: applied on the primary, not acknowledged by a replica).
 */
export function isRefusal(e: unknown): boolean {
  if (!(e instanceof RespError) && (e as { name?: string }).name !== 'ReplyError') return false;
  const msg = String((e as Error).message);
  return !msg.startsWith('NOREPLICAS') && !/outcome unknown/i.test(msg);
}

/**
 * One RESP connection with at most one command in flight, reconnecting on the next call
 * after a failure. A timeout drops the connection (a late reply must not answer the next
 * command).
 */
export class RespConn {
  private sock: Socket | null = null;
  private parser = new ReplyParser();
  private waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void } | null = null;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly password: string | null,
    private readonly timeoutMs: number,
  ) {}

  private drop(err: Error): void {
    this.sock?.destroy();
    this.sock = null;
    this.parser = new ReplyParser();
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = new Socket();
      const timer = setTimeout(() => {
        s.destroy();
        reject(new NoReplyError('ECONNTIMEOUT', false, `connect to ${this.host}:${this.port} timed out`));
      }, this.timeoutMs);
      s.setNoDelay(true);
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (this.sock === s) this.drop(new NoReplyError(e.code ?? 'ECONNRESET', true, e.message));
        else reject(new NoReplyError(e.code ?? 'ECONNREFUSED', false, e.message));
      });
      s.on('close', () => {
        if (this.sock === s) this.drop(new NoReplyError('CLOSED', true, `${this.host}:${this.port} closed the connection`));
      });
      s.on('data', (d: Buffer) => {
        if (this.sock !== s) return;
        this.parser.push(d);
        for (;;) {
          let v: RespValue | typeof NEED_MORE;
          try {
            v = this.parser.next();
          } catch (e) {
            this.drop(new NoReplyError('PROTOCOL', true, (e as Error).message));
            return;
          }
          if (v === NEED_MORE) return;
          const w = this.waiting;
          this.waiting = null;
          w?.resolve(v);
        }
      });
      s.connect(this.port, this.host, () => {
        clearTimeout(timer);
        this.sock = s;
        resolve();
      });
    });
  }

  /** Sends a command; resolves to its reply (error replies are thrown as RespError). */
  async call(args: string[]): Promise<RespValue> {
    if (this.sock === null) {
      await this.open();
      if (this.password !== null) {
        const r = await this.send(['AUTH', this.password]);
        if (r instanceof RespError) throw r;
      }
    }
    const r = await this.send(args);
    if (r instanceof RespError) throw r;
    return r;
  }

  private send(args: string[]): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.drop(new NoReplyError('TIMEOUT', true, `no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.waiting = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.sock!.write(encodeCommand(args));
    });
  }

  close(): void {
    this.drop(new NoReplyError('CLOSED', false, 'closed by the drill'));
  }
}

/** One command on a fresh connection (INFO, CONFIG GET to a node). */
export async function oneCommand(host: string, port: number, args: string[], password: string | null, timeoutMs = 2000): Promise<RespValue> {
  const c = new RespConn(host, port, password, timeoutMs);
  try {
    return await c.call(args);
  } finally {
    c.close();
  }
}

/** What a worker sends commands through. */
export interface DrillConn {
  set(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | null>;
  close(): void;
}

export interface ClientFactory {
  /** A connection for one worker. */
  conn(): DrillConn;
  close(): Promise<void>;
}

function text(v: RespValue): string | null {
  if (v === null) return null;
  return Buffer.isBuffer(v) ? v.toString('latin1') : String(v);
}

/** Through the router (or any single RESP endpoint): a connection per worker. */
export function routerClients(host: string, port: number, password: string | null, timeoutMs: number): ClientFactory {
  const conns = new Set<RespConn>();
  return {
    conn() {
      const c = new RespConn(host, port, password, timeoutMs);
      conns.add(c);
      return {
        set: async (k, v) => {
          await c.call(['SET', k, v]);
        },
        get: async (k) => text(await c.call(['GET', k])),
        close: () => c.close(),
      };
    },
    close: async () => {
      for (const c of conns) c.close();
    },
  };
}

/** ioredis Cluster, shared by the workers (it multiplexes), each command bounded by the op timeout. */
export function clusterClients(seeds: { host: string; port: number }[], password: string | null, timeoutMs: number): ClientFactory {
  const io = new Cluster(seeds, {
    redisOptions: { password: password ?? undefined, connectTimeout: timeoutMs, maxRetriesPerRequest: 2 },
    clusterRetryStrategy: () => 100,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 1000,
    maxRedirections: 16,
  });
  io.on('error', () => {});
  const bounded = <T>(p: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new NoReplyError('TIMEOUT', true, `no reply within ${timeoutMs} ms`)), timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  return {
    conn: () => ({
      set: async (k, v) => {
        await bounded(io.set(k, v));
      },
      get: (k) => bounded(io.get(k)),
      close: () => {},
    }),
    close: async () => {
      io.disconnect();
    },
  };
}

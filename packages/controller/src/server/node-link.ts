/**
 * RESP connections from a controller to the nodes: the probe (one connection per node:
 * PING every ping interval, INFO replication every second, as Sentinel does) and
 * one-shot commands (INFO of a failover candidate, REPLICAOF, CLIENT PAUSE).
 */
import { Socket } from 'node:net';
import { encodeCommand, NEED_MORE, oneShot, ReplyParser, RespError, type RespValue } from '@sonic/protocol';

/** Parses an INFO reply into fields. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export interface ReplInfo {
  role: 'primary' | 'replica';
  replid: string;
  offset: number;
  masterHost: string;
  masterPort: number;
  linkUp: boolean;
  priority: number;
  runId: string;
}

export function replInfoFrom(f: Record<string, string>): ReplInfo | null {
  if (f.role !== 'master' && f.role !== 'slave') return null;
  const replica = f.role === 'slave';
  return {
    role: replica ? 'replica' : 'primary',
    replid: f.master_replid ?? '',
    offset: Number(replica ? (f.slave_repl_offset ?? f.master_repl_offset) : f.master_repl_offset) || 0,
    masterHost: f.master_host ?? '',
    masterPort: Number(f.master_port ?? 0),
    linkUp: f.master_link_status === 'up',
    priority: f.slave_priority !== undefined ? Number(f.slave_priority) : 100,
    runId: f.run_id ?? '',
  };
}

export async function queryReplInfo(host: string, port: number, password: string, timeoutMs: number): Promise<ReplInfo> {
  const r = await oneShot(host, port, ['INFO', 'replication'], { password, timeoutMs });
  if (r instanceof RespError) throw new Error(r.message);
  const info = replInfoFrom(parseInfo(Buffer.isBuffer(r) ? r.toString('latin1') : String(r)));
  if (!info) throw new Error(`${host}:${port}: INFO replication has no role`);
  return info;
}

export interface ProbeEvents {
  /** A valid reply to PING (PONG, LOADING, MASTERDOWN, BUSY). */
  onAlive(): void;
  onInfo(info: ReplInfo): void;
}

/** One node's probe connection. */
export class NodeProbe {
  private sock: Socket | null = null;
  private parser = new ReplyParser();
  /** What each pending reply answers. */
  private pending: ('auth' | 'ping' | 'info')[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastInfo = 0;
  private connecting = false;
  private stopped = false;
  private pingSentAt = 0;
  lastPingSent = 0;

  constructor(
    public host: string,
    public port: number,
    private readonly password: string,
    private readonly pingMs: number,
    private readonly events: ProbeEvents,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.pingMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.sock?.destroy();
    this.sock = null;
  }

  /** The node moved: reconnect to its new address. */
  retarget(host: string, port: number): void {
    if (host === this.host && port === this.port) return;
    this.host = host;
    this.port = port;
    this.drop();
  }

  private drop(): void {
    this.sock?.destroy();
    this.sock = null;
    this.pending = [];
    this.parser = new ReplyParser();
    this.connecting = false;
  }

  private tick(): void {
    if (this.stopped) return;
    if (this.sock === null) {
      if (!this.connecting) this.connect();
      return;
    }
    if (this.connecting) return;
    const now = Date.now();
    // One PING outstanding at a time; a connection silent for long is reopened.
    if (this.pending.includes('ping')) {
      if (now - this.pingSentAt > Math.max(2000, this.pingMs * 20)) this.drop();
      return;
    }
    this.send('ping', ['PING']);
    this.pingSentAt = now;
    this.lastPingSent = now;
    if (now - this.lastInfo >= 1000) {
      this.lastInfo = now;
      this.send('info', ['INFO', 'replication']);
    }
  }

  private send(kind: 'auth' | 'ping' | 'info', args: string[]): void {
    this.pending.push(kind);
    this.sock!.write(encodeCommand(args));
  }

  private connect(): void {
    this.connecting = true;
    const s = new Socket();
    this.sock = s;
    s.setNoDelay(true);
    s.on('error', () => {});
    s.on('close', () => {
      if (this.sock === s) this.drop();
    });
    s.on('data', (d: Buffer) => {
      if (this.sock !== s) return;
      this.parser.push(d);
      for (;;) {
        let v: RespValue | typeof NEED_MORE;
        try {
          v = this.parser.next();
        } catch {
          this.drop();
          return;
        }
        if (v === NEED_MORE) break;
        this.onReply(this.pending.shift(), v);
      }
    });
    s.connect(this.port, this.host, () => {
      if (this.sock !== s) return;
      this.connecting = false;
      if (this.password) this.send('auth', ['AUTH', this.password]);
      this.tick();
    });
  }

  private onReply(kind: 'auth' | 'ping' | 'info' | undefined, v: RespValue): void {
    if (kind === 'ping') {
      // Sentinel counts PONG, -LOADING, -MASTERDOWN as valid; BUSY means alive too.
      if (!(v instanceof RespError) || /^(LOADING|MASTERDOWN|BUSY)/.test(v.message)) this.events.onAlive();
    } else if (kind === 'info') {
      if (v instanceof RespError) return;
      const info = replInfoFrom(parseInfo(Buffer.isBuffer(v) ? v.toString('latin1') : String(v)));
      if (info) this.events.onInfo(info);
    }
  }
}

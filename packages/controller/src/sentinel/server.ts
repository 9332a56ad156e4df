/**
 * The controller's RESP port: the Redis Sentinel protocol subset clients and operators
 * use (sentinel/commands.ts answers), plus what clients send on every connection
 * (HELLO, AUTH, CLIENT SETNAME/SETINFO, PING, INFO, ROLE) and pub/sub for the Sentinel
 * events (+switch-master, +sdown, +odown, ...).
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { Err, Proto, ReplyWriter, RequestParser } from '@sonic/protocol';
import { sentinelCommand, sentinelInfo, sentinelRole, REDIS_COMPAT_VERSION, type SentinelActions, type SentinelEvent, type SentinelState } from './commands.js';
import { arr, err, map, OK, status, writeReply, type Reply } from './reply.js';
import { globMatch } from './glob.js';

export interface SentinelHost {
  state(): SentinelState;
  actions: SentinelActions;
  /** '' = no password. */
  requirepass: string;
  runId: string;
  startedAt: number;
  log: Logger;
}

const MAX_CLIENTS = 10000;

class Conn {
  readonly parser = new RequestParser();
  readonly reply = new ReplyWriter();
  authenticated: boolean;
  name = '';
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  busy = false;
  closed = false;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    needsAuth: boolean,
  ) {
    this.authenticated = !needsAuth;
  }

  get subscriptions(): number {
    return this.channels.size + this.patterns.size;
  }

  flush(): void {
    if (!this.closed) this.reply.drainTo(this.socket);
  }
}

const PUBSUB_OK = new Set(['subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe', 'ping', 'quit', 'reset']);

export class SentinelServer {
  private net: NetServer | null = null;
  private readonly conns = new Set<Conn>();
  private nextId = 1;
  port = 0;

  constructor(private readonly host: SentinelHost) {}

  async listen(port: number, bind: string): Promise<void> {
    const srv = createServer({ noDelay: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ port, host: bind }, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    srv.on('error', (e) => this.host.log.error({ err: e }, 'sentinel listener error'));
    const a = srv.address();
    this.port = a && typeof a === 'object' ? a.port : port;
    this.net = srv;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    if (this.net) await new Promise<void>((r) => this.net!.close(() => r()));
  }

  /** Sends an event to every subscriber of its channel (or a matching pattern). */
  publish(ev: SentinelEvent): void {
    for (const c of this.conns) {
      if (c.closed) continue;
      if (c.channels.has(ev.channel)) {
        writeReply(c.reply, { t: 'push', items: ['message', ev.channel, ev.message] });
      }
      for (const p of c.patterns) {
        if (globMatch(p, ev.channel)) writeReply(c.reply, { t: 'push', items: ['pmessage', p, ev.channel, ev.message] });
      }
      c.flush();
    }
  }

  private accept(s: Socket): void {
    if (this.conns.size >= MAX_CLIENTS) {
      s.end('-ERR max number of clients reached\r\n');
      return;
    }
    const c = new Conn(this.nextId++, s, this.host.requirepass !== '');
    this.conns.add(c);
    s.on('data', (d: Buffer) => {
      c.parser.push(d);
      void this.drive(c);
    });
    s.on('error', () => {});
    s.on('close', () => {
      c.closed = true;
      this.conns.delete(c);
    });
  }

  /** Runs the commands buffered for a connection, one at a time (SENTINEL FAILOVER waits). */
  private async drive(c: Conn): Promise<void> {
    if (c.busy) return;
    c.busy = true;
    try {
      for (;;) {
        if (c.closed) return;
        const argv = c.parser.next();
        if (argv === null) {
          if (c.parser.error !== null) {
            c.reply.error(`ERR ${c.parser.error}`);
            c.flush();
            c.socket.end();
            c.closed = true;
          }
          break;
        }
        const r = this.command(c, argv);
        if (r instanceof Promise) {
          c.flush();
          writeReply(c.reply, await r);
        } else if (r !== undefined) writeReply(c.reply, r);
        if (c.closed) break;
      }
    } catch (e) {
      this.host.log.error({ err: e }, 'sentinel command failed');
      c.reply.error('ERR internal error');
    } finally {
      c.busy = false;
      c.flush();
    }
  }

  private command(c: Conn, argv: string[]): Reply | Promise<Reply> | undefined {
    const name = argv[0]!.toLowerCase();
    if (!c.authenticated && name !== 'auth' && name !== 'hello' && name !== 'quit') return err(Err.noAuth);
    if (c.subscriptions > 0 && c.reply.proto === Proto.RESP2 && !PUBSUB_OK.has(name))
      return err(`ERR Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`);
    const arity = (n: number) => argv.length >= n;
    switch (name) {
      case 'ping':
        if (argv.length > 2) return err(Err.wrongArity('ping'));
        if (c.subscriptions > 0 && c.reply.proto === Proto.RESP2) return arr(['pong', argv[1] ?? '']);
        return argv.length === 2 ? argv[1]! : status('PONG');
      case 'echo':
        return argv.length === 2 ? argv[1]! : err(Err.wrongArity('echo'));
      case 'quit':
        c.reply.ok();
        c.flush();
        c.socket.end();
        c.closed = true;
        return undefined;
      case 'reset':
        c.channels.clear();
        c.patterns.clear();
        c.name = '';
        c.reply.proto = Proto.RESP2;
        c.authenticated = this.host.requirepass === '';
        return status('RESET');
      case 'auth': {
        if (argv.length < 2 || argv.length > 3) return err(Err.wrongArity('auth'));
        if (this.host.requirepass === '')
          return err('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
        const user = argv.length === 3 ? argv[1]! : 'default';
        if (user !== 'default' || !this.checkPass(argv[argv.length - 1]!)) return err(Err.wrongPass);
        c.authenticated = true;
        return OK;
      }
      case 'hello':
        return this.hello(c, argv);
      case 'client':
        return this.client(c, argv);
      case 'info':
        return this.infoText(argv[1] ?? '');
      case 'role':
        return sentinelRole(this.host.state());
      case 'sentinel':
        if (!arity(2)) return err(Err.wrongArity('sentinel'));
        return sentinelCommand(this.host.state(), argv.slice(1), this.host.actions);
      case 'subscribe':
      case 'psubscribe': {
        if (!arity(2)) return err(Err.wrongArity(name));
        const set = name === 'subscribe' ? c.channels : c.patterns;
        for (const ch of argv.slice(1)) {
          set.add(ch);
          writeReply(c.reply, { t: 'push', items: [name, ch, c.subscriptions] });
        }
        return undefined;
      }
      case 'unsubscribe':
      case 'punsubscribe': {
        const set = name === 'unsubscribe' ? c.channels : c.patterns;
        const which = argv.length > 1 ? argv.slice(1) : [...set];
        if (which.length === 0) writeReply(c.reply, { t: 'push', items: [name, null, c.subscriptions] });
        for (const ch of which) {
          set.delete(ch);
          writeReply(c.reply, { t: 'push', items: [name, ch, c.subscriptions] });
        }
        return undefined;
      }
      case 'command':
        return argv.length === 1 || (argv[1] ?? '').toLowerCase() === 'docs' ? arr([]) : err(Err.unknownSubcommand(argv[1]!, 'command'));
      default:
        return err(Err.unknownCommand(argv[0]!, argv.slice(1)));
    }
  }

  private checkPass(p: string): boolean {
    const a = Buffer.from(p);
    const b = Buffer.from(this.host.requirepass);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private hello(c: Conn, argv: string[]): Reply {
    let proto = c.reply.proto === Proto.RESP3 ? 3 : 2;
    let i = 1;
    if (argv.length > 1) {
      const v = Number(argv[1]);
      if (!Number.isInteger(v)) return err('ERR Protocol version is not an integer or out of range');
      if (v < 2 || v > 3) return err('NOPROTO unsupported protocol version');
      proto = v;
      i = 2;
    }
    let authed = c.authenticated;
    let name: string | null = null;
    for (; i < argv.length; i++) {
      const opt = argv[i]!.toLowerCase();
      if (opt === 'auth' && i + 2 < argv.length) {
        const user = argv[i + 1]!;
        const pass = argv[i + 2]!;
        i += 2;
        if (this.host.requirepass === '' ? false : user === 'default' && this.checkPass(pass)) authed = true;
        else return err(Err.wrongPass);
      } else if (opt === 'setname' && i + 1 < argv.length) {
        name = argv[++i]!;
      } else return err(`ERR Syntax error in HELLO option '${argv[i]}'`);
    }
    if (!authed) return err('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');
    c.authenticated = authed;
    if (name !== null) c.name = name;
    c.reply.proto = proto === 3 ? Proto.RESP3 : Proto.RESP2;
    return map([
      ['server', 'redis'],
      ['version', REDIS_COMPAT_VERSION],
      ['proto', proto],
      ['id', c.id],
      ['mode', 'sentinel'],
      ['role', 'master'],
      ['modules', arr([])],
    ]);
  }

  private client(c: Conn, argv: string[]): Reply {
    const sub = (argv[1] ?? '').toLowerCase();
    switch (sub) {
      case 'setname':
        if (argv.length !== 3) return err(Err.wrongArity('client|setname'));
        if (/[\s]/.test(argv[2]!)) return err('ERR Client names cannot contain spaces, newlines or special characters.');
        c.name = argv[2]!;
        return OK;
      case 'getname':
        return c.name === '' ? null : c.name;
      case 'id':
        return c.id;
      case 'setinfo':
        return argv.length === 4 ? OK : err(Err.wrongArity('client|setinfo'));
      case 'info':
        return `id=${c.id} addr=${c.socket.remoteAddress}:${c.socket.remotePort} name=${c.name} db=0 sub=${c.channels.size} psub=${c.patterns.size} cmd=client|info\n`;
      default:
        return err(Err.unknownSubcommand(argv[1] ?? '', 'client'));
    }
  }

  private infoText(section: string): Reply {
    const h = this.host;
    return sentinelInfo(h.state(), section, { port: this.port, uptimeMs: Date.now() - h.startedAt, runId: h.runId, pid: process.pid });
  }
}

/**
 * One command on a fresh connection, AUTH first when a password is given: what the
 * controller (probes of a failover candidate, REPLICAOF, CLIENT PAUSE), a replica (its
 * primary's bus port), the router (CLUSTER SHARDS of a seed) and `sonic ping`/`sonic up`
 * send to a node. The reply comes back as it is, an error reply as a RespError value;
 * the promise rejects on a failed AUTH, a connection error or close, a malformed reply,
 * or no reply in time.
 */
import { connect } from 'node:net';
import { ReplyParser, NEED_MORE, RespError, type RespValue } from './reply-parser.js';
import { encodeCommand } from './writer.js';

export interface OneShotOptions {
  password?: string;
  /** AUTH user password (ACL) instead of AUTH password. */
  user?: string;
  /** Default 1000. */
  timeoutMs?: number;
  /**
   * Go on when the server has no password and refuses AUTH for that (redis-cli does);
   * otherwise any AUTH error fails the call (a replica's AUTH to its primary, as Redis).
   */
  allowNoPassword?: boolean;
}

/** The AUTH failure of a one-shot command (the server's error reply in `message`). */
export class AuthError extends Error {}

export function oneShot(host: string, port: number, args: readonly (string | Buffer)[], opts: OneShotOptions = {}): Promise<RespValue> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const password = opts.password ?? '';
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const parser = new ReplyParser();
    let authPending = password !== '';
    let done = false;
    const finish = (err: Error | null, v?: RespValue) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(v!);
    };
    const timer = setTimeout(() => finish(new Error(`no reply from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    s.setNoDelay(true);
    s.on('error', (e: NodeJS.ErrnoException) => finish(new Error(`${host}:${port}: ${e.code ?? e.message}`)));
    s.on('close', () => finish(new Error(`${host}:${port}: connection closed before the reply`)));
    s.on('data', (d: Buffer) => {
      try {
        parser.push(d);
        for (;;) {
          const v = parser.next();
          if (v === NEED_MORE) return;
          if (authPending) {
            authPending = false;
            if (v instanceof RespError && !(opts.allowNoPassword && v.message.includes('without any password configured'))) return finish(new AuthError(v.message));
            continue;
          }
          return finish(null, v);
        }
      } catch (e) {
        finish(new Error(`${host}:${port}: ${(e as Error).message}`));
      }
    });
    const auth = password === '' ? [] : [encodeCommand(opts.user ? ['AUTH', opts.user, password] : ['AUTH', password])];
    s.write(Buffer.concat([...auth, encodeCommand(args)]));
  });
}

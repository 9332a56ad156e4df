import { Err, Proto } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { parseInteger } from '../engine/values.js';
import type { HandlerMap } from './types.js';

/** Redis version Sonic reports to clients (their feature checks read it). */
export const REDIS_COMPAT_VERSION = '7.0.0';
export const SONIC_VERSION = '0.1.0';

function pingCommand(c: Client, argv: string[]): void {
  if (argv.length > 2) {
    c.reply.error(Err.wrongArity('ping'));
    return;
  }
  if (c.inPubSub && c.reply.proto === Proto.RESP2) {
    c.reply.array(2);
    c.reply.bulk('pong');
    c.reply.bulk(argv.length === 2 ? argv[1]! : '');
    return;
  }
  if (argv.length === 2) c.reply.bulk(argv[1]!);
  else c.reply.raw('+PONG\r\n');
}

function selectCommand(c: Client, argv: string[]): void {
  const n = parseInteger(argv[1]!);
  if (n === null || typeof n === 'bigint') {
    c.reply.error(Err.notInteger);
    return;
  }
  const db = c.server.keyspace.dbs[n];
  if (n < 0 || db === undefined) {
    c.reply.error('ERR DB index is out of range');
    return;
  }
  c.db = db;
  c.reply.ok();
}

/** Checks credentials for AUTH/HELLO; Sonic has the one `default` user. */
function checkAuth(c: Client, user: string, pass: string): boolean {
  const required = c.server.config.get('requirepass');
  if (user === 'default' && (required === '' || pass === required)) {
    c.authenticated = true;
    c.user = 'default';
    return true;
  }
  c.server.log.info({ client: c.id, addr: c.addr }, 'authentication failed');
  return false;
}

function authCommand(c: Client, argv: string[]): void {
  if (argv.length > 3) {
    c.reply.error(Err.syntax);
    return;
  }
  if (argv.length === 2 && c.server.config.get('requirepass') === '') {
    c.reply.error('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
    return;
  }
  const user = argv.length === 3 ? argv[1]! : 'default';
  const pass = argv[argv.length - 1]!;
  if (checkAuth(c, user, pass)) c.reply.ok();
  else c.reply.error(Err.wrongPass);
}

function helloCommand(c: Client, argv: string[]): void {
  let proto = c.reply.proto as number;
  let i = 1;
  if (argv.length >= 2) {
    const v = parseInteger(argv[1]!);
    if (v === null) {
      c.reply.error('ERR Protocol version is not an integer or out of range');
      return;
    }
    if (v !== 2 && v !== 3) {
      c.reply.error('NOPROTO unsupported protocol version');
      return;
    }
    proto = v;
    i = 2;
  }
  let name: string | null = null;
  for (; i < argv.length; i++) {
    const opt = argv[i]!.toUpperCase();
    if (opt === 'AUTH' && i + 2 < argv.length) {
      if (!checkAuth(c, argv[i + 1]!, argv[i + 2]!)) {
        c.reply.error(Err.wrongPass);
        return;
      }
      i += 2;
    } else if (opt === 'SETNAME' && i + 1 < argv.length) {
      name = argv[++i]!;
      if (/[\s]/.test(name) || /[^\x21-\x7e]/.test(name)) {
        c.reply.error('ERR Client names cannot contain spaces, newlines or special characters.');
        return;
      }
    } else {
      c.reply.error(`ERR Syntax error in HELLO option '${argv[i]}'`);
      return;
    }
  }
  if (!c.authenticated) {
    c.reply.error(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
    return;
  }
  if (name !== null) c.name = name;
  c.reply.proto = proto === 3 ? Proto.RESP3 : Proto.RESP2;
  const r = c.reply;
  r.map(7);
  r.bulk('server');
  r.bulk('redis');
  r.bulk('version');
  r.bulk(REDIS_COMPAT_VERSION);
  r.bulk('proto');
  r.int(proto);
  r.bulk('id');
  r.int(c.id);
  r.bulk('mode');
  r.bulk(c.server.clusterSlots !== null ? 'cluster' : 'standalone');
  r.bulk('role');
  r.bulk('master');
  r.bulk('modules');
  r.array(0);
}

function quitCommand(c: Client): void {
  c.reply.ok();
  c.server.closeClient(c, true);
}

function resetCommand(c: Client): void {
  const srv = c.server;
  c.multi = null;
  c.multiError = false;
  srv.unwatchAll(c);
  srv.pubsub.removeClient(c);
  srv.monitors.delete(c);
  c.monitor = false;
  c.db = srv.keyspace.dbs[0]!;
  c.reply.proto = Proto.RESP2;
  c.name = '';
  c.replyMode = 'on';
  c.skipNext = false;
  c.authenticated = srv.config.get('requirepass') === '';
  c.reply.simple('RESET');
}

export const connectionHandlers: HandlerMap = {
  ping: pingCommand,
  echo: (c, argv) => c.reply.bulk(argv[1]!),
  select: selectCommand,
  auth: authCommand,
  hello: helloCommand,
  quit: quitCommand,
  reset: resetCommand,
};

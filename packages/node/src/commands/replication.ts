/**
 * The replication family: REPLICAOF / SLAVEOF and WAIT (ROLE lives with the server
 * commands; INFO replication in server/info.ts). The state is in replication/.
 */
import { parseInteger } from '../engine/values.js';
import type { Client } from '../server/client.js';
import type { HandlerMap } from './types.js';

function replicaofCommand(c: Client, argv: string[]): void {
  const repl = c.server.replication;
  if (c.server.config.bool('cluster-enabled')) {
    c.reply.error('ERR REPLICAOF not allowed in cluster mode.');
    return;
  }
  if (repl === null) {
    c.reply.error('ERR replication is not running on this node');
    return;
  }
  if (argv[1]!.toLowerCase() === 'no' && argv[2]!.toLowerCase() === 'one') {
    if (repl.role === 'slave') {
      repl.promote();
      c.server.log.info({ client: c.id, addr: c.addr }, 'MASTER MODE enabled (user request from client)');
    }
    c.reply.ok();
    return;
  }
  const port = parseInteger(argv[2]!);
  if (typeof port !== 'number' || port < 0 || port > 65535) {
    c.reply.error(typeof port === 'number' ? 'ERR Invalid master port' : 'ERR value is not an integer or out of range');
    return;
  }
  const host = argv[1]!;
  if (repl.role === 'slave' && repl.masterHost === host && repl.masterPort === port) {
    c.reply.simple('OK Already connected to specified master');
    return;
  }
  repl.replicaOf(host, port);
  c.server.log.info({ client: c.id, addr: c.addr, host, port }, `REPLICAOF ${host}:${port} enabled (user request from client)`);
  c.reply.ok();
}

function waitCommand(c: Client, argv: string[]): void {
  const n = parseInteger(argv[1]!);
  if (typeof n !== 'number') {
    c.reply.error('ERR value is not an integer or out of range');
    return;
  }
  const t = parseInteger(argv[2]!);
  if (typeof t !== 'number') {
    c.reply.error('ERR timeout is not an integer or out of range');
    return;
  }
  if (t < 0) {
    c.reply.error('ERR timeout is negative');
    return;
  }
  const repl = c.server.replication;
  if (repl === null) {
    c.reply.int(0);
    return;
  }
  repl.wait(c, n, t);
}

export const replicationHandlers: HandlerMap = {
  replicaof: replicaofCommand,
  slaveof: replicaofCommand,
  wait: waitCommand,
};

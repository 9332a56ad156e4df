import { Err } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import type { HandlerMap } from './types.js';

// SAVE, BGSAVE, BGREWRITEAOF (LASTSAVE is with the server family). The work is in
// persistence/manager.ts and persistence/aof.ts.

function saveCommand(c: Client): void {
  const p = c.server.persistence;
  if (p.bgsave !== null) {
    c.reply.error('ERR Background save already in progress');
    return;
  }
  try {
    p.saveSync();
  } catch {
    c.reply.error('ERR');
    return;
  }
  c.reply.ok();
}

function bgsaveCommand(c: Client, argv: string[]): void {
  let schedule = false;
  if (argv.length > 1) {
    if (argv.length === 2 && argv[1]!.toLowerCase() === 'schedule') schedule = true;
    else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const p = c.server.persistence;
  if (p.bgsave !== null) {
    c.reply.error('ERR Background save already in progress');
    return;
  }
  if (c.inExec) {
    // Inside MULTI/EXEC the snapshot starts after the transaction, as Redis schedules it.
    p.bgsaveScheduled = true;
    c.reply.simple('Background saving scheduled');
    return;
  }
  void schedule;
  p.startBgsave();
  c.reply.simple('Background saving started');
}

function bgrewriteaofCommand(c: Client): void {
  const aof = c.server.persistence.aof;
  if (aof.rewrite !== null) {
    c.reply.error('ERR Background append only file rewriting already in progress');
    return;
  }
  if (c.inExec || !aof.enabled) {
    if (!aof.enabled) {
      // Redis rewrites a file even with AOF off; Sonic writes nothing then but says so honestly.
      c.reply.error('ERR Sonic rewrites the AOF only while appendonly is yes');
      return;
    }
    aof.rewriteScheduled = true;
    c.reply.simple('Background append only file rewriting scheduled');
    return;
  }
  if (!aof.startRewrite()) {
    c.reply.error('ERR Background append only file rewriting failed to start (see the log)');
    return;
  }
  c.reply.simple('Background append only file rewriting started');
}

export const persistenceHandlers: HandlerMap = {
  save: saveCommand,
  bgsave: bgsaveCommand,
  bgrewriteaof: bgrewriteaofCommand,
};

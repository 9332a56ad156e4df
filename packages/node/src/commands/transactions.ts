import type { HandlerMap } from './types.js';

export const transactionHandlers: HandlerMap = {
  multi: (c) => {
    if (c.multi !== null) {
      c.reply.error('ERR MULTI calls can not be nested');
      return;
    }
    c.multi = [];
    c.multiError = false;
    c.reply.ok();
  },
  exec: (c) => {
    if (c.multi === null) {
      c.reply.error('ERR EXEC without MULTI');
      return;
    }
    c.server.exec(c);
  },
  discard: (c) => {
    if (c.multi === null) {
      c.reply.error('ERR DISCARD without MULTI');
      return;
    }
    c.multi = null;
    c.multiError = false;
    c.server.unwatchAll(c);
    c.reply.ok();
  },
  watch: (c, argv) => {
    if (c.multi !== null) {
      c.reply.error('ERR WATCH inside MULTI is not allowed');
      return;
    }
    for (let i = 1; i < argv.length; i++) c.server.watch(c, argv[i]!);
    c.reply.ok();
  },
  unwatch: (c) => {
    c.server.unwatchAll(c);
    c.reply.ok();
  },
};

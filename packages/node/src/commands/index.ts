import { COMMANDS } from '@sonic/protocol';
import type { Handler, HandlerMap } from './types.js';
import { stringHandlers } from './strings.js';
import { keyHandlers } from './keys.js';
import { hashHandlers } from './hashes.js';
import { listHandlers } from './lists.js';
import { setHandlers } from './sets.js';
import { zsetHandlers } from './zsets.js';
import { connectionHandlers } from './connection.js';
import { serverHandlers } from './server.js';
import { pubsubHandlers } from './pubsub.js';
import { transactionHandlers } from './transactions.js';
import { scriptingHandlers } from './scripting.js';
import { streamHandlers } from './streams.js';
import { replicationHandlers } from './replication.js';
import { persistenceHandlers } from './persistence.js';
import { clusterHandlers } from './cluster.js';

export type { Handler, HandlerMap };

const families: HandlerMap[] = [
  stringHandlers,
  keyHandlers,
  hashHandlers,
  listHandlers,
  setHandlers,
  zsetHandlers,
  connectionHandlers,
  serverHandlers,
  pubsubHandlers,
  transactionHandlers,
  scriptingHandlers,
  replicationHandlers,
  persistenceHandlers,
  streamHandlers,
  clusterHandlers,
];

/** Every handler by command name (`container|sub` for subcommands). */
export const HANDLERS: ReadonlyMap<string, Handler> = new Map(families.flatMap((f) => Object.entries(f)));

/**
 * Declared commands without a handler, and handlers without a declaration. Both lists
 * must be empty; a unit test and the node's start-up check it.
 */
export function tableMismatches(): { undeclared: string[]; unhandled: string[] } {
  const declared = new Set<string>();
  for (const spec of COMMANDS.values()) {
    if (spec.subcommands) for (const sub of spec.subcommands.values()) declared.add(sub.name);
    // A container callable without a subcommand (COMMAND, arity -1) has its own handler.
    if (!spec.subcommands || spec.arity === -1) declared.add(spec.name);
  }
  return {
    unhandled: [...declared].filter((n) => !HANDLERS.has(n)).sort(),
    undeclared: [...HANDLERS.keys()].filter((n) => !declared.has(n)).sort(),
  };
}

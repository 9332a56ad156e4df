import type { Client } from '../server/client.js';

/**
 * A command handler: runs one admitted command (name, arity, auth, MULTI and pub/sub
 * context were checked before) and writes its reply to `c.reply`. Handlers return
 * errors as replies (`c.reply.error(Err.x)`), never by throwing.
 *
 * Write handlers change keys through `c.db` (set/delete/modified) so that WATCH,
 * blocked clients and the dirty counter follow; a write whose effect differs from its
 * arguments (relative TTLs, random picks) calls `c.server.propagate(db, argv)` with the
 * deterministic form.
 */
export type Handler = (c: Client, argv: string[]) => void;

/** Handlers of one family, by lower-case command name (`container|sub` for subcommands). */
export type HandlerMap = Record<string, Handler>;

import type { CommandSpec } from './spec.js';
import { stringCommands } from './strings.js';
import { keyCommands } from './keys.js';
import { hashCommands } from './hashes.js';
import { listCommands } from './lists.js';
import { setCommands } from './sets.js';
import { zsetCommands } from './zsets.js';
import { connectionCommands } from './connection.js';
import { serverCommands } from './server.js';
import { pubsubCommands } from './pubsub.js';
import { transactionCommands } from './transactions.js';
import { scriptingCommands } from './scripting.js';
import { streamCommands } from './streams.js';
import { clusterCommands } from './cluster.js';

/** Every command Sonic declares, by lower-case name. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [
    ...stringCommands,
    ...keyCommands,
    ...hashCommands,
    ...listCommands,
    ...setCommands,
    ...zsetCommands,
    ...connectionCommands,
    ...serverCommands,
    ...pubsubCommands,
    ...transactionCommands,
    ...scriptingCommands,
    ...streamCommands,
    ...clusterCommands,
  ].map((c) => [c.name, c]),
);

const byRawName = new Map<string, CommandSpec | null>();

/** Looks a command up by its name as sent (any case), caching the spelling. */
export function lookupCommand(name: string): CommandSpec | undefined {
  const hit = byRawName.get(name);
  if (hit !== undefined) return hit ?? undefined;
  const spec = COMMANDS.get(name.toLowerCase());
  if (byRawName.size < 4096) byRawName.set(name, spec ?? null);
  return spec;
}

/** Resolves a container command's subcommand (`CONFIG GET`), if it is one. */
export function lookupSubcommand(spec: CommandSpec, sub: string): CommandSpec | undefined {
  return spec.subcommands?.get(sub.toLowerCase());
}

/**
 * Error replies, pre-built once (as Redis's `shared.*` replies). Each string carries its
 * prefix and no framing; `ReplyWriter.error()` frames it.
 */
export const Err = {
  wrongType: 'WRONGTYPE Operation against a key holding the wrong kind of value',
  syntax: 'ERR syntax error',
  notInteger: 'ERR value is not an integer or out of range',
  notFloat: 'ERR value is not a valid float',
  overflow: 'ERR increment or decrement would overflow',
  noSuchKey: 'ERR no such key',
  outOfRange: 'ERR index out of range',
  noAuth: 'NOAUTH Authentication required.',
  wrongPass: 'WRONGPASS invalid username-password pair or user is disabled.',
  execAbort: 'EXECABORT Transaction discarded because of previous errors.',
  invalidExpire: (cmd: string) => `ERR invalid expire time in '${cmd}' command`,
  wrongArity: (cmd: string) => `ERR wrong number of arguments for '${cmd}' command`,
  unknownCommand: (name: string, args: readonly string[]) =>
    `ERR unknown command '${clip(name)}', with args beginning with: ${args
      .slice(0, 20)
      .map((a) => `'${clip(a)}' `)
      .join('')}`,
  unknownSubcommand: (sub: string, container: string) =>
    `ERR unknown subcommand '${clip(sub)}'. Try ${container.toUpperCase()} HELP.`,
  crossSlot: "CROSSSLOT Keys in request don't hash to the same slot",
  moved: (slot: number, addr: string) => `MOVED ${slot} ${addr}`,
  ask: (slot: number, addr: string) => `ASK ${slot} ${addr}`,
  oom: "OOM command not allowed when used memory > 'maxmemory'.",
  readonly: "READONLY You can't write against a read only replica.",
  loading: 'LOADING Redis is loading the dataset in memory',
  noScript: 'NOSCRIPT No matching script. Please use EVAL.',
} as const;

/** Redis clips names echoed in errors to 128 bytes and replaces newlines with spaces. */
function clip(s: string): string {
  const c = s.length > 128 ? s.slice(0, 128) : s;
  return c.replace(/[\r\n]/g, ' ');
}

/** A redirect or cluster error, parsed once from its reply text. */
export type Redirect = { kind: 'MOVED' | 'ASK'; slot: number; host: string; port: number };

export function parseRedirect(msg: string): Redirect | null {
  const m = /^(MOVED|ASK) (\d+) (.*):(\d+)$/.exec(msg);
  if (!m) return null;
  return { kind: m[1] as 'MOVED' | 'ASK', slot: Number(m[2]), host: m[3]!, port: Number(m[4]) };
}

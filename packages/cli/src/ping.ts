/**
 * `sonic ping`: one PING over RESP (AUTH first when a password is set), for container
 * health checks and scripts. Prints PONG and exits 0, or the error and exits 1; gives up
 * after --timeout ms (2 s), so a hung process fails its health check instead of hanging it.
 */
import { AuthError, oneShot, RespError, type RespValue } from '@sonic/protocol';

export const PING_USAGE = `Usage: sonic ping [--host HOST] [--port PORT] [--password PW] [--timeout MS]

Sends PING to a node, router or controller (AUTH first when a password is set) and
prints PONG (exit 0), or the error (exit 1). For health checks.

Options:
  --host HOST       [127.0.0.1]
  --port PORT       [6379]
  --password PW     AUTH with it first [SONIC_PASSWORD, or REDIS_PASSWORD: the same
                    variables the node reads its requirepass from]; empty: no AUTH
  --timeout MS      give up after MS milliseconds [2000]
  --check-config    validate the options, print ok and exit
  --help            show this help
`;

export interface PingOptions {
  host: string;
  port: number;
  password: string;
  timeoutMs: number;
}

export class PingUsageError extends Error {}

export function parsePingArgs(args: string[], env: NodeJS.ProcessEnv): PingOptions & { check: boolean; help: boolean } {
  const o = { host: '127.0.0.1', port: 6379, password: env.SONIC_PASSWORD || env.REDIS_PASSWORD || '', timeoutMs: 2000, check: false, help: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--check-config') o.check = true;
    else if (['--host', '--port', '--password', '--timeout'].includes(a)) {
      if (i + 1 >= args.length) throw new PingUsageError(`${a} needs a value`);
      const v = args[++i]!;
      if (a === '--host') o.host = v;
      else if (a === '--password') o.password = v;
      else {
        const n = /^\d+$/.test(v) ? Number(v) : NaN;
        if (a === '--port' && !(n >= 1 && n <= 65535)) throw new PingUsageError(`--port must be an integer from 1 to 65535, not '${v}'`);
        if (a === '--timeout' && !(n >= 1 && n <= 3_600_000)) throw new PingUsageError(`--timeout must be a positive number of milliseconds, not '${v}'`);
        if (a === '--port') o.port = n;
        else o.timeoutMs = n;
      }
    } else throw new PingUsageError(`unexpected argument '${a}' (see sonic ping --help)`);
  }
  if (o.host === '') throw new PingUsageError('--host must not be empty');
  return o;
}

/** Resolves with PING's reply (PONG) or rejects with the error reply or the connection's error. */
export async function ping(o: PingOptions): Promise<string> {
  let r: RespValue;
  try {
    r = await oneShot(o.host, o.port, ['PING'], { password: o.password, timeoutMs: o.timeoutMs, allowNoPassword: true });
  } catch (e) {
    throw e instanceof AuthError ? new Error(`AUTH failed: ${e.message}`) : e;
  }
  if (r instanceof RespError) throw new Error(r.message);
  if (typeof r !== 'string') throw new Error(`unexpected reply to PING: ${JSON.stringify(String(r)).slice(0, 80)}`);
  return r;
}

export async function runPing(args: string[]): Promise<number> {
  let o: ReturnType<typeof parsePingArgs>;
  try {
    o = parsePingArgs(args, process.env);
  } catch (e) {
    process.stderr.write(`sonic ping: ${(e as Error).message}\n`);
    return 1;
  }
  if (o.help) {
    process.stdout.write(PING_USAGE);
    return 0;
  }
  if (o.check) {
    process.stdout.write('ok\n');
    return 0;
  }
  try {
    process.stdout.write(`${await ping(o)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`sonic ping: ${(e as Error).message}\n`);
    return 1;
  }
}

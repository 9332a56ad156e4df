/** Shared by the replication-*.test.ts files: nodes with a known bus port, waits on INFO. */
import { Redis } from 'ioredis';
import { freePort, startSonic, waitForPort, type Proc } from './harness.js';

export interface Node extends Proc {
  bus: number;
}

/** Starts a node with its bus on a free port (client port + 10000 may be past 65535 on ephemeral ports). */
export async function startNode(args: string[] = []): Promise<Node> {
  const bus = await freePort();
  const p = await startSonic(['--bus-port', String(bus), '--enable-debug-command', 'yes', ...args], { SONIC_LOG_LEVEL: 'info' });
  // The bus listens a moment after the client port (after the start-up load).
  await waitForPort(bus, p.child, p.output);
  return Object.assign(p, { bus });
}

export async function startReplica(primary: Proc, args: string[] = []): Promise<Node> {
  // host:port@busport, as Redis Cluster writes node addresses: no need to ask the primary.
  const bus = (primary as Partial<Node>).bus;
  return startNode(['--replicaof', `127.0.0.1:${primary.port}${bus ? `@${bus}` : ''}`, ...args]);
}

export function client(p: Proc, password?: string): Redis {
  const r = new Redis({ port: p.port, host: '127.0.0.1', maxRetriesPerRequest: 1, enableOfflineQueue: true, password });
  // Tests kill nodes on purpose: a client of a killed node reports through its commands.
  r.on('error', () => {});
  return r;
}

export async function info(p: Proc, section = 'replication'): Promise<Record<string, string>> {
  const r = client(p);
  try {
    const text = await r.info(section);
    const out: Record<string, string> = {};
    for (const line of text.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  } finally {
    r.disconnect();
  }
}

/** Polls `check` every 50 ms until it returns true; fails after `ms`. */
export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until the replica's link is up and it holds the primary's offset. */
export async function waitInSync(primary: Proc, replica: Proc, ms = 20000): Promise<void> {
  await waitUntil(
    `replica ${replica.port} in sync with ${primary.port}`,
    async () => {
      const [p, r] = await Promise.all([info(primary), info(replica)]);
      return r.master_link_status === 'up' && r.slave_repl_offset === p.master_repl_offset;
    },
    ms,
  );
}

export async function digest(p: Proc): Promise<string> {
  const r = client(p);
  try {
    return (await r.call('DEBUG', 'DIGEST')) as string;
  } finally {
    r.disconnect();
  }
}

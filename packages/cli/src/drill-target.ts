/**
 * What a drill acts on: the cluster (`.sonic/up.json` written by `sonic up`, or --router and
 * --controllers), the controllers' status, a node's pid and replication mode, and the
 * event itself for the failover drill (SIGKILL, or a partition: SIGSTOP/SIGCONT of a
 * local process, or commands that cut and restore its link).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { controlPb } from '@sonic/protocol';
import { RespError } from '@sonic/protocol';
import { ControlClients } from '@sonic/controller';
import { oneCommand } from './drill-client.js';

export type Status = controlPb.StatusReply;

export interface UpFile {
  pid?: number;
  router?: { host: string; port: number } | null;
  controllers?: string;
  password?: string | null;
}

/** `<dir>/up.json`, or null when absent. */
export function readUpFile(dir: string): UpFile | null {
  const p = join(dir, 'up.json');
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as UpFile;
  } catch (e) {
    throw new Error(`${p}: ${(e as Error).message}`);
  }
}

export async function getStatus(cc: ControlClients, timeoutMs = 2000): Promise<Status> {
  return cc.any<Status>('status', {}, timeoutMs);
}

export interface NodeRef {
  id: string;
  host: string;
  port: number;
}

export function nodeRef(st: Status, id: string): NodeRef {
  const n = st.config?.nodes.find((x) => x.id === id);
  if (!n?.address) throw new Error(`node ${id} has no address in the configuration`);
  return { id, host: n.address.host, port: n.address.port };
}

export function slotsOfShard(st: Status, shard: string): Set<number> {
  const out = new Set<number>();
  for (const r of st.config?.shards.find((s) => s.id === shard)?.slots ?? []) for (let x = r.start; x <= r.end; x++) out.add(x);
  return out;
}

/** The primaries' repl-sync-mode: "sync", "async", "mixed", or "unknown" when none answered. */
export async function replSyncMode(st: Status, password: string | null): Promise<string> {
  const modes = new Set<string>();
  for (const sh of st.config?.shards ?? []) {
    if (sh.primary === '') continue;
    try {
      const n = nodeRef(st, sh.primary);
      const r = await oneCommand(n.host, n.port, ['CONFIG', 'GET', 'repl-sync-mode'], password);
      if (Array.isArray(r) && r.length >= 2) modes.add(String(r[1]));
    } catch {
      // An unreachable primary says nothing about the mode.
    }
  }
  if (modes.size === 0) return 'unknown';
  return modes.size === 1 ? [...modes][0]! : 'mixed';
}

/** The pid a node reports (INFO server process_id). */
export async function nodePid(n: NodeRef, password: string | null): Promise<number> {
  const r = await oneCommand(n.host, n.port, ['INFO', 'server'], password);
  if (r instanceof RespError) throw r;
  const m = /process_id:(\d+)/.exec(Buffer.isBuffer(r) ? r.toString('latin1') : String(r));
  if (!m) throw new Error(`${n.host}:${n.port}: INFO server has no process_id`);
  return Number(m[1]);
}

/** The address is this machine's (loopback or one of its interfaces). */
export function isLocalAddress(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host.startsWith('127.')) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((a) => a.address === host));
}

/** Runs `sh -c cmd` with the node in the environment; rejects on a non-zero exit or after 10 s. */
export function runHook(cmd: string, n: NodeRef, pid: number | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, SONIC_DRILL_NODE_ID: n.id, SONIC_DRILL_NODE_HOST: n.host, SONIC_DRILL_NODE_PORT: String(n.port), SONIC_DRILL_NODE_PID: pid === null ? '' : String(pid) };
    const child = spawn('sh', ['-c', cmd], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10000 });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`'${cmd}' failed (${sig ?? `exit ${code}`}): ${err.trim()}`))));
  });
}

/** What the controllers showed while the drill watched the shard. */
export interface Watch {
  detectedAt: number | null;
  newPrimaryAt: number | null;
  newPrimary: string | null;
  epoch: number;
}

/**
 * Polls the controllers' status every `everyMs` until stopped, recording when the node is
 * first marked down (objectively down, or health "down" in the configuration) and when the
 * shard first has another primary.
 */
export function watchShard(cc: ControlClients, shard: string, node: string, epoch: number, onChange: (what: string) => void, everyMs = 100): { w: Watch; stop: () => Promise<void> } {
  const w: Watch = { detectedAt: null, newPrimaryAt: null, newPrimary: null, epoch };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const st = await getStatus(cc, 1000);
        const now = Date.now();
        w.epoch = Math.max(w.epoch, Number(st.config?.epoch ?? 0));
        const down = st.nodes.some((n) => n.id === node && n.odown) || st.config?.nodes.some((n) => n.id === node && n.health === 'down');
        if (w.detectedAt === null && down) {
          w.detectedAt = now;
          onChange(`${node} marked down`);
        }
        const p = st.config?.shards.find((s) => s.id === shard)?.primary ?? '';
        if (w.newPrimaryAt === null && p !== '' && p !== node) {
          w.newPrimaryAt = now;
          w.newPrimary = p;
          if (w.detectedAt === null) w.detectedAt = now;
          onChange(`new primary of ${shard}: ${p} (epoch ${st.config?.epoch})`);
        }
      } catch {
        // A controller election or a slow answer: try again.
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    w,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

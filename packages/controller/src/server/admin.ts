/** The admin verbs of the CLI: `sonic status` and `sonic failover SHARD`. */
import type { controlPb } from '@sonic/protocol';
import { ControlClients, parseControllers } from '../agent/client.js';
import { slotCount } from '../config/cluster.js';

export const STATUS_USAGE = `Usage: sonic status [--controllers HOST:PORT,...] [--json]

Prints the cluster configuration as the controllers hold it: shards, nodes, roles,
replication offsets, health, the configuration epoch and the Raft leader.

  --controllers LIST   controllers' Sentinel ports (host:port[@busport], comma-separated)
                       [SONIC_CONTROLLERS, or 127.0.0.1:26379]
  --json               the raw status as JSON
`;

export const FAILOVER_USAGE = `Usage: sonic failover SHARD [--to NODE] [--controllers HOST:PORT,...]

Asks the controllers for a manual failover of SHARD: the primary's writes are paused,
the best replica (or NODE) catches up and is promoted, the old primary follows it.
`;

export function table(rows: string[][]): string {
  const w: number[] = [];
  for (const r of rows) r.forEach((c, i) => (w[i] = Math.max(w[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

export function ranges(slots: controlPb.SlotRange[]): string {
  if (slots.length === 0) return '-';
  const s = slots.map((r) => (r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`));
  const text = s.length > 4 ? `${s.slice(0, 4).join(',')},… (${s.length} ranges)` : s.join(',');
  return `${text} (${slotCount(slots.map((r) => [r.start, r.end]))})`;
}

function ms(v: number): string {
  if (v < 0) return 'never';
  return v < 10000 ? `${v}ms` : `${Math.round(v / 1000)}s`;
}

export function formatStatus(s: controlPb.StatusReply): string {
  const c = s.config!;
  let out = `epoch ${c.epoch} · leader ${s.leader || '(none)'} (term ${s.term}) · answered by ${s.answeredBy}\n`;
  out += `controllers: ${s.controllers.map((x) => `${x.id} ${x.address?.host}:${x.address?.port}${x.leader ? ' (leader)' : ''}${x.reachable ? '' : ' UNREACHABLE'}`).join(', ')}\n\n`;
  if (c.shards.length === 0) out += 'no shards yet (nodes started with --controllers register themselves)\n';
  else {
    const rows = [['SHARD', 'PRIMARY', 'REPLICAS', 'SLOTS']];
    for (const sh of c.shards) rows.push([sh.id, sh.primary || '(none)', sh.replicas.join(',') || '-', ranges(sh.slots)]);
    out += table(rows) + '\n';
  }
  if (c.nodes.length > 0) {
    const live = new Map(s.nodes.map((n) => [n.id, n]));
    const rows = [['NODE', 'ADDRESS', 'SHARD', 'ROLE', 'REPORTED', 'HEALTH', 'OFFSET', 'LINK', 'LAST-PING', 'STATE']];
    for (const n of c.nodes) {
      const l = live.get(n.id);
      const state = l?.odown ? 'o_down' : l?.sdown ? 's_down' : l?.fenced && n.role === 'primary' ? 'fenced' : 'up';
      rows.push([
        n.id,
        `${n.address?.host}:${n.address?.port}`,
        n.shard,
        n.role,
        l?.role || '?',
        n.health,
        l ? String(l.offset) : '?',
        n.role === 'replica' ? (l?.linkUp ? 'up' : 'down') : '-',
        l ? ms(l.lastOkMs) : '?',
        state,
      ]);
    }
    out += table(rows);
  }
  return out;
}

function parseCommon(args: string[]): { controllers: ControlClients; rest: string[]; flags: Map<string, string | true> } {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') flags.set('json', true);
    else if (a === '--controllers' || a === '--to') {
      if (i + 1 >= args.length) throw new Error(`${a} needs a value`);
      flags.set(a.slice(2), args[++i]!);
    } else if (a.startsWith('--')) throw new Error(`unknown option '${a}'`);
    else rest.push(a);
  }
  const list = (flags.get('controllers') as string | undefined) ?? process.env.SONIC_CONTROLLERS ?? '127.0.0.1:26379';
  return { controllers: new ControlClients(parseControllers(list)), rest, flags };
}

/** Runs an admin verb; resolves to the exit code. */
export async function runAdmin(verb: 'status' | 'failover', args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(verb === 'status' ? STATUS_USAGE : FAILOVER_USAGE);
    return 0;
  }
  const { controllers, rest, flags } = parseCommon(args);
  try {
    if (verb === 'status') {
      if (rest.length > 0) throw new Error(`unexpected argument '${rest[0]}'`);
      const s = await controllers.any<controlPb.StatusReply>('status', {}, 3000);
      process.stdout.write(flags.has('json') ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
      return 0;
    }
    if (rest.length !== 1) throw new Error('sonic failover needs one SHARD (see sonic failover --help)');
    const to = (flags.get('to') as string | undefined) ?? '';
    const r = await controllers.any<controlPb.AdminReply>('failover', { shard: rest[0], to }, 30000);
    if (!r.ok) {
      process.stderr.write(`sonic: failover of ${rest[0]} refused: ${r.error}\n`);
      return 1;
    }
    process.stdout.write(`${r.detail} (epoch ${r.epoch})\n`);
    return 0;
  } catch (e) {
    const err = e as { code?: number; details?: string; message: string };
    const list = controllers.addresses.map((a) => `${a.host}:${a.port}`).join(', ');
    const msg =
      err.code === 14 ? `no controller reachable at ${list} (their bus ports: port + 10000)` : err.code === 4 ? `no answer in time from ${list}` : err.details || err.message;
    process.stderr.write(`sonic: ${verb}: ${msg}\n`);
    return 1;
  } finally {
    controllers.close();
  }
}

/**
 * The live status view of `sonic up`: the controllers' status (as `sonic status` reads
 * it) joined with each node's INFO (ops/s, memory) and what `sonic up` knows of its own
 * processes (pid, or how one ended). `collect` gathers, `render` is a pure function of
 * what was gathered, `shapeKey` is the part that a plain (non-TTY) view prints on change.
 */
import type { controlPb } from '@sonic/protocol';
import { oneShot, RespError } from '@sonic/protocol';
import { ControlClients, formatSlotRanges, formatTable, parseInfo } from '@sonic/controller';
import type { Child } from './up-procs.js';

export interface NodeInfo {
  ops: string;
  mem: string;
  role: string;
}

export interface Snapshot {
  at: number;
  status: controlPb.StatusReply | null;
  statusError: string;
  info: Map<string, NodeInfo>;
  children: Child[];
  routerPort: number;
  dir: string;
}

async function info(port: number, password: string): Promise<NodeInfo | null> {
  try {
    const r = await oneShot('127.0.0.1', port, ['INFO'], { password, timeoutMs: 700 });
    if (r instanceof RespError) return null;
    const f = parseInfo(Buffer.isBuffer(r) ? r.toString('latin1') : String(r));
    return { ops: f.instantaneous_ops_per_sec ?? '-', mem: f.used_memory_human ?? '-', role: f.role ?? '' };
  } catch {
    return null;
  }
}

export async function collect(cc: ControlClients, children: Child[], password: string, routerPort: number, dir: string): Promise<Snapshot> {
  let status: controlPb.StatusReply | null = null;
  let statusError = '';
  const infos = new Map<string, NodeInfo>();
  await Promise.all([
    cc.any<controlPb.StatusReply>('status', {}, 1000).then(
      (s) => (status = s),
      (e: { code?: number; details?: string; message: string }) => (statusError = e.code === 14 ? 'unreachable' : e.code === 4 ? 'no answer in time' : e.details || e.message),
    ),
    ...children
      .filter((c) => c.spec.kind !== 'controller' && c.running)
      .map(async (c) => {
        const i = await info(c.spec.port, password);
        if (i) infos.set(c.spec.id, i);
      }),
  ]);
  return { at: Date.now(), status, statusError, info: infos, children, routerPort, dir };
}

function proc(c: Child | undefined): string {
  if (!c) return '-';
  if (c.running) return String(c.pid);
  return c.exit || 'not started';
}

function health(n: controlPb.Node, live: controlPb.NodeStatus | undefined): string {
  if (live?.odown) return 'o_down';
  if (live?.sdown) return 's_down';
  if (live?.fenced && n.role === 'primary') return 'fenced';
  return n.health;
}

/** One row per node, grouped by shard: [shard, slots, node, port, role, health, ops, mem, pid]. */
function rows(s: Snapshot): string[][] {
  const byId = new Map(s.children.map((c) => [c.spec.id, c]));
  const out: string[][] = [];
  const cfg = s.status?.config;
  const live = new Map((s.status?.nodes ?? []).map((n) => [n.id, n]));
  const shown = new Set<string>();
  for (const sh of cfg?.shards ?? []) {
    const members = (cfg?.nodes ?? []).filter((n) => n.shard === sh.id).sort((a, b) => (a.id === sh.primary ? -1 : b.id === sh.primary ? 1 : a.id.localeCompare(b.id)));
    members.forEach((n, k) => {
      shown.add(n.id);
      const i = s.info.get(n.id);
      const reported = live.get(n.id)?.role;
      const role = reported && reported !== n.role ? `${n.role} (is ${reported})` : n.role;
      out.push([k === 0 ? sh.id : '', k === 0 ? formatSlotRanges(sh.slots) : '', n.id, String(n.address?.port ?? ''), role, health(n, live.get(n.id)), i?.ops ?? '-', i?.mem ?? '-', proc(byId.get(n.id))]);
    });
  }
  // Our nodes the controllers do not know (yet), or all of them when no controller answers.
  for (const c of s.children) {
    if (c.spec.kind !== 'node' || shown.has(c.spec.id)) continue;
    const i = s.info.get(c.spec.id);
    const known = s.status !== null;
    out.push([known ? '' : (c.spec.shard ?? ''), '', c.spec.id, String(c.spec.port), known ? '-' : (i?.role ?? '?'), known ? 'not registered' : '?', i?.ops ?? '-', i?.mem ?? '-', proc(c)]);
  }
  return out;
}

function controllersLine(s: Snapshot): string {
  const live = new Map((s.status?.controllers ?? []).map((c) => [c.id, c]));
  const parts = s.children
    .filter((c) => c.spec.kind === 'controller')
    .map((c) => {
      const l = live.get(c.spec.id);
      const state = !c.running ? proc(c) : l?.leader ? 'leader' : l && !l.reachable ? 'unreachable' : 'up';
      return `${c.spec.id} :${c.spec.port} ${state}`;
    });
  return `controllers: ${parts.join(' · ')}`;
}

function header(s: Snapshot): string {
  const st = s.status;
  const router = s.children.find((c) => c.spec.kind === 'router');
  const r = router ? `router 127.0.0.1:${s.routerPort} (${router.running ? `pid ${router.pid}` : proc(router)})` : 'no router';
  const epoch = st ? `epoch ${st.config?.epoch ?? 0} · leader ${st.leader || '(none)'} (term ${st.term})` : `controllers not answering: ${s.statusError}`;
  return `sonic up · ${r} · ${epoch}`;
}

/** The whole view as text (the TTY screen). */
export function render(s: Snapshot): string {
  const lines = [`${header(s)} · ${new Date(s.at).toISOString().slice(11, 19)}`, controllersLine(s), ''];
  const r = rows(s);
  if (r.length === 0) lines.push('no shards yet');
  else lines.push(formatTable([['SHARD', 'SLOTS', 'NODE', 'PORT', 'ROLE', 'HEALTH', 'OPS/S', 'MEMORY', 'PID'], ...r]).trimEnd());
  const migrations = s.status?.config?.migrations.length ?? 0;
  if (migrations > 0) lines.push('', `${migrations} slot migrations open`);
  const dead = s.children.filter((c) => !c.running);
  lines.push('');
  if (dead.length > 0) lines.push(`exited: ${dead.map((c) => `${c.spec.id} (${c.exit})`).join(', ')} · press r (or kill -USR2 ${process.pid}) to start them again`);
  lines.push(`connect: redis-cli -p ${s.routerPort} · logs: ${s.dir}/<id>/sonic.log · Ctrl-C stops everything`);
  return lines.join('\n') + '\n';
}

/** What a plain view prints on change: the view without the time, ops/s and memory. */
export function shapeKey(s: Snapshot): string {
  return [header(s), controllersLine(s), ...rows(s).map((r) => [...r.slice(0, 6), r[8]].join(' ')), String(s.status?.config?.migrations.length ?? 0)].join('\n');
}

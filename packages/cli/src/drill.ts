/**
 * `sonic drill failover|reshard` (docs/operations.md): a workload of unique writes and
 * reads of acknowledged keys runs against a live cluster while the drill kills or
 * partitions the primary of a shard, or moves slots; then every written key is read
 * back and the report says what clients saw and lost (drill-report.ts).
 */
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ControlClients, parseControllers, SLOTS } from '@sonic/controller';
import { keyHashSlot } from '@sonic/protocol';
import { moveSlots, primaryShards, rebalancePlan } from './cluster.js';
import { clusterClients, routerClients, type ClientFactory } from './drill-client.js';
import { buildReport, formatReport, type DrillReport, type ReportInput } from './drill-report.js';
import { getStatus, isLocalAddress, nodePid, nodeRef, readUpFile, replSyncMode, runHook, slotsOfShard, watchShard, type NodeRef, type Status } from './drill-target.js';
import { readBack, Workload } from './drill-workload.js';

export const DRILL_USAGE = `Usage: sonic drill failover [--shard SHARD] [--mode kill|partition] [options]
       sonic drill reshard (--from SHARD --to SHARD --slots N | --rebalance) [options]

Runs a workload against a running cluster (by default the one 'sonic up' started in
--dir) while it kills or partitions a shard's primary, or moves slots; then reads every
written key back and prints a report: detection time, write-unavailability window
(longest gap between acknowledged writes to the affected slots), errors by kind,
acknowledged writes lost, writes of unknown outcome, p50/p99 latency before, during
and after.

failover:
  --shard SHARD          the shard whose primary fails [shard-1]
  --mode kill            SIGKILL the primary's process (it must run on this machine) [default]
  --mode partition       cut the primary off for --partition-time ms, then heal it: with
                         --partition-cmd/--heal-cmd (e.g. 'ip link set veth0 down' / 'up',
                         run by sh with SONIC_DRILL_NODE_ID/HOST/PORT/PID set), else by
                         SIGSTOP and SIGCONT of its process (a frozen host: its sockets
                         stay open but nothing answers)
  --partition-time MS    how long the partition lasts [5000]
  --restart              kill: once a new primary is in, start the killed node again (it
                         rejoins as a replica): a cluster of 'sonic up' is asked to (SIGUSR2)
  --restart-cmd CMD      kill: the same with a command of yours (sh, the same environment)
reshard:
  --from SHARD --to SHARD --slots N   move N slots (the highest) from one shard to another
  --rebalance            spread the slots evenly over every shard with a primary (e.g.
                         onto a new, empty shard: 3 -> 4)

target and workload:
  --dir DIR              where 'sonic up' wrote up.json [.sonic]
  --router HOST:PORT     the router (instead of up.json's)
  --controllers LIST     the controllers (instead of up.json's)
  --password PW          sent to the router and nodes (AUTH) [up.json's]
  --client router|cluster  through the router (one RESP connection per worker), or
                         a cluster-aware client (ioredis Cluster) [router]
  --duration S           workload seconds at least [20]
  --warmup S             workload seconds before the event, and at least after it [5]
  --rate N               operations per second over all workers, 0 = unlimited [1000]
  --writers N            concurrent writers [4]
  --readers N            concurrent readers (reads of acknowledged keys) [2]
  --op-timeout MS        a command without reply by then has an unknown outcome [5000]
  --probe-interval MS    also write to the affected slots every MS on a fresh connection,
                         not waiting for earlier probes: the unavailability window is
                         the longest time no probe was acknowledged (0: off, then the
                         gap between the workers' acknowledged writes) [50]
  --timeout S            bound on waiting for the failover or the moves [60]
  --json FILE            write the report as JSON
  --check-config         validate the arguments, print ok and exit
Exit status: 0; 1 when an acknowledged write was lost where none may be (repl-sync-mode
sync for failover; any mode for reshard, where no node fails) or on bad arguments; 2 when
the drill could not run or could not read every acknowledged key back.
`;

export interface DrillOptions {
  kind: 'failover' | 'reshard';
  shard: string;
  mode: 'kill' | 'partition';
  partitionMs: number;
  partitionCmd: string | null;
  healCmd: string | null;
  restart: boolean;
  restartCmd: string | null;
  from: string | null;
  to: string | null;
  slots: number;
  rebalance: boolean;
  dir: string;
  router: { host: string; port: number } | null;
  controllers: string | null;
  password: string | null;
  client: 'router' | 'cluster';
  durationS: number;
  warmupS: number;
  rate: number;
  writers: number;
  readers: number;
  opTimeoutMs: number;
  probeMs: number;
  timeoutS: number;
  json: string | null;
  checkConfig: boolean;
}

class UsageError extends Error {}

function hostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) throw new UsageError(`${what}: expected HOST:PORT, got '${s}'`);
  return { host: m[1] ?? m[2]!, port };
}

function num(v: string, name: string, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || v.trim() === '') throw new UsageError(`${name}: expected a number >= ${min}, got '${v}'`);
  return n;
}

export function parseDrillArgs(args: string[]): DrillOptions {
  const [kind, ...rest] = args;
  if (kind !== 'failover' && kind !== 'reshard') throw new UsageError(kind === undefined ? 'missing drill: failover or reshard (see sonic drill --help)' : `unknown drill '${kind}' (failover or reshard)`);
  const o: DrillOptions = {
    kind,
    shard: 'shard-1',
    mode: 'kill',
    partitionMs: 5000,
    partitionCmd: null,
    healCmd: null,
    restart: false,
    restartCmd: null,
    from: null,
    to: null,
    slots: 0,
    rebalance: false,
    dir: '.sonic',
    router: null,
    controllers: null,
    password: null,
    client: 'router',
    durationS: 20,
    warmupS: 5,
    rate: 1000,
    writers: 4,
    readers: 2,
    opTimeoutMs: 5000,
    probeMs: 50,
    timeoutS: 60,
    json: null,
    checkConfig: false,
  };
  const failoverOnly = ['--shard', '--mode', '--partition-time', '--partition-cmd', '--heal-cmd', '--restart', '--restart-cmd'];
  const reshardOnly = ['--from', '--to', '--slots', '--rebalance'];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if ((kind === 'failover' && reshardOnly.includes(a)) || (kind === 'reshard' && failoverOnly.includes(a))) throw new UsageError(`${a} is not an option of drill ${kind}`);
    if (a === '--check-config') {
      o.checkConfig = true;
      continue;
    }
    if (a === '--rebalance' || a === '--restart') {
      if (a === '--rebalance') o.rebalance = true;
      else o.restart = true;
      continue;
    }
    const v = rest[i + 1];
    if (!a.startsWith('--') || v === undefined) throw new UsageError(a.startsWith('--') ? `${a} needs a value` : `unexpected argument '${a}'`);
    i++;
    switch (a) {
      case '--shard': o.shard = v; break;
      case '--mode':
        if (v !== 'kill' && v !== 'partition') throw new UsageError(`--mode: kill or partition, got '${v}'`);
        o.mode = v;
        break;
      case '--partition-time': o.partitionMs = num(v, a, 1); break;
      case '--partition-cmd': o.partitionCmd = v; break;
      case '--heal-cmd': o.healCmd = v; break;
      case '--restart-cmd': o.restartCmd = v; break;
      case '--from': o.from = v; break;
      case '--to': o.to = v; break;
      case '--slots': o.slots = num(v, a, 1); break;
      case '--dir': o.dir = v; break;
      case '--router': o.router = hostPort(v, a); break;
      case '--controllers':
        try {
          parseControllers(v);
        } catch (e) {
          throw new UsageError(`--controllers: ${(e as Error).message}`);
        }
        o.controllers = v;
        break;
      case '--password': o.password = v; break;
      case '--client':
        if (v !== 'router' && v !== 'cluster') throw new UsageError(`--client: router or cluster, got '${v}'`);
        o.client = v;
        break;
      case '--duration': o.durationS = num(v, a, 1); break;
      case '--warmup': o.warmupS = num(v, a, 0.5); break;
      case '--rate': o.rate = num(v, a, 0); break;
      case '--writers': o.writers = num(v, a, 1); break;
      case '--readers': o.readers = num(v, a, 0); break;
      case '--op-timeout': o.opTimeoutMs = num(v, a, 10); break;
      case '--probe-interval': o.probeMs = num(v, a, 0); break;
      case '--timeout': o.timeoutS = num(v, a, 1); break;
      case '--json': o.json = v; break;
      default: throw new UsageError(`unknown option '${a}' (see sonic drill --help)`);
    }
  }
  if ((o.partitionCmd === null) !== (o.healCmd === null)) throw new UsageError('--partition-cmd and --heal-cmd go together');
  if (o.partitionCmd !== null && o.mode !== 'partition') throw new UsageError('--partition-cmd needs --mode partition');
  if ((o.restart || o.restartCmd !== null) && o.mode !== 'kill') throw new UsageError('--restart and --restart-cmd go with --mode kill');
  if (o.restart && o.restartCmd !== null) throw new UsageError('--restart or --restart-cmd, not both');
  if (kind === 'reshard') {
    const pair = o.from !== null || o.to !== null || o.slots > 0;
    if (pair === o.rebalance) throw new UsageError('drill reshard needs --from SHARD --to SHARD --slots N, or --rebalance');
    if (pair && (o.from === null || o.to === null || o.slots < 1)) throw new UsageError('drill reshard needs all of --from, --to and --slots');
    if (o.slots >= SLOTS) throw new UsageError(`--slots: at most ${SLOTS - 1}`);
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds or `ms` pass; true when it held. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

interface Run {
  o: DrillOptions;
  cc: ControlClients;
  st: Status;
  clients: ClientFactory;
  workload: Workload;
  t0: number;
  log: (line: string) => void;
  /** The pid of the 'sonic up' that runs the cluster, when the target came from up.json. */
  upPid: number | null;
}

/** What the event did (absolute times), for the report. */
type EventResult = Pick<ReportInput, 'eventAt' | 'eventEnd' | 'detectedAt' | 'newPrimaryAt' | 'healedAt' | 'restartedAt' | 'slots'> & {
  newPrimary: string | null;
  target: DrillReport['target'];
};

/** The first write to `slots` acknowledged after it started at or after `since`. */
function recoveredAfter(r: Run, since: number, slots: Set<number>): () => boolean {
  let i = 0;
  return () => {
    const w = r.workload.writes;
    for (; i < w.length; i++) if (w[i]!.outcome === 'ok' && w[i]!.start >= since && slots.has(keyHashSlot(w[i]!.key))) return true;
    return false;
  };
}

/** What the event acts on, found before the workload starts (the probes need the slots). */
interface Plan {
  slots: Set<number>;
  node?: NodeRef;
  pid?: number | null;
  moves?: { slot: number; to: string }[];
}

async function planFailover(o: DrillOptions, st: Status, upPid: number | null): Promise<Plan> {
  const shard = st.config?.shards.find((s) => s.id === o.shard);
  if (!shard) throw new Error(`unknown shard ${o.shard} (the controllers know ${(st.config?.shards ?? []).map((s) => s.id).join(', ')})`);
  if (shard.primary === '') throw new Error(`${o.shard} has no primary`);
  if (shard.replicas.length === 0) throw new Error(`${o.shard} has no replica to fail over to`);
  const node: NodeRef = nodeRef(st, shard.primary);
  const slots = slotsOfShard(st, o.shard);
  const hooks = o.partitionCmd !== null;
  if (o.restart && upPid === null) throw new Error('--restart needs a cluster started by sonic up (its up.json, without --controllers); use --restart-cmd');
  let pid: number | null = null;
  if (!hooks) {
    if (!isLocalAddress(node.host)) throw new Error(`${node.id} (${node.host}:${node.port}) is not on this machine: --mode ${o.mode} signals its process; use --mode partition with --partition-cmd/--heal-cmd`);
    pid = await nodePid(node, o.password);
    process.kill(pid, 0);
  }
  return { slots, node, pid };
}

async function failoverEvent(r: Run, plan: Plan): Promise<EventResult> {
  const { o, st } = r;
  const node = plan.node!;
  const pid = plan.pid ?? null;
  const slots = plan.slots;
  const hooks = o.partitionCmd !== null;
  const target = { shard: o.shard, node: node.id, address: `${node.host}:${node.port}`, pid };
  const watch = watchShard(r.cc, o.shard, node.id, Number(st.config?.epoch ?? 0), (what) => r.log(what));
  const timeoutMs = o.timeoutS * 1000;
  let healedAt: number | null = null;
  let eventAt = 0;
  try {
    if (o.mode === 'kill') {
      eventAt = Date.now();
      process.kill(pid!, 'SIGKILL');
      r.log(`killed ${node.id} (pid ${pid})`);
    } else {
      let healed = false;
      const heal = async () => {
        if (healed) return;
        healed = true;
        if (hooks) await runHook(o.healCmd!, node, pid);
        else process.kill(pid!, 'SIGCONT');
        healedAt = Date.now();
      };
      // Ctrl-C during the partition must not leave the node frozen or cut off.
      const onSignal = () => void heal().finally(() => process.exit(2));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        eventAt = Date.now();
        if (hooks) await runHook(o.partitionCmd!, node, pid);
        else process.kill(pid!, 'SIGSTOP');
        r.log(`partitioned ${node.id} for ${o.partitionMs} ms (${hooks ? 'partition command' : 'SIGSTOP'})`);
        await sleep(eventAt + o.partitionMs - Date.now());
      } finally {
        await heal();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      r.log(`healed ${node.id} (${hooks ? 'heal command' : 'SIGCONT'})`);
    }
    // Kill: wait for the new primary. Partition: it may have come back before a failover.
    if (!(await until(() => watch.w.newPrimaryAt !== null, o.mode === 'kill' ? timeoutMs : Math.min(timeoutMs, 5000)))) {
      r.log(`no new primary for ${o.shard} ${o.mode === 'kill' ? `within ${o.timeoutS} s` : 'after the partition healed'}`);
    }
    let restartedAt: number | null = null;
    if (o.restart || o.restartCmd !== null) {
      if (o.restartCmd !== null) await runHook(o.restartCmd, node, pid);
      else process.kill(r.upPid!, 'SIGUSR2');
      restartedAt = Date.now();
      r.log(`restarting ${node.id}`);
    }
    const since = Math.max(watch.w.newPrimaryAt ?? eventAt, healedAt ?? eventAt);
    if (!(await until(recoveredAfter(r, since, slots), timeoutMs))) r.log(`no write to ${o.shard}'s slots acknowledged within ${o.timeoutS} s`);
    const eventEnd = Date.now();
    return { eventAt, eventEnd, detectedAt: watch.w.detectedAt, newPrimaryAt: watch.w.newPrimaryAt, healedAt, restartedAt, newPrimary: watch.w.newPrimary, slots, target };
  } finally {
    await watch.stop();
  }
}

function planReshard(o: DrillOptions, st: Status): Plan {
  const known = (st.config?.shards ?? []).map((s) => s.id);
  let moves: { slot: number; to: string }[];
  if (o.rebalance) moves = rebalancePlan(st, primaryShards(st));
  else {
    for (const s of [o.from!, o.to!]) if (!known.includes(s)) throw new Error(`unknown shard ${s}`);
    const owned = [...slotsOfShard(st, o.from!)].sort((a, b) => a - b);
    if (owned.length < o.slots) throw new Error(`${o.from} holds ${owned.length} slots, fewer than ${o.slots}`);
    moves = owned.slice(-o.slots).map((slot) => ({ slot, to: o.to! }));
  }
  if (moves.length === 0) throw new Error('nothing to move: the slots are already balanced');
  return { slots: new Set(moves.map((m) => m.slot)), moves };
}

async function reshardEvent(r: Run, plan: Plan): Promise<EventResult> {
  const { o } = r;
  const moves = plan.moves!;
  const eventAt = Date.now();
  await moveSlots(r.cc, moves);
  const eventEnd = Date.now();
  return {
    eventAt,
    eventEnd,
    detectedAt: null,
    newPrimaryAt: null,
    healedAt: null,
    restartedAt: null,
    newPrimary: null,
    slots: plan.slots,
    target: { from: o.from ?? undefined, to: o.to ?? undefined, slots: moves.length },
  };
}

async function drill(o: DrillOptions): Promise<DrillReport> {
  const up = o.router === null || o.controllers === null ? readUpFile(o.dir) : null;
  const controllers = o.controllers ?? up?.controllers;
  if (!controllers) throw new Error(`no cluster: ${o.dir}/up.json not found (start one with sonic up, or give --controllers and --router)`);
  const router = o.router ?? up?.router ?? null;
  if (o.client === 'router' && router === null) throw new Error('no router: give --router HOST:PORT (or --client cluster)');
  o.password ??= up?.password ?? null;
  const cc = new ControlClients(parseControllers(controllers));
  try {
    const st = await getStatus(cc, 3000);
    const mode = await replSyncMode(st, o.password);
    const seeds = (st.config?.nodes ?? []).filter((n) => n.role === 'primary' && n.address).map((n) => ({ host: n.address!.host, port: n.address!.port }));
    const makeClients = () => (o.client === 'router' ? routerClients(router!.host, router!.port, o.password, o.opTimeoutMs) : clusterClients(seeds, o.password, o.opTimeoutMs));
    const upPid = o.controllers === null ? (up?.pid ?? null) : null;
    const plan = o.kind === 'failover' ? await planFailover(o, st, upPid) : planReshard(o, st);
    const clients = makeClients();
    const run = randomBytes(3).toString('hex');
    const probe = o.probeMs > 0 ? { slots: plan.slots, everyMs: o.probeMs } : undefined;
    const workload = new Workload(clients, { run, writers: o.writers, readers: o.readers, rate: o.rate, probe });
    const t0 = Date.now();
    const log = (line: string) => process.stdout.write(`[drill +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
    const r: Run = { o, cc, st, clients, workload, t0, log, upPid };
    const endpoint = o.client === 'router' ? `${router!.host}:${router!.port}` : seeds.map((s) => `${s.host}:${s.port}`).join(',');
    log(`${o.kind} drill, run ${run}: ${o.writers} writers and ${o.readers} readers through ${o.client} ${endpoint}, repl-sync-mode ${mode}`);
    let last = Date.now();
    const progress = setInterval(() => {
      const c = workload.counts(last);
      last = Date.now();
      log(`writes ${c.wOk} ok ${c.wErr} failed, reads ${c.rOk} ok ${c.rErr} failed (last second)`);
    }, 1000);
    let ev: EventResult;
    let end: number;
    try {
      workload.start();
      await sleep(o.warmupS * 1000);
      if (workload.counts().wOk === 0) throw new Error('no write was acknowledged before the event: is the cluster up?');
      ev = o.kind === 'failover' ? await failoverEvent(r, plan) : await reshardEvent(r, plan);
      const stopAt = Math.max(t0 + o.durationS * 1000, ev.eventEnd + o.warmupS * 1000);
      await sleep(stopAt - Date.now());
    } finally {
      clearInterval(progress);
      await workload.stop();
      end = Date.now();
      await clients.close();
    }
    log(`workload stopped; reading ${workload.writes.length} keys back`);
    // Fresh connections: ioredis's may still hold commands the workload gave up on.
    const verify = makeClients();
    const found = await readBack(verify, workload.writes.map((w) => w.key)).finally(() => verify.close());
    const after = await getStatus(cc, 3000).catch(() => null);
    return buildReport({
      base: {
        drill: o.kind,
        mode: o.kind === 'reshard' ? 'reshard' : o.mode,
        run,
        client: o.client,
        endpoint,
        controllers,
        replSyncMode: mode,
        promisesNoLoss: o.kind === 'reshard' || mode === 'sync',
        target: ev.target,
        newPrimary: ev.newPrimary,
        epochBefore: Number(st.config?.epoch ?? 0),
        epochAfter: Number(after?.config?.epoch ?? st.config?.epoch ?? 0),
      },
      t0,
      eventAt: ev.eventAt,
      eventEnd: ev.eventEnd,
      detectedAt: ev.detectedAt,
      newPrimaryAt: ev.newPrimaryAt,
      healedAt: ev.healedAt,
      restartedAt: ev.restartedAt,
      end,
      writes: workload.writes,
      reads: workload.reads,
      slots: ev.slots,
      found,
    });
  } finally {
    cc.close();
  }
}

export async function runDrill(args: string[]): Promise<number> {
  if (args.length === 0 || args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    process.stdout.write(DRILL_USAGE);
    return args.length === 0 ? 1 : 0;
  }
  let o: DrillOptions;
  try {
    o = parseDrillArgs(args);
  } catch (e) {
    process.stderr.write(`sonic drill: ${(e as Error).message}\n`);
    return 1;
  }
  if (o.checkConfig) {
    process.stdout.write('ok\n');
    return 0;
  }
  try {
    const report = await drill(o);
    process.stdout.write(formatReport(report));
    if (o.json !== null) writeFileSync(o.json, JSON.stringify(report, null, 2) + '\n');
    return report.exitStatus;
  } catch (e) {
    const msg = (e as { details?: string }).details || (e as Error).message;
    process.stderr.write(`sonic drill ${o.kind}: ${msg}\n`);
    return 2;
  }
}

/**
 * `sonic cluster …`: the cluster admin verbs (docs/sharding.md). `create` assigns the
 * 16384 hash slots evenly, in contiguous ranges, to the shards the controllers know (or
 * to the shards given), as `redis-cli --cluster create` lays them out. Each assignment is
 * one committed configuration (AssignSlots); re-running is safe: a shard that already
 * holds its range is left as it is. `reshard` and `rebalance` (even, or by --weight,
 * with redis-cli's --threshold) move slots online (the controllers open migrations, the
 * source primaries stream the keys and commit); both show progress and are safe to
 * re-run after an interruption. `check` reports coverage, primaries, replica links, open
 * migrations and stray keys (a primary's keys in slots its shard does not own, asked
 * on each primary's bus: SlotMigration/SlotKeys); `fix` has the primaries delete
 * those. `add-node` waits for a started node to register (its
 * own shard, or a replica of the named one) and can rebalance onto it; `remove-node`
 * moves a primary's slots away with the rebalance plan, then drops the node (and its
 * emptied shard) with RemoveNode. Both are safe to re-run.
 */
import * as grpc from '@grpc/grpc-js';
import { migrationPb, type controlPb } from '@sonic/protocol';
import { CHANNEL_OPTIONS, ControlClients, grpcTarget, parseControllers, SLOTS } from '@sonic/controller';

export const CLUSTER_USAGE = `Usage: sonic cluster create [--shards SHARD,...] [--controllers HOST:PORT,...]
       sonic cluster reshard --from SHARD --to SHARD (--slots N | --slot-list A,B-C) [--controllers ...]
       sonic cluster rebalance [--shards SHARD,...] [--weight SHARD=W ...] [--threshold PCT] [--controllers ...]
       sonic cluster check [--controllers ...]
       sonic cluster fix [--controllers ...]
       sonic cluster add-node HOST:PORT [--replica-of SHARD] [--rebalance] [--controllers ...]
       sonic cluster remove-node NODE-ID|HOST:PORT [--controllers ...]

  create    assign the 16384 hash slots evenly to the shards (contiguous ranges, in
            shard order): the shards the controllers know that have a node, or --shards.
            Run it once the nodes registered; safe to run again. Meant for a new cluster:
            keys already in a slot that changes shard are not moved (see issue 5 part 3).

  reshard   move N slots (the highest ones), or the listed ones, from one shard to
            another, online.
  rebalance spread the slots over the shards in proportion to their weights (1
            each unless --weight; weight 0 gives all away), online: the shards with a
            primary, or --shards (the others give all theirs away, e.g. before
            removing a shard). Nothing moves while every shard is within --threshold
            percent of its share (default 2, as redis-cli --cluster rebalance).
            Waits for open migrations of an interrupted run first.
  check     every slot covered by a shard with a primary, replicas linked, no open
            migrations, no keys on a primary in slots its shard does not own (left by a
            crash between a migration's commit and the clean-up of its source).
  fix       delete those stray keys (each primary deletes them as it deletes a slot
            that moved away; the DELs reach its replicas and AOF), then check again.
  add-node  wait until the node at HOST:PORT, started with --controllers ... and
            --cluster-enabled yes, registered (a new shard, or with --replica-of a
            replica of SHARD, e.g. started with --cluster-shard SHARD or --replicaof);
            --rebalance then moves an even share of the slots to it, online.
            Safe to re-run: a node already in is left as it is.
  remove-node
            move all slots of the node's shard (if it is a primary) to the other
            shards, online (as rebalance --shards), then remove the node and its
            emptied shard from the configuration. A replica is just removed; a primary
            with replicas is refused (remove them first). Safe to re-run after an
            interruption. Stop the node's process afterwards: while it runs, it
            registers again (as an empty shard).

  --controllers LIST   controllers' ports (host:port[@busport], comma-separated)
                       [SONIC_CONTROLLERS, or 127.0.0.1:26379]
  --shards LIST        the shards to spread the slots over, in order
  --weight SHARD=W     rebalance: SHARD's share is W (a number >= 0; repeat the
                       option or give SHARD=W,SHARD=W)
  --threshold PCT      rebalance: move only if a shard is more than PCT percent
                       away from its share [2]
  --replica-of SHARD   add-node: the node must be a replica of SHARD
  --rebalance          add-node: rebalance the slots onto the new primary
  --check-config       validate the arguments, print ok and exit
`;

/** Slots moved per round of migrations (each round is one Migrate per target shard). */
const ROUND = 1024;
/** A round that makes no progress for this long stops the command (re-run to continue). */
const STALL_MS = 30000;

type Status = controlPb.StatusReply;

function owners(st: Status): Map<number, string> {
  const m = new Map<number, string>();
  for (const sh of st.config?.shards ?? []) for (const r of sh.slots) for (let x = r.start; x <= r.end; x++) m.set(x, sh.id);
  return m;
}

function slotsOf(st: Status, shard: string): number[] {
  const sh = st.config?.shards.find((s) => s.id === shard);
  const out: number[] = [];
  for (const r of sh?.slots ?? []) for (let x = r.start; x <= r.end; x++) out.push(x);
  return out;
}

/**
 * Slot counts in proportion to `weights` (cumulative rounding, so equal weights give
 * exactly evenRanges' split and the counts always add up to SLOTS).
 */
export function weightedCounts(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error('the weights add up to 0: no shard would hold a slot');
  let cum = 0;
  return weights.map((w) => {
    const from = Math.round((cum * SLOTS) / total);
    cum += w;
    return Math.round((cum * SLOTS) / total) - from;
  });
}

/** Each shard's target slot count: `shards` by weight (1 unless given), every other shard 0. */
export function rebalanceTargets(shards: string[], weights: Map<string, number> = new Map()): Map<string, number> {
  const counts = weightedCounts(shards.map((s) => weights.get(s) ?? 1));
  return new Map(shards.map((s, i) => [s, counts[i]!]));
}

/** The moves that give every shard its target count (the highest slots of those above it move). */
export function rebalancePlan(st: Status, shards: string[], weights?: Map<string, number>): { slot: number; to: string }[] {
  const want = rebalanceTargets(shards, weights);
  const own = new Map<string, number[]>();
  for (const sh of st.config?.shards ?? []) own.set(sh.id, slotsOf(st, sh.id));
  // Slots given away: the highest of each shard above its share (all of a shard not listed).
  const spare: number[] = [];
  for (const [id, list] of own) {
    const keep = want.get(id) ?? 0;
    if (list.length > keep) spare.push(...list.slice(keep));
  }
  spare.sort((a, b) => a - b);
  const moves: { slot: number; to: string }[] = [];
  for (const id of shards) {
    const need = (want.get(id) ?? 0) - (own.get(id)?.length ?? 0);
    for (let k = 0; k < need && spare.length > 0; k++) moves.push({ slot: spare.shift()!, to: id });
  }
  return moves;
}

/**
 * The shards further from their target than `threshold` percent of it (as redis-cli's
 * --cluster-threshold; a shard that should hold nothing and holds slots always is).
 */
export function overThreshold(st: Status, want: Map<string, number>, threshold: number): string[] {
  const out: string[] = [];
  for (const sh of st.config?.shards ?? []) {
    const have = slotsOf(st, sh.id).length;
    const target = want.get(sh.id) ?? 0;
    if (target === 0 ? have > 0 : (Math.abs(have - target) / target) * 100 > threshold) out.push(sh.id);
  }
  return out;
}

/** "a=2,b=1" (repeatable) → weights; a weight is a finite number >= 0. */
export function parseWeights(specs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const part of specs.flatMap((s) => s.split(',')).filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const w = Number(part.slice(eq + 1));
    if (eq <= 0 || part.slice(eq + 1).trim() === '' || !Number.isFinite(w) || w < 0) throw new Error(`invalid weight '${part}' (expected SHARD=W, W a number >= 0)`);
    m.set(part.slice(0, eq), w);
  }
  return m;
}

/** Waits until no migration is open (an interrupted run's finish on their own), with progress. */
async function settleOpen(controllers: ControlClients): Promise<Status> {
  let st = await controllers.any<Status>('status', {}, 3000);
  let open = st.config?.migrations.length ?? 0;
  if (open === 0) return st;
  process.stdout.write(`waiting for ${open} open slot migrations (an earlier run) to finish\n`);
  let lastChange = Date.now();
  while (open > 0) {
    if (Date.now() - lastChange > STALL_MS) throw new Error(`${open} slot migrations made no progress for ${STALL_MS / 1000} s (see sonic cluster check)`);
    await new Promise((r) => setTimeout(r, 100));
    st = await controllers.any<Status>('status', {}, 3000);
    const now = st.config?.migrations.length ?? 0;
    if (now !== open) lastChange = Date.now();
    open = now;
  }
  process.stdout.write('open migrations finished\n');
  return st;
}

/**
 * Opens the migrations of `slots` to shard `to` (Migrate → beginMigration, idempotent:
 * open ones stay as they are), asking again while no controller can take it (a leader
 * election, a loaded machine) for up to the stall limit.
 */
async function openMigrations(controllers: ControlClients, slots: number[], to: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    let why: string;
    try {
      const r = await controllers.any<controlPb.AdminReply>('migrate', { slots, toShard: to, cancel: false }, 10000);
      if (r.ok) return;
      if (!/^TRYAGAIN/.test(r.error)) throw new Error(`opening migrations to ${to}: ${r.error}`);
      why = r.error;
    } catch (e) {
      if (!(e as { code?: number }).code) throw e;
      why = (e as { details?: string }).details || (e as Error).message;
    }
    if (Date.now() - t0 > STALL_MS) throw new Error(`opening migrations to ${to}: no controller took it for ${STALL_MS / 1000} s (last: ${why}); re-run to continue`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Opens the migrations round by round and waits for each round's slots to change owner. */
async function runMoves(controllers: ControlClients, moves: { slot: number; to: string }[]): Promise<void> {
  const total = moves.length;
  let done = 0;
  const t0 = Date.now();
  for (let i = 0; i < moves.length; i += ROUND) {
    const round = moves.slice(i, i + ROUND);
    const byTarget = new Map<string, number[]>();
    for (const m of round) byTarget.set(m.to, [...(byTarget.get(m.to) ?? []), m.slot]);
    for (const [to, slots] of byTarget) await openMigrations(controllers, slots, to);
    let last = -1;
    let lastChange = Date.now();
    // Keys the targets received of the round's slots still moving: progress within big slots.
    let keys = -1;
    let keysAsked = Date.now();
    let printed = Date.now();
    for (;;) {
      // No controller answering for a moment (a leader just died, a loaded machine) is
      // not the end of the move: the nodes go on; asked again until the stall limit.
      const st = await controllers.any<Status>('status', {}, 3000).catch(() => null);
      if (st === null) {
        if (Date.now() - lastChange > STALL_MS) throw new Error(`no controller answered for ${STALL_MS / 1000} s (${done}/${total} slots moved); re-run to continue`);
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const own = owners(st);
      const moved = round.filter((m) => own.get(m.slot) === m.to).length;
      if (moved !== last) {
        last = moved;
        lastChange = Date.now();
      }
      if (moved === round.length) break;
      if (Date.now() - keysAsked >= 1000) {
        keysAsked = Date.now();
        const now = await importedKeys(st, new Set(round.filter((m) => own.get(m.slot) !== m.to).map((m) => m.slot)));
        if (now !== keys) {
          if (keys >= 0) lastChange = Date.now();
          keys = now;
        }
        if (keys > 0 && Date.now() - printed >= 2000) {
          printed = Date.now();
          process.stdout.write(`  ${done + moved}/${total} slots moved; ${keys} keys of the slots in flight at their targets (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
        }
      }
      if (Date.now() - lastChange > STALL_MS) throw new Error(`no progress for ${STALL_MS / 1000} s (${done + moved}/${total} slots moved); re-run to continue`);
      await new Promise((r) => setTimeout(r, 100));
    }
    done += round.length;
    process.stdout.write(`moved ${done}/${total} slots (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
}

/** Runs the moves with progress (the one slot-moving path of reshard, rebalance, add-node, remove-node). */
export async function moveSlots(controllers: ControlClients, moves: { slot: number; to: string }[]): Promise<void> {
  if (moves.length === 0) {
    process.stdout.write('nothing to move\n');
    return;
  }
  process.stdout.write(`moving ${moves.length} slots\n`);
  await runMoves(controllers, moves);
  process.stdout.write(`[OK] ${moves.length} slots moved\n`);
}

/** The shards with a primary, in configuration order (rebalance's default set). */
export function primaryShards(st: Status): string[] {
  return (st.config?.shards ?? []).filter((s) => s.primary !== '').map((s) => s.id);
}

type ConfigNode = NonNullable<Status['config']>['nodes'][number];

/** A node of the configuration by id, or by host:port (a bare port or localhost means 127.0.0.1 too). */
function findNode(st: Status, ref: string): ConfigNode | undefined {
  const nodes = st.config?.nodes ?? [];
  const byId = nodes.find((n) => n.id === ref);
  if (byId) return byId;
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(ref);
  if (!m) return undefined;
  const port = Number(m[2]);
  const host = (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  const local = (h: string) => h === '127.0.0.1' || h === 'localhost' || h === '::1';
  return nodes.find((n) => n.address?.port === port && (n.address.host === host || (local(n.address.host) && local(host))));
}

async function addNode(controllers: ControlClients, ref: string, replicaOf: string | undefined, rebalance: boolean): Promise<void> {
  if (!/^(?:(\[[^\]]+\]|[^:]+):)?\d+$/.test(ref)) throw new Error(`expected HOST:PORT, got '${ref}'`);
  const t0 = Date.now();
  let st = await controllers.any<Status>('status', {}, 3000);
  let n = findNode(st, ref);
  if (!n) process.stdout.write(`waiting for ${ref} to register (start it with --controllers ... --cluster-enabled yes)\n`);
  while (!n) {
    if (Date.now() - t0 > STALL_MS) throw new Error(`${ref} did not register within ${STALL_MS / 1000} s; re-run once it runs`);
    await new Promise((r) => setTimeout(r, 200));
    st = await controllers.any<Status>('status', {}, 3000);
    n = findNode(st, ref);
  }
  if (replicaOf !== undefined && (n.shard !== replicaOf || n.role !== 'replica')) {
    throw new Error(`${n.id} registered as ${n.role} of ${n.shard}, not as a replica of ${replicaOf} (start it with --cluster-shard ${replicaOf} or --replicaof its primary)`);
  }
  process.stdout.write(`[OK] ${n.id} (${n.address?.host}:${n.address?.port}) is in the cluster: ${n.role} of ${n.shard}\n`);
  if (!rebalance) return;
  if (n.role !== 'primary') {
    process.stdout.write(`${n.id} is a replica: nothing to rebalance\n`);
    return;
  }
  await moveSlots(controllers, rebalancePlan(st, primaryShards(st)));
}

async function removeNode(controllers: ControlClients, ref: string): Promise<void> {
  let st = await controllers.any<Status>('status', {}, 3000);
  const n = findNode(st, ref);
  if (!n) {
    process.stdout.write(`[OK] ${ref} is not in the configuration (already removed)\n`);
    return;
  }
  const shard = st.config?.shards.find((s) => s.id === n.shard);
  if (shard !== undefined && shard.primary === n.id) {
    if (shard.replicas.length > 0) throw new Error(`${n.id} is the primary of ${shard.id}, which has replicas (${shard.replicas.join(', ')}): remove them first, or fail over`);
    if (slotsOf(st, shard.id).length > 0 || (st.config?.migrations ?? []).some((m) => m.toShard === shard.id)) {
      const others = primaryShards(st).filter((s) => s !== shard.id);
      if (others.length === 0) throw new Error(`${shard.id} is the only shard with a primary: its slots have nowhere to go`);
      process.stdout.write(`moving the slots of ${shard.id} to ${others.join(', ')}\n`);
      await moveSlots(controllers, rebalancePlan(st, others));
      st = await controllers.any<Status>('status', {}, 3000);
      const left = slotsOf(st, shard.id).length;
      if (left > 0) throw new Error(`${shard.id} still holds ${left} slots; re-run to continue`);
    }
  }
  const r = await controllers.any<controlPb.AdminReply>('removeNode', { nodeId: n.id }, 10000);
  if (!r.ok) throw new Error(`removing ${n.id}: ${r.error}`);
  process.stdout.write(`[OK] ${n.id} removed from ${n.shard} (epoch ${r.epoch}); stop its process now (a running node registers again)\n`);
}

/** "1,5-9" → [1, 5, 6, 7, 8, 9]. */
function parseSlotList(s: string): number[] {
  const out = new Set<number>();
  for (const part of s.split(',').filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`invalid slot list entry '${part}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a > b || b >= SLOTS) throw new Error(`invalid slot range '${part}'`);
    for (let x = a; x <= b; x++) out.add(x);
  }
  return [...out].sort((x, y) => x - y);
}

function checkReport(st: Status): string[] {
  const problems: string[] = [];
  const own = owners(st);
  let uncovered = 0;
  for (let s = 0; s < SLOTS; s++) if (!own.has(s)) uncovered++;
  if (uncovered > 0) problems.push(`${uncovered} slots are not assigned to a shard`);
  for (const sh of st.config?.shards ?? []) {
    if (sh.slots.length > 0 && sh.primary === '') problems.push(`${sh.id} holds slots but has no primary`);
  }
  for (const n of st.config?.nodes ?? []) if (n.health !== 'ok') problems.push(`node ${n.id} (${n.shard}, ${n.role}) is ${n.health}`);
  const live = new Map(st.nodes.map((n) => [n.id, n]));
  for (const n of st.config?.nodes ?? []) {
    const l = live.get(n.id);
    if (n.role === 'replica' && l !== undefined && !l.linkUp) problems.push(`replica ${n.id} of ${n.shard} has its link down`);
  }
  const open = st.config?.migrations.length ?? 0;
  if (open > 0) problems.push(`${open} slot migrations are open (a reshard in progress, or interrupted: re-run it)`);
  return problems;
}

/** A primary's key counts by slot (migration.ts slotKeys): stray and importing. */
interface SlotKeys {
  node: ConfigNode;
  reply: migrationPb.SlotKeysReply | null;
  error: string;
}

/** Asks every healthy primary, on its bus port, for its key counts (and with `del` to delete its stray keys). */
async function slotKeys(st: Status, del: boolean): Promise<SlotKeys[]> {
  const primaries = (st.config?.nodes ?? []).filter((n) => n.role === 'primary' && n.health === 'ok');
  return Promise.all(
    primaries.map(
      (node) =>
        new Promise<SlotKeys>((resolve) => {
          const a = node.address!;
          const client = new migrationPb.SlotMigrationClient(grpcTarget(a.host, a.busPort > 0 ? a.busPort : a.port + 10000), grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
          client.slotKeys({ deleteStray: del }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (e, r) => {
            client.close();
            // UNIMPLEMENTED: a node without cluster-enabled serves no slots (nothing stray).
            if (e?.code === grpc.status.UNIMPLEMENTED) resolve({ node, reply: { epoch: 0, primary: true, stray: [], importing: [], deleting: 0 }, error: '' });
            else resolve({ node, reply: e ? null : r!, error: e ? e.details || e.message : '' });
          });
        }),
    ),
  );
}

/** Keys the target primaries received so far of `slots` (a move's progress). */
async function importedKeys(st: Status, slots: Set<number>): Promise<number> {
  let n = 0;
  for (const { reply } of await slotKeys(st, false)) for (const x of reply?.importing ?? []) if (slots.has(x.slot)) n += x.keys;
  return n;
}

function slotSample(slots: { slot: number }[]): string {
  const s = slots.slice(0, 8).map((x) => x.slot).join(',');
  return slots.length > 8 ? `${s},… (${slots.length} slots)` : s;
}

/**
 * Stray keys as problems. Slots a primary is already deleting (one that just moved away)
 * are waited for up to 3 s first: a clean-up in progress is not a problem.
 */
async function strayProblems(controllers: ControlClients, st: Status): Promise<string[]> {
  let strays = await slotKeys(st, false);
  const deadline = Date.now() + 3000;
  while (strays.some((x) => x.reply?.stray.some((sl) => sl.cleaning)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    strays = await slotKeys(await controllers.any<Status>('status', {}, 3000), false);
  }
  const problems: string[] = [];
  for (const { node, reply, error } of strays) {
    const where = `${node.id} (${node.shard}, ${node.address?.host}:${node.address?.port})`;
    if (reply === null) {
      problems.push(`cannot ask ${where} for keys of slots it does not serve: ${error}`);
      continue;
    }
    if (reply.stray.length === 0) continue;
    const keys = reply.stray.reduce((n, x) => n + x.keys, 0);
    problems.push(`${where} holds ${keys} keys in ${reply.stray.length} slots its shard does not own (${slotSample(reply.stray)}): left by an interrupted migration or a node that joined with data, unreachable by clients; 'sonic cluster fix' deletes them`);
  }
  return problems;
}

/** `sonic cluster fix`: the primaries delete their stray keys; waits until none is left. */
async function fix(controllers: ControlClients): Promise<number> {
  const st = await controllers.any<Status>('status', {}, 3000);
  const open = st.config?.migrations.length ?? 0;
  if (open > 0) process.stdout.write(`note: ${open} slot migrations are open; the slots they move are left alone (re-run the reshard or rebalance to finish them)\n`);
  const asked = await slotKeys(st, true);
  let total = 0;
  for (const { node, reply, error } of asked) {
    if (reply === null) process.stdout.write(`[ERR] ${node.id}: ${error}\n`);
    else if (reply.stray.length > 0) {
      const keys = reply.stray.reduce((n, x) => n + x.keys, 0);
      total += keys;
      process.stdout.write(`${node.id} (${node.shard}): deleting ${keys} keys in ${reply.stray.length} slots it does not serve (${slotSample(reply.stray)})\n`);
    }
  }
  if (total === 0) process.stdout.write('no stray keys\n');
  const t0 = Date.now();
  for (;;) {
    const left = (await slotKeys(await controllers.any<Status>('status', {}, 3000), false)).reduce((n, x) => n + (x.reply?.stray.reduce((k, sl) => k + sl.keys, 0) ?? 0), 0);
    if (left === 0) break;
    if (Date.now() - t0 > STALL_MS) throw new Error(`${left} stray keys left after ${STALL_MS / 1000} s; re-run`);
    process.stdout.write(`${left} stray keys left\n`);
    await new Promise((r) => setTimeout(r, 500));
  }
  if (total > 0) process.stdout.write(`[OK] ${total} stray keys deleted\n`);
  return report(controllers);
}

/** `sonic cluster check`: prints the problems (or OK); 0 when there are none. */
async function report(controllers: ControlClients): Promise<number> {
  const st = await controllers.any<Status>('status', {}, 3000);
  const problems = [...checkReport(st), ...(await strayProblems(controllers, st))];
  for (const p of problems) process.stdout.write(`[ERR] ${p}\n`);
  if (problems.length === 0) process.stdout.write(`[OK] All ${SLOTS} slots covered; ${st.config?.shards.length ?? 0} shards; no open migrations; no stray keys (epoch ${st.config?.epoch})\n`);
  return problems.length === 0 ? 0 : 1;
}

/** Even contiguous ranges of the slot space over `n` shards (n ≥ 1). */
export function evenRanges(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push([Math.round((i * SLOTS) / n), Math.round(((i + 1) * SLOTS) / n) - 1]);
  return out;
}

export async function runCluster(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(CLUSTER_USAGE);
    return verb === undefined ? 1 : 0;
  }
  if (!['create', 'reshard', 'rebalance', 'check', 'fix', 'add-node', 'remove-node'].includes(verb)) {
    process.stderr.write(`sonic cluster: unknown verb '${verb}' (see sonic cluster --help)\n`);
    return 1;
  }
  let list = process.env.SONIC_CONTROLLERS ?? '127.0.0.1:26379';
  let only: string[] | null = null;
  const opt = new Map<string, string>();
  const positional: string[] = [];
  let rebalance = false;
  let check = false;
  const weightSpecs: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(CLUSTER_USAGE);
      return 0;
    }
    if (a === '--rebalance' && verb === 'add-node') rebalance = true;
    else if (a === '--check-config') check = true;
    else if (['--controllers', '--shards', '--from', '--to', '--slots', '--slot-list', '--replica-of', '--weight', '--threshold'].includes(a) && i + 1 < rest.length) {
      const v = rest[++i]!;
      if (a === '--controllers') list = v;
      else if (a === '--shards') only = v.split(',').filter(Boolean);
      else if (a === '--weight') weightSpecs.push(v);
      else opt.set(a.slice(2), v);
    } else if ((verb === 'add-node' || verb === 'remove-node') && !a.startsWith('-') && positional.length === 0) positional.push(a);
    else {
      process.stderr.write(`sonic cluster ${verb}: unexpected argument '${a}'\n`);
      return 1;
    }
  }
  if ((verb === 'add-node' || verb === 'remove-node') && positional.length === 0) {
    process.stderr.write(`sonic cluster ${verb}: missing ${verb === 'add-node' ? 'HOST:PORT' : 'NODE-ID or HOST:PORT'} (see sonic cluster --help)\n`);
    return 1;
  }
  let weights: Map<string, number>;
  const threshold = opt.has('threshold') ? Number(opt.get('threshold')) : 2;
  try {
    weights = parseWeights(weightSpecs);
    if (!Number.isFinite(threshold) || threshold < 0) throw new Error(`invalid --threshold '${opt.get('threshold')}' (a percentage >= 0)`);
    if ((weightSpecs.length > 0 || opt.has('threshold')) && verb !== 'rebalance') throw new Error('--weight and --threshold are options of rebalance');
  } catch (e) {
    process.stderr.write(`sonic cluster ${verb}: ${(e as Error).message}\n`);
    return 1;
  }
  if (check) {
    parseControllers(list); // throws the one-line reason
    process.stdout.write('ok\n');
    return 0;
  }
  const controllers = new ControlClients(parseControllers(list));
  if (verb !== 'create') {
    try {
      if (verb === 'add-node') {
        await addNode(controllers, positional[0]!, opt.get('replica-of'), rebalance);
        return 0;
      }
      if (verb === 'remove-node') {
        await removeNode(controllers, positional[0]!);
        return 0;
      }
      if (verb === 'check') return await report(controllers);
      if (verb === 'fix') return await fix(controllers);
      const st = verb === 'rebalance' ? await settleOpen(controllers) : await controllers.any<Status>('status', {}, 3000);
      const known = (st.config?.shards ?? []).map((s) => s.id);
      let moves: { slot: number; to: string }[];
      if (verb === 'reshard') {
        const from = opt.get('from');
        const to = opt.get('to');
        const n = Number(opt.get('slots'));
        const listed = opt.get('slot-list');
        if (!from || !to || (listed === undefined && (!Number.isInteger(n) || n < 1))) throw new Error('reshard needs --from SHARD --to SHARD and --slots N or --slot-list A,B-C');
        for (const s of [from, to]) if (!known.includes(s)) throw new Error(`unknown shard ${s}`);
        const owned = slotsOf(st, from);
        if (listed !== undefined) {
          const want = parseSlotList(listed);
          const own = new Set(owned);
          const foreign = want.filter((x) => !own.has(x));
          if (foreign.length > 0) throw new Error(`${from} does not own slot(s) ${foreign.slice(0, 10).join(',')}`);
          moves = want.map((slot) => ({ slot, to }));
        } else moves = owned.slice(-n).map((slot) => ({ slot, to }));
      } else {
        const shards = [...(only ?? primaryShards(st))];
        for (const s of shards) if (!known.includes(s)) throw new Error(`unknown shard ${s}`);
        for (const [s, w] of weights) {
          if (!known.includes(s)) throw new Error(`unknown shard ${s} in --weight`);
          if (!shards.includes(s) && w > 0) throw new Error(`${s} has a weight but is not among the shards rebalanced (${shards.join(',')})`);
          const sh = st.config!.shards.find((x) => x.id === s)!;
          if (w > 0 && sh.primary === '') throw new Error(`${s} has no primary: it cannot take slots`);
        }
        const want = rebalanceTargets(shards, weights);
        const over = overThreshold(st, want, threshold);
        for (const sh of st.config?.shards ?? []) {
          const w = weights.get(sh.id) ?? (shards.includes(sh.id) ? 1 : 0);
          process.stdout.write(`${sh.id}: ${slotsOf(st, sh.id).length} slots, weight ${w}, target ${want.get(sh.id) ?? 0}\n`);
        }
        if (over.length === 0) {
          process.stdout.write(`[OK] every shard is within ${threshold}% of its target: nothing to move (--threshold 0 to move anyway)\n`);
          return 0;
        }
        moves = rebalancePlan(st, shards, weights);
      }
      await moveSlots(controllers, moves);
      return 0;
    } catch (e) {
      const msg = (e as { details?: string }).details || (e as Error).message;
      process.stderr.write(`sonic cluster ${verb}: ${msg}\n`);
      return 1;
    } finally {
      controllers.close();
    }
  }
  try {
    const status = await controllers.any<controlPb.StatusReply>('status', {}, 3000);
    const known = status.config?.shards ?? [];
    let shards: string[];
    if (only !== null) {
      const missing = only.filter((s) => !known.some((k) => k.id === s));
      if (missing.length > 0) throw new Error(`unknown shard(s): ${missing.join(', ')}`);
      shards = only;
    } else shards = known.filter((s) => s.primary !== '' || s.replicas.length > 0).map((s) => s.id);
    if (shards.length === 0) throw new Error('the controllers know no shard yet (start nodes with --controllers first)');
    const ranges = evenRanges(shards.length);
    let epoch = status.config?.epoch ?? 0;
    for (let i = 0; i < shards.length; i++) {
      const [start, end] = ranges[i]!;
      const r = await controllers.any<controlPb.AdminReply>('assignSlots', { shard: shards[i], slots: [{ start, end }] }, 10000);
      if (!r.ok) throw new Error(`assigning ${start}-${end} to ${shards[i]}: ${r.error}`);
      epoch = r.epoch;
      process.stdout.write(`${shards[i]}: slots ${start}-${end} (${end - start + 1})\n`);
    }
    process.stdout.write(`[OK] All ${SLOTS} slots covered by ${shards.length} shard${shards.length === 1 ? '' : 's'} (epoch ${epoch})\n`);
    return 0;
  } catch (e) {
    const msg = (e as { details?: string }).details || (e as Error).message;
    process.stderr.write(`sonic cluster create: ${msg}\n`);
    return 1;
  } finally {
    controllers.close();
  }
}

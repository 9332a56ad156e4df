/**
 * `sonic cluster …`: the cluster admin verbs (docs/sharding.md). `create` assigns the
 * 16384 hash slots evenly, in contiguous ranges, to the shards the controllers know (or
 * to the shards given), as `redis-cli --cluster create` lays them out. Each assignment is
 * one committed configuration (AssignSlots); re-running is safe: a shard that already
 * holds its range is left as it is. `reshard` and `rebalance` move slots online (the
 * controllers open migrations, the source primaries stream the keys and commit); both
 * show progress and are safe to re-run after an interruption. `check` reports coverage,
 * primaries and open migrations. `add-node` waits for a started node to register (its
 * own shard, or a replica of the named one) and can rebalance onto it; `remove-node`
 * moves a primary's slots away with the rebalance plan, then drops the node (and its
 * emptied shard) with RemoveNode. Both are safe to re-run.
 */
import type { controlPb } from '@sonic/protocol';
import { ControlClients, parseControllers, SLOTS } from '@sonic/controller';

export const CLUSTER_USAGE = `Usage: sonic cluster create [--shards SHARD,...] [--controllers HOST:PORT,...]
       sonic cluster reshard --from SHARD --to SHARD (--slots N | --slot-list A,B-C) [--controllers ...]
       sonic cluster rebalance [--shards SHARD,...] [--controllers ...]
       sonic cluster check [--controllers ...]
       sonic cluster add-node HOST:PORT [--replica-of SHARD] [--rebalance] [--controllers ...]
       sonic cluster remove-node NODE-ID|HOST:PORT [--controllers ...]

  create    assign the 16384 hash slots evenly to the shards (contiguous ranges, in
            shard order): the shards the controllers know that have a node, or --shards.
            Run it once the nodes registered; safe to run again. Meant for a new cluster:
            keys already in a slot that changes shard are not moved (see issue 5 part 3).

  reshard   move N slots (the highest ones), or the listed ones, from one shard to
            another, online.
  rebalance spread the slots evenly over the shards (or --shards: the others give
            all theirs away, e.g. before removing a shard), online.
  check     every slot covered by a shard with a primary, open migrations.
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

/** Even slot counts per shard, as evenRanges splits them. */
function evenCounts(n: number): number[] {
  return evenRanges(n).map(([a, b]) => b - a + 1);
}

/** The moves that make `shards` hold the slots evenly (other shards give theirs away). */
export function rebalancePlan(st: Status, shards: string[]): { slot: number; to: string }[] {
  const counts = evenCounts(shards.length);
  const want = new Map(shards.map((s, i) => [s, counts[i]!]));
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

/** Opens the migrations round by round and waits for each round's slots to change owner. */
async function runMoves(controllers: ControlClients, moves: { slot: number; to: string }[]): Promise<void> {
  const total = moves.length;
  let done = 0;
  const t0 = Date.now();
  for (let i = 0; i < moves.length; i += ROUND) {
    const round = moves.slice(i, i + ROUND);
    const byTarget = new Map<string, number[]>();
    for (const m of round) byTarget.set(m.to, [...(byTarget.get(m.to) ?? []), m.slot]);
    for (const [to, slots] of byTarget) {
      const r = await controllers.any<controlPb.AdminReply>('migrate', { slots, toShard: to, cancel: false }, 10000);
      if (!r.ok) throw new Error(`opening migrations to ${to}: ${r.error}`);
    }
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const st = await controllers.any<Status>('status', {}, 3000);
      const own = owners(st);
      const moved = round.filter((m) => own.get(m.slot) === m.to).length;
      if (moved !== last) {
        last = moved;
        lastChange = Date.now();
      }
      if (moved === round.length) break;
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
  if (!['create', 'reshard', 'rebalance', 'check', 'add-node', 'remove-node'].includes(verb)) {
    process.stderr.write(`sonic cluster: unknown verb '${verb}' (see sonic cluster --help)\n`);
    return 1;
  }
  let list = process.env.SONIC_CONTROLLERS ?? '127.0.0.1:26379';
  let only: string[] | null = null;
  const opt = new Map<string, string>();
  const positional: string[] = [];
  let rebalance = false;
  let check = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(CLUSTER_USAGE);
      return 0;
    }
    if (a === '--rebalance' && verb === 'add-node') rebalance = true;
    else if (a === '--check-config') check = true;
    else if (['--controllers', '--shards', '--from', '--to', '--slots', '--slot-list', '--replica-of'].includes(a) && i + 1 < rest.length) {
      const v = rest[++i]!;
      if (a === '--controllers') list = v;
      else if (a === '--shards') only = v.split(',').filter(Boolean);
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
      const st = await controllers.any<Status>('status', {}, 3000);
      const known = (st.config?.shards ?? []).map((s) => s.id);
      if (verb === 'check') {
        const problems = checkReport(st);
        for (const p of problems) process.stdout.write(`[ERR] ${p}\n`);
        if (problems.length === 0) process.stdout.write(`[OK] All ${SLOTS} slots covered; ${known.length} shards; no open migrations (epoch ${st.config?.epoch})\n`);
        return problems.length === 0 ? 0 : 1;
      }
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
        const shards = only ?? primaryShards(st);
        for (const s of shards) if (!known.includes(s)) throw new Error(`unknown shard ${s}`);
        moves = rebalancePlan(st, shards);
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

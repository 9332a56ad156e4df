/**
 * `sonic cluster …`: the cluster admin verbs (docs/sharding.md). `create` assigns the
 * 16384 hash slots evenly, in contiguous ranges, to the shards the controllers know (or
 * to the shards given), as `redis-cli --cluster create` lays them out. Each assignment is
 * one committed configuration (AssignSlots); re-running is safe: a shard that already
 * holds its range is left as it is.
 */
import type { controlPb } from '@sonic/protocol';
import { ControlClients, parseControllers, SLOTS } from '@sonic/controller';

export const CLUSTER_USAGE = `Usage: sonic cluster create [--shards SHARD,...] [--controllers HOST:PORT,...]

  create    assign the 16384 hash slots evenly to the shards (contiguous ranges, in
            shard order): the shards the controllers know that have a node, or --shards.
            Run it once the nodes registered; safe to run again. Meant for a new cluster:
            keys already in a slot that changes shard are not moved (see issue 5 part 3).

  --controllers LIST   controllers' ports (host:port[@busport], comma-separated)
                       [SONIC_CONTROLLERS, or 127.0.0.1:26379]
  --shards LIST        the shards to spread the slots over, in order
`;

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
  if (verb !== 'create') {
    process.stderr.write(`sonic cluster: unknown verb '${verb}' (see sonic cluster --help)\n`);
    return 1;
  }
  let list = process.env.SONIC_CONTROLLERS ?? '127.0.0.1:26379';
  let only: string[] | null = null;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(CLUSTER_USAGE);
      return 0;
    }
    if ((a === '--controllers' || a === '--shards') && i + 1 < rest.length) {
      const v = rest[++i]!;
      if (a === '--controllers') list = v;
      else only = v.split(',').filter(Boolean);
    } else {
      process.stderr.write(`sonic cluster create: unexpected argument '${a}'\n`);
      return 1;
    }
  }
  const controllers = new ControlClients(parseControllers(list));
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

/**
 * The Redis Cluster interface of a 3-shard Sonic cluster (3 controllers, 3 primaries,
 * 3 replicas, `sonic cluster create`) against a reference Redis 7 cluster of the same
 * layout (redis-server --cluster-enabled yes, redis-cli --cluster create): CLUSTER
 * SLOTS/SHARDS/NODES/INFO shapes, the same replies (MOVED, CROSSSLOT, cluster-mode
 * refusals, KEYSLOT/COUNTKEYSINSLOT/GETKEYSINSLOT, transactions) with ids and ports
 * normalised, READONLY on a replica, redis-cli -c following MOVED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RespError, RespVerbatim, type RespValue } from '@sonic/protocol';
import { RawConn, haveRedisServer, redisCli, startSonic, stopAll } from './harness.js';
import { stopEverything, waitFor } from './controller-helpers.js';
import { keyInShard, slotOf, startRedisCluster, startSonicCluster, type RedisCluster, type SonicCluster } from './cluster-helpers.js';

let sonic: SonicCluster;
let redis: RedisCluster;

/** Per cluster: the three primaries' ports in slot-range order, and each one's replica. */
interface Layout {
  primaries: number[];
  replicas: number[];
}
let S: Layout;
let R: Layout;

async function layout(port: number): Promise<Layout> {
  const c = await RawConn.open(port);
  const slots = (await c.call('CLUSTER', 'SLOTS')) as RespValue[][];
  c.close();
  const sorted = [...slots].sort((a, b) => (a[0] as number) - (b[0] as number));
  return { primaries: sorted.map((e) => (e[2] as RespValue[])[1] as number), replicas: sorted.map((e) => (e[3] as RespValue[])[1] as number) };
}

beforeAll(async () => {
  if (!haveRedisServer()) throw new Error('redis-server is not installed (apt-get install redis-server)');
  [sonic, redis] = await Promise.all([startSonicCluster(), startRedisCluster(3, 1)]);
  S = await layout(sonic.primaries[0]!.port);
  R = await layout(redis.nodes[0]!.port);
}, 60000);

afterAll(async () => {
  await stopEverything();
  await stopAll();
});

/** A reply's structure: literal words kept (field names, roles), other strings and numbers typed. */
function shape(v: RespValue): unknown {
  if (v === null) return 'nil';
  if (typeof v === 'number') return 'int';
  if (typeof v === 'string') return /^[a-z][a-z-]*$/.test(v) ? v : 'str';
  if (v instanceof RespError) return `err:${v.code}`;
  if (v instanceof RespVerbatim) return 'verbatim';
  if (v instanceof Map) return { map: [...v.entries()].map(([k, x]) => [shape(k), shape(x)]) };
  if (Array.isArray(v)) return v.map(shape);
  return typeof v;
}

/** Replaces the cluster's ports and 40-hex ids by names, so replies compare across clusters. */
function normaliser(l: Layout): (v: RespValue) => unknown {
  const names = new Map<string, string>();
  l.primaries.forEach((p, i) => names.set(String(p), `P${i}`));
  l.replicas.forEach((p, i) => names.set(String(p), `R${i}`));
  const fix = (s: string) => s.replace(/127\.0\.0\.1:(\d+)/g, (_, p: string) => `@${names.get(p) ?? p}`).replace(/\b[0-9a-f]{40}\b/g, 'ID');
  const norm = (v: RespValue): unknown => {
    if (typeof v === 'string') return fix(v);
    if (v instanceof RespError) return `-${fix(v.message)}`;
    if (Array.isArray(v)) return v.map(norm);
    return v;
  };
  return norm;
}

async function run(port: number, cmds: string[][], l: Layout): Promise<unknown[]> {
  const c = await RawConn.open(port);
  const norm = normaliser(l);
  const out: unknown[] = [];
  try {
    for (const cmd of cmds) out.push(norm(await c.call(...cmd)));
  } finally {
    c.close();
  }
  return out;
}

describe('cluster interface (3 shards, compared with a Redis 7 cluster)', () => {
  it('CLUSTER SLOTS, SHARDS, NODES and INFO have Redis 7.0 shapes, in RESP2 and RESP3', async () => {
    for (const proto of ['2', '3']) {
      const shapes: unknown[][] = [];
      for (const port of [S.primaries[0]!, R.primaries[0]!]) {
        const c = await RawConn.open(port);
        if (proto === '3') await c.call('HELLO', '3');
        const slots = await c.call('CLUSTER', 'SLOTS');
        const shards = await c.call('CLUSTER', 'SHARDS');
        const nodes = await c.call('CLUSTER', 'NODES');
        const info = await c.call('CLUSTER', 'INFO');
        const myid = await c.call('CLUSTER', 'MYID');
        c.close();
        shapes.push([shape(slots), shape(shards), shape(nodes), shape(info), shape(myid)]);
        // CLUSTER SLOTS: the same ranges, primary then replica, [ip, port, 40-hex id, {}].
        const sorted = [...(slots as RespValue[][])].sort((a, b) => (a[0] as number) - (b[0] as number));
        expect(sorted.map((e) => [e[0], e[1]])).toEqual([[0, 5460], [5461, 10922], [10923, 16383]]);
        for (const e of sorted) for (const n of e.slice(2) as RespValue[][]) expect(n[2]).toMatch(/^[0-9a-f]{40}$/);
        expect(String(myid)).toMatch(/^[0-9a-f]{40}$/);
        // CLUSTER NODES: one line per node in Redis's format.
        const lines = String(nodes).trimEnd().split('\n');
        expect(lines).toHaveLength(6);
        const re = /^[0-9a-f]{40} 127\.0\.0\.1:\d+@\d+ (myself,)?(master|slave) ([0-9a-f]{40}|-) 0 \d+ \d+ connected( \d+-\d+)?$/;
        for (const l of lines) expect(l).toMatch(re);
        expect(lines.filter((l) => / (myself,)?master - /.test(l)).map((l) => l.split(' ').pop()).sort()).toEqual(['0-5460', '10923-16383', '5461-10922']);
        expect(lines.filter((l) => l.includes('myself,master'))).toHaveLength(1);
        // CLUSTER INFO: Redis's fields.
        const fields = new Map(String(info).trim().split('\r\n').map((l) => l.split(':') as [string, string]));
        for (const [k, v] of [['cluster_state', 'ok'], ['cluster_slots_assigned', '16384'], ['cluster_slots_ok', '16384'], ['cluster_slots_fail', '0'], ['cluster_known_nodes', '6'], ['cluster_size', '3']]) expect(fields.get(k!)).toBe(v);
        for (const k of ['cluster_slots_pfail', 'cluster_current_epoch', 'cluster_my_epoch', 'cluster_stats_messages_sent', 'cluster_stats_messages_received', 'total_cluster_links_buffer_limit_exceeded']) expect(fields.has(k)).toBe(true);
      }
      expect(shapes[0], `RESP${proto}`).toEqual(shapes[1]);
    }
  });

  it('answers keyed commands as Redis Cluster does: MOVED, CROSSSLOT, database 0 only, transactions, shard channels', async () => {
    // Keys of the first primary's slots (a hash tag: one slot), and keys elsewhere.
    const mine = `{${keyInShard(0, 3, 't')}}`;
    expect(slotOf(mine)).toBeLessThanOrEqual(5460);
    const other = keyInShard(2, 3, 'o');
    const otherToo = keyInShard(1, 3, 'p');
    const a = keyInShard(0, 3, 'a');
    let b = keyInShard(0, 3, 'b');
    if (slotOf(b) === slotOf(a)) b = keyInShard(0, 3, 'bb');
    const cmds: string[][] = [
      ['SET', other, 'v'],
      ['GET', otherToo],
      ['MSET', a, '1', b, '2'],
      ['MSET', `${mine}1`, '1', `${mine}2`, '2'],
      ['MGET', `${mine}1`, `${mine}2`],
      ['DEL', other, otherToo],
      ['SELECT', '1'],
      ['SELECT', '0'],
      ['SELECT', 'x'],
      ['SWAPDB', '0', '1'],
      ['MOVE', `${mine}1`, '1'],
      ['COPY', `${mine}1`, `${mine}3`, 'DB', '1'],
      ['COPY', `${mine}1`, `${mine}3`, 'DB', '0'],
      ['CLUSTER', 'KEYSLOT', `${mine}1`],
      ['CLUSTER', 'KEYSLOT', other],
      ['CLUSTER', 'COUNTKEYSINSLOT', String(slotOf(mine))],
      ['CLUSTER', 'COUNTKEYSINSLOT', String(slotOf(other))],
      ['CLUSTER', 'COUNTKEYSINSLOT', '16384'],
      ['CLUSTER', 'COUNTKEYSINSLOT', '-1'],
      ['CLUSTER', 'COUNTKEYSINSLOT', 'x'],
      ['CLUSTER', 'GETKEYSINSLOT', String(slotOf(mine)), '0'],
      ['CLUSTER', 'GETKEYSINSLOT', '0', '-1'],
      ['CLUSTER', 'GETKEYSINSLOT', '16384', '1'],
      ['CLUSTER', 'GETKEYSINSLOT', '1', 'x'],
      ['CLUSTER', 'REPLICAS', 'abc'],
      ['CLUSTER', 'FOO'],
      ['CLUSTER'],
      ['CLUSTER', 'KEYSLOT'],
      ['READONLY'],
      ['READWRITE'],
      ['ASKING'],
      ['DBSIZE'],
      ['WATCH', other],
      ['MULTI'],
      ['SET', `${mine}1`, 'x'],
      ['SET', other, 'x'],
      ['EXEC'],
      ['MULTI'],
      ['SET', a, 'x'],
      ['SET', b, 'x'],
      ['EXEC'],
      ['GET', a],
      ['MULTI'],
      ['INCR', `${mine}n`],
      ['INCR', `${mine}n`],
      ['EXEC'],
      ['EVAL', 'return 1', '1', other],
      ['EVAL', "return redis.call('GET', KEYS[1])", '1', `${mine}1`],
      ['EVAL', 'return 1', '0'],
      ['XREAD', 'STREAMS', a, b, '0', '0'],
      ['OBJECT', 'ENCODING', other],
      ['PUBLISH', 'news', 'x'],
      ['SPUBLISH', other, 'x'],
      ['SSUBSCRIBE', other],
      ['SUNSUBSCRIBE', other],
      ['PUBSUB', 'SHARDCHANNELS'],
    ];
    const [sonicReplies, redisReplies] = await Promise.all([run(S.primaries[0]!, cmds, S), run(R.primaries[0]!, cmds, R)]);
    for (let i = 0; i < cmds.length; i++) expect(sonicReplies[i], cmds[i]!.join(' ')).toEqual(redisReplies[i]);
    // Keys in a slot, listed: the same set (order is not defined).
    const listed = await Promise.all([S.primaries[0]!, R.primaries[0]!].map(async (port) => {
      const c = await RawConn.open(port);
      const r = (await c.call('CLUSTER', 'GETKEYSINSLOT', String(slotOf(mine)), '10')) as string[];
      await c.call('FLUSHALL');
      c.close();
      return [...r].sort();
    }));
    expect(listed[0]).toEqual([`${mine}1`, `${mine}2`, `${mine}3`, `${mine}n`]);
    expect(listed[0]).toEqual(listed[1]);
  });

  it('a replica answers MOVED, and serves reads after READONLY', async () => {
    const key = `{${keyInShard(0, 3, 'r')}}k`;
    expect(slotOf(key)).toBeLessThanOrEqual(5460);
    const results: unknown[][] = [];
    for (const l of [S, R]) {
      const p = await RawConn.open(l.primaries[0]!);
      expect(await p.call('SET', key, 'v')).toBe('OK');
      p.close();
      const norm = normaliser(l);
      const c = await RawConn.open(l.replicas[0]!);
      const out: unknown[] = [];
      out.push(norm(await c.call('GET', key)));
      out.push(norm(await c.call('READONLY')));
      await waitFor('the replica holds the key', async () => (await c.call('GET', key)) === 'v', 10000);
      out.push(norm(await c.call('GET', key)));
      out.push(norm(await c.call('SET', key, 'w')));
      out.push(norm(await c.call('GET', keyInShard(1, 3))));
      out.push(norm(await c.call('READWRITE')));
      out.push(norm(await c.call('GET', key)));
      c.close();
      results.push(out);
    }
    expect(results[0]).toEqual([`-MOVED ${slotOf(key)} @P0`, 'OK', 'v', `-MOVED ${slotOf(key)} @P0`, `-MOVED ${slotOf(keyInShard(1, 3))} @P1`, 'OK', `-MOVED ${slotOf(key)} @P0`]);
    expect(results[0]).toEqual(results[1]);
    // The replica's slot index follows the replication stream.
    const r = await RawConn.open(S.replicas[0]!);
    expect(await r.call('CLUSTER', 'COUNTKEYSINSLOT', String(slotOf(key)))).toBe(1);
    expect(await r.call('CLUSTER', 'GETKEYSINSLOT', String(slotOf(key)), '5')).toEqual([key]);
    r.close();
  });

  it('redis-cli -c follows MOVED to the owning node; HELLO 3 says mode cluster', async () => {
    const key = keyInShard(2, 3, 'cli');
    const first = S.primaries[0]!;
    expect(redisCli(first, ['SET', key, 'hello']).stdout.trim()).toBe(`MOVED ${slotOf(key)} 127.0.0.1:${S.primaries[2]}`);
    expect(redisCli(first, ['-c', 'SET', key, 'hello']).stdout).toBe('OK');
    expect(redisCli(first, ['-c', 'GET', key]).stdout).toBe('hello');
    expect(redisCli(S.primaries[2]!, ['GET', key]).stdout).toBe('hello');
    const c = await RawConn.open(first);
    const hello = (await c.call('HELLO', '3')) as Map<RespValue, RespValue>;
    expect(hello.get('mode')).toBe('cluster');
    c.close();
  });

  it('a node without controllers answers as a redis-server without cluster-enabled', async () => {
    const n = await startSonic();
    const c = await RawConn.open(n.port);
    for (const cmd of [['CLUSTER', 'INFO'], ['CLUSTER', 'SLOTS'], ['CLUSTER', 'KEYSLOT', 'a'], ['READONLY'], ['READWRITE'], ['ASKING']]) {
      const r = await c.call(...cmd);
      expect(r, cmd.join(' ')).toBeInstanceOf(RespError);
      expect((r as RespError).message).toBe('ERR This instance has cluster support disabled');
    }
    expect(String(await c.call('INFO', 'cluster'))).toContain('cluster_enabled:0');
    expect(await c.call('SELECT', '1')).toBe('OK');
    c.close();
    await n.stop();
  });
});

import { describe, expect, it } from 'vitest';
import { ReplyWriter, Proto } from '@sonic/protocol';
import { applyCommand, emptyConfig, type ClusterConfig, type Command } from '../config/cluster.js';
import { configEvents, downEvent, sentinelCommand, sentinelInfo, sentinelRole, type NodeLive, type SentinelState } from './commands.js';
import { globMatch } from './glob.js';
import { mapToObject, writeReply, type Reply } from './reply.js';

function reg(id: string, port: number, replicaOf?: number): Command {
  return { op: 'register', id, host: '127.0.0.1', port, busPort: 0, runId: `run-${id}`, role: replicaOf ? 'replica' : 'primary', primary: replicaOf ? { host: '127.0.0.1', port: replicaOf } : null, shard: '', priority: 100 };
}

function cluster(): ClusterConfig {
  let c = emptyConfig();
  for (const cmd of [reg('p', 7001), reg('r1', 7002, 7001), reg('r2', 7003, 7001)]) c = applyCommand(c, cmd).config;
  return c;
}

function state(config = cluster(), live: Record<string, Partial<NodeLive>> = {}): SentinelState {
  return {
    myId: 'a'.repeat(40),
    config,
    quorum: 2,
    downAfterMs: 1000,
    failoverTimeoutMs: 10000,
    node: (id) => ({ sdown: false, odown: false, lastOkMs: 10, lastPingMs: 5, role: null, offset: 42, linkUp: true, runId: `run-${id}`, votes: 0, ...live[id] }),
    peers: [
      { id: 'c2', myId: 'b'.repeat(40), host: '127.0.0.1', port: 26380, lastSeenMs: 100 },
      { id: 'c3', myId: 'c'.repeat(40), host: '127.0.0.1', port: 26381, lastSeenMs: -1 },
    ],
    failoverInProgress: new Set(),
    term: 3,
    leaderMyId: 'a'.repeat(40),
  };
}

const noActions = { failover: async () => null };

function encode(r: Reply, proto: Proto): string {
  const w = new ReplyWriter();
  w.proto = proto;
  writeReply(w, r);
  const chunks: Buffer[] = [];
  w.drainTo({ write: (c) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c, 'latin1')) });
  return Buffer.concat(chunks).toString('latin1');
}

describe('Sentinel commands', () => {
  it('GET-MASTER-ADDR-BY-NAME answers the shard primary, or a null array', async () => {
    expect(await sentinelCommand(state(), ['get-master-addr-by-name', 'shard-1'], noActions)).toEqual({ t: 'arr', items: ['127.0.0.1', '7001'] });
    const none = await sentinelCommand(state(), ['get-master-addr-by-name', 'nope'], noActions);
    expect(encode(none, Proto.RESP2)).toBe('*-1\r\n');
    expect(encode(none, Proto.RESP3)).toBe('_\r\n');
  });

  it('MASTER and MASTERS carry Redis field names and flags', async () => {
    const m = mapToObject(await sentinelCommand(state(undefined, { p: { sdown: true, odown: true } }), ['master', 'shard-1'], noActions));
    expect(m).toMatchObject({ name: 'shard-1', ip: '127.0.0.1', port: '7001', flags: 'master,s_down,o_down', 'num-slaves': '2', 'num-other-sentinels': '2', quorum: '2', 'config-epoch': '3' });
    const all = (await sentinelCommand(state(), ['masters'], noActions)) as { t: 'arr'; items: Reply[] };
    expect(all.items.length).toBe(1);
    expect(mapToObject(all.items[0]!).flags).toBe('master');
    expect(await sentinelCommand(state(), ['master', 'x'], noActions)).toEqual({ t: 'err', s: 'ERR No such master with that name' });
    // RESP2: a flat array; RESP3: a map.
    expect(encode(await sentinelCommand(state(), ['master', 'shard-1'], noActions), Proto.RESP2)).toMatch(/^\*4[0-9]\r\n\$4\r\nname\r\n\$7\r\nshard-1\r\n/);
    expect(encode(await sentinelCommand(state(), ['master', 'shard-1'], noActions), Proto.RESP3)).toMatch(/^%2[0-9]\r\n/);
  });

  it('REPLICAS / SLAVES and SENTINELS', async () => {
    const reps = (await sentinelCommand(state(undefined, { r2: { sdown: true } }), ['replicas', 'shard-1'], noActions)) as { t: 'arr'; items: Reply[] };
    expect(reps.items.map((x) => mapToObject(x))).toMatchObject([
      { name: '127.0.0.1:7002', ip: '127.0.0.1', port: '7002', flags: 'slave', 'master-host': '127.0.0.1', 'master-port': '7001', 'master-link-status': 'ok', 'slave-repl-offset': '42' },
      { name: '127.0.0.1:7003', flags: 'slave,s_down' },
    ]);
    expect(await sentinelCommand(state(), ['slaves', 'shard-1'], noActions)).toEqual(await sentinelCommand(state(), ['replicas', 'shard-1'], noActions));
    const sent = (await sentinelCommand(state(), ['sentinels', 'shard-1'], noActions)) as { t: 'arr'; items: Reply[] };
    expect(sent.items.map((x) => mapToObject(x))).toMatchObject([
      { ip: '127.0.0.1', port: '26380', runid: 'b'.repeat(40), flags: 'sentinel' },
      { port: '26381', flags: 'sentinel,s_down,disconnected' },
    ]);
  });

  it('CKQUORUM, MYID, IS-MASTER-DOWN-BY-ADDR, FAILOVER', async () => {
    expect(await sentinelCommand(state(), ['ckquorum', 'shard-1'], noActions)).toEqual({ t: 'status', s: 'OK 2 usable Sentinels. Quorum and failover authorization can be reached' });
    const lonely = { ...state(), peers: [] as SentinelState['peers'] };
    expect(await sentinelCommand(lonely, ['ckquorum', 'shard-1'], noActions)).toMatchObject({ t: 'err', s: expect.stringMatching(/^NOQUORUM 1 usable/) });
    expect(await sentinelCommand(state(), ['myid'], noActions)).toBe('a'.repeat(40));
    expect(await sentinelCommand(state(undefined, { p: { sdown: true } }), ['is-master-down-by-addr', '127.0.0.1', '7001', '0', '*'], noActions)).toEqual({ t: 'arr', items: [1, '*', 0] });
    expect(await sentinelCommand(state(), ['is-master-down-by-addr', '127.0.0.1', '7001', '0', 'x'], noActions)).toEqual({ t: 'arr', items: [0, 'a'.repeat(40), 3] });
    let asked = '';
    expect(await sentinelCommand(state(), ['failover', 'shard-1'], { failover: async (s) => ((asked = s), null) })).toEqual({ t: 'status', s: 'OK' });
    expect(asked).toBe('shard-1');
    expect(await sentinelCommand(state(), ['failover', 'shard-1'], { failover: async () => 'NOGOODSLAVE No suitable replica to promote' })).toEqual({ t: 'err', s: 'NOGOODSLAVE No suitable replica to promote' });
    const busy = { ...state(), failoverInProgress: new Set(['shard-1']) };
    expect(await sentinelCommand(busy, ['failover', 'shard-1'], noActions)).toEqual({ t: 'err', s: 'INPROG Failover already in progress' });
    expect(await sentinelCommand(state(), ['bogus'], noActions)).toMatchObject({ t: 'err' });
    expect(await sentinelCommand(state(), ['master'], noActions)).toMatchObject({ t: 'err', s: expect.stringMatching(/wrong number/) });
  });

  it('INFO and ROLE', () => {
    const info = sentinelInfo(state(), '', { port: 26379, uptimeMs: 5000, runId: 'x', pid: 1 });
    expect(info).toContain('redis_mode:sentinel');
    expect(info).toContain('sentinel_masters:1');
    expect(info).toContain('master0:name=shard-1,status=ok,address=127.0.0.1:7001,slaves=2,sentinels=3');
    expect(sentinelRole(state())).toEqual({ t: 'arr', items: ['sentinel', { t: 'arr', items: ['shard-1'] }] });
  });

  it('events: +sdown/+odown wording and +switch-master on a failover', () => {
    const c = cluster();
    expect(downEvent(c, 'p', '+sdown')).toEqual({ channel: '+sdown', message: 'master shard-1 127.0.0.1 7001' });
    expect(downEvent(c, 'r1', '+sdown')).toEqual({ channel: '+sdown', message: 'slave 127.0.0.1:7002 127.0.0.1 7002 @ shard-1 127.0.0.1 7001' });
    expect(downEvent(c, 'p', '+odown', 2, 2)).toEqual({ channel: '+odown', message: 'master shard-1 127.0.0.1 7001 #quorum 2/2' });
    expect(downEvent(c, 'r1', '+odown')).toBeNull();
    const after = applyCommand(c, { op: 'failover', shard: 'shard-1', from: 'p', to: 'r2', fromHealth: 'down', reason: 'odown' }).config;
    const evs = configEvents(c, after);
    expect(evs.find((e) => e.channel === '+switch-master')).toEqual({ channel: '+switch-master', message: 'shard-1 127.0.0.1 7001 127.0.0.1 7003' });
    expect(evs.map((e) => e.channel)).toEqual(['+new-epoch', '+promoted-slave', '+failover-end', '+switch-master']);
  });
});

describe('glob', () => {
  it('matches as Redis does', () => {
    expect(globMatch('*', '+switch-master')).toBe(true);
    expect(globMatch('[-+]sdown', '+sdown')).toBe(true);
    expect(globMatch('[-+]sdown', '-sdown')).toBe(true);
    expect(globMatch('[-+]sdown', 'xsdown')).toBe(false);
    expect(globMatch('switch-master', '+switch-master')).toBe(false);
    expect(globMatch('+s?down', '+sxdown')).toBe(true);
    expect(globMatch('h[a-c]llo', 'hbllo')).toBe(true);
    expect(globMatch('h[^a-c]llo', 'hbllo')).toBe(false);
    expect(globMatch('a\\*', 'a*')).toBe(true);
    expect(globMatch('a\\*', 'ab')).toBe(false);
  });
});

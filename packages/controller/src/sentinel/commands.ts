/**
 * The Redis Sentinel protocol, answered from the cluster configuration (pure: the
 * controller passes a snapshot of what it knows, the functions return replies).
 *
 * Shard ids are the master names. Replies follow Redis 7.0's Sentinel: field names,
 * their order and flags, so sentinel-aware clients (ioredis, node-redis, redis-py,
 * Jedis, go-redis) and operators' scripts read them unchanged.
 */
import { findNode, findShard, primaryOf, type ClusterConfig, type NodeInfo } from '../config/cluster.js';
import { arr, err, map, OK, status, type Reply } from './reply.js';

export const REDIS_COMPAT_VERSION = '7.0.0';

/** What one controller knows of one node, live. */
export interface NodeLive {
  sdown: boolean;
  odown: boolean;
  /** ms since the last valid PING reply / since the last PING sent; -1 never. */
  lastOkMs: number;
  lastPingMs: number;
  /** What the node reports (heartbeat), or null. */
  role: 'primary' | 'replica' | null;
  offset: number;
  linkUp: boolean;
  runId: string;
  /** Controllers that find it down (odown votes). */
  votes: number;
}

export interface PeerLive {
  id: string;
  /** The Sentinel run id (myid) of that controller. */
  myId: string;
  host: string;
  port: number;
  /** ms since it was last heard from; -1 never. */
  lastSeenMs: number;
}

export interface SentinelState {
  myId: string;
  config: ClusterConfig;
  quorum: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
  node(id: string): NodeLive;
  /** The other controllers. */
  peers: PeerLive[];
  /** Shards with a failover in flight. */
  failoverInProgress: ReadonlySet<string>;
  /** Raft term (reported as the leader epoch). */
  term: number;
  leaderMyId: string | null;
}

const NONE: NodeLive = { sdown: false, odown: false, lastOkMs: -1, lastPingMs: -1, role: null, offset: 0, linkUp: false, runId: '', votes: 0 };

function liveOf(st: SentinelState, id: string): NodeLive {
  return st.node(id) ?? NONE;
}

function ms(v: number): string {
  return String(Math.max(0, v));
}

function masterFlags(st: SentinelState, n: NodeInfo, shard: string): string {
  const l = liveOf(st, n.id);
  const f = ['master'];
  if (l.sdown) f.push('s_down');
  if (l.odown) f.push('o_down');
  if (l.lastOkMs < 0 && l.sdown) f.push('disconnected');
  if (st.failoverInProgress.has(shard)) f.push('failover_in_progress');
  return f.join(',');
}

function masterMap(st: SentinelState, shard: string): Reply {
  const s = findShard(st.config, shard)!;
  const p = findNode(st.config, s.primary!)!;
  const l = liveOf(st, p.id);
  return map([
    ['name', s.id],
    ['ip', p.host],
    ['port', String(p.port)],
    ['runid', l.runId || p.runId],
    ['flags', masterFlags(st, p, s.id)],
    ['link-pending-commands', '0'],
    ['link-refcount', '1'],
    ['last-ping-sent', l.lastOkMs >= 0 && !l.sdown ? '0' : ms(l.lastPingMs)],
    ['last-ok-ping-reply', ms(l.lastOkMs)],
    ['last-ping-reply', ms(l.lastOkMs)],
    ...(l.sdown ? ([['s-down-time', ms(l.lastOkMs - st.downAfterMs)]] as [string, Reply][]) : []),
    ...(l.odown ? ([['o-down-time', ms(l.lastOkMs - st.downAfterMs)]] as [string, Reply][]) : []),
    ['down-after-milliseconds', String(st.downAfterMs)],
    ['info-refresh', ms(l.lastOkMs)],
    ['role-reported', 'master'],
    ['role-reported-time', ms(l.lastOkMs)],
    ['config-epoch', String(st.config.epoch)],
    ['num-slaves', String(s.replicas.length)],
    ['num-other-sentinels', String(st.peers.length)],
    ['quorum', String(st.quorum)],
    ['failover-timeout', String(st.failoverTimeoutMs)],
    ['parallel-syncs', '1'],
  ]);
}

function replicaMap(st: SentinelState, shard: string, id: string): Reply {
  const n = findNode(st.config, id)!;
  const p = primaryOf(st.config, shard);
  const l = liveOf(st, id);
  const flags = ['slave'];
  if (l.sdown) flags.push('s_down');
  if (l.odown) flags.push('o_down');
  if (l.sdown && l.lastOkMs < 0) flags.push('disconnected');
  return map([
    ['name', `${n.host}:${n.port}`],
    ['ip', n.host],
    ['port', String(n.port)],
    ['runid', l.runId || n.runId],
    ['flags', flags.join(',')],
    ['link-pending-commands', '0'],
    ['link-refcount', '1'],
    ['last-ping-sent', l.lastOkMs >= 0 && !l.sdown ? '0' : ms(l.lastPingMs)],
    ['last-ok-ping-reply', ms(l.lastOkMs)],
    ['last-ping-reply', ms(l.lastOkMs)],
    ...(l.sdown ? ([['s-down-time', ms(l.lastOkMs - st.downAfterMs)]] as [string, Reply][]) : []),
    ['down-after-milliseconds', String(st.downAfterMs)],
    ['info-refresh', ms(l.lastOkMs)],
    ['role-reported', l.role === 'primary' ? 'master' : 'slave'],
    ['role-reported-time', ms(l.lastOkMs)],
    ['master-link-down-time', '0'],
    ['master-link-status', l.linkUp ? 'ok' : 'err'],
    ['master-host', p ? p.host : '?'],
    ['master-port', p ? String(p.port) : '0'],
    ['slave-priority', String(n.priority)],
    ['slave-repl-offset', String(l.offset)],
    ['replica-announced', '1'],
  ]);
}

function peerMap(st: SentinelState, p: PeerLive): Reply {
  const flags = ['sentinel'];
  if (p.lastSeenMs < 0 || p.lastSeenMs > st.downAfterMs) flags.push('s_down');
  if (p.lastSeenMs < 0) flags.push('disconnected');
  return map([
    ['name', p.myId],
    ['ip', p.host],
    ['port', String(p.port)],
    ['runid', p.myId],
    ['flags', flags.join(',')],
    ['link-pending-commands', '0'],
    ['link-refcount', '1'],
    ['last-ping-sent', '0'],
    ['last-ok-ping-reply', ms(p.lastSeenMs)],
    ['last-ping-reply', ms(p.lastSeenMs)],
    ['down-after-milliseconds', String(st.downAfterMs)],
    ['last-hello-message', ms(p.lastSeenMs)],
    ['voted-leader', st.leaderMyId ?? '?'],
    ['voted-leader-epoch', String(st.term)],
  ]);
}

/** Shards that have a primary: the masters a Sentinel client can ask for. */
export function masterNames(c: ClusterConfig): string[] {
  return c.shards.filter((s) => s.primary !== null).map((s) => s.id);
}

function noMaster(): Reply {
  return err('ERR No such master with that name');
}

/** Usable controllers for CKQUORUM: this one and peers heard from recently. */
function usable(st: SentinelState): number {
  return 1 + st.peers.filter((p) => p.lastSeenMs >= 0 && p.lastSeenMs <= st.downAfterMs).length;
}

export interface SentinelActions {
  /** Asks the leader for a manual failover; resolves to null on success or an error reply text. */
  failover(shard: string): Promise<string | null>;
}

/** SENTINEL <subcommand> ... (args without "SENTINEL"). */
export async function sentinelCommand(st: SentinelState, args: string[], actions: SentinelActions): Promise<Reply> {
  const sub = (args[0] ?? '').toLowerCase();
  const name = args[1] ?? '';
  const has = (n: number) => args.length === n;
  const wrongArgs = () => err(`ERR wrong number of arguments for 'sentinel|${sub}' command`);
  const shardOk = () => {
    const s = findShard(st.config, name);
    return s !== undefined && s.primary !== null;
  };
  switch (sub) {
    case 'get-master-addr-by-name': {
      if (!has(2)) return wrongArgs();
      const p = primaryOf(st.config, name);
      if (!p) return { t: 'nilarr' };
      return arr([p.host, String(p.port)]);
    }
    case 'masters':
      if (!has(1)) return wrongArgs();
      return arr(masterNames(st.config).map((s) => masterMap(st, s)));
    case 'master':
      if (!has(2)) return wrongArgs();
      return shardOk() ? masterMap(st, name) : noMaster();
    case 'replicas':
    case 'slaves': {
      if (!has(2)) return wrongArgs();
      if (!shardOk()) return noMaster();
      const s = findShard(st.config, name)!;
      return arr(s.replicas.map((id) => replicaMap(st, s.id, id)));
    }
    case 'sentinels':
      if (!has(2)) return wrongArgs();
      if (!shardOk()) return noMaster();
      return arr(st.peers.map((p) => peerMap(st, p)));
    case 'myid':
      if (!has(1)) return wrongArgs();
      return st.myId;
    case 'ckquorum': {
      if (!has(2)) return wrongArgs();
      if (!shardOk()) return noMaster();
      const total = st.peers.length + 1;
      const u = usable(st);
      const majority = Math.floor(total / 2) + 1;
      if (u < st.quorum) return err(`NOQUORUM ${u} usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master`);
      if (u < majority) return err(`NOQUORUM ${u} usable Sentinels. Not enough available Sentinels to reach the majority and authorize a failover`);
      return status(`OK ${u} usable Sentinels. Quorum and failover authorization can be reached`);
    }
    case 'failover': {
      if (!has(2)) return wrongArgs();
      if (!shardOk()) return noMaster();
      if (st.failoverInProgress.has(name)) return err('INPROG Failover already in progress');
      const e = await actions.failover(name);
      return e === null ? OK : err(e);
    }
    case 'is-master-down-by-addr': {
      // ip port current-epoch runid: a Sentinel asking for our opinion (and our vote,
      // when runid is not "*"; leadership is Raft's here, so we name the Raft leader).
      if (!has(5)) return wrongArgs();
      const port = Number(args[2]);
      const n = st.config.nodes.find((x) => x.host === args[1] && x.port === port);
      const down = n !== undefined && n.role === 'primary' && liveOf(st, n.id).sdown ? 1 : 0;
      const voteAsked = args[4] !== '*';
      return arr([down, voteAsked ? (st.leaderMyId ?? '*') : '*', voteAsked ? st.term : 0]);
    }
    case 'pending-scripts':
      return arr([]);
    case 'flushconfig':
      return OK;
    case 'reset': {
      if (!has(2)) return wrongArgs();
      return 0;
    }
    case 'info-cache':
      return arr([]);
    case 'config': {
      const op = (args[1] ?? '').toLowerCase();
      if (op === 'get' && args.length === 3) {
        const all: [string, string][] = [
          ['resolve-hostnames', 'no'],
          ['announce-hostnames', 'no'],
          ['announce-ip', ''],
          ['announce-port', '0'],
          ['sentinel-user', ''],
          ['sentinel-pass', ''],
          ['loglevel', 'notice'],
        ];
        const pat = args[2]!.toLowerCase();
        return map(all.filter(([k]) => pat === '*' || k === pat).map(([k, v]) => [k, v] as [string, Reply]));
      }
      return err('ERR SENTINEL CONFIG SET is not supported by Sonic controllers: use their flags');
    }
    case 'monitor':
    case 'remove':
    case 'set':
      return err(`ERR SENTINEL ${sub.toUpperCase()} is not supported: shards and nodes are added with sonic's admin calls (the cluster configuration is Raft's)`);
    case 'simulate-failure':
    case 'debug':
      return err(`ERR SENTINEL ${sub.toUpperCase()} is not supported by Sonic controllers`);
    case 'help':
      return arr(
        [
          'SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
          'CKQUORUM <master-name>',
          'FAILOVER <master-name>',
          'GET-MASTER-ADDR-BY-NAME <master-name>',
          'IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>',
          'MASTER <master-name>',
          'MASTERS',
          'MYID',
          'REPLICAS <master-name>',
          'SENTINELS <master-name>',
        ].map((s) => status(s)),
      );
    default:
      return err(`ERR unknown subcommand '${args[0] ?? ''}'. Try SENTINEL HELP.`);
  }
}

/** INFO on the Sentinel port: server and sentinel sections, as redis-sentinel. */
export function sentinelInfo(st: SentinelState, section: string, server: { port: number; uptimeMs: number; runId: string; pid: number }): string {
  const sec = section.toLowerCase();
  const want = (s: string) => sec === '' || sec === 'default' || sec === 'all' || sec === 'everything' || sec === s;
  const lines: string[] = [];
  if (want('server')) {
    lines.push(
      '# Server',
      `redis_version:${REDIS_COMPAT_VERSION}`,
      'redis_mode:sentinel',
      `process_id:${server.pid}`,
      `run_id:${server.runId}`,
      `tcp_port:${server.port}`,
      `uptime_in_seconds:${Math.floor(server.uptimeMs / 1000)}`,
      `uptime_in_days:${Math.floor(server.uptimeMs / 86400000)}`,
      'executable:sonic',
      '',
    );
  }
  if (want('sentinel')) {
    const names = masterNames(st.config);
    lines.push('# Sentinel', `sentinel_masters:${names.length}`, 'sentinel_tilt:0', 'sentinel_tilt_since_seconds:-1', 'sentinel_running_scripts:0', 'sentinel_scripts_queue_length:0', 'sentinel_simulate_failure_flags:0');
    names.forEach((name, i) => {
      const s = findShard(st.config, name)!;
      const p = findNode(st.config, s.primary!)!;
      const l = liveOf(st, p.id);
      const stat = l.odown ? 'odown' : l.sdown ? 'sdown' : 'ok';
      lines.push(`master${i}:name=${name},status=${stat},address=${p.host}:${p.port},slaves=${s.replicas.length},sentinels=${st.peers.length + 1}`);
    });
    lines.push('');
  }
  return lines.join('\r\n');
}

/** ROLE on the Sentinel port. */
export function sentinelRole(st: SentinelState): Reply {
  return arr(['sentinel', arr(masterNames(st.config))]);
}

// ------------------------------------------------------------------ events

export interface SentinelEvent {
  channel: string;
  message: string;
}

function instance(c: ClusterConfig, n: NodeInfo): string {
  if (n.role === 'primary') return `master ${n.shard} ${n.host} ${n.port}`;
  const p = primaryOf(c, n.shard);
  return `slave ${n.host}:${n.port} ${n.host} ${n.port} @ ${n.shard} ${p ? `${p.host} ${p.port}` : '? 0'}`;
}

/** +sdown / -sdown / +odown / -odown for a node, as redis-sentinel words them. */
export function downEvent(c: ClusterConfig, id: string, kind: '+sdown' | '-sdown' | '+odown' | '-odown', votes = 0, quorum = 0): SentinelEvent | null {
  const n = findNode(c, id);
  if (!n) return null;
  if (kind === '+odown' || kind === '-odown') {
    if (n.role !== 'primary') return null;
    return { channel: kind, message: `${instance(c, n)}${kind === '+odown' ? ` #quorum ${votes}/${quorum}` : ''}` };
  }
  return { channel: kind, message: instance(c, n) };
}

/** The events a configuration change shows a Sentinel client: +switch-master when a shard's primary moved, +slave for new replicas. */
export function configEvents(before: ClusterConfig, after: ClusterConfig): SentinelEvent[] {
  const out: SentinelEvent[] = [];
  if (after.epoch !== before.epoch) out.push({ channel: '+new-epoch', message: String(after.epoch) });
  for (const s of after.shards) {
    const oldP = primaryOf(before, s.id);
    const newP = primaryOf(after, s.id);
    if (newP && oldP && oldP.id !== newP.id) {
      const promoted = findNode(before, newP.id);
      if (promoted) out.push({ channel: '+promoted-slave', message: `slave ${newP.host}:${newP.port} ${newP.host} ${newP.port} @ ${s.id} ${oldP.host} ${oldP.port}` });
      out.push({ channel: '+failover-end', message: `master ${s.id} ${oldP.host} ${oldP.port}` });
      out.push({ channel: '+switch-master', message: `${s.id} ${oldP.host} ${oldP.port} ${newP.host} ${newP.port}` });
    }
    for (const r of s.replicas) {
      if (!findNode(before, r)) {
        const n = findNode(after, r)!;
        out.push({ channel: '+slave', message: instance(after, n) });
      }
    }
  }
  return out;
}

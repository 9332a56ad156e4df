/**
 * The Redis Cluster interface (docs/sharding.md): CLUSTER SLOTS, SHARDS, NODES, INFO,
 * MYID, MYSHARDID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, REPLICAS/SLAVES, LINKS,
 * HELP; READONLY, READWRITE, ASKING. Answers come from the configuration the cluster
 * agent holds (cluster/slots.ts Topology), in Redis 7.0's reply shapes. A node without
 * controllers answers as a redis-server without cluster-enabled.
 */
import { keyHashSlot, SLOTS } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import type { HandlerMap } from './types.js';
import { helpReply } from './server.js';
import { parseInteger } from '../engine/values.js';
import type { ClusterSlots, NodeView, ShardView, Topology } from '../cluster/slots.js';

const DISABLED = 'ERR This instance has cluster support disabled';
const NOT_INTEGER = 'ERR value is not an integer or out of range';

/** The node's slot routing, or null after answering the standalone error. */
function slotsOf(c: Client): ClusterSlots | null {
  const s = c.server.clusterSlots;
  if (s === null) c.reply.error(DISABLED);
  return s;
}

function rangesOf(t: Topology): { start: number; end: number; shard: ShardView }[] {
  const out: { start: number; end: number; shard: ShardView }[] = [];
  for (const s of t.shards) for (const [start, end] of s.ranges) out.push({ start, end, shard: s });
  return out.sort((a, b) => a.start - b.start);
}

/** The node entry of CLUSTER SLOTS: ip, port, id, and a map of other endpoints (none here). */
function slotsNode(c: Client, n: NodeView): void {
  const r = c.reply;
  r.array(4);
  r.bulk(n.host);
  r.int(n.port);
  r.bulk(n.hexId);
  r.map(0);
}

function clusterSlots(c: Client): void {
  const cs = slotsOf(c);
  if (cs === null) return;
  const ranges = rangesOf(cs.topology).filter((x) => x.shard.primary !== null);
  const r = c.reply;
  r.array(ranges.length);
  for (const { start, end, shard } of ranges) {
    // Replicas the controllers see down are left out, as Redis leaves out failed ones.
    const replicas = shard.replicas.filter((n) => n.health !== 'down');
    r.array(3 + replicas.length);
    r.int(start);
    r.int(end);
    slotsNode(c, shard.primary!);
    for (const n of replicas) slotsNode(c, n);
  }
}

function healthOf(n: NodeView): string {
  return n.health === 'down' ? 'failed' : 'online';
}

/** What this node knows of a node's replication offset: its own, its replicas' acks, else 0. */
function offsetOf(c: Client, cs: ClusterSlots, n: NodeView): number {
  const repl = c.server.replication;
  if (repl === null) return 0;
  if (n === cs.topology.me) return repl.offset;
  const me = cs.topology.me;
  if (me !== null && me.primary && n.shard === me.shard) {
    for (const r of repl.replicas) if (r.port === n.port && (r.ip === n.host || n.host === '127.0.0.1')) return r.ackOffset;
  }
  if (me !== null && !me.primary && n === me.shard.primary) return repl.offset;
  return 0;
}

function clusterShards(c: Client): void {
  const cs = slotsOf(c);
  if (cs === null) return;
  const t = cs.topology;
  const r = c.reply;
  const shards = t.shards.filter((s) => s.primary !== null || s.replicas.length > 0);
  r.array(shards.length);
  for (const s of shards) {
    r.map(2);
    r.bulk('slots');
    r.array(s.ranges.length * 2);
    for (const [a, b] of s.ranges) {
      r.int(a);
      r.int(b);
    }
    r.bulk('nodes');
    const nodes = s.primary !== null ? [s.primary, ...s.replicas] : s.replicas;
    r.array(nodes.length);
    for (const n of nodes) {
      r.map(7);
      r.bulk('id');
      r.bulk(n.hexId);
      r.bulk('port');
      r.int(n.port);
      r.bulk('ip');
      r.bulk(n.host);
      r.bulk('endpoint');
      r.bulk(n.host);
      r.bulk('role');
      r.bulk(n.primary ? 'master' : 'replica');
      r.bulk('replication-offset');
      r.int(offsetOf(c, cs, n));
      r.bulk('health');
      r.bulk(healthOf(n));
    }
  }
}

/** One line of CLUSTER NODES (without its newline). */
function nodeLine(cs: ClusterSlots, n: NodeView, now: number): string {
  const t = cs.topology;
  const me = n === t.me;
  const flags = [me ? 'myself' : '', n.primary ? 'master' : 'slave', n.health === 'down' ? 'fail' : ''].filter(Boolean).join(',');
  const primary = n.primary ? '-' : (n.shard.primary?.hexId ?? '-');
  let line = `${n.hexId} ${n.host}:${n.port}@${n.busPort} ${flags} ${primary} 0 ${me || n.health === 'down' ? 0 : now} ${t.epoch} ${n.health === 'down' ? 'disconnected' : 'connected'}`;
  if (n.primary) {
    for (const [a, b] of n.shard.ranges) line += a === b ? ` ${a}` : ` ${a}-${b}`;
    if (me) {
      // Open migrations, shown on this node's own line as Redis shows them.
      for (const [slot, to] of [...t.migrating].sort((x, y) => x[0] - y[0])) line += ` [${slot}->-${to.primary?.hexId ?? to.hexId}]`;
      for (const [slot, from] of [...t.importing].sort((x, y) => x[0] - y[0])) line += ` [${slot}-<-${from.primary?.hexId ?? from.hexId}]`;
    }
  }
  return line;
}

function clusterNodes(c: Client): void {
  const cs = slotsOf(c);
  if (cs === null) return;
  const t = cs.topology;
  const now = Date.now();
  let text = '';
  if (t.me === null) {
    // Not in the configuration yet: only itself, without slots, as a fresh Redis node.
    text = `${cs.myHexId} :${c.server.port}@${c.server.port + 10000} myself,master - 0 0 0 connected\n`;
  }
  for (const n of t.nodes) text += nodeLine(cs, n, now) + '\n';
  c.reply.verbatim(text);
}

function clusterInfo(c: Client): void {
  const cs = slotsOf(c);
  if (cs === null) return;
  const t = cs.topology;
  const size = t.shards.filter((s) => s.ranges.length > 0 && s.primary !== null).length;
  const bus = cs.bus;
  const lines = [
    `cluster_state:${t.ok ? 'ok' : 'fail'}`,
    `cluster_slots_assigned:${t.assigned}`,
    `cluster_slots_ok:${t.assigned - t.failed}`,
    'cluster_slots_pfail:0',
    `cluster_slots_fail:${t.failed}`,
    `cluster_known_nodes:${Math.max(1, t.nodes.length)}`,
    `cluster_size:${size}`,
    `cluster_current_epoch:${t.epoch}`,
    `cluster_my_epoch:${t.me !== null ? t.epoch : 0}`,
  ];
  if (bus !== null && bus.sent > 0) lines.push(`cluster_stats_messages_publish_sent:${bus.sent}`);
  lines.push(`cluster_stats_messages_sent:${bus?.sent ?? 0}`);
  if (bus !== null && bus.received > 0) lines.push(`cluster_stats_messages_publish_received:${bus.received}`);
  lines.push(`cluster_stats_messages_received:${bus?.received ?? 0}`, 'total_cluster_links_buffer_limit_exceeded:0');
  c.reply.verbatim(lines.join('\r\n') + '\r\n');
}

function parseSlot(c: Client, arg: string, err: string): number | null {
  const v = parseInteger(arg);
  if (v === null || typeof v === 'bigint') {
    c.reply.error(NOT_INTEGER);
    return null;
  }
  if (v < 0 || v >= SLOTS) {
    c.reply.error(err);
    return null;
  }
  return v;
}

function clusterCountkeysinslot(c: Client, argv: string[]): void {
  if (slotsOf(c) === null) return;
  const slot = parseSlot(c, argv[2]!, 'ERR Invalid slot');
  if (slot === null) return;
  c.reply.int(c.server.keyspace.dbs[0]!.slots?.count(slot) ?? 0);
}

function clusterGetkeysinslot(c: Client, argv: string[]): void {
  if (slotsOf(c) === null) return;
  const slot = parseInteger(argv[2]!);
  const count = parseInteger(argv[3]!);
  if (slot === null || count === null || typeof slot === 'bigint' || typeof count === 'bigint') {
    c.reply.error(NOT_INTEGER);
    return;
  }
  if (slot < 0 || slot >= SLOTS || count < 0) {
    c.reply.error('ERR Invalid slot or number of keys');
    return;
  }
  const keys = c.server.keyspace.dbs[0]!.slots?.keys(slot);
  const out: string[] = [];
  if (keys !== undefined) {
    for (const k of keys) {
      if (out.length >= count) break;
      out.push(k);
    }
  }
  c.reply.bulks(out);
}

function clusterReplicas(c: Client, argv: string[]): void {
  const cs = slotsOf(c);
  if (cs === null) return;
  const n = cs.topology.byHexId.get(argv[2]!) ?? cs.topology.nodes.find((x) => x.id === argv[2]);
  if (n === undefined) {
    c.reply.error(`ERR Unknown node ${argv[2]}`);
    return;
  }
  if (!n.primary) {
    c.reply.error('ERR The specified node is not a master');
    return;
  }
  const now = Date.now();
  c.reply.bulks(n.shard.replicas.map((r) => nodeLine(cs, r, now)));
}

function clusterLinks(c: Client): void {
  const cs = slotsOf(c);
  if (cs === null) return;
  // Sonic's nodes share no Redis cluster bus; the pub/sub streams are its only links.
  const links = cs.bus?.links() ?? [];
  c.reply.array(links.length);
  for (const l of links) {
    c.reply.map(6);
    c.reply.bulk('direction');
    c.reply.bulk('to');
    c.reply.bulk('node');
    c.reply.bulk(l.node);
    c.reply.bulk('create-time');
    c.reply.int(l.createdAt);
    c.reply.bulk('events');
    c.reply.bulk(l.connected ? 'rw' : '');
    c.reply.bulk('send-buffer-allocated');
    c.reply.int(0);
    c.reply.bulk('send-buffer-used');
    c.reply.int(0);
  }
}

const HELP = [
  'COUNTKEYSINSLOT <slot>',
  '    Return the number of keys in <slot>.',
  'GETKEYSINSLOT <slot> <count>',
  '    Return key names stored by current node in a slot.',
  'INFO',
  '    Return information about the cluster.',
  'KEYSLOT <key>',
  '    Return the hash slot for <key>.',
  'MYID',
  '    Return the node id.',
  'MYSHARDID',
  '    Return the node\'s shard id.',
  'NODES',
  '    Return cluster configuration seen by node. Output format:',
  '    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...',
  'REPLICAS <node-id>',
  '    Return <node-id> replicas.',
  'SLOTS',
  '    Return information about slots range mappings. Each range is made of:',
  '    start, end, master and replicas IP addresses, ports and ids',
  'SHARDS',
  '    Return information about slot range mappings and the nodes associated with them.',
  'LINKS',
  '    Return information about all network links between this node and its peers.',
  '    Output format is an array where each array element is a map containing attributes of a link',
  '(ADDSLOTS, DELSLOTS, SETSLOT, MEET, FORGET, REPLICATE, FAILOVER, RESET and the other',
  'topology verbs are refused: the Sonic controllers own the configuration; see sonic cluster.)',
];

/** A Redis Cluster topology verb: the controllers own the configuration here. */
function managed(sub: string, hint: string) {
  return (c: Client) => {
    if (slotsOf(c) === null) return;
    c.reply.error(`ERR CLUSTER ${sub} is not supported: the Sonic controllers own the cluster configuration (${hint})`);
  };
}

export const clusterHandlers: HandlerMap = {
  asking: (c) => {
    const cs = slotsOf(c);
    if (cs === null) return;
    cs.setAsking(c);
    c.reply.ok();
  },
  readonly: (c) => {
    const cs = slotsOf(c);
    if (cs === null) return;
    cs.setReadonly(c, true);
    c.reply.ok();
  },
  readwrite: (c) => {
    const cs = slotsOf(c);
    if (cs === null) return;
    cs.setReadonly(c, false);
    c.reply.ok();
  },
  'cluster|slots': clusterSlots,
  'cluster|shards': clusterShards,
  'cluster|nodes': clusterNodes,
  'cluster|info': clusterInfo,
  'cluster|myid': (c) => {
    const cs = slotsOf(c);
    if (cs !== null) c.reply.bulk(cs.myHexId);
  },
  'cluster|myshardid': (c) => {
    const cs = slotsOf(c);
    if (cs === null) return;
    const me = cs.topology.me;
    if (me === null) c.reply.error('ERR this node is not in the cluster configuration yet');
    else c.reply.bulk(me.shard.hexId);
  },
  'cluster|keyslot': (c, argv) => {
    if (slotsOf(c) !== null) c.reply.int(keyHashSlot(argv[2]!));
  },
  'cluster|countkeysinslot': clusterCountkeysinslot,
  'cluster|getkeysinslot': clusterGetkeysinslot,
  'cluster|replicas': clusterReplicas,
  'cluster|slaves': clusterReplicas,
  'cluster|links': clusterLinks,
  'cluster|help': (c) => {
    if (slotsOf(c) !== null) helpReply(c, 'CLUSTER', HELP);
  },
  'cluster|count-failure-reports': (c, argv) => {
    const cs = slotsOf(c);
    if (cs === null) return;
    const n = cs.topology.byHexId.get(argv[2]!);
    if (n === undefined) c.reply.error(`ERR Unknown node ${argv[2]}`);
    else c.reply.int(0);
  },
  'cluster|saveconfig': (c) => {
    // The configuration lives in the controllers' Raft log; nothing to save here.
    if (slotsOf(c) !== null) c.reply.ok();
  },
  'cluster|addslots': managed('ADDSLOTS', 'sonic cluster create, sonic cluster reshard'),
  'cluster|addslotsrange': managed('ADDSLOTSRANGE', 'sonic cluster create, sonic cluster reshard'),
  'cluster|delslots': managed('DELSLOTS', 'sonic cluster reshard'),
  'cluster|delslotsrange': managed('DELSLOTSRANGE', 'sonic cluster reshard'),
  'cluster|flushslots': managed('FLUSHSLOTS', 'sonic cluster reshard'),
  'cluster|setslot': managed('SETSLOT', 'sonic cluster reshard'),
  'cluster|bumpepoch': managed('BUMPEPOCH', 'every change is a new epoch'),
  'cluster|set-config-epoch': managed('SET-CONFIG-EPOCH', 'every change is a new epoch'),
  'cluster|meet': managed('MEET', 'start the node with --controllers'),
  'cluster|forget': managed('FORGET', 'sonic cluster remove-node'),
  'cluster|replicate': managed('REPLICATE', 'start the node with --replicaof or --cluster-shard'),
  'cluster|failover': managed('FAILOVER', 'sonic failover SHARD'),
  'cluster|reset': managed('RESET', 'sonic cluster remove-node'),
};

/**
 * Pub/sub across a cluster (docs/sharding.md), over the bus port's gRPC
 * (`sonic.v1.ClusterBus/Publish`, proto/sonic/v1/cluster.proto).
 *
 * A PUBLISH run on this node is delivered to its own subscribers (what the reply
 * counts, as in Redis Cluster) and forwarded to every other node of the configuration;
 * an SPUBLISH to the other nodes of this node's shard (admission made sure the shard
 * serves the channel's slot). Messages of one event-loop turn go to a peer as one
 * batch on one long-lived client stream per peer, so a publisher's messages arrive in
 * order. A peer that cannot be reached loses the messages meant for it (pub/sub
 * delivers at most once); the stream is reopened on the next message after a pause.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { clusterPb } from '@sonic/protocol';
import type { Server } from '../server/server.js';
import type { BusServer } from '../replication/bus.js';
import type { NodeView, Topology } from './slots.js';

/** After a stream to a peer fails, messages for it are dropped this long before it is tried again. */
const RETRY_MS = 300;

interface Peer {
  hexId: string;
  target: string;
  client: clusterPb.ClusterBusClient;
  stream: grpc.ClientWritableStream<clusterPb.PublishBatch> | null;
  queue: clusterPb.PublishMessage[];
  createdAt: number;
  retryAt: number;
}

export class PubSubBus {
  /** Messages forwarded to peers, and received from them (CLUSTER INFO). */
  sent = 0;
  received = 0;
  private readonly peers = new Map<string, Peer>();
  private flushTimer: NodeJS.Immediate | null = null;
  private topology: Topology | null = null;

  constructor(
    private readonly server: Server,
    private readonly log: Logger,
  ) {}

  /** Serves the peers' streams on the bus and starts forwarding this node's messages. */
  attach(bus: BusServer): void {
    bus.addService(clusterPb.ClusterBusService as unknown as grpc.ServiceDefinition, {
      publish: (call: grpc.ServerReadableStream<clusterPb.PublishBatch, clusterPb.PublishAck>, cb: grpc.sendUnaryData<clusterPb.PublishAck>) => this.accept(call, cb),
    });
    this.server.pubsub.forward = (channel, message, shard) => this.forward(channel, message, shard);
  }

  private accept(call: grpc.ServerReadableStream<clusterPb.PublishBatch, clusterPb.PublishAck>, cb: grpc.sendUnaryData<clusterPb.PublishAck>): void {
    const ps = this.server.pubsub;
    call.on('data', (b: clusterPb.PublishBatch) => {
      for (const m of b.messages) {
        this.received++;
        ps.publish(latin1(m.channel), latin1(m.message), m.shard);
      }
    });
    call.on('end', () => cb(null, {}));
    call.on('error', () => {});
  }

  /** A new configuration: peers that left or moved are dropped. */
  update(t: Topology): void {
    this.topology = t;
    const keep = new Map<string, string>();
    for (const n of t.nodes) if (n !== t.me) keep.set(n.hexId, target(n));
    for (const [id, p] of this.peers) {
      if (keep.get(id) === p.target) continue;
      p.stream?.end();
      p.client.close();
      this.peers.delete(id);
    }
  }

  private forward(channel: string, message: string, shard: boolean): void {
    const t = this.topology;
    if (t === null || t.me === null) return;
    const msg: clusterPb.PublishMessage = { channel: Buffer.from(channel, 'latin1'), message: Buffer.from(message, 'latin1'), shard };
    const targets = shard ? [t.me.shard.primary, ...t.me.shard.replicas] : t.nodes;
    for (const n of targets) {
      if (n === null || n === t.me) continue;
      this.peer(n).queue.push(msg);
    }
    if (this.flushTimer === null) this.flushTimer = setImmediate(() => this.flush());
  }

  private peer(n: NodeView): Peer {
    let p = this.peers.get(n.hexId);
    if (p === undefined) {
      const t = target(n);
      p = {
        hexId: n.hexId,
        target: t,
        client: new clusterPb.ClusterBusClient(t, grpc.credentials.createInsecure(), {
          'grpc.initial_reconnect_backoff_ms': 100,
          'grpc.min_reconnect_backoff_ms': 100,
          'grpc.max_reconnect_backoff_ms': 1000,
        }),
        stream: null,
        queue: [],
        createdAt: Date.now(),
        retryAt: 0,
      };
      this.peers.set(n.hexId, p);
    }
    return p;
  }

  private flush(): void {
    this.flushTimer = null;
    const now = Date.now();
    for (const p of this.peers.values()) {
      if (p.queue.length === 0) continue;
      const messages = p.queue;
      p.queue = [];
      if (p.stream === null) {
        if (now < p.retryAt) continue;
        this.open(p);
      }
      p.stream!.write({ messages });
      this.sent += messages.length;
    }
  }

  private open(p: Peer): void {
    const s = p.client.publish(() => {});
    p.stream = s;
    s.on('error', (err: grpc.ServiceError) => {
      if (p.stream !== s) return;
      p.stream = null;
      p.retryAt = Date.now() + RETRY_MS;
      this.log.debug({ peer: p.target, err: err.message }, 'pub/sub bus: stream to a peer failed');
    });
  }

  /** The open streams, for CLUSTER LINKS. */
  links(): { node: string; createdAt: number; connected: boolean }[] {
    return [...this.peers.values()].map((p) => ({ node: p.hexId, createdAt: p.createdAt, connected: p.stream !== null }));
  }

  close(): void {
    if (this.flushTimer !== null) clearImmediate(this.flushTimer);
    for (const p of this.peers.values()) {
      p.stream?.end();
      p.client.close();
    }
    this.peers.clear();
    this.server.pubsub.forward = null;
  }
}

function target(n: NodeView): string {
  return `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.busPort}`;
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/**
 * Between controllers: one client stream (sonic.v1.Peer/Stream) to each peer, carrying
 * Raft messages (the contract's Message as JSON) and failure-detector opinions. Nothing
 * is retried here: Raft resends what matters, opinions are resent every few hundred ms.
 * A stream that cannot keep up (a peer gone dark) is dropped and reopened later.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { raftPb } from '@sonic/protocol';
import type { Message } from '../raft/types.js';
import { CHANNEL_OPTIONS, grpcTarget } from '../agent/client.js';

export const PEER_PROTOCOL_VERSION = 1;
/** Bytes queued on a stream beyond which it is dropped (the peer is not reading). */
const MAX_BUFFERED = 4 * 1024 * 1024;

export interface PeerAddress {
  id: string;
  host: string;
  /** RESP (Sentinel) port. */
  port: number;
  busPort: number;
}

export interface PeerHandler {
  onRaft(from: string, m: Message): void;
  onOpinion(from: string, down: string[], up: string[]): void;
}

class PeerLink {
  private client: raftPb.PeerClient;
  private stream: grpc.ClientWritableStream<raftPb.PeerMessage> | null = null;
  private failures = 0;

  constructor(
    readonly peer: PeerAddress,
    private readonly self: string,
    private readonly log: Logger,
  ) {
    this.client = new raftPb.PeerClient(grpcTarget(peer.host, peer.busPort), grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  send(msg: Omit<raftPb.PeerMessage, 'protocolVersion' | 'from'>): void {
    let s = this.stream;
    if (s === null) {
      s = this.client.stream((e) => {
        if (this.stream === s) this.stream = null;
        if (e && e.code !== grpc.status.CANCELLED) {
          this.failures++;
          if (this.failures === 1 || this.failures % 50 === 0) this.log.debug({ peer: this.peer.id, err: e.message }, 'peer stream closed');
        }
      });
      s.on('error', () => {});
      this.stream = s;
    }
    if (s.writableLength > MAX_BUFFERED) {
      this.stream = null;
      s.cancel();
      return;
    }
    s.write({ protocolVersion: PEER_PROTOCOL_VERSION, from: this.self, ...msg });
    if (this.failures > 0 && s.writableLength === 0) this.failures = 0;
  }

  close(): void {
    this.stream?.cancel();
    this.stream = null;
    this.client.close();
  }
}

export class PeerTransport {
  private readonly links = new Map<string, PeerLink>();

  constructor(
    private readonly self: string,
    peers: PeerAddress[],
    private readonly handler: PeerHandler,
    private readonly log: Logger,
  ) {
    for (const p of peers) if (p.id !== self) this.links.set(p.id, new PeerLink(p, self, log));
  }

  /** The gRPC service implementation to add to the controller's server. */
  service(): grpc.UntypedServiceImplementation {
    return {
      stream: (call: grpc.ServerReadableStream<raftPb.PeerMessage, raftPb.PeerAck>, cb: grpc.sendUnaryData<raftPb.PeerAck>) => {
        call.on('data', (m: raftPb.PeerMessage) => this.receive(m));
        call.on('error', () => {});
        call.on('end', () => cb(null, {}));
      },
    };
  }

  private receive(m: raftPb.PeerMessage): void {
    if (m.protocolVersion !== PEER_PROTOCOL_VERSION) {
      this.log.warn({ from: m.from, version: m.protocolVersion }, 'peer message with an unknown protocol version ignored');
      return;
    }
    if (!this.links.has(m.from)) {
      this.log.warn({ from: m.from }, 'message from a controller that is not a peer ignored');
      return;
    }
    if (m.raft !== undefined) {
      let msg: Message;
      try {
        msg = JSON.parse(Buffer.from(m.raft.json).toString('utf8')) as Message;
      } catch {
        this.log.warn({ from: m.from }, 'malformed Raft message ignored');
        return;
      }
      if (msg.from !== m.from) return;
      this.handler.onRaft(m.from, msg);
    } else if (m.opinion !== undefined) {
      this.handler.onOpinion(m.from, m.opinion.down, m.opinion.up);
    }
  }

  sendRaft(m: Message): void {
    this.links.get(m.to)?.send({ raft: { json: Buffer.from(JSON.stringify(m), 'utf8') } });
  }

  broadcastOpinion(down: string[], up: string[]): void {
    for (const l of this.links.values()) l.send({ opinion: { down, up } });
  }

  close(): void {
    for (const l of this.links.values()) l.close();
  }
}

/**
 * The bus: the node's gRPC endpoint (client port + 10000 unless `bus-port` is set).
 *
 * A plain TCP listener reads the first bytes of every connection: an HTTP/2 client
 * preface is handed to the gRPC server (grpc-js's connection injector); anything else is
 * refused and logged, so garbage on the port costs one log line and nothing else.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { replicationPb } from '@sonic/protocol';
import type { Config } from '../config/config.js';
import type { Replication } from './replication.js';
import { ReplicaConn } from './primary.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** How long a new connection may take to send its preface. */
const PREFACE_TIMEOUT_MS = 5000;

/** The bus port for a client port: `bus-port`, or client port + 10000. */
export function busPortFor(config: Config, clientPort: number): number {
  const set = config.int('bus-port');
  return set > 0 ? set : clientPort + 10000;
}

export class BusServer {
  private net: NetServer | null = null;
  private grpc: grpc.Server;
  private injector: { injectConnection(c: Socket): void; drain(graceMs: number): void; destroy(): void } | null = null;
  port = 0;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly repl: Replication,
    private readonly log: Logger,
  ) {
    this.grpc = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
    this.grpc.addService(replicationPb.ReplicationService, {
      sync: (call: grpc.ServerDuplexStream<replicationPb.ReplicaMessage, replicationPb.PrimaryMessage>) => ReplicaConn.accept(this.repl, call, this.log),
    });
  }

  /** Serves another subsystem's gRPC service on the bus (cluster pub/sub: cluster/pubsub-bus.ts). */
  addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    this.grpc.addService(service, impl);
  }

  async listen(port: number): Promise<void> {
    if (port > 65535) {
      this.log.warn({ port }, 'bus: client port + 10000 is above 65535; set bus-port to serve replication');
      return;
    }
    this.injector = this.grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure()) as unknown as typeof this.injector;
    const binds = this.repl.server.config.get('bind').split(/\s+/).filter((b) => b && !b.startsWith('-'));
    const host = binds[0] === '*' || binds[0] === undefined ? '0.0.0.0' : binds[0];
    const srv = createServer({ noDelay: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ port, host }, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    srv.on('error', (err) => this.log.error({ err }, 'bus listener error'));
    const a = srv.address();
    this.port = a && typeof a === 'object' ? a.port : port;
    this.net = srv;
    this.log.info({ port: this.port, host }, 'bus (gRPC) listening');
  }

  private accept(s: Socket): void {
    const addr = `${s.remoteAddress}:${s.remotePort}`;
    let head = Buffer.alloc(0);
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    const timer = setTimeout(() => {
      this.log.warn({ addr }, 'bus: connection sent no HTTP/2 preface in time; closed');
      s.destroy();
    }, PREFACE_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      if (!head.subarray(0, n).equals(PREFACE.subarray(0, n))) {
        clearTimeout(timer);
        s.off('data', onData);
        this.log.warn(
          { addr, first: JSON.stringify(head.subarray(0, 32).toString('latin1')) },
          'bus: refused a connection that is not gRPC (bad HTTP/2 preface): is a Redis client pointed at the bus port?',
        );
        s.end('-ERR this is the Sonic bus port (gRPC), not the client port\r\n');
        s.destroySoon?.();
        return;
      }
      if (head.length < PREFACE.length) return;
      clearTimeout(timer);
      s.off('data', onData);
      s.pause();
      s.unshift(head);
      this.injector?.injectConnection(s);
    };
    s.on('data', onData);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.injector?.destroy();
    this.grpc.forceShutdown();
    if (this.net) await new Promise<void>((r) => this.net!.close(() => r()));
  }
}

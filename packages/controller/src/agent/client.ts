/**
 * gRPC clients of the controllers' Control API, for nodes (their cluster agent), the
 * CLI and controllers forwarding a write to their leader. One channel per controller,
 * with short reconnection backoff (a restarted controller is found again within a
 * second) and a deadline on every call.
 */
import * as grpc from '@grpc/grpc-js';
import { controlPb } from '@sonic/protocol';

export interface ControllerAddress {
  host: string;
  /** The controller's RESP (Sentinel) port. */
  port: number;
  /** Its bus port (gRPC): port + 10000 unless given as host:port@bus. */
  busPort: number;
}

/** Parses "host:port[@bus],host:port[@bus],..." (a bare port means 127.0.0.1). */
export function parseControllers(s: string): ControllerAddress[] {
  const out: ControllerAddress[] = [];
  for (const raw of s.split(/[,\s]+/).filter(Boolean)) {
    const m = /^(?:(\[[^\]]+\]|[^:@]+):)?(\d+)(?:@(\d+))?$/.exec(raw);
    if (!m) throw new Error(`invalid controller address '${raw}' (expected host:port or host:port@busport)`);
    const host = (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
    const port = Number(m[2]);
    const busPort = m[3] !== undefined ? Number(m[3]) : port + 10000;
    if (port < 1 || port > 65535 || busPort < 1 || busPort > 65535) throw new Error(`invalid port in controller address '${raw}'`);
    out.push({ host, port, busPort });
  }
  return out;
}

export function grpcTarget(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Channel options: reconnect fast (controllers and nodes restart), small messages. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.enable_retries': 0,
};

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (e: grpc.ServiceError | null, r?: Res) => void) => grpc.ClientUnaryCall;

export type UnaryMethod = 'register' | 'heartbeat' | 'addNode' | 'removeNode' | 'assignSlots' | 'failover' | 'status' | 'migrate' | 'migrationDone';

/** Calls a unary method with a deadline. */
export function callUnary<Res>(client: controlPb.ControlClient, method: UnaryMethod, req: unknown, deadlineMs: number, md = new grpc.Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client[method] as unknown as Unary<unknown, Res>).bind(client);
    fn(req, md, { deadline: Date.now() + deadlineMs }, (e, r) => (e ? reject(e) : resolve(r as Res)));
  });
}

export class ControlClients {
  readonly clients: controlPb.ControlClient[];
  /** Index of the controller that answered last (tried first). */
  private preferred = 0;

  constructor(readonly addresses: ControllerAddress[]) {
    this.clients = addresses.map((a) => new controlPb.ControlClient(grpcTarget(a.host, a.busPort), grpc.credentials.createInsecure(), CHANNEL_OPTIONS));
  }

  /** Calls one controller after the other until one answers; rejects with the last error. */
  async any<Res>(method: UnaryMethod, req: unknown, deadlineMs = 2000): Promise<Res> {
    let last: unknown = new Error('no controllers');
    for (let k = 0; k < this.clients.length; k++) {
      const i = (this.preferred + k) % this.clients.length;
      try {
        const r = await callUnary<Res>(this.clients[i]!, method, req, deadlineMs);
        this.preferred = i;
        return r;
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

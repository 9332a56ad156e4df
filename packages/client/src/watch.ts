/**
 * Pushed topology: one configuration watch per process and controller list, shared by
 * every Client in the process. It holds one gRPC server stream (Control.Watch) to one
 * controller at a time, moves to the next on error, and hands each configuration with a
 * higher epoch to the subscribed clients once: a failover or slot move costs every
 * client process one message, and no node sees a refresh storm.
 */
import type * as grpc from '@grpc/grpc-js';
import { ControlClients, callUnary, configFromProto, parseControllers, type ClusterConfig } from '@sonic/controller';
import type { controlPb } from '@sonic/protocol';

type Listener = (cfg: ClusterConfig) => void;

const RETRY_MS = 200;
/** How often another controller is asked for its epoch (a watched controller cut off from its group goes stale silently). */
const CHECK_MS = 5000;

export class ConfigWatch {
  config: ClusterConfig | null = null;
  /** Configurations taken (each a topology change this process learnt once). */
  changes = 0;
  private readonly listeners = new Set<Listener>();
  private readonly clients: ControlClients;
  private stream: grpc.ClientReadableStream<controlPb.ClusterConfig> | null = null;
  private next = 0;
  private retry: NodeJS.Timeout | null = null;
  private readonly check: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly key: string) {
    this.clients = new ControlClients(parseControllers(key));
    this.open();
    this.check = setInterval(() => void this.crossCheck(), CHECK_MS);
    this.check.unref();
  }

  /** Asks a controller other than the watched one; a newer configuration there moves the watch to it. */
  private async crossCheck(): Promise<void> {
    const n = this.clients.clients.length;
    if (n < 2 || this.stopped) return;
    const other = (this.next + 1 + Math.floor(Math.random() * (n - 1))) % n;
    try {
      const r = await callUnary<controlPb.StatusReply>(this.clients.clients[other]!, 'status', {}, 2000);
      if (r.config === undefined || this.stopped) return;
      const cfg = configFromProto(r.config);
      if (this.config !== null && cfg.epoch <= this.config.epoch) return;
      this.offer(cfg);
      this.stream?.cancel();
      this.stream = null;
      this.next = other;
      if (this.retry !== null) clearTimeout(this.retry);
      this.open();
    } catch {
      // That controller is down: the watch carries on where it is.
    }
  }

  private open(): void {
    if (this.stopped) return;
    this.retry = null;
    const i = this.next % this.clients.clients.length;
    this.next = i;
    const s = this.clients.clients[i]!.watch({ watcher: `client:${process.pid}` });
    this.stream = s;
    const again = () => {
      if (this.stream !== s) return;
      this.stream = null;
      this.next = (i + 1) % this.clients.clients.length;
      if (!this.stopped && this.retry === null) this.retry = setTimeout(() => this.open(), RETRY_MS);
    };
    s.on('data', (p: controlPb.ClusterConfig) => this.offer(configFromProto(p)));
    s.on('error', again);
    s.on('end', again);
  }

  private offer(cfg: ClusterConfig): void {
    if (cfg.epoch === 0 || (this.config !== null && cfg.epoch <= this.config.epoch)) return;
    this.config = cfg;
    this.changes++;
    for (const l of this.listeners) l(cfg);
  }

  add(l: Listener): void {
    this.listeners.add(l);
    const c = this.config;
    if (c !== null) queueMicrotask(() => this.listeners.has(l) && l(c));
  }

  /** Removes a listener; the last one stops the watch. */
  remove(l: Listener): void {
    this.listeners.delete(l);
    if (this.listeners.size > 0) return;
    this.stopped = true;
    clearInterval(this.check);
    if (this.retry) clearTimeout(this.retry);
    this.stream?.cancel();
    this.stream = null;
    this.clients.close();
    watches.delete(this.key);
  }
}

const watches = new Map<string, ConfigWatch>();

/** The process's watch of these controllers (made on first use). */
export function sharedWatch(controllers: string): ConfigWatch {
  const key = parseControllers(controllers)
    .map((a) => `${a.host}:${a.port}@${a.busPort}`)
    .sort()
    .join(',');
  let w = watches.get(key);
  if (w === undefined) {
    w = new ConfigWatch(key);
    watches.set(key, w);
  }
  return w;
}

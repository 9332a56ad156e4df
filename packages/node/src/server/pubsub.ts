import { globToRegExp } from '../engine/glob.js';
import type { Client } from './client.js';
import type { Server } from './server.js';

/**
 * Channel and pattern subscriptions of one node. Messages are written to subscribers'
 * reply buffers (RESP3 push frames or RESP2 arrays) and flushed at the end of the turn.
 */
export class PubSub {
  readonly channels = new Map<string, Set<Client>>();
  readonly patterns = new Map<string, { re: RegExp; clients: Set<Client> }>();
  readonly shardChannels = new Map<string, Set<Client>>();

  /**
   * Cluster mode: forwards a message published here to the other nodes (PUBLISH: every
   * node; SPUBLISH: the shard's), set by cluster/pubsub-bus.ts. Null standalone.
   */
  forward: ((channel: string, message: string, shard: boolean) => void) | null = null;

  constructor(private readonly server: Server) {}

  /**
   * Unsubscribes every client from the shard channels `drop` selects and tells each
   * (an `sunsubscribe` message), as Redis does when a slot stops being served here.
   */
  dropShardChannels(drop: (channel: string) => boolean): number {
    let n = 0;
    for (const [channel, set] of [...this.shardChannels]) {
      if (!drop(channel)) continue;
      for (const c of [...set]) {
        this.unsubscribe(c, channel, true);
        const r = c.reply;
        r.push(3);
        r.bulk('sunsubscribe');
        r.bulk(channel);
        r.int(c.shardChannels.size);
        this.server.scheduleFlush(c);
        n++;
      }
    }
    return n;
  }

  subscribe(c: Client, channel: string, shard = false): boolean {
    const own = shard ? c.shardChannels : c.channels;
    if (own.has(channel)) return false;
    own.add(channel);
    const map = shard ? this.shardChannels : this.channels;
    let set = map.get(channel);
    if (!set) map.set(channel, (set = new Set()));
    set.add(c);
    return true;
  }

  unsubscribe(c: Client, channel: string, shard = false): boolean {
    const own = shard ? c.shardChannels : c.channels;
    if (!own.delete(channel)) return false;
    const map = shard ? this.shardChannels : this.channels;
    const set = map.get(channel);
    if (set) {
      set.delete(c);
      if (set.size === 0) map.delete(channel);
    }
    return true;
  }

  psubscribe(c: Client, pattern: string): boolean {
    if (c.patterns.has(pattern)) return false;
    c.patterns.add(pattern);
    let p = this.patterns.get(pattern);
    if (!p) this.patterns.set(pattern, (p = { re: globToRegExp(pattern, false), clients: new Set() }));
    p.clients.add(c);
    return true;
  }

  punsubscribe(c: Client, pattern: string): boolean {
    if (!c.patterns.delete(pattern)) return false;
    const p = this.patterns.get(pattern);
    if (p) {
      p.clients.delete(c);
      if (p.clients.size === 0) this.patterns.delete(pattern);
    }
    return true;
  }

  /** Delivers a message; returns the number of clients that received it. */
  publish(channel: string, message: string, shard = false): number {
    let n = 0;
    const set = (shard ? this.shardChannels : this.channels).get(channel);
    if (set) {
      for (const c of set) {
        const r = c.reply;
        r.push(3);
        r.bulk(shard ? 'smessage' : 'message');
        r.bulk(channel);
        r.bulk(message);
        this.server.scheduleFlush(c);
        n++;
      }
    }
    if (!shard) {
      for (const [pattern, p] of this.patterns) {
        if (!p.re.test(channel)) continue;
        for (const c of p.clients) {
          const r = c.reply;
          r.push(4);
          r.bulk('pmessage');
          r.bulk(pattern);
          r.bulk(channel);
          r.bulk(message);
          this.server.scheduleFlush(c);
          n++;
        }
      }
    }
    return n;
  }

  removeClient(c: Client): void {
    for (const ch of [...c.channels]) this.unsubscribe(c, ch);
    for (const ch of [...c.shardChannels]) this.unsubscribe(c, ch, true);
    for (const p of [...c.patterns]) this.punsubscribe(c, p);
  }
}

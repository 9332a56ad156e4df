/**
 * The client's error handling against scripted RESP servers (net.createServer answering
 * canned replies): the handshake fallback, auto-pipelining, MOVED, ASK, TRYAGAIN,
 * CLUSTERDOWN, a connection dropped after a write or a read, NOSCRIPT, the offline queue.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyHashSlot, RequestParser } from '@sonic/protocol';
import { Client } from './client.js';
import { AskError, ConnectionError, CrossSlotError, OfflineQueueFullError, ReplyError, WriteOutcomeUnknownError } from './errors.js';
import { SlotTable } from './topology.js';

type Handler = (args: string[], s: Scripted, sock: net.Socket) => string | 'DROP' | null;

const bulk = (s: string | null) => (s === null ? '$-1\r\n' : `$${Buffer.byteLength(s)}\r\n${s}\r\n`);
const err = (s: string) => `-${s}\r\n`;

/** A RESP server answering each command with what `handler` returns (raw RESP). */
class Scripted {
  readonly seen: string[][] = [];
  /** Data chunks received (auto-pipelining: one per event-loop turn of the client). */
  chunks = 0;
  readonly sockets = new Set<net.Socket>();
  port = 0;
  private readonly server: net.Server;
  constructor(private readonly handler: Handler, tlsOpts?: tls.TlsOptions) {
    const accept = (sock: net.Socket) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => {});
      const p = new RequestParser();
      sock.on('data', (d) => {
        this.chunks++;
        p.push(d);
        for (;;) {
          const args = p.next() as string[] | null;
          if (args === null) return;
          this.seen.push(args);
          const r = this.handler(args, this, sock);
          if (r === 'DROP') {
            sock.destroy();
            return;
          }
          if (r !== null) sock.write(r);
        }
      });
    };
    this.server = tlsOpts ? tls.createServer(tlsOpts, accept) : net.createServer(accept);
  }
  listen(): Promise<this> {
    return new Promise((res) => this.server.listen(0, '127.0.0.1', () => {
      this.port = (this.server.address() as net.AddressInfo).port;
      res(this);
    }));
  }
  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }
  names(): string[] {
    return this.seen.map((a) => a.map((x, i) => (i === 0 ? x.toUpperCase() : x)).join(' '));
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((res) => this.server.close(() => res()));
  }
}

/** Answers the handshake as a RESP2-only server (HELLO unknown) and CLUSTER SLOTS from `slots`. */
function base(args: string[], slots: () => string): string | null {
  const c = args[0]!.toUpperCase();
  if (c === 'HELLO') return err("ERR unknown command 'HELLO', with args beginning with: '3' ");
  if (c === 'AUTH' || c === 'READONLY' || c === 'ASKING' || c === 'SELECT') return '+OK\r\n';
  if (c === 'CLUSTER' && args[1]!.toUpperCase() === 'SHARDS') return err("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.");
  if (c === 'CLUSTER' && args[1]!.toUpperCase() === 'SLOTS') return slots();
  return null;
}

/** CLUSTER SLOTS: ranges [start, end, port]. */
function slotsReply(ranges: [number, number, number][]): string {
  return `*${ranges.length}\r\n` + ranges.map(([a, b, p]) => `*3\r\n:${a}\r\n:${b}\r\n*2\r\n${bulk('127.0.0.1')}:${p}\r\n`).join('');
}

const servers: Scripted[] = [];
const clients: Client[] = [];
async function server(h: Handler, tlsOpts?: tls.TlsOptions): Promise<Scripted> {
  const s = await new Scripted(h, tlsOpts).listen();
  servers.push(s);
  return s;
}
function client(o: ConstructorParameters<typeof Client>[0]): Client {
  const c = new Client({ retryDelayMs: 5, reconnectBaseMs: 10, ...o });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Two keys in different slots and their slots. */
const K1 = 'a';
const K2 = 'b';

describe('handshake and pipelining', () => {
  it('falls back to RESP2 and AUTH user pass when HELLO is refused', async () => {
    const s = await server((a) => base(a, () => '') ?? (a[0] === 'GET' ? bulk('v') : null));
    const c = client({ port: s.port, username: 'u', password: 'p' });
    expect(await c.get('k')).toBe('v');
    expect(s.names().slice(0, 2)).toEqual(['HELLO 3 AUTH u p', 'AUTH u p']);
  });

  it('uses RESP3 when HELLO 3 succeeds, and a refused AUTH fails the connection with the server error', async () => {
    const s = await server((a) => (a[0] === 'HELLO' ? (a.includes('bad') ? err('WRONGPASS invalid username-password pair or user is disabled.') : '%1\r\n+proto\r\n:3\r\n') : a[0] === 'HGETALL' ? '%1\r\n+f\r\n+v\r\n' : null));
    const c = client({ port: s.port });
    expect(await c.hgetall('h')).toEqual({ f: 'v' });
    const errors: Error[] = [];
    const bad = new Client({ port: s.port, password: 'bad', reconnectBaseMs: 1000 });
    clients.push(bad);
    bad.on('error', (e) => errors.push(e));
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(errors[0]).toBeInstanceOf(ReplyError);
    expect((errors[0] as ReplyError).code).toBe('WRONGPASS');
  });

  it('connects over TLS with the options given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'client-tls-'));
    try {
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const cert = readFileSync(join(dir, 'cert.pem'));
      const s = await server((a) => base(a, () => '') ?? (a[0] === 'GET' ? bulk('secret') : null), { key: readFileSync(join(dir, 'key.pem')), cert });
      const c = client({ port: s.port, tls: { ca: [cert], servername: 'localhost' } });
      expect(await c.get('k')).toBe('secret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends the commands of one event-loop turn in one write', async () => {
    const s = await server((a) => base(a, () => '') ?? (a[0] === 'GET' ? bulk(a[1]!) : null));
    const c = client({ port: s.port });
    await c.ready();
    await new Promise((r) => setTimeout(r, 20));
    const before = s.chunks;
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    expect(await Promise.all(keys.map((k) => c.get(k)))).toEqual(keys);
    expect(s.chunks - before).toBe(1);
  });

  it('typed reply errors; CROSSSLOT for a cross-slot transaction, client-side', async () => {
    const s = await server((a) => base(a, () => slotsReply([[0, 16383, s.port]])) ?? (a[0] === 'INCR' ? err('WRONGTYPE Operation against a key holding the wrong kind of value') : null));
    const c = client({ nodes: [s.addr] });
    const e = await c.incr('k').catch((x: Error) => x);
    expect(e).toBeInstanceOf(ReplyError);
    expect((e as ReplyError).code).toBe('WRONGTYPE');
    expect(keyHashSlot(K1)).not.toBe(keyHashSlot(K2));
    await expect(c.multi().set(K1, '1').set(K2, '2').exec()).rejects.toBeInstanceOf(CrossSlotError);
  });
});

describe('redirects', () => {
  it('MOVED patches the slot and many MOVEDs cause one refresh', async () => {
    const b = await server((a, self) => base(a, () => slotsReply([[0, 16383, self.port]])) ?? (a[0] === 'GET' ? bulk(`b:${a[1]}`) : null));
    const a = await server((args, self) => base(args, () => slotsReply([[0, 16383, self.port]])) ?? (args[0] === 'GET' ? `-MOVED ${keyHashSlot(args[1]!)} ${b.addr}\r\n` : null));
    const c = client({ nodes: [a.addr] });
    await c.ready();
    expect(c.refreshes).toBe(1);
    const keys = Array.from({ length: 50 }, (_, i) => `key${i}`);
    expect(await Promise.all(keys.map((k) => c.get(k)))).toEqual(keys.map((k) => `b:${k}`));
    // The patched slots go straight to b.
    const seenAtA = a.seen.filter((x) => x[0] === 'GET').length;
    expect(await c.get('key1')).toBe('b:key1');
    expect(a.seen.filter((x) => x[0] === 'GET').length).toBe(seenAtA);
    for (let i = 0; i < 50 && c.refreshes < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 150));
    expect(c.refreshes).toBe(2);
  });

  it('ASK sends ASKING then the command to the target, once, and leaves the table alone', async () => {
    const b = await server((a) => base(a, () => '') ?? (a[0] === 'GET' ? bulk('from-b') : null));
    let asked = 0;
    const a = await server((args, self) => base(args, () => slotsReply([[0, 16383, self.port]])) ?? (args[0] === 'GET' ? (asked++ === 0 ? `-ASK ${keyHashSlot(args[1]!)} ${b.addr}\r\n` : bulk('from-a')) : null));
    const c = client({ nodes: [a.addr] });
    expect(await c.get('k')).toBe('from-b');
    expect(b.names().filter((n) => !n.startsWith('HELLO')).slice(-2)).toEqual(['ASKING', 'GET k']);
    expect(await c.get('k')).toBe('from-a');
  });

  it('MOVED back and forth between nodes that disagree for a moment settles with backoff', async () => {
    let atB = 0;
    let atA = 0;
    const b: Scripted = await server((args) => base(args, () => '') ?? (args[0] === 'GET' ? (atB++ < 3 ? `-MOVED ${keyHashSlot(args[1]!)} ${a.addr}\r\n` : bulk('settled')) : null));
    const a: Scripted = await server((args, self) => base(args, () => slotsReply([[0, 16383, self.port]])) ?? (args[0] === 'GET' ? (atA++, `-MOVED ${keyHashSlot(args[1]!)} ${b.addr}\r\n`) : null));
    const c = client({ nodes: [a.addr] });
    expect(await c.get('k')).toBe('settled');
    expect(atB).toBe(4);
    expect(atA + atB).toBeLessThanOrEqual(17);
  });

  it('a redirect loop ends after maxRedirections', async () => {
    const a = await server((args, self) => base(args, () => slotsReply([[0, 16383, self.port]])) ?? (args[0] === 'GET' ? `-ASK ${keyHashSlot(args[1]!)} ${self.addr}\r\n` : null));
    const c = client({ nodes: [a.addr], maxRedirections: 3 });
    await expect(c.get('k')).rejects.toBeInstanceOf(AskError);
    expect(a.seen.filter((x) => x[0] === 'GET').length).toBe(4);
  });

  it('TRYAGAIN and CLUSTERDOWN are retried with backoff, bounded by retryTimeoutMs', async () => {
    let n = 0;
    const a = await server((args, self) => base(args, () => slotsReply([[0, 16383, self.port]])) ?? (args[0] === 'GET' ? (n++ < 3 ? err(n % 2 ? 'TRYAGAIN Multiple keys request during rehashing of slot' : 'CLUSTERDOWN The cluster is down') : bulk('ok')) : args[0] === 'SET' ? err('TRYAGAIN Multiple keys request during rehashing of slot') : null));
    const c = client({ nodes: [a.addr], retryTimeoutMs: 300 });
    expect(await c.get('k')).toBe('ok');
    expect(n).toBe(4);
    const e = await c.set('k', 'v').catch((x: Error) => x);
    expect((e as ReplyError).code).toBe('TRYAGAIN');
    const sets = a.seen.filter((x) => x[0] === 'SET').length;
    expect(sets).toBeGreaterThan(2);
    expect(sets).toBeLessThan(40);
  });

  it('splits cross-slot MGET, DEL and MSET per slot and merges the replies', async () => {
    const store = new Map<string, string>();
    const h = (args: string[]) => {
      const c = args[0]!.toUpperCase();
      if (c === 'MGET') return `*${args.length - 1}\r\n` + args.slice(1).map((k) => bulk(store.get(k) ?? null)).join('');
      if (c === 'MSET') {
        for (let i = 1; i < args.length; i += 2) store.set(args[i]!, args[i + 1]!);
        return '+OK\r\n';
      }
      if (c === 'DEL') return `:${args.slice(1).filter((k) => store.delete(k)).length}\r\n`;
      return null;
    };
    const mid = 8192;
    const b = await server((args) => base(args, () => '') ?? h(args));
    const a = await server((args, self) => base(args, () => slotsReply([[0, mid - 1, self.port], [mid, 16383, b.port]])) ?? h(args));
    const c = client({ nodes: [a.addr] });
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    expect(new Set(keys.map((k) => keyHashSlot(k) < mid)).size).toBe(2);
    expect(await c.mset(...keys.flatMap((k) => [k, `v${k}`]) as [string, string])).toBe('OK');
    expect(await c.mget(...(keys as [string]))).toEqual(keys.map((k) => `v${k}`));
    expect(await c.del(...(keys.slice(0, 10) as [string]))).toBe(10);
    expect(a.seen.some((x) => x[0] === 'MGET') && b.seen.some((x) => x[0] === 'MGET')).toBe(true);
    expect([...a.seen, ...b.seen].filter((x) => x[0] === 'MGET').every((x) => new Set(x.slice(1).map((k) => keyHashSlot(k))).size === 1)).toBe(true);
  });
});

describe('failures', () => {
  it('a write whose connection drops after it was sent rejects with WriteOutcomeUnknownError; a read is retried', async () => {
    let dropGet = true;
    const s = await server((a) => {
      const r = base(a, () => '');
      if (r !== null) return r;
      if (a[0] === 'SET') return 'DROP';
      if (a[0] === 'GET') {
        if (dropGet) {
          dropGet = false;
          return 'DROP';
        }
        return bulk('v');
      }
      return null;
    });
    const c = client({ port: s.port });
    const e = await c.set('k', 'v').catch((x: Error) => x);
    expect(e).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(await c.get('k')).toBe('v');
    expect(s.seen.filter((x) => x[0] === 'GET').length).toBe(2);
  });

  it('commands not yet written when the connection drops are sent again', async () => {
    // The server drops the connection on the first GET; the SETs sent while it reconnects
    // wait in its queue and go out once it is back.
    let drops = 0;
    const s = await server((a) => base(a, () => '') ?? (a[0] === 'GET' && drops++ === 0 ? 'DROP' : a[0] === 'SET' ? '+OK\r\n' : a[0] === 'GET' ? bulk('v') : null));
    const c = client({ port: s.port });
    await c.ready();
    const events: number[] = [];
    c.on('reconnecting', (e) => events.push(e.attempt));
    const read = c.get('k').catch((x: Error) => x);
    for (let i = 0; i < 200 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 1));
    // The connection is down or coming back: these wait in its queue, then go out.
    const later = await Promise.all([c.set('x', '1'), c.set('y', '2')]);
    expect(later).toEqual(['OK', 'OK']);
    expect(await read).toBe('v'); // a read: sent again
    expect(events.length).toBeGreaterThan(0);
  });

  it('NOSCRIPT: run() sends EVALSHA, then EVAL', async () => {
    const s = await server((a) => base(a, () => '') ?? (a[0] === 'EVALSHA' ? err('NOSCRIPT No matching script. Please use EVAL.') : a[0] === 'EVAL' ? bulk('ran') : null));
    const c = client({ port: s.port });
    const sc = c.script('return 1');
    expect(await sc.run(['k'], ['a'])).toBe('ran');
    expect(s.names().filter((n) => n.startsWith('EVAL'))).toEqual([`EVALSHA ${sc.sha} 1 k a`, 'EVAL return 1 1 k a']);
  });

  it('the offline queue is bounded', async () => {
    const port = await new Promise<number>((res) => {
      const t = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (t.address() as net.AddressInfo).port;
        t.close(() => res(p));
      });
    });
    const c = client({ port, maxOfflineQueue: 5, retryTimeoutMs: 200 });
    const ps = Array.from({ length: 7 }, () => c.get('k').catch((x: Error) => x));
    const rs = await Promise.all(ps);
    expect(rs.filter((r) => r instanceof OfflineQueueFullError).length).toBe(2);
    expect(rs.slice(0, 5).every((r) => r instanceof Error && !(r instanceof OfflineQueueFullError))).toBe(true);
  });
});

describe('no topology', () => {
  it('commands waiting for a first topology give up after retryTimeoutMs', async () => {
    const port = await new Promise<number>((res) => {
      const t = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (t.address() as net.AddressInfo).port;
        t.close(() => res(p));
      });
    });
    const c = client({ nodes: [`127.0.0.1:${port}`], retryTimeoutMs: 200 });
    const e = await c.get('k').catch((x: Error) => x);
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toContain('no cluster topology');
  });
});

describe('slot table', () => {
  it('reads CLUSTER SHARDS (RESP2 flat arrays) and routes reads by readFrom', () => {
    const shard = (a: number, b: number, p: number, r: number) => ['slots', [a, b], 'nodes', [['id', 'x', 'port', p, 'ip', '10.0.0.1', 'endpoint', '10.0.0.1', 'role', 'master', 'health', 'online'], ['id', 'y', 'port', r, 'ip', '10.0.0.2', 'endpoint', '10.0.0.2', 'role', 'replica', 'health', 'online']]];
    const t = SlotTable.fromShards([shard(0, 99, 1, 2), shard(100, 16383, 3, 4)], 'h');
    expect(t.covered()).toBe(16384);
    expect(t.route(5, false, 'replicas')).toBe('10.0.0.1:1');
    expect(t.route(5, true, 'replicas')).toBe('10.0.0.2:2');
    expect(t.route(200, true, 'primary')).toBe('10.0.0.1:3');
    t.patch(5, '10.0.0.9:9');
    expect(t.primaryOf(5)).toBe('10.0.0.9:9');
    expect([...t.addresses()].sort()).toEqual(['10.0.0.1:1', '10.0.0.1:3', '10.0.0.2:2', '10.0.0.2:4', '10.0.0.9:9']);
  });
});

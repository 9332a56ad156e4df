/**
 * A cluster where every process is on its own host: one network namespace per process,
 * each joined by a veth pair to a bridge in the root namespace (test-unique names, one
 * /24 of 10.214.x.0 per network, the bridge holds .1 so the test itself reaches every
 * host). A host's link is cut by setting its root-side veth down. Needs root and
 * iproute2 (`netnsAvailable()` in netns.ts). `remove()` kills every process and deletes
 * every namespace, link and the bridge; call it in afterAll, also after a failure. After
 * remove() nothing more can be added (a timed-out setup that goes on creates nothing).
 * Namespace names carry the creating process's pid: a new network first deletes those
 * of processes that are gone (a test run killed before its afterAll).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SONIC } from './harness.js';
import { ControlClients, parseControllers } from '@sonic/controller';
import type { controlPb } from '@sonic/protocol';
import { waitFor, waitForPort } from './controller-helpers.js';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error}`);
}

export interface NetHost {
  name: string;
  ns: string;
  addr: string;
  /** The root-side end of the host's veth pair (on the bridge): down cuts the host off. */
  link: string;
}

export interface NetProc {
  host: NetHost;
  child: ChildProcess;
  output(): string;
}

export interface Net {
  /** The bridge's address: where the test (root namespace) is seen from the hosts. */
  gateway: string;
  hosts: Map<string, NetHost>;
  addHost(name: string): NetHost;
  /** Runs `node SONIC args` inside the host's namespace, tracked for remove(). */
  sonic(host: NetHost, args: string[]): NetProc;
  /** A temp dir removed with the network. */
  tempDir(prefix: string): string;
  remove(): Promise<void>;
}

/** Deletes the namespaces (and so their veth pairs) and bridges of networks whose creator is gone. */
function removeStale(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10000 }).stdout ?? '';
  for (const m of list.matchAll(/^sonic-(\d+)-([0-9a-f]{4})-(\S+)/gm)) {
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) continue;
    spawnSync('ip', ['netns', 'del', m[0]], { timeout: 10000 });
    spawnSync('ip', ['link', 'del', `sbr${m[2]}`], { timeout: 10000 });
  }
}

export function makeNetwork(): Net {
  removeStale();
  const id = randomBytes(2).toString('hex');
  const bridge = `sbr${id}`;
  let closed = false;
  const third = 1 + Math.floor(Math.random() * 250);
  const gateway = `10.214.${third}.1`;
  const hosts = new Map<string, NetHost>();
  const procs: NetProc[] = [];
  const dirs: string[] = [];
  ip(['link', 'add', bridge, 'type', 'bridge']);
  const net: Net = {
    gateway,
    hosts,
    addHost(name) {
      if (closed) throw new Error('the network was removed');
      const n = hosts.size + 1;
      if (n > 200) throw new Error('too many hosts');
      const host: NetHost = { name, ns: `sonic-${process.pid}-${id}-${name}`, addr: `10.214.${third}.${10 + n}`, link: `sv${id}${n}` };
      const inner = `sn${id}${n}`;
      hosts.set(name, host);
      ip(['netns', 'add', host.ns]);
      ip(['link', 'add', host.link, 'type', 'veth', 'peer', 'name', inner]);
      ip(['link', 'set', inner, 'netns', host.ns]);
      ip(['link', 'set', host.link, 'master', bridge]);
      ip(['link', 'set', host.link, 'up']);
      ip(['netns', 'exec', host.ns, 'ip', 'addr', 'add', `${host.addr}/24`, 'dev', inner]);
      ip(['netns', 'exec', host.ns, 'ip', 'link', 'set', inner, 'up']);
      ip(['netns', 'exec', host.ns, 'ip', 'link', 'set', 'lo', 'up']);
      return host;
    },
    sonic(host, args) {
      if (closed) throw new Error('the network was removed');
      const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, SONIC, ...args], { env: { ...process.env, SONIC_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const p = { host, child, output: () => out };
      procs.push(p);
      return p;
    },
    tempDir(prefix) {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    async remove() {
      closed = true;
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((res) => {
              if (p.child.exitCode !== null || p.child.signalCode !== null) return res();
              const timer = setTimeout(res, 5000);
              p.child.once('exit', () => {
                clearTimeout(timer);
                res();
              });
              p.child.kill('SIGCONT');
              p.child.kill('SIGKILL');
            }),
        ),
      );
      // Deleting a namespace deletes its end of the veth pair, and so the pair.
      for (const h of hosts.values()) {
        spawnSync('ip', ['netns', 'del', h.ns], { timeout: 10000 });
        spawnSync('ip', ['link', 'del', h.link], { timeout: 10000 });
      }
      spawnSync('ip', ['link', 'del', bridge], { timeout: 10000 });
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
  try {
    ip(['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
  } catch (e) {
    void net.remove();
    throw e;
  }
  return net;
}

export interface NetCluster {
  controllers: string;
  ctls: NetProc[];
  /** Node id → its process; primaries p1..pN (shard-i), replicas r1..rN. */
  nodes: Map<string, NetProc & { port: number }>;
  router: NetProc & { addr: string; port: number };
}

const CTL_PORT = 26379;
const NODE_PORT = 7000;
const ROUTER_PORT = 6379;

/**
 * Three controllers, `shards` shards of a primary (p<i>) and a replica (r<i>), and a router,
 * each on its own host; slots assigned with `sonic cluster create`.
 */
export async function startNetCluster(net: Net, o: { shards?: number; nodeArgs?: string[]; downAfterMs?: number } = {}): Promise<NetCluster> {
  const shards = o.shards ?? 3;
  const ctlHosts = [1, 2, 3].map((i) => net.addHost(`c${i}`));
  const peers = ctlHosts.map((h) => `${h.name}=${h.addr}:${CTL_PORT}`).join(',');
  const controllers = ctlHosts.map((h) => `${h.addr}:${CTL_PORT}`).join(',');
  const ctls = ctlHosts.map((h) =>
    net.sonic(h, ['controller', '--id', h.name, '--peers', peers, '--bind', h.addr, '--dir', net.tempDir(`sonic-ns-${h.name}-`), '--down-after-milliseconds', String(o.downAfterMs ?? 1000)]),
  );
  await Promise.all(ctls.map((c) => waitForPort(CTL_PORT, c.host.addr, 30000, c.child, c.output)));
  const nodes = new Map<string, NetProc & { port: number }>();
  const nodeArgs = (h: NetHost, id: string) => [
    'node',
    '--port',
    String(NODE_PORT),
    '--bus-port',
    String(NODE_PORT + 10000),
    '--bind',
    h.addr,
    '--dir',
    net.tempDir(`sonic-ns-${id}-`),
    '--controllers',
    controllers,
    '--cluster-enabled',
    'yes',
    '--cluster-node-id',
    id,
    '--cluster-node-timeout',
    '3000',
    '--repl-timeout',
    '2',
    '--protected-mode',
    'no',
    ...(o.nodeArgs ?? []),
  ];
  for (let i = 1; i <= shards; i++) {
    const h = net.addHost(`p${i}`);
    const p = net.sonic(h, [...nodeArgs(h, `p${i}`), '--cluster-shard', `shard-${i}`]);
    nodes.set(`p${i}`, { ...p, port: NODE_PORT });
    // One primary at a time: shard ids follow the node names.
    await waitForPort(NODE_PORT, h.addr, 30000, p.child, p.output);
  }
  for (let i = 1; i <= shards; i++) {
    const h = net.addHost(`r${i}`);
    const p = net.sonic(h, [...nodeArgs(h, `r${i}`), '--replicaof', `${nodes.get(`p${i}`)!.host.addr}:${NODE_PORT}@${NODE_PORT + 10000}`]);
    nodes.set(`r${i}`, { ...p, port: NODE_PORT });
  }
  await Promise.all([...nodes.values()].map((n) => waitForPort(NODE_PORT, n.host.addr, 30000, n.child, n.output)));
  // Every shard formed (primary and replica registered), then the slots.
  const cc = new ControlClients(parseControllers(controllers));
  try {
    await waitFor(
      `${shards} shards formed in the netns cluster`,
      async () => {
        const s = await cc.any<controlPb.StatusReply>('status', {}, 3000);
        return Array.from({ length: shards }, (_, k) => s.config?.shards.find((x) => x.id === `shard-${k + 1}`)).every((sh, k) => sh?.primary === `p${k + 1}` && sh.replicas.includes(`r${k + 1}`));
      },
      60000,
      300,
    );
  } finally {
    cc.close();
  }
  const create = spawnSync(process.execPath, [SONIC, 'cluster', 'create', '--controllers', controllers], { encoding: 'utf8', timeout: 60000 });
  if (create.status !== 0) throw new Error(`sonic cluster create: ${create.stderr}${create.stdout}`);
  const rh = net.addHost('router');
  const rp = net.sonic(rh, ['router', '--port', String(ROUTER_PORT), '--bind', rh.addr, '--controllers', controllers]);
  await waitForPort(ROUTER_PORT, rh.addr, 30000, rp.child, rp.output);
  return { controllers, ctls, nodes, router: { ...rp, addr: rh.addr, port: ROUTER_PORT } };
}

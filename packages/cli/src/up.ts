/**
 * `sonic up`: a whole local cluster in one command (what `npm start` runs). It starts K
 * controllers, N shards of one primary and M replicas, and a router as child processes
 * on loopback ports, each with its own directory and log file under --dir (.sonic/),
 * the way the cluster tests start one (controllers; primaries with --cluster-shard;
 * replicas with --replicaof; `sonic cluster create`). It writes <dir>/up.json (what
 * `sonic drill` reads), shows a live status view, and stops everything on Ctrl-C,
 * SIGTERM or SIGHUP. A second run in the same directory reuses the node ids, ports and
 * the controllers' Raft state (no `cluster create` when slots are assigned). A child that
 * dies is shown, not restarted: drills kill primaries on purpose; `r` (or SIGUSR2)
 * starts the exited processes again. See docs/operations.md.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { keyHashSlot, oneShot, RespError, SLOTS, type controlPb } from '@sonic/protocol';
import { ControlClients, parseControllers, parseInfo } from '@sonic/controller';
import { runCluster } from './cluster.js';
import { Child, cmdline, freePairs, nextFreePort, pidAlive, sleep, SONIC_MAIN, stopLeftover, waitListening, type ProcSpec } from './up-procs.js';
import { collect, render, shapeKey } from './up-view.js';

export const UP_USAGE = `Usage: sonic up [options]

Starts a whole Sonic cluster on this machine: controllers, shards of one primary and
replicas, and a router, as child processes on loopback ports, with their data and logs
under --dir. Shows a live status view; Ctrl-C (or SIGTERM) stops everything. A second
run in the same directory reuses the data, the node ids and the ports.

Options:
  --shards N               shards [3]
  --replicas M             replicas per shard [1]
  --controllers K          controllers (Raft group) [3]
  --port P                 the router's port; the next free one if taken [6379]
  --persist                nodes keep their data: AOF (appendfsync everysec) and RDB
                           snapshots (save 3600 1 300 100 60 10000)
  --dir DIR                data, logs and up.json [.sonic]
  --password PW            requirepass of the nodes, the router and the controllers
  --down-after-milliseconds MS
                           a node is down (and fails over) after MS without a reply [1000]
  --repl-sync-mode async|sync
                           sync: a write is acknowledged once a replica holds it [async]
  --check-config           check the options, print ok (exit 0) or the problem (exit 1)
  --help                   show this help

Keys in the view: r starts the processes that exited again, q stops everything.
`;

export interface UpOptions {
  shards: number;
  replicas: number;
  controllers: number;
  port: number;
  persist: boolean;
  dir: string;
  password: string;
  downAfterMs: number;
  syncMode: 'async' | 'sync';
  /** The options given on the command line (the others may come from up.json). */
  given: Set<string>;
  checkConfig: boolean;
}

export class UpError extends Error {}

function int(name: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UpError(`--${name} must be an integer from ${min} to ${max}, not '${v ?? ''}'`);
  return Number(v);
}

export function parseUpArgs(args: string[]): UpOptions {
  const o: UpOptions = {
    shards: 3,
    replicas: 1,
    controllers: 3,
    port: 6379,
    persist: false,
    dir: '.sonic',
    password: '',
    downAfterMs: 1000,
    syncMode: 'async',
    given: new Set(),
    checkConfig: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq > 0 ? eq : undefined) : '';
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      if (i + 1 >= args.length) throw new UpError(`--${name} needs a value`);
      return args[++i]!;
    };
    switch (name) {
      case 'shards':
        o.shards = int(name, value(), 1, 64);
        break;
      case 'replicas':
        o.replicas = int(name, value(), 0, 5);
        break;
      case 'controllers':
        o.controllers = int(name, value(), 1, 7);
        break;
      case 'port':
        o.port = int(name, value(), 1, 65535);
        break;
      case 'persist':
        o.persist = true;
        break;
      case 'check-config':
        o.checkConfig = true;
        break;
      case 'dir':
        o.dir = value();
        if (o.dir === '') throw new UpError('--dir must not be empty');
        break;
      case 'password':
        o.password = value();
        if (o.password === '') throw new UpError('--password must not be empty');
        break;
      case 'down-after-milliseconds':
        o.downAfterMs = int(name, value(), 100, 600_000);
        break;
      case 'repl-sync-mode': {
        const v = value();
        if (v !== 'async' && v !== 'sync') throw new UpError(`--repl-sync-mode must be async or sync, not '${v}'`);
        o.syncMode = v;
        break;
      }
      default:
        throw new UpError(`unknown option '${a}' (see sonic up --help)`);
    }
    o.given.add(name);
  }
  if (o.controllers % 2 === 0) throw new UpError(`--controllers must be odd (a Raft group of ${o.controllers} tolerates no more failures than ${o.controllers - 1})`);
  return o;
}

/** <dir>/up.json, as the Interfaces fix it (`persist` added: a second run keeps it). */
export interface UpJson {
  pid: number;
  router: { host: string; port: number; pid: number | null };
  controllers: string;
  controllerProcs: { id: string; port: number; pid: number | null }[];
  nodes: { id: string; shard: string; host: string; port: number; pid: number | null; dir: string }[];
  password: string | null;
  persist?: boolean;
}

/** up.json, or (name) up-start.json: the same record, kept while a start is under way. */
function readUpJson(dir: string, name = 'up.json'): UpJson | null {
  try {
    return JSON.parse(readFileSync(join(dir, name), 'utf8')) as UpJson;
  } catch {
    return null;
  }
}

type Status = controlPb.StatusReply;

class Stopped extends Error {}

class Up {
  private readonly dir: string;
  private readonly log: Logger;
  private children: Child[] = [];
  private stopping: Promise<void> | null = null;
  private list = '';
  private routerPort = 0;
  private wantedPort = 0;
  private cc: ControlClients | null = null;
  private viewTimer: NodeJS.Timeout | null = null;
  private readonly tty = process.stdout.isTTY === true;
  private lastShape = '';
  private lastPlain = 0;
  private ready = false;

  constructor(private readonly o: UpOptions) {
    this.dir = resolve(o.dir);
    mkdirSync(this.dir, { recursive: true });
    this.log = pino({ base: { pid: process.pid, component: 'up' } }, pino.destination({ dest: join(this.dir, 'up.log'), append: true, sync: true }));
  }

  private say(line: string): void {
    process.stdout.write(line + '\n');
  }

  private get lockFile(): string {
    return join(this.dir, 'up.pid');
  }

  /** Refuses when another `sonic up` runs in this directory; takes the lock otherwise. */
  private lock(records: (UpJson | null)[]): void {
    const isUp = (pid: number) => pid !== process.pid && pidAlive(pid) && cmdline(pid).includes(SONIC_MAIN) && / up( |$)/.test(cmdline(pid));
    let other = 0;
    try {
      other = Number(readFileSync(this.lockFile, 'utf8').trim());
    } catch {
      /* no lock */
    }
    for (const pid of [other, ...records.map((r) => r?.pid ?? 0)]) {
      if (isUp(pid)) throw new UpError(`another sonic up (pid ${pid}) runs in ${this.dir}: stop it first (Ctrl-C there, or kill ${pid}), or use another --dir`);
    }
    writeFileSync(this.lockFile, `${process.pid}\n`);
  }

  /**
   * Builds the process specs: the ports and ids of `prev` (up.json, or the record of a
   * start that was interrupted) when there is one, else new ports. `fresh`: the cluster
   * never served (no up.json), so it is started as a new one.
   */
  private async plan(prev: UpJson | null, fresh: boolean): Promise<{ ctls: ProcSpec[]; nodes: (ProcSpec & { shard: string })[]; router: ProcSpec }> {
    const o = this.o;
    const taken = new Set<number>();
    let ctlPorts: number[];
    let nodes: { id: string; shard: string; port: number }[];
    const known = prev !== null && prev.nodes.length > 0 && prev.controllerProcs.length > 0;
    if (known) {
      const shards = [...new Set(prev.nodes.map((n) => n.shard))];
      const replicas = Math.max(0, Math.round(prev.nodes.length / shards.length) - 1);
      const clash = [
        o.given.has('shards') && o.shards !== shards.length ? `--shards ${o.shards}` : '',
        o.given.has('replicas') && o.replicas !== replicas ? `--replicas ${o.replicas}` : '',
        o.given.has('controllers') && o.controllers !== prev.controllerProcs.length ? `--controllers ${o.controllers}` : '',
      ].filter(Boolean);
      if (clash.length > 0) {
        throw new UpError(
          `${this.dir} holds a cluster of ${shards.length} shards, ${replicas} replica(s) each and ${prev.controllerProcs.length} controllers (${clash.join(' ')} differs): run without those options, scale it with sonic cluster add-node (docs/operations.md), or use another --dir`,
        );
      }
      ctlPorts = prev.controllerProcs.map((c) => c.port);
      nodes = prev.nodes.map((n) => ({ id: n.id, shard: n.shard, port: n.port }));
      if (!o.given.has('persist') && prev.persist) o.persist = true;
      if (!o.given.has('password') && prev.password) o.password = prev.password;
      for (const p of [...ctlPorts, ...nodes.map((n) => n.port)]) taken.add(p).add(p + 10000);
      this.routerPort = o.given.has('port') ? o.port : prev.router.port;
    } else {
      this.routerPort = o.port;
    }
    // The router first: it gets --port (or the port of the last run) or the next free one.
    this.wantedPort = this.routerPort;
    this.routerPort = await nextFreePort(this.routerPort, taken);
    taken.add(this.routerPort);
    if (!known) {
      // Nodes right above the router (6380, 6381 … by default), controllers at Sentinel's
      // 26379 … (so `sonic status` finds them without --controllers) when that is free.
      const nodePorts = await freePairs(o.shards * (1 + o.replicas), this.routerPort + 1, taken);
      ctlPorts = await freePairs(o.controllers, this.routerPort === 6379 ? 26379 : nodePorts[nodePorts.length - 1]! + 1, taken);
      nodes = [];
      for (let s = 1; s <= o.shards; s++) {
        const base = (s - 1) * (1 + o.replicas);
        nodes.push({ id: `s${s}-p`, shard: `shard-${s}`, port: nodePorts[base]! });
        for (let r = 1; r <= o.replicas; r++) nodes.push({ id: `s${s}-r${r}`, shard: `shard-${s}`, port: nodePorts[base + r]! });
      }
    }
    this.list = ctlPorts!.map((p) => `127.0.0.1:${p}`).join(',');
    const peers = ctlPorts!.map((p, i) => `c${i + 1}=127.0.0.1:${p}`).join(',');
    const pw = o.password;
    const ctls: ProcSpec[] = ctlPorts!.map((port, i) => ({
      id: `c${i + 1}`,
      kind: 'controller',
      port,
      dir: join(this.dir, `c${i + 1}`),
      args: ['controller', '--id', `c${i + 1}`, '--peers', peers, '--dir', join(this.dir, `c${i + 1}`), '--down-after-milliseconds', String(o.downAfterMs), ...(pw ? ['--auth-pass', pw, '--requirepass', pw] : [])],
    }));
    const specs = nodes!.map((n) => {
      const dir = join(this.dir, n.id);
      const args = [
        'node',
        '--port',
        String(n.port),
        '--bus-port',
        String(n.port + 10000),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--cluster-enabled',
        'yes',
        '--cluster-shard',
        n.shard,
        '--cluster-node-id',
        n.id,
        '--controllers',
        this.list,
        // Above down-after, as the cluster tests have it: a starved machine must not fence
        // primaries that are fine.
        '--cluster-node-timeout',
        String(Math.max(3000, o.downAfterMs)),
        ...(o.persist ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '3600 1 300 100 60 10000'] : []),
        ...(pw ? ['--requirepass', pw, '--masterauth', pw] : []),
        ...(o.syncMode === 'sync' ? ['--repl-sync-mode', 'sync'] : []),
      ];
      return { id: n.id, kind: 'node' as const, port: n.port, dir, args, shard: n.shard };
    });
    // A new cluster: replicas start with --replicaof their primary (as startSonicCluster
    // does). A restart leaves the roles to the controllers' configuration.
    if (fresh) {
      for (const n of specs) {
        const primary = specs.find((p) => p.shard === n.shard && p.id.endsWith('-p'))!;
        if (primary !== n) n.args.push('--replicaof', `127.0.0.1:${primary.port}@${primary.port + 10000}`);
      }
    }
    const router: ProcSpec = {
      id: 'router',
      kind: 'router',
      port: this.routerPort,
      dir: join(this.dir, 'router'),
      args: ['router', '--port', String(this.routerPort), '--controllers', this.list, ...(pw ? ['--requirepass', pw, '--node-password', pw] : [])],
    };
    return { ctls, nodes: specs, router };
  }

  private launch(spec: ProcSpec): Child {
    if (this.stopping) throw new Stopped();
    const c = new Child(spec);
    c.onExit = (x) => this.exited(x);
    this.children.push(c);
    c.start();
    this.log.info({ proc: spec.id, pid: c.pid, port: spec.port }, 'started');
    if (!this.ready) this.writeUpJson();
    return c;
  }

  private exited(c: Child): void {
    this.log.warn({ proc: c.spec.id, exit: c.exit }, 'process exited');
    if (!this.ready) return;
    if (!this.tty) this.say(`${new Date().toISOString()} ${c.spec.id} ${c.exit} (log: ${c.log}); not restarted: kill -USR2 ${process.pid} starts it again`);
    this.writeUpJson();
    void this.refresh();
  }

  /** Starts the processes that exited again (key r, SIGUSR2). */
  private restartExited(): void {
    if (this.stopping || !this.ready) return;
    for (const c of this.children) {
      if (c.running) continue;
      // A restarted node takes its role from the configuration (no --replicaof).
      const i = c.spec.args.indexOf('--replicaof');
      if (i >= 0) c.spec.args.splice(i, 2);
      c.start();
      this.log.info({ proc: c.spec.id, pid: c.pid }, 'restarted');
      if (!this.tty) this.say(`${new Date().toISOString()} ${c.spec.id} started again (pid ${c.pid})`);
    }
    this.writeUpJson();
  }

  private async status(ms = 1500): Promise<Status | null> {
    try {
      return await this.cc!.any<Status>('status', {}, ms);
    } catch {
      return null;
    }
  }

  /** Waits (with a bound) for `fn` to return true; `what()` says what is awaited. */
  private async until(what: () => string, fn: () => Promise<boolean>, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.stopping) throw new Stopped();
      // Nothing should exit while the cluster starts: say which did, and why (its log).
      const dead = this.children.find((c) => !c.running);
      if (dead) throw new UpError(`${dead.spec.id} ${dead.exit} while starting (log: ${dead.log})\n${dead.tail(8)}`);
      if (await fn()) return;
      await sleep(200);
    }
    throw new UpError(`timed out after ${ms / 1000} s waiting for ${what()}`);
  }

  /** Why the cluster is not serving yet ('' once every shard has a healthy, writable primary that routes by the configuration). */
  private async notReady(nodes: ProcSpec[]): Promise<string> {
    const st = await this.status();
    if (!st?.config) return 'the controllers';
    if (st.leader === '') return 'a controller leader';
    const cfg = st.config;
    const live = new Map(st.nodes.map((n) => [n.id, n]));
    // Registered by this run's process (its run id), not only known from an earlier run.
    const runIds = await Promise.all(
      nodes.map(async (n) => {
        const r = await oneShot('127.0.0.1', n.port, ['INFO', 'server'], { password: this.o.password, timeoutMs: 1000 }).catch(() => null);
        return r === null || r instanceof RespError ? '' : (parseInfo(String(r)).run_id ?? '');
      }),
    );
    for (const [i, n] of nodes.entries()) {
      const x = cfg.nodes.find((y) => y.id === n.id);
      if (!x || runIds[i] === '' || x.runId !== runIds[i]) return `${n.id} to register`;
    }
    let covered = 0;
    for (const sh of cfg.shards) for (const r of sh.slots) covered += r.end - r.start + 1;
    if (covered < SLOTS) return `slots to be assigned (${covered}/${SLOTS})`;
    if (cfg.migrations.length > 0) return `${cfg.migrations.length} open slot migrations`;
    for (const sh of cfg.shards) {
      if (sh.slots.length === 0) continue;
      const p = cfg.nodes.find((n) => n.id === sh.primary);
      if (!p) return `a primary for ${sh.id}`;
      const l = live.get(p.id);
      if (p.health !== 'ok' || !l || l.role !== 'primary' || l.sdown || l.fenced) return `${sh.id}'s primary ${p.id} (${p.health}${l?.fenced ? ', fenced' : ''}${l?.sdown ? ', down' : ''})`;
      const info = await oneShot('127.0.0.1', p.address!.port, ['CLUSTER', 'INFO'], { password: this.o.password, timeoutMs: 1000 }).catch(() => null);
      const text = info instanceof RespError || info === null ? '' : String(info);
      if (!text.includes('cluster_state:ok') || Number(/cluster_current_epoch:(\d+)/.exec(text)?.[1] ?? -1) < cfg.epoch) return `${p.id} to apply epoch ${cfg.epoch}`;
      for (const id of sh.replicas) {
        const r = cfg.nodes.find((n) => n.id === id);
        const lr = live.get(id);
        if (r?.health !== 'ok' || lr?.role !== 'replica' || !lr.linkUp) return `${sh.id}'s replica ${id} to sync (${r?.health ?? '?'}${lr?.linkUp ? '' : ', link down'})`;
      }
    }
    return '';
  }

  /** A key of each shard answers through the router (a read: no error, no redirect). */
  private async routerServes(): Promise<string> {
    const st = await this.status();
    for (const sh of st?.config?.shards ?? []) {
      const r = sh.slots[0];
      if (!r) continue;
      let key = '';
      for (let k = 0; k < 100000 && key === ''; k++) {
        const s = keyHashSlot(`up:${k}`);
        if (s >= r.start && s <= r.end) key = `up:${k}`;
      }
      const v = await oneShot('127.0.0.1', this.routerPort, ['GET', key], { password: this.o.password, timeoutMs: 1000 }).catch((e: Error) => new RespError(e.message));
      if (v instanceof RespError) return `${sh.id} through the router: ${v.message}`;
    }
    return '';
  }

  private upJson(): UpJson {
    const router = this.children.find((c) => c.spec.kind === 'router');
    return {
      pid: process.pid,
      router: { host: '127.0.0.1', port: this.routerPort, pid: router?.pid ?? null },
      controllers: this.list,
      controllerProcs: this.children.filter((c) => c.spec.kind === 'controller').map((c) => ({ id: c.spec.id, port: c.spec.port, pid: c.pid })),
      nodes: this.children
        .filter((c) => c.spec.kind === 'node')
        .map((c) => ({ id: c.spec.id, shard: c.spec.shard ?? '', host: '127.0.0.1', port: c.spec.port, pid: c.pid, dir: c.spec.dir })),
      password: this.o.password || null,
      persist: this.o.persist,
    };
  }

  /** up.json once the cluster served; before that up-start.json (what a next run reuses and stops). */
  private writeUpJson(): void {
    const file = join(this.dir, this.ready ? 'up.json' : 'up-start.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(this.upJson(), null, 2) + '\n', { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    if (this.ready) rmSync(join(this.dir, 'up-start.json'), { force: true });
  }

  async run(): Promise<number> {
    const prev = readUpJson(this.dir);
    const interrupted = readUpJson(this.dir, 'up-start.json');
    this.lock([prev, interrupted]);
    const onStop = (sig: string) => {
      void this.shutdown(sig).then(() => process.exit(0));
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => onStop(sig));
    process.on('SIGUSR2', () => this.restartExited());
    // A closed output (`sonic up | head`) must not take the cluster's supervisor down
    // without stopping the cluster; neither must a bug.
    process.stdout.on('error', () => {});
    process.on('uncaughtException', (err) => {
      this.log.error({ err: err.stack ?? String(err) }, 'uncaught exception');
      process.stderr.write(`sonic up: ${err.message}\n`);
      void this.shutdown('error').then(() => process.exit(1));
    });
    try {
      for (const was of [prev, interrupted]) {
        if (!was) continue;
        const marked = [...was.controllerProcs, ...was.nodes].map((p) => ({ ...p, mark: this.dir }));
        await Promise.all(
          [...marked, { id: 'router', pid: was.router.pid, mark: `--controllers ${was.controllers}` }].map(async (p) => {
            if (p.pid && (await stopLeftover(p.pid, p.mark))) this.say(`stopped ${p.id} (pid ${p.pid}), left running by an earlier sonic up`);
          }),
        );
      }
      const fresh = prev === null;
      const { ctls, nodes, router } = await this.plan(prev ?? interrupted, fresh);
      this.log.info({ dir: this.dir, fresh, shards: this.o.shards, replicas: this.o.replicas, persist: this.o.persist }, 'starting');
      this.say(`sonic up: ${fresh ? 'a new cluster' : 'reusing the cluster'} in ${this.dir}${this.o.persist ? ' (persistent: AOF + RDB)' : ''}`);
      this.say(`starting ${ctls.length} controller${ctls.length === 1 ? '' : 's'} on ${ctls.map((c) => c.port).join(', ')}`);
      const cs = ctls.map((s) => this.launch(s));
      await Promise.all(cs.map((c) => waitListening(c)));
      this.cc = new ControlClients(parseControllers(this.list));
      await this.until(() => 'a controller leader', async () => ((await this.status())?.leader ?? '') !== '', 60000);
      const st = await this.status();
      const assigned = (st?.config?.shards ?? []).some((s) => s.slots.length > 0);
      if (fresh || !assigned) {
        // One primary at a time (shard ids follow the node names), then the replicas.
        for (const n of nodes.filter((x) => x.id.endsWith('-p'))) {
          this.say(`starting ${n.shard} primary ${n.id} on ${n.port}`);
          await waitListening(this.launch(n));
          await this.until(() => `${n.id} to register`, async () => ((await this.status())?.config?.nodes ?? []).some((x) => x.id === n.id), 60000);
        }
        const reps = nodes.filter((x) => !x.id.endsWith('-p'));
        if (reps.length > 0) {
          this.say(`starting ${reps.length} replica${reps.length === 1 ? '' : 's'} on ${reps.map((r) => r.port).join(', ')}`);
          await Promise.all(reps.map((n) => waitListening(this.launch(n))));
        }
        let why = '';
        await this.until(
          () => why,
          async () => {
            const s = await this.status();
            const missing = nodes.filter((n) => !(s?.config?.nodes ?? []).some((x) => x.id === n.id && x.shard === n.shard));
            why = missing.length > 0 ? `${missing.map((m) => m.id).join(', ')} to register` : '';
            return missing.length === 0;
          },
          60000,
        );
        this.say('assigning the slots (sonic cluster create)');
        if ((await runCluster(['create', '--controllers', this.list])) !== 0) throw new UpError('sonic cluster create failed');
      } else {
        this.say(`starting ${nodes.length} node${nodes.length === 1 ? '' : 's'} on ${nodes.map((n) => n.port).join(', ')} (roles from the controllers' configuration)`);
        await Promise.all(nodes.map((n) => waitListening(this.launch(n))));
      }
      let why = '';
      let shown = '';
      await this.until(
        () => why,
        async () => {
          why = await this.notReady(nodes);
          if (why !== '' && why !== shown) {
            this.say(`waiting for ${why}`);
            shown = why;
          }
          return why === '';
        },
        120000,
      );
      this.say(`starting the router on ${this.routerPort}${this.routerPort === this.wantedPort ? '' : ` (${this.wantedPort} is taken)`}`);
      await waitListening(this.launch(router));
      await this.until(
        () => why,
        async () => {
          why = await this.routerServes();
          return why === '';
        },
        60000,
      );
      this.ready = true;
      this.writeUpJson();
      this.say(`ready: redis-cli -p ${this.routerPort}${this.o.password ? ' -a <password>' : ''} (router 127.0.0.1:${this.routerPort}; cluster clients: any node, e.g. redis-cli -c -p ${nodes[0]!.port}); ${join(this.dir, 'up.json')} written`);
      this.log.info({ router: this.routerPort }, 'ready');
      this.startView();
      await new Promise<never>(() => {});
      return 0;
    } catch (e) {
      if (e instanceof Stopped || this.stopping) {
        await this.stopping;
        return 0;
      }
      const msg = (e as Error).message;
      this.log.error({ err: msg }, 'start failed');
      process.stderr.write(`sonic up: ${msg}\n`);
      await this.shutdown('error');
      return 1;
    }
  }

  private startView(): void {
    if (this.tty && process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', (d: Buffer) => {
        const k = d.toString();
        if (k === '\u0003' || k === 'q') void this.shutdown('key').then(() => process.exit(0));
        else if (k === 'r') this.restartExited();
      });
    }
    if (this.tty) process.stdout.write('\x1b[2J');
    const tick = () => {
      void this.refresh().finally(() => {
        if (!this.stopping) this.viewTimer = setTimeout(tick, this.tty ? 1000 : 2000);
      });
    };
    tick();
  }

  private async refresh(): Promise<void> {
    if (!this.ready || this.stopping || !this.cc) return;
    const snap = await collect(this.cc, this.children, this.o.password, this.routerPort, this.o.dir);
    if (this.stopping) return;
    if (this.tty) {
      // Cursor home, the view with each line cleared to its end, then clear below.
      process.stdout.write('\x1b[H' + render(snap).replace(/\n/g, '\x1b[K\n') + '\x1b[J');
      return;
    }
    const shape = shapeKey(snap);
    // Plain output: the view again when something other than ops/s and memory changed,
    // at most every 5 s (and once at the start).
    if (shape !== this.lastShape && Date.now() - this.lastPlain >= 5000) {
      this.lastShape = shape;
      this.lastPlain = Date.now();
      this.say(render(snap));
    }
  }

  /** Stops the router, then the nodes, then the controllers; resolves once all exited. */
  shutdown(why: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      if (this.viewTimer) clearTimeout(this.viewTimer);
      if (process.stdin.isTTY && process.stdin.isRaw) {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      this.log.info({ why }, 'stopping');
      this.say(`\nstopping (${why})`);
      for (const kind of ['router', 'node', 'controller'] as const) {
        const cs = this.children.filter((c) => c.spec.kind === kind && c.running);
        if (cs.length === 0) continue;
        this.say(`stopping ${cs.map((c) => c.spec.id).join(', ')}`);
        await Promise.all(cs.map((c) => c.stop()));
      }
      this.cc?.close();
      if (this.children.length > 0) this.writeUpJson();
      rmSync(this.lockFile, { force: true });
      this.log.info('stopped');
      this.say('stopped: every process exited');
    })();
    return this.stopping;
  }
}

export async function runUp(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(UP_USAGE);
    return 0;
  }
  let o: UpOptions;
  try {
    o = parseUpArgs(args);
  } catch (e) {
    process.stderr.write(`sonic up: ${(e as Error).message}\n`);
    return 1;
  }
  if (o.checkConfig) {
    process.stdout.write('ok\n');
    return 0;
  }
  try {
    return await new Up(o).run();
  } catch (e) {
    process.stderr.write(`sonic up: ${(e as Error).message}\n`);
    return 1;
  }
}

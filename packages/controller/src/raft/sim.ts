/**
 * A deterministic simulator for RaftNode (after TigerBeetle's VOPR): one seed drives a
 * network that delays, reorders, drops and duplicates messages, partitions and heals
 * (also one way), nodes that crash and restart from exactly what Ready told them to
 * persist (including a crash between persisting and advance()), clocks that tick at
 * different rates, clients proposing commands, membership changes and compaction with
 * snapshot install. After every step the invariant checkers below run; after the fault
 * phase the network heals and liveness is checked.
 *
 * Test-only: imported by sim.test.ts, never by the controller.
 */
import { RaftNode } from './raft.js';
import { MemoryRaftStorage } from './memory-storage.js';
import type { LogEntry, Message, NodeId, Ready } from './types.js';

// ---------------------------------------------------------------- randomness

/** sfc32 seeded through splitmix32: small, fast, good enough, reproducible. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** A generator for a subsystem, derived from this one. */
  fork(): Rng {
    return new Rng(this.u32());
  }
}

// ---------------------------------------------------------------- options

export interface SimOptions {
  seed: number;
  /** Voting members at the start (3 or 5); one more node waits to be added. */
  nodes: number;
  /** Steps (events) in the fault phase. */
  steps: number;
  /** Keep a trace of the last events for the failure message. */
  trace?: boolean;
}

export interface SimStats {
  seed: number;
  steps: number;
  time: number;
  leaders: number;
  maxTerm: number;
  committed: number;
  crashes: number;
  crashesBetweenPersistAndAdvance: number;
  tornWrites: number;
  partitions: number;
  snapshotsInstalled: number;
  compactions: number;
  membershipCommitted: number;
  dropped: number;
  duplicated: number;
  /** Nominal ticks from healing to the new proposal applied on the leader. */
  livenessTicks: number;
  /** Nominal election timeouts from healing to the first leader (a member). */
  livenessElectionTimeouts: number;
  electionTicks: number;
}

export class SimViolation extends Error {
  override name = 'SimViolation';
}

/** Faults for one run, drawn from the seed (swarm testing: each run enables a different mix). */
interface Knobs {
  dropRate: number;
  dupRate: number;
  maxDelay: number;
  longDelayRate: number;
  partitionRate: number;
  healRate: number;
  oneWayRate: number;
  crashRate: number;
  leaderCrashRate: number;
  isolateLeaderRate: number;
  maxDowntime: number;
  restartRate: number;
  crashAfterPersistRate: number;
  tornPersistRate: number;
  maxFsyncDelay: number;
  proposeRate: number;
  membershipRate: number;
  compactRate: number;
  driftRate: number;
  maxEntriesPerMessage: number;
  maxInflight: number;
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
}

function drawKnobs(r: Rng): Knobs {
  const electionTicks = r.pick([5, 10, 10, 20]);
  return {
    dropRate: r.pick([0, 0, 0.01, 0.05, 0.2]),
    dupRate: r.pick([0, 0.02, 0.1]),
    maxDelay: r.pick([3, 10, 25, 60, 120]),
    longDelayRate: r.pick([0, 0, 0.01]),
    partitionRate: r.pick([0, 0.002, 0.006]),
    healRate: r.pick([0.005, 0.02]),
    oneWayRate: r.pick([0, 0.002]),
    crashRate: r.pick([0, 0.001, 0.003]),
    leaderCrashRate: r.pick([0, 0.002, 0.006]),
    isolateLeaderRate: r.pick([0, 0.003, 0.01]),
    maxDowntime: r.pick([3, 30]) * TICK,
    restartRate: r.pick([0.01, 0.05, 0.3]),
    crashAfterPersistRate: r.pick([0, 0.01, 0.05]),
    tornPersistRate: r.pick([0, 0.01, 0.03]),
    maxFsyncDelay: r.pick([0, 2, 6, 20, 50]),
    proposeRate: r.pick([0.01, 0.05, 0.2, 0.5]),
    membershipRate: r.pick([0, 0.002, 0.01]),
    compactRate: r.pick([0, 0.005, 0.03]),
    driftRate: r.pick([0, 0.001]),
    maxEntriesPerMessage: r.pick([1, 4, 64]),
    maxInflight: r.pick([1, 4, 16]),
    electionTicks,
    heartbeatTicks: Math.max(1, Math.floor(electionTicks / r.pick([3, 5, 10]))),
    preVote: r.pick([true, true, false]),
    checkQuorum: r.pick([true, true, false]),
  };
}

/** Time units per nominal tick; a node's tick period is skewed around it. */
const TICK = 10;

interface Envelope {
  m: Message;
  from: NodeId;
  to: NodeId;
}

interface SimNode {
  id: NodeId;
  disk: MemoryRaftStorage;
  raft: RaftNode | null;
  join: boolean;
  /** The state machine: last applied index and the hash chain of applied entries. */
  smApplied: number;
  smHash: number;
  /** The outstanding Ready and where it is: 1 = to persist, 2 = persisted, to send/apply/advance. */
  rd: Ready | null;
  rdStage: 0 | 1 | 2;
  /** The term before rd.entries[0] in the node's log when ready() was called. */
  rdPrevTerm: number;
  rdAt: number;
  tickPeriod: number;
  tickPhase: number;
  /** Highest commit index checked in this incarnation. */
  seenCommit: number;
  /** Leader Completeness: the term this node was last checked as leader in, and up to which index. */
  lcTerm: number;
  lcUpTo: number;
  downUntil: number;
}

function entryKey(e: LogEntry): string {
  return `${e.term}|${e.type}|${e.data}`;
}

function chain(h: number, key: string): number {
  let x = h ^ 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    x ^= key.charCodeAt(i);
    x = Math.imul(x, 0x01000193);
  }
  return x >>> 0;
}

interface LogRecord {
  key: string;
  prevTerm: number;
}

export class RaftSim {
  readonly seed: number;
  private readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly k: Knobs;
  private readonly ids: NodeId[];
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly initialMembers: NodeId[];
  private readonly opts: SimOptions;
  private now = 0;
  private steps = 0;
  private faults = true;
  private readonly queue = new Map<number, Envelope[]>();
  private queued = 0;
  /** blocked.has(`${from}>${to}`): the link drops everything. */
  private readonly blocked = new Set<string>();
  private proposals = 0;
  private readonly traceBuf: string[] = [];

  // Global knowledge for the checkers.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly logRecords: Array<Map<number, LogRecord> | undefined> = [];
  private readonly committedKey: Array<string | undefined> = [];
  private readonly commitTerm: number[] = [];
  private globalCommit = 0;
  private readonly appliedKey: Array<string | undefined> = [];
  private readonly appliedHash: number[] = [0];

  readonly stats: SimStats;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.seed = opts.seed;
    this.rng = new Rng(opts.seed);
    this.netRng = this.rng.fork();
    this.k = drawKnobs(this.rng);
    const universe = opts.nodes + 1;
    this.ids = Array.from({ length: universe }, (_, i) => `n${i + 1}`);
    this.initialMembers = this.ids.slice(0, opts.nodes);
    this.stats = {
      seed: opts.seed, steps: 0, time: 0, leaders: 0, maxTerm: 0, committed: 0, crashes: 0,
      crashesBetweenPersistAndAdvance: 0, tornWrites: 0, partitions: 0, snapshotsInstalled: 0, compactions: 0,
      membershipCommitted: 0, dropped: 0, duplicated: 0, livenessTicks: 0, livenessElectionTimeouts: 0, electionTicks: 0,
    };
    for (const id of this.ids) {
      const node: SimNode = {
        id, disk: new MemoryRaftStorage(), raft: null, join: !this.initialMembers.includes(id),
        smApplied: 0, smHash: 0, rd: null, rdStage: 0, rdAt: 0, rdPrevTerm: 0,
        tickPeriod: this.rng.range(5, 20), tickPhase: this.rng.int(TICK),
        seenCommit: 0, lcTerm: -1, lcUpTo: 0, downUntil: 0,
      };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  // ------------------------------------------------------------ running

  /** Runs the fault phase, then heals everything and checks liveness. Throws SimViolation. */
  run(): SimStats {
    try {
      while (this.steps < this.opts.steps) this.advanceTime();
      this.heal();
      this.checkLiveness();
    } catch (err) {
      throw this.wrap(err);
    }
    this.stats.steps = this.steps;
    this.stats.time = this.now;
    this.stats.committed = this.globalCommit;
    return this.stats;
  }

  private wrap(err: unknown): Error {
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const replay = `replay: SONIC_RAFT_SEED=${this.seed} SONIC_RAFT_NODES=${this.opts.nodes} SONIC_RAFT_STEPS=${this.opts.steps} npx vitest run packages/controller/src/raft/sim.test.ts`;
    const trace = this.opts.trace ? `\nlast events:\n  ${this.traceBuf.join('\n  ')}` : '';
    const e = new SimViolation(`raft sim seed ${this.seed} (nodes=${this.opts.nodes}, steps=${this.opts.steps}) at step ${this.steps}, time ${this.now}: ${msg}\n${replay}${trace}`);
    if (err instanceof Error && err.stack) e.stack = `${e.message}\ncaused by ${err.stack}`;
    return e;
  }

  private trace(s: string): void {
    if (!this.opts.trace) return;
    this.traceBuf.push(`t=${this.now} #${this.steps} ${s}`);
    if (this.traceBuf.length > 120) this.traceBuf.shift();
  }

  private advanceTime(): void {
    this.now++;
    const r = this.rng;
    const k = this.k;
    if (this.faults) {
      if (r.chance(k.partitionRate)) this.partition();
      if (this.blocked.size > 0 && r.chance(k.healRate)) this.healNetwork();
      if (r.chance(k.oneWayRate)) this.blockOneWay();
      if (r.chance(k.crashRate)) this.crashRandom();
      if (r.chance(k.leaderCrashRate)) this.crashLeader();
      if (r.chance(k.isolateLeaderRate)) this.isolateLeader();
      if (r.chance(k.membershipRate)) this.changeMembership();
      if (r.chance(k.driftRate)) {
        const n = this.nodes.get(r.pick(this.ids))!;
        n.tickPeriod = r.range(5, 20);
        this.trace(`${n.id} tick period ${n.tickPeriod}`);
      }
    }
    for (const n of this.nodes.values()) {
      if (!n.raft && this.now >= n.downUntil && (!this.faults || r.chance(k.restartRate))) this.restart(n);
    }
    // Messages due now, in random order.
    const due = this.queue.get(this.now);
    if (due) {
      this.queue.delete(this.now);
      for (let i = due.length - 1; i > 0; i--) {
        const j = this.netRng.int(i + 1);
        const t = due[i]!;
        due[i] = due[j]!;
        due[j] = t;
      }
      for (const env of due) {
        this.queued--;
        this.deliver(env);
      }
    }
    for (const n of this.nodes.values()) {
      if (n.raft && (this.now + n.tickPhase) % n.tickPeriod === 0) {
        n.raft.tick();
        this.step(n, 'tick');
      }
    }
    for (const n of this.nodes.values()) this.processReady(n);
    if (this.faults && r.chance(k.proposeRate)) {
      this.propose();
      if (r.chance(k.proposeRate)) this.propose();
    }
    if (r.chance(k.compactRate)) this.compactRandom();
  }

  private step(n: SimNode, what: string): void {
    this.steps++;
    if (this.opts.trace) {
      const st = n.raft?.status();
      this.trace(`${n.id} ${what}${st ? ` -> ${st.role} t${st.term} c${st.commitIndex} l${st.lastIndex} [${st.members.join(',')}]` : ''}`);
    }
    this.checkNode(n);
  }

  // ------------------------------------------------------------ nodes

  private start(n: SimNode): void {
    const state = n.disk.state();
    const nodeRng = this.rng.fork();
    n.raft = new RaftNode(
      {
        id: n.id,
        members: this.initialMembers,
        join: n.join,
        electionTicks: this.k.electionTicks,
        heartbeatTicks: this.k.heartbeatTicks,
        rng: () => nodeRng.next(),
        maxEntriesPerMessage: this.k.maxEntriesPerMessage,
        maxInflight: this.k.maxInflight,
        preVote: this.k.preVote,
        checkQuorum: this.k.checkQuorum,
      },
      state,
    );
    // The state machine restarts from the durable snapshot.
    if (state.snapshot) this.loadSnapshot(n, state.snapshot.data, state.snapshot.index);
    else {
      n.smApplied = 0;
      n.smHash = 0;
    }
    n.rd = null;
    n.rdStage = 0;
    n.seenCommit = n.raft.status().commitIndex;
    n.lcTerm = -1;
    n.lcUpTo = 0;
    // The durable log satisfies Log Matching too (what a crash leaves behind is what counts).
    if (state.entries.length > 0) this.checkLogMatching(n, state.entries, n.disk.termAt(state.entries[0]!.index - 1));
    // Committed entries in the durable log must be the committed ones.
    for (const e of state.entries) {
      if (e.index > state.hardState.commit) break;
      const want = this.committedKey[e.index];
      if (want !== undefined && want !== entryKey(e)) this.fail(`${n.id} restarted with ${e.index} = ${entryKey(e)} but ${want} was committed`);
    }
  }

  private restart(n: SimNode): void {
    this.start(n);
    this.step(n, 'restart');
  }

  private crash(n: SimNode, why: string): void {
    n.raft = null;
    n.rd = null;
    n.rdStage = 0;
    n.downUntil = this.now + this.rng.range(1, this.k.maxDowntime);
    this.stats.crashes++;
    this.step(n, `crash (${why})`);
  }

  private crashRandom(): void {
    const up = [...this.nodes.values()].filter((x) => x.raft);
    if (up.length === 0) return;
    const n = this.rng.pick(up);
    if (n.rdStage === 2) this.stats.crashesBetweenPersistAndAdvance++;
    this.crash(n, n.rdStage === 2 ? 'persisted, not advanced' : 'random');
  }

  private crashLeader(): void {
    const ls = this.leaders();
    if (ls.length > 0) this.crash(this.rng.pick(ls), 'leader');
  }

  /** Cuts the leader off from everyone (both ways), keeping the other links as they are. */
  private isolateLeader(): void {
    const ls = this.leaders();
    if (ls.length === 0) return;
    const l = this.rng.pick(ls);
    for (const id of this.ids) {
      if (id === l.id) continue;
      this.blocked.add(`${l.id}>${id}`);
      this.blocked.add(`${id}>${l.id}`);
    }
    this.stats.partitions++;
    this.trace(`isolate leader ${l.id}`);
  }

  private processReady(n: SimNode): void {
    for (let round = 0; round < 3 && n.raft; round++) {
      const raft: RaftNode = n.raft;
      if (n.rdStage === 0) {
        const rd = raft.ready();
        if (!rd) return;
        n.rd = rd;
        n.rdStage = 1;
        n.rdAt = this.now + (this.faults ? this.rng.range(0, this.k.maxFsyncDelay) : 0);
        this.recordEntries(n, rd);
        this.step(n, `ready (${rd.entries.length} entries, ${rd.messages.length} msgs, ${rd.committed.length} committed${rd.snapshot ? `, snapshot ${rd.snapshot.index}` : ''}${rd.compaction ? `, compaction ${rd.compaction.index}` : ''}${rd.hardState ? `, hs t${rd.hardState.term} v${rd.hardState.votedFor} c${rd.hardState.commit}` : ''})`);
      } else if (n.rdStage === 1) {
        if (this.now < n.rdAt) return;
        const rd = n.rd!;
        if (this.faults && this.rng.chance(this.k.tornPersistRate)) {
          this.tornPersist(n, rd);
          return;
        }
        n.disk.save(rd);
        const first = rd.entries[0];
        if (first && n.disk.termAt(first.index - 1) !== n.rdPrevTerm) {
          this.fail(`${n.id}: on disk, entry ${first.index} follows term ${n.disk.termAt(first.index - 1)}, in memory term ${n.rdPrevTerm}`);
        }
        n.rdStage = 2;
        n.rdAt = this.now + (this.faults ? this.rng.range(0, 1) : 0);
        this.step(n, 'persisted');
        if (this.faults && this.rng.chance(this.k.crashAfterPersistRate)) {
          this.stats.crashesBetweenPersistAndAdvance++;
          this.crash(n, 'after persist, before advance');
          return;
        }
      } else {
        if (this.now < n.rdAt) return;
        const rd = n.rd!;
        for (const m of rd.messages) {
          this.checkDurableBeforeSend(n, m);
          this.send(m);
        }
        if (rd.snapshot) {
          this.loadSnapshot(n, rd.snapshot.data, rd.snapshot.index);
          this.stats.snapshotsInstalled++;
        }
        for (const e of rd.committed) this.apply(n, e);
        raft.advance(rd);
        n.rd = null;
        n.rdStage = 0;
        this.step(n, 'advance');
      }
    }
  }

  /**
   * A crash in the middle of persisting: storage writes the compaction, the snapshot, the
   * entries (in order, so a torn tail loses the last ones) and the hard state last, and the
   * crash keeps only a prefix of that.
   */
  private tornPersist(n: SimNode, rd: Ready): void {
    const units = (rd.compaction ? 1 : 0) + (rd.snapshot ? 1 : 0) + rd.entries.length + (rd.hardState ? 1 : 0);
    let k = this.rng.int(units + 1);
    const part: Ready = { hardState: null, entries: [], snapshot: null, compaction: null, messages: [], committed: [] };
    if (rd.compaction && k > 0) {
      part.compaction = rd.compaction;
      k--;
    }
    if (rd.snapshot && k > 0) {
      part.snapshot = rd.snapshot;
      k--;
    }
    const ne = Math.min(k, rd.entries.length);
    part.entries = rd.entries.slice(0, ne);
    k -= ne;
    if (rd.hardState && k > 0) part.hardState = rd.hardState;
    n.disk.save(part);
    this.stats.tornWrites++;
    this.crash(n, `torn persist: ${part.compaction ? 'compaction, ' : ''}${part.snapshot ? 'snapshot, ' : ''}${ne}/${rd.entries.length} entries${part.hardState ? ', hard state' : ''}`);
  }

  private loadSnapshot(n: SimNode, data: string, index: number): void {
    const parsed = JSON.parse(data) as { i: number; h: number };
    if (parsed.i !== index) this.fail(`${n.id}: snapshot at ${index} holds state at ${parsed.i}`);
    const want = this.appliedHash[index];
    if (want !== undefined && want !== parsed.h) this.fail(`${n.id}: snapshot at ${index} has state ${parsed.h}, others applied ${want}`);
    n.smApplied = index;
    n.smHash = parsed.h;
  }

  private apply(n: SimNode, e: LogEntry): void {
    if (e.index !== n.smApplied + 1) this.fail(`${n.id} applied ${e.index} after ${n.smApplied} (State Machine Safety: in order, no gaps)`);
    const key = entryKey(e);
    const want = this.appliedKey[e.index];
    if (want === undefined) this.appliedKey[e.index] = key;
    else if (want !== key) this.fail(`State Machine Safety: ${n.id} applied ${key} at ${e.index}, another node applied ${want}`);
    n.smHash = chain(n.smHash, key);
    n.smApplied = e.index;
    const h = this.appliedHash[e.index];
    if (h === undefined) this.appliedHash[e.index] = n.smHash;
    else if (h !== n.smHash) this.fail(`State Machine Safety: ${n.id}'s state after ${e.index} differs from another node's`);
    if (e.type === 'membership') this.stats.membershipCommitted++;
  }

  // ------------------------------------------------------------ network

  private send(m: Message): void {
    const k = this.k;
    const r = this.netRng;
    if (this.faults && r.chance(k.dropRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.faults && r.chance(k.dupRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      let delay = r.range(1, this.faults ? k.maxDelay : 3);
      if (this.faults && r.chance(k.longDelayRate)) delay += r.range(50, 400);
      const at = this.now + delay;
      let bucket = this.queue.get(at);
      if (!bucket) this.queue.set(at, (bucket = []));
      bucket.push({ m, from: m.from, to: m.to });
      this.queued++;
    }
  }

  private deliver(env: Envelope): void {
    if (this.blocked.has(`${env.from}>${env.to}`)) {
      this.stats.dropped++;
      return;
    }
    const n = this.nodes.get(env.to);
    if (!n?.raft) return;
    n.raft.step(env.m);
    this.step(n, `<- ${env.m.type} from ${env.from} t${env.m.term}`);
  }

  private partition(): void {
    this.blocked.clear();
    const side = new Map<NodeId, number>();
    const groups = this.rng.range(2, 3);
    for (const id of this.ids) side.set(id, this.rng.int(groups));
    for (const a of this.ids) for (const b of this.ids) if (side.get(a) !== side.get(b)) this.blocked.add(`${a}>${b}`);
    this.stats.partitions++;
    this.trace(`partition ${this.ids.map((id) => `${id}:${side.get(id)}`).join(' ')}`);
  }

  private blockOneWay(): void {
    const a = this.rng.pick(this.ids);
    const b = this.rng.pick(this.ids);
    if (a === b) return;
    this.blocked.add(`${a}>${b}`);
    this.trace(`block ${a}>${b}`);
  }

  private healNetwork(): void {
    this.blocked.clear();
    this.trace('heal');
  }

  // ------------------------------------------------------------ clients and admin

  private leaders(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.raft && n.raft.status().role === 'leader') out.push(n);
    return out;
  }

  private propose(): void {
    const ls = this.leaders();
    const target = ls.length > 0 && !this.rng.chance(0.1) ? this.rng.pick(ls) : this.nodes.get(this.rng.pick(this.ids))!;
    if (!target.raft) return;
    const data = `c${++this.proposals}`;
    const ok = target.raft.propose(data);
    this.step(target, `propose ${data} ${ok ? 'accepted' : 'refused'}`);
  }

  private changeMembership(): void {
    const ls = this.leaders();
    if (ls.length === 0) return;
    const l = this.rng.pick(ls);
    const members = l.raft!.status().members;
    const outside = this.ids.filter((id) => !members.includes(id));
    const add = outside.length > 0 && (members.length <= 2 || this.rng.chance(0.5));
    const change = add ? { op: 'add' as const, node: this.rng.pick(outside) } : { op: 'remove' as const, node: this.rng.pick(members) };
    const ok = l.raft!.proposeMembership(change);
    this.step(l, `membership ${change.op} ${change.node} ${ok ? 'accepted' : 'refused'}`);
  }

  private compactRandom(): void {
    const n = this.nodes.get(this.rng.pick(this.ids))!;
    if (!n.raft) return;
    const raft = n.raft;
    if (raft.appliedIndex() !== n.smApplied) this.fail(`${n.id}: raft applied ${raft.appliedIndex()} but the state machine ${n.smApplied}`);
    if (n.smApplied <= (raft.snapshot()?.index ?? 0)) return;
    raft.compact(n.smApplied, JSON.stringify({ i: n.smApplied, h: n.smHash }));
    this.stats.compactions++;
    this.step(n, `compact ${n.smApplied}`);
  }

  // ------------------------------------------------------------ liveness

  private heal(): void {
    this.faults = false;
    this.blocked.clear();
    for (const n of this.nodes.values()) {
      n.downUntil = 0;
      if (!n.raft) this.restart(n);
    }
    this.trace('--- faults stop: network healed, every node up ---');
  }

  /**
   * After healing: a leader is elected within 20 election timeouts of the slowest clock (after
   * the messages still in flight have landed), a new proposal commits within that plus one
   * nominal tick per log entry a follower may have to catch up on (followers with a backlog and
   * one entry per message take that long), and every member then catches up.
   */
  private checkLiveness(): void {
    const start = this.now;
    const drain = this.k.maxDelay + 450;
    const electionBound = start + drain + 20 * 2 * this.k.electionTicks * 20;
    let backlog = 0;
    for (const n of this.nodes.values()) backlog = Math.max(backlog, n.raft!.lastIndex());
    const bound = electionBound + (backlog + 10) * TICK;
    const marker = `final-${this.seed}`;
    let proposedAt: { node: SimNode; index: number; term: number } | null = null;
    let elected = -1;
    while (this.now < bound) {
      this.advanceTime();
      if (proposedAt) {
        const raft = proposedAt.node.raft!;
        const st = raft.status();
        if (st.term !== proposedAt.term || st.role !== 'leader') {
          proposedAt = null; // leadership changed before it committed: propose again
        } else if (proposedAt.node.smApplied >= proposedAt.index) {
          break;
        }
      }
      if (!proposedAt) {
        for (const l of this.leaders()) {
          const raft = l.raft!;
          if (!raft.status().members.includes(l.id)) continue;
          if (elected < 0) elected = this.now;
          if (this.now % TICK === 0 && raft.propose(marker)) {
            const st = raft.status();
            proposedAt = { node: l, index: st.lastIndex, term: st.term };
            this.step(l, `propose ${marker}`);
            break;
          }
        }
      }
      if (elected < 0 && this.now >= electionBound) {
        this.fail(`liveness: no leader within ${electionBound - start} time units after healing; ${this.describe()}`);
      }
    }
    if (!proposedAt || proposedAt.node.smApplied < proposedAt.index) {
      this.fail(`liveness: no proposal committed within ${bound - start} time units (${Math.round((bound - start) / TICK)} ticks) after healing; ${this.describe()}`);
    }
    this.stats.livenessElectionTimeouts = (elected - start) / (this.k.electionTicks * TICK);
    const ticks = Math.ceil((this.now - start) / TICK);
    this.stats.livenessTicks = ticks;
    this.stats.electionTicks = this.k.electionTicks;
    const key = this.appliedKey[proposedAt.index];
    if (key === undefined || !key.endsWith(`|command|${marker}`)) this.fail(`liveness: index ${proposedAt.index} holds ${key}, not the proposal`);
    // Every member of the final configuration catches up with everything committed.
    const members = proposedAt.node.raft!.status().members;
    const target = proposedAt.index;
    const bound2 = this.now + 40 * this.k.electionTicks * 20 + 1500;
    while (this.now < bound2 && members.some((id) => this.nodes.get(id)!.smApplied < target)) this.advanceTime();
    for (const id of members) {
      const n = this.nodes.get(id)!;
      if (n.smApplied < target) this.fail(`liveness: member ${id} applied only up to ${n.smApplied} of ${target}; ${this.describe()}`);
      if (n.smHash !== this.appliedHash[n.smApplied]) this.fail(`${id}: final state differs`);
    }
  }

  private describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        if (!n.raft) return `${n.id}: down`;
        const s = n.raft.status();
        return `${n.id}: ${s.role} t${s.term} lead=${s.leader} c${s.commitIndex} l${s.lastIndex} applied=${n.smApplied} [${s.members.join(',')}]`;
      })
      .join('; ');
  }

  // ------------------------------------------------------------ invariant checkers

  private fail(msg: string): never {
    throw new SimViolation(msg);
  }

  /**
   * What a message claims must already be on the sender's disk: its term, its vote (or a later
   * term, which supersedes it), the entries it acknowledges or sends.
   */
  private checkDurableBeforeSend(n: SimNode, m: Message): void {
    const hs = n.disk.hardStateView();
    const future = (m.type === 'vote' && m.preVote) || (m.type === 'voteResponse' && m.preVote && m.granted);
    if (!future && m.term > hs.term) this.fail(`${n.id} sends ${m.type} at term ${m.term} with term ${hs.term} on disk`);
    const covered = (i: number): boolean => i <= n.disk.snapshotIndex() || n.disk.termAt(i) !== undefined;
    switch (m.type) {
      case 'voteResponse':
        if (m.granted && !m.preVote && hs.term === m.term && hs.votedFor !== m.to) {
          this.fail(`${n.id} grants its vote in term ${m.term} to ${m.to} with vote ${hs.votedFor} in term ${hs.term} on disk`);
        }
        break;
      case 'vote':
        if (!m.preVote && hs.term === m.term && hs.votedFor !== n.id) this.fail(`${n.id} campaigns in term ${m.term} without its own vote on disk`);
        break;
      case 'appendResponse':
      case 'snapshotResponse': {
        if (m.type === 'appendResponse' && !m.success) break;
        if (!covered(m.matchIndex)) this.fail(`${n.id} acknowledges ${m.matchIndex} that is not on its disk (last ${n.disk.lastIndex()})`);
        const t = n.disk.termAt(m.matchIndex);
        const leader = this.nodes.get(m.to)?.raft;
        const lt = leader && leader.status().term === m.term ? leader.termAt(m.matchIndex) : undefined;
        if (t !== undefined && lt !== undefined && t !== lt) {
          this.fail(`${n.id} acknowledges ${m.matchIndex} with term ${t} on disk, the leader ${m.to} holds term ${lt} there`);
        }
        break;
      }
      case 'append': {
        const last = m.entries[m.entries.length - 1];
        if (last && last.index > n.disk.snapshotIndex() && n.disk.termAt(last.index) !== last.term) this.fail(`${n.id} sends entry ${last.index} before persisting it`);
        break;
      }
    }
  }

  /** Log Matching, checked on every entry a node hands to storage: one (index, term) has one content and one predecessor term. */
  private recordEntries(n: SimNode, rd: Ready): void {
    const raft = n.raft!;
    let prevTerm = rd.entries.length > 0 ? raft.termAt(rd.entries[0]!.index - 1) : 0;
    n.rdPrevTerm = prevTerm ?? -1;
    this.checkLogMatching(n, rd.entries, prevTerm);
  }

  private checkLogMatching(n: SimNode, entries: LogEntry[], prevTerm: number | undefined): void {
    for (const e of entries) {
      if (prevTerm === undefined) this.fail(`${n.id}: no term before ${e.index}`);
      if (e.term < prevTerm) this.fail(`${n.id}: term goes down at ${e.index} (${prevTerm} -> ${e.term})`);
      let byTerm = this.logRecords[e.index];
      if (!byTerm) this.logRecords[e.index] = byTerm = new Map();
      const key = entryKey(e);
      const rec = byTerm.get(e.term);
      if (!rec) byTerm.set(e.term, { key, prevTerm });
      else if (rec.key !== key || rec.prevTerm !== prevTerm) {
        this.fail(`Log Matching: ${n.id} holds (${e.index}, t${e.term}) = ${key} after t${prevTerm}, another log holds ${rec.key} after t${rec.prevTerm}`);
      }
      prevTerm = e.term;
    }
  }

  private checkNode(n: SimNode): void {
    const raft = n.raft;
    if (!raft) return;
    const st = raft.status();
    if (st.term > this.stats.maxTerm) this.stats.maxTerm = st.term;
    // Election Safety: at most one leader per term.
    if (st.role === 'leader') {
      const other = this.leaderOfTerm.get(st.term);
      if (other === undefined) {
        this.leaderOfTerm.set(st.term, n.id);
        this.stats.leaders++;
      } else if (other !== n.id) {
        this.fail(`Election Safety: ${other} and ${n.id} both leaders in term ${st.term}`);
      }
    }
    // Commit indexes only grow, and a committed index holds one entry for ever.
    if (st.commitIndex < n.seenCommit) this.fail(`${n.id}: commit index went back from ${n.seenCommit} to ${st.commitIndex}`);
    let grew = false;
    for (let i = n.seenCommit + 1; i <= st.commitIndex; i++) {
      const e = raft.entryAt(i);
      if (e) {
        const key = entryKey(e);
        const want = this.committedKey[i];
        if (want === undefined) this.committedKey[i] = key;
        else if (want !== key) this.fail(`committed entry changed: ${n.id} has ${key} at ${i}, ${want} was committed`);
      }
      if (this.commitTerm[i] === undefined) this.commitTerm[i] = st.term;
      if (i > this.globalCommit) {
        this.globalCommit = i;
        grew = true;
      }
    }
    n.seenCommit = st.commitIndex;
    if (grew) {
      for (const x of this.nodes.values()) this.checkLeaderCompleteness(x);
    } else {
      this.checkLeaderCompleteness(n);
    }
  }

  /** Leader Completeness: a leader holds every entry committed in an earlier term. */
  private checkLeaderCompleteness(n: SimNode): void {
    const raft = n.raft;
    if (!raft || raft.status().role !== 'leader') return;
    const term = raft.status().term;
    if (n.lcTerm !== term) {
      n.lcTerm = term;
      n.lcUpTo = 0;
    }
    const snapIndex = raft.firstIndex() - 1;
    for (let i = Math.max(n.lcUpTo + 1, snapIndex + 1); i <= this.globalCommit; i++) {
      if (this.commitTerm[i]! >= term) continue;
      const want = this.committedKey[i];
      const e = raft.entryAt(i);
      if (!e) this.fail(`Leader Completeness: ${n.id}, leader of term ${term}, lacks committed entry ${i} (${want})`);
      if (want !== undefined && entryKey(e) !== want) this.fail(`Leader Completeness: ${n.id}, leader of term ${term}, holds ${entryKey(e)} at ${i}, ${want} was committed`);
    }
    n.lcUpTo = Math.max(n.lcUpTo, this.globalCommit);
  }
}

/** Runs one seed; throws a SimViolation whose message names the seed and how to replay it (with a trace). */
export function runSeed(seed: number, nodes: number, steps: number): SimStats {
  try {
    return new RaftSim({ seed, nodes, steps }).run();
  } catch (err) {
    // Deterministic: run it again with the trace on for the message.
    try {
      new RaftSim({ seed, nodes, steps, trace: true }).run();
    } catch (traced) {
      throw traced;
    }
    throw err;
  }
}

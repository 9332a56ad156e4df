/**
 * Targeted scenarios for RaftNode, named after the claims they check. The simulator
 * (sim.test.ts) checks the same properties over thousands of random runs.
 */
import { describe, expect, it } from 'vitest';
import { RaftNode } from './raft.js';
import { MemoryRaftStorage, emptyStorageState } from './memory-storage.js';
import { Rng } from './sim.js';
import type { LogEntry, Message, RaftConfig, RaftStorageState } from './types.js';

interface TNode {
  raft: RaftNode;
  disk: MemoryRaftStorage;
  applied: LogEntry[];
  up: boolean;
}

/** A tiny synchronous network: no delays; `drop` filters messages; nodes can be cut off. */
class Net {
  readonly nodes = new Map<string, TNode>();
  drop: (m: Message) => boolean = () => false;
  /** Rewrites a message in flight (after `drop`). */
  mangle: (m: Message) => Message = (m) => m;
  readonly cut = new Set<string>();
  readonly delivered: Message[] = [];
  private readonly rng = new Rng(42);
  private queue: Message[] = [];

  constructor(
    ids: string[],
    private readonly base: Partial<RaftConfig> = {},
    states: Record<string, RaftStorageState> = {},
  ) {
    for (const id of ids) this.add(id, states[id] ?? emptyStorageState(), ids);
  }

  add(id: string, state: RaftStorageState, members: string[], extra: Partial<RaftConfig> = {}): TNode {
    const r = this.rng.fork();
    const disk = new MemoryRaftStorage(state);
    const raft = new RaftNode({ id, members, electionTicks: 10, heartbeatTicks: 2, rng: () => r.next(), ...this.base, ...extra }, disk.state());
    const n: TNode = { raft, disk, applied: [], up: true };
    this.nodes.set(id, n);
    return n;
  }

  get(id: string): RaftNode {
    return this.nodes.get(id)!.raft;
  }

  /** Restarts a node from what it persisted. */
  restart(id: string, members: string[], extra: Partial<RaftConfig> = {}): void {
    const old = this.nodes.get(id)!;
    const n = this.add(id, old.disk.state(), members, extra);
    n.applied = [];
  }

  private flushReady(): boolean {
    let any = false;
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      const rd = n.raft.ready();
      if (!rd) continue;
      any = true;
      n.disk.save(rd);
      this.queue.push(...rd.messages);
      n.applied.push(...rd.committed);
      n.raft.advance(rd);
    }
    return any;
  }

  /** Persist, send and deliver until nothing moves. */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      const moved = this.flushReady();
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        const to = this.nodes.get(m.to);
        if (!to?.up || this.cut.has(m.to) || this.cut.has(m.from) || this.drop(m)) continue;
        const x = this.mangle(m);
        this.delivered.push(x);
        to.raft.step(x);
      }
      if (!moved && q.length === 0) return;
    }
    throw new Error('network did not settle');
  }

  tick(ids: string[] = [...this.nodes.keys()], times = 1): void {
    for (let t = 0; t < times; t++) {
      for (const id of ids) {
        const n = this.nodes.get(id)!;
        if (n.up) n.raft.tick();
      }
      this.settle();
    }
  }

  leaders(): string[] {
    return [...this.nodes.entries()].filter(([, n]) => n.up && n.raft.status().role === 'leader').map(([id]) => id);
  }

  /** Ticks everyone until exactly one leader exists. */
  elect(ids?: string[]): string {
    for (let t = 0; t < 500; t++) {
      const ls = this.leaders();
      if (ls.length === 1) return ls[0]!;
      this.tick(ids);
    }
    throw new Error(`no single leader: ${this.leaders().join(',')}`);
  }
}

function log(...terms: number[]): LogEntry[] {
  return terms.map((term, i) => ({ index: i + 1, term, type: 'command' as const, data: `i${i + 1}t${term}` }));
}

function stateWith(term: number, entries: LogEntry[], commit = 0): RaftStorageState {
  return { hardState: { term, votedFor: null, commit }, snapshot: null, entries };
}

describe('RaftNode', () => {
  it('Election Safety: three nodes elect one leader, whose noop commits everywhere', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    net.tick(undefined, 5);
    expect(net.leaders()).toEqual([leader]);
    const term = net.get(leader).status().term;
    for (const n of net.nodes.values()) {
      expect(n.raft.status()).toMatchObject({ term, leader, commitIndex: 1 });
      expect(n.applied.map((e) => e.type)).toEqual(['noop']);
    }
  });

  it('replicates proposals in order; followers refuse proposals', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    const follower = ['a', 'b', 'c'].find((x) => x !== leader)!;
    expect(net.get(follower).propose('x')).toBe(false);
    for (let i = 0; i < 10; i++) expect(net.get(leader).propose(`c${i}`)).toBe(true);
    net.tick(undefined, 3);
    for (const n of net.nodes.values()) {
      expect(n.applied.filter((e) => e.type === 'command').map((e) => e.data)).toEqual(Array.from({ length: 10 }, (_, i) => `c${i}`));
    }
  });

  it('figure 8: a leader does not commit an entry of an earlier term by counting replicas', () => {
    // s1 (term 2's leader) holds (2,t2) with s2; s5 (term 3's leader) holds (2,t3) alone.
    const states = {
      s1: stateWith(3, log(1, 2), 1),
      s2: stateWith(3, log(1, 2), 1),
      s3: stateWith(3, log(1), 1),
      s4: stateWith(3, log(1), 1),
      s5: stateWith(3, log(1, 3), 1),
    };
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    // Without check quorum, so that s5 may campaign right after s1 goes (no leader lease).
    const net = new Net(ids, { maxEntriesPerMessage: 1, checkQuorum: false }, states);
    net.cut.add('s5');
    // s1 wins term 4 and appends its noop (3,t4): (3,t4) reaches nobody, (2,t2) reaches s3.
    net.drop = (m) => m.type === 'append' && m.to === 's4';
    net.mangle = (m) => (m.type === 'append' ? { ...m, entries: m.entries.filter((e) => e.index < 3) } : m);
    net.elect(['s1']);
    expect(net.get('s1').status().term).toBe(4);
    net.tick(['s1'], 4);
    expect(net.get('s3').termAt(2)).toBe(2); // s1, s2, s3: a majority holds (2,t2)
    expect(net.get('s1').status().commitIndex).toBe(1); // ... and it is not committed
    // Indeed s5 can still win term 5 with s2, s3, s4 and replace it (figure 8 (d)).
    net.nodes.get('s1')!.up = false;
    net.cut.delete('s5');
    net.drop = () => false;
    net.mangle = (m) => m;
    const l = net.elect(['s5']);
    expect(l).toBe('s5');
    net.tick(['s5'], 4);
    for (const id of ['s2', 's3', 's4']) expect(net.get(id).termAt(2)).toBe(3);
  });

  it('figure 8 (e): once an entry of its own term is on a majority, the leader commits it and the earlier ones', () => {
    const states = {
      s1: stateWith(3, log(1, 2), 1),
      s2: stateWith(3, log(1, 2), 1),
      s3: stateWith(3, log(1), 1),
      s4: stateWith(3, log(1), 1),
      s5: stateWith(3, log(1, 3), 1),
    };
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const net = new Net(ids, { maxEntriesPerMessage: 1 }, states);
    net.cut.add('s5');
    net.drop = (m) => m.type === 'append' && m.to === 's4';
    net.elect(['s1']);
    net.tick(['s1'], 4);
    expect(net.get('s1').status().commitIndex).toBe(3);
    // s5 can no longer win: s1, s2, s3 hold (3,t4).
    net.nodes.get('s1')!.up = false;
    net.cut.delete('s5');
    net.drop = () => false;
    net.tick(['s5'], 100);
    expect(net.get('s5').status().role).not.toBe('leader');
    const l = net.elect(['s2', 's3', 's4', 's5']);
    expect(['s2', 's3']).toContain(l);
    expect(net.get(l).termAt(2)).toBe(2);
  });

  it('pre-vote: a partitioned follower does not raise its term, and does not disturb the leader when it returns', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    const term = net.get(leader).status().term;
    const lone = ['a', 'b', 'c'].find((x) => x !== leader)!;
    net.cut.add(lone);
    net.tick(undefined, 100);
    expect(net.get(lone).status().term).toBe(term);
    net.cut.delete(lone);
    net.tick(undefined, 10);
    expect(net.leaders()).toEqual([leader]);
    expect(net.get(leader).status().term).toBe(term);
    expect(net.get(lone).status()).toMatchObject({ leader, term });
  });

  it('check quorum: a leader cut off from the majority steps down within two election timeouts', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    net.cut.add(leader);
    let ticks = 0;
    while (net.get(leader).status().role === 'leader' && ticks < 100) {
      net.tick([leader]);
      ticks++;
    }
    expect(net.get(leader).status().role).toBe('follower');
    expect(ticks).toBeLessThanOrEqual(20);
    expect(net.get(leader).propose('x')).toBe(false);
  });

  it('vote requests do not restart election timers: a candidate that cannot win does not keep the others from campaigning (found by the simulator)', () => {
    for (let seed = 0; seed < 20; seed++) {
      const r = new Rng(100 + seed);
      const n = new RaftNode({ id: 'a', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next(), preVote: false, checkQuorum: false }, stateWith(2, log(1, 2, 2), 1));
      for (let t = 0; t < 9; t++) n.tick();
      // b, with a shorter log, campaigns in a higher term: a refuses its vote ...
      n.step({ type: 'vote', from: 'b', to: 'a', term: 3, lastLogIndex: 1, lastLogTerm: 1, preVote: false });
      expect(n.status().term).toBe(3);
      // ... and still campaigns by its own timeout, at most 2 * electionTicks after it last heard from a leader.
      for (let t = 0; t < 11; t++) n.tick();
      expect(n.status()).toMatchObject({ role: 'candidate', term: 4 });
    }
  });

  it('a vote request of an earlier term is refused with the current term, which the candidate adopts (found by the simulator)', () => {
    const r = new Rng(7);
    const a = new RaftNode({ id: 'a', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next(), preVote: false }, stateWith(9, log(1), 1));
    a.step({ type: 'vote', from: 'c', to: 'a', term: 3, lastLogIndex: 5, lastLogTerm: 2, preVote: false });
    const rd = a.ready()!;
    expect(rd.messages).toEqual([{ type: 'voteResponse', from: 'a', to: 'c', term: 9, granted: false, preVote: false }]);
    const c = new RaftNode({ id: 'c', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next(), preVote: false }, stateWith(2, log(1), 1));
    while (c.status().role !== 'candidate') c.tick();
    c.step(rd.messages[0]!);
    expect(c.status()).toMatchObject({ role: 'follower', term: 9 });
  });

  it('a follower that heard from its leader ignores vote requests (leader lease)', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    const [f1, f2] = ['a', 'b', 'c'].filter((x) => x !== leader) as [string, string];
    const term = net.get(leader).status().term;
    const st = net.get(f1).status();
    net.get(f1).step({ type: 'vote', from: f2, to: f1, term: term + 5, lastLogIndex: st.lastIndex + 10, lastLogTerm: term + 4, preVote: false });
    expect(net.get(f1).status().term).toBe(term);
  });

  it('fast backtracking: a follower with a long divergent suffix converges in a few round trips', () => {
    const common = Array(5).fill(1) as number[];
    const states = {
      a: stateWith(3, log(...common, ...Array(60).fill(3)), 5),
      b: stateWith(3, log(...common, ...Array(60).fill(3)), 5),
      c: stateWith(3, log(...common, ...Array(80).fill(2)), 5),
    };
    const net = new Net(['a', 'b', 'c'], {}, states);
    net.cut.add('c');
    net.elect(['a']);
    net.cut.delete('c');
    net.delivered.length = 0;
    net.tick(['a'], 3);
    const rejections = net.delivered.filter((m) => m.type === 'appendResponse' && !m.success && m.from === 'c').length;
    expect(rejections).toBeLessThanOrEqual(3);
    expect(net.get('c').lastIndex()).toBe(net.get('a').lastIndex());
    expect(net.get('c').termAt(6)).toBe(3);
  });

  it('a rejection hinting below what the follower acknowledged re-probes from match + 1 (found by the simulator: followers stuck)', () => {
    const r = new Rng(3);
    const n = new RaftNode({ id: 'a', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next(), preVote: false }, stateWith(1, log(1, 1, 1, 1, 1, 1, 1, 1, 1, 1), 5));
    while (n.status().role !== 'candidate') n.tick();
    n.step({ type: 'voteResponse', from: 'b', to: 'a', term: 2, granted: true, preVote: false });
    expect(n.status().role).toBe('leader');
    const drain = (): Message[] => {
      const rd = n.ready();
      if (!rd) return [];
      n.advance(rd);
      return rd.messages;
    };
    drain();
    n.step({ type: 'appendResponse', from: 'c', to: 'a', term: 2, success: true, matchIndex: 11, hintIndex: 0 });
    drain();
    for (let i = 0; i < 5; i++) n.propose(`x${i}`); // sent optimistically
    drain();
    // c's log had a long run of an old term: its hint skips the whole run, below its match.
    n.step({ type: 'appendResponse', from: 'c', to: 'a', term: 2, success: false, matchIndex: 0, hintIndex: 5 });
    const probe = drain().filter((m) => m.type === 'append' && m.to === 'c');
    expect(probe.map((m) => (m.type === 'append' ? m.prevLogIndex : -1))).toEqual([11]);
  });

  it('messages of an earlier term not yet handed out are dropped when the term changes', () => {
    const r = new Rng(4);
    const n = new RaftNode({ id: 'a', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next() }, stateWith(1, log(1), 1));
    n.step({ type: 'append', from: 'b', to: 'a', term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 1, type: 'command', data: 'x' }], leaderCommit: 1 });
    const first = n.ready()!;
    expect(first.messages).toMatchObject([{ type: 'appendResponse', term: 1, success: true, matchIndex: 2 }]);
    // Between ready() and advance(): an ack at term 1, then term 2 cuts entry 2.
    n.step({ type: 'append', from: 'b', to: 'a', term: 1, prevLogIndex: 2, prevLogTerm: 1, entries: [], leaderCommit: 1 });
    n.step({ type: 'append', from: 'c', to: 'a', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 2, type: 'noop', data: '' }], leaderCommit: 1 });
    n.advance(first); // the first Ready's messages were sent with what it persisted
    const second = n.ready()!;
    expect(second.entries).toEqual([{ index: 2, term: 2, type: 'noop', data: '' }]);
    expect(second.messages).toEqual([{ type: 'appendResponse', from: 'a', to: 'c', term: 2, success: true, matchIndex: 2, hintIndex: 0 }]);
  });

  it('compaction and InstallSnapshot bring a lagging follower up to date', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    const lag = ['a', 'b', 'c'].find((x) => x !== leader)!;
    net.cut.add(lag);
    for (let i = 0; i < 20; i++) net.get(leader).propose(`c${i}`);
    net.tick([leader], 2);
    const l = net.get(leader);
    const applied = l.appliedIndex();
    expect(applied).toBe(l.lastIndex());
    l.compact(applied, 'STATE');
    net.settle();
    expect(net.nodes.get(leader)!.disk.state().snapshot?.index).toBe(applied);
    expect(net.nodes.get(leader)!.disk.state().entries).toEqual([]);
    expect(l.firstIndex()).toBe(applied + 1);
    net.cut.delete(lag);
    net.tick(undefined, 3);
    const lagNode = net.nodes.get(lag)!;
    expect(lagNode.disk.state().snapshot).toMatchObject({ index: applied, data: 'STATE', members: ['a', 'b', 'c'] });
    expect(lagNode.raft.status().commitIndex).toBe(applied);
    expect(net.delivered.some((m) => m.type === 'snapshot' && m.to === lag)).toBe(true);
    // It then follows with ordinary appends.
    l.propose('after');
    net.tick(undefined, 2);
    expect(lagNode.applied.at(-1)?.data).toBe('after');
  });

  it('membership: a joining node is added, one change at a time, and learns the configuration', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    net.add('d', emptyStorageState(), [], { join: true });
    const l = net.get(leader);
    expect(l.proposeMembership({ op: 'add', node: 'd' })).toBe(true);
    expect(l.status().members).toEqual(['a', 'b', 'c', 'd']); // in effect once appended
    expect(l.proposeMembership({ op: 'remove', node: 'c' })).toBe(false); // the first is not committed yet
    net.tick(undefined, 3);
    expect(net.get('d').status().members).toEqual(['a', 'b', 'c', 'd']);
    expect(net.get('d').status().commitIndex).toBe(l.status().commitIndex);
    expect(l.proposeMembership({ op: 'add', node: 'd' })).toBe(false); // nothing to change
    expect(l.proposeMembership({ op: 'remove', node: 'c' })).toBe(true);
    net.tick(undefined, 3);
    for (const id of ['a', 'b', 'd']) expect(net.get(id).status().members).toEqual(['a', 'b', 'd']);
  });

  it('membership: a removed leader steps down once its removal commits, and the rest elect a new one', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    const l = net.get(leader);
    expect(l.proposeMembership({ op: 'remove', node: leader })).toBe(true);
    expect(l.propose('x')).toBe(false); // no longer a member: no new commands
    net.settle();
    expect(l.status().role).toBe('follower');
    const rest = ['a', 'b', 'c'].filter((x) => x !== leader);
    const next = net.elect(rest);
    expect(rest).toContain(next);
    net.tick(undefined, 30);
    expect(net.leaders()).toEqual([next]);
    expect(l.status().role).toBe('follower'); // it never campaigns again
  });

  it('a new leader refuses a membership change until it has committed an entry of its term', () => {
    const net = new Net(['a', 'b', 'c']);
    net.drop = (m) => m.type === 'appendResponse';
    const leader = net.elect();
    expect(net.get(leader).status().commitIndex).toBe(0);
    expect(net.get(leader).proposeMembership({ op: 'remove', node: leader === 'a' ? 'b' : 'a' })).toBe(false);
    net.drop = () => false;
    net.tick(undefined, 3);
    expect(net.get(leader).proposeMembership({ op: 'remove', node: leader === 'a' ? 'b' : 'a' })).toBe(true);
  });

  it('a vote survives a restart: the node does not vote for another candidate in the same term', () => {
    const r = new Rng(1);
    const cfg = (): RaftConfig => ({ id: 'a', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next() });
    const disk = new MemoryRaftStorage();
    const n = new RaftNode(cfg(), disk.state());
    n.step({ type: 'vote', from: 'b', to: 'a', term: 1, lastLogIndex: 0, lastLogTerm: 0, preVote: false });
    const rd = n.ready()!;
    expect(rd.hardState).toEqual({ term: 1, votedFor: 'b', commit: 0 });
    expect(rd.messages).toEqual([{ type: 'voteResponse', from: 'a', to: 'b', term: 1, granted: true, preVote: false }]);
    disk.save(rd);
    const again = new RaftNode(cfg(), disk.state());
    again.step({ type: 'vote', from: 'c', to: 'a', term: 1, lastLogIndex: 5, lastLogTerm: 1, preVote: false });
    expect(again.ready()!.messages).toEqual([{ type: 'voteResponse', from: 'a', to: 'c', term: 1, granted: false, preVote: false }]);
  });

  it('a leader counts its own entry only once persisted; steps between ready() and advance() are kept for the next Ready', () => {
    const r = new Rng(2);
    const n = new RaftNode({ id: 'a', members: ['a'], electionTicks: 5, heartbeatTicks: 1, rng: () => r.next() }, emptyStorageState());
    for (let i = 0; i < 10 && n.status().role !== 'leader'; i++) n.tick();
    expect(n.status().role).toBe('leader');
    let rd = n.ready()!;
    expect(rd.entries.map((e) => e.type)).toEqual(['noop']);
    expect(rd.committed).toEqual([]);
    expect(n.propose('x')).toBe(true); // between ready() and advance()
    expect(() => n.ready()).toThrow();
    n.advance(rd);
    rd = n.ready()!;
    expect(rd.entries.map((e) => e.data)).toEqual(['x']);
    expect(rd.committed.map((e) => e.type)).toEqual(['noop']);
    expect(rd.hardState?.commit).toBe(1);
    n.advance(rd);
    rd = n.ready()!;
    expect(rd.committed.map((e) => e.data)).toEqual(['x']);
    n.advance(rd);
    expect(n.ready()).toBeNull();
  });

  it('after a crash that persisted entries but not the hard state, a node continues in the entries\' term without a vote', () => {
    const r = new Rng(5);
    const n = new RaftNode({ id: 'a', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next() }, {
      hardState: { term: 3, votedFor: 'b', commit: 1 },
      snapshot: null,
      entries: log(1, 5),
    });
    expect(n.status().term).toBe(5);
    expect(n.ready()?.hardState).toEqual({ term: 5, votedFor: null, commit: 1 });
  });

  it('membership entries without a member list apply their change to the configuration before them', () => {
    const r = new Rng(6);
    const entries: LogEntry[] = [
      { index: 1, term: 1, type: 'noop', data: '' },
      { index: 2, term: 1, type: 'membership', data: JSON.stringify({ op: 'add', node: 'd' }) },
      { index: 3, term: 1, type: 'membership', data: JSON.stringify({ op: 'remove', node: 'b' }) },
    ];
    const n = new RaftNode({ id: 'a', members: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2, rng: () => r.next() }, stateWith(1, entries, 3));
    expect(n.status().members).toEqual(['a', 'c', 'd']);
    const rd = n.ready()!;
    n.advance(rd);
    n.compact(2, 'S');
    expect(n.snapshot()?.members).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a restarted node keeps its log, term and commit index', () => {
    const net = new Net(['a', 'b', 'c']);
    const leader = net.elect();
    for (let i = 0; i < 5; i++) net.get(leader).propose(`c${i}`);
    net.tick(undefined, 3);
    const follower = ['a', 'b', 'c'].find((x) => x !== leader)!;
    const before = net.get(follower).status();
    net.restart(follower, ['a', 'b', 'c']);
    const after = net.get(follower).status();
    expect(after).toMatchObject({ term: before.term, lastIndex: before.lastIndex, commitIndex: before.commitIndex, role: 'follower' });
    // It applies the committed entries again from its (empty) snapshot.
    const rd = net.get(follower).ready()!;
    expect(rd.committed.map((e) => e.index)).toEqual(Array.from({ length: before.commitIndex }, (_, i) => i + 1));
  });
});

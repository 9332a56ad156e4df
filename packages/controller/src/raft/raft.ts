/**
 * Raft as a pure state machine (see types.ts for the contract and the driving loop).
 *
 * Design notes (Raft paper = "In Search of an Understandable Consensus Algorithm";
 * thesis = Ongaro's PhD thesis):
 * - Elections with randomised timeouts in [electionTicks, 2*electionTicks) from the
 *   injected rng, and pre-vote (thesis §9.6) on by default: a node only bumps its term
 *   once a majority says it could win.
 * - Check quorum (thesis §6.2): a leader that has not heard from a majority within an
 *   election timeout steps down; a follower that heard from a leader within the minimum
 *   election timeout ignores (pre-)vote requests (thesis §4.2.3, the disruptive-server fix).
 * - Replication per follower in three states, as etcd's raft does: probe (one append in
 *   flight until an answer), replicate (pipelined, bounded by `maxInflight`), snapshot
 *   (waiting for an InstallSnapshot answer, re-sent after an election timeout).
 * - A rejected append carries `hintIndex`: the follower's last index whose term is at
 *   most the leader's `prevLogTerm` (fast backtracking), never above prevLogIndex - 1.
 * - The leader counts itself towards a majority only for entries it has persisted
 *   (those an `advance()` acknowledged), and commits only entries of its own term by
 *   counting (§5.4.2, figure 8).
 * - Membership changes one server at a time (thesis §4.1): a membership entry takes
 *   effect on each server as soon as it is in its log; a leader accepts a new change only
 *   when the previous one is committed and it has committed an entry of its own term
 *   (the fix for the single-server change bug, raft-dev 2015). A membership entry's data
 *   is the MembershipChange as JSON plus `members`, the resulting voting set, so a log
 *   read from any point says which configuration holds.
 * - A leader removed from the configuration keeps leading until the removal commits,
 *   without counting itself, then steps down.
 */
import type {
  HardState,
  LogEntry,
  MembershipChange,
  Message,
  NodeId,
  RaftConfig,
  RaftStatus,
  RaftStorageState,
  Ready,
  Role,
  Snapshot,
} from './types.js';

type ProgressState = 'probe' | 'replicate' | 'snapshot';

interface Progress {
  match: number;
  next: number;
  state: ProgressState;
  /** probe: an append is in flight; no more until an answer or a heartbeat. */
  paused: boolean;
  /** replicate: the last index of each append in flight, ascending. */
  inflight: number[];
  /** snapshot: the index of the snapshot sent, and ticks since it was sent. */
  pendingSnapshot: number;
  snapshotElapsed: number;
  /** Heard from within the current check-quorum period. */
  recentActive: boolean;
}

/** The data of a membership entry: the change and the voting set it results in. */
export interface MembershipEntryData extends MembershipChange {
  members: NodeId[];
}

export class RaftInvariantError extends Error {
  override name = 'RaftInvariantError';
}

function invariant(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new RaftInvariantError(msg);
}

const DEFAULT_MAX_ENTRIES = 64;
const DEFAULT_MAX_INFLIGHT = 16;
const DEFAULT_MAX_UNCOMMITTED = 10_000;

/**
 * The voting set after a membership entry: its `members`, or (for data without them) its change
 * applied to `base()`, the configuration before it.
 */
export function parseMembershipData(data: string, base: () => readonly NodeId[]): NodeId[] {
  const parsed = JSON.parse(data) as Partial<MembershipEntryData>;
  if (Array.isArray(parsed.members)) return [...parsed.members];
  const set = new Set(base());
  if (parsed.op === 'add' && typeof parsed.node === 'string') set.add(parsed.node);
  else if (parsed.op === 'remove' && typeof parsed.node === 'string') set.delete(parsed.node);
  return [...set];
}

export class RaftNode {
  readonly id: NodeId;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly rng: () => number;
  private readonly maxEntries: number;
  private readonly maxInflight: number;
  private readonly maxUncommitted: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  /** The configuration when neither the snapshot nor the log holds one. */
  private readonly baseMembers: NodeId[];

  // Durable state (mirrored in memory).
  private term = 0;
  private votedFor: NodeId | null = null;
  private commit = 0;
  /** The latest snapshot (from compaction or from a leader), and the log after it. */
  private snap: Snapshot | null;
  private snapIndex = 0;
  private snapTerm = 0;
  private log: LogEntry[] = [];

  // Volatile state.
  private role: Role = 'follower';
  private preCandidate = false;
  private leader: NodeId | null = null;
  private applied: number;
  /** The first index not yet handed to storage and acknowledged by advance(). */
  private unstableFrom: number;
  private members: NodeId[];
  /** Index of the latest membership entry in the log (or the snapshot's index). */
  private configIndex = 0;
  private pendingConfIndex = 0;
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  private progress = new Map<NodeId, Progress>();

  // What the next Ready carries.
  private msgs: Message[] = [];
  private prevHard: HardState;
  private pendingSnapshot: Snapshot | null = null;
  private pendingCompaction: Snapshot | null = null;
  private outstanding: Ready | null = null;

  constructor(config: RaftConfig, storage: RaftStorageState) {
    invariant(config.electionTicks >= 1 && config.heartbeatTicks >= 1, 'electionTicks and heartbeatTicks must be >= 1');
    invariant(config.heartbeatTicks < config.electionTicks, 'heartbeatTicks must be below electionTicks');
    this.id = config.id;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.rng = config.rng;
    this.maxEntries = Math.max(1, config.maxEntriesPerMessage ?? DEFAULT_MAX_ENTRIES);
    this.maxInflight = Math.max(1, config.maxInflight ?? DEFAULT_MAX_INFLIGHT);
    this.maxUncommitted = Math.max(1, config.maxUncommittedEntries ?? DEFAULT_MAX_UNCOMMITTED);
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.baseMembers = config.join ? [] : [...new Set(config.members)];

    const hs = storage.hardState;
    this.term = hs.term;
    this.votedFor = hs.votedFor;
    this.snap = storage.snapshot;
    if (this.snap) {
      this.snapIndex = this.snap.index;
      this.snapTerm = this.snap.term;
    }
    let expect = this.snapIndex + 1;
    for (const e of storage.entries) {
      if (e.index <= this.snapIndex) continue; // covered by the snapshot
      invariant(e.index === expect, `storage entries not contiguous at ${e.index} (expected ${expect})`);
      this.log.push(e);
      expect++;
    }
    // A crash between persisting a snapshot and the hard state can leave commit behind it.
    this.commit = Math.max(hs.commit, this.snapIndex);
    invariant(this.commit <= this.lastIndex(), `commit ${this.commit} beyond the last index ${this.lastIndex()}`);
    this.prevHard = { term: hs.term, votedFor: hs.votedFor, commit: hs.commit };
    // A crash between persisting entries and the hard state can leave entries of a later term
    // than the persisted one. This node was in that term when it accepted them, and cast no
    // vote in it that anyone saw (its vote would be in the lost hard state, and messages go
    // out only after a Ready is persisted): continue in that term, without a vote.
    if (this.lastTerm() > this.term) {
      this.term = this.lastTerm();
      this.votedFor = null;
    }
    this.applied = this.snapIndex;
    this.unstableFrom = this.lastIndex() + 1;
    this.members = [];
    this.recomputeConfig();
    this.resetRandomizedTimeout();
  }

  // ------------------------------------------------------------------ inputs

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Appends a command; only the leader accepts (false otherwise, or when too much is uncommitted). */
  propose(data: string): boolean {
    if (!this.canAcceptProposal()) return false;
    this.appendAsLeader('command', data);
    return true;
  }

  /**
   * Adds or removes one voting member. Refused (false) unless this node is the leader, the
   * previous change is committed, an entry of this leader's term is committed, and the
   * change changes something (and leaves at least one member).
   */
  proposeMembership(change: MembershipChange): boolean {
    if (!this.canAcceptProposal()) return false;
    if (this.pendingConfIndex > this.commit) return false;
    if (this.termAt(this.commit) !== this.term) return false;
    const set = new Set(this.members);
    if (change.op === 'add') {
      if (set.has(change.node)) return false;
      set.add(change.node);
    } else {
      if (!set.has(change.node) || set.size === 1) return false;
      set.delete(change.node);
    }
    const data: MembershipEntryData = { op: change.op, node: change.node, members: [...set] };
    const e = this.appendAsLeader('membership', JSON.stringify(data));
    this.pendingConfIndex = e.index;
    return true;
  }

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote') {
        const inLease = this.checkQuorum && this.leader !== null && this.electionElapsed < this.electionTicks;
        if (inLease) return;
      }
      if (m.type === 'vote' && m.preVote) {
        // A pre-vote never changes our term.
      } else if (m.type === 'voteResponse' && m.preVote && m.granted) {
        // Granted pre-votes carry the term we would campaign at.
      } else {
        const lead = m.type === 'append' || m.type === 'snapshot' ? m.from : null;
        // A vote request moves us to its term but does not restart our election timer
        // (only hearing from a leader or granting a vote does, Raft figure 2): otherwise a
        // node that cannot win, with a fast clock, keeps everyone else from ever campaigning.
        this.becomeFollower(m.term, lead, m.type !== 'vote');
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'snapshot') {
        // Tell a stale leader about the newer term so it steps down.
        this.send({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: false, matchIndex: 0, hintIndex: 0 });
      } else if (m.type === 'vote') {
        // Refuse with our term, so the candidate catches up: nodes may only ever hear about
        // newer terms from the answers to their own requests (found by the simulator: a
        // candidate left behind in term, whose peers never sent it anything, for ever).
        this.send({ type: 'voteResponse', from: this.id, to: m.from, term: this.term, granted: false, preVote: m.preVote });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
        this.handleVote(m);
        break;
      case 'voteResponse':
        this.handleVoteResponse(m);
        break;
      case 'append':
        invariant(this.role !== 'leader', `${this.id}: two leaders in term ${this.term} (${m.from} sent an append)`);
        if (this.role === 'candidate') this.becomeFollower(this.term, m.from);
        invariant(this.leader === null || this.leader === m.from, `${this.id}: two leaders in term ${this.term} (${this.leader} and ${m.from})`);
        this.leader = m.from;
        this.electionElapsed = 0;
        this.handleAppend(m);
        break;
      case 'snapshot':
        invariant(this.role !== 'leader', `${this.id}: two leaders in term ${this.term} (${m.from} sent a snapshot)`);
        if (this.role === 'candidate') this.becomeFollower(this.term, m.from);
        invariant(this.leader === null || this.leader === m.from, `${this.id}: two leaders in term ${this.term} (${this.leader} and ${m.from})`);
        this.leader = m.from;
        this.electionElapsed = 0;
        this.handleSnapshot(m);
        break;
      case 'appendResponse':
        if (this.role === 'leader') this.handleAppendResponse(m);
        break;
      case 'snapshotResponse':
        if (this.role === 'leader') this.handleSnapshotResponse(m);
        break;
    }
  }

  /**
   * The state machine holds everything up to `index` (at most the applied index) in `data`:
   * the log up to it is dropped, and the snapshot goes to storage through Ready.compaction.
   */
  compact(index: number, data: string): void {
    invariant(index <= this.applied, `compact(${index}) beyond the applied index ${this.applied}`);
    if (index <= this.snapIndex) return;
    const term = this.termAt(index);
    invariant(term !== undefined, `compact(${index}): no term`);
    const s: Snapshot = { index, term, members: this.membersAt(index), data };
    this.log = this.log.slice(index - this.snapIndex);
    this.snap = s;
    this.snapIndex = index;
    this.snapTerm = term;
    this.pendingCompaction = s;
  }

  // ------------------------------------------------------------------ outputs

  hasReady(): boolean {
    if (this.outstanding) return false;
    return (
      this.msgs.length > 0 ||
      this.unstableFrom <= this.lastIndex() ||
      this.pendingSnapshot !== null ||
      this.pendingCompaction !== null ||
      this.commit > this.applied ||
      !this.hardStateEqual(this.prevHard)
    );
  }

  /**
   * What to persist, send and apply now (null when nothing). Call advance(rd) once done;
   * tick/step/propose may be called in between, ready() may not.
   */
  ready(): Ready | null {
    invariant(this.outstanding === null, 'ready() called again before advance()');
    if (!this.hasReady()) return null;
    const hardState = this.hardStateEqual(this.prevHard) ? null : { term: this.term, votedFor: this.votedFor, commit: this.commit };
    const entries = this.unstableFrom <= this.lastIndex() ? this.slice(this.unstableFrom, this.lastIndex() + 1) : [];
    const from = Math.max(this.applied, this.pendingSnapshot?.index ?? 0) + 1;
    const committed = this.commit >= from ? this.slice(from, this.commit + 1) : [];
    const rd: Ready = {
      hardState,
      entries,
      snapshot: this.pendingSnapshot,
      compaction: this.pendingCompaction,
      messages: this.msgs.slice(),
      committed,
    };
    this.outstanding = rd;
    return rd;
  }

  advance(rd: Ready): void {
    invariant(rd === this.outstanding, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = null;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot && this.pendingSnapshot === rd.snapshot) this.pendingSnapshot = null;
    if (rd.compaction && this.pendingCompaction === rd.compaction) this.pendingCompaction = null;
    const last = rd.entries[rd.entries.length - 1];
    if (last && this.termAt(last.index) === last.term) {
      this.unstableFrom = Math.max(this.unstableFrom, last.index + 1);
    }
    this.msgs.splice(0, rd.messages.length);
    const lastCommitted = rd.committed[rd.committed.length - 1];
    if (lastCommitted) this.applied = Math.max(this.applied, lastCommitted.index);
    if (rd.snapshot) this.applied = Math.max(this.applied, rd.snapshot.index);
    if (this.role === 'leader') this.maybeCommit();
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      commitIndex: this.commit,
      lastIndex: this.lastIndex(),
      members: [...this.members],
    };
  }

  // ------------------------------------------------------- read-only helpers

  /** The term of the entry at `index` (the snapshot's term at its index, 0 at 0), or undefined when not held. */
  termAt(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex()) return undefined;
    return this.log[index - this.snapIndex - 1]!.term;
  }

  /** The entry at `index`, when the log (not the snapshot) holds it. */
  entryAt(index: number): LogEntry | undefined {
    if (index <= this.snapIndex || index > this.lastIndex()) return undefined;
    return this.log[index - this.snapIndex - 1];
  }

  /** The latest snapshot this node holds (compacted or received), if any. */
  snapshot(): Snapshot | null {
    return this.snap;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.log.length;
  }

  appliedIndex(): number {
    return this.applied;
  }

  // ------------------------------------------------------------------ log

  private lastTerm(): number {
    return this.termAt(this.lastIndex())!;
  }

  /** Entries in [lo, hi), all held in the log. */
  private slice(lo: number, hi: number): LogEntry[] {
    invariant(lo > this.snapIndex && hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) outside the log`);
    return this.log.slice(lo - this.snapIndex - 1, hi - this.snapIndex - 1);
  }

  private appendAsLeader(type: LogEntry['type'], data: string): LogEntry {
    const e: LogEntry = { term: this.term, index: this.lastIndex() + 1, type, data };
    this.log.push(e);
    if (type === 'membership') this.applyMembershipEntry(e);
    this.bcastAppend();
    return e;
  }

  /** Appends entries that follow `prev` (already checked to match), truncating a conflicting suffix. */
  private appendFollower(entries: LogEntry[]): void {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      const t = this.termAt(e.index);
      if (t === e.term) continue;
      if (t !== undefined) {
        invariant(e.index > this.commit, `${this.id}: truncating committed entry ${e.index} (commit ${this.commit})`);
        this.log.length = e.index - this.snapIndex - 1;
        this.unstableFrom = Math.min(this.unstableFrom, e.index);
        if (this.configIndex >= e.index) this.recomputeConfig();
      }
      invariant(e.index === this.lastIndex() + 1, `${this.id}: gap appending ${e.index} after ${this.lastIndex()}`);
      for (let j = k; j < entries.length; j++) {
        const x = entries[j]!;
        this.log.push(x);
        if (x.type === 'membership') this.applyMembershipEntry(x);
      }
      return;
    }
  }

  private commitTo(index: number): void {
    if (index <= this.commit) return;
    invariant(index <= this.lastIndex(), `${this.id}: commit ${index} beyond the last index ${this.lastIndex()}`);
    this.commit = index;
  }

  private isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  private hardStateEqual(h: HardState): boolean {
    return h.term === this.term && h.votedFor === this.votedFor && h.commit === this.commit;
  }

  // ------------------------------------------------------------ membership

  private applyMembershipEntry(e: LogEntry): void {
    const before = this.members;
    this.members = parseMembershipData(e.data, () => before);
    this.configIndex = e.index;
    if (this.role === 'leader') this.syncProgress();
  }

  /** The configuration from the log's latest membership entry, else the snapshot, else the base. */
  private recomputeConfig(): void {
    for (let k = this.log.length - 1; k >= 0; k--) {
      const e = this.log[k]!;
      if (e.type === 'membership') {
        this.members = parseMembershipData(e.data, () => this.configBefore(k));
        this.configIndex = e.index;
        return;
      }
    }
    this.members = this.snap ? [...this.snap.members] : [...this.baseMembers];
    this.configIndex = this.snapIndex;
  }

  /** The configuration in force before log position k (used only for data without `members`). */
  private configBefore(k: number): NodeId[] {
    for (let j = k - 1; j >= 0; j--) {
      const e = this.log[j]!;
      if (e.type === 'membership') return parseMembershipData(e.data, () => this.configBefore(j));
    }
    return this.snap ? [...this.snap.members] : [...this.baseMembers];
  }

  /** The voting members as of `index` (for a snapshot taken there). */
  private membersAt(index: number): NodeId[] {
    for (let i = index; i > this.snapIndex; i--) {
      const e = this.entryAt(i)!;
      if (e.type === 'membership') return parseMembershipData(e.data, () => this.configBefore(i - this.snapIndex - 1));
    }
    return this.snap ? [...this.snap.members] : [...this.baseMembers];
  }

  private isMember(): boolean {
    return this.members.includes(this.id);
  }

  private quorum(): number {
    return Math.floor(this.members.length / 2) + 1;
  }

  /** Leader: a progress for every member but itself, none for others. */
  private syncProgress(): void {
    for (const id of this.members) {
      if (id !== this.id && !this.progress.has(id)) this.progress.set(id, this.newProgress());
    }
    for (const id of [...this.progress.keys()]) {
      if (!this.members.includes(id)) this.progress.delete(id);
    }
  }

  private newProgress(): Progress {
    return { match: 0, next: this.lastIndex() + 1, state: 'probe', paused: false, inflight: [], pendingSnapshot: 0, snapshotElapsed: 0, recentActive: true };
  }

  // ------------------------------------------------------------ roles

  private resetRandomizedTimeout(): void {
    this.randomizedTimeout = this.electionTicks + Math.floor(this.rng() * this.electionTicks);
  }

  private becomeFollower(term: number, leader: NodeId | null, resetTimer = true): void {
    if (term !== this.term) {
      invariant(term > this.term, `${this.id}: term going back from ${this.term} to ${term}`);
      this.term = term;
      this.votedFor = null;
      this.dropStaleMessages();
    }
    const wasFollower = this.role === 'follower';
    this.role = 'follower';
    this.preCandidate = false;
    this.leader = leader;
    this.heartbeatElapsed = 0;
    this.progress.clear();
    this.votes.clear();
    if (resetTimer || !wasFollower) {
      this.electionElapsed = 0;
      this.resetRandomizedTimeout();
    }
  }

  private campaign(pre: boolean): void {
    this.role = 'candidate';
    this.preCandidate = pre;
    this.leader = null;
    this.electionElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes.clear();
    if (!pre) {
      this.term += 1;
      this.votedFor = this.id;
      this.dropStaleMessages();
    }
    this.votes.set(this.id, true);
    const term = pre ? this.term + 1 : this.term;
    if (this.pollVotes()) return;
    const lastLogIndex = this.lastIndex();
    const lastLogTerm = this.lastTerm();
    for (const to of this.members) {
      if (to === this.id) continue;
      this.send({ type: 'vote', from: this.id, to, term, lastLogIndex, lastLogTerm, preVote: pre });
    }
  }

  /** Counts votes: wins (true, and moves on), loses (back to follower) or waits. */
  private pollVotes(): boolean {
    let granted = 0;
    let rejected = 0;
    for (const id of this.members) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) {
      if (this.preCandidate) this.campaign(false);
      else this.becomeLeader();
      return true;
    }
    if (rejected >= q) {
      this.becomeFollower(this.term, null);
      return true;
    }
    return false;
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.preCandidate = false;
    this.leader = this.id;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.votes.clear();
    this.progress.clear();
    this.syncProgress();
    // The noop commits the entries of earlier terms (§5.4.2) and gates membership changes.
    const e = this.appendAsLeader('noop', '');
    this.pendingConfIndex = e.index;
  }

  private canAcceptProposal(): boolean {
    return this.role === 'leader' && this.isMember() && this.lastIndex() - this.commit < this.maxUncommitted;
  }

  // ------------------------------------------------------------ ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedTimeout) {
      this.electionElapsed = 0;
      if (this.isMember()) this.campaign(this.preVote);
      else this.resetRandomizedTimeout();
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        let active = this.isMember() ? 1 : 0;
        for (const [id, pr] of this.progress) {
          if (pr.recentActive) active++;
          if (id !== this.id) pr.recentActive = false;
        }
        if (active < this.quorum()) {
          this.becomeFollower(this.term, null);
          return;
        }
      }
    }
    for (const [to, pr] of this.progress) {
      if (pr.state !== 'snapshot') continue;
      pr.snapshotElapsed++;
      if (pr.snapshotElapsed >= this.electionTicks) {
        // The snapshot (or its answer) may be lost: probe again, which re-sends it if still needed.
        this.becomeProbe(pr);
        this.maybeSendAppend(to);
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      for (const to of this.progress.keys()) this.sendHeartbeat(to);
    }
  }

  // ------------------------------------------------------------ messages

  private send(m: Message): void {
    this.msgs.push(m);
  }

  /**
   * After a term change, messages of earlier terms not yet handed out in a Ready are dropped:
   * the next Ready persists the new term (and perhaps a truncated log), and a message must
   * never claim more than what is durable when it is sent (an acknowledgement of entries a
   * newer leader has since cut, an append of entries this node no longer holds). Dropping is
   * always safe: the network may lose any message.
   */
  private dropStaleMessages(): void {
    const keep = this.outstanding ? this.outstanding.messages.length : 0;
    let w = keep;
    for (let r = keep; r < this.msgs.length; r++) {
      const m = this.msgs[r]!;
      if (m.term >= this.term) this.msgs[w++] = m;
    }
    this.msgs.length = w;
  }

  private handleVote(m: Extract<Message, { type: 'vote' }>): void {
    const canVote =
      this.votedFor === m.from ||
      (this.votedFor === null && this.leader === null) ||
      (m.preVote && m.term > this.term);
    if (canVote && this.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      this.send({ type: 'voteResponse', from: this.id, to: m.from, term: m.term, granted: true, preVote: m.preVote });
      if (!m.preVote) {
        this.electionElapsed = 0;
        this.votedFor = m.from;
      }
    } else {
      this.send({ type: 'voteResponse', from: this.id, to: m.from, term: this.term, granted: false, preVote: m.preVote });
    }
  }

  private handleVoteResponse(m: Extract<Message, { type: 'voteResponse' }>): void {
    if (this.role !== 'candidate' || m.preVote !== this.preCandidate) return;
    if (m.preVote) {
      if (m.granted ? m.term !== this.term + 1 : m.term !== this.term) return;
    } else if (m.term !== this.term) {
      return;
    }
    if (!this.votes.has(m.from)) this.votes.set(m.from, m.granted);
    this.pollVotes();
  }

  private handleAppend(m: Extract<Message, { type: 'append' }>): void {
    let prev = m.prevLogIndex;
    let prevTerm = m.prevLogTerm;
    let entries = m.entries;
    if (prev < this.commit) {
      // Everything up to our commit index is in the leader's log (Leader Completeness).
      const skip = Math.min(entries.length, this.commit - prev);
      entries = entries.slice(skip);
      prev = this.commit;
      prevTerm = this.termAt(this.commit)!;
      if (entries.length > 0 && entries[0]!.index !== prev + 1) entries = [];
    }
    if (this.termAt(prev) !== prevTerm) {
      const hint = this.rejectHint(prev, prevTerm);
      this.send({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: false, matchIndex: 0, hintIndex: hint });
      return;
    }
    this.appendFollower(entries);
    const lastNew = prev + entries.length;
    this.commitTo(Math.min(m.leaderCommit, lastNew));
    this.send({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: true, matchIndex: lastNew, hintIndex: 0 });
  }

  /**
   * Where the leader should probe next: an index below prev (at least our commit) at or below
   * which our log may still match the leader's. Entries with a term above the leader's
   * prevLogTerm cannot match (the leader's terms up to prev are at most prevLogTerm); when
   * our entry at prev has a lower term, the whole run of that term is skipped (Raft paper
   * §5.3), which may step back past matching entries (they are sent again) but never
   * leaves a mismatch unchecked.
   */
  private rejectHint(prev: number, prevTerm: number): number {
    const conflictTerm = prev <= this.lastIndex() ? this.termAt(prev)! : -1;
    let j = Math.min(prev - 1, this.lastIndex());
    while (j > this.commit) {
      const t = this.termAt(j)!;
      if (t > prevTerm || (conflictTerm >= 0 && conflictTerm < prevTerm && t === conflictTerm)) j--;
      else break;
    }
    return Math.max(j, this.commit);
  }

  private handleSnapshot(m: Extract<Message, { type: 'snapshot' }>): void {
    const s = m.snapshot;
    if (s.index <= this.commit) {
      this.send({ type: 'snapshotResponse', from: this.id, to: m.from, term: this.term, matchIndex: this.commit });
      return;
    }
    if (this.termAt(s.index) === s.term) {
      // Our log already holds the snapshot's last entry: keep the log, commit up to it.
      this.commitTo(s.index);
      this.send({ type: 'snapshotResponse', from: this.id, to: m.from, term: this.term, matchIndex: s.index });
      return;
    }
    this.snap = s;
    this.snapIndex = s.index;
    this.snapTerm = s.term;
    this.log = [];
    this.commit = s.index;
    this.unstableFrom = s.index + 1;
    this.pendingSnapshot = s;
    this.pendingCompaction = null;
    this.recomputeConfig();
    this.send({ type: 'snapshotResponse', from: this.id, to: m.from, term: this.term, matchIndex: s.index });
  }

  private handleAppendResponse(m: Extract<Message, { type: 'appendResponse' }>): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (!m.success) {
      if (pr.state === 'snapshot') return;
      if (m.hintIndex + 1 >= pr.next) return; // stale: we already probe below it
      // A hint below match overshot (a skipped run of one term): everything up to match is known to match.
      pr.next = Math.max(pr.match + 1, m.hintIndex + 1);
      this.becomeProbe(pr);
      this.maybeSendAppend(m.from);
      return;
    }
    let updated = false;
    if (m.matchIndex > pr.match) {
      invariant(m.matchIndex <= this.lastIndex(), `${m.from} acknowledged ${m.matchIndex} beyond the leader's last index`);
      pr.match = m.matchIndex;
      updated = true;
    }
    pr.next = Math.max(pr.next, pr.match + 1);
    while (pr.inflight.length > 0 && pr.inflight[0]! <= pr.match) pr.inflight.shift();
    if (pr.state === 'probe') {
      pr.paused = false;
      if (updated || pr.match + 1 === pr.next) this.becomeReplicate(pr);
    } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      this.becomeProbe(pr);
    }
    if (updated) this.maybeCommit();
    if (this.role === 'leader' && this.progress.get(m.from) === pr) this.maybeSendAppend(m.from);
  }

  private handleSnapshotResponse(m: Extract<Message, { type: 'snapshotResponse' }>): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    let updated = false;
    if (m.matchIndex > pr.match) {
      invariant(m.matchIndex <= this.lastIndex(), `${m.from} acknowledged ${m.matchIndex} beyond the leader's last index`);
      pr.match = m.matchIndex;
      updated = true;
    }
    if (pr.state === 'snapshot') {
      this.becomeProbe(pr);
    }
    pr.next = Math.max(pr.next, pr.match + 1);
    if (updated) this.maybeCommit();
    if (this.role === 'leader' && this.progress.get(m.from) === pr) this.maybeSendAppend(m.from);
  }

  private becomeProbe(pr: Progress): void {
    pr.state = 'probe';
    pr.paused = false;
    pr.inflight = [];
    pr.next = Math.max(pr.match + 1, Math.min(pr.next, this.lastIndex() + 1));
    if (pr.next <= pr.match) pr.next = pr.match + 1;
  }

  private becomeReplicate(pr: Progress): void {
    pr.state = 'replicate';
    pr.paused = false;
    pr.inflight = [];
    pr.next = pr.match + 1;
  }

  /** Leader: commit the highest index a majority holds, if it is of the current term. */
  private maybeCommit(): void {
    const matches: number[] = [];
    const stable = this.unstableFrom - 1;
    for (const id of this.members) {
      if (id === this.id) matches.push(stable);
      else matches.push(this.progress.get(id)?.match ?? 0);
    }
    matches.sort((a, b) => b - a);
    const candidate = matches[this.quorum() - 1]!;
    if (candidate > this.commit && this.termAt(candidate) === this.term) {
      this.commit = candidate;
      if (!this.isMember() && this.commit >= this.configIndex) {
        // Our removal is committed: step down (thesis §4.2.2).
        this.bcastAppend(true);
        this.becomeFollower(this.term, null);
        return;
      }
      this.bcastAppend(true);
    }
  }

  private bcastAppend(commitChanged = false): void {
    for (const to of this.progress.keys()) {
      if (commitChanged) this.sendCommit(to);
      else this.maybeSendAppend(to);
    }
  }

  /** Sends what the follower needs, within the flow control of its state. */
  private maybeSendAppend(to: NodeId): void {
    const pr = this.progress.get(to)!;
    if (pr.state === 'snapshot') return;
    if (pr.state === 'probe') {
      if (pr.paused) return;
      this.sendAppendAt(to, pr, true);
      return;
    }
    while (pr.state === 'replicate' && pr.next <= this.lastIndex() && pr.inflight.length < this.maxInflight) {
      this.sendAppendAt(to, pr, true);
    }
  }

  /** After the commit index moved: let every follower know, even with nothing new to send. */
  private sendCommit(to: NodeId): void {
    const pr = this.progress.get(to)!;
    if (pr.state === 'snapshot') return;
    if (pr.state === 'probe' && pr.paused) return;
    if (pr.state === 'replicate' && pr.next <= this.lastIndex() && pr.inflight.length < this.maxInflight) {
      this.maybeSendAppend(to);
      return;
    }
    this.sendAppendAt(to, pr, pr.state === 'probe');
  }

  private sendHeartbeat(to: NodeId): void {
    const pr = this.progress.get(to)!;
    if (pr.state === 'snapshot') return;
    if (pr.state === 'probe') {
      pr.paused = false;
      this.sendAppendAt(to, pr, true);
      return;
    }
    const canSend = pr.next <= this.lastIndex() && pr.inflight.length < this.maxInflight;
    this.sendAppendAt(to, pr, canSend);
  }

  /** One append at pr.next (with entries when `withEntries`), or a snapshot when the log no longer holds pr.next - 1. */
  private sendAppendAt(to: NodeId, pr: Progress, withEntries: boolean): void {
    const prev = pr.next - 1;
    const prevTerm = this.termAt(prev);
    if (prevTerm === undefined) {
      invariant(prev < this.snapIndex && this.snap !== null, `${this.id}: no term for ${prev} (next of ${to})`);
      pr.state = 'snapshot';
      pr.paused = false;
      pr.inflight = [];
      pr.pendingSnapshot = this.snapIndex;
      pr.snapshotElapsed = 0;
      this.send({ type: 'snapshot', from: this.id, to, term: this.term, snapshot: this.snap });
      return;
    }
    const entries = withEntries && pr.next <= this.lastIndex() ? this.slice(pr.next, Math.min(this.lastIndex(), prev + this.maxEntries) + 1) : [];
    this.send({ type: 'append', from: this.id, to, term: this.term, prevLogIndex: prev, prevLogTerm: prevTerm, entries, leaderCommit: this.commit });
    if (pr.state === 'probe') {
      pr.paused = true;
    } else if (entries.length > 0) {
      const last = entries[entries.length - 1]!.index;
      pr.next = last + 1;
      pr.inflight.push(last);
    }
  }
}

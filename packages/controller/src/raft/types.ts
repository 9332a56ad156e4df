/**
 * The Raft contract. `RaftNode` (raft.ts) is a pure state machine: no timers, sockets,
 * disk or global randomness inside. Its owner (the controller process, or the
 * deterministic simulator in tests) drives it:
 *
 *   node.tick()            every tick of the owner's clock (elections and heartbeats are counted in ticks)
 *   node.step(msg)         for every message received from a peer
 *   node.propose(data)     to append a command (only the leader accepts: returns false otherwise)
 *   node.proposeMembership(change)   add or remove one controller at a time
 *   const rd = node.ready()   what to do now, or null when nothing:
 *        1. persist rd.hardState, rd.snapshot, and rd.entries (durably: fsync) — BEFORE sending,
 *        2. send rd.messages,
 *        3. apply rd.committed to the state machine, in order (and rd.snapshot if set),
 *   node.advance(rd)       once all of that is done.
 *   node.compact(index, data)  after the state machine has a snapshot of everything up to index
 *        (at most the applied index); the next Ready carries it in rd.compaction (persist, don't load).
 *
 * ready() may not be called again before advance(rd); tick/step/propose may be called in between.
 * After a restart, load the state machine from storage's snapshot (if any) before applying rd.committed.
 * A membership entry's data is the MembershipChange as JSON plus `members`, the resulting voting set.
 *
 * One seed reproduces a run: randomness (election timeouts) comes from the injected `rng`.
 */

export type NodeId = string;

export type EntryType = 'command' | 'membership' | 'noop';

export interface LogEntry {
  term: number;
  index: number;
  type: EntryType;
  /** A command's bytes (the controller encodes its configuration changes as JSON), or a MembershipChange as JSON. */
  data: string;
}

export interface MembershipChange {
  op: 'add' | 'remove';
  node: NodeId;
}

/** What must survive a crash besides the log. */
export interface HardState {
  term: number;
  votedFor: NodeId | null;
  commit: number;
}

export interface Snapshot {
  /** Last log index and term the snapshot covers. */
  index: number;
  term: number;
  /** The voting members as of `index`. */
  members: NodeId[];
  /** The state machine's serialised state. */
  data: string;
}

export type Message =
  | { type: 'vote'; from: NodeId; to: NodeId; term: number; lastLogIndex: number; lastLogTerm: number; preVote: boolean }
  | { type: 'voteResponse'; from: NodeId; to: NodeId; term: number; granted: boolean; preVote: boolean }
  | { type: 'append'; from: NodeId; to: NodeId; term: number; prevLogIndex: number; prevLogTerm: number; entries: LogEntry[]; leaderCommit: number }
  | { type: 'appendResponse'; from: NodeId; to: NodeId; term: number; success: boolean; matchIndex: number; /** on rejection: a hint where the follower's log ends */ hintIndex: number }
  | { type: 'snapshot'; from: NodeId; to: NodeId; term: number; snapshot: Snapshot }
  | { type: 'snapshotResponse'; from: NodeId; to: NodeId; term: number; matchIndex: number };

export type Role = 'follower' | 'candidate' | 'leader';

export interface Ready {
  /** Set when term, vote or commit changed: persist before sending messages. */
  hardState: HardState | null;
  /**
   * Log entries to persist. Entries at indexes the storage already holds replace them
   * and everything after (a follower's conflicting suffix is truncated).
   */
  entries: LogEntry[];
  /** A snapshot to persist (and to load into the state machine, when received from the leader). */
  snapshot: Snapshot | null;
  /**
   * A snapshot made by compact() from this node's own state machine: persist it and drop the
   * log entries it covers, but do NOT load it into the state machine (which is already past it).
   * Storage applies it before `snapshot` and `entries`.
   */
  compaction?: Snapshot | null;
  messages: Message[];
  /** Newly committed entries to apply, in index order. */
  committed: LogEntry[];
}

/** The durable state a node starts from (after a restart: what was persisted). */
export interface RaftStorageState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, in order. */
  entries: LogEntry[];
}

export interface RaftConfig {
  id: NodeId;
  /** The initial voting members (including `id`) when there is no snapshot/membership entry. */
  members: NodeId[];
  /** Ticks without a leader's message before an election; randomised in [electionTicks, 2*electionTicks). */
  electionTicks: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks: number;
  /** Uniform in [0, 1); the only source of randomness. */
  rng: () => number;
  /** Most entries per append message. */
  maxEntriesPerMessage?: number;
  /** Pre-vote (Raft thesis §9.6) keeps a partitioned node from disrupting the cluster on return. Default true. */
  preVote?: boolean;
  /**
   * Check quorum (thesis §6.2): a leader steps down after an election timeout without hearing from a
   * majority, and a follower that heard from a leader within electionTicks ignores vote requests. Default true.
   */
  checkQuorum?: boolean;
  /** Most appends in flight to one follower while replicating (flow control). Default 16. */
  maxInflight?: number;
  /** propose() refuses while this many entries are uncommitted. Default 10000. */
  maxUncommittedEntries?: number;
  /**
   * This node joins an existing group: it starts with no configuration (ignores `members`), never
   * campaigns, and learns the configuration from the leader's log or snapshot once a leader adds it.
   */
  join?: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  leader: NodeId | null;
  commitIndex: number;
  lastIndex: number;
  members: NodeId[];
}

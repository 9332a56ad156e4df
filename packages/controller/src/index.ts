export * from './raft/types.js';
export * from './raft/raft.js';

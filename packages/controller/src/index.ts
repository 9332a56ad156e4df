export * from './raft/types.js';
export * from './raft/raft.js';
export * from './raft/file-storage.js';
export * from './raft/memory-storage.js';

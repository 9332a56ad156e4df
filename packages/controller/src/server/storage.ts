/** The controller's Raft storage: FileRaftStorage in --dir (fsync before messages go out). */
import { MemoryRaftStorage } from '../raft/memory-storage.js';
import type { RaftStorage } from './controller.js';

export function openRaftStorage(_dir: string): RaftStorage {
  // Until raft/file-storage.ts lands: not durable.
  return new MemoryRaftStorage();
}

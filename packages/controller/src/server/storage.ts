/** The controller's Raft storage: FileRaftStorage in --dir (fsync before messages go out). */
import { FileRaftStorage } from '../raft/file-storage.js';
import type { RaftStorage } from './controller.js';

export function openRaftStorage(dir: string): Promise<RaftStorage> {
  return FileRaftStorage.open(dir);
}

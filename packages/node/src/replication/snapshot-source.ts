/**
 * The full sync's RDB: the one snapshotter of persistence/snapshot.ts (point in time as
 * of this synchronous call, made in slices without copying the dataset), with its
 * output sent to one replica. `write` returns false when the stream's buffer is full;
 * the sink then waits for `drained` (backpressure reaches the snapshotter's walk).
 */
import type { Server } from '../server/server.js';
import { startSnapshot } from '../persistence/snapshot.js';

export interface SnapshotHandle {
  readonly done: Promise<unknown>;
  readonly keysWritten: number;
  cancel(reason?: string): void;
}

/**
 * `offset`: the stream position the dataset holds now (the file's repl-offset), and
 * `streamDb` the database the stream selected last at that position (repl-stream-db:
 * the replica's master client starts there, as Redis's does).
 */
export function startFullSyncSnapshot(server: Server, offset: number, streamDb: number, write: (chunk: Buffer) => boolean, drained: () => Promise<void>): SnapshotHandle {
  const repl = server.replication!;
  return startSnapshot(server.keyspace, {
    sink: (chunk) => (write(chunk) ? undefined : drained()),
    aux: { 'repl-stream-db': streamDb, 'repl-id': repl.replid, 'repl-offset': offset },
    compress: server.config.bool('rdbcompression'),
    checksum: server.config.bool('rdbchecksum'),
  });
}

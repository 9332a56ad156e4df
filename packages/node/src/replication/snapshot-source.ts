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
  cancel(reason?: string): void;
}

export function startFullSyncSnapshot(server: Server, write: (chunk: Buffer) => boolean, drained: () => Promise<void>): SnapshotHandle {
  const repl = server.replication!;
  return startSnapshot(server.keyspace, {
    sink: (chunk) => (write(chunk) ? undefined : drained()),
    aux: { 'repl-id': repl.replid, 'repl-offset': repl.offset },
    compress: server.config.bool('rdbcompression'),
    checksum: server.config.bool('rdbchecksum'),
  });
}

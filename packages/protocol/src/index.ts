export * from './resp/limits.js';
export * from './resp/request-parser.js';
export * from './resp/reply-parser.js';
export * from './resp/writer.js';
export * from './resp/one-shot.js';
export * from './slot.js';
export * from './commands/spec.js';
export * from './commands/table.js';
export * from './errors.js';
/** Generated from proto/sonic/v1/replication.proto (do not edit; `npm run proto`). */
export * as replicationPb from './gen/sonic/v1/replication.js';
/** Generated from proto/sonic/v1/control.proto and raft.proto (do not edit; `npm run proto`). */
export * as controlPb from './gen/sonic/v1/control.js';
export * as raftPb from './gen/sonic/v1/raft.js';
/** Generated from proto/sonic/v1/cluster.proto (do not edit; `npm run proto`). */
export * as clusterPb from './gen/sonic/v1/cluster.js';
/** Generated from proto/sonic/v1/migration.proto (do not edit; `npm run proto`). */
export * as migrationPb from './gen/sonic/v1/migration.js';

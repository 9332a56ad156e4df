export { Client, Pipeline, Script, slotOf, type ClientOptions, type TopologyEvent } from './client.js';
export type { Arg } from './command.js';
export type { Reply } from './reply.js';
export { SlotTable, type ReadFrom, type ShardRoute } from './topology.js';
export { sharedWatch, ConfigWatch } from './watch.js';
export * from './errors.js';

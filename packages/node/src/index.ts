export { runNode, buildConfig, NODE_USAGE } from './node.js';
export { Server } from './server/server.js';
export { checkRdbMain, checkAofMain } from './persistence/check.js';
export { Config, ConfigError } from './config/config.js';
export { SETTINGS } from './config/settings.js';
export { Keyspace, Db } from './engine/keyspace.js';

export * from './resp/limits.js';
export * from './resp/request-parser.js';
export * from './resp/reply-parser.js';
export * from './resp/writer.js';
export * from './slot.js';
export * from './commands/spec.js';
export * from './commands/table.js';
export * from './errors.js';

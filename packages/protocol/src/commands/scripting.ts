import { command, subcommand, keysByCount, type CommandSpec } from './spec.js';

// Scripting and functions, with arity, flags, ACL categories, tips and key specs as
// Redis 7.0 declares them (COMMAND INFO/DOCS).

const g = { group: 'scripting' };
const acl = 'scripting';
const RW = 'RW access update';
const RO = 'RO access';
const flags = 'noscript stale skip_monitor no_mandatory_keys';

export const scriptingCommands: CommandSpec[] = [
  command('eval', -3, flags, { ...g, acl, since: '2.6.0', summary: 'Execute a Lua script server side', complexity: 'Depends on the script that is executed.', keys: [keysByCount(RW, 2)] }),
  command('evalsha', -3, flags, { ...g, acl, since: '2.6.0', summary: 'Execute a Lua script server side', complexity: 'Depends on the script that is executed.', keys: [keysByCount(RW, 2)] }),
  command('eval_ro', -3, 'readonly ' + flags, { ...g, acl, since: '7.0.0', summary: 'Execute a read-only Lua script server side', complexity: 'Depends on the script that is executed.', keys: [keysByCount(RO, 2)] }),
  command('evalsha_ro', -3, 'readonly ' + flags, { ...g, acl, since: '7.0.0', summary: 'Execute a read-only Lua script server side', complexity: 'Depends on the script that is executed.', keys: [keysByCount(RO, 2)] }),
  command('fcall', -3, flags, { ...g, acl, since: '7.0.0', summary: 'Invoke a function', complexity: 'Depends on the function that is executed.', keys: [keysByCount(RW, 2)] }),
  command('fcall_ro', -3, 'readonly ' + flags, { ...g, acl, since: '7.0.0', summary: 'Invoke a read-only function', complexity: 'Depends on the function that is executed.', keys: [keysByCount(RO, 2)] }),
  command('script', -2, '', { ...g, acl: 'slow', since: '2.6.0', summary: 'A container for Lua scripts management commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('script', 'help', 2, 'loading stale', { ...g, acl, since: '5.0.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
      subcommand('script', 'flush', -2, 'noscript', { ...g, acl, since: '2.6.0', summary: 'Remove all the scripts from the script cache.', complexity: 'O(N) with N being the number of scripts in cache', tips: ['request_policy:all_nodes', 'response_policy:all_succeeded'] }),
      subcommand('script', 'exists', -3, 'noscript', { ...g, acl, since: '2.6.0', summary: 'Check existence of scripts in the script cache.', complexity: 'O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).', tips: ['request_policy:all_shards', 'response_policy:agg_logical_and'] }),
      subcommand('script', 'kill', 2, 'noscript allow_busy', { ...g, acl, since: '2.6.0', summary: 'Kill the script currently in execution.', complexity: 'O(1)', tips: ['request_policy:all_shards', 'response_policy:one_succeeded'] }),
      subcommand('script', 'load', 3, 'noscript stale', { ...g, acl, since: '2.6.0', summary: 'Load the specified Lua script into the script cache.', complexity: 'O(N) with N being the length in bytes of the script body.', tips: ['request_policy:all_nodes', 'response_policy:all_succeeded'] }),
    ],
  }),
  command('function', -2, '', { ...g, acl: 'slow', since: '7.0.0', summary: 'A container for function commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('function', 'restore', -3, 'write denyoom noscript', { ...g, acl, since: '7.0.0', summary: 'Restore all the functions on the given payload', complexity: 'O(N) where N is the number of functions on the payload', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
      subcommand('function', 'dump', 2, 'noscript', { ...g, acl, since: '7.0.0', summary: 'Dump all functions into a serialized binary payload', complexity: 'O(N) where N is the number of functions' }),
      subcommand('function', 'flush', -2, 'write noscript', { ...g, acl, since: '7.0.0', summary: 'Deleting all functions', complexity: 'O(N) where N is the number of functions deleted', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
      subcommand('function', 'delete', 3, 'write noscript', { ...g, acl, since: '7.0.0', summary: 'Delete a function by name', complexity: 'O(1)', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
      subcommand('function', 'kill', 2, 'noscript allow_busy', { ...g, acl, since: '7.0.0', summary: 'Kill the function currently in execution.', complexity: 'O(1)', tips: ['request_policy:all_shards', 'response_policy:one_succeeded'] }),
      subcommand('function', 'list', -2, 'noscript', { ...g, acl, since: '7.0.0', summary: 'List information about all the functions', complexity: 'O(N) where N is the number of functions', tips: ['nondeterministic_output_order'] }),
      subcommand('function', 'help', 2, 'loading stale', { ...g, acl, since: '7.0.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
      subcommand('function', 'load', -3, 'write denyoom noscript', { ...g, acl, since: '7.0.0', summary: 'Create a function with the given arguments (name, code, description)', complexity: 'O(1) (considering compilation time is redundant)', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
      subcommand('function', 'stats', 2, 'noscript allow_busy', { ...g, acl, since: '7.0.0', summary: 'Return information about the function currently running (name, description, duration)', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'] }),
    ],
  }),
];

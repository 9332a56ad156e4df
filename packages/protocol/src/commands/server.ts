import { command, subcommand, keyAt, type CommandSpec } from './spec.js';

// Server administration and connection management (CLIENT), with arity, flags, ACL
// categories, tips, key specs and docs as Redis 7.0 declares them (COMMAND INFO/DOCS).

const srv = { group: 'server' };
const conn = { group: 'connection' };
const clu = { group: 'cluster' };

export const serverCommands: CommandSpec[] = [
  command('info', -1, 'loading stale', { ...srv, acl: 'slow dangerous', since: '1.0.0', summary: 'Get information and statistics about the server', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'] }),
  command('config', -2, '', { ...srv, acl: 'slow', since: '2.0.0', summary: 'A container for server configuration commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('config', 'rewrite', 2, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.8.0', summary: 'Rewrite the configuration file with the in memory configuration', complexity: 'O(1)' }),
      subcommand('config', 'resetstat', 2, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.0.0', summary: 'Reset the stats returned by INFO', complexity: 'O(1)' }),
      subcommand('config', 'get', -3, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.0.0', summary: 'Get the values of configuration parameters', complexity: 'O(N) when N is the number of configuration parameters provided' }),
      subcommand('config', 'help', 2, 'loading stale', { ...srv, acl: 'slow', since: '5.0.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
      subcommand('config', 'set', -4, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.0.0', summary: 'Set configuration parameters to the given values', complexity: 'O(N) when N is the number of configuration parameters provided', tips: ['request_policy:all_nodes', 'response_policy:all_succeeded'] }),
    ],
  }),
  command('client', -2, '', { ...conn, acl: 'slow', since: '2.4.0', summary: 'A container for client connection commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('client', 'getredir', 2, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '6.0.0', summary: 'Get tracking notifications redirection client ID if any', complexity: 'O(1)' }),
      subcommand('client', 'no-evict', 3, 'admin noscript loading stale', { ...conn, acl: 'admin slow dangerous connection', since: '7.0.0', summary: 'Set client eviction mode for the current connection', complexity: 'O(1)' }),
      subcommand('client', 'caching', 3, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '6.0.0', summary: 'Instruct the server about tracking or not keys in the next request', complexity: 'O(1)' }),
      subcommand('client', 'info', 2, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '6.2.0', summary: 'Returns information about the current client connection.', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
      subcommand('client', 'kill', -3, 'admin noscript loading stale', { ...conn, acl: 'admin slow dangerous connection', since: '2.4.0', summary: 'Kill the connection of a client', complexity: 'O(N) where N is the number of client connections' }),
      subcommand('client', 'tracking', -3, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '6.0.0', summary: 'Enable or disable server assisted client side caching support', complexity: 'O(1). Some options may introduce additional complexity.' }),
      subcommand('client', 'reply', 3, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '3.2.0', summary: 'Instruct the server whether to reply to commands', complexity: 'O(1)' }),
      subcommand('client', 'unpause', 2, 'admin noscript loading stale', { ...conn, acl: 'admin slow dangerous connection', since: '6.2.0', summary: 'Resume processing of clients that were paused', complexity: 'O(N) Where N is the number of paused clients' }),
      subcommand('client', 'trackinginfo', 2, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '6.2.0', summary: 'Return information about server assisted client side caching for the current connection', complexity: 'O(1)' }),
      subcommand('client', 'list', -2, 'admin noscript loading stale', { ...conn, acl: 'admin slow dangerous connection', since: '2.4.0', summary: 'Get the list of client connections', complexity: 'O(N) where N is the number of client connections', tips: ['nondeterministic_output'] }),
      subcommand('client', 'unblock', -3, 'admin noscript loading stale', { ...conn, acl: 'admin slow dangerous connection', since: '5.0.0', summary: 'Unblock a client blocked in a blocking command from a different connection', complexity: 'O(log N) where N is the number of client connections' }),
      subcommand('client', 'setname', 3, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '2.6.9', summary: 'Set the current connection name', complexity: 'O(1)' }),
      subcommand('client', 'id', 2, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '5.0.0', summary: 'Returns the client ID for the current connection', complexity: 'O(1)' }),
      subcommand('client', 'getname', 2, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '2.6.9', summary: 'Get the current connection name', complexity: 'O(1)' }),
      subcommand('client', 'pause', -3, 'admin noscript loading stale', { ...conn, acl: 'admin slow dangerous connection', since: '2.9.50', summary: 'Stop processing commands from clients for some time', complexity: 'O(1)' }),
      subcommand('client', 'no-touch', 3, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '7.2.0', summary: 'Controls whether commands sent by the client affect the LRU/LFU of accessed keys.', complexity: 'O(1)' }),
      subcommand('client', 'setinfo', 4, 'noscript loading stale', { ...conn, acl: 'slow connection', since: '7.2.0', summary: 'Sets information specific to the client or connection.', complexity: 'O(1)', tips: ['request_policy:all_nodes', 'response_policy:all_succeeded'] }),
      subcommand('client', 'help', 2, 'loading stale', { ...conn, acl: 'slow connection', since: '5.0.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
    ],
  }),
  command('command', -1, 'loading stale', { ...srv, acl: 'slow connection', since: '2.8.13', summary: 'Get array of Redis command details', complexity: 'O(N) where N is the total number of Redis commands', tips: ['nondeterministic_output_order'],
    subcommands: [
      subcommand('command', 'getkeys', -4, 'loading stale', { ...srv, acl: 'slow connection', since: '2.8.13', summary: 'Extract keys given a full Redis command', complexity: 'O(N) where N is the number of arguments to the command' }),
      subcommand('command', 'list', -2, 'loading stale', { ...srv, acl: 'slow connection', since: '7.0.0', summary: 'Get an array of Redis command names', complexity: 'O(N) where N is the total number of Redis commands', tips: ['nondeterministic_output_order'] }),
      subcommand('command', 'docs', -2, 'loading stale', { ...srv, acl: 'slow connection', since: '7.0.0', summary: 'Get array of specific Redis command documentation', complexity: 'O(N) where N is the number of commands to look up', tips: ['nondeterministic_output_order'] }),
      subcommand('command', 'getkeysandflags', -4, 'loading stale', { ...srv, acl: 'slow connection', since: '7.0.0', summary: 'Extract keys and access flags given a full Redis command', complexity: 'O(N) where N is the number of arguments to the command' }),
      subcommand('command', 'info', -2, 'loading stale', { ...srv, acl: 'slow connection', since: '2.8.13', summary: 'Get array of specific Redis command details, or all when no argument is given.', complexity: 'O(N) where N is the number of commands to look up', tips: ['nondeterministic_output_order'] }),
      subcommand('command', 'count', 2, 'loading stale', { ...srv, acl: 'slow connection', since: '2.8.13', summary: 'Get total number of Redis commands', complexity: 'O(1)' }),
      subcommand('command', 'help', 2, 'loading stale', { ...srv, acl: 'slow connection', since: '5.0.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
    ],
  }),
  command('time', 1, 'loading stale fast', { ...srv, acl: 'fast', since: '2.6.0', summary: 'Return the current server time', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
  command('dbsize', 1, 'readonly fast', { ...srv, acl: 'keyspace read fast', since: '1.0.0', summary: 'Return the number of keys in the selected database', complexity: 'O(1)', tips: ['request_policy:all_shards', 'response_policy:agg_sum'] }),
  command('flushdb', -1, 'write', { ...srv, acl: 'keyspace write slow dangerous', since: '1.0.0', summary: 'Remove all keys from the current database', complexity: 'O(N) where N is the number of keys in the selected database', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
  command('flushall', -1, 'write', { ...srv, acl: 'keyspace write slow dangerous', since: '1.0.0', summary: 'Remove all keys from all databases', complexity: 'O(N) where N is the total number of keys in all databases', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
  command('swapdb', 3, 'write fast', { ...srv, acl: 'keyspace write fast dangerous', since: '4.0.0', summary: 'Swaps two Redis databases', complexity: 'O(N) where N is the count of clients watching or blocking on keys from both databases.' }),
  command('lastsave', 1, 'loading stale fast', { ...srv, acl: 'admin fast dangerous', since: '1.0.0', summary: 'Get the UNIX time stamp of the last successful save to disk', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
  command('monitor', 1, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '1.0.0', summary: 'Listen for all requests received by the server in real time' }),
  command('slowlog', -2, '', { ...srv, acl: 'slow', since: '2.2.12', summary: 'A container for slow log commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('slowlog', 'len', 2, 'admin loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.2.12', summary: 'Get the slow log\'s length', complexity: 'O(1)', tips: ['request_policy:all_nodes', 'response_policy:agg_sum', 'nondeterministic_output'] }),
      subcommand('slowlog', 'get', -2, 'admin loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.2.12', summary: 'Get the slow log\'s entries', complexity: 'O(N) where N is the number of entries returned', tips: ['request_policy:all_nodes', 'nondeterministic_output'] }),
      subcommand('slowlog', 'reset', 2, 'admin loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.2.12', summary: 'Clear all entries from the slow log', complexity: 'O(N) where N is the number of entries in the slowlog', tips: ['request_policy:all_nodes', 'response_policy:all_succeeded'] }),
      subcommand('slowlog', 'help', 2, 'loading stale', { ...srv, acl: 'slow', since: '6.2.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
    ],
  }),
  command('latency', -2, '', { ...srv, acl: 'slow', since: '2.8.13', summary: 'A container for latency diagnostics commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('latency', 'help', 2, 'loading stale', { ...srv, acl: 'slow', since: '2.8.13', summary: 'Show helpful text about the different subcommands.', complexity: 'O(1)' }),
      subcommand('latency', 'history', 3, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.8.13', summary: 'Return timestamp-latency samples for the event.', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_nodes', 'response_policy:special'] }),
      subcommand('latency', 'latest', 2, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.8.13', summary: 'Return the latest latency samples for all events.', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_nodes', 'response_policy:special'] }),
      subcommand('latency', 'doctor', 2, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.8.13', summary: 'Return a human readable latency analysis report.', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_nodes', 'response_policy:special'] }),
      subcommand('latency', 'graph', 3, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.8.13', summary: 'Return a latency graph for the event.', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_nodes', 'response_policy:special'] }),
      subcommand('latency', 'histogram', -2, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '7.0.0', summary: 'Return the cumulative distribution of latencies of a subset of commands or all.', complexity: 'O(N) where N is the number of commands with latency information being retrieved.', tips: ['nondeterministic_output', 'request_policy:all_nodes', 'response_policy:special'] }),
      subcommand('latency', 'reset', -2, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '2.8.13', summary: 'Reset latency data for one or more events.', complexity: 'O(1)', tips: ['request_policy:all_nodes', 'response_policy:all_succeeded'] }),
    ],
  }),
  command('shutdown', -1, 'admin noscript loading stale no_multi allow_busy', { ...srv, acl: 'admin slow dangerous', since: '1.0.0', summary: 'Synchronously save the dataset to disk and then shut down the server', complexity: 'O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)' }),
  command('debug', -2, 'admin noscript loading stale', { ...srv, acl: 'admin slow dangerous', since: '1.0.0', summary: 'A container for debugging commands', complexity: 'Depends on subcommand.' }),
  command('memory', -2, '', { ...srv, acl: 'slow', since: '4.0.0', summary: 'A container for memory diagnostics commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('memory', 'doctor', 2, '', { ...srv, acl: 'slow', since: '4.0.0', summary: 'Outputs memory problems report', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'] }),
      subcommand('memory', 'purge', 2, '', { ...srv, acl: 'slow', since: '4.0.0', summary: 'Ask the allocator to release memory', complexity: 'Depends on how much memory is allocated, could be slow', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
      subcommand('memory', 'help', 2, 'loading stale', { ...srv, acl: 'slow', since: '4.0.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
      subcommand('memory', 'usage', -3, 'readonly', { ...srv, acl: 'read slow', since: '4.0.0', summary: 'Estimate the memory usage of a key', complexity: 'O(N) where N is the number of samples.', keys: [keyAt('RO', 2, 0, 1, 0)] }),
      subcommand('memory', 'malloc-stats', 2, '', { ...srv, acl: 'slow', since: '4.0.0', summary: 'Show allocator internal stats', complexity: 'Depends on how much memory is allocated, could be slow', tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'] }),
      subcommand('memory', 'stats', 2, '', { ...srv, acl: 'slow', since: '4.0.0', summary: 'Show memory usage details', complexity: 'O(1)', tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'] }),
    ],
  }),
  command('role', 1, 'noscript loading stale fast', { ...srv, acl: 'admin fast dangerous', since: '2.8.12', summary: 'Return the role of the instance in the context of replication', complexity: 'O(1)' }),
  command('readonly', 1, 'loading stale fast', { ...clu, acl: 'fast connection', since: '3.0.0', summary: 'Enables read queries for a connection to a cluster replica node', complexity: 'O(1)' }),
  command('readwrite', 1, 'loading stale fast', { ...clu, acl: 'fast connection', since: '3.0.0', summary: 'Disables read queries for a connection to a cluster replica node', complexity: 'O(1)' }),
  command('lolwut', -1, 'readonly fast', { ...srv, acl: 'read fast', since: '5.0.0', summary: 'Display some computer art and the Redis version' })

];

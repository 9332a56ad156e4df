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
];

import { command, type CommandSpec } from './spec.js';

const g = { group: 'connection' };
const acl = 'connection';

export const connectionCommands: CommandSpec[] = [
  command('ping', -1, 'fast', { ...g, acl, since: '1.0.0', summary: 'Returns the server\'s liveliness response.', complexity: 'O(1)', tips: ['request_policy:all_shards', 'response_policy:all_succeeded'] }),
  command('echo', 2, 'fast', { ...g, acl, since: '1.0.0', summary: 'Returns the given string.', complexity: 'O(1)' }),
  command('select', 2, 'loading stale fast', { ...g, acl, since: '1.0.0', summary: 'Changes the selected database.', complexity: 'O(1)' }),
  command('auth', -2, 'noscript loading stale fast no_auth allow_busy', { ...g, acl, since: '1.0.0', summary: 'Authenticates the connection.', complexity: 'O(N) where N is the number of passwords defined for the user' }),
  command('hello', -1, 'noscript loading stale fast no_auth allow_busy', { ...g, acl, since: '6.0.0', summary: 'Handshakes with the Redis server.', complexity: 'O(1)' }),
  command('quit', -1, 'noscript loading stale fast no_auth allow_busy', { ...g, acl, since: '1.0.0', summary: 'Closes the connection.', complexity: 'O(1)' }),
  command('reset', 1, 'noscript loading stale fast no_auth allow_busy', { ...g, acl, since: '6.2.0', summary: 'Resets the connection.', complexity: 'O(1)' }),
];

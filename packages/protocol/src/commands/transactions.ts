import { command, keyAt, type CommandSpec } from './spec.js';

const g = { group: 'transactions' };
const acl = 'transaction';

export const transactionCommands: CommandSpec[] = [
  command('multi', 1, 'noscript loading stale fast allow_busy', { ...g, acl, since: '1.2.0', summary: 'Starts a transaction.', complexity: 'O(1)' }),
  command('exec', 1, 'noscript loading stale skip_slowlog', { ...g, acl, since: '1.2.0', summary: 'Executes all commands in a transaction.', complexity: 'Depends on commands in the transaction' }),
  command('discard', 1, 'noscript loading stale fast allow_busy', { ...g, acl, since: '2.0.0', summary: 'Discards a transaction.', complexity: 'O(N), when N is the number of queued commands' }),
  command('watch', -2, 'noscript loading stale fast allow_busy', { ...g, acl, since: '2.2.0', summary: 'Monitors changes to keys to determine the execution of a transaction.', complexity: 'O(1) for every key.', keys: [keyAt('RO', 1, -1, 1)] }),
  command('unwatch', 1, 'noscript loading stale fast allow_busy', { ...g, acl, since: '2.2.0', summary: 'Forgets about watched keys of a transaction.', complexity: 'O(1)' }),
];

import { command, subcommand, keyAt, type CommandSpec } from './spec.js';

const g = { group: 'pubsub' };

export const pubsubCommands: CommandSpec[] = [
  command('subscribe', -2, 'pubsub noscript loading stale', { ...g, since: '2.0.0', summary: 'Listens for messages published to channels.', complexity: 'O(N) where N is the number of channels to subscribe to.' }),
  command('unsubscribe', -1, 'pubsub noscript loading stale', { ...g, since: '2.0.0', summary: 'Stops listening to messages posted to channels.', complexity: 'O(N) where N is the number of channels to unsubscribe.' }),
  command('psubscribe', -2, 'pubsub noscript loading stale', { ...g, since: '2.0.0', summary: 'Listens for messages published to channels that match one or more patterns.', complexity: 'O(N) where N is the number of patterns to subscribe to.' }),
  command('punsubscribe', -1, 'pubsub noscript loading stale', { ...g, since: '2.0.0', summary: 'Stops listening to messages published to channels that match one or more patterns.', complexity: 'O(N) where N is the number of patterns to unsubscribe.' }),
  command('publish', 3, 'pubsub loading stale fast may_replicate', { ...g, since: '2.0.0', summary: 'Posts a message to a channel.', complexity: 'O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).' }),
  command('ssubscribe', -2, 'pubsub noscript loading stale', { ...g, since: '7.0.0', summary: 'Listens for messages published to shard channels.', complexity: 'O(N) where N is the number of shard channels to subscribe to.', keys: [{ ...keyAt('NOT_KEY', 1, -1, 1) }] }),
  command('sunsubscribe', -1, 'pubsub noscript loading stale', { ...g, since: '7.0.0', summary: 'Stops listening to messages posted to shard channels.', complexity: 'O(N) where N is the number of shard channels to unsubscribe.', keys: [{ ...keyAt('NOT_KEY', 1, -1, 1) }] }),
  command('spublish', 3, 'pubsub loading stale fast may_replicate', { ...g, since: '7.0.0', summary: 'Post a message to a shard channel', complexity: 'O(N) where N is the number of clients subscribed to the receiving shard channel.', keys: [keyAt('NOT_KEY', 1)] }),
  command('pubsub', -2, '', {
    ...g,
    since: '2.8.0',
    summary: 'A container for Pub/Sub commands.',
    complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('pubsub', 'channels', -2, 'pubsub loading stale', { ...g, since: '2.8.0', summary: 'Returns the active channels.', complexity: 'O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)' }),
      subcommand('pubsub', 'numsub', -2, 'pubsub loading stale', { ...g, since: '2.8.0', summary: 'Returns a count of subscribers to channels.', complexity: 'O(N) for the NUMSUB subcommand, where N is the number of requested channels' }),
      subcommand('pubsub', 'numpat', 2, 'pubsub loading stale', { ...g, since: '2.8.0', summary: 'Returns a count of unique pattern subscriptions.', complexity: 'O(1)' }),
      subcommand('pubsub', 'shardchannels', -2, 'pubsub loading stale', { ...g, since: '7.0.0', summary: 'Returns the active shard channels.', complexity: 'O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).' }),
      subcommand('pubsub', 'shardnumsub', -2, 'pubsub loading stale', { ...g, since: '7.0.0', summary: 'Returns the count of subscribers of shard channels.', complexity: 'O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels' }),
      subcommand('pubsub', 'help', 2, 'loading stale', { ...g, since: '6.2.0', summary: 'Returns helpful text about the different subcommands.', complexity: 'O(1)' }),
    ],
  }),
];

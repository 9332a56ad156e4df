import { command, keyAt, subcommand, type CommandSpec } from './spec.js';

// The generic (keyspace) family, as COMMAND INFO / COMMAND DOCS of Redis 7.0 declare it.
const g = { group: 'generic' };
const acl = 'keyspace';
const multiShardSum = ['request_policy:multi_shard', 'response_policy:agg_sum'];

const expireSpec = (name: string, since: string, summary: string): CommandSpec =>
  command(name, -3, 'write fast', { ...g, acl, since, summary, complexity: 'O(1)', keys: [keyAt('RW UPDATE', 1)] });

const objectSub = (sub: string, since: string, summary: string): CommandSpec =>
  subcommand('object', sub, 3, 'readonly', { ...g, acl, since, summary, complexity: 'O(1)', keys: [keyAt('RO', 2)], tips: ['nondeterministic_output'] });

export const keyCommands: CommandSpec[] = [
  command('del', -2, 'write', { ...g, acl, since: '1.0.0', summary: 'Delete a key', complexity: 'O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).', keys: [keyAt('RM DELETE', 1, -1)], tips: multiShardSum }),
  command('unlink', -2, 'write fast', { ...g, acl, since: '4.0.0', summary: 'Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.', complexity: 'O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.', keys: [keyAt('RM DELETE', 1, -1)], tips: multiShardSum }),
  command('exists', -2, 'readonly fast', { ...g, acl, since: '1.0.0', summary: 'Determine if a key exists', complexity: 'O(N) where N is the number of keys to check.', keys: [keyAt('RO', 1, -1)], tips: multiShardSum }),
  command('type', 2, 'readonly fast', { ...g, acl, since: '1.0.0', summary: 'Determine the type stored at key', complexity: 'O(1)', keys: [keyAt('RO', 1)] }),
  expireSpec('expire', '1.0.0', "Set a key's time to live in seconds"),
  expireSpec('pexpire', '2.6.0', "Set a key's time to live in milliseconds"),
  expireSpec('expireat', '1.2.0', 'Set the expiration for a key as a UNIX timestamp'),
  expireSpec('pexpireat', '2.6.0', 'Set the expiration for a key as a UNIX timestamp specified in milliseconds'),
  command('ttl', 2, 'readonly fast', { ...g, acl, since: '1.0.0', summary: 'Get the time to live for a key in seconds', complexity: 'O(1)', keys: [keyAt('RO ACCESS', 1)], tips: ['nondeterministic_output'] }),
  command('pttl', 2, 'readonly fast', { ...g, acl, since: '2.6.0', summary: 'Get the time to live for a key in milliseconds', complexity: 'O(1)', keys: [keyAt('RO ACCESS', 1)], tips: ['nondeterministic_output'] }),
  command('expiretime', 2, 'readonly fast', { ...g, acl, since: '7.0.0', summary: 'Get the expiration Unix timestamp for a key', complexity: 'O(1)', keys: [keyAt('RO ACCESS', 1)] }),
  command('pexpiretime', 2, 'readonly fast', { ...g, acl, since: '7.0.0', summary: 'Get the expiration Unix timestamp for a key in milliseconds', complexity: 'O(1)', keys: [keyAt('RO ACCESS', 1)] }),
  command('persist', 2, 'write fast', { ...g, acl, since: '2.2.0', summary: 'Remove the expiration from a key', complexity: 'O(1)', keys: [keyAt('RW UPDATE', 1)] }),
  command('rename', 3, 'write', { ...g, acl, since: '1.0.0', summary: 'Rename a key', complexity: 'O(1)', keys: [keyAt('RW ACCESS DELETE', 1), keyAt('OW UPDATE', 2)] }),
  command('renamenx', 3, 'write fast', { ...g, acl, since: '1.0.0', summary: 'Rename a key, only if the new key does not exist', complexity: 'O(1)', keys: [keyAt('RW ACCESS DELETE', 1), keyAt('OW INSERT', 2)] }),
  command('move', 3, 'write fast', { ...g, acl, since: '1.0.0', summary: 'Move a key to another database', complexity: 'O(1)', keys: [keyAt('RW ACCESS UPDATE', 1)] }),
  command('keys', 2, 'readonly', { ...g, acl: 'keyspace dangerous', since: '1.0.0', summary: 'Find all keys matching the given pattern', complexity: 'O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.', tips: ['request_policy:all_shards', 'nondeterministic_output_order'] }),
  command('scan', -2, 'readonly', { ...g, acl, since: '2.8.0', summary: 'Incrementally iterate the keys space', complexity: 'O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.', tips: ['nondeterministic_output', 'request_policy:special'] }),
  command('randomkey', 1, 'readonly', { ...g, acl, since: '1.0.0', summary: 'Return a random key from the keyspace', complexity: 'O(1)', tips: ['request_policy:all_shards', 'nondeterministic_output'] }),
  command('touch', -2, 'readonly fast', { ...g, acl, since: '3.2.1', summary: 'Alters the last access time of a key(s). Returns the number of existing keys specified.', complexity: 'O(N) where N is the number of keys that will be touched.', keys: [keyAt('RO', 1, -1)], tips: multiShardSum }),
  command('copy', -3, 'write denyoom', { ...g, acl, since: '6.2.0', summary: 'Copy a key', complexity: 'O(N) worst case for collections, where N is the number of nested items. O(1) for string values.', keys: [keyAt('RO ACCESS', 1), keyAt('OW UPDATE', 2)] }),
  command('dump', 2, 'readonly', { ...g, acl, since: '2.6.0', summary: 'Return a serialized version of the value stored at the specified key.', complexity: 'O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).', keys: [keyAt('RO ACCESS', 1)], tips: ['nondeterministic_output'] }),
  command('restore', -4, 'write denyoom', { ...g, acl: 'keyspace dangerous', since: '2.6.0', summary: 'Create a key using the provided serialized value, previously obtained using DUMP.', complexity: 'O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).', keys: [keyAt('OW UPDATE', 1)] }),
  command('object', -2, '', {
    ...g,
    since: '2.2.3',
    summary: 'A container for object introspection commands',
    complexity: 'Depends on subcommand.',
    subcommands: [
      objectSub('encoding', '2.2.3', 'Inspect the internal encoding of a Redis object'),
      objectSub('freq', '4.0.0', 'Get the logarithmic access frequency counter of a Redis object'),
      objectSub('idletime', '2.2.3', 'Get the time since a Redis object was last accessed'),
      objectSub('refcount', '2.2.3', 'Get the number of references to the value of the key'),
      subcommand('object', 'help', 2, 'loading stale', { ...g, acl, since: '6.2.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
    ],
  }),
];

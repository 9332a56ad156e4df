import { command, keyAt, type CommandSpec } from './spec.js';

const g = { group: 'hash', acl: 'hash' };
const order = ['nondeterministic_output_order'];
const nondet = ['nondeterministic_output'];

export const hashCommands: CommandSpec[] = [
  command('hset', -4, 'write denyoom fast', { ...g, since: '2.0.0', summary: 'Set the string value of a hash field', complexity: 'O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.', keys: [keyAt('RW UPDATE', 1)] }),
  command('hsetnx', 4, 'write denyoom fast', { ...g, since: '2.0.0', summary: 'Set the value of a hash field, only if the field does not exist', complexity: 'O(1)', keys: [keyAt('RW INSERT', 1)] }),
  command('hget', 3, 'readonly fast', { ...g, since: '2.0.0', summary: 'Get the value of a hash field', complexity: 'O(1)', keys: [keyAt('RO ACCESS', 1)] }),
  command('hmset', -4, 'write denyoom fast', { ...g, since: '2.0.0', summary: 'Set multiple hash fields to multiple values', complexity: 'O(N) where N is the number of fields being set.', keys: [keyAt('RW UPDATE', 1)] }),
  command('hmget', -3, 'readonly fast', { ...g, since: '2.0.0', summary: 'Get the values of all the given hash fields', complexity: 'O(N) where N is the number of fields being requested.', keys: [keyAt('RO ACCESS', 1)] }),
  command('hdel', -3, 'write fast', { ...g, since: '2.0.0', summary: 'Delete one or more hash fields', complexity: 'O(N) where N is the number of fields to be removed.', keys: [keyAt('RW DELETE', 1)] }),
  command('hlen', 2, 'readonly fast', { ...g, since: '2.0.0', summary: 'Get the number of fields in a hash', complexity: 'O(1)', keys: [keyAt('RO', 1)] }),
  command('hstrlen', 3, 'readonly fast', { ...g, since: '3.2.0', summary: 'Get the length of the value of a hash field', complexity: 'O(1)', keys: [keyAt('RO', 1)] }),
  command('hexists', 3, 'readonly fast', { ...g, since: '2.0.0', summary: 'Determine if a hash field exists', complexity: 'O(1)', keys: [keyAt('RO', 1)] }),
  command('hkeys', 2, 'readonly', { ...g, since: '2.0.0', summary: 'Get all the fields in a hash', complexity: 'O(N) where N is the size of the hash.', keys: [keyAt('RO ACCESS', 1)], tips: order }),
  command('hvals', 2, 'readonly', { ...g, since: '2.0.0', summary: 'Get all the values in a hash', complexity: 'O(N) where N is the size of the hash.', keys: [keyAt('RO ACCESS', 1)], tips: order }),
  command('hgetall', 2, 'readonly', { ...g, since: '2.0.0', summary: 'Get all the fields and values in a hash', complexity: 'O(N) where N is the size of the hash.', keys: [keyAt('RO ACCESS', 1)], tips: order }),
  command('hincrby', 4, 'write denyoom fast', { ...g, since: '2.0.0', summary: 'Increment the integer value of a hash field by the given number', complexity: 'O(1)', keys: [keyAt('RW ACCESS UPDATE', 1)] }),
  command('hincrbyfloat', 4, 'write denyoom fast', { ...g, since: '2.6.0', summary: 'Increment the float value of a hash field by the given amount', complexity: 'O(1)', keys: [keyAt('RW ACCESS UPDATE', 1)] }),
  command('hrandfield', -2, 'readonly', { ...g, since: '6.2.0', summary: 'Get one or multiple random fields from a hash', complexity: 'O(N) where N is the number of fields returned', keys: [keyAt('RO ACCESS', 1)], tips: nondet }),
  command('hscan', -3, 'readonly', { ...g, since: '2.8.0', summary: 'Incrementally iterate hash fields and associated values', complexity: 'O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..', keys: [keyAt('RO ACCESS', 1)], tips: nondet }),
];

import { command, keyAt, keysByCount, type CommandSpec } from './spec.js';

const g = { group: 'set', acl: 'set' };
const order = ['nondeterministic_output_order'];
const nondet = ['nondeterministic_output'];
const allOf = (n: string) => `O(N) where N is the ${n}`;

export const setCommands: CommandSpec[] = [
  command('sadd', -3, 'write denyoom fast', { ...g, since: '1.0.0', summary: 'Add one or more members to a set', complexity: 'O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.', keys: [keyAt('RW INSERT', 1)] }),
  command('srem', -3, 'write fast', { ...g, since: '1.0.0', summary: 'Remove one or more members from a set', complexity: allOf('number of members to be removed.'), keys: [keyAt('RW DELETE', 1)] }),
  command('smembers', 2, 'readonly', { ...g, since: '1.0.0', summary: 'Get all the members in a set', complexity: allOf('set cardinality.'), keys: [keyAt('RO ACCESS', 1)], tips: order }),
  command('sismember', 3, 'readonly fast', { ...g, since: '1.0.0', summary: 'Determine if a given value is a member of a set', complexity: 'O(1)', keys: [keyAt('RO', 1)] }),
  command('smismember', -3, 'readonly fast', { ...g, since: '6.2.0', summary: 'Returns the membership associated with the given elements for a set', complexity: allOf('number of elements being checked for membership'), keys: [keyAt('RO ACCESS', 1)] }),
  command('scard', 2, 'readonly fast', { ...g, since: '1.0.0', summary: 'Get the number of members in a set', complexity: 'O(1)', keys: [keyAt('RO', 1)] }),
  command('spop', -2, 'write fast', { ...g, since: '1.0.0', summary: 'Remove and return one or multiple random members from a set', complexity: 'Without the count argument O(1), otherwise O(N) where N is the value of the passed count.', keys: [keyAt('RW ACCESS DELETE', 1)], tips: nondet }),
  command('srandmember', -2, 'readonly', { ...g, since: '1.0.0', summary: 'Get one or multiple random members from a set', complexity: 'Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.', keys: [keyAt('RO ACCESS', 1)], tips: nondet }),
  command('smove', 4, 'write fast', { ...g, since: '1.0.0', summary: 'Move a member from one set to another', complexity: 'O(1)', keys: [keyAt('RW ACCESS DELETE', 1), keyAt('RW INSERT', 2)] }),
  command('sinter', -2, 'readonly', { ...g, since: '1.0.0', summary: 'Intersect multiple sets', complexity: 'O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.', keys: [keyAt('RO ACCESS', 1, -1)], tips: order }),
  command('sintercard', -3, 'readonly', { ...g, since: '7.0.0', summary: 'Intersect multiple sets and return the cardinality of the result', complexity: 'O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.', keys: [keysByCount('RO ACCESS', 1)] }),
  command('sinterstore', -3, 'write denyoom', { ...g, since: '1.0.0', summary: 'Intersect multiple sets and store the resulting set in a key', complexity: 'O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.', keys: [keyAt('RW UPDATE', 1), keyAt('RO ACCESS', 2, -1)] }),
  command('sunion', -2, 'readonly', { ...g, since: '1.0.0', summary: 'Add multiple sets', complexity: allOf('total number of elements in all given sets.'), keys: [keyAt('RO ACCESS', 1, -1)], tips: order }),
  command('sunionstore', -3, 'write denyoom', { ...g, since: '1.0.0', summary: 'Add multiple sets and store the resulting set in a key', complexity: allOf('total number of elements in all given sets.'), keys: [keyAt('OW UPDATE', 1), keyAt('RO ACCESS', 2, -1)] }),
  command('sdiff', -2, 'readonly', { ...g, since: '1.0.0', summary: 'Subtract multiple sets', complexity: allOf('total number of elements in all given sets.'), keys: [keyAt('RO ACCESS', 1, -1)], tips: order }),
  command('sdiffstore', -3, 'write denyoom', { ...g, since: '1.0.0', summary: 'Subtract multiple sets and store the resulting set in a key', complexity: allOf('total number of elements in all given sets.'), keys: [keyAt('OW UPDATE', 1), keyAt('RO ACCESS', 2, -1)] }),
  command('sscan', -3, 'readonly', { ...g, since: '2.8.0', summary: 'Incrementally iterate Set elements', complexity: 'O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..', keys: [keyAt('RO ACCESS', 1)], tips: nondet }),
];

import { command, keyAt, keysByCount, type CommandSpec } from './spec.js';

const g = { group: 'list' };
const acl = 'list';
const pushCx = 'O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.';
const pop = () => keyAt('RW ACCESS DELETE', 1);
const moveKeys = () => [keyAt('RW ACCESS DELETE', 1), keyAt('RW INSERT', 2)];

export const listCommands: CommandSpec[] = [
  command('lpush', -3, 'write denyoom fast', { ...g, acl, since: '1.0.0', summary: 'Prepend one or multiple elements to a list', complexity: pushCx, keys: [keyAt('RW INSERT', 1)] }),
  command('rpush', -3, 'write denyoom fast', { ...g, acl, since: '1.0.0', summary: 'Append one or multiple elements to a list', complexity: pushCx, keys: [keyAt('RW INSERT', 1)] }),
  command('lpushx', -3, 'write denyoom fast', { ...g, acl, since: '2.2.0', summary: 'Prepend an element to a list, only if the list exists', complexity: pushCx, keys: [keyAt('RW INSERT', 1)] }),
  command('rpushx', -3, 'write denyoom fast', { ...g, acl, since: '2.2.0', summary: 'Append an element to a list, only if the list exists', complexity: pushCx, keys: [keyAt('RW INSERT', 1)] }),
  command('lpop', -2, 'write fast', { ...g, acl, since: '1.0.0', summary: 'Remove and get the first elements in a list', complexity: 'O(N) where N is the number of elements returned', keys: [pop()] }),
  command('rpop', -2, 'write fast', { ...g, acl, since: '1.0.0', summary: 'Remove and get the last elements in a list', complexity: 'O(N) where N is the number of elements returned', keys: [pop()] }),
  command('llen', 2, 'readonly fast', { ...g, acl, since: '1.0.0', summary: 'Get the length of a list', complexity: 'O(1)', keys: [keyAt('RO', 1)] }),
  command('lindex', 3, 'readonly', { ...g, acl, since: '1.0.0', summary: 'Get an element from a list by its index', complexity: 'O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).', keys: [keyAt('RO ACCESS', 1)] }),
  command('lrange', 4, 'readonly', { ...g, acl, since: '1.0.0', summary: 'Get a range of elements from a list', complexity: 'O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.', keys: [keyAt('RO ACCESS', 1)] }),
  command('lset', 4, 'write denyoom', { ...g, acl, since: '1.0.0', summary: 'Set the value of an element in a list by its index', complexity: 'O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).', keys: [keyAt('RW UPDATE', 1)] }),
  command('linsert', 5, 'write denyoom', { ...g, acl, since: '2.2.0', summary: 'Insert an element before or after another element in a list', complexity: 'O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).', keys: [keyAt('RW INSERT', 1)] }),
  command('lrem', 4, 'write', { ...g, acl, since: '1.0.0', summary: 'Remove elements from a list', complexity: 'O(N+M) where N is the length of the list and M is the number of elements removed.', keys: [keyAt('RW DELETE', 1)] }),
  command('ltrim', 4, 'write', { ...g, acl, since: '1.0.0', summary: 'Trim a list to the specified range', complexity: 'O(N) where N is the number of elements to be removed by the operation.', keys: [keyAt('RW DELETE', 1)] }),
  command('lpos', -3, 'readonly', { ...g, acl, since: '6.0.6', summary: 'Return the index of matching elements on a list', complexity: 'O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.', keys: [keyAt('RO ACCESS', 1)] }),
  command('lmove', 5, 'write denyoom', { ...g, acl, since: '6.2.0', summary: 'Pop an element from a list, push it to another list and return it', complexity: 'O(1)', keys: moveKeys() }),
  command('rpoplpush', 3, 'write denyoom', { ...g, acl, since: '1.2.0', summary: 'Remove the last element in a list, prepend it to another list and return it', complexity: 'O(1)', keys: moveKeys() }),
  command('lmpop', -4, 'write', { ...g, acl, since: '7.0.0', summary: 'Pop elements from a list', complexity: 'O(N+M) where N is the number of provided keys and M is the number of elements returned.', keys: [keysByCount('RW ACCESS DELETE', 1)] }),
  command('blpop', -3, 'write noscript blocking', { ...g, acl, since: '2.0.0', summary: 'Remove and get the first element in a list, or block until one is available', complexity: 'O(N) where N is the number of provided keys.', keys: [keyAt('RW ACCESS DELETE', 1, -2)] }),
  command('brpop', -3, 'write noscript blocking', { ...g, acl, since: '2.0.0', summary: 'Remove and get the last element in a list, or block until one is available', complexity: 'O(N) where N is the number of provided keys.', keys: [keyAt('RW ACCESS DELETE', 1, -2)] }),
  command('blmove', 6, 'write denyoom noscript blocking', { ...g, acl, since: '6.2.0', summary: 'Pop an element from a list, push it to another list and return it; or block until one is available', complexity: 'O(1)', keys: moveKeys() }),
  command('brpoplpush', 4, 'write denyoom noscript blocking', { ...g, acl, since: '2.2.0', summary: 'Pop an element from a list, push it to another list and return it; or block until one is available', complexity: 'O(1)', keys: moveKeys() }),
  command('blmpop', -5, 'write blocking', { ...g, acl, since: '7.0.0', summary: 'Pop elements from a list, or block until one is available', complexity: 'O(N+M) where N is the number of provided keys and M is the number of elements returned.', keys: [keysByCount('RW ACCESS DELETE', 2)] }),
];

import { command, subcommand, type CommandSpec } from './spec.js';

// Redis Cluster's interface: CLUSTER and its subcommands, ASKING, READONLY, READWRITE,
// with arity, flags, ACL categories, tips and docs as Redis 7.0 declares them (COMMAND
// INFO/DOCS), plus CLUSTER MYSHARDID (7.2). The node answers them from the controllers'
// configuration (docs/sharding.md); the verbs that change a Redis Cluster's own topology
// (ADDSLOTS, MEET, SETSLOT …) are declared so clients see Redis's table, and answer that
// the controllers own the topology.

const clu = { group: 'cluster' };

export const clusterCommands: CommandSpec[] = [
  command('asking', 1, 'fast', { ...clu, acl: 'fast connection', since: '3.0.0', summary: 'Sent by cluster clients after an -ASK redirect', complexity: 'O(1)' }),
  command('readonly', 1, 'loading stale fast', { ...clu, acl: 'fast connection', since: '3.0.0', summary: 'Enables read queries for a connection to a cluster replica node', complexity: 'O(1)' }),
  command('readwrite', 1, 'loading stale fast', { ...clu, acl: 'fast connection', since: '3.0.0', summary: 'Disables read queries for a connection to a cluster replica node', complexity: 'O(1)' }),
  command('cluster', -2, '', { ...clu, acl: 'slow', since: '3.0.0', summary: 'A container for cluster commands', complexity: 'Depends on subcommand.',
    subcommands: [
      subcommand('cluster', 'addslots', -3, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Assign new hash slots to receiving node', complexity: 'O(N) where N is the total number of hash slot arguments' }),
      subcommand('cluster', 'addslotsrange', -4, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '7.0.0', summary: 'Assign new hash slots to receiving node', complexity: 'O(N) where N is the total number of the slots between the start slot and end slot arguments.' }),
      subcommand('cluster', 'bumpepoch', 2, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Advance the cluster config epoch', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'count-failure-reports', 3, 'admin stale', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Return the number of failure reports active for a given node', complexity: 'O(N) where N is the number of failure reports', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'countkeysinslot', 3, 'stale', { ...clu, acl: 'slow', since: '3.0.0', summary: 'Return the number of local keys in the specified hash slot', complexity: 'O(1)' }),
      subcommand('cluster', 'delslots', -3, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Set hash slots as unbound in receiving node', complexity: 'O(N) where N is the total number of hash slot arguments' }),
      subcommand('cluster', 'delslotsrange', -4, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '7.0.0', summary: 'Set hash slots as unbound in receiving node', complexity: 'O(N) where N is the total number of the slots between the start slot and end slot arguments.' }),
      subcommand('cluster', 'failover', -2, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Forces a replica to perform a manual failover of its master.', complexity: 'O(1)' }),
      subcommand('cluster', 'flushslots', 2, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Delete a node\'s own slots information', complexity: 'O(1)' }),
      subcommand('cluster', 'forget', 3, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Remove a node from the nodes table', complexity: 'O(1)' }),
      subcommand('cluster', 'getkeysinslot', 4, 'stale', { ...clu, acl: 'slow', since: '3.0.0', summary: 'Return local key names in the specified hash slot', complexity: 'O(log(N)) where N is the number of requested keys', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'help', 2, 'loading stale', { ...clu, acl: 'slow', since: '5.0.0', summary: 'Show helpful text about the different subcommands', complexity: 'O(1)' }),
      subcommand('cluster', 'info', 2, 'stale', { ...clu, acl: 'slow', since: '3.0.0', summary: 'Provides info about Redis Cluster node state', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'keyslot', 3, 'stale', { ...clu, acl: 'slow', since: '3.0.0', summary: 'Returns the hash slot of the specified key', complexity: 'O(N) where N is the number of bytes in the key' }),
      subcommand('cluster', 'links', 2, 'stale', { ...clu, acl: 'slow', since: '7.0.0', summary: 'Returns a list of all TCP links to and from peer nodes in cluster', complexity: 'O(N) where N is the total number of Cluster nodes', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'meet', -4, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Force a node cluster to handshake with another node', complexity: 'O(1)' }),
      subcommand('cluster', 'myid', 2, 'stale', { ...clu, acl: 'slow', since: '3.0.0', summary: 'Return the node id', complexity: 'O(1)' }),
      subcommand('cluster', 'myshardid', 2, 'loading stale', { ...clu, acl: 'slow', since: '7.2.0', summary: 'Returns the shard ID of a node.', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'nodes', 2, 'stale', { ...clu, acl: 'slow', since: '3.0.0', summary: 'Get Cluster config for the node', complexity: 'O(N) where N is the total number of Cluster nodes', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'replicas', 3, 'admin stale', { ...clu, acl: 'admin slow dangerous', since: '5.0.0', summary: 'List replica nodes of the specified master node', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'replicate', 3, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Reconfigure a node as a replica of the specified master node', complexity: 'O(1)' }),
      subcommand('cluster', 'reset', -2, 'admin noscript stale', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Reset a Redis Cluster node', complexity: 'O(N) where N is the number of known nodes. The command may execute a FLUSHALL as a side effect.' }),
      subcommand('cluster', 'saveconfig', 2, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Forces the node to save cluster state on disk', complexity: 'O(1)' }),
      subcommand('cluster', 'set-config-epoch', 3, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Set the configuration epoch in a new node', complexity: 'O(1)' }),
      subcommand('cluster', 'setslot', -4, 'admin stale no_async_loading', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'Bind a hash slot to a specific node', complexity: 'O(1)' }),
      subcommand('cluster', 'shards', 2, 'stale', { ...clu, acl: 'slow', since: '7.0.0', summary: 'Get array of cluster slots to node mappings', complexity: 'O(N) where N is the total number of cluster nodes', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'slaves', 3, 'admin stale', { ...clu, acl: 'admin slow dangerous', since: '3.0.0', summary: 'List replica nodes of the specified master node', complexity: 'O(1)', tips: ['nondeterministic_output'] }),
      subcommand('cluster', 'slots', 2, 'stale', { ...clu, acl: 'slow', since: '3.0.0', summary: 'Get array of Cluster slot to node mappings', complexity: 'O(N) where N is the total number of Cluster nodes', tips: ['nondeterministic_output'] }),
    ],
  }),
];

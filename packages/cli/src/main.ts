#!/usr/bin/env node
import { runNode, ConfigError, checkRdbMain, checkAofMain } from '@sonic/node';
import { runController, runAdmin, ControllerConfigError } from '@sonic/controller';
import { runRouter, RouterConfigError } from '@sonic/router';
import { runCluster } from './cluster.js';
import { runUp } from './up.js';
import { runDrill } from './drill.js';
import { runPing } from './ping.js';

const USAGE = `Usage: sonic <command> [options]

Sonic: a Redis-compatible, sharded, replicated in-memory cache.

Commands:
  node        start a node (a Redis-compatible keyspace engine)
  controller  start a controller (Raft group member: configuration, failover, Sentinel protocol)
  router      start a router: one Redis endpoint in front of the whole cluster (plain clients)
  up          start a whole local cluster (controllers, shards, router) with a live status view
  status      print the cluster configuration (shards, nodes, roles, offsets, health, epoch)
  failover    ask the controllers for a manual failover of a shard
  cluster     cluster admin: create, reshard, rebalance, check, add-node, remove-node
  drill       failover and reshard drills under a workload, with a report of what clients lost
  ping        PING a node, router or controller (health checks)
  check-rdb   check an RDB file (as redis-check-rdb)
  check-aof   check (and with --fix, repair) an AOF (as redis-check-aof)
  help        show this help

Run 'sonic <command> --help' for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 1 : 0;
    case 'node':
      await runNode(rest);
      return -1;
    case 'controller':
      return (await runController(rest)) === null ? 0 : -1;
    case 'router':
      return runRouter(rest);
    case 'status':
      return runAdmin('status', rest);
    case 'failover':
      return runAdmin('failover', rest);
    case 'cluster':
      return runCluster(rest);
    case 'up':
      return runUp(rest);
    case 'drill':
      return runDrill(rest);
    case 'ping':
      return runPing(rest);
    case 'check-rdb':
      return checkRdbMain(rest);
    case 'check-aof':
      return checkAofMain(rest);
    default:
      process.stderr.write(`sonic: unknown command '${cmd}' (see sonic --help)\n`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const msg = err instanceof ConfigError || err instanceof ControllerConfigError || err instanceof RouterConfigError ? err.message : err instanceof Error ? err.message : String(err);
    process.stderr.write(`sonic: ${msg}\n`);
    process.exit(1);
  },
);

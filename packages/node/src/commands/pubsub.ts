import { globToRegExp } from '../engine/glob.js';
import type { Client } from '../server/client.js';
import type { HandlerMap } from './types.js';

function confirm(c: Client, kind: string, name: string | null, count: number): void {
  const r = c.reply;
  r.push(3);
  r.bulk(kind);
  if (name === null) r.nil();
  else r.bulk(name);
  r.int(count);
}

function subscribe(c: Client, argv: string[], shard: boolean): void {
  const ps = c.server.pubsub;
  for (let i = 1; i < argv.length; i++) {
    ps.subscribe(c, argv[i]!, shard);
    confirm(c, shard ? 'ssubscribe' : 'subscribe', argv[i]!, shard ? c.shardChannels.size : c.subscriptions);
  }
}

function unsubscribe(c: Client, argv: string[], shard: boolean): void {
  const ps = c.server.pubsub;
  const kind = shard ? 'sunsubscribe' : 'unsubscribe';
  const own = shard ? c.shardChannels : c.channels;
  const list = argv.length > 1 ? argv.slice(1) : [...own];
  if (list.length === 0) {
    confirm(c, kind, null, shard ? c.shardChannels.size : c.subscriptions);
    return;
  }
  for (const ch of list) {
    ps.unsubscribe(c, ch, shard);
    confirm(c, kind, ch, shard ? c.shardChannels.size : c.subscriptions);
  }
}

/** Delivers to this node's subscribers (the reply counts them, as Redis) and, in a cluster, forwards. */
function publish(c: Client, argv: string[], shard: boolean): void {
  const ps = c.server.pubsub;
  c.reply.int(ps.publish(argv[1]!, argv[2]!, shard));
  if (ps.forward !== null) ps.forward(argv[1]!, argv[2]!, shard);
}

export const pubsubHandlers: HandlerMap = {
  subscribe: (c, argv) => subscribe(c, argv, false),
  ssubscribe: (c, argv) => subscribe(c, argv, true),
  unsubscribe: (c, argv) => unsubscribe(c, argv, false),
  sunsubscribe: (c, argv) => unsubscribe(c, argv, true),
  psubscribe: (c, argv) => {
    for (let i = 1; i < argv.length; i++) {
      c.server.pubsub.psubscribe(c, argv[i]!);
      confirm(c, 'psubscribe', argv[i]!, c.subscriptions);
    }
  },
  punsubscribe: (c, argv) => {
    const list = argv.length > 1 ? argv.slice(1) : [...c.patterns];
    if (list.length === 0) {
      confirm(c, 'punsubscribe', null, c.subscriptions);
      return;
    }
    for (const p of list) {
      c.server.pubsub.punsubscribe(c, p);
      confirm(c, 'punsubscribe', p, c.subscriptions);
    }
  },
  publish: (c, argv) => publish(c, argv, false),
  spublish: (c, argv) => publish(c, argv, true),
  'pubsub|channels': (c, argv) => {
    const re = argv.length > 2 ? globToRegExp(argv[2]!) : null;
    c.reply.bulks([...c.server.pubsub.channels.keys()].filter((ch) => re === null || re.test(ch)));
  },
  'pubsub|shardchannels': (c, argv) => {
    const re = argv.length > 2 ? globToRegExp(argv[2]!) : null;
    c.reply.bulks([...c.server.pubsub.shardChannels.keys()].filter((ch) => re === null || re.test(ch)));
  },
  'pubsub|numsub': (c, argv) => {
    c.reply.map(argv.length - 2);
    for (let i = 2; i < argv.length; i++) {
      c.reply.bulk(argv[i]!);
      c.reply.int(c.server.pubsub.channels.get(argv[i]!)?.size ?? 0);
    }
  },
  'pubsub|shardnumsub': (c, argv) => {
    c.reply.map(argv.length - 2);
    for (let i = 2; i < argv.length; i++) {
      c.reply.bulk(argv[i]!);
      c.reply.int(c.server.pubsub.shardChannels.get(argv[i]!)?.size ?? 0);
    }
  },
  'pubsub|numpat': (c) => c.reply.int(c.server.pubsub.patterns.size),
  'pubsub|help': (c) =>
    c.reply.bulks([
      'PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
      'CHANNELS [<pattern>]',
      '    Return the currently active channels matching a <pattern> (default: \'*\').',
      'NUMPAT',
      '    Return number of subscriptions to patterns.',
      'NUMSUB [<channel> ...]',
      '    Return the number of subscribers for the specified channels, excluding',
      '    pattern subscriptions(default: no channels).',
      'SHARDCHANNELS [<pattern>]',
      '    Return the currently active shard level channels matching a <pattern> (default: \'*\').',
      'SHARDNUMSUB [<shardchannel> ...]',
      '    Return the number of subscribers for the specified shard level channel(s)',
      'HELP',
      '    Prints this help.',
    ]),
};

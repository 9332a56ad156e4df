/**
 * Commands the router answers itself or spreads over the cluster, by command name (a
 * subcommand is `container|sub`). Everything else is forwarded by its keys
 * (Session.forward). Split commands (MGET, DEL, ...) are sent per slot and gathered;
 * keyless ones that concern the whole data set go to every primary.
 */
import { Err, keyHashSlot, lookupCommand, type CommandSpec } from '@sonic/protocol';
import { Request } from './backend.js';
import { OK, PONG, bulkArray, bulkReply, errorReply, intReply, mapReply, nullReply, textReply } from './encode.js';
import { elements } from './scanner.js';
import { CROSS, type Session } from './session.js';
import { pubsubHandlers } from './pubsub.js';
import { transactionHandlers } from './transactions.js';
import { routerInfo } from './info.js';

export type Handler = (s: Session, args: string[], spec: CommandSpec) => void;

const NOT_INT = errorReply(Err.notInteger);

// ------------------------------------------------------------------ gathering

type Part = { args: string[]; slot: number; shard?: string };

/** Sends `parts` (each with its slot, or a shard id for "every primary"); `onAll` gets the replies in part order. */
export function scatter(s: Session, parts: Part[], spec: CommandSpec, onAll: (replies: Buffer[]) => void): void {
  const replies: Buffer[] = new Array(parts.length);
  let left = parts.length;
  if (left === 0) return onAll(replies);
  const retrySafe = spec.isReadonly && !spec.isWrite;
  parts.forEach((p, i) => {
    const r = new Request(p.args, spec, p.slot, retrySafe, s);
    r.shard = p.shard ?? null;
    r.cb = (_r, reply) => {
      replies[i] = reply;
      if (--left === 0) onAll(replies);
    };
    s.router.route(r);
  });
}

/** The first error reply among `replies`, or null. */
function firstError(replies: Buffer[]): Buffer | null {
  for (const r of replies) if (r[0] === 45 || r[0] === 33) return r;
  return null;
}

/** Answers `entry` (flushing the client). */
function answer(s: Session, entry: Request, reply: Buffer): void {
  entry.reply = reply;
  s.ready();
}

/**
 * Scatter, then answer the client once all replied: the first error if any, else
 * combine(replies in part order).
 */
export function gather(s: Session, parts: Part[], spec: CommandSpec, combine: (replies: Buffer[]) => Buffer): void {
  const entry = s.later();
  scatter(s, parts, spec, (replies) => {
    let reply: Buffer;
    try {
      reply = firstError(replies) ?? combine(replies);
    } catch (e) {
      reply = errorReply(`ERR router: ${(e as Error).message}`);
    }
    answer(s, entry, reply);
  });
}

/** One part per primary (by shard id, so a failover in between finds the new primary). */
function everyPrimary(s: Session, args: string[]): Part[] {
  const m = s.router.map;
  if (m === null) return [];
  return m.shards.filter((x) => x.primary !== null).map((x) => ({ args, slot: -1, shard: x.id }));
}

function intOf(reply: Buffer): number {
  return Number(reply.latin1Slice(1, reply.length - 2));
}

/** Keys grouped by slot, in first-seen order: [slot, argument indexes]. */
function bySlot(args: string[], first: number, step: number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = first; i < args.length; i += step) {
    const slot = keyHashSlot(args[i]!);
    const g = groups.get(slot);
    if (g === undefined) groups.set(slot, [i]);
    else g.push(i);
  }
  return groups;
}

/** DEL, UNLINK, EXISTS, TOUCH: per slot, the integers summed. */
const sumPerSlot: Handler = (s, args, spec) => {
  const groups = bySlot(args, 1, 1);
  if (groups.size === 1) return s.forward(args, spec);
  const parts = [...groups].map(([slot, idx]) => ({ args: [args[0]!, ...idx.map((i) => args[i]!)], slot }));
  gather(s, parts, spec, (rs) => intReply(rs.reduce((n, r) => n + intOf(r), 0)));
};

/** MGET: per slot, the values put back in the order of the keys. */
const mget: Handler = (s, args, spec) => {
  const groups = bySlot(args, 1, 1);
  if (groups.size === 1) return s.forward(args, spec);
  const slots = [...groups];
  const parts = slots.map(([slot, idx]) => ({ args: ['MGET', ...idx.map((i) => args[i]!)], slot }));
  gather(s, parts, spec, (rs) => {
    const out: Buffer[] = new Array(args.length);
    out[0] = Buffer.from(`*${args.length - 1}\r\n`);
    rs.forEach((r, k) => {
      const el = elements(r);
      const idx = slots[k]![1];
      if (el === null || el.count !== idx.length) throw new Error('unexpected MGET reply');
      for (let j = 0; j < idx.length; j++) out[idx[j]!] = r.subarray(el.offsets[j]!, el.offsets[j + 1]!);
    });
    return Buffer.concat(out);
  });
};

/** MSET: per slot; OK when every part is. */
const mset: Handler = (s, args, spec) => {
  if (args.length % 2 === 0) return s.fail(errorReply(Err.wrongArity(spec.name)));
  const groups = bySlot(args, 1, 2);
  if (groups.size === 1) return s.forward(args, spec);
  const parts = [...groups].map(([slot, idx]) => ({ args: ['MSET', ...idx.flatMap((i) => [args[i]!, args[i + 1]!])], slot }));
  gather(s, parts, spec, () => OK);
};

/**
 * MSETNX across slots: EXISTS of every key first; when none exists, MSETNX per slot.
 * All or nothing holds unless another client creates one of the keys between the two
 * steps (then the slots whose keys were still free are set and the answer is 0): the
 * weaker guarantee of docs/router.md. Keys in one slot go to their node unchanged.
 */
const msetnx: Handler = (s, args, spec) => {
  if (args.length % 2 === 0) return s.fail(errorReply(Err.wrongArity(spec.name)));
  const groups = bySlot(args, 1, 2);
  if (groups.size === 1) return s.forward(args, spec);
  const entry = s.later();
  const existsSpec = lookupCommand('exists')!;
  const exists = [...groups].map(([slot, idx]) => ({ args: ['EXISTS', ...idx.map((i) => args[i]!)], slot }));
  scatter(s, exists, existsSpec, (rs) => {
    const err = firstError(rs);
    if (err !== null) return answer(s, entry, err);
    if (rs.some((r) => intOf(r) > 0)) return answer(s, entry, intReply(0));
    const sets = [...groups].map(([slot, idx]) => ({ args: ['MSETNX', ...idx.flatMap((i) => [args[i]!, args[i + 1]!])], slot }));
    scatter(s, sets, spec, (rs2) => answer(s, entry, firstError(rs2) ?? intReply(rs2.every((r) => intOf(r) === 1) ? 1 : 0)));
  });
};

// ------------------------------------------------------------------ keyless, cluster-wide

const dbsize: Handler = (s, args, spec) => gather(s, everyPrimary(s, args), spec, (rs) => intReply(rs.reduce((n, r) => n + intOf(r), 0)));

const keys: Handler = (s, args, spec) =>
  gather(s, everyPrimary(s, args), spec, (rs) => {
    let n = 0;
    const body: Buffer[] = [];
    for (const r of rs) {
      const el = elements(r);
      if (el === null) continue;
      n += el.count;
      body.push(r.subarray(el.offsets[0]!, el.offsets[el.count]!));
    }
    return Buffer.concat([Buffer.from(`*${n}\r\n`), ...body]);
  });

/** FLUSHALL, FLUSHDB, SCRIPT FLUSH, FUNCTION FLUSH: every primary; OK when all are. */
const onEveryPrimary: Handler = (s, args, spec) => gather(s, everyPrimary(s, args), spec, (rs) => rs[0] ?? OK);

/**
 * SCAN across shards: the router's cursor is the shard's index (in the configuration's
 * shard order) in bits 48 and up, and the node's own cursor below.
 */
const SHIFT = 48n;
const LOW = (1n << SHIFT) - 1n;
const scan: Handler = (s, args, spec) => {
  const c = args[1]!;
  if (!/^\d{1,20}$/.test(c) || BigInt(c) > 0xffffffffffffffffn) return s.fail(errorReply('ERR invalid cursor'));
  const m = s.router.map;
  const shards = m === null ? [] : m.shards.filter((x) => x.primary !== null);
  const cursor = BigInt(c);
  let idx = Number(cursor >> SHIFT);
  if (idx >= shards.length) return s.local(Buffer.from('*2\r\n$1\r\n0\r\n*0\r\n'));
  // COUNT: how many keys to gather before answering (a shard that ends early hands over to the next one).
  let want = 10;
  for (let i = 2; i + 1 < args.length; i += 2) if (args[i]!.toLowerCase() === 'count') want = Number(args[i + 1]) || 10;
  const entry = s.later();
  const found: Buffer[] = [];
  let n = 0;
  const step = (nodeCursor: bigint) => {
    const nodeArgs = [args[0]!, String(nodeCursor), ...args.slice(2)];
    scatter(s, [{ args: nodeArgs, slot: -1, shard: shards[idx]!.id }], spec, ([r]) => {
      const err = firstError([r!]);
      if (err !== null) return answer(s, entry, err);
      const el = elements(r!);
      const keysAt = el === null ? -1 : el.offsets[1]!;
      const ks = el === null || el.count !== 2 ? null : elements(r!.subarray(keysAt, el.offsets[2]!));
      if (el === null || ks === null) return answer(s, entry, errorReply('ERR router: unexpected SCAN reply'));
      const cur = r!.subarray(el.offsets[0]!, el.offsets[1]!);
      const next = BigInt(cur.latin1Slice(cur.indexOf(10) + 1, cur.length - 2));
      n += ks.count;
      if (ks.count > 0) found.push(r!.subarray(keysAt + ks.offsets[0]!, keysAt + ks.offsets[ks.count]!));
      let out = 0n;
      if (next > LOW) return answer(s, entry, errorReply('ERR router: node cursor too large to encode'));
      if (next !== 0n) out = (BigInt(idx) << SHIFT) | next;
      else if (idx + 1 < shards.length) {
        idx++;
        if (n < want) return step(0n);
        out = BigInt(idx) << SHIFT;
      }
      const os = String(out);
      answer(s, entry, Buffer.concat([Buffer.from(`*2\r\n$${os.length}\r\n${os}\r\n*${n}\r\n`), ...found]));
    });
  };
  step(cursor & LOW);
};

const randomkey: Handler = (s, args, spec) => {
  const parts = everyPrimary(s, args);
  for (let i = parts.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  }
  gather(s, parts, spec, (rs) => rs.find((r) => r[0] === 36 && r[1] !== 45) ?? nullReply(s.proto));
};

const info: Handler = (s, args, spec) => {
  const sections = args.slice(1).map((a) => a.toLowerCase());
  const wantKeyspace = sections.length === 0 || sections.some((x) => x === 'keyspace' || x === 'all' || x === 'everything' || x === 'default');
  const parts = wantKeyspace ? everyPrimary(s, ['INFO', 'keyspace']) : [];
  gather(s, parts, spec, (rs) => {
    let keysN = 0;
    let expires = 0;
    for (const r of rs) {
      const text = r.latin1Slice(r.indexOf(10) + 1, r.length - 2);
      const m = /db0:keys=(\d+),expires=(\d+)/.exec(text);
      if (m) {
        keysN += Number(m[1]);
        expires += Number(m[2]);
      }
    }
    return textReply(s.proto, routerInfo(s.router, sections, wantKeyspace ? { keys: keysN, expires } : null));
  });
};

/** SCRIPT LOAD, FUNCTION LOAD/DELETE/RESTORE: every primary; the first reply (they agree). */
const everywhere: Handler = (s, args, spec) => gather(s, everyPrimary(s, args), spec, (rs) => rs[0] ?? OK);

// ------------------------------------------------------------------ connection (local)

const ping: Handler = (s, args) => {
  // A subscribed RESP2 client gets PING's pub/sub form.
  if (s.proto === 2 && s.pubsub?.active) {
    const a = args[1] ?? '';
    return s.local(Buffer.from(`*2\r\n$4\r\npong\r\n$${a.length}\r\n${a}\r\n`, 'latin1'));
  }
  s.local(args.length > 1 ? bulkReply(args[1]!) : PONG);
};
const echo: Handler = (s, args) => s.local(bulkReply(args[1]!));
const quit: Handler = (s) => {
  s.local(OK);
  s.quit();
};
const select: Handler = (s, args) => {
  const v = args[1]!;
  if (!/^-?\d+$/.test(v)) return s.fail(NOT_INT);
  s.local(Number(v) === 0 ? OK : errorReply('ERR DB index is out of range'));
};
const time: Handler = (s) => {
  const us = BigInt(Date.now()) * 1000n + BigInt(Math.floor(Number(process.hrtime.bigint() % 1000n)));
  s.local(bulkArray([String(us / 1000000n), String(us % 1000000n)]));
};

/** AUTH [user] password: against --requirepass (user "default"). */
function checkAuth(s: Session, user: string, pass: string): Buffer | null {
  const want = s.router.opts.requirepass;
  // Without --requirepass the default user has no password (Redis's "nopass"): any is accepted.
  if (user === 'default' && (want === '' || pass === want)) {
    s.setAuthed(true);
    return null;
  }
  return errorReply(Err.wrongPass);
}

const auth: Handler = (s, args) => {
  if (s.router.opts.requirepass === '' && args.length === 2) {
    return s.local(errorReply('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?'));
  }
  if (args.length > 3) return s.fail(errorReply(Err.syntax));
  const err = args.length === 2 ? checkAuth(s, 'default', args[1]!) : checkAuth(s, args[1]!, args[2]!);
  s.local(err ?? OK);
};

const hello: Handler = (s, args) => {
  let proto = s.proto;
  if (args.length > 1) {
    const v = args[1]!;
    if (!/^-?\d+$/.test(v)) return s.local(errorReply('ERR Protocol version is not an integer or out of range'));
    const n = Number(v);
    if (n !== 2 && n !== 3) return s.local(errorReply('NOPROTO unsupported protocol version'));
    proto = n;
  }
  let name: string | null = null;
  for (let i = 2; i < args.length; i++) {
    const opt = args[i]!.toLowerCase();
    if (opt === 'auth' && i + 2 < args.length) {
      const err = checkAuth(s, args[i + 1]!, args[i + 2]!);
      if (err !== null) return s.local(err);
      i += 2;
    } else if (opt === 'setname' && i + 1 < args.length) {
      name = args[++i]!;
    } else return s.local(errorReply(`ERR Syntax error in HELLO option '${args[i]}'`));
  }
  if (!s.authed) return s.local(errorReply('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time'));
  if (name !== null) s.name = name;
  s.proto = proto;
  s.local(
    mapReply(proto, [
      ['server', 'redis'],
      ['version', '7.0.15'],
      ['proto', proto],
      ['id', s.id],
      ['mode', 'standalone'],
      ['role', 'master'],
      ['modules', Buffer.from('*0\r\n')],
    ]),
  );
};

const clientSetname: Handler = (s, args) => {
  const n = args[2]!;
  if (/[\s]/.test(n) || /[^\x21-\x7e]/.test(n)) return s.local(errorReply('ERR Client names cannot contain spaces, newlines or special characters.'));
  s.name = n === '' ? null : n;
  s.local(OK);
};
const clientGetname: Handler = (s) => s.local(s.name === null ? nullReply(s.proto) : bulkReply(s.name));
const clientId: Handler = (s) => s.local(intReply(s.id));
const clientInfo: Handler = (s) => s.local(textReply(s.proto, clientLine(s) + '\n'));
const clientList: Handler = (s) => s.local(textReply(s.proto, [...s.router.sessions].map(clientLine).join('\n') + '\n'));
const okLocal: Handler = (s) => s.local(OK);
function clientLine(s: Session): string {
  const a = s.socket;
  return `id=${s.id} addr=${a.remoteAddress}:${a.remotePort} laddr=${a.localAddress}:${a.localPort} name=${s.name ?? ''} db=0 resp=${s.proto}`;
}
const notHere: Handler = (s, _args, spec) => s.local(errorReply(`ERR '${spec.name.toUpperCase().replace('|', ' ')}' is not supported through the router`));

const reset: Handler = (s) => {
  s.tx.close();
  s.pubsub?.close();
  s.pubsub = null;
  s.proto = 2;
  s.name = null;
  if (s.router.opts.requirepass !== '') s.setAuthed(false);
  s.local(Buffer.from('+RESET\r\n'));
};

// ------------------------------------------------------------------ blocking

function isBlocking(args: string[], spec: CommandSpec): boolean {
  if (spec.name === 'xread' || spec.name === 'xreadgroup') return args.some((a) => a.length === 5 && a.toLowerCase() === 'block');
  return true;
}

const blocking: Handler = (s, args, spec) => {
  if (!isBlocking(args, spec)) return s.forward(args, spec);
  const slot = s.slotOf(args, spec);
  if (slot === CROSS) return s.local(errorReply(Err.crossSlot));
  s.forwardBlocking(args, spec, slot);
};

/** WAIT: on the node of the client's last write (a dedicated connection: it blocks). */
const wait: Handler = (s, args, spec) => s.forwardBlocking(args, spec, s.lastWriteSlot);

const BLOCKING = ['blpop', 'brpop', 'blmove', 'brpoplpush', 'blmpop', 'bzpopmin', 'bzpopmax', 'bzmpop', 'xread', 'xreadgroup'];

export const HANDLERS = new Map<string, Handler>([
  ['ping', ping],
  ['echo', echo],
  ['quit', quit],
  ['select', select],
  ['time', time],
  ['auth', auth],
  ['hello', hello],
  ['reset', reset],
  ['client|setname', clientSetname],
  ['client|getname', clientGetname],
  ['client|id', clientId],
  ['client|info', clientInfo],
  ['client|list', clientList],
  ['client|setinfo', okLocal],
  ['client|no-evict', okLocal],
  ['client|no-touch', okLocal],
  ['client|kill', notHere],
  ['client|pause', notHere],
  ['client|unpause', notHere],
  ['client|unblock', notHere],
  ['client|tracking', notHere],
  ['client|caching', notHere],
  ['client|reply', notHere],
  ['client|getredir', notHere],
  ['client|trackinginfo', notHere],
  ['swapdb', notHere],
  ['move', notHere],
  ['monitor', notHere],
  ['sync', notHere],
  ['psync', notHere],
  ['replicaof', notHere],
  ['slaveof', notHere],
  ['failover', notHere],
  ['shutdown', notHere],
  ['mget', mget],
  ['mset', mset],
  ['msetnx', msetnx],
  ['del', sumPerSlot],
  ['unlink', sumPerSlot],
  ['exists', sumPerSlot],
  ['touch', sumPerSlot],
  ['dbsize', dbsize],
  ['keys', keys],
  ['scan', scan],
  ['randomkey', randomkey],
  ['flushall', onEveryPrimary],
  ['flushdb', onEveryPrimary],
  ['info', info],
  ['script|load', everywhere],
  ['script|flush', onEveryPrimary],
  ['function|load', everywhere],
  ['function|delete', everywhere],
  ['function|flush', onEveryPrimary],
  ['function|restore', everywhere],
  ['wait', wait],
  ...BLOCKING.map((n) => [n, blocking] as [string, Handler]),
  ...pubsubHandlers,
  ...transactionHandlers,
]);

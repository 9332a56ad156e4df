import { writeFileSync, readFileSync, renameSync } from 'node:fs';
import { COMMANDS, Err, Proto, keyPositions, lookupCommand, lookupSubcommand, type CommandSpec, type KeySpec, type ReplyWriter } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { infoText, bytesToHuman, dictOverhead } from '../server/info.js';
import { keyBytes, EXPIRE_ENTRY } from '../engine/memory.js';
import { globToRegExp } from '../engine/glob.js';
import { Kind, parseInteger, parseFloatArg, typeName, type Value } from '../engine/values.js';
import { REDIS_COMPAT_VERSION, SONIC_VERSION } from './connection.js';
import { ConfigError, findSetting, normalise } from '../config/config.js';
import { SETTINGS } from '../config/settings.js';
import type { HandlerMap } from './types.js';
import { datasetDigest, valueDigestHex } from '../replication/digest.js';

/** Writes a HELP reply: the title line then the lines, as Redis's addReplyHelp. */
export function helpReply(c: Client, container: string, lines: readonly string[]): void {
  const all = [
    `${container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`,
    ...lines,
    'HELP',
    '    Prints this help.',
  ];
  c.reply.array(all.length);
  for (const l of all) c.reply.simple(l);
}

// ------------------------------------------------------------------ INFO

function infoCommand(c: Client, argv: string[]): void {
  c.reply.verbatim(infoText(c.server, argv.slice(1)));
}

// ------------------------------------------------------------------ CONFIG

const GLOB_CHARS = /[*?[\\]/;

function configGetCommand(c: Client, argv: string[]): void {
  const cfg = c.server.config;
  const out = new Map<string, string>();
  for (const p of argv.slice(2)) {
    if (!GLOB_CHARS.test(p)) {
      // An exact name answers under the name as asked (alias or any case), as Redis does.
      const st = findSetting(p);
      if (st) out.set(p, cfg.get(st.name));
      continue;
    }
    for (const [k, v] of cfg.match([p])) out.set(k, v);
  }
  c.reply.map(out.size);
  for (const [k, v] of out) {
    c.reply.bulk(k);
    c.reply.bulk(v);
  }
}

/** CONFIG SET name value [name value ...]: all pairs are checked before any applies. */
function configSetCommand(c: Client, argv: string[]): void {
  if ((argv.length - 2) % 2 !== 0) {
    c.reply.error(Err.syntax);
    return;
  }
  const cfg = c.server.config;
  const pairs: { name: string; arg: string; value: string }[] = [];
  const seen = new Set<string>();
  for (let i = 2; i < argv.length; i += 2) {
    const arg = argv[i]!;
    const st = findSetting(arg);
    if (!st) {
      c.reply.error(`ERR Unknown option or number of arguments for CONFIG SET - '${arg}'`);
      return;
    }
    const fail = (why: string) => c.reply.error(`ERR CONFIG SET failed (possibly related to argument '${arg}') - ${why}`);
    if (seen.has(st.name)) return fail('duplicate parameter');
    seen.add(st.name);
    if (st.immutable) return fail("can't set immutable config");
    try {
      pairs.push({ name: st.name, arg, value: normalise(st, argv[i + 1]!) });
    } catch (err) {
      if (err instanceof ConfigError) return fail(err.message);
      throw err;
    }
  }
  const before = pairs.map((p) => cfg.get(p.name));
  let k = 0;
  try {
    for (; k < pairs.length; k++) cfg.set(pairs[k]!.name, pairs[k]!.value, true);
  } catch (err) {
    // Roll back what was applied, then report the failing one.
    for (let j = k - 1; j >= 0; j--) cfg.set(pairs[j]!.name, before[j]!, true);
    const msg = err instanceof Error ? err.message : String(err);
    c.reply.error(`ERR CONFIG SET failed (possibly related to argument '${pairs[k]?.arg}') - ${msg}`);
    return;
  }
  c.reply.ok();
}

function configResetstatCommand(c: Client): void {
  resetStats(c);
  c.reply.ok();
}

/** CONFIG RESETSTAT: counters, command and error stats. */
export function resetStats(c: Client): void {
  const srv = c.server;
  for (const k of Object.keys(srv.stats) as (keyof typeof srv.stats)[]) srv.stats[k] = 0;
  srv.commandStats.clear();
  srv.errorStats.clear();
  const ks = srv.keyspace.stats;
  ks.keyspaceHits = ks.keyspaceMisses = ks.expiredKeys = ks.evictedKeys = 0;
  srv.memoryPeak = 0;
  srv.latencyHistograms.reset();
}

/** Quotes a config value for a redis.conf line when it needs quotes. */
function confValue(name: string, v: string): string {
  if (v === '') return '""';
  // Multi-word settings are written as words (the loader joins them back).
  if (name === 'save' || name === 'client-output-buffer-limit' || name === 'replicaof' || name === 'bind' || name === 'oom-score-adj-values' || name === 'latency-tracking-info-percentiles')
    return v;
  if (/^[\x21-\x7e]+$/.test(v) && !/["'\\]/.test(v)) return v;
  let out = '"';
  for (const ch of v) {
    const code = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 32 || code > 126) out += '\\x' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

/**
 * CONFIG REWRITE: rewrites the file the node started with. Lines of settings keep their
 * place with the current value; other lines (comments, blanks) stay; settings that
 * differ from their default and had no line are appended.
 */
function configRewriteCommand(c: Client): void {
  const cfg = c.server.config;
  const file = cfg.file;
  if (file === null) {
    c.reply.error('ERR The server is running without a config file');
    return;
  }
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    old = '';
  }
  const written = new Set<string>();
  const out: string[] = [];
  for (const line of old.split(/\r?\n/)) {
    const t = line.trim();
    const word = t.split(/\s+/)[0] ?? '';
    const st = t === '' || t.startsWith('#') ? undefined : findSetting(word);
    if (st === undefined) {
      if (t !== '# Generated by CONFIG REWRITE') out.push(line);
      continue;
    }
    if (written.has(st.name)) continue; // later lines of a multi-line setting
    written.add(st.name);
    out.push(`${st.name} ${confValue(st.name, cfg.get(st.name))}`);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  const extra: string[] = [];
  for (const st of SETTINGS) {
    if (written.has(st.name)) continue;
    const v = cfg.get(st.name);
    if (v === st.default) continue;
    extra.push(`${st.name} ${confValue(st.name, v)}`);
  }
  if (extra.length > 0) out.push('# Generated by CONFIG REWRITE', ...extra);
  try {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, out.join('\n') + '\n');
    renameSync(tmp, file);
  } catch (err) {
    c.server.log.warn({ err, file }, 'CONFIG REWRITE failed');
    c.reply.error(`ERR Rewriting config file: ${(err as Error).message}`);
    return;
  }
  c.server.log.info({ file }, 'CONFIG REWRITE executed with success');
  c.reply.ok();
}

function configHelpCommand(c: Client): void {
  helpReply(c, 'CONFIG', [
    'GET <pattern>',
    '    Return parameters matching the glob-like <pattern> and their values.',
    'SET <directive> <value>',
    '    Set the configuration <directive> to <value>.',
    'RESETSTAT',
    '    Reset statistics reported by the INFO command.',
    'REWRITE',
    '    Rewrite the configuration file.',
  ]);
}

// ------------------------------------------------------------------ CLIENT

/** Redis accepts names and lib info made of printable ASCII without spaces. */
function validClientString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 33 || ch > 126) return false;
  }
  return true;
}

function socketFd(c: Client): number {
  const h = (c.socket as unknown as { _handle?: { fd?: number } } | null)?._handle;
  return typeof h?.fd === 'number' ? h.fd : -1;
}

type ClientType = 'normal' | 'pubsub' | 'master' | 'replica';

function clientType(c: Client): ClientType {
  return c.inPubSub ? 'pubsub' : 'normal';
}

function parseClientType(s: string): ClientType | null {
  const t = s.toLowerCase();
  if (t === 'normal' || t === 'pubsub' || t === 'master') return t;
  if (t === 'replica' || t === 'slave') return 'replica';
  return null;
}

/** One CLIENT LIST line (Redis 7 fields, then 7.2's lib-name/lib-ver). */
export function clientInfoLine(c: Client, self: Client, currentCmd: string): string {
  const now = Date.now();
  const qbuf = c.parser.buffered;
  const omem = c.socket?.writableLength ?? 0;
  let multiMem = 0;
  if (c.multi !== null) for (const q of c.multi) for (const a of q.argv) multiMem += a.length + 16;
  const obl = c.reply.size;
  const cmd = c === self ? currentCmd : c.lastCommand;
  const totMem = qbuf + omem + obl + multiMem + 1024;
  const events = omem > 0 ? 'rw' : 'r';
  return (
    `id=${c.id} addr=${c.addr} laddr=${c.laddr} fd=${socketFd(c)} name=${c.name} age=${Math.floor((now - c.createdAt) / 1000)} ` +
    `idle=${Math.floor((now - c.lastInteraction) / 1000)} flags=${c.flagString} db=${c.db.id} sub=${c.channels.size} psub=${c.patterns.size} ` +
    `ssub=${c.shardChannels.size} multi=${c.multi === null ? -1 : c.multi.length} qbuf=${qbuf} qbuf-free=0 argv-mem=0 ` +
    `multi-mem=${multiMem} rbs=${obl} rbp=${obl} obl=${obl} oll=0 omem=${omem} tot-mem=${totMem} events=${events} cmd=${cmd} ` +
    `user=${c.user} redir=-1 resp=${c.reply.proto === Proto.RESP3 ? 3 : 2} lib-name=${c.libName} lib-ver=${c.libVer}`
  );
}

function clientIdCommand(c: Client): void {
  c.reply.int(c.id);
}

function clientSetnameCommand(c: Client, argv: string[]): void {
  const name = argv[2]!;
  if (!validClientString(name)) {
    c.reply.error('ERR Client names cannot contain spaces, newlines or special characters.');
    return;
  }
  c.name = name;
  c.reply.ok();
}

function clientGetnameCommand(c: Client): void {
  if (c.name === '') c.reply.nil();
  else c.reply.bulk(c.name);
}

function clientSetinfoCommand(c: Client, argv: string[]): void {
  const attr = argv[2]!.toLowerCase();
  const val = argv[3]!;
  if (attr !== 'lib-name' && attr !== 'lib-ver') {
    c.reply.error(`ERR Unrecognized option '${argv[2]}'`);
    return;
  }
  if (!validClientString(val)) {
    c.reply.error(`ERR ${attr} cannot contain spaces, newlines or special characters.`);
    return;
  }
  if (attr === 'lib-name') c.libName = val;
  else c.libVer = val;
  c.reply.ok();
}

function clientListCommand(c: Client, argv: string[]): void {
  let list = [...c.server.clients.values()];
  if (argv.length > 2) {
    const opt = argv[2]!.toLowerCase();
    if (opt === 'type' && argv.length === 4) {
      const t = parseClientType(argv[3]!);
      if (t === null) {
        c.reply.error(`ERR Unknown client type '${argv[3]}'`);
        return;
      }
      list = list.filter((x) => clientType(x) === t);
    } else if (opt === 'id' && argv.length >= 4) {
      const ids = new Set<number>();
      for (const a of argv.slice(3)) {
        const n = parseInteger(a);
        if (typeof n !== 'number' || n <= 0) {
          c.reply.error('ERR Invalid client ID');
          return;
        }
        ids.add(n);
      }
      list = [...ids].map((id) => c.server.clients.get(id)).filter((x): x is Client => x !== undefined);
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  c.reply.verbatim(list.map((x) => clientInfoLine(x, c, 'client|list') + '\n').join(''));
}

function clientInfoCommand(c: Client): void {
  c.reply.verbatim(clientInfoLine(c, c, 'client|info') + '\n');
}

function clientKillCommand(c: Client, argv: string[]): void {
  const srv = c.server;
  if (argv.length === 3) {
    // Old form: CLIENT KILL addr:port.
    const target = [...srv.clients.values()].find((x) => x.addr === argv[2]);
    if (target === undefined) {
      c.reply.error('ERR No such client');
      return;
    }
    c.reply.ok();
    srv.closeClient(target, target === c);
    return;
  }
  if ((argv.length - 2) % 2 !== 0) {
    c.reply.error(Err.syntax);
    return;
  }
  let id: number | null = null;
  let addr: string | null = null;
  let laddr: string | null = null;
  let type: ClientType | null = null;
  let user: string | null = null;
  let skipMe = true;
  let maxAge: number | null = null;
  for (let i = 2; i < argv.length; i += 2) {
    const opt = argv[i]!.toLowerCase();
    const v = argv[i + 1]!;
    if (opt === 'id') {
      const n = parseInteger(v);
      if (typeof n !== 'number' || n <= 0) {
        c.reply.error('ERR client-id should be greater than 0');
        return;
      }
      id = n;
    } else if (opt === 'addr') addr = v;
    else if (opt === 'laddr') laddr = v;
    else if (opt === 'type') {
      type = parseClientType(v);
      if (type === null) {
        c.reply.error(`ERR Unknown client type '${v}'`);
        return;
      }
    } else if (opt === 'user') {
      if (v !== 'default') {
        c.reply.error(`ERR No such user '${v}'`);
        return;
      }
      user = v;
    } else if (opt === 'skipme') {
      const l = v.toLowerCase();
      if (l === 'yes') skipMe = true;
      else if (l === 'no') skipMe = false;
      else {
        c.reply.error(Err.syntax);
        return;
      }
    } else if (opt === 'maxage') {
      const n = parseInteger(v);
      if (typeof n !== 'number' || n < 0) {
        c.reply.error(Err.syntax);
        return;
      }
      maxAge = n;
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  const now = Date.now();
  const victims: Client[] = [];
  for (const x of srv.clients.values()) {
    if (id !== null && x.id !== id) continue;
    if (addr !== null && x.addr !== addr) continue;
    if (laddr !== null && x.laddr !== laddr) continue;
    if (type !== null && clientType(x) !== type) continue;
    if (user !== null && x.user !== user) continue;
    if (maxAge !== null && now - x.createdAt < maxAge * 1000) continue;
    if (skipMe && x === c) continue;
    victims.push(x);
  }
  c.reply.int(victims.length);
  for (const x of victims) srv.closeClient(x, x === c);
}

function clientPauseCommand(c: Client, argv: string[]): void {
  const ms = parseInteger(argv[2]!);
  if (typeof ms !== 'number') {
    c.reply.error('ERR timeout is not an integer or out of range');
    return;
  }
  if (ms < 0) {
    c.reply.error('ERR timeout is negative');
    return;
  }
  let writeOnly = false;
  if (argv.length === 4) {
    const mode = argv[3]!.toLowerCase();
    if (mode === 'write') writeOnly = true;
    else if (mode !== 'all') {
      c.reply.error('ERR CLIENT PAUSE mode must be WRITE or ALL');
      return;
    }
  } else if (argv.length > 4) {
    c.reply.error(Err.syntax);
    return;
  }
  c.server.pauseClients(ms, writeOnly);
  c.reply.ok();
}

function clientUnpauseCommand(c: Client): void {
  c.reply.ok();
  // Resume the held clients after this reply is queued.
  queueMicrotask(() => c.server.unpause());
}

function clientReplyCommand(c: Client, argv: string[]): void {
  const mode = argv[2]!.toLowerCase();
  if (mode === 'on') {
    c.replyMode = 'on';
    c.skipNext = false;
    c.reply.ok();
  } else if (mode === 'off') {
    c.replyMode = 'off';
  } else if (mode === 'skip') {
    if (c.replyMode === 'on') c.skipNext = true;
  } else {
    c.reply.error(Err.syntax);
  }
}

function clientUnblockCommand(c: Client, argv: string[]): void {
  const id = parseInteger(argv[2]!);
  if (typeof id !== 'number') {
    c.reply.error(Err.notInteger);
    return;
  }
  let withError = false;
  if (argv.length === 4) {
    const how = argv[3]!.toLowerCase();
    if (how === 'error') withError = true;
    else if (how !== 'timeout') {
      c.reply.error('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
      return;
    }
  } else if (argv.length > 4) {
    c.reply.error(Err.syntax);
    return;
  }
  const target = c.server.clients.get(id);
  c.reply.int(target !== undefined && c.server.unblockClient(target, withError) ? 1 : 0);
}

function onOff(c: Client, argv: string[], set: (on: boolean) => void): void {
  const v = argv[2]!.toLowerCase();
  if (v === 'on' || v === 'off') {
    set(v === 'on');
    c.reply.ok();
  } else c.reply.error(Err.syntax);
}

function clientTrackingCommand(c: Client, argv: string[]): void {
  const v = argv[2]!.toLowerCase();
  if (v === 'off') {
    c.reply.ok();
    return;
  }
  if (v !== 'on') {
    c.reply.error(Err.syntax);
    return;
  }
  c.reply.error('ERR client-side caching (CLIENT TRACKING ON) is not supported by Sonic yet');
}

function clientCachingCommand(c: Client): void {
  c.reply.error('ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled');
}

function clientTrackinginfoCommand(c: Client): void {
  const r = c.reply;
  r.map(3);
  r.bulk('flags');
  r.set(1);
  r.simple('off');
  r.bulk('redirect');
  r.int(-1);
  r.bulk('prefixes');
  r.array(0);
}

function clientHelpCommand(c: Client): void {
  helpReply(c, 'CLIENT', [
    'CACHING (YES|NO)',
    '    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.',
    'GETREDIR',
    '    Return the client ID we are redirecting to when tracking is enabled.',
    'GETNAME',
    '    Return the name of the current connection.',
    'ID',
    '    Return the ID of the current connection.',
    'INFO',
    '    Return information about the current client connection.',
    'KILL <ip:port>',
    '    Kill connection made from <ip:port>.',
    'KILL <option> <value> [<option> <value> [...]]',
    '    Kill connections. Options are:',
    '    * ADDR (<ip:port>|<unixsocket>:0)',
    '      Kill connections made from the specified address',
    '    * LADDR (<ip:port>|<unixsocket>:0)',
    '      Kill connections made to specified local address',
    '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
    '      Kill connections by type.',
    '    * USER <username>',
    '      Kill connections authenticated by <username>.',
    '    * SKIPME (YES|NO)',
    '      Skip killing current connection (default: yes).',
    '    * ID <client-id>',
    '      Kill connections by client id.',
    '    * MAXAGE <maxage>',
    '      Kill connections older than the specified age.',
    'LIST [options ...]',
    '    Return information about client connections. Options:',
    '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
    '      Return clients of specified type.',
    'UNPAUSE',
    '    Stop the current client pause, resuming traffic.',
    'PAUSE <timeout> [WRITE|ALL]',
    '    Suspend all, or just write, clients for <timeout> milliseconds.',
    'REPLY (ON|OFF|SKIP)',
    '    Control the replies sent to the current connection.',
    'SETNAME <name>',
    '    Assign the name <name> to the current connection.',
    'SETINFO <option> <value>',
    '    Set client meta attr. Options are:',
    '    * LIB-NAME: the client lib name.',
    '    * LIB-VER: the client lib version.',
    'UNBLOCK <clientid> [TIMEOUT|ERROR]',
    '    Unblock the specified blocked client.',
    'TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]',
    '         [OPTIN] [OPTOUT] [NOLOOP]',
    '    Control server assisted client side caching.',
    'TRACKINGINFO',
    '    Report tracking status for the current connection.',
    'NO-EVICT (ON|OFF)',
    '    Protect current client connection from eviction.',
    'NO-TOUCH (ON|OFF)',
    "    Will not touch LRU/LFU stats when this mode is on.",
  ]);
}

// ------------------------------------------------------------------ COMMAND

/** Key spec flags as COMMAND shows them: RW/RO/OW/RM upper case, the rest lower case. */
function keyFlagName(f: string): string {
  return f === 'RW' || f === 'RO' || f === 'OW' || f === 'RM' ? f : f.toLowerCase();
}

function writeKeySpec(r: ReplyWriter, ks: KeySpec): void {
  r.map(ks.notes !== undefined ? 4 : 3);
  if (ks.notes !== undefined) {
    r.bulk('notes');
    r.bulk(ks.notes);
  }
  r.bulk('flags');
  r.set(ks.flags.length);
  for (const f of ks.flags) r.simple(keyFlagName(f));
  r.bulk('begin_search');
  r.map(2);
  r.bulk('type');
  if ('index' in ks.begin) {
    r.bulk('index');
    r.bulk('spec');
    r.map(1);
    r.bulk('index');
    r.int(ks.begin.index);
  } else {
    r.bulk('keyword');
    r.bulk('spec');
    r.map(2);
    r.bulk('keyword');
    r.bulk(ks.begin.keyword);
    r.bulk('startfrom');
    r.int(ks.begin.startFrom);
  }
  r.bulk('find_keys');
  r.map(2);
  r.bulk('type');
  if ('range' in ks.find) {
    r.bulk('range');
    r.bulk('spec');
    r.map(3);
    r.bulk('lastkey');
    r.int(ks.find.range.lastKey);
    r.bulk('keystep');
    r.int(ks.find.range.step);
    r.bulk('limit');
    r.int(ks.find.range.limit);
  } else {
    r.bulk('keynum');
    r.bulk('spec');
    r.map(3);
    r.bulk('keynumidx');
    r.int(ks.find.keynum.keyNumIdx);
    r.bulk('firstkey');
    r.int(ks.find.keynum.firstKey);
    r.bulk('keystep');
    r.int(ks.find.keynum.step);
  }
}

const FLAG_ORDER_LIST = [
  'write', 'readonly', 'denyoom', 'module', 'admin', 'pubsub', 'noscript', 'blocking', 'loading', 'stale', 'skip_monitor', 'skip_slowlog',
  'asking', 'fast', 'no_auth', 'may_replicate', 'sentinel', 'only_sentinel', 'no_mandatory_keys', 'protected', 'module_getkeys',
  'module_no_cluster', 'no_async_loading', 'no_multi', 'movablekeys', 'allow_busy',
];

/** One COMMAND INFO entry, in Redis 7's shape. */
export function writeCommandInfo(r: ReplyWriter, spec: CommandSpec): void {
  r.array(10);
  r.bulk(spec.name);
  r.int(spec.arity);
  const flags = FLAG_ORDER_LIST.filter((f) => spec.flags.has(f));
  for (const f of spec.flags) if (!flags.includes(f)) flags.push(f);
  r.set(flags.length);
  for (const f of flags) r.simple(f);
  r.int(spec.firstKey);
  r.int(spec.lastKey);
  r.int(spec.step);
  r.set(spec.acl.length);
  for (const a of spec.acl) r.simple('@' + a);
  r.set(spec.tips.length);
  for (const t of spec.tips) r.bulk(t);
  r.set(spec.keySpecs.length);
  for (const ks of spec.keySpecs) writeKeySpec(r, ks);
  if (spec.subcommands !== null) {
    r.array(spec.subcommands.size);
    for (const sub of spec.subcommands.values()) writeCommandInfo(r, sub);
  } else r.set(0);
}

function writeCommandDocs(r: ReplyWriter, spec: CommandSpec): void {
  const n = 3 + (spec.complexity !== undefined ? 1 : 0) + (spec.subcommands !== null ? 1 : 0);
  r.map(n);
  r.bulk('summary');
  r.bulk(spec.summary);
  r.bulk('since');
  r.bulk(spec.since);
  r.bulk('group');
  r.bulk(spec.group);
  if (spec.complexity !== undefined) {
    r.bulk('complexity');
    r.bulk(spec.complexity);
  }
  if (spec.subcommands !== null) {
    r.bulk('subcommands');
    r.map(spec.subcommands.size);
    for (const sub of spec.subcommands.values()) {
      r.bulk(sub.name);
      writeCommandDocs(r, sub);
    }
  }
}

/** Finds `name` or `container|sub`. */
function findCommand(name: string): CommandSpec | undefined {
  const bar = name.indexOf('|');
  if (bar < 0) return lookupCommand(name);
  const parent = lookupCommand(name.slice(0, bar));
  return parent ? lookupSubcommand(parent, name.slice(bar + 1)) : undefined;
}

function commandCommand(c: Client): void {
  c.reply.array(COMMANDS.size);
  for (const spec of COMMANDS.values()) writeCommandInfo(c.reply, spec);
}

function commandCountCommand(c: Client): void {
  c.reply.int(COMMANDS.size);
}

function commandInfoCommand(c: Client, argv: string[]): void {
  if (argv.length === 2) {
    commandCommand(c);
    return;
  }
  c.reply.array(argv.length - 2);
  for (const name of argv.slice(2)) {
    const spec = findCommand(name);
    if (spec === undefined) c.reply.nil();
    else writeCommandInfo(c.reply, spec);
  }
}

function commandDocsCommand(c: Client, argv: string[]): void {
  const specs = argv.length === 2 ? [...COMMANDS.values()] : argv.slice(2).map(findCommand).filter((s): s is CommandSpec => s !== undefined);
  c.reply.map(specs.length);
  for (const spec of specs) {
    c.reply.bulk(spec.name);
    writeCommandDocs(c.reply, spec);
  }
}

function allCommandNames(): CommandSpec[] {
  const out: CommandSpec[] = [];
  for (const spec of COMMANDS.values()) {
    out.push(spec);
    if (spec.subcommands) for (const sub of spec.subcommands.values()) out.push(sub);
  }
  return out;
}

function commandListCommand(c: Client, argv: string[]): void {
  let list = allCommandNames();
  if (argv.length > 2) {
    if (argv.length !== 5 || argv[2]!.toLowerCase() !== 'filterby') {
      c.reply.error(Err.syntax);
      return;
    }
    const kind = argv[3]!.toLowerCase();
    const arg = argv[4]!;
    if (kind === 'module') list = [];
    else if (kind === 'aclcat') list = list.filter((s) => s.acl.includes(arg.toLowerCase().replace(/^@/, '')));
    else if (kind === 'pattern') {
      const re = globToRegExp(arg, true);
      list = list.filter((s) => re.test(s.name));
    } else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  c.reply.array(list.length);
  for (const s of list) c.reply.bulk(s.name);
}

/**
 * The key positions of a full command (COMMAND GETKEYS), per key spec, or an error
 * reply already written (returns null then).
 */
function commandKeys(c: Client, argv: string[]): { pos: number; spec: KeySpec }[] | null {
  const full = argv.slice(2);
  let spec = lookupCommand(full[0]!);
  if (spec !== undefined && spec.subcommands !== null) {
    spec = full.length >= 2 ? lookupSubcommand(spec, full[1]!) : undefined;
  }
  if (spec === undefined) {
    c.reply.error('ERR Invalid command specified');
    return null;
  }
  if ((spec.arity > 0 && full.length !== spec.arity) || full.length < -spec.arity) {
    c.reply.error('ERR Invalid number of arguments specified for command');
    return null;
  }
  if (spec.keySpecs.length === 0) {
    c.reply.error('ERR The command has no key arguments');
    return null;
  }
  const out: { pos: number; spec: KeySpec }[] = [];
  for (const ks of spec.keySpecs) {
    if ('keynum' in ks.find && 'index' in ks.begin) {
      // A numkeys argument must be a count that fits the arguments.
      const raw = full[ks.begin.index + ks.find.keynum.keyNumIdx];
      const n = raw === undefined ? null : parseInteger(raw);
      const first = ks.begin.index + ks.find.keynum.firstKey;
      if (typeof n !== 'number' || n < 0 || first + (n - 1) * ks.find.keynum.step >= full.length) {
        c.reply.error('ERR Invalid arguments specified for command');
        return null;
      }
    }
    for (const pos of keyPositions({ ...spec, keySpecs: [ks] }, full)) out.push({ pos, spec: ks });
  }
  if (out.length === 0 && !spec.flags.has('no_mandatory_keys')) {
    c.reply.error('ERR Invalid arguments specified for command');
    return null;
  }
  return out;
}

function commandGetkeysCommand(c: Client, argv: string[]): void {
  const keys = commandKeys(c, argv);
  if (keys === null) return;
  c.reply.array(keys.length);
  for (const k of keys) c.reply.bulk(argv[k.pos + 2]!);
}

function commandGetkeysandflagsCommand(c: Client, argv: string[]): void {
  const keys = commandKeys(c, argv);
  if (keys === null) return;
  c.reply.array(keys.length);
  for (const k of keys) {
    c.reply.array(2);
    c.reply.bulk(argv[k.pos + 2]!);
    c.reply.set(k.spec.flags.length);
    for (const f of k.spec.flags) c.reply.simple(keyFlagName(f));
  }
}

function commandHelpCommand(c: Client): void {
  helpReply(c, 'COMMAND', [
    '(no subcommand)',
    '    Return details about all Redis commands.',
    'COUNT',
    '    Return the total number of commands in this Redis server.',
    'LIST',
    '    Return a list of all commands in this Redis server.',
    'INFO [<command-name> ...]',
    '    Return details about multiple Redis commands.',
    '    If no command names are given, documentation details for all',
    '    commands are returned.',
    'DOCS [<command-name> ...]',
    '    Return documentation details about multiple Redis commands.',
    '    If no command names are given, documentation details for all',
    '    commands are returned.',
    'GETKEYS <full-command>',
    '    Return the keys from a full Redis command.',
    'GETKEYSANDFLAGS <full-command>',
    '    Return the keys and the access flags from a full Redis command.',
  ]);
}

// ------------------------------------------------------------------ keyspace-wide

function timeCommand(c: Client): void {
  const us = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  c.reply.array(2);
  c.reply.bulk(String(us / 1000000n));
  c.reply.bulk(String(us % 1000000n));
}

function dbsizeCommand(c: Client): void {
  c.reply.int(c.db.dict.size);
}

function flushMode(c: Client, argv: string[], at: number): boolean {
  if (argv.length > at + 1) {
    c.reply.error(Err.syntax);
    return false;
  }
  if (argv.length === at + 1) {
    const m = argv[at]!.toLowerCase();
    if (m !== 'async' && m !== 'sync') {
      c.reply.error(Err.syntax);
      return false;
    }
  }
  return true;
}

function flushdbCommand(c: Client, argv: string[]): void {
  if (!flushMode(c, argv, 1)) return;
  c.db.flush();
  c.server.propagate(c.db, argv);
  c.reply.ok();
}

function flushallCommand(c: Client, argv: string[]): void {
  if (!flushMode(c, argv, 1)) return;
  for (const db of c.server.keyspace.dbs) db.flush();
  c.server.propagate(c.db, argv);
  c.reply.ok();
}

function swapdbCommand(c: Client, argv: string[]): void {
  const a = parseInteger(argv[1]!);
  if (typeof a !== 'number') {
    c.reply.error('ERR invalid first DB index');
    return;
  }
  const b = parseInteger(argv[2]!);
  if (typeof b !== 'number') {
    c.reply.error('ERR invalid second DB index');
    return;
  }
  const ks = c.server.keyspace;
  if (a < 0 || b < 0 || a >= ks.dbs.length || b >= ks.dbs.length) {
    c.reply.error('ERR DB index is out of range');
    return;
  }
  if (a !== b) ks.swap(a, b);
  ks.dirty++;
  c.server.propagate(c.db, argv);
  c.reply.ok();
}

function lastsaveCommand(c: Client): void {
  c.reply.int(c.server.lastSave);
}

function monitorCommand(c: Client): void {
  if (c.monitor) return;
  c.monitor = true;
  c.server.monitors.add(c);
  c.reply.ok();
}

function roleCommand(c: Client): void {
  if (c.server.replication !== null) {
    c.server.replication.role3(c);
    return;
  }
  c.reply.array(3);
  c.reply.bulk('master');
  c.reply.int(0);
  c.reply.array(0);
}

function lolwutCommand(c: Client, argv: string[]): void {
  if (argv.length > 1 && (argv.length !== 3 || argv[1]!.toLowerCase() !== 'version' || parseInteger(argv[2]!) === null)) {
    c.reply.error(Err.syntax);
    return;
  }
  const art = [
    '   ____              _     ',
    '  / ___|  ___  _ __ (_) ___',
    "  \\___ \\ / _ \\| '_ \\| |/ __|",
    '   ___) | (_) | | | | | (__ ',
    '  |____/ \\___/|_| |_|_|\\___|',
    '',
  ].join('\n');
  c.reply.verbatim(`${art}\nSonic ver. ${SONIC_VERSION}, speaking Redis ver. ${REDIS_COMPAT_VERSION}\n`);
}

// ------------------------------------------------------------------ SLOWLOG and LATENCY

function slowlogGetCommand(c: Client, argv: string[]): void {
  let count = 10;
  if (argv.length === 3) {
    const n = parseInteger(argv[2]!);
    if (typeof n !== 'number' || n < -1) {
      c.reply.error('ERR count should be greater than or equal to -1');
      return;
    }
    count = n === -1 ? Infinity : n;
  } else if (argv.length > 3) {
    c.reply.error(Err.syntax);
    return;
  }
  const entries = c.server.slowlog.entries.slice(0, count === Infinity ? undefined : count);
  const r = c.reply;
  r.array(entries.length);
  for (const e of entries) {
    r.array(6);
    r.int(e.id);
    r.int(e.time);
    r.int(e.usec);
    r.bulks(e.argv);
    r.bulk(e.addr);
    r.bulk(e.name);
  }
}

function slowlogHelpCommand(c: Client): void {
  helpReply(c, 'SLOWLOG', [
    'GET [<count>]',
    '    Return top <count> entries from the slowlog (default: 10, -1 mean all).',
    '    Entries are made of:',
    '    id, timestamp, time in microseconds, arguments array, client IP and port,',
    '    client name',
    'LEN',
    '    Return the length of the slowlog.',
    'RESET',
    '    Reset the slowlog.',
  ]);
}

function latencyLatestCommand(c: Client): void {
  const events = c.server.latency.events;
  c.reply.array(events.size);
  for (const [name, ev] of events) {
    const last = ev.samples[ev.samples.length - 1]!;
    c.reply.array(4);
    c.reply.bulk(name);
    c.reply.int(last.time);
    c.reply.int(last.ms);
    c.reply.int(ev.max);
  }
}

function latencyHistoryCommand(c: Client, argv: string[]): void {
  const ev = c.server.latency.events.get(argv[2]!);
  const samples = ev?.samples ?? [];
  c.reply.array(samples.length);
  for (const s of samples) {
    c.reply.array(2);
    c.reply.int(s.time);
    c.reply.int(s.ms);
  }
}

function latencyResetCommand(c: Client, argv: string[]): void {
  c.reply.int(c.server.latency.reset(argv.slice(2)));
}

function latencyGraphCommand(c: Client, argv: string[]): void {
  const name = argv[2]!;
  const ev = c.server.latency.events.get(name);
  if (ev === undefined || ev.samples.length === 0) {
    c.reply.error(`ERR No samples available for event '${name}'`);
    return;
  }
  const now = Math.floor(Date.now() / 1000);
  const lines = [`${name} - high ${ev.max} ms, low ${Math.min(...ev.samples.map((s) => s.ms))} ms (all time high ${ev.max} ms)`, '-'.repeat(80)];
  for (const s of ev.samples) {
    const bar = '#'.repeat(Math.max(1, Math.round((s.ms / Math.max(1, ev.max)) * 60)));
    lines.push(`${String(now - s.time).padStart(6)}s ago ${bar} ${s.ms} ms`);
  }
  c.reply.verbatim(lines.join('\n') + '\n');
}

function latencyDoctorCommand(c: Client): void {
  const srv = c.server;
  if (srv.config.int('latency-monitor-threshold') === 0 && srv.latency.events.size === 0) {
    c.reply.verbatim(
      "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n",
    );
    return;
  }
  if (srv.latency.events.size === 0) {
    c.reply.verbatim('Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n');
    return;
  }
  const lines = ['Dave, I have observed latency spikes in this Redis instance. You don\'t mind talking about it, do you Dave?', ''];
  let i = 1;
  for (const [name, ev] of srv.latency.events) {
    const avg = Math.round(ev.samples.reduce((a, s) => a + s.ms, 0) / ev.samples.length);
    lines.push(`${i++}. ${name}: ${ev.samples.length} latency spikes (average ${avg}ms, mean deviation 0ms, period ${0} sec). Worst all time event ${ev.max}ms.`);
  }
  lines.push('', 'I have a few advices for you:', '', '- Check your slow log (SLOWLOG GET) for the commands that took longest.');
  c.reply.verbatim(lines.join('\n') + '\n');
}

function latencyHistogramCommand(c: Client, argv: string[]): void {
  const stats = c.server.commandStats;
  const names = argv.length > 2 ? argv.slice(2).map((n) => n.toLowerCase()) : [...stats.keys()];
  const found = names.filter((n, i) => names.indexOf(n) === i && (stats.get(n)?.calls ?? 0) > 0);
  const r = c.reply;
  r.map(found.length);
  for (const n of found) {
    const st = stats.get(n)!;
    r.bulk(n);
    r.map(2);
    r.bulk('calls');
    r.int(st.calls);
    r.bulk('histogram_usec');
    // One bucket at the power of two above the mean: Sonic keeps sums, not distributions.
    const mean = st.usec / st.calls;
    r.map(1);
    r.int(2 ** Math.max(0, Math.ceil(Math.log2(Math.max(1, mean)))));
    r.int(st.calls);
  }
}

function latencyHelpCommand(c: Client): void {
  helpReply(c, 'LATENCY', [
    'DOCTOR',
    '    Return a human readable latency analysis report.',
    'GRAPH <event>',
    '    Return an ASCII latency graph for the <event> class.',
    'HISTORY <event>',
    '    Return time-latency samples for the <event> class.',
    'LATEST',
    '    Return the latest latency samples for all events.',
    'RESET [<event> ...]',
    '    Reset latency data of one or more <event> classes.',
    '    (default: reset all data for all event classes)',
    'HISTOGRAM [COMMAND ...]',
    '    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.',
    '    If no commands are specified then all histograms are replied.',
  ]);
}

// ------------------------------------------------------------------ SHUTDOWN and DEBUG

function shutdownCommand(c: Client, argv: string[]): void {
  let save: boolean | null = null;
  let abort = false;
  let other = false;
  for (const a of argv.slice(1)) {
    const o = a.toLowerCase();
    if (o === 'nosave' && save === null) save = false;
    else if (o === 'save' && save === null) save = true;
    else if (o === 'now' || o === 'force') other = true;
    else if (o === 'abort') abort = true;
    else {
      c.reply.error(Err.syntax);
      return;
    }
  }
  if (abort) {
    if (save !== null || other) c.reply.error(Err.syntax);
    else c.reply.error('ERR No shutdown in progress.');
    return;
  }
  c.server.log.warn({ client: c.id, addr: c.addr, save }, 'User requested shutdown...');
  void c.server.shutdown('SHUTDOWN', save);
}

function debugAllowed(c: Client): boolean {
  const mode = c.server.config.get('enable-debug-command');
  if (mode === 'yes') return true;
  if (mode === 'local') return c.socket === null || /^(127\.|\[::1\])/.test(c.addr);
  return false;
}

/** Blocks the whole process for `ms`, as DEBUG SLEEP blocks redis-server. */
function sleepSync(ms: number): void {
  if (ms <= 0) return;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function debugCommand(c: Client, argv: string[]): void {
  if (!debugAllowed(c)) {
    c.reply.error(
      'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.',
    );
    return;
  }
  const sub = argv[1]!.toLowerCase();
  if (sub === 'help') {
    helpReply(c, 'DEBUG', [
      'OBJECT <key>',
      '    Show low level info about the <key> and associated value.',
      'SET-ACTIVE-EXPIRE <0|1>',
      '    Setting it to 0 disables expiring keys in background when they are not accessed (otherwise the Redis behavior). Setting it to 1 reenables back the default.',
      'QUICKLIST-PACKED-THRESHOLD <size>',
      '    Sets the threshold for elements to be inserted as plain vs packed nodes',
      'SLEEP <seconds>',
      '    Stop the server for <seconds>. Decimals allowed.',
    ]);
    return;
  }
  if (sub === 'sleep' && argv.length === 3) {
    const secs = parseFloatArg(argv[2]!);
    if (secs === null || !Number.isFinite(secs)) {
      c.reply.error(Err.notFloat);
      return;
    }
    sleepSync(Math.round(secs * 1000));
    c.reply.ok();
    return;
  }
  if (sub === 'set-active-expire' && argv.length === 3) {
    const n = parseInteger(argv[2]!);
    if (typeof n !== 'number') {
      c.reply.error(Err.notInteger);
      return;
    }
    c.server.activeExpire = n !== 0;
    c.reply.ok();
    return;
  }
  if (sub === 'digest' && argv.length === 2) {
    c.reply.simple(datasetDigest(c.server.keyspace));
    return;
  }
  if (sub === 'digest-value') {
    c.reply.array(argv.length - 2);
    for (const key of argv.slice(2)) c.reply.simple(valueDigestHex(c.db, key));
    return;
  }
  if (sub === 'quicklist-packed-threshold' && argv.length === 3) {
    c.reply.ok();
    return;
  }
  if (sub === 'object' && argv.length === 3) {
    const key = argv[2]!;
    c.db.expireIfNeeded(key);
    const v = c.db.dict.get(key);
    if (v === undefined) {
      c.reply.error(Err.noSuchKey);
      return;
    }
    c.reply.simple(
      `Value at:0x0 refcount:1 encoding:${encodingOf(v)} serializedlength:${typeof v === 'string' ? v.length : 0} lru:0 lru_seconds_idle:0 type:${typeName(v)}`,
    );
    return;
  }
  c.reply.error(Err.unknownSubcommand(argv[1]!, 'debug'));
}

function encodingOf(v: Value): string {
  if (typeof v === 'string') return /^-?[1-9]\d{0,18}$|^0$/.test(v) ? 'int' : v.length <= 44 ? 'embstr' : 'raw';
  switch (v.kind) {
    case Kind.Hash:
    case Kind.Set:
      return 'hashtable';
    case Kind.List:
      return 'quicklist';
    case Kind.ZSet:
      return 'skiplist';
    default:
      return 'stream';
  }
}

// ------------------------------------------------------------------ MEMORY

/** Bytes a V8 one-byte string costs: header plus characters, 8-byte aligned. */
function strBytes(s: string): number {
  return 16 + ((s.length + 7) & ~7);
}

/**
 * An estimate of the bytes a value holds on the heap: strings as V8 stores them, Maps
 * and Sets with their hash-table entries, arrays with their slots, objects with their
 * fields; container elements are sampled (the first `samples`, 0 = all) and the mean
 * scaled up, as Redis's MEMORY USAGE does.
 */
export function estimateBytes(v: unknown, samples: number, depth = 0): number {
  if (typeof v === 'string') return strBytes(v);
  if (typeof v === 'number') return 8;
  if (v === null || v === undefined || typeof v !== 'object') return 0;
  if (depth > 4) return 16;
  const mean = (it: Iterable<unknown>, size: number, f: (x: unknown) => number): number => {
    if (size === 0) return 0;
    let n = 0;
    let sum = 0;
    for (const x of it) {
      sum += f(x);
      if (++n === samples) break;
    }
    return n === 0 ? 0 : (sum / n) * size;
  };
  if (v instanceof Map) {
    return 32 + v.size * 24 + mean(v, v.size, (e) => {
      const [k, val] = e as [unknown, unknown];
      return estimateBytes(k, samples, depth + 1) + estimateBytes(val, samples, depth + 1);
    });
  }
  if (v instanceof Set) return 32 + v.size * 16 + mean(v, v.size, (x) => estimateBytes(x, samples, depth + 1));
  if (Array.isArray(v)) {
    const present = v.filter((x) => x !== undefined && x !== null);
    return 16 + v.length * 8 + mean(present, present.length, (x) => estimateBytes(x, samples, depth + 1));
  }
  let total = 16;
  for (const k of Object.keys(v)) total += 8 + estimateBytes((v as Record<string, unknown>)[k], samples, depth + 1);
  return total;
}

/**
 * MEMORY USAGE: the key's dictionary and metadata entries, key, value and TTL entry, by
 * the keyspace's memory model (engine/memory.ts). Its counters are exact per value, so
 * SAMPLES (accepted, validated) changes nothing.
 */
export function keyMemory(key: string, v: Value, hasTtl: boolean, _samples: number, overhead: number): number {
  return keyBytes(key, v, hasTtl, overhead);
}

function memoryUsageCommand(c: Client, argv: string[]): void {
  let samples = 5;
  if (argv.length === 5 && argv[3]!.toLowerCase() === 'samples') {
    const n = parseInteger(argv[4]!);
    if (typeof n !== 'number' || n < 0) {
      c.reply.error(Err.notInteger);
      return;
    }
    samples = n === 0 ? Infinity : n;
  } else if (argv.length !== 3) {
    c.reply.error(Err.syntax);
    return;
  }
  const key = argv[2]!;
  c.db.expireIfNeeded(key);
  const v = c.db.dict.get(key);
  if (v === undefined) {
    c.reply.nil();
    return;
  }
  c.reply.int(Math.round(keyMemory(key, v, c.db.expires.has(key), samples, c.server.keyspace.keyOverhead)));
}

function memoryStatsCommand(c: Client): void {
  const srv = c.server;
  const mu = process.memoryUsage();
  const used = srv.usedMemory();
  let keys = 0;
  const dbs = srv.keyspace.dbs.filter((d) => d.dict.size > 0);
  for (const d of dbs) keys += d.dict.size;
  const clientsMem = srv.clientsMemory;
  const overhead = srv.startupMemory + clientsMem + dictOverhead(srv);
  const dataset = Math.max(0, used - overhead);
  const fields: [string, number | string | [string, number][]][] = [
    ['peak.allocated', Math.max(srv.memoryPeak, used)],
    ['total.allocated', used],
    ['startup.allocated', srv.startupMemory],
    ['replication.backlog', 0],
    ['clients.slaves', 0],
    ['clients.normal', clientsMem],
    ['cluster.links', 0],
    ['aof.buffer', 0],
    ['lua.caches', 0],
    ['functions.caches', 0],
  ];
  for (const d of dbs) fields.push([`db.${d.id}`, [['overhead.hashtable.main', d.dict.size * c.server.keyspace.keyOverhead], ['overhead.hashtable.expires', d.expires.size * EXPIRE_ENTRY]]]);
  fields.push(
    ['overhead.total', overhead],
    ['keys.count', keys],
    ['keys.bytes-per-key', keys === 0 ? 0 : Math.floor((used - srv.startupMemory) / keys)],
    ['dataset.bytes', dataset],
    ['dataset.percentage', used === 0 ? '0' : ((dataset * 100) / used).toFixed(10)],
    ['peak.percentage', ((used * 100) / Math.max(1, srv.memoryPeak, used)).toFixed(10)],
    ['allocator.allocated', mu.heapUsed],
    ['allocator.active', mu.heapTotal],
    ['allocator.resident', mu.rss],
    ['allocator-fragmentation.ratio', (mu.heapTotal / Math.max(1, mu.heapUsed)).toFixed(10)],
    ['allocator-fragmentation.bytes', mu.heapTotal - mu.heapUsed],
    ['allocator.rss-ratio', (mu.rss / Math.max(1, mu.heapTotal)).toFixed(10)],
    ['allocator.rss-bytes', mu.rss - mu.heapTotal],
    ['rss-overhead.ratio', '1'],
    ['rss-overhead.bytes', 0],
    ['fragmentation', (mu.rss / Math.max(1, used)).toFixed(10)],
    ['fragmentation.bytes', mu.rss - used],
  );
  const r = c.reply;
  r.map(fields.length);
  for (const [k, v] of fields) {
    r.bulk(k);
    if (typeof v === 'number') r.int(v);
    else if (typeof v === 'string') r.double(Number(v));
    else {
      r.map(v.length);
      for (const [kk, vv] of v) {
        r.bulk(kk);
        r.int(vv);
      }
    }
  }
}

function memoryDoctorCommand(c: Client): void {
  const used = c.server.usedMemory();
  let keys = 0;
  for (const d of c.server.keyspace.dbs) keys += d.dict.size;
  if (keys === 0 || used < 5 * 1024 * 1024) {
    c.reply.verbatim(
      "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n",
    );
    return;
  }
  const peak = c.server.memoryPeak;
  const notes: string[] = [];
  if (peak > used * 1.5) notes.push(`* Peak memory: In the past this instance used more than 150% the memory that is currently using (peak ${bytesToHuman(peak)}, now ${bytesToHuman(used)}).`);
  if (notes.length === 0) {
    c.reply.verbatim('Hi Sam, I can\'t find any memory issue in your instance. I can only account for what occurs on this base.\n');
    return;
  }
  c.reply.verbatim(`Sam, I detected a few issues in this Sonic instance memory implants:\n\n${notes.join('\n')}\n`);
}

function memoryHelpCommand(c: Client): void {
  helpReply(c, 'MEMORY', [
    'DOCTOR',
    '    Return memory problems reports.',
    'MALLOC-STATS',
    '    Return internal statistics report from the memory allocator.',
    'PURGE',
    '    Attempt to purge dirty pages for reclamation by the allocator.',
    'STATS',
    '    Return information about the memory usage of the server.',
    'USAGE <key> [SAMPLES <count>]',
    '    Return memory in bytes used by <key> and its value. Nested values are',
    '    sampled up to <count> times (default: 5, 0 means sample all).',
  ]);
}

function memoryMallocStatsCommand(c: Client): void {
  c.reply.verbatim('Stats not supported for the current allocator\n');
}

function memoryPurgeCommand(c: Client): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  c.reply.ok();
}

export const serverHandlers: HandlerMap = {
  info: infoCommand,
  'config|get': configGetCommand,
  'config|set': configSetCommand,
  'config|resetstat': configResetstatCommand,
  'config|rewrite': configRewriteCommand,
  'config|help': configHelpCommand,
  'client|id': clientIdCommand,
  'client|setname': clientSetnameCommand,
  'client|getname': clientGetnameCommand,
  'client|setinfo': clientSetinfoCommand,
  'client|list': clientListCommand,
  'client|info': clientInfoCommand,
  'client|kill': clientKillCommand,
  'client|pause': clientPauseCommand,
  'client|unpause': clientUnpauseCommand,
  'client|reply': clientReplyCommand,
  'client|unblock': clientUnblockCommand,
  'client|no-evict': (c, argv) => onOff(c, argv, (on) => (c.noEvict = on)),
  'client|no-touch': (c, argv) => onOff(c, argv, (on) => (c.noTouch = on)),
  'client|tracking': clientTrackingCommand,
  'client|caching': clientCachingCommand,
  'client|trackinginfo': clientTrackinginfoCommand,
  'client|getredir': (c) => c.reply.int(-1),
  'client|help': clientHelpCommand,
  command: commandCommand,
  'command|count': commandCountCommand,
  'command|info': commandInfoCommand,
  'command|docs': commandDocsCommand,
  'command|list': commandListCommand,
  'command|getkeys': commandGetkeysCommand,
  'command|getkeysandflags': commandGetkeysandflagsCommand,
  'command|help': commandHelpCommand,
  time: timeCommand,
  dbsize: dbsizeCommand,
  flushdb: flushdbCommand,
  flushall: flushallCommand,
  swapdb: swapdbCommand,
  lastsave: lastsaveCommand,
  monitor: monitorCommand,
  role: roleCommand,
  lolwut: lolwutCommand,
  'slowlog|get': slowlogGetCommand,
  'slowlog|len': (c) => c.reply.int(c.server.slowlog.entries.length),
  'slowlog|reset': (c) => {
    c.server.slowlog.reset();
    c.reply.ok();
  },
  'slowlog|help': slowlogHelpCommand,
  'latency|latest': latencyLatestCommand,
  'latency|history': latencyHistoryCommand,
  'latency|reset': latencyResetCommand,
  'latency|graph': latencyGraphCommand,
  'latency|doctor': latencyDoctorCommand,
  'latency|histogram': latencyHistogramCommand,
  'latency|help': latencyHelpCommand,
  shutdown: shutdownCommand,
  debug: debugCommand,
  'memory|usage': memoryUsageCommand,
  'memory|stats': memoryStatsCommand,
  'memory|doctor': memoryDoctorCommand,
  'memory|malloc-stats': memoryMallocStatsCommand,
  'memory|purge': memoryPurgeCommand,
  'memory|help': memoryHelpCommand,
};

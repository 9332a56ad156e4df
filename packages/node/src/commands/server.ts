import { writeFileSync, readFileSync, renameSync } from 'node:fs';
import { Err } from '@sonic/protocol';
import type { Client } from '../server/client.js';
import { infoText } from '../server/info.js';
import { ConfigError, findSetting, normalise } from '../config/config.js';
import { SETTINGS } from '../config/settings.js';
import type { HandlerMap } from './types.js';

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

export const serverHandlers: HandlerMap = {
  info: infoCommand,
  'config|get': configGetCommand,
  'config|set': configSetCommand,
  'config|resetstat': configResetstatCommand,
  'config|rewrite': configRewriteCommand,
  'config|help': configHelpCommand,
};

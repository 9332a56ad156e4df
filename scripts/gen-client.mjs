#!/usr/bin/env node
// Generates packages/client/src/commands.gen.ts: a typed method for every command in the
// protocol package's command table (packages/protocol/src/commands), for the client and
// for its pipelines. A unit test (packages/client/src/gen.test.ts) fails when the
// committed file is stale. Needs the protocol package built (npm run build).
// Usage: node scripts/gen-client.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { COMMANDS } = await import(join(root, 'packages/protocol/dist/index.js'));
const out = join(root, 'packages/client/src/commands.gen.ts');

/** Commands that change a connection's state: the client has its own methods for them (or none). */
const SKIP = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'monitor', 'multi', 'exec', 'discard', 'watch', 'unwatch', 'select', 'hello', 'auth', 'reset', 'quit', 'readonly', 'readwrite', 'asking', 'sync', 'psync', 'replconf']);
/** Containers whose name the client uses for something else (their subcommands stay). */
const SKIP_CONTAINER = new Set(['script']);

const S = 'string';
const SN = 'string | null';
const N = 'number';
const RETURNS = {
  get: SN, getdel: SN, getex: SN, getset: SN, getrange: S, substr: S, set: 'string | null', setnx: N, setex: S, psetex: S,
  mget: '(string | null)[]', mset: S, msetnx: N, append: N, strlen: N, setrange: N, incr: N, decr: N, incrby: N, decrby: N, incrbyfloat: S,
  del: N, unlink: N, exists: N, touch: N, expire: N, pexpire: N, expireat: N, pexpireat: N, persist: N, ttl: N, pttl: N, type: S, keys: 'string[]', rename: S, renamenx: N, dbsize: N,
  hget: SN, hset: N, hsetnx: N, hdel: N, hlen: N, hexists: N, hincrby: N, hincrbyfloat: S, hkeys: 'string[]', hvals: 'string[]', hmget: '(string | null)[]', hgetall: 'Record<string, string>', hstrlen: N,
  lpush: N, rpush: N, lpushx: N, rpushx: N, llen: N, lindex: SN, lrange: 'string[]', lrem: N, lset: S, ltrim: S, linsert: N,
  sadd: N, srem: N, scard: N, sismember: N, smembers: 'string[]', sinter: 'string[]', sunion: 'string[]', sdiff: 'string[]', smismember: 'number[]',
  zadd: 'number | string | null', zcard: N, zcount: N, zrem: N, zrank: 'number | null', zrevrank: 'number | null', zscore: 'string | number | null', zincrby: 'string | number',
  publish: N, spublish: N, echo: S, ping: S, 'script|load': S, 'script|exists': 'number[]', 'config|get': 'Record<string, string>', 'config|set': S, flushall: S, flushdb: S, 'cluster|keyslot': N,
};
/** Flat [field, value, ...] replies made objects in RESP2 as RESP3 does (F_PAIRS). */
const PAIRS = new Set(['hgetall', 'config|get']);

const camel = (s) => s.replace(/[-_ ]+([a-z0-9])/g, (_, c) => c.toUpperCase());
const pascal = (s) => camel(s).replace(/^./, (c) => c.toUpperCase());
const ident = (s) => s.replace(/\|/g, '_').replace(/[^a-zA-Z0-9_]/g, '_');
const doc = (spec) => {
  const usage = spec.name.replace('|', ' ').toUpperCase();
  const cx = spec.complexity ? ` Complexity: ${spec.complexity.split(/(?<=\.)\s/)[0]}` : '';
  return `  /** ${usage}: ${spec.summary.replace(/\.?$/, '.')}${cx} (since ${spec.since}) */`.replace(/\*\//g, '* /').replace(/ \(since ([^)]*)\) \* \/$/, ' (since $1) */');
};

/** Parameters from the arity (named keys where the legacy key range says so) and a rest parameter. */
function params(spec, sub) {
  const fixed = Math.abs(spec.arity) - 1 - (sub ? 1 : 0);
  const offset = sub ? 2 : 1;
  const keys = new Set();
  if (spec.firstKey > 0 && spec.lastKey >= spec.firstKey) for (let i = spec.firstKey; i <= spec.lastKey; i += spec.step || 1) keys.add(i - offset);
  else if (spec.firstKey > 0 && spec.lastKey < 0 && spec.firstKey - offset < fixed) keys.add(spec.firstKey - offset);
  const names = [];
  let k = 0;
  for (let i = 0; i < fixed; i++) names.push(keys.has(i) ? (k++ === 0 ? 'key' : `key${k}`) : `arg${i + 1}`);
  const rest = spec.arity < 0;
  const decl = [...names.map((n) => `${n}: Arg`), ...(rest ? ['...args: Arg[]'] : [])].join(', ');
  const list = [...names, ...(rest ? ['...args'] : [])];
  return { decl, list };
}

const methods = [];
const consts = [];
for (const spec of [...COMMANDS.values()].sort((a, b) => a.name.localeCompare(b.name))) {
  if (SKIP.has(spec.name)) continue;
  const entries = [];
  if (!SKIP_CONTAINER.has(spec.name)) entries.push({ spec, sub: null, method: camel(spec.name), cname: spec.name.toUpperCase() });
  if (spec.subcommands) {
    for (const [subName, sub] of [...spec.subcommands.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      entries.push({ spec: sub, sub: subName.toUpperCase(), method: camel(spec.name) + pascal(subName), cname: spec.name.toUpperCase() });
    }
  }
  for (const e of entries) {
    const c = `S_${ident(e.spec.name)}`;
    consts.push(e.sub === null ? `const ${c} = spec('${e.spec.name}');` : `const ${c} = spec('${e.spec.parent}', '${e.spec.name.split('|')[1]}');`);
    const { decl, list } = params(e.spec, e.sub !== null);
    const argList = `[${e.sub !== null ? `'${e.sub}', ` : ''}${list.join(', ')}]`;
    const ret = RETURNS[e.spec.name] ?? 'Reply';
    const flags = PAIRS.has(e.spec.name) ? ', F_PAIRS' : '';
    methods.push({ doc: doc(e.spec), method: e.method, decl, call: `'${e.cname}', ${c}, ${argList}${flags}`, ret });
  }
}

let src = `// generated by scripts/gen-client.mjs — do not edit
// A typed method for every command of the command table (packages/protocol/src/commands).
import { COMMANDS, type CommandSpec } from '@sonic/protocol';
import { F_PAIRS, type Arg } from './command.js';
import type { Reply } from './reply.js';

function spec(name: string, sub?: string): CommandSpec {
  const s = COMMANDS.get(name);
  const r = sub === undefined ? s : s?.subcommands?.get(sub);
  if (r === undefined) throw new Error(\`command table has no \${name}\${sub ? ' ' + sub : ''}: run node scripts/gen-client.mjs\`);
  return r;
}

${consts.join('\n')}

/** The command methods of Client: each sends one command and resolves to its reply. */
export abstract class CommandMethods {
  protected abstract _run(name: string, spec: CommandSpec | undefined, args: Arg[], flags?: number): Promise<any>;

`;
for (const m of methods) src += `${m.doc}\n  ${m.method}(${m.decl}): Promise<${m.ret}> {\n    return this._run(${m.call});\n  }\n`;
src += `}

/** The command methods of a pipeline or transaction: each queues one command. */
export abstract class PipelineMethods {
  protected abstract _queue(name: string, spec: CommandSpec | undefined, args: Arg[], flags?: number): this;

`;
for (const m of methods) src += `${m.doc}\n  ${m.method}(${m.decl}): this {\n    return this._queue(${m.call});\n  }\n`;
src += '}\n';

if (process.argv.includes('--check')) {
  let cur = '';
  try {
    cur = readFileSync(out, 'utf8');
  } catch {}
  if (cur !== src) {
    process.stderr.write('packages/client/src/commands.gen.ts is stale: run node scripts/gen-client.mjs\n');
    process.exit(1);
  }
} else {
  writeFileSync(out, src);
  console.log(`wrote ${out}: ${methods.length} methods`);
}

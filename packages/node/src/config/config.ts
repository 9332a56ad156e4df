import { readFileSync } from 'node:fs';
import { splitArgs } from '@sonic/protocol';
import { SETTINGS, parseMemory, type Setting } from './settings.js';
import { globToRegExp } from '../engine/glob.js';

export class ConfigError extends Error {}

const byName = new Map<string, Setting>();
for (const st of SETTINGS) {
  byName.set(st.name, st);
  for (const a of st.aliases ?? []) byName.set(a, st);
}

export function findSetting(name: string): Setting | undefined {
  return byName.get(name.toLowerCase());
}

/** Environment variable names accepted besides SONIC_<NAME> (existing Redis stacks use these). */
const ENV_ALIASES: Record<string, string> = {
  REDIS_PASSWORD: 'requirepass',
  REDIS_MAXMEMORY: 'maxmemory',
  REDIS_MAXMEMORY_POLICY: 'maxmemory-policy',
};

/**
 * Validates and normalises a value for a setting. Returns the canonical string form
 * (what CONFIG GET reports) or throws ConfigError with Redis's wording.
 */
export function normalise(st: Setting, raw: string): string {
  const v = raw;
  switch (st.type) {
    case 'bool': {
      const l = v.toLowerCase();
      if (l === 'yes' || l === 'no') return l;
      throw new ConfigError('argument must be \'yes\' or \'no\'');
    }
    case 'int': {
      if (!/^-?\d+$/.test(v.trim())) throw new ConfigError('argument couldn\'t be parsed into an integer');
      const n = Number(v.trim());
      if (st.name === 'hz') return String(Math.max(1, Math.min(500, n)));
      if (n < st.min! || n > st.max!) throw new ConfigError(`argument must be between ${st.min} and ${st.max} inclusive`);
      return String(n);
    }
    case 'memory': {
      const n = parseMemory(v);
      if (n === null) throw new ConfigError('argument must be a memory value');
      if (n < (st.min ?? 0) || n > (st.max ?? Number.MAX_SAFE_INTEGER))
        throw new ConfigError(`argument must be between ${st.min ?? 0} and ${st.max ?? Number.MAX_SAFE_INTEGER} inclusive`);
      return String(n);
    }
    case 'enum': {
      const l = v.toLowerCase();
      if (st.values!.includes(l)) return l;
      throw new ConfigError(`argument(s) must be one of the following: ${st.values!.join(', ')}`);
    }
    case 'string':
    case 'special': {
      if (st.check) {
        const err = st.check(v);
        if (err) throw new ConfigError(err);
      }
      if (st.name === 'save') return v.trim() === '""' ? '' : v.trim().split(/\s+/).join(' ');
      if (st.name === 'client-output-buffer-limit') return normaliseCobl(v);
      return v;
    }
    default:
      return v;
  }
}

function normaliseCobl(v: string): string {
  const parts = v.trim().split(/\s+/);
  const byClass = new Map<string, string>();
  for (let k = 0; k < parts.length; k += 4) {
    let cls = parts[k]!.toLowerCase();
    if (cls === 'replica') cls = 'slave';
    byClass.set(cls, `${cls} ${parseMemory(parts[k + 1]!)} ${parseMemory(parts[k + 2]!)} ${parts[k + 3]}`);
  }
  return [...byClass.values()].join(' ');
}

export type ConfigListener = (name: string, value: string) => void;

/**
 * The node's configuration: values by canonical name, as strings (CONFIG GET's form),
 * with typed accessors. Sources apply in order: defaults, config file, environment,
 * command-line flags; then CONFIG SET at run time.
 */
export class Config {
  private readonly values = new Map<string, string>();
  /** int() results by canonical name, dropped when the setting changes. */
  private readonly ints = new Map<string, number>();
  private readonly listeners: ConfigListener[] = [];
  /** The config file this node was started with, if any. */
  file: string | null = null;

  constructor() {
    for (const st of SETTINGS) this.values.set(st.name, st.default);
  }

  get(name: string): string {
    // Canonical names (what the code passes) hit directly; aliases and other cases look up.
    const v = this.values.get(name);
    if (v !== undefined) return v;
    const st = findSetting(name);
    if (!st) throw new Error(`no such setting ${name}`);
    return this.values.get(st.name)!;
  }

  int(name: string): number {
    let n = this.ints.get(name);
    if (n === undefined) {
      n = Number(this.get(name));
      if (this.values.has(name)) this.ints.set(name, n);
    }
    return n;
  }

  bool(name: string): boolean {
    return this.get(name) === 'yes';
  }

  onChange(l: ConfigListener): void {
    this.listeners.push(l);
  }

  /**
   * Sets one setting. `runtime` marks CONFIG SET (immutable settings refused).
   * Throws ConfigError with the reason.
   */
  set(name: string, raw: string, runtime = false): void {
    const st = findSetting(name);
    if (!st) throw new ConfigError(`Unknown option or number of arguments for CONFIG SET - '${name}'`);
    if (runtime && st.immutable) throw new ConfigError('can\'t set immutable config');
    let v = raw;
    // `save` and client-output-buffer-limit accumulate across config-file lines, as in Redis.
    const value = normalise(st, v);
    v = value;
    this.values.set(st.name, v);
    this.ints.delete(st.name);
    for (const l of this.listeners) l(st.name, v);
  }

  /** CONFIG GET: every (name, value) whose name (or alias) matches one of the glob patterns. */
  match(patterns: string[]): [string, string][] {
    const out = new Map<string, string>();
    const res = patterns.map((p) => globToRegExp(p, true));
    for (const st of SETTINGS) {
      for (const n of [st.name, ...(st.aliases ?? [])]) {
        if (res.some((r) => r.test(n))) out.set(n, this.values.get(st.name)!);
      }
    }
    return [...out.entries()];
  }

  /** Parses redis.conf-style text: `name value...` per line, `#` comments, quoted values. */
  loadText(text: string, origin: string): void {
    const lines = text.split(/\r?\n/);
    const accum = new Map<string, string[]>();
    lines.forEach((line, idx) => {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      const args = splitArgs(t);
      if (args === null || args.length === 0) throw new ConfigError(`${origin}:${idx + 1}: unbalanced quotes in configuration line`);
      const name = args[0]!.toLowerCase();
      if (name === 'include') {
        this.loadFile(args[1]!);
        return;
      }
      const st = findSetting(name);
      if (!st) throw new ConfigError(`${origin}:${idx + 1}: Bad directive or wrong number of arguments: '${args[0]}'`);
      let value = args.slice(1).join(' ');
      if (st.name === 'save' || st.name === 'client-output-buffer-limit') {
        const prev = accum.get(st.name) ?? [];
        prev.push(value === '' ? '""' : value);
        accum.set(st.name, prev);
        value = prev.filter((p) => p !== '""').join(' ') || '""';
        if (st.name === 'client-output-buffer-limit') value = `${this.get(st.name)} ${args.slice(1).join(' ')}`;
      }
      try {
        this.set(st.name, value);
      } catch (err) {
        throw new ConfigError(`${origin}:${idx + 1}: '${args[0]}': ${(err as Error).message}`);
      }
    });
  }

  loadFile(path: string): void {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    this.file = path;
    this.loadText(text, path);
  }

  /** Applies SONIC_<NAME> (dashes as underscores) and the REDIS_* aliases. */
  loadEnv(env: NodeJS.ProcessEnv): void {
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) continue;
      let name: string | undefined;
      if (k in ENV_ALIASES) name = ENV_ALIASES[k];
      else if (k.startsWith('SONIC_')) {
        name = k.slice(6).toLowerCase().replace(/_/g, '-');
        if (name === 'password') name = 'requirepass';
        if (!findSetting(name)) continue; // SONIC_* variables of other tools (SONIC_LOG ...) are not settings
      }
      if (name === undefined) continue;
      try {
        this.set(name, v);
      } catch (err) {
        throw new ConfigError(`environment ${k}: ${(err as Error).message}`);
      }
    }
  }

  /** Applies `--name value` flags (every setting is a flag). Returns what is left over. */
  loadArgs(args: string[]): string[] {
    const rest: string[] = [];
    for (let k = 0; k < args.length; k++) {
      const a = args[k]!;
      if (!a.startsWith('--')) {
        rest.push(a);
        continue;
      }
      let name = a.slice(2);
      let value: string | undefined;
      const eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      const st = findSetting(name);
      if (!st) {
        rest.push(a);
        continue;
      }
      if (value === undefined) {
        // Multi-word values (save "900 1", replicaof host port) take every following non-flag word.
        const words: string[] = [];
        while (k + 1 < args.length && !args[k + 1]!.startsWith('--')) words.push(args[++k]!);
        if (words.length === 0) throw new ConfigError(`--${name} needs a value`);
        value = words.join(' ');
      }
      try {
        this.set(name, value);
      } catch (err) {
        throw new ConfigError(`--${name}: ${(err as Error).message}`);
      }
    }
    return rest;
  }
}


/**
 * The deployments (deploy/Dockerfile, docker-compose.cluster.yml, deploy/k8s/, Makefile)
 * cannot be run here (no Docker engine, no Kubernetes), so this test keeps them honest
 * against the code: it parses them, extracts every `sonic` command line (compose commands
 * and health checks, Kubernetes args and probes, the Dockerfile's CMD and HEALTHCHECK, the
 * Makefile's recipes via `make -n`), fills in the variables as Compose, Kubernetes and
 * make would (from .env.example, the ConfigMap and Secret, the pod's name), and runs
 * `sonic <verb> ... --check-config` on each with the container's environment: every one
 * must print ok. It also checks that ports, DNS names and addresses agree across the
 * files, that every variable used is in .env.example, that the Dockerfile's COPY sources
 * exist, and that a node really announces the DNS name it is given.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ROOT, SONIC, runSonic } from './harness.js';
import { startClusterNode, startGroup, stopEverything, waitFor } from './controller-helpers.js';

type Obj = Record<string, unknown>;
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

// ---------------------------------------------------------------------------------------
// Variables: .env.example, Compose interpolation, shell words

/** KEY=VALUE lines of an env file; `mentioned` also has the commented-out `# KEY=` ones. */
function parseEnvFile(text: string): { values: Record<string, string>; mentioned: Set<string> } {
  const values: Record<string, string> = {};
  const mentioned = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    mentioned.add(m[2]!);
    if (!m[1]) values[m[2]!] = m[3]!.trim();
  }
  return { values, mentioned };
}

interface VarUse {
  name: string;
  hasDefault: boolean;
}

/** Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default} (defaults nest). */
function interpolate(s: string, env: Record<string, string>, uses: VarUse[]): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    if (s[i + 1] === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (s[i + 1] === '{') {
      let depth = 1;
      let j = i + 2;
      for (; j < s.length && depth > 0; j++) {
        if (s[j] === '{') depth++;
        else if (s[j] === '}') depth--;
      }
      if (depth !== 0) throw new Error(`unbalanced \${ in '${s}'`);
      const body = s.slice(i + 2, j - 1);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([\s\S]*))?$/.exec(body);
      if (!m) throw new Error(`unsupported interpolation '\${${body}}'`);
      const [, name, colon, op, word] = m;
      uses.push({ name: name!, hasDefault: op === '-' || op === '+' });
      const v = env[name!];
      const unset = v === undefined || (colon === ':' && v === '');
      if (op === '-') out += unset ? interpolate(word!, env, uses) : v;
      else if (op === '+') out += unset ? '' : interpolate(word!, env, uses);
      else if (op === '?') {
        if (unset) throw new Error(`\${${body}}: ${name} is required`);
        out += v;
      } else out += v ?? '';
      i = j;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
    if (!m) throw new Error(`a lone $ in '${s}' (write $$)`);
    uses.push({ name: m[0], hasDefault: false });
    out += env[m[0]] ?? '';
    i += 1 + m[0].length;
  }
  return out;
}

/** Interpolates every string of a parsed YAML value (as Compose does with the whole file). */
function interpolateDeep<T>(v: T, env: Record<string, string>, uses: VarUse[]): T {
  if (typeof v === 'string') return interpolate(v, env, uses) as T;
  if (Array.isArray(v)) return v.map((x) => interpolateDeep(x, env, uses)) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateDeep(x, env, uses)])) as T;
  return v;
}

/**
 * Splits a shell command line into simple commands (words), as sh would for what these
 * files use: quotes, operators (; && || | &), redirections (dropped). No expansion:
 * `$VAR` stays literal (it is run elsewhere, by another shell).
 */
function shellCommands(line: string): string[][] {
  const cmds: string[][] = [];
  let words: string[] = [];
  let w = '';
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(w);
    w = '';
    inWord = false;
  };
  const endCmd = () => {
    endWord();
    if (words.length > 0) cmds.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const j = line.indexOf("'", i + 1);
      if (j < 0) throw new Error(`unbalanced ' in: ${line}`);
      w += line.slice(i + 1, j);
      inWord = true;
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        w += line[j];
      }
      if (j >= line.length) throw new Error(`unbalanced " in: ${line}`);
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      w += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) endWord();
    else if (c === ';' || c === '|' || c === '&') {
      // A redirection like 2>&1 was consumed below; here & is an operator.
      endCmd();
      if (line[i + 1] === c) i++;
    } else if (c === '>' || c === '<') {
      // Drop the redirection and its target: [n]>file, >>file, 2>&1.
      if (inWord && /^\d+$/.test(w)) {
        w = '';
        inWord = false;
      } else endWord();
      let j = i + 1;
      if (line[j] === '>' || line[j] === '&') j++;
      while (j < line.length && /\s/.test(line[j]!)) j++;
      while (j < line.length && !/[\s;|&]/.test(line[j]!)) j++;
      i = j - 1;
    } else {
      w += c;
      inWord = true;
    }
  }
  endCmd();
  // sh -c SCRIPT: the script's own commands count too.
  const out: string[][] = [];
  for (const cmd of cmds) {
    out.push(cmd);
    const k = cmd.findIndex((x, idx) => (x === 'sh' || x === 'bash') && cmd[idx + 1] === '-c');
    if (k >= 0 && cmd[k + 2] !== undefined) out.push(...shellCommands(cmd[k + 2]!));
  }
  return out;
}

/** The sonic arguments of a command (after the word `sonic`), or null when it does not run sonic. */
function sonicArgs(words: string[]): string[] | null {
  const i = words.indexOf('sonic');
  return i < 0 ? null : words.slice(i + 1);
}

// ---------------------------------------------------------------------------------------
// Running --check-config, and reading command lines

interface CommandLine {
  where: string;
  args: string[];
  env: Record<string, string>;
}

/** Runs `sonic <args> --check-config` with exactly the given environment (plus PATH). */
async function checkConfig(c: CommandLine): Promise<{ status: number | null; out: string }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...c.env };
  delete env.NODE_OPTIONS; // the container's heap cap is not this test's
  const r = await runSonic([...c.args, '--check-config'], env);
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

/** Runs the checks three at a time (each is a process start); the same line and environment once. */
async function expectAllOk(lines: CommandLine[]): Promise<void> {
  const seen = new Map<string, CommandLine>();
  for (const c of lines) seen.set(JSON.stringify([c.args, Object.entries(c.env).sort()]), c);
  const todo = [...seen.values()];
  const failed: string[] = [];
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      for (let c = todo.shift(); c !== undefined; c = todo.shift()) {
        const r = await checkConfig(c);
        if (r.status !== 0 || r.out !== 'ok') failed.push(`${c.where}: sonic ${c.args.join(' ')} --check-config\n    -> exit ${r.status}: ${r.out}`);
      }
    }),
  );
  expect(failed, `command lines that sonic refuses:\n${failed.join('\n')}`).toEqual([]);
}

/** `--name value` of an argument list (the last one wins, as in every sonic verb). */
function opt(args: string[], name: string): string | undefined {
  let v: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) v = args[i + 1];
    else if (args[i]!.startsWith(`${name}=`)) v = args[i]!.slice(name.length + 1);
  }
  return v;
}

function hostPort(s: string): { host: string; port: number; bus: number | null } {
  const m = /^(.+):(\d+)(?:@(\d+))?$/.exec(s);
  if (!m) throw new Error(`not host:port: '${s}'`);
  return { host: m[1]!, port: Number(m[2]), bus: m[3] === undefined ? null : Number(m[3]) };
}

/** The port a sonic process listens on, from its arguments (the verbs' defaults otherwise). */
function listenPort(args: string[]): number {
  const p = opt(args, '--port');
  if (p !== undefined) return Number(p);
  if (args[0] === 'controller') {
    const id = opt(args, '--id');
    const self = (opt(args, '--peers') ?? '').split(',').find((x) => x.startsWith(`${id}=`));
    return self ? hostPort(self.slice(self.indexOf('=') + 1)).port : 26379;
  }
  return 6379;
}

function busPort(args: string[]): number {
  const b = opt(args, '--bus-port');
  return b !== undefined && b !== '0' ? Number(b) : listenPort(args) + 10000;
}

function memoryBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?|[kmg]b?)?$/i.exec(v.trim());
  if (!m) throw new Error(`not a memory size: '${v}'`);
  const unit = (m[2] ?? '').toLowerCase().replace(/b$/, '');
  const mul: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };
  return Number(m[1]) * mul[unit]!;
}

// ---------------------------------------------------------------------------------------
// The files

const envExample = parseEnvFile(read('.env.example'));

interface ComposeService {
  name: string;
  raw: Obj;
  env: Record<string, string>;
  command: string[] | null;
  health: string[] | null;
}

function loadCompose(): { services: ComposeService[]; doc: Obj; uses: VarUse[] } {
  const doc = parseYaml(read('docker-compose.cluster.yml'), { merge: true }) as Obj;
  const uses: VarUse[] = [];
  const resolved = interpolateDeep(doc, envExample.values, uses);
  const services: ComposeService[] = [];
  for (const [name, raw] of Object.entries(resolved.services as Record<string, Obj>)) {
    const env: Record<string, string> = {};
    const files = raw.env_file === undefined ? [] : Array.isArray(raw.env_file) ? raw.env_file : [raw.env_file];
    for (const f of files as string[]) {
      // .env is made from .env.example (make up-stack, README).
      expect(f, `${name}: env_file`).toBe('.env');
      Object.assign(env, envExample.values);
    }
    const e = raw.environment;
    if (Array.isArray(e)) {
      for (const kv of e as string[]) env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    } else if (e) Object.assign(env, Object.fromEntries(Object.entries(e as Obj).map(([k, v]) => [k, String(v ?? '')])));
    expect(raw.entrypoint, `${name}: the image's entrypoint is sonic`).toBeUndefined();
    const cmd = raw.command === undefined ? null : Array.isArray(raw.command) ? (raw.command as unknown[]).map(String) : shellCommands(String(raw.command))[0]!;
    let health: string[] | null = null;
    const hc = raw.healthcheck as Obj | undefined;
    if (hc && !hc.disable) {
      const t = hc.test as string[] | string;
      const words = Array.isArray(t) ? (t[0] === 'CMD-SHELL' ? shellCommands(t[1]!)[0]! : t[0] === 'CMD' ? t.slice(1) : t) : shellCommands(t)[0]!;
      health = sonicArgs(words);
      expect(health, `${name}: the health check runs sonic ping`).not.toBeNull();
    }
    services.push({ name, raw, env, command: cmd, health });
  }
  return { services, doc: resolved, uses };
}

interface K8sContainer {
  where: string;
  kind: string;
  workload: Obj;
  podNames: string[];
  container: Obj;
  env: Record<string, string>;
  args: string[];
  probes: { kind: string; args: string[] }[];
}

function loadK8s(): { docs: Obj[]; containers: K8sContainer[] } {
  const docs: Obj[] = [];
  for (const f of readdirSync(join(ROOT, 'deploy/k8s')).filter((x) => /\.ya?ml$/.test(x) && x !== 'kustomization.yaml').sort()) {
    for (const d of parseAllDocuments(read(`deploy/k8s/${f}`))) {
      expect(d.errors, `deploy/k8s/${f}`).toEqual([]);
      const j = d.toJS() as Obj | null;
      if (j) docs.push({ ...j, __file: f });
    }
  }
  const byKind = (k: string) => docs.filter((d) => d.kind === k);
  const secrets = new Map(byKind('Secret').map((s) => [(s.metadata as Obj).name as string, { ...((s.stringData as Obj) ?? {}), ...Object.fromEntries(Object.entries((s.data as Record<string, string>) ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])) } as Record<string, string>]));
  const maps = new Map(byKind('ConfigMap').map((c) => [(c.metadata as Obj).name as string, (c.data as Record<string, string>) ?? {}]));
  const containers: K8sContainer[] = [];
  for (const w of docs.filter((d) => ['StatefulSet', 'Deployment', 'Job'].includes(d.kind as string))) {
    const name = (w.metadata as Obj).name as string;
    const spec = w.spec as Obj;
    const replicas = (spec.replicas as number | undefined) ?? 1;
    // The pod names Kubernetes gives: StatefulSet <name>-<ordinal>; others a random suffix.
    const podNames = w.kind === 'StatefulSet' ? Array.from({ length: replicas }, (_, i) => `${name}-${i}`) : [`${name}-5d8f7b9c4-x2x7q`];
    const pod = ((spec.template as Obj).spec as Obj) ?? {};
    for (const c of (pod.containers as Obj[]) ?? []) {
      for (const podName of podNames) {
        const env: Record<string, string> = {};
        for (const ef of (c.envFrom as Obj[]) ?? []) {
          const ref = ef.configMapRef as Obj | undefined;
          const sref = ef.secretRef as Obj | undefined;
          if (ref) Object.assign(env, maps.get(ref.name as string) ?? expect.fail(`${name}: no ConfigMap ${ref.name}`));
          if (sref) Object.assign(env, secrets.get(sref.name as string) ?? expect.fail(`${name}: no Secret ${sref.name}`));
        }
        for (const e of (c.env as Obj[]) ?? []) {
          const vf = e.valueFrom as Obj | undefined;
          let v: string;
          if (!vf) v = String(e.value ?? '');
          else if (vf.fieldRef) {
            const path = (vf.fieldRef as Obj).fieldPath;
            if (path === 'metadata.name') v = podName;
            else if (path === 'metadata.namespace') v = (w.metadata as Obj).namespace as string;
            else if (path === 'status.podIP') v = '10.0.0.17';
            else throw new Error(`${name}: fieldRef ${path} not understood by this test`);
          } else if (vf.secretKeyRef) {
            const r = vf.secretKeyRef as Obj;
            v = secrets.get(r.name as string)?.[r.key as string] ?? expect.fail(`${name}: no Secret ${r.name} key ${r.key}`);
          } else if (vf.configMapKeyRef) {
            const r = vf.configMapKeyRef as Obj;
            v = maps.get(r.name as string)?.[r.key as string] ?? expect.fail(`${name}: no ConfigMap ${r.name} key ${r.key}`);
          } else throw new Error(`${name}: valueFrom ${JSON.stringify(vf)} not understood by this test`);
          env[e.name as string] = v;
        }
        // Kubernetes expands $(VAR) in command and args from the container's env.
        const expand = (s: string) => s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, n: string) => env[n] ?? all);
        const words = [...((c.command as string[]) ?? ['sonic']), ...((c.args as string[]) ?? [])].map(expand);
        const args = sonicArgs(words);
        expect(args, `${name}/${c.name}: runs sonic`).not.toBeNull();
        for (const a of args!) expect(a, `${name}/${c.name}: an unexpanded $(VAR)`).not.toMatch(/\$\(/);
        const probes: { kind: string; args: string[] }[] = [];
        for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
          const p = c[kind] as Obj | undefined;
          if (!p) continue;
          const cmd = ((p.exec as Obj | undefined)?.command as string[] | undefined) ?? expect.fail(`${name}/${c.name}: ${kind} is not an exec probe`);
          // Probes' commands are not expanded by Kubernetes: no $(VAR) there.
          for (const a of cmd) expect(a, `${name}/${c.name} ${kind}`).not.toMatch(/\$\(/);
          const pa = sonicArgs(cmd);
          expect(pa, `${name}/${c.name}: ${kind} runs sonic`).not.toBeNull();
          probes.push({ kind, args: pa! });
        }
        containers.push({ where: `deploy/k8s/${w.__file} ${w.kind} ${name} pod ${podName}`, kind: w.kind as string, workload: w, podNames, container: c, env, args: args!, probes });
      }
    }
  }
  return { docs, containers };
}

// ---------------------------------------------------------------------------------------

function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

const compose = once(() => {
  const c = loadCompose();
  const verb = (v: string) => c.services.filter((s) => s.command?.[0] === v);
  return { ...c, byName: new Map(c.services.map((s) => [s.name, s])), controllers: verb('controller'), nodes: verb('node'), routers: verb('router') };
});

describe('docker-compose.cluster.yml', () => {

  it('has the shape of issue 9: 3 controllers, 3 shards of a primary and a replica, 2 routers, a one-shot cluster create', () => {
    const { services, doc, uses, byName, controllers, nodes, routers } = compose();
    expect(controllers).toHaveLength(3);
    expect(nodes).toHaveLength(6);
    expect(routers).toHaveLength(2);
    const init = services.filter((s) => s.command?.[0] === 'cluster' && s.command[1] === 'create');
    expect(init).toHaveLength(1);
    expect(init[0]!.raw.restart, 'the one-shot retries until every shard registered').toMatch(/^on-failure/);
    const shards = new Map<string, ComposeService[]>();
    for (const n of nodes) {
      expect(opt(n.command!, '--cluster-enabled')).toBe('yes');
      const sh = opt(n.command!, '--cluster-shard')!;
      shards.set(sh, [...(shards.get(sh) ?? []), n]);
    }
    expect([...shards.keys()].sort()).toEqual(['shard-1', 'shard-2', 'shard-3']);
    for (const [sh, members] of shards) {
      const primaries = members.filter((m) => opt(m.command!, '--replicaof') === undefined);
      expect(primaries.map((p) => p.name), `${sh}: one first primary`).toHaveLength(1);
      for (const r of members.filter((m) => m !== primaries[0])) {
        const to = hostPort(opt(r.command!, '--replicaof')!);
        expect(to.host, `${r.name} replicates its shard's primary`).toBe(primaries[0]!.name);
      }
    }
    expect(opt(init[0]!.command!, '--shards')!.split(',').sort()).toEqual([...shards.keys()].sort());
    for (const s of services) {
      expect(s.raw.image, s.name).toBe('sonic:local');
      expect(((s.raw.build as Obj).dockerfile as string) ?? '', s.name).toBe('deploy/Dockerfile');
      if (s !== init[0]) expect(s.raw.restart, `${s.name}: restart policy`).toBe('unless-stopped');
      if (s !== init[0]) expect(s.health, `${s.name}: health check`).not.toBeNull();
    }
  });

  it('every command line and health check is one sonic accepts (sonic <verb> ... --check-config)', async () => {
    const { services, doc, uses, byName, controllers, nodes, routers } = compose();
    const lines: CommandLine[] = [];
    for (const s of services) {
      expect(s.command, `${s.name}: a command`).not.toBeNull();
      lines.push({ where: `compose ${s.name} command`, args: s.command!, env: s.env });
      if (s.health) lines.push({ where: `compose ${s.name} healthcheck`, args: s.health, env: s.env });
    }
    expect(lines.length).toBeGreaterThanOrEqual(23);
    await expectAllOk(lines);
  });

  it('ports, DNS names and addresses agree', () => {
    const { services, doc, uses, byName, controllers, nodes, routers } = compose();
    const ctlPorts = new Map(controllers.map((c) => [c.name, listenPort(c.command!)]));
    const nodeAddr = new Map(nodes.map((n) => [n.name, { port: listenPort(n.command!), bus: busPort(n.command!) }]));
    const checkControllers = (where: string, list: string) => {
      const hosts = list.split(',').map(hostPort);
      expect(hosts.map((h) => h.host).sort(), `${where}: --controllers names every controller`).toEqual([...ctlPorts.keys()].sort());
      for (const h of hosts) expect(h.port, `${where}: ${h.host}'s port`).toBe(ctlPorts.get(h.host));
    };
    for (const s of services) {
      const args = s.command!;
      const port = listenPort(args);
      if (s.health) expect(listenPort(['ping', ...s.health.slice(1)]), `${s.name}: the health check pings the service's port`).toBe(port);
      for (const p of (s.raw.ports as string[] | undefined) ?? []) {
        const container = Number(String(p).split(':').pop()!.split('/')[0]);
        expect(container, `${s.name}: published port ${p} is the one it listens on`).toBe(port);
      }
      if (args[0] !== 'controller' && opt(args, '--controllers') !== undefined) checkControllers(s.name, opt(args, '--controllers')!);
      for (const dep of Object.keys((s.raw.depends_on as Obj) ?? {})) expect(byName.has(dep), `${s.name} depends on ${dep}`).toBe(true);
      if (args[0] === 'node' || args[0] === 'router') expect(opt(args, '--bind'), `${s.name} listens beyond loopback`).toBe('0.0.0.0');
    }
    for (const c of controllers) {
      const peers = opt(c.command!, '--peers')!.split(',').map((p) => ({ id: p.slice(0, p.indexOf('=')), ...hostPort(p.slice(p.indexOf('=') + 1)) }));
      expect(peers.map((p) => p.host).sort()).toEqual([...ctlPorts.keys()].sort());
      for (const p of peers) expect(p.port, `${c.name}: peer ${p.id}`).toBe(ctlPorts.get(p.host));
      expect(peers.find((p) => p.id === opt(c.command!, '--id'))?.host, `${c.name}: its --id is its own entry of --peers`).toBe(c.name);
      expect(opt(c.command!, '--bind')).toBe('0.0.0.0');
    }
    const ids = new Set<string>();
    for (const n of nodes) {
      const args = n.command!;
      // The DNS name the node announces is its service name (Docker's DNS resolves it).
      expect(opt(args, '--cluster-announce-hostname'), `${n.name} announces its service name`).toBe(n.name);
      const id = opt(args, '--cluster-node-id')!;
      expect(ids.has(id), `node id ${id} unique`).toBe(false);
      ids.add(id);
      const ro = opt(args, '--replicaof');
      if (ro !== undefined) {
        const to = hostPort(ro);
        expect(nodeAddr.get(to.host), `${n.name}: --replicaof names a node service`).toBeDefined();
        expect(to.port).toBe(nodeAddr.get(to.host)!.port);
        if (to.bus !== null) expect(to.bus, `${n.name}: the primary's bus port`).toBe(nodeAddr.get(to.host)!.bus);
      }
    }
    for (const [name, v] of Object.entries((doc.volumes as Obj) ?? {})) expect(v === null || typeof v === 'object', name).toBe(true);
    for (const s of services) {
      for (const v of (s.raw.volumes as string[] | undefined) ?? []) {
        const [src, dst] = v.split(':');
        expect(Object.keys((doc.volumes as Obj) ?? {}), `${s.name}: volume ${src} is a named volume`).toContain(src);
        expect(dst, `${s.name}: data in the image's working directory`).toBe('/data');
      }
    }
    for (const s of [...controllers, ...nodes]) expect((s.raw.volumes as string[] | undefined)?.length, `${s.name} keeps its data in a volume`).toBe(1);
  });

  it('every variable it uses is in .env.example, and the node memory limits fit maxmemory', () => {
    const { services, doc, uses, byName, controllers, nodes, routers } = compose();
    const missing = [...new Set(uses.filter((u) => !envExample.mentioned.has(u.name)).map((u) => u.name))];
    expect(missing, 'variables used by the compose file but not in .env.example').toEqual([]);
    const undefinedNoDefault = [...new Set(uses.filter((u) => !u.hasDefault && !(u.name in envExample.values)).map((u) => u.name))];
    expect(undefinedNoDefault).toEqual([]);
    for (const name of ['SONIC_PASSWORD', 'SONIC_MAXMEMORY', 'SONIC_MAXMEMORY_POLICY']) expect(envExample.values, name).toHaveProperty(name);
    expect(envExample.values.SONIC_MAXMEMORY).toBe('256mb');
    expect(envExample.values.SONIC_MAXMEMORY_POLICY).toBe('allkeys-lru');
    for (const name of ['REDIS_PASSWORD', 'REDIS_MAXMEMORY', 'REDIS_MAXMEMORY_POLICY']) expect(envExample.mentioned.has(name), name).toBe(true);
    for (const n of nodes) {
      const maxmemory = memoryBytes(n.env.SONIC_MAXMEMORY!);
      const heap = Number(/--max-old-space-size=(\d+)/.exec(n.env.NODE_OPTIONS ?? '')?.[1] ?? NaN) * 1024 * 1024;
      const limit = memoryBytes(String((((n.raw.deploy as Obj).resources as Obj).limits as Obj).memory));
      expect(heap, `${n.name}: V8's heap cap above maxmemory`).toBeGreaterThan(maxmemory);
      expect(limit, `${n.name}: the memory limit above the heap cap`).toBeGreaterThan(heap);
      // Both names of a setting get the same value (the node reads whichever it sees first).
      for (const k of ['PASSWORD', 'MAXMEMORY', 'MAXMEMORY_POLICY']) expect(n.env[`REDIS_${k}`], `${n.name}: REDIS_${k}`).toBe(n.env[`SONIC_${k}`]);
    }
  });

  it('the REDIS_* aliases feed the same settings when the SONIC_* ones are empty', () => {
    const { services, doc, uses, byName, controllers, nodes, routers } = compose();
    const env = { ...envExample.values, SONIC_PASSWORD: '', SONIC_MAXMEMORY: '', REDIS_PASSWORD: 'from-redis', REDIS_MAXMEMORY: '1gb' };
    const resolved = interpolateDeep(parseYaml(read('docker-compose.cluster.yml'), { merge: true }) as Obj, env, []);
    const n = (resolved.services as Record<string, Obj>)['node-1a']!;
    const e = n.environment as Record<string, string>;
    expect([e.SONIC_PASSWORD, e.REDIS_PASSWORD, e.SONIC_AUTH_PASS, e.SONIC_MAXMEMORY]).toEqual(['from-redis', 'from-redis', 'from-redis', '1gb']);
  });
});

const k8s = once(loadK8s);

describe('deploy/k8s', () => {
  const kinds = (k: string) => k8s().docs.filter((d) => d.kind === k);
  const nameOf = (d: Obj) => (d.metadata as Obj).name as string;

  it('has the pieces: namespace, ConfigMap, Secret, StatefulSets with headless Services, init Job, router Deployment and Service, PodDisruptionBudgets', () => {
    const { docs, containers } = k8s();
    const sts = kinds('StatefulSet');
    expect(kinds('Namespace')).toHaveLength(1);
    const ns = nameOf(kinds('Namespace')[0]!);
    for (const d of docs.filter((x) => x.kind !== 'Namespace')) expect((d.metadata as Obj).namespace, `${d.kind} ${nameOf(d)}`).toBe(ns);
    expect(kinds('ConfigMap')).toHaveLength(1);
    expect(kinds('Secret')).toHaveLength(1);
    expect(kinds('Job')).toHaveLength(1);
    expect(kinds('Deployment').map(nameOf)).toEqual(['sonic-router']);
    expect(sts.map(nameOf).sort()).toEqual(['sonic-controller', 'sonic-shard-1', 'sonic-shard-2', 'sonic-shard-3']);
    const services = kinds('Service');
    for (const s of sts) {
      const svc = services.find((x) => nameOf(x) === (s.spec as Obj).serviceName);
      expect(svc, `${nameOf(s)}: its serviceName is a Service`).toBeDefined();
      expect((svc!.spec as Obj).clusterIP, `${nameOf(svc!)} is headless (stable pod DNS names)`).toBe('None');
      expect((svc!.spec as Obj).publishNotReadyAddresses, `${nameOf(svc!)}: names resolve before readiness`).toBe(true);
    }
    const kustom = parseYaml(read('deploy/k8s/kustomization.yaml')) as { resources: string[] };
    expect([...kustom.resources].sort()).toEqual(readdirSync(join(ROOT, 'deploy/k8s')).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort());
    // Every workload but the Job is covered by a PodDisruptionBudget that selects its pods.
    for (const w of [...sts, ...kinds('Deployment')]) {
      const labels = (((w.spec as Obj).template as Obj).metadata as Obj).labels as Record<string, string>;
      const pdb = kinds('PodDisruptionBudget').find((p) => Object.entries(((p.spec as Obj).selector as Obj).matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v));
      expect(pdb, `${nameOf(w)}: a PodDisruptionBudget`).toBeDefined();
    }
  });

  it('every container command line and probe is one sonic accepts', async () => {
    const { docs, containers } = k8s();
    const sts = kinds('StatefulSet');
    const lines: CommandLine[] = [];
    for (const c of containers) {
      lines.push({ where: c.where, args: c.args, env: c.env });
      // A probe is the same in every pod of a workload (Kubernetes does not expand it).
      if (c.env.POD_NAME === undefined || c.env.POD_NAME === c.podNames[0]) for (const p of c.probes) lines.push({ where: `${c.where} ${p.kind}`, args: p.args, env: c.env });
    }
    expect(lines.length).toBeGreaterThanOrEqual(21);
    await expectAllOk(lines);
  });

  it('ports, DNS names, probes and resources agree', () => {
    const { docs, containers } = k8s();
    const sts = kinds('StatefulSet');
    const controllerSts = sts.find((s) => nameOf(s) === 'sonic-controller')!;
    const ctlSvc = (controllerSts.spec as Obj).serviceName as string;
    const ctlPods = containers.filter((c) => c.workload === controllerSts);
    const ctlPort = listenPort(ctlPods[0]!.args);
    const dnsOf = (pod: string, svc: string) => `${pod}.${svc}`;
    const maps = kinds('ConfigMap')[0]!.data as Record<string, string>;
    for (const c of containers) {
      const args = c.args;
      const port = listenPort(args);
      const cports = ((c.container.ports as Obj[]) ?? []).map((p) => p.containerPort as number);
      if (c.kind !== 'Job') {
        expect(cports, `${c.where}: declares the port it listens on`).toContain(port);
        expect(c.probes.map((p) => p.kind).sort(), `${c.where}: readiness and liveness probes`).toEqual(['livenessProbe', 'readinessProbe']);
        expect(opt(args, '--bind'), `${c.where} listens beyond loopback`).toBe('0.0.0.0');
      }
      if (args[0] === 'node' || args[0] === 'controller') expect(cports, `${c.where}: declares its bus port`).toContain(busPort(args));
      for (const p of c.probes) expect(listenPort(['ping', ...p.args.slice(1)]), `${c.where} ${p.kind} pings its port`).toBe(port);
      const res = c.container.resources as Obj | undefined;
      expect((res?.limits as Obj | undefined)?.memory, `${c.where}: a memory limit`).toBeDefined();
      const list = args[0] === 'controller' ? null : opt(args, '--controllers');
      if (list !== undefined && list !== null) {
        expect(list.split(',').map(hostPort), `${c.where}: --controllers are the controller pods' DNS names`).toEqual(ctlPods[0]!.podNames.map((p) => ({ host: dnsOf(p, ctlSvc), port: ctlPort, bus: null })));
      }
      if (args[0] === 'controller') {
        const peers = opt(args, '--peers')!.split(',');
        expect(peers).toEqual(c.podNames.map((p) => `${p}=${dnsOf(p, ctlSvc)}:${ctlPort}`));
        expect(opt(args, '--id')).toBe(c.env.POD_NAME);
      }
      if (args[0] === 'node') {
        // Addressed by DNS name, not pod IP: <pod>.<headless service>.
        const svc = (c.workload.spec as Obj).serviceName as string;
        expect(opt(args, '--cluster-announce-hostname'), c.where).toBe(dnsOf(c.env.POD_NAME!, svc));
        expect(opt(args, '--cluster-node-id'), c.where).toBe(c.env.POD_NAME);
        expect(opt(args, '--cluster-shard'), c.where).toBe(svc.replace(/^sonic-/, ''));
        expect(c.env.SONIC_MAXMEMORY, `${c.where}: maxmemory from the ConfigMap`).toBe(maps.SONIC_MAXMEMORY);
        const maxmemory = memoryBytes(c.env.SONIC_MAXMEMORY!);
        const heap = Number(/--max-old-space-size=(\d+)/.exec(c.env.NODE_OPTIONS ?? '')?.[1] ?? NaN) * 1024 * 1024;
        const limit = memoryBytes(String((res!.limits as Obj).memory));
        expect(heap, `${c.where}: V8's heap cap above maxmemory`).toBeGreaterThan(maxmemory);
        expect(limit, `${c.where}: the memory limit above the heap cap`).toBeGreaterThan(heap);
        expect(memoryBytes(String((res!.requests as Obj).memory)), `${c.where}: requests what it may use`).toBe(limit);
        expect(c.env.SONIC_PASSWORD, `${c.where}: the password from the Secret`).toBeTruthy();
      }
    }
    // Services route to declared container ports of the pods they select.
    for (const svc of kinds('Service')) {
      const sel = (svc.spec as Obj).selector as Record<string, string>;
      const pods = containers.filter((c) => Object.entries(sel).every(([k, v]) => ((((c.workload.spec as Obj).template as Obj).metadata as Obj).labels as Record<string, string>)[k] === v));
      expect(pods.length, `Service ${nameOf(svc)} selects pods`).toBeGreaterThan(0);
      for (const p of (svc.spec as Obj).ports as Obj[]) {
        for (const pod of pods) expect(((pod.container.ports as Obj[]) ?? []).map((x) => x.containerPort), `Service ${nameOf(svc)} port ${p.name}`).toContain(p.targetPort ?? p.port);
      }
    }
  });
});

describe('deploy/Dockerfile', () => {
  const text = read('deploy/Dockerfile').replace(/\\\n/g, ' ');
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const instr = (name: string) => lines.filter((l) => l.trim().toUpperCase().startsWith(`${name} `)).map((l) => l.trim().slice(name.length + 1).trim());
  const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

  it('COPY sources exist and are in the build context', () => {
    const copies = instr('COPY').filter((c) => !c.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const parts = c.startsWith('[') ? (JSON.parse(c) as string[]) : c.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
        expect(ignore.some((p) => p === src || p === `${src}/` || p === `/${src}`), `COPY ${src} is excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it('runs sonic as a non-root user, with the Lua libraries the addon needs', () => {
    expect(instr('FROM').length, 'multi-stage').toBeGreaterThanOrEqual(2);
    expect(instr('ENTRYPOINT')).toEqual(['["sonic"]']);
    const wrapper = /exec node (\S+)/.exec(text)?.[1];
    expect(wrapper, 'the /usr/local/bin/sonic wrapper').toBeDefined();
    expect(existsSync(join(ROOT, wrapper!.replace(/^\/app\//, ''))), wrapper).toBe(true);
    const user = instr('USER').pop()!;
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    // The build stage installs what .ci/run installs for the addon.
    const ci = /apt-get install -y -q (liblua5\.1-0-dev[^\n]*)/.exec(read('.ci/run'))![1]!.split(/\s+/);
    const stages = text.split(/^FROM /m).slice(1);
    for (const p of ci) expect(stages[0], `build stage installs ${p}`).toContain(p);
    for (const p of ['liblua5.1-0', 'lua-cjson', 'lua-bitop']) expect(stages[stages.length - 1], `runtime stage installs ${p}`).toMatch(new RegExp(`\\s${p.replace(/\./g, '\\.')}(\\s|$)`));
  });

  it('CMD and HEALTHCHECK are command lines sonic accepts, on exposed ports', async () => {
    const cmd = JSON.parse(instr('CMD')[0]!) as string[];
    const hc = instr('HEALTHCHECK')[0]!;
    const hcArgs = sonicArgs(JSON.parse(hc.slice(hc.indexOf('CMD ') + 4)) as string[])!;
    expect(hcArgs[0]).toBe('ping');
    await expectAllOk([
      { where: 'Dockerfile CMD', args: cmd, env: {} },
      { where: 'Dockerfile HEALTHCHECK', args: hcArgs, env: {} },
    ]);
    const exposed = instr('EXPOSE').join(' ').split(/\s+/).map(Number);
    for (const p of [listenPort(cmd), busPort(cmd), listenPort(hcArgs), 26379, 36379]) expect(exposed).toContain(p);
  });
});

describe('Makefile', () => {
  it('has the targets, and each sonic command line in them is one sonic accepts', async () => {
    const targets = ['up-stack', 'down', 'health', 'cli', 'drill'];
    const r = spawnSync('make', ['-n', '-s', '-C', ROOT, 'ENV_FILE=.env.example', ...targets], { encoding: 'utf8', timeout: 20000 });
    expect(r.error, 'make is needed to read the Makefile (GNU make)').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    const { services } = loadCompose();
    const lines: CommandLine[] = [];
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      // docker compose ... exec SERVICE [sh -c '...'] sonic ...: that service's environment.
      let svc: ComposeService | undefined;
      for (const words of shellCommands(line)) {
        const e = words.indexOf('exec');
        if (words[0] === 'docker' && e >= 0) svc = services.find((s) => s.name === words.slice(e + 1).find((w) => !w.startsWith('-')));
        const args = sonicArgs(words);
        if (!args) continue;
        expect(svc, `${line}: runs in a service of the compose file`).toBeDefined();
        lines.push({ where: `Makefile: ${line.slice(0, 120)}`, args, env: svc!.env });
      }
    }
    const verbs = lines.map((l) => l.args.slice(0, 2).join(' '));
    expect(verbs).toContain('drill failover');
    expect(verbs).toContain('cluster check');
    expect(verbs).toContain('ping');
    await expectAllOk(lines);
    // The drill's freeze hook reaches the node through the variables the drill sets.
    expect(r.stdout).toMatch(/--partition-cmd '[^']*\$SONIC_DRILL_NODE_HOST[^']*\$SONIC_DRILL_NODE_PORT[^']*DEBUG SLEEP/);
    const made = [...read('Makefile').matchAll(/\$\(([A-Z][A-Z0-9_]*)\)/g)].map((m) => m[1]!).filter((n) => n.startsWith('SONIC_') || n.startsWith('REDIS_'));
    for (const n of made) expect(envExample.mentioned.has(n), `Makefile uses ${n}: in .env.example`).toBe(true);
  });
});

describe('a node announces the DNS name it is given', () => {
  afterAll(stopEverything);

  it('registers with --cluster-announce-hostname as its address (what the deployments rely on)', async () => {
    const g = await startGroup(1, { downAfterMs: 1000 });
    await startClusterNode({ id: 'dns-node', controllers: g.list(), args: ['--cluster-announce-hostname', 'localhost', '--cluster-shard', 'shard-1'] });
    const seen = await waitFor(
      'dns-node registered',
      () => {
        const r = spawnSync(process.execPath, [SONIC, 'status', '--json', '--controllers', g.list()], { encoding: 'utf8', timeout: 10000 });
        if (r.status !== 0) return null;
        const st = JSON.parse(r.stdout) as { config?: { nodes?: { id: string; address?: { host: string }; host?: string }[] } };
        const n = st.config?.nodes?.find((x) => x.id === 'dns-node');
        return n ? (n.address?.host ?? n.host ?? '?') : null;
      },
      20000,
      200,
    );
    expect(seen).toBe('localhost');
  });
});

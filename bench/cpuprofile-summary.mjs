#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time and total (inclusive) time
// aggregated by function + url + line, and self time by file ("where the time goes").
//
//   node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top N] [--json OUT]

import { readFileSync, writeFileSync } from 'node:fs';
import { REPO_ROOT, parseArgs, table } from './lib.mjs';

function shortUrl(url) {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(REPO_ROOT + '/')) u = u.slice(REPO_ROOT.length + 1);
  return u;
}

function label(cf) {
  const fn = cf.functionName || '(anonymous)';
  const url = shortUrl(cf.url);
  return url ? `${fn} ${url}:${cf.lineNumber + 1}` : fn;
}

/**
 * Returns { totalMs, self: [{ key, ms, pct }], total: [...], byFile: [...] }.
 * Self time is the sum of the sample intervals whose leaf is the function; total time
 * counts a sample once for every distinct function on its stack.
 */
export function summarise(profile) {
  const nodes = new Map();
  for (const n of profile.nodes) nodes.set(n.id, n);
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map();
  const { samples, timeDeltas } = profile;
  // timeDeltas[i] is the time since the previous sample; attribute it to sample i.
  for (let i = 0; i < samples.length; i++) {
    const dt = Math.max(0, timeDeltas[i] ?? 0);
    selfById.set(samples[i], (selfById.get(samples[i]) ?? 0) + dt);
  }
  const totalUs = [...selfById.values()].reduce((a, b) => a + b, 0);
  const self = new Map();
  const total = new Map();
  const byFile = new Map();
  for (const [id, us] of selfById) {
    const n = nodes.get(id);
    const key = label(n.callFrame);
    self.set(key, (self.get(key) ?? 0) + us);
    const file = shortUrl(n.callFrame.url) || n.callFrame.functionName || '(native)';
    byFile.set(file, (byFile.get(file) ?? 0) + us);
    // Inclusive: every distinct function on the stack gets the sample once.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = label(nodes.get(cur).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + us);
    }
  }
  const list = (m) =>
    [...m.entries()]
      .map(([key, us]) => ({ key, ms: us / 1000, pct: (100 * us) / totalUs }))
      .sort((a, b) => b.ms - a.ms);
  return { totalMs: totalUs / 1000, self: list(self), total: list(total), byFile: list(byFile) };
}

export function printSummary(s, top = 30, out = (x) => process.stdout.write(x)) {
  const rows = (items, n) => [['%', 'ms', 'function  file:line'], ...items.slice(0, n).map((e) => [e.pct.toFixed(1), e.ms.toFixed(0), e.key])];
  const right = (i) => i < 2;
  out(`profile: ${(s.totalMs / 1000).toFixed(2)} s sampled\n\nTop self time:\n${table(rows(s.self, top), right)}\n`);
  out(`\nTop total (inclusive) time:\n${table(rows(s.total, top), right)}\n`);
  out(`\nSelf time by file:\n${table(rows(s.byFile, 15), right)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  const o = parseArgs(process.argv.slice(3), { top: 'int', json: 'string' });
  if (!file || o.help) {
    process.stdout.write('Usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top N] [--json OUT]\n');
    process.exit(file ? 0 : 1);
  }
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')));
  printSummary(s, o.top ?? 30);
  if (o.json) writeFileSync(o.json, JSON.stringify(s, null, 2));
}

/**
 * Monitoring: the Prometheus endpoint (--metrics-port) parses as the text exposition
 * format and moves with traffic; INFO latencystats; redis-cli --bigkeys, --memkeys,
 * --hotkeys and --stat against Sonic.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { startSonic, stopAll, freePort, redisCli } from './harness.js';

afterAll(stopAll);

interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict parser of the Prometheus text format (0.0.4): HELP/TYPE comments, samples
 * `name{l="v",...} value`, label values with \\ \" \n escapes; throws on anything else.
 */
function parseProm(text: string): { types: Map<string, string>; samples: PromSample[] } {
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
  for (const [n, line] of text.split('\n').entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) throw new Error(`line ${n + 1}: bad comment: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!)) throw new Error(`line ${n + 1}: bad type ${m[3]}`);
        if (types.has(m[2]!)) throw new Error(`line ${n + 1}: TYPE twice for ${m[2]}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const nm = NAME.exec(line);
    if (!nm) throw new Error(`line ${n + 1}: bad metric name: ${line}`);
    let i = nm[0].length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
        if (!ln || line[i + ln[0].length] !== '=' || line[i + ln[0].length + 1] !== '"') throw new Error(`line ${n + 1}: bad label at ${i}: ${line}`);
        i += ln[0].length + 2;
        let v = '';
        for (;;) {
          const ch = line[i];
          if (ch === undefined) throw new Error(`line ${n + 1}: unterminated label value`);
          i++;
          if (ch === '"') break;
          if (ch === '\\') {
            const e = line[i++];
            if (e === 'n') v += '\n';
            else if (e === '\\' || e === '"') v += e;
            else throw new Error(`line ${n + 1}: bad escape \\${e}`);
          } else v += ch;
        }
        if (ln[0] in labels) throw new Error(`line ${n + 1}: label ${ln[0]} twice`);
        labels[ln[0]] = v;
        if (line[i] === ',') i++;
        else if (line[i] !== '}') throw new Error(`line ${n + 1}: expected , or } at ${i}`);
      }
      i++;
    }
    const rest = line.slice(i);
    const vm = /^ (-?[0-9.e+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/.exec(rest);
    if (!vm) throw new Error(`line ${n + 1}: bad value: ${JSON.stringify(rest)}`);
    samples.push({ name: nm[0], labels, value: vm[1] === '+Inf' ? Infinity : vm[1] === '-Inf' ? -Infinity : Number(vm[1]) });
  }
  return { types, samples };
}

function value(p: ReturnType<typeof parseProm>, name: string, labels: Record<string, string> = {}): number {
  const s = p.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (!s) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
  return s.value;
}

describe('Prometheus /metrics', () => {
  it('parses strictly, has the expected families, and its counters move with traffic', async () => {
    const mport = await freePort();
    const s = await startSonic(['--metrics-port', String(mport), '--maxmemory', '32mb', '--maxmemory-policy', 'allkeys-lru']);
    const r = new Redis({ port: s.port, lazyConnect: true });
    await r.connect();
    try {
      const scrape = async (): Promise<ReturnType<typeof parseProm>> => {
        const res = await fetch(`http://127.0.0.1:${mport}/metrics`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
        return parseProm(await res.text());
      };
      const a = await scrape();
      expect(a.types.get('sonic_commands_total')).toBe('counter');
      expect(a.types.get('sonic_command_duration_seconds')).toBe('histogram');
      expect(a.types.get('sonic_memory_used_bytes')).toBe('gauge');
      const hitsBefore = value(a, 'sonic_keyspace_hits_total');
      const evictedBefore = value(a, 'sonic_evicted_keys_total');
      await r.set('a', '1');
      for (let i = 0; i < 20; i++) await r.get('a');
      await r.get('missing');
      // Past the limit: evictions.
      const p = r.pipeline();
      for (let i = 0; i < 30_000; i++) p.set(`k:${i}`, 'v'.repeat(1000));
      await p.exec();
      await r.set('x', '1', 'PX', 1);
      await new Promise((res) => setTimeout(res, 20));
      await r.get('x'); // lazily expired
      const b = await scrape();
      expect(value(b, 'sonic_commands_total', { cmd: 'get' })).toBeGreaterThanOrEqual(22);
      expect(value(b, 'sonic_keyspace_hits_total') - hitsBefore).toBeGreaterThanOrEqual(20);
      expect(value(b, 'sonic_keyspace_misses_total')).toBeGreaterThanOrEqual(1);
      expect(value(b, 'sonic_evicted_keys_total') - evictedBefore).toBeGreaterThan(1000);
      expect(value(b, 'sonic_expired_keys_total')).toBeGreaterThanOrEqual(1);
      expect(value(b, 'sonic_connected_clients')).toBe(1);
      expect(value(b, 'sonic_memory_used_bytes')).toBeLessThanOrEqual(32 * 1024 * 1024 + 1024 * 1024);
      expect(value(b, 'sonic_memory_max_bytes')).toBe(32 * 1024 * 1024);
      const hr = value(b, 'sonic_keyspace_hit_ratio');
      expect(hr).toBeGreaterThan(0);
      expect(hr).toBeLessThanOrEqual(1);
      // Histogram: cumulative buckets, +Inf equals _count, counts match the command stats.
      const buckets = b.samples.filter((x) => x.name === 'sonic_command_duration_seconds_bucket' && x.labels.cmd === 'set');
      expect(buckets.length).toBeGreaterThan(5);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
      const count = value(b, 'sonic_command_duration_seconds_count', { cmd: 'set' });
      expect(buckets.at(-1)!.labels.le).toBe('+Inf');
      expect(buckets.at(-1)!.value).toBe(count);
      expect(count).toBe(value(b, 'sonic_commands_total', { cmd: 'set' }));
      // Anything but GET /metrics is a 404.
      expect((await fetch(`http://127.0.0.1:${mport}/other`)).status).toBe(404);
    } finally {
      r.disconnect();
      await s.stop();
    }
  });

  it('INFO latencystats reports per-command percentiles as Redis 7 does; latency-tracking no stops it', async () => {
    const s = await startSonic();
    const r = new Redis({ port: s.port, lazyConnect: true });
    await r.connect();
    try {
      for (let i = 0; i < 50; i++) await r.set(`k${i}`, 'v');
      const info = await r.info('latencystats');
      expect(info).toMatch(/^# Latencystats\r\n/);
      expect(info).toMatch(/^latency_percentiles_usec_set:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}\r$/m);
      await r.call('config', 'set', 'latency-tracking-info-percentiles', '50 90');
      expect(await r.info('latencystats')).toMatch(/^latency_percentiles_usec_set:p50=\d+\.\d{3},p90=\d+\.\d{3}\r$/m);
      await r.call('config', 'resetstat');
      await r.call('config', 'set', 'latency-tracking', 'no');
      await r.set('k', 'v');
      expect(await r.info('latencystats')).not.toMatch(/latency_percentiles_usec_set/);
    } finally {
      r.disconnect();
      await s.stop();
    }
  });
});

describe('redis-cli memory tools against Sonic', () => {
  it('--bigkeys, --memkeys, --hotkeys (LFU) and --stat', async () => {
    const s = await startSonic(['--maxmemory-policy', 'allkeys-lfu']);
    const r = new Redis({ port: s.port, lazyConnect: true });
    await r.connect();
    try {
      await r.set('bigstring', 'x'.repeat(5000));
      await r.set('small', 'x');
      await r.rpush('biglist', ...Array.from({ length: 300 }, (_, i) => `e${i}`));
      await r.hset('bighash', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, 'v'])));
      await r.sadd('bigset', ...Array.from({ length: 50 }, (_, i) => `m${i}`));
      await r.zadd('bigzset', ...Array.from({ length: 40 }, (_, i) => [i, `m${i}`]).flat());
      for (let i = 0; i < 300; i++) await r.get('small');
      const big = redisCli(s.port, ['--bigkeys']);
      expect(big.status).toBe(0);
      expect(big.stdout).toMatch(/Biggest string found '?"?bigstring"?'? has 5000 bytes/);
      expect(big.stdout).toMatch(/Biggest\s+list found '?"?biglist"?'? has 300 items/);
      expect(big.stdout).toMatch(/Biggest\s+hash found '?"?bighash"?'? has 100 fields/);
      const mem = redisCli(s.port, ['--memkeys']);
      expect(mem.status).toBe(0);
      expect(mem.stdout).toMatch(/Biggest string found '?"?bigstring"?'? has \d+ bytes/);
      expect(mem.stdout).toMatch(/Biggest\s+list found '?"?biglist"?'? has \d+ bytes/);
      const hot = redisCli(s.port, ['--hotkeys']);
      expect(hot.status).toBe(0);
      expect(hot.stdout).toMatch(/hot key found with counter: \d+\s+keyname: "?small"?/);
      // --stat runs until stopped: read its first lines.
      const out = await new Promise<string>((resolve) => {
        // redis-cli block-buffers a pipe: stdbuf makes it line-buffered.
        const child = spawn('stdbuf', ['-oL', 'redis-cli', '-p', String(s.port), '--stat', '-i', '0.1']);
        let buf = '';
        const done = (): void => {
          child.kill('SIGKILL');
          resolve(buf);
        };
        const timer = setTimeout(done, 3000);
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.split('\n').length > 4) {
            clearTimeout(timer);
            done();
          }
        });
      });
      expect(out).toMatch(/keys\s+mem\s+clients\s+blocked\s+requests\s+connections/);
      expect(out).toMatch(/^\s*6\s+\d+(\.\d+)?[KMG]\s+\d+\s+0\s+\d+/m);
    } finally {
      r.disconnect();
      await s.stop();
    }
  });
});

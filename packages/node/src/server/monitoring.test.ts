import { describe, expect, it } from 'vitest';
import { LatencyMonitor, SlowLog, formatMonitorArg } from './monitoring.js';
import { bytesToHuman, selectSections } from './info.js';
import type { Client } from './client.js';

describe('SlowLog', () => {
  const client = { addr: '127.0.0.1:1', name: 'n' } as Client;

  it('keeps the newest entries first, up to the maximum length', () => {
    const log = new SlowLog();
    for (let i = 0; i < 5; i++) log.add(['GET', `k${i}`], i, client, 3);
    expect(log.entries.map((e) => e.argv[1])).toEqual(['k4', 'k3', 'k2']);
    expect(log.entries[0]!.id).toBe(4);
  });

  it('clips arguments as Redis does', () => {
    const log = new SlowLog();
    const argv = ['MSET', ...Array.from({ length: 40 }, (_, i) => `a${i}`)];
    log.add(argv, 1, client, 10);
    const e = log.entries[0]!.argv;
    expect(e.length).toBe(32);
    expect(e[31]).toBe('... (10 more arguments)');
    log.add(['SET', 'k', 'x'.repeat(200)], 1, client, 10);
    expect(log.entries[0]!.argv[2]).toBe(`${'x'.repeat(128)}... (72 more bytes)`);
  });
});

describe('LatencyMonitor', () => {
  it('keeps one sample per second (the highest), the all-time max, and resets by name', () => {
    const m = new LatencyMonitor();
    m.add('command', 10);
    m.add('command', 30);
    m.add('command', 20);
    m.add('fast-command', 5);
    const ev = m.events.get('command')!;
    expect(ev.samples.length).toBe(1);
    expect(ev.samples[0]!.ms).toBe(30);
    expect(ev.max).toBe(30);
    expect(m.reset(['nosuch', 'command'])).toBe(1);
    expect([...m.events.keys()]).toEqual(['fast-command']);
    expect(m.reset([])).toBe(1);
  });
});

describe('MONITOR quoting', () => {
  it('escapes as sdscatrepr', () => {
    expect(formatMonitorArg('a "b"\n\\\x01')).toBe('"a \\"b\\"\\n\\\\\\x01"');
  });
});

describe('INFO helpers', () => {
  it('formats bytes as Redis bytesToHuman', () => {
    expect(bytesToHuman(0)).toBe('0B');
    expect(bytesToHuman(1023)).toBe('1023B');
    expect(bytesToHuman(1287656)).toBe('1.23M');
    expect(bytesToHuman(25276510208)).toBe('23.54G');
  });

  it('selects sections: default, all, everything and names in any case', () => {
    expect([...selectSections([])]).not.toContain('commandstats');
    expect([...selectSections(['all'])]).toContain('commandstats');
    expect([...selectSections(['everything'])]).toContain('latencystats');
    expect([...selectSections(['KEYSPACE', 'nosuch'])]).toEqual(['keyspace']);
  });
});

import { describe, expect, it } from 'vitest';
import type { controlPb } from '@sonic/protocol';
import { parseUpArgs } from './up.js';
import { Child } from './up-procs.js';
import { render, shapeKey, type Snapshot } from './up-view.js';

describe('sonic up options', () => {
  it('defaults: 3 shards of a primary and a replica, 3 controllers, router on 6379, .sonic', () => {
    const o = parseUpArgs([]);
    expect(o).toMatchObject({ shards: 3, replicas: 1, controllers: 3, port: 6379, persist: false, dir: '.sonic', password: '', downAfterMs: 1000, syncMode: 'async' });
    expect(o.given.size).toBe(0);
  });

  it('every option, with a value as the next argument or after =', () => {
    const o = parseUpArgs(['--shards=4', '--replicas', '2', '--controllers', '5', '--port', '7000', '--persist', '--dir', 'x', '--password', 'pw', '--down-after-milliseconds', '2000', '--repl-sync-mode', 'sync']);
    expect(o).toMatchObject({ shards: 4, replicas: 2, controllers: 5, port: 7000, persist: true, dir: 'x', password: 'pw', downAfterMs: 2000, syncMode: 'sync' });
    expect([...o.given].sort()).toEqual(['controllers', 'dir', 'down-after-milliseconds', 'password', 'persist', 'port', 'repl-sync-mode', 'replicas', 'shards']);
  });

  it('one-line errors', () => {
    expect(() => parseUpArgs(['--shards', '0'])).toThrow("--shards must be an integer from 1 to 64, not '0'");
    expect(() => parseUpArgs(['--replicas', '6'])).toThrow('--replicas must be an integer from 0 to 5');
    expect(() => parseUpArgs(['--controllers', '4'])).toThrow('--controllers must be odd');
    expect(() => parseUpArgs(['--port'])).toThrow('--port needs a value');
    expect(() => parseUpArgs(['--repl-sync-mode', 'semi'])).toThrow("--repl-sync-mode must be async or sync, not 'semi'");
    expect(() => parseUpArgs(['--nodes', '3'])).toThrow("unknown option '--nodes'");
    expect(() => parseUpArgs(['start'])).toThrow("unknown option 'start'");
  });
});

function child(id: string, kind: 'controller' | 'node' | 'router', port: number, exit = ''): Child {
  const c = new Child({ id, kind, port, dir: `/d/${id}`, args: [], shard: id.startsWith('s1') ? 'shard-1' : undefined });
  c.exit = exit;
  return c;
}

const status = {
  config: {
    epoch: 7,
    nodes: [
      { id: 's1-p', address: { host: '127.0.0.1', port: 6380 }, role: 'replica', shard: 'shard-1', health: 'ok', runId: 'a', priority: 100 },
      { id: 's1-r1', address: { host: '127.0.0.1', port: 6381 }, role: 'primary', shard: 'shard-1', health: 'ok', runId: 'b', priority: 100 },
    ],
    shards: [{ id: 'shard-1', primary: 's1-r1', replicas: ['s1-p'], slots: [{ start: 0, end: 16383 }] }],
    migrations: [],
  },
  leader: 'c1',
  term: 2,
  commitIndex: 10,
  answeredBy: 'c1',
  controllers: [{ id: 'c1', address: { host: '127.0.0.1', port: 26379 }, leader: true, reachable: true }],
  nodes: [
    { id: 's1-p', role: 'replica', replid: '', offset: 1, sdown: true, odown: false, lastOkMs: 5000, heartbeatMs: 5000, linkUp: false, fenced: false },
    { id: 's1-r1', role: 'primary', replid: '', offset: 1, sdown: false, odown: false, lastOkMs: 10, heartbeatMs: 10, linkUp: true, fenced: false },
  ],
} as unknown as controlPb.StatusReply;

describe('sonic up status view', () => {
  const snap = (over: Partial<Snapshot> = {}): Snapshot => ({
    at: Date.UTC(2026, 10, 27, 13, 2, 11),
    status,
    statusError: '',
    info: new Map([['s1-r1', { ops: '1210', mem: '14.2M', role: 'master' }]]),
    children: [child('c1', 'controller', 26379, 'killed by SIGKILL'), child('s1-p', 'node', 6380, 'killed by SIGKILL'), child('s1-r1', 'node', 6381, 'killed by SIGTERM'), child('router', 'router', 6379, 'exited with 1')],
    routerPort: 6379,
    dir: '.sonic',
    ...over,
  });

  it('shards with their slots, the primary first, health, ops/s, memory and how processes ended', () => {
    const text = render(snap());
    const lines = text.split('\n');
    expect(lines[0]).toBe('sonic up · router 127.0.0.1:6379 (exited with 1) · epoch 7 · leader c1 (term 2) · 13:02:11');
    expect(lines[1]).toBe('controllers: c1 :26379 killed by SIGKILL');
    expect(lines[3]).toMatch(/^SHARD\s+SLOTS\s+NODE\s+PORT\s+ROLE\s+HEALTH\s+OPS\/S\s+MEMORY\s+PID$/);
    expect(lines[4]).toMatch(/^shard-1\s+0-16383 \(16384\)\s+s1-r1\s+6381\s+primary\s+ok\s+1210\s+14\.2M\s+killed by SIGTERM$/);
    expect(lines[5]).toMatch(/^\s+s1-p\s+6380\s+replica\s+s_down\s+-\s+-\s+killed by SIGKILL$/);
    expect(text).toContain('exited: c1 (killed by SIGKILL), s1-p (killed by SIGKILL), s1-r1 (killed by SIGTERM), router (exited with 1) · press r');
    expect(text).toContain('connect: redis-cli -p 6379');
  });

  it('without an answer from the controllers, the nodes as they report themselves', () => {
    const text = render(snap({ status: null, statusError: 'unreachable' }));
    expect(text).toContain('controllers not answering: unreachable');
    expect(text).toMatch(/shard-1\s+s1-r1\s+6381\s+master\s+\?\s+1210/);
  });

  it('the plain view prints again only when more than ops/s and memory changed', () => {
    const a = snap();
    const b = snap({ at: a.at + 5000, info: new Map([['s1-r1', { ops: '99', mem: '20M', role: 'master' }]]) });
    expect(shapeKey(b)).toBe(shapeKey(a));
    const moved = { ...status, config: { ...status.config!, epoch: 8 } } as controlPb.StatusReply;
    expect(shapeKey(snap({ status: moved }))).not.toBe(shapeKey(a));
  });
});

import { describe, expect, it } from 'vitest';
import { COMMANDS } from '@sonic/protocol';
import { tableMismatches } from './index.js';

describe('command table', () => {
  it('every declared command has a handler and every handler is declared', () => {
    expect(tableMismatches()).toEqual({ undeclared: [], unhandled: [] });
  });

  it('declares the families issue 2 lists', () => {
    for (const name of ['get', 'set', 'del', 'hset', 'lpush', 'blpop', 'sadd', 'zadd', 'bzpopmin', 'multi', 'subscribe', 'info', 'config', 'client', 'command', 'scan', 'dump', 'restore']) {
      expect(COMMANDS.has(name), name).toBe(true);
    }
  });
});

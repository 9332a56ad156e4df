import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startSonic, stopAll, redisCli, type Proc } from './harness.js';

describe('sonic node smoke', () => {
  let node: Proc;
  beforeAll(async () => {
    node = await startSonic();
  });
  afterAll(stopAll);

  it('answers redis-cli and ioredis', async () => {
    expect(redisCli(node.port, ['ping']).stdout).toBe('PONG');
    const r = new Redis({ port: node.port, lazyConnect: true });
    try {
      await r.connect();
      expect(await r.set('k', 'v')).toBe('OK');
      expect(await r.get('k')).toBe('v');
      expect(await r.incr('n')).toBe(1);
    } finally {
      r.disconnect();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { parseRouterArgs, RouterConfigError } from './options.js';

describe('parseRouterArgs', () => {
  it('takes the defaults of the interface', () => {
    const o = parseRouterArgs(['--controllers', '127.0.0.1:26379,127.0.0.1:26380'], {});
    expect(o.port).toBe(6379);
    expect(o.bind).toBe('127.0.0.1');
    expect(o.retryTimeoutMs).toBe(2000);
    expect(o.readFrom).toBe('primary');
    expect(o.workers).toBe(1);
    expect(o.controllers.map((c) => c.busPort)).toEqual([36379, 36380]);
  });

  it('reads every option', () => {
    const o = parseRouterArgs(
      ['--port=7000', '--bind', '0.0.0.0', '--seeds', 'a:1,b:2', '--read-from', 'prefer-replicas', '--workers', '2', '--retry-timeout', '500', '--requirepass', 'p', '--node-password', 'n', '--log-level', 'warn', '--check-config'],
      {},
    );
    expect(o).toMatchObject({ port: 7000, bind: '0.0.0.0', readFrom: 'prefer-replicas', workers: 2, retryTimeoutMs: 500, requirepass: 'p', nodePassword: 'n', logLevel: 'warn', checkConfig: true });
    expect(o.seeds).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ]);
  });

  it('refuses what it cannot use, with one line', () => {
    const bad = [[], ['--seeds', 'x:99999'], ['--seeds', 'a:1', '--read-from', 'any'], ['--seeds', 'a:1', '--workers', '0'], ['--seeds', 'a:1', '--nope', '1'], ['--seeds'], ['--controllers', 'host:abc']];
    for (const args of bad) {
      expect(() => parseRouterArgs(args, {})).toThrow(RouterConfigError);
      try {
        parseRouterArgs(args, {});
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
      }
    }
  });
});

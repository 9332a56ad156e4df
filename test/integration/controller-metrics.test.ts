import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './harness.js';
import { startGroup, stopEverything, waitFor } from './controller-helpers.js';

afterAll(stopEverything);

async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    expect(m, `not an exposition line: ${line}`).not.toBeNull();
    out.set(m![1]!, Number(m![2]));
  }
  return out;
}

describe('controller metrics', () => {
  it('serves Raft and configuration gauges on --metrics-port', async () => {
    const mport = await freePort();
    await startGroup(1, { extra: ['--metrics-port', String(mport)] });
    const m = await waitFor('the controller leads', async () => {
      const s = await scrape(mport);
      return s.get('sonic_controller_is_leader') === 1 ? s : null;
    });
    expect(m.get('sonic_controller_raft_term')).toBeGreaterThanOrEqual(1);
    expect(m.get('sonic_controller_raft_commit_index')).toBeGreaterThanOrEqual(1);
    expect(m.get('sonic_controller_members')).toBe(1);
    expect(m.has('sonic_controller_config_epoch')).toBe(true);
    expect(m.has('sonic_controller_process_resident_memory_bytes')).toBe(true);
    const notFound = await fetch(`http://127.0.0.1:${mport}/other`);
    expect(notFound.status).toBe(404);
  });
});

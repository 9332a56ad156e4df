import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');

describe('generated command methods', () => {
  it('packages/client/src/commands.gen.ts matches the command table (run node scripts/gen-client.mjs)', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts/gen-client.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

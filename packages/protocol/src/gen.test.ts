import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { replicationPb } from './index.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const GEN = join(ROOT, 'packages/protocol/src/gen');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

describe('generated proto code', () => {
  it('is what `npm run proto` generates from proto/ today (regenerate when this fails)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sonic-proto-'));
    try {
      const buf = join(ROOT, 'node_modules/.bin/buf');
      const r = spawnSync(buf, ['generate', '--template', 'buf.gen.yaml', '-o', tmp], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
      expect(r.status, r.stderr).toBe(0);
      const fresh = tsFiles(join(tmp, 'packages/protocol/src/gen')).map((p) => relative(join(tmp, 'packages/protocol/src/gen'), p));
      const committed = tsFiles(GEN).map((p) => relative(GEN, p));
      expect(committed).toEqual(fresh);
      for (const f of fresh) {
        const a = readFileSync(join(tmp, 'packages/protocol/src/gen', f), 'utf8');
        const b = readFileSync(join(GEN, f), 'utf8');
        expect(b, `${f} is stale: run npm run proto`).toBe(a);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('round-trips a replication message', () => {
    const { PrimaryMessage } = replicationPb;
    const msg = { batch: { offset: 2 ** 40 + 7, data: Buffer.from('*1\r\n$4\r\nPING\r\n') } };
    const back = PrimaryMessage.decode(PrimaryMessage.encode(msg).finish());
    expect(back.batch?.offset).toBe(2 ** 40 + 7);
    expect(Buffer.from(back.batch!.data).toString()).toBe('*1\r\n$4\r\nPING\r\n');
    expect(back.fullSync).toBeUndefined();
  });
});

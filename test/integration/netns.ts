/**
 * Network namespaces for tests that need a client on another host: a namespace made by
 * the test, joined to the root namespace by a veth pair with its own /30 of addresses.
 * Traffic only ever goes between the two ends of that pair. Needs root and iproute2;
 * `netnsAvailable()` says whether they are here, so tests can skip with a message.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error}`);
}

export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('ip', ['netns', 'list']).status === 0;
}

export interface TestHost {
  ns: string;
  /** The address of the root namespace's end (where servers listen). */
  hostAddr: string;
  /** The address of the namespace's end (where the remote client is). */
  nsAddr: string;
  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[], input?: string): { stdout: string; stderr: string; status: number | null };
  remove(): void;
}

let counter = 0;

export function makeTestHost(): TestHost {
  const id = randomBytes(2).toString('hex') + (counter++ % 10);
  const ns = `sonic-t${id}`;
  const vh = `vh${id}`;
  const vn = `vn${id}`;
  // 10.213.x.y/30 per host: the test's own private link.
  const third = Math.floor(Math.random() * 250) + 1;
  const fourth = (Math.floor(Math.random() * 60) * 4) & 0xfc;
  const hostAddr = `10.213.${third}.${fourth + 1}`;
  const nsAddr = `10.213.${third}.${fourth + 2}`;
  ip(['netns', 'add', ns]);
  try {
    ip(['link', 'add', vh, 'type', 'veth', 'peer', 'name', vn]);
    ip(['link', 'set', vn, 'netns', ns]);
    ip(['addr', 'add', `${hostAddr}/30`, 'dev', vh]);
    ip(['link', 'set', vh, 'up']);
    ip(['netns', 'exec', ns, 'ip', 'addr', 'add', `${nsAddr}/30`, 'dev', vn]);
    ip(['netns', 'exec', ns, 'ip', 'link', 'set', vn, 'up']);
    ip(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['link', 'del', vh]);
    throw err;
  }
  return {
    ns,
    hostAddr,
    nsAddr,
    exec(cmd, args, input) {
      const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', input, timeout: 10000 });
      return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
    },
    remove() {
      spawnSync('ip', ['netns', 'del', ns]);
      spawnSync('ip', ['link', 'del', vh]);
    },
  };
}

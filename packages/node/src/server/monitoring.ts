import type { Client } from './client.js';

export interface SlowLogEntry {
  id: number;
  time: number;
  usec: number;
  argv: string[];
  addr: string;
  name: string;
}

/** The slow log: commands slower than slowlog-log-slower-than, newest first. */
export class SlowLog {
  entries: SlowLogEntry[] = [];
  private nextId = 0;

  add(argv: string[], usec: number, c: Client, maxLen: number): void {
    // Redis keeps at most 32 arguments, each clipped to 128 bytes.
    const max = 32;
    const args: string[] = [];
    for (let i = 0; i < argv.length && i < max; i++) {
      if (i === max - 1 && argv.length > max) {
        args.push(`... (${argv.length - max + 1} more arguments)`);
        break;
      }
      const a = argv[i]!;
      args.push(a.length > 128 ? `${a.slice(0, 128)}... (${a.length - 128} more bytes)` : a);
    }
    this.entries.unshift({ id: this.nextId++, time: Math.floor(Date.now() / 1000), usec, argv: args, addr: c.addr, name: c.name });
    while (this.entries.length > maxLen) this.entries.pop();
  }

  reset(): void {
    this.entries = [];
  }
}

/** Quotes an argument as MONITOR shows it (Redis's sdscatrepr). */
export function formatMonitorArg(a: string): string {
  let out = '"';
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    switch (c) {
      case 92:
        out += '\\\\';
        break;
      case 34:
        out += '\\"';
        break;
      case 10:
        out += '\\n';
        break;
      case 13:
        out += '\\r';
        break;
      case 9:
        out += '\\t';
        break;
      case 7:
        out += '\\a';
        break;
      case 8:
        out += '\\b';
        break;
      default:
        out += c >= 32 && c < 127 ? a[i] : '\\x' + c.toString(16).padStart(2, '0');
    }
  }
  return out + '"';
}

export interface LatencySample {
  /** Unix time in seconds. */
  time: number;
  ms: number;
}

/**
 * The latency monitor (LATENCY LATEST/HISTORY): per event, the last 160 samples above
 * latency-monitor-threshold, at most one per second (the highest wins), and the
 * all-time maximum.
 */
export class LatencyMonitor {
  readonly events = new Map<string, { samples: LatencySample[]; max: number }>();

  add(event: string, ms: number): void {
    const time = Math.floor(Date.now() / 1000);
    let ev = this.events.get(event);
    if (ev === undefined) this.events.set(event, (ev = { samples: [], max: 0 }));
    if (ms > ev.max) ev.max = ms;
    const last = ev.samples[ev.samples.length - 1];
    if (last !== undefined && last.time === time) {
      if (ms > last.ms) last.ms = ms;
      return;
    }
    ev.samples.push({ time, ms });
    if (ev.samples.length > 160) ev.samples.shift();
  }

  /** Resets the named events (all when none named); returns how many were reset. */
  reset(names: readonly string[]): number {
    if (names.length === 0) {
      const n = this.events.size;
      this.events.clear();
      return n;
    }
    let n = 0;
    for (const name of names) if (this.events.delete(name)) n++;
    return n;
  }
}

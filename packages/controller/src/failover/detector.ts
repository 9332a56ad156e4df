/**
 * Failure detection, sentinel-style (pure: the caller passes the time).
 *
 * `FailureDetector` is one controller's view: a node is *subjectively down* when it has
 * not given a valid PING reply for `downAfterMs` (counted from when monitoring began
 * for a node never seen up). `OpinionBoard` collects the views the other controllers
 * share; a node is *objectively down* when at least `quorum` controllers (this one
 * included) find it down in opinions fresher than `validityMs`.
 */

interface Probe {
  /** When monitoring began, or the last valid reply. */
  lastOk: number;
  /** A valid reply was ever received. */
  seen: boolean;
  /** Down as of the last `poll`. */
  down: boolean;
}

export class FailureDetector {
  private readonly probes = new Map<string, Probe>();

  constructor(public downAfterMs: number) {}

  /** Starts (or keeps) monitoring a node. */
  watch(id: string, now: number): void {
    if (!this.probes.has(id)) this.probes.set(id, { lastOk: now, seen: false, down: false });
  }

  unwatch(id: string): void {
    this.probes.delete(id);
  }

  watched(): string[] {
    return [...this.probes.keys()];
  }

  /** A valid PING reply (PONG, or -LOADING / -MASTERDOWN, which Sentinel accepts too). */
  onReply(id: string, now: number): void {
    const p = this.probes.get(id);
    if (!p) return;
    p.lastOk = Math.max(p.lastOk, now);
    p.seen = true;
  }

  isSdown(id: string, now: number): boolean {
    const p = this.probes.get(id);
    return p !== undefined && now - p.lastOk > this.downAfterMs;
  }

  /** Replied within down-after: seen up. */
  isUp(id: string, now: number): boolean {
    const p = this.probes.get(id);
    return p !== undefined && p.seen && now - p.lastOk <= this.downAfterMs;
  }

  /** Milliseconds since the last valid reply, or -1 when never. */
  sinceOk(id: string, now: number): number {
    const p = this.probes.get(id);
    return p && p.seen ? now - p.lastOk : -1;
  }

  /** The nodes found down now. */
  downSet(now: number): string[] {
    return [...this.probes.keys()].filter((id) => this.isSdown(id, now)).sort();
  }

  /** The nodes seen up now. */
  upSet(now: number): string[] {
    return [...this.probes.keys()].filter((id) => this.isUp(id, now)).sort();
  }

  /** Transitions since the last poll (for +sdown / -sdown events and opinion pushes). */
  poll(now: number): { down: string[]; up: string[] } {
    const out = { down: [] as string[], up: [] as string[] };
    for (const [id, p] of this.probes) {
      const d = now - p.lastOk > this.downAfterMs;
      if (d && !p.down) out.down.push(id);
      if (!d && p.down) out.up.push(id);
      p.down = d;
    }
    return out;
  }
}

interface Opinion {
  down: Set<string>;
  up: Set<string>;
  at: number;
}

export class OpinionBoard {
  private readonly opinions = new Map<string, Opinion>();

  constructor(
    readonly self: string,
    public validityMs: number,
  ) {}

  record(from: string, down: readonly string[], up: readonly string[], now: number): void {
    if (from === this.self) return;
    this.opinions.set(from, { down: new Set(down), up: new Set(up), at: now });
  }

  forget(from: string): void {
    this.opinions.delete(from);
  }

  /** Controllers (this one included when `selfDown`) that find `node` down, with fresh opinions. */
  votes(node: string, selfDown: boolean, now: number): string[] {
    const out = selfDown ? [this.self] : [];
    for (const [from, o] of this.opinions) if (now - o.at <= this.validityMs && o.down.has(node)) out.push(from);
    return out.sort();
  }

  isOdown(node: string, selfDown: boolean, now: number, quorum: number): boolean {
    return selfDown && this.votes(node, selfDown, now).length >= quorum;
  }

  /** Peers whose last opinion is fresh (they are alive and talking to us). */
  freshPeers(now: number): string[] {
    return [...this.opinions].filter(([, o]) => now - o.at <= this.validityMs).map(([id]) => id).sort();
  }
}

import { describe, expect, it } from 'vitest';
import { applyCommand, emptyConfig, findNode, findShard, type ClusterConfig, type Command } from '../config/cluster.js';
import { FailureDetector, OpinionBoard } from './detector.js';
import { chooseReplica, eligibleReplicas, OffsetTracker, plan, type NodeView } from './plan.js';

function reg(id: string, port: number, replicaOf?: number, priority = 100): Command {
  return {
    op: 'register',
    id,
    host: '127.0.0.1',
    port,
    busPort: 0,
    runId: `run-${id}`,
    role: replicaOf ? 'replica' : 'primary',
    primary: replicaOf ? { host: '127.0.0.1', port: replicaOf } : null,
    shard: '',
    priority,
  };
}

function cluster(): ClusterConfig {
  let c = emptyConfig();
  for (const cmd of [reg('p', 7001), reg('r1', 7002, 7001), reg('r2', 7003, 7001)]) c = applyCommand(c, cmd).config;
  return c;
}

const up: NodeView = { sdown: false, odown: false, up: true, heartbeat: null, offsetReset: false };
const down: NodeView = { sdown: true, odown: true, up: false, heartbeat: null, offsetReset: false };

function views(v: Record<string, Partial<NodeView>>): Map<string, NodeView> {
  return new Map(Object.entries(v).map(([k, x]) => [k, { ...up, ...x }]));
}

describe('failure detector', () => {
  it('is subjectively down after down-after ms without a valid reply', () => {
    const d = new FailureDetector(1000);
    d.watch('n', 0);
    expect(d.isSdown('n', 1000)).toBe(false);
    expect(d.isSdown('n', 1001)).toBe(true);
    expect(d.isUp('n', 500)).toBe(false); // never replied
    d.onReply('n', 1500);
    expect(d.isSdown('n', 2000)).toBe(false);
    expect(d.isUp('n', 2000)).toBe(true);
    expect(d.sinceOk('n', 2000)).toBe(500);
    expect(d.poll(2000)).toEqual({ down: [], up: [] });
    expect(d.poll(2600)).toEqual({ down: ['n'], up: [] });
    expect(d.poll(2700)).toEqual({ down: [], up: [] });
    d.onReply('n', 2800);
    expect(d.poll(2800)).toEqual({ down: [], up: ['n'] });
    expect(d.downSet(5000)).toEqual(['n']);
  });

  it('is objectively down once a quorum of fresh opinions agrees, and only if this controller agrees', () => {
    const b = new OpinionBoard('c1', 1000);
    b.record('c2', ['n'], [], 0);
    expect(b.isOdown('n', true, 500, 2)).toBe(true);
    expect(b.isOdown('n', false, 500, 2)).toBe(false); // not down for us: no odown (as Sentinel)
    expect(b.isOdown('n', true, 500, 3)).toBe(false);
    expect(b.isOdown('n', true, 1500, 2)).toBe(false); // c2's opinion is stale
    b.record('c3', ['n'], [], 1400);
    expect(b.votes('n', true, 1500)).toEqual(['c1', 'c3']);
    b.record('c3', [], ['n'], 1450);
    expect(b.isOdown('n', true, 1500, 2)).toBe(false);
    expect(b.freshPeers(1500)).toEqual(['c3']);
  });
});

describe('failover plan', () => {
  it('does nothing while everything is up', () => {
    expect(plan({ config: cluster(), view: views({ p: {}, r1: {}, r2: {} }), manual: new Map(), busy: new Set() })).toEqual([]);
  });

  it('fails over an objectively down primary to the eligible replicas', () => {
    const d = plan({ config: cluster(), view: views({ p: down, r1: {}, r2: {} }), manual: new Map(), busy: new Set() });
    expect(d).toEqual([{ kind: 'failover', shard: 'shard-1', from: 'p', candidates: ['r1', 'r2'], reason: 'odown', fromHealth: 'down' }]);
  });

  it('a subjectively down primary is not enough; a busy shard gets no new decision', () => {
    expect(plan({ config: cluster(), view: views({ p: { sdown: true, up: false }, r1: {}, r2: {} }), manual: new Map(), busy: new Set() })).toEqual([]);
    expect(plan({ config: cluster(), view: views({ p: down, r1: {}, r2: {} }), manual: new Map(), busy: new Set(['shard-1']) })).toEqual([]);
  });

  it('excludes replicas that are down or have priority 0; stuck without any', () => {
    let c = cluster();
    c = applyCommand(c, reg('r2', 7003, 7001, 0)).config;
    expect(eligibleReplicas(c, 'shard-1', views({ p: down, r1: { sdown: true }, r2: {} }))).toEqual([]);
    const d = plan({ config: c, view: views({ p: down, r1: { sdown: true }, r2: {} }), manual: new Map(), busy: new Set() });
    expect(d.map((x) => x.kind)).toEqual(['setHealth', 'stuck']);
    expect(d[0]).toMatchObject({ id: 'p', health: 'down' });
  });

  it('an untrusted primary (restarted) is replaced, or kept when no replica can ever take over', () => {
    let c = applyCommand(cluster(), { ...(reg('p', 7001) as Extract<Command, { op: 'register' }>), runId: 'again' }).config;
    expect(findNode(c, 'p')!.health).toBe('untrusted');
    const d = plan({ config: c, view: views({ p: {}, r1: {}, r2: {} }), manual: new Map(), busy: new Set() });
    expect(d).toEqual([{ kind: 'failover', shard: 'shard-1', from: 'p', candidates: ['r1', 'r2'], reason: 'untrusted', fromHealth: 'ok' }]);
    // Replicas only briefly unreachable: wait for them.
    const wait = plan({ config: c, view: views({ p: {}, r1: { sdown: true }, r2: { sdown: true } }), manual: new Map(), busy: new Set() });
    expect(wait.map((x) => x.kind)).toEqual(['stuck']);
    // Replicas gone for good (objectively down): the restarted primary keeps the shard.
    c = applyCommand(c, { op: 'setHealth', id: 'r1', health: 'down', runId: '' }).config;
    c = applyCommand(c, { op: 'setHealth', id: 'r2', health: 'down', runId: '' }).config;
    const keep = plan({ config: c, view: views({ p: {}, r1: down, r2: down }), manual: new Map(), busy: new Set() });
    expect(keep).toEqual([{ kind: 'setHealth', id: 'p', health: 'ok', runId: 'again', why: expect.any(String) }]);
  });

  it('a primary whose offset went backwards is marked untrusted', () => {
    const d = plan({ config: cluster(), view: views({ p: { offsetReset: true }, r1: {}, r2: {} }), manual: new Map(), busy: new Set() });
    expect(d).toEqual([{ kind: 'setHealth', id: 'p', health: 'untrusted', runId: 'run-p', why: expect.any(String) }]);
  });

  it('manual failover, optionally to a named replica', () => {
    const d = plan({ config: cluster(), view: views({ p: {}, r1: {}, r2: {} }), manual: new Map([['shard-1', 'r2']]), busy: new Set() });
    expect(d).toEqual([{ kind: 'failover', shard: 'shard-1', from: 'p', candidates: ['r2'], reason: 'manual', fromHealth: 'ok' }]);
  });

  it('marks replicas down when a quorum agrees, and ok again when they reply', () => {
    let c = cluster();
    const d = plan({ config: c, view: views({ p: {}, r1: down, r2: {} }), manual: new Map(), busy: new Set() });
    expect(d).toEqual([{ kind: 'setHealth', id: 'r1', health: 'down', runId: '', why: 'objectively down' }]);
    c = applyCommand(c, { op: 'setHealth', id: 'r1', health: 'down', runId: '' }).config;
    expect(plan({ config: c, view: views({ p: {}, r1: down, r2: {} }), manual: new Map(), busy: new Set() })).toEqual([]);
    expect(plan({ config: c, view: views({ p: {}, r1: {}, r2: {} }), manual: new Map(), busy: new Set() })).toEqual([
      { kind: 'setHealth', id: 'r1', health: 'ok', runId: 'run-r1', why: 'replies again' },
    ]);
  });
});

describe('chooseReplica', () => {
  it('prefers the highest offset, then the lower priority number, then the id', () => {
    expect(chooseReplica([{ id: 'a', offset: 10, priority: 1 }, { id: 'b', offset: 12, priority: 100 }])).toBe('b');
    expect(chooseReplica([{ id: 'b', offset: 12, priority: 100 }, { id: 'a', offset: 12, priority: 10 }])).toBe('a');
    expect(chooseReplica([{ id: 'b', offset: 12, priority: 10 }, { id: 'a', offset: 12, priority: 10 }])).toBe('a');
  });
  it('never picks priority 0 or a replica that could not be asked', () => {
    expect(chooseReplica([{ id: 'a', offset: 99, priority: 0 }, { id: 'b', offset: -1, priority: 1 }])).toBeNull();
    expect(chooseReplica([{ id: 'a', offset: 99, priority: 0 }, { id: 'b', offset: 5, priority: 1 }])).toBe('b');
  });
});

describe('offset tracker', () => {
  it('sees a history that went backwards under the same run id and replication id', () => {
    const t = new OffsetTracker();
    expect(t.record('n', 'run', 'h1', 100)).toBe(false);
    expect(t.record('n', 'run', 'h1', 150)).toBe(false);
    expect(t.record('n', 'run', 'h1', 20)).toBe(true);
    expect(t.isReset('n')).toBe(true);
    expect(t.record('n', 'run', 'h1', 30)).toBe(false);
    expect(t.isReset('n')).toBe(true);
    t.record('n', 'run', 'h2', 5); // a new history (a full sync): no longer flagged
    expect(t.isReset('n')).toBe(false);
    expect(t.record('m', 'r1', 'h', 100)).toBe(false);
    expect(t.record('m', 'r2', 'h', 0)).toBe(false); // a new process is the register's business
  });
});

/**
 * A seeded model: three controllers' detectors and opinion boards, a leader planning and
 * committing, replicas whose offsets trail the primary, primaries crashing and nodes
 * coming back. Checked after every step: one primary per shard, only replicas promoted,
 * the promoted replica holds the highest offset among the eligible ones, epochs grow.
 */
describe('failover model (seeded)', () => {
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  for (let seed = 1; seed <= 100; seed++) {
    it(`seed ${seed}`, () => {
      const r = rng(seed);
      const downAfter = 1000;
      let c = cluster();
      const alive = new Map([
        ['p', true],
        ['r1', true],
        ['r2', true],
      ]);
      const offset = new Map([
        ['p', 0],
        ['r1', 0],
        ['r2', 0],
      ]);
      const ctrls = ['c1', 'c2', 'c3'].map((id) => ({ id, det: new FailureDetector(downAfter), board: new OpinionBoard(id, 1000) }));
      for (const x of ctrls) for (const n of ['p', 'r1', 'r2']) x.det.watch(n, 0);
      let failovers = 0;
      const lastDead = new Map<string, number>();
      for (let now = 0; now < 60000; now += 100) {
        // The world: writes on the primary, replication with lag, crashes, returns.
        const s = findShard(c, 'shard-1')!;
        const p = s.primary!;
        if (alive.get(p)) offset.set(p, offset.get(p)! + Math.floor(r() * 100));
        for (const id of s.replicas) if (alive.get(id) && alive.get(p) && r() < 0.7) offset.set(id, offset.get(p)!);
        if (r() < 0.01) alive.set(p, false);
        for (const id of ['p', 'r1', 'r2']) if (!alive.get(id) && r() < 0.005) alive.set(id, true);
        for (const id of ['p', 'r1', 'r2']) if (!alive.get(id)) lastDead.set(id, now);
        // Probes and opinions (each controller sometimes misses a reply).
        for (const x of ctrls) for (const id of ['p', 'r1', 'r2']) if (alive.get(id) && r() < 0.9) x.det.onReply(id, now);
        for (const x of ctrls) for (const y of ctrls) if (x !== y && r() < 0.8) y.board.record(x.id, x.det.downSet(now), x.det.upSet(now), now);
        // The leader (c1) plans with its view and commits.
        const lead = ctrls[0]!;
        const view = new Map<string, NodeView>();
        for (const id of ['p', 'r1', 'r2']) {
          const sd = lead.det.isSdown(id, now);
          view.set(id, { sdown: sd, odown: lead.board.isOdown(id, sd, now, 2), up: lead.det.isUp(id, now), heartbeat: null, offsetReset: false });
        }
        for (const d of plan({ config: c, view, manual: new Map(), busy: new Set() })) {
          if (d.kind === 'failover') {
            // Only a primary that was really dead is ever replaced (dead now, or within the
            // time a stale opinion lives: Sentinel's semantics too).
            expect(now - (lastDead.get(d.from) ?? -1e9)).toBeLessThanOrEqual(downAfter + 1000);
            const cands = d.candidates.map((id) => ({ id, offset: alive.get(id) ? offset.get(id)! : -1, priority: 100 }));
            const to = chooseReplica(cands);
            if (to === null) continue;
            const best = Math.max(...cands.map((x) => x.offset));
            expect(offset.get(to)).toBe(best);
            const before = c.epoch;
            c = applyCommand(c, { op: 'failover', shard: d.shard, from: d.from, to, fromHealth: d.fromHealth, reason: d.reason }).config;
            expect(c.epoch).toBe(before + 1);
            failovers++;
            // A promoted replica's history continues; a returning old primary resyncs from it.
            offset.set(d.from, offset.get(to)!);
          } else if (d.kind === 'setHealth') {
            c = applyCommand(c, { op: 'setHealth', id: d.id, health: d.health, runId: d.runId }).config;
          }
        }
        const sh = findShard(c, 'shard-1')!;
        expect(c.nodes.filter((n) => n.role === 'primary').map((n) => n.id)).toEqual([sh.primary]);
        expect(sh.replicas.length).toBe(2);
      }
      expect(failovers).toBeGreaterThanOrEqual(0);
    });
  }
});

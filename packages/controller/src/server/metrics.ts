/**
 * The controller's Prometheus endpoint (`--metrics-port`): `GET /metrics` in the text
 * exposition format. Values are read from the controller at scrape time, so the Raft
 * loop pays nothing for them.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Controller } from './controller.js';

export async function startControllerMetrics(c: Controller, port: number, host: string): Promise<HttpServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sonic_controller_' });
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });
  gauge('sonic_controller_raft_term', 'Current Raft term of this controller.', [], (g) => g.set(c.raftStatus().term));
  gauge('sonic_controller_raft_commit_index', 'Raft commit index of this controller.', [], (g) => g.set(c.raftStatus().commitIndex));
  gauge('sonic_controller_is_leader', '1 when this controller is the Raft leader.', [], (g) => g.set(c.raftStatus().role === 'leader' ? 1 : 0));
  gauge('sonic_controller_members', 'Voting members of the controller group.', [], (g) => g.set(c.raftStatus().members.length));
  gauge('sonic_controller_config_epoch', 'Epoch of the cluster configuration this controller has applied.', [], (g) => g.set(c.config.epoch));
  gauge('sonic_controller_shards', 'Shards in the cluster configuration.', [], (g) => g.set(c.config.shards.length));
  gauge('sonic_controller_nodes', 'Nodes in the cluster configuration by role and health.', ['role', 'health'], (g) => {
    const counts = new Map<string, number>();
    for (const n of c.config.nodes) counts.set(`${n.role}|${n.health}`, (counts.get(`${n.role}|${n.health}`) ?? 0) + 1);
    for (const [k, v] of counts) {
      const [role, health] = k.split('|');
      g.set({ role: role!, health: health! }, v);
    }
  });
  gauge('sonic_controller_shard_has_primary', '1 when the shard has a primary in the configuration.', ['shard'], (g) => {
    for (const s of c.config.shards) g.set({ shard: s.id }, s.primary !== null ? 1 : 0);
  });
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        },
      );
      return;
    }
    res.writeHead(404);
    res.end('not found: GET /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

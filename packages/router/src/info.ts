/** The router's INFO: its own sections, and the keyspace summed over the primaries. */
import type { Router } from './router.js';

export function routerInfo(r: Router, sections: string[], keyspace: { keys: number; expires: number } | null): string {
  const all = sections.length === 0 || sections.some((x) => x === 'all' || x === 'everything' || x === 'default');
  const want = (name: string) => all || sections.includes(name);
  const st = r.stats;
  const out: string[] = [];
  if (want('server')) {
    out.push(
      '# Server',
      'redis_version:7.0.15',
      'redis_mode:standalone',
      'sonic_role:router',
      `process_id:${process.pid}`,
      `tcp_port:${r.opts.port}`,
      `uptime_in_seconds:${Math.floor((Date.now() - st.started) / 1000)}`,
      `read_from:${r.opts.readFrom}`,
      '',
    );
  }
  if (want('clients')) out.push('# Clients', `connected_clients:${r.sessions.size}`, '');
  if (want('stats')) {
    out.push(
      '# Stats',
      `total_connections_received:${st.connectionsReceived}`,
      `total_commands_processed:${st.commands}`,
      `redirects_followed:${st.redirects}`,
      `ask_redirects_followed:${st.asks}`,
      `retries:${st.retries}`,
      `write_outcome_unknown:${st.writeUnknown}`,
      '',
    );
  }
  if (want('router') || want('cluster')) {
    const m = r.map;
    out.push(
      '# Router',
      `config_epoch:${m?.epoch ?? 0}`,
      `topology_changes:${st.topologyChanges}`,
      `shards:${m?.shards.length ?? 0}`,
      `backend_connections:${r.backendCount()}`,
      `topology_source:${r.opts.controllers.length > 0 ? 'controllers' : 'seeds'}`,
      '',
    );
  }
  if (keyspace !== null) {
    out.push('# Keyspace');
    if (keyspace.keys > 0) out.push(`db0:keys=${keyspace.keys},expires=${keyspace.expires},avg_ttl=0`);
    out.push('');
  }
  return out.join('\r\n');
}

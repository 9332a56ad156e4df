/** Shared by the client-*.test.ts files. */
import { expect } from 'vitest';
import { Cluster } from 'ioredis';
import { Client, type ClientOptions } from '@sonic/client';
import { missingFromLoads, type Load } from './cluster-helpers.js';

/** Clients made by `client()`; close them in afterAll. */
export const clients: Client[] = [];

export function client(o: ClientOptions, errors: Error[] = []): Client {
  const c = new Client(o);
  c.on('error', (e) => errors.push(e));
  clients.push(c);
  return c;
}

export function closeClients(): void {
  for (const c of clients.splice(0)) c.close();
}

/** Every write the loads had acknowledged is in the cluster (read back by ioredis Cluster). */
export async function expectNothingLost(seeds: { host: string; port: number }[], loads: Load[]): Promise<void> {
  const io = new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: 3 } });
  io.on('error', () => {});
  try {
    const missing = await missingFromLoads(io, loads);
    expect(missing.length, missing.slice(0, 10).join(', ')).toBe(0);
  } finally {
    io.disconnect();
  }
}

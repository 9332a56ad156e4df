/** `sonic router`: flags, logger, workers and the router's life cycle. */
import cluster from 'node:cluster';
import { pino } from 'pino';
import { parseRouterArgs, ROUTER_USAGE, type RouterOptions } from './options.js';
import { Router } from './router.js';

/** Worker restarts allowed per minute before the primary gives up. */
const MAX_RESTARTS = 10;

/** Runs `sonic router`; resolves with the exit code for --help/--check-config, or -1 once serving. */
export async function runRouter(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(ROUTER_USAGE);
    return 0;
  }
  const opts = parseRouterArgs(args, process.env);
  if (opts.checkConfig) {
    process.stdout.write('ok\n');
    return 0;
  }
  const log = pino({ level: opts.logLevel, base: { component: 'router', pid: process.pid } });
  if (opts.workers > 1 && cluster.isPrimary) {
    runPrimary(opts, log);
    return -1;
  }
  const router = new Router(opts, log);
  const port = await router.listen();
  log.info(
    { port, bind: opts.bind, controllers: opts.controllers.map((c) => `${c.host}:${c.port}`), seeds: opts.seeds.map((s) => `${s.host}:${s.port}`), readFrom: opts.readFrom, worker: cluster.isWorker ? cluster.worker?.id : undefined },
    'router: ready to accept connections',
  );
  const stop = (sig: string) => {
    log.info({ signal: sig }, 'router: shutting down');
    void router.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return -1;
}

/** --workers N: N processes share the port (Node's cluster module hands out connections). */
function runPrimary(opts: RouterOptions, log: pino.Logger): void {
  let stopping = false;
  const restarts: number[] = [];
  const fork = () => cluster.fork({ ...process.env });
  for (let i = 0; i < opts.workers; i++) fork();
  log.info({ workers: opts.workers, port: opts.port }, 'router: starting workers');
  cluster.on('exit', (w, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    const now = Date.now();
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    log.error({ worker: w.id, code, signal }, 'router: worker exited');
    if (restarts.length >= MAX_RESTARTS) {
      log.fatal('router: workers keep exiting; giving up');
      stopping = true;
      for (const x of Object.values(cluster.workers ?? {})) x?.kill();
      setTimeout(() => process.exit(1), 500);
      return;
    }
    restarts.push(now);
    fork();
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 3000).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/**
 * `inferledger run`: the service, in one process (`all`: Kafka collector,
 * scheduler and a worker on the embedded warehouse, which allows one process
 * per data directory) or one role per process against a ClickHouse server.
 *
 * Beside its work, `all` on the embedded warehouse answers analysts'
 * read-only queries (query-endpoint.ts) and says where in its data directory
 * (service-discovery.ts); any role with queues can serve the queue dashboard.
 *
 * Shutdown (SIGTERM/SIGINT): stop fetching, let the running job finish within
 * jobs.shutdownGraceMs then hand it back to the queue, flush and commit the
 * collector, close every client. Every step is raced against the grace
 * period, so the process ends in time even when Kafka, Redis or the
 * warehouse is unreachable (the caller exits the process after).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import { RequestCollector } from '../collector/request-collector.js';
import { collectorOptionsOf } from '../collector/run-collector.js';
import type { JobDefinition } from '../scheduler/job.js';
import { JobRuntime, openAttributionTrigger, type AttributionTrigger } from '../scheduler/runtime.js';
import type { StreamClient } from '../kafka/stream.js';
import { openWarehouse, type Warehouse } from '../warehouse/warehouse.js';
import { takeBackup } from '../backup/take-backup.js';
import { startQueryAudit, type QueryAudit } from '../access/query-audit.js';
import { ADMIN_TOKEN_HEADER, adminRoute, newAdminToken, removeAdminToken, writeAdminToken } from './admin-route.js';
import { startDashboard, type Dashboard } from './dashboard.js';
import { startQueryEndpoint, type QueryEndpoint } from './query-endpoint.js';
import { removeDiscovery, writeDiscovery } from './service-discovery.js';
import type { Role } from './roles.js';


export interface ServiceOptions {
  role: Role;
  config: Config;
  /** Needed by the collector and the worker; the scheduler alone needs none. */
  warehouse: Warehouse | undefined;
  /** The jobs the scheduler and the worker serve (jobs/registry.ts). */
  jobs: readonly JobDefinition[];
  /** The Kafka client of the collector role. */
  streamClient?: () => StreamClient;
  log: (line: string) => void;
  /** Resolves with the reason to stop (a signal). */
  stop: Promise<string>;
  clock?: () => number;
  /** Called once the HTTP endpoints listen (tests find the port this way). */
  onListening?: (port: number) => void;
}

export interface ServiceRun {
  clean: boolean;
  reason: string;
}

const has = (role: Role, part: 'collector' | 'worker' | 'scheduler'): boolean => role === 'all' || role === part;

/**
 * The query endpoint on a warehouse session of its own, and the discovery
 * file saying where it listens. A port that cannot be had is logged, not
 * fatal: ingestion and jobs matter more than ad-hoc queries, and the file
 * then tells the CLI the service holds the directory but answers no queries.
 * On the same address, the admin route takes backups with the service's own
 * warehouse (`warehouse`, which writes), its token written beside the file.
 */
async function serveQueries(config: Config, warehouse: Warehouse, dataDir: string, log: (line: string) => void): Promise<{ endpoint: QueryEndpoint | undefined; close: () => Promise<void> }> {
  const { queryPort, queryHost, queryPassword } = config.service;
  const database = warehouse.database;
  let endpoint: QueryEndpoint | undefined;
  let session: Warehouse | undefined;
  let audit: QueryAudit | undefined;
  // `inferledger backup` asks this process for the backup it cannot take itself while the directory is held here.
  const token = newAdminToken();
  const admin = adminRoute(token, { backup: (dir) => takeBackup(warehouse, dir, { log }) }, log);
  if (queryPort !== 0) {
    try {
      session = await openWarehouse({ ...config.warehouse, dataDir, database });
      // Recorded by the service's own session: the endpoint's is read-only.
      audit = startQueryAudit(warehouse, log);
      endpoint = await startQueryEndpoint({
        warehouse: session, host: queryHost, port: queryPort, password: queryPassword, access: config.access, queries: config.queries, log, admin, audit,
        localToken: { header: ADMIN_TOKEN_HEADER, token },
      });
      const users = config.access.users.length;
      const who = users > 0 ? `, ${users} user${users === 1 ? '' : 's'} with scopes` : queryPassword === undefined ? ', no password' : ', password required';
      log(`queries: read-only ClickHouse HTTP interface at http://${queryHost}:${endpoint.port} (database ${database}${who})`);
    } catch (err) {
      log(`queries: not served on ${queryHost}:${queryPort}: ${(err as Error).message} (service.queryPort / INFERLEDGER_QUERY_PORT; 0 turns it off)`);
      await session?.close();
      session = undefined;
    }
  } else {
    log('queries: query endpoint off (service.queryPort 0): `inferledger sql` cannot reach this data directory while the service runs');
  }
  // The token before the discovery file: a CLI that finds the service finds its token too.
  if (endpoint) writeAdminToken(dataDir, token);
  writeDiscovery(dataDir, { pid: process.pid, host: endpoint ? queryHost : null, port: endpoint?.port ?? null, database, startedAt: new Date().toISOString() });
  return {
    endpoint,
    close: async () => {
      removeDiscovery(dataDir);
      removeAdminToken(dataDir);
      await endpoint?.close();
      await audit?.close();
      await session?.close();
    },
  };
}

function sleep(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => { setTimeout(() => { resolve('timeout'); }, ms).unref(); });
}

export async function runService(options: ServiceOptions): Promise<ServiceRun> {
  const { role, config, warehouse, log } = options;
  const needsWarehouse = has(role, 'collector') || has(role, 'worker');
  if (needsWarehouse && !warehouse) throw new Error(`role ${role} needs the warehouse`);

  const runtime = has(role, 'worker') || has(role, 'scheduler') ? new JobRuntime({ config, jobs: options.jobs, log, ...(options.clock ? { clock: options.clock } : {}) }) : undefined;
  let collector: RequestCollector | undefined;
  let collectorFailure: string | undefined;
  const stopping = { now: false };

  // Scheduler: upsert the schedulers and tick; again whenever Redis comes back (it may have lost everything).
  let scheduling: Promise<void> = Promise.resolve();
  const schedule = (): void => {
    scheduling = scheduling.then(async () => {
      for (let wait = 500; !stopping.now; wait = Math.min(wait * 2, 30_000)) {
        try {
          await runtime?.startScheduler();
          log('scheduler: job schedulers upserted (cron in UTC) and owed windows ticked');
          return;
        } catch (err) {
          log(`scheduler: ${(err as Error).message}; trying again in ${wait} ms`);
          await sleep(wait);
        }
      }
    });
  };
  if (runtime && has(role, 'scheduler')) {
    let wasReady = false;
    runtime.connection.on('ready', () => {
      if (wasReady) schedule();
      wasReady = true;
    });
    schedule();
  }
  if (runtime && has(role, 'worker') && warehouse) runtime.startWorkers(warehouse);

  let collectorCrash: Promise<string> = new Promise(() => undefined);
  let trigger: AttributionTrigger | undefined;
  if (has(role, 'collector') && warehouse && options.streamClient) {
    // Fresh numbers: what the collector writes is attributed within a debounce window, and the start-up backlog once it is in.
    // In `all` through this process's queues; a collector of its own enqueues through Redis (it needs no jobs/ code for that).
    const pass = runtime ? runtime.attributionTrigger() : openAttributionTrigger({ config, jobs: options.jobs, log });
    trigger = pass;
    const onCaughtUp = (): void => {
      log(`collector: caught up with the backlog of ${config.kafka.topic} seen at start${config.jobs.attributeDebounceMs > 0 ? '; attribution pass enqueued' : ''}`);
      pass.caughtUp();
    };
    const c = new RequestCollector(collectorOptionsOf(config), { warehouse, client: options.streamClient(), log, onRowsWritten: () => { pass.rowsWritten(); }, onCaughtUp });
    collector = c;
    // A collector that cannot start (no broker, no topic) or crashes stops the service: its supervisor restarts it.
    const failedStart = c.start().then(
      () => { log(`collector: consuming ${config.kafka.topic}`); return new Promise<string>(() => undefined); },
      (err: unknown) => { collectorFailure = (err as Error).message; return `collector crashed: could not start: ${collectorFailure}`; },
    );
    collectorCrash = Promise.race([c.whenCrashed.then((err) => `collector crashed: ${err.message}`), failedStart]);
  }

  const queries = role === 'all' && warehouse?.dataDir !== undefined ? await serveQueries(config, warehouse, warehouse.dataDir, log) : undefined;
  let dashboard: Dashboard | undefined;
  if (config.service.dashboardPort !== 0) {
    const { dashboardHost, dashboardPort } = config.service;
    if (!runtime) log('dashboard: not served: this role has no job queues');
    else {
      const queues = [...new Set(options.jobs.map((j) => j.queue))].map((name) => runtime.queue(name));
      try {
        dashboard = await startDashboard({ queues, host: dashboardHost, port: dashboardPort });
        log(`dashboard: bull-board for queues ${queues.map((q) => q.name).join(', ')} at http://${dashboardHost}:${dashboard.port}/`);
      } catch (err) {
        log(`dashboard: not served: could not listen on ${dashboardHost}:${dashboardPort}: ${(err as Error).message}`);
      }
    }
  }

  let server: Server | undefined;
  if (config.service.port !== undefined) {
    const registries = [runtime?.registry, collector?.metrics.registry].filter((r): r is Registry => r !== undefined);
    const metrics = Registry.merge(registries);
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        metrics.metrics().then(
          (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
        );
        return;
      }
      if (path === '/healthz') {
        const parts: Record<string, { ok: boolean; detail: unknown }> = {};
        if (runtime) parts['jobs'] = runtime.health();
        if (collector) parts['collector'] = collectorFailure ? { ok: false, detail: { problems: [collectorFailure] } } : collector.health();
        const ok = Object.values(parts).every((p) => p.ok) && !stopping.now;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: ok ? 'ok' : 'unhealthy', role, ...parts })}\n`);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    });
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(config.service.port, config.service.host, () => { resolve(); });
    });
    const port = (listening.address() as AddressInfo).port;
    log(`${role}: metrics at http://${config.service.host}:${port}/metrics, health at /healthz`);
    options.onListening?.(port);
  }

  const reason = await Promise.race([options.stop, collectorCrash]);
  stopping.now = true;
  log(`${role}: stopping (${reason}); grace ${config.jobs.shutdownGraceMs} ms`);
  const grace = config.jobs.shutdownGraceMs;
  // Collector and worker drain at once: both are bounded by the same grace period. Analysts' running queries are
  // stopped in the engine at once: nothing of theirs is worth keeping the process for.
  const [collectorClean, jobsClean] = await Promise.all([
    collector ? Promise.race([collector.stop(), sleep(grace).then(() => false)]) : Promise.resolve(true),
    runtime ? runtime.close(Math.max(0, grace - 2_000)) : Promise.resolve(true),
    trigger?.close(),
    queries?.close(),
  ]);
  server?.close();
  server?.closeAllConnections();
  await dashboard?.close();
  const clean = collectorClean && jobsClean && !reason.startsWith('collector crashed');
  log(`${role}: stopped${clean ? '' : ' (not everything finished in time: running work was handed back, unwritten messages stay uncommitted)'}`);
  return { clean, reason };
}

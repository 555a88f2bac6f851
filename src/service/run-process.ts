/**
 * The life of an `inferledger run` process: stop on SIGTERM or SIGINT, hold
 * the embedded data directory alone, make the schema current, run the roles,
 * close the warehouse, and make sure the process ends even when a client
 * keeps retrying an unreachable server.
 */
import { redactConfig, type Config } from '../config/config.js';
import { kafkajsClient } from '../kafka/kafkajs-client.js';
import type { JobDefinition } from '../scheduler/job.js';
import { openWarehouse } from '../warehouse/warehouse.js';
import type { Role } from './roles.js';
import { runService } from './run-service.js';
import { ensureSchema, runningService } from './warehouse-access.js';

export interface ProcessOptions {
  role: Role;
  config: Config;
  jobs: readonly JobDefinition[];
  log: (line: string) => void;
}

/** Runs until a signal; resolves to whether every part stopped cleanly. */
export async function runServiceProcess({ role, config, jobs, log }: ProcessOptions): Promise<boolean> {
  const stop = new Promise<string>((resolveStop) => {
    process.once('SIGTERM', () => { resolveStop('SIGTERM'); });
    process.once('SIGINT', () => { resolveStop('SIGINT'); });
  });
  // Whatever hangs (a client retrying an unreachable server), the process ends shortly after the grace period.
  void stop.then(() => { setTimeout(() => { process.exit(1); }, config.jobs.shutdownGraceMs + 3_000).unref(); });
  const holder = role === 'scheduler' ? undefined : runningService(config);
  if (holder && holder.pid !== process.pid) throw new Error(`the data directory ${config.warehouse.dataDir} is already held by a running \`inferledger run\` (pid ${holder.pid})`);
  const warehouse = role === 'scheduler' ? undefined : await openWarehouse(config.warehouse);
  let clean = false;
  try {
    if (warehouse) await ensureSchema(warehouse, log);
    log(`inferledger run --role ${role}: ${warehouse ? `${warehouse.backend} warehouse, database ${warehouse.database}; ` : ''}redis ${redactConfig(config).redis.url}, queues under prefix ${config.jobs.prefix}`);
    const streamClient = () => kafkajsClient({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, log });
    const run = await runService({ role, config, jobs, warehouse, streamClient, log, stop });
    clean = run.clean;
  } finally {
    await Promise.race([warehouse?.close(), new Promise((r) => { setTimeout(r, 2_000).unref(); })]);
  }
  // A client that lost its server may keep a reconnect timer alive: do not wait for it.
  setTimeout(() => { process.exit(clean ? 0 : 1); }, 1_000).unref();
  return clean;
}

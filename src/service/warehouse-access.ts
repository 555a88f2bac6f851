/**
 * How a command reaches the warehouse. The embedded engine allows one process
 * per data directory: while `inferledger run` holds it, readers go through its
 * query endpoint and writers are told to stop it first. A command that writes
 * needs the current schema: the embedded warehouse is the user's own, so its
 * pending migrations are applied; a server is migrated explicitly.
 */
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { listMigrations, migrate } from '../warehouse/migrate.js';
import { openServiceReader, openWarehouse, type Warehouse } from '../warehouse/warehouse.js';
import { ADMIN_TOKEN_HEADER, readAdminToken } from './admin-route.js';
import { pingService, serviceUrl } from './query-client.js';
import { findRunningService, type ServiceInfo } from './service-discovery.js';

/** The live service holding the embedded data directory, if any (a server warehouse is shared by design). */
export function runningService(config: Config): ServiceInfo | undefined {
  return config.warehouse.url === undefined ? findRunningService(config.warehouse.dataDir) : undefined;
}

/** Open the warehouse for `work` and close it after; refused while another process's service holds the directory. */
export async function withWarehouse<T>(config: Config, work: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  const service = runningService(config);
  // The engine would refuse the directory anyway; say why, and what does work. (The same process may open it again.)
  if (service && service.pid !== process.pid) {
    throw new Error(`the data directory ${config.warehouse.dataDir} is held by a running \`inferledger run\` (pid ${service.pid}): stop it first, or query it with \`inferledger sql\``);
  }
  const warehouse = await openWarehouse(config.warehouse);
  try {
    return await work(warehouse);
  } finally {
    await warehouse.close();
  }
}

/** `withWarehouse` for commands that write: the schema is made current first. */
export async function withCurrentWarehouse<T>(config: Config, log: (line: string) => void, work: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  return withWarehouse(config, async (warehouse) => {
    await ensureSchema(warehouse, log);
    return work(warehouse);
  });
}

/**
 * A command that only reads: through the query endpoint of a running service
 * when one holds the embedded data directory (the service migrated it when it
 * started), else the warehouse directly, its schema made current.
 */
export async function withReader<T>(config: Config, log: (line: string) => void, work: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  const service = runningService(config);
  const url = service ? serviceUrl(service) : undefined;
  if (service && url !== undefined && await pingService(service)) {
    const reader = serviceReader(config, service, url);
    try {
      return await work(reader);
    } finally {
      await reader.close();
    }
  }
  return withCurrentWarehouse(config, log, work);
}

/**
 * A reader through the query endpoint of the service holding the data
 * directory, let in by the service's own token (readable by whoever can read
 * the directory, who could read every row anyway): user (local), every row.
 */
export function serviceReader(config: Config, service: ServiceInfo, url: string): Warehouse {
  const token = readAdminToken(config.warehouse.dataDir, service.pid);
  return openServiceReader(url, config.warehouse.database, config.service.queryPassword ?? '', config.warehouse.requestTimeoutMs, token === undefined ? {} : { [ADMIN_TOKEN_HEADER]: token });
}

/** Apply pending migrations to the embedded warehouse; on a server, refuse to go on until `inferledger migrate` has run. */
export async function ensureSchema(warehouse: Warehouse, log: (line: string) => void): Promise<void> {
  if (warehouse.backend === 'chdb') {
    const result = await migrate(warehouse);
    if (result.applied.length > 0) log(`applied migrations: ${result.applied.join(', ')}`);
    return;
  }
  const pending = await pendingMigrations(warehouse);
  if (pending.length > 0) throw new Error(`the warehouse schema is not current (pending: ${pending.join(', ')}); run \`inferledger migrate\``);
}

async function pendingMigrations(warehouse: Warehouse): Promise<string[]> {
  const applied = await warehouse
    .query('SELECT name FROM schema_migrations FINAL', {}, z.object({ name: z.string() }))
    .catch(() => []);
  const names = new Set(applied.map((r) => r.name));
  return listMigrations().map((m) => m.name).filter((n) => !names.has(n));
}

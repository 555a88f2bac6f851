/**
 * The warehouse: reached without changing it (no migration applied, no data
 * directory made), through the query endpoint of `inferledger run` while the
 * service holds the embedded data directory; and its schema held against the
 * migrations this inferledger ships.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { pingService, serviceUrl } from '../service/query-client.js';
import { runningService, serviceReader } from '../service/warehouse-access.js';
import { EmbeddedEngineUnavailableError, LOCAL_CLICKHOUSE_GUIDE } from '../warehouse/embedded-engine.js';
import { listMigrations } from '../warehouse/migrate.js';
import { sqlFile } from '../warehouse/sql-files.js';
import { openWarehouse, ServerUnreachableError } from '../warehouse/warehouse.js';
import { Finding, fail, ok, reason, some, warn, type Check, type WarehouseAccess } from './check.js';

/** Where a server is, never with the credentials a URL may hold. */
export function origin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Open the warehouse for reading: a server as configured; the embedded data
 * directory directly, or through the running service's query endpoint when
 * a service of another process holds it. Never creates the data directory.
 */
export async function openDoctorWarehouse(config: Config): Promise<WarehouseAccess> {
  const { database } = config.warehouse;
  if (config.warehouse.url !== undefined) {
    const where = origin(config.warehouse.url);
    const warehouse = await openWarehouse(config.warehouse).catch((err: unknown) => {
      // Its own words name the server (never its credentials) and why; what follows them is the fix, said below.
      const said = err instanceof ServerUnreachableError ? err.message.split(';')[0] ?? err.message : `the ClickHouse server at ${where} refused: ${reason(err)}`;
      throw new Finding(said, `start the server, or set warehouse.url (CLICKHOUSE_URL) and its user and password — see ${LOCAL_CLICKHOUSE_GUIDE}`);
    });
    return { warehouse, via: `ClickHouse server ${where}, database ${database}`, throughService: false };
  }
  const dir = resolve(config.warehouse.dataDir);
  const service = runningService(config);
  if (service && service.pid !== process.pid) {
    const url = serviceUrl(service);
    if (url === undefined || !await pingService(service)) {
      throw new Finding(
        `${dir} is held by \`inferledger run\` (pid ${service.pid}), whose query endpoint ${url === undefined ? 'is off' : `at ${url} does not answer`}`,
        'set service.queryPort (INFERLEDGER_QUERY_PORT) for the service and restart it, or stop it to check its data directory',
      );
    }
    const warehouse = serviceReader(config, service, url);
    return { warehouse, via: `the query endpoint of \`inferledger run\` (pid ${service.pid}) at ${url}, database ${database}`, throughService: true };
  }
  if (!existsSync(dir)) {
    throw new Finding(`no warehouse at ${dir}: the data directory does not exist`, 'set warehouse.dataDir (INFERLEDGER_DATA_DIR, --data-dir) to the data directory, or create the warehouse with `inferledger migrate`');
  }
  const warehouse = await openWarehouse(config.warehouse).catch((err: unknown) => {
    if (err instanceof EmbeddedEngineUnavailableError) {
      throw new Finding(err.message.split(';')[0] ?? err.message, `run a ClickHouse server and set warehouse.url (CLICKHOUSE_URL) — see ${LOCAL_CLICKHOUSE_GUIDE}`);
    }
    throw new Finding(`the embedded warehouse at ${dir} did not open: ${reason(err)}`, 'stop the process holding the data directory, or set warehouse.dataDir (INFERLEDGER_DATA_DIR)');
  });
  return { warehouse, via: `embedded chDB at ${dir}, database ${database}`, throughService: false };
}

const appliedRow = z.object({ version: z.coerce.number().int(), name: z.string(), checksum: z.string() });

/** Reachable, and every migration this inferledger ships applied, unchanged. */
export const warehouseCheck: Check = {
  name: 'warehouse',
  group: 'warehouse',
  timeoutMs: 20_000,
  errorFix: 'inferledger migrate (or check warehouse.url / warehouse.dataDir)',
  run: async (ctx) => {
    const { warehouse, via } = await ctx.warehouse();
    const shipped = listMigrations();
    let applied: z.infer<typeof appliedRow>[];
    try {
      applied = await warehouse.query(sqlFile('doctor/schema-migrations'), {}, appliedRow);
    } catch (err) {
      if (!/schema_migrations/.test(reason(err))) throw err;
      return fail(`${via}: no schema yet (no schema_migrations table)`, 'inferledger migrate', { via, applied: [], pending: shipped.map((m) => m.name) });
    }
    const byVersion = new Map(applied.map((m) => [m.version, m]));
    const pending = shipped.filter((m) => !byVersion.has(m.version)).map((m) => m.name);
    const changed = shipped.filter((m) => { const a = byVersion.get(m.version); return a !== undefined && a.checksum !== m.checksum; }).map((m) => m.name);
    const known = new Set(shipped.map((m) => m.version));
    const newer = applied.filter((m) => !known.has(m.version)).map((m) => m.name);
    const version = (applied.at(-1)?.name ?? '(none)').replace(/\.sql$/, '');
    const data = { via, schemaVersion: version, applied: applied.length, shipped: shipped.length, pending, changed, newer };
    if (changed.length > 0) {
      return fail(`${via}: migration ${some(changed)} differs from the one applied`, 'applied migrations are immutable: reinstall the inferledger release that applied them, and add changes as new migrations', data);
    }
    if (pending.length > 0) return fail(`${via}: schema ${version}, ${pending.length} migration(s) pending (${some(pending)})`, 'inferledger migrate', data);
    if (newer.length > 0) return warn(`${via}: schema ${version} is newer than this inferledger (${some(newer)} unknown here)`, 'upgrade inferledger to the release that applied them', data);
    return ok(`${via}: schema ${version}, current (${applied.length} migrations)`, data);
  },
};

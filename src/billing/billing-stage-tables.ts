/**
 * The tables a Parquet billing import stages a file in. Each is dropped when
 * its file is done (in a `finally`); a process killed mid-import leaves its
 * tables behind, so every import first drops the ones nobody can still be
 * using.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export const STAGE_TABLE_PREFIX = 'billing_parquet_stage_';

/**
 * On a ClickHouse server, how old (by its creation time, on the server's
 * clock) another process's stage table must be before an import drops it.
 * Imports on other machines may be running; one file's stage lives minutes.
 */
export const STALE_STAGE_SECONDS = 24 * 3600;

/** Stage tables of imports running in this process: never stale. */
const live = new Set<string>();

/** A new stage table name, held as this process's until {@link dropStageTables}. */
export function claimStageTable(): string {
  const name = `${STAGE_TABLE_PREFIX}${randomUUID().replaceAll('-', '')}`;
  live.add(name);
  return name;
}

/** Drop stage tables this process claimed (those never created are no error). */
export async function dropStageTables(warehouse: Warehouse, names: readonly string[]): Promise<void> {
  try {
    for (const name of names) await warehouse.command('DROP TABLE IF EXISTS {t:Identifier}', { t: name });
  } finally {
    for (const name of names) live.delete(name);
  }
}

export interface StaleStageOptions {
  /**
   * Whether this process is the only one that can use the warehouse, so that
   * any stage table it did not claim is stale. Default: true for the embedded
   * warehouse (one process holds its data directory), false for a server.
   */
  exclusive?: boolean;
  /** When not exclusive, the age past which a stage table is stale. Default {@link STALE_STAGE_SECONDS}. */
  staleAfterSeconds?: number;
}

/** Drop the stage tables of imports that ended without dropping them; returns their names. */
export async function dropStaleStageTables(warehouse: Warehouse, options: StaleStageOptions = {}): Promise<string[]> {
  const stale = await warehouse.query(
    sqlFile('billing/stale-stage-tables'),
    {
      db: warehouse.database,
      live: [...live],
      exclusive: (options.exclusive ?? warehouse.backend === 'chdb') ? 1 : 0,
      stale_after_seconds: options.staleAfterSeconds ?? STALE_STAGE_SECONDS,
    },
    z.object({ name: z.string() }),
  );
  // Another import may drop the same table first: IF EXISTS.
  for (const { name } of stale) await warehouse.command('DROP TABLE IF EXISTS {t:Identifier}', { t: name });
  return stale.map((s) => s.name);
}

/**
 * The tables a Parquet billing import stages a file in (warehouse/stage-tables.ts):
 * each is dropped when its file is done (in a `finally`); every import first
 * drops the ones a killed import left behind.
 */
import { StageTables, type StaleStageOptions } from '../warehouse/stage-tables.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export const STAGE_TABLE_PREFIX = 'billing_parquet_stage_';

const billingStages = new StageTables(STAGE_TABLE_PREFIX);

/** A new stage table name, held as this process's until {@link dropStageTables}. */
export function claimStageTable(): string {
  return billingStages.claim();
}

/** Drop stage tables this process claimed (those never created are no error). */
export function dropStageTables(warehouse: Warehouse, names: readonly string[]): Promise<void> {
  return billingStages.drop(warehouse, names);
}

/** Drop the stage tables of imports that ended without dropping them; returns their names. */
export function dropStaleStageTables(warehouse: Warehouse, options: StaleStageOptions = {}): Promise<string[]> {
  return billingStages.dropStale(warehouse, options);
}

/**
 * Test warehouses on the real embedded engine. chDB binds one data directory
 * per process and vitest runs each test file in its own process, so a file
 * shares one directory and every test gets a database of its own.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { migrate } from '../../src/warehouse/migrate.js';
import { openWarehouse, type Warehouse } from '../../src/warehouse/warehouse.js';
import { configSchema, type Config } from '../../src/config/config.js';

export const TEST_DATA_DIR = mkdtempSync(join(tmpdir(), 'inferledger-test-'));

export function uniqueDatabase(): string {
  return `t_${randomUUID().replaceAll('-', '')}`;
}

export function testWarehouseConfig(database = uniqueDatabase()): Config['warehouse'] {
  return configSchema.shape.warehouse.parse({ dataDir: TEST_DATA_DIR, database });
}

/** A fresh, migrated warehouse with its own database. */
export async function freshWarehouse(): Promise<Warehouse> {
  const warehouse = await openWarehouse(testWarehouseConfig());
  await migrate(warehouse);
  return warehouse;
}

const countRow = z.object({ n: z.coerce.number() });

/** A single number from a `SELECT ... AS n` query. */
export async function scalar(warehouse: Warehouse, sql: string, params: Record<string, unknown> = {}): Promise<number> {
  const rows = await warehouse.query(sql, params, countRow);
  return rows[0]?.n ?? NaN;
}

/** Drop a test warehouse's database and close it: many cases in one process would otherwise pile up tables. */
export async function discardWarehouse(warehouse: Warehouse): Promise<void> {
  await warehouse.command('DROP DATABASE IF EXISTS {db:Identifier} SYNC', { db: warehouse.database });
  await warehouse.close();
}

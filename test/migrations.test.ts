import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { arrayContaining } from './helpers/matchers.js';
import { z } from 'zod';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import { listMigrations, migrate } from '../src/warehouse/migrate.js';
import { SQL_DIR } from '../src/warehouse/sql-files.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { scalar, testWarehouseConfig, uniqueDatabase } from './helpers/warehouse.js';

const open: Warehouse[] = [];
async function warehouse(database = uniqueDatabase()): Promise<Warehouse> {
  const w = await openWarehouse(testWarehouseConfig(database));
  open.push(w);
  return w;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});

const tableRow = z.object({ name: z.string(), engine: z.string() });
const columnRow = z.object({ table: z.string(), name: z.string(), comment: z.string() });

describe('migrations', () => {
  it('apply from an empty warehouse, in order, and create every table with commented columns', async () => {
    const w = await warehouse();
    const result = await migrate(w);
    expect(result.applied).toEqual(listMigrations().map((m) => m.name));
    const tables = await w.query('SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name', {}, tableRow);
    expect(tables.map((t) => t.name)).toEqual(
      arrayContaining(['inference_requests', 'inference_requests_dedup', 'billing_line_items', 'billing_current', 'ingest_rejects', 'ingest_runs', 'schema_migrations']),
    );
    const columns = await w.query(
      "SELECT table, name, comment FROM system.columns WHERE database = currentDatabase() AND table IN ('inference_requests', 'billing_line_items', 'ingest_rejects', 'ingest_runs')",
      {},
      columnRow,
    );
    expect(columns.length).toBeGreaterThan(40);
    expect(columns.filter((c) => c.comment === '').map((c) => `${c.table}.${c.name}`)).toEqual([]);
  });

  it('are safe to run twice', async () => {
    const w = await warehouse();
    await migrate(w);
    const again = await migrate(w);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toHaveLength(listMigrations().length);
    expect(await scalar(w, 'SELECT count() AS n FROM schema_migrations FINAL')).toBe(listMigrations().length);
  });

  it('converge when two clients migrate the same database at once', async () => {
    const database = uniqueDatabase();
    const [a, b] = [await warehouse(database), await warehouse(database)];
    await Promise.all([migrate(a), migrate(b)]);
    expect(await scalar(a, 'SELECT count() AS n FROM schema_migrations FINAL')).toBe(listMigrations().length);
    expect(await scalar(a, "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'inference_requests'")).toBe(1);
  });

  it('refuse to run when an applied migration was edited', async () => {
    const w = await warehouse();
    await migrate(w);
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    for (const name of readdirSync(join(SQL_DIR, 'migrations'))) {
      writeFileSync(join(dir, name), readFileSync(join(SQL_DIR, 'migrations', name), 'utf8'));
    }
    const first = listMigrations(dir)[0];
    if (!first) throw new Error('no migrations');
    writeFileSync(join(dir, first.name), `${readFileSync(join(dir, first.name), 'utf8')}\n-- edited\n`);
    await expect(migrate(w, listMigrations(dir))).rejects.toThrow(/was changed after it was applied/);
  });

  it('0006 keeps billing written before it visible, and a new export of the month then replaces those days whole', async () => {
    const w = await warehouse();
    await migrate(w, listMigrations().filter((m) => m.version <= 5));
    // Rows as written before billing scopes existed: two versions of Oct 1, one of Oct 2.
    const old = (version: string, day: string, cost: string): Record<string, unknown> => ({
      billing_version: version, source: 'focus-file', billing_account_id: '111', charge_period_start: `${day} 00:00:00`, charge_period_end: `${day} 01:00:00`,
      billed_cost: cost, effective_cost: cost, list_cost: cost, billing_currency: 'USD', consumed_quantity: '1', consumed_unit: 'Hours', tags: {}, pool_id: 'p1',
    });
    await w.insertObjects('billing_line_items', [
      old('2026-11-01 00:00:00.000000', '2026-10-01', '1'), old('2026-11-02 00:00:00.000000', '2026-10-01', '2'), old('2026-11-01 00:00:00.000000', '2026-10-02', '4'),
    ]);
    await migrate(w);
    const current = (): Promise<number> => scalar(w, 'SELECT toFloat64(sum(effective_cost)) AS n FROM billing_current');
    expect(await current()).toBe(6);
    const dir = mkdtempSync(join(tmpdir(), 'bill-'));
    const file = join(dir, 'october.csv');
    writeFileSync(file, 'BillingAccountId,ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,BillingCurrency\n111,2026-10-01T05:00:00Z,2026-10-01T06:00:00Z,7,7,USD\n');
    const summary = await ingestBillingFiles(w, [file], { format: BILLING_FILE_FORMATS['focus'] as BillingFileFormat, poolTagKey: 'inference-pool', batchRows: 10 });
    expect(summary.recorded).toBe(true);
    expect(await current()).toBe(7);
  });

  it('refuse a badly named migration file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(dir, 'add_table.sql'), 'SELECT 1');
    expect(() => listMigrations(dir)).toThrow(/0001_snake_case/);
  });
});

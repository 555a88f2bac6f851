/**
 * Stage tables of Parquet billing imports: dropped when their file is done,
 * whatever happened; those a killed import left behind are dropped by the
 * next import; those of an import still running are not.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import { claimStageTable, dropStageTables, dropStaleStageTables } from '../src/billing/billing-stage-tables.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { tempDir, writeTemp } from './helpers/files.js';
import { waitFor } from './helpers/wait.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

const CUR = BILLING_FILE_FORMATS['aws-cur'] as BillingFileFormat;
const options = { format: CUR, poolTagKey: 'inference-pool', batchRows: 1000 };
const HEADER = ['line_item_usage_start_date', 'line_item_usage_end_date', 'line_item_unblended_cost', 'line_item_currency_code', 'resource_tags'];

let w: Warehouse;
let dir: string;
beforeEach(async () => {
  w = await freshWarehouse();
  dir = tempDir();
});
afterEach(async () => {
  await discardWarehouse(w);
});

/** The stage tables in the test's database. */
async function stageTables(): Promise<string[]> {
  const rows = await w.query(
    "SELECT name FROM system.tables WHERE database = {db:String} AND startsWith(name, 'billing_parquet_stage_') ORDER BY name",
    { db: w.database },
    z.object({ name: z.string() }),
  );
  return rows.map((r) => r.name);
}

/** A stage table as an import makes one (what is in it does not matter here). */
async function createStage(name: string): Promise<void> {
  await w.command('CREATE TABLE {t:Identifier} (line UInt64) ENGINE = MergeTree ORDER BY line', { t: name });
}

/** A one-line CUR export in Parquet, written by the engine; `cost` may be bad. */
async function curParquet(name: string, cost: string): Promise<string> {
  const csv = writeTemp(dir, `${name}.csv`, stringify([HEADER, ['2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', cost, 'USD', '{"user_inference-pool":"p"}']]));
  const out = join(dir, `${name}.parquet`);
  const structure = HEADER.map((h) => `${h} String`).join(', ');
  await w.command("INSERT INTO FUNCTION file({out:String}, 'Parquet') SELECT * FROM file({csv:String}, 'CSVWithNames', {structure:String})", { out, csv, structure }, { engine_file_truncate_on_insert: 1 });
  return out;
}

describe('Parquet stage tables', () => {
  it('are dropped when their file is done, imported or refused', async () => {
    const good = await ingestBillingFiles(w, [await curParquet('good', '2.5')], options);
    expect(good).toMatchObject({ accepted: 1, rejected: 0, recorded: true, billedByFile: [{ USD: '2.5' }] });
    const bad = await ingestBillingFiles(w, [await curParquet('bad', 'two')], options);
    expect(bad).toMatchObject({ accepted: 0, rejected: 1, recorded: false });
    expect(await stageTables()).toEqual([]);
  });

  it('left by a killed import are dropped by the next import; those of an import running in this process are kept', async () => {
    // The embedded warehouse is one process's (its data directory is locked), so any stage table this process did not make is stale.
    const leftover = `billing_parquet_stage_${randomUUID().replaceAll('-', '')}`;
    await createStage(leftover);
    const running = claimStageTable();
    await createStage(running);
    const summary = await ingestBillingFiles(w, [await curParquet('next', '1')], options);
    expect(summary).toMatchObject({ accepted: 1, recorded: true });
    expect(await stageTables()).toEqual([running]);
    await dropStageTables(w, [running]);
    expect(await stageTables()).toEqual([]);
  });

  it('of another process on a server are dropped only once they are older than any import lasts', async () => {
    const other = `billing_parquet_stage_${randomUUID().replaceAll('-', '')}`;
    await createStage(other);
    // A server is shared: a fresh stage table may be an import running elsewhere.
    expect(await dropStaleStageTables(w, { exclusive: false })).toEqual([]);
    expect(await stageTables()).toEqual([other]);
    // Past the horizon (here 0 s: its creation second is over) it is stale.
    let dropped: string[] = [];
    await waitFor(async () => {
      dropped = await dropStaleStageTables(w, { exclusive: false, staleAfterSeconds: 0 });
      return dropped.length > 0;
    }, { timeoutMs: 10_000, what: 'the stage table to be a second old' });
    expect(dropped).toEqual([other]);
    expect(await stageTables()).toEqual([]);
  });

  it('the embedded warehouse refuses a request body (it reads files itself)', async () => {
    await expect(w.commandWithBody('INSERT INTO t FORMAT Parquet', {}, Readable.from([Buffer.from('PAR1')]))).rejects.toThrow('the embedded warehouse takes no request body');
  });
});

/**
 * FOCUS Parquet read by the engine: the same rows, totals and rejects as the
 * same export in CSV. Parquet files are written by the engine itself from the
 * CSV samples (typed columns: timestamps, doubles, and Tags as a map for AWS).
 */
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { FIXTURES, tempDir, writeTemp } from './helpers/files.js';
import { discardWarehouse, freshWarehouse, scalar } from './helpers/warehouse.js';

const FOCUS = BILLING_FILE_FORMATS['focus'] as BillingFileFormat;
const options = { format: FOCUS, poolTagKey: 'inference-pool', batchRows: 1000 };

let w: Warehouse;
let dir: string;
beforeEach(async () => {
  w = await freshWarehouse();
  dir = tempDir();
});
afterEach(async () => {
  await discardWarehouse(w);
});

/** The rows of one import as stored, minus where and when they came from. */
async function rowsOf(version: string, first: number): Promise<unknown[]> {
  return w.query(
    'SELECT * EXCEPT (billing_version, scope_version, source_file, source_line), source_line - {first:UInt8} AS row FROM billing_line_items WHERE billing_version = {v:DateTime64(6)} ORDER BY source_line',
    { v: version, first },
    z.record(z.string(), z.unknown()),
  );
}

/** A Parquet copy of a CSV, written by the engine with the types it infers (or all text). */
async function toParquet(csv: string, name: string, opts: { tagsAsMap?: boolean; allText?: readonly string[] } = {}): Promise<string> {
  const out = join(dir, name);
  const source = opts.allText ? "file({csv:String}, 'CSVWithNames', {structure:String})" : "file({csv:String}, 'CSVWithNames')";
  const select = opts.tagsAsMap ? "SELECT * REPLACE (JSONExtract(ifNull(Tags, '{}'), 'Map(String, String)') AS Tags)" : 'SELECT *';
  const params: Record<string, unknown> = { out, csv };
  if (opts.allText) params['structure'] = opts.allText.map((h) => `\`${h}\` String`).join(', ');
  await w.command(`INSERT INTO FUNCTION file({out:String}, 'Parquet') ${select} FROM ${source}`, params, { engine_file_truncate_on_insert: 1 });
  return out;
}

describe.each([
  ['focus-aws.csv', true],
  ['focus-azure.csv', false],
  ['focus-gcp.csv', false],
  ['focus-oci.csv', false],
])('FOCUS Parquet from %s', (name, tagsAsMap) => {
  it('imports the same rows and totals as the CSV, every line kept', async () => {
    const csv = join(FIXTURES, name);
    const parquet = await toParquet(csv, name.replace('.csv', '.parquet'), { tagsAsMap });
    const fromCsv = await ingestBillingFiles(w, [csv], options);
    const fromParquet = await ingestBillingFiles(w, [parquet], options);
    expect(fromParquet.files[0]?.error).toBeUndefined();
    expect(fromParquet).toMatchObject({ accepted: fromCsv.accepted, rejected: 0, recorded: true, billedByFile: fromCsv.billedByFile });
    // A CSV's first line is its header; a Parquet file's first row is row 1.
    expect(await rowsOf(fromParquet.billingVersion, 1)).toEqual(await rowsOf(fromCsv.billingVersion, 2));
    const scopes = z.object({ rows: z.coerce.number(), billed: z.string(), effective: z.string(), days: z.array(z.string()) });
    const scopeOf = (v: string) => w.query('SELECT rows, toJSONString(billed_cost) AS billed, toJSONString(effective_cost) AS effective, arrayMap(d -> toString(d), record_days) AS days FROM billing_scopes WHERE billing_version = {v:DateTime64(6)} ORDER BY billing_account_id, scope_start', { v }, scopes);
    expect(await scopeOf(fromParquet.billingVersion)).toEqual(await scopeOf(fromCsv.billingVersion));
  });
});

describe('FOCUS Parquet: bad rows', () => {
  it('rejects the same rows with the same columns and reasons as the CSV path, and fails the import', async () => {
    const header = ['ChargePeriodStart', 'ChargePeriodEnd', 'BillingPeriodStart', 'BillingPeriodEnd', 'BilledCost', 'EffectiveCost', 'BillingCurrency', 'ChargeCategory', 'Tags'];
    const good = ['2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', '1.5', '1.25', 'USD', 'Usage', '{"inference-pool":"p"}'];
    const bad = (i: number, value: string): string[] => good.map((v, j) => (j === i ? value : v));
    const rows = [
      good,
      bad(4, 'NULL'), bad(5, ''), bad(4, '12,50'), bad(5, '1E100'), bad(0, '2026-02-30T00:00:00Z'), bad(0, '2026-10-01T00:30:00Z'),
      bad(1, '2026-09-30T00:00:00Z'), bad(6, 'dollars'), bad(8, '[1,2]'), bad(3, 'NULL'), bad(7, 'NULL'),
      bad(8, 'NULL'),
    ];
    const csv = writeTemp(dir, 'bad.csv', stringify([header, ...rows]));
    const parquet = await toParquet(csv, 'bad.parquet', { allText: header });
    const fromCsv = await ingestBillingFiles(w, [csv], options);
    const fromParquet = await ingestBillingFiles(w, [parquet], options);
    expect(fromCsv).toMatchObject({ accepted: 2, rejected: 11, recorded: false });
    // CSV lines count the header; Parquet rows do not.
    expect(fromParquet.badLines).toEqual(fromCsv.badLines.map((b) => ({ ...b, file: parquet, line: b.line - 1 })));
    expect(fromParquet).toMatchObject({ accepted: 2, rejected: 11, recorded: false });
    expect(await scalar(w, 'SELECT count() AS n FROM billing_current')).toBe(0);
  });

  it('refuses a Parquet file missing a required column, and one that is not Parquet', async () => {
    const csv = writeTemp(dir, 'nocost.csv', stringify([['ChargePeriodStart', 'ChargePeriodEnd', 'BilledCost', 'BillingCurrency'], ['2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', '1', 'USD']]));
    const parquet = await toParquet(csv, 'nocost.parquet');
    const broken = writeTemp(dir, 'broken.parquet', 'PAR1 not really');
    const summary = await ingestBillingFiles(w, [parquet, broken], options);
    expect(summary.files[0]?.error).toBe('not a focus file: missing column EffectiveCost');
    expect(summary.files[1]?.error).toMatch(/^cannot read .*broken\.parquet as Parquet/);
    expect(summary.recorded).toBe(false);
  });
});

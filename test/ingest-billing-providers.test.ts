/**
 * FOCUS exports in the shapes each provider writes them (column order, null
 * spelling, timestamp form, tag shape, credits, commitment purchases, a
 * Correction): every line is kept and the bill ties out to the file exactly,
 * in the raw table and after attribution.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/ingest/billing-file.ingest.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { FIXTURES } from './helpers/files.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

const FOCUS = BILLING_FILE_FORMATS['focus'] as BillingFileFormat;

/** Each sample with its line count and the sum of its BilledCost, worked out by hand from the file. */
const SAMPLES = [
  { file: 'focus-aws.csv', lines: 8, currency: 'USD', billed: '137.394800123456', categories: ['Credit', 'Purchase', 'Tax', 'Usage'] },
  { file: 'focus-azure.csv', lines: 6, currency: 'EUR', billed: '1770.996789', categories: ['Credit', 'Purchase', 'Usage'] },
  { file: 'focus-gcp.csv', lines: 6, currency: 'USD', billed: '185.341412', categories: ['Credit', 'Purchase', 'Tax', 'Usage'] },
  { file: 'focus-oci.csv', lines: 7, currency: 'USD', billed: '514.7925', categories: ['Adjustment', 'Credit', 'Purchase', 'Usage'] },
] as const;

/** The same sum computed from the file here, with integer arithmetic. */
function billedInFile(path: string): string {
  const records: string[][] = parse(readFileSync(path, 'utf8'));
  const header = records.shift();
  const col = header?.indexOf('BilledCost') ?? -1;
  return formatScaled(records.reduce((acc, r) => acc + toScaled(r[col] ?? ''), 0n));
}

let w: Warehouse;
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await discardWarehouse(w);
});

const money = z.object({ total: z.string(), rows: z.coerce.number() });

describe.each(SAMPLES)('FOCUS sample $file', (sample) => {
  const path = join(FIXTURES, sample.file);

  it('imports every line; the bill and pool_cost tie out to the sum of BilledCost in the file', async () => {
    expect(billedInFile(path)).toBe(sample.billed);
    const summary = await ingestBillingFiles(w, [path], { format: FOCUS, poolTagKey: 'inference-pool', batchRows: 1000 });
    expect(summary.badLines).toEqual([]);
    expect(summary).toMatchObject({ accepted: sample.lines, rejected: 0, recorded: true, billedByFile: [{ [sample.currency]: sample.billed }] });

    const [current] = await w.query('SELECT toString(sum(billed_cost)) AS total, count() AS rows FROM billing_current', {}, money);
    expect(current).toEqual({ total: sample.billed, rows: sample.lines });
    const categories = await w.query('SELECT DISTINCT charge_category AS c FROM billing_current ORDER BY c', {}, z.object({ c: z.string() }));
    expect(categories.map((r) => r.c)).toEqual(sample.categories);
    const [corrections] = await w.query("SELECT count() AS rows, toString(sum(billed_cost)) AS total FROM billing_current WHERE charge_class = 'Correction' AND charge_period_start < billing_period_start", {}, money);
    expect(corrections?.rows).toBe(1);
    const frequencies = await w.query("SELECT DISTINCT charge_frequency AS f FROM billing_current WHERE charge_frequency != ''", {}, z.object({ f: z.string() }));
    expect(frequencies.length).toBeGreaterThan(0);

    // Every line lies in 2026-09-30 .. 2026-10-02 (the correction in September); attribution spreads each over its hours.
    await attributeWindow(w, settings({ costBasis: 'billed' }), new Date('2026-09-30T00:00:00Z'), new Date('2026-10-02T00:00:00Z'));
    const [pools] = await w.query('SELECT toString(sum(billed_cost)) AS total, count() AS rows FROM pool_cost WHERE currency = {c:String}', { c: sample.currency }, money);
    expect(pools?.total).toBe(sample.billed);
    const [unallocated] = await w.query("SELECT toString(sum(billed_cost)) AS total, count() AS rows FROM pool_cost WHERE pool_id = ''", {}, money);
    expect(unallocated?.rows).toBeGreaterThan(0);
  });
});

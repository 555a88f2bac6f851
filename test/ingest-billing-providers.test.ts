/**
 * FOCUS exports in the shapes each provider writes them (column order, null
 * spelling, timestamp form, tag shape, credits, commitment purchases, a
 * Correction), and an AWS CUR 2.0 export with every line item type: every
 * line is kept and the bill ties out to the file exactly, in the raw table
 * and after attribution.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { FIXTURES, tempDir, writeTemp } from './helpers/files.js';
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

const CUR = BILLING_FILE_FORMATS['aws-cur'] as BillingFileFormat;
const CUR_HEADER = [
  'bill_payer_account_id', 'line_item_line_item_type', 'line_item_usage_start_date', 'line_item_usage_end_date', 'bill_billing_period_start_date',
  'bill_billing_period_end_date', 'line_item_unblended_cost', 'reservation_effective_cost', 'savings_plan_savings_plan_effective_cost',
  'line_item_currency_code', 'line_item_usage_amount', 'pricing_unit', 'product_instance_type', 'resource_tags',
];
const H100 = '{"user_inference-pool":"llm-h100"}';
/** A November 2026 CUR line of the hour from `start`: type, unblended cost, pool tags, then any other columns. */
function curLine(type: string, cost: string, tags = '', more: Record<string, string> = {}, start = '2026-11-01T10:00:00Z'): string[] {
  const end = new Date(Date.parse(start) + 3_600_000).toISOString();
  const row: Record<string, string> = {
    bill_payer_account_id: '111', line_item_line_item_type: type, line_item_usage_start_date: start, line_item_usage_end_date: end,
    bill_billing_period_start_date: '2026-11-01T00:00:00Z', bill_billing_period_end_date: '2026-12-01T00:00:00Z',
    line_item_unblended_cost: cost, line_item_currency_code: 'USD', resource_tags: tags, ...more,
  };
  return CUR_HEADER.map((h) => row[h] ?? '');
}

describe('AWS CUR 2.0 sample: every line item type', () => {
  const usage = { line_item_usage_amount: '1', pricing_unit: 'Hrs', product_instance_type: 'p5.48xlarge' };
  /** Each line with the ChargeCategory and ChargeClass it must be stored with. */
  const LINES: [string[], string, string][] = [
    [curLine('Usage', '98.32', H100, usage), 'Usage', ''],
    [curLine('DiscountedUsage', '0', H100, { ...usage, reservation_effective_cost: '40.125' }), 'Usage', ''],
    [curLine('SavingsPlanCoveredUsage', '98.32', H100, { ...usage, savings_plan_savings_plan_effective_cost: '61.5' }), 'Usage', ''],
    [curLine('SavingsPlanNegation', '-98.32', H100), 'Usage', ''],
    [curLine('Discount', '-1.5', H100), 'Usage', ''],
    [curLine('BundledDiscount', '-0.25', H100), 'Usage', ''],
    [curLine('EdpDiscount', '-2.95', H100), 'Usage', ''],
    [curLine('PrivateRateDiscount', '-4.1', H100), 'Usage', ''],
    [curLine('Fee', '500'), 'Purchase', ''],
    [curLine('RIFee', '120.5', H100), 'Purchase', ''],
    [curLine('SavingsPlanUpfrontFee', '300'), 'Purchase', ''],
    [curLine('SavingsPlanRecurringFee', '45', H100), 'Purchase', ''],
    [curLine('Tax', '12.34'), 'Tax', ''],
    [curLine('Credit', '-25.000000123456'), 'Credit', ''],
    [curLine('Refund', '-3.5', H100), 'Adjustment', ''],
    // Billed in November for 5 October: corrections of a period already invoiced.
    [curLine('Refund', '-7.25', H100, {}, '2026-10-05T08:00:00Z'), 'Adjustment', 'Correction'],
    [curLine('Credit', '-1', '', {}, '2026-10-05T09:00:00Z'), 'Credit', 'Correction'],
  ];
  const billed = formatScaled(LINES.reduce((acc, [line]) => acc + toScaled(line[CUR_HEADER.indexOf('line_item_unblended_cost')] ?? ''), 0n));

  it('stores each line with its FOCUS category and class; the bill, attributed, still ties out to the file', async () => {
    const file = writeTemp(tempDir(), 'cur.csv', stringify([CUR_HEADER, ...LINES.map(([line]) => line)]));
    const summary = await ingestBillingFiles(w, [file], { format: CUR, poolTagKey: 'inference-pool', batchRows: 1000 });
    expect(summary.badLines).toEqual([]);
    expect(summary).toMatchObject({ accepted: LINES.length, rejected: 0, recorded: true, billedByFile: [{ USD: billed }] });

    const stored = await w.query('SELECT charge_category AS category, charge_class AS class FROM billing_current ORDER BY source_line', {}, z.object({ category: z.string(), class: z.string() }));
    expect(stored).toEqual(LINES.map(([, category, cls]) => ({ category, class: cls })));
    // The corrections' day is not one this export is the record of (Cost Explorer keeps it), November's usage day is.
    const [scope] = await w.query('SELECT arrayMap(d -> toString(d), record_days) AS days FROM billing_scopes', {}, z.object({ days: z.array(z.string()) }));
    expect(scope?.days).toEqual(['2026-11-01']);

    // Attribution counts every category alike; the class only sets correction_cost apart.
    const cost = z.object({ billed: z.string(), rest: z.string(), correction: z.string() });
    const totals = async () => (await w.query(
      `SELECT toString(sum(billed_cost)) AS billed, toString(sum(used_cost) + sum(idle_cost) + sum(unallocated_cost)) AS rest,
              toString(sum(correction_cost)) AS correction FROM pool_cost`, {}, cost))[0];
    await attributeWindow(w, settings({ costBasis: 'billed' }), new Date('2026-10-05T00:00:00Z'), new Date('2026-10-06T00:00:00Z'));
    await attributeWindow(w, settings({ costBasis: 'billed' }), new Date('2026-11-01T00:00:00Z'), new Date('2026-11-02T00:00:00Z'));
    expect(await totals()).toEqual({ billed, rest: billed, correction: '-8.25' });
  });
});

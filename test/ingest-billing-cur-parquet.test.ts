/**
 * AWS CUR 2.0 in Parquet (how Data Exports deliver it) read by the engine:
 * the same rows, totals and rejects as the same export in CSV. The Parquet
 * files are written by the engine itself from CSV, typed as CUR 2.0 types
 * them (timestamps, doubles, resource_tags and product as maps) or all as
 * text.
 */
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { tempDir, writeTemp } from './helpers/files.js';
import { discardWarehouse, freshWarehouse, scalar } from './helpers/warehouse.js';

const CUR = BILLING_FILE_FORMATS['aws-cur'] as BillingFileFormat;
const options = (acceptPartial = false) => ({ format: CUR, poolTagKey: 'inference-pool', batchRows: 1000, acceptPartial });

const HEADER = [
  'bill_payer_account_id', 'line_item_usage_account_id', 'line_item_line_item_type', 'line_item_usage_start_date', 'line_item_usage_end_date',
  'bill_billing_period_start_date', 'bill_billing_period_end_date', 'line_item_unblended_cost', 'savings_plan_savings_plan_effective_cost',
  'reservation_effective_cost', 'pricing_public_on_demand_cost', 'line_item_currency_code', 'line_item_usage_amount', 'pricing_unit',
  'line_item_resource_id', 'product_instance_type', 'line_item_product_code', 'product_region_code', 'product_sku', 'resource_tags',
] as const;
type Column = (typeof HEADER)[number];
const DATES: readonly Column[] = ['line_item_usage_start_date', 'line_item_usage_end_date', 'bill_billing_period_start_date', 'bill_billing_period_end_date'];
const NUMBERS: readonly Column[] = ['line_item_unblended_cost', 'savings_plan_savings_plan_effective_cost', 'reservation_effective_cost', 'pricing_public_on_demand_cost', 'line_item_usage_amount'];

const LLM = '{"user_inference-pool":"llm-h100"}';
/** One CUR line of October 2026 (hour 0 of the 1st unless overridden). */
function curRow(overrides: Partial<Record<Column, string>> = {}): string[] {
  const base: Record<Column, string> = {
    bill_payer_account_id: '111', line_item_usage_account_id: '222', line_item_line_item_type: 'Usage',
    line_item_usage_start_date: '2026-10-01T00:00:00Z', line_item_usage_end_date: '2026-10-01T01:00:00Z',
    bill_billing_period_start_date: '2026-10-01T00:00:00Z', bill_billing_period_end_date: '2026-11-01T00:00:00Z',
    line_item_unblended_cost: '98.32', savings_plan_savings_plan_effective_cost: '', reservation_effective_cost: '',
    pricing_public_on_demand_cost: '98.32', line_item_currency_code: 'USD', line_item_usage_amount: '1', pricing_unit: 'Hrs',
    line_item_resource_id: 'i-1', product_instance_type: 'p5.48xlarge', line_item_product_code: 'AmazonEC2', product_region_code: 'us-east-1',
    product_sku: 'SKU1', resource_tags: LLM,
  };
  const row = { ...base, ...overrides };
  return HEADER.map((h) => row[h]);
}

const MONTH = { line_item_usage_start_date: '2026-10-01T00:00:00Z', line_item_usage_end_date: '2026-11-01T00:00:00Z' };
/** A month of GPU billing in CUR 2.0 terms: usage, savings plan, reservation, fees, tax, a credit, a tiny amount, and one bad line (row 9). */
const OCTOBER = [
  curRow(),
  curRow({ line_item_line_item_type: 'SavingsPlanCoveredUsage', line_item_resource_id: 'i-2', savings_plan_savings_plan_effective_cost: '61.5' }),
  curRow({ line_item_line_item_type: 'SavingsPlanNegation', line_item_resource_id: 'i-2', line_item_unblended_cost: '-98.32', pricing_public_on_demand_cost: '0', line_item_usage_amount: '0', pricing_unit: '', product_instance_type: '' }),
  curRow({ line_item_line_item_type: 'DiscountedUsage', line_item_resource_id: 'i-3', line_item_unblended_cost: '0', reservation_effective_cost: '40.125', product_instance_type: 'p4d.24xlarge', resource_tags: '{"user_inference-pool":"a100-batch"}' }),
  curRow({ ...MONTH, line_item_line_item_type: 'RIFee', line_item_resource_id: '', line_item_unblended_cost: '1200.5', pricing_public_on_demand_cost: '', resource_tags: '' }),
  curRow({ ...MONTH, line_item_line_item_type: 'Tax', line_item_resource_id: '', line_item_unblended_cost: '12.34', pricing_public_on_demand_cost: '', line_item_product_code: 'AWSSupport', resource_tags: '{}' }),
  curRow({ line_item_line_item_type: 'Credit', line_item_unblended_cost: '-25.000000123456', pricing_public_on_demand_cost: '', line_item_usage_amount: '' }),
  curRow({ line_item_resource_id: 'i-4', line_item_unblended_cost: '1.2E-7', pricing_public_on_demand_cost: '1.2E-7', resource_tags: '{"user_inference-pool":"llm-h100","user_team":"search"}' }),
  curRow({ line_item_resource_id: 'i-5', line_item_usage_start_date: '2026-10-01T00:30:00Z' }),
];

let w: Warehouse;
let dir: string;
beforeEach(async () => {
  w = await freshWarehouse();
  dir = tempDir();
});
afterEach(async () => {
  await discardWarehouse(w);
});

/**
 * A Parquet copy of a CUR CSV written by the engine: typed as CUR 2.0 types
 * it (timestamps, doubles, resource_tags a map or JSON text; an empty cell
 * is a null), or every column as text.
 */
async function toParquet(csv: string, name: string, typing: 'cur' | 'cur-json-tags' | 'text', header: readonly string[] = HEADER): Promise<string> {
  const out = join(dir, name);
  const maps = typing === 'cur' ? ['resource_tags', 'product'].filter((c) => header.includes(c)) : [];
  const replace = [
    ...DATES.map((c) => `parseDateTime64BestEffortOrNull(nullIf(${c}, ''), 3, 'UTC') AS ${c}`),
    ...NUMBERS.map((c) => `toFloat64OrNull(nullIf(${c}, '')) AS ${c}`),
    ...maps.map((c) => `JSONExtract(if(${c} = '', '{}', ${c}), 'Map(String, String)') AS ${c}`),
  ];
  const asText = header.map((c) => `nullIf(${c}, '') AS ${c}`);
  const select = `SELECT * REPLACE (${(typing === 'text' ? asText : replace).join(', ')})`;
  const structure = header.map((h) => `\`${h}\` String`).join(', ');
  await w.command(
    `INSERT INTO FUNCTION file({out:String}, 'Parquet') ${select} FROM file({csv:String}, 'CSVWithNames', {structure:String})`,
    { out, csv, structure },
    { engine_file_truncate_on_insert: 1, output_format_parquet_string_as_string: 1 },
  );
  return out;
}

/** The rows of one import as stored, minus where and when they came from. */
async function rowsOf(version: string, first: number): Promise<unknown[]> {
  return w.query(
    'SELECT * EXCEPT (billing_version, scope_version, source, source_file, source_line), source_line - {first:UInt8} AS row FROM billing_line_items WHERE billing_version = {v:DateTime64(6)} ORDER BY source_line',
    { v: version, first },
    z.record(z.string(), z.unknown()),
  );
}

const poolCost = z.object({ pool_id: z.string(), billed: z.string(), effective: z.string(), rows: z.coerce.number() });
const currentByPool = () => w.query(
  'SELECT pool_id, toString(sum(billed_cost)) AS billed, toString(sum(effective_cost)) AS effective, count() AS rows FROM billing_current GROUP BY pool_id ORDER BY pool_id',
  {}, poolCost,
);

describe.each([['cur'], ['cur-json-tags']] as const)('AWS CUR 2.0 Parquet (%s)', (typing) => {
  it('imports the bill exactly, with the same rows, rejects and totals as the CSV', async () => {
    const csv = writeTemp(dir, 'cur.csv', stringify([HEADER, ...OCTOBER]));
    const parquet = await toParquet(csv, 'cur.parquet', typing);
    const described = await w.query("DESCRIBE file({p:String}, 'Parquet')", { p: parquet }, z.looseObject({ name: z.string(), type: z.string() }));
    const typeOf = new Map(described.map((d) => [d.name, d.type]));
    expect(['line_item_unblended_cost', 'line_item_usage_start_date', 'resource_tags'].map((c) => typeOf.get(c))).toEqual(['Nullable(Float64)', "Nullable(DateTime64(3, 'UTC'))", typing === 'cur' ? 'Map(String, String)' : 'String']);

    const strict = await ingestBillingFiles(w, [parquet], options());
    expect(strict).toMatchObject({ accepted: 8, rejected: 1, recorded: false });
    expect(strict.badLines).toEqual([{ file: parquet, line: 9, field: 'line_item_usage_start_date', reason: 'line_item_usage_start_date: must be on a whole hour (charges are spread over whole hours), got 2026-10-01 00:30:00' }]);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_current')).toBe(0);

    const fromParquet = await ingestBillingFiles(w, [parquet], options(true));
    const fromCsv = await ingestBillingFiles(w, [csv], options(true));
    expect(fromParquet.files[0]?.error).toBeUndefined();
    expect(fromParquet).toMatchObject({ accepted: 8, rejected: 1, recorded: true, billedByFile: [{ USD: '1286.159999996544' }] });
    expect(fromCsv).toMatchObject({ accepted: 8, rejected: 1, billedByFile: fromParquet.billedByFile });
    // A CSV's first line is its header; a Parquet file's first row is row 1.
    expect(fromParquet.badLines).toEqual(fromCsv.badLines.map((b) => ({ ...b, file: parquet, line: b.line - 1 })));
    expect(await rowsOf(fromParquet.billingVersion, 1)).toEqual(await rowsOf(fromCsv.billingVersion, 2));

    // The CSV import restated the same billing period: what billing_current holds is the one bill, to the last digit.
    expect(await currentByPool()).toEqual([
      { pool_id: '', billed: '1212.84', effective: '12.34', rows: 2 },
      { pool_id: 'a100-batch', billed: '0', effective: '40.125', rows: 1 },
      { pool_id: 'llm-h100', billed: '73.319999996544', effective: '134.819999996544', rows: 5 },
    ]);
    const lines = await w.query(
      `SELECT resource_id, charge_category, charge_frequency, toString(effective_cost) AS effective, toJSONString(tags) AS tags
       FROM billing_line_items WHERE billing_version = {v:DateTime64(6)} ORDER BY source_line`,
      { v: fromParquet.billingVersion },
      z.object({ resource_id: z.string(), charge_category: z.string(), charge_frequency: z.string(), effective: z.string(), tags: z.string() }),
    );
    expect(lines.map((l) => [l.charge_category, l.charge_frequency, l.effective])).toEqual([
      ['Usage', 'Usage-Based', '98.32'], ['Usage', 'Usage-Based', '61.5'], ['Usage', 'Usage-Based', '0'], ['Usage', 'Usage-Based', '40.125'],
      ['Purchase', 'Recurring', '0'], ['Tax', 'Usage-Based', '12.34'], ['Credit', 'Usage-Based', '-25.000000123456'], ['Usage', 'Usage-Based', '0.00000012'],
    ]);
    expect(JSON.parse(lines[7]?.tags ?? '')).toEqual({ 'user_inference-pool': 'llm-h100', user_team: 'search' });
    const scopes = z.object({ rows: z.coerce.number(), billed: z.string(), effective: z.string(), days: z.array(z.string()) });
    const scopeOf = (v: string) => w.query('SELECT rows, toJSONString(billed_cost) AS billed, toJSONString(effective_cost) AS effective, arrayMap(d -> toString(d), record_days) AS days FROM billing_scopes WHERE billing_version = {v:DateTime64(6)}', { v }, scopes);
    expect(await scopeOf(fromParquet.billingVersion)).toEqual([{ rows: 8, billed: '{"USD":"1286.159999996544"}', effective: '{"USD":"187.284999996544"}', days: ['2026-10-01'] }]);
    expect(await scopeOf(fromCsv.billingVersion)).toEqual(await scopeOf(fromParquet.billingVersion));
  });
});

/** Every CUR line item type with the FOCUS ChargeCategory it maps to (two types not listed: a fee and anything else). */
const LINE_ITEM_TYPES = [
  ['Usage', 'Usage'], ['DiscountedUsage', 'Usage'], ['SavingsPlanCoveredUsage', 'Usage'], ['SavingsPlanNegation', 'Usage'],
  ['Discount', 'Usage'], ['BundledDiscount', 'Usage'], ['EdpDiscount', 'Usage'], ['PrivateRateDiscount', 'Usage'],
  ['Fee', 'Purchase'], ['RIFee', 'Purchase'], ['SavingsPlanUpfrontFee', 'Purchase'], ['SavingsPlanRecurringFee', 'Purchase'],
  ['Tax', 'Tax'], ['Credit', 'Credit'], ['Refund', 'Adjustment'], ['MarketplaceFee', 'Purchase'], ['SomethingNew', 'Usage'],
] as const;

const categoryRow = z.object({ category: z.string(), class: z.string(), billed: z.string() });
const categoriesOf = (version: string) => w.query(
  'SELECT charge_category AS category, charge_class AS class, toString(billed_cost) AS billed FROM billing_line_items WHERE billing_version = {v:DateTime64(6)} ORDER BY source_line',
  { v: version }, categoryRow,
);

describe.each([['cur'], ['text']] as const)('AWS CUR 2.0 Parquet (%s): charge category and class', (typing) => {
  it('maps every line item type as the CSV path does; a refund or credit of an earlier billing period is a Correction', async () => {
    const rows = [
      ...LINE_ITEM_TYPES.map(([type], i) => curRow({ line_item_line_item_type: type, line_item_unblended_cost: `-${i + 1}` })),
      // Billed in November for October: corrections of a period already invoiced.
      curRow({ line_item_line_item_type: 'Refund', line_item_unblended_cost: '-2', bill_billing_period_start_date: '2026-11-01T00:00:00Z', bill_billing_period_end_date: '2026-12-01T00:00:00Z' }),
      curRow({ line_item_line_item_type: 'Credit', line_item_unblended_cost: '-1', bill_billing_period_start_date: '2026-11-01T00:00:00Z', bill_billing_period_end_date: '2026-12-01T00:00:00Z' }),
      // No billing period: the month of the charge stands in, so nothing is a correction.
      curRow({ line_item_line_item_type: 'Refund', line_item_unblended_cost: '-4', bill_billing_period_start_date: '', bill_billing_period_end_date: '' }),
    ];
    const csv = writeTemp(dir, 'types.csv', stringify([HEADER, ...rows]));
    const parquet = await toParquet(csv, 'types.parquet', typing);
    const fromCsv = await ingestBillingFiles(w, [csv], options());
    const fromParquet = await ingestBillingFiles(w, [parquet], options());
    expect(fromParquet.files[0]?.error).toBeUndefined();
    expect(fromCsv).toMatchObject({ accepted: rows.length, rejected: 0, recorded: true });
    expect(fromParquet).toMatchObject({ accepted: rows.length, rejected: 0, recorded: true, billedByFile: fromCsv.billedByFile });

    const expected = [
      ...LINE_ITEM_TYPES.map(([, category], i) => ({ category, class: '', billed: `-${i + 1}` })),
      { category: 'Adjustment', class: 'Correction', billed: '-2' },
      { category: 'Credit', class: 'Correction', billed: '-1' },
      { category: 'Adjustment', class: '', billed: '-4' },
    ];
    expect(await categoriesOf(fromCsv.billingVersion)).toEqual(expected);
    expect(await categoriesOf(fromParquet.billingVersion)).toEqual(expected);
    expect(await rowsOf(fromParquet.billingVersion, 1)).toEqual(await rowsOf(fromCsv.billingVersion, 2));
    // The November scope holds only the corrections: it claims no day as the record of its usage.
    const days = await w.query(
      "SELECT toString(scope_start) AS scope, arrayMap(d -> toString(d), record_days) AS days FROM billing_scopes WHERE billing_version = {v:DateTime64(6)} ORDER BY scope",
      { v: fromParquet.billingVersion }, z.object({ scope: z.string(), days: z.array(z.string()) }),
    );
    expect(days).toEqual([{ scope: '2026-10-01 00:00:00', days: ['2026-10-01'] }, { scope: '2026-11-01 00:00:00', days: [] }]);
  });
});

describe.each([['cur'], ['cur-json-tags'], ['text']] as const)('AWS CUR 2.0 product map (%s)', (typing) => {
  it('reads instance type and region from the product map where the flat column is empty or absent, in CSV and Parquet alike', async () => {
    const WITH_MAP = [...HEADER, 'product'] as const;
    const withMap = (overrides: Partial<Record<Column, string>>, product: string) => [...curRow(overrides), product];
    const empty = { product_instance_type: '', product_region_code: '' };
    const rows = [
      withMap({}, '{"instance_type":"g6.xlarge","region_code":"eu-west-1"}'),
      withMap(empty, '{"instance_type":"p5.48xlarge","region_code":"us-west-2","region":"us-east-2"}'),
      withMap(empty, '{"instance_type":" g6e.12xlarge ","region":"eu-central-1","vcpu":"48"}'),
      withMap(empty, ''),
      withMap(empty, 'not json'),
    ];
    // An export of the same lines without the flat columns at all.
    const FLATLESS = WITH_MAP.filter((c) => c !== 'product_instance_type' && c !== 'product_region_code');
    const flatless = rows.map((r) => FLATLESS.map((c) => r[WITH_MAP.indexOf(c)] ?? ''));
    const files = [
      writeTemp(dir, 'map.csv', stringify([WITH_MAP, ...rows])),
      writeTemp(dir, 'flatless.csv', stringify([FLATLESS, ...flatless])),
    ];
    files.push(await toParquet(files[0] ?? '', 'map.parquet', typing, WITH_MAP), await toParquet(files[1] ?? '', 'flatless.parquet', typing, FLATLESS));
    const expected = [
      { instance_type: 'p5.48xlarge', region: 'us-east-1' },
      { instance_type: 'p5.48xlarge', region: 'us-west-2' },
      { instance_type: 'g6e.12xlarge', region: 'eu-central-1' },
      { instance_type: '', region: '' },
      { instance_type: '', region: '' },
    ];
    for (const [i, file] of files.entries()) {
      const summary = await ingestBillingFiles(w, [file], options());
      expect(summary.files[0]?.error).toBeUndefined();
      expect(summary).toMatchObject({ accepted: rows.length, rejected: 0 });
      const stored = await w.query(
        'SELECT instance_type, region FROM billing_line_items WHERE billing_version = {v:DateTime64(6)} ORDER BY source_line',
        { v: summary.billingVersion }, z.object({ instance_type: z.string(), region: z.string() }),
      );
      // The flatless files have no flat value to prefer: the first line reads its map too.
      expect(stored).toEqual(i % 2 === 1 ? [{ instance_type: 'g6.xlarge', region: 'eu-west-1' }, ...expected.slice(1)] : expected);
    }
  });
});

describe('AWS CUR 2.0 Parquet: bad lines', () => {
  it('rejects the same lines with the same columns and reasons as the CSV path (a null reads as an empty cell), and fails the import', async () => {
    const rows = [
      curRow(),
      curRow({ line_item_unblended_cost: '' }),
      curRow({ line_item_unblended_cost: '12,50' }),
      curRow({ line_item_unblended_cost: '1E100' }),
      curRow({ line_item_currency_code: '' }),
      curRow({ line_item_currency_code: 'usd' }),
      curRow({ line_item_usage_start_date: '' }),
      curRow({ line_item_usage_end_date: '2026-02-30T00:00:00Z' }),
      curRow({ line_item_usage_end_date: '2026-10-01T00:00:00Z' }),
      curRow({ bill_billing_period_end_date: '' }),
      curRow({ bill_billing_period_end_date: '2026-09-01T00:00:00Z' }),
      curRow({ reservation_effective_cost: 'n/a' }),
      curRow({ resource_tags: '[1,2]' }),
      curRow({ bill_billing_period_start_date: '', bill_billing_period_end_date: '', line_item_unblended_cost: '7' }),
    ];
    const csv = writeTemp(dir, 'bad.csv', stringify([HEADER, ...rows]));
    const parquet = await toParquet(csv, 'bad.parquet', 'text');
    const fromCsv = await ingestBillingFiles(w, [csv], options());
    const fromParquet = await ingestBillingFiles(w, [parquet], options());
    expect(fromParquet.files[0]?.error).toBeUndefined();
    expect(fromCsv.badLines.map((b) => [b.line, b.field])).toEqual([
      [3, 'line_item_unblended_cost'], [4, 'line_item_unblended_cost'], [5, 'line_item_unblended_cost'], [6, 'line_item_currency_code'],
      [7, 'line_item_currency_code'], [8, 'line_item_usage_start_date'], [9, 'line_item_usage_end_date'], [10, 'line_item_usage_end_date'],
      [11, 'bill_billing_period_end_date'], [12, 'bill_billing_period_end_date'], [13, 'reservation_effective_cost'], [14, 'resource_tags'],
    ]);
    expect(fromParquet.badLines).toEqual(fromCsv.badLines.map((b) => ({ ...b, file: parquet, line: b.line - 1 })));
    expect(fromParquet).toMatchObject({ accepted: 2, rejected: 12, recorded: false, inferredBillingPeriods: 1, billedByFile: [{ USD: '105.32' }] });
    expect(await scalar(w, 'SELECT count() AS n FROM billing_current')).toBe(0);
  });

  it('refuses a CUR Parquet file missing a required column', async () => {
    const csv = writeTemp(dir, 'nocurrency.csv', stringify([['line_item_usage_start_date', 'line_item_usage_end_date', 'line_item_unblended_cost'], ['2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', '1']]));
    const out = join(dir, 'nocurrency.parquet');
    await w.command("INSERT INTO FUNCTION file({out:String}, 'Parquet') SELECT * FROM file({csv:String}, 'CSVWithNames')", { out, csv }, { engine_file_truncate_on_insert: 1 });
    const summary = await ingestBillingFiles(w, [out], options());
    expect(summary.files[0]?.error).toBe('not a aws-cur file: missing column line_item_currency_code');
    expect(summary.recorded).toBe(false);
  });
});

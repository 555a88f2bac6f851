import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import { nothingRead, type RunSummary } from '../src/files/ingest-run.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { FIXTURES, tempDir, writeTemp } from './helpers/files.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

const FOCUS = BILLING_FILE_FORMATS['focus'] as BillingFileFormat;
const CUR = BILLING_FILE_FORMATS['aws-cur'] as BillingFileFormat;
const SAMPLE = join(FIXTURES, 'billing-focus.csv');
const options = (format = FOCUS, poolTagKey = 'inference-pool', acceptPartial = false) => ({ format, poolTagKey, batchRows: 50, acceptPartial });
/** Keep the good lines of a file with bad ones (--accept-partial). */
const partial = (format = FOCUS) => options(format, 'inference-pool', true);

const HEADER = ['BillingAccountId', 'ChargePeriodStart', 'ChargePeriodEnd', 'BilledCost', 'EffectiveCost', 'BillingCurrency', 'ConsumedQuantity', 'ResourceId', 'ChargeDescription', 'Tags'];
function focusRow(overrides: Partial<Record<(typeof HEADER)[number], string>> = {}): string[] {
  const row: Record<string, string> = {
    BillingAccountId: '111111111111',
    ChargePeriodStart: '2026-10-01T00:00:00Z',
    ChargePeriodEnd: '2026-10-01T01:00:00Z',
    BilledCost: '10.5',
    EffectiveCost: '7.25',
    BillingCurrency: 'USD',
    ConsumedQuantity: '1',
    ResourceId: 'i-1',
    ChargeDescription: 'GPU instance hour',
    Tags: '{"inference-pool":"llm-h100"}',
    ...overrides,
  };
  return HEADER.map((h) => row[h] ?? '');
}

let w: Warehouse;
let dir: string;
beforeEach(async () => {
  w = await freshWarehouse();
  dir = tempDir();
});
afterEach(async () => {
  await w.close();
});

const poolCost = z.object({ pool_id: z.string(), effective: z.string(), billed: z.string(), rows: z.coerce.number() });
async function currentByPool(): Promise<z.infer<typeof poolCost>[]> {
  return w.query(
    'SELECT pool_id, toString(sum(effective_cost)) AS effective, toString(sum(billed_cost)) AS billed, count() AS rows FROM billing_current GROUP BY pool_id ORDER BY pool_id',
    {},
    poolCost,
  );
}

/** Per-pool sums of the sample file, computed here with integer arithmetic, independently of the engine. */
function expectedSampleByPool(): z.infer<typeof poolCost>[] {
  const [header, ...records] = parse(readFileSync(SAMPLE, 'utf8'));
  const col = (name: string): number => header?.indexOf(name) ?? -1;
  const byPool = new Map<string, { effective: bigint; billed: bigint; rows: number }>();
  for (const r of records) {
    const tags = JSON.parse(r[col('Tags')] ?? '{}') as Record<string, string>;
    const pool = tags['inference-pool'] ?? '';
    const acc = byPool.get(pool) ?? { effective: 0n, billed: 0n, rows: 0 };
    acc.effective += toScaled(r[col('EffectiveCost')] ?? '');
    acc.billed += toScaled(r[col('BilledCost')] ?? '');
    acc.rows++;
    byPool.set(pool, acc);
  }
  return [...byPool.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([pool_id, v]) => ({ pool_id, effective: formatScaled(v.effective), billed: formatScaled(v.billed), rows: v.rows }));
}

/** The rejects file the run reported for its first file. */
function rejects(summary: RunSummary): { line: number; field: string; reason: string }[] {
  return readFileSync(summary.files[0]?.rejectsFile ?? '', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; field: string; reason: string });
}

describe('ingest billing: FOCUS CSV', () => {
  it('loads the sample bill, deriving the pool from its tag and keeping untagged cost under an empty pool', async () => {
    const summary = await ingestBillingFiles(w, [SAMPLE], options());
    expect(summary).toMatchObject({ accepted: 120, rejected: 0 });
    expect(await currentByPool()).toEqual(expectedSampleByPool());
  });

  it('keeps decimals exact: no float rounding on the way in', async () => {
    const file = writeTemp(dir, 'exact.csv', stringify([HEADER, focusRow({ BilledCost: '0.000000000123', EffectiveCost: '1234567890123.123456789012' })]));
    await ingestBillingFiles(w, [file], options());
    const [row] = await w.query('SELECT toString(billed_cost) AS b, toString(effective_cost) AS e FROM billing_line_items', {}, z.object({ b: z.string(), e: z.string() }));
    expect(row).toEqual({ b: '0.000000000123', e: '1234567890123.123456789012' });
  });

  it('replaces, never adds: a re-import is a new version and only the newest counts', async () => {
    await ingestBillingFiles(w, [SAMPLE], options());
    const first = await currentByPool();
    await ingestBillingFiles(w, [SAMPLE], options());
    expect(await currentByPool()).toEqual(first);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_line_items')).toBe(240);
    expect(await scalar(w, 'SELECT uniqExact(billing_version) AS n FROM billing_line_items')).toBe(2);

    // A restatement of the day with a new amount replaces the old rows of that day.
    const restated = writeTemp(dir, 'restated.csv', stringify([HEADER, focusRow({ EffectiveCost: '1.5', Tags: '{"inference-pool":"clf-t4"}' })]));
    await ingestBillingFiles(w, [restated], options());
    expect(await currentByPool()).toEqual([{ pool_id: 'clf-t4', effective: '1.5', billed: '10.5', rows: 1 }]);
  });

  it('reads the pool from a configured tag key, including the user: prefix of AWS exports', async () => {
    const file = writeTemp(dir, 'tags.csv', stringify([HEADER, focusRow({ Tags: '{"user:gpu-pool":"a100-batch","inference-pool":"other"}' })]));
    await ingestBillingFiles(w, [file], options(FOCUS, 'gpu-pool'));
    expect((await currentByPool()).map((r) => r.pool_id)).toEqual(['a100-batch']);
  });

  it('refuses a file missing a required column, reading nothing from it', async () => {
    const file = writeTemp(dir, 'nocost.csv', stringify([HEADER.filter((h) => h !== 'EffectiveCost'), ['2026-10-01T00:00:00Z']]));
    const summary = await ingestBillingFiles(w, [file], options());
    expect(summary.files[0]?.error).toBe('not a focus file: missing column EffectiveCost');
    expect(nothingRead(summary)).toBe(true);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_line_items')).toBe(0);
  });

  it('rejects a cost that is not a decimal, naming line and column; the import is not recorded unless partial is accepted', async () => {
    const file = writeTemp(dir, 'badcost.csv', stringify([HEADER, focusRow(), focusRow({ BilledCost: '12,50' }), focusRow({ EffectiveCost: 'n/a' }), focusRow()]));
    const summary = await ingestBillingFiles(w, [file], options());
    expect(summary).toMatchObject({ accepted: 2, rejected: 2, recorded: false });
    expect(await currentByPool()).toEqual([]);
    const kept = await ingestBillingFiles(w, [file], partial());
    expect(kept).toMatchObject({ accepted: 2, rejected: 2, recorded: true });
    expect(await currentByPool()).toEqual([{ pool_id: 'llm-h100', effective: '14.5', billed: '21', rows: 2 }]);
    expect(rejects(summary)).toEqual([
      { line: 3, field: 'BilledCost', reason: 'BilledCost: must be a decimal number, got "12,50"' },
      { line: 4, field: 'EffectiveCost', reason: 'EffectiveCost: must be a decimal number, got "n/a"' },
    ].map((r) => ({ ...r, raw: expect.any(String) as unknown })));
  });

  it.each([
    ['an end before the start', { ChargePeriodEnd: '2026-09-30T00:00:00Z' }, 'ChargePeriodEnd'],
    ['a date that does not exist', { ChargePeriodStart: '2026-02-30T00:00:00Z' }, 'ChargePeriodStart'],
    ['a currency that is not ISO 4217', { BillingCurrency: 'dollars' }, 'BillingCurrency'],
    ['tags that are not a JSON object', { Tags: '[1,2]' }, 'Tags'],
  ])('rejects %s, naming the column', async (_name, overrides, field) => {
    const file = writeTemp(dir, 'bad.csv', stringify([HEADER, focusRow(overrides), focusRow()]));
    const summary = await ingestBillingFiles(w, [file], partial());
    expect(summary).toMatchObject({ accepted: 1, rejected: 1 });
    expect(rejects(summary)[0]).toMatchObject({ line: 2, field });
  });

  it('reads a BOM, CRLF line ends and a quoted field with a newline, keeping line numbers right', async () => {
    const csv = stringify([HEADER, focusRow({ ChargeDescription: 'two\r\nlines' }), focusRow({ BilledCost: 'bad' })], { record_delimiter: '\r\n' });
    const file = writeTemp(dir, 'windows.csv', `\ufeff${csv}`);
    const summary = await ingestBillingFiles(w, [file], partial());
    expect(summary).toMatchObject({ accepted: 1, rejected: 1 });
    expect(rejects(summary)[0]).toMatchObject({ line: 4, field: 'BilledCost' });
  });

  it('rejects a record with a missing field and one with broken quoting, keeping the rest with partial accepted', async () => {
    const csv = `${stringify([HEADER, focusRow()])}111111111111,2026-10-01T00:00:00Z,1\n${stringify([focusRow()])}"unclosed,1,2\n`;
    const file = writeTemp(dir, 'ragged.csv', csv);
    const summary = await ingestBillingFiles(w, [file], partial());
    expect(summary.accepted).toBe(2);
    const r = rejects(summary);
    expect(r[0]).toMatchObject({ line: 3, reason: 'record has 3 fields, the header has 10' });
    expect(r[1]).toMatchObject({ line: 5, reason: expect.stringMatching(/unreadable CSV/) as unknown });
  });

  it('reports an empty file and a header without records as nothing read', async () => {
    const empty = writeTemp(dir, 'empty.csv', '');
    const headerOnly = writeTemp(dir, 'header.csv', stringify([HEADER]));
    const summary = await ingestBillingFiles(w, [empty, headerOnly], options());
    expect(summary.files.map((f) => f.error)).toEqual(['file is empty', 'file has a header but no records']);
    expect(nothingRead(summary)).toBe(true);
  });

  it('reads a gzipped export', async () => {
    const file = writeTemp(dir, 'bill.csv.gz', gzipSync(readFileSync(SAMPLE)));
    expect((await ingestBillingFiles(w, [file], options())).accepted).toBe(120);
  });
});

describe('ingest billing: AWS CUR 2.0 CSV', () => {
  const CUR_HEADER = [
    'bill_payer_account_id', 'line_item_usage_account_id', 'line_item_line_item_type', 'line_item_usage_start_date', 'line_item_usage_end_date',
    'line_item_unblended_cost', 'savings_plan_savings_plan_effective_cost', 'reservation_effective_cost', 'pricing_public_on_demand_cost',
    'line_item_currency_code', 'line_item_usage_amount', 'pricing_unit', 'line_item_resource_id', 'product_instance_type', 'line_item_product_code',
    'product_region_code', 'resource_tags',
  ];
  it('maps usage, savings-plan-covered usage and negations to FOCUS meaning', async () => {
    const rows = [
      ['111', '222', 'Usage', '2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', '98.32', '', '', '98.32', 'USD', '1', 'Hrs', 'i-1', 'p5.48xlarge', 'AmazonEC2', 'us-east-1', '{"user_inference-pool":"llm-h100"}'],
      ['111', '222', 'SavingsPlanCoveredUsage', '2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', '98.32', '61.5', '', '98.32', 'USD', '1', 'Hrs', 'i-2', 'p5.48xlarge', 'AmazonEC2', 'us-east-1', '{"user_inference-pool":"llm-h100"}'],
      ['111', '222', 'SavingsPlanNegation', '2026-10-01T00:00:00Z', '2026-10-01T01:00:00Z', '-98.32', '', '', '0', 'USD', '0', '', 'i-2', '', 'AmazonEC2', 'us-east-1', '{"user_inference-pool":"llm-h100"}'],
    ];
    const file = writeTemp(dir, 'cur.csv', stringify([CUR_HEADER, ...rows]));
    const summary = await ingestBillingFiles(w, [file], options(CUR));
    expect(summary).toMatchObject({ accepted: 3, rejected: 0 });
    expect(await currentByPool()).toEqual([{ pool_id: 'llm-h100', effective: '159.82', billed: '98.32', rows: 3 }]);
    const [source] = await w.query('SELECT DISTINCT source, instance_type FROM billing_line_items WHERE resource_id = {r:String}', { r: 'i-1' }, z.object({ source: z.string(), instance_type: z.string() }));
    expect(source).toEqual({ source: 'aws-cur-file', instance_type: 'p5.48xlarge' });
  });
});

describe('ingest billing: FOCUS columns read by their definition', () => {
  it('keeps lines whose nullable columns are NULL or empty: a null Tags is an untagged line, a null quantity is 0, a credit counts', async () => {
    const file = writeTemp(dir, 'nulls.csv', stringify([
      HEADER,
      focusRow({ Tags: 'NULL', BilledCost: '12.5', EffectiveCost: '12.5' }),
      focusRow({ ConsumedQuantity: 'NULL', ResourceId: 'NULL', BilledCost: '-1.70', EffectiveCost: '-1.70' }),
      focusRow({ Tags: '', ConsumedQuantity: '' }),
    ]));
    const summary = await ingestBillingFiles(w, [file], options());
    expect(summary).toMatchObject({ accepted: 3, rejected: 0, recorded: true, billedByFile: [{ USD: '21.3' }] });
    expect(await currentByPool()).toEqual([
      { pool_id: '', effective: '19.75', billed: '23', rows: 2 },
      { pool_id: 'llm-h100', effective: '-1.7', billed: '-1.7', rows: 1 },
    ]);
    const [row] = await w.query("SELECT toString(consumed_quantity) AS q, resource_id FROM billing_line_items WHERE billed_cost < 0", {}, z.object({ q: z.string(), resource_id: z.string() }));
    expect(row).toEqual({ q: '0', resource_id: '' });
  });

  it.each([
    ['BilledCost', 'NULL'],
    ['EffectiveCost', ''],
    ['BillingCurrency', 'NULL'],
    ['ChargePeriodStart', 'null'],
  ])('rejects a null in the mandatory column %s (%j), naming it, and fails the import', async (column, value) => {
    const file = writeTemp(dir, 'null-mandatory.csv', stringify([HEADER, focusRow(), focusRow({ [column]: value })]));
    const summary = await ingestBillingFiles(w, [file], options());
    expect(summary).toMatchObject({ accepted: 1, rejected: 1, recorded: false });
    expect(summary.badLines).toEqual([{ file, line: 3, field: column, reason: `${column}: is null (empty or NULL), but a FOCUS line must have it` }]);
    expect(await currentByPool()).toEqual([]);
  });

  it('rejects a null billing period or charge category when the export has those columns', async () => {
    const header = [...HEADER, 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargeCategory'];
    const file = writeTemp(dir, 'null-period.csv', stringify([
      header,
      [...focusRow(), '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', 'Usage'],
      [...focusRow(), '2026-10-01T00:00:00Z', 'NULL', 'Usage'],
      [...focusRow(), '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', ''],
    ]));
    const summary = await ingestBillingFiles(w, [file], options());
    expect(summary.badLines.map((b) => [b.line, b.field])).toEqual([[3, 'BillingPeriodEnd'], [4, 'ChargeCategory']]);
  });

  it('reads the timestamp forms real exports write, all as UTC', async () => {
    const forms = ['2026-10-01 05:00:00', '2026-10-01T05:00:00Z', '2026-10-01T07:00:00+02:00', '2026-10-01 05:00:00 UTC', '2026-10-01T05:00:00.000Z', '2026-10-01T00:00:00-05:00'];
    const file = writeTemp(dir, 'times.csv', stringify([HEADER, ...forms.map((start) => focusRow({ ChargePeriodStart: start, ChargePeriodEnd: '2026-10-01T06:00:00Z' }))]));
    const summary = await ingestBillingFiles(w, [file], options());
    expect(summary).toMatchObject({ accepted: forms.length, rejected: 0 });
    expect(await w.query('SELECT DISTINCT toString(charge_period_start) AS s FROM billing_line_items', {}, z.object({ s: z.string() }))).toEqual([{ s: '2026-10-01 05:00:00' }]);
  });

  it('turns tag values that are numbers, booleans or objects into strings, keeping keys as written; ignores unknown and x_ columns in any order', async () => {
    const header = ['x_Custom', 'Tags', ...HEADER.filter((h) => h !== 'Tags').reverse(), 'ContractedCost', 'ServiceSubcategory'];
    const row = focusRow({ Tags: '{"inference-pool":"llm-h100","Cost-Center":42,"prod":true,"owner":{"team":"ml"},"gone":null}' });
    const byName = Object.fromEntries(HEADER.map((h, i) => [h, row[i] ?? '']));
    const file = writeTemp(dir, 'order.csv', stringify([header, header.map((h) => (h === 'x_Custom' ? 'anything' : h === 'ContractedCost' ? '11' : h === 'ServiceSubcategory' ? 'AI Platforms' : byName[h] ?? ''))]));
    const summary = await ingestBillingFiles(w, [file], options());
    expect(summary).toMatchObject({ accepted: 1, rejected: 0 });
    const [tags] = await w.query('SELECT toJSONString(tags) AS t FROM billing_line_items', {}, z.object({ t: z.string() }));
    expect(JSON.parse(tags?.t ?? '')).toEqual({ 'inference-pool': 'llm-h100', 'Cost-Center': '42', prod: 'true', owner: '{"team":"ml"}' });
  });
});

describe('ingest billing: the part files of one export', () => {
  it('reads a directory of parts (nested, plain and gzip) as one import under one version', async () => {
    mkdirSync(join(dir, 'export', 'BILLING_PERIOD=2026-10'), { recursive: true });
    writeTemp(dir, 'export/BILLING_PERIOD=2026-10/part-00001.csv', stringify([HEADER, focusRow(), focusRow({ BilledCost: '1.25' })]));
    writeTemp(dir, 'export/BILLING_PERIOD=2026-10/part-00002.csv.gz', gzipSync(stringify([HEADER, focusRow({ ChargePeriodStart: '2026-10-01T01:00:00Z', ChargePeriodEnd: '2026-10-01T02:00:00Z' })])));
    writeTemp(dir, 'export/manifest.json', '{}');
    const summary = await ingestBillingFiles(w, [join(dir, 'export')], options());
    expect(summary.files.map((f) => f.file.slice(dir.length))).toEqual(['/export/BILLING_PERIOD=2026-10/part-00001.csv', '/export/BILLING_PERIOD=2026-10/part-00002.csv.gz']);
    expect(summary).toMatchObject({ accepted: 3, rejected: 0, recorded: true, billedByFile: [{ USD: '11.75' }, { USD: '10.5' }] });
    expect(await scalar(w, 'SELECT uniqExact(billing_version) AS n FROM billing_current')).toBe(1);
    expect(await currentByPool()).toEqual([{ pool_id: 'llm-h100', effective: '21.75', billed: '22.25', rows: 3 }]);
  });

  it('expands a glob the shell left alone; a bad part fails the whole export; a glob or directory with no parts is an error', async () => {
    writeTemp(dir, 'part-1.csv', stringify([HEADER, focusRow()]));
    writeTemp(dir, 'part-2.csv', stringify([HEADER, focusRow({ BilledCost: 'NULL' })]));
    const failed = await ingestBillingFiles(w, [join(dir, 'part-*.csv')], options());
    expect(failed).toMatchObject({ accepted: 1, rejected: 1, recorded: false });
    expect(failed.files).toHaveLength(2);
    expect(await currentByPool()).toEqual([]);

    mkdirSync(join(dir, 'empty'));
    const none = await ingestBillingFiles(w, [join(dir, 'nothing-*.csv'), join(dir, 'empty')], options());
    expect(none.files.map((f) => f.error)).toEqual(['no file matches this pattern', 'directory holds no part files (.csv, .csv.gz, .parquet)']);
    expect(none.recorded).toBe(false);
  });
});

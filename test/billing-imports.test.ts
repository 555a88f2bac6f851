/**
 * Billing imports as a bill is really restated: all or nothing, scoped by
 * billing period, corrections added to the period they fix, long charges
 * spread over their hours, one source per account and day, Cost Explorer days
 * without data left open, and amounts too large for storage refused per line.
 */
import { gzipSync } from 'node:zlib';
import { stringify } from 'csv-stringify/sync';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { EXIT, main } from '../src/cli/main.js';
import { loadConfig } from '../src/config/config.js';
import { collectBilling } from '../src/cost-explorer/collect-billing.js';
import { LocalCostExplorer, type CostLine } from '../src/cost-explorer/local-endpoint.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import { sqlFile } from '../src/warehouse/sql-files.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { coverage, pools, settings, snapshot } from './helpers/attribution.js';
import { insertRequests } from './helpers/data.js';
import { tempDir, writeTemp } from './helpers/files.js';
import { freshWarehouse, scalar, TEST_DATA_DIR, uniqueDatabase } from './helpers/warehouse.js';

const FOCUS = BILLING_FILE_FORMATS['focus'] as BillingFileFormat;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OCT1 = Date.UTC(2026, 9, 1);
const NOV1 = Date.UTC(2026, 10, 1);
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

const HEADER = [
  'BillingAccountId', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd', 'BilledCost', 'EffectiveCost',
  'BillingCurrency', 'ConsumedQuantity', 'ConsumedUnit', 'x_InstanceType', 'ChargeClass', 'ChargeFrequency', 'ResourceId', 'Tags',
] as const;
type Line = Partial<Record<(typeof HEADER)[number], string>> & { start?: number; hours?: number; cost?: string; pool?: string; period?: number };

/** One FOCUS record: `start`/`hours` set the charge period, `period` the billing period's month, `cost` both costs. */
function focusLine(l: Line = {}): string[] {
  const start = l.start ?? OCT1;
  const periodStart = new Date(l.period ?? start);
  const row: Record<string, string> = {
    BillingAccountId: '111',
    BillingPeriodStart: iso(Date.UTC(periodStart.getUTCFullYear(), periodStart.getUTCMonth(), 1)),
    BillingPeriodEnd: iso(Date.UTC(periodStart.getUTCFullYear(), periodStart.getUTCMonth() + 1, 1)),
    ChargePeriodStart: iso(start),
    ChargePeriodEnd: iso(start + (l.hours ?? 1) * HOUR),
    BilledCost: l.cost ?? '10',
    EffectiveCost: l.cost ?? '10',
    BillingCurrency: 'USD',
    ConsumedQuantity: String(l.hours ?? 1),
    ConsumedUnit: 'Hours',
    x_InstanceType: 'g6.xlarge',
    ChargeClass: '',
    ChargeFrequency: 'Usage-Based',
    ResourceId: 'i-1',
    Tags: JSON.stringify({ 'inference-pool': l.pool ?? 'p1' }),
  };
  for (const h of HEADER) if (l[h] !== undefined) row[h] = l[h];
  return HEADER.map((h) => row[h] ?? '');
}
/** Hourly lines of one pool over `hours` hours from `start`. */
function hourly(start: number, hours: number, cost = '10', pool = 'p1'): Line[] {
  return Array.from({ length: hours }, (_, h) => ({ start: start + h * HOUR, cost, pool }));
}

let w: Warehouse;
let dir: string;
beforeAll(() => {
  process.env['AWS_ACCESS_KEY_ID'] = 'AKIDLOCAL';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'local-secret';
});
beforeEach(async () => {
  w = await freshWarehouse();
  dir = tempDir();
});
afterEach(async () => {
  await w.close();
});

let files = 0;
function csv(lines: readonly Line[], header: readonly string[] = HEADER): string {
  return writeTemp(dir, `bill-${++files}.csv`, stringify([header, ...lines.map(focusLine)]));
}
const ingest = (paths: string[], acceptPartial = false) => ingestBillingFiles(w, paths, { format: FOCUS, poolTagKey: 'inference-pool', batchRows: 7, acceptPartial });
const attribute = (from: number, to: number) => attributeWindow(w, settings(), new Date(from), new Date(to));

const daySum = z.object({ day: z.string(), source: z.string(), account: z.string(), cost: z.string() });
/** billing_current summed per UTC day of the charge start, source and account. */
async function currentByDay(): Promise<z.infer<typeof daySum>[]> {
  return w.query(
    `SELECT toString(toDate(charge_period_start)) AS day, toString(source) AS source, billing_account_id AS account, toString(sum(effective_cost)) AS cost
     FROM billing_current GROUP BY ALL ORDER BY ALL`,
    {},
    daySum,
  );
}
/** What readers see: the current bill and every derived table. */
async function visible(): Promise<unknown> {
  return { current: await w.query('SELECT * EXCEPT (billing_version, scope_version) FROM billing_current ORDER BY ALL', {}, z.record(z.string(), z.unknown())), derived: await snapshot(w) };
}

describe('a billing import is all or nothing', () => {
  beforeEach(async () => {
    await ingest([csv(hourly(OCT1, 3))]);
    await insertRequests(w, [{ id: 'a', ts: OCT1 + 10, pool: 'p1' }]);
    await attribute(OCT1, OCT1 + DAY);
  });

  it('a file with one bad line changes nothing, lists the line, column and reason, and says so', async () => {
    const before = await visible();
    const restated = csv([...hourly(OCT1, 3, '99'), { start: OCT1, cost: '1,5' }, ...hourly(OCT1 + 3 * HOUR, 2, '99')]);
    const summary = await ingest([restated]);
    expect(summary).toMatchObject({ recorded: false, accepted: 5, rejected: 1 });
    expect(summary.notRecordedReason).toMatch(/1 bad line; nothing of this import is used/);
    expect(summary.badLines).toEqual([{ file: restated, line: 5, field: 'BilledCost', reason: 'BilledCost: must be a decimal number, got "1,5"' }]);
    expect(await scalar(w, "SELECT count() AS n FROM ingest_rejects WHERE kind = 'billing' AND line = 5 AND field = 'BilledCost'")).toBe(1);
    await attribute(OCT1, OCT1 + DAY);
    expect(await visible()).toEqual(before);
    // Its lines are kept, unread, and listed as unrecorded.
    const unrecorded = await w.query(sqlFile('queries/unrecorded-billing-versions'), {}, z.object({ written_at: z.string(), line_items: z.coerce.number() }));
    expect(unrecorded).toEqual([{ written_at: expect.stringMatching(/^20/) as unknown, line_items: 5 }]);
  });

  it('--accept-partial records the good lines and still lists the bad one', async () => {
    const summary = await ingest([csv([...hourly(OCT1, 2, '99'), { start: OCT1 + 2 * HOUR, cost: '' }])], true);
    expect(summary).toMatchObject({ recorded: true, accepted: 2, rejected: 1, scopes: 1 });
    expect(summary.badLines[0]).toMatchObject({ line: 4, field: 'BilledCost' });
    expect(await currentByDay()).toEqual([{ day: '2026-10-01', source: 'focus-file', account: '111', cost: '198' }]);
  });

  it('a missing part file or a truncated gzip part changes nothing', async () => {
    const before = await visible();
    const good = csv(hourly(OCT1, 3, '50'));
    const missing = await ingest([good, `${dir}/part-2-missing.csv`]);
    expect(missing).toMatchObject({ recorded: false, accepted: 3 });
    expect(missing.notRecordedReason).toMatch(/part-2-missing\.csv: cannot read .*: no such file; nothing of this import is used/);
    const gz = gzipSync(Buffer.from(stringify([HEADER, ...hourly(OCT1, 200, '50').map(focusLine)])));
    const truncated = writeTemp(dir, 'part-3.csv.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    const cut = await ingest([good, truncated]);
    expect(cut).toMatchObject({ recorded: false });
    expect(cut.notRecordedReason).toMatch(/gzip data is truncated/);
    await attribute(OCT1, OCT1 + DAY);
    expect(await visible()).toEqual(before);
  });

  it('the CLI exits 1, listing every bad line on stderr; --accept-partial exits 0', async () => {
    const env = { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: uniqueDatabase() };
    const bad = csv([{ start: OCT1, cost: 'x' }, { start: OCT1 + HOUR }, { start: OCT1 + 2 * HOUR, ChargePeriodEnd: 'soon' }]);
    const run = async (...extra: string[]): Promise<{ code: number; out: string; err: string }> => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['ingest', 'billing', bad, '--format', 'focus', ...extra], { out: (l) => out.push(l), err: (l) => err.push(l), env });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    const strict = await run();
    expect(strict.code).toBe(EXIT.failed);
    expect(strict.err).toContain(`${bad}:2: BilledCost: must be a decimal number, got "x"`);
    expect(strict.err).toContain(`${bad}:4: ChargePeriodEnd: must be an ISO-8601 date-time, got "soon"`);
    expect(strict.err).toMatch(/import not recorded: 2 bad lines/);
    const partial = await run('--accept-partial');
    expect(partial.code).toBe(EXIT.ok);
    expect(partial.out).toMatch(/recorded billing version .*: 1 billing periods replaced/);
  });
});

describe('restatement by billing period, with corrections', () => {
  it('a Correction in the November export adds to October instead of replacing October', async () => {
    await ingest([csv(hourly(OCT1, 2))]);
    const correction: Line = { start: OCT1, cost: '-2', period: NOV1, ChargeClass: 'Correction' };
    await ingest([csv([...hourly(NOV1, 1, '20'), correction])]);
    expect(await currentByDay()).toEqual([
      { day: '2026-10-01', source: 'focus-file', account: '111', cost: '18' },
      { day: '2026-11-01', source: 'focus-file', account: '111', cost: '20' },
    ]);
    await attribute(OCT1, OCT1 + DAY);
    expect((await pools(w)).map((p) => [p.period_start, p.billed_cost])).toEqual([['2026-10-01 00:00:00', '8'], ['2026-10-01 01:00:00', '10']]);
    const corrections = await w.query('SELECT toString(period_start) AS hour, toString(correction_cost) AS c FROM pool_cost ORDER BY hour', {}, z.object({ hour: z.string(), c: z.string() }));
    expect(corrections).toEqual([{ hour: '2026-10-01 00:00:00', c: '-2' }, { hour: '2026-10-01 01:00:00', c: '0' }]);
    expect(await scalar(w, "SELECT toFloat64(correction_cost) AS n FROM coverage_daily WHERE day = '2026-10-01'")).toBe(-2);

    // A new October export replaces October; the November correction still adds to it.
    await ingest([csv(hourly(OCT1, 2, '11'))]);
    expect((await currentByDay())[0]).toMatchObject({ day: '2026-10-01', cost: '20' });
  });

  it('a new export of a period replaces all of it, even days the new one no longer has', async () => {
    await ingest([csv([...hourly(OCT1, 2), ...hourly(OCT1 + 5 * DAY, 2)])]);
    await ingest([csv(hourly(OCT1, 1, '7'))]);
    expect(await currentByDay()).toEqual([{ day: '2026-10-01', source: 'focus-file', account: '111', cost: '7' }]);
  });

  it('an export without billing period columns falls back to the charge month, and says so', async () => {
    const header = HEADER.filter((h) => h !== 'BillingPeriodStart' && h !== 'BillingPeriodEnd');
    const rows = hourly(OCT1, 2).map(focusLine).map((r) => r.filter((_, i) => HEADER[i] !== 'BillingPeriodStart' && HEADER[i] !== 'BillingPeriodEnd'));
    const file = writeTemp(dir, 'old-shape.csv', stringify([header, ...rows]));
    const summary = await ingest([file]);
    expect(summary).toMatchObject({ recorded: true, inferredBillingPeriods: 2 });
    expect(await scalar(w, "SELECT count() AS n FROM billing_current WHERE billing_period_start = '2026-10-01 00:00:00' AND billing_period_end = '2026-11-01 00:00:00'")).toBe(2);
  });
});

describe('charges longer than an hour', () => {
  it('spreads a monthly fee exactly over its 744 hours: the hourly shares sum to the fee, day 1 carries only its share', async () => {
    // 744 hours and 7 units of 1e-12 over: the first 7 hours get one unit more. A credit spread the same way keeps its sign.
    const fee = '744.000000000007';
    await ingest([csv([
      { start: OCT1, hours: 744, cost: fee, ChargeFrequency: 'Recurring', ConsumedUnit: 'Requests', pool: 'p1' },
      { start: OCT1, hours: 744, cost: '-0.000000001', ChargeFrequency: 'Recurring', ConsumedUnit: 'Requests', pool: 'p2' },
    ])]);
    await insertRequests(w, [{ id: 'mid-month', ts: OCT1 + 14 * DAY + 5 * HOUR, pool: 'p1' }]);
    await attribute(OCT1, NOV1);
    const hours = await pools(w);
    const p1 = hours.filter((p) => p.pool_id === 'p1');
    expect(p1).toHaveLength(744);
    const total = (rows: typeof hours): string => formatScaled(rows.reduce((a, p) => a + toScaled(p.billed_cost), 0n));
    expect(total(p1)).toBe(fee);
    expect(total(hours.filter((p) => p.pool_id === 'p2'))).toBe('-0.000000001');
    expect(p1.slice(0, 8).map((p) => p.billed_cost)).toEqual(['1.000000000001', '1.000000000001', '1.000000000001', '1.000000000001', '1.000000000001', '1.000000000001', '1.000000000001', '1']);
    const days = await coverage(w);
    expect(days).toHaveLength(31);
    // Day 1: 24 hours of p1 (7 with the extra unit) plus 24 of the credit's 744 shares (1,000 units over 744 hours: 1 each, +1 for the first 256).
    expect(days[0]).toMatchObject({ day: '2026-10-01', billed_cost: '23.999999999959' });
    expect(days[14]?.billed_cost).toBe('23.999999999976');
    // The mid-month request gets its own hour's share, not the whole month.
    const [allocation] = await w.query('SELECT toString(period_start) AS h, toString(cost) AS c FROM cost_allocation', {}, z.object({ h: z.string(), c: z.string() }));
    expect(allocation).toEqual({ h: '2026-10-15 05:00:00', c: '1' });
  });

  it('refuses a charge period that does not start and end on whole hours, naming the column', async () => {
    const summary = await ingest([csv([{ start: OCT1 + 30 * 60_000 }, { start: OCT1, ChargePeriodEnd: '2026-10-01T00:59:59Z' }, {}])], true);
    expect(summary.badLines.map((b) => [b.line, b.field, b.reason])).toEqual([
      [2, 'ChargePeriodStart', 'ChargePeriodStart: must be on a whole hour (charges are spread over whole hours), got 2026-10-01 00:30:00'],
      [3, 'ChargePeriodEnd', 'ChargePeriodEnd: must be on a whole hour (charges are spread over whole hours), got 2026-10-01 00:59:59'],
    ]);
  });
});

describe('amounts too large for Decimal(38, 12)', () => {
  it('are refused per line with the column named, and the import stays whole', async () => {
    const summary = await ingest([csv([{ start: OCT1 }, { start: OCT1 + HOUR, BilledCost: '1E100' }, { start: OCT1 + 2 * HOUR, EffectiveCost: '123456789012345678901234567' }])], true);
    expect(summary.badLines.map((b) => [b.line, b.field, b.reason])).toEqual([
      [3, 'BilledCost', 'BilledCost: does not fit Decimal(38, 12): more than 26 digits before the point, got "1E100"'],
      [4, 'EffectiveCost', 'EffectiveCost: does not fit Decimal(38, 12): more than 26 digits before the point, got "123456789012345678901234567"'],
    ]);
    expect(summary.recorded).toBe(true);
    expect(await currentByDay()).toEqual([{ day: '2026-10-01', source: 'focus-file', account: '111', cost: '10' }]);
  });
});

describe('Cost Explorer beside exports, and days without data', () => {
  const NOW = Date.UTC(2026, 9, 3, 10);
  let endpoint: LocalCostExplorer;
  let url: string;
  const ceLines = (day: number, cost = '5', pool = 'p1'): CostLine[] =>
    Array.from({ length: 24 }, (_, h) => ({
      start: day + h * HOUR, account: '111', instanceType: 'g6.xlarge', service: 'EC2', region: 'us-east-1', tags: { 'inference-pool': pool },
      amortized: cost, unblended: cost, usageQuantity: '1', usageUnit: 'Hrs', estimated: false,
    }));
  const config = (accounts: { id: string }[] = []) => loadConfig({ env: {}, overrides: { aws: { endpoint: url, accounts } } });
  const collect = (from: number, to: number, accounts: { id: string }[] = [], now = NOW) =>
    collectBilling(w, config(accounts), { from: new Date(from), to: new Date(to), retry: { retries: 1, minTimeoutMs: 5 }, now });

  beforeEach(async () => {
    endpoint = new LocalCostExplorer([...ceLines(OCT1), ...ceLines(OCT1 + DAY)], { pageSize: 100, now: () => NOW });
    url = await endpoint.listen();
  });
  afterEach(async () => {
    await endpoint.close();
  });

  it('an export of record replaces Cost Explorer for the days it covers; Cost Explorer fills the days after; coverage_daily shows it', async () => {
    await ingest([csv(hourly(OCT1, 24))]);
    await collect(OCT1, OCT1 + 2 * DAY);
    expect(await currentByDay()).toEqual([
      { day: '2026-10-01', source: 'focus-file', account: '111', cost: '240' },
      { day: '2026-10-02', source: 'aws-cost-explorer', account: 'default', cost: '120' },
    ]);
    await attribute(OCT1, OCT1 + 2 * DAY);
    const days = await w.query(
      'SELECT toString(day) AS day, toString(billed_cost) AS billed, toString(superseded_cost) AS superseded, sources FROM coverage_daily ORDER BY day',
      {},
      z.object({ day: z.string(), billed: z.string(), superseded: z.string(), sources: z.array(z.string()) }),
    );
    expect(days).toEqual([
      { day: '2026-10-01', billed: '240', superseded: '120', sources: ['focus-file'] },
      { day: '2026-10-02', billed: '120', superseded: '0', sources: ['aws-cost-explorer'] },
    ]);
  });

  it('switching from the default account to a list of accounts leaves no old rows beside the new', async () => {
    await collect(OCT1, OCT1 + 2 * DAY);
    await collect(OCT1, OCT1 + 2 * DAY, [{ id: '111' }]);
    expect(await currentByDay()).toEqual([
      { day: '2026-10-01', source: 'aws-cost-explorer', account: '111', cost: '120' },
      { day: '2026-10-02', source: 'aws-cost-explorer', account: '111', cost: '120' },
    ]);
    // And back: the default account's days are pulled again (they were final) and the list's rows go.
    await collect(OCT1, OCT1 + 2 * DAY);
    expect((await currentByDay()).map((d) => d.account)).toEqual(['default', 'default']);
  });

  it('a day pulled before it has data stays open and is pulled again', async () => {
    // Oct 3 is today: Cost Explorer answers the period, Estimated, with no groups yet.
    endpoint.estimatedFrom = OCT1 + 2 * DAY;
    await collect(OCT1, OCT1 + 3 * DAY);
    const open = await w.query("SELECT toString(day) AS day, estimated FROM billing_pulls FINAL WHERE account = 'default' ORDER BY day", {}, z.object({ day: z.string(), estimated: z.boolean() }));
    expect(open).toEqual([{ day: '2026-10-01', estimated: false }, { day: '2026-10-02', estimated: false }, { day: '2026-10-03', estimated: true }]);
    endpoint.lines = [...endpoint.lines, ...ceLines(OCT1 + 2 * DAY, '3')];
    const again = await collect(OCT1, OCT1 + 3 * DAY);
    expect(again.accounts[0]).toMatchObject({ daysSkippedFinal: 2, daysPulled: 1 });
    expect((await currentByDay()).at(-1)).toEqual({ day: '2026-10-03', source: 'aws-cost-explorer', account: 'default', cost: '72' });
  });

  it('an empty day is final once its month has closed, and a day restated to nothing holds nothing', async () => {
    endpoint.estimatedFrom = OCT1;
    await collect(OCT1, OCT1 + DAY);
    endpoint.lines = [];
    endpoint.estimatedFrom = undefined;
    await collect(OCT1, OCT1 + 2 * DAY, [], NOV1 + 2 * DAY);
    expect(await currentByDay()).toEqual([]);
    expect(await scalar(w, "SELECT countIf(estimated) AS n FROM billing_pulls FINAL WHERE account = 'default'")).toBe(0);
  });

  it('refuses an amount too large for storage, naming where it was', async () => {
    endpoint.amountOverride = '1E100';
    await expect(collect(OCT1, OCT1 + DAY)).rejects.toThrow(/ResultsByTime\[0\]\.Groups\[0\]\.Metrics\.AmortizedCost\.Amount does not fit Decimal\(38, 12\)/);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_line_items')).toBe(0);
  });
});

/**
 * The Cost Explorer collector against the local endpoint, which speaks the
 * real JSON 1.1 protocol to the real AWS SDK; the warehouse is the real
 * embedded engine.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeWindow } from '../src/attribution/attribute.js';
import { ConfigError, loadConfig, type Config } from '../src/config/config.js';
import { collectBilling, CollectError, tagValue, type CollectOptions } from '../src/cost-explorer/collect-billing.js';
import { costLinesFromFocus } from '../src/cost-explorer/fixture.js';
import { LocalCostExplorer, type CostLine } from '../src/cost-explorer/local-endpoint.js';
import { BILLING_FILE_FORMATS, type BillingFileFormat } from '../src/billing/file-formats.js';
import { ingestBillingFiles } from '../src/billing/billing-file.ingest.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings, snapshot } from './helpers/attribution.js';
import { insertRequests } from './helpers/data.js';
import { FIXTURES, tempDir, writeTemp } from './helpers/files.js';
import { freshWarehouse, scalar, TEST_DATA_DIR, uniqueDatabase } from './helpers/warehouse.js';
import { EXIT, main } from '../src/cli/main.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 9, 5, 12);
const D1 = Date.UTC(2026, 9, 3);
const D2 = D1 + DAY;

function lines(day: number, options: { estimated?: boolean; scale?: number; tagValue?: string } = {}): CostLine[] {
  const out: CostLine[] = [];
  for (let h = 0; h < 24; h++) {
    const base = { start: day + h * HOUR, account: '111', service: 'Amazon Elastic Compute Cloud', region: 'us-east-1', estimated: options.estimated ?? false, usageQuantity: '1', usageUnit: 'Hrs' };
    const scale = options.scale ?? 1;
    out.push({ ...base, instanceType: 'g6.xlarge', tags: { 'inference-pool': options.tagValue ?? 'p1' }, amortized: (0.5 * scale).toFixed(4), unblended: (0.8 * scale).toFixed(4) });
    out.push({ ...base, instanceType: 'p5.48xlarge', tags: { 'inference-pool': 'p2' }, amortized: (70.79 * scale).toFixed(4), unblended: '98.32' });
    out.push({ ...base, instanceType: '', tags: {}, amortized: '0.01', unblended: '0.01', usageQuantity: '0.5', usageUnit: 'GB-Mo' });
  }
  return out;
}

let w: Warehouse;
let endpoint: LocalCostExplorer;
let url: string;

function config(aws: Partial<Config['aws']> = {}): Config {
  return loadConfig({ env: {}, overrides: { aws: { endpoint: url, ...aws } } });
}
const fast: Pick<CollectOptions, 'retry' | 'now'> = { retry: { retries: 4, minTimeoutMs: 5 }, now: NOW };
const collect = (c: Config, from = D1, to = D2 + DAY, extra: Partial<CollectOptions> = {}) =>
  collectBilling(w, c, { from: new Date(from), to: new Date(to), ...fast, ...extra });

beforeAll(() => {
  process.env['AWS_ACCESS_KEY_ID'] = 'AKIDLOCAL';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'local-secret';
});
beforeEach(async () => {
  w = await freshWarehouse();
  endpoint = new LocalCostExplorer([...lines(D1), ...lines(D2)], { pageSize: 10, now: () => NOW });
  url = await endpoint.listen();
});
afterEach(async () => {
  await endpoint.close();
  await w.close();
});

const poolSums = z.object({ pool_id: z.string(), effective: z.string(), billed: z.string(), usage: z.string(), rows: z.coerce.number(), estimated: z.boolean() });
async function currentByPool(): Promise<z.infer<typeof poolSums>[]> {
  return w.query(
    `SELECT pool_id, toString(sum(effective_cost)) AS effective, toString(sum(billed_cost)) AS billed, toString(sum(consumed_quantity)) AS usage,
            count() AS rows, max(is_estimated) AS estimated
     FROM billing_current WHERE source = 'aws-cost-explorer' GROUP BY pool_id ORDER BY pool_id`,
    {},
    poolSums,
  );
}

describe('collect billing from Cost Explorer', () => {
  it('pages through every group, hourly, and records every paid call', async () => {
    const summary = await collect(config());
    const [account] = summary.accounts;
    expect(account).toMatchObject({ account: 'default', daysPulled: 2, periods: 48, rows: 144 });
    expect(account?.pages).toBe(Math.ceil(144 / 10));
    expect(account?.paidCalls).toBe(account?.pages);
    expect(account?.costUsd).toBe(((account?.paidCalls ?? 0) * 0.01).toFixed(2));
    expect(endpoint.requests.every((r) => r.Granularity === 'HOURLY' && r.GroupBy?.length === 2)).toBe(true);
    expect(await currentByPool()).toEqual([
      { pool_id: '', effective: '0.48', billed: '0.48', usage: '24', rows: 48, estimated: false },
      { pool_id: 'p1', effective: '24', billed: '38.4', usage: '48', rows: 48, estimated: false },
      { pool_id: 'p2', effective: '3397.92', billed: '4719.36', usage: '48', rows: 48, estimated: false },
    ]);
    expect(await scalar(w, "SELECT count() AS n FROM billing_api_calls WHERE outcome = 'ok'")).toBe(account?.pages);
    expect(await scalar(w, 'SELECT toFloat64(sum(cost_usd)) AS n FROM billing_api_calls')).toBeCloseTo((account?.paidCalls ?? 0) * 0.01, 6);
    const instance = await w.query("SELECT DISTINCT instance_type FROM billing_line_items WHERE pool_id = 'p2'", {}, z.object({ instance_type: z.string() }));
    expect(instance).toEqual([{ instance_type: 'p5.48xlarge' }]);
  });

  it('pulls DAILY beyond the 14 days of hourly data', async () => {
    endpoint.lines = lines(Date.UTC(2026, 8, 1));
    const summary = await collect(config(), Date.UTC(2026, 8, 1), Date.UTC(2026, 8, 2));
    expect(endpoint.requests[0]?.Granularity).toBe('DAILY');
    expect(summary.accounts[0]).toMatchObject({ periods: 1, rows: 3 });
  });

  it('retries throttling with backoff and counts the throttled calls too', async () => {
    endpoint.throttleNext = 2;
    const summary = await collect(config());
    expect(summary.accounts[0]?.rows).toBe(144);
    expect(await scalar(w, "SELECT count() AS n FROM billing_api_calls WHERE outcome = 'LimitExceededException'")).toBe(2);
    expect(summary.accounts[0]?.paidCalls).toBe((summary.accounts[0]?.pages ?? 0) + 2);
  });

  it('retries a page that times out', async () => {
    // A timeout well above a loaded machine's page time, so only the delayed page times out.
    endpoint.delayNext = 1;
    endpoint.delayNextMs = 4000;
    const summary = await collect(config({ requestTimeoutMs: 1500 }));
    expect(summary.accounts[0]?.rows).toBe(144);
    expect(await scalar(w, "SELECT count() AS n FROM billing_api_calls WHERE outcome != 'ok'")).toBe(1);
  });

  it('stops at the page budget with a clear error, keeping the whole days it fetched', async () => {
    await expect(collect(config({ maxPagesPerRun: 10 }))).rejects.toThrow(/request budget reached: 10 paid calls/);
    // 10 pages of 10 groups: day 1 (72 groups) is whole, day 2 is not and is left out.
    const kept = await w.query("SELECT DISTINCT toString(toDate(charge_period_start)) AS day FROM billing_line_items", {}, z.object({ day: z.string() }));
    expect(kept).toEqual([{ day: '2026-10-03' }]);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_line_items')).toBe(72);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_api_calls')).toBe(10);
  });

  it('restates: estimated days are pulled again until final, final days only with --refresh, unchanged data writes nothing', async () => {
    endpoint.lines = [...lines(D1, { estimated: true }), ...lines(D2, { estimated: true })];
    await collect(config());
    expect((await currentByPool()).find((p) => p.pool_id === 'p2')).toMatchObject({ effective: '3397.92', estimated: true });

    // Unchanged estimated data: pulled again, nothing written.
    const again = await collect(config());
    expect(again.accounts[0]).toMatchObject({ daysPulled: 0, daysUnchanged: 2, rows: 0 });

    // AWS restates day 1 and marks both days final.
    endpoint.restate((l) => ({ ...l, estimated: false, amortized: l.start < D2 && l.tags['inference-pool'] === 'p2' ? '60' : l.amortized }));
    const restated = await collect(config());
    expect(restated.accounts[0]).toMatchObject({ daysPulled: 2 });
    expect((await currentByPool()).find((p) => p.pool_id === 'p2')).toMatchObject({ effective: String(24 * 60 + 24 * 70.79), estimated: false });
    expect(await scalar(w, 'SELECT uniqExact(billing_version) AS n FROM billing_line_items')).toBe(2);

    const calls = endpoint.requests.length;
    const final = await collect(config());
    expect(final.accounts[0]).toMatchObject({ daysSkippedFinal: 2, pages: 0, paidCalls: 0 });
    expect(endpoint.requests.length).toBe(calls);
    const refreshed = await collect(config(), D1, D2 + DAY, { refresh: true });
    expect(refreshed.accounts[0]).toMatchObject({ daysSkippedFinal: 0, daysUnchanged: 2 });
  });

  it('attribution after a restatement matches attribution from the final data alone', async () => {
    const traffic = [{ id: 'a', ts: D1 + 5 * HOUR, pool: 'p2', gpuMs: 1000 }, { id: 'b', ts: D1 + 5 * HOUR + 1, pool: 'p2', gpuMs: 3000, tenant: 't2' }];
    await insertRequests(w, traffic);
    endpoint.lines = lines(D1, { estimated: true });
    await collect(config(), D1, D1 + DAY);
    await attributeWindow(w, settings(), new Date(D1), new Date(D1 + DAY));
    endpoint.restate((l) => ({ ...l, estimated: false, amortized: l.tags['inference-pool'] === 'p2' ? '55.5' : l.amortized }));
    await collect(config(), D1, D1 + DAY);
    await attributeWindow(w, settings(), new Date(D1), new Date(D1 + DAY));
    const afterRestatement = await snapshot(w);

    const other = await freshWarehouse();
    const saved = w;
    try {
      w = other;
      await insertRequests(w, traffic);
      await collect(config(), D1, D1 + DAY);
      await attributeWindow(w, settings(), new Date(D1), new Date(D1 + DAY));
      const strip = (s: Record<string, unknown[]>) => Object.fromEntries(Object.entries(s).map(([t, rows]) => [t, rows.map((r) => ({ ...(r as object), billing_version: undefined }))]));
      expect(strip(afterRestatement)).toEqual(strip(await snapshot(w)));
    } finally {
      w = saved;
      await other.close();
    }
  });

  it('gives the same pool_cost as importing the same costs from a FOCUS file', async () => {
    const fixture = join(FIXTURES, 'billing-focus.csv');
    const day = Date.UTC(2026, 9, 1);
    const near = day + 2 * DAY;
    endpoint.close().catch(() => undefined);
    endpoint = new LocalCostExplorer(costLinesFromFocus(fixture), { pageSize: 50, now: () => near });
    url = await endpoint.listen();
    await collectBilling(w, config(), { from: new Date(day), to: new Date(day + DAY), ...fast, now: near });
    await attributeWindow(w, settings(), new Date(day), new Date(day + DAY));
    const poolRow = z.object({ period_start: z.string(), pool_id: z.string(), billed_cost: z.string(), idle_cost: z.string(), unallocated_cost: z.string(), capacity_gpu_ms: z.string().nullable() });
    const viaApi = await w.query('SELECT period_start, pool_id, billed_cost, idle_cost, unallocated_cost, capacity_gpu_ms FROM pool_cost ORDER BY ALL', {}, poolRow);

    const other = await freshWarehouse();
    try {
      await ingestBillingFiles(other, [fixture], { format: BILLING_FILE_FORMATS['focus'] as BillingFileFormat, poolTagKey: 'inference-pool', batchRows: 1000 });
      await attributeWindow(other, settings(), new Date(day), new Date(day + DAY));
      const viaFile = await other.query('SELECT period_start, pool_id, billed_cost, idle_cost, unallocated_cost, capacity_gpu_ms FROM pool_cost ORDER BY ALL', {}, poolRow);
      expect(viaApi).toHaveLength(96);
      expect(viaApi).toEqual(viaFile);
    } finally {
      await other.close();
    }
  });

  it('collects each account with its own credentials and tags the rows with it', async () => {
    const dir = tempDir();
    writeTemp(dir, 'credentials', '[payer-a]\naws_access_key_id = 111\naws_secret_access_key = x\n[payer-b]\naws_access_key_id = 222\naws_secret_access_key = y\n');
    writeTemp(dir, 'config', '');
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = join(dir, 'credentials');
    process.env['AWS_CONFIG_FILE'] = join(dir, 'config');
    await endpoint.close();
    endpoint = new LocalCostExplorer([...lines(D1), ...lines(D1).map((l) => ({ ...l, account: '222', amortized: '1' }))], { pageSize: 100, now: () => NOW, accountPerAccessKey: true });
    url = await endpoint.listen();
    try {
      const summary = await collect(config({ accounts: [{ id: '111', profile: 'payer-a' }, { id: '222', profile: 'payer-b' }] }), D1, D1 + DAY);
      expect(summary.accounts.map((a) => [a.account, a.rows])).toEqual([['111', 72], ['222', 72]]);
      const byAccount = await w.query(
        'SELECT billing_account_id AS account, toString(sum(effective_cost)) AS cost FROM billing_current GROUP BY account ORDER BY account',
        {},
        z.object({ account: z.string(), cost: z.string() }),
      );
      expect(byAccount).toEqual([{ account: '111', cost: '1711.2' }, { account: '222', cost: '72' }]); // 24 x (0.5 + 70.79 + 0.01)
    } finally {
      delete process.env['AWS_SHARED_CREDENTIALS_FILE'];
      delete process.env['AWS_CONFIG_FILE'];
    }
  });

  it('finds the endpoint through AWS_ENDPOINT_URL_COST_EXPLORER and sends the configured Filter', async () => {
    process.env['AWS_ENDPOINT_URL_COST_EXPLORER'] = url;
    try {
      const filter = { Dimensions: { Key: 'INSTANCE_TYPE', Values: ['p5.48xlarge'] } };
      const c = loadConfig({ env: {}, overrides: { aws: { filter } } });
      expect(c.aws.endpoint).toBeUndefined();
      const summary = await collect(c, D1, D1 + DAY);
      expect(summary.accounts[0]?.rows).toBe(24);
      expect(endpoint.requests[0]?.Filter).toEqual(filter);
      expect((await currentByPool()).map((p) => p.pool_id)).toEqual(['p2']);
    } finally {
      delete process.env['AWS_ENDPOINT_URL_COST_EXPLORER'];
    }
  });

  it('keeps a tag value with $ in it whole', async () => {
    endpoint.lines = lines(D1, { tagValue: 'pool$blue$2' });
    await collect(config(), D1, D1 + DAY);
    expect((await currentByPool()).map((p) => p.pool_id)).toContain('pool$blue$2');
    expect(tagValue('inference-pool$', 'inference-pool')).toBe('');
    expect(() => tagValue('other$x', 'inference-pool')).toThrow(CollectError);
  });
});

describe('collect billing: bad input', () => {
  const configProblems = (aws: Record<string, unknown>): string => {
    try {
      loadConfig({ env: {}, overrides: { aws: aws } });
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.join('\n');
    }
    return '';
  };

  it('refuses an unknown metric and a third GroupBy key in configuration', () => {
    expect(configProblems({ costMetric: 'VibesCost' })).toMatch(/aws\.costMetric/);
    expect(configProblems({ groupBy: ['INSTANCE_TYPE', 'REGION'] })).toMatch(/two GroupBy keys/);
  });

  it('refuses a window longer than hourly data allows, before any paid call', async () => {
    await expect(collect(config({ granularity: 'HOURLY' }), Date.UTC(2026, 8, 1), Date.UTC(2026, 8, 2))).rejects.toThrow(/older than the 14 days/);
    expect(endpoint.requests).toHaveLength(0);
  });

  it('refuses an Amount that is not a decimal, naming where it was', async () => {
    endpoint.badAmount = true;
    await expect(collect(config(), D1, D1 + DAY)).rejects.toThrow(/ResultsByTime\[0\]\.Groups\[0\]\.Metrics\.AmortizedCost\.Amount is not a decimal: "abc"/);
    expect(await scalar(w, 'SELECT count() AS n FROM billing_line_items')).toBe(0);
  });

  it('refuses a usage unit it does not know', async () => {
    endpoint.lines = lines(D1).map((l) => ({ ...l, usageUnit: 'Parsecs' }));
    await expect(collect(config(), D1, D1 + DAY)).rejects.toThrow(/UsageQuantity\.Unit is a unit inferledger does not know: "Parsecs"/);
  });

  it('stops when Cost Explorer sends the same NextPageToken twice', async () => {
    endpoint.repeatToken = true;
    await expect(collect(config(), D1, D1 + DAY)).rejects.toThrow(/NextPageToken .* twice/);
  });

  it('says clearly when credentials have expired, and does not retry', async () => {
    process.env['AWS_ACCESS_KEY_ID'] = 'EXPIRED';
    try {
      await expect(collect(config(), D1, D1 + DAY)).rejects.toThrow(/AWS credentials have expired/);
      expect(await scalar(w, 'SELECT count() AS n FROM billing_api_calls')).toBe(1);
    } finally {
      process.env['AWS_ACCESS_KEY_ID'] = 'AKIDLOCAL';
    }
  });
});

describe('inferledger collect billing (CLI)', () => {
  it('prints what it pulled: periods, rows, pages, paid calls and their cost', async () => {
    const today = Math.floor(Date.now() / DAY) * DAY;
    const local = new LocalCostExplorer(lines(today - 2 * DAY), { pageSize: 25 });
    const localUrl = await local.listen();
    const out: string[] = [];
    try {
      const code = await main(['collect', 'billing', '--from', new Date(today - 2 * DAY).toISOString().slice(0, 10), '--to', new Date(today - DAY).toISOString().slice(0, 10)], {
        out: (l) => out.push(l),
        err: (l) => out.push(l),
        env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: uniqueDatabase(), INFERLEDGER_CE_ENDPOINT: localUrl },
      });
      expect(code).toBe(EXIT.ok);
      expect(out.join('\n')).toMatch(/^default: 24 periods, 72 rows written \(1 days new or restated, 0 unchanged, 0 final and skipped\), 3 pages, 3 paid calls = \$0\.03$/m);
    } finally {
      await local.close();
    }
  });
});

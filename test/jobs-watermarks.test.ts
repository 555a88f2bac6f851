import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attributeDay } from '../src/attribution/attribute.js';
import { configSchema, type Config } from '../src/config/config.js';
import { attributionInputs, billingPullOwedDays, contiguousRanges, dayInputs, recordAttributionRun } from '../src/scheduler/watermarks.js';
import { DAY_MS, formatDate } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests } from './helpers/data.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

let w: Warehouse;
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await discardWarehouse(w);
});

const DAY1 = DAY0 + DAY_MS;
const DAY2 = DAY0 + 2 * DAY_MS;
const s = settings();
const owedDays = async (from = DAY0, to = DAY0 + 5 * DAY_MS, attribution = s): Promise<string[]> =>
  (await attributionInputs(w, attribution, from, to, true)).map((d) => d.day);

/** Attribute a day the way the attribute-day job does: inputs read first, then the run recorded. */
async function attributeAndRecord(day: number, attribution = s): Promise<void> {
  const inputs = await dayInputs(w, attribution, day);
  const result = await attributeDay(w, attribution, day);
  await recordAttributionRun(w, attribution, inputs, result, Date.now(), 'test');
}

describe('attribution watermarks', () => {
  it('owes a day with inputs until it is attributed, then not until its inputs change', async () => {
    // Cost Explorer restates per day (an export restates its whole billing period).
    await insertBilling(w, [billingLine({ start: DAY0 }), billingLine({ start: DAY1 })], 'aws-cost-explorer');
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 10 }, { id: 'b', ts: DAY1 + 10 }]);
    expect(await owedDays()).toEqual([formatDate(DAY0), formatDate(DAY1)]);
    await attributeAndRecord(DAY0);
    await attributeAndRecord(DAY1);
    expect(await owedDays()).toEqual([]);

    // Late data: a request of day 0 arrives after it was attributed.
    await insertRequests(w, [{ id: 'late', ts: DAY0 + 5 * HOUR }]);
    expect(await owedDays()).toEqual([formatDate(DAY0)]);
    await attributeAndRecord(DAY0);

    // Restatement: a new billing version of day 1 only.
    await insertBilling(w, [billingLine({ start: DAY1, effective_cost: '11' })], 'aws-cost-explorer');
    expect(await owedDays()).toEqual([formatDate(DAY1)]);
    await attributeAndRecord(DAY1);
    expect(await owedDays()).toEqual([]);
  });

  it('a charge spanning days makes every day it overlaps owed, not only its first', async () => {
    await insertBilling(w, [billingLine({ start: DAY0 + 12 * HOUR, hours: 48 })]);
    expect(await owedDays()).toEqual([formatDate(DAY0), formatDate(DAY1), formatDate(DAY2)]);
  });

  it('other attribution settings make every attributed day owed', async () => {
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 10 }]);
    await attributeAndRecord(DAY0);
    expect(await owedDays()).toEqual([]);
    expect(await owedDays(DAY0, DAY1, settings({ weightBasis: 'tokens' }))).toEqual([formatDate(DAY0)]);
  });

  it('a day that lost all its inputs is owed once, so its old numbers are dropped', async () => {
    await insertBilling(w, [billingLine({ start: DAY0 })]);
    await attributeAndRecord(DAY0);
    await w.command('TRUNCATE TABLE billing_line_items');
    expect(await owedDays()).toEqual([formatDate(DAY0)]);
    await attributeAndRecord(DAY0);
    expect(await owedDays()).toEqual([]);
  });

  it('input versions differ when inputs differ and match when they do not', async () => {
    await insertRequests(w, [{ id: 'a', ts: DAY0 + 10 }]);
    const before = (await dayInputs(w, s, DAY0)).inputVersion;
    expect((await dayInputs(w, s, DAY0)).inputVersion).toBe(before);
    await insertRequests(w, [{ id: 'b', ts: DAY0 + 20 }]);
    expect((await dayInputs(w, s, DAY0)).inputVersion).not.toBe(before);
  });
});

describe('billing pull watermarks', () => {
  const config = (jobs: Partial<Config['jobs']> = {}): Config => configSchema.parse({ jobs });
  const pull = async (day: string, estimated: boolean, account = 'default'): Promise<void> => {
    await w.insertObjects('billing_pulls', [{ account, day, billing_version: '2026-11-01 00:00:00.000000', content_hash: 'x', estimated, granularity: 'DAILY', rows: 1, pulled_at: new Date().toISOString() }]);
  };

  it('owes days never pulled since the start, estimated days and every day of the open month', async () => {
    const now = Date.UTC(2026, 10, 3, 10); // 2026-11-03
    await pull('2026-10-01', false);
    await pull('2026-10-02', true);
    await pull('2026-11-01', false);
    const owed = (await billingPullOwedDays(w, config(), now)).map(formatDate);
    // Default start: the first day of the previous month.
    expect(owed[0]).toBe('2026-10-02');
    expect(owed).not.toContain('2026-10-01');
    expect(owed).toContain('2026-10-31');
    expect(owed.slice(-3)).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
    expect(owed).toHaveLength(30 + 3);
  });

  it('starts at jobs.billingStart and owes a day to every account not yet final for it', async () => {
    const now = Date.UTC(2026, 10, 3, 10);
    const cfg = configSchema.parse({ jobs: { billingStart: '2026-10-30' }, aws: { accounts: [{ id: 'a' }, { id: 'b' }] } });
    await pull('2026-10-30', false, 'a');
    await pull('2026-10-30', false, 'b');
    await pull('2026-10-31', false, 'a');
    expect((await billingPullOwedDays(w, cfg, now)).map(formatDate)).toEqual(['2026-10-31', '2026-11-01', '2026-11-02', '2026-11-03']);
  });

  it('groups owed days into contiguous ranges', () => {
    expect(contiguousRanges([DAY2, DAY0, DAY1, DAY0 + 5 * DAY_MS]).map((r) => [formatDate(r.from), formatDate(r.to)])).toEqual([
      [formatDate(DAY0), formatDate(DAY0 + 3 * DAY_MS)],
      [formatDate(DAY0 + 5 * DAY_MS), formatDate(DAY0 + 6 * DAY_MS)],
    ]);
  });
});

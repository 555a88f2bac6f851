/**
 * Rate cards under the scheduler (real Redis, BullMQ, embedded engine): the
 * hourly billing pull adds each new day's card hours by itself (also with the
 * Cost Explorer pull off) and triggers attribution, and a back-dated
 * repricing re-attributes exactly the days it touched, each once.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema, type Config } from '../src/config/config.js';
import { setRateCard } from '../src/pricing/pricing.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { insertRequests } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { queuesSettled } from './helpers/jobs.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

const at = (iso: string): number => Date.parse(iso);

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.dispose();
});

let w: Warehouse;
const runtimes: JobRuntime[] = [];
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close(5_000)));
  await discardWarehouse(w);
});

const clock = { now: 0 };
function runtime(config: Config): JobRuntime {
  const r = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined, clock: () => clock.now });
  r.startWorkers(w);
  runtimes.push(r);
  return r;
}

const runsRow = z.object({ day: z.string(), n: z.coerce.number() });
async function runsPerDay(): Promise<Record<string, number>> {
  const rows = await w.query('SELECT toString(day) AS day, count() AS n FROM attribution_runs GROUP BY day ORDER BY day', {}, runsRow);
  return Object.fromEntries(rows.map((r) => [r.day, r.n]));
}

describe('rate cards and the scheduled jobs', () => {
  it('the billing pull adds a new day\'s card hours and attributes it; a back-dated change re-attributes only its days', async () => {
    const config = configSchema.parse({
      redis: { url: redis.url },
      jobs: { prefix: uniquePrefix(), billingPull: false, billingStart: '2026-10-29', backoffMs: 100, dayLockMs: 3_000, attributeDebounceMs: 0 },
      report: { outDir: tempDir(), scheduled: [] },
    });
    const card = { pool: 'onprem', perGpuHour: '2.40', currency: 'USD', gpus: 8, from: '2026-10-29T00:00Z' };
    await setRateCard(w, config, card, { now: at('2026-10-30T12:00:00Z'), by: 'alice' });
    await insertRequests(w, ['2026-10-29', '2026-10-30', '2026-10-31'].map((day, i) => ({ id: `r${i}`, ts: at(`${day}T10:00:00Z`), pool: 'onprem' })));

    const r = runtime(config);
    clock.now = at('2026-10-30T12:30:00Z');
    await r.runNow('attribute', {});
    await queuesSettled(r, 60_000);
    // 10-31's request waits for its bill: the card's lines reach the end of 10-30.
    expect(await runsPerDay()).toEqual({ '2026-10-29': 1, '2026-10-30': 1 });

    // The next day: the hourly pull writes 10-31's card hours and triggers attribution, for 10-31 only.
    clock.now = at('2026-10-31T01:05:00Z');
    await r.runNow('billing-pull', {});
    await queuesSettled(r, 60_000);
    expect(await runsPerDay()).toEqual({ '2026-10-29': 1, '2026-10-30': 1, '2026-10-31': 1 });
    const [day31] = await w.query("SELECT toString(sum(billed_cost)) AS billed FROM pool_cost WHERE toDate(period_start) = '2026-10-31'", {}, z.object({ billed: z.string() }));
    expect(day31?.billed).toBe('460.8');

    // Repriced from 10-30 on: 10-30 and 10-31 are attributed again, 10-29 is not.
    await setRateCard(w, config, { ...card, perGpuHour: '2.00', from: '2026-10-30T00:00Z', reason: 'discount' }, { now: at('2026-10-31T02:00:00Z'), by: 'bob' });
    clock.now = at('2026-10-31T02:05:00Z');
    await r.runNow('attribute', {});
    await queuesSettled(r, 60_000);
    expect(await runsPerDay()).toEqual({ '2026-10-29': 1, '2026-10-30': 2, '2026-10-31': 2 });
    const byDay = await w.query(
      'SELECT toString(toDate(period_start)) AS day, toString(sum(billed_cost)) AS billed FROM pool_cost GROUP BY day ORDER BY day',
      {}, z.object({ day: z.string(), billed: z.string() }));
    expect(byDay).toEqual([{ day: '2026-10-29', billed: '460.8' }, { day: '2026-10-30', billed: '384' }, { day: '2026-10-31', billed: '384' }]);
  });
});

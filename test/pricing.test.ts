/**
 * Rate cards, with the embedded engine: a card's hours billed exactly, a
 * back-dated repricing restating only the hours it touches (and only those
 * days re-attributed), tie-out across the change, a cloud bill beating the
 * card per pool-hour, MIG capacity, monthly prices spread exactly, months that
 * settle, a crash between the change and its months healed, and bad input
 * refused with nothing changed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attributeDay, attributeWindow } from '../src/attribution/attribute.js';
import { main } from '../src/cli/main.js';
import { loadConfig, type Config } from '../src/config/config.js';
import { endRateCard, readCards, setRateCard, syncRateCards } from '../src/pricing/pricing.js';
import { RateCardError } from '../src/pricing/rate-card.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { attributionInputs, dayInputs, recordAttributionRun } from '../src/scheduler/watermarks.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import { parseDate, parseMonth, type Month } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { settings } from './helpers/attribution.js';
import { billingLine, insertBilling, insertRequests } from './helpers/data.js';
import { tempDir, writeTemp } from './helpers/files.js';
import { freshWarehouse, scalar, TEST_DATA_DIR, uniqueDatabase } from './helpers/warehouse.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OCT1 = Date.UTC(2026, 9, 1);
const OCT20 = OCT1 + 19 * DAY;
const NOV1 = Date.UTC(2026, 10, 1);

let w: Warehouse;
let config: Config;
beforeEach(async () => {
  w = await freshWarehouse();
  config = loadConfig({ env: {} });
});
afterEach(async () => {
  await w.close();
});

const card = (over: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ pool: 'onprem-a100', perGpuHour: '2.40', currency: 'USD', gpus: 8, from: '2026-10-01T00:00Z', ...over });
const set = (over: Record<string, unknown>, now: number, by = 'alice') => setRateCard(w, config, card(over), { now, by });
const attribute = (from: number, to: number) => attributeWindow(w, settings(), new Date(from), new Date(to));

/** Attribute the owed days of [from, to) as the attribute-day job does (inputs read first, the run recorded); returns them. */
async function attributeOwed(from: number, to: number): Promise<string[]> {
  const owed = await attributionInputs(w, settings(), from, to, true);
  for (const day of owed) {
    const ms = parseDate(day.day);
    const inputs = await dayInputs(w, settings(), ms);
    await recordAttributionRun(w, settings(), inputs, await attributeDay(w, settings(), ms), Date.now(), 'test');
  }
  return owed.map((d) => d.day);
}

const hourRow = z.object({ hour: z.string(), cost: z.string(), capacity: z.string(), source: z.string() });
/** The bill as it counts for a pool, per hour. */
async function billHours(pool = 'onprem-a100'): Promise<z.infer<typeof hourRow>[]> {
  return w.query(
    `SELECT toString(charge_period_start) AS hour, toString(sum(effective_cost)) AS cost, toString(sum(consumed_quantity)) AS capacity,
            toString(any(source)) AS source
     FROM billing_current WHERE pool_id = {pool:String} GROUP BY hour ORDER BY hour`,
    { pool }, hourRow);
}

const poolHour = z.object({
  hour: z.string(), billed: z.string(), allocated: z.string(), used: z.string(), idle: z.string(), unallocated: z.string(),
  capacity: z.string().nullable(), used_gpu_ms: z.string(), utilization: z.string().nullable(), version: z.string(),
});
async function poolHours(pool = 'onprem-a100'): Promise<z.infer<typeof poolHour>[]> {
  return w.query(
    `SELECT toString(period_start) AS hour, toString(billed_cost) AS billed, toString(allocated_cost) AS allocated, toString(used_cost) AS used,
            toString(idle_cost) AS idle, toString(unallocated_cost) AS unallocated, toString(capacity_gpu_ms) AS capacity,
            toString(used_gpu_ms) AS used_gpu_ms, toString(utilization) AS utilization, toString(billing_version) AS version
     FROM pool_cost WHERE pool_id = {pool:String} ORDER BY period_start`,
    { pool }, poolHour);
}

/** Units of a sum of decimal texts. */
const total = (xs: readonly string[]): bigint => xs.reduce((n, x) => n + toScaled(x), 0n);

describe('a rate card is a billing source', () => {
  it('8 GPUs at 2.40 per GPU-hour bill 8 x 2.40 an hour, with 8 GPUs of capacity; utilisation and idle follow', async () => {
    const result = await set({}, OCT1 + 2 * DAY + 5 * HOUR);
    // Lines reach the end of the current UTC day: 10-01..10-03, 72 hours.
    expect(result.months).toEqual(['2026-10']);
    expect(result.lines).toBe(72);
    const hours = await billHours();
    expect(hours).toHaveLength(72);
    expect(new Set(hours.map((h) => h.cost))).toEqual(new Set(['19.2']));
    expect(new Set(hours.map((h) => h.capacity))).toEqual(new Set(['8']));
    expect(new Set(hours.map((h) => h.source))).toEqual(new Set(['rate-card']));

    // One hour with 2 GPU-hours used of 8: a quarter of 19.2 is used, the rest idle.
    await insertRequests(w, [
      { id: 'a', ts: OCT1 + 10 * 60_000, pool: 'onprem-a100', gpuMs: 3_600_000, team: 'search' },
      { id: 'b', ts: OCT1 + 20 * 60_000, pool: 'onprem-a100', gpuMs: 3_600_000, team: 'ads' },
    ]);
    await attribute(OCT1, OCT1 + 3 * DAY);
    const [first] = await poolHours();
    expect(first).toMatchObject({ hour: '2026-10-01 00:00:00', billed: '19.2', allocated: '19.2', used: '4.8', idle: '14.4', unallocated: '0', capacity: '28800000', used_gpu_ms: '7200000', utilization: '0.25' });
    const coverage = await w.query("SELECT sources FROM coverage_daily WHERE day = '2026-10-01'", {}, z.object({ sources: z.array(z.string()) }));
    expect(coverage).toEqual([{ sources: ['rate-card'] }]);
  });

  it('a repricing from 10-15 set on 10-20 restates only 10-15 onward; earlier days are not re-attributed and stay identical; tie-out holds', async () => {
    await set({ reason: 'contract 2026' }, OCT20 + 9 * HOUR);
    await insertRequests(w, Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, ts: OCT1 + i * 12 * HOUR + 60_000, pool: 'onprem-a100', gpuMs: 1000 + i, team: i % 2 ? 'search' : 'ads' })));
    expect(await attributeOwed(OCT1, OCT20 + DAY)).toHaveLength(20);
    const before = await poolHours();
    expect(await attributeOwed(OCT1, OCT20 + DAY)).toEqual([]);

    const reprice = await set({ perGpuHour: '2.00', from: '2026-10-15T00:00Z', reason: 'vendor discount from the 15th' }, OCT20 + 10 * HOUR, 'bob');
    // 6 days x 24 hours, each 8 x (2.00 - 2.40) = -3.2.
    expect(reprice.change).toMatchObject({ restatedHours: 144, restatedMonths: ['2026-10'], changedBy: 'bob' });
    expect(formatScaled(reprice.change.restatedCost)).toBe('-460.8');
    expect(reprice.change.replacedText).toMatch(/^2\.4 USD per GPU-hour x 8 GPUs \(set 2026-10-20 09:00:00 by alice\)$/);

    expect(await attributeOwed(OCT1, OCT20 + DAY)).toEqual(['2026-10-15', '2026-10-16', '2026-10-17', '2026-10-18', '2026-10-19', '2026-10-20']);
    const after = await poolHours();
    const earlier = (rows: typeof before) => rows.filter((r) => r.hour < '2026-10-15');
    expect(earlier(after)).toEqual(earlier(before));
    const later = after.filter((r) => r.hour >= '2026-10-15');
    expect(new Set(later.map((r) => r.billed))).toEqual(new Set(['16']));
    // Tie-out per hour (used + idle + unallocated = billed) and over the month (billed = the card's hours: 14 x 24 x 19.2 + 6 x 24 x 16).
    for (const r of after) expect(toScaled(r.used) + toScaled(r.idle) + toScaled(r.unallocated)).toBe(toScaled(r.billed));
    expect(formatScaled(total(after.map((r) => r.billed)))).toBe(formatScaled(14n * 24n * toScaled('19.2') + 6n * 24n * toScaled('16')));
    const [bill] = await w.query("SELECT toString(sum(effective_cost)) AS cost FROM billing_current WHERE pool_id = 'onprem-a100'", {}, z.object({ cost: z.string() }));
    expect(bill?.cost).toBe('8755.2');
  });

  it('versions that overlap: the newest holds each hour, whatever the order of their ranges', async () => {
    const now = OCT1 + 4 * DAY;
    await set({ perGpuHour: '3', from: '2026-10-02T00:00Z', to: '2026-10-03T00:00Z' }, now);
    await set({ perGpuHour: '1', from: '2026-10-01T00:00Z' }, now + 1000);
    const byDay = await w.query(
      "SELECT toString(toDate(charge_period_start)) AS day, toString(sum(effective_cost)) AS cost FROM billing_current WHERE pool_id = 'onprem-a100' GROUP BY day ORDER BY day",
      {}, z.object({ day: z.string(), cost: z.string() }));
    expect(byDay).toEqual(['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04', '2026-10-05'].map((day) => ({ day, cost: '192' })));
    // A newer narrow version holds its range only.
    await set({ perGpuHour: '5', from: '2026-10-03T00:00Z', to: '2026-10-03T02:00Z' }, now + 2000);
    const hours = await billHours();
    expect(hours.filter((h) => h.cost === '40').map((h) => h.hour)).toEqual(['2026-10-03 00:00:00', '2026-10-03 01:00:00']);
    expect(hours.filter((h) => h.cost !== '8')).toHaveLength(2);
  });

  it('an ended card bills nothing from its end; a later version prices the pool again', async () => {
    await set({}, OCT1 + 4 * DAY);
    const ended = await endRateCard(w, config, { pool: 'onprem-a100', at: '2026-10-03T00:00Z', reason: 'decommissioned' }, { now: OCT1 + 4 * DAY + 1000, by: 'carol' });
    // 10-03..10-05 were billed (72 hours at 19.2): restated to nothing.
    expect(ended.change).toMatchObject({ priceUnit: 'none', restatedHours: 72, reason: 'decommissioned', changedBy: 'carol' });
    expect(formatScaled(ended.change.restatedCost)).toBe('-1382.4');
    expect(ended.change.replacedText).toMatch(/^2\.4 USD per GPU-hour x 8 GPUs \(set /);
    const hours = await billHours();
    expect(hours.map((h) => h.hour)).toEqual(Array.from({ length: 48 }, (_, h) => new Date(OCT1 + h * HOUR).toISOString().slice(0, 19).replace('T', ' ')));
    // Back in service from 10-05 at a new price.
    await set({ perGpuHour: '1.50', from: '2026-10-05T00:00Z' }, OCT1 + 4 * DAY + 2000);
    expect((await billHours()).filter((h) => h.cost === '12')).toHaveLength(24);
    await expect(endRateCard(w, config, { pool: 'nowhere', at: '2026-10-03T00:00Z' }, { now: OCT1 + 4 * DAY })).rejects.toThrow(/^pool: nowhere has no rate card to end$/);
  });

  it('capacity over time: a pool grows from 8 to 16 GPUs on a date', async () => {
    await set({}, OCT1 + 2 * DAY);
    await set({ gpus: 16, from: '2026-10-02T12:00Z', reason: 'second node' }, OCT1 + 2 * DAY + 1000);
    const hours = await billHours();
    expect(hours.find((h) => h.hour === '2026-10-02 11:00:00')).toMatchObject({ cost: '19.2', capacity: '8' });
    expect(hours.find((h) => h.hour === '2026-10-02 12:00:00')).toMatchObject({ cost: '38.4', capacity: '16' });
  });

  it('a monthly price is spread over the month\'s hours exactly', async () => {
    await set({ perGpuHour: undefined, monthly: '7200', gpus: 4 }, NOV1 + 10 * DAY);
    const hours = await billHours();
    expect(hours).toHaveLength(744 + 11 * 24);
    const october = hours.filter((h) => h.hour < '2026-11-01');
    expect(formatScaled(total(october.map((h) => h.cost)))).toBe('7200');
    // 7200 / 744 = 9.677419354838..., the remainder's units go to the first hours.
    expect(new Set(october.map((h) => h.cost))).toEqual(new Set(['9.677419354839', '9.677419354838']));
  });
});

describe('a cloud bill beats the card where it covers a pool-hour', () => {
  it('the bill counts for its hours, the card for the rest; removing the bill\'s hours lets the card count', async () => {
    await set({ pool: 'p-mixed' }, OCT1 + 12 * HOUR);
    await insertBilling(w, Array.from({ length: 12 }, (_, h) => billingLine({ pool: 'p-mixed', start: OCT1 + h * HOUR, effective_cost: '7', billed_cost: '7' })));
    const hours = await billHours('p-mixed');
    expect(hours).toHaveLength(24);
    expect(hours.slice(0, 12).every((h) => h.source === 'focus-file' && h.cost === '7')).toBe(true);
    expect(hours.slice(12).every((h) => h.source === 'rate-card' && h.cost === '19.2')).toBe(true);

    await insertRequests(w, [{ id: 'x', ts: OCT1 + 60_000, pool: 'p-mixed' }, { id: 'y', ts: OCT1 + 13 * HOUR, pool: 'p-mixed' }]);
    await attribute(OCT1, OCT1 + DAY);
    const [day] = await w.query(
      "SELECT sources, toString(billed_cost) AS billed, toString(superseded_cost) AS superseded FROM coverage_daily WHERE day = '2026-10-01'",
      {}, z.object({ sources: z.array(z.string()), billed: z.string(), superseded: z.string() }));
    expect(day).toEqual({ sources: ['focus-file', 'rate-card'], billed: '314.4', superseded: '230.4' });

    // The export of the period restated without the pool's hours: the card holds them all again.
    await insertBilling(w, [billingLine({ pool: 'other', start: OCT1, effective_cost: '1', billed_cost: '1' })]);
    const again = await billHours('p-mixed');
    expect(again.every((h) => h.source === 'rate-card' && h.cost === '19.2')).toBe(true);
    expect(again).toHaveLength(24);
  });
});

describe('fractions of a GPU', () => {
  it('14 slices of 1g.10gb on 2 H100s have capacity 2 GPUs; utilisation and idle match a hand computation', async () => {
    const result = await set({ pool: 'mig-h100', perGpuHour: '3.50', gpus: 2, gpuType: 'H100', mig: '1g.10gb', slices: 14 }, OCT1 + 5 * HOUR);
    expect(formatScaled(result.change.capacity)).toBe('2');
    expect(formatScaled(result.change.hourlyCost)).toBe('7');
    // 0.9 GPU-hours used in hour 0 of 2 GPU-hours: used cost 7 x 0.45 = 3.15, idle 3.85.
    await insertRequests(w, [
      { id: 'm1', ts: OCT1 + 60_000, pool: 'mig-h100', gpuMs: 2_000_000 },
      { id: 'm2', ts: OCT1 + 120_000, pool: 'mig-h100', gpuMs: 1_240_000 },
    ]);
    await attribute(OCT1, OCT1 + DAY);
    const [hour0] = await poolHours('mig-h100');
    expect(hour0).toMatchObject({ billed: '7', capacity: '7200000', used_gpu_ms: '3240000', utilization: '0.45', used: '3.15', idle: '3.85' });
    // 3 slices of 3g.40gb on 2 A100-80GB: 9/7 of a GPU, priced per slice-hour.
    const slices = await set({ pool: 'mig-a100', perGpuHour: undefined, perSliceHour: '1.10', gpus: 2, gpuType: 'A100-80GB', mig: '3g.40gb', slices: 3 }, OCT1 + 5 * HOUR);
    expect(formatScaled(slices.change.capacity)).toBe('1.285714285714');
    expect(formatScaled(slices.change.hourlyCost)).toBe('3.3');
  });

  it('time-sliced GPUs keep the physical GPUs as capacity, and overlapping requests are capped like batching', async () => {
    await set({ pool: 'shared-l4', gpus: 1, perGpuHour: '0.80', timeSliced: true }, OCT1 + 5 * HOUR);
    // 1.5 GPU-hours of requests in one hour of 1 GPU: used cost capped at the hour's cost, idle 0.
    await insertRequests(w, [
      { id: 't1', ts: OCT1 + 60_000, pool: 'shared-l4', gpuMs: 3_000_000 },
      { id: 't2', ts: OCT1 + 120_000, pool: 'shared-l4', gpuMs: 2_400_000 },
    ]);
    await attribute(OCT1, OCT1 + DAY);
    const [hour0] = await poolHours('shared-l4');
    expect(hour0).toMatchObject({ billed: '0.8', capacity: '3600000', used: '0.8', idle: '0', utilization: '1.5' });
  });

  it('a cloud bill whose tags say MIG counts the slices\' compute share', async () => {
    await insertBilling(w, [billingLine({
      pool: 'cloud-mig', start: OCT1, instance_type: 'p5.48xlarge', effective_cost: '98.32', billed_cost: '98.32',
      tags: { 'inference-pool': 'cloud-mig', 'mig-profile': '2g.20gb', 'mig-slices': '21' },
    })]);
    await insertRequests(w, [{ id: 'c1', ts: OCT1 + 60_000, pool: 'cloud-mig', gpuMs: 1000 }]);
    await attribute(OCT1, OCT1 + DAY);
    const [hour0] = await poolHours('cloud-mig');
    // 21 slices x 2/7 = 6 GPUs (not the instance's 8).
    expect(hour0?.capacity).toBe(String(6 * 3_600_000));
  });
});

describe('months settle, and a crash between a change and its months heals', () => {
  it('lines stay estimated until settleDays after the month, then the scheduled sync finalises them once', async () => {
    await set({}, OCT20);
    expect(await scalar(w, "SELECT countIf(is_estimated) AS n FROM billing_current WHERE pool_id = 'onprem-a100'")).toBe(20 * 24);
    // Nov 2: October is over but not settled (3 days); its 31 days are written, still estimated.
    const early = await syncRateCards(w, config, NOV1 + DAY + HOUR);
    expect(early.months.map((m) => m.month)).toEqual(['2026-10', '2026-11']);
    expect(await scalar(w, "SELECT countIf(is_estimated) AS n FROM billing_current WHERE pool_id = 'onprem-a100' AND charge_period_start < '2026-11-01'")).toBe(744);
    const settled = await syncRateCards(w, config, NOV1 + 3 * DAY + HOUR);
    expect(settled.months.map((m) => m.month)).toEqual(['2026-10', '2026-11']);
    expect(await scalar(w, "SELECT countIf(is_estimated) AS n FROM billing_current WHERE pool_id = 'onprem-a100' AND charge_period_start < '2026-11-01'")).toBe(0);
    // Nothing owed at the same instant: no month is written twice.
    expect((await syncRateCards(w, config, NOV1 + 3 * DAY + HOUR)).months).toEqual([]);
  });

  it('a month\'s pack is estimated until the card settles; repriced in between, its final pack carries the delta', async () => {
    const out = tempDir();
    const month = parseMonth('2026-10') as Month;
    const build = () => runChargebackReport(w, config, { month, by: 'team', idle: 'spread', outDir: out, now: NOV1 + 5 * DAY });
    await set({ from: '2026-10-25T00:00Z' }, NOV1 + 10 * HOUR);
    await insertRequests(w, [
      { id: 'e1', ts: OCT1 + 24 * DAY + HOUR, pool: 'onprem-a100', gpuMs: 50_000, team: 'search' },
      { id: 'e2', ts: OCT1 + 28 * DAY + HOUR, pool: 'onprem-a100', gpuMs: 50_000, team: 'ads' },
    ]);
    await attributeOwed(OCT1, NOV1);
    const estimated = await build();
    expect(estimated.report.status).toBe('estimated');

    // Back-dated on Nov 2, within the settle days: from Oct 28 the price is 2.00.
    await set({ perGpuHour: '2.00', from: '2026-10-28T00:00Z', reason: 'late credit note' }, NOV1 + DAY);
    await attributeOwed(OCT1, NOV1);
    expect((await build()).pack.written).toBe(false);
    // Settled: the sync finalises October, attribution follows, the final pack is built with its delta.
    await syncRateCards(w, config, NOV1 + 3 * DAY + HOUR);
    expect(await attributeOwed(OCT1, NOV1)).toHaveLength(7);
    const final = await build();
    expect(final.report.status).toBe('final');
    const delta = readFileSync(join(final.pack.dir, 'delta.csv'), 'utf8');
    // 4 days x 24 hours x 8 GPUs x -0.40 = -307.2, spread over the two teams' lines.
    const rows = delta.trim().split('\n').slice(1).map((l) => l.split(','));
    const header = delta.split('\n')[0]?.split(',') ?? [];
    const deltaCol = header.indexOf('delta_cost');
    expect(formatScaled(rows.reduce((n, r) => n + toScaled(r[deltaCol] ?? '0'), 0n))).toBe('-307.2');
  });

  it('a change whose months were never written (the process died after its row) is written by the next sync', async () => {
    await set({}, OCT1 + DAY);
    const [first] = await readCards(w);
    // As if a second change had landed its row and died before its lines.
    await w.insertObjects('rate_cards', [{
      change_id: '00000000-0000-4000-8000-000000000001', changed_at: '2026-10-02 00:00:01.000000', changed_by: 'carol', reason: 'crash',
      pool_id: 'onprem-a100', valid_from: '2026-10-01 00:00:00', valid_to: null, price_unit: 'gpu-hour', price: '1', currency: 'USD',
      gpus: 8, instances: 0, gpus_per_instance: 0, gpu_type: '', mig_profile: '', mig_slices: 0, time_sliced: false,
      capacity_gpus: '8', hourly_cost: '8', replaced: [first?.changeId], replaced_text: '', restated_hours: 48, restated_cost: '-537.6', restated_months: ['2026-10-01'],
    }]);
    expect(new Set((await billHours()).map((h) => h.cost))).toEqual(new Set(['19.2']));
    const sync = await syncRateCards(w, config, OCT1 + DAY + HOUR);
    expect(sync.months).toEqual([{ pool: 'onprem-a100', month: '2026-10', lines: 48, restatedHours: 48 }]);
    expect(new Set((await billHours()).map((h) => h.cost))).toEqual(new Set(['8']));
  });
});

describe('bad input gets a clear error and changes nothing', () => {
  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['a negative price', { perGpuHour: '-1' }, /^perGpuHour: must not be negative, got -1$/],
    ['a price with more than 12 decimals', { perGpuHour: '0.0000000000001' }, /^perGpuHour: has more than 12 decimals/],
    ['an unknown MIG profile', { gpuType: 'H100', mig: '5g.50gb', slices: 1 }, /^mig: unknown MIG profile "5g\.50gb" for H100-80GB \(its profiles: 1g\.10gb,/],
    ['more slices than the GPUs hold', { gpus: 1, gpuType: 'H100', mig: '3g.40gb', slices: 3 }, /^slices: 1 H100-80GB hold at most 2 slices of 3g\.40gb/],
    ['two prices', { monthly: '100' }, /^price: give exactly one of/],
    ['a time off the hour', { from: '2026-10-01T00:30Z' }, /^from: must fall on a whole UTC hour/],
    ['an end before the start', { to: '2026-09-30T00:00Z' }, /^to: must be after from$/],
    ['no GPUs', { gpus: undefined }, /^gpus: say how many physical GPUs/],
  ];
  for (const [what, over, message] of refusals) {
    it(what, async () => {
      await set({}, OCT1 + DAY);
      const before = await snapshotOfPricing();
      await expect(set(over, OCT1 + DAY + 1000)).rejects.toThrow(message);
      expect(await snapshotOfPricing()).toEqual(before);
    });
  }

  it('a currency other than the pool\'s bill (or its other cards)', async () => {
    await insertBilling(w, [billingLine({ pool: 'eu-pool', start: OCT1, billing_currency: 'EUR' })]);
    const before = await snapshotOfPricing();
    await expect(set({ pool: 'eu-pool' }, OCT1 + DAY)).rejects.toThrow(/^currency: pool eu-pool is billed in EUR; a card in USD would add two currencies in one pool$/);
    await set({ pool: 'eu-pool', currency: 'EUR' }, OCT1 + DAY);
    await expect(set({ pool: 'eu-pool', currency: 'EUR', from: '2026-10-02T00:00Z' }, OCT1 + DAY + 1000)).resolves.toBeDefined();
    expect((await snapshotOfPricing()).cards).toBeGreaterThan(before.cards);
    await expect(set({ pool: 'onprem-a100', currency: 'USD' }, OCT1 + DAY)).resolves.toBeDefined();
    await expect(set({ pool: 'onprem-a100', currency: 'GBP' }, OCT1 + DAY + 2000)).rejects.toBeInstanceOf(RateCardError);
  });

  async function snapshotOfPricing(): Promise<{ cards: number; lines: number; scopes: number }> {
    return {
      cards: await scalar(w, 'SELECT count() AS n FROM rate_cards'),
      lines: await scalar(w, "SELECT count() AS n FROM billing_line_items WHERE source = 'rate-card'"),
      scopes: await scalar(w, "SELECT count() AS n FROM billing_scopes WHERE source = 'rate-card'"),
    };
  }
});

describe('inferledger pricing', () => {
  it('set, import and list --history: who, when, why, old -> new, and what was restated', async () => {
    const dir = tempDir();
    const env = { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: uniqueDatabase() };
    const run = async (...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env });
      return { code, out, err };
    };
    const first = await run('pricing', 'set', '--pool', 'onprem-a100', '--per-gpu-hour', '2.40', '--currency', 'USD', '--gpus', '8',
      '--from', '2026-10-01T00:00Z', '--gpu-type', 'A100-80GB', '--by', 'alice', '--reason', 'contract 2026');
    expect(first.code).toBe(0);
    expect(first.out[0]).toMatch(/^pool onprem-a100: 2\.4 USD per GPU-hour x 8 A100-80GB GPUs, from 2026-10-01T00:00Z \(version 20\S+ \S+, by alice: contract 2026\)$/);

    const file = writeTemp(dir, 'cards.csv', [
      'pool,per-gpu-hour,currency,gpus,from,to,reason',
      'onprem-a100,2.00,USD,8,2026-10-15T00:00Z,,vendor discount',
      'onprem-l4,0.50,USD,4,2026-10-01,2026-11-01,',
    ].join('\n'));
    const imported = await run('pricing', 'import', file, '--by', 'bob');
    expect(imported.code).toBe(0);
    expect(imported.out).toHaveLength(6);
    expect(imported.out[3]).toMatch(/^pool onprem-l4: 0\.5 USD per GPU-hour x 4 GPUs, from 2026-10-01T00:00Z to 2026-11-01T00:00Z \(version \S+ \S+, by bob\)$/);

    const bad = writeTemp(dir, 'bad.csv', 'pool,per-gpu-hour,currency,gpus,from\nonprem-h100,1,USD,8,2026-10-01\nonprem-h100,-1,USD,8,2026-10-01\n');
    const refused = await run('pricing', 'import', bad);
    expect(refused.code).toBe(2);
    expect(refused.err.join('\n')).toMatch(/line 3: perGpuHour: must not be negative, got -1; nothing was changed/);

    const list = await run('pricing', 'list');
    expect(list.out).toEqual([
      'pool onprem-a100',
      expect.stringMatching(/^ {2}2026-10-01T00:00Z \.\. 2026-10-15T00:00Z {2}2\.4 USD per GPU-hour x 8 A100-80GB GPUs {2}\(set \S+ \S+ by alice\)$/),
      expect.stringMatching(/^ {2}2026-10-15T00:00Z \.\. {3}2 USD per GPU-hour x 8 GPUs {2}\(set \S+ \S+ by bob\)$/),
      'pool onprem-l4',
      expect.stringMatching(/^ {2}2026-10-01T00:00Z \.\. 2026-11-01T00:00Z {2}0\.5 USD per GPU-hour x 4 GPUs/),
    ]);
    const history = await run('pricing', 'list', '--pool', 'onprem-a100', '--history');
    expect(history.out[0]).toBe('pool onprem-a100');
    expect(history.out[4]).toMatch(/^ {2}\S+ \S+ by bob: 2 USD per GPU-hour x 8 GPUs, from 2026-10-15T00:00Z — vendor discount$/);
    expect(history.out[5]).toMatch(/^ {4}replaced: 2\.4 USD per GPU-hour x 8 A100-80GB GPUs \(set \S+ \S+ by alice\)$/);
    expect(history.out[6]).toMatch(/^ {4}restated: \d+ hours, -\d+(\.\d+)? USD \(2026-1\d(, 2026-1\d)*\)$/);
  });
});

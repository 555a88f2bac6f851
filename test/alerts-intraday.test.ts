/**
 * The current day judged hour by hour, before it is complete: its first
 * complete hours against the same hours of the baseline days. Hourly
 * billing with a strong day/night cycle, on the real engine: a regression
 * that starts today opens an alert by late morning; a stable key on a pool
 * of fixed size, whose night hours cost more per prediction, does not fire;
 * the same episode is refreshed as hours complete and by the complete day.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { completeHours, dayStatusRow } from '../src/alerts/completeness.js';
import { evaluateAlerts } from '../src/alerts/evaluate.js';
import { latestAlerts } from '../src/alerts/store.js';
import { configSchema, type Config } from '../src/config/config.js';
import { sqlFile } from '../src/warehouse/sql-files.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { START, dayOf, writeScenario, type Scenario } from './helpers/alerts-data.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { DAY_MS } from '../src/util/time.js';

const DAYS = 22;
const TODAY = DAYS - 1; // a Tuesday, the regression's first day
const HOUR_MS = 3_600_000;
const at = (day: number, hours: number, minutes = 0): Date => new Date(START + day * DAY_MS + hours * HOUR_MS + minutes * 60_000);
const config = (alerts: Partial<Config['alerts']> = {}): Pick<Config, 'alerts'> => ({ alerts: configSchema.shape.alerts.parse(alerts) });
/** Night hours carry a quarter of the day hours' traffic. */
const profile = (h: number): number => (h >= 8 && h < 20 ? 1.3 : 0.3);

function scenario(lastDayHours = 24): Scenario {
  return {
    days: DAYS,
    noise: 0.03,
    hourly: { profile, lastDayHours },
    pools: [
      // Fixed sizes: idle at night, so a prediction made at night costs more than one by day.
      { id: 'llm', pricePerGpuHour: () => 6, gpus: () => 4 },
      { id: 'fixed', pricePerGpuHour: () => 4, gpus: () => 2 },
      { id: 'auto', pricePerGpuHour: () => 2, targetUtil: 0.6 },
    ],
    keys: [
      { model: 'llm', feature: 'chat', requests: () => ({ llm: 100_000 }), gpuMsPerRequest: (d) => (d === TODAY ? 1000 : 500), version: (d) => (d === TODAY ? 'v2' : 'v1') },
      { model: 'ranker', feature: 'search', requests: () => ({ fixed: 200_000 }), gpuMsPerRequest: () => 300 },
      { model: 'embedder', feature: 'docs', requests: () => ({ auto: 400_000 }), gpuMsPerRequest: () => 80 },
    ],
  };
}

const cppRow = z.object({ cpp: z.number() });
/** Fully loaded CPP of a model over [from, to). */
async function loadedCpp(w: Warehouse, model: string, from: Date, to: Date): Promise<number> {
  const [row] = await w.query(
    `SELECT toFloat64(sum(cost) / sum(requests)) AS cpp FROM cost_allocation
     WHERE model_id = {model:String} AND period_start >= {from:DateTime} AND period_end <= {to:DateTime}`,
    { model, from: from.toISOString().slice(0, 19).replace('T', ' '), to: to.toISOString().slice(0, 19).replace('T', ' ') },
    cppRow,
  );
  return row?.cpp ?? 0;
}

describe('CPP alerts on the current day, hour by hour', () => {
  let w: Warehouse;
  beforeEach(async () => { w = await freshWarehouse(); });
  afterEach(async () => { await discardWarehouse(w); });

  it('opens on the first complete hours against the same hours of the baseline, refreshes as hours complete, and the complete day takes the episode over', { timeout: 120_000 }, async () => {
    await writeScenario(w, scenario());
    const today = dayOf(TODAY);

    // Too few complete hours at 05:30 (hours 0-3 have settled): the day waits, saying how many.
    const early = await evaluateAlerts(w, config(), { now: at(TODAY, 5, 30) });
    expect(early.days.filter((d) => d.status === 'evaluated')).toHaveLength(TODAY);
    expect(early.days.at(-1)).toMatchObject({ day: today, status: 'waiting', reason: 'the day is not over (4 complete hours so far)' });
    expect(early.transitions).toEqual([]);

    // The stable key's night-heavy morning costs far more per prediction than its whole days:
    // measured against whole days it would fire; against the same hours it must not.
    const morning = await loadedCpp(w, 'ranker', at(TODAY, 0), at(TODAY, 10));
    const wholeDay = await loadedCpp(w, 'ranker', at(TODAY - 7, 0), at(TODAY - 6, 0));
    expect(morning / wholeDay - 1).toBeGreaterThan(0.4);

    const late = await evaluateAlerts(w, config(), { now: at(TODAY, 11, 30) });
    expect(late.days).toEqual([expect.objectContaining({ day: today, status: 'partial', hours: 10, keys: 3, firing: 1, reason: 'the day is not over' })]);
    expect(late.transitions.map((t) => [t.transition, t.alert.alert_key])).toEqual([['opened', 'llm/chat//USD']]);
    const opened = late.transitions[0]?.alert;
    console.log(`opened on the first 10 hours:\n${opened?.summary ?? ''}`);
    expect(opened).toMatchObject({ metric: 'used', dominant_factor: 'gpu_ms_per_request', opened_day: today, last_day: today, window_hours: 10, status: 'open' });
    expect(opened?.summary.split('\n')[0]).toMatch(new RegExp(
      `^llm / chat \\(USD\\): used CPP \\+(9\\d|10\\d)% on ${today} 00:00-10:00 UTC \\(so far\\) \\(\\$[\\d.]+ -> \\$[\\d.]+ per prediction; ` +
      `baseline \\d{4}-\\d\\d-\\d\\d, the same hours, median of 7 comparable days\\), \\+\\$\\d+(\\.\\d\\d)?/day at the day's pace$`,
    ));
    expect(opened?.summary).toMatch(/GPU-ms per request \+(9\d|10\d)% since model_version v2 \(100% of requests, was 0%\)/);
    // Money per day at the day's pace: the used-CPP increase x the whole day's requests
    // (~100,000 x 500 ms x $6 per GPU-hour), not x the morning's ~26,000.
    const perDay = Number(opened?.extra_daily_cost);
    expect(perDay).toBeGreaterThan(0.85 * 83.3);
    expect(perDay).toBeLessThan(1.15 * 83.3);
    const factors = JSON.parse(opened?.factors ?? '{}') as { used: { factors: { per_day: number }[] }; hours: number };
    expect(factors.hours).toBe(10);
    expect(factors.used.factors.reduce((a, f) => a + f.per_day, 0)).toBeCloseTo(perDay, 6);

    // Two more hours complete: the same episode, refreshed; nothing opens again.
    const later = await evaluateAlerts(w, config(), { now: at(TODAY, 13, 30) });
    expect(later.days).toEqual([expect.objectContaining({ day: today, status: 'partial', hours: 12 })]);
    expect(later.transitions.map((t) => [t.transition, t.alert.alert_id, t.alert.window_hours])).toEqual([['updated', opened?.alert_id, 12]]);

    // The complete day refreshes it once more, as a whole day, and is recorded as evaluated.
    const complete = await evaluateAlerts(w, config(), { now: at(TODAY + 1, 2) });
    expect(complete.days).toEqual([expect.objectContaining({ day: today, status: 'evaluated', hours: 24 })]);
    expect(complete.transitions.map((t) => [t.transition, t.alert.alert_id, t.alert.window_hours])).toEqual([['updated', opened?.alert_id, 24]]);
    expect(complete.transitions[0]?.alert.summary.split('\n')[0]).toMatch(new RegExp(`on ${today} \\(.*comparable days\\), \\+\\$\\d+(\\.\\d\\d)?/day$`));
    const stored = [...(await latestAlerts(w)).values()];
    expect(stored.map((a) => [a.alert_id, a.status, a.window_hours])).toEqual([[opened?.alert_id, 'open', 24]]);
    expect((await evaluateAlerts(w, config(), { now: at(TODAY + 1, 3) })).days).toEqual([]);
  });

  it('an hour counts once it is over and settled, billed for every expected pool, and attributed after its last request', { timeout: 60_000 }, async () => {
    await writeScenario(w, scenario(12));
    const today = dayOf(TODAY);
    const status = async (): Promise<z.infer<typeof dayStatusRow>> => {
      const rows = await w.query(sqlFile('alerts/day-status'), { from: today, to: dayOf(TODAY + 1) }, dayStatusRow);
      expect(rows).toHaveLength(1);
      return rows[0] as z.infer<typeof dayStatusRow>;
    };
    const settings = config().alerts;
    // Billed through 12:00; at 20:00 every billed hour has settled.
    expect(await completeHours(w, await status(), settings, at(TODAY, 20).getTime())).toBe(12);
    expect(await completeHours(w, await status(), { ...settings, settleMinutes: 180 }, at(TODAY, 12, 30).getTime())).toBe(9);
    // One pool's bill stops at 08:00: no later hour counts for any key.
    await w.command("ALTER TABLE pool_cost DELETE WHERE pool_id = 'auto' AND period_start >= {from:DateTime}", { from: `${today} 08:00:00` }, { mutations_sync: '2' });
    expect(await completeHours(w, await status(), settings, at(TODAY, 20).getTime())).toBe(8);
    // A request of 07:xx stored after the day was last attributed: its hour is not in the tables yet.
    await w.insertObjects('inference_requests', [{
      request_id: 'late-1', ts: `${today} 07:20:00.000`, model_id: 'llm', model_version: 'v2', feature_id: 'chat', tenant_id: 't1', team: '',
      pool_id: 'llm', instance_id: '', region: '', gpu_type: '', gpu_ms: '1000', input_tokens: 0, output_tokens: 0, latency_ms: null,
      status: 'ok', attributes: {}, source: 'test', ingested_at: '2026-11-01 00:00:01.000',
    }]);
    expect(await completeHours(w, await status(), settings, at(TODAY, 20).getTime())).toBe(7);

    // Evaluated at 20:00: judged on those 7 hours; with intraday judging off, the day only waits.
    const result = await evaluateAlerts(w, config(), { now: at(TODAY, 20) });
    expect(result.days.at(-1)).toMatchObject({ day: today, status: 'partial', hours: 7 });
    expect(result.days.at(-1)?.reason).toMatch(/requests still wait for their bill$/);
    const off = await evaluateAlerts(w, config({ intradayMinHours: 0 }), { now: at(TODAY, 20) });
    expect(off.days).toEqual([expect.objectContaining({ day: today, status: 'waiting', hours: 0 })]);
    expect(off.transitions).toEqual([]);
  });
});

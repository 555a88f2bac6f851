/**
 * The jobs that read attribution: alerts-evaluate and report-chargeback, run
 * by the scheduler on a real Redis and the embedded warehouse with an
 * injected clock, after real attribution passes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema, type ConfigInput } from '../src/config/config.js';
import { QUEUES } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { billingLine, insertBilling, insertRequests } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { queuesSettled } from './helpers/jobs.js';

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
const log: string[] = [];
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close(5_000)));
  await discardWarehouse(w);
});

const clock = { now: 0 };
function runtime(input: ConfigInput): JobRuntime {
  const config = configSchema.parse({ redis: { url: redis.url }, ...input, jobs: { prefix: uniquePrefix(), billingPull: false, backoffMs: 100, dayLockMs: 3_000, ...input.jobs } });
  const r = new JobRuntime({ jobs: JOB_REGISTRY, config, log: (line) => { log.push(line); }, clock: () => clock.now });
  r.startWorkers(w);
  runtimes.push(r);
  return r;
}

const settled = (r: JobRuntime): Promise<void> => queuesSettled(r, 120_000);

async function tickAndSettle(r: JobRuntime, iso: string): Promise<void> {
  clock.now = at(iso);
  await r.tick();
  await settled(r);
}

/** Names of the completed jobs of a queue, by name. */
async function completed(r: JobRuntime, queue: (typeof QUEUES)[keyof typeof QUEUES], name: string): Promise<string[]> {
  return (await r.queue(queue).getJobs(['completed'])).filter((j) => j.name === name).map((j) => String(j.id)).sort();
}

describe('alerts-evaluate', () => {
  let hook: Server;
  const received: { dedupe_key: string; model_id: string; status: string }[] = [];
  let hookUrl = '';
  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => {
        const payload = JSON.parse(body) as { dedupe_key: string; alert: { model_id: string; status: string } };
        received.push({ dedupe_key: payload.dedupe_key, model_id: payload.alert.model_id, status: payload.alert.status });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => { hook.listen(0, '127.0.0.1', () => { resolve(); }); });
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => {
    hook.close();
  });

  const alertRow = z.object({ alert_id: z.string(), model_id: z.string(), metric: z.string(), status: z.string(), opened_day: z.string(), last_day: z.string(), requests: z.coerce.number() });
  const alerts = (): Promise<z.infer<typeof alertRow>[]> => w.query(
    'SELECT alert_id, model_id, metric, status, toString(opened_day) AS opened_day, toString(last_day) AS last_day, requests FROM cpp_alerts FINAL ORDER BY alert_id', {}, alertRow);
  const evaluationsRow = z.object({ day: z.string(), n: z.coerce.number() });
  const evaluations = async (): Promise<Record<string, number>> => Object.fromEntries(
    (await w.query('SELECT toString(day) AS day, count() AS n FROM cpp_alert_evaluations GROUP BY day ORDER BY day', {}, evaluationsRow)).map((r) => [r.day, r.n]));

  it('after attribution of a day with a regression opens exactly one alert and notifies once; re-running the flow refreshes it, never opens a second', { timeout: 240_000 }, async () => {
    const days = ['2026-10-24', '2026-10-25', '2026-10-26', '2026-10-27', '2026-10-28', '2026-10-29', '2026-10-30', '2026-10-31'];
    for (const day of days) {
      // The bill covers all 24 hours of the day (an incomplete bill keeps a day from being judged).
      await insertBilling(w, [billingLine({ start: at(`${day}T00:00:00Z`), hours: 24, billed_cost: '240', effective_cost: '240' })], 'aws-cost-explorer');
      // On the last day a new model version doubles the GPU time per request.
      const regressed = day === '2026-10-31';
      await insertRequests(w, Array.from({ length: 20 }, (_, i) => ({
        id: `${day}-${i}`, ts: at(`${day}T10:00:00Z`) + i * 1_000, gpuMs: regressed ? 200 : 100, version: regressed ? 'v2' : 'v1',
      })));
    }
    const r = runtime({
      jobs: { billingStart: '2026-10-24' },
      report: { scheduled: [] },
      alerts: { minRequests: 10, minExtraDailyCost: 0, comparable: 'any', minBaselineDays: 3, webhooks: [{ name: 'oncall', url: hookUrl, kind: 'json' }] },
    });

    // 32 hours after the last day ended: every day is complete by the evaluator's rules.
    await tickAndSettle(r, '2026-11-02T08:40:00Z');
    const [opened, ...others] = await alerts();
    expect(others).toEqual([]);
    expect(opened).toMatchObject({ model_id: 'm1', metric: 'used', status: 'open', opened_day: '2026-10-31', last_day: '2026-10-31', requests: 20 });
    expect(received).toEqual([{ dedupe_key: `${opened?.alert_id ?? ''}:opened`, model_id: 'm1', status: 'open' }]);
    expect(await evaluations()).toEqual(Object.fromEntries(days.map((d) => [d, 1])));
    // The pass's rollups enqueued the evaluation of the days it attributed.
    expect((await completed(r, QUEUES.alerts, 'alerts-evaluate')).filter((id) => id.startsWith('alerts-evaluate_2026-10-24..2026-10-31_'))).toHaveLength(1);

    // A late request of the last day: the next pass re-attributes it and re-evaluates it at its new attribution.
    await insertRequests(w, [{ id: 'late', ts: at('2026-10-31T10:30:00Z'), gpuMs: 200, version: 'v2' }]);
    await tickAndSettle(r, '2026-11-02T09:40:00Z');
    expect(await alerts()).toEqual([{ ...opened, requests: 21 }]);
    expect(await evaluations()).toEqual({ ...Object.fromEntries(days.map((d) => [d, 1])), '2026-10-31': 2 });
    expect((await completed(r, QUEUES.alerts, 'alerts-evaluate')).filter((id) => id.startsWith('alerts-evaluate_2026-10-31..2026-10-31_'))).toHaveLength(1);

    // The same flow forced again over the whole window: still the one alert, and no second notification.
    await r.runNow('attribute', { from: '2026-10-24', to: '2026-11-01' });
    await settled(r);
    expect(await alerts()).toEqual([{ ...opened, requests: 21 }]);
    expect(await evaluations()).toEqual({ ...Object.fromEntries(days.map((d) => [d, 2])), '2026-10-31': 3 });
    expect(received).toHaveLength(1);
  });

  it('the hourly run judges the current day on its first complete hours, and the complete day takes the same episode over', { timeout: 240_000 }, async () => {
    received.length = 0;
    const days = ['2026-10-25', '2026-10-26', '2026-10-27', '2026-10-28', '2026-10-29', '2026-10-30', '2026-10-31'];
    const today = '2026-10-31';
    /**
     * Two requests an hour over [from, to) hours of a day, and the day's hourly bill through `to`
     * (Cost Explorer restates a day whole); today a new version doubles GPU time.
     */
    const hours = async (day: string, from: number, to: number): Promise<void> => {
      const start = at(`${day}T00:00:00Z`);
      await insertBilling(w, Array.from({ length: to }, (_, h) => billingLine({ start: start + h * 3_600_000, billed_cost: '10', effective_cost: '10' })), 'aws-cost-explorer');
      await insertRequests(w, Array.from({ length: 2 * (to - from) }, (_, i) => ({
        id: `${day}-${from}-${i}`, ts: start + (from + Math.floor(i / 2)) * 3_600_000 + (i % 2) * 60_000, gpuMs: day === today ? 200 : 100, version: day === today ? 'v2' : 'v1',
      })));
    };
    for (const day of days.slice(0, -1)) await hours(day, 0, 24);
    // At 11:40 today the bill and the traffic have reached 10:00.
    await hours(today, 0, 10);
    const r = runtime({
      jobs: { billingStart: '2026-10-25' },
      report: { scheduled: [] },
      alerts: { minRequests: 10, minExtraDailyCost: 0, comparable: 'any', minBaselineDays: 3, webhooks: [{ name: 'oncall', url: hookUrl, kind: 'json' }] },
    });
    await tickAndSettle(r, `${today}T11:40:00Z`);
    const windowRow = z.object({ alert_id: z.string(), last_day: z.string(), window_hours: z.number(), requests: z.coerce.number() });
    const windows = (): Promise<z.infer<typeof windowRow>[]> =>
      w.query('SELECT alert_id, toString(last_day) AS last_day, window_hours, requests FROM cpp_alerts FINAL ORDER BY alert_id', {}, windowRow);
    const [early, ...others] = await windows();
    expect(others).toEqual([]);
    expect(early).toMatchObject({ last_day: today, window_hours: 10, requests: 20 });
    expect(received).toEqual([{ dedupe_key: `${early?.alert_id ?? ''}:opened`, model_id: 'm1', status: 'open' }]);
    // Judged, not evaluated: the day is still owed its complete evaluation.
    expect(Object.keys(await evaluations())).not.toContain(today);
    const notes = (await r.queue(QUEUES.alerts).getJobs(['completed'])).map((j) => (j.returnvalue as { note?: string } | null)?.note ?? '');
    expect(notes.some((note) => note.includes(`${today} judged on its first 10 hours`))).toBe(true);

    // The rest of the day arrives; once it is complete, the same episode is refreshed as a whole day, without a second notification.
    await hours(today, 10, 24);
    await tickAndSettle(r, '2026-11-02T08:40:00Z');
    expect(await windows()).toEqual([{ alert_id: early?.alert_id, last_day: today, window_hours: 24, requests: 48 }]);
    expect(Object.keys(await evaluations())).toEqual(days);
    expect(received).toHaveLength(1);
  });
});

describe('report-chargeback', () => {
  const runRow = z.object({ month: z.string(), status: z.string(), report_by: z.string(), idle_policy: z.string(), basis: z.string(), written: z.boolean(), pack_dir: z.string() });
  const runs = (): Promise<z.infer<typeof runRow>[]> => w.query(
    'SELECT toString(month) AS month, status, report_by, idle_policy, basis, written, pack_dir FROM report_runs ORDER BY built_at', {}, runRow);

  /** A billed pool-hour at 10:00 with two requests in it, per day, estimated or final as Cost Explorer says. */
  async function traffic(days: readonly string[], estimated: boolean, requests = true): Promise<void> {
    for (const day of days) {
      const start = at(`${day}T10:00:00Z`);
      await insertBilling(w, [billingLine({ start, billed_cost: '10', effective_cost: '10', is_estimated: estimated })], 'aws-cost-explorer');
      if (requests) await insertRequests(w, [{ id: `${day}-a`, ts: start + 1_000, team: 'search' }, { id: `${day}-b`, ts: start + 2_000, team: 'chat' }]);
    }
  }

  it('builds the estimated pack of the month that ended, not again on the next tick, and the final pack with its delta once the bill is final', { timeout: 240_000 }, async () => {
    const out = tempDir();
    await traffic(['2026-10-30', '2026-10-31'], true);
    // The current month has traffic too: it is not over, so no pack of it is built.
    await traffic(['2026-11-01'], true);
    const r = runtime({ jobs: { billingStart: '2026-10-30' }, report: { outDir: out, scheduled: [{ by: 'team', idle: 'spread' }] } });

    // On the 1st: October is over and its bill still estimated.
    await tickAndSettle(r, '2026-11-01T06:30:00Z');
    const [estimated, ...more] = await runs();
    expect(more).toEqual([]);
    expect(estimated).toMatchObject({ month: '2026-10-01', status: 'estimated', report_by: 'team', idle_policy: 'spread', basis: 'effective', written: true });
    const estimatedDir = estimated?.pack_dir ?? '';
    expect(readdirSync(estimatedDir).sort()).toEqual(['chargeback.csv', 'focus-allocated.csv', 'report.html', 'summary.json']);
    const summary = JSON.parse(readFileSync(join(estimatedDir, 'summary.json'), 'utf8')) as { status: string };
    expect(summary.status).toBe('estimated');
    expect(readdirSync(out)).toEqual(['2026-10']);
    const csv = readFileSync(join(estimatedDir, 'chargeback.csv'), 'utf8');

    // The next ticks: the month's estimated pack exists and its status did not change, so nothing is built.
    await tickAndSettle(r, '2026-11-01T07:30:00Z');
    await tickAndSettle(r, '2026-11-02T06:30:00Z');
    expect(await runs()).toHaveLength(1);
    expect(readdirSync(join(out, '2026-10'))).toEqual([estimatedDir.split('/').at(-1)]);
    expect(readFileSync(join(estimatedDir, 'chargeback.csv'), 'utf8')).toBe(csv);
    expect(readdirSync(estimatedDir)).not.toContain('delta.csv');

    // Cost Explorer restates October's days as final (one a little dearer): re-attributed, then the final pack and its delta.
    await insertBilling(w, [billingLine({ start: at('2026-10-30T10:00:00Z'), billed_cost: '10', effective_cost: '10', is_estimated: false })], 'aws-cost-explorer');
    await insertBilling(w, [billingLine({ start: at('2026-10-31T10:00:00Z'), billed_cost: '12', effective_cost: '12', is_estimated: false })], 'aws-cost-explorer');
    await tickAndSettle(r, '2026-11-03T06:30:00Z');
    const all = await runs();
    expect(all.map((x) => [x.month, x.status, x.written])).toEqual([['2026-10-01', 'estimated', true], ['2026-10-01', 'final', true]]);
    const finalDir = all[1]?.pack_dir ?? '';
    expect(finalDir).not.toBe(estimatedDir);
    expect(readdirSync(finalDir).sort()).toEqual(['chargeback.csv', 'delta.csv', 'focus-allocated.csv', 'report.html', 'summary.json']);
    expect((JSON.parse(readFileSync(join(finalDir, 'summary.json'), 'utf8')) as { status: string }).status).toBe('final');
    const finalCsv = readFileSync(join(finalDir, 'chargeback.csv'), 'utf8');
    const total = (text: string): number => text.trim().split('\n').slice(1).reduce((sum, line) => sum + Number(line.split(',')[10]), 0);
    expect([total(csv), total(finalCsv)]).toEqual([20, 22]);
    expect(readFileSync(join(finalDir, 'delta.csv'), 'utf8').trim().split('\n').length).toBeGreaterThan(1);
    // The estimated pack is left as it was.
    expect(readFileSync(join(estimatedDir, 'chargeback.csv'), 'utf8')).toBe(csv);

    // Final is final: later ticks build nothing more.
    await tickAndSettle(r, '2026-11-04T06:30:00Z');
    expect(await runs()).toHaveLength(2);
    expect(existsSync(join(out, '2026-11'))).toBe(false);
  });
});

/**
 * The scheduled jobs on a real Redis (a private redis-server) and the real
 * embedded warehouse, with an injected clock: which windows are owed, that
 * each runs once, and that late data, restatements, a second scheduler and a
 * Redis outage all converge by themselves.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema, type Config } from '../src/config/config.js';
import { LocalCostExplorer, type CostLine } from '../src/cost-explorer/local-endpoint.js';
import { QUEUES, jobId } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { runService } from '../src/service/run-service.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { billingLine, insertBilling, insertRequests } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
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

function jobsConfig(prefix: string, jobs: Partial<Config['jobs']> = {}): Config {
  return configSchema.parse({ redis: { url: redis.url }, jobs: { prefix, billingPull: false, billingStart: '2026-10-29', backoffMs: 100, dayLockMs: 3_000, ...jobs }, report: { outDir: tempDir() } });
}

const clock = { now: 0 };
function runtime(config: Config, withWorkers = true): JobRuntime {
  const r = new JobRuntime({ jobs: JOB_REGISTRY, config, log: (line) => { log.push(line); }, clock: () => clock.now });
  if (withWorkers) r.startWorkers(w);
  runtimes.push(r);
  return r;
}

const settled = (r: JobRuntime): Promise<void> => queuesSettled(r, 90_000);

const runsRow = z.object({ day: z.string(), n: z.coerce.number() });
async function runsPerDay(): Promise<Record<string, number>> {
  const rows = await w.query('SELECT toString(day) AS day, count() AS n FROM attribution_runs GROUP BY day ORDER BY day', {}, runsRow);
  return Object.fromEntries(rows.map((r) => [r.day, r.n]));
}
const costRow = z.object({ day: z.string(), cost: z.string(), requests: z.coerce.number() });
async function cppByDay(): Promise<Record<string, { cost: string; requests: number }>> {
  const rows = await w.query('SELECT toString(day) AS day, toString(sum(cost)) AS cost, sum(requests) AS requests FROM cpp_daily GROUP BY day ORDER BY day', {}, costRow);
  return Object.fromEntries(rows.map((r) => [r.day, { cost: r.cost, requests: r.requests }]));
}

/**
 * A billed pool-hour at 10:00 and two requests in it, on each day. The bill
 * comes as Cost Explorer pulls, which restate per day (an export restates its
 * whole billing period, so one export per day would replace the days before).
 */
async function traffic(days: readonly string[], cost = '10'): Promise<void> {
  for (const day of days) {
    const start = at(`${day}T10:00:00Z`);
    await insertBilling(w, [billingLine({ start, effective_cost: cost })], 'aws-cost-explorer');
    await insertRequests(w, [{ id: `${day}-a`, ts: start + 1_000 }, { id: `${day}-b`, ts: start + 2_000 }]);
  }
}

async function tickAndSettle(r: JobRuntime, iso: string): Promise<void> {
  clock.now = at(iso);
  await r.tick();
  await settled(r);
}

describe('scheduled attribution', () => {
  it('owes and runs the right days across an hour, a day and a month boundary (injected clock)', async () => {
    await traffic(['2026-10-30', '2026-10-31', '2026-11-01']);
    const r = runtime(jobsConfig(uniquePrefix()));

    // Late on Oct 31: Nov 1 is in the future, not owed yet.
    await tickAndSettle(r, '2026-10-31T23:30:00Z');
    expect(await runsPerDay()).toEqual({ '2026-10-30': 1, '2026-10-31': 1 });

    // Past midnight, into a new month: only the new day is owed.
    await tickAndSettle(r, '2026-11-01T00:30:00Z');
    expect(await runsPerDay()).toEqual({ '2026-10-30': 1, '2026-10-31': 1, '2026-11-01': 1 });

    // The next hour: nothing changed, nothing is recomputed.
    await tickAndSettle(r, '2026-11-01T01:30:00Z');
    expect(await runsPerDay()).toEqual({ '2026-10-30': 1, '2026-10-31': 1, '2026-11-01': 1 });
    // A second trigger in the same hour is the same job: not run again.
    await tickAndSettle(r, '2026-11-01T01:45:00Z');
    const attributeTicks = (await r.queue(QUEUES.attribute).getJobs(['completed'])).filter((j) => j.name === 'attribute');
    expect(attributeTicks.map((j) => j.id).sort()).toEqual(['2026-10-31T23', '2026-11-01T00', '2026-11-01T01'].map((h) => jobId('attribute', h)));

    expect(await cppByDay()).toEqual({
      '2026-10-30': { cost: '10', requests: 2 },
      '2026-10-31': { cost: '10', requests: 2 },
      '2026-11-01': { cost: '10', requests: 2 },
    });
  });

  it('late data and a restatement re-attribute exactly the days that changed', async () => {
    await traffic(['2026-10-30', '2026-10-31']);
    const r = runtime(jobsConfig(uniquePrefix()));
    await tickAndSettle(r, '2026-10-31T12:30:00Z');
    expect(await runsPerDay()).toEqual({ '2026-10-30': 1, '2026-10-31': 1 });

    // Late data: a request of Oct 30 arrives after Oct 30 was attributed.
    await insertRequests(w, [{ id: 'late', ts: at('2026-10-30T10:30:00Z') }]);
    await tickAndSettle(r, '2026-10-31T13:30:00Z');
    expect(await runsPerDay()).toEqual({ '2026-10-30': 2, '2026-10-31': 1 });
    expect((await cppByDay())['2026-10-30']).toEqual({ cost: '10', requests: 3 });

    // Restatement: Oct 31's bill changes at the source (a new version).
    await insertBilling(w, [billingLine({ start: at('2026-10-31T10:00:00Z'), effective_cost: '25' })], 'aws-cost-explorer');
    await tickAndSettle(r, '2026-10-31T14:30:00Z');
    expect(await runsPerDay()).toEqual({ '2026-10-30': 2, '2026-10-31': 2 });
    expect((await cppByDay())['2026-10-31']).toEqual({ cost: '25', requests: 2 });
  });

  it('a restatement at the source: the next tick pulls it and re-attributes exactly the changed day', async () => {
    const line = (day: string): CostLine => ({
      start: at(`${day}T10:00:00Z`), account: 'default', instanceType: 'g6.xlarge', service: 'EC2', region: 'us-east-1',
      tags: { 'inference-pool': 'gpu-a' }, amortized: '10', unblended: '10', usageQuantity: '1', usageUnit: 'Hrs', estimated: false,
    });
    const endpoint = new LocalCostExplorer([line('2026-10-30'), line('2026-10-31')], { now: () => clock.now });
    const url = await endpoint.listen();
    process.env['AWS_ACCESS_KEY_ID'] = 'test';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'test';
    try {
      await insertRequests(w, ['2026-10-30', '2026-10-31'].map((d) => ({ id: d, ts: at(`${d}T10:00:01Z`) })));
      const config = configSchema.parse({ redis: { url: redis.url }, aws: { endpoint: url }, jobs: { prefix: uniquePrefix(), billingStart: '2026-10-30', backoffMs: 100, dayLockMs: 3_000 }, report: { outDir: tempDir() } });
      const r = runtime(config);
      await tickAndSettle(r, '2026-10-31T20:30:00Z');
      const before = await runsPerDay();
      expect(await cppByDay()).toEqual({ '2026-10-30': { cost: '10', requests: 1 }, '2026-10-31': { cost: '10', requests: 1 } });

      // Nothing changed: the next tick pulls the open days again, writes nothing, re-attributes nothing.
      await tickAndSettle(r, '2026-10-31T21:30:00Z');
      expect(await runsPerDay()).toEqual(before);

      endpoint.restate((l) => (l.start === at('2026-10-31T10:00:00Z') ? { ...l, amortized: '25' } : l));
      await tickAndSettle(r, '2026-10-31T22:30:00Z');
      expect(await runsPerDay()).toEqual({ '2026-10-30': before['2026-10-30'], '2026-10-31': (before['2026-10-31'] ?? 0) + 1 });
      expect(await cppByDay()).toEqual({ '2026-10-30': { cost: '10', requests: 1 }, '2026-10-31': { cost: '25', requests: 1 } });
    } finally {
      await endpoint.close();
    }
  });

  it('two schedulers started at once run each window once', async () => {
    await traffic(['2026-10-29', '2026-10-30', '2026-10-31']);
    const config = jobsConfig(uniquePrefix());
    const a = runtime(config);
    const b = runtime(config);
    clock.now = at('2026-10-31T20:10:00Z');
    await Promise.all([a.startScheduler(), b.startScheduler()]);
    await settled(a);
    expect(await runsPerDay()).toEqual({ '2026-10-29': 1, '2026-10-30': 1, '2026-10-31': 1 });
    expect((await a.queue(QUEUES.attribute).getJobs(['completed'])).filter((j) => j.name === 'attribute-day')).toHaveLength(3);
  });

  it('a payload that fails its schema fails the job at once with the field named', async () => {
    const r = runtime(jobsConfig(uniquePrefix()));
    await r.queue(QUEUES.attribute).add('attribute-day', { day: '2026-13-01', inputVersion: 'x' }, { jobId: 'bad-one', attempts: 5 });
    await waitFor(async () => (await r.queue(QUEUES.attribute).getJobState('bad-one')) === 'failed', { what: 'the bad job to fail' });
    const job = await r.queue(QUEUES.attribute).getJob('bad-one');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/bad payload for attribute-day: day: .*; inputVersion: must be 16 hex digits/);
    const listed = (await r.list()).find((j) => j.name === 'attribute-day');
    expect(listed).toMatchObject({ lastState: 'failed', failed: 1 });
    expect(listed?.lastError).toContain('inputVersion');
  });
});

describe('outages', () => {
  it('Redis stopped and restarted (empty) while jobs run: no day lost, none run twice, recovers by itself', async () => {
    const days = ['2026-10-29', '2026-10-30', '2026-10-31', '2026-11-01', '2026-11-02', '2026-11-03'];
    await traffic(days);
    clock.now = at('2026-11-03T18:20:00Z');
    const base = jobsConfig(uniquePrefix(), { shutdownGraceMs: 10_000 });
    const config: Config = { ...base, service: { ...base.service, port: 0 } };
    let stop: (reason: string) => void = () => undefined;
    let port = 0;
    const service = runService({
      jobs: JOB_REGISTRY,
      role: 'all', config, warehouse: w, log: (line) => { log.push(line); }, clock: () => clock.now,
      stop: new Promise((resolve) => { stop = resolve; }), onListening: (p) => { port = p; },
    });
    const healthy = async (): Promise<boolean> => port > 0 && (await fetch(`http://127.0.0.1:${port}/healthz`).then((res) => res.ok, () => false));

    await waitFor(async () => Object.keys(await runsPerDay()).length >= 1, { what: 'a first day attributed' });
    await redis.stop();
    await waitFor(async () => !(await healthy()), { what: '/healthz to report Redis gone' });
    await redis.start();
    await waitFor(async () => Object.keys(await runsPerDay()).length === days.length && (await healthy()), { what: 'every day attributed and healthy again', timeoutMs: 120_000 });

    // A tick after recovery finds nothing owed: every day ran exactly once.
    const check = runtime(config, false);
    await check.tick(at('2026-11-03T19:20:00Z'));
    await waitFor(async () => (await check.queue(QUEUES.attribute).getJobState(jobId('attribute', '2026-11-03T19'))) === 'completed', { what: 'the next tick' });
    await waitFor(async () => (await check.queue(QUEUES.rollups).getJobCounts('waiting-children', 'wait', 'active')).wait === 0, { what: 'rollups' });
    expect(await runsPerDay()).toEqual(Object.fromEntries(days.map((d) => [d, 1])));
    expect(Object.values(await cppByDay())).toEqual(days.map(() => ({ cost: '10', requests: 2 })));
    stop('test over');
    expect((await service).reason).toBe('test over');
  });
});

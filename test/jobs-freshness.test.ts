/**
 * Fresh numbers without Kafka: the attribution trigger adds one `attribute`
 * tick per debounce window, run at the window's end, however many writes the
 * window saw; and the freshness of attribution (the end of the newest fully
 * attributed hour) is right on known states, in the gauge of /metrics and in
 * `jobs list`. A private redis-server, the embedded warehouse, an injected clock.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { main } from '../src/cli/main.js';
import { configSchema, type Config } from '../src/config/config.js';
import { formatDateTime64 } from '../src/events/request-event.js';
import { QUEUES, freshAttributeTick } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { billingLine, insertBilling, insertRequests } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { queuesSettled } from './helpers/jobs.js';

const at = (iso: string): number => Date.parse(iso);
const DEBOUNCE_MS = 1_000;

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

function jobsConfig(prefix: string): Config {
  return configSchema.parse({
    redis: { url: redis.url },
    jobs: { prefix, billingPull: false, billingStart: '2026-10-29', backoffMs: 100, dayLockMs: 3_000, attributeDebounceMs: DEBOUNCE_MS },
    report: { outDir: tempDir(), scheduled: [] },
  });
}

const clock = { now: 0 };
function runtime(config: Config): JobRuntime {
  const r = new JobRuntime({ jobs: JOB_REGISTRY, config, log: (line) => { log.push(line); }, clock: () => clock.now });
  r.startWorkers(w);
  runtimes.push(r);
  return r;
}

const settled = (r: JobRuntime): Promise<void> => queuesSettled(r, 60_000);

/** An attribute tick now (a manual one: the hourly tick of this hour already ran) and everything it enqueued. */
async function pass(r: JobRuntime, iso: string): Promise<void> {
  clock.now = at(iso);
  await r.runNow('attribute', {});
  await settled(r);
}

async function traffic(days: readonly string[]): Promise<void> {
  for (const day of days) {
    const start = at(`${day}T10:00:00Z`);
    await insertBilling(w, [billingLine({ start, effective_cost: '10' })], 'aws-cost-explorer');
    await insertRequests(w, [{ id: `${day}-a`, ts: start + 1_000 }, { id: `${day}-b`, ts: start + 2_000 }]);
  }
}

const runsRow = z.object({ day: z.string(), n: z.coerce.number() });
async function runsPerDay(): Promise<Record<string, number>> {
  const rows = await w.query('SELECT toString(day) AS day, count() AS n FROM attribution_runs GROUP BY day ORDER BY day', {}, runsRow);
  return Object.fromEntries(rows.map((r) => [r.day, r.n]));
}

describe('the attribution trigger', () => {
  it('adds one tick per debounce window however many writes it saw, run at the window end', async () => {
    await traffic(['2026-10-30', '2026-10-31']);
    const r = runtime(jobsConfig(uniquePrefix()));
    clock.now = at('2026-10-31T12:30:00Z');
    await settled(r);
    // Debounce windows by a clock of their own; the ticks judge days by the runtime's.
    const writes = { now: at('2026-10-31T12:30:00Z') + 10 };
    const trigger = r.attributionTrigger(() => writes.now);
    const fresh = async (): Promise<string[]> => (await r.queue(QUEUES.attribute).getJobs(['delayed', 'wait', 'active', 'completed'])).map((j) => j.id ?? '').filter((id) => id.startsWith('attribute_fresh_')).sort();

    const first = freshAttributeTick(writes.now, DEBOUNCE_MS);
    for (let i = 0; i < 20; i++) trigger.rowsWritten();
    writes.now += DEBOUNCE_MS / 2;
    for (let i = 0; i < 20; i++) trigger.rowsWritten();
    await waitFor(async () => (await fresh()).length === 1, { what: 'the first window\'s tick' });
    expect(await fresh()).toEqual([first.id]);
    const job = await r.queue(QUEUES.attribute).getJob(first.id);
    // Added 10 ms into its window: it waits out the other 990 ms.
    expect(job?.opts.delay).toBe(DEBOUNCE_MS - 10);

    writes.now += DEBOUNCE_MS;
    const second = freshAttributeTick(writes.now, DEBOUNCE_MS);
    for (let i = 0; i < 5; i++) trigger.rowsWritten();
    await waitFor(async () => (await fresh()).length === 2, { what: 'the second window\'s tick' });
    expect(await fresh()).toEqual([first.id, second.id].sort());
    await settled(r);
    for (const id of [first.id, second.id]) {
      const done = await r.queue(QUEUES.attribute).getJob(id);
      expect(await done?.getState()).toBe('completed');
      expect((done?.processedOn ?? 0) - (done?.timestamp ?? 0)).toBeGreaterThanOrEqual(done?.opts.delay ?? 0);
    }
    // Ticks with nothing new recompute nothing.
    expect(await runsPerDay()).toEqual({ '2026-10-30': 1, '2026-10-31': 1 });

    // Caught up: a tick at once.
    trigger.caughtUp();
    await waitFor(async () => (await r.queue(QUEUES.attribute).getJobs(['completed'])).some((j) => String(j.id).startsWith('attribute_caught-up_')), { what: 'the caught-up tick' });
    await trigger.close();
  });

  it('does nothing with jobs.attributeDebounceMs 0', async () => {
    const config = jobsConfig(uniquePrefix());
    const r = runtime({ ...config, jobs: { ...config.jobs, attributeDebounceMs: 0 } });
    const trigger = r.attributionTrigger();
    trigger.rowsWritten();
    trigger.caughtUp();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await r.queue(QUEUES.attribute).getJobCounts('delayed', 'wait', 'active', 'completed')).toEqual({ delayed: 0, wait: 0, active: 0, completed: 0 });
  });
});

describe('freshness', () => {
  it('is the end of the newest fully attributed hour, in the gauge and in jobs list', async () => {
    await traffic(['2026-10-30', '2026-10-31']);
    const prefix = uniquePrefix();
    const r = runtime(jobsConfig(prefix));
    clock.now = at('2026-10-31T12:34:56Z');
    await r.tick();
    await settled(r);
    const through = async (): Promise<{ through: string; seconds: number; openDays: number } | undefined> => {
      await r.refreshFreshness();
      const f = await r.freshness();
      return f && { through: f.through, seconds: f.seconds, openDays: f.openDays };
    };

    // Everything attributed: the last complete hour.
    expect(await through()).toEqual({ through: '2026-10-31T12:00:00.000Z', seconds: 34 * 60 + 56, openDays: 0 });
    expect(await r.registry.getSingleMetricAsString('inferledger_freshness_seconds')).toContain(`inferledger_freshness_seconds ${34 * 60 + 56}`);
    const listed = (await r.list()).find((j) => j.name === 'attribute');
    expect(listed).toMatchObject({ freshnessSeconds: 34 * 60 + 56, attributedThrough: '2026-10-31T12:00:00.000Z' });
    expect((await r.list()).find((j) => j.name === 'billing-pull')).toMatchObject({ freshnessSeconds: null, attributedThrough: '' });

    // `jobs list` prints it (its own clock is the real one, so only the hour is known here).
    const out: string[] = [];
    expect(await main(['jobs', 'list'], { out: (l) => { out.push(l); }, err: () => undefined, env: { REDIS_URL: redis.url, INFERLEDGER_JOBS_PREFIX: prefix }, jobs: () => Promise.resolve(JOB_REGISTRY) })).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/^attribute \(queue attribute\)[^]*?\n {2}freshness: \d+d\d\dh \(newest fully attributed hour ends 2026-10-31T12:00Z\)$/m);
    expect(text.match(/freshness:/g)).toHaveLength(1);

    // A late request for 10-30 11:00: that hour is open until a pass attributes it.
    await insertRequests(w, [{ id: 'late', ts: at('2026-10-30T11:20:00Z') }]);
    expect(await through()).toEqual({ through: '2026-10-30T11:00:00.000Z', seconds: 86_400 + 3_600 + 34 * 60 + 56, openDays: 1 });
    // A request of the current hour changes nothing: only complete hours are judged.
    await insertRequests(w, [{ id: 'now', ts: at('2026-10-31T12:20:00Z') }]);
    expect((await through())?.through).toBe('2026-10-30T11:00:00.000Z');
    await pass(r, '2026-10-31T12:40:00Z');
    expect(await through()).toEqual({ through: '2026-10-31T12:00:00.000Z', seconds: 40 * 60, openDays: 0 });

    // A restated bill opens its whole day, from its first hour with inputs.
    await insertBilling(w, [billingLine({ start: at('2026-10-31T10:00:00Z'), effective_cost: '25' })], 'aws-cost-explorer');
    expect((await through())?.through).toBe('2026-10-31T10:00:00.000Z');
    // A row stored after the run with an older ingested_at than the run saw cannot be placed in an hour: its day opens.
    await pass(r, '2026-10-31T12:50:00Z');
    expect((await through())?.through).toBe('2026-10-31T12:00:00.000Z');
    await w.insertObjects('inference_requests', [{
      request_id: 'behind', ts: '2026-10-30 09:30:00.000', model_id: 'm1', feature_id: 'f1', tenant_id: 't1', pool_id: 'gpu-a', gpu_ms: '5',
      status: 'ok', source: 'test', ingested_at: formatDateTime64(at('2026-10-01T00:00:00Z')),
    }]);
    expect((await through())?.through).toBe('2026-10-30T09:00:00.000Z');

    // The hour turns with nothing new: the hour that ended is attributed.
    await pass(r, '2026-10-31T13:05:00Z');
    expect(await through()).toEqual({ through: '2026-10-31T13:00:00.000Z', seconds: 300, openDays: 0 });
  });
});

/**
 * Fresh numbers from the service (role all, in this process): started on a
 * Kafka backlog of a few hours over two days with the bill imported, it
 * attributes every billed request once the collector has caught up, and
 * events that arrive later within a debounce window, with the attribute
 * schedule pushed out of reach (no hourly tick helps); a collector in a role
 * of its own enqueues the same ticks through Redis. A real broker, a private
 * redis-server, the embedded warehouse, an injected clock for the days.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { configSchema, type Config } from '../src/config/config.js';
import { LocalCostExplorer, type CostLine } from '../src/cost-explorer/local-endpoint.js';
import type { OutgoingMessage } from '../src/kafka/stream.js';
import { QUEUES } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { runService } from '../src/service/run-service.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import { HOUR_MS } from '../src/util/time.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { billingLine, insertBilling } from './helpers/data.js';
import { tempDir } from './helpers/files.js';
import { freshTopic, produce, testClient, uniqueGroup } from './helpers/kafka.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { JOB_REGISTRY } from '../jobs/registry.js';

const at = (iso: string): number => Date.parse(iso);
const DEBOUNCE_MS = 1_000;
const HOURS = [9, 10, 11];
const PER_HOUR = 100;
const HOUR_COST = '3.25';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.dispose();
});
let w: Warehouse;
beforeEach(async () => {
  w = await freshWarehouse();
});
afterEach(async () => {
  await discardWarehouse(w);
});

/** PER_HOUR events in each of HOURS of a day, spread over the hour. */
function events(day: string): OutgoingMessage[] {
  return HOURS.flatMap((hour) => Array.from({ length: PER_HOUR }, (_, i) => {
    const id = `${day}-${hour}-${i}`;
    const ts = at(`${day}T${String(hour).padStart(2, '0')}:00:00Z`) + Math.floor((i * HOUR_MS) / PER_HOUR);
    return { key: id, value: JSON.stringify({ request_id: id, ts, pool_id: 'gpu-a', model_id: 'm1', feature_id: 'f1', tenant_id: `t${i % 3}`, gpu_ms: 120, input_tokens: 10, output_tokens: 20 }) };
  }));
}

const totals = z.object({ requests: z.coerce.number(), cost: z.string() });
async function cppTotals(): Promise<z.infer<typeof totals>> {
  const [row] = await w.query('SELECT sum(requests) AS requests, toString(sum(cost)) AS cost FROM cpp_daily', {}, totals);
  return row ?? { requests: 0, cost: '0' };
}
async function billedTotal(): Promise<string> {
  const [row] = await w.query('SELECT toString(sum(billed_cost)) AS cost, 0 AS requests FROM pool_cost', {}, totals);
  return row?.cost ?? '0';
}
const money = (hours: number): string => formatScaled(toScaled(HOUR_COST) * BigInt(hours));

it('started on a backlog, attributes it once caught up, and later events within a debounce window, without the hourly tick', async () => {
  const backlogDays = ['2026-10-30', '2026-10-31'];
  const liveDay = '2026-11-01';
  const topic = await freshTopic(2);
  await produce(topic, backlogDays.flatMap(events));
  // The whole bill, the live day's hours included (idle until their traffic arrives).
  await insertBilling(w, [...backlogDays, liveDay].flatMap((day) => HOURS.map((hour) => billingLine({ start: at(`${day}T${String(hour).padStart(2, '0')}:00:00Z`), effective_cost: HOUR_COST }))));

  const prefix = uniquePrefix();
  const config: Config = configSchema.parse({
    redis: { url: redis.url },
    kafka: { topic, groupId: uniqueGroup(), batchRows: 50 },
    jobs: {
      prefix, billingPull: false, billingStart: '2026-10-30', backoffMs: 100, dayLockMs: 3_000, shutdownGraceMs: 5_000,
      attributeDebounceMs: DEBOUNCE_MS,
      // Out of reach: only the start tick and the triggers can attribute.
      schedules: { attribute: '0 0 1 1 *' },
    },
    service: { port: 0, queryPort: 0 },
    report: { outDir: tempDir(), scheduled: [] },
  });
  const clock = { now: at('2026-11-01T20:30:00Z') };
  const log: string[] = [];
  let stop: (reason: string) => void = () => undefined;
  let port = 0;
  const service = runService({
    role: 'all', config, warehouse: w, jobs: JOB_REGISTRY, streamClient: () => testClient(), log: (line) => { log.push(line); }, clock: () => clock.now,
    stop: new Promise((resolve) => { stop = resolve; }), onListening: (p) => { port = p; },
  });
  const observer = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined });
  try {
    const backlog = backlogDays.length * HOURS.length * PER_HOUR;
    await waitFor(async () => {
      const cpp = await cppTotals();
      return cpp.requests === backlog && cpp.cost === money(backlogDays.length * HOURS.length) && (await billedTotal()) === money(9);
    }, { what: 'the backlog attributed: every billed request counted, pool_cost equal to the bill', timeoutMs: 60_000 });
    expect(log.some((l) => l.startsWith(`collector: caught up with the backlog of ${topic}`))).toBe(true);

    // Live: events of the third day in three bursts.
    const live = events(liveDay);
    for (let i = 0; i < 3; i++) {
      await produce(topic, live.slice(i * PER_HOUR, (i + 1) * PER_HOUR));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await waitFor(async () => {
      const cpp = await cppTotals();
      return cpp.requests === backlog + live.length && cpp.cost === money(9);
    }, { what: 'the live events attributed', timeoutMs: 60_000 });

    // What did it: ticks after writes (one per window, each run once its window was over) and after catching up.
    const ticks = (await observer.queue(QUEUES.attribute).getJobs(['completed'])).filter((j) => j.name === 'attribute');
    const fresh = ticks.filter((j) => String(j.id).startsWith('attribute_fresh_'));
    expect(fresh.length).toBeGreaterThan(0);
    for (const tick of fresh) {
      const window = Number(String(tick.id).slice('attribute_fresh_'.length));
      expect(tick.processedOn ?? 0).toBeGreaterThanOrEqual((window + 1) * DEBOUNCE_MS);
    }
    expect(ticks.filter((j) => String(j.id).startsWith('attribute_caught-up_'))).toHaveLength(1);
    expect(ticks.filter((j) => String(j.id).startsWith('repeat:'))).toEqual([]);

    // Freshness on /metrics: every hour up to 20:00 attributed, the clock at 20:30.
    await waitFor(async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).includes('\ninferledger_freshness_seconds 1800\n'), { what: 'freshness 1800 s on /metrics' });
  } finally {
    stop('test over');
    await service;
    await observer.close(0);
  }
});

it('a collector of its own (role collector) enqueues the ticks through Redis for the workers, without failing its health on them', async () => {
  const topic = await freshTopic(1);
  await produce(topic, events('2026-10-30').slice(0, 50));
  const config: Config = configSchema.parse({
    redis: { url: redis.url },
    kafka: { topic, groupId: uniqueGroup() },
    jobs: { prefix: uniquePrefix(), attributeDebounceMs: DEBOUNCE_MS },
    service: { port: 0, queryPort: 0 },
  });
  let stop: (reason: string) => void = () => undefined;
  let port = 0;
  const log: string[] = [];
  const service = runService({
    role: 'collector', config, warehouse: w, jobs: JOB_REGISTRY, streamClient: () => testClient(), log: (line) => { log.push(line); },
    stop: new Promise((resolve) => { stop = resolve; }), onListening: (p) => { port = p; },
  });
  const observer = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined });
  const ids = async (): Promise<string[]> => (await observer.queue(QUEUES.attribute).getJobs(['delayed', 'wait'])).map((j) => String(j.id)).sort();
  try {
    // No worker serves them here: they wait in the queue.
    await waitFor(async () => (await ids()).some((id) => id.startsWith('attribute_caught-up_')) && (await ids()).some((id) => id.startsWith('attribute_fresh_')), { what: 'the ticks in the queue' });
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', role: 'collector' });
    expect(health).not.toHaveProperty('jobs');
  } finally {
    stop('test over');
    await service;
    await observer.close(0);
  }
});

it('with the default configuration, pulls a Cost Explorer bill by itself and attributes a 3-day backlog against it exactly', async () => {
  const days = ['2026-10-30', '2026-10-31', '2026-11-01'];
  const topic = await freshTopic(2);
  const backlog = days.flatMap(events);
  await produce(topic, backlog);
  // The bill on the local Cost Explorer endpoint: every hour of the 3 days for gpu-a (idle hours too), amounts with
  // many decimals, and an untagged line a day (unallocated): pool_cost must hold all of it.
  const clock = { now: at('2026-11-02T20:30:00Z') };
  const lines: CostLine[] = days.flatMap((day, d) => {
    const base = { account: '111', service: 'Amazon Elastic Compute Cloud', region: 'us-east-1', estimated: false, usageQuantity: '1', usageUnit: 'Hrs' };
    const hourly = Array.from({ length: 24 }, (_, h): CostLine => ({
      ...base, start: at(`${day}T00:00:00Z`) + h * HOUR_MS, instanceType: 'g6.xlarge', tags: { 'inference-pool': 'gpu-a' },
      amortized: `0.${String(123_456_789 + h * 1_013 + d * 7)}`, unblended: `0.${String(987_654_321 - h * 31 - d)}`,
    }));
    return [...hourly, { ...base, start: at(`${day}T00:00:00Z`), instanceType: '', tags: {}, amortized: '0.000000000017', unblended: '0.01', usageQuantity: '0.5', usageUnit: 'GB-Mo' }];
  });
  const bill = formatScaled(lines.reduce((sum, l) => sum + toScaled(l.amortized), 0n));
  const endpoint = new LocalCostExplorer(lines, { now: () => clock.now });
  const url = await endpoint.listen();
  // Test credentials for the SDK's standard chain (the local endpoint accepts any).
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');

  // Defaults but for what a test must set: where Kafka, Redis and Cost Explorer are, and a private report directory.
  const config: Config = configSchema.parse({
    redis: { url: redis.url },
    kafka: { topic, groupId: uniqueGroup() },
    jobs: { prefix: uniquePrefix() },
    aws: { endpoint: url },
    service: { port: 0, queryPort: 0 },
    report: { outDir: tempDir() },
  });
  const log: string[] = [];
  let stop: (reason: string) => void = () => undefined;
  const service = runService({
    role: 'all', config, warehouse: w, jobs: JOB_REGISTRY, streamClient: () => testClient(), log: (line) => { log.push(line); }, clock: () => clock.now,
    stop: new Promise((resolve) => { stop = resolve; }),
  });
  const billed = z.object({ currency: z.string(), cost: z.string() });
  const billedByCurrency = async (): Promise<z.infer<typeof billed>[]> =>
    w.query('SELECT currency, toString(sum(billed_cost)) AS cost FROM pool_cost GROUP BY currency ORDER BY currency', {}, billed);
  let seen: { cpp: z.infer<typeof totals>; pools: z.infer<typeof billed>[] } | undefined;
  try {
    await waitFor(async () => {
      seen = { cpp: await cppTotals(), pools: await billedByCurrency() };
      return seen.cpp.requests === backlog.length && seen.pools.length === 1 && seen.pools[0]?.currency === 'USD' && toScaled(seen.pools[0].cost) === toScaled(bill);
    }, { what: `every billed request in cpp_daily (${backlog.length}) and pool_cost equal to the bill (USD ${bill})`, timeoutMs: 180_000 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(seen)}; Cost Explorer calls: ${endpoint.requests.length}; log:\n${log.join('\n')}`);
  } finally {
    stop('test over');
    await service;
    await endpoint.close();
    vi.unstubAllEnvs();
  }
  expect(endpoint.requests.length).toBeGreaterThan(0);
  expect(await billedByCurrency()).toEqual([{ currency: 'USD', cost: bill }]);
  expect((await cppTotals()).requests).toBe(backlog.length);
}, 240_000);

/**
 * bench/jobs: the scheduler on a private redis-server and the embedded
 * warehouse.
 * 1. Overhead with 1,000 owed windows: 1,000 UTC days with requests, none
 *    attributed; one `attribute` tick finds them (watermarks query) and
 *    enqueues 1,000 attribute-day children under one rollups flow. Timed: the
 *    tick job (processedOn -> finishedOn) and the watermarks query alone.
 * 2. Latency: a late request for an attributed day; time from its insert,
 *    with a tick fired at once, to the day's re-attributed run recorded.
 *    The worst case adds one tick period (the attribute cron, hourly).
 * Writes bench/results/jobs.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { configSchema } from '../src/config/config.js';
import { QUEUES, jobId } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { attributionInputs } from '../src/scheduler/watermarks.js';
import { DAY_MS, formatDateTime } from '../src/util/time.js';
import { migrate } from '../src/warehouse/migrate.js';
import { openWarehouse } from '../src/warehouse/warehouse.js';
import { sqlFile } from '../src/warehouse/sql-files.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { writeResult } from './lib/results.js';

const DAYS = 1_000;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => { resolve(typeof a === 'object' && a ? a.port : 0); });
    });
  });
}

async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'bench-jobs-'));
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dataDir], { stdio: 'ignore' });
try {
  const w = await openWarehouse(configSchema.shape.warehouse.parse({ dataDir: join(dataDir, 'wh'), database: 'bench_jobs' }));
  await migrate(w);
  const first = Date.UTC(2024, 0, 1);
  await w.command(sqlFile('../bench/sql/requests-per-day'), { from: formatDateTime(first), days: DAYS, per_day: 100 });
  const now = first + DAYS * DAY_MS - 1;
  const config = configSchema.parse({ redis: { url: `redis://127.0.0.1:${port}` }, jobs: { prefix: 'bench', billingPull: false, billingStart: '2024-01-01' }, report: { scheduled: [] } });
  const clock = { now };

  // 1. The watermarks query alone, then the tick that enqueues every owed day.
  const q0 = performance.now();
  const owed = await attributionInputs(w, config.attribution, first, now, true);
  const querySeconds = (performance.now() - q0) / 1000;
  if (owed.length !== DAYS) throw new Error(`expected ${DAYS} owed days, found ${owed.length}`);
  const runtime = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined, clock: () => clock.now });
  runtime.startWorkers(w);
  await runtime.tick();
  const tickId = jobId('attribute', new Date(now).toISOString().slice(0, 13));
  await until(async () => (await runtime.queue(QUEUES.attribute).getJobState(tickId)) === 'completed', 120_000, 'the tick');
  const tick = await runtime.queue(QUEUES.attribute).getJob(tickId);
  const tickSeconds = ((tick?.finishedOn ?? 0) - (tick?.processedOn ?? 0)) / 1000;
  const children = await runtime.queue(QUEUES.attribute).getJobCounts('prioritized', 'active', 'completed');
  console.log(`scheduler overhead, ${DAYS} owed days: watermarks query ${querySeconds.toFixed(2)} s; tick (query + enqueue ${DAYS} children in one flow) ${tickSeconds.toFixed(2)} s`);
  console.log(`  children queued: ${JSON.stringify(children)}`);
  await runtime.close(1_000);
  // Drop the backlog: the latency run starts from a settled state.
  await w.command('TRUNCATE TABLE inference_requests');
  const cleanup = new JobRuntime({ jobs: JOB_REGISTRY, config, log: () => undefined });
  for (const name of Object.values(QUEUES)) await cleanup.queue(name).obliterate({ force: true });
  await cleanup.close(0);

  // 2. Latency of late data: three days attributed, then a late request for the first.
  const recent = first + 10 * DAY_MS;
  await w.command(sqlFile('../bench/sql/requests-per-day'), { from: formatDateTime(recent), days: 3, per_day: 10_000 });
  const latencyConfig = configSchema.parse({ ...config, jobs: { ...config.jobs, billingStart: '2024-01-11' } });
  const r = new JobRuntime({ jobs: JOB_REGISTRY, config: latencyConfig, log: () => undefined, clock: () => clock.now });
  r.startWorkers(w);
  clock.now = recent + 3 * DAY_MS - 1;
  const runs = z.object({ n: z.coerce.number() });
  const runCount = async (): Promise<number> => (await w.query("SELECT count() AS n FROM attribution_runs WHERE day = '2024-01-11'", {}, runs))[0]?.n ?? 0;
  await r.tick();
  await until(async () => (await runCount()) === 1, 120_000, 'the first attribution');
  const latencies: number[] = [];
  for (let i = 0; i < 3; i++) {
    clock.now += 3_600_000;
    const before = await runCount();
    const t0 = performance.now();
    await w.insertObjects('inference_requests', [{ request_id: `late-${i}`, ts: '2024-01-11 12:00:00.000', model_id: 'model-1', feature_id: 'feature-1', tenant_id: 'tenant-1', pool_id: 'pool-1', gpu_ms: '5', status: 'ok', source: 'bench', ingested_at: new Date().toISOString() }]);
    await r.tick();
    await until(async () => (await runCount()) > before, 120_000, 're-attribution');
    latencies.push((performance.now() - t0) / 1000);
  }
  await r.close(1_000);
  latencies.sort((a, b) => a - b);
  console.log(`late request -> its day re-attributed (tick fired at once; day of 10,000 requests): ${latencies.map((s) => s.toFixed(2)).join(', ')} s; worst case adds one tick period (1 h)`);
  await w.close();
  writeResult('jobs', { benchmark: 'jobs', date: new Date().toISOString(), node: process.version, owedDays: DAYS, watermarksQuerySeconds: querySeconds, tickSeconds, lateDataLatencySeconds: latencies });
} finally {
  redis.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}

/**
 * End to end, as a user runs it: request events produced to Kafka and the
 * bill served by the local Cost Explorer endpoint become pool_cost and
 * cpp_daily rows that tie out to the bill, through `inferledger run` alone
 * (collector, scheduler and worker in one process), with no manual step.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { configSchema } from '../src/config/config.js';
import { costLinesFromFocus } from '../src/cost-explorer/fixture.js';
import { LocalCostExplorer } from '../src/cost-explorer/local-endpoint.js';
import { QUEUES } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { FIXTURES, tempDir, writeTemp } from './helpers/files.js';
import { brokers, freshTopic, uniqueGroup, withAdmin } from './helpers/kafka.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { DAY_MS } from '../src/util/time.js';
import { JOB_REGISTRY } from '../jobs/registry.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');
const execFileAsync = promisify(execFile);
const REQUESTS = 5_000;

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.dispose();
});

it('Kafka events and Cost Explorer billing become tied-out pool_cost and cpp_daily rows by themselves', async () => {
  // The fixture's day moved to yesterday: Cost Explorer serves it hourly, as it would the recent past.
  const yesterday = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
  const shift = yesterday - Date.UTC(2026, 9, 1);
  const lines = costLinesFromFocus(join(FIXTURES, 'billing-focus.csv')).map((l) => ({ ...l, start: l.start + shift }));
  const endpoint = new LocalCostExplorer(lines, { pageSize: 40 });
  const url = await endpoint.listen();

  const dir = tempDir();
  const topic = await freshTopic(2);
  const group = uniqueGroup();
  const prefix = uniquePrefix();
  const day = new Date(yesterday).toISOString().slice(0, 10);
  const configFile = writeTemp(dir, 'config.json', JSON.stringify({
    jobs: { prefix, billingStart: day, schedules: { attribute: '*/2 * * * * *' }, shutdownGraceMs: 15_000 },
    kafka: { batchAgeMs: 200 },
    report: { outDir: join(dir, 'reports') },
  }));
  const env = {
    ...process.env,
    REDIS_URL: redis.url, INFERLEDGER_CONFIG: configFile, INFERLEDGER_DATA_DIR: join(dir, 'warehouse'),
    KAFKA_BROKERS: brokers().join(','), KAFKA_TOPIC: topic, KAFKA_GROUP_ID: group,
    AWS_ENDPOINT_URL_COST_EXPLORER: url, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1',
  };
  const cli = async (...args: string[]): Promise<string> => (await execFileAsync(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 })).stdout;
  const events = sampleRequestLines(REQUESTS, 11, 'e2e-').map((line) => {
    const event = JSON.parse(line) as { ts: string };
    return JSON.stringify({ ...event, ts: new Date(Date.parse(event.ts) + shift).toISOString() });
  });
  const input = writeTemp(dir, 'requests.ndjson', `${events.join('\n')}\n`);

  const service = spawn(process.execPath, [BIN, 'run'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  service.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    service.on('exit', (code, signal) => { resolve({ code, signal }); });
  });
  const observer = new JobRuntime({ jobs: JOB_REGISTRY, config: configSchema.parse({ redis: { url: redis.url }, jobs: { prefix } }), log: () => undefined, failFast: true });
  try {
    await cli('produce', 'requests', input);
    const committed = async (): Promise<number> => {
      const offsets = await withAdmin((admin) => admin.groupOffsets(group, topic));
      return [...offsets.values()].reduce((n, o) => n + Number(o), 0);
    };
    await waitFor(async () => (await committed()) === REQUESTS, { what: 'every event written and committed', timeoutMs: 90_000, unless: exit });
    // Everything is stored now: wait for an attribution tick that started after this, and its days.
    const stored = Date.now();
    await waitFor(async () => {
      const ticks = await observer.queue(QUEUES.attribute).getJobs(['completed'], 0, 50);
      const after = ticks.some((j) => j.name === 'attribute' && (j.processedOn ?? 0) > stored);
      const pending = await observer.queue(QUEUES.attribute).getJobCounts('wait', 'prioritized', 'active', 'delayed');
      const parents = await observer.queue(QUEUES.rollups).getJobCounts('waiting-children', 'wait', 'active');
      return after && pending.prioritized === 0 && pending.active === 0 && parents['waiting-children'] === 0 && parents.wait === 0 && parents.active === 0;
    }, { what: `yesterday (${day}) attributed after the last event arrived`, timeoutMs: 90_000, unless: exit });
    service.kill('SIGTERM');
    expect(await exit, stderr).toEqual({ code: 0, signal: null });
  } finally {
    if (service.exitCode === null) service.kill('SIGKILL');
    await observer.close(0);
    await endpoint.close();
  }

  const json = async (sql: string): Promise<Record<string, string>> => JSON.parse(await cli('sql', '--format', 'json', sql)) as Record<string, string>;
  const bill = formatScaled(lines.reduce((sum, l) => sum + toScaled(l.amortized), 0n));
  const pools = await json('SELECT toString(sum(billed_cost)) AS billed, toString(sum(used_cost) + sum(idle_cost) + sum(unallocated_cost)) AS parts, sum(requests) AS requests FROM pool_cost');
  expect(pools).toEqual({ billed: bill, parts: bill, requests: String(REQUESTS) });
  const cpp = await json('SELECT toString(sum(cost)) AS cost, sum(requests) AS requests FROM cpp_daily');
  const coverage = await json('SELECT toString(sum(allocated_cost)) AS allocated, sum(requests) AS requests, sum(pending_requests) AS pending FROM coverage_daily');
  expect(cpp).toEqual({ cost: coverage['allocated'], requests: String(REQUESTS) });
  expect(coverage).toMatchObject({ requests: String(REQUESTS), pending: '0' });
}, 300_000);

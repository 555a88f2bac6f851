/**
 * bench/freshness: how soon new inputs reach cpp_daily with the default
 * schedule. A service (role all, in this process, as `inferledger run` runs
 * it: collector, scheduler and worker on a fresh embedded warehouse) with a
 * private redis-server, a local Kafka broker (infra/kafka/broker.sh on a free
 * port, or KAFKA_BROKERS) and the local Cost Explorer endpoint serving the
 * bill of the hours before the current one.
 *   1. Backlog: the first hour's events are on the topic before the service
 *      starts; timed from the start to cpp_daily counting all of them (group
 *      join, bill pulled by the start tick, collector caught up, attribution).
 *   2. Live, for each of the next hours (--live-hours): the hour's events are
 *      produced while the service runs, in ten chunks over ~10 s; timed from
 *      the last one acknowledged (the hour's last input) to cpp_daily
 *      counting all of them. Where the last write falls in its debounce
 *      window decides most of it: between the pass alone and a window more.
 * Default schedule and settings (jobs.attributeDebounceMs 60 s); the hourly
 * `attribute` tick alone would take up to an hour. Prints each time, the
 * ticks that did it and the freshness gauge at the end; writes
 * bench/results/freshness.json.
 *
 *   npx tsx bench/freshness.ts [--events 20000] [--live-hours 3] [--partitions 6]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configSchema } from '../src/config/config.js';
import { LocalCostExplorer, type CostLine } from '../src/cost-explorer/local-endpoint.js';
import { kafkajsClient } from '../src/kafka/kafkajs-client.js';
import type { OutgoingMessage } from '../src/kafka/stream.js';
import { setupTopics } from '../src/kafka/topics.js';
import { QUEUES } from '../src/scheduler/contract.js';
import { JobRuntime } from '../src/scheduler/runtime.js';
import { runService } from '../src/service/run-service.js';
import { formatScaled, toScaled } from '../src/util/decimal.js';
import { formatDate, HOUR_MS } from '../src/util/time.js';
import { migrate } from '../src/warehouse/migrate.js';
import { openWarehouse } from '../src/warehouse/warehouse.js';
import { startPrivateBroker } from '../test/helpers/broker.js';
import { freePort } from '../test/helpers/ports.js';
import { JOB_REGISTRY } from '../jobs/registry.js';
import { writeResult } from './lib/results.js';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '20000' }, 'live-hours': { type: 'string', default: '3' }, partitions: { type: 'string', default: '6' } } });
const EVENTS = Number(args.events);
const LIVE_HOURS = Number(args['live-hours']);
const HOUR_COST = '12.5';
const silent = (): void => undefined;

async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string, state: () => Promise<string>): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const answered = (): Promise<boolean> => Promise.race([probe(), new Promise<never>((_, reject) => { setTimeout(() => { reject(new Error(`no answer in 30 s while waiting for ${what}`)); }, 30_000).unref(); })]);
  while (!(await answered())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (${await state()})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return performance.now();
}

/** EVENTS request events spread over the hour starting at `hour`. */
function hourOfEvents(hour: number, tag: string): OutgoingMessage[] {
  return Array.from({ length: EVENTS }, (_, i) => {
    const id = `fresh-${tag}-${i}`;
    return {
      key: id,
      value: JSON.stringify({
        request_id: id, ts: new Date(hour + Math.floor((i * HOUR_MS) / EVENTS)).toISOString(), model_id: i % 2 === 0 ? 'llama-3-70b' : 'bge-large',
        feature_id: i % 2 === 0 ? 'chat' : 'search', tenant_id: `tenant-${i % 50}`, team: 'ml-platform', pool_id: 'gpu-a',
        gpu_ms: 100 + (i % 50), input_tokens: 100 + (i % 900), output_tokens: i % 400, status: 'ok',
      }),
    };
  });
}

const work = mkdtempSync(join(tmpdir(), 'bench-freshness-'));
const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
let stopBroker = (): void => undefined;
let stopService: (reason: string) => void = () => undefined;
let service: Promise<unknown> = Promise.resolve();
try {
  let brokers = process.env['KAFKA_BROKERS'] ?? '';
  if (!brokers) {
    const broker = await startPrivateBroker();
    brokers = broker.address;
    stopBroker = () => { broker.dispose(); };
  }
  // Complete hours before the current one: Cost Explorer serves them hourly.
  const backlog = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - (LIVE_HOURS + 1) * HOUR_MS;
  const hours = Array.from({ length: LIVE_HOURS + 1 }, (_, i) => backlog + i * HOUR_MS);
  const line = (start: number): CostLine => ({
    start, account: 'default', instanceType: 'g6.xlarge', service: 'Amazon Elastic Compute Cloud - Compute', region: 'us-east-1',
    tags: { 'inference-pool': 'gpu-a' }, amortized: HOUR_COST, unblended: HOUR_COST, usageQuantity: '1', usageUnit: 'Hrs', estimated: false,
  });
  const endpoint = new LocalCostExplorer(hours.map(line));
  const bill = formatScaled(toScaled(HOUR_COST) * BigInt(hours.length));
  const endpointUrl = await endpoint.listen();
  process.env['AWS_ACCESS_KEY_ID'] ??= 'bench';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'bench';

  const topic = `fresh-${Date.now()}`;
  const client = kafkajsClient({ brokers: brokers.split(','), clientId: 'bench', log: silent });
  const admin = await client.admin();
  await setupTopics(admin, { topic, dlqTopic: '', partitions: Number(args.partitions) });
  await admin.stop();
  const producer = await client.producer();
  const send = async (messages: readonly OutgoingMessage[]): Promise<void> => {
    for (let i = 0; i < messages.length; i += 5000) await producer.send(topic, messages.slice(i, i + 5000));
  };
  await send(hourOfEvents(backlog, 'backlog'));

  // Defaults everywhere but where things are: schedules, debounce, batch settings as shipped.
  const config = configSchema.parse({
    warehouse: { dataDir: join(work, 'warehouse'), database: 'bench_freshness' },
    redis: { url: `redis://127.0.0.1:${redisPort}` },
    kafka: { brokers: brokers.split(','), topic, groupId: `bench-${Date.now()}` },
    aws: { endpoint: endpointUrl },
    jobs: { prefix: 'bench', billingStart: formatDate(backlog) },
    service: { port: 0, queryPort: 0 },
    report: { outDir: join(work, 'reports') },
  });
  const warehouse = await openWarehouse(config.warehouse);
  await migrate(warehouse);
  const days = [...new Set(hours.map(formatDate))];
  const counted = async (): Promise<number> => {
    const [row] = await warehouse.query('SELECT sum(requests) AS n FROM cpp_daily WHERE day IN {days:Array(Date)}', { days }, z.object({ n: z.coerce.number() }));
    return row?.n ?? 0;
  };
  const billed = async (): Promise<string> => {
    const [row] = await warehouse.query('SELECT toString(sum(billed_cost)) AS c FROM pool_cost', {}, z.object({ c: z.string() }));
    return row?.c ?? '';
  };

  const state = async (): Promise<string> => `cpp_daily counts ${await counted()} requests, pool_cost bills ${await billed()}`;

  // 1. Backlog.
  let port = 0;
  const started = performance.now();
  const startedAt = Date.now();
  service = runService({
    role: 'all', config, warehouse, jobs: JOB_REGISTRY, streamClient: () => kafkajsClient({ brokers: brokers.split(','), clientId: 'bench-service', log: silent }),
    log: (l) => { if (/caught up|failed|crashed/.test(l)) console.log(`  service: ${l}`); }, stop: new Promise((resolve) => { stopService = resolve; }), onListening: (p) => { port = p; },
  });
  const backlogDone = await until(async () => (await counted()) === EVENTS && (await billed()) === bill, 300_000, 'the backlog hour in cpp_daily', state);
  const backlogSeconds = (backlogDone - started) / 1000;
  console.log(`backlog: ${EVENTS.toLocaleString('en-US')} events of ${new Date(backlog).toISOString().slice(0, 13)}h on the topic before the start -> all in cpp_daily ${backlogSeconds.toFixed(1)} s after the start (bill pulled by the start tick)`);

  // 2. Live: each next hour's events, as traffic arrives.
  const liveSeconds: number[] = [];
  let lastInputAt = 0;
  let lastInput = 0;
  for (const [k, hour] of hours.slice(1).entries()) {
    const events = hourOfEvents(hour, `live${k}`);
    for (let i = 0; i < 10; i++) {
      await send(events.slice((i * EVENTS) / 10, ((i + 1) * EVENTS) / 10));
      if (i < 9) await new Promise((r) => setTimeout(r, 1000));
    }
    lastInput = performance.now();
    lastInputAt = Date.now();
    const done = await until(async () => (await counted()) === (k + 2) * EVENTS, 600_000, 'the live hour in cpp_daily', state);
    liveSeconds.push((done - lastInput) / 1000);
    const phase = ((lastInputAt % config.jobs.attributeDebounceMs) / 1000).toFixed(1);
    console.log(`live: ${EVENTS.toLocaleString('en-US')} events of ${new Date(hour).toISOString().slice(0, 13)}h produced over ~10 s -> all in cpp_daily ${(liveSeconds.at(-1) ?? 0).toFixed(1)} s after the last one (${phase} s into its debounce window; target < 300 s)`);
  }

  const observer = new JobRuntime({ jobs: JOB_REGISTRY, config, log: silent });
  const ticks = (await observer.queue(QUEUES.attribute).getJobs(['completed'], 0, 500)).filter((j) => j.name === 'attribute' && (j.processedOn ?? 0) >= startedAt)
    .sort((a, b) => (a.processedOn ?? 0) - (b.processedOn ?? 0))
    .map((j) => `${String(j.id).replace(/_\d+$/, '')} at +${(((j.processedOn ?? 0) - startedAt) / 1000).toFixed(1)} s`);
  await observer.close(0);
  console.log(`  attribute ticks after the start (the last input at +${((lastInputAt - startedAt) / 1000).toFixed(1)} s): ${ticks.join('; ')}`);
  // The gauge follows once the pass has finished (the rows are swapped in before): at most the current hour's age.
  const gauge = async (): Promise<number> => Number(/^inferledger_freshness_seconds (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1] ?? NaN);
  const gaugeDone = await until(async () => (await gauge()) <= (Date.now() % HOUR_MS) / 1000 + 1, 120_000, 'the freshness gauge', async () => `inferledger_freshness_seconds ${await gauge()}`);
  const freshness = await gauge();
  console.log(`  inferledger_freshness_seconds: ${freshness.toFixed(0)} s (the current hour's age: every complete hour attributed), ${((gaugeDone - lastInput) / 1000).toFixed(1)} s after the last input`);

  stopService('bench over');
  await service;
  await warehouse.close();
  await producer.stop();
  await endpoint.close();
  writeResult('freshness', {
    benchmark: 'freshness', date: new Date().toISOString(), node: process.version, eventsPerHour: EVENTS, partitions: Number(args.partitions),
    attributeDebounceMs: config.jobs.attributeDebounceMs, attributeSchedule: '15 * * * *',
    backlogStartToCppDailySeconds: backlogSeconds, liveLastInputToCppDailySeconds: liveSeconds,
    liveWorstSeconds: Math.max(...liveSeconds), freshnessSecondsAtEnd: freshness, lastInputToFreshnessGaugeSeconds: (gaugeDone - lastInput) / 1000, ticks,
  });
} finally {
  stopService('bench over');
  await service.catch(() => undefined);
  stopBroker();
  redis.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}

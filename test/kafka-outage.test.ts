/**
 * Kafka itself goes away mid-run: a broker of this test's own is stopped while
 * the collector consumes and started again on the same port and data. The
 * collector reconnects by itself; what it wrote stays written, once.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RequestCollector } from '../src/collector/request-collector.js';
import { kafkajsClient } from '../src/kafka/kafkajs-client.js';
import { setupTopics } from '../src/kafka/topics.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { collectorOptions, kafkaLog, until } from './helpers/kafka.js';
import { freePort } from './helpers/ports.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

const BROKER = fileURLToPath(new URL('../infra/kafka/broker.sh', import.meta.url));
let env: NodeJS.ProcessEnv;
let address = '';
let warehouse: Warehouse;

function broker(command: 'start' | 'stop'): string {
  return execFileSync('bash', [BROKER, command], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1) ?? '';
}

beforeAll(async () => {
  env = { ...process.env, KAFKA_PORT: String(await freePort()), KAFKA_DATA_DIR: mkdtempSync(join(tmpdir(), 'inferledger-kafka-outage-')) };
  address = broker('start');
  warehouse = await freshWarehouse();
});

afterAll(async () => {
  broker('stop');
  rmSync(env['KAFKA_DATA_DIR'] ?? '', { recursive: true, force: true });
  await warehouse.close();
});

it('reconnects after the broker was down and counts every event once', async () => {
  const client = kafkajsClient({ brokers: [address], clientId: 'outage-test', log: (line) => { kafkaLog.push(line); } });
  const topic = 'requests-outage';
  const admin = await client.admin();
  await setupTopics(admin, { topic, dlqTopic: '', partitions: 3 });
  await admin.stop();
  const send = async (lines: string[]): Promise<void> => {
    const producer = await client.producer();
    for (let i = 0; i < lines.length; i += 5000) await producer.send(topic, lines.slice(i, i + 5000).map((value) => ({ key: null, value })));
    await producer.stop();
  };
  await send(sampleRequestLines(40_000, 17, 'outage-a-'));

  const collector = new RequestCollector(collectorOptions(topic, 'outage-group', { batchRows: 500, batchAgeMs: 100, sessionTimeoutMs: 6000 }), { warehouse, client, log: () => undefined });
  await collector.start();
  try {
    await until('some rows written', () => (collector.stats.written >= 3000 ? true : undefined));
    broker('stop');
    broker('start');
    // Events sent after the outage arrive too: the collector is consuming again, not just alive.
    await send(sampleRequestLines(10_000, 18, 'outage-b-'));
    await collector.caughtUp();
  } finally {
    await collector.stop();
  }
  const params = { prefix: 'outage-' };
  expect(await scalar(warehouse, 'SELECT count() AS n FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String})', params)).toBe(50_000);
  expect(await scalar(warehouse, 'SELECT uniqExact(request_id) AS n FROM inference_requests WHERE startsWith(request_id, {prefix:String})', params)).toBe(50_000);
});

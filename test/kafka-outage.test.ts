/**
 * Kafka itself goes away mid-run: a broker of this test's own is stopped while
 * the collector consumes and started again on the same port and data. The
 * collector reconnects by itself; what it wrote stays written, once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RequestCollector } from '../src/collector/request-collector.js';
import { kafkajsClient } from '../src/kafka/kafkajs-client.js';
import { setupTopics } from '../src/kafka/topics.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { collectorOptions, kafkaLog, until } from './helpers/kafka.js';
import { startPrivateBroker, type PrivateBroker } from './helpers/broker.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

let broker: PrivateBroker;
let warehouse: Warehouse;

beforeAll(async () => {
  broker = await startPrivateBroker();
  warehouse = await freshWarehouse();
});

afterAll(async () => {
  broker.dispose();
  await warehouse.close();
});

it('reconnects after the broker was down and counts every event once', async () => {
  const client = kafkajsClient({ brokers: [broker.address], clientId: 'outage-test', log: (line) => { kafkaLog.push(line); } });
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
    broker.stop();
    broker.start();
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

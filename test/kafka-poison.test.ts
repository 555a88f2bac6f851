/**
 * Content the warehouse refuses must never stall the collector: against the
 * real broker and the real embedded warehouse, a poison event between good
 * ones is dead-lettered with its reason and field, every good event is
 * stored once, and the offsets move past it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS, RequestCollector, type CollectorOptions } from '../src/collector/request-collector.js';
import type { OutgoingMessage } from '../src/kafka/stream.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { collectorOptions, freshTopic, produce, readTopic, testClient, uniqueGroup, until, withAdmin } from './helpers/kafka.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

const logs: string[] = [];

let warehouse: Warehouse;
beforeAll(async () => { warehouse = await freshWarehouse(); });
afterAll(async () => { await warehouse.close(); });

async function count(sql: string, prefix: string): Promise<number> {
  return scalar(warehouse, sql, { prefix });
}

/** Run a collector until the group committed every offset (or fail after the deadline: a stalled collector never gets there). */
async function collectAll(options: CollectorOptions, deps: Partial<ConstructorParameters<typeof RequestCollector>[1]> = {}): Promise<RequestCollector> {
  const collector = new RequestCollector(options, { warehouse, client: testClient(), log: (line) => { logs.push(line); }, ...deps });
  await collector.start();
  try {
    await Promise.race([
      collector.caughtUp(),
      until('never', () => undefined, 90_000).catch(() => { throw new Error(`collector did not catch up; log:\n${logs.slice(-5).join('\n')}`); }),
    ]);
  } finally {
    await collector.stop();
  }
  return collector;
}

describe('collect requests: content the warehouse refuses', () => {
  it('dead-letters a lone-surrogate event between good ones, stores the good ones once and commits past it', async () => {
    const topic = await freshTopic(1);
    const good = sampleRequestLines(1000, 5, 'poison-');
    const poison = (good[500] as string).replace('"model_id":"', '"model_id":"\\ud800').replace('poison-000500', 'poison-bad');
    const messages: OutgoingMessage[] = good.map((value) => ({ key: null, value }));
    messages.splice(500, 0, { key: 'bad', value: poison });
    await produce(topic, messages);
    const group = uniqueGroup();

    const collector = await collectAll(collectorOptions(topic, group, { batchRows: 2000, batchAgeMs: 100, retryMinMs: 50, retryMaxMs: 200 }));

    expect(collector.stats).toMatchObject({ messages: 1001, written: 1000, deadLettered: 1, writeFailures: 0 });
    expect(await count('SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, {prefix:String})', 'poison-')).toBe(1000);
    const dead = await readTopic(`${topic}.dlq`);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.key).toBe(`${topic}/0/500`);
    expect(dead[0]?.value?.toString()).toBe(poison);
    expect(dead[0]?.headers[DLQ_HEADERS.field]).toBe('model_id');
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toMatch(/^model_id: holds a lone UTF-16 surrogate/);
    const committed = await withAdmin((admin) => admin.groupOffsets(group, topic));
    expect(committed.get(0)).toBe('1001');
  });
});

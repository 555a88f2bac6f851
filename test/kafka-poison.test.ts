/**
 * Content the warehouse refuses must never stall the collector: against the
 * real broker and the real embedded warehouse, a poison event between good
 * ones is dead-lettered with its reason and field, every good event is
 * stored once, and the offsets move past it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS, RequestCollector, type CollectorOptions } from '../src/collector/request-collector.js';
import type { ParsedRecords } from '../src/events/parse-records.js';
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

  it('bisects an insert the warehouse refuses for the content of one row: that row dead-lettered with the engine message, the rest stored once', async () => {
    const topic = await freshTopic(1);
    const lines = sampleRequestLines(1000, 6, 'seam-');
    await produce(topic, lines.map((value) => ({ key: null, value })));
    // Test seam in the serialisation step: one row's model_id becomes a lone surrogate escape (same length), which validation would have refused.
    const afterParse = (parsed: ParsedRecords): ParsedRecords => {
      const i = parsed.ids.indexOf('seam-000300');
      if (i < 0) return parsed;
      const text = Buffer.from(parsed.rows.buffer, parsed.rows.byteOffset, parsed.rows.byteLength);
      const rowStart = i === 0 ? 0 : (parsed.rowEnds[i - 1] as number);
      const modelQuote = text.indexOf('","', text.indexOf('","', rowStart) + 3) + 2;
      text.write('"\\ud800', modelQuote);
      return parsed;
    };
    const group = uniqueGroup();

    const collector = await collectAll(collectorOptions(topic, group, { batchRows: 5000, batchAgeMs: 100, retryMinMs: 50, retryMaxMs: 200 }), { afterParse });

    expect(collector.stats).toMatchObject({ messages: 1000, written: 999, deadLettered: 1, writeFailures: 0 });
    expect(await count('SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, {prefix:String})', 'seam-')).toBe(999);
    expect(await count('SELECT uniqExact(request_id) AS n FROM inference_requests WHERE startsWith(request_id, {prefix:String})', 'seam-')).toBe(999);
    const dead = await readTopic(`${topic}.dlq`);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.key).toBe(`${topic}/0/300`);
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toMatch(/^the warehouse refused the row: .*surrogate/);
    expect(dead[0]?.headers[DLQ_HEADERS.field]).toBe('model_id');
    expect(dead[0]?.headers[DLQ_HEADERS.value]).toMatch(/inference_requests row/);
    expect(JSON.parse(dead[0]?.value?.toString() ?? '[]')).toEqual(expect.arrayContaining(['seam-000300']));
    expect((await withAdmin((admin) => admin.groupOffsets(group, topic))).get(0)).toBe('1000');
  });

  it('dead-letters a conflicting copy of a request id (another pool, an hour later) and counts an identical copy as a duplicate', async () => {
    const topic = await freshTopic(1);
    const lines = sampleRequestLines(200, 8, 'twin-');
    const original = JSON.parse(lines[10] as string) as { request_id: string; ts: string; pool_id: string };
    const conflicting = JSON.stringify({ ...original, pool_id: 'other-pool', ts: new Date(Date.parse(original.ts) + 3_600_000).toISOString() });
    const messages: OutgoingMessage[] = [...lines, lines[10] as string, conflicting].map((value) => ({ key: null, value }));
    await produce(topic, messages);
    const group = uniqueGroup();

    const collector = await collectAll(collectorOptions(topic, group, { batchRows: 50, batchAgeMs: 100 }));

    expect(collector.stats).toMatchObject({ messages: 202, written: 200, duplicates: 1, deadLettered: 1 });
    expect(await count('SELECT count() AS n FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String})', 'twin-')).toBe(200);
    const dead = await readTopic(`${topic}.dlq`);
    expect(dead.map((m) => [m.key, m.headers[DLQ_HEADERS.field], m.headers[DLQ_HEADERS.reason]])).toEqual([
      [`${topic}/0/201`, 'ts,pool_id', `conflicting duplicate of request_id "${original.request_id}": ts, pool_id differ from the copy stored first`],
    ]);
  });
});

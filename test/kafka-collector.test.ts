/**
 * The Kafka collector against the real broker (global-setup) and the real
 * embedded warehouse: invalid messages dead-lettered with reasons, redelivery
 * never double-counting, no offset past unwritten data during a warehouse
 * outage, and a group member dying mid-run.
 */
import { connect, type Socket } from 'node:net';
import type { ISocketFactory } from 'kafkajs';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveMetrics } from '../src/collector/collector-metrics.js';
import { DLQ_HEADERS, RequestCollector, type CollectorOptions } from '../src/collector/request-collector.js';
import type { OutgoingMessage, StreamClient } from '../src/kafka/stream.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { event } from './helpers/files.js';
import { collectorOptions, freshTopic, produce, readTopic, testClient, uniqueGroup, until, withAdmin } from './helpers/kafka.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

const logs: string[] = [];
const log = (line: string): void => { logs.push(line); };

let warehouse: Warehouse;
beforeAll(async () => { warehouse = await freshWarehouse(); });
afterAll(async () => { await warehouse.close(); });

/** Rows analysts see (deduplicated), rows on disk, and the exact GPU time, for a set of ids. */
async function stored(prefix: string): Promise<{ analysts: number; onDisk: number; gpuMicros: bigint }> {
  const params = { prefix };
  const analysts = await scalar(warehouse, 'SELECT count() AS n FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String})', params);
  const onDisk = await scalar(warehouse, 'SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, {prefix:String})', params);
  const [sum] = await warehouse.query(
    'SELECT toString(sum(toUInt64(gpu_ms * 1000))) AS s FROM inference_requests_dedup WHERE startsWith(request_id, {prefix:String})',
    params,
    z.object({ s: z.string() }),
  );
  return { analysts, onDisk, gpuMicros: BigInt(sum?.s ?? '0') };
}

function gpuMicros(lines: readonly string[]): bigint {
  return lines.reduce((total, line) => total + BigInt(Math.round((JSON.parse(line) as { gpu_ms: number }).gpu_ms * 1000)), 0n);
}

/** What a test collector uses instead of the file's warehouse and the shared broker client. */
interface TestDeps {
  warehouse?: Warehouse;
  client?: StreamClient;
}

async function startCollector(options: CollectorOptions, deps: TestDeps = {}): Promise<RequestCollector> {
  const collector = makeCollector(options, deps);
  await collector.start();
  return collector;
}

function makeCollector(options: CollectorOptions, deps: TestDeps = {}): RequestCollector {
  return new RequestCollector(options, { warehouse: deps.warehouse ?? warehouse, client: deps.client ?? testClient(), log });
}

/** The invalid messages of the mixed test: a dozen ways to be wrong, and the reason each must name. */
const INVALID: { value: string | Buffer | null; reason: RegExp }[] = [
  { value: null, reason: /tombstone/ },
  { value: '', reason: /empty message/ },
  { value: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), reason: /not valid UTF-8/ },
  { value: '{"request_id": "cut', reason: /malformed JSON/ },
  { value: '[1, 2, 3]', reason: /JSON object/ },
  { value: JSON.stringify({ ...event(), pool_id: undefined }), reason: /^pool_id:/ },
  { value: JSON.stringify(event({ gpu_ms: '12' })), reason: /^gpu_ms: .*expected number/ },
  { value: JSON.stringify(event({ gpu_ms: -1 })), reason: /^gpu_ms: must be >= 0/ },
  { value: JSON.stringify(event({ ts: '2026-10-01T10:15:00' })), reason: /^ts: must be ISO-8601 with a zone/ },
  { value: JSON.stringify(event({ ts: '2100-01-01T00:00:00Z' })), reason: /^ts: is more than a day in the future/ },
  { value: JSON.stringify(event({ model_id: 'm'.repeat(300) })), reason: /^model_id: must be at most 256/ },
  { value: JSON.stringify(event({ status: 'maybe' })), reason: /^status:/ },
  { value: JSON.stringify(event({ input_tokens: 1.5 })), reason: /^input_tokens: must be an integer/ },
];

describe('collect requests', () => {
  it('stores 200k events across 6 partitions once each and dead-letters exactly the 1% invalid ones, with reasons', async () => {
    const topic = await freshTopic(6);
    const valid = sampleRequestLines(197_000, 7, 'mix-');
    const messages: OutgoingMessage[] = [];
    const expectedReasons: RegExp[] = [];
    let invalidAt = 0;
    valid.forEach((line, i) => {
      messages.push({ key: `mix-${i}`, value: line });
      // A redelivered copy of every 197th event: same id, counted once.
      if (i % 197 === 0) messages.push({ key: `mix-${i}`, value: line });
      if (i % 98 === 0 && invalidAt < 2000) {
        const bad = INVALID[invalidAt++ % INVALID.length] as (typeof INVALID)[number];
        messages.push({ key: null, value: bad.value });
        expectedReasons.push(bad.reason);
      }
    });
    // One 10 MB message: over the size limit, dead-lettered with a truncated copy, never fatal.
    messages.push({ key: 'huge', value: JSON.stringify(event({ request_id: 'mix-huge', pad: 'x'.repeat(10 * 1024 * 1024) })) });
    expectedReasons.push(/more than the 262144 allowed/);
    expect(messages).toHaveLength(200_001);
    await produce(topic, messages);

    const collector = await startCollector(collectorOptions(topic, uniqueGroup()));
    const { port, server } = await serveMetrics(collector.metrics, () => collector.health(), 0, '127.0.0.1');
    try {
      await collector.caughtUp();
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (let p = 0; p < 6; p++) expect(metrics).toContain(`inferledger_collector_consumer_lag{topic="${topic}",partition="${p}"} 0`);
      expect(metrics).toContain('inferledger_collector_rows_written_total 197000');
      expect(metrics).toContain(`inferledger_collector_dead_letters_total ${expectedReasons.length}`);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      server.close();
      expect(await collector.stop()).toBe(true);
    }

    expect(collector.stats).toMatchObject({ messages: 200_001, written: 197_000, duplicates: 1000, deadLettered: expectedReasons.length });
    expect(await stored('mix-')).toEqual({ analysts: 197_000, onDisk: 197_000, gpuMicros: gpuMicros(valid) });

    const dead = await readTopic(`${topic}.dlq`);
    expect(dead).toHaveLength(expectedReasons.length);
    expect(new Set(dead.map((m) => m.key)).size).toBe(dead.length);
    for (const m of dead) {
      expect(m.headers[DLQ_HEADERS.topic]).toBe(topic);
      expect(m.key).toBe(`${topic}/${m.headers[DLQ_HEADERS.partition] ?? ''}/${m.headers[DLQ_HEADERS.offset] ?? ''}`);
    }
    // Every expected reason, as often as it was sent.
    const reasons = dead.map((m) => m.headers[DLQ_HEADERS.reason] ?? '');
    const unmatched = [...reasons];
    for (const expected of expectedReasons) {
      const at = unmatched.findIndex((r) => expected.test(r));
      expect(at, `a dead letter whose reason matches ${String(expected)}`).toBeGreaterThanOrEqual(0);
      unmatched.splice(at, 1);
    }
    const huge = dead.find((m) => m.headers[DLQ_HEADERS.truncated] !== undefined);
    expect(huge?.value?.length).toBe(256 * 1024);
  });

  it('never commits past unwritten data while the warehouse fails, and writes everything once it is back', async () => {
    const topic = await freshTopic(6);
    const lines = sampleRequestLines(30_000, 11, 'flaky-');
    // Event i goes to partition i % 6, so its offset there is floor(i / 6).
    await produce(topic, lines.map((value, i) => ({ key: null, value, partition: i % 6 })));
    let failing = false;
    const flaky = failingWhen(warehouse, () => failing);
    const group = uniqueGroup();
    const collector = await startCollector(collectorOptions(topic, group, { batchRows: 500, batchAgeMs: 100, retryMinMs: 50, retryMaxMs: 400 }), { warehouse: flaky });
    try {
      await until('some rows written', () => (collector.stats.written >= 5000 ? true : undefined));
      failing = true;
      await until('several failed attempts', () => (collector.stats.writeFailures >= 5 ? true : undefined));
      const before = await withAdmin((admin) => admin.groupOffsets(group, topic));
      await until('retries go on', () => (collector.stats.writeFailures >= 10 ? true : undefined));
      const during = await withAdmin((admin) => admin.groupOffsets(group, topic));
      expect(during).toEqual(before);
      expect(await collector.metrics.paused.get()).toMatchObject({ values: [{ value: 1 }] });
      // Every committed offset covers only stored rows.
      const storedIds = new Set((await warehouse.query("SELECT request_id FROM inference_requests WHERE startsWith(request_id, 'flaky-')", {}, idRow)).map((r) => r.request_id));
      for (const [partition, committed] of during) {
        for (let offset = 0; offset < Number(committed); offset++) {
          const id = JSON.parse(lines[offset * 6 + partition] ?? '{}') as { request_id: string };
          if (!storedIds.has(id.request_id)) throw new Error(`partition ${partition} committed at ${committed} but offset ${offset} (${id.request_id}) is not stored`);
        }
      }
      failing = false;
      await collector.caughtUp();
    } finally {
      failing = false;
      expect(await collector.stop()).toBe(true);
    }
    expect(collector.stats.writeFailures).toBeGreaterThanOrEqual(10);
    expect(await stored('flaky-')).toEqual({ analysts: 30_000, onDisk: 30_000, gpuMicros: gpuMicros(lines) });
  });

  it('hands a killed member’s partitions to the survivor: nothing lost, nothing doubled', async () => {
    const topic = await freshTopic(6);
    const lines = sampleRequestLines(60_000, 13, 'pair-');
    await produce(topic, lines.map((value, i) => ({ key: `pair-${i}`, value })));
    const group = uniqueGroup();
    const options = collectorOptions(topic, group, { batchRows: 1000, batchAgeMs: 100, sessionTimeoutMs: 6000, shutdownTimeoutMs: 1000 });
    // The member to kill: its connections can be cut and its warehouse calls refused, as when its process dies.
    const sockets = new Set<Socket>();
    let dead = false;
    const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
      const socket = connect({ host, port }, onConnect);
      if (dead) process.nextTick(() => socket.destroy(new Error('process killed')));
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      return socket;
    };
    const doomed = makeCollector(options, { warehouse: failingWhen(warehouse, () => dead), client: testClient({ socketFactory }) });
    const survivor = makeCollector(options);
    await Promise.all([doomed.start(), survivor.start()]);
    try {
      await until('both members consume', () => (doomed.stats.written > 2000 && survivor.stats.written > 2000 ? true : undefined));
      dead = true;
      for (const socket of sockets) socket.destroy();
      // The group notices only when the session times out: no LeaveGroup came.
      await until('the survivor owns every partition', () => (assignedOf(survivor).length === 6 ? true : undefined), 60_000);
      await survivor.caughtUp();
    } finally {
      expect(await survivor.stop()).toBe(true);
      await Promise.race([doomed.stop(), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    }
    expect(await stored('pair-')).toEqual({ analysts: 60_000, onDisk: 60_000, gpuMicros: gpuMicros(lines) });
  });
});

const idRow = z.object({ request_id: z.string() });

function assignedOf(collector: RequestCollector): number[] {
  return (collector.health().detail['assigned'] as number[] | undefined) ?? [];
}

/** The real warehouse, refusing every call while `failing()` says so: an outage at the warehouse boundary. */
function failingWhen(inner: Warehouse, failing: () => boolean): Warehouse {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        if (failing()) return Promise.reject(new Error('injected: warehouse unavailable'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

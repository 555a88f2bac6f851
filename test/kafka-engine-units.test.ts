/**
 * The collector with the engine parsing sealed units itself gives what the
 * parser threads give: the same rows stored, the same counts, the same dead
 * letters (key, value, reason, field), the same duplicates and conflicts,
 * and the same isolation of a row the warehouse refuses. Each case collects
 * one topic of a real broker twice, once by each path, into warehouses and
 * dead-letter topics of their own, and compares.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RequestCollector, type CollectorOptions, type CollectorStats } from '../src/collector/request-collector.js';
import { parseRecords } from '../src/events/parse-records.js';
import { setupTopics } from '../src/kafka/topics.js';
import type { OutgoingMessage } from '../src/kafka/stream.js';
import { RequestBatch } from '../src/request-writer/request-batch.js';
import type { RequestContent } from '../src/request-writer/request-content.js';
import { batchesWithCopies, crossBatchSuspects } from '../src/request-writer/stored-duplicates.js';
import { recordedWarehouse, stagedInserts, stagedUnits, storedRequests, type RecordedWarehouse } from './helpers/engine-units.js';
import { event } from './helpers/files.js';
import { collectorOptions, freshTopic, produce, readTopic, testClient, uniqueGroup, until, withAdmin } from './helpers/kafka.js';
import { discardWarehouse, scalar } from './helpers/warehouse.js';

interface Side extends RecordedWarehouse {
  name: 'engine' | 'threads';
  log: string[];
}

let engine: Side;
let threads: Side;

async function side(name: Side['name']): Promise<Side> {
  return { ...(await recordedWarehouse()), name, log: [] };
}

beforeEach(async () => {
  [engine, threads] = [await side('engine'), await side('threads')];
});
afterEach(async () => {
  await discardWarehouse(engine.warehouse);
  await discardWarehouse(threads.warehouse);
});


/** Small units, so a topic of a few hundred messages spans many; a small size limit, so an oversized message is cheap. */
const SETTINGS: Partial<CollectorOptions> = { batchRows: 40, batchAgeMs: 100, maxMessageBytes: 4096, retryMinMs: 50, retryMaxMs: 200, parserThreads: 1 };

/** Collect the whole topic into the side's warehouse and its own dead-letter topic; returns the run's counts. */
async function collect(s: Side, topic: string, group = uniqueGroup()): Promise<CollectorStats> {
  const dlqTopic = `${topic}.dlq-${s.name}`;
  await withAdmin((admin) => setupTopics(admin, { topic, dlqTopic, partitions: 1 }));
  const options = collectorOptions(topic, group, { ...SETTINGS, dlqTopic, engineUnits: s.name === 'engine' });
  const collector = new RequestCollector(options, { warehouse: s.warehouse, client: testClient(), log: (line) => { s.log.push(line); } });
  await collector.start();
  try {
    await Promise.race([
      collector.caughtUp(),
      until('never', () => undefined, 90_000).catch(() => { throw new Error(`collector did not catch up; log:\n${s.log.slice(-5).join('\n')}`); }),
    ]);
  } finally {
    await collector.stop();
  }
  return collector.stats;
}

/** A side's dead letters, by key; a refused row's value ends with when it was ingested, which differs between runs. */
async function deadLetters(topic: string, s: Side): Promise<unknown[]> {
  const letters = await readTopic(`${topic}.dlq-${s.name}`);
  return letters
    .map((m) => ({ key: m.key, value: m.value?.toString().replace(/,"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"\]$/, ']') ?? null, headers: m.headers }))
    .map((m) => ({ ...m, headers: { ...m.headers, 'inferledger-reason': m.headers['inferledger-reason']?.replace(/t_[0-9a-f]{32}\.inference_requests \([0-9a-f-]{36}\)/, 'inference_requests') } }))
    .sort((a, b) => String(a.key).localeCompare(String(b.key)));
}

const counts = (stats: CollectorStats): Partial<CollectorStats> => ({ messages: stats.messages, written: stats.written, duplicates: stats.duplicates, deadLettered: stats.deadLettered });

/** Collect `topic` by both paths and expect the same outcome; returns the engine run's counts. */
async function bothAlike(topic: string): Promise<CollectorStats> {
  const engineRun = await collect(engine, topic);
  const threadsRun = await collect(threads, topic);
  expect(counts(engineRun)).toEqual(counts(threadsRun));
  expect(await storedRequests(engine.warehouse)).toEqual(await storedRequests(threads.warehouse));
  expect(await deadLetters(topic, engine)).toEqual(await deadLetters(topic, threads));
  expect(stagedUnits(threads)).toBe(0);
  return engineRun;
}

const T0 = Date.UTC(2026, 9, 1, 10);
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();
const plain = (i: number, overrides: Record<string, unknown> = {}): Record<string, unknown> =>
  event({ request_id: `r-${i}`, ts: at(i), gpu_ms: 100 + i / 8, input_tokens: i, ...overrides });
const to = (partition: number, value: string | Record<string, unknown> | null): OutgoingMessage => ({ key: null, partition, value: value === null || typeof value === 'string' ? value : JSON.stringify(value) });

describe('the engine parsing sealed units itself', () => {
  it('stores, counts and dead-letters as the parser threads do: invalid, odd and oversized messages, duplicates and conflicts', async () => {
    const topic = await freshTopic(3);
    const messages: OutgoingMessage[] = [];
    const first = (i: number): Record<string, unknown> => plain(i, { team: i % 7 === 0 ? 'search' : 'ads' });
    for (let i = 0; i < 300; i++) messages.push(to(i % 3, first(i)));
    // Partition 0 gets one of each message the engine does not take; partitions 1 and 2 only clean stretches.
    messages.push(
      to(0, '{"request_id": "broken"'),
      to(0, plain(300, { gpu_ms: -1 })),
      to(0, null),
      to(0, ''),
      to(0, JSON.stringify(plain(301, { model_id: 'x'.repeat(5000) }))),
      to(0, JSON.stringify(plain(302), null, 1)),
      to(0, JSON.stringify(plain(303, { feature_id: 'café' })).replace('é', '\\u00e9')),
      to(0, JSON.stringify(plain(304)).replace('"gpu_ms":', '"GPU_MS":')),
    );
    // Copies: identical ones in another partition, a conflicting one in the same partition (an earlier offset wins).
    messages.push(to(2, first(3)), to(1, first(4)), to(0, { ...first(6), tenant_id: 'other' }));
    for (let i = 310; i < 400; i++) messages.push(to(i % 3, plain(i)));
    await produce(topic, messages);

    const run = await bothAlike(topic);
    // 392 valid events stored (the pretty-printed and the escaped one among them); 2 identical copies; 7 dead
    // letters: malformed, negative gpu_ms, tombstone, empty, oversized, no gpu_ms (GPU_MS is another field), the conflict.
    expect(counts(run)).toEqual({ messages: 401, written: 392, duplicates: 2, deadLettered: 7 });
    const letters = (await readTopic(`${topic}.dlq-engine`)).map((m) => ({ reason: m.headers['inferledger-reason'] ?? '', value: m.value }));
    const oversized = JSON.stringify(plain(301, { model_id: 'x'.repeat(5000) }));
    expect(letters.find((l) => l.reason.startsWith('message is'))?.value?.toString()).toBe(oversized);
    expect(letters.find((l) => l.reason === 'tombstone (no value)')?.value).toBeNull();
    expect(letters.find((l) => l.reason === 'empty message')?.value?.length ?? -1).toBe(0);
    expect(letters.find((l) => l.reason.startsWith('malformed JSON'))?.value?.toString()).toBe('{"request_id": "broken"');
    // Most units held clean events only: the engine took them, and their rows went engine to engine, the staged
    // units of one write in one insert.
    expect(stagedUnits(engine)).toBeGreaterThan(5);
    expect(stagedInserts(engine)).toBeGreaterThan(0);
    expect(stagedInserts(engine)).toBeLessThanOrEqual(stagedUnits(engine));
    expect(await scalar(engine.warehouse, "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'request_stage_')")).toBe(0);
  });

  it('a second collection of the same topic by a new group is all duplicates', async () => {
    const topic = await freshTopic(2);
    await produce(topic, Array.from({ length: 120 }, (_, i) => to(i % 2, plain(i))));
    await bothAlike(topic);
    const again = await collect(engine, topic);
    expect(counts(again)).toEqual({ messages: 120, written: 0, duplicates: 120, deadLettered: 0 });
    expect(await scalar(engine.warehouse, 'SELECT count() AS n FROM inference_requests')).toBe(120);
  });

  it('a row the warehouse refuses from a stage is dead-lettered, and the rest of its unit is stored once', async () => {
    for (const s of [engine, threads]) await s.warehouse.command("ALTER TABLE inference_requests ADD CONSTRAINT no_poison CHECK model_id != 'poison'");
    const topic = await freshTopic(1);
    await produce(topic, Array.from({ length: 100 }, (_, i) => to(0, plain(i, i === 57 ? { model_id: 'poison' } : {}))));
    const run = await bothAlike(topic);
    expect(counts(run)).toEqual({ messages: 100, written: 99, duplicates: 0, deadLettered: 1 });
    const [letter] = await deadLetters(topic, engine);
    expect(letter).toMatchObject({ key: `${topic}/0/57`, headers: { 'inferledger-value': 'inference_requests row (JSONCompactEachRow)' } });
    expect(stagedUnits(engine)).toBeGreaterThan(0);
    expect(stagedInserts(engine)).toBe(stagedUnits(engine));
  });

  it('drops the stages a killed run left behind when it starts', async () => {
    await engine.warehouse.command('CREATE TABLE request_stage_killedrun (x UInt8) ENGINE = Memory');
    const topic = await freshTopic(1);
    await produce(topic, Array.from({ length: 10 }, (_, i) => to(0, plain(i))));
    await collect(engine, topic);
    expect(await scalar(engine.warehouse, "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'request_stage_')")).toBe(0);
    expect(await scalar(engine.warehouse, 'SELECT count() AS n FROM inference_requests')).toBe(10);
  });
});

describe('judging a joined write', () => {
  const batchOf = (...ids: string[]): RequestBatch => {
    const bytes = Buffer.from(ids.map((id, i) => JSON.stringify(plain(i, { request_id: id }))).join('\n'));
    const batch = new RequestBatch();
    batch.addRows(parseRecords({ mode: 'lines', bytes, maxRecordBytes: 4096, source: 't', ingestedAt: '2026-10-01 10:00:00.000' }));
    return batch;
  };

  it('reads the rows of only the batches holding a copy: its first copy, the later ones, a stored id', () => {
    const batches = [batchOf('a', 'b'), batchOf('c', 'd'), batchOf('e', 'a'), batchOf('f')];
    const none = new Map<string, RequestContent>();
    const suspects = crossBatchSuspects(batches);
    expect(suspects).toEqual([{ batch: 2, row: 1 }]);
    expect(batchesWithCopies(batches, none, suspects)).toEqual(new Set([batches[0], batches[2]]));
    const storedF = new Map<string, RequestContent>([['f', {} as RequestContent]]);
    expect(batchesWithCopies(batches, storedF, suspects)).toEqual(new Set([batches[0], batches[2], batches[3]]));
    expect(batchesWithCopies([batches[1] as RequestBatch], none, crossBatchSuspects([batches[1] as RequestBatch]))).toEqual(new Set());
  });
});

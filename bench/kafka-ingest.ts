/**
 * bench/kafka-ingest: the collector draining a Kafka topic into the embedded
 * warehouse, against a real local broker (infra/kafka/broker.sh on a free
 * port, or KAFKA_BROKERS).
 *
 * Produces N events to a fresh 6-partition topic, then measures on them:
 *   1. end to end: `collect requests --once` in a child process (its own peak
 *      RSS): group join, fetch, decode, validate, dedupe check, insert, commit;
 *      timed from the first message taken to caught up (join time printed apart);
 *      with engine units (the default: the engine parses each sealed batch of
 *      valid events) and with the parser threads only, in alternating runs;
 *   2. bound "parse": the same payloads as Buffers, UTF-8 check + JSON.parse + schema, nothing written;
 *   3. bound "insert": the warehouse inserting the same rows pre-serialised,
 *      in batches of the collector's size, nothing parsed;
 *   4. reference "client": the Kafka client alone draining the topic through
 *      our StreamConsumer (fetch + decode into messages, nothing else).
 * Prints events/s, MB/s, the ratio of end to end to the slower bound, and peak RSS;
 * and CPU per event (all threads) of each, with the ceiling they imply: the
 * collector must do all three parts' work on this machine's cores, so it
 * cannot beat cores / (CPU per event of parse + insert + client).
 * Writes bench/results/kafka-ingest.json.
 *
 *   npx tsx bench/kafka-ingest.ts [--events 2000000] [--repeat 1] [--partitions 6]
 *   BENCH_KAFKA='{"batchRows":50000}' ...   overrides collector settings (kafka config keys) for experiments
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeRequestMessage } from '../src/events/decode-message.js';
import { fetchBytesPerPartition, RequestCollector } from '../src/collector/request-collector.js';
import { configSchema } from '../src/config/config.js';
import { openText, readLines } from '../src/files/line-reader.js';
import { kafkajsClient } from '../src/kafka/kafkajs-client.js';
import { produceRequestFiles } from '../src/kafka/produce-requests.js';
import { setupTopics } from '../src/kafka/topics.js';
import { benchWarehouse, bestOf, cpuSince, insertBatchFiles, rate, runChild, serialiseBatches, type Measured } from './lib/insert-bound.js';
import { startPrivateBroker } from '../test/helpers/broker.js';
import { writeSyntheticRequests } from './lib/synthetic-requests.js';
import { writeResult } from './lib/results.js';

const SCRIPT = fileURLToPath(import.meta.url);
const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '2000000' },
    repeat: { type: 'string', default: '1' },
    partitions: { type: 'string', default: '6' },
    child: { type: 'string' },
    file: { type: 'string' },
    topic: { type: 'string' },
    brokers: { type: 'string' },
    'data-dir': { type: 'string' },
    'engine-units': { type: 'string', default: 'on' },
  },
});
const kafkaDefaults = configSchema.shape.kafka.parse({});
const silent = (): void => undefined;

interface Drained extends Measured {
  joinSeconds: number;
  deadLettered: number;
}

/** Child: drain the topic with a new group into a fresh warehouse, as `collect requests --once` does. */
async function childCollect(topic: string, brokers: string, dataDir: string, engineUnits: boolean): Promise<Drained> {
  const warehouse = await benchWarehouse(dataDir);
  const client = kafkajsClient({ brokers: brokers.split(','), clientId: 'bench', log: silent });
  const tuned = JSON.parse(process.env['BENCH_KAFKA'] ?? '{}') as Partial<typeof kafkaDefaults>;
  const collector = new RequestCollector({ ...kafkaDefaults, ...tuned, topic, groupId: `bench-${Date.now()}`, engineUnits }, { warehouse, client, log: silent });
  const started = performance.now();
  await collector.start();
  let firstAt = 0;
  let cpuFrom = process.cpuUsage();
  const watch = setInterval(() => {
    if (firstAt > 0 || collector.stats.messages === 0) return;
    firstAt = performance.now();
    cpuFrom = process.cpuUsage();
  }, 5);
  await collector.caughtUp(50);
  const ended = performance.now();
  const cpuSeconds = cpuSince(cpuFrom);
  clearInterval(watch);
  await collector.stop();
  await warehouse.close();
  const { stats } = collector;
  return {
    events: stats.messages,
    seconds: (ended - firstAt) / 1000,
    cpuSeconds,
    joinSeconds: (firstAt - started) / 1000,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    accepted: stats.written,
    deadLettered: stats.deadLettered,
  };
}

/** Reference: the Kafka client alone drains the topic with a new group, through the same StreamConsumer the collector uses. */
async function childConsume(topic: string, brokers: string, expected: number): Promise<Measured> {
  const client = kafkajsClient({ brokers: brokers.split(','), clientId: 'bench', log: silent });
  const consumer = await client.consumer({
    groupId: `bench-raw-${Date.now()}`,
    topic,
    sessionTimeoutMs: kafkaDefaults.sessionTimeoutMs,
    partitionsConcurrently: kafkaDefaults.partitionsConcurrently,
    maxBytesPerPartition: fetchBytesPerPartition(kafkaDefaults.batchBytes),
  });
  let events = 0;
  let firstAt = 0;
  let cpuFrom = process.cpuUsage();
  let valueBytes = 0;
  let resolve = (): void => undefined;
  const drained = new Promise<void>((ok) => { resolve = ok; });
  await consumer.run((batch, control) => {
    if (firstAt === 0) {
      firstAt = performance.now();
      cpuFrom = process.cpuUsage();
    }
    // Touch every value as the collector does when it copies them for the parser thread.
    for (const message of batch.messages) valueBytes += message.value?.length ?? 0;
    events += batch.messages.length;
    const last = batch.messages.at(-1);
    if (last) control.markTaken(last.offset);
    if (events >= expected) resolve();
    return Promise.resolve();
  });
  await drained;
  const seconds = (performance.now() - firstAt) / 1000;
  const cpuSeconds = cpuSince(cpuFrom);
  await consumer.stop();
  if (valueBytes === 0) throw new Error('no message values read');
  return { events, seconds, cpuSeconds, maxRssMb: process.resourceUsage().maxRSS / 1024, accepted: events };
}

/** Bound 1: decode + validate the payloads, given as Buffers (what the Kafka client hands over), nothing else. */
async function parseBound(file: string): Promise<{ events: number; seconds: number; cpuSeconds: number }> {
  const maxBytes = kafkaDefaults.maxMessageBytes;
  let seconds = 0;
  let cpuSeconds = 0;
  let events = 0;
  for await (const lines of readLines(await openText(file), 1 << 20)) {
    const payloads = lines.flatMap((l) => (l.text === undefined ? [] : [Buffer.from(l.text)]));
    const started = performance.now();
    const cpuFrom = process.cpuUsage();
    for (const payload of payloads) if (decodeRequestMessage(payload, maxBytes).ok) events++;
    cpuSeconds += cpuSince(cpuFrom);
    seconds += (performance.now() - started) / 1000;
  }
  return { events, seconds, cpuSeconds };
}

async function benchmark(): Promise<void> {
  const events = Number(args.events);
  const repeat = Number(args.repeat);
  const work = mkdtempSync(join(tmpdir(), 'bench-kafka-'));
  let stopBroker = (): void => undefined;
  try {
    let brokers = process.env['KAFKA_BROKERS'] ?? '';
    if (!brokers) {
      const broker = await startPrivateBroker();
      brokers = broker.address;
      stopBroker = () => { broker.dispose(); };
    }
    const file = join(work, 'requests.ndjson');
    process.stdout.write(`generating ${events} events... `);
    const bytes = await writeSyntheticRequests(file, events);
    process.stdout.write(`${(bytes / 1e6).toFixed(0)} MB\n`);

    const topic = `bench-${Date.now()}`;
    const client = kafkajsClient({ brokers: brokers.split(','), clientId: 'bench', log: silent });
    const admin = await client.admin();
    await setupTopics(admin, { topic, dlqTopic: '', partitions: Number(args.partitions) });
    await admin.stop();
    const producer = await client.producer();
    const producedAt = performance.now();
    const produced = await produceRequestFiles(producer, topic, [file], { messagesPerSend: 5000 });
    const produceSeconds = (performance.now() - producedAt) / 1000;
    await producer.stop();
    console.log(`produced ${produced.messages.toLocaleString('en-US')} messages to ${topic} (${args.partitions} partitions) in ${produceSeconds.toFixed(1)} s`);

    const parse = await bestOf(repeat, () => parseBound(file));
    const insert = await bestOf(repeat, async () => {
      const dir = join(work, 'batches');
      await serialiseBatches(file, dir, kafkaDefaults.batchRows);
      const r = runChild(SCRIPT, ['--child', 'insert', '--file', dir]);
      rmSync(dir, { recursive: true, force: true });
      return r;
    });
    const consume = await bestOf(repeat, () => runChild(SCRIPT, ['--child', 'consume', '--topic', topic, '--brokers', brokers, '--events', String(events)]));
    // Alternating runs, so that the machine's drift touches both paths alike; the best of each.
    const collect = (engineUnits: 'on' | 'off'): Drained => {
      const run = runChild(SCRIPT, ['--child', 'collect', '--topic', topic, '--brokers', brokers, '--engine-units', engineUnits]) as Drained;
      if (run.accepted !== events) throw new Error(`collector (engine units ${engineUnits}) wrote ${run.accepted} rows, expected ${events}`);
      console.log(`  run: engine units ${engineUnits.padEnd(3)} ${Math.round(rate(run)).toLocaleString('en-US').padStart(9)} events/s, peak RSS ${run.maxRssMb.toFixed(0)} MB`);
      return run;
    };
    const runs: { engine: Drained[]; threads: Drained[] } = { engine: [], threads: [] };
    for (let i = 0; i < Math.max(1, repeat); i++) {
      runs.engine.push(collect('on'));
      runs.threads.push(collect('off'));
    }
    const best = (all: Drained[]): Drained => all.reduce((a, b) => (rate(b) > rate(a) ? b : a));
    const e2e = best(runs.engine);
    const e2eThreads = best(runs.threads);

    const fileMB = statSync(file).size / 1e6;
    const slower = Math.min(rate(parse), rate(insert));
    // CPU microseconds per event, all threads of the measuring process.
    const cpuPerEvent = (r: { events: number; cpuSeconds?: number }): number => ((r.cpuSeconds ?? NaN) / r.events) * 1e6;
    const cores = availableParallelism();
    const partsCpu = cpuPerEvent(parse) + cpuPerEvent(insert) + cpuPerEvent(consume);
    const ceiling = (cores * 1e6) / partsCpu;
    const result = {
      benchmark: 'kafka-ingest',
      date: new Date().toISOString(),
      node: process.version,
      events,
      partitions: Number(args.partitions),
      payloadMB: fileMB,
      batchRows: kafkaDefaults.batchRows,
      repeat,
      produce: { eventsPerSec: events / produceSeconds, seconds: produceSeconds },
      endToEnd: { eventsPerSec: rate(e2e), mbPerSec: fileMB / e2e.seconds, seconds: e2e.seconds, cpuMicrosPerEvent: cpuPerEvent(e2e), groupJoinSeconds: e2e.joinSeconds, peakRssMB: e2e.maxRssMb },
      /** Every run of each path, in the order run: the spread matters on a shared machine. */
      endToEndRuns: { engineUnits: runs.engine.map(rate), parserThreads: runs.threads.map(rate) },
      endToEndParserThreads: { eventsPerSec: rate(e2eThreads), seconds: e2eThreads.seconds, cpuMicrosPerEvent: cpuPerEvent(e2eThreads), peakRssMB: e2eThreads.maxRssMb },
      boundParseValidate: { eventsPerSec: rate(parse), seconds: parse.seconds, cpuMicrosPerEvent: cpuPerEvent(parse) },
      boundWarehouseInsert: { eventsPerSec: rate(insert), seconds: insert.seconds, cpuMicrosPerEvent: cpuPerEvent(insert), peakRssMB: insert.maxRssMb },
      kafkaClientAlone: { eventsPerSec: rate(consume), seconds: consume.seconds, cpuMicrosPerEvent: cpuPerEvent(consume), peakRssMB: consume.maxRssMb },
      ratioToSlowerBound: rate(e2e) / slower,
      /** The collector's peak RSS over the engine's own peak for the same rows (the insert bound): target <= 200 MB. */
      rssOverEngineMB: e2e.maxRssMb - insert.maxRssMb,
      cores,
      /** cores / CPU per event of parse + insert + client: what end to end could reach if it did nothing else, all cores busy. */
      cpuCeilingEventsPerSec: ceiling,
      ratioCeiling: ceiling / slower,
    };
    const line = (name: string, r: { events: number; seconds: number; cpuSeconds?: number }, extra = ''): string =>
      `${name.padEnd(38)} ${Math.round(rate(r)).toLocaleString('en-US').padStart(10)} events/s  ${cpuPerEvent(r).toFixed(1).padStart(5)} µs CPU/event${extra}`;
    console.log(line('end to end (collect requests --once)', e2e, `   ${result.endToEnd.mbPerSec.toFixed(1)} MB/s, peak RSS ${e2e.maxRssMb.toFixed(0)} MB; group join ${e2e.joinSeconds.toFixed(1)} s not counted`));
    console.log(line('end to end, parser threads only', e2eThreads, `   peak RSS ${e2eThreads.maxRssMb.toFixed(0)} MB`));
    console.log(line('bound: UTF-8 + JSON.parse + zod', parse));
    console.log(line('bound: warehouse insert (serialised)', insert, `   peak RSS ${insert.maxRssMb.toFixed(0)} MB (the engine alone)`));
    console.log(line('reference: Kafka client alone', consume, `   peak RSS ${consume.maxRssMb.toFixed(0)} MB`));
    console.log(`end to end / slower bound               ${(result.ratioToSlowerBound * 100).toFixed(0)}%   (target >= 60%); end to end target >= 120,000 events/s`);
    console.log(`peak RSS over the engine's own          ${result.rssOverEngineMB.toFixed(0)} MB   (target <= 200 MB)`);
    console.log(`CPU ceiling: ${cores} cores / (parse + insert + client) = ${Math.round(ceiling).toLocaleString('en-US')} events/s, ${(result.ratioCeiling * 100).toFixed(0)}% of the slower bound (broker CPU not counted)`);
    writeResult('kafka-ingest', result);
  } finally {
    stopBroker();
    rmSync(work, { recursive: true, force: true });
  }
}

if (args.child === 'consume') process.stdout.write(`${JSON.stringify(await childConsume(args.topic ?? '', args.brokers ?? '', Number(args.events)))}\n`);
else if (args.child === 'collect') process.stdout.write(`${JSON.stringify(await childCollect(args.topic ?? '', args.brokers ?? '', args['data-dir'] ?? '', args['engine-units'] !== 'off'))}\n`);
else if (args.child === 'insert') process.stdout.write(`${JSON.stringify(await insertBatchFiles(args.file ?? '', args['data-dir'] ?? ''))}\n`);
else await benchmark();
